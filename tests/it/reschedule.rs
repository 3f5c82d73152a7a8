//! "Verzetten" end to end: the tap, the list of free times Meta receives, the
//! customer's choice, staff's decision and what the customer is told.

use chrono::{DateTime, Duration, TimeZone, Utc};
use reminderd::domain::{OutboxKind, OutboxState, PayloadKey, Reply, SlotChoice};
use reminderd::reschedule::staff::{DecideError, Verdict, Voice, decide};
use reminderd::reschedule::{ConversationTexts, State};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::api::{appointment, feed, mount_accepting, payload_of, start, tap_body};
use crate::helpers::{SECRET_KEY, STAFF, TestApp, csrf_of, spawn_app_with_rules};
use crate::rules::rule;

fn key() -> PayloadKey {
    PayloadKey::from_secret(SECRET_KEY.as_bytes())
}

/// A real list-reply webhook (pywa's fixture) choosing the row `row_id`.
pub(crate) fn choice_body(row_id: &str, context_id: &str, id: &str, at: DateTime<Utc>) -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/conformance/whatsapp/webhooks/interactive_list_reply_pywa.json"
    );
    let mut body: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let message = &mut body["entry"][0]["changes"][0]["value"]["messages"][0];
    message["interactive"]["list_reply"]["id"] = json!(row_id);
    message["context"]["id"] = json!(context_id);
    message["id"] = json!(id);
    message["from"] = json!("31612345678");
    message["timestamp"] = json!(at.timestamp().to_string());
    body.to_string()
}

/// The tap on "Verzetten" of the sent reminder, sent now by the customer.
fn reschedule_tap(app: &TestApp, request: &Value) -> String {
    let mut body: Value =
        serde_json::from_str(&tap_body(&payload_of(request, 2), "wamid.REMINDER1", "wamid.TAP1"))
            .unwrap();
    body["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] =
        json!(app.clock.now().timestamp().to_string());
    body.to_string()
}

fn row(start: DateTime<Utc>, title: &str) -> Value {
    let id = SlotChoice { appointment_id: 1, start: Some(start.timestamp()) }.encode(&key());
    json!({ "id": id, "title": title, "description": "Dr. Jansen" })
}

fn utc(h: u32, m: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, day, h, m, 0).unwrap()
}

/// The daemon after the customer tapped "Verzetten" on the reminder a day before, and
/// the list went out; a second reminder (2 hours before) is still planned. With the
/// list request Meta received.
async fn app_with_offer() -> (TestApp, Value) {
    app_with_offer_at(24).await
}

/// [`app_with_offer`] with the first reminder `hours` before the appointment.
async fn app_with_offer_at(hours: i64) -> (TestApp, Value) {
    let day = rule(&format!("{{ before = \"{hours}h\" }}"), "");
    let late = rule(r#"{ before = "2h" }"#, "");
    let rules = [("dag", day.as_str()), ("uren", late.as_str())];
    let app = spawn_app_with_rules(&feed(start()), start() - Duration::days(4), &rules).await;
    mount_accepting(&app).await;
    app.import().await;
    app.clock.set(start() - Duration::hours(hours));
    app.dispatch().await;
    let request = app.sent().await[0].0.clone();
    app.clock.advance(Duration::minutes(1));
    assert_eq!(app.post_signed(&reschedule_tap(&app, &request)).await, StatusCode::OK);
    app.process_inbox().await;
    app.clock.advance(Duration::seconds(10));
    app.dispatch().await;
    let sent = app.sent().await;
    assert_eq!(sent.len(), 2, "the reminder and the list: {sent:#?}");
    (app, sent[1].0.clone())
}

async fn last_text(app: &TestApp) -> String {
    app.clock.advance(Duration::seconds(10));
    app.dispatch().await;
    let sent = app.sent().await;
    let last = &sent.last().unwrap().0;
    assert_eq!(last["type"], "text", "{last:#}");
    last["text"]["body"].as_str().unwrap().to_string()
}

fn voice<'a>(
    texts: &'a ConversationTexts,
    locations: &'a std::collections::HashMap<String, String>,
) -> Voice<'a> {
    Voice {
        zone: chrono_tz::Europe::Amsterdam,
        practice: "Praktijk De Linde",
        source_locations: locations,
        texts,
    }
}

#[tokio::test]
async fn a_reschedule_tap_offers_free_times_and_staff_accept_the_choice() {
    let (app, list) = app_with_offer().await;
    // Tapped on Tuesday 13 October 10:31 (CEST); no time sooner than 23 h later, so
    // from Wednesday 09:31: 10:00, then 10:30 is the customer's own appointment, 11:00,
    // 11:30; Thursday 09:00 to 11:30 (hours 09:00–12:00, 30-minute slots, 9 times).
    let expected = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+31612345678",
        "type": "interactive",
        "interactive": {
            "type": "list",
            "header": { "type": "text", "text": "Beschikbare tijden" },
            "body": { "text": "Kies een nieuw tijdstip voor je afspraak. De praktijk bevestigt het daarna." },
            "footer": { "text": "Praktijk De Linde" },
            "action": {
                "button": "Kies tijd",
                "sections": [
                    { "title": "wo 14 okt", "rows": [
                        row(utc(8, 0, 14), "10:00"), row(utc(9, 0, 14), "11:00"),
                        row(utc(9, 30, 14), "11:30") ] },
                    { "title": "do 15 okt", "rows": [
                        row(utc(7, 0, 15), "09:00"), row(utc(7, 30, 15), "09:30"),
                        row(utc(8, 0, 15), "10:00"), row(utc(8, 30, 15), "10:30"),
                        row(utc(9, 0, 15), "11:00"), row(utc(9, 30, 15), "11:30") ] },
                    { "title": "Anders", "rows": [ {
                        "id": SlotChoice { appointment_id: 1, start: None }.encode(&key()),
                        "title": "Geen van deze tijden",
                        "description": "De praktijk belt je" } ] }
                ]
            }
        },
        "biz_opaque_callback_data": "outbox:3"
    });
    assert_eq!(list, expected);
    assert_eq!(appointment(&app).await.reply, Reply::Reschedule);

    // the customer picks Thursday 09:00
    let thursday = utc(7, 0, 15);
    let id = row(thursday, "09:00")["id"].as_str().unwrap().to_string();
    let body = choice_body(&id, "wamid.REMINDER2", "wamid.CHOICE1", app.clock.now());
    assert_eq!(app.post_signed(&body).await, StatusCode::OK);
    app.process_inbox().await;
    let text = last_text(&app).await;
    assert!(text.contains("donderdag 15 oktober om 09:00") && text.contains("bevestigt"), "{text}");

    // a double tap on the same row says nothing more
    let again = choice_body(&id, "wamid.REMINDER2", "wamid.CHOICE2", app.clock.now());
    assert_eq!(app.post_signed(&again).await, StatusCode::OK);
    app.process_inbox().await;
    app.clock.advance(Duration::seconds(10));
    app.dispatch().await;
    assert_eq!(app.sent().await.len(), 3, "reminder, list, one confirmation");

    let store = &app.services.store;
    let waiting = store.waiting_conversations(app.clock.now()).await.unwrap();
    assert_eq!(waiting.len(), 1);
    assert!(matches!(&waiting[0].1.conversation.state, State::Requested(s) if s.start == thursday));

    // staff see the request in the report, with buttons to accept or decline it
    let cookie = app.login(STAFF.1).await.expect("a session cookie");
    let page = app.http.get(app.url("/report?date=2026-10-14")).header("cookie", &cookie);
    let html = page.send().await.unwrap().text().await.unwrap();
    assert!(html.contains("wil verzetten naar do 15 okt 09:00"), "{html}");
    assert!(html.contains("action=\"/report/reschedule/1\""), "{html}");
    let csrf = csrf_of(&html);
    let post = |csrf: &str, cookie: Option<&str>| {
        let mut request = app.http.post(app.url("/report/reschedule/1")).form(&[
            ("csrf", csrf),
            ("verdict", "accept"),
            ("date", "2026-10-14"),
        ]);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send()
    };
    // a form posted from elsewhere (no token, or not logged in) changes nothing
    assert_eq!(post("", Some(&cookie)).await.unwrap().status(), StatusCode::FORBIDDEN);
    let stranger = post(&csrf, None).await.unwrap();
    assert_eq!(stranger.headers()["location"], "/login");
    assert_eq!(store.waiting_conversations(app.clock.now()).await.unwrap().len(), 1);

    // staff accept: the customer hears the new time, the old time's reminders go
    let accepted = post(&csrf, Some(&cookie)).await.unwrap();
    assert_eq!(accepted.status(), StatusCode::SEE_OTHER);
    assert_eq!(accepted.headers()["location"], "/report?date=2026-10-14");
    let text = last_text(&app).await;
    assert!(text.contains("verzet naar donderdag 15 oktober om 09:00"), "{text}");
    let pending: Vec<_> = store
        .outbox_for_appointment(1)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == OutboxKind::Reminder && m.state == OutboxState::Pending)
        .collect();
    assert!(pending.is_empty(), "no reminder for the old time: {pending:#?}");
    let withdrawn = store.outbox(2).await.unwrap().unwrap();
    assert_eq!(withdrawn.state, OutboxState::Cancelled);
    assert!(withdrawn.detail.unwrap().contains("accepted by balie"));
    assert!(store.waiting_conversations(app.clock.now()).await.unwrap().is_empty());
    let page = app.http.get(app.url("/report?date=2026-10-14")).header("cookie", &cookie);
    let html = page.send().await.unwrap().text().await.unwrap();
    assert!(html.contains("verzet naar do 15 okt 09:00 (geaccepteerd"), "{html}");

    // deciding twice does nothing: a second click, or a decline afterwards
    assert_eq!(post(&csrf, Some(&cookie)).await.unwrap().status(), StatusCode::SEE_OTHER);
    let texts = reminderd_texts();
    let locations = Default::default();
    let twice = decide(
        store,
        voice(&texts, &locations),
        &Default::default(),
        1,
        Verdict::Decline,
        "balie",
        app.clock.now(),
    )
    .await;
    assert!(matches!(twice, Err(DecideError::Refused { .. })), "{twice:?}");
    let audit = store.audit_for(1).await.unwrap();
    let actions: Vec<(&str, &str)> =
        audit.iter().map(|e| (e.staff.as_str(), e.action.as_str())).collect();
    assert_eq!(actions, [("balie", "reschedule_accepted")], "one decision on record");
    app.dispatch().await;
    let answers = app.sent().await.iter().filter(|(r, _)| r["type"] == "text").count();
    assert_eq!(answers, 2, "the choice confirmed and the acceptance, nothing more");
}

/// The conversation texts as the shipped configuration has them.
fn reminderd_texts() -> ConversationTexts {
    use figment::Figment;
    use figment::providers::{Format, Toml};
    let settings: reminderd::config::Settings =
        Figment::new().merge(Toml::string(reminderd::config::DEFAULTS)).extract().unwrap();
    settings.reschedule.messages
}

#[tokio::test]
async fn none_of_the_times_asks_staff_to_call_and_late_or_forged_choices_change_nothing() {
    let (app, list) = app_with_offer().await;
    let rows = &list["interactive"]["action"]["sections"];
    let none = rows[2]["rows"][0]["id"].as_str().unwrap().to_string();
    let first = rows[0]["rows"][0]["id"].as_str().unwrap().to_string();

    // a row id edited to another time is refused: no answer, no request
    let forged = first.replacen(&utc(8, 0, 14).timestamp().to_string(), "1760000000", 1);
    let body = choice_body(&forged, "wamid.REMINDER2", "wamid.FORGED", app.clock.now());
    assert_eq!(app.post_signed(&body).await, StatusCode::OK);
    app.process_inbox().await;
    app.dispatch().await;
    assert_eq!(app.sent().await.len(), 2, "nothing answers a forged row");

    let body = choice_body(&none, "wamid.REMINDER2", "wamid.NONE", app.clock.now());
    assert_eq!(app.post_signed(&body).await, StatusCode::OK);
    app.process_inbox().await;
    let text = last_text(&app).await;
    assert!(text.contains("belt je"), "{text}");
    let waiting = app.services.store.waiting_conversations(app.clock.now()).await.unwrap();
    assert_eq!(waiting[0].1.conversation.state, State::CallBack);

    // a choice after the offer ran out (24 h after the tap) gets an honest answer
    app.clock.advance(Duration::hours(24));
    let late = choice_body(&first, "wamid.REMINDER2", "wamid.LATE", app.clock.now());
    assert_eq!(app.post_signed(&late).await, StatusCode::OK);
    app.process_inbox().await;
    let text = last_text(&app).await;
    assert!(text.contains("verlopen"), "{text}");
}

#[tokio::test]
async fn a_customer_who_chose_no_time_before_the_offer_ran_out_is_left_for_staff_to_call() {
    // the reminder three days ahead; the offer runs out a day after the tap
    let (app, _) = app_with_offer_at(72).await;
    let store = &app.services.store;
    assert!(store.waiting_conversations(app.clock.now()).await.unwrap().is_empty());
    app.clock.advance(Duration::hours(25));
    let waiting = store.waiting_conversations(app.clock.now()).await.unwrap();
    assert_eq!(waiting.len(), 1, "the customer is waiting for a call");
    assert_eq!(waiting[0].1.conversation.state, State::Offered);
    let cookie = app.login(STAFF.1).await.expect("a session cookie");
    let page = app.http.get(app.url("/report?date=2026-10-14")).header("cookie", &cookie);
    let html = page.send().await.unwrap().text().await.unwrap();
    assert!(html.contains("wil verzetten, koos geen tijd: klant bellen"), "{html}");
}

#[tokio::test]
async fn after_the_window_closed_the_decision_goes_as_the_configured_template() {
    use reminderd::reschedule::settings::OutcomeTemplates;
    use reminderd::reschedule::staff::Told;
    let (app, list) = app_with_offer_at(72).await;
    let store = &app.services.store;
    let row = &list["interactive"]["action"]["sections"][0]["rows"][0];
    let id = row["id"].as_str().unwrap();
    let chosen = SlotChoice::decode(id, &key()).unwrap().start.unwrap();
    let body = choice_body(id, "wamid.REMINDER2", "wamid.CHOICE1", app.clock.now());
    assert_eq!(app.post_signed(&body).await, StatusCode::OK);
    app.process_inbox().await;
    last_text(&app).await;

    // staff decide the next day: free text may no longer go
    app.clock.advance(Duration::hours(25));
    let texts = reminderd_texts();
    let locations = Default::default();
    let none = OutcomeTemplates::default();
    let templates = OutcomeTemplates {
        accepted: "afspraak_verzet".into(),
        declined: String::new(),
        language: "nl".into(),
    };
    let decided = decide(
        store,
        voice(&texts, &locations),
        &templates,
        1,
        Verdict::Accept,
        "balie",
        app.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(decided.told, Told::Template("afspraak_verzet".into()));
    app.dispatch().await;
    let sent = app.sent().await;
    let notice = &sent.last().unwrap().0;
    assert_eq!(notice["type"], "template", "{notice:#}");
    assert_eq!(notice["template"]["name"], "afspraak_verzet");
    let params: Vec<&str> = notice["template"]["components"][0]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    let chosen = chrono::DateTime::from_timestamp(chosen, 0).unwrap();
    let zone = chrono_tz::Europe::Amsterdam;
    assert_eq!(
        params,
        [
            "Sanne",
            reminderd::domain::time::dutch_date(chosen, zone).as_str(),
            reminderd::domain::time::local_time(chosen, zone).as_str()
        ]
    );
    // without a template staff are told to phone (nothing is sent)
    let again = decide(
        store,
        voice(&texts, &locations),
        &none,
        1,
        Verdict::Decline,
        "balie",
        app.clock.now(),
    )
    .await;
    assert!(matches!(again, Err(DecideError::Refused { .. })), "already decided: {again:?}");
}
