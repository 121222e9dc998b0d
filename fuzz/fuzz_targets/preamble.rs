//! The preamble decoder, and re-encoding what it accepts.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wire::preamble::Preamble;

fuzz_target!(|data: &[u8]| {
    if let Ok((p, _)) = Preamble::from_slice(data) {
        let again = Preamble::from_slice(&p.to_bytes()).expect("re-encoded preamble decodes");
        assert_eq!(again.0, p);
    }
});
