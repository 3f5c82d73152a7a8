//! iCalendar values: DATE, DATE-TIME with its zone, DURATION and PERIOD, and TEXT
//! unescaping. Everything here is pure parsing; the rules that turn a local time into an
//! instant live in `crate::domain::time`.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;

use super::{Prop, windows_zones};
use crate::domain::time::resolve_local;

/// The zone a DATE-TIME is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Zone {
    /// `...Z`.
    Utc,
    /// `TZID=<Olson name>`.
    Named(Tz),
    /// No `TZID` and no `Z`: the business zone's wall clock (RFC 5545 §3.3.5 leaves the
    /// zone to the reader; a clinic's calendar means its own).
    Floating,
}

impl Zone {
    /// The zone whose wall clock this value is read on.
    pub(super) fn wall_clock(self, business: Tz) -> Tz {
        match self {
            Zone::Utc => Tz::UTC,
            Zone::Named(tz) => tz,
            Zone::Floating => business,
        }
    }
}

/// A DATE or a DATE-TIME as written, before it is placed on the time line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum When {
    Date(NaiveDate),
    DateTime(NaiveDateTime, Zone),
}

impl When {
    /// The instant, by the project's rules for gaps and overlaps; a DATE is local midnight
    /// in the business zone.
    pub(super) fn instant(self, business: Tz) -> DateTime<Utc> {
        match self {
            When::Date(d) => resolve_local(business, d.and_time(NaiveTime::MIN)),
            When::DateTime(t, zone) => resolve_local(zone.wall_clock(business), t),
        }
    }

    /// The wall-clock reading of this value in `zone` (a DATE is its midnight).
    pub(super) fn naive_in(self, zone: Tz, business: Tz) -> NaiveDateTime {
        match self {
            When::Date(d) => d.and_time(NaiveTime::MIN),
            When::DateTime(t, z) if z.wall_clock(business) == zone => t,
            When::DateTime(..) => self.instant(business).with_timezone(&zone).naive_local(),
        }
    }

    pub(super) fn date(self) -> NaiveDate {
        match self {
            When::Date(d) => d,
            When::DateTime(t, _) => t.date(),
        }
    }
}

/// Looks up a `TZID`. Besides Olson names this accepts the "globally unique" form some
/// clients write (`/mozilla.org/20070129_1/America/New_York`: the longest trailing part
/// that is an Olson name) and Windows zone names as Outlook and Exchange write them
/// (`W. Europe Standard Time`), mapped by CLDR's world-wide default. Anything else is an
/// error naming the TZID.
pub(super) fn zone_named(tzid: &str) -> Result<Tz, String> {
    let tzid = tzid.trim();
    if let Ok(tz) = tzid.parse::<Tz>() {
        return Ok(tz);
    }
    tzid.match_indices('/')
        .find_map(|(i, _)| tzid[i + 1..].parse::<Tz>().ok())
        .or_else(|| windows_zones::iana_name(tzid).and_then(|name| name.parse::<Tz>().ok()))
        .ok_or_else(|| format!("unknown time zone `{tzid}`"))
}

/// Reads one DATE or DATE-TIME (`20260329`, `20260329T023000`, `20260329T003000Z`).
pub(super) fn parse_when(raw: &str, tzid: Option<&str>, date_only: bool) -> Result<When, String> {
    let raw = raw.trim();
    let bad = || format!("`{raw}` is not a date or date-time");
    // Exactly `YYYYMMDD` or `YYYYMMDDTHHMMSS[Z]`: a fixed shape keeps years to four
    // digits, so no later arithmetic can run off the end of the calendar.
    let b = raw.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let shaped = match b.len() {
        8 => digits(b),
        15 | 16 => {
            digits(&b[..8])
                && b[8].eq_ignore_ascii_case(&b'T')
                && digits(&b[9..15])
                && (b.len() == 15 || b[15].eq_ignore_ascii_case(&b'Z'))
        }
        // a DATE with trailing junk (`20260101T000000` marked VALUE=DATE) is its date
        _ => date_only && b.len() > 8 && digits(&b[..8]),
    };
    if !shaped {
        return Err(bad());
    }
    if date_only || raw.len() == 8 {
        // A TZID on a DATE means nothing (SabreDAV writes it); it is ignored.
        let date_part = raw.get(..8).ok_or_else(bad)?;
        return NaiveDate::parse_from_str(date_part, "%Y%m%d").map(When::Date).map_err(|_| bad());
    }
    let (text, utc) = match raw.strip_suffix(['Z', 'z']) {
        Some(t) => (t, true),
        None => (raw, false),
    };
    let local = NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%S").map_err(|_| bad())?;
    let zone = match (utc, tzid.map(str::trim).filter(|t| !t.is_empty())) {
        (true, _) => Zone::Utc,
        (false, Some(tzid)) => Zone::Named(zone_named(tzid)?),
        (false, None) => Zone::Floating,
    };
    Ok(When::DateTime(local, zone))
}

/// Reads the value of a date property, honouring `VALUE=DATE` and `TZID`.
pub(super) fn prop_when(prop: &Prop) -> Result<When, String> {
    parse_when(&prop.value, prop.param("TZID"), prop.value_is("DATE"))
        .map_err(|e| format!("{}: {e}", prop.name))
}

/// A DURATION: whole days (wall-clock) and exact seconds, kept apart because RFC 5545
/// §3.3.6 measures them differently (`P1D` across the autumn switch is 25 hours).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Span {
    pub days: i64,
    pub seconds: i64,
}

impl Span {
    /// `start` plus this span, with the days counted on `zone`'s wall clock.
    pub(super) fn after(self, start: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
        let wall = if self.days == 0 {
            start
        } else {
            let local = start.with_timezone(&zone).naive_local();
            match local.checked_add_signed(Duration::days(self.days)) {
                Some(moved) => resolve_local(zone, moved),
                None => start,
            }
        };
        wall.checked_add_signed(Duration::seconds(self.seconds)).unwrap_or(wall)
    }
}

/// Reads a DURATION such as `PT1H15M`, `P1D`, `P2W` or `-PT15M`.
pub(super) fn parse_duration(raw: &str) -> Result<Span, String> {
    let bad = || format!("`{raw}` is not a duration");
    let text = raw.trim();
    let (sign, text) = match text.as_bytes().first() {
        Some(b'-') => (-1, &text[1..]),
        Some(b'+') => (1, &text[1..]),
        _ => (1, text),
    };
    let text = text.strip_prefix(['P', 'p']).ok_or_else(bad)?;
    let mut span = Span::default();
    let mut number = String::new();
    let mut in_time = false;
    let mut seen_unit = false;
    for c in text.chars() {
        match c.to_ascii_uppercase() {
            '0'..='9' => number.push(c),
            'T' if number.is_empty() => in_time = true,
            unit @ ('W' | 'D' | 'H' | 'M' | 'S') => {
                let n: i64 = number.parse().map_err(|_| bad())?;
                number.clear();
                seen_unit = true;
                let (days, seconds) = match (unit, in_time) {
                    ('W', false) => (n.checked_mul(7), Some(0)),
                    ('D', false) => (Some(n), Some(0)),
                    ('H', true) => (Some(0), n.checked_mul(3600)),
                    ('M', true) => (Some(0), n.checked_mul(60)),
                    ('S', true) => (Some(0), Some(n)),
                    _ => return Err(bad()),
                };
                span.days = days.and_then(|d| span.days.checked_add(d)).ok_or_else(bad)?;
                span.seconds = seconds.and_then(|s| span.seconds.checked_add(s)).ok_or_else(bad)?;
            }
            _ => return Err(bad()),
        }
    }
    if !number.is_empty() || !seen_unit {
        return Err(bad());
    }
    // Keep spans within a sane range: a feed may not make arithmetic overflow.
    if span.days.abs() > 36_600 || span.seconds.abs() > 3_162_240_000 {
        return Err(bad());
    }
    Ok(Span { days: sign * span.days, seconds: sign * span.seconds })
}

/// Undoes TEXT escaping (RFC 5545 §3.3.11): `\n`, `\,`, `\;`, `\\`.
pub(super) fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const AMS: Tz = chrono_tz::Europe::Amsterdam;

    #[test]
    fn date_times_are_read_in_their_zone() {
        let t = parse_when("20260329T023000", Some("Europe/Amsterdam"), false).unwrap();
        assert_eq!(t.instant(AMS).to_rfc3339(), "2026-03-29T01:30:00+00:00");
        let t = parse_when("20260329T023000Z", Some("Europe/Amsterdam"), false).unwrap();
        assert_eq!(t.instant(AMS).to_rfc3339(), "2026-03-29T02:30:00+00:00");
        let t = parse_when("20261025T023000", None, false).unwrap();
        assert_eq!(t.instant(AMS).to_rfc3339(), "2026-10-25T00:30:00+00:00");
        let t = parse_when("20260329", Some("Europe/Berlin"), true).unwrap();
        assert_eq!(t, When::Date(NaiveDate::from_ymd_opt(2026, 3, 29).unwrap()));
    }

    #[test]
    fn unknown_zones_are_named_and_prefixed_olson_and_windows_names_accepted() {
        let err = parse_when("20260101T090000", Some("Customized Time Zone"), false);
        assert!(err.unwrap_err().contains("Customized Time Zone"));
        assert_eq!(
            zone_named("/mozilla.org/20070129_1/America/New_York").unwrap(),
            chrono_tz::America::New_York
        );
        assert_eq!(zone_named("W. Europe Standard Time").unwrap(), chrono_tz::Europe::Berlin);
        assert_eq!(zone_named("Romance Standard Time").unwrap(), chrono_tz::Europe::Paris);
        assert_eq!(zone_named("New Zealand Standard Time").unwrap(), chrono_tz::Pacific::Auckland);
        for bad in ["2026-01-01", "+1234560101", "20260101T1000", "20260101X100000", "2026010é"] {
            assert!(parse_when(bad, None, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_keep_days_apart_from_exact_time() {
        assert_eq!(parse_duration("PT1H15M").unwrap(), Span { days: 0, seconds: 4500 });
        assert_eq!(parse_duration("P1W2D").unwrap(), Span { days: 9, seconds: 0 });
        assert_eq!(parse_duration("-PT15M").unwrap(), Span { days: 0, seconds: -900 });
        for bad in ["", "P", "1H", "PT", "P1H", "PT1D", "P99999999999999999999D"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        // P1D across the autumn switch lasts 25 hours; PT24H lasts 24
        let start = parse_when("20261024T120000", None, false).unwrap().instant(AMS);
        let day = parse_duration("P1D").unwrap().after(start, AMS);
        assert_eq!((day - start).num_hours(), 25);
        let hours = parse_duration("PT24H").unwrap().after(start, AMS);
        assert_eq!((hours - start).num_hours(), 24);
    }

    #[test]
    fn text_is_unescaped() {
        assert_eq!(unescape(r"a\, b\; c\\d\nE\"), "a, b; c\\d\nE\\");
    }
}
