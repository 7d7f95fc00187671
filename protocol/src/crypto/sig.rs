//! ECDSA (P-256, P-384) signing and verification; RSA (PKCS#1 v1.5 and PSS) verification.

use alloc::vec::Vec;

use coset::iana::{self, EnumI64};
use coset::{CborSerializable, CoseKey, KeyType, Label};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::elliptic_curve::Generate;
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rand_core::CryptoRng;

use super::{SigAlg, Signer};
use crate::Error;
use crate::error::VerifyError;
use crate::types::{PkBody, PkEnc, PkType, PublicKey};

use p256::ecdsa as es256;
use p384::ecdsa as es384;

/// A parsed public key that can verify signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyingKey {
    /// ECDSA P-256.
    P256(es256::VerifyingKey),
    /// ECDSA P-384.
    P384(es384::VerifyingKey),
    /// RSA; `pss` is true for pkType RSAPSS.
    Rsa {
        /// The key.
        key: rsa::PublicKey,
        /// Signatures are PSS (pkType RSAPSS) rather than PKCS#1 v1.5.
        pss: bool,
    },
}

fn bad(what: &'static str) -> Error {
    Error::Verify(VerifyError::BadKey(what))
}

/// The SubjectPublicKeyInfo of the first (leaf) certificate of a chain.
pub(crate) fn leaf_spki(cert_der: &[u8]) -> Result<Vec<u8>, Error> {
    use der::{Decode, Encode};
    let cert = x509_cert::Certificate::from_der(cert_der)
        .map_err(|_| Error::invalid("X.509 certificate", "not a DER certificate"))?;
    cert.tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|_| Error::invalid("X.509 certificate", "bad SubjectPublicKeyInfo"))
}

impl VerifyingKey {
    /// Parses an FDO `PublicKey` in any of its encodings (X509, X5CHAIN leaf, COSEKEY, RSA
    /// Crypto `[n, e]`), checking that the key matches its declared `pkType`.
    pub fn from_public_key(pk: &PublicKey) -> Result<Self, Error> {
        match &pk.body {
            PkBody::X509(spki) => Self::from_spki(pk.pk_type, spki),
            PkBody::X5Chain { certs, .. } => {
                let leaf = certs
                    .first()
                    .ok_or_else(|| bad("X5CHAIN key (empty chain)"))?;
                Self::from_spki(pk.pk_type, &leaf_spki(leaf)?)
            }
            PkBody::CoseKey(raw) => Self::from_cose_key(pk.pk_type, raw),
            PkBody::Other(raw) if pk.enc == PkEnc::CRYPTO && pk.pk_type.is_rsa() => {
                Self::from_rsa_crypto(pk.pk_type, raw)
            }
            PkBody::Other(_) => Err(Error::unsupported(alloc::format!(
                "{} public key encoding",
                pk.enc
            ))),
        }
    }

    fn from_spki(pk_type: PkType, spki: &[u8]) -> Result<Self, Error> {
        match pk_type {
            PkType::SECP256R1 => es256::VerifyingKey::from_public_key_der(spki)
                .map(Self::P256)
                .map_err(|_| bad("SECP256R1 SubjectPublicKeyInfo")),
            PkType::SECP384R1 => es384::VerifyingKey::from_public_key_der(spki)
                .map(Self::P384)
                .map_err(|_| bad("SECP384R1 SubjectPublicKeyInfo")),
            t if t.is_rsa() => rsa::PublicKey::from_public_key_der(spki)
                .map(|key| Self::Rsa {
                    key,
                    pss: t == PkType::RSAPSS,
                })
                .map_err(|_| bad("RSA SubjectPublicKeyInfo")),
            other => Err(Error::unsupported(alloc::format!("key type {other}"))),
        }
    }

    fn from_cose_key(pk_type: PkType, raw: &[u8]) -> Result<Self, Error> {
        let key = CoseKey::from_slice(raw).map_err(|_| bad("COSE_Key"))?;
        let param = |label: i64| {
            key.params
                .iter()
                .find(|(l, _)| *l == Label::Int(label))
                .and_then(|(_, v)| v.as_bytes())
        };
        match (&key.kty, pk_type) {
            (KeyType::Assigned(iana::KeyType::EC2), PkType::SECP256R1 | PkType::SECP384R1) => {
                let sec1 = key
                    .to_sec1_octet_string()
                    .map_err(|_| bad("EC2 COSE_Key"))?;
                let crv = param(iana::Ec2KeyParameter::Crv.to_i64());
                let _ = crv; // the curve is implied by pkType and checked by parsing the point
                if pk_type == PkType::SECP256R1 {
                    es256::VerifyingKey::from_sec1_bytes(&sec1)
                        .map(Self::P256)
                        .map_err(|_| bad("P-256 COSE_Key"))
                } else {
                    es384::VerifyingKey::from_sec1_bytes(&sec1)
                        .map(Self::P384)
                        .map_err(|_| bad("P-384 COSE_Key"))
                }
            }
            (KeyType::Assigned(iana::KeyType::RSA), t) if t.is_rsa() => {
                let n = param(iana::RsaKeyParameter::N.to_i64())
                    .ok_or_else(|| bad("RSA COSE_Key (n)"))?;
                let e = param(iana::RsaKeyParameter::E.to_i64())
                    .ok_or_else(|| bad("RSA COSE_Key (e)"))?;
                Self::rsa_from_parts(t, n, e)
            }
            _ => Err(bad("COSE_Key of another type than pkType")),
        }
    }

    fn from_rsa_crypto(pk_type: PkType, raw: &[u8]) -> Result<Self, Error> {
        // Crypto encoding of an RSA key: [modulus: bstr, exponent: bstr].
        let mut d = crate::cbor::Decoder::new(raw);
        d.array_of(2, "RSA Crypto key [modulus, exponent]")?;
        let n = d.bytes("RSA modulus (bstr)")?;
        let e = d.bytes("RSA exponent (bstr)")?;
        d.finish("end of RSA key")?;
        Self::rsa_from_parts(pk_type, n, e)
    }

    fn rsa_from_parts(pk_type: PkType, n: &[u8], e: &[u8]) -> Result<Self, Error> {
        let n = rsa::BoxedUint::from_be_slice_vartime(n);
        let e = rsa::BoxedUint::from_be_slice_vartime(e);
        rsa::PublicKey::new(n, e)
            .map(|key| Self::Rsa {
                key,
                pss: pk_type == PkType::RSAPSS,
            })
            .map_err(|_| bad("RSA key"))
    }

    /// Verifies `sig` over `msg`. The algorithm must suit the key: ES256 for P-256, ES384 for
    /// P-384, RS256/RS384 for PKCS#1 RSA keys, PS256/PS384 for RSAPSS keys.
    pub fn verify(&self, alg: SigAlg, msg: &[u8], sig: &[u8]) -> Result<(), Error> {
        let failed = || Error::Verify(VerifyError::Signature("COSE"));
        match (self, alg) {
            (Self::P256(k), SigAlg::ES256) => {
                let s = es256::Signature::from_slice(sig).map_err(|_| failed())?;
                k.verify(msg, &s).map_err(|_| failed())
            }
            (Self::P384(k), SigAlg::ES384) => {
                let s = es384::Signature::from_slice(sig).map_err(|_| failed())?;
                k.verify(msg, &s).map_err(|_| failed())
            }
            (Self::Rsa { key, pss: false }, SigAlg::RS256) => {
                let s = rsa::pkcs1v15::Signature::try_from(sig).map_err(|_| failed())?;
                rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key.clone())
                    .verify(msg, &s)
                    .map_err(|_| failed())
            }
            (Self::Rsa { key, pss: false }, SigAlg::RS384) => {
                let s = rsa::pkcs1v15::Signature::try_from(sig).map_err(|_| failed())?;
                rsa::pkcs1v15::VerifyingKey::<sha2::Sha384>::new(key.clone())
                    .verify(msg, &s)
                    .map_err(|_| failed())
            }
            (Self::Rsa { key, .. }, SigAlg::PS256) => {
                let s = rsa::pss::Signature::try_from(sig).map_err(|_| failed())?;
                rsa::pss::VerifyingKey::<sha2::Sha256>::new(key.clone())
                    .verify(msg, &s)
                    .map_err(|_| failed())
            }
            (Self::Rsa { key, .. }, SigAlg::PS384) => {
                let s = rsa::pss::Signature::try_from(sig).map_err(|_| failed())?;
                rsa::pss::VerifyingKey::<sha2::Sha384>::new(key.clone())
                    .verify(msg, &s)
                    .map_err(|_| failed())
            }
            (_, alg) => Err(Error::invalid(
                "signature algorithm",
                alloc::format!("{alg:?} does not suit a {} key", self.kind()),
            )),
        }
    }

    /// Parses a DER SubjectPublicKeyInfo of a P-256, P-384 or RSA key.
    pub fn from_spki_der(spki: &[u8]) -> Result<Self, Error> {
        if let Ok(k) = es256::VerifyingKey::from_public_key_der(spki) {
            return Ok(Self::P256(k));
        }
        if let Ok(k) = es384::VerifyingKey::from_public_key_der(spki) {
            return Ok(Self::P384(k));
        }
        rsa::PublicKey::from_public_key_der(spki)
            .map(|key| Self::Rsa { key, pss: false })
            .map_err(|_| bad("SubjectPublicKeyInfo (P-256, P-384 or RSA)"))
    }

    /// This key as an FDO `PublicKey` in encoding `enc` (X509, or COSEKEY for ECDSA keys).
    /// `rsa_type` is the pkType an RSA key is given (RSA2048RESTR, RSAPKCS or RSAPSS).
    pub fn to_public_key(&self, enc: PkEnc, rsa_type: PkType) -> Result<PublicKey, Error> {
        let pk_type = match self {
            Self::P256(_) => PkType::SECP256R1,
            Self::P384(_) => PkType::SECP384R1,
            Self::Rsa { .. } if rsa_type.is_rsa() => rsa_type,
            Self::Rsa { .. } => return Err(Error::Misuse("an RSA key needs an RSA pkType")),
        };
        match (enc, self) {
            (PkEnc::X509, _) => Ok(PublicKey::x509(pk_type, self.to_spki_der()?)),
            (PkEnc::COSEKEY, Self::P256(_) | Self::P384(_)) => {
                let (crv, point) = match self {
                    Self::P256(k) => (iana::EllipticCurve::P_256, k.to_sec1_bytes()),
                    Self::P384(k) => (iana::EllipticCurve::P_384, k.to_sec1_bytes()),
                    Self::Rsa { .. } => {
                        return Err(Error::Misuse("unreachable: RSA has no EC2 key"));
                    }
                };
                // Uncompressed SEC1 point: 0x04 ‖ x ‖ y.
                let coord = (point.len() - 1) / 2;
                let key = coset::CoseKeyBuilder::new_ec2_pub_key(
                    crv,
                    point[1..1 + coord].to_vec(),
                    point[1 + coord..].to_vec(),
                )
                .build();
                let raw = key
                    .to_vec()
                    .map_err(|_| Error::Misuse("COSE_Key encoding"))?;
                Ok(PublicKey::cose_key(pk_type, raw))
            }
            (other, _) => Err(Error::unsupported(alloc::format!(
                "a {} key in {other} encoding",
                self.kind()
            ))),
        }
    }

    /// A short name of the key kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::P256(_) => "P-256",
            Self::P384(_) => "P-384",
            Self::Rsa { pss: true, .. } => "RSA-PSS",
            Self::Rsa { pss: false, .. } => "RSA",
        }
    }

    /// The DER SubjectPublicKeyInfo of this key.
    pub fn to_spki_der(&self) -> Result<Vec<u8>, Error> {
        let doc = match self {
            Self::P256(k) => k.to_public_key_der(),
            Self::P384(k) => k.to_public_key_der(),
            Self::Rsa { key, .. } => key.to_public_key_der(),
        };
        doc.map(|d| d.as_bytes().to_vec())
            .map_err(|_| Error::Misuse("key has no SPKI encoding"))
    }

    /// The COSE algorithm this key signs with by default.
    pub fn default_algorithm(&self) -> SigAlg {
        match self {
            Self::P256(_) => SigAlg::ES256,
            Self::P384(_) => SigAlg::ES384,
            Self::Rsa { pss: true, key } if rsa::traits::PublicKeyParts::size(key) > 256 => {
                SigAlg::PS384
            }
            Self::Rsa { pss: true, .. } => SigAlg::PS256,
            Self::Rsa { key, .. } if rsa::traits::PublicKeyParts::size(key) > 256 => SigAlg::RS384,
            Self::Rsa { .. } => SigAlg::RS256,
        }
    }
}

/// A software ECDSA private key (P-256 or P-384).
#[derive(Clone)]
pub enum SigningKey {
    /// P-256, signs ES256.
    P256(es256::SigningKey),
    /// P-384, signs ES384.
    P384(es384::SigningKey),
}

impl core::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print the secret.
        f.write_str(match self {
            Self::P256(_) => "SigningKey::P256(..)",
            Self::P384(_) => "SigningKey::P384(..)",
        })
    }
}

impl SigningKey {
    /// A fresh key on the curve of `pk_type` (SECP256R1 or SECP384R1).
    pub fn generate(pk_type: PkType, rng: &mut dyn CryptoRng) -> Result<Self, Error> {
        match pk_type {
            PkType::SECP256R1 => Ok(Self::P256(es256::SigningKey::generate_from_rng(rng))),
            PkType::SECP384R1 => Ok(Self::P384(es384::SigningKey::generate_from_rng(rng))),
            other => Err(Error::unsupported(alloc::format!(
                "signing with {other} keys"
            ))),
        }
    }

    /// The key type.
    pub fn pk_type(&self) -> PkType {
        match self {
            Self::P256(_) => PkType::SECP256R1,
            Self::P384(_) => PkType::SECP384R1,
        }
    }

    /// Reads a PKCS#8 or SEC1 DER private key of either curve.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        if let Ok(k) = es256::SigningKey::from_pkcs8_der(der) {
            return Ok(Self::P256(k));
        }
        if let Ok(k) = es384::SigningKey::from_pkcs8_der(der) {
            return Ok(Self::P384(k));
        }
        if let Ok(k) = p256::SecretKey::from_sec1_der(der) {
            return Ok(Self::P256(k.into()));
        }
        if let Ok(k) = p384::SecretKey::from_sec1_der(der) {
            return Ok(Self::P384(k.into()));
        }
        Err(Error::invalid(
            "private key",
            "not a P-256 or P-384 key in PKCS#8 or SEC1 DER",
        ))
    }

    /// Reads a PEM private key (`PRIVATE KEY` or `EC PRIVATE KEY`) of either curve.
    pub fn from_pem(text: &str) -> Result<Self, Error> {
        let p = pem::parse(text).map_err(|_| Error::invalid("private key", "not PEM"))?;
        Self::from_der(p.contents())
    }

    /// The key as PKCS#8 DER. The caller owns the secret bytes and should zeroize them.
    pub fn to_pkcs8_der(&self) -> Result<zeroize::Zeroizing<Vec<u8>>, Error> {
        let doc = match self {
            Self::P256(k) => k.to_pkcs8_der(),
            Self::P384(k) => k.to_pkcs8_der(),
        };
        doc.map(|d| zeroize::Zeroizing::new(d.as_bytes().to_vec()))
            .map_err(|_| Error::Misuse("key cannot be encoded"))
    }

    /// The matching verifying key.
    pub fn verifying_key(&self) -> VerifyingKey {
        match self {
            Self::P256(k) => VerifyingKey::P256(*k.verifying_key()),
            Self::P384(k) => VerifyingKey::P384(*k.verifying_key()),
        }
    }
}

impl Signer for SigningKey {
    fn algorithm(&self) -> SigAlg {
        match self {
            Self::P256(_) => SigAlg::ES256,
            Self::P384(_) => SigAlg::ES384,
        }
    }

    fn public_key(&self, enc: PkEnc) -> Result<PublicKey, Error> {
        self.verifying_key().to_public_key(enc, self.pk_type())
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        Ok(match self {
            Self::P256(k) => {
                let s: es256::Signature = k.sign(msg);
                s.to_bytes().to_vec()
            }
            Self::P384(k) => {
                let s: es384::Signature = k.sign(msg);
                s.to_bytes().to_vec()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test::SeededRng;

    #[test]
    fn sign_verify_both_curves_and_encodings() {
        let mut rng = SeededRng::new(b"sig");
        for t in [PkType::SECP256R1, PkType::SECP384R1] {
            let k = SigningKey::generate(t, &mut rng).unwrap();
            let sig = k.sign(b"msg").unwrap();
            assert_eq!(sig.len(), if t == PkType::SECP256R1 { 64 } else { 96 });
            for enc in [PkEnc::X509, PkEnc::COSEKEY] {
                let pk = k.public_key(enc).unwrap();
                let vk = VerifyingKey::from_public_key(&pk).unwrap();
                vk.verify(k.algorithm(), b"msg", &sig).unwrap();
                assert!(vk.verify(k.algorithm(), b"msh", &sig).is_err());
            }
            let x509 = VerifyingKey::from_public_key(&k.public_key(PkEnc::X509).unwrap()).unwrap();
            let cose =
                VerifyingKey::from_public_key(&k.public_key(PkEnc::COSEKEY).unwrap()).unwrap();
            assert_eq!(x509, cose);
        }
    }

    #[test]
    fn algorithm_must_suit_key() {
        let mut rng = SeededRng::new(b"alg");
        let k = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
        let sig = k.sign(b"m").unwrap();
        let vk = k.verifying_key();
        assert!(vk.verify(SigAlg::ES384, b"m", &sig).is_err());
        assert!(vk.verify(SigAlg::RS256, b"m", &sig).is_err());
    }

    #[test]
    fn declared_type_must_match_key() {
        let mut rng = SeededRng::new(b"type");
        let k = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
        let mut pk = k.public_key(PkEnc::X509).unwrap();
        pk.pk_type = PkType::SECP384R1;
        assert!(VerifyingKey::from_public_key(&pk).is_err());
    }

    #[test]
    fn pkcs8_round_trip() {
        let mut rng = SeededRng::new(b"p8");
        let k = SigningKey::generate(PkType::SECP384R1, &mut rng).unwrap();
        let der = k.to_pkcs8_der().unwrap();
        let k2 = SigningKey::from_der(&der).unwrap();
        assert_eq!(k.verifying_key(), k2.verifying_key());
    }
}
