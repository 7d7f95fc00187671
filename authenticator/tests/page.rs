//! The device page over real TLS on 127.0.0.1: served by `serve_page` and by `vouch-device
//! serve`, fetched by a rustls client that trusts the page's certificate, or another one.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use vouch_authenticator::page::{PAGE_MARKER, PageConfig, RunningPage, serve_page};

const NAME: &str = "dev1.home.arpa";

/// A self-signed certificate for `name` and its key, both PEM, and the certificate's DER.
fn self_signed(name: &str) -> (String, String, CertificateDer<'static>) {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    (cert.pem(), signing_key.serialize_pem(), cert.der().clone())
}

async fn serve(cert_pem: &str, key_pem: &str, title: &str) -> RunningPage {
    serve_page(PageConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        cert_chain_pem: cert_pem.to_owned(),
        key_pem: key_pem.to_owned(),
        title: title.to_owned(),
    })
    .await
    .unwrap()
}

/// A client that trusts `root` only and finds [`NAME`] at `addr`.
fn client(root: CertificateDer<'static>, addr: SocketAddr) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .resolve(NAME, addr)
        .build()
        .unwrap()
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("https://{NAME}:{}{path}", addr.port())
}

#[tokio::test]
async fn the_page_names_the_device_to_a_client_that_trusts_its_certificate() {
    let (cert, key, der) = self_signed(NAME);
    let page = serve(&cert, &key, "Kitchen <sensor>").await;
    let client = client(der, page.addr);

    let response = client.get(url(page.addr, "/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let body = response.text().await.unwrap();
    assert!(body.contains(PAGE_MARKER), "{body}");
    assert!(body.contains("Kitchen &lt;sensor&gt;"), "{body}");

    let health = client.get(url(page.addr, "/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");

    let missing = client.get(url(page.addr, "/nothing")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    page.stop().await;
}

#[tokio::test]
async fn a_client_trusting_another_certificate_is_refused() {
    let (cert, key, _) = self_signed(NAME);
    let (_, _, other) = self_signed(NAME);
    let page = serve(&cert, &key, "dev1").await;

    let err = client(other, page.addr)
        .get(url(page.addr, "/"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    // Both certificates carry the same subject: the client tries the page's certificate
    // against its anchor, and the signature does not verify.
    assert!(format!("{err:?}").contains("InvalidCertificate"), "{err:?}");
    page.stop().await;
}

#[tokio::test]
async fn a_key_of_another_certificate_is_refused_before_listening() {
    let (cert, _, _) = self_signed(NAME);
    let (_, other_key, _) = self_signed(NAME);
    let err = serve_page(PageConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        cert_chain_pem: cert,
        key_pem: other_key,
        title: "dev1".into(),
    })
    .await
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("cannot serve together"),
        "{err:#}"
    );
}

#[tokio::test]
async fn a_key_file_without_a_key_is_refused() {
    let (cert, _, _) = self_signed(NAME);
    let err = serve_page(PageConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        cert_chain_pem: cert.clone(),
        key_pem: cert,
        title: "dev1".into(),
    })
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("no private key"), "{err:#}");
}

#[tokio::test]
async fn a_stopped_page_no_longer_listens() {
    let (cert, key, der) = self_signed(NAME);
    let page = serve(&cert, &key, "dev1").await;
    let addr = page.addr;
    let client = client(der, addr);
    // A kept-alive connection must not keep the server alive.
    client.get(url(addr, "/healthz")).send().await.unwrap();
    page.stop().await;
    let err = tokio::net::TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn vouch_device_serve_prints_its_address_and_stops_on_sigterm() {
    let (cert, key, der) = self_signed(NAME);
    let dir = tempfile::tempdir().unwrap();
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_vouch-device"))
        .arg("serve")
        .arg("--cert")
        .arg(&cert_file)
        .arg("--key")
        .arg(&key_file)
        .args(["--listen", "127.0.0.1:0", "--title", "Hall light"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line
        .trim_end()
        .strip_prefix("vouch-device: serving https://")
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_ne!(addr.port(), 0);

    let body = client(der, addr)
        .get(url(addr, "/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        body.contains(PAGE_MARKER) && body.contains("Hall light"),
        "{body}"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert!(String::from_utf8_lossy(&out.stderr).contains("vouch-device: stopped"));
}

#[test]
fn vouch_device_serve_names_the_default_files_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vouch-device"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read vouch-device/tls-cert.pem"),
        "{stderr}"
    );
}
