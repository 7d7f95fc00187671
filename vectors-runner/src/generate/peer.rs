//! `peer-voucher/…`: negative vectors derived by mutation from vouchers other implementations
//! wrote (`vectors/external/`), so that the checks are also exercised on RSA keys, HMAC-SHA384
//! and fdo-rs' CBOR-array chain hash, which vouch's own vouchers do not use. The files are read
//! at build time, so generating never depends on the directory generated into.

use serde_json::Value;
use vouch_protocol::ErrorCode;
use vouch_protocol::cbor::Cbor;
use vouch_protocol::voucher::OwnershipVoucher;

use super::{Ctx, Group, R, fail, find, flip};
use crate::format::{Kind, Source, hex_input};

const OV_EXTENDED: &[u8] =
    include_bytes!("../../../vectors/external/go-fdo/testdata/ov_extended.pem");
const OV: &[u8] = include_bytes!("../../../vectors/external/go-fdo/testdata/ov.pem");
const DC: &[u8] = include_bytes!("../../../vectors/external/go-fdo/testdata/dc.bin");
const FDO_RS_VOUCHER1: &[u8] =
    include_bytes!("../../../vectors/external/fdo-rs/integration-tests/voucher1");

fn source(section: &str, peer: &str, file: &str) -> Source {
    Source {
        reference: Some(section.to_string()),
        peer: Some(peer.to_string()),
        provenance: Some(format!("one bit of external/{file} flipped")),
        bug: None,
    }
}

/// The voucher's CBOR (PEM files are decoded).
fn cbor(file: &[u8]) -> R<Vec<u8>> {
    Ok(OwnershipVoucher::from_bytes(file).ctx("voucher")?.to_cbor())
}

/// The peer-voucher group.
pub fn group() -> R<Group> {
    let mut g = Group::new(
        "peer-voucher",
        "Vouchers written by go-fdo and fdo-rs, each with one bit flipped, refused by the check \
         it breaks: RSA entry signatures (ov_extended.pem), the HMAC-SHA384 of a P-384 voucher \
         with its credential (ov.pem, dc.bin), fdo-rs' CBOR-array chain hash (voucher1).",
    );
    let invalid = ErrorCode::INVALID_MESSAGE_ERROR;
    let add = |g: &mut Group,
               name: &str,
               what: &str,
               src: Source,
               inputs: Vec<(&'static str, Value)>,
               err: &str| {
        g.add(name, what, src, Kind::Voucher, inputs, fail(invalid, err));
    };

    let ext = cbor(OV_EXTENDED)?;
    let v = OwnershipVoucher::from_cbor(&ext).ctx("ov_extended")?;
    let file = "go-fdo/testdata/ov_extended.pem";
    for i in [0usize, 3, 5] {
        let e = v.entries().get(i).ctx("entry")?;
        let sig = find(&ext, e.sign1().signature())?;
        add(
            &mut g,
            &format!("ov-extended-entry{i}-signature-flipped"),
            &format!("ov_extended.pem with one bit of entry {i}'s RS256 signature flipped."),
            source(
                "§5.2 step 7 (signature)",
                "go-fdo, FIDO conformance tools",
                file,
            ),
            vec![("voucher", hex_input(&flip(&ext, sig + 100, 0x01)?))],
            &format!("verify.entry-signature[{i}]"),
        );
        let payload = find(&ext, e.sign1().payload())?;
        add(
            &mut g,
            &format!("ov-extended-entry{i}-payload-flipped"),
            &format!("ov_extended.pem with one bit of entry {i}'s payload flipped."),
            source(
                "§5.2 step 7 (signature)",
                "go-fdo, FIDO conformance tools",
                file,
            ),
            vec![("voucher", hex_input(&flip(&ext, payload + 10, 0x01)?))],
            &format!("verify.entry-signature[{i}]"),
        );
    }
    let hmac = find(&ext, v.hmac().value())?;
    add(
        &mut g,
        "ov-extended-hmac-flipped",
        "ov_extended.pem with one bit of OVHeaderHMac flipped (no secret): entry 0 no longer links to the header.",
        source(
            "§3 hash-chain rules (entry 0)",
            "go-fdo, FIDO conformance tools",
            file,
        ),
        vec![("voucher", hex_input(&flip(&ext, hmac + 7, 0x01)?))],
        "verify.entry-prev-hash[0]",
    );
    let leaf = v.cert_chain().and_then(|c| c.first()).ctx("leaf")?;
    let at = find(&ext, leaf)?;
    add(
        &mut g,
        "ov-extended-device-cert-flipped",
        "ov_extended.pem with one bit of its device certificate flipped.",
        source(
            "§3 OVDevCertChainHash",
            "go-fdo, FIDO conformance tools",
            file,
        ),
        vec![("voucher", hex_input(&flip(&ext, at + 200, 0x01)?))],
        "verify.device-cert-chain-hash",
    );

    let ov = cbor(OV)?;
    let v = OwnershipVoucher::from_cbor(&ov).ctx("ov.pem")?;
    let file = "go-fdo/testdata/ov.pem";
    let hmac = find(&ov, v.hmac().value())?;
    add(
        &mut g,
        "ov-hmac-sha384-flipped",
        "ov.pem (P-384, HMAC-SHA384) with one bit of OVHeaderHMac flipped, checked with its credential dc.bin.",
        source("§5.2 step 4", "go-fdo, fdo-rs", file),
        vec![
            ("voucher", hex_input(&flip(&ov, hmac + 20, 0x01)?)),
            ("credential", hex_input(DC)),
        ],
        "verify.header-hmac",
    );
    let guid = find(&ov, v.guid().as_bytes())?;
    add(
        &mut g,
        "ov-guid-flipped",
        "ov.pem with one bit of its GUID flipped, checked with its credential dc.bin.",
        source("§5.2 steps 4 and 5", "go-fdo, fdo-rs", file),
        vec![
            ("voucher", hex_input(&flip(&ov, guid + 3, 0x01)?)),
            ("credential", hex_input(DC)),
        ],
        "verify.header-hmac",
    );

    let v1 = cbor(FDO_RS_VOUCHER1)?;
    let v = OwnershipVoucher::from_cbor(&v1).ctx("voucher1")?;
    let file = "fdo-rs/integration-tests/voucher1";
    let leaf = v.cert_chain().and_then(|c| c.first()).ctx("leaf")?;
    let at = find(&v1, leaf)?;
    add(
        &mut g,
        "fdo-rs-voucher1-device-cert-flipped",
        "fdo-rs' voucher1 (chain hash over the CBOR array) with one bit of its device certificate flipped: neither hash form matches.",
        source("§3 OVDevCertChainHash", "fdo-rs", file),
        vec![("voucher", hex_input(&flip(&v1, at + 60, 0x01)?))],
        "verify.device-cert-chain-hash",
    );
    Ok(g)
}
