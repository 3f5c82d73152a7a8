//! The staff's morning e-mail, against the SMTP sink of `email`: what it says on a
//! seeded day, one e-mail a day however many replicas race for it, a failing server;
//! and the problems the report shows for the SMTP server and Meta's limits, read from
//! the store so another replica shows them too.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use reminderd::domain::{AppointmentStatus, OutboxKind, OutboxState, Reply};
use reminderd::report::morning::{MorningReport, Outcome};
use reminderd::reschedule::{Conversation, Slot, State};
use reminderd::store::{MorningState, NewOutbox, StoredConversation, TemplateRecord};

use crate::api::answer_with_error;
use crate::email::{Mail, PUBLIC_URL, Sink};
use crate::helpers::{
    STAFF, STAFF_EN, TestApp, TestDb, appointment_input, databases, same_database,
    spawn_app_with_config, sqlite_db,
};

/// Wednesday 14 October 2026 in Amsterdam.
fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 14).unwrap()
}

/// 07:00 that day in Amsterdam (summer time, UTC+2).
fn seven() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 14, 5, 0, 0).unwrap()
}

/// At `h:m` that day in Amsterdam.
fn at(h: u32, m: u32) -> DateTime<Utc> {
    seven() + Duration::hours(i64::from(h) - 7) + Duration::minutes(i64::from(m))
}

const NO_EVENTS: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//NL\r\nEND:VCALENDAR\r\n";

/// The daemon with e-mail to `port` and the morning e-mail on; `extra` merged over it.
async fn spawn(db: TestDb, feed: &str, now: DateTime<Utc>, port: u16, extra: &str) -> TestApp {
    let config = format!(
        r#"{email}
[report.morning]
enabled = true
recipients = ["balie@praktijk.example", "Dr. Jansen <jansen@praktijk.example>"]
{extra}
"#,
        email = crate::email::email_config(port),
    );
    spawn_app_with_config(db, feed, now, &config).await
}

/// A port nothing listens on (until a sink starts on it).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn morning(app: &TestApp) -> MorningReport {
    app.services.morning.clone().expect("report.morning.enabled")
}

/// The report page of `day` as staff see it.
async fn report_page(app: &TestApp, day: NaiveDate) -> String {
    report_page_of(app, STAFF.0, day).await
}

/// The report page of `day` as staff member `name` sees it (`STAFF_EN` reads English).
async fn report_page_of(app: &TestApp, name: &str, day: NaiveDate) -> String {
    let cookie = app.login_as(name, STAFF.1).await.expect("logged in");
    app.http
        .get(app.url(&format!("/report?date={day}")))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// One appointment of the seeded day.
struct Seed {
    id: &'static str,
    name: &'static str,
    phone: &'static str,
    time: (u32, u32),
    calendar: &'static str,
    location: Option<&'static str>,
}

const SEEDS: [Seed; 7] = [
    Seed {
        id: "a",
        name: "Anna Bakker",
        phone: "+31611111111",
        time: (9, 0),
        calendar: "praktijk",
        location: Some("Praktijk De Linde"),
    },
    Seed {
        id: "b",
        name: "Bram Visser",
        phone: "+31622222222",
        time: (9, 30),
        calendar: "praktijk",
        location: Some("Praktijk De Linde"),
    },
    Seed {
        id: "c",
        name: "Cor Smit",
        phone: "+31633333333",
        time: (10, 0),
        calendar: "fysio",
        location: Some("Locatie Oost"),
    },
    Seed {
        id: "d",
        name: "Dirk Mulder",
        phone: "+31644444444",
        time: (10, 30),
        calendar: "praktijk",
        location: Some("Praktijk De Linde"),
    },
    Seed {
        id: "e",
        name: "Eva de Boer",
        phone: "+31655555555",
        time: (11, 0),
        calendar: "fysio",
        location: Some("Locatie Oost"),
    },
    Seed {
        id: "f",
        name: "Fleur Dekker",
        phone: "+31666666666",
        time: (11, 30),
        calendar: "fysio",
        location: None,
    },
    Seed {
        id: "g",
        name: "Gijs Jansen",
        phone: "+31677777777",
        time: (12, 0),
        calendar: "praktijk",
        location: Some("Praktijk De Linde"),
    },
];

/// A day with every reply state: Anna confirmed, Bram cancelled, Cor's appointment was
/// cancelled in the calendar, Dirk wants 15 October 09:00 instead, Eva wrote something
/// reminderd did not understand, Fleur and Gijs did not answer. Anna's reminder was
/// sent, Gijs's is still planned. And a template Meta paused: a problem.
async fn seed_day(app: &TestApp) {
    let store = &app.services.store;
    let now = at(6, 0) - Duration::days(1);
    let mut tx = store.begin().await.unwrap();
    let mut ids = Vec::new();
    for s in &SEEDS {
        let mut input = appointment_input(s.id, at(s.time.0, s.time.1));
        input.customer_name = Some(s.name.into());
        input.customer_phone = Some(s.phone.into());
        input.calendar = s.calendar.into();
        input.location = s.location.map(Into::into);
        if s.id == "c" {
            input.status = AppointmentStatus::Cancelled;
        }
        ids.push(tx.upsert_appointment("praktijk", &input, now).await.unwrap());
    }
    tx.set_reply(ids[0], Reply::Confirmed, now).await.unwrap();
    tx.set_reply(ids[1], Reply::Cancelled, now).await.unwrap();
    tx.set_appointment_status(ids[1], AppointmentStatus::Cancelled, now).await.unwrap();
    tx.set_reply(ids[3], Reply::Reschedule, now).await.unwrap();
    let asked = Utc.with_ymd_and_hms(2026, 10, 15, 7, 0, 0).unwrap();
    let slot = Slot { start: asked, end: asked + Duration::minutes(30), label: None };
    let conversation = Conversation {
        appointment_id: ids[3],
        appointment_start: at(10, 30),
        offered: vec![slot.clone()],
        expires_at: now + Duration::hours(24),
        state: State::Requested(slot),
    };
    tx.save_conversation(&StoredConversation { conversation, customer_at: now }, None, now)
        .await
        .unwrap();
    tx.add_customer_note(ids[4], "wamid.NOTE1", "Mag mijn dochter mee?", now).await.unwrap();
    for (i, due) in [(0, now), (6, at(11, 0))] {
        let reminder = NewOutbox {
            appointment_id: ids[i],
            kind: OutboxKind::Reminder,
            rule: "24-uur-ervoor".into(),
            dedup_key: format!("seed:{i}"),
            appointment_start: at(SEEDS[i].time.0, SEEDS[i].time.1),
            due_at: due,
            body: None,
            reply_to: None,
            plan_note: None,
            skipped: None,
        };
        tx.insert_outbox(&reminder, now).await.unwrap();
    }
    tx.commit().await.unwrap();
    // Anna's reminder went out
    let claimed = store.claim_due(now, now + Duration::minutes(2), now, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let sent = reminderd::store::AttemptOutcome::Sent {
        channel: "whatsapp".into(),
        message_id: "wamid.SEED".into(),
    };
    assert!(store.finish_attempt(claimed[0].id, claimed[0].attempts, &sent, now).await.unwrap());
    let paused = TemplateRecord {
        name: "afspraak_herinnering".into(),
        language: "nl".into(),
        template_id: None,
        status: Some("PAUSED".into()),
        category: Some("UTILITY".into()),
        quality: Some("RED".into()),
        reason: None,
    };
    store.record_template(&paused, now).await.unwrap();
}

#[tokio::test]
async fn the_morning_email_lists_the_day_in_the_words_of_the_report_page() {
    let sink = Sink::start().await;
    let app = spawn(sqlite_db(), NO_EVENTS, seven(), sink.port, "").await;
    seed_day(&app).await;
    assert_eq!(morning(&app).send_once(day()).await.unwrap(), Outcome::Sent);
    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].to.len(), 2, "both recipients: {:?}", received[0].to);
    let mail = Mail::parse(&received[0]);
    assert_eq!(
        mail.header("Subject"),
        "Afspraken van woensdag 14 oktober 2026 – Praktijk De Linde"
    );
    assert_eq!(mail.header("Message-ID"), "<reminderd.morning-2026-10-14@praktijk.example>");

    let page = report_page(&app, day()).await;
    let replies = [
        "bevestigd",
        "geannuleerd door klant",
        "geannuleerd in de agenda",
        "wil verzetten naar do 15 okt 09:00: accepteren of afwijzen",
        "onduidelijk antwoord: “Mag mijn dochter mee?”",
        "geen antwoord",
    ];
    let reminders = ["verstuurd di 13 okt 06:00", "gepland", "geen herinnering"];
    let problem = "template afspraak_herinnering (nl) is PAUSED at Meta: herinneringen met dit \
                   sjabloon wachten of gaan per e-mail.";
    for (part, body) in [("text", &mail.text), ("html", &mail.html)] {
        for words in replies.iter().chain(&reminders).chain([&problem]) {
            assert!(body.contains(words), "{part} lacks “{words}”:\n{body}");
            assert!(page.contains(words), "the report page lacks “{words}”");
        }
        for s in &SEEDS {
            assert!(body.contains(s.name), "{part} lacks {}", s.name);
            assert!(!body.contains(s.phone), "{part} shows {} in clear", s.phone);
            assert!(!body.contains(&s.phone[3..]), "{part} shows {} in clear", s.phone);
            let masked = reminderd::domain::phone::mask(s.phone);
            assert!(body.contains(&masked), "{part} lacks {masked}");
        }
        // grouped by calendar and location, each group in the order of its first row
        let linde = body.find("praktijk – Praktijk De Linde").expect("the Linde group");
        let oost = body.find("fysio – Locatie Oost").expect("the Oost group");
        let fysio = body.rfind("fysio").unwrap();
        assert!(linde < body.find("Anna Bakker").unwrap(), "{part}");
        assert!(body.find("Gijs Jansen").unwrap() < oost, "Gijs is in the first group");
        assert!(oost < body.find("Cor Smit").unwrap() && fysio < body.find("Fleur").unwrap());
        assert!(body.contains(&format!("{PUBLIC_URL}/report?date=2026-10-14")), "{part}");
    }
    assert!(
        mail.text.contains(
            "7 afspraken, 1 bevestigd, 2 geannuleerd, 1 wil verzetten, 3 geen antwoord, 3 te bellen"
        ),
        "{}",
        mail.text
    );
    // the problem comes before the list
    assert!(mail.text.find("PAUSED").unwrap() < mail.text.find("Anna Bakker").unwrap());
}

#[tokio::test]
async fn replicas_racing_for_the_same_morning_send_one_email_also_after_a_restart() {
    for db in databases().await {
        let backend = db.backend;
        let sink = Sink::start().await;
        let second = same_database(&db);
        let third = same_database(&db);
        let a = spawn(db, NO_EVENTS, seven(), sink.port, "").await;
        let b = spawn(second, NO_EVENTS, seven(), sink.port, "").await;
        let (ma, mb) = (morning(&a), morning(&b));
        let mut days = Vec::new();
        for n in 0..3 {
            let day = day() + chrono::Days::new(n);
            let (x, y) = tokio::join!(ma.send_once(day), mb.send_once(day));
            let mut outcomes = [x.unwrap(), y.unwrap()];
            outcomes.sort_by_key(|o| format!("{o:?}"));
            assert_eq!(outcomes, [Outcome::Sent, Outcome::Taken], "{day} on {backend}");
            days.push(day);
        }
        assert_eq!(sink.received().len(), 3, "one e-mail a day");
        // a daemon restarted at 07:00:30 owes the day, finds it sent and sends nothing
        let restarted =
            spawn(third, NO_EVENTS, seven() + Duration::seconds(30), sink.port, "").await;
        let mc = morning(&restarted);
        assert_eq!(mc.owed_at_start(), Some(day()));
        assert_eq!(mc.send_once(day()).await.unwrap(), Outcome::Taken);
        assert_eq!(sink.received().len(), 3);
        for day in days {
            let record = a.services.store.morning_report(day).await.unwrap().unwrap();
            assert_eq!((record.state, record.attempts), (MorningState::Sent, 1), "{day}");
        }
    }
}

#[tokio::test]
async fn a_daemon_started_after_the_hour_sends_the_morning_email_it_owes() {
    let sink = Sink::start().await;
    let app = spawn(sqlite_db(), NO_EVENTS, at(6, 59), sink.port, "").await;
    let m = morning(&app);
    assert_eq!(m.owed_at_start(), None, "not yet 07:00");
    app.clock.set(at(7, 20));
    assert_eq!(m.owed_at_start(), Some(day()));
    app.clock.set(at(11, 1));
    assert_eq!(m.owed_at_start(), None, "too late in the day to send the morning e-mail");
    app.clock.set(at(7, 20));
    let shutdown = tokio_util::sync::CancellationToken::new();
    assert_eq!(m.send_with_retries(day(), &shutdown).await, Outcome::Sent);
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test]
async fn a_failing_smtp_server_frees_the_day_and_the_report_says_so() {
    for db in databases().await {
        let port = closed_port();
        let app = spawn(db, NO_EVENTS, seven(), port, "").await;
        let m = morning(&app);
        match m.send_once(day()).await.unwrap() {
            Outcome::Failed { error, permanent } => {
                assert!(error.contains("SMTP"), "{error}");
                assert!(!permanent, "a server that is down may be back: {error}");
            }
            other => panic!("{other:?}"),
        }
        let record = app.services.store.morning_report(day()).await.unwrap().unwrap();
        assert_eq!(record.state, MorningState::Failed, "the day is free again");
        assert!(record.error.as_deref().unwrap().contains("SMTP"), "{record:?}");
        let page = report_page(&app, day()).await;
        assert!(page.contains("De ochtendmail van vandaag is niet verstuurd (SMTP"), "{page}");

        // the server is back: the next try claims the day again and sends it
        let sink = Sink::start_on(port).await;
        app.clock.advance(Duration::minutes(2));
        assert_eq!(m.send_once(day()).await.unwrap(), Outcome::Sent);
        assert_eq!(sink.received().len(), 1);
        let record = app.services.store.morning_report(day()).await.unwrap().unwrap();
        assert_eq!((record.state, record.attempts), (MorningState::Sent, 2));
        assert!(!report_page(&app, day()).await.contains("ochtendmail"));
    }
}

#[tokio::test]
async fn a_refused_recipient_is_not_tried_again_and_its_address_stays_out_of_the_store() {
    let sink = Sink::start().await;
    // the sink refuses, quoting sanne@example.nl
    sink.answer(crate::email::Answer::NoSuchUser);
    let app = spawn(sqlite_db(), NO_EVENTS, seven(), sink.port, "").await;
    let mut m = morning(&app);
    m.recipients = vec!["sanne@example.nl".parse().unwrap()];
    let shutdown = tokio_util::sync::CancellationToken::new();
    // a refusal for good ends the tries at once (no backoff to wait for)
    match m.send_with_retries(day(), &shutdown).await {
        Outcome::Failed { permanent: true, .. } => {}
        other => panic!("{other:?}"),
    }
    let record = app.services.store.morning_report(day()).await.unwrap().unwrap();
    assert_eq!((record.state, record.attempts), (MorningState::Failed, 1));
    let error = record.error.unwrap();
    assert!(error.contains("550") && error.contains("s***@example.nl"), "{error}");
    assert!(!error.contains("sanne@example.nl"), "{error}");
}

/// Sanne: a mobile number and an e-mail address, no WhatsApp opt-in: her reminder goes
/// by e-mail.
fn email_feed(start: DateTime<Utc>) -> String {
    let t = |d: DateTime<Utc>| d.format("%Y%m%dT%H%M%SZ").to_string();
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//NL\r\n\
         BEGIN:VEVENT\r\nUID:sanne-1@praktijk\r\nDTSTAMP:20261001T120000Z\r\n\
         DTSTART:{}\r\nDTEND:{}\r\nSUMMARY:Controle\r\n\
         ATTENDEE;CN=Sanne de Vries:tel:06-12345678\r\n\
         ATTENDEE;CN=Sanne de Vries:mailto:sanne@example.nl\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n",
        t(start),
        t(start + Duration::minutes(30))
    )
}

#[tokio::test]
async fn an_smtp_server_that_is_down_is_a_problem_on_every_replicas_report() {
    for db in databases().await {
        let port = closed_port();
        let start = at(10, 30) + Duration::days(1);
        let other = same_database(&db);
        let app = spawn(db, &email_feed(start), start - Duration::days(2), port, "").await;
        let replica = spawn(other, NO_EVENTS, start - Duration::days(2), port, "").await;
        app.import().await;
        app.clock.set(start - Duration::hours(24));
        replica.clock.set(start - Duration::hours(24));
        app.dispatch().await;
        let today = day();
        for (who, a) in [("the replica that sent", &app), ("the other replica", &replica)] {
            let page = report_page(a, today).await;
            assert!(
                page.contains("De e-mailserver (SMTP) neemt sinds wo 14 okt 10:30 geen e-mail aan"),
                "{who}: {page}"
            );
            assert!(
                page.contains("1 e-mailherinnering(en) wachten en worden opnieuw geprobeerd"),
                "{who}: {page}"
            );
        }
        let english = report_page_of(&replica, STAFF_EN, today).await;
        assert!(
            english.contains(
                "The e-mail server (SMTP) has not been taking e-mail since Wed 14 Oct 10:30"
            ) && english.contains("1 e-mail reminder(s) wait and are tried again"),
            "{english}"
        );
        // the server is back: the e-mail goes, the problem is gone
        let sink = Sink::start_on(port).await;
        app.clock.advance(Duration::hours(1));
        app.dispatch().await;
        assert_eq!(sink.received().len(), 1);
        assert!(!report_page(&replica, today).await.contains("SMTP"));
    }
}

/// `n` customers with a mobile number and a WhatsApp opt-in, at 10:30 on the day after
/// [`day`].
fn many(n: usize) -> String {
    let start = at(10, 30) + Duration::days(1);
    let t = |d: DateTime<Utc>| d.format("%Y%m%dT%H%M%SZ").to_string();
    let mut feed = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//NL\r\n");
    for i in 0..n {
        feed.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:c{i}@praktijk\r\nDTSTAMP:20261001T120000Z\r\n\
             DTSTART:{}\r\nDTEND:{}\r\nSUMMARY:Controle\r\n\
             ATTENDEE;CN=Klant {i}:tel:06-{:08}\r\nX-WHATSAPP-OPT-IN:ja\r\nEND:VEVENT\r\n",
            t(start),
            t(start + Duration::minutes(30)),
            10_000_000 + i
        ));
    }
    feed.push_str("END:VCALENDAR\r\n");
    feed
}

#[tokio::test]
async fn the_messaging_limit_reached_is_a_problem_on_every_replicas_report() {
    let db = sqlite_db();
    let other = same_database(&db);
    let limits = "[whatsapp]\nmessaging_limit = 250\nthroughput = 1000\n";
    let due = at(10, 30);
    let app = spawn(db, &many(251), due - Duration::days(1), closed_port(), limits).await;
    let replica = spawn(other, NO_EVENTS, due, closed_port(), limits).await;
    crate::api::mount_accepting(&app).await;
    app.import().await;
    app.clock.set(due);
    app.dispatch().await;
    assert_eq!(app.sent().await.len(), 250, "not to the 251st customer");
    for (who, a) in [("the replica that sent", &app), ("the other replica", &replica)] {
        let page = report_page(a, day()).await;
        assert!(
            page.contains("De berichtenlimiet van Meta is bereikt sinds wo 14 okt 10:30"),
            "{who}: {page}"
        );
        assert!(page.contains("WhatsApp mag 250 klanten per 24 uur bereiken"), "{who}");
        assert!(page.contains("plaats vrijkomt (do 15 okt 10:30)"), "{who}");
    }
    // a day later the places are free again
    replica.clock.set(due + Duration::hours(24) + Duration::seconds(1));
    assert!(!report_page(&replica, day()).await.contains("berichtenlimiet"));
}

#[tokio::test]
async fn meta_holding_messages_back_for_a_limit_is_a_problem_on_the_report() {
    for db in databases().await {
        let start = crate::api::start();
        let app =
            spawn(db, &crate::api::feed(start), start - Duration::days(2), closed_port(), "").await;
        answer_with_error(&app, 400, 130429, "(#130429) Rate limit hit").await;
        app.import().await;
        app.clock.set(start - Duration::hours(24));
        app.dispatch().await;
        let row = app.services.store.outbox_for_appointment(1).await.unwrap().remove(0);
        assert_eq!((row.state, row.error_code), (OutboxState::Pending, Some(130429)));
        let page = report_page(&app, day()).await;
        assert!(
            page.contains(
                "Meta houdt sinds di 13 okt 10:30 WhatsApp-berichten tegen: het nummer \
                 verstuurde meer berichten per seconde dan Meta toestaat (code 130429). 1 \
                 bericht(en) wachten en worden opnieuw geprobeerd."
            ),
            "{page}"
        );
        let english = report_page_of(&app, STAFF_EN, day()).await;
        assert!(
            english.contains(
                "Meta has been holding WhatsApp messages back since Tue 13 Oct 10:30: the \
                 number sent more messages per second than Meta allows (code 130429). 1 \
                 message(s) wait and are tried again."
            ),
            "{english}"
        );
        // Meta takes it on the next try: the problem is gone
        app.graph.reset().await;
        crate::api::mount_accepting(&app).await;
        app.clock.set(row.next_attempt_at);
        app.dispatch().await;
        assert!(!report_page(&app, day()).await.contains("130429"));
    }
}

/// `reminderd morning-report`, as an operator runs it against the daemon's database.
#[tokio::test]
async fn the_command_prints_the_email_or_sends_it_now_and_repairs_a_failed_morning() {
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reminderd.toml");
    std::fs::write(
        &file,
        format!(
            "state_dir = \"{}\"\nrules_dir = \"{}\"\n[business]\nname = \"Praktijk De Linde\"\n\
             [whatsapp]\nchannel = \"log\"\n\
             [security]\nsecret_key = \"a secret key long enough for the configuration\"\n\
             [email]\nenabled = true\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n\
             from = \"Praktijk De Linde <afspraken@praktijk.example>\"\n\
             public_url = \"{PUBLIC_URL}\"\n\
             [report.morning]\nrecipients = [\"balie@praktijk.example\"]\n",
            dir.path().display(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/reminder-rules"),
            sink.port,
        ),
    )
    .unwrap();
    let url = format!("sqlite://{}", dir.path().join("reminderd.sqlite3").display());
    let store = reminderd::store::Store::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.upsert_appointment("praktijk", &appointment_input("s", at(9, 0)), seven()).await.unwrap();
    tx.commit().await.unwrap();
    // the scheduled e-mail of the day failed
    let attempt = store.claim_morning(day(), seven(), seven() + Duration::minutes(10)).await;
    let attempt = attempt.unwrap().unwrap();
    store.finish_morning(day(), attempt, Err("SMTP: down"), seven()).await.unwrap();

    let run = |args: &'static [&'static str]| {
        let file = file.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_reminderd"));
            for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("REMINDERD_")) {
                c.env_remove(key);
            }
            c.arg("--config").arg(&file).arg("morning-report").args(args).output().unwrap()
        })
    };
    let out = run(&["--date", "2026-10-14", "--dry-run"]).await.unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{printed}{}", String::from_utf8_lossy(&out.stderr));
    assert!(printed.contains("To: balie@praktijk.example"), "{printed}");
    assert!(
        printed.contains("Subject: Afspraken van woensdag 14 oktober 2026 – Praktijk De Linde"),
        "{printed}"
    );
    assert!(printed.contains("09:00–09:30  Sanne de Vries (+316••••••78)"), "{printed}");
    assert!(!printed.contains("612345678"), "{printed}");
    assert!(sink.received().is_empty(), "a dry run sends nothing");

    let out = run(&["--date", "2026-10-14"]).await.unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{printed}{}", String::from_utf8_lossy(&out.stderr));
    assert!(printed.contains("sent to 1 recipient(s)"), "{printed}");
    assert_eq!(sink.received().len(), 1);
    let record = store.morning_report(day()).await.unwrap().unwrap();
    assert_eq!(record.state, MorningState::Sent, "the failed morning is repaired");
    store.close().await;
}
