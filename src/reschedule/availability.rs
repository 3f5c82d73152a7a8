//! Free slots: when a calendar can take an appointment, from its opening hours, minus
//! public holidays and the practice's closed days, minus the busy times of the imported
//! appointments, never in the past and never inside a minimum notice. Pure: the caller
//! brings the busy times and the moment.

use chrono::{DateTime, Datelike, Days, Duration, NaiveTime, Utc};
use chrono_tz::Tz;

use crate::domain::time::resolve_local;
use crate::rules::WorkCalendar;

/// When one calendar (a practitioner, a room) takes appointments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Shown with each slot ("Dr. Jansen").
    pub label: Option<String>,
    /// The length of one appointment.
    pub slot: Duration,
    /// Opening hours per weekday, Monday first: local `[from, to)` intervals.
    pub hours: [Vec<(NaiveTime, NaiveTime)>; 7],
}

/// A time that can be offered.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Slot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub label: Option<String>,
}

/// What to search.
#[derive(Clone, Copy, Debug)]
pub struct Search<'a> {
    pub zone: Tz,
    pub workdays: &'a WorkCalendar,
    /// The first moment a slot may start: now plus the minimum notice.
    pub earliest: DateTime<Utc>,
    /// How many days ahead to look, from `earliest`'s day.
    pub days: u32,
    /// At most this many slots.
    pub limit: usize,
}

/// The first free slots, in time order. `busy` holds the `[start, end)` of every
/// appointment of this calendar that still takes place; a slot overlapping one is
/// not free.
pub fn free_slots(
    schedule: &Schedule,
    busy: &[(DateTime<Utc>, DateTime<Utc>)],
    search: Search<'_>,
) -> Vec<Slot> {
    let mut out = Vec::new();
    if schedule.slot <= Duration::zero() {
        return out;
    }
    let first_day = search.earliest.with_timezone(&search.zone).date_naive();
    for offset in 0..=search.days {
        let Some(day) = first_day.checked_add_days(Days::new(u64::from(offset))) else { break };
        if search.workdays.closed_on(day).is_some() {
            continue;
        }
        let weekday = day.weekday().num_days_from_monday() as usize;
        for &(open, close) in &schedule.hours[weekday] {
            let mut local = day.and_time(open);
            let closes = day.and_time(close);
            while local + schedule.slot <= closes {
                // wall-clock slots: on a DST day the grid stays at :00 and :30
                let start = resolve_local(search.zone, local);
                let end = start + schedule.slot;
                let taken = busy.iter().any(|&(b_start, b_end)| start < b_end && b_start < end);
                if start >= search.earliest && !taken {
                    out.push(Slot { start, end, label: schedule.label.clone() });
                    if out.len() == search.limit {
                        return out;
                    }
                }
                local += schedule.slot;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Holidays;

    const AMS: Tz = chrono_tz::Europe::Amsterdam;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn t(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }

    /// Weekdays 09:00–12:00 and 13:00–17:00, Saturday 09:00–12:00; 30-minute slots.
    fn schedule() -> Schedule {
        let day = vec![(t("09:00"), t("12:00")), (t("13:00"), t("17:00"))];
        Schedule {
            label: Some("Dr. Jansen".into()),
            slot: Duration::minutes(30),
            hours: [
                day.clone(),
                day.clone(),
                day.clone(),
                day.clone(),
                day,
                vec![(t("09:00"), t("12:00"))],
                vec![],
            ],
        }
    }

    fn starts(
        busy: &[(DateTime<Utc>, DateTime<Utc>)],
        earliest: &str,
        limit: usize,
    ) -> Vec<String> {
        let workdays = WorkCalendar::default();
        let search =
            Search { zone: AMS, workdays: &workdays, earliest: at(earliest), days: 14, limit };
        free_slots(&schedule(), busy, search)
            .into_iter()
            .map(|s| s.start.with_timezone(&AMS).format("%a %d %H:%M").to_string())
            .collect()
    }

    #[test]
    fn slots_follow_the_opening_hours_after_the_earliest_moment() {
        // Wednesday 14 October 11:10 CEST (after the minimum notice): 11:30, then the
        // afternoon
        assert_eq!(
            starts(&[], "2026-10-14T09:10:00Z", 4),
            ["Wed 14 11:30", "Wed 14 13:00", "Wed 14 13:30", "Wed 14 14:00"]
        );
    }

    #[test]
    fn busy_appointments_take_their_slots_and_those_they_overlap() {
        // 13:00–13:45 busy: 13:00 and 13:30 are taken
        let busy = [(at("2026-10-14T11:00:00Z"), at("2026-10-14T11:45:00Z"))];
        assert_eq!(
            starts(&busy, "2026-10-14T10:55:00Z", 3),
            ["Wed 14 14:00", "Wed 14 14:30", "Wed 14 15:00"]
        );
    }

    #[test]
    fn holidays_and_closed_days_are_skipped_but_saturday_hours_count() {
        // Friday 25 December 2026 (Kerst) at 16:00: Saturday 26th is Tweede Kerstdag,
        // Sunday has no hours, Monday 28th opens at 09:00 (CET)
        assert_eq!(starts(&[], "2026-12-25T15:00:00Z", 2), ["Mon 28 09:00", "Mon 28 09:30"]);
        // an ordinary Saturday has its morning
        assert_eq!(starts(&[], "2026-11-27T16:00:00Z", 1), ["Sat 28 09:00"]);
        let closed = WorkCalendar::new(Holidays::Nl, ["2026-11-28".parse().unwrap()], []);
        let search = Search {
            zone: AMS,
            workdays: &closed,
            earliest: at("2026-11-27T16:00:00Z"),
            days: 7,
            limit: 1,
        };
        let first = free_slots(&schedule(), &[], search);
        assert_eq!(first[0].start, at("2026-11-30T08:00:00Z"), "Monday 09:00 CET");
        assert_eq!(first[0].label.as_deref(), Some("Dr. Jansen"));
    }

    #[test]
    fn slots_stay_on_the_wall_clock_across_the_autumn_switch() {
        // Saturday 24 October is still CEST (UTC+2); after the switch on Sunday, Monday
        // 26 October 09:00 is CET (UTC+1)
        let first = |earliest: &str| {
            let workdays = WorkCalendar::default();
            let search = Search {
                zone: AMS,
                workdays: &workdays,
                earliest: at(earliest),
                days: 7,
                limit: 1,
            };
            free_slots(&schedule(), &[], search)[0].start
        };
        assert_eq!(first("2026-10-24T06:00:00Z"), at("2026-10-24T07:00:00Z"));
        assert_eq!(first("2026-10-24T10:00:00Z"), at("2026-10-26T08:00:00Z"));
    }
}
