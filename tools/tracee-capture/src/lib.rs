//! Writes the artifacts carried by tracee-collect's capture sidecar into
//! Tracee's output directory layout:
//!
//! ```text
//! DIR/out/host/write.dev-D.inode-I          bytes written to a file, at their offsets
//! DIR/out/host/read.dev-D.inode-I           bytes read from a file
//! DIR/out/host/exec.<ts>.<basename>         an executed binary, once per content
//! DIR/out/host/bin.pid-P.ts-T               a memory region made executable
//! DIR/out/host/module.pid-P.<sha256>        a kernel module image
//! DIR/out/host/bpf.name-N.pid-P.<sha256>    a BPF program's instructions
//! DIR/out/index.jsonl                       one line per artifact
//! ```
//!
//! Every file is created relative to a directory descriptor with
//! `O_NOFOLLOW`, so a symlink planted at an artifact's name is refused, not
//! followed, and every directory and file of the tree must be the running
//! user's and writable by no one else ([`dir`]); every name built from a
//! comm, path or program name is sanitised to one bounded path component.
//!
//! Work per artifact is bounded by what was captured, not by where it was
//! placed, and what one user does costs that user ([`capture`]): with
//! `--max-size`, no single user (uid) may fill more than half of the
//! budget, so that a flood by one user leaves room for everyone else's
//! artifacts.

pub mod capture;
pub mod dir;
mod open_files;
pub mod pcap;

use std::io;
use std::path::PathBuf;

pub use capture::Capture;
use wire::capture::{CaptureHeader, artifact};
use wire::kind;
use wire::reader::{StreamError, StreamReader};

/// Options from the command line.
pub struct Options {
    pub dir: PathBuf,
    pub clear: bool,
    /// Most bytes of artifacts written, if set.
    pub max_size: Option<u64>,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Summary {
    pub artifacts: u64,
    pub bytes: u64,
    pub incomplete: u64,
    pub stopped: bool,
    /// Chunks the kernel could not pass on.
    pub lost_chunks: u64,
    /// Artifacts that could not be made (refused, no room).
    pub skipped: u64,
    /// Artifacts a write to failed (the file system refused it).
    pub failed: u64,
    /// Network packets received, of them with an unknown owner, and those
    /// not written (the budget).
    pub packets: u64,
    pub packets_unknown: u64,
    pub packets_dropped: u64,
}

/// Why a run ended badly.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The output directory could not be set up or written.
    #[error("{0}: {1}")]
    Io(String, io::Error),
    /// The input is not a valid capture stream.
    #[error("{0}")]
    Stream(StreamError),
}

/// One path component made from untrusted bytes: no `/`, no NUL, no
/// control or invisible formatting characters (`wire::text::is_unsafe`),
/// never `.` or `..`, at most `max` bytes.
pub fn sanitize(b: &[u8], max: usize) -> String {
    let b = b.split(|&c| c == 0).next().unwrap_or(&[]);
    let mut s: String = String::from_utf8_lossy(b)
        .chars()
        .map(|c| {
            if c == '/' || c.is_control() || c == '\\' || wire::text::is_unsafe(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    while s.len() > max {
        s.pop();
    }
    if s.is_empty() || s.chars().all(|c| c == '.') {
        s = s.replace('.', "_");
        if s.is_empty() {
            s.push('_');
        }
    }
    s
}

fn kind_name(a: u8) -> &'static str {
    match a {
        artifact::WRITE => "write",
        artifact::READ => "read",
        artifact::EXEC => "exec",
        artifact::MEM => "mem",
        artifact::MODULE => "module",
        artifact::PACKET => "pcap",
        _ => "bpf",
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Reads a capture stream from `input` into the directory. A bad stream
/// still leaves what came before it on disk, indexed.
pub fn run(input: impl io::Read, o: &Options) -> Result<Summary, Error> {
    let mut r = StreamReader::new(input).map_err(Error::Stream)?;
    let mut c = Capture::new(o, r.preamble().boot_epoch_ns)?;
    // The input reached its end record.
    let mut ended = false;
    let res = loop {
        let rec = match r.next_record(&mut || Ok(())) {
            Ok(Some(rec)) => rec,
            Ok(None) => break Ok(()),
            Err(e) => break Err(Error::Stream(e)),
        };
        match rec.kind() {
            kind::CAPTURE => match CaptureHeader::from_record(rec) {
                Ok((h, p)) => {
                    if let Err(e) = c.record(&h, p) {
                        break Err(e);
                    }
                }
                Err(e) => break Err(Error::Stream(StreamError::Decode(e))),
            },
            kind::LOST => c.lost(wire::LostBody::from_record(rec).count),
            kind::CONTAINER => match wire::container::Container::from_record(rec) {
                Ok(k) => c.container(k),
                Err(e) => break Err(Error::Stream(StreamError::Decode(e))),
            },
            kind::END => {
                ended = true;
                break Ok(());
            }
            _ => {}
        }
    };
    if !ended && res.is_ok() && c.open_files() > 0 {
        eprintln!(
            "tracee-capture: the sidecar ended without its end record (its writer was killed or \
             gave up): {} file artifacts still open are marked incomplete",
            c.open_files()
        );
    }
    let fin = c.finish(ended);
    res?;
    fin?;
    Ok(std::mem::take(&mut c.summary))
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn names_from_untrusted_bytes_are_one_bounded_component() {
        assert_eq!(sanitize(b"../../x", 64), ".._.._x");
        assert_eq!(sanitize(b"..", 64), "__");
        assert_eq!(sanitize(b".", 64), "_");
        assert_eq!(sanitize(b"", 64), "_");
        assert_eq!(sanitize(b"a/b\\c\n\0tail", 64), "a_b_c_");
        assert_eq!(sanitize(b"ls\0\0\0", 64), "ls");
        assert_eq!(sanitize(&[b'x'; 300], 64).len(), 64);
        assert_eq!(sanitize(b"\xff\xfe", 64), "\u{fffd}\u{fffd}");
        for s in ["../../x", "/etc/passwd", "..", "a/../../b"] {
            let n = sanitize(s.as_bytes(), 64);
            assert!(!n.contains('/') && n != "." && n != "..", "{s} -> {n}");
        }
    }
}
