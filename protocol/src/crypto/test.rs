//! **For tests and conformance vectors only**: a deterministic random source.
//!
//! [`SeededRng`] expands a seed with HMAC-SHA256 in counter mode, so every key, nonce and IV a
//! run draws from it is reproducible byte for byte. It is *not* a secure generator for real
//! use: anyone who knows the seed knows every output. Production code takes the operating
//! system's generator instead.

use core::convert::Infallible;

use super::stream::HmacStream;

/// A reproducible random source: block *i* is `HMAC-SHA256(SHA-256(seed), i as u64 big-endian)`.
#[derive(Clone)]
pub struct SeededRng(HmacStream);

impl core::fmt::Debug for SeededRng {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SeededRng(counter={})", self.0.counter())
    }
}

impl SeededRng {
    /// A generator whose whole output is determined by `seed`.
    pub fn new(seed: &[u8]) -> Self {
        use sha2::Digest;
        Self(HmacStream::new(sha2::Sha256::digest(seed).into(), b""))
    }
}

impl rand_core::TryRng for SeededRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        self.0.try_next_u32()
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0.try_next_u64()
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.0.try_fill_bytes(dst)
    }
}

/// Marks [`SeededRng`] usable where a cryptographic generator is required, so that
/// deterministic vectors can exercise the real code paths. See the module documentation.
impl rand_core::TryCryptoRng for SeededRng {}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::Rng;

    #[test]
    fn same_seed_same_stream_and_chunking_does_not_matter() {
        let mut a = SeededRng::new(b"seed");
        let mut b = SeededRng::new(b"seed");
        let mut x = [0u8; 100];
        a.fill_bytes(&mut x);
        let mut y = [0u8; 100];
        b.fill_bytes(&mut y[..7]);
        b.fill_bytes(&mut y[7..]);
        assert_eq!(x, y);
        let mut c = SeededRng::new(b"other");
        let mut z = [0u8; 100];
        c.fill_bytes(&mut z);
        assert_ne!(x, z);
    }
}
