//! Headless Chromium for tests, driven over the DevTools protocol (CDP).
//!
//! [`Chromium::launch`] starts Debian's `chromium` with a fresh profile and
//! `--remote-debugging-port=0`, reads the port it picked from the profile's
//! `DevToolsActivePort` file, and connects to the browser's websocket on 127.0.0.1 (plain
//! `ws://`: the connection never leaves the machine). [`Chromium::open`] opens a tab and
//! navigates it; [`Chromium::wait_for_text`] polls the tab's `document.body.innerText`, since a
//! page may finish its work after the navigation has committed. The browser is closed by
//! [`Chromium::close`], and killed when dropped (a failed assertion included); its profile
//! directory goes with it.
//!
//! [`ManagedPolicy`] gives a test Chromium's managed-policy directory to itself, for policies
//! such as `CACertificatesWithConstraints` that only an administrator can set.
//!
//! `chromium` must be on `PATH`: the test script installs it. A missing browser fails the test,
//! it does not skip it.

#![allow(dead_code)] // Each test file uses a part of the harness.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long the browser may take to start and offer its DevTools endpoint.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one DevTools command may take (a navigation included).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How often [`Chromium::wait_for_text`] reads the page.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// The flags for a quiet headless run as root, with a profile of its own.
fn base_flags(profile: &Path) -> Vec<String> {
    [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--remote-debugging-port=0",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect()
}

/// `--host-resolver-rules` sending each of `names` to 127.0.0.1 (the port stays the URL's).
pub fn resolve_to_loopback(names: &[&str]) -> String {
    let rules: Vec<String> = names
        .iter()
        .map(|name| format!("MAP {name} 127.0.0.1"))
        .collect();
    format!("--host-resolver-rules={}", rules.join(", "))
}

/// A running headless Chromium and its DevTools connection.
pub struct Chromium {
    child: Child,
    /// The profile and the browser's log; removed by `Drop`, which knows when the browser is
    /// gone.
    profile: PathBuf,
    devtools: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

/// A tab opened by [`Chromium::open`].
pub struct Tab {
    session: String,
    /// The URL the tab was sent to.
    pub url: String,
    /// The network error Chromium reported for the navigation (`net::ERR_…`), if it failed.
    pub navigation_error: Option<String>,
}

impl Chromium {
    /// Starts Chromium with the quiet headless flags, a fresh profile, and `extra_flags`.
    pub async fn launch(extra_flags: &[String]) -> Self {
        let profile = tempfile::Builder::new()
            .prefix("vouch-chromium-")
            .tempdir()
            .expect("a temporary profile directory")
            .keep();
        let log_path = profile.join("chromium.log");
        let log = fs::File::create(&log_path).expect("the browser's log file");
        let mut child = Command::new("chromium")
            .args(base_flags(&profile.join("profile")))
            .args(extra_flags)
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file, twice"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start `chromium` ({e}): the browser tests need Debian's chromium \
                     on PATH; scripts/test installs it"
                )
            });
        let endpoint = match wait_for_endpoint(&mut child, &profile.join("profile")).await {
            Ok(endpoint) => endpoint,
            Err(why) => {
                let log = read_log(&log_path);
                end(&mut child, &profile);
                panic!("{why}\nbrowser log:\n{log}");
            }
        };
        let devtools = match tokio_tungstenite::connect_async(endpoint.as_str()).await {
            Ok((devtools, _)) => devtools,
            Err(e) => {
                end(&mut child, &profile);
                panic!("cannot connect to {endpoint}: {e}");
            }
        };
        Self {
            child,
            profile,
            devtools,
            next_id: 0,
        }
    }

    /// The browser's output so far, for failure messages.
    pub fn log(&self) -> String {
        read_log(&self.profile.join("chromium.log"))
    }

    /// Sends a DevTools command (to a tab's session, or to the browser) and returns its result,
    /// or the protocol's error message.
    pub async fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            command["sessionId"] = Value::from(session);
        }
        self.devtools
            .send(Message::text(command.to_string()))
            .await
            .map_err(|e| format!("{method}: cannot send: {e}"))?;
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = match tokio::time::timeout(left, self.devtools.next()).await {
                Err(_) => return Err(format!("{method}: no answer in {COMMAND_TIMEOUT:?}")),
                Ok(None) => return Err(format!("{method}: the browser closed the connection")),
                Ok(Some(Err(e))) => return Err(format!("{method}: {e}")),
                Ok(Some(Ok(message))) => message,
            };
            let Message::Text(text) = message else {
                continue;
            };
            let reply: Value = serde_json::from_str(&text)
                .map_err(|e| format!("{method}: the browser sent other than JSON: {e}"))?;
            // Events carry no id; answers to other commands cannot be pending (one at a time).
            if reply["id"].as_u64() != Some(id) {
                continue;
            }
            if let Some(error) = reply.get("error") {
                return Err(format!("{method}: {error}"));
            }
            return Ok(reply["result"].clone());
        }
    }

    /// Opens a new tab and navigates it to `url`; a failed navigation is recorded in the tab,
    /// not returned as an error.
    pub async fn open(&mut self, url: &str) -> Tab {
        let target = self
            .call(None, "Target.createTarget", json!({ "url": "about:blank" }))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let target_id = target["targetId"].as_str().expect("a target id").to_owned();
        let attached = self
            .call(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target_id, "flatten": true }),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        let navigated = self
            .call(Some(&session), "Page.navigate", json!({ "url": url }))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        Tab {
            session,
            url: url.to_owned(),
            navigation_error: navigated["errorText"].as_str().map(str::to_owned),
        }
    }

    /// The tab's `document.body.innerText` now (empty while there is no body).
    pub async fn body_text(&mut self, tab: &Tab) -> String {
        let evaluated = self
            .call(
                Some(&tab.session),
                "Runtime.evaluate",
                json!({
                    "expression": "document.body ? document.body.innerText : ''",
                    "returnByValue": true,
                }),
            )
            .await;
        match evaluated {
            Ok(result) => result["result"]["value"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            // The page may be between documents: that is "nothing yet", not a failure.
            Err(_) => String::new(),
        }
    }

    /// Polls the tab until its text contains `expected`, and returns that text; on timeout,
    /// returns the last text seen as the error.
    pub async fn wait_for_text(
        &mut self,
        tab: &Tab,
        expected: &str,
        timeout: Duration,
    ) -> Result<String, String> {
        self.wait_until(tab, |text| text.contains(expected), timeout)
            .await
    }

    /// Polls the tab until its text satisfies `done`, and returns that text; on timeout,
    /// returns the last text seen as the error.
    pub async fn wait_until(
        &mut self,
        tab: &Tab,
        done: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.body_text(tab).await;
            if done(&text) {
                return Ok(text);
            }
            if Instant::now() >= deadline {
                return Err(text);
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// Asks the browser to quit, and kills it if it has not within a few seconds.
    pub async fn close(mut self) {
        let _ = self.call(None, "Browser.close", json!({})).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Drop kills it.
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        end(&mut self.child, &self.profile);
    }
}

/// Kills the browser if it still runs, and removes its profile directory.
///
/// The browser's helper processes (network service, renderers) outlive it by a moment and
/// may still write into the profile: the removal is repeated until the directory has stayed
/// gone for a little while.
fn end(child: &mut Child, profile: &Path) {
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
    }
    let _ = child.wait();
    let mut gone_since: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if profile.exists() {
            gone_since = None;
            let _ = fs::remove_dir_all(profile);
        } else if gone_since.get_or_insert_with(Instant::now).elapsed()
            >= Duration::from_millis(300)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for the browser to write `DevToolsActivePort` into its profile (the port on the first
/// line, the browser target's path on the second) and returns the websocket URL.
async fn wait_for_endpoint(child: &mut Child, profile: &Path) -> Result<String, String> {
    let file: PathBuf = profile.join("DevToolsActivePort");
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(text) = fs::read_to_string(&file) {
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next())
                && port.parse::<u16>().is_ok()
                && path.starts_with('/')
            {
                return Ok(format!("ws://127.0.0.1:{port}{path}"));
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "chromium exited ({status}) before offering DevTools"
            ));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "chromium offered no DevTools endpoint within {START_TIMEOUT:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn read_log(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| format!("(unreadable: {e})"))
}

/// Where Chromium on Linux reads the policies an administrator imposes.
pub const MANAGED_POLICY_DIR: &str = "/etc/chromium/policies/managed";

/// This process's managed-policy file for Chromium, and the exclusive use of the policy
/// directory; the file is removed when dropped (a failed assertion included).
///
/// Every Chromium on the machine reads the policy directory, and two files setting the same
/// policy do not add up: the guard holds an exclusive lock for its whole life, so that two
/// tests (in one process or several) never have their policies there at the same time, and a
/// test holding it with no file written knows that no test policy is in force.
pub struct ManagedPolicy {
    path: PathBuf,
    _lock: fs::File,
}

impl ManagedPolicy {
    /// Waits for the exclusive use of the policy directory and clears it of test policies
    /// (leftovers of a killed run); writes nothing. [`ManagedPolicy::path`] is where this
    /// process's policy file goes.
    pub fn lock() -> Self {
        let lock_path = std::env::temp_dir().join("vouch-chromium-policy.lock");
        let lock = fs::File::create(&lock_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", lock_path.display()));
        lock.lock()
            .unwrap_or_else(|e| panic!("cannot lock {}: {e}", lock_path.display()));
        let dir = Path::new(MANAGED_POLICY_DIR);
        fs::create_dir_all(dir).unwrap_or_else(|e| unwritable(e));
        // Under the lock, a policy file of ours can only be a leftover of a killed run.
        if let Ok(entries) = fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with("vouch-test-") && name.ends_with(".json") {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        let path = dir.join(format!("vouch-test-{}.json", std::process::id()));
        Self { path, _lock: lock }
    }

    /// Takes the policy directory ([`ManagedPolicy::lock`]) and writes `policy` there.
    pub fn install(policy: &Value) -> Self {
        let installed = Self::lock();
        installed.write(policy);
        installed
    }

    /// Where this process's policy file goes, for a program that writes it itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `policy` as this process's policy file, replacing any before it.
    pub fn write(&self, policy: &Value) {
        fs::write(&self.path, policy.to_string()).unwrap_or_else(|e| unwritable(e));
    }

    /// Removes this process's policy file, keeping the directory locked: until the guard is
    /// dropped, no test policy is in force for a browser started from now on.
    pub fn remove(&self) {
        match fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("cannot remove {}: {e}", self.path.display()),
        }
    }
}

impl Drop for ManagedPolicy {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn unwritable(e: std::io::Error) -> ! {
    panic!(
        "cannot write Chromium's managed policy in {MANAGED_POLICY_DIR} ({e}): the owner-CA \
         browser tests need that directory to be writable, as it is for root (scripts/test runs \
         as root in CI)"
    )
}
