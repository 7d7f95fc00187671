//! Vouchers and credentials written by go-fdo and fido-device-onboard-rs (under
//! `vectors/external/`): every one parses, verifies and re-encodes byte for byte.

use std::path::{Path, PathBuf};

use vouch_protocol::cbor::Cbor;
use vouch_protocol::credential::DeviceCredential;
use vouch_protocol::crypto::{CryptoProvider, RustCrypto, Signer, SigningKey};
use vouch_protocol::types::{PkEnc, PkType, ProtocolVersion};
use vouch_protocol::voucher::{ChainHashForm, OwnershipVoucher};

const C: RustCrypto = RustCrypto;

fn external() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors/external")
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(external().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The CBOR inside a PEM file.
fn pem_contents(bytes: &[u8]) -> Vec<u8> {
    pem::parse(bytes).expect("PEM").into_contents()
}

fn all_vouchers() -> Vec<String> {
    let mut out = Vec::new();
    for dir in [
        "go-fdo/generated",
        "go-fdo/testdata",
        "fdo-rs/generated",
        "fdo-rs/integration-tests",
        "fdo-rs/integration-tests/v100",
    ] {
        for entry in std::fs::read_dir(external().join(dir)).expect("vector directory") {
            let path = entry.expect("entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_file()
                && (name.starts_with("ov")
                    || name.starts_with("run")
                    || name.starts_with("voucher"))
            {
                out.push(format!("{dir}/{name}"));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_external_voucher_parses_verifies_and_re_encodes_identically() {
    let files = all_vouchers();
    assert_eq!(files.len(), 23, "{files:?}");
    for f in files {
        let bytes = read(&f);
        let ov = OwnershipVoucher::from_bytes(&bytes).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(
            ov.to_cbor(),
            pem_contents(&bytes),
            "{f}: re-encoding differs"
        );
        let entries = ov.entries().len();
        let v = ov
            .verify(&C, None, None)
            .unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(v.voucher().entries().len(), entries);
        assert!(
            v.chain_hash_form().is_some(),
            "{f}: every external voucher has a device chain"
        );
    }
}

#[test]
fn go_fdo_ov_pem_verifies_with_its_credential_including_the_hmac() {
    let ov = OwnershipVoucher::from_bytes(&read("go-fdo/testdata/ov.pem")).unwrap();
    let dc = DeviceCredential::from_any(&read("go-fdo/testdata/dc.bin")).unwrap();
    assert_eq!(dc.guid, ov.guid());
    let v = ov.verify(&C, None, Some(&dc)).unwrap();
    assert!(v.hmac_checked());
    assert_eq!(
        v.voucher().header().manufacturer_key.pk_type,
        PkType::SECP384R1
    );
    // the matching manufacturer key is the owner (no entries yet)
    let mfg = std::fs::read_to_string(external().join("go-fdo/testdata/mfg_key.pem")).unwrap();
    let mfg = SigningKey::from_pem(&mfg).unwrap();
    assert!(
        C.same_key(v.owner_key(), &mfg.public_key(PkEnc::X509).unwrap())
            .unwrap()
    );
    // the credential's device key is a usable P-256/P-384 key
    let key = dc.device_key.as_ref().expect("dc.bin holds the device key");
    SigningKey::from_der(key).unwrap();
}

#[test]
fn fdo_rs_generated_vouchers_verify_with_their_credential() {
    let dc = DeviceCredential::from_any(&read("fdo-rs/generated/dc.bin")).unwrap();
    for f in [
        "fdo-rs/generated/ov-0entries.pem",
        "fdo-rs/generated/ov-1entry.pem",
    ] {
        let ov = OwnershipVoucher::from_bytes(&read(f)).unwrap();
        assert_eq!(ov.guid(), dc.guid, "{f}");
        let v = ov
            .verify(&C, None, Some(&dc))
            .unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(v.hmac_checked());
    }
}

#[test]
fn ov_extended_six_rsa_entries_verify() {
    let ov = OwnershipVoucher::from_bytes(&read("go-fdo/testdata/ov_extended.pem")).unwrap();
    assert_eq!(ov.entries().len(), 6);
    assert_eq!(ov.header().manufacturer_key.pk_type, PkType::RSA2048RESTR);
    let v = ov.verify(&C, None, None).unwrap();
    assert_eq!(v.chain_hash_form(), Some(ChainHashForm::Concatenated));
}

fn p256_cert_key(rel: &str) -> vouch_protocol::types::PublicKey {
    use der::{Decode, Encode};
    let cert = x509_cert::Certificate::from_der(&pem_contents(&read(rel))).expect("certificate");
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .expect("SPKI");
    vouch_protocol::types::PublicKey::x509(PkType::SECP256R1, spki)
}

/// `ov-1entry.pem`'s entry does *not* name `keys/owner_cert.pem`'s key (the notes that came
/// with the files say it does; the bytes say otherwise: its OVEPubKey matches no key under
/// `keys/`).
/// So `owner_key.der` is not its owner, and extending with it must be refused. The hand-over
/// the notes intend is checked from `ov-0entries.pem` instead: manufacturer → owner_cert's key
/// → a next owner, each step signed with the fdo-rs private key of the current owner.
#[test]
fn fdo_rs_vouchers_extend_with_their_own_keys() {
    let dc = DeviceCredential::from_any(&read("fdo-rs/generated/dc.bin")).unwrap();
    let mfg = SigningKey::from_der(&read("fdo-rs/generated/keys/manufacturer_key.der")).unwrap();
    let owner = SigningKey::from_der(&read("fdo-rs/generated/keys/owner_key.der")).unwrap();
    let owner_pub = p256_cert_key("fdo-rs/generated/keys/owner_cert.pem");
    assert!(
        C.same_key(&owner_pub, &owner.public_key(PkEnc::X509).unwrap())
            .unwrap()
    );

    let one = OwnershipVoucher::from_bytes(&read("fdo-rs/generated/ov-1entry.pem")).unwrap();
    assert!(!C.same_key(one.owner_key(), &owner_pub).unwrap());
    let refused = one.extend(&C, &owner, owner_pub.clone()).unwrap_err();
    assert_eq!(
        refused,
        vouch_protocol::Error::Verify(vouch_protocol::VerifyError::OwnerKeyMismatch)
    );

    let zero = OwnershipVoucher::from_bytes(&read("fdo-rs/generated/ov-0entries.pem")).unwrap();
    let to_owner = zero.extend(&C, &mfg, owner_pub.clone()).unwrap();
    let mut rng = vouch_protocol::crypto::test::SeededRng::new(b"next owner");
    let next = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
    let extended = to_owner
        .extend(&C, &owner, next.public_key(PkEnc::X509).unwrap())
        .unwrap();
    let pem = extended.to_pem();
    let v = extended.verify(&C, None, Some(&dc)).unwrap();
    assert!(v.hmac_checked());
    assert_eq!(v.voucher().entries().len(), 2);
    assert!(
        C.same_key(v.owner_key(), &next.public_key(PkEnc::X509).unwrap())
            .unwrap()
    );
    let back = OwnershipVoucher::from_bytes(pem.as_bytes()).unwrap();
    assert_eq!(back.to_pem(), pem);
    back.verify(&C, None, Some(&dc)).unwrap();
    // the previous owner can no longer extend it
    let again = OwnershipVoucher::from_bytes(pem.as_bytes()).unwrap();
    assert!(again.extend(&C, &owner, owner_pub).is_err());
}

#[test]
fn legacy_forms_are_recognised() {
    // fdo-rs' integration voucher1 hashes its chain as a CBOR array
    let ov = OwnershipVoucher::from_bytes(&read("fdo-rs/integration-tests/voucher1")).unwrap();
    assert_eq!(
        ov.verify(&C, None, None).unwrap().chain_hash_form(),
        Some(ChainHashForm::CborArray)
    );
    // FDO 1.0 vouchers
    for f in [
        "fdo-rs/integration-tests/v100/voucher1",
        "fdo-rs/integration-tests/v100/voucher2",
    ] {
        let ov = OwnershipVoucher::from_bytes(&read(f)).unwrap();
        assert_eq!(ov.protocol_version(), ProtocolVersion::V100);
        assert_eq!(ov.entries().len(), 1);
        ov.verify(&C, None, None).unwrap();
    }
}

#[test]
fn go_fdo_generated_vouchers_cover_every_key_type_and_encoding() {
    let mut seen = std::collections::BTreeSet::new();
    for f in all_vouchers()
        .into_iter()
        .filter(|f| f.starts_with("go-fdo/generated"))
    {
        let ov = OwnershipVoucher::from_bytes(&read(&f)).unwrap();
        let k = ov.header().manufacturer_key.value();
        seen.insert((k.pk_type.0, k.enc.0));
        // go-fdo writes IPv4 as IPv4-mapped IPv6: it reads back as IPv4
        let text = ov.header().rv_info.to_string();
        assert!(text.contains("RVIPAddress=127.0.0.1"), "{f}: {text}");
    }
    for want in [(10, 1), (10, 3), (11, 1), (11, 2), (1, 1), (5, 1)] {
        assert!(seen.contains(&want), "missing {want:?} in {seen:?}");
    }
}

#[test]
fn credentials_round_trip_through_our_format() {
    let dc = DeviceCredential::from_any(&read("go-fdo/testdata/dc.bin")).unwrap();
    let ours = dc.to_cbor();
    let back = DeviceCredential::from_any(&ours).unwrap();
    assert_eq!(back, dc);
    let _ = C
        .hash(vouch_protocol::types::HashAlg::SHA256, &[&ours])
        .unwrap();
}
