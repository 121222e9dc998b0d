//! The producer's side of the ring.

use std::format;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering, fence};
use std::time::{Duration, Instant};

use memmap2::MmapMut;
use wire::{LostBody, RecordHeader, kind, lost_reason};

use super::WhenFull;
use super::layout::*;
use crate::clock::{coarse_now, monotonic_ns};

/// Drop mode: how long a full ring may hold the producer up before events
/// are dropped.
const DROP_WAIT: Duration = Duration::from_millis(50);

/// The writing side. Created by the producer, which also removes the file
/// when it ends.
pub struct RingWriter {
    m: Mapped,
    path: PathBuf,
    when_full: WhenFull,
    /// Our copy of head: only we write it.
    head: u64,
    /// Tail as last read: the reader's cache line is read again only when
    /// this says the ring is full.
    tail: u64,
    /// Head when the reader was last woken: wake-ups are batched (a
    /// futex wake per record costs more than the record).
    woken_at: u64,
    /// Events dropped since the last lost-events record.
    unreported: u64,
    total_dropped: u64,
    consumer: Option<Peer>,
    /// Drop mode, the ring full: when waiting for room ends and dropping
    /// begins.
    full_until: Option<Instant>,
    /// When the reader was last checked, by [`coarse_now`] (the precise
    /// clock, read per record, cost a fifth of the producer's time).
    last_check: Duration,
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
            .custom_flags(nix::libc::O_NOFOLLOW)
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
            tail: 0,
            woken_at: 0,
            unreported: 0,
            total_dropped: 0,
            consumer: None,
            full_until: None,
            last_check: coarse_now(),
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

    /// Room for `len` more bytes? Looks at the reader's tail only when
    /// the cached one says no.
    #[inline]
    fn has_room(&mut self, len: u64) -> bool {
        if self.m.cap - (self.head - self.tail) >= len {
            return true;
        }
        self.tail = self.m.tail().load(Ordering::Acquire);
        self.m.cap - (self.head - self.tail) >= len
    }

    fn peer_check_due(&self) -> bool {
        coarse_now().saturating_sub(self.last_check) >= PEER_CHECK
    }

    /// Checks the reader: BrokenPipe if it closed, an error if it died.
    fn check_consumer(&mut self) -> io::Result<()> {
        self.last_check = coarse_now();
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
        if self.peer_check_due() {
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
        if self.peer_check_due() {
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
            if droppable && !self.room_soon(lost.len() as u64 + len)? {
                self.unreported += 1;
                self.total_dropped += 1;
                return Ok(());
            }
            self.unreported = 0;
            self.put(&lost)?;
        }
        if droppable && !self.room_soon(len)? {
            self.unreported += 1;
            self.total_dropped += 1;
            return Ok(());
        }
        self.put(b)
    }

    /// Drop mode: whether `len` bytes fit now or within [`DROP_WAIT`] of
    /// the ring's filling up. Meanwhile the producer's own input (the
    /// kernel's ring) takes the burst, so a reader that is only briefly
    /// behind loses nothing; one that stays behind has events dropped
    /// until it catches up, and the producer is never held longer.
    fn room_soon(&mut self, len: u64) -> io::Result<bool> {
        if self.has_room(len) {
            self.full_until = None;
            return Ok(true);
        }
        let until = *self
            .full_until
            .get_or_insert_with(|| Instant::now() + DROP_WAIT);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            self.wait_for_room(len, left.min(WAIT_SLICE));
            if self.has_room(len) {
                return Ok(true);
            }
            self.check_consumer()?;
        }
    }

    /// Wakes the reader and sleeps until it moves its tail or `at_most`
    /// passes, unless `len` bytes already fit; returns the tail it saw
    /// before sleeping.
    fn wait_for_room(&mut self, len: u64, at_most: Duration) -> u64 {
        self.wake();
        let waiting = self.m.u32_at(OFF_PRODUCER_WAITING);
        waiting.store(1, Ordering::SeqCst);
        let tail = self.m.tail().load(Ordering::SeqCst);
        if self.m.cap - (self.head - tail) < len {
            futex_wait(self.m.tail(), tail, at_most);
        }
        waiting.store(0, Ordering::SeqCst);
        tail
    }

    /// Copies `b` in, waiting for room as long as the reader lives.
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        let len = b.len() as u64;
        let mut stalled_since: Option<Instant> = None;
        while !self.has_room(len) {
            let tail = self.wait_for_room(len, WAIT_SLICE);
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
        // Release is enough here (a plain store, where SeqCst was a locked
        // exchange per record): wake() orders it before the look at the
        // reader's waiting flag.
        self.m.head().store(self.head, Ordering::Release);
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
            // Pairs with the reader's SeqCst store of its waiting flag and
            // load of head: either it sees our head, or we see it waiting.
            fence(Ordering::SeqCst);
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
