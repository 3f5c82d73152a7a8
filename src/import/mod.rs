//! Import: calendar sources become appointments.
pub mod contact;
pub mod database;
pub mod fetch;
pub mod ical;
pub mod preview;
pub mod runner;
pub mod sync;

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use tracing::warn;

use crate::domain::AppointmentStatus;
use crate::store::AppointmentInput;

/// Refuses a feed that was cut off (a dropped connection, a full disk at the exporter):
/// read as it is, it would look like a calendar whose later appointments were deleted.
pub fn check_complete(text: &str) -> Result<(), String> {
    let last = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).last();
    match last {
        Some((_, line)) if line.trim().eq_ignore_ascii_case("END:VCALENDAR") => Ok(()),
        Some((n, _)) => {
            Err(format!("the feed is truncated: it ends at line {} without END:VCALENDAR", n + 1))
        }
        None => Err("the feed is empty".to_string()),
    }
}

/// Reads a whole feed's occurrences in `[from, to)`: an error names the line when the
/// text is not iCalendar or was cut off.
pub fn read_complete_feed(
    text: &str,
    zone: chrono_tz::Tz,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> Result<ical::Feed, String> {
    check_readable(text)?;
    ical::read_feed(text, zone, from, to).map_err(|e| format!("line 1: {e}"))
}

/// Refuses a text that is not iCalendar or was cut off, with the error the reading
/// would give: the only ways a feed fails as a whole, found without parsing it.
pub fn check_readable(text: &str) -> Result<(), String> {
    if !ical::is_icalendar(text.trim_start_matches('\u{feff}')) {
        return Err(format!("line 1: {}", ical::IcalError::NotICalendar));
    }
    check_complete(text)
}

/// Reads an iCalendar feed into the appointments it holds in `window`. All-day events
/// are skipped (they are holidays and notes, not visits). Events that cannot be read
/// are logged and left out; the feed as a whole fails only when the text is not
/// iCalendar or was cut off, so one broken event never hides the others.
pub fn to_appointments(
    text: &str,
    source: &runner::SourceSpec,
    window: sync::Window,
    options: &runner::ImportOptions,
) -> Result<Vec<AppointmentInput>, String> {
    read_appointments(text, source, window, options).map(|r| r.appointments)
}

/// A source read for an import (a feed or a query): its appointments, and what could
/// not be read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FeedReading {
    pub appointments: Vec<AppointmentInput>,
    /// One line per event or row that was skipped, naming its UID or id and the cause
    /// (for staff); never a name, a number or another value of the customer's.
    pub problems: Vec<String>,
    /// The UIDs (or row ids) of those: their appointments are kept as they were.
    pub unreadable: BTreeSet<String>,
}

/// [`to_appointments`], with the problems.
pub fn read_appointments(
    text: &str,
    source: &runner::SourceSpec,
    window: sync::Window,
    options: &runner::ImportOptions,
) -> Result<FeedReading, String> {
    let mut appointments = Vec::new();
    let mut reading = read_appointments_in_parts(text, source, window, options, |part| {
        appointments.extend(part);
        ControlFlow::Continue(())
    })?;
    reading.appointments = appointments;
    Ok(reading)
}

/// [`read_appointments`], handing the appointments over in parts of a few hundred as
/// they are read (see [`ical::read_feed_in_parts`]); `part` stops the reading by
/// returning `Break`. The returned reading holds the problems; its `appointments` are
/// empty.
pub fn read_appointments_in_parts(
    text: &str,
    source: &runner::SourceSpec,
    window: sync::Window,
    options: &runner::ImportOptions,
    mut part: impl FnMut(Vec<AppointmentInput>) -> ControlFlow<()>,
) -> Result<FeedReading, String> {
    check_readable(text)?;
    let feed = ical::read_feed_in_parts(text, options.zone, window.from, window.to, |occs| {
        // each occurrence is consumed as it is mapped: its texts move into the
        // appointment and the rest is freed
        part(
            occs.into_iter()
                .filter(|occ| source.include_all_day || !occ.all_day)
                .map(|occ| appointment(occ, source, options))
                .collect(),
        )
    })
    .map_err(|e| format!("line 1: {e}"))?;
    for problem in &feed.problems {
        // problems name UIDs and causes, never a customer's name or number
        warn!(source = %source.name, %problem, "event skipped");
    }
    Ok(FeedReading {
        appointments: Vec::new(),
        problems: feed.problems,
        unreadable: feed.skipped_uids,
    })
}

/// The appointment an occurrence of `source` describes.
fn appointment(
    occ: ical::Occurrence,
    source: &runner::SourceSpec,
    options: &runner::ImportOptions,
) -> AppointmentInput {
    let contact = source.contact.extract(&occ, options.region);
    let contact_problem = contact.problem();
    let cancelled = occ.status.as_deref() == Some("CANCELLED");
    AppointmentInput {
        external_id: occ.key(),
        starts_at: occ.starts_at,
        ends_at: occ.ends_at,
        summary: occ.summary,
        location: occ.location.or_else(|| source.default_location.clone()),
        calendar: source.name.clone(),
        customer_name: contact.name,
        phone_is_mobile: contact.phone.as_ref().is_some_and(|p| p.is_mobile()),
        customer_phone: contact.phone.map(|p| p.e164().to_string()),
        customer_email: contact.email,
        contact_problem,
        status: if cancelled { AppointmentStatus::Cancelled } else { AppointmentStatus::Scheduled },
        whatsapp_opt_in: contact.whatsapp_opt_in.map(|opted_in| crate::store::OptInMarker {
            opted_in,
            method: crate::domain::ConsentMethod::Feed,
        }),
    }
}

#[cfg(test)]
mod ical_conformance;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{DateTime, Utc};

    use super::runner::{ImportOptions, SourceSpec};
    use super::sync::Window;
    use super::*;
    use crate::domain::Region;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn a_truncated_or_empty_feed_is_refused_with_its_line() {
        let whole =
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n\r\n";
        assert_eq!(check_complete(whole), Ok(()));
        assert_eq!(check_complete(&whole.to_lowercase()), Ok(()));
        let cut = &whole[..whole.find("END:VEVENT").unwrap()];
        assert_eq!(
            check_complete(cut),
            Err("the feed is truncated: it ends at line 3 without END:VCALENDAR".to_string())
        );
        assert_eq!(check_complete(" \n"), Err("the feed is empty".to_string()));
    }

    fn source() -> SourceSpec {
        SourceSpec {
            name: "praktijk".into(),
            location: "feed.ics".into(),
            poll_interval: Duration::from_secs(300),
            default_location: Some("Praktijk De Linde".into()),
            contact: Default::default(),
            auth: None,
            include_all_day: false,
            sql: None,
        }
    }

    fn options() -> ImportOptions {
        ImportOptions {
            lookahead: Duration::from_secs(14 * 86_400),
            zone: chrono_tz::Europe::Amsterdam,
            region: Region::default(),
            workdays: Default::default(),
            refresh_interval: Duration::from_secs(3600),
            guard: sync::VanishGuard { max_share: 0.5, from: 10 },
        }
    }

    /// Fourteen days around the autumn switch of 2026 (Sunday 25 October).
    fn window() -> Window {
        Window { from: utc("2026-10-18T00:00:00Z"), to: utc("2026-11-01T00:00:00Z") }
    }

    const WEEKLY: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n\
        BEGIN:VEVENT\r\nUID:weekly@praktijk\r\nDTSTART;TZID=Europe/Amsterdam:20261001T093000\r\n\
        DTEND;TZID=Europe/Amsterdam:20261001T100000\r\nRRULE:FREQ=WEEKLY;BYDAY=TH,FR\r\n\
        EXDATE;TZID=Europe/Amsterdam:20261023T093000\r\nSUMMARY:Fysiotherapie\r\n\
        DESCRIPTION:Jan Jansen\\nTelefoon: 06-12345678\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:weekly@praktijk\r\nRECURRENCE-ID;TZID=Europe/Amsterdam:20261029T093000\r\n\
        DTSTART;TZID=Europe/Amsterdam:20261029T140000\r\nDTEND;TZID=Europe/Amsterdam:20261029T143000\r\n\
        SUMMARY:Fysiotherapie (verzet)\r\nLOCATION:Kamer 3\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:weekly@praktijk\r\nRECURRENCE-ID;TZID=Europe/Amsterdam:20261030T093000\r\n\
        DTSTART;TZID=Europe/Amsterdam:20261030T093000\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:holiday@praktijk\r\nDTSTART;VALUE=DATE:20261027\r\nSUMMARY:Gesloten\r\nEND:VEVENT\r\n\
        END:VCALENDAR\r\n";

    #[test]
    fn a_weekly_series_is_expanded_across_the_autumn_switch() {
        let appointments = to_appointments(WEEKLY, &source(), window(), &options()).unwrap();
        let mut got: Vec<_> =
            appointments.iter().map(|a| (a.external_id.as_str(), a.starts_at, a.status)).collect();
        got.sort_by_key(|g| g.1);
        let scheduled = AppointmentStatus::Scheduled;
        let expected = vec![
            // 09:30 CEST is 07:30 UTC; Friday 23 October is excluded by EXDATE
            ("weekly@praktijk/2026-10-22T07:30:00Z", utc("2026-10-22T07:30:00Z"), scheduled),
            // after the switch 09:30 CET is 08:30 UTC; Thursday 29 moved to 14:00 CET
            ("weekly@praktijk/2026-10-29T08:30:00Z", utc("2026-10-29T13:00:00Z"), scheduled),
            // and Friday 30 is cancelled, but kept so its reminders are withdrawn
            (
                "weekly@praktijk/2026-10-30T08:30:00Z",
                utc("2026-10-30T08:30:00Z"),
                AppointmentStatus::Cancelled,
            ),
        ];
        assert_eq!(got, expected);
    }

    #[test]
    fn appointments_carry_source_contact_and_location() {
        let appointments = to_appointments(WEEKLY, &source(), window(), &options()).unwrap();
        let first = appointments
            .iter()
            .find(|a| a.external_id == "weekly@praktijk/2026-10-22T07:30:00Z")
            .unwrap();
        assert_eq!(first.ends_at, utc("2026-10-22T08:00:00Z"));
        assert_eq!(first.calendar, "praktijk");
        assert_eq!(first.location.as_deref(), Some("Praktijk De Linde"));
        assert_eq!(first.customer_phone.as_deref(), Some("+31612345678"));
        assert!(first.phone_is_mobile);
        assert_eq!(first.contact_problem, None);
        let moved = appointments
            .iter()
            .find(|a| a.external_id == "weekly@praktijk/2026-10-29T08:30:00Z")
            .unwrap();
        assert_eq!(moved.location.as_deref(), Some("Kamer 3"));
        assert_eq!(moved.summary.as_deref(), Some("Fysiotherapie (verzet)"));
        // the override has no description: no number, and staff are told
        assert_eq!(moved.customer_phone, None);
        assert_eq!(moved.contact_problem.as_deref(), Some("no phone number found"));
        assert!(
            appointments.iter().all(|a| !a.external_id.starts_with("holiday")),
            "all-day skipped"
        );
    }

    #[test]
    fn only_a_text_that_is_not_icalendar_or_is_cut_off_fails() {
        let err = to_appointments("<html></html>", &source(), window(), &options()).unwrap_err();
        assert!(err.contains("not an iCalendar feed"), "{err}");
        let broken = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART;TZID=Mars/Olympus:20261020T100000\nEND:VEVENT\nEND:VCALENDAR\n";
        assert_eq!(to_appointments(broken, &source(), window(), &options()).unwrap(), Vec::new());
    }
}
