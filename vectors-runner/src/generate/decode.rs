//! `decode/…`: every message and core type decodes and re-encodes byte for byte; truncated,
//! extended, re-typed and untagged forms are refused with MESSAGE_BODY_ERROR; the lenient
//! forms of FDO reference §6 are accepted.

use std::net::{IpAddr, Ipv4Addr};

use serde_json::{Value, json};
use vouch_protocol::ErrorCode;
use vouch_protocol::cbor::{Bstr, Cbor, Encoder};
use vouch_protocol::crypto::aead::CipherSuite;
use vouch_protocol::crypto::kex::KexSuite;
use vouch_protocol::crypto::{CryptoProvider, Signer};
use vouch_protocol::eat::{Eat, EatClaims, EatHeaders};
use vouch_protocol::messages::{ErrorMessage, Message, MessageType, di, to0, to1, to2};
use vouch_protocol::serviceinfo::tls;
use vouch_protocol::types::{
    HashAlg, Nonce, PkEnc, PkType, RendezvousInfo, RvDirective, RvInstruction, RvVariable,
    ServiceInfo, ServiceInfoKv, SgType, SigInfo, TransportProtocol,
};
use vouch_protocol::voucher::OvHeader;

use super::world::{C, GUID, NEW_GUID, World, new_rv_info};
use super::{Ctx, FIXED_TIME, Group, R, fail, flip, ok, peer, reference};
use crate::format::{Kind, hex_input};

fn nonce(b: u8) -> Nonce {
    Nonce([b; 16])
}

/// One encoded item, the name of its type, and the reference section defining it.
struct Item {
    ty: &'static str,
    section: &'static str,
    bytes: Vec<u8>,
    /// COSE objects: a tag-18 item, refused untagged.
    tagged: bool,
}

fn msg<M: Message>(ty: &'static str, section: &'static str, m: &M) -> Item {
    Item {
        ty,
        section,
        bytes: m.to_cbor(),
        tagged: false,
    }
}

fn items() -> R<Vec<Item>> {
    let w = World::new(PkType::SECP256R1, PkEnc::X509)?;
    let owner_pub = w.owner.public_key(PkEnc::X509).ctx("owner key")?;
    let header = w.voucher.header().clone();
    let hmac = w.voucher.hmac().clone();
    let sig_info = SigInfo::new(SgType::ES256);
    let addr = to0::RvTo2Addr {
        ip: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))),
        dns: Some("owner.example".into()),
        port: 8043,
        protocol: TransportProtocol::HTTPS,
    };
    let to0d = to0::To0d {
        voucher: w.voucher.clone(),
        wait_seconds: 3600,
        nonce: nonce(0x20),
    };
    let owner_sign = to0::OwnerSign::sign(&C, to0d, vec![addr.clone()], HashAlg::SHA256, &w.owner)
        .ctx("OwnerSign")?;
    let to1d = owner_sign.to1d.clone();
    let mfg_info = di::MfgInfo {
        key_type: PkType::SECP256R1,
        key_encoding: PkEnc::X509,
        serial_number: "VV-0001".into(),
        device_info: "vouch vectors device".into(),
        csr: vec![0x30, 0x00],
    };
    let entry = w.voucher.entries().first().ctx("entry 0")?.clone();
    let payload = to2::ProveOvHdrPayload {
        header: Bstr::from_contents(w.voucher.header_bytes()).ctx("header")?,
        num_entries: 2,
        hmac: hmac.clone(),
        nonce: nonce(0x60),
        sig_info: sig_info.clone(),
        xa: vec![0xa5; 52],
        hello_device_hash: C.hash(HashAlg::SHA256, &[b"hello"]).ctx("hash")?,
        max_message_size: u16::MAX,
    };
    let prove =
        to2::ProveOvHdr::sign(payload, nonce(0x61), &owner_pub, &w.owner).ctx("ProveOVHdr")?;
    let prove_device = to2::ProveDevice::sign(
        nonce(0x61),
        &GUID,
        vec![0xb5; 52],
        nonce(0x64),
        &w.device_key,
    )
    .ctx("ProveDevice")?;
    let setup = to2::SetupDevice::sign(
        to2::SetupDevicePayload {
            rv_info: new_rv_info(),
            guid: NEW_GUID,
            nonce: nonce(0x64),
            owner2_key: vouch_protocol::cbor::Raw::new(
                w.next_owner.public_key(PkEnc::X509).ctx("owner2")?,
            ),
        },
        &w.next_owner,
    )
    .ctx("SetupDevice")?;
    let service_info = ServiceInfo(vec![
        ServiceInfoKv::new("devmod:active", &true),
        ServiceInfoKv::new("devmod:os", &String::from("Linux")),
    ]);
    let eat = Eat::sign(
        EatClaims::new(nonce(0x31), &GUID),
        &EatHeaders::default(),
        &w.device_key,
    )
    .ctx("EAT")?;
    let m = |ty, section, bytes: Vec<u8>| Item {
        ty,
        section,
        bytes,
        tagged: false,
    };
    let cose = |ty, section, bytes: Vec<u8>| Item {
        ty,
        section,
        bytes,
        tagged: true,
    };
    Ok(vec![
        msg(
            "DI.AppStart",
            "§2.1",
            &di::AppStart {
                mfg_info: di::DeviceMfgInfo::wrap(&mfg_info),
            },
        ),
        msg(
            "DI.SetCredentials",
            "§2.1",
            &di::SetCredentials::new(header.clone()),
        ),
        msg("DI.SetHMAC", "§2.1", &di::SetHmac { hmac: hmac.clone() }),
        msg("DI.Done", "§2.1", &di::Done),
        msg("TO0.Hello", "§2.2", &to0::Hello),
        msg(
            "TO0.HelloAck",
            "§2.2",
            &to0::HelloAck { nonce: nonce(0x21) },
        ),
        msg("TO0.OwnerSign", "§2.2", &owner_sign),
        msg(
            "TO0.AcceptOwner",
            "§2.2",
            &to0::AcceptOwner { wait_seconds: 3600 },
        ),
        msg(
            "TO1.HelloRV",
            "§2.3",
            &to1::HelloRv {
                guid: GUID,
                sig_info: sig_info.clone(),
            },
        ),
        msg(
            "TO1.HelloRVAck",
            "§2.3",
            &to1::HelloRvAck {
                nonce: nonce(0x31),
                sig_info: sig_info.clone(),
            },
        ),
        cose(
            "TO1.ProveToRV",
            "§2.3",
            to1::ProveToRv::sign(nonce(0x31), &GUID, &w.device_key)
                .ctx("ProveToRV")?
                .to_cbor(),
        ),
        cose(
            "TO1.RVRedirect",
            "§2.3",
            to1::RvRedirect(to1d.clone()).to_cbor(),
        ),
        msg(
            "TO2.HelloDevice",
            "§2.4",
            &to2::HelloDevice {
                max_message_size: u16::MAX,
                guid: GUID,
                nonce: nonce(0x60),
                kex_suite: KexSuite::ECDH256,
                cipher_suite: CipherSuite::A128GCM,
                sig_info: sig_info.clone(),
            },
        ),
        cose("TO2.ProveOVHdr", "§2.4", prove.to_cbor()),
        msg(
            "TO2.GetOVNextEntry",
            "§2.4",
            &to2::GetOvNextEntry { entry_num: 1 },
        ),
        msg(
            "TO2.OVNextEntry",
            "§2.4",
            &to2::OvNextEntry {
                entry_num: 0,
                entry: entry.clone(),
            },
        ),
        cose("TO2.ProveDevice", "§2.4", prove_device.to_cbor()),
        cose("TO2.SetupDevice", "§2.4", setup.to_cbor()),
        msg(
            "TO2.DeviceServiceInfoReady",
            "§2.4",
            &to2::DeviceServiceInfoReady {
                replacement_hmac: Some(hmac.clone()),
                max_owner_service_info_size: Some(1300),
            },
        ),
        msg(
            "TO2.OwnerServiceInfoReady",
            "§2.4",
            &to2::OwnerServiceInfoReady {
                max_device_service_info_size: None,
            },
        ),
        msg(
            "TO2.DeviceServiceInfo",
            "§2.5",
            &to2::DeviceServiceInfo {
                is_more: false,
                service_info: service_info.clone(),
            },
        ),
        msg(
            "TO2.OwnerServiceInfo",
            "§2.5",
            &to2::OwnerServiceInfo {
                is_more: false,
                is_done: true,
                service_info: ServiceInfo(Vec::new()),
            },
        ),
        msg("TO2.Done", "§2.4", &to2::Done { nonce: nonce(0x61) }),
        msg("TO2.Done2", "§2.4", &to2::Done2 { nonce: nonce(0x64) }),
        msg(
            "Error",
            "§1",
            &ErrorMessage::new(
                ErrorCode::INVALID_MESSAGE_ERROR,
                MessageType::TO2_PROVE_DEVICE,
                "signature",
            )
            .with_timestamp(FIXED_TIME),
        ),
        m("OwnershipVoucher", "§3", w.voucher.to_cbor()),
        m("OVHeader", "§3", w.voucher.header_bytes().to_vec()),
        cose("OVEntry", "§3", entry.to_cbor()),
        m("PublicKey", "§3", owner_pub.to_cbor()),
        m("RendezvousInfo", "§3", new_rv_info().to_cbor()),
        m(
            "Hash",
            "§3",
            header.cert_chain_hash.as_ref().ctx("chain hash")?.to_cbor(),
        ),
        m("HMac", "§3", hmac.to_cbor()),
        m("SigInfo", "§2.3", sig_info.to_cbor()),
        m("ServiceInfo", "§2.5", service_info.to_cbor()),
        m("Guid", "§3", GUID.to_cbor()),
        cose("COSE_Sign1", "§4.3", to1d.sign1().bytes().to_vec()),
        cose("EAT", "§3", eat.to_cbor()),
        m("DeviceCredential", "§3", w.credential.to_cbor()),
        m(
            "vouch.tls:enroll",
            "docs/SERVICEINFO-TLS.md",
            tls::Enroll {
                zone: "devices.example".into(),
                validity_seconds: Some(14 * 86_400),
            }
            .to_cbor(),
        ),
        m(
            "vouch.tls:csr",
            "docs/SERVICEINFO-TLS.md",
            tls::CsrRequest {
                csr: vec![0x30, 0x03, 0x02, 0x01, 0x00],
                dns_names: vec!["board.devices.example".into()],
                ips: vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))],
                webtransport_cert_sha256: Some([0x7e; 32]),
            }
            .to_cbor(),
        ),
        m(
            "vouch.tls:cert",
            "docs/SERVICEINFO-TLS.md",
            tls::CertChain(w.chain.clone()).to_cbor(),
        ),
    ])
}

fn slug(ty: &str) -> String {
    ty.to_ascii_lowercase().replace(['.', '_', ':'], "-")
}

fn decode_inputs(ty: &str, bytes: &[u8]) -> Vec<(&'static str, Value)> {
    vec![("type", json!(ty)), ("cbor", hex_input(bytes))]
}

/// The decode group.
pub fn group() -> R<Group> {
    let mut g = Group::new(
        "decode",
        "Every FDO message and core type: decode and re-encode byte for byte; malformed forms \
         refused with MESSAGE_BODY_ERROR (100); the lenient forms of §6 accepted.",
    );
    let body_error = || fail(ErrorCode::MESSAGE_BODY_ERROR, "decode");
    for item in items()? {
        let name = slug(item.ty);
        let mut fields = vec![("round_trip", json!(true))];
        if let Some(t) = message_type_of(item.ty) {
            fields.push(("message_type", json!(t)));
        }
        g.add(
            &format!("{name}/round-trip"),
            &format!("{} decodes and encodes again to the same bytes.", item.ty),
            reference(item.section),
            Kind::Decode,
            decode_inputs(item.ty, &item.bytes),
            ok(fields),
        );
        let len = item.bytes.len();
        g.add(
            &format!("{name}/truncated"),
            &format!("{} without its last byte is refused.", item.ty),
            reference("§2 (one complete CBOR item per message)"),
            Kind::Decode,
            decode_inputs(item.ty, item.bytes.get(..len - 1).ctx("truncate")?),
            body_error(),
        );
        let mut long = item.bytes.clone();
        long.push(0x00);
        g.add(
            &format!("{name}/trailing-byte"),
            &format!("{} followed by one more byte is refused.", item.ty),
            reference("§2 (one complete CBOR item per message)"),
            Kind::Decode,
            decode_inputs(item.ty, &long),
            body_error(),
        );
        if item.tagged {
            // Tag 18 (0xd2) becomes tag 17 (0xd1).
            g.add(
                &format!("{name}/wrong-cose-tag"),
                &format!(
                    "{} tagged 17 instead of 18 (COSE_Sign1) is refused.",
                    item.ty
                ),
                peer("§2 (COSE_Sign1 always tagged)", "fdo-rs"),
                Kind::Decode,
                decode_inputs(item.ty, &flip(&item.bytes, 0, 0x03)?),
                body_error(),
            );
            g.add(
                &format!("{name}/untagged"),
                &format!("{} without its tag 18 is refused.", item.ty),
                peer("§2 (COSE_Sign1 always tagged)", "fdo-rs"),
                Kind::Decode,
                decode_inputs(item.ty, item.bytes.get(1..).ctx("untag")?),
                body_error(),
            );
        } else if item.bytes.first().is_some_and(|b| b >> 5 == 5) {
            g.add(
                &format!("{name}/array-instead-of-map"),
                &format!(
                    "An empty array where {} (a map) belongs is refused.",
                    item.ty
                ),
                reference("§2 (the CDDL of each item)"),
                Kind::Decode,
                decode_inputs(item.ty, &[0x80]),
                body_error(),
            );
        } else if item.ty != "Guid" {
            g.add(
                &format!("{name}/map-instead-of-array"),
                &format!(
                    "An empty map where {} (an array) belongs is refused.",
                    item.ty
                ),
                reference("§2 (every message is a CBOR array)"),
                Kind::Decode,
                decode_inputs(item.ty, &[0xa0]),
                body_error(),
            );
        }
    }
    quirks(&mut g)?;
    Ok(g)
}

fn message_type_of(ty: &str) -> Option<u8> {
    (0..=255u8).map(MessageType).find_map(|t| {
        let name = t.name()?;
        (name == ty).then_some(t.0)
    })
}

/// The lenient forms of FDO reference §6 and the field checks of §2/§3.
fn quirks(g: &mut Group) -> R<()> {
    let w = World::new(PkType::SECP256R1, PkEnc::X509)?;
    // Pitfall 10: fdo-rs writes a flag as [var, h'f6'], go-fdo as [var].
    for (name, flag, who) in [
        ("rv-flag-bare", vec![0x81, 0x00], "go-fdo"),
        ("rv-flag-null-value", vec![0x82, 0x00, 0x41, 0xf6], "fdo-rs"),
    ] {
        let mut bytes = vec![0x81, 0x82];
        bytes.extend_from_slice(&flag);
        let mut e = Encoder::new();
        e.encode(&RvInstruction::dns("rv.example"));
        bytes.extend_from_slice(&e.into_bytes());
        g.add(
            &format!("rendezvousinfo/{name}"),
            &format!("RVDevOnly written as {who} writes flags is accepted (pitfall 10)."),
            peer("§6 pitfall 10", who),
            Kind::Decode,
            decode_inputs("RendezvousInfo", &bytes),
            ok(vec![("round_trip", json!(true))]),
        );
    }
    // go-fdo writes an IPv4 rendezvous address as IPv4-mapped IPv6, after RVDelaysec = 0.
    let go_rv = RendezvousInfo(vec![RvDirective(vec![
        RvInstruction::uint(RvVariable::DELAY_SEC, 0),
        RvInstruction::ip(IpAddr::V6(Ipv4Addr::new(127, 0, 0, 1).to_ipv6_mapped())),
        RvInstruction::uint(RvVariable::DEV_PORT, 8080),
        RvInstruction::uint(RvVariable::PROTOCOL, 1),
    ])]);
    g.add(
        "rendezvousinfo/go-fdo-mapped-ipv4",
        "go-fdo's RendezvousInfo: RVDelaysec 0 first, IPv4 as a 16-byte IPv4-mapped address.",
        peer("§3 RendezvousInfo", "go-fdo"),
        Kind::Decode,
        decode_inputs("RendezvousInfo", &go_rv.to_cbor()),
        ok(vec![("round_trip", json!(true))]),
    );
    // Pitfall 4: fdo-rs wraps an X5CHAIN pkBody in a byte string.
    let spki_cert = w.chain.first().ctx("leaf")?.clone();
    let mut chain = Encoder::new();
    chain.array(1).bytes(&spki_cert);
    let chain = chain.into_bytes();
    for (name, wrapped, who) in [
        ("x5chain-array", false, "go-fdo"),
        ("x5chain-bstr-wrapped", true, "fdo-rs"),
    ] {
        let mut e = Encoder::new();
        e.array(3).int(10).int(2);
        if wrapped {
            e.bytes(&chain);
        } else {
            e.raw(&chain);
        }
        g.add(
            &format!("publickey/{name}"),
            &format!("An X5CHAIN key with its chain as {who} writes it is accepted (pitfall 4)."),
            peer("§6 pitfall 4", who),
            Kind::Decode,
            decode_inputs("PublicKey", &e.into_bytes()),
            ok(vec![("round_trip", json!(true))]),
        );
    }
    // Pitfall 5: fdo-rs sends DI.SetCredentials with the bare OVHeader.
    g.add(
        "di-setcredentials/bare-header",
        "DI.SetCredentials whose body is the bare OVHeader array, as fdo-rs sends it (pitfall 5).",
        peer("§6 pitfall 5", "fdo-rs"),
        Kind::Decode,
        decode_inputs("DI.SetCredentials", w.voucher.header_bytes()),
        ok(vec![
            ("round_trip", json!(true)),
            ("message_type", json!(11)),
        ]),
    );
    // Pitfall 6: fdo-rs advertises maxDeviceMessageSize = 17.
    let hello = to2::HelloDevice {
        max_message_size: 17,
        guid: GUID,
        nonce: nonce(0x60),
        kex_suite: KexSuite::ECDH384,
        cipher_suite: CipherSuite::A256GCM,
        sig_info: SigInfo::new(SgType::ES384),
    };
    g.add(
        "to2-hellodevice/fdo-rs-max-size-17",
        "TO2.HelloDevice with maxDeviceMessageSize 17, ECDH384, A256GCM and ES384, as fdo-rs sends it (pitfall 6).",
        peer("§6 pitfall 6", "fdo-rs"),
        Kind::Decode,
        decode_inputs("TO2.HelloDevice", &hello.to_cbor()),
        ok(vec![("round_trip", json!(true)), ("message_type", json!(60))]),
    );
    // Pitfall 11: error timestamps and correlation ids of any form.
    for (name, ts, cid, who) in [
        (
            "error/null-timestamp-u64-cid",
            vec![0xf6],
            vec![0x1b, 0xe3, 0x4d, 0x1b, 0xbf, 0xbd, 0x9d, 0x5c, 0x17],
            "fdo-rs",
        ),
        (
            "error/text-timestamp",
            vec![0x64, b'n', b'o', b'w', b'!'],
            vec![0x00],
            "the Java implementation",
        ),
        (
            "error/bignum-cid",
            vec![0x00],
            {
                let mut b = vec![0xc2, 0x51];
                b.extend_from_slice(&[0x01; 17]);
                b
            },
            "fdo-rs (u128 correlation id)",
        ),
    ] {
        let mut e = Encoder::new();
        e.array(5).uint(101).uint(64).text("no").raw(&ts).raw(&cid);
        g.add(
            name,
            &format!("An error message with the timestamp and correlation id {who} sends is accepted (pitfall 11)."),
            peer("§6 pitfall 11", who),
            Kind::Decode,
            decode_inputs("Error", &e.into_bytes()),
            ok(vec![("round_trip", json!(true)), ("message_type", json!(255))]),
        );
    }
    // §3: Guid and Nonce are 16 bytes; a Hash is [int, bstr].
    let mut e = Encoder::new();
    e.bytes(&[0x5e; 15]);
    g.add(
        "guid/15-bytes",
        "A 15-byte GUID is refused.",
        reference("§3 Guid = bstr .size 16"),
        Kind::Decode,
        decode_inputs("Guid", &e.into_bytes()),
        fail(ErrorCode::MESSAGE_BODY_ERROR, "decode"),
    );
    let mut e = Encoder::new();
    e.array(1).bytes(&[0x21; 17]);
    g.add(
        "to0-helloack/17-byte-nonce",
        "TO0.HelloAck with a 17-byte nonce is refused.",
        reference("§3 Nonce = bstr .size 16"),
        Kind::Decode,
        decode_inputs("TO0.HelloAck", &e.into_bytes()),
        fail(ErrorCode::MESSAGE_BODY_ERROR, "decode"),
    );
    // A v1.0 header inside a 1.1 voucher.
    let mut h: OvHeader = w.voucher.header().clone();
    h.protocol_version = vouch_protocol::types::ProtocolVersion::V100;
    let mut e = Encoder::new();
    e.array(5)
        .uint(101)
        .bytes(&h.to_cbor())
        .encode(w.voucher.hmac())
        .array(1)
        .bytes(w.chain.first().ctx("leaf")?)
        .array(0);
    g.add(
        "ownershipvoucher/header-version-differs",
        "A voucher of protocol version 101 whose OVHeader says 100 is refused.",
        reference("§3 protver (voucher, OVHeader and DC all carry it)"),
        Kind::Decode,
        decode_inputs("OwnershipVoucher", &e.into_bytes()),
        fail(ErrorCode::MESSAGE_BODY_ERROR, "invalid"),
    );
    Ok(())
}
