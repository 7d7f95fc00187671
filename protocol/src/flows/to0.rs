//! TO0: the owner registers with the rendezvous server where its device can find it (FDO
//! reference §2.2).
//!
//! ```text
//! owner                                    rendezvous server
//!   To0Owner::start ── 20 Hello ─────────▶ rv_hello               → RvTo0State { nonce }
//!   hello_ack ◀─────── 21 HelloAck ───────
//!   → To0OwnerSigned ─ 22 OwnerSign ─────▶ rv_owner_sign          → Registration
//!   accept_owner ◀──── 23 AcceptOwner ────
//!   → granted WaitSeconds
//! ```
//!
//! The rendezvous server checks, in this order, each failure with the FDO code the reference
//! gives it:
//!
//! | Check | Code |
//! |---|---|
//! | the message parses | MESSAGE_BODY_ERROR (100) |
//! | to0d's nonce is this session's NonceTO0Sign | INVALID_MESSAGE_ERROR (101) |
//! | the voucher's entry chain verifies, it has at least one entry, and its device certificate (which TO1 verifies the device with) is readable | INVALID_OWNERSHIP_VOUCHER (2) |
//! | to1dTo0dHash is the hash of the to0d byte string's contents | INVALID_OWNER_SIGN_BODY (3) |
//! | to1d's signature verifies with the voucher's owner key (its last entry's key) | INVALID_OWNER_SIGN_BODY (3) |
//!
//! and grants the smaller of the TTL asked for and its own maximum.

use alloc::vec::Vec;

use crate::cbor::{Cbor, Decoder, Encoder};
use crate::crypto::{CryptoProvider, Signer};
use crate::error::VerifyError;
use crate::flows::{
    FlowError, Outgoing, decode, decode_state_head, encode_state_head, random_nonce,
};
use crate::messages::MessageType;
use crate::messages::to0::{AcceptOwner, Hello, HelloAck, OwnerSign, RvTo2Addr, To0d};
use crate::types::{Guid, Nonce, PkEnc};
use crate::voucher::VerifiedVoucher;
use crate::{Error, ErrorCode};

// ---------------------------------------------------------------------------------------------
// Owner

/// TO0 on the owner, waiting for TO0.HelloAck.
#[derive(Clone, Debug)]
pub struct To0Owner {
    voucher: VerifiedVoucher,
    addresses: Vec<RvTo2Addr>,
    wait_seconds: u32,
}

impl To0Owner {
    /// Starts TO0 for a verified voucher that has at least one entry: the owner will register
    /// `addresses` (to1dRV, where the device reaches it for TO2) for `wait_seconds`.
    pub fn start(
        voucher: VerifiedVoucher,
        addresses: Vec<RvTo2Addr>,
        wait_seconds: u32,
    ) -> Result<(Outgoing, Self), Error> {
        // The rendezvous server refuses a voucher without entries: fail before asking it.
        voucher.require_entries()?;
        if addresses.is_empty() {
            return Err(Error::Misuse("to1d needs at least one RVTO2AddrEntry"));
        }
        Ok((
            Outgoing::new(&Hello),
            Self {
                voucher,
                addresses,
                wait_seconds,
            },
        ))
    }

    /// Handles TO0.HelloAck: builds to0d with the server's nonce, signs to1d with the owner
    /// key (`owner` must hold the voucher's owner key) and answers TO0.OwnerSign.
    pub fn hello_ack(
        self,
        msg_type: MessageType,
        body: &[u8],
        crypto: &dyn CryptoProvider,
        owner: &dyn Signer,
    ) -> Result<(Outgoing, To0OwnerSigned), FlowError> {
        let HelloAck { nonce } = decode(msg_type, body)?;
        let internal =
            |e: Error| FlowError::with_code(e, msg_type, ErrorCode::INTERNAL_SERVER_ERROR);
        let mine = owner.public_key(PkEnc::X509).map_err(internal)?;
        if !crypto
            .same_key(&mine, self.voucher.owner_key())
            .map_err(internal)?
        {
            return Err(internal(Error::Misuse(
                "the to1d signer does not hold the voucher's owner key",
            )));
        }
        let alg = self.voucher.voucher().entry_hash_alg().map_err(internal)?;
        let to0d = To0d {
            voucher: self.voucher.into_voucher(),
            wait_seconds: self.wait_seconds,
            nonce,
        };
        let msg = OwnerSign::sign(crypto, to0d, self.addresses, alg, owner).map_err(internal)?;
        Ok((
            Outgoing::new(&msg),
            To0OwnerSigned {
                requested: self.wait_seconds,
            },
        ))
    }
}

/// TO0 on the owner: TO0.OwnerSign sent, waiting for TO0.AcceptOwner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct To0OwnerSigned {
    requested: u32,
}

impl To0OwnerSigned {
    /// The TTL the owner asked for.
    pub fn requested(&self) -> u32 {
        self.requested
    }

    /// Handles TO0.AcceptOwner: TO0 is over; returns the TTL the server granted, in seconds.
    /// Register again before it runs out.
    pub fn accept_owner(self, msg_type: MessageType, body: &[u8]) -> Result<u32, FlowError> {
        let AcceptOwner { wait_seconds } = decode(msg_type, body)?;
        Ok(wait_seconds)
    }
}

// ---------------------------------------------------------------------------------------------
// Rendezvous server

const STATE_TAG: &str = "vouch-rv-to0";
const REGISTRATION_TAG: &str = "vouch-rv-registration";
const VERSION: u64 = 1;

/// TO0 on the rendezvous server: TO0.HelloAck sent, waiting for TO0.OwnerSign.
///
/// ```text
/// RvTo0State = ["vouch-rv-to0", 1, NonceTO0Sign]
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RvTo0State {
    nonce: Nonce,
}

impl RvTo0State {
    /// NonceTO0Sign, as sent in TO0.HelloAck.
    pub fn nonce(&self) -> &Nonce {
        &self.nonce
    }
}

impl Cbor for RvTo0State {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        decode_state_head(
            d,
            "TO0 rendezvous state [tag, version, nonce]",
            STATE_TAG,
            VERSION,
            1,
        )?;
        Ok(Self {
            nonce: Nonce::decode(d)?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        encode_state_head(e, STATE_TAG, VERSION, 1);
        e.encode(&self.nonce);
    }
}

/// Handles TO0.Hello (20): draws NonceTO0Sign from `rng` and answers TO0.HelloAck (21).
pub fn rv_hello(
    msg_type: MessageType,
    body: &[u8],
    rng: &mut dyn rand_core::CryptoRng,
) -> Result<(Outgoing, RvTo0State), FlowError> {
    let Hello = decode(msg_type, body)?;
    let nonce = random_nonce(rng);
    Ok((Outgoing::new(&HelloAck { nonce }), RvTo0State { nonce }))
}

/// What the rendezvous server keeps for a device after TO0, until `expires_at`: the to1d blob
/// to hand it in TO1.RVRedirect and the voucher whose device certificate TO1 verifies it with.
///
/// ```text
/// Registration = ["vouch-rv-registration", 1, Guid, to1d: bstr, voucher: bstr,
///                 expires_at: uint]
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The device's GUID: the key to look the registration up by in TO1.
    pub guid: Guid,
    /// The to1d COSE_Sign1, exactly as the owner signed it.
    pub to1d: Vec<u8>,
    /// The ownership voucher, as registered.
    pub voucher: Vec<u8>,
    /// Unix seconds after which the registration is void.
    pub expires_at: u64,
}

impl Cbor for Registration {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        decode_state_head(
            d,
            "rendezvous registration [tag, version, guid, to1d, voucher, expires_at]",
            REGISTRATION_TAG,
            VERSION,
            4,
        )?;
        Ok(Self {
            guid: Guid::decode(d)?,
            to1d: d.bytes("to1d (bstr)")?.to_vec(),
            voucher: d.bytes("voucher (bstr)")?.to_vec(),
            expires_at: d.uint("expires_at (uint)")?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        encode_state_head(e, REGISTRATION_TAG, VERSION, 4);
        e.encode(&self.guid)
            .bytes(&self.to1d)
            .bytes(&self.voucher)
            .uint(self.expires_at);
    }
}

/// Handles TO0.OwnerSign (22): runs the checks of the [module documentation](self), grants
/// `min(WaitSeconds, max_wait)` from `now` (Unix seconds) and answers TO0.AcceptOwner (23)
/// with the [`Registration`] to store, replacing any earlier one for the same GUID.
pub fn rv_owner_sign(
    state: RvTo0State,
    msg_type: MessageType,
    body: &[u8],
    crypto: &dyn CryptoProvider,
    now: u64,
    max_wait: u32,
) -> Result<(Outgoing, Registration), FlowError> {
    let msg: OwnerSign = decode(msg_type, body)?;
    let to0d = msg.to0d.value();

    // NonceTO0Sign: to0d carries the nonce this session sent in TO0.HelloAck.
    if to0d.nonce != state.nonce {
        return Err(FlowError::new(VerifyError::Nonce("NonceTO0Sign"), msg_type));
    }

    // The voucher: its entry chain verifies, it has at least one entry, and its device
    // certificate holds a key TO1 can verify the device with.
    let bad_voucher =
        |e: Error| FlowError::with_code(e, msg_type, ErrorCode::INVALID_OWNERSHIP_VOUCHER);
    let voucher = to0d
        .voucher
        .clone()
        .verify(crypto, None, None)
        .map_err(bad_voucher)?;
    voucher.require_entries().map_err(bad_voucher)?;
    crate::flows::to1::device_attestation_key(voucher.voucher()).map_err(bad_voucher)?;

    // to1dTo0dHash = H(to0d), over the byte string's contents as received.
    let bad_sign = |e: Error| FlowError::with_code(e, msg_type, ErrorCode::INVALID_OWNER_SIGN_BODY);
    let claimed = &msg.to1d.payload().to0d_hash;
    let actual = msg.to0d_hash(crypto, claimed.alg()).map_err(bad_sign)?;
    if !actual.ct_eq(claimed) {
        return Err(bad_sign(VerifyError::Hash("to1dTo0dHash").into()));
    }
    // to1d is signed by the owner key: the voucher's last entry key.
    msg.to1d
        .sign1()
        .verify(crypto, voucher.owner_key(), "to1d")
        .map_err(bad_sign)?;

    let granted = to0d.wait_seconds.min(max_wait);
    let registration = Registration {
        guid: voucher.voucher().guid(),
        to1d: msg.to1d.sign1().bytes().to_vec(),
        voucher: voucher.voucher().to_cbor(),
        expires_at: now.saturating_add(u64::from(granted)),
    };
    Ok((
        Outgoing::new(&AcceptOwner {
            wait_seconds: granted,
        }),
        registration,
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    //! TO0 in memory, owner ↔ rendezvous server, on vouchers made by DI and extended to an
    //! owner; then one test per way the rendezvous server refuses a registration.

    use alloc::vec;

    use super::*;
    use crate::cbor::Bstr;
    use crate::crypto::SigningKey;
    use crate::crypto::test::SeededRng;
    use crate::flows::di::tests::{C, NOW, Owned, assert_fails, owned, through_db};
    use crate::messages::to0::{To1d, To1dPayload};
    use crate::types::{HashAlg, PkType, TransportProtocol};
    use crate::voucher::{OvHeader, OwnershipVoucher};

    pub(crate) fn addresses() -> Vec<RvTo2Addr> {
        vec![RvTo2Addr {
            ip: None,
            dns: Some("owner.example".into()),
            port: 8043,
            protocol: TransportProtocol::HTTPS,
        }]
    }

    /// Runs TO0 in memory for `o`, asking for `wait` seconds from a server that grants at most
    /// `max_wait`, the server's state going through the database between the two requests.
    pub(crate) fn run_to0(o: &Owned, wait: u32, max_wait: u32) -> (u32, Registration) {
        let mut rng = SeededRng::new(b"to0 rv");
        let verified = o.voucher.clone().verify(&C, None, None).unwrap();
        let (out, owner) = To0Owner::start(verified, addresses(), wait).unwrap();
        assert_eq!(
            (out.msg_type, &out.body[..]),
            (MessageType::TO0_HELLO, &[0x80][..])
        );
        let (out, state) = rv_hello(out.msg_type, &out.body, &mut rng).unwrap();
        assert_eq!(out.msg_type, MessageType::TO0_HELLO_ACK);
        let state = through_db(state);
        let (out, owner) = owner
            .hello_ack(out.msg_type, &out.body, &C, &o.owner)
            .unwrap();
        assert_eq!(out.msg_type, MessageType::TO0_OWNER_SIGN);
        assert_eq!(owner.requested(), wait);
        let (out, registration) =
            rv_owner_sign(state, out.msg_type, &out.body, &C, NOW, max_wait).unwrap();
        assert_eq!(out.msg_type, MessageType::TO0_ACCEPT_OWNER);
        let granted = owner.accept_owner(out.msg_type, &out.body).unwrap();
        (granted, registration)
    }

    #[test]
    fn to0_in_memory_registers_the_blob() {
        let o = owned(b"to0 full");
        let (granted, reg) = run_to0(&o, 3600, 86_400);
        assert_eq!(granted, 3600);
        assert_eq!(reg.guid, o.made.credential.guid);
        assert_eq!(reg.expires_at, NOW + 3600);
        // the voucher is stored as registered, and to1d as the owner signed it
        assert_eq!(reg.voucher, o.voucher.to_cbor());
        let to1d = To1d::from_cbor(&reg.to1d).unwrap();
        assert_eq!(to1d.payload().addresses, addresses());
        to1d.sign1()
            .verify(&C, o.voucher.owner_key(), "to1d")
            .unwrap();
        assert_eq!(through_db(reg.clone()), reg);
        // the server's maximum caps the TTL
        let (granted, reg) = run_to0(&o, 3600, 600);
        assert_eq!(granted, 600);
        assert_eq!(reg.expires_at, NOW + 600);
    }

    /// A server session waiting for TO0.OwnerSign, and its nonce.
    fn session(seed: &[u8]) -> (RvTo0State, Nonce) {
        let (_, state) =
            rv_hello(MessageType::TO0_HELLO, &[0x80], &mut SeededRng::new(seed)).unwrap();
        let nonce = *state.nonce();
        (state, nonce)
    }

    /// TO0.OwnerSign for `voucher` with `nonce`, to1d signed by `signer`.
    fn owner_sign(voucher: OwnershipVoucher, nonce: Nonce, signer: &SigningKey) -> Vec<u8> {
        let to0d = To0d {
            voucher,
            wait_seconds: 3600,
            nonce,
        };
        OwnerSign::sign(&C, to0d, addresses(), HashAlg::SHA256, signer)
            .unwrap()
            .to_cbor()
    }

    fn submit(state: RvTo0State, body: &[u8]) -> Result<(Outgoing, Registration), FlowError> {
        rv_owner_sign(state, MessageType::TO0_OWNER_SIGN, body, &C, NOW, 86_400)
    }

    const T: MessageType = MessageType::TO0_OWNER_SIGN;

    #[test]
    fn the_hand_built_owner_sign_is_accepted() {
        // the helpers below make a good message unless told otherwise
        let o = owned(b"to0 negative");
        let (state, nonce) = session(b"s");
        let (out, reg) = submit(state, &owner_sign(o.voucher.clone(), nonce, &o.owner)).unwrap();
        assert_eq!(
            AcceptOwner::from_cbor(&out.body).unwrap().wait_seconds,
            3600
        );
        assert_eq!(reg.guid, o.voucher.guid());
    }

    #[test]
    fn wrong_nonce_is_invalid_message() {
        let o = owned(b"to0 negative");
        let (state, nonce) = session(b"s");
        let mut wrong = nonce;
        wrong.0[0] ^= 1;
        let e = assert_fails(
            submit(state, &owner_sign(o.voucher, wrong, &o.owner)),
            ErrorCode::INVALID_MESSAGE_ERROR,
            T,
        );
        assert_eq!(e.error, Error::Verify(VerifyError::Nonce("NonceTO0Sign")));
    }

    #[test]
    fn nonce_replayed_from_another_session_is_invalid_message() {
        let o = owned(b"to0 negative");
        // two sessions; the owner answers the first, and its message is replayed on the second
        let (first, nonce_a) = session(b"session a");
        let (second, nonce_b) = session(b"session b");
        assert_ne!(nonce_a, nonce_b);
        let body = owner_sign(o.voucher.clone(), nonce_a, &o.owner);
        assert_fails(
            submit(through_db(second), &body),
            ErrorCode::INVALID_MESSAGE_ERROR,
            T,
        );
        assert!(submit(through_db(first), &body).is_ok());
    }

    #[test]
    fn to1d_signed_by_another_key_is_invalid_owner_sign_body() {
        let o = owned(b"to0 negative");
        let (state, nonce) = session(b"s");
        // the manufacturer is a previous owner, not the owner
        let e = assert_fails(
            submit(
                state,
                &owner_sign(o.voucher.clone(), nonce, &o.made.manufacturer),
            ),
            ErrorCode::INVALID_OWNER_SIGN_BODY,
            T,
        );
        assert_eq!(e.error, Error::Verify(VerifyError::Signature("to1d")));
        // nor is a stranger's P-384 key
        let stranger = SigningKey::generate(PkType::SECP384R1, &mut SeededRng::new(b"x")).unwrap();
        let (state, nonce) = session(b"s");
        assert_fails(
            submit(state, &owner_sign(o.voucher, nonce, &stranger)),
            ErrorCode::INVALID_OWNER_SIGN_BODY,
            T,
        );
    }

    #[test]
    fn to0d_hash_mismatch_is_invalid_owner_sign_body() {
        let o = owned(b"to0 negative");
        let (state, nonce) = session(b"s");
        let good = OwnerSign::from_cbor(&owner_sign(o.voucher.clone(), nonce, &o.owner)).unwrap();
        // to1d signed by the owner, but over the hash of another to0d
        let other = Bstr::new(To0d {
            voucher: o.voucher.clone(),
            wait_seconds: 60,
            nonce,
        });
        let to1d = To1d::sign(
            To1dPayload {
                addresses: addresses(),
                to0d_hash: C.hash(HashAlg::SHA256, &[other.contents()]).unwrap(),
            },
            &o.owner,
        )
        .unwrap();
        let bad = OwnerSign {
            to0d: good.to0d,
            to1d,
        };
        let e = assert_fails(
            submit(state, &bad.to_cbor()),
            ErrorCode::INVALID_OWNER_SIGN_BODY,
            T,
        );
        assert_eq!(e.error, Error::Verify(VerifyError::Hash("to1dTo0dHash")));
    }

    #[test]
    fn voucher_without_entries_is_invalid_ownership_voucher() {
        let o = owned(b"to0 negative");
        let (state, nonce) = session(b"s");
        // the DI voucher, signed by the manufacturer, whose key it still names
        let e = assert_fails(
            submit(
                state,
                &owner_sign(o.made.voucher.clone(), nonce, &o.made.manufacturer),
            ),
            ErrorCode::INVALID_OWNERSHIP_VOUCHER,
            T,
        );
        assert_eq!(e.error, Error::Verify(VerifyError::NoEntries));
        // and the owner side refuses to start with it
        let verified = o.made.voucher.verify(&C, None, None).unwrap();
        assert_eq!(
            To0Owner::start(verified, addresses(), 60).unwrap_err(),
            Error::Verify(VerifyError::NoEntries)
        );
    }

    #[test]
    fn tampered_voucher_is_invalid_ownership_voucher() {
        let o = owned(b"to0 negative");
        // one bit of the entry's signature (the voucher's last byte)
        let mut bytes = o.voucher.to_cbor();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        let tampered = OwnershipVoucher::from_cbor(&bytes).unwrap();
        let (state, nonce) = session(b"s");
        let e = assert_fails(
            submit(state, &owner_sign(tampered, nonce, &o.owner)),
            ErrorCode::INVALID_OWNERSHIP_VOUCHER,
            T,
        );
        assert_eq!(
            e.error,
            Error::Verify(VerifyError::EntrySignature { index: 0 })
        );
    }

    #[test]
    fn voucher_without_a_device_certificate_is_invalid_ownership_voucher() {
        // TO1 could never verify such a device, so the registration is refused
        let mut rng = SeededRng::new(b"no chain");
        let mfg = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
        let owner = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
        let header = OvHeader::new(
            &C,
            Guid([9; 16]),
            crate::flows::di::tests::rv_info(),
            "no chain",
            mfg.public_key(PkEnc::X509).unwrap(),
            None,
            HashAlg::SHA256,
        )
        .unwrap();
        let hmac = C
            .hmac(HashAlg::HMAC_SHA256, &[1; 32], &header.to_cbor())
            .unwrap();
        let voucher = OwnershipVoucher::new(&C, header, hmac, None)
            .unwrap()
            .extend(&C, &mfg, owner.public_key(PkEnc::X509).unwrap())
            .unwrap();
        let (state, nonce) = session(b"s");
        let e = assert_fails(
            submit(state, &owner_sign(voucher, nonce, &owner)),
            ErrorCode::INVALID_OWNERSHIP_VOUCHER,
            T,
        );
        assert!(matches!(e.error, Error::Unsupported(_)), "{e}");
    }

    #[test]
    fn wrong_message_type_and_malformed_body_are_body_errors() {
        let o = owned(b"to0 negative");
        let (state, nonce) = session(b"s");
        let body = owner_sign(o.voucher, nonce, &o.owner);
        // TO0.Hello again where OwnerSign belongs
        assert_fails(
            rv_owner_sign(state.clone(), MessageType::TO0_HELLO, &body, &C, NOW, 60),
            ErrorCode::MESSAGE_BODY_ERROR,
            MessageType::TO0_HELLO,
        );
        // OwnerSign cut short, and with a trailing byte
        assert_fails(
            submit(state.clone(), &body[..body.len() - 1]),
            ErrorCode::MESSAGE_BODY_ERROR,
            T,
        );
        let mut long = body.clone();
        long.push(0);
        assert_fails(submit(state, &long), ErrorCode::MESSAGE_BODY_ERROR, T);
        // TO0.Hello with a body
        assert_fails(
            rv_hello(
                MessageType::TO0_HELLO,
                &[0x81, 0x00],
                &mut SeededRng::new(b"h"),
            ),
            ErrorCode::MESSAGE_BODY_ERROR,
            MessageType::TO0_HELLO,
        );
    }

    #[test]
    fn owner_side_errors() {
        let o = owned(b"to0 owner side");
        let verified = || o.voucher.clone().verify(&C, None, None).unwrap();
        assert_eq!(
            To0Owner::start(verified(), Vec::new(), 60).unwrap_err(),
            Error::Misuse("to1d needs at least one RVTO2AddrEntry")
        );
        let (_, owner) = To0Owner::start(verified(), addresses(), 60).unwrap();
        let ack = HelloAck {
            nonce: Nonce([5; 16]),
        }
        .to_cbor();
        // a signer that is not the owner: our fault, not the server's
        assert_fails(
            owner
                .clone()
                .hello_ack(MessageType::TO0_HELLO_ACK, &ack, &C, &o.made.manufacturer),
            ErrorCode::INTERNAL_SERVER_ERROR,
            MessageType::TO0_HELLO_ACK,
        );
        // an AcceptOwner where HelloAck belongs, and a short nonce
        assert_fails(
            owner
                .clone()
                .hello_ack(MessageType::TO0_ACCEPT_OWNER, &[0x81, 0x01], &C, &o.owner),
            ErrorCode::MESSAGE_BODY_ERROR,
            MessageType::TO0_ACCEPT_OWNER,
        );
        assert_fails(
            owner.clone().hello_ack(
                MessageType::TO0_HELLO_ACK,
                &ack[..ack.len() - 1],
                &C,
                &o.owner,
            ),
            ErrorCode::MESSAGE_BODY_ERROR,
            MessageType::TO0_HELLO_ACK,
        );
        let (_, signed) = owner
            .hello_ack(MessageType::TO0_HELLO_ACK, &ack, &C, &o.owner)
            .unwrap();
        // a WaitSeconds above uint32
        assert_fails(
            signed.accept_owner(
                MessageType::TO0_ACCEPT_OWNER,
                &[0x81, 0x1b, 0, 0, 0, 1, 0, 0, 0, 0],
            ),
            ErrorCode::MESSAGE_BODY_ERROR,
            MessageType::TO0_ACCEPT_OWNER,
        );
        assert_eq!(
            signed.accept_owner(MessageType::TO0_ACCEPT_OWNER, &[0x81, 0x18, 0x3c]),
            Ok(60)
        );
    }

    #[test]
    fn states_refuse_other_tags_and_versions() {
        let (state, nonce) = session(b"tags");
        let bytes = through_db(state).to_cbor();
        // ["vouch-rv-to0", 1, nonce]
        assert_eq!(&bytes[..2], &[0x83, 0x6c]);
        assert_eq!(&bytes[bytes.len() - 16..], nonce.as_bytes());
        let mut v9 = bytes.clone();
        v9[2 + STATE_TAG.len()] = 0x09;
        assert!(matches!(
            RvTo0State::from_cbor(&v9).unwrap_err(),
            Error::Unsupported(_)
        ));
        let reg = Registration {
            guid: Guid([1; 16]),
            to1d: vec![1],
            voucher: vec![2],
            expires_at: NOW,
        };
        let err = RvTo0State::from_cbor(&reg.to_cbor())
            .unwrap_err()
            .to_string();
        assert!(err.contains("TO0 rendezvous state"), "{err}");
        let err = Registration::from_cbor(&bytes).unwrap_err().to_string();
        assert!(err.contains("rendezvous registration"), "{err}");
    }
}
