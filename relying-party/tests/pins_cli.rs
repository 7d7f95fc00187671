//! `vouch-rp pins …` as a user runs it: what it prints for people and for Chromium.

use std::process::{Command, Output};

use base64::Engine as _;
use vouch_protocol::types::Guid;
use vouch_relying_party::store::{Pin, SqliteStore, Store};

fn vouch_rp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vouch-rp"))
        .args(args)
        .output()
        .expect("vouch-rp runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn pin(seed: u8) -> Pin {
    Pin {
        guid: Guid([seed; 16]),
        spki_sha256: [seed; 32],
        cert_der: vec![0x30, 0x03, 0x02, 0x01, seed],
        dns_names: vec![format!("d{seed}.home.arpa")],
        ips: vec!["192.168.1.7".parse().unwrap()],
        webtransport_sha256: (seed == 2).then_some([0xab; 32]),
    }
}

#[tokio::test]
async fn list_and_export_the_pins() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    {
        let store = SqliteStore::open_dir(&db).await.unwrap();
        store.upsert_pin(&pin(2), 20).await.unwrap();
        store.upsert_pin(&pin(1), 10).await.unwrap();
        store.close().await;
    }
    let db = db.to_str().unwrap();

    let out = vouch_rp(&["pins", "list", "--database", db]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    let b64 = |seed: u8| base64::engine::general_purpose::STANDARD.encode([seed; 32]);
    for seed in [1, 2] {
        assert!(listing.contains(&Guid([seed; 16]).to_string()), "{listing}");
        assert!(listing.contains(&b64(seed)), "{listing}");
        assert!(
            listing.contains(&format!("d{seed}.home.arpa, 192.168.1.7")),
            "{listing}"
        );
    }
    assert!(listing.contains(&"ab".repeat(32)), "{listing}");

    // The default format is Chromium's SPKI list, in GUID order.
    let out = vouch_rp(&["pins", "export", "--database", db]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{},{}\n", b64(1), b64(2)));

    let file = dir.path().join("devices.pem");
    let out = vouch_rp(&[
        "pins",
        "export",
        "--database",
        db,
        "--format",
        "pem",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let blocks = pem::parse_many(std::fs::read(&file).unwrap()).unwrap();
    let ders: Vec<Vec<u8>> = blocks.iter().map(|b| b.contents().to_vec()).collect();
    assert_eq!(ders, [pin(1).cert_der, pin(2).cert_der]);
}

#[test]
fn an_empty_database_lists_nothing_and_exports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let db = db.to_str().unwrap();
    let out = vouch_rp(&["pins", "list", "--database", db]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("no pins in "));
    let out = vouch_rp(&["pins", "export", "--database", db]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("no device has enrolled"),
        "{}",
        text(&out.stderr)
    );
    let out = vouch_rp(&["pins", "export", "--database", db, "--format", "der"]);
    assert!(!out.status.success());
}
