extern crate std;

use std::vec;
use std::vec::Vec;

use super::*;

/// Builds an event record the way the kernel does.
pub(crate) fn event(ctx: &EventContext, items: &[(u8, u8, &[u8])]) -> Vec<u8> {
    let mut out = vec![0u8; ARGS_OFFSET];
    out[RecordHeader::LEN..ARGS_OFFSET].copy_from_slice(ctx.as_bytes());
    for (idx, k, data) in items {
        out.push(*idx);
        out.push(*k);
        out.extend_from_slice(&(data.len() as u16).to_le_bytes());
        out.extend_from_slice(data);
    }
    let len = out.len() as u32;
    out[0..4].copy_from_slice(&len.to_le_bytes());
    out[4..6].copy_from_slice(&kind::EVENT.to_le_bytes());
    out
}

fn sample() -> Vec<u8> {
    let ctx = EventContext {
        ts: 11,
        thread_start: 22,
        leader_start: 23,
        parent_start: 24,
        cgroup_id: 33,
        mnt_ns: 44,
        pid_ns: 55,
        event_id: 257,
        syscall: 257,
        cpu: 1,
        flags: ctx_flags::COMPAT,
        pid: 100,
        tid: 101,
        ppid: 1,
        ns_pid: 100,
        ns_tid: 101,
        ns_ppid: 1,
        uid: 1000,
        gid: 1000,
        retval: -2,
        comm: *b"bash\0\0\0\0\0\0\0\0\0\0\0\0",
        uts: *b"host\0\0\0\0\0\0\0\0\0\0\0\0",
    };
    event(
        &ctx,
        &[
            (0, item::SCALAR, &(-100i64 as u64).to_le_bytes()),
            (1, item::STR | item::TRUNCATED, b"/etc/passwd"),
            (2, item::STR_ARRAY, b"ls\0-l\0"),
        ],
    )
}

#[test]
fn event_round_trip() {
    let rec = sample();
    let (r, rest) = RecordSlice::from_slice(&rec, 0).unwrap();
    assert!(rest.is_empty());
    let e = EventSlice::from_record(r).unwrap();
    assert_eq!(
        (
            e.ts(),
            e.thread_start(),
            e.leader_start(),
            e.parent_start(),
            e.cgroup_id(),
            e.mnt_ns(),
            e.pid_ns()
        ),
        (11, 22, 23, 24, 33, 44, 55)
    );
    assert_eq!(
        (
            e.event_id(),
            e.syscall(),
            e.cpu(),
            e.pid(),
            e.tid(),
            e.ppid()
        ),
        (257, 257, 1, 100, 101, 1)
    );
    assert_eq!((e.uid(), e.gid(), e.retval()), (1000, 1000, -2));
    assert_eq!(e.comm(), b"bash");
    assert_eq!(e.uts(), b"host");
    assert!(e.is_compat());
    let args: Vec<_> = e.args().map(Result::unwrap).collect();
    assert_eq!(args.len(), 3);
    assert_eq!(args[0].scalar() as i64, -100);
    assert!(args[1].truncated && !args[1].fault);
    assert_eq!(args[1].data, b"/etc/passwd");
    let v: Vec<_> = args[2].strings().collect();
    assert_eq!(v, vec![&b"ls"[..], &b"-l"[..]]);
    // No element, one empty element, and an array cut inside its last.
    let strs = |data: &'static [u8]| -> Vec<&'static [u8]> {
        ArgItem {
            index: 0,
            kind: item::STR_ARRAY,
            truncated: false,
            fault: false,
            data,
        }
        .strings()
        .collect()
    };
    assert!(strs(b"").is_empty());
    assert_eq!(strs(b"\0"), vec![&b""[..]]);
    assert_eq!(strs(b"a\0\0"), vec![&b"a"[..], &b""[..]]);
    assert_eq!(strs(b"a\0bc"), vec![&b"a"[..], &b"bc"[..]]);
    assert_eq!(e.arg(1).unwrap().data, b"/etc/passwd");
}

#[test]
fn every_truncated_prefix_is_a_len_error() {
    let rec = sample();
    for n in 0..rec.len() {
        let err = RecordSlice::from_slice(&rec[..n], 7).unwrap_err();
        let want_len = if n < RecordHeader::LEN {
            RecordHeader::LEN
        } else {
            rec.len()
        };
        let what = if n < RecordHeader::LEN {
            "record header"
        } else {
            "record"
        };
        assert_eq!(
            err,
            DecodeError::Len(LenError {
                what,
                required_len: want_len,
                len: n,
                offset: 7
            }),
            "prefix {n}"
        );
    }
}

#[test]
fn an_item_cut_inside_the_record_is_reported() {
    let mut rec = sample();
    // Shrink the record so the last item claims more bytes than remain.
    rec.truncate(rec.len() - 2);
    let len = rec.len() as u32;
    rec[0..4].copy_from_slice(&len.to_le_bytes());
    let (r, _) = RecordSlice::from_slice(&rec, 0).unwrap();
    let e = EventSlice::from_record(r).unwrap();
    let last = e.args().last().unwrap();
    assert!(matches!(
        last,
        Err(DecodeError::Len(LenError {
            what: "argument",
            ..
        }))
    ));
}

#[test]
fn bad_kinds_and_lengths_are_errors() {
    let mut rec = sample();
    rec[4] = 99;
    assert_eq!(
        RecordSlice::from_slice(&rec, 0).unwrap_err(),
        DecodeError::UnknownRecordKind {
            kind: 99,
            offset: 0
        }
    );
    let mut rec = sample();
    rec[0..4].copy_from_slice(&(MAX_RECORD_LEN as u32 + 1).to_le_bytes());
    assert!(matches!(
        RecordSlice::from_slice(&rec, 0),
        Err(DecodeError::RecordTooLong { .. })
    ));
    let mut rec = sample();
    rec[0..4].copy_from_slice(&10u32.to_le_bytes());
    assert!(matches!(
        RecordSlice::from_slice(&rec, 0),
        Err(DecodeError::RecordTooShort { .. })
    ));
    // A scalar item whose length is not 8.
    let mut rec = sample();
    rec[ARGS_OFFSET + 2] = 4;
    let (r, _) = RecordSlice::from_slice(&rec, 0).unwrap();
    let e = EventSlice::from_record(r).unwrap();
    assert!(matches!(
        e.args().next(),
        Some(Err(DecodeError::UnknownArgKind { .. }))
    ));
}

#[test]
fn lost_and_end_round_trip() {
    let l = LostBody {
        cpu: 3,
        reason: lost_reason::RING_FULL,
        count: 99,
        ts: 5,
    };
    let rec = l.to_record();
    let (r, _) = RecordSlice::from_slice(&rec, 0).unwrap();
    assert_eq!(r.kind(), kind::LOST);
    assert_eq!(LostBody::from_record(r), l);
    let e = EndBody {
        events: 1,
        lost: 2,
        ts: 3,
    };
    let rec = e.to_record();
    let (r, _) = RecordSlice::from_slice(&rec, 0).unwrap();
    assert_eq!(EndBody::from_record(r), e);
    for n in 0..rec.len() {
        assert!(matches!(
            RecordSlice::from_slice(&rec[..n], 0),
            Err(DecodeError::Len(_))
        ));
    }
}

#[cfg(feature = "user")]
mod user {
    use super::*;
    use crate::preamble::*;
    use crate::reader::{StreamError, StreamReader};
    use std::string::ToString;

    pub(crate) fn preamble() -> Preamble {
        Preamble {
            version: VERSION,
            boot_epoch_ns: 1_700_000_000_000_000_000,
            start_mono_ns: 42,
            hostname: "box".to_string(),
            kernel_release: "6.18".to_string(),
            catalog: Catalog::new(vec![EventDef {
                id: 257,
                name: "openat".to_string(),
                flags: event_flags::SYSCALL,
                args: vec![
                    ArgDef {
                        name: "dfd".to_string(),
                        type_name: "int".to_string(),
                        ty: ArgType::I32,
                    },
                    ArgDef {
                        name: "pathname".to_string(),
                        type_name: "const char*".to_string(),
                        ty: ArgType::Str,
                    },
                ],
            }])
            .with_aliases(vec![Alias {
                event: 257,
                arg: 1,
                name: "filename".to_string(),
            }]),
        }
    }

    /// A preamble written before argument aliases existed (nothing after
    /// the catalog) reads as one without them.
    #[test]
    fn a_preamble_without_aliases_reads() {
        let mut p = preamble();
        p.catalog = p.catalog.with_aliases(vec![]);
        let mut b = p.to_bytes();
        // Drop the empty alias section (its count) and fix the length.
        b.truncate(b.len() - 4);
        let len = (b.len() as u32).to_le_bytes();
        b[12..16].copy_from_slice(&len);
        let (q, rest) = Preamble::from_slice(&b).unwrap();
        assert!(rest.is_empty());
        assert_eq!(p, q);
    }

    #[test]
    fn preamble_round_trip_and_prefixes() {
        let p = preamble();
        let b = p.to_bytes();
        let (q, rest) = Preamble::from_slice(&b).unwrap();
        assert!(rest.is_empty());
        assert_eq!(p, q);
        assert_eq!(q.catalog.get(257).unwrap().name, "openat");
        let openat = q.catalog.by_name("openat").unwrap();
        assert_eq!(openat.arg_index("pathname"), Some(1));
        assert_eq!(q.catalog.arg_index(openat, "filename"), Some(1));
        assert_eq!(q.catalog.arg_index(openat, "nosuch"), None);
        for n in 0..b.len() {
            let e = Preamble::from_slice(&b[..n]).unwrap_err();
            if n >= 8 {
                assert!(matches!(e, DecodeError::Len(_)), "prefix {n}: {e:?}");
            }
        }
        let mut bad = b.clone();
        bad[0] = b'X';
        assert_eq!(
            Preamble::from_slice(&bad).unwrap_err(),
            DecodeError::BadMagic
        );
        let mut bad = b.clone();
        bad[8] = 9;
        assert_eq!(
            Preamble::from_slice(&bad).unwrap_err(),
            DecodeError::UnsupportedVersion { version: 9 }
        );
    }

    fn stream() -> Vec<u8> {
        let mut s = preamble().to_bytes();
        for _ in 0..1000 {
            s.extend_from_slice(&sample());
        }
        s.extend_from_slice(
            &EndBody {
                events: 1000,
                lost: 0,
                ts: 1,
            }
            .to_record(),
        );
        s
    }

    /// Reads in odd-sized pieces, to cross every buffer boundary.
    struct Dribble<'a>(&'a [u8], usize);
    impl std::io::Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn reader_reads_every_record() {
        let s = stream();
        for chunk in [1, 7, 4096, 1 << 20] {
            let mut r = StreamReader::new(Dribble(&s, chunk)).unwrap();
            let mut n = 0;
            let mut waits = 0;
            while let Some(rec) = r
                .next_record(&mut || {
                    waits += 1;
                    Ok(())
                })
                .unwrap()
            {
                n += 1;
                assert!(rec.kind() == kind::EVENT || rec.kind() == kind::END);
            }
            assert_eq!(n, 1001);
            assert!(waits > 0);
        }
    }

    #[test]
    fn reader_reports_truncation_at_every_cut() {
        let s = stream();
        let pre = preamble().to_bytes().len();
        let rec = sample().len();
        // Cut inside the preamble, and at every point inside the first record.
        for cut in (0..pre).chain(pre + 1..pre + rec) {
            let r = StreamReader::new(&s[..cut]);
            let err = match r {
                Err(e) => e,
                Ok(mut r) => loop {
                    match r.next_record(&mut || Ok(())) {
                        Ok(Some(_)) => continue,
                        Ok(None) => panic!("cut {cut} read as a clean end"),
                        Err(e) => break e,
                    }
                },
            };
            assert!(
                matches!(err, StreamError::Decode(DecodeError::Len(_))),
                "cut {cut}: {err}"
            );
        }
        // A cut exactly at a record boundary is a clean end.
        let mut r = StreamReader::new(&s[..pre + rec]).unwrap();
        assert!(r.next_record(&mut || Ok(())).unwrap().is_some());
        assert!(r.next_record(&mut || Ok(())).unwrap().is_none());
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn decoding_random_bytes_never_panics(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok((r, _)) = RecordSlice::from_slice(&b, 0)
                && let Ok(e) = EventSlice::from_record(r)
            {
                for a in e.args().map_while(Result::ok) {
                    let _ = a.strings().count();
                    let _ = a.scalar();
                }
            }
        }

        #[test]
        fn items_round_trip(strs in proptest::collection::vec(proptest::collection::vec(1u8..=255, 0..64), 0..8)) {
            let items: Vec<(u8, u8, &[u8])> = strs.iter().enumerate().map(|(i, s)| (i as u8, item::STR, &s[..])).collect();
            let rec = event(&EventContext::default(), &items);
            let (r, _) = RecordSlice::from_slice(&rec, 0).unwrap();
            let e = EventSlice::from_record(r).unwrap();
            let got: Vec<Vec<u8>> = e.args().map(|a| a.unwrap().data.to_vec()).collect();
            prop_assert_eq!(got, strs);
        }
    }

    #[cfg(feature = "user")]
    proptest! {
        #[test]
        fn preamble_random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut s = crate::MAGIC.to_vec();
            s.extend_from_slice(&b);
            let _ = crate::preamble::Preamble::from_slice(&s);
        }
    }
}

#[test]
fn capture_records_round_trip_and_refuse_lies() {
    use crate::capture::{CaptureHeader, artifact, flags};
    let h = CaptureHeader {
        ts: 7,
        ino: 42,
        off: 4096,
        pid: 3,
        tid: 4,
        dev: 0x10300001,
        mnt_ns: 9,
        artifact: artifact::WRITE,
        ftype: 1,
        flags: flags::APPEND,
        len: 5,
        comm: *b"bash\0\0\0\0\0\0\0\0\0\0\0\0",
        name: [0; 16],
        uid: 1000,
        gid: 100,
        cgroup_id: 7,
    };
    let mut b = Vec::new();
    h.write_record(b"hello", &mut b);
    let (r, rest) = RecordSlice::from_slice(&b, 0).unwrap();
    assert!(rest.is_empty());
    let (back, payload) = CaptureHeader::from_record(r).unwrap();
    assert_eq!(back, h);
    assert_eq!(payload, b"hello");
    // A lost notice carries no payload whatever its len says.
    let lost = CaptureHeader {
        flags: flags::LOST,
        len: 1 << 20,
        ..h
    };
    let mut b = Vec::new();
    lost.write_record(&[], &mut b);
    let (r, _) = RecordSlice::from_slice(&b, 0).unwrap();
    assert_eq!(CaptureHeader::from_record(r).unwrap().1, b"");
    // Every cut of a record, and a payload shorter than claimed, is an
    // error, never a panic.
    let mut b = Vec::new();
    h.write_record(b"hello", &mut b);
    for cut in 0..b.len() {
        let mut c = b[..cut].to_vec();
        if c.len() >= 4 {
            c[..4].copy_from_slice(&(cut as u32).to_le_bytes());
        }
        if let Ok((r, _)) = RecordSlice::from_slice(&c, 0) {
            assert!(CaptureHeader::from_record(r).is_err(), "cut at {cut}");
        }
    }
    let bad = CaptureHeader { artifact: 0, ..h };
    let mut b = Vec::new();
    bad.write_record(b"hello", &mut b);
    let (r, _) = RecordSlice::from_slice(&b, 0).unwrap();
    assert!(matches!(
        CaptureHeader::from_record(r),
        Err(DecodeError::UnknownArtifact { .. })
    ));
}
