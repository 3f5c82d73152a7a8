//! Appointments: upserted by the importer, answered by customers, read by everyone.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::QueryBuilder;

use super::{Backend, BoundQuery, Result, Store, StoreError, Tx, on_pool, on_tx, word};
use crate::domain::{Appointment, AppointmentStatus, Reply};

/// An appointment as a source describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct AppointmentInput {
    pub external_id: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub summary: Option<String>,
    pub location: Option<String>,
    pub calendar: String,
    pub customer_name: Option<String>,
    pub customer_phone: Option<String>,
    pub phone_is_mobile: bool,
    pub customer_email: Option<String>,
    pub contact_problem: Option<String>,
    /// `Scheduled`, or `Cancelled` when the calendar says so.
    pub status: AppointmentStatus,
    /// What the source says about the customer's WhatsApp consent, if anything. Not
    /// stored with the appointment: the import records it in the consent ledger.
    pub whatsapp_opt_in: Option<OptInMarker>,
}

/// A source's yes or no to WhatsApp, and how the source says it (a calendar marker, a
/// database column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptInMarker {
    pub opted_in: bool,
    pub method: crate::domain::ConsentMethod,
}

impl AppointmentInput {
    /// A digest of every imported field: equal digests mean nothing changed, so an
    /// unchanged feed costs no writes.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        // borrowed, not cloned: computed for every appointment of every full import
        let (starts_at, ends_at) = (self.starts_at.to_rfc3339(), self.ends_at.to_rfc3339());
        for part in [
            Some(starts_at.as_str()),
            Some(ends_at.as_str()),
            self.summary.as_deref(),
            self.location.as_deref(),
            Some(self.calendar.as_str()),
            self.customer_name.as_deref(),
            self.customer_phone.as_deref(),
            Some(if self.phone_is_mobile { "true" } else { "false" }),
            self.customer_email.as_deref(),
            self.contact_problem.as_deref(),
            Some(self.status.as_str()),
        ]
        .into_iter()
        // only a marker that is there counts, so rows without one keep their digest
        .chain(self.whatsapp_opt_in.map(|m| Some(if m.opted_in { "opt-in" } else { "opt-out" })))
        {
            match part {
                Some(p) => {
                    h.update([1]);
                    h.update(p.as_bytes());
                }
                None => h.update([0]),
            }
            h.update([0xff]);
        }
        hex::encode(&h.finalize()[..16])
    }
}

impl AppointmentInput {
    /// The appointment as stored under `id`, with the customer's answer as stored.
    pub fn stored(
        &self,
        id: i64,
        source: &str,
        reply: Reply,
        reply_at: Option<DateTime<Utc>>,
    ) -> Appointment {
        Appointment {
            id,
            source: source.to_string(),
            external_id: self.external_id.clone(),
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            summary: self.summary.clone(),
            location: self.location.clone(),
            calendar: self.calendar.clone(),
            customer_name: self.customer_name.clone(),
            customer_phone: self.customer_phone.clone(),
            phone_is_mobile: self.phone_is_mobile,
            customer_email: self.customer_email.clone(),
            contact_problem: self.contact_problem.clone(),
            status: self.status,
            reply,
            reply_at,
        }
    }
}

/// What reconciliation needs to know about a stored appointment.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct ExistingAppointment {
    pub id: i64,
    pub external_id: String,
    pub starts_at: DateTime<Utc>,
    pub status: String,
    pub fingerprint: String,
}

#[derive(sqlx::FromRow)]
pub(super) struct AppointmentRow {
    id: i64,
    source: String,
    external_id: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    summary: Option<String>,
    location: Option<String>,
    calendar: String,
    customer_name: Option<String>,
    customer_phone: Option<String>,
    phone_is_mobile: bool,
    customer_email: Option<String>,
    contact_problem: Option<String>,
    status: String,
    reply: String,
    reply_at: Option<DateTime<Utc>>,
}

impl AppointmentRow {
    pub(super) fn into_domain(self) -> Result<Appointment> {
        Ok(Appointment {
            id: self.id,
            source: self.source,
            external_id: self.external_id,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            summary: self.summary,
            location: self.location,
            calendar: self.calendar,
            customer_name: self.customer_name,
            customer_phone: self.customer_phone,
            phone_is_mobile: self.phone_is_mobile,
            customer_email: self.customer_email,
            contact_problem: self.contact_problem,
            status: word("appointments", "status", &self.status)?,
            reply: word("appointments", "reply", &self.reply)?,
            reply_at: self.reply_at,
        })
    }
}

/// What a batched upsert returns: the stored row is the input, except for the
/// customer's answer, which an unchanged start keeps.
#[derive(sqlx::FromRow)]
struct UpsertedRow {
    id: i64,
    external_id: String,
    reply: String,
    reply_at: Option<DateTime<Utc>>,
}

/// The columns of [`AppointmentRow`], from `appointments a`, as a literal for `concat!`.
macro_rules! appointment_columns {
    () => {
        r#"a.id, a.source, a.external_id, a.starts_at, a.ends_at, a.summary, a.location,
           a.calendar, a.customer_name, a.customer_phone, a.phone_is_mobile, a.customer_email,
           a.contact_problem, a.status, a.reply, a.reply_at"#
    };
}
pub(super) use appointment_columns;

const SELECT_BY_ID: &str =
    concat!("select ", appointment_columns!(), " from appointments a where a.id = $1");

const SELECT_BY_EXTERNAL_ID: &str = concat!(
    "select ",
    appointment_columns!(),
    " from appointments a where a.source = $1 and a.external_id = $2"
);

const SELECT_UPCOMING: &str = concat!(
    "select ",
    appointment_columns!(),
    " from appointments a where a.starts_at > $1 and a.status = 'scheduled'",
    " order by a.starts_at, a.id"
);

const SELECT_EXISTING: &str = r#"
    select id, external_id, starts_at, status, fingerprint
    from appointments where source = $1 and starts_at >= $2"#;

/// The column list of an appointment upsert, as a literal for `concat!`.
macro_rules! upsert_columns {
    () => {
        r#"
    insert into appointments (
        source, external_id, starts_at, ends_at, summary, location, calendar, customer_name,
        customer_phone, phone_is_mobile, customer_email, contact_problem, status, fingerprint,
        created_at, updated_at)
    "#
    };
}

/// The head of a [`NewAppointments`] insert: [`upsert_columns!`] with the id, as a
/// literal for `concat!`.
macro_rules! insert_new {
    () => {
        r#"
    into appointments (
        id, source, external_id, starts_at, ends_at, summary, location, calendar,
        customer_name, customer_phone, phone_is_mobile, customer_email, contact_problem,
        status, fingerprint, created_at, updated_at)"#
    };
}

/// On SQLite `or fail`: a failing row ends the statement where it is instead of undoing
/// the statement's earlier rows, so SQLite keeps no statement journal (a copy of each
/// page the statement changes, to undo it) — about a tenth of a first import's database
/// time. The transaction is rolled back on any error anyway.
const INSERT_NEW_SQLITE: &str = concat!("insert or fail", insert_new!());

const INSERT_NEW_PG: &str = concat!(
    "insert",
    insert_new!(),
    // the identity is `generated always`: the reserved ids are given explicitly
    " overriding system value"
);

/// What an upsert does on (source, external id): a changed start time clears the
/// customer's answer. Shared by the single-row and the batched statement so that the
/// two can never drift apart.
macro_rules! upsert_conflict {
    () => {
        r#"
    on conflict (source, external_id) do update set
        reply = case when appointments.starts_at <> excluded.starts_at
                     then 'none' else appointments.reply end,
        reply_at = case when appointments.starts_at <> excluded.starts_at
                        then null else appointments.reply_at end,
        starts_at = excluded.starts_at,
        ends_at = excluded.ends_at,
        summary = excluded.summary,
        location = excluded.location,
        calendar = excluded.calendar,
        customer_name = excluded.customer_name,
        customer_phone = excluded.customer_phone,
        phone_is_mobile = excluded.phone_is_mobile,
        customer_email = excluded.customer_email,
        contact_problem = excluded.contact_problem,
        status = excluded.status,
        fingerprint = excluded.fingerprint,
        updated_at = excluded.updated_at
    "#
    };
}

const UPSERT: &str = concat!(
    upsert_columns!(),
    "values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)",
    upsert_conflict!(),
    "returning id"
);

/// A batched upsert with its values bound, ready to run (see [`UpsertBatch::new`]).
#[derive(Debug)]
pub struct UpsertBatch<'a> {
    source: &'a str,
    inputs: &'a [&'a AppointmentInput],
    query: BoundQuery<'a>,
}

impl<'a> UpsertBatch<'a> {
    /// The upsert of `inputs` (at most [`UPSERT_BATCH`], distinct external ids), for
    /// [`Tx::run_upsert`] on a transaction on `backend`. Binding the values is most of
    /// our side of an upsert: done while the connection still runs the statement
    /// before, it costs no time.
    pub fn new(
        backend: Backend,
        source: &'a str,
        inputs: &'a [&'a AppointmentInput],
        now: DateTime<Utc>,
    ) -> Self {
        let query = match backend {
            Backend::Sqlite => BoundQuery::Sqlite(upsert_query(source, inputs, now)),
            Backend::Postgres => BoundQuery::Postgres(upsert_query(source, inputs, now)),
        };
        UpsertBatch { source, inputs, query }
    }
}

/// The batched upsert statement of `inputs`, on either backend.
fn upsert_query<'a, DB>(
    source: &'a str,
    inputs: &'a [&'a AppointmentInput],
    now: DateTime<Utc>,
) -> QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<&'a str>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    DateTime<Utc>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut q = values_query(upsert_columns!(), source, inputs, None, now);
    // only what the input does not say: decoding whole rows costs more than writing them
    q.push(upsert_conflict!()).push(" returning id, external_id, reply, reply_at");
    q
}

/// A batched insert of new appointments with their ids, its values bound, ready for
/// [`Tx::insert_new_appointments`] (see [`NewAppointments::new`]).
#[derive(Debug)]
pub struct NewAppointments<'a> {
    rows: usize,
    query: BoundQuery<'a>,
}

impl<'a> NewAppointments<'a> {
    /// The insert of `inputs` (none of them stored yet, distinct external ids) under
    /// `ids` (from [`Tx::new_appointment_ids`], one per input), for a transaction on
    /// `backend`. No `on conflict` and no `returning`: the database only writes.
    pub fn new(
        backend: Backend,
        source: &'a str,
        inputs: &'a [&'a AppointmentInput],
        ids: &'a [i64],
        now: DateTime<Utc>,
    ) -> Result<Self> {
        if ids.len() != inputs.len() {
            return Err(StoreError::Invalid(format!(
                "{} ids for {} new appointments",
                ids.len(),
                inputs.len()
            )));
        }
        let query = match backend {
            Backend::Sqlite => {
                BoundQuery::Sqlite(values_query(INSERT_NEW_SQLITE, source, inputs, Some(ids), now))
            }
            Backend::Postgres => {
                BoundQuery::Postgres(values_query(INSERT_NEW_PG, source, inputs, Some(ids), now))
            }
        };
        Ok(NewAppointments { rows: inputs.len(), query })
    }
}

/// `head` followed by the values of `inputs`, each row led by its id when `ids` are
/// given: the batched upsert's and the first import's insert, on either backend.
fn values_query<'a, DB>(
    head: &str,
    source: &'a str,
    inputs: &'a [&'a AppointmentInput],
    ids: Option<&'a [i64]>,
    now: DateTime<Utc>,
) -> QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<&'a str>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    DateTime<Utc>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut q = QueryBuilder::new(head);
    q.push(" ");
    q.push_values(inputs.iter().enumerate(), |mut row, (i, a)| {
        if let Some(ids) = ids {
            row.push_bind(ids[i]);
        }
        row.push_bind(source)
            .push_bind(a.external_id.as_str())
            .push_bind(a.starts_at)
            .push_bind(a.ends_at)
            .push_bind(a.summary.as_deref())
            .push_bind(a.location.as_deref())
            .push_bind(a.calendar.as_str())
            .push_bind(a.customer_name.as_deref())
            .push_bind(a.customer_phone.as_deref())
            .push_bind(a.phone_is_mobile)
            .push_bind(a.customer_email.as_deref())
            .push_bind(a.contact_problem.as_deref())
            .push_bind(a.status.as_str())
            .push_bind(a.fingerprint())
            .push_bind(now)
            .push_bind(now);
    });
    q
}

/// Rows per batched upsert: 16 parameters a row keep one statement far below SQLite's
/// limit of 32,766 bound parameters (PostgreSQL allows 65,535). Larger batches were
/// no faster in the import benchmark (the cost is per row, not per statement) and
/// raised peak memory: 1,000 rows 400 MB, 200 rows 365 MB, 100 rows 357 MB.
pub const UPSERT_BATCH: usize = 100;

/// Ids per `where id in (…)` list.
pub(super) const ID_BATCH: usize = 1_000;

const ANY_OF_SOURCE: &str = "select id from appointments where source = $1 limit 1";

const LARGEST_ID: &str = "select coalesce(max(id), 0) from appointments";

const NEXT_IDS_PG: &str = r#"
    select nextval(pg_get_serial_sequence('appointments', 'id')) from generate_series(1, $1)"#;

const SET_STATUS: &str = r#"
    update appointments set status = $2, updated_at = $3 where id = $1"#;

const SET_REPLY: &str = r#"
    update appointments set reply = $2, reply_at = $3, updated_at = $3 where id = $1"#;

impl Store {
    pub async fn appointment(&self, id: i64) -> Result<Option<Appointment>> {
        let row: Option<AppointmentRow> = on_pool!(self, c =>
            sqlx::query_as(SELECT_BY_ID).bind(id).fetch_optional(c).await)?;
        row.map(AppointmentRow::into_domain).transpose()
    }

    /// The appointment a source knows by `external_id`.
    pub async fn appointment_by_external_id(
        &self,
        source: &str,
        external_id: &str,
    ) -> Result<Option<Appointment>> {
        let row: Option<AppointmentRow> = on_pool!(self, c => sqlx::query_as(SELECT_BY_EXTERNAL_ID)
            .bind(source).bind(external_id).fetch_optional(c).await)?;
        row.map(AppointmentRow::into_domain).transpose()
    }

    /// Scheduled appointments that start after `now`, soonest first.
    pub async fn upcoming_appointments(&self, now: DateTime<Utc>) -> Result<Vec<Appointment>> {
        let rows: Vec<AppointmentRow> = on_pool!(self, c =>
            sqlx::query_as(SELECT_UPCOMING).bind(now).fetch_all(c).await)?;
        rows.into_iter().map(AppointmentRow::into_domain).collect()
    }
}

impl Tx {
    pub async fn appointment(&mut self, id: i64) -> Result<Option<Appointment>> {
        let row: Option<AppointmentRow> = on_tx!(self, c =>
            sqlx::query_as(SELECT_BY_ID).bind(id).fetch_optional(c).await)?;
        row.map(AppointmentRow::into_domain).transpose()
    }

    /// The source's appointments that start at or after `from`, for reconciliation.
    pub async fn existing_appointments(
        &mut self,
        source: &str,
        from: DateTime<Utc>,
    ) -> Result<Vec<ExistingAppointment>> {
        Ok(on_tx!(self, c =>
            sqlx::query_as(SELECT_EXISTING).bind(source).bind(from).fetch_all(c).await)?)
    }

    /// Inserts or updates an appointment by (source, external id). A changed start time
    /// clears the customer's earlier answer: it was about another time.
    pub async fn upsert_appointment(
        &mut self,
        source: &str,
        a: &AppointmentInput,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let fingerprint = a.fingerprint();
        self.forget_next_appointment_id();
        Ok(on_tx!(self, c => sqlx::query_scalar(UPSERT)
            .bind(source)
            .bind(&a.external_id)
            .bind(a.starts_at)
            .bind(a.ends_at)
            .bind(&a.summary)
            .bind(&a.location)
            .bind(&a.calendar)
            .bind(&a.customer_name)
            .bind(&a.customer_phone)
            .bind(a.phone_is_mobile)
            .bind(&a.customer_email)
            .bind(&a.contact_problem)
            .bind(a.status.as_str())
            .bind(&fingerprint)
            .bind(now)
            .fetch_one(c)
            .await)?)
    }

    /// Inserts or updates many appointments by (source, external id), with the same
    /// semantics as [`Tx::upsert_appointment`], [`UPSERT_BATCH`] rows per statement.
    /// Returns the stored appointments (as `returning` sees them after the update: a
    /// kept or cleared reply), in input order.
    ///
    /// The external ids must be distinct: PostgreSQL refuses to update one row twice in
    /// one statement (and on SQLite the second row would silently win).
    pub async fn upsert_appointments(
        &mut self,
        source: &str,
        inputs: &[&AppointmentInput],
        now: DateTime<Utc>,
    ) -> Result<Vec<Appointment>> {
        let mut stored = Vec::with_capacity(inputs.len());
        for chunk in inputs.chunks(UPSERT_BATCH) {
            let upsert = UpsertBatch::new(self.backend(), source, chunk, now);
            stored.extend(self.run_upsert(upsert).await?);
        }
        Ok(stored)
    }

    /// Runs an upsert made by [`UpsertBatch::new`]: see [`Tx::upsert_appointments`].
    pub async fn run_upsert(&mut self, upsert: UpsertBatch<'_>) -> Result<Vec<Appointment>> {
        let UpsertBatch { source, inputs, query } = upsert;
        self.forget_next_appointment_id();
        let rows: Vec<UpsertedRow> = match (self, query) {
            (Tx::Sqlite(t), BoundQuery::Sqlite(mut q)) => {
                q.build_query_as().fetch_all(&mut **t).await?
            }
            (Tx::Postgres(t), BoundQuery::Postgres(mut q)) => {
                q.build_query_as().fetch_all(&mut **t).await?
            }
            _ => unreachable!("an upsert is prepared on the transaction that runs it"),
        };
        // `returning` promises no order: match the rows up by external id (the inputs'
        // ids indexed, not the rows' copied: one allocation less per row)
        let position: HashMap<&str, usize> =
            inputs.iter().enumerate().map(|(i, a)| (a.external_id.as_str(), i)).collect();
        let mut in_order: Vec<Option<UpsertedRow>> = (0..inputs.len()).map(|_| None).collect();
        for row in rows {
            if let Some(&i) = position.get(row.external_id.as_str()) {
                in_order[i] = Some(row);
            }
        }
        let mut stored = Vec::with_capacity(inputs.len());
        for (a, row) in inputs.iter().zip(in_order) {
            let row = row.ok_or_else(|| StoreError::Corrupt {
                table: "appointments",
                column: "external_id",
                detail: format!(
                    "the upsert of `{}` returned no row (repeated in one batch?)",
                    a.external_id
                ),
            })?;
            let reply = word("appointments", "reply", &row.reply)?;
            stored.push(a.stored(row.id, source, reply, row.reply_at));
        }
        Ok(stored)
    }

    /// Whether nothing at all is stored of `source`: its first import, whose
    /// appointments can all be inserted with [`Tx::insert_new_appointments`].
    pub async fn source_is_new(&mut self, source: &str) -> Result<bool> {
        let found: Option<i64> = on_tx!(self, c => sqlx::query_scalar(ANY_OF_SOURCE)
            .bind(source).fetch_optional(c).await)?;
        Ok(found.is_none())
    }

    /// Ids for `n` appointments this transaction is about to insert with
    /// [`Tx::insert_new_appointments`]: knowing them before the insert, the caller can
    /// plan their reminders while the database writes, and no row needs to come back.
    ///
    /// On PostgreSQL they come from the identity's sequence. On SQLite they follow the
    /// largest id in use, read once per transaction: the transaction holds the write
    /// lock (`begin immediate`), so no other connection inserts meanwhile, and an
    /// upsert in this transaction, which may take the next id itself, makes it read
    /// again. (A mistake would fail on the primary key, never overwrite a row.)
    pub async fn new_appointment_ids(&mut self, n: usize) -> Result<Vec<i64>> {
        match self {
            Tx::Sqlite(t) => {
                let next = match t.next_appointment_id {
                    Some(next) => next,
                    None => {
                        let largest: i64 =
                            sqlx::query_scalar(LARGEST_ID).fetch_one(&mut **t).await?;
                        largest + 1
                    }
                };
                let after = next + n as i64;
                t.next_appointment_id = Some(after);
                Ok((next..after).collect())
            }
            Tx::Postgres(t) => {
                Ok(sqlx::query_scalar(NEXT_IDS_PG).bind(n as i64).fetch_all(&mut **t).await?)
            }
        }
    }

    /// After an upsert, which may have taken the id SQLite would hand out next.
    fn forget_next_appointment_id(&mut self) {
        if let Tx::Sqlite(t) = self {
            t.next_appointment_id = None;
        }
    }

    /// Inserts appointments made by [`NewAppointments::new`]. Fails if one of them
    /// exists already; on SQLite the rows before it stay (`or fail`), so after an error
    /// the caller's transaction must be rolled back, as a reconciliation's is.
    pub async fn insert_new_appointments(&mut self, new: NewAppointments<'_>) -> Result<()> {
        let NewAppointments { rows, query } = new;
        let inserted = self.execute_bound(query).await?;
        if inserted != rows as u64 {
            return Err(StoreError::Corrupt {
                table: "appointments",
                column: "id",
                detail: format!("{inserted} of {rows} new appointments were inserted"),
            });
        }
        Ok(())
    }

    pub async fn set_appointment_status(
        &mut self,
        id: i64,
        status: AppointmentStatus,
        now: DateTime<Utc>,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(SET_STATUS)
            .bind(id).bind(status.as_str()).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn set_reply(&mut self, id: i64, reply: Reply, now: DateTime<Utc>) -> Result<()> {
        on_tx!(self, c => sqlx::query(SET_REPLY)
            .bind(id).bind(reply.as_str()).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }
}
