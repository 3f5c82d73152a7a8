//! The dispatcher against a fake Graph API on a real SQLite store: crashes injected
//! between the steps of a send, the pair rate, and a stopped channel.

use std::time::Duration as StdDuration;

use chrono::TimeZone;
use secrecy::SecretString;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::faults::Point;
use super::*;
use crate::domain::{AppointmentStatus, ConsentMethod, NewConsent, OutboxState};
use crate::store::{AppointmentInput, NewOutbox};
use crate::whatsapp::client::{GraphClient, GraphConfig};

const PHONE_NUMBER_ID: &str = "106540352242922";
const MESSAGES: &str = "/v25.0/106540352242922/messages";

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 14, 8, 30, 0).unwrap()
}

fn due() -> DateTime<Utc> {
    start() - Duration::hours(24)
}

fn accepted(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": "+31612345678", "wa_id": "31612345678" }],
        "messages": [{ "id": id }]
    }))
}

fn graph_error(status: u16, code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(serde_json::json!({
        "error": { "message": message, "type": "OAuthException", "code": code,
                   "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam" }
    }))
}

struct Harness {
    store: Store,
    clock: Clock,
    graph: MockServer,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.sqlite3").display());
        let store = Store::connect(&url, 4).await.unwrap();
        store.migrate().await.unwrap();
        Harness { store, clock: Clock::manual(due()), graph: MockServer::start().await, _dir: dir }
    }

    /// A dispatcher as the daemon builds one; each call is a "new process" on the same
    /// database.
    fn dispatcher(&self) -> Dispatcher {
        self.dispatcher_with_limit(None)
    }

    fn dispatcher_with_limit(&self, messaging_limit: Option<u32>) -> Dispatcher {
        let rules = RuleSet::new(vec![
            crate::rules::Rule::parse(
                "dag",
                "when = { before = \"24h\" }\n[template]\nname = \"afspraak_herinnering\"\n\
                 language = \"nl\"\nbody = [\"{first_name}\"]\nbuttons = [\"confirm\"]\n",
            )
            .unwrap(),
        ]);
        let client = GraphClient::new(GraphConfig {
            base_url: self.graph.uri(),
            api_version: "v25.0".into(),
            phone_number_id: PHONE_NUMBER_ID.into(),
            access_token: SecretString::from("EAAtest"),
            timeout: StdDuration::from_secs(5),
        })
        .unwrap();
        Dispatcher::new(
            self.store.clone(),
            Arc::new(Sender::Graph(client)),
            Arc::new(rules),
            self.clock.clone(),
            PayloadKey::from_secret(b"a test key that is long enough for the payloads"),
            DispatchOptions {
                batch_size: 200,
                lease: StdDuration::from_secs(120),
                inflight_grace: StdDuration::from_secs(600),
                max_attempts: 8,
                retry_base: StdDuration::from_secs(30),
                retry_max: StdDuration::from_secs(1800),
                min_notice: StdDuration::from_secs(3600),
                poll_interval: StdDuration::from_secs(1),
                rate: 80,
                latency: StdDuration::from_millis(300),
                channel_pause: StdDuration::from_secs(300),
                messaging_limit,
                zone: chrono_tz::Europe::Amsterdam,
                practice: "Praktijk De Linde".into(),
                source_locations: HashMap::new(),
                require_opt_in: true,
            },
        )
    }

    /// One appointment with one reminder due at [`due`]; returns the outbox id.
    async fn reminder(&self, uid: &str, phone: &str) -> i64 {
        self.reminder_due(uid, phone, due()).await
    }

    async fn reminder_due(&self, uid: &str, phone: &str, due_at: DateTime<Utc>) -> i64 {
        self.reminder_with(uid, phone, due_at, true).await
    }

    /// A reminder to a customer the calendar marks as opted in to WhatsApp, or not.
    async fn reminder_with(
        &self,
        uid: &str,
        phone: &str,
        due_at: DateTime<Utc>,
        opted_in: bool,
    ) -> i64 {
        let mut tx = self.store.begin().await.unwrap();
        let input = AppointmentInput {
            external_id: uid.into(),
            starts_at: start(),
            ends_at: start() + Duration::minutes(30),
            summary: Some("Controle".into()),
            location: None,
            calendar: "praktijk".into(),
            customer_name: Some("Sanne de Vries".into()),
            customer_phone: Some(phone.into()),
            phone_is_mobile: true,
            customer_email: None,
            contact_problem: None,
            status: AppointmentStatus::Scheduled,
            whatsapp_opt_in: None,
        };
        let appointment_id = tx.upsert_appointment("praktijk", &input, due()).await.unwrap();
        if opted_in {
            let marker = consent(phone, ConsentStatus::OptedIn, ConsentMethod::Feed);
            tx.record_mirrored_consent(&marker, due()).await.unwrap();
        }
        let id = tx
            .insert_outbox(
                &NewOutbox {
                    appointment_id,
                    kind: OutboxKind::Reminder,
                    rule: "dag".into(),
                    dedup_key: format!("reminder:{appointment_id}:dag"),
                    appointment_start: start(),
                    due_at,
                    body: None,
                    reply_to: None,
                    plan_note: None,
                    skipped: None,
                },
                due(),
            )
            .await
            .unwrap()
            .unwrap();
        tx.commit().await.unwrap();
        id
    }

    async fn requests(&self) -> usize {
        self.graph.received_requests().await.unwrap_or_default().len()
    }

    async fn message(&self, id: i64) -> OutboxMessage {
        self.store.outbox(id).await.unwrap().unwrap()
    }

    /// Meta accepting every message, with ids wamid.1, wamid.2, …
    async fn accept_all(&self) {
        let next = std::sync::atomic::AtomicUsize::new(1);
        Mock::given(method("POST"))
            .and(path(MESSAGES))
            .respond_with(move |_: &wiremock::Request| {
                accepted(&format!(
                    "wamid.{}",
                    next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                ))
            })
            .mount(&self.graph)
            .await;
    }
}

fn consent(phone: &str, status: ConsentStatus, method: ConsentMethod) -> NewConsent {
    NewConsent {
        phone: Some(phone.into()),
        email: None,
        channel: ConsentChannel::Whatsapp,
        status,
        method,
        evidence: Some("test".into()),
        recorded_by: "test".into(),
    }
}

#[tokio::test]
async fn only_customers_who_opted_in_get_a_reminder_and_an_opt_out_wins_at_once() {
    let h = Harness::new().await;
    h.accept_all().await;
    let opted_in = h.reminder("a", "+31612345678").await;
    let stopped = h.reminder("b", "+31687654321").await;
    let never_asked = h.reminder_with("c", "+31611112222", due(), false).await;
    // b sent STOP after the reminder was planned
    let mut tx = h.store.begin().await.unwrap();
    tx.record_consent(
        &consent("+31687654321", ConsentStatus::OptedOut, ConsentMethod::Whatsapp),
        due(),
    )
    .await
    .unwrap();
    // and the calendar, which still says "opted in", does not override the customer
    let marker = consent("+31687654321", ConsentStatus::OptedIn, ConsentMethod::Feed);
    assert_eq!(tx.record_mirrored_consent(&marker, due()).await.unwrap(), None);
    tx.commit().await.unwrap();

    h.dispatcher().drain().await.unwrap();
    assert_eq!(h.requests().await, 1, "only the customer who opted in");
    assert_eq!(h.message(opted_in).await.state, OutboxState::Sent);
    let b = h.message(stopped).await;
    assert_eq!(b.state, OutboxState::Skipped);
    assert!(b.detail.unwrap().contains("opted out of WhatsApp"));
    let c = h.message(never_asked).await;
    assert_eq!(c.state, OutboxState::Skipped);
    assert!(c.detail.unwrap().contains("not opted in"), "a reminder needs an opt-in");
}

#[tokio::test]
async fn a_crash_after_meta_accepted_is_not_sent_again_when_the_status_webhook_names_it() {
    let h = Harness::new().await;
    h.accept_all().await;
    let id = h.reminder("a", "+31612345678").await;
    let first = h.dispatcher();
    first.crash_at(Some(Point::AfterSend));
    first.drain().await.unwrap();
    assert_eq!(h.requests().await, 1, "the request reached Meta");
    assert_eq!(h.message(id).await.state, OutboxState::Sending, "but its outcome was lost");

    // restarted after the lease: the in-flight grace holds it back
    let second = h.dispatcher();
    h.clock.set(due() + Duration::minutes(3));
    second.drain().await.unwrap();
    assert_eq!(h.requests().await, 1, "not sent again within the grace");

    // Meta's `sent` status arrives, naming the row in biz_opaque_callback_data
    let mut tx = h.store.begin().await.unwrap();
    assert!(tx.adopt_message_id(id, "wamid.1", "whatsapp", h.clock.now()).await.unwrap());
    tx.commit().await.unwrap();
    h.clock.set(due() + Duration::minutes(30));
    second.drain().await.unwrap();
    assert_eq!(h.requests().await, 1, "no duplicate");
    let m = h.message(id).await;
    assert_eq!((m.state, m.message_id.as_deref()), (OutboxState::Sent, Some("wamid.1")));
}

#[tokio::test]
async fn a_crash_before_the_request_is_sent_once_after_the_grace() {
    let h = Harness::new().await;
    h.accept_all().await;
    let id = h.reminder("a", "+31612345678").await;
    let first = h.dispatcher();
    first.crash_at(Some(Point::BeforeSend));
    first.drain().await.unwrap();
    assert_eq!(h.requests().await, 0);

    let second = h.dispatcher();
    h.clock.set(due() + Duration::minutes(3));
    second.drain().await.unwrap();
    assert_eq!(h.requests().await, 0, "within the grace a status could still come");
    // lease (2 min) and grace (10 min) have passed without any status: no loss
    h.clock.set(due() + Duration::minutes(13));
    second.drain().await.unwrap();
    assert_eq!(h.requests().await, 1);
    let m = h.message(id).await;
    assert_eq!(m.state, OutboxState::Sent);
    assert_eq!(m.attempts, 2, "the interrupted attempt counts");
}

#[tokio::test]
async fn a_second_message_to_the_same_customer_waits_six_seconds_others_do_not() {
    let h = Harness::new().await;
    h.accept_all().await;
    let a = h.reminder("a", "+31612345678").await;
    let b = h.reminder("b", "+31612345678").await;
    let c = h.reminder("c", "+31687654321").await;
    let d = h.dispatcher();
    d.drain().await.unwrap();
    assert_eq!(h.requests().await, 2, "one per customer");
    let held = [h.message(a).await, h.message(b).await]
        .into_iter()
        .find(|m| m.state == OutboxState::Pending)
        .expect("one of Sanne's two waits");
    assert_eq!(held.next_attempt_at, due() + Duration::seconds(6));
    assert_eq!(held.attempts, 0, "waiting for the pair rate uses up no attempt");
    assert_eq!(h.message(c).await.state, OutboxState::Sent);
    h.clock.set(due() + Duration::seconds(6));
    d.drain().await.unwrap();
    assert_eq!(h.requests().await, 3);
}

#[tokio::test]
async fn a_token_error_stops_the_channel_without_using_up_reminders_until_it_is_fixed() {
    let h = Harness::new().await;
    let expired = Mock::given(method("POST"))
        .and(path(MESSAGES))
        .respond_with(graph_error(401, 190, "Error validating access token: Session has expired"))
        .mount_as_scoped(&h.graph)
        .await;
    let ids = [
        h.reminder("a", "+31612345678").await,
        h.reminder("b", "+31687654321").await,
        h.reminder("c", "+31611111111").await,
    ];
    let d = h.dispatcher();
    d.drain().await.unwrap();
    let stopped = d.channel_stopped().expect("the channel is stopped");
    assert_eq!(stopped.code, Some(190));
    let tried = h.requests().await;
    assert!((1..=3).contains(&tried), "{tried}");
    // the others wait; none failed, no attempt counted
    for id in ids {
        let m = h.message(id).await;
        assert_eq!(m.state, OutboxState::Pending, "{m:?}");
        assert_eq!(m.attempts, 0);
        assert!(m.detail.unwrap().contains("channel is stopped"));
    }
    // within the pause nothing is tried
    h.clock.set(due() + Duration::minutes(2));
    d.drain().await.unwrap();
    assert_eq!(h.requests().await, tried);

    // an operator renewed the token: after the pause one probe goes, and the others a
    // few seconds later
    drop(expired);
    h.accept_all().await;
    h.clock.set(due() + Duration::minutes(6));
    d.drain().await.unwrap();
    assert!(d.channel_stopped().is_none());
    // the probe (and any message that asked after its answer) went
    assert!(h.requests().await > tried);
    h.clock.set(due() + Duration::minutes(6) + Duration::seconds(10));
    d.drain().await.unwrap();
    for id in ids {
        assert_eq!(h.message(id).await.state, OutboxState::Sent);
    }
}

#[tokio::test]
async fn beyond_the_messaging_limit_a_new_customer_waits_for_a_place_or_is_skipped() {
    let h = Harness::new().await;
    h.accept_all().await;
    // one customer reached yesterday at 09:00, by another process
    let earlier = h.reminder_due("yesterday", "+31612345001", due() - Duration::hours(23)).await;
    h.clock.set(due() - Duration::hours(23));
    h.dispatcher_with_limit(Some(2)).drain().await.unwrap();
    assert_eq!(h.message(earlier).await.state, OutboxState::Sent);

    // today a new process, limit 2: one new customer fits, the next waits until
    // yesterday's leaves the window (in an hour), still well before the appointment
    h.clock.set(due());
    let a = h.reminder("a", "+31612345002").await;
    let b = h.reminder("b", "+31612345003").await;
    let d = h.dispatcher_with_limit(Some(2));
    d.drain().await.unwrap();
    assert_eq!(h.requests().await, 2);
    let (sent, held) = if h.message(a).await.state == OutboxState::Sent { (a, b) } else { (b, a) };
    assert_eq!(h.message(sent).await.state, OutboxState::Sent);
    let m = h.message(held).await;
    assert_eq!((m.state, m.attempts), (OutboxState::Pending, 0));
    assert_eq!(m.next_attempt_at, due() + Duration::hours(1));
    assert!(m.detail.unwrap().contains("messaging limit (2 customers a day)"));
    h.clock.set(due() + Duration::hours(1));
    d.drain().await.unwrap();
    assert_eq!(h.message(held).await.state, OutboxState::Sent);
    assert_eq!(h.requests().await, 3);

    // a place that frees only after the appointment's minimum notice: skipped
    let late = h.reminder_due("c", "+31612345004", start() - Duration::hours(2)).await;
    h.clock.set(start() - Duration::hours(2));
    d.drain().await.unwrap();
    let m = h.message(late).await;
    assert_eq!(m.state, OutboxState::Skipped);
    assert!(m.detail.unwrap().contains("no place frees up in time"));
}

#[tokio::test]
async fn an_answer_the_service_window_closed_on_is_not_attempted_as_free_text() {
    let h = Harness::new().await;
    h.accept_all().await;
    let reminder = h.reminder("a", "+31612345678").await;
    let appointment_id = h.message(reminder).await.appointment_id;
    let mut tx = h.store.begin().await.unwrap();
    let answer = |key: &str| NewOutbox {
        appointment_id,
        kind: OutboxKind::Reply,
        rule: "confirmed".into(),
        dedup_key: key.into(),
        appointment_start: start(),
        due_at: due(),
        body: Some("Dank je wel!".into()),
        reply_to: Some("wamid.IN".into()),
        plan_note: None,
        skipped: None,
    };
    let late = tx.insert_outbox(&answer("reply:late"), due()).await.unwrap().unwrap();
    tx.commit().await.unwrap();
    // the channel was down for a day: the window the customer opened has closed
    h.clock.set(due() + Duration::hours(24));
    let d = h.dispatcher();
    d.drain().await.unwrap();
    let m = h.message(late).await;
    assert_eq!(m.state, OutboxState::Skipped);
    assert!(m.detail.unwrap().contains("service window closed"));
    let sent: Vec<serde_json::Value> = h
        .graph
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert!(sent.iter().all(|r| r["type"] != "text"), "no free text went: {sent:?}");
}

#[test]
fn callback_data_round_trips() {
    assert_eq!(parse_callback_data(&callback_data(42)), Some(42));
    assert_eq!(parse_callback_data("appt:7f3c2a"), None);
    assert_eq!(parse_callback_data("outbox:x"), None);
}

/// Each class of Meta's error policy, as the fake Graph API answers it, and what the
/// dispatcher makes of the reminder: (code, HTTP status, state, attempt counted, the
/// reason mentions).
#[tokio::test]
async fn every_error_class_gets_its_treatment() {
    let cases: [(i64, u16, OutboxState, bool, &str); 8] = [
        (130429, 400, OutboxState::Pending, true, "130429"),
        (131000, 500, OutboxState::Pending, true, "131000"),
        (131056, 400, OutboxState::Pending, true, "131056"),
        (131009, 400, OutboxState::Failed, true, "131009"),
        (131026, 400, OutboxState::Failed, true, "131026"),
        (190, 401, OutboxState::Pending, false, "channel is stopped"),
        (368, 403, OutboxState::Pending, false, "channel is stopped"),
        (132015, 400, OutboxState::Pending, false, "refused by Meta"),
    ];
    for (code, status, state, counted, reason) in cases {
        let h = Harness::new().await;
        Mock::given(method("POST"))
            .and(path(MESSAGES))
            .respond_with(graph_error(status, code, "refused"))
            .mount(&h.graph)
            .await;
        let id = h.reminder("a", "+31612345678").await;
        let d = h.dispatcher();
        d.drain().await.unwrap();
        let m = h.message(id).await;
        assert_eq!(m.state, state, "{code}: {m:?}");
        assert_eq!(m.attempts, i64::from(counted), "{code}: attempts");
        let detail = m.detail.unwrap_or_default();
        assert!(detail.contains(reason), "{code}: {detail}");
        if state == OutboxState::Pending {
            assert!(m.next_attempt_at > due(), "{code}: waits");
        }
        // a retry or a hold never sends again at once
        assert_eq!(h.requests().await, 1, "{code}");
    }
}

#[test]
fn only_errors_about_the_customer_send_the_reminder_by_email() {
    let codes = unreachable_codes();
    for code in [131026, 131049, 130472] {
        assert!(codes.contains(&code), "{code}");
    }
    // the service window, a bad parameter, a token problem: e-mail would not help
    for code in [131047, 131008, 190, 131056] {
        assert!(!codes.contains(&code), "{code}");
    }
}

/// E-mail to a server that refuses connections: enough to see what is enqueued.
fn unreachable_email() -> Arc<crate::email::EmailChannel> {
    let settings = crate::email::EmailSettings {
        enabled: true,
        host: "127.0.0.1".into(),
        port: 1,
        tls: crate::email::SmtpTls::None,
        username: String::new(),
        password: None,
        password_file: None,
        timeout: StdDuration::from_secs(2),
        pool: 1,
        from: "Praktijk <afspraken@praktijk.example>".into(),
        reply_to: String::new(),
        address: vec![],
        language: crate::email::Language::Nl,
        public_url: "https://afspraken.praktijk.example".into(),
    };
    let key = PayloadKey::from_secret(b"a test key that is long enough for the payloads");
    let zone = chrono_tz::Europe::Amsterdam;
    Arc::new(crate::email::EmailChannel {
        mailer: crate::email::Mailer::new(&settings).unwrap(),
        composer: crate::email::Composer::new(&settings, "Praktijk", zone, HashMap::new(), key)
            .unwrap(),
    })
}

#[tokio::test]
async fn beyond_the_messaging_limit_too_close_to_the_appointment_the_reminder_goes_by_email() {
    let h = Harness::new().await;
    h.accept_all().await;
    h.clock.set(start() - Duration::hours(2));
    let first = h.reminder_due("a", "+31612345001", start() - Duration::hours(2)).await;
    let late = h.reminder_due("b", "+31612345002", start() - Duration::hours(2)).await;
    sqlx_email(&h, first).await;
    sqlx_email(&h, late).await;
    let d = h.dispatcher_with_limit(Some(1)).with_email(Some(unreachable_email()));
    d.drain().await.unwrap();
    assert_eq!(h.requests().await, 1, "one WhatsApp message: the limit");
    let handed = if h.message(first).await.state == OutboxState::Sent { late } else { first };
    let m = h.message(handed).await;
    assert_eq!(m.state, OutboxState::Skipped);
    let detail = m.detail.unwrap();
    assert!(detail.contains("messaging limit") && detail.contains("by e-mail instead"), "{detail}");
    let rows = h.store.outbox_for_appointment(m.appointment_id).await.unwrap();
    let email = rows.iter().find(|r| r.channel.as_deref() == Some("email")).unwrap();
    // the SMTP server refuses connections: the e-mail waits for its next attempt
    assert_eq!((email.state, email.attempts), (OutboxState::Pending, 1), "{email:#?}");
    assert!(email.detail.as_deref().unwrap().contains("SMTP"), "{email:#?}");
    assert!(email.plan_note.as_deref().unwrap().contains("messaging limit"));
}

/// Gives the appointment of reminder `id` an e-mail address, as an import would.
async fn sqlx_email(h: &Harness, id: i64) {
    let appointment =
        h.store.appointment(h.message(id).await.appointment_id).await.unwrap().unwrap();
    let input = AppointmentInput {
        external_id: appointment.external_id.clone(),
        starts_at: appointment.starts_at,
        ends_at: appointment.ends_at,
        summary: appointment.summary.clone(),
        location: appointment.location.clone(),
        calendar: appointment.calendar.clone(),
        customer_name: appointment.customer_name.clone(),
        customer_phone: appointment.customer_phone.clone(),
        phone_is_mobile: appointment.phone_is_mobile,
        customer_email: Some("klant@example.nl".into()),
        contact_problem: None,
        status: appointment.status,
        whatsapp_opt_in: None,
    };
    let mut tx = h.store.begin().await.unwrap();
    tx.upsert_appointment("praktijk", &input, due()).await.unwrap();
    tx.commit().await.unwrap();
}
