//! The relying party's store on a real SQLite file and on a real PostgreSQL database: every
//! operation, compare-and-swap races, expiry boundaries, persistence across reopening, and
//! concurrent writers, including two store instances sharing one database.
//!
//! The tests shared by both backends are plain `async fn NAME(backend: Backend)`, run by
//! `sqlite::NAME` and `postgres::NAME`. PostgreSQL comes from `VOUCH_TEST_POSTGRES` (a server
//! URL whose user may create databases; `scripts/test` starts a throwaway server and sets it):
//! each test gets a database of its own. Without the variable the PostgreSQL tests fail.
//!
//! Vouchers are go-fdo's test vouchers. Where a test needs a different voucher for the same
//! device (or many devices) it rewrites the GUID inside the voucher's bytes: the store indexes
//! vouchers but does not verify them, so a voucher whose signatures no longer hold is still a
//! faithful stand-in here.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use sha2::{Digest, Sha256};
use vouch_protocol::cbor::Cbor;
use vouch_protocol::types::Guid;
use vouch_protocol::voucher::OwnershipVoucher;
use vouch_relying_party::store::{
    DeviceEndpoint, Entity, OnExisting, OwnerKey, PgStore, Pin, PinRenewal, Registration,
    SqliteStore, Store, StoreError, VoucherBytes, WebTransportUrl, key_fingerprint, open_store,
};
use zeroize::Zeroizing;

/// A fresh data directory under the system temp dir, removed when dropped.
struct DataDir(PathBuf);

impl DataDir {
    fn new(test: &str) -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "vouch-store-{}-{}-{test}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        DataDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    async fn open(&self) -> SqliteStore {
        SqliteStore::open_dir(&self.0).await.unwrap()
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Which store a shared test runs on.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database of either backend: a SQLite data directory (removed when dropped) or a
/// new PostgreSQL database on the test server.
struct TestDb {
    location: String,
    _dir: Option<DataDir>,
}

impl TestDb {
    async fn new(backend: Backend, test: &str) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = DataDir::new(test);
                let location = dir.path().to_str().unwrap().to_owned();
                TestDb {
                    location,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => TestDb {
                location: fresh_postgres_database(test).await,
                _dir: None,
            },
        }
    }

    /// Opens the database (again): each call is a new store instance, with its own
    /// connections, as another `vouch-rp` process would have.
    async fn open(&self) -> Arc<dyn Store> {
        open_store(&self.location).await.unwrap()
    }
}

/// A new, empty database on the PostgreSQL server of `VOUCH_TEST_POSTGRES`.
async fn fresh_postgres_database(test: &str) -> String {
    let server = std::env::var("VOUCH_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!(
            "VOUCH_TEST_POSTGRES is not set: run scripts/test (it starts a throwaway \
             PostgreSQL), or set it to postgres://USER@HOST:PORT/DB of a server where USER may \
             create databases"
        )
    });
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!(
        "vouch_store_{}_{}_{nanos}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed),
        test.replace('-', "_")
    );
    // PostgreSQL truncates identifiers at 63 bytes.
    let name: String = name.chars().take(63).collect();
    PgStore::create_database(&server, &name)
        .await
        .unwrap_or_else(|e| panic!("creating database {name} at VOUCH_TEST_POSTGRES: {e}"))
}

/// Runs each named `async fn NAME(backend: Backend)` as the tests `sqlite::NAME` and
/// `postgres::NAME`, on a multi-threaded runtime so that racing tasks really race.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await
                }
            )*
        }
    };
}

on_both_backends!(
    vouchers_insert_get_list_delete,
    a_duplicate_guid_is_refused_and_the_stored_voucher_kept,
    replace_voucher_swaps_only_when_the_expected_bytes_are_stored,
    swap_voucher_moves_to_a_new_guid_in_one_step_or_not_at_all,
    concurrent_voucher_replacements_from_one_version_let_exactly_one_win,
    owner_keys_put_get_list,
    registrations_expire_at_their_boundary,
    concurrent_registrations_of_one_guid_leave_one_of_them_whole,
    sessions_create_load_update_delete,
    purging_sessions_removes_exactly_the_expired_ones,
    two_session_updates_from_one_version_let_exactly_one_win,
    two_sessions_created_with_one_token_let_exactly_one_win,
    two_instances_on_one_database_share_sessions_and_race_cleanly,
    settings_set_get_delete,
    settings_inserted_together_by_racing_instances_come_from_one_of_them,
    concurrent_inserts_from_many_tasks,
    pins_upsert_get_list_delete,
    endpoints_webtransport_pins_and_renewals_follow_their_pin,
);

fn testdata(name: &str) -> OwnershipVoucher {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../vectors/external/go-fdo/testdata")
        .join(name);
    OwnershipVoucher::from_bytes(&std::fs::read(path).unwrap()).unwrap()
}

/// go-fdo's extended voucher: GUID f1d0fd00…, six entries.
fn extended() -> VoucherBytes {
    VoucherBytes::from_voucher(&testdata("ov_extended.pem"))
}

/// go-fdo's fresh voucher: GUID 66b2146f…, no entries.
fn fresh() -> VoucherBytes {
    VoucherBytes::from_voucher(&testdata("ov.pem"))
}

/// `voucher` with its GUID rewritten to `guid`: other bytes, another device.
fn with_guid(voucher: &VoucherBytes, guid: Guid) -> VoucherBytes {
    let mut from = vec![0x50]; // bstr of 16
    from.extend_from_slice(voucher.guid().as_bytes());
    let mut bytes = voucher.bytes().to_vec();
    let at: Vec<usize> = bytes
        .windows(from.len())
        .enumerate()
        .filter(|(_, w)| *w == from.as_slice())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at.len(), 1, "the GUID occurs once in the voucher");
    bytes[at[0] + 1..at[0] + 17].copy_from_slice(guid.as_bytes());
    let out = VoucherBytes::parse(bytes).unwrap();
    assert_eq!(out.guid(), guid);
    out
}

/// go-fdo's fresh voucher under the extended voucher's GUID: same device, other bytes.
fn other_for_extended() -> VoucherBytes {
    with_guid(&fresh(), extended().guid())
}

fn owner_key(name: &str, seed: u8) -> OwnerKey {
    OwnerKey {
        name: name.into(),
        private_key_pkcs8: Zeroizing::new(vec![0x30, 0x03, 0x02, 0x01, seed]),
        public_key: vec![0x83, 0x0a, 0x01, 0x41, seed],
    }
}

async fn vouchers_insert_get_list_delete(backend: Backend) {
    let db = TestDb::new(backend, "vouchers").await;
    let store = db.open().await;
    let (ext, fresh) = (extended(), fresh());
    store
        .insert_voucher(&ext, OnExisting::Refuse, 100)
        .await
        .unwrap();
    store
        .insert_voucher(&fresh, OnExisting::Refuse, 200)
        .await
        .unwrap();

    assert_eq!(store.get_voucher(ext.guid()).await.unwrap(), ext.bytes());
    assert_eq!(
        store.get_voucher(fresh.guid()).await.unwrap(),
        fresh.bytes()
    );

    let list = store.list_vouchers().await.unwrap();
    assert_eq!(list.len(), 2);
    // Ordered by GUID: 66b2… before f1d0….
    assert_eq!(list[0].guid, fresh.guid());
    assert_eq!(list[0].entry_count, 0);
    assert_eq!(list[0].device_info, "go.fdo.example");
    assert_eq!(list[0].owner_key_sha256, fresh.owner_key_sha256());
    assert_eq!((list[0].created_at, list[0].updated_at), (200, 200));
    assert_eq!(list[1].guid, ext.guid());
    assert_eq!(list[1].entry_count, 6);
    assert_eq!(list[1].device_info, "I am a virtual FIDO Alliance device!");
    assert_eq!(list[1].owner_key_sha256, ext.owner_key_sha256());
    assert_ne!(list[0].owner_key_sha256, list[1].owner_key_sha256);
    assert_eq!((list[1].created_at, list[1].updated_at), (100, 100));

    store.delete_voucher(ext.guid()).await.unwrap();
    assert!(matches!(
        store.get_voucher(ext.guid()).await,
        Err(StoreError::NotFound(Entity::Voucher))
    ));
    assert!(matches!(
        store.delete_voucher(ext.guid()).await,
        Err(StoreError::NotFound(Entity::Voucher))
    ));
    let list = store.list_vouchers().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].guid, fresh.guid());
}

async fn a_duplicate_guid_is_refused_and_the_stored_voucher_kept(backend: Backend) {
    let db = TestDb::new(backend, "duplicate").await;
    let store = db.open().await;
    let (ext, other) = (extended(), other_for_extended());
    assert_ne!(ext.bytes(), other.bytes());
    store
        .insert_voucher(&ext, OnExisting::Refuse, 100)
        .await
        .unwrap();

    let err = store
        .insert_voucher(&other, OnExisting::Refuse, 200)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Duplicate(Entity::Voucher)),
        "{err}"
    );
    assert_eq!(store.get_voucher(ext.guid()).await.unwrap(), ext.bytes());
    let summary = &store.list_vouchers().await.unwrap()[0];
    assert_eq!(
        (summary.entry_count, summary.updated_at),
        (6, 100),
        "index unchanged"
    );

    // Replacing on purpose overwrites, keeping when the device was first seen.
    store
        .insert_voucher(&other, OnExisting::Replace, 300)
        .await
        .unwrap();
    assert_eq!(store.get_voucher(ext.guid()).await.unwrap(), other.bytes());
    let summary = &store.list_vouchers().await.unwrap()[0];
    assert_eq!(summary.entry_count, 0);
    assert_eq!(summary.device_info, "go.fdo.example");
    assert_eq!((summary.created_at, summary.updated_at), (100, 300));
}

async fn swap_voucher_moves_to_a_new_guid_in_one_step_or_not_at_all(backend: Backend) {
    let db = TestDb::new(backend, "swap").await;
    let store = db.open().await;
    let (ext, f) = (extended(), fresh());
    assert_ne!(ext.guid(), f.guid());
    store
        .insert_voucher(&ext, OnExisting::Refuse, 100)
        .await
        .unwrap();
    let guids = |list: Vec<vouch_relying_party::store::VoucherSummary>| {
        list.into_iter().map(|v| v.guid).collect::<Vec<_>>()
    };

    // Stale expectation: refused, only the old voucher stored.
    let err = store
        .swap_voucher(ext.guid(), f.bytes(), &f, 200)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Entity::Voucher)),
        "{err}"
    );
    assert_eq!(
        guids(store.list_vouchers().await.unwrap()),
        vec![ext.guid()]
    );

    // The new GUID already taken: refused, both left as they were.
    store
        .insert_voucher(&f, OnExisting::Refuse, 150)
        .await
        .unwrap();
    let err = store
        .swap_voucher(ext.guid(), ext.bytes(), &f, 250)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Entity::Voucher)),
        "{err}"
    );
    assert_eq!(store.get_voucher(ext.guid()).await.unwrap(), ext.bytes());
    assert_eq!(store.get_voucher(f.guid()).await.unwrap(), f.bytes());
    store.delete_voucher(f.guid()).await.unwrap();

    // Current expectation: the old GUID is gone and the new one stored, together.
    store
        .swap_voucher(ext.guid(), ext.bytes(), &f, 300)
        .await
        .unwrap();
    assert_eq!(guids(store.list_vouchers().await.unwrap()), vec![f.guid()]);
    assert_eq!(store.get_voucher(f.guid()).await.unwrap(), f.bytes());

    // Nothing under the old GUID any more.
    let err = store
        .swap_voucher(ext.guid(), ext.bytes(), &ext, 400)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Entity::Voucher)),
        "{err}"
    );
}

async fn replace_voucher_swaps_only_when_the_expected_bytes_are_stored(backend: Backend) {
    let db = TestDb::new(backend, "cas").await;
    let store = db.open().await;
    let (ext, other) = (extended(), other_for_extended());
    let guid = ext.guid();
    store
        .insert_voucher(&ext, OnExisting::Refuse, 100)
        .await
        .unwrap();

    // Stale expectation: refused, original intact.
    let err = store
        .replace_voucher(guid, other.bytes(), &other, 200)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Entity::Voucher)),
        "{err}"
    );
    assert_eq!(store.get_voucher(guid).await.unwrap(), ext.bytes());
    assert_eq!(store.list_vouchers().await.unwrap()[0].updated_at, 100);

    // Current expectation: swapped.
    store
        .replace_voucher(guid, ext.bytes(), &other, 300)
        .await
        .unwrap();
    assert_eq!(store.get_voucher(guid).await.unwrap(), other.bytes());
    let summary = &store.list_vouchers().await.unwrap()[0];
    assert_eq!((summary.entry_count, summary.updated_at), (0, 300));

    // The expectation that was current a moment ago is now stale.
    let err = store
        .replace_voucher(guid, ext.bytes(), &ext, 400)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Entity::Voucher)),
        "{err}"
    );
    assert_eq!(store.get_voucher(guid).await.unwrap(), other.bytes());

    // A voucher for another device is refused before anything is touched.
    let err = store
        .replace_voucher(guid, other.bytes(), &fresh(), 500)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::GuidMismatch { expected, found } if expected == guid && found == fresh().guid()),
        "{err}"
    );
    assert_eq!(store.get_voucher(guid).await.unwrap(), other.bytes());

    // Nothing stored under the GUID.
    let f = fresh();
    let err = store
        .replace_voucher(f.guid(), f.bytes(), &f, 600)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Entity::Voucher)),
        "{err}"
    );
}

async fn concurrent_voucher_replacements_from_one_version_let_exactly_one_win(backend: Backend) {
    let db = TestDb::new(backend, "cas-race").await;
    let store = db.open().await;
    let ext = extended();
    let guid = ext.guid();
    store
        .insert_voucher(&ext, OnExisting::Refuse, 0)
        .await
        .unwrap();
    // Eight different successors of the same stored voucher.
    let successors: Vec<VoucherBytes> = (0..8u8)
        .map(|i| {
            let mut v = other_for_extended().bytes().to_vec();
            // A different device-info length would re-shape the header; vary the HMAC instead,
            // which the store does not check: its last byte sits in the header's HMAC bstr.
            let hmac_end = hmac_last_byte(&v);
            v[hmac_end] ^= i + 1;
            VoucherBytes::parse(v).unwrap()
        })
        .collect();
    let tasks: Vec<_> = successors
        .iter()
        .cloned()
        .map(|next| {
            let store = Arc::clone(&store);
            let expected = ext.bytes().to_vec();
            tokio::spawn(async move { store.replace_voucher(guid, &expected, &next, 1).await })
        })
        .collect();
    let mut won = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(()) => won.push(i),
            Err(StoreError::Conflict(Entity::Voucher)) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one writer wins");
    assert_eq!(
        store.get_voucher(guid).await.unwrap(),
        successors[won[0]].bytes()
    );
}

/// The position of the last byte of OVHeaderHMac's hash in an FDO 1.1 voucher: right after the
/// header bstr comes `[hmac-type, bstr hash]`.
fn hmac_last_byte(voucher: &[u8]) -> usize {
    let ov = OwnershipVoucher::from_cbor(voucher).unwrap();
    let header = ov.header_bytes();
    let start = voucher
        .windows(header.len())
        .position(|w| w == header)
        .unwrap();
    let hmac = ov.hmac().to_cbor();
    let at = start + header.len();
    assert_eq!(&voucher[at..at + hmac.len()], hmac.as_slice());
    at + hmac.len() - 1
}

async fn owner_keys_put_get_list(backend: Backend) {
    let db = TestDb::new(backend, "owner-keys").await;
    let store = db.open().await;
    let (b, a) = (owner_key("owner-b", 2), owner_key("owner-a", 1));
    store.put_owner_key(&b, 10).await.unwrap();
    store.put_owner_key(&a, 20).await.unwrap();

    assert_eq!(store.get_owner_key("owner-a").await.unwrap(), a);
    assert_eq!(store.get_owner_key("owner-b").await.unwrap(), b);
    assert!(matches!(
        store.get_owner_key("nobody").await,
        Err(StoreError::NotFound(Entity::OwnerKey))
    ));

    // A name is never overwritten.
    let err = store
        .put_owner_key(&owner_key("owner-a", 9), 30)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Duplicate(Entity::OwnerKey)),
        "{err}"
    );
    assert_eq!(store.get_owner_key("owner-a").await.unwrap(), a);

    let list = store.list_owner_keys().await.unwrap();
    let names: Vec<&str> = list.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["owner-a", "owner-b"]);
    assert_eq!(list[0].public_key, a.public_key);
    assert_eq!(list[0].public_key_sha256, key_fingerprint(&a.public_key));
    assert_eq!(
        list[0].public_key_sha256,
        <[u8; 32]>::from(Sha256::digest(&a.public_key))
    );
    assert_eq!((list[0].created_at, list[1].created_at), (20, 10));
}

async fn registrations_expire_at_their_boundary(backend: Backend) {
    let db = TestDb::new(backend, "registrations").await;
    let store = db.open().await;
    let ext = extended();
    let reg = Registration {
        guid: ext.guid(),
        to1d: vec![0xd2, 0x84, 0x01],
        voucher: ext.bytes().to_vec(),
        expires_at: 1000,
    };
    store.upsert_registration(&reg, 0).await.unwrap();

    assert_eq!(store.get_registration(reg.guid, 999).await.unwrap(), reg);
    assert!(matches!(
        store.get_registration(reg.guid, 1000).await,
        Err(StoreError::NotFound(Entity::Registration))
    ));
    // Expired but not yet purged: nothing to purge before the boundary, one at it.
    assert_eq!(store.purge_expired_registrations(999).await.unwrap(), 0);

    // TO0 again replaces the registration.
    let renewed = Registration {
        to1d: vec![0xd2, 0x84, 0x02],
        expires_at: 2000,
        ..reg.clone()
    };
    store.upsert_registration(&renewed, 1500).await.unwrap();
    assert_eq!(
        store.get_registration(reg.guid, 1999).await.unwrap(),
        renewed
    );

    let other = Registration {
        guid: fresh().guid(),
        expires_at: 1500,
        ..reg.clone()
    };
    store.upsert_registration(&other, 0).await.unwrap();
    assert_eq!(store.purge_expired_registrations(1499).await.unwrap(), 0);
    assert_eq!(store.purge_expired_registrations(1500).await.unwrap(), 1);
    // Gone for good, even at a time when it would have been live.
    assert!(matches!(
        store.get_registration(other.guid, 0).await,
        Err(StoreError::NotFound(Entity::Registration))
    ));
    assert_eq!(store.get_registration(reg.guid, 0).await.unwrap(), renewed);
    assert!(matches!(
        store.get_registration(Guid([0; 16]), 0).await,
        Err(StoreError::NotFound(Entity::Registration))
    ));
}

async fn sessions_create_load_update_delete(backend: Backend) {
    let db = TestDb::new(backend, "sessions").await;
    let store = db.open().await;
    store
        .create_session("tok-1", "to2", b"state-0", 100)
        .await
        .unwrap();
    assert!(matches!(
        store.create_session("tok-1", "to2", b"x", 500).await,
        Err(StoreError::Duplicate(Entity::Session))
    ));

    let s = store.load_session("tok-1", 99).await.unwrap();
    assert_eq!(
        (
            s.protocol.as_str(),
            s.state.as_slice(),
            s.version,
            s.expires_at
        ),
        ("to2", &b"state-0"[..], 0, 100)
    );
    assert!(matches!(
        store.load_session("tok-1", 100).await,
        Err(StoreError::NotFound(Entity::Session))
    ));
    assert!(matches!(
        store.load_session("tok-2", 0).await,
        Err(StoreError::NotFound(Entity::Session))
    ));

    // Update moves the version on and may extend the session.
    assert_eq!(
        store
            .update_session("tok-1", 0, b"state-1", 200)
            .await
            .unwrap(),
        1
    );
    let s = store.load_session("tok-1", 150).await.unwrap();
    assert_eq!(
        (s.state.as_slice(), s.version, s.expires_at),
        (&b"state-1"[..], 1, 200)
    );

    // An update from the old version is a conflict and changes nothing.
    assert!(matches!(
        store.update_session("tok-1", 0, b"stale", 900).await,
        Err(StoreError::Conflict(Entity::Session))
    ));
    let s = store.load_session("tok-1", 150).await.unwrap();
    assert_eq!(
        (s.state.as_slice(), s.version, s.expires_at),
        (&b"state-1"[..], 1, 200)
    );
    assert!(matches!(
        store.update_session("tok-2", 0, b"x", 900).await,
        Err(StoreError::NotFound(Entity::Session))
    ));

    store.delete_session("tok-1").await.unwrap();
    assert!(matches!(
        store.load_session("tok-1", 0).await,
        Err(StoreError::NotFound(Entity::Session))
    ));
    assert!(matches!(
        store.delete_session("tok-1").await,
        Err(StoreError::NotFound(Entity::Session))
    ));
}

async fn purging_sessions_removes_exactly_the_expired_ones(backend: Backend) {
    let db = TestDb::new(backend, "session-purge").await;
    let store = db.open().await;
    for (token, expires_at) in [("a", 10), ("b", 20), ("c", 30)] {
        store
            .create_session(token, "to1", b"", expires_at)
            .await
            .unwrap();
    }
    assert_eq!(store.purge_expired_sessions(9).await.unwrap(), 0);
    assert_eq!(store.purge_expired_sessions(20).await.unwrap(), 2);
    assert!(matches!(
        store.load_session("b", 0).await,
        Err(StoreError::NotFound(Entity::Session))
    ));
    assert_eq!(store.load_session("c", 29).await.unwrap().protocol, "to1");
    // A purged token may start a new session.
    store.create_session("a", "to1", b"", 40).await.unwrap();
}

async fn two_session_updates_from_one_version_let_exactly_one_win(backend: Backend) {
    let db = TestDb::new(backend, "session-race").await;
    let store = db.open().await;
    for round in 0..20 {
        let token = format!("race-{round}");
        store
            .create_session(&token, "to2", b"start", 1000)
            .await
            .unwrap();
        let writers: Vec<_> = ["first", "second"]
            .into_iter()
            .map(|who| {
                let (store, token) = (Arc::clone(&store), token.clone());
                tokio::spawn(async move {
                    store
                        .update_session(&token, 0, who.as_bytes(), 1000)
                        .await
                        .map(|_| who)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for w in writers {
            match w.await.unwrap() {
                Ok(who) => winners.push(who),
                Err(StoreError::Conflict(Entity::Session)) => {}
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one writer wins");
        let s = store.load_session(&token, 0).await.unwrap();
        assert_eq!((s.state.as_slice(), s.version), (winners[0].as_bytes(), 1));
    }
}

async fn settings_set_get_delete(backend: Backend) {
    let db = TestDb::new(backend, "settings").await;
    let store = db.open().await;
    assert!(matches!(
        store.get_setting("owner.default_key").await,
        Err(StoreError::NotFound(Entity::Setting))
    ));
    store
        .set_setting("owner.default_key", "owner-a", 1)
        .await
        .unwrap();
    assert_eq!(
        store.get_setting("owner.default_key").await.unwrap(),
        "owner-a"
    );
    store
        .set_setting("owner.default_key", "owner-b", 2)
        .await
        .unwrap();
    assert_eq!(
        store.get_setting("owner.default_key").await.unwrap(),
        "owner-b"
    );
    store.delete_setting("owner.default_key").await.unwrap();
    assert!(matches!(
        store.delete_setting("owner.default_key").await,
        Err(StoreError::NotFound(Entity::Setting))
    ));
}

#[tokio::test]
async fn data_survives_closing_and_reopening_the_file() {
    let dir = DataDir::new("reopen");
    let ext = extended();
    let key = owner_key("owner", 7);
    let reg = Registration {
        guid: ext.guid(),
        to1d: vec![1, 2, 3],
        voucher: ext.bytes().to_vec(),
        expires_at: 100,
    };
    {
        let store = dir.open().await;
        store
            .insert_voucher(&ext, OnExisting::Refuse, 1)
            .await
            .unwrap();
        store.put_owner_key(&key, 1).await.unwrap();
        store.upsert_registration(&reg, 1).await.unwrap();
        store
            .create_session("tok", "to2", b"s0", 100)
            .await
            .unwrap();
        store.update_session("tok", 0, b"s1", 100).await.unwrap();
        store
            .set_setting("owner.default_key", "owner", 1)
            .await
            .unwrap();
        store.close().await;
    }
    assert!(dir.path().join(SqliteStore::FILE_NAME).is_file());

    // Reopening runs the (already applied) migrations again, harmlessly.
    let store = dir.open().await;
    assert_eq!(store.get_voucher(ext.guid()).await.unwrap(), ext.bytes());
    assert_eq!(store.list_vouchers().await.unwrap().len(), 1);
    assert_eq!(store.get_owner_key("owner").await.unwrap(), key);
    assert_eq!(store.get_registration(reg.guid, 99).await.unwrap(), reg);
    let s = store.load_session("tok", 99).await.unwrap();
    assert_eq!((s.state.as_slice(), s.version), (&b"s1"[..], 1));
    assert_eq!(
        store.get_setting("owner.default_key").await.unwrap(),
        "owner"
    );
    store.close().await;
}

#[tokio::test]
async fn the_session_token_never_reaches_the_file() {
    let dir = DataDir::new("token-at-rest");
    let token = "bearer-8f2c1d9e-only-in-memory";
    let store = dir.open().await;
    store.create_session(token, "to2", b"s", 100).await.unwrap();
    store.close().await;

    let mut on_disk = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        on_disk.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let contains = |needle: &[u8]| on_disk.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(token.as_bytes()), "the token is stored in clear");
    assert!(
        contains(&Sha256::digest(token.as_bytes())),
        "its SHA-256 is what keys the session"
    );
}

async fn concurrent_inserts_from_many_tasks(backend: Backend) {
    let db = TestDb::new(backend, "concurrent").await;
    let store = db.open().await;
    let base = extended();

    // Sixteen devices at once: all stored.
    let tasks: Vec<_> = (0..16u8)
        .map(|i| {
            let store = Arc::clone(&store);
            let v = with_guid(&base, Guid([i; 16]));
            tokio::spawn(async move {
                store
                    .insert_voucher(&v, OnExisting::Refuse, i64::from(i))
                    .await
                    .map(|()| v)
            })
        })
        .collect();
    let mut stored = Vec::new();
    for t in tasks {
        stored.push(t.await.unwrap().unwrap());
    }
    let list = store.list_vouchers().await.unwrap();
    assert_eq!(list.len(), 16);
    for v in &stored {
        assert_eq!(store.get_voucher(v.guid()).await.unwrap(), v.bytes());
    }

    // Eight racing inserts of one device: exactly one lands, the rest are duplicates.
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            let v = base.clone();
            tokio::spawn(async move { store.insert_voucher(&v, OnExisting::Refuse, 99).await })
        })
        .collect();
    let mut ok = 0;
    for r in racers {
        match r.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::Duplicate(Entity::Voucher)) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(store.list_vouchers().await.unwrap().len(), 17);
}

/// Several processes (here: stores) opening a new database file at once all get a working
/// store: the ones that lose the race to apply a migration find it applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stores_opening_a_new_file_at_once_all_succeed() {
    for round in 0..5 {
        let dir = DataDir::new(&format!("open-race-{round}"));
        let openers: Vec<_> = (0..4)
            .map(|_| {
                let path = dir.path().to_owned();
                tokio::spawn(async move { SqliteStore::open_dir(&path).await })
            })
            .collect();
        for o in openers {
            let store = o.await.unwrap().unwrap();
            store.ping().await.unwrap();
            assert!(store.list_vouchers().await.unwrap().is_empty());
        }
    }
}

#[tokio::test]
async fn open_dir_creates_the_directory_and_a_private_file() {
    let dir = DataDir::new("create");
    let nested = dir.path().join("a/b");
    assert!(!nested.exists());
    let store = SqliteStore::open_dir(&nested).await.unwrap();
    store.ping().await.unwrap();
    let file = nested.join(SqliteStore::FILE_NAME);
    assert!(file.is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the file holds private keys");
    }
    store.close().await;
}

#[tokio::test]
async fn opening_a_file_that_is_not_a_database_fails_cleanly() {
    let dir = DataDir::new("not-a-db");
    std::fs::create_dir_all(dir.path()).unwrap();
    let file = dir.path().join(SqliteStore::FILE_NAME);
    std::fs::write(&file, b"this is not an SQLite database, just some text").unwrap();
    let err = SqliteStore::open(&file).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        b"this is not an SQLite database, just some text"
    );
}

fn pin(guid: Guid, seed: u8) -> Pin {
    Pin {
        guid,
        spki_sha256: [seed; 32],
        cert_der: vec![0x30, 0x03, 0x02, 0x01, seed],
        dns_names: vec![format!("{seed:02x}.home.arpa"), "device.home.arpa".into()],
        ips: vec!["192.168.1.7".parse().unwrap(), "fd00::7".parse().unwrap()],
        webtransport_sha256: Some([seed ^ 0xff; 32]),
    }
}

async fn pins_upsert_get_list_delete(backend: Backend) {
    let db = TestDb::new(backend, "pins").await;
    let store = db.open().await;
    let a = Guid([0xa0; 16]);
    let b = Guid([0x0b; 16]);
    assert!(matches!(
        store.get_pin(a).await,
        Err(StoreError::NotFound(Entity::Pin))
    ));
    assert!(store.list_pins().await.unwrap().is_empty());

    store.upsert_pin(&pin(a, 1), 10).await.unwrap();
    let mut no_extras = pin(b, 2);
    no_extras.ips.clear();
    no_extras.webtransport_sha256 = None;
    store.upsert_pin(&no_extras, 11).await.unwrap();

    let got = store.get_pin(a).await.unwrap();
    assert_eq!(got.pin, pin(a, 1));
    assert_eq!((got.created_at, got.updated_at), (10, 10));
    assert_eq!(store.get_pin(b).await.unwrap().pin, no_extras);
    // Listed by GUID.
    let listed: Vec<Guid> = store
        .list_pins()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.pin.guid)
        .collect();
    assert_eq!(listed, [b, a]);

    // A new key for the same device replaces the pin; the first creation time stays.
    store.upsert_pin(&pin(a, 3), 20).await.unwrap();
    let got = store.get_pin(a).await.unwrap();
    assert_eq!(got.pin, pin(a, 3));
    assert_eq!((got.created_at, got.updated_at), (10, 20));
    assert_eq!(store.list_pins().await.unwrap().len(), 2);

    store.delete_pin(a).await.unwrap();
    assert!(matches!(
        store.delete_pin(a).await,
        Err(StoreError::NotFound(Entity::Pin))
    ));
    assert!(matches!(
        store.get_pin(a).await,
        Err(StoreError::NotFound(Entity::Pin))
    ));
    assert_eq!(store.list_pins().await.unwrap().len(), 1);

    // Pins survive closing and reopening the database.
    drop(store);
    let store = db.open().await;
    assert_eq!(store.get_pin(b).await.unwrap().pin, no_extras);
}

/// Two owners registering one device with the rendezvous at once (TO0): each registration is
/// stored whole, replacing the other, so what TO1 reads afterwards is exactly one of them,
/// never a mix.
async fn concurrent_registrations_of_one_guid_leave_one_of_them_whole(backend: Backend) {
    let db = TestDb::new(backend, "rv-race").await;
    let store = db.open().await;
    let guid = Guid([0x5a; 16]);
    for round in 0..10u8 {
        let registrations: Vec<Registration> = (0..2u8)
            .map(|who| Registration {
                guid,
                to1d: vec![who; 64 + usize::from(round)],
                voucher: vec![who.wrapping_add(0x80); 300],
                expires_at: 1000 + i64::from(who),
            })
            .collect();
        let writers: Vec<_> = registrations
            .iter()
            .cloned()
            .map(|r| {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.upsert_registration(&r, 10).await })
            })
            .collect();
        for w in writers {
            w.await.unwrap().unwrap();
        }
        let stored = store.get_registration(guid, 10).await.unwrap();
        assert!(
            registrations.contains(&stored),
            "round {round}: the stored registration is one of the two, whole: {stored:?}"
        );
    }
}

/// Two TO2 (or TO0) sessions can never share a token: of two creations with one token,
/// exactly one lands and the other is a duplicate.
async fn two_sessions_created_with_one_token_let_exactly_one_win(backend: Backend) {
    let db = TestDb::new(backend, "session-create-race").await;
    let store = db.open().await;
    for round in 0..20 {
        let token = format!("same-{round}");
        let creators: Vec<_> = ["first", "second"]
            .into_iter()
            .map(|who| {
                let (store, token) = (Arc::clone(&store), token.clone());
                tokio::spawn(async move {
                    store
                        .create_session(&token, "to2", who.as_bytes(), 1000)
                        .await
                        .map(|()| who)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for c in creators {
            match c.await.unwrap() {
                Ok(who) => winners.push(who),
                Err(StoreError::Duplicate(Entity::Session)) => {}
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one creation wins");
        let s = store.load_session(&token, 0).await.unwrap();
        assert_eq!((s.state.as_slice(), s.version), (winners[0].as_bytes(), 0));
    }
}

/// Two store instances on one database, as two `vouch-rp` processes behind a load balancer: a
/// session one creates, the other continues; a voucher one stores, the other replaces; and when
/// both continue the same session or replace the same voucher from the same version, one wins
/// and the other gets a conflict.
async fn two_instances_on_one_database_share_sessions_and_race_cleanly(backend: Backend) {
    let db = TestDb::new(backend, "two-instances").await;
    let (a, b) = (db.open().await, db.open().await);

    a.create_session("shared", "to2", b"hello", 1000)
        .await
        .unwrap();
    let seen = b.load_session("shared", 0).await.unwrap();
    assert_eq!(seen.state, b"hello");
    assert_eq!(
        b.update_session("shared", 0, b"step-1", 1000)
            .await
            .unwrap(),
        1
    );
    assert_eq!(a.load_session("shared", 0).await.unwrap().state, b"step-1");

    for round in 1..=10i64 {
        let racers: Vec<_> = [(Arc::clone(&a), "a"), (Arc::clone(&b), "b")]
            .into_iter()
            .map(|(store, who)| {
                tokio::spawn(async move {
                    store
                        .update_session("shared", round, who.as_bytes(), 1000)
                        .await
                        .map(|_| who)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for r in racers {
            match r.await.unwrap() {
                Ok(who) => winners.push(who),
                Err(StoreError::Conflict(Entity::Session)) => {}
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one instance wins");
        let s = b.load_session("shared", 0).await.unwrap();
        assert_eq!(
            (s.state.as_slice(), s.version),
            (winners[0].as_bytes(), round + 1)
        );
    }

    let ext = extended();
    a.insert_voucher(&ext, OnExisting::Refuse, 0).await.unwrap();
    let next = other_for_extended();
    let racers: Vec<_> = [Arc::clone(&a), Arc::clone(&b)]
        .into_iter()
        .map(|store| {
            let (guid, expected, next) = (ext.guid(), ext.bytes().to_vec(), next.clone());
            tokio::spawn(async move { store.replace_voucher(guid, &expected, &next, 1).await })
        })
        .collect();
    let mut ok = 0;
    for r in racers {
        match r.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::Conflict(Entity::Voucher)) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(ok, 1, "exactly one instance replaces the voucher");
    assert_eq!(b.get_voucher(ext.guid()).await.unwrap(), next.bytes());
}

/// Two instances starting at once on an empty database both make a key and its certificate:
/// exactly one pair is stored, whole, and the other instance gets a duplicate and stores
/// nothing; a pair of which one name is already set is refused and changes nothing.
async fn settings_inserted_together_by_racing_instances_come_from_one_of_them(backend: Backend) {
    let db = TestDb::new(backend, "settings-race").await;
    // Created (migrated) first: the race under test is the one on the settings.
    drop(db.open().await);
    for round in 0..10 {
        let (key, cert) = (format!("key-{round}"), format!("cert-{round}"));
        let racers: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|who| {
                let (key, cert) = (key.clone(), cert.clone());
                let db_location = db.location.clone();
                tokio::spawn(async move {
                    let store = open_store(&db_location).await.unwrap();
                    let (k, c) = (format!("{who}-key"), format!("{who}-cert"));
                    store
                        .insert_settings(&[(&key, &k), (&cert, &c)], 1)
                        .await
                        .map(|()| who)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for r in racers {
            match r.await.unwrap() {
                Ok(who) => winners.push(who),
                Err(StoreError::Duplicate(Entity::Setting)) => {}
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one pair is stored"
        );
        let store = db.open().await;
        assert_eq!(
            store.get_setting(&key).await.unwrap(),
            format!("{}-key", winners[0])
        );
        assert_eq!(
            store.get_setting(&cert).await.unwrap(),
            format!("{}-cert", winners[0])
        );
    }
    let store = db.open().await;
    store.set_setting("half", "set", 1).await.unwrap();
    assert!(matches!(
        store
            .insert_settings(&[("other-half", "x"), ("half", "y")], 2)
            .await,
        Err(StoreError::Duplicate(Entity::Setting))
    ));
    assert!(matches!(
        store.get_setting("other-half").await,
        Err(StoreError::NotFound(Entity::Setting))
    ));
    assert_eq!(store.get_setting("half").await.unwrap(), "set");
}

/// What hangs off a pin: the device's HTTPS endpoint, its WebTransport URL and pin (moved only
/// to a later certificate), and certificate renewals (compare-and-set on the certificate read
/// and on the request's time); all of it goes with the pin.
async fn endpoints_webtransport_pins_and_renewals_follow_their_pin(backend: Backend) {
    let db = TestDb::new(backend, "pin-extras").await;
    let store = db.open().await;
    let (a, unpinned) = (Guid([0xa1; 16]), Guid([0xa2; 16]));
    let endpoint = DeviceEndpoint::parse("https://192.168.1.7:8443").unwrap();
    let wt_url = WebTransportUrl::parse("https://192.168.1.7:4433/wt").unwrap();
    assert!(matches!(
        store.set_device_endpoint(unpinned, &endpoint, 1).await,
        Err(StoreError::NotFound(Entity::Pin))
    ));
    assert!(matches!(
        store.set_webtransport_url(unpinned, &wt_url, 1).await,
        Err(StoreError::NotFound(Entity::Pin))
    ));
    assert!(matches!(
        store
            .advance_webtransport_pin(unpinned, &[1; 32], 100)
            .await,
        Err(StoreError::NotFound(Entity::Pin))
    ));

    let first = pin(a, 1);
    store.upsert_pin(&first, 1).await.unwrap();
    store.set_device_endpoint(a, &endpoint, 2).await.unwrap();
    assert_eq!(store.get_device_endpoint(a).await.unwrap(), endpoint);
    store.set_webtransport_url(a, &wt_url, 2).await.unwrap();

    // The WebTransport pin moves only to a certificate valid for longer.
    store
        .advance_webtransport_pin(a, &[7; 32], 100)
        .await
        .unwrap();
    assert!(matches!(
        store.advance_webtransport_pin(a, &[8; 32], 100).await,
        Err(StoreError::Conflict(Entity::Pin))
    ));
    let wt = store.get_webtransport_pin(a).await.unwrap();
    assert_eq!(
        (wt.sha256, wt.not_after, wt.url.as_ref()),
        (Some([7; 32]), Some(100), Some(&wt_url))
    );
    assert_eq!(store.list_webtransport_pins().await.unwrap(), vec![wt]);

    // A renewal needs the certificate read and a later request.
    assert_eq!(store.last_renewal(a).await.unwrap(), None);
    let renewal = PinRenewal {
        spki_sha256: [9; 32],
        cert_der: vec![0x30, 0x01, 0x09],
        issued_at: 50,
    };
    assert!(matches!(
        store
            .renew_pin(a, b"not the certificate", &renewal, 3)
            .await,
        Err(StoreError::Conflict(Entity::Pin))
    ));
    store
        .renew_pin(a, &first.cert_der, &renewal, 3)
        .await
        .unwrap();
    assert!(matches!(
        store.renew_pin(a, &renewal.cert_der, &renewal, 4).await,
        Err(StoreError::Conflict(Entity::Pin))
    ));
    assert_eq!(store.last_renewal(a).await.unwrap(), Some(50));
    let renewed = store.get_pin(a).await.unwrap();
    assert_eq!(
        (renewed.pin.spki_sha256, renewed.pin.cert_der.as_slice()),
        ([9; 32], renewal.cert_der.as_slice())
    );
    assert_eq!(renewed.pin.dns_names, first.dns_names, "names stay");
    assert!(matches!(
        store
            .renew_pin(unpinned, &first.cert_der, &renewal, 3)
            .await,
        Err(StoreError::NotFound(Entity::Pin))
    ));

    // Everything goes with the pin.
    store.delete_pin(a).await.unwrap();
    assert!(matches!(
        store.get_device_endpoint(a).await,
        Err(StoreError::NotFound(Entity::DeviceEndpoint))
    ));
    assert!(matches!(
        store.get_webtransport_pin(a).await,
        Err(StoreError::NotFound(Entity::Pin))
    ));
    assert!(store.list_webtransport_pins().await.unwrap().is_empty());
}
