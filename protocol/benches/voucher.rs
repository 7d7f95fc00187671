#![allow(missing_docs)] // criterion_group! generates undocumented functions
//! Voucher verification cost by number of entries (ES256 and ES384 chains), against the cost of
//! the signature verifications it must do. Verification should grow linearly with entries and
//! stay close to `n` ECDSA verifications.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use vouch_protocol::cbor::Cbor;
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{CryptoProvider, RustCrypto, Signer, SigningKey};
use vouch_protocol::types::{Guid, HashAlg, PkEnc, PkType, RendezvousInfo};
use vouch_protocol::voucher::{OvHeader, OwnershipVoucher};

const C: RustCrypto = RustCrypto;

fn voucher(pk_type: PkType, entries: usize) -> OwnershipVoucher {
    let mut rng = SeededRng::new(b"bench voucher");
    let alg = if pk_type == PkType::SECP256R1 {
        HashAlg::SHA256
    } else {
        HashAlg::SHA384
    };
    let mfg = SigningKey::generate(pk_type, &mut rng).unwrap();
    let chain = vec![vec![0x30; 500], vec![0x30; 700]];
    let header = OvHeader::new(
        &C,
        Guid([1; 16]),
        RendezvousInfo::default(),
        "bench device",
        mfg.public_key(PkEnc::X509).unwrap(),
        Some(&chain),
        alg,
    )
    .unwrap();
    let hmac = C
        .hmac(
            alg.hmac_counterpart().unwrap(),
            b"secret",
            &header.to_cbor(),
        )
        .unwrap();
    let mut ov = OwnershipVoucher::new(&C, header, hmac, Some(chain)).unwrap();
    let mut owner = mfg;
    for _ in 0..entries {
        let next = SigningKey::generate(pk_type, &mut rng).unwrap();
        ov = ov
            .extend(&C, &owner, next.public_key(PkEnc::X509).unwrap())
            .unwrap();
        owner = next;
    }
    ov
}

fn verify_by_entries(c: &mut Criterion) {
    for (name, t) in [("ES256", PkType::SECP256R1), ("ES384", PkType::SECP384R1)] {
        let mut g = c.benchmark_group(format!("voucher/verify/{name}"));
        for n in [1usize, 2, 4, 8, 16] {
            let ov = voucher(t, n);
            let bytes = ov.to_cbor();
            g.bench_with_input(BenchmarkId::new("entries", n), &bytes, |b, bytes| {
                b.iter(|| {
                    OwnershipVoucher::from_cbor(bytes)
                        .unwrap()
                        .verify(&C, Some(b"secret"), None)
                        .unwrap()
                })
            });
        }
        g.finish();
    }
}

fn decode_and_extend(c: &mut Criterion) {
    let ov = voucher(PkType::SECP256R1, 4);
    let bytes = ov.to_cbor();
    c.bench_function("voucher/decode/4 entries", |b| {
        b.iter(|| OwnershipVoucher::from_cbor(&bytes).unwrap())
    });
    let mut rng = SeededRng::new(b"bench extend");
    let owner = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
    let ov0 = voucher(PkType::SECP256R1, 0);
    // the manufacturer key of `voucher` is the first key drawn from the same seed
    let mfg =
        SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"bench voucher")).unwrap();
    let next = owner.public_key(PkEnc::X509).unwrap();
    c.bench_function("voucher/extend/0 -> 1 entry", |b| {
        b.iter(|| ov0.extend(&C, &mfg, next.clone()).unwrap())
    });
}

criterion_group!(benches, verify_by_entries, decode_and_extend);
criterion_main!(benches);
