//! The part of a filter the kernel can evaluate with the same result:
//! exact sets of context fields, and the event set. tracee-collect loads
//! it into the kernel's scope maps; the rest stays in user space.

use std::collections::HashSet;

use crate::eval::{Cond, Filter, NumField, StrField};
use crate::group::Group;
use wire::kcfg::{SCOPE_SET_MAX, container_scope};

/// What tracee-collect may evaluate in the kernel: exact `=` or `!=` sets
/// of context fields (of at most `SCOPE_SET_MAX` values, what the kernel's
/// sets hold), and the event set. Anything else stays in user space.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pushdown {
    pub events: Option<HashSet<u32>>,
    pub comm: Option<(bool, Vec<Vec<u8>>)>,
    pub pid: Option<(bool, Vec<u32>)>,
    pub tid: Option<(bool, Vec<u32>)>,
    pub uid: Option<(bool, Vec<u32>)>,
    pub mntns: Option<(bool, Vec<u32>)>,
    pub pidns: Option<(bool, Vec<u32>)>,
    pub cgroup: Option<(bool, Vec<u64>)>,
    /// The container scope the kernel can judge (`kcfg::container_scope`):
    /// started containers, none, or new ones. Ids and names are judged in
    /// user space, on what the kernel lets through: it keeps every started
    /// container for them, a superset (tracee-collect applies the whole
    /// filter to what comes up).
    pub container: Option<u32>,
}

impl Filter {
    /// The part of this filter the kernel can evaluate with the same result.
    pub fn pushdown(&self) -> Pushdown {
        let mut p = Pushdown {
            events: self.events.clone(),
            ..Default::default()
        };
        if self.needs_lifecycle() {
            // Descendants and exec-tracked processes do not match the scope
            // keys themselves; the kernel must not drop them.
            return Pushdown {
                events: p.events,
                ..Default::default()
            };
        }
        fn set<T: Copy + TryFrom<i128>>(g: &Group<i128>) -> Option<(bool, Vec<T>)> {
            if !g.cmp.is_empty() || (!g.eq_set.is_empty() && !g.ne_set.is_empty()) {
                return None;
            }
            let (neg, vals) = if g.eq_set.is_empty() {
                (true, &g.ne_set)
            } else {
                (false, &g.eq_set)
            };
            let v: Option<Vec<T>> = vals.iter().map(|&x| T::try_from(x).ok()).collect();
            v.filter(|v| v.len() <= SCOPE_SET_MAX as usize)
                .map(|v| (neg, v))
        }
        for c in &self.scope {
            match c {
                Cond::Str(StrField::Comm, g) => {
                    let only_exact = g.eq_pat.is_empty() && g.ne_pat.is_empty();
                    let one_side = g.eq_set.is_empty() || g.ne_set.is_empty();
                    // The kernel compares 16-byte comms; longer names never match.
                    if only_exact && one_side {
                        let (neg, vals) = if g.eq_set.is_empty() {
                            (true, &g.ne_set)
                        } else {
                            (false, &g.eq_set)
                        };
                        p.comm =
                            Some((neg, vals.iter().filter(|v| v.len() < 16).cloned().collect()));
                        if !neg && p.comm.as_ref().is_some_and(|(_, v)| v.is_empty()) {
                            // Every name is too long to ever match.
                            p.comm = Some((false, vec![]));
                        }
                        if p.comm
                            .as_ref()
                            .is_some_and(|(_, v)| v.len() > SCOPE_SET_MAX as usize)
                        {
                            p.comm = None;
                        }
                    }
                }
                Cond::Num(NumField::Pid, g) => p.pid = set(g),
                Cond::Num(NumField::Tid, g) => p.tid = set(g),
                Cond::Num(NumField::Uid, g) => p.uid = set(g),
                Cond::Num(NumField::MntNs, g) => p.mntns = set(g),
                Cond::Num(NumField::PidNs, g) => p.pidns = set(g),
                Cond::Num(NumField::Cgroup, g) => p.cgroup = set(g),
                _ => {}
            }
        }
        // Every condition holds of a kept event, so any one of them is a
        // superset the kernel may apply; the narrowest is chosen.
        let has = |want: &dyn Fn(&Cond) -> bool| self.scope.iter().any(want);
        p.container = if has(&|c| matches!(c, Cond::NewContainer(true))) {
            Some(container_scope::NEW)
        } else if has(&|c| {
            matches!(
                c,
                Cond::InContainer(true) | Cond::ContainerIds(..) | Cond::NewContainer(false)
            )
        }) {
            Some(container_scope::ANY)
        } else if has(&|c| matches!(c, Cond::InContainer(false))) {
            Some(container_scope::NONE)
        } else {
            None
        };
        p
    }
}

impl Pushdown {
    /// Nothing for the kernel to evaluate.
    pub fn is_empty(&self) -> bool {
        *self == Pushdown::default()
    }

    /// What the kernel may evaluate for a pipeline that keeps only the
    /// events both `self`'s filter and `other`'s keep: the event sets
    /// intersected, and per context field whichever side has a set
    /// (`self`'s where both do). Each set kept is exact for its own
    /// filter, so every event both filters keep passes them all: the
    /// kernel drops none that either filter would have kept.
    pub fn and(self, other: Pushdown) -> Pushdown {
        Pushdown {
            events: match (self.events, other.events) {
                (Some(a), Some(b)) => Some(a.intersection(&b).copied().collect()),
                (a, b) => a.or(b),
            },
            comm: self.comm.or(other.comm),
            pid: self.pid.or(other.pid),
            tid: self.tid.or(other.tid),
            uid: self.uid.or(other.uid),
            mntns: self.mntns.or(other.mntns),
            pidns: self.pidns.or(other.pidns),
            cgroup: self.cgroup.or(other.cgroup),
            container: self.container.or(other.container),
        }
    }

    /// What it evaluates, for a person: `comm=3 names, event=2 events`.
    pub fn describe(&self) -> String {
        fn set<T>(name: &str, v: &Option<(bool, Vec<T>)>, what: &str) -> Option<String> {
            v.as_ref().map(|(neg, v)| {
                let op = if *neg { "!=" } else { "=" };
                let s = if v.len() == 1 { "" } else { "s" };
                format!("{name}{op}{} {what}{s}", v.len())
            })
        }
        let parts = [
            set("comm", &self.comm, "name"),
            set("pid", &self.pid, "id"),
            set("tid", &self.tid, "id"),
            set("uid", &self.uid, "id"),
            set("mntns", &self.mntns, "namespace"),
            set("pidns", &self.pidns, "namespace"),
            set("cgroup", &self.cgroup, "id"),
            self.container.map(|c| {
                match c {
                    container_scope::NEW => "container=new",
                    container_scope::NONE => "not container",
                    _ => "container",
                }
                .to_string()
            }),
            self.events.as_ref().map(|e| {
                let s = if e.len() == 1 { "" } else { "s" };
                format!("event={} event{s}", e.len())
            }),
        ];
        let parts: Vec<String> = parts.into_iter().flatten().collect();
        if parts.is_empty() {
            "nothing".to_string()
        } else {
            parts.join(", ")
        }
    }
}
