//! The error message (255), sent by either side when it stops a protocol (FDO reference §1).
//!
//! ```text
//! ErrorMessage = [
//!   EMErrorCode: uint16,
//!   EMPrevMsgID: uint8,      ; type of the message that caused the error
//!   EMErrorStr:  tstr,
//!   EMErrorTs:   timestamp / null,
//!   EMErrorCID:  uint / null ; correlation id
//! ]
//! ```
//!
//! **Leniency.** The last two fields are read as *any* CBOR item and kept as
//! [`AnyItem`] (kept byte for byte): go-fdo and the Intel C SDK send an integer timestamp, fdo-rs `null` (or
//! any value), and go-fdo notes that the Java implementation sends a non-standard one; fdo-rs
//! sends a u128 correlation id, which is a bignum (tag 2) once it exceeds 64 bits. The array
//! must still have exactly five items: go-fdo, fdo-rs, the Intel C SDK, the FIDO conformance
//! tool and the Java implementation all send five, and none was found that omits one.
//!
//! **What we send.** [`ErrorMessage::new`] writes timestamp 0 and correlation id 0, not `null`:
//! go-fdo decodes the timestamp into an `int64` and refuses `null` there, and fdo-rs decodes
//! the correlation id into a `u128` and refuses `null` there. go-fdo's server sends
//! correlation id 0 for "none" (FDO 2.0 errata E4). Set real values with
//! [`ErrorMessage::with_timestamp`] and [`ErrorMessage::with_correlation_id`].

use alloc::string::{String, ToString};
use core::fmt;

use ciborium::Value;

use crate::cbor::{AnyItem, Cbor, Decoder, Encoder};
use crate::messages::{MessageType, message_types};
use crate::{Error, ErrorCode};

/// Error (255), in either direction, never encrypted.
///
/// ```text
/// ErrorMessage = [EMErrorCode: uint16, EMPrevMsgID: uint8, EMErrorStr: tstr,
///                 EMErrorTs: any, EMErrorCID: any]
/// ```
///
/// See the [module documentation](self) for what is accepted in the last two fields.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorMessage {
    /// EMErrorCode.
    pub code: ErrorCode,
    /// EMPrevMsgID: the type of the message that caused the error.
    pub prev_message: MessageType,
    /// EMErrorStr: for logs; it must not reveal security details.
    pub text: String,
    /// EMErrorTs, as received (an integer of Unix seconds from most senders).
    pub timestamp: AnyItem,
    /// EMErrorCID, as received.
    pub correlation_id: AnyItem,
}

impl ErrorMessage {
    /// An error message with timestamp 0 and correlation id 0 (see the module documentation
    /// for why not `null`).
    pub fn new(code: ErrorCode, prev: MessageType, text: impl Into<String>) -> Self {
        Self {
            code,
            prev_message: prev,
            text: text.into(),
            timestamp: Value::from(0u64).into(),
            correlation_id: Value::from(0u64).into(),
        }
    }

    /// The error message reporting `err`, with the code [`Error::code`] gives. An internal
    /// error (code 500) is reported without its details.
    pub fn from_error(err: &Error, prev: MessageType) -> Self {
        let code = err.code();
        let text = if code == ErrorCode::INTERNAL_SERVER_ERROR {
            "internal error".to_string()
        } else {
            err.to_string()
        };
        Self::new(code, prev, text)
    }

    /// Sets EMErrorTs to `unix_seconds`.
    pub fn with_timestamp(mut self, unix_seconds: u64) -> Self {
        self.timestamp = Value::from(unix_seconds).into();
        self
    }

    /// Sets EMErrorCID.
    pub fn with_correlation_id(mut self, id: u64) -> Self {
        self.correlation_id = Value::from(id).into();
        self
    }

    /// EMErrorTs as Unix seconds, when it is an integer.
    pub fn timestamp_secs(&self) -> Option<i128> {
        match &self.timestamp.value() {
            Value::Integer(i) => Some(i128::from(*i)),
            _ => None,
        }
    }

    /// EMErrorCID as a number, when it is an unsigned integer or a positive bignum (tag 2) of
    /// at most 16 bytes, as fdo-rs sends it.
    pub fn correlation_id_u128(&self) -> Option<u128> {
        match &self.correlation_id.value() {
            Value::Integer(i) => u128::try_from(*i).ok(),
            Value::Tag(2, inner) => match inner.as_ref() {
                Value::Bytes(b) if b.len() <= 16 => {
                    Some(b.iter().fold(0u128, |acc, x| (acc << 8) | u128::from(*x)))
                }
                _ => None,
            },
            _ => None,
        }
    }
}

impl fmt::Display for ErrorMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "FDO error {} after message {}: {}",
            self.code, self.prev_message, self.text
        )
    }
}

impl Cbor for ErrorMessage {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(
            5,
            "ErrorMessage [EMErrorCode, EMPrevMsgID, EMErrorStr, EMErrorTs, EMErrorCID]",
        )?;
        Ok(Self {
            code: ErrorCode(d.uint_as("EMErrorCode (uint16)")?),
            prev_message: MessageType(d.uint_as("EMPrevMsgID (uint8)")?),
            text: d.text("EMErrorStr (tstr)")?.to_string(),
            timestamp: AnyItem::decode(d)?,
            correlation_id: AnyItem::decode(d)?,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(5)
            .uint(u64::from(self.code.0))
            .uint(u64::from(self.prev_message.0))
            .text(&self.text)
            .encode(&self.timestamp)
            .encode(&self.correlation_id);
    }
}

message_types! {
    ErrorMessage => ERROR,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::VerifyError;
    use crate::messages::Message;
    use crate::messages::test_util::hex;

    #[test]
    fn go_fdo_form_round_trips() {
        let bytes = hex("
            85                 # array(5)
              18 65            # 101 EMErrorCode (INVALID_MESSAGE_ERROR)
              18 40            # 64 EMPrevMsgID (TO2.ProveDevice)
              62 6e6f          # \"no\" EMErrorStr
              1a 6553f100      # 1700000000 EMErrorTs (unix seconds)
              00               # 0 EMErrorCID");
        let m = ErrorMessage::from_cbor(&bytes).unwrap();
        assert_eq!(m.code, ErrorCode::INVALID_MESSAGE_ERROR);
        assert_eq!(m.prev_message, MessageType::TO2_PROVE_DEVICE);
        assert_eq!(m.text, "no");
        assert_eq!(m.timestamp_secs(), Some(1_700_000_000));
        assert_eq!(m.correlation_id_u128(), Some(0));
        assert_eq!(m.to_cbor(), bytes);
        let built = ErrorMessage::new(
            ErrorCode::INVALID_MESSAGE_ERROR,
            MessageType::TO2_PROVE_DEVICE,
            "no",
        )
        .with_timestamp(1_700_000_000);
        assert_eq!(built, m);
        assert_eq!(ErrorMessage::from_cbor(&built.to_cbor()).unwrap(), built);
    }

    #[test]
    fn fdo_rs_null_timestamp_and_u64_cid() {
        // fdo-rs' own test vector (data-formats/src/messages/v11/error.rs)
        let bytes = hex("
            85                               # array(5)
              02                             # 2 INVALID_OWNERSHIP_VOUCHER
              16                             # 22 TO0.OwnerSign
              78 2a                          # tstr(42)
                4f776e65727368697020766f7563686572206d616e756661637475726572206e6f742074727573746564
              f6                             # null EMErrorTs
              1b e34d1bbfbd9d5c17            # 16378777930150272023 EMErrorCID");
        let m = ErrorMessage::from_cbor(&bytes).unwrap();
        assert_eq!(m.code, ErrorCode::INVALID_OWNERSHIP_VOUCHER);
        assert_eq!(m.prev_message, MessageType::TO0_OWNER_SIGN);
        assert_eq!(m.text, "Ownership voucher manufacturer not trusted");
        assert_eq!(m.timestamp.value(), Value::Null);
        assert_eq!(m.timestamp_secs(), None);
        assert_eq!(m.correlation_id_u128(), Some(16_378_777_930_150_272_023));
        assert_eq!(m.to_cbor(), bytes);
    }

    #[test]
    fn bignum_cid_and_odd_timestamp_are_kept() {
        let bytes = hex("
            85                                      # array(5)
              19 01f4                               # 500 INTERNAL_SERVER_ERROR
              0a                                    # 10 DI.AppStart
              60                                    # \"\"
              c1 1a 6553f100                        # 1(1700000000): tagged epoch time
              c2 50 0102030405060708090a0b0c0d0e0f10 # 2(h'01..10'): u128 bignum CID");
        let m = ErrorMessage::from_cbor(&bytes).unwrap();
        assert_eq!(m.code, ErrorCode::INTERNAL_SERVER_ERROR);
        assert_eq!(m.timestamp_secs(), None);
        assert!(matches!(m.timestamp.value(), Value::Tag(1, _)));
        assert_eq!(
            m.correlation_id_u128(),
            Some(0x0102030405060708090a0b0c0d0e0f10)
        );
        assert_eq!(m.to_cbor(), bytes);
        // null in both fields
        let nulls = hex("85 01 0c 60 f6 f6");
        let m = ErrorMessage::from_cbor(&nulls).unwrap();
        assert_eq!(m.correlation_id_u128(), None);
        assert_eq!(m.to_cbor(), nulls);
    }

    #[test]
    fn strict_in_the_first_three_fields_and_the_length() {
        for (bad, what) in [
            ("84 01 0c 60 f6", "ErrorMessage"),            // four items
            ("86 01 0c 60 f6 f6 f6", "ErrorMessage"),      // six items
            ("85 1a 00010000 0c 60 f6 f6", "EMErrorCode"), // code above uint16
            ("85 01 19 0100 60 f6 f6", "EMPrevMsgID"),     // message id above uint8
            ("85 01 0c 40 f6 f6", "EMErrorStr"),           // bstr text
            ("85 20 0c 60 f6 f6", "EMErrorCode"),          // negative code
        ] {
            let err = ErrorMessage::from_cbor(&hex(bad)).unwrap_err().to_string();
            assert!(err.contains(what), "{bad}: {err}");
        }
        // a truncated last item
        assert!(ErrorMessage::from_cbor(&hex("85 01 0c 60 f6 1a 00")).is_err());
    }

    #[test]
    fn from_error_uses_the_one_code_mapping() {
        let e = Error::Verify(VerifyError::Nonce("TO2.Done"));
        let m = ErrorMessage::from_error(&e, MessageType::TO2_DONE);
        assert_eq!(m.code, ErrorCode::INVALID_MESSAGE_ERROR);
        assert_eq!(m.prev_message, MessageType::TO2_DONE);
        assert_eq!(m.text, e.to_string());
        // defaults that go-fdo and fdo-rs can both decode
        assert_eq!(m.timestamp.value(), Value::from(0u64));
        assert_eq!(m.correlation_id.value(), Value::from(0u64));
        let internal = ErrorMessage::from_error(&Error::Misuse("secret detail"), MessageType(60));
        assert_eq!(internal.code, ErrorCode::INTERNAL_SERVER_ERROR);
        assert!(!internal.text.contains("secret"));
        let bad = crate::voucher::OwnershipVoucher::from_cbor(&[0x80]).unwrap_err();
        let m = ErrorMessage::from_error(&bad, MessageType::TO0_OWNER_SIGN);
        assert_eq!(m.code, ErrorCode::MESSAGE_BODY_ERROR);
        assert_eq!(ErrorMessage::TYPE, MessageType::ERROR);
        assert_eq!(
            m.with_correlation_id(7).to_string(),
            alloc::format!(
                "FDO error 100 (MESSAGE_BODY_ERROR) after message 22 (TO0.OwnerSign): {bad}"
            )
        );
    }
}
