//! Every FDO 1.1 wire message, one struct each, with its CBOR coding (FDO reference §2).
//!
//! | Protocol | Messages | Module |
//! |---|---|---|
//! | DI (device ↔ manufacturer) | 10–13 | [`di`] |
//! | TO0 (owner ↔ rendezvous) | 20–23 | [`to0`] |
//! | TO1 (device ↔ rendezvous) | 30–33 | [`to1`] |
//! | TO2 (device ↔ owner) | 60–71 | [`to2`] |
//! | Error | 255 | [`error`] |
//!
//! Each struct implements [`Cbor`] (decode and encode) and [`Message`], which names its
//! [`MessageType`]. The CDDL of each message is in its documentation. Decoding is strict:
//! the array length, the type of every field and the absence of trailing bytes are all
//! checked, and an error names what was expected. It is lenient only where real
//! implementations differ (FDO reference §6), and each such place says so.
//!
//! Anything that is later hashed or signed keeps the bytes it arrived as: the OVHeader in
//! DI.SetCredentials and TO2.ProveOVHdr, to0d in TO0.OwnerSign, every COSE_Sign1, and (decoded
//! as [`Raw`](crate::cbor::Raw)`<`[`to2::HelloDevice`]`>`) the whole HelloDevice request.
//!
//! TO2 messages 65 to 71 travel encrypted; the structs here are their plaintext.

use alloc::vec::Vec;
use core::fmt;

use crate::Error;
use crate::cbor::{Cbor, Decoder, Major};
use crate::cose::{SIGN1_TAG, Sign1};
use crate::error::Found;

pub mod di;
pub mod error;
pub mod to0;
pub mod to1;
pub mod to2;

pub use error::ErrorMessage;

/// An FDO message type (the `{msgtype}` of `/fdo/101/msg/{msgtype}` and the `Message-Type`
/// header). Open: an unknown value survives a round trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageType(pub u8);

impl MessageType {
    /// DI.AppStart (device → manufacturer).
    pub const DI_APP_START: Self = Self(10);
    /// DI.SetCredentials (manufacturer → device).
    pub const DI_SET_CREDENTIALS: Self = Self(11);
    /// DI.SetHMAC (device → manufacturer).
    pub const DI_SET_HMAC: Self = Self(12);
    /// DI.Done (manufacturer → device).
    pub const DI_DONE: Self = Self(13);
    /// TO0.Hello (owner → rendezvous).
    pub const TO0_HELLO: Self = Self(20);
    /// TO0.HelloAck (rendezvous → owner).
    pub const TO0_HELLO_ACK: Self = Self(21);
    /// TO0.OwnerSign (owner → rendezvous).
    pub const TO0_OWNER_SIGN: Self = Self(22);
    /// TO0.AcceptOwner (rendezvous → owner).
    pub const TO0_ACCEPT_OWNER: Self = Self(23);
    /// TO1.HelloRV (device → rendezvous).
    pub const TO1_HELLO_RV: Self = Self(30);
    /// TO1.HelloRVAck (rendezvous → device).
    pub const TO1_HELLO_RV_ACK: Self = Self(31);
    /// TO1.ProveToRV (device → rendezvous).
    pub const TO1_PROVE_TO_RV: Self = Self(32);
    /// TO1.RVRedirect (rendezvous → device).
    pub const TO1_RV_REDIRECT: Self = Self(33);
    /// TO2.HelloDevice (device → owner).
    pub const TO2_HELLO_DEVICE: Self = Self(60);
    /// TO2.ProveOVHdr (owner → device).
    pub const TO2_PROVE_OV_HDR: Self = Self(61);
    /// TO2.GetOVNextEntry (device → owner).
    pub const TO2_GET_OV_NEXT_ENTRY: Self = Self(62);
    /// TO2.OVNextEntry (owner → device).
    pub const TO2_OV_NEXT_ENTRY: Self = Self(63);
    /// TO2.ProveDevice (device → owner).
    pub const TO2_PROVE_DEVICE: Self = Self(64);
    /// TO2.SetupDevice (owner → device), encrypted.
    pub const TO2_SETUP_DEVICE: Self = Self(65);
    /// TO2.DeviceServiceInfoReady (device → owner), encrypted.
    pub const TO2_DEVICE_SERVICE_INFO_READY: Self = Self(66);
    /// TO2.OwnerServiceInfoReady (owner → device), encrypted.
    pub const TO2_OWNER_SERVICE_INFO_READY: Self = Self(67);
    /// TO2.DeviceServiceInfo (device → owner), encrypted.
    pub const TO2_DEVICE_SERVICE_INFO: Self = Self(68);
    /// TO2.OwnerServiceInfo (owner → device), encrypted.
    pub const TO2_OWNER_SERVICE_INFO: Self = Self(69);
    /// TO2.Done (device → owner), encrypted.
    pub const TO2_DONE: Self = Self(70);
    /// TO2.Done2 (owner → device), encrypted.
    pub const TO2_DONE2: Self = Self(71);
    /// The error message, in either direction, never encrypted.
    pub const ERROR: Self = Self(255);

    /// The message's name in the FDO specification, if it is one we know.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::DI_APP_START => "DI.AppStart",
            Self::DI_SET_CREDENTIALS => "DI.SetCredentials",
            Self::DI_SET_HMAC => "DI.SetHMAC",
            Self::DI_DONE => "DI.Done",
            Self::TO0_HELLO => "TO0.Hello",
            Self::TO0_HELLO_ACK => "TO0.HelloAck",
            Self::TO0_OWNER_SIGN => "TO0.OwnerSign",
            Self::TO0_ACCEPT_OWNER => "TO0.AcceptOwner",
            Self::TO1_HELLO_RV => "TO1.HelloRV",
            Self::TO1_HELLO_RV_ACK => "TO1.HelloRVAck",
            Self::TO1_PROVE_TO_RV => "TO1.ProveToRV",
            Self::TO1_RV_REDIRECT => "TO1.RVRedirect",
            Self::TO2_HELLO_DEVICE => "TO2.HelloDevice",
            Self::TO2_PROVE_OV_HDR => "TO2.ProveOVHdr",
            Self::TO2_GET_OV_NEXT_ENTRY => "TO2.GetOVNextEntry",
            Self::TO2_OV_NEXT_ENTRY => "TO2.OVNextEntry",
            Self::TO2_PROVE_DEVICE => "TO2.ProveDevice",
            Self::TO2_SETUP_DEVICE => "TO2.SetupDevice",
            Self::TO2_DEVICE_SERVICE_INFO_READY => "TO2.DeviceServiceInfoReady",
            Self::TO2_OWNER_SERVICE_INFO_READY => "TO2.OwnerServiceInfoReady",
            Self::TO2_DEVICE_SERVICE_INFO => "TO2.DeviceServiceInfo",
            Self::TO2_OWNER_SERVICE_INFO => "TO2.OwnerServiceInfo",
            Self::TO2_DONE => "TO2.Done",
            Self::TO2_DONE2 => "TO2.Done2",
            Self::ERROR => "Error",
            _ => return None,
        })
    }

    /// True for the messages that travel encrypted: TO2 65 to 71. Everything before
    /// TO2.SetupDevice, and every error message, is sent in clear.
    pub fn is_encrypted(self) -> bool {
        (Self::TO2_SETUP_DEVICE.0..=Self::TO2_DONE2.0).contains(&self.0)
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{} ({n})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

impl From<MessageType> for u8 {
    fn from(t: MessageType) -> u8 {
        t.0
    }
}

/// A wire message: a [`Cbor`] type that is the body of one FDO message type.
pub trait Message: Cbor {
    /// The message type this struct is the body of.
    const TYPE: MessageType;
}

/// Implements [`Message`] for each `type => constant` pair.
macro_rules! message_types {
    ($($ty:ty => $constant:ident),* $(,)?) => {
        $(
            impl $crate::messages::Message for $ty {
                const TYPE: $crate::messages::MessageType =
                    $crate::messages::MessageType::$constant;
            }
        )*
    };
}
pub(crate) use message_types;

/// Reads the empty array of a message with no fields (`[]`).
pub(crate) fn decode_empty(d: &mut Decoder<'_>, what: &'static str) -> Result<(), Error> {
    d.array_of(0, what)
}

/// What the next item is, for an error: its major type, or the end of input.
pub(crate) fn found_next(d: &Decoder<'_>) -> Found {
    d.peek_major().map_or(Found::End, Found::Type)
}

/// The exact encoding of the value under integer `label` in a COSE_Sign1's unprotected header,
/// read from the Sign1's original bytes (so a key or nonce there is seen as it was sent, not as
/// a re-encoding of the parsed header). `None` when the label is absent.
///
/// Reading the bytes again is cheap next to a signature check, and it lets the value be decoded
/// with this crate's own strict [`Cbor`] types.
pub(crate) fn unprotected_item(sign1: &Sign1, label: i64) -> Result<Option<&[u8]>, Error> {
    const WHAT: &str = "COSE_Sign1 unprotected header (map)";
    let mut d = Decoder::new(sign1.bytes());
    d.tag(SIGN1_TAG, "COSE_Sign1 (tag 18)")?;
    d.array_of(4, "COSE_Sign1 (array of 4)")?;
    d.bytes("COSE_Sign1 protected header (bstr)")?;
    let pairs = d.map(WHAT)?;
    let mut found = None;
    for _ in 0..pairs {
        let key = match d.peek_major() {
            Some(Major::Unsigned | Major::Negative) => Some(d.int("header label (int)")?),
            _ => {
                d.item("header label")?;
                None
            }
        };
        let value = d.item("header value")?;
        if key == Some(label) {
            if found.is_some() {
                return Err(Error::invalid(
                    "COSE_Sign1 unprotected header",
                    alloc::format!("label {label} appears twice"),
                ));
            }
            found = Some(value);
        }
    }
    Ok(found)
}

/// Decodes the item under `label` in a Sign1's unprotected header as a `T`.
pub(crate) fn unprotected_value<T: Cbor>(sign1: &Sign1, label: i64) -> Result<Option<T>, Error> {
    unprotected_item(sign1, label)?
        .map(T::from_cbor)
        .transpose()
}

/// Builds an unprotected header value from the encoding of `v`.
pub(crate) fn header_value<T: Cbor>(v: &T) -> Result<ciborium::Value, Error> {
    crate::cbor::value_from_slice(&v.to_cbor())
}

/// An unprotected-header value as bytes, for headers whose value is a plain byte string.
pub(crate) fn header_bytes(bytes: &[u8]) -> ciborium::Value {
    ciborium::Value::Bytes(Vec::from(bytes))
}

/// Helpers for the hand-written vectors of the message tests.
#[cfg(test)]
pub(crate) mod test_util {
    use alloc::string::String;
    use alloc::vec::Vec;

    use crate::cbor::Encoder;

    /// Hex with whitespace and `#` comments (to the end of a line) ignored.
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let clean: String = s
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .flat_map(|l| l.split_whitespace())
            .collect();
        ::hex::decode(clean).unwrap()
    }

    /// `bstr(64)` of 0x5a bytes: a placeholder signature (decoding does not verify).
    const SIG: &str = "5840 5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a\
                       5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

    /// `18([h'a10126' {1: -7}, unprotected, bstr(payload), bstr(64) signature])`, the shape
    /// of every FDO Sign1, with a placeholder signature.
    pub(crate) fn sign1_hex(unprotected: &str, payload: &[u8]) -> Vec<u8> {
        let mut out = hex("d2 84 43 a10126"); // tag 18, array(4), protected {1: -7}
        out.extend_from_slice(&hex(unprotected));
        let mut e = Encoder::new();
        e.bytes(payload); // the payload byte string
        out.extend_from_slice(&e.into_bytes());
        out.extend_from_slice(&hex(SIG));
        out
    }

    /// `bstr(len) ‖ contents`.
    pub(crate) fn bstr(contents: &[u8]) -> Vec<u8> {
        let mut e = Encoder::new();
        e.bytes(contents);
        e.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_encryption() {
        assert_eq!(
            MessageType::TO2_HELLO_DEVICE.name(),
            Some("TO2.HelloDevice")
        );
        assert_eq!(MessageType(99).name(), None);
        assert_eq!(MessageType::ERROR.to_string(), "255 (Error)");
        assert_eq!(MessageType(7).to_string(), "7");
        assert!(!MessageType::TO2_PROVE_DEVICE.is_encrypted());
        assert!(MessageType::TO2_SETUP_DEVICE.is_encrypted());
        assert!(MessageType::TO2_DONE2.is_encrypted());
        assert!(!MessageType::ERROR.is_encrypted());
        assert!(!MessageType::DI_DONE.is_encrypted());
        // every known type has a name and is in its protocol's range
        for n in 0..=255u8 {
            let t = MessageType(n);
            let known = matches!(n, 10..=13 | 20..=23 | 30..=33 | 60..=71 | 255);
            assert_eq!(t.name().is_some(), known, "{n}");
        }
    }
}
