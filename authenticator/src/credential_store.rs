//! Where the device keeps its [`DeviceCredential`] between onboardings.
//!
//! DI creates the credential and TO2 replaces it (after TO2.Done2, never before), so a store
//! must never lose the old credential while writing the new one: a device whose credential is
//! half written cannot onboard again. [`FileCredentialStore`] guarantees that with an atomic
//! replace (temporary file, `fsync`, `rename`, `fsync` of the directory).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use vouch_protocol::cbor::Cbor;
use vouch_protocol::credential::DeviceCredential;
use zeroize::Zeroizing;

use crate::StoreError;
use crate::atomic_file;

/// Keeps the device credential.
pub trait CredentialStore {
    /// The stored credential, or `None` when the device has none yet (before DI).
    fn load(&self) -> Result<Option<DeviceCredential>, StoreError>;

    /// Replaces the stored credential with `credential`. After an error the previous
    /// credential is still the stored one.
    fn store(&mut self, credential: &DeviceCredential) -> Result<(), StoreError>;

    /// Where a file called `file_name` that belongs with the credential goes (the TLS key and
    /// certificate enrolled at TO2): beside the credential file. `None` (the default) for a
    /// store that keeps no file.
    fn companion_path(&self, file_name: &str) -> Option<PathBuf> {
        let _ = file_name;
        None
    }
}

/// A credential in one file, written atomically with mode 0600 (on unix).
///
/// It reads vouch's own format and fdo-rs' `dc.bin` ([`DeviceCredential::from_any`]), and
/// always writes vouch's format: a `dc.bin` is converted the first time a credential is stored.
/// A temporary file left by a crash (`.<name>.tmp` beside the file) is ignored and removed.
/// One process writes a given file at a time.
#[derive(Clone, Debug)]
pub struct FileCredentialStore {
    path: PathBuf,
}

impl FileCredentialStore {
    /// A store at `path`. Nothing is read or created until [`load`](CredentialStore::load) or
    /// [`store`](CredentialStore::store); the directory must exist by then.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The credential file.
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
}

impl CredentialStore for FileCredentialStore {
    fn load(&self) -> Result<Option<DeviceCredential>, StoreError> {
        atomic_file::remove_leftover(&self.path)
            .map_err(self.io_error("remove the leftover temporary file of"))?;
        let bytes = match fs::read(&self.path) {
            Ok(b) => Zeroizing::new(b),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io_error("read")(e)),
        };
        DeviceCredential::from_any(&bytes)
            .map(Some)
            .map_err(|source| StoreError::Corrupt {
                path: self.path.clone(),
                source,
            })
    }

    fn store(&mut self, credential: &DeviceCredential) -> Result<(), StoreError> {
        let bytes = Zeroizing::new(credential.to_cbor());
        atomic_file::write(&self.path, &bytes).map_err(self.io_error("write"))
    }

    fn companion_path(&self, file_name: &str) -> Option<PathBuf> {
        Some(self.path.with_file_name(file_name))
    }
}

/// A credential kept in memory, for tests and for devices that persist it elsewhere.
#[derive(Clone, Debug, Default)]
pub struct MemoryCredentialStore {
    credential: Option<DeviceCredential>,
}

impl MemoryCredentialStore {
    /// A store holding `credential` (or nothing).
    pub fn new(credential: Option<DeviceCredential>) -> Self {
        Self { credential }
    }
}

impl CredentialStore for MemoryCredentialStore {
    fn load(&self) -> Result<Option<DeviceCredential>, StoreError> {
        Ok(self.credential.clone())
    }

    fn store(&mut self, credential: &DeviceCredential) -> Result<(), StoreError> {
        self.credential = Some(credential.clone());
        Ok(())
    }
}
