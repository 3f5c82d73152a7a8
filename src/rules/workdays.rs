//! Working days: which days the practice is open, for rules such as "2 working days
//! before at 09:00" (so Friday's batch covers Monday, and the Thursday before Easter
//! covers the Tuesday after it).
//!
//! A working day is Monday to Friday, except the public holidays of the configured set
//! and the practice's own closed days; its own open days win over both.

use std::collections::BTreeSet;
use std::str::FromStr;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// The set of public holidays a practice closes on (`business.holidays`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Holidays {
    /// The Dutch public holidays as employers observe them: Nieuwjaarsdag, Eerste and
    /// Tweede Paasdag, Koningsdag, Bevrijdingsdag in lustrum years (2025, 2030, …; in
    /// other years few are closed), Hemelvaartsdag, Eerste and Tweede Pinksterdag, Eerste
    /// and Tweede Kerstdag. Goede Vrijdag is not among them: most practices are open.
    #[default]
    Nl,
    /// No public holidays; only weekends and the configured closed days.
    None,
}

impl FromStr for Holidays {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "nl" => Ok(Holidays::Nl),
            "none" => Ok(Holidays::None),
            other => Err(format!("`{other}` is not a holiday set; known are nl and none")),
        }
    }
}

/// The days the practice works.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkCalendar {
    holidays: Holidays,
    closed: BTreeSet<NaiveDate>,
    open: BTreeSet<NaiveDate>,
}

impl WorkCalendar {
    /// `closed` adds days off (the practice's own bridge days); `open` removes them (a
    /// practice that works on Bevrijdingsdag).
    pub fn new(
        holidays: Holidays,
        closed: impl IntoIterator<Item = NaiveDate>,
        open: impl IntoIterator<Item = NaiveDate>,
    ) -> Self {
        WorkCalendar {
            holidays,
            closed: closed.into_iter().collect(),
            open: open.into_iter().collect(),
        }
    }

    /// Why `day` is not a working day, or `None` when it is one.
    pub fn day_off(&self, day: NaiveDate) -> Option<&'static str> {
        if self.open.contains(&day) {
            return None;
        }
        if let Some(why) = self.closed_on(day) {
            return Some(why);
        }
        matches!(day.weekday(), Weekday::Sat | Weekday::Sun).then_some("weekend")
    }

    /// Why the practice is closed all of `day` whatever its opening hours say (a public
    /// holiday or a closed day), or `None`. Weekends are left to the opening hours.
    pub fn closed_on(&self, day: NaiveDate) -> Option<&'static str> {
        if self.open.contains(&day) {
            return None;
        }
        if self.closed.contains(&day) {
            return Some("closed");
        }
        self.holiday(day)
    }

    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        self.day_off(day).is_none()
    }

    /// The public holiday on `day` in the configured set, by its Dutch name.
    pub fn holiday(&self, day: NaiveDate) -> Option<&'static str> {
        match self.holidays {
            Holidays::None => None,
            Holidays::Nl => {
                dutch_holidays(day.year()).into_iter().find(|(d, _)| *d == day).map(|(_, n)| n)
            }
        }
    }

    /// The working day `n` working days before `day` (n ≥ 1), whatever `day` itself is.
    /// `None` only when no working day exists in the year before (a misconfiguration
    /// that closes every day).
    pub fn working_days_before(&self, day: NaiveDate, n: u32) -> Option<NaiveDate> {
        let mut left = n;
        let mut current = day;
        for _ in 0..366 + 7 * n {
            current = current.checked_sub_days(Days::new(1))?;
            if self.is_working_day(current) {
                left -= 1;
                if left == 0 {
                    return Some(current);
                }
            }
        }
        None
    }
}

/// Easter Sunday of `year` in the Gregorian calendar (the anonymous algorithm of
/// Meeus, Jones and Butcher).
pub fn easter(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).expect("Easter is a valid date")
}

/// The Dutch public holidays of `year` that practices close on (see [`Holidays::Nl`]).
pub fn dutch_holidays(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let date = |m, d| NaiveDate::from_ymd_opt(year, m, d).expect("a fixed holiday exists");
    let easter = easter(year);
    let after_easter = |days| easter.checked_add_days(Days::new(days)).expect("in range");
    // Koningsdag moves to Saturday 26 April when the 27th is a Sunday.
    let kings_day = match date(4, 27).weekday() {
        Weekday::Sun => date(4, 26),
        _ => date(4, 27),
    };
    let mut days = vec![
        (date(1, 1), "Nieuwjaarsdag"),
        (easter, "Eerste Paasdag"),
        (after_easter(1), "Tweede Paasdag"),
        (kings_day, "Koningsdag"),
        (after_easter(39), "Hemelvaartsdag"),
        (after_easter(49), "Eerste Pinksterdag"),
        (after_easter(50), "Tweede Pinksterdag"),
        (date(12, 25), "Eerste Kerstdag"),
        (date(12, 26), "Tweede Kerstdag"),
    ];
    if year % 5 == 0 {
        days.push((date(5, 5), "Bevrijdingsdag"));
    }
    days.sort();
    days
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn easter_falls_on_the_published_dates() {
        // dates from the published tables; 2285 is the earliest possible (22 March),
        // 2038 the latest (25 April)
        for (year, expected) in [
            (2019, "2019-04-21"),
            (2024, "2024-03-31"),
            (2025, "2025-04-20"),
            (2026, "2026-04-05"),
            (2027, "2027-03-28"),
            (2028, "2028-04-16"),
            (2038, "2038-04-25"),
            (2285, "2285-03-22"),
        ] {
            assert_eq!(easter(year), day(expected), "Easter {year}");
        }
    }

    #[test]
    fn the_dutch_holidays_of_2026_and_2030() {
        let names = |year| -> Vec<(String, &str)> {
            dutch_holidays(year).into_iter().map(|(d, n)| (d.to_string(), n)).collect()
        };
        assert_eq!(
            names(2026),
            vec![
                ("2026-01-01".into(), "Nieuwjaarsdag"),
                ("2026-04-05".into(), "Eerste Paasdag"),
                ("2026-04-06".into(), "Tweede Paasdag"),
                ("2026-04-27".into(), "Koningsdag"),
                ("2026-05-14".into(), "Hemelvaartsdag"),
                ("2026-05-24".into(), "Eerste Pinksterdag"),
                ("2026-05-25".into(), "Tweede Pinksterdag"),
                ("2026-12-25".into(), "Eerste Kerstdag"),
                ("2026-12-26".into(), "Tweede Kerstdag"),
            ]
        );
        // 2030: Bevrijdingsdag (a lustrum year); 2025: Koningsdag on Saturday the 26th
        assert!(names(2030).contains(&("2030-05-05".into(), "Bevrijdingsdag")));
        assert!(names(2025).contains(&("2025-04-26".into(), "Koningsdag")));
        assert!(!names(2026).iter().any(|(d, _)| d == "2026-05-05"));
    }

    #[test]
    fn working_days_skip_weekends_holidays_and_closed_days() {
        let nl = WorkCalendar::default();
        let cases = [
            // (appointment day, n, expected) — Monday 30 November: Friday covers it
            ("2026-11-30", 1, "2026-11-27"),
            ("2026-11-30", 2, "2026-11-26"),
            // Tuesday after Easter (Tweede Paasdag Monday 6 April): Friday 3 April
            ("2026-04-07", 1, "2026-04-03"),
            // Friday after Hemelvaartsdag (Thursday 14 May): Wednesday
            ("2026-05-15", 1, "2026-05-13"),
            // Monday 28 December: Kerst is Friday/Saturday, so Thursday 24 December
            ("2026-12-28", 1, "2026-12-24"),
            // an appointment on a Saturday: still counted from the day itself
            ("2026-11-28", 1, "2026-11-27"),
        ];
        for (appointment, n, expected) in cases {
            assert_eq!(
                nl.working_days_before(day(appointment), n),
                Some(day(expected)),
                "{n} working days before {appointment}"
            );
        }
        let closed = WorkCalendar::new(Holidays::Nl, [day("2026-12-24")], []);
        assert_eq!(closed.working_days_before(day("2026-12-28"), 1), Some(day("2026-12-23")));
        let own = WorkCalendar::new(Holidays::Nl, [day("2026-12-24")], [day("2026-12-26")]);
        assert_eq!(own.working_days_before(day("2026-12-28"), 1), Some(day("2026-12-26")));
        assert_eq!(own.day_off(day("2026-12-24")), Some("closed"));
        assert_eq!(own.day_off(day("2026-12-25")), Some("Eerste Kerstdag"));
        // an open day wins over the holiday and the weekend (26 December 2026 is a Saturday)
        assert_eq!(own.day_off(day("2026-12-26")), None);
        let none = WorkCalendar::new(Holidays::None, [], []);
        assert_eq!(none.working_days_before(day("2026-04-07"), 1), Some(day("2026-04-06")));
    }

    #[test]
    fn a_calendar_without_working_days_gives_none_instead_of_looping() {
        let start = day("2026-01-01");
        let every_day = (0..800).map(|i| start + Days::new(i));
        let closed = WorkCalendar::new(Holidays::None, every_day, []);
        assert_eq!(closed.working_days_before(day("2027-06-01"), 1), None);
    }
}
