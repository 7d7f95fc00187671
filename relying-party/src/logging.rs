//! Where `vouch-rp serve` writes its [`tracing`] events: standard error, as human-readable lines
//! or as one JSON object a line, at the level `--log-level` or `RUST_LOG` sets (`info` by
//! default). Events carry fields (message type, FDO error code, latency, peer), never tokens,
//! keys or message bodies.

use tracing_subscriber::EnvFilter;

/// How log lines look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line an event.
    #[default]
    Human,
    /// One JSON object a line, for log collectors.
    Json,
}

/// Installs the global subscriber; `level` is an `EnvFilter` directive (`info`,
/// `vouch_relying_party=debug,warn`…), else `RUST_LOG`, else `info`. Fails on a bad directive
/// or when a subscriber is already installed.
pub fn init(format: LogFormat, level: Option<&str>) -> anyhow::Result<()> {
    let filter = match level {
        Some(l) => EnvFilter::try_new(l)?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("installing the log subscriber: {e}"))
}
