//! A `vouch-rp` or `vouch-device` process run by the bench, and what Linux tells about its
//! cost: CPU time from `/proc/PID/stat`, peak resident memory from `/proc/PID/status`
//! (`VmHWM`), and for a child that has exited its `wait4` resource usage.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};

/// A `vouch-rp serve` child: all roles, its own SQLite database, on a loopback port it picked.
pub struct RelyingParty {
    child: Child,
    /// The base URL it serves (`http://127.0.0.1:PORT`).
    pub url: String,
    /// Its data directory (the SQLite database is `vouch.sqlite3` in it).
    pub database: PathBuf,
}

impl RelyingParty {
    /// Starts `bin serve` over `database`, its TO0 loop slowed to once a day so that it does
    /// not run during a measurement (the hand-over at the end of DI registers each device).
    pub fn start(bin: &Path, database: &Path) -> anyhow::Result<Self> {
        let mut child = Command::new(bin)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--to0-interval",
                "86400",
            ])
            .arg("--database")
            .arg(database)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("reading the relying party's first line")?;
        // "vouch-rp: serving ROLES on URL"
        let Some(url) = line
            .trim()
            .rsplit(" on ")
            .next()
            .filter(|u| u.starts_with("http"))
        else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the relying party did not say where it serves: {line:?}");
        };
        Ok(Self {
            url: url.to_owned(),
            child,
            database: database.to_owned(),
        })
    }

    /// CPU time (user + system) the process has used so far.
    pub fn cpu(&self) -> anyhow::Result<Duration> {
        proc_cpu(self.child.id())
    }

    /// Its peak resident set so far, KiB.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        proc_status_kib(self.child.id(), "VmHWM")
    }

    /// Ends it (SIGTERM, then waits).
    pub fn stop(mut self) {
        terminate(&mut self.child);
    }
}

impl Drop for RelyingParty {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

fn terminate(child: &mut Child) {
    // Its state is a throwaway database: no need for a graceful stop.
    let _ = child.kill();
    let _ = child.wait();
}

/// User + system CPU of process `pid`, from `/proc/PID/stat` (fields 14 and 15, in clock
/// ticks).
pub fn proc_cpu(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("/proc/{pid}/stat has no command name"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    let tick = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| anyhow!("/proc/{pid}/stat: field {} unreadable", i + 3))
    };
    let ticks = tick(11)? + tick(12)?;
    // /proc counts in USER_HZ, which Linux fixes at 100 for user space.
    Ok(Duration::from_millis(ticks * 10))
}

/// A `kB` line of `/proc/PID/status` (`VmHWM`, `VmRSS`).
pub fn proc_status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow!("/proc/{pid}/status has no {field}"))
}

/// Runs `command` to completion, its output going to `log`, and returns its exit success and
/// peak RSS (KiB): `VmHWM` of `/proc/PID/status`, a high-water mark, read every 2 ms while it
/// runs (the last reading before it exits; a peak in its final 2 ms could be missed).
pub fn run_measured(command: &mut Command, log: &Path) -> anyhow::Result<(bool, u64)> {
    let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(out))
        .spawn()
        .context("cannot start the command")?;
    let pid = child.id();
    let mut peak = 0;
    loop {
        if let Ok(hwm) = proc_status_kib(pid, "VmHWM") {
            peak = peak.max(hwm);
        }
        if let Some(status) = child.try_wait()? {
            return Ok((status.success(), peak));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
