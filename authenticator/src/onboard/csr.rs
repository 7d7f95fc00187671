//! The PKCS#10 certificate signing request the device sends in DI.AppStart, signed by its
//! attestation key through the key store's [`Signer`], which never hands the private key out.
//!
//! rcgen writes the request; the key store signs. A [`Signer`] returns ECDSA signatures as
//! COSE has them (`r ‖ s`), and X.509 wants the DER `ECDSA-Sig-Value`, so the adapter
//! re-encodes them.

use std::cell::RefCell;

use rcgen::{CertificateParams, DistinguishedName, DnType, PublicKeyData, SignatureAlgorithm};
use vouch_protocol::crypto::{SigAlg, Signer};
use vouch_protocol::types::{PkBody, PkEnc};

/// The attestation key as rcgen sees it.
struct AttestationKey<'a> {
    signer: &'a dyn Signer,
    /// The subjectPublicKey bits: the uncompressed EC point.
    point: Vec<u8>,
    algorithm: &'static SignatureAlgorithm,
    /// The signer's failure, which rcgen's error type has no room for.
    failure: RefCell<Option<vouch_protocol::Error>>,
}

impl PublicKeyData for AttestationKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.point
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.algorithm
    }
}

impl rcgen::SigningKey for AttestationKey<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let raw = self.signer.sign(msg).map_err(|e| {
            *self.failure.borrow_mut() = Some(e);
            rcgen::Error::RemoteKeyError
        })?;
        let der = match self.signer.algorithm() {
            SigAlg::ES256 => {
                p256::ecdsa::Signature::from_slice(&raw).map(|s| s.to_der().as_bytes().to_vec())
            }
            _ => p384::ecdsa::Signature::from_slice(&raw).map(|s| s.to_der().as_bytes().to_vec()),
        };
        der.map_err(|_| {
            *self.failure.borrow_mut() = Some(vouch_protocol::Error::Misuse(
                "the key store's signature is not an ECDSA r ‖ s of the key's size",
            ));
            rcgen::Error::RemoteKeyError
        })
    }
}

/// A DER PKCS#10 request for `signer`'s public key, with subject `CN=<common_name>`, signed
/// by `signer` (ES256 or ES384 keys only).
pub(crate) fn certificate_request(
    signer: &dyn Signer,
    common_name: &str,
) -> Result<Vec<u8>, String> {
    let algorithm = match signer.algorithm() {
        SigAlg::ES256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        SigAlg::ES384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        other => {
            return Err(format!(
                "a certificate request for a {other:?} attestation key is not supported \
                 (P-256 and P-384 are)"
            ));
        }
    };
    let public = signer
        .public_key(PkEnc::X509)
        .map_err(|e| format!("the attestation key's public key: {e}"))?;
    let PkBody::X509(spki) = &public.body else {
        return Err("the key store gave no SubjectPublicKeyInfo for the attestation key".into());
    };
    let point = subject_public_key(spki)?;
    let key = AttestationKey {
        signer,
        point,
        algorithm,
        failure: RefCell::new(None),
    };
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    match params.serialize_request(&key) {
        Ok(csr) => Ok(csr.der().to_vec()),
        Err(e) => Err(match key.failure.take() {
            Some(cause) => format!("the attestation key could not sign the request: {cause}"),
            None => format!("the certificate request could not be written: {e}"),
        }),
    }
}

/// The subjectPublicKey bits of a DER SubjectPublicKeyInfo.
fn subject_public_key(spki_der: &[u8]) -> Result<Vec<u8>, String> {
    use der::Decode;
    let spki = spki::SubjectPublicKeyInfoRef::from_der(spki_der)
        .map_err(|e| format!("the attestation key's SubjectPublicKeyInfo does not parse: {e}"))?;
    spki.subject_public_key
        .as_bytes()
        .map(<[u8]>::to_vec)
        .ok_or_else(|| "the attestation key's public key is not a whole number of bytes".into())
}

#[cfg(test)]
mod tests {
    use der::{Decode, Encode};
    use vouch_protocol::crypto::SigningKey;
    use vouch_protocol::crypto::test::SeededRng;
    use vouch_protocol::types::PkType;
    use x509_cert::request::CertReq;

    use super::*;

    #[test]
    fn the_request_carries_the_key_and_verifies_with_it() {
        let mut rng = SeededRng::new(b"csr");
        for pk_type in [PkType::SECP256R1, PkType::SECP384R1] {
            let key = SigningKey::generate(pk_type, &mut rng).unwrap();
            let der_csr = certificate_request(&key, "SN-0001").unwrap();
            let csr = CertReq::from_der(&der_csr).unwrap();
            // the key in the request is the attestation key
            let spki = csr.info.public_key.to_der().unwrap();
            let PkBody::X509(want) = key.public_key(PkEnc::X509).unwrap().body else {
                panic!("X509 body expected");
            };
            assert_eq!(spki, want);
            assert!(csr.info.subject.to_string().contains("SN-0001"));
            // its self-signature verifies with that key
            let info = csr.info.to_der().unwrap();
            let sig = csr.signature.as_bytes().unwrap();
            let ok = match pk_type {
                PkType::SECP256R1 => {
                    use p256::ecdsa::signature::Verifier;
                    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(
                        csr.info.public_key.subject_public_key.raw_bytes(),
                    )
                    .unwrap();
                    let s = p256::ecdsa::DerSignature::try_from(sig).unwrap();
                    vk.verify(&info, &s).is_ok()
                }
                _ => {
                    use p384::ecdsa::signature::Verifier;
                    let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(
                        csr.info.public_key.subject_public_key.raw_bytes(),
                    )
                    .unwrap();
                    let s = p384::ecdsa::DerSignature::try_from(sig).unwrap();
                    vk.verify(&info, &s).is_ok()
                }
            };
            assert!(ok, "{pk_type}");
        }
    }

    /// A signer whose signatures are not `r ‖ s`.
    struct Broken(SigningKey);

    impl Signer for Broken {
        fn algorithm(&self) -> SigAlg {
            self.0.algorithm()
        }
        fn public_key(
            &self,
            enc: PkEnc,
        ) -> Result<vouch_protocol::types::PublicKey, vouch_protocol::Error> {
            self.0.public_key(enc)
        }
        fn sign(&self, _: &[u8]) -> Result<Vec<u8>, vouch_protocol::Error> {
            Ok(vec![1, 2, 3])
        }
    }

    #[test]
    fn a_signer_that_misbehaves_is_named() {
        let key = SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"b")).unwrap();
        let e = certificate_request(&Broken(key), "x").unwrap_err();
        assert!(e.contains("not an ECDSA r ‖ s"), "{e}");
    }
}
