//! Certificate renewal (`vouch-device renew`): the device gets a fresh TLS key certified by its
//! owner CA, authenticated by nothing but its attestation key.
//!
//! The certificate `vouch.tls` gets the device at TO2 is short-lived. To renew it the device
//! generates a new P-256 TLS key, signs a [`RenewRequest`] (the key's PKCS#10 request, its GUID
//! and the time) with its attestation key, and posts it to its owner at
//! `POST {owner}/vouch/v1/devices/{guid}/certificate` ([`endpoint`]). The owner checks the
//! signature against the voucher it holds for the device, certifies the new key for the names
//! and addresses it pinned at TO2, moves the pin to the new key and answers with the chain, PEM,
//! leaf first. The device checks that the leaf holds its new key and only then replaces its key
//! and certificate files ([`renew`]).
//!
//! The old key is not needed: a device that lost its TLS key renews the same way. If the
//! answer is lost or the files cannot be written after the owner moved the pin, the device
//! renews again; every request is good once (its `issued_at` must be later than the last one
//! the owner accepted).

pub mod request;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::{Decode as _, Encode as _};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PublicKeyData};
use reqwest::Url;
use sha2::{Digest as _, Sha256};
use vouch_protocol::types::Guid;
use zeroize::Zeroizing;

pub use request::{
    CONTENT_TYPE, MAX_CLOCK_SKEW_SECS, RenewError, RenewRequest, VerifiedRenewRequest,
};

use crate::transport::TlsRoots;
use crate::{CredentialStore, KeyStore};

/// The largest answer read: a chain of a few certificates in PEM is a few kilobytes.
pub const MAX_RESPONSE_SIZE: usize = 64 * 1024;

/// The default limit on the whole exchange with the owner.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The media type of the answer: the chain, PEM (RFC 8555 §9.1).
pub const CHAIN_CONTENT_TYPE: &str = "application/pem-certificate-chain";

/// Where device `guid` posts its renewal request at the owner whose base URL is `owner_url`.
pub fn endpoint(owner_url: &str, guid: Guid) -> String {
    format!(
        "{}/vouch/v1/devices/{guid}/certificate",
        owner_url.trim_end_matches('/')
    )
}

/// How [`renew`] runs.
#[derive(Clone, Debug)]
pub struct RenewOptions {
    /// The owner's base URL, e.g. `https://owner.example:8043` (what `onboard` recorded in
    /// [`OWNER_URL_FILE`](crate::OWNER_URL_FILE)).
    pub owner_url: String,
    /// The roots an `https://` owner must chain to.
    pub tls_roots: TlsRoots,
    /// Allows `http://` to hosts other than loopback ones. The request is signed and good
    /// once, and the device checks that the answer certifies its key, but over plain HTTP
    /// anyone on the path sees which device renews and can withhold the answer.
    pub danger_allow_plain_http: bool,
    /// Where the chain goes (PEM, leaf first).
    pub cert_path: PathBuf,
    /// Where the new TLS key goes (PKCS#8 PEM, mode 0600).
    pub key_path: PathBuf,
    /// The limit on the whole exchange.
    pub timeout: Duration,
}

/// A renewal that went through: the owner pinned the new key and the device wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Renewed {
    /// The device.
    pub guid: Guid,
    /// Where the request went.
    pub url: String,
    /// SHA-256 of the new key's DER SubjectPublicKeyInfo: the owner's new pin.
    pub spki_sha256: [u8; 32],
    /// The new certificate's notAfter, as the certificate writes it.
    pub not_after: String,
    /// The chain written.
    pub cert_path: PathBuf,
    /// The key written.
    pub key_path: PathBuf,
}

/// Why a renewal failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum RenewFailure {
    /// The device's own problem (no credential or key, a file it cannot write, a URL it will
    /// not use); nothing was sent, or the files are as they were unless the text says so.
    Local(String),
    /// The owner could not be reached or did not answer in time.
    Unreachable {
        /// The request's URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The owner refused the request.
    Refused {
        /// The request's URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The owner's explanation (at most 300 characters of it).
        text: String,
    },
    /// The owner accepted the request but its answer fails the device's checks; the files
    /// were not touched.
    BadAnswer {
        /// The request's URL.
        url: String,
        /// What is wrong with the answer.
        reason: String,
    },
}

impl RenewFailure {
    /// True when the device, not the owner, is at fault.
    pub fn is_local(&self) -> bool {
        matches!(self, Self::Local(_))
    }
}

impl fmt::Display for RenewFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local(why) => f.write_str(why),
            Self::Unreachable { url, reason } => {
                write!(f, "cannot reach the owner at {url}: {reason}")
            }
            Self::Refused { url, status, text } => {
                write!(
                    f,
                    "the owner at {url} refused the renewal: {status}: {text}"
                )
            }
            Self::BadAnswer { url, reason } => write!(
                f,
                "the owner at {url} answered with an unusable certificate: {reason}; the TLS \
                 key and certificate files were not changed"
            ),
        }
    }
}

impl std::error::Error for RenewFailure {}

/// The request, signed, with the key it asks to certify.
struct Prepared {
    guid: Guid,
    key: KeyPair,
    spki_der: Vec<u8>,
    body: Vec<u8>,
}

/// Renews the device's TLS certificate with the owner (module documentation): a fresh key,
/// a request signed with the attestation key in `keys` for the GUID of the credential in
/// `credentials`, and, once the owner certified the key, the key and chain written to
/// `options.key_path` and `options.cert_path` (each file atomically, the key first).
pub async fn renew(
    credentials: &impl CredentialStore,
    keys: &mut impl KeyStore,
    options: &RenewOptions,
) -> Result<Renewed, RenewFailure> {
    let base = checked_base_url(&options.owner_url, options.danger_allow_plain_http)?;
    let prepared = prepare(credentials, keys, unix_now()?)?;
    let url = endpoint(base.as_str(), prepared.guid);
    let chain = post(&url, prepared.body.clone(), options).await?;
    let bad = |reason: String| RenewFailure::BadAnswer {
        url: url.clone(),
        reason,
    };
    let not_after = check_chain(&chain, &prepared.spki_der).map_err(bad)?;
    write_files(
        &options.key_path,
        &options.cert_path,
        &Zeroizing::new(prepared.key.serialize_pem()),
        &chain_pem(&chain),
    )?;
    Ok(Renewed {
        guid: prepared.guid,
        url,
        spki_sha256: Sha256::digest(&prepared.spki_der).into(),
        not_after,
        cert_path: options.cert_path.clone(),
        key_path: options.key_path.clone(),
    })
}

/// The owner's base URL, if the device may send to it: `https`, or `http` to a loopback host
/// or when allowed.
fn checked_base_url(owner_url: &str, allow_plain_http: bool) -> Result<Url, RenewFailure> {
    let refuse = |why: &str| RenewFailure::Local(format!("the owner URL {owner_url:?}: {why}"));
    let url = Url::parse(owner_url).map_err(|e| refuse(&e.to_string()))?;
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(refuse("no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(refuse("a base URL has no query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("credentials in the URL are not supported"));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if allow_plain_http || crate::transport::is_loopback(&url) => Ok(url),
        "http" => Err(refuse(
            "plain http:// to a host other than loopback; name the URL with --owner to use it \
             knowingly",
        )),
        _ => Err(refuse("the scheme must be https or http")),
    }
}

/// A fresh P-256 key, its PKCS#10 request, and the renewal request signed with the
/// attestation key at `now`.
fn prepare(
    credentials: &impl CredentialStore,
    keys: &mut impl KeyStore,
    now: u64,
) -> Result<Prepared, RenewFailure> {
    let local = |what: &str, e: &dyn fmt::Display| RenewFailure::Local(format!("{what}: {e}"));
    let credential = credentials
        .load()
        .map_err(|e| local("reading the device credential", &e))?
        .ok_or_else(|| {
            RenewFailure::Local(
                "no device credential yet: run device initialization and onboarding first".into(),
            )
        })?;
    let signer = keys
        .load()
        .map_err(|e| local("reading the attestation key", &e))?
        .ok_or_else(|| {
            RenewFailure::Local(
                "no attestation key: the device was never initialized with this key file".into(),
            )
        })?;
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| local("generating the TLS key", &e))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    // The owner certifies the names it pinned, not what the request names.
    dn.push(DnType::CommonName, credential.guid.to_string());
    params.distinguished_name = dn;
    let csr = params
        .serialize_request(&key)
        .map_err(|e| local("making the certificate request", &e))?
        .der()
        .to_vec();
    let body = RenewRequest {
        guid: credential.guid,
        csr,
        issued_at: now,
    }
    .sign(signer)
    .map_err(|e| local("signing the renewal request with the attestation key", &e))?;
    Ok(Prepared {
        guid: credential.guid,
        spki_der: key.subject_public_key_info(),
        key,
        body,
    })
}

/// Posts the request and returns the certificates of a successful answer, DER, in order.
async fn post(
    url: &str,
    body: Vec<u8>,
    options: &RenewOptions,
) -> Result<Vec<Vec<u8>>, RenewFailure> {
    let unreachable = |reason: String| RenewFailure::Unreachable {
        url: url.to_string(),
        reason,
    };
    let client = http_client(options.tls_roots.clone(), options.timeout)?;
    let mut response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
        .body(body)
        .send()
        .await
        .map_err(|e| unreachable(error_chain(&e)))?;
    let status = response.status();
    if let Some(length) = response.content_length()
        && length > MAX_RESPONSE_SIZE as u64
    {
        return Err(RenewFailure::BadAnswer {
            url: url.to_string(),
            reason: format!("an answer of {length} bytes, more than {MAX_RESPONSE_SIZE}"),
        });
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| unreachable(error_chain(&e)))?
    {
        if bytes.len() + chunk.len() > MAX_RESPONSE_SIZE {
            return Err(RenewFailure::BadAnswer {
                url: url.to_string(),
                reason: format!("an answer of more than {MAX_RESPONSE_SIZE} bytes"),
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    let text = String::from_utf8_lossy(&bytes);
    if !status.is_success() {
        return Err(RenewFailure::Refused {
            url: url.to_string(),
            status: status.as_u16(),
            text: text.trim().chars().take(300).collect(),
        });
    }
    let bad = |reason: String| RenewFailure::BadAnswer {
        url: url.to_string(),
        reason,
    };
    let blocks = pem::parse_many(text.as_bytes()).map_err(|e| bad(format!("not PEM: {e}")))?;
    if let Some(other) = blocks.iter().find(|b| b.tag() != "CERTIFICATE") {
        return Err(bad(format!("a PEM block of type {:?}", other.tag())));
    }
    if blocks.is_empty() {
        return Err(bad("no certificate".into()));
    }
    Ok(blocks.into_iter().map(pem::Pem::into_contents).collect())
}

/// Checks that the chain's leaf certifies the key whose SubjectPublicKeyInfo is `spki_der`;
/// returns the leaf's notAfter. Whether the chain is trusted is for its clients to decide.
fn check_chain(chain: &[Vec<u8>], spki_der: &[u8]) -> Result<String, String> {
    let leaf = chain.first().ok_or("the chain is empty")?;
    let cert = x509_cert::Certificate::from_der(leaf)
        .map_err(|e| format!("the certificate does not parse: {e}"))?;
    let tbs = cert.tbs_certificate();
    let spki = tbs
        .subject_public_key_info()
        .to_der()
        .map_err(|e| format!("the certificate's key: {e}"))?;
    if spki != spki_der {
        return Err("the certificate is for another key than the one just generated".into());
    }
    for (i, der) in chain.iter().enumerate().skip(1) {
        x509_cert::Certificate::from_der(der)
            .map_err(|e| format!("certificate {} of the chain does not parse: {e}", i + 1))?;
    }
    Ok(tbs.validity().not_after.to_string())
}

/// The chain as PEM `CERTIFICATE` blocks, leaf first.
fn chain_pem(chain: &[Vec<u8>]) -> String {
    chain
        .iter()
        .map(|der| pem::encode(&pem::Pem::new("CERTIFICATE", der.clone())))
        .collect()
}

/// Writes the key, then the chain, each atomically. When the chain cannot be written the old
/// key (if there was one) is put back, so the pair on disk still matches.
fn write_files(
    key_path: &Path,
    cert_path: &Path,
    key_pem: &str,
    chain_pem: &str,
) -> Result<(), RenewFailure> {
    let old_key = match std::fs::read(key_path) {
        Ok(bytes) => Some(Zeroizing::new(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(RenewFailure::Local(format!(
                "cannot read {}: {e}; nothing was written, but the owner has already pinned the \
                 new key: run renew again once the file can be read",
                key_path.display()
            )));
        }
    };
    crate::atomic_file::write(key_path, key_pem.as_bytes()).map_err(|e| {
        RenewFailure::Local(format!(
            "cannot write {}: {e}; the files are as they were, but the owner has already \
             pinned the new key: run renew again once the file can be written",
            key_path.display()
        ))
    })?;
    if let Err(e) = crate::atomic_file::write(cert_path, chain_pem.as_bytes()) {
        let restored = match &old_key {
            Some(old) => crate::atomic_file::write(key_path, old).is_ok(),
            None => std::fs::remove_file(key_path).is_ok(),
        };
        let state = if restored {
            "the old key was put back"
        } else {
            "and the old key could not be put back, so key and certificate do not match"
        };
        return Err(RenewFailure::Local(format!(
            "cannot write {}: {e}; {state}; the owner has already pinned the new key: run \
             renew again once the file can be written",
            cert_path.display()
        )));
    }
    Ok(())
}

/// A client for the request: rustls with ring and `roots`, HTTP/1.1, no redirects, no proxy
/// from the environment.
fn http_client(roots: TlsRoots, timeout: Duration) -> Result<reqwest::Client, RenewFailure> {
    let local = |what: &str, e: &dyn fmt::Display| RenewFailure::Local(format!("{what}: {e}"));
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| local("the TLS versions of the ring provider", &e))?
        .with_root_certificates(roots.into_store())
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .http1_only()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| local("cannot build the HTTP client", &e))
}

/// An error and its causes, `: `-separated (reqwest hides the interesting part in sources).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

fn unix_now() -> Result<u64, RenewFailure> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| RenewFailure::Local("the system clock is before 1970".into()))
}

#[cfg(test)]
mod tests;
