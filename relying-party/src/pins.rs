//! The devices' TLS pins as people and browsers read them (`vouch-rp pins …`).
//!
//! The owner records a pin for each device that enrolled a TLS key in TO2
//! ([`crate::tls_enrol`], [`Store::upsert_pin`](crate::store::Store::upsert_pin)). This module
//! writes them out: a listing for people ([`describe`]), and the forms a browser takes
//! ([`export`]): Chromium's `--ignore-certificate-errors-spki-list` value (comma-separated
//! base64 SHA-256 of each key's DER SubjectPublicKeyInfo), the device certificates as PEM, and
//! the WebTransport pins as JSON (the `serverCertificateHashes` value of each device, see
//! [`crate::webtransport`]).

use base64::Engine as _;

use crate::store::{PinRecord, WebTransportPin};

/// What `vouch-rp pins export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// Comma-separated base64 SHA-256 of each device key's SubjectPublicKeyInfo, the value of
    /// Chromium's `--ignore-certificate-errors-spki-list`.
    SpkiList,
    /// The device certificates, PEM.
    Pem,
    /// JSON: for each device with a WebTransport certificate hash, its GUID, WebTransport URL
    /// (or null), the hash (hex and base64) and the certificate's notAfter (unix seconds, or
    /// null when the hash came from onboarding rather than a rotation report).
    Webtransport,
}

/// Base64 (standard alphabet, padded) of a SHA-256: how Chromium names a pinned key.
pub fn spki_base64(spki_sha256: &[u8; 32]) -> String {
    base64::engine::general_purpose::STANDARD.encode(spki_sha256)
}

/// The pins in `format`, ending with a newline; `webtransport` (from
/// [`Store::list_webtransport_pins`](crate::store::Store::list_webtransport_pins)) is read only
/// by [`ExportFormat::Webtransport`].
pub fn export(
    pins: &[PinRecord],
    webtransport: &[WebTransportPin],
    format: ExportFormat,
) -> String {
    match format {
        ExportFormat::SpkiList => {
            let list: Vec<String> = pins
                .iter()
                .map(|r| spki_base64(&r.pin.spki_sha256))
                .collect();
            list.join(",") + "\n"
        }
        ExportFormat::Pem => pins
            .iter()
            .map(|r| pem::encode(&pem::Pem::new("CERTIFICATE", r.pin.cert_der.clone())))
            .collect(),
        ExportFormat::Webtransport => {
            let devices: Vec<serde_json::Value> = webtransport
                .iter()
                .filter_map(|w| {
                    let sha256 = w.sha256?;
                    Some(serde_json::json!({
                        "guid": w.guid.to_string(),
                        "url": w.url.as_ref().map(|u| u.as_str()),
                        "sha256_hex": hex::encode(sha256),
                        "sha256_base64": spki_base64(&sha256),
                        "not_after": w.not_after,
                    }))
                })
                .collect();
            serde_json::Value::Array(devices).to_string() + "\n"
        }
    }
}

/// One block of lines per pin, for people.
pub fn describe(pins: &[PinRecord]) -> String {
    let mut out = String::new();
    for r in pins {
        let p = &r.pin;
        let mut names = p.dns_names.clone();
        names.extend(p.ips.iter().map(ToString::to_string));
        out.push_str(&format!("{}\n", p.guid));
        out.push_str(&format!(
            "  key SHA-256     {}\n",
            spki_base64(&p.spki_sha256)
        ));
        out.push_str(&format!("  names           {}\n", names.join(", ")));
        let webtransport = p
            .webtransport_sha256
            .map_or_else(|| "-".to_string(), hex::encode);
        out.push_str(&format!("  WebTransport    {webtransport}\n"));
        out.push_str(&format!(
            "  pinned          {} (first {})\n",
            r.updated_at, r.created_at
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use vouch_protocol::types::Guid;

    use super::*;
    use crate::store::Pin;

    fn record(seed: u8) -> PinRecord {
        PinRecord {
            pin: Pin {
                guid: Guid([seed; 16]),
                spki_sha256: [seed; 32],
                cert_der: vec![0x30, seed],
                dns_names: vec![format!("d{seed}.home.arpa")],
                ips: vec!["192.168.1.2".parse().unwrap()],
                webtransport_sha256: None,
            },
            created_at: 1,
            updated_at: 2,
        }
    }

    #[test]
    fn the_spki_list_is_what_chromium_takes() {
        // SHA-256 values of all 0x00 and all 0xff bytes, base64.
        let mut zero = record(0);
        zero.pin.spki_sha256 = [0; 32];
        let mut ff = record(1);
        ff.pin.spki_sha256 = [0xff; 32];
        assert_eq!(
            export(&[zero, ff], &[], ExportFormat::SpkiList),
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,\
             //////////////////////////////////////////8=\n"
        );
    }

    #[test]
    fn pem_export_and_listing_name_every_device() {
        let pins = [record(1), record(2)];
        let pem_text = export(&pins, &[], ExportFormat::Pem);
        let blocks = pem::parse_many(pem_text.as_bytes()).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[1].contents(), [0x30, 2]);
        let listing = describe(&pins);
        assert!(listing.contains(&Guid([2; 16]).to_string()), "{listing}");
        assert!(listing.contains("d1.home.arpa, 192.168.1.2"), "{listing}");
        assert!(listing.contains("WebTransport    -"), "{listing}");
        assert_eq!(describe(&[]), "");
    }

    #[test]
    fn webtransport_export_is_json_per_device_with_a_hash() {
        use crate::store::{WebTransportPin, WebTransportUrl};
        let with_url = WebTransportPin {
            guid: Guid([1; 16]),
            sha256: Some([0xff; 32]),
            not_after: Some(1_800_000_000),
            url: Some(WebTransportUrl::parse("https://127.0.0.1:4433").unwrap()),
        };
        let from_onboarding = WebTransportPin {
            guid: Guid([2; 16]),
            sha256: Some([0; 32]),
            not_after: None,
            url: None,
        };
        let no_hash = WebTransportPin {
            guid: Guid([3; 16]),
            sha256: None,
            not_after: None,
            url: None,
        };
        let text = export(
            &[record(1)],
            &[with_url, from_onboarding, no_hash],
            ExportFormat::Webtransport,
        );
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {
                    "guid": Guid([1; 16]).to_string(),
                    "url": "https://127.0.0.1:4433/",
                    "sha256_hex": "ff".repeat(32),
                    "sha256_base64": "//////////////////////////////////////////8=",
                    "not_after": 1_800_000_000,
                },
                {
                    "guid": Guid([2; 16]).to_string(),
                    "url": null,
                    "sha256_hex": "00".repeat(32),
                    "sha256_base64": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                    "not_after": null,
                },
            ])
        );
    }
}
