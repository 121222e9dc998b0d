//! What is left out: the pushed-down scope filters, the collector and
//! its pipeline, and events that are not selected.

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
    args::*, context::*, kread::*, limits::*, maps::*, output::*, path::*, regs::*, sched::*,
    syscall::*,
};

/// Scope filters pushed down from the filter expressions, checked against
/// the context exactly as the record carries it, so pushdown drops only
/// what tracee-filter would drop from the same record.
#[inline(always)]
pub(crate) unsafe fn scope_ok(c: *const EventContext) -> bool {
    let active = global_u32(&SCOPE);
    if active == 0 {
        return true;
    }
    let not = global_u32(&SCOPE_NOT);
    let pass = |bit: u32, found: bool| -> bool { if not & bit != 0 { !found } else { found } };
    unsafe {
        if active & scope::COMM != 0 && !pass(scope::COMM, F_COMM.get_ptr(&(*c).comm).is_some()) {
            return false;
        }
        if active & scope::PID != 0 && !pass(scope::PID, F_PID.get_ptr(&(*c).pid).is_some()) {
            return false;
        }
        if active & scope::TID != 0 && !pass(scope::TID, F_TID.get_ptr(&(*c).tid).is_some()) {
            return false;
        }
        if active & scope::UID != 0 && !pass(scope::UID, F_UID.get_ptr(&(*c).uid).is_some()) {
            return false;
        }
        if active & scope::MNTNS != 0
            && !pass(scope::MNTNS, F_MNTNS.get_ptr(&(*c).mnt_ns).is_some())
        {
            return false;
        }
        if active & scope::PIDNS != 0
            && !pass(scope::PIDNS, F_PIDNS.get_ptr(&(*c).pid_ns).is_some())
        {
            return false;
        }
        if active & scope::CGROUP != 0
            && !pass(scope::CGROUP, F_CGROUP.get_ptr(&(*c).cgroup_id).is_some())
        {
            return false;
        }
    }
    true
}

/// Whether the event `p` will make passes the pushed-down scope, judged on
/// the context as it will carry it (the caller's name at entry).
#[inline(always)]
pub(crate) unsafe fn pending_in_scope(p: &Pending) -> bool {
    let Some(e) = EVT_SCRATCH.get_ptr_mut(0) else {
        return false;
    };
    let e = e.cast::<u8>();
    unsafe {
        fill_context(e, p.ts, ids(p.nr, p.nr), 0, p.flags);
        let c = e.add(RecordHeader::LEN).cast::<EventContext>();
        (*c).comm = p.comm;
        scope_ok(c)
    }
}

#[inline(always)]
pub(crate) fn event_enabled(id: u32) -> bool {
    matches!(CFG.get(id), Some(c) if c.enabled != 0)
}

#[inline(always)]
pub(crate) fn is_self() -> bool {
    is_self_tgid((bpf_get_current_pid_tgid() >> 32) as u32)
}

/// The collector itself, or a process of its pipeline.
#[inline(always)]
pub(crate) fn is_self_tgid(tgid: u32) -> bool {
    tgid == global_u32(&SELF_TGID)
        || (global_u32(&HAS_PEERS) != 0 && PEERS.get_ptr(&tgid).is_some())
}
