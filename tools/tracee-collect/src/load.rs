//! Loading the eBPF programs: the kernel configuration (events, pushed-down
//! scope, capture filter, struct offsets), attaching, and detaching.

use std::collections::BTreeSet;

use anyhow::{Context as _, bail};
use aya::maps::{Array, HashMap as BpfHashMap, MapData, ProgramArray};
use aya::programs::cgroup_skb::CgroupSkbLinkId;
use aya::programs::cgroup_sock::CgroupSockLinkId;
use aya::programs::raw_trace_point::RawTracePointLinkId;
use aya::programs::tp_btf::BtfTracePointLinkId;
use aya::programs::trace_point::TracePointLinkId;
use aya::programs::{
    BtfTracePoint, CgroupAttachMode, CgroupSkb, CgroupSkbAttachType, CgroupSock, RawTracePoint,
    TracePoint,
};
use aya::{Ebpf, EbpfLoader};
use tracee_filter::{Filter, Pushdown};
use wire::event_id;
use wire::kcfg::{self, scope};

use crate::peers::{pipeline_peers, readers_of};
use crate::run::Config;
use crate::{btf, events, syscalls_gen};

#[cfg(not(ebpf_skipped))]
static EBPF: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tracee-ebpf"));
#[cfg(ebpf_skipped)]
static EBPF: &[u8] = &[];

/// An attached program, by kind, with what detaching it needs.
pub enum Link {
    Raw(&'static str, RawTracePointLinkId),
    Btf(&'static str, BtfTracePointLinkId),
    Tp(&'static str, TracePointLinkId),
    Skb(&'static str, CgroupSkbLinkId),
    Sock(&'static str, CgroupSockLinkId),
}
/// Attached programs, for detaching on stop.
pub type Links = Vec<Link>;

/// Mounts tracefs where aya looks for tracepoint ids, unless something is
/// mounted there already (a fresh machine has nothing).
fn ensure_tracefs() -> anyhow::Result<()> {
    let dir = std::path::Path::new("/sys/kernel/tracing");
    if dir.join("events").exists()
        || std::path::Path::new("/sys/kernel/debug/tracing/events").exists()
    {
        return Ok(());
    }
    nix::mount::mount(
        Some("tracefs"),
        "/sys/kernel/tracing",
        Some("tracefs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .context("mounting tracefs on /sys/kernel/tracing")?;
    Ok(())
}

/// What [`load`] leaves running.
pub struct Loaded {
    pub ebpf: Ebpf,
    /// The events the kernel sends.
    pub enabled: BTreeSet<u32>,
    /// The pipeline's processes left out.
    pub peers: Vec<u32>,
    pub links: Links,
    /// Containers running when tracing began.
    pub containers: crate::containers::Start,
    /// What the stronger hooks' probe found, for the start line.
    pub tiers: String,
    /// The cgroup v2 root the packet programs are attached to, if they are.
    pub packets: Option<std::path::PathBuf>,
}

/// Loads the never-attached fentry and LSM probes (and looks for kprobes)
/// to say which hooks this kernel offers. Security events come from the
/// derived tier whatever is found: no other is built.
fn probe_tiers(ebpf: &mut Ebpf, btf: &aya::Btf) -> String {
    let mut said = Vec::new();
    let fentry = (|| -> anyhow::Result<()> {
        let p: &mut aya::programs::FEntry = program(ebpf, "probe_fentry")?;
        p.load("security_file_open", btf)?;
        p.unload()?;
        Ok(())
    })();
    said.push(format!("fentry {}", outcome(fentry)));
    let lsm = (|| -> anyhow::Result<()> {
        let p: &mut aya::programs::Lsm = program(ebpf, "probe_lsm")?;
        p.load("file_open", btf)?;
        p.unload()?;
        Ok(())
    })();
    said.push(format!("BPF-LSM {}", outcome(lsm)));
    let kprobes = std::path::Path::new("/sys/kernel/tracing/kprobe_events").exists()
        || std::path::Path::new("/sys/kernel/debug/tracing/kprobe_events").exists();
    said.push(format!(
        "kprobes {}",
        if kprobes { "present" } else { "absent" }
    ));
    said.join(", ")
}

/// A probe's result as the start line says it.
fn outcome(r: anyhow::Result<()>) -> String {
    match r {
        Ok(()) => "loads (not used: only the derived tier is built)".into(),
        Err(e) => {
            // The kernel's reason, not the verifier log aya carries with it.
            let root = e.root_cause().to_string();
            let short = root.rsplit(": ").next().unwrap_or(&root).to_string();
            format!("refused ({short})")
        }
    }
}

/// Whether `events` has net_flow_tcp_begin or _end. They are judged from
/// a connection's packets over time, whoever sent them (a process may
/// rename itself, or hand the socket to another): every packet must reach
/// user space, so only the event set is pushed down.
pub fn flows_selected(events: &BTreeSet<u32>) -> bool {
    [event_id::NET_FLOW_TCP_BEGIN, event_id::NET_FLOW_TCP_END]
        .iter()
        .any(|id| events.contains(id))
}

/// The running kernel's BTF, read once: the struct offsets the programs
/// are given, and aya's parse, which serves the loader and the BTF
/// tracepoints (the loader would parse its own).
pub struct KernelBtf {
    offsets: [u32; wire::kcfg::member::COUNT],
    aya: aya::Btf,
}

impl KernelBtf {
    pub fn read() -> anyhow::Result<KernelBtf> {
        if EBPF.is_empty() {
            bail!("this build has no eBPF programs (built with AYA_BUILD_SKIP=1)");
        }
        let offsets = btf::kernel_offsets(&btf::Btf::from_sys_fs().context("reading kernel BTF")?)
            .context("resolving kernel struct offsets")?;
        let aya = aya::Btf::from_sys_fs().context("reading kernel BTF")?;
        Ok(KernelBtf { offsets, aya })
    }
}

/// Loads and attaches the programs; returns the handle that keeps them
/// attached. `downstream` is the kernel's share of the expressions of a
/// tracee-filter reading our stdout ([`crate::downstream`]), if any.
pub fn load(
    cfg: &Config,
    filter: &Filter,
    downstream: Option<&Pushdown>,
    kbtf: KernelBtf,
) -> anyhow::Result<Loaded> {
    let KernelBtf {
        offsets,
        aya: kbtf_aya,
    } = kbtf;
    let mut push = if cfg.pushdown {
        match downstream {
            Some(d) => filter.pushdown().and(d.clone()),
            None => filter.pushdown(),
        }
    } else {
        Pushdown::default()
    };
    if flows_selected(&cfg.events) {
        push = Pushdown {
            events: push.events,
            ..Pushdown::default()
        };
    }

    let mut enabled: BTreeSet<u32> = match &push.events {
        Some(p) => cfg
            .events
            .iter()
            .copied()
            .filter(|id| p.contains(id))
            .collect(),
        None => cfg.events.clone(),
    };
    if cfg.capture.wants(wire::capture::artifact::EXEC) {
        enabled.insert(event_id::SCHED_PROCESS_EXEC);
    }
    // net_tcp_connect is derived from security_socket_connect.
    if cfg.events.contains(&event_id::NET_TCP_CONNECT) {
        enabled.insert(event_id::SECURITY_SOCKET_CONNECT);
    }
    let net = crate::net::kernel(&enabled, cfg.capture.pcap.as_ref());
    if filter.needs_lifecycle() {
        enabled.extend([
            event_id::SCHED_PROCESS_FORK,
            event_id::SCHED_PROCESS_EXEC,
            event_id::SCHED_PROCESS_EXIT,
        ]);
    }

    let (mut active, mut not) = (0u32, 0u32);
    let mut mark = |bit: u32, neg: bool| {
        active |= bit;
        if neg {
            not |= bit;
        }
    };
    if let Some((n, _)) = &push.comm {
        mark(scope::COMM, *n);
    }
    for (bit, v) in [
        (scope::PID, &push.pid),
        (scope::TID, &push.tid),
        (scope::UID, &push.uid),
        (scope::MNTNS, &push.mntns),
        (scope::PIDNS, &push.pidns),
    ] {
        if let Some((n, _)) = v {
            mark(bit, *n);
        }
    }
    if let Some((n, _)) = &push.cgroup {
        mark(scope::CGROUP, *n);
    }
    let container_scope = push.container.unwrap_or(0);
    if container_scope != 0 {
        mark(scope::CONTAINER, false);
    }

    let self_tgid = std::process::id();
    let mut peers = if cfg.trace_pipeline || cfg.no_events {
        vec![]
    } else {
        pipeline_peers("self")
    };
    if cfg.capture.mask != 0 {
        // tracee-capture's own writes must never be captured: they would
        // feed back without end.
        for p in readers_of("self", cfg.capture_fd as u32) {
            if !peers.contains(&p) {
                peers.push(p);
            }
        }
    }
    // A ring's reader attaches later and is added to PEERS then.
    let has_peers = u32::from(!peers.is_empty() || (cfg.output.is_some() && !cfg.trace_pipeline));
    let wake = (cfg.ring_bytes / 4) as u64;
    let mut ebpf = EbpfLoader::new()
        .btf(Some(&kbtf_aya))
        // SOCK_OWNER, socket storage, has no aya type; it is only created.
        .allow_unsupported_maps()
        .set_global("SELF_TGID", &self_tgid, true)
        .set_global("HAS_PEERS", &has_peers, true)
        .set_global("SCOPE", &active, true)
        .set_global("SCOPE_NOT", &not, true)
        .set_global("SCOPE_CONTAINER", &container_scope, true)
        .set_global("WAKE_BYTES", &wake, true)
        .set_global("TRACK_PROCS", &1u32, true)
        .set_global("EXEC_ENV", &u32::from(cfg.exec_env), true)
        .set_global("OFFSETS", &offsets, true)
        .set_global("NET_SNAP", &net.unwrap_or_default().snap, true)
        .set_global("NET_FLAGS", &net.unwrap_or_default().flags, true)
        .set_global("NET_RING_HALF", &(u64::from(cfg.ring_bytes) / 2), true)
        // Two 64 KiB packet slots per CPU, only when packets are traced.
        .set_max_entries(
            "NET_SCRATCH",
            if net.is_some() {
                2 * aya::util::nr_cpus().map_err(|(_, e)| e)? as u32
            } else {
                1
            },
        )
        .set_global("CAPTURE", &cfg.capture.kernel_mask(), true)
        .set_max_entries("RING", cfg.ring_bytes)
        // Without capture the payload ring is one page, never mapped here:
        // its pages would count in our memory for nothing.
        .set_max_entries(
            "CAP_RING",
            if cfg.capture.kernel_mask() != 0 {
                cfg.capture_bytes
            } else {
                4096
            },
        )
        .load(EBPF)
        .context("loading the eBPF object")?;

    // sched_process_exec carries the caller's name from before the exec,
    // which only the entry of execve and execveat still has: their entry
    // is traced (not sent) when they are not selected themselves.
    let keep_comm: BTreeSet<u32> = if enabled.contains(&event_id::SCHED_PROCESS_EXEC) {
        [kcfg::nr::EXECVE, kcfg::nr::EXECVEAT]
            .into_iter()
            .filter(|n| !enabled.contains(n))
            .collect()
    } else {
        BTreeSet::new()
    };
    // The syscalls a selected security event is derived from: sys_exit
    // hands them to security_exit, whether or not they are selected.
    let derive: std::collections::BTreeMap<u32, u8> = enabled
        .iter()
        .filter_map(|&id| Some((events::derived_from(id), events::derive_group(id)?)))
        .flat_map(|(nrs, g)| nrs.iter().map(move |&n| (n, g)))
        .collect();
    {
        let mut cfgmap: Array<&mut MapData, [u8; 16]> =
            Array::try_from(ebpf.map_mut("CFG").context("map CFG")?)?;
        for s in events::all() {
            if s.nr >= kcfg::CFG_ENTRIES {
                continue;
            }
            let mut c = if enabled.contains(&s.nr) {
                events::kernel_cfg(s)
            } else {
                kcfg::EventCfg::default()
            };
            c.derive = derive.get(&s.nr).copied().unwrap_or(0);
            if keep_comm.contains(&s.nr) {
                c.flags |= kcfg::flags::ENTRY;
            }
            if c.enabled != 0 || c.derive != 0 || c.flags != 0 {
                cfgmap.set(s.nr, c.to_bytes(), 0)?;
            }
        }
    }
    {
        let mut compat: Array<&mut MapData, u32> =
            Array::try_from(ebpf.map_mut("COMPAT").context("map COMPAT")?)?;
        for i in 0..kcfg::COMPAT_ENTRIES {
            compat.set(i, u32::MAX, 0)?;
        }
        for &(n32, n64) in syscalls_gen::COMPAT {
            if n32 < kcfg::COMPAT_ENTRIES {
                compat.set(n32, n64, 0)?;
            }
        }
    }
    fill_set(
        &mut ebpf,
        "F_COMM",
        push.comm
            .as_ref()
            .map(|(_, v)| v.iter().map(wire::build::name16).collect()),
    )?;
    fill_set(&mut ebpf, "F_PID", push.pid.map(|(_, v)| v))?;
    fill_set(&mut ebpf, "F_TID", push.tid.map(|(_, v)| v))?;
    fill_set(&mut ebpf, "F_UID", push.uid.map(|(_, v)| v))?;
    fill_set(&mut ebpf, "F_MNTNS", push.mntns.map(|(_, v)| v))?;
    fill_set(&mut ebpf, "F_PIDNS", push.pidns.map(|(_, v)| v))?;
    fill_set(&mut ebpf, "F_CGROUP", push.cgroup.map(|(_, v)| v))?;
    fill_set(&mut ebpf, "PEERS", Some(peers.clone()))?;
    {
        let mut f: Array<&mut MapData, CapFilterPod> =
            Array::try_from(ebpf.map_mut("CAP_FILTER").context("map CAP_FILTER")?)?;
        for (i, cf) in cfg.capture.filters.iter().enumerate() {
            f.set(i as u32, CapFilterPod(*cf), 0)?;
        }
    }

    // Every program is loaded (verified) first, then attached in an order
    // that leaves no gap: sys_exit before what leaves it work (the sched
    // programs keep an exec's entry for it), and the entry tracepoints
    // last; detaching goes the other way. An exec caught between the two
    // would otherwise keep an entry no exit takes, and count as lost.
    //
    // The cgroup programs go first of all, and the containers running are
    // looked for after them: a container made meanwhile is then seen by
    // both (which is harmless), never by neither.
    const CGROUP_PROGS: [&str; 2] = ["cgroup_mkdir", "cgroup_rmdir"];
    const BTF_PROGS: [&str; 4] = [
        "sys_exit",
        "sched_process_exit",
        "sched_process_fork",
        "sched_process_exec",
    ];
    if cfg.capture.kernel_mask() != 0 {
        let p: &mut RawTracePoint = program(&mut ebpf, "capture_exit")?;
        p.load().context("loading capture_exit")?;
    }
    for prog in CGROUP_PROGS.into_iter().chain(BTF_PROGS) {
        let p: &mut BtfTracePoint = program(&mut ebpf, prog)?;
        p.load(prog, &kbtf_aya)
            .with_context(|| format!("loading {prog}"))?;
    }
    // The security programs are tail-called by sys_exit, never attached:
    // each is loaded and put in its slot only when an event needs it.
    for (prog, group) in [
        ("security_files", kcfg::derive::FILES),
        ("security_net", kcfg::derive::NET),
        ("security_memory", kcfg::derive::MEMORY),
    ] {
        if !derive.values().any(|&g| g == group) {
            continue;
        }
        let p: &mut BtfTracePoint = program(&mut ebpf, prog)?;
        p.load("sys_exit", &kbtf_aya)
            .with_context(|| format!("loading {prog}"))?;
        let fd = p.fd().context(prog)?.try_clone()?;
        let mut slots: ProgramArray<&mut MapData> =
            ProgramArray::try_from(ebpf.map_mut("SECURITY").context("map SECURITY")?)?;
        slots
            .set(u32::from(group - 1), &fd, 0)
            .with_context(|| format!("putting {prog} in its slot"))?;
    }
    let exec_security = [event_id::SECURITY_BPRM_CHECK, event_id::SECURITY_FILE_OPEN]
        .iter()
        .any(|id| enabled.contains(id));
    if exec_security {
        let p: &mut BtfTracePoint = program(&mut ebpf, "security_exec")?;
        p.load("sched_process_exec", &kbtf_aya)
            .context("loading security_exec")?;
    }
    let prot_entry = enabled.contains(&event_id::MEM_PROT_ALERT);
    if prot_entry {
        ensure_tracefs()?;
        let p: &mut TracePoint = program(&mut ebpf, "mprotect_entry")?;
        p.load().context("loading mprotect_entry")?;
    }
    let caps = enabled.contains(&event_id::CAP_CAPABLE);
    if caps {
        ensure_tracefs()?;
        let p: &mut TracePoint = program(&mut ebpf, "cap_capable")?;
        p.load().context("loading cap_capable")?;
    }
    // The syscalls whose entry is traced (kernel_cfg's ENTRY), each on its
    // own tracepoint; every other syscall is traced at exit alone.
    let entries: Vec<String> = events::all()
        .filter(|s| {
            (enabled.contains(&s.nr) && events::kernel_cfg(s).flags & kcfg::flags::ENTRY != 0)
                || keep_comm.contains(&s.nr)
        })
        .map(|s| format!("sys_enter_{}", s.name))
        .collect();
    if !entries.is_empty() {
        ensure_tracefs()?;
        let p: &mut TracePoint = program(&mut ebpf, "syscall_entry")?;
        p.load().context("loading syscall_entry")?;
    }

    if net.is_some() {
        for prog in NET_OWNER_PROGS {
            let p: &mut BtfTracePoint = program(&mut ebpf, prog.0)?;
            p.load(prog.1, &kbtf_aya)
                .with_context(|| format!("loading {}", prog.0))?;
        }
        let p: &mut CgroupSock = program(&mut ebpf, "net_sock_create")?;
        p.load().context("loading net_sock_create")?;
        for prog in ["net_egress", "net_ingress"] {
            let p: &mut CgroupSkb = program(&mut ebpf, prog)?;
            p.load().with_context(|| format!("loading {prog}"))?;
        }
    }

    let tiers = probe_tiers(&mut ebpf, &kbtf_aya);
    let mut links = Links::new();
    attach_btf(&mut ebpf, &mut links, &CGROUP_PROGS)?;
    let containers = find_containers(&mut ebpf, cfg)?;
    // The capture program is attached only when capturing.
    if cfg.capture.kernel_mask() != 0 {
        let p: &mut RawTracePoint = program(&mut ebpf, "capture_exit")?;
        let link = p
            .attach("sys_exit")
            .context("attaching capture_exit to raw tracepoint sys_exit")?;
        links.push(Link::Raw("capture_exit", link));
    }
    attach_btf(&mut ebpf, &mut links, &BTF_PROGS)?;
    if exec_security {
        let p: &mut BtfTracePoint = program(&mut ebpf, "security_exec")?;
        let link = p
            .attach()
            .context("attaching security_exec to BTF tracepoint sched_process_exec")?;
        links.push(Link::Btf("security_exec", link));
    }
    if prot_entry {
        let p: &mut TracePoint = program(&mut ebpf, "mprotect_entry")?;
        for tp in ["sys_enter_mprotect", "sys_enter_pkey_mprotect"] {
            let link = p
                .attach("syscalls", tp)
                .with_context(|| format!("attaching mprotect_entry to tracepoint syscalls/{tp}"))?;
            links.push(Link::Tp("mprotect_entry", link));
        }
    }
    if caps {
        let p: &mut TracePoint = program(&mut ebpf, "cap_capable")?;
        let link = p
            .attach("capability", "cap_capable")
            .context("attaching cap_capable to tracepoint capability/cap_capable")?;
        links.push(Link::Tp("cap_capable", link));
    }
    if !entries.is_empty() {
        let p: &mut TracePoint = program(&mut ebpf, "syscall_entry")?;
        for tp in entries {
            let link = p
                .attach("syscalls", &tp)
                .with_context(|| format!("attaching syscall_entry to tracepoint syscalls/{tp}"))?;
            links.push(Link::Tp("syscall_entry", link));
        }
    }
    let packets = if net.is_some() {
        Some(attach_packets(&mut ebpf, &mut links, cfg)?)
    } else {
        None
    };
    Ok(Loaded {
        ebpf,
        packets,
        enabled,
        peers,
        links,
        containers,
        tiers,
    })
}

/// The programs that keep each socket's owner (BTF tracepoints, with the
/// tracepoint each is on).
const NET_OWNER_PROGS: [(&str, &str); 3] = [
    ("net_sock_send", "sock_send_length"),
    ("net_sock_recv", "sock_recv_length"),
    ("net_tcp_send", "tcp_sendmsg_locked"),
];

/// Attaches the packet programs to the cgroup v2 root: first those that
/// keep sockets' owners, then those that send packets. They are attached
/// as BPF links, which run beside any other program on the cgroup
/// (the kernel refuses attach flags on a link: `Single` passes none),
/// and ours never drop a packet.
fn attach_packets(
    ebpf: &mut Ebpf,
    links: &mut Links,
    cfg: &Config,
) -> anyhow::Result<std::path::PathBuf> {
    let root = cfg
        .containers
        .cgroupfs
        .clone()
        .or_else(crate::containers::cgroupfs::mount_point)
        .context("network events and pcaps need a cgroup v2 mount, and none was found")?;
    let dir = std::fs::File::open(&root)
        .with_context(|| format!("opening the cgroup v2 root {}", root.display()))?;
    for (prog, _) in NET_OWNER_PROGS {
        let p: &mut BtfTracePoint = program(ebpf, prog)?;
        let link = p
            .attach()
            .with_context(|| format!("attaching {prog} to its BTF tracepoint"))?;
        links.push(Link::Btf(prog, link));
    }
    let p: &mut CgroupSock = program(ebpf, "net_sock_create")?;
    let link = p
        .attach(&dir, CgroupAttachMode::Single)
        .with_context(|| format!("attaching net_sock_create to {}", root.display()))?;
    links.push(Link::Sock("net_sock_create", link));
    for (prog, ty) in [
        ("net_egress", CgroupSkbAttachType::Egress),
        ("net_ingress", CgroupSkbAttachType::Ingress),
    ] {
        let p: &mut CgroupSkb = program(ebpf, prog)?;
        let link = p
            .attach(&dir, ty, CgroupAttachMode::Single)
            .with_context(|| format!("attaching {prog} to {}", root.display()))?;
        links.push(Link::Skb(prog, link));
    }
    Ok(root)
}

/// Program `name` of the object, as its kind.
fn program<'a, T>(ebpf: &'a mut Ebpf, name: &str) -> anyhow::Result<&'a mut T>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
{
    Ok(ebpf
        .program_mut(name)
        .with_context(|| format!("program {name}"))?
        .try_into()?)
}

fn attach_btf(ebpf: &mut Ebpf, links: &mut Links, progs: &[&'static str]) -> anyhow::Result<()> {
    for &prog in progs {
        let p: &mut BtfTracePoint = program(ebpf, prog)?;
        let link = p
            .attach()
            .with_context(|| format!("attaching {prog} to BTF tracepoint {prog}"))?;
        links.push(Link::Btf(prog, link));
    }
    Ok(())
}

/// The containers running now, put in the kernel's maps. With no cgroup
/// v2 mount, there are none to find (and none to make).
fn find_containers(ebpf: &mut Ebpf, cfg: &Config) -> anyhow::Result<crate::containers::Start> {
    use crate::containers::cgroupfs;
    let Some(root) = cfg
        .containers
        .cgroupfs
        .clone()
        .or_else(cgroupfs::mount_point)
    else {
        eprintln!("tracee-collect: no cgroup v2 mount found: no containers will be recognised");
        return Ok(Default::default());
    };
    let (mut found, cut) = cgroupfs::walk(&root);
    if cut {
        eprintln!(
            "tracee-collect: {} is too large or deep to walk whole: containers past the cut are not recognised until they make a cgroup",
            root.display()
        );
    }
    let room = (kcfg::cgroup::ENTRIES as usize).saturating_sub(1024);
    if found.len() > room {
        eprintln!(
            "tracee-collect: {} container cgroups at start; the first {room} are recognised in the kernel, the rest in user space only",
            found.len()
        );
        let mut full: Array<&mut MapData, u32> =
            Array::try_from(ebpf.map_mut("CGROUPS_FULL").context("map CGROUPS_FULL")?)?;
        full.set(0, 1, 0)?;
    }
    let mut cgroups: BpfHashMap<&mut MapData, u64, u32> =
        BpfHashMap::try_from(ebpf.map_mut("CGROUPS").context("map CGROUPS")?)?;
    for (c, _) in found.iter().take(room) {
        cgroups.insert(c.cgroup_id, kcfg::cgroup::CONTAINER, 0)?;
    }
    let mut started: BpfHashMap<&mut MapData, u64, u8> =
        BpfHashMap::try_from(ebpf.map_mut("STARTED").context("map STARTED")?)?;
    for (c, _) in found.iter().take(room) {
        started.insert(c.cgroup_id, 1, 0)?;
    }
    found.sort_by_key(|(c, _)| c.cgroup_id);
    Ok(crate::containers::Start {
        cgroupfs: Some(root),
        existing: found,
    })
}

/// Detaches every program, in the reverse of the order they were attached
/// in: no event is produced after this returns.
pub fn detach(ebpf: &mut Ebpf, links: &mut Links) -> anyhow::Result<()> {
    // Each program type has its own detach (no trait covers it in aya).
    macro_rules! detach_as {
        ($ty:ty, $prog:expr, $link:expr) => {{
            let p: &mut $ty = program(ebpf, $prog)?;
            p.detach($link)
                .with_context(|| format!("detaching {}", $prog))?;
        }};
    }
    while let Some(link) = links.pop() {
        match link {
            Link::Raw(prog, link) => detach_as!(RawTracePoint, prog, link),
            Link::Btf(prog, link) => detach_as!(BtfTracePoint, prog, link),
            Link::Tp(prog, link) => detach_as!(TracePoint, prog, link),
            Link::Skb(prog, link) => detach_as!(CgroupSkb, prog, link),
            Link::Sock(prog, link) => detach_as!(CgroupSock, prog, link),
        }
    }
    Ok(())
}

pub fn fill_set<K: aya::Pod + Eq + std::hash::Hash>(
    ebpf: &mut Ebpf,
    name: &str,
    v: Option<Vec<K>>,
) -> anyhow::Result<()> {
    let Some(v) = v else { return Ok(()) };
    let mut m: BpfHashMap<&mut MapData, K, u8> =
        BpfHashMap::try_from(ebpf.map_mut(name).with_context(|| format!("map {name}"))?)?;
    for k in v {
        m.insert(k, 1, 0)?;
    }
    Ok(())
}

/// The capture filter as a map value.
#[derive(Clone, Copy)]
#[repr(transparent)]
struct CapFilterPod(wire::kcfg::CapFilter);
// SAFETY: CapFilter is repr(C) plain data without padding.
unsafe impl aya::Pod for CapFilterPod {}
