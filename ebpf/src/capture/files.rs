//! Written and read files: which descriptor, which file, whether it
//! matches the capture filter, and the bytes the call moved.

use wire::{
    capture::{artifact, flags, ftype},
    kcfg::{CAP_PATH_CAP, CAP_TYPE_ELF, CapFilter, member},
};

use super::send::{Scratch, send_range};
use super::{CAP_FILTER, ELF_FILES, MAX_IOV};
use crate::file::{fd_file, inode_id};
use crate::kread::{rd, rd_into, rd_ptr, rd_user};
use crate::maps::offset;
use crate::path::file_path;
use crate::regs::Regs;

/// A file's device (the kernel's dev_t), inode number and capture type.
#[inline(always)]
pub(crate) fn file_id(file: *const u8) -> (u32, u64, u8) {
    let (dev, ino, mode) = inode_id(file);
    let ft = match mode & 0o170000 {
        0o100000 => ftype::REGULAR,
        0o010000 => ftype::PIPE,
        0o140000 => ftype::SOCKET,
        _ => ftype::OTHER,
    };
    (dev, ino, ft)
}

/// A write or read that moved `done` bytes: its file, if it passes the
/// capture filter, gets the bytes at the offset they went to.
#[inline(always)]
pub(crate) fn file_io(
    art: u8,
    vectored: bool,
    positioned: bool,
    rwf_flags: bool,
    done: u64,
    regs: &Regs,
) {
    let Some(f) = CAP_FILTER.get(if art == artifact::WRITE { 0 } else { 1 }) else {
        return;
    };
    let fd = regs.arg(0);
    if f.fds != 0 && (fd > 2 || f.fds & (1 << fd) == 0) {
        return;
    }
    let file = fd_file(fd);
    if file.is_null() {
        return;
    }
    {
        let (dev, ino, ft) = file_id(file);
        // The file offset the call started at: given, or where the call
        // left the file position minus what it moved.
        let mut at = u64::MAX;
        if ft == ftype::REGULAR {
            // A write to a file open for appending (or a pwritev2 with
            // RWF_APPEND) lands at its end whatever offset it gave: where
            // the file now ends, less what the call wrote.
            let append = art == artifact::WRITE
                && (rd::<u32>(file.wrapping_add(offset(member::FILE_F_FLAGS))) & O_APPEND != 0
                    || (rwf_flags && regs.arg(5) & RWF_APPEND != 0));
            let given = if positioned { regs.arg(3) } else { u64::MAX };
            at = if append {
                let inode = rd_ptr(file.wrapping_add(offset(member::FILE_F_INODE)));
                rd::<u64>(inode.wrapping_add(offset(member::INODE_I_SIZE))).wrapping_sub(done)
            } else if given != u64::MAX {
                given
            } else {
                rd::<u64>(file.wrapping_add(offset(member::FILE_F_POS))).wrapping_sub(done)
            };
        }
        if f.types != 0 {
            let mut t = 1u32 << ft;
            if ft == ftype::REGULAR && is_elf(dev, ino, at, vectored, regs) {
                t |= CAP_TYPE_ELF;
            }
            if f.types & t == 0 {
                return;
            }
        }
        if f.npaths != 0 && !path_matches(f, file) {
            return;
        }

        let Some(mut s) = Scratch::start(art, ft, dev, ino) else {
            return;
        };
        if ft != ftype::REGULAR {
            s.header().flags = flags::APPEND;
        }
        let mut off = if ft == ftype::REGULAR { at } else { 0 };
        if done == 0 {
            let h = s.header();
            h.off = off;
            h.len = 0;
            s.output(0);
            return;
        }
        if !vectored {
            let left = send_range(regs.arg(1), done, off);
            if left > 0 {
                s.send_lost(off.wrapping_add(done - left), left);
            }
            return;
        }
        let iov = regs.arg(1);
        let cnt = regs.arg(2);
        let mut left = done;
        for i in 0..MAX_IOV {
            if left == 0 || i as u64 >= cnt {
                break;
            }
            let base = rd_user::<u64>(iov + 16 * i as u64).unwrap_or(0);
            let len = rd_user::<u64>(iov + 16 * i as u64 + 8).unwrap_or(0);
            let n = if len < left { len } else { left };
            let rest = send_range(base, n, off);
            if rest > 0 {
                s.send_lost(off.wrapping_add(n - rest), rest);
            }
            off = off.wrapping_add(n);
            left -= n;
        }
        if left > 0 {
            s.send_lost(off, left);
        }
    }
}

/// Whether a regular file is ELF: remembered from a call that moved its
/// first bytes (a write or read at offset 0), as the file itself cannot be
/// read from here.
#[inline(always)]
pub(crate) fn is_elf(dev: u32, ino: u64, at: u64, vectored: bool, regs: &Regs) -> bool {
    let key = [dev as u64, ino];
    if at == 0 {
        let p = if vectored {
            rd_user::<u64>(regs.arg(1)).unwrap_or(0)
        } else {
            regs.arg(1)
        };
        let magic = rd_user::<u32>(p).unwrap_or(0);
        if magic == u32::from_le_bytes(*b"\x7fELF") {
            let _ = ELF_FILES.insert(&key, &1, 0);
            return true;
        }
        let _ = ELF_FILES.remove(&key);
        return false;
    }
    ELF_FILES.get_ptr(&key).is_some()
}

/// Whether the file's path starts with one of the filter's prefixes,
/// compared eight bytes at a time.
#[inline(always)]
pub(crate) fn path_matches(f: &CapFilter, file: *const u8) -> bool {
    let Some(path) = file_path(file) else {
        return false;
    };
    // A pipe's or a socket's: no path for a prefix to match.
    if path.anon {
        return false;
    }
    // A path too deep or long to read whole has lost its start, so its
    // prefix is unknown: capture it rather than let depth hide a file.
    if path.cut {
        return true;
    }
    let have = path.len() as u32;
    let mut head = [0u64; CAP_PATH_CAP / 8];
    rd_into(&mut head, path.start());
    for k in 0..3 {
        if k as u32 >= f.npaths {
            break;
        }
        let want = f.path_len[k];
        if want > have {
            continue;
        }
        let mut diff = 0u64;
        for (w, &h) in head.iter().enumerate() {
            let valid = want.saturating_sub(8 * w as u32);
            let mask = if valid >= 8 {
                u64::MAX
            } else {
                (1u64 << (8 * valid)) - 1
            };
            let pre = u64::from_le_bytes(f.paths[k][w * 8..w * 8 + 8].try_into().unwrap_or([0; 8]));
            diff |= (h ^ pre) & mask;
        }
        if diff == 0 {
            return true;
        }
    }
    false
}

/// `open(2)` and `pwritev2(2)` flags that make a write land at the end.
const O_APPEND: u32 = 0o2000;
const RWF_APPEND: u64 = 0x10;
