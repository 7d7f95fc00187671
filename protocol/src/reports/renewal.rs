//! The renewal request: the device asks its owner, signed with its attestation key, to certify
//! a fresh TLS key in place of the one it has.
//!
//! The certificate the owner CA issues at TO2 (`vouch.tls`) is short-lived, so the device
//! renews it from time to time without onboarding again. Nothing but the attestation key
//! authenticates the request: the relying party checks it against the attestation key in the
//! device certificate chain of the voucher it stores for the device, so nobody else can move
//! the device's pin to a key of their own.
//!
//! ```cddl
//! RenewRequest = COSE_Sign1 (tag 18) with {1: alg} protected and a payload of
//! RenewPayload = [
//!     guid: bstr .size 16,   ; the device, as its current voucher names it
//!     csr: bstr,             ; PKCS#10 request (DER) for the new TLS key, self-signed by it
//!     issued_at: uint,       ; when the device signed the request, unix seconds
//! ]
//! ```
//!
//! `issued_at` must lie within [`MAX_CLOCK_SKEW_SECS`] of the relying party's clock, and be
//! later than that of the last renewal it accepted for the device, so a request is good once.
//!
//! The attestation key also signs the device's EATs (CBOR maps) and its WebTransport rotation
//! reports (`[guid, bstr .size 32, uint]`). A rotation report read as a `RenewPayload` would
//! carry a 32-byte "CSR", which is never a PKCS#10 request whose self-signature verifies, so
//! the relying party refuses it; a renewal request is refused as a rotation report because its
//! CSR is not 32 bytes long.
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

/// How far `issued_at` may be from the relying party's clock, either way: 5 minutes.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;

/// The media type of a request in an HTTP body (RFC 9052).
pub const CONTENT_TYPE: &str = "application/cose; cose-type=\"cose-sign1\"";

/// What a signature failure names the request as.
const WHAT: &str = "certificate renewal request";

/// The payload of a renewal request (`RenewPayload`, see the [module documentation](self)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenewRequest {
    /// The device.
    pub guid: Guid,
    /// The PKCS#10 request for the new TLS key, DER.
    pub csr: Vec<u8>,
    /// When the device signed the request, unix seconds.
    pub issued_at: u64,
}

impl Cbor for RenewRequest {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(3, "RenewPayload (array of 3)")?;
        Ok(Self {
            guid: d.decode()?,
            csr: d.bytes("RenewPayload csr (bstr)")?.to_vec(),
            issued_at: d.uint("RenewPayload issued_at (uint)")?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(3)
            .encode(&self.guid)
            .bytes(&self.csr)
            .uint(self.issued_at);
    }
}

impl RenewRequest {
    /// The signed request: a tagged COSE_Sign1 over this payload, made by `signer` (the
    /// device's attestation key).
    pub fn sign(&self, signer: &dyn Signer) -> Result<Vec<u8>, Error> {
        Ok(Sign1::sign(self.to_cbor(), Default::default(), signer)?
            .bytes()
            .to_vec())
    }

    /// Checks a signed request for device `guid`, whose attestation key is `device_key`, at
    /// unix time `now`, and returns its payload as a proof that it passed.
    ///
    /// The checks, in order: the request is a tagged COSE_Sign1 with nothing after it; its
    /// signature verifies with the device attestation key (the leaf of the voucher's device
    /// certificate chain); its payload is a `RenewPayload` naming `guid`; `issued_at` is
    /// within [`MAX_CLOCK_SKEW_SECS`] of `now`. The CSR inside is not looked at here, nor
    /// whether the request was seen before: both are the relying party's business.
    pub fn verify(
        request: &[u8],
        crypto: &dyn CryptoProvider,
        device_key: &PublicKey,
        guid: Guid,
        now: u64,
    ) -> Result<VerifiedRenewRequest, RenewError> {
        let sign1 = Sign1::from_cbor(request).map_err(RenewError::Malformed)?;
        sign1
            .verify(crypto, device_key, WHAT)
            .map_err(RenewError::Signature)?;
        let payload = Self::from_cbor(sign1.payload()).map_err(RenewError::Malformed)?;
        if payload.guid != guid {
            return Err(RenewError::WrongGuid {
                expected: guid,
                found: payload.guid,
            });
        }
        if payload.issued_at < now.saturating_sub(MAX_CLOCK_SKEW_SECS) {
            return Err(RenewError::Stale {
                issued_at: payload.issued_at,
                now,
            });
        }
        if payload.issued_at > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
            return Err(RenewError::FromTheFuture {
                issued_at: payload.issued_at,
                now,
            });
        }
        Ok(VerifiedRenewRequest(payload))
    }
}

/// A renewal request that [`RenewRequest::verify`] accepted; only it makes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedRenewRequest(RenewRequest);

impl VerifiedRenewRequest {
    /// The verified payload.
    pub fn request(&self) -> &RenewRequest {
        &self.0
    }
}

/// Why a renewal request was refused.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RenewError {
    /// Not a tagged COSE_Sign1 over a `RenewPayload`.
    Malformed(Error),
    /// The signature does not verify with the device attestation key, or its algorithm does
    /// not fit that key.
    Signature(Error),
    /// Signed by the device, but for another GUID.
    WrongGuid {
        /// The GUID the request was sent for.
        expected: Guid,
        /// The GUID in the request.
        found: Guid,
    },
    /// Signed more than [`MAX_CLOCK_SKEW_SECS`] before `now`.
    Stale {
        /// The request's `issued_at`.
        issued_at: u64,
        /// The time of the check.
        now: u64,
    },
    /// Signed more than [`MAX_CLOCK_SKEW_SECS`] after `now`.
    FromTheFuture {
        /// The request's `issued_at`.
        issued_at: u64,
        /// The time of the check.
        now: u64,
    },
}

impl fmt::Display for RenewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "the {WHAT} is malformed: {e}"),
            Self::Signature(e) => write!(f, "the {WHAT} is not signed by the device: {e}"),
            Self::WrongGuid { expected, found } => {
                write!(f, "the {WHAT} is for device {found}, not {expected}")
            }
            Self::Stale { issued_at, now } => write!(
                f,
                "the {WHAT} was signed at {issued_at}, more than {MAX_CLOCK_SKEW_SECS} seconds \
                 before now ({now}); check the device's clock"
            ),
            Self::FromTheFuture { issued_at, now } => write!(
                f,
                "the {WHAT} was signed at {issued_at}, more than {MAX_CLOCK_SKEW_SECS} seconds \
                 after now ({now}); check the device's clock"
            ),
        }
    }
}

impl core::error::Error for RenewError {
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
    const GUID: Guid = Guid([0x11; 16]);

    fn key(seed: &[u8]) -> SigningKey {
        SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(seed)).unwrap()
    }

    fn request() -> RenewRequest {
        RenewRequest {
            guid: GUID,
            csr: vec![0x30, 0x03, 0x02, 0x01, 0x00],
            issued_at: NOW,
        }
    }

    fn verify_at(
        signed: &[u8],
        signer: &SigningKey,
        now: u64,
    ) -> Result<VerifiedRenewRequest, RenewError> {
        let pk = signer.public_key(PkEnc::X509).unwrap();
        RenewRequest::verify(signed, &RustCrypto, &pk, GUID, now)
    }

    fn verify(signed: &[u8], signer: &SigningKey) -> Result<VerifiedRenewRequest, RenewError> {
        verify_at(signed, signer, NOW)
    }

    #[test]
    fn payload_encoding() {
        let r = RenewRequest {
            guid: GUID,
            csr: vec![0x30, 0x03, 0x02, 0x01, 0x00],
            issued_at: 0x6850_0000,
        };
        let mut expected = vec![0x83]; // array(3)
        expected.push(0x50); // bstr(16): guid
        expected.extend([0x11; 16]);
        expected.push(0x45); // bstr(5): csr
        expected.extend([0x30, 0x03, 0x02, 0x01, 0x00]);
        expected.extend([0x1a, 0x68, 0x50, 0x00, 0x00]); // uint(32-bit): issued_at
        assert_eq!(r.to_cbor(), expected);
        assert_eq!(RenewRequest::from_cbor(&expected).unwrap(), r);
        // A fourth element is refused.
        let mut four = expected.clone();
        four[0] = 0x84;
        four.push(0x00);
        assert!(RenewRequest::from_cbor(&four).is_err());
        // A 15-byte GUID is refused.
        let mut short = vec![0x83, 0x4f];
        short.extend([0x11; 15]);
        short.extend([0x41, 0x30, 0x00]);
        assert!(RenewRequest::from_cbor(&short).is_err());
        // A negative issued_at is refused.
        let mut negative = expected[..expected.len() - 5].to_vec();
        negative.push(0x20); // nint: -1
        assert!(RenewRequest::from_cbor(&negative).is_err());
        // The CSR as text, not bytes, is refused.
        let mut text = expected.clone();
        text[18] = 0x65; // tstr(5)
        assert!(RenewRequest::from_cbor(&text).is_err());
    }

    #[test]
    fn the_signed_request_is_a_tagged_sign1_with_the_algorithm_protected() {
        let k = key(b"device");
        let signed = request().sign(&k).unwrap();
        // tag(18), array(4), bstr(3) protected = {1: -7} (ES256), empty unprotected map,
        // bstr(29) payload.
        assert_eq!(
            signed[..8],
            [0xd2, 0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0x58]
        );
        assert_eq!(signed[8], 29);
        assert_eq!(signed[9..38], request().to_cbor()[..]);
        // bstr(64) signature: r ‖ s.
        assert_eq!(signed[38..40], [0x58, 0x40]);
        assert_eq!(signed.len(), 40 + 64);
        let verified = verify(&signed, &k).unwrap();
        assert_eq!(*verified.request(), request());
    }

    #[test]
    fn a_tampered_request_is_refused() {
        let k = key(b"device");
        let signed = request().sign(&k).unwrap();
        // Every byte of the payload and of the signature matters.
        for at in 9..signed.len() {
            let mut tampered = signed.clone();
            tampered[at] ^= 1;
            assert!(verify(&tampered, &k).is_err(), "byte {at} flipped");
        }
        // issued_at, the payload's last byte, changed by one: the signature no longer holds.
        let mut later = signed.clone();
        later[37] += 1;
        assert!(matches!(verify(&later, &k), Err(RenewError::Signature(_))));
    }

    #[test]
    fn every_truncation_is_refused() {
        let k = key(b"device");
        let signed = request().sign(&k).unwrap();
        for len in 0..signed.len() {
            assert!(
                matches!(verify(&signed[..len], &k), Err(RenewError::Malformed(_))),
                "{len} bytes accepted"
            );
        }
    }

    #[test]
    fn another_key_is_refused() {
        let signed = request().sign(&key(b"someone else")).unwrap();
        let err = verify(&signed, &key(b"device")).unwrap_err();
        assert!(matches!(err, RenewError::Signature(_)), "{err}");
        // A P-384 key's signature does not pass for a P-256 device either.
        let p384 = SigningKey::generate(PkType::SECP384R1, &mut SeededRng::new(b"x")).unwrap();
        let signed = request().sign(&p384).unwrap();
        assert!(matches!(
            verify(&signed, &key(b"device")),
            Err(RenewError::Signature(_))
        ));
    }

    #[test]
    fn another_guid_is_refused() {
        let k = key(b"device");
        let signed = RenewRequest {
            guid: Guid([0x22; 16]),
            ..request()
        }
        .sign(&k)
        .unwrap();
        assert_eq!(
            verify(&signed, &k).unwrap_err(),
            RenewError::WrongGuid {
                expected: GUID,
                found: Guid([0x22; 16])
            }
        );
    }

    #[test]
    fn issued_at_must_be_within_five_minutes_of_now() {
        let k = key(b"device");
        let at = |issued_at: u64| {
            RenewRequest {
                issued_at,
                ..request()
            }
            .sign(&k)
            .unwrap()
        };
        // The edges are inside.
        assert!(verify(&at(NOW - MAX_CLOCK_SKEW_SECS), &k).is_ok());
        assert!(verify(&at(NOW + MAX_CLOCK_SKEW_SECS), &k).is_ok());
        assert_eq!(
            verify(&at(NOW - MAX_CLOCK_SKEW_SECS - 1), &k).unwrap_err(),
            RenewError::Stale {
                issued_at: NOW - MAX_CLOCK_SKEW_SECS - 1,
                now: NOW
            }
        );
        assert_eq!(
            verify(&at(NOW + MAX_CLOCK_SKEW_SECS + 1), &k).unwrap_err(),
            RenewError::FromTheFuture {
                issued_at: NOW + MAX_CLOCK_SKEW_SECS + 1,
                now: NOW
            }
        );
        // Extremes do not overflow.
        assert!(matches!(
            verify_at(&at(u64::MAX), &k, NOW),
            Err(RenewError::FromTheFuture { .. })
        ));
        assert!(matches!(
            verify_at(&at(0), &k, u64::MAX),
            Err(RenewError::Stale { .. })
        ));
        assert!(verify_at(&at(0), &k, 0).is_ok());
    }

    #[test]
    fn garbage_untagged_and_trailing_bytes_are_malformed() {
        let k = key(b"device");
        assert!(matches!(
            verify(b"not cbor", &k),
            Err(RenewError::Malformed(_))
        ));
        assert!(matches!(verify(&[], &k), Err(RenewError::Malformed(_))));
        let signed = request().sign(&k).unwrap();
        let mut trailing = signed.clone();
        trailing.push(0x00);
        assert!(matches!(
            verify(&trailing, &k),
            Err(RenewError::Malformed(_))
        ));
        // The same COSE_Sign1 without its tag.
        assert!(matches!(
            verify(&signed[1..], &k),
            Err(RenewError::Malformed(_))
        ));
        // A payload that is not a RenewPayload, properly signed.
        let other = Sign1::sign(vec![0xa0], Default::default(), &k).unwrap();
        assert!(matches!(
            verify(other.bytes(), &k),
            Err(RenewError::Malformed(_))
        ));
    }
}
