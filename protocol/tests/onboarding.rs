//! A whole onboarding through the public API of `vouch-protocol` only, in memory and
//! deterministic (seeded random sources, a fixed clock):
//!
//! 1. DI: the device and its manufacturer make the credential and the voucher;
//! 2. the manufacturer extends the voucher to the owner's key;
//! 3. TO0: the owner registers with the rendezvous server;
//! 4. TO1: the device finds its owner through the rendezvous server;
//! 5. TO2: the device and the owner prove themselves to each other, and the device takes its
//!    new credential while the owner gets the replacement voucher.
//!
//! Every server state (manufacturer, rendezvous server, owner) goes through its CBOR encoding
//! between two requests, as the relying party keeps it in its database, and every message
//! sent is recorded, so that two runs from the same seeds can be compared byte for byte.

use vouch_protocol::ErrorCode;
use vouch_protocol::cbor::Cbor;
use vouch_protocol::credential::DeviceCredential;
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{
    CipherSuite, CryptoProvider, KexSuite, RustCrypto, Signer, SigningKey,
};
use vouch_protocol::flows::to2::{
    DeviceConfig, DeviceOutcome, DeviceStep, OwnerConfig, OwnerOutcome, OwnerState, Replacement,
    To2Device,
};
use vouch_protocol::flows::{FlowError, Outgoing, di, to0, to1, to2};
use vouch_protocol::messages::MessageType;
use vouch_protocol::messages::di::DeviceMfgInfo;
use vouch_protocol::messages::to0::RvTo2Addr;
use vouch_protocol::serviceinfo::{DeviceModules, Devmod, OwnerModules};
use vouch_protocol::types::{
    Guid, HashAlg, PkEnc, PkType, RendezvousInfo, RvDirective, RvInstruction, RvVariable, SgType,
    SigInfo, TransportProtocol,
};
use vouch_protocol::voucher::OwnershipVoucher;

const C: RustCrypto = RustCrypto;
/// The fixed clock (Unix seconds, 2025-06-15).
const NOW: u64 = 1_750_000_000;
const DEVICE_INFO: &str = "vouch onboarding test device";
/// The GUID the owner gives the device in TO2.SetupDevice.
const NEW_GUID: Guid = Guid([0x6e; 16]);

// ---------------------------------------------------------------------------------------------
// Fixtures

/// One cipher-suite family: key types, the device's sgType, the chain hash and TO2's suites.
#[derive(Clone)]
struct Suite {
    pk_type: PkType,
    sg_type: SgType,
    chain_hash: HashAlg,
    config: DeviceConfig,
}

/// ES256 keys, ECDH256, A128GCM (P-256 everywhere).
fn p256() -> Suite {
    Suite {
        pk_type: PkType::SECP256R1,
        sg_type: SgType::ES256,
        chain_hash: HashAlg::SHA256,
        config: DeviceConfig::ecdh256(),
    }
}

/// ES384 keys, ECDH384, A256GCM (P-384 everywhere).
fn p384() -> Suite {
    Suite {
        pk_type: PkType::SECP384R1,
        sg_type: SgType::ES384,
        chain_hash: HashAlg::SHA384,
        config: DeviceConfig::ecdh384(),
    }
}

/// One DER TLV (definite length, up to 64 KiB).
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    match len {
        0..0x80 => out.push(len as u8),
        0x80..0x100 => out.extend_from_slice(&[0x81, len as u8]),
        _ => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// A minimal X.509 v3 certificate holding `key`'s public key, with empty names and an empty
/// signature: the flows read only the leaf certificate's key, and nothing checks the chain.
fn certificate(key: &SigningKey, serial: u8) -> Vec<u8> {
    let spki = key.verifying_key().to_spki_der().unwrap();
    // AlgorithmIdentifier { ecdsa-with-SHA256 }
    let alg = der(
        0x30,
        &der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
    );
    let no_name = der(0x30, &[]);
    let validity = der(
        0x30,
        &[der(0x17, b"250101000000Z"), der(0x17, b"350101000000Z")].concat(),
    );
    let tbs = der(
        0x30,
        &[
            der(0xa0, &der(0x02, &[2])), // version v3
            der(0x02, &[serial]),        // serialNumber
            alg.clone(),                 // signature algorithm
            no_name.clone(),             // issuer
            validity,                    // validity
            no_name,                     // subject
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
        RvInstruction::dns("rv.owner.example"),
        RvInstruction::uint(RvVariable::DEV_PORT, 443),
        RvInstruction::uint(RvVariable::PROTOCOL, 2),
    ])])
}

/// Where the owner waits for the device (to1d).
fn owner_addresses() -> Vec<RvTo2Addr> {
    vec![RvTo2Addr {
        ip: None,
        dns: Some("owner.example".into()),
        port: 8043,
        protocol: TransportProtocol::HTTPS,
    }]
}

fn devmod() -> Devmod {
    Devmod {
        active: true,
        os: "Linux".into(),
        arch: "x86_64".into(),
        version: "6.6".into(),
        device: "vouch test board".into(),
        sep: "/".into(),
        bin: "x86_64".into(),
        ..Devmod::default()
    }
}

/// Every message sent in a run, in order, with its type.
#[derive(Debug, Default, PartialEq, Eq)]
struct Transcript(Vec<(MessageType, Vec<u8>)>);

impl Transcript {
    fn record(&mut self, out: &Outgoing) {
        self.0.push((out.msg_type, out.body.clone()));
    }

    fn types(&self) -> Vec<u8> {
        self.0.iter().map(|(t, _)| t.0).collect()
    }
}

/// A server state as the relying party's database holds it: encoded, decoded, and checked to
/// re-encode to the very bytes stored.
#[track_caller]
fn through_db<S: Cbor>(state: S) -> S {
    let bytes = state.to_cbor();
    let back = S::from_cbor(&bytes).unwrap();
    assert_eq!(back.to_cbor(), bytes);
    back
}

/// The keys of one run, all drawn from the run's seed.
struct Keys {
    manufacturer: SigningKey,
    device: SigningKey,
    owner: SigningKey,
    /// The owner's key for the replacement voucher (Owner2Key).
    owner2: SigningKey,
}

/// What DI and the hand-over leave: the keys, the device's credential, the manufacturer's
/// voucher (no entries) and the owner's (one entry, to the owner key).
struct Made {
    keys: Keys,
    credential: DeviceCredential,
    mfg_voucher: OwnershipVoucher,
    voucher: OwnershipVoucher,
}

/// DI in memory, then the manufacturer's hand-over to the owner key.
fn make(seed: &[u8], suite: &Suite, transcript: &mut Transcript) -> Made {
    let mut key_rng = SeededRng::new(&[seed, b" keys"].concat());
    let mut key = || SigningKey::generate(suite.pk_type, &mut key_rng).unwrap();
    let keys = Keys {
        manufacturer: key(),
        device: key(),
        owner: key(),
        owner2: key(),
    };
    let device_ca = key();
    let mut device_rng = SeededRng::new(&[seed, b" DI device"].concat());

    // DI.AppStart
    let serial = String::from("VTB-0001");
    let (out, device) =
        di::DiDevice::start(Some(keys.device.algorithm()), DeviceMfgInfo::wrap(&serial));
    transcript.record(&out);
    let (app_start, started) = di::app_start(out.msg_type, &out.body).unwrap();
    assert_eq!(app_start.mfg_info.wrapped(), Some(&serial.to_cbor()[..]));
    let started = through_db(started);

    // DI.SetCredentials
    let guid = Guid(
        *C.hash(HashAlg::SHA256, &[seed])
            .unwrap()
            .value()
            .first_chunk()
            .unwrap(),
    );
    let (out, state) = di::set_credentials(
        started,
        di::Credentials {
            guid,
            rv_info: rv_info(),
            device_info: DEVICE_INFO,
            manufacturer_key: keys.manufacturer.public_key(PkEnc::X509).unwrap(),
            device_chain: Some(vec![
                certificate(&keys.device, 1),
                certificate(&device_ca, 2),
            ]),
            chain_hash_alg: suite.chain_hash,
        },
        &C,
    )
    .unwrap();
    transcript.record(&out);
    let state = through_db(state);

    // DI.SetHMAC
    let (out, device) = device
        .set_credentials(out.msg_type, &out.body, &C, &mut device_rng)
        .unwrap();
    transcript.record(&out);

    // DI.Done
    let (out, mfg_voucher) = di::set_hmac(state, out.msg_type, &out.body, &C).unwrap();
    transcript.record(&out);
    let credential = device.done(out.msg_type, &out.body).unwrap();
    assert_eq!(credential.guid, guid);

    // The manufacturer hands the device over to the owner.
    let voucher = mfg_voucher
        .extend(
            &C,
            &keys.manufacturer,
            keys.owner.public_key(PkEnc::X509).unwrap(),
        )
        .unwrap();
    Made {
        keys,
        credential,
        mfg_voucher,
        voucher,
    }
}

/// TO0 in memory: the owner registers `voucher`; returns the registration the rendezvous
/// server stores.
fn register(seed: &[u8], made: &Made, transcript: &mut Transcript) -> to0::Registration {
    let mut rv_rng = SeededRng::new(&[seed, b" TO0 rendezvous"].concat());
    let verified = made.voucher.clone().verify(&C, None, None).unwrap();
    let (out, owner) = to0::To0Owner::start(verified, owner_addresses(), 3600).unwrap();
    transcript.record(&out);
    let (out, state) = to0::rv_hello(out.msg_type, &out.body, &mut rv_rng).unwrap();
    transcript.record(&out);
    let state = through_db(state);
    let (out, owner) = owner
        .hello_ack(out.msg_type, &out.body, &C, &made.keys.owner)
        .unwrap();
    transcript.record(&out);
    let (out, registration) =
        to0::rv_owner_sign(state, out.msg_type, &out.body, &C, NOW, 86_400).unwrap();
    transcript.record(&out);
    let granted = owner.accept_owner(out.msg_type, &out.body).unwrap();
    assert_eq!(granted, 3600);
    assert_eq!(registration.guid, made.credential.guid);
    assert_eq!(registration.expires_at, NOW + 3600);
    through_db(registration)
}

/// TO1 in memory, a minute after TO0: the device learns where its owner is; returns the
/// to1d blob, after a trip through the device's own storage.
fn find_owner(
    seed: &[u8],
    suite: &Suite,
    made: &Made,
    registration: &to0::Registration,
    transcript: &mut Transcript,
) -> to1::UnverifiedTo1d {
    let mut rv_rng = SeededRng::new(&[seed, b" TO1 rendezvous"].concat());
    let (out, device) =
        to1::To1Device::start(&made.credential, SigInfo::new(suite.sg_type)).unwrap();
    transcript.record(&out);
    let guid = to1::hello_rv_guid(out.msg_type, &out.body).unwrap();
    let found = (guid == registration.guid).then_some(registration);
    let (out, state) =
        to1::rv_hello_rv(out.msg_type, &out.body, found, NOW + 60, &mut rv_rng).unwrap();
    transcript.record(&out);
    let state = through_db(state);
    let (out, device) = device
        .hello_rv_ack(out.msg_type, &out.body, &made.keys.device)
        .unwrap();
    transcript.record(&out);
    let out = to1::rv_prove_to_rv(state, out.msg_type, &out.body, &C).unwrap();
    transcript.record(&out);
    let to1d = device.rv_redirect(out.msg_type, &out.body).unwrap();
    assert_eq!(to1d.addresses(), owner_addresses());
    through_db(to1d)
}

/// The owner's side of TO2 for one request: its session state comes from `stored` and goes
/// back there as bytes; the voucher is looked up by the HelloDevice GUID in `vouchers`.
struct Owner<'a> {
    vouchers: &'a [OwnershipVoucher],
    key: &'a SigningKey,
    owner2: &'a SigningKey,
    replacement: Replacement,
    stored: Option<Vec<u8>>,
    outcome: Option<OwnerOutcome>,
    rng: SeededRng,
}

impl Owner<'_> {
    fn handle(&mut self, msg: &Outgoing) -> Result<Outgoing, FlowError> {
        let (t, b) = (msg.msg_type, msg.body.as_slice());
        let Some(bytes) = self.stored.take() else {
            let guid = to2::hello_device_guid(t, b)?;
            let found = self
                .vouchers
                .iter()
                .find(|v| v.guid() == guid)
                .map(|v| v.clone().verify(&C, None, None).unwrap());
            let (out, state) = to2::hello_device(
                &C,
                &OwnerConfig::default(),
                t,
                b,
                found,
                self.key,
                &mut self.rng,
            )?;
            self.stored = Some(OwnerState::from(state).to_cbor());
            return Ok(out);
        };
        let state = OwnerState::from_cbor(&bytes).unwrap();
        assert_eq!(
            state.to_cbor(),
            bytes,
            "an owner state re-encodes as stored"
        );
        let (out, next): (Outgoing, Option<OwnerState>) = match state {
            OwnerState::ProveDevice(s) if t == MessageType::TO2_GET_OV_NEXT_ENTRY => {
                let (out, s) = s.get_ov_next_entry(t, b)?;
                (out, Some(s.into()))
            }
            OwnerState::ProveDevice(s) => {
                let (out, s) =
                    s.prove_device(&C, t, b, &self.replacement, self.owner2, &mut self.rng)?;
                (out, Some(s.into()))
            }
            OwnerState::ServiceInfoReady(s) => {
                let (out, s) = s.device_service_info_ready(t, b, &mut self.rng)?;
                (out, Some(s.into()))
            }
            OwnerState::ServiceInfo(s) if t == MessageType::TO2_DONE => {
                let (out, outcome) = s.done(&C, t, b, &mut self.rng)?;
                self.outcome = Some(outcome);
                (out, None)
            }
            OwnerState::ServiceInfo(s) => {
                let (out, s) =
                    s.device_service_info(t, b, &mut OwnerModules::new(), &mut self.rng)?;
                (out, Some(s.into()))
            }
        };
        self.stored = next.map(|s| s.to_cbor());
        Ok(out)
    }
}

/// Which side of TO2 refused, and why.
#[derive(Debug)]
enum Refused {
    Device(FlowError),
    Owner(FlowError),
}

/// TO2 in memory between our device and our owner; the new credential and the replacement
/// voucher, or the side that refused.
fn to2_run(
    seed: &[u8],
    config: DeviceConfig,
    credential: &DeviceCredential,
    device_key: &SigningKey,
    to1d: Option<to1::UnverifiedTo1d>,
    mut owner: Owner<'_>,
    transcript: &mut Transcript,
) -> Result<(DeviceOutcome, OwnerOutcome), Refused> {
    let mut device_rng = SeededRng::new(&[seed, b" TO2 device"].concat());
    let (mut to_owner, mut device) = To2Device::start(
        &C,
        credential,
        device_key,
        config,
        DeviceModules::new(devmod()),
        to1d,
        &mut device_rng,
    )
    .unwrap();
    loop {
        transcript.record(&to_owner);
        let reply = owner.handle(&to_owner).map_err(Refused::Owner)?;
        transcript.record(&reply);
        match device
            .receive(reply.msg_type, &reply.body, &mut device_rng)
            .map_err(Refused::Device)?
        {
            DeviceStep::Send(next, state) => {
                to_owner = next;
                device = state;
            }
            DeviceStep::Finished(outcome) => {
                let owner_outcome = owner.outcome.take().expect("the owner answered Done");
                return Ok((*outcome, owner_outcome));
            }
        }
    }
}

/// What a whole onboarding ends with.
struct Onboarded {
    made: Made,
    device: DeviceOutcome,
    owner: OwnerOutcome,
    transcript: Transcript,
}

/// DI, hand-over, TO0, TO1 and TO2, all from `seed`.
fn onboard(seed: &[u8], suite: &Suite) -> Onboarded {
    let mut transcript = Transcript::default();
    let made = make(seed, suite, &mut transcript);
    let registration = register(seed, &made, &mut transcript);
    let to1d = find_owner(seed, suite, &made, &registration, &mut transcript);
    let vouchers = [made.voucher.clone()];
    let owner = Owner {
        vouchers: &vouchers,
        key: &made.keys.owner,
        owner2: &made.keys.owner2,
        replacement: Replacement {
            guid: NEW_GUID,
            rv_info: new_rv_info(),
        },
        stored: None,
        outcome: None,
        rng: SeededRng::new(&[seed, b" TO2 owner"].concat()),
    };
    let (device, owner) = to2_run(
        seed,
        suite.config.clone(),
        &made.credential,
        &made.keys.device,
        Some(to1d),
        owner,
        &mut transcript,
    )
    .unwrap_or_else(|e| panic!("TO2 refused: {e:?}"));
    Onboarded {
        made,
        device,
        owner,
        transcript,
    }
}

// ---------------------------------------------------------------------------------------------
// Full onboardings

/// The checks every full onboarding must pass, whatever the suite.
fn check_onboarding(o: &Onboarded, suite: &Suite) {
    let Onboarded {
        made,
        device,
        owner,
        transcript,
    } = o;

    // Every protocol ran, in order, and TO2 fetched the voucher's one entry.
    let types = transcript.types();
    assert_eq!(
        types[..20],
        [
            10, 11, 12, 13, // DI
            20, 21, 22, 23, // TO0
            30, 31, 32, 33, // TO1
            60, 61, 62, 63, 64, 65, 66, 67, // TO2 up to the ServiceInfo rounds
        ]
    );
    assert_eq!(types[types.len() - 2..], [70, 71]);
    assert!(
        types[20..types.len() - 2]
            .chunks(2)
            .all(|pair| pair == [68, 69]),
        "{types:?}"
    );

    // DI's credential: the manufacturer's key hash and an HMAC secret of the key's strength.
    let (hash_alg, secret_len) = if suite.pk_type == PkType::SECP384R1 {
        (HashAlg::SHA384, 48)
    } else {
        (HashAlg::SHA256, 32)
    };
    let di_secret = made.credential.hmac_secret().unwrap();
    assert_eq!(di_secret.len(), secret_len);
    let mfg_key = made.keys.manufacturer.public_key(PkEnc::X509).unwrap();
    assert_eq!(
        made.credential.pub_key_hash,
        C.hash(hash_alg, &[&mfg_key.to_cbor()]).unwrap()
    );
    assert!(
        made.mfg_voucher
            .clone()
            .verify(&C, None, Some(&made.credential))
            .unwrap()
            .hmac_checked()
    );

    // The device's new credential: GUID', RVInfo', the same HMAC secret, and the hash of
    // Owner2Key (the owner's new key) where the manufacturer key's was.
    let cred = &device.credential;
    assert!(!device.reused);
    assert!(cred.active);
    assert_eq!(cred.guid, NEW_GUID);
    assert_ne!(cred.guid, made.credential.guid);
    assert_eq!(cred.rv_info, new_rv_info());
    assert_eq!(cred.device_info, DEVICE_INFO);
    assert_eq!(cred.hmac_secret(), Some(di_secret));
    let owner2 = made.keys.owner2.public_key(PkEnc::X509).unwrap();
    assert_eq!(
        cred.pub_key_hash,
        C.hash(hash_alg, &[&owner2.to_cbor()]).unwrap()
    );
    assert_ne!(cred.pub_key_hash, made.credential.pub_key_hash);

    // The owner's replacement voucher: no entries, Owner2Key in place of the manufacturer
    // key, the device's chain, and an HMAC that verifies with the device's new credential
    // (its secret, GUID' and key hash) but not with the old one.
    assert_eq!(owner.guid, made.credential.guid);
    let replacement = owner.replacement_voucher.clone().unwrap();
    assert!(replacement.entries().is_empty());
    assert_eq!(replacement.guid(), NEW_GUID);
    assert_eq!(replacement.header().rv_info, new_rv_info());
    assert_eq!(replacement.header().manufacturer_key.value(), &owner2);
    assert_eq!(replacement.cert_chain(), made.voucher.cert_chain());
    let stored = OwnershipVoucher::from_cbor(&replacement.to_cbor()).unwrap();
    let verified = stored.clone().verify(&C, None, Some(cred)).unwrap();
    assert!(verified.hmac_checked());
    assert!(
        stored
            .clone()
            .verify(&C, None, Some(&made.credential))
            .is_err()
    );
    let mut wrong_secret = cred.clone();
    wrong_secret.hmac_secret = Some(vec![0x55; secret_len].into());
    assert!(stored.verify(&C, None, Some(&wrong_secret)).is_err());

    // The device's devmod reached the owner.
    let dm = owner.devmod.as_ref().unwrap();
    assert_eq!(dm.device, "vouch test board");
    assert_eq!(dm.modules, ["devmod"]);
}

#[test]
fn es256_ecdh256_a128gcm_onboarding() {
    let suite = p256();
    let o = onboard(b"onboarding p256", &suite);
    check_onboarding(&o, &suite);
    assert_eq!(o.made.keys.owner.pk_type(), PkType::SECP256R1);
    assert_eq!(o.made.voucher.hmac().alg(), HashAlg::HMAC_SHA256);
}

#[test]
fn es384_ecdh384_a256gcm_onboarding() {
    let suite = p384();
    let o = onboard(b"onboarding p384", &suite);
    check_onboarding(&o, &suite);
    assert_eq!(o.made.keys.owner.pk_type(), PkType::SECP384R1);
    assert_eq!(o.made.voucher.hmac().alg(), HashAlg::HMAC_SHA384);
}

#[test]
fn same_seeds_same_bytes() {
    let suite = p256();
    let first = onboard(b"onboarding determinism", &suite);
    let second = onboard(b"onboarding determinism", &suite);
    assert_eq!(first.transcript, second.transcript);
    assert_eq!(first.device.credential, second.device.credential);
    assert_eq!(
        first.owner.replacement_voucher.unwrap().to_cbor(),
        second.owner.replacement_voucher.unwrap().to_cbor()
    );
    // Another seed draws other keys, nonces and IVs: no message past DI.AppStart is the same.
    let other = onboard(b"onboarding determinism, other seed", &suite);
    assert_eq!(other.transcript.types(), first.transcript.types());
    let differing = first
        .transcript
        .0
        .iter()
        .zip(&other.transcript.0)
        .filter(|(a, b)| a.1 != b.1)
        .count();
    assert!(differing > first.transcript.0.len() / 2, "{differing}");
}

// ---------------------------------------------------------------------------------------------
// Suites that do not suit the owner's key

/// DI and the hand-over for `suite`, then a TO2 session that the owner must refuse at
/// HelloDevice because the device asks for `config`'s suites; returns the owner's error.
fn hello_device_refused(seed: &[u8], suite: &Suite, config: DeviceConfig) -> FlowError {
    let mut transcript = Transcript::default();
    let made = make(seed, suite, &mut transcript);
    let vouchers = [made.voucher.clone()];
    let owner = Owner {
        vouchers: &vouchers,
        key: &made.keys.owner,
        owner2: &made.keys.owner2,
        replacement: Replacement {
            guid: NEW_GUID,
            rv_info: new_rv_info(),
        },
        stored: None,
        outcome: None,
        rng: SeededRng::new(b"refusing owner"),
    };
    let e = match to2_run(
        seed,
        config,
        &made.credential,
        &made.keys.device,
        None,
        owner,
        &mut transcript,
    ) {
        Err(Refused::Owner(e)) => e,
        Err(Refused::Device(e)) => panic!("the device refused first: {e}"),
        Ok(_) => panic!("TO2 completed"),
    };
    // The owner answered nothing: HelloDevice is the only message sent.
    assert_eq!(transcript.types()[4..], [60]);
    e
}

#[test]
fn key_exchange_not_suiting_the_owner_key_is_refused_at_hello_device() {
    // ECDH384 needs a P-384 owner key; this owner's is P-256.
    let mut config = DeviceConfig::ecdh256();
    config.kex_suite = KexSuite::ECDH384;
    let e = hello_device_refused(b"mismatch p256 owner", &p256(), config);
    assert_eq!(e.prev, MessageType::TO2_HELLO_DEVICE);
    assert_eq!(e.code(), ErrorCode::MESSAGE_BODY_ERROR);
    let message = e.to_message();
    assert_eq!(message.code, ErrorCode::MESSAGE_BODY_ERROR);
    assert_eq!(message.prev_message, MessageType::TO2_HELLO_DEVICE);
    assert!(e.to_string().contains("ECDH384"), "{e}");

    // And the other way round: ECDH256 with a P-384 owner key.
    let mut config = DeviceConfig::ecdh384();
    config.kex_suite = KexSuite::ECDH256;
    let e = hello_device_refused(b"mismatch p384 owner", &p384(), config);
    assert_eq!(
        (e.prev, e.code()),
        (MessageType::TO2_HELLO_DEVICE, ErrorCode::MESSAGE_BODY_ERROR)
    );
    assert!(e.to_string().contains("ECDH256"), "{e}");
}

/// The AEAD cipher is not tied to the key exchange (FDO reference §4.1 and §4.2 pair them
/// freely): ECDH256 with A256GCM onboards a P-256 device.
#[test]
fn a256gcm_with_ecdh256_is_accepted() {
    let mut suite = p256();
    suite.config.cipher_suite = CipherSuite::A256GCM;
    let o = onboard(b"onboarding ecdh256 a256gcm", &suite);
    check_onboarding(&o, &suite);
    // HelloDevice named A256GCM (cipherSuiteName 3).
    let (t, hello) = &o.transcript.0[12];
    assert_eq!(*t, MessageType::TO2_HELLO_DEVICE);
    let hello = vouch_protocol::messages::to2::HelloDevice::from_cbor(hello).unwrap();
    assert_eq!(hello.cipher_suite, CipherSuite::A256GCM);
    assert_eq!(hello.kex_suite, KexSuite::ECDH256);
}
