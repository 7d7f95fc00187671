//! `vouch-rp pins endpoint --webtransport` and `vouch-rp pins export --format webtransport` as a
//! user runs them.

use std::process::{Command, Output};

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

const PINNED: Guid = Guid([1; 16]);
const HASH: [u8; 32] = [0xab; 32];

#[tokio::test]
async fn a_pinned_device_gets_a_webtransport_url_and_the_export_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    {
        let store = SqliteStore::open_dir(&db).await.unwrap();
        store
            .upsert_pin(
                &Pin {
                    guid: PINNED,
                    spki_sha256: [1; 32],
                    cert_der: vec![0x30, 0x00],
                    dns_names: vec!["d1.home.arpa".into()],
                    ips: Vec::new(),
                    webtransport_sha256: Some([0; 32]),
                },
                10,
            )
            .await
            .unwrap();
        store
            .advance_webtransport_pin(PINNED, &HASH, 1_800_000_000)
            .await
            .unwrap();
        store.close().await;
    }
    let db = db.to_str().unwrap();
    let pinned = PINNED.to_string();
    let endpoint = |guid: &str, url: &str| {
        vouch_rp(&[
            "pins",
            "endpoint",
            "--database",
            db,
            "--guid",
            guid,
            "--webtransport",
            url,
        ])
    };

    // Refused: not https, a device without a pin, neither URL given.
    let out = endpoint(&pinned, "http://127.0.0.1:4433/");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("https"), "{}", text(&out.stderr));
    let out = endpoint(&Guid([2; 16]).to_string(), "https://127.0.0.1:4433/");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no pin"),
        "{}",
        text(&out.stderr)
    );
    let out = vouch_rp(&["pins", "endpoint", "--database", db, "--guid", &pinned]);
    assert!(!out.status.success());

    let out = endpoint(&pinned, "https://127.0.0.1:4433");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("serves WebTransport at https://127.0.0.1:4433/"),
        "{}",
        text(&out.stdout)
    );

    let out = vouch_rp(&[
        "pins",
        "export",
        "--database",
        db,
        "--format",
        "webtransport",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json,
        serde_json::json!([{
            "guid": pinned,
            "url": "https://127.0.0.1:4433/",
            "sha256_hex": "ab".repeat(32),
            "sha256_base64": "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=",
            "not_after": 1_800_000_000,
        }])
    );
    // The other formats still work.
    let out = vouch_rp(&["pins", "export", "--database", db]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n"
    );
}
