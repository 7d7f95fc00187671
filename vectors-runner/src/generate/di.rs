//! `di/…`: DI steps (FDO reference §2.1): the device MACs the header it is given and keeps its
//! credential; the manufacturer checks the MAC's algorithm and length and makes the voucher.

use serde_json::{Value, json};
use vouch_protocol::ErrorCode;
use vouch_protocol::cbor::{Cbor, Encoder};
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{SigAlg, Signer};
use vouch_protocol::flows::di::{Credentials, DiDevice, app_start, set_credentials, set_hmac};
use vouch_protocol::messages::MessageType;
use vouch_protocol::messages::di::{AppStart, DeviceMfgInfo, Done, SetCredentials};
use vouch_protocol::types::{HashAlg, PkEnc, PkType, ProtocolVersion};

use super::world::{C, DEVICE_INFO, GUID, World, rv_info};
use super::{Ctx, Group, R, fail, ok, peer, reference};
use crate::format::{Kind, hex_input};

const SEED: &[u8] = b"vouch vectors DI device secret";

fn msg(t: MessageType, body: &[u8]) -> Value {
    json!({ "type": t.0, "body": { "hex": hex::encode(body) } })
}

fn hx(b: &[u8]) -> Value {
    json!(hex::encode(b))
}

/// The device's DI: DI.SetHMAC's body for a DI.SetCredentials `body`, and the credential's CBOR
/// after DI.Done.
fn device_step(body: &[u8], device_alg: Option<SigAlg>, seed: &[u8]) -> R<(Vec<u8>, Vec<u8>)> {
    let (_, device) = DiDevice::start(device_alg, DeviceMfgInfo::null());
    let (out, sent) = device
        .set_credentials(
            MessageType::DI_SET_CREDENTIALS,
            body,
            &C,
            &mut SeededRng::new(seed),
        )
        .ctx("set_credentials")?;
    let credential = sent
        .done(MessageType::DI_DONE, &Done.to_cbor())
        .ctx("done")?;
    Ok((out.body, credential.to_cbor()))
}

/// The DI group.
pub fn group() -> R<Group> {
    let mut g = Group::new(
        "di",
        "DI (FDO reference §2.1): the device MACs the OVHeader bytes it is sent, with the \
         strength of the keys, and keeps DCPubKeyHash = H(OVPubKey); the manufacturer accepts \
         an HMAC of a suitable algorithm and length and makes the voucher.",
    );
    let body_error = ErrorCode::MESSAGE_BODY_ERROR;
    for (t, name) in [(PkType::SECP256R1, "p256"), (PkType::SECP384R1, "p384")] {
        let w = World::new(t, PkEnc::X509)?;
        let (_, started) = app_start(
            MessageType::DI_APP_START,
            &AppStart {
                mfg_info: DeviceMfgInfo::null(),
            }
            .to_cbor(),
        )
        .ctx("app_start")?;
        let (creds, state) = set_credentials(
            started,
            Credentials {
                guid: GUID,
                rv_info: rv_info(),
                device_info: DEVICE_INFO,
                manufacturer_key: w.mfg.public_key(PkEnc::X509).ctx("key")?,
                device_chain: Some(w.chain.clone()),
                chain_hash_alg: w.hash_alg(),
            },
            &C,
        )
        .ctx("set_credentials")?;
        let device_alg = w.device_key.algorithm();
        let (set_hmac_msg, credential) = device_step(&creds.body, Some(device_alg), SEED)?;
        let device_inputs = |body: &[u8], done: bool| {
            let mut i = vec![
                ("message", msg(MessageType::DI_SET_CREDENTIALS, body)),
                ("rng_seed", hex_input(SEED)),
                (
                    "device_alg",
                    json!(coset::iana::EnumI64::to_i64(&device_alg)),
                ),
            ];
            if done {
                i.push(("done", msg(MessageType::DI_DONE, &Done.to_cbor())));
            }
            i
        };
        g.add(
            &format!("{name}-device-set-credentials"),
            &format!("The device MACs the {name} manufacturer's OVHeader and answers DI.SetHMAC."),
            reference("§2.1 (device steps 1 to 3)"),
            Kind::Di,
            device_inputs(&creds.body, false),
            ok(vec![
                ("sends", json!(12)),
                ("sends_body", hx(&set_hmac_msg)),
            ]),
        );
        g.add(
            &format!("{name}-device-done"),
            "After DI.Done the device keeps its credential: GUID, RendezvousInfo, DCPubKeyHash, HMAC secret.",
            reference("§2.1 (device step 4)"),
            Kind::Di,
            device_inputs(&creds.body, true),
            ok(vec![("sends", json!(12)), ("credential", hx(&credential))]),
        );
        let (done, voucher) =
            set_hmac(state.clone(), MessageType::DI_SET_HMAC, &set_hmac_msg, &C).ctx("set_hmac")?;
        let at_mfg = |body: &[u8]| {
            vec![
                ("message", msg(MessageType::DI_SET_HMAC, body)),
                ("state", hex_input(&state.to_cbor())),
            ]
        };
        g.add(
            &format!("{name}-manufacturer-set-hmac"),
            "The manufacturer takes DI.SetHMAC, makes the voucher (no entries) and answers DI.Done.",
            reference("§2.1 (12, 13)"),
            Kind::Di,
            at_mfg(&set_hmac_msg),
            ok(vec![("sends", json!(13)), ("sends_body", hx(&done.body)), ("voucher", hx(&voucher.to_cbor()))]),
        );
        if t != PkType::SECP256R1 {
            continue;
        }
        // The manufacturer's check of the MAC: its algorithm suits the keys, its length the algorithm.
        let mut e = Encoder::new();
        e.array(1)
            .array(2)
            .int(HashAlg::HMAC_SHA384.0)
            .bytes(&[0x5a; 48]);
        g.add(
            "manufacturer-hmac-too-strong",
            "DI.SetHMAC with HMAC-SHA384 where both keys are P-256.",
            reference("§2.1 (step 1: the hash size from the key sizes)"),
            Kind::Di,
            at_mfg(&e.into_bytes()),
            fail(body_error, "invalid"),
        );
        let mut e = Encoder::new();
        e.array(1)
            .array(2)
            .int(HashAlg::HMAC_SHA256.0)
            .bytes(&[0x5a; 31]);
        g.add(
            "manufacturer-hmac-short",
            "DI.SetHMAC with a 31-byte HMAC-SHA256.",
            reference("§2.1 (12)"),
            Kind::Di,
            at_mfg(&e.into_bytes()),
            fail(body_error, "invalid"),
        );
        let mut e = Encoder::new();
        e.array(1)
            .array(2)
            .int(HashAlg::SHA256.0)
            .bytes(&[0x5a; 32]);
        g.add(
            "manufacturer-plain-hash",
            "DI.SetHMAC carries a plain SHA-256 hash instead of an HMAC.",
            reference("§3 (HMac hashtypes 5, 6)"),
            Kind::Di,
            at_mfg(&e.into_bytes()),
            fail(body_error, "invalid"),
        );
        // The device's side.
        let hdr = SetCredentials::from_cbor(&creds.body).ctx("SetCredentials")?;
        let (bare_hmac, _) = device_step(hdr.header_bytes(), Some(device_alg), SEED)?;
        g.add("device-bare-header", "DI.SetCredentials as fdo-rs sends it (the bare OVHeader): the device MACs the same header bytes.", peer("§6 pitfall 5", "fdo-rs"), Kind::Di, device_inputs(hdr.header_bytes(), false), ok(vec![("sends", json!(12)), ("sends_body", hx(&bare_hmac))]));
        let (strong, _) = device_step(&creds.body, Some(SigAlg::ES384), SEED)?;
        let mut i = device_inputs(&creds.body, false);
        for (n, v) in i.iter_mut() {
            if *n == "device_alg" {
                *v = json!(-35);
            }
        }
        g.add(
            "device-stronger-key-wins",
            "A P-384 device under a P-256 manufacturer MACs with HMAC-SHA384.",
            reference("§2.1 (step 1)"),
            Kind::Di,
            i,
            ok(vec![("sends", json!(12)), ("sends_body", hx(&strong))]),
        );
        let mut h = hdr.header().clone();
        h.protocol_version = ProtocolVersion::V100;
        g.add(
            "device-header-fdo-1-0",
            "DI.SetCredentials with an FDO 1.0 OVHeader (protocol version 100).",
            reference("§3 protver"),
            Kind::Di,
            device_inputs(&SetCredentials::new(h).to_cbor(), false),
            fail(body_error, "unsupported"),
        );
        let mut i = device_inputs(&creds.body, true);
        for (n, v) in i.iter_mut() {
            if *n == "done" {
                *v = msg(MessageType::DI_DONE, &[0x81, 0x00]);
            }
        }
        g.add(
            "device-done-not-empty",
            "DI.Done that is not the empty array.",
            reference("§2.1 (13: [])"),
            Kind::Di,
            i,
            fail(body_error, "decode"),
        );
        g.add(
            "device-set-credentials-as-done",
            "DI.SetCredentials' body sent as message type 13.",
            reference("§2.1 (message order)"),
            Kind::Di,
            vec![
                ("message", msg(MessageType::DI_DONE, &creds.body)),
                ("rng_seed", hex_input(SEED)),
            ],
            fail(body_error, "invalid"),
        );
    }
    Ok(g)
}
