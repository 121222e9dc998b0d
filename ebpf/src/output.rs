//! Sending a finished record: the pushed-down scope, the record header,
//! and the ring buffer with batched wake-ups.

use wire::{RecordHeader, kind, lost_reason};

use crate::args::clamp_pos;
use crate::context::ctx_of;
use crate::limits::REC_MAX;
use crate::maps::{RING, WAKE_ACC, WAKE_BYTES, WAKE_CHECK, count_lost, global_u64};
use crate::scope::scope_ok;

/// Sends the event record of `len` bytes built at `e`, if it passes the
/// pushed-down scope: header written, the ring's reader woken only when
/// the ring fills up, a full ring counted as a loss.
///
/// # Safety
/// `e` must be the event scratch (EVT_SCRATCH's value), unused by anyone
/// else during this run, holding a record of `len` bytes.
#[inline(always)]
pub(crate) unsafe fn finish_and_output(e: *mut u8, len: usize) {
    // SAFETY: the caller's promise.
    if !scope_ok(unsafe { ctx_of(e) }) {
        return;
    }
    // SAFETY: the caller's promise.
    unsafe { output(e, len) }
}

/// Sends the event record of `len` bytes built at `e` whatever the
/// pushed-down scope says: for records user space needs to see (a new
/// cgroup), which it filters itself.
///
/// # Safety
/// As [`finish_and_output`].
#[inline(always)]
pub(crate) unsafe fn output(e: *mut u8, len: usize) {
    // Writers never pass REC_MAX; the clamp restates it.
    let len = clamp_pos(len, REC_MAX);
    // SAFETY: the scratch starts with the record header (8-aligned).
    let h = unsafe { &mut *e.cast::<RecordHeader>() };
    h.len = len as u32;
    h.kind = kind::EVENT;
    h.flags = 0;
    let wake = global_u64(&WAKE_BYTES);
    // Wake the reader only when the ring fills up; otherwise it drains
    // on its own timer. Waking per event costs more than the event, and
    // so does asking the ring how full it is: that is asked once per
    // WAKE_CHECK bytes this CPU wrote.
    let mut flags = BPF_RB_NO_WAKEUP;
    if wake != 0
        && let Some(acc) = WAKE_ACC.get_ptr_mut(0)
    {
        // SAFETY: this CPU's counter in a per-CPU map, valid for this run.
        let acc = unsafe { &mut *acc };
        *acc += len as u64;
        if *acc >= WAKE_CHECK {
            *acc = 0;
            if RING.query(BPF_RB_AVAIL_DATA) >= wake {
                flags = BPF_RB_FORCE_WAKEUP;
            }
        }
    }
    // SAFETY: `len` bytes of the scratch are the record (clamped below
    // REC_MAX, inside the EVT_CAP-byte value).
    let record = unsafe { core::slice::from_raw_parts(e, len) };
    if RING.output::<[u8]>(record, flags).is_err() {
        count_lost(lost_reason::RING_FULL);
    }
}

/// `bpf_ringbuf_output` flags and `bpf_ringbuf_query` fields (uapi bpf.h).
pub(crate) const BPF_RB_NO_WAKEUP: u64 = 1;
pub(crate) const BPF_RB_FORCE_WAKEUP: u64 = 2;
pub(crate) const BPF_RB_AVAIL_DATA: u64 = 0;
