//! The FDO HTTP binding, client side (FDO reference §1).
//!
//! Every message is `POST {base}/fdo/101/msg/{msgtype}` with `Content-Type: application/cbor`
//! (exactly: fdo-rs matches the header byte for byte) and a `Content-Length` (go-fdo refuses
//! chunked bodies). The answer carries its type in the `Message-Type` header. A server keeps
//! per-session state behind a bearer token: the first message of each protocol (10, 20, 30, 60)
//! goes without `Authorization`, and every later message of that protocol echoes, byte for
//! byte, the newest `Authorization` value the server returned. An FDO error comes back as HTTP
//! 500 with `Message-Type: 255` and ends the protocol.
//!
//! A server that answers with `X-Non-Interoperable-KDF: true` (fdo-rs built without the FDO
//! KDF, FDO reference §6 pitfall 2) derives session keys this device never will: its answer is
//! refused as [`TransportError::NonInteroperableKdf`] and the protocol ends. This device never
//! sends that header.
//!
//! [`Transport`] is what the onboarding state machines are pumped through; [`HttpTransport`] is
//! the HTTP implementation, and a test can supply an in-memory one.
//!
//! ```no_run
//! # async fn run() -> Result<(), vouch_authenticator::TransportError> {
//! use vouch_authenticator::transport::{HttpTransport, Transport};
//! use vouch_authenticator::protocol::messages::MessageType;
//!
//! let mut rv = HttpTransport::builder("https://rv.example.com").build()?;
//! let hello_rv = Vec::new(); // the encoded TO1.HelloRV
//! let answer = rv.send(MessageType::TO1_HELLO_RV, hello_rv).await?;
//! assert_eq!(answer.msg_type, MessageType::TO1_HELLO_RV_ACK);
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{StatusCode, Url};
use vouch_protocol::cbor::Cbor;
use vouch_protocol::messages::{ErrorMessage, MessageType};

/// The `Content-Type` of every FDO request and response.
pub const CONTENT_TYPE_CBOR: &str = "application/cbor";

/// The response header that names the message type.
pub const MESSAGE_TYPE_HEADER: &str = "message-type";

/// The header with which fdo-rs announces its non-standard key derivation; only the value
/// `true` turns it on.
pub const NON_INTEROPERABLE_KDF_HEADER: &str = "x-non-interoperable-kdf";

/// The largest response body accepted unless configured otherwise: go-fdo's default maximum
/// message size.
pub const DEFAULT_MAX_RESPONSE_SIZE: usize = 65_535;

/// The default limit on a whole exchange (connect, send, receive the whole body).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The default limit on establishing a connection (TCP and TLS).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A message received: its type and CBOR body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The `Message-Type` of the answer.
    pub msg_type: MessageType,
    /// The body, at most the configured maximum size.
    pub body: Vec<u8>,
}

/// Carries FDO messages to one server (a manufacturer, a rendezvous server or an owner) and
/// brings back its answers.
///
/// An implementation keeps whatever session state the binding needs (the HTTP binding's bearer
/// tokens) so that the state machines see only messages.
pub trait Transport {
    /// Sends message `msg_type` with CBOR `body` and returns the answer. An FDO error message
    /// from the peer is [`TransportError::Peer`].
    fn send(
        &mut self,
        msg_type: MessageType,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<Response, TransportError>> + Send;
}

/// The FDO sub-protocols, each of which has its own bearer token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Device initialization, messages 10–13.
    Di,
    /// Transfer ownership 0 (owner ↔ rendezvous), messages 20–23.
    To0,
    /// Transfer ownership 1 (device ↔ rendezvous), messages 30–33.
    To1,
    /// Transfer ownership 2 (device ↔ owner), messages 60–71.
    To2,
}

impl Protocol {
    const ALL: [Self; 4] = [Self::Di, Self::To0, Self::To1, Self::To2];

    /// The protocol message `t` belongs to; `None` for the error message (255) and for types
    /// outside the four protocols.
    pub fn of(t: MessageType) -> Option<Self> {
        Some(match t.0 {
            10..=13 => Self::Di,
            20..=23 => Self::To0,
            30..=33 => Self::To1,
            60..=71 => Self::To2,
            _ => return None,
        })
    }

    /// The message that starts the protocol; it is sent without a token.
    pub fn first(self) -> MessageType {
        match self {
            Self::Di => MessageType::DI_APP_START,
            Self::To0 => MessageType::TO0_HELLO,
            Self::To1 => MessageType::TO1_HELLO_RV,
            Self::To2 => MessageType::TO2_HELLO_DEVICE,
        }
    }

    /// The server's last message; the token is dropped once it has arrived.
    pub fn last(self) -> MessageType {
        match self {
            Self::Di => MessageType::DI_DONE,
            Self::To0 => MessageType::TO0_ACCEPT_OWNER,
            Self::To1 => MessageType::TO1_RV_REDIRECT,
            Self::To2 => MessageType::TO2_DONE2,
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Di => 0,
            Self::To0 => 1,
            Self::To1 => 2,
            Self::To2 => 3,
        }
    }
}

/// The roots a TLS server certificate must chain to.
#[derive(Clone, Debug, Default)]
pub enum TlsRoots {
    /// Mozilla's root program, as shipped in the `webpki-roots` crate (no system store is read).
    #[default]
    WebPki,
    /// Only these roots: an owner's CA, a private PKI, a test CA.
    Custom(rustls::RootCertStore),
}

impl TlsRoots {
    pub(crate) fn into_store(self) -> rustls::RootCertStore {
        match self {
            Self::WebPki => rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
            Self::Custom(store) => store,
        }
    }
}

/// Configures an [`HttpTransport`]; made by [`HttpTransport::builder`].
#[derive(Debug)]
#[must_use]
pub struct HttpTransportBuilder {
    base: String,
    roots: TlsRoots,
    max_response_size: usize,
    timeout: Duration,
    connect_timeout: Duration,
    allow_plain_http: bool,
}

impl HttpTransportBuilder {
    /// The TLS roots for `https://` (default: [`TlsRoots::WebPki`]).
    pub fn roots(mut self, roots: TlsRoots) -> Self {
        self.roots = roots;
        self
    }

    /// The largest response body accepted (default [`DEFAULT_MAX_RESPONSE_SIZE`]). A response
    /// that declares a longer body is refused before its body is read.
    pub fn max_response_size(mut self, bytes: usize) -> Self {
        self.max_response_size = bytes;
        self
    }

    /// The limit on one whole exchange (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The limit on establishing a connection (default [`DEFAULT_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Allows `http://` to hosts other than loopback ones. The FDO messages protect
    /// themselves (signatures, and encryption from TO2.SetupDevice on), and FDO rendezvous
    /// entries may name plain HTTP, but the bearer token, the DI exchange and the early TO1/TO2
    /// messages then travel in clear, so a deployment must choose this knowingly.
    pub fn danger_allow_plain_http(mut self) -> Self {
        self.allow_plain_http = true;
        self
    }

    /// Checks the base URL and builds the client.
    ///
    /// `https://` is always allowed; `http://` only to a loopback address or `localhost`,
    /// unless [`danger_allow_plain_http`](Self::danger_allow_plain_http) was called.
    pub fn build(self) -> Result<HttpTransport, TransportError> {
        let invalid = |reason| TransportError::InvalidUrl {
            url: self.base.clone(),
            reason,
        };
        let url = Url::parse(&self.base).map_err(|_| invalid("not an absolute URL"))?;
        if url.cannot_be_a_base() || url.host().is_none() {
            return Err(invalid("no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(
                "a query or fragment has no place in an FDO base URL",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("credentials in the URL are not supported"));
        }
        match url.scheme() {
            "https" => {}
            "http" if self.allow_plain_http || is_loopback(&url) => {}
            "http" => {
                return Err(TransportError::PlainHttpRefused {
                    url: self.base.clone(),
                });
            }
            _ => return Err(invalid("the scheme must be https or http")),
        }

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // reqwest is built without a provider of its own (`rustls-no-provider`); the config
        // below names ring explicitly, and installing it as the process default as well keeps
        // any other rustls user in the process from failing for want of one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TransportError::Setup(e.to_string()))?
            .with_root_certificates(self.roots.into_store())
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];

        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .http1_only()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            // A redirect would re-send the body and the token to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            // The FDO servers are named by the voucher's rendezvous info, not the environment.
            .no_proxy()
            .build()
            .map_err(|e| TransportError::Setup(e.to_string()))?;

        let prefix = format!("{}/fdo/101/msg/", url.as_str().trim_end_matches('/'));
        Ok(HttpTransport {
            client,
            prefix,
            max_response_size: self.max_response_size,
            tokens: Default::default(),
            current: None,
        })
    }
}

/// True for `localhost` and loopback addresses (127.0.0.0/8, ::1).
pub(crate) fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// The FDO HTTP binding to one server (FDO reference §1; module documentation).
///
/// One value per server: a device uses one for its rendezvous server and another for its
/// owner. It keeps one bearer token per [`Protocol`].
pub struct HttpTransport {
    client: reqwest::Client,
    /// `{base}/fdo/101/msg/`.
    prefix: String,
    max_response_size: usize,
    tokens: [Option<HeaderValue>; 4],
    /// The protocol of the last message sent, whose token an error message (255) carries.
    current: Option<Protocol>,
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The tokens are credentials: say which protocols hold one, not what they are.
        let holding: Vec<Protocol> = Protocol::ALL
            .into_iter()
            .filter(|p| self.tokens[p.index()].is_some())
            .collect();
        f.debug_struct("HttpTransport")
            .field("prefix", &self.prefix)
            .field("max_response_size", &self.max_response_size)
            .field("tokens_held", &holding)
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

impl HttpTransport {
    /// A builder for a transport to the server at `base` (e.g. `https://owner.example.com`,
    /// or one with a path prefix, `https://example.com/fdo-owner`).
    pub fn builder(base: impl Into<String>) -> HttpTransportBuilder {
        HttpTransportBuilder {
            base: base.into(),
            roots: TlsRoots::default(),
            max_response_size: DEFAULT_MAX_RESPONSE_SIZE,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            allow_plain_http: false,
        }
    }

    /// The URL message `msg_type` is posted to.
    pub fn url(&self, msg_type: MessageType) -> String {
        format!("{}{}", self.prefix, msg_type.0)
    }

    /// True while a token for `protocol` is held (between the server's first answer and the
    /// protocol's end).
    pub fn has_token(&self, protocol: Protocol) -> bool {
        self.tokens[protocol.index()].is_some()
    }

    fn end(&mut self, protocol: Option<Protocol>) {
        if let Some(p) = protocol {
            self.tokens[p.index()] = None;
        }
        if self.current == protocol {
            self.current = None;
        }
    }

    async fn exchange(
        &mut self,
        msg_type: MessageType,
        body: Vec<u8>,
    ) -> Result<Response, TransportError> {
        let protocol = if msg_type == MessageType::ERROR {
            self.current
        } else {
            let p = Protocol::of(msg_type).ok_or(TransportError::UnknownMessageType(msg_type))?;
            if msg_type == p.first() {
                // A new session: whatever token an earlier run left is not for it.
                self.tokens[p.index()] = None;
            }
            self.current = Some(p);
            Some(p)
        };
        let token = protocol.and_then(|p| self.tokens[p.index()].clone());

        let mut request = self
            .client
            .post(self.url(msg_type))
            .header(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_CBOR))
            // A full body: reqwest sends its length as Content-Length, never chunked.
            .body(body);
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, token);
        }
        let mut response = request.send().await.map_err(TransportError::from)?;

        // The newest token wins, whatever else the answer holds.
        if let (Some(p), Some(token)) = (protocol, response.headers().get(AUTHORIZATION)) {
            let mut token = token.clone();
            token.set_sensitive(true);
            self.tokens[p.index()] = Some(token);
        }

        let status = response.status();
        let answer_type = message_type(response.headers())?;
        if answer_type == Some(MessageType::ERROR) {
            self.end(protocol);
            let body = read_body(&mut response, self.max_response_size).await?;
            return match ErrorMessage::from_cbor(&body) {
                Ok(message) => Err(TransportError::Peer(Box::new(message))),
                Err(error) => Err(TransportError::MalformedErrorMessage { error, body }),
            };
        }
        if response
            .headers()
            .get_all(NON_INTEROPERABLE_KDF_HEADER)
            .iter()
            .any(|v| v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"true"))
        {
            self.end(protocol);
            return Err(TransportError::NonInteroperableKdf);
        }
        if status != StatusCode::OK {
            self.end(protocol);
            return Err(TransportError::Status {
                status: status.as_u16(),
                message_type: answer_type,
            });
        }
        let answer_type = answer_type.ok_or(TransportError::MissingHeader("Message-Type"))?;
        let body = read_body(&mut response, self.max_response_size).await?;
        match protocol {
            Some(p) if answer_type == p.last() => self.end(Some(p)),
            _ => {}
        }
        Ok(Response {
            msg_type: answer_type,
            body,
        })
    }
}

impl Transport for HttpTransport {
    async fn send(
        &mut self,
        msg_type: MessageType,
        body: Vec<u8>,
    ) -> Result<Response, TransportError> {
        let result = self.exchange(msg_type, body).await;
        if msg_type == MessageType::ERROR {
            // An error message ends the protocol it reports on, whatever came back.
            let current = self.current;
            self.end(current);
        }
        result
    }
}

/// The `Message-Type` header, if present; a present header must be a decimal `u8`.
fn message_type(headers: &HeaderMap) -> Result<Option<MessageType>, TransportError> {
    let Some(value) = headers.get(MESSAGE_TYPE_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse::<u8>().ok())
        .map(|n| Some(MessageType(n)))
        .ok_or_else(|| TransportError::BadHeader {
            name: "Message-Type",
            value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        })
}

/// Reads the whole body, which must have a `Content-Length` of at most `max` bytes.
async fn read_body(
    response: &mut reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, TransportError> {
    let header = response
        .headers()
        .get(CONTENT_LENGTH)
        .ok_or(TransportError::MissingHeader("Content-Length"))?;
    let declared = header
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .ok_or_else(|| TransportError::BadHeader {
            name: "Content-Length",
            value: String::from_utf8_lossy(header.as_bytes()).into_owned(),
        })?;
    let limit = u64::try_from(max).unwrap_or(u64::MAX);
    if declared > limit {
        return Err(TransportError::ResponseTooLarge {
            limit: max,
            length: declared,
        });
    }
    // `declared <= max`, so it fits in usize.
    let mut body = Vec::with_capacity(usize::try_from(declared).unwrap_or(max));
    while let Some(chunk) = response.chunk().await.map_err(TransportError::from)? {
        body.extend_from_slice(&chunk);
        // HTTP/1 stops at Content-Length; this guards the limit should that ever change.
        if body.len() as u64 > declared {
            return Err(TransportError::ResponseTooLarge {
                limit: max,
                length: body.len() as u64,
            });
        }
    }
    if body.len() as u64 != declared {
        return Err(TransportError::BodyLength {
            declared,
            received: body.len() as u64,
        });
    }
    Ok(body)
}

/// An FDO exchange over HTTP failed.
///
/// Grouped by who is at fault: the caller's configuration or use, the network, a peer that
/// broke the HTTP binding, and a peer that reported an FDO error.
#[derive(Debug)]
#[non_exhaustive]
pub enum TransportError {
    // The caller.
    /// The base URL cannot be used.
    InvalidUrl {
        /// The URL given.
        url: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// `http://` to a host that is not loopback, without
    /// [`danger_allow_plain_http`](HttpTransportBuilder::danger_allow_plain_http).
    PlainHttpRefused {
        /// The URL given.
        url: String,
    },
    /// The HTTP client could not be set up.
    Setup(String),
    /// A message type outside DI, TO0, TO1, TO2 and the error message.
    UnknownMessageType(MessageType),

    // The network.
    /// The exchange took longer than the configured timeout.
    Timeout,
    /// Connecting, TLS, or the HTTP exchange failed.
    Network(reqwest::Error),

    // The peer broke the HTTP binding.
    /// An HTTP status other than 200 without an FDO error message.
    Status {
        /// The HTTP status.
        status: u16,
        /// The `Message-Type` header, if there was one.
        message_type: Option<MessageType>,
    },
    /// A required response header is missing (`Message-Type`, or `Content-Length`: a chunked
    /// body is refused, as go-fdo refuses it).
    MissingHeader(&'static str),
    /// A response header has a value that cannot be read.
    BadHeader {
        /// The header.
        name: &'static str,
        /// Its value, lossily as text.
        value: String,
    },
    /// The response body is longer than the configured maximum.
    ResponseTooLarge {
        /// The maximum.
        limit: usize,
        /// The length declared (or received).
        length: u64,
    },
    /// The response body is not as long as its `Content-Length`.
    BodyLength {
        /// The `Content-Length`.
        declared: u64,
        /// The bytes received.
        received: u64,
    },
    /// The server answered with `X-Non-Interoperable-KDF: true`: it derives session keys in a
    /// way FDO does not define (fdo-rs' non-interoperable KDF), so the protocol is abandoned.
    NonInteroperableKdf,
    /// The peer sent an FDO error message (255) that does not decode.
    MalformedErrorMessage {
        /// Why it does not decode.
        error: vouch_protocol::Error,
        /// The body as received.
        body: Vec<u8>,
    },

    // The peer reported an error.
    /// The peer answered with an FDO error message (HTTP 500, `Message-Type: 255`); the
    /// protocol is over.
    Peer(Box<ErrorMessage>),
}

impl TransportError {
    /// The FDO error message, when the peer sent one.
    pub fn peer_message(&self) -> Option<&ErrorMessage> {
        match self {
            Self::Peer(m) => Some(m),
            _ => None,
        }
    }
}

impl From<reqwest::Error> for TransportError {
    fn from(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            Self::Timeout
        } else {
            Self::Network(e)
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUrl { url, reason } => write!(f, "FDO server URL {url:?}: {reason}"),
            Self::PlainHttpRefused { url } => write!(
                f,
                "FDO server URL {url:?}: plain http:// is allowed only to loopback addresses"
            ),
            Self::Setup(e) => write!(f, "cannot set up the HTTP client: {e}"),
            Self::UnknownMessageType(t) => {
                write!(f, "message type {t} belongs to no FDO protocol")
            }
            Self::Timeout => f.write_str("the FDO server did not answer in time"),
            Self::Network(e) => write!(f, "HTTP exchange failed: {e}"),
            Self::Status {
                status,
                message_type,
            } => {
                write!(f, "the FDO server answered HTTP {status}")?;
                match message_type {
                    Some(t) => write!(f, " with Message-Type {t}"),
                    None => f.write_str(" without an FDO error message"),
                }
            }
            Self::MissingHeader(h) => write!(f, "the FDO server's answer has no {h} header"),
            Self::BadHeader { name, value } => {
                write!(f, "the FDO server's {name} header {value:?} is not valid")
            }
            Self::ResponseTooLarge { limit, length } => write!(
                f,
                "the FDO server's answer is {length} bytes, more than the {limit} allowed"
            ),
            Self::BodyLength { declared, received } => write!(
                f,
                "the FDO server's answer declared {declared} bytes but held {received}"
            ),
            Self::NonInteroperableKdf => f.write_str(
                "the FDO server asks for the non-interoperable KDF (X-Non-Interoperable-KDF: \
                 true), which this device does not implement",
            ),
            Self::MalformedErrorMessage { error, .. } => {
                write!(
                    f,
                    "the FDO server sent an unreadable error message: {error}"
                )
            }
            Self::Peer(m) => m.fmt(f),
        }
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Network(e) => Some(e),
            Self::MalformedErrorMessage { error, .. } => Some(error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_and_their_ends() {
        for (n, p) in [
            (10, Protocol::Di),
            (13, Protocol::Di),
            (20, Protocol::To0),
            (33, Protocol::To1),
            (60, Protocol::To2),
            (71, Protocol::To2),
        ] {
            assert_eq!(Protocol::of(MessageType(n)), Some(p), "{n}");
        }
        for n in [0, 14, 34, 59, 72, 255] {
            assert_eq!(Protocol::of(MessageType(n)), None, "{n}");
        }
        for p in Protocol::ALL {
            assert_eq!(Protocol::of(p.first()), Some(p));
            assert_eq!(Protocol::of(p.last()), Some(p));
        }
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://[::1]:80/",
            "http://localhost:8040/prefix",
            "https://owner.example.com",
        ] {
            HttpTransport::builder(ok)
                .build()
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for refused in ["http://192.168.1.10", "http://owner.example.com"] {
            let err = HttpTransport::builder(refused).build().unwrap_err();
            assert!(
                matches!(err, TransportError::PlainHttpRefused { .. }),
                "{refused}: {err}"
            );
            HttpTransport::builder(refused)
                .danger_allow_plain_http()
                .build()
                .unwrap();
        }
        for bad in [
            "ftp://h",
            "owner.example.com",
            "https://h/?q=1",
            "https://u:p@h/",
            "",
        ] {
            let err = HttpTransport::builder(bad).build().unwrap_err();
            assert!(
                matches!(err, TransportError::InvalidUrl { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn message_urls() {
        let t = HttpTransport::builder("https://owner.example.com")
            .build()
            .unwrap();
        assert_eq!(
            t.url(MessageType::TO2_HELLO_DEVICE),
            "https://owner.example.com/fdo/101/msg/60"
        );
        let t = HttpTransport::builder("https://example.com/fdo-owner/")
            .build()
            .unwrap();
        assert_eq!(
            t.url(MessageType::ERROR),
            "https://example.com/fdo-owner/fdo/101/msg/255"
        );
    }
}
