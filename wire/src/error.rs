//! What can be wrong with bytes that claim to be a stream: too few of them
//! ([`LenError`]) or content that is not what the format allows
//! ([`DecodeError`]).

use core::fmt;

use crate::{MAX_PREAMBLE_LEN, MAX_RECORD_LEN, PREAMBLE_FIXED_LEN, VERSION};

/// Not enough bytes for what had to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LenError {
    /// What was being read.
    pub what: &'static str,
    pub required_len: usize,
    pub len: usize,
    /// Stream offset of the start of the thing being read.
    pub offset: u64,
}

/// Why bytes could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    Len(LenError),
    BadMagic,
    UnsupportedVersion {
        version: u16,
    },
    RecordTooLong {
        len: usize,
        offset: u64,
    },
    /// The preamble's length field (at byte 12) is below its fixed part
    /// or above [`MAX_PREAMBLE_LEN`].
    BadPreambleLen {
        len: usize,
    },
    RecordTooShort {
        len: usize,
        offset: u64,
    },
    UnknownRecordKind {
        kind: u16,
        offset: u64,
    },
    UnknownArgKind {
        kind: u8,
        offset: u64,
    },
    BadUtf8 {
        what: &'static str,
        offset: u64,
    },
    UnknownArgType {
        ty: u8,
        offset: u64,
    },
    UnknownArtifact {
        artifact: u8,
        offset: u64,
    },
    /// A capture record whose payload length disagrees with its header.
    CaptureLen {
        len: usize,
        offset: u64,
    },
}

impl From<LenError> for DecodeError {
    fn from(e: LenError) -> Self {
        DecodeError::Len(e)
    }
}

impl fmt::Display for LenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "truncated {} at byte {}: need {} bytes, have {}",
            self.what, self.offset, self.required_len, self.len
        )
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Len(e) => e.fmt(f),
            DecodeError::BadMagic => f.write_str("not a tracee-rs stream (bad magic at byte 0)"),
            DecodeError::UnsupportedVersion { version } => {
                write!(
                    f,
                    "unsupported stream version {version} (this build reads {VERSION})"
                )
            }
            DecodeError::RecordTooLong { len, offset } => {
                write!(
                    f,
                    "record at byte {offset} claims {len} bytes (max {MAX_RECORD_LEN})"
                )
            }
            DecodeError::BadPreambleLen { len } => {
                write!(
                    f,
                    "preamble length {len} (at byte 12) is out of range: {} to {MAX_PREAMBLE_LEN} bytes",
                    PREAMBLE_FIXED_LEN
                )
            }
            DecodeError::RecordTooShort { len, offset } => {
                write!(
                    f,
                    "record at byte {offset} claims {len} bytes, shorter than its kind allows"
                )
            }
            DecodeError::UnknownRecordKind { kind, offset } => {
                write!(f, "unknown record kind {kind} at byte {offset}")
            }
            DecodeError::UnknownArgKind { kind, offset } => {
                write!(f, "unknown argument kind {kind} at byte {offset}")
            }
            DecodeError::BadUtf8 { what, offset } => {
                write!(f, "{what} at byte {offset} is not UTF-8")
            }
            DecodeError::UnknownArgType { ty, offset } => {
                write!(f, "unknown argument type {ty} at byte {offset}")
            }
            DecodeError::UnknownArtifact { artifact, offset } => {
                write!(f, "unknown artifact kind {artifact} at byte {offset}")
            }
            DecodeError::CaptureLen { len, offset } => write!(
                f,
                "capture record at byte {offset} carries {len} payload bytes, not what its header says"
            ),
        }
    }
}

#[inline]
pub(crate) fn need(
    what: &'static str,
    bytes: &[u8],
    n: usize,
    offset: u64,
) -> Result<(), LenError> {
    if bytes.len() < n {
        Err(LenError {
            what,
            required_len: n,
            len: bytes.len(),
            offset,
        })
    } else {
        Ok(())
    }
}
