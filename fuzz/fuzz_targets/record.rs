//! One record through every view: header, event context, argument items.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wire::{EndBody, EventSlice, LostBody, RecordSlice, kind};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok((r, next)) = RecordSlice::from_slice(rest, 0) {
        match r.kind() {
            kind::EVENT => {
                let e = EventSlice::from_record(r).expect("event kind checked");
                let _ = (e.pid(), e.comm(), e.retval(), e.uts());
                for a in e.args().map_while(Result::ok) {
                    let _ = a.scalar();
                    let _ = a.strings().count();
                }
            }
            kind::LOST => drop(LostBody::from_record(r)),
            kind::END => drop(EndBody::from_record(r)),
            _ => {}
        }
        rest = next;
    }
});
