//! Reading kernel and user memory: through the probe-read helpers, which
//! turn a fault into zeroes or an error, and, in BTF programs, through
//! direct loads the verifier guards.
//!
//! Kernel pointers here are addresses, not Rust references: they are
//! offset with `wrapping_add` and only ever read through these functions,
//! which is why reading them is safe. What a read returns is whatever the
//! kernel memory held at that moment, or zero.

use core::ptr::addr_of_mut;

use aya_ebpf::{
    cty::c_void,
    helpers::generated::{
        bpf_get_current_comm, bpf_get_current_task, bpf_get_current_task_btf,
        bpf_probe_read_kernel, bpf_probe_read_kernel_str, bpf_probe_read_user,
        bpf_probe_read_user_str,
    },
};

use crate::limits::STR_MAX;

/// The `T` at kernel address `p`; zero if it cannot be read.
#[inline(always)]
pub(crate) fn rd<T: Copy + Default>(p: *const u8) -> T {
    let mut v = T::default();
    // SAFETY: the helper writes exactly size_of::<T>() bytes into `v`, a
    // plain-data local, and checks the source address itself (a fault
    // leaves zeroes).
    unsafe {
        bpf_probe_read_kernel(
            addr_of_mut!(v).cast::<c_void>(),
            core::mem::size_of::<T>() as u32,
            p.cast::<c_void>(),
        )
    };
    v
}

/// Reads the `T` at kernel address `p` into `dst`; zeroes if it cannot be
/// read. (Straight into place: [`rd`] would copy it once more.)
#[inline(always)]
pub(crate) fn rd_into<T: Copy>(dst: &mut T, p: *const u8) {
    // SAFETY: the helper writes exactly size_of::<T>() bytes into `dst`, a
    // plain-data place we hold uniquely, and checks the source address.
    unsafe {
        bpf_probe_read_kernel(
            (dst as *mut T).cast::<c_void>(),
            core::mem::size_of::<T>() as u32,
            p.cast::<c_void>(),
        )
    };
}

/// The `T` at user address `p`, or Err if the page is not there.
#[inline(always)]
pub(crate) fn rd_user<T: Copy + Default>(p: u64) -> Result<T, ()> {
    let mut v = T::default();
    // SAFETY: as in [`rd`]; the helper checks the user address.
    let r = unsafe {
        bpf_probe_read_user(
            addr_of_mut!(v).cast::<c_void>(),
            core::mem::size_of::<T>() as u32,
            p as *const c_void,
        )
    };
    if r < 0 { Err(()) } else { Ok(v) }
}

/// The pointer at kernel address `p`; null if it cannot be read.
#[inline(always)]
pub(crate) fn rd_ptr(p: *const u8) -> *const u8 {
    rd::<u64>(p) as *const u8
}

/// The current task (a plain address: read it with [`rd`]).
#[inline(always)]
pub(crate) fn current_task() -> *const u8 {
    // SAFETY: the helper takes no argument and returns an address.
    unsafe { bpf_get_current_task() as *const u8 }
}

/// The current task's name, written into `dst` (zeroes on failure). No
/// result to branch on: a branch here doubles the verifier's states in
/// every program that names its task.
#[inline(always)]
pub(crate) fn current_comm_into(dst: &mut [u8; 16]) {
    // SAFETY: the helper writes at most 16 bytes into `dst`, which has 16.
    unsafe { bpf_get_current_comm(dst.as_mut_ptr().cast::<c_void>(), 16) };
}

/// A direct load of the `T` at `off` bytes into `p`, a BTF pointer the
/// verifier knows the type of (BTF programs only: the JIT turns it into a
/// guarded load, no helper call).
#[inline(always)]
pub(crate) fn ld<T: Copy>(p: *const u8, off: usize) -> T {
    // SAFETY: `p` comes from a BTF context or bpf_get_current_task_btf;
    // the verifier refuses to load a program that loads through anything
    // else, and the JIT turns a fault on this load into a zero result.
    unsafe { p.wrapping_add(off).cast::<T>().read_volatile() }
}

/// The current task as a BTF pointer, for [`ld`].
#[inline(always)]
pub(crate) fn current_task_btf() -> *const u8 {
    // SAFETY: the helper takes no argument and returns a BTF pointer.
    unsafe { bpf_get_current_task_btf() as *const u8 }
}

/// Reads a NUL-terminated string from user (`USER`) or kernel memory.
///
/// # Safety
/// `dst` must have room for `2 * STR_MAX` bytes (`size` is masked below
/// that). Every scratch buffer is twice its largest record, so a position
/// inside a record always has that much room after it.
#[inline(always)]
pub(crate) unsafe fn read_str<const USER: bool>(dst: *mut u8, size: usize, src: u64) -> i64 {
    let size = (size & (STR_MAX * 2 - 1)) as u32;
    // SAFETY: `size` is below 2 * STR_MAX, the room the caller gives at
    // `dst`; the helper checks the source address and writes at most
    // `size` bytes.
    unsafe {
        if USER {
            bpf_probe_read_user_str(dst.cast::<c_void>(), size, src as *const c_void)
        } else {
            bpf_probe_read_kernel_str(dst.cast::<c_void>(), size, src as *const c_void)
        }
    }
}

/// Reads the string at `src` into `dst` (which has room for STR_MAX
/// bytes): whole if it has at most `keep` bytes, else its last `keep`
/// bytes, since the end of a path is the name of its file. Returns its
/// length in `dst` and whether it was cut, or None if it could not be read.
///
/// # Safety
/// As [`read_str`]: `dst` must have room for `2 * STR_MAX` bytes.
#[inline(always)]
pub(crate) unsafe fn read_str_tail<const USER: bool>(
    dst: *mut u8,
    keep: usize,
    src: u64,
) -> Option<(usize, bool)> {
    // SAFETY: every read goes to `dst` with the room the caller gives
    // (read_str masks its size below it); `*dst` is inside it.
    unsafe {
        // One byte more than kept: a string that fills the read is longer
        // than `keep`, one that does not is whole.
        let n = read_str::<USER>(dst, keep + 2, src);
        if n <= 0 {
            return None;
        }
        if (n as usize) < keep + 2 {
            return Some(((n as usize - 1) & (STR_MAX * 2 - 1), false));
        }
        // Longer: find its end, reading on a string's worth at a time (a
        // path is at most PATH_MAX), then read its last `keep` bytes.
        let mut end = src + keep as u64 + 1;
        for _ in 0..4 {
            let m = read_str::<USER>(dst, STR_MAX, end);
            if m <= 0 {
                break;
            }
            end += m as u64 - 1;
            if (m as usize) < STR_MAX {
                break;
            }
        }
        let mut from = end - keep as u64;
        let mut m = read_str::<USER>(dst, keep + 1, from);
        // A cut path must not pass for a whole one: it never starts with
        // the '/' an absolute path would.
        if m > 1 && *dst == b'/' {
            from += 1;
            m = read_str::<USER>(dst, keep, from);
        }
        // A string changed under us may come back shorter; still cut.
        let len = if m > 0 { m as usize - 1 } else { 0 };
        Some((len & (STR_MAX * 2 - 1), true))
    }
}
