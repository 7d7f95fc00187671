//! RendezvousInfo decoding and typed reading of every value never panic, and the encoding
//! is canonical: decode → encode returns the input when it was canonical CBOR.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_protocol::cbor::Cbor;
use vouch_protocol::types::RendezvousInfo;

fuzz_target!(|data: &[u8]| {
    if let Ok(rv) = RendezvousInfo::from_cbor(data) {
        for d in &rv.0 {
            for i in &d.0 {
                let _ = i.typed();
            }
        }
        let again = RendezvousInfo::from_cbor(&rv.to_cbor()).expect("our encoding decodes");
        assert_eq!(again, rv);
        let _ = rv.to_string();
    }
});
