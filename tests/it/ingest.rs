//! The webhook's group commit: many deliveries in few commits, every 200 stored,
//! identical bodies stored once, a failed commit refusing its whole batch, a stopped
//! writer refusing what comes after, and a daemon killed under load keeping every
//! delivery it answered 200.

use std::collections::HashSet;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use reminderd::store::{Inserted, Store, inbox_digest};
use reminderd::webhook::ingest::{Ingest, IngestError, inbox_writer};
use reminderd::whatsapp::signature;
use reqwest::StatusCode;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::helpers::{APP_SECRET, databases, open, spawn_app_on};

const EMPTY_FEED: &str =
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nEND:VCALENDAR\r\n";

/// A delivery status webhook whose bytes are unique to `n`.
fn status_body(n: usize) -> String {
    serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "5467539754836534", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "31201234567", "phone_number_id": "1122334455667" },
            "statuses": [{ "id": format!("wamid.ingest{n}"), "status": "delivered",
                           "timestamp": "1790000000", "recipient_id": "31612345678" }]
        }}]}]
    })
    .to_string()
}

/// Hands `bodies` to `ingest` from tasks of their own, and returns once all are
/// waiting in the queue (so a writer started now takes them in one batch).
async fn hand_over(
    ingest: &Ingest,
    bodies: Vec<String>,
) -> JoinSet<(usize, Result<Inserted, IngestError>)> {
    let before = ingest.waiting();
    let count = bodies.len();
    let mut waiting = JoinSet::new();
    for (i, body) in bodies.into_iter().enumerate() {
        let ingest = ingest.clone();
        waiting.spawn(async move { (i, ingest.store(Bytes::from(body), Utc::now()).await) });
    }
    let started = Instant::now();
    while ingest.waiting() < before + count {
        assert!(started.elapsed() < Duration::from_secs(10), "deliveries not handed over");
        tokio::task::yield_now().await;
    }
    waiting
}

/// Every outcome, in the order the bodies were handed over.
async fn outcomes(
    mut waiting: JoinSet<(usize, Result<Inserted, IngestError>)>,
) -> Vec<Result<Inserted, IngestError>> {
    let mut all = Vec::new();
    while let Some(done) = waiting.join_next().await {
        all.push(done.expect("a waiting handler"));
    }
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, outcome)| outcome).collect()
}

async fn inbox_count(store: &Store) -> i64 {
    store.unprocessed_inbox_count().await.expect("count the inbox")
}

#[tokio::test]
async fn concurrent_deliveries_are_all_stored_in_fewer_commits_than_requests() {
    for db in databases().await {
        let backend = db.backend;
        let app = Arc::new(spawn_app_on(db, EMPTY_FEED, Utc::now()).await);
        let mut posts = JoinSet::new();
        for n in 0..100 {
            let app = app.clone();
            posts.spawn(async move { app.post_signed(&status_body(n)).await });
        }
        // a redelivery of the same bytes, racing the first
        for _ in 0..2 {
            let app = app.clone();
            posts.spawn(async move { app.post_signed(&status_body(1_000)).await });
        }
        while let Some(status) = posts.join_next().await {
            assert_eq!(status.unwrap(), StatusCode::OK, "{backend}");
        }
        assert_eq!(inbox_count(&app.services.store).await, 101, "{backend}");
        let ingest = &app.services.ingest;
        assert_eq!(ingest.deliveries(), 102, "{backend}");
        assert!(ingest.commits() < 102, "{backend}: {} commits for 102 requests", ingest.commits());
    }
}

#[tokio::test]
async fn identical_bodies_in_one_batch_are_both_answered_and_stored_once() {
    for db in databases().await {
        let store = open(&db).await;
        let (ingest, writer) = inbox_writer(store.clone(), Arc::new(Notify::new()));
        let waiting =
            hand_over(&ingest, vec![status_body(1), status_body(2), status_body(1)]).await;
        let shutdown = CancellationToken::new();
        let writer = tokio::spawn(writer.run(shutdown.clone()));
        let answers: Vec<Inserted> =
            outcomes(waiting).await.into_iter().map(|o| o.expect("stored")).collect();
        assert!(matches!(answers[..], [Inserted::New(_), Inserted::New(_), Inserted::Duplicate]));
        assert_eq!(ingest.commits(), 1, "{}: one batch, one commit", db.backend);
        assert_eq!(inbox_count(&store).await, 2, "{}", db.backend);

        // and a redelivery in a later batch is a duplicate too
        let again = ingest.store(Bytes::from(status_body(2)), Utc::now()).await.unwrap();
        assert_eq!(again, Inserted::Duplicate);
        assert_eq!(inbox_count(&store).await, 2, "{}", db.backend);
        shutdown.cancel();
        writer.await.unwrap();
    }
}

/// Makes every insert of a body containing `poison` fail, as a full disk or a lost
/// connection would fail a commit.
async fn poison_inserts(store: &Store) {
    match store {
        Store::Sqlite(db) => {
            sqlx::raw_sql(
                "create trigger poison before insert on inbox
                 when cast(new.body as text) like '%poison%'
                 begin select raise(abort, 'poisoned delivery'); end",
            )
            .execute(&**db)
            .await
            .unwrap();
        }
        Store::Postgres(pool) => {
            sqlx::raw_sql(
                "create function poison() returns trigger language plpgsql as $$
                 begin
                     if position('poison'::bytea in new.body) > 0 then
                         raise exception 'poisoned delivery';
                     end if;
                     return new;
                 end $$;
                 create trigger poison before insert on inbox
                 for each row execute function poison();",
            )
            .execute(pool)
            .await
            .unwrap();
        }
    }
}

#[tokio::test]
async fn a_failed_commit_refuses_every_delivery_of_its_batch_and_stores_none() {
    for db in databases().await {
        let store = open(&db).await;
        poison_inserts(&store).await;
        let (ingest, writer) = inbox_writer(store.clone(), Arc::new(Notify::new()));
        // 40 bodies: inserted in statements of 32 and 8, the poison in the last one,
        // so the first statement succeeded before the transaction failed
        let mut bodies: Vec<String> = (0..39).map(status_body).collect();
        bodies.push(status_body(39).replace("delivered", "poison"));
        let waiting = hand_over(&ingest, bodies).await;
        let shutdown = CancellationToken::new();
        let writer = tokio::spawn(writer.run(shutdown.clone()));
        for outcome in outcomes(waiting).await {
            assert!(matches!(outcome, Err(IngestError::Store(_))), "{}: {outcome:?}", db.backend);
        }
        assert_eq!(inbox_count(&store).await, 0, "{}: nothing of the batch", db.backend);
        assert_eq!(ingest.commits(), 0);

        // the writer goes on with the next batch
        let next = ingest.store(Bytes::from(status_body(0)), Utc::now()).await;
        assert!(matches!(next, Ok(Inserted::New(_))), "{}: {next:?}", db.backend);
        assert_eq!(inbox_count(&store).await, 1, "{}", db.backend);
        shutdown.cancel();
        writer.await.unwrap();
    }
}

#[tokio::test]
async fn on_shutdown_the_writer_stores_what_it_was_given_and_refuses_the_rest() {
    for db in databases().await {
        let store = open(&db).await;
        let (ingest, writer) = inbox_writer(store.clone(), Arc::new(Notify::new()));
        let waiting = hand_over(&ingest, (0..5).map(status_body).collect()).await;
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        writer.run(shutdown).await;
        for outcome in outcomes(waiting).await {
            assert!(matches!(outcome, Ok(Inserted::New(_))), "{}: {outcome:?}", db.backend);
        }
        assert_eq!(inbox_count(&store).await, 5, "{}", db.backend);
        let late = ingest.store(Bytes::from(status_body(5)), Utc::now()).await;
        assert!(matches!(late, Err(IngestError::Stopped)), "{}: {late:?}", db.backend);
    }
}

/// The daemon as systemd runs it, killed with SIGKILL while deliveries pour in: every
/// body it answered 200 is in the database afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_under_load_keeps_every_delivery_it_answered_200() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("reminderd.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{}\"\nrules_dir = \"{}/reminder-rules\"\n[server]\nlisten = \"127.0.0.1:0\"\n\
             [whatsapp]\nchannel = \"log\"\napp_secret = \"{APP_SECRET}\"\n\
             [security]\nsecret_key = \"0123456789abcdef0123456789abcdef\"\n",
            dir.path().display(),
            env!("CARGO_MANIFEST_DIR")
        ),
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_reminderd"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("REMINDERD_")) {
        command.env_remove(key);
    }
    let mut daemon = command
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env("REMINDERD_LOG__FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // read its log to the end, or the pipe fills and the daemon blocks
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = daemon.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            if v["fields"]["message"] == "listening" {
                let _ = tx.send(v["fields"]["addr"].as_str().unwrap_or_default().to_string());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(60)).expect("the daemon says where it listens");
    let url = format!("http://{addr}/webhooks/whatsapp");

    let http = reqwest::Client::new();
    let answered = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let mut clients = JoinSet::new();
    for client in 0..16 {
        let (http, url, answered, killed) =
            (http.clone(), url.clone(), answered.clone(), killed.clone());
        clients.spawn(async move {
            let mut stored = Vec::new();
            for n in (client..).step_by(16) {
                let body = status_body(n);
                let signature = signature::sign(APP_SECRET.as_bytes(), body.as_bytes());
                let response =
                    http.post(&url).header("x-hub-signature-256", signature).body(body.clone());
                match response.send().await {
                    Ok(r) if r.status() == StatusCode::OK => {
                        stored.push(inbox_digest(body.as_bytes()));
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    _ if killed.load(Ordering::Relaxed) => break,
                    Ok(r) => panic!("{} before the kill", r.status()),
                    Err(e) => panic!("{e} before the kill"),
                }
            }
            stored
        });
    }
    let started = Instant::now();
    while answered.load(Ordering::Relaxed) < 300 {
        assert!(started.elapsed() < Duration::from_secs(60), "the load did not get going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    killed.store(true, Ordering::Relaxed);
    daemon.kill().unwrap(); // SIGKILL
    daemon.wait().unwrap();
    let mut acknowledged = Vec::new();
    while let Some(client) = clients.join_next().await {
        acknowledged.extend(client.unwrap());
    }

    let url = format!("sqlite://{}", dir.path().join("reminderd.sqlite3").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let in_store: HashSet<String> = sqlx::query_scalar("select body_sha256 from inbox")
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let lost = acknowledged.iter().filter(|d| !in_store.contains(*d)).count();
    assert!(acknowledged.len() >= 300);
    assert_eq!(lost, 0, "{lost} of {} deliveries answered 200 are lost", acknowledged.len());
}
