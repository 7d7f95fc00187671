//! Reading keys from files: PEM or DER, private or public, bare or in a certificate.

use std::path::Path;

use anyhow::{Context, Result, bail};
use vouch_protocol::crypto::{SigningKey, VerifyingKey};

/// Reads a P-256 or P-384 private key (PKCS#8 or SEC1; PEM or DER).
pub fn read_signing_key(path: &Path) -> Result<SigningKey> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let der = match pem::parse(&bytes) {
        Ok(p) => p.into_contents(),
        Err(_) => bytes,
    };
    SigningKey::from_der(&der)
        .with_context(|| format!("{}: not a P-256 or P-384 private key", path.display()))
}

/// Reads a public key: a PEM `PUBLIC KEY` or `CERTIFICATE`, or the DER of either.
pub fn read_public_key(path: &Path) -> Result<VerifyingKey> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let (label, der) = match pem::parse(&bytes) {
        Ok(p) => (p.tag().to_string(), p.into_contents()),
        Err(_) => (String::new(), bytes),
    };
    use der::{Decode, Encode};
    let bare = label.is_empty();
    if (bare || label == "PUBLIC KEY")
        && let Ok(k) = VerifyingKey::from_spki_der(&der)
    {
        return Ok(k);
    }
    if (bare || label == "CERTIFICATE")
        && let Ok(cert) = x509_cert::Certificate::from_der(&der)
    {
        let spki = cert.tbs_certificate().subject_public_key_info().to_der()?;
        return VerifyingKey::from_spki_der(&spki)
            .with_context(|| format!("{}: unsupported certificate key", path.display()));
    }
    bail!(
        "{}: not a public key or certificate (PEM or DER)",
        path.display()
    )
}
