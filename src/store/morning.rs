//! The morning e-mail's day (`morning_report`): who sends it, and how it went.
//!
//! The claim is one statement: it inserts the day's row, or takes over a row that failed
//! or whose sender's lease ran out, and returns the attempt number only to the caller
//! that got it. On PostgreSQL a second replica's insert waits for the first one's and
//! then finds the day taken; SQLite has one writer. The attempt number fences the
//! outcome: a sender whose lease was taken over cannot overwrite the new one's.

use chrono::{DateTime, NaiveDate, Utc};

use super::{Result, Store, on_pool, word};

crate::domain::word_enum! {
    /// Where a day's morning e-mail stands.
    pub enum MorningState {
        /// A sender holds the day (until its lease runs out).
        Sending = "sending",
        /// The SMTP server accepted it.
        Sent = "sent",
        /// The last try failed; the day is free for the next one.
        Failed = "failed",
    }
}

/// One day's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MorningRecord {
    pub day: NaiveDate,
    pub state: MorningState,
    pub attempts: i64,
    pub sent_at: Option<DateTime<Utc>>,
    /// Why the last try failed (an SMTP answer; never an address).
    pub error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    day: NaiveDate,
    state: String,
    attempts: i64,
    sent_at: Option<DateTime<Utc>>,
    error: Option<String>,
    updated_at: DateTime<Utc>,
}

impl Row {
    fn into_record(self) -> Result<MorningRecord> {
        Ok(MorningRecord {
            day: self.day,
            state: word("morning_report", "state", &self.state)?,
            attempts: self.attempts,
            sent_at: self.sent_at,
            error: self.error,
            updated_at: self.updated_at,
        })
    }
}

/// Claims day `$1` at `$2` until `$3`: a new row, or one whose last try failed or whose
/// sender's lease ran out. A sent day, or one held under a live lease, returns no row.
const CLAIM: &str = r#"
    insert into morning_report (day, state, attempts, lease_until, updated_at)
    values ($1, 'sending', 1, $3, $2)
    on conflict (day) do update set
        state = 'sending',
        attempts = morning_report.attempts + 1,
        lease_until = excluded.lease_until,
        error = null,
        updated_at = excluded.updated_at
    where morning_report.state = 'failed'
       or (morning_report.state = 'sending' and morning_report.lease_until < excluded.updated_at)
    returning attempts"#;

/// How attempt `$2` of day `$1` ended, if it still holds the day.
const FINISH: &str = r#"
    update morning_report
    set state = $3, error = $4, sent_at = $5, lease_until = null, updated_at = $6
    where day = $1 and attempts = $2 and state = 'sending'"#;

/// A failed day sent by hand (`reminderd morning-report`): it counts as sent.
const SENT_BY_HAND: &str = r#"
    update morning_report set state = 'sent', error = null, sent_at = $2, updated_at = $2
    where day = $1 and state = 'failed'"#;

const SELECT: &str = r#"
    select day, state, attempts, sent_at, error, updated_at from morning_report where day = $1"#;

impl Store {
    /// Claims the morning e-mail of `day` until `lease_until`: the attempt number when
    /// this caller is to send it, `None` when it was sent or another sender holds it.
    pub async fn claim_morning(
        &self,
        day: NaiveDate,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        Ok(on_pool!(self, c => sqlx::query_scalar(CLAIM)
            .bind(day)
            .bind(now)
            .bind(lease_until)
            .fetch_optional(c)
            .await)?)
    }

    /// Records how attempt `attempt` ended: sent (`Ok`) or failed with the reason, which
    /// frees the day. False when the attempt no longer held the day (nothing changed).
    pub async fn finish_morning(
        &self,
        day: NaiveDate,
        attempt: i64,
        outcome: std::result::Result<(), &str>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let (state, error, sent_at) = match outcome {
            Ok(()) => (MorningState::Sent, None, Some(now)),
            Err(e) => (MorningState::Failed, Some(e), None),
        };
        let n = on_pool!(self, c => sqlx::query(FINISH)
            .bind(day)
            .bind(attempt)
            .bind(state.as_str())
            .bind(error)
            .bind(sent_at)
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// A day whose morning e-mail failed was sent by hand: it is no longer a problem.
    pub async fn morning_sent_by_hand(&self, day: NaiveDate, now: DateTime<Utc>) -> Result<()> {
        on_pool!(self, c => sqlx::query(SENT_BY_HAND)
            .bind(day)
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The row of `day`, if its morning e-mail was ever tried.
    pub async fn morning_report(&self, day: NaiveDate) -> Result<Option<MorningRecord>> {
        let row: Option<Row> =
            on_pool!(self, c => sqlx::query_as(SELECT).bind(day).fetch_optional(c).await)?;
        row.map(Row::into_record).transpose()
    }
}
