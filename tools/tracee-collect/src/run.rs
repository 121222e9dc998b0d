//! A run of the collector: load, then drain the kernel ring buffers into
//! the stream until a stop signal or the reader goes away, then detach,
//! drain what is left, and end the stream.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tracee_cli::out::Out;
use tracee_filter::{Filter, Term};

use crate::capture::CaptureCfg;
use crate::drain::{DRAIN_BATCH, Drain};
use crate::events;
use crate::host::preamble;
use crate::load::{KernelBtf, Loaded, detach, load};
use crate::sidecar::Sidecar;

/// A checked configuration, built from the command line.
pub struct Config {
    pub events: BTreeSet<u32>,
    pub terms: Vec<Term>,
    pub pushdown: bool,
    pub ring_bytes: u32,
    /// What stdout's pipe is grown to.
    pub pipe_bytes: u32,
    /// Also trace the processes reading our output (tracee-filter,
    /// tracee-fmt...); off by default, as their events feed back.
    pub trace_pipeline: bool,
    /// sched_process_exec carries the environment.
    pub exec_env: bool,
    /// `ring:PATH` for the shared-memory ring; stdout otherwise.
    pub output: Option<String>,
    pub ring_size: u64,
    pub ring_full: tracee_cli::ring::WhenFull,
    /// `--output none`: capture only, no event stream.
    pub no_events: bool,
    pub capture: CaptureCfg,
    /// The sidecar's descriptor, when capturing.
    pub capture_fd: i32,
    /// Size of the kernel's capture ring buffer.
    pub capture_bytes: u32,
    /// `--containers` options.
    pub containers: crate::containers::Options,
}

/// How long a stopping collector waits for a reader that takes nothing.
const STUCK_READER_GRACE: Duration = Duration::from_secs(2);
/// How long after the stop signal the capture sidecar may still write:
/// with the event stream's grace, a stop always ends the collector within
/// 3 s, whatever its readers do.
pub const SIDECAR_GRACE: Duration = Duration::from_millis(2500);
/// How often losses are reported while events flow.
const REPORT_EVERY: Duration = Duration::from_millis(100);

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
    /// Packets the kernel sent; of them, those whose owner was unknown,
    /// and those no IP header could be read from.
    pub packets: u64,
    pub packets_unknown: u64,
    pub packets_unparsed: u64,
}

/// Runs until a signal, or until the reader of stdout goes away.
pub fn run(cfg: Config) -> anyhow::Result<Totals> {
    let pre = preamble();
    let filter = Filter::compile(&cfg.terms, &pre.catalog, pre.start_mono_ns)?;
    let sidecar = if cfg.capture.mask != 0 {
        Some(Sidecar::open(cfg.capture_fd, &pre)?)
    } else {
        None
    };
    let kbtf = KernelBtf::read().context("cannot start tracing")?;
    // Only a pipe has a reader at the start; a ring's attaches later.
    // Looked for after the BTF is read: the pipeline's processes have
    // had time to exec.
    let downstream = if cfg.pushdown && cfg.output.is_none() && !cfg.no_events {
        let refused = if cfg.capture.mask != 0 || cfg.capture.pcap.is_some() {
            // The filter downstream never sees the captures.
            Some("captures are judged by tracee-collect's own expressions alone")
        } else if crate::load::flows_selected(&cfg.events) {
            Some("net_flow_tcp_* are judged from every packet of a connection")
        } else {
            None
        };
        crate::downstream::find(&pre, &filter, refused)
    } else {
        crate::downstream::Found::Nothing
    };
    let pushed = match &downstream {
        crate::downstream::Found::Filter { push, .. } => Some(&**push),
        _ => None,
    };
    let Loaded {
        mut ebpf,
        enabled,
        peers,
        mut links,
        containers,
        tiers,
        packets,
    } = load(&cfg, &filter, pushed, kbtf).context("cannot start tracing")?;

    let stop = tracee_cli::signals::stop_flag();
    // A reader stuck after the stop signal must not keep us running.
    let out = Out::to_spec(cfg.output.as_deref(), cfg.ring_size, cfg.ring_full)
        .context("opening the output")?
        .give_up_after_stop(stop, STUCK_READER_GRACE);
    if cfg.output.is_none() {
        tracee_cli::out::grow_pipe(std::io::stdout(), cfg.pipe_bytes as usize);
    }
    eprintln!(
        "tracee-collect: tracing {} events ({} syscalls){} via BTF tracepoints sys_exit and \
         sched_process_fork/exec/exit (and syscalls/sys_enter_* for execve, execveat, exit, exit_group, \
         rt_sigreturn); security events are derived from syscall exits and tracepoints \
         (stronger hooks: {tiers})",
        enabled.len(),
        enabled.iter().filter(|&&id| events::is_syscall(id)).count(),
        if peers.is_empty() {
            String::new()
        } else {
            format!(", leaving out the pipeline reading it (pids {peers:?})")
        },
    );

    if let Some(line) = downstream.line() {
        eprintln!("{line}");
    }
    if let Some(root) = &packets {
        eprintln!(
            "tracee-collect: packets from cgroup_skb ingress/egress on {}, each attributed to its \
             socket's owner (kept from socket creation and every send and receive; 'unknown' \
             until a socket made before tracing is used){}",
            root.display(),
            match &cfg.capture.pcap {
                Some(p) if p.filtered => "; pcaps: packets of the selected events",
                Some(_) => "; pcaps: every packet in scope",
                None => "",
            }
        );
    }
    let mut by_runtime: std::collections::BTreeMap<&str, usize> = Default::default();
    for (c, _) in &containers.existing {
        if c.has(wire::container::flags::ROOT) {
            *by_runtime.entry(c.runtime.name()).or_default() += 1;
        }
    }
    let running: Vec<String> = by_runtime.iter().map(|(r, n)| format!("{r} {n}")).collect();
    eprintln!(
        "tracee-collect: containers from cgroup v2 ({}); {} running at start{}",
        containers
            .cgroupfs
            .as_ref()
            .map_or("none mounted".into(), |p| p.display().to_string()),
        by_runtime.values().sum::<usize>(),
        if running.is_empty() {
            String::new()
        } else {
            format!(" ({})", running.join(", "))
        }
    );
    let mut d = Drain::new(&cfg, &mut ebpf, filter, out, sidecar, &pre, containers)?;
    let mut last_report = Instant::now();
    let mut stopped_at = None;
    while !d.closed {
        if stopped_at.is_none() && stop.load(Ordering::SeqCst) {
            // Stop producing first; the ring then holds a finite tail,
            // which the passes below drain before the end record.
            stopped_at = Some(Instant::now());
            detach(&mut ebpf, &mut links)?;
        }
        d.wait();
        let got = d.events()?;
        let (cap_got, cap_waits) = d.captures();
        // At the stop, a capture tail the sidecar cannot take in time is
        // left in the kernel ring; the event stream does not wait for it.
        let cap_done = cap_got < DRAIN_BATCH
            && (!cap_waits || stopped_at.is_some_and(|t| t.elapsed() >= SIDECAR_GRACE));
        let drained = stopped_at.is_some() && got < DRAIN_BATCH && cap_done;
        if drained || last_report.elapsed() >= REPORT_EVERY {
            last_report = Instant::now();
            d.report(&mut ebpf)?;
        }
        d.containers()?;
        d.flush_if_due()?;
        if drained {
            break;
        }
    }
    let totals = d.finish(stopped_at)?;
    drop(ebpf);
    Ok(totals)
}
