//! The crate's one error type, grouped by who is at fault, and its one mapping to FDO error codes.

use alloc::string::String;
use core::fmt;

use crate::cbor::Major;

/// Everything that can go wrong in `vouch-protocol`.
///
/// Variants are grouped by who is at fault: the input was malformed ([`Error::Decode`]), the
/// peer's data failed a check ([`Error::Verify`]), we do not support what was asked
/// ([`Error::Unsupported`]), or the caller used the API wrongly ([`Error::Misuse`]).
/// [`Error::code`] is the only place that maps an error to the FDO wire code.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not the CBOR structure that was expected.
    Decode(DecodeError),
    /// A value decoded but is not acceptable where it appeared (e.g. a 15-byte GUID).
    Invalid {
        /// What was being read.
        what: &'static str,
        /// Why it was refused.
        why: String,
    },
    /// A cryptographic or protocol check failed; names the check.
    Verify(VerifyError),
    /// An algorithm, suite or encoding we do not implement.
    Unsupported(String),
    /// The caller used the API wrongly (e.g. a key of the wrong type for a suite).
    Misuse(&'static str),
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(what: &'static str, why: impl Into<String>) -> Self {
        Self::Invalid {
            what,
            why: why.into(),
        }
    }

    /// Shorthand for [`Error::Unsupported`].
    pub fn unsupported(what: impl Into<String>) -> Self {
        Self::Unsupported(what.into())
    }

    /// The FDO error code this error is reported with on the wire.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Decode(_) | Self::Invalid { .. } => ErrorCode::MESSAGE_BODY_ERROR,
            Self::Verify(v) => v.code(),
            Self::Unsupported(_) => ErrorCode::MESSAGE_BODY_ERROR,
            Self::Misuse(_) => ErrorCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decode(e) => e.fmt(f),
            Self::Invalid { what, why } => write!(f, "invalid {what}: {why}"),
            Self::Verify(v) => write!(f, "verification failed: {v}"),
            Self::Unsupported(what) => write!(f, "unsupported: {what}"),
            Self::Misuse(what) => write!(f, "API misuse: {what}"),
        }
    }
}

impl core::error::Error for Error {}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

impl From<VerifyError> for Error {
    fn from(e: VerifyError) -> Self {
        Self::Verify(e)
    }
}

/// Where and why decoding stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// What the decoder needed at that point, e.g. "OVHeader (array of 6)".
    pub expected: &'static str,
    /// What it found instead.
    pub found: Found,
    /// Byte offset in the buffer being decoded.
    pub at: usize,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed CBOR at byte {}: expected {}, found {}",
            self.at, self.expected, self.found
        )
    }
}

/// What a decoder found where it expected something else.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Found {
    /// The input ended.
    End,
    /// An item of another major type.
    Type(Major),
    /// An array, map or string of this length (items, pairs or bytes).
    Length(u64),
    /// Another tag number.
    Tag(u64),
    /// A number that does not fit the field.
    OutOfRange,
    /// Bytes left over after the item.
    Trailing(usize),
    /// Something else, described.
    Invalid(&'static str),
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::End => f.write_str("end of input"),
            Self::Type(m) => write!(f, "a {m}"),
            Self::Length(n) => write!(f, "length {n}"),
            Self::Tag(t) => write!(f, "tag {t}"),
            Self::OutOfRange => f.write_str("a number out of range"),
            Self::Trailing(1) => f.write_str("1 trailing byte"),
            Self::Trailing(n) => write!(f, "{n} trailing bytes"),
            Self::Invalid(why) => f.write_str(why),
        }
    }
}

/// A named check that failed. Each verification step of the FDO reference has its own variant,
/// so a caller (and a test) can tell exactly which one refused the input.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// OVHeaderHMac does not match HMAC(DeviceSecret, OVHeader).
    HeaderHmac,
    /// OVDevCertChainHash does not match the hash of the device certificate chain.
    DeviceCertChainHash,
    /// The voucher has a device chain hash but no chain, or a chain but no hash.
    DeviceCertChainMissing,
    /// H(OVHeader.OVPubKey) does not match the credential's DCPubKeyHash.
    ManufacturerKeyHash,
    /// The voucher's GUID is not the credential's.
    GuidMismatch,
    /// Entry `index`'s signature does not verify with the previous owner's key.
    EntrySignature {
        /// Zero-based entry index.
        index: usize,
    },
    /// Entry `index`'s OVEHashPrevEntry does not match the previous entry (or the header).
    EntryPrevHash {
        /// Zero-based entry index.
        index: usize,
    },
    /// Entry `index`'s OVEHashHdrInfo does not match H(GUID‖DeviceInfo).
    EntryHeaderInfoHash {
        /// Zero-based entry index.
        index: usize,
    },
    /// Entry `index` carries a key of another type, size or encoding than the manufacturer key.
    EntryKeyType {
        /// Zero-based entry index.
        index: usize,
    },
    /// Entry `index` uses another hash algorithm than the rest of the voucher.
    EntryHashType {
        /// Zero-based entry index.
        index: usize,
    },
    /// The voucher has no entries where at least one is required.
    NoEntries,
    /// The key given as the current owner's is not the voucher's owner key.
    OwnerKeyMismatch,
    /// A signature (other than a voucher entry's) does not verify.
    Signature(&'static str),
    /// A nonce differs from the one sent.
    Nonce(&'static str),
    /// A hash or MAC in a message differs from the recomputed one.
    Hash(&'static str),
    /// The EAT's UEID is not 0x01‖GUID.
    Ueid,
    /// Authenticated decryption failed.
    Decrypt,
    /// A public key is not a valid key of its declared type.
    BadKey(&'static str),
}

impl VerifyError {
    /// The FDO error code a failure of this check is reported with.
    ///
    /// Every failed check is INVALID_MESSAGE_ERROR (101) in the generic case; the TO0 flow
    /// reports a voucher that fails as INVALID_OWNERSHIP_VOUCHER (2) where the spec asks for it.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::INVALID_MESSAGE_ERROR
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HeaderHmac => f.write_str("header HMAC does not match the device secret"),
            Self::DeviceCertChainHash => {
                f.write_str("device certificate chain does not match OVDevCertChainHash")
            }
            Self::DeviceCertChainMissing => f.write_str(
                "device certificate chain and its hash must both be present or both absent",
            ),
            Self::ManufacturerKeyHash => {
                f.write_str("manufacturer key hash does not match the device credential")
            }
            Self::GuidMismatch => f.write_str("GUID does not match the device credential"),
            Self::EntrySignature { index } => write!(f, "entry {index} signature"),
            Self::EntryPrevHash { index } => write!(f, "entry {index} previous-entry hash"),
            Self::EntryHeaderInfoHash { index } => write!(f, "entry {index} header-info hash"),
            Self::EntryKeyType { index } => write!(
                f,
                "entry {index} key type differs from the manufacturer key"
            ),
            Self::EntryHashType { index } => {
                write!(f, "entry {index} hash algorithm differs from the voucher's")
            }
            Self::NoEntries => f.write_str("voucher has no entries"),
            Self::OwnerKeyMismatch => f.write_str("key is not the voucher's owner key"),
            Self::Signature(what) => write!(f, "{what} signature"),
            Self::Nonce(what) => write!(f, "{what} nonce"),
            Self::Hash(what) => write!(f, "{what} hash"),
            Self::Ueid => f.write_str("EAT UEID is not 0x01 followed by the GUID"),
            Self::Decrypt => f.write_str("authenticated decryption"),
            Self::BadKey(what) => write!(f, "{what} is not a valid public key"),
        }
    }
}

/// An FDO error code (`EMErrorCode`). Open: an unknown code survives a round trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(pub u16);

impl ErrorCode {
    /// Missing, unknown or expired token.
    pub const INVALID_JWT_TOKEN: Self = Self(1);
    /// The ownership voucher is invalid (TO0.OwnerSign).
    pub const INVALID_OWNERSHIP_VOUCHER: Self = Self(2);
    /// The owner's signature over to1d is invalid (TO0.OwnerSign).
    pub const INVALID_OWNER_SIGN_BODY: Self = Self(3);
    /// An RV address is invalid (TO0.OwnerSign).
    pub const INVALID_IP_ADDRESS: Self = Self(4);
    /// The GUID is invalid (TO0.OwnerSign).
    pub const INVALID_GUID: Self = Self(5);
    /// The GUID is unknown, or no rendezvous blob is held for it.
    pub const RESOURCE_NOT_FOUND: Self = Self(6);
    /// The message does not parse or has the wrong structure.
    pub const MESSAGE_BODY_ERROR: Self = Self(100);
    /// A nonce, signature, hash or MAC check failed.
    pub const INVALID_MESSAGE_ERROR: Self = Self(101);
    /// The device refuses credential reuse.
    pub const CRED_REUSE_ERROR: Self = Self(102);
    /// Anything else, on the server's side.
    pub const INTERNAL_SERVER_ERROR: Self = Self(500);

    /// The code's name in the FDO specification, if it is one we know.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::INVALID_JWT_TOKEN => "INVALID_JWT_TOKEN",
            Self::INVALID_OWNERSHIP_VOUCHER => "INVALID_OWNERSHIP_VOUCHER",
            Self::INVALID_OWNER_SIGN_BODY => "INVALID_OWNER_SIGN_BODY",
            Self::INVALID_IP_ADDRESS => "INVALID_IP_ADDRESS",
            Self::INVALID_GUID => "INVALID_GUID",
            Self::RESOURCE_NOT_FOUND => "RESOURCE_NOT_FOUND",
            Self::MESSAGE_BODY_ERROR => "MESSAGE_BODY_ERROR",
            Self::INVALID_MESSAGE_ERROR => "INVALID_MESSAGE_ERROR",
            Self::CRED_REUSE_ERROR => "CRED_REUSE_ERROR",
            Self::INTERNAL_SERVER_ERROR => "INTERNAL_SERVER_ERROR",
            _ => return None,
        })
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{} ({n})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_and_verify_errors_map_to_their_codes() {
        let d = Error::Decode(DecodeError {
            expected: "x",
            found: Found::End,
            at: 0,
        });
        assert_eq!(d.code(), ErrorCode::MESSAGE_BODY_ERROR);
        assert_eq!(
            Error::Verify(VerifyError::HeaderHmac).code(),
            ErrorCode::INVALID_MESSAGE_ERROR
        );
        assert_eq!(Error::Misuse("x").code(), ErrorCode::INTERNAL_SERVER_ERROR);
        assert_eq!(ErrorCode(102).to_string(), "102 (CRED_REUSE_ERROR)");
        assert_eq!(ErrorCode(777).to_string(), "777");
    }
}
