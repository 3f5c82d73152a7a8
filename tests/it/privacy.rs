//! Personal data erased: one person on request (`forget`), everyone's after the
//! retention period (the nightly purge). Each test scans every text column of every
//! table afterwards, so a column added later that keeps personal data fails here.

use chrono::{DateTime, Duration, Utc};
use reminderd::store::{Person, Store};
use reqwest::StatusCode;

use crate::api::{mount_accepting, payload_of, start, tap_body};
use crate::helpers::{TestApp, databases, spawn_app_on};
use crate::rules::text_from_sanne;

/// Sanne (phone, e-mail, opted in) and Daan, both the same morning. Their UIDs are
/// opaque, as calendars make them: reminderd keeps a UID as the event's identity.
fn feed() -> String {
    let t = |d: DateTime<Utc>| d.format("%Y%m%dT%H%M%SZ").to_string();
    let event = |uid: &str, at: DateTime<Utc>, who: &str, contact: &str| {
        format!(
            "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261001T120000Z\r\nDTSTART:{}\r\n\
             DTEND:{}\r\nSUMMARY:Controle - {who}\r\n{contact}X-WHATSAPP-OPT-IN:ja\r\n\
             END:VEVENT\r\n",
            t(at),
            t(at + Duration::minutes(30))
        )
    };
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//NL\r\n{}{}END:VCALENDAR\r\n",
        event(
            "040000008200E00074C5B7101A82E0080000000010A1@outlook",
            start(),
            "Sanne de Vries",
            "ATTENDEE;CN=Sanne de Vries:tel:06-12345678\r\n\
             ATTENDEE;CN=Sanne de Vries:mailto:Sanne.deVries@Example.nl\r\n"
        ),
        event(
            "7kukuqrfedlm2f9t2vb4uh4bc4@google.com",
            start() + Duration::hours(1),
            "Daan Jansen",
            "ATTENDEE;CN=Daan Jansen:tel:06-87654321\r\n"
        ),
    )
}

/// Every text (and raw body) value of every table, as (table.column, value).
async fn every_text(store: &Store) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match store {
        Store::Sqlite(db) => {
            let pool = &**db;
            let tables: Vec<String> = sqlx::query_scalar(
                "select name from sqlite_master where type = 'table' \
                 and name not like 'sqlite_%' and name not like '_sqlx%'",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            for table in tables {
                let columns: Vec<String> =
                    sqlx::query_scalar("select name from pragma_table_info($1)")
                        .bind(&table)
                        .fetch_all(pool)
                        .await
                        .unwrap();
                for column in columns {
                    let sql = format!("select cast(\"{column}\" as text) from \"{table}\"");
                    let values: Vec<Option<String>> =
                        sqlx::query_scalar(&sql).fetch_all(pool).await.unwrap();
                    let key = format!("{table}.{column}");
                    out.extend(values.into_iter().flatten().map(|v| (key.clone(), v)));
                }
            }
        }
        Store::Postgres(pool) => {
            let columns: Vec<(String, String, String)> = sqlx::query_as(
                "select table_name::text, column_name::text, data_type::text \
                 from information_schema.columns where table_schema = current_schema() \
                 and table_name not like '_sqlx%' \
                 and data_type in ('text', 'character varying', 'bytea')",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            for (table, column, kind) in columns {
                let value = if kind == "bytea" {
                    format!("convert_from(\"{column}\", 'UTF8')")
                } else {
                    format!("\"{column}\"::text")
                };
                let sql = format!("select {value} from \"{table}\"");
                let values: Vec<Option<String>> =
                    sqlx::query_scalar(&sql).fetch_all(pool).await.unwrap();
                let key = format!("{table}.{column}");
                out.extend(values.into_iter().flatten().map(|v| (key.clone(), v)));
            }
        }
    }
    assert!(out.len() > 20, "the scan read the tables: {out:?}");
    out
}

/// The places where any of `needles` (ignoring case) is still stored.
async fn found(store: &Store, needles: &[&str]) -> Vec<(String, String)> {
    every_text(store)
        .await
        .into_iter()
        .filter(|(_, v)| needles.iter().any(|n| v.to_lowercase().contains(&n.to_lowercase())))
        .collect()
}

const SANNE: [&str; 4] = ["612345678", "sanne.devries@example.nl", "Sanne", "Vries"];

/// A daemon that imported both, sent Sanne's reminder, and processed her tap and a
/// message naming her e-mail address.
async fn app_with_history(db: crate::helpers::TestDb) -> TestApp {
    let app = spawn_app_on(db, &feed(), start() - Duration::days(2)).await;
    mount_accepting(&app).await;
    app.import().await;
    app.clock.set(start() - Duration::hours(24));
    app.dispatch().await;
    let reminder = app.sent().await[0].0.clone();
    app.clock.advance(Duration::minutes(1));
    let tap = tap_body(&payload_of(&reminder, 0), "wamid.REMINDER1", "wamid.TAP1");
    assert_eq!(app.post_signed(&tap).await, StatusCode::OK);
    let text = text_from_sanne("Ik ben Sanne, mail me op Sanne.deVries@Example.nl", "wamid.T2");
    assert_eq!(app.post_signed(&text).await, StatusCode::OK);
    app.process_inbox().await;
    app.clock.advance(Duration::minutes(1));
    app.dispatch().await;
    assert!(!found(&app.services.store, &SANNE).await.is_empty(), "there is data to erase");
    app
}

#[tokio::test]
async fn forget_leaves_nothing_of_the_person_and_everything_of_others() {
    for db in databases().await {
        let backend = db.backend;
        let app = app_with_history(db).await;
        let store = &app.services.store;
        let asked = Person { phones: ["+31612345678".into()].into(), ..Person::default() };
        // her e-mail address is found through her appointment
        let person = store.linked(&asked).await.unwrap();
        assert!(person.emails.contains("sanne.devries@example.nl"), "{backend}: {person:?}");
        let erased = store.forget(&person, app.clock.now()).await.unwrap();
        assert_eq!(erased.appointments, 1, "{backend}");
        assert!(erased.consents >= 1 && erased.deliveries >= 2, "{backend}: {erased:?}");

        let left = found(store, &SANNE).await;
        assert!(left.is_empty(), "{backend}: personal data left: {left:#?}");
        assert!(!found(store, &["Daan Jansen", "687654321"]).await.is_empty(), "{backend}");
        // the counts stay: two appointments, one of them answered
        let rows = store.report(start() - Duration::days(1), start() + Duration::days(1)).await;
        let rows = rows.unwrap();
        assert_eq!(rows.len(), 2, "{backend}");
        assert_eq!(rows[0].appointment.reply, reminderd::domain::Reply::Confirmed, "{backend}");
    }
}

#[tokio::test]
async fn the_nightly_purge_erases_what_is_older_than_the_retention_and_keeps_consents() {
    for db in databases().await {
        let backend = db.backend;
        let app = app_with_history(db).await;
        let store = &app.services.store;
        // the day after: nothing is old enough yet
        app.clock.set(start() + Duration::days(1));
        let erased = app.services.retention.run_once().await.unwrap();
        assert_eq!(erased.appointments, 0, "{backend}");
        assert!(!found(store, &["Daan Jansen"]).await.is_empty(), "{backend}");

        // 90 days after the appointments
        app.clock.set(start() + Duration::days(91));
        let erased = app.services.retention.run_once().await.unwrap();
        assert_eq!(erased.appointments, 2, "{backend}");
        let left: Vec<_> = found(store, &[&SANNE[..], &["Daan", "687654321"]].concat())
            .await
            .into_iter()
            .filter(|(column, _)| !column.starts_with("consents."))
            .collect();
        assert!(left.is_empty(), "{backend}: personal data left: {left:#?}");
        // the consent records are the proof of consent: kept
        assert_eq!(store.consent_history("+31612345678").await.unwrap().len(), 1, "{backend}");
        let rows = store.report(start() - Duration::days(1), start() + Duration::days(1)).await;
        assert_eq!(rows.unwrap().len(), 2, "{backend}: anonymous rows stay for the counts");
    }
}
