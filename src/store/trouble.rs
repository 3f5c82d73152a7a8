//! What the outbox says about the channels as a whole, for the report's problems: read
//! from the store, so every replica's report shows what any replica met.

use chrono::{DateTime, Utc};

use super::{Result, Store, on_pool};

/// E-mails the SMTP server did not take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpTrouble {
    /// The first of them was due then: the server has failed since about that time.
    pub since: DateTime<Utc>,
    /// Waiting for their next try.
    pub waiting: i64,
    /// Given up after the last try (in the period asked for).
    pub gave_up: i64,
    /// The server's latest answer (or why it could not be reached).
    pub detail: String,
}

/// Messages Meta refused or failed with one limit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitTrouble {
    pub code: i64,
    /// The first of them was due (or failed) then.
    pub since: DateTime<Utc>,
    /// Waiting for their next try.
    pub waiting: i64,
    /// Failed for good.
    pub failed: i64,
}

/// E-mails waiting after an SMTP failure (the dispatcher's transient errors all start
/// with `SMTP:`), and those given up after `$1`. A recipient the server refused for good
/// (550) fails without "gave up": that is the address, not the server.
const SMTP_WHERE: &str = r#"
    from outbox
    where channel = 'email'
      and ((state in ('pending', 'sending') and detail like 'SMTP%')
        or (state = 'failed' and detail like 'gave up after %: SMTP%' and updated_at > $1))"#;

const SMTP_COUNTS: &str = r#"
    select min(due_at),
           coalesce(sum(case when state = 'failed' then 0 else 1 end), 0),
           coalesce(sum(case when state = 'failed' then 1 else 0 end), 0)"#;

const SMTP_LATEST: &str = "select detail";

/// Per code in `{codes}` (integers from the caller's list, never input): messages with
/// that error still waiting or failed, and messages whose delivery failed with it,
/// changed after `$1`. A message retried and sent since has its error cleared.
const LIMITS: &str = r#"
    select coalesce(d.code, 0), min(d.at),
           coalesce(sum(case when d.state in ('pending', 'sending') then 1 else 0 end), 0),
           coalesce(sum(case when d.state in ('pending', 'sending') then 0 else 1 end), 0)
    from (
        select case when error_code is not null and error_code in ({codes})
                    then error_code else delivery_error_code end as code,
               case when error_code is not null and error_code in ({codes})
                    then due_at else delivery_at end as at,
               state
        from outbox
        where ((error_code is not null and error_code in ({codes})
                and state in ('pending', 'sending', 'failed'))
            or (delivery_error_code is not null and delivery_error_code in ({codes})))
          and updated_at > $1
    ) d
    group by d.code
    order by min(d.at)"#;

impl Store {
    /// The e-mails the SMTP server did not take, if any (see [`SmtpTrouble`]); those
    /// given up count when they failed after `since`.
    pub async fn smtp_trouble(&self, since: DateTime<Utc>) -> Result<Option<SmtpTrouble>> {
        let counts = format!("{SMTP_COUNTS} {SMTP_WHERE}");
        let (first, waiting, gave_up): (Option<DateTime<Utc>>, i64, i64) =
            on_pool!(self, c => sqlx::query_as(&counts).bind(since).fetch_one(c).await)?;
        let Some(first) = first else { return Ok(None) };
        let latest =
            format!("{SMTP_LATEST} {SMTP_WHERE} order by updated_at desc, id desc limit 1");
        let detail: Option<String> =
            on_pool!(self, c => sqlx::query_scalar(&latest).bind(since).fetch_optional(c).await)?;
        Ok(Some(SmtpTrouble { since: first, waiting, gave_up, detail: detail.unwrap_or_default() }))
    }

    /// Per code of `codes`, the messages Meta held back or failed with it since `since`.
    pub async fn limit_trouble(
        &self,
        codes: &[i64],
        since: DateTime<Utc>,
    ) -> Result<Vec<LimitTrouble>> {
        if codes.is_empty() {
            return Ok(Vec::new());
        }
        let list = codes.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        let sql = LIMITS.replace("{codes}", &list);
        let rows: Vec<(i64, Option<DateTime<Utc>>, i64, i64)> =
            on_pool!(self, c => sqlx::query_as(&sql).bind(since).fetch_all(c).await)?;
        Ok(rows
            .into_iter()
            .filter_map(|(code, at, waiting, failed)| {
                Some(LimitTrouble { code, since: at?, waiting, failed })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite makes for `sql` (one line per step).
    async fn plan(store: &Store, sql: &str) -> String {
        let Store::Sqlite(db) = store else { unreachable!("an SQLite store") };
        let steps: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("explain query plan {sql}"))
                .bind(Utc::now())
                .fetch_all(&**db)
                .await
                .unwrap();
        steps.into_iter().map(|(.., step)| step).collect::<Vec<_>>().join("\n")
    }

    /// Read on every load of the report: neither may walk every pending or sent message
    /// (a million at a large practice), whatever SQLite would guess without statistics.
    #[tokio::test]
    async fn the_problems_read_the_outbox_through_its_partial_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.sqlite3").display());
        let store = Store::connect(&url, 1).await.unwrap();
        store.migrate().await.unwrap();
        let smtp = plan(&store, &format!("{SMTP_COUNTS} {SMTP_WHERE}")).await;
        assert!(smtp.contains("USING INDEX outbox_email"), "{smtp}");
        assert!(!smtp.contains("outbox_due"), "{smtp}");
        let reached = plan(&store, super::super::outbox::REACHED_SINCE).await;
        assert!(
            reached.contains("USING INDEX outbox_sent_at (state=? AND sent_at>?)"),
            "{reached}"
        );
    }
}
