//! What staff do from the report besides deciding on requested times: note that a
//! customer confirmed or cancelled by phone. Every action is in the audit log.

use chrono::{DateTime, Utc};

use crate::domain::Reply;
use crate::store::{AuditEntry, Store, StoreError};

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
