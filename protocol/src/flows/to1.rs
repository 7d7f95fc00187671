//! TO1: the device asks the rendezvous server where its owner is (FDO reference §2.3).
//!
//! ```text
//! device                                   rendezvous server
//!   To1Device::start ─ 30 HelloRV ───────▶ hello_rv_guid → look up → rv_hello_rv → RvTo1State
//!   hello_rv_ack ◀──── 31 HelloRVAck ─────
//!   → To1DeviceProved ─ 32 ProveToRV ────▶ rv_prove_to_rv
//!   rv_redirect ◀───── 33 RVRedirect ─────
//!   → UnverifiedTo1d
//! ```
//!
//! The rendezvous server answers an unknown (or expired) GUID with RESOURCE_NOT_FOUND (6). It
//! checks the ProveToRV EAT's signature with the leaf key of the voucher's device certificate
//! chain, its nonce, and its UEID (`0x01 ‖ GUID`, under claim 256 or fdo-rs' 11); each failure
//! is INVALID_MESSAGE_ERROR (101). The key decides the signature algorithm: eASigInfo is only
//! echoed, because fdo-rs devices claim ES384 for P-256 keys.
//!
//! The device cannot verify the to1d it receives yet: it is signed by the owner key, which TO2
//! proves (FDO reference §5.2 step 9). So it comes out as an [`UnverifiedTo1d`], whose addresses
//! can be used to reach the owner and which [`UnverifiedTo1d::verify`] turns into a
//! [`VerifiedTo1d`] once the owner key is known.

use alloc::vec::Vec;

use crate::cbor::{Cbor, Decoder, Encoder};
use crate::credential::DeviceCredential;
use crate::crypto::{CryptoProvider, Signer, VerifyingKey};
use crate::flows::to0::Registration;
use crate::flows::{
    FlowError, Outgoing, decode, decode_state_head, encode_state_head, random_nonce,
};
use crate::messages::MessageType;
use crate::messages::to0::{RvTo2Addr, To1d};
use crate::messages::to1::{HelloRv, HelloRvAck, ProveToRv, RvRedirect};
use crate::types::{Guid, Nonce, PkType, PublicKey, SgType, SigInfo};
use crate::voucher::OwnershipVoucher;
use crate::{Error, ErrorCode, VerifyError};

/// The public key of the leaf (first) certificate of a device certificate chain, X509-encoded
/// with the pkType of the key it holds.
pub(crate) fn leaf_key(chain: &[Vec<u8>]) -> Result<PublicKey, Error> {
    let leaf = chain
        .first()
        .ok_or_else(|| Error::invalid("device certificate", "the chain is empty"))?;
    let spki = crate::crypto::leaf_spki(leaf)?;
    let pk_type = match VerifyingKey::from_spki_der(&spki)? {
        VerifyingKey::P256(_) => PkType::SECP256R1,
        VerifyingKey::P384(_) => PkType::SECP384R1,
        VerifyingKey::Rsa { pss: true, .. } => PkType::RSAPSS,
        VerifyingKey::Rsa { .. } => PkType::RSAPKCS,
    };
    Ok(PublicKey::x509(pk_type, spki))
}

/// The device attestation key a voucher names: the public key of the leaf of OVDevCertChain.
/// The rendezvous server verifies TO1.ProveToRV with it, and the owner TO2.ProveDevice.
pub fn device_attestation_key(voucher: &OwnershipVoucher) -> Result<PublicKey, Error> {
    let chain = voucher.cert_chain().ok_or_else(|| {
        Error::unsupported("a device without a certificate chain (EPID attestation)")
    })?;
    leaf_key(chain)
}

// ---------------------------------------------------------------------------------------------
// Device

/// TO1 on the device, waiting for TO1.HelloRVAck.
#[derive(Clone, Debug)]
pub struct To1Device {
    guid: Guid,
}

impl To1Device {
    /// Starts TO1 for the device's credential: TO1.HelloRV with its GUID and `sig_info`
    /// (eASigInfo, e.g. `SigInfo::new(SgType::ES256)`). Fails for an inactive credential, which
    /// must not onboard.
    pub fn start(
        credential: &DeviceCredential,
        sig_info: SigInfo,
    ) -> Result<(Outgoing, Self), Error> {
        if !credential.active {
            return Err(Error::Misuse(
                "the device credential is not active (DCActive is false)",
            ));
        }
        let guid = credential.guid;
        Ok((Outgoing::new(&HelloRv { guid, sig_info }), Self { guid }))
    }

    /// Handles TO1.HelloRVAck: signs the ProveToRV EAT (nonce NonceTO1Proof, UEID
    /// `0x01 ‖ GUID`) with the device attestation key and answers TO1.ProveToRV.
    ///
    /// eBSigInfo is not checked: for ECDSA and RSA it is an echo with no content.
    pub fn hello_rv_ack(
        self,
        msg_type: MessageType,
        body: &[u8],
        device: &dyn Signer,
    ) -> Result<(Outgoing, To1DeviceProved), FlowError> {
        let HelloRvAck { nonce, .. } = decode(msg_type, body)?;
        let proof = ProveToRv::sign(nonce, &self.guid, device)
            .map_err(|e| FlowError::with_code(e, msg_type, ErrorCode::INTERNAL_SERVER_ERROR))?;
        Ok((Outgoing::new(&proof), To1DeviceProved { _private: () }))
    }
}

/// TO1 on the device: TO1.ProveToRV sent, waiting for TO1.RVRedirect.
#[derive(Clone, Debug)]
pub struct To1DeviceProved {
    _private: (),
}

impl To1DeviceProved {
    /// Handles TO1.RVRedirect: TO1 is over; returns the owner's to1d blob, not yet verified.
    pub fn rv_redirect(
        self,
        msg_type: MessageType,
        body: &[u8],
    ) -> Result<UnverifiedTo1d, FlowError> {
        let RvRedirect(to1d) = decode(msg_type, body)?;
        Ok(UnverifiedTo1d(to1d))
    }
}

/// A to1d blob received in TO1.RVRedirect, whose owner signature has **not** been checked: the
/// device learns the owner key only in TO2, and must then call [`UnverifiedTo1d::verify`] (FDO
/// reference §5.2 step 9), aborting TO2 if it fails.
///
/// It encodes as the to1d COSE_Sign1 itself, with its original bytes, so the device may keep
/// it between TO1 and TO2.
#[derive(Clone, Debug, PartialEq)]
pub struct UnverifiedTo1d(To1d);

impl UnverifiedTo1d {
    /// to1dRV: where the owner says it can be reached for TO2. Unauthenticated until verified.
    pub fn addresses(&self) -> &[RvTo2Addr] {
        &self.0.payload().addresses
    }

    /// The blob.
    pub fn to1d(&self) -> &To1d {
        &self.0
    }

    /// Verifies the blob's signature with the owner key TO2 proved (the voucher's last entry
    /// key, equal to ProveOVHdr's CUPHOwnerPubKey).
    pub fn verify(
        self,
        crypto: &dyn CryptoProvider,
        owner_key: &PublicKey,
    ) -> Result<VerifiedTo1d, Error> {
        // to1d is signed by the owner key; otherwise assume a man in the middle.
        self.0.sign1().verify(crypto, owner_key, "to1d")?;
        Ok(VerifiedTo1d(self.0))
    }
}

impl Cbor for UnverifiedTo1d {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        To1d::decode(d).map(Self)
    }

    fn encode(&self, e: &mut Encoder) {
        e.encode(&self.0);
    }
}

/// A to1d blob whose signature verified with the owner key: only
/// [`UnverifiedTo1d::verify`] makes one.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedTo1d(To1d);

impl VerifiedTo1d {
    /// to1dRV.
    pub fn addresses(&self) -> &[RvTo2Addr] {
        &self.0.payload().addresses
    }

    /// The blob.
    pub fn to1d(&self) -> &To1d {
        &self.0
    }
}

// ---------------------------------------------------------------------------------------------
// Rendezvous server

const STATE_TAG: &str = "vouch-rv-to1";
const STATE_VERSION: u64 = 1;

/// TO1 on the rendezvous server: TO1.HelloRVAck sent, waiting for TO1.ProveToRV.
///
/// ```text
/// RvTo1State = ["vouch-rv-to1", 1, Guid, NonceTO1Proof,
///               device_key: PublicKey,          ; leaf of OVDevCertChain
///               to1d: COSE_Sign1]               ; the registered blob, as registered
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RvTo1State {
    guid: Guid,
    nonce: Nonce,
    device_key: PublicKey,
    to1d: To1d,
}

impl RvTo1State {
    /// The device's GUID.
    pub fn guid(&self) -> &Guid {
        &self.guid
    }

    /// NonceTO1Proof, as sent in TO1.HelloRVAck.
    pub fn nonce(&self) -> &Nonce {
        &self.nonce
    }
}

impl Cbor for RvTo1State {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        decode_state_head(
            d,
            "TO1 rendezvous state [tag, version, guid, nonce, device_key, to1d]",
            STATE_TAG,
            STATE_VERSION,
            4,
        )?;
        Ok(Self {
            guid: Guid::decode(d)?,
            nonce: Nonce::decode(d)?,
            device_key: PublicKey::decode(d)?,
            to1d: To1d::decode(d)?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        encode_state_head(e, STATE_TAG, STATE_VERSION, 4);
        e.encode(&self.guid)
            .encode(&self.nonce)
            .encode(&self.device_key)
            .encode(&self.to1d);
    }
}

/// Reads the GUID of TO1.HelloRV (30), to look its [`Registration`] up before calling
/// [`rv_hello_rv`].
pub fn hello_rv_guid(msg_type: MessageType, body: &[u8]) -> Result<Guid, FlowError> {
    let hello: HelloRv = decode(msg_type, body)?;
    Ok(hello.guid)
}

/// Handles TO1.HelloRV (30) given the registration stored for its GUID (`None` if there is
/// none): an unknown GUID, or a registration expired at `now` (Unix seconds), is
/// RESOURCE_NOT_FOUND (6). Draws NonceTO1Proof from `rng` and answers TO1.HelloRVAck (31),
/// echoing eASigInfo.
pub fn rv_hello_rv(
    msg_type: MessageType,
    body: &[u8],
    registration: Option<&Registration>,
    now: u64,
    rng: &mut dyn rand_core::CryptoRng,
) -> Result<(Outgoing, RvTo1State), FlowError> {
    let HelloRv { guid, sig_info } = decode(msg_type, body)?;
    // ECDSA or RSA only; which one is the device key's business, not sgType's (fdo-rs claims
    // ES384 for P-256 keys).
    if !matches!(
        sig_info.sg_type,
        SgType::ES256
            | SgType::ES384
            | SgType::RS256
            | SgType::RS384
            | SgType::PS256
            | SgType::PS384
    ) {
        return Err(FlowError::new(
            Error::unsupported(alloc::format!("device attestation {}", sig_info.sg_type)),
            msg_type,
        ));
    }
    let internal = |e: Error| FlowError::with_code(e, msg_type, ErrorCode::INTERNAL_SERVER_ERROR);
    let registration = match registration {
        Some(r) if r.guid != guid => {
            return Err(internal(Error::Misuse(
                "the registration given is not the one for the HelloRV GUID",
            )));
        }
        Some(r) if r.expires_at > now => r,
        _ => {
            return Err(FlowError::with_code(
                Error::invalid("GUID", "no rendezvous blob is registered for it"),
                msg_type,
                ErrorCode::RESOURCE_NOT_FOUND,
            ));
        }
    };
    // The registration was checked in TO0: a failure to read it is the server's own fault.
    let to1d = To1d::from_cbor(&registration.to1d).map_err(internal)?;
    let voucher = OwnershipVoucher::from_cbor(&registration.voucher).map_err(internal)?;
    let device_key = device_attestation_key(&voucher).map_err(internal)?;
    let nonce = random_nonce(rng);
    Ok((
        Outgoing::new(&HelloRvAck { nonce, sig_info }),
        RvTo1State {
            guid,
            nonce,
            device_key,
            to1d,
        },
    ))
}

/// Handles TO1.ProveToRV (32): verifies the EAT's signature with the device certificate's key,
/// its nonce and its UEID, and answers TO1.RVRedirect (33) with the registered to1d.
pub fn rv_prove_to_rv(
    state: RvTo1State,
    msg_type: MessageType,
    body: &[u8],
    crypto: &dyn CryptoProvider,
) -> Result<Outgoing, FlowError> {
    let msg: ProveToRv = decode(msg_type, body)?;
    let eat = msg.eat();
    // The EAT is signed by the leaf key of the voucher's device certificate chain. A signature
    // whose algorithm does not suit that key fails the same check.
    eat.sign1()
        .verify(crypto, &state.device_key, "TO1.ProveToRV EAT")
        .map_err(|e| FlowError::with_code(e, msg_type, ErrorCode::INVALID_MESSAGE_ERROR))?;
    // EAT-NONCE is NonceTO1Proof.
    if eat.claims().nonce() != &state.nonce {
        return Err(FlowError::new(
            VerifyError::Nonce("NonceTO1Proof"),
            msg_type,
        ));
    }
    // EAT-UEID is 0x01 ‖ GUID.
    eat.claims()
        .check_ueid(&state.guid)
        .map_err(|e| FlowError::new(e, msg_type))?;
    Ok(Outgoing::new(&RvRedirect(state.to1d)))
}

#[cfg(test)]
mod tests {
    //! TO0 then TO1 in memory on vouchers made by DI and extended to an owner, then one test
    //! per way the rendezvous server refuses a device.

    use alloc::vec;

    use super::*;
    use crate::cose::Sign1;
    use crate::crypto::SigningKey;
    use crate::crypto::test::SeededRng;
    use crate::flows::di::tests::{C, NOW, Owned, assert_fails, owned, through_db};
    use crate::flows::to0::tests::{addresses, run_to0};
    use crate::types::{PkEnc, PkType};

    /// TO0 for a fresh DI voucher extended to an owner, then TO1 in memory with `sig_info`,
    /// the server's state going through the database between the two requests.
    fn run_to1(o: &Owned, registration: &Registration, sig_info: SigInfo) -> UnverifiedTo1d {
        let mut rng = SeededRng::new(b"to1 rv");
        let (out, device) = To1Device::start(&o.made.credential, sig_info.clone()).unwrap();
        assert_eq!(out.msg_type, MessageType::TO1_HELLO_RV);
        // the server looks the GUID up, then answers
        let guid = hello_rv_guid(out.msg_type, &out.body).unwrap();
        let found = (guid == registration.guid).then_some(registration);
        let (out, state) = rv_hello_rv(out.msg_type, &out.body, found, NOW, &mut rng).unwrap();
        assert_eq!(out.msg_type, MessageType::TO1_HELLO_RV_ACK);
        // eBSigInfo echoes eASigInfo
        assert_eq!(HelloRvAck::from_cbor(&out.body).unwrap().sig_info, sig_info);
        let state = through_db(state);
        let (out, device) = device
            .hello_rv_ack(out.msg_type, &out.body, &o.made.device)
            .unwrap();
        assert_eq!(out.msg_type, MessageType::TO1_PROVE_TO_RV);
        let out = rv_prove_to_rv(state, out.msg_type, &out.body, &C).unwrap();
        assert_eq!(out.msg_type, MessageType::TO1_RV_REDIRECT);
        // RVRedirect is the blob exactly as the owner registered it
        assert_eq!(out.body, registration.to1d);
        device.rv_redirect(out.msg_type, &out.body).unwrap()
    }

    #[test]
    fn to0_then_to1_in_memory_redirects_the_device_to_its_owner() {
        let o = owned(b"to1 full");
        let (_, registration) = run_to0(&o, 3600, 86_400);
        let to1d = run_to1(&o, &registration, SigInfo::new(SgType::ES256));
        assert_eq!(to1d.addresses(), addresses());
        // it keeps its bytes through the device's own storage
        let stored = UnverifiedTo1d::from_cbor(&to1d.to_cbor()).unwrap();
        assert_eq!(stored, to1d);
        assert_eq!(stored.to_cbor(), registration.to1d);
        // in TO2 the device checks it with the owner key, and only that key
        assert_eq!(
            to1d.clone()
                .verify(&C, &o.made.manufacturer.public_key(PkEnc::X509).unwrap())
                .unwrap_err(),
            Error::Verify(VerifyError::Signature("to1d"))
        );
        let verified = to1d
            .verify(&C, &o.owner.public_key(PkEnc::X509).unwrap())
            .unwrap();
        assert_eq!(verified.addresses(), addresses());
        assert_eq!(verified.to1d().sign1().bytes(), registration.to1d);
    }

    #[test]
    fn es384_claimed_for_a_p256_key_is_accepted() {
        // fdo-rs devices say ES384 whatever their key; the key decides
        let o = owned(b"to1 fdo-rs sgtype");
        assert_eq!(o.made.device.pk_type(), PkType::SECP256R1);
        let (_, registration) = run_to0(&o, 3600, 86_400);
        let to1d = run_to1(&o, &registration, SigInfo::new(SgType::ES384));
        assert_eq!(to1d.to_cbor(), registration.to1d);
    }

    /// A rendezvous session for `o`'s device, waiting for TO1.ProveToRV, and its nonce.
    fn session(o: &Owned, registration: &Registration) -> (RvTo1State, Nonce) {
        let hello = HelloRv {
            guid: o.made.credential.guid,
            sig_info: SigInfo::new(SgType::ES256),
        };
        let (_, state) = rv_hello_rv(
            MessageType::TO1_HELLO_RV,
            &hello.to_cbor(),
            Some(registration),
            NOW,
            &mut SeededRng::new(b"to1 session"),
        )
        .unwrap();
        let nonce = *state.nonce();
        (through_db(state), nonce)
    }

    fn fixture() -> (Owned, Registration) {
        let o = owned(b"to1 negative");
        let (_, registration) = run_to0(&o, 3600, 86_400);
        (o, registration)
    }

    fn prove(state: RvTo1State, body: &[u8]) -> Result<Outgoing, FlowError> {
        rv_prove_to_rv(state, MessageType::TO1_PROVE_TO_RV, body, &C)
    }

    const T: MessageType = MessageType::TO1_PROVE_TO_RV;

    #[test]
    fn unknown_or_expired_guid_is_resource_not_found() {
        let (o, registration) = fixture();
        let hello = HelloRv {
            guid: o.made.credential.guid,
            sig_info: SigInfo::new(SgType::ES256),
        }
        .to_cbor();
        let mut rng = SeededRng::new(b"unknown");
        let t = MessageType::TO1_HELLO_RV;
        assert_fails(
            rv_hello_rv(t, &hello, None, NOW, &mut rng),
            ErrorCode::RESOURCE_NOT_FOUND,
            t,
        );
        // the registration's TTL has run out
        let late = registration.expires_at;
        assert_fails(
            rv_hello_rv(t, &hello, Some(&registration), late, &mut rng),
            ErrorCode::RESOURCE_NOT_FOUND,
            t,
        );
        assert!(rv_hello_rv(t, &hello, Some(&registration), late - 1, &mut rng).is_ok());
        // a registration for another GUID is the caller's mistake
        let mut other = registration.clone();
        other.guid = Guid([0xee; 16]);
        assert_fails(
            rv_hello_rv(t, &hello, Some(&other), NOW, &mut rng),
            ErrorCode::INTERNAL_SERVER_ERROR,
            t,
        );
        // and so is a stored voucher that no longer reads
        let mut broken = registration;
        broken.voucher.truncate(10);
        let e = assert_fails(
            rv_hello_rv(t, &hello, Some(&broken), NOW, &mut rng),
            ErrorCode::INTERNAL_SERVER_ERROR,
            t,
        );
        assert_eq!(e.to_message().text, "internal error");
    }

    #[test]
    fn eat_signed_by_another_key_is_invalid_message() {
        let (o, registration) = fixture();
        let guid = o.made.credential.guid;
        let mut rng = SeededRng::new(b"strangers");
        // another P-256 key, and a P-384 key (whose ES384 does not suit the device key)
        for pk_type in [PkType::SECP256R1, PkType::SECP384R1] {
            let stranger = SigningKey::generate(pk_type, &mut rng).unwrap();
            let (state, nonce) = session(&o, &registration);
            let body = ProveToRv::sign(nonce, &guid, &stranger).unwrap().to_cbor();
            assert_fails(prove(state, &body), ErrorCode::INVALID_MESSAGE_ERROR, T);
        }
        // the owner's key is not the device's either
        let (state, nonce) = session(&o, &registration);
        let body = ProveToRv::sign(nonce, &guid, &o.owner).unwrap().to_cbor();
        let e = assert_fails(prove(state, &body), ErrorCode::INVALID_MESSAGE_ERROR, T);
        assert_eq!(
            e.error,
            Error::Verify(VerifyError::Signature("TO1.ProveToRV EAT"))
        );
    }

    #[test]
    fn wrong_nonce_is_invalid_message() {
        let (o, registration) = fixture();
        let (state, nonce) = session(&o, &registration);
        let mut wrong = nonce;
        wrong.0[15] ^= 0x80;
        let body = ProveToRv::sign(wrong, &o.made.credential.guid, &o.made.device)
            .unwrap()
            .to_cbor();
        let e = assert_fails(prove(state, &body), ErrorCode::INVALID_MESSAGE_ERROR, T);
        assert_eq!(e.error, Error::Verify(VerifyError::Nonce("NonceTO1Proof")));
    }

    #[test]
    fn wrong_ueid_is_invalid_message() {
        let (o, registration) = fixture();
        let (state, nonce) = session(&o, &registration);
        let body = ProveToRv::sign(nonce, &Guid([0x42; 16]), &o.made.device)
            .unwrap()
            .to_cbor();
        let e = assert_fails(prove(state, &body), ErrorCode::INVALID_MESSAGE_ERROR, T);
        assert_eq!(e.error, Error::Verify(VerifyError::Ueid));
    }

    /// An EAT signed by `key` whose claims are `{10: nonce, label: ueid}`, built by hand.
    fn eat_with_ueid(nonce: &Nonce, label: i64, ueid: &[u8], key: &SigningKey) -> Vec<u8> {
        let mut e = Encoder::new();
        e.map(2).int(10).encode(nonce).int(label).bytes(ueid);
        Sign1::sign(e.into_bytes(), coset::Header::default(), key)
            .unwrap()
            .bytes()
            .to_vec()
    }

    #[test]
    fn ueid_under_fdo_rs_label_11_is_accepted() {
        let (o, registration) = fixture();
        let (state, nonce) = session(&o, &registration);
        let ueid = [&[0x01][..], o.made.credential.guid.as_bytes()].concat();
        let body = eat_with_ueid(&nonce, 11, &ueid, &o.made.device);
        let out = prove(state, &body).unwrap();
        assert_eq!(out.msg_type, MessageType::TO1_RV_REDIRECT);
        assert_eq!(out.body, registration.to1d);
        // but not with another type byte than EAT-RAND
        let (state, nonce) = session(&o, &registration);
        let ueid = [&[0x02][..], o.made.credential.guid.as_bytes()].concat();
        let body = eat_with_ueid(&nonce, 11, &ueid, &o.made.device);
        assert_fails(prove(state, &body), ErrorCode::INVALID_MESSAGE_ERROR, T);
    }

    #[test]
    fn wrong_message_type_and_malformed_body_are_body_errors() {
        let (o, registration) = fixture();
        let (state, nonce) = session(&o, &registration);
        let body = ProveToRv::sign(nonce, &o.made.credential.guid, &o.made.device)
            .unwrap()
            .to_cbor();
        // HelloRV again where ProveToRV belongs
        assert_fails(
            rv_prove_to_rv(state.clone(), MessageType::TO1_HELLO_RV, &body, &C),
            ErrorCode::MESSAGE_BODY_ERROR,
            MessageType::TO1_HELLO_RV,
        );
        // ProveToRV cut short; an EAT without a UEID
        assert_fails(
            prove(state.clone(), &body[..body.len() - 1]),
            ErrorCode::MESSAGE_BODY_ERROR,
            T,
        );
        let mut e = Encoder::new();
        e.map(1).int(10).encode(&nonce);
        let no_ueid =
            Sign1::sign(e.into_bytes(), coset::Header::default(), &o.made.device).unwrap();
        assert_fails(
            prove(state.clone(), no_ueid.bytes()),
            ErrorCode::MESSAGE_BODY_ERROR,
            T,
        );
        assert!(prove(state, &body).is_ok());
        // a HelloRV with a 15-byte GUID, at both entry points
        let t = MessageType::TO1_HELLO_RV;
        let mut short = vec![0x82, 0x4f];
        short.extend_from_slice(&[0; 15]);
        short.extend_from_slice(&[0x82, 0x26, 0x40]);
        assert_fails(hello_rv_guid(t, &short), ErrorCode::MESSAGE_BODY_ERROR, t);
        assert_fails(
            rv_hello_rv(
                t,
                &short,
                Some(&registration),
                NOW,
                &mut SeededRng::new(b"m"),
            ),
            ErrorCode::MESSAGE_BODY_ERROR,
            t,
        );
        // and an EPID device, which cannot be verified here
        let epid = HelloRv {
            guid: registration.guid,
            sig_info: SigInfo::new(SgType::EPID11),
        };
        let e = assert_fails(
            rv_hello_rv(
                t,
                &epid.to_cbor(),
                Some(&registration),
                NOW,
                &mut SeededRng::new(b"e"),
            ),
            ErrorCode::MESSAGE_BODY_ERROR,
            t,
        );
        assert!(e.to_string().contains("EPID11"), "{e}");
    }

    #[test]
    fn device_side_errors() {
        let (o, registration) = fixture();
        let mut inactive = o.made.credential.clone();
        inactive.active = false;
        assert!(matches!(
            To1Device::start(&inactive, SigInfo::new(SgType::ES256)),
            Err(Error::Misuse(_))
        ));
        let (_, device) =
            To1Device::start(&o.made.credential, SigInfo::new(SgType::ES256)).unwrap();
        // RVRedirect where HelloRVAck belongs
        assert_fails(
            device.clone().hello_rv_ack(
                MessageType::TO1_RV_REDIRECT,
                &registration.to1d,
                &o.made.device,
            ),
            ErrorCode::MESSAGE_BODY_ERROR,
            MessageType::TO1_RV_REDIRECT,
        );
        let ack = HelloRvAck {
            nonce: Nonce([1; 16]),
            sig_info: SigInfo::new(SgType::ES256),
        }
        .to_cbor();
        let (out, proved) = device
            .hello_rv_ack(MessageType::TO1_HELLO_RV_ACK, &ack, &o.made.device)
            .unwrap();
        // the EAT the device sent: its nonce, its UEID under 256, its key
        let sent = ProveToRv::from_cbor(&out.body).unwrap();
        assert_eq!(sent.nonce(), &Nonce([1; 16]));
        sent.eat()
            .claims()
            .check_ueid(&o.made.credential.guid)
            .unwrap();
        sent.eat()
            .sign1()
            .verify(&C, &o.made.device.public_key(PkEnc::X509).unwrap(), "EAT")
            .unwrap();
        // a to1d whose payload has no address, and a HelloRVAck where RVRedirect belongs
        let empty =
            Sign1::sign(vec![0x82, 0x80, 0xf6], coset::Header::default(), &o.owner).unwrap();
        assert_fails(
            proved
                .clone()
                .rv_redirect(MessageType::TO1_RV_REDIRECT, empty.bytes()),
            ErrorCode::MESSAGE_BODY_ERROR,
            MessageType::TO1_RV_REDIRECT,
        );
        assert_fails(
            proved.rv_redirect(MessageType::TO1_HELLO_RV_ACK, &ack),
            ErrorCode::MESSAGE_BODY_ERROR,
            MessageType::TO1_HELLO_RV_ACK,
        );
    }

    #[test]
    fn device_attestation_key_is_the_chain_leaf() {
        let o = owned(b"to1 leaf");
        let key = device_attestation_key(&o.voucher).unwrap();
        assert_eq!(key.pk_type, PkType::SECP256R1);
        assert!(
            C.same_key(&key, &o.made.device.public_key(PkEnc::X509).unwrap())
                .unwrap()
        );
        assert!(leaf_key(&[]).is_err());
        assert!(leaf_key(&[vec![0x30, 0x00]]).is_err());
    }

    #[test]
    fn state_encoding_refuses_other_tags_and_versions() {
        let (o, registration) = fixture();
        let (state, _) = session(&o, &registration);
        let bytes = state.to_cbor();
        // ["vouch-rv-to1", 1, guid, nonce, device_key, to1d]
        assert_eq!(&bytes[..2], &[0x86, 0x6c]);
        assert!(bytes.ends_with(&registration.to1d));
        let mut v2 = bytes.clone();
        v2[2 + STATE_TAG.len()] = 0x02;
        assert!(matches!(
            RvTo1State::from_cbor(&v2).unwrap_err(),
            Error::Unsupported(_)
        ));
        let mut other_tag = bytes.clone();
        other_tag[2 + STATE_TAG.len() - 1] = b'0'; // "vouch-rv-to0"
        let err = RvTo1State::from_cbor(&other_tag).unwrap_err().to_string();
        assert!(err.contains("vouch-rv-to0"), "{err}");
        // a to1d that is not a Sign1 does not come back from the database
        let mut cut = bytes;
        cut.truncate(cut.len() - 1);
        assert!(RvTo1State::from_cbor(&cut).is_err());
    }
}
