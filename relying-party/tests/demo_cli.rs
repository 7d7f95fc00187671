//! `vouch-rp demo`, the README's main command, as a newcomer runs it: it onboards a device on
//! loopback, explains each step and exits 0 only when every check held.

use std::process::Command;

#[test]
fn demo_onboards_a_device_and_says_so() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let out = Command::new(env!("CARGO_BIN_EXE_vouch-rp"))
        .args(["demo", "--keep"])
        .arg(dir.path())
        .output()
        .expect("vouch-rp demo runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed ({}):\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "1. The relying party starts",
        "2. Device initialization (DI)",
        "3. The voucher goes to its owner",
        "4. The device finds its owner (TO1) and is onboarded (TO2)",
        "5. What each side now holds",
        "6. The device's own web page, over HTTPS a browser can trust",
        "trusting only the owner CA: the device's page",
        "accepting exactly the pinned key: the device's page",
        "the relying party's proxy reached the device, accepting only its pinned key",
        "Every step held: the device is onboarded and its page is reachable over pinned HTTPS.",
    ] {
        assert!(text.contains(step), "missing {step:?} in:\n{text}");
    }
    // What it says it left behind is there: the device's credential and the server's database.
    assert!(dir.path().join("device/credential.cbor").is_file());
    assert!(dir.path().join("relying-party").is_dir());
}
