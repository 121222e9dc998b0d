//! The ring file's header layout, its mapping, who may be trusted to have
//! made it, and how each side waits for the other.

use std::format;
use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::string::{String, ToString};
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::Duration;

use memmap2::MmapMut;
use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

pub const MAGIC: [u8; 8] = *b"TRCERING";
pub const VERSION: u32 = 1;
pub const HEADER_LEN: usize = 4096;
/// Smallest capacity: every record must fit with room to spare.
pub const MIN_CAPACITY: u64 = 1 << 17;
pub const DEFAULT_CAPACITY: u64 = 16 << 20;

pub(super) const OFF_VERSION: usize = 8;
pub(super) const OFF_HEADER_LEN: usize = 12;
pub(super) const OFF_CAPACITY: usize = 16;
pub(super) const OFF_PRODUCER: usize = 24;
pub(super) const OFF_CONSUMER: usize = 28;
pub(super) const OFF_PRODUCER_START: usize = 32;
pub(super) const OFF_CONSUMER_START: usize = 40;
pub(super) const OFF_STATE: usize = 48;
pub(super) const OFF_HEAD: usize = 64;
pub(super) const OFF_PRODUCER_WAITING: usize = 72;
pub(super) const OFF_TAIL: usize = 128;
pub(super) const OFF_CONSUMER_WAITING: usize = 136;

pub(super) const STATE_ENDED: u32 = 1;
pub(super) const STATE_CONSUMER_CLOSED: u32 = 2;

/// Bytes published before a waiting reader is woken.
pub(super) const WAKE_BATCH: u64 = 64 * 1024;
/// How long one futex wait lasts before the peer is checked again.
pub(super) const WAIT_SLICE: Duration = Duration::from_millis(100);
/// How often a producer that never waits checks that its reader lives.
pub(super) const PEER_CHECK: Duration = Duration::from_millis(250);

pub(super) use crate::procfs::start_time;

/// A process on the other side of the ring, watched through a pidfd so a
/// reused pid is never mistaken for it.
pub(super) struct Peer {
    pub(super) pid: u32,
    pub(super) fd: OwnedFd,
}

impl Peer {
    /// The process `pid` if it is alive and started at `start`.
    pub(super) fn open(pid: u32, start: u64) -> Option<Peer> {
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

    pub(super) fn alive(&self) -> bool {
        // A pidfd turns readable when the process exits.
        let mut p = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        poll(&mut p, PollTimeout::ZERO) == Ok(0)
    }
}

/// The mapping and typed views of its header.
pub(super) struct Mapped {
    pub(super) map: MmapMut,
    pub(super) cap: u64,
    pub(super) _bus: crate::sigbus::Guard,
}

impl Mapped {
    pub(super) fn new(map: MmapMut, cap: u64, path: &Path) -> Mapped {
        let _bus = crate::sigbus::guard(map.as_ptr(), map.len(), path);
        Mapped { map, cap, _bus }
    }
}

/// Whether a ring file at `m` can be believed: a regular file, owned by
/// this user or (when `root_ok`) by root, that no one else may write.
pub(super) fn trusted(m: &std::fs::Metadata, root_ok: bool) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let me = nix::unistd::geteuid().as_raw();
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
    pub(super) fn u32_at(&self, off: usize) -> &AtomicU32 {
        // SAFETY: `off` is a 4-aligned offset inside the header of a live
        // mapping; the map is page-aligned.
        unsafe { &*self.map.as_ptr().add(off).cast::<AtomicU32>() }
    }
    pub(super) fn u64_at(&self, off: usize) -> &AtomicU64 {
        // SAFETY: as above, 8-aligned.
        unsafe { &*self.map.as_ptr().add(off).cast::<AtomicU64>() }
    }
    pub(super) fn data(&self) -> *mut u8 {
        // SAFETY: the data area follows the header inside the mapping.
        unsafe { self.map.as_ptr().add(HEADER_LEN).cast_mut() }
    }
    pub(super) fn head(&self) -> &AtomicU64 {
        self.u64_at(OFF_HEAD)
    }
    pub(super) fn tail(&self) -> &AtomicU64 {
        self.u64_at(OFF_TAIL)
    }
    pub(super) fn state(&self) -> &AtomicU32 {
        self.u32_at(OFF_STATE)
    }

    /// Copies `b` in at stream position `pos`, wrapping at the end.
    pub(super) fn copy_in(&self, pos: u64, b: &[u8]) {
        let i = (pos & (self.cap - 1)) as usize;
        let first = b.len().min(self.cap as usize - i);
        // SAFETY: both ranges lie inside the data area; the producer owns
        // the bytes between head and tail + capacity.
        unsafe {
            std::ptr::copy_nonoverlapping(b.as_ptr(), self.data().add(i), first);
            if first < b.len() {
                std::ptr::copy_nonoverlapping(b.as_ptr().add(first), self.data(), b.len() - first);
            }
        }
    }

    /// Copies out `out.len()` bytes from stream position `pos`.
    pub(super) fn copy_out(&self, pos: u64, out: &mut [u8]) {
        let i = (pos & (self.cap - 1)) as usize;
        let first = out.len().min(self.cap as usize - i);
        // SAFETY: both ranges lie inside the data area; the consumer owns
        // the bytes between tail and head.
        unsafe {
            std::ptr::copy_nonoverlapping(self.data().add(i), out.as_mut_ptr(), first);
            if first < out.len() {
                std::ptr::copy_nonoverlapping(
                    self.data(),
                    out.as_mut_ptr().add(first),
                    out.len() - first,
                );
            }
        }
    }
}

/// Waits while the 32-bit word at `w` still holds `val`, at most `t`.
pub(super) fn futex_wait(w: &AtomicU64, val: u64, t: Duration) {
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

pub(super) fn futex_wake(w: &AtomicU64) {
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

pub(super) fn err(kind: io::ErrorKind, msg: String) -> io::Error {
    io::Error::new(kind, msg)
}

/// The fixed header fields, as read from a file.
pub(super) struct Header {
    pub(super) producer: u32,
    pub(super) producer_start: u64,
}

impl Header {
    /// `Ok(None)`: no file; `Err`: not a ring of ours.
    pub(super) fn read(path: &Path) -> io::Result<Option<Header>> {
        let mut f = match OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW)
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
