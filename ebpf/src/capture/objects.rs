//! Whole objects: kernel module images and BPF program instructions.

#[allow(unused_imports)]
use aya_ebpf::{
    cty::c_void,
    helpers::generated::{
        bpf_get_current_comm, bpf_ktime_get_ns, bpf_loop, bpf_map_update_elem,
        bpf_probe_read_kernel, bpf_probe_read_user, bpf_ringbuf_output,
    },
    helpers::{bpf_get_current_pid_tgid, bpf_get_current_uid_gid},
    macros::map,
    maps::{Array, LruHashMap, PerCpuArray, RingBuf},
    programs::RawTracePointContext,
};
#[allow(unused_imports)]
use wire::{
    RecordHeader,
    capture::{CaptureHeader, MAX_CHUNK, artifact, flags, ftype},
    kcfg::{CAP_PATH_CAP, CAP_TYPE_ELF, CapFilter, member as off, nr},
    kind,
};

#[allow(unused_imports)]
use super::*;
#[allow(unused_imports)]
use super::{files::*, memory::*, send::*};
#[allow(unused_imports)]
use crate::{context::*, kread::*, limits::*, maps::*, path::*, regs::*, scope::*};

/// Whether the current task has CAP_SYS_MODULE in its effective set.
#[inline(always)]
pub(crate) fn may_load_modules() -> bool {
    const CAP_SYS_MODULE: u64 = 16;
    unsafe {
        let cred = rd_ptr(current_task().add(offset(off::TASK_CRED)));
        rd::<u64>(cred.wrapping_add(offset(off::CRED_CAP_EFFECTIVE))) & (1 << CAP_SYS_MODULE) != 0
    }
}

/// init_module(image, len, params): the image. The call fails here
/// (ENOSYS, no modules), but the attempt is the evidence.
#[inline(always)]
pub(crate) unsafe fn module(regs: &Regs) {
    let Some(s) = CAP_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let s = s.cast::<u8>();
    unsafe {
        start_header(s, artifact::MODULE, ftype::OTHER, 0, 0);
        send_object(s, regs.arg(0), regs.arg(1));
    }
}

/// finit_module(fd, params, flags): the file cannot be read from here, so
/// its identity and path go to tracee-collect, which reads it.
#[inline(always)]
pub(crate) unsafe fn module_file(regs: &Regs) {
    let file = fd_file(regs.arg(0));
    if file.is_null() {
        return;
    }
    let Some(s) = CAP_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let s = s.cast::<u8>();
    unsafe {
        let (dev, ino, _) = file_id(file);
        let Some((buf, at, _)) = file_path(file) else {
            return;
        };
        let h = start_header(s, artifact::MODULE, ftype::REGULAR, dev, ino);
        (*h).mnt_ns = mnt_ns_of(current_task());
        let len = (PATH_CAP - at) & (PATH_CAP * 2 - 1);
        let len = if len > PATH_CAP { PATH_CAP } else { len };
        bpf_probe_read_kernel(
            s.add(HDR).cast::<c_void>(),
            len as u32,
            buf.add(at & (PATH_CAP - 1)).cast::<c_void>(),
        );
        (*h).flags = flags::REF;
        (*h).len = len as u32;
        output(s, HDR + len);
    }
}

/// bpf(BPF_PROG_LOAD, attr, size): the instructions, named by the
/// program's name.
#[inline(always)]
pub(crate) unsafe fn bpf_prog(regs: &Regs) {
    let attr = regs.arg(1);
    let Some(s) = CAP_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let s = s.cast::<u8>();
    unsafe {
        let cnt = rd_user::<u32>(attr + 4).unwrap_or(0) as u64;
        let insns = rd_user::<u64>(attr + 8).unwrap_or(0);
        let h = start_header(s, artifact::BPF, ftype::OTHER, 0, 0);
        bpf_probe_read_user(
            (*h).name.as_mut_ptr().cast::<c_void>(),
            16,
            (attr + 48) as *const c_void,
        );
        (*h).name[15] = 0;
        send_object(s, insns, cnt * 8);
    }
}
