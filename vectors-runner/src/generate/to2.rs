//! `to2-device/…` and `to2-owner/…`: single steps of the TO2 state machines (FDO reference §5).
//!
//! A full TO2 runs here first, device and owner in memory, every random source seeded: that
//! transcript gives the positive steps. A device step's prior state is the owner messages it
//! accepted before (it replays them from its seed); an owner step's prior state is the state
//! the owner stored before the request (its CBOR). Negative steps replace one message.

use serde_json::{Value, json};
use vouch_protocol::ErrorCode;
use vouch_protocol::cbor::{Bstr, Cbor, Raw};
use vouch_protocol::crypto::kex;
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{CryptoProvider, SessionKeys, SigAlg, Signer, SigningKey};
use vouch_protocol::eat::{Eat, EatClaims, EatHeaders};
use vouch_protocol::flows::Outgoing;
use vouch_protocol::flows::to2::{
    DeviceConfig, DeviceStep, OwnerConfig, OwnerState, Replacement, To2Device, hello_device,
    hello_device_guid,
};
use vouch_protocol::messages::to0::{RvTo2Addr, To1d, To1dPayload};
use vouch_protocol::messages::to2::{
    Done, Done2, GetOvNextEntry, HelloDevice, OvNextEntry, ProveDevice, ProveOvHdr,
    ProveOvHdrPayload,
};
use vouch_protocol::messages::{ErrorMessage, MessageType};
use vouch_protocol::serviceinfo::{DeviceModules, OwnerModules};
use vouch_protocol::types::{
    Guid, HashAlg, Nonce, PkEnc, PkType, PublicKey, SgType, SigInfo, TransportProtocol,
};
use vouch_protocol::voucher::{OvEntry, OvHeader};

use super::world::{C, GUID, NEW_GUID, SECRET, World, new_rv_info, pkcs8, rv_info};
use super::{Ctx, Group, R, fail, flip, ok, peer, reference};
use crate::exec::devmod_from;
use crate::format::{Kind, hex_input};

const DEVICE_SEED: &[u8] = b"vouch vectors TO2 device";

fn devmod_json() -> Value {
    json!({
        "os": "Linux",
        "arch": "aarch64",
        "version": "6.6",
        "device": "vouch vectors board",
        "sep": "/",
        "bin": "aarch64",
    })
}

fn owner_seed(k: usize) -> Vec<u8> {
    format!("vouch vectors TO2 owner step {k}").into_bytes()
}

fn msg_json(t: MessageType, body: &[u8]) -> Value {
    json!({ "type": t.0, "body": { "hex": hex::encode(body) } })
}

fn hx(b: &[u8]) -> Value {
    json!(hex::encode(b))
}

/// One TO2 world: its keys, the device's configuration, and the transcript of a full run.
struct Run {
    w: World,
    config: DeviceConfig,
    /// Device → owner, in order: HelloDevice first.
    device: Vec<Outgoing>,
    /// Owner → device: the answer to `device[k]`.
    owner: Vec<Outgoing>,
    /// The owner's stored state before it handled `device[k]` (none before HelloDevice).
    states: Vec<Option<Vec<u8>>>,
    /// The device's new credential at the end.
    new_credential: Vec<u8>,
    /// The owner's replacement voucher at the end.
    replacement_voucher: Vec<u8>,
    /// The session key, made again from the device's random source as it stood before its
    /// key exchange (checked against the xB it sent), to seal replaced encrypted messages.
    keys: SessionKeys,
}

/// The owner's answer, the state it stores next (none at the end), and the replacement voucher
/// (at the end).
type OwnerAnswer = (Outgoing, Option<Vec<u8>>, Option<Vec<u8>>);

/// The owner's handling of one request, as the relying party does it.
fn owner_step(
    w: &World,
    state: Option<&[u8]>,
    t: MessageType,
    body: &[u8],
    seed: &[u8],
    replacement: &Replacement,
    owner2: &dyn Signer,
) -> R<OwnerAnswer> {
    let mut rng = SeededRng::new(seed);
    let Some(state) = state else {
        let guid = hello_device_guid(t, body).ctx("HelloDevice")?;
        let found = (guid == w.voucher.guid())
            .then(|| w.voucher.clone().verify(&C, None, None))
            .transpose()
            .ctx("voucher")?;
        let (out, s) = hello_device(
            &C,
            &OwnerConfig::default(),
            t,
            body,
            found,
            &w.owner,
            &mut rng,
        )
        .ctx("hello_device")?;
        return Ok((out, Some(OwnerState::from(s).to_cbor()), None));
    };
    let state = OwnerState::from_cbor(state).ctx("state")?;
    let (out, next, done): (Outgoing, Option<OwnerState>, Option<Vec<u8>>) = match state {
        OwnerState::ProveDevice(s) if t == MessageType::TO2_GET_OV_NEXT_ENTRY => {
            let (o, s) = s.get_ov_next_entry(t, body).ctx("GetOVNextEntry")?;
            (o, Some(s.into()), None)
        }
        OwnerState::ProveDevice(s) => {
            let (o, s) = s
                .prove_device(&C, t, body, replacement, owner2, &mut rng)
                .ctx("ProveDevice")?;
            (o, Some(s.into()), None)
        }
        OwnerState::ServiceInfoReady(s) => {
            let (o, s) = s
                .device_service_info_ready(t, body, &mut rng)
                .ctx("DeviceServiceInfoReady")?;
            (o, Some(s.into()), None)
        }
        OwnerState::ServiceInfo(s) if t == MessageType::TO2_DONE => {
            let (o, outcome) = s.done(&C, t, body, &mut rng).ctx("Done")?;
            let v = outcome
                .replacement_voucher
                .ctx("replacement voucher")?
                .to_cbor();
            (o, None, Some(v))
        }
        OwnerState::ServiceInfo(s) => {
            let (o, s) = s
                .device_service_info(t, body, &mut OwnerModules::new(), &mut rng)
                .ctx("DeviceServiceInfo")?;
            (o, Some(s.into()), None)
        }
    };
    Ok((out, next.map(|s| s.to_cbor()), done))
}

fn resale() -> Replacement {
    Replacement {
        guid: NEW_GUID,
        rv_info: new_rv_info(),
    }
}

impl Run {
    fn new(pk_type: PkType) -> R<Self> {
        let w = World::new(pk_type, PkEnc::X509)?;
        let config = if pk_type == PkType::SECP384R1 {
            DeviceConfig::ecdh384()
        } else {
            DeviceConfig::ecdh256()
        };
        let mut rng = SeededRng::new(DEVICE_SEED);
        let modules = DeviceModules::new(devmod_from(&devmod_json())?);
        let (hello, mut device) = To2Device::start(
            &C,
            &w.credential,
            &w.device_key,
            config.clone(),
            modules,
            None,
            &mut rng,
        )
        .ctx("start")?;
        let (mut sent, mut replies, mut states) = (vec![hello], Vec::new(), Vec::new());
        let mut replacement_voucher = Vec::new();
        let mut state: Option<Vec<u8>> = None;
        let mut keys = None;
        for k in 0..64 {
            let to_owner = sent.get(k).ctx("device message")?.clone();
            states.push(state.clone());
            let (reply, next, done) = owner_step(
                &w,
                state.as_deref(),
                to_owner.msg_type,
                &to_owner.body,
                &owner_seed(k),
                &resale(),
                &w.next_owner,
            )?;
            state = next;
            if let Some(v) = done {
                replacement_voucher = v;
            }
            replies.push(reply.clone());
            if device.expects() == MessageType::TO2_OV_NEXT_ENTRY
                && reply.msg_type == MessageType::TO2_OV_NEXT_ENTRY
            {
                // The device's key exchange draws first from its random source in the step
                // that ends the entries: the same draws give the same xB and session key.
                let p = ProveOvHdr::from_cbor(&replies.first().ctx("ProveOVHdr")?.body)
                    .ctx("ProveOVHdr")?;
                let (xb, secret) =
                    kex::respond(&config.kex_suite, &p.payload().xa, &mut rng.clone())
                        .ctx("key exchange")?;
                keys = Some((
                    xb,
                    SessionKeys::derive(config.cipher_suite, &secret).ctx("keys")?,
                ));
            }
            match device
                .receive(reply.msg_type, &reply.body, &mut rng)
                .ctx("device")?
            {
                DeviceStep::Send(out, next) => {
                    sent.push(out);
                    device = next;
                }
                DeviceStep::Finished(outcome) => {
                    let new_credential = outcome.credential.to_cbor();
                    let pd = sent
                        .iter()
                        .find(|m| m.msg_type == MessageType::TO2_PROVE_DEVICE)
                        .ctx("ProveDevice")?;
                    let pd = ProveDevice::from_cbor(&pd.body).ctx("ProveDevice")?;
                    let keys = match keys {
                        Some((xb, k)) if xb == pd.xb() => k,
                        _ => return Err("the session key could not be made again".into()),
                    };
                    return Ok(Self {
                        w,
                        config,
                        device: sent,
                        owner: replies,
                        states,
                        new_credential,
                        replacement_voucher,
                        keys,
                    });
                }
            }
        }
        Err("TO2 did not finish in 64 rounds".into())
    }

    fn device_inputs(&self) -> R<Vec<(&'static str, Value)>> {
        Ok(vec![
            ("credential", hex_input(&self.w.credential.to_cbor())),
            ("device_key", hex_input(&pkcs8(&self.w.device_key)?)),
            ("kex_suite", json!(self.config.kex_suite.as_str())),
            ("cipher_suite", json!(self.config.cipher_suite.0)),
            ("max_message_size", json!(self.config.max_message_size)),
            ("devmod", devmod_json()),
            ("rng_seed", hex_input(DEVICE_SEED)),
        ])
    }

    /// Inputs of the device step that receives `message` after the first `k` owner messages.
    fn device_step(&self, k: usize, message: Value) -> R<Vec<(&'static str, Value)>> {
        let mut i = self.device_inputs()?;
        let prior: Vec<Value> = self
            .owner
            .get(..k)
            .ctx("prior")?
            .iter()
            .map(|o| msg_json(o.msg_type, &o.body))
            .collect();
        i.push(("prior", Value::Array(prior)));
        i.push(("message", message));
        Ok(i)
    }

    /// The device step receiving `body` of type `t` as owner message `k`.
    fn device_step_with(
        &self,
        k: usize,
        t: MessageType,
        body: &[u8],
    ) -> R<Vec<(&'static str, Value)>> {
        self.device_step(k, msg_json(t, body))
    }

    fn owner_msg(&self, k: usize) -> R<&Outgoing> {
        self.owner.get(k).ctx("owner message")
    }

    fn device_msg(&self, k: usize) -> R<&Outgoing> {
        self.device.get(k).ctx("device message")
    }

    /// The index of the first owner message of type `t`.
    fn owner_index(&self, t: MessageType) -> R<usize> {
        self.owner
            .iter()
            .position(|o| o.msg_type == t)
            .ctx("owner message type")
    }

    /// The index of the first device message of type `t`.
    fn device_index(&self, t: MessageType) -> R<usize> {
        self.device
            .iter()
            .position(|o| o.msg_type == t)
            .ctx("device message type")
    }

    /// Inputs of the owner step handling device message `k` (with `body` in place of it).
    fn owner_step_inputs(
        &self,
        k: usize,
        t: MessageType,
        body: &[u8],
    ) -> R<Vec<(&'static str, Value)>> {
        let mut i = vec![
            ("message", msg_json(t, body)),
            ("rng_seed", hex_input(&owner_seed(k))),
        ];
        match self.states.get(k).ctx("state")? {
            None => {
                i.push(("voucher", hex_input(&self.w.voucher.to_cbor())));
                i.push(("owner_key", hex_input(&pkcs8(&self.w.owner)?)));
                i.push(("max_message_size", json!(u16::MAX)));
            }
            Some(s) => {
                i.push(("state", hex_input(s)));
                i.push(("replacement_guid", hex_input(NEW_GUID.as_bytes())));
                i.push(("replacement_rv_info", hex_input(&new_rv_info().to_cbor())));
                i.push(("owner2_key", hex_input(&pkcs8(&self.w.next_owner)?)));
            }
        }
        Ok(i)
    }

    /// The recorded ProveOVHdr, decoded.
    fn prove_ovhdr(&self) -> R<ProveOvHdr> {
        let k = self.owner_index(MessageType::TO2_PROVE_OV_HDR)?;
        ProveOvHdr::from_cbor(&self.owner_msg(k)?.body).ctx("ProveOVHdr")
    }

    /// The recorded ProveDevice, decoded.
    fn prove_device(&self) -> R<(usize, ProveDevice)> {
        let k = self.device_index(MessageType::TO2_PROVE_DEVICE)?;
        Ok((
            k,
            ProveDevice::from_cbor(&self.device_msg(k)?.body).ctx("ProveDevice")?,
        ))
    }

    /// The owner's SetupDevice answer to a ProveDevice `body`, from the state it had then.
    fn setup_device_for(
        &self,
        body: &[u8],
        replacement: &Replacement,
        owner2: &dyn Signer,
    ) -> R<Outgoing> {
        let (k, _) = self.prove_device()?;
        let state = self.states.get(k).ctx("state")?.as_deref();
        let (out, _, _) = owner_step(
            &self.w,
            state,
            MessageType::TO2_PROVE_DEVICE,
            body,
            &owner_seed(k),
            replacement,
            owner2,
        )?;
        Ok(out)
    }
}

/// A signer that shows one key and signs with another: a SetupDevice whose signature does not
/// match its Owner2Key.
struct Mismatched<'a> {
    shown: &'a SigningKey,
    signs: &'a SigningKey,
}

impl Signer for Mismatched<'_> {
    fn algorithm(&self) -> SigAlg {
        self.signs.algorithm()
    }
    fn public_key(&self, enc: PkEnc) -> Result<PublicKey, vouch_protocol::Error> {
        self.shown.public_key(enc)
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, vouch_protocol::Error> {
        self.signs.sign(msg)
    }
}

fn step_name(t: MessageType) -> String {
    t.name()
        .unwrap_or("message")
        .trim_start_matches("TO2.")
        .chars()
        .flat_map(|c| {
            if c.is_ascii_uppercase() {
                vec!['-', c.to_ascii_lowercase()]
            } else {
                vec![c]
            }
        })
        .collect::<String>()
        .trim_start_matches('-')
        .replace("o-v", "ov")
        .replace("h-m-a-c", "hmac")
}

/// The TO2 device group.
pub fn device_group() -> R<Group> {
    let mut g = Group::new(
        "to2-device",
        "Steps of the TO2 device state machine (FDO reference §5.2, §5.4): every step of a full \
         run, then each check of §5.2 and §5.4 failing on a replaced owner message. The prior \
         state is the owner messages accepted before (`prior`), replayed from `rng_seed`.",
    );
    for (t, name) in [(PkType::SECP256R1, "p256"), (PkType::SECP384R1, "p384")] {
        let run = Run::new(t)?;
        device_positives(&mut g, &run, name)?;
        if t == PkType::SECP256R1 {
            device_negatives(&mut g, &run)?;
        } else {
            // Pitfall 7: fdo-rs owners hash HelloDevice with SHA-256 whatever the voucher's hash.
            let p = run.prove_ovhdr()?;
            let mut payload = p.payload().clone();
            payload.hello_device_hash = C
                .hash(HashAlg::SHA256, &[&run.device_msg(0)?.body])
                .ctx("hash")?;
            let owner_pub = run.w.owner.public_key(PkEnc::X509).ctx("key")?;
            let m = ProveOvHdr::sign(payload, *p.prove_dv_nonce(), &owner_pub, &run.w.owner)
                .ctx("sign")?;
            g.add(
                "p384-prove-ovhdr-hello-hash-sha256",
                "A P-384 (SHA-384) voucher's ProveOVHdr with helloDeviceHash in SHA-256, as fdo-rs owners send it: the device recomputes with the algorithm named and accepts it.",
                peer("§5.2 step 2; §6 pitfall 7", "fdo-rs"),
                Kind::To2Device,
                run.device_step_with(0, MessageType::TO2_PROVE_OV_HDR, &m.to_cbor())?,
                ok(vec![("sends", json!(62)), ("sends_body", hx(&GetOvNextEntry { entry_num: 0 }.to_cbor()))]),
            );
        }
    }
    Ok(g)
}

fn device_positives(g: &mut Group, run: &Run, name: &str) -> R<()> {
    g.add(
        &format!("{name}-start-hello-device"),
        "The device starts TO2: TO2.HelloDevice with its GUID, a fresh NonceTO2ProveOV, its suites and eASigInfo.",
        reference("§2.4 (60)"),
        Kind::To2Device,
        run.device_inputs()?,
        ok(vec![("sends", json!(60)), ("sends_body", hx(&run.device_msg(0)?.body))]),
    );
    let mut counts = std::collections::BTreeMap::<u8, usize>::new();
    for (k, msg) in run.owner.iter().enumerate() {
        let n = counts.entry(msg.msg_type.0).or_default();
        let step = format!("{name}-{}-{}", step_name(msg.msg_type), n);
        *n += 1;
        let inputs = run.device_step_with(k, msg.msg_type, &msg.body)?;
        let expect = match run.device.get(k + 1) {
            Some(next) => ok(vec![
                ("sends", json!(next.msg_type.0)),
                ("sends_body", hx(&next.body)),
            ]),
            None => ok(vec![
                ("finished", json!(true)),
                ("reused", json!(false)),
                ("credential", hx(&run.new_credential)),
            ]),
        };
        g.add(
            &step,
            &format!(
                "Step {k} of a full run: the device accepts {} and answers as recorded.",
                msg.msg_type.name().unwrap_or("the message")
            ),
            reference("§5.2, §5.4"),
            Kind::To2Device,
            inputs,
            expect,
        );
    }
    Ok(())
}

fn device_negatives(g: &mut Group, run: &Run) -> R<()> {
    let w = &run.w;
    let invalid = ErrorCode::INVALID_MESSAGE_ERROR;
    let body_error = ErrorCode::MESSAGE_BODY_ERROR;
    let owner_pub = w.owner.public_key(PkEnc::X509).ctx("key")?;
    let p = run.prove_ovhdr()?;
    let dv_nonce = *p.prove_dv_nonce();
    let signed = |payload: ProveOvHdrPayload| -> R<Vec<u8>> {
        Ok(ProveOvHdr::sign(payload, dv_nonce, &owner_pub, &w.owner)
            .ctx("sign")?
            .to_cbor())
    };
    let pk = run.owner_index(MessageType::TO2_PROVE_OV_HDR)?;
    let at_prove = |body: &[u8]| run.device_step_with(pk, MessageType::TO2_PROVE_OV_HDR, body);
    let add_prove =
        |g: &mut Group, name: &str, what: &str, section: &str, body: Vec<u8>, err: &str| -> R<()> {
            g.add(
                name,
                what,
                reference(section),
                Kind::To2Device,
                at_prove(&body)?,
                fail(invalid, err),
            );
            Ok(())
        };

    let mut q = p.payload().clone();
    q.nonce = Nonce([0x00; 16]);
    add_prove(
        g,
        "prove-ovhdr-wrong-nonce",
        "ProveOVHdr echoes another NonceTO2ProveOV than the device sent.",
        "§5.2 step 1",
        signed(q)?,
        "verify.nonce(NonceTO2ProveOV)",
    )?;
    let mut q = p.payload().clone();
    q.hello_device_hash = C
        .hash(HashAlg::SHA256, &[b"another HelloDevice"])
        .ctx("hash")?;
    add_prove(
        g,
        "prove-ovhdr-wrong-hello-hash",
        "ProveOVHdr's helloDeviceHash is not the hash of the HelloDevice sent.",
        "§5.2 step 2",
        signed(q)?,
        "verify.hash(helloDeviceHash)",
    )?;
    let body = &run.owner_msg(pk)?.body;
    let sig_at = super::find(body, p.sign1().signature())?;
    add_prove(
        g,
        "prove-ovhdr-signature-flipped",
        "One bit of ProveOVHdr's signature flipped.",
        "§5.2 step 3",
        flip(body, sig_at + 9, 0x01)?,
        "verify.signature(TO2.ProveOVHdr)",
    )?;
    let mut q = p.payload().clone();
    let mut mac = q.hmac.value().to_vec();
    if let Some(b) = mac.first_mut() {
        *b ^= 0x01;
    }
    q.hmac = vouch_protocol::types::HMac::new(q.hmac.alg(), mac).ctx("HMac")?;
    add_prove(
        g,
        "prove-ovhdr-hmac-flipped",
        "ProveOVHdr carries an OVHeaderHMac with one bit flipped.",
        "§5.2 step 4",
        signed(q)?,
        "verify.header-hmac",
    )?;
    // A header the device's secret MACs correctly, but not its own: only step 5 can tell.
    let header_with = |f: &dyn Fn(&mut OvHeader)| -> R<ProveOvHdrPayload> {
        let mut h = w.voucher.header().clone();
        f(&mut h);
        let bytes = h.to_cbor();
        let mut q = p.payload().clone();
        q.hmac = C.hmac(q.hmac.alg(), SECRET, &bytes).ctx("HMAC")?;
        q.header = Bstr::from_contents(&bytes).ctx("header")?;
        Ok(q)
    };
    let stranger_pub = w.stranger.public_key(PkEnc::X509).ctx("key")?;
    let q = header_with(&|h| h.manufacturer_key = Raw::new(stranger_pub.clone()))?;
    add_prove(
        g,
        "prove-ovhdr-other-manufacturer",
        "ProveOVHdr's OVHeader names another manufacturer key (its HMAC correct): H(OVPubKey) is not DCPubKeyHash.",
        "§5.2 step 5",
        signed(q)?,
        "verify.manufacturer-key-hash",
    )?;
    let q = header_with(&|h| h.guid = Guid([0x77; 16]))?;
    add_prove(
        g,
        "prove-ovhdr-other-guid",
        "ProveOVHdr's OVHeader has another GUID (its HMAC correct).",
        "§5.2 step 5",
        signed(q)?,
        "verify.guid-mismatch",
    )?;
    let mut q = p.payload().clone();
    q.num_entries = 0;
    add_prove(
        g,
        "prove-ovhdr-no-entries",
        "ProveOVHdr announces a voucher with no entries: no owner is named.",
        "§5.1 step 1, §5.2 step 6",
        signed(q)?,
        "verify.no-entries",
    )?;
    g.add(
        "prove-ovhdr-as-other-type",
        "ProveOVHdr's body sent as message type 63.",
        reference("§2.4 (message order)"),
        Kind::To2Device,
        run.device_step_with(pk, MessageType::TO2_OV_NEXT_ENTRY, body)?,
        fail(body_error, "invalid"),
    );
    let peer_error = ErrorMessage::new(
        ErrorCode::RESOURCE_NOT_FOUND,
        MessageType::TO2_HELLO_DEVICE,
        "no voucher",
    )
    .to_cbor();
    g.add(
        "prove-ovhdr-owner-error",
        "The owner answers HelloDevice with error 6: the device stops with the owner's code.",
        reference("§1 (error message)"),
        Kind::To2Device,
        run.device_step_with(pk, MessageType::ERROR, &peer_error)?,
        fail(ErrorCode::RESOURCE_NOT_FOUND, "invalid"),
    );

    // The entries (§5.2 steps 6 to 9).
    let e0 = w.voucher.entries().first().ctx("entry 0")?.clone();
    let e1 = w.voucher.entries().get(1).ctx("entry 1")?.clone();
    let k0 = pk + 1;
    let k1 = pk + 2;
    let entry_msg = |n: u8, e: &OvEntry| {
        OvNextEntry {
            entry_num: n,
            entry: e.clone(),
        }
        .to_cbor()
    };
    g.add(
        "ov-next-entry-wrong-number",
        "OVNextEntry answers entry 0 with OVEntryNum 1.",
        reference("§5.2 step 6"),
        Kind::To2Device,
        run.device_step_with(k0, MessageType::TO2_OV_NEXT_ENTRY, &entry_msg(1, &e0))?,
        fail(invalid, "invalid"),
    );
    g.add(
        "ov-next-entry-0-is-entry-1",
        "The owner sends entry 1 where entry 0 was asked for.",
        reference("§5.2 step 7"),
        Kind::To2Device,
        run.device_step_with(k0, MessageType::TO2_OV_NEXT_ENTRY, &entry_msg(0, &e1))?,
        fail(invalid, "verify.entry-signature[0]"),
    );
    let m0 = entry_msg(0, &e0);
    let s_at = super::find(&m0, e0.sign1().signature())?;
    g.add(
        "ov-next-entry-0-signature-flipped",
        "One bit of entry 0's signature flipped.",
        reference("§5.2 step 7"),
        Kind::To2Device,
        run.device_step_with(
            k0,
            MessageType::TO2_OV_NEXT_ENTRY,
            &flip(&m0, s_at + 3, 0x01)?,
        )?,
        fail(invalid, "verify.entry-signature[0]"),
    );
    let mut q = e1.payload().clone();
    q.prev_entry_hash = C.hash(HashAlg::SHA256, &[b"not entry 0"]).ctx("hash")?;
    let forged = OvEntry::sign(q, &w.reseller).ctx("entry")?;
    g.add(
        "ov-next-entry-1-wrong-prev-hash",
        "Entry 1 signed by its rightful signer, but not linked to entry 0.",
        reference("§5.2 step 7"),
        Kind::To2Device,
        run.device_step_with(k1, MessageType::TO2_OV_NEXT_ENTRY, &entry_msg(1, &forged))?,
        fail(invalid, "verify.entry-prev-hash[1]"),
    );
    let mut q = e0.payload().clone();
    q.header_info_hash = C.hash(HashAlg::SHA256, &[b"another device"]).ctx("hash")?;
    let forged = OvEntry::sign(q, &w.mfg).ctx("entry")?;
    g.add(
        "ov-next-entry-0-wrong-header-info",
        "Entry 0 signed by the manufacturer, but its OVEHashHdrInfo is not H(GUID ‖ DeviceInfo).",
        reference("§5.2 step 7"),
        Kind::To2Device,
        run.device_step_with(k0, MessageType::TO2_OV_NEXT_ENTRY, &entry_msg(0, &forged))?,
        fail(invalid, "verify.entry-header-info-hash[0]"),
    );
    // Step 8: ProveOVHdr signed by a stranger with its own key in 257; the entries end at the owner.
    let stranger_prove =
        ProveOvHdr::sign(p.payload().clone(), dv_nonce, &stranger_pub, &w.stranger)
            .ctx("sign")?
            .to_cbor();
    let mut i = run.device_inputs()?;
    i.push((
        "prior",
        json!([
            msg_json(MessageType::TO2_PROVE_OV_HDR, &stranger_prove),
            msg_json(MessageType::TO2_OV_NEXT_ENTRY, &run.owner_msg(k0)?.body)
        ]),
    ));
    i.push((
        "message",
        msg_json(MessageType::TO2_OV_NEXT_ENTRY, &run.owner_msg(k1)?.body),
    ));
    g.add("prove-ovhdr-signed-by-stranger", "ProveOVHdr signed by a key that is not the voucher's owner (its own key in CUPHOwnerPubKey): refused once the last entry names the real owner.", reference("§5.2 step 8"), Kind::To2Device, i, fail(invalid, "verify.owner-key-mismatch"));
    // Step 9: through TO1, the to1d must be the owner's.
    let to1d = |signer: &SigningKey| -> R<Vec<u8>> {
        let payload = To1dPayload {
            addresses: vec![RvTo2Addr {
                ip: None,
                dns: Some("owner.example".into()),
                port: 8043,
                protocol: TransportProtocol::HTTPS,
            }],
            to0d_hash: C.hash(HashAlg::SHA256, &[b"to0d"]).ctx("hash")?,
        };
        Ok(To1d::sign(payload, signer).ctx("to1d")?.to_cbor())
    };
    let last = run.device_msg(k1 + 1)?;
    for (name, what, signer, expect) in [
        (
            "to1d-signed-by-owner",
            "The device came through TO1 with a to1d signed by the owner key: accepted once the entries name that key.",
            &w.owner,
            ok(vec![
                ("sends", json!(last.msg_type.0)),
                ("sends_body", hx(&last.body)),
            ]),
        ),
        (
            "to1d-signed-by-stranger",
            "The device came through TO1 with a to1d another key signed: a man in the middle.",
            &w.stranger,
            fail(invalid, "verify.signature(to1d)"),
        ),
    ] {
        let mut i =
            run.device_step_with(k1, MessageType::TO2_OV_NEXT_ENTRY, &run.owner_msg(k1)?.body)?;
        i.push(("to1d", hex_input(&to1d(signer)?)));
        g.add(
            name,
            what,
            reference("§5.2 step 9"),
            Kind::To2Device,
            i,
            expect,
        );
    }

    // SetupDevice (§5.4 steps 1 to 3).
    let ks = run.owner_index(MessageType::TO2_SETUP_DEVICE)?;
    let setup = &run.owner_msg(ks)?.body;
    let n = setup.len();
    g.add(
        "setup-device-ciphertext-flipped",
        "One bit of SetupDevice's ciphertext flipped.",
        reference("§5.4 step 1"),
        Kind::To2Device,
        run.device_step_with(
            ks,
            MessageType::TO2_SETUP_DEVICE,
            &flip(setup, n - 30, 0x01)?,
        )?,
        fail(invalid, "verify.decrypt"),
    );
    let (_, pd) = run.prove_device()?;
    let other_setup_nonce = ProveDevice::sign(
        *pd.prove_dv_nonce(),
        &GUID,
        pd.xb().to_vec(),
        Nonce([0x99; 16]),
        &w.device_key,
    )
    .ctx("ProveDevice")?;
    let wrong_nonce =
        run.setup_device_for(&other_setup_nonce.to_cbor(), &resale(), &w.next_owner)?;
    g.add(
        "setup-device-wrong-nonce",
        "SetupDevice carries another NonceTO2SetupDv than the device sent.",
        reference("§5.4 step 1"),
        Kind::To2Device,
        run.device_step_with(ks, MessageType::TO2_SETUP_DEVICE, &wrong_nonce.body)?,
        fail(invalid, "verify.nonce(NonceTO2SetupDv)"),
    );
    let pd_body = &run
        .device_msg(run.device_index(MessageType::TO2_PROVE_DEVICE)?)?
        .body;
    let mismatched = Mismatched {
        shown: &w.next_owner,
        signs: &w.stranger,
    };
    let bad_sig = run.setup_device_for(pd_body, &resale(), &mismatched)?;
    g.add(
        "setup-device-not-signed-by-owner2",
        "SetupDevice is not signed by the Owner2Key it carries.",
        peer(
            "§5.4 step 2; §6 pitfall 8",
            "go-fdo, fdo-rs (which skip this check)",
        ),
        Kind::To2Device,
        run.device_step_with(ks, MessageType::TO2_SETUP_DEVICE, &bad_sig.body)?,
        fail(invalid, "verify.signature(TO2.SetupDevice)"),
    );
    let reuse = Replacement {
        guid: GUID,
        rv_info: rv_info(),
    };
    let reuse_setup = run.setup_device_for(pd_body, &reuse, &w.owner)?;
    g.add("setup-device-reuse-refused", "The owner asks for credential reuse (same GUID, RendezvousInfo and owner key); this device refuses it.", reference("§5.4 step 3"), Kind::To2Device, run.device_step_with(ks, MessageType::TO2_SETUP_DEVICE, &reuse_setup.body)?, fail(ErrorCode::CRED_REUSE_ERROR, "invalid"));
    let mut i = run.device_step_with(ks, MessageType::TO2_SETUP_DEVICE, &reuse_setup.body)?;
    i.push(("allow_credential_reuse", json!(true)));
    g.add(
        "setup-device-reuse-accepted",
        "The same request to a device that allows reuse: it answers, its ReplacementHMac null.",
        reference("§5.4 step 3"),
        Kind::To2Device,
        i,
        ok(vec![("sends", json!(66))]),
    );
    let keep = run.setup_device_for(pd_body, &resale(), &w.owner)?;
    g.add("setup-device-owner-keeps-its-key", "SetupDevice signed with the current owner key, sent as Owner2Key, with a new GUID (go-fdo's way): not reuse, accepted.", peer("§6 pitfall 8", "go-fdo"), Kind::To2Device, run.device_step_with(ks, MessageType::TO2_SETUP_DEVICE, &keep.body)?, ok(vec![("sends", json!(66))]));

    // Done2 (§5.4 step 5).
    let kd = run.owner.len() - 1;
    let done2 = &run.owner_msg(kd)?.body;
    let n = done2.len();
    g.add(
        "done2-ciphertext-flipped",
        "One bit of Done2's ciphertext flipped: no new credential.",
        reference("§5.4 steps 5 and 6"),
        Kind::To2Device,
        run.device_step_with(kd, MessageType::TO2_DONE2, &flip(done2, n - 20, 0x01)?)?,
        fail(invalid, "verify.decrypt"),
    );
    let sealed = run
        .keys
        .seal(
            &Done2 {
                nonce: Nonce([0x99; 16]),
            }
            .to_cbor(),
            &mut SeededRng::new(b"vouch vectors Done2"),
        )
        .ctx("seal")?;
    g.add(
        "done2-wrong-nonce",
        "Done2 carries another NonceTO2SetupDv than the device sent: no new credential.",
        reference("§5.4 step 5"),
        Kind::To2Device,
        run.device_step_with(kd, MessageType::TO2_DONE2, &sealed)?,
        fail(invalid, "verify.nonce(NonceTO2SetupDv)"),
    );
    suite_mismatch(g, run)?;
    g.add(
        "done2-as-setup-device",
        "Done2's bytes sent as message type 65 at the end: refused.",
        reference("§2.4 (message order)"),
        Kind::To2Device,
        run.device_step_with(kd, MessageType::TO2_SETUP_DEVICE, done2)?,
        fail(body_error, "invalid"),
    );
    Ok(())
}

/// §5.2 step 10: a device configured for ECDH384 meets a P-256 owner whose ProveOVHdr and
/// entries are otherwise right; it refuses once the owner key is known.
fn suite_mismatch(g: &mut Group, run: &Run) -> R<()> {
    let w = &run.w;
    let config = DeviceConfig::ecdh384();
    let mut rng = SeededRng::new(DEVICE_SEED);
    let modules = DeviceModules::new(devmod_from(&devmod_json())?);
    let (hello, _) = To2Device::start(
        &C,
        &w.credential,
        &w.device_key,
        config.clone(),
        modules,
        None,
        &mut rng,
    )
    .ctx("start")?;
    let h = HelloDevice::from_cbor(&hello.body).ctx("HelloDevice")?;
    let p = run.prove_ovhdr()?;
    let mut payload = p.payload().clone();
    payload.nonce = h.nonce;
    payload.hello_device_hash = C.hash(HashAlg::SHA256, &[&hello.body]).ctx("hash")?;
    let owner_pub = w.owner.public_key(PkEnc::X509).ctx("key")?;
    let prove = ProveOvHdr::sign(payload, *p.prove_dv_nonce(), &owner_pub, &w.owner).ctx("sign")?;
    let pk = run.owner_index(MessageType::TO2_PROVE_OV_HDR)?;
    let mut i = run.device_inputs()?;
    for (name, v) in i.iter_mut() {
        match *name {
            "kex_suite" => *v = json!(config.kex_suite.as_str()),
            "cipher_suite" => *v = json!(config.cipher_suite.0),
            _ => {}
        }
    }
    i.push((
        "prior",
        json!([
            msg_json(MessageType::TO2_PROVE_OV_HDR, &prove.to_cbor()),
            msg_json(MessageType::TO2_OV_NEXT_ENTRY, &run.owner_msg(pk + 1)?.body)
        ]),
    ));
    i.push((
        "message",
        msg_json(MessageType::TO2_OV_NEXT_ENTRY, &run.owner_msg(pk + 2)?.body),
    ));
    g.add("kex-suite-wrong-for-owner-key", "A device that asked for ECDH384 learns that the owner key is P-256: it refuses before its key exchange.", reference("§5.2 step 10 (§4.1 pairings)"), Kind::To2Device, i, fail(ErrorCode::MESSAGE_BODY_ERROR, "unsupported"));
    Ok(())
}

/// The TO2 owner group.
pub fn owner_group() -> R<Group> {
    let mut g = Group::new(
        "to2-owner",
        "Steps of the TO2 owner state machine (FDO reference §5.1, §5.3, §5.5): every step of a \
         full run, then each check failing on a replaced device message. The prior state is \
         the owner's stored state (`state`, vouch's own CBOR).",
    );
    for (t, name) in [(PkType::SECP256R1, "p256"), (PkType::SECP384R1, "p384")] {
        let run = Run::new(t)?;
        let mut counts = std::collections::BTreeMap::<u8, usize>::new();
        for (k, msg) in run.device.iter().enumerate() {
            let n = counts.entry(msg.msg_type.0).or_default();
            let step = format!("{name}-{}-{}", step_name(msg.msg_type), n);
            *n += 1;
            let reply = run.owner_msg(k)?;
            let mut fields = vec![
                ("sends", json!(reply.msg_type.0)),
                ("sends_body", hx(&reply.body)),
            ];
            match run.states.get(k + 1) {
                Some(Some(next)) => fields.push(("next_state", hx(next))),
                _ => fields.push(("replacement_voucher", hx(&run.replacement_voucher))),
            }
            g.add(
                &step,
                &format!(
                    "Step {k} of a full run: the owner accepts {} and answers as recorded.",
                    msg.msg_type.name().unwrap_or("the message")
                ),
                reference("§5.1, §5.3, §5.5"),
                Kind::To2Owner,
                run.owner_step_inputs(k, msg.msg_type, &msg.body)?,
                ok(fields),
            );
        }
        if t == PkType::SECP256R1 {
            owner_negatives(&mut g, &run)?;
        }
    }
    Ok(g)
}

fn owner_negatives(g: &mut Group, run: &Run) -> R<()> {
    let w = &run.w;
    let invalid = ErrorCode::INVALID_MESSAGE_ERROR;
    let body_error = ErrorCode::MESSAGE_BODY_ERROR;
    let hello = HelloDevice::from_cbor(&run.device_msg(0)?.body).ctx("HelloDevice")?;
    let at_hello =
        |h: &HelloDevice| run.owner_step_inputs(0, MessageType::TO2_HELLO_DEVICE, &h.to_cbor());
    let mut h = hello.clone();
    h.guid = Guid([0x77; 16]);
    g.add(
        "hello-device-unknown-guid",
        "HelloDevice for a GUID the owner has no voucher for.",
        reference("§5.1 step 1"),
        Kind::To2Owner,
        at_hello(&h)?,
        fail(ErrorCode::RESOURCE_NOT_FOUND, "invalid"),
    );
    let mut i =
        run.owner_step_inputs(0, MessageType::TO2_HELLO_DEVICE, &run.device_msg(0)?.body)?;
    for (name, v) in i.iter_mut() {
        if *name == "voucher" {
            *v = hex_input(&w.voucher0.to_cbor());
        } else if *name == "owner_key" {
            *v = hex_input(&pkcs8(&w.mfg)?);
        }
    }
    g.add(
        "hello-device-voucher-without-entries",
        "HelloDevice for a device whose voucher has no entries.",
        reference("§5.1 step 1"),
        Kind::To2Owner,
        i,
        fail(ErrorCode::RESOURCE_NOT_FOUND, "verify.no-entries"),
    );
    let mut h = hello.clone();
    h.kex_suite = vouch_protocol::crypto::KexSuite::DHKEXID14;
    g.add(
        "hello-device-kex-not-implemented",
        "HelloDevice asks for DHKEXid14, which this owner does not implement.",
        reference("§5.1 step 2"),
        Kind::To2Owner,
        at_hello(&h)?,
        fail(body_error, "unsupported"),
    );
    let mut h = hello.clone();
    h.kex_suite = vouch_protocol::crypto::KexSuite::ECDH384;
    g.add(
        "hello-device-kex-wrong-for-owner-key",
        "HelloDevice asks for ECDH384 from a P-256 owner.",
        reference("§5.1 step 2 (§4.1 pairings)"),
        Kind::To2Owner,
        at_hello(&h)?,
        fail(body_error, "unsupported"),
    );
    let mut h = hello.clone();
    h.cipher_suite = vouch_protocol::crypto::CipherSuite::AES_CCM_16_128_128;
    g.add(
        "hello-device-cipher-not-implemented",
        "HelloDevice asks for AES-CCM-16-128-128.",
        reference("§5.1 step 2 (§4.2)"),
        Kind::To2Owner,
        at_hello(&h)?,
        fail(body_error, "unsupported"),
    );
    let mut h = hello.clone();
    h.sig_info = SigInfo::new(SgType::RS256);
    g.add(
        "hello-device-sgtype-mismatch",
        "HelloDevice's eASigInfo says RS256 for a P-256 device and manufacturer.",
        reference("§5.1 step 3"),
        Kind::To2Owner,
        at_hello(&h)?,
        fail(body_error, "invalid"),
    );
    let mut h = hello.clone();
    h.max_message_size = 17;
    h.sig_info = SigInfo::new(SgType::ES384);
    g.add("hello-device-fdo-rs-style", "HelloDevice as an fdo-rs device sends it: maxDeviceMessageSize 17 and ES384 for its P-256 key; accepted.", peer("§5.1 step 3; §6 pitfall 6", "fdo-rs"), Kind::To2Owner, at_hello(&h)?, ok(vec![("sends", json!(61))]));
    let mut long = run.device_msg(0)?.body.clone();
    long.push(0);
    g.add(
        "hello-device-trailing-byte",
        "HelloDevice followed by one more byte.",
        reference("§2 (one CBOR item)"),
        Kind::To2Owner,
        run.owner_step_inputs(0, MessageType::TO2_HELLO_DEVICE, &long)?,
        fail(body_error, "decode"),
    );
    let kg = run.device_index(MessageType::TO2_GET_OV_NEXT_ENTRY)?;
    g.add(
        "get-ov-next-entry-out-of-range",
        "GetOVNextEntry asks for entry 5 of a two-entry voucher.",
        reference("§1 (101: index out of range)"),
        Kind::To2Owner,
        run.owner_step_inputs(
            kg,
            MessageType::TO2_GET_OV_NEXT_ENTRY,
            &GetOvNextEntry { entry_num: 5 }.to_cbor(),
        )?,
        fail(invalid, "invalid"),
    );

    // ProveDevice (§5.3).
    let (kp, pd) = run.prove_device()?;
    let nonce = *pd.prove_dv_nonce();
    let setup = *pd.setup_dv_nonce();
    let xb = pd.xb().to_vec();
    let at_pd = |body: &[u8]| run.owner_step_inputs(kp, MessageType::TO2_PROVE_DEVICE, body);
    let body = &run.device_msg(kp)?.body;
    let sig_at = super::find(body, pd.eat().sign1().signature())?;
    g.add(
        "prove-device-signature-flipped",
        "One bit of ProveDevice's signature flipped.",
        reference("§5.3 step 1"),
        Kind::To2Owner,
        at_pd(&flip(body, sig_at + 2, 0x01)?)?,
        fail(invalid, "verify.signature(TO2.ProveDevice)"),
    );
    let by_stranger =
        ProveDevice::sign(nonce, &GUID, xb.clone(), setup, &w.stranger).ctx("sign")?;
    g.add(
        "prove-device-other-device-key",
        "ProveDevice signed by a key that is not the leaf of the voucher's device chain.",
        reference("§5.3 step 1"),
        Kind::To2Owner,
        at_pd(&by_stranger.to_cbor())?,
        fail(invalid, "verify.signature(TO2.ProveDevice)"),
    );
    let wrong = ProveDevice::sign(Nonce([0x00; 16]), &GUID, xb.clone(), setup, &w.device_key)
        .ctx("sign")?;
    g.add(
        "prove-device-wrong-nonce",
        "ProveDevice's EAT-NONCE is not NonceTO2ProveDv.",
        reference("§5.3 step 2"),
        Kind::To2Owner,
        at_pd(&wrong.to_cbor())?,
        fail(invalid, "verify.nonce(NonceTO2ProveDv)"),
    );
    let other = ProveDevice::sign(nonce, &Guid([0x77; 16]), xb.clone(), setup, &w.device_key)
        .ctx("sign")?;
    g.add(
        "prove-device-other-guid",
        "ProveDevice's UEID names another GUID.",
        reference("§5.3 step 3"),
        Kind::To2Owner,
        at_pd(&other.to_cbor())?,
        fail(invalid, "verify.ueid"),
    );
    let no_fdo = Eat::sign(
        EatClaims::new(nonce, &GUID),
        &EatHeaders {
            nonce: Some(setup),
            maroe_prefix: None,
        },
        &w.device_key,
    )
    .ctx("EAT")?;
    g.add(
        "prove-device-no-eat-fdo",
        "ProveDevice without the EAT-FDO claim (xB).",
        reference("§5.3 step 4"),
        Kind::To2Owner,
        at_pd(&no_fdo.to_cbor())?,
        fail(body_error, "invalid"),
    );
    let mut x = vouch_protocol::cbor::Encoder::new();
    x.array(1).bytes(&xb);
    let no_setup = Eat::sign(
        EatClaims::new(nonce, &GUID).with_fdo(&vouch_protocol::cbor::AnyItem::from(
            vouch_protocol::cbor::value_from_slice(&x.into_bytes()).ctx("xB")?,
        )),
        &EatHeaders::default(),
        &w.device_key,
    )
    .ctx("EAT")?;
    g.add(
        "prove-device-no-setup-nonce",
        "ProveDevice without EUPHNonce (−259) in its unprotected header.",
        reference("§5.3 step 5"),
        Kind::To2Owner,
        at_pd(&no_setup.to_cbor())?,
        fail(body_error, "invalid"),
    );
    let short = ProveDevice::sign(
        nonce,
        &GUID,
        xb.get(..xb.len() - 1).ctx("cut")?.to_vec(),
        setup,
        &w.device_key,
    )
    .ctx("sign")?;
    g.add(
        "prove-device-xb-truncated",
        "ProveDevice's xB is one byte short.",
        reference("§5.3 step 6"),
        Kind::To2Owner,
        at_pd(&short.to_cbor())?,
        fail(body_error, "invalid"),
    );

    // §5.1 step 4: the owner signs with the last entry's key, and no other.
    let mut i =
        run.owner_step_inputs(0, MessageType::TO2_HELLO_DEVICE, &run.device_msg(0)?.body)?;
    for (name, v) in i.iter_mut() {
        if *name == "owner_key" {
            *v = hex_input(&pkcs8(&w.reseller)?);
        }
    }
    g.add("hello-device-signer-not-the-owner", "The owner is given the previous owner's key to sign with: its own fault, reported as an internal error.", reference("§5.1 step 4"), Kind::To2Owner, i, fail(ErrorCode::INTERNAL_SERVER_ERROR, "misuse"));
    let kd = run.device_index(MessageType::TO2_DONE)?;
    let sealed = run
        .keys
        .seal(
            &Done {
                nonce: Nonce([0x99; 16]),
            }
            .to_cbor(),
            &mut SeededRng::new(b"vouch vectors Done"),
        )
        .ctx("seal")?;
    g.add(
        "done-wrong-nonce",
        "Done carries another NonceTO2ProveDv than the owner sent.",
        reference("§5.5 step 1"),
        Kind::To2Owner,
        run.owner_step_inputs(kd, MessageType::TO2_DONE, &sealed)?,
        fail(invalid, "verify.nonce(NonceTO2ProveDv)"),
    );

    // Encrypted requests (§5.5).
    for t in [
        MessageType::TO2_DEVICE_SERVICE_INFO_READY,
        MessageType::TO2_DONE,
    ] {
        let k = run.device_index(t)?;
        let b = &run.device_msg(k)?.body;
        g.add(
            &format!("{}-ciphertext-flipped", step_name(t)),
            &format!(
                "One bit of {}'s ciphertext flipped.",
                t.name().unwrap_or("the message")
            ),
            reference("§2.4 (65 to 71 encrypted), §5.5 step 1"),
            Kind::To2Owner,
            run.owner_step_inputs(k, t, &flip(b, b.len() - 20, 0x01)?)?,
            fail(invalid, "verify.decrypt"),
        );
    }
    Ok(())
}
