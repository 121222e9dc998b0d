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
