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

mod layout;
mod reader;
#[cfg(test)]
mod tests;
mod writer;

use std::io::{self, Read};
use std::path::Path;
use std::time::Duration;

pub use layout::{DEFAULT_CAPACITY, HEADER_LEN, MAGIC, MIN_CAPACITY, VERSION};
pub use reader::RingReader;
pub use writer::RingWriter;

/// The path in a `ring:PATH` argument, if it is one.
pub fn parse_spec(s: &str) -> Option<&Path> {
    s.strip_prefix("ring:").map(Path::new)
}

/// What the producer does when the ring is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
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

/// How long a reader waits for the producer to create the ring, so that
/// the two sides of a pipeline may start in either order.
pub const ATTACH_WAIT: Duration = Duration::from_secs(5);

/// Stdin, or the ring named by a `ring:PATH` spec (`--input`).
pub fn open_input(spec: Option<&str>) -> io::Result<std::boxed::Box<dyn Read>> {
    match spec {
        None | Some("-") => {
            crate::out::grow_pipe(io::stdin(), crate::out::PIPE_BYTES);
            Ok(std::boxed::Box::new(io::stdin().lock()))
        }
        Some(s) => match parse_spec(s) {
            Some(p) => Ok(std::boxed::Box::new(RingReader::open(p, ATTACH_WAIT)?)),
            None => Err(layout::err(
                io::ErrorKind::InvalidInput,
                format!("--input '{s}': expected ring:PATH or - (stdin)"),
            )),
        },
    }
}

/// A ring size argument: a power of two from MIN_CAPACITY to 4G, with an
/// optional K, M or G suffix.
pub fn parse_capacity(s: &str) -> Option<u64> {
    crate::size::power_of_two(s, MIN_CAPACITY, 1 << 32)
}
