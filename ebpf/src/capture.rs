//! Artifact capture: the bytes of writes and reads on matching files,
//! memory regions turned executable, kernel module images and BPF program
//! instructions, sent on their own ring buffer (CAP_RING) as
//! `wire::capture` records for tracee-collect's sidecar.
//!
//! Everything is taken at sys_exit, from the registers and user memory the
//! call used: the bytes a write wrote or a read read are still in the
//! caller's buffer, and nothing else has run in the thread since.

use aya_ebpf::{
    cty::c_void,
    helpers::generated::{
        bpf_get_current_comm, bpf_ktime_get_ns, bpf_loop, bpf_map_update_elem,
        bpf_probe_read_kernel, bpf_probe_read_user, bpf_ringbuf_output,
    },
    helpers::{bpf_get_current_pid_tgid, bpf_get_current_uid_gid},
    macros::{map, raw_tracepoint},
    maps::{Array, LruHashMap, PerCpuArray, RingBuf},
    programs::RawTracePointContext,
};
use wire::{
    RecordHeader,
    capture::{CaptureHeader, MAX_CHUNK, artifact, flags, ftype},
    kcfg::{CAP_PATH_CAP, CAP_TYPE_ELF, CapFilter, member as off},
    kind,
};

use crate::{PATH_CAP, Regs, current_task, file_path, global_u32, offset, rd, rd_ptr};

/// Bits `1 << artifact::*` of what to capture; set at load time.
#[unsafe(no_mangle)]
pub static CAPTURE: u32 = 0;

#[map]
static CAP_RING: RingBuf = RingBuf::with_byte_size(1 << 26, 0);
#[map]
static CAP_FILTER: Array<CapFilter> = Array::with_max_entries(2, 0);
/// Capture chunks the ring had no room for; tracee-collect reads it.
#[map]
static CAP_LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);
/// Files with chunks the ring refused, by (artifact << 56 | dev, inode):
/// tracee-collect turns them into lost notices on the sidecar.
#[map]
static CAP_INCOMPLETE: LruHashMap<[u64; 2], u8> = LruHashMap::with_max_entries(4096, 0);
/// A record being built: header, capture header, payload.
#[map]
static CAP_SCRATCH: PerCpuArray<[u8; SCRATCH]> = PerCpuArray::with_max_entries(1, 0);
/// Files seen to start with ELF's magic, by (dev, inode).
#[map]
static ELF_FILES: LruHashMap<[u64; 2], u8> = LruHashMap::with_max_entries(4096, 0);
/// The regions each process (by tgid) has had writable: a range made
/// executable by mprotect that overlaps one is captured.
#[map]
static WRITABLE: LruHashMap<u64, Regions> = LruHashMap::with_max_entries(16384, 0);

/// Ranges remembered per process (overlapping or adjoining ones merge).
const REGIONS: usize = 16;
/// An empty set of ranges (never written), to start a process's from.
#[map]
static NO_REGIONS: PerCpuArray<Regions> = PerCpuArray::with_max_entries(1, 0);

/// A process's writable ranges, `[start, end)`; the oldest is replaced
/// when all are in use.
#[repr(C)]
#[derive(Clone, Copy)]
struct Regions {
    start: [u64; REGIONS],
    end: [u64; REGIONS],
    next: u64,
}

const HDR: usize = RecordHeader::LEN + CaptureHeader::LEN;
/// Where the scratch counts chunks the ring refused since start_header.
const DROPPED: usize = SCRATCH - 8;
/// Per-CPU map values are at most 32 KiB.
const SCRATCH: usize = 2 * MAX_CHUNK;
/// Chunks one call may send (64 MiB, the ring's size); the rest of a
/// larger call is reported lost.
const MAX_CHUNKS: usize = 4096;
/// iovec elements followed per call.
const MAX_IOV: usize = 8;

const PROT_WRITE: u64 = 2;
const PROT_EXEC: u64 = 4;
const O_APPEND: u32 = 0o2000;
const RWF_APPEND: u64 = 0x10;

/// A program of its own on sys_exit, attached only when capturing: the
/// verifier's instruction budget is per program, and the event program
/// uses most of its own.
#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn capture_exit(ctx: RawTracePointContext) -> i32 {
    let ret: i64 = ctx.arg(1);
    unsafe {
        let task = current_task();
        if crate::in_compat_syscall(task)
            || crate::is_self_tgid((bpf_get_current_pid_tgid() >> 32) as u32)
        {
            return 0;
        }
        if global_u32(&crate::SCOPE) != 0 && !in_scope() {
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
unsafe fn in_scope() -> bool {
    let Some(s) = CAP_SCRATCH.get_ptr_mut(0) else {
        return false;
    };
    let s = s.cast::<u8>();
    unsafe {
        crate::fill_context(s, 0, 0, 0, 0);
        crate::scope_ok(s.add(RecordHeader::LEN).cast::<wire::EventContext>())
    }
}

unsafe fn on_exit(nr: u64, ret: i64, regs: &Regs) {
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
            if want & (1 << artifact::MODULE) != 0 && unsafe { may_load_modules() } {
                unsafe { module(regs) };
            }
            return;
        }
        313 => {
            if want & (1 << artifact::MODULE) != 0 && unsafe { may_load_modules() } {
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

/// The `struct file` behind descriptor `fd` of the current task.
#[inline(always)]
unsafe fn fd_file(fd: u64) -> *const u8 {
    unsafe {
        let files = rd_ptr(current_task().add(offset(off::TASK_FILES)));
        let fdt = rd_ptr(files.add(offset(off::FILES_FDT)));
        let max = rd::<u32>(fdt.add(offset(off::FDT_MAX_FDS))) as u64;
        if fd >= max {
            return core::ptr::null();
        }
        let fds = rd_ptr(fdt.add(offset(off::FDT_FD)));
        rd_ptr(fds.add((fd as usize) * 8))
    }
}

/// A file's device (the kernel's dev_t), inode number and capture type.
#[inline(always)]
unsafe fn file_id(file: *const u8) -> (u32, u64, u8) {
    unsafe {
        let inode = rd_ptr(file.add(offset(off::FILE_F_INODE)));
        let ft = match rd::<u16>(inode.add(offset(off::INODE_I_MODE))) & 0o170000 {
            0o100000 => ftype::REGULAR,
            0o010000 => ftype::PIPE,
            0o140000 => ftype::SOCKET,
            _ => ftype::OTHER,
        };
        let ino = rd::<u64>(inode.add(offset(off::INODE_I_INO)));
        let sb = rd_ptr(inode.add(offset(off::INODE_I_SB)));
        (rd::<u32>(sb.add(offset(off::SB_S_DEV))), ino, ft)
    }
}

#[inline(always)]
unsafe fn file_io(
    art: u8,
    vectored: bool,
    positioned: bool,
    rwf_flags: bool,
    done: u64,
    regs: &Regs,
) {
    let Some(f) = CAP_FILTER.get(if art == artifact::WRITE { 0 } else { 1 }) else {
        return;
    };
    let fd = regs.arg(0);
    if f.fds != 0 && (fd > 2 || f.fds & (1 << fd) == 0) {
        return;
    }
    let file = unsafe { fd_file(fd) };
    if file.is_null() {
        return;
    }
    unsafe {
        let (dev, ino, ft) = file_id(file);
        // The file offset the call started at: given, or where the call
        // left the file position minus what it moved.
        let mut at = u64::MAX;
        if ft == ftype::REGULAR {
            // A write to a file open for appending (or a pwritev2 with
            // RWF_APPEND) lands at its end whatever offset it gave: where
            // the file now ends, less what the call wrote.
            let append = art == artifact::WRITE
                && (rd::<u32>(file.add(offset(off::FILE_F_FLAGS))) & O_APPEND != 0
                    || (rwf_flags && regs.arg(5) & RWF_APPEND != 0));
            let given = if positioned { regs.arg(3) } else { u64::MAX };
            at = if append {
                let inode = rd_ptr(file.add(offset(off::FILE_F_INODE)));
                rd::<u64>(inode.add(offset(off::INODE_I_SIZE))).wrapping_sub(done)
            } else if given != u64::MAX {
                given
            } else {
                rd::<u64>(file.add(offset(off::FILE_F_POS))).wrapping_sub(done)
            };
        }
        if f.types != 0 {
            let mut t = 1u32 << ft;
            if ft == ftype::REGULAR && is_elf(dev, ino, at, vectored, regs) {
                t |= CAP_TYPE_ELF;
            }
            if f.types & t == 0 {
                return;
            }
        }
        if f.npaths != 0 && !path_matches(f, file) {
            return;
        }

        let Some(s) = CAP_SCRATCH.get_ptr_mut(0) else {
            return;
        };
        let s = s.cast::<u8>();
        let h = start_header(s, art, ft, dev, ino);
        if ft != ftype::REGULAR {
            (*h).flags = flags::APPEND;
        }
        let mut off = if ft == ftype::REGULAR { at } else { 0 };
        if done == 0 {
            (*h).off = off;
            (*h).len = 0;
            output(s, HDR);
            return;
        }
        if !vectored {
            let left = send_range(regs.arg(1), done, off);
            if left > 0 {
                send_lost(s, off.wrapping_add(done - left), left);
            }
            return;
        }
        let iov = regs.arg(1);
        let cnt = regs.arg(2);
        let mut left = done;
        for i in 0..MAX_IOV {
            if left == 0 || i as u64 >= cnt {
                break;
            }
            let base = crate::rd_user::<u64>(iov + 16 * i as u64).unwrap_or(0);
            let len = crate::rd_user::<u64>(iov + 16 * i as u64 + 8).unwrap_or(0);
            let n = if len < left { len } else { left };
            let rest = send_range(base, n, off);
            if rest > 0 {
                send_lost(s, off.wrapping_add(n - rest), rest);
            }
            off = off.wrapping_add(n);
            left -= n;
        }
        if left > 0 {
            send_lost(s, off, left);
        }
    }
}

/// Whether a regular file is ELF: remembered from a call that moved its
/// first bytes (a write or read at offset 0), as the file itself cannot be
/// read from here.
#[inline(always)]
unsafe fn is_elf(dev: u32, ino: u64, at: u64, vectored: bool, regs: &Regs) -> bool {
    let key = [dev as u64, ino];
    if at == 0 {
        let p = if vectored {
            unsafe { crate::rd_user::<u64>(regs.arg(1)).unwrap_or(0) }
        } else {
            regs.arg(1)
        };
        let magic = unsafe { crate::rd_user::<u32>(p).unwrap_or(0) };
        if magic == u32::from_le_bytes(*b"\x7fELF") {
            let _ = ELF_FILES.insert(&key, &1, 0);
            return true;
        }
        let _ = ELF_FILES.remove(&key);
        return false;
    }
    unsafe { ELF_FILES.get(&key).is_some() }
}

/// Whether the file's path starts with one of the filter's prefixes,
/// compared eight bytes at a time.
#[inline(always)]
unsafe fn path_matches(f: &CapFilter, file: *const u8) -> bool {
    let Some((buf, at, cut)) = (unsafe { file_path(file) }) else {
        return false;
    };
    // A path too deep or long to read whole has lost its start, so its
    // prefix is unknown: capture it rather than let depth hide a file.
    if cut {
        return true;
    }
    let have = (PATH_CAP - at) as u32;
    let mut head = [0u64; CAP_PATH_CAP / 8];
    unsafe {
        bpf_probe_read_kernel(
            head.as_mut_ptr().cast::<c_void>(),
            CAP_PATH_CAP as u32,
            buf.add(at & (PATH_CAP - 1)).cast::<c_void>(),
        );
    }
    for k in 0..3 {
        if k as u32 >= f.npaths {
            break;
        }
        let want = f.path_len[k];
        if want > have {
            continue;
        }
        let mut diff = 0u64;
        for (w, &h) in head.iter().enumerate() {
            let valid = want.saturating_sub(8 * w as u32);
            let mask = if valid >= 8 {
                u64::MAX
            } else {
                (1u64 << (8 * valid)) - 1
            };
            let pre = u64::from_le_bytes(f.paths[k][w * 8..w * 8 + 8].try_into().unwrap_or([0; 8]));
            diff |= (h ^ pre) & mask;
        }
        if diff == 0 {
            return true;
        }
    }
    false
}

/// Fills the fixed part of a capture record in the scratch.
#[inline(always)]
unsafe fn start_header(s: *mut u8, art: u8, ft: u8, dev: u32, ino: u64) -> *mut CaptureHeader {
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
struct Range {
    p: u64,
    left: u64,
    off: u64,
}

/// One turn of [`send_range`]'s loop: one chunk. The verifier checks a
/// `bpf_loop` callback once, whatever the number of turns; an unrolled or
/// bounded loop would be walked turn by turn, past its instruction limit.
#[inline(never)]
unsafe extern "C" fn send_chunk(_i: u32, ctx: *mut c_void) -> i64 {
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
unsafe fn send_range(p: u64, len: u64, off: u64) -> u64 {
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
unsafe fn send_lost(s: *mut u8, off: u64, len: u64) {
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
unsafe fn output(s: *mut u8, len: usize) {
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
unsafe fn send_end(s: *mut u8, off: u64, missing: u64) {
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
unsafe fn send_object(s: *mut u8, p: u64, len: u64) {
    unsafe {
        let left = send_range(p, len, 0);
        send_end(s, len - left, left);
    }
}

/// Whether the current task has CAP_SYS_MODULE in its effective set.
#[inline(always)]
unsafe fn may_load_modules() -> bool {
    const CAP_SYS_MODULE: u64 = 16;
    unsafe {
        let cred = rd_ptr(current_task().add(offset(off::TASK_CRED)));
        rd::<u64>(cred.add(offset(off::CRED_CAP_EFFECTIVE))) & (1 << CAP_SYS_MODULE) != 0
    }
}

/// init_module(image, len, params): the image. The call fails here
/// (ENOSYS, no modules), but the attempt is the evidence.
#[inline(always)]
unsafe fn module(regs: &Regs) {
    let Some(s) = CAP_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let s = s.cast::<u8>();
    unsafe {
        start_header(s, artifact::MODULE, ftype::OTHER, 0, 0);
        send_object(s, regs.arg(0), regs.arg(1));
    }
}

/// finit_module(fd, params, flags): the file cannot be read from here, so
/// its identity and path go to tracee-collect, which reads it.
#[inline(always)]
unsafe fn module_file(regs: &Regs) {
    let file = unsafe { fd_file(regs.arg(0)) };
    if file.is_null() {
        return;
    }
    let Some(s) = CAP_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let s = s.cast::<u8>();
    unsafe {
        let (dev, ino, _) = file_id(file);
        let Some((buf, at, _)) = file_path(file) else {
            return;
        };
        let h = start_header(s, artifact::MODULE, ftype::REGULAR, dev, ino);
        (*h).mnt_ns = crate::mnt_ns_of(current_task());
        let len = (PATH_CAP - at) & (PATH_CAP * 2 - 1);
        let len = if len > PATH_CAP { PATH_CAP } else { len };
        bpf_probe_read_kernel(
            s.add(HDR).cast::<c_void>(),
            len as u32,
            buf.add(at & (PATH_CAP - 1)).cast::<c_void>(),
        );
        (*h).flags = flags::REF;
        (*h).len = len as u32;
        output(s, HDR + len);
    }
}

/// bpf(BPF_PROG_LOAD, attr, size): the instructions, named by the
/// program's name.
#[inline(always)]
unsafe fn bpf_prog(regs: &Regs) {
    let attr = regs.arg(1);
    let Some(s) = CAP_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let s = s.cast::<u8>();
    unsafe {
        let cnt = crate::rd_user::<u32>(attr + 4).unwrap_or(0) as u64;
        let insns = crate::rd_user::<u64>(attr + 8).unwrap_or(0);
        let h = start_header(s, artifact::BPF, ftype::OTHER, 0, 0);
        bpf_probe_read_user(
            (*h).name.as_mut_ptr().cast::<c_void>(),
            16,
            (attr + 48) as *const c_void,
        );
        (*h).name[15] = 0;
        send_object(s, insns, cnt * 8);
    }
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
unsafe fn protection(nr: u64, ret: i64, regs: &Regs) {
    let tgid = bpf_get_current_pid_tgid() >> 32;
    let mprotect = nr == 10 || nr == 329;
    if ret < 0 || (mprotect && ret != 0) || (!mprotect && ret as u64 >= (1 << 47)) {
        return;
    }
    // The range the call leaves with its protection, and for mremap the
    // range it came from.
    let (addr, len, prot, from) = match nr {
        9 => (ret as u64, regs.arg(1), regs.arg(2), None),
        25 => (ret as u64, regs.arg(2), 0, Some((regs.arg(0), regs.arg(1)))),
        _ => (regs.arg(0), regs.arg(1), regs.arg(2), None),
    };
    let end = addr.saturating_add(len);
    // Whether the range (or, moved, where it came from) was writable.
    let (lo, hi) = match from {
        Some((a, n)) => (a, a.saturating_add(n)),
        None => (addr, end),
    };
    let mut was = false;
    if let Some(r) = WRITABLE.get_ptr_mut(&tgid) {
        for i in 0..REGIONS {
            unsafe {
                if (*r).start[i] < hi && lo < (*r).end[i] {
                    was = true;
                    // Executable and no longer writable: captured below,
                    // forgotten here (a later RW is remembered anew).
                    if mprotect && prot & PROT_EXEC != 0 && prot & PROT_WRITE == 0 {
                        (*r).start[i] = 0;
                        (*r).end[i] = 0;
                    }
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
    let Some(s) = CAP_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let s = s.cast::<u8>();
    unsafe {
        // A region is named by its process and time; `ino` carries its
        // start address.
        start_header(s, artifact::MEM, ftype::OTHER, 0, addr);
        send_object(s, addr, len);
    }
}

/// Remembers `[start, end)` as writable for `tgid`: merged into a range
/// it overlaps or adjoins, else in the next slot (the oldest is replaced).
#[inline(always)]
fn remember(tgid: u64, start: u64, end: u64) {
    if WRITABLE.get_ptr_mut(&tgid).is_none()
        && let Some(zero) = NO_REGIONS.get_ptr(0)
    {
        // From a map value, not the stack: Regions is too big for it.
        unsafe { put_regions(tgid, zero) };
    }
    let Some(r) = WRITABLE.get_ptr_mut(&tgid) else {
        return;
    };
    unsafe {
        for i in 0..REGIONS {
            if (*r).end[i] != 0 && (*r).start[i] <= end && start <= (*r).end[i] {
                if start < (*r).start[i] {
                    (*r).start[i] = start;
                }
                if end > (*r).end[i] {
                    (*r).end[i] = end;
                }
                return;
            }
        }
        let i = ((*r).next as usize) % REGIONS;
        (*r).start[i] = start;
        (*r).end[i] = end;
        (*r).next = (*r).next.wrapping_add(1);
    }
}

/// A new process (not a thread) starts with its parent's memory, so with
/// its parent's writable ranges.
#[inline(always)]
pub unsafe fn inherit_writable(parent_tgid: u64, child_tgid: u64) {
    if global_u32(&CAPTURE) & (1 << artifact::MEM) == 0 || parent_tgid == child_tgid {
        return;
    }
    if let Some(r) = WRITABLE.get_ptr(&parent_tgid) {
        unsafe { put_regions(child_tgid, r) };
    }
}

/// Sets `tgid`'s ranges to the map value at `r`.
#[inline(always)]
unsafe fn put_regions(tgid: u64, r: *const Regions) {
    unsafe {
        bpf_map_update_elem(
            core::ptr::addr_of!(WRITABLE) as *mut c_void,
            core::ptr::addr_of!(tgid).cast::<c_void>(),
            r.cast::<c_void>(),
            0,
        );
    }
}
