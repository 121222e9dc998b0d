//! The cgroup v2 tree: where it is mounted, and the containers in it when
//! tracing starts.

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use wire::container::{Container, classify, flags};

/// Directories walked at most, and how deep: a cgroup tree is shallow and
/// small; a huge one is cut (and said) rather than walked for ever.
const WALK_MAX: usize = 100_000;
const DEPTH_MAX: usize = 64;

/// Where cgroup v2 is mounted: `/sys/fs/cgroup` on a unified host,
/// `/sys/fs/cgroup/unified` on a hybrid one; found in mountinfo.
pub fn mount_point() -> Option<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut best: Option<PathBuf> = None;
    for line in info.lines() {
        let mut halves = line.splitn(2, " - ");
        let (pre, post) = (halves.next()?, halves.next().unwrap_or_default());
        if post.split(' ').next() != Some("cgroup2") {
            continue;
        }
        let f: Vec<&str> = pre.split(' ').collect();
        // The mount of the hierarchy's root (not a bind of a subtree).
        if f.len() < 5 || f[3] != "/" {
            continue;
        }
        let p = PathBuf::from(unescape(f[4]));
        if best
            .as_ref()
            .is_none_or(|b| p.as_os_str().len() < b.as_os_str().len())
        {
            best = Some(p);
        }
    }
    best
}

/// Longest path the `cgroup_mkdir` tracepoint carries: a longer one is cut
/// at its end, so the container's component may be missing.
pub const TRACEPOINT_PATH_MAX: usize = 1023;

/// The whole path of cgroup `id` (relative to `root`, the v2 mount), asked
/// of the kernel by the cgroup's file handle: for a path the tracepoint
/// cut. None if the cgroup is gone.
pub fn path_of(root: &Path, id: u64) -> Option<String> {
    /// `struct file_handle` with the 8 bytes of a kernfs handle: the
    /// cgroup id.
    #[repr(C)]
    struct KernfsHandle {
        handle_bytes: u32,
        handle_type: i32,
        id: u64,
    }
    /// `FILEID_KERNFS` (include/linux/exportfs.h).
    const FILEID_KERNFS: i32 = 0xfe;
    let mount = fs::File::open(root).ok()?;
    let mut h = KernfsHandle {
        handle_bytes: 8,
        handle_type: FILEID_KERNFS,
        id,
    };
    // SAFETY: `h` is a file_handle header followed by the handle_bytes (8)
    // bytes it announces, alive for the call; the kernel reads no more.
    let fd = unsafe {
        libc::open_by_handle_at(
            mount.as_raw_fd(),
            (&mut h as *mut KernfsHandle).cast::<libc::file_handle>(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: a descriptor just opened, owned here alone.
    let dir = unsafe { OwnedFd::from_raw_fd(fd) };
    let p = fs::read_link(format!("/proc/self/fd/{}", dir.as_raw_fd())).ok()?;
    let rel = p.strip_prefix(root).ok()?;
    Some(format!("/{}", rel.to_string_lossy()))
}

/// mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The containers under `root` now, with their paths: every cgroup
/// directory whose path is a container's (its own cgroup, and those its
/// processes made below it). A cgroup's id is its directory's inode
/// number. One a user other than root made is not looked up (see
/// [`super::not_a_runtimes`]).
pub fn walk(root: &Path) -> (Vec<(Container, String)>, bool) {
    let mut found = Vec::new();
    let mut stack: Vec<(PathBuf, String, usize)> = vec![(root.to_path_buf(), String::new(), 0)];
    let mut seen = 0usize;
    let mut cut = false;
    while let Some((dir, rel, depth)) = stack.pop() {
        seen += 1;
        if seen > WALK_MAX {
            cut = true;
            break;
        }
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            // Cgroups are directories; nothing in cgroupfs is a symlink.
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            let path = format!("{rel}/{name}");
            if let Some(f) = classify(&path)
                && let Ok(m) = e.metadata()
            {
                let mut c = Container {
                    cgroup_id: m.ino(),
                    ctime: (m.ctime() as u64)
                        .wrapping_mul(1_000_000_000)
                        .wrapping_add(m.ctime_nsec() as u64),
                    flags: if f.root { flags::ROOT } else { 0 },
                    runtime: f.runtime,
                    id: f.id.into_bytes(),
                    ..Default::default()
                };
                if f.root && m.uid() != 0 {
                    c.flags |= flags::LOOKED_UP;
                    c.lookup = super::not_a_runtimes(m.uid()).into_bytes();
                }
                found.push((c, path.clone()));
            }
            if depth + 1 < DEPTH_MAX {
                stack.push((e.path(), path, depth + 1));
            } else {
                cut = true;
            }
        }
    }
    (found, cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
        assert_eq!(unescape(r"/a\04"), r"/a\04");
        assert_eq!(unescape("/sys/fs/cgroup/unified"), "/sys/fs/cgroup/unified");
    }

    #[test]
    fn this_machine_has_cgroup2() {
        let m = mount_point().expect("a cgroup2 mount");
        assert!(m.join("cgroup.procs").exists(), "{}", m.display());
    }

    /// A cgroup's path from its id (root only: open_by_handle_at needs
    /// CAP_DAC_READ_SEARCH).
    #[test]
    fn a_cgroup_path_from_its_id() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let m = mount_point().expect("a cgroup2 mount");
        let d = m.join(format!("tracee-rs-unit-{}", std::process::id()));
        let deep = d.join("x".repeat(200)).join("y".repeat(200));
        fs::create_dir_all(&deep).unwrap();
        let id = fs::metadata(&deep).unwrap().ino();
        let got = path_of(&m, id);
        let _ = fs::remove_dir(&deep);
        let _ = fs::remove_dir(deep.parent().unwrap());
        let _ = fs::remove_dir(&d);
        assert_eq!(
            got.as_deref(),
            Some(&*format!("/{}", deep.strip_prefix(&m).unwrap().display()))
        );
        assert_eq!(path_of(&m, u64::MAX), None);
    }
}
