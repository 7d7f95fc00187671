//! `vouch-bench`: what vouch costs, measured honestly on the machine it runs on.
//!
//! * `onboard`: N simulated devices (vouch's agent as a library, stores in memory) against a
//!   `vouch-rp serve` child process with its own SQLite database, at each concurrency given:
//!   DI, then TO1 alone, then TO1 + TO2. Onboardings per second and latency p50/p99 are those
//!   of TO1 + TO2; the relying party's CPU per TO2 is its CPU in the TO1 + TO2 phase less its
//!   CPU in the TO1-only phase (so it is the owner's share), next to the crypto floor.
//! * `to1`: TO1 lookups per second against a rendezvous holding R registrations.
//! * `verify`: voucher verifications per second by number of entries.
//! * `floor`: the cryptography an onboarding cannot avoid, per suite.
//! * `device`: the stripped size of `vouch-device` and its peak RSS in DI and in onboarding.
//! * `all`: every one of them, one table (Markdown) and, with `--json FILE`, a JSON report.
//!
//! Build first: `cargo build --release -p vouch-relying-party -p vouch-authenticator -p
//! vouch-bench`; the binaries are looked up beside `vouch-bench` unless given.

mod floor;
mod load;
mod process;
mod verify;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(version, about = "Load and cost measurements of vouch")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
    /// The vouch-rp binary (default: beside vouch-bench).
    #[arg(long, global = true, value_name = "PATH")]
    rp_bin: Option<PathBuf>,
    /// The vouch-device binary (default: beside vouch-bench).
    #[arg(long, global = true, value_name = "PATH")]
    device_bin: Option<PathBuf>,
    /// Also write the results as JSON to this file.
    #[arg(long, global = true, value_name = "FILE")]
    json: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Full onboardings against a vouch-rp child process.
    Onboard {
        /// Devices per concurrency level.
        #[arg(long, default_value_t = 64)]
        devices: usize,
        /// Concurrency levels, comma-separated.
        #[arg(long, default_value = "1,8,64", value_delimiter = ',')]
        concurrency: Vec<usize>,
    },
    /// TO1 lookups against a rendezvous holding many registrations.
    To1 {
        /// Registrations in the rendezvous table (the devices made here, plus filler rows).
        #[arg(long, default_value_t = 100_000)]
        registrations: usize,
        /// Real devices, each looked up `rounds` times.
        #[arg(long, default_value_t = 32)]
        devices: usize,
        #[arg(long, default_value_t = 20)]
        rounds: usize,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Voucher verifications per second by number of entries.
    Verify {
        #[arg(long, default_value = "1,2,4,8,16", value_delimiter = ',')]
        entries: Vec<usize>,
    },
    /// The crypto floor per suite.
    Floor,
    /// vouch-device's stripped size and peak RSS.
    Device,
    /// Everything, with the defaults above.
    All,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vouch-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn beside_me(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("where vouch-bench is")?;
    let path = me.with_file_name(name);
    if !path.exists() {
        bail!(
            "{} not found: build it (cargo build --release -p vouch-relying-party -p \
             vouch-authenticator) or pass its path",
            path.display()
        );
    }
    Ok(path)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let rp_bin = || cli.rp_bin.clone().map_or_else(|| beside_me("vouch-rp"), Ok);
    let device_bin = || {
        cli.device_bin
            .clone()
            .map_or_else(|| beside_me("vouch-device"), Ok)
    };
    let runtime = LocalRuntime(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
    );
    let mut report = serde_json::Map::new();
    report.insert("machine".into(), machine());
    let mut floors = None;
    let need_floor = matches!(cli.command, Cmd::Floor | Cmd::Onboard { .. } | Cmd::All);
    if need_floor {
        let f = [
            floor::measure(false, Duration::from_millis(400)),
            floor::measure(true, Duration::from_millis(400)),
        ];
        print_floor(&f);
        report.insert("floor".into(), floor_json(&f));
        floors = Some(f);
    }
    let es256_floor = floors.as_ref().map(|f| f[0].owner_to2);
    match cli.command {
        Cmd::Floor => {}
        Cmd::Onboard {
            devices,
            concurrency,
        } => {
            let r = runtime.block_on(onboard(&rp_bin()?, devices, &concurrency, es256_floor))?;
            report.insert("onboard".into(), r);
        }
        Cmd::To1 {
            registrations,
            devices,
            rounds,
            concurrency,
        } => {
            let r =
                runtime.block_on(to1(&rp_bin()?, registrations, devices, rounds, concurrency))?;
            report.insert("to1".into(), r);
        }
        Cmd::Verify { entries } => {
            report.insert("verify".into(), verify_table(&entries)?);
        }
        Cmd::Device => {
            let r = runtime.block_on(device(&rp_bin()?, &device_bin()?))?;
            report.insert("device".into(), r);
        }
        Cmd::All => {
            let rp = rp_bin()?;
            let r = runtime.block_on(onboard(&rp, 64, &[1, 8, 64], es256_floor))?;
            report.insert("onboard".into(), r);
            let r = runtime.block_on(to1(&rp, 100_000, 32, 20, 8))?;
            report.insert("to1".into(), r);
            report.insert("verify".into(), verify_table(&[1, 2, 4, 8, 16])?);
            let r = runtime.block_on(device(&rp, &device_bin()?))?;
            report.insert("device".into(), r);
        }
    }
    if let Some(path) = &cli.json {
        std::fs::write(path, serde_json::to_string_pretty(&Value::Object(report))?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("vouch-bench: wrote {}", path.display());
    }
    Ok(())
}

/// A current-thread runtime whose futures run inside a `LocalSet` (see [`load`]).
struct LocalRuntime(tokio::runtime::Runtime);

impl LocalRuntime {
    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        tokio::task::LocalSet::new().block_on(&self.0, f)
    }
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name")?.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    json!({ "cpu": cpu, "cores": cores })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn print_floor(f: &[floor::Floor]) {
    println!("\n## Crypto floor (vouch's own provider, this run)\n");
    println!(
        "| suite | sign | verify | owner ECDH | KDF | AEAD/msg | owner TO2 floor | device TO2 floor | rendezvous TO1 floor |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for x in f {
        println!(
            "| {} | {:.3} ms | {:.3} ms | {:.3} ms | {:.4} ms | {:.4} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
            x.suite,
            ms(x.sign),
            ms(x.verify),
            ms(x.kex_owner),
            ms(x.kdf),
            ms(x.aead),
            ms(x.owner_to2),
            ms(x.device_to2),
            ms(x.rendezvous_to1)
        );
    }
}

fn floor_json(f: &[floor::Floor]) -> Value {
    Value::Array(
        f.iter()
            .map(|x| {
                json!({
                    "suite": x.suite, "sign_ms": ms(x.sign), "verify_ms": ms(x.verify),
                    "kex_owner_ms": ms(x.kex_owner), "kex_device_ms": ms(x.kex_device),
                    "kdf_ms": ms(x.kdf), "aead_ms": ms(x.aead), "hmac_ms": ms(x.hmac),
                    "owner_to2_ms": ms(x.owner_to2), "device_to2_ms": ms(x.device_to2),
                    "rendezvous_to1_ms": ms(x.rendezvous_to1),
                })
            })
            .collect(),
    )
}

async fn onboard(
    rp_bin: &Path,
    devices: usize,
    levels: &[usize],
    floor: Option<Duration>,
) -> anyhow::Result<Value> {
    println!("\n## Onboardings against vouch-rp (SQLite, one instance, ES256/ECDH256/A128GCM)\n");
    println!(
        "| concurrency | devices | onboardings/s | p50 | p99 | owner CPU per TO2 | ratio to floor | DI/s | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for &c in levels {
        let dir = tempfile::tempdir()?;
        let rp = process::RelyingParty::start(rp_bin, &dir.path().join("rp"))?;
        let (fleet, di) = load::manufacture(&rp.url, devices, c).await;
        fail_on_errors("DI", &di)?;
        let cpu0 = rp.cpu()?;
        let to1 = load::to1(&rp.url, &fleet, c).await;
        fail_on_errors("TO1", &to1)?;
        let cpu1 = rp.cpu()?;
        let onb = load::onboard(&fleet, c).await;
        let cpu2 = rp.cpu()?;
        let peak = rp.peak_rss_kib()?;
        rp.stop();
        let n = onb.latencies.len().max(1) as u32;
        let owner_cpu = (cpu2 - cpu1).saturating_sub(cpu1 - cpu0) / n;
        let ratio = floor.map(|f| owner_cpu.as_secs_f64() / f.as_secs_f64());
        println!(
            "| {c} | {devices} | {:.1} | {:.1} ms | {:.1} ms | {:.2} ms | {} | {:.1} | {} |",
            onb.per_second(),
            ms(onb.quantile(0.5)),
            ms(onb.quantile(0.99)),
            ms(owner_cpu),
            ratio.map_or("–".into(), |r| format!("{r:.2}×")),
            di.per_second(),
            onb.errors
        );
        if let Some(e) = &onb.first_error {
            eprintln!("vouch-bench: first onboarding error: {e}");
        }
        rows.push(json!({
            "database": "sqlite", "instances": 1, "concurrency": c, "devices": devices,
            "onboardings_per_s": onb.per_second(), "p50_ms": ms(onb.quantile(0.5)),
            "p99_ms": ms(onb.quantile(0.99)), "owner_cpu_per_to2_ms": ms(owner_cpu),
            "ratio_to_floor": ratio, "di_per_s": di.per_second(),
            "server_cpu_to1_ms": ms((cpu1 - cpu0) / n), "server_peak_rss_kib": peak,
            "errors": onb.errors,
        }));
        if onb.errors > 0 {
            bail!("{} onboardings failed", onb.errors);
        }
    }
    Ok(Value::Array(rows))
}

fn fail_on_errors(what: &str, b: &load::Batch) -> anyhow::Result<()> {
    match &b.first_error {
        Some(e) => bail!("{} of the {what} runs failed; the first: {e}", b.errors),
        None => Ok(()),
    }
}

async fn to1(
    rp_bin: &Path,
    registrations: usize,
    devices: usize,
    rounds: usize,
    concurrency: usize,
) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    let rp = process::RelyingParty::start(rp_bin, &dir.path().join("rp"))?;
    let (fleet, di) = load::manufacture(&rp.url, devices, concurrency).await;
    fail_on_errors("DI", &di)?;
    let filler = registrations.saturating_sub(devices);
    fill_registrations(&rp.database, filler).await?;
    let cpu0 = rp.cpu()?;
    let b = load::to1_rounds(&rp.url, &fleet, rounds, concurrency).await;
    let cpu1 = rp.cpu()?;
    rp.stop();
    fail_on_errors("TO1", &b)?;
    let per = (cpu1 - cpu0) / b.latencies.len().max(1) as u32;
    println!("\n## TO1 against a rendezvous holding {registrations} registrations\n");
    println!("| lookups | concurrency | lookups/s | p50 | p99 | server CPU per lookup | errors |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {} | {concurrency} | {:.1} | {:.1} ms | {:.1} ms | {:.2} ms | {} |",
        b.latencies.len(),
        b.per_second(),
        ms(b.quantile(0.5)),
        ms(b.quantile(0.99)),
        ms(per),
        b.errors
    );
    Ok(json!({
        "registrations": registrations, "lookups": b.latencies.len(),
        "concurrency": concurrency, "lookups_per_s": b.per_second(),
        "p50_ms": ms(b.quantile(0.5)), "p99_ms": ms(b.quantile(0.99)),
        "server_cpu_per_lookup_ms": ms(per), "errors": b.errors,
    }))
}

/// Adds `n` registrations under random GUIDs, copies of a real one (same to1d and voucher
/// sizes), in one transaction on the running server's SQLite database.
async fn fill_registrations(database: &Path, n: usize) -> anyhow::Result<()> {
    use sqlx::Connection as _;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
    let options = SqliteConnectOptions::new()
        .filename(database.join("vouch.sqlite3"))
        .busy_timeout(Duration::from_secs(30));
    let mut db = SqliteConnection::connect_with(&options)
        .await
        .context("opening the relying party's database")?;
    let (to1d, voucher, expires_at): (Vec<u8>, Vec<u8>, i64) =
        sqlx::query_as("SELECT to1d, voucher, expires_at FROM rv_registrations LIMIT 1")
            .fetch_one(&mut db)
            .await
            .context("no registration to copy: did the hand-over register the devices?")?;
    let bar = indicatif::ProgressBar::new(n as u64);
    bar.set_message("filler registrations");
    let mut tx = db.begin().await?;
    for _ in 0..n {
        let mut guid = [0u8; 16];
        getrandom::fill(&mut guid).map_err(|e| anyhow::anyhow!("random: {e}"))?;
        sqlx::query(
            "INSERT INTO rv_registrations (guid, to1d, voucher, expires_at, updated_at) \
             VALUES ($1, $2, $3, $4, 0)",
        )
        .bind(guid.as_slice())
        .bind(to1d.as_slice())
        .bind(voucher.as_slice())
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        bar.inc(1);
    }
    tx.commit().await?;
    bar.finish_and_clear();
    Ok(())
}

fn verify_table(entries: &[usize]) -> anyhow::Result<Value> {
    let budget = Duration::from_millis(500);
    let one_verify = floor::measure(false, Duration::from_millis(300)).verify;
    println!("\n## Voucher verification (ES256 entries, header HMAC included)\n");
    println!("| entries | verifications/s | time | n signature verifications | ratio |");
    println!("|---|---|---|---|---|");
    let mut rows = Vec::new();
    for &n in entries {
        let bytes = verify::voucher(n)?;
        let t = verify::time_verify(&bytes, budget)?;
        let sigs = one_verify * n as u32;
        let ratio = t.as_secs_f64() / sigs.as_secs_f64().max(f64::MIN_POSITIVE);
        println!(
            "| {n} | {:.0} | {:.3} ms | {:.3} ms | {ratio:.2}× |",
            1.0 / t.as_secs_f64(),
            ms(t),
            ms(sigs)
        );
        rows.push(json!({
            "entries": n, "per_s": 1.0 / t.as_secs_f64(), "ms": ms(t),
            "signature_verifications_ms": ms(sigs), "ratio": ratio,
        }));
    }
    Ok(Value::Array(rows))
}

async fn device(rp_bin: &Path, device_bin: &Path) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    let stripped = dir.path().join("vouch-device.stripped");
    std::fs::copy(device_bin, &stripped)?;
    let status = Command::new("strip")
        .arg(&stripped)
        .status()
        .context("running strip (binutils)")?;
    if !status.success() {
        bail!("strip failed on a copy of {}", device_bin.display());
    }
    let size = std::fs::metadata(&stripped)?.len();
    let unstripped = std::fs::metadata(device_bin)?.len();

    let rp = process::RelyingParty::start(rp_bin, &dir.path().join("rp"))?;
    let device_dir = dir.path().join("device");
    let credential = device_dir.join("credential.cbor");
    let key = device_dir.join("key.pem");
    let (di_ok, di_rss) = process::run_measured(
        Command::new(device_bin)
            .args(["di", "--manufacturer", &rp.url])
            .arg("--credential")
            .arg(&credential)
            .arg("--key")
            .arg(&key),
        &dir.path().join("di.log"),
    )?;
    let (onboard_ok, onboard_rss) = process::run_measured(
        Command::new(device_bin)
            .args(["onboard", "--max-rounds", "1"])
            .arg("--credential")
            .arg(&credential)
            .arg("--key")
            .arg(&key),
        &dir.path().join("onboard.log"),
    )?;
    rp.stop();
    if !di_ok || !onboard_ok {
        let log =
            std::fs::read_to_string(
                dir.path()
                    .join(if di_ok { "onboard.log" } else { "di.log" }),
            )
            .unwrap_or_default();
        bail!("vouch-device failed:\n{log}");
    }
    println!("\n## Device agent footprint\n");
    println!("| vouch-device stripped | unstripped | peak RSS in DI | peak RSS in TO1 + TO2 |");
    println!("|---|---|---|---|");
    println!(
        "| {:.2} MiB | {:.2} MiB | {:.1} MiB | {:.1} MiB |",
        size as f64 / 1048576.0,
        unstripped as f64 / 1048576.0,
        di_rss as f64 / 1024.0,
        onboard_rss as f64 / 1024.0
    );
    Ok(json!({
        "stripped_bytes": size, "unstripped_bytes": unstripped,
        "di_peak_rss_kib": di_rss, "onboard_peak_rss_kib": onboard_rss,
    }))
}
