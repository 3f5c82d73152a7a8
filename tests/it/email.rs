//! Reminders by e-mail, end to end, against a real SMTP server on a TCP port (a small
//! sink written for the tests, speaking enough SMTP for lettre): the message as it
//! arrives, the pages behind its links, and delivery when the server is down.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use reminderd::domain::{
    ConsentChannel, ConsentMethod, ConsentStatus, OutboxKind, OutboxMessage, OutboxState, Reply,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::api::{mount_accepting, start};
use crate::helpers::{TestApp, TestDb, databases, spawn_app_with_config, sqlite_db};

/// What the sink answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    Accept,
    /// 451 after the message: "try again later".
    TryLater,
    /// 550 to the recipient: "no such user".
    NoSuchUser,
}

/// A message as the SMTP server received it.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) from: String,
    pub(crate) to: Vec<String>,
    pub(crate) data: Vec<u8>,
}

/// An SMTP server for one test: records what it accepts (also used by `morning`).
#[derive(Clone)]
pub(crate) struct Sink {
    pub(crate) port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    answer: Arc<Mutex<Answer>>,
}

impl Sink {
    pub(crate) async fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Sink::serve(listener)
    }

    /// On a given port (one that refused connections until now).
    pub(crate) async fn start_on(port: u16) -> Sink {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        Sink::serve(listener)
    }

    fn serve(listener: TcpListener) -> Sink {
        let sink = Sink {
            port: listener.local_addr().unwrap().port(),
            received: Arc::default(),
            answer: Arc::new(Mutex::new(Answer::Accept)),
        };
        let this = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let this = this.clone();
                tokio::spawn(async move {
                    let _ = this.session(stream).await;
                });
            }
        });
        sink
    }

    async fn session(&self, stream: tokio::net::TcpStream) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read);
        write.write_all(b"220 sink.test ESMTP\r\n").await?;
        let (mut from, mut to) = (String::new(), Vec::new());
        loop {
            let mut line = String::new();
            if lines.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let command = line.trim_end().to_string();
            let verb = command.split([' ', ':']).next().unwrap_or("").to_ascii_uppercase();
            let reply: &[u8] = match verb.as_str() {
                "EHLO" => b"250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
                "HELO" => b"250 sink.test\r\n",
                "MAIL" => {
                    from = command.clone();
                    to.clear();
                    b"250 OK\r\n"
                }
                "RCPT" => {
                    if *self.answer.lock().unwrap() == Answer::NoSuchUser {
                        // as many servers do, quoting the address
                        b"550 5.1.1 <sanne@example.nl>: Recipient address rejected\r\n"
                    } else {
                        to.push(command.clone());
                        b"250 OK\r\n"
                    }
                }
                "DATA" => {
                    write.write_all(b"354 go ahead\r\n").await?;
                    let mut data = Vec::new();
                    loop {
                        let mut l = String::new();
                        if lines.read_line(&mut l).await? == 0 {
                            return Ok(());
                        }
                        if l == ".\r\n" {
                            break;
                        }
                        let l = l.strip_prefix('.').unwrap_or(&l);
                        data.extend_from_slice(l.as_bytes());
                    }
                    if *self.answer.lock().unwrap() == Answer::TryLater {
                        b"451 4.3.0 try again later\r\n"
                    } else {
                        let message = Received { from: from.clone(), to: to.clone(), data };
                        self.received.lock().unwrap().push(message);
                        b"250 2.0.0 queued\r\n"
                    }
                }
                "QUIT" => {
                    write.write_all(b"221 bye\r\n").await?;
                    return Ok(());
                }
                _ => b"250 OK\r\n",
            };
            write.write_all(reply).await?;
        }
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub(crate) fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }
}

const SANNE_EMAIL: &str = "sanne@example.nl";

/// Sanne: a mobile number and an e-mail address; opted in to WhatsApp only when asked.
fn feed(start: DateTime<Utc>, whatsapp_opt_in: bool) -> String {
    let t = |d: DateTime<Utc>| d.format("%Y%m%dT%H%M%SZ").to_string();
    let opt_in = if whatsapp_opt_in { "X-WHATSAPP-OPT-IN:ja\r\n" } else { "" };
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//NL\r\n\
         BEGIN:VEVENT\r\nUID:sanne-1@praktijk\r\nDTSTAMP:20261001T120000Z\r\n\
         DTSTART:{}\r\nDTEND:{}\r\nSUMMARY:Controle\r\nLOCATION:Praktijk De Linde\r\n\
         ATTENDEE;CN=Sanne de Vries:tel:06-12345678\r\n\
         ATTENDEE;CN=Sanne de Vries:mailto:{SANNE_EMAIL}\r\n{opt_in}\
         END:VEVENT\r\nEND:VCALENDAR\r\n",
        t(start),
        t(start + Duration::minutes(30))
    )
}

pub(crate) const PUBLIC_URL: &str = "https://afspraken.praktijk.example";

/// The daemon with e-mail on, sending to `port`; links name [`PUBLIC_URL`].
async fn spawn(feed: &str, now: DateTime<Utc>, port: u16) -> TestApp {
    spawn_on(sqlite_db(), feed, now, port).await
}

async fn spawn_on(db: TestDb, feed: &str, now: DateTime<Utc>, port: u16) -> TestApp {
    spawn_app_with_config(db, feed, now, &email_config(port)).await
}

/// The `[email]` table of a daemon sending to the test SMTP server on `port`.
pub(crate) fn email_config(port: u16) -> String {
    format!(
        r#"
[email]
enabled = true
host = "127.0.0.1"
port = {port}
tls = "none"
timeout = "5s"
from = "Praktijk De Linde <afspraken@praktijk.example>"
reply_to = "balie@praktijk.example"
address = ["Lindelaan 1", "1234 AB Utrecht"]
public_url = "{PUBLIC_URL}/"
"#
    )
}

/// The morning before: the 24-hour reminder is due.
fn due() -> DateTime<Utc> {
    start() - Duration::hours(24)
}

/// A parsed message: headers, its text and HTML parts, and its attachments.
pub(crate) struct Mail {
    headers: Vec<(String, String)>,
    pub(crate) text: String,
    pub(crate) html: String,
    attachments: Vec<(String, String, String)>,
}

impl Mail {
    pub(crate) fn parse(received: &Received) -> Mail {
        let parsed = mailparse::parse_mail(&received.data).expect("a MIME message");
        let headers =
            parsed.headers.iter().map(|h| (h.get_key(), h.get_value())).collect::<Vec<_>>();
        let mut mail =
            Mail { headers, text: String::new(), html: String::new(), attachments: vec![] };
        fn walk(part: &mailparse::ParsedMail<'_>, mail: &mut Mail) {
            if !part.subparts.is_empty() {
                part.subparts.iter().for_each(|p| walk(p, mail));
                return;
            }
            let body = part.get_body().expect("a readable part");
            let disposition = part.get_content_disposition();
            if disposition.disposition == mailparse::DispositionType::Attachment {
                let name = disposition.params.get("filename").cloned().unwrap_or_default();
                mail.attachments.push((name, part.ctype.mimetype.clone(), body));
            } else if part.ctype.mimetype == "text/plain" {
                mail.text = body;
            } else if part.ctype.mimetype == "text/html" {
                mail.html = body;
            }
        }
        walk(&parsed, &mut mail);
        mail
    }

    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header in {:#?}", self.headers))
    }

    /// The paths (`/e/…`) of the links in the plain text, in order.
    fn links(&self) -> Vec<String> {
        let re = regex::Regex::new(&format!("{PUBLIC_URL}(/e/[A-Za-z0-9._:-]+)")).unwrap();
        re.captures_iter(&self.text).map(|c| c[1].to_string()).collect()
    }
}

/// The confirm, cancel, reschedule and unsubscribe paths of the one e-mail received.
fn links_of(sink: &Sink) -> [String; 4] {
    let received = sink.received();
    assert_eq!(received.len(), 1, "one e-mail");
    let links = Mail::parse(&received[0]).links();
    links.try_into().unwrap_or_else(|l| panic!("four links: {l:?}"))
}

async fn rows(app: &TestApp) -> Vec<OutboxMessage> {
    app.services.store.outbox_for_appointment(1).await.unwrap()
}

async fn appointment(app: &TestApp) -> reminderd::domain::Appointment {
    app.services.store.appointment(1).await.unwrap().expect("the appointment")
}

/// A reminder's e-mail, ready: Sanne without a WhatsApp opt-in, the reminder sent.
async fn emailed(sink: &Sink) -> TestApp {
    let app = spawn(&feed(start(), false), start() - Duration::days(2), sink.port).await;
    mount_accepting(&app).await;
    app.import().await;
    app.clock.set(due());
    app.dispatch().await;
    app
}

#[tokio::test]
async fn a_customer_without_a_whatsapp_opt_in_gets_the_reminder_by_email() {
    for db in databases().await {
        let sink = Sink::start().await;
        let app = spawn_on(db, &feed(start(), false), start() - Duration::days(2), sink.port).await;
        mount_accepting(&app).await;
        app.import().await;
        app.clock.set(due());
        app.dispatch().await;
        the_email_is_complete(&app, &sink).await;
    }
}

async fn the_email_is_complete(app: &TestApp, sink: &Sink) {
    assert!(app.sent().await.is_empty(), "nothing on WhatsApp: {:?}", app.sent().await);
    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert!(received[0].from.contains("<afspraken@praktijk.example>"), "{}", received[0].from);
    assert!(received[0].to[0].contains(&format!("<{SANNE_EMAIL}>")), "{:?}", received[0].to);

    let mail = Mail::parse(&received[0]);
    assert_eq!(mail.header("From"), "\"Praktijk De Linde\" <afspraken@praktijk.example>");
    assert_eq!(mail.header("Reply-To"), "balie@praktijk.example");
    assert_eq!(mail.header("To"), SANNE_EMAIL);
    assert_eq!(mail.header("Subject"), "Herinnering: je afspraak op woensdag 14 oktober om 10:30");
    let reminder = rows(app).await.into_iter().find(|m| m.channel.is_none()).unwrap();
    let email =
        rows(app).await.into_iter().find(|m| m.channel.as_deref() == Some("email")).unwrap();
    assert_eq!(
        mail.header("Message-ID"),
        format!("<reminderd.outbox-{}@praktijk.example>", email.id)
    );
    assert_eq!(mail.header("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
    let [confirm, cancel, reschedule, unsubscribe] = mail.links().try_into().unwrap();
    assert_eq!(mail.header("List-Unsubscribe"), format!("<{PUBLIC_URL}{unsubscribe}>"));
    for (part, body) in [("text", &mail.text), ("html", &mail.html)] {
        for needle in [
            "Sanne",
            "woensdag 14 oktober",
            "10:30",
            "Praktijk De Linde",
            "Lindelaan 1",
            "1234 AB Utrecht",
        ] {
            assert!(body.contains(needle), "{part} lacks {needle}: {body}");
        }
        for link in [&confirm, &cancel, &reschedule, &unsubscribe] {
            assert!(body.contains(&format!("{PUBLIC_URL}{link}")), "{part} lacks {link}");
        }
    }
    assert!(mail.html.contains(">Ik kom</a>"), "{}", mail.html);

    // the attachment is the appointment, as reminderd's own iCal reader reads it
    assert_eq!(mail.attachments.len(), 1);
    let (name, mime, ics) = &mail.attachments[0];
    assert_eq!((name.as_str(), mime.as_str()), ("afspraak.ics", "text/calendar"));
    let zone = chrono_tz::Europe::Amsterdam;
    let read = reminderd::import::ical::read_feed(
        ics,
        zone,
        start() - Duration::days(1),
        start() + Duration::days(1),
    )
    .expect("a calendar");
    assert_eq!(read.occurrences.len(), 1, "{ics}");
    let event = &read.occurrences[0];
    assert_eq!((event.starts_at, event.ends_at), (start(), start() + Duration::minutes(30)));
    assert_eq!(event.location.as_deref(), Some("Praktijk De Linde"));

    // on record: the WhatsApp reminder handed over, the e-mail sent
    assert_eq!(reminder.state, OutboxState::Skipped);
    let detail = reminder.detail.unwrap();
    assert!(
        detail.contains("has not opted in") && detail.contains("sent by e-mail instead"),
        "{detail}"
    );
    assert_eq!((email.kind, email.state), (OutboxKind::Reminder, OutboxState::Sent));
    assert_eq!(email.message_id, Some(format!("<reminderd.outbox-{}@praktijk.example>", email.id)));
    // and once only
    app.clock.advance(Duration::hours(1));
    app.dispatch().await;
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test]
async fn a_get_changes_nothing_and_a_confirm_posted_twice_confirms_once() {
    let sink = Sink::start().await;
    let app = emailed(&sink).await;
    let [confirm, cancel, ..] = links_of(&sink);
    for link in [&confirm, &cancel] {
        let page = app.http.get(app.url(link)).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains("woensdag 14 oktober om 10:30"), "{html}");
        assert!(html.contains("method=\"post\""), "{html}");
    }
    let a = appointment(&app).await;
    assert_eq!((a.reply, a.reply_at), (Reply::None, None), "a GET changed nothing");

    app.clock.advance(Duration::minutes(5));
    let page = app.http.post(app.url(&confirm)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("is bevestigd"));
    let first = appointment(&app).await;
    assert_eq!(first.reply, Reply::Confirmed);
    app.clock.advance(Duration::minutes(5));
    let again = app.http.post(app.url(&confirm)).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(appointment(&app).await, first, "the second POST changed nothing");
}

#[tokio::test]
async fn cancel_by_email_cancels_like_the_whatsapp_button() {
    let sink = Sink::start().await;
    let app = emailed(&sink).await;
    let [confirm, cancel, ..] = links_of(&sink);
    let page = app.http.post(app.url(&cancel)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("is geannuleerd"));
    let a = appointment(&app).await;
    assert_eq!((a.reply, a.status.as_str()), (Reply::Cancelled, "cancelled"));
    // a confirm after that is answered as a WhatsApp tap would be, and changes nothing
    let late = app.http.post(app.url(&confirm)).send().await.unwrap();
    assert!(late.text().await.unwrap().contains("was al geannuleerd"));
    assert_eq!(appointment(&app).await, a);
}

#[tokio::test]
async fn a_changed_or_expired_link_gets_a_clear_page_and_changes_nothing() {
    let sink = Sink::start().await;
    let app = emailed(&sink).await;
    let [confirm, cancel, ..] = links_of(&sink);
    let before = appointment(&app).await;
    let tampered = confirm.replacen(".c.", ".x.", 1);
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let page = app.http.request(method.clone(), app.url(&tampered)).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::BAD_REQUEST, "{method}");
        assert!(page.text().await.unwrap().contains("Deze link klopt niet"));
        let page = app
            .http
            .request(method, app.url("/e/M.x.1.999:AAAAAAAAAAAAAAAA"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    }
    assert_eq!(appointment(&app).await, before);

    app.clock.set(start());
    for link in [&confirm, &cancel] {
        let page = app.http.post(app.url(link)).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::GONE);
        assert!(page.text().await.unwrap().contains("Deze link is verlopen"));
    }
    assert_eq!(appointment(&app).await, before);
}

#[tokio::test]
async fn reschedule_by_email_offers_the_free_times_and_records_the_choice_for_staff() {
    let sink = Sink::start().await;
    let app = emailed(&sink).await;
    let [_, _, reschedule, _] = links_of(&sink);
    // the times the WhatsApp list would offer now
    let store = &app.services.store;
    let mut tx = store.begin().await.unwrap();
    use figment::providers::Format;
    let settings: reminderd::config::Settings = figment::Figment::new()
        .merge(figment::providers::Toml::string(reminderd::config::DEFAULTS))
        .merge(figment::providers::Toml::string(crate::helpers::RESCHEDULE))
        .extract()
        .unwrap();
    let a = appointment(&app).await;
    let zone = chrono_tz::Europe::Amsterdam;
    let expected = reminderd::reschedule::search::free_times(
        &mut tx,
        &settings.reschedule,
        zone,
        &settings.business.workdays(),
        &a,
        app.clock.now(),
    )
    .await
    .unwrap()
    .expect("opening hours cover it");
    drop(tx);
    assert!(!expected.is_empty());

    let html = app.http.get(app.url(&reschedule)).send().await.unwrap().text().await.unwrap();
    let offered: Vec<i64> = regex::Regex::new(r#"name="slot" value="(\d+)""#)
        .unwrap()
        .captures_iter(&html)
        .map(|c| c[1].parse().unwrap())
        .collect();
    assert_eq!(offered, expected.iter().map(|s| s.start.timestamp()).collect::<Vec<_>>(), "{html}");
    assert!(html.contains("Dr. Jansen"), "{html}");
    assert!(
        store.waiting_conversations(app.clock.now()).await.unwrap().is_empty(),
        "a GET records nothing"
    );

    let chosen = expected[1].start.timestamp();
    for _ in 0..2 {
        let page = app
            .http
            .post(app.url(&reschedule))
            .body(format!("slot={chosen}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.text().await.unwrap().contains("bevestigt dit zo snel mogelijk"));
    }
    let waiting = store.waiting_conversations(app.clock.now()).await.unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].0.reply, Reply::Reschedule);
    match &waiting[0].1.conversation.state {
        reminderd::reschedule::State::Requested(slot) => assert_eq!(slot.start.timestamp(), chosen),
        other => panic!("{other:?}"),
    }
    // a time that was not offered is refused
    let page = app.http.post(app.url(&reschedule)).body("slot=12345").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    // nothing went to WhatsApp
    assert!(app.sent().await.is_empty());
}

#[tokio::test]
async fn unsubscribe_shows_a_button_and_one_click_post_opts_out_of_email() {
    let sink = Sink::start().await;
    let app = emailed(&sink).await;
    let [.., unsubscribe] = links_of(&sink);
    let store = &app.services.store;
    let page = app.http.get(app.url(&unsubscribe)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Afmelden"));
    assert!(store.consent_history(SANNE_EMAIL).await.unwrap().is_empty(), "a GET records nothing");

    // RFC 8058: what a mail program posts
    for _ in 0..2 {
        let page = app
            .http
            .post(app.url(&unsubscribe))
            .body("List-Unsubscribe=One-Click")
            .header("content-type", "application/x-www-form-urlencoded")
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
    }
    let ledger = store.consent_history(SANNE_EMAIL).await.unwrap();
    assert_eq!(ledger.len(), 1, "recorded once: {ledger:#?}");
    assert_eq!(
        (ledger[0].channel, ledger[0].status, ledger[0].method),
        (ConsentChannel::Email, ConsentStatus::OptedOut, ConsentMethod::EmailLink)
    );
    // still works after the appointment: unsubscribing does not expire
    app.clock.set(start() + Duration::days(3));
    let page = app.http.post(app.url(&unsubscribe)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_email_opt_out_and_no_opt_in_leave_nothing_to_send_with_the_reason() {
    let sink = Sink::start().await;
    let app = spawn(&feed(start(), false), start() - Duration::days(2), sink.port).await;
    mount_accepting(&app).await;
    app.import().await;
    app.services
        .store
        .record_consent(
            &reminderd::domain::NewConsent {
                phone: None,
                email: Some(SANNE_EMAIL.into()),
                channel: ConsentChannel::Email,
                status: ConsentStatus::OptedOut,
                method: ConsentMethod::Staff,
                evidence: None,
                recorded_by: "balie".into(),
            },
            app.clock.now(),
        )
        .await
        .unwrap();
    app.clock.set(due());
    app.dispatch().await;
    assert!(sink.received().is_empty());
    assert!(app.sent().await.is_empty());
    let rows = rows(&app).await;
    assert_eq!(rows.len(), 1, "no e-mail twin: {rows:#?}");
    assert_eq!(rows[0].state, OutboxState::Skipped);
    let detail = rows[0].detail.as_deref().unwrap();
    assert!(detail.contains("no e-mail either: the customer opted out of e-mail"), "{detail}");
}

#[tokio::test]
async fn an_smtp_server_that_is_down_then_up_gets_the_email_exactly_once() {
    for db in databases().await {
        down_then_up(db).await;
    }
}

async fn down_then_up(db: TestDb) {
    // a port that refuses connections until the server starts on it
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = spawn_on(db, &feed(start(), false), start() - Duration::days(2), port).await;
    app.import().await;
    app.clock.set(due());
    app.dispatch().await;
    let email = || async {
        rows(&app).await.into_iter().find(|m| m.channel.as_deref() == Some("email")).unwrap()
    };
    let waiting = email().await;
    assert_eq!(waiting.state, OutboxState::Pending, "{waiting:#?}");
    assert!(waiting.detail.as_deref().unwrap().contains("SMTP"), "{waiting:#?}");
    assert!(waiting.next_attempt_at > app.clock.now(), "retried with backoff");

    let sink = Sink::start_on(port).await;
    // a 451 after the message: not accepted, so it is sent again
    sink.answer(Answer::TryLater);
    app.clock.set(waiting.next_attempt_at);
    app.dispatch().await;
    assert!(sink.received().is_empty());
    let again = email().await;
    assert_eq!(again.state, OutboxState::Pending, "{again:#?}");
    assert!(again.detail.as_deref().unwrap().contains("451"), "{again:#?}");

    sink.answer(Answer::Accept);
    app.clock.set(again.next_attempt_at);
    app.dispatch().await;
    app.clock.advance(Duration::hours(2));
    app.dispatch().await;
    assert_eq!(sink.received().len(), 1, "exactly once");
    assert_eq!(email().await.state, OutboxState::Sent);
}

#[tokio::test]
async fn a_recipient_the_server_refuses_fails_for_good() {
    let sink = Sink::start().await;
    sink.answer(Answer::NoSuchUser);
    let app = spawn(&feed(start(), false), start() - Duration::days(2), sink.port).await;
    app.import().await;
    app.clock.set(due());
    app.dispatch().await;
    let email =
        rows(&app).await.into_iter().find(|m| m.channel.as_deref() == Some("email")).unwrap();
    assert_eq!(email.state, OutboxState::Failed, "{email:#?}");
    let detail = email.detail.as_deref().unwrap();
    assert!(detail.contains("550") && detail.contains("s***@example.nl"), "{detail}");
    assert!(!detail.contains(SANNE_EMAIL), "no address in the outbox: {detail}");
    assert!(sink.received().is_empty());
}

/// A real failed-status webhook, for message `id`, with `code`.
fn failed_status(id: &str, code: i64) -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/conformance/whatsapp/webhooks/status_failed_130472_pywa.json"
    );
    let mut body: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let s = &mut body["entry"][0]["changes"][0]["value"]["statuses"][0];
    s["id"] = json!(id);
    s["errors"][0]["code"] = json!(code);
    body.to_string()
}

#[tokio::test]
async fn a_reminder_whatsapp_could_not_deliver_goes_by_email_and_the_report_shows_it() {
    let sink = Sink::start().await;
    let app = spawn(&feed(start(), true), start() - Duration::days(2), sink.port).await;
    mount_accepting(&app).await;
    app.import().await;
    app.clock.set(due());
    app.dispatch().await;
    assert_eq!(app.sent().await.len(), 1, "the WhatsApp reminder went");
    assert!(sink.received().is_empty());

    app.clock.advance(Duration::minutes(10));
    for _ in 0..2 {
        // Meta delivers a status more than once
        assert_eq!(
            app.post_signed(&failed_status("wamid.REMINDER1", 131026)).await,
            StatusCode::OK
        );
        app.process_inbox().await;
    }
    app.dispatch().await;
    assert_eq!(sink.received().len(), 1, "one e-mail");
    let email =
        rows(&app).await.into_iter().find(|m| m.channel.as_deref() == Some("email")).unwrap();
    assert_eq!(email.state, OutboxState::Sent);
    assert!(email.plan_note.as_deref().unwrap().contains("131026"), "{email:#?}");

    let cookie = app.login(crate::helpers::STAFF.1).await.expect("logged in");
    let report = app
        .http
        .get(app.url("/report?date=2026-10-14"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(report.contains("(per e-mail)"), "{report}");
}

#[tokio::test]
async fn a_failed_status_too_close_to_the_appointment_sends_no_email() {
    let sink = Sink::start().await;
    let app = spawn(&feed(start(), true), start() - Duration::days(2), sink.port).await;
    mount_accepting(&app).await;
    app.import().await;
    app.clock.set(due());
    app.dispatch().await;
    app.clock.set(start() - Duration::minutes(30));
    assert_eq!(app.post_signed(&failed_status("wamid.REMINDER1", 131026)).await, StatusCode::OK);
    app.process_inbox().await;
    app.dispatch().await;
    assert!(sink.received().is_empty());
    assert!(rows(&app).await.iter().all(|m| m.channel.as_deref() != Some("email")));
}

#[tokio::test]
async fn a_send_meta_refuses_because_whatsapp_cannot_reach_the_customer_goes_by_email() {
    let sink = Sink::start().await;
    let app = spawn(&feed(start(), true), start() - Duration::days(2), sink.port).await;
    crate::api::answer_with_error(&app, 400, 131026, "(#131026) Message undeliverable").await;
    app.import().await;
    app.clock.set(due());
    app.dispatch().await;
    assert_eq!(app.sent().await.len(), 1, "one WhatsApp attempt");
    assert_eq!(sink.received().len(), 1, "then the e-mail");
    let rows = rows(&app).await;
    let whatsapp = rows.iter().find(|m| m.channel.as_deref() != Some("email")).unwrap();
    assert_eq!((whatsapp.state, whatsapp.error_code), (OutboxState::Failed, Some(131026)));
    assert!(
        whatsapp.detail.as_deref().unwrap().contains("sent by e-mail instead"),
        "{whatsapp:#?}"
    );

    // the next reminder to this customer goes by e-mail straight away
    app.replace_feed(&feed(start() + Duration::days(7), true).replace("sanne-1@", "sanne-2@"))
        .await;
    app.import().await;
    app.clock.set(due() + Duration::days(7));
    app.dispatch().await;
    assert_eq!(app.sent().await.len(), 1, "WhatsApp is not tried again");
    assert_eq!(sink.received().len(), 2);
}

#[tokio::test]
async fn an_email_claimed_by_a_dispatcher_that_died_is_sent_once_after_its_lease_and_grace() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = spawn(&feed(start(), false), start() - Duration::days(2), port).await;
    app.import().await;
    app.clock.set(due());
    app.dispatch().await;
    let email =
        rows(&app).await.into_iter().find(|m| m.channel.as_deref() == Some("email")).unwrap();
    assert_eq!(email.state, OutboxState::Pending);

    // another dispatcher claims it at its next attempt and dies before recording anything
    let store = &app.services.store;
    let now = email.next_attempt_at;
    app.clock.set(now);
    let claimed = store
        .claim_due(now, now + Duration::minutes(2), now - Duration::minutes(10), 10)
        .await
        .unwrap();
    assert_eq!(claimed.iter().map(|m| m.id).collect::<Vec<_>>(), vec![email.id]);

    let sink = Sink::start_on(port).await;
    // within its lease and the in-flight grace it is not sent again (the first may have
    // reached the server)
    app.clock.set(now + Duration::minutes(11));
    app.dispatch().await;
    assert!(sink.received().is_empty());
    // after them it is: the message is not lost
    app.clock.set(now + Duration::minutes(13));
    app.dispatch().await;
    app.clock.advance(Duration::hours(1));
    app.dispatch().await;
    let received = sink.received();
    assert_eq!(received.len(), 1);
    let mail = Mail::parse(&received[0]);
    assert_eq!(
        mail.header("Message-ID"),
        format!("<reminderd.outbox-{}@praktijk.example>", email.id)
    );
}
