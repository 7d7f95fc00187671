//! `vouch-rp`: the relying party (manufacturer, rendezvous and owner roles).
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vouch_relying_party::voucher_cmd::{self, Format};

/// vouch relying party: FDO manufacturer, rendezvous and owner roles.
#[derive(Parser)]
#[command(version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Work with ownership vouchers (PEM or raw CBOR).
    #[command(subcommand)]
    Voucher(VoucherCommand),
}

#[derive(Subcommand)]
enum VoucherCommand {
    /// Print a readable summary: GUID, device info, rendezvous, keys, entries, chain hash.
    Inspect {
        /// The voucher file.
        file: PathBuf,
    },
    /// Verify a voucher; exits 0 when it holds, 1 naming the failing check.
    Verify {
        /// The voucher file.
        file: PathBuf,
        /// A device credential (vouch's format or fdo-rs' dc.bin): checks the manufacturer key
        /// hash, the GUID and, with the secret it holds, the header HMAC.
        #[arg(long, value_name = "DC")]
        device_credential: Option<PathBuf>,
        /// The device's HMAC secret in hex, to check the header HMAC.
        #[arg(long, value_name = "HEX")]
        device_secret: Option<String>,
    },
    /// Extend a voucher to a next owner, signing with the current owner's key.
    Extend {
        /// The voucher file.
        file: PathBuf,
        /// The current owner's private key (PEM or DER; P-256 or P-384).
        #[arg(long, value_name = "KEY")]
        owner_key: PathBuf,
        /// The next owner's public key or certificate (PEM or DER).
        #[arg(long, value_name = "PUBKEY")]
        next_owner: PathBuf,
        /// Where to write the extended voucher (standard output by default).
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Output encoding.
        #[arg(long, value_enum, default_value = "pem")]
        format: Format,
    },
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Voucher(VoucherCommand::Inspect { file }) => {
            let ov = voucher_cmd::read_voucher(&file)?;
            voucher_cmd::inspect(&ov, &mut std::io::stdout().lock())?;
        }
        Command::Voucher(VoucherCommand::Verify {
            file,
            device_credential,
            device_secret,
        }) => {
            let ov = voucher_cmd::read_voucher(&file)?;
            match voucher_cmd::verify(ov, device_credential.as_deref(), device_secret.as_deref())? {
                Ok(msg) => println!("{}: {msg}", file.display()),
                Err(check) => {
                    eprintln!("{}: {check}", file.display());
                    return Ok(ExitCode::from(1));
                }
            }
        }
        Command::Voucher(VoucherCommand::Extend {
            file,
            owner_key,
            next_owner,
            out,
            format,
        }) => {
            let ov = voucher_cmd::read_voucher(&file)?;
            let next = voucher_cmd::extend(&ov, &owner_key, &next_owner)?;
            voucher_cmd::write_voucher(&next, format, out.as_ref())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vouch-rp: {e:#}");
            ExitCode::from(2)
        }
    }
}
