//! `vouch.tls`: TLS key enrolment over ServiceInfo, vouch's own module.
//!
//! During TO2, over the attested and encrypted ServiceInfo channel, the device generates a
//! fresh TLS key and asks the owner to certify it for the names and addresses it will serve
//! its local page on; the owner answers with a certificate chain from its owner CA and keeps
//! the key's pin. The standard `fdo.csr` module cannot be used: it carries EST messages (a
//! CSR and a certificate, nothing else), with no room for the names the device asks for apart
//! from the CSR itself, nor for the SHA-256 of a WebTransport certificate, which a browser pins
//! instead of a chain.
//!
//! | Key | From | Value |
//! |---|---|---|
//! | `vouch.tls:active` | owner | `bool` (true), as for every module |
//! | `vouch.tls:enroll` | owner | [`Enroll`]: `{ "zone": tstr, ? "validity_seconds": uint }` |
//! | `vouch.tls:csr` | device | [`CsrRequest`]: `[csr: bstr, dns_names: [* tstr], ips: [* bstr], ? webtransport_cert_sha256: bstr .size 32]` |
//! | `vouch.tls:cert` | owner | [`CertChain`]: `[chain: [+ bstr]]`, leaf first |
//! | `vouch.tls:error` | owner | `tstr`: why the request was refused |
//!
//! A device that does not have the module answers `vouch.tls:active = false`, as FDO expects.
//! [`OwnerMessage`] and [`DeviceMessage`] read a message by name; a name this version does not
//! know is kept as such ([`OwnerMessage::Unknown`], [`DeviceMessage::Unknown`]) for the caller
//! to ignore. The document `docs/SERVICEINFO-TLS.md` describes the exchange as a whole.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::Error;
use crate::cbor::{Cbor, Decoder, Encoder};
use crate::error::Found;
use crate::serviceinfo::{ACTIVE, ModuleMessage, decode_value};

/// The module name.
pub const MODULE: &str = "vouch.tls";
/// Owner → device: enrol a TLS key ([`Enroll`]).
pub const ENROLL: &str = "enroll";
/// Device → owner: the certificate request ([`CsrRequest`]).
pub const CSR: &str = "csr";
/// Owner → device: the issued chain ([`CertChain`]).
pub const CERT: &str = "cert";
/// Owner → device: the request was refused (a text string saying why).
pub const ERROR: &str = "error";

/// Most DNS names, and most addresses, one request may carry.
pub const MAX_NAMES: usize = 16;
/// Most certificates in a chain.
pub const MAX_CHAIN: usize = 8;
/// Longest DNS name (RFC 1035, without the final dot).
pub const MAX_DNS_NAME: usize = 253;

/// `vouch.tls:enroll`: the owner asks the device to enrol a TLS key for names under `zone`.
///
/// ```text
/// Enroll = { "zone": tstr, ? "validity_seconds": uint }
/// ```
///
/// Map keys this version does not know are skipped, so a later owner may add some; a key sent
/// twice is refused. The encoding writes `zone` first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enroll {
    /// The DNS zone the owner CA may issue names in, e.g. `home.arpa`.
    pub zone: String,
    /// How long the owner means the certificate to be valid; informative.
    pub validity_seconds: Option<u64>,
}

const KEY_ZONE: &str = "zone";
const KEY_VALIDITY: &str = "validity_seconds";

impl Cbor for Enroll {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        let pairs = d.map("vouch.tls:enroll (map)")?;
        if pairs > d.remaining().len() as u64 {
            return Err(d.error("vouch.tls:enroll (map)", Found::Length(pairs)));
        }
        let mut zone = None;
        let mut validity_seconds = None;
        for _ in 0..pairs {
            let at = d.position();
            let key = d.text("vouch.tls:enroll key (tstr)")?;
            let duplicate = match key {
                KEY_ZONE => zone
                    .replace(d.text("vouch.tls:enroll zone (tstr)")?.to_string())
                    .is_some(),
                KEY_VALIDITY => validity_seconds
                    .replace(d.uint("vouch.tls:enroll validity_seconds (uint)")?)
                    .is_some(),
                _ => {
                    d.item("vouch.tls:enroll value")?;
                    false
                }
            };
            if duplicate {
                return Err(Error::invalid(
                    "vouch.tls:enroll",
                    alloc::format!("key {key:?} sent twice (at byte {at})"),
                ));
            }
        }
        let zone = zone.ok_or_else(|| Error::invalid("vouch.tls:enroll", "no \"zone\""))?;
        Ok(Self {
            zone,
            validity_seconds,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.map(1 + usize::from(self.validity_seconds.is_some()))
            .text(KEY_ZONE)
            .text(&self.zone);
        if let Some(v) = self.validity_seconds {
            e.text(KEY_VALIDITY).uint(v);
        }
    }
}

/// `vouch.tls:csr`: the device's request for its TLS key.
///
/// ```text
/// CsrRequest = [
///   csr: bstr,                               ; PKCS#10 CertificationRequest, DER
///   dns_names: [* tstr],                     ; names the device serves on
///   ips: [* bstr .size 4 / bstr .size 16],   ; addresses it serves on
///   ? webtransport_cert_sha256: bstr .size 32 ; SHA-256 of its WebTransport certificate (DER)
/// ]
/// ```
///
/// The names and addresses are what the device asks to be certified for; the owner certifies
/// these, not whatever the CSR's own extensions say. At most [`MAX_NAMES`] of each, names of
/// at most [`MAX_DNS_NAME`] bytes. Whether a name is a valid DNS name is the owner's check
/// ([`is_dns_name`]), so that it can say why in `vouch.tls:error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsrRequest {
    /// The PKCS#10 request, DER, signed with the TLS key it names.
    pub csr: Vec<u8>,
    /// DNS names.
    pub dns_names: Vec<String>,
    /// IP addresses.
    pub ips: Vec<IpAddr>,
    /// SHA-256 of the whole DER certificate the device serves WebTransport with.
    pub webtransport_cert_sha256: Option<[u8; 32]>,
}

impl Cbor for CsrRequest {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        let n = d.array_between(3, 4, "vouch.tls:csr (array of 3 or 4)")?;
        let csr = d.bytes("vouch.tls:csr csr (bstr)")?.to_vec();
        let count = bounded_array(d, "vouch.tls:csr dns_names (array)")?;
        let mut dns_names = Vec::with_capacity(count);
        for _ in 0..count {
            let at = d.position();
            let name = d.text("vouch.tls:csr DNS name (tstr)")?;
            if name.len() > MAX_DNS_NAME {
                return Err(Error::invalid(
                    "vouch.tls:csr",
                    alloc::format!("a DNS name of {} bytes (at byte {at})", name.len()),
                ));
            }
            dns_names.push(name.to_string());
        }
        let count = bounded_array(d, "vouch.tls:csr ips (array)")?;
        let mut ips = Vec::with_capacity(count);
        for _ in 0..count {
            ips.push(decode_ip(d)?);
        }
        let webtransport_cert_sha256 = if n == 4 {
            Some(d.bytes_fixed::<32>("vouch.tls:csr webtransport_cert_sha256 (bstr of 32)")?)
        } else {
            None
        };
        Ok(Self {
            csr,
            dns_names,
            ips,
            webtransport_cert_sha256,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(3 + usize::from(self.webtransport_cert_sha256.is_some()))
            .bytes(&self.csr)
            .array(self.dns_names.len());
        for name in &self.dns_names {
            e.text(name);
        }
        e.array(self.ips.len());
        for ip in &self.ips {
            encode_ip(e, ip);
        }
        if let Some(h) = &self.webtransport_cert_sha256 {
            e.bytes(h);
        }
    }
}

/// An array head of at most [`MAX_NAMES`] items.
fn bounded_array(d: &mut Decoder<'_>, expected: &'static str) -> Result<usize, Error> {
    let at = d.position();
    let n = d.array(expected)?;
    if n > MAX_NAMES as u64 {
        return Err(Error::invalid(
            "vouch.tls:csr",
            alloc::format!("{n} items in a list at byte {at}; at most {MAX_NAMES}"),
        ));
    }
    // Bounded above: the conversion cannot truncate.
    Ok(n as usize)
}

/// An IP address as a byte string of 4 (IPv4) or 16 (IPv6) bytes, network order.
pub fn decode_ip(d: &mut Decoder<'_>) -> Result<IpAddr, Error> {
    let at = d.position();
    let b = d.bytes("IP address (bstr of 4 or 16)")?;
    if let Ok(v4) = <[u8; 4]>::try_from(b) {
        Ok(IpAddr::V4(Ipv4Addr::from(v4)))
    } else if let Ok(v6) = <[u8; 16]>::try_from(b) {
        Ok(IpAddr::V6(Ipv6Addr::from(v6)))
    } else {
        Err(Error::invalid(
            "IP address",
            alloc::format!("{} bytes at byte {at}, expected 4 or 16", b.len()),
        ))
    }
}

/// Writes an IP address as [`decode_ip`] reads it.
pub fn encode_ip(e: &mut Encoder, ip: &IpAddr) {
    match ip {
        IpAddr::V4(v4) => e.bytes(&v4.octets()),
        IpAddr::V6(v6) => e.bytes(&v6.octets()),
    };
}

/// `vouch.tls:cert`: the issued certificate chain, leaf first, then the owner CA.
///
/// ```text
/// CertChain = [chain: [+ bstr]]   ; DER certificates, at most 8
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertChain(pub Vec<Vec<u8>>);

impl CertChain {
    /// The leaf certificate (DER), the one for the device's key.
    pub fn leaf(&self) -> Option<&[u8]> {
        self.0.first().map(Vec::as_slice)
    }
}

impl Cbor for CertChain {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(1, "vouch.tls:cert (array of 1)")?;
        let n = d.array_between(
            1,
            MAX_CHAIN as u64,
            "vouch.tls:cert chain (array of 1 to 8)",
        )?;
        let mut chain = Vec::new();
        for _ in 0..n {
            chain.push(d.bytes("vouch.tls:cert certificate (bstr)")?.to_vec());
        }
        Ok(Self(chain))
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(1).array(self.0.len());
        for c in &self.0 {
            e.bytes(c);
        }
    }
}

/// A `vouch.tls` message from the owner, read by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnerMessage {
    /// `vouch.tls:active`.
    Active(bool),
    /// `vouch.tls:enroll`.
    Enroll(Enroll),
    /// `vouch.tls:cert`.
    Cert(CertChain),
    /// `vouch.tls:error`: the owner refused, and says why.
    Error(String),
    /// A message this version does not know: its name.
    Unknown(String),
}

impl OwnerMessage {
    /// Reads the message `message` (the part after `vouch.tls:`) with value `value`.
    pub fn decode(message: &str, value: &[u8]) -> Result<Self, Error> {
        Ok(match message {
            ACTIVE => Self::Active(decode_value(message, value)?),
            ENROLL => Self::Enroll(decode_value(message, value)?),
            CERT => Self::Cert(decode_value(message, value)?),
            ERROR => Self::Error(decode_value(message, value)?),
            other => Self::Unknown(other.to_string()),
        })
    }

    /// The message to send, or `None` for [`OwnerMessage::Unknown`], which has no value.
    pub fn to_module_message(&self) -> Option<ModuleMessage> {
        Some(match self {
            Self::Active(b) => ModuleMessage::new(ACTIVE, b),
            Self::Enroll(m) => ModuleMessage::new(ENROLL, m),
            Self::Cert(m) => ModuleMessage::new(CERT, m),
            Self::Error(why) => ModuleMessage::new(ERROR, why),
            Self::Unknown(_) => return None,
        })
    }
}

/// A `vouch.tls` message from the device, read by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceMessage {
    /// `vouch.tls:active` (false: the device does not have the module).
    Active(bool),
    /// `vouch.tls:csr`.
    Csr(CsrRequest),
    /// A message this version does not know: its name.
    Unknown(String),
}

impl DeviceMessage {
    /// Reads the message `message` (the part after `vouch.tls:`) with value `value`.
    pub fn decode(message: &str, value: &[u8]) -> Result<Self, Error> {
        Ok(match message {
            ACTIVE => Self::Active(decode_value(message, value)?),
            CSR => Self::Csr(decode_value(message, value)?),
            other => Self::Unknown(other.to_string()),
        })
    }
}

/// True for a DNS name a certificate may carry: lowercase ASCII letters, digits and hyphens in
/// dot-separated labels of 1 to 63 bytes that neither start nor end with a hyphen, at most
/// [`MAX_DNS_NAME`] bytes, no final dot, no wildcard. Names are compared as written, so they
/// must be lowercase.
pub fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_DNS_NAME
        && name.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b.first() != Some(&b'-')
                && b.last() != Some(&b'-')
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// Hex with whitespace and `#` comments (to the end of the line) ignored.
    fn hex(s: &str) -> Vec<u8> {
        let s: String = s
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .flat_map(|l| l.split_whitespace())
            .collect();
        ::hex::decode(s).unwrap()
    }

    #[test]
    fn enroll_encodes_as_a_map_zone_first() {
        let m = Enroll {
            zone: "home.arpa".into(),
            validity_seconds: Some(604_800),
        };
        let expected = hex("a2                               # map of 2
             64 7a6f6e65                      # \"zone\"
             69 686f6d652e61727061            # \"home.arpa\"
             70 76616c69646974795f7365636f6e6473 # \"validity_seconds\"
             1a 00093a80                      # 604800");
        assert_eq!(m.to_cbor(), expected);
        assert_eq!(Enroll::from_cbor(&expected).unwrap(), m);

        let bare = Enroll {
            zone: "z".into(),
            validity_seconds: None,
        };
        // {"zone": "z"}
        assert_eq!(bare.to_cbor(), hex("a1 64 7a6f6e65 61 7a"));
    }

    #[test]
    fn enroll_skips_unknown_keys_and_refuses_duplicates_and_a_missing_zone() {
        // {"later": [1], "zone": "z"}: the unknown key is skipped, in any position.
        let m = Enroll::from_cbor(&hex("a2 65 6c61746572 81 01 64 7a6f6e65 61 7a")).unwrap();
        assert_eq!(m.zone, "z");
        // {"zone": "z", "zone": "y"}
        let e = Enroll::from_cbor(&hex("a2 64 7a6f6e65 61 7a 64 7a6f6e65 61 79")).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
        // {}
        let e = Enroll::from_cbor(&hex("a0")).unwrap_err();
        assert!(e.to_string().contains("zone"), "{e}");
        // an array instead of a map
        assert!(Enroll::from_cbor(&hex("81 61 7a")).is_err());
        // a map announcing more pairs than the input holds
        assert!(Enroll::from_cbor(&hex("bb 00000000ffffffff")).is_err());
    }

    fn csr_request() -> CsrRequest {
        CsrRequest {
            csr: vec![0x30, 0x00],
            dns_names: vec!["ab.home.arpa".into()],
            ips: vec![
                IpAddr::V4(Ipv4Addr::new(192, 168, 1, 7)),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ],
            webtransport_cert_sha256: Some([0x11; 32]),
        }
    }

    #[test]
    fn csr_request_round_trips_with_and_without_the_webtransport_hash() {
        let mut m = csr_request();
        let mut expected = hex("84                                # array of 4
             42 3000                           # csr
             81 6c 61622e686f6d652e61727061    # [\"ab.home.arpa\"]
             82 44 c0a80107                    # [192.168.1.7,
                50 00000000000000000000000000000001 #  ::1]
             58 20");
        expected.extend_from_slice(&[0x11; 32]); // webtransport_cert_sha256
        assert_eq!(m.to_cbor(), expected);
        assert_eq!(CsrRequest::from_cbor(&expected).unwrap(), m);

        m.webtransport_cert_sha256 = None;
        m.ips.clear();
        m.dns_names.clear();
        // [h'3000', [], []]
        let short = hex("83 42 3000 80 80");
        assert_eq!(m.to_cbor(), short);
        assert_eq!(CsrRequest::from_cbor(&short).unwrap(), m);
    }

    #[test]
    fn csr_request_refuses_bad_addresses_hashes_and_lengths() {
        // an address of 5 bytes
        let e = CsrRequest::from_cbor(&hex("83 42 3000 80 81 45 0102030405")).unwrap_err();
        assert!(e.to_string().contains("expected 4 or 16"), "{e}");
        // a WebTransport hash of 31 bytes
        let mut b = hex("84 42 3000 80 80 58 1f");
        b.extend_from_slice(&[0; 31]);
        assert!(CsrRequest::from_cbor(&b).is_err());
        // 2 and 5 items
        assert!(CsrRequest::from_cbor(&hex("82 42 3000 80")).is_err());
        assert!(CsrRequest::from_cbor(&hex("85 42 3000 80 80 f6 f6")).is_err());
        // 17 names
        let mut b = hex("83 42 3000 91");
        for _ in 0..17 {
            b.extend_from_slice(&hex("61 61"));
        }
        b.push(0x80);
        let e = CsrRequest::from_cbor(&b).unwrap_err();
        assert!(e.to_string().contains("at most 16"), "{e}");
        // a name of 254 bytes
        let mut b = hex("83 42 3000 81 78 fe");
        b.extend_from_slice(&[b'a'; 254]);
        b.push(0x80);
        assert!(CsrRequest::from_cbor(&b).is_err());
        // trailing bytes
        assert!(CsrRequest::from_cbor(&hex("83 42 3000 80 80 00")).is_err());
    }

    #[test]
    fn cert_chain_round_trips_and_needs_one_to_eight_certificates() {
        let m = CertChain(vec![vec![0x30, 0x01], vec![0x30, 0x02]]);
        // [[h'3001', h'3002']]
        let expected = hex("81 82 42 3001 42 3002");
        assert_eq!(m.to_cbor(), expected);
        assert_eq!(CertChain::from_cbor(&expected).unwrap(), m);
        assert_eq!(m.leaf(), Some(&[0x30, 0x01][..]));
        // [[]]
        assert!(CertChain::from_cbor(&hex("81 80")).is_err());
        // [[9 certificates]]
        let mut b = hex("81 89");
        for _ in 0..9 {
            b.extend_from_slice(&hex("41 30"));
        }
        assert!(CertChain::from_cbor(&b).is_err());
        // the chain without its wrapping array
        assert!(CertChain::from_cbor(&hex("82 42 3001 42 3002")).is_err());
    }

    #[test]
    fn messages_are_read_by_name_and_unknown_names_survive() {
        assert_eq!(
            OwnerMessage::decode("active", &hex("f5")).unwrap(),
            OwnerMessage::Active(true)
        );
        assert_eq!(
            OwnerMessage::decode("error", &hex("62 6e6f")).unwrap(),
            OwnerMessage::Error("no".into())
        );
        assert_eq!(
            OwnerMessage::decode("rotate", &hex("f6")).unwrap(),
            OwnerMessage::Unknown("rotate".into())
        );
        let enroll = OwnerMessage::Enroll(Enroll {
            zone: "home.arpa".into(),
            validity_seconds: None,
        });
        let sent = enroll.to_module_message().unwrap();
        assert_eq!(sent.message, ENROLL);
        assert_eq!(
            OwnerMessage::decode(&sent.message, &sent.value).unwrap(),
            enroll
        );
        assert!(
            OwnerMessage::Unknown("x".into())
                .to_module_message()
                .is_none()
        );
        // A known name with a value of the wrong type names the message.
        let e = OwnerMessage::decode("cert", &hex("f5")).unwrap_err();
        assert!(e.to_string().contains("cert"), "{e}");

        let csr = csr_request();
        assert_eq!(
            DeviceMessage::decode(CSR, &csr.to_cbor()).unwrap(),
            DeviceMessage::Csr(csr)
        );
        assert_eq!(
            DeviceMessage::decode("active", &hex("f4")).unwrap(),
            DeviceMessage::Active(false)
        );
        assert_eq!(
            DeviceMessage::decode("status", &hex("00")).unwrap(),
            DeviceMessage::Unknown("status".into())
        );
    }

    #[test]
    fn dns_names_are_lowercase_labels_without_wildcards() {
        for good in ["home.arpa", "0123456789abcdef.home.arpa", "a-b.c", "x"] {
            assert!(is_dns_name(good), "{good}");
        }
        let long_label = "a".repeat(64);
        let long_name = ["a".repeat(63).as_str(); 4].join(".");
        assert_eq!(long_name.len(), 255);
        for bad in [
            "",
            "Home.arpa",
            "*.home.arpa",
            "home.arpa.",
            ".home.arpa",
            "a..b",
            "-a.b",
            "a-.b",
            "a_b.c",
            "é.fr",
            long_label.as_str(),
            long_name.as_str(),
        ] {
            assert!(!is_dns_name(bad), "{bad:?}");
        }
    }
}
