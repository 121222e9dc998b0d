//! Memory regions made executable after being writable (mmap, mprotect,
//! pkey_mprotect, mremap), remembered per process.

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
use super::{files::*, objects::*, send::*};
#[allow(unused_imports)]
use crate::{context::*, kread::*, limits::*, maps::*, path::*, regs::*, scope::*};

/// The regions each process (by tgid) has had writable: a range made
/// executable by mprotect that overlaps one is captured.
#[map]
pub(crate) static WRITABLE: LruHashMap<u64, Regions> = LruHashMap::with_max_entries(16384, 0);

/// Ranges remembered per process (overlapping or adjoining ones merge).
pub(crate) const REGIONS: usize = 16;
/// An empty set of ranges (never written), to start a process's from.
#[map]
pub(crate) static NO_REGIONS: PerCpuArray<Regions> = PerCpuArray::with_max_entries(1, 0);

/// A process's writable ranges, `[start, end)`; the oldest is replaced
/// when all are in use.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct Regions {
    pub(crate) start: [u64; REGIONS],
    pub(crate) end: [u64; REGIONS],
    pub(crate) next: u64,
}

/// mmap, mprotect, pkey_mprotect and mremap: remembers the ranges a
/// process makes writable (and where mremap moves them), and captures a
/// range mprotect makes executable that overlaps one: RW to RX, RW to R to
/// RX, RW to RWX, part of a range, a moved range. A range only read-only in
/// between is still remembered as once writable; a child inherits its
/// parent's (see [`inherit_writable`]). (Bytes written into a range that
/// stays W+X with no mprotect after, or through another mapping of the same
/// memory, are not seen: no hook here sees the writes.)
#[inline(always)]
pub(crate) unsafe fn protection(nr: u64, ret: i64, regs: &Regs) {
    let tgid = bpf_get_current_pid_tgid() >> 32;
    let mprotect = nr == 10 || nr == 329;
    if ret < 0 || (mprotect && ret != 0) || (!mprotect && ret as u64 >= (1 << 47)) {
        return;
    }
    // The range the call leaves with its protection, and for mremap the
    // range it came from.
    let (addr, len, prot, from) = match nr {
        9 => (ret as u64, regs.arg(1), regs.arg(2), None),
        25 => (ret as u64, regs.arg(2), 0, Some((regs.arg(0), regs.arg(1)))),
        _ => (regs.arg(0), regs.arg(1), regs.arg(2), None),
    };
    let end = addr.saturating_add(len);
    // Whether the range (or, moved, where it came from) was writable.
    let (lo, hi) = match from {
        Some((a, n)) => (a, a.saturating_add(n)),
        None => (addr, end),
    };
    let mut was = false;
    if let Some(r) = WRITABLE.get_ptr_mut(&tgid) {
        for i in 0..REGIONS {
            unsafe {
                if (*r).start[i] < hi && lo < (*r).end[i] {
                    was = true;
                    // Executable and no longer writable: captured below,
                    // forgotten here (a later RW is remembered anew).
                    if mprotect && prot & PROT_EXEC != 0 && prot & PROT_WRITE == 0 {
                        (*r).start[i] = 0;
                        (*r).end[i] = 0;
                    }
                }
            }
        }
    }
    if prot & PROT_WRITE != 0 || (from.is_some() && was) {
        remember(tgid, addr, end);
    }
    if !mprotect || prot & PROT_EXEC == 0 || !was {
        return;
    }
    let Some(s) = CAP_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let s = s.cast::<u8>();
    unsafe {
        // A region is named by its process and time; `ino` carries its
        // start address.
        start_header(s, artifact::MEM, ftype::OTHER, 0, addr);
        send_object(s, addr, len);
    }
}

/// Remembers `[start, end)` as writable for `tgid`: merged into a range
/// it overlaps or adjoins, else in the next slot (the oldest is replaced).
#[inline(always)]
pub(crate) fn remember(tgid: u64, start: u64, end: u64) {
    if WRITABLE.get_ptr_mut(&tgid).is_none()
        && let Some(zero) = NO_REGIONS.get_ptr(0)
    {
        // From a map value, not the stack: Regions is too big for it.
        unsafe { put_regions(tgid, zero) };
    }
    let Some(r) = WRITABLE.get_ptr_mut(&tgid) else {
        return;
    };
    unsafe {
        for i in 0..REGIONS {
            if (*r).end[i] != 0 && (*r).start[i] <= end && start <= (*r).end[i] {
                if start < (*r).start[i] {
                    (*r).start[i] = start;
                }
                if end > (*r).end[i] {
                    (*r).end[i] = end;
                }
                return;
            }
        }
        let i = ((*r).next as usize) % REGIONS;
        (*r).start[i] = start;
        (*r).end[i] = end;
        (*r).next = (*r).next.wrapping_add(1);
    }
}

/// A new process (not a thread) starts with its parent's memory, so with
/// its parent's writable ranges.
#[inline(always)]
pub(crate) unsafe fn inherit_writable(parent_tgid: u64, child_tgid: u64) {
    if global_u32(&CAPTURE) & (1 << artifact::MEM) == 0 || parent_tgid == child_tgid {
        return;
    }
    if let Some(r) = WRITABLE.get_ptr(&parent_tgid) {
        unsafe { put_regions(child_tgid, r) };
    }
}

/// Sets `tgid`'s ranges to the map value at `r`.
#[inline(always)]
pub(crate) unsafe fn put_regions(tgid: u64, r: *const Regions) {
    unsafe {
        bpf_map_update_elem(
            core::ptr::addr_of!(WRITABLE) as *mut c_void,
            core::ptr::addr_of!(tgid).cast::<c_void>(),
            r.cast::<c_void>(),
            0,
        );
    }
}
