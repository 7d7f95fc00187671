//! The FDO HTTP binding against servers on 127.0.0.1: an axum server that records every
//! request and answers from a script, and raw TCP/TLS servers for answers axum would never
//! send (no Content-Length, a short body).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::routing::post;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use vouch_authenticator::protocol::ErrorCode;
use vouch_authenticator::protocol::cbor::Cbor;
use vouch_authenticator::protocol::messages::{ErrorMessage, MessageType};
use vouch_authenticator::transport::{
    DEFAULT_MAX_RESPONSE_SIZE, HttpTransport, Protocol, Response, TlsRoots, Transport,
    TransportError,
};

/// A request as the server saw it.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    /// The values of header `name`, as text.
    fn values(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    fn authorization(&self) -> Option<String> {
        let v = self.values("authorization");
        assert!(v.len() <= 1, "one Authorization header at most: {v:?}");
        v.into_iter().next()
    }
}

/// What the scripted server answers.
#[derive(Clone, Debug)]
struct Reply {
    status: u16,
    message_type: Option<String>,
    token: Option<String>,
    body: Vec<u8>,
    delay: Duration,
}

impl Reply {
    /// HTTP 200 with `Message-Type: t` and a small CBOR body.
    fn ok(t: u8) -> Self {
        Self {
            status: 200,
            message_type: Some(t.to_string()),
            token: None,
            body: vec![0x81, t],
            delay: Duration::ZERO,
        }
    }

    /// HTTP 500 with `Message-Type: 255` and `body`.
    fn error(body: Vec<u8>) -> Self {
        Self {
            status: 500,
            message_type: Some("255".into()),
            token: None,
            body,
            delay: Duration::ZERO,
        }
    }

    fn token(mut self, token: &str) -> Self {
        self.token = Some(token.into());
        self
    }

    fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }
}

type Script = Box<dyn Fn(usize, &Seen) -> Reply + Send + Sync>;

struct Shared {
    seen: Mutex<Vec<Seen>>,
    script: Script,
}

/// An FDO-shaped axum server on 127.0.0.1:0, stopped by [`FdoServer::stop`].
struct FdoServer {
    base: String,
    shared: Arc<Shared>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let seen = Seen {
        path: uri.path().to_string(),
        headers,
        body: body.to_vec(),
    };
    let reply = {
        let mut all = shared.seen.lock().unwrap();
        all.push(seen.clone());
        (shared.script)(all.len() - 1, &seen)
    };
    tokio::time::sleep(reply.delay).await;
    let mut response = axum::http::Response::builder()
        .status(reply.status)
        .header("content-type", "application/cbor");
    if let Some(t) = &reply.message_type {
        response = response.header("message-type", t);
    }
    if let Some(t) = &reply.token {
        response = response.header("authorization", t);
    }
    response.body(Body::from(reply.body)).unwrap()
}

impl FdoServer {
    async fn start(script: impl Fn(usize, &Seen) -> Reply + Send + Sync + 'static) -> Self {
        let shared = Arc::new(Shared {
            seen: Mutex::new(Vec::new()),
            script: Box::new(script),
        });
        let app = Router::new()
            .route("/fdo/101/msg/{n}", post(handle))
            .with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            base,
            shared,
            stop,
            task,
        }
    }

    fn client(&self) -> HttpTransport {
        HttpTransport::builder(&self.base).build().unwrap()
    }

    fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
    }
}

const T: fn(u8) -> MessageType = MessageType;

#[tokio::test]
async fn request_headers_are_exactly_as_specified() {
    let server = FdoServer::start(|_, seen| {
        let n: u8 = seen.path.rsplit('/').next().unwrap().parse().unwrap();
        Reply::ok(n + 1).token("Bearer first")
    })
    .await;
    let mut client = server.client();

    let answer = client.send(T(60), vec![0x80]).await.unwrap();
    assert_eq!(
        answer,
        Response {
            msg_type: MessageType::TO2_PROVE_OV_HDR,
            body: vec![0x81, 61]
        }
    );
    // A large body goes with its length too, never chunked; and the future is Send, so a
    // state machine pump can run on a multi-threaded runtime.
    let big = vec![0x42; 20_000];
    let answer = tokio::spawn(async move {
        let r = client.send(T(62), big).await;
        (client, r)
    });
    let (client, answer) = answer.await.unwrap();
    assert_eq!(answer.unwrap().msg_type, T(63));

    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].path, "/fdo/101/msg/60");
    assert_eq!(seen[1].path, "/fdo/101/msg/62");
    for (s, len) in seen.iter().zip([1, 20_000]) {
        assert_eq!(s.values("content-type"), ["application/cbor"]);
        assert_eq!(s.values("content-length"), [len.to_string()]);
        assert!(s.values("transfer-encoding").is_empty(), "{:?}", s.headers);
        // Never fdo-rs' non-interoperable KDF (pitfall 2).
        assert!(s.values("x-non-interoperable-kdf").is_empty());
        assert_eq!(s.body.len(), len);
    }
    assert_eq!(seen[0].body, [0x80]);
    assert_eq!(seen[0].authorization(), None, "first message of TO2");
    assert_eq!(seen[1].authorization().as_deref(), Some("Bearer first"));
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn the_token_is_echoed_exactly_and_the_newest_one_wins() {
    let tokens = [
        Some("Bearer a"),
        Some("bearer  Odd/Value+=="),
        None,
        Some("Bearer c"),
        Some("Bearer d"),
        Some("Bearer e"),
    ];
    let server = FdoServer::start(move |i, seen| {
        let n: u8 = seen.path.rsplit('/').next().unwrap().parse().unwrap();
        let reply = Reply::ok(n + 1);
        match tokens[i] {
            Some(t) => reply.token(t),
            None => reply,
        }
    })
    .await;
    let mut client = server.client();
    for t in [60, 62, 62, 64, 70] {
        client.send(T(t), vec![0x80]).await.unwrap();
    }
    // TO2.Done2 (71) ended the protocol: its token is gone, and a new TO2 starts without one.
    assert!(!client.has_token(Protocol::To2));
    client.send(T(60), vec![0x80]).await.unwrap();
    assert!(client.has_token(Protocol::To2));

    let sent: Vec<Option<String>> = server.seen().iter().map(Seen::authorization).collect();
    assert_eq!(
        sent,
        [
            None,
            Some("Bearer a".into()),
            Some("bearer  Odd/Value+==".into()),
            // no token in the third answer: the previous one is kept
            Some("bearer  Odd/Value+==".into()),
            Some("Bearer c".into()),
            None,
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn each_protocol_keeps_its_own_token() {
    let server = FdoServer::start(|i, seen| {
        let n: u8 = seen.path.rsplit('/').next().unwrap().parse().unwrap();
        let protocol = if n < 60 { "to1" } else { "to2" };
        let answer = match n {
            32 => 31, // not TO1.RVRedirect: TO1 stays open
            255 => 0, // the answer to an error message is not looked at
            n => n + 1,
        };
        Reply::ok(answer).token(&format!("Bearer {protocol}-{i}"))
    })
    .await;
    let mut client = server.client();
    for t in [30, 60, 32, 62, 60] {
        client.send(T(t), vec![0x80]).await.unwrap();
    }
    // The device reports an error in TO2: the error carries TO2's token and ends TO2 only.
    client.send(MessageType::ERROR, vec![0x80]).await.unwrap();
    assert!(!client.has_token(Protocol::To2));
    assert!(client.has_token(Protocol::To1));

    let sent: Vec<Option<String>> = server.seen().iter().map(Seen::authorization).collect();
    assert_eq!(
        sent,
        [
            None,
            None,
            Some("Bearer to1-0".into()),
            Some("Bearer to2-1".into()),
            None, // a new TO2.HelloDevice never carries the old session's token
            Some("Bearer to2-4".into()),
        ]
    );
    assert_eq!(server.seen()[5].path, "/fdo/101/msg/255");
    server.stop().await;
}

#[tokio::test]
async fn an_error_message_is_decoded_and_ends_the_protocol() {
    let fdo_error = ErrorMessage::new(
        ErrorCode::INVALID_MESSAGE_ERROR,
        MessageType::TO2_GET_OV_NEXT_ENTRY,
        "entry out of range",
    )
    .with_timestamp(1_700_000_000);
    let error_body = fdo_error.to_cbor();
    let server = FdoServer::start(move |i, _| match i {
        0 => Reply::ok(61).token("Bearer s1"),
        1 => Reply::error(error_body.clone()).token("Bearer s2"),
        2 => Reply::error(vec![0x01, 0x02]),
        3 => Reply::ok(0).body(vec![]).status_only(500),
        4 => Reply::ok(0).body(b"not here".to_vec()).status_only(404),
        5 => Reply::ok(61).no_message_type(),
        _ => Reply::ok(61).message_type("sixty-one"),
    })
    .await;
    let mut client = server.client();
    client.send(T(60), vec![0x80]).await.unwrap();
    assert!(client.has_token(Protocol::To2));

    let err = client.send(T(62), vec![0x80]).await.unwrap_err();
    match &err {
        TransportError::Peer(m) => assert_eq!(**m, fdo_error),
        other => panic!("expected the peer's error message, got {other:?}"),
    }
    assert_eq!(
        err.peer_message().unwrap().code,
        ErrorCode::INVALID_MESSAGE_ERROR
    );
    assert!(err.to_string().contains("entry out of range"), "{err}");
    assert!(
        !client.has_token(Protocol::To2),
        "an error ends the protocol"
    );

    match client.send(T(62), vec![0x80]).await.unwrap_err() {
        TransportError::MalformedErrorMessage { body, .. } => assert_eq!(body, [0x01, 0x02]),
        other => panic!("{other:?}"),
    }
    match client.send(T(62), vec![0x80]).await.unwrap_err() {
        TransportError::Status {
            status: 500,
            message_type: None,
        } => {}
        other => panic!("{other:?}"),
    }
    match client.send(T(62), vec![0x80]).await.unwrap_err() {
        TransportError::Status {
            status: 404,
            message_type: None,
        } => {}
        other => panic!("{other:?}"),
    }
    match client.send(T(62), vec![0x80]).await.unwrap_err() {
        TransportError::MissingHeader("Message-Type") => {}
        other => panic!("{other:?}"),
    }
    match client.send(T(62), vec![0x80]).await.unwrap_err() {
        TransportError::BadHeader {
            name: "Message-Type",
            value,
        } => assert_eq!(value, "sixty-one"),
        other => panic!("{other:?}"),
    }
    // After the error, no message of the failed session carried its token.
    let sent: Vec<Option<String>> = server.seen().iter().map(Seen::authorization).collect();
    assert_eq!(sent[1].as_deref(), Some("Bearer s1"));
    assert!(sent[2..].iter().all(Option::is_none), "{sent:?}");
    server.stop().await;
}

impl Reply {
    fn status_only(mut self, status: u16) -> Self {
        self.status = status;
        self.message_type = None;
        self
    }

    fn no_message_type(mut self) -> Self {
        self.message_type = None;
        self
    }

    fn message_type(mut self, t: &str) -> Self {
        self.message_type = Some(t.into());
        self
    }
}

#[tokio::test]
async fn an_oversized_response_is_refused() {
    let server = FdoServer::start(|_, seen| {
        // The request body says how long the answer is.
        let len = u32::from_be_bytes(seen.body[..4].try_into().unwrap()) as usize;
        Reply::ok(61).body(vec![0x5a; len])
    })
    .await;
    let ask = |len: u32| len.to_be_bytes().to_vec();

    let mut client = server.client();
    let ok = client.send(T(60), ask(65_535)).await.unwrap();
    assert_eq!(ok.body.len(), DEFAULT_MAX_RESPONSE_SIZE);
    match client.send(T(60), ask(65_536)).await.unwrap_err() {
        TransportError::ResponseTooLarge {
            limit: 65_535,
            length: 65_536,
        } => {}
        other => panic!("{other:?}"),
    }

    let mut small = HttpTransport::builder(&server.base)
        .max_response_size(100)
        .build()
        .unwrap();
    assert_eq!(small.send(T(60), ask(100)).await.unwrap().body.len(), 100);
    let err = small.send(T(60), ask(1_000_000)).await.unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::ResponseTooLarge {
                limit: 100,
                length: 1_000_000
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("1000000"), "{err}");
    server.stop().await;
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let server = FdoServer::start(|_, _| Reply {
        delay: Duration::from_secs(5),
        ..Reply::ok(61)
    })
    .await;
    let mut client = HttpTransport::builder(&server.base)
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let err = client.send(T(60), vec![0x80]).await.unwrap_err();
    assert!(matches!(err, TransportError::Timeout), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(4));
    drop(client);
    server.task.abort();
}

#[tokio::test]
async fn an_unknown_message_type_is_refused_before_sending() {
    let server = FdoServer::start(|_, _| Reply::ok(61)).await;
    let mut client = server.client();
    let err = client.send(T(99), vec![0x80]).await.unwrap_err();
    assert!(
        matches!(err, TransportError::UnknownMessageType(MessageType(99))),
        "{err:?}"
    );
    assert!(server.seen().is_empty());
    server.stop().await;
}

/// Reads one HTTP/1.1 request (headers and a Content-Length body) and writes `response`
/// verbatim, then closes. Returns the request bytes.
async fn serve_one<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, response: &[u8]) -> Vec<u8> {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    let header_end = loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "client closed early");
        request.extend_from_slice(&buf[..n]);
        if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&request[..header_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0);
    while request.len() < header_end + length {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "client closed early");
        request.extend_from_slice(&buf[..n]);
    }
    // The client may hang up as soon as it has seen enough: that is not the server's failure.
    let _ = stream.write_all(response).await;
    let _ = stream.shutdown().await;
    request
}

/// A server on 127.0.0.1:0 that answers each connection with `response`, verbatim.
async fn raw_server(response: &'static [u8]) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            serve_one(stream, response).await;
        }
    });
    (base, task)
}

#[tokio::test]
async fn a_response_without_content_length_is_refused() {
    for response in [
        // chunked transfer encoding
        &b"HTTP/1.1 200 OK\r\nMessage-Type: 61\r\nContent-Type: application/cbor\r\n\
           Transfer-Encoding: chunked\r\n\r\n2\r\n\x81\x00\r\n0\r\n\r\n"[..],
        // a body delimited by closing the connection
        &b"HTTP/1.1 200 OK\r\nMessage-Type: 61\r\nContent-Type: application/cbor\r\n\
           Connection: close\r\n\r\n\x81\x00"[..],
        // an error message is held to the same rule
        &b"HTTP/1.1 500 Internal Server Error\r\nMessage-Type: 255\r\n\
           Transfer-Encoding: chunked\r\n\r\n1\r\n\x80\r\n0\r\n\r\n"[..],
    ] {
        let (base, task) = raw_server(response).await;
        let mut client = HttpTransport::builder(&base).build().unwrap();
        let err = client.send(T(60), vec![0x80]).await.unwrap_err();
        assert!(
            matches!(err, TransportError::MissingHeader("Content-Length")),
            "{err:?}"
        );
        task.abort();
    }
    // The same answer with a Content-Length is accepted: the refusal above is about it alone.
    let (base, task) = raw_server(
        b"HTTP/1.1 200 OK\r\nMessage-Type: 61\r\nContent-Length: 2\r\n\
          Connection: close\r\n\r\n\x81\x00",
    )
    .await;
    let mut client = HttpTransport::builder(&base).build().unwrap();
    let answer = client.send(T(60), vec![0x80]).await.unwrap();
    assert_eq!(answer.body, [0x81, 0x00]);
    task.abort();
}

/// fdo-rs built without the FDO KDF answers with `X-Non-Interoperable-KDF: true` (pitfall 2):
/// its session keys could never match ours, so the answer is refused and the session ends.
#[tokio::test]
async fn a_server_asking_for_the_non_interoperable_kdf_is_refused() {
    let (base, task) = raw_server(
        b"HTTP/1.1 200 OK\r\nMessage-Type: 61\r\nContent-Type: application/cbor\r\n\
          Authorization: Bearer s1\r\nX-Non-Interoperable-KDF: true\r\n\
          Content-Length: 2\r\nConnection: close\r\n\r\n\x81\x00",
    )
    .await;
    let mut client = HttpTransport::builder(&base).build().unwrap();
    let err = client.send(T(60), vec![0x80]).await.unwrap_err();
    assert!(
        matches!(err, TransportError::NonInteroperableKdf),
        "{err:?}"
    );
    assert!(err.to_string().contains("X-Non-Interoperable-KDF"), "{err}");
    assert!(!client.has_token(Protocol::To2), "the session is over");
    task.abort();
    // Any other value does not ask for it.
    let (base, task) = raw_server(
        b"HTTP/1.1 200 OK\r\nMessage-Type: 61\r\nX-Non-Interoperable-KDF: false\r\n\
          Content-Length: 2\r\nConnection: close\r\n\r\n\x81\x00",
    )
    .await;
    let mut client = HttpTransport::builder(&base).build().unwrap();
    assert_eq!(
        client.send(T(60), vec![0x80]).await.unwrap().body,
        [0x81, 0x00]
    );
    task.abort();
}

#[tokio::test]
async fn a_body_shorter_than_its_content_length_is_refused() {
    let (base, task) =
        raw_server(b"HTTP/1.1 200 OK\r\nMessage-Type: 61\r\nContent-Length: 10\r\n\r\n\x81\x00")
            .await;
    let mut client = HttpTransport::builder(&base).build().unwrap();
    let err = client.send(T(60), vec![0x80]).await.unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::Network(_) | TransportError::BodyLength { .. }
        ),
        "{err:?}"
    );
    task.abort();
}

/// A CA and a server certificate for 127.0.0.1 and localhost, signed by it.
fn test_pki() -> (
    rustls::pki_types::CertificateDer<'static>,
    rustls::ServerConfig,
) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "vouch test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
    )
    .unwrap();
    (ca.der().clone(), config)
}

#[tokio::test]
async fn https_to_a_server_under_a_caller_given_root() {
    let (ca, config) = test_pki();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let task = tokio::spawn({
        let requests = requests.clone();
        async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                // A client that does not trust the CA fails the handshake: next connection.
                let Ok(tls) = acceptor.accept(stream).await else {
                    continue;
                };
                let request = serve_one(
                    tls,
                    b"HTTP/1.1 200 OK\r\nMessage-Type: 31\r\nContent-Length: 1\r\n\
                      Authorization: Bearer tls\r\nConnection: close\r\n\r\n\x80",
                )
                .await;
                requests.lock().unwrap().push(request);
            }
        }
    });

    // Mozilla's roots do not include the test CA: refused before any request is sent.
    let mut public = HttpTransport::builder(&base).build().unwrap();
    let err = public.send(T(30), vec![0x80]).await.unwrap_err();
    assert!(matches!(err, TransportError::Network(_)), "{err:?}");
    assert!(requests.lock().unwrap().is_empty());

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let mut client = HttpTransport::builder(&base)
        .roots(TlsRoots::Custom(roots))
        .build()
        .unwrap();
    let answer = client.send(T(30), vec![0x80]).await.unwrap();
    assert_eq!(answer.msg_type, MessageType::TO1_HELLO_RV_ACK);
    assert_eq!(answer.body, [0x80]);
    assert!(client.has_token(Protocol::To1));
    let request = requests.lock().unwrap()[0].clone();
    let head = String::from_utf8_lossy(&request);
    assert!(
        head.starts_with("POST /fdo/101/msg/30 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.contains("content-type: application/cbor\r\n"),
        "{head}"
    );
    assert!(head.contains("content-length: 1\r\n"), "{head}");
    task.abort();
}

/// The state machines are pumped through [`Transport`]; an in-memory fake stands in for HTTP.
struct Scripted {
    answers: Vec<Result<Response, TransportError>>,
    sent: Vec<(MessageType, Vec<u8>)>,
}

impl Transport for Scripted {
    async fn send(
        &mut self,
        msg_type: MessageType,
        body: Vec<u8>,
    ) -> Result<Response, TransportError> {
        self.sent.push((msg_type, body));
        self.answers.remove(0)
    }
}

/// A stand-in for a state machine pump: generic over the transport.
async fn pump<T: Transport>(t: &mut T, steps: &[u8]) -> Result<Vec<MessageType>, TransportError> {
    let mut got = Vec::new();
    for &s in steps {
        got.push(t.send(MessageType(s), vec![0x80]).await?.msg_type);
    }
    Ok(got)
}

#[tokio::test]
async fn an_in_memory_transport_drives_the_same_code() {
    let mut fake = Scripted {
        answers: vec![
            Ok(Response {
                msg_type: T(31),
                body: vec![0x80],
            }),
            Err(TransportError::Peer(Box::new(ErrorMessage::new(
                ErrorCode::INVALID_JWT_TOKEN,
                T(32),
                "expired",
            )))),
        ],
        sent: Vec::new(),
    };
    let err = pump(&mut fake, &[30, 32]).await.unwrap_err();
    assert_eq!(
        err.peer_message().unwrap().code,
        ErrorCode::INVALID_JWT_TOKEN
    );
    assert_eq!(fake.sent.len(), 2);

    let server = FdoServer::start(|_, _| Reply::ok(31)).await;
    let mut http = server.client();
    assert_eq!(pump(&mut http, &[30]).await.unwrap(), [T(31)]);
    server.stop().await;
}
