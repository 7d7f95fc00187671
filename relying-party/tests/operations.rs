//! `vouch-rp serve` as an operated service, over loopback HTTP with a raw client (so a test can
//! stall a body): /healthz, /readyz, /metrics, the body limit, the request timeout, the
//! per-client rate limit and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vouch_protocol::cbor::Cbor;
use vouch_protocol::messages::ErrorMessage;
use vouch_relying_party::fdo_http::Limits;
use vouch_relying_party::rendezvous::system_clock;
use vouch_relying_party::server::{Running, ServeOptions, start_with_store};
use vouch_relying_party::store::SqliteStore;

struct Server {
    running: Running,
    sqlite: Arc<SqliteStore>,
    _dir: tempfile::TempDir,
}

async fn start(limits: Limits) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Arc::new(SqliteStore::open_dir(dir.path()).await.unwrap());
    let options = ServeOptions {
        to0_interval: None,
        limits,
        ..ServeOptions::all_in_one(dir.path().into(), "127.0.0.1:0".parse().unwrap())
    };
    let running = start_with_store(options, sqlite.clone(), system_clock())
        .await
        .unwrap();
    Server {
        running,
        sqlite,
        _dir: dir,
    }
}

/// A parsed HTTP/1.1 response.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a response to the end of the connection (every request here says `Connection: close`).
async fn read_reply(mut s: TcpStream) -> Reply {
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut raw))
        .await
        .expect("the server answers in time")
        .expect("the response is read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete header block");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

fn post_head(path: &str, length: usize) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/cbor\r\n\
         Content-Length: {length}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

async fn post(addr: SocketAddr, path: &str, body: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&post_head(path, body.len())).await.unwrap();
    s.write_all(body).await.unwrap();
    read_reply(s).await
}

async fn get(addr: SocketAddr, path: &str) -> Reply {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    read_reply(s).await
}

fn fdo_error(r: &Reply) -> ErrorMessage {
    assert_eq!(r.status, 500);
    assert_eq!(r.header("message-type"), Some("255"));
    ErrorMessage::from_cbor(&r.body).expect("an FDO error message")
}

fn no_rate_limit() -> Limits {
    Limits {
        rate_per_second: 0,
        ..Limits::default()
    }
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let server = start(no_rate_limit()).await;
    let addr = server.running.addr;
    let r = get(addr, "/healthz").await;
    assert_eq!((r.status, &r.body[..]), (200, &b"ok\n"[..]));
    assert_eq!(get(addr, "/readyz").await.status, 200);

    // TO1.HelloRV that is no CBOR array: MESSAGE_BODY_ERROR; and a TO2 message without a
    // token: a failed onboarding.
    assert_eq!(
        fdo_error(&post(addr, "/fdo/101/msg/30", b"\x01").await)
            .code
            .0,
        100
    );
    assert_eq!(
        fdo_error(&post(addr, "/fdo/101/msg/62", b"\x80").await)
            .code
            .0,
        1
    );
    let r = get(addr, "/metrics").await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = String::from_utf8(r.body).unwrap();
    for line in [
        "vouch_fdo_messages_total{type=\"30\",result=\"error\"} 1",
        "vouch_fdo_errors_total{code=\"100\"} 1",
        "vouch_fdo_errors_total{code=\"1\"} 1",
        "vouch_onboardings_total{outcome=\"failed\"} 1",
        "vouch_onboardings_total{outcome=\"done\"} 0",
        "vouch_fdo_message_duration_seconds_count{type=\"62\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
    }

    // The database closed: alive, but not ready.
    server.sqlite.close().await;
    assert_eq!(get(addr, "/healthz").await.status, 200);
    assert_eq!(get(addr, "/readyz").await.status, 503);
    server.running.stop().await;
}

/// A body over the limit is refused as FDO error 100 (HTTP 500, message type 255) from its
/// Content-Length, before the server reads it.
#[tokio::test]
async fn oversized_body_is_an_fdo_error() {
    let server = start(no_rate_limit()).await;
    let mut s = TcpStream::connect(server.running.addr).await.unwrap();
    s.write_all(&post_head("/fdo/101/msg/30", 70_000))
        .await
        .unwrap();
    s.write_all(&[0u8; 1024]).await.unwrap();
    let m = fdo_error(&read_reply(s).await);
    assert_eq!(m.code.0, 100);
    assert_eq!(m.prev_message.0, 30);
    assert!(m.text.contains("too large"), "{}", m.text);
    server.running.stop().await;
}

/// A client that stalls its body is answered 408 once the request timeout runs out, and its
/// connection is closed.
#[tokio::test]
async fn stalled_body_times_out() {
    let server = start(Limits {
        request_timeout: Duration::from_millis(500),
        ..no_rate_limit()
    })
    .await;
    let mut s = TcpStream::connect(server.running.addr).await.unwrap();
    s.write_all(&post_head("/fdo/101/msg/30", 10))
        .await
        .unwrap();
    s.write_all(b"\x82").await.unwrap();
    let started = std::time::Instant::now();
    let r = read_reply(s).await;
    assert_eq!(r.status, 408);
    assert!(started.elapsed() >= Duration::from_millis(400));
    server.running.stop().await;
}

/// Each client IP gets its burst, then 429 with Retry-After; the health routes are not limited.
#[tokio::test]
async fn rate_limit_per_client() {
    let server = start(Limits {
        rate_per_second: 1,
        rate_burst: 3,
        rate_limit_loopback: true,
        ..Limits::default()
    })
    .await;
    let addr = server.running.addr;
    for _ in 0..3 {
        assert_eq!(post(addr, "/fdo/101/msg/30", b"\x01").await.status, 500);
    }
    let r = post(addr, "/fdo/101/msg/30", b"\x01").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(get(addr, "/healthz").await.status, 200);
    let text = String::from_utf8(get(addr, "/metrics").await.body).unwrap();
    assert!(text.contains("vouch_fdo_rate_limited_total 1"), "{text}");
    // A second later the bucket holds a token again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(post(addr, "/fdo/101/msg/30", b"\x01").await.status, 500);
    server.running.stop().await;
}

/// By default loopback peers (tests, load tools, a reverse proxy on this machine) are not
/// limited.
#[tokio::test]
async fn loopback_is_not_limited_by_default() {
    let server = start(Limits {
        rate_per_second: 1,
        rate_burst: 1,
        ..Limits::default()
    })
    .await;
    for _ in 0..5 {
        let r = post(server.running.addr, "/fdo/101/msg/30", b"\x01").await;
        assert_eq!(r.status, 500);
    }
    server.running.stop().await;
}

/// Stopping lets a request already in flight (its body still arriving) finish with its answer,
/// while new connections are refused.
#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let server = start(no_rate_limit()).await;
    let addr = server.running.addr;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&post_head("/fdo/101/msg/30", 2)).await.unwrap();
    s.write_all(b"\x82").await.unwrap();
    // The request is in the handler, waiting for its second byte.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = tokio::spawn(server.running.stop());

    let mut refused = false;
    for _ in 0..50 {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "new connections are refused once stopping");
    assert!(!stopping.is_finished(), "the stop waits for the request");

    // [2, 1] is no TO1.HelloRV, but it is answered.
    s.write_all(b"\x01").await.unwrap();
    let m = fdo_error(&read_reply(s).await);
    assert_eq!(m.prev_message.0, 30);
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("the server stops once the request is answered")
        .unwrap();
    drop(server.sqlite);
}
