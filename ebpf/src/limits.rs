//! Sizes of records, strings and scratch buffers, with the compile-time
//! proofs that what is written fits.

use wire::{ARGS_OFFSET, ArgHeader, kcfg};

pub(crate) const BLOB_CAP: usize = kcfg::BLOB_CAP;
pub(crate) const STR_MAX: usize = kcfg::STR_MAX;
/// The event scratch buffer; records are at most REC_MAX bytes, and the
/// buffer is twice that so an item starting anywhere in a record still
/// ends inside it, which is what the verifier checks.
pub(crate) const EVT_MASK: usize = 16383;
/// 32 KiB: the largest value a per-CPU map may have.
pub(crate) const EVT_CAP: usize = 32768;
/// The longest event record. Writers clamp their position to it and never
/// wrap: a cut value is marked truncated, and an argument with no room left
/// at all sets the context's ARGS_CUT flag. (No event comes near it: the
/// largest, sched_process_exec, is at most about 12.5 KiB; see
/// `EXEC_RECORD_MAX`.)
pub(crate) const REC_MAX: usize = EVT_MASK;
pub(crate) const PATH_CAP: usize = 2048;
pub(crate) const PATH_DEPTH: usize = 32;
pub(crate) const NAME_MAX: usize = 255;
/// Bytes of argv read from the new process image at exec.
pub(crate) const EXEC_ARGV_CAP: usize = 2048;
/// The most a string item carries (bytes, without the NUL); one more byte
/// is read to tell a string of exactly this length from a longer one.
pub(crate) const STR_KEEP: usize = STR_MAX - 1;
/// The largest sched_process_exec record: context; cmdpath, pathname,
/// interpreter_pathname, interp, stdin_path and pwd (strings); nine
/// scalars; argv and env; prev_comm.
pub(crate) const EXEC_RECORD_MAX: usize = ARGS_OFFSET
    + 6 * (ArgHeader::LEN + STR_KEEP)
    + 9 * (ArgHeader::LEN + 8)
    + 2 * (ArgHeader::LEN + EXEC_ARGV_CAP)
    + (ArgHeader::LEN + 16);
const _: () = assert!(EXEC_RECORD_MAX <= REC_MAX);
/// A syscall record: context, six scalars, the blob of pointer arguments,
/// and a sockaddr filled by the kernel.
const _: () = assert!(
    ARGS_OFFSET + 6 * (ArgHeader::LEN + 8) + BLOB_CAP + ArgHeader::LEN + kcfg::SOCKADDR_MAX
        <= REC_MAX
);
/// What an i386 exec keeps in a blob: its file name and argv.
const _: () = assert!(2 * ArgHeader::LEN + STR_KEEP + EXEC_ARGV_CAP <= BLOB_CAP);
/// Room after any position inside a record for a string read of up to
/// 2 * STR_MAX bytes (what `kread::read_str` may write): the event scratch
/// is twice the largest record, and a blob scratch twice the blob.
const _: () = assert!(EVT_CAP - REC_MAX >= 2 * STR_MAX && BLOB_CAP >= 2 * STR_MAX);
