//! Event bodies from the fuzzer inside valid framing: a fixed preamble
//! whose catalog has an argument of every type, then records whose length
//! and kind are right and whose context and items are the fuzzer's bytes.
//! Through the filter and every formatter: nothing panics, JSON output is
//! JSON, and a table line is one line of visible characters.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tracee_fmt::{Format, Printer};
use wire::preamble::{ArgDef, ArgType, Catalog, EventDef, Preamble};
use wire::reader::StreamReader;
use wire::{ARGS_OFFSET, EventSlice, RecordHeader, kind};

fn preamble() -> Preamble {
    use ArgType::*;
    let types = [I32, U32, I64, U64, Ptr, Str, StrArray, Sockaddr, Bytes, Bool];
    let arg = |i: usize, ty| ArgDef {
        name: format!("a{i}"),
        type_name: "t".into(),
        ty,
    };
    let events = vec![
        EventDef {
            id: 59,
            name: "execve".into(),
            flags: 1,
            args: vec![arg(0, Str), arg(1, StrArray), arg(2, StrArray)],
        },
        EventDef {
            id: 42,
            name: "connect".into(),
            flags: 1,
            args: vec![arg(0, I32), arg(1, Sockaddr), arg(2, I32)],
        },
        EventDef {
            id: 257,
            name: "openat".into(),
            flags: 1,
            args: types.iter().enumerate().map(|(i, &t)| arg(i, t)).collect(),
        },
        EventDef {
            id: 1003,
            name: "sched_process_exec".into(),
            flags: 0,
            args: vec![arg(0, Str), arg(1, Str)],
        },
        EventDef {
            id: 1002,
            name: "sched_process_fork".into(),
            flags: 0,
            args: (0..9).map(|i| arg(i, I32)).collect(),
        },
    ];
    Preamble {
        version: wire::VERSION,
        boot_epoch_ns: 1,
        start_mono_ns: 0,
        hostname: "h".into(),
        kernel_release: "r".into(),
        catalog: Catalog::new(events),
    }
}

const IDS: [u32; 6] = [59, 42, 257, 1003, 1002, 7];

fuzz_target!(|data: &[u8]| {
    // Records: a length byte pair, then that many bytes of body (context
    // first; a short body is padded with zeros to a whole context).
    let mut stream = preamble().to_bytes();
    let mut rest = data;
    while rest.len() >= 2 {
        let n = (u16::from_le_bytes([rest[0], rest[1]]) as usize) % 2048;
        rest = &rest[2..];
        let body = &rest[..n.min(rest.len())];
        rest = &rest[body.len()..];
        let mut rec = vec![0u8; RecordHeader::LEN];
        rec.extend_from_slice(body);
        if rec.len() < ARGS_OFFSET {
            rec.resize(ARGS_OFFSET, 0);
        }
        // The event id picks a catalog entry, so the argument code runs.
        let id_at = wire::off::EVENT_ID;
        let id = IDS[rec[id_at] as usize % IDS.len()];
        rec[id_at..id_at + 4].copy_from_slice(&id.to_le_bytes());
        let len = rec.len() as u32;
        rec[0..4].copy_from_slice(&len.to_le_bytes());
        rec[4..6].copy_from_slice(&kind::EVENT.to_le_bytes());
        stream.extend_from_slice(&rec);
    }
    let mut r = StreamReader::new(&stream[..]).expect("a valid preamble");
    let pre = r.preamble().clone();
    let filters: Vec<tracee_filter::Filter> = [
        &["comm=a*", "follow"][..],
        &["execve.data.a1!=X", "openat.data.a5=/etc/*"][..],
        &["executable=*/x", "pid!=1", "openat.data.a0>3"][..],
    ]
    .iter()
    .map(|t| {
        let terms = tracee_filter::parse_all(t).expect("valid terms");
        tracee_filter::Filter::compile(&terms, &pre.catalog, 0).expect("compiles")
    })
    .collect();
    let mut filters = filters;
    let mut printers: Vec<(Format, Printer)> = [
        (Format::Json, true),
        (Format::Json, false),
        (Format::Table, true),
        (Format::TableVerbose, false),
    ]
    .iter()
    .map(|&(f, parse)| (f, Printer::new(f, parse, pre.clone())))
    .collect();
    let mut out = Vec::new();
    loop {
        let rec = match r.next_record(&mut || Ok(())) {
            Ok(Some(rec)) => rec,
            Ok(None) => break,
            Err(e) => panic!("framing is valid by construction: {e}"),
        };
        assert_eq!(rec.kind(), kind::EVENT);
        let ev = EventSlice::from_record(rec).expect("an event");
        for f in &mut filters {
            let _ = f.matches(&ev);
        }
        for (fmt, p) in &mut printers {
            out.clear();
            let _ = p.event(&ev, &mut out);
            let text = std::str::from_utf8(&out).expect("output is UTF-8");
            assert_eq!(text.matches('\n').count(), 1, "one line per event: {text:?}");
            assert!(text.ends_with('\n'));
            if *fmt == Format::Json {
                serde_json::from_str::<serde_json::Value>(text).expect("JSON output is JSON");
            } else {
                let bad = text.trim_end_matches('\n').chars().find(|&c| wire::text::is_unsafe(c));
                assert_eq!(bad, None, "{text:?}");
            }
        }
    }
});
