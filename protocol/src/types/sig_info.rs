use alloc::vec::Vec;
use core::fmt;

use crate::Error;
use crate::cbor::{Cbor, Decoder, Encoder};

/// `DeviceSgType`: the device attestation signature type. Open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SgType(pub i64);

impl SgType {
    /// ECDSA P-256 with SHA-256.
    pub const ES256: Self = Self(-7);
    /// ECDSA P-384 with SHA-384.
    pub const ES384: Self = Self(-35);
    /// RSASSA-PSS with SHA-256.
    pub const PS256: Self = Self(-37);
    /// RSASSA-PSS with SHA-384.
    pub const PS384: Self = Self(-38);
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RSA 2048).
    pub const RS256: Self = Self(-257);
    /// RSASSA-PKCS1-v1_5 with SHA-384 (RSA 3072).
    pub const RS384: Self = Self(-258);
    /// Intel EPID 1.0 (legacy).
    pub const EPID10: Self = Self(90);
    /// Intel EPID 1.1 (legacy).
    pub const EPID11: Self = Self(91);
}

impl fmt::Display for SgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ES256 => f.write_str("ES256"),
            Self::ES384 => f.write_str("ES384"),
            Self::PS256 => f.write_str("PS256"),
            Self::PS384 => f.write_str("PS384"),
            Self::RS256 => f.write_str("RS256"),
            Self::RS384 => f.write_str("RS384"),
            Self::EPID10 => f.write_str("EPID10"),
            Self::EPID11 => f.write_str("EPID11"),
            Self(other) => write!(f, "sgType {other}"),
        }
    }
}

/// `SigInfo = [sgType, Info: bstr]`; `Info` is empty for ECDSA and RSA.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SigInfo {
    /// The signature type.
    pub sg_type: SgType,
    /// Group information (EPID only).
    pub info: Vec<u8>,
}

impl SigInfo {
    /// A SigInfo with empty `Info`, as ECDSA and RSA use.
    pub fn new(sg_type: SgType) -> Self {
        Self {
            sg_type,
            info: Vec::new(),
        }
    }
}

impl Cbor for SigInfo {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(2, "SigInfo [sgType, Info]")?;
        Ok(Self {
            sg_type: SgType(d.int("sgType (int)")?),
            info: d.bytes("SigInfo Info (bstr)")?.to_vec(),
        })
    }
    fn encode(&self, e: &mut Encoder) {
        e.array(2).int(self.sg_type.0).bytes(&self.info);
    }
}
