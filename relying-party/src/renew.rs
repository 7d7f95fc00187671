//! Certificate renewal: a device gets its TLS key certified again, authenticated by its
//! attestation key and by nothing else.
//!
//! `POST /vouch/v1/devices/{guid}/certificate` takes a [`RenewRequest`] (a COSE_Sign1 by the
//! device's attestation key over its GUID, a PKCS#10 request for a new TLS key and the time it
//! signed; see `vouch_authenticator::renew::request` for the CDDL) and answers `200` with the
//! new chain, PEM, leaf first, then the owner CA. The checks, in order:
//!
//! 1. the path names a GUID (else `400`), the body is declared `application/cose` (`415`) and
//!    is at most [`MAX_BODY`] bytes (`413`);
//! 2. a voucher and a TLS pin are stored for the GUID (`404`);
//! 3. the body is a tagged COSE_Sign1 over a `RenewPayload`, nothing after it (`400`);
//! 4. its signature verifies with the attestation key of the stored voucher (the leaf of its
//!    device certificate chain), it names this GUID, and its `issued_at` is within 300 s of
//!    the server's clock (`403`);
//! 5. the CSR is DER PKCS#10 whose self-signature verifies with the P-256 key it holds (`400`);
//! 6. `issued_at` is later than that of the last renewal accepted for the device (`409`);
//! 7. the store holds an owner CA (`503`).
//!
//! The certificate is issued for the names and addresses of the existing pin, whatever the CSR
//! asks for, with the lifetime of an enrolment ([`crate::tls_enrol::DEFAULT_VALIDITY`] as the
//! server runs it). The pin then moves to the new key with one compare-and-set
//! ([`Store::renew_pin`]): on the certificate that was read and on `issued_at`, so of two
//! renewals racing, or a replayed one, only one changes the pin; the other gets `409`. Every
//! refusal leaves the store as it was.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use sha2::{Digest, Sha256};
use vouch_authenticator::renew::{RenewError, RenewRequest};
use vouch_protocol::cbor::Cbor;
use vouch_protocol::crypto::{RustCrypto, VerifyingKey};
use vouch_protocol::flows::to1::device_attestation_key;
use vouch_protocol::types::Guid;
use vouch_protocol::voucher::OwnershipVoucher;

use crate::owner_ca::OwnerCa;
use crate::rendezvous::Clock;
use crate::store::{Entity, PinRenewal, Store, StoreError};

/// The route.
pub const PATH: &str = "/vouch/v1/devices/{guid}/certificate";

/// The largest request body accepted: a P-256 CSR and a signature take well under 1 KiB.
pub const MAX_BODY: usize = 16 * 1024;

/// The media type of the answer: the chain, PEM (RFC 8555 §9.1).
pub const CHAIN_CONTENT_TYPE: &str = vouch_authenticator::renew::CHAIN_CONTENT_TYPE;

/// The renewal route, issuing certificates valid for `validity` (that of enrolment) from the
/// owner CA in `store`, read at each request.
pub fn routes(store: Arc<dyn Store>, clock: Clock, validity: Duration) -> Router {
    Router::new()
        .route(PATH, post(certificate))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(Renewal {
            store,
            clock,
            validity,
        })
}

#[derive(Clone)]
struct Renewal {
    store: Arc<dyn Store>,
    clock: Clock,
    validity: Duration,
}

async fn certificate(
    State(renewal): State<Renewal>,
    UrlPath(guid): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match renewal.renew(&guid, &headers, &body).await {
        Ok(chain_pem) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, CHAIN_CONTENT_TYPE)],
            chain_pem,
        )
            .into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

impl Renewal {
    async fn renew(&self, guid: &str, headers: &HeaderMap, body: &[u8]) -> Result<String, Refusal> {
        let guid = Guid::from_hex(guid).map_err(|_| Refusal::NotAGuid)?;
        if !is_cose(headers) {
            return Err(Refusal::MediaType);
        }
        let voucher = match self.store.get_voucher(guid).await {
            Ok(bytes) => OwnershipVoucher::from_cbor(&bytes)
                .map_err(|e| Refusal::Internal(format!("the stored voucher of {guid}: {e}")))?,
            Err(StoreError::NotFound(_)) => return Err(Refusal::UnknownDevice(guid)),
            Err(e) => {
                return Err(Refusal::Internal(format!(
                    "reading the voucher of {guid}: {e}"
                )));
            }
        };
        let pin = match self.store.get_pin(guid).await {
            Ok(record) => record.pin,
            Err(StoreError::NotFound(_)) => return Err(Refusal::NotPinned(guid)),
            Err(e) => return Err(Refusal::Internal(format!("reading the pin of {guid}: {e}"))),
        };
        // The key that signed the device's TO2 proof: the leaf of OVDevCertChain.
        let device_key =
            device_attestation_key(&voucher).map_err(|_| Refusal::NoDeviceKey(guid))?;
        let now = (self.clock)();
        let now_unix = u64::try_from(now)
            .map_err(|_| Refusal::Internal(format!("the clock reads {now}, before 1970")))?;
        let verified = RenewRequest::verify(body, &RustCrypto, &device_key, guid, now_unix)
            .map_err(|e| match e {
                RenewError::Malformed(_) => Refusal::Malformed(e.to_string()),
                _ => Refusal::NotAuthenticated {
                    guid,
                    why: e.to_string(),
                },
            })?;
        let request = verified.request();
        let issued_at = i64::try_from(request.issued_at)
            .map_err(|_| Refusal::Malformed("issued_at is out of range".into()))?;

        // The CSR: DER PKCS#10 whose self-signature verifies with the P-256 key it names.
        let spki_der = crate::tls_enrol::verified_csr_key(&request.csr).map_err(Refusal::BadCsr)?;
        if !matches!(
            VerifyingKey::from_spki_der(&spki_der),
            Ok(VerifyingKey::P256(_))
        ) {
            return Err(Refusal::BadCsr(
                "the CSR holds a P-384 key; a renewed TLS key must be P-256".into(),
            ));
        }

        // A request not later than the last one accepted is a replay; say so before signing
        // anything. The compare-and-set below decides in the end.
        match self.store.last_renewal(guid).await {
            Ok(Some(last)) if issued_at <= last => return Err(Refusal::Replayed(guid)),
            Ok(_) => {}
            Err(StoreError::NotFound(_)) => return Err(Refusal::NotPinned(guid)),
            Err(e) => {
                return Err(Refusal::Internal(format!(
                    "reading the last renewal of {guid}: {e}"
                )));
            }
        }

        let ca = match OwnerCa::load(self.store.as_ref()).await {
            Ok(Some(ca)) => ca,
            Ok(None) => return Err(Refusal::NoOwnerCa),
            Err(e) => return Err(Refusal::Internal(format!("loading the owner CA: {e:#}"))),
        };
        // The names and addresses of the pin, never what the CSR asks for.
        let leaf = ca
            .issue(&spki_der, &pin.dns_names, &pin.ips, self.validity, now)
            .map_err(|e| Refusal::Internal(format!("issuing the certificate of {guid}: {e:#}")))?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&leaf).map_err(|e| {
            Refusal::Internal(format!("the issued certificate does not parse: {e}"))
        })?;
        if parsed.public_key().raw != spki_der.as_slice() {
            return Err(Refusal::Internal(
                "the issued certificate does not hold the CSR's key".into(),
            ));
        }

        let renewal = PinRenewal {
            spki_sha256: Sha256::digest(&spki_der).into(),
            cert_der: leaf.clone(),
            issued_at,
        };
        match self
            .store
            .renew_pin(guid, &pin.cert_der, &renewal, now)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict(Entity::Pin)) => return Err(Refusal::Replayed(guid)),
            Err(StoreError::NotFound(_)) => return Err(Refusal::NotPinned(guid)),
            Err(e) => return Err(Refusal::Internal(format!("storing the pin of {guid}: {e}"))),
        }
        log(&format!(
            "device {guid} renewed its TLS certificate: key SHA-256 {}",
            hex::encode(renewal.spki_sha256)
        ));
        Ok([leaf.as_slice(), ca.cert_der()]
            .into_iter()
            .map(|der| pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec())))
            .collect())
    }
}

/// True when the body is declared `application/cose` (any parameters).
fn is_cose(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/cose"))
}

/// Why a renewal was refused. What the client reads is in [`IntoResponse`]; internal details go
/// to the log only.
#[derive(Debug)]
enum Refusal {
    NotAGuid,
    MediaType,
    UnknownDevice(Guid),
    NotPinned(Guid),
    NoDeviceKey(Guid),
    Malformed(String),
    NotAuthenticated { guid: Guid, why: String },
    BadCsr(String),
    Replayed(Guid),
    NoOwnerCa,
    Internal(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::NotAGuid => plain(
                StatusCode::BAD_REQUEST,
                "not a device GUID: expected 32 hexadecimal digits after /vouch/v1/devices/",
            ),
            Refusal::MediaType => plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "a renewal request is application/cose (a COSE_Sign1)",
            ),
            Refusal::UnknownDevice(guid) => plain(
                StatusCode::NOT_FOUND,
                &format!("device {guid} is not known to this owner"),
            ),
            Refusal::NotPinned(guid) => plain(
                StatusCode::NOT_FOUND,
                &format!(
                    "device {guid} has no TLS pin here: it enrols a TLS key when it onboards, \
                     and renews only that"
                ),
            ),
            Refusal::NoDeviceKey(guid) => plain(
                StatusCode::FORBIDDEN,
                &format!(
                    "the voucher of device {guid} names no attestation key in a certificate \
                     chain, so no renewal request can be checked"
                ),
            ),
            Refusal::Malformed(why) => plain(StatusCode::BAD_REQUEST, &why),
            Refusal::NotAuthenticated { guid, why } => {
                log(&format!("device {guid}: renewal refused: {why}"));
                plain(StatusCode::FORBIDDEN, &why)
            }
            Refusal::BadCsr(why) => plain(StatusCode::BAD_REQUEST, &why),
            Refusal::Replayed(guid) => plain(
                StatusCode::CONFLICT,
                &format!(
                    "this renewal request of device {guid} was used already, or the pin \
                     changed since it was read (a later renewal, an onboarding): sign a new \
                     request"
                ),
            ),
            Refusal::NoOwnerCa => plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "this owner has no owner CA to issue certificates with",
            ),
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
    eprintln!("vouch-rp: renewal: {what}");
}

#[cfg(test)]
mod tests;
