//! The argument writers: items appended to an event record or to a blob,
//! each clamped to its bound and marked when cut, never wrapped.
//!
//! # Safety
//! Every `unsafe fn` here writes through `e` (or `data`), which must be
//! this CPU's event scratch (records of at most REC_MAX bytes in EVT_CAP =
//! 2 * REC_MAX) or a blob scratch's data (blobs of at most BLOB_CAP bytes
//! in 2 * BLOB_CAP), used by no one else during the program run. A writer
//! clamps or masks its position below its record's bound before writing,
//! and writes at most the room `room`/`blob_room` give plus what a string
//! read may take (2 * STR_MAX, see `limits`), so every write stays inside
//! the scratch, which is also what the verifier checks at load time.

use core::ptr::addr_of;

use aya_ebpf::{
    cty::c_void,
    helpers::generated::{bpf_probe_read_user, bpf_probe_read_user_str},
};
use wire::{ArgHeader, ctx_flags, item, kcfg};

use crate::context::ctx_of;
use crate::kread::{rd, rd_user, read_str_tail};
use crate::limits::{BLOB_CAP, EVT_MASK, REC_MAX, STR_KEEP, STR_MAX};

///
/// # Safety
/// See the module: `e`/`data` is a scratch this run alone uses.
#[inline(always)]
pub(crate) unsafe fn put_header(p: *mut u8, index: u8, kind: u8, len: u16) {
    // SAFETY: the caller's position has room for a header (room() said so).
    unsafe {
        let h = p.cast::<ArgHeader>();
        (*h).index = index;
        (*h).kind = kind;
        (*h).len = len;
    }
}

/// `pos` clamped to `limit`, never wrapped (a wrapped position would land
/// an item on top of an earlier one). The mask does not change the value;
/// it restates the bound in a form the verifier always keeps.
#[inline(always)]
pub(crate) fn clamp_pos(pos: usize, limit: usize) -> usize {
    (if pos > limit { limit } else { pos }) & EVT_MASK
}

/// How many payload bytes an item may take at `pos` of a record of at most
/// `limit` bytes, up to `want`; None if not even its header fits.
#[inline(always)]
pub(crate) fn room(pos: usize, limit: usize, want: usize) -> Option<usize> {
    if pos + ArgHeader::LEN > limit {
        return None;
    }
    let left = limit - pos - ArgHeader::LEN;
    Some(if left < want { left } else { want })
}

/// Marks the event record at `e` as missing an argument that had no room.
///
/// # Safety
/// See the module: `e`/`data` is a scratch this run alone uses.
#[inline(always)]
pub(crate) unsafe fn mark_cut(e: *mut u8) {
    // SAFETY: `e` is the event scratch, holding the context.
    unsafe { ctx_of(e) }.flags |= ctx_flags::ARGS_CUT;
}

/// Where an item goes in a record of at most `LIMIT` bytes (an event
/// record, or a blob for sys_exit to send): `pos` clamped, and how many of
/// its `want` payload bytes fit there. Err with the position if not even
/// its header fits: the argument is left out, and an event record says so.
///
/// # Safety
/// See the module: `e`/`data` is a scratch this run alone uses.
#[inline(always)]
pub(crate) unsafe fn item_at<const LIMIT: usize>(
    e: *mut u8,
    pos: usize,
    want: usize,
) -> Result<(usize, usize), usize> {
    let pos = clamp_pos(pos, LIMIT);
    match room(pos, LIMIT, want) {
        Some(n) => Ok((pos, n)),
        None => {
            if LIMIT == REC_MAX {
                // SAFETY: an event record: `e` is the event scratch.
                unsafe { mark_cut(e) };
            }
            Err(pos)
        }
    }
}

/// [`item_at`] in an event record for an item of exactly `size` payload
/// bytes, which is left out (and the record marked) unless all fit.
///
/// # Safety
/// See the module: `e`/`data` is a scratch this run alone uses.
#[inline(always)]
pub(crate) unsafe fn whole_item_at(e: *mut u8, pos: usize, size: usize) -> Result<usize, usize> {
    // SAFETY: the caller's promise.
    match unsafe { item_at::<REC_MAX>(e, pos, size) } {
        Ok((pos, n)) if n == size => Ok(pos),
        Ok((pos, _)) => {
            // SAFETY: the caller's promise.
            unsafe { mark_cut(e) };
            Err(pos)
        }
        Err(pos) => Err(pos),
    }
}

///
/// # Safety
/// See the module: `e`/`data` is a scratch this run alone uses.
#[inline(always)]
pub(crate) unsafe fn put_scalar(e: *mut u8, pos: usize, index: u8, v: u64) -> usize {
    // SAFETY: the caller's promise.
    unsafe { put_scalar_flagged(e, pos, index, v, 0) }
}

/// A scalar this kernel cannot give: 0, marked unreadable.
///
/// # Safety
/// See the module: `e`/`data` is a scratch this run alone uses.
#[inline(always)]
pub(crate) unsafe fn put_unknown_scalar(e: *mut u8, pos: usize, index: u8) -> usize {
    // SAFETY: the caller's promise.
    unsafe { put_scalar_flagged(e, pos, index, 0, item::FAULT) }
}

/// An empty item of `kind` marked unreadable: an argument this kernel
/// cannot give, or whose object was gone when it was read.
///
/// # Safety
/// `e` must be the event scratch, unused by anyone else during this run.
#[inline(always)]
pub(crate) unsafe fn put_unreadable(e: *mut u8, pos: usize, index: u8, kind: u8) -> usize {
    // SAFETY: the caller's promise; item_at found room for the header.
    unsafe {
        match item_at::<REC_MAX>(e, pos, 0) {
            Ok((at, _)) => {
                put_header(e.add(at), index, kind | item::FAULT, 0);
                at + ArgHeader::LEN
            }
            Err(pos) => pos,
        }
    }
}

/// [`put_scalar`] with item flags.
///
/// # Safety
/// See the module: `e`/`data` is a scratch this run alone uses.
#[inline(always)]
unsafe fn put_scalar_flagged(e: *mut u8, pos: usize, index: u8, v: u64, flags: u8) -> usize {
    // SAFETY: the caller's promise.
    let pos = match unsafe { whole_item_at(e, pos, 8) } {
        Ok(pos) => pos,
        Err(pos) => return pos,
    };
    // SAFETY: whole_item_at found room for the header and 8 bytes at `pos`.
    unsafe {
        let p = e.add(pos);
        put_header(p, index, item::SCALAR | flags, 8);
        p.add(ArgHeader::LEN).cast::<u64>().write_unaligned(v);
    }
    pos + ArgHeader::LEN + 8
}

/// Positions in the blob scratch are kept masked to this range after every
/// item, so all paths through the six argument slots reach the next slot
/// with the same value range and the verifier can prune them.
pub(crate) const POS_MASK: usize = BLOB_CAP * 2 - 1;
/// Payload bytes end here in a blob; the last six headers' worth is kept
/// free, so that an argument with no room left still gets an (empty,
/// truncated) item that says it was cut.
pub(crate) const BLOB_LIMIT: usize = BLOB_CAP - 6 * ArgHeader::LEN;

/// `v`, with everything the verifier knows about its value forgotten:
/// paths that differ only in how far they have written become one state
/// to verify instead of one per possible length. (Bounds must be restated
/// after it, by a clamp or a mask.)
#[inline(always)]
pub(crate) fn forget(v: usize) -> usize {
    // Through a helper, whose result the verifier cannot see through.
    rd::<usize>(addr_of!(v).cast::<u8>())
}

/// [`forget`], then masked to the blob scratch.
#[inline(always)]
pub(crate) fn opaque_pos(v: usize) -> usize {
    forget(v) & POS_MASK
}

/// Payload bytes left in a blob at `o` (already masked below BLOB_CAP).
#[inline(always)]
pub(crate) fn blob_room(o: usize) -> usize {
    if o + ArgHeader::LEN >= BLOB_LIMIT {
        0
    } else {
        BLOB_LIMIT - o - ArgHeader::LEN
    }
}

/// Appends a user string item at `pos` of a blob; returns the new end.
///
/// # Safety
/// See the module: `e`/`data` is a scratch this run alone uses.
#[inline(always)]
pub(crate) unsafe fn put_user_str(data: *mut u8, pos: usize, index: u8, ptr: u64) -> usize {
    if pos + ArgHeader::LEN > BLOB_CAP {
        return pos;
    }
    let o = pos & (BLOB_CAP - 1);
    let left = blob_room(o);
    let keep = if left < STR_KEEP { left } else { STR_KEEP };
    // SAFETY: `o` is masked below BLOB_CAP; the header and the string read
    // (at most 2 * STR_MAX bytes) land inside the 2 * BLOB_CAP data bytes.
    unsafe {
        let Some((len, cut)) = read_str_tail::<true>(data.add(o + ArgHeader::LEN), keep, ptr)
        else {
            put_header(data.add(o), index, item::STR | item::FAULT, 0);
            return opaque_pos(o + ArgHeader::LEN);
        };
        let trunc = if cut { item::TRUNCATED } else { 0 };
        put_header(data.add(o), index, item::STR | trunc, len as u16);
        opaque_pos(o + ArgHeader::LEN + len)
    }
}

/// Appends `len` bytes of user memory (a `struct sockaddr`) as an item.
///
/// # Safety
/// See the module: `e`/`data` is a scratch this run alone uses.
#[inline(always)]
pub(crate) unsafe fn put_user_bytes(
    data: *mut u8,
    pos: usize,
    index: u8,
    ptr: u64,
    len: usize,
) -> usize {
    if pos + ArgHeader::LEN > BLOB_CAP {
        return pos;
    }
    let o = pos & (BLOB_CAP - 1);
    let left = blob_room(o);
    let cap = if left < kcfg::SOCKADDR_MAX {
        left
    } else {
        kcfg::SOCKADDR_MAX
    };
    // SAFETY: `o` is masked below BLOB_CAP, which leaves room for the
    // header and `cap` bytes inside the 2 * BLOB_CAP data bytes.
    opaque_pos(o + unsafe { put_user_bytes_at(data.add(o), index, ptr, len, cap) })
}

/// Writes at `at` an item of the `len` bytes of user memory at `ptr` (a
/// `struct sockaddr`, a buffer's first bytes), at most `cap` of them: cut
/// and marked beyond it, empty if `len` is 0, marked unreadable (and
/// empty) if it cannot be read. Returns the item's size.
///
/// # Safety
/// `at` must have room for a header and `cap` bytes (below 256) in a
/// scratch this run alone uses.
#[inline(always)]
pub(crate) unsafe fn put_user_bytes_at(
    at: *mut u8,
    index: u8,
    ptr: u64,
    len: usize,
    cap: usize,
) -> usize {
    let (len, trunc) = if len > cap {
        (cap, item::TRUNCATED)
    } else {
        (len, 0)
    };
    let len = len & 0xff;
    // SAFETY: `len` is at most `cap`, for which the caller gives room after
    // the header; the helper checks the user address.
    unsafe {
        if len == 0 {
            // Nothing to read: an empty address, not an unreadable one.
            put_header(at, index, item::BYTES | trunc, 0);
            return ArgHeader::LEN;
        }
        let r = bpf_probe_read_user(
            at.add(ArgHeader::LEN).cast::<c_void>(),
            len as u32,
            ptr as *const c_void,
        );
        if r < 0 {
            put_header(at, index, item::BYTES | item::FAULT | trunc, 0);
            return ArgHeader::LEN;
        }
        put_header(at, index, item::BYTES | trunc, len as u16);
        ArgHeader::LEN + len
    }
}

/// Appends argv (a NULL-terminated array of user strings) as one item.
///
/// # Safety
/// See the module: `e`/`data` is a scratch this run alone uses.
#[inline(always)]
pub(crate) unsafe fn put_user_argv(data: *mut u8, pos: usize, index: u8, ptr: u64) -> usize {
    if pos + ArgHeader::LEN > BLOB_CAP {
        return pos;
    }
    let start = pos & (BLOB_CAP - 1);
    let mut end = start + ArgHeader::LEN;
    let mut flags = item::STR_ARRAY;
    // SAFETY: every position written is masked below BLOB_CAP (`start`,
    // `o`) or POS_MASK (a cut element's NUL), and each string read takes
    // at most 2 * STR_MAX bytes: all inside the 2 * BLOB_CAP data bytes.
    // The helpers check the user addresses.
    unsafe {
        if ptr == 0 {
            put_header(data.add(start), index, item::STR_ARRAY, 0);
            return opaque_pos(start + ArgHeader::LEN);
        }
        let mut i = 0;
        while i < kcfg::ARGV_MAX {
            let Ok(s) = rd_user::<u64>(ptr + i as u64 * 8) else {
                flags |= item::FAULT;
                break;
            };
            if s == 0 {
                break;
            }
            let o = end & (BLOB_CAP - 1);
            // Room for this element's bytes and its NUL.
            let left = if o + 1 >= BLOB_LIMIT {
                0
            } else {
                BLOB_LIMIT - o - 1
            };
            if left == 0 {
                flags |= item::TRUNCATED;
                break;
            }
            let keep = if left < STR_KEEP { left } else { STR_KEEP };
            let n = bpf_probe_read_user_str(
                data.add(o).cast::<c_void>(),
                ((keep + 2) & (STR_MAX * 2 - 1)) as u32,
                s as *const c_void,
            );
            if n <= 0 {
                flags |= item::FAULT;
                break;
            }
            if n as usize >= keep + 2 {
                // Longer than what is kept: cut it, and end it.
                flags |= item::TRUNCATED;
                *data.add((o + keep) & POS_MASK) = 0;
                end = opaque_pos(o + keep + 1);
            } else {
                end = opaque_pos(o + (n as usize & (STR_MAX * 2 - 1)));
            }
            i += 1;
        }
        // A full array is cut only if another element follows.
        if i == kcfg::ARGV_MAX && !matches!(rd_user::<u64>(ptr + i as u64 * 8), Ok(0)) {
            flags |= item::TRUNCATED;
        }
        let end = if end > BLOB_CAP { BLOB_CAP } else { end };
        let len = end.saturating_sub(start + ArgHeader::LEN);
        put_header(data.add(start), index, flags, len as u16);
        opaque_pos(end)
    }
}

/// Writes a comm (up to its NUL) as a string argument.
///
/// # Safety
/// See the module: `e`/`data` is a scratch this run alone uses.
#[inline(always)]
pub(crate) unsafe fn put_comm(e: *mut u8, pos: usize, index: u8, comm: &[u8; 16]) -> usize {
    // SAFETY: the caller's promise.
    let pos = match unsafe { whole_item_at(e, pos, 16) } {
        Ok(pos) => pos,
        Err(pos) => return pos,
    };
    let n = comm.iter().position(|&b| b == 0).unwrap_or(16);
    // SAFETY: whole_item_at found room for the header and 16 bytes.
    unsafe {
        *e.add(pos + ArgHeader::LEN).cast::<[u8; 16]>() = *comm;
        put_header(e.add(pos), index, item::STR, n as u16);
    }
    pos + ArgHeader::LEN + (n & 31)
}

/// Writes a kernel string at `pos` of a record of at most `LIMIT` bytes
/// (an event, or a blob for sys_exit to send); a long one keeps its end.
///
/// # Safety
/// See the module: `e`/`data` is a scratch this run alone uses.
#[inline(always)]
pub(crate) unsafe fn put_kernel_str<const LIMIT: usize>(
    e: *mut u8,
    pos: usize,
    index: u8,
    src: *const u8,
) -> usize {
    // SAFETY: the caller's promise.
    unsafe { put_str::<LIMIT, false>(e, pos, index, src as u64) }
}

/// Writes a string of kernel (or, if `USER`, user) memory at `pos` of a
/// record of at most `LIMIT` bytes; a long one keeps its end.
///
/// # Safety
/// See the module: `e`/`data` is a scratch this run alone uses.
#[inline(always)]
pub(crate) unsafe fn put_str<const LIMIT: usize, const USER: bool>(
    e: *mut u8,
    pos: usize,
    index: u8,
    src: u64,
) -> usize {
    // SAFETY: the caller's promise.
    let (pos, keep) = match unsafe { item_at::<LIMIT>(e, pos, STR_KEEP) } {
        Ok(at) => at,
        Err(pos) => return pos,
    };
    // SAFETY: item_at clamped `pos` inside the record; the string read
    // writes at most 2 * STR_MAX bytes after it, which the scratch has.
    unsafe {
        let Some((len, cut)) = read_str_tail::<USER>(e.add(pos + ArgHeader::LEN), keep, src) else {
            put_header(e.add(pos), index, item::STR | item::FAULT, 0);
            return pos + ArgHeader::LEN;
        };
        let trunc = if cut { item::TRUNCATED } else { 0 };
        put_header(e.add(pos), index, item::STR | trunc, len as u16);
        pos + ArgHeader::LEN + len
    }
}
