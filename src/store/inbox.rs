//! The inbox: raw webhook deliveries, stored before they are acknowledged and
//! processed afterwards, and the keys of the events already applied (Meta delivers
//! the same event more than once).

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

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

impl Store {
    /// Stores a raw delivery durably. Identical bytes are stored once.
    pub async fn insert_inbox(
        &self,
        provider: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Inserted> {
        let digest = hex::encode(Sha256::digest(body));
        let id: Option<i64> = on_pool!(self, c => sqlx::query_scalar(INSERT)
            .bind(provider).bind(body).bind(&digest).bind(now)
            .fetch_optional(c).await)?;
        Ok(id.map_or(Inserted::Duplicate, Inserted::New))
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
