//! The device credential: what a device keeps after DI and updates after each TO2.
//!
//! The FDO fields are DCActive, DCProtVer, DCHmacSecret, DCDeviceInfo, DCGuid, DCRVInfo and
//! DCPubKeyHash; the file format is each implementation's own. Ours is a CBOR array with a
//! format tag and version so it can evolve:
//!
//! ```text
//! VouchCredential = [
//!   "vouch-dc", 1,
//!   active: bool, protver: uint, hmac_secret: bstr, device_info: tstr,
//!   guid: Guid, rv_info: RendezvousInfo, pub_key_hash: Hash,
//!   device_key: bstr (PKCS#8 DER) / null      ; null when a key store holds the key
//! ]
//! ```
//!
//! fdo-rs' `dc.bin` is read as well:
//! `[active, protver, devinfo, guid, rvinfo, Hash, {"Plain": {"hmac_secret": [* uint8], "private_key": [* uint8]}}]`.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use zeroize::Zeroizing;

use crate::Error;
use crate::cbor::{Cbor, Decoder, Encoder, Major};
use crate::error::Found;
use crate::types::{Guid, Hash, ProtocolVersion, RendezvousInfo};

const FORMAT_TAG: &str = "vouch-dc";
const FORMAT_VERSION: u64 = 1;

/// A device credential.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceCredential {
    /// DCActive: false once the device has been told to stop onboarding.
    pub active: bool,
    /// DCProtVer.
    pub protocol_version: ProtocolVersion,
    /// DCHmacSecret; `None` when the secret lives in a key store.
    pub hmac_secret: Option<Zeroizing<Vec<u8>>>,
    /// DCDeviceInfo.
    pub device_info: String,
    /// DCGuid.
    pub guid: Guid,
    /// DCRVInfo.
    pub rv_info: RendezvousInfo,
    /// DCPubKeyHash: hash of the current owner-side key (the manufacturer's after DI).
    pub pub_key_hash: Hash,
    /// The device attestation private key as DER (PKCS#8 or SEC1); `None` when a key store holds it.
    pub device_key: Option<Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for DeviceCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCredential")
            .field("active", &self.active)
            .field("protocol_version", &self.protocol_version)
            .field(
                "hmac_secret",
                &self.hmac_secret.as_ref().map(|_| "<secret>"),
            )
            .field("device_info", &self.device_info)
            .field("guid", &self.guid)
            .field("rv_info", &self.rv_info)
            .field("pub_key_hash", &self.pub_key_hash)
            .field("device_key", &self.device_key.as_ref().map(|_| "<secret>"))
            .finish()
    }
}

impl DeviceCredential {
    /// The HMAC secret, if the credential holds it.
    pub fn hmac_secret(&self) -> Option<&[u8]> {
        self.hmac_secret.as_deref().map(Vec::as_slice)
    }

    /// Reads our format or fdo-rs' `dc.bin`, whichever `bytes` is.
    pub fn from_any(bytes: &[u8]) -> Result<Self, Error> {
        match Self::from_cbor(bytes) {
            Ok(dc) => Ok(dc),
            Err(ours) => Self::from_fdo_rs(bytes).map_err(|_| ours),
        }
    }

    /// Reads fdo-rs' `dc.bin`.
    pub fn from_fdo_rs(bytes: &[u8]) -> Result<Self, Error> {
        let mut d = Decoder::new(bytes);
        d.array_of(7, "fdo-rs device credential (array of 7)")?;
        let active = d.bool("DCActive (bool)")?;
        let protocol_version = ProtocolVersion::decode(&mut d)?;
        let device_info = d.text("DCDeviceInfo (tstr)")?.to_string();
        let guid = Guid::decode(&mut d)?;
        let rv_info = RendezvousInfo::decode(&mut d)?;
        let pub_key_hash = Hash::decode(&mut d)?;
        d.map_of_one("fdo-rs key storage ({\"Plain\": {...}})")?;
        let kind = d.text("fdo-rs key storage kind")?;
        if kind != "Plain" {
            return Err(Error::unsupported(alloc::format!(
                "fdo-rs credential key storage {kind:?}"
            )));
        }
        let pairs = d.map("fdo-rs plain keys (map)")?;
        let mut hmac_secret = None;
        let mut device_key = None;
        for _ in 0..pairs {
            let name = d.text("fdo-rs key name")?;
            let value = read_byte_list(&mut d)?;
            match name {
                "hmac_secret" => hmac_secret = Some(value),
                "private_key" => device_key = Some(value),
                _ => {}
            }
        }
        d.finish("end of fdo-rs device credential")?;
        Ok(Self {
            active,
            protocol_version,
            hmac_secret,
            device_info,
            guid,
            rv_info,
            pub_key_hash,
            device_key,
        })
    }
}

/// serde writes `Vec<u8>` as an array of small integers; accept that or a byte string.
fn read_byte_list(d: &mut Decoder<'_>) -> Result<Zeroizing<Vec<u8>>, Error> {
    if d.peek_major() == Some(Major::Bytes) {
        return Ok(Zeroizing::new(d.bytes("key bytes")?.to_vec()));
    }
    let n = d.array("key bytes (array of uint8 or bstr)")?;
    if n > d.remaining().len() as u64 {
        return Err(d.error("key bytes (array of uint8)", Found::Length(n)));
    }
    let mut out = Zeroizing::new(Vec::with_capacity(n as usize));
    for _ in 0..n {
        out.push(d.uint_as::<u8>("key byte (uint8)")?);
    }
    Ok(out)
}

impl Decoder<'_> {
    fn map_of_one(&mut self, expected: &'static str) -> Result<(), Error> {
        let n = self.map(expected)?;
        if n != 1 {
            return Err(self.error(expected, Found::Length(n)));
        }
        Ok(())
    }
}

impl Cbor for DeviceCredential {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(10, "vouch device credential (array of 10)")?;
        let tag = d.text("credential format tag")?;
        if tag != FORMAT_TAG {
            return Err(Error::invalid(
                "device credential",
                alloc::format!("format {tag:?}, expected {FORMAT_TAG:?}"),
            ));
        }
        let version = d.uint("credential format version")?;
        if version != FORMAT_VERSION {
            return Err(Error::unsupported(alloc::format!(
                "device credential format version {version}"
            )));
        }
        let active = d.bool("DCActive (bool)")?;
        let protocol_version = ProtocolVersion::decode(d)?;
        let hmac_secret = if d.try_null() {
            None
        } else {
            Some(Zeroizing::new(d.bytes("DCHmacSecret (bstr)")?.to_vec()))
        };
        let device_info = d.text("DCDeviceInfo (tstr)")?.to_string();
        let guid = Guid::decode(d)?;
        let rv_info = RendezvousInfo::decode(d)?;
        let pub_key_hash = Hash::decode(d)?;
        let device_key = if d.try_null() {
            None
        } else {
            Some(Zeroizing::new(d.bytes("device key (bstr DER)")?.to_vec()))
        };
        Ok(Self {
            active,
            protocol_version,
            hmac_secret,
            device_info,
            guid,
            rv_info,
            pub_key_hash,
            device_key,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(10)
            .text(FORMAT_TAG)
            .uint(FORMAT_VERSION)
            .bool(self.active)
            .encode(&self.protocol_version);
        match self.hmac_secret() {
            Some(s) => e.bytes(s),
            None => e.null(),
        };
        e.text(&self.device_info)
            .encode(&self.guid)
            .encode(&self.rv_info)
            .encode(&self.pub_key_hash);
        match &self.device_key {
            Some(k) => e.bytes(k),
            None => e.null(),
        };
    }
}
