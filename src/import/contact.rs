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
    /// The WhatsApp opt-in marker: a property (or an attendee parameter) of this name
    /// whose value says yes (`yes`, `ja`, `true`, `1`, `opt-in`) or no (`no`, `nee`,
    /// `false`, `0`, `opt-out`).
    pub opt_in_properties: Vec<String>,
    /// Or a regex over the DESCRIPTION: a match means the customer opted in.
    pub opt_in_pattern: Option<String>,
    /// The compiled patterns, built on first use.
    #[serde(skip)]
    compiled: OnceLock<Compiled>,
}

#[derive(Clone, Debug, Default)]
struct Compiled {
    phone: Option<Regex>,
    name: Option<Regex>,
    opt_in: Option<Regex>,
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
            opt_in_properties: vec!["X-WHATSAPP-OPT-IN".into()],
            opt_in_pattern: None,
            compiled: OnceLock::new(),
        }
    }
}

/// What was found about the customer of one occurrence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contact {
    pub name: Option<String>,
    /// The number to use: the first mobile one found, else the first one.
    pub phone: Option<Phone>,
    /// Every usable number found, in the order of the rules, without repeats.
    pub phones: Vec<Phone>,
    pub email: Option<String>,
    /// What the calendar says about WhatsApp: `None` when it says nothing.
    pub whatsapp_opt_in: Option<bool>,
    /// For staff: why no usable number was found (the unusable inputs, named).
    pub problems: Vec<String>,
}

impl ContactRules {
    /// Checks the patterns, naming the key and the pattern that does not compile; called
    /// when the configuration loads so that a typo is found at startup, not at import.
    pub fn validate(&self) -> Result<(), String> {
        for (key, pattern) in [
            ("phone_pattern", &self.phone_pattern),
            ("name_pattern", &self.name_pattern),
            ("opt_in_pattern", &self.opt_in_pattern),
        ] {
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
            opt_in: self.opt_in_pattern.as_deref().and_then(|p| Regex::new(p).ok()),
        })
    }

    /// Extracts the contact of `occ`, reading national numbers in `region`.
    pub fn extract(&self, occ: &Occurrence, region: Region) -> Contact {
        let (phones, problems) = self.phones(occ, region);
        let phone = preferred(&phones);
        // an unusable number next to a usable one is noise for staff
        let problems = if phone.is_some() { Vec::new() } else { problems };
        Contact {
            name: self.name(occ),
            phone,
            phones,
            email: self.email(occ),
            whatsapp_opt_in: self.opt_in(occ),
            problems,
        }
    }

    fn phones(&self, occ: &Occurrence, region: Region) -> (Vec<Phone>, Vec<String>) {
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
        usable_phones(&candidates, region)
    }

    fn opt_in(&self, occ: &Occurrence) -> Option<bool> {
        let marked = |name: &String| {
            let property = occ
                .properties
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str());
            let params = occ
                .attendees
                .iter()
                .flat_map(|a| a.params.iter())
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str());
            property.chain(params).find_map(yes_or_no)
        };
        if let Some(answer) = self.opt_in_properties.iter().find_map(marked) {
            return Some(answer);
        }
        let (re, text) = (self.compiled().opt_in.as_ref()?, occ.description.as_deref()?);
        re.is_match(text).then_some(true)
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

/// A marker's value read as yes or no; `None` for anything else.
pub(crate) fn yes_or_no(value: &str) -> Option<bool> {
    match value.trim().trim_matches('"').to_ascii_lowercase().as_str() {
        "yes" | "ja" | "j" | "y" | "true" | "1" | "opt-in" | "optin" => Some(true),
        "no" | "nee" | "n" | "false" | "0" | "opt-out" | "optout" => Some(false),
        _ => None,
    }
}

/// Every number among `candidates` that [`Phone::parse`] accepts, reading national
/// numbers in `region`, in order and without repeats; blank candidates are ignored.
/// Each unusable one is returned as a problem that names the input: for the staff page,
/// never for a log line. Every source reads numbers this way, so a number means the
/// same whether it came from a calendar feed or a practice database.
pub fn usable_phones<S: AsRef<str>>(
    candidates: impl IntoIterator<Item = S>,
    region: Region,
) -> (Vec<Phone>, Vec<String>) {
    let mut phones: Vec<Phone> = Vec::new();
    let mut problems = Vec::new();
    for raw in candidates {
        let raw = raw.as_ref().trim();
        if raw.is_empty() {
            continue;
        }
        match Phone::parse(raw, region) {
            Ok(phone) if !phones.contains(&phone) => phones.push(phone),
            Ok(_) => {}
            Err(e) => problems.push(e.to_string()),
        }
    }
    (phones, problems)
}

/// The number to use among `candidates`: the first mobile one (WhatsApp needs one), else
/// the first usable one; with the unusable inputs as problems when there is none.
pub fn first_usable_phone<S: AsRef<str>>(
    candidates: impl IntoIterator<Item = S>,
    region: Region,
) -> (Option<Phone>, Vec<String>) {
    let (phones, problems) = usable_phones(candidates, region);
    match preferred(&phones) {
        Some(phone) => (Some(phone), Vec::new()),
        None => (None, problems),
    }
}

fn preferred(phones: &[Phone]) -> Option<Phone> {
    phones.iter().find(|p| p.is_mobile()).or(phones.first()).cloned()
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

    #[test]
    fn every_number_is_kept_and_the_mobile_one_is_used() {
        let mut occ = occurrence();
        occ.attendees = vec![attendee("tel:020-1234567", Some("Emma Bakker"))];
        occ.description = Some("Mobiel: 06-12345678\nTel: 020 123 4567".into());
        let contact = ContactRules::default().extract(&occ, nl());
        let all: Vec<&str> = contact.phones.iter().map(Phone::e164).collect();
        assert_eq!(all, ["+31201234567", "+31612345678"], "in rule order, without repeats");
        assert_eq!(contact.phone.unwrap().e164(), "+31612345678", "WhatsApp needs the mobile");
    }

    #[test]
    fn the_whatsapp_opt_in_marker_is_read_from_a_property_a_parameter_or_a_pattern() {
        let rules = ContactRules {
            opt_in_pattern: Some("(?i)whatsapp:\\s*ja".into()),
            ..ContactRules::default()
        };
        let cases: [(&str, Option<bool>); 4] =
            [("ja", Some(true)), ("NEE", Some(false)), ("opt-in", Some(true)), ("misschien", None)];
        for (value, expected) in cases {
            let mut occ = occurrence();
            occ.properties = vec![("X-WHATSAPP-OPT-IN".into(), value.into())];
            assert_eq!(rules.extract(&occ, nl()).whatsapp_opt_in, expected, "{value}");
        }
        let mut occ = occurrence();
        occ.attendees = vec![Attendee {
            value: "tel:0612345678".into(),
            cn: None,
            params: vec![("X-WHATSAPP-OPT-IN".into(), "TRUE".into())],
        }];
        assert_eq!(rules.extract(&occ, nl()).whatsapp_opt_in, Some(true));
        let mut occ = occurrence();
        occ.description = Some("Herinnering via WhatsApp: ja".into());
        assert_eq!(rules.extract(&occ, nl()).whatsapp_opt_in, Some(true));
        assert_eq!(ContactRules::default().extract(&occurrence(), nl()).whatsapp_opt_in, None);
    }
}
