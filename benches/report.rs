//! The staff report at a busy practice: the real daemon in-process (the router, the
//! store, the templates) on an SQLite store holding APPOINTMENTS a day for the 14 days
//! the page's chart covers, with a mix of answers and reminders; a logged-in client
//! asks for the last day's page over loopback.
//!
//! `cargo bench --bench report [-- APPOINTMENTS [REQUESTS]]` (defaults 2,000 and 50).
//! Reports the page's size and rows, and the time per request (p50, p99, max; the
//! target is under 200 ms), with the share of it spent reading the store.

use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, TimeZone, Utc};
use figment::Figment;
use figment::providers::{Format, Toml};
use reminderd::app::Application;
use reminderd::clock::Clock;
use reminderd::config::{DEFAULTS, Settings};
use reminderd::domain::{AppointmentStatus, OutboxKind, Reply};
use reminderd::store::{AppointmentInput, DedupKeys, NewOutbox, Store};
use tokio_util::sync::CancellationToken;

const PASSWORD: &str = "a bench password";
const DAYS: i64 = 14;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let per_day: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2_000);
    let requests: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run(per_day, requests));
}

/// The last day shown: Wednesday 14 October 2026; the chart starts 13 days before.
fn first_day() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 1, 6, 0, 0).unwrap()
}

async fn run(per_day: usize, requests: usize) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("reminderd.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let store = Store::connect(&url, 4).await.unwrap();
    store.migrate().await.unwrap();
    let seeded = Instant::now();
    seed(&store, &url, per_day).await;
    store.close().await;
    println!(
        "store: {} appointments over {DAYS} days, seeded in {:.1} s",
        per_day * DAYS as usize,
        seeded.elapsed().as_secs_f64()
    );

    let settings = settings(dir.path(), &url);
    // the morning of the last day, as the front desk opens it
    let now = first_day() + Duration::days(DAYS - 1) + Duration::hours(1);
    let app = Application::build(&settings, Clock::manual(now)).await.unwrap();
    let addr = app.local_addr();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.serve_until_stopped(shutdown.clone()));
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = http.get(format!("http://{addr}/login")).send().await.unwrap();
    let nonce = form.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap();
    let nonce = nonce.to_string();
    let html = form.text().await.unwrap();
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap();
    let login = http
        .post(format!("http://{addr}/login"))
        .header("cookie", nonce)
        .form(&[("name", "balie"), ("password", PASSWORD), ("csrf", csrf)])
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap();
    let cookie = cookie.to_string();
    let page = format!("http://{addr}/report?date=2026-10-14");

    // one to warm the caches, then the measured ones
    let body = http.get(&page).header("cookie", &cookie).send().await.unwrap().text().await;
    let body = body.unwrap();
    let rows = body.matches("<tr id=\"a").count();
    assert_eq!(rows, per_day, "every appointment of the day is a row");
    let mut times = Vec::with_capacity(requests);
    for _ in 0..requests {
        let started = Instant::now();
        let answer = http.get(&page).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        let _ = answer.bytes().await.unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    // a day without appointments: what the page costs besides its rows (the session,
    // the problems, the chart's counts)
    let empty = format!("http://{addr}/report?date=2026-10-20");
    let mut fixed = Vec::with_capacity(requests);
    for _ in 0..requests {
        let started = Instant::now();
        let answer = http.get(&empty).header("cookie", &cookie).send().await.unwrap();
        let _ = answer.bytes().await.unwrap();
        fixed.push(started.elapsed());
    }
    fixed.sort();
    let ms = |d: StdDuration| d.as_secs_f64() * 1000.0;

    // the store's part: the day's rows, and the chart's two weeks in brief
    let store = Store::connect(&url, 1).await.unwrap();
    let day = first_day() + Duration::days(DAYS - 1) - Duration::hours(6);
    let read = Instant::now();
    let day_rows = store.report(day, day + Duration::days(1)).await.unwrap().len();
    let day_read = read.elapsed();
    let last = chrono::NaiveDate::from_ymd_opt(2026, 10, 14).unwrap();
    let bounds = reminderd::report::chart::day_bounds(chrono_tz::Europe::Amsterdam, last, 14);
    let read = Instant::now();
    let tallied = store.tally_by_day(&bounds).await.unwrap();
    let tallied: u32 = tallied.iter().map(|t| t.count).sum();
    let tally_read = read.elapsed();

    println!("page: {rows} rows, {} KiB", body.len() / 1024);
    println!(
        "GET /report ({requests} requests): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (target < 200 ms)",
        ms(at(0.5)),
        ms(at(0.99)),
        ms(times[times.len() - 1]),
    );
    println!("a day without appointments: p50 {:.1} ms", ms(fixed[fixed.len() / 2]));
    println!(
        "of which the store's reads: the day's {day_rows} rows {:.1} ms, the chart's count of {tallied} {:.1} ms",
        ms(day_read),
        ms(tally_read)
    );
    shutdown.cancel();
    let _ = server.await;
}

/// `per_day` appointments a day from 07:00, five minutes apart across calendars, each
/// with a reminder; a third confirmed, one in ten cancelled, one in twenty asking for
/// another time, the rest without an answer.
async fn seed(store: &Store, url: &str, per_day: usize) {
    use sqlx::Connection;
    let now = first_day() - Duration::days(2);
    let mut tx = store.begin().await.unwrap();
    let mut reminders = Vec::with_capacity(per_day * DAYS as usize);
    for day in 0..DAYS {
        for i in 0..per_day {
            let starts_at = first_day()
                + Duration::days(day)
                + Duration::hours(1)
                + Duration::minutes(5 * (i as i64 % 120));
            let input = AppointmentInput {
                external_id: format!("bench-{day}-{i}"),
                starts_at,
                ends_at: starts_at + Duration::minutes(20),
                summary: Some("Controle".into()),
                location: Some(format!("Locatie {}", i % 4)),
                calendar: format!("behandelaar-{}", i % 17),
                customer_name: Some(format!("Klant {i} van dag {day}")),
                customer_phone: Some(format!(
                    "+3161{:07}",
                    (day as usize * per_day + i) % 10_000_000
                )),
                phone_is_mobile: true,
                customer_email: None,
                contact_problem: None,
                status: AppointmentStatus::Scheduled,
                whatsapp_opt_in: None,
            };
            let id = tx.upsert_appointment("praktijk", &input, now).await.unwrap();
            let reply = match i % 20 {
                0..=6 => Reply::Confirmed,
                7 | 8 => Reply::Cancelled,
                9 => Reply::Reschedule,
                _ => Reply::None,
            };
            if reply != Reply::None {
                tx.set_reply(id, reply, starts_at - Duration::hours(20)).await.unwrap();
            }
            reminders.push(NewOutbox {
                appointment_id: id,
                kind: OutboxKind::Reminder,
                rule: "24-uur-ervoor".into(),
                dedup_key: format!("bench:{id}"),
                appointment_start: starts_at,
                due_at: starts_at - Duration::hours(24),
                body: None,
                reply_to: None,
                plan_note: None,
                skipped: None,
            });
        }
    }
    tx.insert_outbox_batch(&reminders, now, DedupKeys::MayExist).await.unwrap();
    tx.commit().await.unwrap();
    // the reminders went out the day before, as the dispatcher records it; one in ten
    // came back failed (a bench has no Meta to send them to)
    let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
    sqlx::query(
        "update outbox set state = 'sent', channel = 'whatsapp', sent_at = due_at, \
         message_id = 'wamid.bench' || id, delivery = case when id % 10 = 0 then 'failed' \
         when id % 3 = 0 then 'read' else 'delivered' end, \
         delivery_error_code = case when id % 10 = 0 then 131026 end",
    )
    .execute(&mut c)
    .await
    .unwrap();
}

fn settings(dir: &std::path::Path, url: &str) -> Settings {
    let hash = reminderd::report::session::hash_password(PASSWORD).unwrap();
    let toml = format!(
        r#"
state_dir = "{state}"
rules_dir = "{rules}"
[server]
listen = "127.0.0.1:0"
[business]
name = "Praktijk De Linde"
[database]
url = "{url}"
[whatsapp]
base_url = "http://127.0.0.1:9"
phone_number_id = "106540352242922"
access_token = "EAAbench"
app_secret = "bench-app-secret"
verify_token = "bench-verify-token"
[security]
secret_key = "a bench secret key that is long enough for the config"
[report]
secure_cookie = false
users = [{{ name = "balie", password_hash = "{hash}" }}]
"#,
        state = dir.display(),
        rules = concat!(env!("CARGO_MANIFEST_DIR"), "/reminder-rules"),
    );
    Settings::from_figment(Figment::new().merge(Toml::string(DEFAULTS)).merge(Toml::string(&toml)))
        .expect("bench settings are valid")
        .settings
}
