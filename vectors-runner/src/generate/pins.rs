//! What the relying party pins (`pin` kind): certificates and CSRs made with seeded keys, so
//! their bytes are the same on every run, and the owner CA's decisions on names and addresses.

use rcgen::{CertificateParams, PublicKeyData, SerialNumber, SignatureAlgorithm};
use serde_json::{Value, json};
use vouch_protocol::ErrorCode;
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{CryptoProvider, Signer, SigningKey};
use vouch_protocol::types::{HashAlg, PkType};

use super::world::C;
use super::{Ctx, FIXED_TIME, Group, R, fail, flip, ok};
use crate::format::{Kind, Source, hex_input};

/// A refusal of the `report` and `pin` kinds: not an FDO message, so FDO error code 0.
pub fn refused(error: &str) -> crate::format::Expect {
    fail(ErrorCode(0), error)
}

/// Where the `pin` and `report` expectations come from: vouch's own design, not the FDO
/// reference.
pub fn vouch_source(what: &str) -> Source {
    Source {
        provenance: Some(what.to_string()),
        bug: Some("issue 5: attestation evidence; pin".to_string()),
        ..Source::default()
    }
}

fn hx(b: &[u8]) -> Value {
    json!(hex::encode(b))
}

fn sha256(b: &[u8]) -> R<Vec<u8>> {
    Ok(C.hash(HashAlg::SHA256, &[b])
        .ctx("SHA-256")?
        .value()
        .to_vec())
}

/// A vouch signing key as rcgen's signer: deterministic (RFC 6979) ECDSA, DER signatures.
pub struct SeededKey {
    key: SigningKey,
    spki: Vec<u8>,
    point_len: usize,
    alg: &'static SignatureAlgorithm,
}

impl SeededKey {
    /// The key of `pk_type` (P-256 or P-384) from `seed`.
    pub fn new(pk_type: PkType, seed: &[u8]) -> R<Self> {
        let key = SigningKey::generate(pk_type, &mut SeededRng::new(seed)).ctx("key")?;
        let spki = key.verifying_key().to_spki_der().ctx("SPKI")?;
        let (point_len, alg) = if pk_type == PkType::SECP384R1 {
            (97, &rcgen::PKCS_ECDSA_P384_SHA384)
        } else {
            (65, &rcgen::PKCS_ECDSA_P256_SHA256)
        };
        Ok(Self {
            key,
            spki,
            point_len,
            alg,
        })
    }

    /// Its DER SubjectPublicKeyInfo.
    pub fn spki(&self) -> &[u8] {
        &self.spki
    }
}

impl PublicKeyData for SeededKey {
    fn der_bytes(&self) -> &[u8] {
        // The SubjectPublicKeyInfo ends with the uncompressed point.
        &self.spki[self.spki.len().saturating_sub(self.point_len)..]
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
    }
}

impl rcgen::SigningKey for SeededKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let raw = self
            .key
            .sign(msg)
            .map_err(|_| rcgen::Error::RemoteKeyError)?;
        Ok(ecdsa_der(&raw))
    }
}

/// An ECDSA signature `r‖s` as X.509 writes it: SEQUENCE { INTEGER r, INTEGER s }.
fn ecdsa_der(raw: &[u8]) -> Vec<u8> {
    fn integer(b: &[u8]) -> Vec<u8> {
        let start = b
            .iter()
            .position(|&x| x != 0)
            .unwrap_or(b.len().saturating_sub(1));
        let mut v = b[start..].to_vec();
        if v.first().is_some_and(|&x| x & 0x80 != 0) {
            v.insert(0, 0);
        }
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let body = [integer(r), integer(s)].concat();
    let mut out = vec![0x30];
    if body.len() >= 0x80 {
        out.push(0x81);
    }
    out.push(body.len() as u8);
    out.extend(body);
    out
}

/// An Ed25519 key from a fixed seed (PKCS#8 v1): its signatures are deterministic too.
fn ed25519_key() -> R<rcgen::KeyPair> {
    let mut pkcs8 = hex::decode("302e020100300506032b657004220420").ctx("prefix")?;
    pkcs8.extend_from_slice(b"vouch vectors ed25519 key seed!!");
    rcgen::KeyPair::try_from(pkcs8.as_slice()).ctx("Ed25519 key")
}

fn params(name: &str) -> R<CertificateParams> {
    CertificateParams::new(vec![name.to_string()]).ctx("certificate parameters")
}

/// A self-signed TLS certificate for `key`, named `name`.
pub fn certificate(key: &impl rcgen::SigningKey, name: &str) -> R<Vec<u8>> {
    let mut p = params(name)?;
    p.serial_number = Some(SerialNumber::from(vec![0x01]));
    Ok(p.self_signed(key).ctx("certificate")?.der().to_vec())
}

/// A PKCS#10 request for `key`, named `name`.
pub fn csr(key: &impl rcgen::SigningKey, name: &str) -> R<Vec<u8>> {
    Ok(params(name)?
        .serialize_request(key)
        .ctx("CSR")?
        .der()
        .to_vec())
}

/// A refused owner-CA case: name, description, ranges, names, addresses, error kind.
type OwnerCaRefusal<'a> = (
    &'a str,
    &'a str,
    &'a [&'a str],
    &'a [&'a str],
    &'a [&'a str],
    &'a str,
);

/// The `pin` cases.
pub fn group() -> R<Group> {
    let mut g = Group::new(
        "pin",
        "What the relying party pins, computed by its own functions: a TLS certificate's SPKI \
         SHA-256 (hex, and base64 as Chromium takes it) and the SHA-256 of the whole certificate \
         (the WebTransport pin); a device's PKCS#10 request, accepted with its key or refused; \
         the owner CA issuing a certificate for names and addresses, or refusing them.",
    );
    let p256 = SeededKey::new(PkType::SECP256R1, b"vouch vectors pin p256")?;
    let p384 = SeededKey::new(PkType::SECP384R1, b"vouch vectors pin p384")?;
    let ed25519 = ed25519_key()?;

    // ---- certificates -----------------------------------------------------------------------
    let cert = |der: &[u8]| {
        vec![
            ("op", json!("certificate")),
            ("certificate", hex_input(der)),
        ]
    };
    let source = || vouch_source("a self-signed certificate rcgen made for a seeded key");
    for (name, key) in [("p256", &p256), ("p384", &p384)] {
        let der = certificate(key, "device.home.arpa")?;
        let spki = sha256(key.spki())?;
        g.add(
            &format!("certificate-{name}"),
            "The pins of a device certificate: SHA-256 of its SubjectPublicKeyInfo (hex and \
             Chromium's base64) and of the whole certificate.",
            source(),
            Kind::Pin,
            cert(&der),
            ok(vec![
                ("spki_sha256", hx(&spki)),
                ("spki_base64", json!(base64_of(&spki))),
                ("cert_sha256", hx(&sha256(&der)?)),
            ]),
        );
    }
    let der = certificate(&p256, "device.home.arpa")?;
    let mut trailing = der.clone();
    trailing.push(0);
    g.add(
        "certificate-trailing-byte",
        "A certificate with a byte after it is not one DER certificate: no pin is taken from it.",
        source(),
        Kind::Pin,
        cert(&trailing),
        refused("certificate"),
    );
    g.add(
        "certificate-truncated",
        "A certificate cut short by one byte is refused.",
        source(),
        Kind::Pin,
        cert(&der[..der.len() - 1]),
        refused("certificate"),
    );
    g.add(
        "certificate-is-a-csr",
        "A PKCS#10 request given as the certificate is refused.",
        source(),
        Kind::Pin,
        cert(&csr(&p256, "device.home.arpa")?),
        refused("certificate"),
    );

    // ---- CSRs -------------------------------------------------------------------------------
    let req = |der: &[u8]| vec![("op", json!("csr")), ("csr", hex_input(der))];
    let source = || vouch_source("a PKCS#10 request rcgen made for a seeded key");
    for (name, key, kind) in [("p256", &p256, "P-256"), ("p384", &p384, "P-384")] {
        g.add(
            &format!("csr-{name}"),
            "A device's self-signed request is accepted; the pin is the SHA-256 of its key's \
             SubjectPublicKeyInfo.",
            source(),
            Kind::Pin,
            req(&csr(key, "device.home.arpa")?),
            ok(vec![
                ("spki_sha256", hx(&sha256(key.spki())?)),
                ("key_type", json!(kind)),
            ]),
        );
    }
    let good = csr(&p256, "device.home.arpa")?;
    g.add(
        "csr-signature-flipped",
        "The last byte of the request's signature flipped: the self-signature does not verify.",
        source(),
        Kind::Pin,
        req(&flip(&good, good.len() - 1, 0x01)?),
        refused("csr.signature"),
    );
    let at = super::find(&good, b"device.home.arpa")?;
    g.add(
        "csr-subject-changed",
        "One letter of the requested name changed after signing: the self-signature does not \
         verify.",
        source(),
        Kind::Pin,
        req(&flip(&good, at, 0x01)?),
        refused("csr.signature"),
    );
    let mut trailing = good.clone();
    trailing.push(0);
    g.add(
        "csr-trailing-byte",
        "A byte after the request is refused.",
        source(),
        Kind::Pin,
        req(&trailing),
        refused("csr.trailing-bytes"),
    );
    g.add(
        "csr-truncated",
        "A request cut short by one byte is not DER.",
        source(),
        Kind::Pin,
        req(&good[..good.len() - 1]),
        refused("csr.not-der"),
    );
    g.add(
        "csr-not-der",
        "CBOR instead of DER is refused.",
        source(),
        Kind::Pin,
        req(&[0x83, 0x01, 0x02, 0x03]),
        refused("csr.not-der"),
    );
    g.add(
        "csr-ed25519",
        "A correctly self-signed request for an Ed25519 key is refused: only P-256 and P-384 \
         keys are certified.",
        source(),
        Kind::Pin,
        req(&csr(&ed25519, "device.home.arpa")?),
        refused("csr.key"),
    );

    // ---- the owner CA -----------------------------------------------------------------------
    let source = || {
        vouch_source(
            "a fresh owner CA (OwnerCa::generate) asked to certify a seeded P-256 key; its own \
             key and serial numbers are random, so only the decision and the certified names, \
             key and validity are compared",
        )
    };
    let validity = 14 * 24 * 3600_u64;
    let zone = "home.arpa";
    let ranges = ["192.168.0.0/16", "fd00::/8"];
    let ca = |ranges: &[&str], key: &[u8], names: &[&str], addresses: &[&str]| {
        vec![
            ("op", json!("owner-ca")),
            ("zone", json!(zone)),
            ("ranges", json!(ranges)),
            ("key", hex_input(key)),
            ("dns_names", json!(names)),
            ("addresses", json!(addresses)),
            ("now", json!(FIXED_TIME)),
            ("validity", json!(validity)),
        ]
    };
    let spki = sha256(p256.spki())?;
    let issued = |names: &[&str], addresses: &[&str]| {
        ok(vec![
            ("dns_names", json!(names)),
            ("addresses", json!(addresses)),
            ("spki_sha256", hx(&spki)),
            ("not_before", json!(FIXED_TIME)),
            ("not_after", json!(FIXED_TIME + validity)),
            ("signed_by_ca", json!(true)),
        ])
    };
    let key = p256.spki();
    g.add(
        "owner-ca-name-in-zone",
        "A name under the zone is certified, for the key given, from now for the validity.",
        source(),
        Kind::Pin,
        ca(&ranges, key, &["printer.home.arpa"], &[]),
        issued(&["printer.home.arpa"], &[]),
    );
    g.add(
        "owner-ca-zone-itself",
        "The zone itself is a permitted name.",
        source(),
        Kind::Pin,
        ca(&ranges, key, &["home.arpa"], &[]),
        issued(&["home.arpa"], &[]),
    );
    g.add(
        "owner-ca-name-upper-case",
        "Names compare without case; the certificate names it in lower case.",
        source(),
        Kind::Pin,
        ca(&ranges, key, &["Printer.HOME.arpa"], &[]),
        issued(&["printer.home.arpa"], &[]),
    );
    g.add(
        "owner-ca-addresses-in-ranges",
        "An IPv4 and an IPv6 address inside the ranges, with a name, are certified.",
        source(),
        Kind::Pin,
        ca(
            &ranges,
            key,
            &["printer.home.arpa"],
            &["192.168.1.20", "fd00::20"],
        ),
        issued(&["printer.home.arpa"], &["192.168.1.20", "fd00::20"]),
    );
    g.add(
        "owner-ca-address-only",
        "An address alone, with no name, is certified.",
        source(),
        Kind::Pin,
        ca(&ranges, key, &[], &["192.168.1.20"]),
        issued(&[], &["192.168.1.20"]),
    );
    let refusals: [OwnerCaRefusal<'_>; 9] = [
        (
            "owner-ca-name-outside-zone",
            "A name outside the zone is refused.",
            &ranges,
            &["printer.example.com"],
            &[],
            "owner-ca.name-outside-zone",
        ),
        (
            "owner-ca-name-suffix-not-a-label",
            "\"evilhome.arpa\" ends with the zone's text but is not under it: refused.",
            &ranges,
            &["evilhome.arpa"],
            &[],
            "owner-ca.name-outside-zone",
        ),
        (
            "owner-ca-one-name-outside-zone",
            "One name outside the zone among names inside it: nothing is issued.",
            &ranges,
            &["printer.home.arpa", "printer.example.com"],
            &[],
            "owner-ca.name-outside-zone",
        ),
        (
            "owner-ca-wildcard-name",
            "A wildcard is not a plain host name: refused.",
            &ranges,
            &["*.home.arpa"],
            &[],
            "owner-ca.bad-name",
        ),
        (
            "owner-ca-address-outside-ranges",
            "An address outside the ranges is refused.",
            &ranges,
            &["printer.home.arpa"],
            &["10.0.0.1"],
            "owner-ca.address-outside-ranges",
        ),
        (
            "owner-ca-ipv4-mapped-address",
            "An IPv4-mapped IPv6 address is an IPv6 address, outside the IPv6 range: refused.",
            &ranges,
            &[],
            &["::ffff:192.168.1.20"],
            "owner-ca.address-outside-ranges",
        ),
        (
            "owner-ca-no-ranges-no-address",
            "A CA with no address range certifies no address.",
            &[],
            &[],
            &["192.168.1.20"],
            "owner-ca.address-outside-ranges",
        ),
        (
            "owner-ca-empty",
            "No name and no address: refused.",
            &ranges,
            &[],
            &[],
            "owner-ca.empty",
        ),
        (
            "owner-ca-range-host-bits",
            "A range with host bits set (192.168.1.7/24) makes no CA.",
            &["192.168.1.7/24"],
            &["printer.home.arpa"],
            &[],
            "owner-ca.constraints",
        ),
    ];
    for (name, description, ranges, names, addresses, error) in refusals {
        g.add(
            name,
            description,
            source(),
            Kind::Pin,
            ca(ranges, key, names, addresses),
            refused(error),
        );
    }
    g.add(
        "owner-ca-ed25519-key",
        "An Ed25519 key is not certified, whatever the names.",
        source(),
        Kind::Pin,
        ca(
            &ranges,
            &ed25519.subject_public_key_info(),
            &["printer.home.arpa"],
            &[],
        ),
        refused("owner-ca.key"),
    );
    Ok(g)
}

/// Standard padded base64, written out here so the expectation does not come from the function
/// under test.
fn base64_of(b: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &x)| acc | u32::from(x) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
