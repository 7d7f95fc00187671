//! TO2 in memory on credentials and vouchers written by other implementations (under
//! `vectors/external/`): go-fdo's test data (P-384) and fdo-rs' generated files (P-256).
//!
//! Each manufacturer voucher (no entries) is extended with the manufacturer's own private key
//! to an owner key of ours; then our device, holding the other implementation's device
//! credential (its HMAC secret and device key), onboards to our owner. The device checks the
//! header HMAC that the other implementation wrote, so completing TO2 proves that HMAC, the
//! manufacturer key hash and the GUID of its credential match its voucher.

use std::path::{Path, PathBuf};

use vouch_protocol::cbor::Cbor;
use vouch_protocol::credential::DeviceCredential;
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{CryptoProvider, RustCrypto, Signer, SigningKey};
use vouch_protocol::flows::to2::{
    DeviceConfig, DeviceOutcome, DeviceStep, OwnerConfig, OwnerOutcome, OwnerState, Replacement,
    To2Device,
};
use vouch_protocol::flows::{FlowError, Outgoing, to2};
use vouch_protocol::messages::MessageType;
use vouch_protocol::serviceinfo::{DeviceModules, Devmod, OwnerModules};
use vouch_protocol::types::{Guid, PkEnc, PkType, RendezvousInfo, RvDirective, RvInstruction};
use vouch_protocol::voucher::OwnershipVoucher;
use vouch_protocol::{Error, ErrorCode, VerifyError};

const C: RustCrypto = RustCrypto;
/// The GUID our owner gives the device in TO2.SetupDevice.
const NEW_GUID: Guid = Guid([0x7a; 16]);

fn external() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors/external")
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(external().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// One implementation's files: its manufacturer voucher, the matching device credential,
/// and its manufacturer's private key.
struct External {
    name: &'static str,
    voucher: OwnershipVoucher,
    credential: DeviceCredential,
    manufacturer: SigningKey,
    /// The suites our device asks for: they must suit the owner key, of the manufacturer's type.
    config: DeviceConfig,
}

/// go-fdo's `testdata/`: P-384 manufacturer key, HMAC-SHA384.
fn go_fdo() -> External {
    let mfg = String::from_utf8(read("go-fdo/testdata/mfg_key.pem")).unwrap();
    External {
        name: "go-fdo",
        voucher: OwnershipVoucher::from_bytes(&read("go-fdo/testdata/ov.pem")).unwrap(),
        credential: DeviceCredential::from_any(&read("go-fdo/testdata/dc.bin")).unwrap(),
        manufacturer: SigningKey::from_pem(&mfg).unwrap(),
        config: DeviceConfig::ecdh384(),
    }
}

/// fdo-rs' `generated/`: P-256 manufacturer key, HMAC-SHA384.
fn fdo_rs() -> External {
    External {
        name: "fdo-rs",
        voucher: OwnershipVoucher::from_bytes(&read("fdo-rs/generated/ov-0entries.pem")).unwrap(),
        credential: DeviceCredential::from_any(&read("fdo-rs/generated/dc.bin")).unwrap(),
        manufacturer: SigningKey::from_der(&read("fdo-rs/generated/keys/manufacturer_key.der"))
            .unwrap(),
        config: DeviceConfig::ecdh256(),
    }
}

/// Our owner's keys for `ext`: the key the voucher is extended to, and Owner2Key.
fn owner_keys(ext: &External) -> (SigningKey, SigningKey) {
    let mut rng = SeededRng::new(format!("external onboarding owner {}", ext.name).as_bytes());
    let pk_type = ext.manufacturer.pk_type();
    (
        SigningKey::generate(pk_type, &mut rng).unwrap(),
        SigningKey::generate(pk_type, &mut rng).unwrap(),
    )
}

fn new_rv_info() -> RendezvousInfo {
    RendezvousInfo(vec![RvDirective(vec![RvInstruction::dns(
        "rv.vouch.example",
    )])])
}

fn devmod() -> Devmod {
    Devmod {
        active: true,
        os: "Linux".into(),
        arch: "x86_64".into(),
        version: "6.6".into(),
        device: "external credential".into(),
        sep: "/".into(),
        bin: "x86_64".into(),
        ..Devmod::default()
    }
}

/// Which side of TO2 refused, and why.
#[derive(Debug)]
enum Refused {
    Device(FlowError),
    Owner(FlowError),
}

/// TO2 in memory between our device (`credential`, `device_key`) and our owner (`owner`
/// holding `voucher`, giving Owner2Key `owner2`), the owner's state going through its CBOR
/// encoding between requests as the relying party stores it.
fn to2_run(
    config: &DeviceConfig,
    credential: &DeviceCredential,
    device_key: &SigningKey,
    voucher: &OwnershipVoucher,
    owner: &SigningKey,
    owner2: &SigningKey,
) -> Result<(DeviceOutcome, OwnerOutcome), Refused> {
    let mut device_rng = SeededRng::new(b"external TO2 device");
    let mut owner_rng = SeededRng::new(b"external TO2 owner");
    let replacement = Replacement {
        guid: NEW_GUID,
        rv_info: new_rv_info(),
    };
    let (mut to_owner, mut device) = To2Device::start(
        &C,
        credential,
        device_key,
        config.clone(),
        DeviceModules::new(devmod()),
        None,
        &mut device_rng,
    )
    .unwrap();
    let mut stored: Option<Vec<u8>> = None;
    let mut owner_outcome = None;
    loop {
        let (t, b) = (to_owner.msg_type, to_owner.body.as_slice());
        let mut step = || -> Result<Outgoing, FlowError> {
            let Some(bytes) = stored.take() else {
                let guid = to2::hello_device_guid(t, b)?;
                let found = (voucher.guid() == guid)
                    .then(|| voucher.clone().verify(&C, None, None).unwrap());
                let (out, state) = to2::hello_device(
                    &C,
                    &OwnerConfig::default(),
                    t,
                    b,
                    found,
                    owner,
                    &mut owner_rng,
                )?;
                stored = Some(OwnerState::from(state).to_cbor());
                return Ok(out);
            };
            let (out, next): (Outgoing, Option<OwnerState>) =
                match OwnerState::from_cbor(&bytes).unwrap() {
                    OwnerState::ProveDevice(s) if t == MessageType::TO2_GET_OV_NEXT_ENTRY => {
                        let (out, s) = s.get_ov_next_entry(t, b)?;
                        (out, Some(s.into()))
                    }
                    OwnerState::ProveDevice(s) => {
                        let (out, s) =
                            s.prove_device(&C, t, b, &replacement, owner2, &mut owner_rng)?;
                        (out, Some(s.into()))
                    }
                    OwnerState::ServiceInfoReady(s) => {
                        let (out, s) = s.device_service_info_ready(t, b, &mut owner_rng)?;
                        (out, Some(s.into()))
                    }
                    OwnerState::ServiceInfo(s) if t == MessageType::TO2_DONE => {
                        let (out, outcome) = s.done(&C, t, b, &mut owner_rng)?;
                        owner_outcome = Some(outcome);
                        (out, None)
                    }
                    OwnerState::ServiceInfo(s) => {
                        let mut modules = OwnerModules::new();
                        let (out, s) = s.device_service_info(t, b, &mut modules, &mut owner_rng)?;
                        (out, Some(s.into()))
                    }
                };
            stored = next.map(|s| s.to_cbor());
            Ok(out)
        };
        let reply = step().map_err(Refused::Owner)?;
        match device
            .receive(reply.msg_type, &reply.body, &mut device_rng)
            .map_err(Refused::Device)?
        {
            DeviceStep::Send(next, state) => {
                to_owner = next;
                device = state;
            }
            DeviceStep::Finished(outcome) => {
                let owner_outcome = owner_outcome.take().expect("the owner answered Done");
                return Ok((*outcome, owner_outcome));
            }
        }
    }
}

/// Extends `ext`'s voucher to our owner and onboards its device; checks what both sides end
/// with.
fn onboard(ext: &External) {
    let name = ext.name;
    let (owner, owner2) = owner_keys(ext);
    let dc = &ext.credential;
    let device_key = SigningKey::from_der(dc.device_key.as_ref().expect("a device key")).unwrap();
    assert!(ext.voucher.entries().is_empty(), "{name}");

    // The manufacturer's hand-over, signed with the other implementation's private key.
    let voucher = ext
        .voucher
        .extend(
            &C,
            &ext.manufacturer,
            owner.public_key(PkEnc::X509).unwrap(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let (device, owner_outcome) = to2_run(&ext.config, dc, &device_key, &voucher, &owner, &owner2)
        .unwrap_or_else(|e| panic!("{name}: TO2 refused: {e:?}"));

    // The device accepted the owner and took GUID', RVInfo' and Owner2Key's hash, keeping
    // the other implementation's HMAC secret.
    let cred = &device.credential;
    assert!(!device.reused, "{name}");
    assert_eq!(cred.guid, NEW_GUID, "{name}");
    assert_eq!(cred.rv_info, new_rv_info(), "{name}");
    assert_eq!(cred.hmac_secret(), dc.hmac_secret(), "{name}");
    assert_eq!(cred.device_info, dc.device_info, "{name}");
    let owner2_key = owner2.public_key(PkEnc::X509).unwrap();
    assert_eq!(
        cred.pub_key_hash,
        C.hash(dc.pub_key_hash.alg(), &[&owner2_key.to_cbor()])
            .unwrap(),
        "{name}"
    );

    // Our owner's replacement voucher keeps the other implementation's device chain and
    // HMAC algorithm, and verifies with the device's new credential.
    assert_eq!(owner_outcome.guid, dc.guid, "{name}");
    let replacement = owner_outcome.replacement_voucher.unwrap();
    assert_eq!(replacement.cert_chain(), ext.voucher.cert_chain(), "{name}");
    assert_eq!(replacement.hmac().alg(), ext.voucher.hmac().alg(), "{name}");
    let verified = OwnershipVoucher::from_cbor(&replacement.to_cbor())
        .unwrap()
        .verify(&C, None, Some(cred))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(verified.hmac_checked(), "{name}");
    assert_eq!(
        owner_outcome.devmod.unwrap().device,
        "external credential",
        "{name}"
    );
}

#[test]
fn go_fdo_credential_onboards_to_our_owner() {
    let ext = go_fdo();
    assert_eq!(ext.manufacturer.pk_type(), PkType::SECP384R1);
    onboard(&ext);
}

#[test]
fn fdo_rs_credential_onboards_to_our_owner() {
    let ext = fdo_rs();
    assert_eq!(ext.manufacturer.pk_type(), PkType::SECP256R1);
    onboard(&ext);
}

/// The voucher's encoding with one byte of its OVHeader's DeviceInfo flipped (the case of a
/// letter), so it still parses and the entry chain our manufacturer signs over it verifies:
/// only the header HMAC, which the device checks, can tell.
fn header_byte_flipped(voucher: &OwnershipVoucher) -> OwnershipVoucher {
    let mut bytes = voucher.to_cbor();
    let header = voucher.header_bytes();
    let at = bytes
        .windows(header.len())
        .position(|w| w == header)
        .expect("the header bytes inside the voucher");
    let info = voucher.header().device_info.as_bytes();
    let within = header
        .windows(info.len())
        .position(|w| w == info)
        .expect("DeviceInfo inside the header");
    let letter = info
        .iter()
        .position(u8::is_ascii_alphabetic)
        .expect("a letter in DeviceInfo");
    bytes[at + within + letter] ^= 0x20;
    let flipped = OwnershipVoucher::from_cbor(&bytes).unwrap();
    assert_ne!(flipped.header_bytes(), header);
    assert_ne!(flipped.header().device_info, voucher.header().device_info);
    flipped
}

#[test]
fn flipped_header_byte_is_refused_by_the_device_and_the_credential_kept() {
    for ext in [go_fdo(), fdo_rs()] {
        let name = ext.name;
        let (owner, owner2) = owner_keys(&ext);
        let dc = &ext.credential;
        let device_key = SigningKey::from_der(dc.device_key.as_ref().unwrap()).unwrap();
        // The manufacturer signs its hand-over over the altered header, so our owner's
        // verification (no device secret) passes and the owner serves it.
        let forged = header_byte_flipped(&ext.voucher)
            .extend(
                &C,
                &ext.manufacturer,
                owner.public_key(PkEnc::X509).unwrap(),
            )
            .unwrap();
        forged.clone().verify(&C, None, None).unwrap();
        let e = match to2_run(&ext.config, dc, &device_key, &forged, &owner, &owner2) {
            Err(Refused::Device(e)) => e,
            Err(Refused::Owner(e)) => panic!("{name}: the owner refused: {e}"),
            Ok(_) => panic!("{name}: TO2 completed on a forged header"),
        };
        assert_eq!(e.prev, MessageType::TO2_PROVE_OV_HDR, "{name}: {e}");
        assert_eq!(e.code(), ErrorCode::INVALID_MESSAGE_ERROR, "{name}: {e}");
        assert_eq!(e.to_message().code, ErrorCode::INVALID_MESSAGE_ERROR);
        assert_eq!(e.error, Error::Verify(VerifyError::HeaderHmac), "{name}");

        // Nothing came out to store: the device had the credential by shared reference only,
        // and the new one comes out of TO2.Done2 alone. The credential it keeps still takes
        // it through TO2 with the genuine voucher.
        let genuine = ext
            .voucher
            .extend(
                &C,
                &ext.manufacturer,
                owner.public_key(PkEnc::X509).unwrap(),
            )
            .unwrap();
        let (device, _) = to2_run(&ext.config, dc, &device_key, &genuine, &owner, &owner2)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(device.credential.guid, NEW_GUID, "{name}");
    }
}
