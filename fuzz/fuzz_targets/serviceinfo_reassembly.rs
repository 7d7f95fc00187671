//! ServiceInfo key/values as they arrive across messages: the reassembler never panics on any
//! sequence, never buffers past its cap, and every value it hands out is one complete CBOR
//! item. Whatever the chunker cuts for a peer's size limit, the reassembler puts back together
//! exactly.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_protocol::cbor::{Cbor, Decoder};
use vouch_protocol::serviceinfo::chunk::{Chunker, Reassembler};
use vouch_protocol::types::{ServiceInfo, ServiceInfoKv};

const CAP: usize = 4096;

fn complete_item(value: &[u8]) -> bool {
    let mut d = Decoder::new(value);
    matches!(d.item("item"), Ok(item) if item.len() == value.len())
}

fuzz_target!(|data: &[u8]| {
    let Some((&limit_byte, body)) = data.split_first() else { return };
    let Ok(info) = ServiceInfo::from_cbor(body) else { return };

    // Received as they are: refused or put together, never a panic nor a partial item.
    let mut r = Reassembler::new(CAP);
    let mut logical: Vec<ServiceInfoKv> = Vec::new();
    let mut refused = false;
    for kv in info.0.iter().cloned() {
        match r.push(kv) {
            Ok(out) => {
                for kv in &out {
                    assert!(complete_item(&kv.value), "a value handed out is not one CBOR item");
                }
                logical.extend(out);
            }
            Err(_) => {
                refused = true;
                break;
            }
        }
    }
    if refused || r.finish().is_err() {
        return;
    }

    // What was accepted, sent again through the chunker under a small limit, comes back the
    // same.
    let limit = 64 + u16::from(limit_byte) * 4;
    let mut chunker = Chunker::new();
    for kv in logical.iter().cloned() {
        chunker.push(kv);
    }
    let mut again = Reassembler::new(usize::MAX);
    let mut out = Vec::new();
    let mut messages = 0;
    while !chunker.is_empty() {
        let Ok(message) = chunker.next_message(limit) else { return };
        messages += 1;
        assert!(messages < 100_000, "the chunker does not make progress");
        // Each message survives its own encoding.
        let message = ServiceInfo::from_cbor(&message.to_cbor()).expect("our encoding decodes");
        for kv in message.0 {
            out.extend(again.push(kv).expect("our own chunks reassemble"));
        }
    }
    again.finish().expect("nothing left unfinished");
    assert_eq!(out, logical);
});
