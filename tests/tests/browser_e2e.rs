//! The product's promise, with the real binaries and a real headless Chromium: a device that
//! an owner onboards gets a TLS key certified by the owner's CA and pinned by the owner, and
//! a browser then reaches the device's own page by its name,
//!
//! * through the **owner CA**, trusted by Chromium's managed policy exactly as `vouch-rp ca
//!   export --format chromium-policy` writes it, while a certificate for the same name from
//!   another CA (one that even bears the owner CA's name) is refused;
//! * through the **SPKI pin** alone, `vouch-rp pins export --format spki-list` given to
//!   `--ignore-certificate-errors-spki-list` with no policy in force, while another key for
//!   the same name is refused;
//!
//! * through the **pinning proxy** of `vouch-rp serve --device-proxy`, with no trust
//!   configured in the browser at all, until the device's key is swapped: then the proxy
//!   refuses and the browser shows its refusal, not the page;
//! * through the **pins as a policy**, `vouch-rp pins export --format chromium-policy`: the
//!   owner CA trusted for the pinned devices' names only, so a device whose pin the owner
//!   deleted is refused though its certificate is still valid;
//!
//! and a device whose TO2 fails gets neither a pin nor a TLS key.
//!
//! The binaries are the workspace's own, next to this test's executable (build them first:
//! `cargo build -p vouch-relying-party -p vouch-authenticator`). Every server listens on
//! 127.0.0.1 on a port the kernel picks, which it prints on start; Chromium reaches the device
//! by name through its host resolver rules. Every server and browser is stopped when its
//! guard drops, a failed assertion included.

mod browser;

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use browser::{Chromium, ManagedPolicy, resolve_to_loopback};
use der::{Decode as _, Encode as _};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, NameConstraints,
};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use vouch_authenticator::page::PAGE_MARKER;
use vouch_protocol::credential::DeviceCredential;

/// The device's name, under the owner's zone.
const DEVICE: &str = "dev1.home.arpa";
/// The owner's zone, and the address range its CA may certify.
const ZONE: &str = "home.arpa";
const CIDR: &str = "127.0.0.0/8";
/// The device page's title, which the browser must show with the marker.
const TITLE: &str = "Onboarded device dev1";
/// How long a page that should load may take to show its marker.
const SHOW_TIMEOUT: Duration = Duration::from_secs(20);

// --- The binaries ---------------------------------------------------------------------------

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
    /// The URL it printed on start: `http://…` for `vouch-rp`, `https://…/` for `vouch-device`.
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
                "{bin_name} {args:?} printed no {scheme} address ({read:?}, {line:?}; \
                 {status:?})"
            );
        };
        Self { child, url }
    }

    /// `vouch-rp serve` on a port the kernel picks.
    fn relying_party(args: &[&str]) -> Self {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        Self::start("vouch-rp", &all, "http://")
    }

    /// `vouch-device serve`: the device's page over HTTPS with `cert` and `key`, on a port the
    /// kernel picks.
    fn device_page(cert: &Path, key: &Path) -> Self {
        Self::start(
            "vouch-device",
            &[
                "serve",
                "--cert",
                &s(cert),
                "--key",
                &s(key),
                "--listen",
                "127.0.0.1:0",
                "--title",
                TITLE,
            ],
            "https://",
        )
    }

    /// The device page's URL by `name` rather than by address.
    fn url_by_name(&self, name: &str) -> String {
        let port = self
            .url
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .and_then(|port| port.parse::<u16>().ok())
            .unwrap_or_else(|| panic!("no port in {}", self.url));
        format!("https://{name}:{port}/")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// --- Certificates from elsewhere -----------------------------------------------------------

/// A validity any browser accepts: from yesterday, for `days`.
fn validity(params: &mut CertificateParams, days: i64) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(days);
}

/// A CA the browser was never told about, bearing `common_name`, constrained to `ZONE` as the
/// owner's is.
struct OtherCa {
    issuer: Issuer<'static, KeyPair>,
}

impl OtherCa {
    fn new(common_name: &str) -> Self {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.name_constraints = Some(NameConstraints {
            permitted_subtrees: vec![GeneralSubtree::DnsName(ZONE.to_owned())],
            excluded_subtrees: Vec::new(),
        });
        validity(&mut params, 365);
        Self {
            issuer: Issuer::new(params, key),
        }
    }

    /// A P-256 certificate for `name` and its key, written as PEM files into `dir`.
    fn issue_into(&self, name: &str, dir: &Path) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, 30);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        fs::create_dir_all(dir).unwrap();
        let (cert_path, key_path) = (dir.join("tls-cert.pem"), dir.join("tls-key.pem"));
        fs::write(&cert_path, cert.pem()).unwrap();
        fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }
}

/// The DER of the first certificate in a PEM file.
fn first_cert_der(path: &Path) -> Vec<u8> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let blocks = pem::parse_many(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let first = blocks
        .into_iter()
        .find(|block| block.tag() == "CERTIFICATE")
        .unwrap_or_else(|| panic!("{} holds no certificate", path.display()));
    first.into_contents()
}

/// Base64 of the SHA-256 of a certificate's DER SubjectPublicKeyInfo: what Chromium's
/// `--ignore-certificate-errors-spki-list` takes.
fn spki_pin(cert_der: &[u8]) -> String {
    let cert = x509_cert::Certificate::from_der(cert_der).unwrap();
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap();
    BASE64.encode(Sha256::digest(&spki))
}

/// A certificate's subject common name.
fn common_name(cert_der: &[u8]) -> String {
    let cert = x509_cert::Certificate::from_der(cert_der).unwrap();
    cert.tbs_certificate()
        .subject()
        .common_name()
        .unwrap()
        .map(String::from)
        .expect("a common name")
}

// --- What the browser shows ----------------------------------------------------------------

/// Opens `url` and asserts that the device page shows, with its title.
async fn assert_shown(browser: &mut Chromium, url: &str) {
    let tab = browser.open(url).await;
    assert_eq!(
        tab.navigation_error,
        None,
        "{url} did not load\nbrowser log:\n{}",
        browser.log()
    );
    let text = match browser.wait_for_text(&tab, PAGE_MARKER, SHOW_TIMEOUT).await {
        Ok(text) => text,
        Err(last) => panic!("{url} never showed the device page; it showed:\n{last}"),
    };
    assert!(text.contains(TITLE), "{url} showed another page:\n{text}");
}

/// Opens `url` and asserts that Chromium refused it for its certificate: the navigation ends
/// in a certificate error, whose error page shows, and the device page never does.
async fn assert_refused(browser: &mut Chromium, url: &str) {
    let tab = browser.open(url).await;
    let error = tab.navigation_error.clone().unwrap_or_default();
    assert!(
        error.starts_with("net::ERR_CERT_"),
        "{url}: expected a certificate error, got {:?}; the page shows:\n{}",
        tab.navigation_error,
        browser.body_text(&tab).await
    );
    let code = error.to_uppercase();
    let text = match browser.wait_for_text(&tab, &code, SHOW_TIMEOUT).await {
        Ok(text) => text,
        Err(last) => panic!("{url}: refused ({error}), but no error page names it:\n{last}"),
    };
    assert!(
        !text.contains(PAGE_MARKER),
        "{url} was refused ({error}) yet shows the device page:\n{text}"
    );
}

// --- The tests -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_reaches_the_onboarded_device_page_through_the_owner_ca_and_through_its_pin() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("relying-party");
    let device = dir.path().join("device");
    let credential = device.join("credential.cbor");
    let attestation_key = device.join("attestation-key.pem");

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
    let rp = Server::relying_party(&["--database", &s(&db), "--roles", "all"]);
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
    // Written beside the credential once the owner has finished.
    let tls_cert = device.join("tls-cert.pem");
    let tls_key = device.join("tls-key.pem");
    let device_cert = first_cert_der(&tls_cert);
    let owner_ca_pem = ok(
        "vouch-rp",
        &["ca", "export", "--database", &s(&db), "--format", "pem"],
    );
    let owner_ca_der = pem::parse(&owner_ca_pem)
        .expect("the owner CA as PEM")
        .into_contents();
    eprintln!("onboarded in {:?}", started.elapsed());

    // The owner CA, by policy. The policy file is vouch-rp's output itself.
    let policy = ManagedPolicy::lock();
    ok(
        "vouch-rp",
        &[
            "ca",
            "export",
            "--database",
            &s(&db),
            "--format",
            "chromium-policy",
            "--out",
            &s(policy.path()),
        ],
    );
    let written: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(policy.path()).expect("the policy file"))
            .expect("the policy is JSON");
    let trusted = &written["CACertificatesWithConstraints"];
    assert_eq!(
        trusted.as_array().map(Vec::len),
        Some(1),
        "one CA in {written}"
    );
    assert_eq!(
        trusted[0]["certificate"].as_str(),
        Some(BASE64.encode(&owner_ca_der).as_str()),
        "the policy trusts the owner CA"
    );
    assert_eq!(
        trusted[0]["constraints"]["permitted_dns_names"],
        serde_json::json!([ZONE])
    );

    let page = Server::device_page(&tls_cert, &tls_key);
    // Declared after the policy, so dropped (killed) before the policy file is removed.
    let mut browser = Chromium::launch(&[resolve_to_loopback(&[DEVICE])]).await;
    assert_shown(&mut browser, &page.url_by_name(DEVICE)).await;
    // The page server again, now with a certificate for the same name from a CA the browser
    // was never told about, that bears the owner CA's name and the same constraints.
    drop(page);
    let impostor_ca = OtherCa::new(&common_name(&owner_ca_der));
    let (impostor_cert, impostor_key) =
        impostor_ca.issue_into(DEVICE, &dir.path().join("impostor"));
    let impostor = Server::device_page(&impostor_cert, &impostor_key);
    assert_refused(&mut browser, &impostor.url_by_name(DEVICE)).await;
    browser.close().await;
    eprintln!("owner CA checked in {:?}", started.elapsed());

    // The pin alone: no test policy is in force while the directory stays locked.
    policy.remove();
    let pins = ok(
        "vouch-rp",
        &[
            "pins",
            "export",
            "--database",
            &s(&db),
            "--format",
            "spki-list",
        ],
    );
    let pins = pins.trim();
    assert_eq!(
        pins,
        spki_pin(&device_cert),
        "the one pin is the key the device wrote"
    );
    let page = Server::device_page(&tls_cert, &tls_key);
    let mut browser = Chromium::launch(&[
        format!("--ignore-certificate-errors-spki-list={pins}"),
        resolve_to_loopback(&[DEVICE]),
    ])
    .await;
    assert_shown(&mut browser, &page.url_by_name(DEVICE)).await;
    assert_refused(&mut browser, &impostor.url_by_name(DEVICE)).await;
    browser.close().await;
    eprintln!("pin checked in {:?}", started.elapsed());

    drop(impostor);
    drop(page);
    drop(policy);
    drop(rp);
}

/// DI and onboarding of one device named `name` in `dir` against `rp`; returns its TLS
/// certificate and key files and its GUID.
fn onboard_named(rp: &Server, dir: &Path, name: &str) -> (PathBuf, PathBuf, String) {
    let credential = dir.join("credential.cbor");
    let key = dir.join("attestation-key.pem");
    ok(
        "vouch-device",
        &[
            "di",
            "--manufacturer",
            &rp.url,
            "--credential",
            &s(&credential),
            "--key",
            &s(&key),
        ],
    );
    ok(
        "vouch-device",
        &[
            "onboard",
            "--credential",
            &s(&credential),
            "--key",
            &s(&key),
            "--tls-name",
            name,
        ],
    );
    let guid = DeviceCredential::from_any(&fs::read(&credential).expect("the credential"))
        .expect("the credential parses")
        .guid
        .to_string();
    (dir.join("tls-cert.pem"), dir.join("tls-key.pem"), guid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pins_policy_trusts_the_owner_ca_for_pinned_devices_only() {
    const OTHER: &str = "dev2.home.arpa";
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("relying-party");
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
    let rp = Server::relying_party(&["--database", &s(&db), "--roles", "all"]);
    let (cert1, key1, _) = onboard_named(&rp, &dir.path().join("dev1"), DEVICE);
    let (cert2, key2, guid2) = onboard_named(&rp, &dir.path().join("dev2"), OTHER);
    // The owner withdraws the second device's pin; its certificate stays valid.
    ok(
        "vouch-rp",
        &["pins", "delete", "--database", &s(&db), "--guid", &guid2],
    );
    let again = run(
        "vouch-rp",
        &["pins", "delete", "--database", &s(&db), "--guid", &guid2],
    );
    assert!(!again.status.success(), "deleting a missing pin fails");

    let policy = ManagedPolicy::lock();
    ok(
        "vouch-rp",
        &[
            "pins",
            "export",
            "--database",
            &s(&db),
            "--format",
            "chromium-policy",
            "--out",
            &s(policy.path()),
        ],
    );
    let written: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(policy.path()).expect("the policy file"))
            .expect("the policy is JSON");
    assert_eq!(
        written["CACertificatesWithConstraints"][0]["constraints"]["permitted_dns_names"],
        serde_json::json!([DEVICE]),
        "only the pinned device's name: {written}"
    );
    let page1 = Server::device_page(&cert1, &key1);
    let page2 = Server::device_page(&cert2, &key2);
    let mut browser = Chromium::launch(&[resolve_to_loopback(&[DEVICE, OTHER])]).await;
    assert_shown(&mut browser, &page1.url_by_name(DEVICE)).await;
    assert_refused(&mut browser, &page2.url_by_name(OTHER)).await;
    browser.close().await;

    // The whole zone's policy trusts the second device's certificate: the refusal above was
    // the deleted pin, not the certificate.
    ok(
        "vouch-rp",
        &[
            "ca",
            "export",
            "--database",
            &s(&db),
            "--format",
            "chromium-policy",
            "--out",
            &s(policy.path()),
        ],
    );
    let mut browser = Chromium::launch(&[resolve_to_loopback(&[DEVICE, OTHER])]).await;
    assert_shown(&mut browser, &page2.url_by_name(OTHER)).await;
    browser.close().await;
    drop(page1);
    drop(page2);
    drop(policy);
    drop(rp);
}

/// A port on 127.0.0.1 that was free a moment ago (so that a server can be restarted on it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `vouch-device serve` with `cert` and `key` on 127.0.0.1:`port`.
fn device_page_on(cert: &Path, key: &Path, port: u16) -> Server {
    let listen = format!("127.0.0.1:{port}");
    Server::start(
        "vouch-device",
        &[
            "serve",
            "--cert",
            &s(cert),
            "--key",
            &s(key),
            "--listen",
            &listen,
            "--title",
            TITLE,
        ],
        "https://",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_reaches_the_device_through_the_pinning_proxy_until_its_key_changes() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("relying-party");
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
    let rp = Server::relying_party(&["--database", &s(&db), "--roles", "all", "--device-proxy"]);
    let (cert, key, guid) = onboard_named(&rp, &dir.path().join("device"), DEVICE);
    let port = free_port();
    let endpoint = format!("https://127.0.0.1:{port}");
    ok(
        "vouch-rp",
        &[
            "pins",
            "endpoint",
            "--database",
            &s(&db),
            "--guid",
            &guid,
            "--url",
            &endpoint,
        ],
    );
    let page = device_page_on(&cert, &key, port);

    // No policy, no pin list: the browser trusts nothing but the relying party it talks to.
    let _no_policy = ManagedPolicy::lock();
    let proxied = format!("{}/devices/{guid}/", rp.url.trim_end_matches('/'));
    let mut browser = Chromium::launch(&[]).await;
    let tab = browser.open(&proxied).await;
    assert_eq!(tab.navigation_error, None, "{proxied} did not load");
    let text = browser
        .wait_for_text(&tab, PAGE_MARKER, SHOW_TIMEOUT)
        .await
        .unwrap_or_else(|last| panic!("{proxied} never showed the device page:\n{last}"));
    assert!(
        text.contains(TITLE),
        "{proxied} showed another page:\n{text}"
    );

    // The device's address now answers with another key (a certificate for the same name
    // from another CA): the proxy refuses and shows nothing the impostor sent.
    drop(page);
    let impostor_ca = OtherCa::new("impostor");
    let (impostor_cert, impostor_key) =
        impostor_ca.issue_into(DEVICE, &dir.path().join("impostor"));
    let impostor = device_page_on(&impostor_cert, &impostor_key, port);
    let tab = browser.open(&proxied).await;
    let text = browser
        .wait_for_text(&tab, "does not match its pin", SHOW_TIMEOUT)
        .await
        .unwrap_or_else(|last| panic!("{proxied} did not show the refusal:\n{last}"));
    assert!(
        !text.contains(PAGE_MARKER),
        "the impostor's page was shown:\n{text}"
    );
    browser.close().await;
    drop(impostor);
    drop(rp);
}

#[test]
fn a_device_whose_to2_fails_gets_no_pin_and_no_tls_key() {
    let dir = tempfile::tempdir().expect("temporary directory");
    // The relying party the device ends up at: an owner with a CA, which would certify and pin
    // a TLS key for any device it onboards, and the rendezvous server.
    let owner_db = dir.path().join("owner");
    ok(
        "vouch-rp",
        &[
            "ca",
            "init",
            "--database",
            &s(&owner_db),
            "--zone",
            ZONE,
            "--cidr",
            CIDR,
        ],
    );
    let owner = Server::relying_party(&["--database", &s(&owner_db), "--roles", "all"]);

    // Another relying party, with a database of its own, manufactures the device: its voucher
    // goes to that relying party's owner key, never to `owner`.
    let other_db = dir.path().join("other");
    let other_owner_key = dir.path().join("other-owner-p256.pem");
    ok(
        "vouch-rp",
        &[
            "key",
            "export",
            "--database",
            &s(&other_db),
            "--name",
            "owner-p256",
            "--out",
            &s(&other_owner_key),
        ],
    );
    let manufacturer = Server::relying_party(&[
        "--database",
        &s(&other_db),
        "--roles",
        "manufacturer",
        "--rendezvous-url",
        &owner.url,
        "--extend-to",
        &s(&other_owner_key),
    ]);
    let device = dir.path().join("device");
    let credential = device.join("credential.cbor");
    let attestation_key = device.join("attestation-key.pem");
    ok(
        "vouch-device",
        &[
            "di",
            "--manufacturer",
            &manufacturer.url,
            "--credential",
            &s(&credential),
            "--key",
            &s(&attestation_key),
        ],
    );
    drop(manufacturer);
    let before = fs::read(&credential).expect("the credential");
    let guid = DeviceCredential::from_any(&before)
        .expect("the credential parses")
        .guid
        .to_string();

    // The other relying party's owner registers the device at the rendezvous server, naming
    // `owner`'s address as where the device should go for TO2; its TO0 loop runs at start.
    let registering = Server::relying_party(&[
        "--database",
        &s(&other_db),
        "--roles",
        "owner",
        "--public-url",
        &owner.url,
        "--rendezvous-url",
        &owner.url,
        "--to0-interval",
        "1",
    ]);
    let pins_before = ok("vouch-rp", &["pins", "list", "--database", &s(&owner_db)]);

    // Until the registration is in, the device's TO1 fails; once it is, its TO2 with `owner`.
    let to2 = format!("TO2 with the owner at {}", owner.url);
    let deadline = Instant::now() + Duration::from_secs(15);
    let failed = loop {
        let out = run(
            "vouch-device",
            &[
                "onboard",
                "--credential",
                &s(&credential),
                "--key",
                &s(&attestation_key),
                "--tls-name",
                "dev2.home.arpa",
                "--max-rounds",
                "1",
            ],
        );
        assert_eq!(out.status.code(), Some(1), "a refused onboarding exits 1");
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        if log.contains(&to2) {
            break log;
        }
        assert!(
            Instant::now() < deadline,
            "the device never reached TO2 with {}:\n{log}",
            owner.url
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(
        failed.contains("TO2.HelloDevice"),
        "TO2 failed where the owner looks the voucher up:\n{failed}"
    );
    drop(registering);

    assert_eq!(
        fs::read(&credential).expect("the credential"),
        before,
        "credential unchanged"
    );
    for leftover in ["tls-key.pem", "tls-cert.pem"] {
        assert!(
            !device.join(leftover).exists(),
            "{leftover} was written beside the credential of a device that was not onboarded"
        );
    }
    let pins_after = ok("vouch-rp", &["pins", "list", "--database", &s(&owner_db)]);
    assert_eq!(pins_after, pins_before, "no new pin");
    assert!(
        !pins_after.contains(&guid),
        "{guid} is pinned:\n{pins_after}"
    );
    drop(owner);
}
