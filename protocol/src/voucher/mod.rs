//! Ownership vouchers: read, create, extend to a next owner, verify.
//!
//! ```text
//! OwnershipVoucher = [
//!   OVProtVer: protver,
//!   OVHeaderTag: bstr .cbor OVHeader,
//!   OVHeaderHMac: HMac,                  ; HMAC(DeviceSecret, OVHeaderTag contents)
//!   OVDevCertChain: [+ bstr] / null,     ; X5CHAIN, leaf first
//!   OVEntryArray: [* OVEntry]
//! ]
//! OVHeader = [OVHProtVer, OVGuid, OVRVInfo, OVDeviceInfo: tstr, OVPubKey, OVDevCertChainHash / null]
//! OVEntry  = COSE_Sign1<OVEntryPayload>
//! OVEntryPayload = [OVEHashPrevEntry: Hash, OVEHashHdrInfo: Hash, OVEExtra: null / bstr, OVEPubKey]
//! ```
//!
//! Every part that is hashed or signed keeps its original bytes, so a voucher read from another
//! implementation verifies and re-encodes byte for byte. FDO 1.0 vouchers (protocol version 100:
//! a four-item array with the header inline and three-item entry payloads, as fdo-rs wrote them)
//! are read and verified as well; new vouchers are always 1.1.
//!
//! [`OwnershipVoucher::verify`] returns a [`VerifiedVoucher`], the only way to obtain one; every
//! failed check is its own [`VerifyError`] variant.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::Error;
use crate::cbor::{Cbor, Decoder, Encoder, Major, Raw};
use crate::cose::Sign1;
use crate::credential::DeviceCredential;
use crate::crypto::{CryptoProvider, Signer};
use crate::error::{Found, VerifyError};
use crate::types::{Guid, HMac, Hash, HashAlg, PkType, ProtocolVersion, PublicKey, RendezvousInfo};

/// The PEM label of an ownership voucher.
pub const PEM_LABEL: &str = "OWNERSHIP VOUCHER";

/// `OVHeader = [OVHProtVer, OVGuid, OVRVInfo, OVDeviceInfo, OVPubKey, OVDevCertChainHash / null]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OvHeader {
    /// OVHProtVer.
    pub protocol_version: ProtocolVersion,
    /// OVGuid.
    pub guid: Guid,
    /// OVRVInfo.
    pub rv_info: RendezvousInfo,
    /// OVDeviceInfo.
    pub device_info: String,
    /// OVPubKey: the manufacturer's key, with its original encoding (DCPubKeyHash hashes it).
    pub manufacturer_key: Raw<PublicKey>,
    /// OVDevCertChainHash: null for devices without a certificate chain (EPID).
    pub cert_chain_hash: Option<Hash>,
}

impl OvHeader {
    /// A new FDO 1.1 header. With a device certificate chain, OVDevCertChainHash is computed
    /// over it with `chain_hash_alg`.
    pub fn new(
        crypto: &dyn CryptoProvider,
        guid: Guid,
        rv_info: RendezvousInfo,
        device_info: &str,
        manufacturer_key: PublicKey,
        cert_chain: Option<&[Vec<u8>]>,
        chain_hash_alg: HashAlg,
    ) -> Result<Self, Error> {
        let cert_chain_hash = match cert_chain {
            Some(chain) => {
                let parts: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
                Some(crypto.hash(chain_hash_alg, &parts)?)
            }
            None => None,
        };
        Ok(Self {
            protocol_version: ProtocolVersion::V101,
            guid,
            rv_info,
            device_info: device_info.to_string(),
            manufacturer_key: Raw::new(manufacturer_key),
            cert_chain_hash,
        })
    }

    /// The hash FDO binds a voucher entry to: `H(GUID ‖ DeviceInfo)` (OVEHashHdrInfo).
    pub fn header_info_hash(
        &self,
        crypto: &dyn CryptoProvider,
        alg: HashAlg,
    ) -> Result<Hash, Error> {
        crypto.hash(alg, &[self.guid.as_bytes(), self.device_info.as_bytes()])
    }
}

impl Cbor for OvHeader {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(6, "OVHeader (array of 6)")?;
        let protocol_version = ProtocolVersion::decode(d)?;
        let guid = Guid::decode(d)?;
        let rv_info = if protocol_version == ProtocolVersion::V100 {
            RendezvousInfo::decode_v100(d)?
        } else {
            RendezvousInfo::decode(d)?
        };
        Ok(Self {
            protocol_version,
            guid,
            rv_info,
            device_info: d.text("OVDeviceInfo (tstr)")?.to_string(),
            manufacturer_key: Raw::decode(d)?,
            cert_chain_hash: Option::<Hash>::decode(d)?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(6)
            .encode(&self.protocol_version)
            .encode(&self.guid)
            .encode(&self.rv_info)
            .text(&self.device_info)
            .encode(&self.manufacturer_key)
            .encode(&self.cert_chain_hash);
    }
}

/// OVEExtra: absent in FDO 1.0 entries, null or a byte string in 1.1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryExtra {
    /// FDO 1.0: the payload has three items.
    Absent,
    /// `null`.
    Null,
    /// `bstr .cbor {* int => bstr}`, as its contents (go-fdo writes an empty map, `h'a0'`).
    Bytes(Vec<u8>),
}

/// `OVEntryPayload = [OVEHashPrevEntry, OVEHashHdrInfo, OVEExtra, OVEPubKey]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OvEntryPayload {
    /// OVEHashPrevEntry.
    pub prev_entry_hash: Hash,
    /// OVEHashHdrInfo.
    pub header_info_hash: Hash,
    /// OVEExtra.
    pub extra: EntryExtra,
    /// OVEPubKey: the key this entry transfers ownership to.
    pub public_key: Raw<PublicKey>,
}

impl Cbor for OvEntryPayload {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        let n = d.array_between(3, 4, "OVEntryPayload (array of 4; 3 in FDO 1.0)")?;
        let prev_entry_hash = Hash::decode(d)?;
        let header_info_hash = Hash::decode(d)?;
        let extra = if n == 3 {
            EntryExtra::Absent
        } else if d.try_null() {
            EntryExtra::Null
        } else {
            EntryExtra::Bytes(d.bytes("OVEExtra (null or bstr)")?.to_vec())
        };
        Ok(Self {
            prev_entry_hash,
            header_info_hash,
            extra,
            public_key: Raw::decode(d)?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        let n = if self.extra == EntryExtra::Absent {
            3
        } else {
            4
        };
        e.array(n)
            .encode(&self.prev_entry_hash)
            .encode(&self.header_info_hash);
        match &self.extra {
            EntryExtra::Absent => {}
            EntryExtra::Null => {
                e.null();
            }
            EntryExtra::Bytes(b) => {
                e.bytes(b);
            }
        }
        e.encode(&self.public_key);
    }
}

/// `OVEntry = COSE_Sign1<OVEntryPayload>`, with its payload decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct OvEntry {
    sign1: Sign1,
    payload: OvEntryPayload,
}

impl OvEntry {
    /// The signed object, with its original bytes.
    pub fn sign1(&self) -> &Sign1 {
        &self.sign1
    }

    /// The decoded payload.
    pub fn payload(&self) -> &OvEntryPayload {
        &self.payload
    }

    /// The key this entry transfers ownership to.
    pub fn public_key(&self) -> &PublicKey {
        self.payload.public_key.value()
    }

    /// Builds and signs an entry.
    pub fn sign(payload: OvEntryPayload, signer: &dyn Signer) -> Result<Self, Error> {
        let sign1 = Sign1::sign(payload.to_cbor(), coset::Header::default(), signer)?;
        Ok(Self { sign1, payload })
    }
}

impl Cbor for OvEntry {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        let sign1 = Sign1::decode(d)?;
        let payload = OvEntryPayload::from_cbor(sign1.payload())?;
        Ok(Self { sign1, payload })
    }

    fn encode(&self, e: &mut Encoder) {
        e.encode(&self.sign1);
    }
}

/// How a voucher's OVDevCertChainHash was computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainHashForm {
    /// `H(DER(cert0) ‖ DER(cert1) ‖ …)`, as FDO 1.1 specifies and go-fdo writes.
    Concatenated,
    /// `H(CBOR([bstr cert0, …]))`, as older fdo-rs releases wrote it (their 1.0 vouchers and
    /// some 1.1 ones). Accepted on input, never written.
    CborArray,
}

/// An ownership voucher, FDO 1.1 (or 1.0 when read from such a file).
#[derive(Clone, Debug, PartialEq)]
pub struct OwnershipVoucher {
    protocol_version: ProtocolVersion,
    /// The header; its bytes are the OVHeaderTag contents (1.1) or the inline array (1.0).
    header: Raw<OvHeader>,
    hmac: Raw<HMac>,
    cert_chain: Option<Vec<Vec<u8>>>,
    /// The original encoding of OVDevCertChain.
    cert_chain_bytes: Vec<u8>,
    entries: Vec<OvEntry>,
}

impl OwnershipVoucher {
    /// A new FDO 1.1 voucher with no entries, as the manufacturer makes it after DI.
    ///
    /// `hmac` is the device's HMAC over the encoded `header`; `cert_chain` the device's
    /// certificate chain, leaf first, whose hash the header must carry.
    pub fn new(
        crypto: &dyn CryptoProvider,
        header: OvHeader,
        hmac: HMac,
        cert_chain: Option<Vec<Vec<u8>>>,
    ) -> Result<Self, Error> {
        let header = Raw::new(header);
        let ov = Self::from_parts(
            ProtocolVersion::V101,
            header,
            Raw::new(hmac),
            cert_chain,
            Vec::new(),
        );
        ov.check_cert_chain(crypto)?;
        Ok(ov)
    }

    fn from_parts(
        protocol_version: ProtocolVersion,
        header: Raw<OvHeader>,
        hmac: Raw<HMac>,
        cert_chain: Option<Vec<Vec<u8>>>,
        entries: Vec<OvEntry>,
    ) -> Self {
        let mut e = Encoder::new();
        encode_chain(&mut e, cert_chain.as_deref());
        Self {
            protocol_version,
            header,
            hmac,
            cert_chain,
            cert_chain_bytes: e.into_bytes(),
            entries,
        }
    }

    /// Reads a voucher in raw CBOR or PEM (`-----BEGIN OWNERSHIP VOUCHER-----`).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let trimmed = bytes.trim_ascii_start();
        if trimmed.starts_with(b"-----BEGIN") {
            let text = core::str::from_utf8(trimmed)
                .map_err(|_| Error::invalid("PEM voucher", "not UTF-8"))?;
            Self::from_pem(text)
        } else {
            Self::from_cbor(bytes)
        }
    }

    /// Reads a PEM voucher.
    pub fn from_pem(text: &str) -> Result<Self, Error> {
        let p = pem::parse(text).map_err(|e| Error::invalid("PEM voucher", e.to_string()))?;
        if p.tag() != PEM_LABEL {
            return Err(Error::invalid(
                "PEM voucher",
                alloc::format!("label {:?}, expected {PEM_LABEL:?}", p.tag()),
            ));
        }
        Self::from_cbor(p.contents())
    }

    /// The voucher as PEM.
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new(PEM_LABEL, self.to_cbor()))
    }

    /// OVProtVer.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.protocol_version
    }

    /// The decoded header.
    pub fn header(&self) -> &OvHeader {
        self.header.value()
    }

    /// The exact header bytes that the HMAC and entry 0 cover.
    pub fn header_bytes(&self) -> &[u8] {
        self.header.bytes()
    }

    /// OVHeaderHMac.
    pub fn hmac(&self) -> &HMac {
        self.hmac.value()
    }

    /// OVDevCertChain: DER certificates, leaf first.
    pub fn cert_chain(&self) -> Option<&[Vec<u8>]> {
        self.cert_chain.as_deref()
    }

    /// OVEntryArray.
    pub fn entries(&self) -> &[OvEntry] {
        &self.entries
    }

    /// The GUID.
    pub fn guid(&self) -> Guid {
        self.header().guid
    }

    /// The current owner's key: the last entry's key, or the manufacturer's when there is none.
    /// Only meaningful once [`OwnershipVoucher::verify`] has succeeded.
    pub fn owner_key(&self) -> &PublicKey {
        self.entries
            .last()
            .map_or(self.header().manufacturer_key.value(), OvEntry::public_key)
    }

    /// The hash algorithm of the entry chain: that of entry 0 when there is one, otherwise the
    /// plain hash of the HMAC's strength (what go-fdo and fdo-rs both pick).
    pub fn entry_hash_alg(&self) -> Result<HashAlg, Error> {
        if let Some(e) = self.entries.first() {
            return Ok(e.payload.prev_entry_hash.alg());
        }
        self.hmac
            .alg()
            .hmac_counterpart()
            .ok_or_else(|| Error::unsupported(alloc::format!("header HMAC {}", self.hmac.alg())))
    }

    /// `OVEHashPrevEntry` for the entry at `index` (which may be one past the last, for a new
    /// entry): entry 0 hashes the header bytes and the encoded HMac; later entries hash the
    /// whole previous entry, tag included.
    fn prev_entry_hash(
        &self,
        crypto: &dyn CryptoProvider,
        index: usize,
        alg: HashAlg,
    ) -> Result<Hash, Error> {
        match index.checked_sub(1).and_then(|i| self.entries.get(i)) {
            None => crypto.hash(alg, &[self.header.bytes(), self.hmac.bytes()]),
            Some(prev) => crypto.hash(alg, &[prev.sign1.bytes()]),
        }
    }

    fn check_cert_chain(
        &self,
        crypto: &dyn CryptoProvider,
    ) -> Result<Option<ChainHashForm>, Error> {
        // OVDevCertChainHash: H of the chain, present exactly when the chain is.
        match (&self.cert_chain, &self.header().cert_chain_hash) {
            (None, None) => Ok(None),
            (Some(chain), Some(want)) => {
                let parts: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
                let got = crypto.hash(want.alg(), &parts)?;
                if got.ct_eq(want) {
                    return Ok(Some(ChainHashForm::Concatenated));
                }
                let legacy = crypto.hash(want.alg(), &[&self.cert_chain_bytes])?;
                if legacy.ct_eq(want) {
                    return Ok(Some(ChainHashForm::CborArray));
                }
                Err(VerifyError::DeviceCertChainHash.into())
            }
            _ => Err(VerifyError::DeviceCertChainMissing.into()),
        }
    }

    /// The key type entries must carry; FDO 1.0 vouchers name key types by COSE algorithm.
    fn effective_key(&self, pk: &PublicKey) -> PublicKey {
        if self.protocol_version != ProtocolVersion::V100 {
            return pk.clone();
        }
        let mut k = pk.clone();
        k.pk_type = match pk.pk_type.0 {
            -7 => PkType::SECP256R1,
            -35 => PkType::SECP384R1,
            _ => pk.pk_type,
        };
        k
    }

    /// Verifies the voucher. With `device_secret`, the header HMAC is checked too; with
    /// `credential`, the manufacturer key hash and GUID are checked against it (its HMAC secret,
    /// if it holds one and `device_secret` is `None`, is used as well).
    ///
    /// Checks, each failing with its own [`VerifyError`]: header HMAC, device certificate chain
    /// hash, manufacturer key hash and GUID against the credential, and for every entry its key
    /// type, hash algorithms, header-info hash, previous-entry hash and signature.
    pub fn verify(
        self,
        crypto: &dyn CryptoProvider,
        device_secret: Option<&[u8]>,
        credential: Option<&DeviceCredential>,
    ) -> Result<VerifiedVoucher, Error> {
        let secret = device_secret.or_else(|| credential.and_then(|c| c.hmac_secret()));
        let hmac_checked = if let Some(secret) = secret {
            // OVHeaderHMac = HMAC(DeviceSecret, OVHeader).
            let got = crypto.hmac(self.hmac.alg(), secret, self.header.bytes())?;
            if !got.ct_eq(&self.hmac) {
                return Err(VerifyError::HeaderHmac.into());
            }
            true
        } else {
            false
        };

        let chain_hash = self.check_cert_chain(crypto)?;

        if let Some(dc) = credential {
            // The credential's GUID is the voucher's.
            if dc.guid != self.guid() {
                return Err(VerifyError::GuidMismatch.into());
            }
            // DCPubKeyHash = H(OVHeader.OVPubKey), over the key's encoding as it appears.
            let got = crypto.hash(
                dc.pub_key_hash.alg(),
                &[self.header().manufacturer_key.bytes()],
            )?;
            if !got.ct_eq(&dc.pub_key_hash) {
                return Err(VerifyError::ManufacturerKeyHash.into());
            }
        }

        let mfg = self.effective_key(self.header().manufacturer_key.value());
        let alg = self.entry_hash_alg()?;
        let mut signer_key = mfg.clone();
        for (index, entry) in self.entries.iter().enumerate() {
            let p = &entry.payload;
            let key = self.effective_key(p.public_key.value());
            // Every entry key has the manufacturer key's type and encoding.
            if !entry_key_compatible(&mfg, &key) {
                return Err(VerifyError::EntryKeyType { index }.into());
            }
            // One hash algorithm for the whole chain.
            if p.prev_entry_hash.alg() != alg || p.header_info_hash.alg() != alg {
                return Err(VerifyError::EntryHashType { index }.into());
            }
            // Entry i is signed by the previous owner (the manufacturer for entry 0).
            entry
                .sign1
                .verify(crypto, &signer_key, "voucher entry")
                .map_err(|e| match e {
                    Error::Verify(VerifyError::Signature(_)) => {
                        VerifyError::EntrySignature { index }.into()
                    }
                    other => other,
                })?;
            // OVEHashPrevEntry links to the header (entry 0) or to the previous entry.
            if !self
                .prev_entry_hash(crypto, index, alg)?
                .ct_eq(&p.prev_entry_hash)
            {
                return Err(VerifyError::EntryPrevHash { index }.into());
            }
            // OVEHashHdrInfo = H(GUID ‖ DeviceInfo).
            if !self
                .header()
                .header_info_hash(crypto, alg)?
                .ct_eq(&p.header_info_hash)
            {
                return Err(VerifyError::EntryHeaderInfoHash { index }.into());
            }
            signer_key = key;
        }
        // Key material must parse as the declared type even for a voucher with no entries.
        crypto.same_key(&signer_key, &signer_key)?;

        Ok(VerifiedVoucher {
            voucher: self,
            hmac_checked,
            chain_hash,
        })
    }

    /// Extends the voucher to `next_owner`, signing the new entry with the current owner's key.
    ///
    /// Fails unless `owner` holds the voucher's owner key and `next_owner` has the manufacturer
    /// key's type and encoding.
    pub fn extend(
        &self,
        crypto: &dyn CryptoProvider,
        owner: &dyn Signer,
        next_owner: PublicKey,
    ) -> Result<Self, Error> {
        if self.protocol_version != ProtocolVersion::V101 {
            return Err(Error::unsupported(
                "extending a voucher that is not FDO 1.1",
            ));
        }
        let current = self.owner_key();
        let mine = owner.public_key(crate::types::PkEnc::X509)?;
        if !crypto.same_key(&mine, current)? {
            return Err(VerifyError::OwnerKeyMismatch.into());
        }
        let mfg = self.header().manufacturer_key.value();
        if !entry_key_compatible(&self.effective_key(mfg), &next_owner) {
            return Err(Error::invalid(
                "next owner key",
                alloc::format!(
                    "{} key, but this voucher's entries must be {}/{}",
                    next_owner,
                    mfg.pk_type,
                    mfg.enc
                ),
            ));
        }
        // Parse it once so a malformed key is refused here rather than at the next verify.
        crypto.same_key(&next_owner, &next_owner)?;
        let alg = self.entry_hash_alg()?;
        let payload = OvEntryPayload {
            prev_entry_hash: self.prev_entry_hash(crypto, self.entries.len(), alg)?,
            header_info_hash: self.header().header_info_hash(crypto, alg)?,
            extra: EntryExtra::Null,
            public_key: Raw::new(next_owner),
        };
        let entry = OvEntry::sign(payload, owner)?;
        let mut next = self.clone();
        next.entries.push(entry);
        Ok(next)
    }
}

/// Entry keys must have the manufacturer key's type and encoding. X509 and X5CHAIN both carry a
/// SubjectPublicKeyInfo and count as one encoding here: go-fdo extends an X5CHAIN manufacturer
/// key to an X509 owner key, and an owner rarely has a certificate of its own.
fn entry_key_compatible(mfg: &PublicKey, key: &PublicKey) -> bool {
    use crate::types::PkEnc;
    let spki = |e: PkEnc| e == PkEnc::X509 || e == PkEnc::X5CHAIN;
    key.pk_type == mfg.pk_type && (key.enc == mfg.enc || (spki(key.enc) && spki(mfg.enc)))
}

fn encode_chain(e: &mut Encoder, chain: Option<&[Vec<u8>]>) {
    match chain {
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

impl Cbor for OwnershipVoucher {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        const WHAT: &str = "OwnershipVoucher (array of 5; 4 in FDO 1.0)";
        let n = d.array_between(4, 5, WHAT)?;
        let (protocol_version, header) = if n == 4 {
            // FDO 1.0: [OVHeader, HMac, chain, entries] with the header inline.
            let header: Raw<OvHeader> = Raw::decode(d)?;
            if header.protocol_version != ProtocolVersion::V100 {
                return Err(Error::invalid(
                    WHAT,
                    "a four-item voucher must be FDO 1.0 (protocol version 100)",
                ));
            }
            (ProtocolVersion::V100, header)
        } else {
            let pv = ProtocolVersion::decode(d)?;
            let contents = d.bytes("OVHeaderTag (bstr .cbor OVHeader)")?;
            (pv, Raw::from_bytes(contents)?)
        };
        if header.protocol_version != protocol_version {
            return Err(Error::invalid(
                "OVHeader",
                alloc::format!(
                    "protocol version {} differs from the voucher's {}",
                    header.protocol_version.0,
                    protocol_version.0
                ),
            ));
        }
        let hmac = Raw::decode(d)?;
        const CHAIN: &str = "OVDevCertChain (array of bstr, or null)";
        let cert_chain_bytes = d.clone().item(CHAIN)?.to_vec();
        let cert_chain = if d.try_null() {
            None
        } else {
            let count = d.array(CHAIN)?;
            if count == 0 || count > d.remaining().len() as u64 {
                return Err(d.error(CHAIN, Found::Length(count)));
            }
            Some(
                (0..count)
                    .map(|_| d.bytes("device certificate (bstr)").map(<[u8]>::to_vec))
                    .collect::<Result<Vec<_>, _>>()?,
            )
        };
        if d.peek_major() != Some(Major::Array) {
            return Err(d.error(
                "OVEntryArray (array)",
                d.peek_major().map_or(Found::End, Found::Type),
            ));
        }
        let entries = crate::cbor::decode_array(d, "OVEntryArray (array of OVEntry)")?;
        Ok(Self {
            protocol_version,
            header,
            hmac,
            cert_chain,
            cert_chain_bytes,
            entries,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        if self.protocol_version == ProtocolVersion::V100 {
            e.array(4).raw(self.header.bytes());
        } else {
            e.array(5)
                .encode(&self.protocol_version)
                .bytes(self.header.bytes());
        }
        e.encode(&self.hmac)
            .raw(&self.cert_chain_bytes)
            .array(self.entries.len());
        for entry in &self.entries {
            e.encode(entry);
        }
    }
}

/// A voucher whose checks all passed: the only way to get one is
/// [`OwnershipVoucher::verify`].
#[derive(Clone, Debug)]
pub struct VerifiedVoucher {
    voucher: OwnershipVoucher,
    hmac_checked: bool,
    chain_hash: Option<ChainHashForm>,
}

impl VerifiedVoucher {
    /// The voucher.
    pub fn voucher(&self) -> &OwnershipVoucher {
        &self.voucher
    }

    /// Gives the voucher back.
    pub fn into_voucher(self) -> OwnershipVoucher {
        self.voucher
    }

    /// The verified owner key (last entry's key, or the manufacturer's).
    pub fn owner_key(&self) -> &PublicKey {
        self.voucher.owner_key()
    }

    /// True when the header HMAC was checked against the device secret.
    pub fn hmac_checked(&self) -> bool {
        self.hmac_checked
    }

    /// How the certificate chain hash was formed, if the voucher has a chain.
    pub fn chain_hash_form(&self) -> Option<ChainHashForm> {
        self.chain_hash
    }

    /// Fails with [`VerifyError::NoEntries`] unless the voucher has at least one entry, as TO0
    /// and TO2 require.
    pub fn require_entries(&self) -> Result<(), Error> {
        if self.voucher.entries.is_empty() {
            Err(VerifyError::NoEntries.into())
        } else {
            Ok(())
        }
    }
}

impl fmt::Display for OwnershipVoucher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = self.header();
        writeln!(f, "protocol version  {}", self.protocol_version.0)?;
        writeln!(f, "GUID              {}", h.guid)?;
        writeln!(f, "device info       {:?}", h.device_info)?;
        writeln!(f, "rendezvous        {}", h.rv_info)?;
        writeln!(f, "manufacturer key  {}", h.manufacturer_key.value())?;
        writeln!(f, "header HMAC       {}", self.hmac.alg())?;
        match (&self.cert_chain, &h.cert_chain_hash) {
            (Some(c), Some(hash)) => {
                writeln!(f, "device chain      {} certificates, hash {hash}", c.len())?
            }
            (Some(c), None) => writeln!(f, "device chain      {} certificates, no hash", c.len())?,
            (None, _) => writeln!(f, "device chain      none")?,
        }
        writeln!(f, "entries           {}", self.entries.len())?;
        for (i, e) in self.entries.iter().enumerate() {
            let alg = e
                .sign1
                .algorithm()
                .map_or_else(|_| "?".to_string(), |a| alloc::format!("{a:?}"));
            writeln!(f, "  [{i}] signed {alg}, to {}", e.public_key())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
