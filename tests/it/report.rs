//! The staff report's actions beyond answering for the customer: sending a reminder
//! again, the "why" of an appointment's messages, and the page in English.

use chrono::Duration;
use reminderd::domain::{OutboxKind, OutboxState};
use reqwest::StatusCode;

use crate::api::{
    answer_with_error, app_with_sent_reminder, appointment, feed, morning_before, mount_accepting,
    start,
};
use crate::helpers::{STAFF, STAFF_EN, TestApp, appointment_input, csrf_of, spawn_app};

/// The report of the appointment's day as `cookie`'s staff member sees it.
async fn day_page(app: &TestApp, cookie: &str) -> String {
    let page = app.http.get(app.url("/report?date=2026-10-14")).header("cookie", cookie);
    let answer = page.send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    answer.text().await.unwrap()
}

/// The daemon after Meta refused the 24-hour reminder for good (code 131009).
async fn app_with_failed_reminder() -> TestApp {
    let app = spawn_app(&feed(start()), morning_before()).await;
    answer_with_error(&app, 400, 131009, "(#131009) Parameter value is not valid").await;
    app.import().await;
    app.clock.set(start() - Duration::hours(24));
    app.dispatch().await;
    let id = appointment(&app).await.id;
    let messages = app.services.store.outbox_for_appointment(id).await.unwrap();
    assert_eq!(messages[0].state, OutboxState::Failed, "{messages:#?}");
    app
}

#[tokio::test]
async fn staff_send_a_failed_reminder_again_once_per_click_and_the_audit_log_says_who() {
    let app = app_with_failed_reminder().await;
    let id = appointment(&app).await.id;
    let cookie = app.login(STAFF.1).await.expect("a session cookie");
    let html = day_page(&app, &cookie).await;
    assert!(html.contains("mislukt (code 131009)"), "{html}");
    assert!(html.contains("Opnieuw versturen"), "{html}");
    assert!(html.contains("<strong>1</strong>te bellen"), "a failed reminder is a call: {html}");
    let csrf = csrf_of(&html);
    let resend = |csrf: &str| {
        app.http
            .post(app.url(&format!("/report/appointment/{id}/resend")))
            .header("cookie", &cookie)
            .form(&[("csrf", csrf), ("date", "2026-10-14")])
            .send()
    };
    assert_eq!(resend("forged").await.unwrap().status(), StatusCode::FORBIDDEN);
    let store = &app.services.store;
    assert_eq!(
        store.outbox_for_appointment(id).await.unwrap().len(),
        1,
        "a refused form sends nothing"
    );

    // an hour later Meta takes messages again (the template was fixed); staff resend,
    // and click twice
    app.clock.advance(Duration::hours(1));
    app.graph.reset().await;
    mount_accepting(&app).await;
    let answer = resend(&csrf).await.unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(answer.headers()["location"], "/report?date=2026-10-14");
    assert_eq!(resend(&csrf).await.unwrap().status(), StatusCode::SEE_OTHER);
    app.dispatch().await;
    let sent = app.sent().await;
    assert_eq!(sent.len(), 1, "one message for two clicks: {sent:#?}");
    assert_eq!(sent[0].0["type"], "template", "a reminder outside a service window is a template");
    let messages = store.outbox_for_appointment(id).await.unwrap();
    let again = messages.iter().find(|m| m.id != messages[0].id).expect("the second reminder");
    assert_eq!((again.kind, again.state), (OutboxKind::Reminder, OutboxState::Sent));
    assert_eq!(again.rule, messages[0].rule, "the same rule, so the same template");
    let audit = store.audit_for(id).await.unwrap();
    let actions: Vec<(&str, &str)> =
        audit.iter().map(|e| (e.staff.as_str(), e.action.as_str())).collect();
    assert_eq!(actions, [("balie", "resent_reminder")]);
    let html = day_page(&app, &cookie).await;
    assert!(html.contains("verstuurd di 13 okt 11:30 (WhatsApp)"), "{html}");
}

#[tokio::test]
async fn a_confirmed_appointment_cannot_be_sent_again() {
    let (app, request) = app_with_sent_reminder().await;
    let id = appointment(&app).await.id;
    let cookie = app.login(STAFF.1).await.expect("a session cookie");
    let before = day_page(&app, &cookie).await;
    assert!(before.contains("Opnieuw versturen"), "sent, no answer yet: {before}");
    let tap =
        crate::api::tap_body(&crate::api::payload_of(&request, 0), "wamid.REMINDER1", "wamid.TAP1");
    app.post_signed(&tap).await;
    app.process_inbox().await;
    let html = day_page(&app, &cookie).await;
    assert!(!html.contains("Opnieuw versturen"), "confirmed: nothing to resend: {html}");
    assert!(html.contains("sinds di 13 okt 10:31"), "since when it is confirmed: {html}");
    assert!(html.contains("<strong>0</strong>te bellen"), "{html}");
    // the page from before the answer changes nothing either
    let csrf = csrf_of(&before);
    let post = app
        .http
        .post(app.url(&format!("/report/appointment/{id}/resend")))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("date", "2026-10-14")]);
    assert_eq!(post.send().await.unwrap().status(), StatusCode::SEE_OTHER);
    let messages = app.services.store.outbox_for_appointment(id).await.unwrap();
    assert_eq!(messages.len(), 2, "the reminder and the acknowledgement only: {messages:#?}");
    assert!(app.services.store.audit_for(id).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_why_of_an_appointment_shows_its_rules_messages_and_what_staff_did() {
    let app = app_with_failed_reminder().await;
    let id = appointment(&app).await.id;
    let url = app.url(&format!("/report/appointment/{id}?date=2026-10-14"));
    let anonymous = app.http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()["location"], "/login");

    let cookie = app.login(STAFF.1).await.expect("a session cookie");
    let html = day_page(&app, &cookie).await;
    assert!(html.contains(&format!("href=\"/report/appointment/{id}?date=2026-10-14\"")), "{html}");
    let mark = app
        .http
        .post(app.url(&format!("/report/appointment/{id}")))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf_of(&html).as_str()), ("mark", "confirmed"), ("date", "2026-10-14")]);
    assert_eq!(mark.send().await.unwrap().status(), StatusCode::SEE_OTHER);

    let answer = app.http.get(&url).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let html = answer.text().await.unwrap();
    // what `reminderd explain` says: the rule, the failed message and Meta's code
    assert!(html.contains("Rules:"), "{html}");
    assert!(html.contains("applies; its moment: di 13 okt 10:30"), "{html}");
    assert!(html.contains("code 131009: "), "{html}");
    assert!(html.contains("+316••••••78"), "masked: {html}");
    assert!(!html.contains("612345678"), "never the whole number: {html}");
    // and who did what
    assert!(html.contains("balie: bevestigd (telefoon)"), "{html}");
    assert!(html.contains("href=\"/report?date=2026-10-14\""), "{html}");

    let missing = app.url("/report/appointment/999");
    let answer = app.http.get(missing).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn staff_who_read_english_get_the_pages_and_the_export_in_english() {
    let app = app_with_failed_reminder().await;
    let login = app.http.get(app.url("/login")).header("accept-language", "en-GB,en;q=0.9");
    let html = login.send().await.unwrap().text().await.unwrap();
    assert!(html.contains("<html lang=\"en\">") && !html.contains("Wrong name"), "{html}");
    assert!(html.contains("Log in to see today"), "{html}");
    let dutch = app.http.get(app.url("/login")).header("accept-language", "nl-NL,nl;q=0.9");
    assert!(dutch.send().await.unwrap().text().await.unwrap().contains("Wachtwoord"));

    let cookie = app.login_as(STAFF_EN, STAFF.1).await.expect("a session cookie");
    let html = day_page(&app, &cookie).await;
    for words in [
        "<html lang=\"en\">",
        "Appointments on Wednesday 14 October 2026",
        "failed (code 131009)",
        "no answer",
        "to call",
        "Send again",
        "Confirmed (phone)",
        "Last 14 days",
    ] {
        assert!(html.contains(words), "{words}: {html}");
    }
    assert!(!html.contains("geen antwoord"), "no Dutch left: {html}");
    let csv = app.http.get(app.url("/report.csv?from=2026-10-14&to=2026-10-14"));
    let answer = csv.header("cookie", &cookie).send().await.unwrap();
    assert!(answer.headers()["content-disposition"].to_str().unwrap().contains("appointments-"));
    let text = answer.text().await.unwrap();
    assert!(
        text.starts_with(
            "\u{feff}date,time,customer,phone,calendar,location,reminder,answer,since,note"
        ),
        "{text}"
    );
    // the Dutch colleague still reads Dutch
    let cookie = app.login(STAFF.1).await.expect("a session cookie");
    assert!(day_page(&app, &cookie).await.contains("geen antwoord"));
}

#[tokio::test]
async fn a_login_or_logout_from_another_page_than_ours_is_refused() {
    let app = spawn_app(&feed(start()), morning_before()).await;
    let post_login = |cookie: Option<String>, csrf: String| {
        let mut request = app.http.post(app.url("/login"));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.form(&[("name", STAFF.0), ("password", STAFF.1), ("csrf", &csrf)]).send()
    };
    // the right password, but no form of ours behind it
    let bare = post_login(None, String::new()).await.unwrap();
    assert_eq!(bare.status(), StatusCode::FORBIDDEN);
    assert!(bare.text().await.unwrap().contains("Het formulier was verlopen"));
    let (nonce, csrf) = app.login_form().await;
    let (other_nonce, _) = app.login_form().await;
    let forged = post_login(Some(other_nonce), csrf.clone()).await.unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN, "another form's token");
    let ok = post_login(Some(nonce), csrf).await.unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(ok.headers()["location"], "/report");

    let cookie = app.login(STAFF.1).await.expect("a session cookie");
    let html = day_page(&app, &cookie).await;
    let logout = |csrf: &str| {
        app.http.post(app.url("/logout")).header("cookie", &cookie).form(&[("csrf", csrf)]).send()
    };
    assert_eq!(logout("forged").await.unwrap().status(), StatusCode::FORBIDDEN);
    day_page(&app, &cookie).await;
    let out = logout(&csrf_of(&html)).await.unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
}

#[tokio::test]
async fn the_day_is_grouped_by_calendar_and_location_in_time_order() {
    let app = spawn_app(&feed(start()), morning_before()).await;
    app.import().await;
    let store = &app.services.store;
    let mut tx = store.begin().await.unwrap();
    let mut early = appointment_input("fysio-1", start() - Duration::hours(1));
    early.calendar = "fysio".into();
    early.customer_name = Some("Kees Jansen".into());
    let mut later = appointment_input("praktijk-2", start() + Duration::hours(2));
    later.customer_name = Some("Anna Visser".into());
    later.location = Some("Praktijk De Linde".into());
    for input in [&early, &later] {
        tx.upsert_appointment("praktijk", input, morning_before()).await.unwrap();
    }
    tx.commit().await.unwrap();

    let cookie = app.login(STAFF.1).await.expect("a session cookie");
    let html = day_page(&app, &cookie).await;
    let groups: Vec<&str> = html
        .split("<h2 class=\"group\">")
        .skip(1)
        .map(|g| g.split(" <span").next().unwrap())
        .collect();
    // in the order of each group's first appointment
    assert_eq!(groups, ["fysio", "praktijk – Praktijk De Linde"], "{html}");
    let fysio = html.split("<h2 class=\"group\">").nth(1).unwrap();
    assert!(fysio.contains("Kees Jansen") && !fysio.contains("Sanne de Vries"), "{fysio}");
    let praktijk = html.split("<h2 class=\"group\">").nth(2).unwrap();
    let (sanne, anna) = (praktijk.find("Sanne de Vries"), praktijk.find("Anna Visser"));
    assert!(sanne.unwrap() < anna.unwrap(), "by time within the group: {praktijk}");
    assert!(praktijk.contains("(2)"), "{praktijk}");
}

/// The chart's counts come from the database, per local day, on every backend.
#[tokio::test]
async fn the_database_counts_each_days_answers_between_local_midnights() {
    use reminderd::domain::{AppointmentStatus, Reply};
    for db in crate::helpers::databases().await {
        let store = crate::helpers::open(&db).await;
        let zone = chrono_tz::Europe::Amsterdam;
        let last = chrono::NaiveDate::from_ymd_opt(2026, 10, 26).unwrap();
        let bounds = reminderd::report::chart::day_bounds(zone, last, 14);
        // 00:30 on Sunday 25 October (summer time, UTC+2) and 23:30 that evening
        // (winter time, UTC+1) are both the 25th; 00:30 and 23:30 on the 26th are the
        // last day; 00:10 on the 27th is after it, and the 12th before the first
        let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        let cases = [
            ("a", "2026-10-24T22:30:00Z", Some(Reply::Confirmed)),
            ("b", "2026-10-25T22:30:00Z", None),
            ("c", "2026-10-25T23:30:00Z", Some(Reply::Confirmed)),
            ("d", "2026-10-26T22:30:00Z", Some(Reply::Cancelled)),
            ("e", "2026-10-26T23:10:00Z", Some(Reply::Confirmed)),
            ("f", "2026-10-12T21:00:00Z", Some(Reply::Confirmed)),
        ];
        let mut tx = store.begin().await.unwrap();
        for (id, start, reply) in cases {
            let input = appointment_input(id, at(start));
            let stored = tx.upsert_appointment("praktijk", &input, at(start)).await.unwrap();
            if let Some(reply) = reply {
                tx.set_reply(stored, reply, at(start)).await.unwrap();
            }
        }
        tx.commit().await.unwrap();
        let mut tallies = store.tally_by_day(&bounds).await.unwrap();
        tallies.sort_by_key(|t| (t.day, t.reply.as_str()));
        let got: Vec<(usize, AppointmentStatus, Reply, u32)> =
            tallies.iter().map(|t| (t.day, t.status, t.reply, t.count)).collect();
        let scheduled = AppointmentStatus::Scheduled;
        let expected = [
            (12, scheduled, Reply::Confirmed, 1),
            (12, scheduled, Reply::None, 1),
            (13, scheduled, Reply::Cancelled, 1),
            (13, scheduled, Reply::Confirmed, 1),
        ];
        assert_eq!(got, expected, "{}", db.backend);
    }
}
