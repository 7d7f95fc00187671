//! The store's SQL, written once for SQLite and PostgreSQL.
//!
//! Parameters are `$1`, `$2`, … (PostgreSQL's form, which sqlx also binds by position on
//! SQLite); upserts use `INSERT … ON CONFLICT`, which both accept. Every state change is a
//! single statement, hence atomic, except the compare-and-swap updates, whose follow-up read
//! (was the row missing, or did it change?) runs in the same transaction as the update.

// --- vouchers ---

pub(super) const INSERT_VOUCHER: &str = "INSERT INTO vouchers \
     (guid, voucher, entry_count, device_info, owner_key_sha256, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $6) \
     ON CONFLICT (guid) DO NOTHING";

pub(super) const UPSERT_VOUCHER: &str = "INSERT INTO vouchers \
     (guid, voucher, entry_count, device_info, owner_key_sha256, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $6) \
     ON CONFLICT (guid) DO UPDATE SET voucher = excluded.voucher, \
     entry_count = excluded.entry_count, device_info = excluded.device_info, \
     owner_key_sha256 = excluded.owner_key_sha256, updated_at = excluded.updated_at";

pub(super) const SELECT_VOUCHER: &str = "SELECT voucher FROM vouchers WHERE guid = $1";

pub(super) const LIST_VOUCHERS: &str = "SELECT guid, entry_count, device_info, \
     owner_key_sha256, created_at, updated_at FROM vouchers ORDER BY guid";

pub(super) const DELETE_VOUCHER: &str = "DELETE FROM vouchers WHERE guid = $1";

/// The first half of a swap to a new GUID: deletes the row only while it still holds the
/// expected bytes ($2).
pub(super) const DELETE_VOUCHER_IF_CURRENT: &str =
    "DELETE FROM vouchers WHERE guid = $1 AND voucher = $2";

/// Compare-and-swap: changes the row only while it still holds the expected bytes ($7).
pub(super) const REPLACE_VOUCHER: &str = "UPDATE vouchers SET voucher = $2, entry_count = $3, \
     device_info = $4, owner_key_sha256 = $5, updated_at = $6 \
     WHERE guid = $1 AND voucher = $7";

pub(super) const VOUCHER_EXISTS: &str = "SELECT 1 FROM vouchers WHERE guid = $1";

// --- owner keys ---

pub(super) const INSERT_OWNER_KEY: &str = "INSERT INTO owner_keys \
     (name, private_key_pkcs8, public_key, public_key_sha256, created_at) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING";

pub(super) const SELECT_OWNER_KEY: &str =
    "SELECT private_key_pkcs8, public_key FROM owner_keys WHERE name = $1";

pub(super) const LIST_OWNER_KEYS: &str = "SELECT name, public_key, public_key_sha256, created_at \
     FROM owner_keys ORDER BY name";

// --- rendezvous registrations ---

pub(super) const UPSERT_REGISTRATION: &str = "INSERT INTO rv_registrations \
     (guid, to1d, voucher, expires_at, updated_at) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (guid) DO UPDATE SET to1d = excluded.to1d, voucher = excluded.voucher, \
     expires_at = excluded.expires_at, updated_at = excluded.updated_at";

pub(super) const SELECT_LIVE_REGISTRATION: &str = "SELECT to1d, voucher, expires_at \
     FROM rv_registrations WHERE guid = $1 AND expires_at > $2";

pub(super) const PURGE_REGISTRATIONS: &str = "DELETE FROM rv_registrations WHERE expires_at <= $1";

// --- sessions ---

pub(super) const INSERT_SESSION: &str = "INSERT INTO sessions \
     (token_sha256, protocol, state, version, expires_at) VALUES ($1, $2, $3, 0, $4) \
     ON CONFLICT (token_sha256) DO NOTHING";

pub(super) const SELECT_LIVE_SESSION: &str = "SELECT protocol, state, version, expires_at \
     FROM sessions WHERE token_sha256 = $1 AND expires_at > $2";

/// Compare-and-swap on the version ($2).
pub(super) const UPDATE_SESSION: &str = "UPDATE sessions \
     SET state = $3, version = version + 1, expires_at = $4 \
     WHERE token_sha256 = $1 AND version = $2";

pub(super) const SESSION_EXISTS: &str = "SELECT 1 FROM sessions WHERE token_sha256 = $1";

pub(super) const DELETE_SESSION: &str = "DELETE FROM sessions WHERE token_sha256 = $1";

pub(super) const PURGE_SESSIONS: &str = "DELETE FROM sessions WHERE expires_at <= $1";

// --- settings ---

pub(super) const UPSERT_SETTING: &str = "INSERT INTO settings (name, value, updated_at) \
     VALUES ($1, $2, $3) \
     ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";

pub(super) const INSERT_SETTING: &str = "INSERT INTO settings (name, value, updated_at) \
     VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";

pub(super) const SELECT_SETTING: &str = "SELECT value FROM settings WHERE name = $1";

pub(super) const DELETE_SETTING: &str = "DELETE FROM settings WHERE name = $1";

// --- health ---

pub(super) const PING: &str = "SELECT 1";

// --- pins ---

/// Inserts or replaces a device's pin; `created_at` stays that of the first pin.
pub(super) const UPSERT_PIN: &str = "INSERT INTO pins \
     (guid, spki_sha256, cert, dns_names, ips, webtransport_sha256, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
     ON CONFLICT (guid) DO UPDATE SET spki_sha256 = excluded.spki_sha256, \
     cert = excluded.cert, dns_names = excluded.dns_names, ips = excluded.ips, \
     webtransport_sha256 = excluded.webtransport_sha256, updated_at = excluded.updated_at";

pub(super) const SELECT_PIN: &str = "SELECT guid, spki_sha256, cert, dns_names, ips, \
     webtransport_sha256, created_at, updated_at FROM pins WHERE guid = $1";

pub(super) const LIST_PINS: &str = "SELECT guid, spki_sha256, cert, dns_names, ips, \
     webtransport_sha256, created_at, updated_at FROM pins ORDER BY guid";

pub(super) const DELETE_PIN: &str = "DELETE FROM pins WHERE guid = $1";

// --- device endpoints ---

/// Inserts or replaces a device's endpoint, only when the device has a pin (no row otherwise).
/// The SELECT has a WHERE clause, which SQLite needs to read `ON CONFLICT` as an upsert.
pub(super) const UPSERT_DEVICE_ENDPOINT: &str = "INSERT INTO device_endpoints \
     (guid, url, updated_at) SELECT guid, $2, $3 FROM pins WHERE guid = $1 \
     ON CONFLICT (guid) DO UPDATE SET url = excluded.url, updated_at = excluded.updated_at";

pub(super) const SELECT_DEVICE_ENDPOINT: &str = "SELECT url FROM device_endpoints WHERE guid = $1";
