//! MUD evidence: signed files served on loopback, each case asserting its verdict.

use std::collections::HashMap;
use std::sync::Arc;

use cms::cert::x509::spki::AlgorithmIdentifierOwned;
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::CmsVersion;
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::Any;
use der::asn1::SetOfVec;
use rcgen::{CertificateParams, DnType, KeyPair};
use x509_cert::attr::Attribute;

use super::*;
use crate::evidence::idevid;
use crate::evidence::idevid::tests::{NOW, ca, device};

/// A MUD file signer certificate named `name`, issued by `issuer`, and its key.
fn signer(issuer: &rcgen::Issuer<'static, KeyPair>, name: &str) -> (Vec<u8>, KeyPair) {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, name);
    p.not_before = time::OffsetDateTime::from_unix_timestamp(NOW - 86_400).unwrap();
    p.not_after = time::OffsetDateTime::from_unix_timestamp(NOW + 86_400 * 30).unwrap();
    (p.signed_by(&key, issuer).unwrap().der().to_vec(), key)
}

/// The subject Name of `cert`, DER (what id-pe-mudsigner holds).
fn subject_der(cert: &[u8]) -> Vec<u8> {
    let (_, c) = x509_parser::parse_x509_certificate(cert).unwrap();
    c.subject().as_raw().to_vec()
}

/// A detached CMS SignedData over `file` by `key` (`cert`): content-type and message-digest
/// signed attributes, ECDSA P-256 with SHA-256 over their DER SET, as common CMS signers
/// make them.
fn sign_mud(file: &[u8], cert: &[u8], key: &KeyPair) -> Vec<u8> {
    use p256::ecdsa::signature::Signer as _;
    use p256::pkcs8::DecodePrivateKey as _;
    let c = x509_cert::Certificate::from_der(cert).unwrap();
    let attr = |oid, value: Any| Attribute {
        oid,
        values: SetOfVec::try_from(vec![value]).unwrap(),
    };
    let attrs = SetOfVec::try_from(vec![
        attr(ID_CONTENT_TYPE, Any::encode_from(&ID_DATA).unwrap()),
        attr(
            ID_MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(sha2::Sha256::digest(file).to_vec()).unwrap())
                .unwrap(),
        ),
    ])
    .unwrap();
    let sk = p256::ecdsa::SigningKey::from_pkcs8_der(&key.serialize_der()).unwrap();
    let sig: p256::ecdsa::Signature = sk.sign(&attrs.to_der().unwrap());
    let alg = |oid| AlgorithmIdentifierOwned {
        oid,
        parameters: None,
    };
    let si = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: c.tbs_certificate().issuer().clone(),
            serial_number: c.tbs_certificate().serial_number().clone(),
        }),
        digest_alg: alg(ID_SHA256),
        signed_attrs: Some(attrs),
        signature_algorithm: alg(ECDSA_WITH_SHA256),
        signature: OctetString::new(sig.to_der().as_bytes().to_vec()).unwrap(),
        unsigned_attrs: None,
    };
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![alg(ID_SHA256)]).unwrap(),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: None,
        },
        certificates: Some(
            CertificateSet::try_from(vec![CertificateChoices::Certificate(c)]).unwrap(),
        ),
        crls: None,
        signer_infos: SignerInfos::try_from(vec![si]).unwrap(),
    };
    ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&sd).unwrap(),
    }
    .to_der()
    .unwrap()
}

/// A MUD file for `url` (RFC 8520 §9's example, shortened).
fn mud_file(url: &str) -> Vec<u8> {
    serde_json::json!({
        "ietf-mud:mud": {
            "mud-version": 1,
            "mud-url": url,
            "last-update": "2026-05-01T12:00:00+00:00",
            "cache-validity": 48,
            "is-supported": true,
            "systeminfo": "vouch test light bulb",
            "mfg-name": "Example Maker",
            "model-name": "bulb-1",
            "from-device-policy": {"access-lists": {"access-list": [{"name": "mud-1-fr"}]}},
            "to-device-policy": {"access-lists": {"access-list": [{"name": "mud-1-to"}]}}
        },
        "ietf-access-control-list:acls": {
            "acl": [
                {"name": "mud-1-to", "type": "ipv4-acl-type", "aces": {"ace": []}},
                {"name": "mud-1-fr", "type": "ipv4-acl-type", "aces": {"ace": []}}
            ]
        }
    })
    .to_string()
    .into_bytes()
}

/// A loopback HTTP server of files (path → body) on a port the system picks; stopped by
/// [`Served::stop`].
struct Served {
    base: String,
    files: Arc<std::sync::Mutex<HashMap<String, Vec<u8>>>>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

type Files = Arc<std::sync::Mutex<HashMap<String, Vec<u8>>>>;

impl Served {
    async fn start() -> Self {
        use axum::extract::{Path, State};
        use axum::http::StatusCode;
        let files = Files::default();
        let app = axum::Router::new()
            .route(
                "/{*path}",
                axum::routing::get(
                    |State(files): State<Files>, Path(path): Path<String>| async move {
                        let body = files.lock().unwrap().get(&path).cloned();
                        body.ok_or(StatusCode::NOT_FOUND)
                    },
                ),
            )
            .with_state(files.clone());
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
        Self {
            base,
            files,
            stop,
            task,
        }
    }

    /// Serves `body` at `path` (no leading slash); returns its URL.
    fn put(&self, path: &str, body: Vec<u8>) -> String {
        self.files.lock().unwrap().insert(path.to_owned(), body);
        format!("{}/{path}", self.base)
    }

    async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap();
    }
}

/// The MUD signer CA and a signer it issued, the manufacturer's device CA, and a config for
/// loopback fetches that trusts the signer CA.
struct Fixture {
    signer_cert: Vec<u8>,
    signer_key: KeyPair,
    device_ca_der: Vec<u8>,
    device_ca: rcgen::Issuer<'static, KeyPair>,
    config: MudConfig,
}

fn fixture() -> Fixture {
    let (signer_ca_der, signer_ca) = ca("Maker MUD Signer CA", None, false);
    let (signer_cert, signer_key) = signer(&signer_ca, "Maker MUD Signer");
    let (device_ca_der, device_ca) = ca("Maker Device CA", None, false);
    let mut config = MudConfig::new(vec![signer_ca_der]);
    config.danger_allow_loopback_http = true;
    Fixture {
        signer_cert,
        signer_key,
        device_ca_der,
        device_ca,
        config,
    }
}

/// Serves a MUD file for its own URL at `dev.json`, and at `dev.json.p7s` its signature by
/// `cert`/`key`; with `tamper`, the file served differs by one byte from the one signed.
fn serve_signed(s: &Served, cert: &[u8], key: &KeyPair, tamper: bool) -> String {
    let url = format!("{}/dev.json", s.base);
    let file = mud_file(&url);
    s.put("dev.json.p7s", sign_mud(&file, cert, key));
    let mut served = file;
    if tamper {
        // A trailing space: the same JSON, other bytes.
        served.push(b' ');
    }
    s.put("dev.json", served)
}

/// A verified iDevID for a device certificate with `mud_url` and, optionally, id-pe-mudsigner.
fn idevid_with(f: &Fixture, mud_url: &str, mud_signer: Option<&[u8]>) -> VerifiedIDevId {
    let (leaf, _) = device(&f.device_ca, Some(mud_url), mud_signer);
    idevid::verify_chain(&[leaf], std::slice::from_ref(&f.device_ca_der), NOW).unwrap()
}

#[tokio::test]
async fn mud_url_from_the_certificate_with_a_valid_signed_file_passes() {
    let f = fixture();
    let s = Served::start().await;
    let url = serve_signed(&s, &f.signer_cert, &f.signer_key, false);
    let mud_url = MudUrl::from_idevid(&idevid_with(&f, &url, None)).unwrap();
    assert!(mud_url.authenticated);
    let result = fetch_and_verify(&mud_url, &f.config, NOW).await;
    s.stop().await;
    let verified = result.clone().unwrap();
    assert_eq!(verified.signer, "CN=Maker MUD Signer");
    let d = &verified.declarations;
    assert_eq!(d.mud_url.as_deref(), Some(url.as_str()));
    assert_eq!(d.last_update.as_deref(), Some("2026-05-01T12:00:00+00:00"));
    assert_eq!(d.systeminfo.as_deref(), Some("vouch test light bulb"));
    assert_eq!(d.is_supported, Some(true));
    assert_eq!(d.acls, ["mud-1-to", "mud-1-fr"]);
    let v = verdict(&mud_url, &result);
    assert!(v.passed, "{v:?}");
    assert!(v.authenticated);
    assert_eq!((v.root, v.kind), (Root::Mud, Kind::Attestation));
    assert!(
        v.reasons.iter().any(|r| r == "ACLs: mud-1-to, mud-1-fr"),
        "{v:?}"
    );
}

#[tokio::test]
async fn a_mud_file_that_is_not_the_one_signed_fails() {
    let f = fixture();
    let s = Served::start().await;
    let url = serve_signed(&s, &f.signer_cert, &f.signer_key, true);
    let mud_url = MudUrl::from_idevid(&idevid_with(&f, &url, None)).unwrap();
    let result = fetch_and_verify(&mud_url, &f.config, NOW).await;
    s.stop().await;
    assert_eq!(
        result,
        Err(MudError::BadSignature(
            "the message digest does not match the MUD file".to_owned()
        ))
    );
    let v = verdict(&mud_url, &result);
    assert!(!v.passed);
    assert!(v.authenticated);
    assert!(v.reasons[1].contains("does not verify"), "{v:?}");

    // A signature made with another key than the certificate it carries.
    let (_, rogue_key) = signer(&f.device_ca, "Rogue");
    let s = Served::start().await;
    let url = format!("{}/dev.json", s.base);
    let file = mud_file(&url);
    s.put("dev.json.p7s", sign_mud(&file, &f.signer_cert, &rogue_key));
    s.put("dev.json", file);
    let mud_url = MudUrl::from_idevid(&idevid_with(&f, &url, None)).unwrap();
    let result = fetch_and_verify(&mud_url, &f.config, NOW).await;
    s.stop().await;
    assert_eq!(
        result,
        Err(MudError::BadSignature(
            "no certificate of the signature verifies it".to_owned()
        ))
    );
    assert!(!verdict(&mud_url, &result).passed);
}

#[tokio::test]
async fn a_signature_by_a_signer_outside_the_anchors_fails() {
    let f = fixture();
    let (_, rogue_ca) = ca("Rogue CA", None, false);
    let (rogue_cert, rogue_key) = signer(&rogue_ca, "Maker MUD Signer");
    let s = Served::start().await;
    let url = serve_signed(&s, &rogue_cert, &rogue_key, false);
    let mud_url = MudUrl::from_idevid(&idevid_with(&f, &url, None)).unwrap();
    let result = fetch_and_verify(&mud_url, &f.config, NOW).await;
    s.stop().await;
    assert!(
        matches!(&result, Err(MudError::Signer(why)) if why.contains("trust anchor")),
        "{result:?}"
    );
    assert!(!verdict(&mud_url, &result).passed);
}

#[tokio::test]
async fn a_mud_url_only_from_devmod_is_spoofable_and_never_passes() {
    let f = fixture();
    let s = Served::start().await;
    let url = serve_signed(&s, &f.signer_cert, &f.signer_key, false);
    let mud_url = MudUrl::from_devmod(url);
    let result = fetch_and_verify(&mud_url, &f.config, NOW).await;
    s.stop().await;
    // The file itself verifies and is recorded ...
    assert!(result.is_ok(), "{result:?}");
    // ... but a URL only the device asserted is not attestation.
    let v = verdict(&mud_url, &result);
    assert!(!v.passed);
    assert!(!v.authenticated);
    assert!(v.reasons[0].contains("spoofable"), "{v:?}");
    assert!(
        v.reasons.last().unwrap().contains("not attestation"),
        "{v:?}"
    );
}

#[tokio::test]
async fn a_signer_other_than_the_certificates_mud_signer_fails() {
    let f = fixture();
    let s = Served::start().await;
    let url = serve_signed(&s, &f.signer_cert, &f.signer_key, false);
    // The device certificate names another signer (a subject under the same anchor).
    let (_, signer_ca) = ca("unused", None, false);
    let (other, _) = signer(&signer_ca, "Maker Other Signer");
    let mud_url = MudUrl::from_idevid(&idevid_with(&f, &url, Some(&subject_der(&other)))).unwrap();
    let result = fetch_and_verify(&mud_url, &f.config, NOW).await;
    s.stop().await;
    assert_eq!(
        result,
        Err(MudError::SignerMismatch {
            expected: "CN=Maker Other Signer".to_owned(),
            got: "CN=Maker MUD Signer".to_owned(),
        })
    );
    let v = verdict(&mud_url, &result);
    assert!(!v.passed);
    assert!(v.reasons[1].contains("id-pe-mudsigner"), "{v:?}");

    // The same file passes when the certificate names its real signer.
    let s = Served::start().await;
    let url = serve_signed(&s, &f.signer_cert, &f.signer_key, false);
    let mud_url =
        MudUrl::from_idevid(&idevid_with(&f, &url, Some(&subject_der(&f.signer_cert)))).unwrap();
    let result = fetch_and_verify(&mud_url, &f.config, NOW).await;
    s.stop().await;
    assert!(verdict(&mud_url, &result).passed, "{result:?}");
}

#[tokio::test]
async fn plain_http_needs_the_danger_option_and_a_loopback_address() {
    let f = fixture();
    let mut config = f.config.clone();
    config.danger_allow_loopback_http = false;
    let url = MudUrl::from_devmod("http://127.0.0.1:9/dev.json");
    let result = fetch_and_verify(&url, &config, NOW).await;
    assert!(
        matches!(&result, Err(MudError::Url(w)) if w.contains("https")),
        "{result:?}"
    );
    let url = MudUrl::from_devmod("http://192.0.2.1/dev.json");
    let result = fetch_and_verify(&url, &f.config, NOW).await;
    assert!(
        matches!(&result, Err(MudError::Url(w)) if w.contains("loopback")),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_file_over_the_size_cap_is_not_read() {
    let mut f = fixture();
    f.config.max_bytes = 100;
    let s = Served::start().await;
    let url = serve_signed(&s, &f.signer_cert, &f.signer_key, false);
    let result = fetch_and_verify(&MudUrl::from_devmod(url), &f.config, NOW).await;
    s.stop().await;
    assert!(
        matches!(&result, Err(MudError::Fetch(w)) if w.contains("more than 100 bytes")),
        "{result:?}"
    );
}

#[test]
fn malformed_signatures_and_files_are_refused_without_panicking() {
    let f = fixture();
    let file = mud_file("https://maker.example/dev.json");
    for bad in [&[][..], &[0x30, 0x03, 0x06, 0x01, 0x00], &[0xff; 40]] {
        let err = verify_signature(&file, bad, &f.config.signer_anchors, None, NOW).unwrap_err();
        assert!(matches!(err, MudError::Signature(_)), "{err:?}");
    }
    // A truncated real signature.
    let sig = sign_mud(&file, &f.signer_cert, &f.signer_key);
    let err = verify_signature(
        &file,
        &sig[..sig.len() - 3],
        &f.config.signer_anchors,
        None,
        NOW,
    )
    .unwrap_err();
    assert!(matches!(err, MudError::Signature(_)), "{err:?}");
    assert_eq!(
        verify_signature(&file, &sig, &f.config.signer_anchors, None, NOW).unwrap(),
        "CN=Maker MUD Signer"
    );
    assert!(matches!(
        parse_declarations(b"[1,2]"),
        Err(MudError::File(_))
    ));
    assert!(matches!(
        parse_declarations(b"\xff"),
        Err(MudError::File(_))
    ));
}

#[tokio::test]
async fn a_file_that_names_another_mud_url_fails() {
    let f = fixture();
    let s = Served::start().await;
    let file = mud_file("https://maker.example/other.json");
    s.put(
        "dev.json.p7s",
        sign_mud(&file, &f.signer_cert, &f.signer_key),
    );
    let url = s.put("dev.json", file);
    let mud_url = MudUrl::from_idevid(&idevid_with(&f, &url, None)).unwrap();
    let result = fetch_and_verify(&mud_url, &f.config, NOW).await;
    s.stop().await;
    assert_eq!(
        result,
        Err(MudError::UrlMismatch {
            fetched: url,
            declared: "https://maker.example/other.json".to_owned(),
        })
    );
    assert!(!verdict(&mud_url, &result).passed);
}

#[tokio::test]
async fn the_signature_is_fetched_from_the_files_mud_signature_url() {
    let f = fixture();
    let s = Served::start().await;
    let url = format!("{}/dev.json", s.base);
    let mut json: serde_json::Value = serde_json::from_slice(&mud_file(&url)).unwrap();
    json["ietf-mud:mud"]["mud-signature"] = format!("{}/sigs/dev.p7s", s.base).into();
    let file = json.to_string().into_bytes();
    s.put(
        "sigs/dev.p7s",
        sign_mud(&file, &f.signer_cert, &f.signer_key),
    );
    s.put("dev.json", file);
    let mud_url = MudUrl::from_idevid(&idevid_with(&f, &url, None)).unwrap();
    let result = fetch_and_verify(&mud_url, &f.config, NOW).await;
    s.stop().await;
    assert!(verdict(&mud_url, &result).passed, "{result:?}");
}
