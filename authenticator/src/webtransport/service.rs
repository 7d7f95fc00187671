//! The device's WebTransport service: the server, kept on one UDP port, with a certificate
//! that the owner has accepted and that is replaced before a browser would refuse it.
//!
//! [`start_service`] makes a certificate, reports its hash to the owner ([`report_rotation`])
//! and serves it. Every [`ServiceConfig::rotate_every`] it makes the successor, reports it and,
//! only once the owner has accepted it, replaces the server with one serving the successor on
//! the same address. A report that fails is retried with a doubling delay (from
//! [`ServiceConfig::retry_first`] to [`ServiceConfig::retry_max`]); meanwhile the device keeps
//! serving: at start it serves the certificate not yet accepted (a browser cannot pin it until
//! the owner has it), and later it keeps the accepted one until it expires. A report refused as
//! stale (the owner holds a certificate expiring no earlier) is retried with a fresh
//! certificate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use vouch_protocol::types::Guid;

use super::{
    MAX_VALIDITY_SECS, ReportError, RunningWt, WtCertificate, WtConfig, report_rotation_trusting,
    serve_webtransport, unix_now,
};
use crate::KeyStore;

/// How long a successor may keep failing to bind the old server's port before the service
/// gives up on it for this round.
const REBIND_FOR: Duration = Duration::from_secs(5);

/// How [`start_service`] runs.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// The UDP address to serve on; with port 0 the system picks one, and every later
    /// certificate is served on that same port.
    pub listen: SocketAddr,
    /// The owner's base URL, where the reports go.
    pub owner_url: String,
    /// The device, as its credential names it.
    pub guid: Guid,
    /// How long each certificate is served before the next one replaces it: more than zero
    /// and less than 14 days.
    pub rotate_every: Duration,
    /// The first delay before a failed report is sent again.
    pub retry_first: Duration,
    /// The longest delay between two attempts.
    pub retry_max: Duration,
    /// The roots an `https` owner's certificate must chain to (None: the WebPKI roots).
    pub tls_roots: Option<rustls::RootCertStore>,
}

impl ServiceConfig {
    /// `listen`, `owner_url` and `guid`, rotating weekly, retrying from 1 s up to 5 minutes.
    pub fn new(listen: SocketAddr, owner_url: String, guid: Guid) -> Self {
        Self {
            listen,
            owner_url,
            guid,
            rotate_every: Duration::from_secs(7 * 24 * 60 * 60),
            retry_first: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            tls_roots: None,
        }
    }
}

/// What the service did, for the caller to show.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ServiceEvent {
    /// A server is up (or its certificate was just accepted).
    Serving {
        /// Its UDP address.
        addr: SocketAddr,
        /// SHA-256 of its DER certificate.
        sha256: [u8; 32],
        /// The certificate's notAfter, unix seconds.
        not_after: u64,
        /// Whether the owner has accepted this certificate's hash (a browser can pin it).
        accepted: bool,
    },
    /// A report failed; it is retried after `retry_in`.
    ReportFailed {
        /// Why.
        error: String,
        /// When it is tried again.
        retry_in: Duration,
    },
}

/// What the service tells its caller about, as it happens.
pub type OnEvent = Arc<dyn Fn(&ServiceEvent) + Send + Sync>;

/// The running service; [`Service::stop`] ends it.
pub struct Service {
    stop: watch::Sender<bool>,
    /// None once [`Service::ended`] has seen it end.
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Service {
    /// Waits until the service ends by itself, which it does only on a failure it cannot
    /// retry (its address cannot be bound, the key has gone), and returns that failure.
    pub async fn ended(&mut self) -> anyhow::Result<()> {
        let Some(task) = self.task.as_mut() else {
            return std::future::pending().await;
        };
        let result = task.await;
        self.task = None;
        joined(result)
    }

    /// Stops the server and the rotations; returns the service's error if it had failed.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        match self.task.take() {
            Some(task) => joined(task.await),
            None => Ok(()),
        }
    }
}

fn joined(result: Result<anyhow::Result<()>, tokio::task::JoinError>) -> anyhow::Result<()> {
    match result {
        Ok(result) => result,
        Err(e) => bail!("the WebTransport service ended abnormally: {e}"),
    }
}

/// Starts the service (see the [module documentation](self)); `keys` holds the device
/// attestation key that signs the reports. Fails at once when the configuration cannot work
/// or the key is missing; later failures are reported through `on_event` and retried.
pub fn start_service<K>(
    config: ServiceConfig,
    mut keys: K,
    on_event: OnEvent,
) -> anyhow::Result<Service>
where
    K: KeyStore + Send + 'static,
{
    if config.rotate_every.is_zero() || config.rotate_every.as_secs() >= MAX_VALIDITY_SECS {
        bail!(
            "the WebTransport certificate must be rotated more often than every 14 days \
             (browsers pin none valid for longer), and after some time: {:?} is not",
            config.rotate_every
        );
    }
    if config.retry_first.is_zero() || config.retry_max < config.retry_first {
        bail!("the report's retry delays must be positive and the first no longer than the last");
    }
    keys.load()
        .context("the attestation key")?
        .context("no attestation key: the reports to the owner are signed with it")?;
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(run(config, keys, on_event, stopped));
    Ok(Service {
        stop,
        task: Some(task),
    })
}

async fn run<K: KeyStore>(
    config: ServiceConfig,
    mut keys: K,
    on_event: OnEvent,
    mut stopped: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let names = vec![config.listen.ip().to_string()];
    let mut addr = config.listen;
    let mut serving: Option<RunningWt> = None;
    let outcome = async {
        loop {
            let mut successor = WtCertificate::generate(&names)?;
            let mut delay = config.retry_first;
            // Report the successor until the owner accepts it.
            loop {
                let signer = keys
                    .load()
                    .context("the attestation key")?
                    .context("the attestation key has gone")?;
                let sent = report_rotation_trusting(
                    config.tls_roots.as_ref(),
                    &config.owner_url,
                    config.guid,
                    successor.sha256(),
                    successor.not_after(),
                    signer,
                );
                let error = tokio::select! {
                    r = sent => match r {
                        Ok(()) => break,
                        Err(e) => e,
                    },
                    _ = stopped.wait_for(|s| *s) => return Ok(()),
                };
                on_event(&ServiceEvent::ReportFailed {
                    error: error.to_string(),
                    retry_in: delay,
                });
                // Keep serving meanwhile: at start, the certificate not accepted yet; later,
                // the accepted one until it expires.
                let expired = serving
                    .as_ref()
                    .is_none_or(|s| unix_now().is_ok_and(|now| now >= s.not_after));
                if expired {
                    replace(&mut serving, &mut addr, &successor, false, &on_event).await?;
                }
                if sleep_or_stop(delay, &mut stopped).await {
                    return Ok(());
                }
                delay = (delay * 2).min(config.retry_max);
                if matches!(error, ReportError::Refused { status: 409, .. }) {
                    // The owner holds a certificate expiring no earlier: a fresh one will.
                    successor = WtCertificate::generate(&names)?;
                }
            }
            if serving
                .as_ref()
                .is_some_and(|s| s.cert_sha256 == successor.sha256())
            {
                on_event(&ServiceEvent::Serving {
                    addr,
                    sha256: successor.sha256(),
                    not_after: successor.not_after(),
                    accepted: true,
                });
            } else {
                replace(&mut serving, &mut addr, &successor, true, &on_event).await?;
            }
            if sleep_or_stop(config.rotate_every, &mut stopped).await {
                return Ok(());
            }
        }
    }
    .await;
    if let Some(server) = serving {
        server.stop().await;
    }
    outcome
}

/// Stops the current server, if any, and serves `certificate` on the same address.
async fn replace(
    serving: &mut Option<RunningWt>,
    addr: &mut SocketAddr,
    certificate: &WtCertificate,
    accepted: bool,
    on_event: &OnEvent,
) -> anyhow::Result<()> {
    if let Some(old) = serving.take() {
        old.stop().await;
    }
    // The old server's socket may take a moment to go.
    let deadline = tokio::time::Instant::now() + REBIND_FOR;
    let server = loop {
        match serve_webtransport(WtConfig {
            listen: *addr,
            certificate: certificate.clone(),
        })
        .await
        {
            Ok(server) => break server,
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e.context(format!("serving the new certificate on {addr}"))),
        }
    };
    *addr = server.addr;
    on_event(&ServiceEvent::Serving {
        addr: server.addr,
        sha256: server.cert_sha256,
        not_after: server.not_after,
        accepted,
    });
    *serving = Some(server);
    Ok(())
}

/// Sleeps for `delay`; true when the service was told to stop meanwhile.
async fn sleep_or_stop(delay: Duration, stopped: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => false,
        _ = stopped.wait_for(|s| *s) => true,
    }
}
