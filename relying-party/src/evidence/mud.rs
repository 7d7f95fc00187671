//! MUD (RFC 8520): the device's Manufacturer Usage Description, fetched from its MUD URL, its
//! detached CMS signature verified against configured MUD signer anchors, and what the file
//! declares recorded.
//!
//! The MUD URL comes either from the MUD URL extension of a verified iDevID certificate
//! (authenticated: the manufacturer signed it) or from the device's `devmod:mudurl`
//! (spoofable: the device alone says so). A spoofable URL is fetched and checked all the same,
//! for the record, but its verdict never passes: it is not attestation on its own.
//!
//! The signature is found at the file's `mud-signature` URL (RFC 8520 §13.2), else at the MUD
//! URL with `.p7s` appended. `cms` parses the SignedData but does not verify it, so this file
//! does: the messageDigest attribute against the file's digest, the signature over the DER SET
//! of the signed attributes, the signer certificate chained to an anchor, and, when the device
//! certificate names one (id-pe-mudsigner), the signer's subject.

use std::time::Duration;

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode as _, Encode as _};
use sha2::Digest as _;
use vouch_protocol::crypto::VerifyingKey;
use x509_parser::prelude::FromDer as _;

use super::idevid::{VerifiedIDevId, validate_path};
use super::{Kind, Root, Verdict};

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");

/// A MUD URL and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MudUrl {
    /// The URL.
    pub url: String,
    /// True when it came from a verified certificate, false when only the device said it.
    pub authenticated: bool,
    /// The id-pe-mudsigner Name (DER) of the certificate it came from, if any.
    pub mud_signer: Option<Vec<u8>>,
}

impl MudUrl {
    /// The MUD URL of a verified iDevID's MUD URL extension: authenticated.
    pub fn from_idevid(idevid: &VerifiedIDevId) -> Option<Self> {
        Some(Self {
            url: idevid.fields.mud_url.clone()?,
            authenticated: true,
            mud_signer: idevid.fields.mud_signer.clone(),
        })
    }

    /// The MUD URL the device reported in `devmod:mudurl`: spoofable.
    pub fn from_devmod(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            authenticated: false,
            mud_signer: None,
        }
    }
}

/// How MUD files are fetched and checked.
#[derive(Clone, Debug)]
pub struct MudConfig {
    /// The anchors MUD file signers must chain to, DER certificates.
    pub signer_anchors: Vec<Vec<u8>>,
    /// The largest MUD file or signature fetched, in bytes.
    pub max_bytes: usize,
    /// The time allowed for each fetch.
    pub timeout: Duration,
    /// Allows `http://` URLs on a loopback address (tests only: a plain HTTP fetch can be
    /// tampered with on the way; the signature still protects the content).
    pub danger_allow_loopback_http: bool,
}

impl MudConfig {
    /// Defaults: 64 KiB, 10 s, HTTPS only.
    pub fn new(signer_anchors: Vec<Vec<u8>>) -> Self {
        Self {
            signer_anchors,
            max_bytes: 64 * 1024,
            timeout: Duration::from_secs(10),
            danger_allow_loopback_http: false,
        }
    }
}

/// What a MUD file declares (RFC 8520 §2.1, the `ietf-mud:mud` container).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MudDeclarations {
    /// `mud-url`: the URL the file says it lives at.
    pub mud_url: Option<String>,
    /// `mud-signature`: where its signature is.
    pub mud_signature: Option<String>,
    /// `last-update`.
    pub last_update: Option<String>,
    /// `systeminfo`.
    pub systeminfo: Option<String>,
    /// `mfg-name`.
    pub mfg_name: Option<String>,
    /// `model-name`.
    pub model_name: Option<String>,
    /// `is-supported`.
    pub is_supported: Option<bool>,
    /// The names of the access lists it declares (`ietf-access-control-list:acls`).
    pub acls: Vec<String>,
}

/// Why a MUD file was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MudError {
    /// The URL may not be fetched (not HTTPS, or not parseable).
    Url(String),
    /// Fetching failed (network, status, size, time).
    Fetch(String),
    /// The MUD file is not a MUD JSON document.
    File(String),
    /// The signature is not a CMS SignedData vouch can read.
    Signature(String),
    /// The signature does not verify.
    BadSignature(String),
    /// The signer does not chain to a MUD signer anchor.
    Signer(String),
    /// The signer is not the one the device certificate names (id-pe-mudsigner).
    SignerMismatch {
        /// The subject the certificate names.
        expected: String,
        /// The signer's subject.
        got: String,
    },
    /// The file's `mud-url` is not the URL it was fetched from.
    UrlMismatch {
        /// Where it was fetched from.
        fetched: String,
        /// What it says.
        declared: String,
    },
}

impl std::fmt::Display for MudError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Url(w) => write!(f, "MUD URL refused: {w}"),
            Self::Fetch(w) => write!(f, "fetching failed: {w}"),
            Self::File(w) => write!(f, "the MUD file is not valid: {w}"),
            Self::Signature(w) => write!(f, "the MUD signature is malformed: {w}"),
            Self::BadSignature(w) => write!(f, "the MUD signature does not verify: {w}"),
            Self::Signer(w) => write!(f, "the MUD signer is not trusted: {w}"),
            Self::SignerMismatch { expected, got } => write!(
                f,
                "the MUD signer {got} is not the one the device certificate names \
                 (id-pe-mudsigner {expected})"
            ),
            Self::UrlMismatch { fetched, declared } => write!(
                f,
                "the MUD file fetched from {fetched} says its mud-url is {declared}"
            ),
        }
    }
}

impl std::error::Error for MudError {}

/// A MUD file whose signature verified, with what it declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedMud {
    /// The URL and its origin.
    pub url: MudUrl,
    /// What the file declares.
    pub declarations: MudDeclarations,
    /// The signer's subject.
    pub signer: String,
}

/// Parses a MUD file's JSON.
pub fn parse_declarations(file: &[u8]) -> Result<MudDeclarations, MudError> {
    let json: serde_json::Value =
        serde_json::from_slice(file).map_err(|e| MudError::File(format!("not JSON: {e}")))?;
    let mud = json
        .get("ietf-mud:mud")
        .and_then(|m| m.as_object())
        .ok_or_else(|| MudError::File("no ietf-mud:mud object".to_owned()))?;
    let text = |k: &str| mud.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let systeminfo = text("systeminfo");
    let acls = json
        .get("ietf-access-control-list:acls")
        .and_then(|a| a.get("acl"))
        .and_then(|a| a.as_array())
        .map(|acls| {
            acls.iter()
                .filter_map(|a| a.get("name").and_then(|n| n.as_str()).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok(MudDeclarations {
        mud_url: text("mud-url"),
        mud_signature: text("mud-signature"),
        last_update: text("last-update"),
        systeminfo,
        mfg_name: text("mfg-name"),
        model_name: text("model-name"),
        is_supported: mud.get("is-supported").and_then(|v| v.as_bool()),
        acls,
    })
}

/// Verifies `signature` (DER CMS SignedData, detached) over `file`: the signer chains to one of
/// `anchors` at `now`, and when `expected_signer` (a DER Name) is given, the signer's subject
/// is that name. Returns the signer's subject.
pub fn verify_signature(
    file: &[u8],
    signature: &[u8],
    anchors: &[Vec<u8>],
    expected_signer: Option<&[u8]>,
    now: i64,
) -> Result<String, MudError> {
    let malformed = |w: String| MudError::Signature(w);
    let info = ContentInfo::from_der(signature)
        .map_err(|e| malformed(format!("not a DER ContentInfo: {e}")))?;
    if info.content_type != ID_SIGNED_DATA {
        return Err(malformed(format!(
            "content type {} is not SignedData",
            info.content_type
        )));
    }
    let sd: SignedData = info
        .content
        .decode_as()
        .map_err(|e| malformed(format!("not a SignedData: {e}")))?;
    if sd.encap_content_info.econtent.is_some() {
        return Err(malformed(
            "the content is attached; a MUD signature is detached".to_owned(),
        ));
    }
    // Every certificate the signature carries, DER: the signer and its intermediates.
    let certs: Vec<Vec<u8>> = sd
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            cms::cert::CertificateChoices::Certificate(c) => c.to_der().ok(),
            _ => None,
        })
        .collect();
    let mut failures = Vec::new();
    for signer in sd.signer_infos.0.iter() {
        match verify_signer(file, signer, &certs) {
            Ok(index) => {
                let mut path = vec![certs[index].clone()];
                path.extend(
                    certs
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| *i != index)
                        .map(|(_, c)| c.clone()),
                );
                validate_path(&path, anchors, now).map_err(|e| MudError::Signer(e.to_string()))?;
                let (_, cert) = x509_parser::parse_x509_certificate(&certs[index])
                    .map_err(|e| malformed(format!("the signer certificate: {e}")))?;
                let subject = cert.subject().to_string();
                if let Some(expected) = expected_signer
                    && cert.subject().as_raw() != expected
                {
                    let expected = x509_parser::x509::X509Name::from_der(expected)
                        .map(|(_, n)| n.to_string())
                        .unwrap_or_else(|_| format!("(malformed Name {})", hex::encode(expected)));
                    return Err(MudError::SignerMismatch {
                        expected,
                        got: subject,
                    });
                }
                return Ok(subject);
            }
            Err(e) => failures.push(e),
        }
    }
    match failures.into_iter().next() {
        Some(e) => Err(e),
        None => Err(malformed("no SignerInfo".to_owned())),
    }
}

/// Checks one SignerInfo over `file`; returns the position in `certs` of the certificate whose
/// key made the signature (the sid is not relied upon: the key that verifies is what counts).
fn verify_signer(
    file: &[u8],
    signer: &cms::signed_data::SignerInfo,
    certs: &[Vec<u8>],
) -> Result<usize, MudError> {
    let malformed = |w: &str| MudError::Signature(w.to_owned());
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| malformed("no signed attributes"))?;
    let digest = match signer.digest_alg.oid {
        ID_SHA256 => sha2::Sha256::digest(file).to_vec(),
        ID_SHA384 => sha2::Sha384::digest(file).to_vec(),
        ID_SHA512 => sha2::Sha512::digest(file).to_vec(),
        other => {
            return Err(MudError::Signature(format!(
                "digest algorithm {other} is not supported"
            )));
        }
    };
    let attr = |oid: ObjectIdentifier| {
        let a = attrs.iter().find(|a| a.oid == oid)?;
        if a.values.len() != 1 {
            return None;
        }
        a.values.iter().next()
    };
    let content_type: ObjectIdentifier = attr(ID_CONTENT_TYPE)
        .and_then(|v| v.decode_as().ok())
        .ok_or_else(|| malformed("no single content-type signed attribute"))?;
    if content_type != ID_DATA {
        return Err(MudError::Signature(format!(
            "signed content type {content_type} is not id-data"
        )));
    }
    let message_digest: OctetString = attr(ID_MESSAGE_DIGEST)
        .and_then(|v| v.decode_as().ok())
        .ok_or_else(|| malformed("no single message-digest signed attribute"))?;
    // RFC 5652 §5.4: the messageDigest attribute is the digest of the content.
    if message_digest.as_bytes() != digest.as_slice() {
        return Err(MudError::BadSignature(
            "the message digest does not match the MUD file".to_owned(),
        ));
    }
    // RFC 5652 §5.4: the signature covers the DER of the signed attributes as a SET OF (the
    // decoder accepts only DER, so this is the encoding that was signed).
    let signed = attrs
        .to_der()
        .map_err(|e| MudError::Signature(format!("the signed attributes: {e}")))?;
    let sig = signer.signature.as_bytes();
    let alg = signer.signature_algorithm.oid;
    for (i, cert) in certs.iter().enumerate() {
        let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert) else {
            continue;
        };
        let Ok(key) = VerifyingKey::from_spki_der(parsed.public_key().raw) else {
            continue;
        };
        if ecdsa_verify(&key, alg, &signed, sig)? {
            return Ok(i);
        }
    }
    Err(MudError::BadSignature(
        "no certificate of the signature verifies it".to_owned(),
    ))
}

/// Whether `sig` (DER ECDSA) by `key` over `msg` verifies under `alg`.
fn ecdsa_verify(
    key: &VerifyingKey,
    alg: ObjectIdentifier,
    msg: &[u8],
    sig: &[u8],
) -> Result<bool, MudError> {
    use p256::ecdsa::signature::Verifier as _;
    Ok(match (key, alg) {
        (VerifyingKey::P256(k), ECDSA_WITH_SHA256) => {
            p256::ecdsa::Signature::from_der(sig).is_ok_and(|s| k.verify(msg, &s).is_ok())
        }
        (VerifyingKey::P384(k), ECDSA_WITH_SHA384) => {
            p384::ecdsa::Signature::from_der(sig).is_ok_and(|s| k.verify(msg, &s).is_ok())
        }
        (VerifyingKey::P256(_) | VerifyingKey::P384(_), ECDSA_WITH_SHA256 | ECDSA_WITH_SHA384) => {
            false
        }
        (_, other) => {
            return Err(MudError::Signature(format!(
                "signature algorithm {other} is not supported (ECDSA P-256/SHA-256, \
                 P-384/SHA-384)"
            )));
        }
    })
}

/// Checks that `url` may be fetched under `config`.
fn check_url(url: &str, config: &MudConfig) -> Result<reqwest::Url, MudError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| MudError::Url(format!("{url}: {e}")))?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if config.danger_allow_loopback_http => {
            let loopback = parsed
                .host_str()
                .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
                .and_then(|h| h.parse::<std::net::IpAddr>().ok())
                .is_some_and(|a| a.is_loopback());
            if loopback {
                Ok(parsed)
            } else {
                Err(MudError::Url(format!(
                    "{url}: http is allowed only to a loopback address"
                )))
            }
        }
        _ => Err(MudError::Url(format!("{url}: MUD URLs must be https"))),
    }
}

/// Fetches `url`, at most `config.max_bytes`.
async fn fetch(
    client: &reqwest::Client,
    url: &str,
    config: &MudConfig,
) -> Result<Vec<u8>, MudError> {
    let url = check_url(url, config)?;
    let fail = |e: reqwest::Error| MudError::Fetch(format!("{url}: {e}"));
    let mut response = client.get(url.clone()).send().await.map_err(fail)?;
    if !response.status().is_success() {
        return Err(MudError::Fetch(format!(
            "{url}: HTTP {}",
            response.status()
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(fail)? {
        if body.len() + chunk.len() > config.max_bytes {
            return Err(MudError::Fetch(format!(
                "{url}: more than {} bytes",
                config.max_bytes
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The HTTP client MUD files are fetched with: public web roots, no redirects, no proxy.
fn client(config: &MudConfig) -> Result<reqwest::Client, MudError> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| MudError::Fetch(format!("TLS protocol versions: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(config.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| MudError::Fetch(format!("building the HTTP client: {e}")))
}

/// Fetches the MUD file at `url` and its signature, verifies it (see the module
/// documentation) at `now` and reads what it declares.
pub async fn fetch_and_verify(
    url: &MudUrl,
    config: &MudConfig,
    now: i64,
) -> Result<VerifiedMud, MudError> {
    let client = client(config)?;
    let file = fetch(&client, &url.url, config).await?;
    let declarations = parse_declarations(&file)?;
    if let Some(declared) = &declarations.mud_url
        && *declared != url.url
    {
        return Err(MudError::UrlMismatch {
            fetched: url.url.clone(),
            declared: declared.clone(),
        });
    }
    let signature_url = declarations
        .mud_signature
        .clone()
        .unwrap_or_else(|| format!("{}.p7s", url.url));
    let signature = fetch(&client, &signature_url, config).await?;
    let signer = verify_signature(
        &file,
        &signature,
        &config.signer_anchors,
        url.mud_signer.as_deref(),
        now,
    )?;
    Ok(VerifiedMud {
        url: url.clone(),
        declarations,
        signer,
    })
}

/// The verdict of a MUD check. It passes only for a verified file named by an authenticated
/// URL: a spoofable URL is never attestation on its own.
pub fn verdict(url: &MudUrl, result: &Result<VerifiedMud, MudError>) -> Verdict {
    let mut reasons = Vec::new();
    let origin = if url.authenticated {
        "from the verified device certificate (authenticated)"
    } else {
        "from devmod:mudurl (spoofable: only the device says so)"
    };
    reasons.push(format!("MUD URL {} {origin}", url.url));
    let passed = match result {
        Ok(v) => {
            reasons.push(format!("MUD file signature verified, signer {}", v.signer));
            let d = &v.declarations;
            for (k, val) in [
                ("last-update", &d.last_update),
                ("systeminfo", &d.systeminfo),
                ("mfg-name", &d.mfg_name),
                ("model-name", &d.model_name),
            ] {
                if let Some(val) = val {
                    reasons.push(format!("{k}: {val}"));
                }
            }
            if let Some(s) = d.is_supported {
                reasons.push(format!("is-supported: {s}"));
            }
            reasons.push(format!("ACLs: {}", d.acls.join(", ")));
            if !url.authenticated {
                reasons.push(
                    "not attestation: the MUD URL did not come from a verified certificate"
                        .to_owned(),
                );
            }
            url.authenticated
        }
        Err(e) => {
            reasons.push(e.to_string());
            false
        }
    };
    Verdict {
        root: Root::Mud,
        kind: Kind::Attestation,
        passed,
        reasons,
        authenticated: url.authenticated,
    }
}

#[cfg(test)]
mod tests;
