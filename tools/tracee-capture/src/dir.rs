//! The output tree, opened so that nothing another user can write is
//! trusted: every directory and artifact is opened relative to its parent's
//! descriptor without following a symlink, and refused unless it belongs to
//! the running user and no one else may write it. A tree another user
//! prepared (an `out/host` of mode 777, an empty artifact file made in
//! advance to read what lands in it) is refused, not written into.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

fn cstr(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Refuses what another user could have prepared or can still change: it
/// must be ours and writable by no one else; a file must also be a plain
/// file with no other name (a hard link would show its bytes elsewhere).
fn trusted(m: &std::fs::Metadata, file: bool) -> io::Result<()> {
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
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

/// A directory of the output tree, opened without following a symlink at
/// its name and checked to be ours.
pub struct Dir(OwnedFd);

impl Dir {
    pub fn open_path(p: &Path) -> io::Result<Dir> {
        use std::os::unix::ffi::OsStrExt;
        let c = CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: valid C string; the result is checked.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        Dir::checked(fd)
    }

    fn checked(fd: i32) -> io::Result<Dir> {
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let d = Dir(fd);
        trusted(&d.metadata()?, false)?;
        Ok(d)
    }

    fn metadata(&self) -> io::Result<std::fs::Metadata> {
        // SAFETY: a borrowed view of our own descriptor, not closed here.
        let f = std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(self.0.as_raw_fd()) });
        f.metadata()
    }

    /// Opens (creating it 0700 if needed) the subdirectory `name`.
    pub fn subdir(&self, name: &str) -> io::Result<Dir> {
        let c = cstr(name)?;
        // SAFETY: valid descriptor and C string.
        let r = unsafe { libc::mkdirat(self.0.as_raw_fd(), c.as_ptr(), 0o700) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::AlreadyExists {
                return Err(e);
            }
        }
        // SAFETY: as above.
        let fd = unsafe {
            libc::openat(
                self.0.as_raw_fd(),
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        Dir::checked(fd)
    }

    /// Opens `name` for writing: a new file (0600) when `fresh`, refusing
    /// any file already there; else an existing one of ours, to add to, or
    /// a new one. Never follows a symlink at `name`.
    pub fn file(&self, name: &str, fresh: bool) -> io::Result<File> {
        let c = cstr(name)?;
        let mut fl = libc::O_RDWR | libc::O_CREAT | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        if fresh {
            fl |= libc::O_EXCL;
        }
        // SAFETY: valid descriptor and C string.
        let fd = unsafe { libc::openat(self.0.as_raw_fd(), c.as_ptr(), fl, 0o600) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        let f = unsafe { File::from_raw_fd(fd) };
        trusted(&f.metadata()?, true)?;
        Ok(f)
    }

    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let (a, b) = (cstr(from)?, cstr(to)?);
        let fd = self.0.as_raw_fd();
        // SAFETY: valid descriptor and C strings.
        if unsafe { libc::renameat(fd, a.as_ptr(), fd, b.as_ptr()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn unlink(&self, name: &str) -> io::Result<()> {
        let c = cstr(name)?;
        // SAFETY: valid descriptor and C string.
        if unsafe { libc::unlinkat(self.0.as_raw_fd(), c.as_ptr(), 0) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn exists(&self, name: &str) -> bool {
        let Ok(c) = cstr(name) else { return false };
        // SAFETY: plain data filled by the kernel.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid descriptor, C string and buffer.
        unsafe {
            libc::fstatat(
                self.0.as_raw_fd(),
                c.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            ) == 0
        }
    }
}
