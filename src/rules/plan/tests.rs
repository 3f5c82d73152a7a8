//! Table tests of planning: the 2026 DST switches, working days and holidays, quiet
//! hours, late bookings and the grace delay.

use super::*;
use crate::domain::appointment::sample;
use crate::domain::{AppointmentStatus, Reply};

const AMS: Tz = chrono_tz::Europe::Amsterdam;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// A rule from its `when` and any further top-level keys.
fn rule(name: &str, when: &str, extra: &str) -> Rule {
    Rule::parse(
        name,
        &format!(
            "when = {when}\n{extra}\n[template]\nname = \"t\"\nlanguage = \"nl\"\nbody = [\"{{first_name}}\"]\n"
        ),
    )
    .unwrap_or_else(|e| panic!("{e:?}"))
}

fn appointment_at(start: &str) -> Appointment {
    let starts_at = at(start);
    Appointment { starts_at, ends_at: starts_at + Duration::minutes(30), ..sample() }
}

fn plan_with(
    rules: Vec<Rule>,
    appointment: &Appointment,
    now: &str,
    occasion: Occasion,
) -> Vec<PlannedReminder> {
    let rules = RuleSet::new(rules);
    let workdays = WorkCalendar::default();
    plan(appointment, Planning { rules: &rules, zone: AMS, workdays: &workdays }, at(now), occasion)
}

/// The one decision for one rule.
fn decision(r: Rule, start: &str, now: &str, occasion: Occasion) -> Decision {
    let planned = plan_with(vec![r], &appointment_at(start), now, occasion);
    assert_eq!(planned.len(), 1, "{planned:?}");
    planned.into_iter().next().unwrap().decision
}

fn sent_at(d: &Decision) -> DateTime<Utc> {
    match d {
        Decision::Send { at, .. } => *at,
        Decision::Skip { reason } => panic!("skipped: {reason}"),
    }
}

fn skip_reason(d: &Decision) -> &str {
    match d {
        Decision::Skip { reason } => reason,
        Decision::Send { at, .. } => panic!("sent at {at}"),
    }
}

const NO_QUIET: &str = "quiet_hours = { from = \"00:00\", to = \"00:00\" }";
const LONG_AGO: &str = "2026-01-01T00:00:00Z";

#[test]
fn calendar_and_working_day_offsets_across_the_2026_switches_and_holidays() {
    let evening = rule("avond", r#"{ days_before = 1, at = "18:00" }"#, NO_QUIET);
    let workday = rule("werkdag", r#"{ working_days_before = 1, at = "09:00" }"#, NO_QUIET);
    let two_workdays = rule("twee", r#"{ working_days_before = 2, at = "09:00" }"#, NO_QUIET);
    let two_hours = rule("kort", r#"{ before = "2h" }"#, NO_QUIET);
    let cases = [
        // (start, rule, due) — Wednesday 14 October 10:30 CEST
        ("2026-10-14T08:30:00Z", &evening, "2026-10-13T16:00:00Z"),
        ("2026-10-14T08:30:00Z", &workday, "2026-10-13T07:00:00Z"),
        // Monday 30 March 09:00 CEST, the day after the spring switch: Sunday 18:00 is
        // CEST, the Friday before is still CET
        ("2026-03-30T07:00:00Z", &evening, "2026-03-29T16:00:00Z"),
        ("2026-03-30T07:00:00Z", &workday, "2026-03-27T08:00:00Z"),
        ("2026-03-30T07:00:00Z", &two_hours, "2026-03-30T05:00:00Z"),
        // Monday 26 October 09:00 CET, after the autumn switch: Friday 23rd is CEST
        ("2026-10-26T08:00:00Z", &workday, "2026-10-23T07:00:00Z"),
        ("2026-10-26T08:00:00Z", &two_workdays, "2026-10-22T07:00:00Z"),
        ("2026-10-26T08:00:00Z", &evening, "2026-10-25T17:00:00Z"),
        // Tuesday 7 April, after Tweede Paasdag: Friday 3 April (Goede Vrijdag is open)
        ("2026-04-07T08:00:00Z", &workday, "2026-04-03T07:00:00Z"),
        // Friday 15 May, after Hemelvaartsdag: Wednesday 13 May
        ("2026-05-15T08:00:00Z", &workday, "2026-05-13T07:00:00Z"),
        // Monday 28 December: Kerst falls on Friday and Saturday, so Thursday 24th (CET)
        ("2026-12-28T08:00:00Z", &workday, "2026-12-24T08:00:00Z"),
    ];
    for (start, r, due) in cases {
        let d = decision(r.clone(), start, LONG_AGO, Occasion::Review);
        assert_eq!(sent_at(&d), at(due), "{} for {start}", r.name);
        assert_eq!(d, Decision::Send { at: at(due), adjustments: vec![] });
    }
}

#[test]
fn quiet_hours_move_a_reminder_to_the_chosen_edge_never_after_the_appointment() {
    let earlier = rule("kort", r#"{ before = "2h" }"#, "");
    let later = rule("kort", r#"{ before = "2h" }"#, r#"quiet_hours = { move = "later" }"#);
    let cases = [
        // (start, rule, due) — 09:00 CEST: 2h before is 07:00, inside 21:00–08:00
        ("2026-10-14T07:00:00Z", &earlier, "2026-10-13T19:00:00Z"),
        ("2026-10-14T07:00:00Z", &later, "2026-10-14T06:00:00Z"),
        // 07:30 CEST: 08:00 is after the start, so even "later" goes the evening before
        ("2026-10-14T05:30:00Z", &later, "2026-10-13T19:00:00Z"),
        // Sunday 25 October 09:00 CET (the autumn switch): 21:00 on Saturday is CEST,
        // 08:00 on Sunday is CET
        ("2026-10-25T08:00:00Z", &earlier, "2026-10-24T19:00:00Z"),
        ("2026-10-25T08:00:00Z", &later, "2026-10-25T07:00:00Z"),
        // Sunday 29 March 09:30 CEST (the spring switch): 07:30 is quiet; 21:00 on
        // Saturday is CET, 08:00 on Sunday CEST
        ("2026-03-29T07:30:00Z", &earlier, "2026-03-28T20:00:00Z"),
        ("2026-03-29T07:30:00Z", &later, "2026-03-29T06:00:00Z"),
        // 12:00: 2h before is 10:00, not quiet
        ("2026-10-14T10:00:00Z", &earlier, "2026-10-14T08:00:00Z"),
    ];
    for (start, r, due) in cases {
        let d = decision(r.clone(), start, LONG_AGO, Occasion::Review);
        assert_eq!(sent_at(&d), at(due), "{:?} for {start}", r.quiet_hours);
    }
    // a reminder exactly at an edge stays where it is
    let at_nine_pm = rule("avond", r#"{ days_before = 1, at = "21:00" }"#, "");
    let d = decision(at_nine_pm, "2026-10-14T08:30:00Z", LONG_AGO, Occasion::Review);
    assert_eq!(d, Decision::Send { at: at("2026-10-13T19:00:00Z"), adjustments: vec![] });
    // the move is recorded with the original time
    let d = decision(earlier, "2026-10-14T07:00:00Z", LONG_AGO, Occasion::Review);
    let Decision::Send { adjustments, .. } = &d else { panic!() };
    assert_eq!(
        adjustments,
        &vec![Adjustment::QuietHours {
            from: at("2026-10-14T05:00:00Z"),
            quiet: QuietHours::default()
        }]
    );
    assert_eq!(
        adjustments[0].describe(AMS),
        "moved out of the quiet hours 21:00–08:00 (was wo 14 okt 07:00)"
    );
}

#[test]
fn late_bookings_go_at_once_after_the_grace_delay_if_far_enough_ahead() {
    let day = rule("dag", r#"{ before = "24h" }"#, "");
    let start = "2026-10-14T08:30:00Z"; // Wednesday 10:30 CEST
    // booked Tuesday 19:00 CEST: the 24h moment (Tuesday 10:30) has passed
    let d = decision(day.clone(), start, "2026-10-13T17:00:00Z", Occasion::Changed);
    assert_eq!(
        d,
        Decision::Send {
            at: at("2026-10-13T17:10:00Z"),
            adjustments: vec![Adjustment::Late { moment: at("2026-10-13T08:30:00Z") }]
        }
    );
    // booked at 22:00: at once would be quiet; 21:00 has passed, so 08:00 the next day
    let d = decision(day.clone(), start, "2026-10-13T20:00:00Z", Occasion::Changed);
    assert_eq!(sent_at(&d), at("2026-10-14T06:00:00Z"));
    // booked 09:45 for 10:30: 35 minutes ahead (after the grace) is less than the hour
    let d = decision(day.clone(), start, "2026-10-14T07:45:00Z", Occasion::Changed);
    assert!(skip_reason(&d).contains("booked too late: 35 min"), "{d:?}");
    // a shorter minimum lets it through
    let short = rule("dag", r#"{ before = "24h" }"#, "late_min_ahead = \"30m\"");
    assert_eq!(
        sent_at(&decision(short, start, "2026-10-14T07:45:00Z", Occasion::Changed)),
        at("2026-10-14T07:55:00Z")
    );
    // booked at 23:30 for 07:45 the next morning: no edge of the quiet hours is both
    // ahead and before the appointment
    let d =
        decision(day.clone(), "2026-10-14T05:45:00Z", "2026-10-13T21:30:00Z", Occasion::Changed);
    assert!(skip_reason(&d).contains("quiet hours"), "{d:?}");
    // planned again without a change (a rule added later): missed, not sent late
    let d = decision(day, start, "2026-10-13T17:00:00Z", Occasion::Review);
    assert!(skip_reason(&d).contains("had passed"), "{d:?}");
}

#[test]
fn the_grace_delay_holds_back_reminders_of_a_fresh_change_only() {
    let day = rule("dag", r#"{ before = "24h" }"#, "");
    let start = "2026-10-14T08:30:00Z";
    // changed five minutes before the moment: held until ten minutes after the change
    let d = decision(day.clone(), start, "2026-10-13T08:25:00Z", Occasion::Changed);
    assert_eq!(
        d,
        Decision::Send {
            at: at("2026-10-13T08:35:00Z"),
            adjustments: vec![Adjustment::Grace { moment: at("2026-10-13T08:30:00Z") }]
        }
    );
    // without a change, or with the moment well ahead: the rule's moment
    let d = decision(day.clone(), start, "2026-10-13T08:25:00Z", Occasion::Review);
    assert_eq!(sent_at(&d), at("2026-10-13T08:30:00Z"));
    let d = decision(day, start, "2026-10-12T08:25:00Z", Occasion::Changed);
    assert_eq!(sent_at(&d), at("2026-10-13T08:30:00Z"));
    let quick = rule("dag", r#"{ before = "24h" }"#, "grace = \"0s\"");
    let d = decision(quick, start, "2026-10-13T08:25:00Z", Occasion::Changed);
    assert_eq!(sent_at(&d), at("2026-10-13T08:30:00Z"));
}

#[test]
fn conditions_and_unless_choose_the_appointments() {
    let rules = || {
        vec![
            rule("fysio", r#"{ before = "24h" }"#, "[match]\ncalendars = [\"Fysiotherapie\"]"),
            rule("intake", r#"{ before = "24h" }"#, "[match]\ntitle = \"(?i)intake\""),
            rule("tweede", r#"{ before = "2h" }"#, "unless = \"confirmed\""),
            rule(
                "elders",
                r#"{ before = "24h" }"#,
                "[match]\nlocations = [\"Oost\"]\nsources = [\"praktijk\"]",
            ),
        ]
    };
    let names = |a: &Appointment| -> Vec<String> {
        plan_with(rules(), a, LONG_AGO, Occasion::Review).into_iter().map(|p| p.rule).collect()
    };
    let a = appointment_at("2026-10-14T08:30:00Z");
    assert_eq!(names(&a), vec!["tweede"]);
    let fysio_intake = Appointment {
        calendar: "fysiotherapie".into(),
        summary: Some("Intake nieuwe patiënt".into()),
        location: Some("Oost".into()),
        ..a.clone()
    };
    assert_eq!(names(&fysio_intake), vec!["fysio", "intake", "tweede", "elders"]);
    let confirmed = Appointment { reply: Reply::Confirmed, ..a.clone() };
    assert!(names(&confirmed).is_empty());
    // the same checks, in words, for the dispatcher and `explain`
    let r = &rules()[0];
    assert_eq!(
        r.excludes(&a).as_deref(),
        Some("the rule does not apply: calendar `praktijk` is not one of Fysiotherapie")
    );
    assert_eq!(rules()[2].excludes(&confirmed).as_deref(), Some("the customer already confirmed"));
    // asking for another time is an answer too ("answered" is the same rule)
    let rescheduling = Appointment { reply: Reply::Reschedule, ..a.clone() };
    assert_eq!(
        rules()[2].excludes(&rescheduling).as_deref(),
        Some("the customer asked for another time")
    );
    let answered = rule("x", r#"{ before = "2h" }"#, "unless = \"answered\"");
    assert_eq!(answered.unless, rules()[2].unless);
    assert!(rules()[2].excludes(&a).is_none());
}

#[test]
fn a_ttl_longer_than_the_time_left_is_not_sent() {
    let r = rule("kort", r#"{ before = "2h" }"#, NO_QUIET);
    let with_ttl = Rule { ttl: Some(std::time::Duration::from_secs(3 * 3600)), ..r.clone() };
    let d = decision(with_ttl, "2026-10-14T08:30:00Z", LONG_AGO, Occasion::Review);
    assert!(skip_reason(&d).contains("ttl of 3h"), "{d:?}");
    let fits = Rule { ttl: Some(std::time::Duration::from_secs(3600)), ..r };
    assert_eq!(
        sent_at(&decision(fits, "2026-10-14T08:30:00Z", LONG_AGO, Occasion::Review)),
        at("2026-10-14T06:30:00Z")
    );
}

#[test]
fn moments_at_or_after_the_start_and_gone_appointments_plan_nothing() {
    let same_morning = rule("ochtend", r#"{ days_before = 0, at = "08:00" }"#, "");
    // a 07:30 appointment: 08:00 the same day is after it
    assert!(
        plan_with(
            vec![same_morning.clone()],
            &appointment_at("2026-10-14T05:30:00Z"),
            LONG_AGO,
            Occasion::Review
        )
        .is_empty()
    );
    assert_eq!(
        plan_with(
            vec![same_morning],
            &appointment_at("2026-10-14T08:30:00Z"),
            LONG_AGO,
            Occasion::Review
        )
        .len(),
        1
    );
    let r = || vec![rule("dag", r#"{ before = "24h" }"#, "")];
    let cancelled = Appointment { reply: Reply::Cancelled, ..sample() };
    assert!(plan_with(r(), &cancelled, LONG_AGO, Occasion::Changed).is_empty());
    let removed = Appointment { status: AppointmentStatus::Cancelled, ..sample() };
    assert!(plan_with(r(), &removed, LONG_AGO, Occasion::Changed).is_empty());
    assert!(plan_with(r(), &sample(), "2026-10-14T09:00:00Z", Occasion::Changed).is_empty());
}

#[test]
fn the_dedup_key_changes_with_the_start_time_only() {
    let r = || vec![rule("dag", r#"{ before = "24h" }"#, "")];
    let a = plan_with(r(), &sample(), LONG_AGO, Occasion::Review);
    let again = plan_with(r(), &sample(), "2026-02-01T00:00:00Z", Occasion::Changed);
    assert_eq!(a[0].dedup_key, again[0].dedup_key);
    let moved = Appointment { starts_at: sample().starts_at + Duration::hours(1), ..sample() };
    let b = plan_with(r(), &moved, LONG_AGO, Occasion::Review);
    assert_ne!(a[0].dedup_key, b[0].dedup_key);
}

#[test]
fn the_note_says_every_adjustment() {
    let day = rule("dag", r#"{ before = "24h" }"#, "");
    let planned = plan_with(
        vec![day],
        &appointment_at("2026-10-14T08:30:00Z"),
        "2026-10-13T20:00:00Z",
        Occasion::Changed,
    );
    assert_eq!(
        planned[0].note(AMS).as_deref(),
        Some(
            "booked after the rule's moment (di 13 okt 10:30): sent at once; \
             moved out of the quiet hours 21:00–08:00 (was di 13 okt 22:10)"
        )
    );
    let calm = plan_with(
        vec![rule("dag", r#"{ before = "24h" }"#, "")],
        &sample(),
        LONG_AGO,
        Occasion::Review,
    );
    assert_eq!(calm[0].note(AMS), None);
}
