//! The read model of the staff report: appointments of a period with the state of
//! their latest reminder.

use chrono::{DateTime, Utc};

use super::appointments::{AppointmentRow, appointment_columns};
use super::{Result, Store, on_pool, word};
use crate::domain::{Appointment, AppointmentStatus, Delivery, OutboxState, Reply};

/// One line of the report.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportRow {
    pub appointment: Appointment,
    /// The latest reminder's queue state, if one was planned.
    pub reminder_state: Option<OutboxState>,
    pub reminder_delivery: Option<Delivery>,
    pub reminder_sent_at: Option<DateTime<Utc>>,
    pub reminder_error_code: Option<i64>,
    pub reminder_detail: Option<String>,
    /// `email` for a reminder sent (or to be sent) by e-mail.
    pub reminder_channel: Option<String>,
    /// The rescheduling conversation's state (`requested`, `call_back`, `accepted`, …)
    /// and the time the customer chose, if there is one.
    pub reschedule_state: Option<String>,
    pub reschedule_requested: Option<DateTime<Utc>>,
    /// When the offered times ran out.
    pub reschedule_expires: Option<DateTime<Utc>>,
    /// The customer's latest message reminderd did not understand, for staff to read.
    pub customer_note: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    #[sqlx(flatten)]
    appointment: AppointmentRow,
    reminder_state: Option<String>,
    reminder_delivery: Option<String>,
    reminder_sent_at: Option<DateTime<Utc>>,
    reminder_error_code: Option<i64>,
    reminder_detail: Option<String>,
    reminder_channel: Option<String>,
    reschedule_state: Option<String>,
    reschedule_requested: Option<DateTime<Utc>>,
    reschedule_expires: Option<DateTime<Utc>>,
    customer_note: Option<String>,
}

const BETWEEN: &str = concat!(
    "select ",
    appointment_columns!(),
    r#", o.state as reminder_state, o.delivery as reminder_delivery,
       o.sent_at as reminder_sent_at,
       coalesce(o.delivery_error_code, o.error_code) as reminder_error_code,
       o.detail as reminder_detail, o.channel as reminder_channel,
       c.state as reschedule_state, c.requested_start as reschedule_requested,
       c.expires_at as reschedule_expires,
       (select n.text from customer_notes n where n.appointment_id = a.id
        order by n.received_at desc, n.id desc limit 1) as customer_note
    from appointments a
    left join conversations c on c.appointment_id = a.id
    left join outbox o on o.id = (
        select max(id) from outbox
        where appointment_id = a.id and kind = 'reminder' and state <> 'cancelled')
    where a.starts_at >= $1 and a.starts_at < $2
    order by a.starts_at, a.calendar, a.id"#
);

/// What the chart of the last weeks needs of each appointment, and no more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tally {
    pub starts_at: DateTime<Utc>,
    pub status: AppointmentStatus,
    pub reply: Reply,
}

const TALLY: &str = "select starts_at, status, reply from appointments \
                     where starts_at >= $1 and starts_at < $2";

impl Store {
    /// Start, status and answer of the appointments starting in `[from, to)`, in no
    /// particular order: the chart's two weeks at a busy practice are tens of thousands
    /// of appointments, too many to read whole for a few counts.
    pub async fn tally(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Tally>> {
        let found: Vec<(DateTime<Utc>, String, String)> =
            on_pool!(self, c => sqlx::query_as(TALLY).bind(from).bind(to).fetch_all(c).await)?;
        found
            .into_iter()
            .map(|(starts_at, status, reply)| {
                Ok(Tally {
                    starts_at,
                    status: word("appointments", "status", &status)?,
                    reply: word("appointments", "reply", &reply)?,
                })
            })
            .collect()
    }

    /// Appointments starting in `[from, to)`, earliest first.
    pub async fn report(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<ReportRow>> {
        let found: Vec<Row> =
            on_pool!(self, c => sqlx::query_as(BETWEEN).bind(from).bind(to).fetch_all(c).await)?;
        found
            .into_iter()
            .map(|r| {
                Ok(ReportRow {
                    appointment: r.appointment.into_domain()?,
                    reminder_state: r
                        .reminder_state
                        .as_deref()
                        .map(|s| word("outbox", "state", s))
                        .transpose()?,
                    reminder_delivery: r
                        .reminder_delivery
                        .as_deref()
                        .map(|s| word("outbox", "delivery", s))
                        .transpose()?,
                    reminder_sent_at: r.reminder_sent_at,
                    reminder_error_code: r.reminder_error_code,
                    reminder_detail: r.reminder_detail,
                    reminder_channel: r.reminder_channel,
                    reschedule_state: r.reschedule_state,
                    reschedule_requested: r.reschedule_requested,
                    reschedule_expires: r.reschedule_expires,
                    customer_note: r.customer_note,
                })
            })
            .collect()
    }
}
