//! Rules end to end: what planning decided reaches the store and the dispatcher, and a
//! rule's conditions are checked again just before sending.

use chrono::Duration;
use reminderd::domain::{OutboxState, Reply};
use reqwest::StatusCode;

use crate::api::{appointment, feed, mount_accepting, payload_of, start, tap_body};
use crate::helpers::{spawn_app, spawn_app_with_rules};

pub(crate) fn rule(when: &str, extra: &str) -> String {
    format!(
        "when = {when}\nquiet_hours = {{ from = \"00:00\", to = \"00:00\" }}\n{extra}\n\
         [template]\nname = \"afspraak_herinnering\"\nlanguage = \"nl\"\n\
         body = [\"{{first_name}}\", \"{{date}}\", \"{{time}}\"]\n\
         buttons = [\"confirm\", \"cancel\", \"reschedule\"]\n"
    )
}

fn templates(sent: &[(serde_json::Value, Option<String>)]) -> usize {
    sent.iter().filter(|(request, _)| request["type"] == "template").count()
}

#[tokio::test]
async fn a_second_reminder_unless_confirmed_skips_a_customer_who_confirmed_meanwhile() {
    let first = rule(r#"{ before = "24h" }"#, "");
    let second = rule(r#"{ before = "2h" }"#, "unless = \"confirmed\"");
    let rules = [("dag", first.as_str()), ("nog-een-keer", second.as_str())];
    let app = spawn_app_with_rules(&feed(start()), start() - Duration::days(3), &rules).await;
    mount_accepting(&app).await;
    app.import().await;
    let a = appointment(&app).await;
    // both planned: nobody has answered yet
    assert_eq!(app.services.store.outbox_for_appointment(a.id).await.unwrap().len(), 2);

    app.clock.set(start() - Duration::hours(24));
    app.dispatch().await;
    let sent = app.sent().await;
    assert_eq!(templates(&sent), 1);
    let tap = tap_body(&payload_of(&sent[0].0, 0), "wamid.REMINDER1", "wamid.TAP1");
    assert_eq!(app.post_signed(&tap).await, StatusCode::OK);
    app.process_inbox().await;
    assert_eq!(appointment(&app).await.reply, Reply::Confirmed);

    app.clock.set(start() - Duration::hours(2));
    app.dispatch().await;
    assert_eq!(templates(&app.sent().await), 1, "no second reminder after the confirmation");
    let second = app
        .services
        .store
        .outbox_for_appointment(a.id)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.rule == "nog-een-keer")
        .unwrap();
    assert_eq!(second.state, OutboxState::Skipped);
    assert_eq!(second.detail.as_deref(), Some("the customer already confirmed"));
}

#[tokio::test]
async fn a_late_booking_goes_after_the_grace_delay_and_a_too_late_one_is_on_record() {
    // booked 10:30 on the day itself at 08:30 (06:30 UTC): the 24-hour moment has long
    // passed; the shipped rule sends at once after its 10-minute grace delay
    let booked = start() - Duration::hours(2);
    let app = spawn_app(&feed(start()), booked).await;
    mount_accepting(&app).await;
    app.import().await;
    let a = appointment(&app).await;
    let planned = app.services.store.outbox_for_appointment(a.id).await.unwrap().remove(0);
    assert_eq!(planned.state, OutboxState::Pending);
    assert_eq!(planned.due_at, booked + Duration::minutes(10));
    let note = planned.plan_note.unwrap();
    assert!(note.starts_with("booked after the rule's moment (di 13 okt 10:30)"), "{note}");
    app.dispatch().await;
    assert!(app.sent().await.is_empty(), "held for the grace delay");
    app.clock.set(booked + Duration::minutes(10));
    app.dispatch().await;
    assert_eq!(templates(&app.sent().await), 1);

    // booked 50 minutes ahead: after the grace delay, less than the hour a late
    // reminder needs — none, and the reason is kept for staff
    let app = spawn_app(&feed(start()), start() - Duration::minutes(50)).await;
    mount_accepting(&app).await;
    app.import().await;
    let a = appointment(&app).await;
    let skipped = app.services.store.outbox_for_appointment(a.id).await.unwrap().remove(0);
    assert_eq!(skipped.state, OutboxState::Skipped);
    let reason = skipped.detail.unwrap();
    assert!(reason.contains("booked too late: 40 min before the appointment"), "{reason}");
    app.clock.set(start() - Duration::minutes(30));
    app.dispatch().await;
    assert!(app.sent().await.is_empty());
}

#[tokio::test]
async fn a_reminder_delayed_past_its_ttl_is_not_sent_any_more() {
    let with_ttl =
        rule(r#"{ before = "24h" }"#, "").replace("buttons = [", "ttl = \"12h\"\nbuttons = [");
    let app =
        spawn_app_with_rules(&feed(start()), start() - Duration::days(3), &[("dag", &with_ttl)])
            .await;
    mount_accepting(&app).await;
    app.import().await;
    // the daemon was down from before the moment until 11 hours before the appointment:
    // WhatsApp could still be trying to deliver it when the appointment begins
    app.clock.set(start() - Duration::hours(11));
    app.dispatch().await;
    assert!(app.sent().await.is_empty());
    let a = appointment(&app).await;
    let m = app.services.store.outbox_for_appointment(a.id).await.unwrap().remove(0);
    assert_eq!(m.state, OutboxState::Skipped);
    assert!(m.detail.unwrap().contains("ttl of 12h"));
}

#[tokio::test]
async fn a_restart_re_plans_only_when_the_rules_changed() {
    use reminderd::import::sync::replan_upcoming;
    use reminderd::rules::{Planning, RuleSet, WorkCalendar};

    let app = spawn_app(&feed(start()), start() - Duration::days(3)).await;
    app.import().await;
    let store = &app.services.store;
    let now = app.clock.now();
    let planning = app.services.importer.planning();
    // the first start plans (the import already did: nothing to add) and remembers
    let first = replan_upcoming(store, planning, now).await.unwrap();
    assert_eq!(first.reminders_planned, 0);
    // a reminder withdrawn by hand stays withdrawn over an unchanged restart: the
    // restart did not look at the appointments at all
    let a = appointment(&app).await;
    let mut tx = store.begin().await.unwrap();
    tx.cancel_pending_reminders(a.id, "test", now).await.unwrap();
    tx.commit().await.unwrap();
    let again = replan_upcoming(store, planning, now).await.unwrap();
    assert_eq!((again.reminders_planned, again.reminders_cancelled), (0, 0));

    // another rule: the restart re-plans every upcoming appointment
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/reminder-rules/24-uur-ervoor.toml"
    ))
    .unwrap();
    let rules = RuleSet::new(vec![
        reminderd::rules::Rule::parse("24-uur-ervoor", &text).unwrap(),
        reminderd::rules::Rule::parse("twee-uur", &text.replace("\"24h\"", "\"2h\"")).unwrap(),
    ]);
    let workdays = WorkCalendar::default();
    let changed = Planning { rules: &rules, zone: planning.zone, workdays: &workdays };
    let replanned = replan_upcoming(store, changed, now).await.unwrap();
    assert_eq!(replanned.reminders_planned, 1, "the new rule's reminder");
    assert_eq!(replan_upcoming(store, changed, now).await.unwrap().reminders_planned, 0);
}

#[tokio::test]
async fn plan_and_explain_say_what_goes_when_and_why() {
    use chrono::TimeZone;
    use reminderd::inspect;

    // Monday 26 October 07:30 CET: 24 hours before is 07:30 on Sunday, the day the
    // clocks go back, inside the quiet hours: the shipped rule moves it to 08:00
    let start = chrono::Utc.with_ymd_and_hms(2026, 10, 26, 6, 30, 0).unwrap();
    let now = start - Duration::days(6);
    let app = spawn_app(&feed(start), now).await;
    app.import().await;
    let zone = chrono_tz::Europe::Amsterdam;
    let rows = inspect::plan(&app.services.store, zone, now, 7).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row.due_local, "2026-10-25 08:00");
    assert!(row.dst_switch_day);
    assert!(row.note.as_deref().unwrap().contains("moved out of the quiet hours 21:00–08:00"));
    assert_eq!(row.phone.as_deref(), Some("+316••••••78"));
    let text = inspect::render_plan(&rows, zone, 7);
    assert!(text.contains("zondag 25 oktober  — the clocks change this day"), "{text}");
    assert!(text.contains("08:00  #"), "{text}");
    assert!(inspect::plan(&app.services.store, zone, now, 1).await.unwrap().is_empty());

    // Meta refuses it for this customer: explain says so, in words
    crate::api::answer_with_error(&app, 400, 131026, "Message undeliverable").await;
    app.clock.set(row.due_at);
    app.dispatch().await;
    let a = inspect::find(&app.services.store, "praktijk:sanne-1@praktijk").await.unwrap().unwrap();
    assert_eq!(
        inspect::find(&app.services.store, &a.id.to_string()).await.unwrap().map(|a| a.id),
        Some(a.id)
    );
    let planning = app.services.importer.planning();
    let text = inspect::explain(&app.services.store, planning, a).await.unwrap().render(zone);
    for expected in [
        "maandag 26 oktober, 07:30",
        "24-uur-ervoor: applies; its moment: zo 25 okt 07:30",
        "`24-uur-ervoor`: failed",
        "planned: moved out of the quiet hours 21:00–08:00 (was zo 25 okt 07:30)",
        "Meta's code 131026: The message could not be delivered",
    ] {
        assert!(text.contains(expected), "`{expected}` in:\n{text}");
    }
    assert!(inspect::find(&app.services.store, "praktijk:nobody").await.unwrap().is_none());
}

/// A feed with two of Sanne's appointments (UIDs sanne-1 and sanne-2).
fn two_of_sannes(
    first: chrono::DateTime<chrono::Utc>,
    second: chrono::DateTime<chrono::Utc>,
) -> String {
    let second_event = feed(second)
        .split_once("BEGIN:VEVENT")
        .map(|(_, e)| format!("BEGIN:VEVENT{e}"))
        .unwrap()
        .replace("sanne-1@praktijk", "sanne-2@praktijk");
    format!("{}{second_event}", feed(first).replace("END:VCALENDAR\r\n", ""))
}

/// A real template webhook from the conformance corpus, about our template.
fn template_webhook(file: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let path =
        format!("{}/tests/conformance/whatsapp/webhooks/{file}.json", env!("CARGO_MANIFEST_DIR"));
    let mut body: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let value = &mut body["entry"][0]["changes"][0]["value"];
    value["message_template_name"] = "afspraak_herinnering".into();
    value["message_template_language"] = "nl".into();
    edit(value);
    body.to_string()
}

#[tokio::test]
async fn a_paused_template_holds_its_reminders_until_meta_approves_it_again() {
    let app = spawn_app(&feed(start()), start() - Duration::days(3)).await;
    mount_accepting(&app).await;
    app.import().await;
    let paused = template_webhook("template_status_paused_dogalyir", |_| {});
    assert_eq!(app.post_signed(&paused).await, StatusCode::OK);
    app.process_inbox().await;

    app.clock.set(start() - Duration::hours(24));
    app.dispatch().await;
    assert!(app.sent().await.is_empty(), "not sent while paused");
    let a = appointment(&app).await;
    let m = app.services.store.outbox_for_appointment(a.id).await.unwrap().remove(0);
    assert_eq!((m.state, m.attempts), (OutboxState::Pending, 0));
    assert!(m.detail.unwrap().contains("template afspraak_herinnering (nl) is PAUSED"));
    // staff see it on top of the report
    let cookie = app.login(crate::helpers::STAFF.1).await.expect("a session cookie");
    let page = app.http.get(app.url("/report?date=2026-10-14")).header("cookie", &cookie);
    let html = page.send().await.unwrap().text().await.unwrap();
    assert!(html.contains("template afspraak_herinnering (nl) is PAUSED"), "{html}");

    // approved again: the next look sends it (the approval names only the id here)
    let approved = template_webhook("template_status_approved_no_reason_piusalfred", |v| {
        v["message_template_id"] = 1689556908129832u64.into();
        v.as_object_mut().unwrap().remove("message_template_name");
        v.as_object_mut().unwrap().remove("message_template_language");
    });
    assert_eq!(app.post_signed(&approved).await, StatusCode::OK);
    app.process_inbox().await;
    app.clock.advance(Duration::minutes(15));
    app.dispatch().await;
    assert_eq!(templates(&app.sent().await), 1);
    let known = app.services.store.templates().await.unwrap();
    assert_eq!(known[0].status.as_deref(), Some("APPROVED"), "{known:?}");
}

#[tokio::test]
async fn a_template_meta_refuses_holds_every_reminder_of_it_and_is_recorded() {
    let first = start();
    let second = start() + Duration::hours(1);
    let feed = two_of_sannes(first, second);
    let app = spawn_app(&feed, start() - Duration::days(3)).await;
    crate::api::answer_with_error(&app, 400, 132015, "Template is Paused").await;
    app.import().await;
    app.clock.set(first - Duration::hours(24));
    app.dispatch().await;
    assert_eq!(app.sent().await.len(), 1, "the first is refused");
    // the second one is not even tried
    app.clock.set(second - Duration::hours(24));
    app.dispatch().await;
    assert_eq!(app.sent().await.len(), 1);
    let b = reminderd::inspect::find(&app.services.store, "praktijk:sanne-2@praktijk")
        .await
        .unwrap()
        .expect("the second appointment");
    let m = app.services.store.outbox_for_appointment(b.id).await.unwrap().remove(0);
    assert_eq!((m.state, m.attempts), (OutboxState::Pending, 0));
    assert!(m.detail.unwrap().contains("is PAUSED at Meta"));
    let known = app.services.store.templates().await.unwrap();
    assert_eq!(known.len(), 1);
    assert_eq!(known[0].status.as_deref(), Some("PAUSED"));
    assert!(known[0].reason.as_deref().unwrap().contains("132015"));
}

/// A real text-message webhook from the conformance corpus, from Sanne, saying `text`.
pub(crate) fn text_from_sanne(text: &str, id: &str) -> String {
    let path =
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance/whatsapp/webhooks/text_java.json");
    let mut body: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let message = &mut body["entry"][0]["changes"][0]["value"]["messages"][0];
    message["from"] = "31612345678".into();
    message["id"] = id.into();
    message["text"]["body"] = text.into();
    body.to_string()
}

pub(crate) fn texts(sent: &[(serde_json::Value, Option<String>)]) -> Vec<String> {
    sent.iter()
        .filter(|(r, _)| r["type"] == "text")
        .map(|(r, _)| r["text"]["body"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_plain_yes_or_no_about_the_one_upcoming_appointment_acts_like_the_button() {
    let app = spawn_app(&feed(start()), start() - Duration::days(2)).await;
    mount_accepting(&app).await;
    app.import().await;
    assert_eq!(
        app.post_signed(&text_from_sanne("Ja hoor, ik kom!", "wamid.T1")).await,
        StatusCode::OK
    );
    app.process_inbox().await;
    assert_eq!(appointment(&app).await.reply, Reply::Confirmed);
    app.dispatch().await;
    let said = texts(&app.sent().await);
    assert_eq!(said.len(), 1);
    assert!(said[0].contains("bevestigd"), "{said:?}");

    app.clock.advance(Duration::minutes(1));
    let no = text_from_sanne("Nee, ik kan toch niet", "wamid.T2");
    assert_eq!(app.post_signed(&no).await, StatusCode::OK);
    app.process_inbox().await;
    let a = appointment(&app).await;
    assert_eq!(
        (a.reply, a.status),
        (Reply::Cancelled, reminderd::domain::AppointmentStatus::Cancelled)
    );
    app.dispatch().await;
    assert!(texts(&app.sent().await)[1].contains("geannuleerd"));
}

#[tokio::test]
async fn a_yes_replying_to_a_reminder_is_about_that_appointment_even_with_two_ahead() {
    // two appointments for Sanne: a plain "ja" is ambiguous, a swipe-reply to the
    // reminder of the first is not
    let second = start() + Duration::days(7);
    let feed = two_of_sannes(start(), second);
    let app = spawn_app(&feed, start() - Duration::days(2)).await;
    mount_accepting(&app).await;
    app.import().await;
    app.clock.set(start() - Duration::hours(24));
    app.dispatch().await;
    assert_eq!(templates(&app.sent().await), 1);
    app.clock.advance(Duration::minutes(1));

    assert_eq!(app.post_signed(&text_from_sanne("ja", "wamid.J1")).await, StatusCode::OK);
    app.process_inbox().await;
    let first = reminderd::inspect::find(&app.services.store, "praktijk:sanne-1@praktijk")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.reply, Reply::None, "ambiguous: two appointments ahead");

    let mut reply: serde_json::Value =
        serde_json::from_str(&text_from_sanne("Ja hoor", "wamid.J2")).unwrap();
    reply["entry"][0]["changes"][0]["value"]["messages"][0]["context"] =
        serde_json::json!({ "from": "15550783881", "id": "wamid.REMINDER1" });
    assert_eq!(app.post_signed(&reply.to_string()).await, StatusCode::OK);
    app.process_inbox().await;
    let first = reminderd::inspect::find(&app.services.store, "praktijk:sanne-1@praktijk")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.reply, Reply::Confirmed);
    let later = reminderd::inspect::find(&app.services.store, "praktijk:sanne-2@praktijk")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(later.reply, Reply::None);
}

#[tokio::test]
async fn an_unclear_text_gets_one_polite_answer_a_day() {
    let app = spawn_app(&feed(start()), start() - Duration::days(2)).await;
    mount_accepting(&app).await;
    app.import().await;
    for (i, text) in ["Waar kan ik parkeren?", "En mag mijn dochter mee?"].iter().enumerate() {
        let body = text_from_sanne(text, &format!("wamid.U{i}"));
        assert_eq!(app.post_signed(&body).await, StatusCode::OK);
        app.process_inbox().await;
        app.clock.advance(Duration::minutes(1));
        app.dispatch().await;
    }
    let said = texts(&app.sent().await);
    assert_eq!(said.len(), 1, "one answer for the day: {said:?}");
    assert!(said[0].contains("Een medewerker van Praktijk De Linde leest het"), "{said:?}");
    assert_eq!(appointment(&app).await.reply, Reply::None, "nothing changed");

    // staff read the latest text in the report
    let cookie = app.login(crate::helpers::STAFF.1).await.expect("a session cookie");
    let page = app.http.get(app.url("/report?date=2026-10-14")).header("cookie", cookie);
    let html = page.send().await.unwrap().text().await.unwrap();
    assert!(html.contains("onduidelijk antwoord: “En mag mijn dochter mee?”"), "{html}");
}
