//! Fetching feeds over real HTTP: conditional GET, gzip, redirects, authentication,
//! timeouts and size limits; and what an import keeps when a feed goes wrong.

use std::io::Write;
use std::time::Duration;

use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use reminderd::domain::AppointmentStatus;
use reminderd::import::fetch::{FeedAuth, FetchError, Fetched, Fetcher, Validators};
use reminderd::import::runner::ImportOutcome;
use secrecy::SecretString;
use tokio::io::AsyncWriteExt;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, spawn_app};

const FEED: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//NL\r\nBEGIN:VEVENT\r\nUID:a@p\r\n\
                    DTSTAMP:20261001T120000Z\r\nDTSTART:20261014T083000Z\r\nSUMMARY:x\r\nEND:VEVENT\r\n\
                    END:VCALENDAR\r\n";

fn fetcher() -> Fetcher {
    Fetcher::new(Duration::from_secs(2), 64 * 1024).unwrap()
}

fn text(f: Fetched) -> String {
    match f {
        Fetched::Body { text, .. } => text,
        Fetched::Unchanged => panic!("expected a body"),
    }
}

#[tokio::test]
async fn an_unchanged_feed_costs_a_304() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header("if-none-match", "\"v1\""))
        .respond_with(ResponseTemplate::new(304))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("etag", "\"v1\"")
                .insert_header("last-modified", "Tue, 13 Oct 2026 06:00:00 GMT")
                .set_body_string(FEED),
        )
        .mount(&server)
        .await;
    let url = format!("{}/calendar.ics", server.uri());
    let first = fetcher().fetch(&url, &Validators::default(), None).await.unwrap();
    let Fetched::Body { validators, .. } = first else { panic!("a body first") };
    assert_eq!(validators.etag.as_deref(), Some("\"v1\""));
    assert_eq!(validators.last_modified.as_deref(), Some("Tue, 13 Oct 2026 06:00:00 GMT"));
    let second = fetcher().fetch(&url, &validators, None).await.unwrap();
    assert_eq!(second, Fetched::Unchanged);
}

#[tokio::test]
async fn a_gzip_feed_is_decompressed() {
    let server = MockServer::start().await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(FEED.as_bytes()).unwrap();
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-encoding", "gzip")
                .set_body_raw(gz.finish().unwrap(), "text/calendar"),
        )
        .mount(&server)
        .await;
    let got = fetcher().fetch(&server.uri(), &Validators::default(), None).await.unwrap();
    assert_eq!(text(got), FEED);
}

#[tokio::test]
async fn redirects_are_followed_and_webcal_is_https() {
    let server = MockServer::start().await;
    Mock::given(path("/old.ics"))
        .respond_with(ResponseTemplate::new(301).insert_header("location", "/new.ics"))
        .mount(&server)
        .await;
    Mock::given(path("/new.ics"))
        .respond_with(ResponseTemplate::new(200).set_body_string(FEED))
        .mount(&server)
        .await;
    let got = fetcher()
        .fetch(&format!("{}/old.ics", server.uri()), &Validators::default(), None)
        .await
        .unwrap();
    assert_eq!(text(got), FEED);
    // webcal:// means HTTPS: against a plain-HTTP server the TLS handshake fails
    let webcal = server.uri().replace("http://", "webcal://");
    let err = fetcher().fetch(&webcal, &Validators::default(), None).await.unwrap_err();
    assert!(matches!(err, FetchError::Transport(_)), "{err}");
}

#[tokio::test]
async fn basic_and_bearer_authentication_are_sent_and_a_refusal_says_so() {
    let server = MockServer::start().await;
    // "balie:geheim"
    Mock::given(header("authorization", "Basic YmFsaWU6Z2VoZWlt"))
        .respond_with(ResponseTemplate::new(200).set_body_string(FEED))
        .mount(&server)
        .await;
    Mock::given(header("authorization", "Bearer feed-token"))
        .respond_with(ResponseTemplate::new(200).set_body_string(FEED))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .with_priority(10)
        .mount(&server)
        .await;
    let basic =
        FeedAuth::Basic { username: "balie".into(), password: SecretString::from("geheim") };
    let bearer = FeedAuth::Bearer(SecretString::from("feed-token"));
    let none = Validators::default();
    assert_eq!(text(fetcher().fetch(&server.uri(), &none, Some(&basic)).await.unwrap()), FEED);
    assert_eq!(text(fetcher().fetch(&server.uri(), &none, Some(&bearer)).await.unwrap()), FEED);
    let err = fetcher().fetch(&server.uri(), &none, None).await.unwrap_err();
    assert!(
        err.to_string().contains("HTTP 401") && err.to_string().contains("may need a username"),
        "{err}"
    );
    let wrong = FeedAuth::Bearer(SecretString::from("old-token"));
    let err = fetcher().fetch(&server.uri(), &none, Some(&wrong)).await.unwrap_err();
    assert!(err.to_string().contains("check the source's"), "{err}");
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(FEED).set_delay(Duration::from_secs(5)),
        )
        .mount(&server)
        .await;
    let fetcher = Fetcher::new(Duration::from_millis(300), 1024 * 1024).unwrap();
    let err = fetcher.fetch(&server.uri(), &Validators::default(), None).await.unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[tokio::test]
async fn an_oversized_feed_is_refused_by_its_length_or_while_it_streams() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(65 * 1024)))
        .mount(&server)
        .await;
    let err = fetcher().fetch(&server.uri(), &Validators::default(), None).await.unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err}");

    // a server that sends no length and never stops (100 MB and more): the download is
    // cut at the limit, never held whole
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 1024];
        let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut request).await;
        let head =
            "HTTP/1.1 200 OK\r\ncontent-type: text/calendar\r\ntransfer-encoding: chunked\r\n\r\n";
        if socket.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "B".repeat(64 * 1024));
        for _ in 0..1600 {
            if socket.write_all(chunk.as_bytes()).await.is_err() {
                return; // the client hung up, as it should
            }
        }
    });
    let err = fetcher()
        .fetch(&format!("http://{addr}/"), &Validators::default(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { limit: 65536 }), "{err}");
}

#[tokio::test]
async fn a_feed_that_is_not_utf8_is_refused_with_the_offset() {
    let server = MockServer::start().await;
    let mut body = FEED.as_bytes().to_vec();
    body.insert(20, 0xff);
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "text/calendar"))
        .mount(&server)
        .await;
    let err = fetcher().fetch(&server.uri(), &Validators::default(), None).await.unwrap_err();
    assert!(err.to_string().contains("offset 20"), "{err}");
}

/// Wednesday 14 October 2026 and the days after, 10:00 in Amsterdam.
fn feed_of(days: std::ops::Range<u32>) -> String {
    let mut text = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//NL\r\n");
    for d in days {
        let start: DateTime<Utc> =
            Utc.with_ymd_and_hms(2026, 10, 14, 8, 0, 0).unwrap() + ChronoDuration::days(d as i64);
        text.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:visit-{d}@p\r\nDTSTAMP:20261001T120000Z\r\nDTSTART:{}\r\n\
             DURATION:PT30M\r\nSUMMARY:Controle\r\nATTENDEE;CN=Klant {d}:tel:06-1234{d:04}\r\nEND:VEVENT\r\n",
            start.format("%Y%m%dT%H%M%SZ")
        ));
    }
    text.push_str("END:VCALENDAR\r\n");
    text
}

async fn scheduled(app: &TestApp) -> usize {
    let from = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
    let rows = app.services.store.report(from, from + ChronoDuration::days(60)).await.unwrap();
    rows.iter().filter(|r| r.appointment.status == AppointmentStatus::Scheduled).count()
}

fn morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 13, 6, 0, 0).unwrap()
}

#[tokio::test]
async fn a_feed_that_loses_most_of_its_appointments_is_refused_and_nothing_is_lost() {
    let app = spawn_app(&feed_of(0..12), morning()).await;
    app.import().await;
    assert_eq!(scheduled(&app).await, 12);
    let source = &app.services.sources[0];

    for broken in [feed_of(0..5), feed_of(0..0), feed_of(0..12)[..400].to_string()] {
        app.replace_feed(&broken).await;
        let err = app.services.importer.import(source).await.unwrap_err();
        assert!(
            err.to_string().contains("refused") || err.to_string().contains("truncated"),
            "{err}"
        );
        assert_eq!(scheduled(&app).await, 12, "the last good import is kept");
        let state = app.services.store.source_state("praktijk").await.unwrap().unwrap();
        assert!(state.last_error.is_some());
    }
    // losing a few is an ordinary day: cancelled appointments
    app.replace_feed(&feed_of(0..9)).await;
    app.services.importer.import(source).await.unwrap();
    assert_eq!(scheduled(&app).await, 9);
    let state = app.services.store.source_state("praktijk").await.unwrap().unwrap();
    assert_eq!(state.last_error, None, "a good import clears the error");
}

#[tokio::test]
async fn the_same_feed_again_is_not_read_until_the_refresh_interval() {
    // a weekly series: as days pass, new weeks enter the 14-day window
    let series = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//NL\r\nBEGIN:VEVENT\r\nUID:weekly@p\r\n\
                  DTSTAMP:20261001T120000Z\r\nDTSTART;TZID=Europe/Amsterdam:20261014T100000\r\n\
                  DURATION:PT30M\r\nRRULE:FREQ=WEEKLY;COUNT=20\r\nSUMMARY:Fysio\r\n\
                  ATTENDEE;CN=Noah Visser:tel:06-11223344\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let app = spawn_app(series, morning()).await;
    let source = &app.services.sources[0];
    let outcome = app.services.importer.import(source).await.unwrap();
    assert!(matches!(outcome, ImportOutcome::Applied(_)));
    assert_eq!(scheduled(&app).await, 2, "14 and 21 October");

    app.clock.advance(ChronoDuration::minutes(5));
    assert_eq!(app.services.importer.import(source).await.unwrap(), ImportOutcome::Unchanged);

    app.clock.advance(ChronoDuration::days(7));
    let outcome = app.services.importer.import(source).await.unwrap();
    assert!(
        matches!(outcome, ImportOutcome::Applied(_)),
        "read in full after the refresh interval"
    );
    assert_eq!(scheduled(&app).await, 3, "28 October entered the window");
}

#[tokio::test]
async fn a_cancelled_event_or_instance_withdraws_its_reminder() {
    let series = |cancel_second: bool, cancel_single: bool| {
        let mut text = String::from(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//NL\r\nBEGIN:VEVENT\r\nUID:weekly@p\r\n\
             DTSTAMP:20261001T120000Z\r\nDTSTART;TZID=Europe/Amsterdam:20261014T100000\r\n\
             DURATION:PT30M\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\nSUMMARY:Fysio\r\n\
             ATTENDEE;CN=Noah Visser:tel:06-11223344\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:single@p\r\nDTSTAMP:20261001T120000Z\r\n\
             DTSTART:20261015T080000Z\r\nDURATION:PT30M\r\nSUMMARY:Controle\r\n\
             ATTENDEE;CN=Sanne de Vries:tel:06-12345678\r\n",
        );
        if cancel_single {
            text.push_str("STATUS:CANCELLED\r\nSEQUENCE:1\r\n");
        }
        text.push_str("END:VEVENT\r\n");
        if cancel_second {
            text.push_str(
                "BEGIN:VEVENT\r\nUID:weekly@p\r\nRECURRENCE-ID;TZID=Europe/Amsterdam:20261021T100000\r\n\
                 DTSTAMP:20261002T120000Z\r\nDTSTART;TZID=Europe/Amsterdam:20261021T100000\r\n\
                 DURATION:PT30M\r\nSTATUS:CANCELLED\r\nSEQUENCE:1\r\nSUMMARY:Fysio\r\nEND:VEVENT\r\n",
            );
        }
        text.push_str("END:VCALENDAR\r\n");
        text
    };
    let app = spawn_app(&series(false, false), morning()).await;
    app.import().await;
    let pending = |app: &TestApp| {
        let store = app.services.store.clone();
        async move {
            let from = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
            let mut n = 0;
            for row in store.report(from, from + ChronoDuration::days(60)).await.unwrap() {
                for m in store.outbox_for_appointment(row.appointment.id).await.unwrap() {
                    n += usize::from(m.state == reminderd::domain::OutboxState::Pending);
                }
            }
            n
        }
    };
    assert_eq!(pending(&app).await, 3, "14 and 21 October, and the single visit");

    app.replace_feed(&series(true, true)).await;
    app.import().await;
    assert_eq!(scheduled(&app).await, 1, "only 14 October is left");
    assert_eq!(pending(&app).await, 1);
    let from = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
    let rows = app.services.store.report(from, from + ChronoDuration::days(60)).await.unwrap();
    let cancelled: Vec<_> = rows
        .iter()
        .filter(|r| r.appointment.status == AppointmentStatus::Cancelled)
        .map(|r| r.appointment.external_id.clone())
        .collect();
    assert_eq!(cancelled.len(), 2, "{cancelled:?}");
    assert!(cancelled.contains(&"single@p".to_string()));
}

/// An event whose zone nobody knows cannot be placed in time: it is reported (log and
/// `/readyz`), and its appointment stays as it was instead of being taken for deleted.
#[tokio::test]
async fn an_event_that_cannot_be_read_keeps_its_appointment_and_is_shown_in_readyz() {
    let app = spawn_app(&feed_of(0..3), morning()).await;
    app.import().await;
    assert_eq!(scheduled(&app).await, 3);
    let broken = feed_of(0..3)
        .replace("DTSTART:20261015T080000Z", "DTSTART;TZID=Customized Time Zone:20261015T100000");
    assert_ne!(broken, feed_of(0..3));
    app.replace_feed(&broken).await;
    app.import().await;
    assert_eq!(scheduled(&app).await, 3, "visit-1 is kept");
    let ready: serde_json::Value =
        app.http.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
    let problems = ready["sources"][0]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{ready}");
    let problem = problems[0].as_str().unwrap();
    assert!(problem.contains("visit-1@p") && problem.contains("Customized Time Zone"), "{problem}");
    assert!(!problem.contains("Klant"), "no personal data: {problem}");
}
