//! The WebTransport pin in headless Chromium: the relying party's page
//! (`/webtransport/{guid}`) opens a session to the device with
//! `serverCertificateHashes` set to the hash the owner pinned, and the device's echo shows.
//!
//! * With the real binaries: a device onboarded by `vouch-rp`, serving with `vouch-device serve
//!   --webtransport`, reports its certificate's hash (signed by its attestation key) before
//!   serving it; the page connects; after a rotation the owner holds the new hash and the page
//!   connects again.
//! * With the relying party in process and WebTransport servers made here: a pin holding
//!   another hash fails, and so does a certificate valid for 15 days, though its hash is the
//!   one pinned (a 13-day one from the same test server connects).
//!
//! The page comes from `http://127.0.0.1`, a secure context; the WebTransport targets are
//! `https://127.0.0.1:PORT/` (Chromium tries `localhost` over IPv6 only). A failure is asserted
//! as the page's failure text, not its reason: a wrong hash and a too-long validity fail alike.
//! The binaries are the workspace's own, next to this test's executable (build them first:
//! `cargo build -p vouch-relying-party -p vouch-authenticator`). Every server listens on
//! 127.0.0.1 on a port the kernel picks and is stopped by the test, a failed assertion
//! included.

mod browser;

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use browser::{Chromium, Tab};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use vouch_authenticator::webtransport::{WtCertificate, WtConfig, serve_webtransport};
use vouch_protocol::credential::DeviceCredential;
use vouch_protocol::types::Guid;
use vouch_relying_party::server::{ServeOptions, start};
use vouch_relying_party::store::{Pin, Store, WebTransportUrl};
use vouch_relying_party::webtransport::{ECHO_MARKER, FAILURE_MARKER, PING};

/// How long the page may take to show its outcome (its own timeout is 15 s).
const OUTCOME_TIMEOUT: Duration = Duration::from_secs(25);
/// Seconds between two of the device's WebTransport certificates in the rotation test.
const ROTATE_EVERY: &str = "10";

// --- Processes -------------------------------------------------------------------------------

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

/// Runs a command to its end and returns its standard output; fails the test if it fails.
fn ok(bin_name: &str, args: &[&str]) -> String {
    let out = Command::new(bin(bin_name))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{bin_name} does not run: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!(
        "$ {bin_name} {}\n{stdout}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{bin_name} {args:?} failed with {}",
        out.status
    );
    stdout
}

/// A server process whose standard output is read line by line; killed when dropped.
struct Process {
    child: Child,
    lines: mpsc::Receiver<String>,
    name: &'static str,
}

impl Process {
    fn start(bin_name: &'static str, args: &[&str]) -> Self {
        let mut child = Command::new(bin(bin_name))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{bin_name} does not start: {e}"));
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                eprintln!("[{bin_name}] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            name: bin_name,
        }
    }

    /// The last line already printed for which `pick` gives a value, if any.
    fn latest<T>(&mut self, pick: impl Fn(&str) -> Option<T>) -> Option<T> {
        let mut found = None;
        while let Ok(line) = self.lines.try_recv() {
            if let Some(value) = pick(&line) {
                found = Some(value);
            }
        }
        found
    }

    /// The next line of output for which `pick` gives a value, within `timeout`.
    fn wait_for<T>(&mut self, timeout: Duration, pick: impl Fn(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(found) = pick(&line) {
                        return found;
                    }
                }
                Err(e) => panic!(
                    "{} printed no expected line within {timeout:?} ({e}); exit status: {:?}",
                    self.name,
                    self.child.try_wait()
                ),
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `vouch-device: webtransport https://ADDR/ sha256 HEX`, accepted by the owner: (URL, hash).
fn served_line(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix("vouch-device: webtransport ")?;
    if rest.contains("not accepted") {
        return None;
    }
    let mut words = rest.split_whitespace();
    let url = words.next()?.to_owned();
    (words.next()? == "sha256").then_some(())?;
    Some((url, words.next()?.to_owned()))
}

// --- The page --------------------------------------------------------------------------------

/// Opens the device's WebTransport page and returns its text once it shows an outcome.
async fn outcome(browser: &mut Chromium, page_url: &str) -> String {
    let tab: Tab = browser.open(page_url).await;
    assert_eq!(
        tab.navigation_error,
        None,
        "{page_url} did not load\nbrowser log:\n{}",
        browser.log()
    );
    match browser
        .wait_until(
            &tab,
            |text| text.contains(ECHO_MARKER) || text.contains(FAILURE_MARKER),
            OUTCOME_TIMEOUT,
        )
        .await
    {
        Ok(text) => text,
        Err(last) => panic!("{page_url} showed no outcome; it showed:\n{last}"),
    }
}

async fn assert_echoed(browser: &mut Chromium, page_url: &str) {
    let text = outcome(browser, page_url).await;
    assert!(
        text.contains(&format!("{ECHO_MARKER} {PING}")),
        "{page_url}: no echo over the pinned session:\n{text}\nbrowser log:\n{}",
        browser.log()
    );
}

async fn assert_failed(browser: &mut Chromium, page_url: &str) {
    let text = outcome(browser, page_url).await;
    assert!(
        text.contains(FAILURE_MARKER) && !text.contains(ECHO_MARKER),
        "{page_url}: the session should have failed:\n{text}"
    );
}

// --- With the real binaries ------------------------------------------------------------------

/// The device's entry in `vouch-rp pins export --format webtransport`.
fn exported(db: &Path, guid: &str) -> serde_json::Value {
    let json = ok(
        "vouch-rp",
        &[
            "pins",
            "export",
            "--database",
            &s(db),
            "--format",
            "webtransport",
        ],
    );
    let devices: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    devices
        .as_array()
        .expect("an array")
        .iter()
        .find(|d| d["guid"] == guid)
        .unwrap_or_else(|| panic!("{guid} is not in {json}"))
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_reaches_the_device_over_its_pinned_webtransport_certificate_and_after_rotation() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("relying-party");
    let device = dir.path().join("device");
    let credential = device.join("credential.cbor");
    let attestation_key = device.join("attestation-key.pem");

    // An owner with a CA, which pins the TLS key of every device it onboards.
    ok(
        "vouch-rp",
        &[
            "ca",
            "init",
            "--database",
            &s(&db),
            "--zone",
            "home.arpa",
            "--cidr",
            "127.0.0.0/8",
        ],
    );
    let mut rp = Process::start(
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
    );
    let rp_url = rp.wait_for(Duration::from_secs(30), |line| {
        line.split_whitespace()
            .find(|w| w.starts_with("http://"))
            .map(|w| w.trim_end_matches('/').to_owned())
    });
    let device_args = |sub: &str| {
        vec![
            sub.to_owned(),
            "--credential".to_owned(),
            s(&credential),
            "--key".to_owned(),
            s(&attestation_key),
        ]
    };
    let mut di = device_args("di");
    di.extend(["--manufacturer".to_owned(), rp_url.clone()]);
    ok(
        "vouch-device",
        &di.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let mut onboard = device_args("onboard");
    onboard.extend(["--tls-name".to_owned(), "dev1.home.arpa".to_owned()]);
    ok(
        "vouch-device",
        &onboard.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let guid = DeviceCredential::from_any(&std::fs::read(&credential).expect("the credential"))
        .expect("the credential parses")
        .guid
        .to_string();

    // The device serves its page and WebTransport; the owner comes from the file `onboard`
    // wrote beside the credential.
    let mut device_server = Process::start(
        "vouch-device",
        &[
            "serve",
            "--cert",
            &s(&device.join("tls-cert.pem")),
            "--key",
            &s(&device.join("tls-key.pem")),
            "--listen",
            "127.0.0.1:0",
            "--credential",
            &s(&credential),
            "--attestation-key",
            &s(&attestation_key),
            "--webtransport",
            "127.0.0.1:0",
            "--webtransport-rotate-every",
            ROTATE_EVERY,
        ],
    );
    let (wt_url, first_hash) = device_server.wait_for(Duration::from_secs(30), served_line);
    assert!(wt_url.starts_with("https://127.0.0.1:"), "{wt_url}");
    ok(
        "vouch-rp",
        &[
            "pins",
            "endpoint",
            "--database",
            &s(&db),
            "--guid",
            &guid,
            "--webtransport",
            &wt_url,
        ],
    );
    // The owner pinned what the device serves, before it served it.
    let pinned = exported(&db, &guid);
    assert_eq!(pinned["sha256_hex"], first_hash.as_str(), "{pinned}");
    assert_eq!(pinned["url"], wt_url.as_str(), "{pinned}");
    let first_not_after = pinned["not_after"].as_i64().expect("a notAfter");

    let page_url = format!("{rp_url}/webtransport/{guid}");
    let mut browser = Chromium::launch(&[]).await;
    assert_echoed(&mut browser, &page_url).await;

    // The next certificate: reported, accepted, then served on the same port.
    let (rotated_url, mut second_hash) =
        device_server.wait_for(Duration::from_secs(60), served_line);
    // On a slow machine the device may have rotated more than once by now: the last one counts.
    if let Some((_, later)) = device_server.latest(served_line) {
        second_hash = later;
    }
    assert_eq!(rotated_url, wt_url, "the same address after the rotation");
    assert_ne!(second_hash, first_hash, "a new certificate");
    let pinned = exported(&db, &guid);
    assert_eq!(pinned["sha256_hex"], second_hash.as_str(), "{pinned}");
    assert!(
        pinned["not_after"].as_i64().expect("a notAfter") > first_not_after,
        "{pinned}"
    );
    assert_echoed(&mut browser, &page_url).await;

    browser.close().await;
    drop(device_server);
    drop(rp);
}

// --- With servers of the test's own ----------------------------------------------------------

/// A WebTransport echo server with any certificate, even one vouch would refuse to serve;
/// aborted when dropped.
struct TestServer {
    addr: SocketAddr,
    sha256: [u8; 32],
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// A self-signed P-256 certificate valid from an hour ago for `days` days.
    fn start(days: i64) -> Self {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        let not_before = OffsetDateTime::now_utc() - time::Duration::hours(1);
        params.not_before = not_before;
        params.not_after = not_before + time::Duration::days(days);
        let cert = params.self_signed(&key).unwrap();
        let der = cert.der().to_vec();
        let sha256: [u8; 32] = Sha256::digest(&der).into();
        let identity = wtransport::Identity::new(
            wtransport::tls::CertificateChain::single(
                wtransport::tls::Certificate::from_der(der).unwrap(),
            ),
            wtransport::tls::PrivateKey::from_der_pkcs8(key.serialize_der()),
        );
        let config = wtransport::ServerConfig::builder()
            .with_bind_address("127.0.0.1:0".parse().unwrap())
            .with_identity(identity)
            .build();
        let endpoint = wtransport::Endpoint::server(config).unwrap();
        let addr = endpoint.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let incoming = endpoint.accept().await;
                tokio::spawn(async move {
                    let Ok(request) = incoming.await else { return };
                    let Ok(connection) = request.accept().await else {
                        return;
                    };
                    while let Ok((mut send, mut recv)) = connection.accept_bi().await {
                        let mut buf = vec![0u8; 4096];
                        while let Ok(Some(n)) = recv.read(&mut buf).await {
                            if send.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                        let _ = send.finish().await;
                    }
                });
            }
        });
        Self { addr, sha256, task }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Points the page of one device at a server and a hash, through the store.
struct Repin {
    store: Arc<dyn Store>,
    guid: Guid,
    not_after: i64,
}

impl Repin {
    async fn set(&mut self, url: &str, sha256: [u8; 32]) {
        self.not_after += 1;
        let url = WebTransportUrl::parse(url).unwrap();
        self.store
            .set_webtransport_url(self.guid, &url, 1)
            .await
            .unwrap();
        self.store
            .advance_webtransport_pin(self.guid, &sha256, self.not_after)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_refuses_another_hash_and_a_fifteen_day_certificate() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let rp = start(ServeOptions {
        to0_interval: None,
        ..ServeOptions::all_in_one(dir.path().join("rp"), "127.0.0.1:0".parse().unwrap())
    })
    .await
    .expect("the relying party starts");
    let store: Arc<dyn Store> = rp.store.clone();
    let guid = Guid([0x42; 16]);
    store
        .upsert_pin(
            &Pin {
                guid,
                spki_sha256: [1; 32],
                cert_der: vec![0x30, 0x00],
                dns_names: vec!["dev.home.arpa".into()],
                ips: Vec::new(),
                webtransport_sha256: None,
            },
            1,
        )
        .await
        .unwrap();
    // Each pin change needs a later notAfter than the last (the replay rule).
    let mut pins = Repin {
        store: store.clone(),
        guid,
        not_after: 1_000,
    };
    let page_url = format!("http://{}/webtransport/{guid}", rp.addr);
    let mut browser = Chromium::launch(&[]).await;

    // vouch's own server with its 14-day certificate: the right hash connects, another fails.
    let certificate = WtCertificate::generate(&["127.0.0.1".to_owned()]).unwrap();
    let device = serve_webtransport(WtConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        certificate,
    })
    .await
    .unwrap();
    let device_url = format!("https://{}/", device.addr);
    pins.set(&device_url, device.cert_sha256).await;
    assert_echoed(&mut browser, &page_url).await;
    let mut other = device.cert_sha256;
    other[31] ^= 0x01;
    pins.set(&device_url, other).await;
    assert_failed(&mut browser, &page_url).await;
    device.stop().await;

    // The test's own server: 13 days connects, 15 days fails with its hash pinned all the same.
    let thirteen = TestServer::start(13);
    pins.set(&format!("https://{}/", thirteen.addr), thirteen.sha256)
        .await;
    assert_echoed(&mut browser, &page_url).await;
    let fifteen = TestServer::start(15);
    pins.set(&format!("https://{}/", fifteen.addr), fifteen.sha256)
        .await;
    assert_failed(&mut browser, &page_url).await;

    browser.close().await;
    drop(fifteen);
    drop(thirteen);
    rp.stop().await;
}
