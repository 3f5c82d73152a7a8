//! Reconciliation: making the stored appointments of one source match what the source
//! says now, and (re)planning the reminders of every appointment that changed — all in
//! one transaction, so a failure leaves the last good import exactly as it was.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use tracing::info;

use crate::domain::{Appointment, AppointmentStatus, OutboxKind};
use crate::rules::{RuleSet, plan};
use crate::store::{AppointmentInput, FeedVersion, NewOutbox, Store, StoreError, Tx};

/// Everything planning needs besides the appointment.
#[derive(Clone, Copy, Debug)]
pub struct Planning<'a> {
    pub rules: &'a RuleSet,
    pub zone: Tz,
    /// See `dispatch.plan_grace`.
    pub grace: Duration,
}

/// The part of time the import covers: appointments starting in `[from, to)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// What an import changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub seen: usize,
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Gone from the feed.
    pub removed: usize,
    pub reminders_planned: usize,
    pub reminders_cancelled: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The feed lost most of its appointments at once: far more likely a broken export
    /// or an empty answer than a practice that cancelled them all. The last good import
    /// is kept until the feed is whole again (or the guard is raised).
    #[error(
        "the feed lost {vanished} of its {known} upcoming appointments at once (more than \
         import.max_vanished allows); the import was refused and the last good import is kept"
    )]
    Shrunk { known: usize, vanished: usize },
}

/// One complete reading of a source.
#[derive(Clone, Copy, Debug)]
pub struct Reading<'a> {
    pub source: &'a str,
    pub appointments: &'a [AppointmentInput],
    /// The part of time the reading covers.
    pub window: Window,
    pub version: &'a FeedVersion,
}

/// How much of a source may vanish in one import before it is taken for a broken
/// export (`import.max_vanished`, `import.max_vanished_from`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VanishGuard {
    /// The largest share (0–1) of the known upcoming appointments that may vanish.
    pub max_share: f64,
    /// The share is checked when at least this many are known; a feed that drops to
    /// nothing is refused whatever the count (unless `max_share` is 1: the guard off).
    pub from: usize,
}

impl VanishGuard {
    fn refuses(&self, known: usize, vanished: usize, left: usize) -> bool {
        if vanished == 0 || self.max_share >= 1.0 {
            return false;
        }
        left == 0 || (known >= self.from && vanished as f64 > self.max_share * known as f64)
    }
}

/// Applies one complete reading of a source.
pub async fn reconcile(
    store: &Store,
    reading: Reading<'_>,
    planning: Planning<'_>,
    guard: VanishGuard,
    now: DateTime<Utc>,
) -> Result<SyncReport, SyncError> {
    let Reading { source, appointments, window, version } = reading;
    let mut tx = store.begin().await?;
    // on PostgreSQL, one replica at a time imports a source
    tx.lock(&format!("import:{source}")).await?;
    let existing: HashMap<String, _> = tx
        .existing_appointments(source, window.from)
        .await?
        .into_iter()
        .map(|e| (e.external_id.clone(), e))
        .collect();
    let mut report = SyncReport { seen: appointments.len(), ..SyncReport::default() };
    let mut seen = HashSet::with_capacity(appointments.len());

    for input in appointments {
        seen.insert(input.external_id.as_str());
        let known = existing.get(&input.external_id);
        if known.is_some_and(|e| {
            e.fingerprint == input.fingerprint() && e.status != AppointmentStatus::Removed.as_str()
        }) {
            report.unchanged += 1;
            continue;
        }
        let id = tx.upsert_appointment(source, input, now).await?;
        if known.is_some() {
            report.updated += 1
        } else {
            report.inserted += 1
        }
        let appointment = tx.appointment(id).await?.ok_or(StoreError::Corrupt {
            table: "appointments",
            column: "id",
            detail: format!("appointment {id} vanished inside its own transaction"),
        })?;
        let (planned, cancelled) = replan(&mut tx, &appointment, planning, now).await?;
        report.reminders_planned += planned;
        report.reminders_cancelled += cancelled;
    }

    let vanished: Vec<_> = existing
        .values()
        .filter(|e| {
            !seen.contains(e.external_id.as_str())
                && e.status == AppointmentStatus::Scheduled.as_str()
                && e.starts_at < window.to
        })
        .collect();
    let known = existing
        .values()
        .filter(|e| e.status == AppointmentStatus::Scheduled.as_str() && e.starts_at < window.to)
        .count();
    if guard.refuses(known, vanished.len(), appointments.len()) {
        return Err(SyncError::Shrunk { known, vanished: vanished.len() });
    }
    for gone in vanished {
        tx.set_appointment_status(gone.id, AppointmentStatus::Removed, now).await?;
        report.reminders_cancelled += tx
            .cancel_pending_reminders(gone.id, "the appointment was removed from the calendar", now)
            .await?;
        report.removed += 1;
    }
    tx.record_import_success(source, now, version, appointments.len() as i64).await?;
    tx.commit().await?;
    Ok(report)
}

/// Brings one appointment's reminders in line with its current state: pending ones for
/// another start time are withdrawn, missing ones enqueued. Returns (planned, cancelled).
pub async fn replan(
    tx: &mut Tx,
    appointment: &Appointment,
    planning: Planning<'_>,
    now: DateTime<Utc>,
) -> Result<(usize, u64), StoreError> {
    if !appointment.is_upcoming(now) {
        let detail = format!("the appointment is {}", appointment.status);
        let cancelled = tx.cancel_pending_reminders(appointment.id, &detail, now).await?;
        return Ok((0, cancelled));
    }
    let cancelled = tx
        .cancel_stale_reminders(
            appointment.id,
            appointment.starts_at,
            "the appointment moved to another time",
            now,
        )
        .await?;
    let mut planned = 0;
    for p in plan(appointment, planning.rules, now, planning.zone, planning.grace) {
        let new = NewOutbox {
            appointment_id: appointment.id,
            kind: OutboxKind::Reminder,
            rule: p.rule,
            dedup_key: p.dedup_key,
            appointment_start: p.appointment_start,
            due_at: p.due_at,
            body: None,
            reply_to: None,
        };
        if tx.insert_outbox(&new, now).await?.is_some() {
            planned += 1;
        }
    }
    Ok((planned, cancelled))
}

/// Re-plans every upcoming appointment, e.g. at start after the rules changed: missing
/// reminders are added (never those already sent) and reminders of removed rules are
/// withdrawn.
pub async fn replan_upcoming(
    store: &Store,
    planning: Planning<'_>,
    now: DateTime<Utc>,
) -> Result<SyncReport, StoreError> {
    let upcoming = store.upcoming_appointments(now).await?;
    let mut tx = store.begin().await?;
    let mut report = SyncReport { seen: upcoming.len(), ..SyncReport::default() };
    report.reminders_cancelled +=
        tx.cancel_reminders_of_unknown_rules(&planning.rules.names(), now).await?;
    for appointment in &upcoming {
        let (planned, cancelled) = replan(&mut tx, appointment, planning, now).await?;
        report.reminders_planned += planned;
        report.reminders_cancelled += cancelled;
    }
    tx.commit().await?;
    if report.reminders_planned > 0 || report.reminders_cancelled > 0 {
        info!(
            planned = report.reminders_planned,
            cancelled = report.reminders_cancelled,
            "re-planned upcoming appointments"
        );
    }
    Ok(report)
}

#[cfg(test)]
mod guard_tests {
    use super::VanishGuard;

    #[test]
    fn the_guard_refuses_a_feed_that_lost_most_or_all_of_its_appointments() {
        let guard = VanishGuard { max_share: 0.5, from: 10 };
        // (known, vanished, left in the feed, refused)
        let cases = [
            (100, 0, 100, false),
            (100, 50, 50, false),
            (100, 51, 49, true),
            (9, 9, 3, false), // too few known to judge a share: a small practice's week
            (3, 3, 0, true),  // but a feed with nothing left is always refused
            (1, 1, 0, true),
            (0, 0, 0, false),
        ];
        for (known, vanished, left, refused) in cases {
            assert_eq!(guard.refuses(known, vanished, left), refused, "{known} {vanished} {left}");
        }
        let off = VanishGuard { max_share: 1.0, from: 10 };
        assert!(!off.refuses(100, 100, 0), "max_vanished = 1 turns the guard off");
    }
}
