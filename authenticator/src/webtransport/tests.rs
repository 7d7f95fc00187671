//! The WebTransport server against wtransport's own client pinning the certificate hash, as a
//! browser does; the certificate checks; the rotation report's HTTP form.

use std::net::SocketAddr;

use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{RustCrypto, SigningKey};
use vouch_protocol::types::{PkEnc, PkType};
use wtransport::tls::Sha256Digest;
use wtransport::{ClientConfig, Endpoint};

use super::*;

const DAY: u64 = 86_400;

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn names() -> Vec<String> {
    vec!["127.0.0.1".to_owned()]
}

/// Opens a session to `addr` pinning `hash`, sends `message` on a bidirectional stream and
/// returns what came back.
async fn ping(addr: SocketAddr, hash: [u8; 32], message: &[u8]) -> anyhow::Result<Vec<u8>> {
    let config = ClientConfig::builder()
        .with_bind_default()
        .with_server_certificate_hashes([Sha256Digest::new(hash)])
        .build();
    let connection = Endpoint::client(config)?
        .connect(format!("https://{addr}/"))
        .await?;
    let (mut send, mut recv) = connection.open_bi().await?.await?;
    send.write_all(message).await?;
    send.finish().await?;
    let mut echoed = Vec::new();
    let mut buf = [0u8; 1024];
    while let Some(n) = recv.read(&mut buf).await? {
        echoed.extend_from_slice(&buf[..n]);
    }
    Ok(echoed)
}

#[tokio::test]
async fn a_pinned_client_gets_its_stream_echoed_and_another_hash_fails() {
    let certificate = WtCertificate::generate(&names()).unwrap();
    let hash = certificate.sha256();
    assert_eq!(hash, <[u8; 32]>::from(Sha256::digest(certificate.der())));
    assert_eq!(
        certificate.not_after() - certificate.not_before(),
        MAX_VALIDITY_SECS
    );
    let server = serve_webtransport(WtConfig {
        listen: loopback(),
        certificate,
    })
    .await
    .unwrap();
    assert_ne!(server.addr.port(), 0);
    assert_eq!(server.cert_sha256, hash);

    let echoed = ping(server.addr, hash, b"ping").await.unwrap();
    assert_eq!(echoed, b"ping");
    // Larger than one read: echoed whole, in order.
    let long: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
    assert_eq!(ping(server.addr, hash, &long).await.unwrap(), long);

    let mut wrong = hash;
    wrong[0] ^= 1;
    assert!(ping(server.addr, wrong, b"ping").await.is_err());
    server.stop().await;
}

#[tokio::test]
async fn datagrams_are_echoed() {
    let certificate = WtCertificate::generate(&names()).unwrap();
    let hash = certificate.sha256();
    let server = serve_webtransport(WtConfig {
        listen: loopback(),
        certificate,
    })
    .await
    .unwrap();
    let config = ClientConfig::builder()
        .with_bind_default()
        .with_server_certificate_hashes([Sha256Digest::new(hash)])
        .build();
    let connection = Endpoint::client(config)
        .unwrap()
        .connect(format!("https://{}/", server.addr))
        .await
        .unwrap();
    connection.send_datagram(b"dgram").unwrap();
    let back = tokio::time::timeout(Duration::from_secs(10), connection.receive_datagram())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&back.payload()[..], b"dgram");
    server.stop().await;
}

#[tokio::test]
async fn a_stopped_server_answers_no_more() {
    let certificate = WtCertificate::generate(&names()).unwrap();
    let hash = certificate.sha256();
    let server = serve_webtransport(WtConfig {
        listen: loopback(),
        certificate,
    })
    .await
    .unwrap();
    let addr = server.addr;
    server.stop().await;
    let attempt = tokio::time::timeout(Duration::from_secs(20), ping(addr, hash, b"ping")).await;
    assert!(!matches!(attempt, Ok(Ok(_))), "{attempt:?}");
}

#[test]
fn a_certificate_valid_for_more_than_fourteen_days_is_refused() {
    let now = unix_now().unwrap();
    let err = WtCertificate::generate_valid(&names(), now - DAY, now + 14 * DAY)
        .unwrap_err()
        .to_string();
    assert!(err.contains("14 days at most"), "{err}");
    // Exactly 14 days is what browsers accept.
    WtCertificate::generate_valid(&names(), now - DAY, now + 13 * DAY).unwrap();
}

#[test]
fn a_certificate_of_another_key_type_is_refused() {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let mut params = rcgen::CertificateParams::new(names()).unwrap();
    let now = unix_now().unwrap();
    params.not_before = offset_date_time(now).unwrap();
    params.not_after = offset_date_time(now + DAY).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let err = WtCertificate::from_der(cert.der().to_vec(), key.serialize_der())
        .unwrap_err()
        .to_string();
    assert!(err.contains("not ECDSA P-256"), "{err}");
}

#[tokio::test]
async fn an_expired_certificate_or_a_foreign_key_does_not_start() {
    let now = unix_now().unwrap();
    let expired = WtCertificate::generate_valid(&names(), now - 3 * DAY, now - DAY).unwrap();
    let err = serve_webtransport(WtConfig {
        listen: loopback(),
        certificate: expired,
    })
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("not valid now"), "{err}");

    let a = WtCertificate::generate(&names()).unwrap();
    let b = WtCertificate::generate(&names()).unwrap();
    let mixed = WtCertificate::from_der(a.der().to_vec(), b.key_pkcs8_der.to_vec()).unwrap();
    let err = serve_webtransport(WtConfig {
        listen: loopback(),
        certificate: mixed,
    })
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("does not fit"), "{err}");
}

/// A one-shot HTTP server on loopback that answers `status` and hands back the request.
async fn one_request(status: &'static str) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let handle = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        // Headers, then as many body bytes as Content-Length says.
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert_ne!(n, 0, "the client closed early");
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = text
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if request.len() >= end + 4 + length {
                    break;
                }
            }
        }
        let answer =
            format!("HTTP/1.1 {status}\r\ncontent-length: 4\r\nconnection: close\r\n\r\nnope");
        stream.write_all(answer.as_bytes()).await.unwrap();
        request
    });
    (base, handle)
}

#[tokio::test]
async fn the_report_is_posted_signed_to_the_device_path() {
    let key = SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"device")).unwrap();
    let guid = Guid([7; 16]);
    let (base, server) = one_request("204 No Content").await;
    let not_after = unix_now().unwrap() + DAY;
    report_rotation(&format!("{base}/"), guid, [9; 32], not_after, &key)
        .await
        .unwrap();
    let request = server.await.unwrap();
    let end = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&request[..end]);
    assert!(
        head.starts_with(&format!(
            "POST /vouch/v1/devices/{guid}/webtransport-hash HTTP/1.1"
        )),
        "{head}"
    );
    assert!(head.contains("application/cose"), "{head}");
    let verified = WtRotation::verify(
        &request[end + 4..],
        &RustCrypto,
        &key.public_key(PkEnc::X509).unwrap(),
        guid,
        unix_now().unwrap(),
    )
    .unwrap();
    assert_eq!(verified.rotation().successor_cert_sha256, [9; 32]);
    assert_eq!(verified.rotation().not_after, not_after);
}

#[tokio::test]
async fn a_refused_report_is_an_error_naming_the_status() {
    let key = SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"device")).unwrap();
    let (base, server) = one_request("403 Forbidden").await;
    let err = report_rotation(&base, Guid([7; 16]), [9; 32], 1, &key)
        .await
        .unwrap_err()
        .to_string();
    server.await.unwrap();
    assert!(err.contains("403"), "{err}");
}

// --- The service: report, serve, rotate ---------------------------------------------------

/// An owner that checks each report as the relying party does and keeps the accepted ones;
/// it answers 503 to the first `refuse_first` reports, as an owner that is not up yet.
struct TestOwner {
    device_key: vouch_protocol::types::PublicKey,
    guid: Guid,
    accepted: std::sync::Mutex<Vec<([u8; 32], u64)>>,
    refuse_first: std::sync::atomic::AtomicUsize,
}

async fn test_owner(owner: Arc<TestOwner>) -> (String, tokio::task::JoinHandle<()>) {
    use axum::http::StatusCode;
    async fn report(
        axum::extract::State(owner): axum::extract::State<Arc<TestOwner>>,
        body: axum::body::Bytes,
    ) -> StatusCode {
        use std::sync::atomic::Ordering;
        if owner
            .refuse_first
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        let Ok(verified) = WtRotation::verify(
            &body,
            &RustCrypto,
            &owner.device_key,
            owner.guid,
            unix_now().unwrap(),
        ) else {
            return StatusCode::FORBIDDEN;
        };
        let r = verified.rotation();
        let mut accepted = owner.accepted.lock().unwrap();
        if accepted.last().is_some_and(|(_, t)| *t >= r.not_after) {
            return StatusCode::CONFLICT;
        }
        accepted.push((r.successor_cert_sha256, r.not_after));
        StatusCode::NO_CONTENT
    }
    let app = axum::Router::new()
        .route(
            &format!("/vouch/v1/devices/{}/webtransport-hash", owner.guid),
            axum::routing::post(report),
        )
        .with_state(owner);
    let listener = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (base, server)
}

async fn next_event(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<ServiceEvent>,
) -> ServiceEvent {
    tokio::time::timeout(Duration::from_secs(30), events.recv())
        .await
        .expect("an event within 30 s")
        .expect("the service is running")
}

/// The next `Serving` event: (address, hash, accepted).
async fn next_serving(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<ServiceEvent>,
) -> (SocketAddr, [u8; 32], bool) {
    loop {
        if let ServiceEvent::Serving {
            addr,
            sha256,
            accepted,
            ..
        } = next_event(events).await
        {
            return (addr, sha256, accepted);
        }
    }
}

#[tokio::test]
async fn the_service_serves_what_the_owner_accepted_and_rotates_on_the_same_port() {
    let key = SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"service")).unwrap();
    let guid = Guid([5; 16]);
    let owner = Arc::new(TestOwner {
        device_key: key.public_key(PkEnc::X509).unwrap(),
        guid,
        accepted: Default::default(),
        refuse_first: 1.into(),
    });
    let (base, owner_server) = test_owner(owner.clone()).await;
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let mut config = ServiceConfig::new(loopback(), base, guid);
    config.rotate_every = Duration::from_secs(2);
    config.retry_first = Duration::from_millis(200);
    let service = start_service(
        config,
        crate::MemoryKeyStore::new(Some(key)),
        Arc::new(move |e: &ServiceEvent| {
            let _ = tx.send(e.clone());
        }),
    )
    .unwrap();

    // The owner is not up at first: the report fails, the device serves the certificate
    // anyway, and once a retry gets through the owner holds that same hash.
    assert!(matches!(
        next_event(&mut events).await,
        ServiceEvent::ReportFailed { .. }
    ));
    let (addr, first, accepted) = next_serving(&mut events).await;
    assert!(!accepted);
    assert_eq!(next_serving(&mut events).await, (addr, first, true));
    assert_eq!(owner.accepted.lock().unwrap().len(), 1);
    assert_eq!(owner.accepted.lock().unwrap()[0].0, first);
    assert_eq!(ping(addr, first, b"one").await.unwrap(), b"one");

    // The successor: accepted by the owner, then served on the same address.
    let (addr2, second, accepted) = next_serving(&mut events).await;
    assert!(accepted);
    assert_eq!(addr2, addr, "the same UDP address");
    assert_ne!(second, first);
    {
        let accepted = owner.accepted.lock().unwrap();
        assert_eq!(accepted.len(), 2);
        assert_eq!(accepted[1].0, second);
        assert!(accepted[1].1 > accepted[0].1, "a later notAfter");
    }
    assert_eq!(ping(addr, second, b"two").await.unwrap(), b"two");
    assert!(ping(addr, first, b"old").await.is_err());

    service.stop().await.unwrap();
    let attempt = tokio::time::timeout(Duration::from_secs(20), ping(addr, second, b"x")).await;
    assert!(!matches!(attempt, Ok(Ok(_))), "{attempt:?}");
    owner_server.abort();
}

#[test]
fn the_service_refuses_a_rotation_of_fourteen_days_or_none_and_a_missing_key() {
    let config = |secs| {
        let mut c = ServiceConfig::new(loopback(), "http://127.0.0.1:1".into(), Guid([5; 16]));
        c.rotate_every = Duration::from_secs(secs);
        c
    };
    let key = || {
        crate::MemoryKeyStore::new(Some(
            SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"k")).unwrap(),
        ))
    };
    let quiet: OnEvent = Arc::new(|_: &ServiceEvent| {});
    for secs in [0, MAX_VALIDITY_SECS] {
        let err = start_service(config(secs), key(), quiet.clone())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("14 days"), "{err}");
    }
    let err = start_service(config(60), crate::MemoryKeyStore::new(None), quiet)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no attestation key"), "{err}");
}

// --- An https owner with a private CA ----------------------------------------------------

/// A one-shot HTTPS server on loopback whose certificate (for 127.0.0.1) comes from a fresh CA:
/// its URL, the CA as a root store, and the request it got (None when the client gave up
/// during the handshake).
async fn one_tls_request() -> (
    String,
    rustls::RootCertStore,
    tokio::task::JoinHandle<Option<Vec<u8>>>,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = rcgen::CertificateParams::default();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "test owner CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let leaf = rcgen::CertificateParams::new(names())
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(
            ca_cert.der().to_vec(),
        ))
        .unwrap();
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![rustls::pki_types::CertificateDer::from(leaf.der().to_vec())],
        rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der()).into(),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    let handle = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut stream = acceptor.accept(tcp).await.ok()?;
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = text
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if request.len() >= end + 4 + length {
                    break;
                }
            }
        }
        let answer = "HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n";
        stream.write_all(answer.as_bytes()).await.ok()?;
        let _ = stream.shutdown().await;
        Some(request)
    });
    (base, roots, handle)
}

#[tokio::test]
async fn an_https_owner_is_reached_through_the_roots_given_and_only_through_them() {
    let key = SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(b"device")).unwrap();
    let guid = Guid([7; 16]);
    let not_after = unix_now().unwrap() + DAY;

    // The WebPKI roots do not hold the owner's private CA.
    let (base, _, server) = one_tls_request().await;
    let err = report_rotation(&base, guid, [9; 32], not_after, &key)
        .await
        .unwrap_err();
    assert!(matches!(err, ReportError::Failed(_)), "{err}");
    assert_eq!(server.await.unwrap(), None, "nothing was posted");

    let (base, roots, server) = one_tls_request().await;
    report_rotation_trusting(Some(&roots), &base, guid, [9; 32], not_after, &key)
        .await
        .unwrap();
    let request = server.await.unwrap().expect("the report was posted");
    assert!(
        request.starts_with(format!("POST /vouch/v1/devices/{guid}/webtransport-hash").as_bytes()),
        "{}",
        String::from_utf8_lossy(&request)
    );
}
