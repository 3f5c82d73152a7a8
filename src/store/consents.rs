//! The consent ledger (`consents`): appended to, read by the latest record per channel
//! and address.

use chrono::{DateTime, Utc};

use super::{Result, Store, StoreError, Tx, on_pool, on_tx, word};
use crate::domain::consent::SCOPE_REMINDERS;
use crate::domain::{Consent, ConsentChannel, NewConsent};

#[derive(sqlx::FromRow)]
struct ConsentRow {
    id: i64,
    phone: Option<String>,
    email: Option<String>,
    channel: String,
    scope: String,
    status: String,
    method: String,
    evidence: Option<String>,
    recorded_at: DateTime<Utc>,
    recorded_by: String,
}

impl ConsentRow {
    fn into_domain(self) -> Result<Consent> {
        Ok(Consent {
            id: self.id,
            phone: self.phone,
            email: self.email,
            channel: word("consents", "channel", &self.channel)?,
            scope: self.scope,
            status: word("consents", "status", &self.status)?,
            method: word("consents", "method", &self.method)?,
            evidence: self.evidence,
            recorded_at: self.recorded_at,
            recorded_by: self.recorded_by,
        })
    }
}

const COLUMNS: &str =
    "id, phone, email, channel, scope, status, method, evidence, recorded_at, recorded_by";

const INSERT: &str = r#"
    insert into consents (phone, email, channel, scope, status, method, evidence, recorded_at,
                          recorded_by)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    returning id"#;

fn latest_by(column: &str) -> String {
    format!(
        "select {COLUMNS} from consents where {column} = $1 and channel = $2 \
         order by recorded_at desc, id desc limit 1"
    )
}

fn history_by(column: &str) -> String {
    format!("select {COLUMNS} from consents where {column} = $1 order by recorded_at, id")
}

/// The column that keys a channel's consent.
fn key_column(channel: ConsentChannel) -> &'static str {
    match channel {
        ConsentChannel::Whatsapp => "phone",
        ConsentChannel::Email => "email",
    }
}

/// Why a consent cannot be recorded.
fn check(consent: &NewConsent) -> Result<()> {
    if consent.address().is_none_or(str::is_empty) {
        return Err(StoreError::Invalid(format!(
            "a {} consent needs the customer's {}",
            consent.channel,
            match consent.channel {
                ConsentChannel::Whatsapp => "phone number",
                ConsentChannel::Email => "e-mail address",
            }
        )));
    }
    Ok(())
}

impl Tx {
    /// Appends a record; returns its id.
    pub async fn record_consent(&mut self, c: &NewConsent, now: DateTime<Utc>) -> Result<i64> {
        check(c)?;
        Ok(on_tx!(self, conn => sqlx::query_scalar(INSERT)
            .bind(&c.phone).bind(&c.email).bind(c.channel.as_str()).bind(SCOPE_REMINDERS)
            .bind(c.status.as_str()).bind(c.method.as_str()).bind(&c.evidence).bind(now)
            .bind(&c.recorded_by).fetch_one(conn).await)?)
    }

    /// Records what a calendar or database says (a mirror method), unless it says
    /// nothing new: only when the ledger has nothing for the address yet, or its latest
    /// record also came from a mirror and said otherwise. What the customer or staff
    /// said in any other way stands. Returns the new record's id, if one was added.
    pub async fn record_mirrored_consent(
        &mut self,
        c: &NewConsent,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        debug_assert!(c.method.is_mirror());
        check(c)?;
        let address = c.address().unwrap_or_default();
        match self.current_consent(c.channel, address).await? {
            Some(latest) if !latest.method.is_mirror() || latest.status == c.status => Ok(None),
            _ => self.record_consent(c, now).await.map(Some),
        }
    }

    /// The latest record for `address` on `channel`.
    pub async fn current_consent(
        &mut self,
        channel: ConsentChannel,
        address: &str,
    ) -> Result<Option<Consent>> {
        let sql = latest_by(key_column(channel));
        let row: Option<ConsentRow> = on_tx!(self, c => sqlx::query_as(&sql)
            .bind(address).bind(channel.as_str()).fetch_optional(c).await)?;
        row.map(ConsentRow::into_domain).transpose()
    }
}

impl Store {
    /// The latest record for `address` on `channel`.
    pub async fn current_consent(
        &self,
        channel: ConsentChannel,
        address: &str,
    ) -> Result<Option<Consent>> {
        let sql = latest_by(key_column(channel));
        let row: Option<ConsentRow> = on_pool!(self, c => sqlx::query_as(&sql)
            .bind(address).bind(channel.as_str()).fetch_optional(c).await)?;
        row.map(ConsentRow::into_domain).transpose()
    }

    /// Appends one record (see [`Tx::record_consent`]).
    pub async fn record_consent(&self, c: &NewConsent, now: DateTime<Utc>) -> Result<i64> {
        let mut tx = self.begin().await?;
        let id = tx.record_consent(c, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Appends every record in one transaction: all or none.
    pub async fn record_consents(&self, all: &[NewConsent], now: DateTime<Utc>) -> Result<usize> {
        let mut tx = self.begin().await?;
        for c in all {
            tx.record_consent(c, now).await?;
        }
        tx.commit().await?;
        Ok(all.len())
    }

    /// Every record about one person, by phone number (E.164) or e-mail address, oldest
    /// first.
    pub async fn consent_history(&self, phone_or_email: &str) -> Result<Vec<Consent>> {
        let column = if phone_or_email.contains('@') { "email" } else { "phone" };
        let sql = history_by(column);
        let rows: Vec<ConsentRow> = on_pool!(self, c => sqlx::query_as(&sql)
            .bind(phone_or_email).fetch_all(c).await)?;
        rows.into_iter().map(ConsentRow::into_domain).collect()
    }
}
