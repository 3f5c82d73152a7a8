//! Reminder rules: the files in `reminder-rules/`, each describing one reminder per
//! appointment — when it goes out, which approved WhatsApp template it uses, which
//! parameters fill the template, and which buttons it carries.
//!
//! ```toml
//! # reminder-rules/avond-ervoor.toml
//! description = "De avond voor de afspraak"
//! when = { days_before = 1, at = "18:00" }   # or: when = { before = "24h" }
//!
//! [template]
//! name = "afspraak_herinnering"
//! language = "nl"
//! body = ["{first_name}", "{date}", "{time}", "{location}"]
//! buttons = ["confirm", "cancel", "reschedule"]
//! defaults = { first_name = "daar" }
//! ```
//!
//! Everything here is pure: loading validates the files, [`Rule::due_at`] computes the
//! moment, [`Rule::render`] fills in the parameters.

pub mod plan;
pub mod render;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Days, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::domain::Action;
use crate::domain::time::{parse_time_of_day, resolve_local};

pub use plan::{PlannedReminder, plan};
pub use render::{Placeholder, RenderContext, RenderError, RenderedTemplate, TemplateParams};

/// When a reminder goes out, relative to the appointment's start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum When {
    /// A fixed time before the start (`24h`, `2h`): elapsed time, whatever the DST.
    Before(Duration),
    /// A number of calendar days before the start, at a local time of day in the
    /// business zone (1 day before at 18:00).
    DaysBeforeAt { days: u32, at: NaiveTime },
}

/// The parameters of the template body.
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
    pub template: String,
    pub language: String,
    pub body: BodyParams,
    /// Quick-reply buttons in the order the approved template has them.
    pub buttons: Vec<Action>,
    /// Values for placeholders the appointment does not provide.
    pub defaults: BTreeMap<Placeholder, String>,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    description: Option<String>,
    when: WhenFile,
    template: TemplateFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WhenFile {
    #[serde(default, with = "humantime_serde")]
    before: Option<Duration>,
    days_before: Option<u32>,
    at: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFile {
    name: String,
    language: String,
    body: BodyFile,
    #[serde(default)]
    buttons: Vec<String>,
    #[serde(default)]
    defaults: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum BodyFile {
    Positional(Vec<String>),
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
        let when = match (&file.when.before, file.when.days_before, &file.when.at) {
            (Some(before), None, None) if !before.is_zero() => Some(When::Before(*before)),
            (Some(_), None, None) => {
                problems.push("when.before must be longer than zero".into());
                None
            }
            (None, Some(days), Some(at)) => match parse_time_of_day(at) {
                Ok(at) => Some(When::DaysBeforeAt { days, at }),
                Err(e) => {
                    problems.push(format!("when.at: {e}"));
                    None
                }
            },
            _ => {
                problems.push(
                    "when must be either { before = \"24h\" } or { days_before = 1, at = \"18:00\" }"
                        .into(),
                );
                None
            }
        };
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
        let texts: Vec<&String> = match &body {
            BodyParams::Positional(p) => p.iter().collect(),
            BodyParams::Named(n) => n.values().collect(),
        };
        for text in texts {
            if let Err(e) = render::check_placeholders(text) {
                problems.push(format!("template.body: {e}"));
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
        match when {
            Some(when) if problems.is_empty() => Ok(Rule {
                name: name.to_string(),
                description: file.description,
                when,
                template: t.name.clone(),
                language: t.language.clone(),
                body,
                buttons,
                defaults,
            }),
            _ => Err(problems),
        }
    }

    /// The moment the reminder for an appointment starting at `start` is due. A calendar
    /// offset lands on the local time of day in `zone` (by the DST rules of
    /// `domain::time`), an elapsed offset is exact.
    pub fn due_at(&self, start: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
        match &self.when {
            When::Before(d) => {
                start - chrono::Duration::from_std(*d).unwrap_or(chrono::TimeDelta::MAX)
            }
            When::DaysBeforeAt { days, at } => {
                let local_day = start.with_timezone(&zone).date_naive();
                let day =
                    local_day.checked_sub_days(Days::new(u64::from(*days))).unwrap_or(local_day);
                resolve_local(zone, day.and_time(*at))
            }
        }
    }
}

#[cfg(test)]
mod tests;
