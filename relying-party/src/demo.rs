//! `vouch-rp demo`: one device onboarded on loopback, from start to end, each step explained.
//!
//! The relying party runs with all three roles over a fresh SQLite database on 127.0.0.1 (a
//! port the kernel picks); the device is vouch's own agent, in the same process, with its key
//! and credential in files next to the database. Nothing is faked: the device speaks FDO over
//! HTTP to the server exactly as `vouch-device` does, and the demo then checks what each side
//! stored. It exits 0 only when every check held.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use vouch_authenticator::onboard::{self, DiOptions, OnboardOptions, Progress};
use vouch_authenticator::{FileCredentialStore, FileKeyStore, HttpTransport};
use vouch_protocol::cbor::Cbor;
use vouch_protocol::credential::DeviceCredential;
use vouch_protocol::crypto::{CryptoProvider, RustCrypto, VerifyingKey};
use vouch_protocol::types::{HashAlg, PublicKey};
use vouch_protocol::voucher::OwnershipVoucher;

use vouch_authenticator::page::{PAGE_MARKER, PageConfig, serve_page};

use crate::owner_ca::OwnerCa;
use crate::pinning;
use crate::rendezvous::system_clock;
use crate::server::{self, ServeOptions};
use crate::store::{DeviceEndpoint, SqliteStore, Store, StoreError};

/// The DNS zone of the demo's owner CA.
const ZONE: &str = "home.arpa";

const C: RustCrypto = RustCrypto;

fn heading(n: u32, text: &str) {
    println!("\n{n}. {text}");
}

fn say(text: impl AsRef<str>) {
    println!("   {}", text.as_ref());
}

fn short_hash(bytes: &[u8]) -> String {
    C.hash(HashAlg::SHA256, &[bytes])
        .map(|h| hex::encode(&h.value()[..8]))
        .unwrap_or_else(|_| "?".into())
}

/// A key in words: its kind and the start of the SHA-256 of its SubjectPublicKeyInfo.
fn key_words(pk: &PublicKey) -> String {
    match VerifyingKey::from_public_key(pk).and_then(|k| Ok((k.kind(), k.to_spki_der()?))) {
        Ok((kind, spki)) => format!("{kind} key {}", short_hash(&spki)),
        Err(_) => format!("{} key {}", pk.pk_type, short_hash(&pk.to_cbor())),
    }
}

/// Runs the demo; `keep` keeps its files in that directory instead of a temporary one.
pub async fn run(keep: Option<PathBuf>) -> Result<ExitCode> {
    let temporary;
    let dir: PathBuf = match keep {
        Some(d) => {
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
            d
        }
        None => {
            temporary = tempfile::tempdir().context("creating a temporary directory")?;
            temporary.path().to_path_buf()
        }
    };
    match demo(&dir).await {
        Ok(()) => {
            println!(
                "\nEvery step held: the device is onboarded and its page is reachable over pinned HTTPS."
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("\nThe demo failed: {e:#}");
            Ok(ExitCode::from(1))
        }
    }
}

async fn demo(dir: &Path) -> Result<()> {
    println!("vouch demo: a FIDO Device Onboard (FDO 1.1) onboarding, start to end, on loopback.");

    heading(1, "The relying party starts");
    let listen = "127.0.0.1:0".parse().context("loopback address")?;
    let database = dir.join("relying-party");
    let mut options = ServeOptions::all_in_one(database.clone(), listen);
    options.to0_interval = None; // the hand-over after DI registers the device at once
    options.device_proxy = true; // loopback only: nobody else reaches this server
    let sqlite: Arc<dyn Store> = Arc::new(
        SqliteStore::open_dir(&database)
            .await
            .with_context(|| format!("opening the database in {}", database.display()))?,
    );
    // The owner CA the device's TLS certificate will come from (`vouch-rp ca init`).
    let ca = match OwnerCa::load(sqlite.as_ref()).await? {
        Some(ca) => ca,
        None => {
            let ca = OwnerCa::generate(ZONE, &["127.0.0.0/8".to_string()])?;
            ca.save(sqlite.as_ref(), false, (system_clock())()).await?;
            ca
        }
    };
    let running = server::start_with_store(options, sqlite, system_clock()).await?;
    let store = running.store.clone();
    say(format!(
        "vouch-rp serves the manufacturer, rendezvous and owner roles at {}",
        running.public_url
    ));
    say(format!(
        "its SQLite database is in {} (vouchers, keys, sessions; nothing is kept in memory)",
        dir.join("relying-party").display()
    ));
    for k in &running.owner_keys {
        say(format!(
            "owner key: {} key {}",
            k.kind(),
            short_hash(&k.to_spki_der()?)
        ));
    }
    say(format!(
        "device CA certificate: {} bytes, SHA-256 {}",
        running.device_ca.len(),
        short_hash(&running.device_ca)
    ));
    say(format!(
        "owner CA for browsers: names under {} and addresses in {}, SHA-256 {}",
        ca.zone(),
        ca.cidrs().join(", "),
        short_hash(ca.cert_der())
    ));
    let result = onboard_one(dir, &running.public_url, store.as_ref(), &ca).await;
    running.stop().await;
    result
}

async fn onboard_one(dir: &Path, url: &str, store: &dyn Store, ca: &OwnerCa) -> Result<()> {
    let mut keys = FileKeyStore::new(dir.join("device/key.pem"));
    let mut credentials = FileCredentialStore::new(dir.join("device/credential.cbor"));

    heading(
        2,
        "Device initialization (DI): the factory gives the device its identity",
    );
    let mut transport = HttpTransport::builder(url).build()?;
    let di = DiOptions {
        serial_number: "demo-0001".into(),
        device_info: "vouch demo device".into(),
        ..DiOptions::default()
    };
    let dc = onboard::initialize(&mut transport, &mut keys, &mut credentials, &di).await?;
    say("the device made a P-256 attestation key and sent a certificate request (DI.AppStart)");
    say(format!(
        "the manufacturer issued its certificate from the device CA and named it {}",
        dc.guid
    ));
    say(format!(
        "the device MACed the voucher header with a {}-byte secret only it holds (DI.SetHMAC)",
        dc.hmac_secret().map_or(0, <[u8]>::len)
    ));
    say(format!("rendezvous it will look for: {}", dc.rv_info));

    heading(
        3,
        "The voucher goes to its owner, who registers with the rendezvous server (TO0)",
    );
    let voucher = stored(store, &dc).await?;
    let verified = voucher
        .clone()
        .verify(&C, None, Some(&dc))
        .context("the stored voucher does not verify against the device's credential")?;
    if !verified.hmac_checked() {
        bail!("the voucher's header HMAC was not checked");
    }
    say(format!(
        "the voucher has {} entry: manufacturer {} signed it over to owner {}",
        voucher.entries().len(),
        key_words(voucher.header().manufacturer_key.value()),
        key_words(voucher.owner_key())
    ));
    say("checked with the device's secret: header HMAC, certificate chain hash, entry signatures");
    let now = (system_clock())();
    let registration = store
        .get_registration(dc.guid, now)
        .await
        .context("the owner did not register the device with the rendezvous server")?;
    say(format!(
        "the rendezvous server holds the owner's signed redirect for {} more seconds",
        registration.expires_at - now
    ));

    heading(4, "The device finds its owner (TO1) and is onboarded (TO2)");
    let sink: onboard::ProgressSink = Arc::new(|p: &Progress<'_>| say(format!("device: {p}")));
    let options = OnboardOptions {
        max_rounds: 2,
        retry_base: Duration::from_secs(1),
        progress: Some(sink),
        ..OnboardOptions::default()
    };
    let outcome = onboard::onboard(&mut credentials, &mut keys, &options).await?;
    say(format!(
        "TO1: the device proved its key to the rendezvous server at {}, which handed it the \
         owner's signed address",
        outcome.rendezvous.as_deref().unwrap_or("(bypassed)")
    ));
    say(format!(
        "TO2 with the owner at {}: the owner proved the voucher (ProveOVHdr, every entry), the \
         device proved its key (ProveDevice), an ECDH key exchange set up an AES-GCM session, \
         devmod and the TLS key enrolment (vouch.tls) went over ServiceInfo",
        outcome.owner
    ));
    say(format!(
        "the device took its new credential after Done2: GUID {} -> {}",
        outcome.old_guid, outcome.new_guid
    ));

    heading(5, "What each side now holds");
    let stored_dc = credentials_on_disk(dir)?;
    if stored_dc.guid != outcome.new_guid || stored_dc.guid == dc.guid {
        bail!("the device's stored credential is not the new one");
    }
    say(format!("device credential: GUID {}", stored_dc.guid));
    let replaced = stored(store, &stored_dc).await?;
    replaced
        .clone()
        .verify(&C, None, Some(&stored_dc))
        .context("the owner's new voucher does not verify against the device's new credential")?;
    say(format!(
        "owner voucher for {}: {} entry to {}, verified against the device's new credential",
        replaced.guid(),
        replaced.entries().len(),
        key_words(replaced.owner_key())
    ));
    match store.get_voucher(dc.guid).await {
        Err(StoreError::NotFound(_)) => {
            say(format!("the voucher of the old GUID {} is gone", dc.guid))
        }
        Ok(_) => bail!("the voucher of the old GUID is still stored"),
        Err(e) => return Err(e.into()),
    }

    heading(
        6,
        "The device's own web page, over HTTPS a browser can trust",
    );
    let Some(tls) = &outcome.tls else {
        bail!(
            "the device enrolled no TLS key in TO2: {}",
            outcome
                .tls_problem
                .as_deref()
                .unwrap_or("the owner did not ask")
        );
    };
    let pin = store
        .get_pin(stored_dc.guid)
        .await
        .context("the owner recorded no pin for the device")?
        .pin;
    if pin.spki_sha256 != tls.spki_sha256 {
        bail!("the owner's pin is not the key the device holds");
    }
    let name = tls
        .names
        .first()
        .context("the device's certificate names no host")?
        .clone();
    say(format!(
        "in TO2 the device made a TLS key and the owner CA certified it for {name}"
    ));
    say(format!(
        "the owner pinned it: SPKI SHA-256 {} (base64 {})",
        hex::encode(pin.spki_sha256),
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pin.spki_sha256)
    ));
    let page = serve_page(PageConfig {
        listen: "127.0.0.1:0".parse().context("loopback address")?,
        cert_chain_pem: std::fs::read_to_string(&tls.cert_path)
            .with_context(|| format!("reading {}", tls.cert_path.display()))?,
        key_pem: std::fs::read_to_string(&tls.key_path)
            .with_context(|| format!("reading {}", tls.key_path.display()))?,
        title: name.clone(),
    })
    .await?;
    say(format!(
        "the device serves its page at https://{name}:{}/ (here on 127.0.0.1)",
        page.addr.port()
    ));
    let mut result = fetch_both(ca, &name, page.addr, pin.spki_sha256).await;
    if result.is_ok() {
        result = through_proxy(store, url, stored_dc.guid, page.addr).await;
    }
    page.stop().await;
    result
}

/// Fetches the device's page through the relying party's pinning proxy.
async fn through_proxy(
    store: &dyn Store,
    rp_url: &str,
    guid: vouch_protocol::types::Guid,
    device: std::net::SocketAddr,
) -> Result<()> {
    let endpoint = DeviceEndpoint::parse(&format!("https://{device}"))
        .map_err(|e| anyhow::anyhow!("the device's address: {e}"))?;
    store
        .set_device_endpoint(guid, &endpoint, (system_clock())())
        .await?;
    let url = format!("{rp_url}/devices/{guid}/");
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()?
        .get(&url)
        .send()
        .await
        .with_context(|| format!("fetching {url}"))?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() || !text.contains(PAGE_MARKER) {
        bail!("the pinning proxy did not return the device's page ({status}): {text}");
    }
    say(format!(
        "fetched {url}: the relying party's proxy reached the device, accepting only its pinned key"
    ));
    Ok(())
}

/// Fetches the device's page through the owner CA (names checked) and through the pin alone.
async fn fetch_both(
    ca: &OwnerCa,
    name: &str,
    addr: std::net::SocketAddr,
    pin: [u8; 32],
) -> Result<()> {
    let url = format!("https://{name}:{}/", addr.port());
    let by_ca = pinning::ca_client(ca.cert_der(), &[(name.to_string(), addr)])?;
    let text = by_ca
        .get(&url)
        .send()
        .await
        .with_context(|| format!("fetching {url} with only the owner CA trusted"))?
        .text()
        .await?;
    if !text.contains(PAGE_MARKER) {
        bail!("the page fetched through the owner CA is not the device's");
    }
    say(format!(
        "fetched {url} trusting only the owner CA: the device's page"
    ));
    let by_pin = pinning::pinned_client(pin)?;
    let direct = format!("https://{addr}/");
    let text = by_pin
        .get(&direct)
        .send()
        .await
        .with_context(|| format!("fetching {direct} through the pin"))?
        .text()
        .await?;
    if !text.contains(PAGE_MARKER) {
        bail!("the page fetched through the pin is not the device's");
    }
    say(format!(
        "fetched {direct} accepting exactly the pinned key: the device's page"
    ));
    Ok(())
}

async fn stored(store: &dyn Store, dc: &DeviceCredential) -> Result<OwnershipVoucher> {
    let bytes = store
        .get_voucher(dc.guid)
        .await
        .with_context(|| format!("no voucher stored for {}", dc.guid))?;
    Ok(OwnershipVoucher::from_bytes(&bytes)?)
}

fn credentials_on_disk(dir: &Path) -> Result<DeviceCredential> {
    let bytes = std::fs::read(dir.join("device/credential.cbor"))?;
    Ok(DeviceCredential::from_any(&bytes)?)
}
