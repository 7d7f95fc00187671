//! Cryptography, behind a small set of traits gathered in one provider value.
//!
//! * [`CryptoProvider`]: hashes, HMACs and signature verification — everything a verifier
//!   needs, with no secret of its own. [`RustCrypto`] is the pure-Rust default.
//! * [`Signer`]: a private key that signs (a software key here, a TPM or HSM elsewhere).
//! * Randomness is never global: functions that need it take a `&mut dyn CryptoRng`
//!   ([`rand_core::CryptoRng`]). [`test::SeededRng`] makes every output reproducible, which is
//!   what the conformance vectors are built from. It is for tests and vectors only.
//!
//! Key exchange ([`kex`]), the key derivation ([`kdf`]) and the session encryption ([`aead`]) are
//! modules of their own.

pub mod aead;
mod digest;
pub mod kdf;
pub mod kex;
mod sig;
pub(crate) mod stream;
pub mod test;

use alloc::vec::Vec;

pub use aead::{CipherSuite, SessionKeys};
pub use coset::iana::Algorithm as SigAlg;
pub use digest::{hash, hmac};
pub use kdf::Prf;
pub use kex::{KexSuite, OwnerKex, SharedSecret};
pub(crate) use sig::leaf_spki;
pub use sig::{SigningKey, VerifyingKey};

use crate::Error;
use crate::types::{HMac, Hash, HashAlg, PublicKey};

/// The cryptographic operations a verifier needs, with no secrets of its own.
pub trait CryptoProvider: Send + Sync {
    /// `H(parts[0] ‖ parts[1] ‖ …)` with a plain hash algorithm.
    fn hash(&self, alg: HashAlg, parts: &[&[u8]]) -> Result<Hash, Error>;

    /// `HMAC(key, data)` with an HMAC algorithm.
    fn hmac(&self, alg: HashAlg, key: &[u8], data: &[u8]) -> Result<HMac, Error>;

    /// Verifies `sig` over `msg` with `key` and COSE algorithm `alg`. ECDSA signatures are raw
    /// `r‖s`. Fails unless `alg` fits the key type.
    fn verify(&self, key: &PublicKey, alg: SigAlg, msg: &[u8], sig: &[u8]) -> Result<(), Error>;

    /// True when both keys are the same key material, whatever their encodings.
    fn same_key(&self, a: &PublicKey, b: &PublicKey) -> Result<bool, Error>;
}

/// A private key that signs. Implementations may live in hardware.
pub trait Signer {
    /// The COSE algorithm of the signatures this key makes.
    fn algorithm(&self) -> SigAlg;

    /// The public key, in the given encoding (X509 or COSEKEY; X5CHAIN needs a certificate the
    /// caller holds).
    fn public_key(&self, enc: crate::types::PkEnc) -> Result<PublicKey, Error>;

    /// Signs `msg`; ECDSA signatures are raw `r‖s`.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, Error>;
}

/// The pure-Rust default provider (RustCrypto: sha2, hmac, p256, p384, rsa).
#[derive(Clone, Copy, Debug, Default)]
pub struct RustCrypto;

impl CryptoProvider for RustCrypto {
    fn hash(&self, alg: HashAlg, parts: &[&[u8]]) -> Result<Hash, Error> {
        digest::hash(alg, parts)
    }

    fn hmac(&self, alg: HashAlg, key: &[u8], data: &[u8]) -> Result<HMac, Error> {
        digest::hmac(alg, key, data)
    }

    fn verify(&self, key: &PublicKey, alg: SigAlg, msg: &[u8], sig: &[u8]) -> Result<(), Error> {
        VerifyingKey::from_public_key(key)?.verify(alg, msg, sig)
    }

    fn same_key(&self, a: &PublicKey, b: &PublicKey) -> Result<bool, Error> {
        Ok(VerifyingKey::from_public_key(a)? == VerifyingKey::from_public_key(b)?)
    }
}
