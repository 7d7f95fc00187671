//! `vouch.tls` end to end: the owner role with an owner CA in its SQLite store, and the device
//! agent's `vouch.tls` module. First with the sans-IO `To2Device` pumped through the router (no
//! socket), then with the agent's `onboard` over loopback HTTP, files and all.
//!
//! What must hold: after TO2 the device's pin is in the store under its new GUID and names the
//! key the device holds; a TO2 that fails after the certificate was sent records no pin, and
//! the device writes no key.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::Request;
use axum::routing::post;
use rcgen::PublicKeyData;
use sha2::{Digest, Sha256};
use tower::ServiceExt;
use vouch_authenticator::onboard::tls::{self as device_tls, TlsEnrolDevice, TlsEnrolOptions};
use vouch_authenticator::onboard::{OnboardOptions, onboard};
use vouch_authenticator::{CredentialStore, FileCredentialStore, MemoryKeyStore};
use vouch_protocol::cbor::Cbor;
use vouch_protocol::credential::DeviceCredential;
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{CryptoProvider, RustCrypto, Signer, SigningKey};
use vouch_protocol::flows::Outgoing;
use vouch_protocol::flows::to2::{DeviceConfig, DeviceOutcome, DeviceStep, To2Device};
use vouch_protocol::messages::{ErrorMessage, MessageType};
use vouch_protocol::serviceinfo::{DeviceModule, DeviceModules, Devmod, ModuleMessage};
use vouch_protocol::types::{
    Guid, HashAlg, PkEnc, PkType, ProtocolVersion, RendezvousInfo, RvDirective, RvInstruction,
    RvVariable,
};
use vouch_protocol::voucher::{OvHeader, OwnershipVoucher};
use vouch_relying_party::fdo_http::{DEFAULT_MAX_BODY, router};
use vouch_relying_party::owner::{Owner, OwnerRoleConfig};
use vouch_relying_party::owner_ca::OwnerCa;
use vouch_relying_party::store::{OnExisting, OwnerKey, SqliteStore, Store, VoucherBytes};
use x509_parser::extensions::GeneralName;

const C: RustCrypto = RustCrypto;
const NOW: i64 = 1_800_000_000;
const GUID: Guid = Guid([0x61; 16]);
const SECRET: [u8; 32] = [0x5e; 32];
const DEVICE_INFO: &str = "tls test device";
const ZONE: &str = "home.arpa";
/// The name the device asks for by default: the first 16 hex digits of its GUID in the zone.
const DEFAULT_NAME: &str = "6161616161616161.home.arpa";

fn rv_info() -> RendezvousInfo {
    RendezvousInfo(vec![RvDirective(vec![
        RvInstruction::dns("rv.example"),
        RvInstruction::uint(RvVariable::DEV_PORT, 8041),
        RvInstruction::uint(RvVariable::PROTOCOL, 3),
    ])])
}

/// The owner's store (its key, the device's voucher, with or without an owner CA), the router
/// serving its owner role, and the device's key and credential.
struct World {
    store: Arc<SqliteStore>,
    app: axum::Router,
    ca: Option<OwnerCa>,
    device_key: SigningKey,
    credential: DeviceCredential,
}

fn device_and_voucher(owner: &SigningKey) -> (SigningKey, DeviceCredential, OwnershipVoucher) {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["device.example".into()])
        .unwrap()
        .self_signed(&kp)
        .unwrap();
    let device_key = SigningKey::from_der(&kp.serialize_der()).unwrap();
    let mut rng = SeededRng::new(b"tls test manufacturer");
    let mfg = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
    let chain = vec![cert.der().to_vec()];
    let header = OvHeader::new(
        &C,
        GUID,
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
        .extend(&C, &mfg, owner.public_key(PkEnc::X509).unwrap())
        .unwrap();
    let credential = DeviceCredential {
        active: true,
        protocol_version: ProtocolVersion::V101,
        hmac_secret: Some(zeroize::Zeroizing::new(SECRET.to_vec())),
        device_info: DEVICE_INFO.into(),
        guid: GUID,
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

async fn world(with_ca: bool) -> World {
    let store = Arc::new(SqliteStore::memory().await.unwrap());
    let owner = SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"tls owner")).unwrap();
    store
        .put_owner_key(
            &OwnerKey {
                name: "owner".into(),
                private_key_pkcs8: owner.to_pkcs8_der().unwrap(),
                public_key: owner.public_key(PkEnc::X509).unwrap().to_cbor(),
            },
            NOW,
        )
        .await
        .unwrap();
    let (device_key, credential, voucher) = device_and_voucher(&owner);
    store
        .insert_voucher(
            &VoucherBytes::from_voucher(&voucher),
            OnExisting::Refuse,
            NOW,
        )
        .await
        .unwrap();
    let ca = if with_ca {
        let ca = OwnerCa::generate(ZONE, &["127.0.0.0/8".to_string()]).unwrap();
        ca.save(store.as_ref(), false, NOW).await.unwrap();
        Some(ca)
    } else {
        None
    };
    let role = Owner::new(store.clone(), OwnerRoleConfig::default(), Arc::new(|| NOW));
    let app = router(Arc::new(role), DEFAULT_MAX_BODY);
    World {
        store,
        app,
        ca,
        device_key,
        credential,
    }
}

fn devmod() -> Devmod {
    Devmod {
        active: true,
        os: "Linux".into(),
        arch: "x86_64".into(),
        version: "6.6".into(),
        device: "tls test board".into(),
        sep: "/".into(),
        bin: "x86_64".into(),
        ..Devmod::default()
    }
}

struct Reply {
    status: u16,
    msg_type: MessageType,
    token: Option<String>,
    body: Vec<u8>,
}

impl Reply {
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

async fn send(app: &axum::Router, out: &Outgoing, token: Option<&str>) -> Reply {
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

/// A device module that passes everything to the device's `vouch.tls` module and notes the
/// name of every owner message, so a test can tell what arrived while TO2 is still running.
struct Observed {
    inner: TlsEnrolDevice,
    seen: Arc<Mutex<Vec<String>>>,
}

impl DeviceModule for Observed {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn receive(
        &mut self,
        message: &str,
        value: &[u8],
    ) -> Result<Vec<ModuleMessage>, vouch_protocol::Error> {
        self.seen.lock().unwrap().push(message.to_string());
        self.inner.receive(message, value)
    }
    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

/// The device's side of one TO2 run, stepped by the test.
struct Run<'a> {
    device: Option<To2Device<'a>>,
    next: Outgoing,
    token: Option<String>,
    rng: SeededRng,
    /// The owner's `vouch.tls` messages the device received.
    seen: Arc<Mutex<Vec<String>>>,
}

impl<'a> Run<'a> {
    /// A run of `credential`'s device with the `vouch.tls` module (asking for `tls`), or
    /// without it.
    fn start(
        credential: &'a DeviceCredential,
        key: &'a SigningKey,
        tls: Option<TlsEnrolOptions>,
        seed: &[u8],
    ) -> Self {
        let mut rng = SeededRng::new(seed);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut modules = DeviceModules::new(devmod());
        if let Some(tls) = tls {
            modules.push(Box::new(Observed {
                inner: TlsEnrolDevice::new(credential.guid, tls),
                seen: seen.clone(),
            }));
        }
        let (next, device) = To2Device::start(
            &C,
            credential,
            key,
            DeviceConfig::ecdh256(),
            modules,
            None,
            &mut rng,
        )
        .unwrap();
        Self {
            device: Some(device),
            next,
            token: None,
            rng,
            seen,
        }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

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

    async fn finish(&mut self, app: &axum::Router) -> DeviceOutcome {
        loop {
            let (r, done) = self.step(app).await;
            assert_eq!(r.status, 200, "the owner refused message {}", r.msg_type.0);
            if let Some(outcome) = done {
                return outcome;
            }
        }
    }
}

/// The device's `vouch.tls` module after TO2.
fn tls_module(modules: &mut DeviceModules) -> &mut TlsEnrolDevice {
    let observed = modules
        .get_mut(device_tls::MODULE)
        .and_then(|m| m.as_any_mut())
        .and_then(|m| m.downcast_mut::<Observed>())
        .expect("the vouch.tls module");
    &mut observed.inner
}

/// The SAN names and addresses of a DER certificate.
fn san_of(der: &[u8]) -> Vec<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    cert.subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::DNSName(d) => d.to_string(),
            GeneralName::IPAddress(b) => format!("{b:?}"),
            other => format!("{other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn to2_pins_the_enrolled_key_under_the_new_guid() {
    let w = world(true).await;
    let ca = w.ca.clone().unwrap();
    let tls = TlsEnrolOptions {
        ips: vec![IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9))],
        webtransport_cert_sha256: Some([0x3c; 32]),
        ..TlsEnrolOptions::default()
    };
    let mut run = Run::start(&w.credential, &w.device_key, Some(tls), b"tls run");
    let mut outcome = run.finish(&w.app).await;
    assert_eq!(run.seen(), ["active", "enroll", "cert"]);
    let new_guid = outcome.credential.guid;
    assert_ne!(new_guid, GUID);

    let module = tls_module(&mut outcome.modules);
    assert_eq!(module.problem(), None);
    let key = module.take_enrolled().expect("an enrolled TLS key");
    let device_spki = rcgen::KeyPair::from_pem(&key.key_pem)
        .unwrap()
        .subject_public_key_info();

    // The pin is under the new GUID, and only there; it names the device's key.
    let pins = w.store.list_pins().await.unwrap();
    assert_eq!(pins.len(), 1);
    let pin = pins[0].pin.clone();
    assert_eq!(pin.guid, new_guid);
    assert_eq!(
        pin.spki_sha256,
        <[u8; 32]>::from(Sha256::digest(&device_spki))
    );
    assert_eq!(pin.spki_sha256, key.spki_sha256);
    assert_eq!(pin.dns_names, [DEFAULT_NAME]);
    assert_eq!(pin.ips, [IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9))]);
    assert_eq!(pin.webtransport_sha256, Some([0x3c; 32]));
    assert_eq!(pins[0].created_at, NOW);

    // The device holds the chain the owner issued: the pinned leaf, then the owner CA; the
    // leaf verifies under the CA and names what was asked for.
    assert_eq!(key.chain, [pin.cert_der.clone(), ca.cert_der().to_vec()]);
    let (_, ca_cert) = x509_parser::parse_x509_certificate(ca.cert_der()).unwrap();
    let (_, leaf) = x509_parser::parse_x509_certificate(&pin.cert_der).unwrap();
    leaf.verify_signature(Some(ca_cert.public_key())).unwrap();
    assert_eq!(leaf.public_key().raw, device_spki.as_slice());
    assert_eq!(san_of(&pin.cert_der), [DEFAULT_NAME, "[127, 0, 0, 9]"]);

    // The next TO2, by a device that enrols no new key, carries the pin over to the GUID it
    // gets then: no pin is left under a GUID the device no longer has.
    let cred = outcome.credential.clone();
    let mut plain = Run::start(&cred, &w.device_key, None, b"plain run");
    let second = plain.finish(&w.app).await;
    let pins = w.store.list_pins().await.unwrap();
    assert_eq!(pins.len(), 1);
    assert_eq!(pins[0].pin.guid, second.credential.guid);
    assert_eq!(pins[0].pin.spki_sha256, pin.spki_sha256);
}

#[tokio::test]
async fn a_tampered_done_after_the_certificate_was_sent_pins_nothing() {
    let w = world(true).await;
    let mut run = Run::start(
        &w.credential,
        &w.device_key,
        Some(TlsEnrolOptions::default()),
        b"tampered done",
    );
    run.until(&w.app, MessageType::TO2_DONE).await;
    assert_eq!(
        run.seen(),
        ["active", "enroll", "cert"],
        "the owner certified"
    );
    let mut done = run.next.clone();
    let last = done.body.len() - 1;
    done.body[last] ^= 0x01;
    let r = send(&w.app, &done, run.token.as_deref()).await;
    assert_eq!(r.error_code(), 101);
    assert!(w.store.list_pins().await.unwrap().is_empty());
    // The untampered Done cannot follow: the session ended with the failure.
    let (r, finished) = run.step(&w.app).await;
    assert_eq!(r.error_code(), 1);
    assert!(finished.is_none());
    assert!(w.store.list_pins().await.unwrap().is_empty());
    assert_eq!(w.store.list_vouchers().await.unwrap()[0].guid, GUID);
}

#[tokio::test]
async fn a_session_misused_after_the_certificate_was_sent_pins_nothing() {
    let w = world(true).await;
    let mut run = Run::start(
        &w.credential,
        &w.device_key,
        Some(TlsEnrolOptions::default()),
        b"misused token",
    );
    run.until(&w.app, MessageType::TO2_DONE).await;
    assert_eq!(
        run.seen(),
        ["active", "enroll", "cert"],
        "the owner certified"
    );
    // Someone holding the token sends the session a message it does not expect at this point
    // (a DeviceServiceInfo after the owner's IsDone): refused, and the session is over.
    let stray = Outgoing {
        msg_type: MessageType::TO2_DEVICE_SERVICE_INFO,
        body: run.next.body.clone(),
    };
    let r = send(&w.app, &stray, run.token.as_deref()).await;
    assert_eq!(r.status, 500);
    // The device's own Done now finds no session.
    let (r, _) = run.step(&w.app).await;
    assert_eq!(r.error_code(), 1);
    assert!(w.store.list_pins().await.unwrap().is_empty());
    assert_eq!(w.store.list_vouchers().await.unwrap()[0].guid, GUID);
}

#[tokio::test]
async fn a_name_outside_the_zone_is_refused_and_onboarding_still_completes() {
    let w = world(true).await;
    let tls = TlsEnrolOptions {
        dns_names: vec!["printer.example.com".into()],
        ..TlsEnrolOptions::default()
    };
    let mut run = Run::start(&w.credential, &w.device_key, Some(tls), b"outside");
    let mut outcome = run.finish(&w.app).await;
    assert_eq!(run.seen(), ["active", "enroll", "error"]);
    assert_ne!(outcome.credential.guid, GUID);
    let module = tls_module(&mut outcome.modules);
    assert!(module.enrolled().is_none());
    let why = module.problem().unwrap();
    assert!(why.contains("outside the owner's zone"), "{why}");
    assert!(w.store.list_pins().await.unwrap().is_empty());
}

#[tokio::test]
async fn without_an_owner_ca_the_owner_does_not_ask() {
    let w = world(false).await;
    let mut run = Run::start(
        &w.credential,
        &w.device_key,
        Some(TlsEnrolOptions::default()),
        b"no ca",
    );
    let mut outcome = run.finish(&w.app).await;
    assert!(run.seen().is_empty());
    let module = tls_module(&mut outcome.modules);
    assert!(module.enrolled().is_none());
    assert_eq!(module.problem(), None);
    assert!(w.store.list_pins().await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// The device agent's onboard, over loopback, with its files

/// Serves `app` on 127.0.0.1 (a free port); returns the port and the server task.
async fn serve(app: axum::Router) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (port, task)
}

/// Forwards every FDO message to the owner's router, flipping the last byte of TO2.Done.
fn tampering_done(owner: axum::Router) -> axum::Router {
    async fn forward(
        State(owner): State<axum::Router>,
        UrlPath(n): UrlPath<u8>,
        headers: axum::http::HeaderMap,
        body: Bytes,
    ) -> axum::response::Response {
        let mut body = body.to_vec();
        if n == MessageType::TO2_DONE.0
            && let Some(last) = body.last_mut()
        {
            *last ^= 0x01;
        }
        let mut req = Request::post(format!("/fdo/101/msg/{n}"));
        for (name, value) in &headers {
            req = req.header(name, value);
        }
        owner
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap()
    }
    axum::Router::new()
        .route("/fdo/101/msg/{n}", post(forward))
        .with_state(owner)
}

/// The device's credential file in `dir`, its rendezvous info sending it straight to the
/// owner at `port` (RVBypass).
fn device_files(w: &World, dir: &std::path::Path, port: u16) -> FileCredentialStore {
    let mut cred = w.credential.clone();
    cred.rv_info = RendezvousInfo(vec![RvDirective(vec![
        RvInstruction::ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        RvInstruction::uint(RvVariable::DEV_PORT, u64::from(port)),
        RvInstruction::uint(RvVariable::PROTOCOL, 1),
        RvInstruction::flag(RvVariable::BYPASS),
    ])]);
    let mut store = FileCredentialStore::new(dir.join("credential.cbor"));
    store.store(&cred).unwrap();
    store
}

fn quick() -> OnboardOptions {
    OnboardOptions {
        max_rounds: 1,
        retry_base: Duration::ZERO,
        timeout: Duration::from_secs(10),
        ..OnboardOptions::default()
    }
}

#[tokio::test]
async fn onboard_writes_the_key_and_chain_beside_the_credential_and_the_owner_pins_it() {
    let w = world(true).await;
    let (port, server) = serve(w.app.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut credentials = device_files(&w, dir.path(), port);
    let mut keys = MemoryKeyStore::new(Some(w.device_key.clone()));
    let outcome = onboard(&mut credentials, &mut keys, &quick())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    server.abort();

    assert_eq!(outcome.tls_problem, None);
    let tls = outcome.tls.expect("a TLS key enrolled");
    assert_eq!(tls.key_path, dir.path().join(device_tls::KEY_FILE));
    assert_eq!(tls.cert_path, dir.path().join(device_tls::CERT_FILE));
    assert_eq!(tls.names, [DEFAULT_NAME]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&tls.key_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The key file's key is the pinned key, under the new GUID; the chain file is the leaf the
    // owner recorded, then the owner CA.
    let key = rcgen::KeyPair::from_pem(&std::fs::read_to_string(&tls.key_path).unwrap()).unwrap();
    let spki_sha256: [u8; 32] = Sha256::digest(key.subject_public_key_info()).into();
    assert_eq!(spki_sha256, tls.spki_sha256);
    let pin = w.store.get_pin(outcome.new_guid).await.unwrap().pin;
    assert_eq!(pin.spki_sha256, spki_sha256);
    let chain: Vec<Vec<u8>> = pem::parse_many(std::fs::read(&tls.cert_path).unwrap())
        .unwrap()
        .into_iter()
        .map(|p| p.into_contents())
        .collect();
    assert_eq!(
        chain,
        [pin.cert_der, w.ca.as_ref().unwrap().cert_der().to_vec()]
    );
    assert_eq!(credentials.load().unwrap().unwrap().guid, outcome.new_guid);
}

#[tokio::test]
async fn a_failed_to2_writes_no_tls_key_and_pins_nothing() {
    let w = world(true).await;
    let (port, server) = serve(tampering_done(w.app.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let mut credentials = device_files(&w, dir.path(), port);
    let before = std::fs::read(dir.path().join("credential.cbor")).unwrap();
    let mut keys = MemoryKeyStore::new(Some(w.device_key.clone()));
    let err = onboard(&mut credentials, &mut keys, &quick())
        .await
        .unwrap_err();
    server.abort();
    assert!(!err.is_local(), "{err}");
    assert_eq!(
        std::fs::read(dir.path().join("credential.cbor")).unwrap(),
        before
    );
    assert!(!dir.path().join(device_tls::KEY_FILE).exists());
    assert!(!dir.path().join(device_tls::CERT_FILE).exists());
    assert!(w.store.list_pins().await.unwrap().is_empty());
}
