//! STOP and START in a customer's own words: the consent ledger records the choice at
//! once (the message is the evidence), and the customer gets one acknowledgement.

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::InboxProcessor;
use crate::domain::phone::mask;
use crate::domain::{ConsentChannel, ConsentMethod, ConsentStatus, NewConsent};
use crate::store::{StoreError, Tx};
use crate::webhook::actions::Answer;
use crate::whatsapp::webhook::InboundMessage;

impl InboxProcessor {
    /// The customer wants no more WhatsApp messages (`status` opted out), or wants them
    /// again. Only a change is acknowledged: a second STOP gets no message at all.
    pub(super) async fn consent_change(
        &self,
        tx: &mut Tx,
        m: &InboundMessage,
        phone: Option<&str>,
        status: ConsentStatus,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let Some(phone) = phone else {
            // Meta may give only a business-scoped user id (WHATSAPP.md §3.4): the
            // ledger keys WhatsApp consent by number, so a person must act on it
            warn!(message.id = %m.id, user = ?m.from_user_id, %status,
                  "an opt-in or opt-out without a phone number; for staff");
            return Ok(0);
        };
        let before = tx.current_consent(ConsentChannel::Whatsapp, phone).await?;
        let consent = NewConsent {
            phone: Some(phone.to_string()),
            email: None,
            channel: ConsentChannel::Whatsapp,
            status,
            method: ConsentMethod::Whatsapp,
            evidence: Some(format!("WhatsApp message {}: \"{text}\"", m.id)),
            recorded_by: "customer".into(),
        };
        tx.record_consent(&consent, now).await?;
        info!(customer = %mask(phone), %status, "the customer changed their WhatsApp consent");
        if before.is_some_and(|b| b.status == status) {
            return Ok(0);
        }
        // the acknowledgement goes with an appointment of theirs, as every message does
        let Some(appointment) = tx.appointment_for_phone(phone, now).await? else {
            info!(customer = %mask(phone), "no appointment known for the customer; not acknowledged");
            return Ok(0);
        };
        let answer = match status {
            ConsentStatus::OptedOut => Answer::Stopped,
            ConsentStatus::OptedIn => Answer::Started,
        };
        self.answer(tx, m, &appointment, answer, format!("reply:{}", m.id), now).await
    }
}
