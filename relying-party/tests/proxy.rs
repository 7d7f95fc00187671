//! The pinning proxy (`/devices/{guid}/…`) against devices on loopback: the pinned key is
//! reached under the device's name, another key on the same address is refused with 502, and
//! devices without a pin or an address are 404. Also the device endpoints in the store and
//! `vouch-rp pins endpoint`.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tower::ServiceExt as _;
use vouch_authenticator::page::{PAGE_MARKER, PageConfig, RunningPage, serve_page};
use vouch_protocol::types::Guid;
use vouch_relying_party::pinning::spki_sha256;
use vouch_relying_party::proxy::{self, MAX_BODY};
use vouch_relying_party::store::{DeviceEndpoint, Entity, Pin, SqliteStore, Store, StoreError};

const DEVICE_NAME: &str = "dev1.home.arpa";

struct Device {
    cert_pem: String,
    cert_der: Vec<u8>,
    key_pem: String,
}

fn self_signed(name: &str) -> Device {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec![name.to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    Device {
        cert_pem: cert.pem(),
        cert_der: cert.der().to_vec(),
        key_pem: key.serialize_pem(),
    }
}

async fn page(device: &Device, listen: SocketAddr) -> RunningPage {
    serve_page(PageConfig {
        listen,
        cert_chain_pem: device.cert_pem.clone(),
        key_pem: device.key_pem.clone(),
        title: "proxied".into(),
    })
    .await
    .expect("page serves")
}

fn pin_of(guid: Guid, device: &Device) -> Pin {
    Pin {
        guid,
        spki_sha256: spki_sha256(&device.cert_der).unwrap(),
        cert_der: device.cert_der.clone(),
        dns_names: vec![DEVICE_NAME.into()],
        ips: vec![],
        webtransport_sha256: None,
    }
}

fn endpoint(addr: SocketAddr) -> DeviceEndpoint {
    DeviceEndpoint::parse(&format!("https://{addr}")).unwrap()
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn request(app: &Router, method: Method, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(builder.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

async fn get(app: &Router, path: &str) -> Answer {
    request(app, Method::GET, path, &[]).await
}

#[tokio::test]
async fn the_pinned_device_is_reached_and_the_same_address_with_another_key_is_refused() {
    let device = self_signed(DEVICE_NAME);
    let impostor = self_signed(DEVICE_NAME);
    let guid = Guid([0xd1; 16]);
    let running = page(&device, "127.0.0.1:0".parse().unwrap()).await;
    let addr = running.addr;

    let store = SqliteStore::memory().await.unwrap();
    store.upsert_pin(&pin_of(guid, &device), 10).await.unwrap();
    store
        .set_device_endpoint(guid, &endpoint(addr), 11)
        .await
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let app = proxy::routes(store.clone(), proxy::Access::Anyone);

    let answer = get(&app, &format!("/devices/{guid}/")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(answer.body.contains(PAGE_MARKER), "{}", answer.body);
    assert!(
        answer.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{:?}",
        answer.headers
    );
    // The device's page runs sandboxed, away from the relying party's origin.
    assert_eq!(
        answer.headers[header::CONTENT_SECURITY_POLICY],
        "sandbox allow-scripts"
    );
    // Deeper paths are forwarded too, and the device's own status comes back.
    let health = get(&app, &format!("/devices/{guid}/healthz")).await;
    assert_eq!(
        (health.status, health.body.as_str()),
        (StatusCode::OK, "ok")
    );
    let missing = get(&app, &format!("/devices/{guid}/no-such-page")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(!missing.body.contains(PAGE_MARKER));
    // HEAD is forwarded; other methods are not.
    let head = request(&app, Method::HEAD, &format!("/devices/{guid}/"), &[]).await;
    assert_eq!((head.status, head.body.as_str()), (StatusCode::OK, ""));
    let post = request(&app, Method::POST, &format!("/devices/{guid}/"), &[]).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);

    // The device restarts on the same address with another key: refused, nothing passed on.
    running.stop().await;
    let running = page(&impostor, addr).await;
    let answer = get(&app, &format!("/devices/{guid}/")).await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY, "{}", answer.body);
    assert!(
        answer
            .body
            .contains("the device's key does not match its pin"),
        "{}",
        answer.body
    );
    assert!(!answer.body.contains(PAGE_MARKER), "{}", answer.body);

    // Once the owner pins the new key, the cached client for the old pin is not used again.
    store
        .upsert_pin(&pin_of(guid, &impostor), 20)
        .await
        .unwrap();
    let answer = get(&app, &format!("/devices/{guid}/")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(answer.body.contains(PAGE_MARKER), "{}", answer.body);
    running.stop().await;
}

#[tokio::test]
async fn devices_without_a_pin_or_an_endpoint_are_not_found() {
    let store = SqliteStore::memory().await.unwrap();
    let pinned = Guid([0x0e; 16]);
    store
        .upsert_pin(&pin_of(pinned, &self_signed(DEVICE_NAME)), 10)
        .await
        .unwrap();
    let app = proxy::routes(Arc::new(store), proxy::Access::Anyone);

    let unknown = Guid([0x0f; 16]);
    let answer = get(&app, &format!("/devices/{unknown}/")).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(
        answer.body.contains("has no pinned TLS key"),
        "{}",
        answer.body
    );

    let answer = get(&app, &format!("/devices/{pinned}/some/page")).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(
        answer.body.contains("its address is not known"),
        "{}",
        answer.body
    );

    let answer = get(&app, "/devices/not-a-guid/").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(answer.body.contains("not a device GUID"), "{}", answer.body);

    // Without the trailing slash, a redirect to the page (relative links resolve under it).
    let answer = get(&app, &format!("/devices/{pinned}")).await;
    assert_eq!(answer.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(answer.headers[header::LOCATION], format!("{pinned}/"));
}

/// A one-connection TLS server that answers with what it saw: the TLS server name, the request
/// line and the headers (lower case, one per line), or with `respond`'s head alone.
fn recording_device(
    device: &Device,
    respond: Option<String>,
) -> (SocketAddr, std::thread::JoinHandle<()>) {
    let chain = CertificateDer::pem_slice_iter(device.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(device.key_pem.as_bytes()).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut tls = rustls::StreamOwned::new(rustls::ServerConnection::new(config).unwrap(), tcp);
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            tls.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let response = respond.unwrap_or_else(|| {
            let body = format!(
                "sni={}\n{}",
                tls.conn.server_name().unwrap_or("(none)"),
                String::from_utf8_lossy(&head).to_lowercase()
            );
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            )
        });
        tls.write_all(response.as_bytes()).unwrap();
        tls.conn.send_close_notify();
        let _ = tls.flush();
    });
    (addr, thread)
}

#[tokio::test]
async fn the_device_sees_its_own_name_the_path_and_only_allowed_headers() {
    let device = self_signed(DEVICE_NAME);
    let (addr, device_thread) = recording_device(&device, None);
    let guid = Guid([0xd2; 16]);
    let store = SqliteStore::memory().await.unwrap();
    store.upsert_pin(&pin_of(guid, &device), 10).await.unwrap();
    store
        .set_device_endpoint(guid, &endpoint(addr), 11)
        .await
        .unwrap();
    let app = proxy::routes(Arc::new(store), proxy::Access::Anyone);

    let answer = request(
        &app,
        Method::GET,
        &format!("/devices/{guid}/a/b%20c?x=1&y=2"),
        &[
            ("accept", "text/html"),
            ("accept-language", "fr"),
            ("cookie", "session=secret"),
            ("authorization", "Bearer secret"),
        ],
    )
    .await;
    device_thread.join().unwrap();
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let seen = answer.body;
    // TLS server name and Host are the device's name, not the address it was reached at.
    assert!(seen.contains(&format!("sni={DEVICE_NAME}\n")), "{seen}");
    assert!(
        seen.contains(&format!("\nhost: {DEVICE_NAME}:{}\r\n", addr.port())),
        "{seen}"
    );
    assert!(seen.contains("get /a/b%20c?x=1&y=2 http/1.1\r\n"), "{seen}");
    assert!(seen.contains("\naccept: text/html\r\n"), "{seen}");
    assert!(seen.contains("\naccept-language: fr\r\n"), "{seen}");
    assert!(!seen.contains("secret"), "{seen}");
    assert_eq!(answer.headers[header::CONTENT_TYPE], "text/plain");
}

#[tokio::test]
async fn a_response_over_the_size_cap_is_not_passed_on() {
    let device = self_signed(DEVICE_NAME);
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\n\r\n{PAGE_MARKER}",
        MAX_BODY + 1
    );
    let (addr, device_thread) = recording_device(&device, Some(head));
    let guid = Guid([0xd3; 16]);
    let store = SqliteStore::memory().await.unwrap();
    store.upsert_pin(&pin_of(guid, &device), 10).await.unwrap();
    store
        .set_device_endpoint(guid, &endpoint(addr), 11)
        .await
        .unwrap();
    let app = proxy::routes(Arc::new(store), proxy::Access::Anyone);

    let answer = get(&app, &format!("/devices/{guid}/")).await;
    device_thread.join().unwrap();
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY, "{}", answer.body);
    assert!(answer.body.contains("larger than 8 MiB"), "{}", answer.body);
    assert!(!answer.body.contains(PAGE_MARKER), "{}", answer.body);
}

#[test]
fn only_https_base_urls_are_device_endpoints() {
    for refused in [
        "http://127.0.0.1:8443",
        "ftp://dev1.home.arpa",
        "https://user:pw@127.0.0.1:8443",
        "https://127.0.0.1:8443/admin",
        "https://127.0.0.1:8443/?q=1",
        "https://127.0.0.1:8443/#top",
        "127.0.0.1:8443",
        "",
    ] {
        assert!(DeviceEndpoint::parse(refused).is_err(), "{refused:?}");
    }
    let err = DeviceEndpoint::parse("http://127.0.0.1:8443").unwrap_err();
    assert!(err.to_string().contains("only https"), "{err}");

    let ip = DeviceEndpoint::parse("https://127.0.0.1:8443/").unwrap();
    assert_eq!(ip.as_origin(), "https://127.0.0.1:8443");
    assert_eq!((ip.port(), ip.ip()), (8443, Some([127, 0, 0, 1].into())));
    let name = DeviceEndpoint::parse("https://Dev1.Home.Arpa").unwrap();
    assert_eq!(
        (name.host(), name.port(), name.ip()),
        ("dev1.home.arpa", 443, None)
    );
    assert_eq!(name.as_origin(), "https://dev1.home.arpa");
    let v6 = DeviceEndpoint::parse("https://[fd00::7]:8443").unwrap();
    assert_eq!(v6.ip(), Some("fd00::7".parse().unwrap()));
    assert_eq!(v6.to_string(), "https://[fd00::7]:8443");
}

#[tokio::test]
async fn device_endpoints_belong_to_pins_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path()).await.unwrap();
    let a = Guid([0xa0; 16]);
    let b = Guid([0x0b; 16]);
    let first = DeviceEndpoint::parse("https://192.168.1.7:8443").unwrap();
    let moved = DeviceEndpoint::parse("https://dev1.home.arpa:9443").unwrap();

    // No pin, no endpoint.
    assert!(matches!(
        store.set_device_endpoint(a, &first, 1).await,
        Err(StoreError::NotFound(Entity::Pin))
    ));
    store
        .upsert_pin(&pin_of(a, &self_signed(DEVICE_NAME)), 10)
        .await
        .unwrap();
    store
        .upsert_pin(&pin_of(b, &self_signed(DEVICE_NAME)), 10)
        .await
        .unwrap();
    assert!(matches!(
        store.get_device_endpoint(a).await,
        Err(StoreError::NotFound(Entity::DeviceEndpoint))
    ));

    store.set_device_endpoint(a, &first, 11).await.unwrap();
    assert_eq!(store.get_device_endpoint(a).await.unwrap(), first);
    assert!(matches!(
        store.get_device_endpoint(b).await,
        Err(StoreError::NotFound(Entity::DeviceEndpoint))
    ));
    // Setting again replaces.
    store.set_device_endpoint(a, &moved, 12).await.unwrap();
    assert_eq!(store.get_device_endpoint(a).await.unwrap(), moved);

    // A new key for the device keeps its address.
    store
        .upsert_pin(&pin_of(a, &self_signed(DEVICE_NAME)), 20)
        .await
        .unwrap();
    assert_eq!(store.get_device_endpoint(a).await.unwrap(), moved);

    // Endpoints survive closing and reopening the file.
    store.set_device_endpoint(b, &first, 21).await.unwrap();
    store.close().await;
    let store = SqliteStore::open_dir(dir.path()).await.unwrap();
    assert_eq!(store.get_device_endpoint(a).await.unwrap(), moved);
    assert_eq!(store.get_device_endpoint(b).await.unwrap(), first);

    // Deleting the pin deletes the endpoint; pinning again starts without one.
    store.delete_pin(a).await.unwrap();
    assert!(matches!(
        store.get_device_endpoint(a).await,
        Err(StoreError::NotFound(Entity::DeviceEndpoint))
    ));
    store
        .upsert_pin(&pin_of(a, &self_signed(DEVICE_NAME)), 30)
        .await
        .unwrap();
    assert!(matches!(
        store.get_device_endpoint(a).await,
        Err(StoreError::NotFound(Entity::DeviceEndpoint))
    ));
    assert_eq!(store.get_device_endpoint(b).await.unwrap(), first);
    store.close().await;
}

fn vouch_rp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vouch-rp"))
        .args(args)
        .output()
        .expect("vouch-rp runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn pins_endpoint_records_https_urls_of_pinned_devices_only() {
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("db");
    let pinned = Guid([0x01; 16]);
    {
        let store = SqliteStore::open_dir(&db_dir).await.unwrap();
        store
            .upsert_pin(&pin_of(pinned, &self_signed(DEVICE_NAME)), 10)
            .await
            .unwrap();
        store.close().await;
    }
    let db = db_dir.to_str().unwrap();
    let guid = pinned.to_string();
    let endpoint_cmd = |guid: &str, url: &str| {
        vouch_rp(&[
            "pins",
            "endpoint",
            "--database",
            db,
            "--guid",
            guid,
            "--url",
            url,
        ])
    };

    let out = endpoint_cmd(&guid, "http://192.168.1.7:8443");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("only https"),
        "{}",
        text(&out.stderr)
    );

    let unpinned = Guid([0x02; 16]).to_string();
    let out = endpoint_cmd(&unpinned, "https://192.168.1.7:8443");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("has no pin"),
        "{}",
        text(&out.stderr)
    );

    let out = endpoint_cmd("xyz", "https://192.168.1.7:8443");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not a GUID"),
        "{}",
        text(&out.stderr)
    );

    let out = endpoint_cmd(&guid, "https://192.168.1.7:8443/");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!(
            "device {guid} is reached at https://192.168.1.7:8443"
        )),
        "{}",
        text(&out.stdout)
    );

    let store = SqliteStore::open_dir(&db_dir).await.unwrap();
    assert_eq!(
        store.get_device_endpoint(pinned).await.unwrap(),
        DeviceEndpoint::parse("https://192.168.1.7:8443").unwrap()
    );
    assert!(matches!(
        store.get_device_endpoint(Guid([0x02; 16])).await,
        Err(StoreError::NotFound(Entity::DeviceEndpoint))
    ));
    store.close().await;
}

/// `Access::Loopback` admits a client whose peer address is loopback, refuses one on another
/// address, and refuses a request whose peer address the server did not record.
#[tokio::test]
async fn the_loopback_rule_admits_only_clients_on_this_machine() {
    let device = self_signed(DEVICE_NAME);
    let guid = Guid([0xd7; 16]);
    let running = page(&device, "127.0.0.1:0".parse().unwrap()).await;
    let store = SqliteStore::memory().await.unwrap();
    store.upsert_pin(&pin_of(guid, &device), 10).await.unwrap();
    store
        .set_device_endpoint(guid, &endpoint(running.addr), 11)
        .await
        .unwrap();
    let app = proxy::routes(Arc::new(store), proxy::Access::Loopback);
    let path = format!("/devices/{guid}/");

    let from = |peer: &str| {
        let mut request = Request::builder().uri(&path).body(Body::empty()).unwrap();
        request.extensions_mut().insert(axum::extract::ConnectInfo(
            peer.parse::<SocketAddr>().unwrap(),
        ));
        request
    };
    let local = app.clone().oneshot(from("127.0.0.1:40000")).await.unwrap();
    assert_eq!(local.status(), StatusCode::OK);
    let body = axum::body::to_bytes(local.into_body(), usize::MAX)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&body).contains(PAGE_MARKER));

    let local6 = app.clone().oneshot(from("[::1]:40000")).await.unwrap();
    assert_eq!(local6.status(), StatusCode::OK);

    let remote = app
        .clone()
        .oneshot(from("192.168.1.20:40000"))
        .await
        .unwrap();
    assert_eq!(remote.status(), StatusCode::FORBIDDEN);

    let unknown = get(&app, &path).await;
    assert_eq!(unknown.status, StatusCode::FORBIDDEN);
    assert!(
        unknown.body.contains("only clients on this machine"),
        "{}",
        unknown.body
    );
    running.stop().await;
}
