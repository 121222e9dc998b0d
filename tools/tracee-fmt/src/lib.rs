//! Formatting tracee-rs streams: `table`, `table-verbose`, `json` (Tracee's
//! field names) and `none` (counts only).
//!
//! ```
//! use tracee_fmt::{Format, Printer};
//! use wire::preamble::{Catalog, Preamble};
//! let pre = Preamble { version: 1, boot_epoch_ns: 0, start_mono_ns: 0, hostname: "h".into(),
//!     kernel_release: "6.18".into(), catalog: Catalog::default() };
//! let p = Printer::new(Format::Json, false, pre);
//! let mut out = Vec::new();
//! p.header(&mut out);
//! assert!(out.is_empty());
//! ```
pub mod parse;
pub mod run;

use std::fmt::Write as _;

use wire::preamble::{ArgType, EventDef, Preamble};
use wire::text::{escaped, push_escaped};
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

/// One argument's value, borrowed from the record where it can be.
#[derive(Debug, PartialEq)]
pub enum Value<'a> {
    Int(i128),
    Ptr(u64),
    Bool(bool),
    Str(&'a [u8]),
    Strs(Vec<&'a [u8]>),
    Sockaddr(&'a [u8]),
    Bytes(&'a [u8]),
    /// A flag or enum rendered by `--parse-arguments`.
    Sym(String),
}

pub struct Arg<'a> {
    pub name: &'a str,
    pub type_name: &'a str,
    pub value: Value<'a>,
    pub truncated: bool,
    /// The kernel could not read it (a page not yet faulted in, a bad
    /// pointer); the value is empty.
    pub fault: bool,
}

pub struct Printer {
    format: Format,
    parse_args: bool,
    pre: Preamble,
}

impl Printer {
    pub fn new(format: Format, parse_args: bool, pre: Preamble) -> Printer {
        Printer {
            format,
            parse_args,
            pre,
        }
    }

    pub fn preamble(&self) -> &Preamble {
        &self.pre
    }

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
                    "{:<16}{:<16}{:<12}{:<12}{:<12}{:<7}{:<16}{:<8}{:<8}{:<8}{:<16}{:<20}{}\n",
                    "TIME",
                    "UTS",
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

    /// The decoded arguments of `ev`, in catalog order, and the error that
    /// ended decoding them early, if one did: the items before it are
    /// kept, the arguments after it show as absent.
    pub fn args<'a>(
        &'a self,
        def: &'a EventDef,
        ev: &EventSlice<'a>,
    ) -> (Vec<Arg<'a>>, Option<wire::DecodeError>) {
        let mut items: [Option<wire::ArgItem<'a>>; 32] = [None; 32];
        let mut bad = None;
        for it in ev.args() {
            let it = match it {
                Ok(it) => it,
                Err(e) => {
                    bad = Some(e);
                    break;
                }
            };
            if let Some(slot) = items.get_mut(it.index as usize) {
                *slot = Some(it);
            }
        }
        let mut v = Vec::with_capacity(def.args.len());
        for (i, a) in def.args.iter().enumerate() {
            let it = items.get(i).copied().flatten();
            let truncated = it.is_some_and(|it| it.truncated);
            let fault = it.is_some_and(|it| it.fault);
            let value = match (a.ty, it) {
                (_, None) => match a.ty {
                    ArgType::Str => Value::Str(b""),
                    ArgType::StrArray => Value::Strs(vec![]),
                    ArgType::Sockaddr | ArgType::Bytes => Value::Bytes(b""),
                    ArgType::Ptr => Value::Ptr(0),
                    ArgType::Bool => Value::Bool(false),
                    _ => Value::Int(0),
                },
                (t, Some(it)) if t.is_scalar() => {
                    let raw = it.scalar();
                    let sym = if self.parse_args {
                        parse::symbolic(&def.name, &a.name, raw)
                    } else {
                        None
                    };
                    match (sym, t) {
                        (Some(s), _) => Value::Sym(s),
                        (None, ArgType::Ptr) => Value::Ptr(raw),
                        (None, ArgType::Bool) => Value::Bool(raw != 0),
                        (None, t) => Value::Int(t.number(raw)),
                    }
                }
                (ArgType::Str, Some(it)) => Value::Str(it.data),
                (ArgType::StrArray, Some(it)) => Value::Strs(it.strings().collect()),
                (ArgType::Sockaddr, Some(it)) => Value::Sockaddr(it.data),
                (_, Some(it)) => Value::Bytes(it.data),
            };
            v.push(Arg {
                name: &a.name,
                type_name: &a.type_name,
                value,
                truncated,
                fault,
            });
        }
        (v, bad)
    }

    /// Appends the formatted event to `out`. An event whose arguments do
    /// not all decode is still printed, with what decoded and the error
    /// marked (`"decodeError"` in JSON, `[decode error: ...]` in tables);
    /// the error is returned so that the caller can count it.
    pub fn event(&self, ev: &EventSlice<'_>, out: &mut Vec<u8>) -> Option<wire::DecodeError> {
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
        let (args, bad) = self.args(def, ev);
        match self.format {
            Format::Json => self.json(def, ev, &args, bad.as_ref(), out),
            Format::Table | Format::TableVerbose => self.table(def, ev, &args, bad.as_ref(), out),
            Format::None => {}
        }
        bad
    }

    fn syscall_name(&self, ev: &EventSlice<'_>) -> &str {
        match ev.syscall() {
            u32::MAX => "",
            n => self.pre.catalog.get(n).map_or("", |d| d.name.as_str()),
        }
    }

    fn json(
        &self,
        def: &EventDef,
        ev: &EventSlice<'_>,
        args: &[Arg<'_>],
        bad: Option<&wire::DecodeError>,
        out: &mut Vec<u8>,
    ) {
        // Built in `out`'s own allocation (reused from event to event), not
        // in a fresh String copied over: formatting json is this tool's
        // hot path.
        let mut s = match String::from_utf8(std::mem::take(out)) {
            Ok(s) => s,
            Err(e) => {
                *out = e.into_bytes();
                let mut s = String::with_capacity(512);
                self.json_into(def, ev, args, bad, &mut s);
                out.extend_from_slice(s.as_bytes());
                return;
            }
        };
        self.json_into(def, ev, args, bad, &mut s);
        *out = s.into_bytes();
    }

    fn json_into(
        &self,
        def: &EventDef,
        ev: &EventSlice<'_>,
        args: &[Arg<'_>],
        bad: Option<&wire::DecodeError>,
        s: &mut String,
    ) {
        let epoch = |t: u64| self.pre.boot_epoch_ns.wrapping_add(t);
        let head: [(&str, u64); 13] = [
            ("{\"timestamp\":", epoch(ev.ts())),
            (",\"threadStartTime\":", epoch(ev.thread_start())),
            (",\"processorId\":", ev.cpu().into()),
            (",\"processId\":", ev.ns_pid().into()),
            (",\"cgroupId\":", ev.cgroup_id()),
            (",\"threadId\":", ev.ns_tid().into()),
            (",\"parentProcessId\":", ev.ns_ppid().into()),
            (",\"hostProcessId\":", ev.pid().into()),
            (",\"hostThreadId\":", ev.tid().into()),
            (",\"hostParentProcessId\":", ev.ppid().into()),
            (",\"userId\":", ev.uid().into()),
            (",\"mountNamespace\":", ev.mnt_ns().into()),
            (",\"pidNamespace\":", ev.pid_ns().into()),
        ];
        for (key, n) in head {
            s.push_str(key);
            push_u64(s, n);
        }
        s.push_str(",\"processName\":");
        json_str(s, ev.comm());
        s.push_str(",\"hostName\":");
        json_str(s, ev.uts());
        s.push_str(",\"container\":{},\"kubernetes\":{},\"eventId\":\"");
        push_int(s, ev.event_id().into());
        s.push_str("\",\"eventName\":");
        json_str(s, def.name.as_bytes());
        s.push_str(",\"matchedPolicies\":[],\"argsNum\":");
        push_int(s, args.len() as i128);
        s.push_str(",\"returnValue\":");
        push_int(s, ev.retval().into());
        s.push_str(",\"syscall\":");
        json_str(s, self.syscall_name(ev).as_bytes());
        s.push_str(
            ",\"stackAddresses\":null,\"contextFlags\":{\"containerStarted\":false,\"isCompat\":",
        );
        s.push_str(if ev.is_compat() { "true" } else { "false" });
        s.push('}');
        if ev.flags() & wire::ctx_flags::ARGS_CUT != 0 {
            s.push_str(",\"argsCut\":true");
        }
        s.push_str(",\"args\":[");
        for (i, a) in args.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str("{\"name\":");
            json_str(s, a.name.as_bytes());
            s.push_str(",\"type\":");
            let ty = if matches!(a.value, Value::Sym(_)) {
                "string"
            } else {
                a.type_name
            };
            json_str(s, ty.as_bytes());
            s.push_str(",\"value\":");
            json_value(s, &a.value);
            if a.truncated {
                s.push_str(",\"truncated\":true");
            }
            if a.fault {
                s.push_str(",\"fault\":true");
            }
            s.push('}');
        }
        s.push(']');
        if let Some(e) = bad {
            s.push_str(",\"decodeError\":");
            json_str(s, e.to_string().as_bytes());
        }
        s.push_str("}\n");
    }

    fn table(
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
            let _ = write!(
                s,
                "{:<16}{:<12}{:<12}{:<12}{:<7}{:<16}{:<8}{:<8}{:<8}{:<16}{:<20}",
                escaped(ev.uts()),
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

/// Bytes of a JSON string by what they need: 0 copied as they are, 1 an
/// escape (controls, DEL, '"', '\\'), 2 UTF-8 checking (not ASCII).
const JSON_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if i < 0x20 || i == 0x7f || i == b'"' as usize || i == b'\\' as usize {
            1
        } else if i >= 0x80 {
            2
        } else {
            0
        };
        i += 1;
    }
    t
};

/// Writes `b` as a JSON string; bytes that are not UTF-8 become U+FFFD.
pub fn json_str(s: &mut String, b: &[u8]) {
    s.push('"');
    // One pass over the ASCII (nearly every string); the rest, from the
    // first byte that is not ASCII, goes through UTF-8 checking.
    let mut done = 0;
    let mut i = 0;
    while i < b.len() {
        match JSON_CLASS[b[i] as usize] {
            0 => i += 1,
            1 => {
                push_ascii(s, &b[done..i]);
                push_escape(s, b[i]);
                i += 1;
                done = i;
            }
            _ => break,
        }
    }
    push_ascii(s, &b[done..i]);
    if i < b.len() {
        // Invalid UTF-8 becomes U+FFFD, as String::from_utf8_lossy does it.
        for chunk in b[i..].utf8_chunks() {
            json_escape(s, chunk.valid());
            if !chunk.invalid().is_empty() {
                s.push('\u{FFFD}');
            }
        }
    }
    s.push('"');
}

/// Appends bytes known to be ASCII.
fn push_ascii(s: &mut String, b: &[u8]) {
    debug_assert!(b.is_ascii());
    // SAFETY: json_str passes only bytes below 0x80, which are UTF-8.
    s.push_str(unsafe { std::str::from_utf8_unchecked(b) });
}

/// Appends `t` with JSON's escapes; runs that need none are copied whole.
/// Beyond what JSON requires, characters a terminal would act on or that
/// hide text (C1 controls, bidirectional overrides: `wire::text::is_unsafe`)
/// are escaped too, so JSON printed raw cannot drive a terminal either.
fn json_escape(s: &mut String, t: &str) {
    let mut done = 0;
    for (i, c) in t.char_indices() {
        if wire::text::is_unsafe(c) || c == '"' || c == '\\' {
            s.push_str(&t[done..i]);
            match c {
                '"' | '\\' | '\n' | '\r' | '\t' => push_escape(s, c as u8),
                c => {
                    let _ = write!(s, "\\u{:04x}", c as u32);
                }
            }
            done = i + c.len_utf8();
        }
    }
    s.push_str(&t[done..]);
}

/// Appends JSON's escape of `c`, a control character, '"' or '\\'.
fn push_escape(s: &mut String, c: u8) {
    match c {
        b'"' => s.push_str("\\\""),
        b'\\' => s.push_str("\\\\"),
        b'\n' => s.push_str("\\n"),
        b'\r' => s.push_str("\\r"),
        b'\t' => s.push_str("\\t"),
        _ => {
            let _ = write!(s, "\\u{:04x}", c);
        }
    }
}

/// Appends a decimal integer without going through `core::fmt`.
pub fn push_int(s: &mut String, n: i128) {
    if n < 0 {
        s.push('-');
    }
    let v = n.unsigned_abs();
    match u64::try_from(v) {
        Ok(v) => push_u64(s, v),
        // Beyond u64 (never in practice): the slow 128-bit division.
        Err(_) => {
            let _ = write!(s, "{v}");
        }
    }
}

/// "00" to "99", for writing decimals two digits at a time.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

fn push_u64(s: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while v >= 100 {
        let r = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[r..r + 2]);
    }
    if v >= 10 {
        let r = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[r..r + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    // SAFETY: buf[i..] holds only ASCII digits, which are valid UTF-8.
    s.push_str(unsafe { std::str::from_utf8_unchecked(&buf[i..]) });
}

fn json_value(s: &mut String, v: &Value<'_>) {
    match v {
        Value::Int(n) => push_int(s, *n),
        Value::Ptr(p) => {
            let _ = write!(s, "\"0x{p:x}\"");
        }
        Value::Bool(b) => {
            let _ = write!(s, "{b}");
        }
        Value::Str(b) => json_str(s, b),
        Value::Sym(t) => json_str(s, t.as_bytes()),
        Value::Strs(v) => {
            s.push('[');
            for (i, e) in v.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                json_str(s, e);
            }
            s.push(']');
        }
        Value::Sockaddr(b) => {
            s.push('{');
            for (i, (k, val)) in sockaddr(b).iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                json_str(s, k.as_bytes());
                s.push(':');
                json_str(s, val.as_bytes());
            }
            s.push('}');
        }
        Value::Bytes(b) => {
            s.push('"');
            for x in b.iter() {
                let _ = write!(s, "{x:02x}");
            }
            s.push('"');
        }
    }
}

fn text_value(s: &mut String, v: &Value<'_>) {
    match v {
        Value::Str(b) => push_escaped(s, b),
        Value::Sym(t) => s.push_str(t),
        Value::Ptr(p) => {
            let _ = write!(s, "0x{p:x}");
        }
        Value::Strs(v) => {
            s.push('[');
            for (i, e) in v.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                push_escaped(s, e);
            }
            s.push(']');
        }
        Value::Sockaddr(b) => {
            s.push('{');
            for (i, (k, val)) in sockaddr(b).iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                s.push_str(k);
                s.push_str(": ");
                push_escaped(s, val.as_bytes());
            }
            s.push('}');
        }
        other => json_value(s, other),
    }
}

/// A `struct sockaddr` as Tracee shows it: family and the fields of that
/// family, as strings.
pub fn sockaddr(b: &[u8]) -> Vec<(&'static str, String)> {
    if b.len() < 2 {
        return vec![];
    }
    let family = u16::from_le_bytes([b[0], b[1]]);
    let port = |b: &[u8]| {
        if b.len() >= 4 {
            u16::from_be_bytes([b[2], b[3]]).to_string()
        } else {
            String::new()
        }
    };
    match family {
        2 => {
            let addr = if b.len() >= 8 {
                std::net::Ipv4Addr::new(b[4], b[5], b[6], b[7]).to_string()
            } else {
                String::new()
            };
            vec![
                ("sa_family", "AF_INET".into()),
                ("sin_port", port(b)),
                ("sin_addr", addr),
            ]
        }
        10 => {
            let mut a = [0u8; 16];
            let addr = if b.len() >= 24 {
                a.copy_from_slice(&b[8..24]);
                std::net::Ipv6Addr::from(a).to_string()
            } else {
                String::new()
            };
            let u32_at = |o: usize| {
                b.get(o..o + 4)
                    .map_or(0, |x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
            };
            let scope = b
                .get(24..28)
                .map_or(0, |x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]));
            vec![
                ("sa_family", "AF_INET6".into()),
                ("sin6_port", port(b)),
                ("sin6_flowinfo", u32_at(4).to_string()),
                ("sin6_addr", addr),
                ("sin6_scopeid", scope.to_string()),
            ]
        }
        1 => {
            let p = &b[2..];
            let path = match p.first() {
                // Abstract socket: leading NUL, shown with '@' as ss(8) does.
                Some(0) if p.len() > 1 => format!(
                    "@{}",
                    String::from_utf8_lossy(p[1..].split(|&c| c == 0).next().unwrap_or(&[]))
                ),
                _ => {
                    String::from_utf8_lossy(p.split(|&c| c == 0).next().unwrap_or(&[])).into_owned()
                }
            };
            vec![("sa_family", "AF_UNIX".into()), ("sun_path", path)]
        }
        f => vec![(
            "sa_family",
            parse::symbolic("socket", "family", f as u64).unwrap_or_else(|| f.to_string()),
        )],
    }
}

#[cfg(test)]
mod tests;
