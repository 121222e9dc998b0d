//! Loading the programs and draining the ring buffer into the stream.

use std::collections::BTreeSet;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use aya::maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::raw_trace_point::RawTracePointLinkId;
use aya::programs::tp_btf::BtfTracePointLinkId;
use aya::programs::trace_point::TracePointLinkId;
use aya::programs::{BtfTracePoint, RawTracePoint, TracePoint};
use aya::{Ebpf, EbpfLoader};
use tracee_filter::{Filter, Pushdown, Term};
use wire::kcfg::{self, scope};
use wire::out::{Out, is_broken_pipe};
use wire::preamble::Preamble;
use wire::{EndBody, EventSlice, LostBody, RecordSlice, event_id, lost_reason};

use crate::capture::CaptureCfg;
use crate::sidecar::Sidecar;
use crate::{btf, events, syscalls_gen};

#[cfg(not(ebpf_skipped))]
static EBPF: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tracee-ebpf"));
#[cfg(ebpf_skipped)]
static EBPF: &[u8] = &[];

/// A checked configuration, built from the command line.
pub struct Config {
    pub events: BTreeSet<u32>,
    pub terms: Vec<Term>,
    pub pushdown: bool,
    pub ring_bytes: u32,
    /// Also trace the processes reading our output (tracee-filter,
    /// tracee-fmt...); off by default, as their events feed back.
    pub trace_pipeline: bool,
    /// `ring:PATH` for the shared-memory ring; stdout otherwise.
    pub output: Option<String>,
    pub ring_size: u64,
    pub ring_full: wire::ring::WhenFull,
    /// `--output none`: capture only, no event stream.
    pub no_events: bool,
    pub capture: CaptureCfg,
    /// The sidecar's descriptor, when capturing.
    pub capture_fd: i32,
    /// Size of the kernel's capture ring buffer.
    pub capture_bytes: u32,
}

/// How long a stopping collector waits for a reader that takes nothing.
const STUCK_READER_GRACE: Duration = Duration::from_secs(2);
/// How long after the stop signal the capture sidecar may still write:
/// with the event stream's grace, a stop always ends the collector within
/// 3 s, whatever its readers do.
const SIDECAR_GRACE: Duration = Duration::from_millis(2500);

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn now(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn uname() -> (String, String) {
    // SAFETY: utsname is plain data, filled by the kernel.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    unsafe { libc::uname(&mut u) };
    let s = |f: &[libc::c_char]| {
        let b: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&b).into_owned()
    };
    (s(&u.nodename), s(&u.release))
}

pub fn preamble() -> Preamble {
    let mono = now(libc::CLOCK_MONOTONIC);
    let real = now(libc::CLOCK_REALTIME);
    let (hostname, kernel_release) = uname();
    Preamble {
        version: wire::VERSION,
        boot_epoch_ns: real.saturating_sub(mono),
        start_mono_ns: mono,
        hostname,
        kernel_release,
        catalog: events::catalog(),
    }
}

/// An attached program, by kind, with what detaching it needs.
enum Link {
    Raw(&'static str, RawTracePointLinkId),
    Btf(&'static str, BtfTracePointLinkId),
    Tp(&'static str, TracePointLinkId),
}
/// Attached programs, for detaching on stop.
type Links = Vec<Link>;

/// Mounts tracefs where aya looks for tracepoint ids, unless something is
/// mounted there already (a fresh machine has nothing).
fn ensure_tracefs() -> anyhow::Result<()> {
    let dir = std::path::Path::new("/sys/kernel/tracing");
    if dir.join("events").exists()
        || std::path::Path::new("/sys/kernel/debug/tracing/events").exists()
    {
        return Ok(());
    }
    let c = |s: &str| std::ffi::CString::new(s).expect("no NUL");
    let (src, target) = (c("tracefs"), c("/sys/kernel/tracing"));
    // SAFETY: valid NUL-terminated strings; no data argument.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            src.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if r != 0 {
        bail!(
            "mounting tracefs on /sys/kernel/tracing: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// Loads and attaches the programs; returns the handle that keeps them
/// attached.
fn load(cfg: &Config, filter: &Filter) -> anyhow::Result<(Ebpf, BTreeSet<u32>, Vec<u32>, Links)> {
    if EBPF.is_empty() {
        bail!("this build has no eBPF programs (built with AYA_BUILD_SKIP=1)");
    }
    let offsets = btf::kernel_offsets(&btf::Btf::from_sys_fs().context("reading kernel BTF")?)
        .context("resolving kernel struct offsets")?;
    let push = if cfg.pushdown {
        filter.pushdown()
    } else {
        Pushdown::default()
    };

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
    // One parsed copy of the kernel's BTF serves the loader and the BTF
    // tracepoints (the loader would parse its own).
    let kbtf_aya = aya::Btf::from_sys_fs().context("reading kernel BTF")?;
    let mut ebpf = EbpfLoader::new()
        .btf(Some(&kbtf_aya))
        .set_global("SELF_TGID", &self_tgid, true)
        .set_global("HAS_PEERS", &has_peers, true)
        .set_global("SCOPE", &active, true)
        .set_global("SCOPE_NOT", &not, true)
        .set_global("WAKE_BYTES", &wake, true)
        .set_global("OFFSETS", &offsets, true)
        .set_global("CAPTURE", &cfg.capture.mask, true)
        .set_max_entries("RING", cfg.ring_bytes)
        // Without capture the payload ring is one page, never mapped here:
        // its pages would count in our memory for nothing.
        .set_max_entries(
            "CAP_RING",
            if cfg.capture.mask != 0 {
                cfg.capture_bytes
            } else {
                4096
            },
        )
        .load(EBPF)
        .context("loading the eBPF object")?;

    {
        let mut cfgmap: Array<&mut MapData, [u8; 16]> =
            Array::try_from(ebpf.map_mut("CFG").context("map CFG")?)?;
        for s in events::all() {
            if enabled.contains(&s.nr) && s.nr < kcfg::CFG_ENTRIES {
                cfgmap.set(s.nr, events::kernel_cfg(s).to_bytes(), 0)?;
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
    const BTF_PROGS: [&str; 4] = [
        "sys_exit",
        "sched_process_exit",
        "sched_process_fork",
        "sched_process_exec",
    ];
    if cfg.capture.mask != 0 {
        let p: &mut RawTracePoint = ebpf
            .program_mut("capture_exit")
            .context("program capture_exit")?
            .try_into()?;
        p.load().context("loading capture_exit")?;
    }
    for prog in BTF_PROGS {
        let p: &mut BtfTracePoint = ebpf
            .program_mut(prog)
            .with_context(|| format!("program {prog}"))?
            .try_into()?;
        p.load(prog, &kbtf_aya)
            .with_context(|| format!("loading {prog}"))?;
    }
    // The syscalls whose entry is traced (kernel_cfg's ENTRY), each on its
    // own tracepoint; every other syscall is traced at exit alone.
    let entries: Vec<String> = events::all()
        .filter(|s| {
            enabled.contains(&s.nr) && events::kernel_cfg(s).flags & kcfg::flags::ENTRY != 0
        })
        .map(|s| format!("sys_enter_{}", s.name))
        .collect();
    if !entries.is_empty() {
        ensure_tracefs()?;
        let p: &mut TracePoint = ebpf
            .program_mut("syscall_entry")
            .context("program syscall_entry")?
            .try_into()?;
        p.load().context("loading syscall_entry")?;
    }

    let mut links = Links::new();
    // The capture program is attached only when capturing.
    if cfg.capture.mask != 0 {
        let p: &mut RawTracePoint = ebpf
            .program_mut("capture_exit")
            .context("program capture_exit")?
            .try_into()?;
        let link = p
            .attach("sys_exit")
            .context("attaching capture_exit to raw tracepoint sys_exit")?;
        links.push(Link::Raw("capture_exit", link));
    }
    for prog in BTF_PROGS {
        let p: &mut BtfTracePoint = ebpf
            .program_mut(prog)
            .with_context(|| format!("program {prog}"))?
            .try_into()?;
        let link = p
            .attach()
            .with_context(|| format!("attaching {prog} to BTF tracepoint {prog}"))?;
        links.push(Link::Btf(prog, link));
    }
    if !entries.is_empty() {
        let p: &mut TracePoint = ebpf
            .program_mut("syscall_entry")
            .context("program syscall_entry")?
            .try_into()?;
        for tp in entries {
            let link = p
                .attach("syscalls", &tp)
                .with_context(|| format!("attaching syscall_entry to tracepoint syscalls/{tp}"))?;
            links.push(Link::Tp("syscall_entry", link));
        }
    }
    Ok((ebpf, enabled, peers, links))
}

/// Detaches every program, in the reverse of the order they were attached
/// in: no event is produced after this returns.
fn detach(ebpf: &mut Ebpf, links: &mut Links) -> anyhow::Result<()> {
    while let Some(link) = links.pop() {
        match link {
            Link::Raw(prog, link) => {
                let p: &mut RawTracePoint = ebpf
                    .program_mut(prog)
                    .with_context(|| format!("program {prog}"))?
                    .try_into()?;
                p.detach(link)
                    .with_context(|| format!("detaching {prog}"))?;
            }
            Link::Btf(prog, link) => {
                let p: &mut BtfTracePoint = ebpf
                    .program_mut(prog)
                    .with_context(|| format!("program {prog}"))?
                    .try_into()?;
                p.detach(link)
                    .with_context(|| format!("detaching {prog}"))?;
            }
            Link::Tp(prog, link) => {
                let p: &mut TracePoint = ebpf
                    .program_mut(prog)
                    .with_context(|| format!("program {prog}"))?
                    .try_into()?;
                p.detach(link)
                    .with_context(|| format!("detaching {prog}"))?;
            }
        }
    }
    Ok(())
}

/// Records handled per pass of the drain loop, so a flood of events cannot
/// keep the loop from flushing, counting losses or noticing a stop.
const DRAIN_BATCH: usize = 16384;

fn fill_set<K: aya::Pod + Eq + std::hash::Hash>(
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

/// The processes reading the pipe on descriptor `fd` of `first`.
pub fn readers_of(first: &str, fd: u32) -> Vec<u32> {
    let Ok(l) = std::fs::read_link(format!("/proc/{first}/fd/{fd}")) else {
        return vec![];
    };
    let l = l.to_string_lossy().into_owned();
    if !l.starts_with("pipe:[") {
        return vec![];
    }
    let me = std::process::id();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    procs
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.parse::<u32>().ok())
        .filter(|&p| p != me)
        .filter(|p| {
            std::fs::read_link(format!("/proc/{p}/fd/0"))
                .is_ok_and(|r| r.to_string_lossy() == l.as_str())
        })
        .collect()
}

/// The processes downstream of our stdout: whoever reads the pipe we write,
/// then whoever reads the pipe that process writes, and so on.
pub fn pipeline_peers(first: &str) -> Vec<u32> {
    let pipe_of = |pid: &str, fd: u32| -> Option<String> {
        let l = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
        let l = l.to_string_lossy().into_owned();
        l.starts_with("pipe:[").then_some(l)
    };
    let mut peers = Vec::new();
    if first != "self" {
        peers.extend(first.parse::<u32>().ok());
    }
    let Some(mut pipe) = pipe_of(first, 1) else {
        return peers;
    };
    let me = std::process::id();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return peers;
    };
    let pids: Vec<String> = procs
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    for _ in 0..8 {
        let Some(reader) = pids.iter().find(|p| {
            p.parse::<u32>()
                .is_ok_and(|n| n != me && !peers.contains(&n))
                && pipe_of(p, 0).as_deref() == Some(&pipe)
        }) else {
            break;
        };
        peers.push(reader.parse().expect("digits"));
        match pipe_of(reader, 1) {
            Some(next) => pipe = next,
            None => break,
        }
    }
    peers
}

/// The capture filter as a map value.
#[derive(Clone, Copy)]
#[repr(transparent)]
struct CapFilterPod(wire::kcfg::CapFilter);
// SAFETY: CapFilter is repr(C) plain data without padding.
unsafe impl aya::Pod for CapFilterPod {}

/// Per-kind counts and losses, for the summary and the end record.
pub struct Totals {
    /// Events handed to the output, by event id.
    pub per_event: Vec<u64>,
    /// Events written.
    pub events: u64,
    /// Events lost, for every reason.
    pub lost: u64,
    /// Of those, events the output dropped (counted in `per_event`).
    pub output_dropped: u64,
}

/// The event in a record from the kernel ring, if it frames as exactly one
/// event record. Its body is not checked: an argument that does not decode
/// is tracee-fmt's to show and count, per event.
pub fn kernel_event(item: &[u8]) -> Option<EventSlice<'_>> {
    let (rec, rest) = RecordSlice::from_slice(item, 0).ok()?;
    if !rest.is_empty() {
        return None;
    }
    EventSlice::from_record(rec).ok()
}

/// Runs until a signal, or until the reader of stdout goes away.
pub fn run(cfg: Config) -> anyhow::Result<Totals> {
    let pre = preamble();
    let terms = &cfg.terms;
    let mut filter = Filter::compile(terms, &pre.catalog, pre.start_mono_ns)?;
    let mut sidecar = if cfg.capture.mask != 0 {
        Some(Sidecar::open(cfg.capture_fd, &pre)?)
    } else {
        None
    };
    let capture_exec = cfg.capture.wants(wire::capture::artifact::EXEC);
    let (mut ebpf, enabled, peers, mut links) =
        load(&cfg, &filter).context("cannot start tracing")?;

    wire::out::on_stop_signals(on_signal);
    // A reader stuck after the stop signal must not keep us running.
    let mut out = Out::to_spec(cfg.output.as_deref(), cfg.ring_size, cfg.ring_full)
        .context("opening the output")?
        .give_up_after_stop(&STOP, STUCK_READER_GRACE);
    eprintln!(
        "tracee-collect: tracing {} events ({} syscalls){} via BTF tracepoints sys_exit and \
         sched_process_fork/exec/exit (and syscalls/sys_enter_* for execve, execveat, exit, exit_group, \
         rt_sigreturn); the LSM/fentry/kprobe tier is not used (refused or absent on this kernel)",
        enabled.len(),
        enabled.iter().filter(|&&id| events::is_syscall(id)).count(),
        if peers.is_empty() {
            String::new()
        } else {
            format!(", leaving out the pipeline reading it (pids {peers:?})")
        },
    );

    let mut ring = RingBuf::try_from(ebpf.take_map("RING").context("map RING")?)?;
    let lost_map: PerCpuArray<MapData, u64> =
        PerCpuArray::try_from(ebpf.take_map("LOST").context("map LOST")?)?;
    let mut cap_ring = match &sidecar {
        Some(_) => Some(RingBuf::try_from(
            ebpf.take_map("CAP_RING").context("map CAP_RING")?,
        )?),
        None => None,
    };
    let cap_lost_map: PerCpuArray<MapData, u64> =
        PerCpuArray::try_from(ebpf.take_map("CAP_LOST").context("map CAP_LOST")?)?;
    let ncpu = aya::util::nr_cpus().map_err(|(_, e)| e)?;
    let mut cap_lost_seen = vec![0u64; ncpu];
    let mut cap_incomplete: BpfHashMap<MapData, [u64; 2], u8> = BpfHashMap::try_from(
        ebpf.take_map("CAP_INCOMPLETE")
            .context("map CAP_INCOMPLETE")?,
    )?;
    let mut lost_seen = vec![[0u64; lost_reason::COUNT as usize]; ncpu];
    let mut ring_reader = None;
    let mut totals = Totals {
        per_event: vec![0; kcfg::CFG_ENTRIES as usize],
        events: 0,
        lost: 0,
        output_dropped: 0,
    };
    let mut closed = false;
    macro_rules! w {
        ($e:expr) => {
            if let Err(e) = $e {
                if is_broken_pipe(&e) {
                    closed = true;
                } else {
                    return Err(anyhow::Error::new(e).context("writing the stream"));
                }
            }
        };
    }
    w!(out.write_unit(&pre.to_bytes()));
    let fd = ring.as_raw_fd();
    let cap_fd = cap_ring.as_ref().map_or(-1, |r| r.as_raw_fd());
    let mut last_lost_check = Instant::now();
    let mut detached = false;
    let mut stopped_at = None;
    // Kernel records that did not frame, not yet reported.
    let mut bad_records = 0u64;
    while !closed {
        if !detached && STOP.load(Ordering::SeqCst) {
            // Stop producing first; the ring then holds a finite tail,
            // which the passes below drain before the end record.
            stopped_at = Some(Instant::now());
            detach(&mut ebpf, &mut links)?;
            detached = true;
        }
        let mut pfd = [
            libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                // While the sidecar's queue is full the capture ring is not
                // drained, and polling it would spin.
                fd: if sidecar.as_ref().is_some_and(Sidecar::has_room) {
                    cap_fd
                } else {
                    -1
                },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds (a negative fd is ignored).
        unsafe { libc::poll(pfd.as_mut_ptr(), 2, 10) };
        let mut got = 0;
        while got < DRAIN_BATCH {
            let Some(item) = ring.next() else { break };
            got += 1;
            let Some(ev) = kernel_event(&item) else {
                bad_records += 1;
                continue;
            };
            let id = ev.event_id();
            if capture_exec
                && id == event_id::SCHED_PROCESS_EXEC
                && let Some(sc) = &mut sidecar
                && filter.matches(&ev)
            {
                sc.exec(&ev);
            }
            if !cfg.events.contains(&id) || !filter.matches(&ev) {
                continue;
            }
            totals.events += 1;
            if let Some(c) = totals.per_event.get_mut(id as usize) {
                *c += 1;
            }
            w!(out.write_unit(&item));
            if closed {
                break;
            }
        }
        let mut cap_got = 0;
        let mut cap_waits = false;
        if let (Some(sc), Some(cap_ring)) = (&mut sidecar, &mut cap_ring) {
            // Taken only while the sidecar's queue has room: a slow reader
            // backs up into the kernel ring, which counts what it drops.
            while cap_got < DRAIN_BATCH {
                if !sc.has_room() {
                    cap_waits = true;
                    break;
                }
                let Some(item) = cap_ring.next() else { break };
                cap_got += 1;
                sc.forward(&item);
            }
        }
        // At the stop, a capture tail the sidecar cannot take in time is
        // left in the kernel ring; the event stream does not wait for it.
        let cap_done = cap_got < DRAIN_BATCH
            && (!cap_waits || stopped_at.is_some_and(|t| t.elapsed() >= SIDECAR_GRACE));
        let drained = detached && got < DRAIN_BATCH && cap_done;
        if drained || last_lost_check.elapsed() >= Duration::from_millis(100) {
            last_lost_check = Instant::now();
            if !cfg.trace_pipeline && out.ring_reader() != ring_reader {
                // The ring's reader, and whoever reads its stdout, is the
                // pipeline: its events would feed back.
                ring_reader = out.ring_reader();
                if let Some(pid) = ring_reader {
                    let peers = pipeline_peers(&pid.to_string());
                    eprintln!(
                        "tracee-collect: leaving out the pipeline reading the ring (pids {peers:?})"
                    );
                    fill_set(&mut ebpf, "PEERS", Some(peers))?;
                }
            }
            totals.lost += emit_lost(&lost_map, &mut lost_seen, &mut out, &mut closed)?;
            if bad_records > 0 {
                eprintln!(
                    "tracee-collect: {bad_records} kernel records did not frame and were dropped \
                     (a bug: please report it)"
                );
                totals.lost = totals.lost.saturating_add(bad_records);
                let rec = LostBody {
                    cpu: u32::MAX,
                    reason: lost_reason::BAD_RECORD,
                    count: std::mem::take(&mut bad_records),
                    ts: now(libc::CLOCK_MONOTONIC),
                };
                if !closed && let Err(e) = out.write_unit(&rec.to_record()) {
                    if is_broken_pipe(&e) {
                        closed = true;
                    } else {
                        return Err(anyhow::Error::new(e).context("writing the stream"));
                    }
                }
            }
            if let Some(sc) = &mut sidecar {
                sc.report(now(libc::CLOCK_MONOTONIC));
                let vals = cap_lost_map.get(&0, 0)?;
                for (cpu, &v) in vals.iter().enumerate() {
                    let Some(seen) = cap_lost_seen.get_mut(cpu) else {
                        continue;
                    };
                    if v > *seen {
                        sc.lost(&LostBody {
                            cpu: cpu as u32,
                            reason: lost_reason::RING_FULL,
                            count: v - *seen,
                            ts: now(libc::CLOCK_MONOTONIC),
                        });
                        eprintln!(
                            "tracee-collect: {} capture chunks lost on cpu {cpu} (capture ring full)",
                            v - *seen
                        );
                        *seen = v;
                    }
                }
                let keys: Vec<[u64; 2]> = cap_incomplete.keys().filter_map(Result::ok).collect();
                for k in keys {
                    sc.incomplete(k);
                    let _ = cap_incomplete.remove(&k);
                }
            }
        }
        w!(out.flush_if_due());
        if drained {
            break;
        }
    }
    // Events the output dropped (a ring whose reader lagged) were counted
    // as handed over; they are lost, not written.
    let dropped = out.dropped();
    totals.events = totals.events.saturating_sub(dropped);
    totals.lost = totals.lost.saturating_add(dropped);
    totals.output_dropped = dropped;
    // The event stream's end first: its own grace bounds it, and whatever
    // it leaves of the sidecar's deadline is the sidecar's.
    let mut result = Ok(());
    if !closed {
        let end = EndBody {
            events: totals.events,
            lost: totals.lost,
            ts: now(libc::CLOCK_MONOTONIC),
        };
        if let Err(e) = out.write_unit(&end.to_record()).and_then(|()| out.end())
            && !is_broken_pipe(&e)
        {
            result = Err(anyhow::Error::new(e).context("writing the stream"));
        }
    }
    if let Some(sc) = sidecar.take() {
        let lost = cap_lost_seen.iter().sum::<u64>() + sc.dropped_jobs;
        let end = EndBody {
            events: 0,
            lost,
            ts: now(libc::CLOCK_MONOTONIC),
        };
        let deadline = stopped_at.unwrap_or_else(Instant::now) + SIDECAR_GRACE;
        if let Err(e) = sc.finish(&end, deadline) {
            eprintln!("tracee-collect: capture: {e}");
        }
    }
    result?;
    drop(ebpf);
    Ok(totals)
}

fn emit_lost(
    map: &PerCpuArray<MapData, u64>,
    seen: &mut [[u64; lost_reason::COUNT as usize]],
    out: &mut Out,
    closed: &mut bool,
) -> anyhow::Result<u64> {
    let mut total = 0;
    for reason in 0..lost_reason::COUNT {
        let vals = map.get(&reason, 0)?;
        for (cpu, &v) in vals.iter().enumerate() {
            let Some(s) = seen.get_mut(cpu) else { continue };
            let delta = v.saturating_sub(s[reason as usize]);
            if delta > 0 {
                s[reason as usize] = v;
                total += delta;
                let rec = LostBody {
                    cpu: cpu as u32,
                    reason,
                    count: delta,
                    ts: now(libc::CLOCK_MONOTONIC),
                };
                if !*closed && let Err(e) = out.write_unit(&rec.to_record()) {
                    if is_broken_pipe(&e) {
                        *closed = true;
                    } else {
                        return Err(e.into());
                    }
                }
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::kernel_event;
    use wire::build::EventBuilder;
    use wire::{EventContext, LostBody};

    /// What the kernel ring hands over is forwarded only if it frames as
    /// exactly one event record; anything else is counted, not written.
    #[test]
    fn only_whole_event_records_pass() {
        let ev = EventBuilder::new(&EventContext::default())
            .str(0, "x")
            .finish();
        assert!(kernel_event(&ev).is_some());
        // A body that does not decode still frames: tracee-fmt marks it.
        let mut bad_body = ev.clone();
        let n = bad_body.len();
        bad_body[n - 3] = 0xff;
        assert!(kernel_event(&bad_body).is_some());
        let mut trailing = ev.clone();
        trailing.push(0);
        assert!(kernel_event(&trailing).is_none());
        assert!(kernel_event(&ev[..ev.len() - 1]).is_none());
        assert!(kernel_event(&[]).is_none());
        let lost = LostBody::default().to_record();
        assert!(kernel_event(&lost).is_none(), "not an event");
        let mut short = ev.clone();
        short[0..4].copy_from_slice(&16u32.to_le_bytes());
        assert!(kernel_event(&short).is_none());
    }
}
