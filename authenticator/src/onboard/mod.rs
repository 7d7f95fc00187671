//! The device side of onboarding: DI with the manufacturer ([`initialize`]), then TO1 with a
//! rendezvous server and TO2 with the owner ([`onboard`]).
//!
//! Both pump the sans-IO state machines of [`vouch_protocol::flows`] through a
//! [`Transport`], and both write the device credential only once the peer has confirmed the
//! end of the protocol (DI.Done, TO2.Done2): whatever fails before that, the device keeps the
//! credential it had.
//!
//! ```text
//! initialize:  AppStart(MfgInfo with a CSR) → SetCredentials → SetHMAC → Done → store
//! onboard:     for each round, for each rendezvous directive (rv::rv_plan):
//!                RVBypass → TO2 at that address
//!                otherwise TO1 there → to1d → TO2 at its first owner address that answers
//!              TO2.Done2 → store the new credential → write the TLS key and chain
//! ```
//!
//! By default the device runs `vouch.tls` ([`tls`]) in TO2: when the owner asks, it enrols a
//! fresh TLS key, and [`onboard`] writes the key and the owner's chain beside the credential
//! file once the credential is stored ([`OnboardOutcome::tls`]).

mod csr;
pub mod rv;
pub mod tls;

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rand_core::UnwrapErr;
use vouch_protocol::cbor::Cbor;
use vouch_protocol::credential::DeviceCredential;
use vouch_protocol::crypto::{RustCrypto, SigAlg, Signer, SigningKey};
use vouch_protocol::flows::FlowError;
use vouch_protocol::flows::di::DiDevice;
use vouch_protocol::flows::to1::{To1Device, UnverifiedTo1d};
use vouch_protocol::flows::to2::{DeviceConfig, DeviceOutcome, DeviceStep, To2Device};
use vouch_protocol::messages::di::{DeviceMfgInfo, MfgInfo};
use vouch_protocol::messages::{ErrorMessage, MessageType};
use vouch_protocol::serviceinfo::{DeviceModules, Devmod};
use vouch_protocol::types::{Guid, PkBody, PkEnc, PkType, SgType, SigInfo};

use crate::StoreError;
use crate::credential_store::CredentialStore;
use crate::key_store::KeyStore;
use crate::transport::{HttpTransport, TlsRoots, Transport, TransportError};

pub use rv::{Endpoint, Host, RvPlan, RvTarget, Scheme, SkippedDirective, rv_plan, rv_targets};
pub use tls::{TlsEnrolDevice, TlsEnrolOptions};

/// The crypto provider of every flow here.
const CRYPTO: RustCrypto = RustCrypto;

// ---------------------------------------------------------------------------------------------
// DI

/// What the device tells its manufacturer in DI.AppStart, and how careful DI is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiOptions {
    /// The attestation key's type, used when the key store has no key yet (P-256 by
    /// default; P-384 is the other choice). An existing key of another type is an error, never
    /// replaced.
    pub key_type: PkType,
    /// The serial number (MfgInfo serialNo, and the CN of the certificate request). Empty:
    /// the first 16 hexadecimal digits of SHA-256 over the attestation key's
    /// SubjectPublicKeyInfo, stable for the life of the key.
    pub serial_number: String,
    /// The model (MfgInfo deviceInfo), which the manufacturer usually copies into
    /// OVDeviceInfo.
    pub device_info: String,
    /// Replace an active credential, or one that cannot be read. Without it, DI refuses to run
    /// on a device that has one: the credential is the device's identity towards its owner,
    /// and a DI run by mistake would lose it.
    pub force: bool,
}

impl Default for DiOptions {
    fn default() -> Self {
        Self {
            key_type: PkType::SECP256R1,
            serial_number: String::new(),
            device_info: "vouch-device".into(),
            force: false,
        }
    }
}

/// Runs DI (messages 10–13) with the manufacturer behind `transport` and stores the new
/// credential once DI.Done has arrived.
///
/// The attestation key is loaded or generated first; DI.AppStart carries
/// `bstr .cbor MfgInfo` with a PKCS#10 request signed by it. If the device already has an
/// active credential, nothing is sent unless [`DiOptions::force`]. If the manufacturer's
/// message fails the device's checks, the device sends it the FDO error message; either way,
/// nothing is stored unless DI completes.
pub async fn initialize<T: Transport>(
    transport: &mut T,
    keys: &mut dyn KeyStore,
    credentials: &mut dyn CredentialStore,
    options: &DiOptions,
) -> Result<DeviceCredential, OnboardError> {
    match credentials.load() {
        Ok(Some(existing)) if existing.active && !options.force => {
            return Err(OnboardError::CredentialExists {
                guid: existing.guid,
            });
        }
        Ok(_) => {}
        // A credential that cannot be read is replaced when DI is forced.
        Err(_) if options.force => {}
        Err(e) => return Err(e.into()),
    }
    let signer = keys.load_or_generate(options.key_type)?;
    let serial_number = if options.serial_number.is_empty() {
        key_fingerprint(signer)?
    } else {
        options.serial_number.clone()
    };
    let csr = csr::certificate_request(signer, &serial_number).map_err(OnboardError::Csr)?;
    let mfg_info = MfgInfo {
        key_type: options.key_type,
        key_encoding: PkEnc::X509,
        serial_number,
        device_info: options.device_info.clone(),
        csr,
    };
    let (out, device) = DiDevice::start(Some(signer.algorithm()), DeviceMfgInfo::wrap(&mfg_info));

    let mut peer = Peer::new(transport, Step::Di, None);
    let answer = peer.send(out.msg_type, out.body).await?;
    let mut rng = os_rng()?;
    let (out, device) = peer
        .check(device.set_credentials(answer.msg_type, &answer.body, &CRYPTO, &mut rng))
        .await?;
    let answer = peer.send(out.msg_type, out.body).await?;
    let credential = peer
        .check(device.done(answer.msg_type, &answer.body))
        .await?;

    credentials
        .store(&credential)
        .map_err(|source| OnboardError::NotStored {
            step: Step::Di,
            guid: credential.guid,
            source,
        })?;
    Ok(credential)
}

/// The first 16 hexadecimal digits of SHA-256 over the key's SubjectPublicKeyInfo.
fn key_fingerprint(signer: &dyn Signer) -> Result<String, OnboardError> {
    use vouch_protocol::crypto::CryptoProvider;
    let public = signer
        .public_key(PkEnc::X509)
        .map_err(OnboardError::Local)?;
    let PkBody::X509(spki) = &public.body else {
        return Err(OnboardError::Csr(
            "the key store gave no SubjectPublicKeyInfo for the attestation key".into(),
        ));
    };
    let hash = CRYPTO
        .hash(vouch_protocol::types::HashAlg::SHA256, &[spki])
        .map_err(OnboardError::Local)?;
    Ok(hash
        .value()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect())
}

// ---------------------------------------------------------------------------------------------
// TO1 and TO2

/// Builds the ServiceInfo modules for one TO2 attempt, from the credential it runs with.
pub type ModulesFactory = Arc<dyn Fn(&DeviceCredential) -> DeviceModules + Send + Sync>;

/// Receives what onboarding is doing, for a log or a progress display.
pub type ProgressSink = Arc<dyn Fn(&Progress<'_>) + Send + Sync>;

/// One thing onboarding did, for [`OnboardOptions::progress`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Progress<'a> {
    /// A rendezvous directive is not followed.
    Skipped(&'a SkippedDirective),
    /// A round over the rendezvous directives begins (from 1).
    Round {
        /// This round.
        round: u32,
        /// The most rounds.
        of: u32,
    },
    /// A protocol is about to run with a server.
    Trying {
        /// TO1 or TO2.
        step: Step,
        /// The server's base URL.
        url: String,
    },
    /// It failed; the next server or round follows.
    Failed(&'a OnboardError),
    /// Waiting before the next directive (RVDelaysec) or the next round (back-off).
    Waiting {
        /// How long.
        delay: Duration,
        /// Why, in words.
        reason: &'static str,
    },
}

impl fmt::Display for Progress<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Skipped(s) => s.fmt(f),
            Self::Round { round, of } => write!(f, "round {round} of {of}"),
            Self::Trying { step, url } => write!(f, "{step} with {} at {url}", step.peer()),
            Self::Failed(e) => e.fmt(f),
            Self::Waiting { delay, reason } => {
                write!(f, "waiting {} s {reason}", delay.as_secs_f32())
            }
        }
    }
}

/// How [`onboard`] goes about it.
#[derive(Clone)]
pub struct OnboardOptions {
    /// The most rounds over the rendezvous directives (at least 1; default 3).
    pub max_rounds: u32,
    /// The first pause between rounds; it doubles every round up to
    /// [`retry_cap`](Self::retry_cap), and a random part of up to half of it is taken off,
    /// so that devices powered on together do not retry together (default 10 s).
    pub retry_base: Duration,
    /// The longest pause between rounds (default 120 s).
    pub retry_cap: Duration,
    /// Key exchange and cipher for TO2. `None` (the default): ECDH256 with A128GCM for a
    /// P-256 attestation key, ECDH384 with A256GCM for P-384, and credential reuse accepted
    /// when the owner asks for it. The owner's key type is not known before TO2, so the
    /// device's own key decides.
    pub device_config: Option<DeviceConfig>,
    /// The roots `https://` servers must chain to (default: the WebPKI roots).
    pub tls_roots: TlsRoots,
    /// The limit on each HTTP exchange.
    pub timeout: Duration,
    /// The ServiceInfo modules, built afresh for every TO2 attempt (default:
    /// [`default_modules`] with the default [`TlsEnrolOptions`]: devmod and `vouch.tls`).
    pub modules: ModulesFactory,
    /// Where progress goes (default: nowhere).
    pub progress: Option<ProgressSink>,
}

impl fmt::Debug for OnboardOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnboardOptions")
            .field("max_rounds", &self.max_rounds)
            .field("retry_base", &self.retry_base)
            .field("retry_cap", &self.retry_cap)
            .field("device_config", &self.device_config)
            .field("tls_roots", &self.tls_roots)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Default for OnboardOptions {
    fn default() -> Self {
        Self {
            max_rounds: 3,
            retry_base: Duration::from_secs(10),
            retry_cap: Duration::from_secs(120),
            device_config: None,
            tls_roots: TlsRoots::default(),
            timeout: crate::transport::DEFAULT_TIMEOUT,
            modules: Arc::new(|credential| {
                default_modules(credential, &TlsEnrolOptions::default())
            }),
            progress: None,
        }
    }
}

/// The modules the agent runs by default: devmod ([`default_devmod`]) and `vouch.tls`, which
/// enrols a TLS key for `tls`'s names when the owner asks for it (the owner decides).
pub fn default_modules(credential: &DeviceCredential, tls: &TlsEnrolOptions) -> DeviceModules {
    DeviceModules::new(default_devmod(credential))
        .with(Box::new(TlsEnrolDevice::new(credential.guid, tls.clone())))
}

/// The devmod of this device, as far as the agent knows it portably: the operating system
/// and architecture it was built for, the credential's device info as the model, `/` as the
/// path separator. The OS version is not known portably and is sent as `unknown`.
pub fn default_devmod(credential: &DeviceCredential) -> Devmod {
    Devmod {
        active: true,
        os: std::env::consts::OS.into(),
        arch: std::env::consts::ARCH.into(),
        version: "unknown".into(),
        device: credential.device_info.clone(),
        sn: None,
        pathsep: None,
        sep: std::path::MAIN_SEPARATOR.to_string(),
        nl: None,
        tmp: None,
        dir: None,
        progenv: None,
        bin: std::env::consts::ARCH.into(),
        mudurl: None,
        modules: Vec::new(),
    }
}

/// What onboarding achieved.
#[derive(Debug)]
pub struct OnboardOutcome {
    /// The GUID the device had.
    pub old_guid: Guid,
    /// The GUID the owner gave it (the same under credential reuse).
    pub new_guid: Guid,
    /// The owner asked to keep the credential as it was, and the device agreed; nothing was
    /// written.
    pub reused: bool,
    /// The rendezvous server TO1 ran with; `None` under RVBypass.
    pub rendezvous: Option<String>,
    /// The owner TO2 ran with.
    pub owner: String,
    /// The credential now stored.
    pub credential: DeviceCredential,
    /// The ServiceInfo modules after the exchange, to read their results (the `vouch.tls`
    /// module's key, once written, is no longer in it).
    pub modules: DeviceModules,
    /// The TLS key the owner certified in `vouch.tls`, and where it was written; `None` when
    /// the owner did not ask, refused, or the files could not be written
    /// ([`tls_problem`](Self::tls_problem)).
    pub tls: Option<TlsEnrolment>,
    /// Why the owner asked for a TLS key and the device has no new one: the owner's refusal,
    /// or what failed on the device (the credential is stored all the same).
    pub tls_problem: Option<String>,
}

/// A TLS key enrolled in TO2 and written beside the credential file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsEnrolment {
    /// The chain the owner returned, PEM, leaf first ([`tls::CERT_FILE`]).
    pub cert_path: PathBuf,
    /// The private key, PKCS#8 PEM, mode 0600 ([`tls::KEY_FILE`]).
    pub key_path: PathBuf,
    /// The DNS names certified.
    pub names: Vec<String>,
    /// The addresses certified.
    pub ips: Vec<IpAddr>,
    /// SHA-256 of the key's DER SubjectPublicKeyInfo: the pin the owner recorded.
    pub spki_sha256: [u8; 32],
}

/// Onboards the device: TO1 with the first rendezvous server of its credential's
/// RendezvousInfo that answers ([`rv_plan`]), then TO2 with the owner; stores the new
/// credential after TO2.Done2, and only then.
///
/// Each directive is tried in order; after a directive failed, the device waits its
/// RVDelaysec; after a whole round failed, it backs off ([`OnboardOptions::retry_base`]) and
/// starts over, up to [`OnboardOptions::max_rounds`]. A local problem (no credential, no key,
/// a store that cannot be written) ends it at once. A to1d's owner signature is checked inside
/// TO2, once the owner has proven its key.
pub async fn onboard(
    credentials: &mut dyn CredentialStore,
    keys: &mut dyn KeyStore,
    options: &OnboardOptions,
) -> Result<OnboardOutcome, OnboardError> {
    let credential = credentials.load()?.ok_or(OnboardError::NoCredential)?;
    if !credential.active {
        return Err(OnboardError::Inactive {
            guid: credential.guid,
        });
    }
    // The key store's key, or else the one a credential from another implementation holds.
    let held: SigningKey;
    let signer: &dyn Signer = match keys.load()? {
        Some(signer) => signer,
        None => match credential.device_key.as_deref() {
            Some(der) => {
                held = SigningKey::from_der(der).map_err(OnboardError::Local)?;
                &held
            }
            None => return Err(OnboardError::NoKey),
        },
    };
    let config = match &options.device_config {
        Some(c) => c.clone(),
        None => default_config(signer.algorithm()),
    };
    let report = |p: Progress| {
        if let Some(sink) = &options.progress {
            sink(&p);
        }
    };

    let plan = rv_plan(&credential.rv_info);
    for skipped in &plan.skipped {
        report(Progress::Skipped(skipped));
    }
    if plan.targets.is_empty() {
        return Err(OnboardError::NoRendezvous {
            skipped: plan.skipped,
        });
    }

    let mut rng = os_rng()?;
    let ctx = Context {
        credential: &credential,
        signer,
        config,
        options,
    };
    let rounds = options.max_rounds.max(1);
    let mut attempts = Vec::new();
    for round in 1..=rounds {
        if round > 1 {
            let delay = backoff(
                round - 1,
                options.retry_base,
                options.retry_cap,
                getrandom::u64().unwrap_or(0),
            );
            report(Progress::Waiting {
                delay,
                reason: "before the next round",
            });
            tokio::time::sleep(delay).await;
        }
        report(Progress::Round { round, of: rounds });
        attempts.clear();
        let mut targets = plan.targets.iter().peekable();
        while let Some(target) = targets.next() {
            let before = attempts.len();
            if let Some(done) = ctx.try_target(target, &mut rng, &mut attempts).await? {
                return finish(credentials, &credential, done);
            }
            for failed in &attempts[before..] {
                report(Progress::Failed(&failed.0));
            }
            let last_of_directive = targets
                .peek()
                .is_none_or(|next| next.directive != target.directive);
            if let (true, Some(delay)) = (last_of_directive, target.delay) {
                report(Progress::Waiting {
                    delay,
                    reason: "as the rendezvous directive asks (RVDelaysec)",
                });
                tokio::time::sleep(delay).await;
            }
        }
    }
    Err(OnboardError::Exhausted { rounds, attempts })
}

/// ECDH256/A128GCM for a P-256 (or RSA 2048) device key, ECDH384/A256GCM for P-384 (or
/// RSA 3072); credential reuse accepted.
fn default_config(device_alg: SigAlg) -> DeviceConfig {
    let mut config = match device_alg {
        SigAlg::ES384 | SigAlg::PS384 | SigAlg::RS384 => DeviceConfig::ecdh384(),
        _ => DeviceConfig::ecdh256(),
    };
    config.allow_credential_reuse = true;
    config
}

/// A TO2 that finished, and where.
struct Finished {
    outcome: Box<DeviceOutcome>,
    rendezvous: Option<String>,
    owner: String,
}

/// Stores the new credential (unless reused), then the TLS key `vouch.tls` enrolled, and says
/// what happened.
fn finish(
    credentials: &mut dyn CredentialStore,
    old: &DeviceCredential,
    done: Finished,
) -> Result<OnboardOutcome, OnboardError> {
    let DeviceOutcome {
        credential,
        reused,
        mut modules,
    } = *done.outcome;
    if !reused {
        credentials
            .store(&credential)
            .map_err(|source| OnboardError::NotStored {
                step: Step::To2,
                guid: credential.guid,
                source,
            })?;
    }
    // TO2 is over and the credential stored: only now may the TLS key replace the old one.
    let (tls, tls_problem) = match modules
        .get_mut(tls::MODULE)
        .and_then(|m| m.as_any_mut())
        .and_then(|m| m.downcast_mut::<TlsEnrolDevice>())
    {
        None => (None, None),
        Some(module) => match module.take_enrolled() {
            Some(key) => match write_tls(credentials, &key) {
                Ok(written) => (Some(written), None),
                Err(why) => (None, Some(why)),
            },
            None => (None, module.problem().map(str::to_string)),
        },
    };
    Ok(OnboardOutcome {
        old_guid: old.guid,
        new_guid: credential.guid,
        reused,
        rendezvous: done.rendezvous,
        owner: done.owner,
        credential,
        modules,
        tls,
        tls_problem,
    })
}

/// Writes the enrolled key and chain beside the credential file, each atomically (mode 0600):
/// the key first, then the chain. A failure between the two leaves the new key with the old
/// chain, which a TLS server refuses to pair; the next onboarding enrols again.
fn write_tls(
    credentials: &dyn CredentialStore,
    key: &tls::EnrolledKey,
) -> Result<TlsEnrolment, String> {
    let (Some(key_path), Some(cert_path)) = (
        credentials.companion_path(tls::KEY_FILE),
        credentials.companion_path(tls::CERT_FILE),
    ) else {
        return Err("the credential store keeps no files, so the TLS key was not kept".into());
    };
    crate::atomic_file::write(&key_path, key.key_pem.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", key_path.display()))?;
    crate::atomic_file::write(&cert_path, key.chain_pem().as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", cert_path.display()))?;
    Ok(TlsEnrolment {
        cert_path,
        key_path,
        names: key.dns_names.clone(),
        ips: key.ips.clone(),
        spki_sha256: key.spki_sha256,
    })
}

/// The pause before round `retry + 1`: `base · 2^(retry−1)`, at most `cap`, less a random
/// part of up to half of it drawn from `jitter`.
fn backoff(retry: u32, base: Duration, cap: Duration, jitter: u64) -> Duration {
    let doubled = base.saturating_mul(
        1u32.checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX),
    );
    let full = doubled.min(cap);
    let half = full / 2;
    let half_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    let off = if half_ms == 0 {
        0
    } else {
        jitter % (half_ms + 1)
    };
    full.saturating_sub(Duration::from_millis(off))
}

/// What TO1 and TO2 share in one onboarding.
struct Context<'a> {
    credential: &'a DeviceCredential,
    signer: &'a dyn Signer,
    config: DeviceConfig,
    options: &'a OnboardOptions,
}

impl Context<'_> {
    /// Tries one rendezvous target: TO1 there and TO2 at the owner it names, or TO2 there
    /// under RVBypass. A remote failure is added to `attempts` and gives `None`; a local one
    /// is returned as the error.
    async fn try_target(
        &self,
        target: &RvTarget,
        rng: &mut UnwrapErr<getrandom::SysRng>,
        attempts: &mut Vec<Attempt>,
    ) -> Result<Option<Finished>, OnboardError> {
        if target.bypass {
            let url = target.endpoint.url();
            return Ok(self
                .to2_recorded(&target.endpoint, None, rng, attempts)
                .await?
                .map(|outcome| Finished {
                    outcome,
                    rendezvous: None,
                    owner: url,
                }));
        }
        let rv_url = target.endpoint.url();
        self.report(Progress::Trying {
            step: Step::To1,
            url: rv_url.clone(),
        });
        let to1d = match self.to1(&target.endpoint).await {
            Ok(to1d) => to1d,
            Err(e) if e.is_local() => return Err(e),
            Err(e) => {
                attempts.push(Attempt(e));
                return Ok(None);
            }
        };
        for addr in to1d.addresses() {
            let endpoints = match rv::owner_endpoints(addr) {
                Ok(e) => e,
                Err(reason) => {
                    attempts.push(Attempt(OnboardError::OwnerAddress {
                        rendezvous: rv_url.clone(),
                        reason,
                    }));
                    continue;
                }
            };
            for endpoint in endpoints {
                if let Some(outcome) = self
                    .to2_recorded(&endpoint, Some(to1d.clone()), rng, attempts)
                    .await?
                {
                    return Ok(Some(Finished {
                        outcome,
                        rendezvous: Some(rv_url),
                        owner: endpoint.url(),
                    }));
                }
            }
        }
        Ok(None)
    }

    fn report(&self, p: Progress) {
        if let Some(sink) = &self.options.progress {
            sink(&p);
        }
    }

    /// TO2 at `endpoint`, a remote failure added to `attempts`.
    async fn to2_recorded(
        &self,
        endpoint: &Endpoint,
        to1d: Option<UnverifiedTo1d>,
        rng: &mut UnwrapErr<getrandom::SysRng>,
        attempts: &mut Vec<Attempt>,
    ) -> Result<Option<Box<DeviceOutcome>>, OnboardError> {
        self.report(Progress::Trying {
            step: Step::To2,
            url: endpoint.url(),
        });
        match self.to2(endpoint, to1d, rng).await {
            Ok(outcome) => Ok(Some(outcome)),
            Err(e) if e.is_local() => Err(e),
            Err(e) => {
                attempts.push(Attempt(e));
                Ok(None)
            }
        }
    }

    fn transport(&self, endpoint: &Endpoint, step: Step) -> Result<HttpTransport, OnboardError> {
        let url = endpoint.url();
        let mut builder = HttpTransport::builder(&url)
            .roots(self.options.tls_roots.clone())
            .timeout(self.options.timeout);
        if endpoint.scheme == Scheme::Http {
            // The rendezvous info (or the owner's to1d) says http: that is the FDO deployment's
            // choice, and the FDO messages protect themselves.
            builder = builder.danger_allow_plain_http();
        }
        builder.build().map_err(|source| OnboardError::Exchange {
            step: Some(step),
            server: Some(url),
            source,
        })
    }

    /// TO1 (messages 30–33) with the rendezvous server at `endpoint`.
    async fn to1(&self, endpoint: &Endpoint) -> Result<UnverifiedTo1d, OnboardError> {
        let mut transport = self.transport(endpoint, Step::To1)?;
        let sig_info = SigInfo::new(sg_type(self.signer.algorithm())?);
        let (out, device) =
            To1Device::start(self.credential, sig_info).map_err(OnboardError::Local)?;
        let mut peer = Peer::new(&mut transport, Step::To1, Some(endpoint.url()));
        let answer = peer.send(out.msg_type, out.body).await?;
        let (out, proved) = peer
            .check(device.hello_rv_ack(answer.msg_type, &answer.body, self.signer))
            .await?;
        let answer = peer.send(out.msg_type, out.body).await?;
        peer.check(proved.rv_redirect(answer.msg_type, &answer.body))
            .await
    }

    /// TO2 (messages 60–71) with the owner at `endpoint`.
    async fn to2(
        &self,
        endpoint: &Endpoint,
        to1d: Option<UnverifiedTo1d>,
        rng: &mut UnwrapErr<getrandom::SysRng>,
    ) -> Result<Box<DeviceOutcome>, OnboardError> {
        let mut transport = self.transport(endpoint, Step::To2)?;
        let modules = (self.options.modules)(self.credential);
        let (mut out, mut device) = To2Device::start(
            &CRYPTO,
            self.credential,
            self.signer,
            self.config.clone(),
            modules,
            to1d,
            rng,
        )
        .map_err(OnboardError::Local)?;
        let mut peer = Peer::new(&mut transport, Step::To2, Some(endpoint.url()));
        loop {
            let answer = peer.send(out.msg_type, out.body).await?;
            match peer
                .check(device.receive(answer.msg_type, &answer.body, rng))
                .await?
            {
                DeviceStep::Send(next, state) => {
                    out = next;
                    device = state;
                }
                DeviceStep::Finished(outcome) => return Ok(outcome),
            }
        }
    }
}

/// The SigInfo type for the attestation key's algorithm.
fn sg_type(alg: SigAlg) -> Result<SgType, OnboardError> {
    Ok(match alg {
        SigAlg::ES256 => SgType::ES256,
        SigAlg::ES384 => SgType::ES384,
        SigAlg::RS256 => SgType::RS256,
        SigAlg::RS384 => SgType::RS384,
        SigAlg::PS256 => SgType::PS256,
        SigAlg::PS384 => SgType::PS384,
        other => {
            return Err(OnboardError::Local(vouch_protocol::Error::unsupported(
                format!("device attestation with {other:?}"),
            )));
        }
    })
}

/// The operating system's random source, checked once so that a broken one is an error here
/// rather than a panic inside a protocol step.
fn os_rng() -> Result<UnwrapErr<getrandom::SysRng>, OnboardError> {
    let mut probe = [0u8; 16];
    getrandom::fill(&mut probe).map_err(OnboardError::Random)?;
    Ok(UnwrapErr(getrandom::SysRng))
}

/// One protocol run with one server: sends, and turns failures into [`OnboardError`]s that
/// name the step and the server.
struct Peer<'t, T> {
    transport: &'t mut T,
    step: Step,
    server: Option<String>,
}

impl<'t, T: Transport> Peer<'t, T> {
    fn new(transport: &'t mut T, step: Step, server: Option<String>) -> Self {
        Self {
            transport,
            step,
            server,
        }
    }

    async fn send(
        &mut self,
        msg_type: MessageType,
        body: Vec<u8>,
    ) -> Result<crate::transport::Response, OnboardError> {
        self.transport
            .send(msg_type, body)
            .await
            .map_err(|source| OnboardError::Exchange {
                step: Some(self.step),
                server: self.server.clone(),
                source,
            })
    }

    /// The result of a protocol step. A failure is reported to the peer with the FDO error
    /// message (unless it reports the peer's own error message), and returned.
    async fn check<V>(&mut self, result: Result<V, FlowError>) -> Result<V, OnboardError> {
        match result {
            Ok(v) => Ok(v),
            Err(error) => {
                let reported = if error.prev == MessageType::ERROR {
                    None
                } else {
                    let message = error.to_message();
                    // The protocol is over whatever the peer answers; its answer is not needed.
                    let _ = self
                        .transport
                        .send(MessageType::ERROR, message.to_cbor())
                        .await;
                    Some(message)
                };
                Err(OnboardError::Refused {
                    step: self.step,
                    server: self.server.clone(),
                    error,
                    reported: reported.map(Box::new),
                })
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// The protocol a failure happened in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// Device initialization, with the manufacturer.
    Di,
    /// TO1, with a rendezvous server.
    To1,
    /// TO2, with the owner.
    To2,
}

impl Step {
    /// Who the device talks to in this protocol: "the manufacturer", "the rendezvous server",
    /// "the owner".
    pub fn peer(self) -> &'static str {
        match self {
            Self::Di => "the manufacturer",
            Self::To1 => "the rendezvous server",
            Self::To2 => "the owner",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Di => "DI",
            Self::To1 => "TO1",
            Self::To2 => "TO2",
        })
    }
}

/// One failed try during [`onboard`]: TO1 with a rendezvous server, or TO2 with an owner.
#[derive(Debug)]
pub struct Attempt(pub OnboardError);

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Device initialization or onboarding failed. Grouped by whose problem it is: the device's
/// own (its stores, its key, its credential, [`OnboardError::is_local`]), or a server's (it
/// could not be reached, it refused, or what it sent failed the device's checks).
#[derive(Debug)]
#[non_exhaustive]
pub enum OnboardError {
    // The device.
    /// A credential or key store failed.
    Store(StoreError),
    /// The protocol finished, but the credential it produced could not be written; the old
    /// one (if any) is still in place.
    NotStored {
        /// DI or TO2.
        step: Step,
        /// The GUID of the credential that was not written.
        guid: Guid,
        /// Why.
        source: StoreError,
    },
    /// DI would replace the device's active credential, and was not forced.
    CredentialExists {
        /// The GUID of the credential kept.
        guid: Guid,
    },
    /// Onboarding needs a credential, and the device has none: DI has not run.
    NoCredential,
    /// The credential is inactive (DCActive false): the device must not onboard.
    Inactive {
        /// Its GUID.
        guid: Guid,
    },
    /// The key store holds no attestation key, and the credential none either.
    NoKey,
    /// The certificate signing request could not be made.
    Csr(String),
    /// The protocol crate refused a local operation (a key or suite it does not support).
    Local(vouch_protocol::Error),
    /// The operating system's random source failed.
    Random(getrandom::Error),
    /// The credential's RendezvousInfo names no server this device can use.
    NoRendezvous {
        /// The directives skipped, and why.
        skipped: Vec<SkippedDirective>,
    },

    // A server.
    /// An exchange with a server failed: it could not be reached, broke the HTTP binding, or
    /// refused with an FDO error message ([`TransportError::Peer`]).
    Exchange {
        /// The protocol, when known.
        step: Option<Step>,
        /// The server's base URL, when known.
        server: Option<String>,
        /// What failed.
        source: TransportError,
    },
    /// A server's message failed the device's checks; the device told the server so with the
    /// FDO error message `reported` (none when the server had stopped first).
    Refused {
        /// The protocol.
        step: Step,
        /// The server's base URL, when known.
        server: Option<String>,
        /// The failed check.
        error: FlowError,
        /// The error message sent to the server.
        reported: Option<Box<ErrorMessage>>,
    },
    /// A to1d names an owner address the device cannot use.
    OwnerAddress {
        /// The rendezvous server that sent it.
        rendezvous: String,
        /// Why.
        reason: String,
    },
    /// Every rendezvous directive was tried, `rounds` times, and none led to a finished TO2.
    Exhausted {
        /// The rounds run.
        rounds: u32,
        /// The failures of the last round, in order.
        attempts: Vec<Attempt>,
    },
}

impl OnboardError {
    /// True for the device's own problems (its files, its key, its credential, its
    /// configuration), which trying again will not fix; false for a server that could not be
    /// reached, refused, or misbehaved.
    pub fn is_local(&self) -> bool {
        match self {
            Self::Store(_)
            | Self::NotStored { .. }
            | Self::CredentialExists { .. }
            | Self::NoCredential
            | Self::Inactive { .. }
            | Self::NoKey
            | Self::Csr(_)
            | Self::Local(_)
            | Self::Random(_)
            | Self::NoRendezvous { .. } => true,
            Self::Exchange { source, .. } => matches!(
                source,
                TransportError::Setup(_) | TransportError::UnknownMessageType(_)
            ),
            Self::Refused { .. } | Self::OwnerAddress { .. } | Self::Exhausted { .. } => false,
        }
    }

    /// The FDO error message a server sent, if that is what failed (for [`Self::Exhausted`],
    /// the last such message among its attempts).
    pub fn peer_message(&self) -> Option<&ErrorMessage> {
        match self {
            Self::Exchange { source, .. } => source.peer_message(),
            Self::Exhausted { attempts, .. } => {
                attempts.iter().rev().find_map(|a| a.0.peer_message())
            }
            _ => None,
        }
    }
}

impl From<StoreError> for OnboardError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<TransportError> for OnboardError {
    fn from(source: TransportError) -> Self {
        Self::Exchange {
            step: None,
            server: None,
            source,
        }
    }
}

/// "TO1 with the rendezvous server at URL" / "DI with the manufacturer".
fn with_whom(
    f: &mut fmt::Formatter<'_>,
    step: Option<Step>,
    server: &Option<String>,
) -> fmt::Result {
    match (step, server) {
        (Some(step), Some(url)) => write!(f, "{step} with {} at {url}", step.peer()),
        (Some(step), None) => write!(f, "{step} with {}", step.peer()),
        (None, Some(url)) => write!(f, "the exchange with {url}"),
        (None, None) => f.write_str("the exchange with the FDO server"),
    }
}

impl fmt::Display for OnboardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store(e) => e.fmt(f),
            Self::NotStored { step, guid, source } => write!(
                f,
                "{step} finished, but the new credential (GUID {guid}) could not be stored: \
                 {source}; the previous credential, if any, is unchanged"
            ),
            Self::CredentialExists { guid } => write!(
                f,
                "the device already has an active credential (GUID {guid}); device \
                 initialization would replace it and lose the device's identity towards its \
                 owner. Force it only if that is intended"
            ),
            Self::NoCredential => f.write_str(
                "the device has no credential yet: run device initialization (DI) first",
            ),
            Self::Inactive { guid } => write!(
                f,
                "the device credential (GUID {guid}) is inactive: this device must not onboard"
            ),
            Self::NoKey => f.write_str(
                "no attestation key: neither the key store nor the credential holds one (the \
                 key made at device initialization is needed)",
            ),
            Self::Csr(e) => write!(f, "cannot make the certificate signing request: {e}"),
            Self::Local(e) => write!(f, "the device cannot do this: {e}"),
            Self::Random(e) => write!(f, "the operating system's random source failed: {e}"),
            Self::NoRendezvous { skipped } => {
                f.write_str(
                    "the credential's rendezvous info names no server this device can use",
                )?;
                if !skipped.is_empty() {
                    f.write_str(" (")?;
                    for (i, s) in skipped.iter().enumerate() {
                        if i > 0 {
                            f.write_str("; ")?;
                        }
                        s.fmt(f)?;
                    }
                    f.write_str(")")?;
                }
                Ok(())
            }
            Self::Exchange {
                step,
                server,
                source: TransportError::Peer(message),
            } => {
                with_whom(f, *step, server)?;
                write!(f, ": refused with {message}")
            }
            Self::Exchange {
                step,
                server,
                source,
            } => {
                with_whom(f, *step, server)?;
                write!(f, " failed: {source}")
            }
            Self::Refused {
                step,
                server,
                error,
                reported,
            } => {
                with_whom(f, Some(*step), server)?;
                write!(
                    f,
                    ": {}'s message failed the device's checks: {error}",
                    step.peer()
                )?;
                if let Some(m) = reported {
                    write!(f, " (reported to it as FDO error {})", m.code)?;
                }
                Ok(())
            }
            Self::OwnerAddress { rendezvous, reason } => write!(
                f,
                "the rendezvous server at {rendezvous} gave an owner address the device cannot \
                 use: {reason}"
            ),
            Self::Exhausted { rounds, attempts } => {
                let reached_owner = attempts.iter().any(|a| {
                    matches!(
                        a.0,
                        Self::Exchange {
                            step: Some(Step::To2),
                            ..
                        } | Self::Refused {
                            step: Step::To2,
                            ..
                        }
                    )
                });
                if reached_owner {
                    f.write_str("onboarding did not complete with any owner")?;
                } else {
                    f.write_str("no rendezvous server answered with the owner's address")?;
                }
                let rounds_word = if *rounds == 1 { "round" } else { "rounds" };
                write!(f, " after {rounds} {rounds_word} (tried: ")?;
                for (i, a) in attempts.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    a.fmt(f)?;
                }
                f.write_str(")")
            }
        }
    }
}

impl std::error::Error for OnboardError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Store(e) | Self::NotStored { source: e, .. } => Some(e),
            Self::Local(e) => Some(e),
            Self::Random(e) => Some(e),
            Self::Exchange { source, .. } => Some(source),
            Self::Refused { error, .. } => Some(error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_less_jitter() {
        let base = Duration::from_secs(10);
        let cap = Duration::from_secs(120);
        // no jitter: the full pause
        assert_eq!(backoff(1, base, cap, 0), Duration::from_secs(10));
        assert_eq!(backoff(2, base, cap, 0), Duration::from_secs(20));
        assert_eq!(backoff(4, base, cap, 0), Duration::from_secs(80));
        assert_eq!(backoff(5, base, cap, 0), cap);
        assert_eq!(backoff(40, base, cap, 0), cap);
        // the most jitter takes off half
        assert_eq!(backoff(1, base, cap, 5_000), Duration::from_secs(5));
        for j in [1, 77, 4_999, u64::MAX] {
            let d = backoff(3, base, cap, j);
            assert!(
                d >= Duration::from_secs(20) && d <= Duration::from_secs(40),
                "{d:?}"
            );
        }
        assert_eq!(backoff(3, Duration::ZERO, cap, 12345), Duration::ZERO);
    }

    #[test]
    fn the_suite_follows_the_device_key() {
        let c = default_config(SigAlg::ES256);
        assert_eq!(c.kex_suite, vouch_protocol::crypto::KexSuite::ECDH256);
        assert_eq!(c.cipher_suite, vouch_protocol::crypto::CipherSuite::A128GCM);
        assert!(c.allow_credential_reuse);
        let c = default_config(SigAlg::ES384);
        assert_eq!(c.kex_suite, vouch_protocol::crypto::KexSuite::ECDH384);
        assert_eq!(c.cipher_suite, vouch_protocol::crypto::CipherSuite::A256GCM);
    }

    #[test]
    fn errors_say_who_and_what() {
        let peer = TransportError::Peer(Box::new(ErrorMessage::new(
            vouch_protocol::ErrorCode::RESOURCE_NOT_FOUND,
            MessageType::TO1_HELLO_RV,
            "unknown GUID",
        )));
        let e = OnboardError::Exchange {
            step: Some(Step::To1),
            server: Some("http://127.0.0.1:8041".into()),
            source: peer,
        };
        let text = e.to_string();
        assert!(
            text.starts_with("TO1 with the rendezvous server at http://127.0.0.1:8041: refused"),
            "{text}"
        );
        assert!(text.contains("6 (RESOURCE_NOT_FOUND)"), "{text}");
        assert!(text.contains("unknown GUID"), "{text}");
        assert!(!e.is_local());
        assert_eq!(
            e.peer_message().map(|m| m.code),
            Some(vouch_protocol::ErrorCode::RESOURCE_NOT_FOUND)
        );
        let all = OnboardError::Exhausted {
            rounds: 2,
            attempts: vec![Attempt(e)],
        };
        let text = all.to_string();
        assert!(
            text.starts_with("no rendezvous server answered with the owner's address after 2 rounds (tried: TO1 with"),
            "{text}"
        );
        assert!(all.peer_message().is_some());
        assert!(OnboardError::NoCredential.is_local());
        assert!(
            OnboardError::NoCredential
                .to_string()
                .contains("run device initialization")
        );
    }
}
