//! `reminderd simulate-tap`: posts the webhook Meta would post when a customer taps a
//! button on a reminder — correctly signed, to the running daemon — so the whole loop
//! can be tried without a phone or a Meta account.

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::domain::{Action, Appointment, ButtonPayload, OutboxKind, OutboxMessage, PayloadKey};
use crate::store::Store;
use crate::whatsapp::signature;

/// A tap to simulate.
#[derive(Clone, Debug)]
pub struct Tap {
    pub reminder: OutboxMessage,
    pub appointment: Appointment,
    pub action: Action,
    /// The id the business phone number has (`metadata.phone_number_id`).
    pub phone_number_id: String,
    pub at: DateTime<Utc>,
}

impl Tap {
    /// Reads the reminder and its appointment from the store.
    pub async fn load(
        store: &Store,
        reminder_id: i64,
        action: Action,
        phone_number_id: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Tap> {
        let reminder = store
            .outbox(reminder_id)
            .await?
            .with_context(|| format!("there is no reminder {reminder_id}"))?;
        if reminder.kind != OutboxKind::Reminder {
            bail!("message {reminder_id} is a {}, not a reminder with buttons", reminder.kind);
        }
        let appointment = store
            .appointment(reminder.appointment_id)
            .await?
            .context("the reminder's appointment is gone")?;
        Ok(Tap { reminder, appointment, action, phone_number_id: phone_number_id.to_string(), at })
    }

    /// The webhook body, shaped like Meta's (see the conformance corpus' button files).
    pub fn body(&self, key: &PayloadKey) -> String {
        let payload = ButtonPayload::new(self.action, self.reminder.id).encode(key);
        let from = self
            .appointment
            .customer_phone
            .as_deref()
            .unwrap_or_default()
            .trim_start_matches('+')
            .to_string();
        let label = match self.action {
            Action::Confirm => "Bevestigen",
            Action::Cancel => "Annuleren",
            Action::Reschedule => "Verzetten",
        };
        let mut context = json!({ "from": self.phone_number_id });
        if let Some(id) = &self.reminder.message_id {
            context["id"] = json!(id);
        }
        json!({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": "0",
                "changes": [{
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": { "display_phone_number": "", "phone_number_id": self.phone_number_id },
                        "contacts": [{ "profile": { "name": self.appointment.customer_name }, "wa_id": from }],
                        "messages": [{
                            "context": context,
                            "from": from,
                            "id": format!("wamid.simulated-{}-{}-{}", self.reminder.id, self.action, self.at.timestamp_micros()),
                            "timestamp": self.at.timestamp().to_string(),
                            "type": "button",
                            "button": { "payload": payload, "text": label }
                        }]
                    }
                }]
            }]
        })
        .to_string()
    }
}

/// Posts a body, signed with `app_secret`, to the webhook at `url`; returns the status.
pub async fn post_signed(url: &str, app_secret: &[u8], body: String) -> anyhow::Result<u16> {
    let signature = signature::sign(app_secret, body.as_bytes());
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach the daemon at {url}; is it running?"))?;
    Ok(response.status().as_u16())
}
