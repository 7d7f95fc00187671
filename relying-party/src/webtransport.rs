//! The devices' WebTransport pins, on the owner's side: the signed reports that move them, and
//! the page a browser opens a pinned WebTransport session to a device from.
//!
//! A browser pins a WebTransport server by the SHA-256 of its whole DER certificate
//! (`serverCertificateHashes`), and such a certificate is valid for 14 days at most, so the
//! device rotates it and tells its owner each successor's hash beforehand
//! ([`vouch_authenticator::webtransport::rotation`], docs/WEBTRANSPORT.md).
//!
//! * `POST /vouch/v1/devices/{guid}/webtransport-hash` takes that report, a COSE_Sign1 of at
//!   most [`MAX_REPORT`] bytes. It is checked against the device attestation key of the voucher
//!   stored for `guid` ([`WtRotation::verify`]), and the pin moves only when the reported
//!   certificate expires strictly later than the pinned one
//!   ([`Store::advance_webtransport_pin`], one compare-and-set): a replayed or older report
//!   changes nothing. Answers: `204` moved; `400` malformed; `403` not signed by the device or
//!   for another GUID; `404` unknown device or no pin; `409` stale or replayed; `413` too big.
//! * `GET /webtransport/{guid}` is a page whose script opens
//!   `new WebTransport(url, {serverCertificateHashes: [{algorithm: "sha-256", value}]})` to the
//!   device's recorded WebTransport URL ([`Store::set_webtransport_url`], `vouch-rp pins
//!   endpoint --webtransport`) with the pinned hash, sends [`PING`] on a bidirectional stream
//!   and shows the echo after [`ECHO_MARKER`], or a line starting with [`FAILURE_MARKER`]. The
//!   page tells its reader only what a browser needs to open the session (the device's URL and
//!   its public certificate hash); the browser connects to the device directly, and nothing of
//!   the device passes through the relying party.
//!
//! [`routes`] returns both; the server merges them when it runs the owner role.

use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest as _, Sha256};
use vouch_authenticator::webtransport::{RotationError, WtRotation};
use vouch_protocol::crypto::RustCrypto;
use vouch_protocol::flows::to1::device_attestation_key;
use vouch_protocol::types::Guid;
use vouch_protocol::voucher::OwnershipVoucher;

use crate::rendezvous::Clock;
use crate::store::{Entity, Store, StoreError};

/// The largest report accepted, in bytes (a P-384 report is under 200).
pub const MAX_REPORT: usize = 4096;

/// What the page sends on its stream.
pub const PING: &str = "vouch ping";

/// What the page shows before the echo when the session worked.
pub const ECHO_MARKER: &str = "WebTransport echo:";

/// What the page shows, followed by the browser's error, when the session failed.
pub const FAILURE_MARKER: &str = "WebTransport failed:";

/// The report endpoint and the page.
pub fn routes(store: Arc<dyn Store>, clock: Clock) -> Router {
    Router::new()
        .route(
            "/vouch/v1/devices/{guid}/webtransport-hash",
            post(report).layer(DefaultBodyLimit::max(MAX_REPORT)),
        )
        .route("/webtransport/{guid}", get(page))
        .with_state(Pins { store, clock })
}

#[derive(Clone)]
struct Pins {
    store: Arc<dyn Store>,
    clock: Clock,
}

/// Why a request was refused: the status and a text for the client. `Internal` is logged and
/// its detail is not shown.
#[derive(Debug)]
enum Refusal {
    Malformed(String),
    Forbidden(String),
    NotFound(String),
    Stale(String),
    TooLarge,
    Internal(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, text) = match self {
            Refusal::Malformed(t) => (StatusCode::BAD_REQUEST, t),
            Refusal::Forbidden(t) => (StatusCode::FORBIDDEN, t),
            Refusal::NotFound(t) => (StatusCode::NOT_FOUND, t),
            Refusal::Stale(t) => (StatusCode::CONFLICT, t),
            Refusal::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("a WebTransport rotation report is at most {MAX_REPORT} bytes"),
            ),
            Refusal::Internal(detail) => {
                log(&detail);
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error (logged by the server)".to_owned(),
                )
            }
        };
        let mut response = (status, format!("{text}\n")).into_response();
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        response
    }
}

fn parse_guid(text: &str) -> Result<Guid, Refusal> {
    Guid::from_hex(text).map_err(|_| {
        Refusal::Malformed("the path names no device: expected a GUID of 32 hex digits".into())
    })
}

/// `POST /vouch/v1/devices/{guid}/webtransport-hash`.
async fn report(
    State(pins): State<Pins>,
    Path(guid): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match pins.report(&guid, body).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

impl Pins {
    async fn report(&self, guid: &str, body: Result<Bytes, BytesRejection>) -> Result<(), Refusal> {
        let guid = parse_guid(guid)?;
        let body = body.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Refusal::TooLarge
            } else {
                Refusal::Malformed(format!("the report could not be read: {rejection}"))
            }
        })?;
        let voucher = match self.store.get_voucher(guid).await {
            Ok(bytes) => OwnershipVoucher::from_bytes(&bytes)
                .map_err(|e| Refusal::Internal(format!("the stored voucher of {guid}: {e}")))?,
            Err(StoreError::NotFound(_)) => {
                return Err(Refusal::NotFound(format!("no device {guid} here")));
            }
            Err(e) => {
                return Err(Refusal::Internal(format!(
                    "reading the voucher of {guid}: {e}"
                )));
            }
        };
        let device_key = device_attestation_key(&voucher).map_err(|e| {
            Refusal::Forbidden(format!(
                "device {guid} has no attestation key to check a report with: {e}"
            ))
        })?;
        let now = u64::try_from((self.clock)())
            .map_err(|_| Refusal::Internal("the clock is before 1970".into()))?;
        let verified = WtRotation::verify(&body, &RustCrypto, &device_key, guid, now).map_err(
            |e| match e {
                RotationError::Signature(_) | RotationError::WrongGuid { .. } => {
                    Refusal::Forbidden(e.to_string())
                }
                RotationError::Expired { .. } => Refusal::Stale(e.to_string()),
                _ => Refusal::Malformed(e.to_string()),
            },
        )?;
        let rotation = verified.rotation();
        // `verify` bounded it by now + 14 days.
        let not_after = i64::try_from(rotation.not_after)
            .map_err(|_| Refusal::Malformed("not_after is out of range".into()))?;
        match self
            .store
            .advance_webtransport_pin(guid, &rotation.successor_cert_sha256, not_after)
            .await
        {
            Ok(()) => {
                log(&format!(
                    "device {guid}: WebTransport pin now sha256 {} (valid until {not_after})",
                    hex::encode(rotation.successor_cert_sha256)
                ));
                Ok(())
            }
            Err(StoreError::NotFound(Entity::Pin)) => Err(Refusal::NotFound(format!(
                "device {guid} has no pin: only a device that enrolled a TLS key at onboarding \
                 has a WebTransport pin"
            ))),
            Err(StoreError::Conflict(Entity::Pin)) => Err(Refusal::Stale(format!(
                "the report is stale or replayed: the pinned certificate of device {guid} \
                 expires at or after {not_after}"
            ))),
            Err(e) => Err(Refusal::Internal(format!(
                "moving the WebTransport pin of {guid}: {e}"
            ))),
        }
    }

    async fn page(&self, guid: &str) -> Result<String, Refusal> {
        let guid = parse_guid(guid)?;
        let pin = match self.store.get_webtransport_pin(guid).await {
            Ok(pin) => pin,
            Err(StoreError::NotFound(_)) => {
                return Err(Refusal::NotFound(format!("device {guid} has no pin")));
            }
            Err(e) => {
                return Err(Refusal::Internal(format!(
                    "reading the WebTransport pin of {guid}: {e}"
                )));
            }
        };
        let sha256 = pin.sha256.ok_or_else(|| {
            Refusal::NotFound(format!(
                "device {guid} has reported no WebTransport certificate yet"
            ))
        })?;
        let url = pin.url.ok_or_else(|| {
            Refusal::NotFound(format!(
                "no WebTransport URL is recorded for device {guid} (vouch-rp pins endpoint \
                 --webtransport)"
            ))
        })?;
        Ok(page_html(guid, url.as_str(), &sha256, pin.not_after))
    }
}

/// `GET /webtransport/{guid}`.
async fn page(State(pins): State<Pins>, Path(guid): Path<String>) -> Response {
    match pins.page(&guid).await {
        Ok(html) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::REFERRER_POLICY, "no-referrer"),
                (header::CONTENT_SECURITY_POLICY, CSP.as_str()),
            ],
            html,
        )
            .into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// The page's only script. It reads its input from the JSON block `#config`, so it is the
/// same for every device and the Content-Security-Policy admits it by its hash alone.
const SCRIPT: &str = r#"
(async () => {
  const status = document.getElementById("status");
  const show = (text) => { status.textContent = text; };
  try {
    const config = JSON.parse(document.getElementById("config").textContent);
    const hash = Uint8Array.from(atob(config.sha256), (c) => c.charCodeAt(0));
    const session = new WebTransport(config.url, {
      serverCertificateHashes: [{ algorithm: "sha-256", value: hash }],
    });
    const timeout = new Promise((_, reject) =>
      setTimeout(() => reject(new Error("no answer within 15 s")), 15000));
    await Promise.race([session.ready, timeout]);
    const stream = await session.createBidirectionalStream();
    const writer = stream.writable.getWriter();
    await writer.write(new TextEncoder().encode(config.ping));
    await writer.close();
    const echo = await Promise.race([new Response(stream.readable).text(), timeout]);
    show(config.echoMarker + " " + echo);
    session.close();
  } catch (e) {
    let config = {};
    try { config = JSON.parse(document.getElementById("config").textContent); } catch (_) {}
    show((config.failureMarker || "WebTransport failed:") + " " + e);
  }
})();
"#;

/// Scripts: only [`SCRIPT`]; connections: https (WebTransport) only; nothing else.
static CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = BASE64.encode(Sha256::digest(SCRIPT.as_bytes()));
    format!(
        "default-src 'none'; script-src 'sha256-{hash}'; connect-src https:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
});

/// The page for device `guid`: everything variable is escaped, in the HTML text for HTML and
/// in the JSON block so that it cannot end the block.
fn page_html(guid: Guid, url: &str, sha256: &[u8; 32], not_after: Option<i64>) -> String {
    let config = serde_json::json!({
        "url": url,
        "sha256": BASE64.encode(sha256),
        "ping": PING,
        "echoMarker": ECHO_MARKER,
        "failureMarker": FAILURE_MARKER,
    });
    let until = not_after.map_or_else(
        || "not reported".to_owned(),
        |t| format!("{t} (unix seconds)"),
    );
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>WebTransport to device {guid}</title>\n</head>\n<body>\n\
         <h1>WebTransport to device {guid}</h1>\n\
         <p>Server: <code>{url_html}</code><br>\n\
         Pinned certificate SHA-256: <code>{hex}</code><br>\n\
         Valid until: {until}</p>\n\
         <p id=\"status\">connecting…</p>\n\
         <script id=\"config\" type=\"application/json\">{config_json}</script>\n\
         <script>{SCRIPT}</script>\n</body>\n</html>\n",
        url_html = html_escape(url),
        hex = hex::encode(sha256),
        config_json = json_in_html(&config.to_string()),
    )
}

/// `text` for HTML text and attribute values.
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON text made safe inside a `<script>` element: `<`, `>` and `&` become JSON escapes
/// (they only occur inside strings), so no `</script>` or `<!--` can appear; U+2028 and U+2029
/// likewise.
fn json_in_html(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

fn log(what: &str) {
    eprintln!("vouch-rp: webtransport: {what}");
}

#[cfg(test)]
mod tests;
