//! CSR handling: the relying party's check of a device's PKCS#10 request (DI's MfgInfo CSR,
//! `vouch.tls`, renewal) never panics, and what it accepts holds a key that parses again from
//! the SubjectPublicKeyInfo it reports.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_protocol::crypto::VerifyingKey;

#[path = "../../relying-party/src/csr.rs"]
mod csr;

fuzz_target!(|data: &[u8]| {
    if let Ok(checked) = csr::check(data) {
        let again = VerifyingKey::from_spki_der(&checked.spki_der).expect("the reported key parses");
        assert!(matches!(again, VerifyingKey::P256(_) | VerifyingKey::P384(_)));
        assert_eq!(again.kind(), checked.key.kind());
    }
});
