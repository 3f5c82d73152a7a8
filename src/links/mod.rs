//! The pages behind an e-mail's links (`/e/{token}`). The signed token in the path is
//! the capability: no login, no session, and so no cross-site request to forge with a
//! cookie. A GET only shows the appointment and one button (mail scanners and link
//! previews follow links); only the POST acts, through the same decision as a WhatsApp
//! tap ([`decide`](crate::webhook::actions::decide)), so Confirm and Cancel mean the
//! same on both channels. An action done twice has its effect once; a changed token
//! gets 400 and an expired one 410, and neither changes anything.

mod page;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use tracing::{info, warn};

use crate::clock::Clock;
use crate::domain::consent::normalise_email;
use crate::domain::time::dutch_moment_short;
use crate::domain::{
    Action, Appointment, AppointmentStatus, ConsentChannel, ConsentMethod, ConsentStatus,
    LinkError, LinkToken, LinkVerb, NewConsent, PayloadKey, Reply, redact,
};
use crate::http::AppError;
use crate::reschedule::search::free_times;
use crate::reschedule::staff::Voice;
use crate::reschedule::{Conversation, Effect as Step, Input, RescheduleSettings, State as Talk};
use crate::rules::{RenderContext, WorkCalendar};
use crate::scheduler::dispatch::SERVICE_WINDOW;
use crate::store::{Store, StoredConversation, Tx};
use crate::webhook::actions::{Answer, Effect, ReplyTexts, decide};
use crate::webhook::process::answer_text;
use page::{LinkPage, SlotView};

/// What the pages need.
#[derive(Clone, Debug)]
pub struct LinksState {
    pub store: Store,
    pub clock: Clock,
    pub key: PayloadKey,
    pub zone: Tz,
    pub practice: String,
    pub source_locations: Arc<HashMap<String, String>>,
    pub texts: Arc<ReplyTexts>,
    pub reschedule: Arc<RescheduleSettings>,
    pub workdays: WorkCalendar,
}

pub fn router(state: LinksState) -> Router {
    Router::new().route("/e/{token}", get(show).post(act)).with_state(state)
}

/// GET: what the link would do, and the button that does it. Reads only.
async fn show(
    State(state): State<LinksState>,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let (token, appointment) = match state.open(&token, now).await? {
        Ok(found) => found,
        Err(page) => return Ok(page),
    };
    let mut page = state.page(&appointment, &token);
    match token.verb {
        LinkVerb::Unsubscribe => {
            page.message = "Wil je geen herinneringen meer per e-mail ontvangen?".into();
            page.button = Some("Afmelden".into());
        }
        LinkVerb::Act(action) => {
            let decision = decide(action, &appointment, token.start_time(), now);
            if decision.effect.is_none() {
                page.message = state.say(&appointment, decision.answer);
            } else if action == Action::Reschedule {
                // read from the pool: a GET takes no write lock
                let found = state.free_times(&mut &state.store, &appointment, now).await?;
                match found {
                    Some(slots) if !slots.is_empty() => {
                        page.message =
                            "Kies een nieuw tijdstip. De praktijk bevestigt het daarna.".into();
                        page.slots = slots.iter().map(|s| state.slot_view(s)).collect();
                    }
                    _ => {
                        page.message =
                            "Wil je je afspraak verzetten? De praktijk belt je dan.".into();
                        page.button = Some("Ja, bel me".into());
                    }
                }
            } else {
                let (question, button, class) = match action {
                    Action::Confirm => ("Kom je naar deze afspraak?", "Ja, ik kom", "confirm"),
                    _ => ("Wil je deze afspraak afzeggen?", "Afspraak afzeggen", "cancel"),
                };
                page.message = question.into();
                page.button = Some(button.into());
                page.button_class = class;
            }
        }
    }
    Ok(page.into_response_with(StatusCode::OK))
}

/// POST: does what the link says, once. The body is at most `slot=<unix time>` or
/// `slot=none` (a reschedule choice) or RFC 8058's `List-Unsubscribe=One-Click`.
async fn act(
    State(state): State<LinksState>,
    Path(token): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let (token, _) = match state.open(&token, now).await? {
        Ok(found) => found,
        Err(page) => return Ok(page),
    };
    let mut tx = state.store.begin().await?;
    // read again inside the transaction that changes it
    let Some(appointment) = tx.appointment(token.appointment_id).await? else {
        return Ok(gone(&state));
    };
    let mut page = state.page(&appointment, &token);
    match token.verb {
        LinkVerb::Unsubscribe => page.message = unsubscribe(&mut tx, &appointment, now).await?,
        LinkVerb::Act(action) => {
            let decision = decide(action, &appointment, token.start_time(), now);
            page.message = state.say(&appointment, decision.answer);
            match decision.effect {
                // the same answer twice changes nothing the second time
                Some(Effect::Reply(Reply::Reschedule)) => {
                    let choice = slot_in(&body);
                    let (message, status) =
                        state.reschedule(&mut tx, &appointment, choice, now).await?;
                    page.message = message;
                    if status != StatusCode::OK {
                        return Ok(page.into_response_with(status));
                    }
                }
                Some(Effect::Reply(reply)) if appointment.reply != reply => {
                    tx.set_reply(appointment.id, reply, now).await?;
                }
                Some(Effect::Reply(_)) => {}
                Some(Effect::Cancel) => {
                    tx.set_reply(appointment.id, Reply::Cancelled, now).await?;
                    tx.set_appointment_status(appointment.id, AppointmentStatus::Cancelled, now)
                        .await?;
                    tx.cancel_pending_reminders(appointment.id, "cancelled by the customer", now)
                        .await?;
                }
                None => {}
            }
            info!(appointment.id = appointment.id, %action, answer = decision.answer.as_str(),
                  "e-mail link");
        }
    }
    tx.commit().await?;
    Ok(page.into_response_with(StatusCode::OK))
}

/// Records the e-mail opt-out, unless the latest record already says so.
async fn unsubscribe(
    tx: &mut Tx,
    appointment: &Appointment,
    now: DateTime<Utc>,
) -> Result<String, AppError> {
    let Some(email) = appointment.customer_email.as_deref().and_then(normalise_email) else {
        return Ok("We kennen geen e-mailadres bij deze afspraak meer.".into());
    };
    let latest = tx.current_consent(ConsentChannel::Email, &email).await?;
    if latest.is_none_or(|c| c.status != ConsentStatus::OptedOut) {
        let consent = NewConsent {
            phone: appointment.customer_phone.clone(),
            email: Some(email.clone()),
            channel: ConsentChannel::Email,
            status: ConsentStatus::OptedOut,
            method: ConsentMethod::EmailLink,
            evidence: Some(format!(
                "unsubscribe link in the reminder e-mail for appointment {}",
                appointment.id
            )),
            recorded_by: "reminderd".into(),
        };
        tx.record_consent(&consent, now).await?;
        info!(email = %redact::email(&email), "opted out of e-mail by its link");
    }
    Ok("Je bent afgemeld: je ontvangt geen herinneringen meer per e-mail.".into())
}

/// The `slot` field of a form body: `Some(Some(start))`, `Some(None)` for "none of
/// these", `None` when absent or unreadable.
fn slot_in(body: &[u8]) -> Option<Option<i64>> {
    let text = std::str::from_utf8(body).ok()?;
    let value = text.split('&').find_map(|pair| pair.strip_prefix("slot="))?;
    match value {
        "none" => Some(None),
        v => v.parse().ok().map(Some),
    }
}

fn gone(state: &LinksState) -> Response {
    let mut page = LinkPage::new(&state.practice, "Afspraak");
    page.message = state.texts.not_active.replace("{practice}", &state.practice);
    page.into_response_with(StatusCode::GONE)
}

impl LinksState {
    /// The token and its appointment, or the page saying why not.
    async fn open(
        &self,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<(LinkToken, Appointment), Response>, AppError> {
        let token = match LinkToken::decode(text, &self.key, now) {
            Ok(token) => token,
            Err(e) => {
                let (status, title, message) = match e {
                    LinkError::Expired => (
                        StatusCode::GONE,
                        "Link verlopen",
                        "Deze link is verlopen: de afspraak is al begonnen of voorbij.",
                    ),
                    LinkError::Invalid(_) => (
                        StatusCode::BAD_REQUEST,
                        "Link klopt niet",
                        "Deze link klopt niet. Gebruik de link uit de e-mail zoals hij is, of \
                         neem contact op met de praktijk.",
                    ),
                };
                warn!(error = %e, "e-mail link refused");
                let mut page = LinkPage::new(&self.practice, title);
                page.message = message.into();
                return Ok(Err(page.into_response_with(status)));
            }
        };
        match self.store.appointment(token.appointment_id).await? {
            Some(appointment) => Ok(Ok((token, appointment))),
            None => Ok(Err(gone(self))),
        }
    }

    fn page(&self, appointment: &Appointment, token: &LinkToken) -> LinkPage {
        let mut page = LinkPage::new(&self.practice, "Je afspraak");
        let ctx = self.ctx(appointment);
        page.appointment = answer_text("{date} om {time}", &ctx);
        page.location = answer_text("{location}", &ctx);
        page.action = format!("/e/{}", token.encode(&self.key));
        page
    }

    fn ctx<'a>(&'a self, appointment: &'a Appointment) -> RenderContext<'a> {
        RenderContext::new(appointment, self.zone, &self.practice, &self.source_locations)
    }

    /// The same words a WhatsApp tap is answered with.
    fn say(&self, appointment: &Appointment, answer: Answer) -> String {
        answer_text(self.texts.text(answer), &self.ctx(appointment))
    }

    fn slot_view(&self, slot: &crate::reschedule::Slot) -> SlotView {
        let when = dutch_moment_short(slot.start, self.zone);
        SlotView {
            label: match &slot.label {
                Some(label) => format!("{when} · {label}"),
                None => when,
            },
            value: slot.start.timestamp().to_string(),
        }
    }

    async fn free_times(
        &self,
        tx: &mut impl crate::reschedule::search::Bookings,
        appointment: &Appointment,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<crate::reschedule::Slot>>, AppError> {
        let r = &self.reschedule;
        Ok(free_times(tx, r, self.zone, &self.workdays, appointment, now).await?)
    }

    /// A choice on the reschedule page, recorded in the conversation staff decide on
    /// (`reminderd reschedule`), exactly as a choice from the WhatsApp list.
    async fn reschedule(
        &self,
        tx: &mut Tx,
        appointment: &Appointment,
        choice: Option<Option<i64>>,
        now: DateTime<Utc>,
    ) -> Result<(String, StatusCode), AppError> {
        let offered = self.free_times(tx, appointment, now).await?.unwrap_or_default();
        let input = match choice {
            // a page without free times has a plain button: staff call
            None if offered.is_empty() => Input::NoneFits,
            None => return Ok(("Kies een van de tijden.".into(), StatusCode::BAD_REQUEST)),
            Some(None) => Input::NoneFits,
            Some(Some(start)) => match Utc.timestamp_opt(start, 0).single() {
                Some(start) => Input::Choose(start),
                None => return Ok(("Kies een van de tijden.".into(), StatusCode::BAD_REQUEST)),
            },
        };
        let stored = tx.conversation(appointment.id).await?;
        let conversation = match stored {
            // the same appointment's conversation goes on (a second choice, a double
            // POST); the times are those free now
            Some(s)
                if s.conversation.appointment_start == appointment.starts_at
                    && s.conversation.state != Talk::Expired =>
            {
                Conversation { offered, expires_at: appointment.starts_at, ..s.conversation }
            }
            _ => Conversation {
                appointment_id: appointment.id,
                appointment_start: appointment.starts_at,
                offered,
                expires_at: appointment.starts_at,
                state: Talk::Offered,
            },
        };
        let (next, effects) = match conversation.step(&input, now, appointment.starts_at) {
            Ok(step) => step,
            Err(refused) => return Ok((refused.to_string(), StatusCode::CONFLICT)),
        };
        // the same choice again (a double POST) changes nothing: say the same again
        let mut effects = effects;
        if effects.is_empty() {
            match &next.state {
                Talk::Requested(slot) => {
                    effects.push(Step::Tell(crate::reschedule::Message::RequestReceived(
                        slot.clone(),
                    )));
                }
                Talk::CallBack => effects.push(Step::Tell(crate::reschedule::Message::WillCall)),
                _ => {}
            }
        } else {
            // No WhatsApp service window was opened by an e-mail: staff's answer cannot
            // go as WhatsApp free text, so `reminderd reschedule` tells them to phone.
            let customer_at = now - SERVICE_WINDOW;
            let stored = StoredConversation { conversation: next, customer_at };
            tx.save_conversation(&stored, None, now).await?;
        }
        let voice = Voice {
            zone: self.zone,
            practice: &self.practice,
            source_locations: &self.source_locations,
            texts: &self.reschedule.messages,
        };
        let mut said = "Je keuze is ontvangen.".to_string();
        let mut status = StatusCode::OK;
        for effect in effects {
            match effect {
                Step::AskStaff(_) | Step::AskStaffToCall => {
                    tx.set_reply(appointment.id, Reply::Reschedule, now).await?;
                    info!(appointment.id = appointment.id, "a new time asked by e-mail");
                }
                Step::Tell(message) => {
                    if matches!(message, crate::reschedule::Message::UnknownChoice) {
                        status = StatusCode::BAD_REQUEST;
                    }
                    said = voice.render(appointment, &message);
                }
                Step::Move(_) => {}
            }
        }
        Ok((said, status))
    }
}

impl LinkPage {
    fn into_response_with(self, status: StatusCode) -> Response {
        use askama::Template;
        match self.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => AppError::Internal(e.into()).into_response(),
        }
    }
}
