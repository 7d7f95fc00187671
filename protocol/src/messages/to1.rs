//! TO1: device ↔ rendezvous server, messages 30 to 33 (FDO reference §2.3).
//!
//! ```text
//! 30 TO1.HelloRV    = [Guid, eASigInfo]                 device → RV
//! 31 TO1.HelloRVAck = [NonceTO1Proof, eBSigInfo]        RV → device
//! 32 TO1.ProveToRV  = EAT (COSE_Sign1), EAT-NONCE = NonceTO1Proof, no EAT-FDO
//! 33 TO1.RVRedirect = to1d (COSE_Sign1<To1dBlobPayload>), as registered in TO0
//! ```

use crate::Error;
use crate::cbor::{Cbor, Decoder, Encoder};
use crate::crypto::Signer;
use crate::eat::{Eat, EatClaims, EatHeaders};
use crate::messages::message_types;
use crate::messages::to0::To1d;
use crate::types::{Guid, Nonce, SigInfo};

/// TO1.HelloRV (30), device → rendezvous.
///
/// ```text
/// TO1.HelloRV = [Guid, eASigInfo: SigInfo]
/// SigInfo     = [sgType: DeviceSgType, Info: bstr]
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelloRv {
    /// The device's GUID.
    pub guid: Guid,
    /// eASigInfo: the device's attestation signature type.
    pub sig_info: SigInfo,
}

impl Cbor for HelloRv {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(2, "TO1.HelloRV [Guid, eASigInfo]")?;
        Ok(Self {
            guid: Guid::decode(d)?,
            sig_info: SigInfo::decode(d)?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(2).encode(&self.guid).encode(&self.sig_info);
    }
}

/// TO1.HelloRVAck (31), rendezvous → device.
///
/// ```text
/// TO1.HelloRVAck = [NonceTO1Proof, eBSigInfo: SigInfo]
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelloRvAck {
    /// NonceTO1Proof: the device signs it in TO1.ProveToRV.
    pub nonce: Nonce,
    /// eBSigInfo: the echo of eASigInfo for ECDSA and RSA.
    pub sig_info: SigInfo,
}

impl Cbor for HelloRvAck {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(2, "TO1.HelloRVAck [NonceTO1Proof, eBSigInfo]")?;
        Ok(Self {
            nonce: Nonce::decode(d)?,
            sig_info: SigInfo::decode(d)?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(2).encode(&self.nonce).encode(&self.sig_info);
    }
}

/// TO1.ProveToRV (32), device → rendezvous: an EAT over NonceTO1Proof.
///
/// ```text
/// TO1.ProveToRV = EAT: COSE_Sign1, payload {10: NonceTO1Proof, 256: 0x01 ‖ Guid}
/// ```
///
/// The rendezvous server verifies the signature with the leaf of the voucher's device
/// certificate chain, and checks the nonce and the UEID ([`EatClaims::check_ueid`]). It carries
/// no EAT-FDO claim; one that is present anyway is kept and ignored.
#[derive(Clone, Debug, PartialEq)]
pub struct ProveToRv(pub Eat);

impl ProveToRv {
    /// Signs the EAT with the device attestation key.
    pub fn sign(nonce: Nonce, guid: &Guid, device: &dyn Signer) -> Result<Self, Error> {
        Eat::sign(EatClaims::new(nonce, guid), &EatHeaders::default(), device).map(Self)
    }

    /// The EAT.
    pub fn eat(&self) -> &Eat {
        &self.0
    }

    /// EAT-NONCE: NonceTO1Proof.
    pub fn nonce(&self) -> &Nonce {
        self.0.claims().nonce()
    }
}

impl Cbor for ProveToRv {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        Eat::decode(d).map(Self)
    }

    fn encode(&self, e: &mut Encoder) {
        e.encode(&self.0);
    }
}

/// TO1.RVRedirect (33), rendezvous → device: the to1d blob the owner registered, as it was
/// registered.
///
/// ```text
/// TO1.RVRedirect = to1d: COSE_Sign1<To1dBlobPayload>
/// ```
///
/// The device verifies it with the owner key once TO2 has proved that key.
#[derive(Clone, Debug, PartialEq)]
pub struct RvRedirect(pub To1d);

impl RvRedirect {
    /// The blob.
    pub fn to1d(&self) -> &To1d {
        &self.0
    }
}

impl Cbor for RvRedirect {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        To1d::decode(d).map(Self)
    }

    fn encode(&self, e: &mut Encoder) {
        e.encode(&self.0);
    }
}

message_types! {
    HelloRv => TO1_HELLO_RV,
    HelloRvAck => TO1_HELLO_RV_ACK,
    ProveToRv => TO1_PROVE_TO_RV,
    RvRedirect => TO1_RV_REDIRECT,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test::SeededRng;
    use crate::crypto::{CryptoProvider, RustCrypto, SigningKey};
    use crate::eat::UeidLabel;
    use crate::messages::test_util::{hex, sign1_hex};
    use crate::messages::to0::To1dPayload;
    use crate::messages::to0::tests::{TO1D_PAYLOAD, addr};
    use crate::messages::{Message, MessageType};
    use crate::types::{HashAlg, PkEnc, PkType, SgType};

    #[test]
    fn hello_rv_round_trips() {
        let bytes = hex("
            82                                    # array(2)
              50 00112233445566778899aabbccddeeff # bstr(16) Guid
              82 26 40                            # [-7 (ES256), h''] eASigInfo");
        let m = HelloRv::from_cbor(&bytes).unwrap();
        assert_eq!(m.sig_info, SigInfo::new(SgType::ES256));
        assert_eq!(m.guid.0[1], 0x11);
        assert_eq!(m.to_cbor(), bytes);
        assert_eq!(HelloRv::from_cbor(&m.to_cbor()).unwrap(), m);
        // SigInfo with a text Info, and a missing SigInfo
        let err = HelloRv::from_cbor(&hex("82 50 00112233445566778899aabbccddeeff 82 26 60"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("Info"), "{err}");
        let err = HelloRv::from_cbor(&hex("81 50 00112233445566778899aabbccddeeff"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("TO1.HelloRV"), "{err}");
    }

    #[test]
    fn hello_rv_ack_round_trips() {
        let bytes = hex("
            82                                    # array(2)
              50 ffeeddccbbaa99887766554433221100 # bstr(16) NonceTO1Proof
              82 38 22 40                         # [-35 (ES384), h''] eBSigInfo");
        let m = HelloRvAck::from_cbor(&bytes).unwrap();
        assert_eq!(m.sig_info.sg_type, SgType::ES384);
        assert_eq!(m.to_cbor(), bytes);
        assert_eq!(HelloRvAck::from_cbor(&m.to_cbor()).unwrap(), m);
        // the fields swapped
        assert!(
            HelloRvAck::from_cbor(&hex("82 82 38 22 40 50 ffeeddccbbaa99887766554433221100"))
                .is_err()
        );
    }

    #[test]
    fn hand_written_prove_to_rv_and_rv_redirect_round_trip() {
        let claims = hex("
            a2                                    # map(2) EAT claims
              0a                                  #   10 EAT-NONCE
              50 04040404040404040404040404040404 #   NonceTO1Proof
              19 0100                             #   256 EAT-UEID
              51 01 09090909090909090909090909090909 # 0x01 ‖ Guid");
        let bytes = sign1_hex("a0", &claims);
        let m = ProveToRv::from_cbor(&bytes).unwrap();
        assert_eq!(m.nonce(), &Nonce([4; 16]));
        assert!(m.eat().claims().ueid_matches(&Guid([9; 16])));
        assert_eq!(m.to_cbor(), bytes);
        assert_eq!(m.eat().claims().to_cbor(), claims);
        // a ProveToRV whose payload is not a claims map
        let err = ProveToRv::from_cbor(&sign1_hex("a0", &hex("80")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("EAT claims"), "{err}");

        let blob = sign1_hex("a0", &hex(TO1D_PAYLOAD));
        let r = RvRedirect::from_cbor(&blob).unwrap();
        assert_eq!(r.to1d().payload().addresses, [addr()]);
        assert_eq!(r.to_cbor(), blob);
    }

    #[test]
    fn prove_to_rv_signs_and_round_trips() {
        let mut rng = SeededRng::new(b"to1");
        let device = SigningKey::generate(PkType::SECP384R1, &mut rng).unwrap();
        let guid = Guid([9; 16]);
        let m = ProveToRv::sign(Nonce([4; 16]), &guid, &device).unwrap();
        let back = ProveToRv::from_cbor(&m.to_cbor()).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.to_cbor(), m.eat().sign1().bytes());
        assert_eq!(back.nonce(), &Nonce([4; 16]));
        assert_eq!(back.eat().claims().ueid_label(), UeidLabel::Standard);
        back.eat().claims().check_ueid(&guid).unwrap();
        back.eat()
            .sign1()
            .verify(
                &RustCrypto,
                &device.public_key(PkEnc::X509).unwrap(),
                "TO1.ProveToRV",
            )
            .unwrap();
        assert_eq!(back.eat().claims().fdo_raw(), None);
        // an untagged array is not an EAT
        let err = ProveToRv::from_cbor(&hex("84 40 a0 40 40"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("COSE_Sign1"), "{err}");
        assert_eq!(ProveToRv::TYPE, MessageType::TO1_PROVE_TO_RV);
    }

    #[test]
    fn rv_redirect_keeps_the_blob_bytes() {
        let mut rng = SeededRng::new(b"to1 redirect");
        let owner = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
        let payload = To1dPayload {
            addresses: alloc::vec![addr()],
            to0d_hash: RustCrypto.hash(HashAlg::SHA256, &[b"to0d"]).unwrap(),
        };
        let to1d = To1d::sign(payload.clone(), &owner).unwrap();
        let bytes = RvRedirect(to1d.clone()).to_cbor();
        assert_eq!(bytes, to1d.sign1().bytes());
        let back = RvRedirect::from_cbor(&bytes).unwrap();
        assert_eq!(back.to1d().payload(), &payload);
        assert_eq!(back.to_cbor(), bytes);
        // a Sign1 whose payload is not a To1dBlobPayload
        let other =
            crate::cose::Sign1::sign(alloc::vec![0x80], coset::Header::default(), &owner).unwrap();
        let err = RvRedirect::from_cbor(other.bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("To1dBlobPayload"), "{err}");
    }
}
