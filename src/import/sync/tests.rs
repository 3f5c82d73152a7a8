//! A source's first import (plain inserts under ids known beforehand) stores what the
//! upsert stores for the same reading: the same appointments, the same reminders.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::{Reading, SyncReport, VanishGuard, Window, reconcile};
use crate::domain::AppointmentStatus;
use crate::rules::{Planning, Rule, RuleSet, WorkCalendar};
use crate::store::{AppointmentInput, FeedVersion, Store};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 13, 6, 0, 0).unwrap()
}

fn input(uid: &str, hours: i64, summary: &str) -> AppointmentInput {
    let starts_at = now() + Duration::hours(hours);
    AppointmentInput {
        external_id: uid.into(),
        starts_at,
        ends_at: starts_at + Duration::minutes(30),
        summary: Some(summary.into()),
        location: None,
        calendar: "praktijk".into(),
        customer_name: Some("Sanne de Vries".into()),
        customer_phone: Some("+31612345678".into()),
        phone_is_mobile: true,
        customer_email: None,
        contact_problem: None,
        status: AppointmentStatus::Scheduled,
        whatsapp_opt_in: None,
    }
}

/// 250 appointments (three batches) in which `a` comes again two batches later, and
/// `b` twice in a row: the last copy wins, as if written one by one.
fn reading() -> Vec<AppointmentInput> {
    let mut inputs: Vec<_> =
        (0..250).map(|i| input(&format!("uid-{i}"), 2 + i, "Controle")).collect();
    inputs[0] = input("a", 30, "first copy");
    inputs[150] = input("a", 40, "second copy");
    inputs[10] = input("b", 50, "first copy");
    inputs[11] = input("b", 60, "second copy");
    // cancelled in the source: stored, but no reminder
    inputs[20].status = AppointmentStatus::Cancelled;
    inputs
}

/// Every stored appointment of `source` with its reminders, without the ids.
async fn stored(store: &Store, source: &str) -> Vec<String> {
    let all = reading();
    let uids: BTreeSet<&str> = all.iter().map(|a| a.external_id.as_str()).collect();
    let mut rows = Vec::new();
    for uid in uids {
        let a = store.appointment_by_external_id(source, uid).await.unwrap().unwrap();
        let reminders = store.outbox_for_appointment(a.id).await.unwrap();
        let reminders: Vec<_> = reminders
            .iter()
            .map(|m| (m.rule.clone(), m.due_at, m.state, m.appointment_start, m.plan_note.clone()))
            .collect();
        rows.push(format!(
            "{} {} {:?} {:?} {} {:?} {reminders:?}",
            a.external_id, a.starts_at, a.summary, a.status, a.reply, a.reply_at
        ));
    }
    rows
}

async fn import(store: &Store, source: &str, rules: &RuleSet) -> SyncReport {
    let workdays = WorkCalendar::default();
    let planning = Planning { rules, zone: chrono_tz::Europe::Amsterdam, workdays: &workdays };
    let appointments = reading();
    let version = FeedVersion::default();
    let reading = Reading {
        source,
        appointments: &appointments,
        window: Window { from: now(), to: now() + Duration::days(14) },
        version: &version,
        unreadable: &BTreeSet::new(),
        problems: &[],
    };
    let guard = VanishGuard { max_share: 0.5, from: 10 };
    reconcile(store, reading, planning, guard, now()).await.unwrap()
}

#[tokio::test]
async fn a_first_import_stores_what_the_upsert_stores() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.sqlite3").display());
    let store = Store::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let rules = RuleSet::new(vec![
        Rule::parse(
            "dag",
            "when = { before = \"24h\" }\n[template]\nname = \"afspraak_herinnering\"\n\
             language = \"nl\"\nbody = [\"{first_name}\"]\nbuttons = [\"confirm\"]\n",
        )
        .unwrap(),
    ]);
    // `seeded` is not new (a past appointment): its import goes through the upsert
    let mut tx = store.begin().await.unwrap();
    tx.upsert_appointment("seeded", &input("past", -48, "Controle"), now()).await.unwrap();
    tx.commit().await.unwrap();

    let first = import(&store, "fresh", &rules).await;
    let upserted = import(&store, "seeded", &rules).await;

    assert_eq!(first, upserted);
    assert_eq!(first.inserted, 250, "each copy counts, as before");
    assert!(first.reminders_planned > 200, "{first:?}");
    assert_eq!(stored(&store, "fresh").await, stored(&store, "seeded").await);
    let a = store.appointment_by_external_id("fresh", "a").await.unwrap().unwrap();
    assert_eq!(a.summary.as_deref(), Some("second copy"));
    let b = store.appointment_by_external_id("fresh", "b").await.unwrap().unwrap();
    assert_eq!(b.summary.as_deref(), Some("second copy"));
    // and the same reading again does the same to both (the first copies of `a` and
    // `b` differ from the stored last ones)
    assert_eq!(import(&store, "fresh", &rules).await, import(&store, "seeded", &rules).await);
    assert_eq!(stored(&store, "fresh").await, stored(&store, "seeded").await);
}
