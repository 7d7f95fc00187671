//! vouch's device agent: what a device keeps between onboardings, and how it talks to the FDO
//! servers.
//!
//! * [`credential_store`] — the device credential ([`CredentialStore`], [`FileCredentialStore`]).
//! * [`key_store`] — the device attestation key ([`KeyStore`], [`FileKeyStore`]).
//! * [`transport`] — the FDO HTTP binding ([`Transport`], [`HttpTransport`]).
//! * [`onboard`](mod@onboard) — the device's side of DI ([`initialize`]) and of TO1 and TO2
//!   ([`onboard()`]), pumped through a transport and writing the stores.
//! * [`page`] — the device's local HTTPS page ([`serve_page`](page::serve_page)).
//! * [`webtransport`] — the device's WebTransport server for the browser's certificate-hash pin
//!   ([`serve_webtransport`](webtransport::serve_webtransport)) and the signed report of each
//!   new certificate's hash to the owner.
//! * [`renew`](mod@renew) — a fresh TLS key certified by the owner CA, asked for with a request
//!   signed by the attestation key ([`renew::renew`], `vouch-device renew`).
//!
//! The onboarding state machines live, sans-IO, in [`vouch_protocol`]; this crate supplies the
//! stores they read and update and the transport that carries their messages. Both stores write
//! their files so that a crash leaves either the old contents or the new, never a mixture.
pub use vouch_protocol as protocol;

mod atomic_file;
pub mod credential_store;
pub mod key_store;
pub mod onboard;
pub mod page;
pub mod renew;
pub mod transport;
pub mod webtransport;

use std::fmt;
use std::io;
use std::path::PathBuf;

pub use credential_store::{CredentialStore, FileCredentialStore, MemoryCredentialStore};
pub use key_store::{FileKeyStore, KeyStore, MemoryKeyStore};
pub use onboard::{
    DiOptions, OnboardError, OnboardOptions, OnboardOutcome, initialize, onboard, rv_targets,
};
pub use transport::{HttpTransport, Response, Transport, TransportError};

/// The file, beside the credential, where `vouch-device onboard` records the owner it was
/// onboarded by: the base URL the device's later reports (WebTransport certificate hashes,
/// certificate renewal) go to.
pub const OWNER_URL_FILE: &str = "owner-url";

/// Records `url` as the device's owner in `path` (atomically, like the stores).
pub fn write_owner_url(path: &std::path::Path, url: &str) -> io::Result<()> {
    atomic_file::write(path, format!("{url}\n").as_bytes())
}

/// The owner URL recorded in `path` by [`write_owner_url`].
pub fn read_owner_url(path: &std::path::Path) -> io::Result<String> {
    let text = std::fs::read_to_string(path)?;
    let url = text.trim();
    if url.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} names no owner", path.display()),
        ));
    }
    Ok(url.to_owned())
}

/// A credential or key store failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing the store's file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done ("read", "write", "remove the leftover temporary file of").
        action: &'static str,
        /// The cause.
        source: io::Error,
    },
    /// The file exists but does not hold what the store expects.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why it was refused.
        source: vouch_protocol::Error,
    },
    /// A key is present, of another type than the one asked for. The attestation key is never
    /// replaced silently: its public key is in the device's ownership voucher.
    KeyTypeMismatch {
        /// The type asked for.
        wanted: vouch_protocol::types::PkType,
        /// The type of the key that is present.
        present: vouch_protocol::types::PkType,
    },
    /// The operating system's random source failed.
    Random(getrandom::Error),
    /// The protocol crate refused an operation (an unsupported key type, an encoding failure).
    Protocol(vouch_protocol::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io {
                path,
                action,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
            Self::Corrupt { path, source } => {
                write!(f, "{} is not a valid store file: {source}", path.display())
            }
            Self::KeyTypeMismatch { wanted, present } => write!(
                f,
                "a {present} device key is present, but a {wanted} key was asked for"
            ),
            Self::Random(e) => write!(f, "the operating system's random source failed: {e}"),
            Self::Protocol(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Corrupt { source, .. } | Self::Protocol(source) => Some(source),
            Self::Random(e) => Some(e),
            Self::KeyTypeMismatch { .. } => None,
        }
    }
}

impl From<vouch_protocol::Error> for StoreError {
    fn from(e: vouch_protocol::Error) -> Self {
        Self::Protocol(e)
    }
}
