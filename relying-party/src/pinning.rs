//! Reaching a device through its pin: a TLS client that accepts exactly one key.
//!
//! After TO2 the owner knows the SHA-256 of the device's TLS SubjectPublicKeyInfo (the pin
//! `vouch.tls` recorded). [`SpkiPinVerifier`] accepts a server only when its leaf certificate
//! carries that key and the handshake is signed by it; names, dates and issuers do not matter,
//! as with a browser's SPKI pin list. [`pinned_client`] builds an HTTP client around it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, Error as TlsError, SignatureScheme};
use sha2::{Digest, Sha256};

/// SHA-256 of the SubjectPublicKeyInfo in a DER certificate.
pub fn spki_sha256(cert_der: &[u8]) -> Result<[u8; 32]> {
    use der::{Decode, Encode};
    let cert = x509_cert::Certificate::from_der(cert_der).context("not a DER certificate")?;
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .context("re-encoding the SubjectPublicKeyInfo")?;
    Ok(Sha256::digest(&spki).into())
}

/// Accepts exactly the server key whose SubjectPublicKeyInfo hashes to the pin.
pub struct SpkiPinVerifier {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for SpkiPinVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpkiPinVerifier")
            .field("pin", &hex::encode(self.pin))
            .finish()
    }
}

impl SpkiPinVerifier {
    /// A verifier for the key whose SPKI SHA-256 is `pin`, checking handshake signatures with
    /// ring.
    pub fn new(pin: [u8; 32]) -> Self {
        Self {
            pin,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        }
    }
}

impl ServerCertVerifier for SpkiPinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        let got = spki_sha256(end_entity)
            .map_err(|e| TlsError::General(format!("device certificate: {e:#}")))?;
        if got == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(TlsError::General(format!(
                "the device's key is not the pinned one (pinned SPKI SHA-256 {}, presented {})",
                hex::encode(self.pin),
                hex::encode(got)
            )))
        }
    }

    // The handshake signature proves the server holds the pinned key; without it a copied
    // certificate would pass.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// An HTTP client that reaches only the server holding the pinned key.
pub fn pinned_client(pin: [u8; 32]) -> Result<reqwest::Client> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(SpkiPinVerifier::new(pin)))
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .context("building the pinned HTTP client")
}

/// An HTTP client that trusts only `ca_der` as root (the owner CA), with the usual name and
/// validity checks; `resolve` maps device names to addresses (a local name service stand-in).
pub fn ca_client(
    ca_der: &[u8],
    resolve: &[(String, std::net::SocketAddr)],
) -> Result<reqwest::Client> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca_der.to_vec()))
        .context("the owner CA certificate")?;
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut builder = reqwest::Client::builder();
    for (name, addr) in resolve {
        builder = builder.resolve(name, *addr);
    }
    builder
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .context("building the owner-CA HTTP client")
}
