//! A customer's appointments, found by their phone number (a free-text message names no
//! appointment).

use chrono::{DateTime, Utc};

use super::appointments::{AppointmentRow, appointment_columns};
use super::{Result, Tx, on_tx};
use crate::domain::Appointment;

const UPCOMING_FOR_PHONE: &str = concat!(
    "select ",
    appointment_columns!(),
    " from appointments a where a.customer_phone = $1 and a.starts_at > $2",
    " and a.status = 'scheduled' and a.reply <> 'cancelled' order by a.starts_at, a.id"
);

/// The customer's next appointment, or else their latest one.
const NEAREST_FOR_PHONE: &str = concat!(
    "select ",
    appointment_columns!(),
    " from appointments a where a.customer_phone = $1",
    " order by case when a.starts_at > $2 then 0 else 1 end,",
    " case when a.starts_at > $2 then a.starts_at end,",
    " a.starts_at desc, a.id limit 1"
);

impl Tx {
    /// The appointment a message to this customer belongs with: their next one, or else
    /// their latest.
    pub async fn appointment_for_phone(
        &mut self,
        phone: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Appointment>> {
        let row: Option<AppointmentRow> = on_tx!(self, c =>
            sqlx::query_as(NEAREST_FOR_PHONE).bind(phone).bind(now).fetch_optional(c).await)?;
        row.map(AppointmentRow::into_domain).transpose()
    }

    /// The customer's appointments that still lie ahead, soonest first.
    pub async fn upcoming_for_phone(
        &mut self,
        phone: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Appointment>> {
        let rows: Vec<AppointmentRow> = on_tx!(self, c =>
            sqlx::query_as(UPCOMING_FOR_PHONE).bind(phone).bind(now).fetch_all(c).await)?;
        rows.into_iter().map(AppointmentRow::into_domain).collect()
    }
}
