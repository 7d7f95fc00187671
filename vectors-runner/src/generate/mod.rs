//! The generator of vouch's own vectors.
//!
//! Every key, nonce and IV comes from [`SeededRng`](vouch_protocol::crypto::test::SeededRng)s
//! with fixed seeds, and the one timestamp from [`FIXED_TIME`], so two runs write the same
//! bytes. Positive cases record what vouch produces; negative cases are mutations of them,
//! each named after what it breaks, and each states the failure it must meet (never the
//! failure that happened to come out).
//!
//! The external vectors (`external/cases.json`) are not generated: they describe files other
//! implementations wrote, and are kept by hand with their provenance.

mod decode;
mod di;
mod peer;
mod pins;
mod primitives;
mod rendezvous;
mod reports;
mod serviceinfo;
mod to2;
mod voucher;
mod world;

use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};

use serde_json::Value;
use vouch_protocol::ErrorCode;

use crate::format::{Case, Expect, FORMAT, Kind, MANIFEST_NAME, Manifest, Source, to_file_text};

/// The time every generated vector is made at (2026-01-01T00:00:00Z, in Unix seconds).
pub const FIXED_TIME: u64 = 1_767_225_600;

/// Generator failures are messages: the generator runs on fixed inputs, so any failure is a bug
/// in it or in the library, reported instead of a panic.
pub type R<T> = Result<T, String>;

/// Attaches what was being done to an error.
pub trait Ctx<T> {
    /// The error as `what: error`.
    fn ctx(self, what: &str) -> R<T>;
}

impl<T, E: Display> Ctx<T> for Result<T, E> {
    fn ctx(self, what: &str) -> R<T> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

impl<T> Ctx<T> for Option<T> {
    fn ctx(self, what: &str) -> R<T> {
        self.ok_or_else(|| format!("{what}: missing"))
    }
}

/// Builds the cases of one group.
pub struct Group {
    name: &'static str,
    description: &'static str,
    cases: Vec<Case>,
}

impl Group {
    fn new(name: &'static str, description: &'static str) -> Self {
        Self {
            name,
            description,
            cases: Vec::new(),
        }
    }

    /// Adds a case `group/name`.
    fn add(
        &mut self,
        name: &str,
        description: &str,
        source: Source,
        kind: Kind,
        inputs: Vec<(&str, Value)>,
        expect: Expect,
    ) {
        self.cases.push(Case {
            id: format!("{}/{name}", self.name),
            description: description.to_string(),
            source,
            kind,
            inputs: inputs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            expect,
        });
    }

    fn manifest(self) -> Manifest {
        Manifest {
            format: FORMAT.to_string(),
            group: self.name.to_string(),
            description: self.description.to_string(),
            generated: true,
            cases: self.cases,
        }
    }
}

/// Success with these fields.
pub fn ok(fields: Vec<(&str, Value)>) -> Expect {
    Expect::Success {
        fields: fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<BTreeMap<_, _>>(),
    }
}

/// Failure with this FDO code and error kind.
pub fn fail(code: ErrorCode, error: &str) -> Expect {
    Expect::Failure {
        fdo_error: code.0,
        error: error.to_string(),
    }
}

/// A reference section as the source.
pub fn reference(section: &str) -> Source {
    Source::reference(section)
}

/// A reference section and a peer as the source.
pub fn peer(section: &str, peer: &str) -> Source {
    Source {
        reference: Some(section.to_string()),
        peer: Some(peer.to_string()),
        ..Source::default()
    }
}

/// `bytes` with the bit `mask` of byte `at` flipped.
pub fn flip(bytes: &[u8], at: usize, mask: u8) -> R<Vec<u8>> {
    let mut out = bytes.to_vec();
    *out.get_mut(at).ctx("flip: offset out of range")? ^= mask;
    Ok(out)
}

/// The offset of the first occurrence of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> R<usize> {
    if needle.is_empty() {
        return Err("find: empty needle".into());
    }
    hay.windows(needle.len())
        .position(|w| w == needle)
        .ctx("find: needle not in the bytes")
}

/// Every generated manifest: its path relative to the vectors directory, and its contents.
pub fn all_manifests() -> R<Vec<(PathBuf, Manifest)>> {
    let groups = [
        decode::group()?,
        voucher::group()?,
        primitives::digest_group()?,
        primitives::kdf_group()?,
        primitives::kex_group()?,
        primitives::cose_group()?,
        primitives::eat_group()?,
        to2::device_group()?,
        to2::owner_group()?,
        rendezvous::to0_group()?,
        rendezvous::to1_group()?,
        serviceinfo::group()?,
        di::group()?,
        rendezvous::to0_owner_group()?,
        rendezvous::to1_device_group()?,
        peer::group()?,
        reports::group()?,
        pins::group()?,
    ];
    Ok(groups
        .into_iter()
        .map(|g| {
            let path = Path::new(g.name).join(MANIFEST_NAME);
            (path, g.manifest())
        })
        .collect())
}

/// Writes every generated manifest under `dir`; returns the paths written and their case counts.
pub fn write_all(dir: &Path) -> R<Vec<(PathBuf, usize)>> {
    let mut written = Vec::new();
    for (rel, manifest) in all_manifests()? {
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).ctx(&parent.display().to_string())?;
        }
        std::fs::write(&path, to_file_text(&manifest)?).ctx(&path.display().to_string())?;
        written.push((path, manifest.cases.len()));
    }
    Ok(written)
}
