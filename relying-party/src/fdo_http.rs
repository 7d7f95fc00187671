//! The FDO HTTP binding on the server side (FDO reference §1), kept apart from the roles so
//! that every rule of the wire lives in one place:
//!
//! * `POST /fdo/101/msg/{n}` with `Content-Type: application/cbor` exactly;
//! * the bearer token comes back as the `Authorization` header value, `Bearer ` included;
//! * a reply is HTTP 200 with `Message-Type: n`, `Content-Type: application/cbor` and a
//!   `Content-Length`; an error is HTTP 500 with `Message-Type: 255` and an FDO error message;
//! * a body over the size limit is refused before it is read in full;
//! * a client (peer IP) over its rate limit gets HTTP 429 `Too Many Requests` with
//!   `Retry-After` (see [`Limits::rate_per_second`]), and a request not read and answered
//!   within [`Limits::request_timeout`] gets HTTP 408 and its connection closed;
//! * a request announcing fdo-rs' non-standard key derivation (`X-Non-Interoperable-KDF:
//!   true`, FDO reference §6 pitfall 2) is refused with MESSAGE_BODY_ERROR (100) before a
//!   handler sees it: its session keys could never match ours.
//!
//! What a message means is the business of an [`FdoHandler`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use vouch_protocol::ErrorCode;
use vouch_protocol::cbor::Cbor;
use vouch_protocol::messages::{ErrorMessage, MessageType};

use crate::metrics::{Metrics, Outcome};
use crate::rate_limit::RateLimiter;

/// The largest message body accepted by default, as go-fdo does (65535 bytes).
pub const DEFAULT_MAX_BODY: usize = 65_535;

/// The media type of every FDO body.
pub const CBOR: &str = "application/cbor";

/// The header with which fdo-rs, built without the standard FDO KDF, announces its own
/// derivation (FDO reference §6, pitfall 2). Only the value `true` turns it on.
pub const NON_INTEROPERABLE_KDF: &str = "x-non-interoperable-kdf";

/// True when the request asks for fdo-rs' non-interoperable KDF.
fn asks_for_non_interoperable_kdf(headers: &HeaderMap) -> bool {
    headers
        .get_all(NON_INTEROPERABLE_KDF)
        .iter()
        .any(|v| v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"true"))
}

/// One FDO request, as the binding hands it to a handler.
#[derive(Clone, Debug)]
pub struct FdoRequest {
    /// The message type from the URL.
    pub msg_type: MessageType,
    /// The bearer token (without `Bearer `), absent on the first message of a protocol.
    pub token: Option<String>,
    /// The CBOR body.
    pub body: Bytes,
}

/// A handler's answer.
#[derive(Clone, Debug)]
pub enum FdoResponse {
    /// A protocol message, with the token to return (the session's, possibly rotated).
    Message {
        /// Its type.
        msg_type: MessageType,
        /// Its CBOR body.
        body: Vec<u8>,
        /// The bearer token to hand back, if the protocol continues.
        token: Option<String>,
    },
    /// An FDO error (sent as HTTP 500, message type 255).
    Error(ErrorMessage),
}

/// What serves FDO messages: the manufacturer, rendezvous and owner roles.
#[async_trait::async_trait]
pub trait FdoHandler: Send + Sync + 'static {
    /// Handles one message.
    async fn handle(&self, request: FdoRequest) -> FdoResponse;
}

/// What the binding accepts from one client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest message body, in bytes.
    pub max_body: usize,
    /// How long reading a request and answering it may take; a client that stalls its body
    /// longer gets HTTP 408 and its connection is closed.
    pub request_timeout: Duration,
    /// Requests a second per client IP address (0: no limit). Over it, the client gets HTTP 429
    /// with `Retry-After`, not an FDO error: §1 has no code for it and an error message would
    /// end the client's protocol, while 429 is what HTTP clients and proxies know to retry.
    pub rate_per_second: u32,
    /// How many requests a client may make at once before the rate applies.
    pub rate_burst: u32,
    /// Whether loopback peers are limited too. Off by default: on this machine are the tests,
    /// the load tools and a reverse proxy, whose address stands for all its clients (a proxy
    /// limits per client itself).
    pub rate_limit_loopback: bool,
}

impl Default for Limits {
    /// 64 KiB bodies, 30 s per request, 50 requests a second per client with bursts of 100.
    fn default() -> Self {
        Self {
            max_body: DEFAULT_MAX_BODY,
            request_timeout: Duration::from_secs(30),
            rate_per_second: 50,
            rate_burst: 100,
            rate_limit_loopback: false,
        }
    }
}

#[derive(Clone)]
struct Binding {
    handler: Arc<dyn FdoHandler>,
    max_body: usize,
    metrics: Option<Arc<Metrics>>,
}

/// The router for `/fdo/101/msg/{n}`, with only the body limit (no rate limit, no timeout, no
/// metrics): what the role tests drive through `oneshot`.
pub fn router(handler: Arc<dyn FdoHandler>, max_body: usize) -> Router {
    Router::new()
        .route("/fdo/101/msg/{msg_type}", post(serve))
        .with_state(Binding {
            handler,
            max_body,
            metrics: None,
        })
}

/// The router for `/fdo/101/msg/{n}` as `vouch-rp serve` runs it: `limits` applied, every
/// message counted in `metrics`.
pub fn router_with(handler: Arc<dyn FdoHandler>, limits: Limits, metrics: Arc<Metrics>) -> Router {
    let limiter = (limits.rate_per_second > 0)
        .then(|| Arc::new(RateLimiter::new(limits.rate_per_second, limits.rate_burst)));
    let guard = Guard {
        limiter,
        limit_loopback: limits.rate_limit_loopback,
        timeout: limits.request_timeout,
        metrics: metrics.clone(),
    };
    Router::new()
        .route("/fdo/101/msg/{msg_type}", post(serve))
        .with_state(Binding {
            handler,
            max_body: limits.max_body,
            metrics: Some(metrics),
        })
        .layer(middleware::from_fn_with_state(guard, guard_request))
}

#[derive(Clone)]
struct Guard {
    limiter: Option<Arc<RateLimiter>>,
    limit_loopback: bool,
    timeout: Duration,
    metrics: Arc<Metrics>,
}

/// The rate limit and the request timeout, before the binding reads anything.
async fn guard_request(State(g): State<Guard>, request: Request, next: Next) -> Response {
    // The peer address is there when served with connect info (as `vouch-rp serve` does).
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let (Some(limiter), Some(peer)) = (&g.limiter, peer)
        && (g.limit_loopback || !peer.is_loopback())
        && let Err(wait) = limiter.check(peer, Instant::now())
    {
        g.metrics.rate_limited();
        tracing::warn!(%peer, "FDO request over the rate limit");
        let mut r = StatusCode::TOO_MANY_REQUESTS.into_response();
        let seconds = wait.as_secs().max(1);
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return r;
    }
    match tokio::time::timeout(g.timeout, next.run(request)).await {
        Ok(r) => r,
        Err(_) => {
            tracing::warn!(?peer, "FDO request timed out");
            let mut r = StatusCode::REQUEST_TIMEOUT.into_response();
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            r
        }
    }
}

/// The HTTP form of an FDO error message.
pub fn error_response(msg: &ErrorMessage) -> Response {
    let body = msg.to_cbor();
    let length = HeaderValue::from(body.len());
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CBOR));
    // go-fdo refuses an answer without Content-Length: never leave it to the HTTP layer.
    h.insert(header::CONTENT_LENGTH, length);
    h.insert(
        "message-type",
        HeaderValue::from(u16::from(MessageType::ERROR.0)),
    );
    r
}

async fn serve(
    State(b): State<Binding>,
    Path(msg_type): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Ok(n) = msg_type.parse::<u8>() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let msg_type = MessageType(n);
    let started = Instant::now();
    let (response, outcome) = answer(&b, msg_type, &headers, body).await;
    let latency = started.elapsed();
    if let Some(m) = &b.metrics {
        m.message(msg_type, outcome, latency);
    }
    match outcome {
        Outcome::Replied(reply) => tracing::debug!(
            msg_type = msg_type.0,
            reply = reply.0,
            latency_ms = latency.as_secs_f64() * 1e3,
            "FDO message served"
        ),
        Outcome::Error(code) => tracing::info!(
            msg_type = msg_type.0,
            error_code = code,
            latency_ms = latency.as_secs_f64() * 1e3,
            "FDO error sent"
        ),
    }
    response
}

/// The answer to one message, and how it went.
async fn answer(
    b: &Binding,
    msg_type: MessageType,
    headers: &HeaderMap,
    body: Body,
) -> (Response, Outcome) {
    let (response, outcome) = match checked_answer(b, msg_type, headers, body).await {
        Ok(FdoResponse::Error(e)) | Err(e) => (error_response(&e), Outcome::Error(e.code.0)),
        Ok(FdoResponse::Message {
            msg_type,
            body,
            token,
        }) => {
            let length = HeaderValue::from(body.len());
            let mut r = Response::new(Body::from(body));
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CBOR));
            h.insert(header::CONTENT_LENGTH, length);
            h.insert("message-type", HeaderValue::from(u16::from(msg_type.0)));
            if let Some(t) = token
                && let Ok(v) = HeaderValue::from_str(&format!("Bearer {t}"))
            {
                h.insert(header::AUTHORIZATION, v);
            }
            (r, Outcome::Replied(msg_type))
        }
    };
    (response, outcome)
}

/// The binding's checks, then the handler.
async fn checked_answer(
    b: &Binding,
    msg_type: MessageType,
    headers: &HeaderMap,
    body: Body,
) -> Result<FdoResponse, ErrorMessage> {
    let error =
        |code: ErrorCode, prev: MessageType, text: &str| -> Result<FdoResponse, ErrorMessage> {
            Err(ErrorMessage::new(code, prev, text))
        };
    // fdo-rs matches the header exactly; so do we, so that we never accept what it would refuse.
    if headers.get(header::CONTENT_TYPE).map(HeaderValue::as_bytes) != Some(CBOR.as_bytes()) {
        return error(
            ErrorCode::MESSAGE_BODY_ERROR,
            msg_type,
            "Content-Type must be application/cbor",
        );
    }
    if asks_for_non_interoperable_kdf(headers) {
        return error(
            ErrorCode::MESSAGE_BODY_ERROR,
            msg_type,
            "X-Non-Interoperable-KDF is not supported: this server derives session keys only \
             with the FDO KDF",
        );
    }
    let token = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => match v.to_str().ok().and_then(|s| s.strip_prefix("Bearer ")) {
            Some(t) if !t.is_empty() => Some(t.to_string()),
            _ => {
                return error(
                    ErrorCode::INVALID_JWT_TOKEN,
                    msg_type,
                    "Authorization must be a bearer token",
                );
            }
        },
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > b.max_body) {
        return error(ErrorCode::MESSAGE_BODY_ERROR, msg_type, "message too large");
    }
    let body = match axum::body::to_bytes(body, b.max_body).await {
        Ok(body) => body,
        Err(_) => return error(ErrorCode::MESSAGE_BODY_ERROR, msg_type, "message too large"),
    };
    Ok(b.handler
        .handle(FdoRequest {
            msg_type,
            token,
            body,
        })
        .await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use tower::ServiceExt;

    /// Echoes the body back as message n+1, hands out token "t1" on the first message and
    /// requires it afterwards.
    struct Echo;

    #[async_trait::async_trait]
    impl FdoHandler for Echo {
        async fn handle(&self, r: FdoRequest) -> FdoResponse {
            match (r.msg_type.0 % 2, r.token.as_deref()) {
                (0, None) | (1, Some("t1")) => FdoResponse::Message {
                    msg_type: MessageType(r.msg_type.0 + 1),
                    body: r.body.to_vec(),
                    token: Some("t1".into()),
                },
                _ => FdoResponse::Error(ErrorMessage::new(
                    ErrorCode::INVALID_JWT_TOKEN,
                    r.msg_type,
                    "bad token",
                )),
            }
        }
    }

    fn app() -> Router {
        router(Arc::new(Echo), 64)
    }

    fn post(n: &str, ct: &str, auth: Option<&str>, body: &'static [u8]) -> Request<Body> {
        let mut b = Request::post(format!("/fdo/101/msg/{n}")).header("content-type", ct);
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(Body::from(body)).unwrap()
    }

    async fn error_message(r: Response) -> ErrorMessage {
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(r.headers()["message-type"], "255");
        assert_eq!(r.headers()["content-type"], CBOR);
        let length = r.headers()["content-length"].clone();
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        assert_eq!(length, body.len().to_string().as_str());
        ErrorMessage::from_cbor(&body).unwrap()
    }

    async fn error_code(r: Response) -> u16 {
        error_message(r).await.code.0
    }

    #[tokio::test]
    async fn reply_carries_type_token_and_length() {
        let r = app()
            .oneshot(post("20", CBOR, None, b"\x80"))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["message-type"], "21");
        assert_eq!(r.headers()["content-type"], CBOR);
        assert_eq!(r.headers()["authorization"], "Bearer t1");
        // Set by the binding itself: go-fdo refuses answers without it (pitfall 12).
        assert_eq!(r.headers()["content-length"], "1");
        assert!(r.headers().get("transfer-encoding").is_none());
        let body = axum::body::to_bytes(r.into_body(), 64).await.unwrap();
        assert_eq!(&body[..], b"\x80");
        let r = app()
            .oneshot(post("21", CBOR, Some("Bearer t1"), b"\x80"))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn content_type_must_be_exact() {
        for ct in ["application/json", "application/cbor; charset=utf-8", ""] {
            let r = app().oneshot(post("20", ct, None, b"\x80")).await.unwrap();
            assert_eq!(error_code(r).await, 100, "{ct}");
        }
    }

    /// fdo-rs and go-fdo clients send exactly `application/cbor` and a Content-Length (pitfall
    /// 12); a request without Content-Length (as the ones above, built without one) is read up
    /// to the size limit all the same.
    #[tokio::test]
    async fn a_request_with_content_length_is_served() {
        let r = app()
            .oneshot(
                Request::post("/fdo/101/msg/60")
                    .header("content-type", CBOR)
                    .header("content-length", "1")
                    .body(Body::from("\u{80}"))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["message-type"], "61");
    }

    /// fdo-rs built without the FDO KDF sends `X-Non-Interoperable-KDF: true` on every message
    /// (pitfall 2): refused with 100 and a reason that names the header, whatever message it
    /// comes with; any other value is no request for it.
    #[tokio::test]
    async fn non_interoperable_kdf_is_refused() {
        for (n, auth, value) in [
            ("60", None, "true"),
            ("61", Some("Bearer t1"), "true"),
            ("10", None, "True "),
        ] {
            let mut req = post(n, CBOR, auth, b"\x80");
            req.headers_mut()
                .insert(NON_INTEROPERABLE_KDF, HeaderValue::from_static(value));
            let m = error_message(app().oneshot(req).await.unwrap()).await;
            assert_eq!(m.code, ErrorCode::MESSAGE_BODY_ERROR, "{n}");
            assert_eq!(m.prev_message, MessageType(n.parse().unwrap()));
            assert!(m.text.contains("X-Non-Interoperable-KDF"), "{}", m.text);
        }
        let mut req = post("60", CBOR, None, b"\x80");
        req.headers_mut()
            .insert("X-Non-Interoperable-KDF", HeaderValue::from_static("false"));
        assert_eq!(app().oneshot(req).await.unwrap().status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn authorization_must_be_a_bearer_token() {
        for auth in ["t1", "Basic dDE=", "Bearer "] {
            let r = app()
                .oneshot(post("21", CBOR, Some(auth), b"\x80"))
                .await
                .unwrap();
            assert_eq!(error_code(r).await, 1, "{auth}");
        }
        let r = app()
            .oneshot(post("21", CBOR, Some("Bearer other"), b"\x80"))
            .await
            .unwrap();
        assert_eq!(error_code(r).await, 1);
    }

    #[tokio::test]
    async fn oversized_bodies_are_refused() {
        let big: &'static [u8] = Box::leak(vec![0u8; 65].into_boxed_slice());
        let r = app().oneshot(post("20", CBOR, None, big)).await.unwrap();
        assert_eq!(error_code(r).await, 100);
    }

    #[tokio::test]
    async fn unknown_paths_are_not_found() {
        let r = app()
            .oneshot(post("999", CBOR, None, b"\x80"))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = app()
            .oneshot(
                Request::post("/fdo/100/msg/20")
                    .header("content-type", CBOR)
                    .body(Body::from("\u{80}"))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
}
