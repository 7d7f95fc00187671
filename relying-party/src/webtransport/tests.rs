//! The report endpoint and the page through the router (`oneshot`, no socket), over a real
//! SQLite store in a temporary directory, with devices whose vouchers carry a real device
//! certificate.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt as _;
use vouch_authenticator::webtransport::MAX_VALIDITY_SECS;
use vouch_protocol::cbor::Cbor as _;
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{CryptoProvider as _, RustCrypto, Signer as _, SigningKey};
use vouch_protocol::types::{HashAlg, PkEnc, PkType, RendezvousInfo};
use vouch_protocol::voucher::OvHeader;

use super::*;
use crate::store::{OnExisting, Pin, SqliteStore, VoucherBytes, WebTransportUrl};

const NOW: i64 = 1_800_000_000;
const C: RustCrypto = RustCrypto;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    app: Router,
}

/// A device attestation key and the voucher naming it (chain: one self-signed certificate).
fn device(guid: Guid, seed: &[u8]) -> (SigningKey, OwnershipVoucher) {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["device.example".into()])
        .unwrap()
        .self_signed(&kp)
        .unwrap();
    let key = SigningKey::from_der(&kp.serialize_der()).unwrap();
    let mfg = SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(seed)).unwrap();
    let chain = vec![cert.der().to_vec()];
    let header = OvHeader::new(
        &C,
        guid,
        RendezvousInfo::default(),
        "webtransport test device",
        mfg.public_key(PkEnc::X509).unwrap(),
        Some(&chain),
        HashAlg::SHA256,
    )
    .unwrap();
    let hmac = C
        .hmac(HashAlg::HMAC_SHA256, &[9u8; 32], &header.to_cbor())
        .unwrap();
    let voucher = OwnershipVoucher::new(&C, header, hmac, Some(chain)).unwrap();
    (key, voucher)
}

fn pin(guid: Guid) -> Pin {
    Pin {
        guid,
        spki_sha256: [1; 32],
        cert_der: vec![0x30, 0x00],
        dns_names: vec!["dev.home.arpa".into()],
        ips: Vec::new(),
        webtransport_sha256: Some([0xee; 32]),
    }
}

const A: Guid = Guid([0xa1; 16]);
const B: Guid = Guid([0xb2; 16]);
/// Has a voucher but no pin.
const UNPINNED: Guid = Guid([0xc3; 16]);

async fn fixture() -> (Fixture, SigningKey, SigningKey) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open_dir(dir.path()).await.unwrap());
    let mut keys = Vec::new();
    for (guid, seed) in [(A, b"a"), (B, b"b"), (UNPINNED, b"c")] {
        let (key, voucher) = device(guid, seed);
        store
            .insert_voucher(
                &VoucherBytes::from_voucher(&voucher),
                OnExisting::Refuse,
                NOW,
            )
            .await
            .unwrap();
        if guid != UNPINNED {
            store.upsert_pin(&pin(guid), NOW).await.unwrap();
        }
        keys.push(key);
    }
    let clock: Clock = Arc::new(|| NOW);
    let app = routes(store.clone(), clock);
    let b = keys.remove(1);
    let a = keys.remove(0);
    (
        Fixture {
            _dir: dir,
            store,
            app,
        },
        a,
        b,
    )
}

fn signed(guid: Guid, hash: u8, not_after: i64, key: &SigningKey) -> Vec<u8> {
    WtRotation {
        guid,
        successor_cert_sha256: [hash; 32],
        not_after: not_after as u64,
    }
    .sign(key)
    .unwrap()
}

impl Fixture {
    async fn post(&self, guid: &str, body: Vec<u8>) -> (StatusCode, String) {
        let request = Request::post(format!("/vouch/v1/devices/{guid}/webtransport-hash"))
            .header("content-type", "application/cose; cose-type=\"cose-sign1\"")
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        self.send(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, String) {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    async fn pinned(&self, guid: Guid) -> (Option<[u8; 32]>, Option<i64>) {
        let pin = self.store.get_webtransport_pin(guid).await.unwrap();
        (pin.sha256, pin.not_after)
    }
}

#[tokio::test]
async fn an_accepted_report_moves_the_pin_and_a_later_one_moves_it_again() {
    let (f, a, _) = fixture().await;
    assert_eq!(
        f.pinned(A).await,
        (Some([0xee; 32]), None),
        "TO2's first hash"
    );
    let (status, text) = f
        .post(&A.to_string(), signed(A, 0x01, NOW + 1000, &a))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    assert_eq!(f.pinned(A).await, (Some([0x01; 32]), Some(NOW + 1000)));
    let (status, text) = f
        .post(&A.to_string(), signed(A, 0x02, NOW + 1001, &a))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    assert_eq!(f.pinned(A).await, (Some([0x02; 32]), Some(NOW + 1001)));
    // The other device's pin did not move.
    assert_eq!(f.pinned(B).await, (Some([0xee; 32]), None));
}

#[tokio::test]
async fn a_replayed_or_older_report_is_409_and_changes_nothing() {
    let (f, a, _) = fixture().await;
    let first = signed(A, 0x01, NOW + 1000, &a);
    assert_eq!(
        f.post(&A.to_string(), first.clone()).await.0,
        StatusCode::NO_CONTENT
    );
    let newer = signed(A, 0x02, NOW + 2000, &a);
    assert_eq!(
        f.post(&A.to_string(), newer.clone()).await.0,
        StatusCode::NO_CONTENT
    );
    // The same report again, and the older one.
    for replay in [newer, first] {
        let (status, text) = f.post(&A.to_string(), replay).await;
        assert_eq!(status, StatusCode::CONFLICT, "{text}");
        assert!(text.contains("stale or replayed"), "{text}");
        assert_eq!(f.pinned(A).await, (Some([0x02; 32]), Some(NOW + 2000)));
    }
    // Another hash with the same notAfter is no later either.
    let (status, _) = f
        .post(&A.to_string(), signed(A, 0x03, NOW + 2000, &a))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // A certificate already expired is stale too.
    let (status, _) = f.post(&A.to_string(), signed(A, 0x04, NOW, &a)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(f.pinned(A).await, (Some([0x02; 32]), Some(NOW + 2000)));
}

#[tokio::test]
async fn a_report_signed_by_another_key_is_403_and_changes_nothing() {
    let (f, _, b) = fixture().await;
    let stranger = SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"x")).unwrap();
    for key in [&b, &stranger] {
        let (status, text) = f
            .post(&A.to_string(), signed(A, 0x01, NOW + 1000, key))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
        assert!(text.contains("not signed by the device"), "{text}");
    }
    assert_eq!(f.pinned(A).await, (Some([0xee; 32]), None));
}

#[tokio::test]
async fn a_report_for_another_guid_is_403_and_changes_nothing() {
    let (f, a, _) = fixture().await;
    // Device A's report, for A, sent to B's path: B's key does not verify it.
    let (status, text) = f
        .post(&B.to_string(), signed(A, 0x01, NOW + 1000, &a))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    // Signed by A but naming B, sent to A's path.
    let (status, text) = f
        .post(&A.to_string(), signed(B, 0x01, NOW + 1000, &a))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(text.contains(&B.to_string()), "{text}");
    assert_eq!(f.pinned(A).await, (Some([0xee; 32]), None));
    assert_eq!(f.pinned(B).await, (Some([0xee; 32]), None));
}

#[tokio::test]
async fn garbage_oversized_and_unknown_are_refused_and_change_nothing() {
    let (f, a, _) = fixture().await;
    let (status, text) = f.post(&A.to_string(), b"not a report".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("malformed"), "{text}");
    let (status, _) = f.post(&A.to_string(), Vec::new()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A valid report with a byte after it.
    let mut trailing = signed(A, 0x01, NOW + 1000, &a);
    trailing.push(0);
    assert_eq!(
        f.post(&A.to_string(), trailing).await.0,
        StatusCode::BAD_REQUEST
    );
    let (status, text) = f.post(&A.to_string(), vec![0xd2; MAX_REPORT + 1]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    // A certificate valid for longer than a browser pins one.
    let too_long = signed(A, 0x01, NOW + MAX_VALIDITY_SECS as i64 + 1, &a);
    assert_eq!(
        f.post(&A.to_string(), too_long).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        f.post("not-a-guid", signed(A, 1, NOW + 1000, &a)).await.0,
        StatusCode::BAD_REQUEST
    );
    // No voucher for that GUID; a voucher but no pin.
    let nobody = Guid([0xdd; 16]);
    let (status, text) = f
        .post(&nobody.to_string(), signed(nobody, 1, NOW + 1000, &a))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
    assert_eq!(f.pinned(A).await, (Some([0xee; 32]), None));
}

#[tokio::test]
async fn a_device_without_a_pin_is_404() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open_dir(dir.path()).await.unwrap());
    let (key, voucher) = device(UNPINNED, b"c");
    store
        .insert_voucher(
            &VoucherBytes::from_voucher(&voucher),
            OnExisting::Refuse,
            NOW,
        )
        .await
        .unwrap();
    let app = routes(store.clone(), Arc::new(|| NOW));
    let f = Fixture {
        _dir: dir,
        store,
        app,
    };
    let (status, text) = f
        .post(&UNPINNED.to_string(), signed(UNPINNED, 1, NOW + 1000, &key))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
    assert!(text.contains("no pin"), "{text}");
}

#[tokio::test]
async fn the_page_carries_the_url_and_the_pinned_hash() {
    let (f, a, _) = fixture().await;
    // No URL recorded yet.
    let (status, text) = f.get(&format!("/webtransport/{A}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
    assert!(text.contains("--webtransport"), "{text}");
    let url = WebTransportUrl::parse("https://127.0.0.1:4433/").unwrap();
    f.store.set_webtransport_url(A, &url, NOW).await.unwrap();
    assert_eq!(
        f.post(&A.to_string(), signed(A, 0x5a, NOW + 1000, &a))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let response = f
        .app
        .clone()
        .oneshot(
            Request::get(format!("/webtransport/{A}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    let script_hash = BASE64.encode(Sha256::digest(SCRIPT.as_bytes()));
    assert!(csp.contains(&format!("'sha256-{script_hash}'")), "{csp}");
    let html = String::from_utf8(
        axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(
        html.contains("\"url\":\"https://127.0.0.1:4433/\""),
        "{html}"
    );
    assert!(
        html.contains(&format!("\"sha256\":\"{}\"", BASE64.encode([0x5a; 32]))),
        "{html}"
    );
    assert!(html.contains(&hex::encode([0x5a; 32])), "{html}");
    assert!(
        html.contains(&format!("<script>{SCRIPT}</script>")),
        "{html}"
    );
    // Unknown device, bad GUID.
    assert_eq!(
        f.get(&format!("/webtransport/{}", Guid([0xdd; 16])))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        f.get("/webtransport/x%3Cy").await.0,
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn what_goes_into_the_page_cannot_leave_its_place() {
    let json = serde_json::json!({ "url": "https://h/</script><script>alert(1)</script>&<!--" })
        .to_string();
    let safe = json_in_html(&json);
    assert!(
        !safe.contains('<') && !safe.contains('>') && !safe.contains('&'),
        "{safe}"
    );
    // Still the same JSON.
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&safe).unwrap(),
        serde_json::from_str::<serde_json::Value>(&json).unwrap()
    );
    assert_eq!(
        html_escape("<a href=\"x\">'&'</a>"),
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
    );
    let html = page_html(A, "https://h/\"<b>", &[0; 32], Some(5));
    assert!(html.contains("https://h/&quot;&lt;b&gt;"), "{html}");
    assert!(!html.contains("\"<b>"), "{html}");
}

#[test]
fn webtransport_urls_are_https_without_credentials_query_or_fragment() {
    for refused in [
        "http://127.0.0.1:4433/",
        "https://user@127.0.0.1:4433/",
        "https://127.0.0.1:4433/?q",
        "https://127.0.0.1:4433/#f",
        "not a url",
    ] {
        assert!(WebTransportUrl::parse(refused).is_err(), "{refused}");
    }
    assert_eq!(
        WebTransportUrl::parse("https://127.0.0.1:4433")
            .unwrap()
            .as_str(),
        "https://127.0.0.1:4433/"
    );
}

#[tokio::test]
async fn the_url_needs_a_pin_and_goes_with_it() {
    let (f, a, _) = fixture().await;
    let url = WebTransportUrl::parse("https://192.168.1.7:4433/").unwrap();
    assert!(matches!(
        f.store.set_webtransport_url(UNPINNED, &url, NOW).await,
        Err(StoreError::NotFound(Entity::Pin))
    ));
    assert!(matches!(
        f.store.get_webtransport_pin(UNPINNED).await,
        Err(StoreError::NotFound(Entity::Pin))
    ));
    f.store.set_webtransport_url(A, &url, NOW).await.unwrap();
    assert_eq!(
        f.post(&A.to_string(), signed(A, 0x01, NOW + 1000, &a))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    // A new TLS pin under the same GUID keeps the URL and the notAfter of the replay rule.
    f.store.upsert_pin(&pin(A), NOW + 1).await.unwrap();
    let kept = f.store.get_webtransport_pin(A).await.unwrap();
    assert_eq!(kept.url, Some(url.clone()));
    assert_eq!(kept.not_after, Some(NOW + 1000));
    assert_eq!(
        f.post(&A.to_string(), signed(A, 0x01, NOW + 1000, &a))
            .await
            .0,
        StatusCode::CONFLICT
    );
    let listed = f.store.list_webtransport_pins().await.unwrap();
    assert_eq!(
        listed.iter().map(|p| p.guid).collect::<Vec<_>>(),
        vec![A, B]
    );
    f.store.delete_pin(A).await.unwrap();
    assert!(matches!(
        f.store.get_webtransport_pin(A).await,
        Err(StoreError::NotFound(Entity::Pin))
    ));
    // Pinned again: no URL left over.
    f.store.upsert_pin(&pin(A), NOW + 2).await.unwrap();
    assert_eq!(f.store.get_webtransport_pin(A).await.unwrap().url, None);
}
