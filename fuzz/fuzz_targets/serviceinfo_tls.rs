//! The `vouch.tls` ServiceInfo values never panic when decoded, by type or by message name,
//! and what decodes re-encodes to something that decodes to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_protocol::cbor::Cbor;
use vouch_protocol::serviceinfo::tls::{
    CertChain, CsrRequest, DeviceMessage, Enroll, OwnerMessage,
};

fn round_trips<T: Cbor + PartialEq + core::fmt::Debug>(data: &[u8]) {
    if let Ok(v) = T::from_cbor(data) {
        let again = T::from_cbor(&v.to_cbor()).expect("our encoding decodes");
        assert_eq!(again, v);
    }
}

fuzz_target!(|data: &[u8]| {
    round_trips::<Enroll>(data);
    round_trips::<CsrRequest>(data);
    round_trips::<CertChain>(data);
    for name in ["active", "enroll", "cert", "error", "csr"] {
        if let Ok(m) = OwnerMessage::decode(name, data)
            && let Some(sent) = m.to_module_message()
        {
            assert_eq!(OwnerMessage::decode(&sent.message, &sent.value).unwrap(), m);
        }
        let _ = DeviceMessage::decode(name, data);
    }
});
