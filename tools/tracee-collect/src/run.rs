//! A run of the collector: load, then drain the kernel ring buffers into
//! the stream until a stop signal or the reader goes away, then detach,
//! drain what is left, and end the stream.

use std::collections::BTreeSet;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use tracee_cli::out::Out;
use tracee_cli::signals::{ignore_broken_pipe, reader_gone};
use tracee_filter::{Filter, Term};
use wire::kcfg::{self};
use wire::{EndBody, EventSlice, LostBody, RecordSlice, event_id, lost_reason};

use crate::capture::CaptureCfg;
use crate::events;
use crate::host::preamble;
use crate::load::{detach, fill_set, load};
use crate::peers::pipeline_peers;
use crate::sidecar::Sidecar;
use tracee_cli::clock;

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
    pub ring_full: tracee_cli::ring::WhenFull,
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

/// Records handled per pass of the drain loop, so a flood of events cannot
/// keep the loop from flushing, counting losses or noticing a stop.
const DRAIN_BATCH: usize = 16384;

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

    let stop = tracee_cli::signals::stop_flag();
    // A reader stuck after the stop signal must not keep us running.
    let mut out = Out::to_spec(cfg.output.as_deref(), cfg.ring_size, cfg.ring_full)
        .context("opening the output")?
        .give_up_after_stop(stop, STUCK_READER_GRACE);
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
    // Writes unless the reader has gone; a reader that goes is a clean stop.
    let write = |r: std::io::Result<()>, closed: &mut bool| -> anyhow::Result<()> {
        *closed |= reader_gone(r).context("writing the stream")?;
        Ok(())
    };
    write(out.write_unit(&pre.to_bytes()), &mut closed)?;
    let fd = ring.as_raw_fd();
    let cap_fd = cap_ring.as_ref().map_or(-1, |r| r.as_raw_fd());
    let mut last_lost_check = Instant::now();
    let mut detached = false;
    let mut stopped_at = None;
    // Kernel records that did not frame, not yet reported.
    let mut bad_records = 0u64;
    while !closed {
        if !detached && stop.load(Ordering::SeqCst) {
            // Stop producing first; the ring then holds a finite tail,
            // which the passes below drain before the end record.
            stopped_at = Some(Instant::now());
            detach(&mut ebpf, &mut links)?;
            detached = true;
        }
        // While the sidecar's queue is full the capture ring is not
        // drained, and polling it would spin.
        let cap_ready = cap_fd >= 0 && sidecar.as_ref().is_some_and(Sidecar::has_room);
        // SAFETY: the descriptor of the ring map, open as long as `ring`,
        // which outlives this poll.
        let ring_fd = unsafe { BorrowedFd::borrow_raw(fd) };
        // SAFETY: likewise for the capture ring, when there is one.
        let cap_ring_fd = cap_ready.then(|| unsafe { BorrowedFd::borrow_raw(cap_fd) });
        let mut pfd = [
            PollFd::new(ring_fd, PollFlags::POLLIN),
            PollFd::new(cap_ring_fd.unwrap_or(ring_fd), PollFlags::POLLIN),
        ];
        let n = if cap_ring_fd.is_some() { 2 } else { 1 };
        let _ = poll(&mut pfd[..n], PollTimeout::from(10u8));
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
            write(out.write_unit(&item), &mut closed)?;
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
                    ts: clock::monotonic_ns(),
                };
                if !closed {
                    write(out.write_unit(&rec.to_record()), &mut closed)?;
                }
            }
            if let Some(sc) = &mut sidecar {
                sc.report(clock::monotonic_ns());
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
                            ts: clock::monotonic_ns(),
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
        write(out.flush_if_due(), &mut closed)?;
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
            ts: clock::monotonic_ns(),
        };
        if let Err(e) =
            ignore_broken_pipe(out.write_unit(&end.to_record()).and_then(|()| out.end()))
        {
            result = Err(anyhow::Error::new(e).context("writing the stream"));
        }
    }
    if let Some(sc) = sidecar.take() {
        let lost = cap_lost_seen.iter().sum::<u64>() + sc.dropped_jobs;
        let end = EndBody {
            events: 0,
            lost,
            ts: clock::monotonic_ns(),
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
                    ts: clock::monotonic_ns(),
                };
                if !*closed {
                    *closed |= reader_gone(out.write_unit(&rec.to_record()))?;
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
