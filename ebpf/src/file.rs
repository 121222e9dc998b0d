//! What a descriptor, a `struct file` and its inode are: the task's file
//! table, device and inode numbers, change time, and the socket behind a
//! socket's file.

use wire::kcfg::member;

use crate::kread::{current_task, rd, rd_ptr};
use crate::maps::offset;

/// The `struct file` behind descriptor `fd` of the current task (null if
/// there is none).
#[inline(always)]
pub(crate) fn fd_file(fd: u64) -> *const u8 {
    let files = rd_ptr(current_task().wrapping_add(offset(member::TASK_FILES)));
    let fdt = rd_ptr(files.wrapping_add(offset(member::FILES_FDT)));
    let max = rd::<u32>(fdt.wrapping_add(offset(member::FDT_MAX_FDS))) as u64;
    if fd >= max {
        return core::ptr::null();
    }
    let fds = rd_ptr(fdt.wrapping_add(offset(member::FDT_FD)));
    rd_ptr(fds.wrapping_add((fd as usize) * 8))
}

/// A file's inode, as an event names it.
pub(crate) struct InodeFacts {
    /// The kernel's dev_t of its file system.
    pub(crate) dev: u32,
    pub(crate) ino: u64,
    /// Change time, nanoseconds since the epoch.
    pub(crate) ctime: u64,
    pub(crate) mode: u16,
}

/// The device (the kernel's dev_t), inode number and mode of `file`'s
/// inode: what identifies it, without its change time.
#[inline(always)]
pub(crate) fn inode_id(file: *const u8) -> (u32, u64, u16) {
    let inode = rd_ptr(file.wrapping_add(offset(member::FILE_F_INODE)));
    let sb = rd_ptr(inode.wrapping_add(offset(member::INODE_I_SB)));
    (
        rd::<u32>(sb.wrapping_add(offset(member::SB_S_DEV))),
        rd::<u64>(inode.wrapping_add(offset(member::INODE_I_INO))),
        rd::<u16>(inode.wrapping_add(offset(member::INODE_I_MODE))),
    )
}

/// The facts of `file`'s inode (zeros for a null file).
#[inline(always)]
pub(crate) fn inode_facts(file: *const u8) -> InodeFacts {
    let (dev, ino, mode) = inode_id(file);
    let inode = rd_ptr(file.wrapping_add(offset(member::FILE_F_INODE)));
    let sec = rd::<i64>(inode.wrapping_add(offset(member::INODE_CTIME_SEC)));
    // Bit 31 of i_ctime_nsec is the multigrain "queried" flag (6.6+).
    let nsec = rd::<u32>(inode.wrapping_add(offset(member::INODE_CTIME_NSEC))) & 0x3fff_ffff;
    InodeFacts {
        dev,
        ino,
        ctime: (sec as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(nsec as u64),
        mode,
    }
}

/// A file's `private_data`: what a socket's, a BPF program's or a perf
/// event's file stands for.
#[inline(always)]
pub(crate) fn private_data(file: *const u8) -> *const u8 {
    rd_ptr(file.wrapping_add(offset(member::FILE_PRIVATE_DATA)))
}

/// S_IFMT and S_IFSOCK of an inode mode.
const S_IFMT: u16 = 0o170000;
const S_IFSOCK: u16 = 0o140000;

/// The `struct socket` of `file`, if it is a socket's (null otherwise).
#[inline(always)]
pub(crate) fn socket_of(file: *const u8) -> *const u8 {
    if file.is_null() || inode_id(file).2 & S_IFMT != S_IFSOCK {
        return core::ptr::null();
    }
    private_data(file)
}
