//! Certificate renewal in the store: a device's pin moves to a renewed key (migration
//! `0005_renewal.sql`).
//!
//! The `pins` row of the device keeps `renewed_issued_at`, the `issued_at` of the last renewal
//! request the owner accepted. [`Store::renew_pin`](super::Store::renew_pin) replaces the key
//! and certificate only while the row still holds the certificate the caller read and only for
//! a later request, in one statement, so a concurrent or replayed renewal changes nothing. The
//! SQL is here rather than in `sql.rs` so that this concept reads in one place; it follows the
//! same rules.

use sqlx::Row;
use sqlx::sqlite::SqlitePool;
use vouch_protocol::types::Guid;

use super::{Entity, StoreError};

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
const RENEW: &str = "UPDATE pins SET spki_sha256 = $2, cert = $3, renewed_issued_at = $4, \
     updated_at = $5 \
     WHERE guid = $1 AND cert = $6 AND (renewed_issued_at IS NULL OR renewed_issued_at < $4)";

const PIN_EXISTS: &str = "SELECT 1 FROM pins WHERE guid = $1";

const LAST: &str = "SELECT renewed_issued_at FROM pins WHERE guid = $1";

pub(super) async fn renew(
    pool: &SqlitePool,
    guid: Guid,
    expected_cert: &[u8],
    renewal: &PinRenewal,
    now: i64,
) -> Result<(), StoreError> {
    // The UPDATE comes first, so the transaction takes the write lock at once; the follow-up
    // read only tells a missing pin from a lost race or a replay.
    let mut tx = pool.begin().await?;
    let done = sqlx::query(RENEW)
        .bind(guid.as_bytes().as_slice())
        .bind(renewal.spki_sha256.as_slice())
        .bind(renewal.cert_der.as_slice())
        .bind(renewal.issued_at)
        .bind(now)
        .bind(expected_cert)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        let exists = sqlx::query(PIN_EXISTS)
            .bind(guid.as_bytes().as_slice())
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        tx.rollback().await?;
        return Err(if exists {
            StoreError::Conflict(Entity::Pin)
        } else {
            StoreError::NotFound(Entity::Pin)
        });
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn last(pool: &SqlitePool, guid: Guid) -> Result<Option<i64>, StoreError> {
    let row = sqlx::query(LAST)
        .bind(guid.as_bytes().as_slice())
        .fetch_optional(pool)
        .await?
        .ok_or(StoreError::NotFound(Entity::Pin))?;
    Ok(row.try_get("renewed_issued_at")?)
}
