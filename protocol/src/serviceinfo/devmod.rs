//! `devmod`: the device module, which every device sends first (FDO reference §2.5).
//!
//! | Key | Req | Type |
//! |---|---|---|
//! | devmod:active | R | bool |
//! | devmod:os, arch, version, device | R | tstr |
//! | devmod:sn | O | tstr / bstr |
//! | devmod:pathsep | O | tstr |
//! | devmod:sep | R | tstr |
//! | devmod:nl, tmp, dir, progenv | O | tstr |
//! | devmod:bin | R | tstr |
//! | devmod:mudurl | O | tstr |
//! | devmod:nummodules | R | uint |
//! | devmod:modules | R | `[startIdx: uint, count: uint, *tstr]`, possibly over several key/values |
//!
//! [`Devmod::to_kvs`] writes these (the module list cut into several `devmod:modules`
//! key/values when it is long); [`DevmodParser`] reads them as they arrive, in any order,
//! refusing a field sent twice, a value of the wrong type, a module list whose `startIdx` does
//! not continue the names received so far, and, at [`DevmodParser::finish`], a missing
//! required field or a module count that differs from `devmod:nummodules`. Messages it does not
//! know (vendor extensions) are ignored.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::Error;
use crate::cbor::{Cbor, Decoder, Encoder, Major};
use crate::error::Found;
use crate::serviceinfo::{DEVMOD, key, text_value};
use crate::types::ServiceInfoKv;

/// The largest encoded `devmod:modules` value [`Devmod::to_kvs`] writes before starting
/// another one; it fits a message of the default 1300 bytes with room to spare.
pub const MODULES_VALUE_LIMIT: usize = 1024;

/// Most devmod key/values a [`DevmodParser`] accepts, and most bytes of their values: devmod is
/// a short inventory, and the owner keeps the parser in its database between requests.
const MAX_KVS: usize = 1024;
const MAX_BYTES: usize = 64 * 1024;

/// `devmod:sn`: a text or byte string.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SerialNumber {
    /// A text serial number.
    Text(String),
    /// A binary serial number.
    Bytes(Vec<u8>),
}

/// Everything a device says about itself in `devmod`.
///
/// `devmod:nummodules` is not a field of its own: it is the length of [`Devmod::modules`],
/// written as such, and checked against the names received when parsing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Devmod {
    /// devmod:active (required; true).
    pub active: bool,
    /// devmod:os (required), e.g. "Linux".
    pub os: String,
    /// devmod:arch (required), e.g. "x86_64".
    pub arch: String,
    /// devmod:version (required): the OS version.
    pub version: String,
    /// devmod:device (required): the device model.
    pub device: String,
    /// devmod:sn: the serial number.
    pub sn: Option<SerialNumber>,
    /// devmod:pathsep: the separator between path entries (":").
    pub pathsep: Option<String>,
    /// devmod:sep (required): the file path separator ("/").
    pub sep: String,
    /// devmod:nl: the newline sequence.
    pub nl: Option<String>,
    /// devmod:tmp: the temporary directory.
    pub tmp: Option<String>,
    /// devmod:dir: the working directory.
    pub dir: Option<String>,
    /// devmod:progenv: the program environment.
    pub progenv: Option<String>,
    /// devmod:bin (required): the binary format, e.g. "x86_64".
    pub bin: String,
    /// devmod:mudurl: the device's MUD URL (RFC 8520). Spoofable unless a certificate vouches
    /// for it.
    pub mudurl: Option<String>,
    /// devmod:modules (required): the names of the modules the device supports, `devmod`
    /// among them. devmod:nummodules is their number.
    pub modules: Vec<String>,
}

impl Devmod {
    /// devmod:nummodules.
    pub fn num_modules(&self) -> usize {
        self.modules.len()
    }

    /// True when the device lists `module`.
    pub fn has_module(&self, module: &str) -> bool {
        self.modules.iter().any(|m| m == module)
    }

    /// The key/values, in table order, with the module list cut into values of at most
    /// [`MODULES_VALUE_LIMIT`] bytes.
    pub fn to_kvs(&self) -> Vec<ServiceInfoKv> {
        self.to_kvs_split(MODULES_VALUE_LIMIT)
    }

    /// The key/values, with each `devmod:modules` value at most `modules_value_limit` bytes
    /// (but at least one name each).
    pub fn to_kvs_split(&self, modules_value_limit: usize) -> Vec<ServiceInfoKv> {
        let mut out = Vec::new();
        let mut put = |message: &str, value: Vec<u8>| {
            out.push(ServiceInfoKv {
                key: key(DEVMOD, message),
                value,
            })
        };
        put("active", self.active.to_cbor());
        put("os", text_value(&self.os));
        put("arch", text_value(&self.arch));
        put("version", text_value(&self.version));
        put("device", text_value(&self.device));
        match &self.sn {
            Some(SerialNumber::Text(t)) => put("sn", text_value(t)),
            Some(SerialNumber::Bytes(b)) => {
                let mut e = Encoder::new();
                e.bytes(b);
                put("sn", e.into_bytes());
            }
            None => {}
        }
        let optional = |v: &Option<String>| v.as_deref().map(text_value);
        if let Some(v) = optional(&self.pathsep) {
            put("pathsep", v);
        }
        put("sep", text_value(&self.sep));
        for (name, v) in [
            ("nl", &self.nl),
            ("tmp", &self.tmp),
            ("dir", &self.dir),
            ("progenv", &self.progenv),
        ] {
            if let Some(v) = optional(v) {
                put(name, v);
            }
        }
        put("bin", text_value(&self.bin));
        if let Some(v) = optional(&self.mudurl) {
            put("mudurl", v);
        }
        let mut e = Encoder::new();
        e.uint(self.modules.len() as u64);
        put("nummodules", e.into_bytes());
        for value in modules_values(&self.modules, modules_value_limit) {
            put("modules", value);
        }
        out
    }

    /// Parses a complete set of devmod key/values (keys with the `devmod:` prefix; others are
    /// refused).
    pub fn from_kvs(kvs: &[ServiceInfoKv]) -> Result<Self, Error> {
        let mut p = DevmodParser::new();
        for kv in kvs {
            let message = kv
                .key
                .strip_prefix("devmod:")
                .ok_or_else(|| Error::invalid("devmod", alloc::format!("key {:?}", kv.key)))?;
            p.accept(message, &kv.value)?;
        }
        p.finish()
    }
}

/// `[start, count, names…]` values, each at most `limit` bytes when it holds two names or more.
fn modules_values(modules: &[String], limit: usize) -> Vec<Vec<u8>> {
    let encode = |start: usize, names: &[String]| {
        let mut e = Encoder::new();
        e.array(2 + names.len())
            .uint(start as u64)
            .uint(names.len() as u64);
        for n in names {
            e.text(n);
        }
        e.into_bytes()
    };
    if modules.is_empty() {
        return alloc::vec![encode(0, &[])];
    }
    let mut out = Vec::new();
    let mut start = 0;
    while start < modules.len() {
        let mut end = start + 1;
        while end < modules.len() && encode(start, &modules[start..=end]).len() <= limit {
            end += 1;
        }
        out.push(encode(start, &modules[start..end]));
        start = end;
    }
    out
}

/// Reads devmod key/values as they arrive.
///
/// It encodes to CBOR (the key/values accepted so far, replayed on decoding) so an owner can
/// store it between requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DevmodParser {
    received: Vec<ServiceInfoKv>,
    received_bytes: usize,
    partial: Partial,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Partial {
    active: Option<bool>,
    os: Option<String>,
    arch: Option<String>,
    version: Option<String>,
    device: Option<String>,
    sn: Option<SerialNumber>,
    pathsep: Option<String>,
    sep: Option<String>,
    nl: Option<String>,
    tmp: Option<String>,
    dir: Option<String>,
    progenv: Option<String>,
    bin: Option<String>,
    mudurl: Option<String>,
    nummodules: Option<u64>,
    modules_seen: bool,
    modules: Vec<String>,
}

fn invalid(message: &str, why: impl core::fmt::Display) -> Error {
    Error::invalid("devmod", alloc::format!("devmod:{message}: {why}"))
}

fn set<T>(slot: &mut Option<T>, message: &str, value: T) -> Result<(), Error> {
    if slot.is_some() {
        return Err(invalid(message, "sent twice"));
    }
    *slot = Some(value);
    Ok(())
}

fn one<T>(
    message: &str,
    value: &[u8],
    read: impl FnOnce(&mut Decoder<'_>) -> Result<T, Error>,
) -> Result<T, Error> {
    let mut d = Decoder::new(value);
    let v = read(&mut d).map_err(|e| invalid(message, e))?;
    d.finish("end of devmod value")
        .map_err(|e| invalid(message, e))?;
    Ok(v)
}

fn text(message: &str, value: &[u8]) -> Result<String, Error> {
    one(message, value, |d| d.text("tstr").map(ToString::to_string))
}

impl DevmodParser {
    /// An empty parser.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one devmod message (`message` is the part after `devmod:`), its value one complete
    /// CBOR item.
    pub fn accept(&mut self, message: &str, value: &[u8]) -> Result<(), Error> {
        if self.received.len() >= MAX_KVS || self.received_bytes + value.len() > MAX_BYTES {
            return Err(invalid(message, "devmod is larger than this owner accepts"));
        }
        let p = &mut self.partial;
        match message {
            "active" => set(
                &mut p.active,
                message,
                one(message, value, |d| d.bool("bool"))?,
            )?,
            "os" => set(&mut p.os, message, text(message, value)?)?,
            "arch" => set(&mut p.arch, message, text(message, value)?)?,
            "version" => set(&mut p.version, message, text(message, value)?)?,
            "device" => set(&mut p.device, message, text(message, value)?)?,
            "sn" => {
                let sn = one(message, value, |d| match d.peek_major() {
                    Some(Major::Bytes) => Ok(SerialNumber::Bytes(d.bytes("bstr")?.to_vec())),
                    _ => Ok(SerialNumber::Text(d.text("tstr or bstr")?.to_string())),
                })?;
                set(&mut p.sn, message, sn)?
            }
            "pathsep" => set(&mut p.pathsep, message, text(message, value)?)?,
            "sep" => set(&mut p.sep, message, text(message, value)?)?,
            "nl" => set(&mut p.nl, message, text(message, value)?)?,
            "tmp" => set(&mut p.tmp, message, text(message, value)?)?,
            "dir" => set(&mut p.dir, message, text(message, value)?)?,
            "progenv" => set(&mut p.progenv, message, text(message, value)?)?,
            "bin" => set(&mut p.bin, message, text(message, value)?)?,
            "mudurl" => set(&mut p.mudurl, message, text(message, value)?)?,
            "nummodules" => {
                let n = one(message, value, |d| d.uint("uint"))?;
                if (p.modules.len() as u64) > n {
                    return Err(invalid(message, "fewer than the module names already sent"));
                }
                set(&mut p.nummodules, message, n)?
            }
            "modules" => {
                let names = one(message, value, |d| {
                    let n = d.array_between(2, u64::MAX, "[startIdx, count, *tstr]")?;
                    let start = d.uint("startIdx (uint)")?;
                    let count = d.uint("count (uint)")?;
                    if count != n - 2 {
                        return Err(
                            d.error("count equal to the names that follow", Found::Length(n - 2))
                        );
                    }
                    if start != p.modules.len() as u64 {
                        return Err(Error::invalid(
                            "startIdx",
                            alloc::format!("{start}, but {} names came before", p.modules.len()),
                        ));
                    }
                    (0..count)
                        .map(|_| d.text("module name (tstr)").map(ToString::to_string))
                        .collect::<Result<Vec<_>, _>>()
                })?;
                let total = p.modules.len() + names.len();
                if p.nummodules.is_some_and(|n| total as u64 > n) {
                    return Err(invalid(message, "more names than devmod:nummodules"));
                }
                p.modules_seen = true;
                p.modules.extend(names);
            }
            // Vendor extensions: not ours to interpret.
            _ => {}
        }
        self.received_bytes += value.len();
        self.received.push(ServiceInfoKv {
            key: message.to_string(),
            value: value.to_vec(),
        });
        Ok(())
    }

    /// True once at least one devmod message has been accepted.
    pub fn has_started(&self) -> bool {
        !self.received.is_empty()
    }

    /// The devmod received, failing when a required field is missing or the module names do
    /// not number devmod:nummodules.
    pub fn finish(&self) -> Result<Devmod, Error> {
        let p = &self.partial;
        fn req<T: Clone>(v: &Option<T>, message: &str) -> Result<T, Error> {
            v.clone()
                .ok_or_else(|| invalid(message, "required, but not sent"))
        }
        let nummodules = req(&p.nummodules, "nummodules")?;
        if !p.modules_seen {
            return Err(invalid("modules", "required, but not sent"));
        }
        if nummodules != p.modules.len() as u64 {
            return Err(invalid(
                "modules",
                alloc::format!(
                    "{} names, but devmod:nummodules is {nummodules}",
                    p.modules.len()
                ),
            ));
        }
        Ok(Devmod {
            active: req(&p.active, "active")?,
            os: req(&p.os, "os")?,
            arch: req(&p.arch, "arch")?,
            version: req(&p.version, "version")?,
            device: req(&p.device, "device")?,
            sn: p.sn.clone(),
            pathsep: p.pathsep.clone(),
            sep: req(&p.sep, "sep")?,
            nl: p.nl.clone(),
            tmp: p.tmp.clone(),
            dir: p.dir.clone(),
            progenv: p.progenv.clone(),
            bin: req(&p.bin, "bin")?,
            mudurl: p.mudurl.clone(),
            modules: p.modules.clone(),
        })
    }
}

impl Cbor for DevmodParser {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        let kvs: Vec<ServiceInfoKv> = crate::cbor::decode_array(d, "devmod received so far")?;
        let mut p = Self::new();
        for kv in kvs {
            p.accept(&kv.key, &kv.value)?;
        }
        Ok(p)
    }

    fn encode(&self, e: &mut Encoder) {
        crate::cbor::encode_array(e, &self.received);
    }
}

/// A devmod encodes as its key/values (`[* [key, value]]`).
impl Cbor for Devmod {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        let kvs: Vec<ServiceInfoKv> = crate::cbor::decode_array(d, "devmod key/values")?;
        Self::from_kvs(&kvs)
    }

    fn encode(&self, e: &mut Encoder) {
        crate::cbor::encode_array(e, &self.to_kvs());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Devmod {
        Devmod {
            active: true,
            os: "Linux".into(),
            arch: "aarch64".into(),
            version: "6.6".into(),
            device: "vouch test board".into(),
            sn: Some(SerialNumber::Text("SN-0001".into())),
            pathsep: Some(":".into()),
            sep: "/".into(),
            nl: Some("\n".into()),
            tmp: Some("/tmp".into()),
            dir: Some("/".into()),
            progenv: Some("bin:go".into()),
            bin: "aarch64".into(),
            mudurl: Some("https://mud.example/board.json".into()),
            modules: alloc::vec!["devmod".into(), "fdo.command".into(), "vouch.tls".into()],
        }
    }

    fn parse(kvs: &[ServiceInfoKv]) -> Result<Devmod, Error> {
        Devmod::from_kvs(kvs)
    }

    #[test]
    fn every_field_round_trips() {
        let d = sample();
        let kvs = d.to_kvs();
        assert_eq!(kvs[0].key, "devmod:active");
        assert_eq!(kvs[0].value, [0xf5]);
        assert_eq!(kvs.len(), 16); // every row of the table
        assert_eq!(parse(&kvs).unwrap(), d);
        // a binary serial number and only the required fields
        let minimal = Devmod {
            sn: Some(SerialNumber::Bytes(alloc::vec![1, 2, 3])),
            pathsep: None,
            nl: None,
            tmp: None,
            dir: None,
            progenv: None,
            mudurl: None,
            ..sample()
        };
        assert_eq!(parse(&minimal.to_kvs()).unwrap(), minimal);
        assert_eq!(Devmod::from_cbor(&minimal.to_cbor()).unwrap(), minimal);
    }

    #[test]
    fn modules_split_over_several_kvs() {
        let mut d = sample();
        d.modules = (0..40)
            .map(|i| alloc::format!("vendor.module{i:02}"))
            .collect();
        let kvs = d.to_kvs_split(100);
        let modules: Vec<&ServiceInfoKv> =
            kvs.iter().filter(|kv| kv.key == "devmod:modules").collect();
        assert!(modules.len() > 5);
        assert!(modules.iter().all(|kv| kv.value.len() <= 100));
        // the second one starts where the first one stopped: [start, count, …]
        let first = crate::cbor::value_from_slice(&modules[0].value).unwrap();
        let count = first.as_array().unwrap()[1].as_integer().unwrap();
        let second = crate::cbor::value_from_slice(&modules[1].value).unwrap();
        assert_eq!(second.as_array().unwrap()[0].as_integer().unwrap(), count);
        assert_eq!(parse(&kvs).unwrap(), d);
        // Hand-written: [0, 2, "devmod", "a"] then [2, 1, "b"].
        let mut p = DevmodParser::new();
        for kv in sample().to_kvs() {
            if kv.key != "devmod:modules" && kv.key != "devmod:nummodules" {
                p.accept(&kv.key["devmod:".len()..], &kv.value).unwrap();
            }
        }
        p.accept("nummodules", &[0x03]).unwrap();
        p.accept("modules", &hex::decode("840002666465766d6f646161").unwrap())
            .unwrap();
        p.accept("modules", &hex::decode("8302016162").unwrap())
            .unwrap();
        let back = DevmodParser::from_cbor(&p.to_cbor()).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.finish().unwrap().modules, ["devmod", "a", "b"]);
    }

    #[test]
    fn required_fields_are_enforced() {
        for missing in [
            "active",
            "os",
            "arch",
            "version",
            "device",
            "sep",
            "bin",
            "nummodules",
            "modules",
        ] {
            let kvs: Vec<ServiceInfoKv> = sample()
                .to_kvs()
                .into_iter()
                .filter(|kv| kv.key != alloc::format!("devmod:{missing}"))
                .collect();
            let err = parse(&kvs).unwrap_err().to_string();
            assert!(
                err.contains(missing) && err.contains("required"),
                "{missing}: {err}"
            );
        }
    }

    #[test]
    fn malformed_devmod_is_refused() {
        let mut p = DevmodParser::new();
        // wrong types
        assert!(p.accept("os", &[0x01]).is_err());
        assert!(p.accept("active", &[0x61, b'y']).is_err());
        assert!(p.accept("nummodules", &[0x20]).is_err());
        // trailing bytes inside a value
        assert!(p.accept("os", &[0x61, b'x', 0x00]).is_err());
        // sent twice
        p.accept("os", &[0x61, b'x']).unwrap();
        let err = p.accept("os", &[0x61, b'x']).unwrap_err().to_string();
        assert!(err.contains("twice"), "{err}");
        // count disagreeing with the names: [0, 2, "a"]; a start that skips names: [1, 1, "a"]
        assert!(
            p.accept("modules", &hex::decode("8300026161").unwrap())
                .is_err()
        );
        assert!(
            p.accept("modules", &hex::decode("8301016161").unwrap())
                .is_err()
        );
        // more names than nummodules: nummodules 1, then [0, 2, "a", "b"]
        p.accept("nummodules", &[0x01]).unwrap();
        let err = p
            .accept("modules", &hex::decode("84000261616162").unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("more names"), "{err}");
        // nummodules that disagrees with the names at the end
        let mut kvs = sample().to_kvs();
        for kv in &mut kvs {
            if kv.key == "devmod:nummodules" {
                kv.value = alloc::vec![0x04];
            }
        }
        let err = parse(&kvs).unwrap_err().to_string();
        assert!(err.contains("nummodules is 4"), "{err}");
        // unknown devmod messages are ignored
        let mut kvs = sample().to_kvs();
        kvs.push(ServiceInfoKv {
            key: "devmod:vendor-x".into(),
            value: alloc::vec![0x01],
        });
        assert_eq!(parse(&kvs).unwrap(), sample());
    }
}
