//! `cgroup_mkdir` and `cgroup_rmdir`, and the kernel's record of cgroup v2
//! directories created while tracing (`CGROUPS`), which tracee-collect
//! classifies as containers or not and the container scope reads.

use aya_ebpf::{
    helpers::generated::{bpf_get_current_cgroup_id, bpf_ktime_get_ns},
    programs::BtfTracePointContext,
};
use wire::{
    ARGS_OFFSET, event_id,
    kcfg::{cgroup, member},
};

use crate::args::{put_kernel_str, put_scalar};
use crate::context::{fill_context, ids, mnt_ns_of};
use crate::kread::{rd, rd_ptr};
use crate::limits::REC_MAX;
use crate::maps::{CGROUPS, CGROUPS_FULL, EVT_SCRATCH, STARTED, new_generation, offset};
use crate::output::{finish_and_output, output};
use crate::regs::current_syscall;
use crate::scope::{event_enabled, is_self};

/// The hierarchy id of cgroup v2 (what /proc/PID/cgroup shows as `0::`).
const DFL_HIERARCHY: u32 = 0;

/// `BPF_NOEXIST`: add, never replace (uapi bpf.h).
const BPF_NOEXIST: u64 = 1;

/// Both events: (cgroup_id, cgroup_path, hierarchy_id). A cgroup v2
/// directory is always sent, whatever the scope and selection: user space
/// classifies it (and drops the event if it was not asked for).
pub(crate) fn try_cgroup(ctx: &BtfTracePointContext, id: u32) {
    let cgrp: *const u8 = ctx.arg(0);
    let path: *const u8 = ctx.arg(1);
    let root = rd_ptr(cgrp.wrapping_add(offset(member::CGROUP_ROOT)));
    let hierarchy = rd::<u32>(root.wrapping_add(offset(member::CGROUP_ROOT_HIERARCHY_ID)));
    let kn = rd_ptr(cgrp.wrapping_add(offset(member::CGROUP_KN)));
    let cgroup_id = rd::<u64>(kn.wrapping_add(offset(member::KERNFS_NODE_ID)));
    let v2 = hierarchy == DFL_HIERARCHY;
    if v2
        && id == event_id::CGROUP_MKDIR
        && CGROUPS
            .insert(&cgroup_id, &(cgroup::PENDING | cgroup::NEW), BPF_NOEXIST)
            .is_err()
        && let Some(full) = CGROUPS_FULL.get_ptr_mut(0)
    {
        // SAFETY: the one value of an array map, valid for this run.
        unsafe { *full = 1 };
    }
    if !v2 && (!event_enabled(id) || is_self()) {
        return;
    }
    let Some(e) = EVT_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let e = e.cast::<u8>();
    // SAFETY: `e` is this CPU's event scratch, which nothing else uses
    // during this run; each writer clamps its position inside the record.
    unsafe {
        fill_context(e, bpf_ktime_get_ns(), ids(id, current_syscall()), 0, 0);
        let mut pos = put_scalar(e, ARGS_OFFSET, 0, cgroup_id);
        pos = put_kernel_str::<REC_MAX>(e, pos, 1, path);
        pos = put_scalar(e, pos, 2, hierarchy as u64);
        if v2 {
            output(e, pos);
        } else {
            finish_and_output(e, pos);
        }
    }
}

/// Tracee's rule for a container that has started: a task of a cgroup
/// created while tracing (or a container's) execs in a mount namespace
/// other than its parent's. Runs at every exec; costs a lookup unless the
/// machine is making cgroups.
#[inline(always)]
pub(crate) fn mark_started(task: *const u8) {
    // SAFETY: the helper takes no argument.
    let id = unsafe { bpf_get_current_cgroup_id() };
    if CGROUPS.get_ptr(&id).is_none() || STARTED.get_ptr(&id).is_some() {
        return;
    }
    let parent = rd_ptr(task.wrapping_add(offset(member::TASK_REAL_PARENT)));
    if mnt_ns_of(task) == mnt_ns_of(parent) {
        return;
    }
    let _ = STARTED.insert(&id, &1, 0);
    // Cached contexts of this cgroup's threads read the flag again.
    new_generation();
}
