//! Benchmarks of the cryptographic primitives one TO2 session uses.
//!
//! Run with `cargo bench -p vouch-protocol --bench primitives -- --quick`. Every input is
//! fixed or drawn from [`SeededRng`], so runs compare like with like.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vouch_protocol::crypto::kdf::{self, Prf};
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{
    CipherSuite, KexSuite, SessionKeys, SigAlg, Signer, SigningKey, VerifyingKey, kex,
};
use vouch_protocol::types::{HashAlg, PkType, PublicKey};

/// A TO2 message header's worth of bytes, the size HMAC'd for OVHeaderHMac.
const HEADER_LEN: usize = 300;

// RS256: keys cannot be generated without enabling more of the `rsa` crate, so this bench
// verifies a real signature instead: entry 0 of go-fdo `testdata/ov_extended.pem` (FIDO
// conformance voucher, RSA2048RESTR keys), as in `vectors/external/go-fdo/testdata/`.
/// The manufacturer key (OVHeader.OVPubKey, RSA2048RESTR, X509): DER SubjectPublicKeyInfo.
const RS256_SPKI: &str = "30820122300d06092a864886f70d01010105000382010f003082010a0282010100c9f379b7e80c10\
    ba4935d4237835e0240706b2bca2e30ad53c403e6380a01af49614d0b40aa2789791a7fb82291e70\
    3526a0b9c1a17e69a82141f1e455de9a923c18445f3d223f660a1a4349ab94649a3130aa577fecdb\
    8224f7d2bbb344675821175f5a061a674a663c2d5248a91d85444a26b004e0526992e15c5a7b24d5\
    90c95e00aa12a92085ed281e9cd783673f13a6d55a1d2715ae3348f5a3b53bfa62355527993d343a\
    4047b785be4b87cc0ee056f7a7f7b8a8d2e03b5dc3d0791f1a2724b2249f720f4bd5c4e03d8b518b\
    7118b1f206c3bb411523d81da4b8bbe153ca984c0d17b4aa7ae90b1c3d99fd4d2c2176a0519edce7\
    a4103ee2e545056fdd0203010001";
/// `Sig_structure` of OVEntry 0: `["Signature1", h'a101390100', h'', payload]`.
const RS256_TBS: &str = "846a5369676e61747572653145a1013901004059017684822f582081b7cd642c08f37f26210df6d1\
    a2b2ba68044b423b067e7016180d27cde41d04822f58207e28cd1db1b6eec2ad1062ffcfa6072c52\
    e2c4488cb926d3ab0799c8ac14c8c7f683010159012630820122300d06092a864886f70d01010105\
    000382010f003082010a0282010100b0ae4408507374868f09c32c97530d64547fa504ee2df05834\
    cc382734aeaed4b487a24fdaaae1235fd45ad722c6dd133234e82f155f0f0c4f9457923c0e169c6d\
    7f3638d1db78a881ca256824bf97ecd11563e677bb538e77a8a883423865737df3f13f66121d2eea\
    244d71911e7b5a0e5b106b5aec190c1169ca1fa215e92930477351eead665cee4e9150cfdf1a7da9\
    bd0da0dcb12fd5f879c72753e093327135e09b74d021800272b9d514bbe10dc8437c0522f8296ded\
    e382f7c471ccfecc853d002da8978cb9ac8a823c49be8143e86a88aac73a5d072440cbfe385e7829\
    704f79c30a725f24a987a70a7a2764726bc6e15df35aea0d5c4bc6993f4f270203010001";
/// The RS256 signature of OVEntry 0.
const RS256_SIG: &str = "5433235c1ba4bb0ff65d30b93c167bc87b63ae0a5c0acc39f7acff91920d7685618a28db5d2ebaee\
    ed8d970524aaf0c4404fd878155000949e326fac3e918558376e441d4db7e870c7e0936affb11fa9\
    10e6da12ef594f32c140dbd1379f3d9da0941005fe731b84ea34e1cadab7c26ac8d437f5ccc90ed8\
    39476a0c06d64877cff9de94ca4564a39f3e33cb0832fabd110b99503e3da6d9d4ea2c8d63e1e472\
    5c7273bd49b01aec7a08ce5acc2f074b1acbad27b1aeca081d8ed448fc71ddbf3ccbe8820c7faa28\
    d478f80eae1c5b350878cecc2c827ffdf83d79df7638abb35d44e107bc62980c81802ef68b19533f\
    d0d6fe77a67d7bad444f9b99891f8d36";
fn signatures(c: &mut Criterion) {
    let msg = [0xa5u8; HEADER_LEN];
    let mut group = c.benchmark_group("sig");
    for (name, pk_type) in [("ES256", PkType::SECP256R1), ("ES384", PkType::SECP384R1)] {
        let key = SigningKey::generate(pk_type, &mut SeededRng::new(name.as_bytes()))
            .expect("generate a key");
        let verifier = key.verifying_key();
        let sig = key.sign(&msg).expect("sign");
        verifier
            .verify(key.algorithm(), &msg, &sig)
            .expect("own signature verifies");
        group.bench_function(format!("{name} sign"), |b| {
            b.iter(|| key.sign(black_box(&msg)))
        });
        group.bench_function(format!("{name} verify"), |b| {
            b.iter(|| verifier.verify(key.algorithm(), black_box(&msg), black_box(&sig)))
        });
    }

    let hex = |s: &str| hex::decode(s).expect("hex constant");
    let spki = hex(RS256_SPKI);
    let tbs = hex(RS256_TBS);
    let sig = hex(RS256_SIG);
    let rsa = VerifyingKey::from_public_key(&PublicKey::x509(PkType::RSA2048RESTR, spki))
        .expect("RSA 2048 SubjectPublicKeyInfo");
    rsa.verify(SigAlg::RS256, &tbs, &sig)
        .expect("ov_extended entry 0 verifies");
    group.bench_function("RS256 verify (2048)", |b| {
        b.iter(|| rsa.verify(SigAlg::RS256, black_box(&tbs), black_box(&sig)))
    });
    group.finish();
}

fn key_exchange(c: &mut Criterion) {
    let mut group = c.benchmark_group("kex");
    for suite in [KexSuite::ECDH256, KexSuite::ECDH384] {
        let mut rng = SeededRng::new(suite.as_str().as_bytes());
        let mut exchange = move || {
            let (owner, x_a) = kex::start(&suite, &mut rng).expect("start");
            let (x_b, device) = kex::respond(&suite, &x_a, &mut rng).expect("respond");
            (owner.finish(&x_b).expect("finish"), device)
        };
        let (owner, device) = exchange();
        assert_eq!(owner.shse(), device.shse(), "both sides agree");
        group.bench_function(format!("{} full exchange", owner.suite()), |b| {
            b.iter(&mut exchange)
        });
    }
    group.finish();
}

fn key_derivation(c: &mut Criterion) {
    // An ECDH256 ShSe: Shx[32] ‖ DeviceRandom[16] ‖ OwnerRandom[16].
    let shse = [0x3cu8; 64];
    let mut group = c.benchmark_group("kdf");
    for bits in [128usize, 256] {
        group.bench_function(format!("HMAC-SHA256 L={bits}"), |b| {
            let mut out = vec![0u8; bits / 8];
            b.iter(|| kdf::derive(Prf::HmacSha256, black_box(&shse), &[], &mut out))
        });
    }
    group.finish();
}

fn session_encryption(c: &mut Criterion) {
    let mut group = c.benchmark_group("aead seal+open");
    for suite in [CipherSuite::A128GCM, CipherSuite::A256GCM] {
        let len = if suite == CipherSuite::A128GCM {
            16
        } else {
            32
        };
        let keys = SessionKeys::from_sevk(suite, &vec![0x11; len]).expect("key");
        let mut rng = SeededRng::new(b"aead bench");
        for kib in [1usize, 16] {
            let plaintext = vec![0x5au8; kib * 1024];
            group.throughput(Throughput::Bytes(plaintext.len() as u64));
            group.bench_function(format!("{suite} {kib} KiB"), |b| {
                b.iter(|| {
                    let sealed = keys.seal(black_box(&plaintext), &mut rng).expect("seal");
                    keys.open(&sealed).expect("open")
                })
            });
        }
    }
    group.finish();
}

fn header_hmac(c: &mut Criterion) {
    let key = [0x77u8; 32];
    let header = [0x42u8; HEADER_LEN];
    let mut group = c.benchmark_group("hmac");
    group.throughput(Throughput::Bytes(HEADER_LEN as u64));
    group.bench_function("HMAC-SHA256 300 B", |b| {
        b.iter(|| vouch_protocol::crypto::hmac(HashAlg::HMAC_SHA256, &key, black_box(&header)))
    });
    group.finish();
}

/// `criterion_group!` defines a public function without docs; a private module keeps it out of
/// the `missing_docs` lint.
mod group {
    use super::*;

    criterion_group!(
        benches,
        signatures,
        key_exchange,
        key_derivation,
        session_encryption,
        header_hmac
    );
}

criterion_main!(group::benches);
