use wire::build::{EventBuilder, name16};
use wire::preamble::{ArgDef, ArgType, Catalog, EventDef, Preamble, event_flags};
use wire::{EventContext, EventSlice, LostBody, RecordSlice, item};

use crate::{Format, Printer, sockaddr};

fn pre() -> Preamble {
    let arg = |n: &str, t: &str, ty| ArgDef {
        name: n.into(),
        type_name: t.into(),
        ty,
    };
    Preamble {
        version: 1,
        boot_epoch_ns: 1_000_000_000_000_000_000,
        start_mono_ns: 0,
        hostname: "box".into(),
        kernel_release: "6.18".into(),
        catalog: Catalog::new(vec![
            EventDef {
                id: 257,
                name: "openat".into(),
                flags: event_flags::SYSCALL,
                args: vec![
                    arg("dirfd", "int", ArgType::I32),
                    arg("pathname", "const char*", ArgType::Str),
                    arg("flags", "int", ArgType::I32),
                    arg("mode", "mode_t", ArgType::U32),
                ],
            },
            EventDef {
                id: 42,
                name: "connect".into(),
                flags: event_flags::SYSCALL,
                args: vec![
                    arg("sockfd", "int", ArgType::I32),
                    arg("addr", "struct sockaddr*", ArgType::Sockaddr),
                    arg("addrlen", "int", ArgType::I32),
                ],
            },
        ]),
    }
}

fn openat() -> Vec<u8> {
    let ctx = EventContext {
        ts: 5,
        event_id: 257,
        syscall: 257,
        pid: 10,
        tid: 11,
        ns_pid: 10,
        uid: 1000,
        retval: -2,
        comm: name16("ba\"sh"),
        uts: name16("box"),
        ..Default::default()
    };
    EventBuilder::new(&ctx)
        .scalar(0, -100i64 as u64)
        .item(1, item::STR | item::TRUNCATED, b"/etc/pa\nss")
        .scalar(2, 0o1101)
        .scalar(3, 0o644)
        .finish()
}

fn print(p: &mut Printer, rec: &[u8]) -> String {
    let (r, _) = RecordSlice::from_slice(rec, 0).unwrap();
    let mut out = Vec::new();
    let bad = p.event(&EventSlice::from_record(r).unwrap(), &mut out);
    assert_eq!(bad, None, "the test record decodes");
    String::from_utf8(out).unwrap()
}

#[test]
fn json_has_tracee_fields() {
    let mut p = Printer::new(Format::Json, false, pre());
    let line = print(&mut p, &openat());
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["timestamp"], 1_000_000_000_000_000_005u64);
    assert_eq!(v["eventId"], "257");
    assert_eq!(v["eventName"], "openat");
    assert_eq!(v["syscall"], "openat");
    assert_eq!(v["processName"], "ba\"sh");
    assert_eq!(v["hostName"], "box");
    assert_eq!(v["hostProcessId"], 10);
    assert_eq!(v["hostThreadId"], 11);
    assert_eq!(v["userId"], 1000);
    assert_eq!(v["returnValue"], -2);
    assert_eq!(v["argsNum"], 4);
    assert_eq!(v["contextFlags"]["isCompat"], false);
    assert!(
        v["container"].is_object() && v["kubernetes"].is_object() && v["stackAddresses"].is_null()
    );
    let args = v["args"].as_array().unwrap();
    assert_eq!(args[0]["value"], -100);
    assert_eq!(args[1]["value"], "/etc/pa\nss");
    assert_eq!(args[1]["type"], "const char*");
    assert_eq!(args[1]["truncated"], true);
    assert_eq!(args[2]["value"], 0o1101);
    for k in [
        "threadStartTime",
        "processorId",
        "processId",
        "cgroupId",
        "threadId",
        "parentProcessId",
        "hostParentProcessId",
        "mountNamespace",
        "pidNamespace",
        "matchedPolicies",
    ] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
}

#[test]
fn parsed_arguments_become_strings() {
    let mut p = Printer::new(Format::Json, true, pre());
    let v: serde_json::Value = serde_json::from_str(&print(&mut p, &openat())).unwrap();
    // Tracee leaves dirfd a number.
    assert_eq!(v["args"][0]["value"], -100);
    assert_eq!(v["args"][0]["type"], "int");
    assert_eq!(v["args"][2]["value"], "O_WRONLY|O_CREAT|O_TRUNC");
    assert_eq!(v["args"][2]["type"], "string");
}

#[test]
fn table_line() {
    let mut p = Printer::new(Format::Table, true, pre());
    let line = print(&mut p, &openat());
    assert!(line.contains("-2 -ENOENT"), "{line}");
    assert!(line.contains("openat"));
    assert!(line.contains("flags: O_WRONLY|O_CREAT|O_TRUNC"), "{line}");
    assert!(line.contains("dirfd: -100"), "{line}");
    assert!(line.ends_with('\n') && line.matches('\n').count() == 1 || line.contains("pa\nss"));
    let p = Printer::new(Format::TableVerbose, true, pre());
    let mut h = Vec::new();
    p.header(&mut h);
    let h = String::from_utf8(h).unwrap();
    for c in ["UTS", "CGROUP_ID", "MNT_NS", "PID_NS", "PPID"] {
        assert!(h.contains(c));
    }
}

#[test]
fn sockaddrs() {
    let mut v4 = vec![2, 0, 0x1f, 0x90, 127, 0, 0, 1];
    v4.extend_from_slice(&[0; 8]);
    assert_eq!(
        sockaddr(&v4),
        vec![
            ("sa_family", "AF_INET".into()),
            ("sin_port", "8080".into()),
            ("sin_addr", "127.0.0.1".into())
        ]
    );
    let mut un = vec![1, 0];
    un.extend_from_slice(b"/run/x.sock\0");
    assert_eq!(sockaddr(&un)[1], ("sun_path", "/run/x.sock".to_string()));
    let mut v6 = vec![10, 0, 0, 80, 0, 0, 0, 0];
    v6.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    v6.extend_from_slice(&[0; 4]);
    assert_eq!(sockaddr(&v6)[3], ("sin6_addr", "::1".to_string()));
    assert!(sockaddr(&[2]).is_empty());
    let ctx = EventContext {
        event_id: 42,
        ..Default::default()
    };
    let rec = EventBuilder::new(&ctx)
        .scalar(0, 3)
        .item(1, item::BYTES, &v4)
        .scalar(2, 16)
        .finish();
    let v: serde_json::Value =
        serde_json::from_str(&print(&mut Printer::new(Format::Json, false, pre()), &rec)).unwrap();
    assert_eq!(v["args"][1]["value"]["sin_addr"], "127.0.0.1");
}

#[test]
fn lost_notices_are_distinct() {
    let l = LostBody {
        cpu: 1,
        reason: 0,
        count: 7,
        ts: 0,
    };
    let mut out = Vec::new();
    Printer::new(Format::Json, false, pre()).lost(&l, &mut out);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["lostEvents"]["count"], 7);
    assert!(v.get("eventName").is_none());
    let mut out = Vec::new();
    Printer::new(Format::Table, false, pre()).lost(&l, &mut out);
    assert!(
        String::from_utf8(out)
            .unwrap()
            .starts_with("LOST 7 events on cpu 1")
    );
}

/// An item that runs past its record is a problem of that event only: it
/// is printed with what decoded before the bad item, and marked.
#[test]
fn a_bad_item_marks_its_event_and_keeps_what_decoded() {
    let mut rec = openat();
    // The second item (pathname) claims more bytes than the record has.
    let second = wire::ARGS_OFFSET + wire::ArgHeader::LEN + 8;
    rec[second + 2] = 0xff;
    rec[second + 3] = 0x0f;
    let (r, _) = RecordSlice::from_slice(&rec, 0).unwrap();
    let ev = EventSlice::from_record(r).unwrap();
    for fmt in [Format::Json, Format::Table, Format::TableVerbose] {
        let mut p = Printer::new(fmt, false, pre());
        let mut out = Vec::new();
        let bad = p.event(&ev, &mut out).expect("a decode error");
        assert!(bad.to_string().contains("truncated argument"), "{bad}");
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        if fmt == Format::Json {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["args"][0]["value"], -100, "the item before it: {v}");
            assert_eq!(v["args"][1]["value"], "", "{v}");
            assert!(
                v["decodeError"].as_str().unwrap().contains("truncated"),
                "{v}"
            );
            assert_eq!(v["processName"], "ba\"sh");
        } else {
            assert!(text.contains("dirfd: -100"), "{text}");
            assert!(text.contains("[decode error: truncated argument"), "{text}");
        }
    }
}

/// Names and arguments from a traced process cannot drive the terminal
/// or forge table lines: every control or formatting character shows as
/// an escape, in tables and in JSON.
#[test]
fn hostile_text_is_escaped_in_every_format() {
    let ctx = EventContext {
        event_id: 42,
        comm: *b"\x1b]0;pwn\x07\x1b[2J\n0 r",
        uts: name16("h\r\x1b[1A"),
        ..Default::default()
    };
    let mut sun = vec![1u8, 0];
    sun.extend_from_slice(b"/tmp/\x1b[31mred\n\xc2\x9b1m\xe2\x80\xae");
    let rec = EventBuilder::new(&ctx)
        .scalar(0, 3)
        .item(1, item::BYTES, &sun)
        .finish();
    for fmt in [Format::Table, Format::TableVerbose, Format::Json] {
        let text = print(&mut Printer::new(fmt, false, pre()), &rec);
        assert_eq!(text.matches('\n').count(), 1, "{fmt:?}: one line: {text:?}");
        let bad = text
            .trim_end_matches('\n')
            .chars()
            .find(|&c| wire::text::is_unsafe(c));
        assert_eq!(bad, None, "{fmt:?}: {text:?}");
        if fmt == Format::Json {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            // JSON escapes are transparent: the value is the same bytes.
            assert_eq!(v["processName"], "\x1b]0;pwn\x07\x1b[2J\n0 r");
            assert_eq!(
                v["args"][1]["value"]["sun_path"],
                "/tmp/\x1b[31mred\n\u{9b}1m\u{202e}"
            );
        } else {
            assert!(text.contains("\\x1b]0;pwn\\x07\\x1b[2J\\n0 "), "{text}");
            assert!(
                text.contains("/tmp/\\x1b[31mred\\n\\u{009b}1m\\u{202e}"),
                "{text}"
            );
        }
    }
}

#[test]
fn unknown_event_ids_still_print() {
    let ctx = EventContext {
        event_id: 999,
        ..Default::default()
    };
    let rec = EventBuilder::new(&ctx).finish();
    let v: serde_json::Value =
        serde_json::from_str(&print(&mut Printer::new(Format::Json, false, pre()), &rec)).unwrap();
    assert_eq!(v["eventName"], "event_999");
}

#[test]
fn unreadable_arguments_are_marked() {
    let ctx = EventContext {
        event_id: 257,
        ..Default::default()
    };
    let rec = EventBuilder::new(&ctx)
        .scalar(0, 3)
        .item(1, item::STR | item::FAULT, b"")
        .finish();
    let v: serde_json::Value =
        serde_json::from_str(&print(&mut Printer::new(Format::Json, false, pre()), &rec)).unwrap();
    assert_eq!(v["args"][1]["fault"], true);
    assert_eq!(v["args"][1]["value"], "");
    assert!(v["args"][0].get("fault").is_none());
    assert!(
        print(&mut Printer::new(Format::Table, false, pre()), &rec)
            .contains("pathname: (unreadable)")
    );
}

#[test]
fn json_strings_escape_controls_and_replace_invalid_utf8() {
    let mut s = String::new();
    crate::json_str(&mut s, b"a\"b\\c\nd\re\tf\x01g\x7f\xc3\xa9h\xffi\xe2\x82");
    assert_eq!(
        s,
        "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u007f\u{e9}h\u{FFFD}i\u{FFFD}\""
    );
    // The same bytes as from_utf8_lossy sees them, escaped.
    let lossy = String::from_utf8_lossy(b"x\xf0\x9f\x98\x80\xed\xa0\x80y").into_owned();
    let mut s = String::new();
    crate::json_str(&mut s, b"x\xf0\x9f\x98\x80\xed\xa0\x80y");
    assert_eq!(s, format!("\"{lossy}\""));
}

#[test]
fn integers_print_as_core_fmt_prints_them() {
    for n in [
        0i128,
        1,
        -1,
        9,
        10,
        99,
        100,
        i64::MAX as i128,
        i64::MIN as i128,
        u64::MAX as i128,
    ]
    .into_iter()
    .chain([u64::MAX as i128 + 1, i128::MIN, i128::MAX])
    {
        let mut s = String::new();
        crate::push_int(&mut s, n);
        assert_eq!(s, n.to_string());
    }
}
