//! Filling in placeholders (`{first_name}`, `{date}`, …) from an appointment, in Dutch
//! and in the business zone, for template parameters and for reply texts.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono_tz::Tz;

use super::{BodyParams, Rule};
use crate::domain::time::{dutch_date, dutch_date_short, local_time};
use crate::domain::{Action, Appointment};

/// A value that can be filled into a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Placeholder {
    /// The customer's first name.
    FirstName,
    /// The customer's full name.
    Name,
    /// "dinsdag 14 oktober".
    Date,
    /// "di 14 okt".
    DateShort,
    /// "10:30".
    Time,
    /// The appointment's location, else the source's default location, else the practice.
    Location,
    /// The practice's name (`business.name`).
    Practice,
    /// The calendar entry's title.
    Summary,
}

const ALL: [(Placeholder, &str); 8] = [
    (Placeholder::FirstName, "first_name"),
    (Placeholder::Name, "name"),
    (Placeholder::Date, "date"),
    (Placeholder::DateShort, "date_short"),
    (Placeholder::Time, "time"),
    (Placeholder::Location, "location"),
    (Placeholder::Practice, "practice"),
    (Placeholder::Summary, "summary"),
];

impl Placeholder {
    /// Every placeholder.
    pub fn all() -> impl Iterator<Item = Placeholder> {
        ALL.iter().map(|(p, _)| *p)
    }
}

impl FromStr for Placeholder {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL.iter().find(|(_, n)| *n == s).map(|(p, _)| *p).ok_or_else(|| {
            let known: Vec<&str> = ALL.iter().map(|(_, n)| *n).collect();
            format!("`{{{s}}}` is not a placeholder; known are {}", known.join(", "))
        })
    }
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = ALL.iter().find(|(p, _)| p == self).map(|(_, n)| *n).unwrap_or("?");
        f.write_str(name)
    }
}

/// Everything a text may refer to.
#[derive(Clone, Copy, Debug)]
pub struct RenderContext<'a> {
    pub appointment: &'a Appointment,
    pub zone: Tz,
    pub practice: &'a str,
    /// Used when the appointment has no location of its own.
    pub default_location: Option<&'a str>,
}

impl<'a> RenderContext<'a> {
    /// The context of `appointment`, with its source's default location (from
    /// `locations`, by source name).
    pub fn new(
        appointment: &'a Appointment,
        zone: Tz,
        practice: &'a str,
        locations: &'a std::collections::HashMap<String, String>,
    ) -> Self {
        let default_location = locations.get(&appointment.source).map(String::as_str);
        RenderContext { appointment, zone, practice, default_location }
    }
}

impl RenderContext<'_> {
    fn value(&self, p: Placeholder) -> Option<String> {
        let a = self.appointment;
        let text = match p {
            Placeholder::FirstName => a.first_name().map(str::to_string),
            Placeholder::Name => a.customer_name.clone(),
            Placeholder::Date => Some(dutch_date(a.starts_at, self.zone)),
            Placeholder::DateShort => Some(dutch_date_short(a.starts_at, self.zone)),
            Placeholder::Time => Some(local_time(a.starts_at, self.zone)),
            Placeholder::Location => Some(
                a.location
                    .as_deref()
                    .or(self.default_location)
                    .unwrap_or(self.practice)
                    .to_string(),
            ),
            Placeholder::Practice => Some(self.practice.to_string()),
            Placeholder::Summary => a.summary.clone(),
        };
        text.map(|t| sanitize(&t)).filter(|t| !t.is_empty())
    }
}

/// Why a text could not be filled in.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("the appointment has no {0} and the rule gives no default for it")]
    Missing(Placeholder),
    #[error("template parameter {0} would be empty")]
    Empty(String),
}

/// A template ready to send: name, language, parameters and buttons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedTemplate {
    pub name: String,
    pub language: String,
    /// The text header's parameter, when the template has one.
    pub header: Option<TemplateParams>,
    pub params: TemplateParams,
    pub buttons: Vec<Action>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateParams {
    Positional(Vec<String>),
    Named(Vec<(String, String)>),
}

/// Checks that every `{…}` in a text is a known placeholder.
pub fn check_placeholders(text: &str) -> Result<(), String> {
    for token in tokens(text) {
        if let Token::Placeholder(name) = token {
            name.parse::<Placeholder>()?;
        } else if let Token::Unclosed = token {
            return Err(format!("`{text}` has a `{{` without a closing `}}`"));
        }
    }
    Ok(())
}

/// Fills in a text; a placeholder without value takes the default, else it is an error.
pub fn fill(
    text: &str,
    ctx: &RenderContext<'_>,
    defaults: &BTreeMap<Placeholder, String>,
) -> Result<String, RenderError> {
    let mut out = String::with_capacity(text.len() + 32);
    for token in tokens(text) {
        match token {
            Token::Text(t) => out.push_str(t),
            Token::Placeholder(name) => {
                // unknown names were refused when the rule or config was loaded
                let Ok(p) = name.parse::<Placeholder>() else {
                    out.push_str(name);
                    continue;
                };
                match ctx.value(p).or_else(|| defaults.get(&p).cloned()) {
                    Some(v) => out.push_str(&v),
                    None => return Err(RenderError::Missing(p)),
                }
            }
            Token::Unclosed => {}
        }
    }
    Ok(out)
}

impl Rule {
    /// The template with its parameters filled in for one appointment.
    pub fn render(&self, ctx: &RenderContext<'_>) -> Result<RenderedTemplate, RenderError> {
        Ok(RenderedTemplate {
            name: self.template.clone(),
            language: self.language.clone(),
            header: self.header.as_ref().map(|h| self.fill_params(h, ctx)).transpose()?,
            params: self.fill_params(&self.body, ctx)?,
            buttons: self.buttons.clone(),
        })
    }

    fn fill_params(
        &self,
        params: &BodyParams,
        ctx: &RenderContext<'_>,
    ) -> Result<TemplateParams, RenderError> {
        let one = |label: String, text: &str| -> Result<String, RenderError> {
            let value = sanitize(&fill(text, ctx, &self.defaults)?);
            if value.is_empty() { Err(RenderError::Empty(label)) } else { Ok(value) }
        };
        Ok(match params {
            BodyParams::Positional(texts) => TemplateParams::Positional(
                texts
                    .iter()
                    .enumerate()
                    .map(|(i, t)| one(format!("{{{{{}}}}}", i + 1), t))
                    .collect::<Result<_, _>>()?,
            ),
            BodyParams::Named(texts) => TemplateParams::Named(
                texts
                    .iter()
                    .map(|(k, t)| Ok((k.clone(), one(format!("{{{{{k}}}}}"), t)?)))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

/// Makes a value acceptable as a template parameter: Meta refuses new lines, tabs and
/// more than four spaces in a row (error 132018), so all whitespace runs become one space.
pub fn sanitize(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

enum Token<'a> {
    Text(&'a str),
    Placeholder(&'a str),
    Unclosed,
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            out.push(Token::Text(&rest[..open]));
        }
        match rest[open + 1..].find('}') {
            Some(close) => {
                out.push(Token::Placeholder(rest[open + 1..open + 1 + close].trim()));
                rest = &rest[open + 2 + close..];
            }
            None => {
                out.push(Token::Unclosed);
                return out;
            }
        }
    }
    if !rest.is_empty() {
        out.push(Token::Text(rest));
    }
    out
}
