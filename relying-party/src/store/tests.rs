//! Unit tests of the store against an in-memory SQLite database. The file-backed behaviour
//! (reopening, concurrency, permissions) is in `relying-party/tests/store.rs`.

use sqlx::Row;
use vouch_protocol::cbor::Cbor;
use vouch_protocol::types::Guid;
use vouch_protocol::voucher::OwnershipVoucher;

use super::*;

fn go_fdo_voucher() -> OwnershipVoucher {
    let pem = include_str!("../../../vectors/external/go-fdo/testdata/ov_extended.pem");
    OwnershipVoucher::from_bytes(pem.as_bytes()).unwrap()
}

#[test]
fn voucher_bytes_reads_its_facts_from_the_voucher() {
    let ov = go_fdo_voucher();
    let v = VoucherBytes::from_voucher(&ov);
    assert_eq!(v.bytes(), ov.to_cbor().as_slice());
    assert_eq!(
        v.guid(),
        Guid::from_hex("f1d0fd0066bd4ef392bc1b7c393fbe18").unwrap()
    );
    assert_eq!(v.entry_count(), ov.entries().len() as u64);
    assert!(v.entry_count() > 0);
    assert_eq!(v.device_info(), "I am a virtual FIDO Alliance device!");
    // The fingerprint covers the last entry's OVEPubKey as encoded in the voucher.
    let last = ov.entries().last().unwrap();
    assert_eq!(
        v.owner_key_sha256(),
        key_fingerprint(last.payload().public_key.bytes())
    );
    assert_eq!(
        v.owner_key_sha256(),
        key_fingerprint(&ov.owner_key().to_cbor())
    );
    assert_eq!(VoucherBytes::parse(ov.to_cbor()).unwrap(), v);
}

#[test]
fn voucher_bytes_refuses_what_is_not_a_cbor_voucher() {
    let pem = include_bytes!("../../../vectors/external/go-fdo/testdata/ov_extended.pem");
    // PEM is for files; the store keeps CBOR only.
    assert!(VoucherBytes::parse(pem.to_vec()).is_err());
    let mut cbor = go_fdo_voucher().to_cbor();
    cbor.push(0x00); // trailing byte
    assert!(VoucherBytes::parse(cbor).is_err());
}

#[test]
fn token_hash_is_sha256_of_the_token() {
    // SHA-256("abc"), FIPS 180-2 appendix B.1.
    assert_eq!(
        hex::encode(token_hash("abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn errors_say_what_and_keep_the_backend_cause() {
    assert_eq!(
        StoreError::Conflict(Entity::Voucher).to_string(),
        "voucher changed since it was read; read it again"
    );
    assert_eq!(
        StoreError::NotFound(Entity::Registration).to_string(),
        "rendezvous registration not found"
    );
    let backend = StoreError::from(sqlx::Error::PoolClosed);
    assert!(std::error::Error::source(&backend).is_some());
    assert!(std::error::Error::source(&StoreError::Duplicate(Entity::Session)).is_none());
}

#[test]
fn owner_key_debug_hides_the_private_key() {
    let key = OwnerKey {
        name: "k".into(),
        private_key_pkcs8: Zeroizing::new(vec![0xde, 0xad, 0xbe, 0xef]),
        public_key: vec![0x83],
    };
    let shown = format!("{key:?}");
    assert!(
        shown.contains("redacted") && !shown.contains("deadbeef"),
        "{shown}"
    );
}

#[tokio::test]
async fn memory_store_round_trips_a_voucher() {
    let store = SqliteStore::memory().await.unwrap();
    let v = VoucherBytes::from_voucher(&go_fdo_voucher());
    store
        .insert_voucher(&v, OnExisting::Refuse, 100)
        .await
        .unwrap();
    assert_eq!(store.get_voucher(v.guid()).await.unwrap(), v.bytes());
    store.ping().await.unwrap();
}

#[tokio::test]
async fn memory_stores_are_separate() {
    let a = SqliteStore::memory().await.unwrap();
    let b = SqliteStore::memory().await.unwrap();
    a.set_setting("x", "1", 0).await.unwrap();
    assert!(matches!(
        b.get_setting("x").await,
        Err(StoreError::NotFound(Entity::Setting))
    ));
}

/// The migrations declare binary columns BYTEA so PostgreSQL accepts them; on SQLite that name
/// has NUMERIC affinity, which must still keep bound bytes as BLOBs, unchanged — even bytes that
/// spell a number.
#[tokio::test]
async fn bytea_columns_hold_blobs_on_sqlite() {
    let store = SqliteStore::memory().await.unwrap();
    let numeric_looking = b"12345".to_vec();
    store
        .create_session("t", "to2", &numeric_looking, 10)
        .await
        .unwrap();
    let key = OwnerKey {
        name: "k".into(),
        private_key_pkcs8: Zeroizing::new(b"0.5".to_vec()),
        public_key: b"7".to_vec(),
    };
    store.put_owner_key(&key, 0).await.unwrap();

    let row =
        sqlx::query("SELECT typeof(state) AS s, typeof(token_sha256) AS t, state FROM sessions")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(row.get::<String, _>("s"), "blob");
    assert_eq!(row.get::<String, _>("t"), "blob");
    assert_eq!(row.get::<Vec<u8>, _>("state"), numeric_looking);
    let row = sqlx::query(
        "SELECT typeof(private_key_pkcs8) AS p, typeof(public_key) AS k FROM owner_keys",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>("p"), "blob");
    assert_eq!(row.get::<String, _>("k"), "blob");
    assert_eq!(store.get_owner_key("k").await.unwrap(), key);
}

#[tokio::test]
async fn the_schema_refuses_a_malformed_guid() {
    let store = SqliteStore::memory().await.unwrap();
    let err = sqlx::query(sql::UPSERT_REGISTRATION)
        .bind([0u8; 15].as_slice())
        .bind([].as_slice())
        .bind([].as_slice())
        .bind(1_i64)
        .bind(0_i64)
        .execute(store.pool())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("CHECK"), "{err}");
}

#[tokio::test]
async fn a_corrupt_row_is_a_backend_error_not_a_panic() {
    let store = SqliteStore::memory().await.unwrap();
    // Bypass the CHECK constraints the way a damaged file might.
    sqlx::query("PRAGMA ignore_check_constraints = ON")
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("INSERT INTO vouchers VALUES (x'0102', x'80', -1, 'd', x'00', 0, 0)")
        .execute(store.pool())
        .await
        .unwrap();
    assert!(matches!(
        store.list_vouchers().await,
        Err(StoreError::Backend(sqlx::Error::Decode(_)))
    ));
}

#[tokio::test]
async fn a_closed_store_fails_with_a_backend_error() {
    let store = SqliteStore::memory().await.unwrap();
    store.close().await;
    assert!(matches!(store.ping().await, Err(StoreError::Backend(_))));
}

#[tokio::test]
async fn pin_columns_hold_blobs_and_damaged_lists_are_backend_errors() {
    let store = SqliteStore::memory().await.unwrap();
    let pin = Pin {
        guid: Guid([7; 16]),
        spki_sha256: [1; 32],
        cert_der: b"42".to_vec(),
        dns_names: vec![],
        ips: vec![],
        webtransport_sha256: Some([2; 32]),
    };
    store.upsert_pin(&pin, 5).await.unwrap();
    let row = sqlx::query(
        "SELECT typeof(cert) AS c, typeof(spki_sha256) AS s, typeof(webtransport_sha256) AS w, \
         dns_names, ips FROM pins",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>("c"), "blob");
    assert_eq!(row.get::<String, _>("s"), "blob");
    assert_eq!(row.get::<String, _>("w"), "blob");
    // Empty lists are empty strings.
    assert_eq!(row.get::<String, _>("dns_names"), "");
    assert_eq!(row.get::<String, _>("ips"), "");
    assert_eq!(store.get_pin(pin.guid).await.unwrap().pin, pin);

    // An address list that does not parse is the file's damage, reported, not a panic.
    sqlx::query("UPDATE pins SET ips = '10.0.0.1,not-an-address'")
        .execute(store.pool())
        .await
        .unwrap();
    assert!(matches!(
        store.get_pin(pin.guid).await,
        Err(StoreError::Backend(sqlx::Error::Decode(_)))
    ));
    // A hash of the wrong length is refused by the schema.
    let err = sqlx::query("UPDATE pins SET webtransport_sha256 = x'00'")
        .execute(store.pool())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("CHECK"), "{err}");
}

#[tokio::test]
async fn a_pin_name_with_a_comma_is_refused_before_it_reaches_the_database() {
    let store = SqliteStore::memory().await.unwrap();
    let pin = Pin {
        guid: Guid([8; 16]),
        spki_sha256: [1; 32],
        cert_der: vec![0x30],
        dns_names: vec!["a.home.arpa,b.home.arpa".into()],
        ips: vec![],
        webtransport_sha256: None,
    };
    assert!(matches!(
        store.upsert_pin(&pin, 1).await,
        Err(StoreError::Backend(sqlx::Error::Encode(_)))
    ));
    assert!(store.list_pins().await.unwrap().is_empty());
}
