//! Time zones defined by an embedded VTIMEZONE (RFC 5545 §3.6.5), for TZIDs that name no
//! IANA zone: `Customized Time Zone`, Outlook display names such as `(UTC+01:00)
//! Amsterdam, Berlin, …`, and Windows names that come with their own definition.
//!
//! A definition is a list of observances (STANDARD, DAYLIGHT), each switching the UTC
//! offset from TZOFFSETFROM to TZOFFSETTO at its onsets: DTSTART, its RDATEs and the
//! instances of its RRULE. Local times are resolved on these rules as on IANA zones
//! (RFC 5545 §3.3.5): a time in a gap is read with the offset in force before the gap,
//! a time that occurs twice means the earlier instant.
//!
//! Only yearly rules are read (INTERVAL, BYMONTH, BYDAY such as `-1SU` or `2SU`,
//! BYMONTHDAY, UNTIL), which is what Outlook, Exchange and zone databases write. A
//! definition with anything else is refused as a whole, with the reason, rather than
//! read half.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};
use icalendar::parser::{Component, read_calendar};

use super::value::{Written, parse_written, unescape};

/// More observances than any real zone has (full-history definitions have a few dozen).
const MAX_OBSERVANCES: usize = 200;

/// More distinct UTC offsets than any real zone has had; each is tried when resolving.
const MAX_OFFSETS: usize = 32;

/// How many cycles of a yearly rule are searched back for its latest onset. Real rules
/// have an onset every cycle; this only bounds the work for one that rarely matches.
const MAX_CYCLES_BACK: i32 = 50;

/// The years whose rule onsets are computed once, when the zone is read, so that
/// resolving a time there is a binary search (a long series resolves thousands).
const CACHED_YEARS: std::ops::RangeInclusive<i32> = 1900..=2200;

/// The VTIMEZONE definitions of one feed, by TZID. When a TZID is defined twice the
/// first definition counts, as with the reference implementation.
#[derive(Debug, Default)]
pub(crate) struct Zones {
    by_tzid: HashMap<String, Result<VTimezone, String>>,
}

impl Zones {
    /// Reads each VTIMEZONE block (its lines, sub-components included).
    pub(super) fn read<'a>(blocks: impl IntoIterator<Item = &'a str>) -> Zones {
        let mut zones = Zones::default();
        for block in blocks {
            if let Some((tzid, zone)) = parse_block(block) {
                zones.by_tzid.entry(tzid).or_insert(zone);
            }
        }
        zones
    }

    /// The definition of `tzid`, or why the VTIMEZONE for it could not be read; `None`
    /// when the feed has no VTIMEZONE with that TZID.
    pub(super) fn get(&self, tzid: &str) -> Option<Result<&VTimezone, &str>> {
        self.by_tzid.get(tzid).map(|z| z.as_ref().map_err(String::as_str))
    }
}

/// The rules of one zone.
#[derive(Debug)]
pub(crate) struct VTimezone {
    observances: Vec<Observance>,
    /// Every offset the zone can have, in seconds east of UTC.
    offsets: Vec<i32>,
    /// The offset before the first onset: that onset's TZOFFSETFROM.
    initial: i32,
}

impl VTimezone {
    /// The UTC offset in force at `t`: TZOFFSETTO of the latest onset at or before `t`.
    pub(super) fn offset_at(&self, t: DateTime<Utc>) -> i32 {
        self.observances
            .iter()
            .filter_map(|o| o.latest_onset(t).map(|at| (at, o.to)))
            .max_by_key(|(at, _)| *at)
            .map_or(self.initial, |(_, to)| to)
    }

    /// The instant of the wall-clock time `local`, by RFC 5545 §3.3.5 (see the module
    /// comment): of the offsets that read `local` consistently the earliest instant wins;
    /// when none does (a gap), the offset in force just before the gap is used.
    pub(super) fn resolve(&self, local: NaiveDateTime) -> DateTime<Utc> {
        let with = |offset: i32| {
            local.checked_sub_signed(Duration::seconds(offset.into())).map(|t| t.and_utc())
        };
        let consistent = self
            .offsets
            .iter()
            .filter_map(|&offset| with(offset).filter(|t| self.offset_at(*t) == offset))
            .min();
        if let Some(t) = consistent {
            return t;
        }
        // `local` minus the largest offset lies before the gap
        let widest = self.offsets.iter().copied().max().unwrap_or(self.initial);
        let before = with(widest).map_or(self.initial, |t| self.offset_at(t));
        with(before).unwrap_or_else(|| local.and_utc())
    }

    /// The wall-clock reading of `t` in this zone.
    pub(super) fn local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        let utc = t.naive_utc();
        utc.checked_add_signed(Duration::seconds(self.offset_at(t).into())).unwrap_or(utc)
    }
}

/// One STANDARD or DAYLIGHT sub-component.
#[derive(Debug)]
struct Observance {
    /// DTSTART: the first onset, on the wall clock of `from`.
    start: NaiveDateTime,
    from: i32,
    to: i32,
    rule: Option<Yearly>,
    /// The rule's onsets in [`CACHED_YEARS`], sorted.
    cached: Vec<DateTime<Utc>>,
    /// RDATE onsets, sorted.
    rdates: Vec<DateTime<Utc>>,
}

impl Observance {
    /// The instant of an onset written on this observance's `from` clock.
    fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        on_clock(local, self.from)
    }

    /// The latest onset at or before `t`, if any.
    fn latest_onset(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = self.instant(self.start);
        let by_start = (start <= t).then_some(start);
        let by_rdate = match self.rdates.partition_point(|r| *r <= t) {
            0 => None,
            n => self.rdates.get(n - 1).copied(),
        };
        let by_rule = self.rule.as_ref().filter(|_| start <= t).and_then(|r| self.latest_by(r, t));
        by_start.max(by_rdate).max(by_rule)
    }

    /// The latest onset of `rule` at or before `t`: from the cache when `t` lies in the
    /// cached years and the cache has one, by searching the years before otherwise.
    fn latest_by(&self, rule: &Yearly, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let year = t.year();
        if CACHED_YEARS.contains(&year) && year < *CACHED_YEARS.end() {
            match self.cached.partition_point(|at| *at <= t) {
                0 => {}
                n => return self.cached.get(n - 1).copied(),
            }
            let before_cache = NaiveDate::from_ymd_opt(*CACHED_YEARS.start(), 1, 1)?;
            let before_cache = self.instant(before_cache.and_time(NaiveTime::MIN));
            return rule.latest(self, t.min(before_cache - Duration::seconds(1)));
        }
        rule.latest(self, t)
    }

    /// The earliest onset: the one before which the zone has no offset of its own.
    fn first_onset(&self) -> DateTime<Utc> {
        let start = self.instant(self.start);
        self.rdates.first().map_or(start, |r| start.min(*r))
    }
}

/// A yearly RRULE of an observance.
#[derive(Debug, PartialEq, Eq)]
struct Yearly {
    interval: i32,
    /// Sorted; empty means the month of DTSTART.
    months: Vec<u32>,
    /// `(n, weekday)`: the n-th such weekday of the month (negative: from the end), or
    /// every one when n is 0.
    by_day: Vec<(i32, Weekday)>,
    by_month_day: Vec<i32>,
    until: Option<DateTime<Utc>>,
}

impl Yearly {
    /// The onsets of `year`, on the observance's wall clock, in order.
    fn onsets_in(&self, year: i32, start: NaiveDateTime) -> Vec<NaiveDateTime> {
        let own_month = [start.month()];
        let months = if self.months.is_empty() { &own_month[..] } else { &self.months };
        let mut onsets = Vec::new();
        for &month in months {
            let days = days_in_month(year, month);
            for day in 1..=days {
                if let Some(date) = NaiveDate::from_ymd_opt(year, month, day)
                    && self.matches(date, days, start)
                {
                    onsets.push(date.and_time(start.time()));
                }
            }
        }
        onsets
    }

    fn matches(&self, date: NaiveDate, days: u32, start: NaiveDateTime) -> bool {
        let day = date.day();
        if self.by_day.is_empty() && self.by_month_day.is_empty() {
            return day == start.day();
        }
        // day counted from the start and from the end of the month (-1 is the last)
        let (day, days) = (day as i32, days as i32);
        let month_day = self.by_month_day.is_empty()
            || self.by_month_day.iter().any(|&n| n == day || n == day - days - 1);
        let week_day = self.by_day.is_empty()
            || self.by_day.iter().any(|&(n, weekday)| {
                date.weekday() == weekday
                    && (n == 0 || n == (day - 1) / 7 + 1 || n == -((days - day) / 7 + 1))
            });
        month_day && week_day
    }

    /// The latest onset of this rule at or before `t` (and at or after DTSTART).
    fn latest(&self, observance: &Observance, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let bound = self.until.map_or(t, |until| until.min(t));
        let start = observance.start;
        let top = bound.naive_utc();
        let top = top.checked_add_signed(Duration::seconds(observance.from.into())).unwrap_or(top);
        let first_year = start.year();
        let mut year = top.year() - (top.year() - first_year).rem_euclid(self.interval);
        for _ in 0..MAX_CYCLES_BACK {
            if year < first_year {
                return None;
            }
            let found = self
                .onsets_in(year, start)
                .into_iter()
                .rev()
                .filter(|local| *local >= start)
                .map(|local| observance.instant(local))
                .find(|at| *at <= bound);
            if found.is_some() {
                return found;
            }
            year -= self.interval;
        }
        None
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    (28..=31).rev().find(|&d| NaiveDate::from_ymd_opt(year, month, d).is_some()).unwrap_or(28)
}

/// `local` read with a UTC offset of `offset` seconds.
fn on_clock(local: NaiveDateTime, offset: i32) -> DateTime<Utc> {
    local.checked_sub_signed(Duration::seconds(offset.into())).unwrap_or(local).and_utc()
}

/// Reads one VTIMEZONE block: its TZID (unescaped; `None` when it has none) and its rules
/// or why they cannot be read.
fn parse_block(block: &str) -> Option<(String, Result<VTimezone, String>)> {
    let parsed = read_calendar(block).ok()?;
    let component =
        parsed.components.iter().find(|c| c.name.as_str().eq_ignore_ascii_case("VTIMEZONE"))?;
    let tzid = unescape(value(component, "TZID")?).trim().to_string();
    if tzid.is_empty() {
        return None;
    }
    Some((tzid, parse_zone(component)))
}

fn parse_zone(component: &Component<'_>) -> Result<VTimezone, String> {
    let observances = component
        .components
        .iter()
        .filter(|c| {
            let name = c.name.as_str();
            name.eq_ignore_ascii_case("STANDARD") || name.eq_ignore_ascii_case("DAYLIGHT")
        })
        .map(parse_observance)
        .collect::<Result<Vec<_>, _>>()?;
    if observances.is_empty() {
        return Err("it has no STANDARD or DAYLIGHT".into());
    }
    if observances.len() > MAX_OBSERVANCES {
        return Err(format!("it has more than {MAX_OBSERVANCES} observances"));
    }
    let mut offsets: Vec<i32> = observances.iter().flat_map(|o| [o.from, o.to]).collect();
    offsets.sort_unstable();
    offsets.dedup();
    if offsets.len() > MAX_OFFSETS {
        return Err(format!("it has more than {MAX_OFFSETS} distinct UTC offsets"));
    }
    let initial = observances.iter().min_by_key(|o| o.first_onset()).map_or(0, |o| o.from);
    Ok(VTimezone { observances, offsets, initial })
}

fn value<'c>(component: &'c Component<'_>, name: &str) -> Option<&'c str> {
    component
        .properties
        .iter()
        .find(|p| p.name.as_str().eq_ignore_ascii_case(name))
        .map(|p| p.val.as_str())
}

fn parse_observance(component: &Component<'_>) -> Result<Observance, String> {
    let kind = component.name.as_str().to_ascii_uppercase();
    let required = |name: &str| value(component, name).ok_or(format!("{kind} has no {name}"));
    let from = parse_offset(required("TZOFFSETFROM")?)?;
    let to = parse_offset(required("TZOFFSETTO")?)?;
    let start = match parse_written(required("DTSTART")?, false)? {
        Written::Date(d) => d.and_time(NaiveTime::MIN),
        Written::Local(t) | Written::Utc(t) => t,
    };
    let mut rules = component
        .properties
        .iter()
        .filter(|p| p.name.as_str().eq_ignore_ascii_case("RRULE"))
        .map(|p| parse_rule(p.val.as_str(), from));
    let rule = rules.next().transpose()?;
    if rules.next().is_some() {
        return Err(format!("{kind} has more than one RRULE"));
    }
    let mut rdates = Vec::new();
    for prop in
        component.properties.iter().filter(|p| p.name.as_str().eq_ignore_ascii_case("RDATE"))
    {
        let date_only = prop.params.iter().any(|p| {
            p.key.as_str().eq_ignore_ascii_case("VALUE")
                && p.val.as_ref().is_some_and(|v| v.as_str().eq_ignore_ascii_case("DATE"))
        });
        for item in prop.val.as_str().split(',').filter(|v| !v.trim().is_empty()) {
            // a PERIOD starts at its first half
            let at = item.split('/').next().unwrap_or(item);
            rdates.push(match parse_written(at, date_only)? {
                Written::Utc(t) => t.and_utc(),
                Written::Local(t) => on_clock(t, from),
                Written::Date(d) => on_clock(d.and_time(NaiveTime::MIN), from),
            });
        }
    }
    rdates.sort_unstable();
    let mut observance = Observance { start, from, to, rule, cached: Vec::new(), rdates };
    if let Some(rule) = &observance.rule {
        let first = (*CACHED_YEARS.start()).max(start.year());
        observance.cached = (first..=*CACHED_YEARS.end())
            .filter(|year| (year - start.year()).rem_euclid(rule.interval) == 0)
            .flat_map(|year| rule.onsets_in(year, start))
            .filter(|local| *local >= start)
            .map(|local| on_clock(local, from))
            .filter(|at| rule.until.is_none_or(|until| *at <= until))
            .collect();
    }
    Ok(observance)
}

/// Reads a UTC offset such as `+0100`, `-0330` or `+013045`.
fn parse_offset(raw: &str) -> Result<i32, String> {
    let bad = || format!("`{raw}` is not a UTC offset");
    let text = raw.trim();
    let (sign, digits) = match (text.strip_prefix('+'), text.strip_prefix('-')) {
        (Some(rest), _) => (1, rest),
        (_, Some(rest)) => (-1, rest),
        _ => return Err(bad()),
    };
    if !matches!(digits.len(), 4 | 6) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let field = |at: usize| digits.get(at..at + 2).and_then(|d| d.parse::<i32>().ok());
    let (hours, minutes) = (field(0).ok_or_else(bad)?, field(2).ok_or_else(bad)?);
    let seconds = if digits.len() == 6 { field(4).ok_or_else(bad)? } else { 0 };
    if hours >= 24 || minutes >= 60 || seconds >= 60 {
        return Err(bad());
    }
    Ok(sign * (hours * 3600 + minutes * 60 + seconds))
}

/// Reads an observance's RRULE; `from` places a local UNTIL on the time line.
fn parse_rule(raw: &str, from: i32) -> Result<Yearly, String> {
    let bad = || format!("RRULE `{raw}` is not a yearly rule this importer reads");
    let mut rule = Yearly {
        interval: 1,
        months: Vec::new(),
        by_day: Vec::new(),
        by_month_day: Vec::new(),
        until: None,
    };
    let mut yearly = false;
    for part in raw.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').ok_or_else(bad)?;
        let list = || value.split(',').map(str::trim);
        let number = |v: &str, range: std::ops::RangeInclusive<i32>| {
            v.trim_start_matches('+').parse::<i32>().ok().filter(|n| *n != 0 && range.contains(n))
        };
        match key.trim().to_ascii_uppercase().as_str() {
            "FREQ" => yearly = value.trim().eq_ignore_ascii_case("YEARLY"),
            "INTERVAL" => rule.interval = number(value, 1..=1000).ok_or_else(bad)?,
            "BYMONTH" => {
                for m in list() {
                    rule.months.push(number(m, 1..=12).ok_or_else(bad)? as u32);
                }
            }
            "BYMONTHDAY" => {
                for d in list() {
                    rule.by_month_day.push(number(d, -31..=31).ok_or_else(bad)?);
                }
            }
            "BYDAY" => {
                for d in list() {
                    rule.by_day.push(parse_by_day(d).ok_or_else(bad)?);
                }
            }
            "UNTIL" => {
                rule.until = Some(match parse_written(value, false)? {
                    Written::Utc(t) => t.and_utc(),
                    Written::Local(t) => on_clock(t, from),
                    // the whole day counts
                    Written::Date(d) => on_clock(
                        d.and_hms_opt(23, 59, 59).unwrap_or(d.and_time(NaiveTime::MIN)),
                        from,
                    ),
                });
            }
            "WKST" => {}
            _ => return Err(bad()),
        }
    }
    if !yearly {
        return Err(bad());
    }
    rule.months.sort_unstable();
    rule.months.dedup();
    Ok(rule)
}

/// `-1SU`, `2SU`, `SU`.
fn parse_by_day(item: &str) -> Option<(i32, Weekday)> {
    let split = item.len().checked_sub(2)?;
    let (ordinal, day) = (item.get(..split)?, item.get(split..)?);
    let weekday = match day.to_ascii_uppercase().as_str() {
        "MO" => Weekday::Mon,
        "TU" => Weekday::Tue,
        "WE" => Weekday::Wed,
        "TH" => Weekday::Thu,
        "FR" => Weekday::Fri,
        "SA" => Weekday::Sat,
        "SU" => Weekday::Sun,
        _ => return None,
    };
    let n = match ordinal {
        "" => 0,
        n => n.trim_start_matches('+').parse::<i32>().ok().filter(|n| *n != 0 && n.abs() <= 5)?,
    };
    Some((n, weekday))
}

#[cfg(test)]
mod tests;
