use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::Error;
use crate::cbor::{Cbor, Decoder, Encoder, decode_array, encode_array};

/// `ServiceInfoKV = [ServiceInfoKey: tstr, ServiceInfoVal: bstr .cbor any]`.
///
/// `value` holds the byte string's contents as sent. It is usually one complete CBOR item, but a
/// sender may split a long value over consecutive key/values with the same key (go-fdo does), so
/// a single KV's value is not required to decode on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceInfoKv {
    /// `module:message`.
    pub key: String,
    /// The contents of the value byte string.
    pub value: Vec<u8>,
}

impl ServiceInfoKv {
    /// A key/value whose value is the encoding of `value`.
    pub fn new<T: Cbor>(key: &str, value: &T) -> Self {
        Self {
            key: key.to_string(),
            value: value.to_cbor(),
        }
    }

    /// The module part of the key (before the first `:`).
    pub fn module(&self) -> &str {
        self.key
            .split_once(':')
            .map_or(self.key.as_str(), |(m, _)| m)
    }

    /// The message part of the key (after the first `:`), empty when there is none.
    pub fn message(&self) -> &str {
        self.key.split_once(':').map_or("", |(_, m)| m)
    }
}

impl Cbor for ServiceInfoKv {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(2, "ServiceInfoKV [key, value]")?;
        Ok(Self {
            key: d.text("ServiceInfoKey (tstr)")?.to_string(),
            value: d.bytes("ServiceInfoVal (bstr)")?.to_vec(),
        })
    }
    fn encode(&self, e: &mut Encoder) {
        e.array(2).text(&self.key).bytes(&self.value);
    }
}

/// `ServiceInfo = [* ServiceInfoKV]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceInfo(pub Vec<ServiceInfoKv>);

impl Cbor for ServiceInfo {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        decode_array(d, "ServiceInfo (array of KVs)").map(Self)
    }
    fn encode(&self, e: &mut Encoder) {
        encode_array(e, &self.0);
    }
}
