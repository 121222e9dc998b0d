//! The drain loop's work, one pass at a time: wait for the kernel rings,
//! forward the event records that pass the filter, hand capture records to
//! the sidecar, and report what was lost. [`crate::run`] decides when to
//! stop; this decides nothing but what each pass does.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Instant;

use anyhow::Context as _;
use aya::Ebpf;
use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use tracee_cli::clock;
use tracee_cli::out::Out;
use tracee_cli::signals::{ignore_broken_pipe, reader_gone};
use tracee_filter::Filter;
use wire::preamble::Preamble;
use wire::process::Process;
use wire::{EndBody, EventSlice, LostBody, RecordSlice, event_id, kcfg, lost_reason};

use crate::containers::{self, Emit, KernelMaps, Tracker};
use crate::load::fill_set;
use crate::peers::pipeline_peers;
use crate::procs::Procs;
use crate::run::{Config, SIDECAR_GRACE, Totals};
use crate::sidecar::Sidecar;

/// Records handled per pass, so a flood of events cannot keep the loop
/// from flushing, counting losses or noticing a stop.
pub const DRAIN_BATCH: usize = 16384;

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

/// The per-CPU drop counters, and what of them was already reported.
struct Losses {
    lost: PerCpuArray<MapData, u64>,
    lost_seen: Vec<[u64; lost_reason::COUNT as usize]>,
    cap_lost: PerCpuArray<MapData, u64>,
    cap_lost_seen: Vec<u64>,
    cap_incomplete: BpfHashMap<MapData, [u64; 2], u8>,
}

/// Everything a pass reads and writes.
pub struct Drain<'c> {
    cfg: &'c Config,
    filter: Filter,
    out: Out,
    ring: RingBuf<MapData>,
    cap_ring: Option<RingBuf<MapData>>,
    sidecar: Option<Sidecar>,
    capture_exec: bool,
    losses: Losses,
    /// The ring output's reader, once known (its pipeline is left out).
    ring_reader: Option<u32>,
    /// Kernel records that did not frame, not yet reported.
    bad_records: u64,
    /// Containers: who each cgroup belongs to.
    containers: Tracker,
    /// Each process's executable.
    procs: Procs,
    /// The `net_*` events' derivation.
    net: crate::net::Deriver,
    /// The reader of the stream has gone: a clean stop.
    pub closed: bool,
    pub totals: Totals,
}

/// Whether an event goes out (selected and matching the filter); counts
/// it if so.
fn passes(cfg: &Config, filter: &mut Filter, totals: &mut Totals, ev: &EventSlice<'_>) -> bool {
    let id = ev.event_id();
    if !cfg.events.contains(&id) || !filter.matches(ev) {
        return false;
    }
    totals.events += 1;
    if let Some(c) = totals.per_event.get_mut(id as usize) {
        *c += 1;
    }
    true
}

impl<'c> Drain<'c> {
    /// Takes the rings and counters out of the loaded programs, and writes
    /// the preamble and the containers running at start.
    pub fn new(
        cfg: &'c Config,
        ebpf: &mut Ebpf,
        filter: Filter,
        mut out: Out,
        sidecar: Option<Sidecar>,
        pre: &Preamble,
        start: containers::Start,
    ) -> anyhow::Result<Drain<'c>> {
        let mut take = |name: &str| ebpf.take_map(name).with_context(|| format!("map {name}"));
        let ring = RingBuf::try_from(take("RING")?)?;
        let cap_ring = match &sidecar {
            Some(_) => Some(RingBuf::try_from(take("CAP_RING")?)?),
            None => None,
        };
        let ncpu = aya::util::nr_cpus().map_err(|(_, e)| e)?;
        let losses = Losses {
            lost: PerCpuArray::try_from(take("LOST")?)?,
            lost_seen: vec![[0; lost_reason::COUNT as usize]; ncpu],
            cap_lost: PerCpuArray::try_from(take("CAP_LOST")?)?,
            cap_lost_seen: vec![0; ncpu],
            cap_incomplete: BpfHashMap::try_from(take("CAP_INCOMPLETE")?)?,
        };
        let maps = KernelMaps {
            cgroups: BpfHashMap::try_from(take("CGROUPS")?)?,
            started: BpfHashMap::try_from(take("STARTED")?)?,
        };
        let containers = Tracker::new(&cfg.containers, start, maps, pre.boot_epoch_ns);
        let (procs, running_procs) = Procs::from_proc();
        let closed = reader_gone(out.write_unit(&pre.to_bytes())).context("writing the stream")?;
        let mut d = Drain {
            cfg,
            filter,
            out,
            ring,
            cap_ring,
            capture_exec: cfg.capture.wants(wire::capture::artifact::EXEC),
            sidecar,
            losses,
            ring_reader: None,
            bad_records: 0,
            containers,
            procs,
            net: crate::net::Deriver::new(&cfg.events),
            closed,
            totals: Totals {
                per_event: vec![0; kcfg::CFG_ENTRIES as usize],
                events: 0,
                lost: 0,
                output_dropped: 0,
                packets: 0,
                packets_unknown: 0,
                packets_unparsed: 0,
            },
        };
        let running: Vec<Emit> = d
            .containers
            .containers()
            .cloned()
            .map(Emit::Container)
            .collect();
        d.emit(running)?;
        for p in running_procs {
            if d.closed {
                break;
            }
            d.process(p)?;
        }
        Ok(d)
    }

    /// Writes what the container tracker has for the stream, in order.
    fn emit(&mut self, emits: Vec<Emit>) -> anyhow::Result<()> {
        self.emit_around(emits, None)
    }

    /// [`Self::emit`], with `this` (an event record) where [`Emit::This`]
    /// is, or last.
    fn emit_around(&mut self, mut emits: Vec<Emit>, this: Option<&[u8]>) -> anyhow::Result<()> {
        if this.is_some() && !emits.iter().any(|e| matches!(e, Emit::This)) {
            emits.push(Emit::This);
        }
        for e in emits {
            if self.closed {
                break;
            }
            match e {
                Emit::Container(c) => {
                    let rec = c.to_record();
                    if let Some(sc) = &mut self.sidecar {
                        sc.container(rec.clone());
                    }
                    self.filter.container(c);
                    let r = self.out.write_unit(&rec);
                    self.write(r)?;
                }
                Emit::Event(rec) => {
                    self.forward(&rec)?;
                }
                Emit::This => {
                    if let Some(rec) = this {
                        self.forward(rec)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes a process record (and the filter takes it in).
    fn process(&mut self, p: Process) -> anyhow::Result<()> {
        let rec = p.to_record();
        self.filter.process(p);
        let r = self.out.write_unit(&rec);
        self.write(r)
    }

    /// Writes an event record made or held in user space, if it passes;
    /// says whether it did.
    fn forward(&mut self, rec: &[u8]) -> anyhow::Result<bool> {
        let Some(ev) = kernel_event(rec) else {
            return Ok(false);
        };
        if passes(self.cfg, &mut self.filter, &mut self.totals, &ev) {
            let r = self.out.write_unit(rec);
            self.write(r)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// A packet from the kernel: the events it gives, then the packet to
    /// the pcaps (all of them, or with `pcap-options:filtered` those an
    /// event that went out came from).
    fn packet(&mut self, ev: &EventSlice<'_>) -> anyhow::Result<()> {
        self.totals.packets += 1;
        if ev.flags() & wire::ctx_flags::OWNER_UNKNOWN != 0 {
            self.totals.packets_unknown += 1;
        }
        let mut recs = Vec::new();
        self.net.packet(ev, &mut recs);
        let mut any = false;
        for r in &recs {
            any |= self.forward(r)?;
        }
        if let (Some(p), Some(sc)) = (&self.cfg.capture.pcap, &mut self.sidecar)
            && (!p.filtered || any)
            && let Some(b) = crate::net::derive::Base::of(ev)
        {
            let keep = crate::net::pcap::keep(b.data, p.payload);
            let data = crate::net::pcap::cut(b.data, keep);
            let mut dev = 0;
            if b.ingress {
                dev |= wire::capture::packet::INGRESS;
            }
            if ev.flags() & wire::ctx_flags::OWNER_UNKNOWN != 0 {
                dev |= wire::capture::packet::UNKNOWN;
            }
            if ev.flags() & wire::ctx_flags::CONTAINER_STARTED != 0 {
                dev |= wire::capture::packet::CONTAINER_STARTED;
            }
            let h = wire::capture::CaptureHeader {
                ino: ev.thread_start(),
                off: u64::from(b.len),
                dev,
                ftype: p.split,
                len: data.len() as u32,
                ..wire::capture::CaptureHeader::of_event(ev, wire::capture::artifact::PACKET)
            };
            sc.packet(&h, &data);
        }
        Ok(())
    }

    /// Takes in what the container runtimes answered.
    pub fn containers(&mut self) -> anyhow::Result<()> {
        let mut emits = Vec::new();
        self.containers.poll(&mut emits);
        self.emit(emits)
    }

    /// A `cgroup_mkdir` or `cgroup_rmdir` from the kernel: what it tells
    /// of containers goes out first, then the record itself if asked for.
    fn cgroup_record(&mut self, rec: &[u8]) -> anyhow::Result<()> {
        let Some(ev) = kernel_event(rec) else {
            return Ok(());
        };
        let mut emits = Vec::new();
        self.containers.on_cgroup(&ev, &mut emits);
        self.emit_around(emits, Some(rec))
    }

    /// Writes a unit unless the reader has gone; a reader that goes is a
    /// clean stop.
    fn write(&mut self, r: std::io::Result<()>) -> anyhow::Result<()> {
        self.closed |= reader_gone(r).context("writing the stream")?;
        Ok(())
    }

    /// Waits (at most 10 ms) until a ring has records. While the sidecar's
    /// queue is full the capture ring is not drained, and polling it would
    /// spin.
    pub fn wait(&self) {
        let cap_ready = self.sidecar.as_ref().is_some_and(Sidecar::has_room);
        // SAFETY: the descriptor of the ring map, open as long as `ring`,
        // which outlives this poll.
        let ring_fd = unsafe { BorrowedFd::borrow_raw(self.ring.as_raw_fd()) };
        let cap_fd = self.cap_ring.as_ref().filter(|_| cap_ready).map(|r| {
            // SAFETY: likewise for the capture ring.
            unsafe { BorrowedFd::borrow_raw(r.as_raw_fd()) }
        });
        let mut pfd = [
            PollFd::new(ring_fd, PollFlags::POLLIN),
            PollFd::new(cap_fd.unwrap_or(ring_fd), PollFlags::POLLIN),
        ];
        let n = if cap_fd.is_some() { 2 } else { 1 };
        let _ = poll(&mut pfd[..n], PollTimeout::from(10u8));
    }

    /// Forwards up to DRAIN_BATCH event records; returns how many it took.
    pub fn events(&mut self) -> anyhow::Result<usize> {
        let mut got = 0;
        while got < DRAIN_BATCH {
            let Some(item) = self.ring.next() else { break };
            got += 1;
            let Some(ev) = kernel_event(&item) else {
                self.bad_records += 1;
                continue;
            };
            let id = ev.event_id();
            if id == event_id::NET_PACKET_BASE {
                let rec = item.to_vec();
                drop(item);
                if let Some(ev) = kernel_event(&rec) {
                    self.packet(&ev)?;
                }
                if self.closed {
                    break;
                }
                continue;
            }
            if id == event_id::SECURITY_SOCKET_CONNECT
                && let Some(derived) = self.net.tcp_connect(&ev)
            {
                let rec = item.to_vec();
                drop(item);
                self.forward(&derived)?;
                if !self.closed {
                    self.forward(&rec)?;
                }
                if self.closed {
                    break;
                }
                continue;
            }
            if id == event_id::CGROUP_MKDIR || id == event_id::CGROUP_RMDIR {
                let rec = item.to_vec();
                drop(item);
                self.cgroup_record(&rec)?;
                if self.closed {
                    break;
                }
                continue;
            }
            if (id == event_id::SCHED_PROCESS_FORK || id == event_id::SCHED_PROCESS_EXEC)
                && let Some(p) = self.procs.on_event(&ev)
            {
                let rec = p.to_record();
                self.filter.process(p);
                self.closed |=
                    reader_gone(self.out.write_unit(&rec)).context("writing the stream")?;
                if self.closed {
                    break;
                }
            }
            if self.capture_exec
                && id == event_id::SCHED_PROCESS_EXEC
                && let Some(sc) = &mut self.sidecar
                && self.filter.matches(&ev)
            {
                sc.exec(&ev);
            }
            if !passes(self.cfg, &mut self.filter, &mut self.totals, &ev) {
                continue;
            }
            self.closed |= reader_gone(self.out.write_unit(&item)).context("writing the stream")?;
            if self.closed {
                break;
            }
        }
        Ok(got)
    }

    /// Hands up to DRAIN_BATCH capture records to the sidecar, taken only
    /// while its queue has room: a slow reader backs up into the kernel
    /// ring, which counts what it drops. Returns how many it took, and
    /// whether it stopped for want of room.
    pub fn captures(&mut self) -> (usize, bool) {
        let (Some(sc), Some(cap_ring)) = (&mut self.sidecar, &mut self.cap_ring) else {
            return (0, false);
        };
        let mut got = 0;
        while got < DRAIN_BATCH {
            if !sc.has_room() {
                return (got, true);
            }
            let Some(item) = cap_ring.next() else { break };
            got += 1;
            sc.forward(&item);
        }
        (got, false)
    }

    /// Reports what the kernel lost since the last report (in the stream,
    /// and for captures on the sidecar), and leaves out the pipeline of a
    /// ring's reader once it attaches.
    pub fn report(&mut self, ebpf: &mut Ebpf) -> anyhow::Result<()> {
        if !self.cfg.trace_pipeline && self.out.ring_reader() != self.ring_reader {
            // The ring's reader, and whoever reads its stdout, is the
            // pipeline: its events would feed back.
            self.ring_reader = self.out.ring_reader();
            if let Some(pid) = self.ring_reader {
                let peers = pipeline_peers(&pid.to_string());
                eprintln!(
                    "tracee-collect: leaving out the pipeline reading the ring (pids {peers:?})"
                );
                fill_set(ebpf, "PEERS", Some(peers))?;
            }
        }
        let lost = self.emit_lost()?;
        self.totals.lost += lost;
        if self.bad_records > 0 {
            eprintln!(
                "tracee-collect: {} kernel records did not frame and were dropped \
                 (a bug: please report it)",
                self.bad_records
            );
            self.totals.lost = self.totals.lost.saturating_add(self.bad_records);
            let rec = LostBody {
                cpu: u32::MAX,
                reason: lost_reason::BAD_RECORD,
                count: std::mem::take(&mut self.bad_records),
                ts: clock::monotonic_ns(),
            };
            if !self.closed {
                let r = self.out.write_unit(&rec.to_record());
                self.write(r)?;
            }
        }
        self.report_captures()
    }

    /// Lost-events records for what each CPU dropped since the last ones.
    fn emit_lost(&mut self) -> anyhow::Result<u64> {
        let mut total = 0;
        for reason in 0..lost_reason::COUNT {
            let vals = self.losses.lost.get(&reason, 0)?;
            for (cpu, &v) in vals.iter().enumerate() {
                let Some(s) = self.losses.lost_seen.get_mut(cpu) else {
                    continue;
                };
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
                    if !self.closed {
                        self.closed |= reader_gone(self.out.write_unit(&rec.to_record()))?;
                    }
                }
            }
        }
        Ok(total)
    }

    /// Capture chunks the kernel ring dropped, and files left incomplete,
    /// told to the sidecar.
    fn report_captures(&mut self) -> anyhow::Result<()> {
        let Some(sc) = &mut self.sidecar else {
            return Ok(());
        };
        sc.report(clock::monotonic_ns());
        let vals = self.losses.cap_lost.get(&0, 0)?;
        for (cpu, &v) in vals.iter().enumerate() {
            let Some(seen) = self.losses.cap_lost_seen.get_mut(cpu) else {
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
        let keys: Vec<[u64; 2]> = self
            .losses
            .cap_incomplete
            .keys()
            .filter_map(Result::ok)
            .collect();
        for k in keys {
            sc.incomplete(k);
            let _ = self.losses.cap_incomplete.remove(&k);
        }
        Ok(())
    }

    /// Flushes what has waited long enough.
    pub fn flush_if_due(&mut self) -> anyhow::Result<()> {
        let r = self.out.flush_if_due();
        self.write(r)
    }

    /// Ends the stream and the sidecar: the event stream's end first (its
    /// own grace bounds it), then the sidecar's, by `SIDECAR_GRACE` after
    /// the stop.
    pub fn finish(mut self, stopped_at: Option<Instant>) -> anyhow::Result<Totals> {
        let mut emits = Vec::new();
        self.containers.finish(&mut emits);
        self.emit(emits)?;
        // Events the output dropped (a ring whose reader lagged) were
        // counted as handed over; they are lost, not written.
        let dropped = self.out.dropped();
        self.totals.packets_unparsed = self.net.unparsed;
        let totals = &mut self.totals;
        totals.events = totals.events.saturating_sub(dropped);
        totals.lost = totals.lost.saturating_add(dropped);
        totals.output_dropped = dropped;
        let mut result = Ok(());
        if !self.closed {
            let end = EndBody {
                events: totals.events,
                lost: totals.lost,
                ts: clock::monotonic_ns(),
            };
            let out = &mut self.out;
            if let Err(e) =
                ignore_broken_pipe(out.write_unit(&end.to_record()).and_then(|()| out.end()))
            {
                result = Err(anyhow::Error::new(e).context("writing the stream"));
            }
        }
        if let Some(sc) = self.sidecar.take() {
            let lost = self.losses.cap_lost_seen.iter().sum::<u64>()
                + sc.dropped_jobs
                + sc.dropped_packets;
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
        result.map(|()| self.totals)
    }
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
