//! The dispatcher: claims due messages from the outbox, checks they still make sense,
//! renders them, sends them, and records what happened.
//!
//! A message is claimed under a lease; the outcome is written only if the attempt still
//! holds it. A transient failure (Meta overloaded, a timeout, a 5xx) is retried with
//! capped exponential backoff and jitter; a permanent one is recorded with Meta's code.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span, warn};

use super::backoff::retry_delay;
use super::wait_for_work;
use crate::clock::Clock;
use crate::domain::{
    Appointment, ButtonPayload, OutboxKind, OutboxMessage, PayloadKey, Phone, phone::mask,
};
use crate::rules::{RenderContext, RuleSet, TemplateParams};
use crate::store::{AttemptOutcome, Store, StoreError};
use crate::whatsapp::client::{SendError, Sender};
use crate::whatsapp::message::{Parameters, SendRequest, TemplateMessage};
use crate::whatsapp::response::Disposition;

/// How the dispatcher behaves; from `[dispatch]` and `[business]` in the config.
#[derive(Clone, Debug)]
pub struct DispatchOptions {
    pub batch_size: u32,
    pub lease: StdDuration,
    pub max_attempts: u32,
    pub retry_base: StdDuration,
    pub retry_max: StdDuration,
    /// Skip a reminder when the appointment starts sooner than this.
    pub min_notice: StdDuration,
    pub poll_interval: StdDuration,
    pub zone: Tz,
    pub practice: String,
    /// Default location per source name.
    pub source_locations: HashMap<String, String>,
}

/// Sends what is due.
#[derive(Clone, Debug)]
pub struct Dispatcher {
    store: Store,
    sender: Arc<Sender>,
    rules: Arc<RuleSet>,
    clock: Clock,
    key: PayloadKey,
    options: Arc<DispatchOptions>,
}

/// What became of one claimed message.
enum Step {
    Send(SendRequest),
    Done(AttemptOutcome),
}

impl Dispatcher {
    pub fn new(
        store: Store,
        sender: Arc<Sender>,
        rules: Arc<RuleSet>,
        clock: Clock,
        key: PayloadKey,
        options: DispatchOptions,
    ) -> Self {
        Dispatcher { store, sender, rules, clock, key, options: Arc::new(options) }
    }

    /// Runs until `shutdown`, waking every poll interval or when `wake` is notified.
    /// A message being sent when shutdown comes is finished; claimed ones not yet
    /// started are handed back to the queue.
    pub async fn run(self, shutdown: CancellationToken, wake: Arc<Notify>) {
        info!("dispatcher started");
        loop {
            match self.run_batch(&shutdown).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => error!(error.cause_chain = ?e, "dispatcher could not read the queue"),
            }
            if !wait_for_work(&shutdown, &wake, self.options.poll_interval).await {
                break;
            }
        }
        info!("dispatcher stopped");
    }

    /// Sends everything due now, batch after batch, until nothing is due. Returns the
    /// number of messages handled. (Tests call this after moving the clock.)
    pub async fn drain(&self) -> Result<usize, StoreError> {
        let never = CancellationToken::new();
        let mut total = 0;
        loop {
            let n = self.run_batch(&never).await?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    }

    async fn run_batch(&self, shutdown: &CancellationToken) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let lease_until = now + duration(self.options.lease);
        let claimed = self.store.claim_due(now, lease_until, self.options.batch_size).await?;
        let count = claimed.len();
        let mut claimed = claimed.into_iter();
        for message in claimed.by_ref() {
            let span = info_span!("send", outbox.id = message.id, kind = %message.kind,
                                  rule = %message.rule, attempt = message.attempts);
            self.handle(message).instrument(span).await;
            if shutdown.is_cancelled() {
                break;
            }
        }
        for rest in claimed {
            self.store.release_claim(rest.id, rest.attempts).await?;
        }
        Ok(count)
    }

    async fn handle(&self, message: OutboxMessage) {
        let step = match self.prepare(&message).await {
            Ok(step) => step,
            Err(e) => {
                // the store is failing: leave the claim to expire and be retried
                error!(error.cause_chain = ?e, "cannot prepare a message");
                return;
            }
        };
        let outcome = match step {
            Step::Done(outcome) => outcome,
            Step::Send(request) => match self.sender.send(&request).await {
                Ok(accepted) => AttemptOutcome::Sent {
                    channel: self.sender.name().to_string(),
                    message_id: accepted.message_id,
                },
                Err(e) => self.after_failure(&message, &e),
            },
        };
        log_outcome(&message, &outcome);
        let now = self.clock.now();
        match self.store.finish_attempt(message.id, message.attempts, &outcome, now).await {
            Ok(true) => {}
            Ok(false) => {
                warn!("the outcome was not recorded: the message was taken over meanwhile")
            }
            Err(e) => error!(error.cause_chain = ?e, "cannot record the outcome of a send"),
        }
    }

    /// Decides whether the message still makes sense and builds the request.
    async fn prepare(&self, message: &OutboxMessage) -> Result<Step, StoreError> {
        let skip = |detail: String| Ok(Step::Done(AttemptOutcome::Skipped { detail }));
        let Some(appointment) = self.store.appointment(message.appointment_id).await? else {
            return skip("the appointment no longer exists".into());
        };
        let now = self.clock.now();
        let Some(to) = whatsapp_number(&appointment) else {
            return skip(match &appointment.customer_phone {
                None => "no phone number for this customer".into(),
                Some(p) => format!("{} is not a mobile number; WhatsApp needs one", mask(p)),
            });
        };
        match message.kind {
            OutboxKind::Reply => Ok(Step::Send(SendRequest::text(
                &to,
                message.body.as_deref().unwrap_or_default(),
                message.reply_to.as_deref(),
                callback_data(message.id),
            ))),
            OutboxKind::Reminder => {
                if let Some(reason) = self.too_late(message, &appointment, now) {
                    return skip(reason);
                }
                let Some(rule) = self.rules.get(&message.rule) else {
                    return skip(format!("the rule `{}` no longer exists", message.rule));
                };
                // the appointment or the customer's answer may have changed since planning
                if let Some(reason) = rule.excludes(&appointment) {
                    return skip(reason);
                }
                if let Some(ttl) = rule.ttl
                    && appointment.starts_at - now < duration(ttl)
                {
                    return skip(format!(
                        "less than the template's ttl of {} before the appointment: WhatsApp \
                         could deliver it afterwards",
                        humantime::format_duration(ttl)
                    ));
                }
                let ctx = RenderContext::new(
                    &appointment,
                    self.options.zone,
                    &self.options.practice,
                    &self.options.source_locations,
                );
                let rendered = match rule.render(&ctx) {
                    Ok(r) => r,
                    Err(e) => {
                        return Ok(Step::Done(AttemptOutcome::Failed {
                            code: None,
                            detail: format!("rule `{}`: {e}", rule.name),
                        }));
                    }
                };
                let quick_replies = rendered
                    .buttons
                    .iter()
                    .map(|&action| ButtonPayload::new(action, message.id).encode(&self.key))
                    .collect();
                Ok(Step::Send(SendRequest::template(TemplateMessage {
                    to,
                    name: rendered.name,
                    language: rendered.language,
                    header: rendered.header.map(parameters),
                    parameters: parameters(rendered.params),
                    quick_replies,
                    callback_data: callback_data(message.id),
                })))
            }
        }
    }

    /// Why a reminder should not go out any more, if it should not.
    fn too_late(
        &self,
        message: &OutboxMessage,
        appointment: &Appointment,
        now: DateTime<Utc>,
    ) -> Option<String> {
        if !appointment.is_upcoming(now) {
            return Some(format!(
                "the appointment is {} (customer: {})",
                appointment.status, appointment.reply
            ));
        }
        if message.appointment_start != appointment.starts_at {
            return Some("the appointment moved after this reminder was planned".into());
        }
        let left = appointment.starts_at - now;
        if left < duration(self.options.min_notice) {
            return Some(format!(
                "too late: the appointment starts in {} min, less than the minimum notice",
                left.num_minutes()
            ));
        }
        None
    }

    fn after_failure(&self, message: &OutboxMessage, e: &SendError) -> AttemptOutcome {
        let code = e.code();
        let detail = e.to_string();
        let attempts = u32::try_from(message.attempts).unwrap_or(u32::MAX);
        let retry_in = match e.disposition() {
            Disposition::Retry => {
                retry_delay(attempts, self.options.retry_base, self.options.retry_max)
            }
            // Meta's pair-rate rule: wait 4^x seconds before writing to this person again
            Disposition::RetryRecipientLater => {
                StdDuration::from_secs(4u64.saturating_pow(attempts)).min(self.options.retry_max)
            }
            // A token or account problem stops every message alike; keep them queued
            // (not failed) while an operator fixes it.
            Disposition::StopChannel => {
                error!(error.code = ?code, "the WhatsApp channel is refused: {detail}");
                self.options.retry_max
            }
            Disposition::FailMessage
            | Disposition::FallBackCustomer
            | Disposition::FallBackTemplate => {
                return AttemptOutcome::Failed { code, detail };
            }
        };
        if attempts >= self.options.max_attempts {
            return AttemptOutcome::Failed {
                code,
                detail: format!("gave up after {attempts} attempts: {detail}"),
            };
        }
        AttemptOutcome::Retry { at: self.clock.now() + duration(retry_in), code, detail }
    }
}

fn parameters(params: TemplateParams) -> Parameters {
    match params {
        TemplateParams::Positional(p) => Parameters::Positional(p),
        TemplateParams::Named(n) => Parameters::Named(n),
    }
}

/// The E.164 number WhatsApp can reach, if the customer has one.
fn whatsapp_number(appointment: &Appointment) -> Option<String> {
    let phone = Phone::from_e164(appointment.customer_phone.as_deref()?).ok()?;
    phone.is_mobile().then(|| phone.e164().to_string())
}

/// `biz_opaque_callback_data`: names the outgoing message in every status webhook.
pub fn callback_data(outbox_id: i64) -> String {
    format!("outbox:{outbox_id}")
}

/// Reads [`callback_data`] back.
pub fn parse_callback_data(text: &str) -> Option<i64> {
    text.strip_prefix("outbox:")?.parse().ok()
}

fn duration(d: StdDuration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::MAX)
}

fn log_outcome(message: &OutboxMessage, outcome: &AttemptOutcome) {
    match outcome {
        AttemptOutcome::Sent { message_id, .. } => info!(%message_id, "sent"),
        AttemptOutcome::Retry { at, code, detail } => {
            warn!(retry_at = %at, error.code = ?code, "send failed, will retry: {detail}")
        }
        AttemptOutcome::Failed { code, detail } => {
            warn!(error.code = ?code, "send failed for good: {detail}")
        }
        AttemptOutcome::Skipped { detail } => info!(outbox.id = message.id, "skipped: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_data_round_trips() {
        assert_eq!(parse_callback_data(&callback_data(42)), Some(42));
        assert_eq!(parse_callback_data("appt:7f3c2a"), None);
        assert_eq!(parse_callback_data("outbox:x"), None);
    }
}
