//! What is known about each source's imports: when it last worked, why it last
//! failed, and the validators for a conditional GET.

use chrono::{DateTime, Utc};

use super::{Result, Store, Tx, on_pool, on_tx};

#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct SourceState {
    pub source: String,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed; `None` after a success.
    pub last_error: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Events in the last good import.
    pub events: i64,
}

const SELECT_ALL: &str = r#"
    select source, last_attempt_at, last_success_at, last_error, etag, last_modified, events
    from source_state order by source"#;

const SELECT_ONE: &str = r#"
    select source, last_attempt_at, last_success_at, last_error, etag, last_modified, events
    from source_state where source = $1"#;

const SUCCESS: &str = r#"
    insert into source_state (source, last_attempt_at, last_success_at, last_error, etag,
                              last_modified, events)
    values ($1, $2, $2, null, $3, $4, $5)
    on conflict (source) do update set
        last_attempt_at = excluded.last_attempt_at,
        last_success_at = excluded.last_success_at,
        last_error = null,
        etag = excluded.etag,
        last_modified = excluded.last_modified,
        events = excluded.events"#;

const UNCHANGED: &str = r#"
    update source_state set last_attempt_at = $2, last_success_at = $2, last_error = null
    where source = $1"#;

const FAILURE: &str = r#"
    insert into source_state (source, last_attempt_at, last_error) values ($1, $2, $3)
    on conflict (source) do update set
        last_attempt_at = excluded.last_attempt_at,
        last_error = excluded.last_error"#;

impl Store {
    pub async fn source_states(&self) -> Result<Vec<SourceState>> {
        Ok(on_pool!(self, c => sqlx::query_as(SELECT_ALL).fetch_all(c).await)?)
    }

    pub async fn source_state(&self, source: &str) -> Result<Option<SourceState>> {
        Ok(on_pool!(self, c => sqlx::query_as(SELECT_ONE).bind(source).fetch_optional(c).await)?)
    }

    /// The feed has not changed since the last good import (HTTP 304).
    pub async fn record_import_unchanged(&self, source: &str, now: DateTime<Utc>) -> Result<()> {
        on_pool!(self, c => sqlx::query(UNCHANGED).bind(source).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The import failed; the last good import stays in place.
    pub async fn record_import_failure(
        &self,
        source: &str,
        now: DateTime<Utc>,
        error: &str,
    ) -> Result<()> {
        on_pool!(self, c => sqlx::query(FAILURE).bind(source).bind(now).bind(error).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }
}

impl Tx {
    pub async fn record_import_success(
        &mut self,
        source: &str,
        now: DateTime<Utc>,
        etag: Option<&str>,
        last_modified: Option<&str>,
        events: i64,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(SUCCESS)
            .bind(source).bind(now).bind(etag).bind(last_modified).bind(events)
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }
}
