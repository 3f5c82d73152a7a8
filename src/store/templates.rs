//! What Meta says about our WhatsApp templates (`templates`), by name and language.

use chrono::{DateTime, Utc};

use super::{Result, Store, Tx, on_pool, on_tx};

/// One template as last reported by Meta. A field Meta did not report (yet) is `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct TemplateRecord {
    pub name: String,
    pub language: String,
    pub template_id: Option<String>,
    /// `APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`, … as Meta writes it.
    pub status: Option<String>,
    /// `UTILITY`, or `MARKETING` when Meta re-categorised it.
    pub category: Option<String>,
    /// `GREEN`, `YELLOW`, `RED`, `UNKNOWN`.
    pub quality: Option<String>,
    /// Why it is not usable: Meta's reason, or the error code a send got.
    pub reason: Option<String>,
}

const SELECT_ALL: &str = "select name, language, template_id, status, category, quality, reason \
                          from templates order by name, language";

const SELECT_BY_ID: &str = "select name, language, template_id, status, category, quality, reason \
                            from templates where template_id = $1";

/// Fields given replace the stored ones; fields left out (`null`) keep them; the reason
/// goes with the status.
const UPSERT: &str = r#"
    insert into templates (name, language, template_id, status, category, quality, reason,
                           updated_at)
    values ($1, $2, $3, $4, $5, $6, $7, $8)
    on conflict (name, language) do update set
        template_id = coalesce(excluded.template_id, templates.template_id),
        status = coalesce(excluded.status, templates.status),
        category = coalesce(excluded.category, templates.category),
        quality = coalesce(excluded.quality, templates.quality),
        reason = case when excluded.status is null then templates.reason else excluded.reason end,
        updated_at = excluded.updated_at"#;

impl Store {
    pub async fn templates(&self) -> Result<Vec<TemplateRecord>> {
        Ok(on_pool!(self, c => sqlx::query_as(SELECT_ALL).fetch_all(c).await)?)
    }

    /// Records what Meta reported (see [`Tx::record_template`]).
    pub async fn record_template(&self, t: &TemplateRecord, now: DateTime<Utc>) -> Result<()> {
        let mut tx = self.begin().await?;
        tx.record_template(t, now).await?;
        tx.commit().await
    }
}

impl Tx {
    /// The template Meta knows by `template_id` (template webhooks may name only that).
    pub async fn template_by_id(&mut self, template_id: &str) -> Result<Option<TemplateRecord>> {
        Ok(
            on_tx!(self, c => sqlx::query_as(SELECT_BY_ID).bind(template_id).fetch_optional(c).await)?,
        )
    }

    /// Merges a report into the stored record: the fields given replace the stored
    /// ones; the reason goes with the status (a new status without a reason clears an
    /// old reason).
    pub async fn record_template(&mut self, t: &TemplateRecord, now: DateTime<Utc>) -> Result<()> {
        on_tx!(self, c => sqlx::query(UPSERT)
            .bind(&t.name).bind(&t.language).bind(&t.template_id).bind(&t.status)
            .bind(&t.category).bind(&t.quality).bind(&t.reason).bind(now)
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }
}
