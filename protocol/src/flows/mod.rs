//! The FDO protocols as sans-IO state machines: bytes in, bytes out, no clock, no random source
//! of their own (`now` and `rng` are arguments), no storage.
//!
//! Shape, for every protocol and side:
//!
//! * A side is a state value whose type holds only what is valid at that point. A transition
//!   consumes the state and returns the next one together with the [`Outgoing`] message to send,
//!   so a used state cannot be reused.
//! * Server sides are start/finish pairs over states that encode to CBOR ([`Cbor`](crate::cbor::Cbor)), because
//!   the relying party keeps every session in its database, keyed by the bearer token, never in
//!   process memory. Server states are never sent to the peer, and the database that holds
//!   them is trusted like process memory: the TO2 owner state carries the session key and the
//!   seed of its key exchange, so it must stay on the server side.
//! * Every failure is a [`FlowError`]: the error, and the message type that caused it, which is
//!   what the FDO error message (255) carries back to the peer.
//!
//! Modules: [`di`], [`to0`], [`to1`], [`to2`].

use alloc::vec::Vec;

use crate::cbor::{Decoder, Encoder};
use crate::messages::{ErrorMessage, Message, MessageType};
use crate::types::Nonce;
use crate::{Error, ErrorCode};

pub mod di;
pub mod to0;
pub mod to1;
pub mod to2;

/// A message to send: its type and encoded body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// The message type (URL path segment and `Message-Type` header).
    pub msg_type: MessageType,
    /// The CBOR body (for TO2 65–71: the COSE_Encrypt0 object).
    pub body: Vec<u8>,
}

impl Outgoing {
    /// Encodes a plaintext message.
    pub fn new<M: Message>(m: &M) -> Self {
        Self {
            msg_type: M::TYPE,
            body: m.to_cbor(),
        }
    }
}

/// A failed protocol step: what went wrong, and in reply to which message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowError {
    /// The cause; [`Error::code`] gives the FDO error code unless the step names another
    /// ([`FlowError::code`]).
    pub error: Error,
    /// The message being processed when it failed (`EMPrevMsgID`).
    pub prev: MessageType,
    /// The code a protocol step reports instead of [`Error::code`], where the FDO reference
    /// names a specific one for that step: TO0.OwnerSign's INVALID_OWNERSHIP_VOUCHER (2) and
    /// INVALID_OWNER_SIGN_BODY (3), TO1.HelloRV's RESOURCE_NOT_FOUND (6), or
    /// INTERNAL_SERVER_ERROR (500) for a fault in the server's own data.
    code: Option<ErrorCode>,
}

impl FlowError {
    /// Pairs an error with the message that caused it; it is reported with [`Error::code`].
    pub fn new(error: impl Into<Error>, prev: MessageType) -> Self {
        Self {
            error: error.into(),
            prev,
            code: None,
        }
    }

    /// Pairs an error with the message that caused it, to be reported with `code` rather than
    /// [`Error::code`] (see [`FlowError::code`]).
    pub fn with_code(error: impl Into<Error>, prev: MessageType, code: ErrorCode) -> Self {
        Self {
            error: error.into(),
            prev,
            code: Some(code),
        }
    }

    /// The FDO error code to report: the one the step named, or else [`Error::code`].
    pub fn code(&self) -> ErrorCode {
        self.code.unwrap_or_else(|| self.error.code())
    }

    /// The FDO error message to send to the peer. An internal error (code 500) is reported
    /// without its details.
    pub fn to_message(&self) -> ErrorMessage {
        match self.code {
            None => ErrorMessage::from_error(&self.error, self.prev),
            Some(ErrorCode::INTERNAL_SERVER_ERROR) => ErrorMessage::new(
                ErrorCode::INTERNAL_SERVER_ERROR,
                self.prev,
                "internal error",
            ),
            Some(code) => {
                let mut m = ErrorMessage::from_error(&self.error, self.prev);
                m.code = code;
                m
            }
        }
    }
}

impl core::fmt::Display for FlowError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.code {
            Some(code) => write!(
                f,
                "{} (FDO error {code}, in reply to message {})",
                self.error, self.prev.0
            ),
            None => write!(f, "{} (in reply to message {})", self.error, self.prev.0),
        }
    }
}

impl core::error::Error for FlowError {}

/// Decodes the body of an expected message, mapping failures to a [`FlowError`] against it.
pub fn decode<M: Message>(msg_type: MessageType, body: &[u8]) -> Result<M, FlowError> {
    if msg_type != M::TYPE {
        return Err(unexpected(msg_type, M::TYPE));
    }
    M::from_cbor(body).map_err(|e| FlowError::new(e, msg_type))
}

/// The one error for a message that is not the one the state expects.
pub fn unexpected(got: MessageType, want: MessageType) -> FlowError {
    FlowError::new(
        Error::invalid(
            "message type",
            alloc::format!("got {}, expected {}", got.0, want.0),
        ),
        got,
    )
}

/// A fresh nonce from `rng`.
pub(crate) fn random_nonce(rng: &mut dyn rand_core::CryptoRng) -> Nonce {
    let mut n = [0u8; 16];
    rng.fill_bytes(&mut n);
    Nonce(n)
}

/// Writes the head of a server state's encoding: `[tag, version, fields…]`, an array of
/// `2 + fields` items. The tag names the state, the version its layout, so a state written by
/// another release, or a state of another kind, is refused by name instead of misread.
pub(crate) fn encode_state_head(e: &mut Encoder, tag: &str, version: u64, fields: usize) {
    e.array(2 + fields).text(tag).uint(version);
}

/// Reads the head written by [`encode_state_head`], failing unless the tag is `tag` and the
/// version `version`.
pub(crate) fn decode_state_head(
    d: &mut Decoder<'_>,
    what: &'static str,
    tag: &str,
    version: u64,
    fields: u64,
) -> Result<(), Error> {
    d.array_of(2 + fields, what)?;
    let got = d.text("session state tag (tstr)")?;
    if got != tag {
        return Err(Error::invalid(
            what,
            alloc::format!("state tag {got:?}, expected {tag:?}"),
        ));
    }
    let v = d.uint("session state version (uint)")?;
    if v != version {
        return Err(Error::unsupported(alloc::format!(
            "{tag} state version {v} (this release reads {version})"
        )));
    }
    Ok(())
}
