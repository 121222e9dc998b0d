//! The ring's tests: both sides in one process, and files planted by others.

use std::fs::OpenOptions;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use wire::{LostBody, kind, lost_reason};

use super::layout::*;
use super::*;

fn tmp(tag: &str) -> PathBuf {
    let p = PathBuf::from(format!("/dev/shm/tracee-unit-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// Units of every size from 1 to 700 bytes go through a ring of the
/// smallest capacity, enough of them to wrap it twice, so the wrap point
/// falls inside units at every size; the bytes come out unchanged.
#[test]
fn wraps_at_every_unit_size() {
    let path = tmp("wrap");
    for size in 1..=700usize {
        let mut w = RingWriter::create(&path, MIN_CAPACITY, WhenFull::Block).unwrap();
        let mut r = RingReader::open(&path, Duration::from_secs(1)).unwrap();
        let count = (2 * MIN_CAPACITY as usize) / size + 3;
        let unit = move |i: usize| -> Vec<u8> {
            (0..size).map(|j| (i * 31 + j * 7 + size) as u8).collect()
        };
        let writer = std::thread::spawn(move || {
            for i in 0..count {
                w.write_unit(&unit(i)).unwrap();
            }
            w.end().unwrap();
        });
        let mut got = Vec::new();
        let mut buf = vec![0u8; 4093];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        writer.join().unwrap();
        let want: Vec<u8> = (0..count).flat_map(unit).collect();
        assert_eq!(got.len(), want.len(), "size {size}");
        assert!(got == want, "size {size}: bytes differ");
        drop(r);
        assert!(!path.exists(), "size {size}: the ended ring is removed");
    }
}

/// An event record of 100 bytes (its header only matters to the ring).
fn event_of_100_bytes() -> Vec<u8> {
    let mut ev = vec![0u8; 100];
    ev[0..4].copy_from_slice(&100u32.to_le_bytes());
    ev[4..6].copy_from_slice(&kind::EVENT.to_le_bytes());
    ev
}

/// With no reader draining it, a full ring drops events and then
/// tells the reader how many, in a lost-events record.
#[test]
fn a_full_ring_drops_events_and_says_how_many() {
    let path = tmp("drop");
    let mut w = RingWriter::create(&path, MIN_CAPACITY, WhenFull::Drop).unwrap();
    let ev = event_of_100_bytes();
    let fits = (MIN_CAPACITY / 100) as usize;
    for _ in 0..fits + 50 {
        w.write_unit(&ev).unwrap();
    }
    assert_eq!(w.dropped(), 50);
    let mut r = RingReader::open(&path, Duration::from_secs(1)).unwrap();
    let mut all = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    // Drain, then write one more: the notice goes first.
    while all.len() < fits * 100 {
        let n = r.read(&mut buf).unwrap();
        all.extend_from_slice(&buf[..n]);
    }
    w.write_unit(&ev).unwrap();
    w.end().unwrap();
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        all.extend_from_slice(&buf[..n]);
    }
    let rest = &all[fits * 100..];
    let (rec, _) = wire::RecordSlice::from_slice(rest, 0).unwrap();
    assert_eq!(rec.kind(), kind::LOST);
    let lost = LostBody::from_record(rec);
    assert_eq!((lost.count, lost.reason), (50, lost_reason::OUTPUT_FULL));
    assert_eq!(&rest[rec.bytes().len()..], &ev[..]);
}

#[test]
fn capacities_and_specs_are_checked() {
    assert_eq!(parse_capacity("16M"), Some(16 << 20));
    assert_eq!(parse_capacity("128K"), Some(128 << 10));
    assert_eq!(parse_capacity("100K"), None);
    assert_eq!(parse_capacity("4K"), None);
    assert_eq!(parse_capacity("8G"), None);
    assert_eq!(parse_capacity("x"), None);
    assert_eq!(parse_spec("ring:/dev/shm/a"), Some(Path::new("/dev/shm/a")));
    assert_eq!(parse_spec("/dev/shm/a"), None);
    let p = tmp("cap");
    assert!(RingWriter::create(&p, 3 << 20, WhenFull::Drop).is_err());
}

/// A header with a wrong version or a capacity that does not match the
/// file is refused with a message, never read.
#[test]
fn a_damaged_header_is_refused() {
    use std::io::{Seek, SeekFrom, Write};
    for (off, bytes, want) in [
        (OFF_VERSION, 9u64.to_le_bytes(), "version 9"),
        (OFF_CAPACITY, (1u64 << 20).to_le_bytes(), "capacity"),
        (OFF_CAPACITY, 12345u64.to_le_bytes(), "capacity"),
    ] {
        let p = tmp("damaged");
        let w = RingWriter::create(&p, MIN_CAPACITY, WhenFull::Drop).unwrap();
        let mut f = OpenOptions::new().write(true).open(&p).unwrap();
        f.seek(SeekFrom::Start(off as u64)).unwrap();
        let n = if off == OFF_VERSION { 4 } else { 8 };
        f.write_all(&bytes[..n]).unwrap();
        let e = RingReader::open(&p, Duration::from_millis(10))
            .err()
            .unwrap();
        assert!(e.to_string().contains(want), "{e}");
        drop(w);
        let _ = std::fs::remove_file(&p);
    }
}

/// A reader only briefly behind loses nothing: a full ring in drop mode
/// waits a little for room before it drops.
#[test]
fn a_reader_briefly_behind_loses_nothing() {
    let path = tmp("brief");
    let mut w = RingWriter::create(&path, MIN_CAPACITY, WhenFull::Drop).unwrap();
    let ev = event_of_100_bytes();
    let fits = (MIN_CAPACITY / 100) as usize;
    for _ in 0..fits {
        w.write_unit(&ev).unwrap();
    }
    let p = path.clone();
    let reader = std::thread::spawn(move || {
        let mut r = RingReader::open(&p, Duration::from_secs(1)).unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let mut got = 0;
        while got < (fits + 50) * 100 {
            got += r.read(&mut buf).unwrap();
        }
        got
    });
    for _ in 0..50 {
        w.write_unit(&ev).unwrap();
    }
    assert_eq!(w.dropped(), 0);
    assert_eq!(reader.join().unwrap(), (fits + 50) * 100);
}
