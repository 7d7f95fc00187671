//! The owner's `vouch.tls` module against CSRs made here with rcgen: what it sends, what it
//! certifies, what it refuses, and what it leaves pending in its saved state.

use rcgen::PublicKeyData;
use vouch_protocol::serviceinfo::tls::{CsrRequest, OwnerMessage};
use x509_parser::extensions::GeneralName;

use super::*;

const NOW: i64 = 1_800_000_000;
const GUID: Guid = Guid([0x42; 16]);

fn ca() -> OwnerCa {
    OwnerCa::generate("home.arpa", &["192.168.0.0/16".to_string()]).unwrap()
}

fn key() -> rcgen::KeyPair {
    rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
}

fn csr_der(key: &rcgen::KeyPair) -> Vec<u8> {
    rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(key)
        .unwrap()
        .der()
        .to_vec()
}

fn request(csr: Vec<u8>, names: &[&str], ips: &[&str]) -> Vec<u8> {
    CsrRequest {
        csr,
        dns_names: names.iter().map(|n| n.to_string()).collect(),
        ips: ips.iter().map(|i| i.parse().unwrap()).collect(),
        webtransport_cert_sha256: Some([0x77; 32]),
    }
    .to_cbor()
}

/// A module that has sent `enroll`; checks what it sent.
fn enrolling(ca: &OwnerCa) -> TlsEnrolOwner {
    let mut m = TlsEnrolOwner::new(ca.clone(), GUID, NOW, DEFAULT_VALIDITY);
    let sent = m.produce().unwrap();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0], ModuleMessage::new(ACTIVE, &true));
    assert_eq!(
        OwnerMessage::decode(&sent[1].message, &sent[1].value).unwrap(),
        OwnerMessage::Enroll(Enroll {
            zone: "home.arpa".into(),
            validity_seconds: Some(7 * 24 * 3600),
        })
    );
    assert!(!m.is_done());
    // Nothing more until the device answers.
    assert!(m.produce().unwrap().is_empty());
    m
}

/// The module's answer to `value`, through a save and restore in between as between two
/// requests.
fn answer(ca: &OwnerCa, value: &[u8]) -> (OwnerMessage, TlsEnrolOwner) {
    let mut m = enrolling(ca);
    m.receive(tls::CSR, value).unwrap();
    let saved = m.save();
    let mut m = TlsEnrolOwner::new(ca.clone(), GUID, NOW, DEFAULT_VALIDITY);
    m.restore(&saved).unwrap();
    let sent = m.produce().unwrap();
    assert_eq!(sent.len(), 1);
    assert!(m.is_done());
    assert!(m.produce().unwrap().is_empty());
    let message = OwnerMessage::decode(&sent[0].message, &sent[0].value).unwrap();
    (message, m)
}

fn refusal(ca: &OwnerCa, value: &[u8]) -> String {
    let (message, m) = answer(ca, value);
    assert!(m.pending().is_none(), "a refused request left a pin");
    assert_eq!(pending_pin(&m.save()).unwrap(), None);
    match message {
        OwnerMessage::Error(why) => why,
        other => panic!("expected vouch.tls:error, got {other:?}"),
    }
}

#[test]
fn a_good_csr_gets_a_certificate_that_chains_to_the_ca_with_the_names_asked_for() {
    let ca = ca();
    let key = key();
    let value = request(
        csr_der(&key),
        &["0123456789abcdef.home.arpa", "0123456789abcdef.home.arpa"],
        &["192.168.1.7"],
    );
    let (message, m) = answer(&ca, &value);
    let OwnerMessage::Cert(chain) = message else {
        panic!("expected vouch.tls:cert, got {message:?}");
    };
    assert_eq!(chain.0.len(), 2);
    assert_eq!(chain.0[1], ca.cert_der());

    let (_, ca_cert) = x509_parser::parse_x509_certificate(ca.cert_der()).unwrap();
    let (_, leaf) = x509_parser::parse_x509_certificate(chain.leaf().unwrap()).unwrap();
    leaf.verify_signature(Some(ca_cert.public_key())).unwrap();
    assert_eq!(leaf.issuer(), ca_cert.subject());
    assert_eq!(
        leaf.public_key().raw,
        key.subject_public_key_info().as_slice()
    );
    let san = leaf.subject_alternative_name().unwrap().unwrap();
    let names: Vec<String> = san
        .value
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::DNSName(d) => d.to_string(),
            GeneralName::IPAddress(b) => format!("ip {b:?}"),
            other => format!("{other:?}"),
        })
        .collect();
    // The duplicate name is certified once.
    assert_eq!(names, ["0123456789abcdef.home.arpa", "ip [192, 168, 1, 7]"]);
    let validity = leaf.validity();
    assert_eq!(validity.not_before.timestamp(), NOW);
    assert_eq!(validity.not_after.timestamp(), NOW + 7 * 24 * 3600);

    // The pending pin, as the owner role reads it from the saved state at TO2.Done.
    let pin = pending_pin(&m.save()).unwrap().unwrap();
    assert_eq!(Some(&pin), m.pending());
    assert_eq!(pin.guid, GUID);
    assert_eq!(
        pin.spki_sha256,
        <[u8; 32]>::from(Sha256::digest(key.subject_public_key_info()))
    );
    assert_eq!(pin.cert_der, chain.0[0]);
    assert_eq!(pin.dns_names, ["0123456789abcdef.home.arpa"]);
    assert_eq!(pin.ips, ["192.168.1.7".parse::<IpAddr>().unwrap()]);
    assert_eq!(pin.webtransport_sha256, Some([0x77; 32]));
    assert_eq!(PendingPin::from_cbor(&pin.to_cbor()).unwrap(), pin);
    let new_guid = Guid([0x43; 16]);
    let stored = pin.clone().into_pin(new_guid);
    assert_eq!(stored.guid, new_guid);
    assert_eq!(stored.spki_sha256, pin.spki_sha256);

    // A second request after the answer is ignored: the first pin stays.
    let mut m = m;
    m.receive(
        tls::CSR,
        &request(csr_der(&self::key()), &["x.home.arpa"], &[]),
    )
    .unwrap();
    assert!(m.produce().unwrap().is_empty());
    assert_eq!(m.pending(), Some(&pin));
}

#[test]
fn a_name_outside_the_zone_is_refused_and_pins_nothing() {
    let ca = ca();
    let csr = csr_der(&key());
    for name in ["device.example.com", "evilhome.arpa", "home.arpa.evil"] {
        let why = refusal(&ca, &request(csr.clone(), &["ok.home.arpa", name], &[]));
        assert!(why.contains("outside the owner's zone"), "{name}: {why}");
    }
    let why = refusal(&ca, &request(csr.clone(), &["Upper.home.arpa"], &[]));
    assert!(why.contains("lower-case host name"), "{why}");
    let why = refusal(&ca, &request(csr.clone(), &["*.home.arpa"], &[]));
    assert!(why.contains("lower-case host name"), "{why}");
    let why = refusal(&ca, &request(csr.clone(), &["a.home.arpa"], &["10.0.0.1"]));
    assert!(why.contains("outside the owner's address ranges"), "{why}");
    let why = refusal(&ca, &request(csr, &[], &[]));
    assert!(why.contains("neither"), "{why}");
}

#[test]
fn a_csr_whose_signature_does_not_verify_is_refused() {
    let ca = ca();
    let mut csr = csr_der(&key());
    // The last byte is the end of the ECDSA signature's s.
    let last = csr.len() - 1;
    csr[last] ^= 0x01;
    let why = refusal(&ca, &request(csr, &["a.home.arpa"], &[]));
    assert!(why.contains("signature does not verify"), "{why}");
}

#[test]
fn what_is_not_a_request_is_refused_not_a_failure_of_to2() {
    let ca = ca();
    let why = refusal(&ca, &[0xf5]);
    assert!(why.contains("does not decode"), "{why}");
    let why = refusal(&ca, &request(vec![0x30, 0x00], &["a.home.arpa"], &[]));
    assert!(why.contains("not a DER PKCS#10"), "{why}");
    let mut trailing = csr_der(&key());
    trailing.push(0);
    let why = refusal(&ca, &request(trailing, &["a.home.arpa"], &[]));
    assert!(why.contains("after the PKCS#10"), "{why}");
}

#[test]
fn a_request_before_enroll_is_ignored() {
    let ca = ca();
    let mut m = TlsEnrolOwner::new(ca, GUID, NOW, DEFAULT_VALIDITY);
    m.receive(tls::CSR, &request(csr_der(&key()), &["a.home.arpa"], &[]))
        .unwrap();
    assert!(m.pending().is_none());
    // It still asks for enrolment first.
    let sent = m.produce().unwrap();
    assert_eq!(sent[1].message, tls::ENROLL);
}

#[test]
fn saved_state_round_trips_and_garbage_is_refused() {
    let ca = ca();
    let mut m = TlsEnrolOwner::new(ca.clone(), GUID, NOW, DEFAULT_VALIDITY);
    // Nothing saved yet: a fresh module.
    m.restore(&[]).unwrap();
    assert_eq!(pending_pin(&[]).unwrap(), None);
    m.produce().unwrap();
    let saved = m.save();
    let mut again = TlsEnrolOwner::new(ca, GUID, NOW, DEFAULT_VALIDITY);
    again.restore(&saved).unwrap();
    assert_eq!(again.save(), saved);
    assert!(
        again.produce().unwrap().is_empty(),
        "enroll is not sent twice"
    );

    assert!(again.restore(&[0x80]).is_err());
    assert!(pending_pin(&[0x80]).is_err());
    let mut other_tag = saved.clone();
    let at = other_tag.iter().position(|b| *b == b'v').unwrap();
    other_tag[at] = b'w';
    assert!(State::from_cbor(&other_tag).is_err());
}
