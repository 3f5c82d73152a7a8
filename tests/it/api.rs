//! The core loop end to end: a feed in, a template out, a tap back, the report.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Duration, TimeZone, Utc};
use reminderd::domain::{AppointmentStatus, Delivery, OutboxKind, OutboxState, Reply};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{
    ACCESS_TOKEN, PHONE_NUMBER_ID, STAFF, TestApp, VERIFY_TOKEN, accepted, databases, serve_feed,
    spawn_app, spawn_app_on,
};

/// Wednesday 14 October 2026, 10:30 in Amsterdam (summer time, UTC+2).
pub(crate) fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 14, 8, 30, 0).unwrap()
}

/// The morning before: the 24-hour reminder is due at 08:30 UTC.
pub(crate) fn morning_before() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 13, 6, 0, 0).unwrap()
}

pub(crate) fn feed(start: DateTime<Utc>) -> String {
    let t = |d: DateTime<Utc>| d.format("%Y%m%dT%H%M%SZ").to_string();
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//NL\r\n\
         BEGIN:VEVENT\r\nUID:sanne-1@praktijk\r\nDTSTAMP:20261001T120000Z\r\n\
         DTSTART:{}\r\nDTEND:{}\r\nSUMMARY:Controle\r\nLOCATION:Praktijk De Linde\r\n\
         ATTENDEE;CN=Sanne de Vries:tel:06-12345678\r\nX-WHATSAPP-OPT-IN:ja\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n",
        t(start),
        t(start + Duration::minutes(30))
    )
}

/// Meta accepting every message, with ids wamid.REMINDER1, wamid.REMINDER2, … in order.
pub(crate) async fn mount_accepting(app: &TestApp) {
    let next = std::sync::atomic::AtomicUsize::new(1);
    Mock::given(method("POST"))
        .and(path(format!("/v25.0/{PHONE_NUMBER_ID}/messages")))
        .respond_with(move |_: &wiremock::Request| {
            accepted(&format!("wamid.REMINDER{}", next.fetch_add(1, Ordering::Relaxed)))
        })
        .mount(&app.graph)
        .await;
}

/// A real quick-reply webhook from the conformance corpus, carrying our payload.
pub(crate) fn tap_body(payload: &str, context_id: &str, tap_id: &str) -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/conformance/whatsapp/webhooks/button_quick_reply_pywa.json"
    );
    let mut body: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let message = &mut body["entry"][0]["changes"][0]["value"]["messages"][0];
    message["button"]["payload"] = json!(payload);
    message["context"]["id"] = json!(context_id);
    message["id"] = json!(tap_id);
    message["from"] = json!("31612345678");
    body.to_string()
}

/// Imports, moves the clock to the due moment and sends; returns the one request.
async fn reminder_sent(app: &TestApp) -> Value {
    app.import().await;
    app.clock.set(start() - Duration::hours(24));
    app.dispatch().await;
    let sent = app.sent().await;
    assert_eq!(sent.len(), 1, "exactly one request: {sent:#?}");
    // the customer reads it a minute later (an answer sooner would wait for Meta's
    // pair rate: one message to the same person per 6 s)
    app.clock.advance(Duration::minutes(1));
    sent[0].0.clone()
}

/// The daemon after the 24-hour reminder went out; with the request Meta received.
pub(crate) async fn app_with_sent_reminder() -> (TestApp, Value) {
    let app = spawn_app(&feed(start()), morning_before()).await;
    mount_accepting(&app).await;
    let request = reminder_sent(&app).await;
    (app, request)
}

pub(crate) fn payload_of(request: &Value, index: usize) -> String {
    request["template"]["components"][1 + index]["parameters"][0]["payload"]
        .as_str()
        .expect("a quick-reply payload")
        .to_string()
}

/// The report's rows of the day before to the day after the appointment.
async fn rows(app: &TestApp) -> Vec<reminderd::store::ReportRow> {
    app.services
        .store
        .report(start() - Duration::days(1), start() + Duration::days(1))
        .await
        .unwrap()
}

pub(crate) async fn appointment(app: &TestApp) -> reminderd::domain::Appointment {
    let rows = rows(app).await;
    assert_eq!(rows.len(), 1);
    rows[0].appointment.clone()
}

#[tokio::test]
async fn the_reminder_goes_out_once_at_its_moment_with_the_approved_template() {
    let app = spawn_app(&feed(start()), morning_before()).await;
    mount_accepting(&app).await;
    app.import().await;

    app.dispatch().await;
    assert!(app.sent().await.is_empty(), "nothing is sent before the moment");
    app.clock.set(start() - Duration::hours(24) - Duration::seconds(1));
    app.dispatch().await;
    assert!(app.sent().await.is_empty(), "nothing is sent a second early");

    app.clock.set(start() - Duration::hours(24));
    app.dispatch().await;
    let sent = app.sent().await;
    assert_eq!(sent.len(), 1);
    let (body, auth) = &sent[0];
    assert_eq!(auth.as_deref(), Some(format!("Bearer {ACCESS_TOKEN}").as_str()));
    assert_eq!(body["messaging_product"], "whatsapp");
    assert_eq!(body["to"], "+31612345678");
    assert_eq!(body["type"], "template");
    assert_eq!(body["template"]["name"], "afspraak_herinnering");
    assert_eq!(body["template"]["language"]["code"], "nl");
    let components = body["template"]["components"].as_array().unwrap();
    assert_eq!(components.len(), 4, "a body and three buttons");
    assert_eq!(components[0]["type"], "body");
    let texts: Vec<&str> = components[0]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Sanne", "woensdag 14 oktober", "10:30", "Praktijk De Linde"]);
    let reminder =
        app.services.store.outbox_for_appointment(appointment(&app).await.id).await.unwrap();
    let reminder = reminder.iter().find(|m| m.kind == OutboxKind::Reminder).unwrap();
    for (i, prefix) in ["CONFIRM:", "CANCEL:", "RESCHEDULE:"].iter().enumerate() {
        let button = &components[1 + i];
        assert_eq!(button["type"], "button");
        assert_eq!(button["sub_type"], "quick_reply");
        assert_eq!(button["index"].to_string().trim_matches('"'), i.to_string());
        let payload = payload_of(body, i);
        assert!(payload.starts_with(&format!("{prefix}{}:", reminder.id)), "{payload}");
    }
    assert_eq!(body["biz_opaque_callback_data"], format!("outbox:{}", reminder.id));
    assert_eq!(reminder.state, OutboxState::Sent);
    assert_eq!(reminder.message_id.as_deref(), Some("wamid.REMINDER1"));

    // later rounds and a re-import never send it again
    app.clock.advance(Duration::minutes(10));
    app.import().await;
    app.dispatch().await;
    assert_eq!(app.sent().await.len(), 1);
}

#[tokio::test]
async fn a_signed_confirm_tap_confirms_once_and_is_acknowledged_in_dutch() {
    let (app, request) = app_with_sent_reminder().await;
    let body = tap_body(&payload_of(&request, 0), "wamid.REMINDER1", "wamid.TAP1");

    assert_eq!(app.post_signed(&body).await, StatusCode::OK);
    assert_eq!(app.post_signed(&body).await, StatusCode::OK, "a redelivery is acknowledged too");
    app.process_inbox().await;
    assert_eq!(appointment(&app).await.reply, Reply::Confirmed);

    app.dispatch().await;
    let sent = app.sent().await;
    assert_eq!(sent.len(), 2, "the reminder and one acknowledgement: {sent:#?}");
    let ack = &sent[1].0;
    assert_eq!(ack["type"], "text");
    assert_eq!(ack["to"], "+31612345678");
    assert_eq!(ack["context"]["message_id"], "wamid.TAP1");
    let text = ack["text"]["body"].as_str().unwrap();
    assert!(
        text.contains("bevestigd")
            && text.contains("woensdag 14 oktober")
            && text.contains("10:30"),
        "{text}"
    );

    // the same event delivered again (another retry, other bytes) has no second effect
    let again =
        tap_body(&payload_of(&request, 0), "wamid.REMINDER1", "wamid.TAP1").replace('{', "{ ");
    assert_eq!(app.post_signed(&again).await, StatusCode::OK);
    app.process_inbox().await;
    app.dispatch().await;
    assert_eq!(app.sent().await.len(), 2, "no second acknowledgement");
}

#[tokio::test]
async fn a_cancel_tap_cancels_the_appointment() {
    let (app, request) = app_with_sent_reminder().await;
    let body = tap_body(&payload_of(&request, 1), "wamid.REMINDER1", "wamid.TAP2");
    assert_eq!(app.post_signed(&body).await, StatusCode::OK);
    app.process_inbox().await;
    let a = appointment(&app).await;
    assert_eq!((a.status, a.reply), (AppointmentStatus::Cancelled, Reply::Cancelled));
    app.dispatch().await;
    let sent = app.sent().await;
    assert!(sent[1].0["text"]["body"].as_str().unwrap().contains("geannuleerd"));
}

#[tokio::test]
async fn a_forged_signature_is_refused_and_changes_nothing() {
    let (app, request) = app_with_sent_reminder().await;
    let body = tap_body(&payload_of(&request, 0), "wamid.REMINDER1", "wamid.FORGED");
    let forged = reminderd::whatsapp::signature::sign(b"not the app secret", body.as_bytes());
    assert_eq!(app.post_webhook(&body, Some(&forged)).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.post_webhook(&body, None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.post_webhook(&body, Some("sha256=zz")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.services.store.unprocessed_inbox_count().await.unwrap(), 0, "nothing stored");
    app.process_inbox().await;
    assert_eq!(appointment(&app).await.reply, Reply::None);
}

#[tokio::test]
async fn a_tampered_payload_changes_nothing() {
    let (app, request) = app_with_sent_reminder().await;
    // a Cancel payload turned into a Confirm by hand: the tag no longer matches
    let cancel = payload_of(&request, 1);
    let tampered = cancel.replacen("CANCEL", "CONFIRM", 1);
    let body = tap_body(&tampered, "wamid.REMINDER1", "wamid.TAMPERED");
    assert_eq!(app.post_signed(&body).await, StatusCode::OK, "signed by Meta, so acknowledged");
    app.process_inbox().await;
    let a = appointment(&app).await;
    assert_eq!((a.status, a.reply), (AppointmentStatus::Scheduled, Reply::None));
    app.dispatch().await;
    assert_eq!(app.sent().await.len(), 1, "no answer to a tampered tap");
}

#[tokio::test]
async fn a_signed_body_that_is_not_a_webhook_is_kept_and_answered_200() {
    let app = spawn_app(&feed(start()), morning_before()).await;
    assert_eq!(app.post_signed("this is not json").await, StatusCode::OK);
    assert_eq!(app.services.store.unprocessed_inbox_count().await.unwrap(), 1);
    app.process_inbox().await;
    assert_eq!(
        app.services.store.unprocessed_inbox_count().await.unwrap(),
        0,
        "quarantined, not retried"
    );
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413() {
    let app = spawn_app(&feed(start()), morning_before()).await;
    let big = "x".repeat(3 * 1024 * 1024 + 1);
    assert_eq!(app.post_signed(&big).await, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn another_method_on_the_webhook_gets_405_and_changes_nothing() {
    let app = spawn_app(&feed(start()), morning_before()).await;
    for method in [reqwest::Method::PUT, reqwest::Method::DELETE, reqwest::Method::PATCH] {
        let status = app
            .http
            .request(method.clone(), app.url("/webhooks/whatsapp"))
            .body("{}")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
    assert_eq!(app.services.store.unprocessed_inbox_count().await.unwrap(), 0, "nothing stored");
}

#[tokio::test]
async fn meta_verifies_the_webhook_with_the_right_token_only() {
    let app = spawn_app(&feed(start()), morning_before()).await;
    let get = |token: &str| {
        app.http
            .get(app.url("/webhooks/whatsapp"))
            .query(&[
                ("hub.mode", "subscribe"),
                ("hub.verify_token", token),
                ("hub.challenge", "1158201444"),
            ])
            .send()
    };
    let ok = get(VERIFY_TOKEN).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    assert_eq!(get("wrong").await.unwrap().status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn staff_see_the_confirmation_in_the_report_and_strangers_do_not() {
    let (app, request) = app_with_sent_reminder().await;
    app.post_signed(&tap_body(&payload_of(&request, 0), "wamid.REMINDER1", "wamid.TAP3")).await;
    app.process_inbox().await;

    let report = app.url("/report?date=2026-10-14");
    let anonymous = app.http.get(&report).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()["location"], "/login");
    assert!(app.login("wrong password").await.is_none(), "a wrong password gets no session");

    let cookie = app.login(STAFF.1).await.expect("a session cookie");
    let page = app.http.get(&report).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Sanne de Vries"), "{html}");
    assert!(html.contains("10:30"));
    assert!(html.contains("+316••••••78"), "the phone is masked: {html}");
    assert!(!html.contains("612345678"), "never the whole number");
    assert!(html.contains("bevestigd"), "{html}");
    // the chart of the last two weeks: this one appointment, confirmed
    assert!(html.contains("<svg class=\"chart\""), "{html}");
    assert!(html.contains("Laatste 14 dagen: 100% bevestigd, 0% zonder antwoord (1 afspraak)"));

    // filters: by reply state and by calendar or location
    for (query, shown) in [
        ("state=confirmed", true),
        ("state=none", false),
        ("calendar=praktijk", true),
        ("calendar=Praktijk%20De%20Linde", true),
        ("calendar=fysio", false),
        ("calendar=praktijk&state=cancelled", false),
    ] {
        let url = app.url(&format!("/report?date=2026-10-14&{query}"));
        let html = app.http.get(url).header("cookie", &cookie).send().await.unwrap();
        let html = html.text().await.unwrap();
        assert_eq!(html.contains("Sanne de Vries"), shown, "{query}");
    }
}

#[tokio::test]
async fn a_server_error_is_retried_and_the_reminder_delivered_once() {
    let app = spawn_app(&feed(start()), morning_before()).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("upstream trouble"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.graph)
        .await;
    mount_accepting(&app).await;
    app.import().await;
    app.clock.set(start() - Duration::hours(24));
    app.dispatch().await;
    let a = appointment(&app).await;
    let m = app.services.store.outbox_for_appointment(a.id).await.unwrap().remove(0);
    assert_eq!(m.state, OutboxState::Pending, "retried later: {m:?}");
    assert_eq!(app.sent().await.len(), 1);

    app.clock.advance(Duration::minutes(31));
    app.dispatch().await;
    let m = app.services.store.outbox_for_appointment(a.id).await.unwrap().remove(0);
    assert_eq!(m.state, OutboxState::Sent);
    assert_eq!(m.message_id.as_deref(), Some("wamid.REMINDER1"));
    assert_eq!(app.sent().await.len(), 2, "one failed try, one delivery");
    app.clock.advance(Duration::hours(1));
    app.dispatch().await;
    assert_eq!(app.sent().await.len(), 2, "and nothing more");
}

/// Meta answering every send with this Graph error.
pub(crate) async fn answer_with_error(app: &TestApp, status: u16, code: i64, message: &str) {
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(status).set_body_json(json!({
            "error": { "message": message, "type": "OAuthException", "code": code,
                       "fbtrace_id": "A1b2C3" }
        })))
        .mount(&app.graph)
        .await;
}

#[tokio::test]
async fn an_expired_token_stops_the_channel_keeps_the_reminder_and_readiness_says_why() {
    let app = spawn_app(&feed(start()), morning_before()).await;
    answer_with_error(&app, 401, 190, "Error validating access token: Session has expired").await;
    app.import().await;
    app.clock.set(start() - Duration::hours(24));
    app.dispatch().await;
    let a = appointment(&app).await;
    let m = app.services.store.outbox_for_appointment(a.id).await.unwrap().remove(0);
    assert_eq!((m.state, m.attempts), (OutboxState::Pending, 0), "kept, no attempt used");
    let ready: Value = app.http.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["whatsapp"]["ok"], false, "{ready}");
    assert_eq!(ready["whatsapp"]["error_code"], 190, "{ready}");
    assert!(ready["whatsapp"]["reason"].as_str().unwrap().contains("Session has expired"));
    // and staff see it on top of the report
    let cookie = app.login(STAFF.1).await.expect("a session cookie");
    let page = app.http.get(app.url("/report?date=2026-10-14")).header("cookie", &cookie);
    let html = page.send().await.unwrap().text().await.unwrap();
    assert!(html.contains("WhatsApp is gestopt sinds"), "{html}");
    assert!(html.contains("(code 190)"), "{html}");
}

#[tokio::test]
async fn a_permanent_error_leaves_the_reminder_failed_with_the_code() {
    let app = spawn_app(&feed(start()), morning_before()).await;
    answer_with_error(&app, 400, 131009, "(#131009) Parameter value is not valid").await;
    app.import().await;
    app.clock.set(start() - Duration::hours(24));
    app.dispatch().await;
    app.clock.advance(Duration::hours(2));
    app.dispatch().await;
    let a = appointment(&app).await;
    let m = app.services.store.outbox_for_appointment(a.id).await.unwrap().remove(0);
    assert_eq!(m.state, OutboxState::Failed);
    assert_eq!(m.error_code, Some(131009));
    assert_eq!(app.sent().await.len(), 1, "not retried");
}

fn status_body(message_id: &str, status: &str, timestamp: i64) -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/conformance/whatsapp/webhooks/status_delivered_pywa.json"
    );
    let mut body: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let s = &mut body["entry"][0]["changes"][0]["value"]["statuses"][0];
    s["id"] = json!(message_id);
    s["status"] = json!(status);
    s["timestamp"] = json!(timestamp.to_string());
    body.to_string()
}

#[tokio::test]
async fn delivery_statuses_only_move_forward_whatever_their_order() {
    let app = spawn_app(&feed(start()), morning_before()).await;
    mount_accepting(&app).await;
    reminder_sent(&app).await;
    let t = (start() - Duration::hours(24)).timestamp();
    for (status, at) in [("read", t + 60), ("sent", t + 1), ("delivered", t + 5)] {
        assert_eq!(
            app.post_signed(&status_body("wamid.REMINDER1", status, at)).await,
            StatusCode::OK
        );
    }
    app.process_inbox().await;
    let a = appointment(&app).await;
    let m = app.services.store.outbox_for_appointment(a.id).await.unwrap().remove(0);
    assert_eq!(m.delivery, Some(Delivery::Read));
    assert_eq!(m.delivery_at, Utc.timestamp_opt(t + 60, 0).single());
}

#[tokio::test]
async fn a_moved_appointment_gets_a_new_reminder_and_a_vanished_one_none() {
    let app = spawn_app(&feed(start()), morning_before()).await;
    mount_accepting(&app).await;
    app.import().await;
    let later = start() + Duration::hours(3);
    app.replace_feed(&feed(later)).await;
    app.import().await;
    app.clock.set(start() - Duration::hours(24));
    app.dispatch().await;
    assert!(app.sent().await.is_empty(), "the old moment sends nothing");
    app.clock.set(later - Duration::hours(24));
    app.dispatch().await;
    let sent = app.sent().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0["template"]["components"][0]["parameters"][2]["text"], "13:30");

    // gone from the feed: cancelled, and nothing more goes out
    app.replace_feed("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//NL\r\nBEGIN:VEVENT\r\nUID:other@p\r\nDTSTAMP:20261001T120000Z\r\nDTSTART:20261020T080000Z\r\nDTEND:20261020T083000Z\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").await;
    app.import().await;
    let rows = rows(&app).await;
    assert_eq!(rows[0].appointment.status, AppointmentStatus::Removed);
}

#[tokio::test]
async fn a_landline_or_a_missing_number_gets_no_whatsapp_and_staff_see_why() {
    let t = |d: DateTime<Utc>| d.format("%Y%m%dT%H%M%SZ").to_string();
    let event = |uid: &str, attendee: &str| {
        format!(
            "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261001T120000Z\r\nDTSTART:{}\r\nDTEND:{}\r\n\
             SUMMARY:Controle\r\n{attendee}\r\nEND:VEVENT\r\n",
            t(start()),
            t(start() + Duration::minutes(30))
        )
    };
    let feed = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//NL\r\n{}{}END:VCALENDAR\r\n",
        event("emma@p", "ATTENDEE;CN=Emma Bakker:tel:020-1234567"),
        event("lucas@p", "ATTENDEE;CN=Lucas Smit:mailto:lucas@example.nl"),
    );
    let app = spawn_app(&feed, morning_before()).await;
    mount_accepting(&app).await;
    app.import().await;
    app.clock.set(start() - Duration::hours(24));
    app.dispatch().await;
    assert!(app.sent().await.is_empty(), "nothing goes to WhatsApp");
    let rows = rows(&app).await;
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row.reminder_state, Some(OutboxState::Skipped), "{row:?}");
    }
    let emma = rows
        .iter()
        .find(|r| r.appointment.customer_name.as_deref() == Some("Emma Bakker"))
        .unwrap();
    assert_eq!(emma.appointment.customer_phone.as_deref(), Some("+31201234567"), "kept for staff");
    assert!(emma.reminder_detail.as_deref().unwrap().contains("not a mobile number"));
    let lucas =
        rows.iter().find(|r| r.appointment.customer_name.as_deref() == Some("Lucas Smit")).unwrap();
    assert!(lucas.reminder_detail.as_deref().unwrap().contains("no phone number"));
    assert_eq!(lucas.appointment.customer_email.as_deref(), Some("lucas@example.nl"));
}

#[tokio::test]
async fn after_downtime_a_missed_reminder_goes_out_while_there_is_time_and_is_skipped_after() {
    // down from before the reminder's moment until two hours before the appointment
    let app = spawn_app(&feed(start()), morning_before()).await;
    mount_accepting(&app).await;
    app.import().await;
    app.clock.set(start() - Duration::hours(2));
    app.dispatch().await;
    assert_eq!(app.sent().await.len(), 1, "still more than dispatch.min_notice ahead: sent");

    // down until half an hour before: too late to be useful, skipped with the reason
    let app = spawn_app(&feed(start()), morning_before()).await;
    mount_accepting(&app).await;
    app.import().await;
    app.clock.set(start() - Duration::minutes(30));
    app.dispatch().await;
    assert!(app.sent().await.is_empty());
    let a = appointment(&app).await;
    let m = app.services.store.outbox_for_appointment(a.id).await.unwrap().remove(0);
    assert_eq!(m.state, OutboxState::Skipped);
    assert!(m.detail.unwrap().contains("too late"));
}

#[tokio::test]
async fn a_failing_feed_keeps_the_last_good_import_and_readiness_says_why() {
    let app = spawn_app(&feed(start()), morning_before()).await;
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    app.import().await;
    let ready: Value = app.http.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["sources"][0]["name"], "praktijk");
    assert_eq!(ready["sources"][0]["ok"], true, "{ready}");

    app.feeds.reset().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(500)).mount(&app.feeds).await;
    let source = &app.services.sources[0];
    assert!(app.services.importer.import(source).await.is_err());
    let ready: Value = app.http.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["sources"][0]["ok"], false, "{ready}");
    assert!(ready["sources"][0]["last_error"].as_str().unwrap().contains("500"), "{ready}");
    assert_eq!(appointment(&app).await.status, AppointmentStatus::Scheduled, "nothing lost");

    // staff see it on top of the report, in words
    let cookie = app.login(STAFF.1).await.expect("a session cookie");
    let page = app.http.get(app.url("/report?date=2026-10-14")).header("cookie", &cookie);
    let html = page.send().await.unwrap().text().await.unwrap();
    assert!(html.contains("role=\"alert\""), "{html}");
    assert!(html.contains("Agenda praktijk: de import lukt niet"), "{html}");

    // a feed that is not iCalendar is refused the same way
    serve_feed(&app.feeds, "<html>Service unavailable</html>").await;
    assert!(app.services.importer.import(source).await.is_err());
    assert_eq!(appointment(&app).await.status, AppointmentStatus::Scheduled);

    // once it imports again, the problem is gone
    serve_feed(&app.feeds, &feed(start())).await;
    app.services.importer.import(source).await.unwrap();
    let page = app.http.get(app.url("/report?date=2026-10-14")).header("cookie", &cookie);
    let html = page.send().await.unwrap().text().await.unwrap();
    assert!(!html.contains("role=\"alert\""), "{html}");
}

/// The loop on each backend (PostgreSQL when REMINDERD_TEST_DATABASE_URL is set).
#[tokio::test]
async fn the_loop_runs_on_every_backend() {
    for db in databases().await {
        let backend = db.backend;
        let app = spawn_app_on(db, &feed(start()), morning_before()).await;
        mount_accepting(&app).await;
        let request = reminder_sent(&app).await;
        let tap = tap_body(&payload_of(&request, 0), "wamid.REMINDER1", "wamid.TAP9");
        assert_eq!(app.post_signed(&tap).await, StatusCode::OK, "{backend}");
        assert_eq!(app.post_signed(&tap).await, StatusCode::OK, "{backend}");
        app.process_inbox().await;
        assert_eq!(appointment(&app).await.reply, Reply::Confirmed, "{backend}");
        app.dispatch().await;
        assert_eq!(app.sent().await.len(), 2, "{backend}: one acknowledgement");
    }
}

/// Every real webhook body of the conformance corpus, signed, through the real
/// endpoint: each is stored and acknowledged, and each is processed (none is left
/// waiting for a retry); unsigned, each is refused.
#[tokio::test]
async fn every_conformance_webhook_is_accepted_signed_and_processed() {
    let app = spawn_app(&feed(start()), morning_before()).await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance/whatsapp/webhooks");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), 69);
    for file in &files {
        let body = std::fs::read_to_string(file).unwrap();
        assert_eq!(app.post_webhook(&body, None).await, StatusCode::UNAUTHORIZED, "{file:?}");
        assert_eq!(app.post_signed(&body).await, StatusCode::OK, "{file:?}");
    }
    assert_eq!(app.services.store.unprocessed_inbox_count().await.unwrap(), files.len() as i64);
    app.process_inbox().await;
    assert_eq!(app.services.store.unprocessed_inbox_count().await.unwrap(), 0);
    app.dispatch().await;
    assert!(app.sent().await.is_empty(), "foreign payloads make no one an answer");
}

/// Never a 200 without a durable write: with the database gone the answer is 503, so
/// Meta delivers again later.
#[tokio::test]
async fn with_the_database_down_a_webhook_gets_503() {
    let app = spawn_app(&feed(start()), morning_before()).await;
    let body = status_body("wamid.X", "delivered", 1_790_000_000);
    app.services.store.close().await;
    assert_eq!(app.post_signed(&body).await, StatusCode::SERVICE_UNAVAILABLE);
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_client_too_slow_to_send_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app(&feed(start()), morning_before()).await;
    let mut slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    // a request line and one header, then nothing (the test config allows 1 s)
    slow.write_all(b"POST /webhooks/whatsapp HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut buf = [0u8; 512];
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), slow.read(&mut buf))
        .await
        .expect("the server closes the connection well before 10 s");
    assert!(matches!(closed, Ok(0) | Err(_)) || buf.starts_with(b"HTTP/1.1 408"), "{closed:?}");
    // others are served meanwhile
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn staff_note_a_phone_call_and_the_audit_log_says_who() {
    let app = spawn_app(&feed(start()), morning_before()).await;
    app.import().await;
    let cookie = app.login(STAFF.1).await.expect("a session cookie");
    let page = app.http.get(app.url("/report?date=2026-10-14")).header("cookie", &cookie);
    let html = page.send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Geannuleerd (telefoon)"), "{html}");
    let csrf = crate::helpers::csrf_of(&html);
    let post = |csrf: &str, mark: &str| {
        app.http
            .post(app.url("/report/appointment/1"))
            .header("cookie", &cookie)
            .form(&[("csrf", csrf), ("mark", mark), ("date", "2026-10-14")])
            .send()
    };
    assert_eq!(post("forged", "cancelled").await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(appointment(&app).await.reply, Reply::None, "a refused form changes nothing");

    let answer = post(&csrf, "cancelled").await.unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(appointment(&app).await.reply, Reply::Cancelled);
    let store = &app.services.store;
    let reminder = store.outbox_for_appointment(1).await.unwrap().remove(0);
    assert_eq!(reminder.state, OutboxState::Cancelled);
    assert_eq!(reminder.detail.as_deref(), Some("cancelled by phone (noted by balie)"));
    // a cancelled appointment cannot be confirmed from a stale page
    post(&csrf, "confirmed").await.unwrap();
    assert_eq!(appointment(&app).await.reply, Reply::Cancelled);
    let audit = store.audit_for(1).await.unwrap();
    let actions: Vec<(&str, &str)> =
        audit.iter().map(|e| (e.staff.as_str(), e.action.as_str())).collect();
    assert_eq!(actions, [("balie", "cancelled_by_phone")]);
    assert!(app.sent().await.is_empty(), "the customer called: no message");
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_login_for_fifteen_minutes() {
    let app = spawn_app(&feed(start()), morning_before()).await;
    for _ in 0..5 {
        assert!(app.login("wrong password").await.is_none());
    }
    assert!(app.login(STAFF.1).await.is_none(), "locked, even with the right password");
    app.clock.advance(Duration::minutes(15));
    assert!(app.login(STAFF.1).await.is_some(), "open again after fifteen minutes");
}

#[tokio::test]
async fn the_report_exports_as_csv_for_a_dutch_excel() {
    let app = spawn_app(&feed(start()), morning_before()).await;
    app.import().await;
    let url = app.url("/report.csv?from=2026-10-13&to=2026-10-14&sep=semicolon");
    let anonymous = app.http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER, "behind the login");
    let cookie = app.login(STAFF.1).await.expect("a session cookie");
    let answer = app.http.get(&url).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["content-type"], "text/csv; charset=utf-8");
    let text = answer.text().await.unwrap();
    let body = text.strip_prefix('\u{feff}').expect("a byte-order mark for Excel");
    let mut reader = csv::ReaderBuilder::new().delimiter(b';').from_reader(body.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "datum",
            "tijd",
            "klant",
            "telefoon",
            "agenda",
            "locatie",
            "herinnering",
            "antwoord",
            "sinds",
            "opmerking"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0][0], "2026-10-14");
    assert_eq!(&rows[0][1], "10:30–11:00");
    assert_eq!(&rows[0][2], "Sanne de Vries");
    assert_eq!(&rows[0][3], "+316••••••78", "masked, as on the page");
    assert_eq!(&rows[0][7], "geen antwoord");

    let bad = app.url("/report.csv?from=2026-10-14&to=2026-10-01");
    let answer = app.http.get(bad).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
}
