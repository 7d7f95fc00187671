//! One executor per case kind: read the inputs, run the library, report the outcome and its
//! fields. An `Err` is a case that cannot run (a missing or malformed input), never an outcome.

use coset::iana::EnumI64;
use serde_json::{Value, json};
use vouch_protocol::cbor::Cbor;
use vouch_protocol::cose::Sign1;
use vouch_protocol::credential::DeviceCredential;
use vouch_protocol::crypto::kdf::{self, Prf};
use vouch_protocol::crypto::kex::{self, KexSuite};
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{CipherSuite, CryptoProvider, SessionKeys, Signer, SigningKey};
use vouch_protocol::eat::Eat;
use vouch_protocol::error::VerifyError;
use vouch_protocol::flows::di::{DiDevice, ManufacturerDiState, set_hmac};
use vouch_protocol::flows::to0::{Registration, RvTo0State, To0Owner, rv_hello, rv_owner_sign};
use vouch_protocol::flows::to1::{
    RvTo1State, To1Device, UnverifiedTo1d, hello_rv_guid, rv_hello_rv, rv_prove_to_rv,
};
use vouch_protocol::flows::to2::{
    DeviceConfig, DeviceStep, OwnerConfig, OwnerState, Replacement, To2Device, hello_device,
    hello_device_guid,
};
use vouch_protocol::flows::{FlowError, Outgoing};
use vouch_protocol::messages::{self, Message, MessageType};
use vouch_protocol::serviceinfo::{
    Chunker, DEFAULT_MAX_BUFFERED, DeviceModules, Devmod, OwnerModules, Reassembler,
};
use vouch_protocol::types::{
    Guid, HashAlg, Nonce, PkEnc, PublicKey, RendezvousInfo, ServiceInfo, ServiceInfoKv, SigInfo,
};
use vouch_protocol::voucher::{ChainHashForm, OvEntry, OvHeader, OwnershipVoucher};
use vouch_protocol::{Error, types};

use crate::format::Kind;
use crate::run::{Inputs, Outcome};

/// Runs a case of `kind`.
pub fn execute(
    kind: Kind,
    inputs: &Inputs<'_>,
    crypto: &dyn CryptoProvider,
) -> Result<Outcome, String> {
    match kind {
        Kind::Decode => decode(inputs),
        Kind::Voucher => voucher(inputs, crypto),
        Kind::Digest => digest(inputs, crypto),
        Kind::Kdf => kdf_case(inputs),
        Kind::Kex => kex_case(inputs),
        Kind::Cose => cose(inputs, crypto),
        Kind::Eat => eat(inputs, crypto),
        Kind::To2Device => to2_device(inputs, crypto),
        Kind::To2Owner => to2_owner(inputs, crypto),
        Kind::To0Rv => to0_rv(inputs, crypto),
        Kind::To1Rv => to1_rv(inputs, crypto),
        Kind::ServiceInfo => serviceinfo(inputs),
        Kind::Di => di(inputs, crypto),
        Kind::To0Owner => to0_owner(inputs, crypto),
        Kind::To1Device => to1_device(inputs),
        Kind::Report => report(inputs, crypto),
        Kind::Pin => pin(inputs, crypto),
    }
}

/// `Ok(value)`, or returns the library failure as the case's outcome.
macro_rules! or_fail {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok(Outcome::from_error(&e)),
        }
    };
}

fn success(fields: impl IntoIterator<Item = (&'static str, Value)>) -> Outcome {
    Outcome::Success(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn hex(b: &[u8]) -> Value {
    Value::String(hex::encode(b))
}

// ---- decode ---------------------------------------------------------------------------------

/// The encoding of what was decoded, and the message type when the item is a message.
type Decoded = (Vec<u8>, Option<u8>);

/// The fields a step produced.
type StepFields = Vec<(&'static str, Value)>;

fn round_trip<T: Cbor>(bytes: &[u8]) -> Result<Decoded, Error> {
    Ok((T::from_cbor(bytes)?.to_cbor(), None))
}

fn round_trip_message<T: Message>(bytes: &[u8]) -> Result<Decoded, Error> {
    Ok((T::from_cbor(bytes)?.to_cbor(), Some(T::TYPE.0)))
}

/// The names `decode` cases use: FDO's message names and CDDL type names.
pub const DECODE_TYPES: &[&str] = &[
    "DI.AppStart",
    "DI.SetCredentials",
    "DI.SetHMAC",
    "DI.Done",
    "TO0.Hello",
    "TO0.HelloAck",
    "TO0.OwnerSign",
    "TO0.AcceptOwner",
    "TO1.HelloRV",
    "TO1.HelloRVAck",
    "TO1.ProveToRV",
    "TO1.RVRedirect",
    "TO2.HelloDevice",
    "TO2.ProveOVHdr",
    "TO2.GetOVNextEntry",
    "TO2.OVNextEntry",
    "TO2.ProveDevice",
    "TO2.SetupDevice",
    "TO2.DeviceServiceInfoReady",
    "TO2.OwnerServiceInfoReady",
    "TO2.DeviceServiceInfo",
    "TO2.OwnerServiceInfo",
    "TO2.Done",
    "TO2.Done2",
    "Error",
    "OwnershipVoucher",
    "OVHeader",
    "OVEntry",
    "PublicKey",
    "RendezvousInfo",
    "Hash",
    "HMac",
    "SigInfo",
    "ServiceInfo",
    "Guid",
    "COSE_Sign1",
    "EAT",
    "DeviceCredential",
    "vouch.tls:enroll",
    "vouch.tls:csr",
    "vouch.tls:cert",
];

fn decode_as(ty: &str, b: &[u8]) -> Result<Result<Decoded, Error>, String> {
    use messages::{di, to0, to1, to2};
    Ok(match ty {
        "DI.AppStart" => round_trip_message::<di::AppStart>(b),
        "DI.SetCredentials" => round_trip_message::<di::SetCredentials>(b),
        "DI.SetHMAC" => round_trip_message::<di::SetHmac>(b),
        "DI.Done" => round_trip_message::<di::Done>(b),
        "TO0.Hello" => round_trip_message::<to0::Hello>(b),
        "TO0.HelloAck" => round_trip_message::<to0::HelloAck>(b),
        "TO0.OwnerSign" => round_trip_message::<to0::OwnerSign>(b),
        "TO0.AcceptOwner" => round_trip_message::<to0::AcceptOwner>(b),
        "TO1.HelloRV" => round_trip_message::<to1::HelloRv>(b),
        "TO1.HelloRVAck" => round_trip_message::<to1::HelloRvAck>(b),
        "TO1.ProveToRV" => round_trip_message::<to1::ProveToRv>(b),
        "TO1.RVRedirect" => round_trip_message::<to1::RvRedirect>(b),
        "TO2.HelloDevice" => round_trip_message::<to2::HelloDevice>(b),
        "TO2.ProveOVHdr" => round_trip_message::<to2::ProveOvHdr>(b),
        "TO2.GetOVNextEntry" => round_trip_message::<to2::GetOvNextEntry>(b),
        "TO2.OVNextEntry" => round_trip_message::<to2::OvNextEntry>(b),
        "TO2.ProveDevice" => round_trip_message::<to2::ProveDevice>(b),
        "TO2.SetupDevice" => round_trip_message::<to2::SetupDevice>(b),
        "TO2.DeviceServiceInfoReady" => round_trip_message::<to2::DeviceServiceInfoReady>(b),
        "TO2.OwnerServiceInfoReady" => round_trip_message::<to2::OwnerServiceInfoReady>(b),
        "TO2.DeviceServiceInfo" => round_trip_message::<to2::DeviceServiceInfo>(b),
        "TO2.OwnerServiceInfo" => round_trip_message::<to2::OwnerServiceInfo>(b),
        "TO2.Done" => round_trip_message::<to2::Done>(b),
        "TO2.Done2" => round_trip_message::<to2::Done2>(b),
        "Error" => round_trip_message::<messages::ErrorMessage>(b),
        "OwnershipVoucher" => round_trip::<OwnershipVoucher>(b),
        "OVHeader" => round_trip::<OvHeader>(b),
        "OVEntry" => round_trip::<OvEntry>(b),
        "PublicKey" => round_trip::<PublicKey>(b),
        "RendezvousInfo" => round_trip::<RendezvousInfo>(b),
        "Hash" => round_trip::<types::Hash>(b),
        "HMac" => round_trip::<types::HMac>(b),
        "SigInfo" => round_trip::<SigInfo>(b),
        "ServiceInfo" => round_trip::<ServiceInfo>(b),
        "Guid" => round_trip::<Guid>(b),
        "COSE_Sign1" => round_trip::<Sign1>(b),
        "EAT" => round_trip::<Eat>(b),
        "DeviceCredential" => round_trip::<DeviceCredential>(b),
        "vouch.tls:enroll" => round_trip::<vouch_protocol::serviceinfo::tls::Enroll>(b),
        "vouch.tls:csr" => round_trip::<vouch_protocol::serviceinfo::tls::CsrRequest>(b),
        "vouch.tls:cert" => round_trip::<vouch_protocol::serviceinfo::tls::CertChain>(b),
        other => return Err(format!("unknown type {other:?} (see DECODE_TYPES)")),
    })
}

/// Inputs `type`, `cbor`. Fields: `round_trip` (the encoding of what was decoded is the input,
/// byte for byte), `message_type` for a message.
fn decode(inputs: &Inputs<'_>) -> Result<Outcome, String> {
    let ty = inputs.text("type")?;
    let bytes = inputs.bytes("cbor")?;
    let (again, msg_type) = or_fail!(decode_as(ty, &bytes)?);
    let mut fields = vec![("round_trip", Value::Bool(again == bytes))];
    if let Some(t) = msg_type {
        fields.push(("message_type", json!(t)));
    }
    Ok(success(fields))
}

// ---- voucher --------------------------------------------------------------------------------

/// The CBOR of a voucher file, PEM or not.
fn voucher_cbor(bytes: &[u8]) -> Vec<u8> {
    if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        pem::parse(bytes)
            .map(pem::Pem::into_contents)
            .unwrap_or_default()
    } else {
        bytes.to_vec()
    }
}

/// Inputs `voucher` (CBOR or PEM), optional `device_secret`, `credential` (ours or fdo-rs'
/// `dc.bin`), `require_entries`. Fields: `protocol_version`, `guid`, `device_info`, `entries`,
/// `manufacturer_key_type`, `manufacturer_key_encoding`, `hmac_alg`, `owner_key` (its CBOR),
/// `hmac_checked`, `chain_hash_form`, `round_trip`.
fn voucher(inputs: &Inputs<'_>, crypto: &dyn CryptoProvider) -> Result<Outcome, String> {
    let bytes = inputs.bytes("voucher")?;
    let secret = inputs.opt_bytes("device_secret")?;
    let credential = match inputs.opt_bytes("credential")? {
        Some(b) => Some(or_fail!(DeviceCredential::from_any(&b))),
        None => None,
    };
    let ov = or_fail!(OwnershipVoucher::from_bytes(&bytes));
    let round_trip = ov.to_cbor() == voucher_cbor(&bytes);
    let v = or_fail!(ov.verify(crypto, secret.as_deref(), credential.as_ref()));
    if inputs.flag("require_entries")? {
        or_fail!(v.require_entries());
    }
    let ov = v.voucher();
    let h = ov.header();
    let form = match v.chain_hash_form() {
        Some(ChainHashForm::Concatenated) => json!("concatenated"),
        Some(ChainHashForm::CborArray) => json!("cbor-array"),
        None => Value::Null,
    };
    Ok(success([
        ("protocol_version", json!(ov.protocol_version().0)),
        ("guid", hex(h.guid.as_bytes())),
        ("device_info", json!(h.device_info)),
        ("entries", json!(ov.entries().len())),
        ("manufacturer_key_type", json!(h.manufacturer_key.pk_type.0)),
        ("manufacturer_key_encoding", json!(h.manufacturer_key.enc.0)),
        ("hmac_alg", json!(ov.hmac().alg().0)),
        ("owner_key", hex(&v.owner_key().to_cbor())),
        ("hmac_checked", json!(v.hmac_checked())),
        ("chain_hash_form", form),
        ("round_trip", json!(round_trip)),
    ]))
}

// ---- digest, KDF, key exchange ----------------------------------------------------------------

/// Inputs `alg` (FDO hashtype), `data`, and `key` for an HMAC. Field `digest`.
fn digest(inputs: &Inputs<'_>, crypto: &dyn CryptoProvider) -> Result<Outcome, String> {
    let alg = HashAlg(inputs.int("alg")?);
    let data = inputs.bytes("data")?;
    let (alg, value) = match inputs.opt_bytes("key")? {
        Some(key) => {
            let mac = or_fail!(crypto.hmac(alg, &key, &data));
            (mac.alg(), mac.value().to_vec())
        }
        None => {
            let h = or_fail!(crypto.hash(alg, &[&data]));
            (h.alg(), h.value().to_vec())
        }
    };
    Ok(success([("alg", json!(alg.0)), ("digest", hex(&value))]))
}

/// Inputs `prf` (`HMAC-SHA256`, `HMAC-SHA384`), `shse`, `context_rand`, `length` (bytes).
/// Field `output`.
fn kdf_case(inputs: &Inputs<'_>) -> Result<Outcome, String> {
    let prf = match inputs.text("prf")? {
        "HMAC-SHA256" => Prf::HmacSha256,
        "HMAC-SHA384" => Prf::HmacSha384,
        other => return Err(format!("unknown PRF {other:?}")),
    };
    let len = usize::try_from(inputs.int("length")?).map_err(|_| "length must be >= 0")?;
    if len > 1 << 16 {
        return Err("length too large for a test vector".into());
    }
    let mut out = vec![0u8; len];
    or_fail!(kdf::derive(
        prf,
        &inputs.bytes("shse")?,
        &inputs.bytes("context_rand")?,
        &mut out
    ));
    Ok(success([("output", hex(&out))]))
}

/// Inputs `suite`, and the random sources `owner_rng_seed`, `device_rng_seed`. With `xa`, only
/// the device side runs on that xA; with `xb`, only the owner side, finishing with that xB.
/// Fields `xa`, `xb`, `shse`, `context_rand`, and `agree` when both sides run.
fn kex_case(inputs: &Inputs<'_>) -> Result<Outcome, String> {
    let suite = KexSuite::new(inputs.text("suite")?);
    if let Some(xa) = inputs.opt_bytes("xa")? {
        let mut rng = SeededRng::new(&inputs.bytes("device_rng_seed")?);
        let (xb, secret) = or_fail!(kex::respond(&suite, &xa, &mut rng));
        return Ok(success([
            ("xb", hex(&xb)),
            ("shse", hex(secret.shse())),
            ("context_rand", hex(secret.context_rand())),
        ]));
    }
    let mut owner_rng = SeededRng::new(&inputs.bytes("owner_rng_seed")?);
    let (owner, xa) = or_fail!(kex::start(&suite, &mut owner_rng));
    if let Some(xb) = inputs.opt_bytes("xb")? {
        let secret = or_fail!(owner.finish(&xb));
        return Ok(success([
            ("xa", hex(&xa)),
            ("shse", hex(secret.shse())),
            ("context_rand", hex(secret.context_rand())),
        ]));
    }
    let mut device_rng = SeededRng::new(&inputs.bytes("device_rng_seed")?);
    let (xb, device_secret) = or_fail!(kex::respond(&suite, &xa, &mut device_rng));
    let owner_secret = or_fail!(owner.finish(&xb));
    Ok(success([
        ("xa", hex(&xa)),
        ("xb", hex(&xb)),
        ("shse", hex(owner_secret.shse())),
        ("context_rand", hex(owner_secret.context_rand())),
        (
            "agree",
            json!(
                owner_secret.shse() == device_secret.shse()
                    && owner_secret.context_rand() == device_secret.context_rand()
            ),
        ),
    ]))
}

// ---- COSE, EAT --------------------------------------------------------------------------------

/// Input `op`:
/// * `sign1-sign`: `signing_key` (PKCS#8), `payload`; fields `sign1`, `verifies`.
/// * `sign1-verify`: `sign1`, `key` (PublicKey CBOR); fields `payload`, `alg`.
/// * `encrypt0-seal`: `cipher_suite`, `sevk`, `plaintext`, `rng_seed`; field `encrypt0`.
/// * `encrypt0-open`: `cipher_suite`, `sevk`, `encrypt0`; field `plaintext`.
fn cose(inputs: &Inputs<'_>, crypto: &dyn CryptoProvider) -> Result<Outcome, String> {
    match inputs.text("op")? {
        "sign1-sign" => {
            let key = or_fail!(SigningKey::from_der(&inputs.bytes("signing_key")?));
            let payload = inputs.bytes("payload")?;
            let s = or_fail!(Sign1::sign(payload, Default::default(), &key));
            let public = or_fail!(key.public_key(PkEnc::X509));
            let verifies = s.verify(crypto, &public, "COSE_Sign1").is_ok();
            Ok(success([
                ("sign1", hex(s.bytes())),
                ("verifies", json!(verifies)),
            ]))
        }
        "sign1-verify" => {
            let s = or_fail!(Sign1::from_cbor(&inputs.bytes("sign1")?));
            let key = or_fail!(PublicKey::from_cbor(&inputs.bytes("key")?));
            or_fail!(s.verify(crypto, &key, "COSE_Sign1"));
            let alg = or_fail!(s.algorithm());
            Ok(success([
                ("payload", hex(s.payload())),
                ("alg", json!(alg.to_i64())),
            ]))
        }
        "encrypt0-seal" => {
            let keys = or_fail!(session_keys(inputs)?);
            let mut rng = SeededRng::new(&inputs.bytes("rng_seed")?);
            let sealed = or_fail!(keys.seal(&inputs.bytes("plaintext")?, &mut rng));
            Ok(success([("encrypt0", hex(&sealed))]))
        }
        "encrypt0-open" => {
            let keys = or_fail!(session_keys(inputs)?);
            let plain = or_fail!(keys.open(&inputs.bytes("encrypt0")?));
            Ok(success([("plaintext", hex(&plain))]))
        }
        other => Err(format!("unknown COSE op {other:?}")),
    }
}

fn session_keys(inputs: &Inputs<'_>) -> Result<Result<SessionKeys, Error>, String> {
    let suite = CipherSuite(inputs.int("cipher_suite")?);
    Ok(SessionKeys::from_sevk(suite, &inputs.bytes("sevk")?))
}

/// Inputs `eat`, `key` (the device's PublicKey CBOR), `nonce`, `guid`: the checks a verifier of
/// attestation evidence makes (FDO reference §2.3, §5.3 steps 1 to 3): the signature, the
/// nonce, the UEID. Fields `ueid_label`, `fdo_claim` (its encoding, or null),
/// `unprotected_nonce` (−259, or null).
fn eat(inputs: &Inputs<'_>, crypto: &dyn CryptoProvider) -> Result<Outcome, String> {
    let token = or_fail!(Eat::from_cbor(&inputs.bytes("eat")?));
    let key = or_fail!(PublicKey::from_cbor(&inputs.bytes("key")?));
    let nonce = or_fail!(Nonce::from_cbor(&cbor_bstr(&inputs.bytes("nonce")?)));
    let guid = or_fail!(Guid::from_cbor(&cbor_bstr(&inputs.bytes("guid")?)));
    or_fail!(token.sign1().verify(crypto, &key, "EAT"));
    if token.claims().nonce() != &nonce {
        return Ok(Outcome::from_error(&VerifyError::Nonce("EAT-NONCE").into()));
    }
    or_fail!(token.claims().check_ueid(&guid));
    let setup = or_fail!(token.unprotected_nonce());
    Ok(success([
        ("ueid_label", json!(token.claims().ueid_label().key())),
        (
            "fdo_claim",
            token.claims().fdo_raw().map_or(Value::Null, hex),
        ),
        (
            "unprotected_nonce",
            setup.map_or(Value::Null, |n| hex(n.as_bytes())),
        ),
    ]))
}

/// `bstr(b)`, so that a 16-byte input decodes with the strict `Guid` and `Nonce` decoders.
fn cbor_bstr(b: &[u8]) -> Vec<u8> {
    let mut e = vouch_protocol::cbor::Encoder::new();
    e.bytes(b);
    e.into_bytes()
}

// ---- TO2 state machines -----------------------------------------------------------------------

fn sent(out: &Outgoing) -> Vec<(&'static str, Value)> {
    vec![
        ("sends", json!(out.msg_type.0)),
        ("sends_body", hex(&out.body)),
    ]
}

/// The devmod a vector's device describes itself with: input `devmod`, an object of the
/// required text fields `os`, `arch`, `version`, `device`, `sep`, `bin`.
fn devmod(inputs: &Inputs<'_>) -> Result<Devmod, String> {
    devmod_from(inputs.value("devmod")?)
}

/// A devmod from its JSON form (see the `to2-device` inputs).
pub fn devmod_from(v: &Value) -> Result<Devmod, String> {
    let field = |name: &str| {
        v.get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("devmod.{name} must be a string"))
    };
    Ok(Devmod {
        active: true,
        os: field("os")?,
        arch: field("arch")?,
        version: field("version")?,
        device: field("device")?,
        sep: field("sep")?,
        bin: field("bin")?,
        ..Devmod::default()
    })
}

/// The device side of TO2 (FDO reference §5.2, §5.4). Inputs: `credential`, `device_key`
/// (PKCS#8), `kex_suite`, `cipher_suite`, `max_message_size`, `allow_credential_reuse`,
/// `devmod`, `rng_seed`, optional `to1d`; `prior`, the owner messages the device has already
/// accepted (its prior state), and `message`, the one under test. Without `message` the step
/// is the start (HelloDevice). Fields `sends`, `sends_body`; or, when TO2 ends, `finished`,
/// `reused`, `credential` (the new credential's CBOR).
fn to2_device(inputs: &Inputs<'_>, crypto: &dyn CryptoProvider) -> Result<Outcome, String> {
    let credential = DeviceCredential::from_any(&inputs.bytes("credential")?)
        .map_err(|e| format!("input \"credential\": {e}"))?;
    let key = SigningKey::from_der(&inputs.bytes("device_key")?)
        .map_err(|e| format!("input \"device_key\": {e}"))?;
    let config = DeviceConfig {
        kex_suite: KexSuite::new(inputs.text("kex_suite")?),
        cipher_suite: CipherSuite(inputs.int("cipher_suite")?),
        max_message_size: u16::try_from(inputs.int("max_message_size")?)
            .map_err(|_| "max_message_size must be a uint16")?,
        max_owner_service_info_size: None,
        allow_credential_reuse: inputs.flag("allow_credential_reuse")?,
    };
    let modules = DeviceModules::new(devmod(inputs)?);
    let to1d = match inputs.opt_bytes("to1d")? {
        Some(b) => Some(UnverifiedTo1d::from_cbor(&b).map_err(|e| format!("input \"to1d\": {e}"))?),
        None => None,
    };
    let mut rng = SeededRng::new(&inputs.bytes("rng_seed")?);
    let (hello, mut device) = or_fail!(To2Device::start(
        crypto,
        &credential,
        &key,
        config,
        modules,
        to1d,
        &mut rng
    ));
    if !inputs.has("message") {
        return Ok(success(sent(&hello)));
    }
    for (i, (t, body)) in inputs.messages("prior")?.into_iter().enumerate() {
        device = match device.receive(MessageType(t), &body, &mut rng) {
            Ok(DeviceStep::Send(_, next)) => next,
            Ok(DeviceStep::Finished(_)) => return Err(format!("prior message {i} ended TO2")),
            Err(e) => return Err(format!("prior message {i} refused: {e}")),
        };
    }
    let (t, body) = inputs.message("message")?;
    Ok(match device.receive(MessageType(t), &body, &mut rng) {
        Ok(DeviceStep::Send(out, _)) => success(sent(&out)),
        Ok(DeviceStep::Finished(outcome)) => success([
            ("finished", json!(true)),
            ("reused", json!(outcome.reused)),
            ("credential", hex(&outcome.credential.to_cbor())),
        ]),
        Err(e) => Outcome::from_flow(&e),
    })
}

/// The owner side of TO2 (FDO reference §5.1, §5.3, §5.5). Inputs: `message` and `rng_seed`;
/// for TO2.HelloDevice, `voucher` and `owner_key` (PKCS#8) and `max_message_size`; after it,
/// `state`, the owner's stored state (its CBOR), and for TO2.ProveDevice `replacement_guid`,
/// `replacement_rv_info` (CBOR) and `owner2_key` (PKCS#8). Fields `sends`, `sends_body`, and
/// `next_state` (the state to store), or `replacement_voucher` when TO2 ends.
fn to2_owner(inputs: &Inputs<'_>, crypto: &dyn CryptoProvider) -> Result<Outcome, String> {
    let (t, body) = inputs.message("message")?;
    let t = MessageType(t);
    let mut rng = SeededRng::new(&inputs.bytes("rng_seed")?);
    let step: Result<Vec<(&'static str, Value)>, FlowError> = match inputs.opt_bytes("state")? {
        None => {
            let voucher = OwnershipVoucher::from_bytes(&inputs.bytes("voucher")?)
                .map_err(|e| format!("input \"voucher\": {e}"))?;
            let owner = SigningKey::from_der(&inputs.bytes("owner_key")?)
                .map_err(|e| format!("input \"owner_key\": {e}"))?;
            let config = OwnerConfig {
                max_message_size: u16::try_from(inputs.int("max_message_size")?)
                    .map_err(|_| "max_message_size must be a uint16")?,
                max_device_service_info_size: None,
            };
            let found = match hello_device_guid(t, &body) {
                Err(e) => return Ok(Outcome::from_flow(&e)),
                Ok(guid) if guid == voucher.guid() => Some(
                    voucher
                        .verify(crypto, None, None)
                        .map_err(|e| format!("input \"voucher\" does not verify: {e}"))?,
                ),
                Ok(_) => None,
            };
            hello_device(crypto, &config, t, &body, found, &owner, &mut rng).map(|(out, s)| {
                let mut f = sent(&out);
                f.push(("next_state", hex(&OwnerState::from(s).to_cbor())));
                f
            })
        }
        Some(state) => {
            let state =
                OwnerState::from_cbor(&state).map_err(|e| format!("input \"state\": {e}"))?;
            owner_step(inputs, crypto, state, t, &body, &mut rng)?
        }
    };
    Ok(match step {
        Ok(fields) => success(fields),
        Err(e) => Outcome::from_flow(&e),
    })
}

fn owner_step(
    inputs: &Inputs<'_>,
    crypto: &dyn CryptoProvider,
    state: OwnerState,
    t: MessageType,
    body: &[u8],
    rng: &mut SeededRng,
) -> Result<Result<StepFields, FlowError>, String> {
    let with_state = |(out, s): (Outgoing, OwnerState)| {
        let mut f = sent(&out);
        f.push(("next_state", hex(&s.to_cbor())));
        f
    };
    Ok(match state {
        OwnerState::ProveDevice(s) if t == MessageType::TO2_GET_OV_NEXT_ENTRY => s
            .get_ov_next_entry(t, body)
            .map(|(o, s)| with_state((o, s.into()))),
        OwnerState::ProveDevice(s) => {
            let guid = Guid::from_cbor(&cbor_bstr(&inputs.bytes("replacement_guid")?))
                .map_err(|e| format!("input \"replacement_guid\": {e}"))?;
            let rv_info = RendezvousInfo::from_cbor(&inputs.bytes("replacement_rv_info")?)
                .map_err(|e| format!("input \"replacement_rv_info\": {e}"))?;
            let owner2 = SigningKey::from_der(&inputs.bytes("owner2_key")?)
                .map_err(|e| format!("input \"owner2_key\": {e}"))?;
            let replacement = Replacement { guid, rv_info };
            s.prove_device(crypto, t, body, &replacement, &owner2, rng)
                .map(|(o, s)| with_state((o, s.into())))
        }
        OwnerState::ServiceInfoReady(s) => s
            .device_service_info_ready(t, body, rng)
            .map(|(o, s)| with_state((o, s.into()))),
        OwnerState::ServiceInfo(s) if t == MessageType::TO2_DONE => {
            s.done(crypto, t, body, rng).map(|(out, outcome)| {
                let mut f = sent(&out);
                f.push((
                    "replacement_voucher",
                    outcome
                        .replacement_voucher
                        .map_or(Value::Null, |v| hex(&v.to_cbor())),
                ));
                f
            })
        }
        OwnerState::ServiceInfo(s) => {
            let mut modules = OwnerModules::new();
            s.device_service_info(t, body, &mut modules, rng)
                .map(|(o, s)| with_state((o, s.into())))
        }
    })
}

// ---- rendezvous server ------------------------------------------------------------------------

fn uint(inputs: &Inputs<'_>, name: &str) -> Result<u64, String> {
    u64::try_from(inputs.int(name)?).map_err(|_| format!("input {name:?} must be >= 0"))
}

/// The TO0 rendezvous server (FDO reference §2.2). Inputs: `message`; for TO0.Hello,
/// `rng_seed`; for TO0.OwnerSign, `state` (the server's stored state, vouch's CBOR), `now`
/// (Unix seconds) and `max_wait` (the longest registration granted). Fields `sends`,
/// `sends_body`, and `next_state` or `registration` (what the server stores, vouch's CBOR).
fn to0_rv(inputs: &Inputs<'_>, crypto: &dyn CryptoProvider) -> Result<Outcome, String> {
    let (t, body) = inputs.message("message")?;
    let t = MessageType(t);
    let Some(state) = inputs.opt_bytes("state")? else {
        let mut rng = SeededRng::new(&inputs.bytes("rng_seed")?);
        return Ok(match rv_hello(t, &body, &mut rng) {
            Ok((out, s)) => {
                let mut f = sent(&out);
                f.push(("next_state", hex(&s.to_cbor())));
                success(f)
            }
            Err(e) => Outcome::from_flow(&e),
        });
    };
    let state = RvTo0State::from_cbor(&state).map_err(|e| format!("input \"state\": {e}"))?;
    let max_wait =
        u32::try_from(inputs.int("max_wait")?).map_err(|_| "max_wait must be a uint32")?;
    Ok(
        match rv_owner_sign(state, t, &body, crypto, uint(inputs, "now")?, max_wait) {
            Ok((out, registration)) => {
                let mut f = sent(&out);
                f.push(("registration", hex(&registration.to_cbor())));
                success(f)
            }
            Err(e) => Outcome::from_flow(&e),
        },
    )
}

/// The TO1 rendezvous server (FDO reference §2.3). Inputs: `message`; for TO1.HelloRV,
/// `rng_seed`, `now` and optionally `registration` (what TO0 stored, vouch's CBOR; used when
/// its GUID is the one asked for, as a lookup would); for TO1.ProveToRV, `state` (vouch's
/// CBOR). Fields `sends`, `sends_body`, and `next_state` after TO1.HelloRV.
fn to1_rv(inputs: &Inputs<'_>, crypto: &dyn CryptoProvider) -> Result<Outcome, String> {
    let (t, body) = inputs.message("message")?;
    let t = MessageType(t);
    if let Some(state) = inputs.opt_bytes("state")? {
        let state = RvTo1State::from_cbor(&state).map_err(|e| format!("input \"state\": {e}"))?;
        return Ok(match rv_prove_to_rv(state, t, &body, crypto) {
            Ok(out) => success(sent(&out)),
            Err(e) => Outcome::from_flow(&e),
        });
    }
    let registration = match inputs.opt_bytes("registration")? {
        Some(b) => {
            Some(Registration::from_cbor(&b).map_err(|e| format!("input \"registration\": {e}"))?)
        }
        None => None,
    };
    let guid = match hello_rv_guid(t, &body) {
        Ok(g) => g,
        Err(e) => return Ok(Outcome::from_flow(&e)),
    };
    let found = registration.as_ref().filter(|r| r.guid == guid);
    let mut rng = SeededRng::new(&inputs.bytes("rng_seed")?);
    Ok(
        match rv_hello_rv(t, &body, found, uint(inputs, "now")?, &mut rng) {
            Ok((out, s)) => {
                let mut f = sent(&out);
                f.push(("next_state", hex(&s.to_cbor())));
                success(f)
            }
            Err(e) => Outcome::from_flow(&e),
        },
    )
}

// ---- ServiceInfo --------------------------------------------------------------------------------

/// ServiceInfo across messages (FDO reference §2.5, §6 pitfall 9). Input `op`:
/// * `reassemble`: `messages`, the ServiceInfo arrays received in order (CBOR), and optionally
///   `max_buffered` (the cap on one unfinished value); field `values`, the logical key/values
///   (`[{"key", "value"}]`, each value one complete CBOR item).
/// * `chunk`: `values` (`[{"key", "value"}]`) and `limit` (the peer's ServiceInfo size); field
///   `messages`, the ServiceInfo arrays to send (CBOR), each within the limit.
fn serviceinfo(inputs: &Inputs<'_>) -> Result<Outcome, String> {
    let kv_json = |kv: &ServiceInfoKv| json!({ "key": kv.key, "value": hex::encode(&kv.value) });
    match inputs.text("op")? {
        "reassemble" => {
            let max = if inputs.has("max_buffered") {
                usize::try_from(inputs.int("max_buffered")?).map_err(|_| "max_buffered >= 0")?
            } else {
                DEFAULT_MAX_BUFFERED
            };
            let mut r = Reassembler::new(max);
            let mut values = Vec::new();
            for m in inputs.bytes_list("messages")? {
                let si = or_fail!(ServiceInfo::from_cbor(&m));
                for kv in si.0 {
                    values.extend(or_fail!(r.push(kv)).iter().map(kv_json));
                }
            }
            or_fail!(r.finish());
            Ok(success([("values", Value::Array(values))]))
        }
        "chunk" => {
            let limit =
                u16::try_from(inputs.int("limit")?).map_err(|_| "limit must be a uint16")?;
            let mut c = Chunker::new();
            let list = inputs
                .value("values")?
                .as_array()
                .ok_or("input \"values\" must be a list")?;
            for v in list {
                let key = v
                    .get("key")
                    .and_then(Value::as_str)
                    .ok_or("a value needs a key")?;
                let value = v
                    .get("value")
                    .and_then(Value::as_str)
                    .ok_or("a value needs a hex value")?;
                let value = hex::decode(value).map_err(|e| format!("bad hex: {e}"))?;
                c.push(ServiceInfoKv {
                    key: key.to_string(),
                    value,
                });
            }
            let mut messages = Vec::new();
            while !c.is_empty() {
                if messages.len() > 10_000 {
                    return Err("more than 10000 messages".into());
                }
                messages.push(hex(&or_fail!(c.next_message(limit)).to_cbor()));
            }
            Ok(success([("messages", Value::Array(messages))]))
        }
        other => Err(format!("unknown ServiceInfo op {other:?}")),
    }
}

// ---- DI -------------------------------------------------------------------------------------------

/// DI (FDO reference §2.1). Input `message`. The manufacturer's step, when `state` (its stored
/// state after DI.SetCredentials, vouch's CBOR) is given: DI.SetHMAC, fields `sends`,
/// `sends_body`, `voucher` (the new voucher's CBOR). Otherwise the device's: DI.SetCredentials
/// with `rng_seed` (the HMAC secret's source) and optional `device_alg` (the COSE algorithm of
/// its attestation key), fields `sends`, `sends_body`; with `done`, the manufacturer's DI.Done,
/// the field `credential` (its CBOR) too.
fn di(inputs: &Inputs<'_>, crypto: &dyn CryptoProvider) -> Result<Outcome, String> {
    let (t, body) = inputs.message("message")?;
    let t = MessageType(t);
    if let Some(state) = inputs.opt_bytes("state")? {
        let state =
            ManufacturerDiState::from_cbor(&state).map_err(|e| format!("input \"state\": {e}"))?;
        return Ok(match set_hmac(state, t, &body, crypto) {
            Ok((out, voucher)) => {
                let mut f = sent(&out);
                f.push(("voucher", hex(&voucher.to_cbor())));
                success(f)
            }
            Err(e) => Outcome::from_flow(&e),
        });
    }
    let device_alg = if inputs.has("device_alg") {
        let a = inputs.int("device_alg")?;
        Some(
            vouch_protocol::crypto::SigAlg::from_i64(a)
                .ok_or_else(|| format!("unknown COSE algorithm {a}"))?,
        )
    } else {
        None
    };
    let (_, device) = DiDevice::start(device_alg, messages::di::DeviceMfgInfo::null());
    let mut rng = SeededRng::new(&inputs.bytes("rng_seed")?);
    let (out, hmac_sent) = match device.set_credentials(t, &body, crypto, &mut rng) {
        Ok(v) => v,
        Err(e) => return Ok(Outcome::from_flow(&e)),
    };
    let mut fields = sent(&out);
    if inputs.has("done") {
        let (dt, db) = inputs.message("done")?;
        match hmac_sent.done(MessageType(dt), &db) {
            Ok(credential) => fields.push(("credential", hex(&credential.to_cbor()))),
            Err(e) => return Ok(Outcome::from_flow(&e)),
        }
    }
    Ok(success(fields))
}

// ---- the clients of the rendezvous server ---------------------------------------------------------

/// The owner's side of TO0 (FDO reference §2.2). Inputs `voucher`, `owner_key` (PKCS#8),
/// `addresses` (the CBOR array of RVTO2AddrEntry to register), `wait_seconds`; optional
/// `message` (TO0.HelloAck) and, after it, `accept` (TO0.AcceptOwner). Fields `sends` and
/// `sends_body` of the last message sent, and `granted` after `accept`.
fn to0_owner(inputs: &Inputs<'_>, crypto: &dyn CryptoProvider) -> Result<Outcome, String> {
    use vouch_protocol::cbor::{Decoder, decode_array};
    use vouch_protocol::messages::to0::RvTo2Addr;
    let voucher = or_fail!(OwnershipVoucher::from_bytes(&inputs.bytes("voucher")?));
    let owner = SigningKey::from_der(&inputs.bytes("owner_key")?)
        .map_err(|e| format!("input \"owner_key\": {e}"))?;
    let addresses = inputs.bytes("addresses")?;
    let mut d = Decoder::new(&addresses);
    let addresses: Vec<RvTo2Addr> =
        or_fail!(decode_array(&mut d, "to1dRV (array of RVTO2AddrEntry)"));
    or_fail!(d.finish("end of to1dRV"));
    let wait = u32::try_from(inputs.int("wait_seconds")?).map_err(|_| "wait_seconds: uint32")?;
    let verified = or_fail!(voucher.verify(crypto, None, None));
    let (hello, owner_state) = or_fail!(To0Owner::start(verified, addresses, wait));
    if !inputs.has("message") {
        return Ok(success(sent(&hello)));
    }
    let (t, body) = inputs.message("message")?;
    let (out, signed) = match owner_state.hello_ack(MessageType(t), &body, crypto, &owner) {
        Ok(v) => v,
        Err(e) => return Ok(Outcome::from_flow(&e)),
    };
    let mut fields = sent(&out);
    if inputs.has("accept") {
        let (t, body) = inputs.message("accept")?;
        match signed.accept_owner(MessageType(t), &body) {
            Ok(granted) => fields.push(("granted", json!(granted))),
            Err(e) => return Ok(Outcome::from_flow(&e)),
        }
    }
    Ok(success(fields))
}

/// The device's side of TO1 (FDO reference §2.3). Inputs `credential`, `device_key` (PKCS#8),
/// `sg_type` (eASigInfo's sgType); optional `message` (TO1.HelloRVAck) and, after it,
/// `redirect` (TO1.RVRedirect). Fields `sends` and `sends_body` of the last message sent, and
/// `to1d` (the blob, not yet verified) after `redirect`.
fn to1_device(inputs: &Inputs<'_>) -> Result<Outcome, String> {
    let credential = DeviceCredential::from_any(&inputs.bytes("credential")?)
        .map_err(|e| format!("input \"credential\": {e}"))?;
    let key = SigningKey::from_der(&inputs.bytes("device_key")?)
        .map_err(|e| format!("input \"device_key\": {e}"))?;
    let sig_info = SigInfo::new(vouch_protocol::types::SgType(inputs.int("sg_type")?));
    let (hello, device) = or_fail!(To1Device::start(&credential, sig_info));
    if !inputs.has("message") {
        return Ok(success(sent(&hello)));
    }
    let (t, body) = inputs.message("message")?;
    let (out, proved) = match device.hello_rv_ack(MessageType(t), &body, &key) {
        Ok(v) => v,
        Err(e) => return Ok(Outcome::from_flow(&e)),
    };
    let mut fields = sent(&out);
    if inputs.has("redirect") {
        let (t, body) = inputs.message("redirect")?;
        match proved.rv_redirect(MessageType(t), &body) {
            Ok(to1d) => fields.push(("to1d", hex(&to1d.to_cbor()))),
            Err(e) => return Ok(Outcome::from_flow(&e)),
        }
    }
    Ok(success(fields))
}

// ---- the device's signed reports ------------------------------------------------------------

/// A refusal of the `report` and `pin` kinds: they are not FDO messages, so no FDO error code
/// (0); `error` names the check (see the README).
fn refused(error: &str, text: impl ToString) -> Outcome {
    Outcome::Failure {
        fdo_error: 0,
        error: error.to_string(),
        text: text.to_string(),
    }
}

/// A signed report of an onboarded device, checked the way its owner checks it. Inputs
/// `report` (`rotation`: a WebTransport rotation report; `renewal`: a renewal request),
/// `signed` (the COSE_Sign1), `device_key` (the attestation key, PublicKey CBOR), `guid`, `now`
/// (Unix seconds). A renewal request the protocol accepts has its CSR checked next, as the
/// relying party does before it certifies the key. Fields: `guid`, `successor_cert_sha256`,
/// `not_after`; or `guid`, `csr`, `issued_at`, `csr_spki_sha256`.
fn report(inputs: &Inputs<'_>, crypto: &dyn CryptoProvider) -> Result<Outcome, String> {
    use vouch_protocol::reports::renewal::{RenewError, RenewRequest};
    use vouch_protocol::reports::rotation::{RotationError, WtRotation};

    let signed = inputs.bytes("signed")?;
    let key = or_fail!(PublicKey::from_cbor(&inputs.bytes("device_key")?));
    let guid = or_fail!(Guid::from_cbor(&cbor_bstr(&inputs.bytes("guid")?)));
    let now = uint(inputs, "now")?;
    match inputs.text("report")? {
        "rotation" => match WtRotation::verify(&signed, crypto, &key, guid, now) {
            Ok(verified) => {
                let r = verified.rotation();
                Ok(success([
                    ("guid", hex(r.guid.as_bytes())),
                    ("successor_cert_sha256", hex(&r.successor_cert_sha256)),
                    ("not_after", json!(r.not_after)),
                ]))
            }
            Err(e) => Ok(refused(
                match &e {
                    RotationError::Malformed(_) => "malformed",
                    RotationError::Signature(_) => "signature",
                    RotationError::WrongGuid { .. } => "wrong-guid",
                    RotationError::Expired { .. } => "expired",
                    RotationError::TooLong { .. } => "too-long",
                    _ => "other",
                },
                e,
            )),
        },
        "renewal" => match RenewRequest::verify(&signed, crypto, &key, guid, now) {
            Ok(verified) => {
                let r = verified.request();
                let checked = match vouch_relying_party::csr::check(&r.csr) {
                    Ok(checked) => checked,
                    Err(e) => return Ok(refused(csr_error_kind(&e), e)),
                };
                let spki_sha256 = or_fail!(crypto.hash(HashAlg::SHA256, &[&checked.spki_der]));
                Ok(success([
                    ("guid", hex(r.guid.as_bytes())),
                    ("csr", hex(&r.csr)),
                    ("issued_at", json!(r.issued_at)),
                    ("csr_spki_sha256", hex(spki_sha256.value())),
                ]))
            }
            Err(e) => Ok(refused(
                match &e {
                    RenewError::Malformed(_) => "malformed",
                    RenewError::Signature(_) => "signature",
                    RenewError::WrongGuid { .. } => "wrong-guid",
                    RenewError::Stale { .. } => "clock-skew(past)",
                    RenewError::FromTheFuture { .. } => "clock-skew(future)",
                    _ => "other",
                },
                e,
            )),
        },
        other => Err(format!("unknown report {other:?}")),
    }
}

// ---- what the relying party pins ------------------------------------------------------------

/// The kind of a refusal of `vouch_relying_party::csr::check`, from the reason it gives (the
/// function returns text): `csr.not-der`, `csr.trailing-bytes`, `csr.signature`, `csr.key`; a
/// reason it does not recognise is `csr.other`, so a changed message fails the case.
fn csr_error_kind(reason: &str) -> &'static str {
    if reason.starts_with("not a DER PKCS#10 request") {
        "csr.not-der"
    } else if reason.contains("bytes after the PKCS#10 request") {
        "csr.trailing-bytes"
    } else if reason.starts_with("its signature does not verify") {
        "csr.signature"
    } else if reason.starts_with("its key") || reason.starts_with("it holds a") {
        "csr.key"
    } else {
        "csr.other"
    }
}

/// The kind of a refusal of the owner CA (`OwnerCa::generate`, `OwnerCa::issue`), from its
/// message; `owner-ca.other` when it is not recognised.
fn owner_ca_error_kind(message: &str) -> &'static str {
    if message.contains("needs at least one DNS name or address") {
        "owner-ca.empty"
    } else if message.contains("is outside the owner CA's zone") {
        "owner-ca.name-outside-zone"
    } else if message.contains("is outside the owner CA's address ranges") {
        "owner-ca.address-outside-ranges"
    } else if message.starts_with("the name ") {
        "owner-ca.bad-name"
    } else if message.contains("P-256 and P-384") || message.contains("not a P-256 or P-384") {
        "owner-ca.key"
    } else {
        "owner-ca.other"
    }
}

/// A list of strings input.
fn strings(inputs: &Inputs<'_>, name: &str) -> Result<Vec<String>, String> {
    inputs
        .value(name)?
        .as_array()
        .ok_or_else(|| format!("input {name:?} must be a list of strings"))?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("input {name:?} must be a list of strings"))
        })
        .collect()
}

/// What the relying party pins, computed by its own functions. Input `op`:
/// * `certificate` (`certificate`, DER): fields `spki_sha256` (the TLS pin), `spki_base64` (as
///   Chromium names it), `cert_sha256` (the WebTransport pin: the whole certificate);
/// * `csr` (`csr`, DER): the check of a device's PKCS#10 request; fields `spki_sha256`,
///   `key_type`;
/// * `owner-ca` (`zone`, `ranges`, a fresh owner CA; `key`, a SubjectPublicKeyInfo DER;
///   `dns_names`, `addresses`, `now`, `validity` in seconds): the CA issues a certificate or
///   refuses; fields `dns_names`, `addresses` (its subjectAltName), `spki_sha256`, `not_before`,
///   `not_after`, `signed_by_ca`.
fn pin(inputs: &Inputs<'_>, crypto: &dyn CryptoProvider) -> Result<Outcome, String> {
    use vouch_relying_party::{pinning, pins};

    let sha256 = |b: &[u8]| crypto.hash(HashAlg::SHA256, &[b]);
    match inputs.text("op")? {
        "certificate" => {
            let der = inputs.bytes("certificate")?;
            let spki = match pinning::spki_sha256(&der) {
                Ok(spki) => spki,
                Err(e) => return Ok(refused("certificate", format!("{e:#}"))),
            };
            let whole = or_fail!(sha256(&der));
            Ok(success([
                ("spki_sha256", hex(&spki)),
                ("spki_base64", json!(pins::spki_base64(&spki))),
                ("cert_sha256", hex(whole.value())),
            ]))
        }
        "csr" => match vouch_relying_party::csr::check(&inputs.bytes("csr")?) {
            Ok(checked) => {
                let spki = or_fail!(sha256(&checked.spki_der));
                Ok(success([
                    ("spki_sha256", hex(spki.value())),
                    ("key_type", json!(checked.key.kind())),
                ]))
            }
            Err(e) => Ok(refused(csr_error_kind(&e), e)),
        },
        "owner-ca" => owner_ca(inputs, &sha256),
        other => Err(format!("unknown op {other:?}")),
    }
}

/// The `owner-ca` operation of [`pin`].
fn owner_ca(
    inputs: &Inputs<'_>,
    sha256: &dyn Fn(&[u8]) -> Result<types::Hash, Error>,
) -> Result<Outcome, String> {
    use std::net::IpAddr;
    use std::time::Duration;
    use vouch_relying_party::owner_ca::OwnerCa;
    use x509_parser::extensions::GeneralName;

    let ranges = strings(inputs, "ranges")?;
    let names = strings(inputs, "dns_names")?;
    let addresses = strings(inputs, "addresses")?
        .iter()
        .map(|a| {
            a.parse::<IpAddr>()
                .map_err(|e| format!("input \"addresses\": {a:?}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let now = i64::try_from(uint(inputs, "now")?).map_err(|_| "input \"now\" is too large")?;
    let validity = Duration::from_secs(uint(inputs, "validity")?);
    let ca = match OwnerCa::generate(inputs.text("zone")?, &ranges) {
        Ok(ca) => ca,
        Err(e) => return Ok(refused("owner-ca.constraints", format!("{e:#}"))),
    };
    let der = match ca.issue(&inputs.bytes("key")?, &names, &addresses, validity, now) {
        Ok(der) => der,
        Err(e) => {
            let message = format!("{e:#}");
            return Ok(refused(owner_ca_error_kind(&message), message));
        }
    };
    // What was issued, read back from the certificate.
    let (rest, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| format!("the issued certificate does not parse: {e}"))?;
    if !rest.is_empty() {
        return Err("the issued certificate has trailing bytes".into());
    }
    let (_, ca_cert) = x509_parser::parse_x509_certificate(ca.cert_der())
        .map_err(|e| format!("the CA certificate does not parse: {e}"))?;
    let (mut dns_names, mut ips) = (Vec::new(), Vec::new());
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(n) => dns_names.push(json!(n)),
                GeneralName::IPAddress(b) => ips.push(match b.len() {
                    4 => <[u8; 4]>::try_from(*b).map_or(json!(hex::encode(b)), |a| {
                        json!(IpAddr::from(a).to_string())
                    }),
                    _ => <[u8; 16]>::try_from(*b).map_or(json!(hex::encode(b)), |a| {
                        json!(IpAddr::from(a).to_string())
                    }),
                }),
                other => dns_names.push(json!(format!("{other:?}"))),
            }
        }
    }
    let spki = or_fail!(sha256(cert.public_key().raw));
    let signed_by_ca = cert.issuer() == ca_cert.subject()
        && cert.verify_signature(Some(ca_cert.public_key())).is_ok();
    Ok(success([
        ("dns_names", Value::Array(dns_names)),
        ("addresses", Value::Array(ips)),
        ("spki_sha256", hex(spki.value())),
        ("not_before", json!(cert.validity().not_before.timestamp())),
        ("not_after", json!(cert.validity().not_after.timestamp())),
        ("signed_by_ca", json!(signed_by_ca)),
    ]))
}
