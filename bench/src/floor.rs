//! The crypto floor: the cryptography an owner (and a device, and a rendezvous server) cannot
//! avoid in one onboarding, timed with vouch's own crypto provider in the same run as the load.
//!
//! Per TO2, for a voucher with one entry (the manufacturer's hand-over to the owner), the
//! owner must: verify the entry's signature (1 verify), sign TO2.ProveOVHdr (1 sign), verify
//! the device's EAT in TO2.ProveDevice (1 verify), make its key-exchange key and finish the
//! exchange, derive the session key (KDF), sign the SetupDevice payload with the new owner
//! key (1 sign), and seal or open each encrypted message (TO2 65–71: eight messages of up to
//! a few hundred bytes for a devmod-only exchange). The device: verify ProveOVHdr and the
//! voucher entry (2 verify), sign its EAT (1 sign), answer the key exchange, KDF, verify
//! SetupDevice (1 verify), the new header's HMAC, and the same eight AEAD operations. A
//! rendezvous server answering TO1 verifies one EAT.

use std::hint::black_box;
use std::time::{Duration, Instant};

use vouch_protocol::crypto::kdf::{self, Prf};
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{CipherSuite, KexSuite, SessionKeys, Signer as _, SigningKey, kex};
use vouch_protocol::types::{HashAlg, PkType};

/// Encrypted TO2 messages (65 to 71, one ServiceInfo round each way).
pub const AEAD_MESSAGES: u32 = 8;
/// Size of an encrypted message in the floor.
const AEAD_BYTES: usize = 512;

/// One cipher suite's primitive costs and the floors built from them.
#[derive(Debug, Clone)]
pub struct Floor {
    pub suite: &'static str,
    pub sign: Duration,
    pub verify: Duration,
    pub kex_owner: Duration,
    pub kex_device: Duration,
    pub kdf: Duration,
    pub aead: Duration,
    pub hmac: Duration,
    pub owner_to2: Duration,
    pub device_to2: Duration,
    pub rendezvous_to1: Duration,
}

/// Mean time of `f` over about `budget` of wall time (at least 20 calls).
fn time<T>(budget: Duration, mut f: impl FnMut() -> T) -> Duration {
    for _ in 0..5 {
        black_box(f());
    }
    let started = Instant::now();
    let mut n = 0u32;
    while n < 20 || started.elapsed() < budget {
        black_box(f());
        n += 1;
    }
    started.elapsed() / n
}

/// Measures the floor of `ES256/ECDH256/A128GCM` (`p384 == false`) or
/// `ES384/ECDH384/A256GCM`.
pub fn measure(p384: bool, budget: Duration) -> Floor {
    let (suite, pk_type, kex_suite, cipher, key_len, hmac_alg) = if p384 {
        (
            "ES384/ECDH384/A256GCM",
            PkType::SECP384R1,
            KexSuite::ECDH384,
            CipherSuite::A256GCM,
            32,
            HashAlg::HMAC_SHA384,
        )
    } else {
        (
            "ES256/ECDH256/A128GCM",
            PkType::SECP256R1,
            KexSuite::ECDH256,
            CipherSuite::A128GCM,
            16,
            HashAlg::HMAC_SHA256,
        )
    };
    let mut rng = SeededRng::new(suite.as_bytes());
    let key = SigningKey::generate(pk_type, &mut rng).expect("key");
    let verifier = key.verifying_key();
    let msg = [0xa5u8; 300];
    let sig = key.sign(&msg).expect("sign");
    let sign = time(budget, || key.sign(&msg).expect("sign"));
    let verify = time(budget, || {
        verifier
            .verify(key.algorithm(), &msg, &sig)
            .expect("verify")
    });

    let (_, x_a) = kex::start(&kex_suite, &mut rng).expect("start");
    let (x_b, _) = kex::respond(&kex_suite, &x_a, &mut rng).expect("respond");
    let kex_owner = time(budget, || {
        let (owner, _) = kex::start(&kex_suite, &mut rng).expect("start");
        owner.finish(&x_b).expect("finish")
    });
    let kex_device = time(budget, || {
        kex::respond(&kex_suite, &x_a, &mut rng).expect("respond")
    });
    let shse = [0x3cu8; 64];
    let mut sevk = vec![0u8; key_len];
    let kdf = time(budget, || {
        kdf::derive(Prf::HmacSha256, &shse, &[], &mut sevk).expect("kdf")
    });
    let keys = SessionKeys::from_sevk(cipher, &vec![0x11; key_len]).expect("key");
    let plaintext = vec![0x5au8; AEAD_BYTES];
    let sealed = keys.seal(&plaintext, &mut rng).expect("seal");
    // Each side seals half the messages and opens the other half: the mean of one of each.
    let seal = time(budget, || keys.seal(&plaintext, &mut rng).expect("seal"));
    let open = time(budget, || keys.open(&sealed).expect("open"));
    let aead = (seal + open) / 2;
    let header = [0x42u8; 300];
    let hmac = time(budget, || {
        vouch_protocol::crypto::hmac(hmac_alg, &[0x77; 32], &header).expect("hmac")
    });

    let owner_to2 = verify * 2 + sign * 2 + kex_owner + kdf + aead * AEAD_MESSAGES;
    let device_to2 = verify * 3 + sign + kex_device + kdf + hmac + aead * AEAD_MESSAGES;
    Floor {
        suite,
        sign,
        verify,
        kex_owner,
        kex_device,
        kdf,
        aead,
        hmac,
        owner_to2,
        device_to2,
        rendezvous_to1: verify,
    }
}
