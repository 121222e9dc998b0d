//! Standard output for the tools: block-buffered on a pipe, line-buffered on
//! a terminal, and never holding bytes longer than [`MAX_DELAY`].

use std::format;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::clock::coarse_now;

/// The longest a written byte may wait in the buffer.
pub const MAX_DELAY: Duration = Duration::from_millis(100);

/// What the tools grow the pipes they read and write to (the default
/// limit for an unprivileged user, `/proc/sys/fs/pipe-max-size`): a wide
/// pipe takes a burst while its reader catches up, and moves more per
/// wake-up. Its pages are taken only while it holds data.
pub const PIPE_BYTES: usize = 1 << 20;

/// Grows the pipe on `fd` to hold at least `want` bytes, as far as the
/// kernel lets us (an unprivileged process up to pipe-max-size). Returns
/// the pipe's size after, or None if `fd` is not a pipe.
pub fn grow_pipe(fd: impl AsFd, want: usize) -> Option<usize> {
    use nix::fcntl::{FcntlArg, fcntl};
    let fd = fd.as_fd();
    let now = fcntl(fd, FcntlArg::F_GETPIPE_SZ).ok()? as usize;
    if now >= want {
        return Some(now);
    }
    let want = i32::try_from(want).unwrap_or(i32::MAX);
    match fcntl(fd, FcntlArg::F_SETPIPE_SZ(want)) {
        Ok(n) => Some(n as usize),
        // Above the limit (EPERM) or the user's pipe pages (EPERM too):
        // the limit may still be more than we have.
        Err(_) => {
            let max = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
                .unwrap_or(0);
            if max as usize > now {
                let _ = fcntl(fd, FcntlArg::F_SETPIPE_SZ(max.min(want)));
            }
            fcntl(fd, FcntlArg::F_GETPIPE_SZ).ok().map(|n| n as usize)
        }
    }
}

pub struct Out {
    sink: Sink,
    tty: bool,
    /// When the oldest unflushed unit was written, by [`coarse_now`].
    oldest: Option<Duration>,
}

/// How much [`Out`] gathers before it writes to a pipe or file.
const BUFFER: usize = 256 * 1024;

enum Sink {
    Fd(FdSink),
    /// The shared-memory ring: memory, so nothing to buffer.
    Ring(crate::ring::RingWriter),
}

impl Out {
    pub fn stdout() -> Out {
        let tty = nix::unistd::isatty(io::stdout()).unwrap_or(false);
        grow_pipe(io::stdout(), PIPE_BYTES);
        Out {
            sink: Sink::Fd(FdSink {
                buf: Vec::with_capacity(BUFFER),
                w: RawStdout { stop: None },
            }),
            tty,
            oldest: None,
        }
    }

    /// Output into a new shared-memory ring at `path` (`--output ring:PATH`).
    pub fn ring(
        path: &std::path::Path,
        capacity: u64,
        when_full: crate::ring::WhenFull,
    ) -> io::Result<Out> {
        Ok(Out {
            sink: Sink::Ring(crate::ring::RingWriter::create(path, capacity, when_full)?),
            tty: false,
            oldest: None,
        })
    }

    /// Stdout, or the ring named by a `ring:PATH` spec.
    pub fn to_spec(
        spec: Option<&str>,
        capacity: u64,
        when_full: crate::ring::WhenFull,
    ) -> io::Result<Out> {
        match spec.map(|s| (s, crate::ring::parse_spec(s))) {
            None | Some(("-", _)) => Ok(Out::stdout()),
            Some((_, Some(p))) => Out::ring(p, capacity, when_full),
            Some((s, None)) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("--output '{s}': expected ring:PATH or - (stdout)"),
            )),
        }
    }

    /// The process reading our ring, once attached.
    pub fn ring_reader(&self) -> Option<u32> {
        match &self.sink {
            Sink::Ring(r) => r.consumer_pid(),
            Sink::Fd(_) => None,
        }
    }

    /// Events the ring dropped because its reader lagged (0 on a pipe: a
    /// pipe makes the writer wait instead).
    pub fn dropped(&self) -> u64 {
        match &self.sink {
            Sink::Ring(r) => r.dropped(),
            Sink::Fd(_) => 0,
        }
    }

    /// Ends the output: on a ring, the reader sees the end of the stream
    /// once it has read everything. Dropping does the same.
    pub fn end(&mut self) -> io::Result<()> {
        self.flush()?;
        match &mut self.sink {
            Sink::Ring(r) => r.end(),
            Sink::Fd(_) => Ok(()),
        }
    }

    /// Once `flag` is set, a reader that takes no byte for `grace` makes
    /// writes fail with [`io::ErrorKind::TimedOut`] instead of blocking for
    /// ever: a stop signal then ends the program even when downstream is
    /// stuck. The flag's signal handler must be installed without
    /// SA_RESTART (see [`crate::signals::stop_flag`]) so that a blocked write returns.
    pub fn give_up_after_stop(mut self, flag: &'static AtomicBool, grace: Duration) -> Out {
        match &mut self.sink {
            Sink::Fd(w) => w.w.stop = Some((flag, grace)),
            Sink::Ring(r) => r.give_up_after_stop(flag, grace),
        }
        self
    }

    pub fn is_tty(&self) -> bool {
        self.tty
    }

    /// Writes one unit (a record, a line). On a terminal a unit is flushed
    /// at once; on a pipe it waits at most [`MAX_DELAY`].
    pub fn write_unit(&mut self, b: &[u8]) -> io::Result<()> {
        let w = match &mut self.sink {
            Sink::Fd(w) => w,
            Sink::Ring(r) => return r.write_unit(b),
        };
        if w.buf.len() + b.len() > BUFFER {
            w.flush()?;
        }
        if b.len() >= BUFFER {
            w.w.write_all(b)?;
        } else {
            w.buf.extend_from_slice(b);
        }
        self.written()
    }

    /// Writes one unit that `f` appends to the buffer it is given (it
    /// must append, never change what is there): formatted in place, not
    /// built elsewhere and copied.
    pub fn write_with(&mut self, f: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        match &mut self.sink {
            Sink::Fd(w) => {
                f(&mut w.buf);
                if w.buf.len() >= BUFFER {
                    w.flush()?;
                }
                self.written()
            }
            Sink::Ring(r) => {
                let mut b = Vec::new();
                f(&mut b);
                r.write_unit(&b)
            }
        }
    }

    /// After a unit went into the buffer: on a terminal it goes out at
    /// once; on a pipe it waits at most [`MAX_DELAY`].
    fn written(&mut self) -> io::Result<()> {
        if self.tty {
            return self.flush();
        }
        match self.oldest {
            None => self.oldest = Some(coarse_now()),
            Some(t) if coarse_now().saturating_sub(t) >= MAX_DELAY => self.flush()?,
            Some(_) => {}
        }
        Ok(())
    }

    /// Flushes if something has waited too long; for callers with a timer.
    pub fn flush_if_due(&mut self) -> io::Result<()> {
        if let Sink::Ring(r) = &mut self.sink {
            return r.check_if_due();
        }
        match self.oldest {
            Some(t) if coarse_now().saturating_sub(t) >= MAX_DELAY => self.flush(),
            _ => Ok(()),
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.oldest = None;
        match &mut self.sink {
            Sink::Fd(w) => w.flush(),
            Sink::Ring(r) => r.check_if_due(),
        }
    }
}

/// Stdout's buffer and stdout.
struct FdSink {
    buf: Vec<u8>,
    w: RawStdout,
}

impl FdSink {
    /// Writes out the buffer; on an error, what was not written stays.
    fn flush(&mut self) -> io::Result<()> {
        let mut done = 0;
        let r = loop {
            if done == self.buf.len() {
                break Ok(());
            }
            match self.w.write(&self.buf[done..]) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.buf.drain(..done);
        r
    }
}

/// fd 1 without std's own line buffering, never closed by us.
struct RawStdout {
    stop: Option<(&'static AtomicBool, Duration)>,
}

impl RawStdout {
    /// After a stop: waits until fd 1 takes bytes, at most the grace.
    /// Returns how many bytes a write may then carry without blocking on a
    /// pipe (a pipe with room takes at least one page).
    fn room_after_stop(&self, want: usize) -> io::Result<usize> {
        let Some((flag, grace)) = self.stop else {
            return Ok(want);
        };
        if !flag.load(Ordering::SeqCst) {
            return Ok(want);
        }
        let deadline = Instant::now() + grace;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let stdout = io::stdout();
            let mut p = [PollFd::new(stdout.as_fd(), PollFlags::POLLOUT)];
            let ms = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
                .unwrap_or(PollTimeout::MAX);
            let n = poll(&mut p, ms).unwrap_or(-1);
            if n > 0 {
                return Ok(want.min(4096));
            }
            if n == 0 || left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the reader of stdout took nothing for {}s after the stop signal; \
                         the rest of the stream is not written",
                        grace.as_secs_f32()
                    ),
                ));
            }
        }
    }
}

impl Write for RawStdout {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        loop {
            let len = self.room_after_stop(b.len())?;
            match nix::unistd::write(io::stdout(), &b[..len]) {
                Ok(n) => return Ok(n),
                // Interrupted by a signal: look at the stop flag again.
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipes_grow_and_other_files_are_left_alone() {
        let (r, w) = nix::unistd::pipe().unwrap();
        assert_eq!(grow_pipe(&w, 4096), Some(64 * 1024), "already that big");
        let n = grow_pipe(&r, PIPE_BYTES).unwrap();
        assert!(n >= PIPE_BYTES, "grown to {n}");
        let f = std::fs::File::open("/proc/self/status").unwrap();
        assert_eq!(grow_pipe(&f, PIPE_BYTES), None);
    }
}
