//! `vouch-rp voucher inspect | verify | extend`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use vouch_protocol::cbor::Cbor;
use vouch_protocol::credential::DeviceCredential;
use vouch_protocol::crypto::{CryptoProvider, RustCrypto};
use vouch_protocol::types::PkBody;
use vouch_protocol::voucher::OwnershipVoucher;

use crate::keys;

/// Output encoding of a voucher.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// PEM, label `OWNERSHIP VOUCHER`.
    Pem,
    /// Raw CBOR.
    Cbor,
}

/// Reads a voucher file, PEM or raw CBOR.
pub fn read_voucher(path: &Path) -> Result<OwnershipVoucher> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    OwnershipVoucher::from_bytes(&bytes)
        .with_context(|| format!("{}: not an ownership voucher", path.display()))
}

/// A readable summary: GUID, device info, RV info, keys, entries, chain hash.
pub fn inspect(ov: &OwnershipVoucher, out: &mut dyn Write) -> Result<()> {
    write!(out, "{ov}")?;
    let crypto = RustCrypto;
    if let Some(chain) = ov.cert_chain() {
        for (i, cert) in chain.iter().enumerate() {
            let fp = crypto.hash(vouch_protocol::types::HashAlg::SHA256, &[cert])?;
            writeln!(
                out,
                "  device cert [{i}] {} bytes, SHA-256 {}",
                cert.len(),
                hex::encode(fp.value())
            )?;
        }
    }
    let owner = ov.owner_key();
    let detail = match &owner.body {
        PkBody::X509(spki) => format!(
            "SPKI SHA-256 {}",
            hex::encode(
                crypto
                    .hash(vouch_protocol::types::HashAlg::SHA256, &[spki])?
                    .value()
            )
        ),
        _ => String::from("(not X509-encoded)"),
    };
    writeln!(out, "owner key         {owner} {detail}")?;
    Ok(())
}

/// The outcome of `voucher verify`: `Ok(Err(msg))` is a voucher that fails a check.
pub fn verify(
    ov: OwnershipVoucher,
    credential: Option<&Path>,
    secret_hex: Option<&str>,
) -> Result<Result<String, String>> {
    let dc = match credential {
        Some(p) => {
            let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            Some(
                DeviceCredential::from_any(&bytes)
                    .with_context(|| format!("{}: not a device credential", p.display()))?,
            )
        }
        None => None,
    };
    let secret = secret_hex
        .map(hex::decode)
        .transpose()
        .context("--device-secret must be hexadecimal")?;
    let entries = ov.entries().len();
    match ov.verify(&RustCrypto, secret.as_deref(), dc.as_ref()) {
        Ok(v) => {
            let hmac = if v.hmac_checked() {
                "checked"
            } else {
                "not checked (no device secret)"
            };
            Ok(Ok(format!(
                "voucher verifies: {entries} entries, header HMAC {hmac}, owner key {}",
                v.owner_key()
            )))
        }
        Err(e) => Ok(Err(e.to_string())),
    }
}

/// Extends `ov` to the key in `next_owner`, signed with the private key in `owner_key`.
pub fn extend(
    ov: &OwnershipVoucher,
    owner_key: &Path,
    next_owner: &Path,
) -> Result<OwnershipVoucher> {
    let signer = keys::read_signing_key(owner_key)?;
    let next = keys::read_public_key(next_owner)?;
    let mfg = ov.header().manufacturer_key.value();
    // The next owner key takes the encoding of the chain: X509 stands in for X5CHAIN, since a
    // bare public key has no certificate.
    let enc = if mfg.enc == vouch_protocol::types::PkEnc::X5CHAIN {
        vouch_protocol::types::PkEnc::X509
    } else {
        mfg.enc
    };
    let next = next.to_public_key(enc, mfg.pk_type)?;
    Ok(ov.extend(&RustCrypto, &signer, next)?)
}

/// Writes a voucher to `out` (a file, or standard output when `None`).
pub fn write_voucher(ov: &OwnershipVoucher, format: Format, out: Option<&PathBuf>) -> Result<()> {
    let bytes = match format {
        Format::Pem => ov.to_pem().into_bytes(),
        Format::Cbor => ov.to_cbor(),
    };
    match out {
        Some(p) => std::fs::write(p, bytes).with_context(|| format!("writing {}", p.display())),
        None => Ok(std::io::stdout().write_all(&bytes)?),
    }
}
