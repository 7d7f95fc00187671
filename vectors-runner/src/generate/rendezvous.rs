//! `to0-rv/…` and `to1-rv/…`: the rendezvous server's steps (FDO reference §2.2, §2.3), with
//! the time of the request as an input.

use serde_json::{Value, json};
use vouch_protocol::ErrorCode;
use vouch_protocol::cbor::{Bstr, Cbor, Encoder};
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{CryptoProvider, SigningKey};
use vouch_protocol::flows::Outgoing;
use vouch_protocol::flows::to0::{RvTo0State, rv_hello, rv_owner_sign};
use vouch_protocol::flows::to1::rv_hello_rv;
use vouch_protocol::messages::MessageType;
use vouch_protocol::messages::to0::{Hello, OwnerSign, RvTo2Addr, To0d, To1d, To1dPayload};
use vouch_protocol::messages::to1::{HelloRv, ProveToRv};
use vouch_protocol::types::{
    Guid, HashAlg, Nonce, PkEnc, PkType, SgType, SigInfo, TransportProtocol,
};
use vouch_protocol::voucher::OwnershipVoucher;

use super::world::{C, GUID, World};
use super::{Ctx, FIXED_TIME, Group, R, fail, find, flip, ok, peer, reference};
use crate::format::{Kind, hex_input};

const RV_SEED: &[u8] = b"vouch vectors rendezvous";
const MAX_WAIT: u32 = 86_400;

fn msg(t: MessageType, body: &[u8]) -> Value {
    json!({ "type": t.0, "body": { "hex": hex::encode(body) } })
}

fn hx(b: &[u8]) -> Value {
    json!(hex::encode(b))
}

fn addresses() -> Vec<RvTo2Addr> {
    vec![RvTo2Addr {
        ip: None,
        dns: Some("owner.example".into()),
        port: 8043,
        protocol: TransportProtocol::HTTPS,
    }]
}

/// TO0.OwnerSign for `voucher`, `nonce`, signed by `owner`.
fn owner_sign(
    voucher: &OwnershipVoucher,
    nonce: Nonce,
    wait: u32,
    owner: &SigningKey,
) -> R<OwnerSign> {
    let to0d = To0d {
        voucher: voucher.clone(),
        wait_seconds: wait,
        nonce,
    };
    OwnerSign::sign(&C, to0d, addresses(), HashAlg::SHA256, owner).ctx("OwnerSign")
}

/// The server's state after TO0.Hello, and its nonce.
fn hello_state() -> R<(Outgoing, RvTo0State)> {
    rv_hello(
        MessageType::TO0_HELLO,
        &Hello.to_cbor(),
        &mut SeededRng::new(RV_SEED),
    )
    .ctx("rv_hello")
}

/// The TO0 rendezvous group.
pub fn to0_group() -> R<Group> {
    let mut g = Group::new(
        "to0-rv",
        "The TO0 rendezvous server (FDO reference §2.2): TO0.Hello, and TO0.OwnerSign's checks \
         (nonce, voucher with entries whose chain verifies, to1dTo0dHash, to1d signed by the \
         owner key), the registration granted from the request's time.",
    );
    let w = World::new(PkType::SECP256R1, PkEnc::X509)?;
    let (ack, state) = hello_state()?;
    g.add(
        "hello",
        "TO0.Hello: the server draws NonceTO0Sign and answers TO0.HelloAck.",
        reference("§2.2 (20, 21)"),
        Kind::To0Rv,
        vec![
            ("message", msg(MessageType::TO0_HELLO, &Hello.to_cbor())),
            ("rng_seed", hex_input(RV_SEED)),
        ],
        ok(vec![
            ("sends", json!(21)),
            ("sends_body", hx(&ack.body)),
            ("next_state", hx(&state.to_cbor())),
        ]),
    );
    let mut long = Hello.to_cbor();
    long.push(0);
    g.add(
        "hello-trailing-byte",
        "TO0.Hello followed by one more byte.",
        reference("§2.2 (20)"),
        Kind::To0Rv,
        vec![
            ("message", msg(MessageType::TO0_HELLO, &long)),
            ("rng_seed", hex_input(RV_SEED)),
        ],
        fail(ErrorCode::MESSAGE_BODY_ERROR, "decode"),
    );
    let nonce = *state.nonce();
    let at_sign = |body: &[u8], now: u64| {
        vec![
            ("message", msg(MessageType::TO0_OWNER_SIGN, body)),
            ("state", hex_input(&state.to_cbor())),
            ("now", json!(now)),
            ("max_wait", json!(MAX_WAIT)),
        ]
    };
    for (name, wait, what) in [
        (
            "owner-sign",
            3600u32,
            "TO0.OwnerSign asking for one hour: granted, and registered until now + 3600.",
        ),
        (
            "owner-sign-wait-capped",
            30 * 86_400,
            "TO0.OwnerSign asking for 30 days: the server grants its maximum, one day.",
        ),
    ] {
        let m = owner_sign(&w.voucher, nonce, wait, &w.owner)?;
        let (out, reg) = rv_owner_sign(
            state.clone(),
            MessageType::TO0_OWNER_SIGN,
            &m.to_cbor(),
            &C,
            FIXED_TIME,
            MAX_WAIT,
        )
        .ctx("rv_owner_sign")?;
        g.add(
            name,
            what,
            reference("§2.2 (22, 23)"),
            Kind::To0Rv,
            at_sign(&m.to_cbor(), FIXED_TIME),
            ok(vec![
                ("sends", json!(23)),
                ("sends_body", hx(&out.body)),
                ("registration", hx(&reg.to_cbor())),
            ]),
        );
    }
    let invalid = ErrorCode::INVALID_MESSAGE_ERROR;
    let bad_voucher = ErrorCode::INVALID_OWNERSHIP_VOUCHER;
    let bad_sign = ErrorCode::INVALID_OWNER_SIGN_BODY;
    let m = owner_sign(&w.voucher, Nonce([0x00; 16]), 3600, &w.owner)?;
    g.add(
        "owner-sign-wrong-nonce",
        "to0d carries another nonce than the server sent in TO0.HelloAck.",
        reference("§2.2 (the nonce equals NonceTO0Sign)"),
        Kind::To0Rv,
        at_sign(&m.to_cbor(), FIXED_TIME),
        fail(invalid, "verify.nonce(NonceTO0Sign)"),
    );
    let m = owner_sign(&w.voucher0, nonce, 3600, &w.mfg)?;
    g.add(
        "owner-sign-voucher-without-entries",
        "The voucher registered has no entries (its manufacturer signs the to1d).",
        reference("§2.2 (the voucher has at least one entry)"),
        Kind::To0Rv,
        at_sign(&m.to_cbor(), FIXED_TIME),
        fail(bad_voucher, "verify.no-entries"),
    );
    let bytes = w.voucher.to_cbor();
    let e0 = w.voucher.entries().first().ctx("entry")?;
    let at = find(&bytes, e0.sign1().signature())?;
    let broken = OwnershipVoucher::from_cbor(&flip(&bytes, at + 4, 0x01)?).ctx("voucher")?;
    let m = owner_sign(&broken, nonce, 3600, &w.owner)?;
    g.add(
        "owner-sign-voucher-entry-signature-flipped",
        "The voucher registered has one bit of entry 0's signature flipped.",
        reference("§2.2 (the voucher entry chain verifies)"),
        Kind::To0Rv,
        at_sign(&m.to_cbor(), FIXED_TIME),
        fail(bad_voucher, "verify.entry-signature[0]"),
    );
    let leaf = w.chain.first().ctx("leaf")?;
    let at = find(&bytes, leaf)?;
    let broken = OwnershipVoucher::from_cbor(&flip(&bytes, at + 40, 0x01)?).ctx("voucher")?;
    let m = owner_sign(&broken, nonce, 3600, &w.owner)?;
    g.add(
        "owner-sign-voucher-device-cert-flipped",
        "The voucher registered has one bit of its device certificate flipped.",
        reference("§2.2, §3 OVDevCertChainHash"),
        Kind::To0Rv,
        at_sign(&m.to_cbor(), FIXED_TIME),
        fail(bad_voucher, "verify.device-cert-chain-hash"),
    );
    let good = owner_sign(&w.voucher, nonce, 3600, &w.owner)?;
    let to1d_payload = To1dPayload {
        addresses: addresses(),
        to0d_hash: C.hash(HashAlg::SHA256, &[b"another to0d"]).ctx("hash")?,
    };
    let wrong_hash = OwnerSign {
        to0d: Bstr::from_contents(good.to0d.contents()).ctx("to0d")?,
        to1d: To1d::sign(to1d_payload, &w.owner).ctx("to1d")?,
    };
    g.add(
        "owner-sign-wrong-to0d-hash",
        "to1d's to1dTo0dHash is not the hash of to0d (to1d correctly signed).",
        reference("§2.2 (H(to0d) equals to1dTo0dHash)"),
        Kind::To0Rv,
        at_sign(&wrong_hash.to_cbor(), FIXED_TIME),
        fail(bad_sign, "verify.hash(to1dTo0dHash)"),
    );
    let by_stranger = OwnerSign {
        to0d: Bstr::from_contents(good.to0d.contents()).ctx("to0d")?,
        to1d: To1d::sign(good.to1d.payload().clone(), &w.stranger).ctx("to1d")?,
    };
    g.add(
        "owner-sign-to1d-not-by-owner",
        "to1d signed by a key that is not the voucher's owner key.",
        reference("§2.2 (to1d is signed by the owner key)"),
        Kind::To0Rv,
        at_sign(&by_stranger.to_cbor(), FIXED_TIME),
        fail(bad_sign, "verify.signature(to1d)"),
    );
    let mut long = good.to_cbor();
    long.push(0);
    g.add(
        "owner-sign-trailing-byte",
        "TO0.OwnerSign followed by one more byte.",
        reference("§2.2 (22)"),
        Kind::To0Rv,
        at_sign(&long, FIXED_TIME),
        fail(ErrorCode::MESSAGE_BODY_ERROR, "decode"),
    );
    Ok(g)
}

/// The TO1 rendezvous group.
pub fn to1_group() -> R<Group> {
    let mut g = Group::new(
        "to1-rv",
        "The TO1 rendezvous server (FDO reference §2.3): TO1.HelloRV against what TO0 \
         registered and the request's time, and TO1.ProveToRV's checks (EAT signature by the \
         voucher's device certificate, NonceTO1Proof, UEID).",
    );
    let w = World::new(PkType::SECP256R1, PkEnc::X509)?;
    let (_, state) = hello_state()?;
    let m = owner_sign(&w.voucher, *state.nonce(), 3600, &w.owner)?;
    let (_, registration) = rv_owner_sign(
        state,
        MessageType::TO0_OWNER_SIGN,
        &m.to_cbor(),
        &C,
        FIXED_TIME,
        MAX_WAIT,
    )
    .ctx("rv_owner_sign")?;
    let reg = registration.to_cbor();
    let hello = HelloRv {
        guid: GUID,
        sig_info: SigInfo::new(SgType::ES256),
    };
    let seed = b"vouch vectors TO1 rendezvous";
    let at_hello = |h: &HelloRv, now: u64, with_reg: bool| {
        let mut i = vec![
            ("message", msg(MessageType::TO1_HELLO_RV, &h.to_cbor())),
            ("rng_seed", hex_input(seed)),
            ("now", json!(now)),
        ];
        if with_reg {
            i.push(("registration", hex_input(&reg)));
        }
        i
    };
    let later = FIXED_TIME + 600;
    let (ack, rv_state) = rv_hello_rv(
        MessageType::TO1_HELLO_RV,
        &hello.to_cbor(),
        Some(&registration),
        later,
        &mut SeededRng::new(seed),
    )
    .ctx("rv_hello_rv")?;
    g.add("hello-rv", "TO1.HelloRV ten minutes after TO0 registered the device: NonceTO1Proof and eBSigInfo in TO1.HelloRVAck.", reference("§2.3 (30, 31)"), Kind::To1Rv, at_hello(&hello, later, true), ok(vec![("sends", json!(31)), ("sends_body", hx(&ack.body)), ("next_state", hx(&rv_state.to_cbor()))]));
    let not_found = ErrorCode::RESOURCE_NOT_FOUND;
    g.add(
        "hello-rv-not-registered",
        "TO1.HelloRV for a GUID nothing is registered for.",
        reference("§1 (6: GUID unknown, or no blob)"),
        Kind::To1Rv,
        at_hello(
            &HelloRv {
                guid: Guid([0x77; 16]),
                ..hello.clone()
            },
            later,
            true,
        ),
        fail(not_found, "invalid"),
    );
    let last = registration.expires_at - 1;
    let (ack, last_state) = rv_hello_rv(
        MessageType::TO1_HELLO_RV,
        &hello.to_cbor(),
        Some(&registration),
        last,
        &mut SeededRng::new(seed),
    )
    .ctx("rv_hello_rv")?;
    g.add(
        "hello-rv-last-second",
        "TO1.HelloRV in the last second of the registration's hour: still served.",
        reference("§2.2 (stored until the TTL runs out)"),
        Kind::To1Rv,
        at_hello(&hello, last, true),
        ok(vec![
            ("sends", json!(31)),
            ("sends_body", hx(&ack.body)),
            ("next_state", hx(&last_state.to_cbor())),
        ]),
    );
    g.add(
        "hello-rv-registration-expired",
        "TO1.HelloRV when the registration's hour has run out (now = expires_at).",
        reference("§2.2 (stored until the TTL runs out)"),
        Kind::To1Rv,
        at_hello(&hello, registration.expires_at, true),
        fail(not_found, "invalid"),
    );
    g.add(
        "hello-rv-epid",
        "TO1.HelloRV with an EPID sgType (90), which is not implemented here.",
        reference("§2.3 (DeviceSgType)"),
        Kind::To1Rv,
        at_hello(
            &HelloRv {
                sig_info: SigInfo::new(SgType::EPID10),
                ..hello.clone()
            },
            later,
            true,
        ),
        fail(ErrorCode::MESSAGE_BODY_ERROR, "unsupported"),
    );
    // ProveToRV.
    let nonce = *rv_state.nonce();
    let at_prove = |body: &[u8]| {
        vec![
            ("message", msg(MessageType::TO1_PROVE_TO_RV, body)),
            ("state", hex_input(&rv_state.to_cbor())),
        ]
    };
    let proof = ProveToRv::sign(nonce, &GUID, &w.device_key).ctx("ProveToRV")?;
    g.add("prove-to-rv", "TO1.ProveToRV signed by the device: the server answers with the owner's to1d (TO1.RVRedirect).", reference("§2.3 (32, 33)"), Kind::To1Rv, at_prove(&proof.to_cbor()), ok(vec![("sends", json!(33)), ("sends_body", hx(&registration.to1d))]));
    let invalid = ErrorCode::INVALID_MESSAGE_ERROR;
    let p = ProveToRv::sign(Nonce([0x00; 16]), &GUID, &w.device_key).ctx("ProveToRV")?;
    g.add(
        "prove-to-rv-wrong-nonce",
        "The EAT carries another nonce than NonceTO1Proof.",
        reference("§2.3 (the nonce)"),
        Kind::To1Rv,
        at_prove(&p.to_cbor()),
        fail(invalid, "verify.nonce(NonceTO1Proof)"),
    );
    let p = ProveToRv::sign(nonce, &Guid([0x77; 16]), &w.device_key).ctx("ProveToRV")?;
    g.add(
        "prove-to-rv-other-guid",
        "The EAT's UEID names another GUID.",
        reference("§2.3 (UEID = 0x01 ‖ GUID)"),
        Kind::To1Rv,
        at_prove(&p.to_cbor()),
        fail(invalid, "verify.ueid"),
    );
    let p = ProveToRv::sign(nonce, &GUID, &w.stranger).ctx("ProveToRV")?;
    g.add(
        "prove-to-rv-other-device-key",
        "The EAT is signed by a key that is not the voucher's device certificate's.",
        reference("§2.3 (signature by the leaf of the device chain)"),
        Kind::To1Rv,
        at_prove(&p.to_cbor()),
        fail(invalid, "verify.signature(TO1.ProveToRV EAT)"),
    );
    // Pitfall 1: the UEID under claim key 11, as fdo-rs devices send it.
    let mut claims = Encoder::new();
    let mut ueid = vec![0x01];
    ueid.extend_from_slice(GUID.as_bytes());
    claims
        .map(2)
        .int(10)
        .bytes(nonce.as_bytes())
        .int(11)
        .bytes(&ueid);
    let legacy =
        vouch_protocol::cose::Sign1::sign(claims.into_bytes(), Default::default(), &w.device_key)
            .ctx("sign")?;
    g.add(
        "prove-to-rv-ueid-claim-key-11",
        "TO1.ProveToRV from an fdo-rs device, its UEID under claim key 11: accepted.",
        peer("§6 pitfall 1", "fdo-rs"),
        Kind::To1Rv,
        at_prove(legacy.bytes()),
        ok(vec![("sends", json!(33))]),
    );
    Ok(g)
}

fn addresses_cbor() -> Vec<u8> {
    let mut e = Encoder::new();
    vouch_protocol::cbor::encode_array(&mut e, &addresses());
    e.into_bytes()
}

/// The owner's side of TO0, against the server's own answers.
pub fn to0_owner_group() -> R<Group> {
    use vouch_protocol::flows::to0::To0Owner;
    let mut g = Group::new(
        "to0-owner",
        "The owner's side of TO0 (FDO reference §2.2): it registers a voucher with entries, \
         signs to1d with the owner key over H(to0d), and learns the time granted.",
    );
    let w = World::new(PkType::SECP256R1, PkEnc::X509)?;
    let (ack, state) = hello_state()?;
    let base = |voucher: &OwnershipVoucher,
                key: &SigningKey,
                wait: u32|
     -> R<Vec<(&'static str, Value)>> {
        Ok(vec![
            ("voucher", hex_input(&voucher.to_cbor())),
            ("owner_key", hex_input(&super::world::pkcs8(key)?)),
            ("addresses", hex_input(&addresses_cbor())),
            ("wait_seconds", json!(wait)),
        ])
    };
    let (hello, _) = To0Owner::start(
        w.voucher.clone().verify(&C, None, None).ctx("verify")?,
        addresses(),
        3600,
    )
    .ctx("start")?;
    g.add(
        "start",
        "The owner starts TO0 with TO0.Hello.",
        reference("§2.2 (20)"),
        Kind::To0Owner,
        base(&w.voucher, &w.owner, 3600)?,
        ok(vec![("sends", json!(20)), ("sends_body", hx(&hello.body))]),
    );
    for (name, wait) in [("hello-ack", 3600u32), ("hello-ack-long-wait", 30 * 86_400)] {
        let (_, owner) = To0Owner::start(
            w.voucher.clone().verify(&C, None, None).ctx("verify")?,
            addresses(),
            wait,
        )
        .ctx("start")?;
        let (sign, signed) = owner
            .hello_ack(MessageType::TO0_HELLO_ACK, &ack.body, &C, &w.owner)
            .ctx("hello_ack")?;
        // The server accepts what the owner sent, and grants what it grants.
        let (accept, _) = rv_owner_sign(
            state.clone(),
            MessageType::TO0_OWNER_SIGN,
            &sign.body,
            &C,
            FIXED_TIME,
            MAX_WAIT,
        )
        .ctx("rv_owner_sign")?;
        let granted = signed
            .accept_owner(MessageType::TO0_ACCEPT_OWNER, &accept.body)
            .ctx("accept")?;
        let mut i = base(&w.voucher, &w.owner, wait)?;
        i.push(("message", msg(MessageType::TO0_HELLO_ACK, &ack.body)));
        i.push(("accept", msg(MessageType::TO0_ACCEPT_OWNER, &accept.body)));
        g.add(
            name,
            &format!("The owner asks for {wait} seconds: TO0.OwnerSign with the server's nonce, to1d signed by the owner key; TO0.AcceptOwner grants {granted}."),
            reference("§2.2 (21, 22, 23)"),
            Kind::To0Owner,
            i,
            ok(vec![("sends", json!(22)), ("sends_body", hx(&sign.body)), ("granted", json!(granted))]),
        );
    }
    g.add(
        "start-voucher-without-entries",
        "A voucher without entries cannot be registered: it names no owner.",
        reference("§2.2 (the voucher has at least one entry)"),
        Kind::To0Owner,
        base(&w.voucher0, &w.mfg, 3600)?,
        fail(ErrorCode::INVALID_MESSAGE_ERROR, "verify.no-entries"),
    );
    let mut i = base(&w.voucher, &w.owner, 3600)?;
    for (n, v) in i.iter_mut() {
        if *n == "addresses" {
            *v = hex_input(&[0x80]);
        }
    }
    g.add(
        "start-no-addresses",
        "An empty to1dRV: the device would have nowhere to go.",
        reference("§2.2 (to1dRV: [+ RVTO2AddrEntry])"),
        Kind::To0Owner,
        i,
        fail(ErrorCode::INTERNAL_SERVER_ERROR, "misuse"),
    );
    let mut i = base(&w.voucher, &w.reseller, 3600)?;
    i.push(("message", msg(MessageType::TO0_HELLO_ACK, &ack.body)));
    g.add("hello-ack-signer-not-the-owner", "The owner is given the previous owner's key to sign to1d with: refused before anything is sent.", reference("§2.2 (to1d is signed by the owner key)"), Kind::To0Owner, i, fail(ErrorCode::INTERNAL_SERVER_ERROR, "misuse"));
    let mut e = Encoder::new();
    e.array(1).bytes(&[0x21; 17]);
    let mut i = base(&w.voucher, &w.owner, 3600)?;
    i.push(("message", msg(MessageType::TO0_HELLO_ACK, &e.into_bytes())));
    g.add(
        "hello-ack-17-byte-nonce",
        "TO0.HelloAck with a 17-byte nonce.",
        reference("§3 Nonce"),
        Kind::To0Owner,
        i,
        fail(ErrorCode::MESSAGE_BODY_ERROR, "decode"),
    );
    let mut i = base(&w.voucher, &w.owner, 3600)?;
    i.push(("message", msg(MessageType::TO0_HELLO_ACK, &ack.body)));
    i.push(("accept", msg(MessageType::TO0_ACCEPT_OWNER, &[0x81, 0x20])));
    g.add(
        "accept-owner-negative-wait",
        "TO0.AcceptOwner whose WaitSeconds is negative.",
        reference("§2.2 (23: WaitSeconds uint32)"),
        Kind::To0Owner,
        i,
        fail(ErrorCode::MESSAGE_BODY_ERROR, "decode"),
    );
    Ok(g)
}

/// The device's side of TO1, against the server's own answers.
pub fn to1_device_group() -> R<Group> {
    use vouch_protocol::flows::to1::{To1Device, rv_prove_to_rv};
    let mut g = Group::new(
        "to1-device",
        "The device's side of TO1 (FDO reference §2.3): TO1.HelloRV with its GUID, the EAT \
         over NonceTO1Proof, and the owner's to1d it is redirected with (verified only in TO2).",
    );
    let w = World::new(PkType::SECP256R1, PkEnc::X509)?;
    let (_, state) = hello_state()?;
    let m = owner_sign(&w.voucher, *state.nonce(), 3600, &w.owner)?;
    let (_, registration) = rv_owner_sign(
        state,
        MessageType::TO0_OWNER_SIGN,
        &m.to_cbor(),
        &C,
        FIXED_TIME,
        MAX_WAIT,
    )
    .ctx("rv_owner_sign")?;
    let base = |cred: &[u8]| -> R<Vec<(&'static str, Value)>> {
        Ok(vec![
            ("credential", hex_input(cred)),
            (
                "device_key",
                hex_input(&super::world::pkcs8(&w.device_key)?),
            ),
            ("sg_type", json!(SgType::ES256.0)),
        ])
    };
    let cred = w.credential.to_cbor();
    let (hello, device) =
        To1Device::start(&w.credential, SigInfo::new(SgType::ES256)).ctx("start")?;
    g.add(
        "start",
        "The device starts TO1: TO1.HelloRV with its GUID and eASigInfo ES256.",
        reference("§2.3 (30)"),
        Kind::To1Device,
        base(&cred)?,
        ok(vec![("sends", json!(30)), ("sends_body", hx(&hello.body))]),
    );
    let (ack, rv_state) = rv_hello_rv(
        MessageType::TO1_HELLO_RV,
        &hello.body,
        Some(&registration),
        FIXED_TIME + 60,
        &mut SeededRng::new(b"vouch vectors TO1 device"),
    )
    .ctx("rv_hello_rv")?;
    let (proof, _) = device
        .hello_rv_ack(MessageType::TO1_HELLO_RV_ACK, &ack.body, &w.device_key)
        .ctx("hello_rv_ack")?;
    let redirect = rv_prove_to_rv(rv_state, MessageType::TO1_PROVE_TO_RV, &proof.body, &C)
        .ctx("rv_prove_to_rv")?;
    let mut i = base(&cred)?;
    i.push(("message", msg(MessageType::TO1_HELLO_RV_ACK, &ack.body)));
    i.push((
        "redirect",
        msg(MessageType::TO1_RV_REDIRECT, &redirect.body),
    ));
    g.add("hello-rv-ack-and-redirect", "The device signs the EAT over the server's NonceTO1Proof (which the server accepts) and keeps the to1d it is redirected with.", reference("§2.3 (31, 32, 33)"), Kind::To1Device, i, ok(vec![("sends", json!(32)), ("sends_body", hx(&proof.body)), ("to1d", hx(&registration.to1d))]));
    let mut inactive = w.credential.clone();
    inactive.active = false;
    g.add(
        "start-inactive-credential",
        "A credential whose DCActive is false must not onboard.",
        reference("§3 (DCActive)"),
        Kind::To1Device,
        base(&inactive.to_cbor())?,
        fail(ErrorCode::INTERNAL_SERVER_ERROR, "misuse"),
    );
    let mut i = base(&cred)?;
    i.push(("message", msg(MessageType::TO1_HELLO_RV_ACK, &[0x82, 0x50])));
    g.add(
        "hello-rv-ack-truncated",
        "TO1.HelloRVAck cut inside its nonce.",
        reference("§2.3 (31)"),
        Kind::To1Device,
        i,
        fail(ErrorCode::MESSAGE_BODY_ERROR, "decode"),
    );
    let mut i = base(&cred)?;
    i.push(("message", msg(MessageType::TO1_HELLO_RV_ACK, &ack.body)));
    i.push((
        "redirect",
        msg(
            MessageType::TO1_RV_REDIRECT,
            redirect.body.get(1..).ctx("untag")?,
        ),
    ));
    g.add(
        "redirect-untagged",
        "TO1.RVRedirect whose to1d lacks its COSE_Sign1 tag.",
        reference("§2.3 (33: the stored COSE_Sign1, tag 18)"),
        Kind::To1Device,
        i,
        fail(ErrorCode::MESSAGE_BODY_ERROR, "decode"),
    );
    Ok(g)
}
