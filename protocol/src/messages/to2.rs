//! TO2: device ↔ owner, messages 60 to 71 (FDO reference §2.4).
//!
//! ```text
//! 60 TO2.HelloDevice            = [maxDeviceMessageSize, Guid, NonceTO2ProveOV,
//!                                  kexSuiteName, cipherSuiteName, eASigInfo]     D → O
//! 61 TO2.ProveOVHdr             = COSE_Sign1<TO2ProveOVHdrPayload>,
//!                                 unprotected {256: NonceTO2ProveDv, 257: owner key} O → D
//! 62 TO2.GetOVNextEntry         = [OVEntryNum]                                    D → O
//! 63 TO2.OVNextEntry            = [OVEntryNum, OVEntry]                           O → D
//! 64 TO2.ProveDevice            = EAT, EAT-FDO [xBKeyExchange], unprotected {-259: NonceTO2SetupDv}
//! 65 TO2.SetupDevice            = COSE_Sign1<TO2SetupDevicePayload>               O → D, encrypted
//! 66 TO2.DeviceServiceInfoReady = [ReplacementHMac / null, maxOwnerServiceInfoSz / null]
//! 67 TO2.OwnerServiceInfoReady  = [maxDeviceServiceInfoSz / null]
//! 68 TO2.DeviceServiceInfo      = [IsMoreServiceInfo, ServiceInfo]
//! 69 TO2.OwnerServiceInfo       = [IsMoreServiceInfo, IsDone, ServiceInfo]
//! 70 TO2.Done                   = [NonceTO2ProveDv]
//! 71 TO2.Done2                  = [NonceTO2SetupDv]
//! ```
//!
//! Messages 65 to 71 travel encrypted ([`crate::crypto::aead`]); the structs here are their
//! plaintext.

use alloc::vec::Vec;

use coset::HeaderBuilder;

use crate::Error;
use crate::cbor::{Bstr, Cbor, Decoder, Encoder, Raw};
use crate::cose::Sign1;
use crate::crypto::Signer;
use crate::crypto::aead::CipherSuite;
use crate::crypto::kex::KexSuite;
use crate::eat::{Eat, EatClaims, EatHeaders};
use crate::messages::{header_value, message_types, unprotected_item};
use crate::types::{Guid, HMac, Hash, Nonce, PublicKey, RendezvousInfo, ServiceInfo, SigInfo};
use crate::voucher::{OvEntry, OvHeader};

/// Unprotected header label CUPHNonce: NonceTO2ProveDv in TO2.ProveOVHdr.
pub const CUPH_NONCE: i64 = 256;
/// Unprotected header label CUPHOwnerPubKey: the owner's public key in TO2.ProveOVHdr.
pub const CUPH_OWNER_PUB_KEY: i64 = 257;
/// Unprotected header label of the delegate certificate chain (FDO 1.1 addendum, unconfirmed).
pub const CUPH_DELEGATE_CHAIN: i64 = 258;

/// The ServiceInfo size both sides assume when the peer sends `null` (go-fdo's `DefaultMTU`,
/// the Intel C SDK's `MIN_SERVICEINFO_SZ`).
pub const DEFAULT_SERVICE_INFO_SIZE: u16 = 1300;

/// Reads `uint16 / null`.
fn decode_opt_u16(d: &mut Decoder<'_>, what: &'static str) -> Result<Option<u16>, Error> {
    if d.try_null() {
        Ok(None)
    } else {
        d.uint_as(what).map(Some)
    }
}

fn encode_opt_u16(e: &mut Encoder, v: Option<u16>) {
    match v {
        Some(v) => e.uint(u64::from(v)),
        None => e.null(),
    };
}

/// TO2.HelloDevice (60), device → owner.
///
/// ```text
/// TO2.HelloDevice = [
///   maxDeviceMessageSize: uint16,
///   Guid,
///   NonceTO2ProveOV: Nonce,
///   kexSuiteName: tstr,
///   cipherSuiteName: int,
///   eASigInfo: SigInfo
/// ]
/// ```
///
/// Only FDO 1.1's six fields are accepted (1.0 had no maxDeviceMessageSize). fdo-rs
/// advertises a maxDeviceMessageSize of 17 (pitfall 6): it is read as sent, and should not be
/// enforced strictly.
///
/// **helloDeviceHash.** TO2.ProveOVHdr carries a hash of this message *as received*. The owner
/// decodes the request body as [`Raw`]`<HelloDevice>` (`Raw::from_bytes(body)`) and hashes
/// [`Raw::bytes`], never [`Cbor::to_cbor`] of the decoded value. The device builds the struct,
/// wraps it once with [`Raw::new`], sends [`Raw::bytes`] and later hashes those same bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelloDevice {
    /// maxDeviceMessageSize: the largest message the device can receive (0: no limit given).
    pub max_message_size: u16,
    /// The device's GUID.
    pub guid: Guid,
    /// NonceTO2ProveOV: the owner echoes it in TO2.ProveOVHdr.
    pub nonce: Nonce,
    /// kexSuiteName.
    pub kex_suite: KexSuite,
    /// cipherSuiteName.
    pub cipher_suite: CipherSuite,
    /// eASigInfo: the device's attestation signature type.
    pub sig_info: SigInfo,
}

impl Cbor for HelloDevice {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(
            6,
            "TO2.HelloDevice [maxDeviceMessageSize, Guid, NonceTO2ProveOV, kexSuiteName, \
             cipherSuiteName, eASigInfo]",
        )?;
        Ok(Self {
            max_message_size: d.uint_as("maxDeviceMessageSize (uint16)")?,
            guid: Guid::decode(d)?,
            nonce: Nonce::decode(d)?,
            kex_suite: KexSuite::decode(d)?,
            cipher_suite: CipherSuite::decode(d)?,
            sig_info: SigInfo::decode(d)?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(6)
            .uint(u64::from(self.max_message_size))
            .encode(&self.guid)
            .encode(&self.nonce)
            .encode(&self.kex_suite)
            .encode(&self.cipher_suite)
            .encode(&self.sig_info);
    }
}

/// The signed payload of TO2.ProveOVHdr.
///
/// ```text
/// TO2ProveOVHdrPayload = [
///   OVHeader: bstr .cbor OVHeader,   ; the voucher's header bytes, exactly as stored
///   NumOVEntries: uint8,
///   OVHeaderHMac: HMac,
///   NonceTO2ProveOV: Nonce,          ; echoed from HelloDevice
///   eBSigInfo: SigInfo,
///   xAKeyExchange: bstr,
///   helloDeviceHash: Hash,           ; hash of the HelloDevice message as received
///   maxOwnerMessageSize: uint16
/// ]
/// ```
///
/// The device recomputes the HMAC over [`Bstr::contents`] of `header`, so build it from the
/// voucher's stored header bytes ([`Bstr::from_contents`]), never from a re-encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProveOvHdrPayload {
    /// OVHeader, with its exact bytes.
    pub header: Bstr<OvHeader>,
    /// NumOVEntries.
    pub num_entries: u8,
    /// OVHeaderHMac.
    pub hmac: HMac,
    /// NonceTO2ProveOV, echoed from TO2.HelloDevice.
    pub nonce: Nonce,
    /// eBSigInfo.
    pub sig_info: SigInfo,
    /// xAKeyExchange.
    pub xa: Vec<u8>,
    /// helloDeviceHash. fdo-rs always uses SHA-256; go-fdo the voucher's hash (pitfall 7):
    /// recompute with the algorithm given here.
    pub hello_device_hash: Hash,
    /// maxOwnerMessageSize (fdo-rs sends 17, pitfall 6).
    pub max_message_size: u16,
}

impl Cbor for ProveOvHdrPayload {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(
            8,
            "TO2ProveOVHdrPayload [OVHeader, NumOVEntries, OVHeaderHMac, NonceTO2ProveOV, \
             eBSigInfo, xAKeyExchange, helloDeviceHash, maxOwnerMessageSize]",
        )?;
        Ok(Self {
            header: Bstr::decode(d)?,
            num_entries: d.uint_as("NumOVEntries (uint8)")?,
            hmac: HMac::decode(d)?,
            nonce: Nonce::decode(d)?,
            sig_info: SigInfo::decode(d)?,
            xa: d.bytes("xAKeyExchange (bstr)")?.to_vec(),
            hello_device_hash: Hash::decode(d)?,
            max_message_size: d.uint_as("maxOwnerMessageSize (uint16)")?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(8)
            .encode(&self.header)
            .uint(u64::from(self.num_entries))
            .encode(&self.hmac)
            .encode(&self.nonce)
            .encode(&self.sig_info)
            .bytes(&self.xa)
            .encode(&self.hello_device_hash)
            .uint(u64::from(self.max_message_size));
    }
}

/// TO2.ProveOVHdr (61), owner → device.
///
/// ```text
/// TO2.ProveOVHdr = COSE_Sign1<TO2ProveOVHdrPayload>, unprotected {
///   256 (CUPHNonce): NonceTO2ProveDv,
///   257 (CUPHOwnerPubKey): PublicKey,
///   ? 258 (CUPHDelegateChain): X5CHAIN PublicKey      ; 1.1 addendum, unconfirmed
/// }
/// ```
///
/// Headers 256 and 257 are required. The device verifies the signature with the key in 257
/// ([`ProveOvHdr::owner_key`]), and only trusts that key once it equals the last voucher
/// entry's key.
#[derive(Clone, Debug, PartialEq)]
pub struct ProveOvHdr {
    sign1: Sign1,
    payload: ProveOvHdrPayload,
    nonce: Nonce,
    owner_key: Raw<PublicKey>,
}

impl ProveOvHdr {
    /// Signs `payload` with the owner key, putting NonceTO2ProveDv (256) and the owner's public
    /// key (257) in the unprotected header.
    pub fn sign(
        payload: ProveOvHdrPayload,
        prove_dv_nonce: Nonce,
        owner_key: &PublicKey,
        owner: &dyn Signer,
    ) -> Result<Self, Error> {
        let header = HeaderBuilder::new()
            .value(CUPH_NONCE, header_value(&prove_dv_nonce)?)
            .value(CUPH_OWNER_PUB_KEY, header_value(owner_key)?)
            .build();
        let sign1 = Sign1::sign(payload.to_cbor(), header, owner)?;
        Self::from_sign1(sign1)
    }

    fn from_sign1(sign1: Sign1) -> Result<Self, Error> {
        let payload = ProveOvHdrPayload::from_cbor(sign1.payload())?;
        let nonce_item = unprotected_item(&sign1, CUPH_NONCE)?.ok_or_else(|| {
            Error::invalid(
                "TO2.ProveOVHdr",
                "no CUPHNonce (256) in the unprotected header",
            )
        })?;
        let nonce = Nonce::from_cbor(nonce_item)?;
        let key_item = unprotected_item(&sign1, CUPH_OWNER_PUB_KEY)?.ok_or_else(|| {
            Error::invalid(
                "TO2.ProveOVHdr",
                "no CUPHOwnerPubKey (257) in the unprotected header",
            )
        })?;
        let owner_key = Raw::from_bytes(key_item)?;
        Ok(Self {
            sign1,
            payload,
            nonce,
            owner_key,
        })
    }

    /// The signed object, with its original bytes.
    pub fn sign1(&self) -> &Sign1 {
        &self.sign1
    }

    /// The decoded payload.
    pub fn payload(&self) -> &ProveOvHdrPayload {
        &self.payload
    }

    /// NonceTO2ProveDv (unprotected 256): the device signs it in TO2.ProveDevice and returns it
    /// in TO2.Done.
    pub fn prove_dv_nonce(&self) -> &Nonce {
        &self.nonce
    }

    /// CUPHOwnerPubKey (unprotected 257): the key that signed this message. Not trusted until
    /// it matches the voucher's owner key.
    pub fn owner_key(&self) -> &PublicKey {
        self.owner_key.value()
    }

    /// The exact encoding of CUPHOwnerPubKey as received.
    pub fn owner_key_bytes(&self) -> &[u8] {
        self.owner_key.bytes()
    }

    /// The delegate chain (unprotected 258) as its exact CBOR encoding, if present. It is not
    /// interpreted here.
    pub fn delegate_chain(&self) -> Result<Option<&[u8]>, Error> {
        unprotected_item(&self.sign1, CUPH_DELEGATE_CHAIN)
    }
}

impl Cbor for ProveOvHdr {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        Self::from_sign1(Sign1::decode(d)?)
    }

    fn encode(&self, e: &mut Encoder) {
        e.encode(&self.sign1);
    }
}

/// TO2.GetOVNextEntry (62), device → owner.
///
/// ```text
/// TO2.GetOVNextEntry = [OVEntryNum: uint8]
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetOvNextEntry {
    /// The zero-based index of the entry asked for.
    pub entry_num: u8,
}

impl Cbor for GetOvNextEntry {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(1, "TO2.GetOVNextEntry [OVEntryNum]")?;
        Ok(Self {
            entry_num: d.uint_as("OVEntryNum (uint8)")?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(1).uint(u64::from(self.entry_num));
    }
}

/// TO2.OVNextEntry (63), owner → device.
///
/// ```text
/// TO2.OVNextEntry = [OVEntryNum: uint8, OVEntry: COSE_Sign1<OVEntryPayload>]
/// ```
///
/// The entry keeps its original bytes: the next entry's OVEHashPrevEntry hashes them.
#[derive(Clone, Debug, PartialEq)]
pub struct OvNextEntry {
    /// OVEntryNum: must echo the one asked for.
    pub entry_num: u8,
    /// The voucher entry.
    pub entry: OvEntry,
}

impl Cbor for OvNextEntry {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(2, "TO2.OVNextEntry [OVEntryNum, OVEntry]")?;
        Ok(Self {
            entry_num: d.uint_as("OVEntryNum (uint8)")?,
            entry: OvEntry::decode(d)?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(2)
            .uint(u64::from(self.entry_num))
            .encode(&self.entry);
    }
}

/// EAT-FDO of TO2.ProveDevice: `[xBKeyExchange: bstr]`.
struct XbClaim(Vec<u8>);

impl Cbor for XbClaim {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(1, "TO2.ProveDevice EAT-FDO [xBKeyExchange]")?;
        Ok(Self(d.bytes("xBKeyExchange (bstr)")?.to_vec()))
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(1).bytes(&self.0);
    }
}

/// TO2.ProveDevice (64), device → owner: an EAT.
///
/// ```text
/// TO2.ProveDevice = EAT: COSE_Sign1, payload {
///   10: NonceTO2ProveDv, 256: 0x01 ‖ Guid, -257 (EAT-FDO): [xBKeyExchange: bstr]
/// }, unprotected {-259 (EUPHNonce): NonceTO2SetupDv}
/// ```
///
/// EAT-FDO and the −259 nonce are required. The owner verifies the signature with the leaf key
/// of the voucher's device certificate chain, then checks the nonce and the UEID
/// ([`EatClaims::check_ueid`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ProveDevice {
    eat: Eat,
    xb: Vec<u8>,
    setup_nonce: Nonce,
}

impl ProveDevice {
    /// Signs the EAT with the device attestation key.
    pub fn sign(
        prove_dv_nonce: Nonce,
        guid: &Guid,
        xb: Vec<u8>,
        setup_dv_nonce: Nonce,
        device: &dyn Signer,
    ) -> Result<Self, Error> {
        let claims = EatClaims::new(prove_dv_nonce, guid).with_fdo(&XbClaim(xb));
        let headers = EatHeaders {
            nonce: Some(setup_dv_nonce),
            maroe_prefix: None,
        };
        Self::from_eat(Eat::sign(claims, &headers, device)?)
    }

    fn from_eat(eat: Eat) -> Result<Self, Error> {
        let XbClaim(xb) = eat.claims().fdo::<XbClaim>()?.ok_or_else(|| {
            Error::invalid(
                "TO2.ProveDevice",
                "no EAT-FDO (-257) claim with xBKeyExchange",
            )
        })?;
        let setup_nonce = eat.unprotected_nonce()?.ok_or_else(|| {
            Error::invalid(
                "TO2.ProveDevice",
                "no EUPHNonce (-259) in the unprotected header",
            )
        })?;
        Ok(Self {
            eat,
            xb,
            setup_nonce,
        })
    }

    /// The EAT.
    pub fn eat(&self) -> &Eat {
        &self.eat
    }

    /// EAT-NONCE: NonceTO2ProveDv.
    pub fn prove_dv_nonce(&self) -> &Nonce {
        self.eat.claims().nonce()
    }

    /// xBKeyExchange, from the EAT-FDO claim.
    pub fn xb(&self) -> &[u8] {
        &self.xb
    }

    /// NonceTO2SetupDv (unprotected −259): the owner returns it in TO2.SetupDevice and
    /// TO2.Done2.
    pub fn setup_dv_nonce(&self) -> &Nonce {
        &self.setup_nonce
    }
}

impl Cbor for ProveDevice {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        Self::from_eat(Eat::decode(d)?)
    }

    fn encode(&self, e: &mut Encoder) {
        e.encode(&self.eat);
    }
}

/// The signed payload of TO2.SetupDevice: the device's replacement credentials.
///
/// ```text
/// TO2SetupDevicePayload = [
///   RendezvousInfo,       ; replacement
///   Guid,                 ; replacement
///   NonceTO2SetupDv,
///   Owner2Key: PublicKey
/// ]
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupDevicePayload {
    /// The replacement RendezvousInfo.
    pub rv_info: RendezvousInfo,
    /// The replacement GUID.
    pub guid: Guid,
    /// NonceTO2SetupDv, from TO2.ProveDevice.
    pub nonce: Nonce,
    /// Owner2Key, with its exact encoding: the new DCPubKeyHash is `H(Owner2Key bytes)`.
    pub owner2_key: Raw<PublicKey>,
}

impl Cbor for SetupDevicePayload {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(
            4,
            "TO2SetupDevicePayload [RendezvousInfo, Guid, NonceTO2SetupDv, Owner2Key]",
        )?;
        Ok(Self {
            rv_info: RendezvousInfo::decode(d)?,
            guid: Guid::decode(d)?,
            nonce: Nonce::decode(d)?,
            owner2_key: Raw::decode(d)?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(4)
            .encode(&self.rv_info)
            .encode(&self.guid)
            .encode(&self.nonce)
            .encode(&self.owner2_key);
    }
}

/// TO2.SetupDevice (65), owner → device, encrypted.
///
/// ```text
/// TO2.SetupDevice = COSE_Sign1<TO2SetupDevicePayload>
/// ```
///
/// fdo-rs signs it with Owner2Key; go-fdo with the current owner key (and sends that key as
/// Owner2Key). Neither device verifies it (pitfall 8).
#[derive(Clone, Debug, PartialEq)]
pub struct SetupDevice {
    sign1: Sign1,
    payload: SetupDevicePayload,
}

impl SetupDevice {
    /// Signs `payload`.
    pub fn sign(payload: SetupDevicePayload, signer: &dyn Signer) -> Result<Self, Error> {
        let sign1 = Sign1::sign(payload.to_cbor(), coset::Header::default(), signer)?;
        Ok(Self { sign1, payload })
    }

    /// The signed object, with its original bytes.
    pub fn sign1(&self) -> &Sign1 {
        &self.sign1
    }

    /// The decoded payload.
    pub fn payload(&self) -> &SetupDevicePayload {
        &self.payload
    }
}

impl Cbor for SetupDevice {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        let sign1 = Sign1::decode(d)?;
        let payload = SetupDevicePayload::from_cbor(sign1.payload())?;
        Ok(Self { sign1, payload })
    }

    fn encode(&self, e: &mut Encoder) {
        e.encode(&self.sign1);
    }
}

/// TO2.DeviceServiceInfoReady (66), device → owner, encrypted.
///
/// ```text
/// TO2.DeviceServiceInfoReady = [
///   ReplacementHMac: HMac / null,          ; null: credential reuse
///   maxOwnerServiceInfoSz: uint16 / null   ; null: 1300
/// ]
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceServiceInfoReady {
    /// ReplacementHMac: the HMAC over the replacement OVHeader, or `None` for credential reuse.
    pub replacement_hmac: Option<HMac>,
    /// maxOwnerServiceInfoSz: the largest ServiceInfo the device can receive.
    pub max_owner_service_info_size: Option<u16>,
}

impl DeviceServiceInfoReady {
    /// maxOwnerServiceInfoSz, or [`DEFAULT_SERVICE_INFO_SIZE`] when it is null.
    pub fn max_owner_service_info_size_or_default(&self) -> u16 {
        self.max_owner_service_info_size
            .unwrap_or(DEFAULT_SERVICE_INFO_SIZE)
    }
}

impl Cbor for DeviceServiceInfoReady {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(
            2,
            "TO2.DeviceServiceInfoReady [ReplacementHMac, maxOwnerServiceInfoSz]",
        )?;
        Ok(Self {
            replacement_hmac: Option::<HMac>::decode(d)?,
            max_owner_service_info_size: decode_opt_u16(
                d,
                "maxOwnerServiceInfoSz (uint16 or null)",
            )?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(2).encode(&self.replacement_hmac);
        encode_opt_u16(e, self.max_owner_service_info_size);
    }
}

/// TO2.OwnerServiceInfoReady (67), owner → device, encrypted.
///
/// ```text
/// TO2.OwnerServiceInfoReady = [maxDeviceServiceInfoSz: uint16 / null]   ; null: 1300
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnerServiceInfoReady {
    /// maxDeviceServiceInfoSz: the largest ServiceInfo the owner can receive.
    pub max_device_service_info_size: Option<u16>,
}

impl OwnerServiceInfoReady {
    /// maxDeviceServiceInfoSz, or [`DEFAULT_SERVICE_INFO_SIZE`] when it is null.
    pub fn max_device_service_info_size_or_default(&self) -> u16 {
        self.max_device_service_info_size
            .unwrap_or(DEFAULT_SERVICE_INFO_SIZE)
    }
}

impl Cbor for OwnerServiceInfoReady {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(1, "TO2.OwnerServiceInfoReady [maxDeviceServiceInfoSz]")?;
        Ok(Self {
            max_device_service_info_size: decode_opt_u16(
                d,
                "maxDeviceServiceInfoSz (uint16 or null)",
            )?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(1);
        encode_opt_u16(e, self.max_device_service_info_size);
    }
}

/// TO2.DeviceServiceInfo (68), device → owner, encrypted.
///
/// ```text
/// TO2.DeviceServiceInfo = [IsMoreServiceInfo: bool, ServiceInfo]
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceServiceInfo {
    /// IsMoreServiceInfo: the device has more to send; the owner answers `[false, false, []]`.
    pub is_more: bool,
    /// ServiceInfo.
    pub service_info: ServiceInfo,
}

impl Cbor for DeviceServiceInfo {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(2, "TO2.DeviceServiceInfo [IsMoreServiceInfo, ServiceInfo]")?;
        Ok(Self {
            is_more: d.bool("IsMoreServiceInfo (bool)")?,
            service_info: ServiceInfo::decode(d)?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(2).bool(self.is_more).encode(&self.service_info);
    }
}

/// TO2.OwnerServiceInfo (69), owner → device, encrypted.
///
/// ```text
/// TO2.OwnerServiceInfo = [IsMoreServiceInfo: bool, IsDone: bool, ServiceInfo]
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnerServiceInfo {
    /// IsMoreServiceInfo: the owner has more; the device sends `[false, []]` to pull it.
    pub is_more: bool,
    /// IsDone: the owner has finished; the device goes on to TO2.Done.
    pub is_done: bool,
    /// ServiceInfo.
    pub service_info: ServiceInfo,
}

impl Cbor for OwnerServiceInfo {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(
            3,
            "TO2.OwnerServiceInfo [IsMoreServiceInfo, IsDone, ServiceInfo]",
        )?;
        Ok(Self {
            is_more: d.bool("IsMoreServiceInfo (bool)")?,
            is_done: d.bool("IsDone (bool)")?,
            service_info: ServiceInfo::decode(d)?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(3)
            .bool(self.is_more)
            .bool(self.is_done)
            .encode(&self.service_info);
    }
}

/// TO2.Done (70), device → owner, encrypted.
///
/// ```text
/// TO2.Done = [NonceTO2ProveDv]
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Done {
    /// NonceTO2ProveDv, from TO2.ProveOVHdr.
    pub nonce: Nonce,
}

impl Cbor for Done {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(1, "TO2.Done [NonceTO2ProveDv]")?;
        Ok(Self {
            nonce: Nonce::decode(d)?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(1).encode(&self.nonce);
    }
}

/// TO2.Done2 (71), owner → device, encrypted.
///
/// ```text
/// TO2.Done2 = [NonceTO2SetupDv]
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Done2 {
    /// NonceTO2SetupDv, from TO2.ProveDevice.
    pub nonce: Nonce,
}

impl Cbor for Done2 {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(1, "TO2.Done2 [NonceTO2SetupDv]")?;
        Ok(Self {
            nonce: Nonce::decode(d)?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(1).encode(&self.nonce);
    }
}

message_types! {
    HelloDevice => TO2_HELLO_DEVICE,
    ProveOvHdr => TO2_PROVE_OV_HDR,
    GetOvNextEntry => TO2_GET_OV_NEXT_ENTRY,
    OvNextEntry => TO2_OV_NEXT_ENTRY,
    ProveDevice => TO2_PROVE_DEVICE,
    SetupDevice => TO2_SETUP_DEVICE,
    DeviceServiceInfoReady => TO2_DEVICE_SERVICE_INFO_READY,
    OwnerServiceInfoReady => TO2_OWNER_SERVICE_INFO_READY,
    DeviceServiceInfo => TO2_DEVICE_SERVICE_INFO,
    OwnerServiceInfo => TO2_OWNER_SERVICE_INFO,
    Done => TO2_DONE,
    Done2 => TO2_DONE2,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test::SeededRng;
    use crate::crypto::{CryptoProvider, RustCrypto, SigningKey};
    use crate::eat::UeidLabel;
    use crate::messages::di::tests::{OV_HEADER, header};
    use crate::messages::test_util::{hex, sign1_hex};
    use crate::messages::to0::tests::voucher;
    use crate::messages::{Message, MessageType};
    use crate::types::{HashAlg, PkEnc, PkType, ServiceInfoKv, SgType};

    fn ov_header_bstr() -> Vec<u8> {
        let mut out = hex("58 21"); // bstr(33)
        out.extend_from_slice(&hex(OV_HEADER));
        out
    }

    #[test]
    fn hello_device_round_trips_and_keeps_raw_bytes() {
        let bytes = hex("
            86                                    # array(6) TO2.HelloDevice
              19 0578                             # 1400 maxDeviceMessageSize
              50 00112233445566778899aabbccddeeff # bstr(16) Guid
              50 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf # bstr(16) NonceTO2ProveOV
              67 45434448323536                   # \"ECDH256\" kexSuiteName
              01                                  # 1 (A128GCM) cipherSuiteName
              82 26 40                            # [-7, h''] eASigInfo");
        let m = HelloDevice::from_cbor(&bytes).unwrap();
        assert_eq!(m.max_message_size, 1400);
        assert_eq!(m.kex_suite, KexSuite::ECDH256);
        assert_eq!(m.cipher_suite, CipherSuite::A128GCM);
        assert_eq!(m.sig_info, SigInfo::new(SgType::ES256));
        assert_eq!(m.to_cbor(), bytes);
        assert_eq!(HelloDevice::from_cbor(&m.to_cbor()).unwrap(), m);

        // fdo-rs: maxDeviceMessageSize 17 written as a non-shortest uint16, ECDH384, A256GCM.
        // Decoded as Raw, the bytes hashed for helloDeviceHash are the ones received.
        let fdo_rs = hex("
            86                                    # array(6)
              19 0011                             # 17, in two bytes
              50 00112233445566778899aabbccddeeff # Guid
              50 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf # NonceTO2ProveOV
              67 45434448333834                   # \"ECDH384\"
              03                                  # 3 (A256GCM)
              82 38 22 40                         # [-35, h'']");
        let raw = Raw::<HelloDevice>::from_bytes(&fdo_rs).unwrap();
        assert_eq!(raw.max_message_size, 17);
        assert_eq!(raw.bytes(), fdo_rs);
        assert_eq!(raw.to_cbor(), fdo_rs);
        assert_ne!(raw.value().to_cbor(), fdo_rs);
        let h = RustCrypto.hash(HashAlg::SHA256, &[raw.bytes()]).unwrap();
        let re = RustCrypto
            .hash(HashAlg::SHA256, &[&raw.value().to_cbor()])
            .unwrap();
        assert!(!h.ct_eq(&re));
    }

    #[test]
    fn hello_device_refuses_fdo_10_and_wrong_types() {
        // FDO 1.0's five fields: no maxDeviceMessageSize
        let v10 = hex(
            "85 50 00112233445566778899aabbccddeeff 50 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf
                       67 45434448323536 01 82 26 40",
        );
        let err = HelloDevice::from_cbor(&v10).unwrap_err().to_string();
        assert!(
            err.contains("TO2.HelloDevice") && err.contains("length 5"),
            "{err}"
        );
        // cipherSuiteName as text
        let text = hex(
            "86 01 50 00112233445566778899aabbccddeeff 50 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf
                        67 45434448323536 61 31 82 26 40",
        );
        let err = HelloDevice::from_cbor(&text).unwrap_err().to_string();
        assert!(err.contains("cipherSuiteName"), "{err}");
        // maxDeviceMessageSize above uint16
        let big = hex(
            "86 1a 00010000 50 00112233445566778899aabbccddeeff 50 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf
                       67 45434448323536 01 82 26 40",
        );
        let err = HelloDevice::from_cbor(&big).unwrap_err().to_string();
        assert!(err.contains("maxDeviceMessageSize"), "{err}");
    }

    fn payload_hex() -> Vec<u8> {
        let mut p = hex("88"); // array(8) TO2ProveOVHdrPayload
        p.extend_from_slice(&ov_header_bstr()); // bstr .cbor OVHeader
        p.extend_from_slice(&hex("
            01                                    # 1 NumOVEntries
            82 05 5820                            # [5 (HMAC-SHA256), bstr(32)] OVHeaderHMac
              0000000000000000000000000000000000000000000000000000000000000000
            50 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf   # bstr(16) NonceTO2ProveOV
            82 26 40                              # [-7, h''] eBSigInfo
            43 0a0b0c                             # bstr(3) xAKeyExchange
            82 2f 5820                            # [-16 (SHA-256), bstr(32)] helloDeviceHash
              1111111111111111111111111111111111111111111111111111111111111111
            11                                    # 17 maxOwnerMessageSize"));
        p
    }

    #[test]
    fn prove_ov_hdr_hand_written_round_trips() {
        let payload = payload_hex();
        let bytes = sign1_hex(
            "a2                                    # unprotected map(2)
               19 0100                             #   256 CUPHNonce
               50 b0b1b2b3b4b5b6b7b8b9babbbcbdbebf #   bstr(16) NonceTO2ProveDv
               19 0101                             #   257 CUPHOwnerPubKey
               83 0a 01 43 010203                  #   [10, 1, h'010203']",
            &payload,
        );
        let m = ProveOvHdr::from_cbor(&bytes).unwrap();
        assert_eq!(m.to_cbor(), bytes);
        assert_eq!(m.prove_dv_nonce().0[0], 0xb0);
        assert_eq!(
            m.owner_key(),
            &PublicKey::x509(PkType::SECP256R1, alloc::vec![1, 2, 3])
        );
        assert_eq!(m.owner_key_bytes(), hex("83 0a 01 43 010203"));
        assert_eq!(m.delegate_chain().unwrap(), None);
        let p = m.payload();
        assert_eq!(p.header.value(), &header());
        assert_eq!(p.header.contents(), hex(OV_HEADER));
        assert_eq!(p.num_entries, 1);
        assert_eq!(p.xa, [0x0a, 0x0b, 0x0c]);
        assert_eq!(p.max_message_size, 17);
        assert_eq!(p.to_cbor(), payload);
        assert_eq!(ProveOvHdrPayload::from_cbor(&p.to_cbor()).unwrap(), *p);

        // a delegate chain under 258 is surfaced as its bytes
        let with_chain = sign1_hex(
            "a3                                    # unprotected map(3)
               19 0100 50 b0b1b2b3b4b5b6b7b8b9babbbcbdbebf # 256
               19 0101 83 0a 01 43 010203          #   257
               19 0102 83 0a 02 81 41 00           #   258: [10, 2, [h'00']]",
            &payload,
        );
        let m = ProveOvHdr::from_cbor(&with_chain).unwrap();
        assert_eq!(
            m.delegate_chain().unwrap(),
            Some(&hex("83 0a 02 81 41 00")[..])
        );
    }

    #[test]
    fn prove_ov_hdr_refuses_missing_headers_and_bad_payload() {
        let payload = payload_hex();
        // no 257
        let no_key = sign1_hex("a1 190100 50 b0b1b2b3b4b5b6b7b8b9babbbcbdbebf", &payload);
        let err = ProveOvHdr::from_cbor(&no_key).unwrap_err().to_string();
        assert!(err.contains("CUPHOwnerPubKey (257)"), "{err}");
        // no 256
        let no_nonce = sign1_hex("a1 190101 83 0a 01 43 010203", &payload);
        let err = ProveOvHdr::from_cbor(&no_nonce).unwrap_err().to_string();
        assert!(err.contains("CUPHNonce (256)"), "{err}");
        // a key that is not a PublicKey
        let bad_key = sign1_hex(
            "a2 190100 50 b0b1b2b3b4b5b6b7b8b9babbbcbdbebf 190101 41 00",
            &payload,
        );
        let err = ProveOvHdr::from_cbor(&bad_key).unwrap_err().to_string();
        assert!(err.contains("PublicKey"), "{err}");
        // the payload without maxOwnerMessageSize (FDO 1.0's seven items)
        let mut short = payload.clone();
        short[0] = 0x87;
        short.pop();
        let headers = "a2 190100 50 b0b1b2b3b4b5b6b7b8b9babbbcbdbebf 190101 83 0a 01 43 010203";
        let err = ProveOvHdr::from_cbor(&sign1_hex(headers, &short))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("TO2ProveOVHdrPayload") && err.contains("length 7"),
            "{err}"
        );
        // NumOVEntries above uint8
        let mut many = payload.clone();
        let at = 1 + 35; // after the array head and the 35-byte OVHeader bstr
        assert_eq!(many[at], 0x01);
        many.splice(at..=at, [0x19, 0x01, 0x00]);
        let err = ProveOvHdrPayload::from_cbor(&many).unwrap_err().to_string();
        assert!(err.contains("NumOVEntries"), "{err}");
    }

    #[test]
    fn prove_ov_hdr_signed_with_a_real_key() {
        let mut rng = SeededRng::new(b"to2 prove ov hdr");
        let owner = SigningKey::generate(PkType::SECP384R1, &mut rng).unwrap();
        let owner_pk = owner.public_key(PkEnc::X509).unwrap();
        let ov = voucher();
        let payload = ProveOvHdrPayload {
            header: Bstr::from_contents(ov.header_bytes()).unwrap(),
            num_entries: ov.entries().len() as u8,
            hmac: ov.hmac().clone(),
            nonce: Nonce([1; 16]),
            sig_info: SigInfo::new(SgType::ES256),
            xa: alloc::vec![0xaa; 70],
            hello_device_hash: RustCrypto.hash(HashAlg::SHA256, &[b"hello"]).unwrap(),
            max_message_size: 65535,
        };
        let m = ProveOvHdr::sign(payload.clone(), Nonce([2; 16]), &owner_pk, &owner).unwrap();
        let back = ProveOvHdr::from_cbor(&m.to_cbor()).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.to_cbor(), m.sign1().bytes());
        // the key read back from unprotected 257 verifies the signature
        assert_eq!(back.owner_key(), &owner_pk);
        assert_eq!(back.owner_key_bytes(), owner_pk.to_cbor());
        back.sign1()
            .verify(&RustCrypto, back.owner_key(), "TO2.ProveOVHdr")
            .unwrap();
        assert_eq!(back.prove_dv_nonce(), &Nonce([2; 16]));
        assert_eq!(back.payload(), &payload);
        // the header bytes are the voucher's own
        assert_eq!(back.payload().header.contents(), ov.header_bytes());
        // another key does not verify it
        let other = SigningKey::generate(PkType::SECP384R1, &mut rng).unwrap();
        assert!(
            back.sign1()
                .verify(
                    &RustCrypto,
                    &other.public_key(PkEnc::X509).unwrap(),
                    "TO2.ProveOVHdr"
                )
                .is_err()
        );
        assert_eq!(ProveOvHdr::TYPE, MessageType(61));
    }

    #[test]
    fn get_ov_next_entry() {
        let bytes = hex("81 05"); // [5] OVEntryNum
        let m = GetOvNextEntry::from_cbor(&bytes).unwrap();
        assert_eq!(m.entry_num, 5);
        assert_eq!(m.to_cbor(), bytes);
        assert_eq!(GetOvNextEntry::from_cbor(&m.to_cbor()).unwrap(), m);
        // 256 does not fit a uint8; -1 is not a uint
        let err = GetOvNextEntry::from_cbor(&hex("81 19 0100"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("OVEntryNum"), "{err}");
        assert!(GetOvNextEntry::from_cbor(&hex("81 20")).is_err());
        assert!(GetOvNextEntry::from_cbor(&hex("80")).is_err());
    }

    #[test]
    fn ov_next_entry_keeps_the_entry_bytes() {
        let ov = voucher();
        let entry = ov.entries()[0].clone();
        let mut bytes = hex("82 00"); // array(2), 0 OVEntryNum
        bytes.extend_from_slice(entry.sign1().bytes()); // OVEntry, tag 18
        let m = OvNextEntry::from_cbor(&bytes).unwrap();
        assert_eq!(m.entry_num, 0);
        assert_eq!(m.entry.sign1().bytes(), entry.sign1().bytes());
        assert_eq!(m.to_cbor(), bytes);
        assert_eq!(OvNextEntry::from_cbor(&m.to_cbor()).unwrap(), m);
        // the entry without its tag
        let mut untagged = hex("82 00");
        untagged.extend_from_slice(&entry.sign1().bytes()[1..]);
        let err = OvNextEntry::from_cbor(&untagged).unwrap_err().to_string();
        assert!(err.contains("COSE_Sign1"), "{err}");
        let err = OvNextEntry::from_cbor(&hex("81 00"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("TO2.OVNextEntry"), "{err}");
    }

    fn eat_payload(ueid_key: &str) -> Vec<u8> {
        hex(&alloc::format!(
            "
            a3                                    # map(3) EAT claims
              0a                                  # 10 EAT-NONCE
              50 b0b1b2b3b4b5b6b7b8b9babbbcbdbebf # NonceTO2ProveDv
              {ueid_key}                          # EAT-UEID (256, or fdo-rs' 11)
              51 01 00112233445566778899aabbccddeeff # 0x01 ‖ Guid
              3901 00                             # -257 EAT-FDO
              81 43 0b0c0d                        # [h'0b0c0d'] xBKeyExchange"
        ))
    }

    const SETUP_NONCE_HEADER: &str = "
        a1                                    # unprotected map(1)
          3901 02                             #   -259 EUPHNonce
          50 c0c1c2c3c4c5c6c7c8c9cacbcccdcecf #   NonceTO2SetupDv";

    #[test]
    fn prove_device_hand_written_round_trips() {
        let bytes = sign1_hex(SETUP_NONCE_HEADER, &eat_payload("19 0100"));
        let m = ProveDevice::from_cbor(&bytes).unwrap();
        assert_eq!(m.to_cbor(), bytes);
        assert_eq!(m.prove_dv_nonce().0[0], 0xb0);
        assert_eq!(m.setup_dv_nonce().0[0], 0xc0);
        assert_eq!(m.xb(), [0x0b, 0x0c, 0x0d]);
        assert!(
            m.eat()
                .claims()
                .ueid_matches(&Guid::from_hex("00112233445566778899aabbccddeeff").unwrap())
        );
        // fdo-rs' UEID key 11
        let fdo_rs = sign1_hex(SETUP_NONCE_HEADER, &eat_payload("0b"));
        let m = ProveDevice::from_cbor(&fdo_rs).unwrap();
        assert_eq!(m.eat().claims().ueid_label(), UeidLabel::Legacy);
        assert_eq!(m.to_cbor(), fdo_rs);
    }

    #[test]
    fn prove_device_refuses_missing_parts() {
        // no -259
        let err = ProveDevice::from_cbor(&sign1_hex("a0", &eat_payload("19 0100")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("EUPHNonce (-259)"), "{err}");
        // no EAT-FDO: {10: nonce, 256: ueid}
        let mut no_fdo = eat_payload("19 0100");
        no_fdo[0] = 0xa2;
        no_fdo.truncate(no_fdo.len() - 8); // drop -257 and its value
        let err = ProveDevice::from_cbor(&sign1_hex(SETUP_NONCE_HEADER, &no_fdo))
            .unwrap_err()
            .to_string();
        assert!(err.contains("EAT-FDO"), "{err}");
        // EAT-FDO as a bare bstr instead of [bstr]
        let mut bare = eat_payload("19 0100");
        let n = bare.len();
        bare.splice(n - 5..n - 4, []); // drop the array(1) head before h'0b0c0d'
        let err = ProveDevice::from_cbor(&sign1_hex(SETUP_NONCE_HEADER, &bare))
            .unwrap_err()
            .to_string();
        assert!(err.contains("EAT-FDO [xBKeyExchange]"), "{err}");
    }

    #[test]
    fn prove_device_signed_with_a_real_key() {
        let mut rng = SeededRng::new(b"to2 prove device");
        let device = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
        let guid = Guid([0x77; 16]);
        let m = ProveDevice::sign(
            Nonce([1; 16]),
            &guid,
            alloc::vec![9; 70],
            Nonce([2; 16]),
            &device,
        )
        .unwrap();
        let back = ProveDevice::from_cbor(&m.to_cbor()).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.xb(), [9; 70]);
        assert_eq!(back.setup_dv_nonce(), &Nonce([2; 16]));
        assert_eq!(back.prove_dv_nonce(), &Nonce([1; 16]));
        back.eat().claims().check_ueid(&guid).unwrap();
        assert_eq!(back.eat().claims().ueid_label(), UeidLabel::Standard);
        back.eat()
            .sign1()
            .verify(
                &RustCrypto,
                &device.public_key(PkEnc::X509).unwrap(),
                "TO2.ProveDevice",
            )
            .unwrap();
    }

    fn setup_payload_hex() -> Vec<u8> {
        hex("
            84                                    # array(4) TO2SetupDevicePayload
              81 81 82 03 43 191e61               # [[[3 (RVDevPort), h'191e61' (7777)]]]
              50 00112233445566778899aabbccddeeff # Guid (replacement)
              50 c0c1c2c3c4c5c6c7c8c9cacbcccdcecf # NonceTO2SetupDv
              83 0a 01 43 040506                  # [10, 1, h'040506'] Owner2Key")
    }

    #[test]
    fn setup_device_round_trips() {
        let payload = setup_payload_hex();
        let bytes = sign1_hex("a0", &payload);
        let m = SetupDevice::from_cbor(&bytes).unwrap();
        assert_eq!(m.to_cbor(), bytes);
        let p = m.payload();
        assert_eq!(p.nonce.0[0], 0xc0);
        assert_eq!(p.owner2_key.bytes(), hex("83 0a 01 43 040506"));
        assert_eq!(p.rv_info.0.len(), 1);
        assert_eq!(p.to_cbor(), payload);
        assert_eq!(SetupDevicePayload::from_cbor(&p.to_cbor()).unwrap(), *p);

        let mut rng = SeededRng::new(b"to2 setup");
        let owner2 = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
        let signed = SetupDevice::sign(
            SetupDevicePayload {
                owner2_key: Raw::new(owner2.public_key(PkEnc::X509).unwrap()),
                ..p.clone()
            },
            &owner2,
        )
        .unwrap();
        let back = SetupDevice::from_cbor(&signed.to_cbor()).unwrap();
        assert_eq!(back, signed);
        back.sign1()
            .verify(
                &RustCrypto,
                back.payload().owner2_key.value(),
                "TO2.SetupDevice",
            )
            .unwrap();
    }

    #[test]
    fn setup_device_refuses_wrong_payload() {
        let mut three = setup_payload_hex();
        three[0] = 0x83;
        three.truncate(three.len() - 7); // drop Owner2Key
        let err = SetupDevice::from_cbor(&sign1_hex("a0", &three))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("TO2SetupDevicePayload") && err.contains("length 3"),
            "{err}"
        );
        // a 15-byte GUID
        let bad_guid = hex(
            "84 80 4f 112233445566778899aabbccddeeff 50 c0c1c2c3c4c5c6c7c8c9cacbcccdcecf 83 0a 01 43 040506",
        );
        let err = SetupDevicePayload::from_cbor(&bad_guid)
            .unwrap_err()
            .to_string();
        assert!(err.contains("GUID"), "{err}");
    }

    #[test]
    fn device_service_info_ready() {
        let mut bytes = hex("
            82                                    # array(2)
              82 06 5830                          # [6 (HMAC-SHA384), bstr(48)] ReplacementHMac");
        bytes.extend_from_slice(&[0x44; 48]);
        bytes.extend_from_slice(&hex("19 05dc")); // 1500 maxOwnerServiceInfoSz
        let m = DeviceServiceInfoReady::from_cbor(&bytes).unwrap();
        assert_eq!(
            m.replacement_hmac.as_ref().map(HMac::alg),
            Some(HashAlg::HMAC_SHA384)
        );
        assert_eq!(m.max_owner_service_info_size_or_default(), 1500);
        assert_eq!(m.to_cbor(), bytes);
        assert_eq!(DeviceServiceInfoReady::from_cbor(&m.to_cbor()).unwrap(), m);
        // credential reuse and the default size: [null, null]
        let nulls = hex("82 f6 f6");
        let m = DeviceServiceInfoReady::from_cbor(&nulls).unwrap();
        assert_eq!(m.replacement_hmac, None);
        assert_eq!(
            m.max_owner_service_info_size_or_default(),
            DEFAULT_SERVICE_INFO_SIZE
        );
        assert_eq!(m.to_cbor(), nulls);
        // one item; a plain hash where the HMAC belongs; a size above uint16
        assert!(DeviceServiceInfoReady::from_cbor(&hex("81 f6")).is_err());
        let mut hash = hex("82 82 2f 5820");
        hash.extend_from_slice(&[0; 32]);
        hash.push(0xf6);
        assert!(DeviceServiceInfoReady::from_cbor(&hash).is_err());
        let err = DeviceServiceInfoReady::from_cbor(&hex("82 f6 1a 00010000"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("maxOwnerServiceInfoSz"), "{err}");
    }

    #[test]
    fn owner_service_info_ready() {
        let bytes = hex("81 19 0514"); // [1300] maxDeviceServiceInfoSz
        let m = OwnerServiceInfoReady::from_cbor(&bytes).unwrap();
        assert_eq!(m.max_device_service_info_size, Some(1300));
        assert_eq!(m.to_cbor(), bytes);
        let null = OwnerServiceInfoReady::from_cbor(&hex("81 f6")).unwrap();
        assert_eq!(null.max_device_service_info_size_or_default(), 1300);
        assert_eq!(null.to_cbor(), hex("81 f6"));
        assert_eq!(OwnerServiceInfoReady::from_cbor(&m.to_cbor()).unwrap(), m);
        let err = OwnerServiceInfoReady::from_cbor(&hex("81 61 31"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("maxDeviceServiceInfoSz"), "{err}");
    }

    #[test]
    fn device_and_owner_service_info() {
        let bytes = hex("
            82                                    # array(2) TO2.DeviceServiceInfo
              f5                                  # true IsMoreServiceInfo
              81                                  # ServiceInfo: array(1)
                82 6d 6465766d6f643a616374697665  #   [\"devmod:active\",
                   41 f5                          #    h'f5' (true)]");
        let m = DeviceServiceInfo::from_cbor(&bytes).unwrap();
        assert!(m.is_more);
        assert_eq!(
            m.service_info.0,
            [ServiceInfoKv::new("devmod:active", &true)]
        );
        assert_eq!(m.to_cbor(), bytes);
        assert_eq!(DeviceServiceInfo::from_cbor(&m.to_cbor()).unwrap(), m);
        // IsMoreServiceInfo as 1 instead of a bool
        let err = DeviceServiceInfo::from_cbor(&hex("82 01 80"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("IsMoreServiceInfo"), "{err}");

        let owner = hex("
            83                                    # array(3) TO2.OwnerServiceInfo
              f4                                  # false IsMoreServiceInfo
              f5                                  # true IsDone
              80                                  # [] ServiceInfo");
        let m = OwnerServiceInfo::from_cbor(&owner).unwrap();
        assert!(!m.is_more && m.is_done && m.service_info.0.is_empty());
        assert_eq!(m.to_cbor(), owner);
        assert_eq!(OwnerServiceInfo::from_cbor(&m.to_cbor()).unwrap(), m);
        let err = OwnerServiceInfo::from_cbor(&hex("82 f4 80"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("TO2.OwnerServiceInfo"), "{err}");
        assert!(OwnerServiceInfo::from_cbor(&hex("83 f4 f6 80")).is_err());
    }

    #[test]
    fn done_and_done2() {
        let bytes = hex("81 50 b0b1b2b3b4b5b6b7b8b9babbbcbdbebf"); // [NonceTO2ProveDv]
        let m = Done::from_cbor(&bytes).unwrap();
        assert_eq!(m.nonce.0[15], 0xbf);
        assert_eq!(m.to_cbor(), bytes);
        assert_eq!(Done::from_cbor(&m.to_cbor()).unwrap(), m);
        let bytes = hex("81 50 c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"); // [NonceTO2SetupDv]
        let m = Done2::from_cbor(&bytes).unwrap();
        assert_eq!(m.to_cbor(), bytes);
        assert_eq!(Done2::from_cbor(&m.to_cbor()).unwrap(), m);
        // a 17-byte nonce, no nonce, the bare nonce
        let err = Done::from_cbor(&hex("81 51 b0b1b2b3b4b5b6b7b8b9babbbcbdbebf00"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("nonce"), "{err}");
        assert!(Done2::from_cbor(&hex("80")).is_err());
        assert!(Done2::from_cbor(&hex("50 c0c1c2c3c4c5c6c7c8c9cacbcccdcecf")).is_err());
        assert_eq!(Done2::TYPE, MessageType::TO2_DONE2);
        assert!(Done2::TYPE.is_encrypted());
    }
}
