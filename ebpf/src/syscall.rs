//! Syscall events: the entry program of the few syscalls whose arguments
//! do not survive until exit, and sys_exit, which sends every syscall's
//! record.

use core::ptr::{addr_of, addr_of_mut};

use aya_ebpf::{
    EbpfContext,
    cty::c_void,
    helpers::{
        bpf_get_current_pid_tgid,
        generated::{bpf_ktime_get_ns, bpf_loop, bpf_probe_read_kernel},
    },
    programs::{BtfTracePointContext, TracePointContext},
};
use wire::{
    ARGS_OFFSET, ctx_flags,
    kcfg::{self, EventCfg, arg, flags as cfgf, nr},
    lost_reason,
};

use crate::args::{
    clamp_pos, forget, item_at, mark_cut, put_scalar, put_user_argv, put_user_bytes,
    put_user_bytes_at, put_user_str,
};
use crate::context::{ctx_of, fill_context, fill_context_btf, ids};
use crate::kread::{current_task_btf, ld, rd, rd_user};
use crate::limits::{BLOB_CAP, REC_MAX};
use crate::maps::{
    BLOB_SCRATCH, BLOBS, Blob, BlobScratch, CFG, EVT_SCRATCH, PENDING, Pending, SCOPE, count_lost,
    global_u32, new_generation,
};
use crate::output::finish_and_output;
use crate::regs::{native_nr, reg_args};
use crate::scope::{is_self_tgid, pending_in_scope};

pub(crate) fn try_syscall_entry(ctx: &TracePointContext) {
    // struct syscall_tp_t: trace_entry (8 bytes), int nr, then the
    // syscall's arguments as longs. Only nr is read directly: a program
    // that reads past a tracepoint's last field cannot be attached to it,
    // and rt_sigreturn has none.
    let base = ctx.as_ptr().cast::<u8>();
    let nr = ld::<i32>(base, 8);
    if nr < 0 {
        return;
    }
    let nr = nr as u32;
    let pid_tgid = bpf_get_current_pid_tgid();
    let Some(cfg) = CFG.get(nr) else { return };
    // Not selected but entry-traced: execve and execveat when only
    // sched_process_exec is, for the caller's name it carries.
    if (cfg.enabled == 0 && cfg.flags & cfgf::ENTRY == 0) || is_self_tgid((pid_tgid >> 32) as u32) {
        return;
    }
    let cfg = *cfg;
    let tid = pid_tgid as u32;
    let mut p = Pending::now(nr, 0, Some(rd::<[u64; 6]>(base.wrapping_add(16))));
    if cfg.flags & cfgf::AT_ENTRY != 0 {
        emit_syscall(&p, &cfg, 0, tid);
        return;
    }
    // Out of scope, no argument is kept: the blobs are for the events
    // that will be sent, not for any user's blocked execs.
    // SAFETY: no record is being built in the event scratch.
    if global_u32(&SCOPE) != 0 && !unsafe { pending_in_scope(&p) } {
        p.out_of_scope = 1;
        keep_pending(tid, p, None);
        return;
    }
    let mut blob = None;
    if cfg.flags & cfgf::HAS_BLOB != 0 {
        let Some(s) = BLOB_SCRATCH.get_ptr_mut(0) else {
            return;
        };
        // SAFETY: `s` is this CPU's blob scratch, which nothing else uses
        // during this run; put_items appends to it.
        unsafe { (*s).len = put_items::<true>(0, &p.args, &cfg) as u32 };
        blob = Some(s);
    }
    keep_pending(tid, p, blob);
}

/// Leaves `p`, and the blob built in the per-CPU scratch `blob` if there is
/// one, for sys_exit to send.
#[inline(always)]
pub(crate) fn keep_pending(tid: u32, mut p: Pending, blob: Option<*mut BlobScratch>) {
    if let Some(s) = blob {
        // SAFETY: a blob scratch is a map value with a Blob's layout at its
        // head (the same fields, twice the data); the insert copies a
        // Blob's worth of it.
        let b = unsafe { &*s.cast::<Blob>() };
        if BLOBS.insert(&tid, b, 0).is_ok() {
            p.has_blob = 1;
        } else {
            // No room to keep the pointer arguments until exit: the
            // event goes out without them, and says so.
            p.flags |= ctx_flags::ARGS_CUT;
        }
    }
    if PENDING.insert(&tid, &p, 0).is_err() {
        count_lost(lost_reason::TABLE_FULL);
    }
}

/// The pointer arguments [`put_items`] is appending: the context of its
/// `bpf_loop`.
#[repr(C)]
pub(crate) struct Items {
    pub(crate) args: [u64; 6],
    pub(crate) kinds: [u8; 8],
    pub(crate) nargs: u64,
    /// Where the blob starts in the event scratch (after the scalars).
    pub(crate) base: u64,
    /// Where the next item goes, from the blob's start.
    pub(crate) pos: u64,
}

/// Appends the items of the pointer arguments in `args` (strings, socket
/// addresses, and argv when `BLOB`, at entry) to the blob: the per-CPU
/// blob scratch when `BLOB`, else the event scratch from `base` on.
/// Returns their length.
///
/// One argument per turn of a `bpf_loop`, whose callback the verifier
/// checks once: unrolled, the six slots' branches multiplied past its
/// instruction budget.
///
/// # Safety
/// The scratch it appends to (the blob scratch, or the event scratch when
/// not `BLOB`) must be unused by anyone else during this run.
#[inline(always)]
pub(crate) unsafe fn put_items<const BLOB: bool>(
    base: usize,
    args: &[u64; 6],
    cfg: &EventCfg,
) -> usize {
    let mut c = Items {
        args: *args,
        kinds: [0; 8],
        nargs: cfg.nargs as u64,
        base: base as u64,
        pos: 0,
    };
    c.kinds[..6].copy_from_slice(&cfg.kinds);
    // SAFETY: a callback of bpf_loop's type and a context it reads as
    // `Items`, which lives on this stack until the loop returns.
    unsafe {
        bpf_loop(
            6,
            put_item::<BLOB> as *mut c_void,
            (&mut c as *mut Items).cast::<c_void>(),
            0,
        );
    }
    c.pos as usize
}

/// One turn of [`put_items`]: argument `i`.
#[inline(never)]
extern "C" fn put_item<const BLOB: bool>(i: u32, ctx: *mut c_void) -> i64 {
    // SAFETY: bpf_loop hands back the `Items` put_items gave it, on
    // put_items' stack, which outlives the loop.
    let c = unsafe { &mut *ctx.cast::<Items>() };
    let i = i as usize;
    if i >= 6 || i as u64 >= c.nargs {
        return 1;
    }
    let data = if BLOB {
        let Some(s) = BLOB_SCRATCH.get_ptr_mut(0) else {
            return 1;
        };
        // SAFETY: a field of this CPU's blob scratch (a map value).
        unsafe { addr_of_mut!((*s).data).cast::<u8>() }
    } else {
        let Some(e) = EVT_SCRATCH.get_ptr_mut(0) else {
            return 1;
        };
        // SAFETY: below 512, inside the event scratch.
        unsafe { e.cast::<u8>().add(c.base as usize & 511) }
    };
    let k = c.kinds[i];
    let a = c.args[i];
    let pos = c.pos as usize;
    // SAFETY: `data` is the blob (2 * BLOB_CAP bytes) or the event scratch
    // from below 512 on (EVT_CAP - 512 bytes left), either of which the
    // caller of put_items is not using; the writers keep below BLOB_CAP
    // from `data`, plus the room a string read needs.
    let pos = unsafe {
        if k == arg::STR {
            put_user_str(data, pos, i as u8, a)
        } else if BLOB && k == arg::STR_ARRAY {
            put_user_argv(data, pos, i as u8, a)
        } else if k == arg::SOCKADDR_IN && i < 5 {
            put_user_bytes(data, pos, i as u8, a, c.args[i + 1] as usize)
        } else {
            pos
        }
    };
    c.pos = pos as u64;
    0
}

/// Sends the syscall's event; returns the configuration's `derive`: which
/// security program to tail-call (its slot plus one), or 0.
pub(crate) fn try_sys_exit(ctx: &BtfTracePointContext) -> u8 {
    let regs: *const u8 = ctx.arg(0);
    let ret: i64 = ctx.arg(1);
    {
        let task = current_task_btf();
        let (nr, compat) = native_nr(task, regs);
        // sethostname, setdomainname, unshare, setns: cached contexts of
        // other threads may now be out of date.
        if (nr == nr::SETHOSTNAME as u64
            || nr == nr::SETDOMAINNAME as u64
            || nr == nr::UNSHARE as u64
            || nr == nr::SETNS as u64)
            && ret >= 0
        {
            new_generation();
        }
        if nr >= kcfg::CFG_ENTRIES as u64 {
            return 0;
        }
        let Some(cfg) = CFG.get(nr as u32) else {
            return 0;
        };
        if cfg.enabled == 0 && cfg.derive == 0 && cfg.flags & cfgf::ENTRY == 0 {
            return 0;
        }
        let pid_tgid = bpf_get_current_pid_tgid();
        let tid = pid_tgid as u32;
        if cfg.flags & cfgf::ENTRY != 0 {
            // execve, execveat: their arguments were kept at entry, or for
            // an i386 caller (the syscall tracepoints skip compat calls) by
            // sched_process_exec once the exec succeeded.
            let Some(pp) = PENDING.get_ptr(&tid) else {
                // A failed i386 exec: its registers are as they were.
                if compat && !is_self_tgid((pid_tgid >> 32) as u32) {
                    emit_from_regs(regs, cfg, nr as u32, ret, true);
                }
                return 0;
            };
            // SAFETY: a value of PENDING, copied before it is removed.
            let p = unsafe { *pp };
            let _ = PENDING.remove(&tid);
            if p.out_of_scope != 0 {
                return 0;
            }
            let Some(cfg) = CFG.get(p.nr) else {
                return 0;
            };
            if cfg.enabled == 0 {
                return 0;
            }
            let cfg = *cfg;
            emit_syscall(&p, &cfg, ret, tid);
            return 0;
        }
        // clone, fork, vfork, clone3: the child's first return to user
        // space passes here too; the parent's return is the event.
        if ret == 0
            && (nr == nr::CLONE as u64
                || nr == nr::FORK as u64
                || nr == nr::VFORK as u64
                || nr == nr::CLONE3 as u64)
        {
            return 0;
        }
        if is_self_tgid((pid_tgid >> 32) as u32) {
            return 0;
        }
        let derive = cfg.derive;
        if cfg.enabled != 0 {
            emit_from_regs(regs, cfg, nr as u32, ret, compat);
        }
        derive
    }
}

/// The record of a syscall whose arguments are still in its registers.
#[inline(always)]
fn emit_from_regs(regs: *const u8, cfg: &EventCfg, nr: u32, ret: i64, compat: bool) {
    let Some(e) = EVT_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let e = e.cast::<u8>();
    // SAFETY: `e` is this CPU's event scratch, which nothing else uses
    // during this run; each writer clamps its position inside the record.
    unsafe {
        // All six, whatever nargs says: six loads cost less than the
        // memset a zeroed array compiles to.
        let args = reg_args(regs, compat);
        let flags = if compat { ctx_flags::COMPAT } else { 0 };
        fill_context_btf(e, bpf_ktime_get_ns(), ids(nr, nr), ret, flags);
        let mut pos = ARGS_OFFSET;
        for i in 0..6 {
            if i < cfg.nargs as usize && cfg.kinds[i] == arg::SCALAR {
                pos = put_scalar(e, pos, i as u8, args[i]);
            }
        }
        // The 64 ways the scalars can fall become one state to verify.
        let mut pos = forget(pos);
        if cfg.flags & cfgf::HAS_BLOB != 0 {
            // Six scalars at most come first: the blob starts below 512.
            let base = clamp_pos(pos, 511);
            pos = base + put_items::<false>(base, &args, cfg);
        }
        if cfg.flags & cfgf::HAS_OUT != 0 {
            for i in 0..5 {
                if i < cfg.nargs as usize && cfg.kinds[i] == arg::SOCKADDR_OUT {
                    pos = put_sockaddr_out(e, pos, i as u8, args[i], args[i + 1], ret);
                }
            }
        }
        finish_and_output(e, pos);
    }
}

/// The record of a syscall whose arguments [`syscall_entry`] (or, for an
/// i386 exec, [`keep_compat_exec`]) kept.
#[inline(always)]
fn emit_syscall(p: &Pending, cfg: &EventCfg, ret: i64, tid: u32) {
    let Some(e) = EVT_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let e = e.cast::<u8>();
    // SAFETY: `e` is this CPU's event scratch, which nothing else uses
    // during this run; each writer clamps its position inside the record,
    // and the blob is copied to below 512 + BLOB_CAP.
    unsafe {
        fill_context(e, p.ts, ids(p.nr, p.nr), ret, p.flags);
        if p.nr == nr::EXECVE || p.nr == nr::EXECVEAT {
            // execve, execveat: the context is that of the caller, before
            // the new image renamed the task.
            ctx_of(e).comm = p.comm;
        }
        let mut pos = ARGS_OFFSET;
        for i in 0..6 {
            if i < cfg.nargs as usize && cfg.kinds[i] == arg::SCALAR && p.no_scalars == 0 {
                pos = put_scalar(e, pos, i as u8, p.args[i]);
            }
        }
        let mut pos = forget(pos);
        if p.has_blob != 0 {
            if let Some(b) = BLOBS.get_ptr(&tid) {
                let len = (*b).len as usize;
                let len = if len > BLOB_CAP { BLOB_CAP } else { len };
                let base = clamp_pos(pos, 511);
                bpf_probe_read_kernel(
                    e.add(base).cast::<c_void>(),
                    (len & (BLOB_CAP * 2 - 1)) as u32,
                    addr_of!((*b).data).cast::<c_void>(),
                );
                pos = base + len;
                let _ = BLOBS.remove(&tid);
            } else {
                mark_cut(e);
            }
        }
        finish_and_output(e, pos);
    }
}

/// A `struct sockaddr` the kernel filled (accept, getsockname, recvfrom...),
/// whose length is behind `lenp`; nothing if the call failed.
///
/// # Safety
/// `e` must be the event scratch, unused by anyone else during this run.
#[inline(always)]
unsafe fn put_sockaddr_out(
    e: *mut u8,
    pos: usize,
    index: u8,
    ptr: u64,
    lenp: u64,
    ret: i64,
) -> usize {
    // SAFETY: the caller's promise.
    let (pos, cap) = match unsafe { item_at::<REC_MAX>(e, pos, kcfg::SOCKADDR_MAX) } {
        Ok(at) => at,
        Err(pos) => return pos,
    };
    let len = if ret < 0 || ptr == 0 || lenp == 0 {
        0
    } else {
        rd_user::<u32>(lenp).unwrap_or(0) as usize
    };
    // SAFETY: item_at clamped `pos` inside the record and gave room for
    // `cap` bytes after the header. Its paths leave as one state (the next
    // writer clamps).
    forget(pos + unsafe { put_user_bytes_at(e.add(pos), index, ptr, len, cap) })
}
