//! A filter compiled against a stream's catalog, evaluated on records in
//! place.
//!
//! Tracee's combination rules: different keys AND; several `=` values of one
//! key OR; `!=` values AND; comparisons AND.

use std::collections::{HashMap, HashSet};

use wire::container::{Container, Containers, flags as cflags};
use wire::preamble::{ArgType, Catalog, EventDef};
use wire::{ARGS_OFFSET, EventSlice, ctx_flags, event_id, item, off};

use crate::expr::{Expr, Key, Op, ScopeKey, Term, parse_num};
use crate::group::{FastHash, Group};
use crate::pattern::Pattern;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error("unknown event '{name}' in '{expr}'")]
    UnknownEvent { name: String, expr: String },
    #[error("event {event} has no argument '{name}' in '{expr}' (it has: {have})")]
    UnknownArg {
        event: String,
        name: String,
        expr: String,
        have: String,
    },
    #[error("'{value}' is not a number for {what} in '{expr}'")]
    NotANumber {
        value: String,
        what: String,
        expr: String,
    },
    #[error("{what} takes only = or != in '{expr}'")]
    EqOnly { what: String, expr: String },
}

#[derive(Clone, Debug)]
pub(crate) enum Cond {
    Str(StrField, Group<Vec<u8>>),
    Num(NumField, Group<i128>),
    /// `pid=new`: the thread started after the stream did.
    New,
    Tree,
    /// `container` (true) or `not-container` (false): in a container that
    /// has started (Tracee's rule: the kernel's started flag, for a cgroup
    /// a container record names).
    InContainer(bool),
    /// `container=new` (true) or `container!=new` (false, with
    /// `InContainer(true)`): in a started container created after tracing
    /// began.
    NewContainer(bool),
    /// `container=PREFIX,...` (any of them) or `container!=PREFIX,...`
    /// (none of them): a started container whose id starts so.
    ContainerIds(bool, Vec<Vec<u8>>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum StrField {
    Comm,
    Uts,
    Executable,
    Arg(u8),
    /// A string array argument (argv, envp).
    ArgList(u8),
    /// The container record's fields (empty outside a container).
    ContainerId,
    ContainerName,
    ContainerImage,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum NumField {
    Pid,
    Tid,
    Ppid,
    Uid,
    Gid,
    MntNs,
    PidNs,
    Cgroup,
    RetVal,
    Arg(u8, ArgType),
}

/// A scope comparison of an unsigned context number, `lo <= n <= hi`:
/// the hot path's form of a `Cond::Num` without `=` or `!=` values. The
/// number is the 8 bytes at `off` (in the context, so always there) masked
/// to the field's width.
#[derive(Clone, Copy, Debug)]
struct Range {
    off: usize,
    mask: u64,
    lo: u64,
    hi: u64,
}

impl Range {
    fn new(field: NumField, lo: i128, hi: i128) -> Option<Range> {
        let (off, mask) = match field {
            NumField::Pid => (off::PID, u32::MAX as u64),
            NumField::Tid => (off::TID, u32::MAX as u64),
            NumField::Ppid => (off::PPID, u32::MAX as u64),
            NumField::Uid => (off::UID, u32::MAX as u64),
            NumField::Gid => (off::GID, u32::MAX as u64),
            NumField::MntNs => (off::MNT_NS, u32::MAX as u64),
            NumField::PidNs => (off::PID_NS, u32::MAX as u64),
            NumField::Cgroup => (off::CGROUP_ID, u64::MAX),
            NumField::RetVal | NumField::Arg(..) => return None,
        };
        debug_assert!(off + 8 <= ARGS_OFFSET);
        // The range in the field's own (unsigned) terms; one that holds
        // of no u64 becomes empty.
        let (lo, hi) = if hi < 0 || lo > u64::MAX as i128 || lo > hi {
            (1, 0)
        } else {
            (lo.max(0) as u64, hi.min(u64::MAX as i128) as u64)
        };
        Some(Range { off, mask, lo, hi })
    }

    #[inline(always)]
    fn holds(&self, b: &[u8]) -> bool {
        let n = u64::from_le_bytes(b[self.off..self.off + 8].try_into().unwrap()) & self.mask;
        self.lo <= n && n <= self.hi
    }
}

pub struct Filter {
    pub(crate) scope: Vec<Cond>,
    /// `scope` for evaluation: its comparisons of context numbers, then
    /// the rest (every one must hold, so the order is free).
    ranges: Vec<Range>,
    rest: Vec<Cond>,
    pub(crate) events: Option<HashSet<u32>>,
    /// `events` as a bitmap by event id, for the per-event test.
    event_bits: Option<Vec<u64>>,
    per_event: HashMap<u32, Vec<Cond>, FastHash>,
    follow: bool,
    /// Processes matched (and, with follow, their descendants).
    followed: HashSet<u32>,
    tree: HashSet<u32>,
    has_tree: bool,
    /// Each process's executable path, and whether it was cut.
    exe: HashMap<u32, (Vec<u8>, bool)>,
    track_exe: bool,
    start_mono: u64,
    matched: u64,
    /// What the stream's container records said.
    containers: Containers,
}

impl Filter {
    /// Compiles parsed terms against the catalog of the stream they will
    /// filter. `start_mono` is the stream's start, for `pid=new`.
    pub fn compile(terms: &[Term], cat: &Catalog, start_mono: u64) -> Result<Filter, CompileError> {
        let mut f = Filter {
            scope: Vec::new(),
            ranges: Vec::new(),
            rest: Vec::new(),
            events: None,
            event_bits: None,
            per_event: HashMap::default(),
            follow: false,
            followed: HashSet::new(),
            tree: HashSet::new(),
            has_tree: false,
            exe: HashMap::new(),
            track_exe: false,
            start_mono,
            matched: 0,
            containers: Containers::default(),
        };
        // Group expressions by (event, key) so values of one key combine.
        let mut str_groups: Groups<StrField, Vec<u8>> = Vec::new();
        let mut num_groups: Groups<NumField, i128> = Vec::new();
        let mut named_events: HashSet<u32> = HashSet::new();
        let mut event_sel: Option<(HashSet<u32>, HashSet<u32>)> = None;

        for t in terms {
            let e = match t {
                Term::Follow => {
                    f.follow = true;
                    continue;
                }
                Term::Expr(e) => e,
            };
            let lookup = |name: &str| -> Result<&EventDef, CompileError> {
                cat.by_name(name).ok_or_else(|| CompileError::UnknownEvent {
                    name: name.into(),
                    expr: e.text.clone(),
                })
            };
            match &e.key {
                Key::Event => {
                    let (inc, exc) = event_sel.get_or_insert_with(Default::default);
                    for v in &e.values {
                        let ids: Vec<u32> = if v.contains('*') {
                            let p = Pattern::new(v);
                            cat.events()
                                .iter()
                                .filter(|d| p.matches(d.name.as_bytes()))
                                .map(|d| d.id)
                                .collect()
                        } else {
                            vec![lookup(v)?.id]
                        };
                        if ids.is_empty() {
                            return Err(CompileError::UnknownEvent {
                                name: v.clone(),
                                expr: e.text.clone(),
                            });
                        }
                        if e.op == Op::Eq {
                            inc.extend(ids)
                        } else {
                            exc.extend(ids)
                        }
                    }
                }
                Key::Scope { event, key } => {
                    let ev = match event {
                        Some(n) => {
                            let id = lookup(n)?.id;
                            named_events.insert(id);
                            Some(id)
                        }
                        None => None,
                    };
                    match key {
                        ScopeKey::Tree => {
                            f.has_tree = true;
                            f.tree
                                .extend(e.values.iter().filter_map(|v| v.parse::<u32>().ok()));
                        }
                        ScopeKey::Pid if e.values.iter().any(|v| v == "new") => {
                            push_cond(&mut f, ev, Cond::New);
                            let rest: Vec<&String> =
                                e.values.iter().filter(|v| *v != "new").collect();
                            if !rest.is_empty() {
                                let g = group(&mut num_groups, ev, NumField::Pid);
                                for v in rest {
                                    g.add_num(e.op, num(v, "pid", e)?);
                                }
                            }
                        }
                        ScopeKey::Container => {
                            container_conds(&mut f, ev, e);
                        }
                        k if k.is_string() => {
                            let field = match k {
                                ScopeKey::Comm => StrField::Comm,
                                ScopeKey::Uts => StrField::Uts,
                                ScopeKey::ContainerId => StrField::ContainerId,
                                ScopeKey::ContainerName => StrField::ContainerName,
                                ScopeKey::ContainerImage => StrField::ContainerImage,
                                _ => {
                                    f.track_exe = true;
                                    StrField::Executable
                                }
                            };
                            let g = group(&mut str_groups, ev, field);
                            for v in &e.values {
                                g.add_str(e.op, v);
                            }
                        }
                        k => {
                            let field = match k {
                                ScopeKey::Pid => NumField::Pid,
                                ScopeKey::Tid => NumField::Tid,
                                ScopeKey::Ppid => NumField::Ppid,
                                ScopeKey::Uid => NumField::Uid,
                                ScopeKey::Gid => NumField::Gid,
                                ScopeKey::MntNs => NumField::MntNs,
                                ScopeKey::PidNs => NumField::PidNs,
                                _ => NumField::Cgroup,
                            };
                            let g = group(&mut num_groups, ev, field);
                            for v in &e.values {
                                g.add_num(e.op, num(v, &format!("{k:?}").to_lowercase(), e)?);
                            }
                        }
                    }
                }
                Key::RetVal { event } => {
                    let id = lookup(event)?.id;
                    named_events.insert(id);
                    let g = group(&mut num_groups, Some(id), NumField::RetVal);
                    for v in &e.values {
                        g.add_num(e.op, num(v, "retval", e)?);
                    }
                }
                Key::Arg { event, name } => {
                    let def = lookup(event)?;
                    named_events.insert(def.id);
                    let idx = cat
                        .arg_index(def, name)
                        .ok_or_else(|| CompileError::UnknownArg {
                            event: event.clone(),
                            name: name.clone(),
                            expr: e.text.clone(),
                            have: def
                                .args
                                .iter()
                                .map(|a| a.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                        })?;
                    let a = &def.args[idx];
                    if a.ty.is_scalar() {
                        let g = group(
                            &mut num_groups,
                            Some(def.id),
                            NumField::Arg(idx as u8, a.ty),
                        );
                        for v in &e.values {
                            g.add_num(e.op, num(v, &format!("{event}.{name}"), e)?);
                        }
                    } else {
                        if !matches!(e.op, Op::Eq | Op::Ne) {
                            return Err(CompileError::EqOnly {
                                what: format!("{event}.{name}"),
                                expr: e.text.clone(),
                            });
                        }
                        let field = if a.ty == ArgType::StrArray {
                            StrField::ArgList(idx as u8)
                        } else {
                            StrField::Arg(idx as u8)
                        };
                        let g = group(&mut str_groups, Some(def.id), field);
                        for v in &e.values {
                            g.add_str(e.op, v);
                        }
                    }
                }
            }
        }
        for (ev, field, g) in str_groups {
            push_cond(&mut f, ev, Cond::Str(field, g));
        }
        for (ev, field, g) in num_groups {
            push_cond(&mut f, ev, Cond::Num(field, g));
        }
        if f.has_tree {
            f.scope.push(Cond::Tree);
        }
        // Selected events: event= values, plus every event an event filter
        // names (as Tracee's -e openat.data.x=... selects openat).
        if let Some((inc, exc)) = event_sel {
            let mut sel: HashSet<u32> = if inc.is_empty() {
                cat.events().iter().map(|d| d.id).collect()
            } else {
                inc
            };
            sel.extend(named_events.iter().copied());
            sel.retain(|id| !exc.contains(id));
            f.events = Some(sel);
        } else if !named_events.is_empty() {
            f.events = Some(named_events);
        }
        for c in &f.scope {
            match c {
                Cond::Num(field, g)
                    if let Some(r) =
                        g.as_range().and_then(|(lo, hi)| Range::new(*field, lo, hi)) =>
                {
                    f.ranges.push(r);
                }
                c => f.rest.push(c.clone()),
            }
        }
        f.event_bits = f.events.as_ref().map(|s| {
            let mut bits = vec![0u64; s.iter().max().map_or(0, |&m| m as usize / 64 + 1)];
            for &id in s {
                bits[id as usize / 64] |= 1 << (id % 64);
            }
            bits
        });
        Ok(f)
    }

    /// Processes currently tracked by follow, tree and executable; it
    /// shrinks as processes exit.
    pub fn tracked(&self) -> usize {
        self.followed.len() + self.tree.len() + self.exe.len()
    }

    /// Events kept so far.
    pub fn matched(&self) -> u64 {
        self.matched
    }

    /// True if the filter keeps state across events (follow, tree,
    /// executable) that needs the process lifecycle events.
    pub fn needs_lifecycle(&self) -> bool {
        self.follow || self.has_tree || self.track_exe
    }

    /// Takes in a process record from the stream: what the process runs
    /// from now on (for `executable=`).
    pub fn process(&mut self, p: wire::process::Process) {
        if self.track_exe {
            let cut = p.flags & wire::process::flags::CUT != 0;
            self.exe.insert(p.pid, (p.exe, cut));
        }
    }

    /// Takes in a container record from the stream.
    pub fn container(&mut self, c: Container) {
        self.containers.apply(c);
    }

    /// The started container event `ev` is in, if any.
    fn started(&self, ev: &EventSlice<'_>) -> Option<&Container> {
        if ev.flags() & ctx_flags::CONTAINER_STARTED == 0 {
            return None;
        }
        self.containers.get(ev.cgroup_id())
    }

    /// Evaluates one event, updating process tracking.
    pub fn matches(&mut self, ev: &EventSlice<'_>) -> bool {
        let id = ev.event_id();
        let pid = ev.pid();
        if self.track_exe
            && id == event_id::SCHED_PROCESS_EXEC
            && let Some(a) = ev.arg(1)
        {
            self.exe.insert(pid, (a.data.to_vec(), a.truncated));
        }
        if self.has_tree && (self.tree.contains(&ev.ppid()) && !self.tree.contains(&pid)) {
            self.tree.insert(pid);
        }
        let b = ev.bytes();
        let mut in_scope =
            self.ranges.iter().all(|r| r.holds(b)) && self.rest.iter().all(|c| self.cond(c, ev));
        if self.follow
            && (in_scope || self.followed.contains(&pid) || self.followed.contains(&ev.ppid()))
        {
            in_scope = true;
            self.followed.insert(pid);
        }
        if id == event_id::SCHED_PROCESS_FORK {
            let child = ev.arg(6).map(|a| a.scalar() as u32);
            if let Some(child) = child {
                // A child runs its parent's executable until it execs.
                if self.track_exe
                    && child != pid
                    && let Some(exe) = self.exe.get(&pid).cloned()
                {
                    self.exe.insert(child, exe);
                }
                if self.follow && in_scope {
                    self.followed.insert(child);
                }
                if self.has_tree && self.tree.contains(&pid) {
                    self.tree.insert(child);
                }
            }
        }
        let keep = in_scope
            && self.event_bits.as_ref().is_none_or(|b| {
                b.get(id as usize / 64)
                    .is_some_and(|w| w & (1 << (id % 64)) != 0)
            })
            && self
                .per_event
                .get(&id)
                .is_none_or(|conds| conds.iter().all(|c| self.cond(c, ev)));
        if id == event_id::SCHED_PROCESS_EXIT && ev.arg(2).is_some_and(|a| a.scalar() != 0) {
            // The whole process is gone: forget it, so tracking stays bounded.
            self.followed.remove(&pid);
            self.tree.remove(&pid);
            self.exe.remove(&pid);
        }
        if keep {
            self.matched += 1;
        }
        keep
    }

    fn cond(&self, c: &Cond, ev: &EventSlice<'_>) -> bool {
        match c {
            Cond::New => ev.thread_start() >= self.start_mono,
            Cond::Tree => self.tree.contains(&ev.pid()),
            Cond::InContainer(want) => self.started(ev).is_some() == *want,
            Cond::NewContainer(want) => {
                self.started(ev).is_some_and(|c| c.has(cflags::NEW)) == *want
            }
            Cond::ContainerIds(eq, ids) => {
                let hit = self
                    .started(ev)
                    .is_some_and(|c| ids.iter().any(|p| c.id.starts_with(p)));
                if *eq {
                    hit
                } else {
                    !hit && self.started(ev).is_some()
                }
            }
            Cond::Str(field, g) => match field {
                StrField::Comm => g.matches_str(ev.comm()),
                StrField::Uts => g.matches_str(ev.uts()),
                StrField::Executable => match self.exe.get(&ev.pid()) {
                    Some((path, cut)) => g.matches_value(path, *cut),
                    None => g.matches_str(b""),
                },
                StrField::ContainerId | StrField::ContainerName | StrField::ContainerImage => {
                    let c = self.containers.get(ev.cgroup_id());
                    let v: &[u8] = match (field, c) {
                        (_, None) => b"",
                        (StrField::ContainerId, Some(c)) => &c.id,
                        (StrField::ContainerName, Some(c)) => &c.name,
                        (_, Some(c)) => &c.image,
                    };
                    g.matches_str(v)
                }
                StrField::Arg(i) => match ev.arg(*i) {
                    Some(a) => g.matches_value(a.data, a.truncated && a.kind == item::STR),
                    None => g.matches_str(b""),
                },
                StrField::ArgList(i) => match ev.arg(*i) {
                    Some(a) if a.kind == item::STR_ARRAY => {
                        g.matches_list(a.strings(), a.truncated)
                    }
                    // A string where an array belongs: one element.
                    Some(a) => g.matches_list(std::iter::once(a.data), false),
                    None => g.matches_list(std::iter::empty(), false),
                },
            },
            Cond::Num(field, g) => {
                let n: i128 = match field {
                    NumField::Pid => ev.pid() as i128,
                    NumField::Tid => ev.tid() as i128,
                    NumField::Ppid => ev.ppid() as i128,
                    NumField::Uid => ev.uid() as i128,
                    NumField::Gid => ev.gid() as i128,
                    NumField::MntNs => ev.mnt_ns() as i128,
                    NumField::PidNs => ev.pid_ns() as i128,
                    NumField::Cgroup => ev.cgroup_id() as i128,
                    NumField::RetVal => ev.retval() as i128,
                    NumField::Arg(i, ty) => match ev.arg(*i) {
                        Some(a) => ty.number(a.scalar()),
                        None => return false,
                    },
                };
                g.matches_num(n)
            }
        }
    }
}

/// Tracee's `container` scope: bare (`container`, `not-container`),
/// `new`, or container id prefixes.
fn container_conds(f: &mut Filter, ev: Option<u32>, e: &Expr) {
    let eq = e.op == Op::Eq;
    if e.values.is_empty() {
        push_cond(f, ev, Cond::InContainer(eq));
        return;
    }
    let ids: Vec<Vec<u8>> = e
        .values
        .iter()
        .filter(|v| *v != "new")
        .map(|v| v.as_bytes().to_vec())
        .collect();
    if e.values.iter().any(|v| v == "new") {
        // container!=new: a container, but not a new one.
        push_cond(f, ev, Cond::InContainer(true));
        push_cond(f, ev, Cond::NewContainer(eq));
    }
    if !ids.is_empty() {
        push_cond(f, ev, Cond::ContainerIds(eq, ids));
    }
}

fn num(v: &str, what: &str, e: &Expr) -> Result<i128, CompileError> {
    parse_num(v).ok_or_else(|| CompileError::NotANumber {
        value: v.into(),
        what: what.into(),
        expr: e.text.clone(),
    })
}

fn push_cond(f: &mut Filter, ev: Option<u32>, c: Cond) {
    match ev {
        Some(id) => f.per_event.entry(id).or_default().push(c),
        None => f.scope.push(c),
    }
}

/// Groups of one key's values, per event (None: every event).
type Groups<F, T> = Vec<(Option<u32>, F, Group<T>)>;

/// The group for (`ev`, `field`), created on first use.
fn group<F: PartialEq, T: Default>(
    v: &mut Groups<F, T>,
    ev: Option<u32>,
    field: F,
) -> &mut Group<T> {
    let i = match v.iter().position(|(e, f, _)| *e == ev && *f == field) {
        Some(i) => i,
        None => {
            v.push((ev, field, Group::default()));
            v.len() - 1
        }
    };
    &mut v[i].2
}
