//! `reminderd plan` and `reminderd explain`: what goes out when, and why a reminder
//! was (or was not) sent — read from the store and the current rules, for staff and
//! operators. Nothing here changes anything.

use std::fmt::Write as _;

use chrono::{DateTime, Duration, NaiveDate, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::domain::phone::mask;
use crate::domain::time::{dutch_date, dutch_moment_short, local_time};
use crate::domain::{Appointment, Consent, ConsentChannel, OutboxMessage, OutboxState};
use crate::reschedule::State;
use crate::reschedule::staff::{Decided, Told};
use crate::rules::Planning;
use crate::store::{Store, StoreError, StoredConversation};
use crate::whatsapp::response::describe;

/// One reminder waiting to go out.
#[derive(Clone, Debug, Serialize)]
pub struct PlanRow {
    pub reminder: i64,
    pub appointment: i64,
    pub rule: String,
    /// When it goes (its next attempt), UTC.
    pub due_at: DateTime<Utc>,
    /// The same in the business zone, `2026-10-13 18:00`.
    pub due_local: String,
    pub appointment_start: DateTime<Utc>,
    pub appointment_local: String,
    pub customer: Option<String>,
    /// Masked: `+316••••••78`.
    pub phone: Option<String>,
    /// Why it goes at another time than the rule's moment (late booking, grace, quiet
    /// hours), or why it waits (a retry, a limit).
    pub note: Option<String>,
    /// The clocks change on the day it goes.
    pub dst_switch_day: bool,
}

/// The reminders due in the next `days` days, soonest first.
pub async fn plan(
    store: &Store,
    zone: Tz,
    now: DateTime<Utc>,
    days: u32,
) -> Result<Vec<PlanRow>, StoreError> {
    let until = now + Duration::days(i64::from(days));
    // one query for the appointments instead of one per reminder
    let appointments: std::collections::HashMap<i64, Appointment> =
        store.upcoming_appointments(now).await?.into_iter().map(|a| (a.id, a)).collect();
    let mut rows = Vec::new();
    for m in store.planned_reminders(until).await? {
        // a reminder of an appointment that has begun will not go (the dispatcher skips it)
        let Some(a) = appointments.get(&m.appointment_id) else { continue };
        let waiting = (m.attempts > 0 || m.next_attempt_at != m.due_at).then_some(m.detail.clone());
        rows.push(PlanRow {
            reminder: m.id,
            appointment: a.id,
            rule: m.rule.clone(),
            due_at: m.next_attempt_at,
            due_local: local_stamp(m.next_attempt_at, zone),
            appointment_start: a.starts_at,
            appointment_local: local_stamp(a.starts_at, zone),
            customer: a.first_name().map(str::to_string),
            phone: a.customer_phone.as_deref().map(mask),
            note: waiting.flatten().or(m.plan_note.clone()),
            dst_switch_day: is_dst_switch_day(
                zone,
                m.next_attempt_at.with_timezone(&zone).date_naive(),
            ),
        });
    }
    Ok(rows)
}

/// The plan as text, by local day.
pub fn render_plan(rows: &[PlanRow], zone: Tz, days: u32) -> String {
    let mut out = format!("Reminders to go out in the next {days} days (times in {zone}):\n");
    if rows.is_empty() {
        out.push_str("\nnone\n");
        return out;
    }
    let mut day = None;
    for row in rows {
        let local = row.due_at.with_timezone(&zone).date_naive();
        if day != Some(local) {
            day = Some(local);
            let _ = write!(out, "\n{}", dutch_date(row.due_at, zone));
            if row.dst_switch_day {
                out.push_str("  — the clocks change this day");
            }
            out.push('\n');
        }
        let _ = write!(
            out,
            "  {}  #{:<6} {:<20} {} {}  for {}",
            local_time(row.due_at, zone),
            row.reminder,
            row.rule,
            row.customer.as_deref().unwrap_or("(no name)"),
            row.phone.as_deref().unwrap_or("(no phone)"),
            dutch_moment_short(row.appointment_start, zone),
        );
        if let Some(note) = &row.note {
            let _ = write!(out, "  [{note}]");
        }
        out.push('\n');
    }
    out
}

/// Whether the zone's offset from UTC changes during `day`.
pub fn is_dst_switch_day(zone: Tz, day: NaiveDate) -> bool {
    let offset_at = |d: NaiveDate| {
        zone.from_utc_datetime(&d.and_hms_opt(12, 0, 0).expect("noon")).offset().fix()
    };
    day.pred_opt().is_some_and(|before| offset_at(before) != offset_at(day))
}

/// Everything known about one appointment's reminders.
#[derive(Clone, Debug)]
pub struct Explanation {
    pub appointment: Appointment,
    /// Per current rule: whether it applies, and its moment.
    pub rules: Vec<(String, String)>,
    pub messages: Vec<OutboxMessage>,
}

/// Finds the appointment by its number, or by `source:external-id`.
pub async fn find(store: &Store, key: &str) -> Result<Option<Appointment>, StoreError> {
    if let Ok(id) = key.parse::<i64>() {
        return store.appointment(id).await;
    }
    match key.split_once(':') {
        Some((source, external_id)) => store.appointment_by_external_id(source, external_id).await,
        None => Ok(None),
    }
}

/// Why `appointment` got the reminders it got.
pub async fn explain(
    store: &Store,
    planning: Planning<'_>,
    appointment: Appointment,
) -> Result<Explanation, StoreError> {
    let zone = planning.zone;
    let when = |t: DateTime<Utc>| dutch_moment_short(t, zone);
    let rules = planning
        .rules
        .rules()
        .iter()
        .map(|rule| {
            let verdict = match (
                rule.excludes(&appointment),
                rule.moment(appointment.starts_at, zone, planning.workdays),
            ) {
                (Some(reason), _) => format!("not for this appointment: {reason}"),
                (None, None) => "no working day to land on before the appointment".into(),
                (None, Some(m)) if m >= appointment.starts_at => {
                    format!("its moment ({}) is not before the appointment", when(m))
                }
                (None, Some(m)) => format!("applies; its moment: {}", when(m)),
            };
            (rule.name.clone(), verdict)
        })
        .collect();
    let messages = store.outbox_for_appointment(appointment.id).await?;
    Ok(Explanation { appointment, rules, messages })
}

impl Explanation {
    pub fn render(&self, zone: Tz) -> String {
        let a = &self.appointment;
        let when = |t: DateTime<Utc>| dutch_moment_short(t, zone);
        let mut out = format!(
            "Appointment #{} ({}:{}): {}, {}\n",
            a.id,
            a.source,
            a.external_id,
            dutch_date(a.starts_at, zone),
            local_time(a.starts_at, zone)
        );
        let _ = writeln!(
            out,
            "  {} — {} {}, calendar {}{}",
            a.summary.as_deref().unwrap_or("(no title)"),
            a.customer_name.as_deref().unwrap_or("(no name)"),
            a.customer_phone.as_deref().map(mask).unwrap_or_else(|| "(no phone)".into()),
            a.calendar,
            a.location.as_deref().map(|l| format!(", {l}")).unwrap_or_default(),
        );
        let _ = writeln!(out, "  status: {}; the customer's answer: {}", a.status, a.reply);
        if let Some(problem) = &a.contact_problem {
            let _ = writeln!(out, "  contact: {problem}");
        }
        out.push_str("\nRules:\n");
        for (rule, verdict) in &self.rules {
            let _ = writeln!(out, "  {rule}: {verdict}");
        }
        out.push_str("\nMessages:\n");
        if self.messages.is_empty() {
            out.push_str("  none planned\n");
        }
        for m in &self.messages {
            let _ = write!(out, "  #{} {} `{}`: {}", m.id, m.kind, m.rule, m.state);
            match m.state {
                OutboxState::Sent => {
                    let _ = write!(
                        out,
                        " on {} at {} ({})",
                        m.channel.as_deref().unwrap_or("?"),
                        m.sent_at.map(when).unwrap_or_default(),
                        m.message_id.as_deref().unwrap_or("no id")
                    );
                    if let Some(d) = m.delivery {
                        let _ = write!(out, "; {d}");
                        if let Some(at) = m.delivery_at {
                            let _ = write!(out, " at {}", when(at));
                        }
                    }
                }
                OutboxState::Pending | OutboxState::Sending => {
                    let _ = write!(out, ", goes {}", when(m.next_attempt_at));
                }
                _ => {}
            }
            if m.attempts > 1 {
                let _ = write!(out, " after {} attempts", m.attempts);
            }
            out.push('\n');
            if let Some(note) = &m.plan_note {
                let _ = writeln!(out, "      planned: {note}");
            }
            if let Some(detail) = &m.detail {
                let _ = writeln!(out, "      why: {detail}");
            }
            for code in [m.error_code, m.delivery_error_code].into_iter().flatten() {
                let meaning = describe(code).unwrap_or("an error code reminderd does not know");
                let _ = writeln!(out, "      Meta's code {code}: {meaning}");
            }
        }
        out
    }
}

/// `2026-10-13 18:00` in the business zone.
fn local_stamp(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string()
}

/// One person's consent records, and where they stand now, as text.
pub fn render_consents(who: &str, records: &[Consent], zone: Tz) -> String {
    let mut out = format!("Consent ledger for {who} (times in {zone}):\n\n");
    if records.is_empty() {
        out.push_str("no records\n");
        return out;
    }
    for r in records {
        let _ = writeln!(
            out,
            "  {}  {:<8} {:<9} {:<10} by {}{}",
            local_stamp(r.recorded_at, zone),
            r.channel.as_str(),
            r.status.as_str(),
            r.method.as_str(),
            r.recorded_by,
            r.evidence.as_deref().map(|e| format!("  ({e})")).unwrap_or_default(),
        );
    }
    out.push('\n');
    for channel in [ConsentChannel::Whatsapp, ConsentChannel::Email] {
        let latest = records.iter().rev().find(|r| r.channel == channel);
        let _ = writeln!(
            out,
            "Now, {channel}: {}",
            latest.map_or_else(
                || "nothing on record".to_string(),
                |r| format!("{} since {}", r.status, local_stamp(r.recorded_at, zone))
            )
        );
    }
    out
}

/// The rescheduling requests waiting for staff, as text.
pub fn render_requests(waiting: &[(Appointment, StoredConversation)], zone: Tz) -> String {
    let mut out = format!("Requests for another time (times in {zone}):\n");
    if waiting.is_empty() {
        out.push_str("\nnone\n");
        return out;
    }
    for (a, stored) in waiting {
        let _ = write!(
            out,
            "\n#{:<6} {} {}  now {} ({})\n",
            a.id,
            a.customer_name.as_deref().unwrap_or("(no name)"),
            a.customer_phone.as_deref().map(mask).unwrap_or_else(|| "(no phone)".into()),
            dutch_moment_short(a.starts_at, zone),
            a.calendar,
        );
        match &stored.conversation.state {
            State::Requested(slot) => {
                let _ = writeln!(
                    out,
                    "        asks for {}{}; since {}\n        reminderd reschedule accept {} | decline {}",
                    dutch_moment_short(slot.start, zone),
                    slot.label.as_deref().map(|l| format!(" ({l})")).unwrap_or_default(),
                    dutch_moment_short(stored.customer_at, zone),
                    a.id,
                    a.id,
                );
            }
            State::Offered => {
                let _ = writeln!(
                    out,
                    "        wants another time but chose none of those offered before the \
                     offer ran out: call them (since {})",
                    dutch_moment_short(stored.customer_at, zone)
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "        wants another time; none was offered or none suits: call them \
                     (since {})",
                    dutch_moment_short(stored.customer_at, zone)
                );
            }
        }
    }
    out
}

/// What a staff decision did, as text.
pub fn render_decided(decided: &Decided, zone: Tz) -> String {
    let a = &decided.appointment;
    let who = a.customer_name.as_deref().unwrap_or("the customer");
    let mut out = match &decided.conversation.conversation.state {
        State::Accepted(slot) => format!(
            "Accepted: appointment #{} ({who}) moves from {} to {}.\n\
             Move it in the calendar too: the next import then plans reminders for the new time.\n",
            a.id,
            dutch_moment_short(a.starts_at, zone),
            dutch_moment_short(slot.start, zone),
        ),
        _ => format!(
            "Declined: appointment #{} ({who}) stays at {}.\n",
            a.id,
            dutch_moment_short(a.starts_at, zone)
        ),
    };
    match &decided.told {
        Told::Queued(text) => {
            let _ = writeln!(out, "The customer is told by WhatsApp: \"{text}\"");
        }
        Told::Template(name) => {
            let _ = writeln!(
                out,
                "The customer's WhatsApp window has closed: they are told with the template {name}."
            );
        }
        Told::CallThem(reason) => {
            let _ = writeln!(out, "Not sent by WhatsApp: {reason}.");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_2026_switch_days_are_marked() {
        let ams = chrono_tz::Europe::Amsterdam;
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert!(is_dst_switch_day(ams, day("2026-03-29")));
        assert!(is_dst_switch_day(ams, day("2026-10-25")));
        assert!(!is_dst_switch_day(ams, day("2026-10-24")));
        assert!(!is_dst_switch_day(ams, day("2026-10-26")));
        assert!(!is_dst_switch_day(chrono_tz::UTC, day("2026-10-25")));
    }
}
