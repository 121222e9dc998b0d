//! Building event records in user space, the way the kernel lays them out:
//! for tests, fuzz seeds and tools that synthesise streams.

use std::vec::Vec;

use crate::{ARGS_OFFSET, EventContext, RecordHeader, item, kind};

/// An event record under construction.
pub struct EventBuilder {
    buf: Vec<u8>,
}

impl EventBuilder {
    pub fn new(ctx: &EventContext) -> EventBuilder {
        let mut buf = std::vec![0u8; ARGS_OFFSET];
        buf[RecordHeader::LEN..].copy_from_slice(ctx.as_bytes());
        EventBuilder { buf }
    }

    /// An event of id `event_id` derived from `from`: the same context
    /// (who, when), a return value of 0, and no arguments yet.
    pub fn derived(from: &crate::EventSlice<'_>, event_id: u32) -> EventBuilder {
        let mut buf = from.bytes()[..ARGS_OFFSET].to_vec();
        buf[crate::off::EVENT_ID..crate::off::EVENT_ID + 4]
            .copy_from_slice(&event_id.to_le_bytes());
        buf[crate::off::RETVAL..crate::off::RETVAL + 8].copy_from_slice(&0i64.to_le_bytes());
        EventBuilder { buf }
    }

    pub fn item(mut self, index: u8, kind_flags: u8, data: &[u8]) -> Self {
        self.buf.push(index);
        self.buf.push(kind_flags);
        self.buf
            .extend_from_slice(&(data.len() as u16).to_le_bytes());
        self.buf.extend_from_slice(data);
        self
    }

    pub fn scalar(self, index: u8, v: u64) -> Self {
        self.item(index, item::SCALAR, &v.to_le_bytes())
    }

    pub fn str(self, index: u8, s: &str) -> Self {
        self.item(index, item::STR, s.as_bytes())
    }

    /// A string argument of any bytes (cut to the kernel's bound, and
    /// marked so).
    pub fn bytes_str(self, index: u8, s: &[u8]) -> Self {
        let max = crate::kcfg::STR_MAX - 1;
        if s.len() > max {
            self.item(index, item::STR | item::TRUNCATED, &s[s.len() - max..])
        } else {
            self.item(index, item::STR, s)
        }
    }

    pub fn strs(self, index: u8, v: &[&str]) -> Self {
        let mut d = Vec::new();
        for s in v {
            d.extend_from_slice(s.as_bytes());
            d.push(0);
        }
        self.item(index, item::STR_ARRAY, &d)
    }

    pub fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_le_bytes());
        self.buf[4..6].copy_from_slice(&kind::EVENT.to_le_bytes());
        self.buf
    }
}

/// A 16-byte comm or uts field, NUL-padded, at most 15 bytes of `s`.
pub fn name16(s: impl AsRef<[u8]>) -> [u8; 16] {
    let s = s.as_ref();
    let mut a = [0u8; 16];
    let n = s.len().min(15);
    a[..n].copy_from_slice(&s[..n]);
    a
}
