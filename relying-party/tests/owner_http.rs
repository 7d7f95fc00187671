//! TO2 against the owner role over the FDO HTTP binding and a real SQLite store: the device is
//! the sans-IO `To2Device`, pumped through the axum router (no socket), with the bearer token
//! handed back on every message. Then TO0 from the owner's client to a rendezvous server
//! listening on loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;
use vouch_protocol::cbor::Cbor;
use vouch_protocol::credential::DeviceCredential;
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{CryptoProvider, RustCrypto, Signer, SigningKey};
use vouch_protocol::flows::Outgoing;
use vouch_protocol::flows::to1::UnverifiedTo1d;
use vouch_protocol::flows::to2::{DeviceConfig, DeviceOutcome, DeviceStep, To2Device};
use vouch_protocol::messages::to0::RvTo2Addr;
use vouch_protocol::messages::{ErrorMessage, MessageType};
use vouch_protocol::serviceinfo::{DeviceModules, Devmod, OwnerModules};
use vouch_protocol::types::{
    Guid, HashAlg, PkEnc, PkType, ProtocolVersion, RendezvousInfo, RvDirective, RvInstruction,
    RvVariable, TransportProtocol,
};
use vouch_protocol::voucher::{OvHeader, OwnershipVoucher};
use vouch_relying_party::fdo_http::{DEFAULT_MAX_BODY, router};
use vouch_relying_party::owner::{
    Owner, OwnerRoleConfig, owner_signer_for, register_with_rendezvous, rendezvous_client,
};
use vouch_relying_party::rendezvous::{Rendezvous, RendezvousConfig};
use vouch_relying_party::store::{
    OnExisting, OwnerKey, SqliteStore, Store, StoreError, VoucherBytes,
};

const C: RustCrypto = RustCrypto;
const NOW: i64 = 1_800_000_000;
const GUID: Guid = Guid([0x61; 16]);
const SECRET: [u8; 32] = [0x5e; 32];
const DEVICE_INFO: &str = "owner test device";

fn rv_info() -> RendezvousInfo {
    RendezvousInfo(vec![RvDirective(vec![
        RvInstruction::dns("rv.example"),
        RvInstruction::uint(RvVariable::DEV_PORT, 8041),
        RvInstruction::uint(RvVariable::PROTOCOL, 3),
    ])])
}

/// A device, its credential, its voucher (manufacturer → reseller → owner) in the owner's
/// store, and the owner's key there too.
struct World {
    store: Arc<SqliteStore>,
    app: axum::Router,
    device_key: SigningKey,
    credential: DeviceCredential,
    voucher: OwnershipVoucher,
    voucher_bytes: Vec<u8>,
    owner: SigningKey,
}

/// A voucher for `guid` made by a fresh manufacturer and extended to `owner` through a
/// reseller, with a real (self-signed) device certificate; and the device's key and credential.
fn device_and_voucher(
    guid: Guid,
    owner: &SigningKey,
) -> (SigningKey, DeviceCredential, OwnershipVoucher) {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["device.example".into()])
        .unwrap()
        .self_signed(&kp)
        .unwrap();
    let device_key = SigningKey::from_der(&kp.serialize_der()).unwrap();
    let mut rng = SeededRng::new(b"owner test manufacturer");
    let mfg = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
    let reseller = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
    let chain = vec![cert.der().to_vec()];
    let header = OvHeader::new(
        &C,
        guid,
        rv_info(),
        DEVICE_INFO,
        mfg.public_key(PkEnc::X509).unwrap(),
        Some(&chain),
        HashAlg::SHA256,
    )
    .unwrap();
    let hmac = C
        .hmac(HashAlg::HMAC_SHA256, &SECRET, &header.to_cbor())
        .unwrap();
    let voucher = OwnershipVoucher::new(&C, header, hmac, Some(chain))
        .unwrap()
        .extend(&C, &mfg, reseller.public_key(PkEnc::X509).unwrap())
        .unwrap()
        .extend(&C, &reseller, owner.public_key(PkEnc::X509).unwrap())
        .unwrap();
    let credential = DeviceCredential {
        active: true,
        protocol_version: ProtocolVersion::V101,
        hmac_secret: Some(zeroize::Zeroizing::new(SECRET.to_vec())),
        device_info: DEVICE_INFO.into(),
        guid,
        rv_info: rv_info(),
        pub_key_hash: C
            .hash(
                HashAlg::SHA256,
                &[voucher.header().manufacturer_key.bytes()],
            )
            .unwrap(),
        device_key: None,
    };
    (device_key, credential, voucher)
}

fn owner_key_record(name: &str, key: &SigningKey) -> OwnerKey {
    OwnerKey {
        name: name.into(),
        private_key_pkcs8: key.to_pkcs8_der().unwrap(),
        public_key: key.public_key(PkEnc::X509).unwrap().to_cbor(),
    }
}

async fn world() -> World {
    let store = Arc::new(SqliteStore::memory().await.unwrap());
    let mut rng = SeededRng::new(b"owner test keys");
    let owner = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
    // Another key of ours, listed before the owner's, which owns nothing here.
    let other = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
    store
        .put_owner_key(&owner_key_record("a-spare", &other), NOW)
        .await
        .unwrap();
    store
        .put_owner_key(&owner_key_record("owner", &owner), NOW)
        .await
        .unwrap();
    let (device_key, credential, voucher) = device_and_voucher(GUID, &owner);
    let voucher_bytes = voucher.to_cbor();
    store
        .insert_voucher(
            &VoucherBytes::parse(voucher_bytes.clone()).unwrap(),
            OnExisting::Refuse,
            NOW,
        )
        .await
        .unwrap();
    let role = Owner::new(store.clone(), OwnerRoleConfig::default(), Arc::new(|| NOW));
    let app = router(Arc::new(role), DEFAULT_MAX_BODY);
    World {
        store,
        app,
        device_key,
        credential,
        voucher,
        voucher_bytes,
        owner,
    }
}

impl World {
    /// The stored voucher is byte for byte the one the test started with.
    async fn assert_voucher_unchanged(&self) {
        assert_eq!(
            self.store.get_voucher(GUID).await.unwrap(),
            self.voucher_bytes
        );
    }

    /// How many sessions the store still holds (it deletes them all to count them).
    async fn sessions_left(&self) -> u64 {
        self.store.purge_expired_sessions(i64::MAX).await.unwrap()
    }
}

fn devmod() -> Devmod {
    Devmod {
        active: true,
        os: "Linux".into(),
        arch: "x86_64".into(),
        version: "6.6".into(),
        device: "owner test board".into(),
        sep: "/".into(),
        bin: "x86_64".into(),
        ..Devmod::default()
    }
}

struct Reply {
    status: u16,
    msg_type: MessageType,
    /// The `Authorization` value as received, `Bearer ` included.
    token: Option<String>,
    body: Vec<u8>,
}

impl Reply {
    /// The code of the FDO error this reply must be.
    #[track_caller]
    fn error_code(&self) -> u16 {
        assert_eq!(
            (self.status, self.msg_type),
            (500, MessageType::ERROR),
            "expected an FDO error"
        );
        ErrorMessage::from_cbor(&self.body).unwrap().code.0
    }
}

async fn post(app: &axum::Router, t: MessageType, body: &[u8], token: Option<&str>) -> Reply {
    let mut req =
        Request::post(format!("/fdo/101/msg/{}", t.0)).header("content-type", "application/cbor");
    if let Some(t) = token {
        req = req.header("authorization", t);
    }
    let r = app
        .clone()
        .oneshot(req.body(Body::from(body.to_vec())).unwrap())
        .await
        .unwrap();
    let status = r.status().as_u16();
    let msg_type = MessageType(
        r.headers()["message-type"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap(),
    );
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

async fn send(app: &axum::Router, out: &Outgoing, token: Option<&str>) -> Reply {
    post(app, out.msg_type, &out.body, token).await
}

/// The device's side of one TO2 run, stepped by the test.
struct Run<'a> {
    device: Option<To2Device<'a>>,
    next: Outgoing,
    token: Option<String>,
    rng: SeededRng,
}

impl<'a> Run<'a> {
    fn start(credential: &'a DeviceCredential, key: &'a SigningKey, seed: &[u8]) -> Self {
        let mut rng = SeededRng::new(seed);
        let (next, device) = To2Device::start(
            &C,
            credential,
            key,
            DeviceConfig::ecdh256(),
            DeviceModules::new(devmod()),
            None,
            &mut rng,
        )
        .unwrap();
        Self {
            device: Some(device),
            next,
            token: None,
            rng,
        }
    }

    /// Sends the device's next message; on a normal answer, the device takes it and the token
    /// is kept. Returns the owner's answer and, if TO2 finished, the device's outcome.
    async fn step(&mut self, app: &axum::Router) -> (Reply, Option<DeviceOutcome>) {
        let r = send(app, &self.next, self.token.as_deref()).await;
        if r.status != 200 {
            return (r, None);
        }
        if r.token.is_some() {
            self.token = r.token.clone();
        }
        let device = self.device.take().expect("TO2 already over");
        match device.receive(r.msg_type, &r.body, &mut self.rng).unwrap() {
            DeviceStep::Send(out, device) => {
                self.next = out;
                self.device = Some(device);
                (r, None)
            }
            DeviceStep::Finished(outcome) => (r, Some(*outcome)),
        }
    }

    /// Steps until the device's next message is of type `t` (not sent yet).
    async fn until(&mut self, app: &axum::Router, t: MessageType) {
        while self.next.msg_type != t {
            let (r, done) = self.step(app).await;
            assert_eq!(r.status, 200, "the owner refused message {}", r.msg_type.0);
            assert!(done.is_none(), "TO2 ended before message {}", t.0);
        }
    }

    /// Runs TO2 to the end: the device's outcome, or the owner's error code.
    async fn finish(&mut self, app: &axum::Router) -> Result<DeviceOutcome, u16> {
        loop {
            let (r, done) = self.step(app).await;
            if r.status != 200 {
                return Err(r.error_code());
            }
            if let Some(outcome) = done {
                return Ok(outcome);
            }
        }
    }
}

#[tokio::test]
async fn to2_gives_a_new_guid_and_stores_the_replacement_voucher_extended_to_the_owner() {
    let w = world().await;
    let mut run = Run::start(&w.credential, &w.device_key, b"device run 1");
    let outcome = run.finish(&w.app).await.unwrap();

    // The device's new credential: a new GUID, the same HMAC secret, the owner key's hash.
    let cred = &outcome.credential;
    assert!(!outcome.reused);
    assert_ne!(cred.guid, GUID);
    assert_eq!(cred.rv_info, rv_info());
    assert_eq!(cred.hmac_secret(), w.credential.hmac_secret());
    let owner_pk = w.owner.public_key(PkEnc::X509).unwrap();
    assert_eq!(
        cred.pub_key_hash,
        C.hash(HashAlg::SHA256, &[&owner_pk.to_cbor()]).unwrap()
    );

    // The store: the old voucher gone, the replacement under the new GUID, extended once to the
    // owner's key, and it verifies against the device's new credential (HMAC included).
    assert!(matches!(
        w.store.get_voucher(GUID).await,
        Err(StoreError::NotFound(_))
    ));
    let stored = w.store.get_voucher(cred.guid).await.unwrap();
    let replacement = OwnershipVoucher::from_cbor(&stored).unwrap();
    assert_eq!(replacement.guid(), cred.guid);
    assert_eq!(replacement.entries().len(), 1);
    assert!(C.same_key(replacement.owner_key(), &owner_pk).unwrap());
    assert!(
        C.same_key(replacement.header().manufacturer_key.value(), &owner_pk)
            .unwrap()
    );
    assert_eq!(replacement.cert_chain(), w.voucher.cert_chain());
    let verified = replacement.clone().verify(&C, None, Some(cred)).unwrap();
    assert!(verified.hmac_checked());
    let signer = owner_signer_for(w.store.as_ref(), &replacement)
        .await
        .unwrap()
        .expect("the owner's key for the replacement voucher");
    assert!(
        C.same_key(&signer.public_key(PkEnc::X509).unwrap(), &owner_pk)
            .unwrap()
    );

    // The session ended with TO2: its token is refused, and no session is left.
    let r = post(
        &w.app,
        MessageType::TO2_DONE,
        b"\x81\x40",
        run.token.as_deref(),
    )
    .await;
    assert_eq!(r.error_code(), 1);
    assert_eq!(w.sessions_left().await, 0);

    // The owner can take the device through TO2 again with the voucher it stored.
    let mut again = Run::start(cred, &w.device_key, b"device run 2");
    let second = again.finish(&w.app).await.unwrap();
    assert_ne!(second.credential.guid, cred.guid);
    let stored = w.store.get_voucher(second.credential.guid).await.unwrap();
    OwnershipVoucher::from_cbor(&stored)
        .unwrap()
        .verify(&C, None, Some(&second.credential))
        .unwrap();
    assert!(matches!(
        w.store.get_voucher(cred.guid).await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn keeping_the_guid_replaces_the_voucher_in_place() {
    let w = world().await;
    let config = OwnerRoleConfig {
        new_guid: false,
        new_rv_info: Some(RendezvousInfo(vec![RvDirective(vec![
            RvInstruction::dns("rv.owner.example"),
            RvInstruction::uint(RvVariable::DEV_PORT, 443),
            RvInstruction::uint(RvVariable::PROTOCOL, 5),
        ])])),
        ..OwnerRoleConfig::default()
    };
    // The module registry is asked for the modules on every DeviceServiceInfo.
    let made = Arc::new(AtomicUsize::new(0));
    let counter = made.clone();
    let role =
        Owner::new(w.store.clone(), config.clone(), Arc::new(|| NOW)).with_modules(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            OwnerModules::new()
        });
    let app = router(Arc::new(role), DEFAULT_MAX_BODY);
    let outcome = Run::start(&w.credential, &w.device_key, b"same guid")
        .finish(&app)
        .await
        .unwrap();
    assert_eq!(outcome.credential.guid, GUID);
    assert_eq!(
        Some(&outcome.credential.rv_info),
        config.new_rv_info.as_ref()
    );
    let stored = w.store.get_voucher(GUID).await.unwrap();
    assert_ne!(stored, w.voucher_bytes);
    let v = OwnershipVoucher::from_cbor(&stored).unwrap();
    assert_eq!(v.entries().len(), 1);
    v.verify(&C, None, Some(&outcome.credential)).unwrap();
    assert!(made.load(Ordering::Relaxed) >= 1);
    assert_eq!(w.sessions_left().await, 0);
}

#[tokio::test]
async fn a_voucher_changed_during_to2_is_not_replaced() {
    let w = world().await;
    let mut run = Run::start(&w.credential, &w.device_key, b"changed meanwhile");
    run.until(&w.app, MessageType::TO2_DONE).await;
    // Meanwhile the operator extends the voucher (here: to the same owner again).
    let changed = w
        .voucher
        .extend(&C, &w.owner, w.owner.public_key(PkEnc::X509).unwrap())
        .unwrap();
    w.store
        .replace_voucher(
            GUID,
            &w.voucher_bytes,
            &VoucherBytes::from_voucher(&changed),
            NOW,
        )
        .await
        .unwrap();
    // Done is refused (no Done2: the device keeps its credential) and the operator's voucher
    // stays.
    let (r, done) = run.step(&w.app).await;
    assert_eq!(r.error_code(), 500);
    assert!(done.is_none());
    assert_eq!(w.store.get_voucher(GUID).await.unwrap(), changed.to_cbor());
    assert_eq!(w.store.list_vouchers().await.unwrap().len(), 1);
    assert_eq!(w.sessions_left().await, 0);
}

#[tokio::test]
async fn unknown_guid_or_a_voucher_we_do_not_own_is_resource_not_found() {
    let w = world().await;
    // No voucher for this GUID.
    let mut stranger = w.credential.clone();
    stranger.guid = Guid([0x99; 16]);
    let mut run = Run::start(&stranger, &w.device_key, b"unknown");
    let (r, _) = run.step(&w.app).await;
    assert_eq!(r.error_code(), 6);

    // A voucher whose owner key is not in our store.
    let someone = SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"someone")).unwrap();
    let other_guid = Guid([0x62; 16]);
    let (key, cred, voucher) = device_and_voucher(other_guid, &someone);
    w.store
        .insert_voucher(
            &VoucherBytes::from_voucher(&voucher),
            OnExisting::Refuse,
            NOW,
        )
        .await
        .unwrap();
    let mut run = Run::start(&cred, &key, b"not ours");
    let (r, _) = run.step(&w.app).await;
    assert_eq!(r.error_code(), 6);
    assert_eq!(
        w.store.get_voucher(other_guid).await.unwrap(),
        voucher.to_cbor()
    );
    w.assert_voucher_unchanged().await;
    assert_eq!(w.sessions_left().await, 0);
}

#[tokio::test]
async fn a_missing_or_foreign_token_is_invalid_token() {
    let w = world().await;
    let mut run = Run::start(&w.credential, &w.device_key, b"tokens");
    run.step(&w.app).await; // HelloDevice → ProveOVHdr, token kept
    assert_eq!(run.next.msg_type, MessageType::TO2_GET_OV_NEXT_ENTRY);
    // No token.
    assert_eq!(send(&w.app, &run.next, None).await.error_code(), 1);
    // A token nobody was given.
    let made_up = format!("Bearer {}", "ab".repeat(32));
    assert_eq!(
        send(&w.app, &run.next, Some(&made_up)).await.error_code(),
        1
    );
    // The token of a session of another protocol in the same store.
    w.store
        .create_session("to0-session", "to0", b"\x80", NOW + 60)
        .await
        .unwrap();
    assert_eq!(
        send(&w.app, &run.next, Some("Bearer to0-session"))
            .await
            .error_code(),
        1
    );
    // None of these touched the device's session, which goes on to the end.
    run.finish(&w.app).await.unwrap();
    // The other protocol's session was not touched either.
    assert_eq!(w.sessions_left().await, 1);
}

#[tokio::test]
async fn a_message_out_of_order_ends_the_session() {
    let w = world().await;
    let mut run = Run::start(&w.credential, &w.device_key, b"out of order");
    run.step(&w.app).await;
    // DeviceServiceInfoReady (66) right after ProveOVHdr: refused by the step, session gone.
    let r = post(
        &w.app,
        MessageType::TO2_DEVICE_SERVICE_INFO_READY,
        b"\x82\xf6\xf6",
        run.token.as_deref(),
    )
    .await;
    assert_eq!(r.error_code(), 100);
    let (r, _) = run.step(&w.app).await;
    assert_eq!(r.error_code(), 1, "the session must be gone");
    w.assert_voucher_unchanged().await;
    assert_eq!(w.sessions_left().await, 0);

    // A new TO2 starts again at HelloDevice and succeeds.
    let outcome = Run::start(&w.credential, &w.device_key, b"retry")
        .finish(&w.app)
        .await
        .unwrap();
    assert_ne!(outcome.credential.guid, GUID);
}

#[tokio::test]
async fn malformed_cbor_is_message_body_error() {
    let w = world().await;
    // HelloDevice that is not CBOR: no session is made.
    let r = post(&w.app, MessageType::TO2_HELLO_DEVICE, b"\xff\x00", None).await;
    assert_eq!(r.error_code(), 100);
    assert_eq!(w.sessions_left().await, 0);
    // GetOVNextEntry that is not CBOR, inside a session: refused, and the session ends.
    let mut run = Run::start(&w.credential, &w.device_key, b"malformed");
    run.step(&w.app).await;
    let r = post(
        &w.app,
        MessageType::TO2_GET_OV_NEXT_ENTRY,
        b"\x81",
        run.token.as_deref(),
    )
    .await;
    assert_eq!(r.error_code(), 100);
    assert_eq!(run.step(&w.app).await.0.error_code(), 1);
    w.assert_voucher_unchanged().await;
}

#[tokio::test]
async fn a_replayed_or_tampered_prove_device_is_invalid_message() {
    let w = world().await;
    // Session A runs to ProveDevice, which is kept.
    let mut a = Run::start(&w.credential, &w.device_key, b"session a");
    a.until(&w.app, MessageType::TO2_PROVE_DEVICE).await;
    let replayed = a.next.clone();
    // Session B: A's ProveDevice carries A's NonceTO2ProveDv, not B's.
    let mut b = Run::start(&w.credential, &w.device_key, b"session b");
    b.until(&w.app, MessageType::TO2_PROVE_DEVICE).await;
    let r = send(&w.app, &replayed, b.token.as_deref()).await;
    assert_eq!(r.error_code(), 101);
    assert_eq!(b.step(&w.app).await.0.error_code(), 1, "B must be over");
    w.assert_voucher_unchanged().await;

    // A ProveDevice whose signature was tampered with.
    let mut c = Run::start(&w.credential, &w.device_key, b"session c");
    c.until(&w.app, MessageType::TO2_PROVE_DEVICE).await;
    let mut tampered = c.next.clone();
    let last = tampered.body.len() - 1;
    tampered.body[last] ^= 0x01;
    let r = send(&w.app, &tampered, c.token.as_deref()).await;
    assert_eq!(r.error_code(), 101);
    w.assert_voucher_unchanged().await;

    // Session A is untouched by B's and C's failures and still goes through.
    let outcome = a.finish(&w.app).await.unwrap();
    assert_ne!(outcome.credential.guid, GUID);
    assert_eq!(w.sessions_left().await, 0);
}

#[tokio::test]
async fn a_tampered_encrypted_message_fails_and_the_voucher_stays() {
    let w = world().await;
    let mut run = Run::start(&w.credential, &w.device_key, b"tampered done");
    run.until(&w.app, MessageType::TO2_DONE).await;
    let mut done = run.next.clone();
    let last = done.body.len() - 1;
    done.body[last] ^= 0x01;
    let r = send(&w.app, &done, run.token.as_deref()).await;
    assert_eq!(r.error_code(), 101);
    w.assert_voucher_unchanged().await;
    assert_eq!(w.sessions_left().await, 0);
}

// ---------------------------------------------------------------------------------------------
// TO0 over loopback

/// Serves `app` on 127.0.0.1 (a free port) until the returned sender is dropped or fired.
async fn serve(
    app: axum::Router,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (base, stop, task)
}

#[tokio::test]
async fn to0_registers_the_voucher_at_a_rendezvous_server() {
    let w = world().await;
    let rv_store = Arc::new(SqliteStore::memory().await.unwrap());
    let rv = Rendezvous::new(
        rv_store.clone(),
        RendezvousConfig {
            max_wait_seconds: 3600,
        },
        Arc::new(|| NOW),
    );
    let (base, stop, task) = serve(router(Arc::new(rv), DEFAULT_MAX_BODY)).await;
    let client = rendezvous_client().unwrap();
    let addrs = vec![RvTo2Addr {
        ip: Some("127.0.0.1".parse().unwrap()),
        dns: None,
        port: 8043,
        protocol: TransportProtocol::HTTP,
    }];

    let granted =
        register_with_rendezvous(&client, &base, &w.voucher, &w.owner, addrs.clone(), 7200)
            .await
            .unwrap();
    assert_eq!(granted, 3600, "the server caps the registration");
    let reg = rv_store.get_registration(GUID, NOW).await.unwrap();
    assert_eq!(reg.expires_at, NOW + 3600);
    assert_eq!(reg.voucher, w.voucher_bytes);
    // to1d names our addresses and is signed with the owner key.
    let to1d = UnverifiedTo1d::from_cbor(&reg.to1d).unwrap();
    let to1d = to1d.verify(&C, w.voucher.owner_key()).unwrap();
    assert_eq!(to1d.addresses(), &addrs[..]);

    // A signer that is not the voucher's owner is refused before anything is signed.
    let spare = SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"spare")).unwrap();
    let err = register_with_rendezvous(&client, &base, &w.voucher, &spare, addrs.clone(), 60)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("owner key"), "{err:#}");

    // An FDO error from the server comes back with its code: the owner role serves no TO0.
    let (owner_base, owner_stop, owner_task) = serve(w.app.clone()).await;
    let err = register_with_rendezvous(&client, &owner_base, &w.voucher, &w.owner, addrs, 60)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("error 100"), "{err:#}");

    for (stop, task) in [(stop, task), (owner_stop, owner_task)] {
        stop.send(()).unwrap();
        task.await.unwrap();
    }
}
