//! Reading the files whose content is an artifact: executables (for
//! `--capture exec`) and the files given to finit_module. Their paths come
//! from traced processes, so every open is one that the path's owner cannot
//! turn against us:
//!
//! - through `/proc/PID/exe` while the process lives, else by the path the
//!   kernel reported, with no symlink followed anywhere on it
//!   (`openat2` with `RESOLVE_NO_SYMLINKS`; `RESOLVE_IN_ROOT` under the
//!   process's root for module files), non-blocking and without taking a
//!   controlling terminal, and kept only if it is a regular file with the
//!   dev and inode the kernel named: a FIFO, device or swapped-in file is
//!   refused, never read;
//! - read in holes-skipping extents (a sparse 512 MiB file costs what its
//!   data costs), at most [`FILE_MAX`] bytes of data per file and within a
//!   per-user budget ([`Budget`]), so that one user's huge executables
//!   cannot crowd out everyone else's;
//! - on a thread of their own, which a stop abandons: a read that blocks
//!   (a file on a stalled FUSE mount) holds up only later captures.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::atomic::Ordering;
use std::sync::{Condvar, Mutex, mpsc};
use std::time::Instant;

use nix::NixPath;
use nix::fcntl::{AT_FDCWD, OFlag, OpenHow, ResolveFlag, open, openat2};
use nix::sys::stat::{Mode, major, minor};
use wire::capture::{CaptureHeader, MAX_CHUNK, flags};
use wire::text::escaped;

use crate::sidecar::Queue;

/// Data bytes read of one file at most; the rest is reported missing.
pub const FILE_MAX: u64 = 256 << 20;
/// Each user's budget of file bytes: at most this much at once...
pub const BUDGET_BURST: u64 = 512 << 20;
/// ...refilled at this rate.
pub const BUDGET_RATE: u64 = 64 << 20;

/// A file to read into the sidecar.
pub struct FileJob {
    pub what: FileKind,
    pub h: CaptureHeader,
    pub path: Vec<u8>,
    /// The process shares our mount namespace: its path names the same
    /// file here.
    pub ours: bool,
    /// The file's ctime when it ran (executables): a file changed since
    /// is not the one that ran.
    pub ctime: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A process's executable.
    Exec,
    /// The file given to finit_module, by its path in the process's root.
    Module,
}

impl FileJob {
    /// For messages: what the file is, with its path made safe to print.
    pub fn describe(&self) -> String {
        let what = match self.what {
            FileKind::Exec => "executable",
            FileKind::Module => "module file",
        };
        format!("{what} {} of pid {}", escaped(&self.path), self.h.pid)
    }
}

/// Jobs queued per user, at most; more from one user are refused (and
/// counted), not queued ahead of everyone else's.
pub const JOBS_PER_USER: usize = 64;

/// The file reader's queue: one queue per user, taken from in turn, so a
/// flood of one user's executables waits behind that user alone.
#[derive(Default)]
pub struct FairQueue {
    inner: Mutex<Fair>,
    ready: Condvar,
}

#[derive(Default)]
struct Fair {
    queues: HashMap<u32, VecDeque<FileJob>>,
    /// Users with queued jobs, in turn order.
    turn: VecDeque<u32>,
    closed: bool,
}

impl FairQueue {
    /// Queues `job` for its user; gives it back if that user's queue is
    /// full.
    pub fn push(&self, job: FileJob) -> Result<(), Box<FileJob>> {
        let mut f = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let uid = job.h.uid;
        let q = f.queues.entry(uid).or_default();
        if q.len() >= JOBS_PER_USER {
            return Err(Box::new(job));
        }
        let first = q.is_empty();
        q.push_back(job);
        if first {
            f.turn.push_back(uid);
        }
        drop(f);
        self.ready.notify_one();
        Ok(())
    }

    /// The next job, from the next user in turn; None once closed and
    /// empty.
    fn pop(&self) -> Option<FileJob> {
        let mut f = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(uid) = f.turn.pop_front() {
                let q = f.queues.get_mut(&uid).expect("a user in turn has a queue");
                let job = q.pop_front().expect("a user in turn has a job");
                if q.is_empty() {
                    f.queues.remove(&uid);
                } else {
                    f.turn.push_back(uid);
                }
                return Some(job);
            }
            if f.closed {
                return None;
            }
            f = self.ready.wait(f).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// No more jobs: the reader ends once the queue is empty.
    pub fn close(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        self.ready.notify_all();
    }
}

/// The file reader thread: one job at a time until the queue closes.
/// For each executable it says on `results` whether it read it whole, so
/// that one it could not (gone, cut by a bound) is tried again.
pub(crate) fn read_loop(jobs: &FairQueue, queue: &Queue, results: mpsc::Sender<(ExecKey, bool)>) {
    let mut budget = Budget::default();
    while let Some(job) = jobs.pop() {
        if queue.shared.stop.load(Ordering::Acquire) || queue.shared.broken() {
            // Past the stop deadline: what is still queued is not read
            // (tracee-capture never hears of it).
            continue;
        }
        let mut h = job.h;
        let file = match job.what {
            FileKind::Exec => open_exec(&h, &job.path, job.ours, job.ctime),
            FileKind::Module => open_module(&h, &job.path, job.ours),
        };
        h.off = 0;
        h.flags = 0;
        let file = match file {
            Ok((f, by_path)) => {
                if by_path {
                    h.flags = flags::BY_PATH;
                }
                Some(f)
            }
            Err(e) => {
                eprintln!(
                    "tracee-collect: {} could not be captured: {e}",
                    job.describe()
                );
                None
            }
        };
        let whole = send_file(queue, h, file.as_ref(), &mut budget, &job);
        if let Some(ctime) = job.ctime {
            let _ = results.send(((h.dev as u64, h.ino, ctime, h.uid), whole));
        }
    }
}

/// An executable, by who ran it: (dev, inode, ctime, uid).
pub type ExecKey = (u64, u64, u64, u32);

/// A process's executable: through `/proc/PID/exe` while it lives, else
/// its path, if it names the same file here (true: by path, which cannot
/// prove the content is what ran).
fn open_exec(
    h: &CaptureHeader,
    path: &[u8],
    ours: bool,
    ctime: Option<u64>,
) -> io::Result<(File, bool)> {
    let proc = format!("/proc/{}/exe", h.pid);
    let same = |f: File| same_file(f, h, ctime);
    // The proc link is the kernel's own: it is the one link followed.
    match open_regular(CWD, proc.as_str(), false, ResolveFlag::empty()).and_then(same) {
        Ok(f) => Ok((f, false)),
        Err(_) if ours && path.starts_with(b"/") => Ok((
            open_regular(CWD, OsStr::from_bytes(path), true, NO_LINKS).and_then(same)?,
            true,
        )),
        Err(_) => Err(io::Error::other(
            "the process was gone and its path is not ours to read",
        )),
    }
}

/// finit_module's file: its path under the process's root while it lives,
/// else the path here if the process shared our mount namespace.
fn open_module(h: &CaptureHeader, path: &[u8], ours: bool) -> io::Result<(File, bool)> {
    let p = OsStr::from_bytes(path);
    let root = format!("/proc/{}/root", h.pid);
    // O_PATH opens the directory itself, to resolve the path under it.
    let dir = open(
        root.as_str(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    );
    if let Ok(dir) = dir {
        let r = open_regular(
            dir.as_fd(),
            p,
            true,
            NO_LINKS | ResolveFlag::RESOLVE_IN_ROOT,
        )
        .and_then(|f| same_file(f, h, None));
        if r.is_ok() || !ours {
            return r.map(|f| (f, false));
        }
    }
    if !ours {
        return Err(io::Error::other("the process was gone"));
    }
    let f = open_regular(CWD, p, true, NO_LINKS).and_then(|f| same_file(f, h, None))?;
    Ok((f, true))
}

const NO_LINKS: ResolveFlag =
    ResolveFlag::RESOLVE_NO_SYMLINKS.union(ResolveFlag::RESOLVE_NO_MAGICLINKS);
/// Paths relative to the working directory.
const CWD: BorrowedFd<'static> = AT_FDCWD;

/// Opens `path` (relative to `dir`) for reading as a regular file: never
/// blocking on a FIFO or device, never taking a terminal, following no
/// symlink at its end when `nofollow` and none on the way per `resolve`.
pub fn open_regular(
    dir: BorrowedFd<'_>,
    path: &(impl NixPath + ?Sized),
    nofollow: bool,
    resolve: ResolveFlag,
) -> io::Result<File> {
    let mut fl = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    if nofollow {
        fl |= OFlag::O_NOFOLLOW;
    }
    let how = OpenHow::new().flags(fl).resolve(resolve);
    let f = File::from(openat2(dir, path, how)?);
    if !f.metadata()?.file_type().is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(f)
}

/// `f` if it is the file the kernel named (its dev_t and inode) and, given
/// its ctime then, unchanged since: rewritten in place after it ran, it is
/// no longer the executable that ran.
fn same_file(f: File, h: &CaptureHeader, ctime: Option<u64>) -> io::Result<File> {
    let m = f.metadata()?;
    let kdev = major(m.dev()) << 20 | minor(m.dev());
    if m.ino() != h.ino || kdev != h.dev as u64 {
        return Err(io::Error::other("a different file is there now"));
    }
    let now = (m.ctime() as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(m.ctime_nsec() as u64);
    if ctime.is_some_and(|t| t != now) {
        return Err(io::Error::other("the file has changed since it ran"));
    }
    Ok(f)
}

/// Each user's budget of file bytes read (a token bucket per uid).
#[derive(Default)]
pub struct Budget {
    users: HashMap<u32, (u64, Instant)>,
    /// Users told once that their budget ran out.
    told: std::collections::HashSet<u32>,
}

impl Budget {
    /// Takes up to `want` bytes of `uid`'s budget; returns how many.
    pub fn take(&mut self, uid: u32, want: u64) -> u64 {
        let now = Instant::now();
        let (left, at) = self.users.entry(uid).or_insert((BUDGET_BURST, now));
        let refill = (now.duration_since(*at).as_secs_f64() * BUDGET_RATE as f64) as u64;
        if refill > 0 {
            *left = (*left + refill).min(BUDGET_BURST);
            *at = now;
        }
        let n = want.min(*left);
        *left -= n;
        n
    }
}

/// Sends `file` as the chunks of the object `h` names, skipping holes,
/// then its last record (incomplete if it could not be read whole).
/// Returns whether it was read whole.
fn send_file(
    queue: &Queue,
    mut h: CaptureHeader,
    file: Option<&File>,
    budget: &mut Budget,
    job: &FileJob,
) -> bool {
    let mut missing = file.is_none();
    let mut size = 0;
    if let Some(f) = file {
        size = f.metadata().map(|m| m.len()).unwrap_or(0);
        match send_extents(queue, &mut h, f, size, budget) {
            Ok(true) => {}
            Ok(false) => missing = true,
            Err(why) => {
                missing = true;
                if why == Cut::Budget && budget.told.insert(h.uid) {
                    eprintln!(
                        "tracee-collect: {} cut: uid {} read more than {} MiB of files in a burst \
                         (budget per user; later files of this user are cut too until it refills)",
                        job.describe(),
                        h.uid,
                        BUDGET_BURST >> 20
                    );
                } else if why == Cut::Large {
                    eprintln!(
                        "tracee-collect: {} cut at {} MiB of data",
                        job.describe(),
                        FILE_MAX >> 20
                    );
                }
            }
        }
    }
    // The last record's offset is the object's whole size, holes included.
    h.flags |= flags::LAST | flags::LOST;
    h.off = size;
    h.len = u32::from(missing);
    queue.put_waiting(&h, &[]) && !missing
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cut {
    Budget,
    Large,
}

/// Sends the data extents of `f`; Ok(false) if reading failed or the
/// sidecar gave up, Err if a bound cut it.
fn send_extents(
    queue: &Queue,
    h: &mut CaptureHeader,
    f: &File,
    size: u64,
    budget: &mut Budget,
) -> Result<bool, Cut> {
    let mut chunk = vec![0u8; MAX_CHUNK];
    let mut at = 0u64;
    let mut data_read = 0u64;
    while at < size {
        let Some((start, end)) = tracee_cli::sparse::next_extent(f, at, size) else {
            break;
        };
        let mut pos = start;
        while pos < end {
            if queue.shared.stop.load(Ordering::Acquire) {
                return Ok(false);
            }
            let want = (end - pos).min(MAX_CHUNK as u64);
            if data_read + want > FILE_MAX {
                return Err(Cut::Large);
            }
            let got = budget.take(h.uid, want);
            if got < want {
                return Err(Cut::Budget);
            }
            let n = match f.read_at(&mut chunk[..want as usize], pos) {
                Ok(0) | Err(_) => return Ok(false),
                Ok(n) => n,
            };
            h.off = pos;
            h.len = n as u32;
            if !queue.put_waiting(h, &chunk[..n]) {
                return Ok(false);
            }
            pos += n as u64;
            data_read += n as u64;
        }
        at = end;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(uid: u32, n: u32) -> FileJob {
        FileJob {
            what: FileKind::Exec,
            h: CaptureHeader {
                uid,
                pid: n,
                ..Default::default()
            },
            path: vec![],
            ours: true,
            ctime: None,
        }
    }

    /// One user's flood waits behind that user alone: the queue takes
    /// from each user in turn, and refuses a user's jobs past its share.
    #[test]
    fn users_take_turns_and_a_flood_is_refused_past_its_share() {
        let q = FairQueue::default();
        for n in 0..JOBS_PER_USER as u32 {
            assert!(q.push(job(65534, n)).is_ok());
        }
        assert!(q.push(job(65534, 999)).is_err(), "past the share");
        assert!(q.push(job(0, 1)).is_ok());
        assert!(q.push(job(0, 2)).is_ok());
        q.close();
        let order: Vec<(u32, u32)> = std::iter::from_fn(|| q.pop())
            .map(|j| (j.h.uid, j.h.pid))
            .take(5)
            .collect();
        assert_eq!(order, [(65534, 0), (0, 1), (65534, 1), (0, 2), (65534, 2)]);
        let rest = std::iter::from_fn(|| q.pop()).count();
        assert_eq!(rest, JOBS_PER_USER - 3);
    }
}
