//! Voucher tests: creation, extension, and one test per way of breaking a voucher, each
//! asserting the specific check that refuses it.

use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::crypto::test::SeededRng;
use crate::crypto::{RustCrypto, SigningKey};
use crate::types::{PkEnc, RvDirective, RvInstruction, RvVariable};

const C: RustCrypto = RustCrypto;
const SECRET: &[u8] = b"device HMAC secret: 32 bytes....";

struct Fixture {
    owners: Vec<SigningKey>,
    voucher: OwnershipVoucher,
    credential: DeviceCredential,
}

fn chain() -> Vec<Vec<u8>> {
    vec![
        b"device leaf certificate".to_vec(),
        b"device CA certificate".to_vec(),
    ]
}

fn rv_info() -> RendezvousInfo {
    RendezvousInfo(vec![RvDirective(vec![
        RvInstruction::dns("rv.example"),
        RvInstruction::uint(RvVariable::DEV_PORT, 8041),
        RvInstruction::uint(RvVariable::PROTOCOL, 1),
    ])])
}

/// A voucher made by a P-256 (or P-384) manufacturer and extended `entries` times.
fn fixture_with(pk_type: PkType, enc: PkEnc, entries: usize) -> Fixture {
    let mut rng = SeededRng::new(b"voucher fixture");
    let mfg = SigningKey::generate(pk_type, &mut rng).unwrap();
    let alg = if pk_type == PkType::SECP256R1 {
        HashAlg::SHA256
    } else {
        HashAlg::SHA384
    };
    let header = OvHeader::new(
        &C,
        Guid([7; 16]),
        rv_info(),
        "vouch test device",
        mfg.public_key(enc).unwrap(),
        Some(&chain()),
        alg,
    )
    .unwrap();
    let hmac = C
        .hmac(alg.hmac_counterpart().unwrap(), SECRET, &header.to_cbor())
        .unwrap();
    let mut voucher = OwnershipVoucher::new(&C, header, hmac, Some(chain())).unwrap();
    let credential = DeviceCredential {
        active: true,
        protocol_version: ProtocolVersion::V101,
        hmac_secret: Some(zeroize::Zeroizing::new(SECRET.to_vec())),
        device_info: "vouch test device".into(),
        guid: Guid([7; 16]),
        rv_info: rv_info(),
        pub_key_hash: C
            .hash(alg, &[voucher.header().manufacturer_key.bytes()])
            .unwrap(),
        device_key: None,
    };
    let mut owners = vec![mfg];
    for _ in 0..entries {
        let next = SigningKey::generate(pk_type, &mut rng).unwrap();
        voucher = voucher
            .extend(&C, owners.last().unwrap(), next.public_key(enc).unwrap())
            .unwrap();
        owners.push(next);
    }
    Fixture {
        owners,
        voucher,
        credential,
    }
}

fn fixture(entries: usize) -> Fixture {
    fixture_with(PkType::SECP256R1, PkEnc::X509, entries)
}

fn verify_bytes(bytes: &[u8], secret: Option<&[u8]>) -> Result<VerifiedVoucher, Error> {
    OwnershipVoucher::from_cbor(bytes)?.verify(&C, secret, None)
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present")
}

/// Flips one bit at `offset` inside the first occurrence of `part` in `bytes`.
fn flipped(bytes: &[u8], part: &[u8], offset: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[find(bytes, part) + offset] ^= 0x01;
    out
}

fn expect_verify(result: Result<VerifiedVoucher, Error>, want: VerifyError) {
    match result {
        Err(Error::Verify(got)) => assert_eq!(got, want),
        Err(other) => panic!("expected {want:?}, got {other}"),
        Ok(_) => panic!("expected {want:?}, but the voucher verified"),
    }
}

fn with_entries(v: &OwnershipVoucher, entries: Vec<OvEntry>) -> Vec<u8> {
    let mut t = v.clone();
    t.entries = entries;
    t.to_cbor()
}

#[test]
fn created_and_extended_vouchers_verify_and_round_trip() {
    for (t, enc) in [
        (PkType::SECP256R1, PkEnc::X509),
        (PkType::SECP256R1, PkEnc::COSEKEY),
        (PkType::SECP384R1, PkEnc::X509),
        (PkType::SECP384R1, PkEnc::COSEKEY),
    ] {
        let f = fixture_with(t, enc, 3);
        let bytes = f.voucher.to_cbor();
        let back = OwnershipVoucher::from_cbor(&bytes).unwrap();
        assert_eq!(back.to_cbor(), bytes);
        let pem = f.voucher.to_pem();
        assert!(pem.starts_with("-----BEGIN OWNERSHIP VOUCHER-----"));
        assert_eq!(
            OwnershipVoucher::from_bytes(pem.as_bytes())
                .unwrap()
                .to_cbor(),
            bytes
        );
        let v = back.verify(&C, None, Some(&f.credential)).unwrap();
        assert!(v.hmac_checked());
        assert_eq!(v.chain_hash_form(), Some(ChainHashForm::Concatenated));
        let want = f.owners.last().unwrap().public_key(enc).unwrap();
        assert!(C.same_key(v.owner_key(), &want).unwrap());
        v.require_entries().unwrap();
    }
}

#[test]
fn zero_entry_voucher_verifies_but_is_not_enough_for_to0() {
    let f = fixture(0);
    let v = f.voucher.clone().verify(&C, Some(SECRET), None).unwrap();
    assert_eq!(
        v.require_entries().unwrap_err(),
        Error::Verify(VerifyError::NoEntries)
    );
}

#[test]
fn extend_refuses_a_signer_that_is_not_the_owner() {
    let f = fixture(1);
    let mut rng = SeededRng::new(b"stranger");
    let stranger = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
    let err = f
        .voucher
        .extend(&C, &stranger, stranger.public_key(PkEnc::X509).unwrap())
        .unwrap_err();
    assert_eq!(err, Error::Verify(VerifyError::OwnerKeyMismatch));
    // the previous owner (manufacturer) is no longer the owner either
    let err = f
        .voucher
        .extend(&C, &f.owners[0], stranger.public_key(PkEnc::X509).unwrap())
        .unwrap_err();
    assert_eq!(err, Error::Verify(VerifyError::OwnerKeyMismatch));
}

#[test]
fn extend_refuses_a_next_owner_of_another_type_or_encoding() {
    let f = fixture(1);
    let mut rng = SeededRng::new(b"p384");
    let other = SigningKey::generate(PkType::SECP384R1, &mut rng).unwrap();
    let owner = f.owners.last().unwrap();
    assert!(
        f.voucher
            .extend(&C, owner, other.public_key(PkEnc::X509).unwrap())
            .is_err()
    );
    assert!(
        f.voucher
            .extend(&C, owner, owner.public_key(PkEnc::COSEKEY).unwrap())
            .is_err()
    );
}

// ---- tamper cases: each names the check that must refuse it ----

#[test]
fn tamper_header_bytes() {
    let f = fixture(2);
    let bytes = f.voucher.to_cbor();
    let hdr = f.voucher.header_bytes().to_vec();
    // device info, GUID, RV info, manufacturer key, chain hash: every part of the header
    let parts: [(&str, usize); 5] = [
        ("device info", find(&hdr, b"vouch test device") + 3),
        ("guid", find(&hdr, &[7; 16]) + 5),
        ("rv info", find(&hdr, b"rv.example") + 1),
        (
            "manufacturer key",
            find(&hdr, f.voucher.header().manufacturer_key.bytes()) + 40,
        ),
        (
            "chain hash",
            find(
                &hdr,
                f.voucher.header().cert_chain_hash.as_ref().unwrap().value(),
            ) + 2,
        ),
    ];
    for (what, off) in parts {
        let t = flipped(&bytes, &hdr, off);
        // With the device secret the header HMAC catches it first…
        expect_verify(verify_bytes(&t, Some(SECRET)), VerifyError::HeaderHmac);
        // …without it, the link from entry 0 to the header (or the chain hash) does.
        let r = verify_bytes(&t, None);
        match what {
            "chain hash" => expect_verify(r, VerifyError::DeviceCertChainHash),
            "manufacturer key" => assert!(r.is_err(), "{what}"),
            _ => expect_verify(r, VerifyError::EntryPrevHash { index: 0 }),
        }
    }
}

#[test]
fn tamper_header_hmac() {
    let f = fixture(1);
    let bytes = f.voucher.to_cbor();
    let t = flipped(&bytes, f.voucher.hmac().value(), 4);
    expect_verify(verify_bytes(&t, Some(SECRET)), VerifyError::HeaderHmac);
    expect_verify(
        verify_bytes(&t, None),
        VerifyError::EntryPrevHash { index: 0 },
    );
}

#[test]
fn wrong_device_secret() {
    let f = fixture(1);
    expect_verify(
        f.voucher.clone().verify(&C, Some(b"another secret"), None),
        VerifyError::HeaderHmac,
    );
}

#[test]
fn tamper_device_chain() {
    let f = fixture(1);
    let bytes = f.voucher.to_cbor();
    for (cert, off) in [
        (&b"device leaf certificate"[..], 0),
        (b"device CA certificate", 7),
    ] {
        let t = flipped(&bytes, cert, off);
        expect_verify(
            verify_bytes(&t, Some(SECRET)),
            VerifyError::DeviceCertChainHash,
        );
    }
    // a chain without its hash, a hash without its chain
    let mut t = f.voucher.clone();
    t.cert_chain = None;
    t.cert_chain_bytes = vec![0xf6];
    expect_verify(
        verify_bytes(&t.to_cbor(), None),
        VerifyError::DeviceCertChainMissing,
    );
    // a certificate appended to the chain
    let mut t = f.voucher.clone();
    let mut c = chain();
    c.push(b"extra".to_vec());
    t = OwnershipVoucher::from_parts(t.protocol_version, t.header, t.hmac, Some(c), t.entries);
    expect_verify(
        verify_bytes(&t.to_cbor(), None),
        VerifyError::DeviceCertChainHash,
    );
}

#[test]
fn tamper_each_entry_payload_and_signature() {
    let f = fixture(3);
    let bytes = f.voucher.to_cbor();
    for (index, e) in f.voucher.entries().iter().enumerate() {
        let payload = e.sign1().payload();
        // both hashes and the key
        for off in [6, 50, payload.len() - 70, payload.len() - 2] {
            let t = flipped(&bytes, payload, off);
            expect_verify(
                verify_bytes(&t, Some(SECRET)),
                VerifyError::EntrySignature { index },
            );
        }
        for off in [0, 31, 63] {
            let t = flipped(&bytes, e.sign1().signature(), off);
            expect_verify(
                verify_bytes(&t, Some(SECRET)),
                VerifyError::EntrySignature { index },
            );
        }
    }
}

#[test]
fn tamper_entry_algorithm_header() {
    let f = fixture(1);
    let bytes = f.voucher.to_cbor();
    // protected header {1: -7} is a3 a1 01 26 inside a bstr; make it {1: -8} (EdDSA)
    let e = &f.voucher.entries()[0];
    let t = flipped(&bytes, e.sign1().bytes(), 5);
    assert!(verify_bytes(&t, None).is_err());
}

#[test]
fn entries_swapped_dropped_duplicated() {
    let f = fixture(3);
    let e = f.voucher.entries().to_vec();
    // swapped
    let t = with_entries(&f.voucher, vec![e[0].clone(), e[2].clone(), e[1].clone()]);
    expect_verify(
        verify_bytes(&t, None),
        VerifyError::EntrySignature { index: 1 },
    );
    let t = with_entries(&f.voucher, vec![e[1].clone(), e[0].clone(), e[2].clone()]);
    expect_verify(
        verify_bytes(&t, None),
        VerifyError::EntrySignature { index: 0 },
    );
    // first or middle entry dropped
    let t = with_entries(&f.voucher, vec![e[1].clone(), e[2].clone()]);
    expect_verify(
        verify_bytes(&t, None),
        VerifyError::EntrySignature { index: 0 },
    );
    let t = with_entries(&f.voucher, vec![e[0].clone(), e[2].clone()]);
    expect_verify(
        verify_bytes(&t, None),
        VerifyError::EntrySignature { index: 1 },
    );
    // duplicated
    let t = with_entries(
        &f.voucher,
        vec![e[0].clone(), e[1].clone(), e[1].clone(), e[2].clone()],
    );
    expect_verify(
        verify_bytes(&t, None),
        VerifyError::EntrySignature { index: 2 },
    );
    let t = with_entries(&f.voucher, vec![e[0].clone(), e[0].clone()]);
    expect_verify(
        verify_bytes(&t, None),
        VerifyError::EntrySignature { index: 1 },
    );
    // Dropping the *last* entry leaves the voucher the previous owner held: it verifies, and
    // names that owner, not the current one. Freshness is TO0/TO2's job, not the voucher's.
    let t = with_entries(&f.voucher, vec![e[0].clone(), e[1].clone()]);
    let v = verify_bytes(&t, None).unwrap();
    assert!(
        !C.same_key(v.owner_key(), &f.owners[3].public_key(PkEnc::X509).unwrap())
            .unwrap()
    );
}

#[test]
fn entry_from_another_voucher_is_refused() {
    let a = fixture(2);
    let mut rng = SeededRng::new(b"other voucher");
    // same manufacturer key and owner chain, other device: entries do not transplant
    let mut b = a.voucher.clone();
    let mut h = b.header().clone();
    h.guid = Guid([9; 16]);
    let _ = &mut rng;
    b.header = Raw::new(h);
    expect_verify(
        verify_bytes(&b.to_cbor(), None),
        VerifyError::EntryPrevHash { index: 0 },
    );
}

/// Builds an entry with a chosen payload, correctly signed by `signer`, so that only the field
/// under test is wrong.
fn signed_entry(payload: OvEntryPayload, signer: &SigningKey) -> OvEntry {
    OvEntry::sign(payload, signer).unwrap()
}

#[test]
fn entry_with_key_of_another_type() {
    let f = fixture(1);
    let mut rng = SeededRng::new(b"p384 owner");
    let p384 = SigningKey::generate(PkType::SECP384R1, &mut rng).unwrap();
    let mut p = f.voucher.entries()[0].payload().clone();
    p.public_key = Raw::new(p384.public_key(PkEnc::X509).unwrap());
    let t = with_entries(&f.voucher, vec![signed_entry(p.clone(), &f.owners[0])]);
    expect_verify(
        verify_bytes(&t, None),
        VerifyError::EntryKeyType { index: 0 },
    );
    // same curve, other encoding
    p.public_key = Raw::new(f.owners[1].public_key(PkEnc::COSEKEY).unwrap());
    let t = with_entries(&f.voucher, vec![signed_entry(p, &f.owners[0])]);
    expect_verify(
        verify_bytes(&t, None),
        VerifyError::EntryKeyType { index: 0 },
    );
}

#[test]
fn entry_with_wrong_hashes_but_valid_signature() {
    let f = fixture(2);
    let e = f.voucher.entries().to_vec();
    // wrong previous-entry hash in entry 1
    let mut p = e[1].payload().clone();
    p.prev_entry_hash = C
        .hash(HashAlg::SHA256, &[b"not the previous entry"])
        .unwrap();
    let t = with_entries(
        &f.voucher,
        vec![e[0].clone(), signed_entry(p, &f.owners[1])],
    );
    expect_verify(
        verify_bytes(&t, None),
        VerifyError::EntryPrevHash { index: 1 },
    );
    // wrong header-info hash in entry 0
    let mut p = e[0].payload().clone();
    p.header_info_hash = C.hash(HashAlg::SHA256, &[b"another device"]).unwrap();
    let t = with_entries(&f.voucher, vec![signed_entry(p, &f.owners[0])]);
    expect_verify(
        verify_bytes(&t, None),
        VerifyError::EntryHeaderInfoHash { index: 0 },
    );
    // SHA-384 hashes in a SHA-256 chain
    let mut p = e[1].payload().clone();
    p.prev_entry_hash = C.hash(HashAlg::SHA384, &[e[0].sign1().bytes()]).unwrap();
    let t = with_entries(
        &f.voucher,
        vec![e[0].clone(), signed_entry(p, &f.owners[1])],
    );
    expect_verify(
        verify_bytes(&t, None),
        VerifyError::EntryHashType { index: 1 },
    );
    // an entry signed by the wrong key (the new owner signing its own entry)
    let p = e[0].payload().clone();
    let t = with_entries(&f.voucher, vec![signed_entry(p, &f.owners[1])]);
    expect_verify(
        verify_bytes(&t, None),
        VerifyError::EntrySignature { index: 0 },
    );
}

#[test]
fn credential_mismatches() {
    let f = fixture(1);
    let mut dc = f.credential.clone();
    dc.guid = Guid([8; 16]);
    expect_verify(
        f.voucher.clone().verify(&C, None, Some(&dc)),
        VerifyError::GuidMismatch,
    );
    let mut dc = f.credential.clone();
    dc.pub_key_hash = C.hash(HashAlg::SHA256, &[b"another manufacturer"]).unwrap();
    expect_verify(
        f.voucher.clone().verify(&C, None, Some(&dc)),
        VerifyError::ManufacturerKeyHash,
    );
    let mut dc = f.credential.clone();
    dc.hmac_secret = Some(zeroize::Zeroizing::new(b"wrong".to_vec()));
    expect_verify(
        f.voucher.clone().verify(&C, None, Some(&dc)),
        VerifyError::HeaderHmac,
    );
}

#[test]
fn truncated_and_trailing_garbage_are_decode_errors() {
    let f = fixture(2);
    let bytes = f.voucher.to_cbor();
    for cut in [
        0,
        1,
        2,
        10,
        bytes.len() / 3,
        bytes.len() / 2,
        bytes.len() - 70,
        bytes.len() - 1,
    ] {
        match OwnershipVoucher::from_cbor(&bytes[..cut]) {
            Err(Error::Decode(_)) => {}
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    let mut long = bytes.clone();
    long.extend_from_slice(&[0x00, 0x01]);
    let err = OwnershipVoucher::from_cbor(&long).unwrap_err();
    assert!(err.to_string().contains("2 trailing bytes"), "{err}");
}

#[test]
fn every_single_bit_flip_is_refused() {
    // Every byte of a voucher is covered by a check or by the structure: flipping the low bit
    // of any one of them must never yield a voucher that verifies with the device secret.
    let f = fixture(2);
    let bytes = f.voucher.to_cbor();
    for i in 0..bytes.len() {
        let mut t = bytes.clone();
        t[i] ^= 0x01;
        assert!(
            verify_bytes(&t, Some(SECRET)).is_err(),
            "flipping byte {i} of {} went unnoticed",
            bytes.len()
        );
    }
}
