//! Reconciliation: making the stored appointments of one source match what the source
//! says now, and (re)planning the reminders of every appointment that changed — all in
//! one transaction, so a failure leaves the last good import exactly as it was.

use std::borrow::Borrow;
use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use tracing::info;

use crate::domain::{
    Appointment, AppointmentStatus, ConsentChannel, ConsentMethod, ConsentStatus, NewConsent,
    OutboxKind, Reply,
};
pub use crate::rules::Planning;
use crate::rules::{Decision, Occasion, plan};
use crate::store::{
    AppointmentInput, Backend, BoundOutbox, DedupKeys, ExistingAppointment, FeedVersion,
    NewAppointments, NewOutbox, OptInMarker, Store, StoreError, Tx, UPSERT_BATCH, UpsertBatch,
};

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
    /// Consent records added from the source's opt-in markers.
    pub consents_recorded: usize,
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
    /// Events the source holds but that could not be read (by UID): their appointments
    /// are kept as they were, not taken for deleted.
    pub unreadable: &'a BTreeSet<String>,
    /// What could not be read, for staff (`/readyz`, the report).
    pub problems: &'a [String],
}

/// Whether a stored appointment belongs to an event that could not be read: its
/// external id is the UID, or the UID and an instance's start.
fn of_unreadable_event(unreadable: &BTreeSet<String>, external_id: &str) -> bool {
    unreadable.iter().any(|uid| {
        external_id.strip_prefix(uid.as_str()).is_some_and(|r| r.is_empty() || r.starts_with('/'))
    })
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
    let Reading { source, appointments, window, version, unreadable, problems } = reading;
    let mut reconciliation = Reconciliation::begin(store, source, window, planning, now).await?;
    reconciliation.add(appointments).await?;
    reconciliation.finish(unreadable, version, problems, guard).await
}

/// A reconciliation under way, for a reading that arrives in parts: the appointments
/// are written as they come, in one transaction, and the removals are decided by
/// [`Reconciliation::finish`] once the reading is complete. Dropped unfinished, it
/// rolls back: the last good import stays as it was.
#[derive(Debug)]
pub struct Reconciliation<'a, A> {
    tx: Tx,
    source: &'a str,
    window: Window,
    planning: Planning<'a>,
    now: DateTime<Utc>,
    existing: HashMap<String, ExistingAppointment>,
    /// Every external id read so far, with the number of the batch it was last put in
    /// (if it was new or changed): a key repeated within one batch waits for the next.
    seen: HashMap<String, Option<usize>>,
    /// New and changed appointments, written UPSERT_BATCH at a time: three or four
    /// statements per batch instead of about four per appointment.
    batch: Vec<A>,
    batches: usize,
    /// Nothing was stored of the source when the import began: its first import, whose
    /// batches are plain inserts (see [`Reconciliation::insert_new`]).
    first: bool,
    /// The batch holds an external id an earlier batch of this import wrote: it is
    /// written with the upsert, also on a first import.
    rewrites: bool,
    /// The reminders of the last batch, enqueued with the next one's upsert: its values
    /// are bound while the database inserts these.
    planned: Planned,
    report: SyncReport,
    /// The WhatsApp consent the source states for the customers of new and changed
    /// appointments (the last word per phone number), for the consent ledger.
    markers: HashMap<String, (OptInMarker, String)>,
}

impl<'a, A: Borrow<AppointmentInput>> Reconciliation<'a, A> {
    /// Starts the transaction and reads what is stored of `source` in `window`.
    pub async fn begin(
        store: &Store,
        source: &'a str,
        window: Window,
        planning: Planning<'a>,
        now: DateTime<Utc>,
    ) -> Result<Self, SyncError> {
        let mut tx = store.begin().await?;
        // on PostgreSQL, one replica at a time imports a source
        tx.lock(&format!("import:{source}")).await?;
        let first = tx.source_is_new(source).await?;
        let existing = tx
            .existing_appointments(source, window.from)
            .await?
            .into_iter()
            .map(|e| (e.external_id.clone(), e))
            .collect();
        Ok(Reconciliation {
            tx,
            source,
            window,
            planning,
            now,
            existing,
            seen: HashMap::new(),
            batch: Vec::with_capacity(UPSERT_BATCH),
            batches: 0,
            first,
            rewrites: false,
            planned: Planned::default(),
            report: SyncReport::default(),
            markers: HashMap::new(),
        })
    }

    /// Writes the new and changed appointments among `appointments`, the next part of
    /// the reading, and plans their reminders.
    pub async fn add(
        &mut self,
        appointments: impl IntoIterator<Item = A>,
    ) -> Result<(), SyncError> {
        for input in appointments {
            let a = input.borrow();
            self.report.seen += 1;
            let known = self.existing.get(&a.external_id);
            let changed = known.is_none_or(|e| {
                e.fingerprint != a.fingerprint() || e.status == AppointmentStatus::Removed.as_str()
            });
            let batched = self.seen.entry(a.external_id.clone()).or_insert(None);
            if !changed {
                self.report.unchanged += 1;
                continue;
            }
            let earlier = batched.replace(self.batches);
            let repeated = earlier == Some(self.batches);
            if known.is_some() {
                self.report.updated += 1
            } else {
                self.report.inserted += 1
            }
            if let (Some(marker), Some(phone)) = (a.whatsapp_opt_in, &a.customer_phone) {
                let evidence = match marker.method {
                    ConsentMethod::Database => format!(
                        "the practice database of source {}, row {}",
                        self.source, a.external_id
                    ),
                    _ => format!("calendar feed {}, event {}", self.source, a.external_id),
                };
                self.markers.insert(phone.clone(), (marker, evidence));
            }
            // a key repeated in the feed is written after the batch holding its first
            // copy, as the rows would have been one by one
            if repeated {
                self.flush().await?;
                self.seen.insert(a.external_id.clone(), Some(self.batches));
            }
            self.rewrites |= earlier.is_some();
            self.batch.push(input);
            if self.batch.len() == UPSERT_BATCH {
                self.flush().await?;
            }
        }
        Ok(())
    }

    /// Writes the batch (and the reminders of the one before), and plans its reminders.
    /// The statements run in the order of one batch at a time; only our side of the
    /// work moves to when the database is busy with the statement before.
    async fn flush(&mut self) -> Result<(), StoreError> {
        if self.first && !self.rewrites && !self.batch.is_empty() {
            return self.insert_new().await;
        }
        let Reconciliation {
            tx,
            source,
            planning,
            now,
            batch,
            batches,
            planned,
            report,
            rewrites,
            ..
        } = self;
        let (source, planning, now) = (*source, *planning, *now);
        let last = std::mem::take(planned);
        if batch.is_empty() {
            report.reminders_planned += last.insert(tx).await?;
            return Ok(());
        }
        let inputs: Vec<&AppointmentInput> = batch.iter().map(Borrow::borrow).collect();
        let backend = tx.backend();
        let (inserted, upsert) = tokio::join!(
            biased;
            last.insert(tx),
            async { UpsertBatch::new(backend, source, &inputs, now) }
        );
        report.reminders_planned += inserted?;
        // planning sees the rows as stored (a kept reply, a cleared one)
        let stored = tx.run_upsert(upsert).await?;
        let (next, cancelled) =
            withdraw_and_plan(tx, &stored, planning, now, Occasion::Changed).await?;
        *planned = next;
        report.reminders_cancelled += cancelled;
        batch.clear();
        *batches += 1;
        *rewrites = false;
        Ok(())
    }

    /// [`Reconciliation::flush`] on a first import: none of the batch is stored, so it
    /// is a plain insert under ids known beforehand — no conflict to look for, no rows
    /// coming back, and no reminders to withdraw. The reminders are planned while the
    /// database inserts the appointments (and enqueued with the next batch).
    async fn insert_new(&mut self) -> Result<(), StoreError> {
        let Reconciliation { tx, source, planning, now, batch, batches, planned, report, .. } =
            self;
        let (source, planning, now) = (*source, *planning, *now);
        let last = std::mem::take(planned);
        let inputs: Vec<&AppointmentInput> = batch.iter().map(Borrow::borrow).collect();
        let ids = tx.new_appointment_ids(inputs.len()).await?;
        let backend = tx.backend();
        let (inserted, insert) = tokio::join!(
            biased;
            last.insert(tx),
            async { NewAppointments::new(backend, source, &inputs, &ids, now) }
        );
        report.reminders_planned += inserted?;
        let stored =
            inputs.iter().zip(&ids).map(|(a, &id)| a.stored(id, source, Reply::None, None));
        let (written, next) = tokio::join!(
            biased;
            tx.insert_new_appointments(insert?),
            async {
                // none of their reminders can be enqueued yet
                let enqueue = Enqueue { backend, now, keys: DedupKeys::New };
                plan_reminders(stored, planning, Occasion::Changed, enqueue)
            }
        );
        written?;
        *planned = next;
        batch.clear();
        *batches += 1;
        Ok(())
    }

    /// Completes the reading: the appointments gone from the source are removed (unless
    /// the vanish guard refuses), the import is recorded, and all of it committed.
    /// `unreadable` are the UIDs of events that could not be read (see [`Reading`]).
    pub async fn finish(
        mut self,
        unreadable: &BTreeSet<String>,
        version: &FeedVersion,
        problems: &[String],
        guard: VanishGuard,
    ) -> Result<SyncReport, SyncError> {
        self.flush().await?;
        // the reminders of the last batch
        self.flush().await?;
        let Reconciliation {
            mut tx, source, window, now, existing, seen, mut report, markers, ..
        } = self;
        let vanished: Vec<_> = existing
            .values()
            .filter(|e| {
                !seen.contains_key(e.external_id.as_str())
                    && e.status == AppointmentStatus::Scheduled.as_str()
                    && e.starts_at < window.to
                    && !of_unreadable_event(unreadable, &e.external_id)
            })
            .collect();
        let known = existing
            .values()
            .filter(|e| {
                e.status == AppointmentStatus::Scheduled.as_str() && e.starts_at < window.to
            })
            .count();
        if guard.refuses(known, vanished.len(), report.seen) {
            return Err(SyncError::Shrunk { known, vanished: vanished.len() });
        }
        for gone in vanished {
            tx.set_appointment_status(gone.id, AppointmentStatus::Removed, now).await?;
            report.reminders_cancelled += tx
                .cancel_pending_reminders(
                    gone.id,
                    "the appointment was removed from the calendar",
                    now,
                )
                .await?;
            report.removed += 1;
        }
        for (phone, (marker, evidence)) in markers {
            let consent = NewConsent {
                phone: Some(phone),
                email: None,
                channel: ConsentChannel::Whatsapp,
                status: if marker.opted_in {
                    ConsentStatus::OptedIn
                } else {
                    ConsentStatus::OptedOut
                },
                method: marker.method,
                evidence: Some(evidence),
                recorded_by: "reminderd".into(),
            };
            if tx.record_mirrored_consent(&consent, now).await?.is_some() {
                report.consents_recorded += 1;
            }
        }
        tx.record_import_success(source, now, version, report.seen as i64, problems).await?;
        tx.commit().await?;
        Ok(report)
    }
}

/// Brings appointments' reminders in line with their current state, in a few
/// statements: the reminders of appointments that no longer take place are withdrawn,
/// those planned for another start time too, and the missing ones enqueued — including those decided against, as
/// `skipped` with the reason. Returns (planned, cancelled).
pub async fn replan_all(
    tx: &mut Tx,
    appointments: &[Appointment],
    planning: Planning<'_>,
    now: DateTime<Utc>,
    occasion: Occasion,
) -> Result<(usize, u64), StoreError> {
    let (planned, cancelled) = withdraw_and_plan(tx, appointments, planning, now, occasion).await?;
    Ok((planned.insert(tx).await?, cancelled))
}

/// Reminders planned but not yet enqueued, already bound into their inserts.
#[derive(Debug, Default)]
struct Planned {
    /// Decided against: on record, not counted as planned.
    skipped: BoundOutbox,
    to_send: BoundOutbox,
}

impl Planned {
    /// Enqueues them; returns how many of those to send were new.
    async fn insert(self, tx: &mut Tx) -> Result<usize, StoreError> {
        tx.insert_bound_outbox(self.skipped).await?;
        tx.insert_bound_outbox(self.to_send).await
    }
}

/// Where planned reminders go: the transaction's backend, the import's time, and
/// whether any of them may be enqueued already.
#[derive(Clone, Copy, Debug)]
struct Enqueue {
    backend: Backend,
    now: DateTime<Utc>,
    keys: DedupKeys,
}

/// The first half of [`replan_all`]: withdraws the reminders that no longer hold and
/// returns the missing ones (not yet enqueued) and how many were withdrawn.
async fn withdraw_and_plan(
    tx: &mut Tx,
    appointments: &[Appointment],
    planning: Planning<'_>,
    now: DateTime<Utc>,
    occasion: Occasion,
) -> Result<(Planned, u64), StoreError> {
    let enqueue = Enqueue { backend: tx.backend(), now, keys: DedupKeys::MayExist };
    // not upcoming: every pending reminder goes, with the status as the reason
    let mut gone: Vec<(String, Vec<i64>)> = Vec::new();
    let mut upcoming = Vec::with_capacity(appointments.len());
    for appointment in appointments {
        if appointment.is_upcoming(now) {
            upcoming.push(appointment.id);
            continue;
        }
        let detail = format!("the appointment is {}", appointment.status);
        match gone.iter_mut().find(|(d, _)| *d == detail) {
            Some((_, ids)) => ids.push(appointment.id),
            None => gone.push((detail, vec![appointment.id])),
        }
    }
    let withdraw = async {
        let mut cancelled = 0;
        for (detail, ids) in &gone {
            cancelled += tx.cancel_pending_reminders_batch(ids, detail, now).await?;
        }
        if !upcoming.is_empty() {
            cancelled += tx
                .cancel_stale_reminders_batch(
                    &upcoming,
                    "the appointment moved to another time",
                    now,
                )
                .await?;
        }
        Ok::<_, StoreError>(cancelled)
    };
    // planning needs no database: done while the database withdraws (the statement is
    // sent on the first poll, so `biased`)
    let plan_all = async { plan_reminders(appointments.iter(), planning, occasion, enqueue) };
    let (cancelled, planned) = tokio::join!(biased; withdraw, plan_all);
    Ok((planned, cancelled?))
}

/// The reminders of `appointments` that are upcoming, planned and not yet enqueued,
/// bound for `enqueue`.
fn plan_reminders(
    appointments: impl IntoIterator<Item = impl Borrow<Appointment>>,
    planning: Planning<'_>,
    occasion: Occasion,
    enqueue: Enqueue,
) -> Planned {
    let Enqueue { backend, now, keys } = enqueue;
    let (mut decided_against, mut to_send) = (Vec::new(), Vec::new());
    for appointment in appointments {
        let appointment = appointment.borrow();
        if !appointment.is_upcoming(now) {
            continue;
        }
        for p in plan(appointment, planning, now, occasion) {
            let plan_note = p.note(planning.zone);
            let (due_at, skipped) = match p.decision {
                Decision::Send { at, .. } => (at, None),
                // on record at the moment it would have gone
                Decision::Skip { reason } => (now, Some(reason)),
            };
            let reminder = NewOutbox {
                appointment_id: appointment.id,
                kind: OutboxKind::Reminder,
                rule: p.rule,
                dedup_key: p.dedup_key,
                appointment_start: p.appointment_start,
                due_at,
                body: None,
                reply_to: None,
                plan_note,
                skipped,
            };
            match reminder.skipped {
                Some(_) => decided_against.push(reminder),
                None => to_send.push(reminder),
            }
        }
    }
    Planned {
        skipped: BoundOutbox::new(backend, decided_against, now, keys),
        to_send: BoundOutbox::new(backend, to_send, now, keys),
    }
}

/// The `daemon_state` key of the digest of the rules last planned with.
const PLANNED_WITH: &str = "planned_with";

/// Records that the stored reminders are the plan `planning` makes, so the next start
/// does not re-plan (see [`replan_upcoming`]).
pub async fn remember_plan(
    tx: &mut Tx,
    planning: Planning<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.set_state_value(PLANNED_WITH, &planning.digest(), now).await
}

/// Re-plans every upcoming appointment when the rules (or the zone, the working days,
/// the program) changed since the last time: missing reminders are added (never those
/// already sent) and reminders of removed rules are withdrawn. With unchanged rules it
/// reads one row and returns, so a restart costs nothing however many reminders wait.
pub async fn replan_upcoming(
    store: &Store,
    planning: Planning<'_>,
    now: DateTime<Utc>,
) -> Result<SyncReport, StoreError> {
    let digest = planning.digest();
    if store.state_value(PLANNED_WITH).await?.as_deref() == Some(digest.as_str()) {
        return Ok(SyncReport::default());
    }
    let upcoming = store.upcoming_appointments(now).await?;
    let mut tx = store.begin().await?;
    let mut report = SyncReport { seen: upcoming.len(), ..SyncReport::default() };
    report.reminders_cancelled +=
        tx.cancel_reminders_of_unknown_rules(&planning.rules.names(), now).await?;
    for batch in upcoming.chunks(UPSERT_BATCH) {
        let (planned, cancelled) =
            replan_all(&mut tx, batch, planning, now, Occasion::Review).await?;
        report.reminders_planned += planned;
        report.reminders_cancelled += cancelled;
    }
    remember_plan(&mut tx, planning, now).await?;
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

#[cfg(test)]
mod tests;
