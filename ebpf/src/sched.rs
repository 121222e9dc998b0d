//! Process lifecycle events from the sched BTF tracepoints: fork, exit
//! and exec (with the new image's path, file identity and argv).

use core::ptr::addr_of_mut;

use aya_ebpf::{
    cty::c_void,
    helpers::{
        bpf_get_current_pid_tgid,
        generated::{
            bpf_find_vma, bpf_ktime_get_ns, bpf_loop, bpf_probe_read_user, bpf_task_pt_regs,
        },
    },
    programs::BtfTracePointContext,
};
use wire::{
    ARGS_OFFSET, ArgHeader, ctx_flags, event_id, item,
    kcfg::{member, nr},
    lost_reason,
};

use crate::args::{forget, item_at, put_comm, put_header, put_kernel_str, put_scalar};
use crate::context::{fill_context, ids, ns_ids};
use crate::file::{fd_file, inode_facts};
use crate::kread::{current_task, current_task_btf, rd, rd_ptr};
use crate::limits::{BLOB_CAP, EXEC_ARGV_CAP, REC_MAX};
use crate::maps::{
    BLOB_SCRATCH, BLOBS, EVT_SCRATCH, EXEC_ENV, HAS_PEERS, PEERS, PENDING, Pending, TRACK_PROCS,
    count_lost, forget_thread, global_u32, offset,
};
use crate::output::{finish_and_output, output};
use crate::path::{put_file_path, put_path};
use crate::regs::{current_syscall, native_nr};
use crate::scope::{event_enabled, is_self, pending_in_scope};
use crate::syscall::keep_pending;

pub(crate) fn try_fork(ctx: &BtfTracePointContext) {
    let parent: *const u8 = ctx.arg(0);
    let child: *const u8 = ctx.arg(1);
    crate::capture::inherit_writable(
        rd::<u32>(parent.wrapping_add(offset(member::TASK_TGID))) as u64,
        rd::<u32>(child.wrapping_add(offset(member::TASK_TGID))) as u64,
    );

    let track = global_u32(&TRACK_PROCS) != 0;
    if !(event_enabled(event_id::SCHED_PROCESS_FORK) || track) || is_self() {
        return;
    }
    let Some(e) = EVT_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let e = e.cast::<u8>();
    // SAFETY: `e` is this CPU's event scratch, which nothing else uses
    // during this run; each writer clamps its position inside the record.
    unsafe {
        fill_context(
            e,
            bpf_ktime_get_ns(),
            ids(event_id::SCHED_PROCESS_FORK, current_syscall()),
            0,
            0,
        );
        let (p_ns_tid, p_ns_pid) = ns_ids(parent);
        let (c_ns_tid, c_ns_pid) = ns_ids(child);
        let at = |task: *const u8, member: usize| task.wrapping_add(offset(member));
        // parent_tid, parent_ns_tid, parent_pid, parent_ns_pid, child_tid,
        // child_ns_tid, child_pid, child_ns_pid, start_time.
        let values = [
            rd::<u32>(at(parent, member::TASK_PID)) as u64,
            p_ns_tid as u64,
            rd::<u32>(at(parent, member::TASK_TGID)) as u64,
            p_ns_pid as u64,
            rd::<u32>(at(child, member::TASK_PID)) as u64,
            c_ns_tid as u64,
            rd::<u32>(at(child, member::TASK_TGID)) as u64,
            c_ns_pid as u64,
            rd::<u64>(at(child, member::TASK_START_TIME)),
        ];
        let mut pos = ARGS_OFFSET;
        for (i, v) in values.into_iter().enumerate() {
            pos = put_scalar(e, pos, i as u8, v);
        }
        send(e, pos, track);
    }
}

pub(crate) fn try_exit(ctx: &BtfTracePointContext) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tid = pid_tgid as u32;
    let group_dead: u64 = ctx.arg(1);
    // A thread that dies inside an entry-traced syscall (an exec) never
    // reaches sys_exit: its event is lost, and counted if it was in scope.
    if let Some(p) = PENDING.get_ptr(&tid) {
        // SAFETY: a value of PENDING, copied before it is removed.
        let p = unsafe { *p };
        let _ = PENDING.remove(&tid);
        // SAFETY: no record is being built in the event scratch yet.
        if p.out_of_scope == 0 && unsafe { pending_in_scope(&p) } {
            count_lost(lost_reason::UNFINISHED);
        }
    }
    let _ = BLOBS.remove(&tid);
    // A process of the pipeline that is gone is no longer left out: its
    // pid may come back as anyone's.
    if group_dead != 0 && global_u32(&HAS_PEERS) != 0 {
        let _ = PEERS.remove(&((pid_tgid >> 32) as u32));
    }
    let task = current_task();
    if !event_enabled(event_id::SCHED_PROCESS_EXIT) || is_self() {
        forget_thread(tid, task);
        return;
    }
    if let Some(e) = EVT_SCRATCH.get_ptr_mut(0) {
        let e = e.cast::<u8>();
        // SAFETY: `e` is this CPU's event scratch, which nothing else uses
        // during this run; each writer clamps its position in the record.
        unsafe {
            fill_context(
                e,
                bpf_ktime_get_ns(),
                ids(event_id::SCHED_PROCESS_EXIT, u32::MAX),
                0,
                0,
            );
            let code = rd::<u32>(task.wrapping_add(offset(member::TASK_EXIT_CODE)));
            let mut pos = ARGS_OFFSET;
            pos = put_scalar(e, pos, 0, ((code >> 8) & 0xff) as u64);
            pos = put_scalar(e, pos, 1, (code & 0x7f) as u64);
            pos = put_scalar(e, pos, 2, group_dead & 0xff);
            finish_and_output(e, pos);
        }
    }
    // The slot's tag is this task, which is going away.
    forget_thread(tid, task);
}

pub(crate) fn try_exec(ctx: &BtfTracePointContext) {
    let task = current_task();
    // A thread other than the leader that execs takes over the leader's
    // id (and its namespace pid): forget what was cached under both.
    let old_tid: u32 = ctx.arg(1);
    forget_thread(old_tid, task);
    forget_thread(bpf_get_current_pid_tgid() as u32, task);

    crate::cgroup::mark_started(task);
    if is_self() {
        return;
    }
    let bprm: *const u8 = ctx.arg(2);
    let tid = bpf_get_current_pid_tgid() as u32;
    if old_tid != tid {
        // What syscall_entry kept under the thread's old id follows it to
        // the leader's, where sys_exit will look (else the exec would pass
        // for one it never saw: no envp, no caller's name).
        move_pending(old_tid, tid);
    }
    // The caller's name, if syscall_entry saw the exec.
    let prev_comm = match PENDING.get_ptr(&tid) {
        // SAFETY: a value of PENDING, valid for this run.
        Some(p) => unsafe { (*p).comm },
        None => {
            keep_compat_exec(bprm, task, tid);
            [0u8; 16]
        }
    };
    let track = global_u32(&TRACK_PROCS) != 0;
    if !(event_enabled(event_id::SCHED_PROCESS_EXEC) || track) {
        return;
    }
    let Some(e) = EVT_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let e = e.cast::<u8>();
    // SAFETY: `e` is this CPU's event scratch, which nothing else uses
    // during this run; each writer clamps its position inside the record.
    unsafe {
        let syscall = current_syscall();
        fill_context(
            e,
            bpf_ktime_get_ns(),
            ids(event_id::SCHED_PROCESS_EXEC, syscall),
            0,
            0,
        );
        let file = rd_ptr(bprm.wrapping_add(offset(member::BPRM_FILE)));
        let filename = rd_ptr(bprm.wrapping_add(offset(member::BPRM_FILENAME)));
        let interp = rd_ptr(bprm.wrapping_add(offset(member::BPRM_INTERP)));

        // Tracee's arguments, in its order.
        let mut pos = ARGS_OFFSET;
        pos = forget(put_kernel_str::<REC_MAX>(e, pos, 0, filename));
        pos = forget(put_file_path(e, pos, 1, file));
        let f = inode_facts(file);
        pos = put_scalar(e, pos, 2, f.dev as u64);
        pos = put_scalar(e, pos, 3, f.ino);
        pos = put_scalar(e, pos, 4, f.ctime);
        pos = put_scalar(e, pos, 5, f.mode as u64);
        // The ELF interpreter (the dynamic loader) the new image runs
        // first, if it has one.
        // (Each optional part ends with its position forgotten: the paths
        // through it then meet as one state for the verifier.)
        let ld = elf_interpreter(task);
        if !ld.is_null() {
            pos = put_file_path(e, pos, 6, ld);
            let i = inode_facts(ld);
            pos = put_scalar(e, pos, 7, i.dev as u64);
            pos = put_scalar(e, pos, 8, i.ino);
            pos = put_scalar(e, pos, 9, i.ctime);
        }
        pos = forget(pos);
        pos = put_exec_argv::<REC_MAX>(e, pos, 10, task);
        pos = forget(put_kernel_str::<REC_MAX>(e, pos, 11, interp));
        let stdin = fd_file(0);
        if !stdin.is_null() {
            pos = put_scalar(e, pos, 12, (inode_facts(stdin).mode & S_IFMT) as u64);
            pos = put_file_path(e, pos, 13, stdin);
        }
        pos = forget(pos);
        let parent = rd_ptr(task.wrapping_add(offset(member::TASK_REAL_PARENT)));
        let pflags = rd::<u32>(parent.wrapping_add(offset(member::TASK_FLAGS)));
        pos = put_scalar(e, pos, 14, u64::from(pflags & PF_KTHREAD != 0));
        pos = put_comm(e, pos, 15, &prev_comm);
        if global_u32(&EXEC_ENV) != 0 {
            pos = put_exec_env::<REC_MAX>(e, pos, 16, task);
        }
        pos = forget(pos);
        let fs = rd_ptr(task.wrapping_add(offset(member::TASK_FS)));
        pos = put_path(e, pos, 17, fs.wrapping_add(offset(member::FS_PWD)));
        send(e, pos, track);
    }
}

/// A kernel thread (task flags).
const PF_KTHREAD: u32 = 0x0020_0000;
/// The file type bits of an inode mode.
const S_IFMT: u16 = 0o170000;
/// auxv: the end of the vector, and the interpreter's load address.
const AT_NULL: u64 = 0;
const AT_BASE: u64 = 7;
/// Pairs of mm->saved_auxv looked at.
const AUXV_PAIRS: usize = 24;

/// The file of the ELF interpreter the new image of `task` was loaded
/// with (null for a static binary): the mapping at auxv's AT_BASE.
#[inline(always)]
fn elf_interpreter(task: *const u8) -> *const u8 {
    let mm = rd_ptr(task.wrapping_add(offset(member::TASK_MM)));
    // [auxv address, AT_BASE found]: the context of the scan's bpf_loop.
    let mut scan = [mm.wrapping_add(offset(member::MM_SAVED_AUXV)) as u64, 0u64];
    // SAFETY: a callback of bpf_loop's type and a context it reads as two
    // u64s, on this stack until the loop returns.
    unsafe {
        bpf_loop(
            AUXV_PAIRS as u32,
            auxv_step as *mut c_void,
            scan.as_mut_ptr().cast::<c_void>(),
            0,
        );
    }
    let base = scan[1];
    if base == 0 {
        return core::ptr::null();
    }
    let mut found: u64 = 0;
    // SAFETY: the helper takes the current task as a BTF pointer, a
    // callback of its type, and a context the callback writes a u64 to,
    // on this stack for the call's duration.
    unsafe {
        bpf_find_vma(
            current_task_btf() as *mut _,
            base,
            vma_file as *mut c_void,
            (&mut found as *mut u64).cast::<c_void>(),
            0,
        );
    }
    found as *const u8
}

/// One pair of [`elf_interpreter`]'s auxv scan: AT_BASE's value into the
/// second u64 at `ctx`. Returns 1 to stop.
#[inline(never)]
extern "C" fn auxv_step(i: u32, ctx: *mut c_void) -> i64 {
    // SAFETY: bpf_loop hands back elf_interpreter's two u64s, on its
    // stack, which outlives the loop.
    let scan = unsafe { &mut *ctx.cast::<[u64; 2]>() };
    let [ty, v] = rd::<[u64; 2]>((scan[0] as *const u8).wrapping_add(i as usize * 16));
    if ty == AT_NULL {
        return 1;
    }
    if ty == AT_BASE {
        scan[1] = v;
        return 1;
    }
    0
}

/// bpf_find_vma's callback: the mapping's file, into the u64 at `ctx`.
#[inline(never)]
extern "C" fn vma_file(_task: *mut c_void, vma: *mut c_void, ctx: *mut c_void) -> i64 {
    let file = rd_ptr(
        vma.cast::<u8>()
            .cast_const()
            .wrapping_add(offset(member::VMA_VM_FILE)),
    );
    // SAFETY: the helper passes elf_interpreter's context, a u64 on its
    // stack that outlives the call.
    unsafe { *ctx.cast::<u64>() = file as u64 };
    0
}

/// Sends a fork or exec record: past the scope when tracee-collect tracks
/// every process (it filters what it forwards), else through it.
///
/// # Safety
/// As [`finish_and_output`].
#[inline(always)]
unsafe fn send(e: *mut u8, pos: usize, track: bool) {
    // SAFETY: the caller's promise.
    unsafe {
        if track {
            output(e, pos);
        } else {
            finish_and_output(e, pos);
        }
    }
}

/// Moves the pending entry (and its blob) of thread `from` to `to`.
#[inline(always)]
fn move_pending(from: u32, to: u32) {
    let Some(p) = PENDING.get_ptr(&from) else {
        return;
    };
    // SAFETY: a value of PENDING, copied before it is removed.
    let p = unsafe { *p };
    let _ = PENDING.remove(&from);
    if p.has_blob != 0
        && let Some(b) = BLOBS.get_ptr(&from)
    {
        // SAFETY: a value of BLOBS, valid until removed below; the insert
        // copies it.
        let _ = BLOBS.insert(&to, unsafe { &*b }, 0);
        let _ = BLOBS.remove(&from);
    }
    if PENDING.insert(&to, &p, 0).is_err() {
        count_lost(lost_reason::TABLE_FULL);
    }
}

/// An exec that succeeded without syscall_entry seeing it: an i386 caller
/// (the syscall tracepoints skip compat calls). Its event is made from what
/// the kernel kept, the name it was given and the new image's argv, for
/// sys_exit to send. Its scalar arguments (and envp) are gone with the old
/// registers and image, so they are left out. TS_COMPAT cannot tell the
/// caller's kind here: loading a 64-bit image clears it and makes the call
/// look like a native execve, which is also what sys_exit will see.
#[inline(always)]
fn keep_compat_exec(bprm: *const u8, task: *const u8, tid: u32) {
    let tb = current_task_btf();
    // SAFETY: the helper takes a BTF task and returns its user registers.
    let regs = unsafe { bpf_task_pt_regs(tb as *mut _) } as *const u8;
    let (nr, _) = native_nr(tb, regs);
    if (nr != nr::EXECVE as u64 && nr != nr::EXECVEAT as u64) || !event_enabled(nr as u32) {
        return;
    }
    let nr = nr as u32;
    let Some(s) = BLOB_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    // execve(filename, argv, envp); execveat(fd, filename, argv, ...).
    let first = if nr == nr::EXECVE { 0 } else { 1 };
    let filename = rd_ptr(bprm.wrapping_add(offset(member::BPRM_FILENAME)));
    // SAFETY: `s` is this CPU's blob scratch, which nothing else uses
    // during this run; the writers keep within BLOB_CAP of its 2 * BLOB_CAP
    // data bytes.
    unsafe {
        let data = addr_of_mut!((*s).data).cast::<u8>();
        let pos = put_kernel_str::<BLOB_CAP>(data, 0, first, filename);
        let pos = put_exec_argv::<BLOB_CAP>(data, pos, first + 1, task);
        (*s).len = pos as u32;
    }
    // Named as the task is now: already the new image's name.
    keep_pending(tid, Pending::now(nr, ctx_flags::COMPAT, None), Some(s));
}

/// argv of the new image, straight from its stack: the strings between
/// mm->arg_start and mm->arg_end, already NUL-separated.
///
/// # Safety
/// `e` must be this CPU's event scratch (LIMIT REC_MAX) or blob scratch
/// data (LIMIT BLOB_CAP), unused by anyone else during this run.
#[inline(always)]
pub(crate) unsafe fn put_exec_argv<const LIMIT: usize>(
    e: *mut u8,
    pos: usize,
    index: u8,
    task: *const u8,
) -> usize {
    // SAFETY: the caller's promise.
    unsafe {
        put_exec_strs::<LIMIT>(
            e,
            pos,
            index,
            task,
            member::MM_ARG_START,
            member::MM_ARG_END,
        )
    }
}

/// The environment of the new image: the strings between mm->env_start
/// and mm->env_end.
///
/// # Safety
/// As [`put_exec_argv`].
#[inline(always)]
pub(crate) unsafe fn put_exec_env<const LIMIT: usize>(
    e: *mut u8,
    pos: usize,
    index: u8,
    task: *const u8,
) -> usize {
    // SAFETY: the caller's promise.
    unsafe {
        put_exec_strs::<LIMIT>(
            e,
            pos,
            index,
            task,
            member::MM_ENV_START,
            member::MM_ENV_END,
        )
    }
}

/// The NUL-separated strings of the new image's stack between the
/// mm_struct members in slots `start` and `end`, as one item.
///
/// # Safety
/// As [`put_exec_argv`].
#[inline(always)]
unsafe fn put_exec_strs<const LIMIT: usize>(
    e: *mut u8,
    pos: usize,
    index: u8,
    task: *const u8,
    start: usize,
    end: usize,
) -> usize {
    // SAFETY: the caller's promise.
    let (pos, cap) = match unsafe { item_at::<LIMIT>(e, pos, EXEC_ARGV_CAP) } {
        Ok(at) => at,
        Err(pos) => return pos,
    };
    let mm = rd_ptr(task.wrapping_add(offset(member::TASK_MM)));
    let start = rd::<u64>(mm.wrapping_add(offset(start)));
    let end = rd::<u64>(mm.wrapping_add(offset(end)));
    let mut len = end.wrapping_sub(start) as usize;
    let mut flags = item::STR_ARRAY;
    if len > cap {
        len = cap;
        flags |= item::TRUNCATED;
    }
    let len = len & (EXEC_ARGV_CAP * 2 - 1);
    // SAFETY: `pos` is clamped inside the record and `len` at most the
    // room item_at gave (below 2 * EXEC_ARGV_CAP, which the scratch has
    // after any position in it); the helper checks the user address.
    unsafe {
        if len == 0 {
            put_header(e.add(pos), index, flags, 0);
            return pos + ArgHeader::LEN;
        }
        if bpf_probe_read_user(
            e.add(pos + ArgHeader::LEN).cast::<c_void>(),
            len as u32,
            start as *const c_void,
        ) < 0
        {
            put_header(e.add(pos), index, item::STR_ARRAY | item::FAULT, 0);
            return pos + ArgHeader::LEN;
        }
        put_header(e.add(pos), index, flags, len as u16);
        pos + ArgHeader::LEN + len
    }
}
