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
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, KeyPair,
    KeyUsagePurpose, PublicKeyData, SerialNumber,
};
use vouch_protocol::ErrorCode;
use vouch_protocol::cbor::Cbor;
use vouch_protocol::crypto::{RustCrypto, Signer, SigningKey, VerifyingKey};
use vouch_protocol::flows::di::{self, Credentials, ManufacturerDiState};
use vouch_protocol::flows::{FlowError, Outgoing};
use vouch_protocol::messages::{ErrorMessage, MessageType};
use vouch_protocol::types::{Guid, HashAlg, PkEnc, PkType, RendezvousInfo};
use vouch_protocol::voucher::OwnershipVoucher;

use crate::evidence::idevid;
use crate::fdo_http::{FdoHandler, FdoRequest, FdoResponse};
use crate::rendezvous::Clock;
use crate::store::{OnExisting, Store, StoreError, VoucherBytes};

/// How long a device may take between DI.AppStart and DI.SetHMAC, in seconds.
pub const SESSION_TTL: i64 = 120;

/// The session protocol name of DI in the store.
const DI: &str = "di";

/// Validity of a CA made by [`DeviceCa::generate`], in days.
const CA_VALIDITY_DAYS: i64 = 20 * 365;

/// The device CA that signs device certificates: IEEE 802.1AR iDevIDs (chain: leaf, CA).
///
/// Cloning is cheap: clones share the key.
#[derive(Clone)]
pub struct DeviceCa {
    /// The CA's subject, key identifier method and key, ready to sign.
    issuer: Arc<rcgen::Issuer<'static, KeyPair>>,
    cert_der: Vec<u8>,
    /// hardwareModuleName hwType of the devices it certifies, dotted.
    hw_type: String,
    /// The MUD URL put in device certificates (id-pe-mud-url), if any.
    mud_url: Option<String>,
    /// The MUD file signer's subject Name, DER, put in device certificates (id-pe-mudsigner).
    mud_signer: Option<Vec<u8>>,
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
        Ok(Self::with_issuer(
            rcgen::Issuer::new(params, key),
            cert.der().to_vec(),
        ))
    }

    fn with_issuer(issuer: rcgen::Issuer<'static, KeyPair>, cert_der: Vec<u8>) -> Self {
        Self {
            issuer: Arc::new(issuer),
            cert_der,
            hw_type: idevid::DEFAULT_HW_TYPE.to_owned(),
            mud_url: None,
            mud_signer: None,
        }
    }

    /// Device certificates name `hw_type` (a dotted OID) as hardwareModuleName hwType.
    pub fn with_hw_type(mut self, hw_type: &str) -> anyhow::Result<Self> {
        idevid::hardware_module_name_san(hw_type, b"").map_err(|e| anyhow!(e))?;
        self.hw_type = hw_type.to_owned();
        Ok(self)
    }

    /// Device certificates carry `url` in the MUD URL extension (RFC 8520 §10), and, when
    /// `signer_cert_der` is given, that certificate's subject as the MUD file signer
    /// (id-pe-mudsigner, §11).
    pub fn with_mud_url(
        mut self,
        url: &str,
        signer_cert_der: Option<&[u8]>,
    ) -> anyhow::Result<Self> {
        idevid::mud_url_extension(url).map_err(|e| anyhow!(e))?;
        self.mud_url = Some(url.to_owned());
        self.mud_signer = match signer_cert_der {
            Some(der) => {
                let (_, cert) = x509_parser::parse_x509_certificate(der)
                    .map_err(|e| anyhow!("the MUD signer certificate does not parse: {e}"))?;
                Some(cert.subject().as_raw().to_vec())
            }
            None => None,
        };
        Ok(self)
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
        Ok(Self::with_issuer(issuer, cert_der))
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

    /// Issues the device certificate for `csr`'s key in the IEEE 802.1AR iDevID profile:
    /// subject CN and serialNumber = `serial_number`, subjectAltName otherName
    /// hardwareModuleName (hwType, hwSerialNum = `serial_number`), the MUD URL and MUD signer
    /// extensions when configured, a random serial, valid from `now` for `validity_days`
    /// (`u32::MAX`: 99991231235959Z, 802.1AR's "no expiration"), basicConstraints CA:false,
    /// keyUsage digitalSignature. Returns the chain `[leaf, CA]`, DER.
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
        // X.520 serialNumber is a PrintableString; a DI serial outside that alphabet goes in
        // as UTF8String rather than being refused.
        let serial_value = match rcgen::string::PrintableString::try_from(serial_number) {
            Ok(p) => rcgen::DnValue::PrintableString(p),
            Err(_) => rcgen::DnValue::Utf8String(serial_number.to_owned()),
        };
        params.distinguished_name.push(
            DnType::CustomDnType(idevid::ARCS_SERIAL_NUMBER.to_vec()),
            serial_value,
        );
        // rcgen's otherName holds only UTF-8 strings: the SAN is built here.
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                idevid::ARCS_SUBJECT_ALT_NAME,
                idevid::hardware_module_name_san(&self.hw_type, serial_number.as_bytes())
                    .map_err(|e| anyhow!(e))?,
            ));
        if let Some(url) = &self.mud_url {
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(
                    idevid::ARCS_MUD_URL,
                    idevid::mud_url_extension(url).map_err(|e| anyhow!(e))?,
                ));
        }
        if let Some(signer) = &self.mud_signer {
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(
                    idevid::ARCS_MUD_SIGNER,
                    signer.clone(),
                ));
        }
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

/// 99991231235959Z as a Unix time: RFC 5280's and 802.1AR's "no well-defined expiration date".
pub const NO_EXPIRY: i64 = 253_402_300_799;

/// notBefore = `now`, notAfter = `now` + `days`, capped at 99991231235959Z ([`NO_EXPIRY`]).
fn validity(now: i64, days: i64) -> anyhow::Result<(time::OffsetDateTime, time::OffsetDateTime)> {
    let not_before = time::OffsetDateTime::from_unix_timestamp(now)
        .map_err(|e| anyhow!("the clock reads {now}, not a certificate time: {e}"))?;
    let no_expiry = time::OffsetDateTime::from_unix_timestamp(NO_EXPIRY)
        .map_err(|e| anyhow!("99991231235959Z: {e}"))?;
    let not_after = not_before
        .checked_add(time::Duration::days(days))
        .filter(|t| *t <= no_expiry)
        .unwrap_or(no_expiry);
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
    /// How long device certificates are valid, in days; `u32::MAX` (the default) gives them
    /// 802.1AR's notAfter 99991231235959Z.
    pub cert_validity_days: u32,
}

impl ManufacturerConfig {
    /// Settings with the usual defaults: the chain hash of the first key's strength (SHA-384
    /// for P-384, else SHA-256) and device certificates without expiry (99991231235959Z).
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
            cert_validity_days: u32::MAX,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::idevid::{self, IDevIdError};

    /// The time the device CA is made valid from ([`DeviceCa::generate`] reads the clock).
    fn now() -> i64 {
        crate::rendezvous::system_clock()()
    }

    /// A checked CSR for a fresh P-256 key, and the key.
    fn csr() -> (VerifiedCsr, KeyPair) {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let der = CertificateParams::default()
            .serialize_request(&key)
            .unwrap()
            .der()
            .to_vec();
        (VerifiedCsr::parse(&der).unwrap(), key)
    }

    #[test]
    fn device_certificates_are_802_1ar_idevids_that_verify_to_the_device_ca() {
        let ca = DeviceCa::generate("Maker Device CA").unwrap();
        let now = now();
        let (csr, _) = csr();
        let chain = ca.issue(&csr, "SN-0042", now, u32::MAX).unwrap();
        let verified = idevid::verify_chain(&chain, &[ca.cert_der().to_vec()], now).unwrap();
        assert_eq!(verified.fields.serial_number.as_deref(), Some("SN-0042"));
        assert_eq!(
            verified.fields.hw_type.as_deref(),
            Some(idevid::DEFAULT_HW_TYPE)
        );
        assert_eq!(
            verified.fields.hw_serial_num.as_deref(),
            Some(&b"SN-0042"[..])
        );
        assert_eq!(verified.fields.mud_url, None);
        let (_, leaf) = x509_parser::parse_x509_certificate(&chain[0]).unwrap();
        assert_eq!(leaf.validity().not_after.timestamp(), NO_EXPIRY);
        // RFC 5280 §4.1.2.5: from 2050 on, GeneralizedTime.
        assert!(
            chain[0]
                .windows(17)
                .any(|w| w == b"\x18\x0f99991231235959Z"),
            "notAfter is not the GeneralizedTime 99991231235959Z"
        );
        // Another CA's chain does not verify to this one.
        let other = DeviceCa::generate("Other CA").unwrap();
        let err = idevid::verify_chain(&chain, &[other.cert_der().to_vec()], now).unwrap_err();
        assert!(matches!(err, IDevIdError::UnknownAnchor { .. }), "{err:?}");
    }

    #[test]
    fn a_configured_mud_url_and_signer_go_into_device_certificates() {
        let signer = DeviceCa::generate("Maker MUD Signer").unwrap();
        let ca = DeviceCa::generate("Maker Device CA")
            .unwrap()
            .with_hw_type("1.3.6.1.4.1.99999.7")
            .unwrap()
            .with_mud_url("https://maker.example/bulb.json", Some(signer.cert_der()))
            .unwrap();
        let now = now();
        let (csr, _) = csr();
        // A serial outside PrintableString's alphabet is kept, as UTF8String.
        let chain = ca.issue(&csr, "bulb_7@line-2", now, 30).unwrap();
        let verified = idevid::verify_chain(&chain, &[ca.cert_der().to_vec()], now).unwrap();
        let f = &verified.fields;
        assert_eq!(f.serial_number.as_deref(), Some("bulb_7@line-2"));
        assert_eq!(f.hw_type.as_deref(), Some("1.3.6.1.4.1.99999.7"));
        assert_eq!(
            f.mud_url.as_deref(),
            Some("https://maker.example/bulb.json")
        );
        let (_, signer_cert) = x509_parser::parse_x509_certificate(signer.cert_der()).unwrap();
        assert_eq!(
            f.mud_signer.as_deref(),
            Some(signer_cert.subject().as_raw())
        );
        let (_, leaf) = x509_parser::parse_x509_certificate(&chain[0]).unwrap();
        assert_eq!(leaf.validity().not_after.timestamp(), now + 30 * 86_400);
        assert!(
            DeviceCa::generate("x")
                .unwrap()
                .with_mud_url("https://é", None)
                .is_err()
        );
        assert!(
            DeviceCa::generate("x")
                .unwrap()
                .with_hw_type("not an oid")
                .is_err()
        );
    }
}
