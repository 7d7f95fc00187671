//! # vouch-protocol
//!
//! FIDO Device Onboard (FDO 1.1) as data and cryptography, with no I/O: no sockets, no async
//! runtime, no clock and no global random source. Time and randomness come in as arguments,
//! which is what makes every exchange replayable byte for byte from a test vector. The crate
//! builds as `no_std` with `alloc` (`--no-default-features`).
//!
//! * [`cbor`] — the positional-array codec every FDO type is written in, keeping the original
//!   bytes of whatever is hashed or signed.
//! * [`types`] — GUIDs, nonces, hashes, public keys, rendezvous info, ServiceInfo.
//! * [`crypto`] — the provider traits, the pure-Rust RustCrypto provider, key exchange, KDF and
//!   session encryption.
//! * [`cose`] — COSE_Sign1 as FDO uses it; [`eat`] — the device's attestation tokens.
//! * [`voucher`] — ownership vouchers: create, extend, verify.
//! * [`credential`] — the device credential.
//! * [`messages`] — every DI, TO0, TO1 and TO2 message and the error message.
//! * [`flows`] — the protocols as state machines.
//! * [`serviceinfo`] — ServiceInfo after TO2's handshake: chunking, devmod, modules.
//! * [`reports`] — what an onboarded device reports to its owner, signed: WebTransport
//!   certificate rotations and TLS certificate renewal requests.
//!
//! ## A voucher's life, and a tampered one refused
//!
//! A manufacturer makes a voucher for a device, hands it to an owner by extending it, and the
//! owner verifies it. Flipping one bit of it is caught, and the error names the check.
//!
//! ```
//! use vouch_protocol::cbor::Cbor;
//! use vouch_protocol::crypto::{test::SeededRng, CryptoProvider, RustCrypto, Signer, SigningKey};
//! use vouch_protocol::types::{Guid, HashAlg, PkEnc, PkType, RendezvousInfo};
//! use vouch_protocol::voucher::{OvHeader, OwnershipVoucher};
//! use vouch_protocol::{Error, VerifyError};
//!
//! let crypto = RustCrypto;
//! // Deterministic keys for the example; real code draws from the operating system.
//! let mut rng = SeededRng::new(b"crate docs");
//! let manufacturer = SigningKey::generate(PkType::SECP256R1, &mut rng)?;
//! let owner = SigningKey::generate(PkType::SECP256R1, &mut rng)?;
//!
//! // DI: the manufacturer writes the header, the device MACs it with its secret.
//! let device_secret = [0x5a; 32];
//! let device_chain = vec![b"device certificate (DER)".to_vec()];
//! let header = OvHeader::new(
//!     &crypto,
//!     Guid([0x42; 16]),
//!     RendezvousInfo::default(),
//!     "example device",
//!     manufacturer.public_key(PkEnc::X509)?,
//!     Some(&device_chain),
//!     HashAlg::SHA256,
//! )?;
//! let hmac = crypto.hmac(HashAlg::HMAC_SHA256, &device_secret, &header.to_cbor())?;
//! let voucher = OwnershipVoucher::new(&crypto, header, hmac, Some(device_chain))?;
//!
//! // Hand-over: the manufacturer signs an entry naming the owner's key.
//! let voucher = voucher.extend(&crypto, &manufacturer, owner.public_key(PkEnc::X509)?)?;
//! let pem = voucher.to_pem();
//!
//! // The owner reads and verifies it, and learns that it is the owner.
//! let verified = OwnershipVoucher::from_bytes(pem.as_bytes())?.verify(&crypto, None, None)?;
//! assert!(crypto.same_key(verified.owner_key(), &owner.public_key(PkEnc::X509)?)?);
//!
//! // One flipped bit in the entry's signature, and verification names the failed check.
//! let mut bytes = voucher.to_cbor();
//! let last = bytes.len() - 1;
//! bytes[last] ^= 0x01;
//! let err = OwnershipVoucher::from_cbor(&bytes)?.verify(&crypto, Some(&device_secret), None);
//! assert_eq!(err.unwrap_err(), Error::Verify(VerifyError::EntrySignature { index: 0 }));
//! # Ok::<(), Error>(())
//! ```
//!
//! The onboarding protocols themselves (DI, TO0, TO1, TO2) are driven through [`flows`].
#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

extern crate alloc;

pub mod cbor;
pub mod cose;
pub mod crypto;
pub mod error;
pub mod flows;
pub mod types;

pub use error::{Error, ErrorCode, VerifyError};
pub mod credential;
pub mod eat;
pub mod messages;
pub mod reports;
pub mod serviceinfo;
pub mod voucher;
