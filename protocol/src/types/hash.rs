use alloc::vec::Vec;
use core::fmt;

use crate::Error;
use crate::cbor::{Cbor, Decoder, Encoder};

/// A hash or HMAC algorithm id (`hashtype`). Open: unknown ids survive a round trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HashAlg(pub i64);

impl HashAlg {
    /// SHA-256.
    pub const SHA256: Self = Self(-16);
    /// SHA-384.
    pub const SHA384: Self = Self(-43);
    /// HMAC-SHA256.
    pub const HMAC_SHA256: Self = Self(5);
    /// HMAC-SHA384.
    pub const HMAC_SHA384: Self = Self(6);

    /// Output length in bytes, for the algorithms we know.
    pub fn output_len(self) -> Option<usize> {
        match self {
            Self::SHA256 | Self::HMAC_SHA256 => Some(32),
            Self::SHA384 | Self::HMAC_SHA384 => Some(48),
            _ => None,
        }
    }

    /// True for the plain hash ids.
    pub fn is_hash(self) -> bool {
        matches!(self, Self::SHA256 | Self::SHA384)
    }

    /// True for the HMAC ids.
    pub fn is_hmac(self) -> bool {
        matches!(self, Self::HMAC_SHA256 | Self::HMAC_SHA384)
    }

    /// The HMAC id of the same strength as this hash id, and back.
    pub fn hmac_counterpart(self) -> Option<Self> {
        match self {
            Self::SHA256 => Some(Self::HMAC_SHA256),
            Self::SHA384 => Some(Self::HMAC_SHA384),
            Self::HMAC_SHA256 => Some(Self::SHA256),
            Self::HMAC_SHA384 => Some(Self::SHA384),
            _ => None,
        }
    }
}

impl fmt::Display for HashAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::SHA256 => f.write_str("SHA-256"),
            Self::SHA384 => f.write_str("SHA-384"),
            Self::HMAC_SHA256 => f.write_str("HMAC-SHA256"),
            Self::HMAC_SHA384 => f.write_str("HMAC-SHA384"),
            Self(other) => write!(f, "hash type {other}"),
        }
    }
}

macro_rules! hash_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $is_kind:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name {
            alg: HashAlg,
            value: Vec<u8>,
        }

        impl $name {
            /// Builds one; the length must match a known algorithm.
            pub fn new(alg: HashAlg, value: Vec<u8>) -> Result<Self, Error> {
                if let Some(len) = alg.output_len() {
                    if !alg.$is_kind() {
                        return Err(Error::invalid($what, alloc::format!("{alg} is not allowed here")));
                    }
                    if value.len() != len {
                        return Err(Error::invalid(
                            $what,
                            alloc::format!("{alg} value of {} bytes, expected {len}", value.len()),
                        ));
                    }
                }
                Ok(Self { alg, value })
            }

            /// The algorithm.
            pub fn alg(&self) -> HashAlg {
                self.alg
            }

            /// The digest bytes.
            pub fn value(&self) -> &[u8] {
                &self.value
            }

            /// Compares with `other` in constant time (algorithm and value).
            pub fn ct_eq(&self, other: &Self) -> bool {
                use subtle::ConstantTimeEq;
                self.alg == other.alg && bool::from(self.value.as_slice().ct_eq(other.value.as_slice()))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({}, {})"), self.alg, hex::encode(&self.value))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}:{}", self.alg, hex::encode(&self.value))
            }
        }

        impl Cbor for $name {
            fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
                d.array_of(2, concat!($what, " [hashtype, bstr]"))?;
                let alg = HashAlg(d.int(concat!($what, " type (int)"))?);
                let value = d.bytes(concat!($what, " value (bstr)"))?.to_vec();
                Self::new(alg, value)
            }
            fn encode(&self, e: &mut Encoder) {
                e.array(2).int(self.alg.0).bytes(&self.value);
            }
        }
    };
}

hash_type!(
    /// `Hash = [hashtype, bstr]` with a plain hash algorithm (SHA-256, SHA-384).
    Hash,
    "Hash",
    is_hash
);

hash_type!(
    /// `HMac = [hashtype, bstr]` with an HMAC algorithm (HMAC-SHA256, HMAC-SHA384).
    HMac,
    "HMac",
    is_hmac
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_checks_length_and_kind() {
        assert!(Hash::new(HashAlg::SHA256, alloc::vec![0; 32]).is_ok());
        assert!(Hash::new(HashAlg::SHA256, alloc::vec![0; 31]).is_err());
        assert!(Hash::new(HashAlg::HMAC_SHA256, alloc::vec![0; 32]).is_err());
        assert!(HMac::new(HashAlg::HMAC_SHA384, alloc::vec![0; 48]).is_ok());
        // unknown algorithms are kept as they are
        let h = Hash::new(HashAlg(-44), alloc::vec![1, 2, 3]).unwrap();
        assert_eq!(Hash::from_cbor(&h.to_cbor()).unwrap(), h);
    }

    #[test]
    fn hash_encoding() {
        // [-16, h'00..00' (32)]
        let h = Hash::new(HashAlg::SHA256, alloc::vec![0; 32]).unwrap();
        let b = h.to_cbor();
        assert_eq!(&b[..4], &[0x82, 0x2f, 0x58, 0x20]);
    }
}
