//! Reading a device's certificate request (PKCS#10, DER): the one parser behind DI's
//! `MfgInfo` CSR and the `vouch.tls` and renewal requests.
//!
//! The request must be exactly one DER `CertificationRequest`, its self-signature must verify
//! with the key it holds (the device has the private key), and that key must be P-256 or
//! P-384. This file depends on nothing of the crate but the protocol's key type, so the fuzz
//! target for CSR handling compiles it as it is.

use vouch_protocol::crypto::VerifyingKey;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer as _;

/// A certificate request whose signature verified, with its P-256 or P-384 key.
#[derive(Debug)]
pub struct CheckedCsr {
    /// The key's DER SubjectPublicKeyInfo, as in the request.
    pub spki_der: Vec<u8>,
    /// The key.
    pub key: VerifyingKey,
}

/// Checks `der` as described in the module documentation; the error says why, for the device.
pub fn check(der: &[u8]) -> Result<CheckedCsr, String> {
    let (rest, csr) = X509CertificationRequest::from_der(der)
        .map_err(|e| format!("not a DER PKCS#10 request: {e}"))?;
    if !rest.is_empty() {
        return Err(format!("{} bytes after the PKCS#10 request", rest.len()));
    }
    csr.verify_signature()
        .map_err(|e| format!("its signature does not verify: {e}"))?;
    let spki_der = csr.certification_request_info.subject_pki.raw.to_vec();
    let key = VerifyingKey::from_spki_der(&spki_der).map_err(|e| format!("its key: {e}"))?;
    match key {
        VerifyingKey::P256(_) | VerifyingKey::P384(_) => Ok(CheckedCsr { spki_der, key }),
        other => Err(format!(
            "it holds a {} key; only P-256 and P-384 keys are accepted",
            other.kind()
        )),
    }
}
