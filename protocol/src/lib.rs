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
//! * [`crypto`] — the provider traits and the pure-Rust RustCrypto provider.
//! * [`cose`] — COSE_Sign1 as FDO uses it.
//! * [`voucher`] — ownership vouchers: create, extend, verify.
//! * [`credential`] — the device credential.
//! * [`messages`] — every DI, TO0, TO1 and TO2 message and the error message.
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
pub mod voucher;
