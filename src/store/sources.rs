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
    /// SHA-256 (hex) of the last imported body.
    pub body_sha256: Option<String>,
    /// What the last good import could not read, one line each (events skipped).
    pub problems: Option<String>,
}

/// What identifies the imported version of a feed, to skip it when it comes again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedVersion {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// SHA-256 (hex) of the body, for servers that send no validators.
    pub body_sha256: Option<String>,
}

const SELECT_ALL: &str = r#"
    select source, last_attempt_at, last_success_at, last_error, etag, last_modified, events,
           body_sha256, problems
    from source_state order by source"#;

const SELECT_ONE: &str = r#"
    select source, last_attempt_at, last_success_at, last_error, etag, last_modified, events,
           body_sha256, problems
    from source_state where source = $1"#;

const SUCCESS: &str = r#"
    insert into source_state (source, last_attempt_at, last_success_at, last_error, etag,
                              last_modified, events, body_sha256, problems)
    values ($1, $2, $2, null, $3, $4, $5, $6, $7)
    on conflict (source) do update set
        last_attempt_at = excluded.last_attempt_at,
        last_success_at = excluded.last_success_at,
        last_error = null,
        etag = excluded.etag,
        last_modified = excluded.last_modified,
        events = excluded.events,
        body_sha256 = excluded.body_sha256,
        problems = excluded.problems"#;

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

    /// The feed has not changed since the last good import: the error of an earlier
    /// failed attempt no longer holds. (An unchanged feed otherwise writes nothing.)
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
        version: &FeedVersion,
        events: i64,
        problems: &[String],
    ) -> Result<()> {
        // enough for staff to act on; the log has every line
        const SHOWN: usize = 20;
        let mut shown: Vec<&str> = problems.iter().take(SHOWN).map(String::as_str).collect();
        let more = format!("… and {} more", problems.len().saturating_sub(SHOWN));
        if problems.len() > SHOWN {
            shown.push(&more);
        }
        let problems = (!shown.is_empty()).then(|| shown.join("\n"));
        on_tx!(self, c => sqlx::query(SUCCESS)
            .bind(source).bind(now).bind(&version.etag).bind(&version.last_modified).bind(events)
            .bind(&version.body_sha256).bind(&problems)
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }
}
