//! `reminderd preview`: every VEVENT occurrence the importer reads from a feed in a
//! window, with the contact it extracts — all-day and cancelled ones too, since which of
//! them become appointments is the source's configuration.
//!
//! The JSON form is the format of the iCal conformance corpus
//! (`tests/conformance/ical/README.md`: same fields, same window, same order), each
//! object extended by `contact`, so the importer can be compared with the oracle.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::contact::ContactRules;
use super::ical::Occurrence;
use crate::domain::Region;
use crate::domain::time::resolve_local;

/// The zone of `start_local_amsterdam` (fixed by the corpus format, whatever the
/// business zone).
const AMSTERDAM: Tz = chrono_tz::Europe::Amsterdam;

/// One occurrence in the corpus format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PreviewOccurrence {
    pub uid: Option<String>,
    pub recurrence_id: Option<String>,
    pub start_utc: Option<String>,
    pub start_local_amsterdam: String,
    pub all_day: bool,
    pub date: Option<String>,
    pub end_utc: Option<String>,
    pub end_date: Option<String>,
    pub summary: Option<String>,
    pub status: Option<String>,
    pub contact: PreviewContact,
    /// For sorting only.
    #[serde(skip)]
    starts_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PreviewContact {
    pub name: Option<String>,
    /// The number reminders would use (E.164).
    pub phone: Option<String>,
    /// Every number found.
    pub phones: Vec<String>,
    pub email: Option<String>,
    pub whatsapp_opt_in: Option<bool>,
}

/// What a feed holds in a window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preview {
    pub occurrences: Vec<PreviewOccurrence>,
    /// Events that could not be read, each naming its UID and the cause.
    pub problems: Vec<String>,
}

/// Reads `text` over the local dates `[from, to)` in `zone` (floating times are taken in
/// `zone` too). Fails only when the text is not a complete iCalendar feed.
pub fn preview(
    text: &str,
    rules: &ContactRules,
    zone: Tz,
    region: Region,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Preview, String> {
    let (start, end) = (resolve_local(zone, from.into()), resolve_local(zone, to.into()));
    let feed = super::read_complete_feed(text, zone, start, end)?;
    let mut occurrences: Vec<PreviewOccurrence> =
        feed.occurrences.iter().map(|occ| row(occ, rules, region)).collect();
    occurrences.sort_by(order);
    Ok(Preview { occurrences, problems: feed.problems })
}

fn row(occ: &Occurrence, rules: &ContactRules, region: Region) -> PreviewOccurrence {
    let utc = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let date = |t: DateTime<Utc>| t.with_timezone(&AMSTERDAM).date_naive().to_string();
    let contact = rules.extract(occ, region);
    PreviewOccurrence {
        uid: (!occ.uid_is_generated).then(|| occ.uid.clone()),
        recurrence_id: occ.recurrence_id.map(|r| if occ.all_day { date(r) } else { utc(r) }),
        start_utc: (!occ.all_day).then(|| utc(occ.starts_at)),
        start_local_amsterdam: if occ.all_day {
            date(occ.starts_at)
        } else {
            occ.starts_at.with_timezone(&AMSTERDAM).to_rfc3339_opts(SecondsFormat::Secs, false)
        },
        all_day: occ.all_day,
        date: occ.all_day.then(|| date(occ.starts_at)),
        end_utc: (!occ.all_day).then(|| utc(occ.ends_at)),
        end_date: occ.all_day.then(|| date(occ.ends_at)),
        summary: occ.summary.clone(),
        status: occ.status.clone(),
        contact: PreviewContact {
            name: contact.name,
            phone: contact.phone.map(|p| p.e164().to_string()),
            phones: contact.phones.iter().map(|p| p.e164().to_string()).collect(),
            email: contact.email,
            whatsapp_opt_in: contact.whatsapp_opt_in,
        },
        starts_at: occ.starts_at,
    }
}

/// The corpus order: by start (an all-day occurrence at 00:00 Amsterdam of its date),
/// then uid, recurrence id, summary and end.
fn order(a: &PreviewOccurrence, b: &PreviewOccurrence) -> Ordering {
    let end = |o: &PreviewOccurrence| o.end_utc.clone().or_else(|| o.end_date.clone());
    a.starts_at
        .cmp(&b.starts_at)
        .then_with(|| a.uid.cmp(&b.uid))
        .then_with(|| a.recurrence_id.cmp(&b.recurrence_id))
        .then_with(|| a.summary.cmp(&b.summary))
        .then_with(|| end(a).cmp(&end(b)))
}

impl PreviewOccurrence {
    /// One line for a person: when, what, who.
    pub fn human(&self) -> String {
        let when = match (&self.date, &self.start_utc) {
            (Some(date), _) => format!("{date} (all day)       "),
            _ => {
                self.start_local_amsterdam.replace('T', " ").chars().take(16).collect::<String>()
                    + " (Amsterdam)"
            }
        };
        let mut marks = String::new();
        if self.status.as_deref() == Some("CANCELLED") {
            marks.push_str(" [cancelled]");
        }
        let c = &self.contact;
        let who = [
            c.name.clone(),
            c.phone.clone(),
            c.email.clone(),
            c.whatsapp_opt_in
                .map(|yes| format!("WhatsApp opt-in: {}", if yes { "yes" } else { "no" })),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
        format!(
            "{when}  {}{marks}  — {}",
            self.summary.as_deref().unwrap_or("(no summary)"),
            if who.is_empty() { "no contact found" } else { &who }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEED: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//NL\r\n\
        BEGIN:VEVENT\r\nUID:series@p\r\nDTSTART;TZID=Europe/Amsterdam:20261020T093000\r\n\
        DURATION:PT30M\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\nSUMMARY:Fysio\r\n\
        ATTENDEE;CN=Noah Visser;X-WHATSAPP-OPT-IN=ja:tel:06-11223344\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:series@p\r\nRECURRENCE-ID;TZID=Europe/Amsterdam:20261027T093000\r\n\
        DTSTART;TZID=Europe/Amsterdam:20261027T093000\r\nDURATION:PT30M\r\nSTATUS:CANCELLED\r\n\
        SUMMARY:Fysio\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:holiday@p\r\nDTSTART;VALUE=DATE:20261026\r\nSUMMARY:Dicht\r\nEND:VEVENT\r\n\
        END:VCALENDAR\r\n";

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_preview_lists_every_occurrence_in_the_corpus_format() {
        let p = preview(
            FEED,
            &ContactRules::default(),
            AMSTERDAM,
            Region::default(),
            day("2026-10-19"),
            day("2026-11-01"),
        )
        .unwrap();
        let json = serde_json::to_value(&p.occurrences).unwrap();
        let got: Vec<(&str, &str)> = json
            .as_array()
            .unwrap()
            .iter()
            .map(|o| (o["start_local_amsterdam"].as_str().unwrap(), o["summary"].as_str().unwrap()))
            .collect();
        // 09:30 stays 09:30 across the autumn switch; the holiday sorts at its midnight
        assert_eq!(
            got,
            [
                ("2026-10-20T09:30:00+02:00", "Fysio"),
                ("2026-10-26", "Dicht"),
                ("2026-10-27T09:30:00+01:00", "Fysio"),
            ]
        );
        let first = &json[0];
        assert_eq!(first["uid"], "series@p");
        assert_eq!(first["recurrence_id"], "2026-10-20T07:30:00Z");
        assert_eq!(first["start_utc"], "2026-10-20T07:30:00Z");
        assert_eq!(first["end_utc"], "2026-10-20T08:00:00Z");
        assert_eq!(first["date"], serde_json::Value::Null);
        assert_eq!(first["contact"]["phone"], "+31611223344");
        assert_eq!(first["contact"]["phones"], serde_json::json!(["+31611223344"]));
        assert_eq!(first["contact"]["whatsapp_opt_in"], true);
        assert_eq!(json[1]["all_day"], true);
        assert_eq!(json[1]["end_date"], "2026-10-27");
        assert_eq!(json[2]["status"], "CANCELLED", "cancelled instances are listed");
        assert!(p.occurrences[2].human().contains("[cancelled]"));
    }

    #[test]
    fn a_feed_that_cannot_be_read_names_the_line() {
        let rules = ContactRules::default();
        let read = |text: &str| {
            preview(
                text,
                &rules,
                AMSTERDAM,
                Region::default(),
                day("2026-10-19"),
                day("2026-11-01"),
            )
        };
        assert!(read("<html>").unwrap_err().starts_with("line 1: "));
        let cut = &FEED[..FEED.find("BEGIN:VEVENT\r\nUID:holiday").unwrap()];
        assert!(read(cut).unwrap_err().contains("line 19"), "{}", read(cut).unwrap_err());
    }
}
