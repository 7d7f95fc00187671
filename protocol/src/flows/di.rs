//! DI, Device Initialization: the device and the manufacturer (FDO reference §2.1).
//!
//! ```text
//! device                                   manufacturer
//!   DiDevice::start ── 10 AppStart ──────▶ app_start              → AppStarted
//!                                          set_credentials        → ManufacturerDiState
//!   set_credentials ◀─ 11 SetCredentials ─
//!   → DiDeviceHmacSent ─ 12 SetHMAC ─────▶ set_hmac               → OwnershipVoucher (0 entries)
//!   done ◀──────────── 13 Done ──────────
//!   → DeviceCredential
//! ```
//!
//! **HMAC strength.** The device MACs the OVHeader with HMAC-SHA256 when the manufacturer key
//! is P-256 or RSA 2048, and HMAC-SHA384 when it is P-384 or RSA 3072 (or larger); when it
//! also knows its own attestation key, the stronger of the two wins ([`hmac_alg_for`]). Its
//! HMAC secret has the MAC's output length (32 or 48 bytes), and DCPubKeyHash uses the hash of
//! the same strength. go-fdo picks the *weaker* of the two strengths instead, so the
//! manufacturer accepts the strength of either key ([`ManufacturerDiState::accepts`]): both are
//! sound MACs, and refusing one would only break mixed-strength go-fdo devices.
//!
//! The manufacturer never holds the HMAC secret: it can only check that the MAC has an expected
//! algorithm and length, and stores it in the voucher, where the device checks it in TO2.

use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::cbor::{Bstr, Cbor, Decoder, Encoder};
use crate::credential::DeviceCredential;
use crate::crypto::{CryptoProvider, SigAlg, VerifyingKey};
use crate::flows::{FlowError, Outgoing, decode, decode_state_head, encode_state_head};
use crate::messages::MessageType;
use crate::messages::di::{AppStart, DeviceMfgInfo, Done, SetCredentials, SetHmac};
use crate::types::{Guid, HMac, HashAlg, ProtocolVersion, PublicKey, RendezvousInfo};
use crate::voucher::{OvHeader, OwnershipVoucher};
use crate::{Error, ErrorCode};

/// True when a key of this signing algorithm calls for the SHA-384 family (P-384, RSA 3072 and
/// larger).
fn is_384(alg: SigAlg) -> bool {
    matches!(alg, SigAlg::ES384 | SigAlg::RS384 | SigAlg::PS384)
}

/// The HMAC of a key's strength alone.
fn hmac_of(alg: SigAlg) -> HashAlg {
    if is_384(alg) {
        HashAlg::HMAC_SHA384
    } else {
        HashAlg::HMAC_SHA256
    }
}

/// The signing algorithm a manufacturer key's strength corresponds to.
fn key_alg(key: &PublicKey) -> Result<SigAlg, Error> {
    Ok(VerifyingKey::from_public_key(key)?.default_algorithm())
}

/// The HMAC algorithm for the OVHeader MAC (FDO reference §2.1 step 1): HMAC-SHA256 for a P-256
/// or RSA 2048 manufacturer key, HMAC-SHA384 for P-384 or RSA 3072; with the device's own
/// attestation algorithm known as well, the stronger of the two.
pub fn hmac_alg_for(
    manufacturer_key: &PublicKey,
    device_alg: Option<SigAlg>,
) -> Result<HashAlg, Error> {
    let mfg = key_alg(manufacturer_key)?;
    Ok(if is_384(mfg) || device_alg.is_some_and(is_384) {
        HashAlg::HMAC_SHA384
    } else {
        HashAlg::HMAC_SHA256
    })
}

// ---------------------------------------------------------------------------------------------
// Device

/// DI on the device, waiting for DI.SetCredentials.
#[derive(Clone, Debug)]
pub struct DiDevice {
    device_alg: Option<SigAlg>,
}

impl DiDevice {
    /// Starts DI: DI.AppStart carrying `mfg_info` (vendor-specific: the device's CSR or public
    /// key, its serial number…). `device_alg` is the algorithm the device's attestation key
    /// signs with ([`Signer::algorithm`](crate::crypto::Signer::algorithm)), if the device
    /// wants it to count towards the HMAC strength.
    pub fn start(device_alg: Option<SigAlg>, mfg_info: DeviceMfgInfo) -> (Outgoing, Self) {
        (Outgoing::new(&AppStart { mfg_info }), Self { device_alg })
    }

    /// Handles DI.SetCredentials: picks the HMAC algorithm, draws the HMAC secret from `rng`,
    /// MACs the OVHeader bytes exactly as received and hashes the manufacturer key as it
    /// appears in them (DCPubKeyHash); answers DI.SetHMAC.
    pub fn set_credentials(
        self,
        msg_type: MessageType,
        body: &[u8],
        crypto: &dyn CryptoProvider,
        rng: &mut dyn rand_core::CryptoRng,
    ) -> Result<(Outgoing, DiDeviceHmacSent), FlowError> {
        let msg: SetCredentials = decode(msg_type, body)?;
        let fail = |e: Error| FlowError::new(e, msg_type);
        let header = msg.header();
        if header.protocol_version != ProtocolVersion::V101 {
            return Err(fail(Error::unsupported(alloc::format!(
                "OVHeader protocol version {}",
                header.protocol_version.0
            ))));
        }
        let hmac_alg =
            hmac_alg_for(header.manufacturer_key.value(), self.device_alg).map_err(fail)?;
        let (Some(len), Some(hash_alg)) = (hmac_alg.output_len(), hmac_alg.hmac_counterpart())
        else {
            return Err(fail(Error::Misuse("HMAC algorithm without a length")));
        };
        let mut secret = Zeroizing::new(alloc::vec![0u8; len]);
        rng.fill_bytes(&mut secret);
        // The HMAC covers the OVHeader bytes exactly as the manufacturer sent them.
        let hmac = crypto
            .hmac(hmac_alg, &secret, msg.header_bytes())
            .map_err(fail)?;
        // DCPubKeyHash = H(OVPubKey), over the key's encoding as it appears in the header.
        let pub_key_hash = crypto
            .hash(hash_alg, &[header.manufacturer_key.bytes()])
            .map_err(fail)?;
        let credential = DeviceCredential {
            active: true,
            protocol_version: header.protocol_version,
            hmac_secret: Some(secret),
            device_info: header.device_info.clone(),
            guid: header.guid,
            rv_info: header.rv_info.clone(),
            pub_key_hash,
            device_key: None,
        };
        Ok((
            Outgoing::new(&SetHmac { hmac }),
            DiDeviceHmacSent { credential },
        ))
    }
}

/// DI on the device: DI.SetHMAC sent, waiting for DI.Done. Holds the credential to store.
#[derive(Clone, Debug)]
pub struct DiDeviceHmacSent {
    credential: DeviceCredential,
}

impl DiDeviceHmacSent {
    /// Handles DI.Done: DI is over, and the device stores the credential it returns. Its
    /// `device_key` is `None`: the device's key store holds the attestation key.
    pub fn done(self, msg_type: MessageType, body: &[u8]) -> Result<DeviceCredential, FlowError> {
        let Done = decode(msg_type, body)?;
        Ok(self.credential)
    }
}

// ---------------------------------------------------------------------------------------------
// Manufacturer

const STARTED_TAG: &str = "vouch-di-started";
const STATE_TAG: &str = "vouch-di-manufacturer";
const STATE_VERSION: u64 = 1;

/// DI on the manufacturer after DI.AppStart, before it has chosen the device's credentials.
///
/// It holds nothing but the fact that AppStart came; it encodes (`["vouch-di-started", 1]`) in
/// case the caller issues the device certificate asynchronously and keeps the session between
/// requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppStarted {
    _private: (),
}

impl Cbor for AppStarted {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        decode_state_head(d, "DI started state", STARTED_TAG, STATE_VERSION, 0)?;
        Ok(Self { _private: () })
    }

    fn encode(&self, e: &mut Encoder) {
        encode_state_head(e, STARTED_TAG, STATE_VERSION, 0);
    }
}

/// Reads DI.AppStart (10). The caller inspects its DeviceMfgInfo (a CSR, a serial number),
/// issues the device certificate chain and calls [`set_credentials`].
pub fn app_start(msg_type: MessageType, body: &[u8]) -> Result<(AppStart, AppStarted), FlowError> {
    let m: AppStart = decode(msg_type, body)?;
    Ok((m, AppStarted { _private: () }))
}

/// DI on the manufacturer: DI.SetCredentials sent, waiting for DI.SetHMAC.
///
/// ```text
/// ManufacturerDiState = ["vouch-di-manufacturer", 1,
///                        header: bstr .cbor OVHeader,   ; exactly as sent
///                        cert_chain: [+ bstr] / null,   ; OVDevCertChain
///                        hmac_algs: [+ int]]            ; HMAC algorithms accepted
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManufacturerDiState {
    header: Bstr<OvHeader>,
    cert_chain: Option<Vec<Vec<u8>>>,
    hmac_algs: Vec<HashAlg>,
}

impl ManufacturerDiState {
    /// The OVHeader sent in DI.SetCredentials.
    pub fn header(&self) -> &OvHeader {
        self.header.value()
    }

    /// True when DI.SetHMAC may carry an HMAC of `alg`.
    pub fn accepts(&self, alg: HashAlg) -> bool {
        self.hmac_algs.contains(&alg)
    }
}

impl Cbor for ManufacturerDiState {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        const WHAT: &str = "DI manufacturer state [tag, version, header, chain, hmac_algs]";
        decode_state_head(d, WHAT, STATE_TAG, STATE_VERSION, 3)?;
        let header = Bstr::decode(d)?;
        let cert_chain = if d.try_null() {
            None
        } else {
            let n = d.array("OVDevCertChain (array of bstr)")?;
            if n == 0 || n > d.remaining().len() as u64 {
                return Err(d.error(
                    "OVDevCertChain (array of bstr)",
                    crate::error::Found::Length(n),
                ));
            }
            Some(
                (0..n)
                    .map(|_| d.bytes("device certificate (bstr)").map(<[u8]>::to_vec))
                    .collect::<Result<Vec<_>, _>>()?,
            )
        };
        let n = d.array("accepted HMAC algorithms (array of int)")?;
        if n == 0 || n > 2 {
            return Err(d.error(
                "accepted HMAC algorithms (1 or 2)",
                crate::error::Found::Length(n),
            ));
        }
        let hmac_algs = (0..n)
            .map(|_| d.int("HMAC algorithm (int)").map(HashAlg))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(bad) = hmac_algs.iter().find(|a| !a.is_hmac()) {
            return Err(Error::invalid(
                "DI manufacturer state",
                alloc::format!("{bad} is not an HMAC algorithm"),
            ));
        }
        Ok(Self {
            header,
            cert_chain,
            hmac_algs,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        encode_state_head(e, STATE_TAG, STATE_VERSION, 3);
        e.encode(&self.header);
        match &self.cert_chain {
            Some(chain) => {
                e.array(chain.len());
                for c in chain {
                    e.bytes(c);
                }
            }
            None => {
                e.null();
            }
        }
        e.array(self.hmac_algs.len());
        for a in &self.hmac_algs {
            e.int(a.0);
        }
    }
}

/// The manufacturer's choice of credentials for the device, for [`set_credentials`].
#[derive(Clone, Debug)]
pub struct Credentials<'a> {
    /// OVGuid: the device's new GUID (random).
    pub guid: Guid,
    /// OVRVInfo: where the device finds its rendezvous server.
    pub rv_info: RendezvousInfo,
    /// OVDeviceInfo.
    pub device_info: &'a str,
    /// OVPubKey: the manufacturer's public key.
    pub manufacturer_key: PublicKey,
    /// OVDevCertChain: the device certificate chain issued for the device, leaf first; `None`
    /// only for devices without one (EPID), which TO1 cannot verify.
    pub device_chain: Option<Vec<Vec<u8>>>,
    /// The hash algorithm of OVDevCertChainHash.
    pub chain_hash_alg: HashAlg,
}

/// Builds the OVHeader from the manufacturer's choices and answers DI.SetCredentials (11).
///
/// Every failure here is in the caller's own inputs (a key or certificate that does not
/// parse), so it is reported to the device as INTERNAL_SERVER_ERROR (500).
pub fn set_credentials(
    state: AppStarted,
    credentials: Credentials<'_>,
    crypto: &dyn CryptoProvider,
) -> Result<(Outgoing, ManufacturerDiState), FlowError> {
    let AppStarted { _private: () } = state;
    let internal = |e: Error| {
        FlowError::with_code(
            e,
            MessageType::DI_APP_START,
            ErrorCode::INTERNAL_SERVER_ERROR,
        )
    };
    let Credentials {
        guid,
        rv_info,
        device_info,
        manufacturer_key,
        device_chain,
        chain_hash_alg,
    } = credentials;
    // The device MACs with the strength of the manufacturer key, or of its own key when that is
    // stronger (go-fdo: weaker); either is accepted.
    let mut hmac_algs = alloc::vec![hmac_of(key_alg(&manufacturer_key).map_err(internal)?)];
    if let Some(chain) = &device_chain {
        let leaf = crate::flows::to1::leaf_key(chain).map_err(internal)?;
        let device = hmac_of(key_alg(&leaf).map_err(internal)?);
        if !hmac_algs.contains(&device) {
            hmac_algs.push(device);
        }
    }
    let header = OvHeader::new(
        crypto,
        guid,
        rv_info,
        device_info,
        manufacturer_key,
        device_chain.as_deref(),
        chain_hash_alg,
    )
    .map_err(internal)?;
    let header = Bstr::new(header);
    let msg = SetCredentials::from_bstr(header.clone());
    Ok((
        Outgoing::new(&msg),
        ManufacturerDiState {
            header,
            cert_chain: device_chain,
            hmac_algs,
        },
    ))
}

/// Handles DI.SetHMAC (12): checks that the HMAC has an accepted algorithm and its length,
/// builds the voucher (no entries yet) and answers DI.Done (13).
pub fn set_hmac(
    state: ManufacturerDiState,
    msg_type: MessageType,
    body: &[u8],
    crypto: &dyn CryptoProvider,
) -> Result<(Outgoing, OwnershipVoucher), FlowError> {
    let SetHmac { hmac } = decode(msg_type, body)?;
    check_hmac(&state, &hmac).map_err(|e| FlowError::new(e, msg_type))?;
    let internal = |e: Error| FlowError::with_code(e, msg_type, ErrorCode::INTERNAL_SERVER_ERROR);
    let voucher =
        OwnershipVoucher::new(crypto, state.header.value().clone(), hmac, state.cert_chain)
            .map_err(internal)?;
    // The voucher must carry the header bytes the device MACed, not a re-encoding that differs.
    if voucher.header_bytes() != state.header.contents() {
        return Err(internal(Error::Misuse(
            "the OVHeader does not re-encode to the bytes sent in DI.SetCredentials",
        )));
    }
    Ok((Outgoing::new(&Done), voucher))
}

/// The manufacturer's sanity check of DI.SetHMAC: an accepted algorithm, of its length.
fn check_hmac(state: &ManufacturerDiState, hmac: &HMac) -> Result<(), Error> {
    let alg = hmac.alg();
    if !state.accepts(alg) {
        return Err(Error::invalid(
            "DI.SetHMAC HMac",
            alloc::format!("{alg} does not suit the device and manufacturer keys"),
        ));
    }
    match alg.output_len() {
        Some(len) if len == hmac.value().len() => Ok(()),
        _ => Err(Error::invalid(
            "DI.SetHMAC HMac",
            alloc::format!("{alg} value of {} bytes", hmac.value().len()),
        )),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! DI in memory, device ↔ manufacturer, and the fixtures the TO0 and TO1 tests build on:
    //! a device certificate, a voucher made by DI and extended to an owner.

    use alloc::vec;
    use alloc::vec::Vec;

    use rand_core::Rng;

    use super::*;
    use crate::crypto::test::SeededRng;
    use crate::crypto::{RustCrypto, Signer, SigningKey};
    use crate::flows::FlowError;
    use crate::types::{PkEnc, PkType, RvDirective, RvInstruction, RvVariable};

    pub(crate) const C: RustCrypto = RustCrypto;
    /// The fixed clock of the flow tests (2025-06-15).
    pub(crate) const NOW: u64 = 1_750_000_000;
    pub(crate) const DEVICE_INFO: &str = "vouch flow device";

    /// One DER TLV (definite length, up to 64 KiB).
    fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let n = content.len();
        let mut out = vec![tag];
        if n < 0x80 {
            out.push(n as u8);
        } else if n < 0x100 {
            out.extend_from_slice(&[0x81, n as u8]);
        } else {
            out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
        }
        out.extend_from_slice(content);
        out
    }

    /// A minimal X.509 v3 certificate for `spki`, with empty names and a placeholder
    /// signature: the flows read only the leaf's key, and nothing here checks the chain.
    pub(crate) fn certificate(spki: &[u8], serial: u8) -> Vec<u8> {
        assert!(serial < 0x80, "a positive one-byte serial");
        // AlgorithmIdentifier { ecdsa-with-SHA256 (1.2.840.10045.4.3.2) }
        let alg = der(
            0x30,
            &der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
        );
        let name = der(0x30, &[]); // an empty RDNSequence
        let validity = der(
            0x30,
            &[der(0x17, b"250101000000Z"), der(0x17, b"350101000000Z")].concat(),
        );
        let tbs = der(
            0x30,
            &[
                der(0xa0, &der(0x02, &[2])), // [0] version v3
                der(0x02, &[serial]),        // serialNumber
                alg.clone(),                 // signature
                name.clone(),                // issuer
                validity,                    // validity
                name,                        // subject
                spki.to_vec(),               // subjectPublicKeyInfo
            ]
            .concat(),
        );
        // BIT STRING with no bits: the placeholder signature
        der(0x30, &[tbs, alg, der(0x03, &[0x00])].concat())
    }

    /// A device certificate chain for `device`: its leaf, and a CA certificate.
    pub(crate) fn device_chain(device: &SigningKey, ca: &SigningKey) -> Vec<Vec<u8>> {
        vec![
            certificate(&device.verifying_key().to_spki_der().unwrap(), 1),
            certificate(&ca.verifying_key().to_spki_der().unwrap(), 2),
        ]
    }

    pub(crate) fn rv_info() -> RendezvousInfo {
        RendezvousInfo(vec![RvDirective(vec![
            RvInstruction::dns("rv.example"),
            RvInstruction::uint(RvVariable::DEV_PORT, 8041),
            RvInstruction::uint(RvVariable::PROTOCOL, 1),
        ])])
    }

    /// What DI leaves behind: both sides' keys, the device's credential and the voucher.
    pub(crate) struct Made {
        pub(crate) manufacturer: SigningKey,
        pub(crate) device: SigningKey,
        pub(crate) credential: DeviceCredential,
        pub(crate) voucher: OwnershipVoucher,
    }

    /// Asserts a flow error's FDO code and EMPrevMsgID, in the error and in the message
    /// that reports it.
    #[track_caller]
    pub(crate) fn assert_fails<T: core::fmt::Debug>(
        r: Result<T, FlowError>,
        code: ErrorCode,
        prev: MessageType,
    ) -> FlowError {
        let e = r.unwrap_err();
        assert_eq!((e.code(), e.prev), (code, prev), "{e}");
        let m = e.to_message();
        assert_eq!((m.code, m.prev_message), (code, prev));
        e
    }

    /// A state after a trip through the database: encoded, decoded, and unchanged.
    #[track_caller]
    pub(crate) fn through_db<S: Cbor + PartialEq + core::fmt::Debug>(state: S) -> S {
        let bytes = state.to_cbor();
        let back = S::from_cbor(&bytes).unwrap();
        assert_eq!(back, state);
        assert_eq!(back.to_cbor(), bytes);
        back
    }

    /// Runs DI in memory with keys of the given types, the manufacturer's states going
    /// through the database between steps.
    pub(crate) fn run_di(seed: &[u8], mfg_type: PkType, device_type: PkType) -> Made {
        let mut rng = SeededRng::new(seed);
        let manufacturer = SigningKey::generate(mfg_type, &mut rng).unwrap();
        let device = SigningKey::generate(device_type, &mut rng).unwrap();
        let ca = SigningKey::generate(PkType::SECP384R1, &mut rng).unwrap();
        let mut guid = [0u8; 16];
        rng.fill_bytes(&mut guid);

        let serial = ciborium::Value::Text("serial 0042".into());
        let (out, dev) = DiDevice::start(Some(device.algorithm()), DeviceMfgInfo::wrap(&serial));
        assert_eq!(out.msg_type, MessageType::DI_APP_START);

        let (app, started) = app_start(out.msg_type, &out.body).unwrap();
        assert_eq!(app.mfg_info.wrapped(), Some(&serial.to_cbor()[..]));
        let started = through_db(started);
        let chain_alg = if mfg_type == PkType::SECP384R1 {
            HashAlg::SHA384
        } else {
            HashAlg::SHA256
        };
        let (out, state) = set_credentials(
            started,
            Credentials {
                guid: Guid(guid),
                rv_info: rv_info(),
                device_info: DEVICE_INFO,
                manufacturer_key: manufacturer.public_key(PkEnc::X509).unwrap(),
                device_chain: Some(device_chain(&device, &ca)),
                chain_hash_alg: chain_alg,
            },
            &C,
        )
        .unwrap();
        assert_eq!(out.msg_type, MessageType::DI_SET_CREDENTIALS);
        let state = through_db(state);

        let (out, dev) = dev
            .set_credentials(out.msg_type, &out.body, &C, &mut rng)
            .unwrap();
        assert_eq!(out.msg_type, MessageType::DI_SET_HMAC);
        let (out, voucher) = set_hmac(state, out.msg_type, &out.body, &C).unwrap();
        assert_eq!(out.msg_type, MessageType::DI_DONE);
        assert_eq!(out.body, [0x80]);
        let credential = dev.done(out.msg_type, &out.body).unwrap();
        Made {
            manufacturer,
            device,
            credential,
            voucher,
        }
    }

    /// DI with P-256 keys, the voucher then extended from the manufacturer to an owner.
    pub(crate) struct Owned {
        pub(crate) made: Made,
        pub(crate) owner: SigningKey,
        pub(crate) voucher: OwnershipVoucher,
    }

    pub(crate) fn owned(seed: &[u8]) -> Owned {
        let made = run_di(seed, PkType::SECP256R1, PkType::SECP256R1);
        let mut rng = SeededRng::new(&[seed, b" owner"].concat());
        let owner = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
        let voucher = made
            .voucher
            .extend(
                &C,
                &made.manufacturer,
                owner.public_key(PkEnc::X509).unwrap(),
            )
            .unwrap();
        Owned {
            made,
            owner,
            voucher,
        }
    }

    #[test]
    fn di_in_memory_yields_a_credential_and_a_voucher_that_verifies_with_it() {
        let Made {
            manufacturer,
            credential,
            voucher,
            ..
        } = run_di(b"di p256", PkType::SECP256R1, PkType::SECP256R1);
        let h = voucher.header();
        // the credential is the header's, with a fresh 32-byte secret
        assert!(credential.active);
        assert_eq!(credential.protocol_version, ProtocolVersion::V101);
        assert_eq!(credential.guid, h.guid);
        assert_eq!(credential.rv_info, rv_info());
        assert_eq!(credential.device_info, DEVICE_INFO);
        assert_eq!(credential.hmac_secret().unwrap().len(), 32);
        assert_eq!(credential.device_key, None);
        // DCPubKeyHash = SHA-256 over the OVPubKey bytes as they appear in the header
        assert_eq!(credential.pub_key_hash.alg(), HashAlg::SHA256);
        let mfg_key = manufacturer.public_key(PkEnc::X509).unwrap();
        assert_eq!(h.manufacturer_key.bytes(), mfg_key.to_cbor());
        assert!(
            credential
                .pub_key_hash
                .ct_eq(&C.hash(HashAlg::SHA256, &[&mfg_key.to_cbor()]).unwrap())
        );
        // the voucher: no entries, the chain issued, HMAC-SHA256 by the device's secret
        assert!(voucher.entries().is_empty());
        assert_eq!(voucher.cert_chain().unwrap().len(), 2);
        assert_eq!(voucher.hmac().alg(), HashAlg::HMAC_SHA256);
        let verified = voucher.clone().verify(&C, None, Some(&credential)).unwrap();
        assert!(verified.hmac_checked());
        // the credential's secret is what the HMAC is checked with: another one fails
        let mut other = credential.clone();
        other.hmac_secret = Some(zeroize::Zeroizing::new(vec![0; 32]));
        assert_eq!(
            voucher.clone().verify(&C, None, Some(&other)).unwrap_err(),
            Error::Verify(crate::VerifyError::HeaderHmac)
        );
        // and the whole run is deterministic
        let again = run_di(b"di p256", PkType::SECP256R1, PkType::SECP256R1);
        assert_eq!(again.voucher.to_cbor(), voucher.to_cbor());
        assert_eq!(again.credential, credential);
    }

    #[test]
    fn the_stronger_key_sets_the_hmac() {
        // P-256 manufacturer, P-384 device: HMAC-SHA384, a 48-byte secret, SHA-384 key hash
        let m = run_di(b"di mixed", PkType::SECP256R1, PkType::SECP384R1);
        assert_eq!(m.voucher.hmac().alg(), HashAlg::HMAC_SHA384);
        assert_eq!(m.credential.hmac_secret().unwrap().len(), 48);
        assert_eq!(m.credential.pub_key_hash.alg(), HashAlg::SHA384);
        assert!(
            m.voucher
                .verify(&C, None, Some(&m.credential))
                .unwrap()
                .hmac_checked()
        );
        // P-384 manufacturer, P-256 device: HMAC-SHA384 too
        let m = run_di(b"di p384 mfg", PkType::SECP384R1, PkType::SECP256R1);
        assert_eq!(m.voucher.hmac().alg(), HashAlg::HMAC_SHA384);
        assert!(m.voucher.verify(&C, None, Some(&m.credential)).is_ok());

        let mut rng = SeededRng::new(b"strength");
        let p256 = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
        let p384 = SigningKey::generate(PkType::SECP384R1, &mut rng).unwrap();
        let k256 = p256.public_key(PkEnc::X509).unwrap();
        let k384 = p384.public_key(PkEnc::X509).unwrap();
        assert_eq!(hmac_alg_for(&k256, None).unwrap(), HashAlg::HMAC_SHA256);
        assert_eq!(
            hmac_alg_for(&k256, Some(SigAlg::ES256)).unwrap(),
            HashAlg::HMAC_SHA256
        );
        assert_eq!(
            hmac_alg_for(&k256, Some(SigAlg::RS384)).unwrap(),
            HashAlg::HMAC_SHA384
        );
        assert_eq!(
            hmac_alg_for(&k384, Some(SigAlg::ES256)).unwrap(),
            HashAlg::HMAC_SHA384
        );
        // a manufacturer key that does not parse has no strength
        let junk = PublicKey::x509(PkType::SECP256R1, vec![1, 2, 3]);
        assert!(hmac_alg_for(&junk, None).is_err());
    }

    /// A manufacturer session for a P-256 manufacturer and a device of `device_type`, waiting
    /// for DI.SetHMAC, and the SetCredentials it sent.
    fn awaiting_hmac(device_type: PkType) -> (ManufacturerDiState, Outgoing) {
        let mut rng = SeededRng::new(b"awaiting hmac");
        let mfg = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
        let device = SigningKey::generate(device_type, &mut rng).unwrap();
        let (_, started) = app_start(MessageType::DI_APP_START, &[0x81, 0xf6]).unwrap();
        let (out, state) = set_credentials(
            started,
            Credentials {
                guid: Guid([3; 16]),
                rv_info: rv_info(),
                device_info: DEVICE_INFO,
                manufacturer_key: mfg.public_key(PkEnc::X509).unwrap(),
                device_chain: Some(device_chain(&device, &mfg)),
                chain_hash_alg: HashAlg::SHA256,
            },
            &C,
        )
        .unwrap();
        (state, out)
    }

    fn set_hmac_body(alg: HashAlg, len: usize) -> Vec<u8> {
        // [[alg, h'00…']], built by hand so any algorithm and length can be sent
        let mut e = Encoder::new();
        e.array(1).array(2).int(alg.0).bytes(&vec![0; len]);
        e.into_bytes()
    }

    #[test]
    fn manufacturer_checks_the_hmac_algorithm_and_length() {
        // all P-256: only HMAC-SHA256
        let (state, _) = awaiting_hmac(PkType::SECP256R1);
        assert!(state.accepts(HashAlg::HMAC_SHA256));
        assert!(!state.accepts(HashAlg::HMAC_SHA384));
        let t = MessageType::DI_SET_HMAC;
        let e = assert_fails(
            set_hmac(
                state.clone(),
                t,
                &set_hmac_body(HashAlg::HMAC_SHA384, 48),
                &C,
            ),
            ErrorCode::MESSAGE_BODY_ERROR,
            t,
        );
        assert!(e.to_string().contains("HMAC-SHA384"), "{e}");
        // an unknown MAC algorithm of any length, and a short HMAC-SHA256
        assert_fails(
            set_hmac(state.clone(), t, &set_hmac_body(HashAlg(7), 32), &C),
            ErrorCode::MESSAGE_BODY_ERROR,
            t,
        );
        assert_fails(
            set_hmac(
                state.clone(),
                t,
                &set_hmac_body(HashAlg::HMAC_SHA256, 31),
                &C,
            ),
            ErrorCode::MESSAGE_BODY_ERROR,
            t,
        );
        // a plain hash where the HMAC belongs
        assert_fails(
            set_hmac(state.clone(), t, &set_hmac_body(HashAlg::SHA256, 32), &C),
            ErrorCode::MESSAGE_BODY_ERROR,
            t,
        );
        let (_, v) = set_hmac(state, t, &set_hmac_body(HashAlg::HMAC_SHA256, 32), &C).unwrap();
        assert_eq!(v.hmac().alg(), HashAlg::HMAC_SHA256);

        // P-384 device, P-256 manufacturer: our devices send HMAC-SHA384, go-fdo's the
        // weaker HMAC-SHA256; both are accepted
        let (state, _) = awaiting_hmac(PkType::SECP384R1);
        for (alg, len) in [(HashAlg::HMAC_SHA384, 48), (HashAlg::HMAC_SHA256, 32)] {
            let (_, v) = set_hmac(state.clone(), t, &set_hmac_body(alg, len), &C).unwrap();
            assert_eq!(v.hmac().alg(), alg);
        }
    }

    #[test]
    fn wrong_message_types_and_malformed_bodies() {
        let (state, sent) = awaiting_hmac(PkType::SECP256R1);
        // the manufacturer: AppStart where SetHMAC belongs, and a SetHMAC that is not one
        assert_fails(
            set_hmac(state.clone(), MessageType::DI_APP_START, &[0x81, 0xf6], &C),
            ErrorCode::MESSAGE_BODY_ERROR,
            MessageType::DI_APP_START,
        );
        assert_fails(
            set_hmac(state, MessageType::DI_SET_HMAC, &[0x80], &C),
            ErrorCode::MESSAGE_BODY_ERROR,
            MessageType::DI_SET_HMAC,
        );
        assert_fails(
            app_start(MessageType::DI_APP_START, &[0x80]),
            ErrorCode::MESSAGE_BODY_ERROR,
            MessageType::DI_APP_START,
        );
        assert_fails(
            app_start(MessageType::TO0_HELLO, &[0x80]),
            ErrorCode::MESSAGE_BODY_ERROR,
            MessageType::TO0_HELLO,
        );
        // the device: Done where SetCredentials belongs, a truncated SetCredentials, and a
        // SetCredentials where Done belongs
        let mut rng = SeededRng::new(b"device errors");
        let (_, dev) = DiDevice::start(None, DeviceMfgInfo::null());
        assert_fails(
            dev.clone()
                .set_credentials(MessageType::DI_DONE, &[0x80], &C, &mut rng),
            ErrorCode::MESSAGE_BODY_ERROR,
            MessageType::DI_DONE,
        );
        assert_fails(
            dev.clone().set_credentials(
                sent.msg_type,
                &sent.body[..sent.body.len() - 1],
                &C,
                &mut rng,
            ),
            ErrorCode::MESSAGE_BODY_ERROR,
            MessageType::DI_SET_CREDENTIALS,
        );
        let (_, waiting) = dev
            .set_credentials(sent.msg_type, &sent.body, &C, &mut rng)
            .unwrap();
        assert_fails(
            waiting
                .clone()
                .done(MessageType::DI_SET_CREDENTIALS, &sent.body),
            ErrorCode::MESSAGE_BODY_ERROR,
            MessageType::DI_SET_CREDENTIALS,
        );
        assert_fails(
            waiting.done(MessageType::DI_DONE, &[0x81, 0x00]),
            ErrorCode::MESSAGE_BODY_ERROR,
            MessageType::DI_DONE,
        );
    }

    #[test]
    fn device_macs_fdo_rs_bare_header_as_received() {
        let (state, sent) = awaiting_hmac(PkType::SECP256R1);
        // fdo-rs sends the OVHeader array itself, not [bstr .cbor OVHeader]
        let bare = state.header.contents().to_vec();
        assert_eq!(&sent.body[sent.body.len() - bare.len()..], &bare[..]);
        let mut rng = SeededRng::new(b"bare");
        let (_, dev) = DiDevice::start(None, DeviceMfgInfo::null());
        let (out, waiting) = dev
            .set_credentials(MessageType::DI_SET_CREDENTIALS, &bare, &C, &mut rng)
            .unwrap();
        let SetHmac { hmac } = SetHmac::from_cbor(&out.body).unwrap();
        let credential = waiting.done(MessageType::DI_DONE, &[0x80]).unwrap();
        let secret = credential.hmac_secret().unwrap();
        assert!(hmac.ct_eq(&C.hmac(HashAlg::HMAC_SHA256, secret, &bare).unwrap()));
        // and the manufacturer takes it
        let (_, voucher) = set_hmac(state, out.msg_type, &out.body, &C).unwrap();
        assert!(
            voucher
                .verify(&C, None, Some(&credential))
                .unwrap()
                .hmac_checked()
        );
    }

    #[test]
    fn device_macs_a_non_shortest_bare_header_byte_for_byte() {
        // The bare form again (pitfall 5), with OVProtVer 101 written as `19 0065` instead of
        // `18 65`: the HMAC is over these very bytes, not over a re-encoding of the header.
        let (state, _) = awaiting_hmac(PkType::SECP256R1);
        let canonical = state.header.contents().to_vec();
        assert_eq!(canonical[..3], [0x86, 0x18, 0x65]);
        let mut bare = vec![0x86, 0x19, 0x00, 0x65];
        bare.extend_from_slice(&canonical[3..]);
        let (_, dev) = DiDevice::start(None, DeviceMfgInfo::null());
        let (out, waiting) = dev
            .set_credentials(
                MessageType::DI_SET_CREDENTIALS,
                &bare,
                &C,
                &mut SeededRng::new(b"non-shortest"),
            )
            .unwrap();
        let SetHmac { hmac } = SetHmac::from_cbor(&out.body).unwrap();
        let credential = waiting.done(MessageType::DI_DONE, &[0x80]).unwrap();
        let secret = credential.hmac_secret().unwrap();
        assert!(hmac.ct_eq(&C.hmac(HashAlg::HMAC_SHA256, secret, &bare).unwrap()));
        assert!(!hmac.ct_eq(&C.hmac(HashAlg::HMAC_SHA256, secret, &canonical).unwrap()));
        assert_eq!(credential.guid, Guid([3; 16]));
    }

    #[test]
    fn device_refuses_a_header_of_another_protocol_version() {
        let (state, _) = awaiting_hmac(PkType::SECP256R1);
        let mut header = state.header().clone();
        header.protocol_version = ProtocolVersion::V100;
        let body = SetCredentials::new(header).to_cbor();
        let (_, dev) = DiDevice::start(None, DeviceMfgInfo::null());
        let e = assert_fails(
            dev.set_credentials(
                MessageType::DI_SET_CREDENTIALS,
                &body,
                &C,
                &mut SeededRng::new(b"v100"),
            ),
            ErrorCode::MESSAGE_BODY_ERROR,
            MessageType::DI_SET_CREDENTIALS,
        );
        assert!(e.to_string().contains("protocol version 100"), "{e}");
    }

    #[test]
    fn bad_manufacturer_inputs_are_internal_errors() {
        let mut rng = SeededRng::new(b"bad inputs");
        let mfg = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
        let credentials = |chain: Option<Vec<Vec<u8>>>, key: PublicKey| Credentials {
            guid: Guid([4; 16]),
            rv_info: rv_info(),
            device_info: DEVICE_INFO,
            manufacturer_key: key,
            device_chain: chain,
            chain_hash_alg: HashAlg::SHA256,
        };
        let good_key = mfg.public_key(PkEnc::X509).unwrap();
        let started = || {
            app_start(MessageType::DI_APP_START, &[0x81, 0xf6])
                .unwrap()
                .1
        };
        // a device "certificate" that is not one
        let e = assert_fails(
            set_credentials(
                started(),
                credentials(Some(vec![b"not a certificate".to_vec()]), good_key.clone()),
                &C,
            ),
            ErrorCode::INTERNAL_SERVER_ERROR,
            MessageType::DI_APP_START,
        );
        // the device is not told why
        assert_eq!(e.to_message().text, "internal error");
        // a manufacturer key that does not parse
        assert_fails(
            set_credentials(
                started(),
                credentials(None, PublicKey::x509(PkType::SECP256R1, vec![0; 4])),
                &C,
            ),
            ErrorCode::INTERNAL_SERVER_ERROR,
            MessageType::DI_APP_START,
        );
        // an HMAC id as the chain hash algorithm
        let mut c = credentials(Some(device_chain(&mfg, &mfg)), good_key);
        c.chain_hash_alg = HashAlg::HMAC_SHA256;
        assert_fails(
            set_credentials(started(), c, &C),
            ErrorCode::INTERNAL_SERVER_ERROR,
            MessageType::DI_APP_START,
        );
    }

    #[test]
    fn manufacturer_states_encode_with_tag_and_version() {
        let (state, _) = awaiting_hmac(PkType::SECP384R1);
        let bytes = through_db(state.clone()).to_cbor();
        // ["vouch-di-manufacturer", 1, …]
        assert_eq!(bytes[0], 0x85);
        assert_eq!(
            &bytes[1..2 + STATE_TAG.len()],
            &[&[0x75][..], STATE_TAG.as_bytes()].concat()[..]
        );
        assert_eq!(
            state.hmac_algs,
            [HashAlg::HMAC_SHA256, HashAlg::HMAC_SHA384]
        );
        // another version is refused by name
        let mut v2 = bytes.clone();
        v2[2 + STATE_TAG.len()] = 0x02;
        let err = ManufacturerDiState::from_cbor(&v2).unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)), "{err}");
        // so is another state's encoding
        let started = AppStarted { _private: () };
        assert_eq!(started.to_cbor(), through_db(started.clone()).to_cbor());
        let err = ManufacturerDiState::from_cbor(&started.to_cbor())
            .unwrap_err()
            .to_string();
        assert!(err.contains("DI manufacturer state"), "{err}");
        let err = AppStarted::from_cbor(&bytes).unwrap_err().to_string();
        assert!(err.contains("DI started state"), "{err}");
        // a state accepting a plain hash as an HMAC is not one we wrote
        let mut plain = bytes.clone();
        let n = plain.len();
        assert_eq!(&plain[n - 3..], &[0x82, 0x05, 0x06]);
        plain[n - 1] = 0x2f; // -16, SHA-256
        assert!(ManufacturerDiState::from_cbor(&plain).is_err());
    }
}
