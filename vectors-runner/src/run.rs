//! Running cases: read the inputs, run the step through `vouch-protocol`, compare the outcome.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use serde_json::Value;
use vouch_protocol::crypto::CryptoProvider;
use vouch_protocol::error::VerifyError;
use vouch_protocol::flows::FlowError;
use vouch_protocol::{Error, ErrorCode};

use crate::exec;
use crate::format::{Case, Expect, Kind, LoadedManifest, Source};

/// What running a case produced.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// It succeeded; the fields it produced.
    Success(BTreeMap<String, Value>),
    /// It failed with this FDO error code and error kind.
    Failure {
        /// FDO error code.
        fdo_error: u16,
        /// Our error kind ([`error_kind`]).
        error: String,
        /// The error's text, for the report.
        text: String,
    },
}

impl Outcome {
    /// The failure of a library call, reported with [`Error::code`].
    pub fn from_error(e: &Error) -> Self {
        Self::Failure {
            fdo_error: e.code().0,
            error: error_kind(e),
            text: e.to_string(),
        }
    }

    /// The failure of a protocol step, reported with the code the step gives it.
    pub fn from_flow(e: &FlowError) -> Self {
        Self::Failure {
            fdo_error: e.code().0,
            error: error_kind(&e.error),
            text: e.to_string(),
        }
    }
}

/// The error kind a case names: the group of [`Error`] and, for a failed check, which check
/// (`verify.entry-signature[1]`, `verify.nonce(NonceTO2ProveOV)`).
pub fn error_kind(e: &Error) -> String {
    match e {
        Error::Decode(_) => "decode".into(),
        Error::Invalid { .. } => "invalid".into(),
        Error::Unsupported(_) => "unsupported".into(),
        Error::Misuse(_) => "misuse".into(),
        Error::Verify(v) => format!("verify.{}", verify_kind(v)),
        _ => "other".into(),
    }
}

fn verify_kind(v: &VerifyError) -> String {
    match v {
        VerifyError::HeaderHmac => "header-hmac".into(),
        VerifyError::DeviceCertChainHash => "device-cert-chain-hash".into(),
        VerifyError::DeviceCertChainMissing => "device-cert-chain-missing".into(),
        VerifyError::ManufacturerKeyHash => "manufacturer-key-hash".into(),
        VerifyError::GuidMismatch => "guid-mismatch".into(),
        VerifyError::EntrySignature { index } => format!("entry-signature[{index}]"),
        VerifyError::EntryPrevHash { index } => format!("entry-prev-hash[{index}]"),
        VerifyError::EntryHeaderInfoHash { index } => format!("entry-header-info-hash[{index}]"),
        VerifyError::EntryKeyType { index } => format!("entry-key-type[{index}]"),
        VerifyError::EntryHashType { index } => format!("entry-hash-type[{index}]"),
        VerifyError::NoEntries => "no-entries".into(),
        VerifyError::OwnerKeyMismatch => "owner-key-mismatch".into(),
        VerifyError::Signature(what) => format!("signature({what})"),
        VerifyError::Nonce(what) => format!("nonce({what})"),
        VerifyError::Hash(what) => format!("hash({what})"),
        VerifyError::Ueid => "ueid".into(),
        VerifyError::Decrypt => "decrypt".into(),
        VerifyError::BadKey(what) => format!("bad-key({what})"),
        _ => "other".into(),
    }
}

/// The result of one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseResult {
    /// The case id.
    pub id: String,
    /// Its kind.
    pub kind: Kind,
    /// The manifest it came from, relative to the directory run.
    pub manifest: String,
    /// True when the expected outcome came out.
    pub passed: bool,
    /// What came out, or why the case could not run.
    pub detail: String,
}

/// The results of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// One per case, in manifest and case order.
    pub results: Vec<CaseResult>,
}

impl Report {
    /// How many cases passed.
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.passed).count()
    }

    /// How many cases failed.
    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }

    /// The ids of the failed cases.
    pub fn failed_ids(&self) -> BTreeSet<String> {
        self.results
            .iter()
            .filter(|r| !r.passed)
            .map(|r| r.id.clone())
            .collect()
    }

    /// The JSON report of `--json`.
    pub fn to_json(&self) -> Value {
        let cases: Vec<Value> = self
            .results
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id,
                    "kind": r.kind.name(),
                    "manifest": r.manifest,
                    "result": if r.passed { "pass" } else { "fail" },
                    "detail": r.detail,
                })
            })
            .collect();
        serde_json::json!({
            "format": crate::format::FORMAT,
            "passed": self.passed(),
            "failed": self.failed(),
            "cases": cases,
        })
    }
}

/// Runs every case under `dir` (only those of `kind`, if given) with `crypto` as the
/// verifier's provider. Fails only when a manifest cannot be read.
pub fn run_dir(
    dir: &Path,
    kind: Option<Kind>,
    crypto: &dyn CryptoProvider,
) -> Result<Report, String> {
    let manifests = crate::format::load_dir(dir)?;
    Ok(run_manifests(dir, &manifests, kind, crypto))
}

/// Runs the cases of manifests already read.
pub fn run_manifests(
    dir: &Path,
    manifests: &[LoadedManifest],
    kind: Option<Kind>,
    crypto: &dyn CryptoProvider,
) -> Report {
    let mut report = Report::default();
    let mut seen = BTreeSet::new();
    for m in manifests {
        let rel = m
            .path
            .strip_prefix(dir)
            .unwrap_or(&m.path)
            .display()
            .to_string();
        let base = m.path.parent().unwrap_or(dir);
        for case in &m.manifest.cases {
            if kind.is_some_and(|k| k != case.kind) {
                continue;
            }
            let checked = if !seen.insert(case.id.clone()) {
                Err("duplicate case id".to_string())
            } else {
                check_case(case, &m.manifest.group, base, crypto)
            };
            report.results.push(CaseResult {
                id: case.id.clone(),
                kind: case.kind,
                manifest: rel.clone(),
                passed: checked.is_ok(),
                detail: checked.unwrap_or_else(|e| e),
            });
        }
    }
    report
}

/// Runs one case: `Ok(what came out)` when it is what the case expects.
pub fn check_case(
    case: &Case,
    group: &str,
    base: &Path,
    crypto: &dyn CryptoProvider,
) -> Result<String, String> {
    validate(case, group)?;
    let inputs = Inputs {
        map: &case.inputs,
        base,
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        exec::execute(case.kind, &inputs, crypto)
    }))
    .map_err(|_| "the step panicked".to_string())??;
    compare(&case.expect, &outcome)
}

fn validate(case: &Case, group: &str) -> Result<(), String> {
    let prefix = format!("{group}/");
    if !case.id.starts_with(&prefix) || case.id.len() == prefix.len() {
        return Err(format!("case id must be {prefix}<name>"));
    }
    if !Source::is_given(&case.source) {
        return Err("the case names no source (reference, peer or bug)".into());
    }
    if let Expect::Success { fields } = &case.expect
        && fields.is_empty()
    {
        return Err("a success case must name at least one field".into());
    }
    Ok(())
}

fn compare(expect: &Expect, got: &Outcome) -> Result<String, String> {
    match (expect, got) {
        (Expect::Success { fields }, Outcome::Success(actual)) => {
            for (name, want) in fields {
                match actual.get(name) {
                    None => return Err(format!("no field {name:?} came out")),
                    Some(v) if v != want => {
                        return Err(format!("field {name:?} is {v}, expected {want}"));
                    }
                    Some(_) => {}
                }
            }
            Ok(format!("success, {} fields as expected", fields.len()))
        }
        (
            Expect::Failure { fdo_error, error },
            Outcome::Failure {
                fdo_error: code,
                error: kind,
                text,
            },
        ) => {
            if fdo_error == code && error == kind {
                Ok(format!(
                    "failed as expected: {} {kind}: {text}",
                    ErrorCode(*code)
                ))
            } else {
                Err(format!(
                    "failed with {} {kind} ({text}), expected {} {error}",
                    ErrorCode(*code),
                    ErrorCode(*fdo_error)
                ))
            }
        }
        (
            Expect::Success { .. },
            Outcome::Failure {
                fdo_error,
                error,
                text,
            },
        ) => Err(format!(
            "failed with {} {error} ({text}), expected success",
            ErrorCode(*fdo_error)
        )),
        (Expect::Failure { fdo_error, error }, Outcome::Success(_)) => Err(format!(
            "succeeded, expected failure {} {error}",
            ErrorCode(*fdo_error)
        )),
    }
}

/// A case's inputs, with typed accessors. Every accessor fails with a message naming the input.
pub struct Inputs<'a> {
    map: &'a BTreeMap<String, Value>,
    base: &'a Path,
}

impl Inputs<'_> {
    fn get(&self, name: &str) -> Result<&Value, String> {
        self.map
            .get(name)
            .ok_or_else(|| format!("input {name:?} is missing"))
    }

    /// A JSON input as it is.
    pub fn value(&self, name: &str) -> Result<&Value, String> {
        self.get(name)
    }

    /// True when the input is present.
    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// A byte-string input: `{"hex": …}` or `{"file": …}`.
    pub fn bytes(&self, name: &str) -> Result<Vec<u8>, String> {
        value_bytes(self.get(name)?, self.base).map_err(|e| format!("input {name:?}: {e}"))
    }

    /// A byte-string input that may be absent.
    pub fn opt_bytes(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        if self.has(name) {
            self.bytes(name).map(Some)
        } else {
            Ok(None)
        }
    }

    /// A text input.
    pub fn text(&self, name: &str) -> Result<&str, String> {
        self.get(name)?
            .as_str()
            .ok_or_else(|| format!("input {name:?} must be a string"))
    }

    /// An integer input.
    pub fn int(&self, name: &str) -> Result<i64, String> {
        self.get(name)?
            .as_i64()
            .ok_or_else(|| format!("input {name:?} must be an integer"))
    }

    /// A boolean input, `false` when absent.
    pub fn flag(&self, name: &str) -> Result<bool, String> {
        match self.map.get(name) {
            None => Ok(false),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| format!("input {name:?} must be a boolean")),
        }
    }

    /// A list of messages `[{"type": n, "body": bytes}, …]`.
    pub fn messages(&self, name: &str) -> Result<Vec<(u8, Vec<u8>)>, String> {
        let list = match self.map.get(name) {
            None => return Ok(Vec::new()),
            Some(v) => v
                .as_array()
                .ok_or_else(|| format!("input {name:?} must be a list of messages"))?,
        };
        list.iter()
            .map(|m| message(m, self.base).map_err(|e| format!("input {name:?}: {e}")))
            .collect()
    }

    /// A list of byte strings `[{"hex": …}, …]`.
    pub fn bytes_list(&self, name: &str) -> Result<Vec<Vec<u8>>, String> {
        let list = self
            .get(name)?
            .as_array()
            .ok_or_else(|| format!("input {name:?} must be a list of byte strings"))?;
        list.iter()
            .map(|v| value_bytes(v, self.base).map_err(|e| format!("input {name:?}: {e}")))
            .collect()
    }

    /// One message `{"type": n, "body": bytes}`.
    pub fn message(&self, name: &str) -> Result<(u8, Vec<u8>), String> {
        message(self.get(name)?, self.base).map_err(|e| format!("input {name:?}: {e}"))
    }
}

fn message(v: &Value, base: &Path) -> Result<(u8, Vec<u8>), String> {
    let t = v
        .get("type")
        .and_then(Value::as_u64)
        .and_then(|t| u8::try_from(t).ok())
        .ok_or("a message needs a \"type\" (0 to 255)")?;
    let body = value_bytes(v.get("body").ok_or("a message needs a \"body\"")?, base)?;
    Ok((t, body))
}

fn value_bytes(v: &Value, base: &Path) -> Result<Vec<u8>, String> {
    if let Some(h) = v.get("hex").and_then(Value::as_str) {
        return hex::decode(h).map_err(|e| format!("bad hex: {e}"));
    }
    if let Some(f) = v.get("file").and_then(Value::as_str) {
        let rel = Path::new(f);
        if rel.is_absolute()
            || rel
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(format!(
                "file {f:?} must be relative and stay below the manifest"
            ));
        }
        return std::fs::read(base.join(rel)).map_err(|e| format!("file {f:?}: {e}"));
    }
    Err("a byte string is {\"hex\": …} or {\"file\": …}".into())
}
