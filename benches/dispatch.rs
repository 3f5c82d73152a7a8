//! Dispatch at volume: the real daemon (`reminderd serve`, the release binary) on an
//! SQLite store holding a million pending reminders due over 14 days, sending to a
//! local fake Graph API that answers in 50–300 ms, as Meta does.
//!
//! `cargo bench --bench dispatch [-- REMINDERS [BURST]]` (defaults 1,000,000 and
//! 20,000). Reports:
//! - the store's size, and the daemon's resident memory once ready (target < 150 MB);
//! - the time from start to ready, `/readyz` answering 200 (target < 2 s);
//! - a backlog of BURST reminders all due at once, at `whatsapp.throughput = 1000`: the
//!   rate the fake received (target ≥ 99 % of 1,000/s) and the number of one-second
//!   windows holding more than 1,000 requests, counted at the fake (target 0);
//! - reminders falling due at 500/s, under the limit: due-to-received latency p50/p99
//!   (target p99 < 1 s);
//! - the daemon's peak resident memory over the run.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use rand::Rng;
use reminderd::config::Settings;
use reminderd::import::sync::remember_plan;
use reminderd::rules::{Planning, RuleSet};
use reminderd::store::Store;
use serde_json::{Value, json};
use sqlx::sqlite::SqlitePoolOptions;

const BIN: &str = env!("CARGO_BIN_EXE_reminderd");
const RATE: usize = 1_000;
const STEADY: usize = 5_000;
const STEADY_RATE: usize = 500;

/// One request the fake received: when (monotonic and wall clock), and the outbox row
/// it names in `biz_opaque_callback_data`.
type Received = Arc<Mutex<Vec<(Instant, DateTime<Utc>, i64)>>>;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let total: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let burst: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    assert!(burst + STEADY < total, "REMINDERS must exceed BURST + {STEADY}");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run(total, burst));
}

async fn run(total: usize, burst: usize) {
    let dir = tempfile::tempdir().unwrap();
    let received: Received = Arc::default();
    let fake = fake_graph(received.clone()).await;
    let listen = free_port();
    let config = write_config(dir.path(), fake, listen);
    let status = Command::new(BIN).args(["migrate", "--config"]).arg(&config).status().unwrap();
    assert!(status.success(), "reminderd migrate failed");

    let t = Instant::now();
    let db = dir.path().join("reminderd.sqlite3");
    seed(&db, total, burst).await;
    remember(&config).await;
    let size = ["", "-wal"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", db.display())).ok())
        .map(|m| m.len())
        .sum::<u64>();
    println!(
        "store:                 {total} pending reminders due over 14 days, {:.0} MB on disk \
         (seeded in {:.1?})",
        size as f64 / 1e6,
        t.elapsed()
    );

    let log = std::fs::File::create(dir.path().join("daemon.log")).unwrap();
    let started = Instant::now();
    let mut daemon = Daemon(
        Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let ready = wait_ready(listen, &mut daemon).await;
    let ready_after = started.elapsed();
    let rss_ready = memory(daemon.0.id(), "VmRSS");
    println!("start to ready:        {ready_after:>10.2?}   target < 2 s   ({ready})");
    println!("memory once ready:     {:>8.0} MB   target < 150 MB (VmRSS)", rss_ready);

    // the backlog goes out at the configured rate
    wait_for(&received, burst, Duration::from_secs(120)).await;
    let times: Vec<Instant> = {
        let r = received.lock().unwrap();
        let mut t: Vec<Instant> = r.iter().filter(|x| x.2 <= burst as i64).map(|x| x.0).collect();
        t.sort();
        t
    };
    let span = (*times.last().unwrap() - times[0]).as_secs_f64();
    let rate = (times.len() - 1) as f64 / span;
    let over = windows_over(&times, RATE);
    if std::env::var("BENCH_DEBUG").is_ok() {
        let mut end = 0;
        for (start, t) in times.iter().enumerate() {
            while end < times.len() && times[end] < *t + Duration::from_secs(1) {
                end += 1;
            }
            if end - start > RATE {
                println!("  over at {:.3}s: {}", (*t - times[0]).as_secs_f64(), end - start);
            }
        }
    }
    println!(
        "backlog of {burst}:      {rate:>8.1} /s   ({:.1} % of {RATE}/s; target ≥ 99 %)",
        100.0 * rate / RATE as f64
    );
    println!(
        "busiest 1-s window:    {:>8}   windows over {RATE}: {over}   target 0",
        busiest(&times)
    );

    // then reminders falling due one by one, under the limit
    let first_due = Utc::now() + chrono::Duration::seconds(3);
    let dues = seed_steady(&db, total, first_due).await;
    wait_for(&received, burst + STEADY, Duration::from_secs(120)).await;
    let mut latencies: Vec<f64> = {
        let r = received.lock().unwrap();
        r.iter()
            .filter_map(|(_, at, id)| dues.get(id).map(|due| (*at - *due).as_seconds_f64()))
            .collect()
    };
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    println!(
        "due → sent at {STEADY_RATE}/s:    p50 {:>6.0} ms   p99 {:>6.0} ms   max {:>6.0} ms   \
         target p99 < 1000 ms",
        pct(0.5) * 1e3,
        pct(0.99) * 1e3,
        latencies.last().unwrap() * 1e3
    );
    let peak = memory(daemon.0.id(), "VmHWM");
    println!("daemon peak memory:    {peak:>8.0} MB (VmHWM)");
    let duplicates = {
        let r = received.lock().unwrap();
        let mut ids: Vec<i64> = r.iter().map(|x| x.2).collect();
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        n - ids.len()
    };
    println!("duplicates received:   {duplicates:>8}");
    daemon.stop();
}

/// The daemon process, stopped (SIGTERM, as systemd does) when dropped.
struct Daemon(Child);

impl Daemon {
    fn stop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

/// A Graph API that accepts every message after 50–300 ms and records its arrival.
async fn fake_graph(received: Received) -> SocketAddr {
    async fn messages(State(received): State<Received>, Json(body): Json<Value>) -> Json<Value> {
        let id = body["biz_opaque_callback_data"]
            .as_str()
            .and_then(|d| d.strip_prefix("outbox:"))
            .and_then(|n| n.parse().ok())
            .unwrap_or(-1);
        received.lock().unwrap().push((Instant::now(), Utc::now(), id));
        let latency = rand::rng().random_range(50..=300);
        tokio::time::sleep(Duration::from_millis(latency)).await;
        Json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": body["to"], "wa_id": "31600000000" }],
            "messages": [{ "id": format!("wamid.bench{id}") }]
        }))
    }
    let app = Router::new().route("/v25.0/{phone}/messages", post(messages)).with_state(received);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

fn write_config(dir: &Path, fake: SocketAddr, listen: SocketAddr) -> PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("dag.toml"),
        "when = { before = \"24h\" }\nquiet_hours = { from = \"00:00\", to = \"00:00\" }\n\
         [template]\nname = \"afspraak_herinnering\"\nlanguage = \"nl\"\n\
         body = [\"{first_name}\", \"{date}\", \"{time}\", \"{location}\"]\n\
         buttons = [\"confirm\", \"cancel\", \"reschedule\"]\n",
    )
    .unwrap();
    let path = dir.join("reminderd.toml");
    let mut f = std::fs::File::create(&path).unwrap();
    write!(
        f,
        r#"state_dir = "{dir}"
rules_dir = "{rules}"
[server]
listen = "{listen}"
[business]
name = "Praktijk De Linde"
[whatsapp]
base_url = "http://{fake}"
phone_number_id = "106540352242922"
access_token = "EAAbench"
app_secret = "bench-app-secret"
verify_token = "bench-verify-token"
throughput = {RATE}
messaging_limit = "unlimited"
[security]
secret_key = "a bench secret key that is long enough for the config"
"#,
        dir = dir.display(),
        rules = rules.display(),
    )
    .unwrap();
    path
}

/// `total` appointments with one pending reminder each: the first `burst` due in the
/// minute before now (a backlog), the others spread over the next 14 days from an hour
/// on. Written with SQL alone (a million rows through the store API would take a
/// minute), in the text format the store writes (`2026-10-13T06:00:00+00:00`).
async fn seed(db: &Path, total: usize, burst: usize) {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let now = Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
    let at = |offset: &str| {
        format!("strftime('%Y-%m-%dT%H:%M:%S', '{now}', ({offset}) || ' seconds') || '+00:00'")
    };
    // seconds from now: the backlog in [-60, 0), the rest in [3600, 3600 + 14 days)
    let due = format!(
        "case when i <= {burst} then -60 + (i * 60) / {burst} \
              else 3600 + ((i - {burst}) * {}) / {} end",
        14 * 86_400,
        total - burst
    );
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(&format!(
        "with recursive n(i) as (select 1 union all select i + 1 from n where i < {total})
         insert into appointments (id, source, external_id, starts_at, ends_at, summary,
             calendar, customer_name, customer_phone, phone_is_mobile, status, reply,
             fingerprint, created_at, updated_at)
         select i, 'bench', 'e' || i, {start}, {end}, 'Controle', 'bench', 'Klant ' || i,
             '+3161' || printf('%07d', i), 1, 'scheduled', 'none', 'seed', {now}, {now}
         from n",
        start = at(&format!("{due} + 86400")),
        end = at(&format!("{due} + 88200")),
        now = at("0"),
    ))
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(&format!(
        "with recursive n(i) as (select 1 union all select i + 1 from n where i < {total})
         insert into outbox (id, appointment_id, kind, rule, dedup_key, appointment_start,
             due_at, state, attempts, next_attempt_at, created_at, updated_at)
         select i, i, 'reminder', 'dag', 'reminder:' || i || ':dag', {start}, {due_at},
             'pending', 0, {due_at}, {now}, {now}
         from n",
        start = at(&format!("{due} + 86400")),
        due_at = at(&due),
        now = at("0"),
    ))
    .execute(&mut *tx)
    .await
    .unwrap();
    // every customer opted in (the dispatcher looks it up before each reminder)
    sqlx::query(&format!(
        "with recursive n(i) as (select 1 union all select i + 1 from n where i < {total})
         insert into consents (phone, channel, scope, status, method, evidence, recorded_at,
             recorded_by)
         select '+3161' || printf('%07d', i), 'whatsapp', 'reminders', 'opted_in', 'feed',
             'bench', {now}, 'bench'
         from n",
        now = at("-86400"),
    ))
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    pool.close().await;
}

/// Records that these reminders are the plan of the configured rules, as a daemon that
/// planned them would have: the start measured is an ordinary restart.
async fn remember(config: &Path) {
    let settings = Settings::load(Some(config)).unwrap().settings;
    let rules = RuleSet::load(&settings.rules_dir).unwrap();
    let workdays = settings.business.workdays();
    let planning =
        Planning { rules: &rules, zone: settings.business.time_zone, workdays: &workdays };
    let store = Store::connect(&settings.database_url(), 1).await.unwrap();
    let mut tx = store.begin().await.unwrap();
    remember_plan(&mut tx, planning, Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    store.close().await;
}

/// `STEADY` more appointments and reminders, due one after another at `STEADY_RATE`
/// per second from `first`; returns each outbox id's due time.
async fn seed_steady(db: &Path, total: usize, first: DateTime<Utc>) -> HashMap<i64, DateTime<Utc>> {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let mut dues = HashMap::new();
    let mut tx = pool.begin().await.unwrap();
    for k in 0..STEADY {
        let id = (total + 1 + k) as i64;
        let due = first + chrono::Duration::microseconds((k * 1_000_000 / STEADY_RATE) as i64);
        let start = due + chrono::Duration::days(1);
        sqlx::query(
            "insert into appointments (id, source, external_id, starts_at, ends_at, calendar,
                 customer_name, customer_phone, phone_is_mobile, status, reply, fingerprint,
                 created_at, updated_at)
             values ($1, 'bench', 's' || $1, $2, $2, 'bench', 'Klant', $3, 1, 'scheduled',
                 'none', 'seed', $4, $4)",
        )
        .bind(id)
        .bind(start)
        .bind(format!("+3162{:07}", k))
        .bind(Utc::now())
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::query(
            "insert into outbox (id, appointment_id, kind, rule, dedup_key, appointment_start,
                 due_at, state, attempts, next_attempt_at, created_at, updated_at)
             values ($1, $1, 'reminder', 'dag', 'reminder:' || $1 || ':dag', $2, $3,
                 'pending', 0, $3, $4, $4)",
        )
        .bind(id)
        .bind(start)
        .bind(due)
        .bind(Utc::now())
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::query(
            "insert into consents (phone, channel, scope, status, method, evidence,
                 recorded_at, recorded_by)
             values ($1, 'whatsapp', 'reminders', 'opted_in', 'feed', 'bench', $2, 'bench')",
        )
        .bind(format!("+3162{:07}", k))
        .bind(Utc::now() - chrono::Duration::days(1))
        .execute(&mut *tx)
        .await
        .unwrap();
        dues.insert(id, due);
    }
    tx.commit().await.unwrap();
    pool.close().await;
    dues
}

async fn wait_ready(listen: SocketAddr, daemon: &mut Daemon) -> String {
    let http = reqwest::Client::new();
    let url = format!("http://{listen}/readyz");
    for _ in 0..3000 {
        if let Ok(Some(status)) = daemon.0.try_wait() {
            panic!("the daemon exited with {status}; see its log");
        }
        if let Ok(r) = http.get(&url).send().await
            && r.status().is_success()
        {
            return "200 from /readyz".into();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the daemon was not ready within 30 s");
}

async fn wait_for(received: &Received, n: usize, limit: Duration) {
    let started = Instant::now();
    while received.lock().unwrap().len() < n {
        assert!(
            started.elapsed() < limit,
            "only {} of {n} requests arrived in {limit:?}",
            received.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The most requests in any half-open one-second window.
fn busiest(times: &[Instant]) -> usize {
    let mut most = 0;
    let mut end = 0;
    for (start, t) in times.iter().enumerate() {
        while end < times.len() && times[end] < *t + Duration::from_secs(1) {
            end += 1;
        }
        most = most.max(end - start);
    }
    most
}

/// How many windows, each starting at a request, hold more than `limit` requests.
fn windows_over(times: &[Instant], limit: usize) -> usize {
    let mut over = 0;
    let mut end = 0;
    for (start, t) in times.iter().enumerate() {
        while end < times.len() && times[end] < *t + Duration::from_secs(1) {
            end += 1;
        }
        over += usize::from(end - start > limit);
    }
    over
}

fn memory(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}
