//! DI, Device Initialization: device ↔ manufacturer, messages 10 to 13 (FDO reference §2.1).
//!
//! ```text
//! 10 DI.AppStart       = [DeviceMfgInfo]               device → manufacturer
//! 11 DI.SetCredentials = [bstr .cbor OVHeader]         manufacturer → device
//! 12 DI.SetHMAC        = [HMac]                        device → manufacturer
//! 13 DI.Done           = []                            manufacturer → device
//! ```

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::Error;
use crate::cbor::{Bstr, Cbor, Decoder, Encoder, Major, Raw};
use crate::error::{DecodeError, Found};
use crate::messages::{decode_empty, found_next, message_types};
use crate::types::{HMac, PkEnc, PkType};
use crate::voucher::OvHeader;

/// `DeviceMfgInfo`: vendor-specific data the device sends in DI.AppStart, kept as the exact
/// CBOR item it came as.
///
/// The CDDL leaves it open. go-fdo and fdo-rs send `bstr .cbor any` (for go-fdo's example
/// server, a serial number, key type and CSR); go-fdo allows `null`. Any single CBOR item is
/// accepted here; [`DeviceMfgInfo::wrapped`] reads the common `bstr .cbor any` form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceMfgInfo {
    item: Vec<u8>,
}

impl DeviceMfgInfo {
    /// `null`: no manufacturing information.
    pub fn null() -> Self {
        Self {
            item: alloc::vec![0xf6],
        }
    }

    /// `bstr .cbor T`: the form go-fdo and fdo-rs send.
    pub fn wrap<T: Cbor>(value: &T) -> Self {
        let mut e = Encoder::new();
        e.bytes(&value.to_cbor());
        Self {
            item: e.into_bytes(),
        }
    }

    /// Any single CBOR item, given as its encoding.
    pub fn from_item(item: &[u8]) -> Result<Self, Error> {
        let mut d = Decoder::new(item);
        d.item("DeviceMfgInfo (one CBOR item)")?;
        d.finish("end of DeviceMfgInfo")?;
        Ok(Self {
            item: item.to_vec(),
        })
    }

    /// The item's exact encoding.
    pub fn item(&self) -> &[u8] {
        &self.item
    }

    /// True when the item is `null`.
    pub fn is_null(&self) -> bool {
        self.item == [0xf6]
    }

    /// The contents of the byte string, when the item is one (`bstr .cbor any`).
    pub fn wrapped(&self) -> Option<&[u8]> {
        let mut d = Decoder::new(&self.item);
        d.bytes("bstr").ok()
    }

    /// The item as a [`ciborium::Value`].
    pub fn value(&self) -> Result<ciborium::Value, Error> {
        crate::cbor::value_from_slice(&self.item)
    }

    /// The item read as `bstr .cbor MfgInfo`, the layout of the C and Java clients and go-fdo.
    pub fn mfg_info(&self) -> Result<MfgInfo, Error> {
        let mut d = Decoder::new(&self.item);
        let inner = d.bytes("DeviceMfgInfo (bstr .cbor MfgInfo)")?;
        d.finish("end of DeviceMfgInfo")?;
        MfgInfo::from_cbor(inner)
    }
}

/// `MfgInfo`: the DeviceMfgInfo layout the Intel C client, the Java client and go-fdo send,
/// wrapped in a byte string (read it with [`DeviceMfgInfo::mfg_info`], build the message
/// item with [`DeviceMfgInfo::wrap`]).
///
/// ```text
/// MfgInfo = [
///   pkType: int,            ; the device key's type
///   pkEnc: int,
///   serialNo: tstr,
///   deviceInfo: tstr,       ; the model number; becomes OVDeviceInfo
///   CSR: bstr,              ; DER PKCS#10 request for the device certificate
///   ? odca_chain: bstr,     ; deprecated, skipped
///   ? test_sig: bstr,       ; deprecated, skipped
///   ? maroe_prefix: bstr    ; deprecated, skipped
/// ]
/// ```
///
/// An older go-fdo layout has a `KeyHashAlg: int` between pkEnc and serialNo
/// (`[pkType, pkEnc, hashAlg, serialNo, deviceInfo, CSR, ...]`). Decoding accepts it too,
/// telling the two apart by the third item (an int there, a text string in the current
/// layout), and drops the hash algorithm. Encoding always writes the five-item layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MfgInfo {
    /// pkType of the device key.
    pub key_type: PkType,
    /// pkEnc the device asks for.
    pub key_encoding: PkEnc,
    /// The device's serial number.
    pub serial_number: String,
    /// deviceInfo: the model number, carried into OVDeviceInfo.
    pub device_info: String,
    /// The DER PKCS#10 certificate signing request for the device key.
    pub csr: Vec<u8>,
}

impl Cbor for MfgInfo {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        const WHAT: &str = "MfgInfo [pkType, pkEnc, ? hashAlg, serialNo, deviceInfo, CSR, \
                            ? odca_chain, ? test_sig, ? maroe_prefix]";
        /// The deprecated trailing byte strings after CSR.
        const MAX_OPTIONAL: u64 = 3;
        let start = d.position();
        let n = d.array(WHAT)?;
        let length_error = || {
            Error::Decode(DecodeError {
                expected: WHAT,
                found: Found::Length(n),
                at: start,
            })
        };
        if n < 5 {
            return Err(length_error());
        }
        let key_type = PkType(d.int("MfgInfo pkType (int)")?);
        let key_encoding = PkEnc(d.int("MfgInfo pkEnc (int)")?);
        let required = match d.peek_major() {
            Some(Major::Unsigned | Major::Negative) => {
                // Older go-fdo: KeyHashAlg sits here. It is not used.
                d.int("MfgInfo hashAlg (int)")?;
                6
            }
            Some(Major::Text) => 5,
            _ => {
                return Err(d.error(
                    "MfgInfo serialNo (tstr), or hashAlg (int) in the older go-fdo layout",
                    found_next(d),
                ));
            }
        };
        if n < required || n - required > MAX_OPTIONAL {
            return Err(length_error());
        }
        let serial_number = d.text("MfgInfo serialNo (tstr)")?.to_string();
        let device_info = d.text("MfgInfo deviceInfo (tstr)")?.to_string();
        let csr = d.bytes("MfgInfo CSR (bstr, DER PKCS#10)")?.to_vec();
        for _ in required..n {
            d.bytes("MfgInfo odca_chain, test_sig or maroe_prefix (bstr)")?;
        }
        Ok(Self {
            key_type,
            key_encoding,
            serial_number,
            device_info,
            csr,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(5)
            .int(self.key_type.0)
            .int(self.key_encoding.0)
            .text(&self.serial_number)
            .text(&self.device_info)
            .bytes(&self.csr);
    }
}

impl Cbor for DeviceMfgInfo {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        Ok(Self {
            item: d.item("DeviceMfgInfo (any CBOR item)")?.to_vec(),
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.raw(&self.item);
    }
}

/// DI.AppStart (10), device → manufacturer.
///
/// ```text
/// DI.AppStart = [DeviceMfgInfo]
/// DeviceMfgInfo = any        ; go-fdo, fdo-rs: bstr .cbor any; go-fdo also null
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppStart {
    /// DeviceMfgInfo.
    pub mfg_info: DeviceMfgInfo,
}

impl Cbor for AppStart {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(1, "DI.AppStart [DeviceMfgInfo]")?;
        Ok(Self {
            mfg_info: DeviceMfgInfo::decode(d)?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(1).encode(&self.mfg_info);
    }
}

/// How a DI.SetCredentials carried its OVHeader (pitfall 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SetCredentialsForm {
    /// `[bstr .cbor OVHeader]`, as the specification, go-fdo and the Intel C SDK write it.
    /// Always used for messages made here.
    Wrapped,
    /// The bare six-item OVHeader array with no outer array, as fdo-rs' manufacturing server
    /// writes it. Accepted on input and re-encoded the same way.
    BareHeader,
}

/// DI.SetCredentials (11), manufacturer → device.
///
/// ```text
/// DI.SetCredentials = [OVHeader: bstr .cbor OVHeader]
/// ```
///
/// fdo-rs sends the OVHeader array itself instead (pitfall 5); that is accepted too, and
/// [`SetCredentials::form`] says which one came. Either way [`SetCredentials::header_bytes`] are
/// the exact header bytes the device computes its HMAC over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetCredentials {
    header: Bstr<OvHeader>,
    form: SetCredentialsForm,
}

impl SetCredentials {
    /// The message for `header`, in the specification's form.
    pub fn new(header: OvHeader) -> Self {
        Self::from_bstr(Bstr::new(header))
    }

    /// The message for a header whose bytes are already fixed (the voucher being built keeps
    /// the same bytes).
    pub fn from_bstr(header: Bstr<OvHeader>) -> Self {
        Self {
            header,
            form: SetCredentialsForm::Wrapped,
        }
    }

    /// The decoded header.
    pub fn header(&self) -> &OvHeader {
        self.header.value()
    }

    /// The exact encoding of the OVHeader: what DI.SetHMAC's HMAC covers.
    pub fn header_bytes(&self) -> &[u8] {
        self.header.contents()
    }

    /// The header with its bytes.
    pub fn into_header(self) -> Bstr<OvHeader> {
        self.header
    }

    /// Which framing the message came in.
    pub fn form(&self) -> SetCredentialsForm {
        self.form
    }
}

impl Cbor for SetCredentials {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        const WHAT: &str = "DI.SetCredentials [bstr .cbor OVHeader] (or fdo-rs' bare OVHeader)";
        let start = d.position();
        let n = d.clone().array(WHAT)?;
        match n {
            1 => {
                d.array_of(1, WHAT)?;
                if d.peek_major() != Some(Major::Bytes) {
                    return Err(d.error("OVHeader (bstr .cbor OVHeader)", found_next(d)));
                }
                Ok(Self {
                    header: Bstr::decode(d)?,
                    form: SetCredentialsForm::Wrapped,
                })
            }
            6 => {
                let raw: Raw<OvHeader> = Raw::decode(d)?;
                Ok(Self {
                    header: Bstr::from_contents(raw.bytes())?,
                    form: SetCredentialsForm::BareHeader,
                })
            }
            _ => Err(Error::Decode(crate::error::DecodeError {
                expected: WHAT,
                found: Found::Length(n),
                at: start,
            })),
        }
    }

    fn encode(&self, e: &mut Encoder) {
        match self.form {
            SetCredentialsForm::Wrapped => {
                e.array(1).encode(&self.header);
            }
            SetCredentialsForm::BareHeader => {
                e.raw(self.header.contents());
            }
        }
    }
}

/// DI.SetHMAC (12), device → manufacturer.
///
/// ```text
/// DI.SetHMAC = [HMac]     ; HMAC(DeviceSecret, OVHeader bytes)
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetHmac {
    /// The HMAC over the OVHeader bytes of DI.SetCredentials.
    pub hmac: HMac,
}

impl Cbor for SetHmac {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(1, "DI.SetHMAC [HMac]")?;
        Ok(Self {
            hmac: HMac::decode(d)?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(1).encode(&self.hmac);
    }
}

/// DI.Done (13), manufacturer → device.
///
/// ```text
/// DI.Done = []
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Done;

impl Cbor for Done {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        decode_empty(d, "DI.Done []").map(|()| Self)
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(0);
    }
}

message_types! {
    AppStart => DI_APP_START,
    SetCredentials => DI_SET_CREDENTIALS,
    SetHmac => DI_SET_HMAC,
    Done => DI_DONE,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cbor::Raw;
    use crate::messages::test_util::hex;
    use crate::messages::{Message, MessageType};
    use crate::types::{Guid, HashAlg, ProtocolVersion, PublicKey, RendezvousInfo};

    /// An OVHeader with an X509 key of 3 bytes and no cert chain hash.
    pub(crate) const OV_HEADER: &str = "
        86                                   # array(6) OVHeader
          18 65                              #   101 OVHProtVer
          50 000102030405060708090a0b0c0d0e0f #  bstr(16) OVGuid
          80                                 #   [] OVRVInfo
          63 646576                          #   \"dev\" OVDeviceInfo
          83 0a 01 43 010203                 #   [10, 1, h'010203'] OVPubKey
          f6                                 #   null OVDevCertChainHash";

    pub(crate) fn header() -> OvHeader {
        OvHeader {
            protocol_version: ProtocolVersion::V101,
            guid: Guid(core::array::from_fn(|i| i as u8)),
            rv_info: RendezvousInfo::default(),
            device_info: "dev".into(),
            manufacturer_key: Raw::new(PublicKey::x509(PkType::SECP256R1, alloc::vec![1, 2, 3])),
            cert_chain_hash: None,
        }
    }

    #[test]
    fn app_start_round_trips_bstr_null_and_any() {
        // [h'a1 6173 6178'] : go-fdo/fdo-rs form, bstr .cbor {"s": "x"}
        let bytes = hex("81 45 a16173 6178");
        let m = AppStart::from_cbor(&bytes).unwrap();
        assert_eq!(m.mfg_info.wrapped(), Some(&hex("a1 6173 6178")[..]));
        assert_eq!(m.to_cbor(), bytes);
        let v = ciborium::Value::Map(alloc::vec![("s".into(), "x".into())]);
        let built = AppStart {
            mfg_info: DeviceMfgInfo::wrap(&v),
        };
        assert_eq!(built, m);
        // [null]
        let null = AppStart::from_cbor(&hex("81 f6")).unwrap();
        assert!(null.mfg_info.is_null());
        assert_eq!(null.mfg_info, DeviceMfgInfo::null());
        assert_eq!(null.to_cbor(), hex("81 f6"));
        // [{1: 2}] : any other item is kept as it came
        let map = AppStart::from_cbor(&hex("81 a1 01 02")).unwrap();
        assert_eq!(map.mfg_info.wrapped(), None);
        assert_eq!(map.to_cbor(), hex("81 a1 01 02"));
        assert_eq!(AppStart::from_cbor(&built.to_cbor()).unwrap(), built);
        assert!(DeviceMfgInfo::from_item(&hex("01 02")).is_err());
    }

    #[test]
    fn app_start_refuses_wrong_shape() {
        // []
        let err = AppStart::from_cbor(&hex("80")).unwrap_err().to_string();
        assert!(
            err.contains("DI.AppStart") && err.contains("length 0"),
            "{err}"
        );
        // a bare bstr, not in an array
        let err = AppStart::from_cbor(&hex("41 00")).unwrap_err().to_string();
        assert!(err.contains("DI.AppStart"), "{err}");
        // trailing byte
        assert!(AppStart::from_cbor(&hex("81 f6 00")).is_err());
    }

    #[test]
    fn set_credentials_wrapped_round_trips() {
        let header_bytes = hex(OV_HEADER);
        // [bstr(33) OVHeader]
        let mut bytes = hex("81 58 21");
        assert_eq!(header_bytes.len(), 0x21);
        bytes.extend_from_slice(&header_bytes);
        let m = SetCredentials::from_cbor(&bytes).unwrap();
        assert_eq!(m.form(), SetCredentialsForm::Wrapped);
        assert_eq!(m.header(), &header());
        assert_eq!(m.header_bytes(), header_bytes);
        assert_eq!(m.to_cbor(), bytes);
        let built = SetCredentials::new(header());
        assert_eq!(built, m);
        assert_eq!(SetCredentials::from_cbor(&built.to_cbor()).unwrap(), built);
    }

    #[test]
    fn set_credentials_bare_header_from_fdo_rs() {
        let bytes = hex(OV_HEADER);
        let m = SetCredentials::from_cbor(&bytes).unwrap();
        assert_eq!(m.form(), SetCredentialsForm::BareHeader);
        assert_eq!(m.header(), &header());
        // the HMAC covers the header array exactly as it came
        assert_eq!(m.header_bytes(), bytes);
        // and it goes back out the way it came
        assert_eq!(m.to_cbor(), bytes);
    }

    #[test]
    fn set_credentials_refuses_wrong_shape() {
        // [] and [1, 2]
        for b in ["80", "82 01 02"] {
            let err = SetCredentials::from_cbor(&hex(b)).unwrap_err().to_string();
            assert!(err.contains("DI.SetCredentials"), "{b}: {err}");
        }
        // [OVHeader] unwrapped inside the one-item array
        let mut inner = hex("81");
        inner.extend_from_slice(&hex(OV_HEADER));
        let err = SetCredentials::from_cbor(&inner).unwrap_err().to_string();
        assert!(err.contains("bstr .cbor OVHeader"), "{err}");
        // a bstr holding something that is not an OVHeader
        let err = SetCredentials::from_cbor(&hex("81 41 01"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("OVHeader"), "{err}");
    }

    #[test]
    fn set_hmac_round_trips_and_refuses_hash() {
        // [[5, h'00'*32]]
        let mut bytes = hex("81 82 05 58 20");
        bytes.extend_from_slice(&[0; 32]);
        let m = SetHmac::from_cbor(&bytes).unwrap();
        assert_eq!(m.hmac.alg(), HashAlg::HMAC_SHA256);
        assert_eq!(m.to_cbor(), bytes);
        assert_eq!(SetHmac::from_cbor(&m.to_cbor()).unwrap(), m);
        // a plain hash id (-16) where an HMAC belongs
        let mut bad = hex("81 82 2f 58 20");
        bad.extend_from_slice(&[0; 32]);
        assert!(SetHmac::from_cbor(&bad).is_err());
        let err = SetHmac::from_cbor(&hex("80")).unwrap_err().to_string();
        assert!(err.contains("DI.SetHMAC"), "{err}");
    }

    /// The MfgInfo every test below builds on: P-256, X509, serial "abc", model "m1",
    /// CSR h'010203'.
    fn mfg_info() -> MfgInfo {
        MfgInfo {
            key_type: PkType::SECP256R1,
            key_encoding: PkEnc::X509,
            serial_number: "abc".into(),
            device_info: "m1".into(),
            csr: alloc::vec![1, 2, 3],
        }
    }

    /// Wraps hex `inner` in a byte string, as DeviceMfgInfo carries it.
    fn wrapped(inner: &str) -> DeviceMfgInfo {
        let mut e = Encoder::new();
        e.bytes(&hex(inner));
        DeviceMfgInfo::from_item(&e.into_bytes()).unwrap()
    }

    const MFG_INFO: &str = "
        85                                   # array(5) MfgInfo
          0a                                 #   10 pkType SECP256R1
          01                                 #   1 pkEnc X509
          63 616263                          #   \"abc\" serialNo
          62 6d31                            #   \"m1\" deviceInfo
          43 010203                          #   h'010203' CSR";

    #[test]
    fn mfg_info_five_items_round_trips() {
        let m = MfgInfo::from_cbor(&hex(MFG_INFO)).unwrap();
        assert_eq!(m, mfg_info());
        assert_eq!(m.to_cbor(), hex(MFG_INFO));
        // bstr(14) .cbor MfgInfo, as DeviceMfgInfo::wrap writes it
        let item = DeviceMfgInfo::wrap(&m);
        let mut expected = hex("4e");
        expected.extend_from_slice(&hex(MFG_INFO));
        assert_eq!(item.item(), expected);
        assert_eq!(item.mfg_info().unwrap(), mfg_info());
        assert_eq!(wrapped(MFG_INFO).mfg_info().unwrap(), mfg_info());
    }

    #[test]
    fn mfg_info_older_go_fdo_layout_with_hash_alg() {
        let old = "
            86                               # array(6) older go-fdo MfgInfo
              0a                             #   10 pkType
              01                             #   1 pkEnc
              2f                             #   -16 KeyHashAlg SHA-256
              63 616263                      #   \"abc\" serialNo
              62 6d31                        #   \"m1\" deviceInfo
              43 010203                      #   h'010203' CSR";
        let m = wrapped(old).mfg_info().unwrap();
        assert_eq!(m, mfg_info());
        // re-encoded in the current five-item layout
        assert_eq!(m.to_cbor(), hex(MFG_INFO));
        // an unsigned hash alg (8, say) is told apart the same way
        let unsigned = "86 0a 01 08 63 616263 62 6d31 43 010203";
        assert_eq!(wrapped(unsigned).mfg_info().unwrap(), mfg_info());
    }

    #[test]
    fn mfg_info_skips_deprecated_trailing_bstrs() {
        for inner in [
            // [.., CSR, odca_chain]
            "86 0a 01 63 616263 62 6d31 43 010203 41 aa",
            // [.., CSR, odca_chain, test_sig, maroe_prefix]
            "88 0a 01 63 616263 62 6d31 43 010203 41 aa 41 bb 41 cc",
            // older layout: [.., hashAlg, .., CSR, odca_chain, test_sig, maroe_prefix]
            "89 0a 01 2f 63 616263 62 6d31 43 010203 41 aa 41 bb 40",
        ] {
            assert_eq!(wrapped(inner).mfg_info().unwrap(), mfg_info(), "{inner}");
        }
    }

    #[test]
    fn mfg_info_refuses_wrong_shapes() {
        let err = |inner: &str| wrapped(inner).mfg_info().unwrap_err().to_string();
        // not a bstr: null, and a bare MfgInfo array
        let e = DeviceMfgInfo::null().mfg_info().unwrap_err().to_string();
        assert!(e.contains("bstr .cbor MfgInfo"), "{e}");
        let bare = DeviceMfgInfo::from_item(&hex(MFG_INFO)).unwrap();
        let e = bare.mfg_info().unwrap_err().to_string();
        assert!(e.contains("bstr .cbor MfgInfo"), "{e}");
        // too short: [pkType, pkEnc, serialNo, deviceInfo]
        let e = err("84 0a 01 63 616263 62 6d31");
        assert!(e.contains("MfgInfo") && e.contains("length 4"), "{e}");
        // older layout missing CSR: [pkType, pkEnc, hashAlg, serialNo, deviceInfo]
        let e = err("85 0a 01 2f 63 616263 62 6d31");
        assert!(e.contains("length 5"), "{e}");
        // four trailing bstrs, one more than the layout has
        let e = err("89 0a 01 63 616263 62 6d31 43 010203 41 aa 41 bb 41 cc 41 dd");
        assert!(e.contains("length 9"), "{e}");
        // not an array at all: {1: 2}
        let e = err("a1 01 02");
        assert!(e.contains("MfgInfo"), "{e}");
        // pkType as a text string
        let e = err("85 61 61 01 63 616263 62 6d31 43 010203");
        assert!(e.contains("pkType"), "{e}");
        // pkEnc as a byte string
        let e = err("85 0a 41 01 63 616263 62 6d31 43 010203");
        assert!(e.contains("pkEnc"), "{e}");
        // serialNo as a byte string: neither layout
        let e = err("85 0a 01 43 616263 62 6d31 43 010203");
        assert!(e.contains("serialNo") && e.contains("byte string"), "{e}");
        // deviceInfo as an int
        let e = err("85 0a 01 63 616263 01 43 010203");
        assert!(e.contains("deviceInfo"), "{e}");
        // CSR as a text string
        let e = err("85 0a 01 63 616263 62 6d31 63 010203");
        assert!(e.contains("CSR"), "{e}");
        // a deprecated field that is not a bstr
        let e = err("86 0a 01 63 616263 62 6d31 43 010203 f6");
        assert!(e.contains("maroe_prefix"), "{e}");
        // serialNo that is not UTF-8
        let e = err("85 0a 01 61 ff 62 6d31 43 010203");
        assert!(e.contains("UTF-8"), "{e}");
        // a byte left over after the array inside the bstr
        let e = err("85 0a 01 63 616263 62 6d31 43 010203 00");
        assert!(e.contains("trailing"), "{e}");
    }

    #[test]
    fn done_is_an_empty_array() {
        assert_eq!(Done.to_cbor(), hex("80"));
        assert_eq!(Done::from_cbor(&hex("80")).unwrap(), Done);
        let err = Done::from_cbor(&hex("81 00")).unwrap_err().to_string();
        assert!(err.contains("DI.Done"), "{err}");
        assert!(Done::from_cbor(&hex("a0")).is_err());
        assert_eq!(Done::TYPE, MessageType::DI_DONE);
        assert_eq!(SetCredentials::TYPE, MessageType(11));
    }
}
