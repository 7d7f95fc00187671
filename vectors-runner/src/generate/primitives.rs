//! Known answers for the primitives: `digest/…` (hash, HMAC), `kdf/…`, `kex/…`, `cose/…`
//! (Sign1, Encrypt0) and `eat/…` (attestation evidence).

use coset::iana::EnumI64;
use serde_json::{Value, json};
use vouch_protocol::ErrorCode;
use vouch_protocol::cbor::{Cbor, Encoder};
use vouch_protocol::cose::Sign1;
use vouch_protocol::crypto::kdf::{self, Prf};
use vouch_protocol::crypto::kex::{self, KexSuite};
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{CipherSuite, SessionKeys, Signer, SigningKey};
use vouch_protocol::eat::{Eat, EatClaims, EatHeaders};
use vouch_protocol::messages::to2::ProveDevice;
use vouch_protocol::types::{Guid, Nonce, PkEnc, PkType};

use super::world::{GUID, pkcs8};
use super::{Ctx, Group, R, fail, find, flip, ok, peer, reference};
use crate::format::{Kind, Source, hex_input};

fn hx(b: &[u8]) -> Value {
    json!(hex::encode(b))
}

/// A known answer from a published standard.
fn standard(name: &str) -> Source {
    Source {
        reference: Some("§4 (hash and HMAC algorithms)".into()),
        provenance: Some(name.into()),
        bug: None,
        peer: None,
    }
}

/// `digest/…`: SHA-256, SHA-384 and their HMACs, with answers from FIPS 180-4 and RFC 4231.
pub fn digest_group() -> R<Group> {
    let mut g = Group::new(
        "digest",
        "Hashes and HMACs as FDO names them (hashtype -16, -43, 5, 6), answers from FIPS 180-4 \
         examples and RFC 4231.",
    );
    type Answer<'a> = (&'a str, i64, &'a [u8], Option<&'a [u8]>, &'a str, &'a str);
    let cases: [Answer<'_>; 7] = [
        (
            "sha256-abc",
            -16,
            b"abc",
            None,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "FIPS 180-4 example (SHA-256, \"abc\")",
        ),
        (
            "sha256-empty",
            -16,
            b"",
            None,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "FIPS 180-4 (SHA-256 of the empty string)",
        ),
        (
            "sha384-abc",
            -43,
            b"abc",
            None,
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
            "FIPS 180-4 example (SHA-384, \"abc\")",
        ),
        (
            "hmac-sha256-rfc4231-1",
            5,
            b"Hi There",
            Some(&[0x0b; 20]),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            "RFC 4231 test case 1",
        ),
        (
            "hmac-sha256-rfc4231-2",
            5,
            b"what do ya want for nothing?",
            Some(b"Jefe"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            "RFC 4231 test case 2",
        ),
        (
            "hmac-sha384-rfc4231-1",
            6,
            b"Hi There",
            Some(&[0x0b; 20]),
            "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
            "RFC 4231 test case 1",
        ),
        (
            "hmac-sha384-rfc4231-2",
            6,
            b"what do ya want for nothing?",
            Some(b"Jefe"),
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
            "RFC 4231 test case 2",
        ),
    ];
    for (name, alg, data, key, want, src) in cases {
        let mut inputs = vec![("alg", json!(alg)), ("data", hex_input(data))];
        if let Some(k) = key {
            inputs.push(("key", hex_input(k)));
        }
        g.add(
            name,
            &format!("{src}."),
            standard(src),
            Kind::Digest,
            inputs,
            ok(vec![("alg", json!(alg)), ("digest", json!(want))]),
        );
    }
    g.add(
        "hmac-with-a-hash-algorithm",
        "An HMAC asked for with a plain hash algorithm (SHA-256, -16) is refused.",
        reference("§3 hashtype"),
        Kind::Digest,
        vec![
            ("alg", json!(-16)),
            ("data", hex_input(b"abc")),
            ("key", hex_input(b"k")),
        ],
        fail(ErrorCode::MESSAGE_BODY_ERROR, "unsupported"),
    );
    g.add(
        "unknown-hash-algorithm",
        "A hash with an unknown hashtype (-44, SHA-512) is refused.",
        reference("§3 hashtype"),
        Kind::Digest,
        vec![("alg", json!(-44)), ("data", hex_input(b"abc"))],
        fail(ErrorCode::MESSAGE_BODY_ERROR, "unsupported"),
    );
    Ok(g)
}

/// `kdf/…`: the reference's known answer, and outputs of every length class and both PRFs.
pub fn kdf_group() -> R<Group> {
    let mut g = Group::new(
        "kdf",
        "The FDO KDF (NIST SP 800-108 counter mode, 8-bit counter, L once as 16 bits): the \
         reference's known answer, both PRFs, one to several blocks, with and without ContextRand.",
    );
    let shse = hex::decode(
        "08c9dc0cc5e9dd2558a12ae60cd00670d01a09cca52bae8a671a21e1babdb25bc21963c48b4aa77bb8ed338f0c5a15efee069ce10a09be2aacf857b8dcd9df8e",
    )
    .ctx("hex")?;
    let input = |prf: &str, shse: &[u8], ctx: &[u8], len: usize| {
        vec![
            ("prf", json!(prf)),
            ("shse", hex_input(shse)),
            ("context_rand", hex_input(ctx)),
            ("length", json!(len)),
        ]
    };
    g.add(
        "reference-go-fdo",
        "The known answer of FDO reference §4.1 (go-fdo internal/nistkdf/kdf_test.go): \
         HMAC-SHA256, no ContextRand, L = 256. A 32-bit counter or another L encoding \
         (fdo-rs' non-interoperable KDF, pitfall 2) gives other bytes.",
        Source {
            reference: Some("§4.1 KDF known answer; §6 pitfall 2".into()),
            peer: Some("go-fdo".into()),
            provenance: Some("internal/nistkdf/kdf_test.go".into()),
            bug: None,
        },
        Kind::Kdf,
        input("HMAC-SHA256", &shse, &[], 32),
        ok(vec![(
            "output",
            json!("e5e959c8cbdd5989c819f7ea8c69bcb3f70a442830ba235c5aa0b4047d0cda0b"),
        )]),
    );
    let owner_random: Vec<u8> = (0u8..32).collect();
    for (prf_name, prf) in [
        ("HMAC-SHA256", Prf::HmacSha256),
        ("HMAC-SHA384", Prf::HmacSha384),
    ] {
        for len in [16usize, 32, 48, 64, 100] {
            for (ctx_name, ctx) in [("", &[][..]), ("-context-rand", &owner_random[..])] {
                let mut out = vec![0u8; len];
                kdf::derive(prf, &shse, ctx, &mut out).ctx("KDF")?;
                g.add(
                    &format!("{}-l{}{ctx_name}", prf_name.to_ascii_lowercase(), len * 8),
                    &format!(
                        "{prf_name}, L = {} bits{}.",
                        len * 8,
                        if ctx.is_empty() {
                            ""
                        } else {
                            ", ContextRand = 32 bytes (ASYMKEX's OwnerRandom)"
                        }
                    ),
                    reference("§4.1 KDF"),
                    Kind::Kdf,
                    input(prf_name, &shse, ctx, len),
                    ok(vec![("output", hx(&out))]),
                );
            }
        }
    }
    g.add(
        "zero-length",
        "A KDF output of 0 bits is refused (API misuse).",
        reference("§4.1 KDF"),
        Kind::Kdf,
        input("HMAC-SHA256", &shse, &[], 0),
        fail(ErrorCode::INTERNAL_SERVER_ERROR, "misuse"),
    );
    g.add(
        "l-beyond-16-bits",
        "An output of 8192 bytes (L = 65536 bits) does not fit L's 16 bits and is refused.",
        reference("§4.1 KDF (L is 16-bit big-endian)"),
        Kind::Kdf,
        input("HMAC-SHA256", &shse, &[], 8192),
        fail(ErrorCode::INTERNAL_SERVER_ERROR, "misuse"),
    );
    Ok(g)
}

/// `kex/…`: ECDH256 and ECDH384 from seeded random sources, both sides.
pub fn kex_group() -> R<Group> {
    let mut g = Group::new(
        "kex",
        "Key exchange (FDO reference §4.1): xA, xB and ShSe of ECDH256 and ECDH384 from seeded \
         random sources; malformed exchange values refused.",
    );
    let seeds = |s: &str, i: usize| {
        (
            format!("vouch vectors kex {s} owner {i}").into_bytes(),
            format!("vouch vectors kex {s} device {i}").into_bytes(),
        )
    };
    for (suite, name) in [
        (KexSuite::ECDH256, "ecdh256"),
        (KexSuite::ECDH384, "ecdh384"),
    ] {
        for i in 0..3 {
            let (o, d) = seeds(name, i);
            let fields = run_kex(&suite, &o, &d)?;
            g.add(
                &format!("{name}-{i}"),
                &format!("{suite}: xA ‖ xB layout, ShSe = Shx ‖ DeviceRandom ‖ OwnerRandom, both sides agree."),
                reference("§4.1 key exchange"),
                Kind::Kex,
                vec![
                    ("suite", json!(suite.as_str())),
                    ("owner_rng_seed", hex_input(&o)),
                    ("device_rng_seed", hex_input(&d)),
                ],
                ok(fields),
            );
        }
    }
    // Pitfall 3: Shx with a leading zero byte stays 32 bytes wide.
    let mut found = None;
    for i in 0..4096 {
        let (o, d) = seeds("leading-zero", i);
        let (owner, xa) = kex::start(&KexSuite::ECDH256, &mut SeededRng::new(&o)).ctx("kex")?;
        let (xb, _) = kex::respond(&KexSuite::ECDH256, &xa, &mut SeededRng::new(&d)).ctx("kex")?;
        let secret = owner.finish(&xb).ctx("kex")?;
        if secret.shse().first() == Some(&0) {
            found = Some((o, d));
            break;
        }
    }
    let (o, d) = found.ctx("a seed pair whose Shx starts with a zero byte")?;
    let fields = run_kex(&KexSuite::ECDH256, &o, &d)?;
    g.add(
        "ecdh256-shx-leading-zero",
        "ECDH256 where Shx starts with a zero byte: ShSe keeps Shx 32 bytes wide (64 bytes in all).",
        peer("§6 pitfall 3", "go-fdo"),
        Kind::Kex,
        vec![
            ("suite", json!("ECDH256")),
            ("owner_rng_seed", hex_input(&o)),
            ("device_rng_seed", hex_input(&d)),
        ],
        ok(fields),
    );
    let (o, d) = seeds("ecdh256", 0);
    let (_, xa) = kex::start(&KexSuite::ECDH256, &mut SeededRng::new(&o)).ctx("kex")?;
    let (xb, _) = kex::respond(&KexSuite::ECDH256, &xa, &mut SeededRng::new(&d)).ctx("kex")?;
    let body = ErrorCode::MESSAGE_BODY_ERROR;
    let owner_side = |xb: &[u8]| {
        vec![
            ("suite", json!("ECDH256")),
            ("owner_rng_seed", hex_input(&o)),
            ("xb", hex_input(xb)),
        ]
    };
    g.add(
        "ecdh256-xb-truncated",
        "xB without its last byte (the DeviceRandom is short).",
        reference("§4.1 (xB layout)"),
        Kind::Kex,
        owner_side(xb.get(..xb.len() - 1).ctx("cut")?),
        fail(body, "invalid"),
    );
    let mut bad = xb.clone();
    if let Some(b) = bad.get_mut(2..34) {
        b.fill(0xff);
    }
    g.add(
        "ecdh256-xb-not-on-curve",
        "xB whose X coordinate is not a point of P-256.",
        reference("§4.1 (xB layout)"),
        Kind::Kex,
        owner_side(&bad),
        fail(
            ErrorCode::INVALID_MESSAGE_ERROR,
            "verify.bad-key(xBKeyExchange point)",
        ),
    );
    g.add(
        "ecdh256-xa-truncated",
        "xA without its last byte, given to the device.",
        reference("§4.1 (xA layout)"),
        Kind::Kex,
        vec![
            ("suite", json!("ECDH256")),
            ("device_rng_seed", hex_input(&d)),
            ("xa", hex_input(xa.get(..xa.len() - 1).ctx("cut")?)),
        ],
        fail(body, "invalid"),
    );
    g.add(
        "dhkexid14-not-implemented",
        "DHKEXid14 is not implemented here: refused as unsupported.",
        reference("§4.1 (suites)"),
        Kind::Kex,
        vec![
            ("suite", json!("DHKEXid14")),
            ("owner_rng_seed", hex_input(&o)),
            ("device_rng_seed", hex_input(&d)),
        ],
        fail(body, "unsupported"),
    );
    Ok(g)
}

fn run_kex(suite: &KexSuite, o: &[u8], d: &[u8]) -> R<Vec<(&'static str, Value)>> {
    let (owner, xa) = kex::start(suite, &mut SeededRng::new(o)).ctx("kex start")?;
    let (xb, dev) = kex::respond(suite, &xa, &mut SeededRng::new(d)).ctx("kex respond")?;
    let own = owner.finish(&xb).ctx("kex finish")?;
    if own.shse() != dev.shse() {
        return Err("the two sides of the key exchange disagree".into());
    }
    Ok(vec![
        ("xa", hx(&xa)),
        ("xb", hx(&xb)),
        ("shse", hx(own.shse())),
        ("context_rand", hx(own.context_rand())),
        ("agree", json!(true)),
    ])
}

/// `cose/…`: Sign1 (deterministic ECDSA, RFC 6979) and Encrypt0 (AES-GCM, seeded IVs).
pub fn cose_group() -> R<Group> {
    let mut g = Group::new(
        "cose",
        "COSE as FDO uses it (FDO reference §4.3): COSE_Sign1 with ES256/ES384 (raw r‖s, \
         deterministic nonces), COSE_Encrypt0 with A128GCM/A256GCM; tampered objects refused.",
    );
    let invalid = ErrorCode::INVALID_MESSAGE_ERROR;
    let body = ErrorCode::MESSAGE_BODY_ERROR;
    let payload = b"vouch vectors COSE payload".to_vec();
    for (t, name) in [(PkType::SECP256R1, "es256"), (PkType::SECP384R1, "es384")] {
        let key = SigningKey::generate(
            t,
            &mut SeededRng::new(format!("vouch vectors COSE {name}").as_bytes()),
        )
        .ctx("key")?;
        let s = Sign1::sign(payload.clone(), Default::default(), &key).ctx("sign")?;
        g.add(
            &format!("sign1-{name}-sign"),
            &format!("COSE_Sign1 {name} over a payload: protected {{1: alg}}, deterministic ECDSA (RFC 6979)."),
            reference("§4.3 Sign1"),
            Kind::Cose,
            vec![("op", json!("sign1-sign")), ("signing_key", hex_input(&pkcs8(&key)?)), ("payload", hex_input(&payload))],
            ok(vec![("sign1", hx(s.bytes())), ("verifies", json!(true))]),
        );
        for enc in [PkEnc::X509, PkEnc::COSEKEY] {
            let pk = key.public_key(enc).ctx("public key")?.to_cbor();
            let verify = |sign1: &[u8], pk: &[u8]| {
                vec![
                    ("op", json!("sign1-verify")),
                    ("sign1", hex_input(sign1)),
                    ("key", hex_input(pk)),
                ]
            };
            let encn = if enc == PkEnc::X509 {
                "x509"
            } else {
                "cosekey"
            };
            g.add(
                &format!("sign1-{name}-verify-{encn}"),
                &format!("The {name} COSE_Sign1 verifies with its key given as {encn}."),
                reference("§4.3 Sign1"),
                Kind::Cose,
                verify(s.bytes(), &pk),
                ok(vec![
                    ("payload", hx(&payload)),
                    ("alg", json!(key.algorithm().to_i64())),
                ]),
            );
            if enc == PkEnc::COSEKEY {
                continue;
            }
            let sig_at = find(s.bytes(), s.signature())?;
            let pay_at = find(s.bytes(), &payload)?;
            g.add(
                &format!("sign1-{name}-signature-flipped"),
                "One bit of the signature flipped.",
                reference("§4.3 Sign1"),
                Kind::Cose,
                verify(&flip(s.bytes(), sig_at + 5, 0x01)?, &pk),
                fail(invalid, "verify.signature(COSE_Sign1)"),
            );
            g.add(
                &format!("sign1-{name}-payload-flipped"),
                "One bit of the payload flipped.",
                reference("§4.3 Sign1"),
                Kind::Cose,
                verify(&flip(s.bytes(), pay_at, 0x01)?, &pk),
                fail(invalid, "verify.signature(COSE_Sign1)"),
            );
            let other =
                SigningKey::generate(t, &mut SeededRng::new(b"vouch vectors COSE other key"))
                    .ctx("key")?;
            g.add(
                &format!("sign1-{name}-other-key"),
                "Verified with another key of the same curve.",
                reference("§4.3 Sign1"),
                Kind::Cose,
                verify(s.bytes(), &other.public_key(enc).ctx("key")?.to_cbor()),
                fail(invalid, "verify.signature(COSE_Sign1)"),
            );
            let wrong_curve = if t == PkType::SECP256R1 {
                PkType::SECP384R1
            } else {
                PkType::SECP256R1
            };
            let other = SigningKey::generate(
                wrong_curve,
                &mut SeededRng::new(b"vouch vectors COSE other curve"),
            )
            .ctx("key")?;
            g.add(
                &format!("sign1-{name}-key-of-other-curve"),
                "Verified with a key whose curve does not suit the algorithm.",
                reference("§4.3 (algorithm ids)"),
                Kind::Cose,
                verify(s.bytes(), &other.public_key(enc).ctx("key")?.to_cbor()),
                fail(body, "invalid"),
            );
            // DER-encoded ECDSA instead of raw r‖s.
            let raw = s.signature();
            let half = raw.len() / 2;
            let int = |b: &[u8]| {
                let mut v = vec![0x02];
                let pad = b.first().is_some_and(|x| *x >= 0x80);
                v.push((b.len() + usize::from(pad)) as u8);
                if pad {
                    v.push(0);
                }
                v.extend_from_slice(b);
                v
            };
            let mut seq = int(raw.get(..half).ctx("r")?);
            seq.extend(int(raw.get(half..).ctx("s")?));
            let mut der_sig = vec![0x30, seq.len() as u8];
            der_sig.extend(seq);
            let mut e = Encoder::new();
            e.tag(18)
                .array(4)
                .bytes(
                    s.as_coset()
                        .protected
                        .original_data
                        .as_deref()
                        .unwrap_or(&[]),
                )
                .map(0)
                .bytes(&payload)
                .bytes(&der_sig);
            g.add(
                &format!("sign1-{name}-der-signature"),
                "The signature as DER instead of raw r‖s.",
                reference("§4.3 (ECDSA signatures are raw r‖s)"),
                Kind::Cose,
                verify(&e.into_bytes(), &pk),
                fail(invalid, "verify.signature(COSE_Sign1)"),
            );
        }
    }
    // Encrypt0.
    let plaintext = b"\x81\x50vouch vectors!!!".to_vec();
    for (suite, name, len) in [
        (CipherSuite::A128GCM, "a128gcm", 16usize),
        (CipherSuite::A256GCM, "a256gcm", 32),
    ] {
        let sevk: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(7)).collect();
        let seed = format!("vouch vectors Encrypt0 {name}").into_bytes();
        let keys = SessionKeys::from_sevk(suite, &sevk).ctx("keys")?;
        let sealed = keys
            .seal(&plaintext, &mut SeededRng::new(&seed))
            .ctx("seal")?;
        let base = |op: &str| {
            vec![
                ("op", json!(op)),
                ("cipher_suite", json!(suite.0)),
                ("sevk", hex_input(&sevk)),
            ]
        };
        let mut i = base("encrypt0-seal");
        i.push(("plaintext", hex_input(&plaintext)));
        i.push(("rng_seed", hex_input(&seed)));
        g.add(&format!("encrypt0-{name}-seal"), &format!("COSE_Encrypt0 with {name}: protected {{1: alg}}, unprotected {{5: IV}}, AAD = Enc_structure."), reference("§4.3 Encrypt0"), Kind::Cose, i, ok(vec![("encrypt0", hx(&sealed))]));
        let open = |obj: &[u8]| {
            let mut i = base("encrypt0-open");
            i.push(("encrypt0", hex_input(obj)));
            i
        };
        g.add(
            &format!("encrypt0-{name}-open"),
            "The sealed object opens to the plaintext.",
            reference("§4.3 Encrypt0"),
            Kind::Cose,
            open(&sealed),
            ok(vec![("plaintext", hx(&plaintext))]),
        );
        let n = sealed.len();
        g.add(
            &format!("encrypt0-{name}-ciphertext-flipped"),
            "One bit of the ciphertext flipped: authentication fails.",
            reference("§4.3 Encrypt0"),
            Kind::Cose,
            open(&flip(&sealed, n - 20, 0x01)?),
            fail(invalid, "verify.decrypt"),
        );
        g.add(
            &format!("encrypt0-{name}-tag-flipped"),
            "One bit of the GCM tag flipped.",
            reference("§4.3 Encrypt0"),
            Kind::Cose,
            open(&flip(&sealed, n - 1, 0x80)?),
            fail(invalid, "verify.decrypt"),
        );
        let iv_at = find(&sealed, &[0xa1, 0x05, 0x4c])?;
        g.add(
            &format!("encrypt0-{name}-iv-flipped"),
            "One bit of the IV flipped.",
            reference("§4.3 Encrypt0"),
            Kind::Cose,
            open(&flip(&sealed, iv_at + 4, 0x01)?),
            fail(invalid, "verify.decrypt"),
        );
        g.add(
            &format!("encrypt0-{name}-protected-header-changed"),
            "The protected header names another algorithm.",
            reference("§4.3 Encrypt0 (AAD covers the protected header)"),
            Kind::Cose,
            open(&flip(&sealed, 5, 0x02)?),
            fail(body, "invalid"),
        );
        g.add(
            &format!("encrypt0-{name}-untagged"),
            "The object without its tag 16.",
            reference("§2.4 (encrypted messages are tagged COSE_Encrypt0)"),
            Kind::Cose,
            open(sealed.get(1..).ctx("untag")?),
            fail(body, "decode"),
        );
        let mut other = base("encrypt0-open");
        if let Some(v) = other.get_mut(2) {
            v.1 = hex_input(&vec![0x11; len]);
        }
        other.push(("encrypt0", hex_input(&sealed)));
        g.add(
            &format!("encrypt0-{name}-other-key"),
            "Opened with another SEVK.",
            reference("§4.3 Encrypt0"),
            Kind::Cose,
            other,
            fail(invalid, "verify.decrypt"),
        );
    }
    g.add(
        "encrypt0-etm-aes128-cbc-not-interoperable",
        "The ETM suites (COSEAES128CBC here) are refused: their SVK length differs between implementations (pitfall 13).",
        peer("§6 pitfall 13", "go-fdo, conformance tools"),
        Kind::Cose,
        vec![("op", json!("encrypt0-seal")), ("cipher_suite", json!(CipherSuite::COSEAES128CBC.0)), ("sevk", hex_input(&[0x11; 16])), ("plaintext", hex_input(&plaintext)), ("rng_seed", hex_input(b"etm"))],
        fail(body, "unsupported"),
    );
    Ok(g)
}

/// `eat/…`: attestation evidence (TO1.ProveToRV, TO2.ProveDevice) checked against the device
/// key, the nonce and the GUID.
pub fn eat_group() -> R<Group> {
    let mut g = Group::new(
        "eat",
        "Attestation evidence (FDO reference §3 EAT, §2.3, §5.3 steps 1 to 5): the signature by \
         the device key, EAT-NONCE, EAT-UEID = 0x01 ‖ GUID, EAT-FDO and EUPHNonce.",
    );
    let invalid = ErrorCode::INVALID_MESSAGE_ERROR;
    let device = SigningKey::generate(
        PkType::SECP256R1,
        &mut SeededRng::new(b"vouch vectors EAT device"),
    )
    .ctx("key")?;
    let key = device.public_key(PkEnc::X509).ctx("key")?.to_cbor();
    let nonce = Nonce([0x31; 16]);
    let inputs = |eat: &[u8], key: &[u8], nonce: &Nonce, guid: &Guid| {
        vec![
            ("eat", hex_input(eat)),
            ("key", hex_input(key)),
            ("nonce", hex_input(nonce.as_bytes())),
            ("guid", hex_input(guid.as_bytes())),
        ]
    };
    let to1 = Eat::sign(
        EatClaims::new(nonce, &GUID),
        &EatHeaders::default(),
        &device,
    )
    .ctx("EAT")?;
    let to1b = to1.to_cbor();
    g.add(
        "to1-prove-to-rv",
        "TO1.ProveToRV's EAT: nonce and UEID under 256, no EAT-FDO.",
        reference("§2.3"),
        Kind::Eat,
        inputs(&to1b, &key, &nonce, &GUID),
        ok(vec![
            ("ueid_label", json!(256)),
            ("fdo_claim", Value::Null),
            ("unprotected_nonce", Value::Null),
        ]),
    );
    let setup = Nonce([0x64; 16]);
    let xb = vec![0xb5; 52];
    let pd = ProveDevice::sign(nonce, &GUID, xb.clone(), setup, &device).ctx("ProveDevice")?;
    let mut x = Encoder::new();
    x.array(1).bytes(&xb);
    g.add(
        "to2-prove-device",
        "TO2.ProveDevice's EAT: EAT-FDO = [xB], EUPHNonce (−259) = NonceTO2SetupDv.",
        reference("§2.4, §5.3 steps 4 and 5"),
        Kind::Eat,
        inputs(&pd.to_cbor(), &key, &nonce, &GUID),
        ok(vec![
            ("ueid_label", json!(256)),
            ("fdo_claim", hx(&x.into_bytes())),
            ("unprotected_nonce", hx(setup.as_bytes())),
        ]),
    );
    // Pitfall 1: fdo-rs puts the UEID under claim key 11.
    let mut claims = Encoder::new();
    let mut ueid = vec![0x01];
    ueid.extend_from_slice(GUID.as_bytes());
    claims
        .map(2)
        .int(10)
        .bytes(nonce.as_bytes())
        .int(11)
        .bytes(&ueid);
    let legacy = Sign1::sign(claims.into_bytes(), Default::default(), &device).ctx("sign")?;
    g.add("ueid-claim-key-11", "An EAT with its UEID under claim key 11, as fdo-rs v0.5.6 writes it (pitfall 1), is accepted.", peer("§6 pitfall 1", "fdo-rs"), Kind::Eat, inputs(legacy.bytes(), &key, &nonce, &GUID), ok(vec![("ueid_label", json!(11))]));
    g.add(
        "wrong-nonce",
        "The EAT carries another nonce than the one the verifier sent.",
        reference("§2.3, §5.3 step 2"),
        Kind::Eat,
        inputs(&to1b, &key, &Nonce([0x32; 16]), &GUID),
        fail(invalid, "verify.nonce(EAT-NONCE)"),
    );
    g.add(
        "other-guid",
        "The EAT's UEID names another GUID.",
        reference("§2.3, §5.3 step 3"),
        Kind::Eat,
        inputs(&to1b, &key, &nonce, &Guid([0x77; 16])),
        fail(invalid, "verify.ueid"),
    );
    let mut claims = Encoder::new();
    let mut ueid2 = vec![0x02];
    ueid2.extend_from_slice(GUID.as_bytes());
    claims
        .map(2)
        .int(10)
        .bytes(nonce.as_bytes())
        .int(256)
        .bytes(&ueid2);
    let bad_type = Sign1::sign(claims.into_bytes(), Default::default(), &device).ctx("sign")?;
    g.add(
        "ueid-type-not-rand",
        "The UEID starts with 0x02 instead of 0x01 (EAT-RAND).",
        reference("§3 EAT (UEID = 0x01 ‖ GUID)"),
        Kind::Eat,
        inputs(bad_type.bytes(), &key, &nonce, &GUID),
        fail(invalid, "verify.ueid"),
    );
    let other = SigningKey::generate(
        PkType::SECP256R1,
        &mut SeededRng::new(b"vouch vectors EAT other device"),
    )
    .ctx("key")?;
    g.add(
        "other-device-key",
        "The EAT checked with another device's key.",
        reference("§2.3, §5.3 step 1"),
        Kind::Eat,
        inputs(
            &to1b,
            &other.public_key(PkEnc::X509).ctx("key")?.to_cbor(),
            &nonce,
            &GUID,
        ),
        fail(invalid, "verify.signature(EAT)"),
    );
    let sig_at = find(&to1b, to1.sign1().signature())?;
    g.add(
        "signature-flipped",
        "One bit of the EAT's signature flipped.",
        reference("§2.3, §5.3 step 1"),
        Kind::Eat,
        inputs(&flip(&to1b, sig_at + 7, 0x01)?, &key, &nonce, &GUID),
        fail(invalid, "verify.signature(EAT)"),
    );
    let mut claims = Encoder::new();
    claims.map(1).int(256).bytes(&ueid);
    let no_nonce = Sign1::sign(claims.into_bytes(), Default::default(), &device).ctx("sign")?;
    g.add(
        "no-nonce-claim",
        "An EAT without EAT-NONCE (10) is refused.",
        reference("§3 EAT"),
        Kind::Eat,
        inputs(no_nonce.bytes(), &key, &nonce, &GUID),
        fail(ErrorCode::MESSAGE_BODY_ERROR, "invalid"),
    );
    Ok(g)
}
