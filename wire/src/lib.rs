//! The tracee-rs stream: the bytes that flow between `tracee-collect`,
//! `tracee-filter` and `tracee-fmt`.
//!
//! A stream is a [preamble](crate::preamble) (magic, version, host facts and
//! the catalog of events) followed by length-prefixed records. The kernel
//! writes event records itself with the `#[repr(C)]` structs below; the tools
//! read them in place through checked views ([`RecordSlice`],
//! [`EventSlice`]) whose getters cannot fail once the length is checked.
//! `wire/FORMAT.md` documents every byte.
//!
//! ```
//! use wire::{kind, EventContext, RecordHeader, RecordSlice, EventSlice};
//! let mut rec = vec![0u8; RecordHeader::LEN + EventContext::LEN];
//! let len = rec.len() as u32;
//! rec[..4].copy_from_slice(&len.to_le_bytes());
//! rec[4..6].copy_from_slice(&kind::EVENT.to_le_bytes());
//! let (r, rest) = RecordSlice::from_slice(&rec, 0).unwrap();
//! assert!(rest.is_empty());
//! let ev = EventSlice::from_record(r).unwrap();
//! assert_eq!(ev.pid(), 0);
//! assert_eq!(ev.args().count(), 0);
//! ```
#![no_std]

#[cfg(feature = "user")]
extern crate std;

mod bytes;
pub mod capture;
mod error;
pub mod kcfg;
mod layout;
mod slice;

#[cfg(feature = "user")]
pub mod build;
#[cfg(feature = "user")]
pub mod container;
#[cfg(feature = "user")]
pub mod preamble;
#[cfg(feature = "user")]
pub mod process;
#[cfg(feature = "user")]
pub mod reader;
#[cfg(feature = "user")]
pub mod text;

pub use error::{DecodeError, LenError};
pub use layout::*;
pub use slice::*;

#[cfg(test)]
mod tests;
