//! The relying party's storage: vouchers, owner keys, rendezvous registrations, protocol sessions,
//! server settings and the devices' TLS pins, behind one object-safe [`Store`] trait.
//!
//! Handlers hold an `Arc<dyn Store>`. [`SqliteStore`] is the default backend (one file in the
//! data directory); [`PgStore`] keeps the same data in PostgreSQL, with the same migrations
//! (`relying-party/migrations/`), the same SQL (`store/sql.rs`) and the same code
//! (`store/sql_store.rs`), so several `vouch-rp` instances can serve one deployment. That is
//! why every protocol session lives here and never in process memory. [`open_store`] picks the
//! backend from a `--database` argument.
//!
//! Rules every backend keeps:
//!
//! - **One transaction per state change.** A method either changes everything it names or nothing.
//! - **No clock.** Times are unix seconds passed in by the caller (`now`, `expires_at`), so tests
//!   control time. A record with `expires_at` is live while `now < expires_at`: at
//!   `now == expires_at` it has expired.
//! - **Original bytes.** Vouchers are stored exactly as given (CBOR), never re-encoded.
//! - **No bearer tokens at rest.** A session is keyed by the SHA-256 of its token.
//! - **Compare-and-swap, not last-writer-wins,** for vouchers ([`Store::replace_voucher`]) and
//!   sessions ([`Store::update_session`]): a writer that lost a race gets
//!   [`StoreError::Conflict`] and the winner's data stays.
//!
//! The store does not verify vouchers: it indexes what it is given. Verify before storing.

use core::fmt;
use std::error::Error as StdError;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use vouch_protocol::cbor::Cbor;
use vouch_protocol::types::Guid;
use vouch_protocol::voucher::OwnershipVoucher;
use zeroize::Zeroizing;

mod postgres;
mod renewal;
mod sql;
mod sqlite;
mod webtransport;

pub use postgres::PgStore;
pub use renewal::PinRenewal;
pub use sqlite::SqliteStore;
pub use webtransport::{WebTransportPin, WebTransportUrl};

#[cfg(test)]
mod tests;

/// The migrations in `relying-party/migrations/`, embedded at build time; both backends run
/// them.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Opens the store a `--database` argument names:
///
/// - `postgres://…` or `postgresql://…`: a PostgreSQL database ([`PgStore::connect`]);
/// - `sqlite://FILE` (or `sqlite:FILE`): that SQLite database file ([`SqliteStore::open`]);
/// - anything else: a data directory holding the SQLite database ([`SqliteStore::open_dir`]).
pub async fn open_store(location: impl AsRef<Path>) -> Result<Arc<dyn Store>, StoreError> {
    let location = location.as_ref();
    let text = location.to_str().unwrap_or_default();
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        return Ok(Arc::new(PgStore::connect(text).await?));
    }
    if let Some(file) = text.strip_prefix("sqlite:") {
        let file = file.strip_prefix("//").unwrap_or(file);
        return Ok(Arc::new(SqliteStore::open(file).await?));
    }
    Ok(Arc::new(SqliteStore::open_dir(location).await?))
}

/// A `--database` argument for messages: a PostgreSQL URL without its password.
pub fn describe_location(location: impl AsRef<Path>) -> String {
    let location = location.as_ref();
    match location.to_str().and_then(|t| reqwest::Url::parse(t).ok()) {
        Some(mut url) if matches!(url.scheme(), "postgres" | "postgresql") => {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            url.to_string()
        }
        _ => location.display().to_string(),
    }
}

/// Storage for the relying party's roles.
///
/// Object safe through `#[async_trait]`: every method returns a boxed `Send` future, so an
/// `Arc<dyn Store>` can sit in axum state and be called from any handler. Times are unix seconds;
/// see the [module documentation](self) for the rules every implementation keeps.
#[async_trait]
pub trait Store: Send + Sync {
    // --- Vouchers -------------------------------------------------------------------------------

    /// Stores a voucher under its GUID.
    ///
    /// With [`OnExisting::Refuse`] a voucher already stored under that GUID is left untouched and
    /// the call fails with [`StoreError::Duplicate`]; with [`OnExisting::Replace`] it is
    /// overwritten unconditionally (use [`Store::replace_voucher`] to replace only a known
    /// version).
    async fn insert_voucher(
        &self,
        voucher: &VoucherBytes,
        on_existing: OnExisting,
        now: i64,
    ) -> Result<(), StoreError>;

    /// The stored voucher bytes, exactly as they were inserted.
    async fn get_voucher(&self, guid: Guid) -> Result<Vec<u8>, StoreError>;

    /// A summary of every stored voucher, ordered by GUID.
    async fn list_vouchers(&self) -> Result<Vec<VoucherSummary>, StoreError>;

    /// Deletes the voucher stored under `guid`.
    async fn delete_voucher(&self, guid: Guid) -> Result<(), StoreError>;

    /// Replaces the voucher stored under `old_guid` with `new`, stored under `new`'s own GUID,
    /// only if the stored bytes are still `expected_current`, in one transaction: afterwards
    /// exactly one of the two is stored, whatever happens to the process (the owner's TO2.Done
    /// when the device gets a new GUID). With the same GUID it is [`Store::replace_voucher`].
    ///
    /// Fails with [`StoreError::NotFound`] when nothing is stored under `old_guid`, and with
    /// [`StoreError::Conflict`] when the stored bytes differ or a voucher is already stored
    /// under the new GUID; either way nothing changes.
    async fn swap_voucher(
        &self,
        old_guid: Guid,
        expected_current: &[u8],
        new: &VoucherBytes,
        now: i64,
    ) -> Result<(), StoreError>;

    /// Replaces the voucher stored under `guid` with `new` only if the stored bytes are still
    /// `expected_current` (compare-and-swap).
    ///
    /// Fails with [`StoreError::NotFound`] when nothing is stored under `guid`,
    /// [`StoreError::Conflict`] when the stored bytes differ from `expected_current` (someone
    /// else changed the voucher; the stored one is left as it was), and
    /// [`StoreError::GuidMismatch`] when `new` is for another device.
    async fn replace_voucher(
        &self,
        guid: Guid,
        expected_current: &[u8],
        new: &VoucherBytes,
        now: i64,
    ) -> Result<(), StoreError>;

    // --- Owner keys -----------------------------------------------------------------------------

    /// Stores a named owner key. A name is never reused: if `key.name` exists the call fails
    /// with [`StoreError::Duplicate`] and the stored key is kept, because a private key that
    /// vouchers were extended to must not be lost by an accidental overwrite.
    async fn put_owner_key(&self, key: &OwnerKey, now: i64) -> Result<(), StoreError>;

    /// The owner key called `name`, private part included.
    async fn get_owner_key(&self, name: &str) -> Result<OwnerKey, StoreError>;

    /// Every owner key's public facts (no private keys), ordered by name.
    async fn list_owner_keys(&self) -> Result<Vec<OwnerKeyInfo>, StoreError>;

    // --- Rendezvous registrations ---------------------------------------------------------------

    /// Stores the TO0 registration of `registration.guid`, replacing any earlier one.
    async fn upsert_registration(
        &self,
        registration: &Registration,
        now: i64,
    ) -> Result<(), StoreError>;

    /// The registration of `guid` if it has not expired at `now`; an expired one is
    /// [`StoreError::NotFound`].
    async fn get_registration(&self, guid: Guid, now: i64) -> Result<Registration, StoreError>;

    /// Deletes every registration expired at `now`; returns how many.
    async fn purge_expired_registrations(&self, now: i64) -> Result<u64, StoreError>;

    // --- Protocol sessions ----------------------------------------------------------------------

    /// Creates a session for the bearer `token` at version 0. Only SHA-256 of `token` is stored.
    /// A token already in use (expired or not) is [`StoreError::Duplicate`].
    async fn create_session(
        &self,
        token: &str,
        protocol: &str,
        state: &[u8],
        expires_at: i64,
    ) -> Result<(), StoreError>;

    /// The session of `token` if it has not expired at `now`; an expired or unknown one is
    /// [`StoreError::NotFound`]. Callers check [`Session::protocol`] against the endpoint.
    async fn load_session(&self, token: &str, now: i64) -> Result<Session, StoreError>;

    /// Replaces a session's state if its version is still `expected_version`
    /// (compare-and-swap), and returns the new version (`expected_version + 1`).
    ///
    /// A second writer that loaded the same version gets [`StoreError::Conflict`] and changes
    /// nothing; an unknown token is [`StoreError::NotFound`]. Expiry is checked by
    /// [`Store::load_session`], which every update follows.
    async fn update_session(
        &self,
        token: &str,
        expected_version: i64,
        state: &[u8],
        expires_at: i64,
    ) -> Result<i64, StoreError>;

    /// Deletes the session of `token`.
    async fn delete_session(&self, token: &str) -> Result<(), StoreError>;

    /// Deletes every session expired at `now`; returns how many.
    async fn purge_expired_sessions(&self, now: i64) -> Result<u64, StoreError>;

    // --- Settings -------------------------------------------------------------------------------

    /// Sets a server setting, replacing any earlier value.
    async fn set_setting(&self, name: &str, value: &str, now: i64) -> Result<(), StoreError>;

    /// Stores several settings together, only if none of them is set yet: all are inserted,
    /// or none is and the call fails with [`StoreError::Duplicate`]`(`[`Entity::Setting`]`)`.
    ///
    /// For values that belong together and are made once, such as a CA key and its
    /// certificate, when several instances may start at the same time: whichever comes first
    /// stores its pair, and the others read it.
    async fn insert_settings(&self, settings: &[(&str, &str)], now: i64) -> Result<(), StoreError>;

    /// The value of a server setting.
    async fn get_setting(&self, name: &str) -> Result<String, StoreError>;

    /// Deletes a server setting.
    async fn delete_setting(&self, name: &str) -> Result<(), StoreError>;

    // --- TLS pins -------------------------------------------------------------------------------

    /// Stores the pin of `pin.guid`, replacing any earlier one (a device has one TLS key at a
    /// time). The first pin's `created_at` is kept; `updated_at` becomes `now`.
    async fn upsert_pin(&self, pin: &Pin, now: i64) -> Result<(), StoreError>;

    /// The pin of `guid`.
    async fn get_pin(&self, guid: Guid) -> Result<PinRecord, StoreError>;

    /// Every pin, ordered by GUID.
    async fn list_pins(&self) -> Result<Vec<PinRecord>, StoreError>;

    /// Deletes the pin of `guid`.
    async fn delete_pin(&self, guid: Guid) -> Result<(), StoreError>;

    /// Moves the pin of `guid` to a renewed key: its key hash and certificate become those of
    /// `renewal`, only while the stored certificate is still `expected_cert` and the last
    /// renewal accepted (if any) was issued before `renewal.issued_at` (compare-and-set in one
    /// statement, so a concurrent or replayed renewal changes nothing). Names, addresses and
    /// the WebTransport pin stay; `updated_at` becomes `now`.
    ///
    /// Fails with [`StoreError::NotFound`]`(`[`Entity::Pin`]`)` when the device has no pin and
    /// [`StoreError::Conflict`]`(`[`Entity::Pin`]`)` when the certificate changed or the
    /// renewal is not later than the last one.
    async fn renew_pin(
        &self,
        guid: Guid,
        expected_cert: &[u8],
        renewal: &PinRenewal,
        now: i64,
    ) -> Result<(), StoreError>;

    /// The `issued_at` of the last renewal accepted for `guid` ([`Store::renew_pin`]), `None`
    /// before the first; [`StoreError::NotFound`]`(`[`Entity::Pin`]`)` without a pin.
    async fn last_renewal(&self, guid: Guid) -> Result<Option<i64>, StoreError>;

    // --- Device endpoints -----------------------------------------------------------------------

    /// Records where the device `guid` serves HTTPS, replacing any earlier endpoint.
    ///
    /// Only a pinned device has an endpoint: without a pin the call fails with
    /// [`StoreError::NotFound`]`(`[`Entity::Pin`]`)`. The endpoint stays when the pin is
    /// replaced and goes with [`Store::delete_pin`].
    async fn set_device_endpoint(
        &self,
        guid: Guid,
        endpoint: &DeviceEndpoint,
        now: i64,
    ) -> Result<(), StoreError>;

    /// Where the device `guid` serves HTTPS; [`StoreError::NotFound`]`(`
    /// [`Entity::DeviceEndpoint`]`)` when none was recorded.
    async fn get_device_endpoint(&self, guid: Guid) -> Result<DeviceEndpoint, StoreError>;

    // --- WebTransport pins ----------------------------------------------------------------------

    /// Moves the WebTransport pin of `guid` to `sha256`, the hash of a certificate valid until
    /// `not_after`, only if `not_after` is strictly later than that of the certificate pinned
    /// by the last call (compare-and-set in one statement, so a replayed or older report changes
    /// nothing, whatever runs at the same time).
    ///
    /// Fails with [`StoreError::NotFound`]`(`[`Entity::Pin`]`)` when the device has no pin and
    /// [`StoreError::Conflict`]`(`[`Entity::Pin`]`)` when `not_after` is not later.
    async fn advance_webtransport_pin(
        &self,
        guid: Guid,
        sha256: &[u8; 32],
        not_after: i64,
    ) -> Result<(), StoreError>;

    /// Records where the browser reaches the WebTransport server of `guid`, replacing any
    /// earlier URL. Only a pinned device has one ([`StoreError::NotFound`]`(`[`Entity::Pin`]`)`
    /// otherwise); it goes with [`Store::delete_pin`].
    async fn set_webtransport_url(
        &self,
        guid: Guid,
        url: &WebTransportUrl,
        now: i64,
    ) -> Result<(), StoreError>;

    /// The WebTransport facts of the pinned device `guid`
    /// ([`StoreError::NotFound`]`(`[`Entity::Pin`]`)` without a pin).
    async fn get_webtransport_pin(&self, guid: Guid) -> Result<WebTransportPin, StoreError>;

    /// The WebTransport facts of every pinned device, ordered by GUID.
    async fn list_webtransport_pins(&self) -> Result<Vec<WebTransportPin>, StoreError>;

    // --- Health ---------------------------------------------------------------------------------

    /// Succeeds when the backend answers a trivial query (for `/healthz`).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// What [`Store::insert_voucher`] does when a voucher is already stored under the same GUID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnExisting {
    /// Keep the stored voucher and fail with [`StoreError::Duplicate`].
    Refuse,
    /// Overwrite the stored voucher.
    Replace,
}

/// A voucher's original CBOR bytes together with the facts the store indexes, all read from
/// those bytes, so the index can never disagree with the voucher.
#[derive(Clone, PartialEq, Eq)]
pub struct VoucherBytes {
    bytes: Vec<u8>,
    guid: Guid,
    entry_count: u64,
    device_info: String,
    owner_key_sha256: [u8; 32],
}

impl VoucherBytes {
    /// Reads a CBOR voucher, keeping `bytes` exactly as they are.
    pub fn parse(bytes: Vec<u8>) -> Result<Self, vouch_protocol::Error> {
        let voucher = OwnershipVoucher::from_cbor(&bytes)?;
        Ok(Self::with_facts(bytes, &voucher))
    }

    /// The encoding of `voucher`: its original parts (header, HMAC, chain, entries) as read.
    pub fn from_voucher(voucher: &OwnershipVoucher) -> Self {
        Self::with_facts(voucher.to_cbor(), voucher)
    }

    fn with_facts(bytes: Vec<u8>, voucher: &OwnershipVoucher) -> Self {
        // The owner key's original encoding: OVEPubKey of the last entry, or OVPubKey of the
        // header when there is no entry.
        let owner_key_bytes = voucher.entries().last().map_or_else(
            || voucher.header().manufacturer_key.bytes(),
            |entry| entry.payload().public_key.bytes(),
        );
        Self {
            guid: voucher.guid(),
            entry_count: voucher.entries().len() as u64,
            device_info: voucher.header().device_info.clone(),
            owner_key_sha256: key_fingerprint(owner_key_bytes),
            bytes,
        }
    }

    /// The voucher's CBOR bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// OVGuid.
    pub fn guid(&self) -> Guid {
        self.guid
    }

    /// How many entries OVEntryArray holds.
    pub fn entry_count(&self) -> u64 {
        self.entry_count
    }

    /// OVDeviceInfo.
    pub fn device_info(&self) -> &str {
        &self.device_info
    }

    /// [`key_fingerprint`] of the current owner key's original encoding.
    pub fn owner_key_sha256(&self) -> [u8; 32] {
        self.owner_key_sha256
    }
}

impl fmt::Debug for VoucherBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VoucherBytes")
            .field("guid", &self.guid)
            .field("entry_count", &self.entry_count)
            .field("device_info", &self.device_info)
            .field("owner_key_sha256", &hex::encode(self.owner_key_sha256))
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// One row of [`Store::list_vouchers`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoucherSummary {
    /// OVGuid.
    pub guid: Guid,
    /// How many entries OVEntryArray holds.
    pub entry_count: u64,
    /// OVDeviceInfo.
    pub device_info: String,
    /// [`key_fingerprint`] of the current owner key; equal to
    /// [`OwnerKeyInfo::public_key_sha256`] of the stored owner key it names, when the two
    /// encodings agree.
    pub owner_key_sha256: [u8; 32],
    /// When the voucher was first stored (unix seconds).
    pub created_at: i64,
    /// When the voucher was last stored or replaced (unix seconds).
    pub updated_at: i64,
}

/// A named owner key: the private key the owner role signs with and its public key.
#[derive(Clone, PartialEq, Eq)]
pub struct OwnerKey {
    /// The key's name, unique in the store.
    pub name: String,
    /// The private key, PKCS#8 DER; wiped from memory when dropped.
    pub private_key_pkcs8: Zeroizing<Vec<u8>>,
    /// The public key as a CBOR FDO `PublicKey`.
    pub public_key: Vec<u8>,
}

impl fmt::Debug for OwnerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnerKey")
            .field("name", &self.name)
            .field("private_key_pkcs8", &"<redacted>")
            .field("public_key", &hex::encode(&self.public_key))
            .finish()
    }
}

/// One row of [`Store::list_owner_keys`]: everything but the private key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerKeyInfo {
    /// The key's name.
    pub name: String,
    /// The public key as a CBOR FDO `PublicKey`.
    pub public_key: Vec<u8>,
    /// [`key_fingerprint`] of `public_key`.
    pub public_key_sha256: [u8; 32],
    /// When the key was stored (unix seconds).
    pub created_at: i64,
}

/// A device's TO0 registration at the rendezvous role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The device.
    pub guid: Guid,
    /// `to1d`: the owner's signed redirect (COSE_Sign1 bytes) that TO1 hands to the device.
    pub to1d: Vec<u8>,
    /// The voucher the owner presented in TO0, as received.
    pub voucher: Vec<u8>,
    /// End of the registration (unix seconds, exclusive).
    pub expires_at: i64,
}

/// A protocol session as [`Store::load_session`] returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Which protocol the session belongs to (for example `"to2"`).
    pub protocol: String,
    /// The state machine's opaque state.
    pub state: Vec<u8>,
    /// The version to pass to [`Store::update_session`].
    pub version: i64,
    /// End of the session (unix seconds, exclusive).
    pub expires_at: i64,
}

/// A device's TLS key as the owner recorded it at TO2.Done: what a browser pins, and what the
/// owner CA certified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    /// The device, under the GUID TO2 gave it.
    pub guid: Guid,
    /// SHA-256 of the TLS key's DER SubjectPublicKeyInfo.
    pub spki_sha256: [u8; 32],
    /// The certificate the owner CA issued for the key, DER.
    pub cert_der: Vec<u8>,
    /// The DNS names the certificate holds, lower case. None may contain a comma.
    pub dns_names: Vec<String>,
    /// The addresses the certificate holds.
    pub ips: Vec<IpAddr>,
    /// SHA-256 of the whole DER certificate the device serves WebTransport with, if it said.
    pub webtransport_sha256: Option<[u8; 32]>,
}

/// A [`Pin`] as stored, with its times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinRecord {
    /// The pin.
    pub pin: Pin,
    /// When the device's first pin was stored (unix seconds).
    pub created_at: i64,
    /// When this pin was stored (unix seconds).
    pub updated_at: i64,
}

/// Where a device serves HTTPS: an `https` origin (host and port, no path), parsed from a URL
/// such as `https://192.168.1.7:8443`.
///
/// Only `https` is accepted: the owner reaches the device over TLS and checks its key against
/// the pin, so a plain-HTTP endpoint would carry nothing that could be checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceEndpoint {
    url: reqwest::Url,
}

impl DeviceEndpoint {
    /// Parses an `https` base URL. Refused: another scheme, user information, a path other
    /// than `/`, a query or a fragment.
    pub fn parse(url: &str) -> Result<Self, InvalidEndpoint> {
        let refuse = |why: &str| InvalidEndpoint(format!("{url:?}: {why}"));
        let parsed = reqwest::Url::parse(url).map_err(|e| refuse(&e.to_string()))?;
        if parsed.scheme() != "https" {
            return Err(refuse(
                "only https endpoints are accepted (the device's key is checked over TLS)",
            ));
        }
        if parsed.host().is_none() {
            return Err(refuse("no host"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(refuse("user information is not accepted"));
        }
        if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() {
            return Err(refuse(
                "a base URL has no path or query: give only https://host[:port]",
            ));
        }
        if parsed.fragment().is_some() {
            return Err(refuse("a base URL has no fragment"));
        }
        Ok(Self { url: parsed })
    }

    /// The host as the URL writes it: a lower-case DNS name, an IPv4 address, or an IPv6
    /// address in brackets.
    pub fn host(&self) -> &str {
        // `parse` refused URLs without a host.
        self.url.host_str().unwrap_or_default()
    }

    /// The host's IP address, when the host is one rather than a DNS name.
    pub fn ip(&self) -> Option<IpAddr> {
        let host = self.host();
        let unbracketed = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        unbracketed.parse().ok()
    }

    /// The port (443 when the URL names none).
    pub fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(443)
    }

    /// The origin as text, `https://host[:port]` (no trailing slash; no port when it is 443).
    pub fn as_origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }
}

impl fmt::Display for DeviceEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_origin())
    }
}

/// Why [`DeviceEndpoint::parse`] refused a URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidEndpoint(String);

impl fmt::Display for InvalidEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a device endpoint: {}", self.0)
    }
}

impl StdError for InvalidEndpoint {}

/// SHA-256 of a public key's CBOR encoding: how the store names owner keys in listings.
pub fn key_fingerprint(public_key_cbor: &[u8]) -> [u8; 32] {
    Sha256::digest(public_key_cbor).into()
}

/// SHA-256 of a bearer token: the only form in which a session token is stored.
pub(crate) fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// What kind of record a [`StoreError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Entity {
    /// An ownership voucher.
    Voucher,
    /// An owner key.
    OwnerKey,
    /// A rendezvous registration.
    Registration,
    /// A protocol session.
    Session,
    /// A server setting.
    Setting,
    /// A device's TLS key pin.
    Pin,
    /// Where a device serves HTTPS.
    DeviceEndpoint,
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Entity::Voucher => "voucher",
            Entity::OwnerKey => "owner key",
            Entity::Registration => "rendezvous registration",
            Entity::Session => "session",
            Entity::Setting => "setting",
            Entity::Pin => "TLS pin",
            Entity::DeviceEndpoint => "device endpoint",
        })
    }
}

/// Why a [`Store`] call failed.
///
/// `NotFound`, `Conflict`, `Duplicate` and `GuidMismatch` are about the request and leave the
/// store as it was; `Backend` is the database's failure and should be logged, not shown to a
/// client.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// No such record (or it has expired).
    NotFound(Entity),
    /// A compare-and-swap lost: the record changed since the caller read it.
    Conflict(Entity),
    /// A record with that key already exists.
    Duplicate(Entity),
    /// [`Store::replace_voucher`] was given a voucher for another device.
    GuidMismatch {
        /// The GUID the caller named.
        expected: Guid,
        /// The GUID of the new voucher.
        found: Guid,
    },
    /// The database failed, or holds data this code cannot read.
    Backend(sqlx::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound(what) => write!(f, "{what} not found"),
            StoreError::Conflict(what) => {
                write!(f, "{what} changed since it was read; read it again")
            }
            StoreError::Duplicate(what) => write!(f, "{what} already exists"),
            StoreError::GuidMismatch { expected, found } => write!(
                f,
                "replacement voucher is for device {found}, expected {expected}"
            ),
            StoreError::Backend(e) => write!(f, "storage backend failed: {e}"),
        }
    }
}

impl StdError for StoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            StoreError::Backend(e) => Some(e),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Backend(e)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Backend(sqlx::Error::Migrate(Box::new(e)))
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Backend(sqlx::Error::Io(e))
    }
}
