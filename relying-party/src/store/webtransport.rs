//! The devices' WebTransport pins: the SHA-256 of the certificate each device serves
//! WebTransport with, the notAfter of that certificate, and where the browser reaches the
//! device (migration `0004_webtransport.sql`).
//!
//! The hash lives in the `pins` row of the device (its TLS pin): TO2 may record a first one
//! ([`Pin::webtransport_sha256`](super::Pin::webtransport_sha256)), and the device's signed
//! rotation reports move it ([`Store::advance_webtransport_pin`](super::Store::advance_webtransport_pin)),
//! each only to a certificate that expires later than the one pinned. The SQL is here rather
//! than in `sql.rs` so that this concept reads in one place; it follows the same rules.

use core::fmt;

use vouch_protocol::types::Guid;

use super::InvalidEndpoint;

/// Where a device serves WebTransport: an `https` URL with a host (an address or a name) and,
/// usually, a port, such as `https://192.168.1.7:4433/`. A path is allowed (the device's server
/// accepts any); user information, a query and a fragment are not.
///
/// A browser reaches `localhost` over IPv6 only when opening WebTransport, so for a server on
/// IPv4 loopback give `127.0.0.1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebTransportUrl {
    url: reqwest::Url,
}

impl WebTransportUrl {
    /// Parses an `https` URL; see the type's documentation for what is refused.
    pub fn parse(url: &str) -> Result<Self, InvalidEndpoint> {
        let refuse = |why: &str| InvalidEndpoint(format!("{url:?}: {why}"));
        let parsed = reqwest::Url::parse(url).map_err(|e| refuse(&e.to_string()))?;
        if parsed.scheme() != "https" {
            return Err(refuse(
                "a WebTransport URL is https (WebTransport runs over HTTP/3, always TLS)",
            ));
        }
        if parsed.host().is_none() {
            return Err(refuse("no host"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(refuse("user information is not accepted"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(refuse("a WebTransport URL has no query or fragment"));
        }
        Ok(Self { url: parsed })
    }

    /// The URL, normalised (`https://host:port/path`).
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }
}

impl fmt::Display for WebTransportUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pinned device's WebTransport facts, as [`Store::get_webtransport_pin`] returns them.
///
/// [`Store::get_webtransport_pin`]: super::Store::get_webtransport_pin
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebTransportPin {
    /// The device.
    pub guid: Guid,
    /// SHA-256 of the whole DER certificate the device serves WebTransport with, if known.
    pub sha256: Option<[u8; 32]>,
    /// That certificate's notAfter (unix seconds), when it came from a rotation report.
    pub not_after: Option<i64>,
    /// Where the browser reaches the device's WebTransport server, if recorded.
    pub url: Option<WebTransportUrl>,
}

/// Compare-and-set: moves the pin only to a certificate that expires strictly later than the
/// one pinned (or when none came from a report yet). One statement, hence atomic.
pub(super) const ADVANCE: &str = "UPDATE pins SET webtransport_sha256 = $2, webtransport_not_after = $3 \
     WHERE guid = $1 AND (webtransport_not_after IS NULL OR webtransport_not_after < $3)";

pub(super) const PIN_EXISTS: &str = "SELECT 1 FROM pins WHERE guid = $1";

/// Inserts or replaces the URL, only when the device has a pin (no row otherwise). The SELECT
/// has a WHERE clause, which SQLite needs to read `ON CONFLICT` as an upsert.
pub(super) const UPSERT_URL: &str = "INSERT INTO webtransport_endpoints (guid, url, updated_at) \
     SELECT guid, $2, $3 FROM pins WHERE guid = $1 \
     ON CONFLICT (guid) DO UPDATE SET url = excluded.url, updated_at = excluded.updated_at";

pub(super) const SELECT: &str = "SELECT p.guid, p.webtransport_sha256, p.webtransport_not_after, w.url \
     FROM pins p LEFT JOIN webtransport_endpoints w ON w.guid = p.guid WHERE p.guid = $1";

pub(super) const LIST: &str = "SELECT p.guid, p.webtransport_sha256, p.webtransport_not_after, w.url \
     FROM pins p LEFT JOIN webtransport_endpoints w ON w.guid = p.guid ORDER BY p.guid";
