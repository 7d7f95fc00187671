//! DI, TO1 and TO2 of the device agent over HTTP on 127.0.0.1, against small axum servers that
//! run the protocol crate's own manufacturer, rendezvous and owner steps: what the device
//! sends, what it stores, and what it keeps when a server refuses.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::routing::post;
use der::{Decode, Encode};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use vouch_authenticator::onboard::{DiOptions, OnboardError, OnboardOptions, Progress, Step};
use vouch_authenticator::protocol::cbor::Cbor;
use vouch_authenticator::protocol::credential::DeviceCredential;
use vouch_authenticator::protocol::crypto::test::SeededRng;
use vouch_authenticator::protocol::crypto::{CryptoProvider, RustCrypto, Signer, SigningKey};
use vouch_authenticator::protocol::flows::di::{self, Credentials, ManufacturerDiState};
use vouch_authenticator::protocol::flows::to0::Registration;
use vouch_authenticator::protocol::flows::to1;
use vouch_authenticator::protocol::flows::to2::{
    ExpectProveDevice, ExpectServiceInfo, ExpectServiceInfoReady, OwnerConfig, OwnerOutcome,
    Replacement, hello_device,
};
use vouch_authenticator::protocol::flows::{FlowError, Outgoing};
use vouch_authenticator::protocol::messages::di::MfgInfo;
use vouch_authenticator::protocol::messages::to0::{RvTo2Addr, To1d, To1dPayload};
use vouch_authenticator::protocol::messages::to2::{
    GetOvNextEntry, HelloDevice, OvNextEntry, ProveOvHdr,
};
use vouch_authenticator::protocol::messages::{ErrorMessage, MessageType};
use vouch_authenticator::protocol::serviceinfo::OwnerModules;
use vouch_authenticator::protocol::types::{
    Guid, HashAlg, PkBody, PkEnc, PkType, RendezvousInfo, RvDirective, RvInstruction, RvVariable,
    TransportProtocol,
};
use vouch_authenticator::protocol::voucher::{OvEntry, OwnershipVoucher};
use vouch_authenticator::protocol::{Error, ErrorCode, VerifyError};
use vouch_authenticator::transport::HttpTransport;
use vouch_authenticator::{
    CredentialStore, FileCredentialStore, FileKeyStore, KeyStore, initialize, onboard,
};
use x509_cert::request::CertReq;

const C: RustCrypto = RustCrypto;
const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

// ---------------------------------------------------------------------------------------------
// A server on 127.0.0.1 that answers FDO messages through a handler

/// Answers one FDO message: the message to send back, or the failure to report as an FDO
/// error message (HTTP 500, Message-Type 255).
type Handler = Box<dyn FnMut(MessageType, &[u8]) -> Result<Outgoing, FlowError> + Send>;

struct Shared {
    /// Every message received, in order, the device's error messages included.
    seen: Mutex<Vec<(MessageType, Vec<u8>)>>,
    handler: Mutex<Handler>,
}

/// An FDO server on 127.0.0.1:0, stopped by [`FdoServer::stop`].
struct FdoServer {
    base: String,
    port: u16,
    shared: Arc<Shared>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    UrlPath(n): UrlPath<u8>,
    body: Bytes,
) -> axum::response::Response {
    let msg_type = MessageType(n);
    shared.seen.lock().unwrap().push((msg_type, body.to_vec()));
    let reply = if msg_type == MessageType::ERROR {
        // The device reports an error: the protocol is over, the answer does not matter.
        Ok(Outgoing {
            msg_type,
            body: vec![0x80],
        })
    } else {
        (shared.handler.lock().unwrap())(msg_type, &body)
    };
    let (status, msg_type, body) = match reply {
        Ok(out) => (200, out.msg_type, out.body),
        Err(e) => (500, MessageType::ERROR, e.to_message().to_cbor()),
    };
    axum::http::Response::builder()
        .status(status)
        .header("content-type", "application/cbor")
        .header("message-type", msg_type.0.to_string())
        .header("authorization", "Bearer test-session")
        .body(Body::from(body))
        .unwrap()
}

impl FdoServer {
    async fn start(
        handler: impl FnMut(MessageType, &[u8]) -> Result<Outgoing, FlowError> + Send + 'static,
    ) -> Self {
        let shared = Arc::new(Shared {
            seen: Mutex::new(Vec::new()),
            handler: Mutex::new(Box::new(handler)),
        });
        let app = Router::new()
            .route("/fdo/101/msg/{n}", post(handle))
            .with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            base: format!("http://127.0.0.1:{port}"),
            port,
            shared,
            stop,
            task,
        }
    }

    fn client(&self) -> HttpTransport {
        HttpTransport::builder(&self.base).build().unwrap()
    }

    fn seen(&self) -> Vec<(MessageType, Vec<u8>)> {
        self.shared.seen.lock().unwrap().clone()
    }

    fn seen_types(&self) -> Vec<u8> {
        self.seen().iter().map(|(t, _)| t.0).collect()
    }

    /// The error messages the device sent.
    fn errors_received(&self) -> Vec<ErrorMessage> {
        self.seen()
            .iter()
            .filter(|(t, _)| *t == MessageType::ERROR)
            .map(|(_, b)| ErrorMessage::from_cbor(b).unwrap())
            .collect()
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
    }
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// `RVIPAddress 127.0.0.1, RVDevPort port, RVProtocol http`, and `extra`.
fn http_directive(port: u16, extra: Vec<RvInstruction>) -> RvDirective {
    let mut d = vec![
        RvInstruction::ip(LOCALHOST),
        RvInstruction::uint(RvVariable::DEV_PORT, u64::from(port)),
        RvInstruction::uint(RvVariable::PROTOCOL, 1),
    ];
    d.extend(extra);
    RvDirective(d)
}

fn fail(msg_type: MessageType, code: ErrorCode, text: &'static str) -> FlowError {
    FlowError::with_code(Error::invalid("test", text), msg_type, code)
}

// ---------------------------------------------------------------------------------------------
// The manufacturer

/// What the fake manufacturer saw and made.
#[derive(Default)]
struct Made {
    mfg_info: Option<MfgInfo>,
    voucher: Option<OwnershipVoucher>,
}

/// How the fake manufacturer misbehaves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum MfgFault {
    None,
    /// Answers DI.SetHMAC with an FDO error message.
    RefuseSetHmac,
    /// Sends a DI.SetCredentials that is not one.
    MalformedSetCredentials,
}

struct Manufacturer {
    key: SigningKey,
    server: FdoServer,
    made: Arc<Mutex<Made>>,
}

/// The device certificate's public key, for rcgen: the subjectPublicKey bits of the CSR.
struct CsrKey {
    point: Vec<u8>,
    alg: &'static rcgen::SignatureAlgorithm,
}

impl rcgen::PublicKeyData for CsrKey {
    fn der_bytes(&self) -> &[u8] {
        &self.point
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.alg
    }
}

/// A manufacturer that issues a device certificate from the CSR (under its own test CA) and
/// gives the device `rv_info`, a fresh GUID each time.
async fn manufacturer(rv_info: RendezvousInfo, fault: MfgFault) -> Manufacturer {
    let key =
        SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"manufacturer")).unwrap();
    let mfg_public = key.public_key(PkEnc::X509).unwrap();
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let ca_der = ca.der().to_vec();

    let made = Arc::new(Mutex::new(Made::default()));
    let record = made.clone();
    let mut waiting: Option<ManufacturerDiState> = None;
    let mut guid_counter = 0u8;
    let server = FdoServer::start(move |t, body| match t {
        MessageType::DI_APP_START => {
            let (app_start, s) = di::app_start(t, body)?;
            let info = app_start
                .mfg_info
                .mfg_info()
                .map_err(|e| FlowError::new(e, t))?;
            // The device certificate, for the key in the CSR.
            let csr = CertReq::from_der(&info.csr)
                .map_err(|_| fail(t, ErrorCode::MESSAGE_BODY_ERROR, "the CSR does not parse"))?;
            let alg = match info.key_type {
                PkType::SECP384R1 => &rcgen::PKCS_ECDSA_P384_SHA384,
                _ => &rcgen::PKCS_ECDSA_P256_SHA256,
            };
            let device_key = CsrKey {
                point: csr.info.public_key.subject_public_key.raw_bytes().to_vec(),
                alg,
            };
            let leaf = rcgen::CertificateParams::new(vec![info.serial_number.clone()])
                .unwrap()
                .signed_by(&device_key, &*ca)
                .unwrap();
            record.lock().unwrap().mfg_info = Some(info.clone());
            guid_counter += 1;
            let (out, state) = di::set_credentials(
                s,
                Credentials {
                    guid: Guid([guid_counter; 16]),
                    rv_info: rv_info.clone(),
                    device_info: &info.device_info,
                    manufacturer_key: mfg_public.clone(),
                    device_chain: Some(vec![leaf.der().to_vec(), ca_der.clone()]),
                    chain_hash_alg: HashAlg::SHA256,
                },
                &C,
            )?;
            waiting = Some(state);
            if fault == MfgFault::MalformedSetCredentials {
                return Ok(Outgoing {
                    msg_type: MessageType::DI_SET_CREDENTIALS,
                    body: vec![0x81, 0x01],
                });
            }
            Ok(out)
        }
        MessageType::DI_SET_HMAC => {
            if fault == MfgFault::RefuseSetHmac {
                return Err(fail(
                    t,
                    ErrorCode::INVALID_MESSAGE_ERROR,
                    "this manufacturer refuses every device today",
                ));
            }
            let state = waiting
                .take()
                .ok_or_else(|| fail(t, ErrorCode::INVALID_JWT_TOKEN, "no DI session"))?;
            let (out, voucher) = di::set_hmac(state, t, body, &C)?;
            record.lock().unwrap().voucher = Some(voucher);
            Ok(out)
        }
        other => Err(fail(
            other,
            ErrorCode::MESSAGE_BODY_ERROR,
            "not a DI message",
        )),
    })
    .await;
    Manufacturer { key, server, made }
}

/// A device's stores in a fresh directory.
struct Device {
    dir: tempfile::TempDir,
}

impl Device {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn credential_path(&self) -> std::path::PathBuf {
        self.dir.path().join("credential.cbor")
    }
    fn key_path(&self) -> std::path::PathBuf {
        self.dir.path().join("key.pem")
    }
    fn credentials(&self) -> FileCredentialStore {
        FileCredentialStore::new(self.credential_path())
    }
    fn keys(&self) -> FileKeyStore {
        FileKeyStore::new(self.key_path())
    }
    fn credential_bytes(&self) -> Option<Vec<u8>> {
        std::fs::read(self.credential_path()).ok()
    }
}

fn options(key_type: PkType) -> DiOptions {
    DiOptions {
        key_type,
        serial_number: "SN-42".into(),
        device_info: "vouch test device".into(),
        force: false,
    }
}

async fn run_di(
    m: &Manufacturer,
    d: &Device,
    o: &DiOptions,
) -> Result<DeviceCredential, OnboardError> {
    initialize(
        &mut m.server.client(),
        &mut d.keys(),
        &mut d.credentials(),
        o,
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// DI

async fn di_stores_what_the_manufacturer_issued(key_type: PkType) {
    let rv = RendezvousInfo(vec![http_directive(8041, vec![])]);
    let m = manufacturer(rv.clone(), MfgFault::None).await;
    let d = Device::new();

    let credential = run_di(&m, &d, &options(key_type)).await.unwrap();

    // DI.AppStart carried MfgInfo with a CSR for the device's attestation key
    let (info, voucher) = {
        let made = m.made.lock().unwrap();
        (
            made.mfg_info.clone().unwrap(),
            made.voucher.clone().unwrap(),
        )
    };
    assert_eq!(info.key_type, key_type);
    assert_eq!(info.key_encoding, PkEnc::X509);
    assert_eq!(info.serial_number, "SN-42");
    assert_eq!(info.device_info, "vouch test device");
    let csr = CertReq::from_der(&info.csr).unwrap();
    let device_public = d.keys().public_key(PkEnc::X509).unwrap().unwrap();
    let PkBody::X509(spki) = &device_public.body else {
        panic!("an X509 key");
    };
    assert_eq!(&csr.info.public_key.to_der().unwrap(), spki);
    assert_eq!(device_public.pk_type, key_type);

    // the stored credential is the one returned, and the voucher is for it
    let stored = d.credentials().load().unwrap().unwrap();
    assert_eq!(stored, credential);
    assert_eq!(stored.guid, voucher.guid());
    assert_eq!(stored.rv_info, rv);
    assert_eq!(stored.device_info, "vouch test device");
    assert!(stored.active);
    assert_eq!(stored.device_key, None, "the key store holds the key");
    let verified = voucher.clone().verify(&C, None, Some(&stored)).unwrap();
    assert!(verified.hmac_checked());
    // DCPubKeyHash is the manufacturer key's hash
    let mfg = m.key.public_key(PkEnc::X509).unwrap().to_cbor();
    let alg = stored.pub_key_hash.alg();
    assert!(stored.pub_key_hash.ct_eq(&C.hash(alg, &[&mfg]).unwrap()));
    // the device certificate the voucher carries holds the device's key
    let leaf = to1::device_attestation_key(&voucher).unwrap();
    assert!(C.same_key(&leaf, &device_public).unwrap());
    assert_eq!(m.server.seen_types(), [10, 12]);
    m.server.stop().await;
}

#[tokio::test]
async fn di_stores_the_credential_for_a_p256_device() {
    di_stores_what_the_manufacturer_issued(PkType::SECP256R1).await;
}

#[tokio::test]
async fn di_stores_the_credential_for_a_p384_device() {
    di_stores_what_the_manufacturer_issued(PkType::SECP384R1).await;
}

#[tokio::test]
async fn second_di_without_force_refuses_and_leaves_the_credential_byte_identical() {
    let m = manufacturer(RendezvousInfo::default(), MfgFault::None).await;
    let d = Device::new();
    let first = run_di(&m, &d, &options(PkType::SECP256R1)).await.unwrap();
    let bytes = d.credential_bytes().unwrap();
    let key = std::fs::read(d.key_path()).unwrap();

    let err = run_di(&m, &d, &options(PkType::SECP256R1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, OnboardError::CredentialExists { guid } if guid == first.guid),
        "{err}"
    );
    assert!(err.is_local());
    assert!(err.to_string().contains(&first.guid.to_string()), "{err}");
    assert_eq!(d.credential_bytes().unwrap(), bytes);
    // nothing was sent for it
    assert_eq!(m.server.seen_types(), [10, 12]);

    // forced, DI runs again: a new credential, the same attestation key
    let forced = DiOptions {
        force: true,
        ..options(PkType::SECP256R1)
    };
    let second = run_di(&m, &d, &forced).await.unwrap();
    assert_ne!(second.guid, first.guid);
    assert_ne!(d.credential_bytes().unwrap(), bytes);
    assert_eq!(std::fs::read(d.key_path()).unwrap(), key);
    m.server.stop().await;
}

#[tokio::test]
async fn di_refused_by_the_manufacturer_stores_nothing() {
    let m = manufacturer(RendezvousInfo::default(), MfgFault::RefuseSetHmac).await;
    let d = Device::new();
    let err = run_di(&m, &d, &options(PkType::SECP256R1))
        .await
        .unwrap_err();
    let peer = err
        .peer_message()
        .expect("the manufacturer's error message");
    assert_eq!(peer.code, ErrorCode::INVALID_MESSAGE_ERROR);
    assert!(!err.is_local());
    let text = err.to_string();
    assert!(
        text.starts_with("DI with the manufacturer: refused with FDO error 101"),
        "{text}"
    );
    assert!(text.contains("refuses every device today"), "{text}");
    assert_eq!(d.credential_bytes(), None);
    // the key made for DI stays: it is the device's identity for the next try
    assert!(d.key_path().exists());
    m.server.stop().await;
}

#[tokio::test]
async fn di_with_a_malformed_answer_reports_it_and_stores_nothing() {
    let m = manufacturer(RendezvousInfo::default(), MfgFault::MalformedSetCredentials).await;
    let d = Device::new();
    let err = run_di(&m, &d, &options(PkType::SECP256R1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OnboardError::Refused { step: Step::Di, .. }),
        "{err}"
    );
    assert_eq!(d.credential_bytes(), None);
    // the device told the manufacturer, with the message it failed on
    let reported = m.server.errors_received();
    assert_eq!(reported.len(), 1);
    assert_eq!(reported[0].code, ErrorCode::MESSAGE_BODY_ERROR);
    assert_eq!(reported[0].prev_message, MessageType::DI_SET_CREDENTIALS);
    assert!(
        err.to_string().contains("reported to it as FDO error 100"),
        "{err}"
    );
    m.server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// TO1 and TO2

/// Rewrites a message the owner is about to send, given its type: an owner that misbehaves,
/// or someone in the middle.
type Tamper = Box<dyn FnMut(MessageType, &mut Vec<u8>) + Send>;

/// The owner side of the test: its key, the voucher it holds and its TO2 sessions.
struct Owner {
    server: FdoServer,
    voucher: Arc<Mutex<Option<OwnershipVoucher>>>,
    outcomes: Arc<Mutex<Vec<OwnerOutcome>>>,
    /// Applied to every message the owner sends (none: they go out as made).
    tamper: Arc<Mutex<Option<Tamper>>>,
}

enum Session {
    None,
    ProveDevice(ExpectProveDevice),
    Ready(ExpectServiceInfoReady),
    Info(ExpectServiceInfo),
}

/// An owner that holds `owner_key` and answers TO2 for the voucher put in it, giving the
/// device `replacement` (None: a new GUID and the same rendezvous info). After each TO2, the
/// replacement voucher, extended to the owner, takes the old one's place.
async fn owner(owner_key: SigningKey, replacement: Arc<Mutex<Option<Replacement>>>) -> Owner {
    let voucher: Arc<Mutex<Option<OwnershipVoucher>>> = Arc::default();
    let outcomes: Arc<Mutex<Vec<OwnerOutcome>>> = Arc::default();
    let tamper: Arc<Mutex<Option<Tamper>>> = Arc::default();
    let (v, o, hook) = (voucher.clone(), outcomes.clone(), tamper.clone());
    let mut rng = SeededRng::new(b"owner");
    let mut session = Session::None;
    let server = FdoServer::start(move |t, body| {
        let no_session = || fail(t, ErrorCode::INVALID_JWT_TOKEN, "no TO2 session");
        let (out, next) = match (t, std::mem::replace(&mut session, Session::None)) {
            (MessageType::TO2_HELLO_DEVICE, _) => {
                let verified = v
                    .lock()
                    .unwrap()
                    .clone()
                    .map(|ov| ov.verify(&C, None, None).unwrap());
                let (out, s) = hello_device(
                    &C,
                    &OwnerConfig::default(),
                    t,
                    body,
                    verified,
                    &owner_key,
                    &mut rng,
                )?;
                (out, Session::ProveDevice(s))
            }
            (MessageType::TO2_GET_OV_NEXT_ENTRY, Session::ProveDevice(s)) => {
                let (out, s) = s.get_ov_next_entry(t, body)?;
                (out, Session::ProveDevice(s))
            }
            (MessageType::TO2_PROVE_DEVICE, Session::ProveDevice(s)) => {
                let r = replacement.lock().unwrap().clone().unwrap_or(Replacement {
                    guid: Guid([0xee; 16]),
                    rv_info: s.voucher().header().rv_info.clone(),
                });
                let (out, s) = s.prove_device(&C, t, body, &r, &owner_key, &mut rng)?;
                (out, Session::Ready(s))
            }
            (MessageType::TO2_DEVICE_SERVICE_INFO_READY, Session::Ready(s)) => {
                let (out, s) = s.device_service_info_ready(t, body, &mut rng)?;
                (out, Session::Info(s))
            }
            (MessageType::TO2_DEVICE_SERVICE_INFO, Session::Info(s)) => {
                let (out, s) =
                    s.device_service_info(t, body, &mut OwnerModules::new(), &mut rng)?;
                (out, Session::Info(s))
            }
            (MessageType::TO2_DONE, Session::Info(s)) => {
                let (out, outcome) = s.done(&C, t, body, &mut rng)?;
                // The replacement voucher has no entries yet: the owner extends it to itself
                // to onboard the device again.
                if let Some(next) = &outcome.replacement_voucher {
                    let owner_public = owner_key.public_key(PkEnc::X509).unwrap();
                    let extended = next.extend(&C, &owner_key, owner_public).unwrap();
                    *v.lock().unwrap() = Some(extended);
                }
                o.lock().unwrap().push(outcome);
                (out, Session::None)
            }
            _ => return Err(no_session()),
        };
        session = next;
        let mut out = out;
        if let Some(tamper) = hook.lock().unwrap().as_mut() {
            tamper(out.msg_type, &mut out.body);
        }
        Ok(out)
    })
    .await;
    Owner {
        server,
        voucher,
        outcomes,
        tamper,
    }
}

/// A rendezvous server answering TO1 with the registration put in it (none: RESOURCE_NOT_FOUND).
async fn rendezvous(registration: Arc<Mutex<Option<Registration>>>) -> FdoServer {
    let mut rng = SeededRng::new(b"rendezvous");
    let mut state = None;
    FdoServer::start(move |t, body| match t {
        MessageType::TO1_HELLO_RV => {
            let r = registration.lock().unwrap().clone();
            let (out, s) = to1::rv_hello_rv(t, body, r.as_ref(), 1_750_000_000, &mut rng)?;
            state = Some(s);
            Ok(out)
        }
        MessageType::TO1_PROVE_TO_RV => {
            let s = state
                .take()
                .ok_or_else(|| fail(t, ErrorCode::INVALID_JWT_TOKEN, "no TO1 session"))?;
            to1::rv_prove_to_rv(s, t, body, &C)
        }
        other => Err(fail(
            other,
            ErrorCode::MESSAGE_BODY_ERROR,
            "not a TO1 message",
        )),
    })
    .await
}

/// The registration an owner's TO0 leaves behind: the voucher, and a to1d naming
/// `owner_port` on 127.0.0.1 over HTTP, signed by `signer`.
fn registration(voucher: &OwnershipVoucher, owner_port: u16, signer: &SigningKey) -> Registration {
    let payload = To1dPayload {
        addresses: vec![RvTo2Addr {
            ip: Some(LOCALHOST),
            dns: None,
            port: owner_port,
            protocol: TransportProtocol::HTTP,
        }],
        to0d_hash: C.hash(HashAlg::SHA256, &[b"to0d"]).unwrap(),
    };
    Registration {
        guid: voucher.guid(),
        to1d: To1d::sign(payload, signer).unwrap().to_cbor(),
        voucher: voucher.to_cbor(),
        expires_at: u64::MAX,
    }
}

fn quick(progress: Arc<Mutex<Vec<String>>>) -> OnboardOptions {
    OnboardOptions {
        max_rounds: 1,
        retry_base: Duration::ZERO,
        timeout: Duration::from_secs(10),
        progress: Some(Arc::new(move |p: &Progress<'_>| {
            progress.lock().unwrap().push(p.to_string())
        })),
        ..OnboardOptions::default()
    }
}

/// A device through DI with a manufacturer whose rendezvous info is `rv`: the device, the
/// voucher as the manufacturer made it (no entries yet) and the manufacturer's key.
async fn device_made(rv: RendezvousInfo) -> (Device, OwnershipVoucher, SigningKey) {
    let m = manufacturer(rv, MfgFault::None).await;
    let d = Device::new();
    run_di(&m, &d, &options(PkType::SECP256R1)).await.unwrap();
    let voucher = m.made.lock().unwrap().voucher.clone().unwrap();
    m.server.stop().await;
    (d, voucher, m.key)
}

/// A device through DI with a manufacturer whose rendezvous info is `rv`, its voucher then
/// extended to `owner_key`.
async fn device_sold_to(rv: RendezvousInfo, owner_key: &SigningKey) -> (Device, OwnershipVoucher) {
    let (d, voucher, manufacturer_key) = device_made(rv).await;
    let voucher = voucher
        .extend(
            &C,
            &manufacturer_key,
            owner_key.public_key(PkEnc::X509).unwrap(),
        )
        .unwrap();
    (d, voucher)
}

#[tokio::test]
async fn onboarding_through_the_rendezvous_server_then_directly_by_rv_bypass() {
    let owner_key =
        SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"owner key")).unwrap();
    let registered: Arc<Mutex<Option<Registration>>> = Arc::default();
    let rv = rendezvous(registered.clone()).await;
    let replacement: Arc<Mutex<Option<Replacement>>> = Arc::default();
    let o = owner(owner_key.clone(), replacement.clone()).await;
    // the owner's next rendezvous info sends the device straight back to it
    *replacement.lock().unwrap() = Some(Replacement {
        guid: Guid([0x77; 16]),
        rv_info: RendezvousInfo(vec![http_directive(
            o.server.port,
            vec![RvInstruction::flag(RvVariable::BYPASS)],
        )]),
    });

    let (d, voucher) = device_sold_to(
        RendezvousInfo(vec![http_directive(rv.port, vec![])]),
        &owner_key,
    )
    .await;
    let old = d.credentials().load().unwrap().unwrap();
    *registered.lock().unwrap() = Some(registration(&voucher, o.server.port, &owner_key));
    *o.voucher.lock().unwrap() = Some(voucher);

    // first onboarding: TO1, then TO2 at the address the to1d gives
    let log = Arc::new(Mutex::new(Vec::new()));
    let outcome = onboard(&mut d.credentials(), &mut d.keys(), &quick(log.clone()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome.old_guid, old.guid);
    assert_eq!(outcome.new_guid, Guid([0x77; 16]));
    assert!(!outcome.reused);
    assert_eq!(outcome.rendezvous.as_deref(), Some(rv.base.as_str()));
    assert_eq!(outcome.owner, o.server.base);
    let stored = d.credentials().load().unwrap().unwrap();
    assert_eq!(stored, outcome.credential);
    assert_eq!(stored.guid, Guid([0x77; 16]));
    // DCPubKeyHash now names the owner's key
    let owner_public = owner_key.public_key(PkEnc::X509).unwrap().to_cbor();
    assert!(
        stored
            .pub_key_hash
            .ct_eq(&C.hash(stored.pub_key_hash.alg(), &[&owner_public]).unwrap())
    );
    assert_eq!(stored.hmac_secret, old.hmac_secret);
    assert_eq!(rv.seen_types(), [30, 32]);
    assert_eq!(o.server.seen_types(), [60, 62, 64, 66, 68, 70]);
    {
        let outcomes = o.outcomes.lock().unwrap();
        let devmod = outcomes[0].devmod.as_ref().unwrap();
        assert_eq!(devmod.os, std::env::consts::OS);
        assert_eq!(devmod.device, "vouch test device");
    }
    let log = log.lock().unwrap().clone();
    assert!(
        log.iter()
            .any(|l| l.starts_with("TO1 with the rendezvous server at")),
        "{log:?}"
    );

    // second onboarding: RVBypass, TO2 with the owner directly, no TO1
    let again = onboard(&mut d.credentials(), &mut d.keys(), &quick(Arc::default()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.old_guid, Guid([0x77; 16]));
    assert_eq!(again.rendezvous, None);
    assert_eq!(again.owner, o.server.base);
    assert_eq!(rv.seen_types(), [30, 32], "no TO1 under RVBypass");
    assert_eq!(
        o.server.seen_types().iter().filter(|t| **t == 60).count(),
        2
    );
    rv.stop().await;
    o.server.stop().await;
}

#[tokio::test]
async fn a_to1d_not_signed_by_the_owner_fails_to2_and_keeps_the_credential() {
    let mut rng = SeededRng::new(b"forged");
    let owner_key = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
    let stranger = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
    let registered: Arc<Mutex<Option<Registration>>> = Arc::default();
    let rv = rendezvous(registered.clone()).await;
    let o = owner(owner_key.clone(), Arc::default()).await;
    let (d, voucher) = device_sold_to(
        RendezvousInfo(vec![http_directive(rv.port, vec![])]),
        &owner_key,
    )
    .await;
    // the rendezvous blob is signed by someone who is not the voucher's owner
    *registered.lock().unwrap() = Some(registration(&voucher, o.server.port, &stranger));
    *o.voucher.lock().unwrap() = Some(voucher);
    let before = d.credential_bytes().unwrap();

    let err = onboard(&mut d.credentials(), &mut d.keys(), &quick(Arc::default()))
        .await
        .unwrap_err();
    let OnboardError::Exhausted { rounds, attempts } = &err else {
        panic!("{err}");
    };
    assert_eq!(*rounds, 1);
    assert!(
        matches!(attempts[..], [ref a] if matches!(a.0, OnboardError::Refused { step: Step::To2, .. })),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("onboarding did not complete with any owner"),
        "{err}"
    );
    // the owner was told, and the device kept its credential
    let reported = o.server.errors_received();
    assert_eq!(reported.len(), 1, "{err}");
    assert_eq!(reported[0].code, ErrorCode::INVALID_MESSAGE_ERROR);
    assert_eq!(d.credential_bytes().unwrap(), before);
    assert!(o.outcomes.lock().unwrap().is_empty());
    rv.stop().await;
    o.server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// TO2 messages the device refuses

/// An owner holding `owner_key` (with `replacement`, as [`owner`] takes it), and a device made
/// by a manufacturer whose rendezvous info sends it straight to that owner (RVBypass): the
/// owner, the device, the voucher as the manufacturer made it and the manufacturer's key. The
/// owner holds no voucher yet.
async fn owner_and_bypassing_device(
    owner_key: &SigningKey,
    replacement: Arc<Mutex<Option<Replacement>>>,
) -> (Owner, Device, OwnershipVoucher, SigningKey) {
    let o = owner(owner_key.clone(), replacement).await;
    let rv = RendezvousInfo(vec![http_directive(
        o.server.port,
        vec![RvInstruction::flag(RvVariable::BYPASS)],
    )]);
    let (d, made, manufacturer_key) = device_made(rv).await;
    (o, d, made, manufacturer_key)
}

/// `voucher` extended along `owners`, each new entry signed by the previous owner.
fn extended(
    voucher: &OwnershipVoucher,
    manufacturer_key: &SigningKey,
    owners: &[&SigningKey],
) -> OwnershipVoucher {
    let mut voucher = voucher.clone();
    let mut signer = manufacturer_key;
    for next in owners {
        voucher = voucher
            .extend(&C, signer, next.public_key(PkEnc::X509).unwrap())
            .unwrap();
        signer = next;
    }
    voucher
}

/// Asserts that onboarding failed in its only TO2 because the device refused the owner's
/// message `prev` with FDO error `code`; that the device told the owner exactly that, in the
/// one error message the owner received; and that the device's credential file holds the
/// bytes `before`. Returns the failed check, as the device reported it.
fn assert_to2_refused(
    err: &OnboardError,
    o: &Owner,
    d: &Device,
    before: &[u8],
    code: ErrorCode,
    prev: MessageType,
) -> String {
    let OnboardError::Exhausted { rounds, attempts } = err else {
        panic!("{err}");
    };
    assert_eq!(*rounds, 1, "{err}");
    let [attempt] = &attempts[..] else {
        panic!("one TO2 attempt: {err}");
    };
    let OnboardError::Refused {
        step: Step::To2,
        server,
        error,
        reported: Some(reported),
    } = &attempt.0
    else {
        panic!("TO2 refused by the device and reported: {err}");
    };
    assert_eq!(server.as_deref(), Some(o.server.base.as_str()));
    assert_eq!(error.code(), code, "{err}");
    assert_eq!(error.prev, prev, "{err}");
    assert_eq!((reported.code, reported.prev_message), (code, prev));
    let text = err.to_string();
    assert!(
        text.starts_with("onboarding did not complete with any owner after 1 round"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "TO2 with the owner at {}: the owner's message failed the device's checks",
            o.server.base
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("(reported to it as FDO error {code})")),
        "{text}"
    );
    // what the owner received: the same code, naming the same message
    let received = o.server.errors_received();
    assert_eq!(received.len(), 1, "{err}");
    assert_eq!((received[0].code, received[0].prev_message), (code, prev));
    assert_eq!(received[0].text, reported.text);
    assert_eq!(d.credential_bytes().unwrap(), before);
    received[0].text.clone()
}

#[tokio::test]
async fn a_prove_ov_hdr_altered_in_flight_is_refused_with_101_and_keeps_the_credential() {
    let owner_key =
        SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"owner key")).unwrap();
    let (o, d, made, manufacturer_key) =
        owner_and_bypassing_device(&owner_key, Arc::default()).await;
    *o.voucher.lock().unwrap() = Some(extended(&made, &manufacturer_key, &[&owner_key]));
    // one bit of the signature flipped: the last byte of a COSE_Sign1 is its signature's
    let sent: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let record = sent.clone();
    *o.tamper.lock().unwrap() = Some(Box::new(move |t, body| {
        if t == MessageType::TO2_PROVE_OV_HDR {
            let original = body.clone();
            *body.last_mut().unwrap() ^= 0x01;
            record.lock().unwrap().extend([original, body.clone()]);
        }
    }));
    let before = d.credential_bytes().unwrap();

    let err = onboard(&mut d.credentials(), &mut d.keys(), &quick(Arc::default()))
        .await
        .unwrap_err();
    let check = assert_to2_refused(
        &err,
        &o,
        &d,
        &before,
        ErrorCode::INVALID_MESSAGE_ERROR,
        MessageType::TO2_PROVE_OV_HDR,
    );
    assert_eq!(check, "verification failed: TO2.ProveOVHdr signature");
    // the altered message still parses, with the same payload: only the signature is wrong
    let sent = sent.lock().unwrap().clone();
    let [original, altered] = &sent[..] else {
        panic!("one ProveOVHdr: {}", sent.len());
    };
    let (original, altered) = (
        ProveOvHdr::from_cbor(original).unwrap(),
        ProveOvHdr::from_cbor(altered).unwrap(),
    );
    assert_eq!(altered.payload(), original.payload());
    assert_ne!(altered.sign1().signature(), original.sign1().signature());
    assert_eq!(o.server.seen_types(), [60, 255]);
    assert!(o.outcomes.lock().unwrap().is_empty());
    o.server.stop().await;
}

#[tokio::test]
async fn a_voucher_with_another_header_hmac_is_refused_with_101_and_keeps_the_credential() {
    let owner_key =
        SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"owner key")).unwrap();
    let (o, d, made, manufacturer_key) =
        owner_and_bypassing_device(&owner_key, Arc::default()).await;
    // the same header, with an HMAC made under a secret that is not the device's
    let other = C
        .hmac(
            made.hmac().alg(),
            b"not this device's secret",
            made.header_bytes(),
        )
        .unwrap();
    let forged = OwnershipVoucher::new(
        &C,
        made.header().clone(),
        other,
        made.cert_chain().map(<[Vec<u8>]>::to_vec),
    )
    .unwrap();
    assert_eq!(forged.header_bytes(), made.header_bytes());
    assert!(!forged.hmac().ct_eq(made.hmac()));
    let credential = d.credentials().load().unwrap().unwrap();
    assert!(matches!(
        forged.clone().verify(&C, None, Some(&credential)),
        Err(Error::Verify(VerifyError::HeaderHmac))
    ));
    // the owner holds it extended to itself, and signs ProveOVHdr over it as it is
    *o.voucher.lock().unwrap() = Some(extended(&forged, &manufacturer_key, &[&owner_key]));
    let before = d.credential_bytes().unwrap();

    let err = onboard(&mut d.credentials(), &mut d.keys(), &quick(Arc::default()))
        .await
        .unwrap_err();
    let check = assert_to2_refused(
        &err,
        &o,
        &d,
        &before,
        ErrorCode::INVALID_MESSAGE_ERROR,
        MessageType::TO2_PROVE_OV_HDR,
    );
    assert_eq!(
        check,
        "verification failed: header HMAC does not match the device secret"
    );
    assert_eq!(o.server.seen_types(), [60, 255]);
    assert!(o.outcomes.lock().unwrap().is_empty());
    o.server.stop().await;
}

#[tokio::test]
async fn a_voucher_entry_not_signed_by_the_previous_owner_is_refused_with_101() {
    let mut rng = SeededRng::new(b"entry signers");
    let owner_key = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
    let previous = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
    let stranger = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
    // Entry 1 (previous owner → owner) signed by a stranger, then by the manufacturer: a key
    // the device knows, that signed entry 0, but is not the previous owner's.
    for forger in ["stranger", "manufacturer"] {
        let (o, d, made, manufacturer_key) =
            owner_and_bypassing_device(&owner_key, Arc::default()).await;
        let voucher = extended(&made, &manufacturer_key, &[&previous, &owner_key]);
        assert_eq!(voucher.entries().len(), 2);
        *o.voucher.lock().unwrap() = Some(voucher);
        let signer = match forger {
            "stranger" => stranger.clone(),
            _ => manufacturer_key.clone(),
        };
        let forged: Arc<Mutex<Option<OvEntry>>> = Arc::default();
        let record = forged.clone();
        *o.tamper.lock().unwrap() = Some(Box::new(move |t, body| {
            if t == MessageType::TO2_OV_NEXT_ENTRY {
                let mut m = OvNextEntry::from_cbor(body).unwrap();
                if m.entry_num == 1 {
                    // the right payload, signed by the wrong key
                    m.entry = OvEntry::sign(m.entry.payload().clone(), &signer).unwrap();
                    *record.lock().unwrap() = Some(m.entry.clone());
                    *body = m.to_cbor();
                }
            }
        }));
        let before = d.credential_bytes().unwrap();

        let err = onboard(&mut d.credentials(), &mut d.keys(), &quick(Arc::default()))
            .await
            .unwrap_err();
        let check = assert_to2_refused(
            &err,
            &o,
            &d,
            &before,
            ErrorCode::INVALID_MESSAGE_ERROR,
            MessageType::TO2_OV_NEXT_ENTRY,
        );
        assert_eq!(check, "verification failed: entry 1 signature", "{forger}");
        let forged = forged.lock().unwrap().clone().unwrap();
        let held = o.voucher.lock().unwrap().clone().unwrap();
        let genuine = &held.entries()[1];
        assert_eq!(forged.payload(), genuine.payload());
        assert_ne!(forged.sign1().signature(), genuine.sign1().signature());
        assert_eq!(o.server.seen_types(), [60, 62, 62, 255], "{forger}");
        assert!(o.outcomes.lock().unwrap().is_empty());
        o.server.stop().await;
    }
}

#[tokio::test]
async fn an_ov_next_entry_with_another_entry_number_is_refused_with_101() {
    let mut rng = SeededRng::new(b"entry number");
    let owner_key = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
    let previous = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
    let (o, d, made, manufacturer_key) =
        owner_and_bypassing_device(&owner_key, Arc::default()).await;
    *o.voucher.lock().unwrap() = Some(extended(&made, &manufacturer_key, &[&previous, &owner_key]));
    // asked for entry 1, the owner answers with entry 0 again
    let mut first: Option<Vec<u8>> = None;
    *o.tamper.lock().unwrap() = Some(Box::new(move |t, body| {
        if t == MessageType::TO2_OV_NEXT_ENTRY {
            match &first {
                None => first = Some(body.clone()),
                Some(entry_0) => *body = entry_0.clone(),
            }
        }
    }));
    let before = d.credential_bytes().unwrap();

    let err = onboard(&mut d.credentials(), &mut d.keys(), &quick(Arc::default()))
        .await
        .unwrap_err();
    let check = assert_to2_refused(
        &err,
        &o,
        &d,
        &before,
        ErrorCode::INVALID_MESSAGE_ERROR,
        MessageType::TO2_OV_NEXT_ENTRY,
    );
    assert_eq!(check, "invalid OVEntryNum: entry 0 sent, 1 asked for");
    let seen = o.server.seen();
    let asked: Vec<u8> = seen
        .iter()
        .filter(|(t, _)| *t == MessageType::TO2_GET_OV_NEXT_ENTRY)
        .map(|(_, b)| GetOvNextEntry::from_cbor(b).unwrap().entry_num)
        .collect();
    assert_eq!(asked, [0, 1]);
    assert_eq!(o.server.seen_types(), [60, 62, 62, 255]);
    assert!(o.outcomes.lock().unwrap().is_empty());
    o.server.stop().await;
}

#[tokio::test]
async fn a_prove_ov_hdr_replayed_from_an_earlier_session_is_refused_with_101() {
    let owner_key =
        SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"owner key")).unwrap();
    let replacement: Arc<Mutex<Option<Replacement>>> = Arc::default();
    let (o, d, made, manufacturer_key) =
        owner_and_bypassing_device(&owner_key, replacement.clone()).await;
    // The first session ends in credential reuse: the device keeps its credential, the owner
    // its voucher, so the recorded ProveOVHdr is for this very device, owner and voucher.
    *replacement.lock().unwrap() = Some(Replacement {
        guid: made.guid(),
        rv_info: made.header().rv_info.clone(),
    });
    *o.voucher.lock().unwrap() = Some(extended(&made, &manufacturer_key, &[&owner_key]));
    let mut recorded: Option<Vec<u8>> = None;
    *o.tamper.lock().unwrap() = Some(Box::new(move |t, body| {
        if t == MessageType::TO2_PROVE_OV_HDR {
            match &recorded {
                None => recorded = Some(body.clone()),
                Some(earlier) => *body = earlier.clone(),
            }
        }
    }));
    let before = d.credential_bytes().unwrap();

    let first = onboard(&mut d.credentials(), &mut d.keys(), &quick(Arc::default()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(first.reused);
    assert_eq!(d.credential_bytes().unwrap(), before);
    assert_eq!(o.server.seen_types(), [60, 62, 64, 66, 68, 70]);

    // the second session gets the first one's ProveOVHdr
    let err = onboard(&mut d.credentials(), &mut d.keys(), &quick(Arc::default()))
        .await
        .unwrap_err();
    let check = assert_to2_refused(
        &err,
        &o,
        &d,
        &before,
        ErrorCode::INVALID_MESSAGE_ERROR,
        MessageType::TO2_PROVE_OV_HDR,
    );
    assert_eq!(check, "verification failed: NonceTO2ProveOV nonce");
    // the two HelloDevice messages carried different nonces
    let hellos: Vec<HelloDevice> = o
        .server
        .seen()
        .iter()
        .filter(|(t, _)| *t == MessageType::TO2_HELLO_DEVICE)
        .map(|(_, b)| HelloDevice::from_cbor(b).unwrap())
        .collect();
    assert_eq!(hellos.len(), 2);
    assert_ne!(hellos[0].nonce, hellos[1].nonce);
    assert_eq!(o.server.seen_types(), [60, 62, 64, 66, 68, 70, 60, 255]);
    // the owner finished only the first session, under credential reuse
    assert!(matches!(
        &o.outcomes.lock().unwrap()[..],
        [only] if only.replacement_voucher.is_none()
    ));
    o.server.stop().await;
}

#[tokio::test]
async fn unregistered_device_waits_rvdelaysec_retries_and_keeps_the_credential() {
    // two directives: a closed port (with RVDelaysec 1), then a rendezvous server that does
    // not know the device
    let rv = rendezvous(Arc::default()).await;
    let closed = closed_port().await;
    let owner_key = SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"o")).unwrap();
    let (d, _) = device_sold_to(
        RendezvousInfo(vec![
            http_directive(closed, vec![RvInstruction::uint(RvVariable::DELAY_SEC, 1)]),
            http_directive(rv.port, vec![]),
            RvDirective(vec![
                RvInstruction::dns("wifi.example"),
                RvInstruction::new(RvVariable::WIFI_SSID, &"lab".to_string()),
            ]),
        ]),
        &owner_key,
    )
    .await;
    let before = d.credential_bytes().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let options = OnboardOptions {
        max_rounds: 2,
        ..quick(log.clone())
    };
    let started = Instant::now();
    let err = onboard(&mut d.credentials(), &mut d.keys(), &options)
        .await
        .unwrap_err();
    // RVDelaysec after the first directive, in each of the two rounds
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(!err.is_local());
    assert_eq!(
        err.peer_message().map(|m| m.code),
        Some(ErrorCode::RESOURCE_NOT_FOUND)
    );
    let text = err.to_string();
    assert!(
        text.starts_with("no rendezvous server answered with the owner's address after 2 rounds"),
        "{text}"
    );
    assert!(text.contains(&format!("127.0.0.1:{closed}")), "{text}");
    assert!(text.contains("6 (RESOURCE_NOT_FOUND)"), "{text}");
    // two rounds, one HelloRV each; nothing stored
    assert_eq!(rv.seen_types(), [30, 30]);
    assert_eq!(d.credential_bytes().unwrap(), before);
    let log = log.lock().unwrap().clone();
    assert!(
        log.iter()
            .any(|l| l.contains("directive 3 is skipped") && l.contains("Wi-Fi")),
        "{log:?}"
    );
    assert_eq!(
        log.iter().filter(|l| l.contains("RVDelaysec")).count(),
        2,
        "{log:?}"
    );
    assert!(log.iter().any(|l| l == "round 2 of 2"), "{log:?}");
    rv.stop().await;
}

#[tokio::test]
async fn onboarding_without_a_credential_or_a_usable_directive_is_a_local_problem() {
    let d = Device::new();
    let err = onboard(&mut d.credentials(), &mut d.keys(), &quick(Arc::default()))
        .await
        .unwrap_err();
    assert!(matches!(err, OnboardError::NoCredential), "{err}");
    assert!(err.is_local());

    let owner_key = SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"o")).unwrap();
    let (d, _) = device_sold_to(
        RendezvousInfo(vec![RvDirective(vec![
            RvInstruction::dns("rv.example"),
            RvInstruction::flag(RvVariable::OWNER_ONLY),
        ])]),
        &owner_key,
    )
    .await;
    let err = onboard(&mut d.credentials(), &mut d.keys(), &quick(Arc::default()))
        .await
        .unwrap_err();
    assert!(matches!(err, OnboardError::NoRendezvous { .. }), "{err}");
    assert!(err.is_local());
    assert!(err.to_string().contains("RVOwnerOnly"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// The command line

/// Runs `vouch-device args…` without blocking the servers of this test.
async fn device_cli(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_vouch-device"))
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn di_args(m: &Manufacturer, d: &Device, extra: &[&str]) -> Vec<String> {
    let path = |p: &Path| p.to_str().unwrap().to_string();
    let mut args = vec![
        "di".to_string(),
        "--manufacturer".into(),
        m.server.base.clone(),
        "--credential".into(),
        path(&d.credential_path()),
        "--key".into(),
        path(&d.key_path()),
        "--serial".into(),
        "SN-CLI".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

#[tokio::test]
async fn cli_di_prints_the_guid_and_a_second_di_exits_2() {
    let m = manufacturer(RendezvousInfo::default(), MfgFault::None).await;
    let d = Device::new();
    let out = device_cli(di_args(&m, &d, &["--key-type", "p384"])).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let credential = d.credentials().load().unwrap().unwrap();
    assert!(
        stdout.contains(&format!("GUID              {}", credential.guid)),
        "{stdout}"
    );
    assert!(stdout.contains(&m.server.base), "{stdout}");
    assert_eq!(
        m.made.lock().unwrap().mfg_info.as_ref().unwrap().key_type,
        PkType::SECP384R1
    );
    let bytes = d.credential_bytes().unwrap();

    let out = device_cli(di_args(&m, &d, &[])).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("already has an active credential"),
        "{stderr}"
    );
    assert_eq!(d.credential_bytes().unwrap(), bytes);
    m.server.stop().await;
}

#[tokio::test]
async fn cli_di_refused_exits_1_with_the_fdo_code_and_text() {
    let m = manufacturer(RendezvousInfo::default(), MfgFault::RefuseSetHmac).await;
    let d = Device::new();
    let out = device_cli(di_args(&m, &d, &[])).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("code 101 (INVALID_MESSAGE_ERROR)"),
        "{stderr}"
    );
    assert!(stderr.contains("refuses every device today"), "{stderr}");
    assert_eq!(d.credential_bytes(), None);
    m.server.stop().await;
}

#[tokio::test]
async fn cli_onboard_of_an_unregistered_device_exits_1() {
    let rv = rendezvous(Arc::default()).await;
    let owner_key = SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"o")).unwrap();
    let (d, _) = device_sold_to(
        RendezvousInfo(vec![http_directive(rv.port, vec![])]),
        &owner_key,
    )
    .await;
    let path = |p: &Path| p.to_str().unwrap().to_string();
    let out = device_cli(vec![
        "onboard".into(),
        "--credential".into(),
        path(&d.credential_path()),
        "--key".into(),
        path(&d.key_path()),
        "--max-rounds".into(),
        "1".into(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("TO1 with the rendezvous server at"),
        "{stderr}"
    );
    assert!(stderr.contains("code 6 (RESOURCE_NOT_FOUND)"), "{stderr}");
    rv.stop().await;
}
