//! The FDO session key derivation: NIST SP 800-108 in counter mode with HMAC as the PRF.
//!
//! ```text
//! for i = 1..n:  K(i) = HMAC(key = ShSe,
//!                            data = [i]_1byte ‖ "FIDO-KDF" ‖ 0x00 ‖ "AutomaticOnboardTunnel"
//!                                   ‖ ContextRand ‖ [L]_2bytes_BE)
//! output = leftmost L bits of K(1) ‖ K(2) ‖ …
//! ```
//!
//! The counter is one byte (r = 8) and L, the output length in bits, is written once as a
//! 16-bit big-endian number. Early fdo-rs versions used a 32-bit counter and their own handling
//! of L (FDO-REFERENCE §6, pitfall 2); that "non-interoperable KDF" is deliberately not offered.

use hmac::digest::OutputSizeUser;
use hmac::{KeyInit, Mac};
use sha2::{Sha256, Sha384};

use crate::Error;

/// The label of the FDO KDF, followed on the wire by a 0x00 separator.
pub const LABEL: &[u8] = b"FIDO-KDF";

/// The fixed part of the FDO KDF context, followed by `ContextRand`.
pub const CONTEXT: &[u8] = b"AutomaticOnboardTunnel";

/// The PRF of the KDF.
///
/// HMAC-SHA256 serves A128GCM, A256GCM, the AES-CCM suites and the 128-bit CTR/CBC suites;
/// HMAC-SHA384 serves the 256-bit CTR/CBC suites (FDO-REFERENCE §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Prf {
    /// HMAC-SHA256 (32-byte blocks).
    HmacSha256,
    /// HMAC-SHA384 (48-byte blocks).
    HmacSha384,
}

impl Prf {
    /// The size of one PRF output block, in bytes.
    pub fn block_len(self) -> usize {
        match self {
            Self::HmacSha256 => <hmac::Hmac<Sha256> as OutputSizeUser>::output_size(),
            Self::HmacSha384 => <hmac::Hmac<Sha384> as OutputSizeUser>::output_size(),
        }
    }

    /// The longest output, in bytes, this PRF can produce here: 255 blocks (the counter is one
    /// byte) and no more than L = 65535 bits.
    pub fn max_output_len(self) -> usize {
        (self.block_len() * usize::from(u8::MAX)).min(usize::from(u16::MAX) / 8)
    }
}

/// Fills `out` with the leftmost `L = 8 · out.len()` bits of the KDF output keyed with `shse`.
///
/// `context_rand` is empty for the ECDH and DH suites and OwnerRandom for ASYMKEX. The output
/// is a whole number of bytes, which every FDO key is. Fails with [`Error::Misuse`] when `out`
/// is empty or longer than [`Prf::max_output_len`].
pub fn derive(prf: Prf, shse: &[u8], context_rand: &[u8], out: &mut [u8]) -> Result<(), Error> {
    if out.is_empty() || out.len() > prf.max_output_len() {
        return Err(Error::Misuse(
            "KDF output length (1 to 255 PRF blocks, L < 2^16 bits)",
        ));
    }
    match prf {
        Prf::HmacSha256 => counter_mode::<hmac::Hmac<Sha256>>(shse, context_rand, out),
        Prf::HmacSha384 => counter_mode::<hmac::Hmac<Sha384>>(shse, context_rand, out),
    }
}

fn counter_mode<M: Mac + KeyInit + Clone>(
    shse: &[u8],
    context_rand: &[u8],
    out: &mut [u8],
) -> Result<(), Error> {
    let too_long = || Error::Misuse("KDF output length");
    let l_bits = out
        .len()
        .checked_mul(8)
        .and_then(|bits| u16::try_from(bits).ok())
        .ok_or_else(too_long)?;
    // HMAC accepts keys of any length, so this cannot fail.
    let keyed = <M as KeyInit>::new_from_slice(shse)
        .map_err(|_| Error::Misuse("HMAC key of an unsupported length"))?;
    for (index, chunk) in out
        .chunks_mut(<M as OutputSizeUser>::output_size())
        .enumerate()
    {
        let counter = index
            .checked_add(1)
            .and_then(|i| u8::try_from(i).ok())
            .ok_or_else(too_long)?;
        let mut mac = keyed.clone();
        mac.update(&[counter]);
        mac.update(LABEL);
        mac.update(&[0x00]);
        mac.update(CONTEXT);
        mac.update(context_rand);
        mac.update(&l_bits.to_be_bytes());
        // The block is wiped when `block` is dropped (digest's `zeroize` feature).
        let block = mac.finalize();
        chunk.copy_from_slice(&block.as_bytes()[..chunk.len()]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// go-fdo `internal/nistkdf/kdf_test.go` (FDO-REFERENCE §4.1): SHA-256, ContextRand empty,
    /// L = 256.
    const GO_FDO_SHSE: &str = "08c9dc0cc5e9dd2558a12ae60cd00670d01a09cca52bae8a671a21e1babdb25b\
                               c21963c48b4aa77bb8ed338f0c5a15efee069ce10a09be2aacf857b8dcd9df8e";
    const GO_FDO_KEY: &str = "e5e959c8cbdd5989c819f7ea8c69bcb3f70a442830ba235c5aa0b4047d0cda0b";

    #[test]
    fn go_fdo_known_answer_sha256_l256() {
        let shse = hex::decode(GO_FDO_SHSE).unwrap();
        let mut out = [0u8; 32];
        derive(Prf::HmacSha256, &shse, &[], &mut out).unwrap();
        assert_eq!(hex::encode(out), GO_FDO_KEY);
    }

    #[test]
    fn first_block_is_the_hmac_of_the_fixed_input() {
        // K(1) computed by hand from the formula, through the crate's plain HMAC.
        let shse = hex::decode(GO_FDO_SHSE).unwrap();
        let mut data = alloc::vec![0x01];
        data.extend_from_slice(b"FIDO-KDF\x00AutomaticOnboardTunnel");
        data.extend_from_slice(&[0xaa, 0xbb]); // ContextRand
        data.extend_from_slice(&[0x00, 0x80]); // L = 128 bits
        let k1 = crate::crypto::hmac(crate::types::HashAlg::HMAC_SHA256, &shse, &data).unwrap();
        let mut out = [0u8; 16];
        derive(Prf::HmacSha256, &shse, &[0xaa, 0xbb], &mut out).unwrap();
        assert_eq!(out[..], k1.value()[..16]);
    }

    #[test]
    fn l_is_part_of_every_block_so_outputs_are_not_prefixes() {
        let shse = [7u8; 48];
        let mut short = [0u8; 16];
        let mut long = [0u8; 32];
        derive(Prf::HmacSha256, &shse, &[], &mut short).unwrap();
        derive(Prf::HmacSha256, &shse, &[], &mut long).unwrap();
        assert_ne!(short[..], long[..16]);
    }

    #[test]
    fn multi_block_output_uses_counter_two() {
        // 48 bytes of SHA-256 output: K(1) ‖ leftmost 16 bytes of K(2), both with L = 384.
        let shse = [9u8; 32];
        let block = |i: u8| {
            let mut data = alloc::vec![i];
            data.extend_from_slice(b"FIDO-KDF\x00AutomaticOnboardTunnel");
            data.extend_from_slice(&384u16.to_be_bytes());
            crate::crypto::hmac(crate::types::HashAlg::HMAC_SHA256, &shse, &data).unwrap()
        };
        let mut out = [0u8; 48];
        derive(Prf::HmacSha256, &shse, &[], &mut out).unwrap();
        assert_eq!(out[..32], block(1).value()[..]);
        assert_eq!(out[32..], block(2).value()[..16]);
    }

    #[test]
    fn sha384_differs_from_sha256() {
        let shse = [1u8; 64];
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        derive(Prf::HmacSha256, &shse, &[], &mut a).unwrap();
        derive(Prf::HmacSha384, &shse, &[], &mut b).unwrap();
        assert_ne!(a, b);
        assert_eq!(Prf::HmacSha384.block_len(), 48);
    }

    #[test]
    fn empty_and_oversized_outputs_are_misuse() {
        let mut empty = [0u8; 0];
        assert!(matches!(
            derive(Prf::HmacSha256, b"k", &[], &mut empty),
            Err(Error::Misuse(_))
        ));
        // SHA-256: 255 blocks of 32 bytes = 8160 bytes is the limit.
        assert_eq!(Prf::HmacSha256.max_output_len(), 8160);
        let mut ok = alloc::vec![0u8; 8160];
        derive(Prf::HmacSha256, b"k", &[], &mut ok).unwrap();
        let mut too_long = alloc::vec![0u8; 8161];
        assert!(matches!(
            derive(Prf::HmacSha256, b"k", &[], &mut too_long),
            Err(Error::Misuse(_))
        ));
        // SHA-384: L must fit 16 bits, so 8191 bytes.
        assert_eq!(Prf::HmacSha384.max_output_len(), 8191);
    }
}
