//! Security events, derived in the kernel from what this kernel lets a
//! program see: syscall exits, the exec tracepoint and the capability
//! tracepoint (no LSM or fentry hooks here). Each is emitted once per
//! operation, through the same scope and selection as every event.
//!
//! `sys_exit` tail-calls the security program of a syscall's group (a
//! slot of `SECURITY`: files, net, memory) for the syscalls whose
//! configuration says an event derived from them is selected: programs of
//! their own, with verifier budgets of their own, run only for the calls
//! that need them. [`try_security_exec`] is
//! attached to `sched_process_exec` beside the exec program, and
//! [`try_cap_capable`] to the capability tracepoint, only when selected.
//!
//! Where the kernel read its own copy of what the caller passed (a socket
//! address), the event shows the caller's memory as it is at the exit: a
//! thread of the caller can rewrite it in between. `--list` says so.

use aya_ebpf::{
    EbpfContext,
    cty::c_void,
    helpers::generated::{bpf_find_vma, bpf_ktime_get_ns, bpf_loop, bpf_probe_read_kernel},
    macros::map,
    maps::PerCpuArray,
    programs::{BtfTracePointContext, TracePointContext},
};
use wire::{ARGS_OFFSET, ArgHeader, ctx_flags, event_id, item, kcfg::member, kcfg::nr};

use crate::args::{
    forget, item_at, put_comm, put_header, put_scalar, put_str, put_unknown_scalar, put_unreadable,
    put_user_bytes_at, whole_item_at,
};
use crate::context::{fill_context, fill_context_btf, ids};
use crate::file::{fd_file, inode_facts, private_data, socket_of};
use crate::kread::{current_task, current_task_btf, ld, rd, rd_ptr, rd_user, read_str_tail};
use crate::limits::{PATH_CAP, REC_MAX, STR_KEEP};
use crate::maps::{CAP_EVT_SCRATCH, EVT_SCRATCH, PROT_PREV, offset};
use crate::output::finish_and_output;
use crate::path::{path_of, put_file_path};
use crate::regs::{current_syscall, native_nr, reg_args};
use crate::sched::put_exec_argv;
use crate::scope::{event_enabled, is_self};

// The `SECURITY` program array has a slot per group of syscalls, which a
// syscall's configuration names (`kcfg::derive`, the slot plus one): three
// programs, each with its own verifier budget, which one program for all
// went near.

/// Errors a socket call returns before the kernel's security check would
/// have run (no socket, or its arguments could not be read): no event.
const EBADF: i64 = 9;
const EFAULT: i64 = 14;
const ENOTSOCK: i64 = 88;

fn before_the_check(ret: i64) -> bool {
    ret == -EBADF || ret == -EFAULT || ret == -ENOTSOCK
}

/// The syscall exit a security program runs for: its number (native),
/// return value, arguments and context flags.
struct Exit {
    nr: u32,
    ret: i64,
    args: [u64; 6],
    flags: u32,
}

#[inline(always)]
fn exit_of(ctx: &BtfTracePointContext) -> Exit {
    let regs: *const u8 = ctx.arg(0);
    let (nr, compat) = native_nr(current_task_btf(), regs);
    Exit {
        nr: nr as u32,
        ret: ctx.arg(1),
        args: reg_args(regs, compat),
        flags: if compat { ctx_flags::COMPAT } else { 0 },
    }
}

/// `kcfg::derive::FILES`: opens, and the inode and mount calls.
pub(crate) fn try_security_files(ctx: &BtfTracePointContext) {
    let Exit {
        nr,
        ret,
        args,
        flags,
    } = exit_of(ctx);
    match nr {
        nr::OPEN => file_open(nr, ret, args[0], args[1], flags),
        // creat(path, mode) is open(path, O_CREAT|O_WRONLY|O_TRUNC, mode).
        nr::CREAT => file_open(nr, ret, args[0], 0o1101, flags),
        nr::OPENAT => file_open(nr, ret, args[1], args[2], flags),
        // openat2's flags are in the caller's memory (struct open_how),
        // which it can rewrite after the kernel read them: only f_flags.
        nr::OPENAT2 => file_open(nr, ret, args[1], 0, flags),
        nr::UNLINK => unlink(nr, ret, AT_FDCWD, args[0], flags),
        // AT_REMOVEDIR makes it an rmdir, which is not an unlink.
        nr::UNLINKAT if args[2] & AT_REMOVEDIR == 0 => unlink(nr, ret, args[0], args[1], flags),
        nr::RENAME => rename(nr, ret, [AT_FDCWD, args[0], AT_FDCWD, args[1]], flags),
        nr::RENAMEAT | nr::RENAMEAT2 => {
            rename(nr, ret, [args[0], args[1], args[2], args[3]], flags)
        }
        nr::SYMLINK => symlink(nr, ret, args[0], AT_FDCWD, args[1], flags),
        nr::SYMLINKAT => symlink(nr, ret, args[0], args[1], args[2], flags),
        nr::MKNOD => mknod(nr, ret, [AT_FDCWD, args[0], args[1], args[2]], flags),
        nr::MKNODAT => mknod(nr, ret, [args[0], args[1], args[2], args[3]], flags),
        nr::MOUNT => mount(nr, ret, &args, flags),
        nr::UMOUNT2 => umount(nr, ret, &args, flags),
        _ => {}
    }
}

/// `kcfg::derive::NET`: the socket calls.
pub(crate) fn try_security_net(ctx: &BtfTracePointContext) {
    let Exit {
        nr,
        ret,
        args,
        flags,
    } = exit_of(ctx);
    match nr {
        nr::CONNECT => peer(nr, ret, &args, flags, event_id::SECURITY_SOCKET_CONNECT),
        nr::BIND => peer(nr, ret, &args, flags, event_id::SECURITY_SOCKET_BIND),
        nr::LISTEN => local(nr, ret, &args, flags, event_id::SECURITY_SOCKET_LISTEN),
        nr::ACCEPT | nr::ACCEPT4 => local(nr, ret, &args, flags, event_id::SECURITY_SOCKET_ACCEPT),
        _ => {}
    }
}

/// `kcfg::derive::MEMORY`: writes (magic_write), memory protection and
/// bpf.
pub(crate) fn try_security_memory(ctx: &BtfTracePointContext) {
    let Exit {
        nr,
        ret,
        args,
        flags,
    } = exit_of(ctx);
    match nr {
        // The position before the call: for the positioned ones their
        // argument, else the file position less what was written.
        nr::WRITE | nr::WRITEV => magic_write(nr, ret, &args, None, flags),
        nr::PWRITE64 | nr::PWRITEV | nr::PWRITEV2 => {
            magic_write(nr, ret, &args, Some(args[3]), flags)
        }
        nr::MMAP => mmap_alert(nr, ret, &args, flags),
        nr::MPROTECT | nr::PKEY_MPROTECT => mprotect_alert(nr, ret, &args, flags),
        nr::BPF if args[0] as u32 as u64 == BPF_RAW_TRACEPOINT_OPEN => {
            bpf_attach(nr, ret, &args, flags)
        }
        // A program attached to a perf event: by its ioctl, or a link.
        nr::IOCTL if args[1] as u32 as u64 == PERF_EVENT_IOC_SET_BPF && ret == 0 => {
            perf_attach(nr, args[2], args[0], flags)
        }
        nr::BPF if args[0] as u32 as u64 == BPF_LINK_CREATE && ret >= 0 => {
            // union bpf_attr's link_create: u32 prog_fd, u32 target_fd,
            // u32 attach_type.
            let [prog_fd, target_fd] = rd_user::<[u32; 2]>(args[1]).unwrap_or([u32::MAX; 2]);
            if rd_user::<u32>(args[1] + 8).unwrap_or(0) as u64 == BPF_PERF_EVENT {
                perf_attach(nr, prog_fd as u64, target_fd as u64, flags)
            }
        }
        nr::BPF => bpf_prog(nr, ret, &args, flags),
        _ => {}
    }
}

/// Bytes of a magic_write.
const MAGIC_LEN: usize = 20;
const S_IFMT: u16 = 0o170000;
const S_IFREG: u16 = 0o100000;

/// `magic_write` (pathname, bytes, dev, inode): the first bytes written at
/// offset 0 of a regular file (its "magic"), read from the caller's buffer
/// at exit (for writev, the first iovec's).
#[inline(always)]
fn magic_write(nr: u32, ret: i64, args: &[u64; 6], at: Option<u64>, flags: u32) {
    let id = event_id::MAGIC_WRITE;
    if ret <= 0 || !event_enabled(id) {
        return;
    }
    let file = fd_file(args[0]);
    if file.is_null() {
        return;
    }
    let f = inode_facts(file);
    if f.mode & S_IFMT != S_IFREG {
        return;
    }
    let start = match at {
        Some(p) => p,
        None => rd::<i64>(file.wrapping_add(offset(member::FILE_F_POS))) as u64 - ret as u64,
    };
    if start != 0 {
        return;
    }
    let vectored = matches!(nr, nr::WRITEV | nr::PWRITEV | nr::PWRITEV2);
    let (buf, len) = if vectored {
        let [base, n] = rd_user::<[u64; 2]>(args[1]).unwrap_or([0, 0]);
        (base, n.min(ret as u64))
    } else {
        (args[1], ret as u64)
    };
    let len = if len > MAGIC_LEN as u64 {
        MAGIC_LEN
    } else {
        len as usize
    };
    let Some(e) = start_event(id, nr, flags) else {
        return;
    };
    // SAFETY: `e` is the event scratch, which this run alone uses; each
    // writer clamps its position inside the record, and item_at gives the
    // bytes their room.
    unsafe {
        let pos = forget(put_file_path(e, ARGS_OFFSET, 0, file));
        let pos = match item_at::<REC_MAX>(e, pos, MAGIC_LEN) {
            Ok((at, cap)) => at + put_user_bytes_at(e.add(at), 1, buf, len, cap),
            Err(pos) => pos,
        };
        let pos = put_scalar(e, pos, 2, f.dev as u64);
        let pos = put_scalar(e, pos, 3, f.ino);
        finish_and_output(e, pos);
    }
}

/// bpf(2) commands that give a program's descriptor.
const BPF_PROG_LOAD: u64 = 5;
const BPF_PROG_GET_FD_BY_ID: u64 = 13;
/// Helper ids the bitmap holds (4 words).
const HELPER_WORDS: usize = 4;
/// Instructions looked at, at most.
const INSN_TURNS: u32 = 32768;

/// `security_bpf_prog` (type, name, helpers, id, load): a program loaded
/// (load 1) or a loaded one's descriptor obtained (load 0), read from the
/// kernel's program behind the returned descriptor; the helpers it calls
/// from the instructions the caller passed to the load (the kernel's copy
/// has them rewritten into addresses by then).
#[inline(always)]
fn bpf_prog(nr: u32, ret: i64, args: &[u64; 6], flags: u32) {
    let id = event_id::SECURITY_BPF_PROG;
    let cmd = args[0] as u32 as u64;
    if ret < 0 || (cmd != BPF_PROG_LOAD && cmd != BPF_PROG_GET_FD_BY_ID) || !event_enabled(id) {
        return;
    }
    let (ty, name, prog_id) = prog_facts(prog_of(ret as u64));
    let load = cmd == BPF_PROG_LOAD;
    // The scan's state lives in a per-CPU map, not on this stack: the
    // verifier does not follow values in a map, so the loop's turns look
    // alike to it and it checks the callback once, where state on the
    // stack made it walk turn after turn.
    let Some(scan) = HELPER_SCAN.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's scan state, which only this run uses.
    let scan = unsafe { &mut *scan };
    scan.words = [0; HELPER_WORDS];
    scan.left = 0;
    if load {
        scan.left = rd_user::<u32>(args[1] + 4).unwrap_or(0) as u64;
        scan.insns = rd_user::<u64>(args[1] + 8).unwrap_or(0);
        // SAFETY: a callback of bpf_loop's type, which finds its state in
        // HELPER_SCAN itself.
        unsafe {
            bpf_loop(
                INSN_TURNS,
                helper_insn as *mut c_void,
                core::ptr::null_mut(),
                0,
            );
        }
    }
    let Some(e) = start_event(id, nr, flags) else {
        return;
    };
    // SAFETY: `e` is the event scratch, which this run alone uses; each
    // writer clamps its position inside the record, and whole_item_at
    // gives the bitmap its room.
    unsafe {
        let pos = put_scalar(e, ARGS_OFFSET, 0, ty as u64);
        let pos = put_comm(e, pos, 1, &name);
        let size = HELPER_WORDS * 8;
        let pos = match whole_item_at(e, pos, size) {
            Ok(at) => {
                let (fl, len) = if !load {
                    // Only the load's own instructions tell the helpers.
                    (item::BYTES | item::FAULT, 0)
                } else if scan.left > 0 {
                    (item::BYTES | item::TRUNCATED, size)
                } else {
                    (item::BYTES, size)
                };
                *e.add(at + ArgHeader::LEN).cast::<[u64; HELPER_WORDS]>() = scan.words;
                put_header(e.add(at), 2, fl, len as u16);
                at + ArgHeader::LEN + len
            }
            Err(pos) => pos,
        };
        let pos = put_scalar(e, pos, 3, prog_id as u64);
        let pos = put_scalar(e, pos, 4, load as u64);
        finish_and_output(e, pos);
    }
}

const BPF_RAW_TRACEPOINT_OPEN: u64 = 17;
const BPF_LINK_CREATE: u64 = 28;
/// link_create's attach_type for a perf event.
const BPF_PERF_EVENT: u64 = 41;
/// ioctl(2) request attaching a program to a perf event.
const PERF_EVENT_IOC_SET_BPF: u64 = 0x4004_2408;
/// trace_event_call flags: a static tracepoint, a kprobe, a uprobe.
const TRACE_EVENT_FL_TRACEPOINT: i32 = 8;
const TRACE_EVENT_FL_KPROBE: i32 = 32;
const TRACE_EVENT_FL_UPROBE: i32 = 64;
/// bpf_attach's attach_type (Tracee's numbering).
const ATTACH_RAW_TRACEPOINT: u64 = 0;
const ATTACH_TRACEPOINT: u64 = 1;
const ATTACH_KPROBE: u64 = 2;
const ATTACH_UPROBE: u64 = 4;

/// `bpf_attach` for bpf(BPF_RAW_TRACEPOINT_OPEN): to the tracepoint it
/// names (or, with no name, the function its load named: tp_btf, fentry).
#[inline(always)]
fn bpf_attach(nr: u32, ret: i64, args: &[u64; 6], flags: u32) {
    if ret < 0 {
        return;
    }
    // union bpf_attr's raw_tracepoint: u64 name, u32 prog_fd.
    let uname = rd_user::<u64>(args[1]).unwrap_or(0);
    let prog_fd = rd_user::<u32>(args[1] + 8).unwrap_or(u32::MAX);
    let prog = prog_of(prog_fd as u64);
    let (symbol, user) = if uname != 0 {
        (uname, true)
    } else {
        let aux = rd_ptr(prog.wrapping_add(offset(member::BPF_PROG_AUX)));
        let func = rd_ptr(aux.wrapping_add(offset(member::BPF_PROG_AUX_ATTACH_FUNC_NAME)));
        (func as u64, false)
    };
    send_attach(nr, flags, prog, symbol, user, ATTACH_RAW_TRACEPOINT);
}

/// `bpf_attach` for a program attached to a perf event: a tracepoint's
/// (its name), a kprobe's or a uprobe's (the probe event's name).
#[inline(always)]
fn perf_attach(nr: u32, prog_fd: u64, perf_fd: u64, flags: u32) {
    let event = private_data(fd_file(perf_fd));
    let call = rd_ptr(event.wrapping_add(offset(member::PERF_EVENT_TP_EVENT)));
    let fl = rd::<i32>(call.wrapping_add(offset(member::TRACE_EVENT_CALL_FLAGS)));
    let name = rd_ptr(call.wrapping_add(offset(member::TRACE_EVENT_CALL_NAME)));
    let (symbol, kind) = if fl & TRACE_EVENT_FL_TRACEPOINT != 0 {
        // The union holds the struct tracepoint, whose name it is.
        (
            rd_ptr(name.wrapping_add(offset(member::TRACEPOINT_NAME))),
            ATTACH_TRACEPOINT,
        )
    } else if fl & TRACE_EVENT_FL_KPROBE != 0 {
        (name, ATTACH_KPROBE)
    } else if fl & TRACE_EVENT_FL_UPROBE != 0 {
        (name, ATTACH_UPROBE)
    } else {
        (name, ATTACH_TRACEPOINT)
    };
    send_attach(nr, flags, prog_of(prog_fd), symbol as u64, false, kind);
}

/// The `struct bpf_prog` behind descriptor `fd`.
#[inline(always)]
fn prog_of(fd: u64) -> *const u8 {
    private_data(fd_file(fd))
}

/// A BPF program's type, name and id.
#[inline(always)]
fn prog_facts(prog: *const u8) -> (u32, [u8; 16], u32) {
    let aux = rd_ptr(prog.wrapping_add(offset(member::BPF_PROG_AUX)));
    (
        rd::<u32>(prog.wrapping_add(offset(member::BPF_PROG_TYPE))),
        rd::<[u8; 16]>(aux.wrapping_add(offset(member::BPF_PROG_AUX_NAME))),
        rd::<u32>(aux.wrapping_add(offset(member::BPF_PROG_AUX_ID))),
    )
}

/// Sends a `bpf_attach` (prog_type, prog_name, prog_id, prog_helpers,
/// symbol_name, symbol_addr, attach_type) of program `prog` to the symbol
/// named at `symbol` (the caller's memory if `user`, else the kernel's).
/// The helpers and the symbol's address are not known here: marked.
#[inline(always)]
fn send_attach(nr: u32, flags: u32, prog: *const u8, symbol: u64, user: bool, kind: u64) {
    let id = event_id::BPF_ATTACH;
    if !event_enabled(id) {
        return;
    }
    let (ty, name, prog_id) = prog_facts(prog);
    let Some(e) = start_event(id, nr, flags) else {
        return;
    };
    // SAFETY: `e` is the event scratch, which this run alone uses; each
    // writer clamps its position inside the record.
    unsafe {
        let pos = put_scalar(e, ARGS_OFFSET, 0, ty as u64);
        let pos = put_comm(e, pos, 1, &name);
        let pos = put_scalar(e, pos, 2, prog_id as u64);
        let pos = put_unreadable(e, pos, 3, item::BYTES);
        let pos = if user {
            forget(put_str::<REC_MAX, true>(e, pos, 4, symbol))
        } else {
            forget(put_str::<REC_MAX, false>(e, pos, 4, symbol))
        };
        let pos = put_unknown_scalar(e, pos, 5);
        let pos = put_scalar(e, pos, 6, kind);
        finish_and_output(e, pos);
    }
}

/// The state of [`bpf_prog`]'s instruction scan (per CPU).
#[map]
static HELPER_SCAN: PerCpuArray<Helpers> = PerCpuArray::with_max_entries(1, 0);

#[repr(C)]
struct Helpers {
    /// The next instruction (the caller's memory).
    insns: u64,
    /// Instructions not looked at yet.
    left: u64,
    /// Bit n: helper n is called.
    words: [u64; HELPER_WORDS],
}

/// One turn of the instruction scan: one instruction. (A chunk per turn
/// multiplied the verifier's states past its budget; a load reads a few
/// thousand instructions, once.)
#[inline(never)]
extern "C" fn helper_insn(_i: u32, _ctx: *mut c_void) -> i64 {
    let Some(h) = HELPER_SCAN.get_ptr_mut(0) else {
        return 1;
    };
    // SAFETY: this CPU's scan state, which only this run uses.
    let h = unsafe { &mut *h };
    if h.left == 0 {
        return 1;
    }
    let Ok(insn) = rd_user::<u64>(h.insns) else {
        return 1;
    };
    h.insns += 8;
    h.left -= 1;
    // A call (BPF_JMP | BPF_CALL) to a helper (src_reg 0), by id.
    let helper = (insn >> 32) as u32 as usize;
    if insn & 0xff != 0x85 || (insn >> 12) & 0xf != 0 || helper >= HELPER_WORDS * 64 {
        return 0;
    }
    // Constant indices: a computed one lost its bound on the way to the
    // verifier.
    let bit = 1u64 << (helper % 64);
    match helper / 64 {
        0 => h.words[0] |= bit,
        1 => h.words[1] |= bit,
        2 => h.words[2] |= bit,
        _ => h.words[3] |= bit,
    }
    0
}

/// mem_prot_alert's alerts (Tracee's numbers).
const ALERT_MMAP_W_X: u64 = 1;
const ALERT_MPROT_X_ADD: u64 = 2;
const ALERT_MPROT_W_ADD: u64 = 3;
const ALERT_MPROT_W_REM: u64 = 4;
const PROT_WRITE: u64 = 2;
const PROT_EXEC: u64 = 4;
const MAP_ANONYMOUS: u64 = 0x20;

/// `mem_prot_alert` for an mmap that made a region writable and
/// executable at once.
#[inline(always)]
fn mmap_alert(nr: u32, ret: i64, args: &[u64; 6], flags: u32) {
    let prot = args[2];
    if ret < 0
        || (ret as u64) >= 1 << 47
        || prot & (PROT_WRITE | PROT_EXEC) != PROT_WRITE | PROT_EXEC
        || !event_enabled(event_id::MEM_PROT_ALERT)
    {
        return;
    }
    let file = if args[3] & MAP_ANONYMOUS != 0 {
        core::ptr::null()
    } else {
        fd_file(args[4])
    };
    let alert = [ALERT_MMAP_W_X, ret as u64, args[1], prot, 0];
    send_alert(nr, flags, &alert, file);
}

/// `mem_prot_alert` for an mprotect that made a writable region
/// executable, an executable one writable too, or a writable and
/// executable one executable only, by the protection its entry saw.
#[inline(always)]
fn mprotect_alert(nr: u32, ret: i64, args: &[u64; 6], flags: u32) {
    let tid = aya_ebpf::helpers::bpf_get_current_pid_tgid() as u32;
    let Some(prev) = PROT_PREV.get_ptr(&tid) else {
        return;
    };
    // SAFETY: a value of PROT_PREV, copied before it is removed.
    let [start, prev, file] = unsafe { *prev };
    let _ = PROT_PREV.remove(&tid);
    if ret != 0 || start != args[0] {
        return;
    }
    let req = args[2];
    let (w, x) = (PROT_WRITE, PROT_EXEC);
    let alert = if prev & x == 0 && req & x != 0 && prev & w != 0 {
        ALERT_MPROT_X_ADD
    } else if prev & x != 0 && prev & w == 0 && req & (w | x) == w | x {
        ALERT_MPROT_W_ADD
    } else if prev & (w | x) == w | x && req & x != 0 && req & w == 0 {
        ALERT_MPROT_W_REM
    } else {
        return;
    };
    send_alert(
        nr,
        flags,
        &[alert, args[0], args[1], req, prev],
        file as *const u8,
    );
}

/// Sends a mem_prot_alert: (alert, addr, len, prot, prev_prot) and the
/// region's file, if it has one. Not inlined: its two callers (and the
/// three alerts of one of them) share one copy for the verifier to walk.
#[inline(never)]
fn send_alert(nr: u32, flags: u32, a: &[u64; 5], file: *const u8) {
    let Some(e) = start_event(event_id::MEM_PROT_ALERT, nr, flags) else {
        return;
    };
    // SAFETY: `e` is the event scratch, which this run alone uses; each
    // writer clamps its position inside the record.
    unsafe {
        let mut pos = ARGS_OFFSET;
        for (i, v) in a.iter().enumerate() {
            pos = put_scalar(e, pos, i as u8, *v);
        }
        if !file.is_null() {
            let f = inode_facts(file);
            pos = forget(put_file_path(e, pos, 5, file));
            pos = put_scalar(e, pos, 6, f.dev as u64);
            pos = put_scalar(e, pos, 7, f.ino);
            pos = put_scalar(e, pos, 8, f.ctime);
        }
        finish_and_output(e, pos);
    }
}

/// mprotect's entry (its `syscalls/sys_enter_*` tracepoint, attached when
/// mem_prot_alert is selected): the protection and file of the region at
/// its start address, before the call changes them.
pub(crate) fn try_mprotect_entry(ctx: &TracePointContext) {
    if !event_enabled(event_id::MEM_PROT_ALERT) || is_self() {
        return;
    }
    // struct syscall_tp_t: trace_entry (8), int nr (8 with padding), then
    // the arguments: start first.
    let start = ld::<u64>(ctx.as_ptr().cast::<u8>(), 16);
    let mut found = [start, 0u64, 0u64];
    // SAFETY: the helper takes the current task as a BTF pointer, a
    // callback of its type, and a context the callback writes, on this
    // stack for the call's duration.
    let r = unsafe {
        bpf_find_vma(
            current_task_btf() as *mut _,
            start,
            vma_prot as *mut c_void,
            found.as_mut_ptr().cast::<c_void>(),
            0,
        )
    };
    if r != 0 {
        return;
    }
    let tid = aya_ebpf::helpers::bpf_get_current_pid_tgid() as u32;
    if PROT_PREV.insert(&tid, &found, 0).is_err() {
        crate::maps::count_lost(wire::lost_reason::TABLE_FULL);
    }
}

/// bpf_find_vma's callback for [`try_mprotect_entry`]: the region's
/// protection (VM_READ, VM_WRITE, VM_EXEC are PROT_*'s bits) and file.
#[inline(never)]
extern "C" fn vma_prot(_task: *mut c_void, vma: *mut c_void, ctx: *mut c_void) -> i64 {
    let vma = vma.cast::<u8>().cast_const();
    // SAFETY: the helper passes try_mprotect_entry's three u64s, on its
    // stack, which outlive the call.
    let found = unsafe { &mut *ctx.cast::<[u64; 3]>() };
    found[1] = rd::<u64>(vma.wrapping_add(offset(member::VMA_VM_FLAGS))) & 7;
    found[2] = rd_ptr(vma.wrapping_add(offset(member::VMA_VM_FILE))) as u64;
    0
}

/// The directory argument meaning the working directory.
const AT_FDCWD: u64 = -100i64 as u64;
const AT_REMOVEDIR: u64 = 0x200;

/// `security_inode_unlink` (pathname, inode, dev, ctime) of a successful
/// unlink: the file is gone by the exit, so only its path is known.
#[inline(always)]
fn unlink(nr: u32, ret: i64, dirfd: u64, upath: u64, flags: u32) {
    let id = event_id::SECURITY_INODE_UNLINK;
    if ret != 0 || !event_enabled(id) {
        return;
    }
    let Some(e) = start_event(id, nr, flags) else {
        return;
    };
    // SAFETY: `e` is the event scratch, which this run alone uses; each
    // writer clamps its position inside the record.
    unsafe {
        let pos = forget(put_at_path(e, ARGS_OFFSET, 0, dirfd, upath));
        let pos = put_unknown_scalar(e, pos, 1);
        let pos = put_unknown_scalar(e, pos, 2);
        let pos = put_unknown_scalar(e, pos, 3);
        finish_and_output(e, pos);
    }
}

/// `security_inode_rename` (old_path, new_path) of a successful rename;
/// `a` is (old directory, old path, new directory, new path).
#[inline(always)]
fn rename(nr: u32, ret: i64, a: [u64; 4], flags: u32) {
    let id = event_id::SECURITY_INODE_RENAME;
    if ret != 0 || !event_enabled(id) {
        return;
    }
    let Some(e) = start_event(id, nr, flags) else {
        return;
    };
    // SAFETY: as in unlink.
    unsafe {
        let pos = forget(put_at_path(e, ARGS_OFFSET, 0, a[0], a[1]));
        let pos = put_at_path(e, pos, 1, a[2], a[3]);
        finish_and_output(e, pos);
    }
}

/// `security_inode_symlink` (linkpath, target) of a successful symlink:
/// the link's path resolved, its target as given.
#[inline(always)]
fn symlink(nr: u32, ret: i64, target: u64, dirfd: u64, link: u64, flags: u32) {
    let id = event_id::SECURITY_INODE_SYMLINK;
    if ret != 0 || !event_enabled(id) {
        return;
    }
    let Some(e) = start_event(id, nr, flags) else {
        return;
    };
    // SAFETY: as in unlink.
    unsafe {
        let pos = forget(put_at_path(e, ARGS_OFFSET, 0, dirfd, link));
        let pos = put_str::<REC_MAX, true>(e, pos, 1, target);
        finish_and_output(e, pos);
    }
}

/// `security_inode_mknod` (file_name, mode, dev) of a successful mknod;
/// `a` is (directory, path, mode, dev as the caller encodes it).
#[inline(always)]
fn mknod(nr: u32, ret: i64, a: [u64; 4], flags: u32) {
    let id = event_id::SECURITY_INODE_MKNOD;
    if ret != 0 || !event_enabled(id) {
        return;
    }
    let Some(e) = start_event(id, nr, flags) else {
        return;
    };
    // The kernel's dev_t (MKDEV) of the caller's (new_encode_dev) one.
    let udev = a[3] as u32 as u64;
    let major = (udev & 0xfff00) >> 8;
    let minor = (udev & 0xff) | ((udev >> 12) & 0xfff00);
    // SAFETY: as in unlink.
    unsafe {
        let pos = forget(put_at_path(e, ARGS_OFFSET, 0, a[0], a[1]));
        // The mode the kernel checks: the caller's umask applied (as it is
        // unless the directory has a default ACL).
        let fs = rd_ptr(current_task().wrapping_add(offset(member::TASK_FS)));
        let umask = rd::<u32>(fs.wrapping_add(offset(member::FS_UMASK))) as u64;
        let mode = a[2] as u16 as u64;
        let pos = put_scalar(e, pos, 1, mode & !(umask & 0o777));
        let pos = put_scalar(e, pos, 2, (major << 20) | minor);
        finish_and_output(e, pos);
    }
}

/// Errors of mount(2) from finding its arguments, before the kernel's
/// security check: no event.
const ENOENT: i64 = 2;
const ENOTDIR: i64 = 20;
const ENAMETOOLONG: i64 = 36;
const ELOOP: i64 = 40;

/// `security_sb_mount` (dev_name, path, type, flags): every mount the
/// kernel's check saw, refused ones included (an unprivileged mount is
/// refused after it).
#[inline(always)]
fn mount(nr: u32, ret: i64, args: &[u64; 6], flags: u32) {
    let id = event_id::SECURITY_SB_MOUNT;
    if matches!(-ret, EFAULT | ENOENT | ENOTDIR | ENAMETOOLONG | ELOOP) || !event_enabled(id) {
        return;
    }
    let Some(e) = start_event(id, nr, flags) else {
        return;
    };
    // SAFETY: as in unlink.
    unsafe {
        let pos = forget(put_str::<REC_MAX, true>(e, ARGS_OFFSET, 0, args[0]));
        let pos = forget(put_at_path(e, pos, 1, AT_FDCWD, args[1]));
        let pos = put_str::<REC_MAX, true>(e, pos, 2, args[2]);
        let pos = put_scalar(e, pos, 3, args[3]);
        finish_and_output(e, pos);
    }
}

const EPERM: i64 = 1;
const EINVAL: i64 = 22;

/// `security_sb_umount` (mountpoint, type, flags): an unmount the kernel's
/// check saw (it comes after the permission check: a refused caller makes
/// none). The file system's type went with the mount: marked unreadable.
#[inline(always)]
fn umount(nr: u32, ret: i64, args: &[u64; 6], flags: u32) {
    let id = event_id::SECURITY_SB_UMOUNT;
    if matches!(
        -ret,
        EFAULT | ENOENT | ENOTDIR | ENAMETOOLONG | ELOOP | EPERM | EINVAL
    ) || !event_enabled(id)
    {
        return;
    }
    let Some(e) = start_event(id, nr, flags) else {
        return;
    };
    // SAFETY: as in unlink.
    unsafe {
        let pos = forget(put_at_path(e, ARGS_OFFSET, 0, AT_FDCWD, args[0]));
        let pos = put_unreadable(e, pos, 1, item::STR);
        let pos = put_scalar(e, pos, 2, args[1]);
        finish_and_output(e, pos);
    }
}

/// Writes the path `upath` (the caller's memory) resolved against the
/// directory `dirfd` names (AT_FDCWD: the working directory) as a string
/// item: as given if absolute, else the directory's path, '/', and it. It
/// is joined as given, not normalised ("..", symlinks stay). A directory
/// path too long keeps its end and marks the item cut.
///
/// # Safety
/// `e` must be the event scratch, unused by anyone else during this run.
#[inline(always)]
unsafe fn put_at_path(e: *mut u8, pos: usize, index: u8, dirfd: u64, upath: u64) -> usize {
    let first = rd_user::<u8>(upath).unwrap_or(b'/');
    let dir = if first == b'/' {
        core::ptr::null()
    } else if dirfd as u32 as i32 == AT_FDCWD as u32 as i32 {
        let fs = rd_ptr(current_task().wrapping_add(offset(member::TASK_FS)));
        fs.wrapping_add(offset(member::FS_PWD))
    } else {
        let f = fd_file(dirfd as u32 as u64);
        if f.is_null() {
            core::ptr::null()
        } else {
            f.wrapping_add(offset(member::FILE_F_PATH))
        }
    };
    let Some(dp) = (if dir.is_null() { None } else { path_of(dir) }) else {
        // SAFETY: the caller's promise.
        return unsafe { put_str::<REC_MAX, true>(e, pos, index, upath) };
    };
    // SAFETY: the caller's promise.
    let (pos, cap) = match unsafe { item_at::<REC_MAX>(e, pos, JOINED_MAX) } {
        Ok(at) => at,
        Err(pos) => return pos,
    };
    if cap < JOINED_MAX || dp.anon {
        // SAFETY: the caller's promise.
        return unsafe { put_str::<REC_MAX, true>(e, pos, index, upath) };
    }
    let have = dp.len();
    // The root is "/": joined, it adds nothing before the separator.
    let have = if have == 1 { 0 } else { have };
    let (dlen, dcut) = if have > STR_KEEP {
        (STR_KEEP, true)
    } else {
        (have, dp.cut)
    };
    let dlen = dlen & STR_KEEP;
    // SAFETY: item_at gave `pos` (inside the record) room for a header and
    // JOINED_MAX bytes: the directory (at most STR_KEEP), '/', and the
    // string read (which writes at most 2 * STR_MAX bytes from its start,
    // inside the event scratch: it is twice the largest record).
    unsafe {
        let d = e.add(pos + ArgHeader::LEN);
        if dlen > 0 {
            bpf_probe_read_kernel(
                d.cast::<c_void>(),
                dlen as u32,
                dp.byte_at(PATH_CAP - dlen).cast::<c_void>(),
            );
        }
        *d.add(dlen) = b'/';
        let Some((slen, scut)) = read_str_tail::<true>(d.add(dlen + 1), STR_KEEP, upath) else {
            put_header(e.add(pos), index, item::STR | item::FAULT, 0);
            return pos + ArgHeader::LEN;
        };
        // At most JOINED_MAX; masked for the verifier.
        let len = (dlen + 1 + slen) & 4095;
        let trunc = if dcut || scut { item::TRUNCATED } else { 0 };
        put_header(e.add(pos), index, item::STR | trunc, len as u16);
        pos + ArgHeader::LEN + len
    }
}

/// The longest joined path: a directory and a name of a string item each.
const JOINED_MAX: usize = 2 * STR_KEEP + 1;

/// A record of event `id` started in the event scratch for syscall `nr`.
#[inline(always)]
fn start_event(id: u32, nr: u32, flags: u32) -> Option<*mut u8> {
    let e = EVT_SCRATCH.get_ptr_mut(0)?.cast::<u8>();
    // SAFETY: this CPU's event scratch, which nothing else uses during
    // this run.
    unsafe { fill_context_btf(e, bpf_ktime_get_ns(), ids(id, nr), 0, flags) };
    Some(e)
}

/// Open flags the kernel drops from `f_flags` once the file is open, after
/// the security check saw them.
const OPEN_ONLY: u64 = 0o100 | 0o200 | 0o400 | 0o1000;

/// `security_file_open`: the file a successful open made, by its path,
/// flags, device, inode and change time, and the path the caller gave.
/// `oflags` are the flags the caller passed: the ones `f_flags` no longer
/// holds (O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC) are taken from them.
#[inline(always)]
fn file_open(nr: u32, ret: i64, upath: u64, oflags: u64, flags: u32) {
    if ret < 0 || !event_enabled(event_id::SECURITY_FILE_OPEN) {
        return;
    }
    let file = fd_file(ret as u64);
    let Some(e) = start_event(event_id::SECURITY_FILE_OPEN, nr, flags) else {
        return;
    };
    // SAFETY: `e` is the event scratch, which this run alone uses; each
    // writer clamps its position inside the record.
    unsafe {
        // A thread sharing the descriptor table closed the new descriptor
        // before this exit ran: the event still goes out, its file
        // unreadable.
        let pos = if file.is_null() {
            put_unreadable(e, ARGS_OFFSET, 0, item::STR)
        } else {
            put_opened(e, ARGS_OFFSET, file, oflags & OPEN_ONLY)
        };
        let pos = put_str::<REC_MAX, true>(e, pos, 5, upath);
        finish_and_output(e, pos);
    }
}

/// The first five arguments of `security_file_open` for `file`, its flags
/// with `more` added.
///
/// # Safety
/// `e` must be the event scratch, unused by anyone else during this run.
#[inline(always)]
unsafe fn put_opened(e: *mut u8, pos: usize, file: *const u8, more: u64) -> usize {
    let f = inode_facts(file);
    let oflags = rd::<u32>(file.wrapping_add(offset(member::FILE_F_FLAGS))) as u64 | more;
    // SAFETY: the caller's promise.
    unsafe {
        let pos = forget(put_file_path(e, pos, 0, file));
        let pos = put_scalar(e, pos, 1, oflags);
        let pos = put_scalar(e, pos, 2, f.dev as u64);
        let pos = put_scalar(e, pos, 3, f.ino);
        put_scalar(e, pos, 4, f.ctime)
    }
}

/// `security_socket_connect` (sockfd, type, remote_addr) and
/// `security_socket_bind` (sockfd, local_addr): the address the caller
/// passed, read from its memory.
#[inline(always)]
fn peer(nr: u32, ret: i64, args: &[u64; 6], flags: u32, id: u32) {
    if before_the_check(ret) || !event_enabled(id) {
        return;
    }
    // The kernel refuses a length outside this before its check, without
    // reading the address.
    let len = args[2] as u32 as i32;
    if !(0..=wire::kcfg::SOCKADDR_MAX as i32).contains(&len) {
        return;
    }
    // Null if a thread sharing the descriptor table replaced the socket
    // before this exit ran: the type is then left out.
    let sock = socket_of(fd_file(args[0]));
    let Some(e) = start_event(id, nr, flags) else {
        return;
    };
    let connect = id == event_id::SECURITY_SOCKET_CONNECT;
    // SAFETY: `e` is the event scratch, which this run alone uses; each
    // writer clamps its position inside the record, and item_at gives the
    // sockaddr its room.
    unsafe {
        let mut pos = put_scalar(e, ARGS_OFFSET, 0, args[0]);
        let mut index = 1;
        if connect {
            if !sock.is_null() {
                let ty = rd::<u16>(sock.wrapping_add(offset(member::SOCKET_TYPE)));
                pos = put_scalar(e, pos, 1, ty as u64);
            }
            index = 2;
        }
        let len = len as usize;
        let pos = match item_at::<REC_MAX>(e, pos, wire::kcfg::SOCKADDR_MAX) {
            Ok((at, cap)) => at + put_user_bytes_at(e.add(at), index, args[1], len, cap),
            Err(pos) => pos,
        };
        finish_and_output(e, pos);
    }
}

/// `security_socket_listen` (sockfd, local_addr, backlog) and
/// `security_socket_accept` (sockfd, local_addr): the address the socket
/// is bound to, read from the kernel's socket.
#[inline(always)]
fn local(nr: u32, ret: i64, args: &[u64; 6], flags: u32, id: u32) {
    if before_the_check(ret) || !event_enabled(id) {
        return;
    }
    // Null if a thread sharing the descriptor table replaced the socket
    // before this exit ran: the address is then marked unreadable.
    let sock = socket_of(fd_file(args[0]));
    let Some(e) = start_event(id, nr, flags) else {
        return;
    };
    // SAFETY: `e` is the event scratch, which this run alone uses; each
    // writer clamps its position inside the record.
    unsafe {
        let pos = put_scalar(e, ARGS_OFFSET, 0, args[0]);
        let mut pos = if sock.is_null() {
            put_unreadable(e, pos, 1, item::BYTES)
        } else {
            put_sock_addr(
                e,
                pos,
                1,
                rd_ptr(sock.wrapping_add(offset(member::SOCKET_SK))),
            )
        };
        if id == event_id::SECURITY_SOCKET_LISTEN {
            pos = put_scalar(e, pos, 2, args[1]);
        }
        finish_and_output(e, pos);
    }
}

const AF_UNIX: u16 = 1;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
/// `struct sockaddr_un`: the family and a path of up to 108 bytes.
const SUN_LEN_MAX: usize = 110;

/// Writes the address socket `sk` is bound to as a `struct sockaddr`
/// (sockaddr_in, sockaddr_in6 or sockaddr_un; the family alone for any
/// other).
///
/// # Safety
/// `e` must be the event scratch, unused by anyone else during this run.
#[inline(always)]
unsafe fn put_sock_addr(e: *mut u8, pos: usize, index: u8, sk: *const u8) -> usize {
    // SAFETY: the caller's promise.
    let (pos, cap) = match unsafe { item_at::<REC_MAX>(e, pos, wire::kcfg::SOCKADDR_MAX) } {
        Ok(at) => at,
        Err(pos) => return pos,
    };
    let family = rd::<u16>(sk.wrapping_add(offset(member::SKC_FAMILY)));
    let port = rd::<u16>(sk.wrapping_add(offset(member::SKC_NUM))).to_be();
    // SAFETY: item_at gave room for the header and `cap` (SOCKADDR_MAX,
    // 128) bytes at `pos`; every write below stays inside 128 bytes.
    unsafe {
        let d = e.add(pos + ArgHeader::LEN);
        // A zeroed sockaddr_in6, the largest fixed one written.
        for i in 0..28 {
            *d.add(i) = 0;
        }
        *d.cast::<[u8; 2]>() = family.to_le_bytes();
        let len = match family {
            AF_INET => {
                *d.add(2).cast::<[u8; 2]>() = port.to_ne_bytes();
                *d.add(4).cast::<[u8; 4]>() =
                    rd::<[u8; 4]>(sk.wrapping_add(offset(member::SKC_RCV_SADDR)));
                16
            }
            AF_INET6 => {
                *d.add(2).cast::<[u8; 2]>() = port.to_ne_bytes();
                *d.add(8).cast::<[u8; 16]>() =
                    rd::<[u8; 16]>(sk.wrapping_add(offset(member::SKC_V6_RCV_SADDR)));
                28
            }
            AF_UNIX => {
                // unix_sk(sk)->addr: NULL until bound.
                let addr = rd_ptr(sk.wrapping_add(offset(member::UNIX_SOCK_ADDR)));
                let n = if addr.is_null() {
                    2
                } else {
                    rd::<u32>(addr.wrapping_add(offset(member::UNIX_ADDRESS_LEN))) as usize
                };
                let n = if n > SUN_LEN_MAX || n > cap {
                    SUN_LEN_MAX
                } else {
                    n
                };
                if n > 2 {
                    crate::kread::rd_into(
                        &mut *d.cast::<[u8; SUN_LEN_MAX]>(),
                        addr.wrapping_add(offset(member::UNIX_ADDRESS_NAME)),
                    );
                    *d.cast::<[u8; 2]>() = family.to_le_bytes();
                }
                n
            }
            _ => 2,
        };
        put_header(e.add(pos), index, item::BYTES, len as u16);
        pos + ArgHeader::LEN + len
    }
}

/// The exec's `security_bprm_check` and the `security_file_open` of the
/// file it runs, on the `sched_process_exec` tracepoint.
pub(crate) fn try_security_exec(ctx: &BtfTracePointContext) {
    if is_self() {
        return;
    }
    let bprm: *const u8 = ctx.arg(2);
    let file = rd_ptr(bprm.wrapping_add(offset(member::BPRM_FILE)));
    let filename = rd_ptr(bprm.wrapping_add(offset(member::BPRM_FILENAME)));
    let syscall = current_syscall();
    if event_enabled(event_id::SECURITY_FILE_OPEN)
        && let Some(e) = start_event(event_id::SECURITY_FILE_OPEN, syscall, 0)
    {
        // SAFETY: `e` is the event scratch, which this run alone uses.
        unsafe {
            let pos = put_opened(e, ARGS_OFFSET, file, 0);
            let pos = put_str::<REC_MAX, false>(e, pos, 5, filename as u64);
            finish_and_output(e, pos);
        }
    }
    if event_enabled(event_id::SECURITY_BPRM_CHECK)
        && let Some(e) = start_event(event_id::SECURITY_BPRM_CHECK, syscall, 0)
    {
        let f = inode_facts(file);
        let task = crate::kread::current_task();
        // SAFETY: `e` is the event scratch, which this run alone uses; each
        // writer clamps its position inside the record.
        unsafe {
            let pos = put_file_path(e, ARGS_OFFSET, 0, file);
            let pos = put_scalar(e, pos, 1, f.dev as u64);
            let pos = put_scalar(e, pos, 2, f.ino);
            let pos = put_exec_argv::<REC_MAX>(e, pos, 3, task);
            let pos = crate::sched::put_exec_env::<REC_MAX>(e, pos, 4, task);
            finish_and_output(e, pos);
        }
    }
}

const CAP_SYS_ADMIN: i32 = 21;

/// cap_capable's record: the context and one scalar.
const CAP_RECORD: usize = ARGS_OFFSET + ArgHeader::LEN + 8;
const _: () = assert!(CAP_RECORD <= 256);

/// `cap_capable`: a capability check, from the `capability:cap_capable`
/// tracepoint (which runs after the check: its result is the event's
/// return value, 0 or -EPERM).
pub(crate) fn try_cap_capable(ctx: &TracePointContext) {
    if !event_enabled(event_id::CAP_CAPABLE) || is_self() {
        return;
    }
    // The tracepoint's record: common fields (8 bytes), cred, target_ns,
    // capable_ns (pointers), then int cap and int ret.
    let base = ctx.as_ptr().cast::<u8>();
    let cap = ld::<i32>(base, 32);
    let ret = ld::<i32>(base, 36);
    let syscall = current_syscall();
    // The memory accounting of mmap, brk, mremap, mprotect and exec asks
    // for CAP_SYS_ADMIN on every call, without auditing it (CAP_OPT_NOAUDIT,
    // which this tracepoint does not pass on, and which Tracee leaves out).
    if cap == CAP_SYS_ADMIN
        && matches!(
            syscall,
            nr::MMAP
                | nr::BRK
                | nr::MREMAP
                | nr::MPROTECT
                | nr::PKEY_MPROTECT
                | nr::EXECVE
                | nr::EXECVEAT
        )
    {
        return;
    }
    let Some(e) = CAP_EVT_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let e = e.cast::<u8>();
    // SAFETY: `e` is cap_capable's scratch, which this run alone uses (the
    // program does not nest in itself); the record (context and one
    // scalar) fits in its 256 bytes.
    unsafe {
        fill_context(
            e,
            bpf_ktime_get_ns(),
            ids(event_id::CAP_CAPABLE, syscall),
            ret as i64,
            0,
        );
        // One scalar at a fixed place: the generic writers assume the
        // event scratch's size.
        let p = e.add(ARGS_OFFSET);
        put_header(p, 0, item::SCALAR, 8);
        p.add(ArgHeader::LEN)
            .cast::<u64>()
            .write_unaligned(cap as i64 as u64);
        finish_and_output(e, CAP_RECORD);
    }
}
