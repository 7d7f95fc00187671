//! `vouch-device`: the device agent.
use clap::Parser;

/// vouch's FDO device agent.
#[derive(Parser)]
#[command(version, about)]
enum Cli {
    /// Print a device credential (our format or fdo-rs' dc.bin).
    Show {
        /// The credential file.
        file: std::path::PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse() {
        Cli::Show { file } => {
            let bytes = std::fs::read(&file)?;
            anyhow::bail!(
                "{}: {} bytes; credential reading is not built yet",
                file.display(),
                bytes.len()
            )
        }
    }
}
