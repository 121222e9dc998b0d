//! The `table` and `table-verbose` formats: one line per event, every
//! byte that came from a traced process escaped.

use std::fmt::Write as _;

use wire::EventSlice;
use wire::preamble::EventDef;
use wire::text::{escaped, push_escaped};

use crate::json::json_value;
use crate::value::push_list;
use crate::{Arg, Format, Printer, Value, parse, sockaddr};

impl Printer {
    pub fn header(&self, out: &mut Vec<u8>) {
        match self.format {
            Format::Table => out.extend_from_slice(
                format!(
                    "{:<16}{:<7}{:<16}{:<8}{:<8}{:<16}{:<20}{}\n",
                    "TIME", "UID", "COMM", "PID", "TID", "RET", "EVENT", "ARGS"
                )
                .as_bytes(),
            ),
            Format::TableVerbose => out.extend_from_slice(
                format!(
                    "{:<16}{:<16}{:<13}{:<12}{:<12}{:<12}{:<7}{:<16}{:<8}{:<8}{:<8}{:<16}{:<20}{}\n",
                    "TIME",
                    "UTS",
                    "CONTAINER",
                    "CGROUP_ID",
                    "MNT_NS",
                    "PID_NS",
                    "UID",
                    "COMM",
                    "PID",
                    "TID",
                    "PPID",
                    "RET",
                    "EVENT",
                    "ARGS"
                )
                .as_bytes(),
            ),
            _ => {}
        }
    }

    pub(crate) fn table(
        &self,
        def: &EventDef,
        ev: &EventSlice<'_>,
        args: &[Arg<'_>],
        bad: Option<&wire::DecodeError>,
        out: &mut Vec<u8>,
    ) {
        let mut s = String::with_capacity(256);
        let t = self.pre.boot_epoch_ns.wrapping_add(ev.ts());
        let secs = t / 1_000_000_000;
        let _ = write!(
            s,
            "{:02}:{:02}:{:02}:{:06}  ",
            secs / 3600 % 24,
            secs / 60 % 60,
            secs % 60,
            t % 1_000_000_000 / 1000
        );
        // Everything from the record or its catalog is escaped: a process
        // name or path with ESC, CR or LF in it must not reach the
        // terminal as it is, nor start a line of its own.
        let comm = escaped(ev.comm());
        let name = escaped(def.name.as_bytes());
        let ret = match parse::errno_name(ev.retval()) {
            Some(e) if self.parse_args => format!("{} -{e}", ev.retval()),
            _ => ev.retval().to_string(),
        };
        if self.format == Format::TableVerbose {
            // The container's short id (Docker's 12 characters), or "host".
            let cid = match self.procs.container_of(ev) {
                Some(c) => escaped(&c.id[..c.id.len().min(12)]).to_string(),
                None => "host".into(),
            };
            let _ = write!(
                s,
                "{:<16}{:<13}{:<12}{:<12}{:<12}{:<7}{:<16}{:<8}{:<8}{:<8}{:<16}{:<20}",
                escaped(ev.uts()),
                cid,
                ev.cgroup_id(),
                ev.mnt_ns(),
                ev.pid_ns(),
                ev.uid(),
                comm,
                ev.pid(),
                ev.tid(),
                ev.ppid(),
                ret,
                name
            );
        } else {
            let _ = write!(
                s,
                "{:<7}{:<16}{:<8}{:<8}{:<16}{:<20}",
                ev.uid(),
                comm,
                ev.pid(),
                ev.tid(),
                ret,
                name
            );
        }
        for (i, a) in args.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            push_escaped(&mut s, a.name.as_bytes());
            s.push_str(": ");
            // A cut string kept its end: the "..." goes where the missing
            // part was. Other cut values (argv, bytes) kept their start.
            let cut_start = a.truncated && matches!(a.value, Value::Str(_));
            if cut_start {
                s.push_str("...");
            }
            if a.fault {
                s.push_str("(unreadable)");
            } else {
                text_value(&mut s, &a.value);
            }
            if a.truncated && !cut_start {
                s.push_str("...");
            }
        }
        if ev.flags() & wire::ctx_flags::ARGS_CUT != 0 {
            s.push_str(" [arguments cut]");
        }
        if let Some(e) = bad {
            s.push_str(" [decode error: ");
            s.push_str(&e.to_string());
            s.push(']');
        }
        s.push('\n');
        out.extend_from_slice(s.as_bytes());
    }
}

fn text_value(s: &mut String, v: &Value<'_>) {
    match v {
        Value::Str(b) | Value::Json(b) => push_escaped(s, b),
        Value::Sym(t) => s.push_str(t),
        Value::Ptr(p) => {
            let _ = write!(s, "0x{p:x}");
        }
        Value::Strs(v) => push_list(s, ('[', ' ', ']'), v, |s, e| push_escaped(s, e)),
        Value::Syms(v) => push_list(s, ('[', ' ', ']'), v, |s, e| s.push_str(e)),
        Value::Words(v) => push_list(s, ('[', ' ', ']'), v, |s, w| {
            let _ = write!(s, "{w:#x}");
        }),
        Value::Sockaddr(b) => push_list(s, ('{', ' ', '}'), sockaddr(b), |s, (k, val)| {
            s.push_str(k);
            s.push_str(": ");
            push_escaped(s, val.as_bytes());
        }),
        other => json_value(s, other),
    }
}
