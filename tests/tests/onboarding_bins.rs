//! The real binaries, on loopback: `vouch-device di` → TO0 → `vouch-device onboard` (TO1, TO2)
//! against `vouch-rp serve`, with all roles in one process, and again with each role in a
//! process (and a database) of its own.
//!
//! The binaries are the workspace's own, next to this test's executable (`cargo test
//! --workspace` builds them before any test runs). Every server listens on 127.0.0.1 on a port
//! the kernel picks, which it prints on start; the test stops it at the end.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use vouch_protocol::credential::DeviceCredential;
use vouch_protocol::voucher::OwnershipVoucher;

/// A workspace binary, built by `cargo test --workspace` next to the test executables.
fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: build the workspace's binaries first (cargo test --workspace builds them)",
        path.display()
    );
    path
}

/// A server process, killed when dropped (also when an assertion fails).
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `vouch-rp serve` with `args` and waits for the line naming its address.
fn serve(args: &[&str]) -> Server {
    let mut child = Command::new(bin("vouch-rp"))
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("vouch-rp serve starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("vouch-rp serve prints its address");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    Server { child, url }
}

fn run(bin_name: &str, args: &[&str]) -> Output {
    let out = Command::new(bin(bin_name))
        .args(args)
        .output()
        .expect("binary runs");
    eprintln!(
        "$ {bin_name} {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn ok(bin_name: &str, args: &[&str]) -> String {
    let out = run(bin_name, args);
    assert!(
        out.status.success(),
        "{bin_name} {args:?} failed with {}",
        out.status
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn credential(path: &Path) -> DeviceCredential {
    let bytes = std::fs::read(path).expect("credential file");
    DeviceCredential::from_any(&bytes).expect("credential parses")
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn stored_voucher(database: &Path, guid: &str) -> OwnershipVoucher {
    let out = ok(
        "vouch-rp",
        &[
            "voucher",
            "export",
            "--database",
            &s(database),
            "--guid",
            guid,
        ],
    );
    OwnershipVoucher::from_pem(&out).expect("exported voucher parses")
}

#[test]
fn all_roles_in_one_process() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("rp");
    let dc = dir.path().join("device/credential.cbor");
    let key = dir.path().join("device/key.pem");
    let rp = serve(&["--database", &s(&db), "--roles", "all"]);

    ok(
        "vouch-device",
        &[
            "di",
            "--manufacturer",
            &rp.url,
            "--credential",
            &s(&dc),
            "--key",
            &s(&key),
            "--serial",
            "loopback-1",
        ],
    );
    let before = credential(&dc);
    // The all-in-one server extended the voucher to its owner key as DI ended.
    let voucher = stored_voucher(&db, &before.guid.to_string());
    assert_eq!(voucher.entries().len(), 1);

    ok(
        "vouch-device",
        &["onboard", "--credential", &s(&dc), "--key", &s(&key)],
    );
    let after = credential(&dc);
    assert_ne!(after.guid, before.guid, "TO2 gave the device a new GUID");
    // The owner replaced its voucher: the new one is for the new GUID, and the device's HMAC
    // secret (unchanged) verifies its header.
    let replaced = stored_voucher(&db, &after.guid.to_string());
    replaced
        .verify(&vouch_protocol::crypto::RustCrypto, None, Some(&after))
        .expect("the owner's new voucher verifies against the new credential");
    let old = run(
        "vouch-rp",
        &[
            "voucher",
            "export",
            "--database",
            &s(&db),
            "--guid",
            &before.guid.to_string(),
        ],
    );
    assert!(!old.status.success(), "the old GUID's voucher is gone");
    drop(rp);
}

#[test]
fn each_role_in_its_own_process() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let rv_db = dir.path().join("rendezvous");
    let owner_db = dir.path().join("owner");
    let mfg_db = dir.path().join("manufacturer");
    let dc = dir.path().join("device/credential.cbor");
    let key = dir.path().join("device/key.pem");
    let owner_pub = dir.path().join("owner-p256.pem");

    let rv = serve(&["--database", &s(&rv_db), "--roles", "rendezvous"]);
    let owner = serve(&[
        "--database",
        &s(&owner_db),
        "--roles",
        "owner",
        "--rendezvous-url",
        &rv.url,
        "--to0-interval",
        "1",
    ]);
    ok(
        "vouch-rp",
        &[
            "key",
            "export",
            "--database",
            &s(&owner_db),
            "--name",
            "owner-p256",
            "--out",
            &s(&owner_pub),
        ],
    );
    let mfg = serve(&[
        "--database",
        &s(&mfg_db),
        "--roles",
        "manufacturer",
        "--rendezvous-url",
        &rv.url,
        "--extend-to",
        &s(&owner_pub),
    ]);

    ok(
        "vouch-device",
        &[
            "di",
            "--manufacturer",
            &mfg.url,
            "--credential",
            &s(&dc),
            "--key",
            &s(&key),
        ],
    );
    let before = credential(&dc);
    let guid = before.guid.to_string();

    // The voucher goes from the manufacturer to the owner as a file.
    let file = dir.path().join("voucher.pem");
    ok(
        "vouch-rp",
        &[
            "voucher",
            "export",
            "--database",
            &s(&mfg_db),
            "--guid",
            &guid,
            "--out",
            &s(&file),
        ],
    );
    ok(
        "vouch-rp",
        &["voucher", "import", "--database", &s(&owner_db), &s(&file)],
    );
    drop(mfg);

    // The owner's TO0 loop registers it within a second or two; the device retries TO1 with
    // back-off until the rendezvous server knows it.
    ok(
        "vouch-device",
        &[
            "onboard",
            "--credential",
            &s(&dc),
            "--key",
            &s(&key),
            "--max-rounds",
            "8",
        ],
    );
    let after = credential(&dc);
    assert_ne!(after.guid, before.guid);
    let replaced = stored_voucher(&owner_db, &after.guid.to_string());
    replaced
        .verify(&vouch_protocol::crypto::RustCrypto, None, Some(&after))
        .expect("the owner's new voucher verifies against the new credential");
    drop(owner);
    drop(rv);
}

#[test]
fn onboarding_an_unknown_device_fails_and_keeps_the_credential() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mfg_db = dir.path().join("manufacturer");
    let rv_db = dir.path().join("rendezvous");
    let dc = dir.path().join("device/credential.cbor");
    let key = dir.path().join("device/key.pem");
    let rv = serve(&["--database", &s(&rv_db), "--roles", "rendezvous"]);
    // A manufacturer with no next owner: the voucher stays with it, nobody registers it.
    let mfg = serve(&[
        "--database",
        &s(&mfg_db),
        "--roles",
        "manufacturer",
        "--rendezvous-url",
        &rv.url,
    ]);
    ok(
        "vouch-device",
        &[
            "di",
            "--manufacturer",
            &mfg.url,
            "--credential",
            &s(&dc),
            "--key",
            &s(&key),
        ],
    );
    let before = std::fs::read(&dc).expect("credential");
    let out = run(
        "vouch-device",
        &[
            "onboard",
            "--credential",
            &s(&dc),
            "--key",
            &s(&key),
            "--max-rounds",
            "1",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a refusal by the servers exits 1"
    );
    assert_eq!(
        std::fs::read(&dc).expect("credential"),
        before,
        "credential unchanged"
    );
    drop(mfg);
    drop(rv);
}
