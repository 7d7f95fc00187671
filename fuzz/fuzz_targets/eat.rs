//! The device's attestation (EAT, a COSE_Sign1 over a claims map) and its claims, as the
//! owner and the rendezvous server read them: never a panic; a decoded EAT keeps its bytes and
//! decoded claims re-encode to claims that decode the same.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_protocol::cbor::Cbor;
use vouch_protocol::eat::{Eat, EatClaims};
use vouch_protocol::types::Guid;

fuzz_target!(|data: &[u8]| {
    if let Ok(eat) = Eat::from_cbor(data) {
        assert_eq!(eat.to_cbor(), data, "EAT re-encoding differs");
    }
    if let Ok(claims) = EatClaims::from_cbor(data) {
        let ours = claims.to_cbor();
        let again = EatClaims::from_cbor(&ours).expect("our encoding decodes");
        assert_eq!(again.to_cbor(), ours);
        let _ = claims.check_ueid(&Guid([0; 16]));
        let _ = claims.fdo_raw();
    }
});
