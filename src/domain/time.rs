//! Local time in the business zone.
//!
//! Everything is stored in UTC. Local wall-clock time appears in three places only:
//! reading calendar times, planning "days before at HH:MM" reminders, and writing
//! dates for people. All three use the rules here, which follow RFC 5545 §3.3.5:
//! a local time inside a spring-forward gap moves forward by the length of the gap,
//! and a local time that occurs twice (fall back) means the earlier instant.

use chrono::{DateTime, Duration, LocalResult, Locale, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::Language;

/// Resolves a wall-clock time in `zone` to an instant, by the RFC 5545 rules above.
pub fn resolve_local(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => t.to_utc(),
        LocalResult::Ambiguous(earlier, later) => earlier.min(later).to_utc(),
        LocalResult::None => {
            // Inside a gap: read the time with the offset in force before the gap,
            // which lands it exactly the gap's length later on the wall clock.
            // Gaps are at most a few hours, so the offset three hours earlier is the
            // one before the gap.
            let before = local - Duration::hours(3);
            let offset = match zone.from_local_datetime(&before) {
                LocalResult::Single(t) => t.offset().fix(),
                LocalResult::Ambiguous(a, _) => a.offset().fix(),
                LocalResult::None => chrono::FixedOffset::east_opt(0).expect("zero offset"),
            };
            (local - Duration::seconds(i64::from(offset.local_minus_utc()))).and_utc()
        }
    }
}

use chrono::Offset as _;

/// "dinsdag 14 oktober": weekday, day and month in Dutch, as people write them.
pub fn dutch_date(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone).format_localized("%A %-d %B", Locale::nl_NL).to_string()
}

/// "di 14 okt": the short form, for narrow places such as list rows.
pub fn dutch_date_short(at: DateTime<Utc>, zone: Tz) -> String {
    date_short(at, zone, Language::Nl)
}

/// "di 14 okt" or "Tue 14 Oct": a short date in `language`.
pub fn date_short(at: DateTime<Utc>, zone: Tz, language: Language) -> String {
    let local = at.with_timezone(&zone);
    let weekday = local.format_localized("%a", language.locale()).to_string();
    let month = local.format_localized("%b", language.locale()).to_string();
    format!(
        "{} {} {}",
        weekday.trim_end_matches('.'),
        local.format("%-d"),
        month.trim_end_matches('.')
    )
}

/// "di 14 okt 10:30": a moment for people, short.
pub fn dutch_moment_short(at: DateTime<Utc>, zone: Tz) -> String {
    moment_short(at, zone, Language::Nl)
}

/// "di 14 okt 10:30" or "Tue 14 Oct 10:30": a moment in `language`, short.
pub fn moment_short(at: DateTime<Utc>, zone: Tz, language: Language) -> String {
    format!("{} {}", date_short(at, zone, language), local_time(at, zone))
}

/// "10:30": 24-hour local time.
pub fn local_time(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone).format("%H:%M").to_string()
}

/// Parses "HH:MM" (24-hour) as a time of day.
pub fn parse_time_of_day(s: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M")
        .map_err(|_| format!("`{s}` is not a time of day like 18:00 (24-hour HH:MM)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    const AMS: Tz = chrono_tz::Europe::Amsterdam;

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, min, 0).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn local_times_resolve_across_the_2026_switches() {
        let cases = [
            // ordinary winter and summer times
            (local(2026, 1, 15, 10, 30), "2026-01-15T09:30:00Z"),
            (local(2026, 7, 15, 10, 30), "2026-07-15T08:30:00Z"),
            // 29 March: 02:00–03:00 does not exist; 02:30 moves forward to 03:30 CEST
            (local(2026, 3, 29, 2, 30), "2026-03-29T01:30:00Z"),
            (local(2026, 3, 29, 1, 59), "2026-03-29T00:59:00Z"),
            (local(2026, 3, 29, 3, 0), "2026-03-29T01:00:00Z"),
            // 25 October: 02:00–03:00 happens twice; the earlier (CEST) one is meant
            (local(2026, 10, 25, 2, 30), "2026-10-25T00:30:00Z"),
            (local(2026, 10, 25, 3, 0), "2026-10-25T02:00:00Z"),
        ];
        for (input, expected) in cases {
            assert_eq!(resolve_local(AMS, input), utc(expected), "local {input}");
        }
    }

    #[test]
    fn dates_are_written_in_dutch() {
        let t = utc("2025-10-14T08:30:00Z");
        assert_eq!(dutch_date(t, AMS), "dinsdag 14 oktober");
        assert_eq!(local_time(t, AMS), "10:30");
        assert_eq!(dutch_date_short(t, AMS), "di 14 okt");
        assert_eq!(moment_short(t, AMS, Language::En), "Tue 14 Oct 10:30");
        // late in the UTC evening is already the next day in Amsterdam
        let t = utc("2026-03-01T23:30:00Z");
        assert_eq!(dutch_date(t, AMS), "maandag 2 maart");
        assert_eq!(local_time(t, AMS), "00:30");
    }

    #[test]
    fn time_of_day_parses_or_says_what_is_wrong() {
        assert_eq!(parse_time_of_day("18:00").unwrap(), NaiveTime::from_hms_opt(18, 0, 0).unwrap());
        let err = parse_time_of_day("6pm").unwrap_err();
        assert!(err.contains("6pm"), "{err}");
    }
}
