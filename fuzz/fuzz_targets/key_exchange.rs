//! The key exchange parameters a peer sends (xA to the device, xB to the owner), for ECDH256
//! and ECDH384: any bytes are refused or accepted without a panic, and an accepted exchange
//! gives both sides the same secret.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_protocol::crypto::kex::{self, KexSuite};
use vouch_protocol::crypto::test::SeededRng;

fuzz_target!(|data: &[u8]| {
    for suite in [KexSuite::ECDH256, KexSuite::ECDH384] {
        // The device answering a fuzzed xA.
        let _ = kex::respond(&suite, data, &mut SeededRng::new(b"device"));
        // The owner finishing with a fuzzed xB.
        let (owner, _x_a) = kex::start(&suite, &mut SeededRng::new(b"owner")).expect("start");
        let _ = owner.finish(data);
        // A genuine exchange agrees (on a few inputs only: key generation is slow).
        if data.first() != Some(&0xa5) {
            continue;
        }
        let (owner, x_a) = kex::start(&suite, &mut SeededRng::new(data)).expect("start");
        let (x_b, device) = kex::respond(&suite, &x_a, &mut SeededRng::new(b"d")).expect("respond");
        let owner = owner.finish(&x_b).expect("finish");
        assert_eq!(owner.shse(), device.shse());
        assert_eq!(owner.context_rand(), device.context_rand());
    }
});
