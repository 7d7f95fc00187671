//! The owner's side of `vouch.tls` (see `vouch_protocol::serviceinfo::tls`): during TO2 it asks
//! the device to enrol a TLS key, checks the request, has the owner CA certify the key, and
//! keeps what the owner will pin once TO2 has ended well.
//!
//! ```text
//! owner                                   device
//! vouch.tls:active true, :enroll {zone} →
//!                                       ← vouch.tls:csr [CSR, names, addresses, ? WebTransport hash]
//! vouch.tls:cert [[leaf, owner CA]]     →      (or vouch.tls:error "why")
//! ```
//!
//! The module runs when the device lists `vouch.tls` in devmod and the store holds an owner CA
//! ([`OwnerCa`]). It is built afresh for every TO2 request ([`TlsEnrolOwner::new`]), and its
//! progress, the pending pin included, is saved in the TO2 session, which is confidential
//! server state: nothing of it reaches the device but the messages above.
//!
//! **A request is refused** (with `vouch.tls:error`, and no pin) when its value does not decode,
//! the CSR is not a DER PKCS#10 request whose signature verifies with the key it names, the key
//! is not P-256 or P-384, it names neither a DNS name nor an address, a name is not a lower-case
//! host name inside the CA's zone, or an address lies outside the CA's ranges. The owner
//! certifies the names and addresses of the message, not the CSR's own extensions.
//!
//! **The pin is only pending here.** The owner role reads it from the session at TO2.Done
//! ([`pending_pin`]) and stores it ([`Store::upsert_pin`](crate::store::Store::upsert_pin))
//! after Done has been verified and the replacement voucher stored, under the device's new
//! GUID: a TO2 that fails or is abandoned after the certificate was sent records nothing.

use std::net::IpAddr;
use std::time::Duration;

use sha2::{Digest, Sha256};
use vouch_protocol::Error;
use vouch_protocol::cbor::{Cbor, Decoder, Encoder};
use vouch_protocol::serviceinfo::tls::{self, CertChain, CsrRequest, Enroll, OwnerMessage};
use vouch_protocol::serviceinfo::{ACTIVE, ModuleMessage, OwnerModule};
use vouch_protocol::types::Guid;

use crate::owner_ca::OwnerCa;
use crate::store::Pin;

/// The module name, `vouch.tls`.
pub const MODULE: &str = tls::MODULE;

/// How long the certificates it issues are valid by default: 7 days.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// What the owner will pin when TO2 ends well: the device's TLS key and what was certified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingPin {
    /// The device's GUID during the TO2 that enrolled the key (the old one when TO2 gives it a
    /// new GUID: the pin is stored under the new one).
    pub guid: Guid,
    /// SHA-256 of the TLS key's DER SubjectPublicKeyInfo.
    pub spki_sha256: [u8; 32],
    /// The certificate issued, DER.
    pub cert_der: Vec<u8>,
    /// The DNS names certified.
    pub dns_names: Vec<String>,
    /// The addresses certified.
    pub ips: Vec<IpAddr>,
    /// SHA-256 of the device's WebTransport certificate, as it reported it.
    pub webtransport_sha256: Option<[u8; 32]>,
}

impl PendingPin {
    /// The pin to store for the device under `guid`, its GUID after TO2.
    pub fn into_pin(self, guid: Guid) -> Pin {
        Pin {
            guid,
            spki_sha256: self.spki_sha256,
            cert_der: self.cert_der,
            dns_names: self.dns_names,
            ips: self.ips,
            webtransport_sha256: self.webtransport_sha256,
        }
    }
}

/// ```text
/// PendingPin = [guid: bstr .size 16, spki_sha256: bstr .size 32, cert: bstr,
///               dns_names: [* tstr], ips: [* bstr], webtransport_sha256: bstr .size 32 / null]
/// ```
impl Cbor for PendingPin {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(6, "pending pin (array of 6)")?;
        let guid = Guid::decode(d)?;
        let spki_sha256 = d.bytes_fixed::<32>("SPKI SHA-256 (bstr of 32)")?;
        let cert_der = d.bytes("certificate (bstr)")?.to_vec();
        let n = d.array("DNS names (array)")?;
        let mut dns_names = Vec::new();
        for _ in 0..n {
            dns_names.push(d.text("DNS name (tstr)")?.to_string());
        }
        let n = d.array("addresses (array)")?;
        let mut ips = Vec::new();
        for _ in 0..n {
            ips.push(tls::decode_ip(d)?);
        }
        let webtransport_sha256 = if d.try_null() {
            None
        } else {
            Some(d.bytes_fixed::<32>("WebTransport SHA-256 (bstr of 32)")?)
        };
        Ok(Self {
            guid,
            spki_sha256,
            cert_der,
            dns_names,
            ips,
            webtransport_sha256,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(6)
            .encode(&self.guid)
            .bytes(&self.spki_sha256)
            .bytes(&self.cert_der)
            .array(self.dns_names.len());
        for n in &self.dns_names {
            e.text(n);
        }
        e.array(self.ips.len());
        for ip in &self.ips {
            tls::encode_ip(e, ip);
        }
        match &self.webtransport_sha256 {
            Some(h) => e.bytes(h),
            None => e.null(),
        };
    }
}

/// Where the module stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// `enroll` not sent yet.
    Enroll,
    /// Waiting for the device's `csr`.
    AwaitCsr,
    /// The answer (`cert` or `error`) is ready to send.
    Answer,
    /// Nothing more to do.
    Done,
}

impl Phase {
    fn code(self) -> u64 {
        match self {
            Self::Enroll => 0,
            Self::AwaitCsr => 1,
            Self::Answer => 2,
            Self::Done => 3,
        }
    }

    fn from_code(code: u64) -> Result<Self, Error> {
        Ok(match code {
            0 => Self::Enroll,
            1 => Self::AwaitCsr,
            2 => Self::Answer,
            3 => Self::Done,
            other => {
                return Err(Error::invalid(
                    "vouch.tls owner state",
                    format!("phase {other}"),
                ));
            }
        })
    }
}

/// What the owner answers the device's request with.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Answer {
    /// `vouch.tls:cert`.
    Cert(CertChain),
    /// `vouch.tls:error`.
    Refused(String),
}

const STATE_TAG: &str = "vouch.tls owner";
const STATE_VERSION: u64 = 1;

/// The module's saved state.
///
/// ```text
/// TlsOwnerState = ["vouch.tls owner", 1, phase: uint,
///                  answer: null / [0, CertChain] / [1, tstr], pin: PendingPin / null]
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
struct State {
    phase: Phase,
    answer: Option<Answer>,
    pin: Option<PendingPin>,
}

impl Cbor for State {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(5, "vouch.tls owner state (array of 5)")?;
        let tag = d.text("vouch.tls owner state tag")?;
        if tag != STATE_TAG {
            return Err(Error::invalid(
                "vouch.tls owner state",
                format!("tag {tag:?}"),
            ));
        }
        let version = d.uint("vouch.tls owner state version")?;
        if version != STATE_VERSION {
            return Err(Error::unsupported(format!(
                "vouch.tls owner state version {version}"
            )));
        }
        let phase = Phase::from_code(d.uint("phase")?)?;
        let answer = if d.try_null() {
            None
        } else {
            d.array_of(2, "answer [kind, value]")?;
            Some(match d.uint("answer kind")? {
                0 => Answer::Cert(CertChain::decode(d)?),
                1 => Answer::Refused(d.text("refusal (tstr)")?.to_string()),
                other => {
                    return Err(Error::invalid(
                        "vouch.tls owner state",
                        format!("answer kind {other}"),
                    ));
                }
            })
        };
        let pin = Option::<PendingPin>::decode(d)?;
        Ok(Self { phase, answer, pin })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(5)
            .text(STATE_TAG)
            .uint(STATE_VERSION)
            .uint(self.phase.code());
        match &self.answer {
            None => e.null(),
            Some(Answer::Cert(chain)) => e.array(2).uint(0).encode(chain),
            Some(Answer::Refused(why)) => e.array(2).uint(1).text(why),
        };
        e.encode(&self.pin);
    }
}

/// The pin a `vouch.tls` owner module left pending in its saved state (what
/// [`ExpectServiceInfo::module_state`] returns for [`MODULE`]), if it certified a key.
///
/// [`ExpectServiceInfo::module_state`]: vouch_protocol::flows::to2::ExpectServiceInfo::module_state
pub fn pending_pin(saved: &[u8]) -> Result<Option<PendingPin>, Error> {
    if saved.is_empty() {
        return Ok(None);
    }
    Ok(State::from_cbor(saved)?.pin)
}

/// The owner's `vouch.tls` module for one TO2 request.
pub struct TlsEnrolOwner {
    ca: OwnerCa,
    guid: Guid,
    now: i64,
    validity: Duration,
    state: State,
}

impl std::fmt::Debug for TlsEnrolOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsEnrolOwner")
            .field("zone", &self.ca.zone())
            .field("guid", &self.guid)
            .field("phase", &self.state.phase)
            .finish_non_exhaustive()
    }
}

impl TlsEnrolOwner {
    /// The module for the TO2 session of device `guid`, issuing from `ca` certificates valid
    /// from `now` (unix seconds) for `validity` ([`DEFAULT_VALIDITY`] by default).
    pub fn new(ca: OwnerCa, guid: Guid, now: i64, validity: Duration) -> Self {
        Self {
            ca,
            guid,
            now,
            validity,
            state: State {
                phase: Phase::Enroll,
                answer: None,
                pin: None,
            },
        }
    }

    /// The pin this module has certified so far, if any.
    pub fn pending(&self) -> Option<&PendingPin> {
        self.state.pin.as_ref()
    }

    /// Checks a request and certifies its key: the chain to send and the pin to keep, or why
    /// not (in words for the device).
    fn certify(&self, value: &[u8]) -> Result<(CertChain, PendingPin), String> {
        let request = CsrRequest::from_cbor(value)
            .map_err(|e| format!("vouch.tls:csr does not decode: {e}"))?;
        let spki_der = verified_csr_key(&request.csr)?;
        if request.dns_names.is_empty() && request.ips.is_empty() {
            return Err("the request names neither a DNS name nor an address".into());
        }
        let mut dns_names: Vec<String> = Vec::new();
        for name in &request.dns_names {
            if !tls::is_dns_name(name) {
                return Err(format!("{name:?} is not a lower-case host name"));
            }
            if !self.ca.permits_name(name) {
                return Err(format!(
                    "{name:?} is outside the owner's zone {}",
                    self.ca.zone()
                ));
            }
            if !dns_names.contains(name) {
                dns_names.push(name.clone());
            }
        }
        let mut ips: Vec<IpAddr> = Vec::new();
        for ip in &request.ips {
            if !self.ca.permits_ip(*ip) {
                return Err(format!("{ip} is outside the owner's address ranges"));
            }
            if !ips.contains(ip) {
                ips.push(*ip);
            }
        }
        let leaf = self
            .ca
            .issue(&spki_der, &dns_names, &ips, self.validity, self.now)
            .map_err(|e| {
                log(&format!(
                    "issuing a TLS certificate for {}: {e:#}",
                    self.guid
                ));
                "the owner CA could not issue the certificate".to_string()
            })?;
        // The certificate must certify exactly the key whose possession the CSR proved.
        let (_, parsed) = x509_parser::parse_x509_certificate(&leaf).map_err(|e| {
            log(&format!("the issued TLS certificate does not parse: {e}"));
            "the owner CA could not issue the certificate".to_string()
        })?;
        if parsed.public_key().raw != spki_der.as_slice() {
            log(&"the issued TLS certificate does not hold the CSR's key");
            return Err("the owner CA could not issue the certificate".into());
        }
        let pin = PendingPin {
            guid: self.guid,
            spki_sha256: Sha256::digest(&spki_der).into(),
            cert_der: leaf.clone(),
            dns_names,
            ips,
            webtransport_sha256: request.webtransport_cert_sha256,
        };
        Ok((CertChain(vec![leaf, self.ca.cert_der().to_vec()]), pin))
    }
}

/// The DER SubjectPublicKeyInfo of a PKCS#10 request whose signature verifies with that key
/// (the device holds the private key); only P-256 and P-384 keys.
pub(crate) fn verified_csr_key(der: &[u8]) -> Result<Vec<u8>, String> {
    crate::csr::check(der)
        .map(|csr| csr.spki_der)
        .map_err(|e| format!("the CSR: {e}"))
}

impl OwnerModule for TlsEnrolOwner {
    fn name(&self) -> &str {
        MODULE
    }

    fn receive(&mut self, message: &str, value: &[u8]) -> Result<(), Error> {
        if self.state.phase != Phase::AwaitCsr || message != tls::CSR {
            // Anything else (a request before `enroll` or after the answer, a message of a
            // later version) is ignored; `active = false` is handled by the exchange.
            return Ok(());
        }
        let answer = match self.certify(value) {
            Ok((chain, pin)) => {
                self.state.pin = Some(pin);
                Answer::Cert(chain)
            }
            Err(why) => Answer::Refused(why),
        };
        self.state.answer = Some(answer);
        self.state.phase = Phase::Answer;
        Ok(())
    }

    fn produce(&mut self) -> Result<Vec<ModuleMessage>, Error> {
        match self.state.phase {
            Phase::Enroll => {
                self.state.phase = Phase::AwaitCsr;
                let enroll = Enroll {
                    zone: self.ca.zone().to_string(),
                    validity_seconds: Some(self.validity.as_secs()),
                };
                Ok(vec![
                    ModuleMessage::new(ACTIVE, &true),
                    ModuleMessage::new(tls::ENROLL, &enroll),
                ])
            }
            Phase::Answer => {
                self.state.phase = Phase::Done;
                let message = match self.state.answer.take() {
                    Some(Answer::Cert(chain)) => OwnerMessage::Cert(chain),
                    Some(Answer::Refused(why)) => OwnerMessage::Error(why),
                    None => return Ok(Vec::new()),
                };
                Ok(message.to_module_message().into_iter().collect())
            }
            Phase::AwaitCsr | Phase::Done => Ok(Vec::new()),
        }
    }

    fn is_done(&self) -> bool {
        self.state.phase == Phase::Done
    }

    fn save(&self) -> Vec<u8> {
        self.state.to_cbor()
    }

    fn restore(&mut self, saved: &[u8]) -> Result<(), Error> {
        // Nothing saved yet: the module starts.
        if !saved.is_empty() {
            self.state = State::from_cbor(saved)?;
        }
        Ok(())
    }
}

/// The one place this module logs: internal failures the device is not told about.
fn log(what: &dyn std::fmt::Display) {
    eprintln!("vouch-rp: owner: vouch.tls: {what}");
}

#[cfg(test)]
mod tests;
