//! The morning e-mail to staff: the day's appointments grouped by calendar and
//! location, in the report page's words, with the counts and the problems on top and a
//! link to the page. Sent each morning at `[report.morning] at` in the business zone
//! (scheduled with tokio-cron-scheduler, like the retention purge), through `[email]`'s
//! SMTP server.
//!
//! **Exactly one a day.** Every replica schedules it; the day is claimed in the store
//! (`morning_report`, see `store::morning`) and only the claimant sends. A failed try
//! frees the day again with its reason (the report's problems show it) and is retried a
//! few times with backoff. A daemon that starts within [`CATCH_UP`] after the hour
//! sends the day's e-mail then, if nobody has: a restart around 07:00 neither loses
//! nor doubles it.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use anyhow::Context;
use askama::Template;
use chrono::{DateTime, Days, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::problems::{Watch, problems_at};
use super::texts::PageTexts;
use super::view::{Counts, Group, ReportPage, groups};
use crate::clock::Clock;
use crate::domain::Language;
use crate::domain::redact;
use crate::domain::time::resolve_local;
use crate::email::{EmailChannel, MailError};
use crate::scheduler::Dispatcher;
use crate::scheduler::backoff::retry_delay;
use crate::store::{Store, StoreError};

/// How long a claim of the day holds while its sender works: far longer than making
/// the e-mail and an SMTP session (each SMTP step times out after `email.timeout`).
pub const LEASE: Duration = Duration::minutes(10);

/// Tries a day gets from the schedule, the first included, before it is given up
/// (logged as an error; the report's problems say so until someone sends it).
pub const TRIES: u32 = 4;

/// The backoff between tries: about 1, 2, then 4 minutes.
const RETRY_BASE: StdDuration = StdDuration::from_secs(60);
const RETRY_MAX: StdDuration = StdDuration::from_secs(15 * 60);

/// A daemon started this long after the hour still sends the day's e-mail.
pub const CATCH_UP: Duration = Duration::hours(4);

/// The morning e-mail; from `[report.morning]`, `[email]` and `[business]`.
#[derive(Clone, Debug)]
pub struct MorningReport {
    pub store: Store,
    pub clock: Clock,
    pub zone: Tz,
    pub practice: String,
    /// When it goes each day, in `zone`.
    pub at: NaiveTime,
    pub recipients: Vec<Mailbox>,
    pub language: Language,
    /// Where staff open the report (`[email] public_url`, no trailing slash); empty:
    /// the e-mail has no link.
    pub public_url: String,
    /// The SMTP transport and sender of `[email]`; `None` when e-mail is off, and then
    /// only a dry run works.
    pub email: Option<Arc<EmailChannel>>,
    /// This replica's dispatcher, for the problems only it knows (a stopped channel).
    pub dispatcher: Option<Dispatcher>,
    /// Meta's messaging limit as configured, for its problem.
    pub messaging_limit: Option<u32>,
}

/// The e-mail of one day, made.
#[derive(Clone, Debug)]
pub struct MorningMail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What became of one try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// This try sent it.
    Sent,
    /// Sent already, or another sender holds the day: nothing to do.
    Taken,
    /// Not sent; the day is free again. `permanent`: the server refused it for good (a
    /// recipient it does not know), and trying again soon will not help.
    Failed { error: String, permanent: bool },
}

#[derive(Template)]
#[template(path = "email/morning.txt")]
struct TextBody<'a> {
    v: &'a View,
}

#[derive(Template)]
#[template(path = "email/morning.html")]
struct HtmlBody<'a> {
    v: &'a View,
}

/// What both parts show: the report page's words (`t`, and the rows' labels) and a
/// few of the e-mail's own.
struct View {
    t: &'static PageTexts,
    en: bool,
    practice: String,
    /// The day as the report page titles it.
    title: String,
    counts: Counts,
    problems: Vec<String>,
    groups: Vec<Group>,
    /// The report of the day; empty without `public_url`.
    link: String,
}

impl MorningReport {
    /// The e-mail of `day` as it would go now: the report page's rows and counts for
    /// the day, the problems now.
    pub async fn render(&self, day: NaiveDate) -> anyhow::Result<MorningMail> {
        let now = self.clock.now();
        let (from, to) = day_bounds(self.zone, day);
        let rows = self.store.report(from, to).await.context("cannot read the day")?;
        let page =
            ReportPage::new(self.language, &self.practice, "", "", day, &rows, self.zone, now);
        let watch = Watch {
            stopped: self.dispatcher.as_ref().and_then(Dispatcher::channel_stopped),
            messaging_limit: self.messaging_limit,
            now,
        };
        let problems = problems_at(&self.store, &watch, self.zone, self.language)
            .await
            .context("cannot read the problems")?;
        let en = self.language == Language::En;
        let link = match self.public_url.as_str() {
            "" => String::new(),
            base => format!("{base}/report?date={day}"),
        };
        let subject = format!("{} {} – {}", page.t.appointments_of, page.title, self.practice);
        let view = View {
            t: page.t,
            en,
            practice: self.practice.clone(),
            title: page.title,
            counts: page.counts,
            problems,
            groups: groups(page.rows),
            link,
        };
        Ok(MorningMail {
            subject,
            text: TextBody { v: &view }.render()?,
            html: HtmlBody { v: &view }.render()?,
        })
    }

    /// The message to the recipients: text and HTML, and a `Message-ID` that is the same
    /// for every try of the day.
    fn message(
        &self,
        channel: &EmailChannel,
        day: NaiveDate,
        mail: MorningMail,
    ) -> Result<Message, String> {
        if self.recipients.is_empty() {
            return Err("report.morning.recipients is empty: nobody to send it to".into());
        }
        let from = &channel.composer.from;
        let mut builder = Message::builder()
            .from(from.clone())
            .subject(mail.subject)
            .date(std::time::SystemTime::from(self.clock.now()))
            .message_id(Some(format!("<reminderd.morning-{day}@{}>", from.email.domain())));
        for to in &self.recipients {
            builder = builder.to(to.clone());
        }
        if let Some(reply_to) = &channel.composer.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        builder
            .multipart(MultiPart::alternative_plain_html(mail.text, mail.html))
            .map_err(|e| format!("the e-mail cannot be built: {e}"))
    }

    /// Makes and sends the e-mail of `day`, without the day's claim.
    async fn deliver(&self, day: NaiveDate) -> Result<(), (String, bool)> {
        let Some(channel) = &self.email else {
            return Err((
                "email.enabled is false: there is no SMTP server to send it".into(),
                true,
            ));
        };
        let mail = self.render(day).await.map_err(|e| (format!("{e:#}"), false))?;
        let message = self.message(channel, day, mail).map_err(|e| (e, true))?;
        channel.mailer.send(message).await.map_err(|e| match e {
            MailError::Transient(e) => (self.redacted(&e), false),
            MailError::Permanent(e) => (self.redacted(&e), true),
        })
    }

    /// An SMTP answer without the recipients' addresses (a refusal quotes them).
    fn redacted(&self, text: &str) -> String {
        self.recipients.iter().fold(text.to_string(), |text, to| {
            let address = to.email.to_string();
            text.replace(&address, &redact::email(&address))
        })
    }

    /// One try for `day`: claims the day, sends, and records how it went.
    pub async fn send_once(&self, day: NaiveDate) -> Result<Outcome, StoreError> {
        let now = self.clock.now();
        let Some(attempt) = self.store.claim_morning(day, now, now + LEASE).await? else {
            info!(%day, "morning e-mail: sent already or being sent by another replica");
            return Ok(Outcome::Taken);
        };
        let result = self.deliver(day).await;
        // The SMTP server's 250 came before this write. Should the process die between
        // the two, the day stays `sending` until its lease runs out, and a later try
        // (a restart within CATCH_UP, or `reminderd morning-report`) sends it a second
        // time: staff may then get it twice, with the same Message-ID, which most mail
        // programs show once. It is never lost.
        let outcome = match result {
            Ok(()) => Outcome::Sent,
            Err((error, permanent)) => Outcome::Failed { error, permanent },
        };
        let recorded = match &outcome {
            Outcome::Failed { error, .. } => Err(error.as_str()),
            _ => Ok(()),
        };
        if !self.store.finish_morning(day, attempt, recorded, self.clock.now()).await? {
            warn!(%day, "morning e-mail: the outcome was not recorded: the day was taken over");
        }
        match &outcome {
            Outcome::Sent => info!(%day, recipients = self.recipients.len(), "morning e-mail sent"),
            Outcome::Failed { error, .. } => {
                warn!(%day, attempt, "morning e-mail not sent: {error}")
            }
            Outcome::Taken => {}
        }
        Ok(outcome)
    }

    /// Tries `day` up to [`TRIES`] times with backoff, until sent or taken (or a
    /// refusal for good, or `shutdown`). The last failure is logged as an error.
    pub async fn send_with_retries(&self, day: NaiveDate, shutdown: &CancellationToken) -> Outcome {
        let mut tries = 0;
        loop {
            tries += 1;
            let outcome = match self.send_once(day).await {
                Ok(outcome) => outcome,
                Err(e) => Outcome::Failed { error: format!("the database: {e}"), permanent: false },
            };
            let Outcome::Failed { error, permanent } = &outcome else { return outcome };
            if *permanent || tries >= TRIES {
                error!(%day, tries, "morning e-mail given up: {error}");
                return outcome;
            }
            let wait = retry_delay(tries, RETRY_BASE, RETRY_MAX);
            tokio::select! {
                _ = shutdown.cancelled() => return outcome,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Sends the e-mail of `day` now, outside the schedule and without claiming the day
    /// (`reminderd morning-report`: the scheduled one still goes). A day whose
    /// scheduled e-mail failed counts as sent afterwards.
    pub async fn send_by_hand(&self, day: NaiveDate) -> anyhow::Result<()> {
        self.deliver(day).await.map_err(|(e, _)| anyhow::anyhow!("not sent: {e}"))?;
        self.store.morning_sent_by_hand(day, self.clock.now()).await?;
        info!(%day, recipients = self.recipients.len(), "morning e-mail sent by hand");
        Ok(())
    }

    /// The day whose e-mail a daemon starting now still owes: today, when the hour has
    /// passed less than [`CATCH_UP`] ago.
    pub fn owed_at_start(&self) -> Option<NaiveDate> {
        let now = self.clock.now();
        let today = now.with_timezone(&self.zone).date_naive();
        let due = resolve_local(self.zone, today.and_time(self.at));
        (due <= now && now < due + CATCH_UP).then_some(today)
    }

    /// Sends each day's e-mail at `at` until `shutdown`, and first the one owed now.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        if let Some(day) = self.owed_at_start() {
            self.send_with_retries(day, &shutdown).await;
        }
        let mut scheduler = JobScheduler::new().await?;
        let schedule = self.at.format("0 %M %H * * *").to_string();
        let zone = self.zone;
        let stop = shutdown.clone();
        let job = Job::new_async_tz(schedule.as_str(), zone, move |_, _| {
            let morning = self.clone();
            let stop = stop.clone();
            Box::pin(async move {
                let today = morning.clock.now().with_timezone(&morning.zone).date_naive();
                morning.send_with_retries(today, &stop).await;
            })
        })
        .context("cannot schedule the morning e-mail")?;
        scheduler.add(job).await?;
        scheduler.start().await?;
        shutdown.cancelled().await;
        scheduler.shutdown().await?;
        Ok(())
    }
}

/// The instants a day in `zone` runs between.
fn day_bounds(zone: Tz, day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let next = day.checked_add_days(Days::new(1)).unwrap_or(day);
    (
        resolve_local(zone, day.and_time(NaiveTime::MIN)),
        resolve_local(zone, next.and_time(NaiveTime::MIN)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::view::RowView;

    fn row(time: &str, customer: &str, calendar: &str, location: &str) -> RowView {
        RowView {
            id: 1,
            can_decide: false,
            can_mark: true,
            can_resend: false,
            to_call: true,
            time: time.into(),
            customer: customer.into(),
            phone: "+316••••••78".into(),
            calendar: calendar.into(),
            location: location.into(),
            reminder: "afgeleverd di 13 okt 10:30".into(),
            reminder_class: "ok",
            reply: "geen antwoord".into(),
            reply_class: "none",
            since: String::new(),
            note: String::new(),
        }
    }

    #[test]
    fn rows_are_grouped_by_calendar_and_location_in_the_order_they_start() {
        let groups = groups(vec![
            row("09:00–09:30", "A", "praktijk", "Linde"),
            row("09:30–10:00", "B", "fysio", ""),
            row("10:00–10:30", "C", "praktijk", "Linde"),
            row("10:30–11:00", "D", "oost", "oost"),
        ]);
        let names: Vec<(&str, Vec<&str>)> = groups
            .iter()
            .map(|g| (g.name.as_str(), g.rows.iter().map(|r| r.customer.as_str()).collect()))
            .collect();
        assert_eq!(
            names,
            [("praktijk – Linde", vec!["A", "C"]), ("fysio", vec!["B"]), ("oost", vec!["D"])]
        );
    }

    fn view(en: bool, rows: Vec<RowView>, problems: Vec<String>) -> View {
        View {
            t: super::super::texts::page(if en { Language::En } else { Language::Nl }),
            en,
            practice: "Praktijk De Linde".into(),
            title: "woensdag 14 oktober 2026".into(),
            counts: Counts {
                appointments: rows.len(),
                no_answer: rows.len(),
                to_call: rows.len(),
                ..Counts::default()
            },
            problems,
            groups: groups(rows),
            link: "https://afspraken.example/report?date=2026-10-14".into(),
        }
    }

    #[test]
    fn the_email_speaks_the_configured_language() {
        let rows = || vec![row("09:00–09:30", "Sanne <de Vries>", "praktijk", "")];
        let problem = || vec!["WhatsApp is gestopt".to_string()];
        let nl = view(false, rows(), problem());
        let text = TextBody { v: &nl }.render().unwrap();
        assert!(text.contains("1 afspraken, 0 bevestigd"), "{text}");
        assert!(text.contains("1 geen antwoord, 1 te bellen"), "{text}");
        assert!(text.contains("LET OP\n\n- WhatsApp is gestopt"), "{text}");
        assert!(text.contains("herinnering: afgeleverd di 13 okt 10:30"), "{text}");
        assert!(text.contains("Sanne <de Vries> (+316••••••78)"), "plain text is not escaped");
        let en = view(true, rows(), Vec::new());
        let text = TextBody { v: &en }.render().unwrap();
        assert!(text.contains("1 appointments, 0 confirmed"), "{text}");
        assert!(text.contains("answer: geen antwoord"), "{text}");
        assert!(!text.contains("ATTENTION"), "no problems, no heading: {text}");
        let html = HtmlBody { v: &en }.render().unwrap();
        assert!(html.contains("<html lang=\"en\">") && html.contains("Open the report"), "{html}");
        assert!(
            html.contains("Sanne &#60;de Vries&#62;") || html.contains("Sanne &lt;de Vries&gt;")
        );
    }

    #[test]
    fn a_day_without_appointments_says_so() {
        let text = TextBody { v: &view(false, Vec::new(), Vec::new()) }.render().unwrap();
        assert!(text.contains("Geen afspraken op deze dag."), "{text}");
    }
}
