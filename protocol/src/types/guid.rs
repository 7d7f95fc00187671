use core::fmt;

use crate::Error;
use crate::cbor::{Cbor, Decoder, Encoder};

macro_rules! bytes16 {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub [u8; 16]);

        impl $name {
            /// The 16 raw bytes.
            pub fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }

            /// Parses 32 hexadecimal digits (dashes allowed, as in a UUID).
            pub fn from_hex(s: &str) -> Result<Self, Error> {
                let digits: alloc::string::String = s.chars().filter(|c| *c != '-').collect();
                let mut out = [0u8; 16];
                hex::decode_to_slice(&digits, &mut out)
                    .map_err(|_| Error::invalid($what, "expected 32 hexadecimal digits"))?;
                Ok(Self(out))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for b in self.0 {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl Cbor for $name {
            fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
                d.bytes_fixed::<16>(concat!($what, " (bstr of 16 bytes)")).map(Self)
            }
            fn encode(&self, e: &mut Encoder) {
                e.bytes(&self.0);
            }
        }
    };
}

bytes16!(
    /// A device GUID: `Guid = bstr .size 16`.
    Guid,
    "GUID"
);

bytes16!(
    /// A protocol nonce: `Nonce = bstr .size 16`.
    Nonce,
    "nonce"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_round_trips_and_refuses_wrong_length() {
        let g = Guid([0xab; 16]);
        let b = g.to_cbor();
        assert_eq!(b[0], 0x50); // bstr of 16
        assert_eq!(Guid::from_cbor(&b).unwrap(), g);
        let short = [0x4f; 16]; // bstr of 15
        let err = Guid::from_cbor(&short).unwrap_err().to_string();
        assert!(err.contains("GUID") && err.contains("15"), "{err}");
        assert_eq!(Guid::from_hex(&g.to_string()).unwrap(), g);
        assert!(Guid::from_hex("zz").is_err());
    }
}
