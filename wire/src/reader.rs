//! A buffered reader that hands out records in place, without copying them.

use std::io::{self, Read};
use std::vec;
use std::vec::Vec;

use crate::preamble::{FIXED_LEN, Preamble};
use crate::{DecodeError, LenError, RecordSlice};

/// What can go wrong while reading a stream.
#[derive(Debug)]
pub enum StreamError {
    /// Reading the input failed.
    Io(io::Error),
    Decode(DecodeError),
    /// The caller's `before_wait` failed: its output, not our input (a full
    /// disk under stdout is a write error, not a read error).
    Output(io::Error),
}

impl core::fmt::Display for StreamError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StreamError::Io(e) => write!(f, "read error: {e}"),
            StreamError::Decode(e) => write!(f, "bad stream: {e}"),
            StreamError::Output(e) => write!(f, "write error: {e}"),
        }
    }
}

impl std::error::Error for StreamError {}

impl From<DecodeError> for StreamError {
    fn from(e: DecodeError) -> Self {
        StreamError::Decode(e)
    }
}

impl From<LenError> for StreamError {
    fn from(e: LenError) -> Self {
        StreamError::Decode(DecodeError::Len(e))
    }
}

const CHUNK: usize = 256 * 1024;

/// Reads a preamble, then records, from any `Read`.
pub struct StreamReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Stream offset of `buf[start]`.
    offset: u64,
    eof: bool,
    preamble: Preamble,
    preamble_bytes: Vec<u8>,
}

impl<R: Read> StreamReader<R> {
    /// Reads and checks the preamble.
    pub fn new(mut inner: R) -> Result<Self, StreamError> {
        let mut fixed = [0u8; FIXED_LEN];
        let got = read_full(&mut inner, &mut fixed).map_err(StreamError::Io)?;
        if got == 0 {
            return Err(LenError {
                what: "preamble (empty input)",
                required_len: FIXED_LEN,
                len: 0,
                offset: 0,
            }
            .into());
        }
        if got < FIXED_LEN {
            // Report bad magic before length, as it is the likelier truth.
            if got >= 8 && fixed[..8] != crate::MAGIC {
                return Err(DecodeError::BadMagic.into());
            }
            return Err(LenError {
                what: "preamble",
                required_len: FIXED_LEN,
                len: got,
                offset: 0,
            }
            .into());
        }
        let total = Preamble::total_len(&fixed)?;
        let mut pre = Vec::with_capacity(total);
        pre.extend_from_slice(&fixed);
        pre.resize(total, 0);
        let got = read_full(&mut inner, &mut pre[FIXED_LEN..]).map_err(StreamError::Io)?;
        if got < total - FIXED_LEN {
            return Err(LenError {
                what: "preamble",
                required_len: total,
                len: FIXED_LEN + got,
                offset: 0,
            }
            .into());
        }
        let (preamble, _) = Preamble::from_slice(&pre)?;
        Ok(StreamReader {
            inner,
            buf: vec![0u8; CHUNK],
            start: 0,
            end: 0,
            offset: total as u64,
            eof: false,
            preamble,
            preamble_bytes: pre,
        })
    }

    pub fn preamble(&self) -> &Preamble {
        &self.preamble
    }

    /// The preamble exactly as read, for tools that forward the stream.
    pub fn preamble_bytes(&self) -> &[u8] {
        &self.preamble_bytes
    }

    /// Stream offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next record, or `None` at a clean end of input. `before_wait` is
    /// called before every read that may block, so a caller can flush what
    /// it buffered and no output waits on slow input.
    pub fn next_record(
        &mut self,
        before_wait: &mut dyn FnMut() -> io::Result<()>,
    ) -> Result<Option<RecordSlice<'_>>, StreamError> {
        loop {
            let avail = &self.buf[self.start..self.end];
            match RecordSlice::from_slice(avail, self.offset) {
                Ok((r, _)) => {
                    // Checked once: the same bytes, handed out again only
                    // to end the borrow of `avail`.
                    let n = r.bytes().len();
                    let (s, offset) = (self.start, self.offset);
                    self.start += n;
                    self.offset += n as u64;
                    return Ok(Some(RecordSlice::checked(&self.buf[s..s + n], offset)));
                }
                Err(DecodeError::Len(e)) => {
                    if self.eof {
                        if avail.is_empty() {
                            return Ok(None);
                        }
                        return Err(DecodeError::Len(e).into());
                    }
                    // Make room: move the partial record to the front, and
                    // grow only if one record is bigger than the buffer.
                    if self.start > 0 {
                        self.buf.copy_within(self.start..self.end, 0);
                        self.end -= self.start;
                        self.start = 0;
                    }
                    if e.required_len > self.buf.len() {
                        self.buf.resize(e.required_len.next_power_of_two(), 0);
                    }
                    before_wait().map_err(StreamError::Output)?;
                    self.fill()?;
                }
                Err(other) => return Err(other.into()),
            }
        }
    }

    fn fill(&mut self) -> Result<(), StreamError> {
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(StreamError::Io(e)),
            }
        }
    }
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}
