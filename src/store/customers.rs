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

impl Tx {
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
