//! TO0: owner ↔ rendezvous server, messages 20 to 23 (FDO reference §2.2).
//!
//! ```text
//! 20 TO0.Hello       = []                                          owner → RV
//! 21 TO0.HelloAck    = [NonceTO0Sign]                              RV → owner
//! 22 TO0.OwnerSign   = [to0d: bstr .cbor To0d, to1d: COSE_Sign1]   owner → RV
//! 23 TO0.AcceptOwner = [WaitSeconds: uint32]                       RV → owner
//!
//! To0d            = [OwnershipVoucher, WaitSeconds: uint32, NonceTO0Sign]
//! To1dBlobPayload = [to1dRV: [+ RVTO2AddrEntry], to1dTo0dHash: Hash]
//! RVTO2AddrEntry  = [RVIP: IPAddress / null, RVDNS: tstr / null,
//!                    RVPort: uint16, RVProtocol: TransportProtocol]
//! IPAddress       = bstr .size 4 / bstr .size 16
//! ```
//!
//! to1dTo0dHash is computed over the *contents* of the to0d byte string, which
//! [`OwnerSign::to0d`] keeps as they were received.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::Error;
use crate::cbor::{Bstr, Cbor, Decoder, Encoder, decode_array, encode_array};
use crate::cose::Sign1;
use crate::crypto::{CryptoProvider, Signer};
use crate::error::Found;
use crate::messages::{decode_empty, message_types};
use crate::types::{Hash, HashAlg, Nonce, TransportProtocol};
use crate::voucher::OwnershipVoucher;

/// TO0.Hello (20), owner → rendezvous.
///
/// ```text
/// TO0.Hello = []
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hello;

impl Cbor for Hello {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        decode_empty(d, "TO0.Hello []").map(|()| Self)
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(0);
    }
}

/// TO0.HelloAck (21), rendezvous → owner.
///
/// ```text
/// TO0.HelloAck = [NonceTO0Sign]
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelloAck {
    /// NonceTO0Sign: the owner returns it inside to0d.
    pub nonce: Nonce,
}

impl Cbor for HelloAck {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(1, "TO0.HelloAck [NonceTO0Sign]")?;
        Ok(Self {
            nonce: Nonce::decode(d)?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(1).encode(&self.nonce);
    }
}

/// The voucher and TTL the owner registers, bound to the rendezvous server's nonce.
///
/// ```text
/// To0d = [OwnershipVoucher, WaitSeconds: uint32, NonceTO0Sign]
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct To0d {
    /// The voucher, with at least one entry; its last entry's key is the owner key.
    pub voucher: OwnershipVoucher,
    /// WaitSeconds: the TTL the owner asks for.
    pub wait_seconds: u32,
    /// NonceTO0Sign, from TO0.HelloAck.
    pub nonce: Nonce,
}

impl Cbor for To0d {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(3, "To0d [OwnershipVoucher, WaitSeconds, NonceTO0Sign]")?;
        Ok(Self {
            voucher: OwnershipVoucher::decode(d)?,
            wait_seconds: d.uint_as("WaitSeconds (uint32)")?,
            nonce: Nonce::decode(d)?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(3)
            .encode(&self.voucher)
            .uint(u64::from(self.wait_seconds))
            .encode(&self.nonce);
    }
}

/// One address where the device can reach its owner for TO2.
///
/// ```text
/// RVTO2AddrEntry = [RVIP: bstr(4|16) / null, RVDNS: tstr / null, RVPort: uint16,
///                   RVProtocol: TransportProtocol]
/// ```
///
/// An IP address keeps the length it came with: go-fdo writes IPv4 addresses as 16-byte
/// IPv4-mapped IPv6 addresses, which decode as [`IpAddr::V6`] so they re-encode unchanged;
/// [`RvTo2Addr::canonical_ip`] gives them as IPv4.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RvTo2Addr {
    /// RVIP.
    pub ip: Option<IpAddr>,
    /// RVDNS.
    pub dns: Option<String>,
    /// RVPort.
    pub port: u16,
    /// RVProtocol.
    pub protocol: TransportProtocol,
}

impl RvTo2Addr {
    /// RVIP with IPv4-mapped IPv6 addresses given as IPv4.
    pub fn canonical_ip(&self) -> Option<IpAddr> {
        self.ip.map(|ip| ip.to_canonical())
    }
}

impl Cbor for RvTo2Addr {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        const IP: &str = "RVIP (bstr of 4 or 16 bytes, or null)";
        d.array_of(4, "RVTO2AddrEntry [RVIP, RVDNS, RVPort, RVProtocol]")?;
        let ip = if d.try_null() {
            None
        } else {
            let at = d.position();
            let b = d.bytes(IP)?;
            Some(if let Ok(v4) = <[u8; 4]>::try_from(b) {
                IpAddr::V4(Ipv4Addr::from(v4))
            } else if let Ok(v6) = <[u8; 16]>::try_from(b) {
                IpAddr::V6(Ipv6Addr::from(v6))
            } else {
                return Err(Error::Decode(crate::error::DecodeError {
                    expected: IP,
                    found: Found::Length(b.len() as u64),
                    at,
                }));
            })
        };
        let dns = if d.try_null() {
            None
        } else {
            Some(d.text("RVDNS (tstr or null)")?.to_string())
        };
        Ok(Self {
            ip,
            dns,
            port: d.uint_as("RVPort (uint16)")?,
            protocol: TransportProtocol(d.uint("RVProtocol (uint)")?),
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(4);
        match self.ip {
            Some(IpAddr::V4(a)) => e.bytes(&a.octets()),
            Some(IpAddr::V6(a)) => e.bytes(&a.octets()),
            None => e.null(),
        };
        match &self.dns {
            Some(name) => e.text(name),
            None => e.null(),
        };
        e.uint(u64::from(self.port)).uint(self.protocol.0);
    }
}

/// The payload of the rendezvous blob to1d: where the owner is, bound to to0d.
///
/// ```text
/// To1dBlobPayload = [to1dRV: [+ RVTO2AddrEntry], to1dTo0dHash: Hash]
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct To1dPayload {
    /// to1dRV: at least one address.
    pub addresses: Vec<RvTo2Addr>,
    /// to1dTo0dHash: the hash of the to0d byte string's contents.
    pub to0d_hash: Hash,
}

impl Cbor for To1dPayload {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        const RV: &str = "to1dRV (array of at least one RVTO2AddrEntry)";
        d.array_of(2, "To1dBlobPayload [to1dRV, to1dTo0dHash]")?;
        let at = d.position();
        let addresses = decode_array(d, RV)?;
        if addresses.is_empty() {
            return Err(Error::Decode(crate::error::DecodeError {
                expected: RV,
                found: Found::Length(0),
                at,
            }));
        }
        Ok(Self {
            addresses,
            to0d_hash: Hash::decode(d)?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(2);
        encode_array(e, &self.addresses);
        e.encode(&self.to0d_hash);
    }
}

/// to1d, the rendezvous blob: `COSE_Sign1<To1dBlobPayload>`, signed by the owner key.
///
/// It is registered in TO0.OwnerSign and handed to the device in TO1.RVRedirect; the device
/// verifies it with the owner key it learns in TO2. Its original bytes are kept.
#[derive(Clone, Debug, PartialEq)]
pub struct To1d {
    sign1: Sign1,
    payload: To1dPayload,
}

impl To1d {
    /// Signs `payload` with the owner key.
    pub fn sign(payload: To1dPayload, owner: &dyn Signer) -> Result<Self, Error> {
        let sign1 = Sign1::sign(payload.to_cbor(), coset::Header::default(), owner)?;
        Ok(Self { sign1, payload })
    }

    /// The signed object, with its original bytes.
    pub fn sign1(&self) -> &Sign1 {
        &self.sign1
    }

    /// The decoded payload.
    pub fn payload(&self) -> &To1dPayload {
        &self.payload
    }
}

impl Cbor for To1d {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        let sign1 = Sign1::decode(d)?;
        let payload = To1dPayload::from_cbor(sign1.payload())?;
        Ok(Self { sign1, payload })
    }

    fn encode(&self, e: &mut Encoder) {
        e.encode(&self.sign1);
    }
}

/// TO0.OwnerSign (22), owner → rendezvous.
///
/// ```text
/// TO0.OwnerSign = [to0d: bstr .cbor To0d, to1d: COSE_Sign1<To1dBlobPayload>]
/// ```
///
/// The rendezvous server checks that `to1d`'s to1dTo0dHash is the hash of
/// [`Bstr::contents`] of `to0d` ([`OwnerSign::to0d_hash`]), that the voucher verifies and has an
/// entry, and that the nonce is the one it sent.
#[derive(Clone, Debug, PartialEq)]
pub struct OwnerSign {
    /// to0d, with the exact bytes to1dTo0dHash covers.
    pub to0d: Bstr<To0d>,
    /// to1d, the blob to hand to the device.
    pub to1d: To1d,
}

impl OwnerSign {
    /// Builds the message: encodes `to0d`, hashes it with `alg` and signs a to1d over
    /// `addresses` and that hash with the owner key.
    pub fn sign(
        crypto: &dyn CryptoProvider,
        to0d: To0d,
        addresses: Vec<RvTo2Addr>,
        alg: HashAlg,
        owner: &dyn Signer,
    ) -> Result<Self, Error> {
        if addresses.is_empty() {
            return Err(Error::Misuse("to1d needs at least one RVTO2AddrEntry"));
        }
        let to0d = Bstr::new(to0d);
        let to0d_hash = crypto.hash(alg, &[to0d.contents()])?;
        let to1d = To1d::sign(
            To1dPayload {
                addresses,
                to0d_hash,
            },
            owner,
        )?;
        Ok(Self { to0d, to1d })
    }

    /// `H(to0d)` with `alg`, over the byte string's contents as received: compare it with
    /// to1dTo0dHash.
    pub fn to0d_hash(&self, crypto: &dyn CryptoProvider, alg: HashAlg) -> Result<Hash, Error> {
        crypto.hash(alg, &[self.to0d.contents()])
    }
}

impl Cbor for OwnerSign {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(2, "TO0.OwnerSign [to0d, to1d]")?;
        Ok(Self {
            to0d: Bstr::decode(d)?,
            to1d: To1d::decode(d)?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(2).encode(&self.to0d).encode(&self.to1d);
    }
}

/// TO0.AcceptOwner (23), rendezvous → owner.
///
/// ```text
/// TO0.AcceptOwner = [WaitSeconds: uint32]     ; the TTL actually granted
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcceptOwner {
    /// WaitSeconds: how long the server keeps the blob.
    pub wait_seconds: u32,
}

impl Cbor for AcceptOwner {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(1, "TO0.AcceptOwner [WaitSeconds]")?;
        Ok(Self {
            wait_seconds: d.uint_as("WaitSeconds (uint32)")?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(1).uint(u64::from(self.wait_seconds));
    }
}

message_types! {
    Hello => TO0_HELLO,
    HelloAck => TO0_HELLO_ACK,
    OwnerSign => TO0_OWNER_SIGN,
    AcceptOwner => TO0_ACCEPT_OWNER,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::crypto::test::SeededRng;
    use crate::crypto::{RustCrypto, SigningKey};
    use crate::messages::test_util::{bstr, hex, sign1_hex};
    use crate::messages::{Message, MessageType};
    use crate::types::{PkEnc, PkType};

    /// A voucher with one entry, made here: P-256 manufacturer and owner keys, no device chain.
    pub(crate) fn voucher() -> OwnershipVoucher {
        use crate::cbor::Raw;
        use crate::types::{Guid, ProtocolVersion, RendezvousInfo};
        use crate::voucher::OvHeader;
        let mut rng = SeededRng::new(b"to0 voucher");
        let mfg = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
        let owner = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
        let header = OvHeader {
            protocol_version: ProtocolVersion::V101,
            guid: Guid([0x5a; 16]),
            rv_info: RendezvousInfo::default(),
            device_info: "test device".into(),
            manufacturer_key: Raw::new(mfg.public_key(PkEnc::X509).unwrap()),
            cert_chain_hash: None,
        };
        let hmac = RustCrypto
            .hmac(HashAlg::HMAC_SHA256, b"device secret", &header.to_cbor())
            .unwrap();
        OwnershipVoucher::new(&RustCrypto, header, hmac, None)
            .unwrap()
            .extend(&RustCrypto, &mfg, owner.public_key(PkEnc::X509).unwrap())
            .unwrap()
    }

    pub(crate) fn addr() -> RvTo2Addr {
        RvTo2Addr {
            ip: Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))),
            dns: None,
            port: 8080,
            protocol: TransportProtocol::HTTP,
        }
    }

    #[test]
    fn hello_and_hello_ack() {
        assert_eq!(Hello.to_cbor(), hex("80"));
        assert_eq!(Hello::from_cbor(&hex("80")).unwrap(), Hello);
        let err = Hello::from_cbor(&hex("81 f6")).unwrap_err().to_string();
        assert!(err.contains("TO0.Hello"), "{err}");

        let bytes = hex("
            81                                    # array(1)
              50 0f0e0d0c0b0a09080706050403020100 # bstr(16) NonceTO0Sign");
        let m = HelloAck::from_cbor(&bytes).unwrap();
        assert_eq!(m.nonce.0[0], 0x0f);
        assert_eq!(m.to_cbor(), bytes);
        assert_eq!(HelloAck::from_cbor(&m.to_cbor()).unwrap(), m);
        // a 15-byte nonce, and a text nonce
        assert!(HelloAck::from_cbor(&hex("81 4f 000102030405060708090a0b0c0d0e")).is_err());
        let err = HelloAck::from_cbor(&hex("81 61 78"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("nonce"), "{err}");
    }

    #[test]
    fn rv_to2_addr_forms() {
        // [h'7f000001', null, 8080, 3]
        let v4 = hex("84 44 7f000001 f6 19 1f90 03");
        let a = RvTo2Addr::from_cbor(&v4).unwrap();
        assert_eq!(a, addr());
        assert_eq!(a.to_cbor(), v4);
        // go-fdo: IPv4-mapped IPv6, and a DNS name: [h'00..ffff7f000001', "o", 443, 5]
        let mapped = hex("84 50 00000000000000000000ffff7f000001 61 6f 19 01bb 05");
        let m = RvTo2Addr::from_cbor(&mapped).unwrap();
        assert!(matches!(m.ip, Some(IpAddr::V6(_))));
        assert_eq!(
            m.canonical_ip(),
            Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)))
        );
        assert_eq!(m.dns.as_deref(), Some("o"));
        assert_eq!(m.to_cbor(), mapped);
        // [null, "o", 80, 3]
        let dns = hex("84 f6 61 6f 18 50 03");
        assert_eq!(RvTo2Addr::from_cbor(&dns).unwrap().to_cbor(), dns);
        // a 5-byte address, a port above 65535, three fields
        for bad in [
            "84 45 7f00000100 f6 19 1f90 03",
            "84 f6 61 6f 1a 00010000 03",
            "83 f6 61 6f 03",
        ] {
            let err = RvTo2Addr::from_cbor(&hex(bad)).unwrap_err().to_string();
            assert!(err.contains("RV"), "{bad}: {err}");
        }
    }

    pub(crate) const TO1D_PAYLOAD: &str = "
        82                               # array(2) To1dBlobPayload
          81                             #   array(1) to1dRV
            84 44 7f000001 f6 19 1f90 03 #     [h'7f000001', null, 8080, 3 (HTTP)]
          82 2f 5820                     #   [-16, bstr(32)] to1dTo0dHash
            0000000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn to1d_payload_round_trips_and_needs_an_address() {
        let bytes = hex(TO1D_PAYLOAD);
        let p = To1dPayload::from_cbor(&bytes).unwrap();
        assert_eq!(p.addresses, [addr()]);
        assert_eq!(p.to0d_hash.alg(), HashAlg::SHA256);
        assert_eq!(p.to_cbor(), bytes);
        let mut empty = hex("82 80 82 2f 58 20");
        empty.extend_from_slice(&[0; 32]);
        let err = To1dPayload::from_cbor(&empty).unwrap_err().to_string();
        assert!(err.contains("to1dRV") && err.contains("length 0"), "{err}");
    }

    #[test]
    fn owner_sign_round_trips_and_binds_to0d() {
        let mut rng = SeededRng::new(b"to0");
        let owner = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
        let to0d = To0d {
            voucher: voucher(),
            wait_seconds: 3600,
            nonce: Nonce([7; 16]),
        };
        let m = OwnerSign::sign(
            &RustCrypto,
            to0d.clone(),
            alloc::vec![addr()],
            HashAlg::SHA256,
            &owner,
        )
        .unwrap();
        let bytes = m.to_cbor();
        let back = OwnerSign::from_cbor(&bytes).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.to_cbor(), bytes);
        assert_eq!(back.to0d.value(), &to0d);
        // the hash covers the to0d contents, and the blob verifies with the owner key
        let h = back.to0d_hash(&RustCrypto, HashAlg::SHA256).unwrap();
        assert!(h.ct_eq(&back.to1d.payload().to0d_hash));
        back.to1d
            .sign1()
            .verify(&RustCrypto, &owner.public_key(PkEnc::X509).unwrap(), "to1d")
            .unwrap();
        // the to0d bytes are kept, not re-encoded: To0d round-trips on its own too
        assert_eq!(To0d::from_cbor(back.to0d.contents()).unwrap(), to0d);
        assert_eq!(
            OwnerSign::sign(&RustCrypto, to0d, Vec::new(), HashAlg::SHA256, &owner).unwrap_err(),
            Error::Misuse("to1d needs at least one RVTO2AddrEntry")
        );
        // a to0d that is not wrapped in a bstr
        let mut bad = hex("82");
        bad.extend_from_slice(m.to0d.contents());
        bad.extend_from_slice(m.to1d.sign1().bytes());
        assert!(OwnerSign::from_cbor(&bad).is_err());
        let err = OwnerSign::from_cbor(&hex("81 40")).unwrap_err().to_string();
        assert!(err.contains("TO0.OwnerSign"), "{err}");
    }

    fn to0d_hex() -> Vec<u8> {
        let mut v = hex("
            83                                 # array(3) To0d
              85                               #   array(5) OwnershipVoucher
                18 65                          #     101 OVProtVer
                58 21                          #     bstr(33) OVHeaderTag");
        v.extend_from_slice(&hex(crate::messages::di::tests::OV_HEADER));
        v.extend_from_slice(&hex("
                82 05 5820                     #     [5, bstr(32)] OVHeaderHMac
                  0000000000000000000000000000000000000000000000000000000000000000
                f6                             #     null OVDevCertChain
                80                             #     [] OVEntryArray
              19 0e10                          #   3600 WaitSeconds
              50 07070707070707070707070707070707 # NonceTO0Sign"));
        v
    }

    #[test]
    fn hand_written_owner_sign_round_trips() {
        let to0d = to0d_hex();
        let t = To0d::from_cbor(&to0d).unwrap();
        assert_eq!(t.wait_seconds, 3600);
        assert_eq!(t.nonce, Nonce([7; 16]));
        assert!(t.voucher.entries().is_empty());
        assert_eq!(t.to_cbor(), to0d);
        let mut bytes = hex("82"); // array(2) TO0.OwnerSign
        bytes.extend_from_slice(&bstr(&to0d)); // to0d: bstr .cbor To0d
        bytes.extend_from_slice(&sign1_hex("a0", &hex(TO1D_PAYLOAD))); // to1d
        let m = OwnerSign::from_cbor(&bytes).unwrap();
        assert_eq!(m.to0d.contents(), to0d);
        assert_eq!(m.to0d.value(), &t);
        assert_eq!(m.to1d.payload().addresses, [addr()]);
        assert_eq!(m.to_cbor(), bytes);
        assert_eq!(OwnerSign::from_cbor(&m.to_cbor()).unwrap(), m);
        // WaitSeconds above uint32
        let mut big = to0d.clone();
        let at = big.len() - 17 - 3;
        assert_eq!(big[at], 0x19);
        big.splice(at..at + 3, hex("1b 0000000100000000"));
        let err = To0d::from_cbor(&big).unwrap_err().to_string();
        assert!(err.contains("WaitSeconds"), "{err}");
    }

    #[test]
    fn to0d_refuses_wrong_length() {
        let err = To0d::from_cbor(&hex("82 01 02")).unwrap_err().to_string();
        assert!(err.contains("To0d"), "{err}");
    }

    #[test]
    fn accept_owner() {
        // [3600]
        let bytes = hex("81 19 0e10");
        let m = AcceptOwner::from_cbor(&bytes).unwrap();
        assert_eq!(m.wait_seconds, 3600);
        assert_eq!(m.to_cbor(), bytes);
        assert_eq!(AcceptOwner::from_cbor(&m.to_cbor()).unwrap(), m);
        // 2^32 does not fit a uint32; a negative TTL is not a uint
        assert!(AcceptOwner::from_cbor(&hex("81 1b 0000000100000000")).is_err());
        let err = AcceptOwner::from_cbor(&hex("81 20"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("WaitSeconds"), "{err}");
        assert_eq!(AcceptOwner::TYPE, MessageType::TO0_ACCEPT_OWNER);
    }
}
