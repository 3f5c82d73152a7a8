//! Webhook ingestion at volume: the real daemon (`reminderd serve`, the release binary)
//! on SQLite, fed correctly signed deliveries over loopback by a load generator in this
//! process. One delivery in ten is a batch of 50 statuses, the others a single inbound
//! text; both are built from real payloads of `tests/conformance/whatsapp/webhooks/`,
//! each with its own ids. The inbox processor runs as in production (the events are
//! statuses of unknown messages and texts from unknown numbers: read, logged, done).
//!
//! `cargo bench --bench webhook [-- SECONDS]` (default 10 s per phase). Reports:
//! - the disk's sync time in the temp dir (the least one group commit costs);
//! - max throughput: 64 connections, each posting as soon as its last answer came,
//!   for SECONDS: accepted requests/s and events/s (a batch is 50 events), latency
//!   p50/p99 (target ≥ 10,000 events/s stored durably);
//! - paced: 2,000 requests/s on a fixed schedule for SECONDS (open loop: each request
//!   goes at its scheduled time whatever the earlier ones do, and its latency counts
//!   from that time, so a stall counts for every request it delays): p50/p99/max
//!   (target p99 < 20 ms);
//! - loss: after a clean stop, the inbox holds every body answered 200 (target: all);
//! - SIGKILL: under load from 64 connections the daemon is killed with `kill -9`,
//!   started again, and every body answered 200 before the kill must be in the inbox.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reminderd::whatsapp::signature;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::sqlite::SqlitePoolOptions;
use tokio::task::JoinSet;

const BIN: &str = env!("CARGO_BIN_EXE_reminderd");
const APP_SECRET: &str = "bench-app-secret";
const CONNECTIONS: usize = 64;
const PACED_RATE: u32 = 2_000;
/// One delivery in this many is a batch of statuses.
const BATCH_EVERY: u64 = 10;
const BATCH_STATUSES: usize = 50;
const WEBHOOKS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance/whatsapp/webhooks");

fn main() {
    let seconds: u64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run(Duration::from_secs(seconds)));
}

async fn run(phase: Duration) {
    let dir = tempfile::tempdir().unwrap();
    println!("machine:               {} cores, load average {}", cores(), load_average());
    let sync = disk_sync(dir.path());
    println!("disk sync (fdatasync): p50 {:>6.0} µs   p99 {:>6.0} µs", sync.0, sync.1);
    let listen = free_port();
    let config = write_config(dir.path(), listen);
    let load = Arc::new(Load::new(listen));
    println!(
        "load:                  1 delivery in {BATCH_EVERY} a batch of {BATCH_STATUSES} statuses, \
         the others 1 text ({:.1} events a request)",
        (BATCH_EVERY - 1 + BATCH_STATUSES as u64) as f64 / BATCH_EVERY as f64
    );

    let mut daemon = Daemon::start(&config, dir.path(), listen).await;
    let warmup = closed_loop(&load, CONNECTIONS, Duration::from_secs(1), None).await;
    let mut accepted = warmup.accepted;

    let mut max = closed_loop(&load, CONNECTIONS, phase, None).await;
    max.print(&format!("max, {CONNECTIONS} connections"));
    accepted.extend(&max.accepted);

    let mut paced = paced(&load, PACED_RATE, phase).await;
    paced.print(&format!("paced {PACED_RATE}/s"));
    accepted.extend(&paced.accepted);
    println!("inbox backlog now:     {:>8} (processed while the load runs)", backlog(listen).await);
    let stopping = Instant::now();
    daemon.stop();
    println!("clean stop (SIGTERM):  {:>8.1?}", stopping.elapsed());

    let stored = stored_digests(&dir.path().join("reminderd.sqlite3")).await;
    let found = accepted.iter().filter(|d| stored.contains(*d)).count();
    println!(
        "loss after stop:       {} answered 200, {found} in the inbox, {} stored without a 200 \
         (target: all found)",
        accepted.len(),
        stored.len() - found,
    );

    // under load, kill -9, start again: is every 200 in the store?
    let mut daemon = Daemon::start(&config, dir.path(), listen).await;
    let stop = Arc::new(AtomicBool::new(false));
    let killed = {
        let load = load.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            closed_loop(&load, CONNECTIONS, Duration::from_secs(30), Some(stop)).await
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    daemon.kill();
    stop.store(true, Ordering::Relaxed);
    let killed = killed.await.unwrap();
    // started again; read while it runs (WAL lets a reader in)
    let mut daemon = Daemon::start(&config, dir.path(), listen).await;
    let stored = stored_digests(&dir.path().join("reminderd.sqlite3")).await;
    daemon.stop();
    let found = killed.accepted.iter().filter(|d| stored.contains(*d)).count();
    println!(
        "SIGKILL under load:    {} answered 200 before the kill, {found} in the inbox after \
         restart; {} failed at the kill (target: all found)",
        killed.accepted.len(),
        killed.failed,
    );
    println!("machine:               load average {} at the end", load_average());
    if std::env::var("BENCH_KEEP").is_ok() {
        println!("kept:                  {}", dir.keep().display());
    }
}

/// Signed deliveries with fresh ids, posted to the daemon.
struct Load {
    http: reqwest::Client,
    url: String,
    next: AtomicU64,
    /// A delivery with `__N__` where its ids go.
    single: String,
    batch: String,
}

impl Load {
    fn new(listen: SocketAddr) -> Self {
        let read = |name: &str| -> Value {
            serde_json::from_str(&std::fs::read_to_string(format!("{WEBHOOKS}/{name}")).unwrap())
                .unwrap()
        };
        let mut single = read("text_pywa.json");
        let value = &mut single["entry"][0]["changes"][0]["value"];
        value["messages"][0]["id"] = json!("wamid.bench__N__");
        value["messages"][0]["from"] = json!("3161__N__");
        value["contacts"][0]["wa_id"] = json!("3161__N__");
        value["messages"][0]["text"]["body"] = json!("Kan ik mijn afspraak verzetten? (__N__)");
        let mut batch = read("status_delivered_pywa.json");
        let value = &mut batch["entry"][0]["changes"][0]["value"];
        let status = value["statuses"][0].clone();
        value["statuses"] = (0..BATCH_STATUSES)
            .map(|k| {
                let mut s = status.clone();
                s["id"] = json!(format!("wamid.bench__N__.{k}"));
                s["recipient_id"] = json!(format!("3162__N__{k:02}"));
                s
            })
            .collect();
        Load {
            http: reqwest::Client::new(),
            url: format!("http://{listen}/webhooks/whatsapp"),
            next: AtomicU64::new(1),
            single: single.to_string(),
            batch: batch.to_string(),
        }
    }

    /// Posts the next delivery; its events and digest when answered 200.
    async fn post(&self) -> Result<(u64, [u8; 32]), String> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let (template, events) = if n.is_multiple_of(BATCH_EVERY) {
            (&self.batch, BATCH_STATUSES as u64)
        } else {
            (&self.single, 1)
        };
        let body = template.replace("__N__", &n.to_string());
        let signature = signature::sign(APP_SECRET.as_bytes(), body.as_bytes());
        let digest: [u8; 32] = Sha256::digest(body.as_bytes()).into();
        let response = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        response.bytes().await.map_err(|e| e.to_string())?;
        if status.is_success() { Ok((events, digest)) } else { Err(status.to_string()) }
    }
}

/// What a phase saw.
#[derive(Default)]
struct Run {
    /// Digests of the bodies answered 200.
    accepted: Vec<[u8; 32]>,
    events: u64,
    failed: usize,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Run {
    fn record(&mut self, latency: Duration, outcome: Result<(u64, [u8; 32]), String>) {
        self.latencies.push(latency);
        match outcome {
            Ok((events, digest)) => {
                self.events += events;
                self.accepted.push(digest);
            }
            Err(_) => self.failed += 1,
        }
    }

    fn merge(&mut self, other: Run) {
        self.accepted.extend(other.accepted);
        self.events += other.events;
        self.failed += other.failed;
        self.latencies.extend(other.latencies);
    }

    fn print(&mut self, name: &str) {
        self.latencies.sort();
        let pct = |p: f64| {
            let i = ((self.latencies.len() - 1) as f64 * p).round() as usize;
            self.latencies[i].as_secs_f64() * 1e3
        };
        let s = self.elapsed.as_secs_f64();
        println!(
            "{name:<22} {:>7.0} req/s {:>8.0} events/s   p50 {:>5.1} ms   p99 {:>6.1} ms   \
             max {:>6.1} ms   {} not 200",
            self.accepted.len() as f64 / s,
            self.events as f64 / s,
            pct(0.5),
            pct(0.99),
            pct(1.0),
            self.failed,
        );
    }
}

/// `connections` clients, each posting again as soon as it has its answer, for `time`
/// or until `stop`; a client stops at its first failure after `stop`.
async fn closed_loop(
    load: &Arc<Load>,
    connections: usize,
    time: Duration,
    stop: Option<Arc<AtomicBool>>,
) -> Run {
    let started = Instant::now();
    let mut clients = JoinSet::new();
    for _ in 0..connections {
        let load = load.clone();
        let stop = stop.clone();
        clients.spawn(async move {
            let mut run = Run::default();
            let stopped = || stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed));
            while started.elapsed() < time && !stopped() {
                let sent = Instant::now();
                let outcome = load.post().await;
                run.record(sent.elapsed(), outcome);
            }
            run
        });
    }
    let mut run = Run::default();
    while let Some(client) = clients.join_next().await {
        run.merge(client.unwrap());
    }
    run.elapsed = started.elapsed();
    run
}

/// `rate` requests a second on a fixed schedule for `time`, each sent at its time
/// whatever the others do; latency counts from the scheduled time.
async fn paced(load: &Arc<Load>, rate: u32, time: Duration) -> Run {
    let interval = Duration::from_secs(1) / rate;
    let total = rate as u64 * time.as_secs();
    let started = Instant::now();
    let mut requests = JoinSet::new();
    for i in 0..total {
        let due = started + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let load = load.clone();
        requests.spawn(async move {
            let outcome = load.post().await;
            (due.elapsed(), outcome)
        });
    }
    let mut run = Run::default();
    while let Some(request) = requests.join_next().await {
        let (latency, outcome) = request.unwrap();
        run.record(latency, outcome);
    }
    run.elapsed = started.elapsed();
    run
}

/// The daemon process, stopped (SIGTERM, as systemd does) when dropped.
struct Daemon(Child);

impl Daemon {
    async fn start(config: &Path, dir: &Path, listen: SocketAddr) -> Daemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("daemon.log"))
            .unwrap();
        let mut daemon = Daemon(
            Command::new(BIN)
                .args(["serve", "--config"])
                .arg(config)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        let http = reqwest::Client::new();
        let url = format!("http://{listen}/readyz");
        for _ in 0..3000 {
            if let Ok(Some(status)) = daemon.0.try_wait() {
                let log = std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();
                panic!("the daemon exited with {status}:\n{log}");
            }
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return daemon;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the daemon was not ready within 30 s");
    }

    fn stop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let status = self.0.wait().unwrap();
        assert!(status.success(), "the daemon stopped with {status}");
    }

    /// SIGKILL: no chance to finish anything.
    fn kill(&mut self) {
        self.0.kill().unwrap();
        let _ = self.0.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = Command::new("kill").arg(self.0.id().to_string()).status();
            let _ = self.0.wait();
        }
    }
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

fn write_config(dir: &Path, listen: SocketAddr) -> PathBuf {
    // the shipped rules; there are no appointments, so they plan nothing
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/reminder-rules");
    let path = dir.join("reminderd.toml");
    std::fs::write(
        &path,
        format!(
            r#"state_dir = "{dir}"
rules_dir = "{rules}"
[server]
listen = "{listen}"
[whatsapp]
channel = "log"
app_secret = "{APP_SECRET}"
verify_token = "bench-verify-token"
[security]
secret_key = "a bench secret key that is long enough for the config"
"#,
            dir = dir.display(),
        ),
    )
    .unwrap();
    path
}

/// The SHA-256 of every stored body.
async fn stored_digests(db: &Path) -> HashSet<[u8; 32]> {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let rows: Vec<String> =
        sqlx::query_scalar("select body_sha256 from inbox").fetch_all(&pool).await.unwrap();
    pool.close().await;
    rows.iter().map(|h| hex::decode(h).unwrap().try_into().unwrap()).collect()
}

/// Deliveries stored and not yet processed, from `/readyz`.
async fn backlog(listen: SocketAddr) -> i64 {
    let ready: Value =
        reqwest::get(format!("http://{listen}/readyz")).await.unwrap().json().await.unwrap();
    ready["inbox_backlog"].as_i64().unwrap_or(-1)
}

/// p50 and p99 of `fdatasync` after a 4 KiB write in `dir`, in µs.
fn disk_sync(dir: &Path) -> (f64, f64) {
    use std::io::{Seek, Write};
    let mut file = std::fs::File::create(dir.join("sync-probe")).unwrap();
    let mut times: Vec<f64> = (0..200)
        .map(|i| {
            file.seek(std::io::SeekFrom::Start((i % 16) * 4096)).unwrap();
            file.write_all(&[b'x'; 4096]).unwrap();
            let t = Instant::now();
            file.sync_data().unwrap();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    let _ = std::fs::remove_file(dir.join("sync-probe"));
    times.sort_by(f64::total_cmp);
    (times[100], times[198])
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
