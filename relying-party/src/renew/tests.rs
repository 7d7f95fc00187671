//! The renewal route driven with `oneshot` over a real SQLite store in a temporary directory:
//! a device with a voucher (its attestation key in the device certificate) and a pin from an
//! owner CA. Every refusal is checked to leave the whole `pins` table as it was, byte for
//! byte, read through a connection of its own.

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::body::Body;
use axum::http::Request;
use rcgen::PublicKeyData;
use tower::ServiceExt;
use vouch_authenticator::renew::CONTENT_TYPE;
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{CryptoProvider, Signer as _, SigningKey};
use vouch_protocol::types::{HashAlg, PkEnc, PkType, RendezvousInfo};
use vouch_protocol::voucher::OvHeader;
use x509_parser::extensions::GeneralName;

use super::*;
use crate::store::{OnExisting, Pin, SqliteStore, VoucherBytes};
use crate::tls_enrol::DEFAULT_VALIDITY;

const NOW: i64 = 1_800_000_000;
const GUID: Guid = Guid([0x42; 16]);
const OTHER: Guid = Guid([0x43; 16]);
const NAME: &str = "printer.home.arpa";

/// A device as the owner knows it: its attestation key (in the voucher's device certificate)
/// and the TLS key it enrolled at TO2.
struct Device {
    guid: Guid,
    attestation: SigningKey,
}

/// The owner: its store in a temporary directory, the router, and a clock the test sets.
struct World {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    store: Arc<SqliteStore>,
    app: Router,
    ca: OwnerCa,
    time: Arc<AtomicI64>,
}

impl World {
    async fn new() -> (Self, Device) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open_dir(dir.path()).await.unwrap());
        let db = dir.path().join(SqliteStore::FILE_NAME);
        let ca = OwnerCa::generate("home.arpa", &["192.168.0.0/16".to_string()]).unwrap();
        ca.save(store.as_ref(), false, NOW).await.unwrap();
        let time = Arc::new(AtomicI64::new(NOW));
        let clock: Clock = {
            let time = time.clone();
            Arc::new(move || time.load(Ordering::SeqCst))
        };
        let app = routes(store.clone(), clock, DEFAULT_VALIDITY);
        let world = Self {
            _dir: dir,
            db,
            store,
            app,
            ca,
            time,
        };
        let device = world.add_device(GUID).await;
        (world, device)
    }

    /// A device with a fresh attestation key, a voucher and a pin for [`NAME`] and
    /// 192.168.1.20.
    async fn add_device(&self, guid: Guid) -> Device {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let attestation = SigningKey::from_der(&kp.serialize_der()).unwrap();
        let device_cert = rcgen::CertificateParams::new(vec!["device.example".into()])
            .unwrap()
            .self_signed(&kp)
            .unwrap();
        let mfg = SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"mfg")).unwrap();
        let chain = vec![device_cert.der().to_vec()];
        let header = OvHeader::new(
            &RustCrypto,
            guid,
            RendezvousInfo(Vec::new()),
            "renewal test device",
            mfg.public_key(PkEnc::X509).unwrap(),
            Some(&chain),
            HashAlg::SHA256,
        )
        .unwrap();
        let hmac = RustCrypto
            .hmac(HashAlg::HMAC_SHA256, &[0x5e; 32], &header.to_cbor())
            .unwrap();
        let voucher = OwnershipVoucher::new(&RustCrypto, header, hmac, Some(chain)).unwrap();
        self.store
            .insert_voucher(
                &VoucherBytes::from_voucher(&voucher),
                OnExisting::Refuse,
                NOW,
            )
            .await
            .unwrap();
        let tls_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let spki = tls_key.subject_public_key_info();
        let names = vec![NAME.to_string()];
        let ips: Vec<IpAddr> = vec!["192.168.1.20".parse().unwrap()];
        let cert_der = self
            .ca
            .issue(&spki, &names, &ips, DEFAULT_VALIDITY, NOW - 3600)
            .unwrap();
        self.store
            .upsert_pin(
                &Pin {
                    guid,
                    spki_sha256: Sha256::digest(&spki).into(),
                    cert_der,
                    dns_names: names,
                    ips,
                    webtransport_sha256: Some([0x77; 32]),
                },
                NOW - 3600,
            )
            .await
            .unwrap();
        Device { guid, attestation }
    }

    async fn post(&self, guid: &str, content_type: &str, body: Vec<u8>) -> (StatusCode, String) {
        let request = Request::post(format!("/vouch/v1/devices/{guid}/certificate"))
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn send(&self, guid: Guid, signed: Vec<u8>) -> (StatusCode, String) {
        self.post(&guid.to_string(), CONTENT_TYPE, signed).await
    }

    /// Every row of `pins`, every column quoted by SQLite itself, read over a connection of
    /// its own: what "unchanged" means here.
    async fn pins_table(&self) -> Vec<String> {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", self.db.display()))
            .await
            .unwrap();
        let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info('pins')")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert!(columns.iter().any(|c| c == "renewed_issued_at"));
        let row = columns
            .iter()
            .map(|c| format!("quote({c})"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let rows = // The column names come from SQLite itself.
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT {row} FROM pins ORDER BY guid")))
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        rows
    }

    /// Sends `signed` for `guid`, expects `status`, and checks that the pins did not change.
    async fn refused(&self, guid: Guid, signed: Vec<u8>, status: StatusCode) -> String {
        let before = self.pins_table().await;
        let (got, text) = self.send(guid, signed).await;
        assert_eq!(got, status, "{text}");
        assert_eq!(
            self.pins_table().await,
            before,
            "a refusal changed the pins"
        );
        text
    }
}

fn attestation_key(seed: &[u8]) -> SigningKey {
    SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(seed)).unwrap()
}

/// A fresh P-256 TLS key and its CSR, which asks for a name outside the pin on purpose.
fn csr() -> (rcgen::KeyPair, Vec<u8>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let csr = rcgen::CertificateParams::new(vec!["evil.example.com".to_string()])
        .unwrap()
        .serialize_request(&key)
        .unwrap()
        .der()
        .to_vec();
    (key, csr)
}

fn signed(device: &Device, csr: Vec<u8>, issued_at: i64) -> Vec<u8> {
    RenewRequest {
        guid: device.guid,
        csr,
        issued_at: issued_at as u64,
    }
    .sign(&device.attestation)
    .unwrap()
}

fn san(leaf: &x509_parser::certificate::X509Certificate<'_>) -> Vec<String> {
    leaf.subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::DNSName(d) => d.to_string(),
            GeneralName::IPAddress(b) => format!("ip {}", hex::encode(b)),
            other => format!("{other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn a_signed_request_moves_the_pin_to_the_new_key_for_the_pinned_names() {
    let (w, device) = World::new().await;
    let before = w.store.get_pin(GUID).await.unwrap();
    let (key, csr) = csr();
    let (status, body) = w.send(GUID, signed(&device, csr, NOW)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The chain: the leaf for the new key, signed by the owner CA, then the CA.
    let blocks = pem::parse_many(&body).unwrap();
    assert_eq!(blocks.len(), 2);
    assert!(blocks.iter().all(|b| b.tag() == "CERTIFICATE"));
    assert_eq!(blocks[1].contents(), w.ca.cert_der());
    let (_, leaf) = x509_parser::parse_x509_certificate(blocks[0].contents()).unwrap();
    let (_, ca_cert) = x509_parser::parse_x509_certificate(w.ca.cert_der()).unwrap();
    leaf.verify_signature(Some(ca_cert.public_key())).unwrap();
    assert_eq!(
        leaf.public_key().raw,
        key.subject_public_key_info().as_slice()
    );
    // The pinned names and addresses, not the CSR's.
    assert_eq!(san(&leaf), [NAME, "ip c0a80114"]);
    // The lifetime of an enrolment, from now.
    assert_eq!(leaf.validity().not_before.timestamp(), NOW);
    assert_eq!(
        leaf.validity().not_after.timestamp(),
        NOW + DEFAULT_VALIDITY.as_secs() as i64
    );

    // The pin now names the new key and certificate; the rest stays.
    let after = w.store.get_pin(GUID).await.unwrap();
    let new_spki: [u8; 32] = Sha256::digest(key.subject_public_key_info()).into();
    assert_eq!(after.pin.spki_sha256, new_spki);
    assert_ne!(after.pin.spki_sha256, before.pin.spki_sha256);
    assert_eq!(after.pin.cert_der, blocks[0].contents());
    assert_eq!(after.pin.dns_names, before.pin.dns_names);
    assert_eq!(after.pin.ips, before.pin.ips);
    assert_eq!(after.pin.webtransport_sha256, Some([0x77; 32]));
    assert_eq!(after.created_at, before.created_at);
    assert_eq!(after.updated_at, NOW);
    assert_eq!(w.store.last_renewal(GUID).await.unwrap(), Some(NOW));
}

#[tokio::test]
async fn the_same_request_again_is_409_and_a_later_one_works() {
    let (w, device) = World::new().await;
    let request = signed(&device, csr().1, NOW);
    let (status, body) = w.send(GUID, request.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Replayed, even a little later: refused, nothing changes.
    w.time.store(NOW + 10, Ordering::SeqCst);
    let text = w.refused(GUID, request, StatusCode::CONFLICT).await;
    assert!(text.contains("used already"), "{text}");
    // An older request, signed before the accepted one but still within the window.
    w.refused(
        GUID,
        signed(&device, csr().1, NOW - 5),
        StatusCode::CONFLICT,
    )
    .await;

    // A later one goes through.
    let (key, csr) = csr();
    let (status, body) = w.send(GUID, signed(&device, csr, NOW + 1)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let pin = w.store.get_pin(GUID).await.unwrap();
    let new_spki: [u8; 32] = Sha256::digest(key.subject_public_key_info()).into();
    assert_eq!(pin.pin.spki_sha256, new_spki);
    assert_eq!(w.store.last_renewal(GUID).await.unwrap(), Some(NOW + 1));
}

#[tokio::test]
async fn of_two_renewals_at_once_one_wins_and_the_other_is_409() {
    let (w, device) = World::new().await;
    let request = signed(&device, csr().1, NOW);
    let (a, b) = tokio::join!(w.send(GUID, request.clone()), w.send(GUID, request));
    let mut statuses = [a.0.as_u16(), b.0.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    // The pin holds the certificate the winner received.
    let winner = if a.0 == StatusCode::OK { &a.1 } else { &b.1 };
    let leaf = pem::parse_many(winner).unwrap().remove(0);
    assert_eq!(
        w.store.get_pin(GUID).await.unwrap().pin.cert_der,
        leaf.contents()
    );
}

#[tokio::test]
async fn a_request_signed_by_another_key_is_403() {
    let (w, _) = World::new().await;
    let stranger = Device {
        guid: GUID,
        attestation: attestation_key(b"someone else"),
    };
    let text = w
        .refused(GUID, signed(&stranger, csr().1, NOW), StatusCode::FORBIDDEN)
        .await;
    assert!(text.contains("not signed by the device"), "{text}");
}

#[tokio::test]
async fn a_request_for_another_guid_is_refused() {
    let (w, device) = World::new().await;
    let other = w.add_device(OTHER).await;
    // Signed by the device for the other GUID, sent under its own.
    let for_other = RenewRequest {
        guid: OTHER,
        csr: csr().1,
        issued_at: NOW as u64,
    }
    .sign(&device.attestation)
    .unwrap();
    let text = w.refused(GUID, for_other, StatusCode::FORBIDDEN).await;
    assert!(text.contains(&OTHER.to_string()), "{text}");
    // The device's own request, sent under the other device's GUID.
    w.refused(OTHER, signed(&device, csr().1, NOW), StatusCode::FORBIDDEN)
        .await;
    // The other device's request works for the other device only.
    let (status, body) = w.send(OTHER, signed(&other, csr().1, NOW)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_tampered_request_is_refused() {
    let (w, device) = World::new().await;
    let request = signed(&device, csr().1, NOW);
    // A byte of the CSR inside the payload, and the last byte of the signature.
    for at in [60, request.len() - 1] {
        let mut tampered = request.clone();
        tampered[at] ^= 1;
        w.refused(GUID, tampered, StatusCode::FORBIDDEN).await;
    }
    // The untampered request still works: the refusals recorded nothing.
    let (status, body) = w.send(GUID, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_stale_or_future_request_is_403() {
    let (w, device) = World::new().await;
    let text = w
        .refused(
            GUID,
            signed(&device, csr().1, NOW - 301),
            StatusCode::FORBIDDEN,
        )
        .await;
    assert!(text.contains("more than 300 seconds before now"), "{text}");
    w.refused(
        GUID,
        signed(&device, csr().1, NOW + 301),
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn malformed_oversized_and_mistyped_bodies_are_refused() {
    let (w, device) = World::new().await;
    w.refused(GUID, b"not cbor".to_vec(), StatusCode::BAD_REQUEST)
        .await;
    w.refused(GUID, Vec::new(), StatusCode::BAD_REQUEST).await;
    let mut trailing = signed(&device, csr().1, NOW);
    trailing.push(0);
    w.refused(GUID, trailing, StatusCode::BAD_REQUEST).await;
    w.refused(
        GUID,
        vec![0xd2; MAX_BODY + 1],
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;

    // Not declared as COSE.
    let before = w.pins_table().await;
    let (status, _) = w
        .post(
            &GUID.to_string(),
            "application/json",
            signed(&device, csr().1, NOW),
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(w.pins_table().await, before);
}

#[tokio::test]
async fn a_csr_that_is_not_self_signed_or_not_p256_is_400() {
    let (w, device) = World::new().await;
    // The CSR's own signature broken (its last byte), the request properly signed.
    let mut broken = csr().1;
    let last = broken.len() - 1;
    broken[last] ^= 1;
    let text = w
        .refused(GUID, signed(&device, broken, NOW), StatusCode::BAD_REQUEST)
        .await;
    assert!(text.contains("CSR"), "{text}");
    // Not a CSR at all.
    w.refused(
        GUID,
        signed(&device, vec![0x30, 0x00], NOW),
        StatusCode::BAD_REQUEST,
    )
    .await;
    // A P-384 key.
    let p384 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let csr384 = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(&p384)
        .unwrap()
        .der()
        .to_vec();
    let text = w
        .refused(GUID, signed(&device, csr384, NOW), StatusCode::BAD_REQUEST)
        .await;
    assert!(text.contains("P-256"), "{text}");
}

#[tokio::test]
async fn an_unknown_or_unpinned_device_is_404() {
    let (w, device) = World::new().await;
    // No voucher, no pin.
    let unknown = Device {
        guid: Guid([0x99; 16]),
        attestation: attestation_key(b"device"),
    };
    w.refused(
        unknown.guid,
        signed(&unknown, csr().1, NOW),
        StatusCode::NOT_FOUND,
    )
    .await;
    // A voucher but no pin.
    w.store.delete_pin(GUID).await.unwrap();
    let text = w
        .refused(GUID, signed(&device, csr().1, NOW), StatusCode::NOT_FOUND)
        .await;
    assert!(text.contains("no TLS pin"), "{text}");
    // Not a GUID.
    let (status, _) = w
        .post("printer", CONTENT_TYPE, signed(&device, csr().1, NOW))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn without_an_owner_ca_nothing_is_issued() {
    let (w, device) = World::new().await;
    w.store
        .delete_setting(crate::owner_ca::KEY_SETTING)
        .await
        .unwrap();
    w.store
        .delete_setting(crate::owner_ca::CERT_SETTING)
        .await
        .unwrap();
    w.refused(
        GUID,
        signed(&device, csr().1, NOW),
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
}

#[tokio::test]
async fn renew_pin_compares_the_certificate_and_the_time() {
    let (w, _) = World::new().await;
    let pin = w.store.get_pin(GUID).await.unwrap().pin;
    let renewal = PinRenewal {
        spki_sha256: [1; 32],
        cert_der: vec![0x30, 0x00],
        issued_at: NOW,
    };
    // Another certificate than the stored one: a lost race.
    assert!(matches!(
        w.store.renew_pin(GUID, b"other", &renewal, NOW).await,
        Err(StoreError::Conflict(Entity::Pin))
    ));
    assert!(matches!(
        w.store.renew_pin(OTHER, &pin.cert_der, &renewal, NOW).await,
        Err(StoreError::NotFound(Entity::Pin))
    ));
    assert_eq!(w.store.last_renewal(GUID).await.unwrap(), None);
    w.store
        .renew_pin(GUID, &pin.cert_der, &renewal, NOW)
        .await
        .unwrap();
    // The same time again, with the certificate now stored: not later, refused.
    assert!(matches!(
        w.store.renew_pin(GUID, &[0x30, 0x00], &renewal, NOW).await,
        Err(StoreError::Conflict(Entity::Pin))
    ));
    // An upsert at a new onboarding under the same GUID keeps the last renewal's time.
    w.store.upsert_pin(&pin, NOW + 5).await.unwrap();
    assert_eq!(w.store.last_renewal(GUID).await.unwrap(), Some(NOW));
    assert!(matches!(
        w.store.last_renewal(OTHER).await,
        Err(StoreError::NotFound(Entity::Pin))
    ));
}
