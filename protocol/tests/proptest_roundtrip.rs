//! Property tests: every wire type this crate encodes, built from arbitrary field values,
//! encodes to CBOR that decodes back to the same value, and re-encodes to the same bytes.
//! (Decoding arbitrary bytes is the fuzz targets' job; this covers the encoder's side.)

use std::fmt::Debug;
use std::net::IpAddr;

use proptest::collection::vec;
use proptest::prelude::*;
use vouch_protocol::cbor::Cbor;
use vouch_protocol::credential::DeviceCredential;
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{CipherSuite, KexSuite, Signer as _, SigningKey};
use vouch_protocol::error::ErrorCode;
use vouch_protocol::messages::di::MfgInfo;
use vouch_protocol::messages::to0::{AcceptOwner, HelloAck, RvTo2Addr, To1dPayload};
use vouch_protocol::messages::to1::{HelloRv, HelloRvAck};
use vouch_protocol::messages::to2::{
    DeviceServiceInfo, DeviceServiceInfoReady, Done, Done2, GetOvNextEntry, HelloDevice,
    OwnerServiceInfo, OwnerServiceInfoReady,
};
use vouch_protocol::messages::{ErrorMessage, MessageType};
use vouch_protocol::serviceinfo::tls::{CertChain, CsrRequest, Enroll};
use vouch_protocol::types::{
    Guid, HMac, Hash, HashAlg, Nonce, PkEnc, PkType, ProtocolVersion, PublicKey, RendezvousInfo,
    RvDirective, RvInstruction, RvVariable, ServiceInfo, ServiceInfoKv, SgType, SigInfo,
    TransportProtocol,
};
use zeroize::Zeroizing;

/// decode(encode(x)) == x, and its encoding is the same bytes again.
fn round_trip<T: Cbor + PartialEq + Debug>(value: &T) -> Result<(), TestCaseError> {
    let bytes = value.to_cbor();
    let decoded = T::from_cbor(&bytes)
        .map_err(|e| TestCaseError::fail(format!("{value:?} does not decode: {e}")))?;
    prop_assert_eq!(&decoded, value);
    prop_assert_eq!(decoded.to_cbor(), bytes);
    Ok(())
}

fn guid() -> impl Strategy<Value = Guid> {
    any::<[u8; 16]>().prop_map(Guid)
}

fn nonce() -> impl Strategy<Value = Nonce> {
    any::<[u8; 16]>().prop_map(Nonce)
}

fn hash() -> impl Strategy<Value = Hash> {
    prop_oneof![
        vec(any::<u8>(), 32).prop_map(|v| Hash::new(HashAlg::SHA256, v).unwrap()),
        vec(any::<u8>(), 48).prop_map(|v| Hash::new(HashAlg::SHA384, v).unwrap()),
    ]
}

fn hmac() -> impl Strategy<Value = HMac> {
    prop_oneof![
        vec(any::<u8>(), 32).prop_map(|v| HMac::new(HashAlg::HMAC_SHA256, v).unwrap()),
        vec(any::<u8>(), 48).prop_map(|v| HMac::new(HashAlg::HMAC_SHA384, v).unwrap()),
    ]
}

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 .:/_-]{0,40}"
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
    ]
}

fn sig_info() -> impl Strategy<Value = SigInfo> {
    prop_oneof![Just(SgType::ES256), Just(SgType::ES384)].prop_map(SigInfo::new)
}

/// A real public key (P-256 or P-384, X509 encoding) made from a seed.
fn public_key() -> impl Strategy<Value = PublicKey> {
    (any::<[u8; 8]>(), any::<bool>()).prop_map(|(seed, p384)| {
        let pk_type = if p384 {
            PkType::SECP384R1
        } else {
            PkType::SECP256R1
        };
        SigningKey::generate(pk_type, &mut SeededRng::new(&seed))
            .unwrap()
            .public_key(PkEnc::X509)
            .unwrap()
    })
}

fn rv_instruction() -> impl Strategy<Value = RvInstruction> {
    prop_oneof![
        Just(RvInstruction {
            variable: RvVariable::DEV_ONLY,
            value: None
        }),
        Just(RvInstruction {
            variable: RvVariable::BYPASS,
            value: None
        }),
        ip().prop_map(|ip| RvInstruction::new(RvVariable::IP_ADDRESS, &ip_cbor(ip))),
        any::<u16>().prop_map(|p| RvInstruction::new(RvVariable::DEV_PORT, &Uint(u64::from(p)))),
        "[a-z]{1,12}(\\.[a-z]{1,8}){0,2}".prop_map(|d| RvInstruction::new(RvVariable::DNS, &d)),
        (1u64..=5).prop_map(|p| RvInstruction::new(RvVariable::PROTOCOL, &Uint(p))),
        any::<u32>().prop_map(|s| RvInstruction::new(RvVariable::DELAY_SEC, &Uint(u64::from(s)))),
        hash().prop_map(|h| RvInstruction::new(RvVariable::SV_CERT_HASH, &h)),
    ]
}

/// An address as RendezvousInfo carries it: a byte string of 4 or 16 bytes.
fn ip_cbor(ip: IpAddr) -> Bytes {
    Bytes(match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    })
}

struct Bytes(Vec<u8>);

impl Cbor for Bytes {
    fn decode(d: &mut vouch_protocol::cbor::Decoder<'_>) -> Result<Self, vouch_protocol::Error> {
        Ok(Self(d.bytes("bstr")?.to_vec()))
    }
    fn encode(&self, e: &mut vouch_protocol::cbor::Encoder) {
        e.bytes(&self.0);
    }
}

struct Uint(u64);

impl Cbor for Uint {
    fn decode(d: &mut vouch_protocol::cbor::Decoder<'_>) -> Result<Self, vouch_protocol::Error> {
        Ok(Self(d.uint("uint")?))
    }
    fn encode(&self, e: &mut vouch_protocol::cbor::Encoder) {
        e.uint(self.0);
    }
}

fn rv_info() -> impl Strategy<Value = RendezvousInfo> {
    vec(vec(rv_instruction(), 1..5).prop_map(RvDirective), 0..4).prop_map(RendezvousInfo)
}

/// A key/value whose value is one CBOR item, as ServiceInfo carries them.
fn service_info_kv() -> impl Strategy<Value = ServiceInfoKv> {
    (
        "[a-z]{1,8}:[a-z]{1,10}",
        prop_oneof![
            text().prop_map(|t| t.to_cbor()),
            any::<u64>().prop_map(|n| Uint(n).to_cbor()),
            vec(any::<u8>(), 0..200).prop_map(|b| Bytes(b).to_cbor()),
        ],
    )
        .prop_map(|(key, value)| ServiceInfoKv { key, value })
}

fn service_info() -> impl Strategy<Value = ServiceInfo> {
    vec(service_info_kv(), 0..6).prop_map(ServiceInfo)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn core_types(g in guid(), n in nonce(), h in hash(), m in hmac(), s in sig_info(),
                  v in any::<u16>()) {
        round_trip(&g)?;
        round_trip(&n)?;
        round_trip(&h)?;
        round_trip(&m)?;
        round_trip(&s)?;
        round_trip(&ProtocolVersion(v))?;
        round_trip(&CipherSuite(i64::from(v)))?;
    }

    #[test]
    fn public_keys(k in public_key()) {
        round_trip(&k)?;
    }

    #[test]
    fn rendezvous_info(rv in rv_info()) {
        round_trip(&rv)?;
    }

    #[test]
    fn service_info_messages(si in service_info(), more in any::<bool>(), done in any::<bool>()) {
        round_trip(&si)?;
        round_trip(&DeviceServiceInfo { is_more: more, service_info: si.clone() })?;
        round_trip(&OwnerServiceInfo { is_more: more, is_done: done && !more, service_info: si })?;
    }

    #[test]
    fn mfg_info(t in prop_oneof![Just(PkType::SECP256R1), Just(PkType::SECP384R1)],
                serial in text(), info in text(), csr in vec(any::<u8>(), 0..300)) {
        round_trip(&MfgInfo {
            key_type: t,
            key_encoding: PkEnc::X509,
            serial_number: serial,
            device_info: info,
            csr,
        })?;
    }

    #[test]
    fn to0_to1_messages(n in nonce(), g in guid(), s in sig_info(), wait in any::<u32>(),
                        addrs in vec((proptest::option::of(ip()),
                                      proptest::option::of("[a-z]{1,10}\\.arpa"),
                                      any::<u16>(), 1u64..=5), 1..4),
                        h in hash()) {
        round_trip(&HelloAck { nonce: n })?;
        round_trip(&AcceptOwner { wait_seconds: wait })?;
        round_trip(&HelloRv { guid: g, sig_info: s.clone() })?;
        round_trip(&HelloRvAck { nonce: n, sig_info: s })?;
        let addresses: Vec<RvTo2Addr> = addrs
            .into_iter()
            .map(|(ip, dns, port, p)| RvTo2Addr { ip, dns, port, protocol: TransportProtocol(p) })
            .collect();
        round_trip(&To1dPayload { addresses, to0d_hash: h })?;
    }

    #[test]
    fn to2_messages(g in guid(), n in nonce(), s in sig_info(), size in any::<u16>(),
                    kex in prop_oneof![Just(KexSuite::ECDH256), Just(KexSuite::ECDH384)],
                    cipher in prop_oneof![Just(CipherSuite::A128GCM), Just(CipherSuite::A256GCM)],
                    entry in any::<u8>(), replacement in proptest::option::of(hmac()),
                    limit in proptest::option::of(any::<u16>())) {
        round_trip(&HelloDevice {
            max_message_size: size,
            guid: g,
            nonce: n,
            kex_suite: kex,
            cipher_suite: cipher,
            sig_info: s,
        })?;
        round_trip(&GetOvNextEntry { entry_num: entry })?;
        round_trip(&DeviceServiceInfoReady {
            replacement_hmac: replacement,
            max_owner_service_info_size: limit,
        })?;
        round_trip(&OwnerServiceInfoReady { max_device_service_info_size: limit })?;
        round_trip(&Done { nonce: n })?;
        round_trip(&Done2 { nonce: n })?;
    }

    #[test]
    fn error_messages(code in any::<u16>(), prev in any::<u8>(), text in text()) {
        round_trip(&ErrorMessage::new(ErrorCode(code), MessageType(prev), text))?;
    }

    #[test]
    fn device_credentials(active in any::<bool>(), g in guid(), rv in rv_info(), h in hash(),
                          info in text(), secret in proptest::option::of(vec(any::<u8>(), 32)),
                          key in proptest::option::of(vec(any::<u8>(), 32..140))) {
        round_trip(&DeviceCredential {
            active,
            protocol_version: ProtocolVersion(101),
            hmac_secret: secret.map(Zeroizing::new),
            device_info: info,
            guid: g,
            rv_info: rv,
            pub_key_hash: h,
            device_key: key.map(Zeroizing::new),
        })?;
    }

    #[test]
    fn vouch_tls_values(zone in "[a-z]{1,10}\\.arpa", validity in proptest::option::of(any::<u64>()),
                        csr in vec(any::<u8>(), 1..300),
                        names in vec("[a-z]{1,10}\\.home\\.arpa", 0..4),
                        ips in vec(ip(), 0..4),
                        wt in proptest::option::of(any::<[u8; 32]>()),
                        chain in vec(vec(any::<u8>(), 1..200), 1..4)) {
        round_trip(&Enroll { zone, validity_seconds: validity })?;
        round_trip(&CsrRequest { csr, dns_names: names, ips, webtransport_cert_sha256: wt })?;
        round_trip(&CertChain(chain))?;
    }
}
