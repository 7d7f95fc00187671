//! The reports an onboarded device signs for its owner (WebTransport rotation, certificate
//! renewal): decoding and verifying any bytes never panics; decoded payloads round-trip; a
//! report signed here verifies, and with any byte of it changed does not.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_protocol::cbor::Cbor;
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{RustCrypto, Signer as _, SigningKey};
use vouch_protocol::reports::renewal::RenewRequest;
use vouch_protocol::reports::rotation::WtRotation;
use vouch_protocol::types::{Guid, PkEnc, PkType};

const NOW: u64 = 1_750_000_000;

fn key() -> &'static SigningKey {
    static KEY: std::sync::OnceLock<SigningKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"device")).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let key = key();
    let pk = key.public_key(PkEnc::X509).unwrap();
    let guid = Guid([0x11; 16]);

    if let Ok(r) = WtRotation::from_cbor(data) {
        assert_eq!(WtRotation::from_cbor(&r.to_cbor()).unwrap(), r);
    }
    if let Ok(r) = RenewRequest::from_cbor(data) {
        assert_eq!(RenewRequest::from_cbor(&r.to_cbor()).unwrap(), r);
    }
    let _ = WtRotation::verify(data, &RustCrypto, &pk, guid, NOW);
    let _ = RenewRequest::verify(data, &RustCrypto, &pk, guid, NOW);

    // A genuine report with one byte changed (position and value from the input) fails; on a
    // sixteenth of the inputs, since signing is slow.
    if data.len() >= 2 && data[0] & 0x0f == 0 {
        let report = RenewRequest { guid, csr: data.to_vec(), issued_at: NOW }
            .sign(key)
            .unwrap();
        assert!(RenewRequest::verify(&report, &RustCrypto, &pk, guid, NOW).is_ok());
        let mut changed = report.clone();
        let i = usize::from(data[0]) * 7 % changed.len();
        changed[i] ^= data[1] | 1;
        assert!(RenewRequest::verify(&changed, &RustCrypto, &pk, guid, NOW).is_err());
    }
});
