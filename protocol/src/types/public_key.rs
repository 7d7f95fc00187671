use alloc::vec::Vec;
use core::fmt;

use crate::Error;
use crate::cbor::{Cbor, Decoder, Encoder, Major};
use crate::error::Found;

/// `pkType`: the kind of key. Open: unknown values survive a round trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PkType(pub i64);

impl PkType {
    /// RSA 2048 with a restricted exponent (RSA2048RESTR).
    pub const RSA2048RESTR: Self = Self(1);
    /// RSA with PKCS#1 v1.5 signatures (RSAPKCS).
    pub const RSAPKCS: Self = Self(5);
    /// RSA with PSS signatures (RSAPSS).
    pub const RSAPSS: Self = Self(6);
    /// ECDSA over P-256 (SECP256R1).
    pub const SECP256R1: Self = Self(10);
    /// ECDSA over P-384 (SECP384R1).
    pub const SECP384R1: Self = Self(11);

    /// True for the RSA key types.
    pub fn is_rsa(self) -> bool {
        matches!(self, Self::RSA2048RESTR | Self::RSAPKCS | Self::RSAPSS)
    }
}

impl fmt::Display for PkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::RSA2048RESTR => f.write_str("RSA2048RESTR"),
            Self::RSAPKCS => f.write_str("RSAPKCS"),
            Self::RSAPSS => f.write_str("RSAPSS"),
            Self::SECP256R1 => f.write_str("SECP256R1"),
            Self::SECP384R1 => f.write_str("SECP384R1"),
            Self(other) => write!(f, "pkType {other}"),
        }
    }
}

/// `pkEnc`: how the key body is encoded. Open: unknown values survive a round trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PkEnc(pub i64);

impl PkEnc {
    /// Crypto: a raw encoding (EPID group id; RSA `[modulus, exponent]`).
    pub const CRYPTO: Self = Self(0);
    /// X509: a DER SubjectPublicKeyInfo.
    pub const X509: Self = Self(1);
    /// X5CHAIN: an array of DER certificates, leaf first (COSEX509 in FDO 1.0).
    pub const X5CHAIN: Self = Self(2);
    /// COSEKEY: a COSE_Key map.
    pub const COSEKEY: Self = Self(3);
}

impl fmt::Display for PkEnc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::CRYPTO => f.write_str("Crypto"),
            Self::X509 => f.write_str("X509"),
            Self::X5CHAIN => f.write_str("X5CHAIN"),
            Self::COSEKEY => f.write_str("COSEKEY"),
            Self(other) => write!(f, "pkEnc {other}"),
        }
    }
}

/// The body of a [`PublicKey`], by encoding.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PkBody {
    /// X509: DER SubjectPublicKeyInfo.
    X509(Vec<u8>),
    /// X5CHAIN: DER certificates, leaf first.
    X5Chain {
        /// The certificates.
        certs: Vec<Vec<u8>>,
        /// True when the peer wrapped the array in a byte string (fdo-rs does); kept so the
        /// key re-encodes as it came.
        bstr_wrapped: bool,
    },
    /// COSEKEY: the encoded COSE_Key map, as received.
    CoseKey(Vec<u8>),
    /// Crypto or any other encoding: the encoded body item, as received.
    Other(Vec<u8>),
}

/// `PublicKey = [pkType, pkEnc, pkBody]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PublicKey {
    /// The key type.
    pub pk_type: PkType,
    /// The encoding of `body`.
    pub enc: PkEnc,
    /// The key body.
    pub body: PkBody,
}

impl PublicKey {
    /// An X509-encoded key from a DER SubjectPublicKeyInfo.
    pub fn x509(pk_type: PkType, spki_der: Vec<u8>) -> Self {
        Self {
            pk_type,
            enc: PkEnc::X509,
            body: PkBody::X509(spki_der),
        }
    }

    /// An X5CHAIN-encoded key from DER certificates, leaf first.
    pub fn x5chain(pk_type: PkType, certs: Vec<Vec<u8>>) -> Self {
        Self {
            pk_type,
            enc: PkEnc::X5CHAIN,
            body: PkBody::X5Chain {
                certs,
                bstr_wrapped: false,
            },
        }
    }

    /// A COSEKEY-encoded key from an encoded COSE_Key map.
    pub fn cose_key(pk_type: PkType, cose_key: Vec<u8>) -> Self {
        Self {
            pk_type,
            enc: PkEnc::COSEKEY,
            body: PkBody::CoseKey(cose_key),
        }
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.pk_type, self.enc)?;
        if let PkBody::X5Chain { certs, .. } = &self.body {
            write!(f, " ({} certificates)", certs.len())?;
        }
        Ok(())
    }
}

fn decode_chain(d: &mut Decoder<'_>) -> Result<Vec<Vec<u8>>, Error> {
    let n = d.array("X5CHAIN (array of bstr certificates)")?;
    if n == 0 || n > d.remaining().len() as u64 {
        return Err(d.error("X5CHAIN (array of bstr certificates)", Found::Length(n)));
    }
    (0..n)
        .map(|_| d.bytes("X5CHAIN certificate (bstr)").map(<[u8]>::to_vec))
        .collect()
}

impl Cbor for PublicKey {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(3, "PublicKey [pkType, pkEnc, pkBody]")?;
        let pk_type = PkType(d.int("pkType (int)")?);
        let enc = PkEnc(d.int("pkEnc (int)")?);
        let body = match enc {
            PkEnc::X509 => {
                PkBody::X509(d.bytes("X509 pkBody (bstr SubjectPublicKeyInfo)")?.to_vec())
            }
            PkEnc::X5CHAIN => {
                // fdo-rs wraps the chain array in a byte string: accept both.
                if d.peek_major() == Some(Major::Bytes) {
                    let inner = d.bytes("X5CHAIN pkBody")?;
                    let mut id = Decoder::new(inner);
                    let certs = decode_chain(&mut id)?;
                    id.finish("end of bstr-wrapped X5CHAIN")?;
                    PkBody::X5Chain {
                        certs,
                        bstr_wrapped: true,
                    }
                } else {
                    PkBody::X5Chain {
                        certs: decode_chain(d)?,
                        bstr_wrapped: false,
                    }
                }
            }
            PkEnc::COSEKEY => {
                if d.peek_major() != Some(Major::Map) {
                    return Err(d.error(
                        "COSEKEY pkBody (COSE_Key map)",
                        d.peek_major().map_or(Found::End, Found::Type),
                    ));
                }
                PkBody::CoseKey(d.item("COSEKEY pkBody (COSE_Key map)")?.to_vec())
            }
            _ => PkBody::Other(d.item("pkBody")?.to_vec()),
        };
        Ok(Self { pk_type, enc, body })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(3).int(self.pk_type.0).int(self.enc.0);
        match &self.body {
            PkBody::X509(der) => {
                e.bytes(der);
            }
            PkBody::X5Chain {
                certs,
                bstr_wrapped,
            } => {
                let mut inner = Encoder::new();
                inner.array(certs.len());
                for c in certs {
                    inner.bytes(c);
                }
                let inner = inner.into_bytes();
                if *bstr_wrapped {
                    e.bytes(&inner);
                } else {
                    e.raw(&inner);
                }
            }
            PkBody::CoseKey(raw) | PkBody::Other(raw) => {
                e.raw(raw);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x5chain_accepts_bstr_wrapping_and_keeps_it() {
        // [10, 2, [h'01']] and [10, 2, h'8141 01']
        let plain = [0x83, 0x0a, 0x02, 0x81, 0x41, 0x01];
        let wrapped = [0x83, 0x0a, 0x02, 0x43, 0x81, 0x41, 0x01];
        let a = PublicKey::from_cbor(&plain).unwrap();
        let b = PublicKey::from_cbor(&wrapped).unwrap();
        match (&a.body, &b.body) {
            (PkBody::X5Chain { certs: ca, .. }, PkBody::X5Chain { certs: cb, .. }) => {
                assert_eq!(ca, cb)
            }
            _ => panic!("expected X5CHAIN bodies"),
        }
        assert_eq!(a.to_cbor(), plain);
        assert_eq!(b.to_cbor(), wrapped);
    }

    #[test]
    fn wrong_body_type_is_named() {
        // [10, 1, "text"]
        let bad = [0x83, 0x0a, 0x01, 0x64, b't', b'e', b'x', b't'];
        let err = PublicKey::from_cbor(&bad).unwrap_err().to_string();
        assert!(err.contains("X509 pkBody"), "{err}");
        // empty chain
        assert!(PublicKey::from_cbor(&[0x83, 0x0a, 0x02, 0x80]).is_err());
    }
}
