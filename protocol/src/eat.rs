//! Entity Attestation Tokens as FDO uses them: TO1.ProveToRV (32) and TO2.ProveDevice (64).
//!
//! ```text
//! EAT = COSE_Sign1 (tag 18), protected {1: alg}, payload bstr .cbor EATClaims
//! EATClaims = {
//!   10   (EAT-NONCE): Nonce,
//!   256  (EAT-UEID):  bstr = 0x01 (EAT-RAND) ‖ GUID,   ; 17 bytes
//!   ? -257 (EAT-FDO): any,                              ; TO2.ProveDevice: [xBKeyExchange: bstr]
//!   * other claims
//! }
//! unprotected: { ? -259 (EUPHNonce): Nonce, ? -258 (EATMAROEPrefix): bstr }
//! ```
//!
//! **UEID claim key (pitfall 1).** go-fdo, the Intel C SDK and the FIDO conformance tool put
//! the UEID under **256**; fdo-rs v0.5.6 puts it under **11**, an older EAT draft's key. Claims
//! made here always use 256. On input 256 is read, and 11 is accepted when 256 is absent;
//! [`EatClaims::ueid_label`] says which one was used. When both are present, 256 is the UEID
//! and 11 stays an ordinary unknown claim.
//!
//! Unknown claims are kept (in [`EatClaims::other_claims`]), and the token keeps its original
//! bytes, so a verifier checks exactly what was signed. Signing and verifying go through
//! [`Sign1::sign`] and [`Sign1::verify`].

use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;

use coset::{Header, HeaderBuilder};

use crate::Error;
use crate::cbor::{Cbor, Decoder, Encoder, Major};
use crate::cose::Sign1;
use crate::crypto::Signer;
use crate::error::{Found, VerifyError};
use crate::messages::{
    found_next, header_bytes, header_value, unprotected_item, unprotected_value,
};
use crate::types::{Guid, Nonce};

/// Claim key EAT-NONCE.
pub const EAT_NONCE: i64 = 10;
/// Claim key EAT-UEID.
pub const EAT_UEID: i64 = 256;
/// The UEID claim key of an older EAT draft, still written by fdo-rs v0.5.6 (pitfall 1).
pub const EAT_UEID_LEGACY: i64 = 11;
/// Claim key EAT-FDO: the per-message FDO claim.
pub const EAT_FDO: i64 = -257;
/// Unprotected header EATMAROEPrefix.
pub const EAT_MAROE_PREFIX: i64 = -258;
/// Unprotected header EUPHNonce (NonceTO2SetupDv in TO2.ProveDevice).
pub const EUPH_NONCE: i64 = -259;
/// The UEID type byte EAT-RAND, which FDO puts before the GUID.
pub const EAT_RAND: u8 = 0x01;

/// The claim key a UEID was found under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UeidLabel {
    /// 256, as the FDO 1.1 specification and go-fdo use. Always used for claims made here.
    Standard,
    /// 11, as fdo-rs v0.5.6 writes it.
    Legacy,
}

impl UeidLabel {
    /// The claim key.
    pub fn key(self) -> i64 {
        match self {
            Self::Standard => EAT_UEID,
            Self::Legacy => EAT_UEID_LEGACY,
        }
    }
}

/// The claims of an FDO EAT (the COSE payload).
#[derive(Clone, Debug, PartialEq)]
pub struct EatClaims {
    nonce: Nonce,
    ueid: Vec<u8>,
    ueid_label: UeidLabel,
    /// The encoding of the EAT-FDO claim's value.
    fdo: Option<Vec<u8>>,
    other: Vec<(ciborium::Value, ciborium::Value)>,
}

impl EatClaims {
    /// Claims with `nonce` and the UEID `0x01 ‖ guid` under key 256, and no EAT-FDO claim.
    pub fn new(nonce: Nonce, guid: &Guid) -> Self {
        let mut ueid = Vec::with_capacity(17);
        ueid.push(EAT_RAND);
        ueid.extend_from_slice(guid.as_bytes());
        Self {
            nonce,
            ueid,
            ueid_label: UeidLabel::Standard,
            fdo: None,
            other: Vec::new(),
        }
    }

    /// Sets the EAT-FDO claim (−257) to the encoding of `value`.
    pub fn with_fdo<T: Cbor>(mut self, value: &T) -> Self {
        self.fdo = Some(value.to_cbor());
        self
    }

    /// Adds (or replaces) another claim. The FDO claims (10, 256, 11, −257) have their own
    /// setters and are refused here.
    pub fn with_claim(mut self, label: i64, value: ciborium::Value) -> Result<Self, Error> {
        if matches!(label, EAT_NONCE | EAT_UEID | EAT_UEID_LEGACY | EAT_FDO) {
            return Err(Error::Misuse(
                "EAT nonce, UEID and EAT-FDO claims are set by EatClaims::new and with_fdo",
            ));
        }
        let key = ciborium::Value::from(label);
        self.other.retain(|(k, _)| *k != key);
        self.other.push((key, value));
        Ok(self)
    }

    /// EAT-NONCE.
    pub fn nonce(&self) -> &Nonce {
        &self.nonce
    }

    /// EAT-UEID, as sent.
    pub fn ueid(&self) -> &[u8] {
        &self.ueid
    }

    /// The key the UEID came under: 256, or fdo-rs' 11.
    pub fn ueid_label(&self) -> UeidLabel {
        self.ueid_label
    }

    /// The GUID in the UEID, when the UEID has FDO's form `0x01 ‖ GUID`.
    pub fn guid(&self) -> Option<Guid> {
        match self.ueid.split_first() {
            Some((&EAT_RAND, rest)) => <[u8; 16]>::try_from(rest).ok().map(Guid),
            _ => None,
        }
    }

    /// True when the UEID is `0x01 ‖ guid`.
    pub fn ueid_matches(&self, guid: &Guid) -> bool {
        self.guid().as_ref() == Some(guid)
    }

    /// Checks that the UEID is `0x01 ‖ guid`, failing with [`VerifyError::Ueid`].
    pub fn check_ueid(&self, guid: &Guid) -> Result<(), Error> {
        if self.ueid_matches(guid) {
            Ok(())
        } else {
            Err(VerifyError::Ueid.into())
        }
    }

    /// The encoding of the EAT-FDO claim's value, if there is one.
    pub fn fdo_raw(&self) -> Option<&[u8]> {
        self.fdo.as_deref()
    }

    /// The EAT-FDO claim decoded as a `T`, if there is one.
    pub fn fdo<T: Cbor>(&self) -> Result<Option<T>, Error> {
        self.fdo.as_deref().map(T::from_cbor).transpose()
    }

    /// Another claim with an integer key.
    pub fn claim(&self, label: i64) -> Option<&ciborium::Value> {
        let key = ciborium::Value::from(label);
        self.other.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Every claim other than the nonce, the UEID and EAT-FDO, in the order received.
    pub fn other_claims(&self) -> &[(ciborium::Value, ciborium::Value)] {
        &self.other
    }
}

/// A claim key while decoding.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum ClaimKey {
    Int(i64),
    Text(String),
}

impl Cbor for EatClaims {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        const WHAT: &str = "EAT claims (map)";
        let pairs = d.map(WHAT)?;
        // Each pair takes at least two bytes: refuse counts the input cannot hold.
        if pairs > d.remaining().len() as u64 / 2 {
            return Err(d.error(WHAT, Found::Length(pairs)));
        }
        let mut seen = BTreeSet::new();
        let mut nonce = None;
        let mut ueid = None;
        let mut legacy_ueid = None;
        let mut fdo = None;
        let mut other = Vec::new();
        for _ in 0..pairs {
            let at = d.position();
            let key = match d.peek_major() {
                Some(Major::Unsigned | Major::Negative) => ClaimKey::Int(d.int("claim key")?),
                Some(Major::Text) => ClaimKey::Text(d.text("claim key")?.into()),
                _ => return Err(d.error("EAT claim key (int or tstr)", found_next(d))),
            };
            if !seen.insert(key.clone()) {
                return Err(Error::Decode(crate::error::DecodeError {
                    expected: "EAT claims with distinct keys",
                    found: Found::Invalid("a repeated claim key"),
                    at,
                }));
            }
            match key {
                ClaimKey::Int(EAT_NONCE) => nonce = Some(Nonce::decode(d)?),
                ClaimKey::Int(EAT_UEID) => ueid = Some(d.bytes("EAT-UEID (bstr)")?.to_vec()),
                ClaimKey::Int(EAT_UEID_LEGACY) => legacy_ueid = Some(d.value("claim 11")?),
                ClaimKey::Int(EAT_FDO) => fdo = Some(d.item("EAT-FDO claim")?.to_vec()),
                ClaimKey::Int(k) => other.push((ciborium::Value::from(k), d.value("claim")?)),
                ClaimKey::Text(t) => other.push((ciborium::Value::Text(t), d.value("claim")?)),
            }
        }
        let nonce = nonce.ok_or_else(|| Error::invalid("EAT claims", "no EAT-NONCE (10)"))?;
        let (ueid, ueid_label) = match (ueid, legacy_ueid) {
            (Some(u), legacy) => {
                if let Some(v) = legacy {
                    other.push((ciborium::Value::from(EAT_UEID_LEGACY), v));
                }
                (u, UeidLabel::Standard)
            }
            (None, Some(ciborium::Value::Bytes(u))) => (u, UeidLabel::Legacy),
            (None, Some(_)) => {
                return Err(Error::invalid(
                    "EAT claims",
                    "the UEID under key 11 (fdo-rs) is not a byte string",
                ));
            }
            (None, None) => {
                return Err(Error::invalid("EAT claims", "no EAT-UEID (256, or 11)"));
            }
        };
        Ok(Self {
            nonce,
            ueid,
            ueid_label,
            fdo,
            other,
        })
    }

    /// Writes the FDO claims first, in the deterministic order of their keys (10, 256 or 11,
    /// −257), then the other claims in the order they were received or added.
    fn encode(&self, e: &mut Encoder) {
        let n = 2 + usize::from(self.fdo.is_some()) + self.other.len();
        e.map(n).int(EAT_NONCE).encode(&self.nonce);
        e.int(self.ueid_label.key()).bytes(&self.ueid);
        if let Some(fdo) = &self.fdo {
            e.int(EAT_FDO).raw(fdo);
        }
        for (k, v) in &self.other {
            e.value(k).value(v);
        }
    }
}

/// The unprotected headers an FDO EAT may carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EatHeaders {
    /// EUPHNonce (−259): NonceTO2SetupDv in TO2.ProveDevice.
    pub nonce: Option<Nonce>,
    /// EATMAROEPrefix (−258), if the device's root of trust needs one.
    pub maroe_prefix: Option<Vec<u8>>,
}

impl EatHeaders {
    fn to_header(&self) -> Result<Header, Error> {
        let mut h = HeaderBuilder::new();
        if let Some(p) = &self.maroe_prefix {
            h = h.value(EAT_MAROE_PREFIX, header_bytes(p));
        }
        if let Some(n) = &self.nonce {
            h = h.value(EUPH_NONCE, header_value(n)?);
        }
        Ok(h.build())
    }
}

/// An FDO EAT: a COSE_Sign1 whose payload is [`EatClaims`], with its original bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Eat {
    sign1: Sign1,
    claims: EatClaims,
}

impl Eat {
    /// Signs `claims` with the device attestation key, with `headers` unprotected.
    pub fn sign(
        claims: EatClaims,
        headers: &EatHeaders,
        signer: &dyn Signer,
    ) -> Result<Self, Error> {
        let sign1 = Sign1::sign(claims.to_cbor(), headers.to_header()?, signer)?;
        Ok(Self { sign1, claims })
    }

    /// The signed object, with its original bytes. Verify it with [`Sign1::verify`] and the
    /// device's attestation key.
    pub fn sign1(&self) -> &Sign1 {
        &self.sign1
    }

    /// The claims.
    pub fn claims(&self) -> &EatClaims {
        &self.claims
    }

    /// The unprotected EUPHNonce (−259), if present.
    pub fn unprotected_nonce(&self) -> Result<Option<Nonce>, Error> {
        unprotected_value(&self.sign1, EUPH_NONCE)
    }

    /// The unprotected EATMAROEPrefix (−258), if present; it must be a byte string.
    pub fn maroe_prefix(&self) -> Result<Option<&[u8]>, Error> {
        unprotected_item(&self.sign1, EAT_MAROE_PREFIX)?
            .map(|item| {
                let mut d = Decoder::new(item);
                let b = d.bytes("EATMAROEPrefix (bstr)")?;
                d.finish("end of EATMAROEPrefix")?;
                Ok(b)
            })
            .transpose()
    }
}

impl Cbor for Eat {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        let sign1 = Sign1::decode(d)?;
        let claims = EatClaims::from_cbor(sign1.payload())?;
        Ok(Self { sign1, claims })
    }

    fn encode(&self, e: &mut Encoder) {
        e.encode(&self.sign1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test::SeededRng;
    use crate::crypto::{RustCrypto, SigningKey};
    use crate::types::{PkEnc, PkType};

    const NONCE: Nonce = Nonce([0x11; 16]);
    const GUID: Guid = Guid([0x22; 16]);

    /// `{10: h'11…', <ueid key>: h'01 22…', -257: [h'abcd']}`
    fn claims_hex(ueid_key: &str) -> Vec<u8> {
        let mut s = String::new();
        s.push_str("a3"); // map(3)
        s.push_str("0a"); // 10 (EAT-NONCE)
        s.push_str("50"); // bstr(16)
        s.push_str(&"11".repeat(16));
        s.push_str(ueid_key); // 256 (19 0100) or 11 (0b)
        s.push_str("51"); // bstr(17)
        s.push_str("01"); // EAT-RAND
        s.push_str(&"22".repeat(16)); // GUID
        s.push_str("3901 00"); // -257 (EAT-FDO)
        s.push_str("81"); // array(1)
        s.push_str("42 abcd"); // bstr(2) xB
        hex::decode(s.replace(' ', "")).unwrap()
    }

    #[test]
    fn ueid_256_round_trips() {
        let bytes = claims_hex("190100");
        let c = EatClaims::from_cbor(&bytes).unwrap();
        assert_eq!(c.nonce(), &NONCE);
        assert_eq!(c.ueid_label(), UeidLabel::Standard);
        assert!(c.ueid_matches(&GUID));
        assert_eq!(c.guid(), Some(GUID));
        assert_eq!(c.fdo_raw(), Some(&[0x81, 0x42, 0xab, 0xcd][..]));
        assert_eq!(c.to_cbor(), bytes);
        // the same claims built here
        let built = EatClaims::new(NONCE, &GUID).with_fdo(&Xb(alloc::vec![0xab, 0xcd]));
        assert_eq!(built, c);
        assert_eq!(built.to_cbor(), bytes);
    }

    /// `[bstr]`, the EAT-FDO of TO2.ProveDevice, for the test above.
    struct Xb(Vec<u8>);
    impl Cbor for Xb {
        fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
            d.array_of(1, "[xB]")?;
            Ok(Self(d.bytes("xB")?.to_vec()))
        }
        fn encode(&self, e: &mut Encoder) {
            e.array(1).bytes(&self.0);
        }
    }

    #[test]
    fn ueid_11_from_fdo_rs_is_accepted_and_named() {
        let bytes = claims_hex("0b");
        let c = EatClaims::from_cbor(&bytes).unwrap();
        assert_eq!(c.ueid_label(), UeidLabel::Legacy);
        assert!(c.ueid_matches(&GUID));
        assert!(c.other_claims().is_empty());
        // re-encoding keeps the key it came with, so the value round-trips
        assert_eq!(c.to_cbor(), bytes);
        // but claims made here always use 256
        assert_eq!(
            EatClaims::new(NONCE, &GUID).ueid_label(),
            UeidLabel::Standard
        );
    }

    #[test]
    fn ueid_256_wins_over_11_which_is_kept() {
        // {10: nonce, 11: h'00', 256: 0x01‖GUID}
        let mut bytes = hex::decode("a30a50").unwrap();
        bytes.extend_from_slice(&[0x11; 16]);
        bytes.extend_from_slice(&[0x0b, 0x41, 0x00]); // 11: h'00'
        bytes.extend_from_slice(&[0x19, 0x01, 0x00, 0x51, 0x01]); // 256: bstr(17) 01…
        bytes.extend_from_slice(&[0x22; 16]);
        let c = EatClaims::from_cbor(&bytes).unwrap();
        assert_eq!(c.ueid_label(), UeidLabel::Standard);
        assert!(c.ueid_matches(&GUID));
        assert_eq!(c.claim(11), Some(&ciborium::Value::Bytes(alloc::vec![0])));
    }

    #[test]
    fn unknown_claims_are_preserved() {
        let c = EatClaims::new(NONCE, &GUID)
            .with_claim(-70000, ciborium::Value::Text("x".into()))
            .unwrap();
        let mut bytes = c.to_cbor();
        assert_eq!(bytes[0], 0xa3);
        let back = EatClaims::from_cbor(&bytes).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.claim(-70000), Some(&ciborium::Value::Text("x".into())));
        assert!(
            c.clone()
                .with_claim(EAT_FDO, ciborium::Value::Null)
                .is_err()
        );
        // a text-keyed claim: change the map to 4 pairs and append "k": 1
        bytes[0] = 0xa4;
        bytes.extend_from_slice(&[0x61, b'k', 0x01]);
        let back = EatClaims::from_cbor(&bytes).unwrap();
        assert_eq!(back.other_claims().len(), 2);
        assert_eq!(back.to_cbor(), bytes);
    }

    #[test]
    fn malformed_claims_are_refused() {
        // no nonce: {256: 0x01‖GUID}
        let mut no_nonce = hex::decode("a119010051").unwrap();
        no_nonce.push(0x01);
        no_nonce.extend_from_slice(&[0x22; 16]);
        let err = EatClaims::from_cbor(&no_nonce).unwrap_err().to_string();
        assert!(err.contains("EAT-NONCE"), "{err}");
        // no UEID: {10: nonce}
        let mut no_ueid = hex::decode("a10a50").unwrap();
        no_ueid.extend_from_slice(&[0x11; 16]);
        let err = EatClaims::from_cbor(&no_ueid).unwrap_err().to_string();
        assert!(err.contains("EAT-UEID"), "{err}");
        // a repeated key: {10: nonce, 10: nonce}
        let mut twice = hex::decode("a20a50").unwrap();
        twice.extend_from_slice(&[0x11; 16]);
        twice.extend_from_slice(&[0x0a, 0x50]);
        twice.extend_from_slice(&[0x11; 16]);
        let err = EatClaims::from_cbor(&twice).unwrap_err().to_string();
        assert!(err.contains("repeated"), "{err}");
        // a 15-byte nonce
        let mut short = hex::decode("a10a4f").unwrap();
        short.extend_from_slice(&[0x11; 15]);
        assert!(EatClaims::from_cbor(&short).is_err());
        // an array instead of a map
        let err = EatClaims::from_cbor(&[0x80]).unwrap_err().to_string();
        assert!(err.contains("EAT claims"), "{err}");
        // a byte-string key
        let err = EatClaims::from_cbor(&[0xa1, 0x41, 0x00, 0x00])
            .unwrap_err()
            .to_string();
        assert!(err.contains("claim key"), "{err}");
    }

    #[test]
    fn ueid_of_wrong_shape_is_a_verify_error() {
        let mut c = EatClaims::new(NONCE, &GUID);
        assert!(c.check_ueid(&GUID).is_ok());
        assert_eq!(
            c.check_ueid(&Guid([0; 16])).unwrap_err(),
            Error::Verify(VerifyError::Ueid)
        );
        c.ueid[0] = 0x02; // an IEEE EUI, not EAT-RAND
        assert_eq!(c.guid(), None);
        assert!(!c.ueid_matches(&GUID));
        c.ueid.truncate(5);
        assert_eq!(c.guid(), None);
    }

    #[test]
    fn signed_eat_with_headers_verifies_and_round_trips() {
        let mut rng = SeededRng::new(b"eat");
        let key = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
        let headers = EatHeaders {
            nonce: Some(Nonce([0x33; 16])),
            maroe_prefix: Some(alloc::vec![1, 2, 3]),
        };
        let eat = Eat::sign(EatClaims::new(NONCE, &GUID), &headers, &key).unwrap();
        eat.sign1()
            .verify(&RustCrypto, &key.public_key(PkEnc::X509).unwrap(), "EAT")
            .unwrap();
        let back = Eat::from_cbor(eat.sign1().bytes()).unwrap();
        assert_eq!(back, eat);
        assert_eq!(back.to_cbor(), eat.sign1().bytes());
        assert_eq!(back.unprotected_nonce().unwrap(), Some(Nonce([0x33; 16])));
        assert_eq!(back.maroe_prefix().unwrap(), Some(&[1u8, 2, 3][..]));
        assert_eq!(back.claims().nonce(), &NONCE);

        let bare = Eat::sign(EatClaims::new(NONCE, &GUID), &EatHeaders::default(), &key).unwrap();
        assert_eq!(bare.unprotected_nonce().unwrap(), None);
        assert_eq!(bare.maroe_prefix().unwrap(), None);
    }
}
