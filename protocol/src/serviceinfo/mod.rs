//! ServiceInfo: what device and owner say to each other once TO2 is encrypted (FDO reference
//! §2.5).
//!
//! ```text
//! ServiceInfo   = [* ServiceInfoKV]
//! ServiceInfoKV = [ServiceInfoKey: tstr "module:message", ServiceInfoVal: bstr .cbor any]
//! ```
//!
//! A *module* (an FSIM: `devmod`, `fdo.command`, …) exchanges *messages*, each one logical
//! key/value whose value is one complete CBOR item. The TO2 messages that carry them are
//! limited in size, so this module:
//!
//! * [`chunk`] — splits a queue of logical key/values into messages no larger than the peer's
//!   limit ([`Chunker`]), cutting a value that does not fit across consecutive key/values with
//!   the same key, as go-fdo does; and puts such values back together ([`Reassembler`],
//!   pitfall 9), with a cap on what it buffers.
//! * [`devmod`] — the device module every device sends first ([`Devmod`]), including a module
//!   list split over several `devmod:modules` key/values.
//! * [`module`] — the traits an application implements to add modules on either side
//!   ([`OwnerModule`], [`DeviceModule`]) and their registries ([`OwnerModules`],
//!   [`DeviceModules`]). An unknown module is answered as FDO expects: the device replies
//!   `module:active = false`, the owner ignores what it does not know.
//! * [`exchange`] — one side's part of the ServiceInfo rounds: reassembly, dispatch to the
//!   modules, and the queue of what is still to be sent ([`DeviceExchange`], and
//!   [`OwnerExchange`], which encodes to CBOR because the owner keeps it in its database
//!   between requests). The TO2 flows ([`crate::flows::to2`]) drive them.
//! * [`tls`] — the messages of `vouch.tls`, vouch's own module for enrolling the device's TLS
//!   key with the owner.

pub mod chunk;
pub mod devmod;
pub mod exchange;
pub mod module;
pub mod tls;

use alloc::string::{String, ToString};
use alloc::vec::Vec;

pub use chunk::{Chunker, DEFAULT_MAX_BUFFERED, Reassembler, SERVICE_INFO_OVERHEAD};
pub use devmod::{Devmod, DevmodParser, SerialNumber};
pub use exchange::{DeviceExchange, MAX_ROUNDS, OwnerExchange, OwnerTurn};
pub use module::{DeviceModule, DeviceModules, ModuleMessage, OwnerModule, OwnerModules};

use crate::Error;
use crate::cbor::Cbor;
use crate::types::ServiceInfoKv;

/// The name of the device module, which every device supports and sends first.
pub const DEVMOD: &str = "devmod";

/// The message every module understands: `module:active`, a bool. The owner sends `true` to
/// use a module; a device that does not know the module answers `false`.
pub const ACTIVE: &str = "active";

/// `module:message` from its two parts.
pub fn key(module: &str, message: &str) -> String {
    let mut k = String::with_capacity(module.len() + 1 + message.len());
    k.push_str(module);
    k.push(':');
    k.push_str(message);
    k
}

/// A key/value whose value is the encoding of `value`, with key `module:message`.
pub fn kv<T: Cbor>(module: &str, message: &str, value: &T) -> ServiceInfoKv {
    ServiceInfoKv {
        key: key(module, message),
        value: value.to_cbor(),
    }
}

/// Splits a key into module and message, refusing a key without the `:` separator or with an
/// empty module name.
pub fn split_key(k: &str) -> Result<(&str, &str), Error> {
    match k.split_once(':') {
        Some((module, message)) if !module.is_empty() => Ok((module, message)),
        _ => Err(Error::invalid(
            "ServiceInfoKey",
            alloc::format!("{k:?} is not \"module:message\""),
        )),
    }
}

/// Decodes a value that must be one complete CBOR item of type `T`, naming the key in the
/// error.
pub fn decode_value<T: Cbor>(key: &str, value: &[u8]) -> Result<T, Error> {
    T::from_cbor(value)
        .map_err(|e| Error::invalid("ServiceInfo value", alloc::format!("{key}: {e}")))
}

/// The encoding of a text string value.
pub(crate) fn text_value(s: &str) -> Vec<u8> {
    s.to_string().to_cbor()
}
