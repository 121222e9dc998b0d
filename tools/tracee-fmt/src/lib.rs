//! Formatting tracee-rs streams: `table`, `table-verbose`, `json` (Tracee's
//! field names) and `none` (counts only).
//!
//! ```
//! use tracee_fmt::{Format, Printer};
//! use wire::preamble::{Catalog, Preamble};
//! let pre = Preamble { version: 1, boot_epoch_ns: 0, start_mono_ns: 0, hostname: "h".into(),
//!     kernel_release: "6.18".into(), catalog: Catalog::default() };
//! let mut p = Printer::new(Format::Json, false, pre);
//! let mut out = Vec::new();
//! p.header(&mut out);
//! assert!(out.is_empty());
//! ```
mod bpf_names;
mod json;
pub mod parse;
pub mod procs;
pub mod run;
mod sockaddr;
mod table;
mod value;

pub use json::{json_str, push_int};
pub use sockaddr::sockaddr;
pub use value::{Arg, Value};

use std::fmt::Write as _;

use wire::preamble::{EventDef, Preamble};
use wire::{EventSlice, LostBody, lost_reason};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    TableVerbose,
    Json,
    None,
}

impl Format {
    pub fn from_name(s: &str) -> Option<Format> {
        Some(match s {
            "table" => Format::Table,
            "table-verbose" => Format::TableVerbose,
            "json" => Format::Json,
            "none" => Format::None,
            _ => return None,
        })
    }
}

pub struct Printer {
    pub(crate) format: Format,
    pub(crate) parse_args: bool,
    pub(crate) pre: Preamble,
    pub(crate) procs: procs::Procs,
    json_cache: std::cell::RefCell<json::JsonCache>,
}

impl Printer {
    pub fn new(format: Format, parse_args: bool, pre: Preamble) -> Printer {
        Printer {
            format,
            parse_args,
            pre,
            procs: procs::Procs::default(),
            json_cache: Default::default(),
        }
    }

    /// Takes in a process record.
    pub fn process(&mut self, p: wire::process::Process) {
        self.procs.process(p);
    }

    /// Takes in a container record.
    pub fn container(&mut self, c: wire::container::Container) {
        self.procs.container(c);
    }

    pub fn preamble(&self) -> &Preamble {
        &self.pre
    }

    /// Appends the formatted event to `out`. An event whose arguments do
    /// not all decode is still printed, with what decoded and the error
    /// marked (`"decodeError"` in JSON, `[decode error: ...]` in tables);
    /// the error is returned so that the caller can count it.
    pub fn event(&mut self, ev: &EventSlice<'_>, out: &mut Vec<u8>) -> Option<wire::DecodeError> {
        self.procs.event(ev);
        let bad = self.print(ev, out);
        self.procs.after(ev);
        bad
    }

    fn print(&self, ev: &EventSlice<'_>, out: &mut Vec<u8>) -> Option<wire::DecodeError> {
        let id = ev.event_id();
        let unknown;
        let def = match self.pre.catalog.get(id) {
            Some(d) => d,
            None => {
                unknown = EventDef {
                    id,
                    name: format!("event_{id}"),
                    flags: 0,
                    args: vec![],
                };
                &unknown
            }
        };
        self.with_args(def, ev, |args, bad| {
            match self.format {
                Format::Json => self.json(def, ev, args, bad.as_ref(), out),
                Format::Table | Format::TableVerbose => {
                    self.table(def, ev, args, bad.as_ref(), out)
                }
                Format::None => {}
            }
            bad
        })
    }

    pub(crate) fn syscall_name(&self, syscall: u32) -> &str {
        match syscall {
            u32::MAX => "",
            n => self.pre.catalog.get(n).map_or("", |d| d.name.as_str()),
        }
    }

    /// A container record whose content does not decode: said in the
    /// output (it is counted with the undecodable events).
    pub fn bad_record(&self, e: &wire::DecodeError, out: &mut Vec<u8>) {
        match self.format {
            Format::Json => {
                let mut s = String::from("{\"decodeError\":");
                json_str(&mut s, e.to_string().as_bytes());
                s.push_str("}\n");
                out.extend_from_slice(s.as_bytes());
            }
            Format::Table | Format::TableVerbose => {
                let _ = writeln!(out_string(out), "[decode error: {e}]");
            }
            Format::None => {}
        }
    }

    pub fn lost(&self, l: &LostBody, out: &mut Vec<u8>) {
        let reason = lost_reason::name(l.reason);
        match self.format {
            Format::Json => {
                let _ = writeln!(
                    out_string(out),
                    "{{\"lostEvents\":{{\"timestamp\":{},\"processorId\":{},\"count\":{},\"reason\":\"{reason}\"}}}}",
                    self.pre.boot_epoch_ns.wrapping_add(l.ts),
                    l.cpu,
                    l.count
                );
            }
            Format::Table | Format::TableVerbose => {
                let _ = writeln!(
                    out_string(out),
                    "LOST {} events on cpu {} ({reason})",
                    l.count,
                    l.cpu
                );
            }
            Format::None => {}
        }
    }
}

/// `Vec<u8>` as a `fmt::Write` sink.
fn out_string(v: &mut Vec<u8>) -> impl std::fmt::Write + '_ {
    struct W<'a>(&'a mut Vec<u8>);
    impl std::fmt::Write for W<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.extend_from_slice(s.as_bytes());
            Ok(())
        }
    }
    W(v)
}

#[cfg(test)]
mod tests;
