//! `renew` against a small owner on 127.0.0.1 that checks the request as the relying party
//! does (signature, GUID, time) and answers as told: a chain for the requested key, a chain
//! for another key, or a refusal.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use rcgen::{BasicConstraints, IsCa, Issuer, SignatureAlgorithm};
use vouch_protocol::credential::DeviceCredential;
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{RustCrypto, Signer as _, SigningKey};
use vouch_protocol::types::{
    Hash, HashAlg, PkEnc, PkType, ProtocolVersion, PublicKey, RendezvousInfo,
};

use super::*;
use crate::{MemoryCredentialStore, MemoryKeyStore};

const GUID: Guid = Guid([0x5a; 16]);

/// What the test owner answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    /// A chain whose leaf holds the CSR's key.
    Certify,
    /// A chain whose leaf holds a key of the owner's own.
    OtherKey,
    /// 403 with a reason.
    Refuse,
}

/// The content types and request bodies an owner received.
type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

#[derive(Clone)]
struct Owner {
    device_key: PublicKey,
    answer: Answer,
    seen: Seen,
}

/// The subjectPublicKey bits of a P-256 SubjectPublicKeyInfo, as rcgen takes a key it does
/// not hold.
struct PublicOnly(Vec<u8>);

impl PublicKeyData for PublicOnly {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

fn certificate_for(point: Vec<u8>) -> (Vec<u8>, Vec<u8>) {
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let ca_cert = ca_params.clone().self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = CertificateParams::new(vec!["device.home.arpa".to_string()])
        .unwrap()
        .signed_by(&PublicOnly(point), &issuer)
        .unwrap();
    (leaf.der().to_vec(), ca_cert.der().to_vec())
}

async fn certificate(
    State(owner): State<Owner>,
    UrlPath(guid): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    owner
        .seen
        .lock()
        .unwrap()
        .push((content_type, body.to_vec()));
    let guid = Guid::from_hex(&guid).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let verified = match RenewRequest::verify(&body, &RustCrypto, &owner.device_key, guid, now) {
        Ok(v) => v,
        Err(e) => return (StatusCode::FORBIDDEN, e.to_string()).into_response(),
    };
    if owner.answer == Answer::Refuse {
        return (StatusCode::FORBIDDEN, "not today").into_response();
    }
    let csr = x509_cert::request::CertReq::from_der(&verified.request().csr).unwrap();
    let point = match owner.answer {
        Answer::Certify => csr.info.public_key.subject_public_key.raw_bytes().to_vec(),
        _ => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .unwrap()
            .public_key_raw()
            .to_vec(),
    };
    let (leaf, ca) = certificate_for(point);
    (
        [("content-type", CHAIN_CONTENT_TYPE)],
        chain_pem(&[leaf, ca]),
    )
        .into_response()
}

/// Serves the test owner on 127.0.0.1; returns its base URL and what it received.
async fn owner(device_key: PublicKey, answer: Answer) -> (String, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/vouch/v1/devices/{guid}/certificate", post(certificate))
        .with_state(Owner {
            device_key,
            answer,
            seen: seen.clone(),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), seen)
}

fn attestation_key() -> SigningKey {
    SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"renew device")).unwrap()
}

fn credential() -> DeviceCredential {
    DeviceCredential {
        active: true,
        protocol_version: ProtocolVersion::V101,
        hmac_secret: None,
        device_info: "renew test".into(),
        guid: GUID,
        rv_info: RendezvousInfo(Vec::new()),
        pub_key_hash: Hash::new(HashAlg::SHA256, vec![7; 32]).unwrap(),
        device_key: None,
    }
}

fn options(owner_url: &str, dir: &Path) -> RenewOptions {
    RenewOptions {
        owner_url: owner_url.to_string(),
        tls_roots: TlsRoots::default(),
        danger_allow_plain_http: false,
        cert_path: dir.join("tls-cert.pem"),
        key_path: dir.join("tls-key.pem"),
        timeout: Duration::from_secs(10),
    }
}

/// Old key and certificate files, to see whether a renewal touched them.
fn old_files(options: &RenewOptions) -> (Vec<u8>, Vec<u8>) {
    std::fs::write(&options.key_path, b"old key").unwrap();
    std::fs::write(&options.cert_path, b"old cert").unwrap();
    (b"old key".to_vec(), b"old cert".to_vec())
}

fn files(options: &RenewOptions) -> (Vec<u8>, Vec<u8>) {
    (
        std::fs::read(&options.key_path).unwrap(),
        std::fs::read(&options.cert_path).unwrap(),
    )
}

#[tokio::test]
async fn a_certified_key_is_written_with_its_chain() {
    let key = attestation_key();
    let (url, seen) = owner(key.public_key(PkEnc::X509).unwrap(), Answer::Certify).await;
    let dir = tempfile::tempdir().unwrap();
    let options = options(&url, dir.path());
    old_files(&options);
    let renewed = renew(
        &MemoryCredentialStore::new(Some(credential())),
        &mut MemoryKeyStore::new(Some(key)),
        &options,
    )
    .await
    .unwrap();
    assert_eq!(renewed.guid, GUID);
    assert_eq!(
        renewed.url,
        format!("{url}/vouch/v1/devices/{GUID}/certificate")
    );

    // One request, with the COSE media type.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, CONTENT_TYPE);
    assert_eq!(seen[0].1[0], 0xd2, "a tagged COSE_Sign1");

    // The key file holds the key the leaf certifies, and the pin is its SPKI's SHA-256.
    let (key_pem, chain) = files(&options);
    let new_key = KeyPair::from_pem(std::str::from_utf8(&key_pem).unwrap()).unwrap();
    let blocks = pem::parse_many(&chain).unwrap();
    assert_eq!(blocks.len(), 2);
    let leaf = x509_cert::Certificate::from_der(blocks[0].contents()).unwrap();
    let spki = leaf
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap();
    assert_eq!(spki, new_key.subject_public_key_info());
    assert_eq!(renewed.spki_sha256, <[u8; 32]>::from(Sha256::digest(&spki)));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&options.key_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn a_refusal_or_a_certificate_for_another_key_changes_no_file() {
    let key = attestation_key();
    for (answer, expect_refused) in [(Answer::Refuse, true), (Answer::OtherKey, false)] {
        let (url, _) = owner(key.public_key(PkEnc::X509).unwrap(), answer).await;
        let dir = tempfile::tempdir().unwrap();
        let options = options(&url, dir.path());
        let before = old_files(&options);
        let err = renew(
            &MemoryCredentialStore::new(Some(credential())),
            &mut MemoryKeyStore::new(Some(attestation_key())),
            &options,
        )
        .await
        .unwrap_err();
        match (&err, expect_refused) {
            (RenewFailure::Refused { status, text, .. }, true) => {
                assert_eq!(*status, 403);
                assert_eq!(text, "not today");
            }
            (RenewFailure::BadAnswer { reason, .. }, false) => {
                assert!(reason.contains("another key"), "{reason}");
            }
            _ => panic!("{answer:?}: unexpected {err:?}"),
        }
        assert!(!err.is_local());
        assert_eq!(files(&options), before, "{answer:?}");
    }
}

#[tokio::test]
async fn a_request_signed_by_another_key_is_refused_by_the_owner() {
    let (url, _) = owner(
        attestation_key().public_key(PkEnc::X509).unwrap(),
        Answer::Certify,
    )
    .await;
    let stranger = SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"x")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = options(&url, dir.path());
    let err = renew(
        &MemoryCredentialStore::new(Some(credential())),
        &mut MemoryKeyStore::new(Some(stranger)),
        &options,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, RenewFailure::Refused { status: 403, text, .. } if text.contains("not signed by the device")),
        "{err}"
    );
    assert!(!options.key_path.exists() && !options.cert_path.exists());
}

#[tokio::test]
async fn no_credential_no_key_or_an_unreachable_owner() {
    let dir = tempfile::tempdir().unwrap();
    let options = options("http://127.0.0.1:9", dir.path());
    let err = renew(
        &MemoryCredentialStore::new(None),
        &mut MemoryKeyStore::new(Some(attestation_key())),
        &options,
    )
    .await
    .unwrap_err();
    assert!(
        err.is_local() && err.to_string().contains("no device credential"),
        "{err}"
    );
    let err = renew(
        &MemoryCredentialStore::new(Some(credential())),
        &mut MemoryKeyStore::new(None),
        &options,
    )
    .await
    .unwrap_err();
    assert!(
        err.is_local() && err.to_string().contains("no attestation key"),
        "{err}"
    );
    // Port 9 (discard) on loopback: nothing listens in a test environment.
    let err = renew(
        &MemoryCredentialStore::new(Some(credential())),
        &mut MemoryKeyStore::new(Some(attestation_key())),
        &options,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, RenewFailure::Unreachable { .. }), "{err}");
    assert!(!options.key_path.exists() && !options.cert_path.exists());
}

#[test]
fn plain_http_only_to_loopback_or_when_allowed() {
    assert!(checked_base_url("https://owner.example:8043", false).is_ok());
    assert!(checked_base_url("http://127.0.0.1:8080", false).is_ok());
    assert!(checked_base_url("http://[::1]:8080/", false).is_ok());
    assert!(checked_base_url("http://localhost:8080", false).is_ok());
    let err = checked_base_url("http://owner.example:8080", false).unwrap_err();
    assert!(err.to_string().contains("--owner"), "{err}");
    assert!(checked_base_url("http://owner.example:8080", true).is_ok());
    for bad in [
        "ftp://owner.example",
        "owner.example",
        "https://user:pw@owner.example",
        "https://owner.example/?x=1",
    ] {
        assert!(checked_base_url(bad, true).unwrap_err().is_local(), "{bad}");
    }
    assert_eq!(
        endpoint("https://owner.example:8043/", GUID),
        format!("https://owner.example:8043/vouch/v1/devices/{GUID}/certificate")
    );
}
