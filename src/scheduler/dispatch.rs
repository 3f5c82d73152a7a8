//! The dispatcher: claims due messages from the outbox, checks they still make sense,
//! renders them, sends them within Meta's limits, and records what happened.
//!
//! Sends run concurrently: Meta answers in 50–300 ms, so reaching the configured
//! messages per second takes about rate × latency requests in flight (see
//! [`concurrency_for`]). Only as many messages are claimed as there are free slots, so a
//! claim never waits long enough for its lease to matter.
//!
//! A message is claimed under a lease; the outcome is written only if the attempt still
//! holds it. A transient failure (Meta overloaded, a timeout, a 5xx) is retried with
//! capped exponential backoff and jitter; a permanent one is recorded with Meta's code.
//! A message held back by a limit (the pair rate, a stopped channel) goes back to the
//! queue without using up an attempt.
//!
//! **Exactly once across crashes.** Each send carries `biz_opaque_callback_data` naming
//! the outbox row. If the process dies after the request may have reached Meta but
//! before the outcome was stored, the row stays `sending`. It is not claimed again until
//! its lease *and* `dispatch.inflight_grace` have passed: meanwhile the status webhook
//! of a message Meta accepted names the row, which is then recorded as sent and never
//! sent again. A row still unclaimed after the grace is sent again; a duplicate is then
//! possible only when Meta accepted the first request and none of its status webhooks
//! reached us within the grace.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, error, info, info_span, warn};

use super::backoff::retry_delay;
use super::channel::{Choice, Facts, NoEmail, NoWhatsapp, choose};
use super::limits::{
    ChannelGate, PairRate, REACH_WINDOW, RateLimiter, Reach, Stopped, concurrency_for,
};
use super::wait_for_work;
use crate::clock::Clock;
use crate::domain::consent::normalise_email;
use crate::domain::{
    Appointment, ButtonPayload, ConsentChannel, ConsentStatus, NoticeBody, OutboxKind,
    OutboxMessage, PayloadKey, Phone, phone::mask, redact,
};
use crate::email::{EmailChannel, MailError};
use crate::rules::{RenderContext, RuleSet, TemplateParams};
use crate::store::{AttemptOutcome, Store, StoreError};
use crate::whatsapp::client::{SendError, Sender};
use crate::whatsapp::message::{ListMessage, Parameters, SendRequest, TemplateMessage};
use crate::whatsapp::response::{Disposition, RULES};
use crate::whatsapp::templates::{TemplateBook, status_after_error};

/// How the dispatcher behaves; from `[dispatch]`, `[whatsapp]` and `[business]`.
#[derive(Clone, Debug)]
pub struct DispatchOptions {
    /// Most messages claimed at once.
    pub batch_size: u32,
    pub lease: StdDuration,
    /// How long a message whose attempt was interrupted waits, after its lease, for a
    /// status webhook saying it went out, before it is sent again.
    pub inflight_grace: StdDuration,
    pub max_attempts: u32,
    pub retry_base: StdDuration,
    pub retry_max: StdDuration,
    /// Skip a reminder when the appointment starts sooner than this.
    pub min_notice: StdDuration,
    pub poll_interval: StdDuration,
    /// Messages per second for the business number (Meta's throughput: 80, up to 1,000).
    pub rate: u32,
    /// The slowest answer expected from the Graph API; with `rate` it sizes the number
    /// of requests in flight.
    pub latency: StdDuration,
    /// After a token or account error, how long the channel waits before one message
    /// probes whether an operator fixed it.
    pub channel_pause: StdDuration,
    /// Meta's messaging limit: unique customers reached a day (`None`: unlimited).
    pub messaging_limit: Option<u32>,
    pub zone: Tz,
    pub practice: String,
    /// Default location per source name.
    pub source_locations: HashMap<String, String>,
    /// Reminders only to customers whose latest WhatsApp consent is an opt-in (an
    /// opt-out always stops them).
    pub require_opt_in: bool,
}

/// How long after a customer's message a free-form answer may be sent (WHATSAPP.md:
/// the customer service window).
pub const SERVICE_WINDOW: Duration = Duration::hours(24);

/// How often a reminder held for an unusable template looks again.
const TEMPLATE_RECHECK: Duration = Duration::minutes(15);

/// Sends what is due.
#[derive(Clone, Debug)]
pub struct Dispatcher {
    store: Store,
    sender: Arc<Sender>,
    rules: Arc<RuleSet>,
    clock: Clock,
    key: PayloadKey,
    options: Arc<DispatchOptions>,
    limiter: Arc<RateLimiter>,
    pairs: Arc<PairRate>,
    gate: Arc<ChannelGate>,
    reach: Arc<Reach>,
    /// What Meta said about the templates (shared with the webhook processor).
    templates: Arc<TemplateBook>,
    /// When `reach` and `templates` were last brought up to date from the store (other
    /// replicas send and hear from Meta too).
    refreshed: Arc<std::sync::Mutex<Option<DateTime<Utc>>>>,
    slots: Arc<Semaphore>,
    /// Reminders by e-mail; `None` when `email.enabled` is false.
    email: Option<Arc<EmailChannel>>,
    #[cfg(test)]
    faults: Arc<faults::Faults>,
}

/// What became of one claimed message.
enum Step {
    /// A WhatsApp request; for a reminder, with what decided its channel (a failure
    /// may still turn it to e-mail).
    Send {
        to: String,
        request: Box<SendRequest>,
        facts: Option<Box<Facts>>,
    },
    Email {
        to: String,
        message: Box<lettre::Message>,
    },
    Done(AttemptOutcome),
}

/// The message the channel of a row marks as an e-mail.
pub const EMAIL_CHANNEL: &str = "email";

/// How far back a permanent WhatsApp failure for a customer sends their reminders by
/// e-mail.
const FAILED_MEMORY: Duration = Duration::days(90);

impl Dispatcher {
    pub fn new(
        store: Store,
        sender: Arc<Sender>,
        rules: Arc<RuleSet>,
        clock: Clock,
        key: PayloadKey,
        options: DispatchOptions,
    ) -> Self {
        let slots = concurrency_for(options.rate, options.latency);
        Dispatcher {
            store,
            sender,
            rules,
            clock,
            key,
            limiter: Arc::new(RateLimiter::per_second(options.rate)),
            pairs: Arc::default(),
            gate: Arc::default(),
            reach: Arc::new(Reach::new(options.messaging_limit)),
            templates: Arc::default(),
            refreshed: Arc::default(),
            slots: Arc::new(Semaphore::new(slots)),
            email: None,
            options: Arc::new(options),
            #[cfg(test)]
            faults: Arc::default(),
        }
    }

    /// Shares what is known about the templates with whoever hears from Meta.
    pub fn with_templates(mut self, templates: Arc<TemplateBook>) -> Self {
        self.templates = templates;
        self
    }

    /// Sends reminders by e-mail where WhatsApp cannot carry them.
    pub fn with_email(mut self, email: Option<Arc<EmailChannel>>) -> Self {
        self.email = email;
        self
    }

    /// Requests that may be in flight at once.
    pub fn concurrency(&self) -> usize {
        concurrency_for(self.options.rate, self.options.latency)
    }

    /// Why the WhatsApp channel is stopped, if it is (for `/readyz` and staff).
    pub fn channel_stopped(&self) -> Option<Stopped> {
        self.gate.stopped()
    }

    /// Meta's messaging limit as configured (`None`: unlimited), for staff.
    pub fn messaging_limit(&self) -> Option<u32> {
        self.reach.limit()
    }

    /// The clock it sends by.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Runs until `shutdown`, waking every poll interval or when `wake` is notified.
    /// Messages being sent when shutdown comes are finished; claimed ones not yet
    /// started are handed back to the queue.
    pub async fn run(self, shutdown: CancellationToken, wake: Arc<Notify>) {
        info!(rate = self.options.rate, in_flight = self.concurrency(), "dispatcher started");
        let tasks = TaskTracker::new();
        loop {
            let mut idle = self.options.poll_interval;
            match self.claim_and_start(&shutdown, &tasks).await {
                Ok(n) if n > 0 => continue,
                // nothing due: sleep until the next message is, or the poll interval
                Ok(_) => match self.store.next_due_at().await {
                    Ok(Some(next)) => {
                        let until = (next - self.clock.now()).to_std().unwrap_or_default();
                        idle = idle.min(until);
                    }
                    Ok(None) => {}
                    Err(e) => error!(error.cause_chain = ?e, "dispatcher could not read the queue"),
                },
                Err(e) => error!(error.cause_chain = ?e, "dispatcher could not read the queue"),
            }
            if !wait_for_work(&shutdown, &wake, idle).await {
                break;
            }
        }
        tasks.close();
        tasks.wait().await;
        info!("dispatcher stopped");
    }

    /// Sends everything due now, batch after batch, until nothing is due, and waits for
    /// every send to finish. Returns the number of messages handled. (Tests call this
    /// after moving the clock.)
    pub async fn drain(&self) -> Result<usize, StoreError> {
        let never = CancellationToken::new();
        let mut total = 0;
        loop {
            // claim until nothing is due, then let the sends finish: one of them may
            // have made another message due (a retry without delay)
            let tasks = TaskTracker::new();
            let mut round = 0;
            loop {
                let n = self.claim_and_start(&never, &tasks).await?;
                if n == 0 {
                    break;
                }
                round += n;
            }
            tasks.close();
            tasks.wait().await;
            if round == 0 {
                return Ok(total);
            }
            total += round;
        }
    }

    /// Claims as many due messages as there are free send slots (at least one: waits
    /// for a slot) and starts sending each in its own task. Returns how many it claimed.
    async fn claim_and_start(
        &self,
        shutdown: &CancellationToken,
        tasks: &TaskTracker,
    ) -> Result<usize, StoreError> {
        let first = tokio::select! {
            permit = self.slots.clone().acquire_owned() => permit.expect("never closed"),
            _ = shutdown.cancelled() => return Ok(0),
        };
        let free = (self.slots.available_permits() + 1).min(self.options.batch_size as usize);
        let now = self.clock.now();
        self.refresh(now).await?;
        let lease_until = now + duration(self.options.lease);
        let reclaim_before = now - duration(self.options.inflight_grace);
        let claimed = self.store.claim_due(now, lease_until, reclaim_before, free as u32).await?;
        let count = claimed.len();
        let mut permit = Some(first);
        let mut claimed = claimed.into_iter();
        for message in claimed.by_ref() {
            let slot = match permit.take() {
                Some(p) => p,
                None => tokio::select! {
                    p = self.slots.clone().acquire_owned() => p.expect("never closed"),
                    _ = shutdown.cancelled() => {
                        self.store.release_claim(message.id, message.attempts).await?;
                        break;
                    }
                },
            };
            let span = info_span!("send", outbox.id = message.id, kind = %message.kind,
                                  rule = %message.rule, attempt = message.attempts);
            let this = self.clone();
            tasks.spawn(
                async move {
                    this.handle(message).await;
                    drop(slot);
                }
                .instrument(span),
            );
        }
        for rest in claimed {
            self.store.release_claim(rest.id, rest.attempts).await?;
        }
        Ok(count)
    }

    /// Reads what other replicas may have changed — the customers reached in the last
    /// day, what Meta said about the templates — at the first claim and every minute.
    async fn refresh(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let due = self
            .refreshed
            .lock()
            .expect("not poisoned")
            .is_none_or(|at| now < at || now - at >= Duration::minutes(1));
        if !due {
            return Ok(());
        }
        if self.reach.limit().is_some() {
            let reached = self.store.reached_since(now - duration(REACH_WINDOW)).await?;
            self.reach.load(reached);
        }
        self.templates.load(self.store.templates().await?);
        *self.refreshed.lock().expect("not poisoned") = Some(now);
        Ok(())
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
            Step::Send { to, request, facts } => {
                match self.send(&message, &to, &request, facts).await {
                    Some(outcome) => outcome,
                    // the process "died" mid-send (a fault injected by a test)
                    None => return,
                }
            }
            Step::Email { to, message: mail } => {
                match self.send_email(&message, &to, *mail).await {
                    Some(outcome) => outcome,
                    None => return,
                }
            }
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

    /// Sends within the limits: the channel must be open, the customer not written to
    /// in the last 6 s, and the number's rate not exceeded. `None` only when a test
    /// injected a crash.
    async fn send(
        &self,
        message: &OutboxMessage,
        to: &str,
        request: &SendRequest,
        facts: Option<Box<Facts>>,
    ) -> Option<AttemptOutcome> {
        let now = self.clock.now();
        let stopped = |until| {
            let reason = self.gate.stopped().map(|s| s.reason).unwrap_or_default();
            Some(AttemptOutcome::Deferred {
                until,
                detail: format!("the WhatsApp channel is stopped: {reason}"),
            })
        };
        // a stopped channel holds the message before it counts toward any limit
        if let Err(until) = self.gate.peek(now) {
            return stopped(until);
        }
        // replies answer the customer inside their service window: only templates count
        if matches!(message.kind, OutboxKind::Reminder | OutboxKind::Notice)
            && let Err(free) = self.reach.admit(to, now)
        {
            let limit = self.reach.limit().unwrap_or_default();
            let latest = message.appointment_start - duration(self.options.min_notice);
            if free > latest
                && let Some(mut facts) = facts
            {
                facts.limit_too_close = true;
                if let Choice::Email(why) = choose(&facts) {
                    return Some(self.by_email(message, why).await);
                }
            }
            return Some(if free <= latest {
                AttemptOutcome::Deferred {
                    until: free,
                    detail: format!(
                        "Meta's messaging limit ({limit} customers a day) is reached; waiting for a place"
                    ),
                }
            } else {
                AttemptOutcome::Skipped {
                    detail: format!(
                        "Meta's messaging limit ({limit} customers a day) is reached and no place frees \
                         up in time before the appointment"
                    ),
                }
            });
        }
        if let Err(until) = self.pairs.reserve(to, now) {
            return Some(AttemptOutcome::Deferred {
                until,
                detail: "Meta's pair rate: one message to the same customer per 6 seconds".into(),
            });
        }
        // taken last: a message let through as the probe must be sent, so the probe's
        // answer opens or stops the channel again
        if let Err(until) = self.gate.check(now) {
            return stopped(until);
        }
        self.limiter.acquire().await;
        #[cfg(test)]
        if self.faults.crash(faults::Point::BeforeSend) {
            return None;
        }
        let result = self.sender.send(request).await;
        #[cfg(test)]
        if self.faults.crash(faults::Point::AfterSend) {
            return None;
        }
        Some(match result {
            Ok(accepted) => {
                self.gate.open();
                AttemptOutcome::Sent {
                    channel: self.sender.name().to_string(),
                    message_id: accepted.message_id,
                }
            }
            Err(e) => {
                if e.disposition() != Disposition::StopChannel {
                    self.gate.open();
                }
                if e.disposition() == Disposition::TemplateUnusable
                    && let Some(rule) = self.rules.get(&message.rule)
                {
                    let held = self.template_refused(rule, &e).await;
                    if let Some(mut facts) = facts {
                        facts.template_unusable = Some(e.to_string());
                        if let Choice::Email(why) = choose(&facts) {
                            return Some(self.by_email(message, why).await);
                        }
                    }
                    return Some(held);
                }
                if e.disposition() == Disposition::FallBackCustomer
                    && let Some(mut facts) = facts
                {
                    facts.whatsapp_failed = true;
                    if let Choice::Email(why) = choose(&facts) {
                        let failed = self.after_failure(message, &e);
                        let by_email = self.by_email(message, why).await;
                        return Some(match (failed, by_email) {
                            (
                                AttemptOutcome::Failed { code, detail },
                                AttemptOutcome::Skipped { detail: instead },
                            ) => AttemptOutcome::Failed {
                                code,
                                detail: format!("{detail}; {instead}"),
                            },
                            (_, other) => other,
                        });
                    }
                }
                self.after_failure(message, &e)
            }
        })
    }

    /// Meta refused the template itself: no reminder of it goes until Meta approves it
    /// again (a status webhook, or `reminderd templates status`); this one waits too.
    async fn template_refused(&self, rule: &crate::rules::Rule, e: &SendError) -> AttemptOutcome {
        let code = e.code().unwrap_or_default();
        let report = crate::store::TemplateRecord {
            name: rule.template.clone(),
            language: rule.language.clone(),
            status: Some(status_after_error(code).into()),
            reason: Some(format!("a send was refused with code {code}: {e}")),
            ..Default::default()
        };
        error!(template = %rule.template, language = %rule.language, error.code = code,
               "Meta refused the template: {e}");
        self.templates.update(&report);
        let now = self.clock.now();
        if let Err(err) = self.store.record_template(&report, now).await {
            error!(error.cause_chain = ?err, "cannot record the template's state");
        }
        AttemptOutcome::Deferred {
            until: now + TEMPLATE_RECHECK,
            detail: format!(
                "template {} ({}) refused by Meta: {e}; waiting until it is approved",
                rule.template, rule.language
            ),
        }
    }

    /// Decides whether the message still makes sense, on which channel, and builds the
    /// request.
    async fn prepare(&self, message: &OutboxMessage) -> Result<Step, StoreError> {
        let skip = |detail: String| Ok(Step::Done(AttemptOutcome::Skipped { detail }));
        let Some(appointment) = self.store.appointment(message.appointment_id).await? else {
            return skip("the appointment no longer exists".into());
        };
        let now = self.clock.now();
        match message.kind {
            OutboxKind::Reminder => return self.prepare_reminder(message, &appointment, now).await,
            OutboxKind::Notice => return self.prepare_notice(message, &appointment).await,
            OutboxKind::Reply | OutboxKind::Offer => {}
        }
        let Some(to) = whatsapp_number(&appointment) else {
            return skip(no_mobile(&appointment));
        };
        // an answer is enqueued when the customer's message is processed, which opened a
        // 24-hour service window; after it only a template may go (Meta would refuse
        // with 131047)
        if now >= message.due_at + SERVICE_WINDOW {
            return skip(
                "the customer's 24-hour service window closed before the answer could go; \
                 only a template may be sent now"
                    .into(),
            );
        }
        let body = message.body.as_deref().unwrap_or_default();
        let request = if message.kind == OutboxKind::Reply {
            SendRequest::text(&to, body, message.reply_to.as_deref(), callback_data(message.id))
        } else {
            // free times for an appointment that moved or was cancelled since would only
            // confuse
            if let Some(reason) = self.too_late(message, &appointment, now) {
                return skip(reason);
            }
            match offer_request(&to, body, callback_data(message.id)) {
                Ok(request) => request,
                Err(detail) => {
                    return Ok(Step::Done(AttemptOutcome::Failed { code: None, detail }));
                }
            }
        };
        Ok(Step::Send { to, request: Box::new(request), facts: None })
    }

    /// A notice: an approved template, sent after the customer's service window closed
    /// (staff's decision on a requested time), unless they opted out since.
    async fn prepare_notice(
        &self,
        message: &OutboxMessage,
        appointment: &Appointment,
    ) -> Result<Step, StoreError> {
        let skip = |detail: String| Ok(Step::Done(AttemptOutcome::Skipped { detail }));
        let Some(to) = whatsapp_number(appointment) else {
            return skip(no_mobile(appointment));
        };
        let consent = self.store.current_consent(ConsentChannel::Whatsapp, &to).await?;
        if consent.is_some_and(|c| c.status == ConsentStatus::OptedOut) {
            return skip("the customer opted out of WhatsApp: tell them by phone".into());
        }
        let notice: NoticeBody = match serde_json::from_str(message.body.as_deref().unwrap_or("")) {
            Ok(notice) => notice,
            Err(e) => {
                let detail = format!("the stored notice cannot be read: {e}");
                return Ok(Step::Done(AttemptOutcome::Failed { code: None, detail }));
            }
        };
        if let Some(reason) = self.templates.unusable(&notice.template, &notice.language) {
            return skip(format!("{reason}: tell the customer by phone"));
        }
        let request = SendRequest::template(TemplateMessage {
            to: to.clone(),
            name: notice.template,
            language: notice.language,
            header: None,
            parameters: Parameters::Positional(notice.params),
            quick_replies: Vec::new(),
            callback_data: callback_data(message.id),
        });
        Ok(Step::Send { to, request: Box::new(request), facts: None })
    }

    /// A reminder: still wanted, then on the channel [`choose`] picks.
    async fn prepare_reminder(
        &self,
        message: &OutboxMessage,
        appointment: &Appointment,
        now: DateTime<Utc>,
    ) -> Result<Step, StoreError> {
        let skip = |detail: String| Ok(Step::Done(AttemptOutcome::Skipped { detail }));
        if let Some(reason) = self.too_late(message, appointment, now) {
            return skip(reason);
        }
        let Some(rule) = self.rules.get(&message.rule) else {
            return skip(format!("the rule `{}` no longer exists", message.rule));
        };
        // the appointment or the customer's answer may have changed since planning
        if let Some(reason) = rule.excludes(appointment) {
            return skip(reason);
        }
        let email = self.email_address(appointment).await?;
        if message.channel.as_deref() == Some(EMAIL_CHANNEL) {
            return self.prepare_email(message, appointment, email, now);
        }
        let to = whatsapp_number(appointment);
        // checked now, not when planned: an opt-out wins at once
        let consent = match &to {
            Some(to) => self.store.current_consent(ConsentChannel::Whatsapp, to).await?,
            None => None,
        };
        // a failure counts until the customer says anything new about WhatsApp (START
        // shows they use it again)
        let blocked = match consent.as_ref().map(|c| c.status) {
            Some(ConsentStatus::OptedOut) => true,
            Some(ConsentStatus::OptedIn) => false,
            None => self.options.require_opt_in,
        };
        let whatsapp_failed = match &to {
            // asked only when it can make a difference
            Some(to) if !blocked => {
                let since = consent
                    .as_ref()
                    .map_or(now - FAILED_MEMORY, |c| c.recorded_at.max(now - FAILED_MEMORY));
                self.store.whatsapp_failed_for(to, &unreachable_codes(), since).await?
            }
            _ => false,
        };
        let facts = Facts {
            channels: rule.channels.clone(),
            mobile: to.is_some(),
            whatsapp_consent: consent.as_ref().map(|c| c.status),
            require_opt_in: self.options.require_opt_in,
            whatsapp_failed,
            template_unusable: self.templates.unusable(&rule.template, &rule.language),
            limit_too_close: false,
            email_enabled: self.email.is_some(),
            email_address: email.is_some(),
            email_opted_out: email.as_ref().is_some_and(|(_, opted_out)| *opted_out),
        };
        let (whatsapp, no_email) = match choose(&facts) {
            Choice::Whatsapp => (None, None),
            Choice::Email(why) => return Ok(Step::Done(self.by_email(message, why).await)),
            Choice::Neither { whatsapp, email } => (whatsapp, email),
        };
        let either = |reason: String| match no_email {
            Some(no) if rule.channels.contains(&crate::domain::Channel::Email) => {
                format!("{reason}; no e-mail either: {no}")
            }
            _ => reason,
        };
        match whatsapp {
            None => {}
            Some(NoWhatsapp::NoMobile) => return skip(either(no_mobile(appointment))),
            // held while Meta does not allow the template, when e-mail cannot take it
            Some(NoWhatsapp::TemplateUnusable(reason)) => {
                return Ok(Step::Done(AttemptOutcome::Deferred {
                    until: now + TEMPLATE_RECHECK,
                    detail: either(format!("{reason}; waiting until it is approved")),
                }));
            }
            Some(NoWhatsapp::OptedOut) => {
                let opted_out = consent.map(|c| {
                    format!(
                        "the customer opted out of WhatsApp on {} ({})",
                        crate::domain::time::dutch_moment_short(c.recorded_at, self.options.zone),
                        c.method
                    )
                });
                return skip(either(opted_out.unwrap_or_default()));
            }
            Some(NoWhatsapp::NotOptedIn) => {
                return skip(either(
                    "the customer has not opted in to WhatsApp reminders (nothing in the \
                     consent ledger)"
                        .into(),
                ));
            }
            Some(other) => return skip(either(other.to_string())),
        }
        let to = to.unwrap_or_default();
        if let Some(ttl) = rule.ttl
            && appointment.starts_at - now < duration(ttl)
        {
            return skip(format!(
                "less than the template's ttl of {} before the appointment: WhatsApp could \
                 deliver it afterwards",
                humantime::format_duration(ttl)
            ));
        }
        let ctx = RenderContext::new(
            appointment,
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
        let request = SendRequest::template(TemplateMessage {
            to: to.clone(),
            name: rendered.name,
            language: rendered.language,
            header: rendered.header.map(parameters),
            parameters: parameters(rendered.params),
            quick_replies,
            callback_data: callback_data(message.id),
        });
        Ok(Step::Send { to, request: Box::new(request), facts: Some(Box::new(facts)) })
    }

    /// The customer's e-mail address, and whether they opted out of e-mail.
    async fn email_address(
        &self,
        appointment: &Appointment,
    ) -> Result<Option<(String, bool)>, StoreError> {
        let Some(address) = appointment.customer_email.as_deref().and_then(normalise_email) else {
            return Ok(None);
        };
        let consent = self.store.current_consent(ConsentChannel::Email, &address).await?;
        let opted_out = consent.is_some_and(|c| c.status == ConsentStatus::OptedOut);
        Ok(Some((address, opted_out)))
    }

    /// The e-mail twin of a reminder: checked again now (e-mail may have been switched
    /// off, the customer may have unsubscribed), then composed.
    fn prepare_email(
        &self,
        message: &OutboxMessage,
        appointment: &Appointment,
        email: Option<(String, bool)>,
        now: DateTime<Utc>,
    ) -> Result<Step, StoreError> {
        let skip = |no: NoEmail| Ok(Step::Done(AttemptOutcome::Skipped { detail: no.to_string() }));
        let Some(channel) = &self.email else { return skip(NoEmail::Off) };
        let Some((to, opted_out)) = email else { return skip(NoEmail::NoAddress) };
        if opted_out {
            return skip(NoEmail::OptedOut);
        }
        let reminder = crate::email::Reminder { outbox_id: message.id, appointment, to: &to, now };
        Ok(match channel.composer.compose(&reminder) {
            Ok(mail) => Step::Email { to, message: Box::new(mail) },
            Err(detail) => Step::Done(AttemptOutcome::Failed { code: None, detail }),
        })
    }

    /// Hands a reminder WhatsApp cannot carry to e-mail: its e-mail twin is enqueued
    /// (once, however often this is decided), and the WhatsApp row is skipped saying so.
    async fn by_email(&self, message: &OutboxMessage, why: Option<NoWhatsapp>) -> AttemptOutcome {
        let because = why.map_or_else(|| "the rule prefers e-mail".to_string(), |w| w.to_string());
        let now = self.clock.now();
        match self.store.insert_email_for(message.id, &format!("by e-mail: {because}"), now).await {
            Ok(_) => {
                AttemptOutcome::Skipped { detail: format!("{because}; sent by e-mail instead") }
            }
            Err(e) => {
                error!(error.cause_chain = ?e, "cannot enqueue the e-mail");
                AttemptOutcome::Deferred {
                    until: now + Duration::minutes(1),
                    detail: format!("{because}; the e-mail could not be enqueued yet"),
                }
            }
        }
    }

    /// Sends an e-mail. The server's 250 is the acceptance: recorded as sent with the
    /// `Message-ID`. `None` only when a test injected a crash.
    async fn send_email(
        &self,
        message: &OutboxMessage,
        to: &str,
        mail: lettre::Message,
    ) -> Option<AttemptOutcome> {
        let channel = self.email.as_ref()?;
        info!(to = %redact::email(to), "sending by e-mail");
        #[cfg(test)]
        if self.faults.crash(faults::Point::BeforeSend) {
            return None;
        }
        let result = channel.mailer.send(mail).await;
        #[cfg(test)]
        if self.faults.crash(faults::Point::AfterSend) {
            return None;
        }
        let attempts = u32::try_from(message.attempts).unwrap_or(u32::MAX);
        // a server's answer may quote the address: it stays out of the outbox
        let result = result.map_err(|e| match e {
            MailError::Permanent(d) => MailError::Permanent(d.replace(to, &redact::email(to))),
            MailError::Transient(d) => MailError::Transient(d.replace(to, &redact::email(to))),
        });
        Some(match result {
            Ok(()) => AttemptOutcome::Sent {
                channel: EMAIL_CHANNEL.into(),
                message_id: channel.composer.message_id(message.id),
            },
            Err(MailError::Permanent(detail)) => AttemptOutcome::Failed { code: None, detail },
            Err(MailError::Transient(detail)) if attempts >= self.options.max_attempts => {
                AttemptOutcome::Failed {
                    code: None,
                    detail: format!("gave up after {attempts} attempts: {detail}"),
                }
            }
            Err(MailError::Transient(detail)) => {
                let retry_in =
                    retry_delay(attempts, self.options.retry_base, self.options.retry_max);
                AttemptOutcome::Retry {
                    at: self.clock.now() + duration(retry_in),
                    code: None,
                    detail,
                }
            }
        })
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
            // A token or account problem stops every message alike: stop the channel
            // and keep this one queued, its attempt not counted, while an operator
            // fixes it.
            Disposition::StopChannel => {
                error!(error.code = ?code, "the WhatsApp channel is refused: {detail}");
                let now = self.clock.now();
                let pause = duration(self.options.channel_pause);
                self.gate.stop(detail.clone(), code, now, pause);
                return AttemptOutcome::Deferred {
                    until: now + pause,
                    detail: format!("the WhatsApp channel is stopped: {detail}"),
                };
            }
            Disposition::FailMessage
            | Disposition::FallBackCustomer
            | Disposition::FallBackTemplate
            | Disposition::TemplateUnusable => {
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

/// Why a customer's number cannot get WhatsApp.
fn no_mobile(appointment: &Appointment) -> String {
    match &appointment.customer_phone {
        None => "no phone number for this customer".into(),
        Some(p) => format!("{} is not a mobile number; WhatsApp needs one", mask(p)),
    }
}

/// Meta's codes saying the customer cannot be reached on WhatsApp (131026, 131049, …).
pub fn unreachable_codes() -> Vec<i64> {
    RULES
        .iter()
        .filter(|r| r.disposition == Disposition::FallBackCustomer)
        .flat_map(|r| r.codes.clone())
        .collect()
}

/// The E.164 number WhatsApp can reach, if the customer has one.
fn whatsapp_number(appointment: &Appointment) -> Option<String> {
    let phone = Phone::from_e164(appointment.customer_phone.as_deref()?).ok()?;
    phone.is_mobile().then(|| phone.e164().to_string())
}

/// The list stored for an offer (`reschedule`), addressed and checked against Meta's
/// limits.
fn offer_request(to: &str, body: &str, callback_data: String) -> Result<SendRequest, String> {
    let mut list: ListMessage = serde_json::from_str(body)
        .map_err(|e| format!("the stored list of free times cannot be read: {e}"))?;
    list.to = to.to_string();
    list.callback_data = callback_data;
    SendRequest::list(list)
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
        AttemptOutcome::Deferred { until, detail } => info!(%until, "held back: {detail}"),
    }
}

/// Fault injection for the crash tests: compiled only into the unit tests.
#[cfg(test)]
pub(crate) mod faults {
    use std::sync::Mutex;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Point {
        /// After the rate limiter, before the HTTP request.
        BeforeSend,
        /// After the HTTP answer, before the outcome is stored.
        AfterSend,
    }

    /// Points where the next attempts "die", as a process killed there would.
    #[derive(Debug, Default)]
    pub struct Faults {
        crash_at: Mutex<Option<Point>>,
    }

    impl Faults {
        pub fn crash(&self, at: Point) -> bool {
            *self.crash_at.lock().unwrap() == Some(at)
        }
    }

    impl super::Dispatcher {
        /// From now on, every attempt of this dispatcher dies at `at`.
        pub fn crash_at(&self, at: Option<Point>) {
            *self.faults.crash_at.lock().unwrap() = at;
        }
    }
}

#[cfg(test)]
mod tests;
