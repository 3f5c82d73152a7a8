//! Import at volume: a generated feed of 100,000 events (single visits and weekly
//! series, in several time zones), read, expanded and reconciled into a fresh SQLite
//! database, then imported again unchanged.
//!
//! `cargo bench --bench import [-- EVENTS [--first-only]]`. Prints each phase's time
//! and the process's peak memory; `--first-only` runs the first import alone (for a
//! profiler: `perf record … target/release/deps/import-… 100000 --first-only`). Targets (2-core machine): first import under 3 s, re-import of the
//! unchanged feed under 100 ms, peak memory under 300 MB.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use reminderd::clock::Clock;
use reminderd::domain::Region;
use reminderd::import::fetch::Fetcher;
use reminderd::import::runner::{ImportOptions, ImportOutcome, Importer, SourceSpec};
use reminderd::import::sync::{VanishGuard, Window};
use reminderd::import::{ical, to_appointments};
use reminderd::rules::RuleSet;
use reminderd::store::Store;

/// The allocator the binary uses (see `src/main.rs`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ZONES: [&str; 4] = ["Europe/Amsterdam", "Europe/London", "America/New_York", "Asia/Tokyo"];

fn main() {
    let events: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let first_only = std::env::args().any(|a| a == "--first-only");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run(events, first_only));
}

async fn run(events: usize, first_only: bool) {
    let now = Utc.with_ymd_and_hms(2026, 10, 13, 6, 0, 0).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let feed_path = dir.path().join("feed.ics");
    let started = Instant::now();
    let feed = generate(events, now);
    std::fs::write(&feed_path, &feed).unwrap();
    println!(
        "generated {events} events ({:.1} MB) in {:.2?}",
        feed.len() as f64 / 1e6,
        started.elapsed()
    );

    let options = ImportOptions {
        lookahead: Duration::from_secs(14 * 86_400),
        zone: chrono_tz::Europe::Amsterdam,
        region: Region::default(),
        workdays: Default::default(),
        refresh_interval: Duration::from_secs(3600),
        guard: VanishGuard { max_share: 0.5, from: 10 },
    };
    let source = SourceSpec {
        name: "bench".into(),
        location: feed_path.display().to_string(),
        poll_interval: Duration::from_secs(300),
        default_location: Some("Praktijk De Linde".into()),
        contact: Default::default(),
        auth: None,
        include_all_day: false,
        sql: None,
    };
    let window = Window { from: now, to: now + ChronoDuration::days(14) };

    // the phases on their own
    if !first_only {
        phases(&feed, &source, window, &options);
    }
    // the daemon reads the feed from its source; the bench's own copy goes
    drop(feed);

    // the importer as the daemon runs it
    let db = format!("sqlite://{}", dir.path().join("bench.sqlite3").display());
    let store = Store::connect(&db, 4).await.unwrap();
    store.migrate().await.unwrap();
    let rules =
        RuleSet::load(concat!(env!("CARGO_MANIFEST_DIR"), "/reminder-rules").as_ref()).unwrap();
    let clock = Clock::manual(now);
    let fetcher = Fetcher::new(Duration::from_secs(30), 500_000_000).unwrap();
    let importer = Importer::new(store.clone(), clock.clone(), fetcher, Arc::new(rules), options);

    let cpu = cpu_time();
    let first = timed(&importer, &source).await;
    let cpu = cpu_time().zip(cpu).map(|(after, before)| after - before);
    let ImportOutcome::Applied(report) = &first.1 else { panic!("the first import applies") };
    println!(
        "first import:          {:>10.2?}  (fetch, parse, expand, reconcile into SQLite: {} \
         appointments, {} reminders planned)   target < 3 s",
        first.0, report.inserted, report.reminders_planned
    );
    if let Some(cpu) = cpu {
        // on a busy machine the wall time says little; the CPU time less so
        println!(
            "… its CPU time:        {cpu:>10.2?}  (all threads: ours, the reader's, SQLite's)"
        );
    }
    // the daemon copies the write-ahead log into the database file in the background,
    // not in the import's commit; timed here so that it is not hidden
    let t = Instant::now();
    let pages = store.checkpoint().await.unwrap();
    println!(
        "… WAL checkpoint after: {:>10.2?}  ({pages} pages; in the daemon, in the background)",
        t.elapsed()
    );
    if !first_only {
        again(&importer, &source, &clock).await;
    }
    match peak_rss_mb() {
        Some(mb) => println!("peak memory (VmHWM):   {mb:>8.0} MB   target < 300 MB"),
        None => println!("peak memory: not available on this platform"),
    }
}

/// The imports after the first: the same bytes, then a full re-read.
async fn again(importer: &Importer, source: &SourceSpec, clock: &Clock) {
    let again = timed(importer, source).await;
    assert_eq!(again.1, ImportOutcome::Unchanged);
    println!(
        "unchanged re-import:   {:>10.2?}  (same bytes: no parsing, no writes)   target < 100 ms",
        again.0
    );
    clock.advance(ChronoDuration::hours(2));
    let refresh = timed(importer, source).await;
    let ImportOutcome::Applied(report) = &refresh.1 else { panic!("a refresh applies") };
    println!(
        "full re-read, no change:{:>10.2?}  (after import.refresh_interval: {} unchanged, {} updated)",
        refresh.0, report.unchanged, report.updated
    );
}

/// Reading on its own: parsing and expanding, then with the contacts.
fn phases(feed: &str, source: &SourceSpec, window: Window, options: &ImportOptions) {
    let t = Instant::now();
    let read = ical::read_feed(feed, options.zone, window.from, window.to).unwrap();
    let parse = t.elapsed();
    let occurrences = read.occurrences.len();
    drop(read);
    let t = Instant::now();
    let appointments = to_appointments(feed, source, window, options).unwrap();
    let mapped = t.elapsed();
    println!(
        "parse + expand:        {parse:>10.2?}  ({occurrences} occurrences in the 14-day window)"
    );
    println!("… + contacts:          {mapped:>10.2?}  ({} appointments)", appointments.len());
    drop(appointments);
}

async fn timed(importer: &Importer, source: &SourceSpec) -> (Duration, ImportOutcome) {
    let t = Instant::now();
    let outcome = importer.import(source).await.unwrap();
    (t.elapsed(), outcome)
}

/// A feed like a busy group practice's export: four of five events single visits, one
/// in five a weekly series that started months ago; times in four zones (and some in
/// UTC); a phone number in an attendee or in the description.
fn generate(events: usize, now: DateTime<Utc>) -> String {
    let mut out = String::with_capacity(events * 330);
    out.push_str("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//reminderd//bench//NL\r\n");
    for i in 0..events {
        let zone = ZONES[i % ZONES.len()];
        let series = i % 5 == 0;
        let start = if series {
            now - ChronoDuration::days(120)
                + ChronoDuration::minutes((i % (7 * 24 * 4)) as i64 * 15)
        } else {
            now + ChronoDuration::minutes((i % (14 * 24 * 4)) as i64 * 15)
        };
        let local = start.with_timezone(&zone.parse::<chrono_tz::Tz>().unwrap());
        out.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:bench-{i}@praktijk\r\nDTSTAMP:20261001T120000Z\r\n"
        ));
        if i % 7 == 3 {
            out.push_str(&format!("DTSTART:{}\r\n", start.format("%Y%m%dT%H%M%SZ")));
        } else {
            out.push_str(&format!("DTSTART;TZID={zone}:{}\r\n", local.format("%Y%m%dT%H%M%S")));
        }
        out.push_str("DURATION:PT30M\r\n");
        if series {
            out.push_str("RRULE:FREQ=WEEKLY;COUNT=52\r\n");
        }
        out.push_str(&format!("SUMMARY:Controle {i}\r\nLOCATION:Kamer {}\r\n", i % 9 + 1));
        if i % 2 == 0 {
            out.push_str(&format!("ATTENDEE;CN=Klant {i}:tel:06-{:08}\r\n", 10_000_000 + i));
        } else {
            out.push_str(&format!("DESCRIPTION:Klant {i}\\nTel: +31 6 {:08}\r\n", 20_000_000 + i));
        }
        out.push_str("END:VEVENT\r\n");
    }
    out.push_str("END:VCALENDAR\r\n");
    out
}

/// The CPU time the process has used so far (user and system, all threads), from /proc
/// (Linux).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // the fields after the command name, which is in parentheses and may hold spaces
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime (fields 14 and 15 of proc(5)), in clock ticks of 1/100 s
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// The process's peak resident memory, from /proc (Linux).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
