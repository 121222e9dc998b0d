//! Containers, as tracee-collect knows them: found at start by walking the
//! cgroup v2 tree, and from the kernel's `cgroup_mkdir` records while
//! tracing; classified by path (`wire::container::classify`, Tracee's
//! rules); named by their runtime on a thread of their own (`runtime.rs`);
//! and told to every reader as container records, each before the first
//! event from its cgroup (the kernel sends a cgroup's `cgroup_mkdir`
//! before any task can join it, on the same ring).
//!
//! The kernel's side (`CGROUPS`, `STARTED`): every cgroup made while
//! tracing is `PENDING` until classified here; a container's cgroup
//! becomes `CONTAINER`, any other is removed. Containers found at start
//! are `CONTAINER` and started (Tracee's "existing" containers).

pub mod cgroupfs;
pub mod http;
pub mod runtime;

use std::collections::HashMap;
use std::path::PathBuf;

use aya::maps::{HashMap as BpfHashMap, MapData};
use wire::build::EventBuilder;
use wire::container::{Container, Runtime, classify, flags};
use wire::kcfg::cgroup;
use wire::{EventSlice, event_id};

use self::runtime::{Answer, Lookups, Request, Sources};

/// `--containers` options, in Tracee's syntax.
#[derive(Clone, Debug)]
pub struct Options {
    /// Ask the runtimes for names (`enrich=false` turns it off).
    pub enrich: bool,
    pub sources: Sources,
    /// The cgroup v2 mount (`cgroupfs.path=`), else found in mountinfo.
    pub cgroupfs: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            enrich: true,
            sources: Sources::default(),
            cgroupfs: None,
        }
    }
}

/// Parses `--containers` values: `enrich=true|false`,
/// `sockets.RUNTIME=PATH` (repeatable; given sockets replace the default
/// ones), `cgroupfs.path=PATH`.
pub fn parse_options(values: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut sockets = Vec::new();
    for v in values.iter().flat_map(|v| v.split(',')) {
        let (k, val) = v
            .split_once('=')
            .ok_or_else(|| format!("--containers {v}: expected KEY=VALUE"))?;
        match k {
            "enrich" => {
                o.enrich = match val {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(format!("--containers {v}: enrich is true or false")),
                }
            }
            "cgroupfs.path" => o.cgroupfs = Some(val.into()),
            _ => match k.strip_prefix("sockets.") {
                Some(rt) => {
                    let rt = Runtime::from_name(rt).ok_or_else(|| {
                        format!(
                            "--containers {v}: unknown runtime '{rt}' (docker, podman, containerd, crio)"
                        )
                    })?;
                    sockets.push((rt, PathBuf::from(val)));
                }
                None => {
                    return Err(format!(
                        "--containers {v}: unknown option '{k}' (enrich, sockets.RUNTIME, cgroupfs.path)"
                    ));
                }
            },
        }
    }
    if !sockets.is_empty() {
        o.sources.sockets = sockets;
    }
    Ok(o)
}

/// What is known of containers when tracing starts.
#[derive(Default)]
pub struct Start {
    /// The cgroup v2 mount, if there is one.
    pub cgroupfs: Option<PathBuf>,
    /// The containers running, with their cgroup paths.
    pub existing: Vec<(Container, String)>,
}

/// What the tracker has for the stream, in order.
pub enum Emit {
    /// A container record (written, and taken in by the filter).
    Container(Container),
    /// A derived event (`container_create`, `container_remove`), which
    /// goes through the event selection and filter like any other.
    Event(Vec<u8>),
    /// The kernel record being handled (if it was asked for): derived
    /// events follow the event they come from, as in Tracee.
    This,
}

/// The kernel's cgroup maps.
pub struct KernelMaps {
    pub cgroups: BpfHashMap<MapData, u64, u32>,
    pub started: BpfHashMap<MapData, u64, u8>,
}

/// Container cgroups remembered at most (the readers' bound): past it a
/// new one is still told to the stream, but not remembered, so its names
/// and its removal do not follow. Only someone who may make cgroups (a
/// delegated subtree) can make that many.
const KNOWN_MAX: usize = wire::container::TABLE_MAX;

pub struct Tracker {
    known: HashMap<u64, Container>,
    /// A container's own cgroup by its path, for the cgroups made below it.
    roots: HashMap<String, u64>,
    /// The path of each container cgroup known.
    paths: HashMap<u64, String>,
    /// The cgroups of each container id, for the runtime's answer.
    by_id: HashMap<Vec<u8>, Vec<u64>>,
    /// Said once: the table was full.
    told_full: bool,
    /// `cgroup_mkdir` records of container cgroups whose names are being
    /// looked up: their `container_create` goes out with the answer.
    creates: HashMap<u64, Vec<u8>>,
    lookups: Option<Lookups>,
    maps: KernelMaps,
    boot_epoch_ns: u64,
    /// The cgroup v2 mount, for paths the tracepoint cut.
    cgroupfs: Option<PathBuf>,
}

/// A container's names, as a record carries them.
fn name_into(c: &mut Container, a: &Answer) {
    c.flags |= flags::LOOKED_UP;
    match a {
        Answer::Named(n) => {
            c.flags |= flags::NAMED;
            if n.sandbox {
                c.flags |= flags::POD_SANDBOX;
            }
            c.name = n.name.clone().into_bytes();
            c.image = n.image.clone().into_bytes();
            c.image_digest = n.image_digest.clone().into_bytes();
            c.pod_name = n.pod_name.clone().into_bytes();
            c.pod_namespace = n.pod_namespace.clone().into_bytes();
            c.pod_uid = n.pod_uid.clone().into_bytes();
            c.lookup = format!("ok: {}", n.source).into_bytes();
        }
        Answer::Unknown(why) => c.lookup = why.clone().into_bytes(),
    }
}

impl Tracker {
    /// Starts tracking with the containers found at start (already in the
    /// kernel's maps: `load::find_containers` put them there).
    pub fn new(opts: &Options, start: Start, maps: KernelMaps, boot_epoch_ns: u64) -> Tracker {
        let Start { cgroupfs, existing } = start;
        let lookups = if opts.enrich {
            match Lookups::start(opts.sources.clone()) {
                Ok(l) => Some(l),
                Err(e) => {
                    eprintln!("tracee-collect: container names will be unknown: {e}");
                    None
                }
            }
        } else {
            None
        };
        let mut t = Tracker {
            known: HashMap::new(),
            roots: HashMap::new(),
            paths: HashMap::new(),
            by_id: HashMap::new(),
            told_full: false,
            creates: HashMap::new(),
            lookups,
            maps,
            boot_epoch_ns,
            cgroupfs,
        };
        for (c, path) in existing {
            let cgid = c.cgroup_id;
            t.remember(c, &path);
            t.ask(cgid);
        }
        t
    }

    fn remember(&mut self, c: Container, path: &str) {
        let cgid = c.cgroup_id;
        if c.has(flags::ROOT) {
            self.roots.insert(path.to_string(), cgid);
        }
        self.paths.insert(cgid, path.to_string());
        self.by_id.entry(c.id.clone()).or_default().push(cgid);
        self.known.insert(cgid, c);
    }

    fn forget(&mut self, cgid: u64) -> Option<Container> {
        let c = self.known.remove(&cgid)?;
        if let Some(p) = self.paths.remove(&cgid)
            && self.roots.get(&p) == Some(&cgid)
        {
            self.roots.remove(&p);
        }
        if let Some(v) = self.by_id.get_mut(&c.id) {
            v.retain(|&x| x != cgid);
            if v.is_empty() {
                self.by_id.remove(&c.id);
            }
        }
        Some(c)
    }

    /// The container's own cgroup that `path` is below, if known.
    fn root_above(&self, path: &str) -> Option<&Container> {
        let mut p = path;
        while let Some(i) = p.rfind('/') {
            p = &p[..i];
            if let Some(cgid) = self.roots.get(p) {
                return self.known.get(cgid);
            }
        }
        None
    }

    /// The containers known now (at start: those found by the walk).
    pub fn containers(&self) -> impl Iterator<Item = &Container> {
        self.known.values()
    }

    /// Asks for the names of the container of known cgroup `cgid` (its
    /// own cgroup only: cgroups below it take the answer too). False if
    /// it could not be asked (the record then says why).
    fn ask(&mut self, cgid: u64) -> bool {
        let (Some(l), Some(c)) = (&self.lookups, self.known.get_mut(&cgid)) else {
            return false;
        };
        // Not below a container's, nor named already (or refused).
        if !c.has(flags::ROOT) || c.has(flags::LOOKED_UP) {
            return false;
        }
        let r = Request {
            cgroup_id: cgid,
            id: String::from_utf8_lossy(&c.id).into_owned(),
            runtime: c.runtime,
        };
        if l.ask(r).is_err() {
            name_into(
                c,
                &Answer::Unknown("too many lookups waiting; not asked".into()),
            );
            return false;
        }
        true
    }

    /// Takes in a kernel `cgroup_mkdir` or `cgroup_rmdir` record of the
    /// cgroup v2 hierarchy; what the stream must carry goes to `out`, in
    /// order, with [`Emit::This`] where the record itself goes (at the
    /// end if absent).
    pub fn on_cgroup(&mut self, ev: &EventSlice<'_>, out: &mut Vec<Emit>) {
        let id = ev.event_id();
        if ev.arg(2).map(|a| a.scalar()) != Some(0) {
            return;
        }
        let Some(cgid) = ev.arg(0).map(|a| a.scalar()) else {
            return;
        };
        if id == event_id::CGROUP_MKDIR {
            let path = ev.arg(1).map(|a| a.data).unwrap_or_default();
            let mut path = String::from_utf8_lossy(path).into_owned();
            if path.len() >= cgroupfs::TRACEPOINT_PATH_MAX
                && let Some(whole) = self
                    .cgroupfs
                    .as_deref()
                    .and_then(|r| cgroupfs::path_of(r, cgid))
            {
                path = whole;
            }
            self.mkdir(ev, cgid, &path, out);
        } else if id == event_id::CGROUP_RMDIR {
            self.rmdir(ev, cgid, out);
        }
    }

    fn mkdir(&mut self, ev: &EventSlice<'_>, cgid: u64, path: &str, out: &mut Vec<Emit>) {
        let Some(f) = classify(path) else {
            let _ = self.maps.cgroups.remove(&cgid);
            let _ = self.maps.started.remove(&cgid);
            return;
        };
        let mut c = Container {
            cgroup_id: cgid,
            ctime: self.boot_epoch_ns.wrapping_add(ev.ts()),
            flags: flags::NEW | if f.root { flags::ROOT } else { 0 },
            runtime: f.runtime,
            id: f.id.into_bytes(),
            ..Default::default()
        };
        // A cgroup below a container's own takes what is known of it.
        if !f.root
            && let Some(top) = self.root_above(path).filter(|k| k.id == c.id)
        {
            c = Container {
                cgroup_id: cgid,
                flags: flags::NEW
                    | top.flags & (flags::LOOKED_UP | flags::NAMED | flags::POD_SANDBOX),
                ..top.clone()
            };
        }
        let _ = self
            .maps
            .cgroups
            .insert(cgid, cgroup::CONTAINER | cgroup::NEW, 0);
        let full = self.known.len() >= KNOWN_MAX;
        if full {
            if !self.told_full {
                self.told_full = true;
                eprintln!(
                    "tracee-collect: {KNOWN_MAX} container cgroups known: newer ones are told without their names or removal"
                );
            }
            name_into(
                &mut c,
                &Answer::Unknown("too many containers; not asked".into()),
            );
        } else if f.root && self.lookups.is_none() {
            name_into(
                &mut c,
                &Answer::Unknown("not asked (--containers enrich=false)".into()),
            );
        } else if f.root && ev.uid() != 0 {
            // Its name was chosen by whoever may make cgroups there: the
            // runtime's names for that id (another container's, maybe)
            // are not theirs to wear.
            name_into(&mut c, &Answer::Unknown(not_a_runtimes(ev.uid())));
        }
        let (c, asked) = if full {
            (c, false)
        } else {
            self.remember(c, path);
            let asked = self.ask(cgid);
            (self.known[&cgid].clone(), asked)
        };
        out.push(Emit::Container(c.clone()));
        out.push(Emit::This);
        if f.root {
            if asked {
                // Goes out with the runtime's answer.
                self.creates.insert(cgid, ev.bytes().to_vec());
            } else {
                out.push(Emit::Event(create_event(ev, &c)));
            }
        }
    }

    fn rmdir(&mut self, ev: &EventSlice<'_>, cgid: u64, out: &mut Vec<Emit>) {
        out.push(Emit::This);
        let _ = self.maps.cgroups.remove(&cgid);
        let _ = self.maps.started.remove(&cgid);
        let Some(mut c) = self.forget(cgid) else {
            return;
        };
        // A container gone before its names came: its create still goes
        // out, saying what is unknown.
        if let Some(mk) = self.creates.remove(&cgid) {
            name_into(
                &mut c,
                &Answer::Unknown("the container was gone before its runtime answered".into()),
            );
            out.push(Emit::Container(c.clone()));
            out.extend(create_from(&mk, &c));
        }
        c.flags |= flags::REMOVED;
        out.push(Emit::Container(c.clone()));
        if c.has(flags::ROOT) {
            let runtime = c.runtime.name();
            out.push(Emit::Event(
                EventBuilder::derived(ev, event_id::CONTAINER_REMOVE)
                    .str(0, runtime)
                    .bytes_str(1, &c.id)
                    .finish(),
            ));
        }
    }

    /// At the stop: the answers that came, then a `container_create` for
    /// every container still waiting for one, saying so.
    pub fn finish(&mut self, out: &mut Vec<Emit>) {
        self.poll(out);
        let mut waiting: Vec<(u64, Vec<u8>)> = self.creates.drain().collect();
        waiting.sort_by_key(|(cgid, _)| *cgid);
        for (cgid, mk) in waiting {
            let Some(c) = self.known.get_mut(&cgid) else {
                continue;
            };
            name_into(
                c,
                &Answer::Unknown("tracing stopped before the runtime answered".into()),
            );
            let c = c.clone();
            out.push(Emit::Container(c.clone()));
            out.extend(create_from(&mk, &c));
        }
    }

    /// Takes in the runtime's answers that arrived.
    pub fn poll(&mut self, out: &mut Vec<Emit>) {
        let Some(l) = &self.lookups else { return };
        let answers: Vec<(Request, Answer)> = l.answers().collect();
        for (r, a) in answers {
            let mut updated: Vec<Container> = Vec::new();
            let Some(root) = self.paths.get(&r.cgroup_id).map(|p| format!("{p}/")) else {
                // Gone meanwhile: its create went out at its removal.
                continue;
            };
            for cgid in self.by_id.get(r.id.as_bytes()).into_iter().flatten() {
                // Only the cgroup asked about and those below it: another
                // cgroup claiming the same id is not that container.
                let below = self.paths.get(cgid).is_some_and(|p| p.starts_with(&root));
                if *cgid != r.cgroup_id && !below {
                    continue;
                }
                if let Some(c) = self.known.get_mut(cgid) {
                    name_into(c, &a);
                    updated.push(c.clone());
                }
            }
            // The container's own cgroup first, then those below it.
            updated.sort_by_key(|c| !c.has(flags::ROOT));
            for c in updated {
                let cgid = c.cgroup_id;
                out.push(Emit::Container(c.clone()));
                if let Some(mk) = self.creates.remove(&cgid) {
                    out.extend(create_from(&mk, &c));
                }
            }
        }
    }
}

/// Why a cgroup made by `uid` is not looked up.
pub fn not_a_runtimes(uid: u32) -> String {
    format!("made by uid {uid}, not by a runtime running as root: names not asked")
}

/// `container_create` from a kept `cgroup_mkdir` record.
fn create_from(mkdir: &[u8], c: &Container) -> Option<Emit> {
    let (r, _) = wire::RecordSlice::from_slice(mkdir, 0).ok()?;
    let mk = EventSlice::from_record(r).ok()?;
    Some(Emit::Event(create_event(&mk, c)))
}

/// `container_create`, from the `cgroup_mkdir` of the container's cgroup
/// and what is known of its names.
fn create_event(mkdir: &EventSlice<'_>, c: &Container) -> Vec<u8> {
    EventBuilder::derived(mkdir, event_id::CONTAINER_CREATE)
        .str(0, c.runtime.name())
        .bytes_str(1, &c.id)
        .scalar(2, c.ctime)
        .bytes_str(3, &c.image)
        .bytes_str(4, &c.image_digest)
        .bytes_str(5, &c.name)
        .bytes_str(6, &c.pod_name)
        .bytes_str(7, &c.pod_namespace)
        .bytes_str(8, &c.pod_uid)
        .scalar(9, c.has(flags::POD_SANDBOX) as u64)
        .finish()
}
