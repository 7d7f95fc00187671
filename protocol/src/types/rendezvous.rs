use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::Error;
use crate::cbor::{Cbor, Decoder, Encoder, Major, decode_array, encode_array};
use crate::error::Found;
use crate::types::Hash;

/// `RVVariable`: the code of one rendezvous instruction. Open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RvVariable(pub u8);

impl RvVariable {
    /// RVDevOnly (flag): only the device uses this directive.
    pub const DEV_ONLY: Self = Self(0);
    /// RVOwnerOnly (flag): only the owner uses this directive.
    pub const OWNER_ONLY: Self = Self(1);
    /// RVIPAddress: 4 or 16 bytes.
    pub const IP_ADDRESS: Self = Self(2);
    /// RVDevPort: uint16.
    pub const DEV_PORT: Self = Self(3);
    /// RVOwnerPort: uint16.
    pub const OWNER_PORT: Self = Self(4);
    /// RVDns: tstr.
    pub const DNS: Self = Self(5);
    /// RVSvCertHash: Hash.
    pub const SV_CERT_HASH: Self = Self(6);
    /// RVClCertHash: Hash.
    pub const CL_CERT_HASH: Self = Self(7);
    /// RVUserInput (flag).
    pub const USER_INPUT: Self = Self(8);
    /// RVWifiSsid: tstr.
    pub const WIFI_SSID: Self = Self(9);
    /// RVWifiPw: tstr.
    pub const WIFI_PW: Self = Self(10);
    /// RVMedium: uint.
    pub const MEDIUM: Self = Self(11);
    /// RVProtocol: uint.
    pub const PROTOCOL: Self = Self(12);
    /// RVDelaysec: uint32.
    pub const DELAY_SEC: Self = Self(13);
    /// RVBypass (flag).
    pub const BYPASS: Self = Self(14);
    /// RVExtRV: `[tstr mechanism, args…]`.
    pub const EXT_RV: Self = Self(15);

    /// True for the variables that carry no value.
    pub fn is_flag(self) -> bool {
        matches!(
            self,
            Self::DEV_ONLY | Self::OWNER_ONLY | Self::USER_INPUT | Self::BYPASS
        )
    }

    /// The variable's name in the FDO specification.
    pub fn name(self) -> Option<&'static str> {
        const NAMES: [&str; 16] = [
            "RVDevOnly",
            "RVOwnerOnly",
            "RVIPAddress",
            "RVDevPort",
            "RVOwnerPort",
            "RVDns",
            "RVSvCertHash",
            "RVClCertHash",
            "RVUserInput",
            "RVWifiSsid",
            "RVWifiPw",
            "RVMedium",
            "RVProtocol",
            "RVDelaysec",
            "RVBypass",
            "RVExtRV",
        ];
        NAMES.get(usize::from(self.0)).copied()
    }
}

impl fmt::Display for RvVariable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "RVVariable {}", self.0),
        }
    }
}

/// `RVProtocol` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RvProtocol(pub u64);

impl RvProtocol {
    /// REST (rest).
    pub const REST: Self = Self(0);
    /// HTTP.
    pub const HTTP: Self = Self(1);
    /// HTTPS.
    pub const HTTPS: Self = Self(2);
    /// Raw TCP.
    pub const TCP: Self = Self(3);
    /// TLS.
    pub const TLS: Self = Self(4);
    /// CoAP over TCP.
    pub const COAP_TCP: Self = Self(5);
    /// CoAP over UDP.
    pub const COAP_UDP: Self = Self(6);
}

/// `TransportProtocol` values of an RVTO2AddrEntry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TransportProtocol(pub u64);

impl TransportProtocol {
    /// TCP.
    pub const TCP: Self = Self(1);
    /// TLS.
    pub const TLS: Self = Self(2);
    /// HTTP.
    pub const HTTP: Self = Self(3);
    /// CoAP.
    pub const COAP: Self = Self(4);
    /// HTTPS.
    pub const HTTPS: Self = Self(5);
    /// CoAPS.
    pub const COAPS: Self = Self(6);
}

/// `RVInstruction = [RVVariable, ? RVValue: bstr .cbor any]`.
///
/// `value` is the byte string's contents. A flag may come with no value (go-fdo) or with the
/// value `h'f6'` (CBOR null, fdo-rs); both are accepted and kept as they came.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RvInstruction {
    /// The variable.
    pub variable: RvVariable,
    /// The value's CBOR encoding, if any.
    pub value: Option<Vec<u8>>,
}

/// A typed view of an [`RvInstruction`]'s value.
#[derive(Clone, Debug, PartialEq)]
pub enum RvValue {
    /// A flag variable (no value, or null).
    Flag,
    /// An IP address; an IPv4-mapped IPv6 address is given as IPv4.
    Ip(IpAddr),
    /// A port (RVDevPort, RVOwnerPort).
    Port(u16),
    /// A text value (RVDns, RVWifiSsid, RVWifiPw).
    Text(String),
    /// A hash (RVSvCertHash, RVClCertHash).
    Hash(Hash),
    /// An unsigned value (RVMedium, RVProtocol, RVDelaysec).
    Uint(u64),
    /// Any other value, as a CBOR item.
    Other(ciborium::Value),
}

impl RvInstruction {
    /// An instruction whose value is the encoding of `value`.
    pub fn new<T: Cbor>(variable: RvVariable, value: &T) -> Self {
        Self {
            variable,
            value: Some(value.to_cbor()),
        }
    }

    /// A flag instruction, written as go-fdo writes it (no value).
    pub fn flag(variable: RvVariable) -> Self {
        Self {
            variable,
            value: None,
        }
    }

    /// An unsigned-integer instruction (port, protocol, medium, delay).
    pub fn uint(variable: RvVariable, v: u64) -> Self {
        let mut e = Encoder::new();
        e.uint(v);
        Self {
            variable,
            value: Some(e.into_bytes()),
        }
    }

    /// An RVIPAddress instruction.
    pub fn ip(addr: IpAddr) -> Self {
        let mut e = Encoder::new();
        match addr {
            IpAddr::V4(a) => e.bytes(&a.octets()),
            IpAddr::V6(a) => e.bytes(&a.octets()),
        };
        Self {
            variable: RvVariable::IP_ADDRESS,
            value: Some(e.into_bytes()),
        }
    }

    /// An RVDns instruction.
    pub fn dns(name: &str) -> Self {
        let mut e = Encoder::new();
        e.text(name);
        Self {
            variable: RvVariable::DNS,
            value: Some(e.into_bytes()),
        }
    }

    /// Interprets the value according to the variable.
    pub fn typed(&self) -> Result<RvValue, Error> {
        const WHAT: &str = "RVValue";
        let Some(raw) = self.value.as_deref() else {
            return if self.variable.is_flag() {
                Ok(RvValue::Flag)
            } else {
                Err(Error::invalid(
                    WHAT,
                    alloc::format!("{} has no value", self.variable),
                ))
            };
        };
        let mut d = Decoder::new(raw);
        let v = match self.variable {
            v if v.is_flag() => {
                // fdo-rs writes null; go-fdo nothing; a `true` is harmless as well.
                if !d.try_null() {
                    d.bool("flag value (null or bool)")?;
                }
                RvValue::Flag
            }
            RvVariable::IP_ADDRESS => {
                let b = d.bytes("RVIPAddress (bstr of 4 or 16 bytes)")?;
                RvValue::Ip(match b.len() {
                    4 => IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
                    16 => {
                        let mut o = [0u8; 16];
                        o.copy_from_slice(b);
                        let v6 = Ipv6Addr::from(o);
                        // go-fdo writes IPv4 addresses as IPv4-mapped IPv6.
                        v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
                    }
                    n => {
                        return Err(d.error(
                            "RVIPAddress (bstr of 4 or 16 bytes)",
                            Found::Length(n as u64),
                        ));
                    }
                })
            }
            RvVariable::DEV_PORT | RvVariable::OWNER_PORT => {
                RvValue::Port(d.uint_as("port (uint16)")?)
            }
            RvVariable::DNS | RvVariable::WIFI_SSID | RvVariable::WIFI_PW => {
                RvValue::Text(d.text("RV text value (tstr)")?.to_string())
            }
            RvVariable::SV_CERT_HASH | RvVariable::CL_CERT_HASH => {
                RvValue::Hash(Hash::decode(&mut d)?)
            }
            RvVariable::DELAY_SEC => {
                RvValue::Uint(u64::from(d.uint_as::<u32>("RVDelaysec (uint32)")?))
            }
            RvVariable::MEDIUM | RvVariable::PROTOCOL => RvValue::Uint(d.uint("RV value (uint)")?),
            _ => RvValue::Other(d.value(WHAT)?),
        };
        d.finish("end of RVValue")?;
        Ok(v)
    }
}

impl Cbor for RvInstruction {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        let n = d.array_between(1, 2, "RVInstruction [RVVariable, ? RVValue]")?;
        let variable = RvVariable(d.uint_as("RVVariable (uint8)")?);
        let value = if n == 2 {
            if d.peek_major() != Some(Major::Bytes) {
                return Err(d.error(
                    "RVValue (bstr .cbor any)",
                    d.peek_major().map_or(Found::End, Found::Type),
                ));
            }
            Some(d.bytes("RVValue (bstr .cbor any)")?.to_vec())
        } else {
            None
        };
        Ok(Self { variable, value })
    }

    fn encode(&self, e: &mut Encoder) {
        match &self.value {
            Some(v) => e.array(2).uint(u64::from(self.variable.0)).bytes(v),
            None => e.array(1).uint(u64::from(self.variable.0)),
        };
    }
}

/// `RVDirective = [+ RVInstruction]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RvDirective(pub Vec<RvInstruction>);

impl RvDirective {
    /// The first instruction with this variable.
    pub fn get(&self, variable: RvVariable) -> Option<&RvInstruction> {
        self.0.iter().find(|i| i.variable == variable)
    }
}

impl Cbor for RvDirective {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        let v = decode_array(d, "RVDirective (array of RVInstruction)")?;
        if v.is_empty() {
            return Err(d.error(
                "RVDirective with at least one RVInstruction",
                Found::Length(0),
            ));
        }
        Ok(Self(v))
    }
    fn encode(&self, e: &mut Encoder) {
        encode_array(e, &self.0);
    }
}

/// `RendezvousInfo = [+ RVDirective]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RendezvousInfo(pub Vec<RvDirective>);

impl Cbor for RendezvousInfo {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        // The CDDL says `+`, but implementations write empty RendezvousInfo for devices that
        // never use TO1; reading one does no harm.
        decode_array(d, "RendezvousInfo (array of RVDirective)").map(Self)
    }
    fn encode(&self, e: &mut Encoder) {
        encode_array(e, &self.0);
    }
}

impl RendezvousInfo {
    /// Reads an FDO 1.0 RendezvousInfo, whose values are bare CBOR items rather than byte
    /// strings. Each value is kept as its encoding, so [`RvInstruction::typed`] reads it as usual.
    pub fn decode_v100(d: &mut Decoder<'_>) -> Result<Self, Error> {
        const WHAT: &str = "FDO 1.0 RendezvousInfo (array of RVDirective)";
        let n = d.array(WHAT)?;
        if n > d.remaining().len() as u64 {
            return Err(d.error(WHAT, Found::Length(n)));
        }
        let mut out = Vec::new();
        for _ in 0..n {
            let m = d.array("FDO 1.0 RVDirective")?;
            if m > d.remaining().len() as u64 {
                return Err(d.error("FDO 1.0 RVDirective", Found::Length(m)));
            }
            let mut dir = Vec::new();
            for _ in 0..m {
                let k = d.array_between(1, 2, "FDO 1.0 RVInstruction")?;
                let variable = RvVariable(d.uint_as("RVVariable (uint8)")?);
                let value = if k == 2 {
                    Some(d.item("RVValue")?.to_vec())
                } else {
                    None
                };
                dir.push(RvInstruction { variable, value });
            }
            out.push(RvDirective(dir));
        }
        Ok(Self(out))
    }
}

impl fmt::Display for RendezvousInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, dir) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            for (j, ins) in dir.0.iter().enumerate() {
                if j > 0 {
                    f.write_str(" ")?;
                }
                match ins.typed() {
                    Ok(RvValue::Flag) => write!(f, "{}", ins.variable)?,
                    Ok(RvValue::Ip(ip)) => write!(f, "{}={ip}", ins.variable)?,
                    Ok(RvValue::Port(p)) => write!(f, "{}={p}", ins.variable)?,
                    Ok(RvValue::Text(t)) => write!(f, "{}={t:?}", ins.variable)?,
                    Ok(RvValue::Hash(h)) => write!(f, "{}={h}", ins.variable)?,
                    Ok(RvValue::Uint(u)) => write!(f, "{}={u}", ins.variable)?,
                    Ok(RvValue::Other(_)) | Err(_) => write!(
                        f,
                        "{}=<{} bytes>",
                        ins.variable,
                        ins.value.as_ref().map_or(0, Vec::len)
                    )?,
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_flag_encodings_and_mapped_ipv4() {
        // [[[14], [0, h'f6'], [2, h'50 00..00ffff7f000001'], [3, h'191e61']]]
        let mut e = Encoder::new();
        let mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1];
        let mut ipv = Encoder::new();
        ipv.bytes(&mapped);
        e.array(1).array(4);
        e.array(1).uint(14);
        e.array(2).uint(0).bytes(&[0xf6]);
        e.array(2).uint(2).bytes(&ipv.into_bytes());
        e.array(2).uint(3).bytes(&[0x19, 0x1e, 0x61]);
        let bytes = e.into_bytes();
        let rv = RendezvousInfo::from_cbor(&bytes).unwrap();
        let d = &rv.0[0];
        assert_eq!(d.0[0].typed().unwrap(), RvValue::Flag);
        assert_eq!(d.0[1].typed().unwrap(), RvValue::Flag);
        assert_eq!(
            d.0[2].typed().unwrap(),
            RvValue::Ip(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)))
        );
        assert_eq!(d.0[3].typed().unwrap(), RvValue::Port(7777));
        assert_eq!(rv.to_cbor(), bytes);
    }

    #[test]
    fn flags_are_written_without_a_value() {
        // [[[14]]] (RVBypass): go-fdo's form, which fdo-rs reads as well (pitfall 10).
        let rv = RendezvousInfo(alloc::vec![RvDirective(alloc::vec![RvInstruction::flag(
            RvVariable::BYPASS
        )])]);
        assert_eq!(rv.to_cbor(), [0x81, 0x81, 0x81, 0x0e]);
    }

    #[test]
    fn non_bstr_value_is_refused() {
        // [[[3, 7777]]]: value not wrapped in a bstr
        let bytes = [0x81, 0x81, 0x82, 0x03, 0x19, 0x1e, 0x61];
        let err = RendezvousInfo::from_cbor(&bytes).unwrap_err().to_string();
        assert!(err.contains("RVValue"), "{err}");
    }
}
