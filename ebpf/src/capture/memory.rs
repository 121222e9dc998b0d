//! Memory regions made executable after being writable (mmap, mprotect,
//! pkey_mprotect, mremap), remembered per process.

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::map,
    maps::{LruHashMap, PerCpuArray},
};
use wire::{
    capture::{artifact, ftype},
    kcfg::nr,
};

use super::CAPTURE;
use super::send::Scratch;
use crate::maps::global_u32;
use crate::regs::Regs;

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
pub(crate) fn protection(nr: u32, ret: i64, regs: &Regs) {
    let tgid = bpf_get_current_pid_tgid() >> 32;
    let mprotect = nr == nr::MPROTECT || nr == nr::PKEY_MPROTECT;
    if ret < 0 || (mprotect && ret != 0) || (!mprotect && ret as u64 >= (1 << 47)) {
        return;
    }
    // The range the call leaves with its protection, and for mremap the
    // range it came from.
    let (addr, len, prot, from) = match nr {
        nr::MMAP => (ret as u64, regs.arg(1), regs.arg(2), None),
        nr::MREMAP => (ret as u64, regs.arg(2), 0, Some((regs.arg(0), regs.arg(1)))),
        _ => (regs.arg(0), regs.arg(1), regs.arg(2), None),
    };
    let end = addr.saturating_add(len);
    // Whether the range (or, moved, where it came from) was writable.
    let (lo, hi) = match from {
        Some((a, n)) => (a, a.saturating_add(n)),
        None => (addr, end),
    };
    let mut was = false;
    if let Some(r) = regions_of(tgid) {
        for i in 0..REGIONS {
            if r.start[i] < hi && lo < r.end[i] {
                was = true;
                // Executable and no longer writable: captured below,
                // forgotten here (a later RW is remembered anew).
                if mprotect && prot & PROT_EXEC != 0 && prot & PROT_WRITE == 0 {
                    r.start[i] = 0;
                    r.end[i] = 0;
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
    // A region is named by its process and time; `ino` carries its start
    // address.
    if let Some(mut s) = Scratch::start(artifact::MEM, ftype::OTHER, 0, addr) {
        s.send_object(addr, len);
    }
}

/// The writable ranges remembered for `tgid`.
#[inline(always)]
fn regions_of<'a>(tgid: u64) -> Option<&'a mut Regions> {
    let r = WRITABLE.get_ptr_mut(&tgid)?;
    // SAFETY: a value of WRITABLE, valid for this run. Threads of one
    // process racing on it can only lose or merge a range, which costs a
    // capture, never memory safety (the value is plain data).
    Some(unsafe { &mut *r })
}

/// Remembers `[start, end)` as writable for `tgid`: merged into a range
/// it overlaps or adjoins, else in the next slot (the oldest is replaced).
#[inline(always)]
fn remember(tgid: u64, start: u64, end: u64) {
    if WRITABLE.get_ptr_mut(&tgid).is_none()
        && let Some(zero) = NO_REGIONS.get(0)
    {
        // From a map value, not the stack: Regions is too big for it.
        let _ = WRITABLE.insert(&tgid, zero, 0);
    }
    let Some(r) = regions_of(tgid) else {
        return;
    };
    for i in 0..REGIONS {
        if r.end[i] != 0 && r.start[i] <= end && start <= r.end[i] {
            if start < r.start[i] {
                r.start[i] = start;
            }
            if end > r.end[i] {
                r.end[i] = end;
            }
            return;
        }
    }
    let i = (r.next as usize) % REGIONS;
    r.start[i] = start;
    r.end[i] = end;
    r.next = r.next.wrapping_add(1);
}

/// A new process (not a thread) starts with its parent's memory, so with
/// its parent's writable ranges.
#[inline(always)]
pub(crate) fn inherit_writable(parent_tgid: u64, child_tgid: u64) {
    if global_u32(&CAPTURE) & (1 << artifact::MEM) == 0 || parent_tgid == child_tgid {
        return;
    }
    if let Some(r) = regions_of(parent_tgid) {
        let _ = WRITABLE.insert(&child_tgid, &*r, 0);
    }
}

/// `mmap(2)` protection bits.
const PROT_WRITE: u64 = 2;
const PROT_EXEC: u64 = 4;
