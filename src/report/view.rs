//! What the report pages show, in words staff use.

use askama::Template;
use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;

use super::actions::can_resend;
use super::texts::{PageTexts, page, tr};
use crate::domain::phone::mask;
use crate::domain::time::{date_short, local_time, moment_short};
use crate::domain::{AppointmentStatus, Delivery, Language, OutboxState, Reply};
use crate::inspect::Explanation;
use crate::store::{AuditEntry, ReportRow};

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub t: &'static PageTexts,
    pub practice: &'a str,
    /// Bound to the form's nonce cookie.
    pub csrf: &'a str,
    /// Why the last try failed (empty: it did not).
    pub error: &'a str,
}

#[derive(Template)]
#[template(path = "report.html")]
pub struct ReportPage {
    pub t: &'static PageTexts,
    pub practice: String,
    pub user: String,
    /// Carried by every form of the page.
    pub csrf: String,
    pub title: String,
    pub date: String,
    pub previous: String,
    pub next: String,
    pub today: String,
    pub is_today: bool,
    /// The rows shown, before [`ReportPage::grouped`] moves them into `groups`.
    pub rows: Vec<RowView>,
    /// By calendar and location, as the page shows them.
    pub groups: Vec<Group>,
    pub counts: Counts,
    /// What needs a person (a failed calendar, a paused template, WhatsApp stopped).
    pub problems: Vec<String>,
    /// The rates of the last two weeks, as inline SVG (see `chart`).
    pub chart: String,
    /// Every calendar and location of the day, to filter by.
    pub calendars: Vec<String>,
    /// The filters applied (empty: all).
    pub calendar: String,
    pub state: String,
    pub states: [(&'static str, &'static str); 6],
}

/// Why an appointment got the messages it got, and what staff did about it.
#[derive(Template)]
#[template(path = "why.html")]
pub struct WhyPage {
    pub t: &'static PageTexts,
    pub practice: String,
    pub heading: String,
    /// The day to go back to.
    pub date: String,
    /// `reminderd explain`'s text (phone masked).
    pub explanation: String,
    /// When, who, what.
    pub audit: Vec<(String, String, String)>,
}

impl WhyPage {
    pub fn new(
        language: Language,
        practice: &str,
        day: NaiveDate,
        explanation: &Explanation,
        audit: &[AuditEntry],
        zone: Tz,
    ) -> Self {
        let a = &explanation.appointment;
        let t = page(language);
        let heading = format!(
            "{} {} {}",
            a.customer_name.as_deref().unwrap_or(tr(language, "(naam onbekend)", "(name unknown)")),
            date_short(a.starts_at, zone, language),
            local_time(a.starts_at, zone),
        );
        let audit = audit
            .iter()
            .map(|e| {
                let what = audit_words(&e.action, language);
                let what = match &e.detail {
                    Some(detail) => format!("{what} ({detail})"),
                    None => what.to_string(),
                };
                (moment_short(e.at, zone, language), e.staff.clone(), what)
            })
            .collect();
        WhyPage {
            t,
            practice: practice.to_string(),
            heading,
            date: day.to_string(),
            explanation: explanation.render(zone),
            audit,
        }
    }
}

/// An audit log action in staff words (the stored word when it is not known here).
fn audit_words(action: &str, language: Language) -> &str {
    match action {
        "confirmed_by_phone" => tr(language, "bevestigd (telefoon)", "confirmed (phone)"),
        "cancelled_by_phone" => tr(language, "geannuleerd (telefoon)", "cancelled (phone)"),
        "reschedule_accepted" => tr(language, "nieuwe tijd geaccepteerd", "new time accepted"),
        "reschedule_declined" => tr(language, "nieuwe tijd afgewezen", "new time declined"),
        "resent_reminder" => tr(language, "herinnering opnieuw verstuurd", "reminder sent again"),
        other => other,
    }
}

/// The states staff filter by, with their labels.
fn states(language: Language) -> [(&'static str, &'static str); 6] {
    let t = page(language);
    [
        ("confirmed", t.confirmed),
        ("cancelled", t.cancelled),
        ("reschedule", t.reschedule),
        ("unclear", tr(language, "onduidelijk antwoord", "unclear answer")),
        ("none", t.no_answer),
        ("", t.all),
    ]
}

impl Counts {
    fn of(rows: &[RowView]) -> Counts {
        let mut counts = Counts { appointments: rows.len(), ..Counts::default() };
        for r in rows {
            counts.to_call += usize::from(r.to_call);
            match r.reply_class {
                "confirmed" => counts.confirmed += 1,
                "cancelled" => counts.cancelled += 1,
                "reschedule" => counts.reschedule += 1,
                _ => counts.no_answer += 1,
            }
        }
        counts
    }
}

impl ReportPage {
    /// Only the rows of `calendar` (a calendar or a location) and in `state` (a reply
    /// class); the counts follow.
    pub fn filtered(mut self, calendar: Option<&str>, state: Option<&str>) -> Self {
        let calendar = calendar.filter(|c| !c.is_empty());
        let state = state.filter(|s| !s.is_empty());
        self.rows.retain(|r| {
            calendar.is_none_or(|c| r.calendar == c || r.location == c)
                && state.is_none_or(|s| r.reply_class == s)
        });
        self.counts = Counts::of(&self.rows);
        self.calendar = calendar.unwrap_or_default().to_string();
        self.state = state.unwrap_or_default().to_string();
        self
    }

    /// Moves the rows into their groups by calendar and location, as the page shows
    /// them (the counts stay).
    pub fn grouped(mut self) -> Self {
        self.groups = groups(std::mem::take(&mut self.rows));
        self
    }
}

/// The appointments of one calendar at one location.
#[derive(Debug)]
pub struct Group {
    pub name: String,
    pub rows: Vec<RowView>,
}

/// The rows by calendar and location, the groups in the order of their first
/// appointment.
pub(crate) fn groups(rows: Vec<RowView>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for row in rows {
        let name = match (row.calendar.as_str(), row.location.as_str()) {
            (calendar, "") => calendar.to_string(),
            (calendar, location) if calendar == location => calendar.to_string(),
            (calendar, location) => format!("{calendar} – {location}"),
        };
        match groups.iter_mut().find(|g| g.name == name) {
            Some(group) => group.rows.push(row),
            None => groups.push(Group { name, rows: vec![row] }),
        }
    }
    groups
}

/// The totals at the top of the page.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub appointments: usize,
    pub confirmed: usize,
    pub cancelled: usize,
    pub reschedule: usize,
    pub no_answer: usize,
    /// Customers a person should phone (see [`RowView::to_call`]).
    pub to_call: usize,
}

/// One appointment, ready to print.
#[derive(Debug)]
pub struct RowView {
    /// The appointment's number (as `reminderd explain` takes it).
    pub id: i64,
    /// A customer's chosen time waits for staff to accept or decline it.
    pub can_decide: bool,
    /// Still ahead and not cancelled: staff may note a phone call's answer.
    pub can_mark: bool,
    /// Its last reminder went (or failed) and no answer came: staff may send it again.
    pub can_resend: bool,
    /// Still ahead, and the customer has not settled it: no answer, an answer nobody
    /// understood, a requested time declined or never chosen, or a reminder that could
    /// not be sent.
    pub to_call: bool,
    pub time: String,
    pub customer: String,
    pub phone: String,
    pub calendar: String,
    pub location: String,
    pub reminder: String,
    pub reminder_class: &'static str,
    pub reply: String,
    pub reply_class: &'static str,
    /// When the customer answered ("since" the reply state holds).
    pub since: String,
    pub note: String,
}

impl ReportPage {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        language: Language,
        practice: &str,
        user: &str,
        csrf: &str,
        day: NaiveDate,
        rows: &[ReportRow],
        zone: Tz,
        now: DateTime<Utc>,
    ) -> Self {
        let today = now.with_timezone(&zone).date_naive();
        let rows: Vec<RowView> =
            rows.iter().map(|r| RowView::new(r, zone, now, language)).collect();
        let counts = Counts::of(&rows);
        let mut calendars: Vec<String> = rows
            .iter()
            .flat_map(|r| [r.calendar.clone(), r.location.clone()])
            .filter(|c| !c.is_empty())
            .collect();
        calendars.sort();
        calendars.dedup();
        ReportPage {
            t: page(language),
            practice: practice.to_string(),
            user: user.to_string(),
            csrf: csrf.to_string(),
            title: day.format_localized("%A %-d %B %Y", language.locale()).to_string(),
            date: day.to_string(),
            previous: day.checked_sub_days(Days::new(1)).unwrap_or(day).to_string(),
            next: day.checked_add_days(Days::new(1)).unwrap_or(day).to_string(),
            today: today.to_string(),
            is_today: day == today,
            rows,
            groups: Vec::new(),
            counts,
            problems: Vec::new(),
            chart: String::new(),
            calendars,
            calendar: String::new(),
            state: String::new(),
            states: states(language),
        }
    }
}

impl RowView {
    pub(crate) fn new(row: &ReportRow, zone: Tz, now: DateTime<Utc>, language: Language) -> Self {
        let a = &row.appointment;
        let l = |nl, en| tr(language, nl, en).to_string();
        let (reply, reply_class) = match (a.status, a.reply) {
            // a customer's cancellation also cancels the appointment; say who did it,
            // since staff still have to take it out of the calendar
            (_, Reply::Cancelled) => {
                (l("geannuleerd door klant", "cancelled by the customer"), "cancelled")
            }
            (AppointmentStatus::Cancelled, _) => {
                (l("geannuleerd in de agenda", "cancelled in the calendar"), "cancelled")
            }
            (AppointmentStatus::Removed, _) => {
                (l("uit de agenda verwijderd", "removed from the calendar"), "cancelled")
            }
            (_, Reply::Confirmed) => (l("bevestigd", "confirmed"), "confirmed"),
            (_, Reply::Reschedule) => (reschedule_label(row, zone, now, language), "reschedule"),
            (_, Reply::None) => match &row.customer_note {
                Some(text) => {
                    let label = tr(language, "onduidelijk antwoord", "unclear answer");
                    (format!("{label}: “{text}”"), "unclear")
                }
                None => (l("geen antwoord", "no answer"), "none"),
            },
        };
        let (mut reminder, reminder_class) = reminder_label(row, zone, language);
        match row.reminder_channel.as_deref() {
            Some("email") => reminder.push_str(tr(language, " (per e-mail)", " (by e-mail)")),
            Some("whatsapp") => reminder.push_str(" (WhatsApp)"),
            _ => {}
        }
        let mut notes = Vec::new();
        if let Some(problem) = &a.contact_problem {
            notes.push(problem.clone());
        }
        // without a number the contact problem already says why nothing was sent
        let explained = a.customer_phone.is_none() && a.contact_problem.is_some();
        let undelivered =
            matches!(row.reminder_state, Some(OutboxState::Failed | OutboxState::Skipped))
                || row.reminder_delivery == Some(Delivery::Failed);
        if matches!(row.reminder_state, Some(OutboxState::Failed | OutboxState::Skipped))
            && !explained
            && let Some(detail) = &row.reminder_detail
        {
            notes.push(detail.clone());
        }
        let upcoming = a.is_upcoming(now);
        let unsettled = match a.reply {
            Reply::None => true,
            Reply::Reschedule => reschedule_needs_a_call(row, now),
            Reply::Confirmed | Reply::Cancelled => false,
        };
        let since = match (a.reply, a.reply_at) {
            (Reply::None, _) | (_, None) => String::new(),
            (_, Some(at)) => {
                format!("{} {}", tr(language, "sinds", "since"), moment_short(at, zone, language))
            }
        };
        RowView {
            id: a.id,
            can_decide: a.reply == Reply::Reschedule
                && row.reschedule_state.as_deref() == Some("requested"),
            // an accepted new time is settled: a phone answer would be about the old one
            can_mark: upcoming
                && a.reply != Reply::Confirmed
                && row.reschedule_state.as_deref() != Some("accepted"),
            can_resend: upcoming && a.reply == Reply::None && can_resend(row.reminder_state),
            to_call: upcoming && (unsettled || (a.reply != Reply::Confirmed && undelivered)),
            time: format!("{}–{}", local_time(a.starts_at, zone), local_time(a.ends_at, zone)),
            customer: a
                .customer_name
                .clone()
                .unwrap_or_else(|| l("(naam onbekend)", "(name unknown)")),
            phone: a
                .customer_phone
                .as_deref()
                .map(mask)
                .unwrap_or_else(|| l("geen nummer", "no number")),
            calendar: a.calendar.clone(),
            location: a.location.clone().unwrap_or_default(),
            reminder,
            reminder_class,
            reply,
            reply_class,
            since,
            note: notes.join("; "),
        }
    }
}

/// Whether a wish to reschedule is left to a phone call: declined, none of the offered
/// times fitted, or the offer ran out unanswered.
fn reschedule_needs_a_call(row: &ReportRow, now: DateTime<Utc>) -> bool {
    match row.reschedule_state.as_deref() {
        Some("requested" | "accepted") => false,
        Some("offered") => row.reschedule_expires.is_some_and(|e| e <= now),
        _ => true,
    }
}

/// What became of a wish to reschedule: the time asked for and what staff decided.
fn reschedule_label(row: &ReportRow, zone: Tz, now: DateTime<Utc>, language: Language) -> String {
    let asked = row.reschedule_requested.map(|t| moment_short(t, zone, language));
    let l = |nl, en| tr(language, nl, en);
    match (row.reschedule_state.as_deref(), asked) {
        (Some("requested"), Some(t)) => match language {
            Language::Nl => format!("wil verzetten naar {t}: accepteren of afwijzen"),
            Language::En => format!("wants to move to {t}: accept or decline"),
        },
        (Some("accepted"), Some(t)) => match language {
            Language::Nl => format!("verzet naar {t} (geaccepteerd; zet het in de agenda)"),
            Language::En => format!("moved to {t} (accepted; put it in the calendar)"),
        },
        (Some("declined"), Some(t)) => match language {
            Language::Nl => format!("verzoek voor {t} afgewezen: klant bellen"),
            Language::En => format!("request for {t} declined: call the customer"),
        },
        (Some("offered"), _) if row.reschedule_expires.is_some_and(|e| e <= now) => l(
            "wil verzetten, koos geen tijd: klant bellen",
            "wants another time, chose none: call the customer",
        )
        .into(),
        (Some("offered"), _) => l(
            "wil verzetten: kiest uit de vrije tijden",
            "wants another time: choosing a free time",
        )
        .into(),
        _ => l("wil verzetten: klant bellen", "wants another time: call the customer").into(),
    }
}

fn reminder_label(row: &ReportRow, zone: Tz, language: Language) -> (String, &'static str) {
    let sent_at = row
        .reminder_sent_at
        .map(|t| format!(" {} {}", date_short(t, zone, language), local_time(t, zone)))
        .unwrap_or_default();
    let code = row.reminder_error_code.map(|c| format!(" (code {c})")).unwrap_or_default();
    let l = |nl, en| tr(language, nl, en);
    match (row.reminder_state, row.reminder_delivery) {
        (None, _) => (l("geen herinnering", "no reminder").into(), "none"),
        (Some(OutboxState::Pending), _) => (l("gepland", "planned").into(), "pending"),
        (Some(OutboxState::Sending), _) => (l("wordt verstuurd", "being sent").into(), "pending"),
        (Some(OutboxState::Sent), Some(Delivery::Failed)) => {
            (format!("{}{code}", l("niet afgeleverd", "not delivered")), "failed")
        }
        (Some(OutboxState::Sent), Some(Delivery::Read)) => {
            (format!("{}{sent_at}", l("gelezen", "read")), "ok")
        }
        (Some(OutboxState::Sent), Some(Delivery::Delivered)) => {
            (format!("{}{sent_at}", l("afgeleverd", "delivered")), "ok")
        }
        (Some(OutboxState::Sent), _) => (format!("{}{sent_at}", l("verstuurd", "sent")), "ok"),
        (Some(OutboxState::Failed), _) => (format!("{}{code}", l("mislukt", "failed")), "failed"),
        (Some(OutboxState::Skipped), _) => (l("niet verstuurd", "not sent").into(), "failed"),
        (Some(OutboxState::Cancelled), _) => (l("ingetrokken", "withdrawn").into(), "none"),
    }
}

/// The report of `rows` as CSV for Excel: UTF-8 with a byte-order mark (Excel in Dutch
/// reads it right only then), `separator` between fields (`;` for a Dutch Excel), the
/// page's columns with the date first.
pub fn csv(
    rows: &[ReportRow],
    zone: Tz,
    now: DateTime<Utc>,
    separator: u8,
    language: Language,
) -> String {
    let mut writer = csv::WriterBuilder::new().delimiter(separator).from_writer(Vec::new());
    let header = match language {
        Language::Nl => [
            "datum",
            "tijd",
            "klant",
            "telefoon",
            "agenda",
            "locatie",
            "herinnering",
            "antwoord",
            "sinds",
            "opmerking",
        ],
        Language::En => [
            "date", "time", "customer", "phone", "calendar", "location", "reminder", "answer",
            "since", "note",
        ],
    };
    // writing into memory cannot fail
    let _ = writer.write_record(header);
    for row in rows {
        let view = RowView::new(row, zone, now, language);
        let date = row.appointment.starts_at.with_timezone(&zone).format("%Y-%m-%d").to_string();
        let _ = writer.write_record([
            date.as_str(),
            &view.time,
            &view.customer,
            &view.phone,
            &view.calendar,
            &view.location,
            &view.reminder,
            &view.reply,
            &view.since,
            &view.note,
        ]);
    }
    let bytes = writer.into_inner().unwrap_or_default();
    format!("\u{feff}{}", String::from_utf8_lossy(&bytes))
}
