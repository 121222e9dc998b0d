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
//! placed: a few bytes written at a 16 GiB offset make a sparse file, and
//! its hash is computed over its data only when its holes are small
//! ([`HASH_HOLES_MAX`]); otherwise the index says `"sha256": null` and
//! `"sparse": true`. With `--max-size`, no single user (uid) may fill more
//! than half of the budget, so that a flood by one user leaves room for
//! everyone else's artifacts.

pub mod dir;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use dir::Dir;

use sha2::{Digest, Sha256};
use wire::capture::{CaptureHeader, artifact, flags};
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
}

/// Why a run ended badly.
#[derive(Debug)]
pub enum Error {
    /// The output directory could not be set up or written.
    Io(String, io::Error),
    /// The input is not a valid capture stream.
    Stream(StreamError),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io(what, e) => write!(f, "{what}: {e}"),
            Error::Stream(e) => write!(f, "{e}"),
        }
    }
}

/// One path component made from untrusted bytes: no `/`, no NUL, no
/// control characters, never `.` or `..`, at most `max` bytes.
pub fn sanitize(b: &[u8], max: usize) -> String {
    let b = b.split(|&c| c == 0).next().unwrap_or(&[]);
    let mut s: String = String::from_utf8_lossy(b)
        .chars()
        .map(|c| {
            if c == '/' || c.is_control() || c == '\\' {
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
        _ => "bpf",
    }
}

/// An artifact being written.
struct Open {
    file: File,
    /// Name in the container directory (final for file contents,
    /// temporary for whole objects until their last chunk).
    name: String,
    kind: u8,
    /// Where appended bytes go next.
    end: u64,
    size: u64,
    complete: bool,
    pid: u32,
    uid: u32,
    comm: String,
    ts: u64,
    first: CaptureHeader,
}

/// The writer of one output directory.
pub struct Capture {
    host: Dir,
    index: File,
    boot_epoch_ns: u64,
    max_size: Option<u64>,
    files: HashMap<(u8, u32, u64), Open>,
    objects: HashMap<(u8, u32, u64), Open>,
    exec_seen: HashSet<[u8; 32]>,
    /// Artifacts that could not be opened (a planted symlink...): said
    /// once, then skipped.
    refused: HashSet<(u8, u32, u64)>,
    /// Bytes counted against --max-size, in all and per uid.
    budget_used: u64,
    budget_per_uid: HashMap<u32, u64>,
    /// Users whose share of the budget is spent.
    stopped_uids: HashSet<u32>,
    pub summary: Summary,
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let what = what.into();
    move |e| Error::Io(what, e)
}

/// Holes (bytes never written) an artifact may have and still be hashed:
/// hashing reads them as zeros, and a few bytes placed at a huge offset
/// must not cost minutes.
pub const HASH_HOLES_MAX: u64 = 64 << 20;

/// What the index says of an artifact's content: its hash, or that it is
/// too sparse to hash.
enum Content {
    Sha256([u8; 32]),
    Sparse,
}

impl Content {
    fn hex(&self) -> Option<String> {
        match self {
            Content::Sha256(d) => Some(hex(d)),
            Content::Sparse => None,
        }
    }
}

impl Capture {
    /// Sets up `DIR/out` (0700, created if missing, emptied with `clear`).
    /// DIR, out and host must be this user's and writable by no one else.
    pub fn new(o: &Options, boot_epoch_ns: u64) -> Result<Capture, Error> {
        let d = &o.dir;
        let shown = d.display();
        match std::fs::symlink_metadata(d) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::Io(
                    format!("{shown}"),
                    io::Error::other("is a symlink; refusing to write through it"),
                ));
            }
            Ok(_) => {}
            Err(_) => {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(d)
                    .map_err(io_err(format!("creating {shown}")))?;
            }
        }
        let top = Dir::open_path(d).map_err(io_err(format!("{shown}")))?;
        if o.clear {
            let out = d.join("out");
            // A symlink planted at out is removed, not followed; and
            // remove_dir_all does not follow symlinks inside. (DIR is ours,
            // so what is in it is ours to remove.)
            let r = match std::fs::symlink_metadata(&out) {
                Ok(m) if m.file_type().is_symlink() => std::fs::remove_file(&out),
                Ok(_) => std::fs::remove_dir_all(&out),
                Err(_) => Ok(()),
            };
            r.map_err(io_err(format!("clearing {}", out.display())))?;
        }
        let out = top.subdir("out").map_err(io_err(format!("{shown}/out")))?;
        let host = out
            .subdir("host")
            .map_err(io_err(format!("{shown}/out/host")))?;
        let mut index = out
            .file("index.jsonl", false)
            .map_err(io_err(format!("{shown}/out/index.jsonl")))?;
        use std::io::Seek;
        index
            .seek(io::SeekFrom::End(0))
            .map_err(io_err("index.jsonl"))?;
        Ok(Capture {
            host,
            index,
            boot_epoch_ns,
            max_size: o.max_size,
            files: HashMap::new(),
            objects: HashMap::new(),
            exec_seen: HashSet::new(),
            refused: HashSet::new(),
            budget_used: 0,
            budget_per_uid: HashMap::new(),
            stopped_uids: HashSet::new(),
            summary: Summary::default(),
        })
    }

    fn epoch(&self, ts: u64) -> u64 {
        self.boot_epoch_ns.wrapping_add(ts)
    }

    /// Whether `n` more bytes written at `at` for `uid` fit the budget;
    /// stops capture (for everyone, or for that uid once it has used half)
    /// otherwise. Counted in the 4 KiB blocks they touch, so that sparse
    /// artifacts (chunks placed at their offsets) stay within it on disk.
    fn budget(&mut self, uid: u32, at: u64, n: u64) -> Result<bool, Error> {
        let n = if n == 0 {
            0
        } else {
            (at.saturating_add(n).div_ceil(4096) - at / 4096).saturating_mul(4096)
        };
        if self.summary.stopped || self.stopped_uids.contains(&uid) {
            return Ok(false);
        }
        let Some(max) = self.max_size else {
            return Ok(true);
        };
        let mine = self.budget_per_uid.get(&uid).copied().unwrap_or(0);
        if self.budget_used + n <= max && mine + n <= max / 2 {
            self.budget_used += n;
            self.budget_per_uid.insert(uid, mine + n);
            return Ok(true);
        }
        if self.budget_used + n > max {
            self.summary.stopped = true;
            eprintln!(
                "tracee-capture: capture stopped: --max-size of {max} bytes reached ({} bytes written)",
                self.summary.bytes
            );
            let line = serde_json::json!({
                "captureStopped": {"reason": "max-size", "maxSize": max, "bytes": self.summary.bytes}
            });
            self.index_line(&line)?;
        } else {
            self.stopped_uids.insert(uid);
            eprintln!(
                "tracee-capture: capture stopped for uid {uid}: it wrote {mine} bytes, half of --max-size \
                 (one user may not fill it for everyone)"
            );
            let line = serde_json::json!({
                "captureStopped": {"reason": "max-size-per-user", "uid": uid, "maxSize": max, "bytes": mine}
            });
            self.index_line(&line)?;
        }
        Ok(false)
    }

    fn index_line(&mut self, v: &serde_json::Value) -> Result<(), Error> {
        let mut s = v.to_string();
        s.push('\n');
        self.index
            .write_all(s.as_bytes())
            .map_err(io_err("writing index.jsonl"))
    }

    /// Handles one capture record.
    pub fn record(&mut self, h: &CaptureHeader, payload: &[u8]) -> Result<(), Error> {
        match h.artifact {
            artifact::WRITE | artifact::READ => self.file_chunk(h, payload),
            _ => self.object_chunk(h, payload),
        }
    }

    fn open_new(&mut self, h: &CaptureHeader, name: String, fresh: bool) -> io::Result<Open> {
        if fresh && self.host.exists(&name) {
            // Left by an earlier run that was killed: ours (the directory
            // is), and replaced.
            self.host.unlink(&name)?;
        }
        let file = self.host.file(&name, fresh)?;
        let end = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Open {
            file,
            name,
            kind: h.artifact,
            end,
            size: end,
            complete: true,
            pid: h.pid,
            uid: h.uid,
            comm: sanitize(&h.comm, 16),
            ts: h.ts,
            first: *h,
        })
    }

    fn file_chunk(&mut self, h: &CaptureHeader, payload: &[u8]) -> Result<(), Error> {
        let key = (h.artifact, h.dev, h.ino);
        if !self.files.contains_key(&key) {
            if self.summary.stopped || self.refused.contains(&key) {
                return Ok(());
            }
            let name = format!("{}.dev-{}.inode-{}", kind_name(h.artifact), h.dev, h.ino);
            // A file of an earlier run is added to, as Tracee does.
            match self.open_new(h, name.clone(), false) {
                Ok(o) => {
                    self.files.insert(key, o);
                }
                Err(e) => {
                    eprintln!("tracee-capture: out/host/{name}: {e}; skipping that artifact");
                    self.refused.insert(key);
                    return Ok(());
                }
            }
        }
        if h.flags & flags::LOST != 0 {
            if let Some(o) = self.files.get_mut(&key) {
                o.complete = false;
            }
            return Ok(());
        }
        let n = payload.len() as u64;
        let Some(o) = self.files.get(&key) else {
            return Ok(());
        };
        let at = if h.flags & flags::APPEND != 0 {
            o.end
        } else {
            h.off
        };
        if at.checked_add(n).is_none() || !self.budget(h.uid, at, n)? {
            if let Some(o) = self.files.get_mut(&key) {
                o.complete = false;
            }
            return Ok(());
        }
        let Some(o) = self.files.get_mut(&key) else {
            return Ok(());
        };
        o.file
            .write_all_at(payload, at)
            .map_err(io_err(format!("writing out/host/{}", o.name)))?;
        o.end = o.end.max(at + n);
        o.size = o.size.max(at + n);
        self.summary.bytes += n;
        Ok(())
    }

    fn object_chunk(&mut self, h: &CaptureHeader, payload: &[u8]) -> Result<(), Error> {
        let key = (h.artifact, h.tid, h.ts);
        if !self.objects.contains_key(&key) {
            if self.summary.stopped {
                return Ok(());
            }
            let name = format!(".partial.{}.{}.{}", h.artifact, h.tid, h.ts);
            let o = self
                .open_new(h, name.clone(), true)
                .map_err(io_err(format!("creating out/host/{name}")))?;
            self.objects.insert(key, o);
        }
        let n = payload.len() as u64;
        if h.flags & flags::LOST != 0 {
            if h.len > 0
                && let Some(o) = self.objects.get_mut(&key)
            {
                o.complete = false;
            }
        } else if h.off.checked_add(n).is_some() && self.budget(h.uid, h.off, n)? {
            if let Some(o) = self.objects.get_mut(&key) {
                o.file
                    .write_all_at(payload, h.off)
                    .map_err(io_err(format!("writing out/host/{}", o.name)))?;
                o.size = o.size.max(h.off + n);
                self.summary.bytes += n;
            }
        } else if let Some(o) = self.objects.get_mut(&key) {
            o.complete = false;
        }
        if h.flags & flags::LAST != 0
            && let Some(mut o) = self.objects.remove(&key)
        {
            // The last record's offset is the object's size: a hole at its
            // end (a sparse executable) is part of it.
            if o.complete && h.off > o.size {
                o.file
                    .set_len(h.off)
                    .map_err(io_err(format!("writing out/host/{}", o.name)))?;
                o.size = h.off;
            }
            self.finish_object(o)?;
        }
        Ok(())
    }

    /// Names a whole object by its content and records it.
    fn finish_object(&mut self, mut o: Open) -> Result<(), Error> {
        let digest = digest_of(&o.file).map_err(io_err(format!("reading out/host/{}", o.name)))?;
        let hex = digest.hex();
        let h = o.first;
        // A name needs a content hash; a sparse object is named by its time.
        let id = hex
            .clone()
            .unwrap_or_else(|| format!("sparse-{}", self.epoch(h.ts)));
        let name = match o.kind {
            artifact::EXEC => {
                if let Content::Sha256(sum) = digest
                    && !self.exec_seen.insert(sum)
                {
                    // The same content was captured already.
                    let _ = self.host.unlink(&o.name);
                    return Ok(());
                }
                // The file's base name; the process's name if there is none.
                let base = if h.name[0] != 0 { &h.name } else { &h.comm };
                format!("exec.{}.{}", self.epoch(h.ts), sanitize(base, 64))
            }
            artifact::MEM => format!("bin.pid-{}.ts-{}", h.pid, self.epoch(h.ts)),
            artifact::MODULE => {
                let mut n = "module".to_string();
                if h.dev != 0 {
                    n += &format!(".dev-{}", h.dev);
                }
                if h.ino != 0 {
                    n += &format!(".inode-{}", h.ino);
                }
                format!("{n}.pid-{}.{id}", h.pid)
            }
            _ => format!("bpf.name-{}.pid-{}.{id}", sanitize(&h.name, 16), h.pid),
        };
        if self.host.exists(&name) {
            // Same name: same content (the name holds its hash), or a
            // planted file, which is left alone.
            let _ = self.host.unlink(&o.name);
            return Ok(());
        }
        self.host
            .rename(&o.name, &name)
            .map_err(io_err(format!("naming out/host/{name}")))?;
        o.name = name;
        self.index_artifact(&o, hex)
    }

    fn index_artifact(&mut self, o: &Open, sha256: Option<String>) -> Result<(), Error> {
        self.summary.artifacts += 1;
        if !o.complete {
            self.summary.incomplete += 1;
        }
        let mut line = serde_json::json!({
            "path": format!("host/{}", o.name),
            "kind": kind_name(o.kind),
            "size": o.size,
            "sha256": sha256,
            "pid": o.pid,
            "uid": o.uid,
            "comm": o.comm,
            "timestamp": self.epoch(o.ts),
            "complete": o.complete,
        });
        if sha256.is_none() {
            line["sparse"] = serde_json::Value::Bool(true);
        }
        self.index_line(&line)
    }

    /// A count of chunks the kernel's ring refused. Which artifacts they
    /// belonged to arrives separately (a lost notice per file, the last
    /// record of an object), so this only counts.
    pub fn lost(&mut self, count: u64) {
        self.summary.lost_chunks = self.summary.lost_chunks.saturating_add(count);
    }

    /// Closes every artifact and writes its index line. Without the
    /// stream's end record (`ended` false: its writer was killed, or gave
    /// up on a reader that took nothing) the notices of what was lost may
    /// never have come, so no open artifact is vouched for as complete.
    pub fn finish(&mut self, ended: bool) -> Result<(), Error> {
        if !ended && !self.files.is_empty() {
            eprintln!(
                "tracee-capture: the sidecar ended without its end record (its writer was killed or \
                 gave up): {} file artifacts still open are marked incomplete",
                self.files.len()
            );
        }
        let mut files: Vec<Open> = self.files.drain().map(|(_, o)| o).collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        for mut o in files {
            o.complete &= ended;
            let d = digest_of(&o.file).map_err(io_err(format!("reading out/host/{}", o.name)))?;
            self.index_artifact(&o, d.hex())?;
        }
        // Objects whose last chunk never came are kept, marked incomplete.
        let objs: Vec<Open> = self.objects.drain().map(|(_, o)| o).collect();
        for mut o in objs {
            o.complete = false;
            let d = digest_of(&o.file).map_err(io_err(format!("reading out/host/{}", o.name)))?;
            let name = format!("{}.incomplete.{}.{}", kind_name(o.kind), o.pid, o.ts);
            if self.host.rename(&o.name, &name).is_ok() {
                o.name = name;
            }
            self.index_artifact(&o, d.hex())?;
        }
        self.index.flush().map_err(io_err("writing index.jsonl"))?;
        Ok(())
    }
}

/// The SHA-256 of a file, unless its holes are too big to read through:
/// the work is bounded by its data plus [`HASH_HOLES_MAX`].
fn digest_of(f: &File) -> io::Result<Content> {
    let size = f.metadata()?.len();
    if size - wire::sparse::data_bytes(f, size).min(size) > HASH_HOLES_MAX {
        return Ok(Content::Sparse);
    }
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut at = 0u64;
    loop {
        let n = f.read_at(&mut buf, at)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        at += n as u64;
    }
    Ok(Content::Sha256(h.finalize().into()))
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Reads a capture stream from `input` into the directory. A bad stream
/// still leaves what came before it on disk, indexed.
pub fn run(input: impl io::Read, o: &Options) -> Result<Summary, Error> {
    let mut r = StreamReader::new(input).map_err(Error::Stream)?;
    let mut c = Capture::new(o, r.preamble().boot_epoch_ns)?;
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
            kind::END => {
                ended = true;
                break Ok(());
            }
            _ => {}
        }
    };
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
