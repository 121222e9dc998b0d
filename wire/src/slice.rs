//! Checked views of records: the length is checked once, in `from_slice`
//! or `from_record`, and the getters cannot fail after it.

use crate::bytes::{u16_at, u32_at, u64_at};
use crate::error::need;
use crate::*;

/// A checked view of one whole record (header included).
#[derive(Clone, Copy, Debug)]
pub struct RecordSlice<'a> {
    bytes: &'a [u8],
    offset: u64,
}

impl<'a> RecordSlice<'a> {
    /// Splits one record off the front of `bytes`. `offset` is where
    /// `bytes` starts in the stream, for error messages.
    #[inline]
    pub fn from_slice(bytes: &'a [u8], offset: u64) -> Result<(Self, &'a [u8]), DecodeError> {
        need("record header", bytes, RecordHeader::LEN, offset)?;
        let len = u32_at(bytes, 0) as usize;
        let kind = u16_at(bytes, 4);
        if len > MAX_RECORD_LEN {
            return Err(DecodeError::RecordTooLong { len, offset });
        }
        let min = min_record_len(kind).ok_or(DecodeError::UnknownRecordKind { kind, offset })?;
        if len < min {
            return Err(DecodeError::RecordTooShort { len, offset });
        }
        need("record", bytes, len, offset)?;
        let (rec, rest) = bytes.split_at(len);
        Ok((RecordSlice { bytes: rec, offset }, rest))
    }

    /// A record `from_slice` has already checked, at `offset`.
    #[cfg(feature = "user")]
    #[inline(always)]
    pub(crate) fn checked(bytes: &'a [u8], offset: u64) -> Self {
        RecordSlice { bytes, offset }
    }

    #[inline]
    pub fn kind(&self) -> u16 {
        u16_at(self.bytes, 4)
    }
    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    #[inline]
    pub fn body(&self) -> &'a [u8] {
        &self.bytes[RecordHeader::LEN..]
    }
    #[inline]
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

/// The smallest valid length of a record of `kind`, or None if unknown.
#[inline]
pub fn min_record_len(kind: u16) -> Option<usize> {
    Some(match kind {
        kind::EVENT => ARGS_OFFSET,
        kind::LOST => RecordHeader::LEN + LostBody::LEN,
        kind::END => RecordHeader::LEN + EndBody::LEN,
        kind::CAPTURE => RecordHeader::LEN,
        kind::CONTAINER => CONTAINER_MIN_LEN,
        kind::PROCESS => PROCESS_MIN_LEN,
        _ => return None,
    })
}

/// A checked view of an event record; every getter is infallible.
#[derive(Clone, Copy, Debug)]
pub struct EventSlice<'a> {
    b: &'a [u8],
    offset: u64,
}

impl<'a> EventSlice<'a> {
    #[inline]
    pub fn from_record(r: RecordSlice<'a>) -> Result<Self, DecodeError> {
        if r.kind() != kind::EVENT {
            return Err(DecodeError::UnknownRecordKind {
                kind: r.kind(),
                offset: r.offset,
            });
        }
        // RecordSlice already checked len >= ARGS_OFFSET for events.
        Ok(EventSlice {
            b: r.bytes,
            offset: r.offset,
        })
    }

    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        self.b
    }
    #[inline]
    pub fn ts(&self) -> u64 {
        u64_at(self.b, off::TS)
    }
    #[inline]
    pub fn thread_start(&self) -> u64 {
        u64_at(self.b, off::THREAD_START)
    }
    #[inline]
    pub fn leader_start(&self) -> u64 {
        u64_at(self.b, off::LEADER_START)
    }
    #[inline]
    pub fn parent_start(&self) -> u64 {
        u64_at(self.b, off::PARENT_START)
    }
    #[inline]
    pub fn cgroup_id(&self) -> u64 {
        u64_at(self.b, off::CGROUP_ID)
    }
    #[inline]
    pub fn mnt_ns(&self) -> u32 {
        u32_at(self.b, off::MNT_NS)
    }
    #[inline]
    pub fn pid_ns(&self) -> u32 {
        u32_at(self.b, off::PID_NS)
    }
    #[inline]
    pub fn event_id(&self) -> u32 {
        u32_at(self.b, off::EVENT_ID)
    }
    #[inline]
    pub fn syscall(&self) -> u32 {
        u32_at(self.b, off::SYSCALL)
    }
    #[inline]
    pub fn cpu(&self) -> u32 {
        u32_at(self.b, off::CPU)
    }
    #[inline]
    pub fn flags(&self) -> u32 {
        u32_at(self.b, off::FLAGS)
    }
    #[inline]
    pub fn pid(&self) -> u32 {
        u32_at(self.b, off::PID)
    }
    #[inline]
    pub fn tid(&self) -> u32 {
        u32_at(self.b, off::TID)
    }
    #[inline]
    pub fn ppid(&self) -> u32 {
        u32_at(self.b, off::PPID)
    }
    #[inline]
    pub fn ns_pid(&self) -> u32 {
        u32_at(self.b, off::NS_PID)
    }
    #[inline]
    pub fn ns_tid(&self) -> u32 {
        u32_at(self.b, off::NS_TID)
    }
    #[inline]
    pub fn ns_ppid(&self) -> u32 {
        u32_at(self.b, off::NS_PPID)
    }
    #[inline]
    pub fn uid(&self) -> u32 {
        u32_at(self.b, off::UID)
    }
    #[inline]
    pub fn gid(&self) -> u32 {
        u32_at(self.b, off::GID)
    }
    #[inline]
    pub fn retval(&self) -> i64 {
        u64_at(self.b, off::RETVAL) as i64
    }
    /// The comm bytes up to the first NUL.
    #[inline]
    pub fn comm(&self) -> &'a [u8] {
        cstr16(&self.b[off::COMM..off::COMM + 16])
    }
    #[inline]
    pub fn uts(&self) -> &'a [u8] {
        cstr16(&self.b[off::UTS..off::UTS + 16])
    }
    #[inline]
    pub fn is_compat(&self) -> bool {
        self.flags() & ctx_flags::COMPAT != 0
    }
    pub fn args(&self) -> ArgIter<'a> {
        ArgIter {
            b: &self.b[ARGS_OFFSET..],
            offset: self.offset + ARGS_OFFSET as u64,
        }
    }
    /// The item for argument `index`, if the kernel sent one.
    pub fn arg(&self, index: u8) -> Option<ArgItem<'a>> {
        self.args()
            .filter_map(Result::ok)
            .find(|a| a.index == index)
    }
}

/// `cstr` of a 16-byte field, a word at a time: in `(x - 0x01..) & !x &
/// 0x80..` the lowest set bit is at the first zero byte (bits above it may
/// be false, but they are never looked at).
#[inline(always)]
fn cstr16(b: &[u8]) -> &[u8] {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let (a, c) = (u64_at(b, 0), u64_at(b, 8));
    let n = match (zero(a), zero(c)) {
        (0, 0) => 16,
        (0, z) => 8 + z.trailing_zeros() as usize / 8,
        (z, _) => z.trailing_zeros() as usize / 8,
    };
    &b[..n]
}

/// One argument item of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgItem<'a> {
    pub index: u8,
    /// One of the [`item`] kinds, flags stripped.
    pub kind: u8,
    pub truncated: bool,
    pub fault: bool,
    pub data: &'a [u8],
}

impl<'a> ArgItem<'a> {
    /// The scalar value; zero for a non-scalar item.
    pub fn scalar(&self) -> u64 {
        if self.kind == item::SCALAR && self.data.len() == 8 {
            u64_at(self.data, 0)
        } else {
            0
        }
    }
    /// The elements of a string array: each is terminated by a NUL (the
    /// last one's may be missing when the array was cut), so `""` is no
    /// element and `"\0"` is one empty element.
    pub fn strings(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let d = self.data;
        let body = d.strip_suffix(&[0]).unwrap_or(d);
        (!d.is_empty())
            .then(|| body.split(|&c| c == 0))
            .into_iter()
            .flatten()
    }
}

/// Iterates the argument items of an event; a malformed item ends the
/// iteration with an error.
#[derive(Clone, Debug)]
pub struct ArgIter<'a> {
    b: &'a [u8],
    offset: u64,
}

impl<'a> Iterator for ArgIter<'a> {
    type Item = Result<ArgItem<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.b.is_empty() {
            return None;
        }
        let r = self.next_item();
        if r.is_err() {
            self.b = &[];
        }
        Some(r)
    }
}

impl<'a> ArgIter<'a> {
    fn next_item(&mut self) -> Result<ArgItem<'a>, DecodeError> {
        need("argument header", self.b, ArgHeader::LEN, self.offset)?;
        let index = self.b[0];
        let raw = self.b[1];
        let len = u16_at(self.b, 2) as usize;
        let kind = raw & item::KIND_MASK;
        if !(item::SCALAR..=item::BYTES).contains(&kind) || (kind == item::SCALAR && len != 8) {
            return Err(DecodeError::UnknownArgKind {
                kind: raw,
                offset: self.offset,
            });
        }
        need("argument", self.b, ArgHeader::LEN + len, self.offset)?;
        let data = &self.b[ArgHeader::LEN..ArgHeader::LEN + len];
        self.b = &self.b[ArgHeader::LEN + len..];
        self.offset += (ArgHeader::LEN + len) as u64;
        Ok(ArgItem {
            index,
            kind,
            truncated: raw & item::TRUNCATED != 0,
            fault: raw & item::FAULT != 0,
            data,
        })
    }
}

impl LostBody {
    pub fn from_record(r: RecordSlice<'_>) -> LostBody {
        let b = r.body();
        LostBody {
            cpu: u32_at(b, 0),
            reason: u32_at(b, 4),
            count: u64_at(b, 8),
            ts: u64_at(b, 16),
        }
    }
    /// The whole record, header included.
    pub fn to_record(&self) -> [u8; RecordHeader::LEN + LostBody::LEN] {
        let mut out = [0u8; RecordHeader::LEN + LostBody::LEN];
        put_header(&mut out, kind::LOST);
        out[8..12].copy_from_slice(&self.cpu.to_le_bytes());
        out[12..16].copy_from_slice(&self.reason.to_le_bytes());
        out[16..24].copy_from_slice(&self.count.to_le_bytes());
        out[24..32].copy_from_slice(&self.ts.to_le_bytes());
        out
    }
}

impl EndBody {
    pub fn from_record(r: RecordSlice<'_>) -> EndBody {
        let b = r.body();
        EndBody {
            events: u64_at(b, 0),
            lost: u64_at(b, 8),
            ts: u64_at(b, 16),
        }
    }
    pub fn to_record(&self) -> [u8; RecordHeader::LEN + EndBody::LEN] {
        let mut out = [0u8; RecordHeader::LEN + EndBody::LEN];
        put_header(&mut out, kind::END);
        out[8..16].copy_from_slice(&self.events.to_le_bytes());
        out[16..24].copy_from_slice(&self.lost.to_le_bytes());
        out[24..32].copy_from_slice(&self.ts.to_le_bytes());
        out
    }
}

fn put_header(out: &mut [u8], kind: u16) {
    let len = out.len() as u32;
    out[0..4].copy_from_slice(&len.to_le_bytes());
    out[4..6].copy_from_slice(&kind.to_le_bytes());
}

#[cfg(test)]
mod cstr_tests {
    use super::cstr16;

    #[test]
    fn cstr16_stops_at_the_first_nul() {
        // Every NUL position, with bytes around it that could fool a
        // word-at-a-time search (0x01, 0x80, 0xff and a second NUL).
        for n in 0..=16 {
            for fill in [b'a', 0x01, 0x80, 0xff] {
                let mut b = [fill; 16];
                if n < 16 {
                    b[n] = 0;
                }
                if n + 2 < 16 {
                    b[n + 2] = 0;
                }
                let want = b.iter().position(|&c| c == 0).unwrap_or(16);
                assert_eq!(cstr16(&b), &b[..want], "nul at {n}, fill {fill:#x}");
            }
        }
    }
}
