//! `vouch-device show` on the credentials other implementations wrote.

use std::path::Path;
use std::process::Command;

#[test]
fn show_prints_an_fdo_rs_credential_without_its_secrets() {
    let dc =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors/external/go-fdo/testdata/dc.bin");
    // `show` may clean a leftover temporary file beside the credential: work on a copy.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("dc.bin");
    std::fs::copy(&dc, &copy).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vouch-device"))
        .args(["show", "--credential", copy.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("GUID              66b2146ffec53ca6ad017625990572ce"),
        "{text}"
    );
    assert!(text.contains("go.fdo.example"), "{text}");
    assert!(
        text.contains("HMAC secret       held in the credential"),
        "{text}"
    );
    assert!(!text.to_lowercase().contains("private"), "{text}");
}

#[test]
fn show_without_a_credential_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vouch-device"))
        .args([
            "show",
            "--credential",
            dir.path().join("none.cbor").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no device credential yet"));
}
