//! What staff do from the report besides deciding on requested times: note that a
//! customer confirmed or cancelled by phone, and send a reminder again. Every action is
//! in the audit log.

use chrono::{DateTime, Utc};

use crate::domain::{OutboxKind, OutboxMessage, OutboxState, Reply};
use crate::store::{AuditEntry, NewOutbox, Store, StoreError};

/// What the customer said on the phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhoneMark {
    Confirmed,
    Cancelled,
}

impl PhoneMark {
    fn action(self) -> &'static str {
        match self {
            PhoneMark::Confirmed => "confirmed_by_phone",
            PhoneMark::Cancelled => "cancelled_by_phone",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MarkError {
    #[error("there is no appointment {0}")]
    NoAppointment(i64),
    #[error("appointment {0} no longer lies ahead or was cancelled")]
    NotUpcoming(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records `mark` for appointment `id` by staff member `staff`. A cancellation
/// withdraws the reminders still planned; the customer gets no message (they called).
pub async fn mark(
    store: &Store,
    id: i64,
    mark: PhoneMark,
    staff: &str,
    now: DateTime<Utc>,
) -> Result<(), MarkError> {
    let mut tx = store.begin().await?;
    let appointment = tx.appointment(id).await?.ok_or(MarkError::NoAppointment(id))?;
    if !appointment.is_upcoming(now) {
        return Err(MarkError::NotUpcoming(id));
    }
    match mark {
        PhoneMark::Confirmed => tx.set_reply(id, Reply::Confirmed, now).await?,
        PhoneMark::Cancelled => {
            tx.set_reply(id, Reply::Cancelled, now).await?;
            let note = format!("cancelled by phone (noted by {staff})");
            tx.cancel_pending_reminders(id, &note, now).await?;
        }
    }
    let entry = AuditEntry {
        at: now,
        staff: staff.to_string(),
        action: mark.action().into(),
        appointment_id: Some(id),
        detail: None,
    };
    tx.audit(&entry).await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum ResendError {
    #[error("there is no appointment {0}")]
    NoAppointment(i64),
    #[error("appointment {0} no longer lies ahead or was cancelled")]
    NotUpcoming(i64),
    #[error("appointment {0} never had a reminder to send again")]
    NoReminder(i64),
    #[error("a reminder for appointment {0} is still on its way")]
    StillGoing(i64),
    #[error("the reminder of appointment {0} was sent again already")]
    AlreadyResent(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether staff may send the last reminder of an appointment again: it lies ahead, the
/// customer has not answered, and that reminder (the latest not withdrawn, as the
/// report shows it) is no longer waiting or on its way: it was sent, failed or skipped.
pub fn can_resend(last_reminder: Option<OutboxState>) -> bool {
    matches!(last_reminder, Some(OutboxState::Sent | OutboxState::Failed | OutboxState::Skipped))
}

/// Sends the last reminder of appointment `id` again, now, at the request of `staff`:
/// a new reminder of the same rule, so the dispatcher chooses the channel and the
/// template afresh (an opt-out since still wins). One resend per earlier reminder: a
/// second click, or a colleague's, finds it done ([`ResendError::AlreadyResent`]).
pub async fn resend(
    store: &Store,
    id: i64,
    staff: &str,
    now: DateTime<Utc>,
) -> Result<i64, ResendError> {
    let messages = store.outbox_for_appointment(id).await?;
    let last = last_reminder(&messages).ok_or(ResendError::NoReminder(id))?;
    if !can_resend(Some(last.state)) {
        return Err(ResendError::StillGoing(id));
    }
    let mut tx = store.begin().await?;
    let appointment = tx.appointment(id).await?.ok_or(ResendError::NoAppointment(id))?;
    if !appointment.is_upcoming(now) || appointment.reply != Reply::None {
        return Err(ResendError::NotUpcoming(id));
    }
    let message = NewOutbox {
        appointment_id: id,
        kind: OutboxKind::Reminder,
        rule: last.rule.clone(),
        dedup_key: format!("resend:{id}:{}", last.id),
        appointment_start: appointment.starts_at,
        due_at: now,
        body: None,
        reply_to: None,
        plan_note: Some(format!("sent again from the report by {staff}")),
        skipped: None,
    };
    let Some(new) = tx.insert_outbox(&message, now).await? else {
        return Err(ResendError::AlreadyResent(id));
    };
    let entry = AuditEntry {
        at: now,
        staff: staff.to_string(),
        action: "resent_reminder".into(),
        appointment_id: Some(id),
        detail: Some(format!("reminder #{} again as #{new}", last.id)),
    };
    tx.audit(&entry).await?;
    tx.commit().await?;
    Ok(new)
}

/// The latest reminder of an appointment not withdrawn (its e-mail twin included), as
/// the report shows it.
fn last_reminder(messages: &[OutboxMessage]) -> Option<&OutboxMessage> {
    messages
        .iter()
        .filter(|m| m.kind == OutboxKind::Reminder && m.state != OutboxState::Cancelled)
        .max_by_key(|m| m.id)
}
