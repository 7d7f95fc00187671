//! The manufacturer role: DI (device initialization, FDO reference §2.1) over the FDO HTTP
//! binding, with every session in the [`Store`].
//!
//! ```text
//! device                                   manufacturer
//!   10 DI.AppStart [bstr .cbor MfgInfo] ─▶ read the CSR, issue the device certificate,
//!                                          choose GUID and manufacturer key
//!   ◀── 11 DI.SetCredentials ──────────── session "di" stored under a new token
//!   12 DI.SetHMAC ───────────────────────▶ voucher (0 entries) stored, session deleted,
//!                                          OnManufactured hook
//!   ◀── 13 DI.Done
//! ```
//!
//! The device sends the [`MfgInfo`](vouch_protocol::messages::di::MfgInfo) layout of the C, Java and go-fdo clients: its key type,
//! serial number, model and a PKCS#10 request for its key. The [`DeviceCa`] issues the device
//! certificate from that request, so the voucher's device chain is `[leaf, CA]`.
//!
//! As in the rendezvous role, each request loads its session by bearer token, runs one step of
//! `vouch_protocol::flows::di` and writes the result back; nothing is kept in process memory
//! between requests. A failed DI stores no voucher.

use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
    PublicKeyData, SerialNumber,
};
use vouch_protocol::ErrorCode;
use vouch_protocol::cbor::Cbor;
use vouch_protocol::crypto::{RustCrypto, Signer, SigningKey, VerifyingKey};
use vouch_protocol::flows::di::{self, Credentials, ManufacturerDiState};
use vouch_protocol::flows::{FlowError, Outgoing};
use vouch_protocol::messages::{ErrorMessage, MessageType};
use vouch_protocol::types::{Guid, HashAlg, PkEnc, PkType, RendezvousInfo};
use vouch_protocol::voucher::OwnershipVoucher;

use crate::fdo_http::{FdoHandler, FdoRequest, FdoResponse};
use crate::rendezvous::Clock;
use crate::store::{OnExisting, Store, StoreError, VoucherBytes};

/// How long a device may take between DI.AppStart and DI.SetHMAC, in seconds.
pub const SESSION_TTL: i64 = 120;

/// The session protocol name of DI in the store.
const DI: &str = "di";

/// Validity of a CA made by [`DeviceCa::generate`], in days.
const CA_VALIDITY_DAYS: i64 = 20 * 365;

/// The device CA that signs device certificates (an iDevID-like chain: leaf, CA).
///
/// Cloning is cheap: clones share the key.
#[derive(Clone)]
pub struct DeviceCa {
    /// The CA's subject, key identifier method and key, ready to sign.
    issuer: Arc<rcgen::Issuer<'static, KeyPair>>,
    cert_der: Vec<u8>,
}

impl std::fmt::Debug for DeviceCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("DeviceCa")
            .field("cert_der_len", &self.cert_der.len())
            .finish_non_exhaustive()
    }
}

impl DeviceCa {
    /// A fresh self-signed P-256 CA named `common_name`, valid from now for twenty years.
    pub fn generate(common_name: &str) -> anyhow::Result<Self> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .context("generating the device CA key")?;
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name_dn(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(random_serial());
        let now = crate::rendezvous::system_clock()();
        let (not_before, not_after) = validity(now, CA_VALIDITY_DAYS)?;
        params.not_before = not_before;
        params.not_after = not_after;
        let cert = params
            .self_signed(&key)
            .context("self-signing the device CA certificate")?;
        Ok(Self {
            issuer: Arc::new(rcgen::Issuer::new(params, key)),
            cert_der: cert.der().to_vec(),
        })
    }

    /// A CA from its PKCS#8 private key and its certificate, both PEM. The certificate must be
    /// a CA certificate (basicConstraints CA:true) for that key.
    pub fn from_pem(key_pem: &str, cert_pem: &str) -> anyhow::Result<Self> {
        let key = KeyPair::from_pem(key_pem).context("reading the device CA key")?;
        let pem = pem::parse(cert_pem).context("reading the device CA certificate PEM")?;
        if pem.tag() != "CERTIFICATE" {
            bail!(
                "the device CA certificate PEM holds a {}, not a CERTIFICATE",
                pem.tag()
            );
        }
        let cert_der = pem.contents().to_vec();
        let (rest, cert) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|e| anyhow!("the device CA certificate does not parse: {e}"))?;
        if !rest.is_empty() {
            bail!("the device CA certificate has trailing bytes");
        }
        if !cert.is_ca() {
            bail!("the device CA certificate is not a CA certificate (basicConstraints)");
        }
        if cert.public_key().raw != key.subject_public_key_info().as_slice() {
            bail!("the device CA certificate is not for the device CA key");
        }
        let issuer = rcgen::Issuer::from_ca_cert_der(&cert_der.as_slice().into(), key)
            .context("reading the device CA certificate")?;
        Ok(Self {
            issuer: Arc::new(issuer),
            cert_der,
        })
    }

    /// The CA's private key, PKCS#8 PEM.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        pem::encode(&pem::Pem::new("CERTIFICATE", self.cert_der.clone()))
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Issues the device certificate for `csr`'s key: subject CN = `serial_number`, a random
    /// serial, valid from `now` for `validity_days`, basicConstraints CA:false, keyUsage
    /// digitalSignature. Returns the chain `[leaf, CA]`, DER.
    fn issue(
        &self,
        csr: &VerifiedCsr,
        serial_number: &str,
        now: i64,
        validity_days: u32,
    ) -> anyhow::Result<Vec<Vec<u8>>> {
        let public_key = rcgen::SubjectPublicKeyInfo::from_der(&csr.spki_der)
            .context("reading the CSR public key for the certificate")?;
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name_dn(serial_number);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.serial_number = Some(random_serial());
        params.use_authority_key_identifier_extension = true;
        let (not_before, not_after) = validity(now, i64::from(validity_days))?;
        params.not_before = not_before;
        params.not_after = not_after;
        let leaf = params
            .signed_by(&public_key, &*self.issuer)
            .context("signing the device certificate")?;
        let leaf = leaf.der().to_vec();
        // The certificate must certify exactly the key the device proved it holds.
        let (_, parsed) = x509_parser::parse_x509_certificate(&leaf)
            .map_err(|e| anyhow!("the issued device certificate does not parse: {e}"))?;
        let issued = VerifyingKey::from_spki_der(parsed.public_key().raw)
            .map_err(|e| anyhow!("the issued device certificate key: {e}"))?;
        if issued != csr.key {
            bail!("the issued device certificate does not hold the CSR's key");
        }
        Ok(vec![leaf, self.cert_der.clone()])
    }
}

/// A distinguished name with only a common name.
fn common_name_dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

/// 16 random bytes, the top bit clear so the serial is positive.
fn random_serial() -> SerialNumber {
    let mut b = random::<16>();
    b[0] &= 0x7f;
    SerialNumber::from_slice(&b)
}

/// notBefore = `now`, notAfter = `now` + `days`, capped at the end of 9999 (RFC 5280's "no
/// well-defined expiration date").
fn validity(now: i64, days: i64) -> anyhow::Result<(time::OffsetDateTime, time::OffsetDateTime)> {
    let not_before = time::OffsetDateTime::from_unix_timestamp(now)
        .map_err(|e| anyhow!("the clock reads {now}, not a certificate time: {e}"))?;
    let not_after = not_before
        .checked_add(time::Duration::days(days))
        .filter(|t| t.year() <= 9999)
        .unwrap_or_else(|| rcgen::date_time_ymd(9999, 12, 31));
    Ok((not_before, not_after))
}

/// Settings of the manufacturer role.
pub struct ManufacturerConfig {
    /// Manufacturer keys (OVPubKey). The one of the device's key type is used (a P-384 key for
    /// a P-384 device) when there is one, else the first.
    pub keys: Vec<SigningKey>,
    /// The CA that issues device certificates.
    pub device_ca: DeviceCa,
    /// OVRVInfo: where devices find their rendezvous server.
    pub rv_info: RendezvousInfo,
    /// The hash of OVDevCertChainHash: SHA-256 by default, SHA-384 for P-384 deployments.
    pub chain_hash_alg: HashAlg,
    /// How long device certificates are valid, in days.
    pub cert_validity_days: u32,
}

impl ManufacturerConfig {
    /// Settings with the usual defaults: the chain hash of the first key's strength (SHA-384
    /// for P-384, else SHA-256) and device certificates valid for twenty years.
    pub fn new(keys: Vec<SigningKey>, device_ca: DeviceCa, rv_info: RendezvousInfo) -> Self {
        let chain_hash_alg = match keys.first().map(SigningKey::pk_type) {
            Some(PkType::SECP384R1) => HashAlg::SHA384,
            _ => HashAlg::SHA256,
        };
        Self {
            keys,
            device_ca,
            rv_info,
            chain_hash_alg,
            cert_validity_days: 20 * 365,
        }
    }

    /// The manufacturer key for a device whose key is of type `device`.
    fn key_for(&self, device: PkType) -> Option<&SigningKey> {
        self.keys
            .iter()
            .find(|k| k.pk_type() == device)
            .or_else(|| self.keys.first())
    }
}

/// Called after a voucher is stored at DI.Done (the all-in-one server extends it to the owner
/// and registers it at the rendezvous).
#[async_trait::async_trait]
pub trait OnManufactured: Send + Sync {
    /// Handles a voucher just made and stored. A failure is logged; the device's DI has
    /// succeeded all the same, since the voucher is stored.
    async fn manufactured(&self, voucher: &OwnershipVoucher) -> anyhow::Result<()>;
}

/// The manufacturer role.
pub struct Manufacturer {
    store: Arc<dyn Store>,
    config: ManufacturerConfig,
    clock: Clock,
    crypto: RustCrypto,
    hook: Option<Arc<dyn OnManufactured>>,
}

impl Manufacturer {
    /// A manufacturer role over `store`.
    pub fn new(store: Arc<dyn Store>, config: ManufacturerConfig, clock: Clock) -> Self {
        Self {
            store,
            config,
            clock,
            crypto: RustCrypto,
            hook: None,
        }
    }

    /// Runs `hook` after each voucher is stored.
    pub fn with_hook(mut self, hook: Arc<dyn OnManufactured>) -> Self {
        self.hook = Some(hook);
        self
    }

    /// Handles DI messages (10, 12); anything else is refused.
    pub async fn serve(&self, r: FdoRequest) -> FdoResponse {
        let prev = r.msg_type;
        match self.step(r).await {
            Ok(resp) => resp,
            Err(mut e) => {
                // Error messages always name the message that caused them.
                e.prev_message = prev;
                FdoResponse::Error(e)
            }
        }
    }

    async fn step(&self, r: FdoRequest) -> Result<FdoResponse, ErrorMessage> {
        let now = (self.clock)();
        match r.msg_type {
            MessageType::DI_APP_START => self.app_start(&r, now).await,
            MessageType::DI_SET_HMAC => self.set_hmac(&r, now).await,
            other => Err(ErrorMessage::new(
                ErrorCode::MESSAGE_BODY_ERROR,
                other,
                "not a message the manufacturer role serves",
            )),
        }
    }

    /// DI.AppStart: issue the device certificate, choose the credentials, answer
    /// DI.SetCredentials and keep the state under a new token.
    async fn app_start(&self, r: &FdoRequest, now: i64) -> Result<FdoResponse, ErrorMessage> {
        let prev = r.msg_type;
        let (app_start, started) = di::app_start(prev, &r.body).map_err(flow)?;
        let info = app_start.mfg_info.mfg_info().map_err(|e| {
            body_error(
                prev,
                format!(
                    "DeviceMfgInfo is not bstr .cbor [pkType, pkEnc, serialNo, deviceInfo, CSR]: {e}"
                ),
            )
        })?;
        if info.serial_number.is_empty() {
            return Err(body_error(prev, "MfgInfo serialNo is empty"));
        }
        let csr = VerifiedCsr::parse(&info.csr).map_err(|why| body_error(prev, why))?;
        // The device says what key it has; the CSR must hold a key of that type.
        if csr.key_type != info.key_type {
            return Err(body_error(
                prev,
                format!(
                    "MfgInfo pkType is {} but the CSR holds a {} key",
                    info.key_type,
                    csr.key.kind()
                ),
            ));
        }
        let device_chain = self
            .config
            .device_ca
            .issue(
                &csr,
                &info.serial_number,
                now,
                self.config.cert_validity_days,
            )
            .map_err(|e| internal(&format!("{e:#}"), prev))?;
        let key = self
            .config
            .key_for(info.key_type)
            .ok_or_else(|| internal("no manufacturer key is configured", prev))?;
        // Always X509, whatever pkEnc asks: every voucher made here then has one encoding for
        // the owner role to extend.
        let manufacturer_key = key
            .public_key(PkEnc::X509)
            .map_err(|e| internal(&e.to_string(), prev))?;
        let credentials = Credentials {
            guid: Guid(random::<16>()),
            rv_info: self.config.rv_info.clone(),
            device_info: &info.device_info,
            manufacturer_key,
            device_chain: Some(device_chain),
            chain_hash_alg: self.config.chain_hash_alg,
        };
        let (out, state) = di::set_credentials(started, credentials, &self.crypto).map_err(flow)?;
        let token = new_token();
        self.store
            .create_session(&token, DI, &state.to_cbor(), now + SESSION_TTL)
            .await
            .map_err(|e| store_error(e, prev))?;
        Ok(reply(out, Some(token)))
    }

    /// DI.SetHMAC: build the voucher, store it, end the session, run the hook, answer DI.Done.
    async fn set_hmac(&self, r: &FdoRequest, now: i64) -> Result<FdoResponse, ErrorMessage> {
        let prev = r.msg_type;
        let session = self.take_session(r, now).await?;
        let state =
            ManufacturerDiState::from_cbor(&session).map_err(|e| internal(&e.to_string(), prev))?;
        let (out, voucher) = di::set_hmac(state, prev, &r.body, &self.crypto).map_err(flow)?;
        self.store
            .insert_voucher(
                &VoucherBytes::from_voucher(&voucher),
                OnExisting::Refuse,
                now,
            )
            .await
            .map_err(|e| store_error(e, prev))?;
        if let Some(hook) = &self.hook
            && let Err(e) = hook.manufactured(&voucher).await
        {
            log(&format!(
                "the hook after DI failed for device {}: {e:#}",
                voucher.guid()
            ));
        }
        Ok(reply(out, None))
    }

    /// Loads the DI session a later message names with its token and deletes it: the session
    /// is over whatever the outcome, and a token whose deletion another request won is
    /// refused, so each session makes at most one voucher.
    async fn take_session(&self, r: &FdoRequest, now: i64) -> Result<Vec<u8>, ErrorMessage> {
        let bad_token = || {
            ErrorMessage::new(
                ErrorCode::INVALID_JWT_TOKEN,
                r.msg_type,
                "missing, unknown or expired token",
            )
        };
        let token = r.token.as_deref().ok_or_else(bad_token)?;
        let session = match self.store.load_session(token, now).await {
            Ok(s) if s.protocol == DI => s,
            Ok(_) | Err(StoreError::NotFound(_)) => return Err(bad_token()),
            Err(e) => return Err(store_error(e, r.msg_type)),
        };
        match self.store.delete_session(token).await {
            Ok(()) => Ok(session.state),
            Err(StoreError::NotFound(_)) => Err(bad_token()),
            Err(e) => Err(store_error(e, r.msg_type)),
        }
    }
}

#[async_trait::async_trait]
impl FdoHandler for Manufacturer {
    async fn handle(&self, request: FdoRequest) -> FdoResponse {
        self.serve(request).await
    }
}

/// A PKCS#10 request whose self-signature verified, and the key it requests a certificate for.
struct VerifiedCsr {
    /// The requested key's DER SubjectPublicKeyInfo, as in the request.
    spki_der: Vec<u8>,
    /// The requested key.
    key: VerifyingKey,
    /// Its pkType.
    key_type: PkType,
}

impl VerifiedCsr {
    /// Parses a DER CSR and checks its signature with the key it holds (proof that the device
    /// has the private key). Only P-256 and P-384 keys are accepted. The error says why, for
    /// the device.
    fn parse(der: &[u8]) -> Result<Self, String> {
        let crate::csr::CheckedCsr { spki_der, key } =
            crate::csr::check(der).map_err(|e| format!("MfgInfo CSR: {e}"))?;
        let key_type = match key {
            VerifyingKey::P256(_) => PkType::SECP256R1,
            _ => PkType::SECP384R1,
        };
        Ok(Self {
            spki_der,
            key,
            key_type,
        })
    }
}

fn reply(out: Outgoing, token: Option<String>) -> FdoResponse {
    FdoResponse::Message {
        msg_type: out.msg_type,
        body: out.body,
        token,
    }
}

/// The peer's message is wrong: MESSAGE_BODY_ERROR with `why`.
fn body_error(prev: MessageType, why: impl Into<String>) -> ErrorMessage {
    ErrorMessage::new(ErrorCode::MESSAGE_BODY_ERROR, prev, why)
}

/// A failed protocol step; an internal one is logged, and sent without its details.
fn flow(e: FlowError) -> ErrorMessage {
    if e.code() == ErrorCode::INTERNAL_SERVER_ERROR {
        log(&e.to_string());
    }
    e.to_message()
}

fn internal(what: &str, prev: MessageType) -> ErrorMessage {
    log(what);
    ErrorMessage::new(ErrorCode::INTERNAL_SERVER_ERROR, prev, "internal error")
}

fn store_error(e: StoreError, prev: MessageType) -> ErrorMessage {
    internal(&e.to_string(), prev)
}

/// Internal failures are logged on the server and hidden from the peer.
fn log(what: &str) {
    eprintln!("vouch-rp: manufacturer: {what}");
}

/// `N` bytes from the system's random source.
fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand_core::Rng::fill_bytes(&mut rand_core::UnwrapErr(getrandom::SysRng), &mut b);
    b
}

/// A fresh bearer token: 32 random bytes, hex.
fn new_token() -> String {
    hex::encode(random::<32>())
}
