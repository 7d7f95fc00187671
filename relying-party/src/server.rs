//! `vouch-rp serve`: the roles behind one FDO HTTP endpoint, their keys, and the owner's TO0
//! loop.
//!
//! One process serves any of the three roles over one listening address, sharing one store:
//!
//! * **manufacturer** (DI, 10–13): issues device certificates from the device CA, stores the
//!   new voucher and, when a next owner is known, extends it to that owner at once;
//! * **rendezvous** (TO0 and TO1, 20–33);
//! * **owner** (TO2, 60–71), with a TO0 loop that keeps every voucher it owns registered at its
//!   rendezvous server.
//!
//! With all three roles in one process a device is onboarded after DI with no manual step: the
//! voucher is extended to the owner key and registered with the rendezvous role as soon as DI
//! ends.
//!
//! The keys are created in the store on first start and reused after: the owner key
//! (`owner`, P-256), the manufacturer keys (`manufacturer-p256`, `manufacturer-p384`) and the
//! device CA (kept in the settings table).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use vouch_protocol::ErrorCode;
use vouch_protocol::crypto::{CryptoProvider, RustCrypto, Signer, SigningKey, VerifyingKey};
use vouch_protocol::messages::ErrorMessage;
use vouch_protocol::messages::to0::RvTo2Addr;
use vouch_protocol::types::{
    HashAlg, PkEnc, PkType, PublicKey, RendezvousInfo, RvDirective, RvInstruction, RvVariable,
    TransportProtocol,
};
use vouch_protocol::voucher::OwnershipVoucher;

use crate::fdo_http::{self, FdoHandler, FdoRequest, FdoResponse};
use crate::manufacturer::{DeviceCa, Manufacturer, ManufacturerConfig, OnManufactured};
use crate::owner::{Owner, OwnerRoleConfig, owner_signer_for, register_with_rendezvous};
use crate::rendezvous::{Clock, Rendezvous, RendezvousConfig, system_clock};
use crate::store::{OnExisting, OwnerKey, Store, StoreError, VoucherBytes};

/// The name of the P-256 owner key in the store.
pub const OWNER_P256: &str = "owner-p256";
/// The name of the P-384 owner key in the store (vouchers keep one key type from the
/// manufacturer's key on, so a P-384 device needs a P-384 owner).
pub const OWNER_P384: &str = "owner-p384";
/// The name of the P-256 manufacturer key in the store.
pub const MANUFACTURER_P256: &str = "manufacturer-p256";
/// The name of the P-384 manufacturer key in the store.
pub const MANUFACTURER_P384: &str = "manufacturer-p384";
const CA_KEY_SETTING: &str = "device-ca-key-pem";
const CA_CERT_SETTING: &str = "device-ca-cert-pem";
const TO0_SETTING_PREFIX: &str = "to0-registered-until:";

/// Which roles a server runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Roles {
    /// DI.
    pub manufacturer: bool,
    /// TO0 and TO1.
    pub rendezvous: bool,
    /// TO2 and the TO0 loop.
    pub owner: bool,
}

impl Roles {
    /// All three roles.
    pub const ALL: Roles = Roles {
        manufacturer: true,
        rendezvous: true,
        owner: true,
    };

    /// Reads a comma-separated list such as `manufacturer,owner` (or `all`).
    pub fn parse(list: &str) -> Result<Self> {
        let mut roles = Roles {
            manufacturer: false,
            rendezvous: false,
            owner: false,
        };
        for r in list.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            match r {
                "all" => roles = Roles::ALL,
                "manufacturer" => roles.manufacturer = true,
                "rendezvous" => roles.rendezvous = true,
                "owner" => roles.owner = true,
                other => bail!(
                    "unknown role {other:?} (the roles are manufacturer, rendezvous, owner, all)"
                ),
            }
        }
        if roles
            == (Roles {
                manufacturer: false,
                rendezvous: false,
                owner: false,
            })
        {
            bail!("no role given (the roles are manufacturer, rendezvous, owner, all)");
        }
        Ok(roles)
    }
}

impl std::fmt::Display for Roles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = [
            (self.manufacturer, "manufacturer"),
            (self.rendezvous, "rendezvous"),
            (self.owner, "owner"),
        ]
        .into_iter()
        .filter_map(|(on, n)| on.then_some(n))
        .collect();
        f.write_str(&names.join(", "))
    }
}

/// How `vouch-rp serve` runs.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The directory of the SQLite database (created when missing), or a `postgres://` URL
    /// ([`crate::store::open_store`]).
    pub database: PathBuf,
    /// Where to listen; port 0 picks a free port ([`Running::addr`] tells which).
    pub listen: SocketAddr,
    /// The roles served.
    pub roles: Roles,
    /// How devices reach this server (`http://host:port`); by default the listening address.
    pub public_url: Option<String>,
    /// The rendezvous server: where the manufacturer sends devices (their RendezvousInfo) and
    /// where the owner registers its vouchers (TO0). By default this server.
    pub rendezvous_url: Option<String>,
    /// The next owner's public keys (one per key type): the manufacturer extends every new
    /// voucher to the one of its type. By default the owner keys when the owner role runs here;
    /// otherwise vouchers stay with the manufacturer until exported.
    pub extend_to: Vec<VerifyingKey>,
    /// How often the owner's TO0 loop looks for vouchers to register (None: never).
    pub to0_interval: Option<Duration>,
    /// How long the owner asks the rendezvous server to keep a registration.
    pub to0_wait_seconds: u32,
    /// Serve the device pages the owner pinned at `/devices/{guid}/…` (the pinning proxy,
    /// [`crate::proxy`]). Off by default; when on, it answers only clients on this machine
    /// ([`crate::proxy::Access::Loopback`]).
    pub device_proxy: bool,
    /// The body limit, request timeout and per-client rate limit of the FDO endpoints.
    pub limits: fdo_http::Limits,
}

impl ServeOptions {
    /// All roles, on `listen`, with the database in `database`.
    pub fn all_in_one(database: PathBuf, listen: SocketAddr) -> Self {
        Self {
            database,
            listen,
            roles: Roles::ALL,
            public_url: None,
            rendezvous_url: None,
            extend_to: Vec::new(),
            to0_interval: Some(Duration::from_secs(60)),
            to0_wait_seconds: 3600,
            device_proxy: false,
            limits: fdo_http::Limits::default(),
        }
    }
}

/// A server started by [`start`].
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The store it serves from.
    pub store: Arc<dyn Store>,
    /// The owner keys (P-256, P-384).
    pub owner_keys: Vec<VerifyingKey>,
    /// The device CA certificate (DER).
    pub device_ca: Vec<u8>,
    /// The URL devices reach it at.
    pub public_url: String,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops serving and waits for the tasks to end.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }

    /// Waits until the server stops (it does not stop by itself; use for `serve`).
    pub async fn wait(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Opens the store, makes sure the keys exist, binds and serves.
pub async fn start(options: ServeOptions) -> Result<Running> {
    let store = crate::store::open_store(&options.database)
        .await
        .with_context(|| {
            let at = crate::store::describe_location(&options.database);
            format!("opening the database {at}")
        })?;
    start_with_store(options, store, system_clock()).await
}

/// [`start`] over a store the caller opened.
pub async fn start_with_store(
    options: ServeOptions,
    store: Arc<dyn Store>,
    clock: Clock,
) -> Result<Running> {
    let now = clock();
    let keys = ensure_keys(store.as_ref(), now).await?;
    let listener = TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("listening on {}", options.listen))?;
    let addr = listener.local_addr()?;
    let public_url = options
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let rendezvous_url = match (&options.rendezvous_url, options.roles.rendezvous) {
        (Some(u), _) => Some(u.clone()),
        (None, true) => Some(public_url.clone()),
        (None, false) => None,
    };
    let device_ca = keys.device_ca.cert_der().to_vec();
    let owner_public = vec![
        keys.owner_p256.verifying_key(),
        keys.owner_p384.verifying_key(),
    ];
    let http = crate::owner::rendezvous_client()?;
    let to2_addrs = vec![to2_addr(&public_url)?];

    let mut dispatch = Dispatch::default();
    if options.roles.rendezvous {
        dispatch.rendezvous = Some(Rendezvous::new(
            store.clone(),
            RendezvousConfig::default(),
            clock.clone(),
        ));
    }
    if options.roles.owner {
        dispatch.owner = Some(Owner::new(
            store.clone(),
            OwnerRoleConfig {
                to2: Default::default(),
                new_rv_info: None,
                new_guid: true,
            },
            clock.clone(),
        ));
    }
    if options.roles.manufacturer {
        let rv = rendezvous_url.as_deref().ok_or_else(|| {
            anyhow!("the manufacturer needs a rendezvous server: pass --rendezvous-url")
        })?;
        let next_owner = if !options.extend_to.is_empty() {
            options.extend_to.clone()
        } else if options.roles.owner {
            owner_public.clone()
        } else {
            Vec::new()
        };
        let register = match (options.roles.owner, &rendezvous_url) {
            (true, Some(rv)) => Some(To0Target {
                rendezvous_url: rv.clone(),
                to2_addrs: to2_addrs.clone(),
                wait_seconds: options.to0_wait_seconds,
            }),
            _ => None,
        };
        let mut manufacturer = Manufacturer::new(
            store.clone(),
            ManufacturerConfig {
                keys: vec![
                    keys.manufacturer_p256.clone(),
                    keys.manufacturer_p384.clone(),
                ],
                device_ca: keys.device_ca,
                rv_info: rv_info_for(rv)?,
                chain_hash_alg: HashAlg::SHA256,
                cert_validity_days: 3650,
            },
            clock.clone(),
        );
        if !next_owner.is_empty() {
            manufacturer = manufacturer.with_hook(Arc::new(HandOver {
                store: store.clone(),
                manufacturer_keys: vec![
                    keys.manufacturer_p256.clone(),
                    keys.manufacturer_p384.clone(),
                ],
                next_owner,
                register,
                http: http.clone(),
                clock: clock.clone(),
            }));
        }
        dispatch.manufacturer = Some(manufacturer);
    }
    // Per process: every instance counts what it served, and nothing reads the counts back.
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let mut app = fdo_http::router_with(Arc::new(dispatch), options.limits, metrics.clone())
        .merge(crate::ops::routes(store.clone(), metrics));
    if options.roles.owner {
        // Devices renew their TLS certificates with requests signed by their attestation keys,
        // for the lifetime the owner role enrols them with.
        app = app.merge(crate::renew::routes(
            store.clone(),
            clock.clone(),
            crate::tls_enrol::DEFAULT_VALIDITY,
        ));
    }
    if options.roles.owner {
        // The devices' signed WebTransport reports, and the page that opens a pinned session.
        app = app.merge(crate::webtransport::routes(store.clone(), clock.clone()));
    }
    if options.roles.owner && options.device_proxy {
        app = app.merge(crate::proxy::routes(
            store.clone(),
            crate::proxy::Access::Loopback,
        ));
    }

    let (shutdown, mut stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut server_stop = shutdown.subscribe();
    tasks.push(tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = server_stop.wait_for(|s| *s).await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "server stopped");
        }
    }));
    if let (true, Some(rv), Some(interval)) = (
        options.roles.owner,
        rendezvous_url.clone(),
        options.to0_interval,
    ) {
        let target = To0Target {
            rendezvous_url: rv,
            to2_addrs,
            wait_seconds: options.to0_wait_seconds,
        };
        let store = store.clone();
        let clock = clock.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                if let Err(e) = to0_round(store.as_ref(), &http, &target, &clock).await {
                    tracing::warn!(error = format!("{e:#}"), "TO0 round failed");
                }
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = stopped.wait_for(|s| *s) => break,
                }
            }
        }));
    }
    Ok(Running {
        addr,
        store,
        owner_keys: owner_public,
        device_ca,
        public_url,
        shutdown,
        tasks,
    })
}

/// The keys a server signs with.
pub struct Keys {
    /// The P-256 owner key.
    pub owner_p256: SigningKey,
    /// The P-384 owner key.
    pub owner_p384: SigningKey,
    /// The P-256 manufacturer key.
    pub manufacturer_p256: SigningKey,
    /// The P-384 manufacturer key.
    pub manufacturer_p384: SigningKey,
    /// The device CA.
    pub device_ca: DeviceCa,
}

/// Loads the server's keys from the store, creating the missing ones.
pub async fn ensure_keys(store: &dyn Store, now: i64) -> Result<Keys> {
    let owner_p256 = named_key(store, OWNER_P256, PkType::SECP256R1, now).await?;
    let owner_p384 = named_key(store, OWNER_P384, PkType::SECP384R1, now).await?;
    let manufacturer_p256 = named_key(store, MANUFACTURER_P256, PkType::SECP256R1, now).await?;
    let manufacturer_p384 = named_key(store, MANUFACTURER_P384, PkType::SECP384R1, now).await?;
    let device_ca = match (
        store.get_setting(CA_KEY_SETTING).await,
        store.get_setting(CA_CERT_SETTING).await,
    ) {
        (Ok(key), Ok(cert)) => DeviceCa::from_pem(&key, &cert).context("reading the device CA")?,
        (Err(StoreError::NotFound(_)), Err(StoreError::NotFound(_))) => {
            let ca = DeviceCa::generate("vouch device CA")?;
            let pair = [
                (CA_KEY_SETTING, ca.key_pem()),
                (CA_CERT_SETTING, ca.cert_pem()),
            ];
            let pair = pair.each_ref().map(|(name, value)| (*name, value.as_str()));
            match store.insert_settings(&pair, now).await {
                Ok(()) => ca,
                // Another instance on the same database created it first: use theirs.
                Err(StoreError::Duplicate(_)) => return Box::pin(ensure_keys(store, now)).await,
                Err(e) => return Err(e.into()),
            }
        }
        (Err(StoreError::NotFound(_)), _) | (_, Err(StoreError::NotFound(_))) => {
            let ca = DeviceCa::generate("vouch device CA")?;
            store
                .set_setting(CA_KEY_SETTING, &ca.key_pem(), now)
                .await?;
            store
                .set_setting(CA_CERT_SETTING, &ca.cert_pem(), now)
                .await?;
            ca
        }
        (Err(e), _) | (_, Err(e)) => return Err(e.into()),
    };
    Ok(Keys {
        owner_p256,
        owner_p384,
        manufacturer_p256,
        manufacturer_p384,
        device_ca,
    })
}

async fn named_key(store: &dyn Store, name: &str, pk_type: PkType, now: i64) -> Result<SigningKey> {
    match store.get_owner_key(name).await {
        Ok(k) => SigningKey::from_der(&k.private_key_pkcs8)
            .with_context(|| format!("reading the stored key {name:?}")),
        Err(StoreError::NotFound(_)) => {
            let key = SigningKey::generate(pk_type, &mut rand_core::UnwrapErr(getrandom::SysRng))?;
            let public = key.public_key(PkEnc::X509)?;
            let stored = OwnerKey {
                name: name.to_string(),
                private_key_pkcs8: key.to_pkcs8_der()?,
                public_key: vouch_protocol::cbor::Cbor::to_cbor(&public),
            };
            match store.put_owner_key(&stored, now).await {
                Ok(()) => Ok(key),
                // Another instance created it first: use theirs.
                Err(StoreError::Duplicate(_)) => {
                    Box::pin(named_key(store, name, pk_type, now)).await
                }
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The RendezvousInfo that sends devices to `url` (`http://host:port` or `https://…`).
pub fn rv_info_for(url: &str) -> Result<RendezvousInfo> {
    let (scheme, host, port) = split_url(url)?;
    let mut directive = vec![match host {
        Host::Ip(ip) => RvInstruction::ip(ip),
        Host::Dns(name) => RvInstruction::dns(&name),
    }];
    directive.push(RvInstruction::uint(RvVariable::DEV_PORT, u64::from(port)));
    directive.push(RvInstruction::uint(RvVariable::OWNER_PORT, u64::from(port)));
    directive.push(RvInstruction::uint(
        RvVariable::PROTOCOL,
        if scheme == "https" { 2 } else { 1 },
    ));
    Ok(RendezvousInfo(vec![RvDirective(directive)]))
}

/// The RVTO2AddrEntry for an owner reachable at `url`.
pub fn to2_addr(url: &str) -> Result<RvTo2Addr> {
    let (scheme, host, port) = split_url(url)?;
    let (ip, dns) = match host {
        Host::Ip(ip) => (Some(ip), None),
        Host::Dns(name) => (None, Some(name)),
    };
    Ok(RvTo2Addr {
        ip,
        dns,
        port,
        protocol: if scheme == "https" {
            TransportProtocol::HTTPS
        } else {
            TransportProtocol::HTTP
        },
    })
}

enum Host {
    Ip(IpAddr),
    Dns(String),
}

fn split_url(url: &str) -> Result<(String, Host, u16)> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("{url:?} is not a URL"))?;
    let scheme = parsed.scheme().to_string();
    if scheme != "http" && scheme != "https" {
        bail!("{url}: only http and https URLs are served");
    }
    let name = parsed.host_str().ok_or_else(|| anyhow!("{url}: no host"))?;
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    let host = match bare.parse::<IpAddr>() {
        Ok(ip) => Host::Ip(ip),
        Err(_) => Host::Dns(name.to_string()),
    };
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| anyhow!("{url}: no port"))?;
    Ok((scheme, host, port))
}

/// Where and for how long the owner registers its vouchers.
#[derive(Clone, Debug)]
struct To0Target {
    rendezvous_url: String,
    to2_addrs: Vec<RvTo2Addr>,
    wait_seconds: u32,
}

/// Registers every voucher this owner holds a key for whose registration runs out within a
/// quarter of the wait (or was never made).
async fn to0_round(
    store: &dyn Store,
    http: &reqwest::Client,
    target: &To0Target,
    clock: &Clock,
) -> Result<()> {
    for summary in store.list_vouchers().await? {
        if summary.entry_count == 0 {
            continue;
        }
        let now = clock();
        let key = format!("{TO0_SETTING_PREFIX}{}", summary.guid);
        let until = match store.get_setting(&key).await {
            Ok(v) => v.parse::<i64>().unwrap_or(0),
            Err(StoreError::NotFound(_)) => 0,
            Err(e) => return Err(e.into()),
        };
        if until - i64::from(target.wait_seconds / 4) > now {
            continue;
        }
        let bytes = match store.get_voucher(summary.guid).await {
            Ok(b) => b,
            Err(StoreError::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        let voucher = OwnershipVoucher::from_bytes(&bytes)?;
        let Some(signer) = owner_signer_for(store, &voucher).await? else {
            continue;
        };
        register(store, http, target, &voucher, &signer, clock).await?;
    }
    Ok(())
}

async fn register(
    store: &dyn Store,
    http: &reqwest::Client,
    target: &To0Target,
    voucher: &OwnershipVoucher,
    signer: &SigningKey,
    clock: &Clock,
) -> Result<u32> {
    let granted = register_with_rendezvous(
        http,
        &target.rendezvous_url,
        voucher,
        signer,
        target.to2_addrs.clone(),
        target.wait_seconds,
    )
    .await
    .with_context(|| {
        format!(
            "registering device {} at the rendezvous server {}",
            voucher.guid(),
            target.rendezvous_url
        )
    })?;
    let now = clock();
    store
        .set_setting(
            &format!("{TO0_SETTING_PREFIX}{}", voucher.guid()),
            &(now + i64::from(granted)).to_string(),
            now,
        )
        .await?;
    Ok(granted)
}

/// The all-in-one hand-over after DI: extend the new voucher to the next owner and, when the
/// owner runs here, register it with the rendezvous server at once.
struct HandOver {
    store: Arc<dyn Store>,
    manufacturer_keys: Vec<SigningKey>,
    next_owner: Vec<VerifyingKey>,
    register: Option<To0Target>,
    http: reqwest::Client,
    clock: Clock,
}

#[async_trait::async_trait]
impl OnManufactured for HandOver {
    async fn manufactured(&self, voucher: &OwnershipVoucher) -> Result<()> {
        let crypto = RustCrypto;
        let signer = self
            .manufacturer_keys
            .iter()
            .find(|k| {
                k.public_key(PkEnc::X509)
                    .and_then(|pk| crypto.same_key(&pk, voucher.owner_key()))
                    .unwrap_or(false)
            })
            .ok_or_else(|| anyhow!("no manufacturer key for the voucher of {}", voucher.guid()))?;
        let next = next_owner_key(voucher, &self.next_owner)?;
        let extended = voucher.extend(&crypto, signer, next)?;
        let now = (self.clock)();
        self.store
            .replace_voucher(
                voucher.guid(),
                VoucherBytes::from_voucher(voucher).bytes(),
                &VoucherBytes::from_voucher(&extended),
                now,
            )
            .await?;
        if let Some(target) = &self.register
            && let Some(owner) = owner_signer_for(self.store.as_ref(), &extended).await?
        {
            register(
                self.store.as_ref(),
                &self.http,
                target,
                &extended,
                &owner,
                &self.clock,
            )
            .await?;
        }
        Ok(())
    }
}

/// Of `candidates`, the key a voucher can be extended to, in the form its entries take: every
/// entry key has the manufacturer key's type, and X509 stands in for X5CHAIN (a bare key has no
/// certificate).
pub fn next_owner_key(
    voucher: &OwnershipVoucher,
    candidates: &[VerifyingKey],
) -> Result<PublicKey> {
    let mfg = voucher.header().manufacturer_key.value();
    let enc = if mfg.enc == PkEnc::X5CHAIN {
        PkEnc::X509
    } else {
        mfg.enc
    };
    for k in candidates {
        if let Ok(pk) = k.to_public_key(enc, mfg.pk_type)
            && pk.pk_type == mfg.pk_type
        {
            return Ok(pk);
        }
    }
    bail!(
        "no next-owner key of type {} for device {}",
        mfg.pk_type,
        voucher.guid()
    )
}

/// Routes each message to the role that serves it.
#[derive(Default)]
struct Dispatch {
    manufacturer: Option<Manufacturer>,
    rendezvous: Option<Rendezvous>,
    owner: Option<Owner>,
}

#[async_trait::async_trait]
impl FdoHandler for Dispatch {
    async fn handle(&self, r: FdoRequest) -> FdoResponse {
        let t = r.msg_type.0;
        let not_here = |role: &str| {
            FdoResponse::Error(ErrorMessage::new(
                ErrorCode::MESSAGE_BODY_ERROR,
                r.msg_type,
                format!("this server does not run the {role} role"),
            ))
        };
        match t {
            10..=13 => match &self.manufacturer {
                Some(m) => m.serve(r).await,
                None => not_here("manufacturer"),
            },
            20..=33 => match &self.rendezvous {
                Some(rv) => rv.serve(r).await,
                None => not_here("rendezvous"),
            },
            60..=71 => match &self.owner {
                Some(o) => o.serve(r).await,
                None => not_here("owner"),
            },
            _ => FdoResponse::Error(ErrorMessage::new(
                ErrorCode::MESSAGE_BODY_ERROR,
                r.msg_type,
                "not an FDO message type",
            )),
        }
    }
}

/// Imports a voucher file's voucher into the store (refusing to overwrite another).
pub async fn import_voucher(store: &dyn Store, voucher: &OwnershipVoucher, now: i64) -> Result<()> {
    match store
        .insert_voucher(
            &VoucherBytes::from_voucher(voucher),
            OnExisting::Refuse,
            now,
        )
        .await
    {
        Ok(()) => Ok(()),
        Err(StoreError::Duplicate(_)) => bail!(
            "a voucher for device {} is already stored; delete it first",
            voucher.guid()
        ),
        Err(e) => Err(e.into()),
    }
}
