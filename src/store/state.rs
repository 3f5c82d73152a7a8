//! Small facts the daemon keeps about itself, by key (`daemon_state`).

use chrono::{DateTime, Utc};

use super::{Result, Store, Tx, on_pool, on_tx};

const GET: &str = "select value from daemon_state where key = $1";

const SET: &str = r#"
    insert into daemon_state (key, value, updated_at) values ($1, $2, $3)
    on conflict (key) do update set value = excluded.value, updated_at = excluded.updated_at"#;

impl Store {
    /// Whether reminderd's tables exist (the daemon or `migrate` created them): an
    /// error naming the missing table otherwise. One tiny query.
    pub async fn check_schema(&self) -> Result<()> {
        self.state_value("").await.map(drop)
    }

    pub async fn state_value(&self, key: &str) -> Result<Option<String>> {
        Ok(on_pool!(self, c => sqlx::query_scalar(GET).bind(key).fetch_optional(c).await)?)
    }
}

impl Tx {
    pub async fn set_state_value(
        &mut self,
        key: &str,
        value: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(SET).bind(key).bind(value).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }
}
