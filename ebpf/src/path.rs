//! The absolute path of a `struct file`, walked up through dentries and
//! mounts.

#[allow(unused_imports)]
use core::ptr::{addr_of, addr_of_mut, read_volatile};

#[allow(unused_imports)]
use aya_ebpf::{
    EbpfContext,
    cty::c_void,
    helpers::generated::{
        bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_task,
        bpf_get_current_task_btf, bpf_get_smp_processor_id, bpf_ktime_get_ns, bpf_loop,
        bpf_map_update_elem, bpf_probe_read_kernel, bpf_probe_read_kernel_str, bpf_probe_read_user,
        bpf_probe_read_user_str, bpf_ringbuf_output, bpf_ringbuf_query, bpf_task_pt_regs,
    },
    helpers::{bpf_get_current_pid_tgid, bpf_get_current_uid_gid},
    macros::map,
    maps::{Array, HashMap, PerCpuArray, RingBuf},
    programs::{BtfTracePointContext, TracePointContext},
};
#[allow(unused_imports)]
use wire::{
    ARGS_OFFSET, ArgHeader, EventContext, RecordHeader, ctx_flags, event_id, item,
    kcfg::{self, EventCfg, arg, flags as cfgf, member as off, nr, scope},
    kind, lost_reason,
};

#[allow(unused_imports)]
use crate::{
    args::*, context::*, kread::*, limits::*, maps::*, output::*, regs::*, sched::*, scope::*,
    syscall::*,
};

/// The absolute path of `file`, walking dentries and crossing mounts
/// upwards, written back to front in the per-CPU path scratch. Returns the
/// scratch, where the path starts in it (it ends at PATH_CAP), and whether
/// it was cut: deeper than PATH_DEPTH steps or longer than the scratch, in
/// which case what is kept is its end (the file's name and the directories
/// nearest it).
#[inline(always)]
pub(crate) unsafe fn file_path(file: *const u8) -> Option<(*mut u8, usize, bool)> {
    let buf = PATH_SCRATCH.get_ptr_mut(0)?.cast::<u8>();
    let mut cut = false;
    let mut top = false;
    unsafe {
        let path = file.wrapping_add(offset(off::FILE_F_PATH));
        let mut dentry = rd_ptr(path.wrapping_add(offset(off::PATH_DENTRY)));
        let mut vfsmnt = rd_ptr(path.wrapping_add(offset(off::PATH_MNT)));
        let mut mnt = vfsmnt.wrapping_sub(offset(off::MOUNT_MNT));
        let mut at = PATH_CAP;
        for _ in 0..PATH_DEPTH {
            let root = rd_ptr(vfsmnt.wrapping_add(offset(off::VFSMOUNT_MNT_ROOT)));
            let parent = rd_ptr(dentry.wrapping_add(offset(off::DENTRY_D_PARENT)));
            // Its own parent but no mount's root: a detached dentry (a
            // memfd's, say). Its name is the whole path, as d_path gives it.
            let detached = dentry == parent && dentry != root;
            if dentry == root {
                if climb_mount(&mut dentry, &mut mnt, &mut vfsmnt) {
                    top = true;
                    break;
                }
                continue;
            }
            let qstr = dentry.wrapping_add(offset(off::DENTRY_D_NAME));
            // Masked, not clamped: every path then reaches the loop head
            // with the same value ranges, which lets the verifier prune.
            let nlen = rd::<u32>(qstr.wrapping_add(offset(off::QSTR_LEN))) as usize & NAME_MAX;
            let name = rd_ptr(qstr.wrapping_add(offset(off::QSTR_NAME)));
            if at <= nlen {
                cut = true;
                break;
            }
            at = (at - nlen - 1) & (PATH_CAP - 1);
            bpf_probe_read_kernel(
                buf.add(at + 1).cast::<c_void>(),
                nlen as u32,
                name.cast::<c_void>(),
            );
            *buf.add(at) = b'/';
            if detached {
                top = true;
                break;
            }
            dentry = parent;
        }
        if !top && !cut {
            // The steps ran out: the path is whole only if nothing but the
            // roots of mounts (no name) is left above.
            for _ in 0..3 {
                let root = rd_ptr(vfsmnt.wrapping_add(offset(off::VFSMOUNT_MNT_ROOT)));
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
            *buf.add(at & (PATH_CAP - 1)) = b'/';
        }
        Some((buf, at & (PATH_CAP - 1), cut))
    }
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
    let mparent = rd_ptr(mnt.wrapping_add(offset(off::MOUNT_PARENT)));
    if mparent == *mnt {
        return true;
    }
    *dentry = rd_ptr(mnt.wrapping_add(offset(off::MOUNT_MOUNTPOINT)));
    *mnt = mparent;
    *vfsmnt = mparent.wrapping_add(offset(off::MOUNT_MNT));

    false
}

/// Writes the path of `file` as a string argument. A path longer than a
/// string item keeps its end: the name of the file is what matters most.
#[inline(always)]
pub(crate) unsafe fn put_file_path(e: *mut u8, pos: usize, index: u8, file: *const u8) -> usize {
    let (pos, keep) = match unsafe { item_at::<REC_MAX>(e, pos, STR_KEEP) } {
        Ok(at) => at,
        Err(pos) => return pos,
    };
    unsafe {
        let Some((buf, at, cut)) = file_path(file) else {
            mark_cut(e);
            return pos;
        };
        let have = PATH_CAP - at;
        let (mut from, mut len, cut) = if have > keep {
            (PATH_CAP - keep, keep, true)
        } else {
            (at, have, cut)
        };
        // A cut path must not pass for a whole one: it never starts with
        // the '/' an absolute path would.
        if cut && len > 1 && *buf.add(from & (PATH_CAP - 1)) == b'/' {
            from += 1;
            len -= 1;
        }
        let flags = if cut {
            item::STR | item::TRUNCATED
        } else {
            item::STR
        };
        let len = len & (STR_MAX * 2 - 1);
        bpf_probe_read_kernel(
            e.add(pos + ArgHeader::LEN).cast::<c_void>(),
            len as u32,
            buf.add(from & (PATH_CAP - 1)).cast::<c_void>(),
        );
        put_header(e.add(pos), index, flags, len as u16);
        pos + ArgHeader::LEN + len
    }
}
