//! The pinning proxy: the owner reaches a device's HTTPS page through the key it pinned.
//!
//! `GET /devices/{guid}/{path}` is forwarded to the device's endpoint (recorded with
//! [`Store::set_device_endpoint`], `vouch-rp pins endpoint`) over a TLS client that accepts
//! exactly the device's pinned key ([`SpkiPinVerifier`]): a device presenting any other key gets
//! `502 Bad Gateway` and nothing it sent is passed on. The TLS server name (SNI) and `Host` are
//! the device's first DNS name, resolved to the endpoint's address, so the device sees the name
//! its certificate was issued for.
//!
//! What is forwarded is deliberately small: `GET` and `HEAD`, the `Accept` and
//! `Accept-Language` request headers, and back the status, `Content-Type` and a body of at most
//! [`MAX_BODY`] bytes. The device's page is served from the relying party's origin, so it is
//! sandboxed (`Content-Security-Policy: sandbox allow-scripts`): its scripts run in an opaque
//! origin and cannot read the relying party's cookies or pages.
//!
//! Who may use it: the proxy shows whoever reaches it the device's page, so [`routes`] takes
//! an [`Access`] rule. `vouch-rp serve --device-proxy` answers only clients on this machine
//! ([`Access::Loopback`], decided on the TCP peer address, so a forwarded-for header cannot
//! fake it); a request whose peer address is unknown is refused. A person on another machine
//! reaches the device through the owner CA or a pin instead, until the dashboard's signed-in
//! sessions guard the proxy.
//!
//! [`routes`] returns the router; the server merges it into its app and serves it with
//! connection info (`into_make_service_with_connect_info::<SocketAddr>`).

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, DigitallySignedStruct, Error as TlsError, OtherError, SignatureScheme,
};
use vouch_protocol::types::Guid;

use crate::pinning::SpkiPinVerifier;
use crate::store::{DeviceEndpoint, Entity, Store, StoreError};

/// The largest device response body passed on (8 MiB); a larger one is `502 Bad Gateway`.
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// How long a forwarded request may take, connection and whole body included.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// How long connecting to the device (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The request headers passed to the device; every other one stays here (cookies and
/// credentials for the relying party above all).
const FORWARDED_REQUEST_HEADERS: [HeaderName; 2] = [header::ACCEPT, header::ACCEPT_LANGUAGE];

/// The sandbox every forwarded page runs in: an opaque origin, scripts allowed.
const PAGE_SANDBOX: &str = "sandbox allow-scripts";

/// Which clients the proxy serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Only clients whose TCP peer address is a loopback address. The server must provide
    /// `ConnectInfo<SocketAddr>`; without it every request is refused.
    Loopback,
    /// Every client that reaches the router: for a router behind a guard of the caller's own,
    /// and for tests that call it without a socket.
    Anyone,
}

/// The proxy's routes: `GET`/`HEAD` `/devices/{guid}/` and `/devices/{guid}/{*path}`, and
/// `/devices/{guid}` redirecting to `/devices/{guid}/` (so that the page's relative links
/// resolve under it), for the clients `access` admits (others get `403 Forbidden`).
pub fn routes(store: Arc<dyn Store>, access: Access) -> Router {
    let proxy = Proxy {
        store,
        clients: Arc::new(ClientCache::default()),
    };
    Router::new()
        .route("/devices/{guid}", get(add_slash))
        .route("/devices/{guid}/", get(forward))
        .route("/devices/{guid}/{*path}", get(forward))
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| async move {
                if admitted(access, &request) {
                    next.run(request).await
                } else {
                    plain(
                        StatusCode::FORBIDDEN,
                        "the device proxy answers only clients on this machine",
                    )
                }
            },
        ))
        .with_state(proxy)
}

/// Whether `access` admits the client that sent `request`.
fn admitted(access: Access, request: &axum::extract::Request) -> bool {
    match access {
        Access::Anyone => true,
        Access::Loopback => request
            .extensions()
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .is_some_and(|info| info.0.ip().is_loopback()),
    }
}

#[derive(Clone)]
struct Proxy {
    store: Arc<dyn Store>,
    clients: Arc<ClientCache>,
}

/// `/devices/{guid}` → `{guid}/`, a relative redirect that holds wherever the routes are
/// mounted.
async fn add_slash(uri: Uri) -> Response {
    match uri.path().rsplit('/').next() {
        Some(last) if !last.is_empty() => Redirect::permanent(&format!("{last}/")).into_response(),
        _ => plain(StatusCode::NOT_FOUND, "no such device page"),
    }
}

async fn forward(
    State(proxy): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    match proxy.forward(&method, &uri, &headers).await {
        Ok(response) => response,
        Err(refusal) => refusal.into_response(),
    }
}

impl Proxy {
    async fn forward(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<Response, Refusal> {
        // The routes only match GET and HEAD; anything else here is a routing mistake.
        if method != Method::GET && method != Method::HEAD {
            return Err(Refusal::MethodNotAllowed);
        }
        let (guid_text, tail) = split_device_path(uri.path()).ok_or(Refusal::NoSuchPath)?;
        let guid = Guid::from_hex(guid_text).map_err(|_| Refusal::NotAGuid)?;

        let pin = match self.store.get_pin(guid).await {
            Ok(record) => record.pin,
            Err(StoreError::NotFound(_)) => {
                self.clients.forget(guid);
                return Err(Refusal::NotPinned(guid));
            }
            Err(e) => return Err(Refusal::Internal(format!("reading the pin of {guid}: {e}"))),
        };
        let endpoint = match self.store.get_device_endpoint(guid).await {
            Ok(endpoint) => endpoint,
            Err(StoreError::NotFound(Entity::DeviceEndpoint)) => {
                self.clients.forget(guid);
                return Err(Refusal::NoEndpoint(guid));
            }
            Err(e) => {
                return Err(Refusal::Internal(format!(
                    "reading the endpoint of {guid}: {e}"
                )));
            }
        };

        let target =
            Target::new(&pin.dns_names, &endpoint)
                .await
                .map_err(|e| Refusal::Unreachable {
                    guid,
                    endpoint: endpoint.clone(),
                    detail: e,
                })?;
        let client = self
            .clients
            .get_or_build(guid, pin.spki_sha256, &target)
            .map_err(|e| Refusal::Internal(format!("the pinned client for {guid}: {e:#}")))?;

        let mut url = format!("https://{}:{}/{tail}", target.url_host, endpoint.port());
        if let Some(query) = uri.query() {
            url.push('?');
            url.push_str(query);
        }
        let mut request = client.request(method.clone(), &url);
        for name in FORWARDED_REQUEST_HEADERS {
            for value in headers.get_all(&name) {
                request = request.header(&name, value);
            }
        }

        let unreachable = |detail: String| Refusal::Unreachable {
            guid,
            endpoint: endpoint.clone(),
            detail,
        };
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                return Err(match key_not_pinned(&e) {
                    Some(detail) => Refusal::KeyMismatch {
                        guid,
                        endpoint: endpoint.clone(),
                        detail,
                    },
                    None if e.is_timeout() => Refusal::Timeout { guid, endpoint },
                    None => unreachable(error_chain(&e)),
                });
            }
        };

        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY as u64)
        {
            return Err(Refusal::TooLarge { guid });
        }
        let mut body = Vec::new();
        if method != Method::HEAD {
            loop {
                match response.chunk().await {
                    Ok(Some(chunk)) => {
                        if body.len() + chunk.len() > MAX_BODY {
                            return Err(Refusal::TooLarge { guid });
                        }
                        body.extend_from_slice(&chunk);
                    }
                    Ok(None) => break,
                    Err(e) if e.is_timeout() => return Err(Refusal::Timeout { guid, endpoint }),
                    Err(e) => return Err(unreachable(error_chain(&e))),
                }
            }
        }

        let mut out = Response::new(Body::from(body));
        *out.status_mut() = response.status();
        let out_headers = out.headers_mut();
        if let Some(content_type) = response.headers().get(header::CONTENT_TYPE) {
            out_headers.insert(header::CONTENT_TYPE, content_type.clone());
        }
        out_headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_SANDBOX),
        );
        out_headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        out_headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        Ok(out)
    }
}

/// `/devices/{guid}/{tail}` → (`guid`, `tail`), both as they are in the request (still
/// percent-encoded). Reads the request path rather than axum's decoded parameters so that the
/// device gets the path the browser sent.
fn split_device_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/devices/")?;
    rest.split_once('/')
}

/// Where a forwarded request goes: the name in the URL (TLS server name and `Host`) and the
/// addresses that name is resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    /// The host as written in the URL: the device's first DNS name, else the endpoint's host.
    url_host: String,
    /// The name `url_host` resolves to, when it is a DNS name.
    resolve: Option<(String, Vec<SocketAddr>)>,
}

impl Target {
    async fn new(dns_names: &[String], endpoint: &DeviceEndpoint) -> Result<Self, String> {
        let port = endpoint.port();
        let addrs: Vec<SocketAddr> = match endpoint.ip() {
            Some(ip) => vec![SocketAddr::new(ip, port)],
            None => tokio::net::lookup_host((endpoint.host(), port))
                .await
                .map_err(|e| format!("cannot resolve {}: {e}", endpoint.host()))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(format!("{} resolves to no address", endpoint.host()));
        }
        // A wildcard name cannot be a server name; the first plain one is the device's name.
        let name = dns_names
            .iter()
            .find(|n| !n.is_empty() && !n.contains('*'))
            .cloned();
        Ok(match name {
            Some(name) => Target {
                url_host: name.clone(),
                resolve: Some((name, addrs)),
            },
            // No name in the pin: the endpoint as it is. An IP needs no resolving.
            None => Target {
                url_host: endpoint.host().to_owned(),
                resolve: endpoint
                    .ip()
                    .is_none()
                    .then(|| (endpoint.host().to_owned(), addrs)),
            },
        })
    }
}

/// One HTTP client per device, kept while the device's pin and address stay the same, so that
/// connections are reused; a changed pin, name or address builds a new client.
#[derive(Default)]
struct ClientCache {
    clients: Mutex<HashMap<Guid, CachedClient>>,
}

struct CachedClient {
    spki_sha256: [u8; 32],
    target: Target,
    client: reqwest::Client,
}

impl ClientCache {
    fn get_or_build(
        &self,
        guid: Guid,
        spki_sha256: [u8; 32],
        target: &Target,
    ) -> anyhow::Result<reqwest::Client> {
        // A panic elsewhere while the lock was held leaves at worst a stale entry, which the
        // key check below replaces.
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(cached) = clients.get(&guid)
            && cached.spki_sha256 == spki_sha256
            && cached.target == *target
        {
            return Ok(cached.client.clone());
        }
        let client = pinned_client_for(spki_sha256, target)?;
        clients.insert(
            guid,
            CachedClient {
                spki_sha256,
                target: target.clone(),
                client: client.clone(),
            },
        );
        Ok(client)
    }

    fn forget(&self, guid: Guid) {
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&guid);
    }
}

/// A client that accepts only the key hashing to `spki_sha256`, with the target's name mapped
/// to its addresses. As [`crate::pinning::pinned_client`], plus the name mapping and a
/// verifier that marks a wrong key as such ([`KeyNotPinned`]).
fn pinned_client_for(spki_sha256: [u8; 32], target: &Target) -> anyhow::Result<reqwest::Client> {
    use anyhow::Context as _;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedKey(SpkiPinVerifier::new(spki_sha256))))
        .with_no_client_auth();
    let mut client = reqwest::Client::builder();
    if let Some((name, addrs)) = &target.resolve {
        client = client.resolve_to_addrs(name, addrs);
    }
    client
        .tls_backend_preconfigured(tls)
        .timeout(TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .context("building the pinned HTTP client")
}

/// A device presented a key other than its pin.
#[derive(Debug)]
struct KeyNotPinned(String);

impl fmt::Display for KeyNotPinned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for KeyNotPinned {}

/// [`SpkiPinVerifier`], with its refusal of the certificate typed as [`KeyNotPinned`] so that
/// the proxy can tell a wrong key from a device that is down.
#[derive(Debug)]
struct PinnedKey(SpkiPinVerifier);

impl ServerCertVerifier for PinnedKey {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        self.0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|e| {
                TlsError::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
                    KeyNotPinned(e.to_string()),
                ))))
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The [`KeyNotPinned`] text somewhere in an error's chain. The TLS error reaches here inside
/// an `io::Error`, whose `source()` skips the error it wraps, hence the `get_ref`.
fn key_not_pinned(e: &(dyn StdError + 'static)) -> Option<String> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(KeyNotPinned(detail)) = e.downcast_ref::<KeyNotPinned>() {
            return Some(detail.clone());
        }
        if let Some(TlsError::InvalidCertificate(CertificateError::Other(OtherError(inner)))) =
            e.downcast_ref::<TlsError>()
            && let Some(found) = key_not_pinned(inner.as_ref())
        {
            return Some(found);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(found) = key_not_pinned(inner)
        {
            return Some(found);
        }
        next = e.source();
    }
    None
}

/// An error and its sources on one line, for the log.
fn error_chain(e: &(dyn StdError + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(e) = next {
        text.push_str(": ");
        text.push_str(&e.to_string());
        next = e.source();
    }
    text
}

/// Why a request was not forwarded, or its answer not passed on. What the client reads is in
/// [`IntoResponse`]; details that are the relying party's own business go to the log only.
#[derive(Debug)]
enum Refusal {
    MethodNotAllowed,
    NoSuchPath,
    NotAGuid,
    NotPinned(Guid),
    NoEndpoint(Guid),
    KeyMismatch {
        guid: Guid,
        endpoint: DeviceEndpoint,
        detail: String,
    },
    Unreachable {
        guid: Guid,
        endpoint: DeviceEndpoint,
        detail: String,
    },
    Timeout {
        guid: Guid,
        endpoint: DeviceEndpoint,
    },
    TooLarge {
        guid: Guid,
    },
    Internal(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::MethodNotAllowed => plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "only GET and HEAD are forwarded to devices",
            ),
            Refusal::NoSuchPath => plain(StatusCode::NOT_FOUND, "no such device page"),
            Refusal::NotAGuid => plain(
                StatusCode::NOT_FOUND,
                "not a device GUID: expected 32 hexadecimal digits after /devices/",
            ),
            Refusal::NotPinned(guid) => plain(
                StatusCode::NOT_FOUND,
                &format!(
                    "device {guid} has no pinned TLS key here: it has not completed onboarding \
                     with this owner, so it cannot be reached through it"
                ),
            ),
            Refusal::NoEndpoint(guid) => plain(
                StatusCode::NOT_FOUND,
                &format!(
                    "device {guid} is pinned but its address is not known: record it with \
                     `vouch-rp pins endpoint --guid {guid} --url https://HOST:PORT`"
                ),
            ),
            Refusal::KeyMismatch {
                guid,
                endpoint,
                detail,
            } => {
                log(&format!(
                    "device {guid} at {endpoint} presented a key that does not match its pin: \
                     {detail}"
                ));
                plain(
                    StatusCode::BAD_GATEWAY,
                    &format!(
                        "the device's key does not match its pin: the server at {endpoint} is \
                         not device {guid}, or the device has a new key that was not pinned; \
                         nothing it sent is shown"
                    ),
                )
            }
            Refusal::Unreachable {
                guid,
                endpoint,
                detail,
            } => {
                log(&format!("device {guid} at {endpoint}: {detail}"));
                plain(
                    StatusCode::BAD_GATEWAY,
                    &format!("device {guid} at {endpoint} could not be reached"),
                )
            }
            Refusal::Timeout { guid, endpoint } => {
                let text = format!(
                    "device {guid} at {endpoint} did not answer within {} seconds",
                    TIMEOUT.as_secs()
                );
                log(&text);
                plain(StatusCode::GATEWAY_TIMEOUT, &text)
            }
            Refusal::TooLarge { guid } => {
                log(&format!(
                    "device {guid}: response over {MAX_BODY} bytes not passed on"
                ));
                plain(
                    StatusCode::BAD_GATEWAY,
                    &format!(
                        "device {guid} sent a response larger than {} MiB, which is not \
                         passed on",
                        MAX_BODY / (1024 * 1024)
                    ),
                )
            }
            Refusal::Internal(what) => {
                log(&format!("internal error: {what}"));
                plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

fn plain(status: StatusCode, text: &str) -> Response {
    (status, format!("{text}\n")).into_response()
}

fn log(what: &str) {
    eprintln!("vouch-rp: proxy: {what}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_paths_split_into_guid_and_tail() {
        assert_eq!(split_device_path("/devices/ab/"), Some(("ab", "")));
        assert_eq!(
            split_device_path("/devices/ab/x/y%20z"),
            Some(("ab", "x/y%20z"))
        );
        assert_eq!(split_device_path("/devices/ab"), None);
        assert_eq!(split_device_path("/other/ab/"), None);
    }

    #[test]
    fn a_wrong_key_is_found_inside_io_and_tls_errors() {
        let tls = TlsError::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
            KeyNotPinned("pinned aa, presented bb".into()),
        ))));
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        assert_eq!(
            key_not_pinned(&io).as_deref(),
            Some("pinned aa, presented bb")
        );
        let other = std::io::Error::new(std::io::ErrorKind::InvalidData, TlsError::DecryptError);
        assert_eq!(key_not_pinned(&other), None);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(key_not_pinned(&refused), None);
    }
}
