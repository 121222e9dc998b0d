//! The output tree, opened so that nothing another user can write is
//! trusted: every directory and artifact is opened relative to its parent's
//! descriptor without following a symlink, and refused unless it belongs to
//! the running user and no one else may write it. A tree another user
//! prepared (an `out/host` of mode 777, an empty artifact file made in
//! advance to read what lands in it) is refused, not written into.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, open, openat, renameat};
use nix::sys::stat::{Mode, fstatat, mkdirat};
use nix::unistd::{UnlinkatFlags, geteuid, unlinkat};

/// Refuses what another user could have prepared or can still change: it
/// must be ours and writable by no one else; a file must also be a plain
/// file with no other name (a hard link would show its bytes elsewhere).
fn trusted(m: &std::fs::Metadata, file: bool) -> io::Result<()> {
    let me = geteuid().as_raw();
    if m.uid() != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "owned by uid {}, not by this user (uid {me}); refusing to write into it",
                m.uid()
            ),
        ));
    }
    if m.mode() & 0o022 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "writable by others (mode {:o}); refusing to write into it",
                m.mode() & 0o7777
            ),
        ));
    }
    if file && (!m.file_type().is_file() || m.nlink() != 1) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "not a plain file of one name; refusing to write into it",
        ));
    }
    Ok(())
}

/// How a directory of the tree is opened: never through a symlink.
const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// A directory of the output tree, opened without following a symlink at
/// its name and checked to be ours.
pub struct Dir(File);

impl Dir {
    pub fn open_path(p: &Path) -> io::Result<Dir> {
        Dir::checked(open(p, DIR_FLAGS, Mode::empty()))
    }

    fn checked(fd: nix::Result<std::os::fd::OwnedFd>) -> io::Result<Dir> {
        let d = Dir(File::from(fd?));
        trusted(&d.0.metadata()?, false)?;
        Ok(d)
    }

    /// Opens (creating it 0700 if needed) the subdirectory `name`.
    pub fn subdir(&self, name: &str) -> io::Result<Dir> {
        match mkdirat(&self.0, name, Mode::from_bits_truncate(0o700)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e.into()),
        }
        Dir::checked(openat(&self.0, name, DIR_FLAGS, Mode::empty()))
    }

    /// Opens `name` for writing: a new file (0600) when `fresh`, refusing
    /// any file already there; else an existing one of ours, to add to, or
    /// a new one. Never follows a symlink at `name`.
    pub fn file(&self, name: &str, fresh: bool) -> io::Result<File> {
        let mut fl = OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        if fresh {
            fl |= OFlag::O_EXCL;
        }
        let f = File::from(openat(&self.0, name, fl, Mode::from_bits_truncate(0o600))?);
        trusted(&f.metadata()?, true)?;
        Ok(f)
    }

    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        Ok(renameat(&self.0, from, &self.0, to)?)
    }

    pub fn unlink(&self, name: &str) -> io::Result<()> {
        Ok(unlinkat(&self.0, name, UnlinkatFlags::NoRemoveDir)?)
    }

    pub fn exists(&self, name: &str) -> bool {
        fstatat(&self.0, name, AtFlags::AT_SYMLINK_NOFOLLOW).is_ok()
    }
}

/// Artifact directories held open at most: a sidecar may name any number
/// of containers, and each open directory costs a descriptor.
const DIRS_OPEN: usize = 64;

/// The artifact directories under `out`: `host` (index 0, always open)
/// and one per container, named by [`dir_name`]; at most [`DIRS_OPEN`]
/// held open, the least recently used closed and opened again (checked
/// again) when next used.
pub struct Dirs {
    out: Dir,
    names: Vec<String>,
    index: std::collections::HashMap<String, usize>,
    open: std::collections::HashMap<usize, (Dir, u64)>,
    clock: u64,
}

/// A container's directory name: its id when that is a plain name (what
/// runtimes use: letters, digits, `-`, `_`, `.`, not starting with `.`,
/// at most 128 bytes, not `host`, `pcap` or `index.jsonl`); otherwise `id-` and
/// the first 32 hex digits of the id's SHA-256, so that no two ids share a
/// directory and none lands in another's.
pub fn dir_name(id: &[u8]) -> String {
    let plain = !id.is_empty()
        && id.len() <= 128
        && id[0] != b'.'
        && id
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && id != b"host"
        && id != b"pcap"
        && id != b"index.jsonl"
        && !id.starts_with(b"id-");
    if plain {
        return String::from_utf8_lossy(id).into_owned();
    }
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(id);
    format!("id-{}", &crate::hex(&d)[..32])
}

impl Dirs {
    pub fn new(out: Dir, host: Dir) -> Dirs {
        Dirs {
            out,
            names: vec!["host".into()],
            index: std::collections::HashMap::from([("host".into(), 0)]),
            open: std::collections::HashMap::from([(0, (host, u64::MAX))]),
            clock: 0,
        }
    }

    /// The index of the directory named `name` (not made yet).
    pub fn named(&mut self, name: String) -> usize {
        if let Some(&i) = self.index.get(&name) {
            return i;
        }
        self.names.push(name.clone());
        self.index.insert(name, self.names.len() - 1);
        self.names.len() - 1
    }

    /// The `out` directory itself.
    pub fn out(&self) -> &Dir {
        &self.out
    }

    pub fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// Directory `i`, opened (made if needed, and checked) unless open.
    pub fn get(&mut self, i: usize) -> io::Result<&Dir> {
        self.clock += 1;
        if !self.open.contains_key(&i) {
            if self.open.len() > DIRS_OPEN
                && let Some((&old, _)) = self
                    .open
                    .iter()
                    .filter(|(k, _)| **k != 0)
                    .min_by_key(|(_, (_, t))| *t)
            {
                self.open.remove(&old);
            }
            let d = self.out.subdir(&self.names[i])?;
            self.open.insert(i, (d, 0));
        }
        let e = self.open.get_mut(&i).expect("just opened");
        if i != 0 {
            e.1 = self.clock;
        }
        Ok(&e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_directory_names() {
        let id = "a".repeat(64);
        assert_eq!(dir_name(id.as_bytes()), id);
        for odd in [
            &b"host"[..],
            b"index.jsonl",
            b"..",
            b".x",
            b"",
            b"a/b",
            b"a\x1bb",
            b"id-0123",
            &[b'x'; 129][..],
        ] {
            let n = dir_name(odd);
            assert!(n.starts_with("id-") && n.len() == 35, "{odd:?} -> {n}");
        }
        // Ids that would read the same once cleaned stay apart.
        assert_ne!(dir_name(b"a\nb"), dir_name(b"a\rb"));
    }

    #[test]
    fn many_containers_hold_few_descriptors() {
        let p = std::env::temp_dir().join(format!("tracee-dirs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(p.join("host")).unwrap();
        let fds = || std::fs::read_dir("/proc/self/fd").unwrap().count();
        let out = Dir::open_path(&p).unwrap();
        let host = out.subdir("host").unwrap();
        let mut d = Dirs::new(out, host);
        let before = fds();
        for i in 0..(DIRS_OPEN * 4) {
            let n = d.named(format!("c{i}"));
            d.get(n).unwrap().file("f", false).unwrap();
        }
        // Tests run in parallel threads: allow for their descriptors.
        assert!(fds() < before + DIRS_OPEN + 16, "{} -> {}", before, fds());
        // A closed one opens again when used.
        assert!(d.get(1).unwrap().exists("f"));
        let _ = std::fs::remove_dir_all(&p);
    }
}
