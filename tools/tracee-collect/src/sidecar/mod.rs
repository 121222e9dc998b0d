//! The capture sidecar: capture records on a descriptor of their own,
//! written by threads of their own, so that nothing the sidecar's reader or
//! a traced process does (a stopped tracee-capture, a huge executable, one
//! swapped for a FIFO) can stall the thread that drains events.
//!
//! ```text
//! drain thread ──records──────────────────▶ writer thread ──▶ descriptor 3
//!      └──exec and module jobs──▶ file reader ──records──┘
//! ```
//!
//! The writer's queue is bounded in bytes. The drain thread takes a record
//! from the kernel's capture ring only while the queue has room, so a slow
//! reader backs up into the kernel ring, whose drops the kernel counts and
//! attributes to their artifacts. File jobs finding the reader's queue full
//! are dropped and counted (`capture_queue_full`).

mod sink;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::fd::FromRawFd;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, fcntl};
use wire::capture::{CaptureHeader, MAX_PACKET, artifact, flags, ftype};
use wire::preamble::Preamble;
use wire::{EndBody, EventSlice, LostBody, lost_reason};

use self::sink::Sink;
use crate::files::{self, ExecKey, FairQueue, FileJob, FileKind};

/// Bytes of records waiting for the writer, at most (a little more when a
/// record the drain thread must not drop, a lost notice, comes on top).
const QUEUE_BYTES: usize = 16 << 20;
/// The largest record a producer may add when the queue has room.
const MAX_RECORD: usize = wire::RecordHeader::LEN + CaptureHeader::LEN + MAX_PACKET;
/// Executables remembered as sent; beyond this the memory is cleared (an
/// executable may then be sent twice: tracee-capture keeps one per content).
const EXEC_SEEN_MAX: usize = 1 << 16;

/// What the drain thread, the file reader and the writer share.
pub(crate) struct Shared {
    queued: AtomicUsize,
    /// The writer failed (the reader went away): nothing more is queued.
    broken: AtomicBool,
    /// Stopping: the file reader abandons its work.
    pub(crate) stop: AtomicBool,
}

impl Shared {
    pub(crate) fn has_room(&self) -> bool {
        self.queued.load(Ordering::Acquire) + MAX_RECORD <= QUEUE_BYTES
    }
    pub(crate) fn broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }
}

enum Msg {
    Bytes(Vec<u8>),
    End,
}

/// A producer's handle on the writer's queue.
#[derive(Clone)]
pub(crate) struct Queue {
    tx: mpsc::Sender<Msg>,
    pub(crate) shared: Arc<Shared>,
}

impl Queue {
    /// Queues one whole record (or preamble).
    pub(crate) fn put(&self, b: Vec<u8>) {
        if self.shared.broken() {
            return;
        }
        self.shared.queued.fetch_add(b.len(), Ordering::AcqRel);
        let _ = self.tx.send(Msg::Bytes(b));
    }

    /// Queues a record made here, waiting for room while not stopping
    /// (the file reader's own pace is the writer's). False if it gave up.
    pub(crate) fn put_waiting(&self, h: &CaptureHeader, payload: &[u8]) -> bool {
        while !self.shared.has_room() {
            if self.shared.stop.load(Ordering::Acquire) || self.shared.broken() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let mut b =
            Vec::with_capacity(wire::RecordHeader::LEN + CaptureHeader::LEN + payload.len());
        h.write_record(payload, &mut b);
        self.put(b);
        true
    }
}

/// What is known of an executable (by dev, inode, ctime and who ran it).
enum Seen {
    /// Captured: not read again.
    Done,
    /// With the file reader; the latest other process running it, to read
    /// it through if this read fails.
    Reading(Option<Box<FileJob>>),
}

/// The drain thread's side of the sidecar.
pub struct Sidecar {
    queue: Queue,
    to_files: Arc<FairQueue>,
    files: Option<JoinHandle<()>>,
    /// The file reader's outcomes for executables: which, and whether it
    /// read the file whole (one it did not is tried again).
    results: mpsc::Receiver<(ExecKey, bool)>,
    writer: Option<JoinHandle<()>>,
    /// Executables sent already, by (dev, inode, ctime, uid).
    exec_seen: HashMap<ExecKey, Seen>,
    /// Our mount namespace: a path seen by a process in it is ours too.
    mnt_ns: u64,
    /// File jobs dropped since the last notice.
    unreported: u64,
    /// Users told that their files were dropped.
    told: HashSet<u32>,
    /// File jobs dropped in all.
    pub dropped_jobs: u64,
    /// Packets dropped in all (the queue was full).
    pub dropped_packets: u64,
}

impl Sidecar {
    /// Takes over descriptor `fd`, writes the stream's preamble and starts
    /// the writer and file reader threads.
    pub fn open(fd: i32, pre: &Preamble) -> anyhow::Result<Sidecar> {
        // SAFETY: F_GETFD only asks whether `fd` is open; nothing is
        // borrowed or owned until it says so.
        if unsafe { nix::libc::fcntl(fd, nix::libc::F_GETFD) } < 0 {
            anyhow::bail!(
                "--capture writes its payloads on descriptor {fd}, which is not open: \
                 run with e.g. '{fd}> >(tracee-capture)' or name another with --capture-fd"
            );
        }
        // SAFETY: the descriptor is open (checked above) and from now on
        // ours alone: the user handed it to us with --capture-fd.
        let f = unsafe { File::from_raw_fd(fd) };
        // A pipe to tracee-capture moves bursts better with more room
        // (best effort: the default is 64 KiB).
        let _ = fcntl(&f, FcntlArg::F_SETPIPE_SZ(1 << 20));
        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            broken: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let (tx, rx) = mpsc::channel();
        let queue = Queue { tx, shared };
        queue.put(pre.to_bytes());
        let writer = {
            let shared = queue.shared.clone();
            std::thread::Builder::new()
                .name("sidecar-writer".into())
                .spawn(move || write_loop(f, rx, &shared))?
        };
        let to_files = Arc::new(FairQueue::default());
        let (results_tx, results) = mpsc::channel();
        let files = {
            let queue = queue.clone();
            let jobs = to_files.clone();
            std::thread::Builder::new()
                .name("sidecar-files".into())
                .spawn(move || files::read_loop(&jobs, &queue, results_tx))?
        };
        let mnt_ns = std::fs::metadata("/proc/self/ns/mnt")
            .map(|m| m.ino())
            .unwrap_or(0);
        Ok(Sidecar {
            queue,
            to_files,
            files: Some(files),
            results,
            writer: Some(writer),
            exec_seen: HashMap::new(),
            mnt_ns,
            unreported: 0,
            told: HashSet::new(),
            dropped_jobs: 0,
            dropped_packets: 0,
        })
    }

    /// Whether one more kernel record may be taken now.
    pub fn has_room(&self) -> bool {
        self.queue.shared.has_room() || self.queue.shared.broken()
    }

    /// A record from the kernel's capture ring, as it came; a reference to
    /// a file (finit_module's) goes to the file reader, which sends the
    /// file's content in its place.
    pub fn forward(&mut self, rec: &[u8]) {
        if let Ok((r, _)) = wire::RecordSlice::from_slice(rec, 0)
            && let Ok((h, path)) = CaptureHeader::from_record(r)
            && h.flags & flags::REF != 0
        {
            let job = FileJob {
                what: FileKind::Module,
                h,
                path: path.to_vec(),
                ours: h.mnt_ns as u64 == self.mnt_ns,
                ctime: None,
            };
            self.job(job);
            return;
        }
        self.queue.put(rec.to_vec());
    }

    /// Queues `job` for the file reader; false if it was dropped.
    fn job(&mut self, job: FileJob) -> bool {
        if self.queue.shared.broken() {
            return false;
        }
        let Err(job) = self.to_files.push(job) else {
            return true;
        };
        self.dropped_jobs += 1;
        self.unreported += 1;
        // Said once per user: the counts go in the sidecar.
        if self.told.insert(job.h.uid) {
            eprintln!(
                "tracee-collect: {} not captured: uid {} has {} files waiting to be read \
                 already (more of its files are dropped and counted as lost)",
                job.describe(),
                job.h.uid,
                files::JOBS_PER_USER
            );
        }
        false
    }

    /// Takes in the file reader's outcomes: a file read is done with; one
    /// that could not be read (its process gone, say) is tried again
    /// through the latest process seen running it meanwhile, if any, or
    /// else when it runs again.
    fn settle(&mut self) {
        while let Ok((key, ok)) = self.results.try_recv() {
            let again = match self.exec_seen.remove(&key) {
                Some(Seen::Reading(_)) if ok => {
                    self.exec_seen.insert(key, Seen::Done);
                    None
                }
                Some(Seen::Reading(again)) => again,
                _ => None,
            };
            if let Some(job) = again
                && self.job(*job)
            {
                self.exec_seen.insert(key, Seen::Reading(None));
            }
        }
    }

    /// A packet for the pcaps, unless the queue is full: then it is
    /// counted as lost (`capture_queue_full`, in the next notice) and false
    /// is returned. Packets come with the event stream, which must not
    /// wait for the sidecar's reader.
    pub fn packet(&mut self, h: &CaptureHeader, data: &[u8]) -> bool {
        if self.queue.shared.broken() {
            return false;
        }
        if !self.queue.shared.has_room() {
            self.unreported += 1;
            self.dropped_packets += 1;
            return false;
        }
        let mut b = Vec::with_capacity(wire::RecordHeader::LEN + CaptureHeader::LEN + data.len());
        h.write_record(data, &mut b);
        self.queue.put(b);
        true
    }

    /// A container record, so that tracee-capture files artifacts by
    /// container.
    pub fn container(&mut self, rec: Vec<u8>) {
        self.queue.put(rec);
    }

    pub fn lost(&mut self, l: &LostBody) {
        self.queue.put(l.to_record().to_vec());
    }

    /// A file (key `[artifact << 56 | dev, inode]`) lost chunks in the
    /// kernel.
    pub fn incomplete(&mut self, key: [u64; 2]) {
        let h = CaptureHeader {
            artifact: (key[0] >> 56) as u8,
            dev: key[0] as u32,
            ino: key[1],
            flags: flags::LOST,
            len: 1,
            ..Default::default()
        };
        let mut b = Vec::new();
        h.write_record(&[], &mut b);
        self.queue.put(b);
    }

    /// Puts file jobs dropped since the last call into the sidecar as a
    /// lost notice.
    pub fn report(&mut self, now_ns: u64) {
        self.settle();
        if self.unreported > 0 {
            let l = LostBody {
                cpu: u32::MAX,
                reason: lost_reason::CAPTURE_QUEUE_FULL,
                count: std::mem::take(&mut self.unreported),
                ts: now_ns,
            };
            self.lost(&l);
        }
    }

    /// Queues the executable of a `sched_process_exec` event, once per
    /// (dev, inode, ctime), for the file reader.
    pub fn exec(&mut self, ev: &EventSlice<'_>) {
        let scalar = |i: u8| ev.arg(i).map(|a| a.scalar()).unwrap_or(0);
        let (dev, ino, ctime) = (scalar(2), scalar(3), scalar(4));
        self.settle();
        if self.exec_seen.len() >= EXEC_SEEN_MAX {
            self.exec_seen.clear();
        }
        // Per user: one user's capture of a file (cut by that user's
        // budget, say) says nothing of another's.
        let key = (dev, ino, ctime, ev.uid());
        let seen = self.exec_seen.get(&key).map(|s| matches!(s, Seen::Done));
        if seen == Some(true) {
            return;
        }
        let path = ev.arg(1).map(|a| a.data).unwrap_or(&[]);
        let base = path.rsplit(|&c| c == b'/').next().unwrap_or(&[]);
        let h = CaptureHeader {
            ino,
            dev: dev as u32,
            ftype: ftype::REGULAR,
            name: wire::build::name16(base),
            ..CaptureHeader::of_event(ev, artifact::EXEC)
        };
        let job = FileJob {
            what: FileKind::Exec,
            h,
            path: path.to_vec(),
            ours: ev.mnt_ns() as u64 == self.mnt_ns,
            ctime: Some(ctime),
        };
        if seen.is_some() {
            // Being read already: this process is the one to try if that
            // read fails.
            self.exec_seen
                .insert(key, Seen::Reading(Some(Box::new(job))));
        } else if self.job(job) {
            self.exec_seen.insert(key, Seen::Reading(None));
        }
    }

    /// Ends the sidecar by `deadline`: the file reader reads what is
    /// queued for it, the end record goes after everything, and the writer
    /// writes it all. Whatever is still undone at the deadline is given up
    /// (the file reader abandons its file; a reader that does not take the
    /// rest is left behind, and the process ends without waiting for it).
    pub fn finish(mut self, end: &EndBody, deadline: Instant) -> Result<(), String> {
        let shared = self.queue.shared.clone();
        let wait = |t: &JoinHandle<()>| {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            t.is_finished()
        };
        self.to_files.close();
        if let Some(files) = self.files.take()
            && !wait(&files)
        {
            eprintln!(
                "tracee-collect: capture: a file being read was given up at the stop deadline"
            );
        }
        shared.stop.store(true, Ordering::Release);
        self.report(end.ts);
        self.queue.put(end.to_record().to_vec());
        let _ = self.queue.tx.send(Msg::End);
        match self.writer.take() {
            Some(w) if !wait(&w) => Err(format!(
                "the sidecar's reader took nothing more before the stop deadline; \
                 {} bytes of capture records are not written",
                shared.queued.load(Ordering::Acquire)
            )),
            _ => Ok(()),
        }
    }
}

/// The writer thread: writes queued records in order until the end
/// message. On a pipe (tracee-capture's stdin, the usual case) it writes
/// only whole records that fit in the pipe's free room, without blocking,
/// so that whenever it is abandoned (a reader that took nothing before the
/// stop deadline) the sidecar ends between two records, never inside one.
fn write_loop(f: File, rx: mpsc::Receiver<Msg>, shared: &Shared) {
    let mut out = Sink::new(f);
    let fail = |e: std::io::Error| {
        if !shared.broken.swap(true, Ordering::AcqRel) {
            eprintln!("tracee-collect: capture stopped: cannot write the sidecar: {e}");
        }
    };
    let mut ended = false;
    loop {
        // Take what is queued; wait for more only with nothing to write.
        loop {
            let msg = if out.is_empty() && !ended {
                match rx.recv() {
                    Ok(m) => m,
                    Err(_) => {
                        ended = true;
                        break;
                    }
                }
            } else {
                match rx.try_recv() {
                    Ok(m) => m,
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        ended = true;
                        break;
                    }
                }
            };
            match msg {
                Msg::Bytes(b) => {
                    let n = b.len();
                    if !shared.broken() {
                        out.push(b);
                    }
                    shared.queued.fetch_sub(n, Ordering::AcqRel);
                }
                Msg::End => ended = true,
            }
            if out.pending() >= 1 << 20 {
                break;
            }
        }
        if shared.broken() {
            out.clear();
        } else if let Err(e) = out.write_some() {
            fail(e);
            out.clear();
        }
        if ended && out.is_empty() {
            return;
        }
    }
}
