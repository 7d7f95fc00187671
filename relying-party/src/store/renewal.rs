//! Certificate renewal in the store: a device's pin moves to a renewed key (migration
//! `0005_renewal.sql`).
//!
//! The `pins` row of the device keeps `renewed_issued_at`, the `issued_at` of the last renewal
//! request the owner accepted. [`Store::renew_pin`](super::Store::renew_pin) replaces the key
//! and certificate only while the row still holds the certificate the caller read and only for
//! a later request, in one statement, so a concurrent or replayed renewal changes nothing. The
//! SQL is here rather than in `sql.rs` so that this concept reads in one place; it follows the
//! same rules.

/// A renewal to record: the device's new TLS key and the certificate issued for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinRenewal {
    /// SHA-256 of the new key's DER SubjectPublicKeyInfo.
    pub spki_sha256: [u8; 32],
    /// The certificate the owner CA issued for the new key, DER.
    pub cert_der: Vec<u8>,
    /// The renewal request's `issued_at` (unix seconds): later renewals must be later still.
    pub issued_at: i64,
}

/// Compare-and-set on the certificate the caller read ($6) and on the request's time ($4):
/// one statement, hence atomic. Names, addresses, the WebTransport columns and `created_at`
/// stay as they are.
pub(super) const RENEW: &str = "UPDATE pins SET spki_sha256 = $2, cert = $3, renewed_issued_at = $4, \
     updated_at = $5 \
     WHERE guid = $1 AND cert = $6 AND (renewed_issued_at IS NULL OR renewed_issued_at < $4)";

pub(super) const PIN_EXISTS: &str = "SELECT 1 FROM pins WHERE guid = $1";

pub(super) const LAST: &str = "SELECT renewed_issued_at FROM pins WHERE guid = $1";
