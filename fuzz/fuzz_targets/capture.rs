//! A capture sidecar through tracee-capture, into a scratch directory
//! under a small budget: any bytes give artifacts or an error, never a
//! panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wire::capture::CaptureHeader;
use wire::reader::StreamReader;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut r) = StreamReader::new(data) {
        while let Ok(Some(rec)) = r.next_record(&mut || Ok(())) {
            if let Ok((h, p)) = CaptureHeader::from_record(rec) {
                assert!(h.flags & wire::capture::flags::LOST != 0 || p.len() == h.len as usize);
            }
        }
    }
    let o = tracee_capture::Options {
        dir: std::path::PathBuf::from(format!("/dev/shm/tracee-fuzz-capture-{}", std::process::id())),
        clear: true,
        max_size: Some(1 << 20),
    };
    let _ = tracee_capture::run(data, &o);
});
