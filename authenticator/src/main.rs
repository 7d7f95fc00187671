//! `vouch-device`: the device agent.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vouch_authenticator::{CredentialStore, FileCredentialStore};

/// vouch's FDO device agent.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a device credential (vouch's format or fdo-rs' dc.bin); secrets are not shown.
    Show {
        /// The credential file.
        #[arg(long, default_value = "vouch-device/credential.cbor")]
        credential: PathBuf,
    },
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Show { credential } => {
            let store = FileCredentialStore::new(&credential);
            let Some(dc) = store.load()? else {
                anyhow::bail!(
                    "{}: no device credential yet (run device initialization first)",
                    credential.display()
                );
            };
            println!("active            {}", dc.active);
            println!("protocol version  {}", dc.protocol_version.0);
            println!("GUID              {}", dc.guid);
            println!("device info       {:?}", dc.device_info);
            println!("rendezvous        {}", dc.rv_info);
            println!("owner key hash    {}", dc.pub_key_hash);
            let held = |present: bool| {
                if present {
                    "held in the credential"
                } else {
                    "in a key store"
                }
            };
            println!("HMAC secret       {}", held(dc.hmac_secret.is_some()));
            println!("device key        {}", held(dc.device_key.is_some()));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vouch-device: {e:#}");
            ExitCode::from(2)
        }
    }
}
