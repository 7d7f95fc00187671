//! TO2's COSE_Encrypt0 session messages: opening any bytes never panics, and what this side
//! seals opens back to the same plaintext, for both GCM suites.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{CipherSuite, SessionKeys};

fuzz_target!(|data: &[u8]| {
    let keys = [
        SessionKeys::from_sevk(CipherSuite::A128GCM, &[0x42; 16]).expect("A128GCM key"),
        SessionKeys::from_sevk(CipherSuite::A256GCM, &[0x42; 32]).expect("A256GCM key"),
    ];
    for k in &keys {
        let _ = k.open(data);
        let sealed = k.seal(data, &mut SeededRng::new(b"fuzz iv")).expect("seal");
        assert_eq!(k.open(&sealed).expect("our own message opens"), data);
        // The other suite's key never opens it.
        let other = if k.suite() == CipherSuite::A128GCM { &keys[1] } else { &keys[0] };
        assert!(other.open(&sealed).is_err());
    }
});
