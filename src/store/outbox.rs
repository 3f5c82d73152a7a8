//! The outbox: the durable queue of outgoing messages.
//!
//! A message is enqueued in the same transaction as the change that causes it, claimed
//! with a lease (so a crashed dispatcher never loses one), and finished with a fencing
//! check on its attempt number (so a dispatcher whose lease ran out cannot overwrite
//! the outcome of the one that took over).

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::appointments::ID_BATCH;
use super::{Backend, BoundQuery, Result, Store, Tx, on_pool, on_tx, word};
use crate::domain::outbox::OutboxMessage;
use crate::domain::{Delivery, OutboxKind, OutboxState};

/// A message to enqueue.
#[derive(Clone, Debug, PartialEq)]
pub struct NewOutbox {
    pub appointment_id: i64,
    pub kind: OutboxKind,
    pub rule: String,
    /// Unique per message that must go out at most once (see `scheduler::plan`).
    pub dedup_key: String,
    pub appointment_start: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub body: Option<String>,
    pub reply_to: Option<String>,
    /// Why it goes at another time than its rule's moment.
    pub plan_note: Option<String>,
    /// Planned but decided against, with the reason: stored as `skipped`, so the choice
    /// is on record and the same reminder is not planned again.
    pub skipped: Option<String>,
}

impl NewOutbox {
    /// A message to the customer inside the 24-hour service window their message at
    /// `window_opened` opened: due at once, and the dispatcher skips it once the window
    /// has closed (only a template may go after it). `kind` is a reply (free text in
    /// `body`) or an offer (a list, JSON in `body`).
    pub fn answer(
        appointment: &crate::domain::Appointment,
        kind: OutboxKind,
        rule: &str,
        body: String,
        reply_to: Option<String>,
        dedup_key: String,
        window_opened: DateTime<Utc>,
    ) -> NewOutbox {
        NewOutbox {
            appointment_id: appointment.id,
            kind,
            rule: rule.to_string(),
            dedup_key,
            appointment_start: appointment.starts_at,
            due_at: window_opened,
            body: Some(body),
            reply_to,
            plan_note: None,
            skipped: None,
        }
    }
}

/// How one attempt ended.
#[derive(Clone, Debug, PartialEq)]
pub enum AttemptOutcome {
    Sent {
        channel: String,
        message_id: String,
    },
    Retry {
        at: DateTime<Utc>,
        code: Option<i64>,
        detail: String,
    },
    Failed {
        code: Option<i64>,
        detail: String,
    },
    Skipped {
        detail: String,
    },
    /// Held back by a limit (the pair rate, a stopped channel): back in the queue until
    /// `until`, the attempt not counted.
    Deferred {
        until: DateTime<Utc>,
        detail: String,
    },
}

#[derive(sqlx::FromRow)]
struct OutboxRow {
    id: i64,
    appointment_id: i64,
    kind: String,
    rule: String,
    appointment_start: DateTime<Utc>,
    due_at: DateTime<Utc>,
    state: String,
    attempts: i64,
    next_attempt_at: DateTime<Utc>,
    body: Option<String>,
    reply_to: Option<String>,
    channel: Option<String>,
    message_id: Option<String>,
    sent_at: Option<DateTime<Utc>>,
    error_code: Option<i64>,
    detail: Option<String>,
    delivery: Option<String>,
    delivery_at: Option<DateTime<Utc>>,
    delivery_error_code: Option<i64>,
    plan_note: Option<String>,
}

impl OutboxRow {
    fn into_domain(self) -> Result<OutboxMessage> {
        Ok(OutboxMessage {
            id: self.id,
            appointment_id: self.appointment_id,
            kind: word("outbox", "kind", &self.kind)?,
            rule: self.rule,
            appointment_start: self.appointment_start,
            due_at: self.due_at,
            state: word("outbox", "state", &self.state)?,
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at,
            body: self.body,
            reply_to: self.reply_to,
            channel: self.channel,
            message_id: self.message_id,
            sent_at: self.sent_at,
            error_code: self.error_code,
            detail: self.detail,
            delivery: self
                .delivery
                .as_deref()
                .map(|d| word("outbox", "delivery", d))
                .transpose()?,
            delivery_at: self.delivery_at,
            delivery_error_code: self.delivery_error_code,
            plan_note: self.plan_note,
        })
    }
}

fn rows(rows: Vec<OutboxRow>) -> Result<Vec<OutboxMessage>> {
    rows.into_iter().map(OutboxRow::into_domain).collect()
}

macro_rules! outbox_columns {
    () => {
        r#"id, appointment_id, kind, rule, appointment_start, due_at, state, attempts,
           next_attempt_at, body, reply_to, channel, message_id, sent_at, error_code, detail,
           delivery, delivery_at, delivery_error_code, plan_note"#
    };
}

const INSERT: &str = r#"
    insert into outbox (appointment_id, kind, rule, dedup_key, appointment_start, due_at,
                        next_attempt_at, body, reply_to, created_at, updated_at, state,
                        detail, plan_note)
    values ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $9, $10, $11, $12)
    on conflict (dedup_key) do nothing
    returning id"#;

/// The state a new message starts in.
fn new_state(m: &NewOutbox) -> &'static str {
    if m.skipped.is_some() { OutboxState::Skipped.as_str() } else { OutboxState::Pending.as_str() }
}

/// Whether messages given to [`Tx::insert_outbox_batch`] may be enqueued already.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DedupKeys {
    /// Some may be: those are skipped.
    #[default]
    MayExist,
    /// Every message belongs to an appointment this transaction inserted, so none is.
    /// SQLite then inserts `or fail` without a conflict clause, which, with the
    /// appointment reference checked at commit, spares it the statement journal (a
    /// copy of every page a multi-row insert changes; see migration 0015). A key that
    /// did exist fails the transaction instead of being skipped.
    New,
}

/// Messages to enqueue, bound into their inserts ([`INSERT_BATCH`] a statement) ahead
/// of time: while the connection still runs the statement before, so that it goes from
/// one statement to the next without waiting for us. [`Tx::insert_bound_outbox`] runs
/// them.
#[derive(Debug, Default)]
pub struct BoundOutbox {
    queries: Vec<BoundQuery<'static>>,
}

impl BoundOutbox {
    /// The inserts of `messages` for a transaction on `backend`.
    pub fn new(
        backend: Backend,
        messages: Vec<NewOutbox>,
        now: DateTime<Utc>,
        keys: DedupKeys,
    ) -> Self {
        let (verb, conflict) = match (keys, backend) {
            (DedupKeys::New, Backend::Sqlite) => ("insert or fail", ""),
            (DedupKeys::New, Backend::Postgres) => ("insert", ""),
            (DedupKeys::MayExist, _) => ("insert", " on conflict (dedup_key) do nothing"),
        };
        let mut queries = Vec::with_capacity(messages.len().div_ceil(INSERT_BATCH));
        let mut rest = messages.into_iter().peekable();
        while rest.peek().is_some() {
            let chunk: Vec<NewOutbox> = rest.by_ref().take(INSERT_BATCH).collect();
            queries.push(match backend {
                Backend::Sqlite => BoundQuery::Sqlite(outbox_values(verb, chunk, now, conflict)),
                Backend::Postgres => {
                    BoundQuery::Postgres(outbox_values(verb, chunk, now, conflict))
                }
            });
        }
        BoundOutbox { queries }
    }
}

/// `verb` into the outbox, the values of `messages` (moved into the statement, not
/// copied), then `conflict`.
fn outbox_values<DB>(
    verb: &str,
    messages: Vec<NewOutbox>,
    now: DateTime<Utc>,
    conflict: &str,
) -> QueryBuilder<'static, DB>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
    &'static str: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
    DateTime<Utc>: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
{
    let mut q = QueryBuilder::new(verb);
    q.push(
        " into outbox (appointment_id, kind, rule, dedup_key, appointment_start, due_at, \
         next_attempt_at, body, reply_to, created_at, updated_at, state, detail, plan_note) ",
    );
    q.push_values(messages, |mut row, m| {
        let state = new_state(&m);
        row.push_bind(m.appointment_id)
            .push_bind(m.kind.as_str())
            .push_bind(m.rule)
            .push_bind(m.dedup_key)
            .push_bind(m.appointment_start)
            .push_bind(m.due_at)
            .push_bind(m.due_at)
            .push_bind(m.body)
            .push_bind(m.reply_to)
            .push_bind(now)
            .push_bind(now)
            .push_bind(state)
            .push_bind(m.skipped)
            .push_bind(m.plan_note);
    });
    q.push(conflict);
    q
}

/// Rows per batched insert: 14 parameters a row keep one statement far below SQLite's
/// limit of 32,766 bound parameters (PostgreSQL allows 65,535); small for the same
/// reason as `UPSERT_BATCH`.
const INSERT_BATCH: usize = 200;

const SELECT_BY_ID: &str = concat!("select ", outbox_columns!(), " from outbox where id = $1");
const SELECT_BY_ID_FOR_UPDATE_PG: &str =
    concat!("select ", outbox_columns!(), " from outbox where id = $1 for update");
const SELECT_BY_MESSAGE_ID: &str =
    concat!("select ", outbox_columns!(), " from outbox where message_id = $1");
const SELECT_BY_APPOINTMENT: &str =
    concat!("select ", outbox_columns!(), " from outbox where appointment_id = $1 order by id");

/// Claims due messages, and messages whose lease ran out before `$4` (the lease plus
/// the in-flight grace: see `scheduler::dispatch`). SQLite has one writer at a time, so
/// the plain update is already exclusive.
const CLAIM_SQLITE: &str = concat!(
    r#"update outbox
    set state = 'sending', lease_until = $2, attempts = attempts + 1, updated_at = $1
    where id in (
        select id from outbox
        where (state = 'pending' and next_attempt_at <= $1)
           or (state = 'sending' and lease_until < $4)
        order by next_attempt_at, id
        limit $3)
    returning "#,
    outbox_columns!()
);

/// The same for PostgreSQL, where replicas claim concurrently: rows locked by another
/// replica's claim are skipped, not waited for.
const CLAIM_POSTGRES: &str = concat!(
    r#"update outbox
    set state = 'sending', lease_until = $2, attempts = attempts + 1, updated_at = $1
    where id in (
        select id from outbox
        where (state = 'pending' and next_attempt_at <= $1)
           or (state = 'sending' and lease_until < $4)
        order by next_attempt_at, id
        limit $3
        for update skip locked)
    returning "#,
    outbox_columns!()
);

/// Records an attempt's outcome, only if this attempt still holds the lease. `$11` is 1
/// for an attempt that does not count (deferred by a limit), else 0.
const FINISH: &str = r#"
    update outbox set
        state = $3,
        attempts = attempts - $11,
        next_attempt_at = coalesce($4, next_attempt_at),
        error_code = $5,
        detail = $6,
        channel = coalesce($7, channel),
        message_id = coalesce($8, message_id),
        sent_at = coalesce($9, sent_at),
        lease_until = null,
        updated_at = $10
    where id = $1 and state = 'sending' and attempts = $2"#;

/// Hands a claimed message back unattempted (the dispatcher is stopping).
const RELEASE: &str = r#"
    update outbox set state = 'pending', attempts = attempts - 1, lease_until = null
    where id = $1 and state = 'sending' and attempts = $2"#;

const CANCEL_PENDING: &str = r#"
    update outbox set state = 'cancelled', detail = $2, updated_at = $3
    where appointment_id = $1 and kind = 'reminder' and state = 'pending'"#;

const CANCEL_STALE: &str = r#"
    update outbox set state = 'cancelled', detail = $3, updated_at = $4
    where appointment_id = $1 and kind = 'reminder' and state = 'pending'
      and appointment_start <> $2"#;

const CANCEL_RULE: &str = r#"
    update outbox set state = 'cancelled', detail = $2, updated_at = $3
    where kind = 'reminder' and state = 'pending' and rule = $1"#;

const PENDING_RULES: &str =
    "select distinct rule from outbox where kind = 'reminder' and state = 'pending'";

const SET_DELIVERY: &str = r#"
    update outbox set delivery = $2, delivery_at = $3, delivery_error_code = $4, updated_at = $5
    where id = $1"#;

/// A status report for a message whose send response was never recorded (the process
/// stopped, or the webhook overtook the response): it was accepted, so it counts as sent.
const ADOPT_MESSAGE_ID: &str = r#"
    update outbox set message_id = $2, state = 'sent', channel = coalesce(channel, $3),
                      sent_at = coalesce(sent_at, $4), lease_until = null, updated_at = $4
    where id = $1 and message_id is null"#;

/// The customers reached with a reminder since `$1`, each with the last time.
pub(super) const REACHED_SINCE: &str = r#"
    select a.customer_phone, max(o.sent_at)
    from outbox o join appointments a on a.id = o.appointment_id
    where o.kind = 'reminder' and o.state = 'sent' and o.sent_at > $1
      and a.customer_phone is not null and coalesce(o.channel, '') <> 'email'
    group by a.customer_phone"#;

/// The e-mail twin of reminder `$1`: the same appointment, rule and start, due at `$2`,
/// its channel fixed to e-mail, once per reminder (`email:<id>`).
const INSERT_EMAIL_FOR: &str = r#"
    insert into outbox (appointment_id, kind, rule, dedup_key, appointment_start, due_at,
                        next_attempt_at, created_at, updated_at, state, channel, plan_note)
    select appointment_id, kind, rule, 'email:' || cast(id as text), appointment_start, $2, $2,
           $2, $2, 'pending', 'email', $3
    from outbox where id = $1 and kind = 'reminder'
    on conflict (dedup_key) do nothing
    returning id"#;

/// Whether a WhatsApp message to the number `$1` failed since `$2` with one of the
/// codes in `{codes}` (filled in from the error table: integers, never input). Each
/// side of the `or` names its partial index's condition, so both indexes are used.
const WHATSAPP_FAILED_FOR: &str = r#"
    select count(*) from outbox o join appointments a on a.id = o.appointment_id
    where ((o.error_code is not null and o.error_code in ({codes}))
        or (o.delivery_error_code is not null and o.delivery_error_code in ({codes})))
      and a.customer_phone = $1 and o.updated_at > $2 and coalesce(o.channel, '') <> 'email'"#;

const SELECT_PLANNED: &str = concat!(
    "select ",
    outbox_columns!(),
    " from outbox where kind = 'reminder' and state in ('pending', 'sending')",
    " and next_attempt_at < $1 order by next_attempt_at, id"
);

const NEXT_DUE: &str = "select min(next_attempt_at) from outbox where state = 'pending'";

impl Store {
    /// The reminders waiting to go out before `until`, soonest first (for `reminderd
    /// plan`).
    pub async fn planned_reminders(&self, until: DateTime<Utc>) -> Result<Vec<OutboxMessage>> {
        let found: Vec<OutboxRow> =
            on_pool!(self, c => sqlx::query_as(SELECT_PLANNED).bind(until).fetch_all(c).await)?;
        rows(found)
    }

    /// When the next pending message is due, if any: the dispatcher sleeps until then
    /// instead of polling blindly.
    pub async fn next_due_at(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(on_pool!(self, c => sqlx::query_scalar(NEXT_DUE).fetch_one(c).await)?)
    }

    /// Every customer (E.164) reached with a reminder after `since`, with the time of
    /// the last one: what counts toward Meta's messaging limit.
    pub async fn reached_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>> {
        Ok(on_pool!(self, c => sqlx::query_as(REACHED_SINCE).bind(since).fetch_all(c).await)?)
    }

    /// Claims up to `limit` messages due at `now`, reserving them until `lease_until`;
    /// a message whose earlier claim is still `sending` is claimed again only when that
    /// lease ran out before `reclaim_before`.
    pub async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        reclaim_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        let claimed: Vec<OutboxRow> = match self {
            Store::Sqlite(p) => {
                let mut tx = p.begin_with("begin immediate").await?;
                let rows = sqlx::query_as(CLAIM_SQLITE)
                    .bind(now)
                    .bind(lease_until)
                    .bind(i64::from(limit))
                    .bind(reclaim_before)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                rows
            }
            Store::Postgres(p) => {
                sqlx::query_as(CLAIM_POSTGRES)
                    .bind(now)
                    .bind(lease_until)
                    .bind(i64::from(limit))
                    .bind(reclaim_before)
                    .fetch_all(p)
                    .await?
            }
        };
        let mut claimed = rows(claimed)?;
        claimed.sort_by_key(|m| (m.next_attempt_at, m.id));
        Ok(claimed)
    }

    /// Records how attempt number `attempt` of message `id` ended. Returns false when the
    /// attempt no longer holds the lease (another dispatcher took over, or a status
    /// report already recorded the send), in which case nothing was changed.
    pub async fn finish_attempt(
        &self,
        id: i64,
        attempt: i64,
        outcome: &AttemptOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let uncounted = i64::from(matches!(outcome, AttemptOutcome::Deferred { .. }));
        let (state, next, code, detail, channel, message_id, sent_at) = match outcome {
            AttemptOutcome::Sent { channel, message_id } => {
                (OutboxState::Sent, None, None, None, Some(channel), Some(message_id), Some(now))
            }
            AttemptOutcome::Deferred { until, detail } => {
                (OutboxState::Pending, Some(*until), None, Some(detail), None, None, None)
            }
            AttemptOutcome::Retry { at, code, detail } => {
                (OutboxState::Pending, Some(*at), *code, Some(detail), None, None, None)
            }
            AttemptOutcome::Failed { code, detail } => {
                (OutboxState::Failed, None, *code, Some(detail), None, None, None)
            }
            AttemptOutcome::Skipped { detail } => {
                (OutboxState::Skipped, None, None, Some(detail), None, None, None)
            }
        };
        let done = on_pool!(self, c => sqlx::query(FINISH)
            .bind(id)
            .bind(attempt)
            .bind(state.as_str())
            .bind(next)
            .bind(code)
            .bind(detail)
            .bind(channel)
            .bind(message_id)
            .bind(sent_at)
            .bind(now)
            .bind(uncounted)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Gives back a claim that was not attempted, so the message goes out without
    /// waiting for the lease to run out.
    pub async fn release_claim(&self, id: i64, attempt: i64) -> Result<()> {
        on_pool!(self, c => sqlx::query(RELEASE).bind(id).bind(attempt).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn outbox(&self, id: i64) -> Result<Option<OutboxMessage>> {
        let row: Option<OutboxRow> =
            on_pool!(self, c => sqlx::query_as(SELECT_BY_ID).bind(id).fetch_optional(c).await)?;
        row.map(OutboxRow::into_domain).transpose()
    }

    /// Every outgoing message of an appointment, oldest first.
    pub async fn outbox_for_appointment(&self, appointment_id: i64) -> Result<Vec<OutboxMessage>> {
        let found: Vec<OutboxRow> = on_pool!(self, c =>
            sqlx::query_as(SELECT_BY_APPOINTMENT).bind(appointment_id).fetch_all(c).await)?;
        rows(found)
    }
}

impl Store {
    /// Enqueues the e-mail twin of reminder `reminder_id` (see [`Tx::insert_email_for`]).
    pub async fn insert_email_for(
        &self,
        reminder_id: i64,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        let mut tx = self.begin().await?;
        let id = tx.insert_email_for(reminder_id, note, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Whether a WhatsApp message to `phone` failed since `since` with one of `codes`
    /// (Meta's "this customer cannot be reached" errors).
    pub async fn whatsapp_failed_for(
        &self,
        phone: &str,
        codes: &[i64],
        since: DateTime<Utc>,
    ) -> Result<bool> {
        if codes.is_empty() {
            return Ok(false);
        }
        let list = codes.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        let sql = WHATSAPP_FAILED_FOR.replace("{codes}", &list);
        let n: i64 = on_pool!(self, c => sqlx::query_scalar(&sql).bind(phone).bind(since).fetch_one(c).await)?;
        Ok(n > 0)
    }
}

impl Tx {
    /// Enqueues the e-mail twin of reminder `reminder_id`, due at once: the fallback
    /// when WhatsApp cannot carry it. `None` when it exists already (at most one e-mail
    /// per reminder, however often the fallback is decided) or the row is no reminder.
    pub async fn insert_email_for(
        &mut self,
        reminder_id: i64,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        Ok(on_tx!(self, c => sqlx::query_scalar(INSERT_EMAIL_FOR)
            .bind(reminder_id).bind(now).bind(note).fetch_optional(c).await)?)
    }

    /// Enqueues a message; `None` when one with the same dedup key exists already.
    pub async fn insert_outbox(
        &mut self,
        m: &NewOutbox,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        Ok(on_tx!(self, c => sqlx::query_scalar(INSERT)
            .bind(m.appointment_id)
            .bind(m.kind.as_str())
            .bind(&m.rule)
            .bind(&m.dedup_key)
            .bind(m.appointment_start)
            .bind(m.due_at)
            .bind(&m.body)
            .bind(&m.reply_to)
            .bind(now)
            .bind(new_state(m))
            .bind(&m.skipped)
            .bind(&m.plan_note)
            .fetch_optional(c)
            .await)?)
    }

    /// Enqueues many messages, [`INSERT_BATCH`] per statement, skipping those whose
    /// dedup key exists already (as [`Tx::insert_outbox`] does) unless `keys` says none
    /// can. Returns how many were enqueued.
    pub async fn insert_outbox_batch(
        &mut self,
        messages: &[NewOutbox],
        now: DateTime<Utc>,
        keys: DedupKeys,
    ) -> Result<usize> {
        let bound = BoundOutbox::new(self.backend(), messages.to_vec(), now, keys);
        self.insert_bound_outbox(bound).await
    }

    /// Runs the inserts of [`BoundOutbox::new`]; returns how many messages were
    /// enqueued.
    pub async fn insert_bound_outbox(&mut self, bound: BoundOutbox) -> Result<usize> {
        let mut inserted = 0;
        for query in bound.queries {
            // both backends count only the rows actually inserted, not those a
            // conflict skipped: no need to stream back an id per row
            inserted += self.execute_bound(query).await? as usize;
        }
        Ok(inserted)
    }

    pub async fn outbox(&mut self, id: i64) -> Result<Option<OutboxMessage>> {
        let row: Option<OutboxRow> =
            on_tx!(self, c => sqlx::query_as(SELECT_BY_ID).bind(id).fetch_optional(c).await)?;
        row.map(OutboxRow::into_domain).transpose()
    }

    pub async fn outbox_by_message_id(
        &mut self,
        message_id: &str,
    ) -> Result<Option<OutboxMessage>> {
        let row: Option<OutboxRow> = on_tx!(self, c =>
            sqlx::query_as(SELECT_BY_MESSAGE_ID).bind(message_id).fetch_optional(c).await)?;
        row.map(OutboxRow::into_domain).transpose()
    }

    /// Withdraws the appointment's reminders that have not gone out.
    pub async fn cancel_pending_reminders(
        &mut self,
        appointment_id: i64,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let done = on_tx!(self, c => sqlx::query(CANCEL_PENDING)
            .bind(appointment_id).bind(detail).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(done)
    }

    /// Withdraws pending reminders planned for another start time than `current_start`.
    pub async fn cancel_stale_reminders(
        &mut self,
        appointment_id: i64,
        current_start: DateTime<Utc>,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let done = on_tx!(self, c => sqlx::query(CANCEL_STALE)
            .bind(appointment_id).bind(current_start).bind(detail).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(done)
    }

    /// [`Tx::cancel_pending_reminders`] for many appointments at once. Returns how many
    /// reminders were withdrawn.
    pub async fn cancel_pending_reminders_batch(
        &mut self,
        appointment_ids: &[i64],
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        self.cancel_reminders_of(appointment_ids, false, detail, now).await
    }

    /// [`Tx::cancel_stale_reminders`] for many appointments at once, each against its
    /// start time as stored now. Returns how many reminders were withdrawn.
    pub async fn cancel_stale_reminders_batch(
        &mut self,
        appointment_ids: &[i64],
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        self.cancel_reminders_of(appointment_ids, true, detail, now).await
    }

    async fn cancel_reminders_of(
        &mut self,
        appointment_ids: &[i64],
        only_stale: bool,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        // Without statistics SQLite prefers `outbox_due (state = ?)` over a long
        // `appointment_id in (…)` list, and would walk every pending reminder of every
        // source once per batch; name the index it must use.
        let head = match self {
            Tx::Sqlite(_) => "update outbox indexed by outbox_appointment set",
            Tx::Postgres(_) => "update outbox set",
        };
        let mut cancelled = 0;
        for chunk in appointment_ids.chunks(ID_BATCH) {
            cancelled += on_tx!(self, c => {
                let mut q = QueryBuilder::new(head);
                q.push(" state = 'cancelled', detail = ");
                q.push_bind(detail).push(", updated_at = ").push_bind(now);
                q.push(" where kind = 'reminder' and state = 'pending' and appointment_id in (");
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                q.push(")");
                if only_stale {
                    q.push(
                        " and appointment_start <> \
                         (select a.starts_at from appointments a where a.id = outbox.appointment_id)",
                    );
                }
                q.build().execute(c).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(cancelled)
    }

    /// Withdraws pending reminders of rules that no longer exist.
    pub async fn cancel_reminders_of_unknown_rules(
        &mut self,
        known: &[&str],
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let rules: Vec<String> =
            on_tx!(self, c => sqlx::query_scalar(PENDING_RULES).fetch_all(&mut *c).await)?;
        let mut cancelled = 0;
        for rule in rules.iter().filter(|r| !known.contains(&r.as_str())) {
            let detail = format!("rule `{rule}` was removed");
            let done = on_tx!(self, c => sqlx::query(CANCEL_RULE)
                .bind(rule).bind(&detail).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
            cancelled += done;
        }
        Ok(cancelled)
    }

    /// Reads a message for an update that depends on its current value (locking the row
    /// on PostgreSQL; SQLite's write transaction already excludes other writers).
    pub async fn outbox_for_update(&mut self, id: i64) -> Result<Option<OutboxMessage>> {
        let row: Option<OutboxRow> = match self {
            Tx::Sqlite(t) => sqlx::query_as(SELECT_BY_ID).bind(id).fetch_optional(&mut **t).await?,
            Tx::Postgres(t) => {
                sqlx::query_as(SELECT_BY_ID_FOR_UPDATE_PG).bind(id).fetch_optional(&mut **t).await?
            }
        };
        row.map(OutboxRow::into_domain).transpose()
    }

    /// Applies a delivery status if it moves the message forward (see
    /// [`Delivery::advances`]); returns whether it did.
    pub async fn apply_delivery(
        &mut self,
        id: i64,
        delivery: Delivery,
        at: DateTime<Utc>,
        error_code: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let Some(current) = self.outbox_for_update(id).await? else {
            return Ok(false);
        };
        if !Delivery::advances(current.delivery, delivery) {
            return Ok(false);
        }
        on_tx!(self, c => sqlx::query(SET_DELIVERY)
            .bind(id).bind(delivery.as_str()).bind(at).bind(error_code).bind(now)
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(true)
    }

    /// Records the provider's id for a message whose send response was lost.
    pub async fn adopt_message_id(
        &mut self,
        id: i64,
        message_id: &str,
        channel: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = on_tx!(self, c => sqlx::query(ADOPT_MESSAGE_ID)
            .bind(id).bind(message_id).bind(channel).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }
}
