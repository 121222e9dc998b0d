//! Artifact capture: the bytes of writes and reads on matching files,
//! memory regions turned executable, kernel module images and BPF program
//! instructions, sent on their own ring buffer (CAP_RING) as
//! `wire::capture` records for tracee-collect's sidecar.
//!
//! Everything is taken at sys_exit, from the registers and user memory the
//! call used: the bytes a write wrote or a read read are still in the
//! caller's buffer, and nothing else has run in the thread since.

mod files;
mod memory;
mod objects;
mod send;

pub(crate) use memory::inherit_writable;

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
use self::{files::*, memory::*, objects::*, send::*};
#[allow(unused_imports)]
use crate::{context::*, kread::*, limits::*, maps::*, path::*, regs::*, scope::*};

/// Bits `1 << artifact::*` of what to capture; set at load time.
#[unsafe(no_mangle)]
pub(crate) static CAPTURE: u32 = 0;

#[map]
pub(crate) static CAP_RING: RingBuf = RingBuf::with_byte_size(1 << 26, 0);
#[map]
pub(crate) static CAP_FILTER: Array<CapFilter> = Array::with_max_entries(2, 0);
/// Capture chunks the ring had no room for; tracee-collect reads it.
#[map]
pub(crate) static CAP_LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);
/// Files with chunks the ring refused, by (artifact << 56 | dev, inode):
/// tracee-collect turns them into lost notices on the sidecar.
#[map]
pub(crate) static CAP_INCOMPLETE: LruHashMap<[u64; 2], u8> = LruHashMap::with_max_entries(4096, 0);
/// A record being built: header, capture header, payload.
#[map]
pub(crate) static CAP_SCRATCH: PerCpuArray<[u8; SCRATCH]> = PerCpuArray::with_max_entries(1, 0);
/// Files seen to start with ELF's magic, by (dev, inode).
#[map]
pub(crate) static ELF_FILES: LruHashMap<[u64; 2], u8> = LruHashMap::with_max_entries(4096, 0);

pub(crate) const HDR: usize = RecordHeader::LEN + CaptureHeader::LEN;
/// Where the scratch counts chunks the ring refused since start_header.
pub(crate) const DROPPED: usize = SCRATCH - 8;
/// Per-CPU map values are at most 32 KiB.
pub(crate) const SCRATCH: usize = 2 * MAX_CHUNK;
/// Chunks one call may send (64 MiB, the ring's size); the rest of a
/// larger call is reported lost.
pub(crate) const MAX_CHUNKS: usize = 4096;
/// iovec elements followed per call.
pub(crate) const MAX_IOV: usize = 8;

pub(crate) const PROT_WRITE: u64 = 2;
pub(crate) const PROT_EXEC: u64 = 4;
pub(crate) const O_APPEND: u32 = 0o2000;
pub(crate) const RWF_APPEND: u64 = 0x10;

/// [`crate::capture_exit`]: what one syscall's exit may capture.
pub(crate) unsafe fn try_capture_exit(ctx: &RawTracePointContext) -> i32 {
    let ret: i64 = ctx.arg(1);
    unsafe {
        let task = current_task();
        if in_compat_syscall(task) || is_self_tgid((bpf_get_current_pid_tgid() >> 32) as u32) {
            return 0;
        }
        if global_u32(&SCOPE) != 0 && !in_scope() {
            return 0;
        }
        let regs = Regs::read(ctx.arg(0));
        on_exit(regs.0[Regs::ORIG_AX], ret, &regs);
    }
    0
}

/// Whether the current task passes the scope filters pushed into the
/// kernel (comm, pid, uid, namespaces, cgroup), judged on its context as
/// an event would carry it.
#[inline(always)]
pub(crate) unsafe fn in_scope() -> bool {
    let Some(s) = CAP_SCRATCH.get_ptr_mut(0) else {
        return false;
    };
    let s = s.cast::<u8>();
    unsafe {
        fill_context(s, 0, 0, 0, 0);
        scope_ok(s.add(RecordHeader::LEN).cast::<wire::EventContext>())
    }
}

pub(crate) unsafe fn on_exit(nr: u64, ret: i64, regs: &Regs) {
    let want = global_u32(&CAPTURE);
    let (art, vectored, positioned) = match nr {
        0 => (artifact::READ, false, false),
        17 => (artifact::READ, false, true),
        19 => (artifact::READ, true, false),
        295 | 327 => (artifact::READ, true, true),
        1 => (artifact::WRITE, false, false),
        18 => (artifact::WRITE, false, true),
        20 => (artifact::WRITE, true, false),
        296 | 328 => (artifact::WRITE, true, true),
        // mmap, mprotect, pkey_mprotect, mremap.
        9 | 10 | 329 | 25 => {
            if want & (1 << artifact::MEM) != 0 {
                unsafe { protection(nr, ret, regs) };
            }
            return;
        }
        // A caller without CAP_SYS_MODULE is refused before the kernel
        // looks at its image: what it passes is only its own bytes, and
        // capturing them would let anyone fill the capture at will.
        175 => {
            if want & (1 << artifact::MODULE) != 0 && may_load_modules() {
                unsafe { module(regs) };
            }
            return;
        }
        313 => {
            if want & (1 << artifact::MODULE) != 0 && may_load_modules() {
                unsafe { module_file(regs) };
            }
            return;
        }
        321 => {
            if want & (1 << artifact::BPF) != 0 && regs.arg(0) == 5 && ret >= 0 {
                unsafe { bpf_prog(regs) };
            }
            return;
        }
        _ => return,
    };
    // A call that moved nothing still names the file (an empty file is
    // captured as one).
    if want & (1 << art) == 0 || ret < 0 {
        return;
    }
    // preadv2, pwritev2: their sixth argument is RWF_* flags.
    let rwf_flags = matches!(nr, 327 | 328);
    unsafe { file_io(art, vectored, positioned, rwf_flags, ret as u64, regs) };
}
