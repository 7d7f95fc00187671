//! The device's side of `vouch.tls` (see `vouch_protocol::serviceinfo::tls`): when the owner
//! asks (`vouch.tls:enroll`), the device generates a fresh P-256 TLS key, asks the owner to
//! certify it for the names and addresses it will serve its local page on
//! (`vouch.tls:csr`), and keeps the chain the owner returns (`vouch.tls:cert`).
//!
//! The key and chain stay in memory until TO2 has finished: [`onboard`](super::onboard) writes
//! them (`tls-key.pem`, mode 0600, and `tls-cert.pem`) beside the credential file only after
//! TO2.Done2 and after the new credential is stored. A TO2 that fails writes nothing, and the
//! device keeps the TLS key and certificate it had.
//!
//! When the device cannot make a request (the owner's zone is not a DNS name, a configured
//! name is not one either, the key cannot be generated), it answers `vouch.tls:active =
//! false`, which ends the module on the owner's side without failing TO2; the reason is kept
//! ([`TlsEnrolDevice::problem`]).

use std::net::IpAddr;

use der::{Decode as _, Encode as _};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PublicKeyData, SanType};
use vouch_protocol::Error;
use vouch_protocol::crypto::CryptoProvider as _;
use vouch_protocol::serviceinfo::tls::{self, CsrRequest, Enroll, OwnerMessage};
use vouch_protocol::serviceinfo::{ACTIVE, DeviceModule, ModuleMessage};
use vouch_protocol::types::{Guid, HashAlg};
use zeroize::Zeroizing;

/// The module name, `vouch.tls`.
pub const MODULE: &str = tls::MODULE;

/// The file the TLS private key is written to, beside the credential file.
pub const KEY_FILE: &str = "tls-key.pem";
/// The file the certificate chain is written to, beside the credential file.
pub const CERT_FILE: &str = "tls-cert.pem";

/// What the device asks the owner to certify.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsEnrolOptions {
    /// The DNS names the device serves on, lower case. Empty (the default): one name,
    /// `<the first 16 hexadecimal digits of the GUID>.<the owner's zone>`, with the GUID the
    /// device has when TO2 starts.
    pub dns_names: Vec<String>,
    /// The addresses the device serves on (default: none).
    pub ips: Vec<IpAddr>,
    /// SHA-256 of the whole DER certificate the device serves WebTransport with, to report to
    /// the owner (default: none).
    pub webtransport_cert_sha256: Option<[u8; 32]>,
}

/// A TLS key the owner certified during TO2, held in memory until TO2 has finished.
pub struct EnrolledKey {
    /// The private key, PKCS#8 PEM.
    pub key_pem: Zeroizing<String>,
    /// The chain the owner returned, DER, leaf first.
    pub chain: Vec<Vec<u8>>,
    /// The DNS names asked for.
    pub dns_names: Vec<String>,
    /// The addresses asked for.
    pub ips: Vec<IpAddr>,
    /// SHA-256 of the key's DER SubjectPublicKeyInfo: the pin the owner recorded.
    pub spki_sha256: [u8; 32],
}

impl std::fmt::Debug for EnrolledKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("EnrolledKey")
            .field("chain_len", &self.chain.len())
            .field("dns_names", &self.dns_names)
            .field("ips", &self.ips)
            .field("spki_sha256", &hex_string(&self.spki_sha256))
            .finish_non_exhaustive()
    }
}

impl EnrolledKey {
    /// The chain as PEM `CERTIFICATE` blocks, leaf first.
    pub fn chain_pem(&self) -> String {
        self.chain
            .iter()
            .map(|der| pem::encode(&pem::Pem::new("CERTIFICATE", der.clone())))
            .collect()
    }
}

/// The request sent, waiting for the owner's answer.
struct Pending {
    key: KeyPair,
    spki_der: Vec<u8>,
    dns_names: Vec<String>,
    ips: Vec<IpAddr>,
}

/// The device's `vouch.tls` module for one TO2 attempt.
pub struct TlsEnrolDevice {
    guid: Guid,
    options: TlsEnrolOptions,
    pending: Option<Pending>,
    enrolled: Option<EnrolledKey>,
    problem: Option<String>,
}

impl std::fmt::Debug for TlsEnrolDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsEnrolDevice")
            .field("guid", &self.guid)
            .field("options", &self.options)
            .field("pending", &self.pending.is_some())
            .field("enrolled", &self.enrolled)
            .field("problem", &self.problem)
            .finish()
    }
}

impl TlsEnrolDevice {
    /// The module for a device whose GUID is `guid` when TO2 starts.
    pub fn new(guid: Guid, options: TlsEnrolOptions) -> Self {
        Self {
            guid,
            options,
            pending: None,
            enrolled: None,
            problem: None,
        }
    }

    /// The key the owner certified, if it did.
    pub fn enrolled(&self) -> Option<&EnrolledKey> {
        self.enrolled.as_ref()
    }

    /// Takes the key the owner certified out of the module.
    pub fn take_enrolled(&mut self) -> Option<EnrolledKey> {
        self.enrolled.take()
    }

    /// Why the owner asked for a key and none was certified: its `vouch.tls:error`, or what
    /// kept the device from asking or from accepting the answer.
    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    /// The names to ask for under `zone`.
    fn names(&self, zone: &str) -> Vec<String> {
        if !self.options.dns_names.is_empty() {
            return self.options.dns_names.clone();
        }
        let guid = self.guid.to_string();
        let short = guid.get(..16).unwrap_or(&guid);
        vec![format!("{short}.{zone}")]
    }

    /// A fresh key and the request for it.
    fn request(&mut self, enroll: &Enroll) -> Result<CsrRequest, String> {
        if !tls::is_dns_name(&enroll.zone) {
            return Err(format!(
                "the owner's zone {:?} is not a DNS name",
                enroll.zone
            ));
        }
        let dns_names = self.names(&enroll.zone);
        if let Some(bad) = dns_names.iter().find(|n| !tls::is_dns_name(n)) {
            return Err(format!("{bad:?} is not a lower-case host name"));
        }
        let ips = self.options.ips.clone();
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| format!("generating the TLS key: {e}"))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        let common_name = dns_names
            .first()
            .cloned()
            .or_else(|| ips.first().map(IpAddr::to_string))
            .unwrap_or_default();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        for name in &dns_names {
            let ia5 = rcgen::string::Ia5String::try_from(name.as_str())
                .map_err(|e| format!("the name {name:?}: {e}"))?;
            params.subject_alt_names.push(SanType::DnsName(ia5));
        }
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        let csr = params
            .serialize_request(&key)
            .map_err(|e| format!("making the certificate request: {e}"))?
            .der()
            .to_vec();
        let request = CsrRequest {
            csr,
            dns_names: dns_names.clone(),
            ips: ips.clone(),
            webtransport_cert_sha256: self.options.webtransport_cert_sha256,
        };
        self.pending = Some(Pending {
            spki_der: key.subject_public_key_info(),
            key,
            dns_names,
            ips,
        });
        Ok(request)
    }

    /// Keeps the chain the owner returned, if its leaf certifies the key just generated.
    fn accept(&mut self, chain: Vec<Vec<u8>>) -> Result<(), String> {
        let pending = self
            .pending
            .take()
            .ok_or("a certificate came without a request")?;
        let leaf = chain.first().ok_or("the chain is empty")?;
        let cert = x509_cert::Certificate::from_der(leaf)
            .map_err(|e| format!("the certificate does not parse: {e}"))?;
        let spki = cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| format!("the certificate's key: {e}"))?;
        if spki != pending.spki_der {
            return Err("the certificate is for another key".into());
        }
        let hash = vouch_protocol::crypto::RustCrypto
            .hash(HashAlg::SHA256, &[&pending.spki_der])
            .map_err(|e| format!("hashing the key: {e}"))?;
        let spki_sha256 = <[u8; 32]>::try_from(hash.value())
            .map_err(|_| "SHA-256 gave other than 32 bytes".to_string())?;
        self.enrolled = Some(EnrolledKey {
            key_pem: Zeroizing::new(pending.key.serialize_pem()),
            chain,
            dns_names: pending.dns_names,
            ips: pending.ips,
            spki_sha256,
        });
        Ok(())
    }
}

impl DeviceModule for TlsEnrolDevice {
    fn name(&self) -> &str {
        MODULE
    }

    fn receive(&mut self, message: &str, value: &[u8]) -> Result<Vec<ModuleMessage>, Error> {
        // The owner is authenticated, but this module is optional: what goes wrong here is
        // kept as the module's problem and never fails TO2.
        let message = match OwnerMessage::decode(message, value) {
            Ok(m) => m,
            Err(e) => {
                self.problem = Some(format!("the owner's message does not decode: {e}"));
                self.pending = None;
                return Ok(Vec::new());
            }
        };
        match message {
            OwnerMessage::Enroll(enroll) => {
                if self.pending.is_some() || self.enrolled.is_some() {
                    return Ok(Vec::new()); // one key per TO2
                }
                match self.request(&enroll) {
                    Ok(request) => Ok(vec![ModuleMessage::new(tls::CSR, &request)]),
                    Err(why) => {
                        self.problem = Some(why);
                        Ok(vec![ModuleMessage::new(ACTIVE, &false)])
                    }
                }
            }
            OwnerMessage::Cert(chain) => {
                if let Err(why) = self.accept(chain.0) {
                    self.problem = Some(why);
                }
                Ok(Vec::new())
            }
            OwnerMessage::Error(why) => {
                self.pending = None;
                self.problem = Some(format!("the owner refused the request: {why}"));
                Ok(Vec::new())
            }
            OwnerMessage::Active(_) | OwnerMessage::Unknown(_) => Ok(Vec::new()),
        }
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vouch_protocol::cbor::Cbor;
    use vouch_protocol::serviceinfo::tls::CertChain;

    const GUID: Guid = Guid([
        0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32,
        0x10,
    ]);

    fn enroll(zone: &str) -> Vec<u8> {
        Enroll {
            zone: zone.into(),
            validity_seconds: None,
        }
        .to_cbor()
    }

    /// Sends `enroll` and returns the request the module answered with.
    fn requested(m: &mut TlsEnrolDevice, zone: &str) -> CsrRequest {
        let sent = m.receive(tls::ENROLL, &enroll(zone)).unwrap();
        assert_eq!(sent.len(), 1, "{:?}", m.problem());
        assert_eq!(sent[0].message, tls::CSR);
        CsrRequest::from_cbor(&sent[0].value).unwrap()
    }

    /// A certificate for `key` (self-signed: the device checks only that the leaf holds its
    /// key; whether the chain is trusted is the browser's business).
    fn cert_for(key: &KeyPair) -> Vec<u8> {
        CertificateParams::new(vec!["x.home.arpa".to_string()])
            .unwrap()
            .self_signed(key)
            .unwrap()
            .der()
            .to_vec()
    }

    fn cert_message(chain: Vec<Vec<u8>>) -> Vec<u8> {
        CertChain(chain).to_cbor()
    }

    #[test]
    fn the_default_name_is_the_guid_prefix_under_the_zone() {
        let mut m = TlsEnrolDevice::new(GUID, TlsEnrolOptions::default());
        let r = requested(&mut m, "home.arpa");
        assert_eq!(r.dns_names, ["0123456789abcdef.home.arpa"]);
        assert!(r.ips.is_empty());
        assert_eq!(r.webtransport_cert_sha256, None);
        // The CSR is a PKCS#10 request for the key the module holds.
        let csr = x509_cert::request::CertReq::from_der(&r.csr).unwrap();
        let spki = csr.info.public_key.to_der().unwrap();
        assert_eq!(spki, m.pending.as_ref().unwrap().spki_der);
        // A second enroll in the same TO2 is not answered with another key.
        assert!(
            m.receive(tls::ENROLL, &enroll("home.arpa"))
                .unwrap()
                .is_empty()
        );
        assert!(m.enrolled().is_none());
    }

    #[test]
    fn configured_names_addresses_and_webtransport_hash_are_sent() {
        let options = TlsEnrolOptions {
            dns_names: vec!["printer.home.arpa".into(), "p.home.arpa".into()],
            ips: vec!["192.168.1.9".parse().unwrap()],
            webtransport_cert_sha256: Some([9; 32]),
        };
        let mut m = TlsEnrolDevice::new(GUID, options.clone());
        let r = requested(&mut m, "home.arpa");
        assert_eq!(r.dns_names, options.dns_names);
        assert_eq!(r.ips, options.ips);
        assert_eq!(r.webtransport_cert_sha256, Some([9; 32]));
    }

    #[test]
    fn the_chain_for_its_key_is_kept_with_the_key() {
        let mut m = TlsEnrolDevice::new(GUID, TlsEnrolOptions::default());
        requested(&mut m, "home.arpa");
        let leaf = cert_for(&m.pending.as_ref().unwrap().key);
        let spki = m.pending.as_ref().unwrap().spki_der.clone();
        let ca = vec![0x30, 0x00];
        assert!(
            m.receive(tls::CERT, &cert_message(vec![leaf.clone(), ca.clone()]))
                .unwrap()
                .is_empty()
        );
        assert_eq!(m.problem(), None);
        let got = m.take_enrolled().unwrap();
        assert_eq!(got.chain, [leaf, ca]);
        assert_eq!(got.dns_names, ["0123456789abcdef.home.arpa"]);
        let hash = vouch_protocol::crypto::RustCrypto
            .hash(HashAlg::SHA256, &[&spki])
            .unwrap();
        assert_eq!(&got.spki_sha256[..], hash.value());
        // The key file is a PKCS#8 key that rcgen reads back as the same key.
        assert!(got.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = KeyPair::from_pem(&got.key_pem).unwrap();
        assert_eq!(back.subject_public_key_info(), spki);
        assert_eq!(got.chain_pem().matches("BEGIN CERTIFICATE").count(), 2);
        // Printing it never shows the key.
        assert!(!format!("{got:?}").contains("PRIVATE"));
        assert!(m.enrolled().is_none());
    }

    #[test]
    fn a_certificate_for_another_key_or_an_error_is_a_problem_not_a_failure() {
        let mut m = TlsEnrolDevice::new(GUID, TlsEnrolOptions::default());
        requested(&mut m, "home.arpa");
        let stranger = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        m.receive(tls::CERT, &cert_message(vec![cert_for(&stranger)]))
            .unwrap();
        assert!(m.enrolled().is_none());
        assert_eq!(m.problem(), Some("the certificate is for another key"));

        let mut m = TlsEnrolDevice::new(GUID, TlsEnrolOptions::default());
        requested(&mut m, "home.arpa");
        m.receive(tls::ERROR, &"outside the zone".to_string().to_cbor())
            .unwrap();
        assert!(m.enrolled().is_none());
        assert_eq!(
            m.problem(),
            Some("the owner refused the request: outside the zone")
        );
        // A certificate without a request is not taken either.
        m.receive(tls::CERT, &cert_message(vec![vec![0x30]]))
            .unwrap();
        assert!(m.enrolled().is_none());

        // A value that does not decode.
        let mut m = TlsEnrolDevice::new(GUID, TlsEnrolOptions::default());
        assert!(m.receive(tls::ENROLL, &[0xf5]).unwrap().is_empty());
        assert!(m.problem().unwrap().contains("does not decode"));
    }

    #[test]
    fn a_zone_or_name_it_cannot_use_is_answered_with_active_false() {
        for (zone, names) in [
            ("Home.ARPA", vec![]),
            ("home.arpa", vec!["*.home.arpa".to_string()]),
        ] {
            let options = TlsEnrolOptions {
                dns_names: names,
                ..TlsEnrolOptions::default()
            };
            let mut m = TlsEnrolDevice::new(GUID, options);
            let sent = m.receive(tls::ENROLL, &enroll(zone)).unwrap();
            assert_eq!(sent, [ModuleMessage::new(ACTIVE, &false)], "{zone}");
            assert!(m.problem().is_some());
            assert!(m.pending.is_none());
        }
    }

    #[test]
    fn active_and_unknown_messages_are_ignored() {
        let mut m = TlsEnrolDevice::new(GUID, TlsEnrolOptions::default());
        assert!(m.receive(ACTIVE, &true.to_cbor()).unwrap().is_empty());
        assert!(m.receive("rotate", &[0xf6]).unwrap().is_empty());
        assert_eq!(m.problem(), None);
        assert!(m.as_any_mut().is_some());
    }
}
