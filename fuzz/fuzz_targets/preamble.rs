//! The preamble decoder, and re-encoding what it accepts.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wire::preamble::Preamble;

fuzz_target!(|data: &[u8]| {
    if let Ok((p, _)) = Preamble::from_slice(data) {
        let bytes = p.to_bytes();
        let (again, _) = Preamble::from_slice(&bytes).expect("re-encoded preamble decodes");
        assert_eq!(again, p);
    }
});
