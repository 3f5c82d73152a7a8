//! Planning: which reminders an appointment gets, and when. A pure function of the
//! appointment, the rules, the work calendar and the current time; the store keeps one
//! row per planned reminder, including the ones decided against (with the reason), so
//! staff and `reminderd explain` can see why.
//!
//! For each rule that applies, in this order:
//! 1. the rule's moment (`24h` before, `1 day before at 18:00`, `2 working days before
//!    at 09:00`), which must lie before the start;
//! 2. a moment already passed: for an appointment just booked or moved (a *late
//!    booking*) the reminder goes at once, otherwise it is missed;
//! 3. the grace delay: nothing goes out sooner than `grace` after a booking or change;
//! 4. quiet hours: a time inside them moves to the edge the rule chooses, or to the
//!    other edge when that one is in the past or not before the appointment;
//! 5. a late reminder must still be at least `late_min_ahead` before the start, and any
//!    reminder at least the template's `ttl`, or it is not sent.

use std::fmt::Write as _;

use chrono::{DateTime, Days, Duration, NaiveTime, Utc};
use chrono_tz::Tz;

use super::{QuietHours, Rule, RuleSet, Toward, WorkCalendar};
use crate::domain::Appointment;
use crate::domain::time::{dutch_moment_short, resolve_local};

/// What planning needs besides the appointment: the rules and the business calendar.
#[derive(Clone, Copy, Debug)]
pub struct Planning<'a> {
    pub rules: &'a RuleSet,
    pub zone: Tz,
    pub workdays: &'a WorkCalendar,
}

impl Planning<'_> {
    /// A digest of everything planning depends on — the rules, the zone, the working
    /// days and this program's version — so a restart can tell whether the stored plan
    /// is still the one these would make.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let text = format!(
            "{}|{:?}|{}|{:?}",
            env!("CARGO_PKG_VERSION"),
            self.rules,
            self.zone,
            self.workdays
        );
        Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Why an appointment is being planned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Occasion {
    /// It was just booked, moved or edited: a reminder whose moment has passed is a
    /// late booking, and every reminder waits the rule's grace delay.
    Changed,
    /// Planned again without a change (at start-up, after the rules changed): a moment
    /// that has passed is missed, not sent late.
    Review,
}

/// One reminder for one appointment and rule, with the decision taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedReminder {
    pub rule: String,
    /// The start time it was planned for.
    pub appointment_start: DateTime<Utc>,
    /// At most one reminder per appointment, rule and start time is ever sent: a moved
    /// appointment gets its reminders again, an unchanged one never twice.
    pub dedup_key: String,
    pub decision: Decision,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send at `at`; `adjustments` say why that differs from the rule's moment.
    Send { at: DateTime<Utc>, adjustments: Vec<Adjustment> },
    /// Not sent, for this reason (in words, for staff).
    Skip { reason: String },
}

/// Why a reminder goes at another time than the rule's moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Adjustment {
    /// Booked after the rule's moment: sent at once.
    Late { moment: DateTime<Utc> },
    /// Held back until the grace delay after the change had passed.
    Grace { moment: DateTime<Utc> },
    /// Moved out of the quiet hours.
    QuietHours { from: DateTime<Utc>, quiet: QuietHours },
}

impl Adjustment {
    /// In words, with local times in `zone`.
    pub fn describe(&self, zone: Tz) -> String {
        let when = |t: &DateTime<Utc>| dutch_moment_short(*t, zone);
        match self {
            Adjustment::Late { moment } => {
                format!("booked after the rule's moment ({}): sent at once", when(moment))
            }
            Adjustment::Grace { moment } => {
                format!(
                    "held for the grace delay after a change (the rule's moment: {})",
                    when(moment)
                )
            }
            Adjustment::QuietHours { from, quiet } => {
                format!("moved out of the quiet hours {quiet} (was {})", when(from))
            }
        }
    }
}

impl PlannedReminder {
    /// The adjustments in words, for the store and for people; `None` when the reminder
    /// goes at the rule's moment or is not sent.
    pub fn note(&self, zone: Tz) -> Option<String> {
        let Decision::Send { adjustments, .. } = &self.decision else { return None };
        let mut note = String::new();
        for (i, a) in adjustments.iter().enumerate() {
            let _ = write!(note, "{}{}", if i > 0 { "; " } else { "" }, a.describe(zone));
        }
        (!note.is_empty()).then_some(note)
    }
}

/// The reminders `appointment` should have, as seen at `now`. Rules that do not apply
/// (conditions, `unless`, a moment not before the start) give nothing; those that apply
/// give a [`Decision`].
pub fn plan(
    appointment: &Appointment,
    planning: Planning<'_>,
    now: DateTime<Utc>,
    occasion: Occasion,
) -> Vec<PlannedReminder> {
    if !appointment.is_upcoming(now) {
        return Vec::new();
    }
    let start = appointment.starts_at;
    planning
        .rules
        .rules()
        .iter()
        .filter(|rule| rule.excludes(appointment).is_none())
        .filter_map(|rule| {
            let decision = match rule.moment(start, planning.zone, planning.workdays) {
                None => Decision::Skip {
                    reason: "the work calendar has no working day before the appointment".into(),
                },
                Some(moment) if moment >= start => return None,
                Some(moment) => decide(rule, moment, start, now, occasion, planning.zone),
            };
            Some(PlannedReminder {
                rule: rule.name.clone(),
                appointment_start: start,
                dedup_key: format!(
                    "reminder:{}:{}:{}",
                    appointment.id,
                    rule.name,
                    start.timestamp()
                ),
                decision,
            })
        })
        .collect()
}

fn decide(
    rule: &Rule,
    moment: DateTime<Utc>,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    occasion: Occasion,
    zone: Tz,
) -> Decision {
    let skip = |reason: String| Decision::Skip { reason };
    let earliest = match occasion {
        Occasion::Changed => now + duration(rule.grace),
        Occasion::Review => now,
    };
    let late = moment < now;
    let mut adjustments = Vec::new();
    let mut at = moment;
    if late {
        if occasion == Occasion::Review {
            return skip(format!(
                "its moment ({}) had passed when it was planned: the rule is newer than the moment",
                dutch_moment_short(moment, zone)
            ));
        }
        adjustments.push(Adjustment::Late { moment });
        at = earliest;
    } else if moment < earliest {
        adjustments.push(Adjustment::Grace { moment });
        at = earliest;
    }
    if let Some(quiet) = rule.quiet_hours {
        match outside_quiet_hours(quiet, at, start, earliest, zone) {
            Placement::Unchanged => {}
            Placement::Moved(to) => {
                adjustments.push(Adjustment::QuietHours { from: at, quiet });
                at = to;
            }
            Placement::Impossible => {
                return skip(format!(
                    "due in the quiet hours {quiet}, and neither of their edges lies between now and the appointment"
                ));
            }
        }
    }
    let ahead = start - at;
    if late && ahead < duration(rule.late_min_ahead) {
        return skip(format!(
            "booked too late: {} before the appointment, less than the {} a late reminder needs",
            minutes(ahead),
            humantime::format_duration(rule.late_min_ahead)
        ));
    }
    if let Some(ttl) = rule.ttl
        && ahead < duration(ttl)
    {
        return skip(format!(
            "{} before the appointment is less than the template's ttl of {}: WhatsApp could deliver it afterwards",
            minutes(ahead),
            humantime::format_duration(ttl)
        ));
    }
    Decision::Send { at, adjustments }
}

enum Placement {
    Unchanged,
    Moved(DateTime<Utc>),
    Impossible,
}

/// Where a reminder due at `at` goes when quiet hours apply: one of their edges that
/// lies in `[earliest, start)`, the preferred one first.
fn outside_quiet_hours(
    quiet: QuietHours,
    at: DateTime<Utc>,
    start: DateTime<Utc>,
    earliest: DateTime<Utc>,
    zone: Tz,
) -> Placement {
    let local = at.with_timezone(&zone);
    if !quiet.contains(local.time()) {
        return Placement::Unchanged;
    }
    let day = local.date_naive();
    let on = |day: chrono::NaiveDate, time: NaiveTime| resolve_local(zone, day.and_time(time));
    // the last start of the quiet hours before `at`, and the first end after it
    let mut earlier = on(day, quiet.from);
    if earlier > at {
        earlier = day.checked_sub_days(Days::new(1)).map_or(earlier, |d| on(d, quiet.from));
    }
    let mut later = on(day, quiet.to);
    if later < at {
        later = day.checked_add_days(Days::new(1)).map_or(later, |d| on(d, quiet.to));
    }
    let edges = match quiet.toward {
        Toward::Earlier => [earlier, later],
        Toward::Later => [later, earlier],
    };
    edges
        .into_iter()
        .find(|e| (earliest..start).contains(e))
        .map_or(Placement::Impossible, Placement::Moved)
}

fn duration(d: std::time::Duration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::MAX)
}

/// "95 min", "3 h 10 min": a span for people.
fn minutes(d: Duration) -> String {
    let m = d.num_minutes().max(0);
    if m < 120 { format!("{m} min") } else { format!("{} h {} min", m / 60, m % 60) }
}

#[cfg(test)]
mod tests;
