//! TO2 on the owner (FDO reference §5.1, §5.3, §5.5): start/finish steps over states the
//! relying party stores between requests. See the [module documentation](super) for why these
//! states are confidential.

use alloc::boxed::Box;
use alloc::string::ToString;
use alloc::vec::Vec;
use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::{
    check_suites, derive_sevk, internal, invalid_message, kex_suite_valid, open, owner_kex,
    owner2_encoding, plain, seal, sg_type_fits, unexpected, verify_sign1,
};
use crate::cbor::{Bstr, Cbor, Decoder, Encoder, Raw};
use crate::crypto::aead::{CipherSuite, SessionKeys};
use crate::crypto::kex::KexSuite;
use crate::crypto::{CryptoProvider, Signer};
use crate::error::VerifyError;
use crate::flows::to1::device_attestation_key;
use crate::flows::{FlowError, Outgoing, decode_state_head, encode_state_head, random_nonce};
use crate::messages::MessageType;
use crate::messages::to2::{
    DeviceServiceInfo, DeviceServiceInfoReady, Done, Done2, GetOvNextEntry, HelloDevice,
    OvNextEntry, OwnerServiceInfo, OwnerServiceInfoReady, ProveDevice, ProveOvHdr,
    ProveOvHdrPayload, SetupDevice, SetupDevicePayload,
};
use crate::serviceinfo::{Devmod, OwnerExchange, OwnerModules};
use crate::types::{Guid, HMac, Nonce, PkEnc, ProtocolVersion, RendezvousInfo};
use crate::voucher::{OvHeader, OwnershipVoucher, VerifiedVoucher};
use crate::{Error, ErrorCode};

/// The owner's settings for TO2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnerConfig {
    /// maxOwnerMessageSize, sent in TO2.ProveOVHdr: the largest message the owner can receive.
    pub max_message_size: u16,
    /// maxDeviceServiceInfoSz, sent in TO2.OwnerServiceInfoReady: the largest ServiceInfo
    /// message the owner can receive (`None`: the default 1300).
    pub max_device_service_info_size: Option<u16>,
}

impl Default for OwnerConfig {
    /// 65535-byte messages (go-fdo's default) and the default ServiceInfo size.
    fn default() -> Self {
        Self {
            max_message_size: u16::MAX,
            max_device_service_info_size: None,
        }
    }
}

/// The credentials the owner gives the device in TO2.SetupDevice (with Owner2Key, the public
/// key of the signer passed to [`ExpectProveDevice::prove_device`]).
///
/// The same GUID, the same RendezvousInfo and the current owner key ask the device for
/// credential reuse ([`ExpectProveDevice::reuse`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replacement {
    /// GUID'.
    pub guid: Guid,
    /// RVInfo'.
    pub rv_info: RendezvousInfo,
}

/// What the owner ends TO2 with.
#[derive(Clone, Debug)]
pub struct OwnerOutcome {
    /// The device's GUID during this TO2 (the voucher's).
    pub guid: Guid,
    /// The voucher to store in place of the old one:
    /// `[protver, bstr(OVHeader'), ReplacementHMac, same chain, []]`. It has no entries: extend
    /// it (with Owner2Key) before the next TO0. `None` under credential reuse, when the old
    /// voucher stays valid.
    pub replacement_voucher: Option<OwnershipVoucher>,
    /// The device's devmod.
    pub devmod: Option<Devmod>,
}

/// Reads the GUID of TO2.HelloDevice (60), to look its voucher up before calling
/// [`hello_device`].
pub fn hello_device_guid(msg_type: MessageType, body: &[u8]) -> Result<Guid, FlowError> {
    let hello: HelloDevice = plain(msg_type, body)?;
    Ok(hello.guid)
}

/// Handles TO2.HelloDevice (60) given the voucher stored for its GUID (`None` if there is
/// none), verified ([`OwnershipVoucher::verify`]); `owner` is the current owner's key, the
/// voucher's last entry key. Makes the checks of FDO reference §5.1 and answers
/// TO2.ProveOVHdr (61).
///
/// No voucher, or one without entries, is RESOURCE_NOT_FOUND (6). A suite not implemented or
/// not valid for the key types, or an sgType that does not match the device, is
/// MESSAGE_BODY_ERROR (100). A voucher for another GUID, an owner key that is not the
/// voucher's, or an FDO 1.0 voucher is INTERNAL_SERVER_ERROR (500).
pub fn hello_device(
    crypto: &dyn CryptoProvider,
    config: &OwnerConfig,
    msg_type: MessageType,
    body: &[u8],
    voucher: Option<VerifiedVoucher>,
    owner: &dyn Signer,
    rng: &mut dyn CryptoRng,
) -> Result<(Outgoing, ExpectProveDevice), FlowError> {
    if msg_type != MessageType::TO2_HELLO_DEVICE {
        return Err(unexpected(msg_type, body, MessageType::TO2_HELLO_DEVICE));
    }
    // The request's exact bytes: helloDeviceHash covers them.
    let hello = Raw::<HelloDevice>::from_bytes(body).map_err(|e| FlowError::new(e, msg_type))?;
    let internal = |e: Error| internal(e, msg_type);
    let malformed = |e: Error| FlowError::new(e, msg_type);
    // 1. A voucher with at least one entry.
    let not_found = |e: Error| FlowError::with_code(e, msg_type, ErrorCode::RESOURCE_NOT_FOUND);
    let verified =
        voucher.ok_or_else(|| not_found(Error::invalid("GUID", "no ownership voucher for it")))?;
    if verified.voucher().guid() != hello.guid {
        return Err(internal(Error::Misuse(
            "the voucher given is not the one for the HelloDevice GUID",
        )));
    }
    verified.require_entries().map_err(not_found)?;
    let voucher = verified.into_voucher();
    if voucher.protocol_version() != ProtocolVersion::V101 {
        return Err(internal(Error::unsupported(
            "TO2 with an FDO 1.0 voucher (extend a 1.1 voucher instead)",
        )));
    }
    let num_entries = u8::try_from(voucher.entries().len())
        .map_err(|_| internal(Error::invalid("voucher", "more than 255 entries")))?;
    // 4. The owner signs with the last entry's key.
    let owner_pk = owner.public_key(PkEnc::X509).map_err(internal)?;
    if !crypto
        .same_key(&owner_pk, voucher.owner_key())
        .map_err(internal)?
    {
        return Err(internal(Error::Misuse(
            "the owner signer is not the voucher's owner key",
        )));
    }
    // 2. Suites implemented and valid for the device and owner key types.
    check_suites(&hello.kex_suite, hello.cipher_suite).map_err(malformed)?;
    let device_key = device_attestation_key(&voucher).map_err(malformed)?;
    // 3. sgType matches the voucher's key types (fdo-rs' ES384 for P-256 accepted).
    let sg = hello.sig_info.sg_type;
    let mfg_type = voucher.header().manufacturer_key.pk_type;
    if !sg_type_fits(sg, device_key.pk_type, mfg_type) {
        return Err(malformed(Error::invalid(
            "eASigInfo",
            alloc::format!(
                "{sg} does not match the {} device key or the {mfg_type} manufacturer key",
                device_key.pk_type
            ),
        )));
    }
    let owner_type = voucher.owner_key().pk_type;
    if !kex_suite_valid(&hello.kex_suite, device_key.pk_type, owner_type) {
        return Err(malformed(Error::unsupported(alloc::format!(
            "{} with a {} device key and a {owner_type} owner key",
            hello.kex_suite,
            device_key.pk_type
        ))));
    }
    // 5. helloDeviceHash over the request as received, with the voucher's hash (go-fdo).
    let alg = match &voucher.header().cert_chain_hash {
        Some(h) => h.alg(),
        None => voucher.entry_hash_alg().map_err(internal)?,
    };
    let hello_device_hash = crypto.hash(alg, &[hello.bytes()]).map_err(internal)?;
    // 6. NonceTO2ProveDv and xA.
    let prove_dv_nonce = random_nonce(rng);
    let mut kex_seed = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(&mut kex_seed[..]);
    let (_, xa) = owner_kex(&kex_seed, &hello.kex_suite).map_err(internal)?;
    // 7. The header bytes exactly as stored.
    let payload = ProveOvHdrPayload {
        header: Bstr::from_contents(voucher.header_bytes()).map_err(internal)?,
        num_entries,
        hmac: voucher.hmac().clone(),
        nonce: hello.nonce,
        sig_info: hello.sig_info.clone(),
        xa: xa.clone(),
        hello_device_hash,
        max_message_size: config.max_message_size,
    };
    let msg =
        ProveOvHdr::sign(payload, prove_dv_nonce, voucher.owner_key(), owner).map_err(internal)?;
    let hello = hello.into_value();
    Ok((
        Outgoing::new(&msg),
        ExpectProveDevice {
            voucher: Box::new(voucher),
            kex_suite: hello.kex_suite,
            cipher_suite: hello.cipher_suite,
            prove_dv_nonce,
            kex_seed,
            xa,
            max_device_service_info_size: config.max_device_service_info_size,
        },
    ))
}

const TAG_PROVE_DEVICE: &str = "vouch-to2-owner-prove-device";
const TAG_SERVICE_INFO_READY: &str = "vouch-to2-owner-service-info-ready";
const TAG_SERVICE_INFO: &str = "vouch-to2-owner-service-info";
const STATE_VERSION: u64 = 1;

/// TO2 on the owner: ProveOVHdr sent; serves the voucher entries and waits for ProveDevice.
///
/// **Confidential**: holds the seed of the owner's key-exchange key.
///
/// ```text
/// ["vouch-to2-owner-prove-device", 1, voucher: OwnershipVoucher, kexSuiteName,
///  cipherSuiteName, NonceTO2ProveDv, kex_seed: bstr(32), xA: bstr,
///  maxDeviceServiceInfoSz: uint16 / null]
/// ```
pub struct ExpectProveDevice {
    voucher: Box<OwnershipVoucher>,
    kex_suite: KexSuite,
    cipher_suite: CipherSuite,
    prove_dv_nonce: Nonce,
    kex_seed: Zeroizing<[u8; 32]>,
    xa: Vec<u8>,
    max_device_service_info_size: Option<u16>,
}

impl fmt::Debug for ExpectProveDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExpectProveDevice")
            .field("guid", &self.voucher.guid())
            .field("kex_suite", &self.kex_suite)
            .field("cipher_suite", &self.cipher_suite)
            .finish_non_exhaustive()
    }
}

impl ExpectProveDevice {
    /// The device's GUID.
    pub fn guid(&self) -> Guid {
        self.voucher.guid()
    }

    /// The voucher of this session.
    pub fn voucher(&self) -> &OwnershipVoucher {
        &self.voucher
    }

    /// The replacement that asks the device for credential reuse: the same GUID and
    /// RendezvousInfo (pass the current owner key as Owner2Key as well).
    pub fn reuse(&self) -> Replacement {
        Replacement {
            guid: self.voucher.guid(),
            rv_info: self.voucher.header().rv_info.clone(),
        }
    }

    /// Handles TO2.GetOVNextEntry (62): answers TO2.OVNextEntry (63) with the entry asked for.
    /// An index beyond the voucher's entries is INVALID_MESSAGE_ERROR (101).
    pub fn get_ov_next_entry(
        self,
        msg_type: MessageType,
        body: &[u8],
    ) -> Result<(Outgoing, Self), FlowError> {
        let GetOvNextEntry { entry_num } = plain(msg_type, body)?;
        let entry = self
            .voucher
            .entries()
            .get(usize::from(entry_num))
            .cloned()
            .ok_or_else(|| {
                invalid_message(
                    Error::invalid(
                        "OVEntryNum",
                        alloc::format!(
                            "entry {entry_num} asked for, the voucher has {}",
                            self.voucher.entries().len()
                        ),
                    ),
                    msg_type,
                )
            })?;
        Ok((Outgoing::new(&OvNextEntry { entry_num, entry }), self))
    }

    /// Handles TO2.ProveDevice (64): the checks of FDO reference §5.3, the session key, and
    /// TO2.SetupDevice (65), encrypted, giving the device `replacement` and Owner2Key, the
    /// public key of `owner2` (the owner's next key; the current one for credential reuse or
    /// when the owner keeps its key), which signs it.
    pub fn prove_device(
        self,
        crypto: &dyn CryptoProvider,
        msg_type: MessageType,
        body: &[u8],
        replacement: &Replacement,
        owner2: &dyn Signer,
        rng: &mut dyn CryptoRng,
    ) -> Result<(Outgoing, ExpectServiceInfoReady), FlowError> {
        let internal = |e: Error| internal(e, msg_type);
        let msg: ProveDevice = plain(msg_type, body)?;
        let guid = self.voucher.guid();
        // 1. The EAT is signed by the leaf key of the voucher's device certificate chain.
        let device_key = device_attestation_key(&self.voucher).map_err(internal)?;
        verify_sign1(
            crypto,
            msg.eat().sign1(),
            &device_key,
            "TO2.ProveDevice",
            msg_type,
        )?;
        // 2. EAT-NONCE is NonceTO2ProveDv.
        if msg.prove_dv_nonce() != &self.prove_dv_nonce {
            return Err(FlowError::new(
                VerifyError::Nonce("NonceTO2ProveDv"),
                msg_type,
            ));
        }
        // 3. EAT-UEID is 0x01 ‖ GUID.
        msg.eat()
            .claims()
            .check_ueid(&guid)
            .map_err(|e| FlowError::new(e, msg_type))?;
        // 4, 5. EAT-FDO [xB] and −259 NonceTO2SetupDv were required to decode the message.
        // 6. Finish the key exchange; derive the session key.
        let (kex, xa) = owner_kex(&self.kex_seed, &self.kex_suite).map_err(internal)?;
        if xa != self.xa {
            return Err(internal(Error::Misuse(
                "the stored key-exchange seed no longer gives the xA sent",
            )));
        }
        let secret = kex
            .finish(msg.xb())
            .map_err(|e| FlowError::new(e, msg_type))?;
        let sevk = derive_sevk(self.cipher_suite, &secret).map_err(internal)?;
        let keys = StoredKeys {
            suite: self.cipher_suite,
            sevk,
        };
        let session = keys.session().map_err(internal)?;
        // 7. SetupDevice, signed with Owner2Key.
        let current = self.voucher.owner_key();
        let owner2_key = owner2
            .public_key(owner2_encoding(current))
            .map_err(internal)?;
        let header = self.voucher.header();
        let reuse_requested = replacement.guid == guid
            && replacement.rv_info == header.rv_info
            && crypto.same_key(&owner2_key, current).map_err(internal)?;
        let owner2_key = Raw::new(owner2_key);
        // OVHeader' as the device will MAC it: same DeviceInfo and chain hash.
        let replacement_header = OvHeader {
            protocol_version: header.protocol_version,
            guid: replacement.guid,
            rv_info: replacement.rv_info.clone(),
            device_info: header.device_info.clone(),
            manufacturer_key: owner2_key.clone(),
            cert_chain_hash: header.cert_chain_hash.clone(),
        };
        let setup = SetupDevice::sign(
            SetupDevicePayload {
                rv_info: replacement.rv_info.clone(),
                guid: replacement.guid,
                nonce: *msg.setup_dv_nonce(),
                owner2_key,
            },
            owner2,
        )
        .map_err(internal)?;
        let out = seal(&session, &setup, rng, msg_type)?;
        Ok((
            out,
            ExpectServiceInfoReady {
                common: Common {
                    guid,
                    keys,
                    prove_dv_nonce: self.prove_dv_nonce,
                    setup_dv_nonce: *msg.setup_dv_nonce(),
                    replacement_header: replacement_header.to_cbor(),
                    cert_chain: self.voucher.cert_chain().map(<[Vec<u8>]>::to_vec),
                },
                reuse_requested,
                max_device_service_info_size: self.max_device_service_info_size,
            },
        ))
    }
}

impl Cbor for ExpectProveDevice {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        decode_state_head(
            d,
            "TO2 owner state (ProveDevice)",
            TAG_PROVE_DEVICE,
            STATE_VERSION,
            7,
        )?;
        Ok(Self {
            voucher: Box::new(OwnershipVoucher::decode(d)?),
            kex_suite: KexSuite::decode(d)?,
            cipher_suite: CipherSuite::decode(d)?,
            prove_dv_nonce: Nonce::decode(d)?,
            kex_seed: Zeroizing::new(d.bytes_fixed::<32>("key-exchange seed (bstr of 32)")?),
            xa: d.bytes("xA (bstr)")?.to_vec(),
            max_device_service_info_size: decode_opt_u16(d)?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        encode_state_head(e, TAG_PROVE_DEVICE, STATE_VERSION, 7);
        e.encode(self.voucher.as_ref())
            .encode(&self.kex_suite)
            .encode(&self.cipher_suite)
            .encode(&self.prove_dv_nonce)
            .bytes(&self.kex_seed[..])
            .bytes(&self.xa);
        encode_opt_u16(e, self.max_device_service_info_size);
    }
}

/// The session key as stored: the suite and SEVK.
struct StoredKeys {
    suite: CipherSuite,
    sevk: Zeroizing<Vec<u8>>,
}

impl StoredKeys {
    fn session(&self) -> Result<SessionKeys, Error> {
        SessionKeys::from_sevk(self.suite, &self.sevk)
    }
}

/// What every state after ProveDevice holds.
struct Common {
    guid: Guid,
    keys: StoredKeys,
    prove_dv_nonce: Nonce,
    setup_dv_nonce: Nonce,
    /// OVHeader', encoded as the device MACs it.
    replacement_header: Vec<u8>,
    cert_chain: Option<Vec<Vec<u8>>>,
}

impl Common {
    const FIELDS: usize = 7;

    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        let guid = Guid::decode(d)?;
        let suite = CipherSuite::decode(d)?;
        let sevk = Zeroizing::new(d.bytes("SEVK (bstr)")?.to_vec());
        let prove_dv_nonce = Nonce::decode(d)?;
        let setup_dv_nonce = Nonce::decode(d)?;
        let replacement_header = d.bytes("OVHeader' (bstr)")?.to_vec();
        let cert_chain = if d.try_null() {
            None
        } else {
            Some(
                crate::cbor::decode_array::<ByteString>(d, "OVDevCertChain")?
                    .into_iter()
                    .map(|b| b.0)
                    .collect(),
            )
        };
        Ok(Self {
            guid,
            keys: StoredKeys { suite, sevk },
            prove_dv_nonce,
            setup_dv_nonce,
            replacement_header,
            cert_chain,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.encode(&self.guid)
            .encode(&self.keys.suite)
            .bytes(&self.keys.sevk)
            .encode(&self.prove_dv_nonce)
            .encode(&self.setup_dv_nonce)
            .bytes(&self.replacement_header);
        match &self.cert_chain {
            None => {
                e.null();
            }
            Some(certs) => {
                e.array(certs.len());
                for c in certs {
                    e.bytes(c);
                }
            }
        }
    }
}

/// A byte string, for decoding arrays of them.
struct ByteString(Vec<u8>);

impl Cbor for ByteString {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        Ok(Self(d.bytes("bstr")?.to_vec()))
    }

    fn encode(&self, e: &mut Encoder) {
        e.bytes(&self.0);
    }
}

fn decode_opt_u16(d: &mut Decoder<'_>) -> Result<Option<u16>, Error> {
    if d.try_null() {
        Ok(None)
    } else {
        d.uint_as("uint16 or null").map(Some)
    }
}

fn encode_opt_u16(e: &mut Encoder, v: Option<u16>) {
    match v {
        Some(v) => e.uint(u64::from(v)),
        None => e.null(),
    };
}

/// TO2 on the owner: SetupDevice sent (encrypted from here on); waits for
/// DeviceServiceInfoReady.
///
/// **Confidential**: holds the session key.
///
/// ```text
/// ["vouch-to2-owner-service-info-ready", 1, Guid, cipherSuiteName, SEVK: bstr,
///  NonceTO2ProveDv, NonceTO2SetupDv, OVHeader': bstr, OVDevCertChain / null,
///  reuse_requested: bool, maxDeviceServiceInfoSz: uint16 / null]
/// ```
pub struct ExpectServiceInfoReady {
    common: Common,
    reuse_requested: bool,
    max_device_service_info_size: Option<u16>,
}

impl fmt::Debug for ExpectServiceInfoReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExpectServiceInfoReady")
            .field("guid", &self.common.guid)
            .field("reuse_requested", &self.reuse_requested)
            .finish_non_exhaustive()
    }
}

impl ExpectServiceInfoReady {
    /// The device's GUID.
    pub fn guid(&self) -> Guid {
        self.common.guid
    }

    /// True when SetupDevice asked for credential reuse.
    pub fn reuse_requested(&self) -> bool {
        self.reuse_requested
    }

    /// Handles TO2.DeviceServiceInfoReady (66): keeps ReplacementHMac (null only under
    /// credential reuse) and the device's ServiceInfo size, and answers
    /// TO2.OwnerServiceInfoReady (67) with the owner's.
    pub fn device_service_info_ready(
        self,
        msg_type: MessageType,
        body: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<(Outgoing, ExpectServiceInfo), FlowError> {
        let session = self
            .common
            .keys
            .session()
            .map_err(|e| internal(e, msg_type))?;
        let msg: DeviceServiceInfoReady = open(&session, msg_type, body)?;
        if msg.replacement_hmac.is_none() && !self.reuse_requested {
            return Err(FlowError::new(
                Error::invalid(
                    "ReplacementHMac",
                    "null, but the owner did not ask for credential reuse",
                ),
                msg_type,
            ));
        }
        let out = seal(
            &session,
            &OwnerServiceInfoReady {
                max_device_service_info_size: self.max_device_service_info_size,
            },
            rng,
            msg_type,
        )?;
        Ok((
            out,
            ExpectServiceInfo {
                common: self.common,
                replacement_hmac: msg.replacement_hmac.clone(),
                device_limit: msg.max_owner_service_info_size_or_default(),
                exchange: Box::new(OwnerExchange::new()),
                done_sent: false,
            },
        ))
    }
}

impl Cbor for ExpectServiceInfoReady {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        decode_state_head(
            d,
            "TO2 owner state (ServiceInfoReady)",
            TAG_SERVICE_INFO_READY,
            STATE_VERSION,
            Common::FIELDS as u64 + 2,
        )?;
        Ok(Self {
            common: Common::decode(d)?,
            reuse_requested: d.bool("reuse requested (bool)")?,
            max_device_service_info_size: decode_opt_u16(d)?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        encode_state_head(e, TAG_SERVICE_INFO_READY, STATE_VERSION, Common::FIELDS + 2);
        self.common.encode(e);
        e.bool(self.reuse_requested);
        encode_opt_u16(e, self.max_device_service_info_size);
    }
}

/// TO2 on the owner: the ServiceInfo rounds; waits for DeviceServiceInfo, or for Done once
/// the owner has said IsDone.
///
/// **Confidential**: holds the session key.
///
/// ```text
/// ["vouch-to2-owner-service-info", 1, Guid, cipherSuiteName, SEVK: bstr, NonceTO2ProveDv,
///  NonceTO2SetupDv, OVHeader': bstr, OVDevCertChain / null, ReplacementHMac / null,
///  maxOwnerServiceInfoSz: uint16, exchange: OwnerExchange, done_sent: bool]
/// ```
pub struct ExpectServiceInfo {
    common: Common,
    replacement_hmac: Option<HMac>,
    device_limit: u16,
    exchange: Box<OwnerExchange>,
    done_sent: bool,
}

impl fmt::Debug for ExpectServiceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExpectServiceInfo")
            .field("guid", &self.common.guid)
            .field("done_sent", &self.done_sent)
            .finish_non_exhaustive()
    }
}

impl ExpectServiceInfo {
    /// The device's GUID.
    pub fn guid(&self) -> Guid {
        self.common.guid
    }

    /// The device's devmod, once received.
    pub fn devmod(&self) -> Option<&Devmod> {
        self.exchange.devmod()
    }

    /// What the owner module `name` last saved, if it runs in this session
    /// ([`OwnerExchange::saved_state`]). Read it before [`ExpectServiceInfo::done`], which
    /// consumes the state, to act on a module's result once TO2.Done has been verified.
    pub fn module_state(&self, name: &str) -> Option<&[u8]> {
        self.exchange.saved_state(name)
    }

    /// True once the owner has sent IsDone: the next message must be TO2.Done.
    pub fn expects_done(&self) -> bool {
        self.done_sent
    }

    /// Handles TO2.DeviceServiceInfo (68) with the session's `modules` (built afresh for every
    /// request; their saved state is restored and saved again here). Answers
    /// TO2.OwnerServiceInfo (69): `[false, false, []]` while the device has more to send,
    /// otherwise what the modules have, with IsDone once they are all done.
    pub fn device_service_info(
        mut self,
        msg_type: MessageType,
        body: &[u8],
        modules: &mut OwnerModules,
        rng: &mut dyn CryptoRng,
    ) -> Result<(Outgoing, Self), FlowError> {
        if self.done_sent {
            return Err(unexpected(msg_type, body, MessageType::TO2_DONE));
        }
        let session = self
            .common
            .keys
            .session()
            .map_err(|e| internal(e, msg_type))?;
        let msg: DeviceServiceInfo = open(&session, msg_type, body)?;
        let fail = |e: Error| FlowError::new(e, msg_type);
        self.exchange
            .receive(modules, msg.service_info, msg.is_more)
            .map_err(fail)?;
        let reply = if msg.is_more {
            self.exchange.pull().map_err(fail)?;
            OwnerServiceInfo::default()
        } else {
            let turn = self
                .exchange
                .next_message(modules, self.device_limit)
                .map_err(fail)?;
            self.done_sent = turn.is_done;
            OwnerServiceInfo {
                is_more: turn.is_more,
                is_done: turn.is_done,
                service_info: turn.service_info,
            }
        };
        let out = seal(&session, &reply, rng, msg_type)?;
        Ok((out, self))
    }

    /// Handles TO2.Done (70), which must follow the owner's IsDone: checks NonceTO2ProveDv
    /// (FDO reference §5.5), builds the replacement voucher unless this was credential reuse,
    /// and answers TO2.Done2 (71) with NonceTO2SetupDv.
    pub fn done(
        self,
        crypto: &dyn CryptoProvider,
        msg_type: MessageType,
        body: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<(Outgoing, OwnerOutcome), FlowError> {
        if msg_type == MessageType::TO2_DONE && !self.done_sent {
            return Err(unexpected(
                msg_type,
                body,
                MessageType::TO2_DEVICE_SERVICE_INFO,
            ));
        }
        let session = self
            .common
            .keys
            .session()
            .map_err(|e| internal(e, msg_type))?;
        let msg: Done = open(&session, msg_type, body)?;
        // 1. Done carries NonceTO2ProveDv.
        if msg.nonce != self.common.prove_dv_nonce {
            return Err(FlowError::new(
                VerifyError::Nonce("NonceTO2ProveDv"),
                msg_type,
            ));
        }
        self.exchange
            .finish()
            .map_err(|e| FlowError::new(e, msg_type))?;
        // 2. [protver, bstr(OVHeader'), ReplacementHMac, same chain, []] unless reuse.
        let replacement_voucher = match self.replacement_hmac {
            None => None,
            Some(hmac) => {
                let header = OvHeader::from_cbor(&self.common.replacement_header)
                    .map_err(|e| internal(e, msg_type))?;
                Some(
                    OwnershipVoucher::new(crypto, header, hmac, self.common.cert_chain.clone())
                        .map_err(|e| internal(e, msg_type))?,
                )
            }
        };
        // 3. Done2 with NonceTO2SetupDv.
        let out = seal(
            &session,
            &Done2 {
                nonce: self.common.setup_dv_nonce,
            },
            rng,
            msg_type,
        )?;
        Ok((
            out,
            OwnerOutcome {
                guid: self.common.guid,
                replacement_voucher,
                devmod: self.exchange.devmod().cloned(),
            },
        ))
    }
}

impl Cbor for ExpectServiceInfo {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        decode_state_head(
            d,
            "TO2 owner state (ServiceInfo)",
            TAG_SERVICE_INFO,
            STATE_VERSION,
            Common::FIELDS as u64 + 4,
        )?;
        Ok(Self {
            common: Common::decode(d)?,
            replacement_hmac: Option::<HMac>::decode(d)?,
            device_limit: d.uint_as("maxOwnerServiceInfoSz (uint16)")?,
            exchange: Box::new(OwnerExchange::decode(d)?),
            done_sent: d.bool("IsDone sent (bool)")?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        encode_state_head(e, TAG_SERVICE_INFO, STATE_VERSION, Common::FIELDS + 4);
        self.common.encode(e);
        e.encode(&self.replacement_hmac)
            .uint(u64::from(self.device_limit))
            .encode(self.exchange.as_ref())
            .bool(self.done_sent);
    }
}

/// An owner TO2 session between requests, whichever state it is in: what the relying party
/// stores under the session's token. **Confidential** (see the [module documentation](super)).
///
/// | State | Handles |
/// |---|---|
/// | [`OwnerState::ProveDevice`] | 62 [`ExpectProveDevice::get_ov_next_entry`], 64 [`ExpectProveDevice::prove_device`] |
/// | [`OwnerState::ServiceInfoReady`] | 66 [`ExpectServiceInfoReady::device_service_info_ready`] |
/// | [`OwnerState::ServiceInfo`] | 68 [`ExpectServiceInfo::device_service_info`], 70 [`ExpectServiceInfo::done`] |
#[derive(Debug)]
pub enum OwnerState {
    /// ProveOVHdr sent.
    ProveDevice(ExpectProveDevice),
    /// SetupDevice sent.
    ServiceInfoReady(ExpectServiceInfoReady),
    /// In the ServiceInfo rounds.
    ServiceInfo(ExpectServiceInfo),
}

impl OwnerState {
    /// The device's GUID.
    pub fn guid(&self) -> Guid {
        match self {
            Self::ProveDevice(s) => s.guid(),
            Self::ServiceInfoReady(s) => s.guid(),
            Self::ServiceInfo(s) => s.guid(),
        }
    }
}

impl From<ExpectProveDevice> for OwnerState {
    fn from(s: ExpectProveDevice) -> Self {
        Self::ProveDevice(s)
    }
}

impl From<ExpectServiceInfoReady> for OwnerState {
    fn from(s: ExpectServiceInfoReady) -> Self {
        Self::ServiceInfoReady(s)
    }
}

impl From<ExpectServiceInfo> for OwnerState {
    fn from(s: ExpectServiceInfo) -> Self {
        Self::ServiceInfo(s)
    }
}

impl Cbor for OwnerState {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        let mut probe = d.clone();
        probe.array("TO2 owner state (array)")?;
        let tag = probe.text("TO2 owner state tag (tstr)")?;
        match tag {
            TAG_PROVE_DEVICE => ExpectProveDevice::decode(d).map(Self::ProveDevice),
            TAG_SERVICE_INFO_READY => ExpectServiceInfoReady::decode(d).map(Self::ServiceInfoReady),
            TAG_SERVICE_INFO => ExpectServiceInfo::decode(d).map(Self::ServiceInfo),
            other => Err(Error::invalid(
                "TO2 owner state",
                alloc::format!("state tag {:?}", other.to_string()),
            )),
        }
    }

    fn encode(&self, e: &mut Encoder) {
        match self {
            Self::ProveDevice(s) => s.encode(e),
            Self::ServiceInfoReady(s) => s.encode(e),
            Self::ServiceInfo(s) => s.encode(e),
        }
    }
}

#[cfg(test)]
impl OwnerState {
    /// The session key, for tests that tamper with encrypted messages.
    pub(super) fn session_keys(&self) -> Option<SessionKeys> {
        match self {
            Self::ProveDevice(_) => None,
            Self::ServiceInfoReady(s) => s.common.keys.session().ok(),
            Self::ServiceInfo(s) => s.common.keys.session().ok(),
        }
    }
}
