//! `voucher/…`: vouchers made here verify; every way of breaking one is refused by the check
//! that names it (FDO reference §3 hash-chain rules, §5.2 steps 4, 5 and 7).

use serde_json::{Value, json};
use vouch_protocol::ErrorCode;
use vouch_protocol::cbor::{Cbor, Encoder, Raw};
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{CryptoProvider, Signer, SigningKey};
use vouch_protocol::types::{Guid, HMac, HashAlg, PkEnc, PkType, ProtocolVersion};
use vouch_protocol::voucher::{OvEntry, OvEntryPayload, OwnershipVoucher};

use super::world::{C, DEVICE_INFO, GUID, SECRET, World};
use super::{Ctx, Group, R, fail, find, flip, ok, peer, reference};
use crate::format::{Kind, hex_input};

/// `[101, bstr header, hmac, chain / null, [entries]]` from parts.
fn assemble(header: &[u8], hmac: &HMac, chain: Option<&[Vec<u8>]>, entries: &[OvEntry]) -> Vec<u8> {
    let mut e = Encoder::new();
    e.array(5)
        .encode(&ProtocolVersion::V101)
        .bytes(header)
        .encode(hmac);
    match chain {
        None => {
            e.null();
        }
        Some(certs) => {
            e.array(certs.len());
            for c in certs {
                e.bytes(c);
            }
        }
    }
    e.array(entries.len());
    for entry in entries {
        e.encode(entry);
    }
    e.into_bytes()
}

fn with_entries(w: &World, entries: &[OvEntry]) -> Vec<u8> {
    assemble(
        w.voucher.header_bytes(),
        w.voucher.hmac(),
        Some(&w.chain),
        entries,
    )
}

/// The fields a verified voucher of world `w` shows, with `owner` its owner key.
fn fields(
    w: &World,
    voucher: &OwnershipVoucher,
    owner: &SigningKey,
    enc: PkEnc,
    hmac_checked: bool,
) -> R<Vec<(&'static str, Value)>> {
    Ok(vec![
        ("protocol_version", json!(101)),
        ("guid", json!(hex::encode(GUID.as_bytes()))),
        ("device_info", json!(DEVICE_INFO)),
        ("entries", json!(voucher.entries().len())),
        ("manufacturer_key_type", json!(w.pk_type.0)),
        ("manufacturer_key_encoding", json!(enc.0)),
        (
            "hmac_alg",
            json!(w.hash_alg().hmac_counterpart().ctx("HMAC")?.0),
        ),
        (
            "owner_key",
            json!(hex::encode(
                owner.public_key(enc).ctx("owner key")?.to_cbor()
            )),
        ),
        ("hmac_checked", json!(hmac_checked)),
        ("chain_hash_form", json!("concatenated")),
        ("round_trip", json!(true)),
    ])
}

fn inputs(voucher: &[u8], secret: bool) -> Vec<(&'static str, Value)> {
    let mut v = vec![("voucher", hex_input(voucher))];
    if secret {
        v.push(("device_secret", hex_input(SECRET)));
    }
    v
}

fn entry(w: &World, i: usize) -> R<OvEntry> {
    w.voucher.entries().get(i).cloned().ctx("entry")
}

/// The voucher group.
pub fn group() -> R<Group> {
    let mut g = Group::new(
        "voucher",
        "Ownership voucher verification (FDO reference §3 hash-chain rules, §5.2 steps 4, 5 \
         and 7): vouchers made here verify, each mutation is refused by the check it breaks.",
    );
    positives(&mut g)?;
    negatives(&mut g)?;
    Ok(g)
}

fn positives(g: &mut Group) -> R<()> {
    for (t, enc, name) in [
        (PkType::SECP256R1, PkEnc::X509, "p256-x509"),
        (PkType::SECP256R1, PkEnc::COSEKEY, "p256-cosekey"),
        (PkType::SECP384R1, PkEnc::X509, "p384-x509"),
        (PkType::SECP384R1, PkEnc::COSEKEY, "p384-cosekey"),
    ] {
        let w = World::new(t, enc)?;
        let bytes = w.voucher.to_cbor();
        g.add(
            &format!("{name}-two-entries"),
            "A voucher extended twice verifies without the device secret; its owner is the last entry's key.",
            reference("§3 hash-chain rules"),
            Kind::Voucher,
            inputs(&bytes, false),
            super::ok(fields(&w, &w.voucher, &w.owner, enc, false)?),
        );
        g.add(
            &format!("{name}-two-entries-with-secret"),
            "The same voucher verifies with the device secret, header HMAC included.",
            reference("§5.2 step 4"),
            Kind::Voucher,
            inputs(&bytes, true),
            super::ok(fields(&w, &w.voucher, &w.owner, enc, true)?),
        );
    }
    let w = World::new(PkType::SECP256R1, PkEnc::X509)?;
    let mut i = inputs(&w.voucher.to_cbor(), false);
    i.push(("credential", hex_input(&w.credential.to_cbor())));
    g.add(
        "p256-x509-with-credential",
        "The voucher verifies against the device's credential: HMAC, GUID and manufacturer key hash.",
        reference("§5.2 steps 4 and 5"),
        Kind::Voucher,
        i,
        ok(fields(&w, &w.voucher, &w.owner, PkEnc::X509, true)?),
    );
    let pem = w.voucher.to_pem();
    g.add(
        "p256-x509-pem",
        "The voucher as PEM (label OWNERSHIP VOUCHER) reads and verifies the same.",
        peer("§6 test data (PEM label OWNERSHIP VOUCHER)", "go-fdo"),
        Kind::Voucher,
        inputs(pem.as_bytes(), true),
        ok(fields(&w, &w.voucher, &w.owner, PkEnc::X509, true)?),
    );
    g.add(
        "zero-entries",
        "A voucher without entries verifies; its owner is the manufacturer.",
        reference("§3 (the owner key is OVPubKey when there are no entries)"),
        Kind::Voucher,
        inputs(&w.voucher0.to_cbor(), true),
        ok(fields(&w, &w.voucher0, &w.mfg, PkEnc::X509, true)?),
    );
    let mut i = inputs(&w.voucher0.to_cbor(), true);
    i.push(("require_entries", json!(true)));
    g.add(
        "zero-entries-not-enough",
        "A voucher without entries is not enough where an owner must be named (TO0, TO2).",
        reference("§2.2, §5.1 step 1"),
        Kind::Voucher,
        i,
        fail(ErrorCode::INVALID_MESSAGE_ERROR, "verify.no-entries"),
    );
    Ok(())
}

fn negatives(g: &mut Group) -> R<()> {
    let w = World::new(PkType::SECP256R1, PkEnc::X509)?;
    let bytes = w.voucher.to_cbor();
    let hdr = w.voucher.header_bytes().to_vec();
    let hdr_at = find(&bytes, &hdr)?;
    let invalid = ErrorCode::INVALID_MESSAGE_ERROR;
    let add = |g: &mut Group,
               name: &str,
               what: &str,
               section: &str,
               v: Vec<u8>,
               secret: bool,
               err: &str| {
        g.add(
            name,
            what,
            reference(section),
            Kind::Voucher,
            inputs(&v, secret),
            fail(invalid, err),
        );
    };

    // The header HMAC (§5.2 step 4).
    let hmac_at = find(&bytes, w.voucher.hmac().value())?;
    add(
        g,
        "hmac-flipped-bit",
        "One bit of OVHeaderHMac flipped: the HMAC check refuses it.",
        "§5.2 step 4",
        flip(&bytes, hmac_at + 3, 0x01)?,
        true,
        "verify.header-hmac",
    );
    add(
        g,
        "hmac-flipped-bit-no-secret",
        "One bit of OVHeaderHMac flipped, checked without the secret: entry 0 hashes the HMAC.",
        "§3 hash-chain rules (entry 0)",
        flip(&bytes, hmac_at + 3, 0x01)?,
        false,
        "verify.entry-prev-hash[0]",
    );
    let mut i = inputs(&bytes, false);
    i.push((
        "device_secret",
        hex_input(b"another device's secret 32 bytes"),
    ));
    g.add(
        "wrong-device-secret",
        "The voucher checked with another device's secret.",
        reference("§5.2 step 4"),
        Kind::Voucher,
        i,
        fail(invalid, "verify.header-hmac"),
    );

    // The header itself: every part is covered by the HMAC and by entry 0's hash.
    let guid_at = hdr_at + find(&hdr, GUID.as_bytes())?;
    let info_at = hdr_at + find(&hdr, DEVICE_INFO.as_bytes())?;
    let rv_at = hdr_at + find(&hdr, b"rv.example")?;
    let chash = w
        .voucher
        .header()
        .cert_chain_hash
        .as_ref()
        .ctx("chain hash")?;
    let chash_at = hdr_at + find(&hdr, chash.value())?;
    let mkey_at = hdr_at + find(&hdr, w.voucher.header().manufacturer_key.bytes())?;
    for (part, at) in [
        ("guid", guid_at + 4),
        ("device-info", info_at + 2),
        ("rv-info", rv_at + 1),
        ("chain-hash", chash_at + 5),
        ("manufacturer-key", mkey_at + 40),
    ] {
        add(
            g,
            &format!("header-{part}-flipped"),
            &format!("One bit of the OVHeader's {part} flipped, checked with the secret."),
            "§5.2 step 4",
            flip(&bytes, at, 0x01)?,
            true,
            "verify.header-hmac",
        );
    }
    for (part, at) in [
        ("guid", guid_at + 4),
        ("device-info", info_at + 2),
        ("rv-info", rv_at + 1),
    ] {
        add(
            g,
            &format!("header-{part}-flipped-no-secret"),
            &format!(
                "One bit of the OVHeader's {part} flipped, checked without the secret: entry 0 no longer links to the header."
            ),
            "§3 hash-chain rules (entry 0)",
            flip(&bytes, at, 0x01)?,
            false,
            "verify.entry-prev-hash[0]",
        );
    }
    add(
        g,
        "header-chain-hash-flipped-no-secret",
        "One bit of OVDevCertChainHash flipped: the device chain no longer matches it.",
        "§3 OVDevCertChainHash",
        flip(&bytes, chash_at + 5, 0x01)?,
        false,
        "verify.device-cert-chain-hash",
    );

    // The device certificate chain (§3, §5.3 step 8).
    let leaf = w.chain.first().ctx("leaf")?;
    let leaf_at = find(&bytes, leaf)?;
    add(
        g,
        "device-cert-flipped",
        "One bit of the device certificate flipped: OVDevCertChainHash refuses it.",
        "§3 OVDevCertChainHash",
        flip(&bytes, leaf_at + 30, 0x01)?,
        true,
        "verify.device-cert-chain-hash",
    );
    let mut longer = w.chain.clone();
    longer.push(b"another certificate".to_vec());
    add(
        g,
        "device-cert-appended",
        "A certificate appended to the device chain.",
        "§3 OVDevCertChainHash",
        assemble(&hdr, w.voucher.hmac(), Some(&longer), w.voucher.entries()),
        true,
        "verify.device-cert-chain-hash",
    );
    let swapped: Vec<Vec<u8>> = w.chain.iter().rev().cloned().collect();
    add(
        g,
        "device-chain-reordered",
        "The device chain with its certificates in the other order.",
        "§3 OVDevCertChainHash (leaf first)",
        assemble(&hdr, w.voucher.hmac(), Some(&swapped), w.voucher.entries()),
        true,
        "verify.device-cert-chain-hash",
    );
    add(
        g,
        "device-chain-removed",
        "OVDevCertChain null while the header has its hash.",
        "§3 OVDevCertChain",
        assemble(&hdr, w.voucher.hmac(), None, w.voucher.entries()),
        true,
        "verify.device-cert-chain-missing",
    );

    // Against the credential (§5.2 step 5).
    let mut other_guid = w.credential.clone();
    other_guid.guid = Guid([0x77; 16]);
    let mut other_mfg = w.credential.clone();
    other_mfg.pub_key_hash = C
        .hash(HashAlg::SHA256, &[b"another manufacturer key"])
        .ctx("hash")?;
    let mut other_secret = w.credential.clone();
    other_secret.hmac_secret = Some(zeroize::Zeroizing::new(
        b"another device's secret 32 bytes".to_vec(),
    ));
    for (name, what, dc, err) in [
        (
            "credential-other-guid",
            "The voucher checked against a credential with another GUID.",
            &other_guid,
            "verify.guid-mismatch",
        ),
        (
            "credential-other-manufacturer",
            "The voucher checked against a credential whose DCPubKeyHash names another manufacturer key.",
            &other_mfg,
            "verify.manufacturer-key-hash",
        ),
        (
            "credential-other-secret",
            "The voucher checked against a credential with another HMAC secret.",
            &other_secret,
            "verify.header-hmac",
        ),
    ] {
        let mut i = inputs(&bytes, false);
        i.push(("credential", hex_input(&dc.to_cbor())));
        g.add(
            name,
            what,
            reference("§5.2 steps 4 and 5"),
            Kind::Voucher,
            i,
            fail(invalid, err),
        );
    }

    // The entries (§5.2 step 7).
    let (e0, e1) = (entry(&w, 0)?, entry(&w, 1)?);
    for (i, e) in [(0, &e0), (1, &e1)] {
        let sig_at = find(&bytes, e.sign1().signature())?;
        add(
            g,
            &format!("entry{i}-signature-flipped"),
            &format!("One bit of entry {i}'s signature flipped."),
            "§5.2 step 7 (signature)",
            flip(&bytes, sig_at + 10, 0x01)?,
            true,
            &format!("verify.entry-signature[{i}]"),
        );
        let payload_at = find(&bytes, e.sign1().payload())?;
        add(
            g,
            &format!("entry{i}-payload-flipped"),
            &format!("One bit of entry {i}'s payload (its previous-entry hash) flipped."),
            "§5.2 step 7 (signature)",
            flip(&bytes, payload_at + 6, 0x01)?,
            true,
            &format!("verify.entry-signature[{i}]"),
        );
    }
    add(
        g,
        "entries-swapped",
        "The two entries in the other order.",
        "§5.2 step 7 (signature)",
        with_entries(&w, &[e1.clone(), e0.clone()]),
        true,
        "verify.entry-signature[0]",
    );
    add(
        g,
        "entry0-dropped",
        "The first entry dropped: the second is not the manufacturer's.",
        "§5.2 step 7 (signature)",
        with_entries(&w, std::slice::from_ref(&e1)),
        true,
        "verify.entry-signature[0]",
    );
    add(
        g,
        "entry1-duplicated",
        "The last entry twice.",
        "§5.2 step 7 (signature)",
        with_entries(&w, &[e0.clone(), e1.clone(), e1.clone()]),
        true,
        "verify.entry-signature[2]",
    );

    // Entries correctly signed by the right key, with one field wrong.
    let alg = w.hash_alg();
    let resign = |p: OvEntryPayload, k: &SigningKey| OvEntry::sign(p, k).ctx("entry");
    let mut p = e1.payload().clone();
    p.prev_entry_hash = C.hash(alg, &[b"not the previous entry"]).ctx("hash")?;
    add(
        g,
        "entry1-wrong-prev-hash",
        "Entry 1 signed by its rightful signer, but its OVEHashPrevEntry does not hash entry 0.",
        "§5.2 step 7 (OVEHashPrevEntry)",
        with_entries(&w, &[e0.clone(), resign(p, &w.reseller)?]),
        true,
        "verify.entry-prev-hash[1]",
    );
    let mut p = e0.payload().clone();
    p.header_info_hash = C
        .hash(alg, &[&[0x77; 16], DEVICE_INFO.as_bytes()])
        .ctx("hash")?;
    add(
        g,
        "entry0-wrong-header-info-hash",
        "Entry 0 signed by the manufacturer, but its OVEHashHdrInfo hashes another GUID.",
        "§5.2 step 7 (OVEHashHdrInfo)",
        with_entries(&w, &[resign(p, &w.mfg)?, e1.clone()]),
        true,
        "verify.entry-header-info-hash[0]",
    );
    // Pitfall 14: entry 0 hashes the header bstr *contents*; entry i > 0 the tagged entry.
    let mut wrapped = Encoder::new();
    wrapped.bytes(&hdr);
    let mut p = e0.payload().clone();
    p.prev_entry_hash = C
        .hash(alg, &[&wrapped.into_bytes(), &w.voucher.hmac().to_cbor()])
        .ctx("hash")?;
    g.add("entry0-prev-hash-over-bstr-header", "Entry 0's OVEHashPrevEntry computed over the header byte string with its length prefix (not its contents).", peer("§6 pitfall 14", "go-fdo"), Kind::Voucher, inputs(&with_entries(&w, &[resign(p, &w.mfg)?]), true), fail(invalid, "verify.entry-prev-hash[0]"));
    let mut p = e1.payload().clone();
    p.prev_entry_hash = C
        .hash(alg, &[e0.sign1().bytes().get(1..).ctx("untag")?])
        .ctx("hash")?;
    g.add(
        "entry1-prev-hash-untagged",
        "Entry 1's OVEHashPrevEntry computed over entry 0 without its 0xd2 tag.",
        peer("§6 pitfall 14", "go-fdo"),
        Kind::Voucher,
        inputs(
            &with_entries(&w, &[e0.clone(), resign(p, &w.reseller)?]),
            true,
        ),
        fail(invalid, "verify.entry-prev-hash[1]"),
    );
    let p384 = SigningKey::generate(
        PkType::SECP384R1,
        &mut SeededRng::new(b"vouch vectors P-384 stranger"),
    )
    .ctx("key")?;
    let mut p = e0.payload().clone();
    p.public_key = Raw::new(p384.public_key(PkEnc::X509).ctx("key")?);
    add(
        g,
        "entry0-key-other-curve",
        "Entry 0 names a P-384 key in a P-256 voucher.",
        "§3 (every entry key has OVPubKey's type)",
        with_entries(&w, &[resign(p, &w.mfg)?]),
        true,
        "verify.entry-key-type[0]",
    );
    let mut p = e0.payload().clone();
    p.public_key = Raw::new(w.reseller.public_key(PkEnc::COSEKEY).ctx("key")?);
    add(
        g,
        "entry0-key-other-encoding",
        "Entry 0 names its key as COSEKEY in an X509 voucher.",
        "§3 (every entry key has OVPubKey's encoding)",
        with_entries(&w, &[resign(p, &w.mfg)?]),
        true,
        "verify.entry-key-type[0]",
    );
    let mut p = e1.payload().clone();
    p.prev_entry_hash = C.hash(HashAlg::SHA384, &[e0.sign1().bytes()]).ctx("hash")?;
    add(
        g,
        "entry1-sha384-in-sha256-chain",
        "Entry 1 hashes with SHA-384 in a SHA-256 chain.",
        "§3 (one hash type for the chain)",
        with_entries(&w, &[e0.clone(), resign(p, &w.reseller)?]),
        true,
        "verify.entry-hash-type[1]",
    );
    add(
        g,
        "entry0-signed-by-its-own-key",
        "Entry 0 signed by the key it names instead of the manufacturer's.",
        "§5.2 step 7 (signature)",
        with_entries(
            &w,
            &[resign(e0.payload().clone(), &w.reseller)?, e1.clone()],
        ),
        true,
        "verify.entry-signature[0]",
    );

    // Structure.
    let body = ErrorCode::MESSAGE_BODY_ERROR;
    g.add(
        "truncated",
        "The voucher without its last byte.",
        reference("§3"),
        Kind::Voucher,
        inputs(bytes.get(..bytes.len() - 1).ctx("cut")?, true),
        fail(body, "decode"),
    );
    let mut long = bytes.clone();
    long.push(0);
    g.add(
        "trailing-byte",
        "The voucher followed by one more byte.",
        reference("§3"),
        Kind::Voucher,
        inputs(&long, true),
        fail(body, "decode"),
    );
    Ok(())
}
