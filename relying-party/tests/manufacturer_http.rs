//! DI against the manufacturer role over the FDO HTTP binding and a real SQLite store: the
//! device is the sans-IO `DiDevice`, pumped through the axum router (no socket), sending the
//! MfgInfo layout with a PKCS#10 request for its key.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;
use vouch_protocol::cbor::Cbor;
use vouch_protocol::credential::DeviceCredential;
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{RustCrypto, Signer, SigningKey, VerifyingKey};
use vouch_protocol::flows::Outgoing;
use vouch_protocol::flows::di::DiDevice;
use vouch_protocol::messages::di::{DeviceMfgInfo, MfgInfo};
use vouch_protocol::messages::{ErrorMessage, MessageType};
use vouch_protocol::types::{PkEnc, PkType, RendezvousInfo};
use vouch_protocol::voucher::OwnershipVoucher;
use vouch_relying_party::fdo_http::{DEFAULT_MAX_BODY, router};
use vouch_relying_party::manufacturer::{
    DeviceCa, Manufacturer, ManufacturerConfig, OnManufactured,
};
use vouch_relying_party::store::{SqliteStore, Store};
use x509_parser::prelude::X509Certificate;

const C: RustCrypto = RustCrypto;
const NOW: i64 = 1_800_000_000;
const SERIAL: &str = "VOUCH-0042";
const MODEL: &str = "vouch test model";

/// Records every voucher the hook sees; fails when told to.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Vec<u8>>>,
    fail: bool,
}

#[async_trait::async_trait]
impl OnManufactured for Recorder {
    async fn manufactured(&self, voucher: &OwnershipVoucher) -> anyhow::Result<()> {
        self.seen.lock().unwrap().push(voucher.to_cbor());
        if self.fail {
            anyhow::bail!("the hook fails on purpose");
        }
        Ok(())
    }
}

struct Server {
    app: axum::Router,
    store: Arc<SqliteStore>,
    hook: Arc<Recorder>,
    ca_der: Vec<u8>,
}

/// A manufacturer with the given manufacturer key types.
async fn server(key_types: &[PkType], failing_hook: bool) -> Server {
    let store = Arc::new(SqliteStore::memory().await.unwrap());
    let mut rng = SeededRng::new(b"manufacturer keys");
    let keys = key_types
        .iter()
        .map(|t| SigningKey::generate(*t, &mut rng).unwrap())
        .collect();
    let ca = DeviceCa::generate("vouch test device CA").unwrap();
    let ca_der = ca.cert_der().to_vec();
    let mut config = ManufacturerConfig::new(keys, ca, RendezvousInfo::default());
    config.cert_validity_days = 30;
    let hook = Arc::new(Recorder {
        fail: failing_hook,
        ..Recorder::default()
    });
    let m = Manufacturer::new(store.clone() as Arc<dyn Store>, config, Arc::new(|| NOW))
        .with_hook(hook.clone());
    Server {
        app: router(Arc::new(m), DEFAULT_MAX_BODY),
        store,
        hook,
        ca_der,
    }
}

/// A device key of `pk_type`, and an rcgen key pair for the same key (to sign its CSR).
fn device_key(pk_type: PkType) -> (SigningKey, rcgen::KeyPair) {
    let alg = if pk_type == PkType::SECP384R1 {
        &rcgen::PKCS_ECDSA_P384_SHA384
    } else {
        &rcgen::PKCS_ECDSA_P256_SHA256
    };
    let kp = rcgen::KeyPair::generate_for(alg).unwrap();
    let key = SigningKey::from_der(&kp.serialize_der()).unwrap();
    assert_eq!(key.pk_type(), pk_type);
    (key, kp)
}

/// A PKCS#10 request for `kp`'s key with subject CN `cn`.
fn csr(kp: &rcgen::KeyPair, cn: &str) -> Vec<u8> {
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.serialize_request(kp).unwrap().der().to_vec()
}

fn mfg_info(key_type: PkType, csr: Vec<u8>) -> DeviceMfgInfo {
    DeviceMfgInfo::wrap(&MfgInfo {
        key_type,
        key_encoding: PkEnc::X509,
        serial_number: SERIAL.into(),
        device_info: MODEL.into(),
        csr,
    })
}

struct Reply {
    status: u16,
    msg_type: u8,
    token: Option<String>,
    body: Vec<u8>,
}

async fn post_raw(app: &axum::Router, msg_type: u8, body: Vec<u8>, token: Option<&str>) -> Reply {
    let mut req = Request::post(format!("/fdo/101/msg/{msg_type}"))
        .header("content-type", "application/cbor");
    if let Some(t) = token {
        req = req.header("authorization", t);
    }
    let r = app
        .clone()
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = r.status().as_u16();
    let msg_type = r.headers()["message-type"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let token = r
        .headers()
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_string());
    let body = axum::body::to_bytes(r.into_body(), 1 << 16)
        .await
        .unwrap()
        .to_vec();
    Reply {
        status,
        msg_type,
        token,
        body,
    }
}

async fn post(app: &axum::Router, out: &Outgoing, token: Option<&str>) -> Reply {
    post_raw(app, out.msg_type.0, out.body.clone(), token).await
}

/// The error a reply carries: asserts HTTP 500, message 255 and EMPrevMsgID.
#[track_caller]
fn error(r: &Reply, prev: u8) -> ErrorMessage {
    assert_eq!((r.status, r.msg_type), (500, 255));
    let e = ErrorMessage::from_cbor(&r.body).unwrap();
    assert_eq!(e.prev_message, MessageType(prev), "{}", e.text);
    e
}

/// DI.AppStart for `info`; asserts DI.SetCredentials with a token came back.
async fn app_start(
    s: &Server,
    device: &SigningKey,
    info: DeviceMfgInfo,
) -> (Reply, DiDevice, String) {
    let (out, dev) = DiDevice::start(Some(device.algorithm()), info);
    let r = post(&s.app, &out, None).await;
    assert_eq!((r.status, r.msg_type), (200, 11), "{:?}", error_text(&r));
    let token = r.token.clone().expect("DI.SetCredentials carries a token");
    (r, dev, token)
}

fn error_text(r: &Reply) -> Option<String> {
    ErrorMessage::from_cbor(&r.body).ok().map(|e| e.text)
}

/// Runs DI for a device of `device_type`; returns its key and credential.
async fn run_di(s: &Server, device_type: PkType) -> (SigningKey, DeviceCredential) {
    let (key, kp) = device_key(device_type);
    let (r, dev, token) = app_start(s, &key, mfg_info(device_type, csr(&kp, SERIAL))).await;
    let mut rng = SeededRng::new(b"device hmac secret");
    let (out, dev) = dev
        .set_credentials(MessageType(r.msg_type), &r.body, &C, &mut rng)
        .unwrap();
    let r = post(&s.app, &out, Some(&token)).await;
    assert_eq!((r.status, r.msg_type), (200, 13), "{:?}", error_text(&r));
    assert_eq!(r.token, None, "DI.Done ends the protocol");
    let credential = dev.done(MessageType(r.msg_type), &r.body).unwrap();
    (key, credential)
}

async fn stored_vouchers(store: &SqliteStore) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for v in store.list_vouchers().await.unwrap() {
        out.push(store.get_voucher(v.guid).await.unwrap());
    }
    out
}

fn parse_cert(der: &[u8]) -> X509Certificate<'_> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    assert!(rest.is_empty());
    cert
}

#[tokio::test]
async fn di_stores_a_voucher_with_a_device_certificate_from_the_csr() {
    let s = server(&[PkType::SECP256R1], false).await;
    let (device, credential) = run_di(&s, PkType::SECP256R1).await;

    let stored = stored_vouchers(&s.store).await;
    assert_eq!(stored.len(), 1);
    let ov = OwnershipVoucher::from_cbor(&stored[0]).unwrap();
    assert_eq!(ov.entries().len(), 0);
    assert_eq!(ov.guid(), credential.guid);
    assert_eq!(ov.header().device_info, MODEL);
    assert_eq!(credential.device_info, MODEL);
    assert_eq!(
        ov.header().manufacturer_key.value().pk_type,
        PkType::SECP256R1
    );
    // The header HMAC, chain hash and manufacturer key hash all check against the device.
    ov.clone().verify(&C, None, Some(&credential)).unwrap();
    // A different HMAC secret is refused: the check above could fail.
    assert!(ov.clone().verify(&C, Some(&[0u8; 32]), None).is_err());

    // The chain is [leaf, CA]: the leaf certifies the device key and the CA signed it.
    let chain = ov.cert_chain().unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[1], s.ca_der);
    let leaf = parse_cert(&chain[0]);
    let ca = parse_cert(&chain[1]);
    assert_eq!(
        leaf.public_key().raw,
        device.verifying_key().to_spki_der().unwrap().as_slice()
    );
    leaf.verify_signature(Some(ca.public_key())).unwrap();
    assert!(leaf.verify_signature(Some(leaf.public_key())).is_err());
    let cn = leaf.subject().iter_common_name().next().unwrap();
    assert_eq!(cn.as_str().unwrap(), SERIAL);
    assert_eq!(leaf.issuer(), ca.subject());
    assert!(!leaf.is_ca());
    let bc = leaf.basic_constraints().unwrap().expect("basicConstraints");
    assert!(!bc.value.ca);
    let ku = leaf.key_usage().unwrap().expect("keyUsage");
    assert!(ku.value.digital_signature() && !ku.value.key_cert_sign());
    assert_eq!(leaf.validity().not_before.timestamp(), NOW);
    assert_eq!(leaf.validity().not_after.timestamp(), NOW + 30 * 86_400);

    // The hook ran once, with the voucher that was stored.
    assert_eq!(*s.hook.seen.lock().unwrap(), stored);
}

#[tokio::test]
async fn p384_device_gets_the_p384_manufacturer_key() {
    let s = server(&[PkType::SECP256R1, PkType::SECP384R1], false).await;
    let (_, p384) = run_di(&s, PkType::SECP384R1).await;
    let (_, p256) = run_di(&s, PkType::SECP256R1).await;
    for (credential, expected) in [(p384, PkType::SECP384R1), (p256, PkType::SECP256R1)] {
        let bytes = s.store.get_voucher(credential.guid).await.unwrap();
        let ov = OwnershipVoucher::from_cbor(&bytes).unwrap();
        assert_eq!(ov.header().manufacturer_key.value().pk_type, expected);
        let leaf = parse_cert(&ov.cert_chain().unwrap()[0]);
        let leaf_key = VerifyingKey::from_spki_der(leaf.public_key().raw).unwrap();
        let expected_kind = if expected == PkType::SECP384R1 {
            "P-384"
        } else {
            "P-256"
        };
        assert_eq!(leaf_key.kind(), expected_kind);
        ov.verify(&C, None, Some(&credential)).unwrap();
    }
    assert_eq!(s.hook.seen.lock().unwrap().len(), 2);

    // Without a P-384 key, a P-384 device gets the first key.
    let s = server(&[PkType::SECP256R1], false).await;
    let (_, credential) = run_di(&s, PkType::SECP384R1).await;
    let ov =
        OwnershipVoucher::from_cbor(&s.store.get_voucher(credential.guid).await.unwrap()).unwrap();
    assert_eq!(
        ov.header().manufacturer_key.value().pk_type,
        PkType::SECP256R1
    );
    ov.verify(&C, None, Some(&credential)).unwrap();
}

#[tokio::test]
async fn a_failing_hook_still_answers_done_and_keeps_the_voucher() {
    let s = server(&[PkType::SECP256R1], true).await;
    let (_, credential) = run_di(&s, PkType::SECP256R1).await;
    assert!(s.store.get_voucher(credential.guid).await.is_ok());
    assert_eq!(s.hook.seen.lock().unwrap().len(), 1);
}

/// Sends DI.AppStart with `info` and expects MESSAGE_BODY_ERROR; returns its text.
async fn app_start_refused(s: &Server, info: DeviceMfgInfo) -> String {
    let (out, _) = DiDevice::start(None, info);
    let r = post(&s.app, &out, None).await;
    let e = error(&r, 10);
    assert_eq!(e.code.0, 100, "{}", e.text);
    assert_eq!(r.token, None);
    e.text
}

#[tokio::test]
async fn tampered_csr_is_refused_and_nothing_is_stored() {
    let s = server(&[PkType::SECP256R1], false).await;
    let (_, kp) = device_key(PkType::SECP256R1);
    // Change the subject after signing: the request still parses, its signature fails.
    let mut der = csr(&kp, "device-A");
    let at = der.windows(8).position(|w| w == b"device-A").unwrap();
    der[at + 7] = b'B';
    let text = app_start_refused(&s, mfg_info(PkType::SECP256R1, der)).await;
    assert!(text.contains("signature"), "{text}");
    // Not a CSR at all.
    let text = app_start_refused(&s, mfg_info(PkType::SECP256R1, vec![0x30, 0x03, 1, 2, 3])).await;
    assert!(text.contains("CSR"), "{text}");
    assert!(stored_vouchers(&s.store).await.is_empty());
    assert!(s.hook.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn csr_key_type_must_match_pk_type() {
    let s = server(&[PkType::SECP256R1, PkType::SECP384R1], false).await;
    let (_, kp) = device_key(PkType::SECP256R1);
    let text = app_start_refused(&s, mfg_info(PkType::SECP384R1, csr(&kp, SERIAL))).await;
    assert!(text.contains("pkType"), "{text}");
    let text = app_start_refused(&s, mfg_info(PkType::RSAPKCS, csr(&kp, SERIAL))).await;
    assert!(text.contains("pkType"), "{text}");
    assert!(stored_vouchers(&s.store).await.is_empty());
}

#[tokio::test]
async fn device_mfg_info_of_another_layout_is_refused() {
    let s = server(&[PkType::SECP256R1], false).await;
    // go-fdo's example server: a bare serial number in the bstr (h'63 616263' = "abc")
    let serial_only = DeviceMfgInfo::from_item(&[0x44, 0x63, b'a', b'b', b'c']).unwrap();
    let text = app_start_refused(&s, serial_only).await;
    assert!(text.contains("MfgInfo"), "{text}");
    let text = app_start_refused(&s, DeviceMfgInfo::null()).await;
    assert!(text.contains("DeviceMfgInfo"), "{text}");
}

#[tokio::test]
async fn malformed_cbor_is_a_message_body_error() {
    let s = server(&[PkType::SECP256R1], false).await;
    for body in [vec![0xff], vec![], vec![0x81], vec![0x80]] {
        let r = post_raw(&s.app, 10, body.clone(), None).await;
        assert_eq!(error(&r, 10).code.0, 100, "{body:02x?}");
    }
    // A message the manufacturer does not serve.
    let r = post_raw(&s.app, 20, vec![0x80], None).await;
    assert_eq!(error(&r, 20).code.0, 100);
    assert!(stored_vouchers(&s.store).await.is_empty());
}

/// DI.SetHMAC's body: `[[HMAC-SHA256 (5), bstr of len bytes]]`.
fn set_hmac_body(len: usize) -> Vec<u8> {
    let mut b = vec![0x81, 0x82, 0x05, 0x58, len as u8];
    b.extend(std::iter::repeat_n(0xab, len));
    b
}

#[tokio::test]
async fn set_hmac_needs_the_token_of_a_di_session() {
    let s = server(&[PkType::SECP256R1], false).await;
    // Out of order: DI.SetHMAC first, without a token.
    let r = post_raw(&s.app, 12, set_hmac_body(32), None).await;
    assert_eq!(error(&r, 12).code.0, 1);
    // A token nobody issued.
    let r = post_raw(&s.app, 12, set_hmac_body(32), Some("Bearer 00ff")).await;
    assert_eq!(error(&r, 12).code.0, 1);
    // The token of a session of another protocol.
    s.store
        .create_session("to0-session", "to0", b"state", NOW + 60)
        .await
        .unwrap();
    let r = post_raw(&s.app, 12, set_hmac_body(32), Some("Bearer to0-session")).await;
    assert_eq!(error(&r, 12).code.0, 1);
    // An expired DI session.
    let (key, kp) = device_key(PkType::SECP256R1);
    let (_, _, token) = app_start(&s, &key, mfg_info(PkType::SECP256R1, csr(&kp, SERIAL))).await;
    let late = Manufacturer::new(
        s.store.clone() as Arc<dyn Store>,
        ManufacturerConfig::new(
            vec![key.clone()],
            DeviceCa::generate("late").unwrap(),
            RendezvousInfo::default(),
        ),
        Arc::new(|| NOW + 3600),
    );
    let late = router(Arc::new(late), DEFAULT_MAX_BODY);
    let r = post_raw(&late, 12, set_hmac_body(32), Some(&token)).await;
    assert_eq!(error(&r, 12).code.0, 1);
    assert!(stored_vouchers(&s.store).await.is_empty());
}

#[tokio::test]
async fn bad_hmac_is_refused_and_ends_the_session() {
    let s = server(&[PkType::SECP256R1], false).await;
    let (key, kp) = device_key(PkType::SECP256R1);
    let (r, dev, token) = app_start(&s, &key, mfg_info(PkType::SECP256R1, csr(&kp, SERIAL))).await;

    // 31 bytes of HMAC-SHA256.
    let bad = post_raw(&s.app, 12, set_hmac_body(31), Some(&token)).await;
    let e = error(&bad, 12);
    assert_eq!(e.code.0, 100, "{}", e.text);
    assert!(e.text.contains("HMac"), "{}", e.text);
    assert!(stored_vouchers(&s.store).await.is_empty());

    // The session is gone: the right HMAC now comes too late.
    let (out, _) = dev
        .set_credentials(
            MessageType(r.msg_type),
            &r.body,
            &C,
            &mut SeededRng::new(b"x"),
        )
        .unwrap();
    let r = post(&s.app, &out, Some(&token)).await;
    assert_eq!(error(&r, 12).code.0, 1);
    assert!(stored_vouchers(&s.store).await.is_empty());
    assert!(s.hook.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn hmac_of_the_wrong_strength_is_refused() {
    let s = server(&[PkType::SECP256R1], false).await;
    let (key, kp) = device_key(PkType::SECP256R1);
    let (_, _, token) = app_start(&s, &key, mfg_info(PkType::SECP256R1, csr(&kp, SERIAL))).await;
    // [[HMAC-SHA384 (6), 48 bytes]] for a P-256 device and manufacturer key
    let mut body = vec![0x81, 0x82, 0x06, 0x58, 48];
    body.extend([0xab; 48]);
    let r = post_raw(&s.app, 12, body, Some(&token)).await;
    assert_eq!(error(&r, 12).code.0, 100);
    assert!(stored_vouchers(&s.store).await.is_empty());
}

#[test]
fn device_ca_round_trips_through_pem() {
    let ca = DeviceCa::generate("vouch test CA").unwrap();
    let back = DeviceCa::from_pem(&ca.key_pem(), &ca.cert_pem()).unwrap();
    assert_eq!(back.cert_der(), ca.cert_der());
    assert_eq!(back.key_pem(), ca.key_pem());
    let cert = parse_cert(ca.cert_der());
    assert!(cert.is_ca());
    assert_eq!(
        cert.subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap(),
        "vouch test CA"
    );
    // A key that is not the certificate's is refused.
    let other = DeviceCa::generate("other").unwrap();
    let err = DeviceCa::from_pem(&other.key_pem(), &ca.cert_pem()).unwrap_err();
    assert!(
        err.to_string().contains("not for the device CA key"),
        "{err}"
    );
    // A certificate that is not a CA's is refused.
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["leaf.example".into()])
        .unwrap()
        .self_signed(&kp)
        .unwrap();
    let err = DeviceCa::from_pem(&kp.serialize_pem(), &leaf.pem()).unwrap_err();
    assert!(err.to_string().contains("not a CA"), "{err}");
    assert!(DeviceCa::from_pem("junk", &ca.cert_pem()).is_err());
}
