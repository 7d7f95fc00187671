//! The owner CA: how a person's browser comes to trust the devices on their own network.
//!
//! A self-signed P-256 CA certificate whose X.509 name constraints (RFC 5280 §4.2.1.10, marked
//! critical) permit only the owner's DNS zone — the zone itself and every name under it — and
//! a few local address ranges. The browser is told to trust it for exactly those names, through
//! Chromium's `CACertificatesWithConstraints` policy ([`OwnerCa::chromium_policy`]), so a
//! leaked CA key cannot impersonate any site outside the owner's network. The CA issues
//! short-lived TLS server certificates for keys the devices hold ([`OwnerCa::issue`]) and
//! refuses any name or address its constraints would not allow.
//!
//! With no address range configured the certificate excludes every address (`0.0.0.0/0` and
//! `::/0`): RFC 5280 leaves a name type without permitted subtrees unconstrained, which would
//! otherwise let the CA certify any address.
//!
//! The CA lives in the store's settings ([`KEY_SETTING`], [`CERT_SETTING`]), as PEM.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, KeyPair, KeyUsagePurpose, NameConstraints,
    PublicKeyData, SanType, SerialNumber,
};
use sha2::Digest as _;
use vouch_protocol::crypto::VerifyingKey;
use x509_parser::extensions::GeneralName;
use zeroize::Zeroizing;

use crate::store::{Store, StoreError};

/// The setting that holds the CA's private key, PKCS#8 PEM.
pub const KEY_SETTING: &str = "owner-ca-key-pem";

/// The setting that holds the CA certificate, PEM.
pub const CERT_SETTING: &str = "owner-ca-cert-pem";

/// Validity of a CA made by [`OwnerCa::generate`], in days.
const CA_VALIDITY_DAYS: i64 = 10 * 365;

/// How far before its creation a new CA is valid, in seconds: a browser whose clock runs a
/// little behind the server's still accepts it.
const CA_BACKDATE_SECONDS: i64 = 3600;

/// An owner CA: its key, its certificate and the constraints read from that certificate.
///
/// Cloning is cheap: clones share the key.
#[derive(Clone)]
pub struct OwnerCa {
    /// The CA's subject, key identifier method and key, ready to sign.
    issuer: Arc<rcgen::Issuer<'static, KeyPair>>,
    cert_der: Vec<u8>,
    /// The permitted DNS zone, lower case.
    zone: String,
    /// The permitted ranges as given to [`OwnerCa::cidrs`], canonical `address/prefix` text.
    cidrs: Vec<String>,
    /// The same ranges, parsed.
    ranges: Vec<IpRange>,
}

impl std::fmt::Debug for OwnerCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("OwnerCa")
            .field("zone", &self.zone)
            .field("cidrs", &self.cidrs)
            .field("cert_der_len", &self.cert_der.len())
            .finish_non_exhaustive()
    }
}

impl OwnerCa {
    /// A new CA for `zone` (a DNS name, e.g. "home.arpa") and the address ranges in CIDR form
    /// (e.g. "192.168.0.0/16", "fd00::/8"), valid for ten years from an hour ago.
    ///
    /// The ranges must have no host bits set ("192.168.1.0/24", not "192.168.1.7/24");
    /// duplicates are dropped.
    pub fn generate(zone: &str, cidrs: &[String]) -> anyhow::Result<Self> {
        let zone = parse_dns_name(zone).with_context(|| format!("the zone {zone:?}"))?;
        let mut ranges: Vec<IpRange> = Vec::new();
        for text in cidrs {
            let range = IpRange::parse(text)?;
            if !ranges.contains(&range) {
                ranges.push(range);
            }
        }

        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .context("generating the owner CA key")?;
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name_dn(&format!("vouch owner CA for {zone}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(random_serial());
        let mut permitted = vec![GeneralSubtree::DnsName(zone.clone())];
        permitted.extend(ranges.iter().map(|r| GeneralSubtree::IpAddress(r.subnet())));
        let excluded = if ranges.is_empty() {
            vec![
                GeneralSubtree::IpAddress(CidrSubnet::V4([0; 4], [0; 4])),
                GeneralSubtree::IpAddress(CidrSubnet::V6([0; 16], [0; 16])),
            ]
        } else {
            Vec::new()
        };
        // rcgen marks the extension critical, as RFC 5280 requires of a CA.
        params.name_constraints = Some(NameConstraints {
            permitted_subtrees: permitted,
            excluded_subtrees: excluded,
        });
        let now = crate::rendezvous::system_clock()();
        let not_before = now.saturating_sub(CA_BACKDATE_SECONDS);
        params.not_before = unix_time(not_before)?;
        params.not_after = unix_time(not_before)?
            .checked_add(time::Duration::days(CA_VALIDITY_DAYS))
            .ok_or_else(|| anyhow!("the clock reads {now}, too late for a ten-year CA"))?;
        let cert = params
            .self_signed(&key)
            .context("self-signing the owner CA certificate")?;
        let cidrs = ranges.iter().map(IpRange::to_string).collect();
        Ok(Self {
            issuer: Arc::new(rcgen::Issuer::new(params, key)),
            cert_der: cert.der().to_vec(),
            zone,
            cidrs,
            ranges,
        })
    }

    /// A CA from its PKCS#8 private key and its certificate, both PEM. The zone and ranges are
    /// read back from the certificate's name constraints, which must be critical and hold one
    /// permitted DNS name and only address ranges besides (as [`OwnerCa::generate`] makes them).
    pub fn from_pem(key_pem: &str, cert_pem: &str) -> anyhow::Result<Self> {
        let key = KeyPair::from_pem(key_pem).context("reading the owner CA key")?;
        if key.algorithm() != &rcgen::PKCS_ECDSA_P256_SHA256 {
            bail!("the owner CA key is not a P-256 key");
        }
        let pem = pem::parse(cert_pem).context("reading the owner CA certificate PEM")?;
        if pem.tag() != "CERTIFICATE" {
            bail!(
                "the owner CA certificate PEM holds a {}, not a CERTIFICATE",
                pem.tag()
            );
        }
        let cert_der = pem.contents().to_vec();
        let (rest, cert) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|e| anyhow!("the owner CA certificate does not parse: {e}"))?;
        if !rest.is_empty() {
            bail!("the owner CA certificate has trailing bytes");
        }
        if !cert.is_ca() {
            bail!("the owner CA certificate is not a CA certificate (basicConstraints)");
        }
        if cert.public_key().raw != key.subject_public_key_info().as_slice() {
            bail!("the owner CA certificate is not for the owner CA key");
        }
        let (zone, ranges) = read_constraints(&cert)?;
        let issuer = rcgen::Issuer::from_ca_cert_der(&cert_der.as_slice().into(), key)
            .context("reading the owner CA certificate")?;
        let cidrs = ranges.iter().map(IpRange::to_string).collect();
        Ok(Self {
            issuer: Arc::new(issuer),
            cert_der,
            zone,
            cidrs,
            ranges,
        })
    }

    /// The CA kept in the store's settings (`owner-ca-key-pem`, `owner-ca-cert-pem`), if any.
    ///
    /// Only one of the two settings present is an error: the store is inconsistent.
    pub async fn load(store: &dyn Store) -> anyhow::Result<Option<Self>> {
        let key = optional_setting(store, KEY_SETTING)
            .await?
            .map(Zeroizing::new);
        let cert = optional_setting(store, CERT_SETTING).await?;
        match (key, cert) {
            (None, None) => Ok(None),
            (Some(key), Some(cert)) => Self::from_pem(&key, &cert)
                .context("the owner CA in the store")
                .map(Some),
            (Some(_), None) => bail!("the store holds the owner CA key but not its certificate"),
            (None, Some(_)) => bail!("the store holds the owner CA certificate but not its key"),
        }
    }

    /// Stores it there; refuses to replace an existing CA unless `replace`.
    ///
    /// The check and the two writes are not one transaction: two processes saving at once
    /// could both pass the check.
    pub async fn save(&self, store: &dyn Store, replace: bool, now: i64) -> anyhow::Result<()> {
        if !replace {
            let key = optional_setting(store, KEY_SETTING)
                .await?
                .map(Zeroizing::new);
            let cert = optional_setting(store, CERT_SETTING).await?;
            if key.is_some() || cert.is_some() {
                bail!(
                    "an owner CA is already stored; replacing it makes browsers stop trusting \
                     the devices' certificates until they trust the new CA"
                );
            }
        }
        let key_pem = Zeroizing::new(self.key_pem());
        store
            .set_setting(CERT_SETTING, &self.cert_pem(), now)
            .await
            .context("storing the owner CA certificate")?;
        store
            .set_setting(KEY_SETTING, &key_pem, now)
            .await
            .context("storing the owner CA key")?;
        Ok(())
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        pem::encode(&pem::Pem::new("CERTIFICATE", self.cert_der.clone()))
    }

    /// The CA's private key, PKCS#8 PEM.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// The permitted DNS zone, lower case.
    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// The permitted address ranges, `address/prefix` with no host bits (e.g. "fd00::/8").
    pub fn cidrs(&self) -> &[String] {
        &self.cidrs
    }

    /// SHA-256 of the DER certificate.
    pub fn cert_sha256(&self) -> [u8; 32] {
        sha2::Sha256::digest(&self.cert_der).into()
    }

    /// The certificate's validity period, unix seconds (notBefore, notAfter).
    pub fn validity(&self) -> anyhow::Result<(i64, i64)> {
        let (_, cert) = x509_parser::parse_x509_certificate(&self.cert_der)
            .map_err(|e| anyhow!("the owner CA certificate does not parse: {e}"))?;
        let v = cert.validity();
        Ok((v.not_before.timestamp(), v.not_after.timestamp()))
    }

    /// True when `name` is the zone or under it (case-insensitive, whole labels: "evilhome.arpa"
    /// is not under "home.arpa"). A name that is not a plain host name (empty labels, a trailing
    /// dot, a wildcard, characters other than letters, digits and hyphens) is not permitted.
    pub fn permits_name(&self, name: &str) -> bool {
        match parse_dns_name(name) {
            Ok(name) => {
                name == self.zone
                    || name
                        .strip_suffix(self.zone.as_str())
                        .is_some_and(|head| head.ends_with('.'))
            }
            Err(_) => false,
        }
    }

    /// True when `ip` lies in one of the ranges. An IPv4 address lies only in IPv4 ranges (an
    /// IPv4-mapped IPv6 address is an IPv6 address here, as in RFC 5280's matching).
    pub fn permits_ip(&self, ip: IpAddr) -> bool {
        self.ranges.iter().any(|r| r.contains(ip))
    }

    /// Issues a TLS server certificate for the key in `spki_der` (a SubjectPublicKeyInfo,
    /// P-256 or P-384) with these DNS names and addresses as subjectAltName, valid from `now`
    /// (unix seconds) for `validity`; refuses names/addresses outside the constraints, an empty
    /// name list and address list, or an unsupported key. EKU serverAuth, keyUsage
    /// digitalSignature, not a CA, random serial, subject CN = first name (the first address
    /// when there is no name). Returns the certificate DER.
    pub fn issue(
        &self,
        spki_der: &[u8],
        dns_names: &[String],
        ips: &[IpAddr],
        validity: Duration,
        now: i64,
    ) -> anyhow::Result<Vec<u8>> {
        if dns_names.is_empty() && ips.is_empty() {
            bail!("a device certificate needs at least one DNS name or address");
        }
        if validity.is_zero() {
            bail!("a device certificate needs a validity longer than zero");
        }
        // Parsing the key also checks that its point lies on the curve.
        match VerifyingKey::from_spki_der(spki_der) {
            Ok(VerifyingKey::P256(_) | VerifyingKey::P384(_)) => {}
            Ok(_) => bail!("the owner CA certifies only P-256 and P-384 keys"),
            Err(e) => bail!("the device key is not a P-256 or P-384 SubjectPublicKeyInfo: {e}"),
        }
        let public_key = rcgen::SubjectPublicKeyInfo::from_der(spki_der)
            .context("reading the device key for the certificate")?;

        let mut sans = Vec::with_capacity(dns_names.len() + ips.len());
        for name in dns_names {
            let lower = parse_dns_name(name).with_context(|| format!("the name {name:?}"))?;
            if !self.permits_name(&lower) {
                bail!("{name:?} is outside the owner CA's zone {}", self.zone);
            }
            let ia5 = rcgen::string::Ia5String::try_from(lower)
                .map_err(|e| anyhow!("the name {name:?}: {e}"))?;
            sans.push(SanType::DnsName(ia5));
        }
        for ip in ips {
            if !self.permits_ip(*ip) {
                bail!("{ip} is outside the owner CA's address ranges");
            }
            sans.push(SanType::IpAddress(*ip));
        }

        let common_name = match dns_names.first() {
            Some(name) => name.to_ascii_lowercase(),
            None => ips.first().map(IpAddr::to_string).unwrap_or_default(),
        };
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name_dn(&common_name);
        params.subject_alt_names = sans;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.serial_number = Some(random_serial());
        params.use_authority_key_identifier_extension = true;
        let seconds = i64::try_from(validity.as_secs())
            .map_err(|_| anyhow!("a validity of {validity:?} is too long"))?;
        params.not_before = unix_time(now)?;
        params.not_after = now
            .checked_add(seconds)
            .ok_or_else(|| anyhow!("a validity of {validity:?} is too long"))
            .and_then(unix_time)?;
        if params.not_after.year() > 9999 {
            bail!("a validity of {validity:?} ends after the year 9999");
        }
        let cert = params
            .signed_by(&public_key, &*self.issuer)
            .context("signing the device certificate")?;
        Ok(cert.der().to_vec())
    }

    /// The Chromium policy JSON:
    /// `{"CACertificatesWithConstraints":[{"certificate":"<base64 DER>","constraints":
    /// {"permitted_dns_names":[zone],"permitted_cidrs":[...]}}]}`, for a file in Chromium's
    /// managed policy directory.
    pub fn chromium_policy(&self) -> String {
        self.chromium_policy_for(std::slice::from_ref(&self.zone), &self.cidrs)
    }

    /// The same policy with narrower constraints: the CA trusted only for `dns_names` (each
    /// with the names under it) and the address ranges `cidrs`. `vouch-rp pins export --format
    /// chromium-policy` uses it to trust the owner CA for the pinned devices alone.
    pub fn chromium_policy_for(&self, dns_names: &[String], cidrs: &[String]) -> String {
        let policy = serde_json::json!({
            "CACertificatesWithConstraints": [{
                "certificate": base64::engine::general_purpose::STANDARD.encode(&self.cert_der),
                "constraints": {
                    "permitted_dns_names": dns_names,
                    "permitted_cidrs": cidrs,
                },
            }],
        });
        policy.to_string()
    }
}

/// What `vouch-rp ca export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// The CA certificate, PEM (never the key).
    Pem,
    /// Chromium's managed policy JSON trusting the CA for its zone and ranges only.
    ChromiumPolicy,
}

impl OwnerCa {
    /// The CA in `format`, ending with a newline.
    pub fn export(&self, format: ExportFormat) -> String {
        match format {
            ExportFormat::Pem => self.cert_pem(),
            ExportFormat::ChromiumPolicy => self.chromium_policy() + "\n",
        }
    }

    /// A readable summary: zone, ranges, validity and SHA-256 of the certificate.
    pub fn describe(&self) -> anyhow::Result<String> {
        let (not_before, not_after) = self.validity()?;
        let date = |t: i64| {
            unix_time(t).map(|d| {
                format!(
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                    d.year(),
                    u8::from(d.month()),
                    d.day(),
                    d.hour(),
                    d.minute(),
                    d.second()
                )
            })
        };
        let ranges = if self.cidrs.is_empty() {
            "none (every address excluded)".to_owned()
        } else {
            self.cidrs.join(", ")
        };
        Ok(format!(
            "zone        {}\nranges      {ranges}\nnot before  {}\nnot after   {}\nsha-256     {}\n",
            self.zone,
            date(not_before)?,
            date(not_after)?,
            hex::encode(self.cert_sha256()),
        ))
    }
}

/// A setting's value, `None` when it is not set.
async fn optional_setting(store: &dyn Store, name: &str) -> anyhow::Result<Option<String>> {
    match store.get_setting(name).await {
        Ok(v) => Ok(Some(v)),
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(anyhow::Error::from(e).context(format!("reading the setting {name}"))),
    }
}

/// Reads the zone and ranges from an owner CA certificate's name constraints.
fn read_constraints(
    cert: &x509_parser::certificate::X509Certificate<'_>,
) -> anyhow::Result<(String, Vec<IpRange>)> {
    let ext = cert
        .name_constraints()
        .map_err(|e| anyhow!("the owner CA certificate's name constraints: {e}"))?
        .ok_or_else(|| anyhow!("the owner CA certificate has no name constraints"))?;
    if !ext.critical {
        bail!("the owner CA certificate's name constraints are not critical");
    }
    let mut zone = None;
    let mut ranges = Vec::new();
    for subtree in ext.value.permitted_subtrees.iter().flatten() {
        match &subtree.base {
            GeneralName::DNSName(name) => {
                if zone.is_some() {
                    bail!("the owner CA certificate permits more than one DNS zone");
                }
                zone = Some(parse_dns_name(name).with_context(|| {
                    format!("the owner CA certificate's permitted zone {name:?}")
                })?);
            }
            GeneralName::IPAddress(bytes) => ranges.push(IpRange::from_constraint(bytes)?),
            other => bail!("the owner CA certificate permits an unexpected name: {other}"),
        }
    }
    let zone = zone.ok_or_else(|| anyhow!("the owner CA certificate permits no DNS zone"))?;
    // The only exclusion generate() writes: every address, when no range is permitted.
    for subtree in ext.value.excluded_subtrees.iter().flatten() {
        let everything = match &subtree.base {
            GeneralName::IPAddress(bytes) => {
                let range = IpRange::from_constraint(bytes)?;
                range.prefix == 0
            }
            _ => false,
        };
        if !everything || !ranges.is_empty() {
            bail!(
                "the owner CA certificate excludes {}, which vouch does not write",
                subtree.base
            );
        }
    }
    if ranges.is_empty()
        && ext
            .value
            .excluded_subtrees
            .as_ref()
            .is_none_or(Vec::is_empty)
    {
        bail!("the owner CA certificate permits no address range yet excludes none");
    }
    Ok((zone, ranges))
}

/// Checks a host name (letters, digits and hyphens in labels of 1 to 63 characters, at most
/// 253 characters, no trailing dot, a last label not all digits so that it cannot be an IPv4
/// address) and returns it in lower case.
fn parse_dns_name(name: &str) -> anyhow::Result<String> {
    if name.is_empty() || name.len() > 253 {
        bail!("a DNS name has 1 to 253 characters");
    }
    let mut last = "";
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            bail!("each label of a DNS name has 1 to 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            bail!("a DNS name holds only letters, digits, hyphens and dots");
        }
        if label.starts_with('-') || label.ends_with('-') {
            bail!("a DNS label neither starts nor ends with a hyphen");
        }
        last = label;
    }
    if last.bytes().all(|b| b.is_ascii_digit()) {
        bail!("the last label of a DNS name is not all digits");
    }
    Ok(name.to_ascii_lowercase())
}

/// An address range: a network address with no host bits and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// Parses `address/prefix`, refusing host bits.
    fn parse(text: &str) -> anyhow::Result<Self> {
        let (addr, prefix) = text
            .split_once('/')
            .ok_or_else(|| anyhow!("{text:?} is not an address range (address/prefix)"))?;
        let network: IpAddr = addr
            .parse()
            .map_err(|_| anyhow!("{text:?}: {addr:?} is not an IP address"))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| anyhow!("{text:?}: {prefix:?} is not a prefix length"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            bail!("{text:?}: the prefix length is at most {max}");
        }
        let range = Self { network, prefix };
        if range.masked(network) != network {
            bail!(
                "{text:?} has host bits set; the range is {}",
                Self {
                    network: range.masked(network),
                    prefix
                }
            );
        }
        Ok(range)
    }

    /// Reads an iPAddress name constraint: address then mask, 8 or 32 bytes, a contiguous mask
    /// and no host bits.
    fn from_constraint(bytes: &[u8]) -> anyhow::Result<Self> {
        let (network, mask): (IpAddr, u128) = match bytes.len() {
            8 => {
                let a: [u8; 4] = bytes[..4].try_into()?;
                let m: [u8; 4] = bytes[4..].try_into()?;
                (IpAddr::from(a), u128::from(u32::from_be_bytes(m)) << 96)
            }
            32 => {
                let a: [u8; 16] = bytes[..16].try_into()?;
                let m: [u8; 16] = bytes[16..].try_into()?;
                (IpAddr::from(a), u128::from_be_bytes(m))
            }
            n => bail!("an iPAddress name constraint of {n} bytes (8 or 32 expected)"),
        };
        let prefix = mask.leading_ones();
        if mask.checked_shl(prefix).unwrap_or(0) != 0 {
            bail!("an iPAddress name constraint with a mask that is not a prefix");
        }
        let range = Self {
            network,
            prefix: u8::try_from(prefix)?,
        };
        if range.masked(network) != network {
            bail!("an iPAddress name constraint with host bits set ({network})");
        }
        Ok(range)
    }

    /// `ip` with the bits past the prefix cleared (the same family as `ip`).
    fn masked(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(a) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::from((u32::from(a) & mask).to_be_bytes())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::from((u128::from(a) & mask).to_be_bytes())
            }
        }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.network.is_ipv4() && self.masked(ip) == self.network
    }

    fn subnet(&self) -> CidrSubnet {
        CidrSubnet::from_addr_prefix(self.network, self.prefix)
    }
}

impl std::fmt::Display for IpRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
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
    let mut b = [0u8; 16];
    rand_core::Rng::fill_bytes(&mut rand_core::UnwrapErr(getrandom::SysRng), &mut b);
    b[0] &= 0x7f;
    SerialNumber::from_slice(&b)
}

/// Unix seconds as a certificate time.
fn unix_time(seconds: i64) -> anyhow::Result<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .map_err(|e| anyhow!("{seconds} is not a certificate time: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;
    use x509_parser::parse_x509_certificate;

    const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    fn ranges(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn ca() -> OwnerCa {
        OwnerCa::generate(
            "Home.Arpa",
            &ranges(&["192.168.0.0/16", "10.0.0.0/8", "127.0.0.0/8", "fd00::/8"]),
        )
        .unwrap()
    }

    /// A device's P-256 key, as the SubjectPublicKeyInfo it would send.
    fn device_spki() -> Vec<u8> {
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .unwrap()
            .subject_public_key_info()
    }

    fn names(list: &[&str]) -> Vec<String> {
        ranges(list)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_certificate_carries_critical_name_constraints_with_the_zone_and_ranges() {
        let ca = ca();
        assert_eq!(ca.zone(), "home.arpa");
        assert_eq!(
            ca.cidrs(),
            ["192.168.0.0/16", "10.0.0.0/8", "127.0.0.0/8", "fd00::/8"]
        );
        let (rest, cert) = parse_x509_certificate(ca.cert_der()).unwrap();
        assert!(rest.is_empty());
        assert!(cert.is_ca());
        let nc = cert.name_constraints().unwrap().unwrap();
        assert!(nc.critical);
        let permitted: Vec<String> = nc
            .value
            .permitted_subtrees
            .as_ref()
            .unwrap()
            .iter()
            .map(|s| match &s.base {
                GeneralName::DNSName(n) => format!("dns {n}"),
                GeneralName::IPAddress(b) => format!("ip {}", hex::encode(b)),
                other => panic!("unexpected {other}"),
            })
            .collect();
        assert_eq!(
            permitted,
            [
                "dns home.arpa",
                "ip c0a80000ffff0000",
                "ip 0a000000ff000000",
                "ip 7f000000ff000000",
                "ip fd000000000000000000000000000000ff000000000000000000000000000000",
            ]
        );
        assert!(nc.value.excluded_subtrees.is_none());
        // Self-signed.
        cert.verify_signature(None).unwrap();
    }

    #[test]
    fn no_range_excludes_every_address() {
        let ca = OwnerCa::generate("home.arpa", &[]).unwrap();
        let (_, cert) = parse_x509_certificate(ca.cert_der()).unwrap();
        let nc = cert.name_constraints().unwrap().unwrap();
        let excluded: Vec<String> = nc
            .value
            .excluded_subtrees
            .as_ref()
            .unwrap()
            .iter()
            .map(|s| match &s.base {
                GeneralName::IPAddress(b) => hex::encode(b),
                other => panic!("unexpected {other}"),
            })
            .collect();
        assert_eq!(excluded, ["0".repeat(16), "0".repeat(64)]);
        assert!(!ca.permits_ip(ip("192.168.1.1")));
        let back = OwnerCa::from_pem(&ca.key_pem(), &ca.cert_pem()).unwrap();
        assert!(back.cidrs().is_empty());
        let err = ca
            .issue(
                &device_spki(),
                &[],
                &[ip("127.0.0.1")],
                Duration::from_secs(60),
                NOW,
            )
            .unwrap_err();
        assert!(err.to_string().contains("outside"), "{err:#}");
    }

    #[test]
    fn issue_puts_names_and_addresses_in_the_san_and_verifies_under_the_ca_key() {
        let ca = ca();
        let spki = device_spki();
        let der = ca
            .issue(
                &spki,
                &names(&["Printer.home.arpa", "home.arpa"]),
                &[ip("192.168.1.20"), ip("fd12::7")],
                Duration::from_secs(7 * 86400),
                NOW,
            )
            .unwrap();
        let (_, leaf) = parse_x509_certificate(&der).unwrap();
        let (_, ca_cert) = parse_x509_certificate(ca.cert_der()).unwrap();
        leaf.verify_signature(Some(ca_cert.public_key())).unwrap();
        // The signature does not verify under another key.
        let other = OwnerCa::generate("home.arpa", &[]).unwrap();
        let (_, other_cert) = parse_x509_certificate(other.cert_der()).unwrap();
        assert!(
            leaf.verify_signature(Some(other_cert.public_key()))
                .is_err()
        );

        assert_eq!(leaf.public_key().raw, spki.as_slice());
        assert_eq!(leaf.issuer(), ca_cert.subject());
        let san: Vec<String> = leaf
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .iter()
            .map(|n| match n {
                GeneralName::DNSName(d) => format!("dns {d}"),
                GeneralName::IPAddress(b) => format!("ip {}", hex::encode(b)),
                other => panic!("unexpected {other}"),
            })
            .collect();
        assert_eq!(
            san,
            [
                "dns printer.home.arpa",
                "dns home.arpa",
                "ip c0a80114",
                "ip fd120000000000000000000000000007",
            ]
        );
        let cn: Vec<_> = leaf
            .subject()
            .iter_common_name()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(cn, ["printer.home.arpa"]);
        assert!(!leaf.is_ca());
        let bc = leaf.basic_constraints().unwrap().unwrap();
        assert!(!bc.value.ca);
        let ku = leaf.key_usage().unwrap().unwrap().value;
        assert!(ku.digital_signature() && !ku.key_cert_sign());
        let eku = leaf.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.client_auth);
        assert_eq!(leaf.validity().not_before.timestamp(), NOW);
        assert_eq!(leaf.validity().not_after.timestamp(), NOW + 7 * 86400);

        // Serials are random.
        let again = ca
            .issue(
                &spki,
                &names(&["printer.home.arpa"]),
                &[],
                Duration::from_secs(60),
                NOW,
            )
            .unwrap();
        let (_, again) = parse_x509_certificate(&again).unwrap();
        assert_ne!(leaf.raw_serial(), again.raw_serial());
    }

    #[test]
    fn issue_accepts_a_p384_key() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let der = ca()
            .issue(
                &key.subject_public_key_info(),
                &names(&["cam.home.arpa"]),
                &[],
                Duration::from_secs(3600),
                NOW,
            )
            .unwrap();
        let (_, leaf) = parse_x509_certificate(&der).unwrap();
        assert_eq!(leaf.public_key().raw, key.subject_public_key_info());
    }

    #[test]
    fn out_of_zone_names_are_refused() {
        let ca = ca();
        let spki = device_spki();
        for name in [
            "example.com",
            "evilhome.arpa",
            "home.arpa.example.com",
            "arpa",
            "*.home.arpa",
            "printer.home.arpa.",
            "a..home.arpa",
            "",
        ] {
            assert!(!ca.permits_name(name), "{name:?} permitted");
            let err = ca.issue(
                &spki,
                &names(&["ok.home.arpa", name]),
                &[],
                Duration::from_secs(60),
                NOW,
            );
            assert!(err.is_err(), "{name:?} issued");
        }
        assert!(ca.permits_name("home.arpa"));
        assert!(ca.permits_name("a.b.HOME.arpa"));
    }

    #[test]
    fn out_of_range_addresses_are_refused() {
        let ca = ca();
        let spki = device_spki();
        for addr in [
            "8.8.8.8",
            "192.169.0.1",
            "11.0.0.1",
            "2001:db8::1",
            "fe80::1",
            "::ffff:192.168.1.1",
        ] {
            let addr = ip(addr);
            assert!(!ca.permits_ip(addr), "{addr} permitted");
            let err = ca
                .issue(&spki, &[], &[addr], Duration::from_secs(60), NOW)
                .unwrap_err();
            assert!(err.to_string().contains("outside"), "{err:#}");
        }
        for addr in ["192.168.255.255", "10.1.2.3", "127.0.0.1", "fdff::1"] {
            assert!(ca.permits_ip(ip(addr)), "{addr} refused");
        }
    }

    #[test]
    fn issue_refuses_empty_subjects_zero_validity_and_unsupported_keys() {
        let ca = ca();
        let spki = device_spki();
        let one_name = names(&["a.home.arpa"]);
        let day = Duration::from_secs(86400);
        assert!(ca.issue(&spki, &[], &[], day, NOW).is_err());
        assert!(
            ca.issue(&spki, &one_name, &[], Duration::ZERO, NOW)
                .is_err()
        );
        let ed25519 = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let err = ca
            .issue(&ed25519.subject_public_key_info(), &one_name, &[], day, NOW)
            .unwrap_err();
        assert!(err.to_string().contains("P-256"), "{err:#}");
        assert!(
            ca.issue(&spki[..spki.len() - 1], &one_name, &[], day, NOW)
                .is_err()
        );
    }

    #[test]
    fn generate_refuses_bad_zones_and_ranges() {
        for zone in [
            "",
            "home..arpa",
            "home.arpa.",
            "-x.arpa",
            "192.168.1.1",
            "a_b.arpa",
            "*.arpa",
        ] {
            assert!(OwnerCa::generate(zone, &[]).is_err(), "zone {zone:?}");
        }
        for cidr in [
            "192.168.1.0",
            "192.168.1.7/24",
            "10.0.0.0/33",
            "fd00::/129",
            "x/8",
            "10.0.0.0/-1",
        ] {
            let err = OwnerCa::generate("home.arpa", &ranges(&[cidr]));
            assert!(err.is_err(), "range {cidr:?}");
        }
        let err = OwnerCa::generate("home.arpa", &ranges(&["192.168.1.7/16"])).unwrap_err();
        assert!(err.to_string().contains("192.168.0.0/16"), "{err:#}");
    }

    #[test]
    fn from_pem_round_trip_keeps_zone_ranges_and_key() {
        let ca = ca();
        let back = OwnerCa::from_pem(&ca.key_pem(), &ca.cert_pem()).unwrap();
        assert_eq!(back.zone(), ca.zone());
        assert_eq!(back.cidrs(), ca.cidrs());
        assert_eq!(back.cert_der(), ca.cert_der());
        // It signs with the same key.
        let der = back
            .issue(
                &device_spki(),
                &names(&["x.home.arpa"]),
                &[],
                Duration::from_secs(60),
                NOW,
            )
            .unwrap();
        let (_, leaf) = parse_x509_certificate(&der).unwrap();
        let (_, ca_cert) = parse_x509_certificate(ca.cert_der()).unwrap();
        leaf.verify_signature(Some(ca_cert.public_key())).unwrap();
        // Another CA's key with this certificate is refused.
        let other = OwnerCa::generate("home.arpa", &[]).unwrap();
        assert!(OwnerCa::from_pem(&other.key_pem(), &ca.cert_pem()).is_err());
    }

    #[test]
    fn from_pem_refuses_a_ca_without_name_constraints() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        let err = OwnerCa::from_pem(&key.serialize_pem(), &cert.pem()).unwrap_err();
        assert!(err.to_string().contains("no name constraints"), "{err:#}");
    }

    #[test]
    fn chromium_policy_is_json_with_the_certificate_and_constraints() {
        let ca = ca();
        let policy: serde_json::Value = serde_json::from_str(&ca.chromium_policy()).unwrap();
        let entries = policy["CACertificatesWithConstraints"].as_array().unwrap();
        assert_eq!(entries.len(), 1);
        let b64 = entries[0]["certificate"].as_str().unwrap();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(der, ca.cert_der());
        assert_eq!(
            entries[0]["constraints"],
            serde_json::json!({
                "permitted_dns_names": ["home.arpa"],
                "permitted_cidrs": ["192.168.0.0/16", "10.0.0.0/8", "127.0.0.0/8", "fd00::/8"],
            })
        );
    }

    #[tokio::test]
    async fn save_refuses_to_replace_unless_asked_and_load_reads_it_back() {
        let store = SqliteStore::memory().await.unwrap();
        assert!(OwnerCa::load(&store).await.unwrap().is_none());
        let first = ca();
        first.save(&store, false, NOW).await.unwrap();
        let loaded = OwnerCa::load(&store).await.unwrap().unwrap();
        assert_eq!(loaded.cert_der(), first.cert_der());
        assert_eq!(loaded.cidrs(), first.cidrs());

        let second = OwnerCa::generate("lan.example", &[]).unwrap();
        let err = second.save(&store, false, NOW).await.unwrap_err();
        assert!(err.to_string().contains("already stored"), "{err:#}");
        let still = OwnerCa::load(&store).await.unwrap().unwrap();
        assert_eq!(still.cert_der(), first.cert_der());

        second.save(&store, true, NOW).await.unwrap();
        let replaced = OwnerCa::load(&store).await.unwrap().unwrap();
        assert_eq!(replaced.cert_der(), second.cert_der());
        assert_eq!(replaced.zone(), "lan.example");
    }

    #[tokio::test]
    async fn load_refuses_a_key_without_its_certificate() {
        let store = SqliteStore::memory().await.unwrap();
        ca().save(&store, false, NOW).await.unwrap();
        store.delete_setting(CERT_SETTING).await.unwrap();
        let err = OwnerCa::load(&store).await.unwrap_err();
        assert!(err.to_string().contains("not its certificate"), "{err:#}");
    }
}
