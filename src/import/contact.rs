//! Finding the customer in a calendar event: name, phone number and email address, by
//! rules configured per source (`[sources.contact]`), because every practice writes its
//! calendar differently: one invites the customer as an attendee, another types the
//! number into the description.
//!
//! Numbers are normalised to E.164 with [`Phone::parse`]. A number that cannot be read is
//! reported to staff, never guessed: a reminder sent to a wrong number is worse than
//! none.

use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::ical::Occurrence;
use crate::domain::{Phone, Region};

/// The pattern used when a source configures none: a label such as `tel`, `telefoon`,
/// `phone` or `mobiel`, then the number.
pub const DEFAULT_PHONE_PATTERN: &str =
    r"(?i)(?:tel|telefoon|phone|mobiel)[.:]?\s*([+0-9][0-9 ()./-]{7,})";

/// Where a source keeps its customers' details. Each field is looked at in the order
/// below; the first usable value wins.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContactRules {
    /// Phone from `ATTENDEE:tel:…` (how CalDAV clients invite by phone).
    pub phone_from_attendees: bool,
    /// Then from these properties, e.g. `X-PHONE` written by a booking tool.
    pub phone_properties: Vec<String>,
    /// Then from the DESCRIPTION, by this regex: the first capture group (or the whole
    /// match) is the number. `None` turns the description search off.
    pub phone_pattern: Option<String>,
    /// Name from the `CN` of an attendee.
    pub name_from_attendees: bool,
    /// Then from this property, e.g. `X-CUSTOMER`.
    pub name_property: Option<String>,
    /// Then from the SUMMARY…
    pub name_from_summary: bool,
    /// …through this regex, when set: the capture group `name` (or the first group) is
    /// the name, e.g. `^(?P<name>.+?) - ` for "Jan Jansen - controle".
    pub name_pattern: Option<String>,
    /// Email from `ATTENDEE:mailto:…`.
    pub email_from_attendees: bool,
    /// The compiled patterns, built on first use.
    #[serde(skip)]
    compiled: OnceLock<Compiled>,
}

#[derive(Clone, Debug, Default)]
struct Compiled {
    phone: Option<Regex>,
    name: Option<Regex>,
}

impl Default for ContactRules {
    fn default() -> Self {
        ContactRules {
            phone_from_attendees: true,
            phone_properties: vec!["X-PHONE".into(), "X-MOBILE".into(), "X-TEL".into()],
            phone_pattern: Some(DEFAULT_PHONE_PATTERN.into()),
            name_from_attendees: true,
            name_property: None,
            name_from_summary: true,
            name_pattern: None,
            email_from_attendees: true,
            compiled: OnceLock::new(),
        }
    }
}

/// What was found about the customer of one occurrence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contact {
    pub name: Option<String>,
    pub phone: Option<Phone>,
    pub email: Option<String>,
    /// For staff: why no usable number was found (the unusable inputs, named).
    pub problems: Vec<String>,
}

impl ContactRules {
    /// Checks the patterns, naming the key and the pattern that does not compile; called
    /// when the configuration loads so that a typo is found at startup, not at import.
    pub fn validate(&self) -> Result<(), String> {
        for (key, pattern) in
            [("phone_pattern", &self.phone_pattern), ("name_pattern", &self.name_pattern)]
        {
            if let Some(p) = pattern {
                Regex::new(p)
                    .map_err(|e| format!("contact.{key} `{p}` is not a valid regex: {e}"))?;
            }
        }
        Ok(())
    }

    fn compiled(&self) -> &Compiled {
        // An invalid pattern was refused by `validate` at startup; if one slips through
        // it is treated as absent rather than failing every import.
        self.compiled.get_or_init(|| Compiled {
            phone: self.phone_pattern.as_deref().and_then(|p| Regex::new(p).ok()),
            name: self.name_pattern.as_deref().and_then(|p| Regex::new(p).ok()),
        })
    }

    /// Extracts the contact of `occ`, reading national numbers in `region`.
    pub fn extract(&self, occ: &Occurrence, region: Region) -> Contact {
        let (phone, problems) = self.phone(occ, region);
        Contact { name: self.name(occ), phone, email: self.email(occ), problems }
    }

    fn phone(&self, occ: &Occurrence, region: Region) -> (Option<Phone>, Vec<String>) {
        let mut candidates: Vec<String> = Vec::new();
        if self.phone_from_attendees {
            candidates.extend(occ.attendees.iter().filter_map(|a| strip_scheme(&a.value, "tel:")));
        }
        for name in &self.phone_properties {
            candidates.extend(
                occ.properties
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| strip_scheme(v, "tel:").unwrap_or_else(|| v.trim().to_string())),
            );
        }
        if let (Some(re), Some(text)) = (&self.compiled().phone, &occ.description) {
            candidates.extend(re.captures_iter(text).filter_map(|c| {
                c.get(1).or_else(|| c.get(0)).map(|m| m.as_str().trim().to_string())
            }));
        }
        first_usable_phone(&candidates, region)
    }

    fn name(&self, occ: &Occurrence) -> Option<String> {
        let clean =
            |s: &str| Some(s.trim().trim_matches('"').trim().to_string()).filter(|s| !s.is_empty());
        if self.name_from_attendees
            && let Some(name) = occ.attendees.iter().find_map(|a| a.cn.as_deref().and_then(clean))
        {
            return Some(name);
        }
        if let Some(name) = self
            .name_property
            .as_deref()
            .and_then(|p| occ.property(&p.to_ascii_uppercase()))
            .and_then(clean)
        {
            return Some(name);
        }
        if !self.name_from_summary {
            return None;
        }
        let summary = occ.summary.as_deref()?;
        match &self.compiled().name {
            None => clean(summary),
            Some(re) => {
                let caps = re.captures(summary)?;
                caps.name("name").or_else(|| caps.get(1)).and_then(|m| clean(m.as_str()))
            }
        }
    }

    fn email(&self, occ: &Occurrence) -> Option<String> {
        if !self.email_from_attendees {
            return None;
        }
        occ.attendees
            .iter()
            .filter_map(|a| strip_scheme(&a.value, "mailto:"))
            .find(|e| e.contains('@'))
    }
}

/// The first number among `candidates` that [`Phone::parse`] accepts, reading national
/// numbers in `region`; blank candidates are ignored. When none is usable, each
/// unusable one is returned as a problem that names the input: for the staff page, never
/// for a log line. Every source reads numbers this way, so a number means the same
/// whether it came from a calendar feed or a practice database.
pub fn first_usable_phone<S: AsRef<str>>(
    candidates: impl IntoIterator<Item = S>,
    region: Region,
) -> (Option<Phone>, Vec<String>) {
    let mut problems = Vec::new();
    for raw in candidates {
        let raw = raw.as_ref().trim();
        if raw.is_empty() {
            continue;
        }
        match Phone::parse(raw, region) {
            Ok(phone) => return (Some(phone), Vec::new()),
            Err(e) => problems.push(e.to_string()),
        }
    }
    (None, problems)
}

impl Contact {
    /// What staff are told about the number: the unusable inputs, or that there was
    /// none; `None` when a usable number was found.
    pub fn problem(&self) -> Option<String> {
        if !self.problems.is_empty() {
            Some(self.problems.join("; "))
        } else if self.phone.is_none() {
            Some("no phone number found".to_string())
        } else {
            None
        }
    }
}

/// The rest of `value` after `scheme` (any case), trimmed; `None` for another scheme.
fn strip_scheme(value: &str, scheme: &str) -> Option<String> {
    let value = value.trim();
    let head = value.get(..scheme.len())?;
    head.eq_ignore_ascii_case(scheme).then(|| value[scheme.len()..].trim().to_string())
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::import::ical::Attendee;

    fn occurrence() -> Occurrence {
        let at = Utc.with_ymd_and_hms(2026, 10, 20, 8, 0, 0).unwrap();
        Occurrence {
            uid: "a@b".into(),
            uid_is_generated: false,
            recurrence_id: None,
            starts_at: at,
            ends_at: at,
            all_day: false,
            summary: None,
            location: None,
            description: None,
            status: None,
            sequence: 0,
            attendees: Vec::new(),
            properties: Vec::new(),
        }
    }

    fn attendee(value: &str, cn: Option<&str>) -> Attendee {
        Attendee { value: value.into(), cn: cn.map(Into::into), params: Vec::new() }
    }

    fn nl() -> Region {
        Region::default()
    }

    #[test]
    fn dutch_ways_of_writing_a_number_in_the_description_become_e164() {
        for written in ["06-12345678", "0031612345678", "+31 6 1234 5678", "06 12 34 56 78"] {
            let mut occ = occurrence();
            occ.description = Some(format!("Controle\nTelefoon: {written}\nGraag op tijd"));
            let contact = ContactRules::default().extract(&occ, nl());
            let phone =
                contact.phone.unwrap_or_else(|| panic!("{written}: {:?}", contact.problems));
            assert_eq!(phone.e164(), "+31612345678", "{written}");
            assert!(phone.is_mobile(), "{written}");
        }
    }

    #[test]
    fn a_landline_is_kept_but_is_not_mobile() {
        let mut occ = occurrence();
        occ.description = Some("tel. 020-1234567".into());
        let phone = ContactRules::default().extract(&occ, nl()).phone.unwrap();
        assert_eq!(phone.e164(), "+31201234567");
        assert!(!phone.is_mobile());
    }

    #[test]
    fn an_attendee_tel_uri_comes_before_properties_and_description() {
        let mut occ = occurrence();
        occ.attendees.push(attendee("tel:+31612345678", Some("Jan Jansen")));
        occ.properties.push(("X-PHONE".into(), "0687654321".into()));
        occ.description = Some("mobiel 0611111111".into());
        let contact = ContactRules::default().extract(&occ, nl());
        assert_eq!(contact.phone.unwrap().e164(), "+31612345678");
        assert_eq!(contact.name.as_deref(), Some("Jan Jansen"));
    }

    #[test]
    fn a_configured_property_is_read_when_no_attendee_has_a_number() {
        let mut occ = occurrence();
        occ.properties.push(("X-PHONE".into(), "06-87654321".into()));
        occ.description = Some("mobiel 0611111111".into());
        let contact = ContactRules::default().extract(&occ, nl());
        assert_eq!(contact.phone.unwrap().e164(), "+31687654321");
    }

    #[test]
    fn an_unusable_number_is_reported_and_not_guessed() {
        let mut occ = occurrence();
        occ.properties.push(("X-PHONE".into(), "06-123".into()));
        let contact = ContactRules::default().extract(&occ, nl());
        assert_eq!(contact.phone, None);
        assert_eq!(contact.problems.len(), 1);
        assert!(contact.problems[0].contains("`06-123`"), "{:?}", contact.problems);
    }

    #[test]
    fn the_first_usable_candidate_wins_and_blanks_are_ignored() {
        let (phone, problems) = first_usable_phone(["", " ", "06-123", "020-1234567"], nl());
        assert_eq!(phone.unwrap().e164(), "+31201234567");
        assert_eq!(problems, Vec::<String>::new());
        let contact =
            Contact { phone: None, problems: vec!["`06-123` is bad".into()], ..Contact::default() };
        assert_eq!(contact.problem().as_deref(), Some("`06-123` is bad"));
        assert_eq!(Contact::default().problem().as_deref(), Some("no phone number found"));
    }

    #[test]
    fn no_number_at_all_is_no_phone_and_no_problem_here() {
        let contact = ContactRules::default().extract(&occurrence(), nl());
        assert_eq!(contact, Contact::default());
    }

    #[test]
    fn email_comes_from_a_mailto_attendee() {
        let mut occ = occurrence();
        occ.attendees.push(attendee("MAILTO:jan@example.nl", None));
        let contact = ContactRules::default().extract(&occ, nl());
        assert_eq!(contact.email.as_deref(), Some("jan@example.nl"));
        let rules = ContactRules { email_from_attendees: false, ..ContactRules::default() };
        assert_eq!(rules.extract(&occ, nl()).email, None);
    }

    #[test]
    fn the_name_comes_from_a_property_then_the_summary() {
        let mut occ = occurrence();
        occ.summary = Some("Piet Pietersen - controle".into());
        assert_eq!(
            ContactRules::default().extract(&occ, nl()).name.as_deref(),
            Some("Piet Pietersen - controle")
        );
        let rules = ContactRules {
            name_pattern: Some("^(?P<name>.+?) - ".into()),
            ..ContactRules::default()
        };
        assert_eq!(rules.extract(&occ, nl()).name.as_deref(), Some("Piet Pietersen"));
        occ.properties.push(("X-CUSTOMER".into(), "Klaas Klaassen".into()));
        let rules = ContactRules { name_property: Some("x-customer".into()), ..rules };
        assert_eq!(rules.extract(&occ, nl()).name.as_deref(), Some("Klaas Klaassen"));
        let rules = ContactRules { name_property: None, name_from_summary: false, ..rules };
        assert_eq!(rules.extract(&occ, nl()).name, None);
    }

    #[test]
    fn a_bad_pattern_is_named_by_validate() {
        assert!(ContactRules::default().validate().is_ok());
        let rules =
            ContactRules { phone_pattern: Some("([0-9]".into()), ..ContactRules::default() };
        let err = rules.validate().unwrap_err();
        assert!(err.contains("contact.phone_pattern") && err.contains("([0-9]"), "{err}");
    }

    #[test]
    fn the_documented_example_in_the_default_config_is_valid() {
        // the commented `[sources.contact]` block of config.default.toml, uncommented
        let example: String = crate::config::DEFAULTS
            .lines()
            .skip_while(|l| !l.starts_with("# [sources.contact]"))
            .skip(1)
            .take_while(|l| l.starts_with("# "))
            .filter(|l| !l.starts_with("#  "))
            .map(|l| format!("{}\n", &l[2..]))
            .collect();
        assert!(example.contains("phone_pattern"), "{example}");
        let rules: ContactRules =
            toml::from_str(&example).unwrap_or_else(|e| panic!("{e}\n{example}"));
        rules.validate().unwrap();
        assert_eq!(rules.phone_pattern.as_deref(), Some(DEFAULT_PHONE_PATTERN));
        assert_eq!(rules.phone_properties, ContactRules::default().phone_properties);
    }

    #[test]
    fn rules_deserialize_with_defaults_and_refuse_unknown_keys() {
        let rules: ContactRules = toml::from_str("phone_properties = [\"X-GSM\"]").unwrap();
        assert_eq!(rules.phone_properties, vec!["X-GSM".to_string()]);
        assert_eq!(rules.phone_pattern.as_deref(), Some(DEFAULT_PHONE_PATTERN));
        assert!(toml::from_str::<ContactRules>("phone = []").is_err());
    }
}
