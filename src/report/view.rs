//! What the report pages show, in words staff use.

use askama::Template;
use chrono::{DateTime, Days, Locale, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::domain::phone::mask;
use crate::domain::time::{dutch_date_short, dutch_moment_short, local_time};
use crate::domain::{AppointmentStatus, Delivery, OutboxState, Reply};
use crate::store::ReportRow;

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub practice: &'a str,
    pub error: bool,
}

#[derive(Template)]
#[template(path = "report.html")]
pub struct ReportPage {
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
    pub rows: Vec<RowView>,
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

/// The states staff filter by, with their labels.
pub const STATES: [(&str, &str); 6] = [
    ("confirmed", "bevestigd"),
    ("cancelled", "geannuleerd"),
    ("reschedule", "wil verzetten"),
    ("unclear", "onduidelijk antwoord"),
    ("none", "geen antwoord"),
    ("", "alle"),
];

impl Counts {
    fn of(rows: &[RowView]) -> Counts {
        let mut counts = Counts { appointments: rows.len(), ..Counts::default() };
        for r in rows {
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
}

/// The totals at the top of the page.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub appointments: usize,
    pub confirmed: usize,
    pub cancelled: usize,
    pub reschedule: usize,
    pub no_answer: usize,
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
    pub time: String,
    pub customer: String,
    pub phone: String,
    pub calendar: String,
    pub location: String,
    pub reminder: String,
    pub reminder_class: &'static str,
    pub reply: String,
    pub reply_class: &'static str,
    pub note: String,
}

impl ReportPage {
    pub fn new(
        practice: &str,
        user: &str,
        csrf: &str,
        day: NaiveDate,
        rows: &[ReportRow],
        zone: Tz,
        now: DateTime<Utc>,
    ) -> Self {
        let today = now.with_timezone(&zone).date_naive();
        let rows: Vec<RowView> = rows.iter().map(|r| RowView::new(r, zone, now)).collect();
        let counts = Counts::of(&rows);
        let mut calendars: Vec<String> = rows
            .iter()
            .flat_map(|r| [r.calendar.clone(), r.location.clone()])
            .filter(|c| !c.is_empty())
            .collect();
        calendars.sort();
        calendars.dedup();
        ReportPage {
            practice: practice.to_string(),
            user: user.to_string(),
            csrf: csrf.to_string(),
            title: day.format_localized("%A %-d %B %Y", Locale::nl_NL).to_string(),
            date: day.to_string(),
            previous: day.checked_sub_days(Days::new(1)).unwrap_or(day).to_string(),
            next: day.checked_add_days(Days::new(1)).unwrap_or(day).to_string(),
            today: today.to_string(),
            is_today: day == today,
            rows,
            counts,
            problems: Vec::new(),
            chart: String::new(),
            calendars,
            calendar: String::new(),
            state: String::new(),
            states: STATES,
        }
    }
}

impl RowView {
    fn new(row: &ReportRow, zone: Tz, now: DateTime<Utc>) -> Self {
        let a = &row.appointment;
        let (reply, reply_class) = match (a.status, a.reply) {
            (AppointmentStatus::Cancelled, _) => ("geannuleerd in de agenda".into(), "cancelled"),
            (AppointmentStatus::Removed, _) => ("uit de agenda verwijderd".into(), "cancelled"),
            (_, Reply::Confirmed) => ("bevestigd".into(), "confirmed"),
            (_, Reply::Cancelled) => ("geannuleerd door klant".into(), "cancelled"),
            (_, Reply::Reschedule) => (reschedule_label(row, zone, now), "reschedule"),
            (_, Reply::None) => match &row.customer_note {
                Some(text) => (format!("onduidelijk antwoord: “{text}”"), "unclear"),
                None => ("geen antwoord".into(), "none"),
            },
        };
        let (mut reminder, reminder_class) = reminder_label(row, zone);
        if row.reminder_channel.as_deref() == Some("email") {
            reminder.push_str(" (per e-mail)");
        }
        let mut notes = Vec::new();
        if let Some(problem) = &a.contact_problem {
            notes.push(problem.clone());
        }
        // without a number the contact problem already says why nothing was sent
        let explained = a.customer_phone.is_none() && a.contact_problem.is_some();
        if matches!(row.reminder_state, Some(OutboxState::Failed | OutboxState::Skipped))
            && !explained
            && let Some(detail) = &row.reminder_detail
        {
            notes.push(detail.clone());
        }
        RowView {
            id: a.id,
            can_decide: a.reply == Reply::Reschedule
                && row.reschedule_state.as_deref() == Some("requested"),
            can_mark: a.is_upcoming(now) && a.reply != Reply::Confirmed,
            time: format!("{}–{}", local_time(a.starts_at, zone), local_time(a.ends_at, zone)),
            customer: a.customer_name.clone().unwrap_or_else(|| "(naam onbekend)".into()),
            phone: a.customer_phone.as_deref().map(mask).unwrap_or_else(|| "geen nummer".into()),
            calendar: a.calendar.clone(),
            location: a.location.clone().unwrap_or_default(),
            reminder,
            reminder_class,
            reply,
            reply_class,
            note: notes.join("; "),
        }
    }
}

/// What became of a wish to reschedule: the time asked for and what staff decided.
fn reschedule_label(row: &ReportRow, zone: Tz, now: DateTime<Utc>) -> String {
    let asked = row.reschedule_requested.map(|t| dutch_moment_short(t, zone));
    match (row.reschedule_state.as_deref(), asked) {
        (Some("requested"), Some(t)) => format!("wil verzetten naar {t}: accepteren of afwijzen"),
        (Some("accepted"), Some(t)) => {
            format!("verzet naar {t} (geaccepteerd; zet het in de agenda)")
        }
        (Some("declined"), Some(t)) => format!("verzoek voor {t} afgewezen: klant bellen"),
        (Some("offered"), _) if row.reschedule_expires.is_some_and(|e| e <= now) => {
            "wil verzetten, koos geen tijd: klant bellen".into()
        }
        (Some("offered"), _) => "wil verzetten: kiest uit de vrije tijden".into(),
        _ => "wil verzetten: klant bellen".into(),
    }
}

fn reminder_label(row: &ReportRow, zone: Tz) -> (String, &'static str) {
    let sent_at = row
        .reminder_sent_at
        .map(|t| format!(" {} {}", dutch_date_short(t, zone), local_time(t, zone)))
        .unwrap_or_default();
    match (row.reminder_state, row.reminder_delivery) {
        (None, _) => ("geen herinnering".into(), "none"),
        (Some(OutboxState::Pending), _) => ("gepland".into(), "pending"),
        (Some(OutboxState::Sending), _) => ("wordt verstuurd".into(), "pending"),
        (Some(OutboxState::Sent), Some(Delivery::Failed)) => {
            let code = row.reminder_error_code.map(|c| format!(" (code {c})")).unwrap_or_default();
            (format!("niet afgeleverd{code}"), "failed")
        }
        (Some(OutboxState::Sent), Some(Delivery::Read)) => (format!("gelezen{sent_at}"), "ok"),
        (Some(OutboxState::Sent), Some(Delivery::Delivered)) => {
            (format!("afgeleverd{sent_at}"), "ok")
        }
        (Some(OutboxState::Sent), _) => (format!("verstuurd{sent_at}"), "ok"),
        (Some(OutboxState::Failed), _) => {
            let code = row.reminder_error_code.map(|c| format!(" (code {c})")).unwrap_or_default();
            (format!("mislukt{code}"), "failed")
        }
        (Some(OutboxState::Skipped), _) => ("niet verstuurd".into(), "failed"),
        (Some(OutboxState::Cancelled), _) => ("ingetrokken".into(), "none"),
    }
}

/// The report of `rows` as CSV for Excel: UTF-8 with a byte-order mark (Excel in Dutch
/// reads it right only then), `separator` between fields (`;` for a Dutch Excel), the
/// page's columns with the date first.
pub fn csv(rows: &[ReportRow], zone: Tz, now: DateTime<Utc>, separator: u8) -> String {
    let mut writer = csv::WriterBuilder::new().delimiter(separator).from_writer(Vec::new());
    let header = [
        "datum",
        "tijd",
        "klant",
        "telefoon",
        "agenda",
        "locatie",
        "herinnering",
        "antwoord",
        "opmerking",
    ];
    // writing into memory cannot fail
    let _ = writer.write_record(header);
    for row in rows {
        let view = RowView::new(row, zone, now);
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
            &view.note,
        ]);
    }
    let bytes = writer.into_inner().unwrap_or_default();
    format!("\u{feff}{}", String::from_utf8_lossy(&bytes))
}
