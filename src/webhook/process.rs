//! Processing stored webhook deliveries: each becomes events, each event is applied
//! once (its key is claimed in the same transaction as its effect), and a tap on a
//! reminder's button enqueues the answer for the dispatcher.
//!
//! The HTTP handler only stores; this runs afterwards, so a slow database or a bug in
//! an action never makes Meta wait or retry, and a delivery that failed to process is
//! retried on the next round and stays visible until it succeeds.

mod consent;
mod fallback;
mod reschedule;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};

use super::actions::{Answer, Effect, ReplyTexts, decide};
use super::words::{Intent, understand};
use crate::clock::Clock;
use crate::domain::phone::mask;
use crate::domain::{
    Action, Appointment, AppointmentStatus, ButtonPayload, ConsentStatus, OutboxKind, PayloadKey,
    SlotChoice,
};
use crate::reschedule::RescheduleSettings;
use crate::reschedule::staff::Voice;
use crate::rules::render::fill;
use crate::rules::{Placeholder, RenderContext, WorkCalendar};
use crate::scheduler::dispatch::parse_callback_data;
use crate::scheduler::wait_for_work;
use crate::store::{InboxRow, NewOutbox, Store, StoreError, Tx};
use crate::whatsapp::response::describe;
use crate::whatsapp::templates::{TemplateBook, report_of};
use crate::whatsapp::webhook::{Event, InboundMessage, StatusUpdate, TemplateEvent, parse};

/// After this many failed attempts a delivery is left for an operator (it stays in
/// the inbox, counted by `/readyz`).
pub const MAX_ATTEMPTS: i64 = 10;
const BATCH: i64 = 50;

/// What the processor needs besides the store.
#[derive(Clone, Debug)]
pub struct ProcessOptions {
    pub texts: ReplyTexts,
    pub zone: Tz,
    pub practice: String,
    /// Default location per source name, for `{location}` in answers.
    pub source_locations: HashMap<String, String>,
    pub poll_interval: StdDuration,
    /// Opening hours and texts of the rescheduling conversation.
    pub reschedule: RescheduleSettings,
    /// The days the practice works, for the free times it offers.
    pub workdays: WorkCalendar,
    /// A reminder WhatsApp could not deliver goes by e-mail only while the appointment
    /// is at least this far ahead (`dispatch.min_notice`).
    pub min_notice: StdDuration,
}

#[derive(Clone, Debug)]
pub struct InboxProcessor {
    store: Store,
    clock: Clock,
    key: PayloadKey,
    options: Arc<ProcessOptions>,
    /// Woken when an answer was enqueued.
    dispatcher: Arc<Notify>,
    /// Told at once what Meta says about a template (the dispatcher reads it).
    templates: Arc<TemplateBook>,
}

impl InboxProcessor {
    pub fn new(
        store: Store,
        clock: Clock,
        key: PayloadKey,
        options: ProcessOptions,
        dispatcher: Arc<Notify>,
    ) -> Self {
        InboxProcessor {
            store,
            clock,
            key,
            options: Arc::new(options),
            dispatcher,
            templates: Arc::default(),
        }
    }

    /// How the conversation texts are written.
    fn voice(&self) -> Voice<'_> {
        Voice {
            zone: self.options.zone,
            practice: &self.options.practice,
            source_locations: &self.options.source_locations,
            texts: &self.options.reschedule.messages,
        }
    }

    /// Shares what Meta says about templates with the dispatcher.
    pub fn with_templates(mut self, templates: Arc<TemplateBook>) -> Self {
        self.templates = templates;
        self
    }

    /// Runs until `shutdown`, waking when a delivery was stored or every poll interval
    /// (to retry failed ones).
    pub async fn run(self, shutdown: CancellationToken, wake: Arc<Notify>) {
        info!("inbox processor started");
        loop {
            if let Err(e) = self.drain_until(&shutdown).await {
                error!(error.cause_chain = ?e, "cannot read the inbox");
            }
            if !wait_for_work(&shutdown, &wake, self.options.poll_interval).await {
                break;
            }
        }
        info!("inbox processor stopped");
    }

    /// Processes every stored delivery that is waiting; returns how many were handled.
    /// (Tests call this instead of waiting for the loop.)
    pub async fn drain(&self) -> Result<usize, StoreError> {
        self.drain_until(&CancellationToken::new()).await
    }

    /// [`Self::drain`], stopping between batches once `shutdown` is cancelled: a large
    /// backlog waits in the inbox for the next start instead of delaying the stop.
    async fn drain_until(&self, shutdown: &CancellationToken) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            if shutdown.is_cancelled() {
                info!(handled = total, "stopping with deliveries left for the next start");
                return Ok(total);
            }
            let rows = self.store.unprocessed_inbox(MAX_ATTEMPTS, BATCH).await?;
            if rows.is_empty() {
                return Ok(total);
            }
            let mut progressed = false;
            for row in rows {
                let span = info_span!("inbox", inbox.id = row.id, attempt = row.attempts + 1);
                match self.process(&row).instrument(span).await {
                    Ok(answers) => {
                        progressed = true;
                        if answers > 0 {
                            self.dispatcher.notify_one();
                        }
                    }
                    Err(e) => {
                        warn!(inbox.id = row.id, error.cause_chain = ?e, "processing failed; will retry");
                        self.store.inbox_attempt_failed(row.id, &e.to_string()).await?;
                    }
                }
                total += 1;
            }
            if !progressed {
                // every row failed: leave them for the next round instead of spinning
                return Ok(total);
            }
        }
    }

    /// Applies one delivery in one transaction; returns the number of answers enqueued.
    async fn process(&self, row: &InboxRow) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let events = match parse(&row.body) {
            Ok(events) => events,
            Err(e) => {
                // Signed by Meta but not understood: keep it for a person to look at.
                // Answering anything but 200 would only make Meta resend it for a week.
                warn!(error = %e, "quarantined a signed delivery that is not a webhook body");
                let note = format!("quarantined: {e}");
                tx.mark_inbox_processed(row.id, now, Some(&note)).await?;
                tx.commit().await?;
                return Ok(0);
            }
        };
        let mut answers = 0;
        for event in &events {
            if let Some(key) = event.dedup_key()
                && !tx.claim_event_key(&key, row.id, now).await?
            {
                debug!(%key, "event applied before; skipped");
                continue;
            }
            answers += self.apply(&mut tx, event, now).await?;
        }
        tx.mark_inbox_processed(row.id, now, None).await?;
        tx.commit().await?;
        Ok(answers)
    }

    async fn apply(
        &self,
        tx: &mut Tx,
        event: &Event,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        match event {
            Event::Message(m) => self.message(tx, m, now).await,
            Event::Status(s) => {
                status(tx, s, now).await?;
                self.email_after_failure(tx, s, now).await?;
                Ok(0)
            }
            Event::Error(e) => {
                warn!(code = e.code, title = ?e.title, "Meta reported an error on the webhook");
                Ok(0)
            }
            Event::TemplateStatus(t) | Event::TemplateCategory(t) | Event::TemplateQuality(t) => {
                self.template(tx, t, now).await?;
                Ok(0)
            }
            Event::UserPreference(p) => {
                // marketing preferences: reminders are UTILITY messages, not marketing
                let customer = p.wa_id.as_deref().map(|w| mask(&format!("+{w}")));
                info!(customer = ?customer, category = ?p.category, value = ?p.value,
                      "a customer's marketing preference noted (reminders are not marketing)");
                Ok(0)
            }
        }
    }

    /// Meta approved, paused, re-categorised or re-rated a template: recorded, and the
    /// dispatcher uses (or holds) it from now on.
    async fn template(
        &self,
        tx: &mut Tx,
        t: &TemplateEvent,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let known = match &t.template_id {
            Some(id) => tx.template_by_id(id).await?,
            None => None,
        };
        let Some(report) = report_of(t, known.as_ref()) else {
            warn!(template_id = ?t.template_id,
                  "a template webhook names a template reminderd does not know; \
                   `reminderd templates status` reads them all");
            return Ok(());
        };
        info!(template = %report.name, language = %report.language, status = ?report.status,
              category = ?report.category, quality = ?report.quality, "Meta updated a template");
        tx.record_template(&report, now).await?;
        self.templates.update(&report);
        Ok(())
    }

    /// A customer's message: a tap on one of our buttons acts, and so does a short
    /// "ja" or "nee" about their one upcoming appointment; anything else is for a person.
    async fn message(
        &self,
        tx: &mut Tx,
        m: &InboundMessage,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        if let Some(payload) = m.reply_payload() {
            // a row of the list of free times, or a button of a reminder
            if let Ok(choice) = SlotChoice::decode(payload, &self.key) {
                return self.choose(tx, m, choice, now).await;
            }
            return self.tap(tx, m, payload, now).await;
        }
        if m.kind.as_deref() == Some("text")
            && let Some(text) = m.text_body.as_deref()
        {
            return self.free_text(tx, m, text, now).await;
        }
        info!(message.id = %m.id, kind = ?m.kind, "customer message without a button or text; not acted on");
        Ok(0)
    }

    /// A tap on one of our buttons.
    async fn tap(
        &self,
        tx: &mut Tx,
        m: &InboundMessage,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let payload = match ButtonPayload::decode(text, &self.key) {
            Ok(p) => p,
            Err(e) => {
                // a forged, tampered or foreign payload: it changes nothing
                warn!(message.id = %m.id, error = %e, "button payload refused");
                return Ok(0);
            }
        };
        let Some(reminder) = tx.outbox(payload.outbox_id).await? else {
            warn!(
                outbox.id = payload.outbox_id,
                "a valid payload names a message that does not exist"
            );
            return Ok(0);
        };
        let Some(appointment) = tx.appointment(reminder.appointment_id).await? else {
            warn!(
                appointment.id = reminder.appointment_id,
                "the tapped reminder's appointment is gone"
            );
            return Ok(0);
        };
        info!(appointment.id = appointment.id, action = %payload.action, "button tap");
        self.act(tx, m, payload.action, &appointment, reminder.appointment_start, now).await
    }

    /// A text: yes or no about one appointment acts like the button. The appointment is
    /// the one of the reminder the text replies to (`context.id`: WhatsApp's swipe to
    /// reply), else the customer's only upcoming one, found by phone number. Anything
    /// else (or a yes with two appointments ahead) gets one polite answer a day and
    /// waits for a person.
    async fn free_text(
        &self,
        tx: &mut Tx,
        m: &InboundMessage,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let phone = m.from.as_deref().map(|f| format!("+{}", f.trim_start_matches('+')));
        let who = phone.as_deref().map(mask).or_else(|| m.from_user_id.clone()).unwrap_or_default();
        let intent = understand(text);
        match intent {
            Intent::Stop => {
                let status = ConsentStatus::OptedOut;
                return self.consent_change(tx, m, phone.as_deref(), status, text, now).await;
            }
            Intent::Start => {
                let status = ConsentStatus::OptedIn;
                return self.consent_change(tx, m, phone.as_deref(), status, text, now).await;
            }
            _ => {}
        }
        // (appointment, the start it was reminded of)
        let mut about: Vec<(Appointment, DateTime<Utc>)> = Vec::new();
        if let Some(context) = m.context_id.as_deref()
            && let Some(reminder) = tx.outbox_by_message_id(context).await?
            && reminder.kind == OutboxKind::Reminder
            && let Some(appointment) = tx.appointment(reminder.appointment_id).await?
        {
            about.push((appointment, reminder.appointment_start));
        } else if let Some(phone) = &phone {
            about = tx
                .upcoming_for_phone(phone, now)
                .await?
                .into_iter()
                .map(|a| {
                    let start = a.starts_at;
                    (a, start)
                })
                .collect();
        }
        let action = match intent {
            Intent::Confirm => Some(Action::Confirm),
            Intent::Cancel => Some(Action::Cancel),
            _ => None,
        };
        match (action, about.as_slice()) {
            (Some(action), [(only, version)]) => {
                info!(appointment.id = only.id, %action, "a text understood as a tap");
                self.act(tx, m, action, only, *version, now).await
            }
            (_, [(first, _), ..]) => {
                info!(message.id = %m.id, customer = %who, ?intent,
                      appointments = about.len(), "a text for staff to read");
                tx.add_customer_note(first.id, &m.id, text, now).await?;
                let day = now.with_timezone(&self.options.zone).date_naive();
                // one a day per customer, keyed by their soonest appointment: a key
                // holds no personal data (erasure and the purge leave keys alone)
                let key = format!("unclear:{}:{day}", first.id);
                self.answer(tx, m, first, Answer::Unclear, key, now).await
            }
            (_, []) => {
                info!(message.id = %m.id, customer = %who,
                      "a text about no upcoming appointment reminderd knows; for staff");
                Ok(0)
            }
        }
    }

    /// Applies `action` to `appointment` as of the reminder planned for `version`, and
    /// enqueues the answer.
    async fn act(
        &self,
        tx: &mut Tx,
        m: &InboundMessage,
        action: Action,
        appointment: &Appointment,
        version: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let decision = decide(action, appointment, version, now);
        info!(appointment.id = appointment.id, answer = decision.answer.as_str(), "answered");
        match decision.effect {
            Some(Effect::Reply(reply)) => {
                tx.set_reply(appointment.id, reply, now).await?;
                // free times to choose from, if there are any; else the practice calls
                if decision.answer == Answer::Reschedule
                    && let Some(offered) = self.offer(tx, m, appointment, now).await?
                {
                    return Ok(offered);
                }
            }
            Some(Effect::Cancel) => {
                tx.set_reply(appointment.id, crate::domain::Reply::Cancelled, now).await?;
                tx.set_appointment_status(appointment.id, AppointmentStatus::Cancelled, now)
                    .await?;
                tx.cancel_pending_reminders(appointment.id, "cancelled by the customer", now)
                    .await?;
            }
            None => {}
        }
        self.answer(tx, m, appointment, decision.answer, format!("reply:{}", m.id), now).await
    }

    /// Enqueues `answer` to the customer, once per `dedup_key`.
    async fn answer(
        &self,
        tx: &mut Tx,
        m: &InboundMessage,
        appointment: &Appointment,
        answer: Answer,
        dedup_key: String,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        // the texts name the appointment's time and place, which an answer never changes
        let ctx = RenderContext::new(
            appointment,
            self.options.zone,
            &self.options.practice,
            &self.options.source_locations,
        );
        let body = answer_text(self.options.texts.text(answer), &ctx);
        let answer = NewOutbox {
            appointment_id: appointment.id,
            kind: OutboxKind::Reply,
            rule: answer.as_str().to_string(),
            dedup_key,
            appointment_start: appointment.starts_at,
            due_at: now,
            body: Some(body),
            reply_to: Some(m.id.clone()),
            plan_note: None,
            skipped: None,
        };
        Ok(usize::from(tx.insert_outbox(&answer, now).await?.is_some()))
    }
}

/// An answer text filled in for one appointment. A value the appointment lacks (no
/// name, no location) is left out rather than failing the answer: the customer still
/// hears that the tap worked.
pub(crate) fn answer_text(template: &str, ctx: &RenderContext<'_>) -> String {
    let blanks = Placeholder::all().map(|p| (p, String::new())).collect();
    let text = fill(template, ctx, &blanks).unwrap_or_else(|_| template.to_string());
    // "Dank je wel ! …" → "Dank je wel! …", line by line (a text may have several)
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let words: Vec<&str> = line.split(' ').filter(|w| !w.is_empty()).collect();
            words.join(" ").replace(" !", "!").replace(" ,", ",").replace(" .", ".")
        })
        .collect();
    lines.join("\n")
}

/// A delivery status: applied to the message it names, monotonically.
async fn status(tx: &mut Tx, s: &StatusUpdate, now: DateTime<Utc>) -> Result<(), StoreError> {
    let Some(delivery) = s.delivery() else {
        debug!(status = %s.status, "status not tracked");
        return Ok(());
    };
    let found = match tx.outbox_by_message_id(&s.id).await? {
        Some(m) => Some(m),
        // the send's response was lost (a crash, a timeout): the callback data names it
        None => match s.biz_opaque_callback_data.as_deref().and_then(parse_callback_data) {
            Some(id) => {
                let adopted = tx.adopt_message_id(id, &s.id, "whatsapp", now).await?;
                if adopted {
                    info!(outbox.id = id, "message id adopted from a status");
                }
                tx.outbox(id).await?
            }
            None => None,
        },
    };
    let Some(message) = found else {
        debug!(status = %s.status, "status for a message reminderd did not send");
        return Ok(());
    };
    let at = Utc.timestamp_opt(s.timestamp, 0).single().unwrap_or(now);
    let code = s.error_codes.first().copied();
    let applied = tx.apply_delivery(message.id, delivery, at, code, now).await?;
    if applied && delivery == crate::domain::Delivery::Failed {
        warn!(outbox.id = message.id, error.code = ?code,
              reason = code.and_then(describe).unwrap_or("unknown"),
              detail = ?s.error_title, "WhatsApp could not deliver a message");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::domain::appointment::sample;

    #[tokio::test]
    async fn a_stop_leaves_the_backlog_for_the_next_start() {
        use figment::providers::{Format, Toml};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.sqlite3").display());
        let store = Store::connect(&url, 2).await.unwrap();
        store.migrate().await.unwrap();
        let now = Utc.with_ymd_and_hms(2026, 10, 13, 8, 0, 0).unwrap();
        for i in 0..3 {
            store.insert_inbox("whatsapp", format!("{{\"n\":{i}}}").as_bytes(), now).await.unwrap();
        }
        let settings: crate::config::Settings =
            figment::Figment::new().merge(Toml::string(crate::config::DEFAULTS)).extract().unwrap();
        let options = ProcessOptions {
            texts: settings.messages,
            zone: chrono_tz::Europe::Amsterdam,
            practice: "Praktijk De Linde".into(),
            source_locations: HashMap::new(),
            poll_interval: StdDuration::from_secs(30),
            reschedule: settings.reschedule,
            workdays: WorkCalendar::default(),
            min_notice: settings.dispatch.min_notice,
        };
        let key = PayloadKey::from_secret(b"a test key that is long enough for the payloads");
        let processor =
            InboxProcessor::new(store.clone(), Clock::manual(now), key, options, Arc::default());
        let stop = CancellationToken::new();
        stop.cancel();
        assert_eq!(processor.drain_until(&stop).await.unwrap(), 0);
        assert_eq!(store.unprocessed_inbox_count().await.unwrap(), 3, "left for the next start");
        assert_eq!(processor.drain().await.unwrap(), 3);
        assert_eq!(store.unprocessed_inbox_count().await.unwrap(), 0);
    }

    #[test]
    fn an_answer_leaves_out_what_the_appointment_does_not_have() {
        let mut a = sample();
        let locations = HashMap::new();
        let zone = chrono_tz::Europe::Amsterdam;
        let ctx = RenderContext::new(&a, zone, "Praktijk De Linde", &locations);
        let text = "Dank je wel {first_name}! Je afspraak op {date} om {time} is bevestigd.";
        assert_eq!(
            answer_text(text, &ctx),
            "Dank je wel Sanne! Je afspraak op woensdag 14 oktober om 10:30 is bevestigd."
        );
        a.customer_name = None;
        let ctx = RenderContext::new(&a, zone, "Praktijk De Linde", &locations);
        assert_eq!(
            answer_text(text, &ctx),
            "Dank je wel! Je afspraak op woensdag 14 oktober om 10:30 is bevestigd."
        );
        assert_eq!(answer_text("Hallo {first_name},\nTot dan.", &ctx), "Hallo,\nTot dan.");
    }
}
