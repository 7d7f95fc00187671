use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256, Sha384};

use crate::Error;
use crate::types::{HMac, Hash, HashAlg};

/// `H(parts[0] ‖ parts[1] ‖ …)` with SHA-256 or SHA-384.
pub fn hash(alg: HashAlg, parts: &[&[u8]]) -> Result<Hash, Error> {
    fn run<D: Digest>(parts: &[&[u8]]) -> alloc::vec::Vec<u8> {
        let mut d = D::new();
        for p in parts {
            d.update(p);
        }
        d.finalize().to_vec()
    }
    let value = match alg {
        HashAlg::SHA256 => run::<Sha256>(parts),
        HashAlg::SHA384 => run::<Sha384>(parts),
        other => return Err(Error::unsupported(alloc::format!("hash algorithm {other}"))),
    };
    Hash::new(alg, value)
}

/// `HMAC(key, data)` with HMAC-SHA256 or HMAC-SHA384.
pub fn hmac(alg: HashAlg, key: &[u8], data: &[u8]) -> Result<HMac, Error> {
    fn run<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> alloc::vec::Vec<u8> {
        // HMAC takes keys of any length; new_from_slice cannot fail for it.
        match <M as KeyInit>::new_from_slice(key) {
            Ok(mut m) => {
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            Err(_) => alloc::vec::Vec::new(),
        }
    }
    let value = match alg {
        HashAlg::HMAC_SHA256 => run::<hmac::Hmac<Sha256>>(key, data),
        HashAlg::HMAC_SHA384 => run::<hmac::Hmac<Sha384>>(key, data),
        other => return Err(Error::unsupported(alloc::format!("HMAC algorithm {other}"))),
    };
    HMac::new(alg, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_answer() {
        // FIPS 180-2 "abc"
        let h = hash(HashAlg::SHA256, &[b"a", b"bc"]).unwrap();
        assert_eq!(
            hex::encode(h.value()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hmac_sha256_rfc4231_case2() {
        let m = hmac(
            HashAlg::HMAC_SHA256,
            b"Jefe",
            b"what do ya want for nothing?",
        )
        .unwrap();
        assert_eq!(
            hex::encode(m.value()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(hmac(HashAlg::SHA256, b"k", b"d").is_err());
    }
}
