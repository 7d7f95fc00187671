//! The device's signed reports to its owner (`report` kind): WebTransport rotation reports and
//! certificate renewal requests signed with a seeded attestation key, and their mutations.

use serde_json::{Value, json};
use vouch_protocol::cbor::Cbor;
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{CryptoProvider, Signer, SigningKey};
use vouch_protocol::reports::renewal::{MAX_CLOCK_SKEW_SECS, RenewRequest};
use vouch_protocol::reports::rotation::{MAX_VALIDITY_SECS, WtRotation};
use vouch_protocol::types::{Guid, HashAlg, PkEnc, PkType};

use super::pins::{SeededKey, csr, refused, vouch_source};
use super::world::{C, GUID, NEW_GUID};
use super::{Ctx, FIXED_TIME, Group, R, find, flip, ok};
use crate::format::{Kind, hex_input};

fn hx(b: &[u8]) -> Value {
    json!(hex::encode(b))
}

fn key(seed: &[u8]) -> R<SigningKey> {
    SigningKey::generate(PkType::SECP256R1, &mut SeededRng::new(seed)).ctx("key")
}

/// The `report` cases.
pub fn group() -> R<Group> {
    let mut g = Group::new(
        "report",
        "The reports an onboarded device signs with its attestation key for its owner: the \
         WebTransport rotation report (COSE_Sign1 over [guid, successor_cert_sha256, not_after], \
         not_after later than now and at most 14 days ahead) and the certificate renewal request \
         (COSE_Sign1 over [guid, csr, issued_at], issued_at within 300 s of now, the CSR then \
         checked as the relying party checks it).",
    );
    let device = key(b"vouch vectors attestation key")?;
    let stranger = key(b"vouch vectors someone else")?;
    let device_key = device
        .public_key(PkEnc::X509)
        .ctx("device public key")?
        .to_cbor();
    let now = FIXED_TIME;
    let inputs = |report: &str, signed: &[u8], now: u64| {
        vec![
            ("report", json!(report)),
            ("signed", hex_input(signed)),
            ("device_key", hex_input(&device_key)),
            ("guid", hex_input(GUID.as_bytes())),
            ("now", json!(now)),
        ]
    };
    let source = || vouch_source("signed by a seeded P-256 attestation key at the fixed time");

    // ---- WebTransport rotation ----------------------------------------------------------------
    let successor: [u8; 32] = C
        .hash(HashAlg::SHA256, &[b"the successor certificate"])
        .ctx("hash")?
        .value()
        .try_into()
        .ctx("32 bytes")?;
    let rotation = |guid: Guid, not_after: u64| WtRotation {
        guid,
        successor_cert_sha256: successor,
        not_after,
    };
    let rotated = |guid: Guid, not_after: u64| -> R<Vec<u8>> {
        rotation(guid, not_after).sign(&device).ctx("rotation")
    };
    let accepted = |not_after: u64| {
        ok(vec![
            ("guid", hx(GUID.as_bytes())),
            ("successor_cert_sha256", hx(&successor)),
            ("not_after", json!(not_after)),
        ])
    };
    for (name, description, not_after) in [
        (
            "rotation-one-day",
            "A rotation report for a certificate valid one more day is accepted.",
            now + 24 * 3600,
        ),
        (
            "rotation-14-days",
            "A certificate valid exactly 14 days from now is the longest accepted.",
            now + MAX_VALIDITY_SECS,
        ),
        (
            "rotation-one-second",
            "A certificate valid one more second is accepted.",
            now + 1,
        ),
    ] {
        g.add(
            name,
            description,
            source(),
            Kind::Report,
            inputs("rotation", &rotated(GUID, not_after)?, now),
            accepted(not_after),
        );
    }
    let day = rotated(GUID, now + 24 * 3600)?;
    let negatives: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "rotation-14-days-and-1-s",
            "A certificate valid 14 days and one second from now is refused as too long.",
            rotated(GUID, now + MAX_VALIDITY_SECS + 1)?,
            "too-long",
        ),
        (
            "rotation-expired",
            "A certificate whose not_after is now has expired.",
            rotated(GUID, now)?,
            "expired",
        ),
        (
            "rotation-payload-tampered",
            "One bit of successor_cert_sha256 flipped after signing: the signature fails.",
            flip(&day, find(&day, &successor)?, 0x01)?,
            "signature",
        ),
        (
            "rotation-signature-tampered",
            "The signature's last byte flipped.",
            flip(&day, day.len() - 1, 0x01)?,
            "signature",
        ),
        (
            "rotation-other-key",
            "Signed by a key other than the device's attestation key.",
            rotation(GUID, now + 24 * 3600)
                .sign(&stranger)
                .ctx("rotation")?,
            "signature",
        ),
        (
            "rotation-other-guid",
            "Signed by the device, but for another GUID.",
            rotated(NEW_GUID, now + 24 * 3600)?,
            "wrong-guid",
        ),
        (
            "rotation-trailing-byte",
            "A byte after the COSE_Sign1.",
            [day.as_slice(), &[0x00]].concat(),
            "malformed",
        ),
        (
            "rotation-untagged",
            "The COSE_Sign1 without its tag 18.",
            day[1..].to_vec(),
            "malformed",
        ),
        (
            "rotation-truncated",
            "The report cut short by one byte.",
            day[..day.len() - 1].to_vec(),
            "malformed",
        ),
    ];
    for (name, description, signed, error) in negatives {
        g.add(
            name,
            description,
            source(),
            Kind::Report,
            inputs("rotation", &signed, now),
            refused(error),
        );
    }

    // ---- certificate renewal ------------------------------------------------------------------
    let tls_key = SeededKey::new(PkType::SECP256R1, b"vouch vectors renewed TLS key")?;
    let request_csr = csr(&tls_key, "device.home.arpa")?;
    let csr_spki = C
        .hash(HashAlg::SHA256, &[tls_key.spki()])
        .ctx("hash")?
        .value()
        .to_vec();
    let request = |guid: Guid, csr: &[u8], issued_at: u64| RenewRequest {
        guid,
        csr: csr.to_vec(),
        issued_at,
    };
    let renewal = |guid: Guid, issued_at: u64| -> R<Vec<u8>> {
        request(guid, &request_csr, issued_at)
            .sign(&device)
            .ctx("renewal")
    };
    for (name, description, issued_at) in [
        (
            "renewal-now",
            "A renewal request signed now is accepted, and its CSR with it.",
            now,
        ),
        (
            "renewal-issued-300-s-before",
            "Signed 300 s before the owner's clock: the earliest accepted.",
            now - MAX_CLOCK_SKEW_SECS,
        ),
        (
            "renewal-issued-300-s-after",
            "Signed 300 s after the owner's clock: the latest accepted.",
            now + MAX_CLOCK_SKEW_SECS,
        ),
    ] {
        g.add(
            name,
            description,
            source(),
            Kind::Report,
            inputs("renewal", &renewal(GUID, issued_at)?, now),
            ok(vec![
                ("guid", hx(GUID.as_bytes())),
                ("csr", hx(&request_csr)),
                ("issued_at", json!(issued_at)),
                ("csr_spki_sha256", hx(&csr_spki)),
            ]),
        );
    }
    let good = renewal(GUID, now)?;
    let csr_at = find(&good, &request_csr)?;
    let mut bad_csr = request_csr.clone();
    let last = bad_csr.len() - 1;
    bad_csr[last] ^= 0x01;
    let negatives: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "renewal-issued-301-s-before",
            "Signed 301 s before the owner's clock: stale.",
            renewal(GUID, now - MAX_CLOCK_SKEW_SECS - 1)?,
            "clock-skew(past)",
        ),
        (
            "renewal-issued-301-s-after",
            "Signed 301 s after the owner's clock: from the future.",
            renewal(GUID, now + MAX_CLOCK_SKEW_SECS + 1)?,
            "clock-skew(future)",
        ),
        (
            "renewal-payload-tampered",
            "One bit of the CSR flipped after signing: the signature fails.",
            flip(&good, csr_at + 20, 0x01)?,
            "signature",
        ),
        (
            "renewal-other-key",
            "Signed by a key other than the device's attestation key.",
            request(GUID, &request_csr, now)
                .sign(&stranger)
                .ctx("renewal")?,
            "signature",
        ),
        (
            "renewal-other-guid",
            "Signed by the device, but for another GUID.",
            renewal(NEW_GUID, now)?,
            "wrong-guid",
        ),
        (
            "renewal-trailing-byte",
            "A byte after the COSE_Sign1.",
            [good.as_slice(), &[0x00]].concat(),
            "malformed",
        ),
        (
            "renewal-untagged",
            "The COSE_Sign1 without its tag 18.",
            good[1..].to_vec(),
            "malformed",
        ),
        (
            "renewal-csr-signature-broken",
            "Signed by the device, but the CSR inside does not verify with its own key: the \
             relying party does not certify it.",
            request(GUID, &bad_csr, now).sign(&device).ctx("renewal")?,
            "csr.signature",
        ),
        (
            "renewal-presented-as-rotation",
            "A renewal request checked as a rotation report: its CSR is not a 32-byte hash.",
            good.clone(),
            "malformed",
        ),
    ];
    for (name, description, signed, error) in negatives {
        let report = if name == "renewal-presented-as-rotation" {
            "rotation"
        } else {
            "renewal"
        };
        g.add(
            name,
            description,
            source(),
            Kind::Report,
            inputs(report, &signed, now),
            refused(error),
        );
    }
    // A rotation report checked as a renewal request at the time it names, so that the clock
    // check passes: its 32-byte "CSR" is no PKCS#10 request.
    let not_after = now + 24 * 3600;
    g.add(
        "rotation-presented-as-renewal",
        "A rotation report checked as a renewal request at its not_after (within the clock \
         tolerance): the 32-byte hash read as a CSR is not DER, and nothing is certified.",
        source(),
        Kind::Report,
        inputs("renewal", &rotated(GUID, not_after)?, not_after),
        refused("csr.not-der"),
    );
    Ok(g)
}
