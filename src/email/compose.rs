//! The reminder e-mail: plain text and HTML from the askama templates in
//! `templates/email/`, the appointment as an `.ics` attachment, three action links and
//! an unsubscribe link, each carrying a signed [`LinkToken`].

use std::collections::HashMap;
use std::time::SystemTime;

use askama::Template;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use icalendar::{Calendar, Component, EventLike};
use lettre::Message;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart};

use super::settings::{EmailSettings, Language};
use crate::domain::time::{dutch_date, local_time};
use crate::domain::{Action, Appointment, LinkToken, LinkVerb, PayloadKey};

/// Builds reminder e-mails; from `[email]` and `[business]`.
#[derive(Clone, Debug)]
pub struct Composer {
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    /// The practice's address lines.
    pub address: Vec<String>,
    pub language: Language,
    /// Where the links lead, without a trailing slash.
    pub base_url: String,
    pub practice: String,
    pub zone: Tz,
    /// Default location per source name.
    pub source_locations: HashMap<String, String>,
    pub key: PayloadKey,
}

/// One reminder to compose.
#[derive(Clone, Copy, Debug)]
pub struct Reminder<'a> {
    /// The outbox row: names the message (`Message-ID`) so a resend is recognisable.
    pub outbox_id: i64,
    pub appointment: &'a Appointment,
    /// The customer's address.
    pub to: &'a str,
    pub now: DateTime<Utc>,
}

#[derive(Template)]
#[template(path = "email/reminder.txt")]
struct TextBody<'a> {
    v: &'a View,
}

#[derive(Template)]
#[template(path = "email/reminder.html")]
struct HtmlBody<'a> {
    v: &'a View,
}

/// What both parts show.
struct View {
    en: bool,
    first_name: String,
    date: String,
    time: String,
    location: String,
    summary: String,
    practice: String,
    address: Vec<String>,
    confirm: String,
    cancel: String,
    reschedule: String,
    unsubscribe: String,
}

impl Composer {
    pub fn new(
        s: &EmailSettings,
        practice: &str,
        zone: Tz,
        source_locations: HashMap<String, String>,
        key: PayloadKey,
    ) -> Result<Composer, String> {
        let from = super::mailbox(&s.from).ok_or("email.from is not an e-mail address")?;
        let reply_to = match s.reply_to.trim() {
            "" => None,
            text => Some(super::mailbox(text).ok_or("email.reply_to is not an e-mail address")?),
        };
        Ok(Composer {
            from,
            reply_to,
            address: s.address.clone(),
            language: s.language,
            base_url: s.base_url().to_string(),
            practice: practice.to_string(),
            zone,
            source_locations,
            key,
        })
    }

    /// The page a link leads to.
    pub fn link(&self, verb: LinkVerb, appointment: &Appointment) -> String {
        let token = LinkToken::new(verb, appointment.id, appointment.starts_at);
        format!("{}/e/{}", self.base_url, token.encode(&self.key))
    }

    /// `<reminderd.outbox-42@praktijk.nl>`: the same for every attempt of one row, so a
    /// message sent twice (a crash between the server's 250 and our record of it) is
    /// one message to the customer's mail program.
    pub fn message_id(&self, outbox_id: i64) -> String {
        format!("<reminderd.outbox-{outbox_id}@{}>", self.from.email.domain())
    }

    /// The whole message.
    pub fn compose(&self, r: &Reminder<'_>) -> Result<Message, String> {
        let to: Mailbox =
            r.to.parse()
                .map_err(|e| format!("the customer's e-mail address cannot be used: {e}"))?;
        let view = self.view(r.appointment);
        let text = TextBody { v: &view }.render().map_err(|e| e.to_string())?;
        let html = HtmlBody { v: &view }.render().map_err(|e| e.to_string())?;
        let subject = if view.en {
            format!("Reminder: your appointment on {} at {}", view.date, view.time)
        } else {
            format!("Herinnering: je afspraak op {} om {}", view.date, view.time)
        };
        let ics = self.ics(r.appointment, &view.location, r.now);
        let calendar = ContentType::parse("text/calendar; charset=utf-8").expect("a content type");
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .date(SystemTime::from(r.now))
            .message_id(Some(self.message_id(r.outbox_id)))
            .header(ListUnsubscribe(format!("<{}>", view.unsubscribe)))
            .header(ListUnsubscribePost);
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        builder
            .multipart(
                MultiPart::mixed()
                    .multipart(MultiPart::alternative_plain_html(text, html))
                    .singlepart(Attachment::new("afspraak.ics".into()).body(ics, calendar)),
            )
            .map_err(|e| format!("the e-mail cannot be built: {e}"))
    }

    fn view(&self, a: &Appointment) -> View {
        let en = self.language == Language::En;
        let date = if en {
            a.starts_at.with_timezone(&self.zone).format("%A %-d %B").to_string()
        } else {
            dutch_date(a.starts_at, self.zone)
        };
        let location = a
            .location
            .clone()
            .or_else(|| self.source_locations.get(&a.source).cloned())
            .unwrap_or_else(|| self.practice.clone());
        View {
            en,
            first_name: a.first_name().unwrap_or_default().to_string(),
            date,
            time: local_time(a.starts_at, self.zone),
            location,
            summary: a.summary.clone().unwrap_or_default(),
            practice: self.practice.clone(),
            address: self.address.clone(),
            confirm: self.link(LinkVerb::Act(Action::Confirm), a),
            cancel: self.link(LinkVerb::Act(Action::Cancel), a),
            reschedule: self.link(LinkVerb::Act(Action::Reschedule), a),
            unsubscribe: self.link(LinkVerb::Unsubscribe, a),
        }
    }

    /// The appointment for the customer's calendar.
    fn ics(&self, a: &Appointment, location: &str, now: DateTime<Utc>) -> String {
        let domain = self.from.email.domain();
        let summary = match &a.summary {
            Some(s) if !s.is_empty() => format!("{} – {s}", self.practice),
            _ => self.practice.clone(),
        };
        let event = icalendar::Event::new()
            .uid(&format!("reminderd-appointment-{}@{domain}", a.id))
            .timestamp(now)
            .starts(a.starts_at)
            .ends(a.ends_at)
            .summary(&summary)
            .location(location)
            .done();
        Calendar::new().push(event).done().to_string()
    }
}

/// `List-Unsubscribe: <https://…/e/…>` (RFC 2369).
#[derive(Clone, Debug)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(s.to_string()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058): a mail program may
/// unsubscribe with one POST to the link, without showing the page.
#[derive(Clone, Debug)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".into())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::appointment::sample;

    fn composer(language: Language) -> Composer {
        Composer {
            from: "Praktijk De Linde <afspraken@praktijk.example>".parse().unwrap(),
            reply_to: None,
            address: vec!["Lindelaan 1".into()],
            language,
            base_url: "https://afspraken.praktijk.example".into(),
            practice: "Praktijk De Linde".into(),
            zone: chrono_tz::Europe::Amsterdam,
            source_locations: HashMap::new(),
            key: PayloadKey::from_secret(b"test secret that is long enough!"),
        }
    }

    fn text_of(language: Language) -> String {
        let a = sample();
        let now = Utc.with_ymd_and_hms(2026, 10, 13, 8, 30, 0).unwrap();
        let r = Reminder { outbox_id: 7, appointment: &a, to: "sanne@example.nl", now };
        let message = composer(language).compose(&r).unwrap();
        String::from_utf8(message.formatted()).unwrap()
    }

    #[test]
    fn the_email_speaks_dutch_or_english() {
        let nl = text_of(Language::Nl);
        assert!(nl.contains("Subject: Herinnering: je afspraak op woensdag 14 oktober om 10:30"));
        assert!(nl.contains("Message-ID: <reminderd.outbox-7@praktijk.example>"), "{nl}");
        let en = text_of(Language::En);
        assert!(
            en.contains("Subject: Reminder: your appointment on Wednesday 14 October at 10:30")
        );
        assert!(en.contains("This is a reminder of your appointment at Praktijk De Linde"), "{en}");
        assert!(!en.contains("Ik kom"), "{en}");
    }

    #[test]
    fn a_customer_without_a_name_is_greeted_without_one() {
        let mut a = sample();
        a.customer_name = None;
        let view = composer(Language::Nl).view(&a);
        let text = TextBody { v: &view }.render().unwrap();
        assert!(text.starts_with("Hallo,\n"), "{text}");
        let html = HtmlBody { v: &view }.render().unwrap();
        assert!(html.contains("<p>Hallo,</p>"), "{html}");
    }

    #[test]
    fn the_links_carry_tokens_for_their_action() {
        let c = composer(Language::Nl);
        let a = sample();
        let link = c.link(LinkVerb::Act(Action::Cancel), &a);
        let token = link.strip_prefix("https://afspraken.praktijk.example/e/").unwrap();
        let now = a.starts_at - chrono::Duration::hours(1);
        let read = LinkToken::decode(token, &c.key, now).unwrap();
        assert_eq!(read, LinkToken::new(LinkVerb::Act(Action::Cancel), a.id, a.starts_at));
    }
}
