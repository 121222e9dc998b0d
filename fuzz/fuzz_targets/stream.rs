//! A whole stream through the reader, the filter and every formatter.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tracee_fmt::{Format, Printer};
use wire::reader::StreamReader;
use wire::{EventSlice, kind};

fuzz_target!(|data: &[u8]| {
    let Ok(mut r) = StreamReader::new(data) else {
        return;
    };
    let pre = r.preamble().clone();
    let terms = tracee_filter::parse_all(&["comm=a*", "follow", "pid!=1"]).expect("valid terms");
    let Ok(mut f) = tracee_filter::Filter::compile(&terms, &pre.catalog, 0) else {
        return;
    };
    let mut printers = [Format::Json, Format::Table, Format::TableVerbose]
        .map(|fmt| Printer::new(fmt, true, pre.clone()));
    let mut out = Vec::new();
    while let Ok(Some(rec)) = r.next_record(&mut || Ok(())) {
        if rec.kind() == kind::EVENT {
            let ev = EventSlice::from_record(rec).expect("event kind checked");
            let _ = f.matches(&ev);
            for p in &mut printers {
                out.clear();
                let _ = p.event(&ev, &mut out);
            }
        } else if rec.kind() == kind::PROCESS
            && let Ok(p) = wire::process::Process::from_record(rec)
        {
            f.process(p.clone());
            for pr in &mut printers {
                pr.process(p.clone());
            }
        } else if rec.kind() == kind::CONTAINER
            && let Ok(c) = wire::container::Container::from_record(rec)
        {
            f.container(c.clone());
            for p in &mut printers {
                p.container(c.clone());
            }
        }
    }
});
