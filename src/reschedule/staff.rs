//! Staff decide on a requested time: accept it (the customer is told the new time, and
//! the reminders for the old one are withdrawn) or decline it. Used by
//! `reminderd reschedule` and the report.
//!
//! Accepting does not move the appointment in reminderd's store: the practice's
//! calendar is the source of truth, and the next import would move it back. Staff move
//! it there; the import then re-plans the reminders for the new time.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tracing::info;

use super::conversation::{Effect, Input, Message, Refused, State};
use super::settings::{ConversationTexts, OutcomeTemplates};
use crate::domain::time::dutch_moment_short;
use crate::domain::{Appointment, NoticeBody, OutboxKind};
use crate::rules::RenderContext;
use crate::scheduler::dispatch::SERVICE_WINDOW;
use crate::store::{AuditEntry, NewOutbox, Store, StoreError, StoredConversation};
use crate::webhook::process::answer_text;

/// How the practice speaks to the customer during the conversation.
#[derive(Clone, Copy, Debug)]
pub struct Voice<'a> {
    pub zone: Tz,
    pub practice: &'a str,
    /// Default location per source, for `{location}`.
    pub source_locations: &'a HashMap<String, String>,
    pub texts: &'a ConversationTexts,
}

impl Voice<'_> {
    /// The text of `message` about `appointment`.
    pub fn render(&self, appointment: &Appointment, message: &Message) -> String {
        let ctx = RenderContext::new(appointment, self.zone, self.practice, self.source_locations);
        answer_text(&self.texts.text(message, self.zone), &ctx)
    }
}

/// What staff decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Decline,
}

/// How the customer hears of the decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Told {
    /// A WhatsApp message is queued (inside the customer's service window).
    Queued(String),
    /// The service window has closed: the configured template of this name is queued.
    Template(String),
    /// The service window has closed: staff must tell the customer themselves (the
    /// message is recorded as skipped, with this reason).
    CallThem(String),
}

#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error("there is no appointment {0}")]
    NoAppointment(i64),
    #[error("appointment {0} has no rescheduling request")]
    NoConversation(i64),
    #[error("appointment {id}: {refused}")]
    Refused { id: i64, refused: Refused },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The outcome of a decision.
#[derive(Clone, Debug)]
pub struct Decided {
    pub appointment: Appointment,
    pub conversation: StoredConversation,
    pub told: Told,
}

/// The template telling the customer `message` after their window closed, if one is
/// configured: first name, date and time (the new time when accepted).
fn notice(
    templates: &OutcomeTemplates,
    message: &Message,
    appointment: &Appointment,
    zone: Tz,
) -> Option<NoticeBody> {
    let (name, at) = match message {
        Message::Accepted(slot) => (&templates.accepted, slot.start),
        Message::Declined => (&templates.declined, appointment.starts_at),
        _ => return None,
    };
    (!name.trim().is_empty()).then(|| NoticeBody {
        template: name.trim().to_string(),
        language: templates.language.clone(),
        params: vec![
            appointment.first_name().unwrap_or("daar").to_string(),
            crate::domain::time::dutch_date(at, zone),
            crate::domain::time::local_time(at, zone),
        ],
    })
}

/// Applies `verdict` on the time requested for appointment `id`, by staff member `by`.
/// Everything happens in one transaction: the state, the withdrawn reminders and the
/// message to the customer.
pub async fn decide(
    store: &Store,
    voice: Voice<'_>,
    templates: &OutcomeTemplates,
    id: i64,
    verdict: Verdict,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Decided, DecideError> {
    let mut tx = store.begin().await?;
    let appointment = tx.appointment(id).await?.ok_or(DecideError::NoAppointment(id))?;
    let stored = tx.conversation(id).await?.ok_or(DecideError::NoConversation(id))?;
    let input = match verdict {
        Verdict::Accept => Input::StaffAccept,
        Verdict::Decline => Input::StaffDecline,
    };
    let requested = match &stored.conversation.state {
        State::Requested(slot) => Some(slot.clone()),
        _ => None,
    };
    let (next, effects) = stored
        .conversation
        .step(&input, now, appointment.starts_at)
        .map_err(|refused| DecideError::Refused { id, refused })?;
    let next = StoredConversation { conversation: next, customer_at: stored.customer_at };
    tx.save_conversation(&next, Some(by), now).await?;
    tx.audit(&AuditEntry {
        at: now,
        staff: by.to_string(),
        action: match verdict {
            Verdict::Accept => "reschedule_accepted",
            Verdict::Decline => "reschedule_declined",
        }
        .into(),
        appointment_id: Some(id),
        detail: requested.as_ref().map(|s| format!("requested {}", s.start.to_rfc3339())),
    })
    .await?;
    let mut told = Told::CallThem("nothing to tell".into());
    for effect in effects {
        match effect {
            Effect::Move(slot) => {
                let note = format!(
                    "the customer moves to {}: accepted by {by}",
                    dutch_moment_short(slot.start, voice.zone)
                );
                tx.cancel_pending_reminders(id, &note, now).await?;
            }
            Effect::Tell(message) => {
                let body = voice.render(&appointment, &message);
                let slot = requested.as_ref().map_or(0, |s| s.start.timestamp());
                let mut row = NewOutbox::answer(
                    &appointment,
                    OutboxKind::Reply,
                    ConversationTexts::word(&message),
                    body.clone(),
                    None,
                    format!("staff:{id}:{}:{slot}", ConversationTexts::word(&message)),
                    stored.customer_at,
                );
                told = if now < stored.customer_at + SERVICE_WINDOW {
                    Told::Queued(body)
                } else if let Some(notice) = notice(templates, &message, &appointment, voice.zone) {
                    // the window closed: only an approved template may go
                    let name = notice.template.clone();
                    row.kind = OutboxKind::Notice;
                    row.due_at = now;
                    row.body = Some(serde_json::to_string(&notice).expect("a notice serialises"));
                    Told::Template(name)
                } else {
                    let reason = "the customer's 24-hour service window has closed, so WhatsApp \
                                  allows no free text, and no template is configured \
                                  ([reschedule.templates]): tell them by phone"
                        .to_string();
                    row.skipped = Some(reason.clone());
                    Told::CallThem(reason)
                };
                tx.insert_outbox(&row, now).await?;
            }
            Effect::AskStaff(_) | Effect::AskStaffToCall => {}
        }
    }
    tx.commit().await?;
    info!(appointment.id = id, ?verdict, staff = by, "staff decided on a requested time");
    Ok(Decided { appointment, conversation: next, told })
}
