//! COSE_Sign1 as FDO uses it: always tagged (18), `{1: alg}` in the protected header, an
//! attached payload, raw `r‖s` ECDSA signatures.
//!
//! [`Sign1`] keeps the exact bytes it was decoded from. FDO hashes whole signed objects (the
//! previous voucher entry, for one), so those bytes are what [`Cbor::encode`] writes back.

use alloc::vec::Vec;

use coset::{
    CborSerializable, CoseSign1, CoseSign1Builder, Header, HeaderBuilder, TaggedCborSerializable,
};

use crate::Error;
use crate::cbor::{Cbor, Decoder, Encoder};
use crate::crypto::{CryptoProvider, SigAlg, Signer};
use crate::error::{Found, VerifyError};
use crate::types::PublicKey;

/// The CBOR tag of COSE_Sign1.
pub const SIGN1_TAG: u64 = 18;

/// A tagged COSE_Sign1 with its original encoding.
#[derive(Clone, Debug, PartialEq)]
pub struct Sign1 {
    bytes: Vec<u8>,
    inner: CoseSign1,
}

impl Sign1 {
    /// Signs `payload` with `signer`, putting `{1: alg}` in the protected header and
    /// `unprotected` as the unprotected header.
    pub fn sign(payload: Vec<u8>, unprotected: Header, signer: &dyn Signer) -> Result<Self, Error> {
        let protected = HeaderBuilder::new().algorithm(signer.algorithm()).build();
        let inner = CoseSign1Builder::new()
            .protected(protected)
            .unprotected(unprotected)
            .payload(payload)
            .try_create_signature(&[], |tbs| signer.sign(tbs))?
            .build();
        let bytes = inner
            .clone()
            .to_tagged_vec()
            .map_err(|_| Error::Misuse("COSE_Sign1 could not be encoded"))?;
        // Decode again so that `protected.original_data` is what we sent.
        Self::from_cbor(&bytes)
    }

    /// The exact encoding, tag included.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The payload bytes (empty when detached, which FDO never uses).
    pub fn payload(&self) -> &[u8] {
        self.inner.payload.as_deref().unwrap_or_default()
    }

    /// The signature bytes.
    pub fn signature(&self) -> &[u8] {
        &self.inner.signature
    }

    /// The unprotected header.
    pub fn unprotected(&self) -> &Header {
        &self.inner.unprotected
    }

    /// The protected header.
    pub fn protected(&self) -> &Header {
        &self.inner.protected.header
    }

    /// The algorithm named in the protected header.
    pub fn algorithm(&self) -> Result<SigAlg, Error> {
        match &self.inner.protected.header.alg {
            Some(coset::RegisteredLabelWithPrivate::Assigned(a)) => Ok(*a),
            Some(other) => Err(Error::unsupported(alloc::format!(
                "COSE algorithm {other:?}"
            ))),
            None => Err(Error::invalid(
                "COSE_Sign1",
                "no algorithm in the protected header",
            )),
        }
    }

    /// The bytes that were signed: `Sig_structure` over the original protected header.
    pub fn to_be_signed(&self) -> Vec<u8> {
        self.inner.tbs_data(&[])
    }

    /// Verifies the signature with `key`, using the algorithm of the protected header.
    /// `what` names the object in the error ("OVEntry 2", "TO2.ProveOVHdr").
    pub fn verify(
        &self,
        crypto: &dyn CryptoProvider,
        key: &PublicKey,
        what: &'static str,
    ) -> Result<(), Error> {
        let alg = self.algorithm()?;
        crypto
            .verify(key, alg, &self.to_be_signed(), self.signature())
            .map_err(|e| match e {
                Error::Verify(VerifyError::Signature(_)) => {
                    Error::Verify(VerifyError::Signature(what))
                }
                other => other,
            })
    }

    /// The underlying coset object.
    pub fn as_coset(&self) -> &CoseSign1 {
        &self.inner
    }
}

impl Cbor for Sign1 {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        const WHAT: &str = "COSE_Sign1 (tag 18, array of 4)";
        let start = d.position();
        let mut probe = d.clone();
        probe.tag(SIGN1_TAG, WHAT)?;
        probe.array_of(4, WHAT)?;
        probe.bytes("COSE_Sign1 protected header (bstr)")?;
        if probe.peek_major() != Some(crate::cbor::Major::Map) {
            return Err(probe.error(
                "COSE_Sign1 unprotected header (map)",
                probe.peek_major().map_or(Found::End, Found::Type),
            ));
        }
        probe.item("COSE_Sign1 unprotected header (map)")?;
        probe.bytes("COSE_Sign1 payload (bstr)")?;
        probe.bytes("COSE_Sign1 signature (bstr)")?;
        let bytes = d.item(WHAT)?;
        let inner = CoseSign1::from_tagged_slice(bytes).map_err(|_| {
            Error::Decode(crate::error::DecodeError {
                expected: WHAT,
                found: Found::Invalid("headers that are not valid COSE"),
                at: start,
            })
        })?;
        Ok(Self {
            bytes: bytes.to_vec(),
            inner,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.raw(&self.bytes);
    }
}

/// Encodes an unprotected or protected header map, for tests and diagnostics.
pub fn header_to_vec(h: &Header) -> Result<Vec<u8>, Error> {
    h.clone()
        .to_vec()
        .map_err(|_| Error::Misuse("COSE header could not be encoded"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test::SeededRng;
    use crate::crypto::{RustCrypto, SigningKey};
    use crate::types::{PkEnc, PkType};

    #[test]
    fn sign_verify_and_tamper() {
        let mut rng = SeededRng::new(b"cose");
        let k = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
        let pk = k.public_key(PkEnc::X509).unwrap();
        let s = Sign1::sign(alloc::vec![1, 2, 3], Header::default(), &k).unwrap();
        assert_eq!(s.bytes()[0], 0xd2);
        s.verify(&RustCrypto, &pk, "test object").unwrap();
        let back = Sign1::from_cbor(s.bytes()).unwrap();
        assert_eq!(back.to_cbor(), s.bytes());
        // flip a payload byte
        let mut bad = s.bytes().to_vec();
        let n = bad.len();
        bad[n - 64 - 2 - 1] ^= 1;
        let t = Sign1::from_cbor(&bad).unwrap();
        let err = t.verify(&RustCrypto, &pk, "test object").unwrap_err();
        assert_eq!(err, Error::Verify(VerifyError::Signature("test object")));
    }

    #[test]
    fn untagged_is_refused() {
        // [h'a10126', {}, h'', h'']
        let untagged = [0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0x40, 0x40];
        let err = Sign1::from_cbor(&untagged).unwrap_err().to_string();
        assert!(err.contains("COSE_Sign1"), "{err}");
    }
}
