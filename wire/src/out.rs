//! Standard output for the tools: block-buffered on a pipe, line-buffered on
//! a terminal, and never holding bytes longer than [`MAX_DELAY`].

use std::fs::File;
use std::io::{self, Write};
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

/// The longest a written byte may wait in the buffer.
pub const MAX_DELAY: Duration = Duration::from_millis(100);

pub struct Out {
    w: io::BufWriter<RawStdout>,
    tty: bool,
    oldest: Option<Instant>,
}

impl Out {
    pub fn stdout() -> Out {
        // SAFETY: fd 1 stays open for the life of the process; ManuallyDrop
        // keeps us from closing it.
        let f = ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
        let tty = unsafe { libc_isatty(1) };
        Out {
            w: io::BufWriter::with_capacity(256 * 1024, RawStdout(f)),
            tty,
            oldest: None,
        }
    }

    pub fn is_tty(&self) -> bool {
        self.tty
    }

    /// Writes one unit (a record, a line). On a terminal a unit is flushed
    /// at once; on a pipe it waits at most [`MAX_DELAY`].
    pub fn write_unit(&mut self, b: &[u8]) -> io::Result<()> {
        self.w.write_all(b)?;
        if self.tty {
            return self.w.flush();
        }
        match self.oldest {
            None => self.oldest = Some(Instant::now()),
            Some(t) if t.elapsed() >= MAX_DELAY => self.flush()?,
            Some(_) => {}
        }
        Ok(())
    }

    /// Flushes if something has waited too long; for callers with a timer.
    pub fn flush_if_due(&mut self) -> io::Result<()> {
        match self.oldest {
            Some(t) if t.elapsed() >= MAX_DELAY => self.flush(),
            _ => Ok(()),
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.oldest = None;
        self.w.flush()
    }
}

/// fd 1 without std's own line buffering, never closed by us.
struct RawStdout(ManuallyDrop<File>);

impl Write for RawStdout {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        (&*self.0).write(b)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

unsafe extern "C" {
    fn isatty(fd: i32) -> i32;
    fn signal(sig: i32, handler: usize) -> usize;
}

/// A tool downstream of a pipe keeps reading when the terminal's Ctrl-C
/// reaches the whole pipeline: the collector upstream stops on it, drains,
/// and ends the stream, and what it drained must still be printed. With
/// input from a file or a terminal, Ctrl-C stops the tool as usual.
pub fn ignore_sigint_when_piped() {
    use std::os::unix::fs::FileTypeExt;
    const SIGINT: i32 = 2;
    const SIG_IGN: usize = 1;
    if std::fs::metadata("/proc/self/fd/0").is_ok_and(|m| m.file_type().is_fifo()) {
        // SAFETY: setting a signal's disposition to ignore.
        unsafe { signal(SIGINT, SIG_IGN) };
    }
}

unsafe fn libc_isatty(fd: i32) -> bool {
    unsafe { isatty(fd) == 1 }
}

/// True if the error means the reader went away: a clean stop, not a failure.
pub fn is_broken_pipe(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
}
