//! Recurring sets (RFC 5545 §3.8.5): DTSTART, RRULE, RDATE and EXDATE make the set of
//! instances; RECURRENCE-ID components replace the instances they name.
//!
//! `rrule` does the calendar arithmetic. It is given wall-clock times dressed as UTC, so
//! that it counts days, weeks and months on the event's own wall clock (09:30 stays
//! 09:30 across a DST switch, as RFC 5545 wants) and never has to decide what a local
//! time in a gap means; each instance is then placed on the time line by
//! `crate::domain::time::resolve_local`, which applies the project's rule for gaps and
//! overlaps.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use icalendar::rrule::{self, RRule, RRuleSet, Unvalidated};

use super::value::{
    Clock, Span, When, Written, Zone, parse_duration, parse_when, parse_written, prop_when,
    unescape, zone_named,
};
use super::vtimezone::Zones;
use super::{Attendee, Event, Feed, Occurrence};
use crate::domain::time::resolve_local;

/// The instants an import covers, the business zone, and the zones the feed defines.
#[derive(Clone, Copy, Debug)]
pub(super) struct Window<'z> {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub zone: Tz,
    pub zones: &'z Zones,
}

impl Window<'_> {
    fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.to
    }
}

/// Every component that shares one UID: the master (the one without RECURRENCE-ID) and
/// its overrides.
#[derive(Debug, Default)]
pub(super) struct Series {
    pub uid: String,
    pub uid_is_generated: bool,
    masters: Vec<Event>,
    overrides: Vec<Event>,
}

/// How an instance is named by a RECURRENCE-ID: its date in an all-day series (clients
/// write it as DATE, local midnight or UTC midnight), its instant otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Slot {
    Date(NaiveDate),
    Instant(DateTime<Utc>),
}

/// How long each instance lasts.
#[derive(Clone, Copy, Debug)]
enum Length {
    /// DTEND − DTSTART, measured on the time line.
    Exact(Duration),
    /// A DURATION: days on the wall clock, the rest exact.
    Span(Span),
    /// All-day: a number of days.
    Days(i64),
}

impl Series {
    pub(super) fn new(uid: String, uid_is_generated: bool) -> Self {
        Series { uid, uid_is_generated, masters: Vec::new(), overrides: Vec::new() }
    }

    pub(super) fn add(&mut self, event: Event) {
        if event.first_prop("RECURRENCE-ID").is_some() {
            self.overrides.push(event);
        } else {
            self.masters.push(event);
        }
    }

    /// Adds the occurrences of this series inside `window` to `feed`.
    pub(super) fn expand(self, window: &Window<'_>, feed: &mut Feed) {
        // Several versions of one component: the highest SEQUENCE wins, the later on a tie.
        let master = self.masters.iter().max_by_key(|e| sequence(e));
        let recurring = !self.overrides.is_empty()
            || master.is_some_and(|m| {
                m.first_prop("RRULE").is_some() || m.first_prop("RDATE").is_some()
            });
        let master_all_day = master
            .and_then(|m| m.first_prop("DTSTART"))
            .map(|p| matches!(prop_when(p, window.zones), Ok(When::Date(_))));

        let mut overrides: HashMap<Slot, &Event> = HashMap::new();
        for event in &self.overrides {
            match slot_of(event, master_all_day, window) {
                Ok(slot) => {
                    let keep = overrides.get(&slot).is_none_or(|o| sequence(o) <= sequence(event));
                    if keep {
                        overrides.insert(slot, event);
                    }
                }
                Err(e) => self.skipped(feed, &e),
            }
        }

        let edits = future_edits(&overrides, window);
        if let Some(master) = master
            && let Err(e) = self.expand_master(master, recurring, &overrides, &edits, window, feed)
        {
            self.skipped(feed, &e);
        }
        for (slot, event) in overrides {
            let rid = match slot {
                Slot::Date(d) => resolve_local(window.zone, d.and_time(NaiveTime::MIN)),
                Slot::Instant(t) => t,
            };
            match timing(event, window) {
                Ok(t) => {
                    let (start, end) = t.at_start(t.start.instant(window.zone), window.zone);
                    if window.contains(start) {
                        feed.occurrences.push(self.occurrence(
                            event,
                            Some(rid),
                            start,
                            end,
                            t.all_day(),
                        ));
                    }
                }
                Err(e) => self.skipped(feed, &e),
            }
        }
    }

    fn expand_master(
        &self,
        master: &Event,
        recurring: bool,
        overrides: &HashMap<Slot, &Event>,
        edits: &[FutureEdit<'_>],
        window: &Window<'_>,
        feed: &mut Feed,
    ) -> Result<(), String> {
        let t = timing(master, window)?;
        let all_day = t.all_day();
        // the wall clock the series repeats on
        let clock = match t.start {
            When::Date(_) => Clock::Iana(window.zone),
            When::DateTime(_, zone) => zone.wall_clock(window.zone),
        };
        let set = InstanceSet::new(master, t.start, clock, window)?;
        let reach = edits.iter().map(|e| e.shift.abs()).max().unwrap_or_default();
        for (local, own_end) in set.within(window, clock, reach)? {
            let original = clock.resolve(local);
            let slot = if all_day { Slot::Date(local.date()) } else { Slot::Instant(original) };
            if overrides.contains_key(&slot) {
                continue;
            }
            let (event, start, end) = match edits.iter().rev().find(|e| e.from <= original) {
                Some(edit) => {
                    let moved = original.checked_add_signed(edit.shift).unwrap_or(original);
                    let (start, end) = edit.timing.at_start(moved, window.zone);
                    (edit.event, start, end)
                }
                None => match own_end {
                    Some(end) => (master, original, end.max(original)),
                    None => {
                        let (start, end) = t.at_start(original, window.zone);
                        (master, start, end)
                    }
                },
            };
            if window.contains(start) {
                let rid = recurring.then_some(original);
                feed.occurrences.push(self.occurrence(event, rid, start, end, all_day));
            }
        }
        Ok(())
    }

    /// Records that (part of) this event could not be read.
    fn skipped(&self, feed: &mut Feed, what: &str) {
        feed.problems.push(format!("event `{}`: {what}; it was skipped", self.uid));
        if !self.uid_is_generated {
            feed.skipped_uids.insert(self.uid.clone());
        }
    }

    fn occurrence(
        &self,
        event: &Event,
        recurrence_id: Option<DateTime<Utc>>,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        all_day: bool,
    ) -> Occurrence {
        const TIMING: &[&str] = &[
            "UID",
            "DTSTART",
            "DTEND",
            "DURATION",
            "RRULE",
            "RDATE",
            "EXDATE",
            "RECURRENCE-ID",
            "SUMMARY",
            "LOCATION",
            "DESCRIPTION",
            "STATUS",
            "SEQUENCE",
            "ATTENDEE",
        ];
        let text = |name: &str| event.first(name).map(unescape).filter(|s| !s.trim().is_empty());
        Occurrence {
            uid: self.uid.clone(),
            uid_is_generated: self.uid_is_generated,
            recurrence_id,
            starts_at,
            ends_at,
            all_day,
            summary: text("SUMMARY"),
            location: text("LOCATION"),
            description: text("DESCRIPTION"),
            status: event
                .first("STATUS")
                .map(|s| unescape(s).trim().to_ascii_uppercase())
                .filter(|s| !s.is_empty()),
            sequence: sequence(event),
            attendees: event
                .all("ATTENDEE")
                .map(|p| Attendee {
                    value: p.value.trim().to_string(),
                    cn: p.param("CN").map(str::to_string).filter(|cn| !cn.trim().is_empty()),
                    params: p.params.clone(),
                })
                .collect(),
            properties: event
                .props
                .iter()
                .filter(|p| !TIMING.contains(&p.name.as_str()))
                .map(|p| (p.name.clone(), unescape(&p.value)))
                .collect(),
        }
    }
}

/// A `RECURRENCE-ID;RANGE=THISANDFUTURE` override (RFC 5545 §3.8.4.4): from its
/// instance on, every instance moves by the same amount as that instance did and takes
/// the override's length and properties.
#[derive(Debug)]
struct FutureEdit<'a> {
    from: DateTime<Utc>,
    shift: Duration,
    timing: Timing<'a>,
    event: &'a Event,
}

/// The THISANDFUTURE overrides, earliest first; an instance follows the latest one at
/// or before it. One whose own times cannot be read is reported with the override.
fn future_edits<'a>(
    overrides: &HashMap<Slot, &'a Event>,
    window: &Window<'a>,
) -> Vec<FutureEdit<'a>> {
    let business = window.zone;
    let mut edits: Vec<FutureEdit<'a>> = overrides
        .iter()
        .filter(|(_, e)| {
            e.first_prop("RECURRENCE-ID")
                .and_then(|p| p.param("RANGE"))
                .is_some_and(|r| r.trim().eq_ignore_ascii_case("THISANDFUTURE"))
        })
        .filter_map(|(slot, event)| {
            let from = match *slot {
                Slot::Date(d) => resolve_local(business, d.and_time(NaiveTime::MIN)),
                Slot::Instant(t) => t,
            };
            let timing = timing(event, window).ok()?;
            let shift = timing.start.instant(business) - from;
            Some(FutureEdit { from, shift, timing, event })
        })
        .collect();
    edits.sort_by_key(|e| e.from);
    edits
}

fn sequence(event: &Event) -> i64 {
    event.first("SEQUENCE").and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

/// Which instance a RECURRENCE-ID names. For an all-day series only the date counts, so
/// the zone of a date-time RECURRENCE-ID is not even looked up (Exchange writes
/// `RECURRENCE-ID;TZID=<Windows name>:20260226T000000` for all-day series).
fn slot_of(
    event: &Event,
    master_all_day: Option<bool>,
    window: &Window<'_>,
) -> Result<Slot, String> {
    let business = window.zone;
    let prop = event.first_prop("RECURRENCE-ID").ok_or("no RECURRENCE-ID")?;
    let written = parse_when(&prop.value, None, prop.value_is("DATE"), window.zones)
        .map_err(|e| format!("RECURRENCE-ID: {e}"))?;
    let all_day = master_all_day.unwrap_or(matches!(written, When::Date(_)));
    match written {
        _ if all_day => Ok(Slot::Date(written.date())),
        When::Date(d) => Ok(Slot::Instant(When::Date(d).instant(business))),
        When::DateTime(t, Zone::Floating) => {
            let zone = match prop.param("TZID").filter(|z| !z.trim().is_empty()) {
                Some(tzid) => {
                    let clock = zone_named(tzid, window.zones)
                        .map_err(|e| format!("RECURRENCE-ID: {e}"))?;
                    Zone::Named(clock)
                }
                None => Zone::Floating,
            };
            Ok(Slot::Instant(When::DateTime(t, zone).instant(business)))
        }
        When::DateTime(..) => Ok(Slot::Instant(written.instant(business))),
    }
}

/// The start and length of a component.
#[derive(Clone, Copy, Debug)]
struct Timing<'z> {
    start: When<'z>,
    length: Length,
}

impl Timing<'_> {
    fn all_day(&self) -> bool {
        matches!(self.start, When::Date(_))
    }

    /// Start and end of an instance that starts at `start`. An end that would fall
    /// before its start (a start moved out of a DST gap) is the start.
    fn at_start(&self, start: DateTime<Utc>, business: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        let end = match self.length {
            Length::Exact(d) => start.checked_add_signed(d).unwrap_or(start),
            Length::Span(span) => span.after(start, business_or_clock(self.start, business)),
            Length::Days(days) => {
                let date = start.with_timezone(&business).date_naive();
                date.checked_add_signed(Duration::days(days))
                    .map(|d| resolve_local(business, d.and_time(NaiveTime::MIN)))
                    .unwrap_or(start)
            }
        };
        (start, end.max(start))
    }
}

fn business_or_clock(start: When<'_>, business: Tz) -> Clock<'_> {
    match start {
        When::Date(_) => Clock::Iana(business),
        When::DateTime(_, zone) => zone.wall_clock(business),
    }
}

/// Reads DTSTART and DTEND or DURATION. With neither, a date-time event has no length
/// and an all-day event lasts one day.
fn timing<'z>(event: &Event, window: &Window<'z>) -> Result<Timing<'z>, String> {
    let business = window.zone;
    let start = prop_when(event.first_prop("DTSTART").ok_or("it has no DTSTART")?, window.zones)?;
    let end = event.first_prop("DTEND").map(|p| prop_when(p, window.zones)).transpose()?;
    let duration = event.first("DURATION").map(parse_duration).transpose()?;
    let length = match (start, end, duration) {
        (When::Date(s), Some(end), _) => Length::Days((end.date() - s).num_days().max(0)),
        (When::Date(_), None, Some(span)) => {
            Length::Days(span.days.max(0) + (span.seconds > 0) as i64)
        }
        (When::Date(_), None, None) => Length::Days(1),
        (_, Some(end), _) => {
            Length::Exact((end.instant(business) - start.instant(business)).max(Duration::zero()))
        }
        (_, None, Some(span)) => Length::Span(span),
        (_, None, None) => Length::Exact(Duration::zero()),
    };
    Ok(Timing { start, length })
}

/// The most instances one series may have up to the end of the window: more than
/// two centuries of daily appointments, far fewer than a sub-daily rule produces.
const MAX_INSTANCES: usize = 100_000;

/// A wall-clock time as `rrule` sees it (see the module comment).
fn dressed(local: NaiveDateTime) -> DateTime<rrule::Tz> {
    rrule::Tz::UTC.from_utc_datetime(&local)
}

/// One instance on the series' wall clock, with its own end when an RDATE period gave one.
type Instance = (NaiveDateTime, Option<DateTime<Utc>>);

/// The recurrence set of a master component on its wall clock.
struct InstanceSet {
    set: RRuleSet,
    /// DATE values in EXDATE of a date-time series: every instance on that day goes.
    excluded_days: HashSet<NaiveDate>,
    /// RDATE periods carry their own end.
    period_ends: HashMap<NaiveDateTime, DateTime<Utc>>,
}

impl InstanceSet {
    fn new(
        master: &Event,
        start: When<'_>,
        clock: Clock<'_>,
        window: &Window<'_>,
    ) -> Result<Self, String> {
        let (business, zones) = (window.zone, window.zones);
        let all_day = matches!(start, When::Date(_));
        let first = start.naive_in(clock, business);
        let on_clock = |w: When<'_>| {
            let local = w.naive_in(clock, business);
            if all_day { local.date().and_time(NaiveTime::MIN) } else { local }
        };
        // DTSTART is always the first instance (RFC 5545 §3.8.5.3), even when the rule
        // does not produce it.
        let mut set = RRuleSet::new(dressed(first)).limit().rdate(dressed(first));
        for prop in master.all("RRULE") {
            if let Some(rule) = rule(&prop.value, first, all_day, clock, business)? {
                set = set.rrule(rule);
            }
        }
        let mut period_ends = HashMap::new();
        for prop in master.all("RDATE") {
            for value in prop.value.split(',').filter(|v| !v.trim().is_empty()) {
                let (at, end) = match value.split_once('/') {
                    Some((at, end)) => (at, Some(end)),
                    None => (value, None),
                };
                let when = parse_when(at, prop.param("TZID"), prop.value_is("DATE"), zones)
                    .map_err(|e| format!("RDATE: {e}"))?;
                let local = on_clock(when);
                if let Some(end) = end {
                    let begin = clock.resolve(local);
                    let end = match parse_duration(end) {
                        Ok(span) => span.after(begin, clock),
                        Err(_) => parse_when(end, prop.param("TZID"), false, zones)
                            .map_err(|e| format!("RDATE period: {e}"))?
                            .instant(business),
                    };
                    period_ends.insert(local, end);
                }
                set = set.rdate(dressed(local));
            }
        }
        let mut excluded_days = HashSet::new();
        for prop in master.all("EXDATE") {
            for value in prop.value.split(',').filter(|v| !v.trim().is_empty()) {
                let when = parse_when(value, prop.param("TZID"), prop.value_is("DATE"), zones)
                    .map_err(|e| format!("EXDATE: {e}"))?;
                match when {
                    When::Date(d) if !all_day => {
                        excluded_days.insert(d);
                    }
                    _ => set = set.exdate(dressed(on_clock(when))),
                }
            }
        }
        Ok(InstanceSet { set, excluded_days, period_ends })
    }

    /// The instances whose wall-clock time can fall inside `window`, lazily: `rrule`
    /// iterates in order and stops a day past the window, so a twenty-year daily series
    /// costs only what precedes and fills the window.
    ///
    /// A series with more than [`MAX_INSTANCES`] instances before the end of the window
    /// (`FREQ=SECONDLY`, or a feed built to exhaust the importer) is an error.
    fn within(
        &self,
        window: &Window<'_>,
        clock: Clock<'_>,
        reach: Duration,
    ) -> Result<Vec<Instance>, String> {
        // a day for the zone offsets, plus how far a THISANDFUTURE edit moves instances
        let margin = Duration::days(1).checked_add(&reach).unwrap_or(Duration::days(1));
        let low = clock.local(window.from);
        let low = low.checked_sub_signed(margin).unwrap_or(low);
        let high = clock.local(window.to);
        let high = high.checked_add_signed(margin).unwrap_or(high);
        let mut seen = BTreeSet::new();
        for (n, dressed) in self.set.into_iter().enumerate() {
            if n >= MAX_INSTANCES {
                return Err(format!(
                    "its recurrence has more than {MAX_INSTANCES} instances; it is not a series of appointments"
                ));
            }
            let local = dressed.naive_utc();
            if local > high {
                break;
            }
            if local >= low && !self.excluded_days.contains(&local.date()) {
                seen.insert(local);
            }
        }
        Ok(seen.into_iter().map(|local| (local, self.period_ends.get(&local).copied())).collect())
    }
}

/// Reads one RRULE on the series' wall clock. UNTIL is taken out and placed on that
/// clock by hand, because feeds write it every way (UTC as RFC 5545 wants, local without
/// `Z`, or a DATE on a date-time series as Google does). `Ok(None)`: a rule whose UNTIL
/// lies before DTSTART contributes nothing.
fn rule(
    value: &str,
    first: NaiveDateTime,
    all_day: bool,
    clock: Clock<'_>,
    business: Tz,
) -> Result<Option<RRule>, String> {
    let bad = |e: &dyn std::fmt::Display| format!("RRULE `{value}`: {e}");
    let mut parts = Vec::new();
    let mut until = None;
    for part in value.split(';') {
        // some exporters write `BYDAY=MO, TU`: spaces carry no meaning in a rule
        let part: String = part.chars().filter(|c| !c.is_whitespace()).collect();
        match part.split_once('=') {
            Some((key, v)) if key.eq_ignore_ascii_case("UNTIL") => until = Some(v.to_string()),
            _ if part.is_empty() => {}
            _ => parts.push(part),
        }
    }
    let mut rule: RRule<Unvalidated> = parts.join(";").parse().map_err(|e| bad(&e))?;
    if let Some(until) = until {
        let until = match parse_written(&until, false).map_err(|e| bad(&e))? {
            // A DATE (on a date-time series, as Google writes it) means its midnight,
            // as `python-dateutil` reads it: an instance later that day is not included.
            Written::Date(d) => d.and_time(NaiveTime::MIN),
            // An all-day series is compared with UNTIL's own digits, as most readers do.
            Written::Local(t) | Written::Utc(t) if all_day => t,
            Written::Utc(t) => When::DateTime(t, Zone::Utc).naive_in(clock, business),
            Written::Local(t) => When::DateTime(t, Zone::Floating).naive_in(clock, business),
        };
        if until < first {
            return Ok(None);
        }
        rule = rule.until(dressed(until));
    }
    rule.validate(dressed(first)).map(Some).map_err(|e| bad(&e))
}
