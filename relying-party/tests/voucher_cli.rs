//! `vouch-rp voucher …` as a user runs it: exit codes, what it prints, files it writes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors/external")
}

fn vouch_rp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vouch-rp"))
        .args(args)
        .output()
        .expect("vouch-rp runs")
}

fn path(rel: &str) -> String {
    vectors().join(rel).to_string_lossy().into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vouch-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn inspect_prints_the_summary() {
    let out = vouch_rp(&[
        "voucher",
        "inspect",
        &path("go-fdo/testdata/ov_extended.pem"),
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for want in [
        "GUID              f1d0fd0066bd4ef392bc1b7c393fbe18",
        "I am a virtual FIDO Alliance device!",
        "RVDevPort=7777",
        "manufacturer key  RSA2048RESTR/X509",
        "entries           6",
        "[5] signed RS256",
        "3 certificates, hash SHA-256:",
        "owner key",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

#[test]
fn verify_exits_zero_and_checks_the_hmac_with_a_credential() {
    let out = vouch_rp(&[
        "voucher",
        "verify",
        &path("go-fdo/testdata/ov.pem"),
        "--device-credential",
        &path("go-fdo/testdata/dc.bin"),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("header HMAC checked"));
}

#[test]
fn verify_exits_one_naming_the_failed_check() {
    // the fdo-rs credential does not belong to go-fdo's ov_extended voucher
    let out = vouch_rp(&[
        "voucher",
        "verify",
        &path("go-fdo/testdata/ov_extended.pem"),
        "--device-secret",
        "00112233",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("header HMAC does not match"), "{err}");

    // a flipped byte in an entry signature of a raw CBOR copy
    let dir = scratch("tamper");
    let pem = std::fs::read(vectors().join("go-fdo/testdata/ov_extended.pem")).unwrap();
    let mut cbor = pem::parse(&pem).unwrap().into_contents();
    let n = cbor.len();
    cbor[n - 10] ^= 0x80; // inside the last entry's signature
    let file = dir.join("tampered.cbor");
    std::fs::write(&file, &cbor).unwrap();
    let out = vouch_rp(&["voucher", "verify", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("entry 5 signature"), "{err}");
}

#[test]
fn unreadable_input_exits_two_with_a_message() {
    let dir = scratch("garbage");
    let file = dir.join("garbage.pem");
    std::fs::write(&file, b"not a voucher").unwrap();
    let out = vouch_rp(&["voucher", "inspect", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an ownership voucher"));
}

#[test]
fn extend_writes_pem_and_cbor_that_verify() {
    let dir = scratch("extend");
    let pem_out = dir.join("to-owner.pem");
    let out = vouch_rp(&[
        "voucher",
        "extend",
        &path("fdo-rs/generated/ov-0entries.pem"),
        "--owner-key",
        &path("fdo-rs/generated/keys/manufacturer_key.der"),
        "--next-owner",
        &path("fdo-rs/generated/keys/owner_cert.pem"),
        "--out",
        pem_out.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read_to_string(&pem_out)
            .unwrap()
            .starts_with("-----BEGIN OWNERSHIP VOUCHER-----")
    );

    // and again, as the new owner, to raw CBOR
    let cbor_out = dir.join("next.cbor");
    let out = vouch_rp(&[
        "voucher",
        "extend",
        pem_out.to_str().unwrap(),
        "--owner-key",
        &path("fdo-rs/generated/keys/owner_key.der"),
        "--next-owner",
        &path("fdo-rs/generated/keys/device_ca_cert.pem"),
        "--format",
        "cbor",
        "--out",
        cbor_out.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&cbor_out).unwrap()[0], 0x85);
    let out = vouch_rp(&[
        "voucher",
        "verify",
        cbor_out.to_str().unwrap(),
        "--device-credential",
        &path("fdo-rs/generated/dc.bin"),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 entries"));

    // the manufacturer is no longer the owner: extending again with its key fails
    let out = vouch_rp(&[
        "voucher",
        "extend",
        cbor_out.to_str().unwrap(),
        "--owner-key",
        &path("fdo-rs/generated/keys/manufacturer_key.der"),
        "--next-owner",
        &path("fdo-rs/generated/keys/owner_cert.pem"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not the voucher's owner key"));
    std::fs::remove_dir_all(dir).unwrap();
}
