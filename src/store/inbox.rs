//! The inbox: raw webhook deliveries, stored before they are acknowledged and
//! processed afterwards, and the keys of the events already applied (Meta delivers
//! the same event more than once).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::Connection;

use super::{Result, Store, Tx, on_pool, on_tx};

/// A stored delivery waiting to be processed.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct InboxRow {
    pub id: i64,
    pub provider: String,
    pub body: Vec<u8>,
    pub received_at: DateTime<Utc>,
    pub attempts: i64,
}

/// The outcome of storing a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    New(i64),
    /// The same bytes were stored before (a redelivery).
    Duplicate,
}

/// One delivery of a batch for [`Store::insert_inbox_batch`].
#[derive(Clone, Copy, Debug)]
pub struct NewInbox<'a> {
    pub body: &'a [u8],
    /// [`inbox_digest`] of `body`, computed by the caller (off the single writer).
    pub sha256: &'a str,
    pub received_at: DateTime<Utc>,
}

/// The key that makes identical bytes one delivery.
pub fn inbox_digest(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Most rows in one multi-row insert. A batch is written in statements of
/// power-of-two sizes up to this, so a connection caches at most eight statement texts
/// for any batch size.
const INSERT_ROWS: usize = 128;

const INSERT: &str = r#"
    insert into inbox (provider, body, body_sha256, received_at)
    values ($1, $2, $3, $4)
    on conflict (body_sha256) do nothing
    returning id"#;

const UNPROCESSED: &str = r#"
    select id, provider, body, received_at, attempts from inbox
    where processed_at is null and attempts < $1
    order by id limit $2"#;

const MARK_PROCESSED: &str = r#"
    update inbox set processed_at = $2, error = $3, attempts = attempts + 1 where id = $1"#;

const MARK_ATTEMPT_FAILED: &str = r#"
    update inbox set error = $2, attempts = attempts + 1 where id = $1"#;

const CLAIM_KEY: &str = r#"
    insert into inbox_events (key, inbox_id, applied_at) values ($1, $2, $3)
    on conflict (key) do nothing"#;

const BODY: &str = "select body from inbox where id = $1";

const COUNT_UNPROCESSED: &str = "select count(*) from inbox where processed_at is null";

/// Inserts `rows` on the connection `$c` (either backend) in multi-row statements of
/// power-of-two sizes; evaluates to the new rows' ids by digest (a body stored before
/// is skipped by `on conflict` and returns nothing).
macro_rules! insert_rows {
    ($c:expr, $provider:expr, $rows:expr) => {{
        let mut ids: HashMap<String, i64> = HashMap::new();
        let mut rest: &[NewInbox<'_>] = $rows;
        while !rest.is_empty() {
            let n = INSERT_ROWS.min(1 << rest.len().ilog2());
            let (chunk, tail) = rest.split_at(n);
            let sql = insert_statement(n);
            let mut query = sqlx::query_as::<_, (i64, String)>(&sql);
            for row in chunk {
                query = query.bind($provider).bind(row.body).bind(row.sha256).bind(row.received_at);
            }
            ids.extend(query.fetch_all(&mut *$c).await?.into_iter().map(|(id, sha)| (sha, id)));
            rest = tail;
        }
        ids
    }};
}

/// `insert into inbox … values (…), (…) … returning id, body_sha256` for `rows` rows.
fn insert_statement(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|r| format!("(${}, ${}, ${}, ${})", 4 * r + 1, 4 * r + 2, 4 * r + 3, 4 * r + 4))
        .collect();
    format!(
        "insert into inbox (provider, body, body_sha256, received_at) values {} \
         on conflict (body_sha256) do nothing returning id, body_sha256",
        values.join(", ")
    )
}

impl Store {
    /// Stores one raw delivery, with the pool's durability (`synchronous = normal` on
    /// SQLite). Identical bytes are stored once. The webhook stores through
    /// [`Store::insert_inbox_batch`].
    pub async fn insert_inbox(
        &self,
        provider: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Inserted> {
        let digest = inbox_digest(body);
        let id: Option<i64> = on_pool!(self, c => sqlx::query_scalar(INSERT)
            .bind(provider).bind(body).bind(&digest).bind(now)
            .fetch_optional(c).await)?;
        Ok(id.map_or(Inserted::Duplicate, Inserted::New))
    }

    /// Stores deliveries in one transaction and one durable commit (the group commit
    /// of the webhook's writer). Identical bytes are stored once, also within the
    /// batch; returns one outcome per delivery, in order (`New` for the first of
    /// identical bodies in the batch, `Duplicate` for the others). On an error nothing
    /// of the batch is stored.
    ///
    /// Durability: the pool runs SQLite with `synchronous = normal`, which survives a
    /// crash of the process but may lose the last commits on power loss; a stored
    /// delivery is acknowledged to Meta as safe, so this commit runs with
    /// `synchronous = full` (the WAL is fsynced before the commit returns). It is a
    /// per-connection pragma that cannot change inside a transaction: it is set on
    /// the connection just acquired and set back after the commit; a connection whose
    /// setting could not be restored is closed rather than returned to the pool. The
    /// connection is taken from the pool per batch and only for the commit (the
    /// writer does not keep one), so the rest of the daemon keeps the other
    /// `database.max_connections - 1`, and closing the pool stops the writer too. Like
    /// every write transaction it waits for its turn first ([`super::SqliteDb`]).
    /// PostgreSQL's default `synchronous_commit = on` already waits for the WAL flush.
    pub async fn insert_inbox_batch(
        &self,
        provider: &str,
        batch: &[NewInbox<'_>],
    ) -> Result<Vec<Inserted>> {
        let mut first: HashMap<&str, usize> = HashMap::with_capacity(batch.len());
        let distinct: Vec<NewInbox<'_>> = batch
            .iter()
            .enumerate()
            .filter(|(i, row)| *first.entry(row.sha256).or_insert(*i) == *i)
            .map(|(_, row)| *row)
            .collect();
        let ids = match self {
            Store::Sqlite(db) => {
                let _turn = db.write_turn().await;
                let mut c = db.acquire().await?;
                sqlx::query("pragma synchronous = full").execute(&mut *c).await?;
                let stored = async {
                    let mut tx = c.begin_with("begin immediate").await?;
                    let ids = insert_rows!(&mut *tx, provider, &distinct);
                    tx.commit().await?;
                    Ok::<_, sqlx::Error>(ids)
                }
                .await;
                // as `Store::connect` set it for every pooled connection
                if let Err(e) = sqlx::query("pragma synchronous = normal").execute(&mut *c).await {
                    tracing::warn!(error = %e, "cannot restore synchronous = normal; closing");
                    c.close_on_drop();
                }
                stored?
            }
            Store::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let ids = insert_rows!(&mut *tx, provider, &distinct);
                tx.commit().await?;
                ids
            }
        };
        Ok(batch
            .iter()
            .enumerate()
            .map(|(i, row)| match ids.get(row.sha256) {
                Some(id) if first[row.sha256] == i => Inserted::New(*id),
                _ => Inserted::Duplicate,
            })
            .collect())
    }

    /// Deliveries not yet processed, oldest first, skipping those that failed
    /// `max_attempts` times (they stay visible for an operator).
    pub async fn unprocessed_inbox(&self, max_attempts: i64, limit: i64) -> Result<Vec<InboxRow>> {
        Ok(on_pool!(self, c => sqlx::query_as(UNPROCESSED)
            .bind(max_attempts).bind(limit).fetch_all(c).await)?)
    }

    /// Records that processing failed for a reason that may pass (it will be retried).
    pub async fn inbox_attempt_failed(&self, id: i64, error: &str) -> Result<()> {
        on_pool!(self, c => sqlx::query(MARK_ATTEMPT_FAILED).bind(id).bind(error).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn inbox_body(&self, id: i64) -> Result<Option<Vec<u8>>> {
        Ok(on_pool!(self, c => sqlx::query_scalar(BODY).bind(id).fetch_optional(c).await)?)
    }

    pub async fn unprocessed_inbox_count(&self) -> Result<i64> {
        Ok(on_pool!(self, c => sqlx::query_scalar(COUNT_UNPROCESSED).fetch_one(c).await)?)
    }
}

impl Tx {
    /// Marks a delivery processed; `error` says why some of it could not be used.
    pub async fn mark_inbox_processed(
        &mut self,
        id: i64,
        now: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(MARK_PROCESSED).bind(id).bind(now).bind(error).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Claims an event key; false when the event was applied before.
    pub async fn claim_event_key(
        &mut self,
        key: &str,
        inbox_id: i64,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = on_tx!(self, c => sqlx::query(CLAIM_KEY)
            .bind(key).bind(inbox_id).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }
}
