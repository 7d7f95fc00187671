//! TO2: the device and its owner prove themselves to each other, agree on a session key,
//! exchange ServiceInfo, and the device takes its new credential (FDO reference §2.4, §5).
//!
//! ```text
//! device (To2Device)                                  owner (server: start/finish steps)
//!   start ──────────── 60 HelloDevice ──────────────▶ hello_device_guid → look the voucher up
//!                                                     → hello_device → ExpectProveDevice
//!         ◀─────────── 61 ProveOVHdr ───────────────
//!   checks §5.2 1–5 ── 62 GetOVNextEntry(i) ────────▶ ExpectProveDevice::get_ov_next_entry
//!         ◀─────────── 63 OVNextEntry(i) ──────────── (once per entry)
//!   §5.2 6–11 ──────── 64 ProveDevice ──────────────▶ ExpectProveDevice::prove_device
//!                                                     → ExpectServiceInfoReady
//!   ═══════════════════ encrypted from here on ═══════════════════════════════════════════
//!         ◀─────────── 65 SetupDevice ───────────────
//!   §5.4 1–4 ───────── 66 DeviceServiceInfoReady ───▶ device_service_info_ready
//!         ◀─────────── 67 OwnerServiceInfoReady ───── → ExpectServiceInfo
//!   ServiceInfo ────── 68 DeviceServiceInfo ────────▶ ExpectServiceInfo::device_service_info
//!         ◀─────────── 69 OwnerServiceInfo ────────── (until IsDone)
//!   ────────────────── 70 Done ─────────────────────▶ ExpectServiceInfo::done
//!         ◀─────────── 71 Done2 ───────────────────── → OwnerOutcome (replacement voucher)
//!   → DeviceOutcome (new credential)
//! ```
//!
//! Every check of FDO reference §5.1–§5.5 is made, each failing with its own error and the FDO
//! code the reference gives it, against the message being handled ([`FlowError::prev`]):
//! MESSAGE_BODY_ERROR (100) for what does not parse or is not acceptable,
//! INVALID_MESSAGE_ERROR (101) for a failed nonce, signature, hash, MAC or decryption check and
//! an entry number out of place, RESOURCE_NOT_FOUND (6) for a GUID without a usable voucher,
//! CRED_REUSE_ERROR (102) when the device refuses credential reuse, and
//! INTERNAL_SERVER_ERROR (500) for a fault in the caller's own data or keys.
//!
//! * The device side ([`To2Device`]) lives in memory for one session and holds its key and
//!   credential by reference. It commits nothing: the new credential comes out of
//!   [`To2Device::receive`] only after TO2.Done2 verified ([`DeviceOutcome`]).
//! * The owner side is a set of steps over states the relying party keeps in its database
//!   between requests ([`OwnerState`], which encodes to versioned CBOR).
//!
//! **The owner's states are confidential.** Unlike the other protocols' server states, they
//! must hold secrets: the seed of the owner's key-exchange key until TO2.ProveDevice, and the
//! session key after it, because the next request may reach another instance of the relying
//! party. Whoever reads a stored state can decrypt the rest of that session and speak for the
//! owner in it. Store it only on the server (never in a cookie, a token or anything sent to the
//! device), encrypt it at rest where the database allows, and delete it when the session ends;
//! `Debug` does not print the secrets, and they are wiped from memory when a state is dropped.

mod device;
mod owner;

#[cfg(test)]
mod tests;

use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::cose::Sign1;
use crate::crypto::CryptoProvider;
use crate::crypto::aead::{CipherSuite, SessionKeys};
use crate::crypto::kdf::{self, Prf};
use crate::crypto::kex::{self, KexSuite, OwnerKex, SharedSecret};
use crate::crypto::stream::HmacStream;
use crate::error::VerifyError;
use crate::flows::{FlowError, decode};
use crate::messages::{ErrorMessage, Message, MessageType};
use crate::types::{HashAlg, PkEnc, PkType, PublicKey, SgType};
use crate::voucher::{OvEntry, OvHeader};
use crate::{Error, ErrorCode};

pub use device::{DeviceConfig, DeviceOutcome, DeviceStep, To2Device};
pub use owner::{
    ExpectProveDevice, ExpectServiceInfo, ExpectServiceInfoReady, OwnerConfig, OwnerOutcome,
    OwnerState, Replacement, hello_device, hello_device_guid,
};

/// The key types a device sgType names. fdo-rs devices claim ES384 for P-256 keys, which
/// [`sg_type_fits`] accepts separately.
fn sg_type_keys(sg: SgType) -> &'static [PkType] {
    match sg {
        SgType::ES256 => &[PkType::SECP256R1],
        SgType::ES384 => &[PkType::SECP384R1],
        SgType::RS256 | SgType::RS384 => &[PkType::RSA2048RESTR, PkType::RSAPKCS],
        SgType::PS256 | SgType::PS384 => &[PkType::RSAPSS],
        _ => &[],
    }
}

/// §5.1 step 3: eASigInfo's sgType matches the voucher's key type. Accepted when its key type
/// is the device attestation key's, or the manufacturer key's (go-fdo's rule), or when it is
/// ES384 for a P-256 device key (what fdo-rs devices send).
fn sg_type_fits(sg: SgType, device: PkType, manufacturer: PkType) -> bool {
    let keys = sg_type_keys(sg);
    keys.contains(&device)
        || keys.contains(&manufacturer)
        || (sg == SgType::ES384 && device == PkType::SECP256R1)
}

/// The sgType a device key signs with.
fn sg_type_of(alg: crate::crypto::SigAlg) -> Result<SgType, Error> {
    use crate::crypto::SigAlg;
    Ok(match alg {
        SigAlg::ES256 => SgType::ES256,
        SigAlg::ES384 => SgType::ES384,
        SigAlg::RS256 => SgType::RS256,
        SigAlg::RS384 => SgType::RS384,
        SigAlg::PS256 => SgType::PS256,
        SigAlg::PS384 => SgType::PS384,
        other => {
            return Err(Error::unsupported(alloc::format!(
                "device attestation with {other:?}"
            )));
        }
    })
}

/// The key exchange suite is valid for the device and owner key types (FDO reference §4.1,
/// go-fdo `kex.Suite.Valid`): ECDH256 with a P-256 owner key, ECDH384 with a P-384 one, either
/// for a P-256 or P-384 device (the cross pairings are allowed, if not recommended); any suite
/// for an RSA device. The finite-field and RSA suites are not implemented.
fn kex_suite_valid(suite: &KexSuite, device: PkType, owner: PkType) -> bool {
    let ec = |t: PkType| matches!(t, PkType::SECP256R1 | PkType::SECP384R1);
    let owner_ok = if *suite == KexSuite::ECDH256 {
        owner == PkType::SECP256R1
    } else if *suite == KexSuite::ECDH384 {
        owner == PkType::SECP384R1
    } else {
        false
    };
    owner_ok && (ec(device) || device.is_rsa())
}

/// Fails unless both suites are implemented here (ECDH256/ECDH384, A128GCM/A256GCM).
fn check_suites(kex: &KexSuite, cipher: CipherSuite) -> Result<(), Error> {
    if !kex.is_implemented() {
        return Err(Error::unsupported(alloc::format!(
            "key exchange suite {kex}"
        )));
    }
    if !cipher.is_implemented() {
        return Err(Error::unsupported(alloc::format!("cipher suite {cipher}")));
    }
    Ok(())
}

/// SEVK for `suite` from the shared secret, exactly as [`SessionKeys::derive`] computes it
/// (the FDO KDF with HMAC-SHA256, L = 128 or 256 bits), returned so the owner can store it.
fn derive_sevk(suite: CipherSuite, secret: &SharedSecret) -> Result<Zeroizing<Vec<u8>>, Error> {
    let len = match suite {
        CipherSuite::A128GCM => 16,
        CipherSuite::A256GCM => 32,
        other => return Err(Error::unsupported(alloc::format!("cipher suite {other}"))),
    };
    let mut sevk = Zeroizing::new(alloc::vec![0u8; len]);
    kdf::derive(
        Prf::HmacSha256,
        secret.shse(),
        secret.context_rand(),
        &mut sevk,
    )?;
    Ok(sevk)
}

/// The owner's key-exchange key for a session, made again from its secret seed.
///
/// [`OwnerKex`] cannot be stored, so the owner keeps 32 secret bytes drawn from its random
/// source and expands them, whenever it needs the key, into the random stream
/// [`kex::start`] draws from: HMAC-SHA256(seed, counter), a PRF keyed with a secret, so the
/// key is as unpredictable as one drawn directly. The same seed gives the same key and xA;
/// the owner keeps xA as well and refuses a seed that no longer gives it (another release
/// of the key generation).
fn owner_kex(seed: &[u8; 32], suite: &KexSuite) -> Result<(OwnerKex, Vec<u8>), Error> {
    let mut stream = HmacStream::new(*seed, b"vouch TO2 owner key exchange");
    kex::start(suite, &mut stream)
}

/// Encrypts message `m` for the peer (TO2 65–71).
fn seal<M: Message>(
    keys: &SessionKeys,
    m: &M,
    rng: &mut dyn rand_core::CryptoRng,
    prev: MessageType,
) -> Result<crate::flows::Outgoing, FlowError> {
    let body = keys
        .seal(&m.to_cbor(), rng)
        .map_err(|e| FlowError::with_code(e, prev, ErrorCode::INTERNAL_SERVER_ERROR))?;
    Ok(crate::flows::Outgoing {
        msg_type: M::TYPE,
        body,
    })
}

/// Decrypts and decodes an encrypted message of the expected type. A failed authentication is
/// INVALID_MESSAGE_ERROR (101); what does not parse, MESSAGE_BODY_ERROR (100).
fn open<M: Message>(
    keys: &SessionKeys,
    msg_type: MessageType,
    body: &[u8],
) -> Result<M, FlowError> {
    if msg_type != M::TYPE {
        return Err(unexpected(msg_type, body, M::TYPE));
    }
    let plain = Zeroizing::new(keys.open(body).map_err(|e| FlowError::new(e, msg_type))?);
    M::from_cbor(&plain).map_err(|e| FlowError::new(e, msg_type))
}

/// Decodes a plaintext message of the expected type.
fn plain<M: Message>(msg_type: MessageType, body: &[u8]) -> Result<M, FlowError> {
    if msg_type != M::TYPE {
        return Err(unexpected(msg_type, body, M::TYPE));
    }
    decode(msg_type, body)
}

/// The error for a message of another type than `want`. An error message (255) from the peer
/// becomes a [`FlowError`] with the peer's code and [`MessageType::ERROR`] as `prev`: the
/// protocol is over, and no error message is to be sent back for it.
fn unexpected(got: MessageType, body: &[u8], want: MessageType) -> FlowError {
    if got == MessageType::ERROR {
        use crate::cbor::Cbor;
        return match ErrorMessage::from_cbor(body) {
            Ok(m) => FlowError::with_code(
                Error::invalid("TO2", alloc::format!("the peer stopped: {m}")),
                MessageType::ERROR,
                m.code,
            ),
            Err(e) => FlowError::new(e, MessageType::ERROR),
        };
    }
    crate::flows::unexpected(got, want)
}

/// A verification failure, reported as INVALID_MESSAGE_ERROR (101) whatever the error (a
/// signature whose algorithm does not suit the key fails the same check).
fn invalid_message(e: impl Into<Error>, prev: MessageType) -> FlowError {
    FlowError::with_code(e, prev, ErrorCode::INVALID_MESSAGE_ERROR)
}

/// A fault in the caller's own data or keys: INTERNAL_SERVER_ERROR (500).
fn internal(e: impl Into<Error>, prev: MessageType) -> FlowError {
    FlowError::with_code(e, prev, ErrorCode::INTERNAL_SERVER_ERROR)
}

/// Verifies a Sign1 with `key`, as a 101 failure naming `what`.
fn verify_sign1(
    crypto: &dyn CryptoProvider,
    sign1: &Sign1,
    key: &PublicKey,
    what: &'static str,
    prev: MessageType,
) -> Result<(), FlowError> {
    sign1.verify(crypto, key, what).map_err(|e| match e {
        Error::Verify(v) => invalid_message(v, prev),
        // A signature algorithm that does not suit the key: the same failed check.
        _ => invalid_message(VerifyError::Signature(what), prev),
    })
}

/// The encoding the owner gives Owner2Key: that of the current owner key when it is COSEKEY,
/// X509 otherwise (an X5CHAIN key needs a certificate the signer does not have).
fn owner2_encoding(current: &PublicKey) -> PkEnc {
    if current.enc == PkEnc::COSEKEY {
        PkEnc::COSEKEY
    } else {
        PkEnc::X509
    }
}

/// The device's check of the voucher entries it fetches one by one (FDO reference §5.2 step 7).
///
/// [`crate::voucher::OwnershipVoucher::verify`] cannot serve here: the device never has the
/// voucher's certificate chain, whose hash that verification checks, and it receives the
/// entries one message at a time. The checks and their errors are the same: every entry's key
/// has the manufacturer key's type and encoding, one hash algorithm throughout (entry 0's),
/// entry *i* signed by the previous key, OVEHashPrevEntry over the header bytes and encoded
/// HMAC (entry 0) or the whole previous entry, OVEHashHdrInfo = H(GUID ‖ DeviceInfo).
struct EntryChain {
    header_bytes: Vec<u8>,
    header: OvHeader,
    hmac_bytes: Vec<u8>,
    alg: Option<HashAlg>,
    prev_key: PublicKey,
    prev_entry: Option<Vec<u8>>,
    index: usize,
}

impl EntryChain {
    fn new(header_bytes: Vec<u8>, header: OvHeader, hmac_bytes: Vec<u8>) -> Self {
        let prev_key = header.manufacturer_key.value().clone();
        Self {
            header_bytes,
            header,
            hmac_bytes,
            alg: None,
            prev_key,
            prev_entry: None,
            index: 0,
        }
    }

    /// The key of the last entry checked (the owner key once all are).
    fn owner_key(&self) -> &PublicKey {
        &self.prev_key
    }

    fn push(&mut self, crypto: &dyn CryptoProvider, entry: &OvEntry) -> Result<(), Error> {
        let index = self.index;
        let p = entry.payload();
        // Every entry key has the manufacturer key's type and encoding.
        let mfg = self.header.manufacturer_key.value();
        let spki = |e: PkEnc| e == PkEnc::X509 || e == PkEnc::X5CHAIN;
        let key = entry.public_key();
        if key.pk_type != mfg.pk_type || !(key.enc == mfg.enc || (spki(key.enc) && spki(mfg.enc))) {
            return Err(VerifyError::EntryKeyType { index }.into());
        }
        // One hash algorithm for the whole chain: entry 0's.
        let alg = *self.alg.get_or_insert(p.prev_entry_hash.alg());
        if p.prev_entry_hash.alg() != alg || p.header_info_hash.alg() != alg {
            return Err(VerifyError::EntryHashType { index }.into());
        }
        // Entry i is signed by the previous owner (the manufacturer for entry 0).
        entry
            .sign1()
            .verify(crypto, &self.prev_key, "voucher entry")
            .map_err(|_| VerifyError::EntrySignature { index })?;
        // OVEHashPrevEntry links to the header (entry 0) or to the previous entry.
        let prev = match &self.prev_entry {
            None => crypto.hash(alg, &[&self.header_bytes, &self.hmac_bytes])?,
            Some(bytes) => crypto.hash(alg, &[bytes])?,
        };
        if !prev.ct_eq(&p.prev_entry_hash) {
            return Err(VerifyError::EntryPrevHash { index }.into());
        }
        // OVEHashHdrInfo = H(GUID ‖ DeviceInfo).
        if !self
            .header
            .header_info_hash(crypto, alg)?
            .ct_eq(&p.header_info_hash)
        {
            return Err(VerifyError::EntryHeaderInfoHash { index }.into());
        }
        self.prev_key = key.clone();
        self.prev_entry = Some(entry.sign1().bytes().to_vec());
        self.index += 1;
        Ok(())
    }
}
