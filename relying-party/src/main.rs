//! `vouch-rp`: the relying party (manufacturer, rendezvous and owner roles).
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vouch_protocol::types::Guid;
use vouch_relying_party::store::{Store, StoreError};
use vouch_relying_party::voucher_cmd::{self, Format};
use vouch_relying_party::{demo, keys, rendezvous, server};

/// vouch relying party: FDO manufacturer, rendezvous and owner roles.
#[derive(Parser)]
#[command(version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Work with ownership vouchers: files (PEM or raw CBOR) and the server's database.
    #[command(subcommand)]
    Voucher(VoucherCommand),
    /// Serve the manufacturer, rendezvous and owner roles over HTTP.
    #[command(after_help = SERVE_AFTER_HELP)]
    Serve(ServeArgs),
    /// Print the public keys of the server's database.
    #[command(subcommand)]
    Key(KeyCommand),
    /// The owner CA: browsers trust it for the devices of the owner's DNS zone and address
    /// ranges only.
    #[command(subcommand)]
    Ca(CaCommand),
    /// The TLS keys the devices enrolled at onboarding, as the owner pinned them.
    #[command(subcommand)]
    Pins(PinsCommand),
    /// Onboard a device on loopback from start to end and explain each step.
    Demo {
        /// Keep the demo's database and device files in this directory (a temporary one by
        /// default, removed at the end).
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PinsCommand {
    /// List the pins: each device's GUID, key SHA-256 (base64), names and addresses.
    List {
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Delete a device's pin (and the addresses recorded with it): the device is no longer
    /// reached through the proxy, the WebTransport page or an exported pin list or policy.
    Delete {
        #[command(flatten)]
        db: DatabaseArg,
        /// The device's GUID (32 hexadecimal digits).
        #[arg(long)]
        guid: String,
    },
    /// Write the pins out for a browser.
    Export {
        #[command(flatten)]
        db: DatabaseArg,
        /// spki-list: the value of Chromium's --ignore-certificate-errors-spki-list; pem: the
        /// device certificates; webtransport: JSON, each device's WebTransport URL, pinned
        /// certificate hash (hex and base64) and its notAfter; chromium-policy: Chromium's
        /// managed policy trusting the owner CA for the pinned devices' names and addresses
        /// only.
        #[arg(long, value_enum, default_value = "spki-list")]
        format: vouch_relying_party::pins::ExportFormat,
        /// Where to write them (standard output by default).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Record where a pinned device serves HTTPS, so that the owner can reach its page through
    /// the pin (`/devices/GUID/`), and where it serves WebTransport, so that a browser can open
    /// a pinned session to it from `/webtransport/GUID`.
    Endpoint {
        #[command(flatten)]
        db: DatabaseArg,
        /// The device's GUID (32 hex digits).
        #[arg(long)]
        guid: String,
        /// The device's https base URL, such as https://192.168.1.7:8443 (https only).
        #[arg(long, value_name = "URL", required_unless_present = "webtransport")]
        url: Option<String>,
        /// The device's WebTransport URL, such as https://192.168.1.7:4433/ (for a server on
        /// IPv4 loopback write 127.0.0.1, not localhost).
        #[arg(long, value_name = "URL")]
        webtransport: Option<String>,
    },
}

/// The database directory of `vouch-rp`.
#[derive(clap::Args)]
struct DatabaseArg {
    /// The directory of the SQLite database (created when missing), `sqlite://FILE`, or a
    /// PostgreSQL URL (`postgres://user@host:port/database`) that several servers can share.
    #[arg(long, value_name = "DIR|URL", default_value = "vouch-rp-data")]
    database: PathBuf,
}

impl DatabaseArg {
    /// The database for messages (a PostgreSQL URL without its password).
    fn database_name(&self) -> String {
        vouch_relying_party::store::describe_location(&self.database)
    }
}

/// The end of `vouch-rp serve --help`.
const SERVE_AFTER_HELP: &str = "\
Options can also come from the environment (the VOUCH_ name shown with them) and, all but \
--config, from the TOML file given with --config, one key per option: listen = \"0.0.0.0:8080\", \
roles = \"owner\", rate-limit = 20, device-proxy = true, extend-to = [\"owner.pem\"]. The \
command line wins over the environment, the environment over the file, the file over the \
defaults.

Besides POST /fdo/101/msg/N, the server answers GET /healthz (200 while the process runs), \
GET /readyz (200 when the database answers, else 503) and GET /metrics (Prometheus text).";

#[derive(clap::Args)]
struct ServeArgs {
    /// A TOML file with serve options (see below).
    #[arg(long, value_name = "FILE", env = "VOUCH_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    db: DatabaseArg,
    /// Serve the pinned devices' pages at /devices/{guid}/ through the pinning proxy (owner
    /// role; set each device's address with `vouch-rp pins endpoint`). It answers only
    /// clients on this machine (loopback peer addresses); others get 403.
    #[arg(long, env = "VOUCH_DEVICE_PROXY")]
    device_proxy: bool,
    /// The address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, env = "VOUCH_LISTEN", default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// The roles to serve: a comma-separated list of manufacturer, rendezvous, owner, or all.
    #[arg(long, env = "VOUCH_ROLES", default_value = "all")]
    roles: String,
    /// How devices reach this server (default: http:// and the listening address).
    #[arg(long, value_name = "URL", env = "VOUCH_PUBLIC_URL")]
    public_url: Option<String>,
    /// The rendezvous server devices are sent to and the owner registers with (default: this
    /// server, when it runs the rendezvous role).
    #[arg(long, value_name = "URL", env = "VOUCH_RENDEZVOUS_URL")]
    rendezvous_url: Option<String>,
    /// The next owner's public key (PEM or DER; repeat for P-256 and P-384): new vouchers are
    /// extended to it at the end of DI. Default: this server's owner keys when it runs the
    /// owner role.
    #[arg(long, value_name = "PUBKEY")]
    extend_to: Vec<PathBuf>,
    /// Seconds between two rounds of the owner's TO0 loop.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "VOUCH_TO0_INTERVAL",
        default_value_t = 60
    )]
    to0_interval: u64,
    /// Seconds the owner asks the rendezvous server to keep a registration.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "VOUCH_TO0_WAIT",
        default_value_t = 3600
    )]
    to0_wait: u32,
    /// FDO requests a second allowed per client IP address (0: no limit); over it a client
    /// gets HTTP 429 with Retry-After. Loopback clients (a reverse proxy on this machine) are
    /// not limited.
    #[arg(
        long,
        value_name = "PER_SECOND",
        env = "VOUCH_RATE_LIMIT",
        default_value_t = 50
    )]
    rate_limit: u32,
    /// FDO requests a client may make at once before --rate-limit applies.
    #[arg(
        long,
        value_name = "REQUESTS",
        env = "VOUCH_RATE_BURST",
        default_value_t = 100
    )]
    rate_burst: u32,
    /// Seconds an FDO request may take to arrive and be answered; a client that stalls its
    /// body longer gets HTTP 408 and its connection closed.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "VOUCH_REQUEST_TIMEOUT",
        default_value_t = 30
    )]
    request_timeout: u64,
    /// How log lines on standard error look.
    #[arg(long, value_enum, env = "VOUCH_LOG_FORMAT", default_value = "human")]
    log_format: vouch_relying_party::logging::LogFormat,
    /// Which events are logged: a level (error, warn, info, debug, trace) or RUST_LOG-style
    /// directives. Default: RUST_LOG, else info.
    #[arg(long, value_name = "FILTER", env = "VOUCH_LOG_LEVEL")]
    log_level: Option<String>,
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Print a key's public part as PEM (`owner-p256`, `owner-p384`, `manufacturer-p256`,
    /// `manufacturer-p384`), creating the server's keys first when the database has none.
    Export {
        #[command(flatten)]
        db: DatabaseArg,
        /// The key's name.
        #[arg(long, default_value = "owner-p256")]
        name: String,
        /// Where to write it (standard output by default).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CaCommand {
    /// Create the owner CA and store it in the database (refused when one is stored, unless
    /// --replace).
    Init {
        #[command(flatten)]
        db: DatabaseArg,
        /// The DNS zone the CA may certify: that name and every name under it.
        #[arg(long, value_name = "NAME")]
        zone: String,
        /// An address range the CA may certify, address/prefix (repeat for several; none
        /// excludes every address).
        #[arg(long, value_name = "CIDR")]
        cidr: Vec<String>,
        /// Replace a stored CA: browsers then stop trusting the old CA's device certificates.
        #[arg(long)]
        replace: bool,
    },
    /// Print the stored CA's zone, ranges, validity and certificate SHA-256.
    Show {
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Write the CA certificate out, as PEM or as a Chromium policy file.
    Export {
        #[command(flatten)]
        db: DatabaseArg,
        /// Output format.
        #[arg(long, value_enum, default_value = "pem")]
        format: vouch_relying_party::owner_ca::ExportFormat,
        /// Where to write it (standard output by default).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum VoucherCommand {
    /// Print a readable summary: GUID, device info, rendezvous, keys, entries, chain hash.
    Inspect {
        /// The voucher file.
        file: PathBuf,
    },
    /// Verify a voucher; exits 0 when it holds, 1 naming the failing check.
    Verify {
        /// The voucher file.
        file: PathBuf,
        /// A device credential (vouch's format or fdo-rs' dc.bin): checks the manufacturer key
        /// hash, the GUID and, with the secret it holds, the header HMAC.
        #[arg(long, value_name = "DC")]
        device_credential: Option<PathBuf>,
        /// The device's HMAC secret in hex, to check the header HMAC.
        #[arg(long, value_name = "HEX")]
        device_secret: Option<String>,
    },
    /// Extend a voucher to a next owner, signing with the current owner's key.
    Extend {
        /// The voucher file.
        file: PathBuf,
        /// The current owner's private key (PEM or DER; P-256 or P-384).
        #[arg(long, value_name = "KEY")]
        owner_key: PathBuf,
        /// The next owner's public key or certificate (PEM or DER).
        #[arg(long, value_name = "PUBKEY")]
        next_owner: PathBuf,
        /// Where to write the extended voucher (standard output by default).
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Output encoding.
        #[arg(long, value_enum, default_value = "pem")]
        format: Format,
    },
    /// Store a voucher file in the server's database (refused if one is stored for its GUID).
    Import {
        #[command(flatten)]
        db: DatabaseArg,
        /// The voucher file.
        file: PathBuf,
    },
    /// Write a stored voucher out.
    Export {
        #[command(flatten)]
        db: DatabaseArg,
        /// The device's GUID (32 hex digits).
        #[arg(long)]
        guid: String,
        /// Where to write it (standard output by default).
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Output encoding.
        #[arg(long, value_enum, default_value = "pem")]
        format: Format,
    },
    /// List the vouchers stored in the server's database.
    List {
        #[command(flatten)]
        db: DatabaseArg,
    },
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => runtime()?.block_on(serve(args))?,
        Command::Demo { keep } => return runtime()?.block_on(demo::run(keep)),
        Command::Key(KeyCommand::Export { db, name, out }) => {
            runtime()?.block_on(async {
                let store = open(&db).await?;
                let keys = server::ensure_keys(&*store, now()).await?;
                let key = match name.as_str() {
                    server::OWNER_P256 => &keys.owner_p256,
                    server::OWNER_P384 => &keys.owner_p384,
                    server::MANUFACTURER_P256 => &keys.manufacturer_p256,
                    server::MANUFACTURER_P384 => &keys.manufacturer_p384,
                    other => anyhow::bail!("no key called {other:?}"),
                };
                let der = key.verifying_key().to_spki_der()?;
                let text = pem::encode(&pem::Pem::new("PUBLIC KEY", der));
                write_out(out.as_ref(), text.as_bytes())
            })?;
        }
        Command::Ca(command) => runtime()?.block_on(owner_ca_command(command))?,
        Command::Pins(command) => runtime()?.block_on(pins_command(command))?,
        Command::Voucher(VoucherCommand::Import { db, file }) => {
            let ov = voucher_cmd::read_voucher(&file)?;
            runtime()?.block_on(async {
                let store = open(&db).await?;
                server::import_voucher(&*store, &ov, now()).await?;
                println!("stored the voucher of device {}", ov.guid());
                anyhow::Ok(())
            })?;
        }
        Command::Voucher(VoucherCommand::Export {
            db,
            guid,
            out,
            format,
        }) => {
            let guid = Guid::from_hex(&guid)
                .map_err(|e| anyhow::anyhow!("{guid:?} is not a GUID (32 hex digits): {e}"))?;
            let bytes = runtime()?.block_on(async {
                let store = open(&db).await?;
                match store.get_voucher(guid).await {
                    Ok(b) => Ok(b),
                    Err(StoreError::NotFound(_)) => {
                        anyhow::bail!("no voucher stored for device {guid}")
                    }
                    Err(e) => Err(e.into()),
                }
            })?;
            let ov = vouch_protocol::voucher::OwnershipVoucher::from_bytes(&bytes)?;
            voucher_cmd::write_voucher(&ov, format, out.as_ref())?;
        }
        Command::Voucher(VoucherCommand::List { db }) => {
            let list = runtime()?.block_on(async {
                open(&db)
                    .await?
                    .list_vouchers()
                    .await
                    .map_err(anyhow::Error::from)
            })?;
            if list.is_empty() {
                println!("no vouchers stored");
            }
            for v in list {
                println!(
                    "{}  entries {}  owner key {}  {:?}",
                    v.guid,
                    v.entry_count,
                    hex::encode(&v.owner_key_sha256[..8]),
                    v.device_info
                );
            }
        }
        Command::Voucher(VoucherCommand::Inspect { file }) => {
            let ov = voucher_cmd::read_voucher(&file)?;
            voucher_cmd::inspect(&ov, &mut std::io::stdout().lock())?;
        }
        Command::Voucher(VoucherCommand::Verify {
            file,
            device_credential,
            device_secret,
        }) => {
            let ov = voucher_cmd::read_voucher(&file)?;
            match voucher_cmd::verify(ov, device_credential.as_deref(), device_secret.as_deref())? {
                Ok(msg) => println!("{}: {msg}", file.display()),
                Err(check) => {
                    eprintln!("{}: {check}", file.display());
                    return Ok(ExitCode::from(1));
                }
            }
        }
        Command::Voucher(VoucherCommand::Extend {
            file,
            owner_key,
            next_owner,
            out,
            format,
        }) => {
            let ov = voucher_cmd::read_voucher(&file)?;
            let next = voucher_cmd::extend(&ov, &owner_key, &next_owner)?;
            voucher_cmd::write_voucher(&next, format, out.as_ref())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn now() -> i64 {
    (rendezvous::system_clock())()
}

async fn open(db: &DatabaseArg) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    use anyhow::Context;
    vouch_relying_party::store::open_store(&db.database)
        .await
        .with_context(|| format!("opening the database {}", db.database_name()))
}

fn write_out(out: Option<&PathBuf>, bytes: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    match out {
        Some(p) => std::fs::write(p, bytes).with_context(|| format!("writing {}", p.display())),
        None => Ok(std::io::stdout().write_all(bytes)?),
    }
}

/// `vouch-rp ca …`.
async fn owner_ca_command(command: CaCommand) -> anyhow::Result<()> {
    use vouch_relying_party::owner_ca::OwnerCa;
    let stored = |db: &DatabaseArg, ca: Option<OwnerCa>| {
        let dir = db.database_name();
        ca.ok_or_else(|| {
            anyhow::anyhow!("no owner CA is stored in {dir}; create one with `vouch-rp ca init`")
        })
    };
    match command {
        CaCommand::Init {
            db,
            zone,
            cidr,
            replace,
        } => {
            let store = open(&db).await?;
            if !replace && let Some(old) = OwnerCa::load(&*store).await? {
                anyhow::bail!(
                    "an owner CA for {} is already stored in {}; pass --replace to replace it \
                     (browsers then stop trusting the old CA's device certificates)",
                    old.zone(),
                    db.database_name()
                );
            }
            let ca = OwnerCa::generate(&zone, &cidr)?;
            ca.save(&*store, replace, now()).await?;
            print!("created the owner CA\n{}", ca.describe()?);
        }
        CaCommand::Show { db } => {
            let ca = stored(&db, OwnerCa::load(&*open(&db).await?).await?)?;
            print!("{}", ca.describe()?);
        }
        CaCommand::Export { db, format, out } => {
            let ca = stored(&db, OwnerCa::load(&*open(&db).await?).await?)?;
            write_out(out.as_ref(), ca.export(format).as_bytes())?;
        }
    }
    Ok(())
}

/// `vouch-rp pins …`.
async fn pins_command(command: PinsCommand) -> anyhow::Result<()> {
    use vouch_relying_party::pins;
    match command {
        PinsCommand::Delete { db, guid } => {
            let guid = Guid::from_hex(&guid)
                .map_err(|e| anyhow::anyhow!("{guid:?} is not a GUID (32 hex digits): {e}"))?;
            match open(&db).await?.delete_pin(guid).await {
                Ok(()) => println!("deleted the pin of device {guid}"),
                Err(vouch_relying_party::store::StoreError::NotFound(_)) => {
                    anyhow::bail!("device {guid} has no pin")
                }
                Err(e) => return Err(e.into()),
            }
        }
        PinsCommand::List { db } => {
            let records = open(&db).await?.list_pins().await?;
            if records.is_empty() {
                println!("no pins in {}", db.database_name());
            } else {
                print!("{}", pins::describe(&records));
            }
        }
        PinsCommand::Export { db, format, out } => {
            let store = open(&db).await?;
            let records = store.list_pins().await?;
            if records.is_empty() {
                anyhow::bail!(
                    "no pins in {}: no device has enrolled a TLS key yet",
                    db.database_name()
                );
            }
            let webtransport = match format {
                pins::ExportFormat::Webtransport => store.list_webtransport_pins().await?,
                _ => Vec::new(),
            };
            let owner_ca = match format {
                pins::ExportFormat::ChromiumPolicy => {
                    vouch_relying_party::owner_ca::OwnerCa::load(&*store).await?
                }
                _ => None,
            };
            let text = pins::export(&records, &webtransport, owner_ca.as_ref(), format)?;
            write_out(out.as_ref(), text.as_bytes())?;
        }
        PinsCommand::Endpoint {
            db,
            guid,
            url,
            webtransport,
        } => {
            let guid = Guid::from_hex(&guid)
                .map_err(|e| anyhow::anyhow!("{guid:?} is not a GUID (32 hex digits): {e}"))?;
            // Both are checked before either is stored.
            let endpoint = url
                .as_deref()
                .map(vouch_relying_party::store::DeviceEndpoint::parse)
                .transpose()?;
            let webtransport = webtransport
                .as_deref()
                .map(vouch_relying_party::store::WebTransportUrl::parse)
                .transpose()?;
            let store = open(&db).await?;
            let no_pin = || {
                anyhow::anyhow!(
                    "device {guid} has no pin in {}: only a device that enrolled a TLS key can \
                     be reached through its pin",
                    db.database_name()
                )
            };
            if let Some(endpoint) = endpoint {
                match store.set_device_endpoint(guid, &endpoint, now()).await {
                    Ok(()) => println!("device {guid} is reached at {endpoint}"),
                    Err(StoreError::NotFound(_)) => return Err(no_pin()),
                    Err(e) => return Err(e.into()),
                }
            }
            if let Some(webtransport) = webtransport {
                match store.set_webtransport_url(guid, &webtransport, now()).await {
                    Ok(()) => println!("device {guid} serves WebTransport at {webtransport}"),
                    Err(StoreError::NotFound(_)) => return Err(no_pin()),
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    vouch_relying_party::logging::init(args.log_format, args.log_level.as_deref())?;
    let roles = server::Roles::parse(&args.roles)?;
    let extend_to = args
        .extend_to
        .iter()
        .map(|p| keys::read_public_key(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let running = server::start(server::ServeOptions {
        database: args.db.database,
        listen: args.listen,
        roles,
        public_url: args.public_url,
        rendezvous_url: args.rendezvous_url,
        extend_to,
        to0_interval: Some(std::time::Duration::from_secs(args.to0_interval.max(1))),
        to0_wait_seconds: args.to0_wait,
        device_proxy: args.device_proxy,
        limits: vouch_relying_party::fdo_http::Limits {
            rate_per_second: args.rate_limit,
            rate_burst: args.rate_burst,
            request_timeout: std::time::Duration::from_secs(args.request_timeout.max(1)),
            ..Default::default()
        },
    })
    .await?;
    // Scripts and tests read the address from this line.
    println!("vouch-rp: serving {roles} on {}", running.public_url);
    use std::io::Write;
    std::io::stdout().flush()?;
    shutdown_signal().await;
    running.stop().await;
    Ok(())
}

/// Ctrl-C, or SIGTERM on unix (what service managers and `kill` send).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The command line, with the values of `serve --config FILE` that neither the command line nor
/// the environment set ([`vouch_relying_party::config`]).
fn parse_cli() -> anyhow::Result<Cli> {
    let cli = Cli::parse();
    let Command::Serve(ServeArgs {
        config: Some(file), ..
    }) = &cli.command
    else {
        return Ok(cli);
    };
    let command = <Cli as clap::CommandFactory>::command();
    let matches = command.clone().get_matches();
    let (Some(serve), Some(serve_matches)) = (
        command.find_subcommand("serve"),
        matches.subcommand_matches("serve"),
    ) else {
        return Ok(cli);
    };
    let extra = vouch_relying_party::config::file_arguments(serve, serve_matches, file)?;
    Ok(Cli::parse_from(std::env::args_os().chain(extra)))
}

fn main() -> ExitCode {
    let cli = match parse_cli() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("vouch-rp: {e:#}");
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vouch-rp: {e:#}");
            ExitCode::from(2)
        }
    }
}
