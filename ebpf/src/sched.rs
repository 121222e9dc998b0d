//! Process lifecycle events from the sched BTF tracepoints: fork, exit
//! and exec (with the new image's path, file identity and argv).

#[allow(unused_imports)]
use core::ptr::{addr_of, addr_of_mut, read_volatile};

#[allow(unused_imports)]
use aya_ebpf::{
    EbpfContext,
    cty::c_void,
    helpers::generated::{
        bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_task,
        bpf_get_current_task_btf, bpf_get_smp_processor_id, bpf_ktime_get_ns, bpf_loop,
        bpf_map_update_elem, bpf_probe_read_kernel, bpf_probe_read_kernel_str, bpf_probe_read_user,
        bpf_probe_read_user_str, bpf_ringbuf_output, bpf_ringbuf_query, bpf_task_pt_regs,
    },
    helpers::{bpf_get_current_pid_tgid, bpf_get_current_uid_gid},
    macros::map,
    maps::{Array, HashMap, PerCpuArray, RingBuf},
    programs::{BtfTracePointContext, TracePointContext},
};
#[allow(unused_imports)]
use wire::{
    ARGS_OFFSET, ArgHeader, EventContext, RecordHeader, ctx_flags, event_id, item,
    kcfg::{self, EventCfg, arg, flags as cfgf, member as off, nr, scope},
    kind, lost_reason,
};

#[allow(unused_imports)]
use crate::{
    args::*, context::*, kread::*, limits::*, maps::*, output::*, path::*, regs::*, scope::*,
    syscall::*,
};

pub(crate) unsafe fn try_fork(ctx: &BtfTracePointContext) {
    let parent: *const u8 = ctx.arg(0);
    let child: *const u8 = ctx.arg(1);
    unsafe {
        crate::capture::inherit_writable(
            rd::<u32>(parent.wrapping_add(offset(off::TASK_TGID))) as u64,
            rd::<u32>(child.wrapping_add(offset(off::TASK_TGID))) as u64,
        );
    }
    if !event_enabled(event_id::SCHED_PROCESS_FORK) || is_self() {
        return;
    }
    let Some(e) = EVT_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let e = e.cast::<u8>();
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
        let mut pos = ARGS_OFFSET;
        pos = put_scalar(
            e,
            pos,
            0,
            rd::<u32>(parent.wrapping_add(offset(off::TASK_PID))) as u64,
        );
        pos = put_scalar(e, pos, 1, p_ns_tid as u64);
        pos = put_scalar(
            e,
            pos,
            2,
            rd::<u32>(parent.wrapping_add(offset(off::TASK_TGID))) as u64,
        );
        pos = put_scalar(e, pos, 3, p_ns_pid as u64);
        pos = put_scalar(
            e,
            pos,
            4,
            rd::<u32>(child.wrapping_add(offset(off::TASK_PID))) as u64,
        );
        pos = put_scalar(e, pos, 5, c_ns_tid as u64);
        pos = put_scalar(
            e,
            pos,
            6,
            rd::<u32>(child.wrapping_add(offset(off::TASK_TGID))) as u64,
        );
        pos = put_scalar(e, pos, 7, c_ns_pid as u64);
        pos = put_scalar(
            e,
            pos,
            8,
            rd::<u64>(child.wrapping_add(offset(off::TASK_START_TIME))),
        );
        finish_and_output(e, pos);
    }
}

pub(crate) unsafe fn try_exit(ctx: &BtfTracePointContext) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tid = pid_tgid as u32;
    let group_dead: u64 = ctx.arg(1);
    // A thread that dies inside an entry-traced syscall (an exec) never
    // reaches sys_exit: its event is lost, and counted if it was in scope.
    if let Some(p) = PENDING.get_ptr(&tid) {
        let p = unsafe { *p };
        let _ = PENDING.remove(&tid);
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
        unsafe {
            fill_context(
                e,
                bpf_ktime_get_ns(),
                ids(event_id::SCHED_PROCESS_EXIT, u32::MAX),
                0,
                0,
            );
            let code = rd::<u32>(task.wrapping_add(offset(off::TASK_EXIT_CODE)));
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

pub(crate) unsafe fn try_exec(ctx: &BtfTracePointContext) {
    let task = current_task();
    // A thread other than the leader that execs takes over the leader's
    // id (and its namespace pid): forget what was cached under both.
    let old_tid: u32 = ctx.arg(1);
    forget_thread(old_tid, task);
    forget_thread(bpf_get_current_pid_tgid() as u32, task);

    if is_self() {
        return;
    }
    let bprm: *const u8 = ctx.arg(2);
    let tid = bpf_get_current_pid_tgid() as u32;
    if old_tid != tid {
        // What syscall_entry kept under the thread's old id follows it to
        // the leader's, where sys_exit will look (else the exec would pass
        // for one it never saw: no envp, no caller's name).
        unsafe { move_pending(old_tid, tid) };
    }
    // The caller's name, if syscall_entry saw the exec.
    let prev_comm = match PENDING.get_ptr(&tid) {
        Some(p) => unsafe { (*p).comm },
        None => {
            unsafe { keep_compat_exec(bprm, task, tid) };
            [0u8; 16]
        }
    };
    if !event_enabled(event_id::SCHED_PROCESS_EXEC) {
        return;
    }
    let Some(e) = EVT_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let e = e.cast::<u8>();
    unsafe {
        let syscall = current_syscall();
        fill_context(
            e,
            bpf_ktime_get_ns(),
            ids(event_id::SCHED_PROCESS_EXEC, syscall),
            0,
            0,
        );
        let file = rd_ptr(bprm.wrapping_add(offset(off::BPRM_FILE)));
        let inode = rd_ptr(file.wrapping_add(offset(off::FILE_F_INODE)));
        let sb = rd_ptr(inode.wrapping_add(offset(off::INODE_I_SB)));
        let filename = rd_ptr(bprm.wrapping_add(offset(off::BPRM_FILENAME)));
        let interp = rd_ptr(bprm.wrapping_add(offset(off::BPRM_INTERP)));

        let mut pos = ARGS_OFFSET;
        pos = put_kernel_str::<REC_MAX>(e, pos, 0, filename);
        pos = put_file_path(e, pos, 1, file);
        pos = put_scalar(
            e,
            pos,
            2,
            rd::<u32>(sb.wrapping_add(offset(off::SB_S_DEV))) as u64,
        );
        pos = put_scalar(
            e,
            pos,
            3,
            rd::<u64>(inode.wrapping_add(offset(off::INODE_I_INO))),
        );
        let sec = rd::<i64>(inode.wrapping_add(offset(off::INODE_CTIME_SEC)));
        // Bit 31 of i_ctime_nsec is the multigrain "queried" flag (6.6+).
        let nsec = rd::<u32>(inode.wrapping_add(offset(off::INODE_CTIME_NSEC))) & 0x3fff_ffff;
        pos = put_scalar(
            e,
            pos,
            4,
            (sec as u64)
                .wrapping_mul(1_000_000_000)
                .wrapping_add(nsec as u64),
        );
        pos = put_scalar(
            e,
            pos,
            5,
            rd::<u16>(inode.wrapping_add(offset(off::INODE_I_MODE))) as u64,
        );
        // The interpreter, when it is not the file itself (scripts).
        if interp != filename {
            pos = put_kernel_str::<REC_MAX>(e, pos, 6, interp);
        }
        pos = put_exec_argv::<REC_MAX>(e, pos, 7, task);
        pos = put_comm(e, pos, 8, &prev_comm);
        finish_and_output(e, pos);
    }
}

/// Moves the pending entry (and its blob) of thread `from` to `to`.
#[inline(always)]
pub(crate) unsafe fn move_pending(from: u32, to: u32) {
    unsafe {
        let Some(p) = PENDING.get_ptr(&from) else {
            return;
        };
        let p = *p;
        let _ = PENDING.remove(&from);
        if p.has_blob != 0
            && let Some(b) = BLOBS.get_ptr(&from)
        {
            bpf_map_update_elem(
                addr_of!(BLOBS) as *mut c_void,
                addr_of!(to).cast::<c_void>(),
                b.cast::<c_void>(),
                0,
            );
            let _ = BLOBS.remove(&from);
        }
        if PENDING.insert(&to, &p, 0).is_err() {
            count_lost(lost_reason::TABLE_FULL);
        }
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
pub(crate) unsafe fn keep_compat_exec(bprm: *const u8, task: *const u8, tid: u32) {
    unsafe {
        let tb = current_task_btf();
        let (nr, _) = native_nr(tb, bpf_task_pt_regs(tb as *mut _) as *const u8);
        if (nr != 59 && nr != 322) || !event_enabled(nr as u32) {
            return;
        }
        let Some(s) = BLOB_SCRATCH.get_ptr_mut(0) else {
            return;
        };
        let data = addr_of_mut!((*s).data).cast::<u8>();
        // execve(filename, argv, envp); execveat(fd, filename, argv, ...).
        let first = if nr == 59 { 0 } else { 1 };
        let filename = rd_ptr(bprm.wrapping_add(offset(off::BPRM_FILENAME)));
        let pos = put_kernel_str::<BLOB_CAP>(data, 0, first, filename);
        let pos = put_exec_argv::<BLOB_CAP>(data, pos, first + 1, task);
        (*s).len = pos as u32;
        let mut p = Pending {
            ts: bpf_ktime_get_ns(),
            nr: nr as u32,
            flags: ctx_flags::COMPAT,
            args: [0; 6],
            comm: [0; 16],
            has_blob: 0,
            no_scalars: 1,
            out_of_scope: 0,
            _pad: 0,
        };
        // The task already has the new image's name.
        bpf_get_current_comm(p.comm.as_mut_ptr().cast::<c_void>(), 16);
        keep_pending(tid, p, Some(s));
    }
}

/// argv of the new image, straight from its stack: the strings between
/// mm->arg_start and mm->arg_end, already NUL-separated.
#[inline(always)]
pub(crate) unsafe fn put_exec_argv<const LIMIT: usize>(
    e: *mut u8,
    pos: usize,
    index: u8,
    task: *const u8,
) -> usize {
    let (pos, cap) = match unsafe { item_at::<LIMIT>(e, pos, EXEC_ARGV_CAP) } {
        Ok(at) => at,
        Err(pos) => return pos,
    };
    unsafe {
        let mm = rd_ptr(task.wrapping_add(offset(off::TASK_MM)));
        let start = rd::<u64>(mm.wrapping_add(offset(off::MM_ARG_START)));
        let end = rd::<u64>(mm.wrapping_add(offset(off::MM_ARG_END)));
        let mut len = end.wrapping_sub(start) as usize;
        let mut flags = item::STR_ARRAY;
        if len > cap {
            len = cap;
            flags |= item::TRUNCATED;
        }
        let len = len & (EXEC_ARGV_CAP * 2 - 1);
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
