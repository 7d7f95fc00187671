//! Voucher verification per second by number of entries (ES256 chains), against the cost of
//! the signature verifications it cannot avoid.

use std::time::{Duration, Instant};

use vouch_protocol::cbor::Cbor;
use vouch_protocol::crypto::test::SeededRng;
use vouch_protocol::crypto::{CryptoProvider, RustCrypto, Signer as _, SigningKey};
use vouch_protocol::types::{Guid, HashAlg, PkEnc, PkType, RendezvousInfo};
use vouch_protocol::voucher::{OvHeader, OwnershipVoucher};

const C: RustCrypto = RustCrypto;
const SECRET: &[u8] = b"bench secret";

/// A P-256 voucher with `entries` entries, its header HMAC made with [`SECRET`].
pub fn voucher(entries: usize) -> anyhow::Result<Vec<u8>> {
    let mut rng = SeededRng::new(b"vouch-bench voucher");
    let mfg = SigningKey::generate(PkType::SECP256R1, &mut rng)?;
    let chain = vec![vec![0x30; 500], vec![0x30; 700]];
    let header = OvHeader::new(
        &C,
        Guid([7; 16]),
        RendezvousInfo::default(),
        "vouch-bench",
        mfg.public_key(PkEnc::X509)?,
        Some(&chain),
        HashAlg::SHA256,
    )?;
    let hmac = C.hmac(HashAlg::HMAC_SHA256, SECRET, &header.to_cbor())?;
    let mut ov = OwnershipVoucher::new(&C, header, hmac, Some(chain))?;
    let mut owner = mfg;
    for _ in 0..entries {
        let next = SigningKey::generate(PkType::SECP256R1, &mut rng)?;
        ov = ov.extend(&C, &owner, next.public_key(PkEnc::X509)?)?;
        owner = next;
    }
    Ok(ov.to_cbor())
}

/// Decodes and fully verifies `bytes` (header HMAC included) for about `budget`; returns the
/// mean time of one.
pub fn time_verify(bytes: &[u8], budget: Duration) -> anyhow::Result<Duration> {
    let once = || -> anyhow::Result<()> {
        OwnershipVoucher::from_cbor(bytes)?.verify(&C, Some(SECRET), None)?;
        Ok(())
    };
    once()?;
    let started = Instant::now();
    let mut n = 0u32;
    while n < 10 || started.elapsed() < budget {
        once()?;
        n += 1;
    }
    Ok(started.elapsed() / n)
}
