//! Signal and broken-pipe policy, the same in every tool.
//!
//! - A reader that goes away (EPIPE) is a clean stop, not a failure
//!   ([`is_broken_pipe`]); SIGPIPE is ignored by Rust's runtime already.
//! - The collector stops on SIGINT and SIGTERM, drains, and ends the stream
//!   ([`stop_flag`]); a write blocked on a stuck reader must return for
//!   the stop to be seen, so the handler is installed without SA_RESTART.
//! - A tool downstream of a pipe ignores SIGINT
//!   ([`ignore_sigint_when_piped`]): the terminal's Ctrl-C reaches the
//!   whole pipeline, and what the collector drains must still be printed.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction, signal};

/// True if the error means the reader went away: a clean stop, not a failure.
#[inline]
pub fn is_broken_pipe(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
}

/// What a write came to: `Ok(true)` if the reader has gone (a clean stop),
/// `Ok(false)` if it was written, and any other failure as it was.
#[inline]
pub fn reader_gone(r: io::Result<()>) -> io::Result<bool> {
    match r {
        Ok(()) => Ok(false),
        Err(e) if is_broken_pipe(&e) => Ok(true),
        Err(e) => Err(e),
    }
}

/// `r`, with a reader that has gone counted as success: for a flush or an
/// end whose only reader may already have stopped reading.
#[inline]
pub fn ignore_broken_pipe(r: io::Result<()>) -> io::Result<()> {
    reader_gone(r).map(|_| ())
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_: i32) {
    STOP.store(true, Ordering::SeqCst);
}

/// Sets the returned flag on SIGINT and SIGTERM. The handler is installed
/// without SA_RESTART, so that a write blocked on a stuck reader returns
/// EINTR and the stop is seen. (signal-hook's handlers restart
/// interrupted calls, which would leave that write blocked: this is the one
/// handler installed by hand.)
pub fn stop_flag() -> &'static AtomicBool {
    let act = SigAction::new(
        SigHandler::Handler(on_stop),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe.
        let _ = unsafe { sigaction(sig, &act) };
    }
    &STOP
}

/// A tool downstream of a pipe keeps reading when the terminal's Ctrl-C
/// reaches the whole pipeline: the collector upstream stops on it, drains,
/// and ends the stream, and what it drained must still be printed. With
/// input from a file or a terminal, Ctrl-C stops the tool as usual.
pub fn ignore_sigint_when_piped() {
    use std::os::unix::fs::FileTypeExt;
    if std::fs::metadata("/proc/self/fd/0").is_ok_and(|m| m.file_type().is_fifo()) {
        // SAFETY: setting a disposition to ignore installs no handler.
        let _ = unsafe { signal(Signal::SIGINT, SigHandler::SigIgn) };
    }
}
