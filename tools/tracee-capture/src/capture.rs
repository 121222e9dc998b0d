//! The writer of one output directory: artifacts from capture records.
//!
//! What a traced process controls (how many files it touches, where it
//! writes in them, how large it says an object is) costs it, not everyone:
//! - artifacts are tracked by their metadata, and only the most recently
//!   used [`OPEN_FILES`] are kept open (the rest are reopened by name when
//!   they get more bytes), so many files do not exhaust descriptors;
//! - a new artifact is charged one block against the budget before it is
//!   made, so empty files are not free;
//! - a write the file system refuses (too large, no space) makes that one
//!   artifact incomplete and it is skipped from then on, the run goes on;
//! - hashing reads at most the artifact's data plus that much again of
//!   holes (at least [`HASH_HOLES_FREE`]): a few bytes at a huge offset are
//!   indexed `"sha256": null, "sparse": true`.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

use sha2::{Digest, Sha256};
use wire::capture::{CaptureHeader, artifact, flags};
use wire::container::{Container, Containers};

use crate::dir::{Dir, Dirs, dir_name};
use crate::open_files::OpenFiles;
use crate::{Error, Options, Summary, kind_name, sanitize};

/// Artifact files kept open at once, at most (and at most a quarter of
/// the descriptors the process may have).
pub const OPEN_FILES: usize = 256;
/// Per kind of trouble, how many artifacts are named on stderr before the
/// rest are only counted.
const SAY_MAX: u64 = 10;
/// Holes an artifact may have and still be hashed whatever its data.
pub const HASH_HOLES_FREE: u64 = 64 << 10;
/// Budget bytes charged for making an artifact at all.
const NEW_ARTIFACT_COST: u64 = 4096;

/// What is known of an artifact being written (its file may be closed).
struct Open {
    /// Which of `Capture::dirs` it is in.
    dir: usize,
    /// Its container's id (empty: the host's).
    container: Vec<u8>,
    /// Name in the container directory (final for file contents,
    /// temporary for whole objects until their last chunk).
    name: String,
    kind: u8,
    /// Where appended bytes go next.
    end: u64,
    size: u64,
    complete: bool,
    /// A write failed: nothing more is written to it.
    failed: bool,
    /// Read by its path after its process was gone (flags::BY_PATH).
    by_path: bool,
    pid: u32,
    uid: u32,
    comm: String,
    ts: u64,
    first: CaptureHeader,
}

/// Which artifact: file contents by (artifact, dev, inode), whole objects
/// by (artifact, tid, time).
type Key = (u8, u32, u64);

pub struct Capture {
    /// The artifact directories under out: `host` (index 0), and one per
    /// container, named by its id (Tracee's layout).
    dirs: Dirs,
    /// Directories that could not be made, said this many times.
    dir_failures: u64,
    /// Containers, from the container records on the sidecar.
    containers: Containers,
    index: File,
    boot_epoch_ns: u64,
    max_size: Option<u64>,
    files: HashMap<Key, Open>,
    objects: HashMap<Key, Open>,
    open: OpenFiles<Key>,
    exec_seen: HashSet<[u8; 32]>,
    /// Artifacts that could not be made (a planted symlink, no budget...):
    /// said once, then skipped.
    refused: HashSet<Key>,
    /// Bytes counted against --max-size, in all and per uid.
    budget_used: u64,
    budget_per_uid: HashMap<u32, u64>,
    /// Users whose share of the budget is spent.
    stopped_uids: HashSet<u32>,
    /// Network packets' pcaps.
    pcaps: crate::pcap::Pcaps,
    pub summary: Summary,
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let what = what.into();
    move |e| Error::Io(what, e)
}

/// What the index says of an artifact's content: its hash, or that it is
/// too sparse to hash.
enum Content {
    Sha256([u8; 32]),
    Sparse,
}

impl Content {
    fn hex(&self) -> Option<String> {
        match self {
            Content::Sha256(d) => Some(crate::hex(d)),
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
            dirs: Dirs::new(out, host),
            dir_failures: 0,
            containers: Containers::default(),
            index,
            boot_epoch_ns,
            max_size: o.max_size,
            files: HashMap::new(),
            objects: HashMap::new(),
            open: OpenFiles::new(OPEN_FILES),
            exec_seen: HashSet::new(),
            refused: HashSet::new(),
            budget_used: 0,
            budget_per_uid: HashMap::new(),
            stopped_uids: HashSet::new(),
            pcaps: Default::default(),
            summary: Summary::default(),
        })
    }

    fn epoch(&self, ts: u64) -> u64 {
        self.boot_epoch_ns.wrapping_add(ts)
    }

    /// Whether `n` more bytes for `uid` fit the budget; stops capture (for
    /// everyone, or for that uid once it has used half) otherwise.
    fn budget(&mut self, uid: u32, n: u64) -> Result<bool, Error> {
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

    /// [`Capture::budget`] for `n` bytes written at `at`: counted in the
    /// 4 KiB blocks they touch, so that sparse artifacts (chunks placed at
    /// their offsets) stay within it on disk.
    fn budget_at(&mut self, uid: u32, at: u64, n: u64) -> Result<bool, Error> {
        if n == 0 {
            return self.budget(uid, 0);
        }
        let Some(end) = at.checked_add(n) else {
            return Ok(false);
        };
        let blocks = end.div_ceil(4096) - at / 4096;
        self.budget(uid, blocks.saturating_mul(4096))
    }

    fn index_line(&mut self, v: &serde_json::Value) -> Result<(), Error> {
        let mut s = v.to_string();
        s.push('\n');
        self.index
            .write_all(s.as_bytes())
            .map_err(io_err("writing index.jsonl"))
    }

    /// Takes in a container record.
    pub fn container(&mut self, c: Container) {
        self.containers.apply(c);
    }

    /// The directory (an index of `dirs`) for an artifact of cgroup
    /// `cgroup_id`: its container's, made on first use (see
    /// [`dir_name`]), or `host`. A directory that cannot be made sends the
    /// artifact to `host`, said (a few times).
    fn dir_for(&mut self, cgroup_id: u64) -> usize {
        let Some(c) = self.containers.get(cgroup_id).filter(|c| !c.id.is_empty()) else {
            return 0;
        };
        let i = self.dirs.named(dir_name(&c.id));
        match self.dirs.get(i) {
            Ok(_) => i,
            Err(e) => {
                self.dir_failures += 1;
                if self.dir_failures <= SAY_MAX {
                    eprintln!(
                        "tracee-capture: out/{}: {e}; that container's artifacts go to out/host",
                        self.dirs.name(i)
                    );
                }
                0
            }
        }
    }

    /// Handles one capture record.
    pub fn record(&mut self, h: &CaptureHeader, payload: &[u8]) -> Result<(), Error> {
        match h.artifact {
            artifact::WRITE | artifact::READ => self.file_chunk(h, payload),
            artifact::PACKET => self.packet(h, payload),
            _ => self.object_chunk(h, payload),
        }
    }

    /// A network packet, into the pcaps its record names, within the
    /// budget: a new pcap is charged like any new artifact, and each
    /// packet its bytes; one that does not fit is counted, not written.
    fn packet(&mut self, h: &CaptureHeader, payload: &[u8]) -> Result<(), Error> {
        self.summary.packets += 1;
        if h.dev & wire::capture::packet::UNKNOWN != 0 {
            self.summary.packets_unknown += 1;
        }
        let epoch = self.epoch(h.ts);
        let over = self.pcaps.over;
        let targets = self.pcaps.targets(h, &self.containers, self.boot_epoch_ns);
        self.summary.packets_dropped += self.pcaps.over - over;
        for (key, new) in targets {
            if new && !self.budget(h.uid, NEW_ARTIFACT_COST)? {
                self.pcaps.files.remove(&key);
                self.summary.packets_dropped += 1;
                continue;
            }
            // The packet block's own bytes (header, comment) on top.
            if !self.budget(h.uid, payload.len() as u64 + 128)? {
                self.summary.packets_dropped += 1;
                continue;
            }
            match self.pcaps.write(self.dirs.out(), &key, h, payload, epoch) {
                Ok(n) => self.summary.bytes += n,
                Err(e) => {
                    self.summary.failed += 1;
                    if self.summary.failed <= SAY_MAX {
                        eprintln!("tracee-capture: pcap {key}: {e}; its packets are not written");
                    }
                }
            }
        }
        Ok(())
    }

    /// Closes the pcaps and indexes each, with its hash.
    fn finish_pcaps(&mut self, ended: bool) -> Result<(), Error> {
        self.pcaps.close_all();
        let mut files: Vec<crate::pcap::PcapFile> =
            self.pcaps.files.drain().map(|(_, f)| f).collect();
        files.sort_by_key(|f| f.path());
        for f in files {
            let path = f.path();
            let read = crate::pcap::pcap_dir(self.dirs.out(), &f.dirs)
                .and_then(|d| d.file(&f.name, false))
                .and_then(|file| Ok((file.metadata()?.len(), digest_of(&file)?)));
            let (size, sha) = match read {
                Ok((size, d)) => (size, d.hex()),
                Err(e) => {
                    eprintln!("tracee-capture: reading out/{path}: {e}");
                    (0, None)
                }
            };
            self.summary.artifacts += 1;
            let line = serde_json::json!({
                "path": path,
                "containerId": f.container,
                "kind": "pcap",
                "size": size,
                "sha256": sha,
                "packets": f.packets,
                "pid": f.pid,
                "uid": f.uid,
                "comm": f.comm,
                "timestamp": self.epoch(f.ts),
                "complete": ended && !f.failed,
            });
            self.index_line(&line)?;
        }
        Ok(())
    }

    /// Makes the artifact `key` (file `name`), charging its cost first;
    /// None (said once) if it cannot be made.
    fn make(
        &mut self,
        key: Key,
        h: &CaptureHeader,
        name: String,
        fresh: bool,
    ) -> Result<Option<Open>, Error> {
        if self.refused.contains(&key) || !self.budget(h.uid, NEW_ARTIFACT_COST)? {
            return Ok(None);
        }
        let dir = self.dir_for(h.cgroup_id);
        let made = (|| {
            let d = self.dirs.get(dir)?;
            if fresh && d.exists(&name) {
                // Left by an earlier run that was killed: ours (the
                // directory is), and replaced.
                d.unlink(&name)?;
            }
            let f = d.file(&name, fresh)?;
            let end = f.metadata()?.len();
            self.open.insert(key, f);
            Ok::<u64, io::Error>(end)
        })();
        let end = match made {
            Ok(end) => end,
            Err(e) => {
                self.summary.skipped += 1;
                if self.summary.skipped <= SAY_MAX {
                    eprintln!(
                        "tracee-capture: out/{}/{name}: {e}; skipping that artifact",
                        self.dirs.name(dir)
                    );
                }
                self.refused.insert(key);
                return Ok(None);
            }
        };
        let container = if dir == 0 {
            Vec::new()
        } else {
            self.containers
                .get(h.cgroup_id)
                .map(|c| c.id.clone())
                .unwrap_or_default()
        };
        Ok(Some(Open {
            dir,
            container,
            name,
            kind: h.artifact,
            end,
            size: end,
            complete: true,
            failed: false,
            by_path: false,
            pid: h.pid,
            uid: h.uid,
            comm: sanitize(&h.comm, 16),
            ts: h.ts,
            first: *h,
        }))
    }

    /// Writes `payload` at `at` of the artifact `o`; a failure (a file
    /// system refusing the size, no space) is that artifact's, said once.
    fn write_at(
        open: &mut OpenFiles<Key>,
        dirs: &mut Dirs,
        failed: &mut u64,
        key: Key,
        o: &mut Open,
        payload: &[u8],
        at: u64,
    ) -> bool {
        if o.failed {
            return false;
        }
        let r = dirs
            .get(o.dir)
            .and_then(|d| open.get(d, key, &o.name))
            .and_then(|f| f.write_all_at(payload, at));
        let dname = dirs.name(o.dir);
        if let Err(e) = r {
            *failed += 1;
            if *failed <= SAY_MAX {
                eprintln!(
                    "tracee-capture: writing out/{dname}/{} at {at}: {e}; the artifact is incomplete",
                    o.name
                );
            }
            o.failed = true;
            o.complete = false;
            return false;
        }
        true
    }

    fn file_chunk(&mut self, h: &CaptureHeader, payload: &[u8]) -> Result<(), Error> {
        let key = (h.artifact, h.dev, h.ino);
        if !self.files.contains_key(&key) {
            if self.summary.stopped {
                return Ok(());
            }
            let name = format!("{}.dev-{}.inode-{}", kind_name(h.artifact), h.dev, h.ino);
            // A file of an earlier run is added to, as Tracee does.
            let Some(o) = self.make(key, h, name, false)? else {
                return Ok(());
            };
            self.files.insert(key, o);
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
        if o.failed || !self.budget_at(h.uid, at, n)? {
            if let Some(o) = self.files.get_mut(&key) {
                o.complete = false;
            }
            return Ok(());
        }
        let Some(o) = self.files.get_mut(&key) else {
            return Ok(());
        };
        if Self::write_at(
            &mut self.open,
            &mut self.dirs,
            &mut self.summary.failed,
            key,
            o,
            payload,
            at,
        ) {
            o.end = o.end.max(at + n);
            o.size = o.size.max(at + n);
            self.summary.bytes += n;
        }
        Ok(())
    }

    fn object_chunk(&mut self, h: &CaptureHeader, payload: &[u8]) -> Result<(), Error> {
        let key = (h.artifact, h.tid, h.ts);
        if !self.objects.contains_key(&key) {
            if self.summary.stopped {
                return Ok(());
            }
            let name = format!(".partial.{}.{}.{}", h.artifact, h.tid, h.ts);
            let Some(o) = self.make(key, h, name, true)? else {
                return Ok(());
            };
            self.objects.insert(key, o);
        }
        let n = payload.len() as u64;
        if h.flags & flags::BY_PATH != 0
            && let Some(o) = self.objects.get_mut(&key)
        {
            o.by_path = true;
        }
        if h.flags & flags::LOST != 0 {
            if h.len > 0
                && let Some(o) = self.objects.get_mut(&key)
            {
                o.complete = false;
            }
        } else if self.budget_at(h.uid, h.off, n)? {
            if let Some(o) = self.objects.get_mut(&key)
                && Self::write_at(
                    &mut self.open,
                    &mut self.dirs,
                    &mut self.summary.failed,
                    key,
                    o,
                    payload,
                    h.off,
                )
            {
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
                let open = &mut self.open;
                let r = self
                    .dirs
                    .get(o.dir)
                    .and_then(|d| open.get(d, key, &o.name))
                    .and_then(|f| f.set_len(h.off));
                match r {
                    Ok(()) => o.size = h.off,
                    Err(e) => {
                        eprintln!(
                            "tracee-capture: out/{}/{}: a size of {}: {e}; the artifact is incomplete",
                            self.dirs.name(o.dir),
                            o.name,
                            h.off
                        );
                        o.complete = false;
                    }
                }
            }
            self.finish_object(key, o)?;
        }
        Ok(())
    }

    /// The content of the artifact `key`, for the index.
    fn content(&mut self, key: Key, o: &Open) -> Result<Content, Error> {
        let shown = format!("reading out/{}/{}", self.dirs.name(o.dir), o.name);
        let open = &mut self.open;
        let f = self
            .dirs
            .get(o.dir)
            .and_then(|d| open.get(d, key, &o.name))
            .map_err(io_err(shown.clone()))?;
        digest_of(f).map_err(io_err(shown))
    }

    /// Names a whole object by its content and records it.
    fn finish_object(&mut self, key: Key, mut o: Open) -> Result<(), Error> {
        let digest = self.content(key, &o)?;
        self.open.close(&key);
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
                    if let Ok(d) = self.dirs.get(o.dir) {
                        let _ = d.unlink(&o.name);
                    }
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
        let dname = self.dirs.name(o.dir).to_string();
        let d = self
            .dirs
            .get(o.dir)
            .map_err(io_err(format!("opening out/{dname}")))?;
        if d.exists(&name) {
            // Same name: same content (the name holds its hash), or a
            // planted file, which is left alone.
            let _ = d.unlink(&o.name);
            return Ok(());
        }
        d.rename(&o.name, &name)
            .map_err(io_err(format!("naming out/{dname}/{name}")))?;
        o.name = name;
        self.index_artifact(&o, hex)
    }

    fn index_artifact(&mut self, o: &Open, sha256: Option<String>) -> Result<(), Error> {
        self.summary.artifacts += 1;
        if !o.complete {
            self.summary.incomplete += 1;
        }
        let dname = self.dirs.name(o.dir);
        let mut line = serde_json::json!({
            "path": format!("{dname}/{}", o.name),
            "containerId": String::from_utf8_lossy(&o.container),
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
        if o.by_path {
            // Its process was gone: a file rewritten in place in the same
            // clock tick as the exec cannot be told from what ran.
            line["readByPath"] = serde_json::Value::Bool(true);
        }
        self.index_line(&line)
    }

    /// A count of chunks the kernel's ring refused. Which artifacts they
    /// belonged to arrives separately (a lost notice per file, the last
    /// record of an object), so this only counts.
    pub fn lost(&mut self, count: u64) {
        self.summary.lost_chunks = self.summary.lost_chunks.saturating_add(count);
    }

    /// File artifacts still open.
    pub fn open_files(&self) -> usize {
        self.files.len()
    }

    /// Closes every artifact and writes its index line. Unless the stream
    /// reached its end record (`ended`), the notices of what was lost may
    /// never have come, so no open artifact is vouched for as complete.
    pub fn finish(&mut self, ended: bool) -> Result<(), Error> {
        self.finish_pcaps(ended)?;
        let mut files: Vec<(Key, Open)> = self.files.drain().collect();
        files.sort_by(|a, b| a.1.name.cmp(&b.1.name));
        for (key, mut o) in files {
            o.complete &= ended;
            let d = self.content(key, &o)?;
            self.open.close(&key);
            self.index_artifact(&o, d.hex())?;
        }
        // Objects whose last chunk never came are kept, marked incomplete.
        let objs: Vec<(Key, Open)> = self.objects.drain().collect();
        for (key, mut o) in objs {
            o.complete = false;
            let d = self.content(key, &o)?;
            self.open.close(&key);
            let name = format!("{}.incomplete.{}.{}", kind_name(o.kind), o.pid, o.ts);
            if self
                .dirs
                .get(o.dir)
                .is_ok_and(|d| d.rename(&o.name, &name).is_ok())
            {
                o.name = name;
            }
            self.index_artifact(&o, d.hex())?;
        }
        self.index.flush().map_err(io_err("writing index.jsonl"))?;
        Ok(())
    }
}

/// The SHA-256 of a file, unless reading through its holes would cost
/// more than reading its data (and [`HASH_HOLES_FREE`]).
fn digest_of(f: &File) -> io::Result<Content> {
    let size = f.metadata()?.len();
    let data = tracee_cli::sparse::data_bytes(f, size).min(size);
    if size - data > data.max(HASH_HOLES_FREE) {
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
