//! `vouch-vectors run DIR [--kind K] [--json]`, `vouch-vectors generate DIR` and
//! `vouch-vectors seeds VECTORS OUT`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vouch_protocol::crypto::RustCrypto;
use vouch_vectors::format::Kind;

/// FDO conformance vectors: run them against vouch, or write vouch's own.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs every case under DIR: one line per case, then `N passed, N failed`. Exits with 1
    /// when a case fails, 2 when the vectors cannot be read.
    Run {
        /// The directory of manifests (`cases.json`, searched recursively).
        dir: PathBuf,
        /// Only the cases of this kind.
        #[arg(long, value_parser = parse_kind)]
        kind: Option<Kind>,
        /// Print a JSON report instead of the lines.
        #[arg(long)]
        json: bool,
    },
    /// Writes the byte inputs of every case under VECTORS as a fuzz seed corpus: OUT/all/
    /// (every input) and OUT/message/ (message bodies behind their type byte).
    Seeds {
        /// The vectors directory.
        vectors: PathBuf,
        /// Where to write the seeds.
        out: PathBuf,
    },
    /// Writes the generated manifests under DIR (deterministic: seeded randomness, fixed time).
    Generate {
        /// The vectors directory.
        dir: PathBuf,
    },
}

fn parse_kind(s: &str) -> Result<Kind, String> {
    Kind::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        format!("unknown kind {s:?}; one of {}", names.join(", "))
    })
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run { dir, kind, json } => {
            let report = match vouch_vectors::run_dir(&dir, kind, &RustCrypto) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("vouch-vectors: {e}");
                    return ExitCode::from(2);
                }
            };
            if json {
                println!("{:#}", report.to_json());
            } else {
                for r in &report.results {
                    let mark = if r.passed { "pass" } else { "FAIL" };
                    println!("{mark} {} [{}]: {}", r.id, r.kind, r.detail);
                }
                println!("{} passed, {} failed", report.passed(), report.failed());
            }
            if report.failed() == 0 && !report.results.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Seeds { vectors, out } => match vouch_vectors::seeds::write(&vectors, &out) {
            Ok((all, messages)) => {
                println!(
                    "{all} seeds in {0}/all, {messages} in {0}/message",
                    out.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("vouch-vectors: {e}");
                ExitCode::from(2)
            }
        },
        Command::Generate { dir } => match vouch_vectors::generate::write_all(&dir) {
            Ok(written) => {
                for (path, cases) in written {
                    println!("{} ({cases} cases)", path.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("vouch-vectors: {e}");
                ExitCode::from(2)
            }
        },
    }
}
