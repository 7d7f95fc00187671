//! The devices' TLS pins as people and browsers read them (`vouch-rp pins …`).
//!
//! The owner records a pin for each device that enrolled a TLS key in TO2
//! ([`crate::tls_enrol`], [`Store::upsert_pin`](crate::store::Store::upsert_pin)). This module
//! writes them out: a listing for people ([`describe`]), and the forms a browser takes
//! ([`export`]): Chromium's `--ignore-certificate-errors-spki-list` value (comma-separated
//! base64 SHA-256 of each key's DER SubjectPublicKeyInfo), the device certificates as PEM, and
//! the WebTransport pins as JSON (the `serverCertificateHashes` value of each device, see
//! [`crate::webtransport`]), and a Chromium policy that trusts the owner CA for the pinned
//! devices' names and addresses only ([`chromium_policy`]).

use base64::Engine as _;

use vouch_protocol::types::Guid;
use x509_parser::prelude::FromDer as _;

use crate::owner_ca::OwnerCa;
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
    /// Chromium's managed policy JSON (`CACertificatesWithConstraints`) trusting the owner CA
    /// only for the names and addresses of the devices pinned with a certificate it issued:
    /// a device whose pin is deleted is no longer trusted, though its certificate is still
    /// valid.
    ChromiumPolicy,
}

/// The Chromium policy of [`ExportFormat::ChromiumPolicy`] (ending with a newline), and the
/// pinned devices left out because their certificate was not issued by `ca` (or does not
/// parse).
pub fn chromium_policy(ca: &OwnerCa, pins: &[PinRecord]) -> (String, Vec<Guid>) {
    let mut dns_names: Vec<String> = Vec::new();
    let mut cidrs: Vec<String> = Vec::new();
    let mut left_out = Vec::new();
    for r in pins {
        if !issued_by(&r.pin.cert_der, ca.cert_der()) {
            left_out.push(r.pin.guid);
            continue;
        }
        for name in &r.pin.dns_names {
            if !dns_names.contains(name) {
                dns_names.push(name.clone());
            }
        }
        for ip in &r.pin.ips {
            let bits = if ip.is_ipv4() { 32 } else { 128 };
            let cidr = format!("{ip}/{bits}");
            if !cidrs.contains(&cidr) {
                cidrs.push(cidr);
            }
        }
    }
    (ca.chromium_policy_for(&dns_names, &cidrs) + "\n", left_out)
}

/// Whether `cert_der`'s signature verifies with the key of `ca_der`, and it names `ca_der`'s
/// subject as its issuer.
fn issued_by(cert_der: &[u8], ca_der: &[u8]) -> bool {
    let (Ok((_, cert)), Ok((_, ca))) = (
        x509_parser::certificate::X509Certificate::from_der(cert_der),
        x509_parser::certificate::X509Certificate::from_der(ca_der),
    ) else {
        return false;
    };
    cert.issuer() == ca.subject() && cert.verify_signature(Some(ca.public_key())).is_ok()
}

/// Base64 (standard alphabet, padded) of a SHA-256: how Chromium names a pinned key.
pub fn spki_base64(spki_sha256: &[u8; 32]) -> String {
    base64::engine::general_purpose::STANDARD.encode(spki_sha256)
}

/// The pins in `format`, ending with a newline; `webtransport` (from
/// [`Store::list_webtransport_pins`](crate::store::Store::list_webtransport_pins)) is read only
/// by [`ExportFormat::Webtransport`], `owner_ca` only by [`ExportFormat::ChromiumPolicy`]
/// (which fails without one, and names on standard error the devices it leaves out).
pub fn export(
    pins: &[PinRecord],
    webtransport: &[WebTransportPin],
    owner_ca: Option<&OwnerCa>,
    format: ExportFormat,
) -> anyhow::Result<String> {
    Ok(match format {
        ExportFormat::ChromiumPolicy => {
            let ca = owner_ca.ok_or_else(|| {
                anyhow::anyhow!("there is no owner CA (vouch-rp ca init): no policy to write")
            })?;
            let (policy, left_out) = chromium_policy(ca, pins);
            for guid in left_out {
                eprintln!(
                    "vouch-rp: device {guid} left out: its certificate is not from the owner CA"
                );
            }
            policy
        }
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
    })
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
            export(&[zero, ff], &[], None, ExportFormat::SpkiList).unwrap(),
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,\
             //////////////////////////////////////////8=\n"
        );
    }

    #[test]
    fn pem_export_and_listing_name_every_device() {
        let pins = [record(1), record(2)];
        let pem_text = export(&pins, &[], None, ExportFormat::Pem).unwrap();
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
    fn chromium_policy_trusts_the_owner_ca_for_its_pinned_devices_only() {
        use rcgen::PublicKeyData as _;
        let ranges = ["192.168.0.0/16".to_string(), "fd00::/8".to_string()];
        let ca = OwnerCa::generate("home.arpa", &ranges).unwrap();
        let other = OwnerCa::generate("home.arpa", &ranges).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let issue = |ca: &OwnerCa, name: &str, ip: &str| {
            ca.issue(
                &key.subject_public_key_info(),
                &[name.to_string()],
                &[ip.parse().unwrap()],
                std::time::Duration::from_secs(86_400),
                1_700_000_000,
            )
            .unwrap()
        };
        let mut a = record(1);
        a.pin.cert_der = issue(&ca, "a.home.arpa", "192.168.1.2");
        a.pin.dns_names = vec!["a.home.arpa".into()];
        a.pin.ips = vec!["192.168.1.2".parse().unwrap()];
        let mut b = record(2);
        b.pin.cert_der = issue(&ca, "b.home.arpa", "fd00::7");
        b.pin.dns_names = vec!["b.home.arpa".into()];
        b.pin.ips = vec!["fd00::7".parse().unwrap()];
        let mut foreign = record(3);
        foreign.pin.cert_der = issue(&other, "c.home.arpa", "192.168.1.3");
        foreign.pin.dns_names = vec!["c.home.arpa".into()];

        let (policy, left_out) = chromium_policy(&ca, &[a, b, foreign]);
        assert_eq!(left_out, vec![Guid([3; 16])]);
        let json: serde_json::Value = serde_json::from_str(&policy).unwrap();
        let entry = &json["CACertificatesWithConstraints"][0];
        assert_eq!(
            entry["certificate"],
            base64::engine::general_purpose::STANDARD.encode(ca.cert_der())
        );
        assert_eq!(
            entry["constraints"]["permitted_dns_names"],
            serde_json::json!(["a.home.arpa", "b.home.arpa"])
        );
        assert_eq!(
            entry["constraints"]["permitted_cidrs"],
            serde_json::json!(["192.168.1.2/32", "fd00::7/128"])
        );
        // Without an owner CA there is no policy to write.
        assert!(export(&[record(1)], &[], None, ExportFormat::ChromiumPolicy).is_err());
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
            None,
            ExportFormat::Webtransport,
        )
        .unwrap();
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
