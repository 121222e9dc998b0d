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
            kind::PROCESS => drop(wire::process::Process::from_record(r)),
            kind::CONTAINER => {
                if let Ok(c) = wire::container::Container::from_record(r) {
                    // What decodes encodes, and decodes the same again.
                    let again = c.to_record();
                    let (r2, _) = RecordSlice::from_slice(&again, 0).expect("frames");
                    let c2 = wire::container::Container::from_record(r2).expect("decodes");
                    assert_eq!(c2.cgroup_id, c.cgroup_id);
                }
            }
            _ => {}
        }
        rest = next;
    }
});
