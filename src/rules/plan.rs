//! Planning: which reminders an appointment gets. A pure function of the appointment,
//! the rules and the current time; the store keeps one row per planned reminder.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::RuleSet;
use crate::domain::Appointment;

/// One reminder to enqueue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedReminder {
    pub rule: String,
    pub due_at: DateTime<Utc>,
    /// The start time it was planned for.
    pub appointment_start: DateTime<Utc>,
    /// At most one reminder per appointment, rule and start time is ever sent: a moved
    /// appointment gets its reminders again, an unchanged one never twice.
    pub dedup_key: String,
}

/// The reminders `appointment` should have, as seen at `now`.
///
/// A reminder whose moment lies more than `grace` in the past is not planned: an
/// appointment booked (or a rule added) after the moment does not get a late reminder.
/// A reminder due at or after the start is never planned.
pub fn plan(
    appointment: &Appointment,
    rules: &RuleSet,
    now: DateTime<Utc>,
    zone: Tz,
    grace: Duration,
) -> Vec<PlannedReminder> {
    if !appointment.is_upcoming(now) {
        return Vec::new();
    }
    let start = appointment.starts_at;
    rules
        .rules()
        .iter()
        .filter_map(|rule| {
            let due_at = rule.due_at(start, zone);
            (due_at < start && due_at >= now - grace).then(|| PlannedReminder {
                rule: rule.name.clone(),
                due_at,
                appointment_start: start,
                dedup_key: format!(
                    "reminder:{}:{}:{}",
                    appointment.id,
                    rule.name,
                    start.timestamp()
                ),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::appointment::sample;
    use crate::domain::{AppointmentStatus, Reply};
    use crate::rules::Rule;

    const AMS: Tz = chrono_tz::Europe::Amsterdam;

    fn rules() -> RuleSet {
        let rule = |name: &str, when: &str| {
            Rule::parse(
                name,
                &format!(
                    "when = {when}\n[template]\nname = \"t\"\nlanguage = \"nl\"\nbody = [\"{{first_name}}\"]\n"
                ),
            )
            .unwrap()
        };
        RuleSet::new(vec![
            rule("dag", r#"{ before = "24h" }"#),
            rule("avond", r#"{ days_before = 1, at = "18:00" }"#),
            rule("kort", r#"{ before = "2h" }"#),
        ])
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn planned(now: &str) -> Vec<(String, DateTime<Utc>)> {
        plan(&sample(), &rules(), at(now), AMS, Duration::minutes(15))
            .into_iter()
            .map(|p| (p.rule, p.due_at))
            .collect()
    }

    #[test]
    fn every_rule_is_planned_well_ahead_of_the_appointment() {
        // the sample starts 2026-10-14T08:30Z (10:30 CEST)
        assert_eq!(
            planned("2026-10-01T00:00:00Z"),
            vec![
                ("dag".into(), at("2026-10-13T08:30:00Z")),
                ("avond".into(), at("2026-10-13T16:00:00Z")),
                ("kort".into(), at("2026-10-14T06:30:00Z")),
            ]
        );
    }

    #[test]
    fn a_late_booking_gets_only_the_reminders_still_ahead() {
        // booked the evening before at 19:00 CEST: the 24h and 18:00 moments have passed
        assert_eq!(
            planned("2026-10-13T17:00:00Z"),
            vec![("kort".into(), at("2026-10-14T06:30:00Z"))]
        );
        // ...but a moment just passed (within the grace) is still planned
        assert_eq!(planned("2026-10-13T16:10:00Z").len(), 2);
    }

    #[test]
    fn cancelled_or_past_appointments_get_nothing() {
        let now = at("2026-10-01T00:00:00Z");
        let cancelled = Appointment { reply: Reply::Cancelled, ..sample() };
        assert!(plan(&cancelled, &rules(), now, AMS, Duration::minutes(15)).is_empty());
        let removed = Appointment { status: AppointmentStatus::Cancelled, ..sample() };
        assert!(plan(&removed, &rules(), now, AMS, Duration::minutes(15)).is_empty());
        assert!(planned("2026-10-14T09:00:00Z").is_empty());
    }

    #[test]
    fn the_dedup_key_changes_with_the_start_time_only() {
        let now = at("2026-10-01T00:00:00Z");
        let a = plan(&sample(), &rules(), now, AMS, Duration::minutes(15));
        let again = plan(&sample(), &rules(), now + Duration::hours(1), AMS, Duration::minutes(15));
        assert_eq!(a, again);
        let moved = Appointment { starts_at: sample().starts_at + Duration::hours(1), ..sample() };
        let b = plan(&moved, &rules(), now, AMS, Duration::minutes(15));
        assert_ne!(a[0].dedup_key, b[0].dedup_key);
    }
}
