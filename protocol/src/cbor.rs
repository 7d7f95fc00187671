//! The CBOR layer every FDO type is written in.
//!
//! FDO messages are positional CBOR arrays. They are coded by hand through one trait, [`Cbor`]:
//! a type checks its array length, decodes each field by position and names what it expected
//! when the input is wrong. The [`Decoder`] here works on a borrowed slice and always knows the
//! byte offset of the item it is reading, which is what lets [`Raw`] and [`Bstr`] keep the
//! *original bytes* of anything that is later hashed or signed: FDO hashes those bytes, never a
//! re-encoding, and implementations that re-encode stop interoperating.
//!
//! Decoding is strict where FDO is strict (definite lengths for typed items, shortest argument
//! encodings are not required, trailing bytes are refused) and lenient where a value is "any"
//! (those are skipped as spans and converted to [`ciborium::Value`] on demand).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::error::{DecodeError, Error, Found};

/// Deepest nesting accepted inside one item; protects the stack from hostile input.
pub const MAX_DEPTH: usize = 64;

/// CBOR major types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Major {
    /// Major type 0.
    Unsigned,
    /// Major type 1.
    Negative,
    /// Major type 2.
    Bytes,
    /// Major type 3.
    Text,
    /// Major type 4.
    Array,
    /// Major type 5.
    Map,
    /// Major type 6.
    Tag,
    /// Major type 7: simple values and floats.
    Simple,
}

impl Major {
    fn from_bits(b: u8) -> Self {
        match b >> 5 {
            0 => Self::Unsigned,
            1 => Self::Negative,
            2 => Self::Bytes,
            3 => Self::Text,
            4 => Self::Array,
            5 => Self::Map,
            6 => Self::Tag,
            _ => Self::Simple,
        }
    }
}

impl fmt::Display for Major {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unsigned => "unsigned integer",
            Self::Negative => "negative integer",
            Self::Bytes => "byte string",
            Self::Text => "text string",
            Self::Array => "array",
            Self::Map => "map",
            Self::Tag => "tag",
            Self::Simple => "simple value",
        })
    }
}

const SIMPLE_FALSE: u8 = 20;
const SIMPLE_TRUE: u8 = 21;
const SIMPLE_NULL: u8 = 22;
const INDEFINITE: u8 = 31;

/// A reader over one borrowed CBOR buffer.
#[derive(Clone, Debug)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// The head of one data item: major type, additional-info bits and argument.
#[derive(Clone, Copy, Debug)]
struct Head {
    major: Major,
    info: u8,
    arg: u64,
}

impl<'a> Decoder<'a> {
    /// Starts reading at the beginning of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Byte offset of the next item.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self, what: &'static str) -> Result<(), Error> {
        let left = self.buf.len().saturating_sub(self.pos);
        if left == 0 {
            Ok(())
        } else {
            Err(self.err_at(self.pos, what, Found::Trailing(left)))
        }
    }

    fn err_at(&self, at: usize, expected: &'static str, found: Found) -> Error {
        Error::Decode(DecodeError {
            expected,
            found,
            at,
        })
    }

    /// An error at the current position: `expected` names what the caller needed.
    pub fn error(&self, expected: &'static str, found: Found) -> Error {
        self.err_at(self.pos, expected, found)
    }

    fn byte(&mut self, expected: &'static str) -> Result<u8, Error> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| self.error(expected, Found::End))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: u64, expected: &'static str) -> Result<&'a [u8], Error> {
        let n = usize::try_from(n).map_err(|_| self.error(expected, Found::End))?;
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.buf.len())
            .ok_or_else(|| self.error(expected, Found::End))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn head(&mut self, expected: &'static str) -> Result<Head, Error> {
        let start = self.pos;
        let b = self.byte(expected)?;
        let major = Major::from_bits(b);
        let info = b & 0x1f;
        let arg = match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.byte(expected)?),
            25 => u64::from(u16::from_be_bytes(self.fixed::<2>(expected)?)),
            26 => u64::from(u32::from_be_bytes(self.fixed::<4>(expected)?)),
            27 => u64::from_be_bytes(self.fixed::<8>(expected)?),
            INDEFINITE
                if matches!(
                    major,
                    Major::Bytes | Major::Text | Major::Array | Major::Map
                ) =>
            {
                0
            }
            INDEFINITE if major == Major::Simple => 0,
            _ => {
                return Err(self.err_at(
                    start,
                    expected,
                    Found::Invalid("reserved additional information"),
                ));
            }
        };
        Ok(Head { major, info, arg })
    }

    fn fixed<const N: usize>(&mut self, expected: &'static str) -> Result<[u8; N], Error> {
        let s = self.take(N as u64, expected)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    /// Major type of the next item, without consuming it.
    pub fn peek_major(&self) -> Option<Major> {
        self.buf.get(self.pos).map(|b| Major::from_bits(*b))
    }

    /// True when the next item is `null`.
    pub fn peek_null(&self) -> bool {
        self.buf.get(self.pos) == Some(&0xf6)
    }

    /// Consumes a `null` if one comes next; returns whether it did.
    pub fn try_null(&mut self) -> bool {
        if self.peek_null() {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn definite(&mut self, major: Major, expected: &'static str) -> Result<u64, Error> {
        let start = self.pos;
        let h = self.head(expected)?;
        if h.major != major {
            return Err(self.err_at(start, expected, Found::Type(h.major)));
        }
        if h.info == INDEFINITE {
            return Err(self.err_at(start, expected, Found::Invalid("indefinite length")));
        }
        Ok(h.arg)
    }

    /// Reads an array head and returns its length.
    pub fn array(&mut self, expected: &'static str) -> Result<u64, Error> {
        self.definite(Major::Array, expected)
    }

    /// Reads an array head that must announce exactly `len` items.
    pub fn array_of(&mut self, len: u64, expected: &'static str) -> Result<(), Error> {
        let start = self.pos;
        let n = self.array(expected)?;
        if n != len {
            return Err(self.err_at(start, expected, Found::Length(n)));
        }
        Ok(())
    }

    /// Reads an array head whose length lies in `min..=max`; returns it.
    pub fn array_between(
        &mut self,
        min: u64,
        max: u64,
        expected: &'static str,
    ) -> Result<u64, Error> {
        let start = self.pos;
        let n = self.array(expected)?;
        if n < min || n > max {
            return Err(self.err_at(start, expected, Found::Length(n)));
        }
        Ok(n)
    }

    /// Reads a map head and returns its number of pairs.
    pub fn map(&mut self, expected: &'static str) -> Result<u64, Error> {
        self.definite(Major::Map, expected)
    }

    /// Reads an unsigned integer.
    pub fn uint(&mut self, expected: &'static str) -> Result<u64, Error> {
        self.definite(Major::Unsigned, expected)
    }

    /// Reads an unsigned integer that must fit the target type.
    pub fn uint_as<T: TryFrom<u64>>(&mut self, expected: &'static str) -> Result<T, Error> {
        let start = self.pos;
        let v = self.uint(expected)?;
        T::try_from(v).map_err(|_| self.err_at(start, expected, Found::OutOfRange))
    }

    /// Reads an integer of either sign that fits an `i64`.
    pub fn int(&mut self, expected: &'static str) -> Result<i64, Error> {
        let start = self.pos;
        let h = self.head(expected)?;
        let out_of_range = || self.err_at(start, expected, Found::OutOfRange);
        match h.major {
            Major::Unsigned => i64::try_from(h.arg).map_err(|_| out_of_range()),
            Major::Negative => i64::try_from(h.arg)
                .map(|a| -1 - a)
                .map_err(|_| out_of_range()),
            other => Err(self.err_at(start, expected, Found::Type(other))),
        }
    }

    /// Reads a definite-length byte string, borrowing its contents.
    pub fn bytes(&mut self, expected: &'static str) -> Result<&'a [u8], Error> {
        let n = self.definite(Major::Bytes, expected)?;
        self.take(n, expected)
    }

    /// Reads a byte string of exactly `N` bytes.
    pub fn bytes_fixed<const N: usize>(
        &mut self,
        expected: &'static str,
    ) -> Result<[u8; N], Error> {
        let start = self.pos;
        let b = self.bytes(expected)?;
        b.try_into()
            .map_err(|_| self.err_at(start, expected, Found::Length(b.len() as u64)))
    }

    /// Reads a definite-length UTF-8 text string.
    pub fn text(&mut self, expected: &'static str) -> Result<&'a str, Error> {
        let start = self.pos;
        let n = self.definite(Major::Text, expected)?;
        let b = self.take(n, expected)?;
        core::str::from_utf8(b)
            .map_err(|_| self.err_at(start, expected, Found::Invalid("invalid UTF-8")))
    }

    /// Reads `true` or `false`.
    pub fn bool(&mut self, expected: &'static str) -> Result<bool, Error> {
        let start = self.pos;
        match self.byte(expected)? {
            0xf4 => Ok(false),
            0xf5 => Ok(true),
            b => Err(self.err_at(start, expected, Found::Type(Major::from_bits(b)))),
        }
    }

    /// Reads `null`.
    pub fn null(&mut self, expected: &'static str) -> Result<(), Error> {
        let start = self.pos;
        match self.byte(expected)? {
            0xf6 => Ok(()),
            b => Err(self.err_at(start, expected, Found::Type(Major::from_bits(b)))),
        }
    }

    /// Reads a tag that must be `tag`.
    pub fn tag(&mut self, tag: u64, expected: &'static str) -> Result<(), Error> {
        let start = self.pos;
        let h = self.head(expected)?;
        if h.major != Major::Tag {
            return Err(self.err_at(start, expected, Found::Type(h.major)));
        }
        if h.arg != tag {
            return Err(self.err_at(start, expected, Found::Tag(h.arg)));
        }
        Ok(())
    }

    /// Skips one complete item of any kind and returns its exact bytes.
    pub fn item(&mut self, expected: &'static str) -> Result<&'a [u8], Error> {
        let start = self.pos;
        self.skip(expected, 0)?;
        Ok(&self.buf[start..self.pos])
    }

    fn skip(&mut self, expected: &'static str, depth: usize) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(self.error(expected, Found::Invalid("nesting too deep")));
        }
        let start = self.pos;
        let h = self.head(expected)?;
        match (h.major, h.info) {
            (Major::Unsigned | Major::Negative, _) => Ok(()),
            (Major::Bytes | Major::Text, INDEFINITE) => loop {
                if self.buf.get(self.pos) == Some(&0xff) {
                    self.pos += 1;
                    return Ok(());
                }
                let chunk = self.pos;
                let c = self.head(expected)?;
                if c.major != h.major || c.info == INDEFINITE {
                    return Err(self.err_at(
                        chunk,
                        expected,
                        Found::Invalid("bad indefinite-length chunk"),
                    ));
                }
                self.take(c.arg, expected)?;
            },
            (Major::Bytes | Major::Text, _) => self.take(h.arg, expected).map(|_| ()),
            (Major::Array | Major::Map, INDEFINITE) => {
                let per = if h.major == Major::Map { 2 } else { 1 };
                loop {
                    if self.buf.get(self.pos) == Some(&0xff) {
                        self.pos += 1;
                        return Ok(());
                    }
                    for _ in 0..per {
                        self.skip(expected, depth + 1)?;
                    }
                }
            }
            (Major::Array | Major::Map, _) => {
                let per = if h.major == Major::Map { 2 } else { 1 };
                // Each item takes at least one byte: refuse counts the buffer cannot hold
                // before looping on them.
                let items = h.arg.saturating_mul(per);
                if items > (self.buf.len() - self.pos) as u64 {
                    return Err(self.err_at(start, expected, Found::End));
                }
                for _ in 0..items {
                    self.skip(expected, depth + 1)?;
                }
                Ok(())
            }
            (Major::Tag, _) => self.skip(expected, depth + 1),
            (Major::Simple, INDEFINITE) => {
                Err(self.err_at(start, expected, Found::Invalid("unexpected break")))
            }
            (Major::Simple, _) => Ok(()),
        }
    }

    /// Reads one item of any kind as a [`ciborium::Value`].
    pub fn value(&mut self, expected: &'static str) -> Result<ciborium::Value, Error> {
        let start = self.pos;
        let bytes = self.item(expected)?;
        value_from_slice(bytes)
            .map_err(|_| self.err_at(start, expected, Found::Invalid("not a CBOR item")))
    }

    /// Decodes one item as `T`.
    pub fn decode<T: Cbor>(&mut self) -> Result<T, Error> {
        T::decode(self)
    }
}

/// Parses one complete CBOR item into a [`ciborium::Value`].
pub fn value_from_slice(bytes: &[u8]) -> Result<ciborium::Value, Error> {
    let mut d = Decoder::new(bytes);
    d.item("a CBOR item")?;
    d.finish("a single CBOR item")?;
    ciborium::de::from_reader(bytes)
        .map_err(|_| d.error("a CBOR item", Found::Invalid("not a CBOR item")))
}

/// Encodes a [`ciborium::Value`].
pub fn value_to_vec(value: &ciborium::Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing a Value into a Vec cannot fail: the writer is infallible and every Value is
    // representable.
    let _ = ciborium::ser::into_writer(value, &mut out);
    out
}

/// A writer of CBOR items into a growing buffer.
#[derive(Clone, Debug, Default)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn head(&mut self, major: u8, arg: u64) -> &mut Self {
        let m = major << 5;
        if arg < 24 {
            self.buf.push(m | arg as u8);
        } else if arg <= u64::from(u8::MAX) {
            self.buf.extend_from_slice(&[m | 24, arg as u8]);
        } else if arg <= u64::from(u16::MAX) {
            self.buf.push(m | 25);
            self.buf.extend_from_slice(&(arg as u16).to_be_bytes());
        } else if arg <= u64::from(u32::MAX) {
            self.buf.push(m | 26);
            self.buf.extend_from_slice(&(arg as u32).to_be_bytes());
        } else {
            self.buf.push(m | 27);
            self.buf.extend_from_slice(&arg.to_be_bytes());
        }
        self
    }

    /// Writes an array head of `len` items.
    pub fn array(&mut self, len: usize) -> &mut Self {
        self.head(4, len as u64)
    }

    /// Writes a map head of `len` pairs.
    pub fn map(&mut self, len: usize) -> &mut Self {
        self.head(5, len as u64)
    }

    /// Writes an unsigned integer.
    pub fn uint(&mut self, v: u64) -> &mut Self {
        self.head(0, v)
    }

    /// Writes an integer of either sign.
    pub fn int(&mut self, v: i64) -> &mut Self {
        if v >= 0 {
            self.head(0, v as u64)
        } else {
            self.head(1, (-1 - v) as u64)
        }
    }

    /// Writes a byte string.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.head(2, b.len() as u64);
        self.buf.extend_from_slice(b);
        self
    }

    /// Writes a text string.
    pub fn text(&mut self, s: &str) -> &mut Self {
        self.head(3, s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
        self
    }

    /// Writes `true` or `false`.
    pub fn bool(&mut self, b: bool) -> &mut Self {
        self.buf.push(if b { 0xf5 } else { 0xf4 });
        self
    }

    /// Writes `null`.
    pub fn null(&mut self) -> &mut Self {
        self.buf.push(0xe0 | SIMPLE_NULL);
        self
    }

    /// Writes a tag head.
    pub fn tag(&mut self, tag: u64) -> &mut Self {
        self.head(6, tag)
    }

    /// Writes bytes that already are one or more complete CBOR items.
    pub fn raw(&mut self, item: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(item);
        self
    }

    /// Writes any encodable value.
    pub fn encode<T: Cbor>(&mut self, v: &T) -> &mut Self {
        v.encode(self);
        self
    }

    /// Writes a [`ciborium::Value`].
    pub fn value(&mut self, v: &ciborium::Value) -> &mut Self {
        let bytes = value_to_vec(v);
        self.raw(&bytes)
    }
}

const _: () = {
    // Keep the simple-value constants used: they document the one-byte encodings above.
    assert!(SIMPLE_FALSE == 20 && SIMPLE_TRUE == 21);
};

/// A type with one FDO CBOR encoding.
pub trait Cbor: Sized {
    /// Reads one item from `d`.
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error>;

    /// Appends the encoding of `self` to `e`.
    fn encode(&self, e: &mut Encoder);

    /// Decodes a buffer that must hold exactly one item.
    fn from_cbor(bytes: &[u8]) -> Result<Self, Error> {
        let mut d = Decoder::new(bytes);
        let v = Self::decode(&mut d)?;
        d.finish("end of input")?;
        Ok(v)
    }

    /// The encoding of `self`.
    fn to_cbor(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        self.encode(&mut e);
        e.into_bytes()
    }
}

/// A decoded value together with the exact bytes it was decoded from.
///
/// Encoding writes the original bytes back, so hashing and re-sending never depend on our
/// encoder matching the peer's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Raw<T> {
    bytes: Vec<u8>,
    value: T,
}

impl<T: Cbor> Raw<T> {
    /// Wraps a value created here, encoding it once.
    pub fn new(value: T) -> Self {
        Self {
            bytes: value.to_cbor(),
            value,
        }
    }

    /// Decodes `bytes`, keeping them.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        Ok(Self {
            value: T::from_cbor(bytes)?,
            bytes: bytes.to_vec(),
        })
    }
}

impl<T> Raw<T> {
    /// The original encoding.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The decoded value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// Takes the decoded value, dropping the bytes.
    pub fn into_value(self) -> T {
        self.value
    }
}

impl<T> core::ops::Deref for Raw<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Cbor> Cbor for Raw<T> {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        let mut probe = d.clone();
        let value = T::decode(&mut probe)?;
        let bytes = d.item("item")?.to_vec();
        debug_assert_eq!(probe.position(), d.position());
        Ok(Self { bytes, value })
    }

    fn encode(&self, e: &mut Encoder) {
        e.raw(&self.bytes);
    }
}

/// `bstr .cbor T`: a byte string holding the encoding of a `T`, with its contents kept.
///
/// [`Bstr::contents`] are the bytes FDO hashes and signs (the OVHeader, a COSE payload).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bstr<T> {
    contents: Vec<u8>,
    value: T,
}

impl<T: Cbor> Bstr<T> {
    /// Wraps a value created here, encoding it once.
    pub fn new(value: T) -> Self {
        Self {
            contents: value.to_cbor(),
            value,
        }
    }

    /// Decodes the contents of a byte string, keeping them.
    pub fn from_contents(contents: &[u8]) -> Result<Self, Error> {
        Ok(Self {
            value: T::from_cbor(contents)?,
            contents: contents.to_vec(),
        })
    }
}

impl<T> Bstr<T> {
    /// The byte string's contents: the exact encoding of the value.
    pub fn contents(&self) -> &[u8] {
        &self.contents
    }

    /// The decoded value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// Takes the decoded value.
    pub fn into_value(self) -> T {
        self.value
    }
}

impl<T> core::ops::Deref for Bstr<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Cbor> Cbor for Bstr<T> {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        let contents = d.bytes("byte string wrapping CBOR")?;
        Self::from_contents(contents)
    }

    fn encode(&self, e: &mut Encoder) {
        e.bytes(&self.contents);
    }
}

/// One CBOR item of any kind, kept exactly as received: for fields FDO leaves open ("any"),
/// where a re-encoding through [`ciborium::Value`] could change the bytes (ciborium folds
/// bignum tags into integers, for one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnyItem(Vec<u8>);

impl AnyItem {
    /// The item's encoding.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The item as a [`ciborium::Value`].
    pub fn value(&self) -> ciborium::Value {
        // Checked to parse when decoded or built.
        value_from_slice(&self.0).unwrap_or(ciborium::Value::Null)
    }
}

impl From<ciborium::Value> for AnyItem {
    fn from(v: ciborium::Value) -> Self {
        Self(value_to_vec(&v))
    }
}

impl Cbor for AnyItem {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        let start = d.position();
        let bytes = d.item("any CBOR item")?;
        value_from_slice(bytes).map_err(|_| {
            Error::Decode(DecodeError {
                expected: "any CBOR item",
                found: Found::Invalid("an item ciborium cannot read"),
                at: start,
            })
        })?;
        Ok(Self(bytes.to_vec()))
    }

    fn encode(&self, e: &mut Encoder) {
        e.raw(&self.0);
    }
}

impl Cbor for ciborium::Value {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.value("any CBOR item")
    }

    fn encode(&self, e: &mut Encoder) {
        e.value(self);
    }
}

impl Cbor for String {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        Ok(d.text("text string")?.to_string())
    }

    fn encode(&self, e: &mut Encoder) {
        e.text(self);
    }
}

impl Cbor for bool {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.bool("bool")
    }

    fn encode(&self, e: &mut Encoder) {
        e.bool(*self);
    }
}

impl<T: Cbor> Cbor for Option<T> {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        if d.try_null() {
            Ok(None)
        } else {
            T::decode(d).map(Some)
        }
    }

    fn encode(&self, e: &mut Encoder) {
        match self {
            Some(v) => v.encode(e),
            None => {
                e.null();
            }
        }
    }
}

/// Decodes a definite-length array whose items all are `T`.
pub fn decode_array<T: Cbor>(d: &mut Decoder<'_>, expected: &'static str) -> Result<Vec<T>, Error> {
    let n = d.array(expected)?;
    // Each item takes at least one byte; a count larger than what is left cannot be honest.
    if n > d.remaining().len() as u64 {
        return Err(d.error(expected, Found::Length(n)));
    }
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        out.push(T::decode(d)?);
    }
    Ok(out)
}

/// Encodes a slice as one array.
pub fn encode_array<T: Cbor>(e: &mut Encoder, items: &[T]) {
    e.array(items.len());
    for it in items {
        it.encode(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_trailing_bytes_and_names_them() {
        let err = bool::from_cbor(&[0xf5, 0x00]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("1 trailing byte"), "{msg}");
    }

    #[test]
    fn array_length_mismatch_is_named() {
        let mut d = Decoder::new(&[0x82, 0x01, 0x02]);
        let err = d.array_of(3, "OVHeader (array of 6)").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("OVHeader") && msg.contains("length 2"),
            "{msg}"
        );
    }

    #[test]
    fn item_spans_nested_and_indefinite() {
        // [1, {"a": h'00'}, (_ h'01', h'02')] then 0x00
        let bytes = [
            0x83, 0x01, 0xa1, 0x61, b'a', 0x41, 0x00, 0x5f, 0x41, 0x01, 0x41, 0x02, 0xff, 0x00,
        ];
        let mut d = Decoder::new(&bytes);
        let span = d.item("x").unwrap();
        assert_eq!(span.len(), bytes.len() - 1);
        assert_eq!(d.remaining(), &[0x00]);
    }

    #[test]
    fn huge_counts_do_not_allocate() {
        // array of 2^32 items with nothing behind it
        let bytes = [0x9a, 0xff, 0xff, 0xff, 0xff];
        assert!(decode_array::<bool>(&mut Decoder::new(&bytes), "bools").is_err());
        assert!(Decoder::new(&bytes).item("x").is_err());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let bytes = [0x81u8; 200];
        assert!(Decoder::new(&bytes).item("x").is_err());
    }

    #[test]
    fn ints_round_trip_and_out_of_range() {
        for v in [
            0i64,
            23,
            24,
            255,
            256,
            65535,
            65536,
            -1,
            -24,
            -25,
            -257,
            i64::MIN,
            i64::MAX,
        ] {
            let mut e = Encoder::new();
            e.int(v);
            let b = e.into_bytes();
            let mut d = Decoder::new(&b);
            assert_eq!(d.int("int").unwrap(), v);
        }
        // -2^64 does not fit an i64
        let b = [0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert!(Decoder::new(&b).int("int").is_err());
    }

    #[test]
    fn raw_keeps_non_canonical_bytes() {
        // 1 encoded non-minimally as 0x18 0x01 inside an array
        let bytes = [0x81, 0x18, 0x01];
        struct One(u64);
        impl Cbor for One {
            fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
                d.array_of(1, "[uint]")?;
                Ok(Self(d.uint("uint")?))
            }
            fn encode(&self, e: &mut Encoder) {
                e.array(1).uint(self.0);
            }
        }
        let raw = Raw::<One>::from_bytes(&bytes).unwrap();
        assert_eq!(raw.0, 1);
        assert_eq!(raw.to_cbor(), bytes);
        assert_ne!(One(1).to_cbor(), bytes);
    }
}
