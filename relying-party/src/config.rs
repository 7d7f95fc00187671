//! `vouch-rp serve --config FILE`: the serve options as a TOML table, one key per long option
//! (`listen = "0.0.0.0:8080"`, `roles = "owner"`, `rate-limit = 20`, `device-proxy = true`,
//! `extend-to = ["a.pem", "b.pem"]`; `_` may stand for `-`).
//!
//! Precedence: command line, then `VOUCH_*` environment variables, then the file, then the
//! built-in defaults. The file's values are turned into command-line arguments for the options
//! that the command line and the environment left at their defaults, and the command line is
//! parsed again, so that a value from the file goes through the same checks as one typed.

use std::ffi::OsString;
use std::path::Path;

use anyhow::{Context, bail};
use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Command};

/// The arguments to append to `argv` for the values of `file` that `matches` (the serve
/// subcommand's, parsed from the command line and the environment) left at their defaults.
pub fn file_arguments(
    serve: &Command,
    matches: &ArgMatches,
    file: &Path,
) -> anyhow::Result<Vec<OsString>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading the configuration file {}", file.display()))?;
    let table: toml::Table = toml::from_str(&text)
        .with_context(|| format!("parsing the configuration file {}", file.display()))?;
    let mut out = Vec::new();
    for (key, value) in &table {
        let id = key.replace('-', "_");
        let Some(arg) = serve
            .get_arguments()
            .find(|a| a.get_id().as_str() == id && a.get_long().is_some() && id != "config")
        else {
            bail!("{}: `{key}` is no option of vouch-rp serve", file.display());
        };
        let set_elsewhere = matches!(
            matches.value_source(&id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        if set_elsewhere {
            continue;
        }
        let flag = format!("--{}", arg.get_long().unwrap_or(key));
        let is_switch = matches!(arg.get_action(), ArgAction::SetTrue);
        let values = match value {
            toml::Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        for v in values {
            match (v, is_switch) {
                (toml::Value::Boolean(true), true) => out.push(flag.clone().into()),
                (toml::Value::Boolean(false), true) => {}
                (_, true) => bail!("{}: `{key}` takes true or false", file.display()),
                (toml::Value::String(s), false) => {
                    out.push(flag.clone().into());
                    out.push(s.into());
                }
                (toml::Value::Integer(n), false) => {
                    out.push(flag.clone().into());
                    out.push(n.to_string().into());
                }
                (_, false) => bail!("{}: `{key}` takes a string or an integer", file.display()),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Arg;

    fn serve() -> Command {
        Command::new("serve")
            .arg(Arg::new("config").long("config"))
            .arg(
                Arg::new("listen")
                    .long("listen")
                    .default_value("127.0.0.1:8080"),
            )
            .arg(
                Arg::new("roles")
                    .long("roles")
                    .env("VOUCH_TEST_CONFIG_ROLES"),
            )
            .arg(
                Arg::new("rate_limit")
                    .long("rate-limit")
                    .default_value("50"),
            )
            .arg(
                Arg::new("device_proxy")
                    .long("device-proxy")
                    .action(ArgAction::SetTrue),
            )
            .arg(
                Arg::new("extend_to")
                    .long("extend-to")
                    .action(ArgAction::Append),
            )
    }

    fn file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vouch.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn the_file_fills_only_what_the_command_line_left_to_defaults() {
        let (_dir, path) = file(
            "listen = \"0.0.0.0:9000\"\nrate_limit = 7\ndevice-proxy = true\n\
             extend-to = [\"a.pem\", \"b.pem\"]\nroles = \"owner\"\n",
        );
        let m = serve()
            .try_get_matches_from(["serve", "--listen", "127.0.0.1:1"])
            .unwrap();
        let extra = file_arguments(&serve(), &m, &path).unwrap();
        let argv: Vec<OsString> = ["serve", "--listen", "127.0.0.1:1"]
            .into_iter()
            .map(OsString::from)
            .chain(extra)
            .collect();
        let m = serve().try_get_matches_from(argv).unwrap();
        let one = |id: &str| m.get_one::<String>(id).cloned();
        assert_eq!(one("listen").as_deref(), Some("127.0.0.1:1"));
        assert_eq!(one("rate_limit").as_deref(), Some("7"));
        assert_eq!(one("roles").as_deref(), Some("owner"));
        assert!(m.get_flag("device_proxy"));
        let extend: Vec<&String> = m.get_many("extend_to").unwrap().collect();
        assert_eq!(extend, ["a.pem", "b.pem"]);
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_refused() {
        let m = serve().try_get_matches_from(["serve"]).unwrap();
        for (text, says) in [
            ("bogus = 1", "`bogus` is no option"),
            ("config = \"x\"", "`config` is no option"),
            ("device-proxy = \"yes\"", "takes true or false"),
            ("listen = 1.5", "takes a string or an integer"),
            ("listen = ", "parsing the configuration file"),
        ] {
            let (_dir, path) = file(text);
            let e = format!("{:#}", file_arguments(&serve(), &m, &path).unwrap_err());
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
