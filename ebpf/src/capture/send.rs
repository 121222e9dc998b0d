//! Capture records: their header, the payload sent in chunks through a
//! `bpf_loop`, and what could not be sent, counted and said.

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
use super::{files::*, memory::*, objects::*};
#[allow(unused_imports)]
use crate::{context::*, kread::*, limits::*, maps::*, path::*, regs::*, scope::*};

/// Fills the fixed part of a capture record in the scratch.
#[inline(always)]
pub(crate) unsafe fn start_header(
    s: *mut u8,
    art: u8,
    ft: u8,
    dev: u32,
    ino: u64,
) -> *mut CaptureHeader {
    let pid_tgid = bpf_get_current_pid_tgid();
    unsafe {
        *s.add(DROPPED).cast::<u64>() = 0;
        let h = s.add(RecordHeader::LEN).cast::<CaptureHeader>();
        (*h).ts = bpf_ktime_get_ns();
        (*h).ino = ino;
        (*h).off = 0;
        (*h).pid = (pid_tgid >> 32) as u32;
        (*h).tid = pid_tgid as u32;
        (*h).dev = dev;
        (*h).mnt_ns = 0;
        (*h).artifact = art;
        (*h).ftype = ft;
        (*h).flags = 0;
        (*h).len = 0;
        bpf_get_current_comm((*h).comm.as_mut_ptr().cast::<c_void>(), 16);
        (*h).name = [0; 16];
        let uid_gid = bpf_get_current_uid_gid();
        (*h).uid = uid_gid as u32;
        (*h).gid = (uid_gid >> 32) as u32;
        h
    }
}

/// Where [`send_range`] is: the context of its `bpf_loop`.
#[repr(C)]
pub(crate) struct Range {
    pub(crate) p: u64,
    pub(crate) left: u64,
    pub(crate) off: u64,
}

/// One turn of [`send_range`]'s loop: one chunk. The verifier checks a
/// `bpf_loop` callback once, whatever the number of turns; an unrolled or
/// bounded loop would be walked turn by turn, past its instruction limit.
#[inline(never)]
pub(crate) unsafe extern "C" fn send_chunk(_i: u32, ctx: *mut c_void) -> i64 {
    let r = ctx.cast::<Range>();
    let Some(s) = CAP_SCRATCH.get_ptr_mut(0) else {
        return 1;
    };
    let s = s.cast::<u8>();
    unsafe {
        let left = (*r).left;
        if left == 0 {
            return 1;
        }
        let n = if left > MAX_CHUNK as u64 {
            MAX_CHUNK as u64
        } else {
            left
        };
        let at = (*r).off;
        let h = s.add(RecordHeader::LEN).cast::<CaptureHeader>();
        let e = bpf_probe_read_user(
            s.add(HDR).cast::<c_void>(),
            n as u32,
            (*r).p as *const c_void,
        );
        if e != 0 {
            send_lost(s, at, n);
        } else {
            (*h).off = at;
            (*h).len = n as u32;
            (*h).flags &= !flags::LOST;
            output(s, HDR + n as usize);
        }
        (*r).p = (*r).p.wrapping_add(n);
        (*r).left = left - n;
        (*r).off = at.wrapping_add(n);
    }
    0
}

/// Sends `len` bytes of user memory at `p` as chunks placed at `off`
/// onwards (what cannot be read or sent is reported lost); returns how many
/// bytes are left past the most one call sends.
#[inline(always)]
pub(crate) unsafe fn send_range(p: u64, len: u64, off: u64) -> u64 {
    let mut r = Range { p, left: len, off };
    unsafe {
        bpf_loop(
            MAX_CHUNKS as u32,
            send_chunk as *mut c_void,
            (&mut r as *mut Range).cast::<c_void>(),
            0,
        );
    }
    r.left
}

/// A record saying `len` bytes at `off` are missing from the artifact.
#[inline(always)]
pub(crate) unsafe fn send_lost(s: *mut u8, off: u64, len: u64) {
    unsafe {
        let h = s.add(RecordHeader::LEN).cast::<CaptureHeader>();
        let keep = (*h).flags;
        (*h).off = off;
        (*h).len = if len > u32::MAX as u64 {
            u32::MAX
        } else {
            len as u32
        };
        (*h).flags = keep | flags::LOST;
        output(s, HDR);
        (*h).flags = keep;
    }
}

#[inline(always)]
pub(crate) unsafe fn output(s: *mut u8, len: usize) {
    let len = if len > HDR + MAX_CHUNK {
        HDR + MAX_CHUNK
    } else {
        len
    };
    unsafe {
        let r = s.cast::<RecordHeader>();
        (*r).len = len as u32;
        (*r).kind = kind::CAPTURE;
        (*r).flags = 0;
        // The kernel's own wake-up policy (only a reader that caught up is
        // woken): payloads come in bursts, and a reader asleep on a timer
        // would let a burst overflow the ring.
        if bpf_ringbuf_output(
            core::ptr::addr_of!(CAP_RING) as *mut c_void,
            s.cast::<c_void>(),
            len as u64,
            0,
        ) != 0
        {
            if let Some(c) = CAP_LOST.get_ptr_mut(0) {
                *c += 1;
            }
            // Said where it belongs: the file (through tracee-collect, which
            // reads this map), or the object (in its last record).
            let h = s.add(RecordHeader::LEN).cast::<CaptureHeader>();
            let d = s.add(DROPPED).cast::<u64>();
            *d += 1;
            if (*h).artifact == artifact::WRITE || (*h).artifact == artifact::READ {
                let key = [((*h).artifact as u64) << 56 | (*h).dev as u64, (*h).ino];
                let _ = CAP_INCOMPLETE.insert(&key, &1, 0);
            }
        }
    }
}

/// The end of a whole object: its last record, saying how many bytes
/// (`len`) at its end could not be sent.
#[inline(always)]
pub(crate) unsafe fn send_end(s: *mut u8, off: u64, missing: u64) {
    unsafe {
        let h = s.add(RecordHeader::LEN).cast::<CaptureHeader>();
        (*h).flags |= flags::LAST;
        // Chunks the ring refused make the object incomplete too.
        let dropped = *s.add(DROPPED).cast::<u64>();
        send_lost(s, off, if dropped > 0 { missing + 1 } else { missing });
    }
}

/// Sends a whole object of `len` bytes at user address `p`.
#[inline(always)]
pub(crate) unsafe fn send_object(s: *mut u8, p: u64, len: u64) {
    unsafe {
        let left = send_range(p, len, 0);
        send_end(s, len - left, left);
    }
}
