//! The expression parser, and compiling what it accepts.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wire::preamble::Catalog;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let exprs: Vec<&str> = s.split('\n').collect();
    if let Ok(terms) = tracee_filter::parse_all(&exprs) {
        let _ = tracee_filter::Filter::compile(&terms, &Catalog::default(), 0);
    }
});
