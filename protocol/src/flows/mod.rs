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
//!   process memory. A state decoded from the database must be as trustworthy as one kept in
//!   memory, so server states hold no secret the device could use and are never sent out.
//! * Every failure is a [`FlowError`]: the error, and the message type that caused it, which is
//!   what the FDO error message (255) carries back to the peer.
//!
//! Modules: [`di`], [`to0`], [`to1`], [`to2`].

use alloc::vec::Vec;

use crate::messages::{ErrorMessage, Message, MessageType};
use crate::Error;

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
    /// The cause; [`Error::code`] gives the FDO error code.
    pub error: Error,
    /// The message being processed when it failed (`EMPrevMsgID`).
    pub prev: MessageType,
}

impl FlowError {
    /// Pairs an error with the message that caused it.
    pub fn new(error: impl Into<Error>, prev: MessageType) -> Self {
        Self {
            error: error.into(),
            prev,
        }
    }

    /// The FDO error message to send to the peer.
    pub fn to_message(&self) -> ErrorMessage {
        ErrorMessage::from_error(&self.error, self.prev)
    }
}

impl core::fmt::Display for FlowError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} (in reply to message {})", self.error, self.prev.0)
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
