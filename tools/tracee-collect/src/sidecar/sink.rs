//! The sidecar's descriptor and the records waiting for it. On a pipe it
//! writes only whole records that fit in the pipe's free room, without
//! blocking, so the sidecar always ends between two records.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

// FIONREAD: bytes unread in a pipe.
nix::ioctl_read_bad!(fionread, nix::libc::FIONREAD, nix::libc::c_int);

/// The sidecar's descriptor and the whole records waiting for it.
pub(super) struct Sink {
    f: File,
    /// The pipe's capacity, when it is a pipe (then non-blocking).
    pipe: Option<usize>,
    buf: std::collections::VecDeque<Vec<u8>>,
    bytes: usize,
}

impl Sink {
    pub(super) fn new(f: File) -> Sink {
        let size = fcntl(&f, FcntlArg::F_GETPIPE_SZ).unwrap_or(0);
        let pipe = (size > 0).then(|| {
            let fl = fcntl(&f, FcntlArg::F_GETFL).unwrap_or(0);
            let fl = OFlag::from_bits_truncate(fl) | OFlag::O_NONBLOCK;
            let _ = fcntl(&f, FcntlArg::F_SETFL(fl));
            size as usize
        });
        Sink {
            f,
            pipe,
            buf: Default::default(),
            bytes: 0,
        }
    }
    pub(super) fn push(&mut self, b: Vec<u8>) {
        self.bytes += b.len();
        self.buf.push_back(b);
    }
    pub(super) fn pending(&self) -> usize {
        self.bytes
    }
    pub(super) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    pub(super) fn clear(&mut self) {
        self.buf.clear();
        self.bytes = 0;
    }

    /// Writes what it can now (on a pipe: the whole records that fit), or
    /// waits a little for the reader if nothing fits.
    pub(super) fn write_some(&mut self) -> std::io::Result<()> {
        let Some(cap) = self.pipe else {
            // A file or socket: plain blocking writes.
            while let Some(b) = self.buf.pop_front() {
                self.bytes -= b.len();
                self.f.write_all(&b)?;
            }
            return Ok(());
        };
        let mut unread: nix::libc::c_int = 0;
        // SAFETY: FIONREAD writes one int, into `unread`, for our open pipe.
        if unsafe { fionread(self.f.as_raw_fd(), &mut unread) }.is_err() {
            unread = cap as nix::libc::c_int;
        }
        // The pipe holds pages: the unread bytes take at most one page
        // more than they fill (a half-read head and a half-filled tail),
        // and what is free past them is certain room, so a write that fits
        // it goes in whole.
        let used_pages = (unread.max(0) as usize).div_ceil(4096) + 1;
        let mut free = cap.saturating_sub(used_pages * 4096);
        let mut batch: Vec<u8> = Vec::new();
        while let Some(b) = self.buf.front() {
            if b.len() > free {
                break;
            }
            free -= b.len();
            let b = self.buf.pop_front().expect("front exists");
            self.bytes -= b.len();
            if batch.is_empty() && self.buf.front().is_none_or(|n| n.len() > free) {
                batch = b;
                break;
            }
            batch.extend_from_slice(&b);
        }
        if batch.is_empty() {
            // Nothing fits: wait until the reader takes some (or a while).
            let _ = poll(
                &mut [PollFd::new(self.f.as_fd(), PollFlags::POLLOUT)],
                PollTimeout::from(20u8),
            );
            std::thread::sleep(Duration::from_millis(1));
            return Ok(());
        }
        let mut at = 0;
        while at < batch.len() {
            match nix::unistd::write(&self.f, &batch[at..]) {
                Ok(n) => at += n,
                // The room was measured a moment ago and only the reader
                // changes it (by making more): a rare spurious wait.
                Err(Errno::EAGAIN | Errno::EINTR) => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
