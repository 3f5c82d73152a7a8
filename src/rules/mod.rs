//! Reminder rules: the files in `reminder-rules/`, each describing one reminder per
//! appointment — when it goes out, to which appointments, which approved WhatsApp
//! template it uses, which parameters fill the template, and which buttons it carries.
//!
//! ```toml
//! # reminder-rules/avond-ervoor.toml
//! description = "De avond voor de afspraak"
//! when = { days_before = 1, at = "18:00" }   # or { before = "24h" },
//!                                            # or { working_days_before = 2, at = "09:00" }
//! quiet_hours = { from = "21:00", to = "08:00", move = "earlier" }   # the default
//! late_min_ahead = "1h"   # booked after the moment: at once if at least this far ahead
//! grace = "10m"           # wait this long after a booking or a change
//! unless = "confirmed"    # only to those who have not answered; left out: always
//!
//! [match]                 # left out: every appointment
//! calendars = ["Fysiotherapie"]
//! title = "(?i)intake"
//!
//! [template]
//! name = "afspraak_herinnering"
//! language = "nl"
//! header = "{date_short}"
//! body = ["{first_name}", "{date}", "{time}", "{location}"]
//! buttons = ["confirm", "cancel", "reschedule"]
//! defaults = { first_name = "daar" }
//! ttl = "3h"
//! ```
//!
//! Everything here is pure: loading validates the files, [`Rule::moment`] computes the
//! moment, [`plan::plan`] decides what is sent when, [`Rule::render`] fills in the
//! parameters.

pub mod plan;
pub mod render;
pub mod workdays;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Days, NaiveTime, Utc};
use chrono_tz::Tz;
use regex::Regex;
use serde::Deserialize;

use crate::domain::time::{parse_time_of_day, resolve_local};
use crate::domain::{Action, Appointment, Channel, Reply};

pub use plan::{Adjustment, Decision, Occasion, PlannedReminder, Planning, plan};
pub use render::{Placeholder, RenderContext, RenderError, RenderedTemplate, TemplateParams};
pub use workdays::{Holidays, WorkCalendar};

/// When a reminder goes out, relative to the appointment's start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum When {
    /// A fixed time before the start (`24h`, `2h`): elapsed time, whatever the DST.
    Before(Duration),
    /// A number of calendar days before the start, at a local time of day in the
    /// business zone (1 day before at 18:00; 0 days: the same morning).
    DaysBeforeAt { days: u32, at: NaiveTime },
    /// A number of working days before the start (weekends, public holidays and the
    /// practice's closed days skipped), at a local time of day.
    WorkingDaysBeforeAt { days: u32, at: NaiveTime },
}

/// Times of day no WhatsApp reminder is sent, and where one due inside them goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    /// Quiet from this local time (a reminder at exactly this time still goes)...
    pub from: NaiveTime,
    /// ...until this one, possibly the next day.
    pub to: NaiveTime,
    /// The edge a reminder due inside them moves to, if that edge is still before the
    /// appointment and not in the past; otherwise the other edge.
    pub toward: Toward,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Toward {
    /// To the start of the quiet hours (the evening before).
    Earlier,
    /// To their end (the morning after).
    Later,
}

impl Default for QuietHours {
    fn default() -> Self {
        QuietHours {
            from: NaiveTime::from_hms_opt(21, 0, 0).expect("valid"),
            to: NaiveTime::from_hms_opt(8, 0, 0).expect("valid"),
            toward: Toward::Earlier,
        }
    }
}

impl QuietHours {
    /// Whether the local time of day `t` is strictly inside the quiet hours.
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.from <= self.to {
            self.from < t && t < self.to
        } else {
            self.from < t || t < self.to
        }
    }
}

impl fmt::Display for QuietHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}–{}", self.from.format("%H:%M"), self.to.format("%H:%M"))
    }
}

/// A second reminder that only goes to those who have not answered (`unless =
/// "confirmed"`, or its synonym `"answered"`): not to a customer who confirmed, nor to
/// one who asked for another time (staff are on it; "can you make it?" would confuse).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unless {
    Answered,
}

impl Unless {
    /// Why a reminder is not for a customer who replied `reply`, if it is not.
    pub fn excludes(self, reply: Reply) -> Option<&'static str> {
        match reply {
            Reply::Confirmed => Some("the customer already confirmed"),
            Reply::Reschedule => Some("the customer asked for another time"),
            Reply::Cancelled => Some("the customer cancelled"),
            Reply::None => None,
        }
    }
}

/// Which appointments a rule applies to; every list given must match (a list matches
/// when it contains the appointment's value, ignoring case).
#[derive(Clone, Debug, Default)]
pub struct Conditions {
    pub sources: Vec<String>,
    pub calendars: Vec<String>,
    /// Matched against the event's own location.
    pub locations: Vec<String>,
    /// Matched against the event's title (its SUMMARY).
    pub title: Option<Regex>,
}

impl PartialEq for Conditions {
    fn eq(&self, other: &Self) -> bool {
        self.sources == other.sources
            && self.calendars == other.calendars
            && self.locations == other.locations
            && self.title.as_ref().map(Regex::as_str) == other.title.as_ref().map(Regex::as_str)
    }
}

impl Eq for Conditions {}

impl Conditions {
    /// Why the rule does not apply to `a`, or `None` when it does.
    pub fn mismatch(&self, a: &Appointment) -> Option<String> {
        fn listed(list: &[String], value: Option<&str>) -> bool {
            list.is_empty() || value.is_some_and(|v| list.iter().any(|l| l.eq_ignore_ascii_case(v)))
        }
        if !listed(&self.sources, Some(&a.source)) {
            return Some(format!(
                "source `{}` is not one of {}",
                a.source,
                self.sources.join(", ")
            ));
        }
        if !listed(&self.calendars, Some(&a.calendar)) {
            return Some(format!(
                "calendar `{}` is not one of {}",
                a.calendar,
                self.calendars.join(", ")
            ));
        }
        if !listed(&self.locations, a.location.as_deref()) {
            return Some(format!(
                "location `{}` is not one of {}",
                a.location.as_deref().unwrap_or(""),
                self.locations.join(", ")
            ));
        }
        if let Some(title) = &self.title
            && !a.summary.as_deref().is_some_and(|s| title.is_match(s))
        {
            return Some(format!("the title does not match /{}/", title.as_str()));
        }
        None
    }
}

/// The parameters of the template body (or its one header parameter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyParams {
    /// `{{1}}`, `{{2}}`, … in order.
    Positional(Vec<String>),
    /// `{{naam}}`, `{{datum}}`, … (a template created with `parameter_format: NAMED`).
    Named(BTreeMap<String, String>),
}

/// One validated rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The file name without `.toml`; identifies the rule in the store.
    pub name: String,
    pub description: Option<String>,
    pub when: When,
    /// `None`: the rule sends at any hour.
    pub quiet_hours: Option<QuietHours>,
    /// An appointment booked after the rule's moment gets the reminder at once when it
    /// is still at least this far ahead, otherwise none.
    pub late_min_ahead: Duration,
    /// Reminders of an appointment just booked or changed wait this long, so a calendar
    /// entry being edited does not send a burst of messages.
    pub grace: Duration,
    pub unless: Option<Unless>,
    pub conditions: Conditions,
    pub template: String,
    pub language: String,
    /// The text header's one parameter, if the template has one.
    pub header: Option<BodyParams>,
    pub body: BodyParams,
    /// Quick-reply buttons in the order the approved template has them.
    pub buttons: Vec<Action>,
    /// Values for placeholders the appointment does not provide.
    pub defaults: BTreeMap<Placeholder, String>,
    /// The template's `message_send_ttl_seconds`: how long WhatsApp keeps trying to
    /// deliver. A reminder is only sent while at least this much time is left before the
    /// appointment, so it can never arrive after it.
    pub ttl: Option<Duration>,
    /// The template's text, for `reminderd templates sync` to create it at Meta.
    pub definition: Option<TemplateDefinition>,
    /// The channels that may carry the reminder, in order of preference.
    pub channels: Vec<Channel>,
}

/// A UTILITY template as submitted to Meta for review: its texts with `{{1}}` or
/// `{{name}}` placeholders where the rule's parameters go, and the button labels.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateDefinition {
    pub header: Option<String>,
    pub body: String,
    pub footer: Option<String>,
    #[serde(default)]
    pub buttons: Vec<String>,
}

/// The rules of a deployment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

/// A rule file that cannot be used, with the file and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read the rules folder {}: {source}", dir.display())]
    Dir { dir: PathBuf, source: std::io::Error },
    #[error("no rule files (*.toml) in {}: without rules no reminder is ever sent", .0.display())]
    Empty(PathBuf),
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
}

/// The defaults of the optional keys.
const DEFAULT_LATE_MIN_AHEAD: Duration = Duration::from_secs(3600);
const DEFAULT_GRACE: Duration = Duration::from_secs(600);
/// Meta's bounds for a utility template's `message_send_ttl_seconds` (WHATSAPP.md §5.6).
const TTL_MIN: Duration = Duration::from_secs(30);
const TTL_MAX: Duration = Duration::from_secs(12 * 3600);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    description: Option<String>,
    when: WhenFile,
    quiet_hours: Option<QuietHoursFile>,
    #[serde(default, with = "humantime_serde")]
    late_min_ahead: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    grace: Option<Duration>,
    unless: Option<String>,
    #[serde(default, rename = "match")]
    conditions: MatchFile,
    channels: Option<Vec<String>>,
    template: TemplateFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WhenFile {
    #[serde(default, with = "humantime_serde")]
    before: Option<Duration>,
    days_before: Option<u32>,
    working_days_before: Option<u32>,
    at: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuietHoursFile {
    from: Option<String>,
    to: Option<String>,
    #[serde(rename = "move")]
    toward: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchFile {
    #[serde(default)]
    sources: Vec<String>,
    #[serde(default)]
    calendars: Vec<String>,
    #[serde(default)]
    locations: Vec<String>,
    title: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFile {
    name: String,
    language: String,
    header: Option<HeaderFile>,
    body: BodyFile,
    #[serde(default)]
    buttons: Vec<String>,
    #[serde(default)]
    defaults: BTreeMap<String, String>,
    #[serde(default, with = "humantime_serde")]
    ttl: Option<Duration>,
    definition: Option<TemplateDefinition>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum BodyFile {
    Positional(Vec<String>),
    Named(BTreeMap<String, String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum HeaderFile {
    Positional(String),
    Named(BTreeMap<String, String>),
}

impl RuleSet {
    pub fn new(rules: Vec<Rule>) -> Self {
        RuleSet { rules }
    }

    /// Loads and validates every `*.toml` in `dir`, reporting every problem of every
    /// file at once.
    pub fn load(dir: &Path) -> Result<RuleSet, RulesError> {
        let entries =
            std::fs::read_dir(dir).map_err(|source| RulesError::Dir { dir: dir.into(), source })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        paths.sort();
        if paths.is_empty() {
            return Err(RulesError::Empty(dir.into()));
        }
        let mut rules = Vec::new();
        let mut problems = Vec::new();
        for path in &paths {
            let name =
                path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let parsed = std::fs::read_to_string(path)
                .map_err(|e| vec![format!("cannot read it: {e}")])
                .and_then(|text| Rule::parse(&name, &text));
            match parsed {
                Ok(rule) => rules.push(rule),
                Err(errors) => {
                    problems.extend(errors.into_iter().map(|e| format!("{}: {e}", path.display())))
                }
            }
        }
        if problems.is_empty() { Ok(RuleSet { rules }) } else { Err(RulesError::Invalid(problems)) }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn get(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.rules.iter().map(|r| r.name.as_str()).collect()
    }
}

/// `channels = ["whatsapp", "email"]`: which channels, in which order; left out, both
/// in that order.
fn parse_channels(names: Option<&[String]>, problems: &mut Vec<String>) -> Vec<Channel> {
    let Some(names) = names else { return Channel::DEFAULT.to_vec() };
    let mut channels = Vec::new();
    for name in names {
        match name.parse::<Channel>() {
            Ok(c) if channels.contains(&c) => {
                problems.push(format!("channels: `{name}` is named twice"))
            }
            Ok(c) => channels.push(c),
            Err(e) => problems.push(format!("channels: {e}")),
        }
    }
    if names.is_empty() {
        problems.push("channels: name at least one (\"whatsapp\", \"email\")".into());
    }
    channels
}

impl Rule {
    /// Parses and validates one rule file's text; every problem is listed.
    pub fn parse(name: &str, text: &str) -> Result<Rule, Vec<String>> {
        let file: RuleFile = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
        let mut problems = Vec::new();
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            problems.push(format!(
                "the file name `{name}` names the rule: use letters, digits, - and _ only"
            ));
        }
        let when = parse_when(&file.when, &mut problems);
        let quiet_hours = parse_quiet_hours(file.quiet_hours.as_ref(), &mut problems);
        let channels = parse_channels(file.channels.as_deref(), &mut problems);
        let unless = match file.unless.as_deref() {
            None => None,
            Some("confirmed" | "answered") => Some(Unless::Answered),
            Some(other) => {
                problems
                    .push(format!("unless: `{other}` is neither \"confirmed\" nor \"answered\""));
                None
            }
        };
        let conditions = parse_conditions(file.conditions, &mut problems);
        let t = &file.template;
        if t.name.is_empty()
            || !t.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            problems.push(format!(
                "template.name `{}` is not a WhatsApp template name (lowercase letters, digits, _)",
                t.name
            ));
        }
        if t.language.trim().is_empty() {
            problems.push("template.language is required (the language the template was approved in, e.g. nl)".into());
        }
        let body = match &t.body {
            BodyFile::Positional(p) => BodyParams::Positional(p.clone()),
            BodyFile::Named(n) => BodyParams::Named(n.clone()),
        };
        let header = match &t.header {
            None => None,
            Some(HeaderFile::Positional(text)) => Some(BodyParams::Positional(vec![text.clone()])),
            Some(HeaderFile::Named(n)) if n.len() == 1 => Some(BodyParams::Named(n.clone())),
            Some(HeaderFile::Named(_)) => {
                problems.push("template.header: a text header has exactly one parameter".into());
                None
            }
        };
        let named = |p: &BodyParams| matches!(p, BodyParams::Named(_));
        if header.as_ref().is_some_and(|h| named(h) != named(&body)) {
            problems.push(
                "template.header and template.body must both be positional or both named".into(),
            );
        }
        for (part, params) in [("header", header.as_ref()), ("body", Some(&body))] {
            let texts: Vec<&String> = match params {
                None => Vec::new(),
                Some(BodyParams::Positional(p)) => p.iter().collect(),
                Some(BodyParams::Named(n)) => n.values().collect(),
            };
            for text in texts {
                if let Err(e) = render::check_placeholders(text) {
                    problems.push(format!("template.{part}: {e}"));
                }
            }
        }
        let mut buttons = Vec::new();
        for b in &t.buttons {
            match b.parse::<Action>() {
                Ok(a) if buttons.contains(&a) => {
                    problems.push(format!("template.buttons: `{b}` appears twice"))
                }
                Ok(a) => buttons.push(a),
                Err(e) => problems.push(format!("template.buttons: {e}")),
            }
        }
        if buttons.len() > 3 {
            problems.push("template.buttons: at most 3 quick-reply buttons".into());
        }
        let mut defaults = BTreeMap::new();
        for (key, value) in &t.defaults {
            match key.parse::<Placeholder>() {
                Ok(p) => {
                    defaults.insert(p, value.clone());
                }
                Err(e) => problems.push(format!("template.defaults: {e}")),
            }
        }
        if let Some(ttl) = t.ttl
            && !(TTL_MIN..=TTL_MAX).contains(&ttl)
        {
            problems.push(format!(
                "template.ttl: {} is outside what WhatsApp allows for a utility template (30s to 12h)",
                humantime::format_duration(ttl)
            ));
        }
        if let Some(definition) = &t.definition {
            check_definition(definition, header.as_ref(), &body, buttons.len(), &mut problems);
        }
        match when {
            Some(when) if problems.is_empty() => Ok(Rule {
                name: name.to_string(),
                description: file.description,
                when,
                quiet_hours,
                late_min_ahead: file.late_min_ahead.unwrap_or(DEFAULT_LATE_MIN_AHEAD),
                grace: file.grace.unwrap_or(DEFAULT_GRACE),
                unless,
                conditions,
                template: t.name.clone(),
                language: t.language.clone(),
                header,
                body,
                buttons,
                defaults,
                ttl: t.ttl,
                definition: t.definition.clone(),
                channels,
            }),
            _ => Err(problems),
        }
    }

    /// The rule's moment for an appointment starting at `start`, before quiet hours and
    /// late bookings are taken into account. A calendar offset lands on the local time of
    /// day in `zone` (by the DST rules of `domain::time`), an elapsed offset is exact.
    /// `None` when the work calendar has no working day to land on.
    pub fn moment(
        &self,
        start: DateTime<Utc>,
        zone: Tz,
        workdays: &WorkCalendar,
    ) -> Option<DateTime<Utc>> {
        let local_day = || start.with_timezone(&zone).date_naive();
        match &self.when {
            When::Before(d) => Some(start - chrono::Duration::from_std(*d).ok()?),
            When::DaysBeforeAt { days, at } => {
                let day = local_day().checked_sub_days(Days::new(u64::from(*days)))?;
                Some(resolve_local(zone, day.and_time(*at)))
            }
            When::WorkingDaysBeforeAt { days, at } => {
                let day = workdays.working_days_before(local_day(), *days)?;
                Some(resolve_local(zone, day.and_time(*at)))
            }
        }
    }

    /// Why this rule's reminder is not (or no longer) for `appointment`, if it is not:
    /// the conditions do not match, or the customer already answered.
    pub fn excludes(&self, appointment: &Appointment) -> Option<String> {
        if let Some(reason) = self.conditions.mismatch(appointment) {
            return Some(format!("the rule does not apply: {reason}"));
        }
        self.unless.and_then(|u| u.excludes(appointment.reply)).map(str::to_string)
    }
}

fn parse_when(when: &WhenFile, problems: &mut Vec<String>) -> Option<When> {
    let at = |problems: &mut Vec<String>| match when.at.as_deref().map(parse_time_of_day) {
        Some(Ok(at)) => Some(at),
        Some(Err(e)) => {
            problems.push(format!("when.at: {e}"));
            None
        }
        None => {
            problems.push("when: a number of days needs a time of day, e.g. at = \"18:00\"".into());
            None
        }
    };
    match (when.before, when.days_before, when.working_days_before) {
        (Some(before), None, None) if when.at.is_none() => {
            if before.is_zero() {
                problems.push("when.before must be longer than zero".into());
                return None;
            }
            Some(When::Before(before))
        }
        (None, Some(days), None) => at(problems).map(|at| When::DaysBeforeAt { days, at }),
        (None, None, Some(0)) => {
            problems.push("when.working_days_before must be at least 1".into());
            None
        }
        (None, None, Some(days)) => at(problems).map(|at| When::WorkingDaysBeforeAt { days, at }),
        _ => {
            problems.push(
                "when must be one of { before = \"24h\" }, { days_before = 1, at = \"18:00\" } \
                 or { working_days_before = 2, at = \"09:00\" }"
                    .into(),
            );
            None
        }
    }
}

fn parse_quiet_hours(
    file: Option<&QuietHoursFile>,
    problems: &mut Vec<String>,
) -> Option<QuietHours> {
    let default = QuietHours::default();
    let Some(file) = file else { return Some(default) };
    let time = |key: &str, text: Option<&str>, fallback, problems: &mut Vec<String>| match text {
        None => fallback,
        Some(text) => parse_time_of_day(text).unwrap_or_else(|e| {
            problems.push(format!("quiet_hours.{key}: {e}"));
            fallback
        }),
    };
    let from = time("from", file.from.as_deref(), default.from, problems);
    let to = time("to", file.to.as_deref(), default.to, problems);
    let toward = match file.toward.as_deref() {
        None | Some("earlier") => Toward::Earlier,
        Some("later") => Toward::Later,
        Some(other) => {
            problems
                .push(format!("quiet_hours.move: `{other}` is neither \"earlier\" nor \"later\""));
            Toward::Earlier
        }
    };
    // from = to: no quiet hours at all
    (from != to).then_some(QuietHours { from, to, toward })
}

/// Meta's limits on a template (WHATSAPP.md §5.7) and the match between its
/// placeholders and the rule's parameters.
fn check_definition(
    d: &TemplateDefinition,
    header: Option<&BodyParams>,
    body: &BodyParams,
    buttons: usize,
    problems: &mut Vec<String>,
) {
    let mut bad = |what: String| problems.push(format!("template.definition.{what}"));
    for (key, text, max) in [
        ("header", d.header.as_deref(), 60),
        ("body", Some(d.body.as_str()), 1024),
        ("footer", d.footer.as_deref(), 60),
    ] {
        if let Some(text) = text
            && text.chars().count() > max
        {
            bad(format!("{key}: longer than the {max} characters WhatsApp allows"));
        }
    }
    let expected = |params: Option<&BodyParams>| -> Vec<String> {
        match params {
            None => Vec::new(),
            Some(BodyParams::Positional(p)) => (1..=p.len()).map(|i| i.to_string()).collect(),
            Some(BodyParams::Named(n)) => n.keys().cloned().collect(),
        }
    };
    for (key, text, params) in [
        ("header", d.header.as_deref().unwrap_or(""), header),
        ("body", d.body.as_str(), Some(body)),
    ] {
        let mut found = template_placeholders(text);
        found.sort();
        found.dedup();
        let mut wanted = expected(params);
        wanted.sort();
        if found != wanted {
            let show = |v: &[String]| {
                if v.is_empty() {
                    "none".to_string()
                } else {
                    v.iter().map(|p| format!("{{{{{p}}}}}")).collect::<Vec<_>>().join(", ")
                }
            };
            bad(format!(
                "{key}: has the placeholders {} but the rule fills {}",
                show(&found),
                show(&wanted)
            ));
        }
    }
    let body_text = d.body.trim();
    if body_text.starts_with("{{") || body_text.ends_with("}}") {
        bad("body: may not start or end with a placeholder (Meta rejects it)".into());
    }
    // "parameters placed next to each other without text or punctuation between them"
    let adjacent =
        |t: &str| t.split("}}").skip(1).any(|after| after.trim_start().starts_with("{{"));
    if adjacent(&d.body) || d.header.as_deref().is_some_and(adjacent) {
        bad("body: placeholders next to each other need text between them".into());
    }
    if d.footer.as_deref().is_some_and(|f| f.contains("{{")) {
        bad("footer: a footer has no placeholders".into());
    }
    if d.buttons.len() != buttons {
        bad(format!(
            "buttons: {} labels for the {buttons} buttons of template.buttons",
            d.buttons.len()
        ));
    }
    for label in &d.buttons {
        if label.trim().is_empty() || label.chars().count() > 25 {
            bad(format!("buttons: `{label}` must be 1 to 25 characters"));
        }
    }
}

/// The `{{…}}` placeholders of a template text, in order.
pub fn template_placeholders(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else { break };
        out.push(after[..close].trim().to_string());
        rest = &after[close + 2..];
    }
    out
}

fn parse_conditions(file: MatchFile, problems: &mut Vec<String>) -> Conditions {
    let title = file.title.and_then(|pattern| match Regex::new(&pattern) {
        Ok(re) => Some(re),
        Err(e) => {
            problems
                .push(format!("match.title: `{pattern}` is not a valid regular expression: {e}"));
            None
        }
    });
    for (key, list) in
        [("sources", &file.sources), ("calendars", &file.calendars), ("locations", &file.locations)]
    {
        if list.iter().any(|v| v.trim().is_empty()) {
            problems.push(format!("match.{key}: an empty name matches nothing"));
        }
    }
    Conditions {
        sources: file.sources,
        calendars: file.calendars,
        locations: file.locations,
        title,
    }
}

#[cfg(test)]
mod tests;
