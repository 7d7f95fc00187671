//! Device credentials (ours and fdo-rs' dc.bin) never panic; ours round-trips.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_protocol::cbor::Cbor;
use vouch_protocol::credential::DeviceCredential;

fuzz_target!(|data: &[u8]| {
    if let Ok(dc) = DeviceCredential::from_any(data) {
        let again = DeviceCredential::from_cbor(&dc.to_cbor()).expect("our encoding decodes");
        assert_eq!(again, dc);
    }
});
