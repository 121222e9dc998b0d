//! Packets through the network events' parsers (etherparse, simple-dns,
//! httparse) and the pcap snap-length cut: any bytes give events whose
//! JSON arguments are JSON, or none, never a panic; a cut packet is never
//! longer than asked.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tracee_collect::net::{Deriver, PACKET_EVENTS, pcap};
use wire::build::EventBuilder;
use wire::{EventContext, event_id, item};

fuzz_target!(|data: &[u8]| {
    let Some((&first, pkt)) = data.split_first() else {
        return;
    };
    let ctx = EventContext {
        event_id: event_id::NET_PACKET_BASE,
        pid: u32::from(first),
        ..Default::default()
    };
    let rec = EventBuilder::new(&ctx)
        .scalar(0, u64::from(first & 1))
        .scalar(1, pkt.len() as u64)
        .item(2, item::BYTES, &pkt[..pkt.len().min(65535)])
        .finish();
    let (r, _) = wire::RecordSlice::from_slice(&rec, 0).unwrap();
    let ev = wire::EventSlice::from_record(r).unwrap();
    let mut all: std::collections::BTreeSet<u32> = PACKET_EVENTS.into_iter().collect();
    all.insert(event_id::NET_TCP_CONNECT);
    let mut d = Deriver::new(&all);
    let mut out = Vec::new();
    // Twice: the second time through the flow table.
    d.packet(&ev, &mut out);
    d.packet(&ev, &mut out);
    let cat = tracee_collect::events::catalog();
    for o in &out {
        let (r, rest) = wire::RecordSlice::from_slice(o, 0).expect("a record");
        assert!(rest.is_empty());
        let e = wire::EventSlice::from_record(r).expect("an event");
        let def = cat.get(e.event_id()).expect("a catalogued event");
        for a in e.args() {
            let a = a.expect("an item");
            if def.args[a.index as usize].ty == wire::preamble::ArgType::Json {
                serde_json::from_slice::<serde_json::Value>(a.data).expect("JSON");
            }
        }
    }
    let _ = d.tcp_connect(&ev);
    for snap in [None, Some(0), Some(96), Some(u32::from(first))] {
        let k = pcap::keep(pkt, snap);
        assert!(k <= pkt.len());
        assert_eq!(pcap::cut(pkt, k).len(), k);
    }
});
