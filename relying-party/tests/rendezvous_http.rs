//! TO0 then TO1 against the rendezvous role over the FDO HTTP binding and a real SQLite store:
//! the owner's client and the device's client are the sans-IO state machines, pumped through
//! the axum router (no socket).

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;
use vouch_protocol::cbor::Cbor;
use vouch_protocol::credential::DeviceCredential;
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{CryptoProvider, RustCrypto, Signer, SigningKey};
use vouch_protocol::flows::{Outgoing, to0::To0Owner, to1::To1Device};
use vouch_protocol::messages::to0::RvTo2Addr;
use vouch_protocol::messages::{ErrorMessage, MessageType};
use vouch_protocol::types::{
    Guid, HashAlg, PkEnc, PkType, ProtocolVersion, RendezvousInfo, SgType, SigInfo,
    TransportProtocol,
};
use vouch_protocol::voucher::{OvHeader, OwnershipVoucher};
use vouch_relying_party::fdo_http::{DEFAULT_MAX_BODY, router};
use vouch_relying_party::rendezvous::{Rendezvous, RendezvousConfig};
use vouch_relying_party::store::SqliteStore;

const C: RustCrypto = RustCrypto;
const NOW: i64 = 1_800_000_000;

struct Device {
    key: SigningKey,
    credential: DeviceCredential,
}

/// A device with a real (self-signed) certificate, and its voucher extended to `owner`.
fn device_and_voucher(owner: &SigningKey) -> (Device, OwnershipVoucher) {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["device.example".into()])
        .unwrap()
        .self_signed(&kp)
        .unwrap();
    let key = SigningKey::from_der(&kp.serialize_der()).unwrap();
    let mut rng = SeededRng::new(b"rendezvous test");
    let mfg = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
    let chain = vec![cert.der().to_vec()];
    let header = OvHeader::new(
        &C,
        Guid([3; 16]),
        RendezvousInfo::default(),
        "rendezvous test device",
        mfg.public_key(PkEnc::X509).unwrap(),
        Some(&chain),
        HashAlg::SHA256,
    )
    .unwrap();
    let secret = [9u8; 32];
    let hmac = C
        .hmac(HashAlg::HMAC_SHA256, &secret, &header.to_cbor())
        .unwrap();
    let ov = OwnershipVoucher::new(&C, header, hmac, Some(chain)).unwrap();
    let ov = ov
        .extend(&C, &mfg, owner.public_key(PkEnc::X509).unwrap())
        .unwrap();
    let credential = DeviceCredential {
        active: true,
        protocol_version: ProtocolVersion::V101,
        hmac_secret: Some(zeroize::Zeroizing::new(secret.to_vec())),
        device_info: "rendezvous test device".into(),
        guid: Guid([3; 16]),
        rv_info: RendezvousInfo::default(),
        pub_key_hash: C
            .hash(HashAlg::SHA256, &[ov.header().manufacturer_key.bytes()])
            .unwrap(),
        device_key: None,
    };
    (Device { key, credential }, ov)
}

struct Reply {
    status: u16,
    msg_type: u8,
    token: Option<String>,
    body: Vec<u8>,
}

async fn post(app: &axum::Router, out: &Outgoing, token: Option<&str>) -> Reply {
    let mut req = Request::post(format!("/fdo/101/msg/{}", out.msg_type.0))
        .header("content-type", "application/cbor");
    if let Some(t) = token {
        req = req.header("authorization", t);
    }
    let r = app
        .clone()
        .oneshot(req.body(Body::from(out.body.clone())).unwrap())
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

fn error_code(r: &Reply) -> u16 {
    assert_eq!((r.status, r.msg_type), (500, 255));
    ErrorMessage::from_cbor(&r.body).unwrap().code.0
}

async fn app() -> axum::Router {
    let store = Arc::new(SqliteStore::memory().await.unwrap());
    let rv = Rendezvous::new(
        store,
        RendezvousConfig {
            max_wait_seconds: 3600,
        },
        Arc::new(|| NOW),
    );
    router(Arc::new(rv), DEFAULT_MAX_BODY)
}

#[tokio::test]
async fn owner_registers_and_device_is_redirected() {
    let app = app().await;
    let owner = SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"owner")).unwrap();
    let (device, ov) = device_and_voucher(&owner);
    let addr = RvTo2Addr {
        ip: Some("127.0.0.1".parse().unwrap()),
        dns: None,
        port: 8043,
        protocol: TransportProtocol::HTTP,
    };

    // TO0
    let verified = ov.clone().verify(&C, None, None).unwrap();
    let (hello, owner_state) = To0Owner::start(verified, vec![addr.clone()], 7200).unwrap();
    let r = post(&app, &hello, None).await;
    assert_eq!((r.status, r.msg_type), (200, 21));
    let token = r.token.clone().expect("a bearer token");
    let (sign, owner_state) = owner_state
        .hello_ack(MessageType(r.msg_type), &r.body, &C, &owner)
        .unwrap();
    // without the token, the session is not found
    assert_eq!(error_code(&post(&app, &sign, None).await), 1);
    let r = post(&app, &sign, Some(&token)).await;
    assert_eq!((r.status, r.msg_type), (200, 23));
    let granted = owner_state
        .accept_owner(MessageType(r.msg_type), &r.body)
        .unwrap();
    assert_eq!(
        granted, 3600,
        "the server caps the registration at its maximum"
    );
    // the session ended with TO0: replaying OwnerSign is refused
    assert_eq!(error_code(&post(&app, &sign, Some(&token)).await), 1);

    // TO1
    let (hello_rv, dev_state) =
        To1Device::start(&device.credential, SigInfo::new(SgType::ES256)).unwrap();
    let r = post(&app, &hello_rv, None).await;
    assert_eq!((r.status, r.msg_type), (200, 31));
    let token = r.token.clone().unwrap();
    let (prove, dev_state) = dev_state
        .hello_rv_ack(MessageType(r.msg_type), &r.body, &device.key)
        .unwrap();
    let r = post(&app, &prove, Some(&token)).await;
    assert_eq!((r.status, r.msg_type), (200, 33));
    let redirect = dev_state
        .rv_redirect(MessageType(r.msg_type), &r.body)
        .unwrap();
    let verified = redirect.verify(&C, ov.owner_key()).unwrap();
    assert_eq!(verified.addresses(), &[addr]);
}

#[tokio::test]
async fn unknown_device_and_wrong_device_key_are_refused() {
    let app = app().await;
    let owner = SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"owner")).unwrap();
    let (device, _ov) = device_and_voucher(&owner);
    // nothing registered: RESOURCE_NOT_FOUND
    let (hello_rv, _) = To1Device::start(&device.credential, SigInfo::new(SgType::ES256)).unwrap();
    assert_eq!(error_code(&post(&app, &hello_rv, None).await), 6);

    // registered, but the device proves with another key: INVALID_MESSAGE_ERROR
    let (_, ov) = device_and_voucher(&owner);
    let (hello, st) = To0Owner::start(
        ov.verify(&C, None, None).unwrap(),
        vec![RvTo2Addr {
            ip: None,
            dns: Some("owner.example".into()),
            port: 443,
            protocol: TransportProtocol::HTTPS,
        }],
        60,
    )
    .unwrap();
    let r = post(&app, &hello, None).await;
    let (sign, _) = st
        .hello_ack(MessageType(r.msg_type), &r.body, &C, &owner)
        .unwrap();
    let r = post(&app, &sign, r.token.as_deref()).await;
    assert_eq!(r.status, 200);
    let (hello_rv, st) = To1Device::start(&device.credential, SigInfo::new(SgType::ES256)).unwrap();
    let r = post(&app, &hello_rv, None).await;
    let impostor =
        SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"impostor")).unwrap();
    let (prove, _) = st
        .hello_rv_ack(MessageType(r.msg_type), &r.body, &impostor)
        .unwrap();
    assert_eq!(
        error_code(&post(&app, &prove, r.token.as_deref()).await),
        101
    );
}

#[tokio::test]
async fn a_to1d_signed_by_someone_else_is_not_registered() {
    use vouch_protocol::messages::to0::{HelloAck, OwnerSign, To0d};
    let app = app().await;
    let owner = SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"owner")).unwrap();
    let thief = SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"thief")).unwrap();
    let (_, ov) = device_and_voucher(&owner);
    // Our own client refuses to sign for a voucher it does not own, so the thief's message is
    // built by hand: a valid voucher, the right nonce, a to1d signed with the wrong key.
    let (hello, _) = To0Owner::start(
        ov.clone().verify(&C, None, None).unwrap(),
        vec![RvTo2Addr {
            ip: None,
            dns: Some("thief.example".into()),
            port: 443,
            protocol: TransportProtocol::HTTPS,
        }],
        60,
    )
    .unwrap();
    let r = post(&app, &hello, None).await;
    let ack = HelloAck::from_cbor(&r.body).unwrap();
    let to0d = To0d {
        voucher: ov,
        wait_seconds: 60,
        nonce: ack.nonce,
    };
    let addr = RvTo2Addr {
        ip: None,
        dns: Some("thief.example".into()),
        port: 443,
        protocol: TransportProtocol::HTTPS,
    };
    let forged = OwnerSign::sign(&C, to0d, vec![addr], HashAlg::SHA256, &thief).unwrap();
    let out = Outgoing::new(&forged);
    assert_eq!(error_code(&post(&app, &out, r.token.as_deref()).await), 3);
}
