//! The vector format, version 1 (`vectors/README.md`, `vectors/schema/case.schema.json`).
//!
//! A directory holds manifests named [`MANIFEST_NAME`]; each lists cases of one group. Inputs
//! are JSON values: parameters are plain strings, numbers and booleans, byte strings are
//! `{"hex": "…"}` or `{"file": "path"}` (relative to the manifest, read as is).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The value of a manifest's `format` field.
pub const FORMAT: &str = "vouch-vectors/1";

/// The file name of a manifest.
pub const MANIFEST_NAME: &str = "cases.json";

/// One manifest: a group of cases.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The group, the first segment of every case id in it.
    pub group: String,
    /// What the group covers.
    pub description: String,
    /// True when `vouch-vectors generate` writes this manifest.
    pub generated: bool,
    /// The cases.
    pub cases: Vec<Case>,
}

/// One test vector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// `group/name`, unique in a directory; the name says what the case breaks, if anything.
    pub id: String,
    /// One sentence.
    pub description: String,
    /// Where the expectation comes from.
    pub source: Source,
    /// What is run.
    pub kind: Kind,
    /// Named inputs; which ones depends on the kind.
    pub inputs: BTreeMap<String, Value>,
    /// The outcome that must come out.
    pub expect: Expect,
}

/// Where a case's expectation comes from. At least one field is set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// A section (and step) of the FDO reference, e.g. `§5.2 step 4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// A peer implementation the bytes or behaviour come from (`go-fdo`, `fdo-rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// How the bytes were obtained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<String>,
    /// A bug or issue the case pins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bug: Option<String>,
}

impl Source {
    /// A section of the FDO reference.
    pub fn reference(section: &str) -> Self {
        Self {
            reference: Some(section.to_string()),
            ..Self::default()
        }
    }

    /// True when at least one field is set.
    pub fn is_given(&self) -> bool {
        self.reference.is_some() || self.peer.is_some() || self.bug.is_some()
    }
}

/// What a case runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Decode a message or type, and encode it again.
    Decode,
    /// Verify an ownership voucher.
    Voucher,
    /// A hash or HMAC.
    Digest,
    /// The FDO key derivation.
    Kdf,
    /// A key exchange, both sides.
    Kex,
    /// COSE_Sign1 signing and verification, COSE_Encrypt0 sealing and opening.
    Cose,
    /// Attestation evidence: an EAT checked against a key, a nonce and a GUID.
    Eat,
    /// One step of the TO2 device state machine, its prior state given by the messages before.
    To2Device,
    /// One step of the TO2 owner state machine, its prior state given as its stored CBOR.
    To2Owner,
    /// One step of the TO0 rendezvous server (TO0.Hello, TO0.OwnerSign), time given.
    To0Rv,
    /// One step of the TO1 rendezvous server (TO1.HelloRV, TO1.ProveToRV), time given.
    To1Rv,
    /// ServiceInfo split into size-limited messages, and put back together.
    #[serde(rename = "serviceinfo")]
    ServiceInfo,
    /// One step of DI: the device's (DI.SetCredentials, DI.Done) or the manufacturer's
    /// (DI.SetHMAC, its prior state given).
    Di,
    /// The owner's side of TO0 (TO0.Hello, TO0.HelloAck, TO0.AcceptOwner).
    To0Owner,
    /// The device's side of TO1 (TO1.HelloRV, TO1.HelloRVAck, TO1.RVRedirect).
    To1Device,
    /// A report an onboarded device signs for its owner (WebTransport rotation, certificate
    /// renewal), checked as the owner checks it.
    Report,
    /// What the relying party pins: a certificate's SPKI and whole-certificate hashes, a
    /// device's CSR, the owner CA's decision on the names and addresses asked for.
    Pin,
}

impl Kind {
    /// Every kind, in order.
    pub const ALL: [Kind; 17] = [
        Kind::Decode,
        Kind::Voucher,
        Kind::Digest,
        Kind::Kdf,
        Kind::Kex,
        Kind::Cose,
        Kind::Eat,
        Kind::To2Device,
        Kind::To2Owner,
        Kind::To0Rv,
        Kind::To1Rv,
        Kind::ServiceInfo,
        Kind::Di,
        Kind::To0Owner,
        Kind::To1Device,
        Kind::Report,
        Kind::Pin,
    ];

    /// The name used in manifests and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Decode => "decode",
            Kind::Voucher => "voucher",
            Kind::Digest => "digest",
            Kind::Kdf => "kdf",
            Kind::Kex => "kex",
            Kind::Cose => "cose",
            Kind::Eat => "eat",
            Kind::To2Device => "to2-device",
            Kind::To2Owner => "to2-owner",
            Kind::To0Rv => "to0-rv",
            Kind::To1Rv => "to1-rv",
            Kind::ServiceInfo => "serviceinfo",
            Kind::Di => "di",
            Kind::To0Owner => "to0-owner",
            Kind::To1Device => "to1-device",
            Kind::Report => "report",
            Kind::Pin => "pin",
        }
    }

    /// The kind of a name, if it is one.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The outcome a case expects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Expect {
    /// It succeeds, and each field listed comes out with this value.
    Success {
        /// Field name → value; at least one.
        fields: BTreeMap<String, Value>,
    },
    /// It fails with this FDO error code and this error kind of ours.
    Failure {
        /// The FDO error code (EMErrorCode) reported for the failure.
        fdo_error: u16,
        /// Our error kind, e.g. `verify.header-hmac` or `decode` (see the README).
        error: String,
    },
}

/// Byte-string input `{"hex": …}`.
pub fn hex_input(bytes: &[u8]) -> Value {
    serde_json::json!({ "hex": hex::encode(bytes) })
}

/// Byte-string input `{"file": …}`.
pub fn file_input(path: &str) -> Value {
    serde_json::json!({ "file": path })
}

/// A manifest read from disk, with the directory its file inputs are relative to.
#[derive(Clone, Debug)]
pub struct LoadedManifest {
    /// The manifest's path.
    pub path: PathBuf,
    /// Its contents.
    pub manifest: Manifest,
}

/// Every manifest under `dir`, in path order.
pub fn load_dir(dir: &Path) -> Result<Vec<LoadedManifest>, String> {
    let mut paths = Vec::new();
    find_manifests(dir, &mut paths)?;
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let manifest: Manifest =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            if manifest.format != FORMAT {
                return Err(format!(
                    "{}: format {:?}, this runner reads {FORMAT:?}",
                    path.display(),
                    manifest.format
                ));
            }
            Ok(LoadedManifest { path, manifest })
        })
        .collect()
}

fn find_manifests(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.is_dir() {
            find_manifests(&path, out)?;
        } else if path.file_name().and_then(|n| n.to_str()) == Some(MANIFEST_NAME) {
            out.push(path);
        }
    }
    Ok(())
}

/// The manifest as written to disk: pretty JSON with sorted keys and a final newline, so
/// that generating twice gives the same bytes.
pub fn to_file_text(m: &Manifest) -> Result<String, String> {
    // serde_json's maps are sorted (no `preserve_order`), struct fields come in declaration
    // order: the text depends on the content only.
    let mut s = serde_json::to_string_pretty(m).map_err(|e| e.to_string())?;
    s.push('\n');
    Ok(s)
}
