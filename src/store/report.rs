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

/// How many appointments of one day (an index into the days asked for) had one status
/// and one answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayTally {
    pub day: usize,
    pub status: AppointmentStatus,
    pub reply: Reply,
    pub count: u32,
}

impl Store {
    /// The appointments of each day between consecutive `bounds` (the instants the
    /// days start, and the end of the last), counted by status and answer. Counted by
    /// the database: the chart's two weeks at a busy practice are tens of thousands of
    /// appointments, too many to read for a few numbers.
    pub async fn tally_by_day(&self, bounds: &[DateTime<Utc>]) -> Result<Vec<DayTally>> {
        let days = bounds.len().saturating_sub(1);
        if days == 0 {
            return Ok(Vec::new());
        }
        // one indexed range per day (a `case` over the bounds per row was twice as
        // slow on SQLite); the index on (starts_at, status, reply) covers it
        let sql = (0..days)
            .map(|i| {
                format!(
                    "select cast({i} as bigint) as day, status, reply, count(*) as n \
                     from appointments where starts_at >= ${} and starts_at < ${} \
                     group by status, reply",
                    i + 1,
                    i + 2
                )
            })
            .collect::<Vec<_>>()
            .join(" union all ");
        let found: Vec<(i64, String, String, i64)> = on_pool!(self, c => {
            let mut q = sqlx::query_as(&sql);
            for bound in bounds {
                q = q.bind(*bound);
            }
            q.fetch_all(c).await
        })?;
        found
            .into_iter()
            .map(|(day, status, reply, n)| {
                Ok(DayTally {
                    day: usize::try_from(day).unwrap_or_default(),
                    status: word("appointments", "status", &status)?,
                    reply: word("appointments", "reply", &reply)?,
                    count: u32::try_from(n).unwrap_or(u32::MAX),
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
