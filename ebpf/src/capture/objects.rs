//! Whole objects: kernel module images and BPF program instructions.

use aya_ebpf::{cty::c_void, helpers::generated::bpf_probe_read_kernel};
use wire::{
    capture::{artifact, flags, ftype},
    kcfg::member,
};

use super::files::file_id;
use super::send::Scratch;
use crate::context::mnt_ns_of;
use crate::file::fd_file;
use crate::kread::{current_task, rd, rd_ptr, rd_user};
use crate::maps::offset;
use crate::path::file_path;
use crate::regs::Regs;

/// Whether the current task has CAP_SYS_MODULE in its effective set.
#[inline(always)]
pub(crate) fn may_load_modules() -> bool {
    const CAP_SYS_MODULE: u64 = 16;
    let cred = rd_ptr(current_task().wrapping_add(offset(member::TASK_CRED)));
    rd::<u64>(cred.wrapping_add(offset(member::CRED_CAP_EFFECTIVE))) & (1 << CAP_SYS_MODULE) != 0
}

/// init_module(image, len, params): the image. The call fails here
/// (ENOSYS, no modules), but the attempt is the evidence.
#[inline(always)]
pub(crate) fn module(regs: &Regs) {
    if let Some(mut s) = Scratch::start(artifact::MODULE, ftype::OTHER, 0, 0) {
        s.send_object(regs.arg(0), regs.arg(1));
    }
}

/// finit_module(fd, params, flags): the file cannot be read from here, so
/// its identity and path go to tracee-collect, which reads it.
#[inline(always)]
pub(crate) fn module_file(regs: &Regs) {
    let file = fd_file(regs.arg(0));
    if file.is_null() {
        return;
    }
    let (dev, ino, _) = file_id(file);
    let Some(path) = file_path(file) else {
        return;
    };
    let Some(mut s) = Scratch::start(artifact::MODULE, ftype::REGULAR, dev, ino) else {
        return;
    };
    let len = path.len();
    // SAFETY: `len` is at most PATH_CAP, below MAX_CHUNK: it fits the
    // payload area; the source is the path scratch, which holds it.
    unsafe {
        bpf_probe_read_kernel(s.payload(), len as u32, path.start().cast::<c_void>());
    }
    let h = s.header();
    h.mnt_ns = mnt_ns_of(current_task());
    h.flags = flags::REF;
    h.len = len as u32;
    s.output(len);
}

/// bpf(BPF_PROG_LOAD, attr, size): the instructions, named by the
/// program's name.
#[inline(always)]
pub(crate) fn bpf_prog(regs: &Regs) {
    let attr = regs.arg(1);
    let cnt = rd_user::<u32>(attr + 4).unwrap_or(0) as u64;
    let insns = rd_user::<u64>(attr + 8).unwrap_or(0);
    let Some(mut s) = Scratch::start(artifact::BPF, ftype::OTHER, 0, 0) else {
        return;
    };
    let h = s.header();
    h.name = rd_user::<[u8; 16]>(attr + 48).unwrap_or_default();
    h.name[15] = 0;
    s.send_object(insns, cnt * 8);
}
