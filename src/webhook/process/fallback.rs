//! A WhatsApp reminder Meta could not deliver because the customer cannot be reached
//! on WhatsApp (131026 "message undeliverable", 131049, …: the error table's
//! `FallBackCustomer`) goes again by e-mail, while the appointment is still far enough
//! ahead. The e-mail is the reminder's twin in the outbox (`email:<id>`), so a status
//! reported twice enqueues it once; the dispatcher then checks the address, the e-mail
//! opt-out and whether e-mail is configured, and records why when it cannot go.

use chrono::{DateTime, Duration, Utc};
use tracing::info;

use super::InboxProcessor;
use crate::domain::{Delivery, OutboxKind};
use crate::scheduler::dispatch::{EMAIL_CHANNEL, parse_callback_data, unreachable_codes};
use crate::store::{StoreError, Tx};
use crate::whatsapp::webhook::StatusUpdate;

impl InboxProcessor {
    /// After a `failed` status: the e-mail, when the code says the customer cannot be
    /// reached on WhatsApp.
    pub(super) async fn email_after_failure(
        &self,
        tx: &mut Tx,
        s: &StatusUpdate,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(code) = s.error_codes.first().copied() else { return Ok(()) };
        if s.delivery() != Some(Delivery::Failed) || !unreachable_codes().contains(&code) {
            return Ok(());
        }
        let found = match tx.outbox_by_message_id(&s.id).await? {
            Some(m) => Some(m),
            None => match s.biz_opaque_callback_data.as_deref().and_then(parse_callback_data) {
                Some(id) => tx.outbox(id).await?,
                None => None,
            },
        };
        let Some(reminder) = found else { return Ok(()) };
        if reminder.kind != OutboxKind::Reminder
            || reminder.channel.as_deref() == Some(EMAIL_CHANNEL)
        {
            return Ok(());
        }
        let Some(appointment) = tx.appointment(reminder.appointment_id).await? else {
            return Ok(());
        };
        let notice = Duration::from_std(self.options.min_notice).unwrap_or_default();
        if !appointment.is_upcoming(now)
            || appointment.starts_at != reminder.appointment_start
            || appointment.starts_at - now < notice
        {
            return Ok(());
        }
        let note = format!("by e-mail: WhatsApp could not deliver the reminder (code {code})");
        if let Some(id) = tx.insert_email_for(reminder.id, &note, now).await? {
            info!(
                outbox.id = reminder.id,
                email.outbox_id = id,
                error.code = code,
                "WhatsApp could not reach the customer; the reminder goes by e-mail"
            );
            self.dispatcher.notify_one();
        }
        Ok(())
    }
}
