//! iCalendar values: DATE, DATE-TIME with its zone, DURATION and PERIOD, and TEXT
//! unescaping. Everything here is pure parsing; the rules that turn a local time into an
//! instant live in `crate::domain::time` (IANA zones) and `super::vtimezone` (zones a
//! feed defines).

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;

use super::vtimezone::{VTimezone, Zones};
use super::{Prop, windows_zones};
use crate::domain::time::resolve_local;

/// A wall clock: an IANA zone, or one defined by the feed's own VTIMEZONE.
#[derive(Clone, Copy, Debug)]
pub(super) enum Clock<'z> {
    Iana(Tz),
    Defined(&'z VTimezone),
}

impl PartialEq for Clock<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Clock::Iana(a), Clock::Iana(b)) => a == b,
            (Clock::Defined(a), Clock::Defined(b)) => std::ptr::eq(*a, *b),
            _ => false,
        }
    }
}

impl From<Tz> for Clock<'_> {
    fn from(tz: Tz) -> Self {
        Clock::Iana(tz)
    }
}

impl Clock<'_> {
    /// The instant of a wall-clock time, by the project's rules for gaps and overlaps.
    pub(super) fn resolve(self, local: NaiveDateTime) -> DateTime<Utc> {
        match self {
            Clock::Iana(tz) => resolve_local(tz, local),
            Clock::Defined(zone) => zone.resolve(local),
        }
    }

    /// What this clock shows at `t`.
    pub(super) fn local(self, t: DateTime<Utc>) -> NaiveDateTime {
        match self {
            Clock::Iana(tz) => t.with_timezone(&tz).naive_local(),
            Clock::Defined(zone) => zone.local(t),
        }
    }
}

/// The zone a DATE-TIME is written in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Zone<'z> {
    /// `...Z`.
    Utc,
    /// `TZID=<name>`, found by [`zone_named`].
    Named(Clock<'z>),
    /// No `TZID` and no `Z`: the business zone's wall clock (RFC 5545 §3.3.5 leaves the
    /// zone to the reader; a clinic's calendar means its own).
    Floating,
}

impl<'z> Zone<'z> {
    /// The clock this value is read on.
    pub(super) fn wall_clock(self, business: Tz) -> Clock<'z> {
        match self {
            Zone::Utc => Clock::Iana(Tz::UTC),
            Zone::Named(clock) => clock,
            Zone::Floating => Clock::Iana(business),
        }
    }
}

/// A DATE or a DATE-TIME as written, before it is placed on the time line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum When<'z> {
    Date(NaiveDate),
    DateTime(NaiveDateTime, Zone<'z>),
}

impl<'z> When<'z> {
    /// The instant, by the project's rules for gaps and overlaps; a DATE is local midnight
    /// in the business zone.
    pub(super) fn instant(self, business: Tz) -> DateTime<Utc> {
        match self {
            When::Date(d) => resolve_local(business, d.and_time(NaiveTime::MIN)),
            When::DateTime(t, zone) => zone.wall_clock(business).resolve(t),
        }
    }

    /// The wall-clock reading of this value on `clock` (a DATE is its midnight).
    pub(super) fn naive_in(self, clock: Clock<'z>, business: Tz) -> NaiveDateTime {
        match self {
            When::Date(d) => d.and_time(NaiveTime::MIN),
            When::DateTime(t, z) if z.wall_clock(business) == clock => t,
            When::DateTime(..) => clock.local(self.instant(business)),
        }
    }

    pub(super) fn date(self) -> NaiveDate {
        match self {
            When::Date(d) => d,
            When::DateTime(t, _) => t.date(),
        }
    }
}

/// Looks up a `TZID`, in this order:
///
/// 1. an IANA name (`Europe/Berlin`), even when the feed also has a VTIMEZONE for it:
///    the IANA database knows the zone's history better than an exporter's summary, and
///    the conformance oracle does the same (`tests/conformance/ical/README.md`);
/// 2. the feed's own VTIMEZONE with that TZID (`Customized Time Zone`, Outlook display
///    names, and Windows names too: a definition in the feed says what its sender meant,
///    RFC 5545 §3.2.19);
/// 3. the "globally unique" form some clients write
///    (`/mozilla.org/20070129_1/America/New_York`): the longest trailing IANA name;
/// 4. a Windows zone name without definition (`W. Europe Standard Time`), mapped by
///    CLDR's world-wide default.
///
/// Anything else is an error naming the TZID (and why its VTIMEZONE was not read).
pub(super) fn zone_named<'z>(tzid: &str, zones: &'z Zones) -> Result<Clock<'z>, String> {
    let tzid = tzid.trim();
    if let Ok(tz) = tzid.parse::<Tz>() {
        return Ok(Clock::Iana(tz));
    }
    let defined = zones.get(tzid);
    if let Some(Ok(zone)) = defined {
        return Ok(Clock::Defined(zone));
    }
    let known = tzid
        .match_indices('/')
        .find_map(|(i, _)| tzid[i + 1..].parse::<Tz>().ok())
        .or_else(|| windows_zones::iana_name(tzid).and_then(|name| name.parse::<Tz>().ok()));
    match (known, defined) {
        (Some(tz), _) => Ok(Clock::Iana(tz)),
        (None, Some(Err(why))) => {
            Err(format!("time zone `{tzid}`: its VTIMEZONE cannot be read ({why})"))
        }
        (None, _) => Err(format!("unknown time zone `{tzid}`")),
    }
}

/// A DATE or DATE-TIME as its digits say, before any zone is looked up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Written {
    Date(NaiveDate),
    /// No `Z`: local time on a clock still to be named.
    Local(NaiveDateTime),
    Utc(NaiveDateTime),
}

/// Reads the digits of a DATE or DATE-TIME (`20260329`, `20260329T023000`,
/// `20260329T003000Z`).
pub(super) fn parse_written(raw: &str, date_only: bool) -> Result<Written, String> {
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
    // the digits are checked: read them directly (chrono's format parser was a tenth of
    // reading a large feed); its parser still decides anything unusual (a leap second)
    let number = |at: usize, len: usize| {
        b[at..at + len].iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
    };
    let date = NaiveDate::from_ymd_opt(number(0, 4) as i32, number(4, 2), number(6, 2));
    if date_only || raw.len() == 8 {
        return match date {
            Some(date) => Ok(Written::Date(date)),
            None => {
                NaiveDate::parse_from_str(&raw[..8], "%Y%m%d").map(Written::Date).map_err(|_| bad())
            }
        };
    }
    let (text, utc) = match raw.strip_suffix(['Z', 'z']) {
        Some(t) => (t, true),
        None => (raw, false),
    };
    let time = NaiveTime::from_hms_opt(number(9, 2), number(11, 2), number(13, 2));
    let local = match date.zip(time) {
        Some((date, time)) => date.and_time(time),
        None => NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%S").map_err(|_| bad())?,
    };
    Ok(if utc { Written::Utc(local) } else { Written::Local(local) })
}

/// Reads one DATE or DATE-TIME with its `TZID`, looked up among `zones` and the names
/// [`zone_named`] knows.
pub(super) fn parse_when<'z>(
    raw: &str,
    tzid: Option<&str>,
    date_only: bool,
    zones: &'z Zones,
) -> Result<When<'z>, String> {
    match parse_written(raw, date_only)? {
        // A TZID on a DATE means nothing (SabreDAV writes it); it is ignored.
        Written::Date(d) => Ok(When::Date(d)),
        Written::Utc(t) => Ok(When::DateTime(t, Zone::Utc)),
        Written::Local(t) => {
            let zone = match tzid.map(str::trim).filter(|t| !t.is_empty()) {
                Some(tzid) => Zone::Named(zone_named(tzid, zones)?),
                None => Zone::Floating,
            };
            Ok(When::DateTime(t, zone))
        }
    }
}

/// Reads the value of a date property, honouring `VALUE=DATE` and `TZID`.
pub(super) fn prop_when<'z>(prop: &Prop, zones: &'z Zones) -> Result<When<'z>, String> {
    parse_when(&prop.value, prop.param("TZID"), prop.value_is("DATE"), zones)
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
    /// `start` plus this span, with the days counted on `clock`.
    pub(super) fn after(self, start: DateTime<Utc>, clock: Clock<'_>) -> DateTime<Utc> {
        let wall = if self.days == 0 {
            start
        } else {
            let local = clock.local(start);
            match local.checked_add_signed(Duration::days(self.days)) {
                Some(moved) => clock.resolve(moved),
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
    /// A feed without VTIMEZONEs.
    static NONE: std::sync::LazyLock<Zones> = std::sync::LazyLock::new(Zones::default);

    /// The digits read directly give what chrono's parser gives, and whatever it
    /// refuses is refused.
    #[test]
    fn written_times_are_read_as_chrono_reads_them() {
        let chrono = |raw: &str, date_only: bool| {
            let t = raw.trim_end_matches(['Z', 'z']);
            if date_only || raw.len() == 8 {
                NaiveDate::parse_from_str(&raw[..8], "%Y%m%d").ok().map(Written::Date)
            } else {
                NaiveDateTime::parse_from_str(t, "%Y%m%dT%H%M%S").ok().map(|local| {
                    if t.len() < raw.len() { Written::Utc(local) } else { Written::Local(local) }
                })
            }
        };
        for (raw, date_only) in [
            ("20261025T023000", false),
            ("20261025T023000Z", false),
            ("20240229T235959", false),
            ("20250229T120000", false),
            ("20261231T235960", false),
            ("20261231T240000", false),
            ("20261301T000000", false),
            ("00000101T000000Z", false),
            ("99991231T235959", false),
            ("20261025", false),
            ("20261032", false),
            ("20261025", true),
            ("20261025T023000", true),
            ("20261000", true),
        ] {
            assert_eq!(parse_written(raw, date_only).ok(), chrono(raw, date_only), "{raw}");
        }
        assert!(parse_written("20261231T235960", false).is_ok(), "a leap second, as chrono");
        // chrono wanted a capital T; the shape check always meant to allow either
        assert_eq!(
            parse_written("20261025t023000z", false),
            parse_written("20261025T023000Z", false)
        );
        assert!(parse_written("20250229T120000", false).is_err());
    }

    #[test]
    fn date_times_are_read_in_their_zone() {
        let t = parse_when("20260329T023000", Some("Europe/Amsterdam"), false, &NONE).unwrap();
        assert_eq!(t.instant(AMS).to_rfc3339(), "2026-03-29T01:30:00+00:00");
        let t = parse_when("20260329T023000Z", Some("Europe/Amsterdam"), false, &NONE).unwrap();
        assert_eq!(t.instant(AMS).to_rfc3339(), "2026-03-29T02:30:00+00:00");
        let t = parse_when("20261025T023000", None, false, &NONE).unwrap();
        assert_eq!(t.instant(AMS).to_rfc3339(), "2026-10-25T00:30:00+00:00");
        let t = parse_when("20260329", Some("Europe/Berlin"), true, &NONE).unwrap();
        assert_eq!(t, When::Date(NaiveDate::from_ymd_opt(2026, 3, 29).unwrap()));
    }

    #[test]
    fn unknown_zones_are_named_and_prefixed_olson_and_windows_names_accepted() {
        let err = parse_when("20260101T090000", Some("Customized Time Zone"), false, &NONE);
        assert!(err.unwrap_err().contains("Customized Time Zone"));
        assert_eq!(
            zone_named("/mozilla.org/20070129_1/America/New_York", &NONE).unwrap(),
            Clock::Iana(chrono_tz::America::New_York)
        );
        assert_eq!(
            zone_named("W. Europe Standard Time", &NONE).unwrap(),
            Clock::Iana(chrono_tz::Europe::Berlin)
        );
        assert_eq!(
            zone_named("Romance Standard Time", &NONE).unwrap(),
            Clock::Iana(chrono_tz::Europe::Paris)
        );
        assert_eq!(
            zone_named("New Zealand Standard Time", &NONE).unwrap(),
            Clock::Iana(chrono_tz::Pacific::Auckland)
        );
        for bad in ["2026-01-01", "+1234560101", "20260101T1000", "20260101X100000", "2026010é"] {
            assert!(parse_when(bad, None, false, &NONE).is_err(), "{bad}");
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
        let start = parse_when("20261024T120000", None, false, &NONE).unwrap().instant(AMS);
        let day = parse_duration("P1D").unwrap().after(start, AMS.into());
        assert_eq!((day - start).num_hours(), 25);
        let hours = parse_duration("PT24H").unwrap().after(start, AMS.into());
        assert_eq!((hours - start).num_hours(), 24);
    }

    #[test]
    fn text_is_unescaped() {
        assert_eq!(unescape(r"a\, b\; c\\d\nE\"), "a, b; c\\d\nE\\");
    }
}
