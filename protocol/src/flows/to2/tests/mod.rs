//! TO2 between a device and an owner, in memory and deterministic: every owner state is
//! encoded and decoded between requests as the relying party's database would, and a hook
//! on the wire lets a test replace any message to make one check fail.

mod checks;
mod interop;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::cbor::{Cbor, Decoder, Encoder};
use crate::credential::DeviceCredential;
use crate::crypto::aead::SessionKeys;
use crate::crypto::test::SeededRng;
use crate::crypto::{CryptoProvider, RustCrypto, Signer, SigningKey};
use crate::flows::to1::UnverifiedTo1d;
use crate::flows::{FlowError, Outgoing};
use crate::messages::MessageType;
use crate::serviceinfo::{
    DeviceModule, DeviceModules, Devmod, ModuleMessage, OwnerModule, OwnerModules, SerialNumber,
};
use crate::types::{
    Guid, HashAlg, PkEnc, PkType, ProtocolVersion, RendezvousInfo, RvDirective, RvInstruction,
    RvVariable,
};
use crate::voucher::{OvHeader, OwnershipVoucher};
use crate::{Error, ErrorCode};

const C: RustCrypto = RustCrypto;
const SECRET: &[u8] = b"TO2 test device HMAC secret 32 B";
const DEVICE_INFO: &str = "vouch TO2 test device";
const GUID: Guid = Guid([0x42; 16]);

// ---------------------------------------------------------------------------------------------
// Certificates and vouchers made here

/// One DER TLV (definite length, up to 64 KiB).
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let n = content.len();
    let mut out = vec![tag];
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend_from_slice(&[0x81, n as u8]);
    } else {
        out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
    out
}

/// A minimal X.509 v3 certificate for `key`, with empty names and a placeholder signature:
/// TO2 reads only the leaf's key.
fn certificate(key: &SigningKey, serial: u8) -> Vec<u8> {
    let spki = key.verifying_key().to_spki_der().unwrap();
    // AlgorithmIdentifier { ecdsa-with-SHA256 (1.2.840.10045.4.3.2) }
    let alg = der(
        0x30,
        &der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
    );
    let name = der(0x30, &[]);
    let validity = der(
        0x30,
        &[der(0x17, b"250101000000Z"), der(0x17, b"350101000000Z")].concat(),
    );
    let tbs = der(
        0x30,
        &[
            der(0xa0, &der(0x02, &[2])), // [0] version v3
            der(0x02, &[serial]),        // serialNumber
            alg.clone(),                 // signature
            name.clone(),                // issuer
            validity,                    // validity
            name,                        // subject
            spki,                        // subjectPublicKeyInfo
        ]
        .concat(),
    );
    der(0x30, &[tbs, alg, der(0x03, &[0x00])].concat())
}

fn rv_info() -> RendezvousInfo {
    RendezvousInfo(vec![RvDirective(vec![
        RvInstruction::dns("rv.example"),
        RvInstruction::uint(RvVariable::DEV_PORT, 8041),
        RvInstruction::uint(RvVariable::PROTOCOL, 1),
    ])])
}

fn new_rv_info() -> RendezvousInfo {
    RendezvousInfo(vec![RvDirective(vec![
        RvInstruction::dns("rv.new-owner.example"),
        RvInstruction::uint(RvVariable::DEV_PORT, 443),
        RvInstruction::uint(RvVariable::PROTOCOL, 2),
    ])])
}

/// A device, its credential, and a voucher made by its manufacturer and extended twice: to a
/// reseller, then to the owner.
struct World {
    device_key: SigningKey,
    owner: SigningKey,
    /// The owner's next key (resale).
    next_owner: SigningKey,
    /// A key nobody in the voucher has.
    stranger: SigningKey,
    credential: DeviceCredential,
    voucher: OwnershipVoucher,
}

fn world(pk_type: PkType) -> World {
    let mut rng = SeededRng::new(alloc::format!("TO2 world {pk_type}").as_bytes());
    let mut key = || SigningKey::generate(pk_type, &mut rng).unwrap();
    let (mfg, device_key, ca, reseller, owner, next_owner, stranger) =
        (key(), key(), key(), key(), key(), key(), key());
    let chain = vec![certificate(&device_key, 1), certificate(&ca, 2)];
    let alg = if pk_type == PkType::SECP256R1 {
        HashAlg::SHA256
    } else {
        HashAlg::SHA384
    };
    let header = OvHeader::new(
        &C,
        GUID,
        rv_info(),
        DEVICE_INFO,
        mfg.public_key(PkEnc::X509).unwrap(),
        Some(&chain),
        alg,
    )
    .unwrap();
    let hmac = C
        .hmac(alg.hmac_counterpart().unwrap(), SECRET, &header.to_cbor())
        .unwrap();
    let voucher = OwnershipVoucher::new(&C, header, hmac, Some(chain))
        .unwrap()
        .extend(&C, &mfg, reseller.public_key(PkEnc::X509).unwrap())
        .unwrap()
        .extend(&C, &reseller, owner.public_key(PkEnc::X509).unwrap())
        .unwrap();
    let credential = DeviceCredential {
        active: true,
        protocol_version: ProtocolVersion::V101,
        hmac_secret: Some(zeroize::Zeroizing::new(SECRET.to_vec())),
        device_info: DEVICE_INFO.into(),
        guid: GUID,
        rv_info: rv_info(),
        pub_key_hash: C
            .hash(alg, &[voucher.header().manufacturer_key.bytes()])
            .unwrap(),
        device_key: Some(device_key.to_pkcs8_der().unwrap()),
    };
    World {
        device_key,
        owner,
        next_owner,
        stranger,
        credential,
        voucher,
    }
}

fn config_for(pk_type: PkType) -> DeviceConfig {
    if pk_type == PkType::SECP256R1 {
        DeviceConfig::ecdh256()
    } else {
        DeviceConfig::ecdh384()
    }
}

// ---------------------------------------------------------------------------------------------
// ServiceInfo modules

fn devmod() -> Devmod {
    Devmod {
        active: true,
        os: "Linux".into(),
        arch: "aarch64".into(),
        version: "6.6".into(),
        device: "vouch board".into(),
        sn: Some(SerialNumber::Text("VB-0042".into())),
        sep: "/".into(),
        bin: "aarch64".into(),
        mudurl: Some("https://mud.example/vouch-board.json".into()),
        ..Devmod::default()
    }
}

const FIRMWARE_LEN: usize = 3000;

/// Owner side of "vouch.firmware": sends a value larger than any message, then waits for the
/// device to report the length it received. Its progress is saved between requests.
#[derive(Default)]
struct OwnerFirmware {
    sent: bool,
    acked: Option<u64>,
}

impl OwnerModule for OwnerFirmware {
    fn name(&self) -> &str {
        "vouch.firmware"
    }
    fn receive(&mut self, message: &str, value: &[u8]) -> Result<(), Error> {
        if message == "received" {
            self.acked = Some(Decoder::new(value).uint("length")?);
        }
        Ok(())
    }
    fn produce(&mut self) -> Result<Vec<ModuleMessage>, Error> {
        if self.sent {
            return Ok(Vec::new());
        }
        self.sent = true;
        let mut e = Encoder::new();
        e.bytes(&vec![0xf1; FIRMWARE_LEN]);
        Ok(vec![
            ModuleMessage::new("active", &true),
            ModuleMessage::encoded("image", e.into_bytes()),
        ])
    }
    fn is_done(&self) -> bool {
        self.acked.is_some()
    }
    fn save(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.array(2).bool(self.sent);
        match self.acked {
            Some(n) => e.uint(n),
            None => e.null(),
        };
        e.into_bytes()
    }
    fn restore(&mut self, saved: &[u8]) -> Result<(), Error> {
        let mut d = Decoder::new(saved);
        d.array_of(2, "firmware state")?;
        self.sent = d.bool("sent")?;
        self.acked = if d.try_null() {
            None
        } else {
            Some(d.uint("acked")?)
        };
        Ok(())
    }
}

/// Owner side of a module the device does not have: it stops when the device answers
/// `active = false`.
#[derive(Default)]
struct OwnerProbe {
    sent: bool,
}

impl OwnerModule for OwnerProbe {
    fn name(&self) -> &str {
        "fdo.wget"
    }
    fn begin(&mut self, _: &Devmod) -> Result<bool, Error> {
        Ok(true)
    }
    fn receive(&mut self, _: &str, _: &[u8]) -> Result<(), Error> {
        Ok(())
    }
    fn produce(&mut self) -> Result<Vec<ModuleMessage>, Error> {
        let first = !self.sent;
        self.sent = true;
        Ok(if first {
            vec![ModuleMessage::new("active", &true)]
        } else {
            Vec::new()
        })
    }
    fn is_done(&self) -> bool {
        false
    }
    fn save(&self) -> Vec<u8> {
        self.sent.to_cbor()
    }
    fn restore(&mut self, saved: &[u8]) -> Result<(), Error> {
        self.sent = bool::from_cbor(saved)?;
        Ok(())
    }
}

/// Device side of "vouch.firmware": reports the length of the image it received.
struct DeviceFirmware;

impl DeviceModule for DeviceFirmware {
    fn name(&self) -> &str {
        "vouch.firmware"
    }
    fn receive(&mut self, message: &str, value: &[u8]) -> Result<Vec<ModuleMessage>, Error> {
        if message != "image" {
            return Ok(Vec::new());
        }
        let mut d = Decoder::new(value);
        let len = d.bytes("image")?.len();
        d.finish("end of image")?;
        let mut e = Encoder::new();
        e.uint(len as u64);
        Ok(vec![ModuleMessage::encoded("received", e.into_bytes())])
    }
}

/// A device module the owner does not know, which speaks first.
struct DeviceTelemetry {
    sent: bool,
}

impl DeviceModule for DeviceTelemetry {
    fn name(&self) -> &str {
        "acme.telemetry"
    }
    fn receive(&mut self, _: &str, _: &[u8]) -> Result<Vec<ModuleMessage>, Error> {
        Ok(Vec::new())
    }
    fn produce(&mut self) -> Result<Vec<ModuleMessage>, Error> {
        let first = !self.sent;
        self.sent = true;
        Ok(if first {
            vec![ModuleMessage::new("boot", &String::from("ok"))]
        } else {
            Vec::new()
        })
    }
}

fn device_modules() -> DeviceModules {
    DeviceModules::new(devmod())
        .with(Box::new(DeviceFirmware))
        .with(Box::new(DeviceTelemetry { sent: false }))
}

fn owner_modules() -> OwnerModules {
    OwnerModules::new()
        .with(Box::new(OwnerFirmware::default()))
        .with(Box::new(OwnerProbe::default()))
}

// ---------------------------------------------------------------------------------------------
// The wire

/// One message in flight, which a test may replace.
struct Wire<'a> {
    msg_type: MessageType,
    body: &'a mut Vec<u8>,
    /// The session key, once the owner has it (the same on both sides).
    keys: Option<&'a SessionKeys>,
}

/// Which side refused, and why.
#[derive(Debug)]
enum Failure {
    Device(FlowError),
    Owner(FlowError),
}

impl Failure {
    /// Asserts that `side` refused message `prev` with `code` and `error`.
    #[track_caller]
    fn assert(self, device_side: bool, prev: MessageType, code: ErrorCode, error: Error) {
        let e = match (self, device_side) {
            (Failure::Device(e), true) | (Failure::Owner(e), false) => e,
            (other, _) => panic!("the other side failed: {other:?}"),
        };
        assert_eq!(e.prev, prev, "{e}");
        assert_eq!(e.code(), code, "{e}");
        assert_eq!(e.to_message().code, code);
        assert_eq!(e.error, error, "{e}");
    }

    #[track_caller]
    fn assert_code(self, device_side: bool, prev: MessageType, code: ErrorCode) -> FlowError {
        let e = match (self, device_side) {
            (Failure::Device(e), true) | (Failure::Owner(e), false) => e,
            (other, _) => panic!("the other side failed: {other:?}"),
        };
        assert_eq!(e.prev, prev, "{e}");
        assert_eq!(e.code(), code, "{e}");
        e
    }
}

/// One TO2 run's parameters.
struct Run<'w> {
    w: &'w World,
    device: DeviceConfig,
    owner_config: OwnerConfig,
    replacement: Replacement,
    owner2: &'w SigningKey,
    to1d: Option<UnverifiedTo1d>,
    /// The device's credential, if not the world's.
    credential: Option<&'w DeviceCredential>,
    /// The voucher the owner holds, if not the world's.
    voucher: Option<&'w OwnershipVoucher>,
    /// The owner's current key, if not the world's.
    owner: Option<&'w SigningKey>,
    device_key: Option<&'w SigningKey>,
}

impl<'w> Run<'w> {
    /// A resale: new GUID and RendezvousInfo, and the owner's next key as Owner2Key.
    fn resale(w: &'w World, pk_type: PkType) -> Self {
        Self {
            w,
            device: config_for(pk_type),
            owner_config: OwnerConfig::default(),
            replacement: Replacement {
                guid: Guid([0x43; 16]),
                rv_info: new_rv_info(),
            },
            owner2: &w.next_owner,
            to1d: None,
            credential: None,
            voucher: None,
            owner: None,
            device_key: None,
        }
    }
}

struct Finished {
    device: DeviceOutcome,
    owner: OwnerOutcome,
    /// Every message type sent, in order.
    trace: Vec<MessageType>,
}

/// Runs TO2 to the end, handing every message to `tamper` on its way.
fn run(r: &Run<'_>, tamper: &mut dyn FnMut(&mut Wire<'_>)) -> Result<Finished, Failure> {
    let credential = r.credential.unwrap_or(&r.w.credential);
    let device_key = r.device_key.unwrap_or(&r.w.device_key);
    let mut device_rng = SeededRng::new(b"TO2 device");
    let mut owner_rng = SeededRng::new(b"TO2 owner");
    let (mut to_owner, mut device) = To2Device::start(
        &C,
        credential,
        device_key,
        r.device.clone(),
        device_modules(),
        r.to1d.clone(),
        &mut device_rng,
    )
    .unwrap();
    let mut stored: Option<Vec<u8>> = None;
    let mut keys: Option<SessionKeys> = None;
    let mut owner_outcome = None;
    let mut trace = Vec::new();
    loop {
        tamper(&mut Wire {
            msg_type: to_owner.msg_type,
            body: &mut to_owner.body,
            keys: keys.as_ref(),
        });
        trace.push(to_owner.msg_type);
        let mut reply = owner_step(
            r,
            &mut stored,
            &to_owner,
            &mut owner_rng,
            &mut owner_outcome,
        )
        .map_err(Failure::Owner)?;
        if let Some(bytes) = &stored {
            keys = OwnerState::from_cbor(bytes).unwrap().session_keys();
        }
        tamper(&mut Wire {
            msg_type: reply.msg_type,
            body: &mut reply.body,
            keys: keys.as_ref(),
        });
        trace.push(reply.msg_type);
        match device
            .receive(reply.msg_type, &reply.body, &mut device_rng)
            .map_err(Failure::Device)?
        {
            DeviceStep::Send(out, next) => {
                to_owner = out;
                device = next;
            }
            DeviceStep::Finished(outcome) => {
                return Ok(Finished {
                    device: *outcome,
                    owner: owner_outcome.expect("the owner finished before Done2"),
                    trace,
                });
            }
        }
    }
}

/// The relying party's handling of one request: the state comes from and goes back to the
/// "database" (`stored`) as bytes.
fn owner_step(
    r: &Run<'_>,
    stored: &mut Option<Vec<u8>>,
    msg: &Outgoing,
    rng: &mut SeededRng,
    outcome: &mut Option<OwnerOutcome>,
) -> Result<Outgoing, FlowError> {
    let (t, b) = (msg.msg_type, msg.body.as_slice());
    let owner = r.owner.unwrap_or(&r.w.owner);
    let Some(bytes) = stored.take() else {
        let guid = hello_device_guid(t, b)?;
        let voucher = r.voucher.unwrap_or(&r.w.voucher);
        let found =
            (voucher.guid() == guid).then(|| voucher.clone().verify(&C, None, None).unwrap());
        let (out, state) = hello_device(&C, &r.owner_config, t, b, found, owner, rng)?;
        *stored = Some(OwnerState::from(state).to_cbor());
        return Ok(out);
    };
    let state = OwnerState::from_cbor(&bytes).unwrap();
    // The state re-encodes to the very bytes stored.
    assert_eq!(state.to_cbor(), bytes);
    let (out, next): (Outgoing, Option<OwnerState>) = match state {
        OwnerState::ProveDevice(s) if t == MessageType::TO2_GET_OV_NEXT_ENTRY => {
            let (out, s) = s.get_ov_next_entry(t, b)?;
            (out, Some(s.into()))
        }
        OwnerState::ProveDevice(s) => {
            let (out, s) = s.prove_device(&C, t, b, &r.replacement, r.owner2, rng)?;
            (out, Some(s.into()))
        }
        OwnerState::ServiceInfoReady(s) => {
            let (out, s) = s.device_service_info_ready(t, b, rng)?;
            (out, Some(s.into()))
        }
        OwnerState::ServiceInfo(s) if t == MessageType::TO2_DONE => {
            let (out, o) = s.done(&C, t, b, rng)?;
            *outcome = Some(o);
            (out, None)
        }
        OwnerState::ServiceInfo(s) => {
            let mut modules = owner_modules();
            let (out, s) = s.device_service_info(t, b, &mut modules, rng)?;
            (out, Some(s.into()))
        }
    };
    *stored = next.map(|s| s.to_cbor());
    Ok(out)
}

fn no_tamper(_: &mut Wire<'_>) {}

// ---------------------------------------------------------------------------------------------
// Full runs

/// A full resale: the device takes GUID', RVInfo' and Owner2Key; the replacement voucher
/// verifies with the device's new credential, can be extended to a next owner, and carries
/// that device through a second TO2.
fn resale(pk_type: PkType) {
    let w = world(pk_type);
    let r = Run::resale(&w, pk_type);
    let done = run(&r, &mut no_tamper).unwrap();

    // Message order: hello, two entries, prove device, setup, ServiceInfo rounds, done.
    use MessageType as M;
    assert_eq!(
        done.trace[..10],
        [
            M::TO2_HELLO_DEVICE,
            M::TO2_PROVE_OV_HDR,
            M::TO2_GET_OV_NEXT_ENTRY,
            M::TO2_OV_NEXT_ENTRY,
            M::TO2_GET_OV_NEXT_ENTRY,
            M::TO2_OV_NEXT_ENTRY,
            M::TO2_PROVE_DEVICE,
            M::TO2_SETUP_DEVICE,
            M::TO2_DEVICE_SERVICE_INFO_READY,
            M::TO2_OWNER_SERVICE_INFO_READY,
        ]
    );
    assert_eq!(
        done.trace[done.trace.len() - 2..],
        [M::TO2_DONE, M::TO2_DONE2]
    );

    // The device's new credential.
    let cred = &done.device.credential;
    assert!(!done.device.reused);
    assert_eq!(cred.guid, Guid([0x43; 16]));
    assert_eq!(cred.rv_info, new_rv_info());
    let owner2 = w.next_owner.public_key(PkEnc::X509).unwrap();
    assert_eq!(
        cred.pub_key_hash,
        C.hash(w.credential.pub_key_hash.alg(), &[&owner2.to_cbor()])
            .unwrap()
    );
    assert_eq!(cred.hmac_secret(), w.credential.hmac_secret());
    assert_eq!(cred.device_info, w.credential.device_info);

    // The owner's replacement voucher: no entries, Owner2Key as OVPubKey, HMAC by the device.
    let replacement = done.owner.replacement_voucher.clone().unwrap();
    assert_eq!(done.owner.guid, GUID);
    assert!(replacement.entries().is_empty());
    assert_eq!(replacement.header().manufacturer_key.value(), &owner2);
    assert_eq!(replacement.cert_chain(), w.voucher.cert_chain());
    let verified = OwnershipVoucher::from_cbor(&replacement.to_cbor())
        .unwrap()
        .verify(&C, None, Some(cred))
        .unwrap();
    assert!(verified.hmac_checked());
    // The device's devmod reached the owner.
    let dm = done.owner.devmod.as_ref().unwrap();
    assert_eq!(dm.device, "vouch board");
    assert_eq!(dm.modules, ["devmod", "vouch.firmware", "acme.telemetry"]);

    // Extended to a next owner, the voucher takes the device through TO2 again.
    let third = SigningKey::generate(pk_type, &mut SeededRng::new(b"third owner")).unwrap();
    let extended = replacement
        .extend(&C, &w.next_owner, third.public_key(PkEnc::X509).unwrap())
        .unwrap();
    extended.clone().verify(&C, Some(SECRET), None).unwrap();
    let mut again = Run::resale(&w, pk_type);
    again.credential = Some(cred);
    again.voucher = Some(&extended);
    again.owner = Some(&third);
    again.owner2 = &third;
    again.replacement = Replacement {
        guid: Guid([0x44; 16]),
        rv_info: rv_info(),
    };
    let second = run(&again, &mut no_tamper).unwrap();
    assert_eq!(second.device.credential.guid, Guid([0x44; 16]));
    second
        .owner
        .replacement_voucher
        .unwrap()
        .verify(&C, None, Some(&second.device.credential))
        .unwrap();
}

#[test]
fn p256_ecdh256_a128gcm_resale() {
    resale(PkType::SECP256R1);
}

#[test]
fn p384_ecdh384_a256gcm_resale() {
    resale(PkType::SECP384R1);
}

#[test]
fn same_seeds_same_bytes() {
    let w = world(PkType::SECP256R1);
    let r = Run::resale(&w, PkType::SECP256R1);
    let mut first = Vec::new();
    run(&r, &mut |m| first.push(m.body.clone())).unwrap();
    let mut second = Vec::new();
    run(&r, &mut |m| second.push(m.body.clone())).unwrap();
    assert_eq!(first, second);
}

#[test]
fn owner_keeps_its_key_with_a_new_guid() {
    // Owner2Key is the current owner key (go-fdo's way), but the GUID changes: not reuse.
    let w = world(PkType::SECP384R1);
    let mut r = Run::resale(&w, PkType::SECP384R1);
    r.owner2 = &w.owner;
    let done = run(&r, &mut no_tamper).unwrap();
    assert!(!done.device.reused);
    let v = done.owner.replacement_voucher.unwrap();
    v.verify(&C, None, Some(&done.device.credential)).unwrap();
}

#[test]
fn credential_reuse_accepted() {
    let w = world(PkType::SECP256R1);
    let mut r = Run::resale(&w, PkType::SECP256R1);
    r.device.allow_credential_reuse = true;
    r.owner2 = &w.owner;
    r.replacement = Replacement {
        guid: GUID,
        rv_info: rv_info(),
    };
    let done = run(&r, &mut no_tamper).unwrap();
    assert!(done.device.reused);
    assert_eq!(done.device.credential, w.credential);
    assert!(done.owner.replacement_voucher.is_none());
}

#[test]
fn credential_reuse_refused_with_102() {
    let w = world(PkType::SECP256R1);
    let mut r = Run::resale(&w, PkType::SECP256R1);
    r.owner2 = &w.owner;
    r.replacement = Replacement {
        guid: GUID,
        rv_info: rv_info(),
    };
    let err = run(&r, &mut no_tamper).err().unwrap();
    err.assert_code(
        true,
        MessageType::TO2_SETUP_DEVICE,
        ErrorCode::CRED_REUSE_ERROR,
    );
}

#[test]
fn service_info_split_over_messages_and_unknown_modules() {
    let w = world(PkType::SECP256R1);
    let mut r = Run::resale(&w, PkType::SECP256R1);
    // Small ServiceInfo messages both ways.
    r.device.max_owner_service_info_size = Some(700);
    r.owner_config.max_device_service_info_size = Some(500);
    let mut sizes = Vec::new();
    let mut image_pieces = 0;
    let done = run(&r, &mut |m| {
        let Some(keys) = m.keys else { return };
        let plain = keys.open(m.body).unwrap();
        if m.msg_type == MessageType::TO2_OWNER_SERVICE_INFO {
            sizes.push((m.msg_type, plain.len()));
            let msg = crate::messages::to2::OwnerServiceInfo::from_cbor(&plain).unwrap();
            image_pieces += msg
                .service_info
                .0
                .iter()
                .filter(|kv| kv.key == "vouch.firmware:image")
                .count();
        }
        if m.msg_type == MessageType::TO2_DEVICE_SERVICE_INFO {
            sizes.push((m.msg_type, plain.len()));
        }
    })
    .unwrap();
    // The 3000-byte image went over several messages, each within the device's limit, and
    // the device module saw it whole (it reported the full length).
    assert!(image_pieces >= 5, "{image_pieces}");
    for (t, n) in &sizes {
        let limit = if *t == MessageType::TO2_OWNER_SERVICE_INFO {
            700
        } else {
            500
        };
        assert!(*n <= limit - 5, "{t}: {n} bytes");
    }
    // The owner ignored the device's telemetry module; the device answered the owner's
    // fdo.wget with active = false, which ended it (else the exchange would not be done).
    let dm = done.owner.devmod.unwrap();
    assert!(dm.has_module("acme.telemetry"));
    assert!(!dm.has_module("fdo.wget"));
}

#[test]
fn device_comes_through_to1() {
    use crate::messages::to0::{RvTo2Addr, To1d, To1dPayload};
    use crate::types::TransportProtocol;
    let w = world(PkType::SECP256R1);
    let payload = To1dPayload {
        addresses: vec![RvTo2Addr {
            ip: None,
            dns: Some("owner.example".into()),
            port: 8043,
            protocol: TransportProtocol::HTTP,
        }],
        to0d_hash: C.hash(HashAlg::SHA256, &[b"to0d"]).unwrap(),
    };
    let blob = |signer: &SigningKey| {
        UnverifiedTo1d::from_cbor(&To1d::sign(payload.clone(), signer).unwrap().to_cbor()).unwrap()
    };
    let mut r = Run::resale(&w, PkType::SECP256R1);
    r.to1d = Some(blob(&w.owner));
    run(&r, &mut no_tamper).unwrap();
    // A blob signed by anyone but the owner: assume a man in the middle.
    r.to1d = Some(blob(&w.stranger));
    run(&r, &mut no_tamper).err().unwrap().assert(
        true,
        MessageType::TO2_OV_NEXT_ENTRY,
        ErrorCode::INVALID_MESSAGE_ERROR,
        Error::Verify(crate::error::VerifyError::Signature("to1d")),
    );
}
