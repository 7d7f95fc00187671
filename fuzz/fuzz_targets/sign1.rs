//! COSE_Sign1 decoding never panics and keeps its bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_protocol::cbor::Cbor;
use vouch_protocol::cose::Sign1;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = Sign1::from_cbor(data) {
        assert_eq!(s.to_cbor(), data);
        let _ = s.algorithm();
        let _ = s.to_be_signed();
    }
});
