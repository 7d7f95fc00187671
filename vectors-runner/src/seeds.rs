//! `vouch-vectors seeds VECTORS OUT`: the byte inputs of every case, as a seed corpus for the
//! fuzz targets (`fuzz/`), so that fuzzing starts from real messages, vouchers, keys and COSE
//! objects rather than from nothing.
//!
//! Every byte-string input (`{"hex": …}` or `{"file": …}`) of every manifest goes to
//! `OUT/all/`, named by the SHA-256 of its bytes (so duplicates collapse). The `message`
//! target reads a message type byte before the body, so `OUT/message/` holds each input of a
//! case that names its message type (`expect.fields.message_type`) with that byte in front.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// Writes the seeds; returns how many files were written to `all/` and to `message/`.
pub fn write(vectors: &Path, out: &Path) -> Result<(usize, usize), String> {
    let mut manifests = Vec::new();
    find_manifests(vectors, &mut manifests)?;
    let all_dir = out.join("all");
    let message_dir = out.join("message");
    for d in [&all_dir, &message_dir] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let mut all = BTreeSet::new();
    let mut messages = BTreeSet::new();
    for manifest in manifests {
        let text = std::fs::read_to_string(&manifest)
            .map_err(|e| format!("{}: {e}", manifest.display()))?;
        let json: Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", manifest.display()))?;
        let base = manifest.parent().unwrap_or(Path::new("."));
        for case in json["cases"].as_array().into_iter().flatten() {
            let mut inputs = Vec::new();
            collect(&case["inputs"], base, &mut inputs);
            let message_type = case["expect"]["fields"]["message_type"]
                .as_u64()
                .and_then(|t| u8::try_from(t).ok());
            for bytes in inputs {
                if let Some(t) = message_type {
                    let mut seed = vec![t];
                    seed.extend_from_slice(&bytes);
                    messages.insert(seed);
                }
                all.insert(bytes);
            }
        }
    }
    for (dir, set) in [(&all_dir, &all), (&message_dir, &messages)] {
        for bytes in set {
            let name = hex::encode(Sha256::digest(bytes));
            std::fs::write(dir.join(name), bytes).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
    }
    Ok((all.len(), messages.len()))
}

fn find_manifests(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.is_dir() {
            find_manifests(&path, out)?;
        } else if path.file_name().is_some_and(|n| n == "cases.json") {
            out.push(path);
        }
    }
    Ok(())
}

/// Every `{"hex": …}` and `{"file": …}` under `value`, decoded or read.
fn collect(value: &Value, base: &Path, out: &mut Vec<Vec<u8>>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(h)) = map.get("hex") {
                if let Ok(bytes) = hex::decode(h) {
                    out.push(bytes);
                }
                return;
            }
            if let Some(Value::String(f)) = map.get("file") {
                if let Ok(bytes) = std::fs::read(base.join(f)) {
                    out.push(bytes);
                }
                return;
            }
            for v in map.values() {
                collect(v, base, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, base, out)),
        _ => {}
    }
}
