//! Standard output for the tools: block-buffered on a pipe, line-buffered on
//! a terminal, and never holding bytes longer than [`MAX_DELAY`].

use std::format;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The longest a written byte may wait in the buffer.
pub const MAX_DELAY: Duration = Duration::from_millis(100);

/// The monotonic clock at tick resolution (a few ms, far below
/// [`MAX_DELAY`]): read once per unit written, where the precise clock's
/// vDSO call cost a few percent of tracee-fmt's time.
fn coarse_now() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill; CLOCK_MONOTONIC_COARSE cannot fail
    // on Linux (on failure t stays zero, which only flushes sooner).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

pub struct Out {
    sink: Sink,
    tty: bool,
    /// When the oldest unflushed unit was written, by [`coarse_now`].
    oldest: Option<Duration>,
}

enum Sink {
    Fd(io::BufWriter<RawStdout>),
    /// The shared-memory ring: memory, so nothing to buffer.
    Ring(crate::ring::RingWriter),
}

impl Out {
    pub fn stdout() -> Out {
        // SAFETY: isatty only inspects the descriptor.
        let tty = unsafe { libc::isatty(1) } == 1;
        Out {
            sink: Sink::Fd(io::BufWriter::with_capacity(
                256 * 1024,
                RawStdout { stop: None },
            )),
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
    /// SA_RESTART (see [`on_stop_signals`]) so that a blocked write returns.
    pub fn give_up_after_stop(mut self, flag: &'static AtomicBool, grace: Duration) -> Out {
        match &mut self.sink {
            Sink::Fd(w) => w.get_mut().stop = Some((flag, grace)),
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
        w.write_all(b)?;
        if self.tty {
            return w.flush();
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
            let mut p = libc::pollfd {
                fd: 1,
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut p, 1, left.as_millis() as i32) };
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
            // SAFETY: writing from a valid buffer of `len` bytes.
            let n = unsafe { libc::write(1, b.as_ptr().cast(), len) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            // Interrupted by a signal: look at the stop flag again.
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Installs `handler` for SIGINT and SIGTERM without SA_RESTART, so that a
/// write blocked on a stuck reader returns and the stop is seen.
pub fn on_stop_signals(handler: extern "C" fn(libc::c_int)) {
    // SAFETY: a zeroed sigaction with a handler and an empty mask is valid.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = 0;
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
    }
}

/// A tool downstream of a pipe keeps reading when the terminal's Ctrl-C
/// reaches the whole pipeline: the collector upstream stops on it, drains,
/// and ends the stream, and what it drained must still be printed. With
/// input from a file or a terminal, Ctrl-C stops the tool as usual.
pub fn ignore_sigint_when_piped() {
    use std::os::unix::fs::FileTypeExt;
    if std::fs::metadata("/proc/self/fd/0").is_ok_and(|m| m.file_type().is_fifo()) {
        // SAFETY: setting a signal's disposition to ignore.
        unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    }
}

/// True if the error means the reader went away: a clean stop, not a failure.
pub fn is_broken_pipe(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
}
