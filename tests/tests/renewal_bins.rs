//! Certificate renewal with the real binaries on loopback: `vouch-rp serve` with an owner CA
//! onboards `vouch-device` (DI, TO1, TO2 with `vouch.tls`), then `vouch-device renew` gets a
//! fresh TLS key certified with a request signed by the attestation key. The owner's pin
//! (`vouch-rp pins export`) must name the new key the device wrote, and `vouch-device serve`
//! with the renewed files must be reachable through a client that trusts only the owner CA and
//! checks the name, and through the new pin but not the old one.
//!
//! The binaries are the workspace's own, next to this test's executable (build them first:
//! `cargo build -p vouch-relying-party -p vouch-authenticator`). Every server listens on
//! 127.0.0.1 on a port the kernel picks, which it prints on start, and is stopped when the
//! test ends.

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use der::{Decode as _, Encode as _};
use rcgen::{KeyPair, PublicKeyData as _};
use sha2::{Digest as _, Sha256};
use vouch_authenticator::page::PAGE_MARKER;
use vouch_relying_party::pinning::{ca_client, pinned_client};

/// The device's name, under the owner's zone.
const DEVICE: &str = "dev1.home.arpa";
const ZONE: &str = "home.arpa";
const CIDR: &str = "127.0.0.0/8";

/// A workspace binary, next to the test executables.
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
        "{} is missing: build the binaries first (cargo build -p vouch-relying-party -p \
         vouch-authenticator)",
        path.display()
    );
    path
}

fn s(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn run(bin_name: &str, args: &[&str]) -> Output {
    let out = Command::new(bin(bin_name))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{bin_name} does not run: {e}"));
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

/// A server process, killed when dropped (also when an assertion fails).
struct Server {
    child: Child,
    /// The URL it printed on start.
    url: String,
}

impl Server {
    /// Starts `bin_name` with `args` and waits for the line naming its address, which starts
    /// with `scheme`.
    fn start(bin_name: &str, args: &[&str], scheme: &str) -> Self {
        let mut child = Command::new(bin(bin_name))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{bin_name} does not start: {e}"));
        let stdout = child.stdout.take().expect("stdout piped");
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let url = line
            .split_whitespace()
            .find(|word| word.starts_with(scheme))
            .map(str::to_owned);
        let Some(url) = url else {
            let _ = child.kill();
            let status = child.wait();
            panic!(
                "{bin_name} {args:?} printed no {scheme} address ({read:?}, {line:?}; {status:?})"
            );
        };
        Self { child, url }
    }

    /// The address it listens on, from the URL it printed.
    fn addr(&self) -> SocketAddr {
        let authority = self
            .url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("no address in {}", self.url));
        authority
            .parse()
            .unwrap_or_else(|e| panic!("{authority}: {e}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The DER certificates of a PEM file, in order.
fn certificates(path: &Path) -> Vec<Vec<u8>> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    pem::parse_many(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .filter(|block| block.tag() == "CERTIFICATE")
        .map(pem::Pem::into_contents)
        .collect()
}

/// SHA-256 of the SubjectPublicKeyInfo of the key in a PEM key file.
fn key_pin(path: &Path) -> [u8; 32] {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let key = KeyPair::from_pem(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Sha256::digest(key.subject_public_key_info()).into()
}

/// SHA-256 of a DER certificate's SubjectPublicKeyInfo.
fn cert_pin(der: &[u8]) -> [u8; 32] {
    let cert = x509_cert::Certificate::from_der(der).expect("a DER certificate");
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .expect("SPKI re-encodes");
    Sha256::digest(&spki).into()
}

/// The owner's pins as `vouch-rp pins export --format spki-list` writes them.
fn owner_pins(db: &Path) -> String {
    ok(
        "vouch-rp",
        &[
            "pins",
            "export",
            "--database",
            &s(db),
            "--format",
            "spki-list",
        ],
    )
    .trim()
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vouch_device_renew_moves_the_pin_to_a_fresh_key_that_serves_under_the_owner_ca() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("relying-party");
    let device = dir.path().join("device");
    let credential = device.join("credential.cbor");
    let attestation_key = device.join("attestation-key.pem");
    let tls_cert = device.join("tls-cert.pem");
    let tls_key = device.join("tls-key.pem");

    ok(
        "vouch-rp",
        &[
            "ca",
            "init",
            "--database",
            &s(&db),
            "--zone",
            ZONE,
            "--cidr",
            CIDR,
        ],
    );
    let owner_ca_der = pem::parse(ok(
        "vouch-rp",
        &["ca", "export", "--database", &s(&db), "--format", "pem"],
    ))
    .expect("the owner CA as PEM")
    .into_contents();
    let rp = Server::start(
        "vouch-rp",
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            &s(&db),
            "--roles",
            "all",
        ],
        "http://",
    );
    ok(
        "vouch-device",
        &[
            "di",
            "--manufacturer",
            &rp.url,
            "--credential",
            &s(&credential),
            "--key",
            &s(&attestation_key),
        ],
    );
    ok(
        "vouch-device",
        &[
            "onboard",
            "--credential",
            &s(&credential),
            "--key",
            &s(&attestation_key),
            "--tls-name",
            DEVICE,
        ],
    );
    let old_pin = key_pin(&tls_key);
    assert_eq!(owner_pins(&db), BASE64.encode(old_pin), "the pin after TO2");
    let old_chain = certificates(&tls_cert);

    // The owner's URL comes from the file onboarding wrote beside the credential.
    let out = ok(
        "vouch-device",
        &[
            "renew",
            "--credential",
            &s(&credential),
            "--key",
            &s(&attestation_key),
        ],
    );
    assert!(out.contains("certificate renewed"), "{out}");

    // A new key, and the owner's pin is its SPKI hash.
    let new_pin = key_pin(&tls_key);
    assert_ne!(new_pin, old_pin, "renew wrote a fresh key");
    assert_eq!(
        owner_pins(&db),
        BASE64.encode(new_pin),
        "the pin after renewal"
    );
    assert!(out.contains(&hex(&new_pin)), "{out}");
    // The chain: a new leaf for the new key, then the owner CA.
    let chain = certificates(&tls_cert);
    assert_eq!(chain.len(), 2);
    assert_ne!(chain[0], old_chain[0]);
    assert_eq!(cert_pin(&chain[0]), new_pin);
    assert_eq!(chain[1], owner_ca_der);

    // The device page with the renewed files, by name through the owner CA alone.
    let page = Server::start(
        "vouch-device",
        &[
            "serve",
            "--cert",
            &s(&tls_cert),
            "--key",
            &s(&tls_key),
            "--listen",
            "127.0.0.1:0",
        ],
        "https://",
    );
    let addr = page.addr();
    let by_ca = ca_client(&owner_ca_der, &[(DEVICE.to_string(), addr)]).expect("CA client");
    let url = format!("https://{DEVICE}:{}/", addr.port());
    let response = by_ca
        .get(&url)
        .send()
        .await
        .expect("reached through the CA");
    assert_eq!(response.status().as_u16(), 200);
    let body = response.text().await.expect("the page");
    assert!(body.contains(PAGE_MARKER), "{body}");

    // Through the pins: the new one reaches the page, the old one no longer does.
    let page_url = format!("https://127.0.0.1:{}/", addr.port());
    let response = pinned_client(new_pin)
        .expect("pinned client")
        .get(&page_url)
        .send()
        .await
        .expect("reached through the new pin");
    assert_eq!(response.status().as_u16(), 200);
    let refused = pinned_client(old_pin)
        .expect("pinned client")
        .get(&page_url)
        .send()
        .await;
    assert!(refused.is_err(), "the old pin still reaches the device");

    // A request signed by another attestation key is refused (exit 1) and changes nothing.
    let stranger = dir.path().join("stranger-key.pem");
    fs::write(
        &stranger,
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .expect("a key")
            .serialize_pem(),
    )
    .expect("key file");
    let key_before = fs::read(&tls_key).expect("key file");
    let out = run(
        "vouch-device",
        &[
            "renew",
            "--credential",
            &s(&credential),
            "--key",
            &s(&stranger),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "refused by the owner");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("403"),
        "the owner's refusal is shown"
    );
    assert_eq!(fs::read(&tls_key).expect("key file"), key_before);
    assert_eq!(owner_pins(&db), BASE64.encode(new_pin));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
