//! The store's contract, run on every backend: SQLite always, PostgreSQL when
//! `REMINDERD_TEST_DATABASE_URL` is set (each test on a fresh database).

use std::future::Future;

use chrono::{DateTime, Duration, TimeZone, Utc};
use reminderd::domain::{AppointmentStatus, Delivery, OutboxKind, OutboxState, Reply};
use reminderd::store::{
    AppointmentInput, AttemptOutcome, DedupKeys, FeedVersion, Inserted, NewOutbox, Store,
    TemplateRecord, UPSERT_BATCH,
};

use crate::helpers::{databases, open};

/// Runs `test` on a fresh store of each backend.
async fn on_each_backend<F, Fut>(test: F)
where
    F: Fn(Store, &'static str) -> Fut,
    Fut: Future<Output = ()>,
{
    for db in databases().await {
        let store = open(&db).await;
        test(store.clone(), db.backend).await;
        store.close().await;
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 13, 6, 0, 0).unwrap()
}

use crate::helpers::appointment_input as input;

async fn insert(store: &Store, id: &str, start: DateTime<Utc>) -> i64 {
    let mut tx = store.begin().await.unwrap();
    let id = tx.upsert_appointment("praktijk", &input(id, start), now()).await.unwrap();
    tx.commit().await.unwrap();
    id
}

fn reminder(appointment_id: i64, start: DateTime<Utc>, due: DateTime<Utc>) -> NewOutbox {
    NewOutbox {
        appointment_id,
        kind: OutboxKind::Reminder,
        rule: "24-uur-ervoor".into(),
        dedup_key: format!("reminder:{appointment_id}:24-uur-ervoor:{}", start.timestamp()),
        appointment_start: start,
        due_at: due,
        body: None,
        reply_to: None,
        plan_note: None,
        skipped: None,
    }
}

async fn enqueue(store: &Store, m: &NewOutbox) -> Option<i64> {
    let mut tx = store.begin().await.unwrap();
    let id = tx.insert_outbox(m, now()).await.unwrap();
    tx.commit().await.unwrap();
    id
}

/// An appointment tomorrow with its 24-hour reminder enqueued: (appointment, reminder,
/// the reminder's moment).
async fn with_reminder(store: &Store) -> (i64, i64, DateTime<Utc>) {
    let start = now() + Duration::days(1);
    let a = insert(store, "a@x", start).await;
    let due = start - Duration::hours(24);
    (a, enqueue(store, &reminder(a, start, due)).await.unwrap(), due)
}

#[tokio::test]
async fn migrations_run_twice_without_harm() {
    on_each_backend(|store, backend| async move {
        store.migrate().await.unwrap_or_else(|e| panic!("{backend}: {e}"));
        store.ping().await.unwrap();
        assert_eq!(store.backend(), backend);
    })
    .await;
}

#[tokio::test]
async fn an_appointment_is_upserted_by_source_and_external_id() {
    on_each_backend(|store, backend| async move {
        let start = now() + Duration::days(1);
        let id = insert(&store, "a@x", start).await;
        assert_eq!(insert(&store, "a@x", start).await, id, "{backend}: same id on re-import");
        let mut tx = store.begin().await.unwrap();
        tx.set_reply(id, Reply::Confirmed, now()).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(store.appointment(id).await.unwrap().unwrap().reply, Reply::Confirmed);

        // an unchanged import keeps the answer; a new start time clears it
        insert(&store, "a@x", start).await;
        assert_eq!(
            store.appointment(id).await.unwrap().unwrap().reply,
            Reply::Confirmed,
            "{backend}"
        );
        insert(&store, "a@x", start + Duration::hours(2)).await;
        let a = store.appointment(id).await.unwrap().unwrap();
        assert_eq!((a.reply, a.starts_at), (Reply::None, start + Duration::hours(2)), "{backend}");
        assert_eq!(a.customer_phone.as_deref(), Some("+31612345678"));
        assert_eq!(store.upcoming_appointments(now()).await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn appointments_are_upserted_in_batches_with_the_same_conflict_rules() {
    on_each_backend(|store, backend| async move {
        let start = now() + Duration::days(1);
        let moved = insert(&store, "moved@x", start).await;
        let kept = insert(&store, "kept@x", start).await;
        let mut tx = store.begin().await.unwrap();
        tx.set_reply(moved, Reply::Confirmed, now()).await.unwrap();
        tx.set_reply(kept, Reply::Confirmed, now()).await.unwrap();
        tx.commit().await.unwrap();

        // more rows than one statement takes, with the two known ones in the middle
        let n = UPSERT_BATCH + 500;
        let mut inputs: Vec<AppointmentInput> = (0..n)
            .map(|i| input(&format!("new-{i}@x"), start + Duration::minutes(i as i64)))
            .collect();
        inputs.insert(UPSERT_BATCH - 1, input("moved@x", start + Duration::hours(2)));
        let mut changed = input("kept@x", start);
        changed.summary = Some("Controle (uitgebreid)".into());
        inputs.insert(UPSERT_BATCH, changed);
        let refs: Vec<&AppointmentInput> = inputs.iter().collect();

        let mut tx = store.begin().await.unwrap();
        let stored = tx.upsert_appointments("praktijk", &refs, now()).await.unwrap();
        assert_eq!(stored.len(), n + 2, "{backend}: one row per input");
        for (a, input) in stored.iter().zip(&inputs) {
            assert_eq!((&a.external_id, a.starts_at), (&input.external_id, input.starts_at));
        }
        let ids: Vec<i64> = stored.iter().map(|a| a.id).collect();
        assert_eq!((ids[UPSERT_BATCH - 1], ids[UPSERT_BATCH]), (moved, kept), "{backend}");
        let mut distinct = ids.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), n + 2, "{backend}: distinct ids");
        // a changed start resets the answer; another change keeps it
        let m = &stored[UPSERT_BATCH - 1];
        assert_eq!(
            (m.reply, m.reply_at, m.starts_at),
            (Reply::None, None, start + Duration::hours(2))
        );
        let k = &stored[UPSERT_BATCH];
        assert_eq!(
            (k.reply, k.summary.as_deref()),
            (Reply::Confirmed, Some("Controle (uitgebreid)")),
            "{backend}"
        );
        tx.commit().await.unwrap();
        assert_eq!(store.upcoming_appointments(now()).await.unwrap().len(), n + 2, "{backend}");
        // what the upsert returned is what was stored
        assert_eq!(store.appointment(moved).await.unwrap().as_ref(), Some(m), "{backend}");
        assert_eq!(store.appointment(kept).await.unwrap().as_ref(), Some(k), "{backend}");

        // reminders in batches: the dedup key still admits each message once
        let messages: Vec<NewOutbox> = stored
            .iter()
            .map(|a| reminder(a.id, a.starts_at, a.starts_at - Duration::hours(24)))
            .collect();
        let mut tx = store.begin().await.unwrap();
        assert_eq!(
            tx.insert_outbox_batch(&messages[..10], now(), DedupKeys::MayExist).await.unwrap(),
            10,
            "{backend}"
        );
        assert_eq!(
            tx.insert_outbox_batch(&messages, now(), DedupKeys::MayExist).await.unwrap(),
            n + 2 - 10
        );
        assert_eq!(
            tx.insert_outbox_batch(&messages, now(), DedupKeys::MayExist).await.unwrap(),
            0,
            "{backend}"
        );
        // only the reminders planned for another start than the stored one are stale
        let stale = reminder(moved, start, start - Duration::hours(24));
        assert!(tx.insert_outbox(&stale, now()).await.unwrap().is_some());
        assert_eq!(
            tx.cancel_stale_reminders_batch(&ids, "moved", now()).await.unwrap(),
            1,
            "{backend}"
        );
        assert_eq!(
            tx.cancel_pending_reminders_batch(&ids[..3], "gone", now()).await.unwrap(),
            3,
            "{backend}"
        );
        tx.commit().await.unwrap();
    })
    .await;
}

/// The reminders of appointments just inserted go in without looking for their keys:
/// a key that did exist fails instead of being skipped, and a reference to an
/// appointment that does not exist fails the commit (the check waits for it), leaving
/// nothing behind.
#[tokio::test]
async fn new_reminders_fail_on_a_known_key_and_a_missing_appointment_at_commit() {
    on_each_backend(|store, backend| async move {
        let start = now() + Duration::days(1);
        let a = insert(&store, "a@x", start).await;
        let m = reminder(a, start, start - Duration::hours(24));
        let new = std::slice::from_ref(&m);
        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.insert_outbox_batch(new, now(), DedupKeys::New).await.unwrap(), 1);
        assert!(tx.insert_outbox_batch(new, now(), DedupKeys::New).await.is_err(), "{backend}");
        drop(tx);
        assert!(store.outbox_for_appointment(a).await.unwrap().is_empty(), "{backend}");

        let nobody = reminder(a + 1_000, start, start - Duration::hours(24));
        let mut tx = store.begin().await.unwrap();
        let inserted = tx.insert_outbox_batch(&[nobody, m], now(), DedupKeys::New).await;
        assert_eq!(inserted.unwrap(), 2, "{backend}: checked at commit, not before");
        assert!(tx.commit().await.is_err(), "{backend}: the commit fails");
        assert!(store.outbox_for_appointment(a).await.unwrap().is_empty(), "{backend}");
    })
    .await;
}

#[tokio::test]
async fn a_message_is_enqueued_once_per_dedup_key() {
    on_each_backend(|store, backend| async move {
        let start = now() + Duration::days(1);
        let a = insert(&store, "a@x", start).await;
        let m = reminder(a, start, start - Duration::hours(24));
        assert!(enqueue(&store, &m).await.is_some(), "{backend}");
        assert!(enqueue(&store, &m).await.is_none(), "{backend}: the second is refused");
        assert_eq!(store.outbox_for_appointment(a).await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_plan_note_is_kept_and_a_reminder_decided_against_is_on_record_but_never_sent() {
    on_each_backend(|store, backend| async move {
        let start = now() + Duration::days(1);
        let a = insert(&store, "a@x", start).await;
        let moved = NewOutbox {
            plan_note: Some("moved out of the quiet hours 21:00–08:00".into()),
            ..reminder(a, start, now())
        };
        let id = enqueue(&store, &moved).await.unwrap();
        let b = insert(&store, "b@x", start).await;
        let late = NewOutbox {
            skipped: Some("booked too late: 35 min before the appointment".into()),
            ..reminder(b, start, now())
        };
        let mut tx = store.begin().await.unwrap();
        assert_eq!(
            tx.insert_outbox_batch(std::slice::from_ref(&late), now(), DedupKeys::MayExist)
                .await
                .unwrap(),
            1
        );
        tx.commit().await.unwrap();

        let stored = store.outbox(id).await.unwrap().unwrap();
        assert_eq!(stored.plan_note, moved.plan_note, "{backend}");
        assert_eq!(stored.state, OutboxState::Pending);
        let skipped = &store.outbox_for_appointment(b).await.unwrap()[0];
        assert_eq!(skipped.state, OutboxState::Skipped, "{backend}");
        assert_eq!(skipped.detail, late.skipped, "{backend}");
        let claimed =
            store.claim_due(start, start + Duration::minutes(2), start, 10).await.unwrap();
        assert_eq!(claimed.iter().map(|m| m.id).collect::<Vec<_>>(), [id], "{backend}");
        // planning it again changes nothing: the decision stands for this start time
        assert!(enqueue(&store, &late).await.is_none(), "{backend}");
    })
    .await;
}

#[tokio::test]
async fn a_due_message_is_claimed_by_one_dispatcher_until_its_lease_ends() {
    on_each_backend(|store, backend| async move {
        let (_, id, due) = with_reminder(&store).await;

        let early = store
            .claim_due(
                due - Duration::seconds(1),
                due + Duration::minutes(2),
                due - Duration::seconds(1),
                10,
            )
            .await
            .unwrap();
        assert!(early.is_empty(), "{backend}: not due yet");
        let first = store.claim_due(due, due + Duration::minutes(2), due, 10).await.unwrap();
        assert_eq!(first.iter().map(|m| m.id).collect::<Vec<_>>(), [id], "{backend}");
        assert_eq!(first[0].state, OutboxState::Sending);
        assert!(
            store
                .claim_due(
                    due + Duration::minutes(1),
                    due + Duration::minutes(3),
                    due + Duration::minutes(1),
                    10
                )
                .await
                .unwrap()
                .is_empty(),
            "{backend}: leased"
        );

        // the lease ran out, but the in-flight grace has not: the attempt may have
        // reached Meta, whose status webhook would say so
        let waiting = due + Duration::minutes(3);
        assert!(
            store
                .claim_due(waiting, waiting + Duration::minutes(2), due, 10)
                .await
                .unwrap()
                .is_empty(),
            "{backend}: within the in-flight grace"
        );
        // the lease and the grace ran out: another dispatcher takes over, and the first
        // one's late outcome is refused (fencing on the attempt number)
        let second = store
            .claim_due(
                due + Duration::minutes(3),
                due + Duration::minutes(5),
                due + Duration::minutes(3),
                10,
            )
            .await
            .unwrap();
        assert_eq!(second.len(), 1, "{backend}");
        assert!(second[0].attempts > first[0].attempts);
        let sent =
            |mid: &str| AttemptOutcome::Sent { channel: "whatsapp".into(), message_id: mid.into() };
        assert!(
            !store.finish_attempt(id, first[0].attempts, &sent("wamid.late"), now()).await.unwrap(),
            "{backend}"
        );
        assert!(
            store.finish_attempt(id, second[0].attempts, &sent("wamid.ok"), now()).await.unwrap(),
            "{backend}"
        );
        let m = store.outbox(id).await.unwrap().unwrap();
        assert_eq!(
            (m.state, m.message_id.as_deref()),
            (OutboxState::Sent, Some("wamid.ok")),
            "{backend}"
        );
        assert!(
            store
                .claim_due(
                    due + Duration::hours(1),
                    due + Duration::hours(2),
                    due + Duration::hours(1),
                    10
                )
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn a_retry_waits_and_a_failure_keeps_its_code() {
    on_each_backend(|store, backend| async move {
        let (_, id, due) = with_reminder(&store).await;
        let claimed = store.claim_due(due, due + Duration::minutes(2), due, 10).await.unwrap();
        let retry = AttemptOutcome::Retry {
            at: due + Duration::minutes(5),
            code: Some(130429),
            detail: "busy".into(),
        };
        assert!(store.finish_attempt(id, claimed[0].attempts, &retry, due).await.unwrap());
        assert!(
            store
                .claim_due(
                    due + Duration::minutes(4),
                    due + Duration::minutes(6),
                    due + Duration::minutes(4),
                    10
                )
                .await
                .unwrap()
                .is_empty(),
            "{backend}: waits for its retry"
        );
        let claimed = store
            .claim_due(
                due + Duration::minutes(5),
                due + Duration::minutes(7),
                due + Duration::minutes(5),
                10,
            )
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1, "{backend}");
        let failed = AttemptOutcome::Failed { code: Some(131026), detail: "undeliverable".into() };
        assert!(store.finish_attempt(id, claimed[0].attempts, &failed, due).await.unwrap());
        let m = store.outbox(id).await.unwrap().unwrap();
        assert_eq!((m.state, m.error_code), (OutboxState::Failed, Some(131026)), "{backend}");
    })
    .await;
}

#[tokio::test]
async fn an_unattempted_claim_can_be_handed_back() {
    on_each_backend(|store, backend| async move {
        let (_, id, due) = with_reminder(&store).await;
        let claimed = store.claim_due(due, due + Duration::minutes(2), due, 10).await.unwrap();
        store.release_claim(id, claimed[0].attempts).await.unwrap();
        let again = store.claim_due(due, due + Duration::minutes(2), due, 10).await.unwrap();
        assert_eq!(again.len(), 1, "{backend}: claimable at once after release");
    })
    .await;
}

#[tokio::test]
async fn delivery_statuses_are_applied_monotonically() {
    on_each_backend(|store, backend| async move {
        let (_, id, _) = with_reminder(&store).await;
        let mut tx = store.begin().await.unwrap();
        assert!(tx.adopt_message_id(id, "wamid.1", "whatsapp", now()).await.unwrap(), "{backend}");
        assert!(
            !tx.adopt_message_id(id, "wamid.2", "whatsapp", now()).await.unwrap(),
            "{backend}: once"
        );
        assert!(tx.outbox_by_message_id("wamid.1").await.unwrap().is_some());
        let t = |s| now() + Duration::seconds(s);
        assert!(tx.apply_delivery(id, Delivery::Delivered, t(5), None, now()).await.unwrap());
        assert!(
            !tx.apply_delivery(id, Delivery::Sent, t(1), None, now()).await.unwrap(),
            "{backend}"
        );
        assert!(tx.apply_delivery(id, Delivery::Failed, t(9), Some(131047), now()).await.unwrap());
        assert!(
            !tx.apply_delivery(id, Delivery::Read, t(10), None, now()).await.unwrap(),
            "{backend}: final"
        );
        tx.commit().await.unwrap();
        let m = store.outbox(id).await.unwrap().unwrap();
        assert_eq!(
            (m.delivery, m.delivery_error_code),
            (Some(Delivery::Failed), Some(131047)),
            "{backend}"
        );
    })
    .await;
}

#[tokio::test]
async fn pending_reminders_are_withdrawn_when_the_appointment_changes() {
    on_each_backend(|store, backend| async move {
        let start = now() + Duration::days(1);
        let a = insert(&store, "a@x", start).await;
        let id = enqueue(&store, &reminder(a, start, start - Duration::hours(24))).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        assert_eq!(
            tx.cancel_stale_reminders(a, start, "moved", now()).await.unwrap(),
            0,
            "{backend}"
        );
        assert_eq!(
            tx.cancel_stale_reminders(a, start + Duration::hours(1), "moved", now()).await.unwrap(),
            1
        );
        tx.commit().await.unwrap();
        let m = store.outbox(id).await.unwrap().unwrap();
        assert_eq!(
            (m.state, m.detail.as_deref()),
            (OutboxState::Cancelled, Some("moved")),
            "{backend}"
        );

        let id2 = enqueue(&store, &reminder(a, start + Duration::hours(1), start)).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        assert_eq!(
            tx.cancel_reminders_of_unknown_rules(&["24-uur-ervoor"], now()).await.unwrap(),
            0
        );
        assert_eq!(
            tx.cancel_reminders_of_unknown_rules(&["other"], now()).await.unwrap(),
            1,
            "{backend}"
        );
        tx.commit().await.unwrap();
        assert_eq!(store.outbox(id2).await.unwrap().unwrap().state, OutboxState::Cancelled);
    })
    .await;
}

#[tokio::test]
async fn a_webhook_delivery_is_stored_once_and_each_event_applied_once() {
    on_each_backend(|store, backend| async move {
        let Inserted::New(id) = store.insert_inbox("whatsapp", b"{\"a\":1}", now()).await.unwrap()
        else {
            panic!("{backend}: first delivery not stored");
        };
        assert_eq!(
            store.insert_inbox("whatsapp", b"{\"a\":1}", now()).await.unwrap(),
            Inserted::Duplicate
        );
        assert_eq!(store.unprocessed_inbox_count().await.unwrap(), 1);
        assert_eq!(store.inbox_body(id).await.unwrap().as_deref(), Some(&b"{\"a\":1}"[..]));

        store.inbox_attempt_failed(id, "database hiccup").await.unwrap();
        let waiting = store.unprocessed_inbox(10, 10).await.unwrap();
        assert_eq!((waiting.len(), waiting[0].attempts), (1, 1), "{backend}: retried later");
        assert!(
            store.unprocessed_inbox(1, 10).await.unwrap().is_empty(),
            "{backend}: given up after max attempts"
        );

        let mut tx = store.begin().await.unwrap();
        assert!(tx.claim_event_key("message:wamid.1", id, now()).await.unwrap());
        assert!(!tx.claim_event_key("message:wamid.1", id, now()).await.unwrap(), "{backend}");
        tx.mark_inbox_processed(id, now(), None).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(store.unprocessed_inbox_count().await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn a_rolled_back_transaction_leaves_nothing() {
    on_each_backend(|store, backend| async move {
        let mut tx = store.begin().await.unwrap();
        tx.upsert_appointment("praktijk", &input("a@x", now() + Duration::days(1)), now())
            .await
            .unwrap();
        drop(tx);
        assert!(store.upcoming_appointments(now()).await.unwrap().is_empty(), "{backend}");
    })
    .await;
}

#[tokio::test]
async fn import_outcomes_are_remembered_per_source() {
    on_each_backend(|store, backend| async move {
        store.record_import_failure("praktijk", now(), "HTTP 500").await.unwrap();
        let s = store.source_state("praktijk").await.unwrap().unwrap();
        assert_eq!(
            (s.last_error.as_deref(), s.last_success_at),
            (Some("HTTP 500"), None),
            "{backend}"
        );
        let mut tx = store.begin().await.unwrap();
        let version = FeedVersion {
            etag: Some("\"v1\"".into()),
            last_modified: None,
            body_sha256: Some("ab".into()),
        };
        let problems = vec!["event `x@p`: unknown TZID; it was skipped".to_string()];
        tx.record_import_success("praktijk", now(), &version, 3, &problems).await.unwrap();
        tx.commit().await.unwrap();
        let s = store.source_state("praktijk").await.unwrap().unwrap();
        assert_eq!(
            (s.last_error, s.etag.as_deref(), s.events),
            (None, Some("\"v1\""), 3),
            "{backend}"
        );
        assert_eq!(store.source_states().await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn the_report_lists_a_day_with_the_latest_reminder() {
    on_each_backend(|store, backend| async move {
        let start = now() + Duration::days(1);
        let a = insert(&store, "a@x", start).await;
        insert(&store, "b@x", start + Duration::days(3)).await;
        enqueue(&store, &reminder(a, start, start - Duration::hours(24))).await.unwrap();
        let rows =
            store.report(start - Duration::hours(12), start + Duration::hours(12)).await.unwrap();
        assert_eq!(rows.len(), 1, "{backend}");
        assert_eq!(rows[0].appointment.id, a);
        assert_eq!(rows[0].reminder_state, Some(OutboxState::Pending));
    })
    .await;
}

#[tokio::test]
async fn template_reports_merge_field_by_field_and_are_found_by_id() {
    on_each_backend(|store, backend| async move {
        let base = TemplateRecord {
            name: "afspraak_herinnering".into(),
            language: "nl".into(),
            ..TemplateRecord::default()
        };
        let approved = TemplateRecord {
            template_id: Some("1689556908129832".into()),
            status: Some("APPROVED".into()),
            category: Some("UTILITY".into()),
            ..base.clone()
        };
        store.record_template(&approved, now()).await.unwrap();
        // a quality webhook carries no status: the approval stays
        let quality = TemplateRecord { quality: Some("YELLOW".into()), ..base.clone() };
        store.record_template(&quality, now()).await.unwrap();
        let paused = TemplateRecord {
            status: Some("PAUSED".into()),
            reason: Some("FIRST_PAUSE".into()),
            ..base.clone()
        };
        store.record_template(&paused, now()).await.unwrap();
        let all = store.templates().await.unwrap();
        assert_eq!(
            all,
            vec![TemplateRecord {
                template_id: Some("1689556908129832".into()),
                status: Some("PAUSED".into()),
                category: Some("UTILITY".into()),
                quality: Some("YELLOW".into()),
                reason: Some("FIRST_PAUSE".into()),
                ..base.clone()
            }],
            "{backend}"
        );
        let mut tx = store.begin().await.unwrap();
        let found = tx.template_by_id("1689556908129832").await.unwrap().unwrap();
        assert_eq!(found.name, "afspraak_herinnering", "{backend}");
        assert!(tx.template_by_id("42").await.unwrap().is_none());
        tx.commit().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_conversation_keeps_what_was_offered_and_chosen_and_busy_times_come_per_calendar() {
    use reminderd::reschedule::{Conversation, Slot, State};
    use reminderd::store::StoredConversation;
    on_each_backend(|store, backend| async move {
        let start = now() + Duration::days(1);
        let id = insert(&store, "a", start).await;
        // another appointment of the calendar, a cancelled one, and one elsewhere
        insert(&store, "b", start + Duration::hours(2)).await;
        let cancelled = insert(&store, "c", start + Duration::hours(3)).await;
        let mut tx = store.begin().await.unwrap();
        tx.set_appointment_status(cancelled, AppointmentStatus::Cancelled, now()).await.unwrap();
        let mut elsewhere = input("d", start + Duration::hours(4));
        elsewhere.calendar = "fysio".into();
        tx.upsert_appointment("praktijk", &elsewhere, now()).await.unwrap();
        let busy =
            tx.busy_times(Some("praktijk"), None, start, start + Duration::days(1)).await.unwrap();
        assert_eq!(
            busy,
            [
                (start, start + Duration::minutes(30)),
                (start + Duration::hours(2), start + Duration::hours(2) + Duration::minutes(30))
            ],
            "{backend}"
        );

        let slot = |h: i64| Slot {
            start: start + Duration::hours(h),
            end: start + Duration::hours(h) + Duration::minutes(30),
            label: Some("Dr. Jansen".into()),
        };
        let mut stored = StoredConversation {
            conversation: Conversation {
                appointment_id: id,
                appointment_start: start,
                offered: vec![slot(5), slot(6)],
                expires_at: now() + Duration::hours(24),
                state: State::Offered,
            },
            customer_at: now(),
        };
        tx.save_conversation(&stored, None, now()).await.unwrap();
        assert_eq!(tx.conversation(id).await.unwrap().as_ref(), Some(&stored), "{backend}");
        stored.conversation.state = State::Requested(slot(6));
        stored.customer_at = now() + Duration::minutes(5);
        tx.save_conversation(&stored, None, now()).await.unwrap();
        tx.commit().await.unwrap();
        let waiting = store.waiting_conversations(now()).await.unwrap();
        assert_eq!(waiting.len(), 1, "{backend}");
        assert_eq!(waiting[0].0.id, id);
        assert_eq!(waiting[0].1, stored, "{backend}");

        // declined: no longer waiting, and the request it declined is kept on record
        let mut tx = store.begin().await.unwrap();
        stored.conversation.state = State::Declined;
        tx.save_conversation(&stored, Some("balie"), now()).await.unwrap();
        assert_eq!(tx.conversation(id).await.unwrap().unwrap().conversation.state, State::Declined);
        tx.commit().await.unwrap();
        assert!(store.waiting_conversations(now()).await.unwrap().is_empty(), "{backend}");
    })
    .await;
}
