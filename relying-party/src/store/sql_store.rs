//! The [`Store`] implementation over SQL, written once and compiled for each backend: the
//! parent module names the backend's database type `Db` and its store type `This` (a struct
//! with a `pool: sqlx::Pool<Db>` field), and includes this file as a submodule. The SQL is
//! plain text both SQLite and PostgreSQL accept (`sql.rs`, `webtransport.rs`, `renewal.rs`), so
//! the two backends run the same statements in the same transactions.
//!
//! A generic implementation over `sqlx::Database` would need a trait bound for every type it
//! binds or reads and for every executor; compiling the same concrete code twice keeps it plain.

use async_trait::async_trait;
use sqlx::Row;
use vouch_protocol::types::Guid;
use zeroize::Zeroizing;

use super::{Db, This};
use crate::store::{
    DeviceEndpoint, Entity, OnExisting, OwnerKey, OwnerKeyInfo, Pin, PinRecord, PinRenewal,
    Registration, Session, Store, StoreError, VoucherBytes, VoucherSummary, WebTransportPin,
    WebTransportUrl, key_fingerprint, renewal, sql, token_hash, webtransport,
};

/// A row of this backend.
type DbRow = <Db as sqlx::Database>::Row;

/// A stored value that does not have the shape the schema promises.
fn corrupt(what: String) -> StoreError {
    StoreError::Backend(sqlx::Error::Decode(what.into()))
}

fn guid_from_column(row: &DbRow, column: &str) -> Result<Guid, StoreError> {
    let bytes: Vec<u8> = row.try_get(column)?;
    <[u8; 16]>::try_from(bytes.as_slice())
        .map(Guid)
        .map_err(|_| corrupt(format!("{column}: {} bytes, expected 16", bytes.len())))
}

fn sha256_from_column(row: &DbRow, column: &str) -> Result<[u8; 32], StoreError> {
    let bytes: Vec<u8> = row.try_get(column)?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| corrupt(format!("{column}: {} bytes, expected 32", bytes.len())))
}

fn count_to_db(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Backend(sqlx::Error::Encode("count over i64".into())))
}

fn count_from_db(row: &DbRow, column: &str) -> Result<u64, StoreError> {
    let n: i64 = row.try_get(column)?;
    u64::try_from(n).map_err(|_| corrupt(format!("{column}: negative ({n})")))
}

/// A list kept in one TEXT column: its items joined with commas ("" for none). An item that
/// is empty or holds a comma could not be read back, so it is refused.
fn join_list<T: ToString>(items: &[T], column: &str) -> Result<String, StoreError> {
    let items: Vec<String> = items.iter().map(ToString::to_string).collect();
    if let Some(bad) = items.iter().find(|i| i.is_empty() || i.contains(',')) {
        return Err(StoreError::Backend(sqlx::Error::Encode(
            format!("{column}: {bad:?} cannot be stored in a comma-separated list").into(),
        )));
    }
    Ok(items.join(","))
}

fn split_list<T: std::str::FromStr>(row: &DbRow, column: &str) -> Result<Vec<T>, StoreError>
where
    T::Err: std::fmt::Display,
{
    let text: String = row.try_get(column)?;
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|item| {
            item.parse()
                .map_err(|e| corrupt(format!("{column}: {item:?}: {e}")))
        })
        .collect()
}

fn pin_from_row(row: &DbRow) -> Result<PinRecord, StoreError> {
    let webtransport: Option<Vec<u8>> = row.try_get("webtransport_sha256")?;
    let webtransport_sha256 = webtransport
        .map(|b| {
            <[u8; 32]>::try_from(b.as_slice()).map_err(|_| {
                corrupt(format!(
                    "webtransport_sha256: {} bytes, expected 32",
                    b.len()
                ))
            })
        })
        .transpose()?;
    Ok(PinRecord {
        pin: Pin {
            guid: guid_from_column(row, "guid")?,
            spki_sha256: sha256_from_column(row, "spki_sha256")?,
            cert_der: row.try_get("cert")?,
            dns_names: split_list(row, "dns_names")?,
            ips: split_list(row, "ips")?,
            webtransport_sha256,
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// `NotFound` unless the statement changed a row.
fn changed_one(rows_affected: u64, what: Entity) -> Result<(), StoreError> {
    if rows_affected == 0 {
        Err(StoreError::NotFound(what))
    } else {
        Ok(())
    }
}

#[async_trait]
impl Store for This {
    async fn insert_voucher(
        &self,
        voucher: &VoucherBytes,
        on_existing: OnExisting,
        now: i64,
    ) -> Result<(), StoreError> {
        let statement = match on_existing {
            OnExisting::Refuse => sql::INSERT_VOUCHER,
            OnExisting::Replace => sql::UPSERT_VOUCHER,
        };
        let done = sqlx::query(statement)
            .bind(voucher.guid().as_bytes().as_slice())
            .bind(voucher.bytes())
            .bind(count_to_db(voucher.entry_count())?)
            .bind(voucher.device_info())
            .bind(voucher.owner_key_sha256().as_slice())
            .bind(now)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Duplicate(Entity::Voucher));
        }
        Ok(())
    }

    async fn get_voucher(&self, guid: Guid) -> Result<Vec<u8>, StoreError> {
        let row = sqlx::query(sql::SELECT_VOUCHER)
            .bind(guid.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound(Entity::Voucher))?;
        Ok(row.try_get("voucher")?)
    }

    async fn list_vouchers(&self) -> Result<Vec<VoucherSummary>, StoreError> {
        let rows = sqlx::query(sql::LIST_VOUCHERS)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(VoucherSummary {
                    guid: guid_from_column(row, "guid")?,
                    entry_count: count_from_db(row, "entry_count")?,
                    device_info: row.try_get("device_info")?,
                    owner_key_sha256: sha256_from_column(row, "owner_key_sha256")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            })
            .collect()
    }

    async fn delete_voucher(&self, guid: Guid) -> Result<(), StoreError> {
        let done = sqlx::query(sql::DELETE_VOUCHER)
            .bind(guid.as_bytes().as_slice())
            .execute(&self.pool)
            .await?;
        changed_one(done.rows_affected(), Entity::Voucher)
    }

    async fn replace_voucher(
        &self,
        guid: Guid,
        expected_current: &[u8],
        new: &VoucherBytes,
        now: i64,
    ) -> Result<(), StoreError> {
        if new.guid() != guid {
            return Err(StoreError::GuidMismatch {
                expected: guid,
                found: new.guid(),
            });
        }
        // The UPDATE comes first, so the transaction takes the write lock at once (a deferred
        // SQLite transaction that read first could not upgrade under a concurrent writer).
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(sql::REPLACE_VOUCHER)
            .bind(guid.as_bytes().as_slice())
            .bind(new.bytes())
            .bind(count_to_db(new.entry_count())?)
            .bind(new.device_info())
            .bind(new.owner_key_sha256().as_slice())
            .bind(now)
            .bind(expected_current)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            let exists = sqlx::query(sql::VOUCHER_EXISTS)
                .bind(guid.as_bytes().as_slice())
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            tx.rollback().await?;
            return Err(if exists {
                StoreError::Conflict(Entity::Voucher)
            } else {
                StoreError::NotFound(Entity::Voucher)
            });
        }
        tx.commit().await?;
        Ok(())
    }

    async fn swap_voucher(
        &self,
        old_guid: Guid,
        expected_current: &[u8],
        new: &VoucherBytes,
        now: i64,
    ) -> Result<(), StoreError> {
        if new.guid() == old_guid {
            return self
                .replace_voucher(old_guid, expected_current, new, now)
                .await;
        }
        // The DELETE comes first, so the transaction takes the write lock at once.
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query(sql::DELETE_VOUCHER_IF_CURRENT)
            .bind(old_guid.as_bytes().as_slice())
            .bind(expected_current)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            let exists = sqlx::query(sql::VOUCHER_EXISTS)
                .bind(old_guid.as_bytes().as_slice())
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            tx.rollback().await?;
            return Err(if exists {
                StoreError::Conflict(Entity::Voucher)
            } else {
                StoreError::NotFound(Entity::Voucher)
            });
        }
        let inserted = sqlx::query(sql::INSERT_VOUCHER)
            .bind(new.guid().as_bytes().as_slice())
            .bind(new.bytes())
            .bind(count_to_db(new.entry_count())?)
            .bind(new.device_info())
            .bind(new.owner_key_sha256().as_slice())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if inserted.rows_affected() == 0 {
            tx.rollback().await?;
            return Err(StoreError::Conflict(Entity::Voucher));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn put_owner_key(&self, key: &OwnerKey, now: i64) -> Result<(), StoreError> {
        let done = sqlx::query(sql::INSERT_OWNER_KEY)
            .bind(key.name.as_str())
            .bind(key.private_key_pkcs8.as_slice())
            .bind(key.public_key.as_slice())
            .bind(key_fingerprint(&key.public_key).as_slice())
            .bind(now)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Duplicate(Entity::OwnerKey));
        }
        Ok(())
    }

    async fn get_owner_key(&self, name: &str) -> Result<OwnerKey, StoreError> {
        let row = sqlx::query(sql::SELECT_OWNER_KEY)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound(Entity::OwnerKey))?;
        Ok(OwnerKey {
            name: name.to_owned(),
            private_key_pkcs8: Zeroizing::new(row.try_get("private_key_pkcs8")?),
            public_key: row.try_get("public_key")?,
        })
    }

    async fn list_owner_keys(&self) -> Result<Vec<OwnerKeyInfo>, StoreError> {
        let rows = sqlx::query(sql::LIST_OWNER_KEYS)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(OwnerKeyInfo {
                    name: row.try_get("name")?,
                    public_key: row.try_get("public_key")?,
                    public_key_sha256: sha256_from_column(row, "public_key_sha256")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn upsert_registration(
        &self,
        registration: &Registration,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(sql::UPSERT_REGISTRATION)
            .bind(registration.guid.as_bytes().as_slice())
            .bind(registration.to1d.as_slice())
            .bind(registration.voucher.as_slice())
            .bind(registration.expires_at)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn get_registration(&self, guid: Guid, now: i64) -> Result<Registration, StoreError> {
        let row = sqlx::query(sql::SELECT_LIVE_REGISTRATION)
            .bind(guid.as_bytes().as_slice())
            .bind(now)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound(Entity::Registration))?;
        Ok(Registration {
            guid,
            to1d: row.try_get("to1d")?,
            voucher: row.try_get("voucher")?,
            expires_at: row.try_get("expires_at")?,
        })
    }

    async fn purge_expired_registrations(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(sql::PURGE_REGISTRATIONS)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn create_session(
        &self,
        token: &str,
        protocol: &str,
        state: &[u8],
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(sql::INSERT_SESSION)
            .bind(token_hash(token).as_slice())
            .bind(protocol)
            .bind(state)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Duplicate(Entity::Session));
        }
        Ok(())
    }

    async fn load_session(&self, token: &str, now: i64) -> Result<Session, StoreError> {
        let row = sqlx::query(sql::SELECT_LIVE_SESSION)
            .bind(token_hash(token).as_slice())
            .bind(now)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound(Entity::Session))?;
        Ok(Session {
            protocol: row.try_get("protocol")?,
            state: row.try_get("state")?,
            version: row.try_get("version")?,
            expires_at: row.try_get("expires_at")?,
        })
    }

    async fn update_session(
        &self,
        token: &str,
        expected_version: i64,
        state: &[u8],
        expires_at: i64,
    ) -> Result<i64, StoreError> {
        let new_version = expected_version
            .checked_add(1)
            .ok_or(StoreError::Conflict(Entity::Session))?;
        let key = token_hash(token);
        // Write first: see `replace_voucher`.
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(sql::UPDATE_SESSION)
            .bind(key.as_slice())
            .bind(expected_version)
            .bind(state)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            let exists = sqlx::query(sql::SESSION_EXISTS)
                .bind(key.as_slice())
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            tx.rollback().await?;
            return Err(if exists {
                StoreError::Conflict(Entity::Session)
            } else {
                StoreError::NotFound(Entity::Session)
            });
        }
        tx.commit().await?;
        Ok(new_version)
    }

    async fn delete_session(&self, token: &str) -> Result<(), StoreError> {
        let done = sqlx::query(sql::DELETE_SESSION)
            .bind(token_hash(token).as_slice())
            .execute(&self.pool)
            .await?;
        changed_one(done.rows_affected(), Entity::Session)
    }

    async fn purge_expired_sessions(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(sql::PURGE_SESSIONS)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn set_setting(&self, name: &str, value: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(sql::UPSERT_SETTING)
            .bind(name)
            .bind(value)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn insert_settings(&self, settings: &[(&str, &str)], now: i64) -> Result<(), StoreError> {
        // Inserts first, so a SQLite transaction takes the write lock at once; on PostgreSQL a
        // second inserter of a name waits for the first one's commit and then inserts nothing.
        let mut tx = self.pool.begin().await?;
        for (name, value) in settings {
            let done = sqlx::query(sql::INSERT_SETTING)
                .bind(*name)
                .bind(*value)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                tx.rollback().await?;
                return Err(StoreError::Duplicate(Entity::Setting));
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn get_setting(&self, name: &str) -> Result<String, StoreError> {
        let row = sqlx::query(sql::SELECT_SETTING)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound(Entity::Setting))?;
        Ok(row.try_get("value")?)
    }

    async fn delete_setting(&self, name: &str) -> Result<(), StoreError> {
        let done = sqlx::query(sql::DELETE_SETTING)
            .bind(name)
            .execute(&self.pool)
            .await?;
        changed_one(done.rows_affected(), Entity::Setting)
    }

    async fn upsert_pin(&self, pin: &Pin, now: i64) -> Result<(), StoreError> {
        sqlx::query(sql::UPSERT_PIN)
            .bind(pin.guid.as_bytes().as_slice())
            .bind(pin.spki_sha256.as_slice())
            .bind(pin.cert_der.as_slice())
            .bind(join_list(&pin.dns_names, "dns_names")?)
            .bind(join_list(&pin.ips, "ips")?)
            .bind(pin.webtransport_sha256.as_ref().map(|h| h.as_slice()))
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn get_pin(&self, guid: Guid) -> Result<PinRecord, StoreError> {
        let row = sqlx::query(sql::SELECT_PIN)
            .bind(guid.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound(Entity::Pin))?;
        pin_from_row(&row)
    }

    async fn list_pins(&self) -> Result<Vec<PinRecord>, StoreError> {
        let rows = sqlx::query(sql::LIST_PINS).fetch_all(&self.pool).await?;
        rows.iter().map(pin_from_row).collect()
    }

    async fn delete_pin(&self, guid: Guid) -> Result<(), StoreError> {
        let done = sqlx::query(sql::DELETE_PIN)
            .bind(guid.as_bytes().as_slice())
            .execute(&self.pool)
            .await?;
        changed_one(done.rows_affected(), Entity::Pin)
    }

    async fn renew_pin(
        &self,
        guid: Guid,
        expected_cert: &[u8],
        renewal: &PinRenewal,
        now: i64,
    ) -> Result<(), StoreError> {
        renew_pin(&self.pool, guid, expected_cert, renewal, now).await
    }

    async fn last_renewal(&self, guid: Guid) -> Result<Option<i64>, StoreError> {
        last_renewal(&self.pool, guid).await
    }

    async fn set_device_endpoint(
        &self,
        guid: Guid,
        endpoint: &DeviceEndpoint,
        now: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(sql::UPSERT_DEVICE_ENDPOINT)
            .bind(guid.as_bytes().as_slice())
            .bind(endpoint.as_origin())
            .bind(now)
            .execute(&self.pool)
            .await?;
        // No row: the device has no pin.
        changed_one(done.rows_affected(), Entity::Pin)
    }

    async fn get_device_endpoint(&self, guid: Guid) -> Result<DeviceEndpoint, StoreError> {
        let row = sqlx::query(sql::SELECT_DEVICE_ENDPOINT)
            .bind(guid.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound(Entity::DeviceEndpoint))?;
        let url: String = row.try_get("url")?;
        DeviceEndpoint::parse(&url).map_err(|e| corrupt(format!("device_endpoints.url: {e}")))
    }

    async fn advance_webtransport_pin(
        &self,
        guid: Guid,
        sha256: &[u8; 32],
        not_after: i64,
    ) -> Result<(), StoreError> {
        advance_webtransport_pin(&self.pool, guid, sha256, not_after).await
    }

    async fn set_webtransport_url(
        &self,
        guid: Guid,
        url: &WebTransportUrl,
        now: i64,
    ) -> Result<(), StoreError> {
        set_webtransport_url(&self.pool, guid, url, now).await
    }

    async fn get_webtransport_pin(&self, guid: Guid) -> Result<WebTransportPin, StoreError> {
        get_webtransport_pin(&self.pool, guid).await
    }

    async fn list_webtransport_pins(&self) -> Result<Vec<WebTransportPin>, StoreError> {
        list_webtransport_pins(&self.pool).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(sql::PING).execute(&self.pool).await?;
        Ok(())
    }
}

// --- WebTransport pins (webtransport.rs) ---

async fn advance_webtransport_pin(
    pool: &sqlx::Pool<Db>,
    guid: Guid,
    sha256: &[u8; 32],
    not_after: i64,
) -> Result<(), StoreError> {
    // The UPDATE comes first, so the transaction takes the write lock at once; the follow-up
    // read only tells a missing pin from a stale report.
    let mut tx = pool.begin().await?;
    let done = sqlx::query(webtransport::ADVANCE)
        .bind(guid.as_bytes().as_slice())
        .bind(sha256.as_slice())
        .bind(not_after)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        let exists = sqlx::query(webtransport::PIN_EXISTS)
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

async fn set_webtransport_url(
    pool: &sqlx::Pool<Db>,
    guid: Guid,
    url: &WebTransportUrl,
    now: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query(webtransport::UPSERT_URL)
        .bind(guid.as_bytes().as_slice())
        .bind(url.as_str())
        .bind(now)
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        // No row: the device has no pin.
        return Err(StoreError::NotFound(Entity::Pin));
    }
    Ok(())
}

async fn get_webtransport_pin(
    pool: &sqlx::Pool<Db>,
    guid: Guid,
) -> Result<WebTransportPin, StoreError> {
    let row = sqlx::query(webtransport::SELECT)
        .bind(guid.as_bytes().as_slice())
        .fetch_optional(pool)
        .await?
        .ok_or(StoreError::NotFound(Entity::Pin))?;
    webtransport_pin_from_row(&row)
}

async fn list_webtransport_pins(pool: &sqlx::Pool<Db>) -> Result<Vec<WebTransportPin>, StoreError> {
    let rows = sqlx::query(webtransport::LIST).fetch_all(pool).await?;
    rows.iter().map(webtransport_pin_from_row).collect()
}

fn webtransport_pin_from_row(row: &DbRow) -> Result<WebTransportPin, StoreError> {
    let guid: Vec<u8> = row.try_get("guid")?;
    let guid = <[u8; 16]>::try_from(guid.as_slice())
        .map(Guid)
        .map_err(|_| corrupt(format!("pins.guid: {} bytes, expected 16", guid.len())))?;
    let sha256: Option<Vec<u8>> = row.try_get("webtransport_sha256")?;
    let sha256 = sha256
        .map(|b| {
            <[u8; 32]>::try_from(b.as_slice()).map_err(|_| {
                corrupt(format!(
                    "pins.webtransport_sha256: {} bytes, expected 32",
                    b.len()
                ))
            })
        })
        .transpose()?;
    let url: Option<String> = row.try_get("url")?;
    let url = url
        .map(|u| {
            WebTransportUrl::parse(&u)
                .map_err(|e| corrupt(format!("webtransport_endpoints.url: {e}")))
        })
        .transpose()?;
    Ok(WebTransportPin {
        guid,
        sha256,
        not_after: row.try_get("webtransport_not_after")?,
        url,
    })
}

// --- renewal (renewal.rs) ---

async fn renew_pin(
    pool: &sqlx::Pool<Db>,
    guid: Guid,
    expected_cert: &[u8],
    renewal: &PinRenewal,
    now: i64,
) -> Result<(), StoreError> {
    // The UPDATE comes first, so the transaction takes the write lock at once; the follow-up
    // read only tells a missing pin from a lost race or a replay.
    let mut tx = pool.begin().await?;
    let done = sqlx::query(renewal::RENEW)
        .bind(guid.as_bytes().as_slice())
        .bind(renewal.spki_sha256.as_slice())
        .bind(renewal.cert_der.as_slice())
        .bind(renewal.issued_at)
        .bind(now)
        .bind(expected_cert)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        let exists = sqlx::query(renewal::PIN_EXISTS)
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

async fn last_renewal(pool: &sqlx::Pool<Db>, guid: Guid) -> Result<Option<i64>, StoreError> {
    let row = sqlx::query(renewal::LAST)
        .bind(guid.as_bytes().as_slice())
        .fetch_optional(pool)
        .await?
        .ok_or(StoreError::NotFound(Entity::Pin))?;
    Ok(row.try_get("renewed_issued_at")?)
}
