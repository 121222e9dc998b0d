//! The absolute path of a `struct file`, walked up through dentries and
//! mounts.

use aya_ebpf::{
    cty::c_void,
    helpers::generated::{bpf_loop, bpf_probe_read_kernel},
};
use wire::{ArgHeader, item, kcfg::member};

use crate::args::{item_at, mark_cut, put_header};
use crate::kread::{rd, rd_ptr};
use crate::limits::{NAME_MAX, PATH_CAP, PATH_DEPTH, REC_MAX, STR_KEEP, STR_MAX};
use crate::maps::{PATH_SCRATCH, offset};

/// A path written back to front in this CPU's path scratch: it ends at
/// PATH_CAP and starts at `at`.
pub(crate) struct FilePath {
    buf: *mut u8,
    at: usize,
    /// Deeper than PATH_DEPTH steps or longer than the scratch: what is
    /// kept is its end.
    pub(crate) cut: bool,
    /// No path at all: a detached dentry without a name (a pipe's, a
    /// socket's, whose names d_path makes up).
    pub(crate) anon: bool,
}

impl FilePath {
    /// Its length, at most PATH_CAP (bounded for the verifier).
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        let len = (PATH_CAP - self.at) & (PATH_CAP * 2 - 1);
        if len > PATH_CAP { PATH_CAP } else { len }
    }

    /// Where it starts (a kernel address, for the probe-read helpers).
    #[inline(always)]
    pub(crate) fn start(&self) -> *const u8 {
        self.byte_at(self.at)
    }

    /// Byte `i` of the scratch (masked inside it).
    #[inline(always)]
    fn byte(&self, i: usize) -> u8 {
        // SAFETY: masked below PATH_CAP, inside the 2 * PATH_CAP-byte
        // path scratch, which this run alone uses.
        unsafe { *self.buf.add(i & (PATH_CAP - 1)) }
    }

    /// The address of byte `i` of the scratch (masked inside it).
    #[inline(always)]
    pub(crate) fn byte_at(&self, i: usize) -> *const u8 {
        self.buf.wrapping_add(i & (PATH_CAP - 1))
    }
}

/// The absolute path of `file`, walking dentries and crossing mounts
/// upwards, written back to front in the per-CPU path scratch. Returns the
/// scratch, where the path starts in it (it ends at PATH_CAP), and whether
/// it was cut: deeper than PATH_DEPTH steps or longer than the scratch, in
/// which case what is kept is its end (the file's name and the directories
/// nearest it).
#[inline(always)]
pub(crate) fn file_path(file: *const u8) -> Option<FilePath> {
    path_of(file.wrapping_add(offset(member::FILE_F_PATH)))
}

/// Where a path walk is: the context of its `bpf_loop`.
#[repr(C)]
struct Walk {
    dentry: u64,
    mnt: u64,
    vfsmnt: u64,
    /// Where the path written so far starts in the scratch.
    at: u64,
    cut: u64,
    top: u64,
    anon: u64,
}

/// [`file_path`] of a `struct path` (a file's `f_path`, a task's working
/// directory).
///
/// One step up per turn of a `bpf_loop`, whose callback the verifier
/// checks once: unrolled, each walk cost a program as much as all its
/// other work, and a program with four of them (sched_process_exec) went
/// past the verifier's budget.
#[inline(always)]
pub(crate) fn path_of(path: *const u8) -> Option<FilePath> {
    let buf = PATH_SCRATCH.get_ptr_mut(0)?.cast::<u8>();
    let vfsmnt = rd_ptr(path.wrapping_add(offset(member::PATH_MNT)));
    let mut w = Walk {
        dentry: rd_ptr(path.wrapping_add(offset(member::PATH_DENTRY))) as u64,
        mnt: vfsmnt.wrapping_sub(offset(member::MOUNT_MNT)) as u64,
        vfsmnt: vfsmnt as u64,
        at: PATH_CAP as u64,
        cut: 0,
        top: 0,
        anon: 0,
    };
    // SAFETY: a callback of bpf_loop's type and a context it reads as
    // `Walk`, which lives on this stack until the loop returns.
    unsafe {
        bpf_loop(
            PATH_DEPTH as u32,
            walk_step as *mut c_void,
            (&mut w as *mut Walk).cast::<c_void>(),
            0,
        );
    }
    let mut dentry = w.dentry as *const u8;
    let mut mnt = w.mnt as *const u8;
    let mut vfsmnt = w.vfsmnt as *const u8;
    let mut at = (w.at as usize) & (PATH_CAP * 2 - 1);
    let mut cut = w.cut != 0;
    let mut top = w.top != 0;
    {
        if !top && !cut {
            // The steps ran out: the path is whole only if nothing but the
            // roots of mounts (no name) is left above.
            for _ in 0..3 {
                let root = rd_ptr(vfsmnt.wrapping_add(offset(member::VFSMOUNT_MNT_ROOT)));
                if dentry != root {
                    break;
                }
                if climb_mount(&mut dentry, &mut mnt, &mut vfsmnt) {
                    top = true;
                    break;
                }
            }
            cut = !top;
        }
        if at == PATH_CAP {
            at -= 1;
            // SAFETY: masked below PATH_CAP, inside the scratch.
            unsafe { *buf.add(at & (PATH_CAP - 1)) = b'/' };
        }
        Some(FilePath {
            buf,
            at: at & (PATH_CAP - 1),
            cut,
            anon: w.anon != 0,
        })
    }
}

/// One step of [`path_of`]'s walk: the current dentry's name, or from a
/// mount's root to where it is mounted. Returns 1 to stop.
#[inline(never)]
extern "C" fn walk_step(_i: u32, ctx: *mut c_void) -> i64 {
    // SAFETY: bpf_loop hands back the `Walk` path_of gave it, on
    // path_of's stack, which outlives the loop.
    let w = unsafe { &mut *ctx.cast::<Walk>() };
    let Some(buf) = PATH_SCRATCH.get_ptr_mut(0) else {
        return 1;
    };
    let buf = buf.cast::<u8>();
    let mut dentry = w.dentry as *const u8;
    let mut mnt = w.mnt as *const u8;
    let mut vfsmnt = w.vfsmnt as *const u8;
    let root = rd_ptr(vfsmnt.wrapping_add(offset(member::VFSMOUNT_MNT_ROOT)));
    let parent = rd_ptr(dentry.wrapping_add(offset(member::DENTRY_D_PARENT)));
    // Its own parent but no mount's root: a detached dentry (a memfd's,
    // say). Its name is the whole path, as d_path gives it.
    let detached = dentry == parent && dentry != root;
    if dentry == root {
        let top = climb_mount(&mut dentry, &mut mnt, &mut vfsmnt);
        w.dentry = dentry as u64;
        w.mnt = mnt as u64;
        w.vfsmnt = vfsmnt as u64;
        if top {
            w.top = 1;
            return 1;
        }
        return 0;
    }
    let qstr = dentry.wrapping_add(offset(member::DENTRY_D_NAME));
    let nlen = rd::<u32>(qstr.wrapping_add(offset(member::QSTR_LEN))) as usize & NAME_MAX;
    let name = rd_ptr(qstr.wrapping_add(offset(member::QSTR_NAME)));
    let at = (w.at as usize) & (PATH_CAP * 2 - 1);
    if at <= nlen || at > PATH_CAP {
        w.cut = 1;
        return 1;
    }
    let at = (at - nlen - 1) & (PATH_CAP - 1);
    // SAFETY: `at` is below PATH_CAP and `nlen` at most NAME_MAX, inside
    // the 2 * PATH_CAP-byte scratch; the helper checks the name's address.
    unsafe {
        bpf_probe_read_kernel(
            buf.add(at + 1).cast::<c_void>(),
            nlen as u32,
            name.cast::<c_void>(),
        );
        *buf.add(at) = b'/';
    }
    w.at = at as u64;
    if detached {
        // A detached dentry without a name (a pipe's, a socket's, whose
        // names d_path makes up) is no path at all, not "/".
        if nlen == 0 {
            w.anon = 1;
        }
        w.top = 1;
        return 1;
    }
    w.dentry = parent as u64;
    0
}

/// From the root `dentry` of mount `mnt` (whose vfsmount is `vfsmnt`) to
/// where that mount is mounted in its parent. True if there is no parent:
/// the top of the namespace.
#[inline(always)]
pub(crate) fn climb_mount(
    dentry: &mut *const u8,
    mnt: &mut *const u8,
    vfsmnt: &mut *const u8,
) -> bool {
    let mparent = rd_ptr(mnt.wrapping_add(offset(member::MOUNT_PARENT)));
    if mparent == *mnt {
        return true;
    }
    *dentry = rd_ptr(mnt.wrapping_add(offset(member::MOUNT_MOUNTPOINT)));
    *mnt = mparent;
    *vfsmnt = mparent.wrapping_add(offset(member::MOUNT_MNT));

    false
}

/// Writes the path of `file` as a string argument. A path longer than a
/// string item keeps its end: the name of the file is what matters most.
#[inline(always)]
///
/// # Safety
/// `e` must be the event scratch, unused by anyone else during this run.
pub(crate) unsafe fn put_file_path(e: *mut u8, pos: usize, index: u8, file: *const u8) -> usize {
    // SAFETY: the caller's promise.
    unsafe {
        put_path(
            e,
            pos,
            index,
            file.wrapping_add(offset(member::FILE_F_PATH)),
        )
    }
}

/// [`put_file_path`] of a `struct path`.
///
/// # Safety
/// `e` must be the event scratch, unused by anyone else during this run.
#[inline(always)]
pub(crate) unsafe fn put_path(e: *mut u8, pos: usize, index: u8, path: *const u8) -> usize {
    // SAFETY: the caller's promise.
    let (pos, keep) = match unsafe { item_at::<REC_MAX>(e, pos, STR_KEEP) } {
        Ok(at) => at,
        Err(pos) => return pos,
    };
    let Some(path) = path_of(path) else {
        // SAFETY: as above.
        unsafe { mark_cut(e) };
        return pos;
    };
    if path.anon {
        // Shown empty and marked: there is no name to show.
        // SAFETY: item_at gave room for the header at `pos`.
        unsafe { put_header(e.add(pos), index, item::STR | item::TRUNCATED, 0) };
        return pos + ArgHeader::LEN;
    }
    let have = PATH_CAP - path.at;
    let (mut from, mut len, cut) = if have > keep {
        (PATH_CAP - keep, keep, true)
    } else {
        (path.at, have, path.cut)
    };
    // A cut path must not pass for a whole one: it never starts with
    // the '/' an absolute path would.
    if cut && len > 1 && path.byte(from) == b'/' {
        from += 1;
        len -= 1;
    }
    let flags = if cut {
        item::STR | item::TRUNCATED
    } else {
        item::STR
    };
    let len = len & (STR_MAX * 2 - 1);
    // SAFETY: `pos` is clamped inside the record and `len` below
    // 2 * STR_MAX, the room the event scratch has after any such position;
    // the helper reads the path scratch.
    unsafe {
        bpf_probe_read_kernel(
            e.add(pos + ArgHeader::LEN).cast::<c_void>(),
            len as u32,
            path.byte_at(from).cast::<c_void>(),
        );
        put_header(e.add(pos), index, flags, len as u16);
    }
    pos + ArgHeader::LEN + len
}
