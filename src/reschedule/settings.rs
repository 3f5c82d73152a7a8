//! `[reschedule]` in the config: the opening hours free times are offered from, how far
//! ahead, and what the customer reads along the way.

use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::availability::Schedule;
use super::conversation::Message;
use crate::domain::Appointment;
use crate::domain::time::{dutch_date, local_time, parse_time_of_day};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RescheduleSettings {
    /// No time is offered sooner than this after the customer's tap.
    #[serde(with = "humantime_serde")]
    pub min_notice: Duration,
    /// How many days ahead free times are searched.
    pub days: u32,
    /// Opening hours per calendar or location; an appointment of none of them gets the
    /// answer that the practice will call (`messages.reschedule`).
    pub calendars: Vec<CalendarHours>,
    pub list: OfferTexts,
    pub messages: ConversationTexts,
    /// Approved templates telling the customer staff's decision once their 24-hour
    /// service window has closed (free text is no longer allowed then); empty: staff
    /// are told to phone the customer instead.
    pub templates: OutcomeTemplates,
}

/// `[reschedule.templates]`: body parameters `{{1}}` first name, `{{2}}` date, `{{3}}`
/// time — the new time for `accepted`, the appointment's own for `declined`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeTemplates {
    pub accepted: String,
    pub declined: String,
    pub language: String,
}

/// When one calendar (a practitioner, a room) or one location takes appointments.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarHours {
    /// The appointments' calendar, as imported (a source's name, or its SQL `calendar`).
    #[serde(default)]
    pub calendar: Option<String>,
    /// Or: the appointments' location.
    #[serde(default)]
    pub location: Option<String>,
    /// Shown with each offered time ("Dr. Jansen"); none by default.
    #[serde(default)]
    pub label: Option<String>,
    /// The length of one appointment.
    #[serde(with = "humantime_serde", default = "default_slot")]
    pub slot: Duration,
    /// Opening hours per weekday: "09:00-12:00, 13:00-17:00"; a day left out is closed.
    #[serde(default)]
    pub monday: Option<String>,
    #[serde(default)]
    pub tuesday: Option<String>,
    #[serde(default)]
    pub wednesday: Option<String>,
    #[serde(default)]
    pub thursday: Option<String>,
    #[serde(default)]
    pub friday: Option<String>,
    #[serde(default)]
    pub saturday: Option<String>,
    #[serde(default)]
    pub sunday: Option<String>,
}

fn default_slot() -> Duration {
    Duration::from_secs(30 * 60)
}

impl Default for CalendarHours {
    /// Closed every day, 30-minute slots.
    fn default() -> Self {
        CalendarHours {
            calendar: None,
            location: None,
            label: None,
            slot: default_slot(),
            monday: None,
            tuesday: None,
            wednesday: None,
            thursday: None,
            friday: None,
            saturday: None,
            sunday: None,
        }
    }
}

const WEEKDAYS: [&str; 7] =
    ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

impl CalendarHours {
    fn days(&self) -> [&Option<String>; 7] {
        [
            &self.monday,
            &self.tuesday,
            &self.wednesday,
            &self.thursday,
            &self.friday,
            &self.saturday,
            &self.sunday,
        ]
    }

    /// Whether `appointment` belongs to these hours.
    pub fn covers(&self, appointment: &Appointment) -> bool {
        self.calendar.as_deref() == Some(appointment.calendar.as_str())
            || (self.location.is_some() && self.location == appointment.location)
    }

    /// The schedule, or what is wrong with it (key relative to this table, message).
    pub fn schedule(&self) -> Result<Schedule, (String, String)> {
        let mut hours: [Vec<(NaiveTime, NaiveTime)>; 7] = Default::default();
        for (i, day) in self.days().into_iter().enumerate() {
            if let Some(text) = day {
                hours[i] = parse_hours(text).map_err(|e| (WEEKDAYS[i].to_string(), e))?;
            }
        }
        let minutes = self.slot.as_secs() / 60;
        if !(5..=8 * 60).contains(&minutes) || !self.slot.as_secs().is_multiple_of(60) {
            return Err((
                "slot".into(),
                format!(
                    "{} is not a slot length between 5 minutes and 8 hours in whole minutes",
                    humantime::format_duration(self.slot)
                ),
            ));
        }
        Ok(Schedule {
            label: self.label.clone(),
            slot: chrono::Duration::minutes(minutes as i64),
            hours,
        })
    }
}

/// "09:00-12:00, 13:00-17:00" → the intervals, in order and not overlapping.
fn parse_hours(text: &str) -> Result<Vec<(NaiveTime, NaiveTime)>, String> {
    let mut out: Vec<(NaiveTime, NaiveTime)> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((from, to)) = part.split_once('-') else {
            return Err(format!("`{part}` is not opening hours like 09:00-12:00"));
        };
        let (from, to) = (parse_time_of_day(from)?, parse_time_of_day(to)?);
        if from >= to {
            return Err(format!("`{part}` closes before it opens"));
        }
        if out.last().is_some_and(|&(_, last_to)| from < last_to) {
            return Err(format!("`{part}` overlaps or precedes the hours before it"));
        }
        out.push((from, to));
    }
    Ok(out)
}

/// The texts around the list of free times.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OfferTexts {
    pub header: String,
    pub body: String,
    pub button: String,
    /// The section title of the last row.
    pub other: String,
    pub none_fits: String,
    pub none_fits_description: String,
}

impl Default for OfferTexts {
    /// The shipped defaults (`config.default.toml`), for tests.
    fn default() -> Self {
        OfferTexts {
            header: "Beschikbare tijden".into(),
            body: "Kies een nieuw tijdstip voor je afspraak. De praktijk bevestigt het daarna."
                .into(),
            button: "Kies tijd".into(),
            other: "Anders".into(),
            none_fits: "Geen van deze tijden".into(),
            none_fits_description: "De praktijk belt je".into(),
        }
    }
}

impl OfferTexts {
    /// Each text with its key and Meta's limit on it.
    fn limits(&self) -> [(&'static str, &str, usize); 6] {
        [
            ("header", &self.header, 60),
            ("body", &self.body, 1024),
            ("button", &self.button, 20),
            ("other", &self.other, 24),
            ("none_fits", &self.none_fits, 24),
            ("none_fits_description", &self.none_fits_description, 72),
        ]
    }
}

/// What the customer reads during the conversation. `{new_date}` and `{new_time}` are
/// the chosen time; the appointment's placeholders (`{date}`, `{time}`, `{practice}`, …)
/// work as in `[messages]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationTexts {
    pub request_received: String,
    pub will_call: String,
    pub accepted: String,
    pub declined: String,
    pub expired: String,
    pub moved: String,
    pub unknown_choice: String,
    pub already_decided: String,
}

impl ConversationTexts {
    pub fn all(&self) -> [(&'static str, &str); 8] {
        [
            ("request_received", &self.request_received),
            ("will_call", &self.will_call),
            ("accepted", &self.accepted),
            ("declined", &self.declined),
            ("expired", &self.expired),
            ("moved", &self.moved),
            ("unknown_choice", &self.unknown_choice),
            ("already_decided", &self.already_decided),
        ]
    }

    /// The text for `message`, with the chosen time filled in (the appointment's own
    /// placeholders are left for the caller).
    pub fn text(&self, message: &Message, zone: Tz) -> String {
        let (text, slot) = match message {
            Message::RequestReceived(slot) => (&self.request_received, Some(slot.start)),
            Message::WillCall => (&self.will_call, None),
            Message::Accepted(slot) => (&self.accepted, Some(slot.start)),
            Message::Declined => (&self.declined, None),
            Message::Expired => (&self.expired, None),
            Message::AppointmentMoved(_) => (&self.moved, None),
            Message::UnknownChoice => (&self.unknown_choice, None),
            Message::AlreadyDecided => (&self.already_decided, None),
        };
        fill_new_time(text, slot, zone)
    }

    /// A short word for the message, stored with the outgoing reply (shown to staff).
    pub fn word(message: &Message) -> &'static str {
        match message {
            Message::RequestReceived(_) => "reschedule_requested",
            Message::WillCall => "reschedule_call_back",
            Message::Accepted(_) => "reschedule_accepted",
            Message::Declined => "reschedule_declined",
            Message::Expired => "reschedule_expired",
            Message::AppointmentMoved(_) => "reschedule_moved",
            Message::UnknownChoice => "reschedule_unknown_choice",
            Message::AlreadyDecided => "reschedule_already_decided",
        }
    }
}

/// `{new_date}` and `{new_time}` filled in with `at` (left empty without one).
fn fill_new_time(text: &str, at: Option<DateTime<Utc>>, zone: Tz) -> String {
    let date = at.map(|at| dutch_date(at, zone)).unwrap_or_default();
    let time = at.map(|at| local_time(at, zone)).unwrap_or_default();
    text.replace("{new_date}", &date).replace("{new_time}", &time)
}

impl RescheduleSettings {
    /// The hours that cover `appointment`: the first table naming its calendar or its
    /// location.
    pub fn schedule_for(&self, appointment: &Appointment) -> Option<(&CalendarHours, Schedule)> {
        self.calendars
            .iter()
            .find(|c| c.covers(appointment))
            .and_then(|c| c.schedule().ok().map(|s| (c, s)))
    }

    /// Every problem, as (key under `reschedule.`, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !(1..=90).contains(&self.days) {
            out.push(("days".into(), format!("{} is not between 1 and 90 days", self.days)));
        }
        for (i, c) in self.calendars.iter().enumerate() {
            let key = |k: &str| format!("calendars.{i}.{k}");
            if c.calendar.is_none() && c.location.is_none() {
                out.push((key("calendar"), "name a calendar or a location".into()));
            }
            if let Err((k, e)) = c.schedule() {
                out.push((key(&k), e));
            }
            if let Some(label) = &c.label
                && label.chars().count() > 72
            {
                out.push((key("label"), "is longer than a list row's 72 characters".into()));
            }
        }
        for (k, text, max) in self.list.limits() {
            if text.trim().is_empty() || text.chars().count() > max {
                out.push((format!("list.{k}"), format!("must have 1 to {max} characters")));
            }
        }
        for (k, text) in self.messages.all() {
            let rest = fill_new_time(text, None, chrono_tz::UTC);
            if let Err(e) = crate::rules::render::check_placeholders(&rest) {
                out.push((format!("messages.{k}"), e));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reschedule::Slot;

    fn t(s: &str) -> NaiveTime {
        parse_time_of_day(s).unwrap()
    }

    #[test]
    fn opening_hours_are_read_and_mistakes_named() {
        assert_eq!(
            parse_hours("09:00-12:00, 13:00-17:30").unwrap(),
            [(t("09:00"), t("12:00")), (t("13:00"), t("17:30"))]
        );
        assert_eq!(parse_hours("").unwrap(), []);
        for (bad, says) in [
            ("09:00", "not opening hours"),
            ("12:00-09:00", "closes before it opens"),
            ("09:00-12:00, 11:00-13:00", "overlaps"),
            ("9h-12h", "not a time of day"),
        ] {
            let e = parse_hours(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn a_calendar_without_name_or_with_bad_hours_is_reported_with_its_key() {
        let settings = RescheduleSettings {
            min_notice: Duration::from_secs(3600),
            days: 14,
            calendars: vec![
                CalendarHours { monday: Some("09:00-17:00".into()), ..Default::default() },
                CalendarHours {
                    calendar: Some("praktijk".into()),
                    friday: Some("17:00-09:00".into()),
                    ..Default::default()
                },
            ],
            list: OfferTexts::default(),
            templates: OutcomeTemplates::default(),
            messages: ConversationTexts {
                request_received: "{new_date} {nonsense}".into(),
                ..texts()
            },
        };
        let keys: Vec<String> = settings.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            ["calendars.0.calendar", "calendars.1.friday", "messages.request_received"]
        );
    }

    #[test]
    fn the_chosen_time_is_written_out_in_dutch() {
        let slot = Slot {
            start: "2026-10-15T07:00:00Z".parse().unwrap(),
            end: "2026-10-15T07:30:00Z".parse().unwrap(),
            label: None,
        };
        let text = texts().text(&Message::Accepted(slot), chrono_tz::Europe::Amsterdam);
        assert_eq!(text, "Verzet naar donderdag 15 oktober om 09:00.");
    }

    fn texts() -> ConversationTexts {
        ConversationTexts {
            request_received: "{new_date} {new_time}".into(),
            will_call: "bellen".into(),
            accepted: "Verzet naar {new_date} om {new_time}.".into(),
            declined: "nee".into(),
            expired: "verlopen".into(),
            moved: "{date}".into(),
            unknown_choice: "?".into(),
            already_decided: "al".into(),
        }
    }
}
