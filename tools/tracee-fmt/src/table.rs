//! The `table` and `table-verbose` formats: one line per event, every
//! byte that came from a traced process escaped.

use std::fmt::Write as _;

use wire::EventSlice;
use wire::preamble::EventDef;
use wire::text::push_escaped;

use crate::json::{json_value, push_int, push_u64};
use crate::value::{Args, push_list};
use crate::{Format, Printer, Value, parse, sockaddr};

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
        args: &Args<'_, '_>,
        bad: Option<&wire::DecodeError>,
        out: &mut Vec<u8>,
    ) {
        let mut s = String::with_capacity(256);
        let t = self.pre.boot_epoch_ns.wrapping_add(ev.ts());
        let secs = t / 1_000_000_000;
        for (n, width, sep) in [
            (secs / 3600 % 24, 2, ":"),
            (secs / 60 % 60, 2, ":"),
            (secs % 60, 2, ":"),
            (t % 1_000_000_000 / 1000, 6, "  "),
        ] {
            push_zero_padded(&mut s, n, width);
            s.push_str(sep);
        }
        // Everything from the record or its catalog is escaped: a process
        // name or path with ESC, CR or LF in it must not reach the
        // terminal as it is, nor start a line of its own.
        if self.format == Format::TableVerbose {
            column(&mut s, 16, |s| push_escaped(s, ev.uts()));
            // The container's short id (Docker's 12 characters), or "host".
            column(&mut s, 13, |s| match self.procs.container_of(ev) {
                Some(c) => push_escaped(s, &c.id[..c.id.len().min(12)]),
                None => s.push_str("host"),
            });
            column(&mut s, 12, |s| push_u64(s, ev.cgroup_id()));
            column(&mut s, 12, |s| push_u64(s, ev.mnt_ns().into()));
            column(&mut s, 12, |s| push_u64(s, ev.pid_ns().into()));
        }
        column(&mut s, 7, |s| push_u64(s, ev.uid().into()));
        column(&mut s, 16, |s| push_escaped(s, ev.comm()));
        column(&mut s, 8, |s| push_u64(s, ev.pid().into()));
        column(&mut s, 8, |s| push_u64(s, ev.tid().into()));
        if self.format == Format::TableVerbose {
            column(&mut s, 8, |s| push_u64(s, ev.ppid().into()));
        }
        column(&mut s, 16, |s| {
            push_int(s, ev.retval().into());
            if self.parse_args
                && let Some(e) = parse::errno_name(ev.retval())
            {
                s.push_str(" -");
                s.push_str(e);
            }
        });
        column(&mut s, 20, |s| push_escaped(s, def.name.as_bytes()));
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

/// Appends what `f` writes, padded with spaces to `width` characters (as
/// `{:<width}` pads).
fn column(s: &mut String, width: usize, f: impl FnOnce(&mut String)) {
    let start = s.len();
    f(s);
    let written = &s[start..];
    // Counted in bytes while ASCII (nearly always); in characters else.
    let n = if written.is_ascii() {
        written.len()
    } else {
        written.chars().count()
    };
    for _ in n..width {
        s.push(' ');
    }
}

/// `n` in decimal, with leading zeros to `width` digits.
fn push_zero_padded(s: &mut String, n: u64, width: usize) {
    let start = s.len();
    push_u64(s, n);
    while s.len() - start < width {
        s.insert(start, '0');
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
