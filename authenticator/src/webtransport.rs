//! The device's WebTransport server: the secondary pin.
//!
//! A browser opens a WebTransport session to the device from a page of the relying party,
//! with `serverCertificateHashes` set to the SHA-256 of the device's certificate as the owner
//! recorded it. The browser then checks nothing else about that certificate — no name, no
//! chain — only that it is an ECDSA P-256 certificate valid now and for at most 14 days. So
//! the device serves a short-lived self-signed certificate ([`WtCertificate`]) and, before it
//! serves a new one, reports the new hash to its owner signed with its attestation key
//! ([`report_rotation`], [`rotation`]).
//!
//! [`serve_webtransport`] runs the server (HTTP/3 over QUIC; rustls with the ring provider)
//! and echoes what a session sends: every bidirectional stream back on itself, every datagram
//! back as a datagram. That is enough for a page to show that the pinned session is up.

pub mod rotation;
pub mod service;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, anyhow, bail};
use der::{Decode as _, Encode as _};
use sha2::{Digest as _, Sha256};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use vouch_protocol::crypto::Signer;
use vouch_protocol::types::Guid;
use wtransport::endpoint::IncomingSession;
use wtransport::{Connection, Endpoint, RecvStream, SendStream, ServerConfig};
use zeroize::Zeroizing;

pub use rotation::{MAX_VALIDITY_SECS, RotationError, VerifiedWtRotation, WtRotation};
pub use service::{OnEvent, Service, ServiceConfig, ServiceEvent, start_service};

/// How long a client has to finish the QUIC handshake and the WebTransport session request.
pub const SESSION_SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// The most sessions served at once; further clients are ignored until one ends.
pub const MAX_SESSIONS: usize = 64;

/// How far back a generated certificate's notBefore is set, so that a browser whose clock is a
/// little behind the device's still finds it valid.
const BACKDATE_SECS: u64 = 60;

/// How long [`RunningWt::stop`] waits for the endpoint to close its connections.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// What a stream echo reads at a time.
const ECHO_CHUNK: usize = 4096;

/// id-ecPublicKey (RFC 5480).
const ID_EC_PUBLIC_KEY: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// secp256r1, also called prime256v1 or P-256 (RFC 5480).
const SECP256R1: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// A WebTransport certificate a browser can pin: ECDSA P-256, valid for at most 14 days
/// ([`MAX_VALIDITY_SECS`]), with its private key.
///
/// The only ways to make one ([`WtCertificate::generate`], [`WtCertificate::from_der`]) check
/// this, so a certificate a browser would refuse to pin is never served.
#[derive(Clone)]
pub struct WtCertificate {
    cert_der: Vec<u8>,
    key_pkcs8_der: Zeroizing<Vec<u8>>,
    not_before: u64,
    not_after: u64,
    sha256: [u8; 32],
}

impl core::fmt::Debug for WtCertificate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WtCertificate")
            .field("sha256", &hex_lower(&self.sha256))
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl WtCertificate {
    /// A fresh self-signed P-256 certificate for `subject_alt_names` (names or addresses;
    /// browsers do not check them), valid from a minute ago for exactly 14 days.
    pub fn generate(subject_alt_names: &[String]) -> anyhow::Result<Self> {
        let not_before = unix_now()?.saturating_sub(BACKDATE_SECS);
        Self::generate_valid(
            subject_alt_names,
            not_before,
            not_before + MAX_VALIDITY_SECS,
        )
    }

    /// A fresh self-signed P-256 certificate valid from `not_before` to `not_after` (unix
    /// seconds); refused, like [`WtCertificate::from_der`], when that is longer than 14 days.
    pub fn generate_valid(
        subject_alt_names: &[String],
        not_before: u64,
        not_after: u64,
    ) -> anyhow::Result<Self> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .context("cannot generate a P-256 key")?;
        let mut params = rcgen::CertificateParams::new(subject_alt_names.to_vec())
            .context("the certificate's names")?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "vouch device WebTransport");
        params.not_before = offset_date_time(not_before)?;
        params.not_after = offset_date_time(not_after)?;
        let cert = params
            .self_signed(&key)
            .context("cannot sign the certificate")?;
        Self::from_der(cert.der().to_vec(), key.serialize_der())
    }

    /// A certificate (DER) and its private key (PKCS#8 DER), checked: the certificate holds an
    /// ECDSA P-256 key and is valid for at most 14 days. That the private key belongs to the
    /// certificate is checked when the server starts.
    pub fn from_der(cert_der: Vec<u8>, key_pkcs8_der: Vec<u8>) -> anyhow::Result<Self> {
        let key_pkcs8_der = Zeroizing::new(key_pkcs8_der);
        let cert = x509_cert::Certificate::from_der(&cert_der)
            .map_err(|e| anyhow!("the WebTransport certificate does not parse: {e}"))?;
        let tbs = cert.tbs_certificate();
        let spki = tbs.subject_public_key_info();
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<der::asn1::ObjectIdentifier>().ok());
        if spki.algorithm.oid != ID_EC_PUBLIC_KEY || curve != Some(SECP256R1) {
            bail!(
                "the WebTransport certificate's key is not ECDSA P-256 (algorithm {}): \
                 browsers pin only P-256 here",
                spki.algorithm.oid
            );
        }
        let validity = tbs.validity();
        let not_before = validity.not_before.to_unix_duration().as_secs();
        let not_after = validity.not_after.to_unix_duration().as_secs();
        if not_after < not_before {
            bail!("the WebTransport certificate expires before it begins");
        }
        let days = |secs: u64| secs as f64 / 86_400.0;
        if not_after - not_before > MAX_VALIDITY_SECS {
            bail!(
                "the WebTransport certificate is valid for {:.2} days; browsers pin only \
                 certificates valid for 14 days at most",
                days(not_after - not_before)
            );
        }
        // The encoding is checked to be the one that was parsed: the hash is over these bytes.
        if cert.to_der().ok().as_deref() != Some(cert_der.as_slice()) {
            bail!("the WebTransport certificate has bytes after its end or is not DER");
        }
        let sha256 = Sha256::digest(&cert_der).into();
        Ok(Self {
            cert_der,
            key_pkcs8_der,
            not_before,
            not_after,
            sha256,
        })
    }

    /// The certificate, DER.
    pub fn der(&self) -> &[u8] {
        &self.cert_der
    }

    /// SHA-256 of the DER certificate: what a browser pins in `serverCertificateHashes`.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    /// notBefore, unix seconds.
    pub fn not_before(&self) -> u64 {
        self.not_before
    }

    /// notAfter, unix seconds.
    pub fn not_after(&self) -> u64 {
        self.not_after
    }
}

/// What [`serve_webtransport`] serves, and where.
#[derive(Debug)]
pub struct WtConfig {
    /// The UDP address to listen on; port 0 lets the system pick one (see [`RunningWt::addr`]).
    pub listen: SocketAddr,
    /// The certificate and key to serve.
    pub certificate: WtCertificate,
}

/// A WebTransport server being run; [`RunningWt::stop`] ends it. Dropping it without `stop`
/// ends it too, abruptly.
#[derive(Debug)]
pub struct RunningWt {
    /// The UDP address served (with the port the system picked, if it was 0).
    pub addr: SocketAddr,
    /// SHA-256 of the DER certificate served.
    pub cert_sha256: [u8; 32],
    /// The certificate's notAfter, unix seconds: the server must be replaced before then.
    pub not_after: u64,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl RunningWt {
    /// Closes every session and the endpoint, and returns once the server is gone.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(STOP_GRACE * 2, &mut server)
                .await
                .is_err()
        {
            server.abort();
            let _ = server.await;
        }
    }
}

impl Drop for RunningWt {
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

/// Serves WebTransport on `config.listen` with `config.certificate` until
/// [`RunningWt::stop`], echoing every bidirectional stream and datagram.
///
/// Fails, before listening, when the certificate is not valid now, when the key does not
/// belong to the certificate, or when the address cannot be bound. Must be called within a
/// tokio runtime, which runs the server.
pub async fn serve_webtransport(config: WtConfig) -> anyhow::Result<RunningWt> {
    let cert = config.certificate;
    let now = unix_now()?;
    if now < cert.not_before || now >= cert.not_after {
        bail!(
            "the WebTransport certificate is not valid now ({now}): valid from {} to {}",
            cert.not_before,
            cert.not_after
        );
    }
    let tls = tls_config(&cert)?;
    let server_config = ServerConfig::builder()
        .with_bind_address(config.listen)
        .with_custom_tls(tls)
        .build();
    let endpoint = Endpoint::server(server_config)
        .with_context(|| format!("cannot listen on UDP {}", config.listen))?;
    let addr = endpoint
        .local_addr()
        .context("cannot read the listening address")?;
    let (shutdown, stopped) = oneshot::channel();
    let server = tokio::spawn(accept_loop(endpoint, stopped));
    Ok(RunningWt {
        addr,
        cert_sha256: cert.sha256,
        not_after: cert.not_after,
        shutdown: Some(shutdown),
        server: Some(server),
    })
}

/// TLS 1.3 with the ring provider, the certificate and key, and the WebTransport ALPN.
fn tls_config(cert: &WtCertificate) -> anyhow::Result<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(cert.key_pkcs8_der.to_vec());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("TLS 1.3 with the ring provider")?
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(
                cert.cert_der.clone(),
            )],
            key.into(),
        )
        .context("the WebTransport key does not fit its certificate")?;
    tls.alpn_protocols = vec![wtransport::tls::WEBTRANSPORT_ALPN.to_vec()];
    Ok(tls)
}

async fn accept_loop(
    endpoint: Endpoint<wtransport::endpoint::endpoint_side::Server>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            // A dropped sender means the same as a sent stop.
            _ = &mut stopped => break,
            incoming = endpoint.accept() => {
                if sessions.len() >= MAX_SESSIONS {
                    // Dropping the incoming connection ignores it.
                    continue;
                }
                sessions.spawn(session(incoming));
            }
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    endpoint.close(0u32.into(), b"the device stopped its WebTransport server");
    sessions.abort_all();
    let _ = tokio::time::timeout(STOP_GRACE, endpoint.wait_idle()).await;
}

/// One session: accepted whatever its path, then every stream and datagram echoed until the
/// client goes away.
async fn session(incoming: IncomingSession) -> anyhow::Result<()> {
    let connection = tokio::time::timeout(SESSION_SETUP_TIMEOUT, async {
        let request = incoming.await?;
        anyhow::Ok(request.accept().await?)
    })
    .await
    .context("the session was not set up in time")??;
    echo(connection).await
}

async fn echo(connection: Connection) -> anyhow::Result<()> {
    let mut streams = JoinSet::new();
    loop {
        tokio::select! {
            stream = connection.accept_bi() => {
                let (send, recv) = stream?;
                streams.spawn(echo_stream(send, recv));
            }
            datagram = connection.receive_datagram() => {
                // A datagram too large to send back is dropped, as datagrams may be.
                let _ = connection.send_datagram(datagram?.payload());
            }
            Some(_) = streams.join_next(), if !streams.is_empty() => {}
        }
    }
}

async fn echo_stream(mut send: SendStream, mut recv: RecvStream) -> anyhow::Result<()> {
    let mut buf = vec![0u8; ECHO_CHUNK];
    while let Some(n) = recv.read(&mut buf).await? {
        send.write_all(&buf[..n]).await?;
    }
    send.finish().await?;
    Ok(())
}

/// Reports `successor_sha256`, the hash of the certificate the device will serve
/// WebTransport with next (valid until `not_after`, unix seconds), to the relying party at
/// `rp_base_url`: a [`WtRotation`] signed by `signer`, the device's attestation key, posted to
/// `{rp_base_url}/vouch/v1/devices/{guid}/webtransport-hash`.
///
/// The report is signed when this is called; the returned future only sends it, so it can be
/// awaited or spawned while the key store stays with the caller. It succeeds when the relying
/// party answers with a 2xx status, which means it moved the pin; a refusal is
/// [`ReportError::Refused`] with the status (409: the owner holds a certificate expiring no
/// earlier).
pub fn report_rotation(
    rp_base_url: &str,
    guid: Guid,
    successor_sha256: [u8; 32],
    not_after: u64,
    signer: &dyn Signer,
) -> impl Future<Output = Result<(), ReportError>> + Send + 'static {
    report_rotation_trusting(None, rp_base_url, guid, successor_sha256, not_after, signer)
}

/// [`report_rotation`] to a relying party whose `https` certificate chains to one of `roots`
/// (None: the WebPKI roots), such as an owner with a private CA.
pub fn report_rotation_trusting(
    roots: Option<&rustls::RootCertStore>,
    rp_base_url: &str,
    guid: Guid,
    successor_sha256: [u8; 32],
    not_after: u64,
    signer: &dyn Signer,
) -> impl Future<Output = Result<(), ReportError>> + Send + 'static {
    let client = http_client(roots.cloned());
    let report = WtRotation {
        guid,
        successor_cert_sha256: successor_sha256,
        not_after,
    }
    .sign(signer)
    .map_err(|e| ReportError::Failed(anyhow!("cannot sign the WebTransport rotation report: {e}")));
    let url = format!(
        "{}/vouch/v1/devices/{guid}/webtransport-hash",
        rp_base_url.trim_end_matches('/')
    );
    async move {
        let report = report?;
        let response = client?
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, rotation::CONTENT_TYPE)
            .body(report)
            .send()
            .await
            .with_context(|| format!("cannot send the WebTransport rotation report to {url}"))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        let text: String = text.trim().chars().take(300).collect();
        Err(ReportError::Refused {
            url,
            status: status.as_u16(),
            text,
        })
    }
}

/// Why [`report_rotation`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReportError {
    /// The relying party answered with a status other than 2xx.
    Refused {
        /// Where the report went.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the relying party's explanation.
        text: String,
    },
    /// The report was not made, or did not reach the relying party.
    Failed(anyhow::Error),
}

impl std::fmt::Display for ReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused { url, status, text } => write!(
                f,
                "{url} refused the WebTransport rotation report: {status}: {text}"
            ),
            Self::Failed(e) => write!(f, "{e:#}"),
        }
    }
}

impl From<anyhow::Error> for ReportError {
    fn from(e: anyhow::Error) -> Self {
        Self::Failed(e)
    }
}

impl std::error::Error for ReportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Failed(e) => Some(e.as_ref()),
            Self::Refused { .. } => None,
        }
    }
}

/// A client for the report: rustls with ring and `roots` (None: the WebPKI roots), HTTP/1.1,
/// no redirects, no proxy from the environment.
fn http_client(roots: Option<rustls::RootCertStore>) -> anyhow::Result<reqwest::Client> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = roots.unwrap_or_else(|| rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    });
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions of the ring provider")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .http1_only()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .context("cannot build the HTTP client")
}

fn unix_now() -> anyhow::Result<u64> {
    Ok(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| anyhow!("the system clock is before 1970"))?
        .as_secs())
}

fn offset_date_time(unix: u64) -> anyhow::Result<time::OffsetDateTime> {
    let secs = i64::try_from(unix).map_err(|_| anyhow!("time {unix} is out of range"))?;
    time::OffsetDateTime::from_unix_timestamp(secs).map_err(|e| anyhow!("time {unix}: {e}"))
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
