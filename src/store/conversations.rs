//! Rescheduling conversations, one per appointment, and the busy times the free slots
//! are computed around.

use chrono::{DateTime, Utc};

use super::appointments::{AppointmentRow, appointment_columns};
use super::{Result, Store, StoreError, Tx, on_pool, on_tx};
use crate::domain::Appointment;
use crate::reschedule::{Conversation, Slot, State};

#[derive(sqlx::FromRow)]
struct ConversationRow {
    appointment_id: i64,
    appointment_start: DateTime<Utc>,
    offered: String,
    expires_at: DateTime<Utc>,
    customer_at: DateTime<Utc>,
    state: String,
    requested_start: Option<DateTime<Utc>>,
    requested_end: Option<DateTime<Utc>>,
    requested_label: Option<String>,
}

/// A conversation as stored, with the moment of the customer's latest message in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredConversation {
    pub conversation: Conversation,
    /// The customer's 24-hour service window runs from here.
    pub customer_at: DateTime<Utc>,
}

impl ConversationRow {
    fn into_domain(self) -> Result<StoredConversation> {
        let customer_at = self.customer_at;
        let corrupt =
            |column, detail: String| StoreError::Corrupt { table: "conversations", column, detail };
        let offered: Vec<Slot> =
            serde_json::from_str(&self.offered).map_err(|e| corrupt("offered", e.to_string()))?;
        let requested = match (self.requested_start, self.requested_end) {
            (Some(start), Some(end)) => Some(Slot { start, end, label: self.requested_label }),
            _ => None,
        };
        let needs = |slot: Option<Slot>| {
            slot.ok_or_else(|| corrupt("requested_start", format!("{} without a time", self.state)))
        };
        let state = match self.state.as_str() {
            "offered" => State::Offered,
            "requested" => State::Requested(needs(requested)?),
            "call_back" => State::CallBack,
            "accepted" => State::Accepted(needs(requested)?),
            "declined" => State::Declined,
            "expired" => State::Expired,
            other => return Err(corrupt("state", format!("unknown state `{other}`"))),
        };
        let conversation = Conversation {
            appointment_id: self.appointment_id,
            appointment_start: self.appointment_start,
            offered,
            expires_at: self.expires_at,
            state,
        };
        Ok(StoredConversation { conversation, customer_at })
    }
}

/// The word stored for a state.
fn state_word(state: &State) -> &'static str {
    match state {
        State::Offered => "offered",
        State::Requested(_) => "requested",
        State::CallBack => "call_back",
        State::Accepted(_) => "accepted",
        State::Declined => "declined",
        State::Expired => "expired",
    }
}

/// The slot a state holds: the customer's choice, kept after staff declined it too.
fn state_slot(state: &State) -> Option<&Slot> {
    match state {
        State::Requested(slot) | State::Accepted(slot) => Some(slot),
        _ => None,
    }
}

macro_rules! conversation_columns {
    () => {
        r#"c.appointment_id, c.appointment_start, c.offered, c.expires_at, c.customer_at, c.state,
           c.requested_start, c.requested_end, c.requested_label"#
    };
}

const SELECT: &str = concat!(
    "select ",
    conversation_columns!(),
    " from conversations c where c.appointment_id = $1"
);

/// One conversation per appointment: a new offer replaces the last one.
const UPSERT: &str = r#"
    insert into conversations (appointment_id, appointment_start, offered, expires_at,
        customer_at, state, requested_start, requested_end, requested_label, decided_by,
        created_at, updated_at)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
    on conflict (appointment_id) do update set
        appointment_start = excluded.appointment_start,
        offered = excluded.offered,
        expires_at = excluded.expires_at,
        customer_at = excluded.customer_at,
        state = excluded.state,
        requested_start = coalesce(excluded.requested_start, conversations.requested_start),
        requested_end = coalesce(excluded.requested_end, conversations.requested_end),
        requested_label = coalesce(excluded.requested_label, conversations.requested_label),
        decided_by = excluded.decided_by,
        updated_at = excluded.updated_at"#;

/// Appointments that still take place and overlap `[$2, $3)`, of one calendar (`$1`)
/// or at one location (`$4`).
const BUSY: &str = r#"
    select starts_at, ends_at from appointments
    where status = 'scheduled' and reply <> 'cancelled'
      and starts_at < $3 and ends_at > $2
      and (calendar = $1 or location = $4)
    order by starts_at"#;

/// Conversations waiting for staff, with their appointments, soonest appointment first.
const WAITING: &str = concat!(
    "select ",
    conversation_columns!(),
    ", ",
    appointment_columns!(),
    " from conversations c join appointments a on a.id = c.appointment_id",
    " where (c.state in ('requested', 'call_back')",
    "        or (c.state = 'offered' and c.expires_at <= $1))",
    "   and a.starts_at > $1",
    " order by a.starts_at, a.id"
);

#[derive(sqlx::FromRow)]
struct WaitingRow {
    #[sqlx(flatten)]
    conversation: ConversationRow,
    #[sqlx(flatten)]
    appointment: AppointmentRow,
}

impl Tx {
    pub async fn conversation(
        &mut self,
        appointment_id: i64,
    ) -> Result<Option<StoredConversation>> {
        let row: Option<ConversationRow> = on_tx!(self, c =>
            sqlx::query_as(SELECT).bind(appointment_id).fetch_optional(c).await)?;
        row.map(ConversationRow::into_domain).transpose()
    }

    /// Stores the conversation as it is now; `decided_by` names the staff member who
    /// accepted or declined.
    pub async fn save_conversation(
        &mut self,
        stored: &StoredConversation,
        decided_by: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let conversation = &stored.conversation;
        let offered = serde_json::to_string(&conversation.offered).expect("slots serialise");
        let slot = state_slot(&conversation.state);
        on_tx!(self, c => sqlx::query(UPSERT)
            .bind(conversation.appointment_id).bind(conversation.appointment_start)
            .bind(&offered).bind(conversation.expires_at).bind(stored.customer_at)
            .bind(state_word(&conversation.state))
            .bind(slot.map(|s| s.start)).bind(slot.map(|s| s.end))
            .bind(slot.and_then(|s| s.label.as_deref())).bind(decided_by).bind(now)
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The `[start, end)` of every appointment that still takes place in `[from, to)`,
    /// in `calendar` or at `location`.
    pub async fn busy_times(
        &mut self,
        calendar: Option<&str>,
        location: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
        Ok(on_tx!(self, c => sqlx::query_as(BUSY)
            .bind(calendar).bind(from).bind(to).bind(location).fetch_all(c).await)?)
    }
}

impl Store {
    /// [`Tx::busy_times`] outside a transaction: for pages that only read.
    pub async fn busy_times(
        &self,
        calendar: Option<&str>,
        location: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
        Ok(on_pool!(self, c => sqlx::query_as(BUSY)
            .bind(calendar).bind(from).bind(to).bind(location).fetch_all(c).await)?)
    }

    /// Requests waiting for staff: a chosen time to accept or decline, or a customer to
    /// call (none of the times suited, or they chose none before the offer ran out);
    /// only for appointments still ahead of `now`.
    pub async fn waiting_conversations(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(Appointment, StoredConversation)>> {
        let rows: Vec<WaitingRow> =
            on_pool!(self, c => sqlx::query_as(WAITING).bind(now).fetch_all(c).await)?;
        rows.into_iter()
            .map(|r| Ok((r.appointment.into_domain()?, r.conversation.into_domain()?)))
            .collect()
    }
}
