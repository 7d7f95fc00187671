//! The owner role: TO2 (the device proves itself, takes its new credential and receives its
//! ServiceInfo) over the FDO HTTP binding, and the TO0 client that tells a rendezvous server
//! where the owner's devices should go.
//!
//! Like the rendezvous role, each TO2 request loads its session by bearer token, runs one step
//! of the sans-IO owner machine from `vouch_protocol::flows::to2`, and writes the next state
//! back with a compare-and-swap in the same call: nothing survives in process memory between
//! requests, so any instance sharing the [`Store`] can take the next message.
//!
//! **A TO2 session holds secrets** (the key-exchange seed, then the session key). It stays in
//! the store, is never sent anywhere, and is deleted when TO2 ends, whether it succeeded or
//! failed: a TO2 that failed starts again at HelloDevice.
//!
//! The owner signs with the store's owner key whose public key is the voucher's owner key, and
//! keeps that key: Owner2Key in SetupDevice is the same key, and the replacement voucher the
//! device MACs at TO2 is extended to it again, so the owner can run TO0 and TO2 for the device
//! once more.
//!
//! **TLS enrolment.** When the store holds an owner CA ([`OwnerCa`]) and the device lists
//! `vouch.tls` in devmod, the owner runs the `vouch.tls` module ([`crate::tls_enrol`]) besides
//! the registry's modules: the device enrols a fresh TLS key and gets a certificate. Its pin is
//! stored ([`Store::upsert_pin`]) at TO2.Done, after Done is verified and the replacement
//! voucher stored, under the device's new GUID; a TO2 that fails records no pin.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use vouch_protocol::cbor::{Cbor, Decoder, Encoder};
use vouch_protocol::crypto::{CryptoProvider, RustCrypto, Signer, SigningKey};
use vouch_protocol::flows::to0::To0Owner;
use vouch_protocol::flows::to2::{
    self, OwnerOutcome, OwnerState, Replacement, hello_device, hello_device_guid,
};
use vouch_protocol::flows::{FlowError, Outgoing, unexpected};
use vouch_protocol::messages::to0::RvTo2Addr;
use vouch_protocol::messages::{ErrorMessage, MessageType};
use vouch_protocol::serviceinfo::OwnerModules;
use vouch_protocol::types::{Guid, PublicKey, RendezvousInfo};
use vouch_protocol::voucher::OwnershipVoucher;
use vouch_protocol::{Error, ErrorCode};

use crate::fdo_http::{CBOR, DEFAULT_MAX_BODY, FdoHandler, FdoRequest, FdoResponse};
use crate::owner_ca::OwnerCa;
use crate::rendezvous::Clock;
use crate::store::{Session, Store, StoreError, VoucherBytes, key_fingerprint};
use crate::tls_enrol::{self, TlsEnrolOwner};

/// How long a TO2 session may wait for the device's next message, in seconds. Every message
/// that advances the session starts the period again.
pub const TO2_SESSION_TTL: i64 = 300;

/// The session protocol name TO2 sessions are stored under.
const TO2: &str = "to2";

/// Settings of the owner role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerRoleConfig {
    /// The TO2 message and ServiceInfo sizes.
    pub to2: to2::OwnerConfig,
    /// RVInfo' given to the device in SetupDevice; None keeps the voucher's.
    pub new_rv_info: Option<RendezvousInfo>,
    /// Give the device a new GUID at TO2 (default true).
    pub new_guid: bool,
}

impl Default for OwnerRoleConfig {
    /// The default TO2 sizes, the voucher's RendezvousInfo, a new GUID.
    fn default() -> Self {
        Self {
            to2: to2::OwnerConfig::default(),
            new_rv_info: None,
            new_guid: true,
        }
    }
}

/// Makes the owner's ServiceInfo modules for one TO2 request. The registry is built afresh for
/// every request (the modules' progress is saved in the session between requests), so this is
/// where modules are added.
pub type ModuleRegistry = Arc<dyn Fn() -> OwnerModules + Send + Sync>;

/// The ServiceInfo modules the owner runs by default: devmod alone.
pub fn default_modules() -> OwnerModules {
    OwnerModules::new()
}

/// The owner role.
pub struct Owner {
    store: Arc<dyn Store>,
    config: OwnerRoleConfig,
    clock: Clock,
    crypto: RustCrypto,
    modules: ModuleRegistry,
    /// Validity of the TLS certificates `vouch.tls` issues; `None`: the module does not run.
    tls_validity: Option<Duration>,
}

impl fmt::Debug for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Owner")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Owner {
    /// An owner role over `store`, running the [`default_modules`].
    pub fn new(store: Arc<dyn Store>, config: OwnerRoleConfig, clock: Clock) -> Self {
        Self {
            store,
            config,
            clock,
            crypto: RustCrypto,
            modules: Arc::new(default_modules),
            tls_validity: Some(tls_enrol::DEFAULT_VALIDITY),
        }
    }

    /// Runs `vouch.tls` (when the store holds an owner CA and the device has the module) with
    /// certificates valid for `validity`, or not at all with `None`. By default it runs, with
    /// [`tls_enrol::DEFAULT_VALIDITY`].
    pub fn with_tls_enrolment(mut self, validity: Option<Duration>) -> Self {
        self.tls_validity = validity;
        self
    }

    /// Runs the ServiceInfo modules `registry` makes instead of the default ones.
    pub fn with_modules(
        mut self,
        registry: impl Fn() -> OwnerModules + Send + Sync + 'static,
    ) -> Self {
        self.modules = Arc::new(registry);
        self
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Handles TO2 messages (60, 62, 64, 66, 68, 70) and a device's error message (255), which
    /// ends its session; anything else is refused.
    pub async fn serve(&self, r: FdoRequest) -> FdoResponse {
        let prev = r.msg_type;
        match self.step(&r).await {
            Ok(resp) => resp,
            // Error messages always name the message that caused them.
            Err(mut e) => {
                e.prev_message = prev;
                FdoResponse::Error(e)
            }
        }
    }

    async fn step(&self, r: &FdoRequest) -> Result<FdoResponse, ErrorMessage> {
        let now = self.now();
        match r.msg_type {
            MessageType::TO2_HELLO_DEVICE => self.hello_device(r, now).await,
            MessageType::TO2_GET_OV_NEXT_ENTRY
            | MessageType::TO2_PROVE_DEVICE
            | MessageType::TO2_DEVICE_SERVICE_INFO_READY
            | MessageType::TO2_DEVICE_SERVICE_INFO
            | MessageType::TO2_DONE => {
                let (token, session) = self.session(r, now).await?;
                let result = self.advance(r, &token, session, now).await;
                if result.is_err() {
                    // A TO2 that failed starts again at HelloDevice.
                    self.end_session(&token).await;
                }
                result
            }
            MessageType::ERROR => self.device_error(r, now).await,
            other => Err(ErrorMessage::new(
                ErrorCode::MESSAGE_BODY_ERROR,
                other,
                "not a message the owner role serves",
            )),
        }
    }

    /// TO2.HelloDevice (60): finds the voucher and the owner key for the GUID, answers
    /// TO2.ProveOVHdr (61) and opens the session.
    async fn hello_device(&self, r: &FdoRequest, now: i64) -> Result<FdoResponse, ErrorMessage> {
        let t = r.msg_type;
        let guid = hello_device_guid(t, &r.body).map_err(flow)?;
        let stored = match self.store.get_voucher(guid).await {
            Ok(bytes) => bytes,
            Err(StoreError::NotFound(_)) => return Err(not_ours(t)),
            Err(e) => return Err(internal(e, t)),
        };
        let voucher = OwnershipVoucher::from_cbor(&stored)
            .map_err(|e| internal(format!("stored voucher {guid}: {e}"), t))?;
        // The owner has no device secret: the chain, not the HMAC, is checked here; the device
        // checks the HMAC itself.
        let verified = voucher
            .verify(&self.crypto, None, None)
            .map_err(|e| internal(format!("stored voucher {guid} does not verify: {e}"), t))?;
        // We serve only the devices whose current owner key we hold.
        let Some(owner) = owner_signer_for(self.store.as_ref(), verified.voucher())
            .await
            .map_err(|e| internal(e, t))?
        else {
            return Err(not_ours(t));
        };
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let (out, state) = hello_device(
            &self.crypto,
            &self.config.to2,
            t,
            &r.body,
            Some(verified),
            &owner,
            &mut rng,
        )
        .map_err(flow)?;
        let session = StoredTo2 {
            voucher_sha256: Sha256::digest(&stored).into(),
            state: OwnerState::from(state).to_cbor(),
        };
        let token = new_token();
        self.store
            .create_session(&token, TO2, &session.to_cbor(), now + TO2_SESSION_TTL)
            .await
            .map_err(|e| internal(e, t))?;
        Ok(reply(out, Some(token)))
    }

    /// Every later TO2 message: one step of the owner state machine over the stored session.
    async fn advance(
        &self,
        r: &FdoRequest,
        token: &str,
        session: Session,
        now: i64,
    ) -> Result<FdoResponse, ErrorMessage> {
        let t = r.msg_type;
        let body = &r.body[..];
        let stored = StoredTo2::from_cbor(&session.state)
            .map_err(|e| internal(format!("TO2 session: {e}"), t))?;
        let state = OwnerState::from_cbor(&stored.state)
            .map_err(|e| internal(format!("TO2 session: {e}"), t))?;
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let (out, next) = match state {
            OwnerState::ProveDevice(s) if t == MessageType::TO2_GET_OV_NEXT_ENTRY => {
                let (out, s) = s.get_ov_next_entry(t, body).map_err(flow)?;
                (out, OwnerState::from(s))
            }
            OwnerState::ProveDevice(s) if t == MessageType::TO2_PROVE_DEVICE => {
                let owner = self.signer_for(s.voucher(), t).await?;
                let replacement = Replacement {
                    guid: if self.config.new_guid {
                        random_guid()
                    } else {
                        s.guid()
                    },
                    rv_info: self
                        .config
                        .new_rv_info
                        .clone()
                        .unwrap_or_else(|| s.voucher().header().rv_info.clone()),
                };
                // The owner keeps its key: Owner2Key is the current owner key.
                let (out, s) = s
                    .prove_device(&self.crypto, t, body, &replacement, &owner, &mut rng)
                    .map_err(flow)?;
                (out, OwnerState::from(s))
            }
            OwnerState::ProveDevice(_) => {
                return Err(flow(unexpected(t, MessageType::TO2_PROVE_DEVICE)));
            }
            OwnerState::ServiceInfoReady(s) => {
                let (out, s) = s
                    .device_service_info_ready(t, body, &mut rng)
                    .map_err(flow)?;
                (out, OwnerState::from(s))
            }
            OwnerState::ServiceInfo(s) if t == MessageType::TO2_DONE => {
                // What vouch.tls certified, read before `done` consumes the state; stored only
                // once Done is verified and the voucher replaced.
                let pending = s
                    .module_state(tls_enrol::MODULE)
                    .map(tls_enrol::pending_pin)
                    .transpose()
                    .map_err(|e| internal(format!("vouch.tls state: {e}"), t))?
                    .flatten();
                let (out, outcome) = s.done(&self.crypto, t, body, &mut rng).map_err(flow)?;
                // Claim the session before touching the voucher, so that of two concurrent
                // Done requests only one goes on.
                self.save(token, session.version, &session.state, t, now)
                    .await?;
                let old_guid = outcome.guid;
                let new_guid = outcome
                    .replacement_voucher
                    .as_ref()
                    .map_or(old_guid, |v| v.guid());
                self.take_replacement(outcome, &stored.voucher_sha256, t, now)
                    .await?;
                self.update_pins(pending, old_guid, new_guid, now).await;
                self.end_session(token).await;
                return Ok(reply(out, None));
            }
            OwnerState::ServiceInfo(s) => {
                let mut modules = (self.modules)();
                if let Some(tls) = self.tls_module(&s, now).await.map_err(|e| internal(e, t))? {
                    modules.push(Box::new(tls));
                }
                let (out, s) = s
                    .device_service_info(t, body, &mut modules, &mut rng)
                    .map_err(flow)?;
                (out, OwnerState::from(s))
            }
        };
        let next = StoredTo2 {
            voucher_sha256: stored.voucher_sha256,
            state: next.to_cbor(),
        };
        self.save(token, session.version, &next.to_cbor(), t, now)
            .await?;
        Ok(reply(out, Some(token.to_string())))
    }

    /// The `vouch.tls` module for this request, when it is enabled, the store holds an owner CA
    /// and the device has not said (in a finished devmod) that it lacks the module.
    async fn tls_module(
        &self,
        s: &to2::ExpectServiceInfo,
        now: i64,
    ) -> anyhow::Result<Option<TlsEnrolOwner>> {
        let Some(validity) = self.tls_validity else {
            return Ok(None);
        };
        if s.devmod().is_some_and(|d| !d.has_module(tls_enrol::MODULE)) {
            return Ok(None);
        }
        Ok(OwnerCa::load(self.store.as_ref())
            .await?
            .map(|ca| TlsEnrolOwner::new(ca, s.guid(), now, validity)))
    }

    /// Brings the device's TLS pin up to date once TO2.Done has been verified and the
    /// replacement voucher stored: the pin `vouch.tls` left pending is stored under the
    /// device's GUID after TO2; without one, a pin the device already had moves to its new
    /// GUID (the device keeps its TLS key when it enrols none). A pin is never left under the
    /// old GUID.
    ///
    /// The device is onboarded and about to get Done2. Failing TO2 now would leave the owner
    /// with the new voucher and the device with its old credential, so a pin that cannot be
    /// stored is logged, not fatal; the device enrols again at its next TO2.
    async fn update_pins(
        &self,
        pending: Option<tls_enrol::PendingPin>,
        old_guid: Guid,
        new_guid: Guid,
        now: i64,
    ) {
        let pin = match pending {
            Some(p) if p.guid == old_guid => Some(p.into_pin(new_guid)),
            Some(p) => {
                log_internal(&format!(
                    "vouch.tls pin of {} found in the TO2 session of {old_guid}; not stored",
                    p.guid
                ));
                return;
            }
            None if new_guid == old_guid => return,
            None => match self.store.get_pin(old_guid).await {
                Ok(record) => Some(crate::store::Pin {
                    guid: new_guid,
                    ..record.pin
                }),
                Err(StoreError::NotFound(_)) => None,
                Err(e) => {
                    log_internal(&format!("reading the TLS pin of {old_guid}: {e}"));
                    return;
                }
            },
        };
        if let Some(pin) = pin
            && let Err(e) = self.store.upsert_pin(&pin, now).await
        {
            log_internal(&format!("storing the TLS pin of {new_guid}: {e}"));
            return;
        }
        if new_guid != old_guid {
            match self.store.delete_pin(old_guid).await {
                Ok(()) | Err(StoreError::NotFound(_)) => {}
                Err(e) => log_internal(&format!("deleting the TLS pin of {old_guid}: {e}")),
            }
        }
    }

    /// Writes a session's next state if it is still at `version` (compare-and-swap).
    async fn save(
        &self,
        token: &str,
        version: i64,
        state: &[u8],
        t: MessageType,
        now: i64,
    ) -> Result<(), ErrorMessage> {
        match self
            .store
            .update_session(token, version, state, now + TO2_SESSION_TTL)
            .await
        {
            Ok(_) => Ok(()),
            // Another request on this session got there first: neither may go on.
            Err(StoreError::Conflict(_) | StoreError::NotFound(_)) => Err(ErrorMessage::new(
                ErrorCode::INVALID_JWT_TOKEN,
                t,
                "the session was used by another request",
            )),
            Err(e) => Err(internal(e, t)),
        }
    }

    /// TO2.Done: stores the replacement voucher in place of the one TO2 started with, extended
    /// to the owner's key again. Under credential reuse the stored voucher stays as it is.
    ///
    /// The voucher must still be the one HelloDevice read (`voucher_sha256`); if someone
    /// changed it meanwhile, TO2 fails and their voucher stays. Any failure leaves the old
    /// voucher in place, and the device, which never gets Done2, keeps its old credential.
    async fn take_replacement(
        &self,
        outcome: OwnerOutcome,
        voucher_sha256: &[u8; 32],
        t: MessageType,
        now: i64,
    ) -> Result<(), ErrorMessage> {
        let Some(replacement) = outcome.replacement_voucher else {
            return Ok(());
        };
        let old_guid = outcome.guid;
        // The replacement has no entries; its OVPubKey is Owner2Key, our key.
        let owner = self.signer_for(&replacement, t).await?;
        let enc = replacement.header().manufacturer_key.enc;
        let next_owner = owner.public_key(enc).map_err(|e| internal(e, t))?;
        let extended = replacement
            .extend(&self.crypto, &owner, next_owner)
            .map_err(|e| internal(format!("extending the replacement voucher: {e}"), t))?;
        let new = VoucherBytes::from_voucher(&extended);

        let current = self
            .store
            .get_voucher(old_guid)
            .await
            .map_err(|e| changed_or_internal(e, t))?;
        if <[u8; 32]>::from(Sha256::digest(&current)) != *voucher_sha256 {
            return Err(voucher_changed(t));
        }
        // One transaction, under the same GUID or a new one: afterwards exactly one of the
        // two vouchers is stored, even if this process dies.
        self.store
            .swap_voucher(old_guid, &current, &new, now)
            .await
            .map_err(|e| changed_or_internal(e, t))
    }

    /// The owner key for `voucher`, which HelloDevice found; gone since is an internal error.
    async fn signer_for(
        &self,
        voucher: &OwnershipVoucher,
        t: MessageType,
    ) -> Result<SigningKey, ErrorMessage> {
        owner_signer_for(self.store.as_ref(), voucher)
            .await
            .map_err(|e| internal(e, t))?
            .ok_or_else(|| {
                internal(
                    format!(
                        "the owner key of voucher {} left the store during TO2",
                        voucher.guid()
                    ),
                    t,
                )
            })
    }

    /// A device's error message (255): its TO2 is over, so its session goes.
    async fn device_error(&self, r: &FdoRequest, now: i64) -> Result<FdoResponse, ErrorMessage> {
        if let Ok((token, _)) = self.session(r, now).await {
            self.end_session(&token).await;
        }
        // The protocol is over; there is nothing to answer but that.
        Err(ErrorMessage::new(
            ErrorCode::MESSAGE_BODY_ERROR,
            r.msg_type,
            "TO2 ended by the device's error message",
        ))
    }

    /// Loads the TO2 session a message names with its token: missing, unknown, expired or of
    /// another protocol is INVALID_JWT_TOKEN (1).
    async fn session(&self, r: &FdoRequest, now: i64) -> Result<(String, Session), ErrorMessage> {
        let bad_token = || {
            ErrorMessage::new(
                ErrorCode::INVALID_JWT_TOKEN,
                r.msg_type,
                "missing, unknown or expired token",
            )
        };
        let token = r.token.clone().ok_or_else(bad_token)?;
        match self.store.load_session(&token, now).await {
            Ok(s) if s.protocol == TO2 => Ok((token, s)),
            Ok(_) | Err(StoreError::NotFound(_)) => Err(bad_token()),
            Err(e) => Err(internal(e, r.msg_type)),
        }
    }

    async fn end_session(&self, token: &str) {
        match self.store.delete_session(token).await {
            Ok(()) | Err(StoreError::NotFound(_)) => {}
            Err(e) => log_internal(&format!("deleting a TO2 session: {e}")),
        }
    }
}

#[async_trait::async_trait]
impl FdoHandler for Owner {
    async fn handle(&self, request: FdoRequest) -> FdoResponse {
        self.serve(request).await
    }
}

/// What the owner keeps between TO2 requests: the SHA-256 of the voucher bytes HelloDevice
/// read (TO2.Done replaces the voucher only if it is still those bytes) and the owner state.
///
/// ```text
/// StoredTo2 = ["vouch-rp-to2", 1, voucher_sha256: bstr .size 32, state: bstr .cbor OwnerState]
/// ```
struct StoredTo2 {
    voucher_sha256: [u8; 32],
    state: Vec<u8>,
}

const STORED_TO2_TAG: &str = "vouch-rp-to2";
const STORED_TO2_VERSION: u64 = 1;

impl Cbor for StoredTo2 {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(4, "TO2 session [tag, version, voucher hash, state]")?;
        let tag = d.text("TO2 session tag (tstr)")?;
        if tag != STORED_TO2_TAG {
            return Err(Error::invalid(
                "TO2 session",
                format!("tag {tag:?}, expected {STORED_TO2_TAG:?}"),
            ));
        }
        let version = d.uint("TO2 session version (uint)")?;
        if version != STORED_TO2_VERSION {
            return Err(Error::unsupported(format!(
                "TO2 session version {version} (this release reads {STORED_TO2_VERSION})"
            )));
        }
        Ok(Self {
            voucher_sha256: d.bytes_fixed::<32>("voucher SHA-256 (bstr of 32)")?,
            state: d.bytes("owner state (bstr)")?.to_vec(),
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(4)
            .text(STORED_TO2_TAG)
            .uint(STORED_TO2_VERSION)
            .bytes(&self.voucher_sha256)
            .bytes(&self.state);
    }
}

/// The signing key the store holds for `voucher`'s current owner key (last entry), if any.
///
/// A stored key matches when its public key is the same key material as the voucher's owner
/// key, whatever the two encodings. A matching key whose private part cannot be read, or does
/// not belong to its public key, is an error: the store's data is damaged.
pub async fn owner_signer_for(
    store: &dyn Store,
    voucher: &OwnershipVoucher,
) -> Result<Option<SigningKey>, StoreError> {
    let crypto = RustCrypto;
    let wanted = voucher.owner_key();
    let wanted_bytes = voucher.entries().last().map_or_else(
        || voucher.header().manufacturer_key.bytes(),
        |entry| entry.payload().public_key.bytes(),
    );
    let fingerprint = key_fingerprint(wanted_bytes);
    let same = |public_key: &[u8]| {
        PublicKey::from_cbor(public_key)
            .ok()
            .is_some_and(|pk| crypto.same_key(&pk, wanted).unwrap_or(false))
    };
    for info in store.list_owner_keys().await? {
        if info.public_key_sha256 != fingerprint && !same(&info.public_key) {
            continue;
        }
        let key = store.get_owner_key(&info.name).await?;
        let damaged = |why: String| {
            StoreError::Backend(sqlx::Error::Decode(
                format!("owner key {:?}: {why}", info.name).into(),
            ))
        };
        let signer = SigningKey::from_der(&key.private_key_pkcs8)
            .map_err(|e| damaged(format!("private key: {e}")))?;
        let public = signer
            .public_key(wanted.enc)
            .map_err(|e| damaged(format!("public key: {e}")))?;
        if !crypto.same_key(&public, wanted).unwrap_or(false) {
            return Err(damaged(
                "its private key does not belong to its public key".into(),
            ));
        }
        return Ok(Some(signer));
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// TO0 client

/// An HTTP client for [`register_with_rendezvous`]: rustls with the ring provider (installed as
/// the process default too, since reqwest is built without one), HTTP/1.1, no redirects (they
/// would re-send the body and token elsewhere) and no proxy from the environment.
pub fn rendezvous_client() -> anyhow::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .http1_only()
        .timeout(std::time::Duration::from_secs(30))
        .connect_timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .context("building the HTTP client")
}

/// TO0 client: registers `voucher` at the rendezvous server `rv_base_url` (e.g.
/// "http://127.0.0.1:8041"), telling devices to come to `to2_addrs`, for `wait_seconds`;
/// returns the seconds granted.
///
/// `owner` must hold the voucher's owner key (its last entry's). The voucher is verified
/// first, and must have at least one entry. An FDO error from the server is reported with its
/// code and text.
pub async fn register_with_rendezvous(
    client: &reqwest::Client,
    rv_base_url: &str,
    voucher: &OwnershipVoucher,
    owner: &(dyn Signer + Sync),
    to2_addrs: Vec<RvTo2Addr>,
    wait_seconds: u32,
) -> anyhow::Result<u32> {
    let crypto = RustCrypto;
    let base = rv_base_url.trim_end_matches('/');
    let verified = voucher
        .clone()
        .verify(&crypto, None, None)
        .context("the voucher does not verify")?;
    let (hello, state) =
        To0Owner::start(verified, to2_addrs, wait_seconds).context("starting TO0")?;
    let ack = post(client, base, &hello, None).await?;
    let Some(token) = ack.token else {
        bail!("the rendezvous server answered TO0.Hello without a bearer token");
    };
    let (sign, state) = state
        .hello_ack(ack.msg_type, &ack.body, &crypto, owner)
        .map_err(|e| anyhow::anyhow!("TO0.HelloAck: {e}"))?;
    let accept = post(client, base, &sign, Some(&token)).await?;
    state
        .accept_owner(accept.msg_type, &accept.body)
        .map_err(|e| anyhow::anyhow!("TO0.AcceptOwner: {e}"))
}

/// A rendezvous server's answer.
struct Answer {
    msg_type: MessageType,
    body: Vec<u8>,
    /// The `Authorization` value, as received (`Bearer …`).
    token: Option<reqwest::header::HeaderValue>,
}

/// Posts one message; an FDO error message or any other failure of the binding is an error.
async fn post(
    client: &reqwest::Client,
    base: &str,
    out: &Outgoing,
    token: Option<&reqwest::header::HeaderValue>,
) -> anyhow::Result<Answer> {
    use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
    let url = format!("{base}/fdo/101/msg/{}", out.msg_type.0);
    let mut request = client
        .post(&url)
        .header(CONTENT_TYPE, CBOR)
        .body(out.body.clone());
    if let Some(t) = token {
        request = request.header(AUTHORIZATION, t.clone());
    }
    let mut response = request
        .send()
        .await
        .with_context(|| format!("posting message {} to {url}", out.msg_type.0))?;
    let status = response.status();
    let msg_type = response
        .headers()
        .get("message-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u8>().ok())
        .map(MessageType);
    let token = response.headers().get(AUTHORIZATION).cloned();
    let body = read_body(&mut response, DEFAULT_MAX_BODY).await?;
    if msg_type == Some(MessageType::ERROR) {
        let e = ErrorMessage::from_cbor(&body).with_context(|| {
            format!(
                "the rendezvous server refused message {} with an unreadable error message",
                out.msg_type.0
            )
        })?;
        bail!(
            "the rendezvous server refused message {}: error {}: {}",
            out.msg_type.0,
            e.code.0,
            e.text
        );
    }
    if status != reqwest::StatusCode::OK {
        bail!(
            "the rendezvous server answered message {} with HTTP {status}",
            out.msg_type.0
        );
    }
    let Some(msg_type) = msg_type else {
        bail!("the rendezvous server's answer has no valid Message-Type");
    };
    Ok(Answer {
        msg_type,
        body,
        token,
    })
}

/// Reads a response body of at most `max` bytes.
async fn read_body(response: &mut reqwest::Response, max: usize) -> anyhow::Result<Vec<u8>> {
    if response
        .content_length()
        .is_some_and(|n| n > u64::try_from(max).unwrap_or(u64::MAX))
    {
        bail!("the rendezvous server's answer is longer than {max} bytes");
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .context("reading the rendezvous server's answer")?
    {
        if body.len() + chunk.len() > max {
            bail!("the rendezvous server's answer is longer than {max} bytes");
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

// ---------------------------------------------------------------------------------------------
// Replies and errors

fn reply(out: Outgoing, token: Option<String>) -> FdoResponse {
    FdoResponse::Message {
        msg_type: out.msg_type,
        body: out.body,
        token,
    }
}

/// RESOURCE_NOT_FOUND (6): no voucher for the GUID, or none whose owner key we hold. Both get
/// the same answer, so a device cannot tell which.
fn not_ours(prev: MessageType) -> ErrorMessage {
    FlowError::with_code(
        Error::invalid("GUID", "no ownership voucher for it"),
        prev,
        ErrorCode::RESOURCE_NOT_FOUND,
    )
    .to_message()
}

/// A step's own error; the details of an internal one are logged, not sent.
fn flow(e: FlowError) -> ErrorMessage {
    if e.code() == ErrorCode::INTERNAL_SERVER_ERROR {
        log_internal(&e);
    }
    e.to_message()
}

/// The voucher changed since HelloDevice read it: this TO2 may not replace it.
fn voucher_changed(prev: MessageType) -> ErrorMessage {
    log_internal(&"the voucher changed during TO2; its replacement was not stored");
    ErrorMessage::new(ErrorCode::INTERNAL_SERVER_ERROR, prev, "internal error")
}

fn changed_or_internal(e: StoreError, prev: MessageType) -> ErrorMessage {
    match e {
        StoreError::Conflict(_) | StoreError::NotFound(_) => voucher_changed(prev),
        other => internal(other, prev),
    }
}

/// An internal failure: logged on the server, hidden from the peer.
fn internal(e: impl fmt::Display, prev: MessageType) -> ErrorMessage {
    log_internal(&e);
    ErrorMessage::new(ErrorCode::INTERNAL_SERVER_ERROR, prev, "internal error")
}

/// The one place internal failures are logged.
fn log_internal(what: &dyn fmt::Display) {
    tracing::error!(role = "owner", error = %what, "internal error");
}

/// A fresh bearer token: 32 random bytes, hex.
fn new_token() -> String {
    let mut b = [0u8; 32];
    rand_core::Rng::fill_bytes(&mut rand_core::UnwrapErr(getrandom::SysRng), &mut b);
    hex::encode(b)
}

/// A fresh random GUID for the device.
fn random_guid() -> Guid {
    let mut g = [0u8; 16];
    rand_core::Rng::fill_bytes(&mut rand_core::UnwrapErr(getrandom::SysRng), &mut g);
    Guid(g)
}
