//! The consent ledger end to end: the calendar's opt-in marker, STOP and START in the
//! customer's own words, and an opt-out that wins at once over reminders already planned.

use chrono::Duration;
use reminderd::domain::{ConsentMethod, ConsentStatus, OutboxKind, OutboxState};
use reqwest::StatusCode;

use crate::api::{feed, mount_accepting, start};
use crate::helpers::{API_TOKEN, spawn_app};
use crate::rules::{text_from_sanne, texts};

const SANNE: &str = "+31612345678";

#[tokio::test]
async fn stop_opts_out_at_once_with_the_message_as_evidence_and_start_opts_back_in() {
    let app = spawn_app(&feed(start()), start() - Duration::days(2)).await;
    mount_accepting(&app).await;
    let store = &app.services.store;
    app.import().await;
    // the calendar marks Sanne as opted in (X-WHATSAPP-OPT-IN:ja)
    let ledger = store.consent_history(SANNE).await.unwrap();
    assert_eq!(ledger.len(), 1, "{ledger:#?}");
    assert_eq!((ledger[0].status, ledger[0].method), (ConsentStatus::OptedIn, ConsentMethod::Feed));
    assert!(ledger[0].evidence.as_deref().unwrap().contains("sanne-1@praktijk"), "{ledger:#?}");

    let stop = text_from_sanne("STOP", "wamid.S1");
    assert_eq!(app.post_signed(&stop).await, StatusCode::OK);
    app.process_inbox().await;
    let ledger = store.consent_history(SANNE).await.unwrap();
    let latest = ledger.last().unwrap();
    assert_eq!((latest.status, latest.method), (ConsentStatus::OptedOut, ConsentMethod::Whatsapp));
    assert_eq!(latest.evidence.as_deref(), Some("WhatsApp message wamid.S1: \"STOP\""));
    app.clock.advance(Duration::minutes(1));
    app.dispatch().await;
    let said = texts(&app.sent().await);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("geen WhatsApp-berichten meer van Praktijk De Linde"), "{said:?}");

    // a second STOP is on record, but nobody who said stop gets a second message
    let again = text_from_sanne("stoppen met berichten", "wamid.S2");
    assert_eq!(app.post_signed(&again).await, StatusCode::OK);
    app.process_inbox().await;
    assert_eq!(store.consent_history(SANNE).await.unwrap().len(), 3);
    // the calendar still says yes: that does not override the customer
    app.import().await;
    assert_eq!(store.consent_history(SANNE).await.unwrap().len(), 3);

    // the reminder planned before the STOP does not go
    app.clock.set(start() - Duration::hours(24));
    app.dispatch().await;
    let sent = app.sent().await;
    assert!(sent.iter().all(|(r, _)| r["type"] != "template"), "no reminder: {sent:#?}");
    let reminder = store
        .outbox_for_appointment(1)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.kind == OutboxKind::Reminder)
        .unwrap();
    assert_eq!(reminder.state, OutboxState::Skipped);
    assert!(reminder.detail.unwrap().contains("opted out of WhatsApp"));

    let start_again = text_from_sanne("START", "wamid.S3");
    assert_eq!(app.post_signed(&start_again).await, StatusCode::OK);
    app.process_inbox().await;
    let latest = store.current_consent(reminderd::domain::ConsentChannel::Whatsapp, SANNE).await;
    assert_eq!(latest.unwrap().unwrap().status, ConsentStatus::OptedIn);
    app.clock.advance(Duration::minutes(1));
    app.dispatch().await;
    let said = texts(&app.sent().await);
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(said[1].contains("weer herinneringen"), "{said:?}");
}

#[tokio::test]
async fn a_booking_site_records_consent_through_the_api_with_its_token_only() {
    let app = spawn_app(&feed(start()), start() - Duration::days(2)).await;
    let url = app.url("/api/consents");
    let post = |token: Option<&str>, body: serde_json::Value| {
        let mut request = app.http.post(&url).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let opt_in = serde_json::json!({
        "phone": "06-87654321", "status": "opted_in",
        "evidence": "booking 2026-1187", "recorded_by": "boekingssite"
    });
    for token in [None, Some("wrong"), Some(&API_TOKEN[1..])] {
        let answer = post(token, opt_in.clone()).await.unwrap();
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{token:?}");
    }
    let store = &app.services.store;
    assert!(store.consent_history("+31687654321").await.unwrap().is_empty(), "nothing stored");

    for (bad, says) in [
        (serde_json::json!({ "status": "opted_in" }), "phone number or an e-mail"),
        (serde_json::json!({ "phone": "020-1234567", "status": "ja" }), "not a mobile number"),
        (serde_json::json!({ "phone": "06-87654321", "status": "misschien" }), "status"),
        (
            serde_json::json!({ "phone": "06-87654321", "status": "ja", "name": "x" }),
            "unknown field",
        ),
    ] {
        let answer = post(Some(API_TOKEN), bad.clone()).await.unwrap();
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{bad}");
        let text = answer.text().await.unwrap();
        assert!(text.contains(says), "{bad}: {text}");
    }

    let answer = post(Some(API_TOKEN), opt_in).await.unwrap();
    assert_eq!(answer.status(), StatusCode::CREATED);
    let record: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(record["phone"], "+31687654321");
    assert_eq!(record["status"], "opted_in");
    assert_eq!(record["method"], "api");
    let ledger = store.consent_history("+31687654321").await.unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].recorded_by, "boekingssite");
    assert_eq!(ledger[0].evidence.as_deref(), Some("booking 2026-1187"));
}
