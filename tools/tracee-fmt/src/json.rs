//! The `json` format: Tracee's field names, one object per line, built in
//! the output buffer's own allocation (formatting JSON is this tool's hot
//! path).

use wire::EventSlice;
use wire::preamble::EventDef;

use crate::value::{Args, push_list};
use crate::{Arg, Printer, Value, sockaddr};

/// Where text is built: a `String` (the remembered parts, the table) or
/// the output's byte buffer itself (a JSON line, formatted in place). Only
/// UTF-8 is ever appended.
pub trait Text {
    fn push_str(&mut self, t: &str);
    fn push(&mut self, c: char);
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn truncate(&mut self, n: usize);
    fn push_fmt(&mut self, args: std::fmt::Arguments<'_>);
}

impl Text for String {
    fn push_str(&mut self, t: &str) {
        String::push_str(self, t)
    }
    fn push(&mut self, c: char) {
        String::push(self, c)
    }
    fn len(&self) -> usize {
        String::len(self)
    }
    fn truncate(&mut self, n: usize) {
        String::truncate(self, n)
    }
    fn push_fmt(&mut self, args: std::fmt::Arguments<'_>) {
        let _ = std::fmt::Write::write_fmt(self, args);
    }
}

impl Text for Vec<u8> {
    fn push_str(&mut self, t: &str) {
        self.extend_from_slice(t.as_bytes())
    }
    fn push(&mut self, c: char) {
        self.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes())
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn truncate(&mut self, n: usize) {
        Vec::truncate(self, n)
    }
    fn push_fmt(&mut self, args: std::fmt::Arguments<'_>) {
        let _ = std::io::Write::write_fmt(self, args);
    }
}

/// Thread contexts remembered, direct-mapped by thread id: a thread's
/// events come in runs, and its context is most of a line.
const THREADS_CACHED: usize = 64;
/// Events whose fixed text is remembered: those with ids below this (every
/// id the catalog has today); others are built each time.
const EVENTS_CACHED: usize = 4096;

/// The context bytes a thread's text is made of: everything but the
/// time, cpu, event, syscall, flags and return value.
const KEY_PARTS: [(usize, usize); 3] = {
    use wire::off;
    [
        (off::THREAD_START, off::EVENT_ID),
        (off::PID, off::RETVAL),
        (off::COMM, off::UTS + 16),
    ]
};
const KEY_LEN: usize = {
    let mut n = 0;
    let mut i = 0;
    while i < KEY_PARTS.len() {
        n += KEY_PARTS[i].1 - KEY_PARTS[i].0;
        i += 1;
    }
    n
};

fn thread_key(ev: &EventSlice<'_>) -> [u8; KEY_LEN] {
    let b = ev.bytes();
    let mut k = [0u8; KEY_LEN];
    let mut at = 0;
    for (from, to) in KEY_PARTS {
        k[at..at + to - from].copy_from_slice(&b[from..to]);
        at += to - from;
    }
    k
}

/// Whether `key` is the event's [`thread_key`] (compared in place).
fn same_thread(key: &[u8; KEY_LEN], ev: &EventSlice<'_>) -> bool {
    let b = ev.bytes();
    let mut at = 0;
    KEY_PARTS.iter().all(|&(from, to)| {
        let same = key[at..at + to - from] == b[from..to];
        at += to - from;
        same
    })
}

/// The parts of a JSON line that repeat from event to event, built once by
/// the same code that would build them each time: a thread's context and
/// an event's names. Printing a line is then mostly copying them.
#[derive(Default)]
pub(crate) struct JsonCache {
    threads: Vec<Option<Box<ThreadText>>>,
    events: Vec<Option<Box<EventText>>>,
}

/// A thread's text: `,"threadStartTime":N,"processorId":` (the cpu goes
/// here) `,"processId":N ... "kubernetes":{...}` (the event goes here)
/// `,"threadEntityId":N,"processEntityId":N,"parentEntityId":N`.
struct ThreadText {
    key: [u8; KEY_LEN],
    generation: u64,
    text: String,
    cpu_at: usize,
    entity_at: usize,
    container: bool,
}

/// An event's text: `,"eventId":"N","eventName":"...", ... ,"returnValue":`
/// (the return value goes here) `,"syscall":"...", ...
/// "containerStarted":` for the syscall it was built with, and each
/// argument's `{"name":"...","type":"...","value":`.
struct EventText {
    head: String,
    syscall: u32,
    tail: String,
    args: Vec<String>,
}

impl Printer {
    pub(crate) fn json(
        &self,
        def: &EventDef,
        ev: &EventSlice<'_>,
        args: &Args<'_, '_>,
        bad: Option<&wire::DecodeError>,
        out: &mut Vec<u8>,
    ) {
        self.json_into(def, ev, args, bad, out);
    }

    fn json_into(
        &self,
        def: &EventDef,
        ev: &EventSlice<'_>,
        args: &Args<'_, '_>,
        bad: Option<&wire::DecodeError>,
        s: &mut impl Text,
    ) {
        let mut cache = self.json_cache.borrow_mut();
        let cache = &mut *cache;
        if cache.threads.is_empty() {
            cache.threads.resize_with(THREADS_CACHED, || None);
        }
        let slot = &mut cache.threads[ev.tid() as usize % THREADS_CACHED];
        let generation = self.procs.generation();
        if !slot
            .as_ref()
            .is_some_and(|t| t.generation == generation && same_thread(&t.key, ev))
        {
            let key = thread_key(ev);
            let mut t = slot.take().unwrap_or_else(|| {
                Box::new(ThreadText {
                    key,
                    generation,
                    text: String::with_capacity(512),
                    cpu_at: 0,
                    entity_at: 0,
                    container: false,
                })
            });
            t.key = key;
            t.generation = generation;
            self.thread_text(ev, &mut t);
            *slot = Some(t);
        }
        let Some(t) = slot.as_deref() else { return };

        s.push_str("{\"timestamp\":");
        push_u64(s, self.pre.boot_epoch_ns.wrapping_add(ev.ts()));
        s.push_str(&t.text[..t.cpu_at]);
        push_u64(s, ev.cpu().into());
        s.push_str(&t.text[t.cpu_at..t.entity_at]);

        let id = ev.event_id() as usize;
        let uncached;
        let e = match cache.events.get(id) {
            Some(Some(e)) => e,
            _ if id < EVENTS_CACHED => {
                if cache.events.len() <= id {
                    cache.events.resize_with(id + 1, || None);
                }
                cache.events[id].insert(Box::new(self.event_text(def, ev.syscall())))
            }
            _ => {
                uncached = self.event_text(def, ev.syscall());
                &uncached
            }
        };
        s.push_str(&e.head);
        push_int(s, ev.retval().into());
        if e.syscall == ev.syscall() {
            s.push_str(&e.tail);
        } else {
            self.event_tail(ev.syscall(), s);
        }
        // Tracee's containerStarted: the kernel's flag, shown only for a
        // cgroup a container record names.
        let started = t.container && ev.flags() & wire::ctx_flags::CONTAINER_STARTED != 0;
        s.push_str(if started { "true" } else { "false" });
        s.push_str(",\"isCompat\":");
        s.push_str(if ev.is_compat() { "true" } else { "false" });
        s.push('}');
        s.push_str(&t.text[t.entity_at..]);
        if ev.flags() & wire::ctx_flags::ARGS_CUT != 0 {
            s.push_str(",\"argsCut\":true");
        }
        s.push_str(",\"args\":[");
        for (i, a) in args.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            match (&a.value, e.args.get(i)) {
                (Value::Sym(_) | Value::Syms(_), _) | (_, None) => arg_head(s, &a),
                (_, Some(head)) => s.push_str(head),
            }
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

    /// Fills `t` for the event's thread, as the tables know it now.
    fn thread_text(&self, ev: &EventSlice<'_>, t: &mut ThreadText) {
        let s = &mut t.text;
        s.clear();
        s.push_str(",\"threadStartTime\":");
        push_u64(s, self.pre.boot_epoch_ns.wrapping_add(ev.thread_start()));
        s.push_str(",\"processorId\":");
        t.cpu_at = s.len();
        let head: [(&str, u64); 10] = [
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
        s.push_str(",\"executable\":{\"path\":");
        json_str(s, self.procs.exe(ev.pid()));
        s.push_str("},\"hostName\":");
        json_str(s, ev.uts());
        let c = self.procs.container_of(ev);
        t.container = c.is_some();
        s.push_str(",\"containerId\":");
        json_str(s, c.map_or(&[][..], |c| &c.id));
        s.push_str(",\"container\":{");
        if let Some(c) = c {
            // Go's omitempty: an empty field is left out.
            let mut first = true;
            for (k, v) in [
                ("id", &c.id),
                ("name", &c.name),
                ("image", &c.image),
                ("imageDigest", &c.image_digest),
            ] {
                json_field(s, &mut first, k, v);
            }
        }
        s.push_str("},\"kubernetes\":{");
        if let Some(c) = c {
            let mut first = true;
            for (k, v) in [
                ("podName", &c.pod_name),
                ("podNamespace", &c.pod_namespace),
                ("podUID", &c.pod_uid),
            ] {
                json_field(s, &mut first, k, v);
            }
            if c.has(wire::container::flags::POD_SANDBOX) {
                s.push_str(if first { "" } else { "," });
                s.push_str("\"podSandbox\":true");
            }
        }
        s.push('}');
        t.entity_at = s.len();
        let [thread, process, parent] = self.procs.entity_ids(ev, self.pre.boot_epoch_ns);
        for (key, n) in [
            (",\"threadEntityId\":", thread),
            (",\"processEntityId\":", process),
            (",\"parentEntityId\":", parent),
        ] {
            s.push_str(key);
            push_u64(s, n.into());
        }
    }

    fn event_text(&self, def: &EventDef, syscall: u32) -> EventText {
        let mut head = String::from(",\"eventId\":\"");
        push_int(&mut head, def.id.into());
        head.push_str("\",\"eventName\":");
        json_str(&mut head, def.name.as_bytes());
        head.push_str(",\"matchedPolicies\":[],\"argsNum\":");
        push_int(&mut head, def.args.len() as i128);
        head.push_str(",\"returnValue\":");
        let mut tail = String::new();
        self.event_tail(syscall, &mut tail);
        let args = def
            .args
            .iter()
            .map(|a| {
                let mut h = String::new();
                arg_head_of(&mut h, &a.name, &a.type_name);
                h
            })
            .collect();
        EventText {
            head,
            syscall,
            tail,
            args,
        }
    }

    /// `,"syscall":"...","stackAddresses":null,"contextFlags":{"containerStarted":`
    fn event_tail(&self, syscall: u32, s: &mut impl Text) {
        s.push_str(",\"syscall\":");
        json_str(s, self.syscall_name(syscall).as_bytes());
        s.push_str(",\"stackAddresses\":null,\"contextFlags\":{\"containerStarted\":");
    }
}

/// `{"name":"...","type":"...","value":` of an argument.
fn arg_head(s: &mut impl Text, a: &Arg<'_>) {
    let ty = match a.value {
        Value::Sym(_) => "string",
        Value::Syms(_) => "const char**",
        _ => a.type_name,
    };
    arg_head_of(s, a.name, ty);
}

fn arg_head_of(s: &mut impl Text, name: &str, ty: &str) {
    s.push_str("{\"name\":");
    json_str(s, name.as_bytes());
    s.push_str(",\"type\":");
    json_str(s, ty.as_bytes());
    s.push_str(",\"value\":");
}

/// `,"key":"value"` (no comma first), unless the value is empty.
fn json_field(s: &mut impl Text, first: &mut bool, key: &str, v: &[u8]) {
    if v.is_empty() {
        return;
    }
    if !*first {
        s.push(',');
    }
    *first = false;
    s.push('"');
    s.push_str(key);
    s.push_str("\":");
    json_str(s, v);
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
pub fn json_str(s: &mut impl Text, b: &[u8]) {
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
fn push_ascii(s: &mut impl Text, b: &[u8]) {
    debug_assert!(b.is_ascii());
    // SAFETY: json_str passes only bytes below 0x80, which are UTF-8.
    s.push_str(unsafe { std::str::from_utf8_unchecked(b) });
}

/// Appends `t` with JSON's escapes; runs that need none are copied whole.
/// Beyond what JSON requires, characters a terminal would act on or that
/// hide text (C1 controls, bidirectional overrides: `wire::text::is_unsafe`)
/// are escaped too, so JSON printed raw cannot drive a terminal either.
fn json_escape(s: &mut impl Text, t: &str) {
    let mut done = 0;
    for (i, c) in t.char_indices() {
        if wire::text::is_unsafe(c) || c == '"' || c == '\\' {
            s.push_str(&t[done..i]);
            match c {
                '"' | '\\' | '\n' | '\r' | '\t' => push_escape(s, c as u8),
                c => {
                    s.push_fmt(format_args!("\\u{:04x}", c as u32));
                }
            }
            done = i + c.len_utf8();
        }
    }
    s.push_str(&t[done..]);
}

/// Appends JSON's escape of `c`, a control character, '"' or '\\'.
fn push_escape(s: &mut impl Text, c: u8) {
    match c {
        b'"' => s.push_str("\\\""),
        b'\\' => s.push_str("\\\\"),
        b'\n' => s.push_str("\\n"),
        b'\r' => s.push_str("\\r"),
        b'\t' => s.push_str("\\t"),
        _ => {
            s.push_fmt(format_args!("\\u{:04x}", c));
        }
    }
}

/// Appends a decimal integer without going through `core::fmt`.
pub fn push_int(s: &mut impl Text, n: i128) {
    if n < 0 {
        s.push('-');
    }
    let v = n.unsigned_abs();
    match u64::try_from(v) {
        Ok(v) => push_u64(s, v),
        // Beyond u64 (never in practice): the slow 128-bit division.
        Err(_) => {
            s.push_fmt(format_args!("{v}"));
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

pub(crate) fn push_u64(s: &mut impl Text, mut v: u64) {
    // The digits go left-aligned into a buffer of zeros, which is copied
    // whole (a fixed-size copy, no call) and then cut to the digits.
    let n = v.checked_ilog10().unwrap_or(0) as usize + 1;
    let mut buf = [b'0'; 20];
    let mut i = n;
    while v >= 100 {
        let r = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[r..r + 2]);
    }
    if v >= 10 {
        let r = v as usize * 2;
        buf[i - 2..i].copy_from_slice(&DIGIT_PAIRS[r..r + 2]);
    } else {
        buf[i - 1] = b'0' + v as u8;
    }
    let len = s.len();
    // SAFETY: buf holds only ASCII digits, which are valid UTF-8.
    s.push_str(unsafe { std::str::from_utf8_unchecked(&buf) });
    s.truncate(len + n);
}

/// `v` in lower-case hexadecimal, as `{:x}` writes it.
fn push_hex(s: &mut impl Text, v: u64) {
    let n = (64 - v.leading_zeros()).div_ceil(4).max(1) as usize;
    let mut buf = [b'0'; 16];
    for (i, d) in buf[..n].iter_mut().enumerate() {
        *d = b"0123456789abcdef"[(v >> (4 * (n - 1 - i)) & 0xf) as usize];
    }
    // SAFETY: hex digits are ASCII.
    s.push_str(unsafe { std::str::from_utf8_unchecked(&buf[..n]) });
}

pub(crate) fn json_value(s: &mut impl Text, v: &Value<'_>) {
    match v {
        Value::Int(n) => push_int(s, *n),
        Value::Ptr(p) => {
            s.push_str("\"0x");
            push_hex(s, *p);
            s.push('"');
        }
        Value::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
        Value::Str(b) => json_str(s, b),
        Value::Sym(t) => json_str(s, t.as_bytes()),
        Value::Strs(v) => push_list(s, ('[', ',', ']'), v, |s, e| json_str(s, e)),
        Value::Syms(v) => push_list(s, ('[', ',', ']'), v, |s, e| json_str(s, e.as_bytes())),
        Value::Words(v) => push_list(s, ('[', ',', ']'), v, |s, w| push_u64(s, *w)),
        Value::Sockaddr(b) => push_list(s, ('{', ',', '}'), sockaddr(b), |s, (k, val)| {
            json_str(s, k.as_bytes());
            s.push(':');
            json_str(s, val.as_bytes());
        }),
        Value::Json(b) => {
            // Only what parses as JSON goes out as JSON: a stream is
            // untrusted, and a bad value must not break the line.
            if serde_json::from_slice::<serde_json::Value>(b).is_ok() {
                // Valid JSON is UTF-8.
                s.push_str(&String::from_utf8_lossy(b));
            } else {
                json_str(s, b);
            }
        }
        Value::Bytes(b) => {
            s.push('"');
            for x in b.iter() {
                s.push_fmt(format_args!("{x:02x}"));
            }
            s.push('"');
        }
    }
}
