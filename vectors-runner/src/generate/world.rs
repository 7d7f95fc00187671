//! The devices, keys and vouchers the generated vectors are made from, all from fixed seeds.

use vouch_protocol::cbor::Cbor;
use vouch_protocol::credential::DeviceCredential;
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{CryptoProvider, RustCrypto, Signer, SigningKey};
use vouch_protocol::types::{
    Guid, HashAlg, PkEnc, PkType, ProtocolVersion, RendezvousInfo, RvDirective, RvInstruction,
    RvVariable,
};
use vouch_protocol::voucher::{OvHeader, OwnershipVoucher};

use super::{Ctx, R};

/// The provider the generator computes with.
pub const C: RustCrypto = RustCrypto;

/// The device's HMAC secret.
pub const SECRET: &[u8] = b"vouch vectors device secret 32 B";
/// OVDeviceInfo.
pub const DEVICE_INFO: &str = "vouch vectors device";
/// The device's GUID.
pub const GUID: Guid = Guid([0x5e; 16]);
/// The GUID the owner gives the device in a resale.
pub const NEW_GUID: Guid = Guid([0x5f; 16]);

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

/// A minimal X.509 v3 certificate for `key`, with empty names and a placeholder signature:
/// FDO reads only the leaf's key and hashes the chain's bytes.
pub fn certificate(key: &SigningKey, serial: u8) -> R<Vec<u8>> {
    let spki = key.verifying_key().to_spki_der().ctx("SPKI")?;
    // AlgorithmIdentifier { ecdsa-with-SHA256 (1.2.840.10045.4.3.2) }
    let alg = der(
        0x30,
        &der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
    );
    let name = der(0x30, &[]);
    let validity = der(
        0x30,
        &[der(0x17, b"260101000000Z"), der(0x17, b"360101000000Z")].concat(),
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
            spki,                        // subjectPublicKeyInfo
        ]
        .concat(),
    );
    Ok(der(0x30, &[tbs, alg, der(0x03, &[0x00])].concat()))
}

/// The rendezvous information of the device's credential.
pub fn rv_info() -> RendezvousInfo {
    RendezvousInfo(vec![RvDirective(vec![
        RvInstruction::dns("rv.example"),
        RvInstruction::uint(RvVariable::DEV_PORT, 8041),
        RvInstruction::uint(RvVariable::PROTOCOL, 1),
    ])])
}

/// The rendezvous information the owner gives the device in a resale.
pub fn new_rv_info() -> RendezvousInfo {
    RendezvousInfo(vec![RvDirective(vec![
        RvInstruction::dns("rv.new-owner.example"),
        RvInstruction::uint(RvVariable::DEV_PORT, 443),
        RvInstruction::uint(RvVariable::PROTOCOL, 2),
    ])])
}

/// A device, its credential, and a voucher made by its manufacturer and extended twice: to a
/// reseller, then to the owner.
pub struct World {
    pub pk_type: PkType,
    pub mfg: SigningKey,
    pub device_key: SigningKey,
    pub reseller: SigningKey,
    pub owner: SigningKey,
    pub next_owner: SigningKey,
    pub stranger: SigningKey,
    pub chain: Vec<Vec<u8>>,
    pub credential: DeviceCredential,
    /// The voucher with no entries, as the manufacturer made it.
    pub voucher0: OwnershipVoucher,
    /// Extended to the reseller, then to the owner.
    pub voucher: OwnershipVoucher,
}

impl World {
    /// The world of `pk_type` (P-256 or P-384) keys, with `enc` public keys.
    pub fn new(pk_type: PkType, enc: PkEnc) -> R<Self> {
        let mut rng = SeededRng::new(format!("vouch vectors world {pk_type} {enc}").as_bytes());
        let mut key = || SigningKey::generate(pk_type, &mut rng).ctx("key");
        let (mfg, device_key, ca, reseller, owner, next_owner, stranger) =
            (key()?, key()?, key()?, key()?, key()?, key()?, key()?);
        let chain = vec![certificate(&device_key, 1)?, certificate(&ca, 2)?];
        let alg = Self::hash_alg_of(pk_type);
        let header = OvHeader::new(
            &C,
            GUID,
            rv_info(),
            DEVICE_INFO,
            mfg.public_key(enc).ctx("manufacturer key")?,
            Some(&chain),
            alg,
        )
        .ctx("header")?;
        let hmac = C
            .hmac(
                alg.hmac_counterpart().ctx("HMAC algorithm")?,
                SECRET,
                &header.to_cbor(),
            )
            .ctx("HMAC")?;
        let voucher0 =
            OwnershipVoucher::new(&C, header, hmac, Some(chain.clone())).ctx("voucher")?;
        let voucher = voucher0
            .extend(&C, &mfg, reseller.public_key(enc).ctx("reseller key")?)
            .ctx("extend to the reseller")?
            .extend(&C, &reseller, owner.public_key(enc).ctx("owner key")?)
            .ctx("extend to the owner")?;
        let credential = DeviceCredential {
            active: true,
            protocol_version: ProtocolVersion::V101,
            hmac_secret: Some(zeroize::Zeroizing::new(SECRET.to_vec())),
            device_info: DEVICE_INFO.into(),
            guid: GUID,
            rv_info: rv_info(),
            pub_key_hash: C
                .hash(alg, &[voucher.header().manufacturer_key.bytes()])
                .ctx("DCPubKeyHash")?,
            device_key: Some(device_key.to_pkcs8_der().ctx("device key")?),
        };
        Ok(Self {
            pk_type,
            mfg,
            device_key,
            reseller,
            owner,
            next_owner,
            stranger,
            chain,
            credential,
            voucher0,
            voucher,
        })
    }

    /// SHA-256 for P-256 worlds, SHA-384 for P-384 ones.
    pub fn hash_alg_of(pk_type: PkType) -> HashAlg {
        if pk_type == PkType::SECP384R1 {
            HashAlg::SHA384
        } else {
            HashAlg::SHA256
        }
    }

    /// The world's plain hash algorithm.
    pub fn hash_alg(&self) -> HashAlg {
        Self::hash_alg_of(self.pk_type)
    }
}

/// PKCS#8 DER of a key, for a vector's inputs.
pub fn pkcs8(key: &SigningKey) -> R<Vec<u8>> {
    Ok(key.to_pkcs8_der().ctx("PKCS#8")?.to_vec())
}
