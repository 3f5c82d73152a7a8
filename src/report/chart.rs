//! The small chart on top of the report: per day of the last two weeks, the share of
//! appointments confirmed and the share with no answer at all. Drawn server-side as a
//! few lines of SVG (no JavaScript); the two series differ in dash as well as colour.

use std::fmt::Write as _;

use chrono::{Days, NaiveDate};
use chrono_tz::Tz;

use crate::domain::{AppointmentStatus, Reply};
use crate::store::DayTally;

/// One day's counts, of the appointments that took place (not cancelled in the calendar).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DayRate {
    pub day: Option<NaiveDate>,
    pub appointments: u32,
    pub confirmed: u32,
    pub no_answer: u32,
}

impl DayRate {
    fn share(&self, part: u32) -> Option<f64> {
        (self.appointments > 0).then(|| f64::from(part) / f64::from(self.appointments))
    }
}

/// The `days` days ending with `last`, from the counts of each (`DayTally::day` 0 is
/// the first of them).
pub fn rates(tallies: &[DayTally], last: NaiveDate, days: u32) -> Vec<DayRate> {
    let first = first_day(last, days);
    let mut out: Vec<DayRate> = (0..days)
        .map(|i| DayRate {
            day: first.checked_add_days(Days::new(u64::from(i))),
            ..Default::default()
        })
        .collect();
    for t in tallies {
        if t.status != AppointmentStatus::Scheduled {
            continue;
        }
        let Some(slot) = out.get_mut(t.day) else { continue };
        slot.appointments += t.count;
        match t.reply {
            Reply::Confirmed => slot.confirmed += t.count,
            Reply::None => slot.no_answer += t.count,
            Reply::Cancelled | Reply::Reschedule => {}
        }
    }
    out
}

/// The first of the `days` days ending with `last`.
fn first_day(last: NaiveDate, days: u32) -> NaiveDate {
    last.checked_sub_days(Days::new(u64::from(days.saturating_sub(1)))).unwrap_or(last)
}

/// The instants the `days` days ending with `last` start in `zone`, and the end of the
/// last: the bounds [`crate::store::Store::tally_by_day`] counts between.
pub fn day_bounds(zone: Tz, last: NaiveDate, days: u32) -> Vec<chrono::DateTime<chrono::Utc>> {
    let first = first_day(last, days);
    (0..=days)
        .filter_map(|i| first.checked_add_days(Days::new(u64::from(i))))
        .map(|day| crate::domain::time::resolve_local(zone, day.and_time(chrono::NaiveTime::MIN)))
        .collect()
}

const WIDTH: f64 = 320.0;
const HEIGHT: f64 = 90.0;
const PAD: f64 = 6.0;

/// The chart as inline SVG, with a text alternative.
pub fn svg(rates: &[DayRate], language: crate::domain::Language) -> String {
    let n = rates.len().max(2) as f64;
    let x = |i: usize| PAD + (WIDTH - 2.0 * PAD) * i as f64 / (n - 1.0);
    let y = |share: f64| PAD + (HEIGHT - 2.0 * PAD) * (1.0 - share);
    let points = |part: fn(&DayRate) -> u32| {
        let mut out = String::new();
        for (i, r) in rates.iter().enumerate() {
            if let Some(share) = r.share(part(r)) {
                let _ = write!(out, "{:.1},{:.1} ", x(i), y(share));
            }
        }
        out.trim_end().to_string()
    };
    let total = |part: fn(&DayRate) -> u32| -> u32 { rates.iter().map(part).sum() };
    let all = total(|r| r.appointments);
    let percent =
        |n: u32| if all == 0 { 0 } else { (f64::from(n) * 100.0 / f64::from(all)).round() as u32 };
    let (days, confirmed, none) =
        (rates.len(), percent(total(|r| r.confirmed)), percent(total(|r| r.no_answer)));
    let summary = match language {
        crate::domain::Language::Nl => format!(
            "Laatste {days} dagen: {confirmed}% bevestigd, {none}% zonder antwoord ({all} {})",
            if all == 1 { "afspraak" } else { "afspraken" }
        ),
        crate::domain::Language::En => format!(
            "Last {days} days: {confirmed}% confirmed, {none}% without an answer ({all} {})",
            if all == 1 { "appointment" } else { "appointments" }
        ),
    };
    format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{summary}\">\
         <title>{summary}</title>\
         <line x1=\"{PAD}\" y1=\"{bottom}\" x2=\"{right}\" y2=\"{bottom}\" class=\"axis\"/>\
         <polyline class=\"confirmed\" points=\"{confirmed}\" fill=\"none\" stroke-width=\"2\"/>\
         <polyline class=\"none\" points=\"{none}\" fill=\"none\" stroke-width=\"2\" stroke-dasharray=\"4 3\"/>\
         {dots}</svg>",
        bottom = HEIGHT - PAD,
        right = WIDTH - PAD,
        confirmed = points(|r| r.confirmed),
        none = points(|r| r.no_answer),
        dots =
            dots("confirmed", &points(|r| r.confirmed)) + &dots("none", &points(|r| r.no_answer)),
    )
}

/// A dot on each point of a series, so a day alone (no line to draw) still shows.
fn dots(class: &str, points: &str) -> String {
    let mut out = String::new();
    for point in points.split_whitespace() {
        if let Some((x, y)) = point.split_once(',') {
            let _ = write!(
                out,
                "<circle class=\"{class}\" cx=\"{x}\" cy=\"{y}\" r=\"2.5\" fill=\"currentColor\"/>"
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One appointment on October `day` (the chart below ends on the 14th).
    fn row(day: u32, reply: Reply, status: AppointmentStatus) -> DayTally {
        DayTally { day: day as usize - 1, status, reply, count: 1 }
    }

    #[test]
    fn the_days_of_the_chart_start_at_local_midnight_also_when_the_clocks_change() {
        let last = NaiveDate::from_ymd_opt(2026, 10, 26).unwrap();
        let bounds = day_bounds(chrono_tz::Europe::Amsterdam, last, 14);
        assert_eq!(bounds.len(), 15, "14 days: their starts and the end of the last");
        assert_eq!(bounds[0].to_rfc3339(), "2026-10-12T22:00:00+00:00", "13 Oct, summer time");
        // Sunday 25 October lasts 25 hours
        assert_eq!(bounds[12].to_rfc3339(), "2026-10-24T22:00:00+00:00");
        assert_eq!(bounds[13].to_rfc3339(), "2026-10-25T23:00:00+00:00");
        assert_eq!(bounds[14].to_rfc3339(), "2026-10-26T23:00:00+00:00");
    }

    #[test]
    fn each_day_counts_the_appointments_that_took_place() {
        let rows = [
            row(13, Reply::Confirmed, AppointmentStatus::Scheduled),
            row(13, Reply::None, AppointmentStatus::Scheduled),
            row(13, Reply::None, AppointmentStatus::Cancelled),
            row(14, Reply::Reschedule, AppointmentStatus::Scheduled),
            // after the last day
            row(15, Reply::Confirmed, AppointmentStatus::Scheduled),
        ];
        let last = NaiveDate::from_ymd_opt(2026, 10, 14).unwrap();
        let rates = rates(&rows, last, 14);
        assert_eq!(rates.len(), 14);
        assert_eq!(rates[0].day, NaiveDate::from_ymd_opt(2026, 10, 1));
        assert_eq!(rates[0].appointments, 0, "the 1st is the first day, with nothing");
        let day13 = rates[12];
        assert_eq!((day13.appointments, day13.confirmed, day13.no_answer), (2, 1, 1));
        assert_eq!((rates[13].appointments, rates[13].confirmed), (1, 0));

        let english = svg(&rates, crate::domain::Language::En);
        assert!(
            english.contains("Last 14 days: 33% confirmed, 33% without an answer"),
            "{english}"
        );
        let svg = svg(&rates, crate::domain::Language::Nl);
        assert!(
            svg.contains("Laatste 14 dagen: 33% bevestigd, 33% zonder antwoord (3 afspraken)"),
            "{svg}"
        );
        // points only on days with appointments: two per series
        let confirmed = svg.split("class=\"confirmed\" points=\"").nth(1).unwrap();
        assert_eq!(confirmed.split('"').next().unwrap().split(' ').count(), 2, "{svg}");
        assert_eq!(svg.matches("<circle class=\"confirmed\"").count(), 2, "a dot per point: {svg}");
    }
}
