//! The two ways a browser comes to trust a device page, checked in headless Chromium:
//!
//! * an **SPKI pin** (`--ignore-certificate-errors-spki-list`): the pinned key is accepted
//!   whatever its certificate says, and another key for the same name is refused;
//! * the **owner CA**, given to Chromium by the managed policy `CACertificatesWithConstraints`:
//!   a certificate it issued for a name under `home.arpa` is accepted; one it issued for a
//!   name elsewhere is refused, and so is a certificate for the right name from another CA.
//!
//! Each device page is [`serve_page`] on 127.0.0.1 with a port the system picks, reached by
//! name through Chromium's host resolver rules. Each test launches Chromium once.

mod browser;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use browser::{Chromium, ManagedPolicy, Tab, resolve_to_loopback};
use der::{Decode as _, Encode as _};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, NameConstraints,
};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use vouch_authenticator::page::{PAGE_MARKER, PageConfig, RunningPage, serve_page};

/// The device's name, under the owner's domain.
const DEVICE: &str = "dev1.home.arpa";
/// A name outside the owner's domain.
const OUTSIDE: &str = "dev1.example.com";
/// How long a page that should load may take to show its marker.
const SHOW_TIMEOUT: Duration = Duration::from_secs(20);

/// A certificate and its key, PEM, and the certificate's DER.
struct Issued {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

/// A validity that any browser accepts for a locally trusted certificate: from yesterday, for
/// `days`.
fn validity(params: &mut CertificateParams, days: i64) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(days);
}

fn leaf_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    validity(&mut params, 30);
    params
}

/// A self-signed P-256 certificate for `name`.
fn self_signed(name: &str) -> Issued {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = leaf_params(name).self_signed(&key).unwrap();
    Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().to_vec(),
    }
}

/// A certificate authority; with `permitted`, it may only certify names under it (RFC 5280
/// name constraints in its own certificate).
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: Vec<u8>,
}

impl Ca {
    fn new(common_name: &str, permitted: Option<&str>) -> Self {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.name_constraints = permitted.map(|permitted| NameConstraints {
            permitted_subtrees: vec![GeneralSubtree::DnsName(permitted.to_owned())],
            excluded_subtrees: Vec::new(),
        });
        validity(&mut params, 365);
        let cert = params.self_signed(&key).unwrap();
        Self {
            issuer: Issuer::new(params, key),
            der: cert.der().to_vec(),
        }
    }

    /// A P-256 certificate for `name`, issued whether or not the constraints allow the name:
    /// the browser is the one to check.
    fn issue(&self, name: &str) -> Issued {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = leaf_params(name);
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

/// The pin Chromium's `--ignore-certificate-errors-spki-list` takes: base64 of the SHA-256 of
/// the certificate's DER SubjectPublicKeyInfo.
fn spki_pin(cert_der: &[u8]) -> String {
    let cert = x509_cert::Certificate::from_der(cert_der).unwrap();
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap();
    BASE64.encode(Sha256::digest(&spki))
}

async fn serve(issued: &Issued, title: &str) -> RunningPage {
    serve_page(PageConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        cert_chain_pem: issued.cert_pem.clone(),
        key_pem: issued.key_pem.clone(),
        title: title.to_owned(),
    })
    .await
    .unwrap()
}

fn url(name: &str, page: &RunningPage) -> String {
    format!("https://{name}:{}/", page.addr.port())
}

/// Opens `url` and asserts that the device page shows, with `title`.
async fn assert_shown(browser: &mut Chromium, url: &str, title: &str) {
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
    assert!(text.contains(title), "{url} showed another page:\n{text}");
}

/// Opens `url` and asserts that Chromium refused it for its certificate: the navigation ends
/// in a certificate error, and the device page never shows.
async fn assert_refused(browser: &mut Chromium, url: &str) -> Tab {
    let tab = browser.open(url).await;
    let error = tab.navigation_error.clone().unwrap_or_default();
    assert!(
        error.starts_with("net::ERR_CERT_"),
        "{url}: expected a certificate error, got {:?}; the page shows:\n{}",
        tab.navigation_error,
        browser.body_text(&tab).await
    );
    // Chromium then shows its certificate error page, which names the error: wait for it, so
    // that the check below reads what a person would see rather than a page not drawn yet.
    let code = error.to_uppercase();
    let text = match browser.wait_for_text(&tab, &code, SHOW_TIMEOUT).await {
        Ok(text) => text,
        Err(last) => panic!("{url}: refused ({error}), but no error page names it:\n{last}"),
    };
    assert!(
        !text.contains(PAGE_MARKER),
        "{url} was refused ({error}) yet shows the device page:\n{text}"
    );
    tab
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_accepts_the_pinned_key_and_refuses_another_key_for_the_same_name() {
    let pinned = self_signed(DEVICE);
    let impostor = self_signed(DEVICE);
    let device = serve(&pinned, "Pinned device").await;
    let other = serve(&impostor, "Impostor").await;

    let mut browser = Chromium::launch(&[
        format!(
            "--ignore-certificate-errors-spki-list={}",
            spki_pin(&pinned.der)
        ),
        resolve_to_loopback(&[DEVICE]),
    ])
    .await;
    assert_shown(&mut browser, &url(DEVICE, &device), "Pinned device").await;
    assert_refused(&mut browser, &url(DEVICE, &other)).await;

    browser.close().await;
    device.stop().await;
    other.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_trusts_the_owner_ca_by_policy_for_names_under_home_arpa_only() {
    // The owner CA as vouch makes it, constrained in its own certificate; a CA constrained only
    // by the policy, to show that the policy's constraints hold by themselves; a CA the
    // browser was never told about.
    let owner_ca = Ca::new("vouch test owner CA", Some("home.arpa"));
    let policy_only_ca = Ca::new("vouch test CA constrained by policy only", None);
    let other_ca = Ca::new("vouch test other CA", Some("home.arpa"));
    let device = serve(&owner_ca.issue(DEVICE), "Owner's device").await;
    let outside = serve(&owner_ca.issue(OUTSIDE), "Outside the owner's names").await;
    let policy_device = serve(&policy_only_ca.issue(DEVICE), "Policy-constrained device").await;
    let policy_outside = serve(&policy_only_ca.issue(OUTSIDE), "Outside the policy").await;
    let stranger = serve(&other_ca.issue(DEVICE), "Another CA's device").await;

    let trusted = |ca: &Ca| {
        serde_json::json!({
            "certificate": BASE64.encode(&ca.der),
            "constraints": { "permitted_dns_names": ["home.arpa"] },
        })
    };
    let _policy = ManagedPolicy::install(&serde_json::json!({
        "CACertificatesWithConstraints": [trusted(&owner_ca), trusted(&policy_only_ca)],
    }));
    // Declared after the policy, so dropped (killed) before the policy file is removed.
    let mut browser = Chromium::launch(&[resolve_to_loopback(&[DEVICE, OUTSIDE])]).await;
    assert_shown(&mut browser, &url(DEVICE, &device), "Owner's device").await;
    assert_refused(&mut browser, &url(OUTSIDE, &outside)).await;
    assert_shown(
        &mut browser,
        &url(DEVICE, &policy_device),
        "Policy-constrained device",
    )
    .await;
    assert_refused(&mut browser, &url(OUTSIDE, &policy_outside)).await;
    assert_refused(&mut browser, &url(DEVICE, &stranger)).await;

    browser.close().await;
    for page in [device, outside, policy_device, policy_outside, stranger] {
        page.stop().await;
    }
}
