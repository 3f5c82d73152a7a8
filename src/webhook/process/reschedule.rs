//! The rescheduling conversation, carried out: a tap on "Verzetten" offers free times
//! in a WhatsApp list, and the customer's choice from it is recorded for staff. What
//! each input does is decided by the pure [`Conversation::step`]; this stores the
//! result and enqueues what the customer is told.

use chrono::{DateTime, Duration, TimeZone, Utc};
use tracing::{info, warn};

use super::InboxProcessor;
use crate::domain::{Appointment, OutboxKind, Reply, SlotChoice};
use crate::reschedule::search::free_times;
use crate::reschedule::{
    Conversation, ConversationTexts, Effect, Input, Message, Offer, State, offer_list,
};
use crate::scheduler::dispatch::SERVICE_WINDOW;
use crate::store::{NewOutbox, StoreError, StoredConversation, Tx};
use crate::whatsapp::message::SendRequest;
use crate::whatsapp::webhook::InboundMessage;

impl InboxProcessor {
    /// A tap on "Verzetten": the next free times in a list. `None` when there are none
    /// to offer (no opening hours cover the appointment, or none are free): the
    /// conversation then waits for staff to call, and the caller says so.
    pub(super) async fn offer(
        &self,
        tx: &mut Tx,
        m: &InboundMessage,
        appointment: &Appointment,
        now: DateTime<Utc>,
    ) -> Result<Option<usize>, StoreError> {
        let settings = &self.options.reschedule;
        let opened = customer_time(m, now);
        let mut conversation = Conversation {
            appointment_id: appointment.id,
            appointment_start: appointment.starts_at,
            offered: Vec::new(),
            expires_at: opened + SERVICE_WINDOW,
            state: State::CallBack,
        };
        let found =
            free_times(tx, settings, self.options.zone, &self.options.workdays, appointment, now)
                .await?;
        let list = match found {
            None => {
                info!(appointment.id = appointment.id, calendar = %appointment.calendar,
                      "no opening hours cover this appointment; staff call the customer");
                None
            }
            Some(offered) => {
                conversation.offered = offered;
                if conversation.offered.is_empty() {
                    info!(
                        appointment.id = appointment.id,
                        "no free time in the coming days; staff call the customer"
                    );
                    None
                } else {
                    Some(self.list(appointment, &conversation))
                }
            }
        };
        let list = list.and_then(|list| match SendRequest::list(list.clone()) {
            Ok(_) => Some(list),
            Err(e) => {
                warn!(appointment.id = appointment.id, error = %e,
                      "the list of free times breaks Meta's limits; staff call the customer");
                None
            }
        });
        if list.is_some() {
            conversation.state = State::Offered;
        }
        let stored = StoredConversation { conversation, customer_at: opened };
        tx.save_conversation(&stored, None, now).await?;
        let Some(list) = list else { return Ok(None) };
        info!(
            appointment.id = appointment.id,
            times = stored.conversation.offered.len(),
            "free times offered"
        );
        let body = serde_json::to_string(&list).expect("a list serialises");
        let offer = NewOutbox::answer(
            appointment,
            OutboxKind::Offer,
            "reschedule_offer",
            body,
            None,
            format!("reply:{}", m.id),
            opened,
        );
        Ok(Some(usize::from(tx.insert_outbox(&offer, now).await?.is_some())))
    }

    fn list(
        &self,
        appointment: &Appointment,
        conversation: &Conversation,
    ) -> crate::whatsapp::message::ListMessage {
        let offer = Offer {
            to: "",
            appointment_id: appointment.id,
            zone: self.options.zone,
            key: &self.key,
            texts: &self.options.reschedule.list,
            practice: &self.options.practice,
        };
        offer_list(offer, &conversation.offered, String::new())
    }

    /// The customer chose a row of the list: a time, or "none of these".
    pub(super) async fn choose(
        &self,
        tx: &mut Tx,
        m: &InboundMessage,
        choice: SlotChoice,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let Some(appointment) = tx.appointment(choice.appointment_id).await? else {
            warn!(appointment.id = choice.appointment_id, "a chosen time names a gone appointment");
            return Ok(0);
        };
        let at = customer_time(m, now);
        let input = match choice.start.and_then(|s| Utc.timestamp_opt(s, 0).single()) {
            Some(start) => Input::Choose(start),
            None => Input::NoneFits,
        };
        let Some(stored) = tx.conversation(appointment.id).await? else {
            // signed by us, so once offered; the conversation is gone (erased): honest
            return self.tell(tx, m, &appointment, &Message::Expired, at, now).await;
        };
        let (next, effects) = match stored.conversation.step(&input, at, appointment.starts_at) {
            Ok(step) => step,
            Err(refused) => {
                warn!(appointment.id = appointment.id, %refused, "a choice that does not apply");
                return Ok(0);
            }
        };
        tx.save_conversation(
            &StoredConversation { conversation: next, customer_at: at },
            None,
            now,
        )
        .await?;
        let mut answers = 0;
        for effect in effects {
            match effect {
                Effect::AskStaff(slot) => {
                    info!(appointment.id = appointment.id, requested = %slot.start,
                          "the customer asked for another time; for staff to accept");
                    tx.set_reply(appointment.id, Reply::Reschedule, now).await?;
                }
                Effect::AskStaffToCall => {
                    info!(
                        appointment.id = appointment.id,
                        "none of the times suits the customer; for staff to call"
                    );
                    tx.set_reply(appointment.id, Reply::Reschedule, now).await?;
                }
                Effect::Move(_) => {
                    warn!("a customer's choice cannot move an appointment; staff do");
                }
                Effect::Tell(message) => {
                    answers += self.tell(tx, m, &appointment, &message, at, now).await?;
                }
            }
        }
        Ok(answers)
    }

    /// Enqueues one conversation text as the answer to `m`.
    async fn tell(
        &self,
        tx: &mut Tx,
        m: &InboundMessage,
        appointment: &Appointment,
        message: &Message,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let body = self.voice().render(appointment, message);
        let answer = NewOutbox::answer(
            appointment,
            OutboxKind::Reply,
            ConversationTexts::word(message),
            body,
            Some(m.id.clone()),
            format!("reply:{}", m.id),
            at,
        );
        Ok(usize::from(tx.insert_outbox(&answer, now).await?.is_some()))
    }
}

/// When the customer sent `m`: Meta's timestamp, unless it is missing, in the future,
/// or older than the week Meta keeps retrying a delivery (a clock that is wrong).
fn customer_time(m: &InboundMessage, now: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_opt(m.timestamp, 0)
        .single()
        .filter(|t| m.timestamp > 0 && *t <= now && now - *t <= Duration::days(8))
        .unwrap_or(now)
}
