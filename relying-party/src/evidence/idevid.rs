//! IEEE 802.1AR device identity (iDevID): the 802.1AR certificate fields the manufacturer role
//! issues, and the verifier that validates a presented chain to configured manufacturer trust
//! anchors and checks proof of possession of the leaf key.
//!
//! In FDO the device certificate chain of the voucher is the iDevID chain: the manufacturer's
//! [`DeviceCa`](crate::manufacturer::DeviceCa) issues it at DI. Proof of possession is a
//! signature by the leaf key over a verifier-chosen nonce; in TO2 the device's EAT (TO2.ProveDevice)
//! is exactly that, signed with the same key over the owner's NonceTO2ProveDv, so the owner
//! passes the EAT's signed bytes and signature to [`VerifiedIDevId::verify_possession`].

use vouch_protocol::crypto::{SigAlg, VerifyingKey};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer as _;
use x509_parser::time::ASN1Time;

use super::{Kind, Root, Verdict};

/// id-on-hardwareModuleName (RFC 4108): the otherName holding hwType and hwSerialNum.
pub const OID_HARDWARE_MODULE_NAME: &str = "1.3.6.1.5.5.7.8.4";
/// id-pe-mud-url (RFC 8520 §10): the MUD URL extension, an IA5String.
pub const OID_MUD_URL: &str = "1.3.6.1.5.5.7.1.25";
/// id-pe-mudsigner (RFC 8520 §11): the MUD file signer's subject Name.
pub const OID_MUD_SIGNER: &str = "1.3.6.1.5.5.7.1.30";
/// The arcs of subjectAltName, the extension that carries hardwareModuleName.
pub const ARCS_SUBJECT_ALT_NAME: &[u64] = &[2, 5, 29, 17];
/// The arcs of id-pe-mud-url.
pub const ARCS_MUD_URL: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 25];
/// The arcs of id-pe-mudsigner.
pub const ARCS_MUD_SIGNER: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 30];
/// The arcs of the X.520 serialNumber attribute.
pub const ARCS_SERIAL_NUMBER: &[u64] = &[2, 5, 4, 5];
/// vouch's default hwType: an OID under RFC 7229's id-TEST arc (1.3.6.1.5.5.7.13), meant for
/// testing; a manufacturer configures its own registered hwType
/// ([`DeviceCa::with_hw_type`](crate::manufacturer::DeviceCa::with_hw_type)).
pub const DEFAULT_HW_TYPE: &str = "1.3.6.1.5.5.7.13.42";

/// The longest chain accepted (leaf and intermediates).
const MAX_CHAIN: usize = 8;

/// A DER TLV: `tag`, the definite length, `content`.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// The DER of a subjectAltName extension value holding one otherName hardwareModuleName
/// (RFC 4108): `GeneralNames ::= SEQUENCE { [0] { type-id, [0] EXPLICIT HardwareModuleName } }`
/// with `HardwareModuleName ::= SEQUENCE { hwType OBJECT IDENTIFIER, hwSerialNum OCTET STRING }`.
/// rcgen's otherName takes only UTF-8 strings, so the manufacturer adds this as an extension.
pub fn hardware_module_name_san(hw_type: &str, hw_serial_num: &[u8]) -> Result<Vec<u8>, String> {
    use der::Encode as _;
    let oid = |s: &str| {
        der::asn1::ObjectIdentifier::new(s)
            .map_err(|e| format!("{s} is not an object identifier: {e}"))?
            .to_der()
            .map_err(|e| format!("encoding {s}: {e}"))
    };
    let mut hmn = oid(hw_type)?;
    hmn.extend(tlv(0x04, hw_serial_num));
    let hmn = tlv(0x30, &hmn);
    let mut other_name = oid(OID_HARDWARE_MODULE_NAME)?;
    other_name.extend(tlv(0xa0, &hmn));
    Ok(tlv(0x30, &tlv(0xa0, &other_name)))
}

/// The DER of an id-pe-mud-url extension value: the URL as an IA5String.
pub fn mud_url_extension(url: &str) -> Result<Vec<u8>, String> {
    if !url.is_ascii() {
        return Err(format!("the MUD URL {url:?} is not ASCII (IA5String)"));
    }
    Ok(tlv(0x16, url.as_bytes()))
}

/// Reads one DER TLV of tag `tag` from the front of `input`: (content, rest).
fn read_tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// What the leaf certificate of a verified iDevID chain says, in 802.1AR's terms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IDevIdFields {
    /// The subject's serialNumber attribute.
    pub serial_number: Option<String>,
    /// hardwareModuleName hwType, dotted.
    pub hw_type: Option<String>,
    /// hardwareModuleName hwSerialNum.
    pub hw_serial_num: Option<Vec<u8>>,
    /// The MUD URL extension (authenticated: it is in the verified certificate).
    pub mud_url: Option<String>,
    /// The id-pe-mudsigner extension: the DER Name the MUD file's signer must have.
    pub mud_signer: Option<Vec<u8>>,
}

/// Why an iDevID chain or proof of possession was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IDevIdError {
    /// No certificate was presented.
    Empty,
    /// More certificates than [`MAX_CHAIN`].
    TooLong(usize),
    /// A certificate (position in the chain, 0 = leaf) or an anchor does not parse.
    Malformed(String),
    /// A certificate is outside its validity period at the verification time.
    NotValidAt {
        /// Position in the chain (0 = leaf), or `None` for a trust anchor.
        index: Option<usize>,
        /// Its subject.
        subject: String,
    },
    /// An issuing certificate is not a CA (basicConstraints).
    NotCa {
        /// Position in the chain, or `None` for a trust anchor.
        index: Option<usize>,
        /// Its subject.
        subject: String,
    },
    /// A certificate's signature does not verify with its issuer's key.
    BadSignature {
        /// Position in the chain.
        index: usize,
        /// The failure.
        why: String,
    },
    /// The chain does not lead to any configured trust anchor.
    UnknownAnchor {
        /// The issuer of the last certificate of the chain.
        issuer: String,
    },
    /// The proof of possession does not verify with the leaf key.
    Possession(String),
}

impl std::fmt::Display for IDevIdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = |i: &Option<usize>| match i {
            Some(i) => format!("certificate {i} of the chain"),
            None => "the trust anchor".to_owned(),
        };
        match self {
            Self::Empty => write!(f, "no certificate was presented"),
            Self::TooLong(n) => write!(f, "{n} certificates, more than {MAX_CHAIN}"),
            Self::Malformed(why) => write!(f, "malformed: {why}"),
            Self::NotValidAt { index, subject } => {
                write!(f, "{} ({subject}) is expired or not yet valid", at(index))
            }
            Self::NotCa { index, subject } => {
                write!(f, "{} ({subject}) issues but is not a CA", at(index))
            }
            Self::BadSignature { index, why } => write!(
                f,
                "the signature of certificate {index} of the chain does not verify: {why}"
            ),
            Self::UnknownAnchor { issuer } => write!(
                f,
                "the chain does not lead to a configured trust anchor (it ends at issuer {issuer})"
            ),
            Self::Possession(why) => write!(f, "no proof of possession of the leaf key: {why}"),
        }
    }
}

impl std::error::Error for IDevIdError {}

fn parse<'a>(der: &'a [u8], what: &str) -> Result<X509Certificate<'a>, IDevIdError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(IDevIdError::Malformed(format!("{what} has trailing bytes"))),
        Err(e) => Err(IDevIdError::Malformed(format!(
            "{what} is not a DER certificate: {e}"
        ))),
    }
}

/// A certificate chain from `chain[0]` to one of `anchors`: every certificate valid at `now`,
/// each issuer a CA whose key verifies the signature of what it issued. The issuers of the leaf
/// are looked for among `chain[1..]` in any order, then among the anchors. Returns the
/// position of the anchor reached.
pub(crate) fn validate_path(
    chain: &[Vec<u8>],
    anchors: &[Vec<u8>],
    now: i64,
) -> Result<usize, IDevIdError> {
    if chain.is_empty() {
        return Err(IDevIdError::Empty);
    }
    if chain.len() > MAX_CHAIN {
        return Err(IDevIdError::TooLong(chain.len()));
    }
    let at = ASN1Time::from_timestamp(now)
        .map_err(|e| IDevIdError::Malformed(format!("verification time {now}: {e}")))?;
    let certs = chain
        .iter()
        .enumerate()
        .map(|(i, der)| parse(der, &format!("certificate {i} of the chain")))
        .collect::<Result<Vec<_>, _>>()?;
    let anchor_certs = anchors
        .iter()
        .enumerate()
        .map(|(i, der)| parse(der, &format!("trust anchor {i}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut current = 0usize;
    let mut used = vec![false; certs.len()];
    used[0] = true;
    // Each step moves to an unused certificate, so this ends within chain.len() steps.
    loop {
        let cert = &certs[current];
        // Validity: every certificate of the path at `now` (RFC 5280 §6.1.3 (a)(2)).
        if !cert.validity().is_valid_at(at) {
            return Err(IDevIdError::NotValidAt {
                index: Some(current),
                subject: cert.subject().to_string(),
            });
        }
        if current != 0 && !cert.is_ca() {
            return Err(IDevIdError::NotCa {
                index: Some(current),
                subject: cert.subject().to_string(),
            });
        }
        // The presented certificate may be an anchor itself.
        if let Some(a) = anchors.iter().position(|a| *a == chain[current]) {
            return Ok(a);
        }
        // An anchor that issued it: same name as its issuer, and its key verifies.
        let mut last_error = None;
        for (a, anchor) in anchor_certs.iter().enumerate() {
            if anchor.subject().as_raw() != cert.issuer().as_raw() {
                continue;
            }
            match cert.verify_signature(Some(anchor.public_key())) {
                Ok(()) => {
                    if !anchor.is_ca() {
                        return Err(IDevIdError::NotCa {
                            index: None,
                            subject: anchor.subject().to_string(),
                        });
                    }
                    if !anchor.validity().is_valid_at(at) {
                        return Err(IDevIdError::NotValidAt {
                            index: None,
                            subject: anchor.subject().to_string(),
                        });
                    }
                    return Ok(a);
                }
                Err(e) => last_error = Some(e.to_string()),
            }
        }
        // Else a presented certificate that issued it.
        let next = (0..certs.len()).find(|&i| {
            !used[i]
                && certs[i].subject().as_raw() == cert.issuer().as_raw()
                && cert.verify_signature(Some(certs[i].public_key())).is_ok()
        });
        match next {
            Some(i) => {
                used[i] = true;
                current = i;
            }
            None => {
                if let Some(why) = last_error {
                    return Err(IDevIdError::BadSignature {
                        index: current,
                        why,
                    });
                }
                if let Some(i) = (0..certs.len())
                    .find(|&i| !used[i] && certs[i].subject().as_raw() == cert.issuer().as_raw())
                {
                    return Err(IDevIdError::BadSignature {
                        index: current,
                        why: format!("not with the key of certificate {i}, its issuer by name"),
                    });
                }
                return Err(IDevIdError::UnknownAnchor {
                    issuer: cert.issuer().to_string(),
                });
            }
        }
    }
}

/// An iDevID chain that [`verify_chain`] validated to a trust anchor, with its leaf's fields.
/// Only the verifier builds one.
#[derive(Clone, Debug)]
pub struct VerifiedIDevId {
    leaf_der: Vec<u8>,
    leaf_key: VerifyingKey,
    /// The position of the trust anchor the chain leads to.
    pub anchor: usize,
    /// What the leaf says.
    pub fields: IDevIdFields,
}

/// A proof that the device holds the key of a verified iDevID.
#[derive(Clone, Debug)]
pub struct PossessionProof {
    /// The chain whose leaf key signed.
    pub idevid: VerifiedIDevId,
}

impl VerifiedIDevId {
    /// The leaf certificate, DER.
    pub fn leaf_der(&self) -> &[u8] {
        &self.leaf_der
    }

    /// Proof of possession: `signature` (COSE form, `alg`) by the leaf key over `message`,
    /// which must hold a nonce the verifier chose. In TO2 the owner passes the device EAT's
    /// signed structure and signature, which cover its NonceTO2ProveDv.
    pub fn verify_possession(
        self,
        alg: SigAlg,
        message: &[u8],
        signature: &[u8],
    ) -> Result<PossessionProof, IDevIdError> {
        self.leaf_key
            .verify(alg, message, signature)
            .map_err(|e| IDevIdError::Possession(e.to_string()))?;
        Ok(PossessionProof { idevid: self })
    }
}

/// Validates `chain` (DER, leaf first) to one of `anchors` (DER certificates) at `now` (Unix
/// seconds), and reads the leaf's 802.1AR fields.
pub fn verify_chain(
    chain: &[Vec<u8>],
    anchors: &[Vec<u8>],
    now: i64,
) -> Result<VerifiedIDevId, IDevIdError> {
    let anchor = validate_path(chain, anchors, now)?;
    let leaf_der = chain.first().ok_or(IDevIdError::Empty)?.clone();
    let leaf = parse(&leaf_der, "the leaf")?;
    let leaf_key = VerifyingKey::from_spki_der(leaf.public_key().raw)
        .map_err(|e| IDevIdError::Malformed(format!("the leaf key: {e}")))?;
    let fields = read_fields(&leaf)?;
    Ok(VerifiedIDevId {
        leaf_der,
        leaf_key,
        anchor,
        fields,
    })
}

/// The 802.1AR fields of a device certificate.
fn read_fields(leaf: &X509Certificate<'_>) -> Result<IDevIdFields, IDevIdError> {
    let mut fields = IDevIdFields::default();
    for attr in leaf.subject().iter_attributes() {
        if attr.attr_type().to_id_string() == "2.5.4.5" {
            fields.serial_number = attr.as_str().ok().map(str::to_owned);
        }
    }
    let san = leaf
        .subject_alternative_name()
        .map_err(|e| IDevIdError::Malformed(format!("the leaf's subjectAltName: {e}")))?;
    for name in san.iter().flat_map(|s| s.value.general_names.iter()) {
        if let GeneralName::OtherName(oid, value) = name
            && oid.to_id_string() == OID_HARDWARE_MODULE_NAME
        {
            let (hw_type, hw_serial) = parse_hardware_module_name(value).ok_or_else(|| {
                IDevIdError::Malformed("the leaf's hardwareModuleName is not DER".to_owned())
            })?;
            fields.hw_type = Some(hw_type);
            fields.hw_serial_num = Some(hw_serial);
        }
    }
    for ext in leaf.extensions() {
        match ext.oid.to_id_string().as_str() {
            OID_MUD_URL => {
                let url = read_tlv(ext.value, 0x16)
                    .filter(|(_, rest)| rest.is_empty())
                    .and_then(|(url, _)| std::str::from_utf8(url).ok())
                    .filter(|url| url.is_ascii())
                    .ok_or_else(|| {
                        IDevIdError::Malformed(
                            "the leaf's MUD URL extension is not an IA5String".to_owned(),
                        )
                    })?;
                fields.mud_url = Some(url.to_owned());
            }
            OID_MUD_SIGNER => fields.mud_signer = Some(ext.value.to_vec()),
            _ => {}
        }
    }
    Ok(fields)
}

/// `[0] EXPLICIT SEQUENCE { hwType OBJECT IDENTIFIER, hwSerialNum OCTET STRING }`.
fn parse_hardware_module_name(value: &[u8]) -> Option<(String, Vec<u8>)> {
    let (explicit, rest) = read_tlv(value, 0xa0)?;
    if !rest.is_empty() {
        return None;
    }
    let (seq, rest) = read_tlv(explicit, 0x30)?;
    if !rest.is_empty() {
        return None;
    }
    let (oid, rest) = read_tlv(seq, 0x06)?;
    let (serial, rest) = read_tlv(rest, 0x04)?;
    if !rest.is_empty() {
        return None;
    }
    let oid = x509_parser::der_parser::oid::Oid::new(oid.into()).to_id_string();
    Some((oid, serial.to_vec()))
}

/// The verdict of an iDevID check: attestation, authenticated (it is a certificate chain).
pub fn verdict(result: &Result<PossessionProof, IDevIdError>) -> Verdict {
    let (passed, reasons) = match result {
        Ok(proof) => {
            let f = &proof.idevid.fields;
            let mut reasons = vec![format!(
                "chain verified to manufacturer trust anchor {}, and the device proved \
                 possession of the leaf key",
                proof.idevid.anchor
            )];
            if let Some(s) = &f.serial_number {
                reasons.push(format!("serialNumber {s}"));
            }
            if let (Some(t), Some(s)) = (&f.hw_type, &f.hw_serial_num) {
                reasons.push(format!(
                    "hardwareModuleName hwType {t} hwSerialNum {}",
                    hex::encode(s)
                ));
            } else {
                reasons.push("no hardwareModuleName".to_owned());
            }
            if let Some(u) = &f.mud_url {
                reasons.push(format!("MUD URL {u}"));
            }
            (true, reasons)
        }
        Err(e) => (false, vec![e.to_string()]),
    };
    Verdict {
        root: Root::IDevId,
        kind: Kind::Attestation,
        passed,
        reasons,
        authenticated: true,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };

    /// 2026-06-01T00:00:00Z.
    pub(crate) const NOW: i64 = 1_780_272_000;

    /// A CA certificate; valid around `NOW` unless `expired`.
    pub(crate) fn ca(
        name: &str,
        issuer: Option<&rcgen::Issuer<'static, KeyPair>>,
        expired: bool,
    ) -> (Vec<u8>, rcgen::Issuer<'static, KeyPair>) {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        p.not_before = time::OffsetDateTime::from_unix_timestamp(NOW - 86_400 * 400).unwrap();
        p.not_after = time::OffsetDateTime::from_unix_timestamp(if expired {
            NOW - 86_400
        } else {
            NOW + 86_400 * 400
        })
        .unwrap();
        let cert = match issuer {
            Some(i) => p.signed_by(&key, i).unwrap(),
            None => p.self_signed(&key).unwrap(),
        };
        (cert.der().to_vec(), rcgen::Issuer::new(p, key))
    }

    /// An 802.1AR device certificate issued by `issuer`, with its key.
    pub(crate) fn device(
        issuer: &rcgen::Issuer<'static, KeyPair>,
        mud_url: Option<&str>,
        mud_signer: Option<&[u8]>,
    ) -> (Vec<u8>, KeyPair) {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, "dev-1");
        p.distinguished_name.push(
            DnType::CustomDnType(ARCS_SERIAL_NUMBER.to_vec()),
            rcgen::DnValue::PrintableString("SN-0001".try_into().unwrap()),
        );
        p.custom_extensions.push(CustomExtension::from_oid_content(
            ARCS_SUBJECT_ALT_NAME,
            hardware_module_name_san(DEFAULT_HW_TYPE, b"SN-0001").unwrap(),
        ));
        if let Some(u) = mud_url {
            p.custom_extensions.push(CustomExtension::from_oid_content(
                ARCS_MUD_URL,
                mud_url_extension(u).unwrap(),
            ));
        }
        if let Some(s) = mud_signer {
            p.custom_extensions.push(CustomExtension::from_oid_content(
                ARCS_MUD_SIGNER,
                s.to_vec(),
            ));
        }
        p.not_before = time::OffsetDateTime::from_unix_timestamp(NOW - 86_400).unwrap();
        p.not_after = rcgen::date_time_ymd(9999, 12, 31);
        (p.signed_by(&key, issuer).unwrap().der().to_vec(), key)
    }

    /// Signs `msg` with `key` (P-256), COSE form (r || s).
    pub(crate) fn sign(key: &KeyPair, msg: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer as _;
        let sk = p256::ecdsa::SigningKey::from_pkcs8_der(&key.serialize_der()).unwrap();
        let sig: p256::ecdsa::Signature = sk.sign(msg);
        sig.to_bytes().to_vec()
    }

    use p256::pkcs8::DecodePrivateKey as _;

    #[test]
    fn valid_chain_with_possession_passes_and_reports_the_802_1ar_fields() {
        let (root_der, root) = ca("Maker Root", None, false);
        let (int_der, int) = ca("Maker Intermediate", Some(&root), false);
        let (leaf_der, leaf_key) = device(&int, Some("https://maker.example/dev.json"), None);
        let chain = vec![leaf_der, int_der];
        let verified = verify_chain(&chain, &[root_der], NOW).unwrap();
        assert_eq!(verified.fields.serial_number.as_deref(), Some("SN-0001"));
        assert_eq!(verified.fields.hw_type.as_deref(), Some(DEFAULT_HW_TYPE));
        assert_eq!(
            verified.fields.hw_serial_num.as_deref(),
            Some(&b"SN-0001"[..])
        );
        assert_eq!(
            verified.fields.mud_url.as_deref(),
            Some("https://maker.example/dev.json")
        );
        let nonce = b"verifier nonce 0123456789abcdef";
        let proof =
            verified
                .clone()
                .verify_possession(SigAlg::ES256, nonce, &sign(&leaf_key, nonce));
        let v = verdict(&proof);
        assert!(v.passed, "{v:?}");
        assert!(v.authenticated);
        assert_eq!((v.root, v.kind), (Root::IDevId, Kind::Attestation));
        assert!(
            v.reasons
                .iter()
                .any(|r| r.contains("hwSerialNum 534e2d30303031"))
        );
        // A signature over another message is no proof.
        let wrong = verified.verify_possession(SigAlg::ES256, b"other", &sign(&leaf_key, nonce));
        let v = verdict(&wrong);
        assert!(!v.passed);
        assert!(v.reasons[0].contains("proof of possession"), "{v:?}");
    }

    #[test]
    fn chain_to_an_unknown_anchor_fails() {
        let (_, root) = ca("Maker Root", None, false);
        let (other_der, _) = ca("Other Root", None, false);
        let (leaf_der, _) = device(&root, None, None);
        let err = verify_chain(&[leaf_der], &[other_der], NOW).unwrap_err();
        assert!(matches!(err, IDevIdError::UnknownAnchor { .. }), "{err:?}");
        let v = verdict(&Err(err));
        assert!(!v.passed);
        assert!(v.reasons[0].contains("does not lead to a configured trust anchor"));
    }

    #[test]
    fn chain_with_an_expired_intermediate_fails() {
        let (root_der, root) = ca("Maker Root", None, false);
        let (int_der, int) = ca("Maker Intermediate", Some(&root), true);
        let (leaf_der, _) = device(&int, None, None);
        let err = verify_chain(&[leaf_der, int_der], &[root_der], NOW).unwrap_err();
        assert_eq!(
            err,
            IDevIdError::NotValidAt {
                index: Some(1),
                subject: "CN=Maker Intermediate".to_owned()
            }
        );
        assert!(!verdict(&Err(err)).passed);
    }

    #[test]
    fn a_leaf_signed_by_an_impostor_with_the_anchor_name_fails() {
        let (root_der, _) = ca("Maker Root", None, false);
        let (_, impostor) = ca("Maker Root", None, false);
        let (leaf_der, _) = device(&impostor, None, None);
        let err = verify_chain(&[leaf_der], &[root_der], NOW).unwrap_err();
        assert!(
            matches!(err, IDevIdError::BadSignature { index: 0, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        let (root_der, _) = ca("Maker Root", None, false);
        for bad in [
            vec![],
            vec![0x30],
            vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            vec![0; 64],
        ] {
            let err = verify_chain(&[bad], std::slice::from_ref(&root_der), NOW).unwrap_err();
            assert!(matches!(err, IDevIdError::Malformed(_)), "{err:?}");
        }
        assert_eq!(
            verify_chain(&[], &[root_der], NOW).unwrap_err(),
            IDevIdError::Empty
        );
        assert_eq!(parse_hardware_module_name(&[0xa0, 0x05, 0x30]), None);
    }

    #[test]
    fn hardware_module_name_round_trips() {
        let san = hardware_module_name_san("1.3.6.1.4.1.99999.1", &[0; 200]).unwrap();
        let (names, rest) = read_tlv(&san, 0x30).unwrap();
        assert!(rest.is_empty());
        let (other, _) = read_tlv(names, 0xa0).unwrap();
        let (oid, value) = read_tlv(other, 0x06).unwrap();
        assert_eq!(oid, [0x2b, 6, 1, 5, 5, 7, 8, 4]);
        assert_eq!(
            parse_hardware_module_name(value),
            Some(("1.3.6.1.4.1.99999.1".to_owned(), vec![0; 200]))
        );
    }
}
