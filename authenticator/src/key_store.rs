//! Where the device keeps its attestation key.
//!
//! The attestation key signs the device's proofs in TO1 and TO2 (the EATs), and its public key
//! is in the device certificate the manufacturer issues at DI, so it is generated once, before
//! DI, and kept for the life of the device. A store hands it out as a [`Signer`], so the state
//! machines need not know whether it is a software key in a file (here) or a key in a TPM or
//! secure element (a later store).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use p256::elliptic_curve::Generate;
use vouch_protocol::crypto::{Signer, SigningKey};
use vouch_protocol::types::{PkEnc, PkType, PublicKey};
use zeroize::Zeroizing;

use crate::StoreError;
use crate::atomic_file;

/// Keeps the device attestation key.
pub trait KeyStore {
    /// The key, or `None` when there is none yet.
    fn load(&mut self) -> Result<Option<&dyn Signer>, StoreError>;

    /// The key, generated (P-256 for [`PkType::SECP256R1`], P-384 for [`PkType::SECP384R1`])
    /// and stored first if there is none. A key that is present must be of type `pk_type`
    /// ([`StoreError::KeyTypeMismatch`] otherwise): an attestation key is never replaced.
    fn load_or_generate(&mut self, pk_type: PkType) -> Result<&dyn Signer, StoreError>;

    /// The public key in encoding `enc` (X509 or COSEKEY), or `None` when there is no key.
    fn public_key(&mut self, enc: PkEnc) -> Result<Option<PublicKey>, StoreError> {
        match self.load()? {
            Some(signer) => Ok(Some(signer.public_key(enc)?)),
            None => Ok(None),
        }
    }
}

/// A fresh key of type `pk_type` from the operating system's random source.
///
/// The fallible generation is used so that a failing random source is an error, not a panic.
fn generate(pk_type: PkType) -> Result<SigningKey, StoreError> {
    let mut rng = getrandom::SysRng;
    match pk_type {
        PkType::SECP256R1 => p256::ecdsa::SigningKey::try_generate_from_rng(&mut rng)
            .map(SigningKey::P256)
            .map_err(StoreError::Random),
        PkType::SECP384R1 => p384::ecdsa::SigningKey::try_generate_from_rng(&mut rng)
            .map(SigningKey::P384)
            .map_err(StoreError::Random),
        other => Err(StoreError::Protocol(vouch_protocol::Error::unsupported(
            format!("device attestation keys of type {other}"),
        ))),
    }
}

fn check_type(key: &SigningKey, wanted: PkType) -> Result<(), StoreError> {
    if key.pk_type() == wanted {
        Ok(())
    } else {
        Err(StoreError::KeyTypeMismatch {
            wanted,
            present: key.pk_type(),
        })
    }
}

/// The attestation key as a PKCS#8 PEM file (`-----BEGIN PRIVATE KEY-----`), mode 0600 on
/// unix, written atomically like [`FileCredentialStore`](crate::FileCredentialStore).
///
/// The key is read once and kept in memory. A SEC1 `EC PRIVATE KEY` PEM is read as well; the
/// store writes PKCS#8 only when it generates a key, so an existing file is never rewritten.
/// One process writes a given file at a time.
#[derive(Debug)]
pub struct FileKeyStore {
    path: PathBuf,
    key: Option<SigningKey>,
}

impl FileKeyStore {
    /// A store at `path`. Nothing is read or created until the key is asked for; the directory
    /// must exist by then.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            key: None,
        }
    }

    /// The key file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io_error(&self, action: &'static str) -> impl FnOnce(io::Error) -> StoreError + '_ {
        move |source| StoreError::Io {
            path: self.path.clone(),
            action,
            source,
        }
    }

    /// The key in the file, or `None` when there is no file.
    fn read_file(&self) -> Result<Option<SigningKey>, StoreError> {
        atomic_file::remove_leftover(&self.path)
            .map_err(self.io_error("remove the leftover temporary file of"))?;
        let bytes = match fs::read(&self.path) {
            Ok(b) => Zeroizing::new(b),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io_error("read")(e)),
        };
        let corrupt = |source| StoreError::Corrupt {
            path: self.path.clone(),
            source,
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            corrupt(vouch_protocol::Error::invalid(
                "private key",
                "not PEM text (not UTF-8)",
            ))
        })?;
        SigningKey::from_pem(text).map(Some).map_err(corrupt)
    }

    fn write(&self, key: &SigningKey) -> Result<(), StoreError> {
        let der = key.to_pkcs8_der()?;
        let pem = Zeroizing::new(pem::encode(&pem::Pem::new("PRIVATE KEY", der.to_vec())));
        atomic_file::write(&self.path, pem.as_bytes()).map_err(self.io_error("write"))
    }
}

impl KeyStore for FileKeyStore {
    fn load(&mut self) -> Result<Option<&dyn Signer>, StoreError> {
        if self.key.is_none() {
            self.key = self.read_file()?;
        }
        Ok(self.key.as_ref().map(|k| k as &dyn Signer))
    }

    fn load_or_generate(&mut self, pk_type: PkType) -> Result<&dyn Signer, StoreError> {
        let key = match self.key.take() {
            Some(key) => key,
            None => match self.read_file()? {
                Some(key) => key,
                None => {
                    let key = generate(pk_type)?;
                    // Durable before it is used: a key that signed something must survive a
                    // crash.
                    self.write(&key)?;
                    key
                }
            },
        };
        let key = self.key.insert(key);
        check_type(key, pk_type)?;
        Ok(key)
    }
}

/// An attestation key kept in memory: for tests (give it a key made from a seeded random
/// source to get reproducible runs) and for devices whose key lives elsewhere.
#[derive(Debug, Default)]
pub struct MemoryKeyStore {
    key: Option<SigningKey>,
}

impl MemoryKeyStore {
    /// A store holding `key` (or nothing; a key is then generated from the OS on demand).
    pub fn new(key: Option<SigningKey>) -> Self {
        Self { key }
    }
}

impl KeyStore for MemoryKeyStore {
    fn load(&mut self) -> Result<Option<&dyn Signer>, StoreError> {
        Ok(self.key.as_ref().map(|k| k as &dyn Signer))
    }

    fn load_or_generate(&mut self, pk_type: PkType) -> Result<&dyn Signer, StoreError> {
        let key = match self.key.take() {
            Some(key) => key,
            None => generate(pk_type)?,
        };
        let key = self.key.insert(key);
        check_type(key, pk_type)?;
        Ok(key)
    }
}
