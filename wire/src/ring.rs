//! The shared-memory ring: one producer, one consumer, one memory-mapped
//! file (`ring:/dev/shm/NAME`). It carries the same byte stream as a pipe,
//! so every tool reads either; what it saves is the pipe's two copies
//! through the kernel and a syscall per buffer.
//!
//! Layout (little-endian), a 4096-byte header then `capacity` data bytes:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0   | 8 | magic `TRCERING` (written last: a half-made header never looks valid) |
//! | 8   | 4 | version (1) |
//! | 12  | 4 | header length (4096) |
//! | 16  | 8 | capacity (power of two, data bytes) |
//! | 24  | 4 | producer pid |
//! | 28  | 4 | consumer pid, 0 until a reader attaches |
//! | 32  | 8 | producer start time (clock ticks since boot, /proc/PID/stat) |
//! | 40  | 8 | consumer start time |
//! | 48  | 4 | state bits: 1 producer ended the stream, 2 consumer closed |
//! | 64  | 8 | head: bytes ever written (producer's cache line) |
//! | 72  | 4 | producer waiting for room (futex on tail's low half) |
//! | 128 | 8 | tail: bytes ever read (consumer's cache line) |
//! | 136 | 4 | consumer waiting for data (futex on head's low half) |
//!
//! Waiting is by futex with a 100 ms timeout, after which the waiter checks
//! that its peer is still alive (pidfd): nobody spins, and a dead peer is
//! noticed within a second.
//!
//! A ring is trusted only if no one else could have made or changed it: a
//! reader accepts a regular file owned by itself or root that no one else
//! may write, and a writer reads an existing file's header (to refuse a
//! ring whose producer still runs) only under the same rule; a file that
//! fails it is replaced, never believed. A file truncated under a process
//! ends it with a message ([`crate::sigbus`]).

use std::format;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

use memmap2::MmapMut;

use crate::{LostBody, RecordHeader, kind, lost_reason};

pub const MAGIC: [u8; 8] = *b"TRCERING";
pub const VERSION: u32 = 1;
pub const HEADER_LEN: usize = 4096;
/// Smallest capacity: every record must fit with room to spare.
pub const MIN_CAPACITY: u64 = 1 << 17;
pub const DEFAULT_CAPACITY: u64 = 16 << 20;

const OFF_VERSION: usize = 8;
const OFF_HEADER_LEN: usize = 12;
const OFF_CAPACITY: usize = 16;
const OFF_PRODUCER: usize = 24;
const OFF_CONSUMER: usize = 28;
const OFF_PRODUCER_START: usize = 32;
const OFF_CONSUMER_START: usize = 40;
const OFF_STATE: usize = 48;
const OFF_HEAD: usize = 64;
const OFF_PRODUCER_WAITING: usize = 72;
const OFF_TAIL: usize = 128;
const OFF_CONSUMER_WAITING: usize = 136;

const STATE_ENDED: u32 = 1;
const STATE_CONSUMER_CLOSED: u32 = 2;

/// Bytes published before a waiting reader is woken.
const WAKE_BATCH: u64 = 64 * 1024;
/// How long one futex wait lasts before the peer is checked again.
const WAIT_SLICE: Duration = Duration::from_millis(100);
/// How often a producer that never waits checks that its reader lives.
const PEER_CHECK: Duration = Duration::from_millis(250);

/// The path in a `ring:PATH` argument, if it is one.
pub fn parse_spec(s: &str) -> Option<&Path> {
    s.strip_prefix("ring:").map(Path::new)
}

/// What the producer does when the ring is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenFull {
    /// Drop the event and count it; the count reaches the reader as a
    /// lost-events record. The kernel side never waits for a slow reader.
    Drop,
    /// Wait for the reader (backpressure).
    Block,
}

impl WhenFull {
    pub fn from_name(s: &str) -> Option<WhenFull> {
        match s {
            "drop" => Some(WhenFull::Drop),
            "block" => Some(WhenFull::Block),
            _ => None,
        }
    }
}

/// Clock ticks since boot at which `pid` started (field 22 of its stat).
fn start_time(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: skip past the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}

/// A process on the other side of the ring, watched through a pidfd so a
/// reused pid is never mistaken for it.
struct Peer {
    pid: u32,
    fd: OwnedFd,
}

impl Peer {
    /// The process `pid` if it is alive and started at `start`.
    fn open(pid: u32, start: u64) -> Option<Peer> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_int, 0) };
        if fd < 0 {
            return None;
        }
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // Checked after opening the pidfd: if the start time matches now,
        // the pidfd refers to that very process.
        (start_time(pid) == Some(start)).then_some(Peer { pid, fd })
    }

    fn alive(&self) -> bool {
        let mut p = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; a pidfd turns readable when the process exits.
        unsafe { libc::poll(&mut p, 1, 0) == 0 }
    }
}

/// The mapping and typed views of its header.
struct Mapped {
    map: MmapMut,
    cap: u64,
    _bus: crate::sigbus::Guard,
}

impl Mapped {
    fn new(map: MmapMut, cap: u64, path: &Path) -> Mapped {
        let _bus = crate::sigbus::guard(map.as_ptr(), map.len(), path);
        Mapped { map, cap, _bus }
    }
}

/// Whether a ring file at `m` can be believed: a regular file, owned by
/// this user or (when `root_ok`) by root, that no one else may write.
fn trusted(m: &std::fs::Metadata, root_ok: bool) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    if !m.file_type().is_file() {
        return Err("is not a regular file".to_string());
    }
    if m.uid() != me && !(root_ok && m.uid() == 0) {
        return Err(format!(
            "is owned by uid {}, not by this user (uid {me})",
            m.uid()
        ));
    }
    if m.mode() & 0o022 != 0 {
        return Err(format!(
            "is writable by others (mode {:o})",
            m.mode() & 0o7777
        ));
    }
    Ok(())
}

impl Mapped {
    fn u32_at(&self, off: usize) -> &AtomicU32 {
        // SAFETY: `off` is a 4-aligned offset inside the header of a live
        // mapping; the map is page-aligned.
        unsafe { &*self.map.as_ptr().add(off).cast::<AtomicU32>() }
    }
    fn u64_at(&self, off: usize) -> &AtomicU64 {
        // SAFETY: as above, 8-aligned.
        unsafe { &*self.map.as_ptr().add(off).cast::<AtomicU64>() }
    }
    fn data(&self) -> *mut u8 {
        // SAFETY: the data area follows the header inside the mapping.
        unsafe { self.map.as_ptr().add(HEADER_LEN).cast_mut() }
    }
    fn head(&self) -> &AtomicU64 {
        self.u64_at(OFF_HEAD)
    }
    fn tail(&self) -> &AtomicU64 {
        self.u64_at(OFF_TAIL)
    }
    fn state(&self) -> &AtomicU32 {
        self.u32_at(OFF_STATE)
    }

    /// Copies `b` in at stream position `pos`, wrapping at the end.
    fn copy_in(&self, pos: u64, b: &[u8]) {
        let i = (pos & (self.cap - 1)) as usize;
        let first = b.len().min(self.cap as usize - i);
        // SAFETY: both ranges lie inside the data area; the producer owns
        // the bytes between head and tail + capacity.
        unsafe {
            std::ptr::copy_nonoverlapping(b.as_ptr(), self.data().add(i), first);
            std::ptr::copy_nonoverlapping(b.as_ptr().add(first), self.data(), b.len() - first);
        }
    }

    /// Copies out `out.len()` bytes from stream position `pos`.
    fn copy_out(&self, pos: u64, out: &mut [u8]) {
        let i = (pos & (self.cap - 1)) as usize;
        let first = out.len().min(self.cap as usize - i);
        // SAFETY: both ranges lie inside the data area; the consumer owns
        // the bytes between tail and head.
        unsafe {
            std::ptr::copy_nonoverlapping(self.data().add(i), out.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(
                self.data(),
                out.as_mut_ptr().add(first),
                out.len() - first,
            );
        }
    }
}

/// Waits while the 32-bit word at `w` still holds `val`, at most `t`.
fn futex_wait(w: &AtomicU64, val: u64, t: Duration) {
    let ts = libc::timespec {
        tv_sec: t.as_secs() as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    };
    // SAFETY: the low half of an aligned u64 in a shared mapping is a valid
    // futex word (little-endian); the kernel only reads it. A shared (not
    // private) futex, as the two sides are different processes.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            (w as *const AtomicU64).cast::<u32>(),
            libc::FUTEX_WAIT,
            val as u32,
            &ts as *const libc::timespec,
        )
    };
}

fn futex_wake(w: &AtomicU64) {
    // SAFETY: as in futex_wait; waking never touches memory.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            (w as *const AtomicU64).cast::<u32>(),
            libc::FUTEX_WAKE,
            i32::MAX,
        )
    };
}

fn err(kind: io::ErrorKind, msg: String) -> io::Error {
    io::Error::new(kind, msg)
}

/// The writing side. Created by the producer, which also removes the file
/// when it ends.
pub struct RingWriter {
    m: Mapped,
    path: PathBuf,
    when_full: WhenFull,
    /// Our copy of head: only we write it.
    head: u64,
    /// Head when the reader was last woken: wake-ups are batched (a
    /// futex wake per record costs more than the record).
    woken_at: u64,
    /// Events dropped since the last lost-events record.
    unreported: u64,
    total_dropped: u64,
    consumer: Option<Peer>,
    last_check: Instant,
    stop: Option<(&'static AtomicBool, Duration)>,
    ended: bool,
}

impl RingWriter {
    /// Creates the ring at `path`. A file left by an earlier producer that
    /// is gone is replaced (new inode, so a reader still mapping the old one
    /// keeps its own); one whose producer still runs is refused.
    pub fn create(path: &Path, capacity: u64, when_full: WhenFull) -> io::Result<RingWriter> {
        if !capacity.is_power_of_two() || capacity < MIN_CAPACITY {
            return Err(err(
                io::ErrorKind::InvalidInput,
                format!("ring capacity {capacity}: a power of two of at least {MIN_CAPACITY}"),
            ));
        }
        let shown = path.display();
        // Only a ring of our own says anything about a live producer; a
        // file someone else made is replaced whatever it claims.
        let ours = std::fs::symlink_metadata(path).is_ok_and(|m| trusted(&m, false).is_ok());
        match ours.then(|| Header::read(path)) {
            Some(Ok(Some(h))) if Peer::open(h.producer, h.producer_start).is_some() => {
                return Err(err(
                    io::ErrorKind::AddrInUse,
                    format!("ring:{shown} is in use by its producer, pid {}", h.producer),
                ));
            }
            _ => {}
        }
        // Made whole under a name of its own, then renamed over whatever
        // is at the path (a stale ring, a file or link someone planted):
        // nothing can come between a removal and the creation, and no
        // reader ever sees a half-made ring.
        let tmp = temp_name(path);
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .map_err(|e| err(e.kind(), format!("creating ring:{shown}: {e}")))?;
        let made = (|| {
            f.set_len(HEADER_LEN as u64 + capacity)?;
            // SAFETY: a file we just created and sized, not yet at its
            // name: no one else maps it.
            let map = unsafe { MmapMut::map_mut(&f)? };
            let m = Mapped::new(map, capacity, path);
            let me = std::process::id();
            let start = start_time(me).unwrap_or(0);
            // SAFETY: in-bounds writes into the header of our own mapping.
            unsafe {
                let p = m.map.as_ptr().cast_mut();
                p.add(OFF_VERSION).cast::<u32>().write(VERSION);
                p.add(OFF_HEADER_LEN).cast::<u32>().write(HEADER_LEN as u32);
                p.add(OFF_CAPACITY).cast::<u64>().write(capacity);
                p.add(OFF_PRODUCER).cast::<u32>().write(me);
                p.add(OFF_PRODUCER_START).cast::<u64>().write(start);
                fence(Ordering::SeqCst);
                std::ptr::copy_nonoverlapping(MAGIC.as_ptr(), p, 8);
            }
            put_in_place(&tmp, path)?;
            Ok::<Mapped, io::Error>(m)
        })();
        let m = match made {
            Ok(m) => m,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(err(e.kind(), format!("creating ring:{shown}: {e}")));
            }
        };
        Ok(RingWriter {
            m,
            path: path.to_path_buf(),
            when_full,
            head: 0,
            woken_at: 0,
            unreported: 0,
            total_dropped: 0,
            consumer: None,
            last_check: Instant::now(),
            stop: None,
            ended: false,
        })
    }

    /// Once `flag` is set, a reader that takes nothing for `grace` makes a
    /// waiting write fail instead of waiting for ever.
    pub fn give_up_after_stop(&mut self, flag: &'static AtomicBool, grace: Duration) {
        self.stop = Some((flag, grace));
    }

    /// The reader's pid, once one has attached.
    pub fn consumer_pid(&self) -> Option<u32> {
        match self.m.u32_at(OFF_CONSUMER).load(Ordering::Acquire) {
            0 => None,
            p => Some(p),
        }
    }

    /// Events dropped because the ring was full, in all.
    pub fn dropped(&self) -> u64 {
        self.total_dropped
    }

    fn free(&self) -> u64 {
        self.m.cap - (self.head - self.m.tail().load(Ordering::Acquire))
    }

    /// Checks the reader: BrokenPipe if it closed, an error if it died.
    fn check_consumer(&mut self) -> io::Result<()> {
        self.last_check = Instant::now();
        if self.m.state().load(Ordering::Acquire) & STATE_CONSUMER_CLOSED != 0 {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let pid = self.m.u32_at(OFF_CONSUMER).load(Ordering::Acquire);
        if pid == 0 {
            return Ok(());
        }
        if self.consumer.as_ref().is_none_or(|c| c.pid != pid) {
            let start = self.m.u64_at(OFF_CONSUMER_START).load(Ordering::Acquire);
            self.consumer = Peer::open(pid, start);
            if self.consumer.is_none() {
                return Err(self.consumer_died(pid));
            }
        }
        match &self.consumer {
            Some(c) if !c.alive() => Err(self.consumer_died(pid)),
            _ => Ok(()),
        }
    }

    fn consumer_died(&self, pid: u32) -> io::Error {
        // Closed cleanly just now?
        if self.m.state().load(Ordering::Acquire) & STATE_CONSUMER_CLOSED != 0 {
            return io::ErrorKind::BrokenPipe.into();
        }
        err(
            io::ErrorKind::Other,
            format!(
                "the reader of ring:{} (pid {pid}) died without closing it; stopping",
                self.path.display()
            ),
        )
    }

    /// Checks the reader if it has not been checked for a while.
    pub fn check_if_due(&mut self) -> io::Result<()> {
        self.wake();
        if self.last_check.elapsed() >= PEER_CHECK {
            self.check_consumer()?;
        }
        Ok(())
    }

    /// Writes one unit (a preamble or whole records). Event records are
    /// dropped and counted when the ring is full and the policy is Drop;
    /// everything else waits for room.
    pub fn write_unit(&mut self, b: &[u8]) -> io::Result<()> {
        let len = b.len() as u64;
        if len > self.m.cap / 2 {
            return Err(err(
                io::ErrorKind::InvalidInput,
                format!(
                    "a unit of {len} bytes does not fit ring:{}",
                    self.path.display()
                ),
            ));
        }
        if self.last_check.elapsed() >= PEER_CHECK {
            self.check_consumer()?;
        }
        let droppable = self.when_full == WhenFull::Drop && is_event_records(b);
        if self.unreported > 0 {
            let lost = LostBody {
                cpu: u32::MAX,
                reason: lost_reason::OUTPUT_FULL,
                count: self.unreported,
                ts: monotonic_ns(),
            }
            .to_record();
            if droppable && self.free() < lost.len() as u64 + len {
                self.unreported += 1;
                self.total_dropped += 1;
                return Ok(());
            }
            self.unreported = 0;
            self.put(&lost)?;
        }
        if droppable && self.free() < len {
            self.unreported += 1;
            self.total_dropped += 1;
            return Ok(());
        }
        self.put(b)
    }

    /// Copies `b` in, waiting for room as long as the reader lives.
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        let len = b.len() as u64;
        let mut stalled_since: Option<Instant> = None;
        while self.free() < len {
            self.wake();
            let waiting = self.m.u32_at(OFF_PRODUCER_WAITING);
            waiting.store(1, Ordering::SeqCst);
            let tail = self.m.tail().load(Ordering::SeqCst);
            if self.m.cap - (self.head - tail) < len {
                futex_wait(self.m.tail(), tail, WAIT_SLICE);
            }
            waiting.store(0, Ordering::SeqCst);
            self.check_consumer()?;
            if let Some((flag, grace)) = self.stop
                && flag.load(Ordering::SeqCst)
            {
                let t = *stalled_since.get_or_insert_with(Instant::now);
                if self.m.tail().load(Ordering::Acquire) != tail {
                    stalled_since = None;
                } else if t.elapsed() >= grace {
                    return Err(err(
                        io::ErrorKind::TimedOut,
                        format!(
                            "the reader of ring:{} took nothing for {}s after the stop signal; \
                             the rest of the stream is not written",
                            self.path.display(),
                            grace.as_secs_f32()
                        ),
                    ));
                }
            }
        }
        self.m.copy_in(self.head, b);
        self.head += len;
        self.m.head().store(self.head, Ordering::SeqCst);
        if self.head - self.woken_at >= WAKE_BATCH {
            self.wake();
        }
        Ok(())
    }

    /// Wakes a waiting reader for everything published so far. Called per
    /// WAKE_BATCH bytes, on flush (before the producer waits for its own
    /// input) and at the end; a reader also looks on its own every
    /// WAIT_SLICE, so nothing waits longer than the pipe's MAX_DELAY.
    pub fn wake(&mut self) {
        if self.woken_at != self.head {
            self.woken_at = self.head;
            if self.m.u32_at(OFF_CONSUMER_WAITING).load(Ordering::SeqCst) != 0 {
                futex_wake(self.m.head());
            }
        }
    }

    /// Marks the stream as ended: the reader sees end of input once it has
    /// read everything. Also done on drop.
    pub fn end(&mut self) -> io::Result<()> {
        if self.ended {
            return Ok(());
        }
        self.ended = true;
        if self.unreported > 0 {
            let lost = LostBody {
                cpu: u32::MAX,
                reason: lost_reason::OUTPUT_FULL,
                count: std::mem::take(&mut self.unreported),
                ts: monotonic_ns(),
            }
            .to_record();
            // Best effort: a reader that has gone cannot take it anyway.
            let _ = self.put(&lost);
        }
        self.m.state().fetch_or(STATE_ENDED, Ordering::SeqCst);
        futex_wake(self.m.head());
        // A reader that attached keeps its mapping, so the name can go.
        // Without one yet, the ended ring stays for a late reader, which
        // removes it when it has read it all.
        if self.consumer_pid().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
        Ok(())
    }
}

impl Drop for RingWriter {
    fn drop(&mut self) {
        let _ = self.end();
    }
}

/// True if `b` holds only event records (which may be dropped); anything
/// else (a preamble, lost and end records) must reach the reader.
fn is_event_records(b: &[u8]) -> bool {
    let mut i = 0;
    while i + RecordHeader::LEN <= b.len() {
        let len = u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
        let k = u16::from_le_bytes([b[i + 4], b[i + 5]]);
        if k != kind::EVENT || len < RecordHeader::LEN {
            return false;
        }
        i += len;
    }
    i == b.len()
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A fresh name beside `path` for a ring being made.
fn temp_name(path: &Path) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(
        ".{}.{}.{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        monotonic_ns()
    ));
    path.with_file_name(name)
}

/// Renames `tmp` to `path`, over whatever is there. A directory planted
/// at the path (rename cannot replace it) is removed if we may, a few
/// times over if it keeps coming back.
fn put_in_place(tmp: &Path, path: &Path) -> io::Result<()> {
    let mut tries = 0;
    loop {
        match std::fs::rename(tmp, path) {
            Ok(()) => return Ok(()),
            Err(e)
                if tries < 3
                    && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_dir()) =>
            {
                tries += 1;
                // remove_dir_all follows no symlink inside what it removes.
                std::fs::remove_dir_all(path).map_err(|r| {
                    io::Error::new(r.kind(), format!("a directory is in the way ({e}): {r}"))
                })?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The fixed header fields, as read from a file.
struct Header {
    producer: u32,
    producer_start: u64,
}

impl Header {
    /// `Ok(None)`: no file; `Err`: not a ring of ours.
    fn read(path: &Path) -> io::Result<Option<Header>> {
        let mut f = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut h = [0u8; 64];
        f.read_exact(&mut h)?;
        if h[..8] != MAGIC {
            return Err(err(
                io::ErrorKind::InvalidData,
                "not a tracee-rs ring".to_string(),
            ));
        }
        Ok(Some(Header {
            producer: u32::from_le_bytes(h[OFF_PRODUCER..OFF_PRODUCER + 4].try_into().unwrap()),
            producer_start: u64::from_le_bytes(
                h[OFF_PRODUCER_START..OFF_PRODUCER_START + 8]
                    .try_into()
                    .unwrap(),
            ),
        }))
    }
}

/// The reading side; a `Read` like stdin.
pub struct RingReader {
    m: Mapped,
    path: PathBuf,
    tail: u64,
    producer: Option<Peer>,
    producer_pid: u32,
    _file: File,
}

impl RingReader {
    /// Attaches to the ring at `path`, waiting up to `wait` for a producer
    /// to create it. Refuses a file that is not a ring, a ring of another
    /// version, one whose producer is gone without ending it (stale), and
    /// one that already has a live reader.
    pub fn open(path: &Path, wait: Duration) -> io::Result<RingReader> {
        let shown = path.display();
        let deadline = Instant::now() + wait;
        // A file we cannot believe is waited past like a missing one: its
        // writer may yet replace it.
        let mut untrusted = None;
        let f = loop {
            match OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(path)
            {
                Ok(f) if trusted(&f.metadata()?, true).is_err() => {
                    untrusted = trusted(&f.metadata()?, true).err();
                }
                Ok(f) if f.metadata()?.len() >= HEADER_LEN as u64 => {
                    let mut magic = [0u8; 8];
                    (&f).read_exact(&mut magic)?;
                    if magic == MAGIC {
                        break f;
                    }
                    if magic != [0; 8] || Instant::now() >= deadline {
                        return Err(err(
                            io::ErrorKind::InvalidData,
                            format!("ring:{shown} is not a tracee-rs ring (bad magic)"),
                        ));
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                // A link, directory or other file no ring could be (a
                // symlink is refused by O_NOFOLLOW): waited past like an
                // untrusted file, as its writer may yet replace it.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ELOOP | libc::EISDIR | libc::EACCES | libc::ENXIO | libc::EPERM)
                    ) =>
                {
                    untrusted = Some(format!("cannot be opened as a ring ({e})"));
                }
                Err(e) => return Err(err(e.kind(), format!("opening ring:{shown}: {e}"))),
            }
            if Instant::now() >= deadline {
                if let Some(why) = untrusted {
                    return Err(err(
                        io::ErrorKind::PermissionDenied,
                        format!("ring:{shown} {why}: refusing to read it"),
                    ));
                }
                return Err(err(
                    io::ErrorKind::NotFound,
                    format!(
                        "ring:{shown}: no producer created it within {}s",
                        wait.as_secs()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // SAFETY: the producer sized the file before writing the magic; we
        // only touch the header words and the bytes between tail and head.
        let map = unsafe { MmapMut::map_mut(&f)? };
        let bad = |what: String| err(io::ErrorKind::InvalidData, format!("ring:{shown}: {what}"));
        let rd32 = |o: usize| u32::from_le_bytes(map[o..o + 4].try_into().unwrap());
        let version = rd32(OFF_VERSION);
        if version != VERSION {
            return Err(bad(format!("version {version}, this tool reads {VERSION}")));
        }
        if rd32(OFF_HEADER_LEN) as usize != HEADER_LEN {
            return Err(bad("unexpected header length".to_string()));
        }
        let cap = u64::from_le_bytes(map[OFF_CAPACITY..OFF_CAPACITY + 8].try_into().unwrap());
        if !cap.is_power_of_two()
            || cap < MIN_CAPACITY
            || map.len() as u64 != HEADER_LEN as u64 + cap
        {
            return Err(bad(format!("capacity {cap} does not match the file")));
        }
        let m = Mapped::new(map, cap, path);
        let producer_pid = m.u32_at(OFF_PRODUCER).load(Ordering::Acquire);
        let producer = Peer::open(
            producer_pid,
            m.u64_at(OFF_PRODUCER_START).load(Ordering::Acquire),
        );
        if producer.is_none() && m.state().load(Ordering::Acquire) & STATE_ENDED == 0 {
            return Err(bad(format!(
                "stale: its producer (pid {producer_pid}) is gone and never ended the stream"
            )));
        }
        // Claim the consumer side.
        let me = std::process::id();
        let cur = m.u32_at(OFF_CONSUMER).load(Ordering::Acquire);
        if cur != 0 && cur != me {
            let start = m.u64_at(OFF_CONSUMER_START).load(Ordering::Acquire);
            if Peer::open(cur, start).is_some() {
                return Err(bad(format!("already has a reader, pid {cur}")));
            }
        }
        m.u64_at(OFF_CONSUMER_START)
            .store(start_time(me).unwrap_or(0), Ordering::Release);
        if m.u32_at(OFF_CONSUMER)
            .compare_exchange(cur, me, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(bad("another reader attached at the same moment".to_string()));
        }
        let tail = m.tail().load(Ordering::Acquire);
        Ok(RingReader {
            m,
            path: path.to_path_buf(),
            tail,
            producer,
            producer_pid,
            _file: f,
        })
    }
}

impl Read for RingReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            let head = self.m.head().load(Ordering::Acquire);
            if head != self.tail {
                let n = ((head - self.tail) as usize).min(out.len());
                self.m.copy_out(self.tail, &mut out[..n]);
                self.tail += n as u64;
                self.m.tail().store(self.tail, Ordering::SeqCst);
                if self.m.u32_at(OFF_PRODUCER_WAITING).load(Ordering::SeqCst) != 0 {
                    futex_wake(self.m.tail());
                }
                return Ok(n);
            }
            if self.m.state().load(Ordering::Acquire) & STATE_ENDED != 0 {
                // Ended: anything written before the flag is already visible.
                if self.m.head().load(Ordering::Acquire) == self.tail {
                    return Ok(0);
                }
                continue;
            }
            let waiting = self.m.u32_at(OFF_CONSUMER_WAITING);
            waiting.store(1, Ordering::SeqCst);
            if self.m.head().load(Ordering::SeqCst) == head {
                futex_wait(self.m.head(), head, WAIT_SLICE);
            }
            waiting.store(0, Ordering::SeqCst);
            if self.m.head().load(Ordering::Acquire) == head
                && self.m.state().load(Ordering::Acquire) & STATE_ENDED == 0
                && !self.producer.as_ref().is_some_and(Peer::alive)
            {
                return Err(err(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the producer of ring:{} (pid {}) died without ending the stream",
                        self.path.display(),
                        self.producer_pid
                    ),
                ));
            }
        }
    }
}

impl Drop for RingReader {
    fn drop(&mut self) {
        self.m
            .state()
            .fetch_or(STATE_CONSUMER_CLOSED, Ordering::SeqCst);
        futex_wake(self.m.tail());
        // An ended ring read to its end is done with: remove its name,
        // if the name is still this ring's.
        if self.m.state().load(Ordering::Acquire) & STATE_ENDED != 0
            && self.m.head().load(Ordering::Acquire) == self.tail
        {
            use std::os::unix::fs::MetadataExt;
            let same = match (std::fs::symlink_metadata(&self.path), self._file.metadata()) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            };
            if same {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// How long a reader waits for the producer to create the ring, so that
/// the two sides of a pipeline may start in either order.
pub const ATTACH_WAIT: Duration = Duration::from_secs(5);

/// Stdin, or the ring named by a `ring:PATH` spec (`--input`).
pub fn open_input(spec: Option<&str>) -> io::Result<std::boxed::Box<dyn Read>> {
    match spec {
        None | Some("-") => Ok(std::boxed::Box::new(io::stdin().lock())),
        Some(s) => match parse_spec(s) {
            Some(p) => Ok(std::boxed::Box::new(RingReader::open(p, ATTACH_WAIT)?)),
            None => Err(err(
                io::ErrorKind::InvalidInput,
                format!("--input '{s}': expected ring:PATH or - (stdin)"),
            )),
        },
    }
}

/// A ring size argument: bytes with an optional K or M suffix.
pub fn parse_capacity(s: &str) -> Option<u64> {
    let (n, mul) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1u64 << 10),
        b'M' | b'm' => (&s[..s.len() - 1], 1 << 20),
        b'G' | b'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let v = n.parse::<u64>().ok()?.checked_mul(mul)?;
    (v >= MIN_CAPACITY && v.is_power_of_two() && v <= 1 << 32).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn tmp(tag: &str) -> PathBuf {
        let p = PathBuf::from(format!("/dev/shm/tracee-unit-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    /// Units of every size from 1 to 700 bytes go through a ring of the
    /// smallest capacity, enough of them to wrap it twice, so the wrap point
    /// falls inside units at every size; the bytes come out unchanged.
    #[test]
    fn wraps_at_every_unit_size() {
        let path = tmp("wrap");
        for size in 1..=700usize {
            let mut w = RingWriter::create(&path, MIN_CAPACITY, WhenFull::Block).unwrap();
            let mut r = RingReader::open(&path, Duration::from_secs(1)).unwrap();
            let count = (2 * MIN_CAPACITY as usize) / size + 3;
            let unit = move |i: usize| -> Vec<u8> {
                (0..size).map(|j| (i * 31 + j * 7 + size) as u8).collect()
            };
            let writer = std::thread::spawn(move || {
                for i in 0..count {
                    w.write_unit(&unit(i)).unwrap();
                }
                w.end().unwrap();
            });
            let mut got = Vec::new();
            let mut buf = vec![0u8; 4093];
            loop {
                let n = r.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            writer.join().unwrap();
            let want: Vec<u8> = (0..count).flat_map(unit).collect();
            assert_eq!(got.len(), want.len(), "size {size}");
            assert!(got == want, "size {size}: bytes differ");
            drop(r);
            assert!(!path.exists(), "size {size}: the ended ring is removed");
        }
    }

    /// With no reader draining it, a full ring drops events and then
    /// tells the reader how many, in a lost-events record.
    #[test]
    fn a_full_ring_drops_events_and_says_how_many() {
        let path = tmp("drop");
        let mut w = RingWriter::create(&path, MIN_CAPACITY, WhenFull::Drop).unwrap();
        let mut ev = vec![0u8; 100];
        ev[0..4].copy_from_slice(&100u32.to_le_bytes());
        ev[4..6].copy_from_slice(&kind::EVENT.to_le_bytes());
        let fits = (MIN_CAPACITY / 100) as usize;
        for _ in 0..fits + 50 {
            w.write_unit(&ev).unwrap();
        }
        assert_eq!(w.dropped(), 50);
        let mut r = RingReader::open(&path, Duration::from_secs(1)).unwrap();
        let mut all = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        // Drain, then write one more: the notice goes first.
        while all.len() < fits * 100 {
            let n = r.read(&mut buf).unwrap();
            all.extend_from_slice(&buf[..n]);
        }
        w.write_unit(&ev).unwrap();
        w.end().unwrap();
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        let rest = &all[fits * 100..];
        let (rec, _) = crate::RecordSlice::from_slice(rest, 0).unwrap();
        assert_eq!(rec.kind(), kind::LOST);
        let lost = LostBody::from_record(rec);
        assert_eq!((lost.count, lost.reason), (50, lost_reason::OUTPUT_FULL));
        assert_eq!(&rest[rec.bytes().len()..], &ev[..]);
    }

    #[test]
    fn capacities_and_specs_are_checked() {
        assert_eq!(parse_capacity("16M"), Some(16 << 20));
        assert_eq!(parse_capacity("128K"), Some(128 << 10));
        assert_eq!(parse_capacity("100K"), None);
        assert_eq!(parse_capacity("4K"), None);
        assert_eq!(parse_capacity("8G"), None);
        assert_eq!(parse_capacity("x"), None);
        assert_eq!(parse_spec("ring:/dev/shm/a"), Some(Path::new("/dev/shm/a")));
        assert_eq!(parse_spec("/dev/shm/a"), None);
        let p = tmp("cap");
        assert!(RingWriter::create(&p, 3 << 20, WhenFull::Drop).is_err());
    }

    /// A header with a wrong version or a capacity that does not match the
    /// file is refused with a message, never read.
    #[test]
    fn a_damaged_header_is_refused() {
        use std::io::{Seek, SeekFrom, Write};
        for (off, bytes, want) in [
            (OFF_VERSION, 9u64.to_le_bytes(), "version 9"),
            (OFF_CAPACITY, (1u64 << 20).to_le_bytes(), "capacity"),
            (OFF_CAPACITY, 12345u64.to_le_bytes(), "capacity"),
        ] {
            let p = tmp("damaged");
            let w = RingWriter::create(&p, MIN_CAPACITY, WhenFull::Drop).unwrap();
            let mut f = OpenOptions::new().write(true).open(&p).unwrap();
            f.seek(SeekFrom::Start(off as u64)).unwrap();
            let n = if off == OFF_VERSION { 4 } else { 8 };
            f.write_all(&bytes[..n]).unwrap();
            let e = RingReader::open(&p, Duration::from_millis(10))
                .err()
                .unwrap();
            assert!(e.to_string().contains(want), "{e}");
            drop(w);
            let _ = std::fs::remove_file(&p);
        }
    }
}
