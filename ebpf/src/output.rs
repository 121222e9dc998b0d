//! Sending a finished record: the pushed-down scope, the record header,
//! and the ring buffer with batched wake-ups.

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
    args::*, context::*, kread::*, limits::*, maps::*, path::*, regs::*, sched::*, scope::*,
    syscall::*,
};

#[inline(always)]
pub(crate) unsafe fn finish_and_output(e: *mut u8, len: usize) {
    unsafe {
        if !scope_ok(e.add(RecordHeader::LEN).cast::<EventContext>()) {
            return;
        }
        // Writers never pass REC_MAX; the clamp restates it.
        let len = clamp_pos(len, REC_MAX);
        let h = e.cast::<RecordHeader>();
        (*h).len = len as u32;
        (*h).kind = kind::EVENT;
        (*h).flags = 0;
        let wake = read_volatile(&WAKE_BYTES);
        // Wake the reader only when the ring fills up; otherwise it drains
        // on its own timer. Waking per event costs more than the event, and
        // so does asking the ring how full it is: that is asked once per
        // WAKE_CHECK bytes this CPU wrote.
        let mut flags = 1; // BPF_RB_NO_WAKEUP
        if wake != 0
            && let Some(acc) = WAKE_ACC.get_ptr_mut(0)
        {
            *acc += len as u64;
            if *acc >= WAKE_CHECK {
                *acc = 0;
                if bpf_ringbuf_query(
                    addr_of!(RING) as *mut c_void,
                    0, /* BPF_RB_AVAIL_DATA */
                ) >= wake
                {
                    flags = 2; // BPF_RB_FORCE_WAKEUP
                }
            }
        }
        let r = bpf_ringbuf_output(
            addr_of!(RING) as *mut c_void,
            e.cast::<c_void>(),
            len as u64,
            flags,
        );
        if r != 0 {
            count_lost(lost_reason::RING_FULL);
        }
    }
}
