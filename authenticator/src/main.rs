//! `vouch-device`: the device agent.
//!
//! Exit status: 0 on success, 1 when a server refused or could not be reached (its FDO error
//! code and text are printed), 2 for a local problem (files, arguments, the device's own
//! state).
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use vouch_authenticator::onboard::tls::{CERT_FILE, KEY_FILE};
use vouch_authenticator::onboard::{
    DiOptions, ModulesFactory, OnboardError, OnboardOptions, Progress, TlsEnrolOptions,
    default_devmod, default_modules,
};
use vouch_authenticator::page::{PageConfig, serve_page};
use vouch_authenticator::protocol::serviceinfo::DeviceModules;
use vouch_authenticator::protocol::types::PkType;
use vouch_authenticator::transport::{HttpTransport, TlsRoots};
use vouch_authenticator::{CredentialStore, FileCredentialStore, FileKeyStore};

/// vouch's FDO device agent.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const DEFAULT_CREDENTIAL: &str = "vouch-device/credential.cbor";
const DEFAULT_KEY: &str = "vouch-device/attestation-key.pem";
/// The device's TLS certificate chain and key, beside the credential (onboarding writes them).
const DEFAULT_TLS_CERT: &str = "vouch-device/tls-cert.pem";
const DEFAULT_TLS_KEY: &str = "vouch-device/tls-key.pem";

#[derive(Subcommand)]
enum Command {
    /// Print a device credential (vouch's format or fdo-rs' dc.bin); secrets are not shown.
    Show {
        /// The credential file.
        #[arg(long, default_value = DEFAULT_CREDENTIAL)]
        credential: PathBuf,
    },
    /// Device initialization (DI) with a manufacturer: creates the attestation key if there is
    /// none, and the device credential.
    Di {
        /// The manufacturer's base URL, e.g. `https://mfg.example.com:8038`.
        #[arg(long, value_name = "URL")]
        manufacturer: String,
        /// The credential file to create.
        #[arg(long, default_value = DEFAULT_CREDENTIAL)]
        credential: PathBuf,
        /// The attestation key file (PKCS#8 PEM), created if missing.
        #[arg(long, default_value = DEFAULT_KEY)]
        key: PathBuf,
        /// The serial number sent to the manufacturer (default: derived from the attestation
        /// key).
        #[arg(long, value_name = "S")]
        serial: Option<String>,
        /// The model sent to the manufacturer, which it usually records as OVDeviceInfo.
        #[arg(long, value_name = "S", default_value = "vouch-device")]
        device_info: String,
        /// The attestation key's type, used when a new key is made.
        #[arg(long, value_enum, default_value_t = KeyType::P256)]
        key_type: KeyType,
        /// Replace an active credential (the device then loses its current identity).
        #[arg(long)]
        force: bool,
        /// PEM file of the root certificates an https:// manufacturer must chain to (default:
        /// the WebPKI roots).
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
    },
    /// Onboarding: TO1 with the rendezvous server the credential names, then TO2 with the
    /// owner; the new credential replaces the old one once the owner has finished.
    Onboard {
        /// The credential file.
        #[arg(long, default_value = DEFAULT_CREDENTIAL)]
        credential: PathBuf,
        /// The attestation key file.
        #[arg(long, default_value = DEFAULT_KEY)]
        key: PathBuf,
        /// The most rounds over the rendezvous directives before giving up.
        #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
        max_rounds: u32,
        /// PEM file of the root certificates https:// servers must chain to (default: the
        /// WebPKI roots).
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
        /// A DNS name to ask the owner to certify the device's TLS key for (repeat for more;
        /// default: the first 16 hexadecimal digits of the GUID under the owner's zone).
        #[arg(long, value_name = "NAME")]
        tls_name: Vec<String>,
        /// An address to ask the owner to certify the device's TLS key for (repeat for more).
        #[arg(long, value_name = "ADDRESS")]
        tls_ip: Vec<std::net::IpAddr>,
        /// Do not enrol a TLS key, even when the owner asks.
        #[arg(long)]
        no_tls: bool,
    },
    /// Serve the device's local page over HTTPS until Ctrl-C or SIGTERM; prints
    /// `vouch-device: serving https://ADDRESS/` once it listens.
    Serve {
        /// The certificate chain (PEM): the device's certificate first.
        #[arg(long, value_name = "FILE", default_value = DEFAULT_TLS_CERT)]
        cert: PathBuf,
        /// The certificate's private key (PEM).
        #[arg(long, value_name = "FILE", default_value = DEFAULT_TLS_KEY)]
        key: PathBuf,
        /// The address to listen on (port 0: any free port).
        #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:8443")]
        listen: std::net::SocketAddr,
        /// The device's name as the page shows it.
        #[arg(long, value_name = "T", default_value = "vouch device")]
        title: String,
        #[command(flatten)]
        webtransport: WebTransportArgs,
    },
    /// Renew the device's TLS certificate: a fresh TLS key, certified by the owner for the
    /// names it pinned at onboarding, asked for with a request signed by the attestation key.
    /// The key and certificate files are replaced only once the owner has certified the key.
    Renew {
        /// The credential file (for the device's GUID).
        #[arg(long, default_value = DEFAULT_CREDENTIAL)]
        credential: PathBuf,
        /// The attestation key file.
        #[arg(long, default_value = DEFAULT_KEY)]
        key: PathBuf,
        /// The owner's base URL (default: the one onboarding recorded in `owner-url` beside
        /// the credential). A plain http:// URL other than loopback is used only when named
        /// here.
        #[arg(long, value_name = "URL")]
        owner: Option<String>,
        /// Where the certificate chain goes (default: `tls-cert.pem` beside the credential,
        /// which is what `serve` reads by default).
        #[arg(long, value_name = "FILE")]
        cert: Option<PathBuf>,
        /// Where the new TLS key goes (default: `tls-key.pem` beside the credential).
        #[arg(long, value_name = "FILE")]
        tls_key: Option<PathBuf>,
        /// PEM file of the root certificates an https:// owner must chain to (default: the
        /// WebPKI roots).
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
    },
}

/// `vouch-device serve`'s WebTransport server, the browser's certificate-hash pin.
#[derive(clap::Args)]
struct WebTransportArgs {
    /// Serve WebTransport (echo) on this UDP address too (port 0: any free port); prints
    /// `vouch-device: webtransport https://ADDRESS/ sha256 HEX` for each certificate served.
    /// Each certificate's hash is reported to the owner, signed by the attestation key, before
    /// it is served.
    #[arg(long, value_name = "ADDRESS")]
    webtransport: Option<std::net::SocketAddr>,
    /// The owner's base URL, where the WebTransport reports go (default: the one `onboard`
    /// recorded beside the credential).
    #[arg(long, value_name = "URL")]
    owner: Option<String>,
    /// Seconds between two WebTransport certificates (less than 14 days: browsers pin none
    /// valid for longer).
    #[arg(long, value_name = "SECONDS", default_value_t = 7 * 24 * 60 * 60,
          value_parser = clap::value_parser!(u64).range(1..14 * 24 * 60 * 60))]
    webtransport_rotate_every: u64,
    /// The credential file (for the device's GUID and the owner it was onboarded by).
    #[arg(long, value_name = "FILE", default_value = DEFAULT_CREDENTIAL)]
    credential: PathBuf,
    /// The attestation key file, which signs the WebTransport reports.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_KEY)]
    attestation_key: PathBuf,
    /// PEM file of the root certificates an https:// owner must chain to (default: the
    /// WebPKI roots).
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum KeyType {
    /// ECDSA P-256.
    P256,
    /// ECDSA P-384.
    P384,
}

/// Why the command failed, and so its exit status.
enum Failure {
    /// The device's own problem: exit 2.
    Local(anyhow::Error),
    /// A server's refusal or absence: exit 1.
    Remote(OnboardError),
    /// A server's refusal or absence, outside FDO (renewal): exit 1.
    Refused(String),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Self::Local(e)
    }
}

impl From<OnboardError> for Failure {
    fn from(e: OnboardError) -> Self {
        if e.is_local() {
            Self::Local(e.into())
        } else {
            Self::Remote(e)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))
}

/// The roots in a PEM file of certificates.
fn tls_roots(ca: Option<&Path>) -> anyhow::Result<TlsRoots> {
    let Some(path) = ca else {
        return Ok(TlsRoots::WebPki);
    };
    let text =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let blocks = pem::parse_many(&text)
        .map_err(|e| anyhow::anyhow!("{} is not PEM: {e}", path.display()))?;
    let mut store = rustls::RootCertStore::empty();
    for block in blocks.iter().filter(|b| b.tag() == "CERTIFICATE") {
        store
            .add(rustls::pki_types::CertificateDer::from(
                block.contents().to_vec(),
            ))
            .map_err(|e| {
                anyhow::anyhow!("{}: a certificate cannot be a root: {e}", path.display())
            })?;
    }
    if store.is_empty() {
        anyhow::bail!("{} holds no CERTIFICATE block", path.display());
    }
    Ok(TlsRoots::Custom(store))
}

fn show(credential: &Path) -> Result<(), Failure> {
    let store = FileCredentialStore::new(credential);
    let Some(dc) = store.load().map_err(anyhow::Error::from)? else {
        return Err(Failure::Local(anyhow::anyhow!(
            "{}: no device credential yet (run device initialization first)",
            credential.display()
        )));
    };
    println!("active            {}", dc.active);
    println!("protocol version  {}", dc.protocol_version.0);
    println!("GUID              {}", dc.guid);
    println!("device info       {:?}", dc.device_info);
    println!("rendezvous        {}", dc.rv_info);
    println!("owner key hash    {}", dc.pub_key_hash);
    let held = |present: bool| {
        if present {
            "held in the credential"
        } else {
            "in a key store"
        }
    };
    println!("HMAC secret       {}", held(dc.hmac_secret.is_some()));
    println!("device key        {}", held(dc.device_key.is_some()));
    Ok(())
}

/// `vouch-device serve`: the page until Ctrl-C or SIGTERM.
fn serve(
    cert: &Path,
    key: &Path,
    listen: std::net::SocketAddr,
    title: String,
    webtransport: WebTransportArgs,
) -> anyhow::Result<()> {
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
    };
    let config = PageConfig {
        listen,
        cert_chain_pem: read(cert)?,
        key_pem: read(key)?,
        title,
    };
    runtime()?.block_on(async {
        let page = serve_page(config).await?;
        println!("vouch-device: serving https://{}/", page.addr);
        // Whoever reads the address (a script, a test) gets it now, not at exit.
        std::io::Write::flush(&mut std::io::stdout())?;
        let Some(mut service) = webtransport_service(webtransport)? else {
            stop_signal().await?;
            page.stop().await;
            eprintln!("vouch-device: stopped");
            return Ok(());
        };
        let failed = tokio::select! {
            r = stop_signal() => { r?; None }
            r = service.ended() => Some(r),
        };
        page.stop().await;
        let result = match failed {
            Some(r) => r.and(Err(anyhow::anyhow!("the WebTransport service ended"))),
            None => service.stop().await,
        };
        eprintln!("vouch-device: stopped");
        result
    })
}

/// Starts the WebTransport service when `--webtransport` asks for it.
fn webtransport_service(
    args: WebTransportArgs,
) -> anyhow::Result<Option<vouch_authenticator::webtransport::Service>> {
    use vouch_authenticator::webtransport::{ServiceConfig, ServiceEvent, start_service};
    let Some(listen) = args.webtransport else {
        return Ok(None);
    };
    let Some(dc) = FileCredentialStore::new(&args.credential).load()? else {
        anyhow::bail!(
            "{}: no device credential (WebTransport reports name the device by its GUID)",
            args.credential.display()
        );
    };
    let owner = match args.owner {
        Some(owner) => owner,
        None => {
            let file = args
                .credential
                .with_file_name(vouch_authenticator::OWNER_URL_FILE);
            vouch_authenticator::read_owner_url(&file).map_err(|e| {
                anyhow::anyhow!(
                    "no owner to report WebTransport certificates to: {}: {e} (pass --owner)",
                    file.display()
                )
            })?
        }
    };
    let mut config = ServiceConfig::new(listen, owner, dc.guid);
    config.rotate_every = std::time::Duration::from_secs(args.webtransport_rotate_every);
    if let TlsRoots::Custom(roots) = tls_roots(args.ca.as_deref())? {
        config.tls_roots = Some(roots);
    }
    let on_event = Arc::new(|event: &ServiceEvent| match event {
        ServiceEvent::Serving {
            addr,
            sha256,
            accepted,
            ..
        } => {
            let pending = if *accepted {
                ""
            } else {
                " (not accepted by the owner yet)"
            };
            println!(
                "vouch-device: webtransport https://{addr}/ sha256 {}{pending}",
                hex_string(sha256)
            );
            let _ = std::io::Write::flush(&mut std::io::stdout());
        }
        ServiceEvent::ReportFailed { error, retry_in } => eprintln!(
            "vouch-device: warning: the owner did not take the WebTransport certificate: \
             {error}; trying again in {retry_in:?}"
        ),
        _ => {}
    });
    let keys = FileKeyStore::new(&args.attestation_key);
    start_service(config, keys, on_event).map(Some)
}

/// Waits for Ctrl-C, or on Unix for SIGTERM too.
async fn stop_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())
            .map_err(|e| anyhow::anyhow!("cannot listen for SIGTERM: {e}"))?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map_err(|e| anyhow::anyhow!("cannot listen for Ctrl-C: {e}")),
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for Ctrl-C: {e}"))
}

/// `vouch-device renew`: the logic is in [`vouch_authenticator::renew`].
fn renew(
    credential: &Path,
    key: &Path,
    owner: Option<String>,
    cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    ca: Option<&Path>,
) -> Result<(), Failure> {
    use vouch_authenticator::renew::{self, RenewOptions};
    let named = owner.is_some();
    let owner_url = match owner {
        Some(url) => url,
        None => {
            let file = credential.with_file_name(vouch_authenticator::OWNER_URL_FILE);
            vouch_authenticator::read_owner_url(&file).map_err(|e| {
                anyhow::anyhow!(
                    "no owner URL: cannot read {} ({e}); onboard first or pass --owner URL",
                    file.display()
                )
            })?
        }
    };
    let plain_http = owner_url
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
    if named && plain_http {
        // Named on the command line by a person: that is a knowing choice.
        eprintln!(
            "vouch-device: note: renewal over plain http://: the signed request and the \
             certificate travel unencrypted"
        );
    }
    let options = RenewOptions {
        owner_url,
        tls_roots: tls_roots(ca)?,
        danger_allow_plain_http: named && plain_http,
        cert_path: cert.unwrap_or_else(|| credential.with_file_name(CERT_FILE)),
        key_path: tls_key.unwrap_or_else(|| credential.with_file_name(KEY_FILE)),
        timeout: renew::DEFAULT_TIMEOUT,
    };
    let credentials = FileCredentialStore::new(credential);
    let mut keys = FileKeyStore::new(key);
    let renewed = runtime()?
        .block_on(renew::renew(&credentials, &mut keys, &options))
        .map_err(|e| {
            if e.is_local() {
                Failure::Local(e.into())
            } else {
                Failure::Refused(e.to_string())
            }
        })?;
    println!("certificate renewed by the owner at {}", renewed.url);
    println!("GUID              {}", renewed.guid);
    println!(
        "TLS key SHA-256   {} (SubjectPublicKeyInfo)",
        hex_string(&renewed.spki_sha256)
    );
    println!("valid until       {}", renewed.not_after);
    println!("TLS certificate   {}", renewed.cert_path.display());
    println!("TLS key           {}", renewed.key_path.display());
    Ok(())
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Serve {
            cert,
            key,
            listen,
            title,
            webtransport,
        } => Ok(serve(&cert, &key, listen, title, webtransport)?),
        Command::Show { credential } => show(&credential),
        Command::Renew {
            credential,
            key,
            owner,
            cert,
            tls_key,
            ca,
        } => renew(&credential, &key, owner, cert, tls_key, ca.as_deref()),
        Command::Di {
            manufacturer,
            credential,
            key,
            serial,
            device_info,
            key_type,
            force,
            ca,
        } => {
            let mut builder =
                HttpTransport::builder(&manufacturer).roots(tls_roots(ca.as_deref())?);
            if manufacturer
                .get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
            {
                // Named on the command line by a person: that is a knowing choice.
                eprintln!(
                    "vouch-device: note: DI over plain http://: the manufacturer's messages and \
                     the certificate request travel unencrypted"
                );
                builder = builder.danger_allow_plain_http();
            }
            let mut transport = builder.build().map_err(anyhow::Error::from)?;
            let mut credentials = FileCredentialStore::new(&credential);
            let mut keys = FileKeyStore::new(&key);
            let options = DiOptions {
                key_type: match key_type {
                    KeyType::P256 => PkType::SECP256R1,
                    KeyType::P384 => PkType::SECP384R1,
                },
                serial_number: serial.unwrap_or_default(),
                device_info,
                force,
            };
            let dc = runtime()?.block_on(vouch_authenticator::initialize(
                &mut transport,
                &mut keys,
                &mut credentials,
                &options,
            ))?;
            println!("device initialized by the manufacturer at {manufacturer}");
            println!("GUID              {}", dc.guid);
            println!("device info       {:?}", dc.device_info);
            println!("rendezvous        {}", dc.rv_info);
            println!("credential        {}", credential.display());
            println!("attestation key   {}", key.display());
            Ok(())
        }
        Command::Onboard {
            credential,
            key,
            max_rounds,
            ca,
            tls_name,
            tls_ip,
            no_tls,
        } => {
            let mut credentials = FileCredentialStore::new(&credential);
            let mut keys = FileKeyStore::new(&key);
            let tls = TlsEnrolOptions {
                dns_names: tls_name,
                ips: tls_ip,
                webtransport_cert_sha256: None,
            };
            let modules: ModulesFactory = if no_tls {
                Arc::new(|c| DeviceModules::new(default_devmod(c)))
            } else {
                Arc::new(move |c| default_modules(c, &tls))
            };
            let options = OnboardOptions {
                max_rounds,
                tls_roots: tls_roots(ca.as_deref())?,
                modules,
                progress: Some(Arc::new(|p: &Progress<'_>| eprintln!("vouch-device: {p}"))),
                ..OnboardOptions::default()
            };
            let outcome = runtime()?.block_on(vouch_authenticator::onboard(
                &mut credentials,
                &mut keys,
                &options,
            ))?;
            match &outcome.rendezvous {
                Some(rv) => println!(
                    "onboarded by the owner at {} (found through the rendezvous server at {rv})",
                    outcome.owner
                ),
                None => println!(
                    "onboarded by the owner at {} (reached directly: RVBypass)",
                    outcome.owner
                ),
            }
            let owner_file = credential.with_file_name(vouch_authenticator::OWNER_URL_FILE);
            match vouch_authenticator::write_owner_url(&owner_file, &outcome.owner) {
                Ok(()) => println!("owner URL         {}", owner_file.display()),
                Err(e) => eprintln!(
                    "vouch-device: warning: cannot record the owner in {}: {e}",
                    owner_file.display()
                ),
            }
            println!("old GUID          {}", outcome.old_guid);
            if outcome.reused {
                println!(
                    "new GUID          {} (the owner kept the credential as it was)",
                    outcome.new_guid
                );
            } else {
                println!("new GUID          {}", outcome.new_guid);
                println!("rendezvous        {}", outcome.credential.rv_info);
                println!("credential        {} (replaced)", credential.display());
            }
            if let Some(tls) = &outcome.tls {
                let mut names: Vec<String> = tls.names.clone();
                names.extend(tls.ips.iter().map(ToString::to_string));
                println!("TLS names         {}", names.join(", "));
                println!(
                    "TLS key SHA-256   {} (SubjectPublicKeyInfo)",
                    hex_string(&tls.spki_sha256)
                );
                println!("TLS certificate   {}", tls.cert_path.display());
                println!("TLS key           {}", tls.key_path.display());
            }
            if let Some(why) = &outcome.tls_problem {
                println!("TLS               no new key: {why}");
            }
            Ok(())
        }
    }
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Local(e)) => {
            eprintln!("vouch-device: {e:#}");
            ExitCode::from(2)
        }
        Err(Failure::Refused(e)) => {
            eprintln!("vouch-device: {e}");
            ExitCode::from(1)
        }
        Err(Failure::Remote(e)) => {
            eprintln!("vouch-device: {e}");
            if let Some(m) = e.peer_message() {
                eprintln!(
                    "vouch-device: the server's FDO error: code {}, after message {}: {}",
                    m.code, m.prev_message, m.text
                );
            }
            ExitCode::from(1)
        }
    }
}
