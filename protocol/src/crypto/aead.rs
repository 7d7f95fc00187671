//! Session encryption after the key exchange: TO2 messages 64 to 71 travel as tagged
//! COSE_Encrypt0 objects under a key derived from ShSe (FDO-REFERENCE §4.2, §4.3).
//!
//! ```cddl
//! EncryptedMessage = #6.16([
//!     protected:   bstr .cbor { 1: alg },   ; alg = cipherSuiteName for the AEAD suites
//!     unprotected: { 5: bstr .size 12 },    ; IV, fresh for every message
//!     ciphertext:  bstr                     ; AES-GCM output, tag appended
//! ])
//! Enc_structure = ["Encrypt0", protected, external_aad: h'']   ; the AAD
//! ```
//!
//! Only the AEAD suites A128GCM and A256GCM are implemented; they are the only ones fdo-rs
//! supports and the only ones seen interoperating. The others are named so that a peer's
//! choice survives a round trip and is refused precisely.

use alloc::vec::Vec;
use core::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use coset::iana;
use coset::{
    CoseEncrypt0, CoseEncrypt0Builder, HeaderBuilder, RegisteredLabelWithPrivate,
    TaggedCborSerializable,
};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::kdf::{self, Prf};
use super::kex::SharedSecret;
use crate::Error;
use crate::cbor::{Cbor, Decoder, Encoder, Major};
use crate::error::{DecodeError, Found, VerifyError};

/// The CBOR tag of COSE_Encrypt0.
pub const ENCRYPT0_TAG: u64 = 16;

/// Length of the AES-GCM IV (nonce) in bytes.
pub const GCM_IV_LEN: usize = 12;

/// `cipherSuiteName`: the session cipher, an integer in TO2.HelloDevice. For the AEAD suites
/// it is also the COSE algorithm id in the protected header. Open: unknown values survive a
/// round trip and are refused with [`Error::Unsupported`] where they are used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CipherSuite(pub i64);

impl CipherSuite {
    /// AES-GCM with a 128-bit key. Implemented.
    pub const A128GCM: Self = Self(1);
    /// AES-GCM with a 192-bit key (go-fdo only). Not implemented.
    pub const A192GCM: Self = Self(2);
    /// AES-GCM with a 256-bit key. Implemented.
    pub const A256GCM: Self = Self(3);
    /// AES-CCM, 128-bit key, 128-bit tag, 13-byte nonce. Not implemented.
    pub const AES_CCM_16_128_128: Self = Self(30);
    /// AES-CCM, 256-bit key, 128-bit tag, 13-byte nonce. Not implemented.
    pub const AES_CCM_16_128_256: Self = Self(31);
    /// AES-CCM, 128-bit key, 128-bit tag, 7-byte nonce. Not implemented.
    pub const AES_CCM_64_128_128: Self = Self(32);
    /// AES-CCM, 256-bit key, 128-bit tag, 7-byte nonce. Not implemented.
    pub const AES_CCM_64_128_256: Self = Self(33);
    /// AES-128-CBC with HMAC-SHA256, encrypt-then-MAC. Not implemented (pitfall 13).
    pub const COSEAES128CBC: Self = Self(-17760703);
    /// AES-128-CTR with HMAC-SHA256, encrypt-then-MAC. Not implemented (pitfall 13).
    pub const COSEAES128CTR: Self = Self(-17760704);
    /// AES-256-CBC with HMAC-SHA384, encrypt-then-MAC. Not implemented (pitfall 13).
    pub const COSEAES256CBC: Self = Self(-17760705);
    /// AES-256-CTR with HMAC-SHA384, encrypt-then-MAC. Not implemented (pitfall 13).
    pub const COSEAES256CTR: Self = Self(-17760706);

    /// True for the suites this module implements (A128GCM and A256GCM).
    pub fn is_implemented(self) -> bool {
        matches!(self, Self::A128GCM | Self::A256GCM)
    }

    /// SEVK length in bytes and the COSE algorithm, for the implemented suites.
    fn params(self) -> Result<(usize, iana::Algorithm), Error> {
        match self {
            Self::A128GCM => Ok((16, iana::Algorithm::A128GCM)),
            Self::A256GCM => Ok((32, iana::Algorithm::A256GCM)),
            other => Err(Error::unsupported(alloc::format!("cipher suite {other}"))),
        }
    }
}

impl fmt::Display for CipherSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Self::A128GCM => "A128GCM",
            Self::A192GCM => "A192GCM",
            Self::A256GCM => "A256GCM",
            Self::AES_CCM_16_128_128 => "AES-CCM-16-128-128",
            Self::AES_CCM_16_128_256 => "AES-CCM-16-128-256",
            Self::AES_CCM_64_128_128 => "AES-CCM-64-128-128",
            Self::AES_CCM_64_128_256 => "AES-CCM-64-128-256",
            Self::COSEAES128CBC => "COSEAES128CBC",
            Self::COSEAES128CTR => "COSEAES128CTR",
            Self::COSEAES256CBC => "COSEAES256CBC",
            Self::COSEAES256CTR => "COSEAES256CTR",
            Self(other) => return write!(f, "cipherSuite {other}"),
        };
        f.write_str(name)
    }
}

/// `cipherSuiteName = int`
impl Cbor for CipherSuite {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.int("cipherSuiteName (int)").map(Self)
    }

    fn encode(&self, e: &mut Encoder) {
        e.int(self.0);
    }
}

/// The session key of one TO2 exchange, ready to seal and open COSE_Encrypt0 messages.
///
/// Holds the AES-GCM key schedule; `Debug` does not print it.
pub struct SessionKeys {
    suite: CipherSuite,
    cipher: Gcm,
}

enum Gcm {
    A128(Aes128Gcm),
    A256(Aes256Gcm),
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionKeys({}, ..)", self.suite)
    }
}

impl SessionKeys {
    /// Derives SEVK from the key exchange's shared secret: the FDO KDF with HMAC-SHA256 (for
    /// A256GCM too), `L` = 128 or 256 bits, the secret's ContextRand.
    pub fn derive(suite: CipherSuite, secret: &SharedSecret) -> Result<Self, Error> {
        let (key_len, _) = suite.params()?;
        let mut sevk = Zeroizing::new([0u8; 32]);
        let sevk = sevk
            .get_mut(..key_len)
            .ok_or(Error::Misuse("SEVK longer than 32 bytes"))?;
        kdf::derive(Prf::HmacSha256, secret.shse(), secret.context_rand(), sevk)?;
        Self::from_sevk(suite, sevk)
    }

    /// Uses a known SEVK (16 bytes for A128GCM, 32 for A256GCM), e.g. from a test vector.
    pub fn from_sevk(suite: CipherSuite, sevk: &[u8]) -> Result<Self, Error> {
        let (key_len, _) = suite.params()?;
        let wrong_len = || Error::Misuse("SEVK length does not suit the cipher suite");
        if sevk.len() != key_len {
            return Err(wrong_len());
        }
        let cipher = match suite {
            CipherSuite::A128GCM => {
                Gcm::A128(Aes128Gcm::new_from_slice(sevk).map_err(|_| wrong_len())?)
            }
            _ => Gcm::A256(Aes256Gcm::new_from_slice(sevk).map_err(|_| wrong_len())?),
        };
        Ok(Self { suite, cipher })
    }

    /// The cipher suite.
    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// Encrypts `plaintext` (the CBOR of a message) into a tagged COSE_Encrypt0 with a fresh
    /// random IV drawn from `rng`.
    pub fn seal(&self, plaintext: &[u8], rng: &mut dyn CryptoRng) -> Result<Vec<u8>, Error> {
        let (_, alg) = self.suite.params()?;
        let mut iv = [0u8; GCM_IV_LEN];
        rng.fill_bytes(&mut iv);
        let object = CoseEncrypt0Builder::new()
            .protected(HeaderBuilder::new().algorithm(alg).build())
            .unprotected(HeaderBuilder::new().iv(iv.to_vec()).build())
            .try_create_ciphertext(plaintext, &[], |pt, aad| self.gcm(true, &iv, pt, aad))?
            .build();
        object
            .to_tagged_vec()
            .map_err(|_| Error::Misuse("COSE_Encrypt0 could not be encoded"))
    }

    /// Decrypts a tagged COSE_Encrypt0 made by the peer's [`SessionKeys::seal`].
    ///
    /// The object is parsed strictly: tag 16, an array of three, a protected header naming
    /// this session's algorithm, a 12-byte IV in the unprotected header (and no other IV),
    /// a ciphertext byte string, nothing after it. A failed authentication is
    /// [`VerifyError::Decrypt`].
    pub fn open(&self, bytes: &[u8]) -> Result<Vec<u8>, Error> {
        let (_, alg) = self.suite.params()?;
        let object = parse(bytes)?;
        let expected = Some(RegisteredLabelWithPrivate::Assigned(alg));
        if object.protected.header.alg != expected {
            return Err(Error::invalid(
                "COSE_Encrypt0 protected header",
                alloc::format!(
                    "algorithm {:?} instead of the session's {alg:?}",
                    object.protected.header.alg
                ),
            ));
        }
        if object.unprotected.alg.is_some() {
            return Err(Error::invalid(
                "COSE_Encrypt0 unprotected header",
                "an algorithm outside the protected header",
            ));
        }
        if !object.protected.header.iv.is_empty()
            || !object.protected.header.partial_iv.is_empty()
            || !object.unprotected.partial_iv.is_empty()
        {
            return Err(Error::invalid(
                "COSE_Encrypt0 headers",
                "an IV other than the unprotected full IV (label 5)",
            ));
        }
        let iv: [u8; GCM_IV_LEN] = object.unprotected.iv.as_slice().try_into().map_err(|_| {
            Error::invalid(
                "COSE_Encrypt0 IV",
                alloc::format!(
                    "{} bytes, AES-GCM needs {GCM_IV_LEN}",
                    object.unprotected.iv.len()
                ),
            )
        })?;
        object.decrypt_ciphertext(
            &[],
            || Error::invalid("COSE_Encrypt0", "no ciphertext"),
            |ct, aad| self.gcm(false, &iv, ct, aad),
        )
    }

    /// AES-GCM encryption (`seal`) or decryption, tag appended to the ciphertext.
    fn gcm(
        &self,
        seal: bool,
        iv: &[u8; GCM_IV_LEN],
        msg: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let nonce = aes_gcm::Nonce::from(*iv);
        let payload = Payload { msg, aad };
        let out = match (&self.cipher, seal) {
            (Gcm::A128(c), true) => c.encrypt(&nonce, payload),
            (Gcm::A128(c), false) => c.decrypt(&nonce, payload),
            (Gcm::A256(c), true) => c.encrypt(&nonce, payload),
            (Gcm::A256(c), false) => c.decrypt(&nonce, payload),
        };
        out.map_err(|_| {
            if seal {
                Error::Misuse("AES-GCM plaintext too long")
            } else {
                Error::Verify(VerifyError::Decrypt)
            }
        })
    }
}

/// Checks the shape `#6.16([bstr, map, bstr])` with nothing after it, then lets coset read the
/// headers. coset keeps the protected header's original bytes, which the AAD is built from.
fn parse(bytes: &[u8]) -> Result<CoseEncrypt0, Error> {
    const WHAT: &str = "COSE_Encrypt0 (tag 16, array of 3)";
    let mut d = Decoder::new(bytes);
    d.tag(ENCRYPT0_TAG, WHAT)?;
    d.array_of(3, WHAT)?;
    d.bytes("COSE_Encrypt0 protected header (bstr)")?;
    if d.peek_major() != Some(Major::Map) {
        return Err(d.error(
            "COSE_Encrypt0 unprotected header (map)",
            d.peek_major().map_or(Found::End, Found::Type),
        ));
    }
    d.item("COSE_Encrypt0 unprotected header (map)")?;
    d.bytes("COSE_Encrypt0 ciphertext (bstr)")?;
    d.finish("end of COSE_Encrypt0")?;
    CoseEncrypt0::from_tagged_slice(bytes).map_err(|_| {
        Error::Decode(DecodeError {
            expected: WHAT,
            found: Found::Invalid("headers that are not valid COSE"),
            at: 0,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::kex::{self, KexSuite};
    use crate::crypto::test::SeededRng;

    /// Both sides of a fresh exchange, keyed for `suite`.
    fn pair(suite: CipherSuite, seed: &[u8]) -> (SessionKeys, SessionKeys) {
        let mut rng = SeededRng::new(seed);
        let (owner, x_a) = kex::start(&KexSuite::ECDH256, &mut rng).unwrap();
        let (x_b, device) = kex::respond(&KexSuite::ECDH256, &x_a, &mut rng).unwrap();
        let owner = owner.finish(&x_b).unwrap();
        (
            SessionKeys::derive(suite, &owner).unwrap(),
            SessionKeys::derive(suite, &device).unwrap(),
        )
    }

    const MSG: &[u8] = b"\x82\x01\x02"; // [1, 2]

    #[test]
    fn round_trip_both_suites_both_directions() {
        for suite in [CipherSuite::A128GCM, CipherSuite::A256GCM] {
            let (owner, device) = pair(suite, b"aead round trip");
            let mut rng = SeededRng::new(b"iv");
            let sealed = owner.seal(MSG, &mut rng).unwrap();
            assert_eq!(device.open(&sealed).unwrap(), MSG);
            let back = device.seal(b"", &mut rng).unwrap();
            assert_eq!(owner.open(&back).unwrap(), b"");
            // 16 KiB, more than one GCM block run.
            let big = alloc::vec![0x5a; 16 * 1024];
            assert_eq!(
                device.open(&owner.seal(&big, &mut rng).unwrap()).unwrap(),
                big
            );
        }
    }

    #[test]
    fn layout_is_tag16_protected_alg_unprotected_iv() {
        let (owner, _) = pair(CipherSuite::A256GCM, b"aead layout");
        let mut rng = SeededRng::new(b"layout iv");
        let sealed = owner.seal(MSG, &mut rng).unwrap();
        let mut iv = [0u8; 12];
        rand_core::Rng::fill_bytes(&mut SeededRng::new(b"layout iv"), &mut iv);
        let mut expected = alloc::vec![
            0xd0, // tag 16
            0x83, // array(3)
            0x43, 0xa1, 0x01, 0x03, // protected: bstr .cbor {1: 3 (A256GCM)}
            0xa1, 0x05, 0x4c, // unprotected: {5: bstr(12)
        ];
        expected.extend_from_slice(&iv); //     IV}
        expected.push(0x53); // ciphertext: bstr(3 + 16)
        assert_eq!(sealed[..expected.len()], expected[..]);
        assert_eq!(sealed.len(), expected.len() + MSG.len() + 16);

        let (owner128, _) = pair(CipherSuite::A128GCM, b"aead layout");
        let sealed = owner128.seal(MSG, &mut rng).unwrap();
        assert_eq!(sealed[2..6], [0x43, 0xa1, 0x01, 0x01]); // {1: 1 (A128GCM)}
    }

    #[test]
    fn ciphertext_authenticates_the_protected_header_as_aad() {
        // Recompute by hand: AES-256-GCM(SEVK, IV, MSG, AAD = ["Encrypt0", h'a10103', h''])
        let key = [0x42u8; 32];
        let keys = SessionKeys::from_sevk(CipherSuite::A256GCM, &key).unwrap();
        let sealed = keys.seal(MSG, &mut SeededRng::new(b"aad")).unwrap();
        let mut iv = [0u8; 12];
        rand_core::Rng::fill_bytes(&mut SeededRng::new(b"aad"), &mut iv);
        let aad = [
            0x83, // array(3)
            0x68, b'E', b'n', b'c', b'r', b'y', b'p', b't', b'0', // "Encrypt0"
            0x43, 0xa1, 0x01, 0x03, // protected bstr
            0x40, // external_aad h''
        ];
        let c = Aes256Gcm::new_from_slice(&key).unwrap();
        let ct = c
            .encrypt(
                &aes_gcm::Nonce::from(iv),
                Payload {
                    msg: MSG,
                    aad: &aad,
                },
            )
            .unwrap();
        assert_eq!(sealed[sealed.len() - ct.len()..], ct[..]);
    }

    #[test]
    fn flipped_bytes_are_refused() {
        let (owner, device) = pair(CipherSuite::A128GCM, b"aead flip");
        let sealed = owner.seal(MSG, &mut SeededRng::new(b"flip")).unwrap();
        // Ciphertext and tag bytes: authentication fails.
        for at in [sealed.len() - 1, sealed.len() - 17, sealed.len() - 19] {
            let mut bad = sealed.clone();
            bad[at] ^= 0x01;
            assert_eq!(
                device.open(&bad).unwrap_err(),
                Error::Verify(VerifyError::Decrypt),
                "byte {at}"
            );
        }
        // An IV byte: also authentication.
        let mut bad = sealed.clone();
        bad[10] ^= 0x80;
        assert_eq!(
            device.open(&bad).unwrap_err(),
            Error::Verify(VerifyError::Decrypt)
        );
    }

    #[test]
    fn wrong_key_is_refused() {
        let (owner, _) = pair(CipherSuite::A256GCM, b"aead key 1");
        let (_, other_device) = pair(CipherSuite::A256GCM, b"aead key 2");
        let sealed = owner.seal(MSG, &mut SeededRng::new(b"k")).unwrap();
        assert_eq!(
            other_device.open(&sealed).unwrap_err(),
            Error::Verify(VerifyError::Decrypt)
        );
    }

    #[test]
    fn wrong_algorithm_is_refused() {
        let (owner128, _) = pair(CipherSuite::A128GCM, b"aead alg");
        let (_, device256) = pair(CipherSuite::A256GCM, b"aead alg");
        let sealed = owner128.seal(MSG, &mut SeededRng::new(b"alg")).unwrap();
        let err = device256.open(&sealed).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Invalid {
                    what: "COSE_Encrypt0 protected header",
                    ..
                }
            ),
            "{err}"
        );
        // Same key, but the protected header rewritten to name A256GCM (and so the AAD too).
        let (owner, device) = pair(CipherSuite::A128GCM, b"aead alg 2");
        let mut relabelled = owner.seal(MSG, &mut SeededRng::new(b"alg")).unwrap();
        assert_eq!(relabelled[5], 0x01);
        relabelled[5] = 0x03;
        assert!(matches!(
            device.open(&relabelled),
            Err(Error::Invalid { .. })
        ));
    }

    #[test]
    fn malformed_objects_are_refused() {
        let (owner, device) = pair(CipherSuite::A128GCM, b"aead shape");
        let sealed = owner.seal(MSG, &mut SeededRng::new(b"shape")).unwrap();
        let decode_err = |bytes: &[u8]| match device.open(bytes).unwrap_err() {
            Error::Decode(e) => e,
            other => panic!("expected a decode error, got {other}"),
        };
        // Untagged: the array alone.
        let e = decode_err(&sealed[1..]);
        assert_eq!(e.found, Found::Type(Major::Array));
        // Tag 18 (Sign1) instead of 16.
        let mut tag18 = sealed.clone();
        tag18[0] = 0xd2;
        assert_eq!(decode_err(&tag18).found, Found::Tag(18));
        // A trailing byte.
        let mut trailing = sealed.clone();
        trailing.push(0x00);
        assert_eq!(decode_err(&trailing).found, Found::Trailing(1));
        // Truncated.
        assert_eq!(decode_err(&sealed[..sealed.len() - 1]).found, Found::End);
        // Empty input.
        assert_eq!(decode_err(&[]).found, Found::End);
        // Ciphertext nil instead of a bstr: d0 83 43 a1 01 01 a0 f6
        let nil = [0xd0, 0x83, 0x43, 0xa1, 0x01, 0x01, 0xa0, 0xf6];
        assert_eq!(decode_err(&nil).found, Found::Type(Major::Simple));
        // Protected header that is not a map inside its bstr: d0 83 41 01 a0 40
        let not_a_map = [0xd0, 0x83, 0x41, 0x01, 0xa0, 0x40];
        assert_eq!(
            decode_err(&not_a_map).expected,
            "COSE_Encrypt0 (tag 16, array of 3)"
        );
    }

    #[test]
    fn iv_must_be_twelve_bytes_in_the_unprotected_header() {
        let (_, device) = pair(CipherSuite::A128GCM, b"aead iv");
        let build = |protected: coset::Header, unprotected: coset::Header| {
            CoseEncrypt0Builder::new()
                .protected(protected)
                .unprotected(unprotected)
                .ciphertext(alloc::vec![0; 19])
                .build()
                .to_tagged_vec()
                .unwrap()
        };
        let alg = || HeaderBuilder::new().algorithm(iana::Algorithm::A128GCM);
        let short = build(
            alg().build(),
            HeaderBuilder::new().iv(alloc::vec![0; 11]).build(),
        );
        let err = device.open(&short).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Invalid {
                    what: "COSE_Encrypt0 IV",
                    ..
                }
            ),
            "{err}"
        );
        let missing = build(alg().build(), HeaderBuilder::new().build());
        assert!(matches!(
            device.open(&missing),
            Err(Error::Invalid {
                what: "COSE_Encrypt0 IV",
                ..
            })
        ));
        let protected_iv = build(
            alg().iv(alloc::vec![0; 12]).build(),
            HeaderBuilder::new().iv(alloc::vec![0; 12]).build(),
        );
        assert!(matches!(
            device.open(&protected_iv),
            Err(Error::Invalid {
                what: "COSE_Encrypt0 headers",
                ..
            })
        ));
        let no_alg = build(
            HeaderBuilder::new().build(),
            HeaderBuilder::new().iv(alloc::vec![0; 12]).build(),
        );
        assert!(matches!(device.open(&no_alg), Err(Error::Invalid { .. })));
        // A well-formed object with a bogus ciphertext reaches authentication and fails there.
        let bogus = build(
            alg().build(),
            HeaderBuilder::new().iv(alloc::vec![0; 12]).build(),
        );
        assert_eq!(
            device.open(&bogus).unwrap_err(),
            Error::Verify(VerifyError::Decrypt)
        );
    }

    #[test]
    fn same_seed_same_bytes() {
        for suite in [CipherSuite::A128GCM, CipherSuite::A256GCM] {
            let (a, _) = pair(suite, b"aead determinism");
            let (b, _) = pair(suite, b"aead determinism");
            let x = a.seal(MSG, &mut SeededRng::new(b"s")).unwrap();
            let y = b.seal(MSG, &mut SeededRng::new(b"s")).unwrap();
            assert_eq!(x, y);
            // A fresh IV for every message from the same generator.
            let mut rng = SeededRng::new(b"s");
            let first = a.seal(MSG, &mut rng).unwrap();
            let second = a.seal(MSG, &mut rng).unwrap();
            assert_ne!(first, second);
        }
    }

    #[test]
    fn sevk_is_the_kdf_output() {
        // SEVK = KDF(HMAC-SHA256, ShSe, ContextRand = '', L = 128 or 256).
        let mut rng = SeededRng::new(b"sevk");
        let (owner, x_a) = kex::start(&KexSuite::ECDH384, &mut rng).unwrap();
        let (x_b, _) = kex::respond(&KexSuite::ECDH384, &x_a, &mut rng).unwrap();
        let secret = owner.finish(&x_b).unwrap();
        for (suite, len) in [(CipherSuite::A128GCM, 16), (CipherSuite::A256GCM, 32)] {
            let mut sevk = alloc::vec![0u8; len];
            kdf::derive(Prf::HmacSha256, secret.shse(), &[], &mut sevk).unwrap();
            let derived = SessionKeys::derive(suite, &secret).unwrap();
            let known = SessionKeys::from_sevk(suite, &sevk).unwrap();
            let sealed = derived.seal(MSG, &mut rng).unwrap();
            assert_eq!(known.open(&sealed).unwrap(), MSG);
        }
    }

    #[test]
    fn other_suites_are_unsupported() {
        let mut rng = SeededRng::new(b"unsupported");
        let (_, x_a) = kex::start(&KexSuite::ECDH256, &mut rng).unwrap();
        let (_, secret) = kex::respond(&KexSuite::ECDH256, &x_a, &mut rng).unwrap();
        for suite in [
            CipherSuite::A192GCM,
            CipherSuite::AES_CCM_16_128_128,
            CipherSuite::COSEAES128CBC,
            CipherSuite::COSEAES256CTR,
            CipherSuite(99),
        ] {
            assert!(!suite.is_implemented());
            assert!(matches!(
                SessionKeys::derive(suite, &secret),
                Err(Error::Unsupported(_))
            ));
            assert!(matches!(
                SessionKeys::from_sevk(suite, &[0; 16]),
                Err(Error::Unsupported(_))
            ));
            assert_eq!(CipherSuite::from_cbor(&suite.to_cbor()).unwrap(), suite);
        }
        assert_eq!(CipherSuite::COSEAES256CTR.to_string(), "COSEAES256CTR");
        assert_eq!(CipherSuite(99).to_string(), "cipherSuite 99");
        // -17760706 as a CBOR negative integer: 0x3a ‖ u32(17760705)
        assert_eq!(
            CipherSuite::COSEAES256CTR.to_cbor(),
            [0x3a, 0x01, 0x0f, 0x01, 0xc1]
        );
        assert!(matches!(
            SessionKeys::from_sevk(CipherSuite::A128GCM, &[0; 32]),
            Err(Error::Misuse(_))
        ));
    }

    #[test]
    fn debug_hides_the_key() {
        let keys = SessionKeys::from_sevk(CipherSuite::A128GCM, &[7; 16]).unwrap();
        assert_eq!(alloc::format!("{keys:?}"), "SessionKeys(A128GCM, ..)");
    }
}
