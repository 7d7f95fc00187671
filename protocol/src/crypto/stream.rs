//! A keyed random stream: block *i* is `HMAC-SHA256(key, label ‖ i as u64 big-endian)`.
//!
//! With a secret key drawn from a cryptographic generator it is as unpredictable as that
//! generator (HMAC is a PRF), and the same key gives the same stream. The TO2 owner uses it to
//! re-create its key-exchange key from a stored seed; [`super::test::SeededRng`] uses it, with a
//! public seed, for reproducible test vectors.

use core::convert::Infallible;

use hmac::{KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// An HMAC-SHA256 counter-mode stream (see the module documentation).
#[derive(Clone)]
pub(crate) struct HmacStream {
    key: Zeroizing<[u8; 32]>,
    label: &'static [u8],
    counter: u64,
    block: Zeroizing<[u8; 32]>,
    used: usize,
}

impl HmacStream {
    /// A stream keyed with `key`, each block's input prefixed with `label`.
    pub(crate) fn new(key: [u8; 32], label: &'static [u8]) -> Self {
        Self {
            key: Zeroizing::new(key),
            label,
            counter: 0,
            block: Zeroizing::new([0; 32]),
            used: 32,
        }
    }

    /// How many blocks were drawn.
    pub(crate) fn counter(&self) -> u64 {
        self.counter
    }

    fn refill(&mut self) {
        // HMAC takes keys of any length: keying cannot fail, and a failure would leave the
        // block as it was rather than panic.
        if let Ok(mut m) = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(&self.key[..]) {
            m.update(self.label);
            m.update(&self.counter.to_be_bytes());
            self.block.copy_from_slice(&m.finalize().into_bytes());
        }
        self.counter = self.counter.wrapping_add(1);
        self.used = 0;
    }
}

impl rand_core::TryRng for HmacStream {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let mut off = 0;
        while off < dst.len() {
            if self.used == self.block.len() {
                self.refill();
            }
            let n = (dst.len() - off).min(self.block.len() - self.used);
            dst[off..off + n].copy_from_slice(&self.block[self.used..self.used + n]);
            self.used += n;
            off += n;
        }
        Ok(())
    }
}

/// Cryptographic when keyed with a secret; see the module documentation.
impl rand_core::TryCryptoRng for HmacStream {}
