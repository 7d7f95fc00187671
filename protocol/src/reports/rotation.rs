//! The WebTransport rotation report: the device tells its owner, signed with its attestation
//! key, the SHA-256 of the certificate it is about to serve WebTransport with.
//!
//! A browser pins a WebTransport server by the hash of its whole DER certificate, and that
//! certificate may be valid for 14 days at most, so the pin the relying party hands to the
//! browser must follow the device's certificates. The device reports each successor before it
//! starts serving it; the relying party checks the report against the attestation key in the
//! device certificate chain of the stored voucher, so nobody but the device can move the pin.
//!
//! ```cddl
//! WtRotation = COSE_Sign1 (tag 18) with {1: alg} protected and a payload of
//! WtRotationPayload = [
//!     guid: bstr .size 16,                    ; the device, as its current voucher names it
//!     successor_cert_sha256: bstr .size 32,   ; SHA-256 of the successor's DER certificate
//!     not_after: uint,                        ; the successor's notAfter, unix seconds
//! ]
//! ```
//!
//! The attestation key also signs the device's EATs in TO1 and TO2; those payloads are CBOR
//! maps, this one is an array of three, so neither can be taken for the other.
//!
//! Like the rest of the crate, this module does no I/O and reads no clock: `now` is an
//! argument.

use alloc::vec::Vec;
use core::fmt;

use crate::Error;
use crate::cbor::{Cbor, Decoder, Encoder};
use crate::cose::Sign1;
use crate::crypto::{CryptoProvider, Signer};
use crate::types::{Guid, PublicKey};

/// The longest a WebTransport certificate may be valid, as browsers require for
/// `serverCertificateHashes`: 14 days, in seconds.
pub const MAX_VALIDITY_SECS: u64 = 14 * 24 * 60 * 60;

/// The media type of a report in an HTTP body (RFC 9052).
pub const CONTENT_TYPE: &str = "application/cose; cose-type=\"cose-sign1\"";

/// What a signature failure names the report as.
const WHAT: &str = "WebTransport rotation report";

/// The payload of a rotation report (`WtRotationPayload`, see the [module documentation](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WtRotation {
    /// The device.
    pub guid: Guid,
    /// SHA-256 of the successor certificate's DER encoding.
    pub successor_cert_sha256: [u8; 32],
    /// The successor certificate's notAfter, unix seconds.
    pub not_after: u64,
}

impl Cbor for WtRotation {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(3, "WtRotationPayload (array of 3)")?;
        Ok(Self {
            guid: d.decode()?,
            successor_cert_sha256: d
                .bytes_fixed::<32>("WtRotationPayload successor_cert_sha256 (bstr of 32 bytes)")?,
            not_after: d.uint("WtRotationPayload not_after (uint)")?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(3)
            .encode(&self.guid)
            .bytes(&self.successor_cert_sha256)
            .uint(self.not_after);
    }
}

impl WtRotation {
    /// The signed report: a tagged COSE_Sign1 over this payload, made by `signer` (the
    /// device's attestation key).
    pub fn sign(&self, signer: &dyn Signer) -> Result<Vec<u8>, Error> {
        Ok(Sign1::sign(self.to_cbor(), Default::default(), signer)?
            .bytes()
            .to_vec())
    }

    /// Checks a signed report for device `guid`, whose attestation key is `device_key`, at
    /// unix time `now`, and returns its payload as a proof that it passed.
    ///
    /// The checks, in order: the report is a tagged COSE_Sign1 with nothing after it; its
    /// signature verifies with the device attestation key (the leaf of the voucher's device
    /// certificate chain); its payload is a `WtRotationPayload` naming `guid`; the successor
    /// has not expired (`now < not_after`) and expires within [`MAX_VALIDITY_SECS`] of `now`,
    /// since no certificate a browser pins lasts longer.
    pub fn verify(
        report: &[u8],
        crypto: &dyn CryptoProvider,
        device_key: &PublicKey,
        guid: Guid,
        now: u64,
    ) -> Result<VerifiedWtRotation, RotationError> {
        let sign1 = Sign1::from_cbor(report).map_err(RotationError::Malformed)?;
        sign1
            .verify(crypto, device_key, WHAT)
            .map_err(RotationError::Signature)?;
        let rotation = Self::from_cbor(sign1.payload()).map_err(RotationError::Malformed)?;
        if rotation.guid != guid {
            return Err(RotationError::WrongGuid {
                expected: guid,
                found: rotation.guid,
            });
        }
        if rotation.not_after <= now {
            return Err(RotationError::Expired {
                not_after: rotation.not_after,
                now,
            });
        }
        let limit = now.saturating_add(MAX_VALIDITY_SECS);
        if rotation.not_after > limit {
            return Err(RotationError::TooLong {
                not_after: rotation.not_after,
                limit,
            });
        }
        Ok(VerifiedWtRotation(rotation))
    }
}

/// A rotation report that [`WtRotation::verify`] accepted; only it makes one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifiedWtRotation(WtRotation);

impl VerifiedWtRotation {
    /// The verified payload.
    pub fn rotation(&self) -> &WtRotation {
        &self.0
    }
}

/// Why a rotation report was refused.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RotationError {
    /// Not a tagged COSE_Sign1 over a `WtRotationPayload`.
    Malformed(Error),
    /// The signature does not verify with the device attestation key, or its algorithm does
    /// not fit that key.
    Signature(Error),
    /// Signed by the device, but for another GUID.
    WrongGuid {
        /// The GUID the report was sent for.
        expected: Guid,
        /// The GUID in the report.
        found: Guid,
    },
    /// The successor certificate has already expired.
    Expired {
        /// Its notAfter.
        not_after: u64,
        /// The time of the check.
        now: u64,
    },
    /// The successor certificate would be valid for longer than a browser pins one.
    TooLong {
        /// Its notAfter.
        not_after: u64,
        /// The latest notAfter accepted.
        limit: u64,
    },
}

impl fmt::Display for RotationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "the {WHAT} is malformed: {e}"),
            Self::Signature(e) => write!(f, "the {WHAT} is not signed by the device: {e}"),
            Self::WrongGuid { expected, found } => {
                write!(f, "the {WHAT} is for device {found}, not {expected}")
            }
            Self::Expired { not_after, now } => write!(
                f,
                "the {WHAT} names a certificate that expired at {not_after} (now {now})"
            ),
            Self::TooLong { not_after, limit } => write!(
                f,
                "the {WHAT} names a certificate valid until {not_after}, later than {limit} \
                 (14 days from now)"
            ),
        }
    }
}

impl core::error::Error for RotationError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Malformed(e) | Self::Signature(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::crypto::test::SeededRng;
    use crate::crypto::{RustCrypto, SigningKey};
    use crate::types::{PkEnc, PkType};
    use alloc::vec;

    use super::*;

    const NOW: u64 = 1_750_000_000;

    fn key(seed: &[u8]) -> SigningKey {
        SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(seed)).unwrap()
    }

    fn rotation() -> WtRotation {
        WtRotation {
            guid: Guid([0x11; 16]),
            successor_cert_sha256: [0xab; 32],
            not_after: NOW + MAX_VALIDITY_SECS,
        }
    }

    fn verify(report: &[u8], signer: &SigningKey) -> Result<VerifiedWtRotation, RotationError> {
        let pk = signer.public_key(PkEnc::X509).unwrap();
        WtRotation::verify(report, &RustCrypto, &pk, Guid([0x11; 16]), NOW)
    }

    #[test]
    fn payload_encoding() {
        let r = WtRotation {
            guid: Guid([0x11; 16]),
            successor_cert_sha256: [0xab; 32],
            not_after: 0x6850_0000,
        };
        let mut expected = vec![0x83]; // array(3)
        expected.push(0x50); // bstr(16): guid
        expected.extend([0x11; 16]);
        expected.extend([0x58, 0x20]); // bstr(32): successor_cert_sha256
        expected.extend([0xab; 32]);
        expected.extend([0x1a, 0x68, 0x50, 0x00, 0x00]); // uint(32-bit): not_after
        assert_eq!(r.to_cbor(), expected);
        assert_eq!(WtRotation::from_cbor(&expected).unwrap(), r);
        // A fourth element is refused.
        let mut four = expected.clone();
        four[0] = 0x84;
        four.push(0x00);
        assert!(WtRotation::from_cbor(&four).is_err());
        // A 31-byte hash is refused.
        let mut short = vec![0x83, 0x50];
        short.extend([0x11; 16]);
        short.extend([0x58, 0x1f]);
        short.extend([0xab; 31]);
        short.push(0x00);
        assert!(WtRotation::from_cbor(&short).is_err());
    }

    #[test]
    fn a_signed_report_verifies() {
        let k = key(b"device");
        let report = rotation().sign(&k).unwrap();
        assert_eq!(report[0], 0xd2, "tagged COSE_Sign1");
        let verified = verify(&report, &k).unwrap();
        assert_eq!(*verified.rotation(), rotation());
    }

    #[test]
    fn a_tampered_report_is_refused() {
        let k = key(b"device");
        let mut report = rotation().sign(&k).unwrap();
        // The last byte of the hash sits just before not_after (5 bytes), the signature
        // header (2 bytes) and the signature (64 bytes).
        let n = report.len();
        report[n - 64 - 2 - 5 - 1] ^= 1;
        assert!(matches!(
            verify(&report, &k),
            Err(RotationError::Signature(_))
        ));
    }

    #[test]
    fn another_key_is_refused() {
        let report = rotation().sign(&key(b"someone else")).unwrap();
        let err = verify(&report, &key(b"device")).unwrap_err();
        assert!(matches!(err, RotationError::Signature(_)), "{err}");
    }

    #[test]
    fn another_guid_is_refused() {
        let k = key(b"device");
        let report = WtRotation {
            guid: Guid([0x22; 16]),
            ..rotation()
        }
        .sign(&k)
        .unwrap();
        assert_eq!(
            verify(&report, &k).unwrap_err(),
            RotationError::WrongGuid {
                expected: Guid([0x11; 16]),
                found: Guid([0x22; 16])
            }
        );
    }

    #[test]
    fn not_after_must_be_within_fourteen_days() {
        let k = key(b"device");
        let late = WtRotation {
            not_after: NOW + MAX_VALIDITY_SECS + 1,
            ..rotation()
        };
        assert!(matches!(
            verify(&late.sign(&k).unwrap(), &k),
            Err(RotationError::TooLong { .. })
        ));
        let expired = WtRotation {
            not_after: NOW,
            ..rotation()
        };
        assert!(matches!(
            verify(&expired.sign(&k).unwrap(), &k),
            Err(RotationError::Expired { .. })
        ));
    }

    #[test]
    fn garbage_and_trailing_bytes_are_malformed() {
        let k = key(b"device");
        assert!(matches!(
            verify(b"not cbor", &k),
            Err(RotationError::Malformed(_))
        ));
        let mut report = rotation().sign(&k).unwrap();
        report.push(0x00);
        assert!(matches!(
            verify(&report, &k),
            Err(RotationError::Malformed(_))
        ));
    }
}
