//! One full onboarding on loopback — DI, the hand-over (voucher extension and TO0), TO1 and
//! TO2 — timed end to end, with the CPU each side spent.
//!
//! The relying party (all three roles, SQLite in a temporary directory) runs on a tokio runtime
//! of its own; the device (vouch's agent, file stores) runs on another thread with its own
//! runtime. Device CPU is that thread's CPU time; relying-party CPU is the rest of the
//! process's (its runtime's workers and SQLite's threads).
//!
//! ```sh
//! cargo bench -p vouch-relying-party --bench onboarding            # 30 onboardings
//! cargo bench -p vouch-relying-party --bench onboarding -- 100     # or as many as given
//! ```

use std::time::{Duration, Instant};

use cpu_time::{ProcessTime, ThreadTime};

use vouch_authenticator::onboard::{self, DiOptions, OnboardOptions};
use vouch_authenticator::{FileCredentialStore, FileKeyStore, HttpTransport};
use vouch_relying_party::server::{self, ServeOptions};

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(30);
    let dir = tempfile::tempdir().expect("temporary directory");

    // The relying party, on a runtime of its own.
    let rp_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut options = ServeOptions::all_in_one(
        dir.path().join("relying-party"),
        "127.0.0.1:0".parse().expect("address"),
    );
    options.to0_interval = None;
    let running = rp_runtime
        .block_on(server::start(options))
        .expect("relying party starts");
    let url = running.public_url.clone();

    let device_dir = dir.path().join("devices");
    let process_before = ProcessTime::now();
    let wall_start = Instant::now();
    let (walls, device_cpu) = std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("device runtime");
            let before = ThreadTime::now();
            let mut walls = Vec::with_capacity(runs);
            for i in 0..runs {
                let started = Instant::now();
                rt.block_on(onboard_one(&url, &device_dir.join(i.to_string())));
                walls.push(started.elapsed());
            }
            (walls, before.elapsed())
        })
        .join()
        .expect("device thread")
    });
    let total_wall = wall_start.elapsed();
    let process_cpu = process_before.elapsed();
    rp_runtime.block_on(running.stop());

    let mut sorted = walls.clone();
    sorted.sort();
    let per = |d: Duration| d / runs as u32;
    let rp_cpu = process_cpu.saturating_sub(device_cpu);
    println!("full onboarding on loopback (DI, hand-over with TO0, TO1, TO2), {runs} devices:");
    println!(
        "  wall per onboarding   median {:?}  min {:?}  max {:?}",
        sorted[runs / 2],
        sorted[0],
        sorted[runs - 1]
    );
    println!(
        "  device CPU            {:?} per onboarding",
        per(device_cpu)
    );
    println!("  relying-party CPU     {:?} per onboarding", per(rp_cpu));
    println!(
        "  throughput            {:.1} onboardings/s, one device at a time",
        runs as f64 / total_wall.as_secs_f64()
    );
}

async fn onboard_one(url: &str, dir: &std::path::Path) {
    let mut keys = FileKeyStore::new(dir.join("key.pem"));
    let mut credentials = FileCredentialStore::new(dir.join("credential.cbor"));
    let mut transport = HttpTransport::builder(url).build().expect("transport");
    onboard::initialize(
        &mut transport,
        &mut keys,
        &mut credentials,
        &DiOptions::default(),
    )
    .await
    .expect("DI");
    let options = OnboardOptions {
        max_rounds: 1,
        ..OnboardOptions::default()
    };
    onboard::onboard(&mut credentials, &mut keys, &options)
        .await
        .expect("TO1 and TO2");
}
