//! The committed vectors: they all pass, the generator makes them again byte for byte, and a
//! deliberately broken verifier makes exactly the cases that should catch it fail.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use vouch_protocol::Error;
use vouch_protocol::crypto::{CryptoProvider, RustCrypto, SigAlg};
use vouch_protocol::types::{HMac, Hash, HashAlg, PublicKey};
use vouch_vectors::format::{self, Expect, Kind, Manifest};
use vouch_vectors::{Report, run_dir};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors")
}

fn manifests() -> Vec<Manifest> {
    format::load_dir(&vectors())
        .expect("the committed vectors load")
        .into_iter()
        .map(|m| m.manifest)
        .collect()
}

/// The ids of the cases whose expected failure satisfies `pred`.
fn expecting(pred: impl Fn(&str) -> bool) -> BTreeSet<String> {
    manifests()
        .into_iter()
        .flat_map(|m| m.cases)
        .filter(|c| matches!(&c.expect, Expect::Failure { error, .. } if pred(error)))
        .map(|c| c.id)
        .collect()
}

fn run(crypto: &dyn CryptoProvider) -> Report {
    run_dir(&vectors(), None, crypto).expect("the committed vectors load")
}

#[test]
fn every_committed_vector_passes() {
    let report = run(&RustCrypto);
    let failed: Vec<_> = report
        .results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| format!("{}: {}", r.id, r.detail))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(report.results.len() >= 250, "{}", report.results.len());
    for kind in Kind::ALL {
        let n = report.results.iter().filter(|r| r.kind == kind).count();
        assert!(n > 0, "no {kind} cases");
    }
    // Every case runs once, under a unique id.
    let ids: BTreeSet<_> = report.results.iter().map(|r| &r.id).collect();
    assert_eq!(ids.len(), report.results.len());
}

#[test]
fn generate_reproduces_the_committed_files_byte_for_byte() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let written = vouch_vectors::generate::write_all(dir.path()).expect("generate");
    assert!(!written.is_empty());
    let mut seen = BTreeSet::new();
    for (path, _) in &written {
        let rel = path.strip_prefix(dir.path()).expect("under the directory");
        let committed = std::fs::read(vectors().join(rel))
            .unwrap_or_else(|e| panic!("{} is not committed: {e}", rel.display()));
        let fresh = std::fs::read(path).expect("written");
        assert!(
            committed == fresh,
            "{} differs from what generate writes: run `vouch-vectors generate vectors/`",
            rel.display()
        );
        seen.insert(rel.to_path_buf());
    }
    // No committed manifest claims to be generated without the generator writing it.
    for m in format::load_dir(&vectors()).expect("load") {
        if m.manifest.generated {
            let rel = m.path.strip_prefix(vectors()).expect("under vectors/");
            assert!(seen.contains(rel), "{} is stale", rel.display());
        }
    }
}

#[test]
fn the_runner_fails_a_wrong_expectation() {
    // A case whose expectation is wrong must fail: the runner compares, it does not echo.
    let m = manifests()
        .into_iter()
        .find(|m| m.group == "digest")
        .expect("digest group");
    let mut case = m.cases[0].clone();
    if let Expect::Success { fields } = &mut case.expect {
        fields.insert("digest".into(), serde_json::json!("00"));
    }
    let r = vouch_vectors::run::check_case(&case, "digest", &vectors(), &RustCrypto);
    assert!(r.is_err(), "{r:?}");
    // …and a failure expected with another code fails too.
    let mut case = m
        .cases
        .iter()
        .find(|c| matches!(c.expect, Expect::Failure { .. }))
        .expect("a failure case")
        .clone();
    if let Expect::Failure { fdo_error, .. } = &mut case.expect {
        *fdo_error = 101;
    }
    assert!(vouch_vectors::run::check_case(&case, "digest", &vectors(), &RustCrypto).is_err());
}

/// A verifier whose signature verification always succeeds.
struct AcceptsAnySignature;

impl CryptoProvider for AcceptsAnySignature {
    fn hash(&self, alg: HashAlg, parts: &[&[u8]]) -> Result<Hash, Error> {
        RustCrypto.hash(alg, parts)
    }
    fn hmac(&self, alg: HashAlg, key: &[u8], data: &[u8]) -> Result<HMac, Error> {
        RustCrypto.hmac(alg, key, data)
    }
    fn verify(&self, _: &PublicKey, _: SigAlg, _: &[u8], _: &[u8]) -> Result<(), Error> {
        Ok(())
    }
    fn same_key(&self, a: &PublicKey, b: &PublicKey) -> Result<bool, Error> {
        RustCrypto.same_key(a, b)
    }
}

#[test]
fn a_verifier_accepting_any_signature_fails_exactly_the_signature_cases() {
    let failed = run(&AcceptsAnySignature).failed_ids();
    // The `report` kind names its signature failure `signature`; the CSR checks (`csr.*`) do
    // not go through the provider and stay unaffected.
    let mut signature_cases = expecting(|e| {
        e.starts_with("verify.signature(")
            || e.starts_with("verify.entry-signature")
            || e == "signature"
    });
    // The provider also refuses an algorithm that does not suit the key; accepting anything
    // skips that too.
    signature_cases.insert("cose/sign1-es256-key-of-other-curve".into());
    signature_cases.insert("cose/sign1-es384-key-of-other-curve".into());
    for named in [
        "voucher/entry0-signature-flipped",
        "voucher/entries-swapped",
        "to2-device/prove-ovhdr-signature-flipped",
        "to2-device/to1d-signed-by-stranger",
        "to2-device/setup-device-not-signed-by-owner2",
        "to2-owner/prove-device-other-device-key",
        "cose/sign1-es256-signature-flipped",
        "eat/signature-flipped",
        "report/rotation-payload-tampered",
        "report/rotation-other-key",
        "report/renewal-payload-tampered",
        "report/renewal-other-key",
    ] {
        assert!(
            signature_cases.contains(named),
            "{named} is not a signature case"
        );
    }
    assert_eq!(failed, signature_cases);
}

/// A broken HMAC: the key is ignored, so any secret "matches" any other.
struct KeylessHmac;

impl CryptoProvider for KeylessHmac {
    fn hash(&self, alg: HashAlg, parts: &[&[u8]]) -> Result<Hash, Error> {
        RustCrypto.hash(alg, parts)
    }
    fn hmac(&self, alg: HashAlg, _key: &[u8], data: &[u8]) -> Result<HMac, Error> {
        RustCrypto.hmac(alg, b"", data)
    }
    fn verify(&self, key: &PublicKey, alg: SigAlg, msg: &[u8], sig: &[u8]) -> Result<(), Error> {
        RustCrypto.verify(key, alg, msg, sig)
    }
    fn same_key(&self, a: &PublicKey, b: &PublicKey) -> Result<bool, Error> {
        RustCrypto.same_key(a, b)
    }
}

#[test]
fn a_keyless_hmac_fails_the_hmac_cases_and_nothing_that_does_not_use_it() {
    let report = run(&KeylessHmac);
    let failed = report.failed_ids();
    for named in [
        "digest/hmac-sha256-rfc4231-2",
        "digest/hmac-sha384-rfc4231-1",
        "voucher/p256-x509-two-entries-with-secret",
        "voucher/p256-x509-with-credential",
        "external/go-fdo/testdata/ov-with-credential",
        "external/fdo-rs/generated/ov-1entry",
        "to2-device/p256-prove-ov-hdr-0",
    ] {
        assert!(failed.contains(named), "{named} passed with a keyless HMAC");
    }
    // What never computes an HMAC through the provider is unaffected.
    for r in &report.results {
        let untouched = matches!(
            r.kind,
            Kind::Decode
                | Kind::Kdf
                | Kind::Kex
                | Kind::Cose
                | Kind::Eat
                | Kind::Report
                | Kind::Pin
        ) || r.id == "voucher/p256-x509-two-entries";
        assert!(!untouched || r.passed, "{}: {}", r.id, r.detail);
    }
}

/// Flips one bit in the middle of every byte-string input of `case` (a message's body too),
/// one input at a time.
fn mutants(case: &vouch_vectors::Case) -> Vec<vouch_vectors::Case> {
    let flip = |h: &str| -> Option<serde_json::Value> {
        let mut bytes = hex::decode(h).ok()?;
        let mid = bytes.len() / 2;
        *bytes.get_mut(mid)? ^= 0x10;
        Some(format::hex_input(&bytes))
    };
    let mut out = Vec::new();
    for (name, value) in &case.inputs {
        let mutated = if let Some(h) = value.get("hex").and_then(|h| h.as_str()) {
            flip(h)
        } else if let Some(h) = value.pointer("/body/hex").and_then(|h| h.as_str()) {
            flip(h).map(|body| {
                let mut v = value.clone();
                v["body"] = body;
                v
            })
        } else {
            None
        };
        if let Some(v) = mutated {
            let mut m = case.clone();
            m.inputs.insert(name.clone(), v);
            out.push(m);
        }
    }
    out
}

#[test]
fn no_step_panics_on_a_mutated_input() {
    let (mut runs, mut caught) = (0, 0);
    for m in format::load_dir(&vectors()).expect("load") {
        let base = m
            .path
            .parent()
            .expect("a manifest has a directory")
            .to_path_buf();
        for case in &m.manifest.cases {
            for mutant in mutants(case) {
                runs += 1;
                let r =
                    vouch_vectors::run::check_case(&mutant, &m.manifest.group, &base, &RustCrypto);
                caught += usize::from(r.is_err());
                let detail = r.unwrap_or_else(|e| e);
                assert!(!detail.contains("panicked"), "{}: {detail}", case.id);
            }
        }
    }
    // Enough inputs were mutated, and most mutations changed the outcome.
    assert!(runs > 500, "{runs}");
    assert!(caught * 2 > runs, "{caught} of {runs}");
}

#[test]
fn every_case_the_readme_names_exists() {
    let readme = std::fs::read_to_string(vectors().join("README.md")).expect("README");
    let all = manifests();
    let groups: BTreeSet<String> = all.iter().map(|m| m.group.clone()).collect();
    let ids: BTreeSet<String> = all
        .into_iter()
        .flat_map(|m| m.cases)
        .map(|c| c.id)
        .collect();
    let mut checked = 0;
    for token in readme.split('`').skip(1).step_by(2) {
        let Some((group, _)) = token.split_once('/') else {
            continue;
        };
        if !groups.contains(group)
            || token.contains(' ')
            || token.ends_with('/')
            || token.ends_with(".json")
            || token.ends_with(".md")
        {
            continue;
        }
        // `prefix-*` names every case starting with the prefix; there must be one.
        let found = match token.split_once('*') {
            Some((prefix, _)) => ids.iter().any(|id| id.starts_with(prefix)),
            None => ids.contains(token),
        };
        assert!(found, "README.md names {token}, which is no case");
        checked += 1;
    }
    assert!(checked > 50, "{checked}");
}
