//! `vouch-rp ca …` as a user runs it: exit codes, what it prints, files it writes.

use std::process::{Command, Output};

use base64::Engine as _;
use sha2::Digest as _;

fn vouch_rp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vouch-rp"))
        .args(args)
        .output()
        .expect("vouch-rp runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The certificate DER of a PEM file's only CERTIFICATE block.
fn pem_der(pem_text: &str) -> Vec<u8> {
    let pem = pem::parse(pem_text).unwrap();
    assert_eq!(pem.tag(), "CERTIFICATE");
    pem.contents().to_vec()
}

fn export_pem(db: &str) -> String {
    let out = vouch_rp(&["ca", "export", "--database", db, "--format", "pem"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn init_show_export_and_refuse_to_replace() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let db = db.to_str().unwrap();

    let out = vouch_rp(&[
        "ca",
        "init",
        "--database",
        db,
        "--zone",
        "home.arpa",
        "--cidr",
        "192.168.0.0/16",
        "--cidr",
        "127.0.0.0/8",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let init = text(&out.stdout);
    assert!(init.contains("zone        home.arpa"), "{init}");

    let pem_text = export_pem(db);
    assert!(!pem_text.contains("PRIVATE KEY"));
    let der = pem_der(&pem_text);
    let sha = hex::encode(sha2::Sha256::digest(&der));

    // Again without --replace: exit 2, a clear message, the CA unchanged.
    let out = vouch_rp(&["ca", "init", "--database", db, "--zone", "other.example"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("already stored"), "{err}");
    assert!(err.contains("--replace"), "{err}");
    assert_eq!(export_pem(db), pem_text);

    // show: zone, ranges, validity, SHA-256 of the certificate.
    let out = vouch_rp(&["ca", "show", "--database", db]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let show = text(&out.stdout);
    for want in [
        "zone        home.arpa".to_string(),
        "ranges      192.168.0.0/16, 127.0.0.0/8".to_string(),
        "not before  ".to_string(),
        "not after   ".to_string(),
        format!("sha-256     {sha}"),
    ] {
        assert!(show.contains(&want), "missing {want:?} in\n{show}");
    }

    // export --format chromium-policy --out FILE.
    let policy_file = dir.path().join("vouch-owner-ca.json");
    let out = vouch_rp(&[
        "ca",
        "export",
        "--database",
        db,
        "--format",
        "chromium-policy",
        "--out",
        policy_file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let policy: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&policy_file).unwrap()).unwrap();
    let entry = &policy["CACertificatesWithConstraints"][0];
    let cert = base64::engine::general_purpose::STANDARD
        .decode(entry["certificate"].as_str().unwrap())
        .unwrap();
    assert_eq!(cert, der);
    assert_eq!(
        entry["constraints"],
        serde_json::json!({
            "permitted_dns_names": ["home.arpa"],
            "permitted_cidrs": ["192.168.0.0/16", "127.0.0.0/8"],
        })
    );

    // --replace makes a new CA.
    let out = vouch_rp(&[
        "ca",
        "init",
        "--database",
        db,
        "--zone",
        "lan.example",
        "--replace",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let replaced = export_pem(db);
    assert_ne!(replaced, pem_text);
    let out = vouch_rp(&["ca", "show", "--database", db]);
    assert!(text(&out.stdout).contains("zone        lan.example"));
}

#[test]
fn show_and_export_without_a_ca_fail_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    for args in [
        &["ca", "show", "--database"][..],
        &["ca", "export", "--database"][..],
    ] {
        let mut args = args.to_vec();
        args.push(db.to_str().unwrap());
        let out = vouch_rp(&args);
        assert_eq!(out.status.code(), Some(2));
        assert!(text(&out.stderr).contains("vouch-rp ca init"));
    }
}

#[test]
fn init_refuses_a_range_with_host_bits() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let out = vouch_rp(&[
        "ca",
        "init",
        "--database",
        db.to_str().unwrap(),
        "--zone",
        "home.arpa",
        "--cidr",
        "192.168.1.1/24",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("192.168.1.0/24"));
    // Nothing was stored.
    let out = vouch_rp(&["ca", "show", "--database", db.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no owner CA is stored"));
}
