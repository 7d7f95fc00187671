//! Every check of FDO reference §5 failing, each with its FDO code, against the message that
//! caused it. Tampered messages are re-signed (and re-encrypted) wherever that is possible,
//! so that the check under test, not an earlier one, is what refuses them.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::crypto::test::SeededRng;
use crate::error::VerifyError;
use crate::messages::ErrorMessage;
use crate::messages::Message;
use crate::messages::to2::{
    DeviceServiceInfo, Done, Done2, GetOvNextEntry, HelloDevice, OvNextEntry, ProveDevice,
    ProveOvHdr, ProveOvHdrPayload, SetupDevice,
};
use crate::types::{HMac, Nonce, SgType, SigInfo};

const P256: PkType = PkType::SECP256R1;
const BAD_NONCE: Nonce = Nonce([0xbd; 16]);

fn verify(e: VerifyError) -> Error {
    Error::Verify(e)
}

/// ProveOVHdr with its payload edited, signed by `signer` with `key` as CUPHOwnerPubKey.
fn resign_ov_hdr(
    body: &[u8],
    edit: impl FnOnce(&mut ProveOvHdrPayload),
    key: &PublicKey,
    signer: &SigningKey,
) -> Vec<u8> {
    let msg = ProveOvHdr::from_cbor(body).unwrap();
    let mut payload = msg.payload().clone();
    edit(&mut payload);
    ProveOvHdr::sign(payload, *msg.prove_dv_nonce(), key, signer)
        .unwrap()
        .to_cbor()
}

/// ProveDevice signed again, with another nonce, GUID or key.
fn resign_prove_device(
    body: &[u8],
    nonce: Option<Nonce>,
    guid: Guid,
    signer: &SigningKey,
) -> Vec<u8> {
    let msg = ProveDevice::from_cbor(body).unwrap();
    ProveDevice::sign(
        nonce.unwrap_or(*msg.prove_dv_nonce()),
        &guid,
        msg.xb().to_vec(),
        *msg.setup_dv_nonce(),
        signer,
    )
    .unwrap()
    .to_cbor()
}

/// An encrypted message decrypted, edited and encrypted again with the session key.
fn reseal<M: Message>(m: &mut Wire<'_>, edit: impl FnOnce(M) -> M) {
    let keys = m.keys.unwrap();
    let msg = M::from_cbor(&keys.open(m.body).unwrap()).unwrap();
    *m.body = keys
        .seal(&edit(msg).to_cbor(), &mut SeededRng::new(b"reseal"))
        .unwrap();
}

fn owner_pk(w: &World) -> PublicKey {
    w.owner.public_key(PkEnc::X509).unwrap()
}

/// Runs a resale with `tamper` on the wire, expecting it to fail.
fn fail(w: &World, tamper: &mut dyn FnMut(&mut Wire<'_>)) -> Failure {
    match run(&Run::resale(w, P256), tamper) {
        Ok(_) => panic!("TO2 succeeded"),
        Err(f) => f,
    }
}

// §5.2: the device on ProveOVHdr and OVNextEntry --------------------------------------------

#[test]
fn wrong_prove_ov_nonce() {
    let w = world(P256);
    fail(&w, &mut |m| {
        if m.msg_type == MessageType::TO2_PROVE_OV_HDR {
            *m.body = resign_ov_hdr(m.body, |p| p.nonce = BAD_NONCE, &owner_pk(&w), &w.owner);
        }
    })
    .assert(
        true,
        MessageType::TO2_PROVE_OV_HDR,
        ErrorCode::INVALID_MESSAGE_ERROR,
        verify(VerifyError::Nonce("NonceTO2ProveOV")),
    );
}

#[test]
fn tampered_hello_device_hash() {
    let w = world(P256);
    fail(&w, &mut |m| {
        if m.msg_type == MessageType::TO2_PROVE_OV_HDR {
            *m.body = resign_ov_hdr(
                m.body,
                |p| p.hello_device_hash = C.hash(HashAlg::SHA256, &[b"another hello"]).unwrap(),
                &owner_pk(&w),
                &w.owner,
            );
        }
    })
    .assert(
        true,
        MessageType::TO2_PROVE_OV_HDR,
        ErrorCode::INVALID_MESSAGE_ERROR,
        verify(VerifyError::Hash("helloDeviceHash")),
    );
}

#[test]
fn hello_device_hash_in_the_algorithm_it_names() {
    // The owner hashes with the voucher's SHA-384; fdo-rs always uses SHA-256 (pitfall 7).
    let w = world(PkType::SECP384R1);
    let mut r = Run::resale(&w, PkType::SECP384R1);
    r.device = DeviceConfig::ecdh384();
    let mut hello = Vec::new();
    let mut seen = None;
    let owner = owner_pk(&w);
    run(&r, &mut |m| {
        if m.msg_type == MessageType::TO2_HELLO_DEVICE {
            hello = m.body.clone();
        }
        if m.msg_type == MessageType::TO2_PROVE_OV_HDR {
            *m.body = resign_ov_hdr(
                m.body,
                |p| {
                    seen = Some(p.hello_device_hash.alg());
                    p.hello_device_hash = C.hash(HashAlg::SHA256, &[&hello]).unwrap();
                },
                &owner,
                &w.owner,
            );
        }
    })
    .unwrap();
    assert_eq!(seen, Some(HashAlg::SHA384));
}

#[test]
fn prove_ov_hdr_signed_by_another_key() {
    let w = world(P256);
    fail(&w, &mut |m| {
        if m.msg_type == MessageType::TO2_PROVE_OV_HDR {
            *m.body = resign_ov_hdr(m.body, |_| {}, &owner_pk(&w), &w.stranger);
        }
    })
    .assert(
        true,
        MessageType::TO2_PROVE_OV_HDR,
        ErrorCode::INVALID_MESSAGE_ERROR,
        verify(VerifyError::Signature("TO2.ProveOVHdr")),
    );
}

#[test]
fn header_key_is_not_the_last_entry_key() {
    // A stranger signs ProveOVHdr and names its own key in 257: the signature verifies, the
    // header and entries are genuine, but the owner key is not the stranger's.
    let w = world(P256);
    let stranger = w.stranger.public_key(PkEnc::X509).unwrap();
    fail(&w, &mut |m| {
        if m.msg_type == MessageType::TO2_PROVE_OV_HDR {
            *m.body = resign_ov_hdr(m.body, |_| {}, &stranger, &w.stranger);
        }
    })
    .assert(
        true,
        MessageType::TO2_OV_NEXT_ENTRY,
        ErrorCode::INVALID_MESSAGE_ERROR,
        verify(VerifyError::OwnerKeyMismatch),
    );
}

#[test]
fn header_hmac_mismatch() {
    let w = world(P256);
    fail(&w, &mut |m| {
        if m.msg_type == MessageType::TO2_PROVE_OV_HDR {
            *m.body = resign_ov_hdr(
                m.body,
                |p| p.hmac = HMac::new(HashAlg::HMAC_SHA256, vec![0; 32]).unwrap(),
                &owner_pk(&w),
                &w.owner,
            );
        }
    })
    .assert(
        true,
        MessageType::TO2_PROVE_OV_HDR,
        ErrorCode::INVALID_MESSAGE_ERROR,
        verify(VerifyError::HeaderHmac),
    );
    // A device with another secret refuses the genuine header.
    let mut other = w.credential.clone();
    other.hmac_secret = Some(zeroize::Zeroizing::new(b"another secret".to_vec()));
    let mut r = Run::resale(&w, P256);
    r.credential = Some(&other);
    run(&r, &mut no_tamper).err().unwrap().assert(
        true,
        MessageType::TO2_PROVE_OV_HDR,
        ErrorCode::INVALID_MESSAGE_ERROR,
        verify(VerifyError::HeaderHmac),
    );
}

#[test]
fn manufacturer_key_hash_and_guid_mismatch() {
    let w = world(P256);
    let mut other = w.credential.clone();
    other.pub_key_hash = C.hash(HashAlg::SHA256, &[b"another manufacturer"]).unwrap();
    let mut r = Run::resale(&w, P256);
    r.credential = Some(&other);
    run(&r, &mut no_tamper).err().unwrap().assert(
        true,
        MessageType::TO2_PROVE_OV_HDR,
        ErrorCode::INVALID_MESSAGE_ERROR,
        verify(VerifyError::ManufacturerKeyHash),
    );
    // A device whose credential names another GUID: the hello is rewritten on its way so the
    // owner serves the world's voucher, and helloDeviceHash re-signed over the original hello,
    // so only the GUID check is left to refuse it.
    let mut other = w.credential.clone();
    other.guid = Guid([0x99; 16]);
    let mut r = Run::resale(&w, P256);
    r.credential = Some(&other);
    let mut original = Vec::new();
    let owner = owner_pk(&w);
    run(&r, &mut |m| {
        if m.msg_type == MessageType::TO2_HELLO_DEVICE {
            original = m.body.clone();
            let mut hello = HelloDevice::from_cbor(m.body).unwrap();
            hello.guid = GUID;
            *m.body = hello.to_cbor();
        }
        if m.msg_type == MessageType::TO2_PROVE_OV_HDR {
            *m.body = resign_ov_hdr(
                m.body,
                |p| p.hello_device_hash = C.hash(HashAlg::SHA256, &[&original]).unwrap(),
                &owner,
                &w.owner,
            );
        }
    })
    .err()
    .unwrap()
    .assert(
        true,
        MessageType::TO2_PROVE_OV_HDR,
        ErrorCode::INVALID_MESSAGE_ERROR,
        verify(VerifyError::GuidMismatch),
    );
}

#[test]
fn entry_index_echoed_wrong() {
    let w = world(P256);
    let err = fail(&w, &mut |m| {
        if m.msg_type == MessageType::TO2_OV_NEXT_ENTRY {
            let mut e = OvNextEntry::from_cbor(m.body).unwrap();
            if e.entry_num == 1 {
                e.entry_num = 0;
                *m.body = e.to_cbor();
            }
        }
    })
    .assert_code(
        true,
        MessageType::TO2_OV_NEXT_ENTRY,
        ErrorCode::INVALID_MESSAGE_ERROR,
    );
    assert!(err.to_string().contains("OVEntryNum"), "{err}");
}

#[test]
fn tampered_entry() {
    let w = world(P256);
    fail(&w, &mut |m| {
        if m.msg_type == MessageType::TO2_OV_NEXT_ENTRY && m.body[1] == 0x01 {
            // [1, entry]: flip the last byte of entry 1's signature
            let last = m.body.len() - 1;
            m.body[last] ^= 0x01;
        }
    })
    .assert(
        true,
        MessageType::TO2_OV_NEXT_ENTRY,
        ErrorCode::INVALID_MESSAGE_ERROR,
        verify(VerifyError::EntrySignature { index: 1 }),
    );
    // Entry 1 swapped for entry 0: its signature is the manufacturer's, not entry 0's key's.
    let entry0 = w.voucher.entries()[0].clone();
    fail(&w, &mut |m| {
        if m.msg_type == MessageType::TO2_OV_NEXT_ENTRY && m.body[1] == 0x01 {
            *m.body = OvNextEntry {
                entry_num: 1,
                entry: entry0.clone(),
            }
            .to_cbor();
        }
    })
    .assert(
        true,
        MessageType::TO2_OV_NEXT_ENTRY,
        ErrorCode::INVALID_MESSAGE_ERROR,
        verify(VerifyError::EntrySignature { index: 1 }),
    );
}

#[test]
fn entry_index_out_of_range_on_the_owner() {
    let w = world(P256);
    fail(&w, &mut |m| {
        if m.msg_type == MessageType::TO2_GET_OV_NEXT_ENTRY {
            *m.body = GetOvNextEntry { entry_num: 2 }.to_cbor();
        }
    })
    .assert_code(
        false,
        MessageType::TO2_GET_OV_NEXT_ENTRY,
        ErrorCode::INVALID_MESSAGE_ERROR,
    );
}

// §5.1 and §5.3: the owner on HelloDevice and ProveDevice -------------------------------------

#[test]
fn unknown_guid_is_resource_not_found() {
    let w = world(P256);
    let mut r = Run::resale(&w, P256);
    let mut other = w.credential.clone();
    other.guid = Guid([0x77; 16]);
    r.credential = Some(&other);
    run(&r, &mut no_tamper).err().unwrap().assert_code(
        false,
        MessageType::TO2_HELLO_DEVICE,
        ErrorCode::RESOURCE_NOT_FOUND,
    );
}

#[test]
fn voucher_without_entries_is_resource_not_found() {
    let w = world(P256);
    let header = OvHeader::from_cbor(w.voucher.header_bytes()).unwrap();
    let bare = OwnershipVoucher::new(
        &C,
        header,
        w.voucher.hmac().clone(),
        w.voucher.cert_chain().map(<[Vec<u8>]>::to_vec),
    )
    .unwrap();
    let mut r = Run::resale(&w, P256);
    r.voucher = Some(&bare);
    run(&r, &mut no_tamper).err().unwrap().assert(
        false,
        MessageType::TO2_HELLO_DEVICE,
        ErrorCode::RESOURCE_NOT_FOUND,
        verify(VerifyError::NoEntries),
    );
}

/// A HelloDevice body as a device with `sg_type` and `kex` would send it.
fn hello_body(sg_type: SgType, kex: KexSuite) -> Vec<u8> {
    HelloDevice {
        max_message_size: 17, // fdo-rs' value (pitfall 6): read, not enforced
        guid: GUID,
        nonce: Nonce([1; 16]),
        kex_suite: kex,
        cipher_suite: crate::crypto::aead::CipherSuite::A128GCM,
        sig_info: SigInfo::new(sg_type),
    }
    .to_cbor()
}

fn owner_hello(w: &World, body: &[u8]) -> Result<(Outgoing, ExpectProveDevice), FlowError> {
    let verified = w.voucher.clone().verify(&C, None, None).unwrap();
    hello_device(
        &C,
        &OwnerConfig::default(),
        MessageType::TO2_HELLO_DEVICE,
        body,
        Some(verified),
        &w.owner,
        &mut SeededRng::new(b"hello"),
    )
}

#[test]
fn sg_type_must_match_the_device_key() {
    let w = world(P256);
    owner_hello(&w, &hello_body(SgType::ES256, KexSuite::ECDH256)).unwrap();
    // fdo-rs devices claim ES384 for their P-256 keys.
    owner_hello(&w, &hello_body(SgType::ES384, KexSuite::ECDH256)).unwrap();
    for sg in [SgType::RS256, SgType::PS384, SgType::EPID10, SgType(-9)] {
        let err = owner_hello(&w, &hello_body(sg, KexSuite::ECDH256)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::MESSAGE_BODY_ERROR, "{sg}: {err}");
        assert_eq!(err.prev, MessageType::TO2_HELLO_DEVICE);
    }
}

#[test]
fn suites_must_be_implemented_and_suit_the_keys() {
    let w = world(P256);
    // ECDH384 needs a P-384 owner key; DHKEXid14 an RSA one (and is not implemented).
    for kex in [
        KexSuite::ECDH384,
        KexSuite::DHKEXID14,
        KexSuite::new("ECDH521"),
    ] {
        let err = owner_hello(&w, &hello_body(SgType::ES256, kex.clone())).unwrap_err();
        assert_eq!(err.code(), ErrorCode::MESSAGE_BODY_ERROR, "{kex}: {err}");
    }
    let mut hello = HelloDevice::from_cbor(&hello_body(SgType::ES256, KexSuite::ECDH256)).unwrap();
    hello.cipher_suite = crate::crypto::aead::CipherSuite::COSEAES128CBC;
    let err = owner_hello(&w, &hello.to_cbor()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::MESSAGE_BODY_ERROR);
    // Malformed bodies are 100 as well.
    let err = owner_hello(&w, &[0x86, 0x00]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::MESSAGE_BODY_ERROR);
    // The device refuses to start with a suite it does not implement.
    let mut cfg = DeviceConfig::ecdh256();
    cfg.kex_suite = KexSuite::ASYMKEX2048;
    assert!(
        To2Device::start(
            &C,
            &w.credential,
            &w.device_key,
            cfg,
            device_modules(),
            None,
            &mut SeededRng::new(b"x"),
        )
        .is_err()
    );
}

#[test]
fn owner_key_must_be_the_vouchers() {
    let w = world(P256);
    let verified = w.voucher.clone().verify(&C, None, None).unwrap();
    let err = hello_device(
        &C,
        &OwnerConfig::default(),
        MessageType::TO2_HELLO_DEVICE,
        &hello_body(SgType::ES256, KexSuite::ECDH256),
        Some(verified),
        &w.next_owner,
        &mut SeededRng::new(b"hello"),
    )
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::INTERNAL_SERVER_ERROR);
    assert_eq!(err.to_message().text, "internal error");
}

#[test]
fn eat_with_wrong_nonce() {
    let w = world(P256);
    fail(&w, &mut |m| {
        if m.msg_type == MessageType::TO2_PROVE_DEVICE {
            *m.body = resign_prove_device(m.body, Some(BAD_NONCE), GUID, &w.device_key);
        }
    })
    .assert(
        false,
        MessageType::TO2_PROVE_DEVICE,
        ErrorCode::INVALID_MESSAGE_ERROR,
        verify(VerifyError::Nonce("NonceTO2ProveDv")),
    );
}

#[test]
fn eat_signed_by_the_wrong_key() {
    let w = world(P256);
    fail(&w, &mut |m| {
        if m.msg_type == MessageType::TO2_PROVE_DEVICE {
            *m.body = resign_prove_device(m.body, None, GUID, &w.stranger);
        }
    })
    .assert(
        false,
        MessageType::TO2_PROVE_DEVICE,
        ErrorCode::INVALID_MESSAGE_ERROR,
        verify(VerifyError::Signature("TO2.ProveDevice")),
    );
    // A P-384 key signing for a P-256 device fails the same check.
    let p384 = SigningKey::generate(PkType::SECP384R1, &mut SeededRng::new(b"p384")).unwrap();
    fail(&w, &mut |m| {
        if m.msg_type == MessageType::TO2_PROVE_DEVICE {
            *m.body = resign_prove_device(m.body, None, GUID, &p384);
        }
    })
    .assert(
        false,
        MessageType::TO2_PROVE_DEVICE,
        ErrorCode::INVALID_MESSAGE_ERROR,
        verify(VerifyError::Signature("TO2.ProveDevice")),
    );
}

#[test]
fn eat_with_wrong_ueid() {
    let w = world(P256);
    fail(&w, &mut |m| {
        if m.msg_type == MessageType::TO2_PROVE_DEVICE {
            *m.body = resign_prove_device(m.body, None, Guid([0x66; 16]), &w.device_key);
        }
    })
    .assert(
        false,
        MessageType::TO2_PROVE_DEVICE,
        ErrorCode::INVALID_MESSAGE_ERROR,
        verify(VerifyError::Ueid),
    );
}

// §5.4 and §5.5: encrypted messages ---------------------------------------------------------

#[test]
fn tampered_ciphertext() {
    let w = world(P256);
    let flip = |t: MessageType| {
        move |m: &mut Wire<'_>| {
            if m.msg_type == t {
                let last = m.body.len() - 1;
                m.body[last] ^= 0x01;
            }
        }
    };
    fail(&w, &mut flip(MessageType::TO2_SETUP_DEVICE)).assert(
        true,
        MessageType::TO2_SETUP_DEVICE,
        ErrorCode::INVALID_MESSAGE_ERROR,
        verify(VerifyError::Decrypt),
    );
    fail(&w, &mut flip(MessageType::TO2_DEVICE_SERVICE_INFO)).assert(
        false,
        MessageType::TO2_DEVICE_SERVICE_INFO,
        ErrorCode::INVALID_MESSAGE_ERROR,
        verify(VerifyError::Decrypt),
    );
    fail(&w, &mut flip(MessageType::TO2_DONE2)).assert(
        true,
        MessageType::TO2_DONE2,
        ErrorCode::INVALID_MESSAGE_ERROR,
        verify(VerifyError::Decrypt),
    );
}

#[test]
fn setup_device_with_wrong_nonce_or_signer() {
    let w = world(P256);
    fail(&w, &mut |m| {
        if m.msg_type == MessageType::TO2_SETUP_DEVICE {
            reseal(m, |s: SetupDevice| {
                let mut p = s.payload().clone();
                p.nonce = BAD_NONCE;
                SetupDevice::sign(p, &w.next_owner).unwrap()
            });
        }
    })
    .assert(
        true,
        MessageType::TO2_SETUP_DEVICE,
        ErrorCode::INVALID_MESSAGE_ERROR,
        verify(VerifyError::Nonce("NonceTO2SetupDv")),
    );
    // Signed by a key that is not Owner2Key.
    fail(&w, &mut |m| {
        if m.msg_type == MessageType::TO2_SETUP_DEVICE {
            reseal(m, |s: SetupDevice| {
                SetupDevice::sign(s.payload().clone(), &w.stranger).unwrap()
            });
        }
    })
    .assert(
        true,
        MessageType::TO2_SETUP_DEVICE,
        ErrorCode::INVALID_MESSAGE_ERROR,
        verify(VerifyError::Signature("TO2.SetupDevice")),
    );
}

#[test]
fn wrong_done_nonce() {
    let w = world(P256);
    fail(&w, &mut |m| {
        if m.msg_type == MessageType::TO2_DONE {
            reseal(m, |_: Done| Done { nonce: BAD_NONCE });
        }
    })
    .assert(
        false,
        MessageType::TO2_DONE,
        ErrorCode::INVALID_MESSAGE_ERROR,
        verify(VerifyError::Nonce("NonceTO2ProveDv")),
    );
}

#[test]
fn wrong_done2_nonce_commits_nothing() {
    let w = world(P256);
    // The owner finished (it would store its replacement voucher), but the device refuses
    // Done2: no DeviceOutcome, so no new credential.
    fail(&w, &mut |m| {
        if m.msg_type == MessageType::TO2_DONE2 {
            reseal(m, |_: Done2| Done2 { nonce: BAD_NONCE });
        }
    })
    .assert(
        true,
        MessageType::TO2_DONE2,
        ErrorCode::INVALID_MESSAGE_ERROR,
        verify(VerifyError::Nonce("NonceTO2SetupDv")),
    );
}

#[test]
fn replacement_hmac_null_without_reuse_is_refused() {
    let w = world(P256);
    fail(&w, &mut |m| {
        if m.msg_type == MessageType::TO2_DEVICE_SERVICE_INFO_READY {
            reseal(m, |mut r: crate::messages::to2::DeviceServiceInfoReady| {
                r.replacement_hmac = None;
                r
            });
        }
    })
    .assert_code(
        false,
        MessageType::TO2_DEVICE_SERVICE_INFO_READY,
        ErrorCode::MESSAGE_BODY_ERROR,
    );
}

#[test]
fn service_info_value_cut_and_never_finished() {
    // The device's first ServiceInfo ends inside a value, with IsMore false, and the next
    // message starts another key: the owner refuses it.
    let w = world(P256);
    let mut first = true;
    fail(&w, &mut |m| {
        if m.msg_type == MessageType::TO2_DEVICE_SERVICE_INFO && first {
            first = false;
            reseal(m, |mut d: DeviceServiceInfo| {
                d.service_info.0.push(crate::types::ServiceInfoKv {
                    key: "devmod:sn".into(),
                    value: vec![0x65, b'V'], // a 5-byte tstr cut after 1 byte
                });
                d.service_info
                    .0
                    .push(crate::serviceinfo::kv("devmod", "nl", &String::from("\n")));
                d
            });
        }
    })
    .assert_code(
        false,
        MessageType::TO2_DEVICE_SERVICE_INFO,
        ErrorCode::MESSAGE_BODY_ERROR,
    );
}

// Messages out of place ---------------------------------------------------------------------

#[test]
fn owner_error_message_ends_the_device() {
    let w = world(P256);
    let (_, device) = To2Device::start(
        &C,
        &w.credential,
        &w.device_key,
        DeviceConfig::ecdh256(),
        device_modules(),
        None,
        &mut SeededRng::new(b"d"),
    )
    .unwrap();
    assert_eq!(device.expects(), MessageType::TO2_PROVE_OV_HDR);
    let body = ErrorMessage::new(
        ErrorCode::RESOURCE_NOT_FOUND,
        MessageType::TO2_HELLO_DEVICE,
        "no voucher",
    )
    .to_cbor();
    let err = device
        .receive(MessageType::ERROR, &body, &mut SeededRng::new(b"d"))
        .unwrap_err();
    assert_eq!(err.prev, MessageType::ERROR);
    assert_eq!(err.code(), ErrorCode::RESOURCE_NOT_FOUND);
    // Another message than the one expected.
    let (_, device) = To2Device::start(
        &C,
        &w.credential,
        &w.device_key,
        DeviceConfig::ecdh256(),
        device_modules(),
        None,
        &mut SeededRng::new(b"d"),
    )
    .unwrap();
    let err = device
        .receive(
            MessageType::TO2_OV_NEXT_ENTRY,
            &[0x80],
            &mut SeededRng::new(b"d"),
        )
        .unwrap_err();
    assert_eq!(err.prev, MessageType::TO2_OV_NEXT_ENTRY);
    assert_eq!(err.code(), ErrorCode::MESSAGE_BODY_ERROR);
}

#[test]
fn inactive_credential_does_not_start() {
    let w = world(P256);
    let mut off = w.credential.clone();
    off.active = false;
    assert!(
        To2Device::start(
            &C,
            &off,
            &w.device_key,
            DeviceConfig::ecdh256(),
            device_modules(),
            None,
            &mut SeededRng::new(b"d"),
        )
        .is_err()
    );
}

#[test]
fn owner_states_are_versioned_and_keep_their_secrets() {
    let w = world(P256);
    let (_, state) = owner_hello(&w, &hello_body(SgType::ES256, KexSuite::ECDH256)).unwrap();
    let state = OwnerState::from(state);
    let bytes = state.to_cbor();
    let back = OwnerState::from_cbor(&bytes).unwrap();
    assert_eq!(back.to_cbor(), bytes);
    assert_eq!(back.guid(), GUID);
    // Debug names the state but prints no secret.
    let shown = alloc::format!("{back:?}");
    assert!(
        shown.contains("ExpectProveDevice") && !shown.contains("seed"),
        "{shown}"
    );
    // Another version, another tag, trailing bytes: refused.
    let mut d = Decoder::new(&bytes);
    d.array("state").unwrap();
    let tag_at = d.position();
    d.text("tag").unwrap();
    let version_at = d.position();
    let mut v2 = bytes.clone();
    v2[version_at] = 0x02;
    let err = OwnerState::from_cbor(&v2).unwrap_err().to_string();
    assert!(err.contains("version 2"), "{err}");
    let mut other = bytes.clone();
    other[tag_at + 1] ^= 0x20; // "vouch…" → "Vouch…"
    assert!(OwnerState::from_cbor(&other).is_err());
    let mut long = bytes.clone();
    long.push(0x00);
    assert!(OwnerState::from_cbor(&long).is_err());
}
