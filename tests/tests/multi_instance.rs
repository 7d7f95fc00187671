//! Several `vouch-rp serve` processes on one PostgreSQL database: 50 devices onboard at once
//! (DI, TO1, TO2) while every message of every protocol session lands on another instance than
//! the message before it. Nothing a session needs may live in a process's memory, and the
//! owner's TO0 loops of both instances register the same devices at the same time. The same
//! test runs on SQLite with one instance.
//!
//! In front of the instances sits a small HTTP proxy of the test's own on 127.0.0.1: it sends
//! a session's first message to the instances in turn and each later one (recognised by its
//! bearer token) to the instance that did not serve the previous one. The servers' public and
//! rendezvous URLs are the proxy's, so the devices' DI, TO1 and TO2 and the owners' TO0 all go
//! through it. The devices are vouch's own agent as a library, its stores in memory, so 50 of
//! them run in this process.
//!
//! PostgreSQL comes from `VOUCH_TEST_POSTGRES` (a server URL whose user may create databases;
//! `scripts/test` starts a throwaway server and sets it); the test gets a database of its own
//! and fails without the variable.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vouch_authenticator::onboard::{DiOptions, OnboardOptions};
use vouch_authenticator::{
    CredentialStore as _, HttpTransport, MemoryCredentialStore, MemoryKeyStore,
};
use vouch_protocol::cbor::Cbor;
use vouch_protocol::crypto::RustCrypto;
use vouch_protocol::voucher::OwnershipVoucher;
use vouch_relying_party::store::{PgStore, open_store};

/// Devices onboarded at once.
const DEVICES: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_onboard_50_devices_with_messages_alternating() {
    let server = std::env::var("VOUCH_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!(
            "VOUCH_TEST_POSTGRES is not set: run scripts/test (it starts a throwaway \
             PostgreSQL), or set it to postgres://USER@HOST:PORT/DB of a server where USER may \
             create databases"
        )
    });
    let name = format!("vouch_multi_instance_{}", std::process::id());
    let database = PgStore::create_database(&server, &name)
        .await
        .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
    onboard_through_instances(&database, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_on_sqlite_onboards_50_devices() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let database = dir.path().join("rp").to_string_lossy().into_owned();
    onboard_through_instances(&database, 1).await;
}

/// Starts `instances` servers on `database` behind the proxy, onboards [`DEVICES`] devices
/// concurrently through it, and checks every outcome in the database.
async fn onboard_through_instances(database: &str, instances: usize) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
    let proxy_url = format!("http://{}", listener.local_addr().expect("proxy address"));

    // All at once on the empty database: one creates the server's keys and device CA, the
    // others use them.
    let starting: Vec<Starting> = (0..instances)
        .map(|_| {
            spawn_server(&[
                "--database",
                database,
                "--roles",
                "all",
                "--public-url",
                &proxy_url,
                "--rendezvous-url",
                &proxy_url,
                "--to0-interval",
                "1",
            ])
        })
        .collect();
    let servers: Vec<Server> = starting.into_iter().map(Starting::wait).collect();
    let proxy = Arc::new(Proxy::new(servers.iter().map(|s| s.addr).collect()));
    let proxy_task = tokio::spawn(Arc::clone(&proxy).run(listener));

    // The agent's stores are not `Send`: the devices are tasks of one thread.
    let local = tokio::task::LocalSet::new();
    let outcomes = local
        .run_until(async {
            let tasks: Vec<_> = (0..DEVICES)
                .map(|i| tokio::task::spawn_local(onboard_one(proxy_url.clone(), i)))
                .collect();
            let mut outcomes = Vec::new();
            for task in tasks {
                outcomes.push(task.await.expect("device task"));
            }
            outcomes
        })
        .await;
    let failures: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {DEVICES} devices failed; first: {}",
        failures.len(),
        failures[0]
    );

    // Every device has a new GUID, and the owner stored its replacement voucher under it,
    // verifiable with the device's new credential; the old GUIDs' vouchers are gone.
    let store = open_store(database)
        .await
        .expect("the test opens the database");
    for (before, after) in outcomes.iter().flatten() {
        assert_ne!(before.guid, after.guid, "TO2 gave the device a new GUID");
        let bytes = store
            .get_voucher(after.guid)
            .await
            .expect("replacement voucher");
        OwnershipVoucher::from_cbor(&bytes)
            .expect("replacement voucher parses")
            .verify(&RustCrypto, None, Some(after))
            .expect("the replacement voucher verifies against the new credential");
        assert!(
            store.get_voucher(before.guid).await.is_err(),
            "old voucher gone"
        );
    }
    assert_eq!(store.list_vouchers().await.expect("list").len(), DEVICES);

    // The proxy really spread each session over the instances.
    let served: Vec<usize> = proxy
        .served
        .iter()
        .map(|n| n.load(Ordering::Relaxed))
        .collect();
    let continued = proxy.continued.load(Ordering::Relaxed);
    eprintln!("requests per instance: {served:?}; {continued} continued a session");
    // Per device at least DI (4 messages), TO1 (2) and TO2 (several).
    assert!(served.iter().sum::<usize>() >= DEVICES * 10, "{served:?}");
    assert!(
        continued >= DEVICES * 7,
        "{continued} messages continued a session"
    );
    if instances > 1 {
        assert!(
            served.iter().all(|&n| n >= DEVICES * 4),
            "every instance served its share: {served:?}"
        );
        assert_eq!(
            proxy.stayed.load(Ordering::Relaxed),
            0,
            "no session message went to the instance of the message before"
        );
    }
    proxy_task.abort();
    drop(servers);
}

/// DI, then TO1 and TO2, of one device with its stores in memory; the credential before and
/// after TO2.
async fn onboard_one(
    url: String,
    i: usize,
) -> Result<
    (
        vouch_protocol::credential::DeviceCredential,
        vouch_protocol::credential::DeviceCredential,
    ),
    String,
> {
    let mut keys = MemoryKeyStore::new(None);
    let mut credentials = MemoryCredentialStore::new(None);
    let mut transport = HttpTransport::builder(url)
        .danger_allow_plain_http()
        .build()
        .map_err(|e| format!("device {i}: transport: {e}"))?;
    let di = DiOptions {
        serial_number: format!("multi-{i}"),
        ..DiOptions::default()
    };
    vouch_authenticator::initialize(&mut transport, &mut keys, &mut credentials, &di)
        .await
        .map_err(|e| format!("device {i}: DI: {e}"))?;
    let before = credentials
        .load()
        .map_err(|e| format!("device {i}: {e}"))?
        .ok_or_else(|| format!("device {i}: no credential after DI"))?;
    // The owners' TO0 loops register the voucher within a second or two; until then TO1
    // finds nothing and the device tries again.
    let options = OnboardOptions {
        max_rounds: 30,
        retry_base: Duration::from_millis(500),
        retry_cap: Duration::from_secs(2),
        ..OnboardOptions::default()
    };
    vouch_authenticator::onboard(&mut credentials, &mut keys, &options)
        .await
        .map_err(|e| format!("device {i}: TO1 and TO2: {e}"))?;
    let after = credentials
        .load()
        .map_err(|e| format!("device {i}: {e}"))?
        .ok_or_else(|| format!("device {i}: no credential after TO2"))?;
    Ok((before, after))
}

/// The round-robin HTTP/1.1 proxy: one request per connection, forwarded with
/// `Connection: close` and answered with the instance's response as it came.
struct Proxy {
    backends: Vec<SocketAddr>,
    /// Where the next session's first message goes.
    next: AtomicUsize,
    /// For each bearer token, the instance that served its session's last message.
    last: Mutex<HashMap<String, usize>>,
    /// Requests each instance served.
    served: Vec<AtomicUsize>,
    /// Messages that carried a known session's token.
    continued: AtomicUsize,
    /// Of those, the ones sent to the instance of the message before (with several
    /// instances: none).
    stayed: AtomicUsize,
}

impl Proxy {
    fn new(backends: Vec<SocketAddr>) -> Self {
        Self {
            served: backends.iter().map(|_| AtomicUsize::new(0)).collect(),
            backends,
            next: AtomicUsize::new(0),
            last: Mutex::new(HashMap::new()),
            continued: AtomicUsize::new(0),
            stayed: AtomicUsize::new(0),
        }
    }

    async fn run(self: Arc<Self>, listener: TcpListener) {
        while let Ok((client, _)) = listener.accept().await {
            let proxy = Arc::clone(&self);
            tokio::spawn(async move {
                if let Err(e) = proxy.forward(client).await {
                    eprintln!("proxy: {e}");
                }
            });
        }
    }

    async fn forward(&self, mut client: TcpStream) -> std::io::Result<()> {
        let (head, body) = read_message_head(&mut client).await?;
        let head = String::from_utf8_lossy(&head).into_owned();
        let mut lines = head.split("\r\n").filter(|l| !l.is_empty());
        let request_line = lines.next().unwrap_or_default().to_owned();
        let headers: Vec<&str> = lines.filter(|l| !header_is(l, "connection")).collect();
        let length: usize = headers
            .iter()
            .find(|l| header_is(l, "content-length"))
            .and_then(|l| header_value(l).parse().ok())
            .unwrap_or(0);
        let mut body = body;
        while body.len() < length {
            let mut chunk = vec![0; length - body.len()];
            let n = client.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::other("client closed mid-body"));
            }
            body.extend_from_slice(&chunk[..n]);
        }
        let token = headers
            .iter()
            .find(|l| header_is(l, "authorization"))
            .map(|l| header_value(l).to_owned());

        let n = self.backends.len();
        let known = token
            .as_ref()
            .and_then(|t| self.last.lock().expect("lock").get(t).copied());
        let pick = match known {
            Some(previous) => {
                let pick = (previous + 1) % n;
                self.continued.fetch_add(1, Ordering::Relaxed);
                if pick == previous {
                    self.stayed.fetch_add(1, Ordering::Relaxed);
                }
                pick
            }
            None => self.next.fetch_add(1, Ordering::Relaxed) % n,
        };
        self.served[pick].fetch_add(1, Ordering::Relaxed);

        let mut request = format!("{request_line}\r\n");
        for h in &headers {
            request.push_str(h);
            request.push_str("\r\n");
        }
        request.push_str("Connection: close\r\n\r\n");
        let mut upstream = TcpStream::connect(self.backends[pick]).await?;
        upstream.write_all(request.as_bytes()).await?;
        upstream.write_all(&body).await?;
        let mut response = Vec::new();
        upstream.read_to_end(&mut response).await?;

        // The token a session's first message got, or the one it carried, now belongs to
        // this instance.
        let end = find(&response, b"\r\n\r\n").unwrap_or(response.len());
        let response_head = String::from_utf8_lossy(&response[..end]).into_owned();
        let issued = response_head
            .split("\r\n")
            .find(|l| header_is(l, "authorization"))
            .map(|l| header_value(l).to_owned());
        {
            let mut last = self.last.lock().expect("lock");
            for t in token.into_iter().chain(issued) {
                last.insert(t, pick);
            }
        }
        client.write_all(&response).await?;
        client.shutdown().await
    }
}

/// Reads up to the end of an HTTP head; returns the head and the body bytes read with it.
async fn read_message_head(stream: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let body = buf.split_off(end + 4);
            return Ok((buf, body));
        }
        if buf.len() > 64 * 1024 {
            return Err(std::io::Error::other("HTTP head over 64 KiB"));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::other(
                "connection closed before the head ended",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn header_is(line: &str, name: &str) -> bool {
    line.split_once(':')
        .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
}

fn header_value(line: &str) -> &str {
    line.split_once(':').map_or("", |(_, v)| v.trim())
}

/// A workspace binary, built by `cargo test --workspace` next to the test executables.
fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: build the workspace's binaries first (cargo test --workspace builds them)",
        path.display()
    );
    path
}

/// A `vouch-rp serve` process, killed when dropped (also when an assertion fails).
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `vouch-rp serve` process that has not said yet that it listens.
struct Starting(Server);

impl Starting {
    /// Waits for the line the server prints once it listens. That line names its public URL
    /// (the proxy's), so the test picked the port.
    fn wait(mut self) -> Server {
        let stdout = self.0.child.stdout.take().expect("stdout piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("vouch-rp serve prints its address");
        assert!(
            line.contains("serving"),
            "vouch-rp serve did not start: {line:?}"
        );
        self.0
    }
}

/// Starts `vouch-rp serve` on a free port of 127.0.0.1 with `args`.
fn spawn_server(args: &[&str]) -> Starting {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let child = Command::new(bin("vouch-rp"))
        .arg("serve")
        .args(["--listen", &addr.to_string()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("vouch-rp serve starts");
    Starting(Server { child, addr })
}
