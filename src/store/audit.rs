//! The audit log: what staff did, and who.

use chrono::{DateTime, Utc};

use super::{Result, Store, Tx, on_pool, on_tx};

/// One staff action.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub staff: String,
    /// `confirmed_by_phone`, `cancelled_by_phone`, `reschedule_accepted`, …
    pub action: String,
    pub appointment_id: Option<i64>,
    pub detail: Option<String>,
}

const INSERT: &str = r#"
    insert into audit_log (at, staff, action, appointment_id, detail)
    values ($1, $2, $3, $4, $5)"#;

const FOR_APPOINTMENT: &str = r#"
    select at, staff, action, appointment_id, detail from audit_log
    where appointment_id = $1 order by at, id"#;

impl Tx {
    pub async fn audit(&mut self, entry: &AuditEntry) -> Result<()> {
        on_tx!(self, c => sqlx::query(INSERT)
            .bind(entry.at).bind(&entry.staff).bind(&entry.action).bind(entry.appointment_id)
            .bind(&entry.detail).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }
}

impl Store {
    /// What staff did about one appointment, oldest first.
    pub async fn audit_for(&self, appointment_id: i64) -> Result<Vec<AuditEntry>> {
        Ok(on_pool!(self, c => sqlx::query_as(FOR_APPOINTMENT)
            .bind(appointment_id).fetch_all(c).await)?)
    }
}
