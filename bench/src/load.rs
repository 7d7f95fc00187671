//! Simulated devices: vouch's own device agent (library), its stores in memory, driving DI,
//! TO1 and TO2 against a relying party over loopback HTTP, many at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::{Mutex, Semaphore};
use vouch_authenticator::onboard::{DiOptions, OnboardOptions};
use vouch_authenticator::{
    CredentialStore as _, HttpTransport, KeyStore as _, MemoryCredentialStore, MemoryKeyStore,
    Transport as _,
};
use vouch_protocol::flows::to1::To1Device;
use vouch_protocol::types::{SgType, SigInfo};

/// One simulated device: its credential and attestation key, in memory.
pub struct Device {
    credentials: MemoryCredentialStore,
    keys: MemoryKeyStore,
}

/// What a batch of runs measured.
pub struct Batch {
    /// Wall time of each run that succeeded.
    pub latencies: Vec<Duration>,
    /// Runs that failed, with the first error.
    pub errors: usize,
    pub first_error: Option<String>,
    /// Wall time of the whole batch.
    pub wall: Duration,
}

impl Batch {
    /// The `q` quantile (0–1) of the latencies.
    pub fn quantile(&self, q: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let i = ((sorted.len() - 1) as f64 * q).round() as usize;
        sorted[i.min(sorted.len() - 1)]
    }

    /// Successful runs per second of wall time.
    pub fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }
}

fn progress(what: &str, n: usize) -> ProgressBar {
    let bar = ProgressBar::new(n as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>22} [{bar:30}] {pos}/{len} {elapsed_precise}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// Runs `job` on each of `devices` with at most `concurrency` at once, as tasks of the
/// current thread's `LocalSet` (the agent's stores are not `Send`): the simulated devices
/// share one core, the relying party has the others.
async fn batch<F, Fut>(
    what: &str,
    devices: Vec<Arc<Mutex<Device>>>,
    concurrency: usize,
    job: F,
) -> Batch
where
    F: Fn(Arc<Mutex<Device>>) -> Fut + Clone + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + 'static,
{
    let bar = progress(what, devices.len());
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(devices.len());
    for device in devices {
        let permits = permits.clone();
        let job = job.clone();
        let bar = bar.clone();
        tasks.push(tokio::task::spawn_local(async move {
            let _permit = permits.acquire_owned().await;
            let t = Instant::now();
            let r = job(device).await;
            bar.inc(1);
            r.map(|()| t.elapsed())
        }));
    }
    let mut out = Batch {
        latencies: Vec::new(),
        errors: 0,
        first_error: None,
        wall: Duration::ZERO,
    };
    for task in tasks {
        match task.await {
            Ok(Ok(latency)) => out.latencies.push(latency),
            Ok(Err(e)) => {
                out.errors += 1;
                out.first_error.get_or_insert(format!("{e:#}"));
            }
            Err(e) => {
                out.errors += 1;
                out.first_error.get_or_insert(format!("task: {e}"));
            }
        }
    }
    out.wall = started.elapsed();
    bar.finish_and_clear();
    out
}

fn transport(url: &str) -> anyhow::Result<HttpTransport> {
    HttpTransport::builder(url)
        .danger_allow_plain_http()
        .build()
        .context("HTTP transport")
}

/// DI for `n` new devices against the manufacturer at `url`.
pub async fn manufacture(
    url: &str,
    n: usize,
    concurrency: usize,
) -> (Vec<Arc<Mutex<Device>>>, Batch) {
    let devices: Vec<_> = (0..n)
        .map(|_| {
            Arc::new(Mutex::new(Device {
                credentials: MemoryCredentialStore::new(None),
                keys: MemoryKeyStore::new(None),
            }))
        })
        .collect();
    let url = url.to_owned();
    let result = batch("DI", devices.clone(), concurrency, move |device| {
        let url = url.clone();
        async move {
            let mut device = device.lock().await;
            let device = &mut *device;
            let mut transport = transport(&url)?;
            vouch_authenticator::initialize(
                &mut transport,
                &mut device.keys,
                &mut device.credentials,
                &DiOptions::default(),
            )
            .await
            .context("DI")?;
            Ok(())
        }
    })
    .await;
    (devices, result)
}

/// TO1 for each device (HelloRV, ProveToRV, RVRedirect) against the rendezvous at `url`;
/// nothing is stored.
pub async fn to1(url: &str, devices: &[Arc<Mutex<Device>>], concurrency: usize) -> Batch {
    let url = url.to_owned();
    batch("TO1", devices.to_vec(), concurrency, move |device| {
        let url = url.clone();
        async move {
            let mut device = device.lock().await;
            to1_once(&url, &mut device).await
        }
    })
    .await
}

/// `rounds` TO1 lookups by each device in turn, `concurrency` devices at a time.
pub async fn to1_rounds(
    url: &str,
    devices: &[Arc<Mutex<Device>>],
    rounds: usize,
    concurrency: usize,
) -> Batch {
    let mut all = Vec::with_capacity(devices.len() * rounds);
    for _ in 0..rounds {
        all.extend(devices.iter().cloned());
    }
    let url = url.to_owned();
    batch("TO1 lookups", all, concurrency, move |device| {
        let url = url.clone();
        async move {
            let mut device = device.lock().await;
            to1_once(&url, &mut device).await
        }
    })
    .await
}

async fn to1_once(url: &str, device: &mut Device) -> anyhow::Result<()> {
    let credential = device
        .credentials
        .load()?
        .ok_or_else(|| anyhow!("no credential"))?;
    let signer = device.keys.load()?.ok_or_else(|| anyhow!("no key"))?;
    let mut transport = transport(url)?;
    let (out, state) = To1Device::start(&credential, SigInfo::new(SgType::ES256))?;
    let answer = transport.send(out.msg_type, out.body).await?;
    let (out, proved) = state
        .hello_rv_ack(answer.msg_type, &answer.body, signer)
        .map_err(|e| anyhow!("HelloRVAck: {e:?}"))?;
    let answer = transport.send(out.msg_type, out.body).await?;
    proved
        .rv_redirect(answer.msg_type, &answer.body)
        .map_err(|e| anyhow!("RVRedirect: {e:?}"))?;
    Ok(())
}

/// TO1 and TO2 for each device: a whole onboarding after DI. The device's credential is
/// replaced as TO2 ends.
pub async fn onboard(devices: &[Arc<Mutex<Device>>], concurrency: usize) -> Batch {
    batch(
        "TO1 + TO2",
        devices.to_vec(),
        concurrency,
        |device| async move {
            let mut device = device.lock().await;
            let device = &mut *device;
            let options = OnboardOptions {
                max_rounds: 1,
                ..OnboardOptions::default()
            };
            vouch_authenticator::onboard(&mut device.credentials, &mut device.keys, &options)
                .await
                .context("TO1 and TO2")?;
            Ok(())
        },
    )
    .await
}
