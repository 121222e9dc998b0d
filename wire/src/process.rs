//! The process record (kind 6): a process's executable, written by
//! tracee-collect for every process running when tracing starts and at
//! every fork and exec after, so that every event's reader knows what a
//! process runs, whichever events were selected. `wire/FORMAT.md`
//! documents the bytes.

use std::vec::Vec;

use crate::bytes::{u32_at, u64_at};
use crate::{DecodeError, LenError, RecordHeader, RecordSlice, kind};

/// Bits of [`Process::flags`].
pub mod flags {
    /// The path was cut (it keeps its end, like every cut string).
    pub const CUT: u32 = 1;
    /// Unknown: the process was gone, or its executable could not be read.
    pub const UNKNOWN: u32 = 2;
}

/// Process `pid` runs `exe` from now on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    pub flags: u32,
    /// The process's start, CLOCK_MONOTONIC ns (0 if not known).
    pub start: u64,
    pub exe: Vec<u8>,
}

/// Fixed part of the body: pid, flags, start.
const FIXED: usize = 16;
/// The smallest process record: header, fixed part, an empty path.
pub const MIN_LEN: usize = RecordHeader::LEN + FIXED + 2;
const _: () = assert!(MIN_LEN == crate::PROCESS_MIN_LEN);
/// Longest path a record keeps (a longer one keeps its end, marked cut).
pub const EXE_MAX: usize = 4095;

impl Process {
    /// The whole record.
    pub fn to_record(&self) -> Vec<u8> {
        let (exe, cut) = if self.exe.len() > EXE_MAX {
            (&self.exe[self.exe.len() - EXE_MAX..], flags::CUT)
        } else {
            (&self.exe[..], 0)
        };
        let len = MIN_LEN + exe.len();
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(&kind::PROCESS.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&self.pid.to_le_bytes());
        out.extend_from_slice(&(self.flags | cut).to_le_bytes());
        out.extend_from_slice(&self.start.to_le_bytes());
        out.extend_from_slice(&(exe.len() as u16).to_le_bytes());
        out.extend_from_slice(exe);
        out
    }

    /// Decodes a process record.
    pub fn from_record(r: RecordSlice<'_>) -> Result<Process, DecodeError> {
        if r.kind() != kind::PROCESS {
            return Err(DecodeError::UnknownRecordKind {
                kind: r.kind(),
                offset: r.offset(),
            });
        }
        // RecordSlice checked the length against MIN_LEN.
        let b = r.body();
        let n = u16::from_le_bytes([b[FIXED], b[FIXED + 1]]) as usize;
        let exe = b.get(FIXED + 2..FIXED + 2 + n).ok_or(LenError {
            what: "process record path",
            required_len: FIXED + 2 + n,
            len: b.len(),
            offset: r.offset(),
        })?;
        Ok(Process {
            pid: u32_at(b, 0),
            flags: u32_at(b, 4),
            start: u64_at(b, 8),
            exe: exe.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;
    use std::vec;

    #[test]
    fn round_trip_and_a_long_path_keeps_its_end() {
        let p = Process {
            pid: 7,
            flags: 0,
            start: 9,
            exe: b"/usr/bin/\xff\ncat".to_vec(),
        };
        let rec = p.to_record();
        let (r, rest) = RecordSlice::from_slice(&rec, 0).unwrap();
        assert!(rest.is_empty());
        assert_eq!(Process::from_record(r).unwrap(), p);
        let mut long = vec![b'a'; 5000];
        long.extend_from_slice(b"/tail");
        let rec = Process {
            exe: long,
            ..Default::default()
        }
        .to_record();
        let (r, _) = RecordSlice::from_slice(&rec, 0).unwrap();
        let q = Process::from_record(r).unwrap();
        assert_eq!(q.exe.len(), EXE_MAX);
        assert!(q.exe.ends_with(b"/tail") && q.flags & flags::CUT != 0);
    }

    #[test]
    fn a_path_past_the_record_is_an_error() {
        let mut rec = Process::default().to_record();
        rec[RecordHeader::LEN + FIXED] = 9;
        let (r, _) = RecordSlice::from_slice(&rec, 0).unwrap();
        let e = Process::from_record(r).unwrap_err();
        assert!(e.to_string().contains("process record path"), "{e}");
    }
}
