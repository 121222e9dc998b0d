//! Capture records: built in this CPU's capture scratch ([`Scratch`]),
//! their payload sent in chunks through a `bpf_loop`, and what could not be
//! sent counted and said.

use aya_ebpf::{
    cty::c_void,
    helpers::{
        bpf_get_current_pid_tgid, bpf_get_current_uid_gid,
        generated::{bpf_get_current_cgroup_id, bpf_ktime_get_ns, bpf_loop, bpf_probe_read_user},
    },
};
use wire::{
    RecordHeader,
    capture::{CaptureHeader, MAX_CHUNK, artifact, flags},
    kind,
};

use super::{CAP_INCOMPLETE, CAP_LOST, CAP_RING, CAP_SCRATCH, DROPPED, HDR, MAX_CHUNKS};
use crate::kread::current_comm_into;

/// This CPU's capture scratch: a record header, a capture header, then up
/// to MAX_CHUNK bytes of payload, and a count of the chunks the ring
/// refused (at DROPPED).
///
/// Only one exists at a time: [`Scratch::start`] is called once per
/// program run, a run is not preempted on its CPU, and the chunk callback
/// ([`send_chunk`]) runs inside the caller's run, between its uses.
pub(crate) struct Scratch(*mut u8);

impl Scratch {
    /// The scratch, with the fixed part of a capture record filled in for
    /// an artifact of kind `art` and file type `ft`, named by `dev`/`ino`.
    #[inline(always)]
    pub(crate) fn start(art: u8, ft: u8, dev: u32, ino: u64) -> Option<Scratch> {
        let mut s = Scratch(CAP_SCRATCH.get_ptr_mut(0)?.cast::<u8>());
        s.set_dropped(0);
        let pid_tgid = bpf_get_current_pid_tgid();
        let uid_gid = bpf_get_current_uid_gid();
        let h = s.header();
        // SAFETY: the helper takes no argument.
        h.ts = unsafe { bpf_ktime_get_ns() };
        h.ino = ino;
        h.off = 0;
        h.pid = (pid_tgid >> 32) as u32;
        h.tid = pid_tgid as u32;
        h.dev = dev;
        h.mnt_ns = 0;
        h.artifact = art;
        h.ftype = ft;
        h.flags = 0;
        h.len = 0;
        current_comm_into(&mut h.comm);
        h.name = [0; 16];
        h.uid = uid_gid as u32;
        h.gid = (uid_gid >> 32) as u32;
        // SAFETY: the helper takes no argument.
        h.cgroup_id = unsafe { bpf_get_current_cgroup_id() };
        Some(s)
    }

    /// The capture header.
    #[inline(always)]
    pub(crate) fn header(&mut self) -> &mut CaptureHeader {
        // SAFETY: the scratch is a per-CPU map value of SCRATCH bytes,
        // 8-aligned, held only by this handle; the capture header follows
        // the 8-byte record header.
        unsafe { &mut *self.0.add(RecordHeader::LEN).cast::<CaptureHeader>() }
    }

    /// Where the payload goes: MAX_CHUNK bytes after the headers, for
    /// helpers that write into it.
    #[inline(always)]
    pub(crate) fn payload(&mut self) -> *mut c_void {
        // SAFETY: HDR + MAX_CHUNK bytes fit in the scratch (SCRATCH is
        // twice MAX_CHUNK).
        unsafe { self.0.add(HDR).cast::<c_void>() }
    }

    fn dropped(&mut self) -> &mut u64 {
        // SAFETY: DROPPED is the scratch's last 8-aligned word, past any
        // payload (HDR + MAX_CHUNK < DROPPED).
        unsafe { &mut *self.0.add(DROPPED).cast::<u64>() }
    }

    fn set_dropped(&mut self, n: u64) {
        *self.dropped() = n;
    }

    /// Sends the record with `len` bytes of payload already in place. A
    /// full ring is counted, and the artifact marked incomplete where it
    /// belongs: the file (tracee-collect reads CAP_INCOMPLETE), or the
    /// object (its last record says so).
    #[inline(always)]
    pub(crate) fn output(&mut self, payload: usize) {
        let len = HDR
            + if payload > MAX_CHUNK {
                MAX_CHUNK
            } else {
                payload
            };
        // SAFETY: the scratch starts with the 8-aligned record header.
        let r = unsafe { &mut *self.0.cast::<RecordHeader>() };
        r.len = len as u32;
        r.kind = kind::CAPTURE;
        r.flags = 0;
        // SAFETY: `len` bytes (at most HDR + MAX_CHUNK) of the scratch.
        let record = unsafe { core::slice::from_raw_parts(self.0, len) };
        // The kernel's own wake-up policy (only a reader that caught up is
        // woken): payloads come in bursts, and a reader asleep on a timer
        // would let a burst overflow the ring.
        if CAP_RING.output::<[u8]>(record, 0).is_ok() {
            return;
        }
        if let Some(c) = CAP_LOST.get_ptr_mut(0) {
            // SAFETY: this CPU's counter in a per-CPU map.
            unsafe { *c += 1 };
        }
        *self.dropped() += 1;
        let h = self.header();
        if h.artifact == artifact::WRITE || h.artifact == artifact::READ {
            let key = [(h.artifact as u64) << 56 | h.dev as u64, h.ino];
            let _ = CAP_INCOMPLETE.insert(&key, &1, 0);
        }
    }

    /// A record saying `len` bytes at `off` are missing from the artifact.
    #[inline(always)]
    pub(crate) fn send_lost(&mut self, off: u64, len: u64) {
        let h = self.header();
        let keep = h.flags;
        h.off = off;
        h.len = if len > u32::MAX as u64 {
            u32::MAX
        } else {
            len as u32
        };
        h.flags = keep | flags::LOST;
        self.output(0);
        self.header().flags = keep;
    }

    /// The end of a whole object: its last record, saying how many bytes
    /// (`missing`) at its end could not be sent.
    #[inline(always)]
    fn send_end(&mut self, off: u64, missing: u64) {
        self.header().flags |= flags::LAST;
        // Chunks the ring refused make the object incomplete too.
        let dropped = *self.dropped();
        self.send_lost(off, if dropped > 0 { missing + 1 } else { missing });
    }

    /// Sends a whole object of `len` bytes at user address `p`.
    #[inline(always)]
    pub(crate) fn send_object(&mut self, p: u64, len: u64) {
        let left = send_range(p, len, 0);
        self.send_end(len - left, left);
    }
}

/// Where [`send_range`] is: the context of its `bpf_loop`.
#[repr(C)]
struct Range {
    p: u64,
    left: u64,
    off: u64,
}

/// One turn of [`send_range`]'s loop: one chunk. The verifier checks a
/// `bpf_loop` callback once, whatever the number of turns; an unrolled or
/// bounded loop would be walked turn by turn, past its instruction limit.
#[inline(never)]
extern "C" fn send_chunk(_i: u32, ctx: *mut c_void) -> i64 {
    // SAFETY: bpf_loop hands back the `Range` send_range gave it, on
    // send_range's stack, which outlives the loop.
    let r = unsafe { &mut *ctx.cast::<Range>() };
    // The caller's record, whose header it filled: the same scratch.
    let Some(s) = CAP_SCRATCH.get_ptr_mut(0) else {
        return 1;
    };
    let mut s = Scratch(s.cast::<u8>());
    let left = r.left;
    if left == 0 {
        return 1;
    }
    let n = if left > MAX_CHUNK as u64 {
        MAX_CHUNK as u64
    } else {
        left
    };
    let at = r.off;
    // SAFETY: at most MAX_CHUNK bytes into the payload area; the helper
    // checks the user address.
    let e = unsafe { bpf_probe_read_user(s.payload(), n as u32, r.p as *const c_void) };
    if e != 0 {
        s.send_lost(at, n);
    } else {
        let h = s.header();
        h.off = at;
        h.len = n as u32;
        h.flags &= !flags::LOST;
        s.output(n as usize);
    }
    r.p = r.p.wrapping_add(n);
    r.left = left - n;
    r.off = at.wrapping_add(n);
    0
}

/// Sends `len` bytes of user memory at `p` as chunks placed at `off`
/// onwards, in the record whose header is in the capture scratch (what
/// cannot be read or sent is reported lost); returns how many bytes are
/// left past the most one call sends.
#[inline(always)]
pub(crate) fn send_range(p: u64, len: u64, off: u64) -> u64 {
    let mut r = Range { p, left: len, off };
    // SAFETY: a callback of bpf_loop's type and a context it reads as a
    // `Range`, which lives on this stack until the loop returns.
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
