//! Erasing personal data: of one person on request (`reminderd forget`), and of every
//! appointment past the retention period (the nightly purge). What remains are
//! anonymous rows — an appointment's time, calendar and states, a message's states and
//! error codes, a consent's channel, status, method and date — so counts and the
//! report's rates stay right.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::{Result, Store, Tx, on_tx};
use crate::domain::phone::mask;

/// What an erasure touched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Erased {
    pub appointments: u64,
    pub messages: u64,
    pub consents: u64,
    /// Raw webhook deliveries blanked (forget) or deleted (purge).
    pub deliveries: u64,
}

/// The person to forget: every phone number (E.164) and e-mail address known to be
/// theirs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Person {
    pub phones: BTreeSet<String>,
    pub emails: BTreeSet<String>,
}

/// What replaces a raw webhook body that named an erased person.
const ERASED_BODY: &[u8] = br#"{"erased":true}"#;

const LINKED: &str = r#"
    select customer_phone, customer_email from appointments
    where customer_phone = $1 or lower(customer_email) = $2"#;

const LINKED_CONSENTS: &str = r#"
    select phone, email from consents where phone = $1 or email = $2"#;

const CANCEL: &str = r#"
    update outbox set state = 'cancelled', detail = 'the customer asked to be forgotten',
        lease_until = null, updated_at = $3
    where state in ('pending', 'sending')
      and appointment_id in (select id from appointments
                             where customer_phone = $1 or lower(customer_email) = $2)"#;

/// Message bodies and the masked number in reasons; the reasons themselves stay.
const SCRUB_MESSAGES: &str = r#"
    update outbox set body = null, reply_to = null,
        detail = replace(detail, $3, '(erased)'), updated_at = $4
    where appointment_id in (select id from appointments
                             where customer_phone = $1 or lower(customer_email) = $2)"#;

const DELETE_NOTES: &str = r#"
    delete from customer_notes
    where appointment_id in (select id from appointments
                             where customer_phone = $1 or lower(customer_email) = $2)"#;

const SCRUB_APPOINTMENTS: &str = r#"
    update appointments set customer_name = null, customer_phone = null,
        customer_email = null, phone_is_mobile = false, summary = null,
        contact_problem = null, updated_at = $3
    where customer_phone = $1 or lower(customer_email) = $2"#;

const SCRUB_CONSENTS: &str = r#"
    update consents set phone = null, email = null, evidence = null
    where phone = $1 or email = $2"#;

const INBOX_BODIES: &str = "select id, body from inbox where id > $1 order by id limit 500";

const BLANK_INBOX: &str = "update inbox set body = $2 where id = $1";

/// Appointments that ended before the cutoff and still hold contact details.
const PURGE_MESSAGES: &str = r#"
    update outbox set body = null, reply_to = null, updated_at = $2
    where body is not null
      and appointment_id in (select id from appointments where ends_at < $1)"#;

const PURGE_NOTES: &str = r#"
    delete from customer_notes
    where appointment_id in (select id from appointments where ends_at < $1)"#;

const PURGE_APPOINTMENTS: &str = r#"
    update appointments set customer_name = null, customer_phone = null,
        customer_email = null, phone_is_mobile = false, summary = null,
        contact_problem = null, updated_at = $2
    where ends_at < $1
      and (customer_name is not null or customer_phone is not null
           or customer_email is not null or summary is not null
           or contact_problem is not null)"#;

/// Processed deliveries received before the cutoff, with their event keys (cascade).
const PURGE_INBOX: &str = "delete from inbox where processed_at is not null and received_at < $1";

impl Store {
    /// Everyone's numbers and addresses linked to `person` through their appointments
    /// and consents (one step: a phone's appointments name the e-mail address too).
    pub async fn linked(&self, person: &Person) -> Result<Person> {
        let mut tx = self.begin().await?;
        let mut all = person.clone();
        for (phone, email) in pairs(person) {
            for sql in [LINKED, LINKED_CONSENTS] {
                let rows: Vec<(Option<String>, Option<String>)> = on_tx!(&mut tx, c =>
                    sqlx::query_as(sql).bind(phone).bind(email).fetch_all(c).await)?;
                for (p, e) in rows {
                    all.phones.extend(p);
                    all.emails.extend(e.map(|e| e.to_lowercase()));
                }
            }
        }
        tx.commit().await?;
        Ok(all)
    }

    /// Erases `person` everywhere, in one transaction: their appointments' contact
    /// details and titles, their messages' bodies (pending ones are withdrawn), their
    /// consent records' addresses and evidence, and every raw webhook delivery that
    /// names them.
    pub async fn forget(&self, person: &Person, now: DateTime<Utc>) -> Result<Erased> {
        let mut tx = self.begin().await?;
        tx.lock("privacy").await?;
        let mut erased = Erased::default();
        for (phone, email) in pairs(person) {
            // (an empty pattern leaves a text as it is, on both backends)
            let masked = phone.map(mask).unwrap_or_default();
            on_tx!(&mut tx, c => sqlx::query(CANCEL).bind(phone).bind(email).bind(now)
                .execute(c).await.map(|r| r.rows_affected()))?;
            erased.messages += on_tx!(&mut tx, c => sqlx::query(SCRUB_MESSAGES)
                .bind(phone).bind(email).bind(&masked).bind(now)
                .execute(c).await.map(|r| r.rows_affected()))?;
            erased.messages += on_tx!(&mut tx, c => sqlx::query(DELETE_NOTES)
                .bind(phone).bind(email).execute(c).await.map(|r| r.rows_affected()))?;
            erased.appointments += on_tx!(&mut tx, c => sqlx::query(SCRUB_APPOINTMENTS)
                .bind(phone).bind(email).bind(now)
                .execute(c).await.map(|r| r.rows_affected()))?;
            erased.consents += on_tx!(&mut tx, c => sqlx::query(SCRUB_CONSENTS)
                .bind(phone).bind(email).execute(c).await.map(|r| r.rows_affected()))?;
        }
        erased.deliveries = blank_deliveries(&mut tx, person).await?;
        tx.commit().await?;
        Ok(erased)
    }

    /// The nightly purge: contact details and message bodies of appointments that ended
    /// before `appointments_before`, and processed webhook deliveries received before
    /// `deliveries_before`. Consent records are kept: they are the proof of consent.
    pub async fn purge(
        &self,
        appointments_before: DateTime<Utc>,
        deliveries_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Erased> {
        let mut tx = self.begin().await?;
        tx.lock("privacy").await?;
        let mut messages = on_tx!(&mut tx, c => sqlx::query(PURGE_MESSAGES)
            .bind(appointments_before).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
        messages += on_tx!(&mut tx, c => sqlx::query(PURGE_NOTES)
            .bind(appointments_before).execute(c).await.map(|r| r.rows_affected()))?;
        let appointments = on_tx!(&mut tx, c => sqlx::query(PURGE_APPOINTMENTS)
            .bind(appointments_before).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
        let deliveries = on_tx!(&mut tx, c => sqlx::query(PURGE_INBOX)
            .bind(deliveries_before).execute(c).await.map(|r| r.rows_affected()))?;
        tx.commit().await?;
        Ok(Erased { appointments, messages, consents: 0, deliveries })
    }
}

/// Each (phone, e-mail) to match, one of them `None`.
fn pairs(person: &Person) -> Vec<(Option<&str>, Option<&str>)> {
    person
        .phones
        .iter()
        .map(|p| (Some(p.as_str()), None))
        .chain(person.emails.iter().map(|e| (None, Some(e.as_str()))))
        .collect()
}

/// Replaces every stored delivery that names the person. Meta writes numbers without
/// the `+`; e-mail addresses are matched ignoring case.
async fn blank_deliveries(tx: &mut Tx, person: &Person) -> Result<u64> {
    let needles: Vec<Vec<u8>> = person
        .phones
        .iter()
        .map(|p| p.trim_start_matches('+').as_bytes().to_vec())
        .chain(person.emails.iter().map(|e| e.to_lowercase().into_bytes()))
        .filter(|n| !n.is_empty())
        .collect();
    let (mut after, mut blanked) = (0i64, 0u64);
    loop {
        let rows: Vec<(i64, Vec<u8>)> = on_tx!(&mut *tx, c =>
            sqlx::query_as(INBOX_BODIES).bind(after).fetch_all(c).await)?;
        let Some(&(last, _)) = rows.last() else { return Ok(blanked) };
        for (id, body) in rows {
            let lower = body.to_ascii_lowercase();
            if needles.iter().any(|n| lower.windows(n.len()).any(|w| w == n.as_slice())) {
                on_tx!(&mut *tx, c => sqlx::query(BLANK_INBOX).bind(id).bind(ERASED_BODY)
                    .execute(c).await.map(|r| r.rows_affected()))?;
                blanked += 1;
            }
        }
        after = last;
    }
}
