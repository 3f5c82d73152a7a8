use super::*;
use crate::domain::Appointment;

const AMS: Tz = chrono_tz::Europe::Amsterdam;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

const EVENING_BEFORE: &str = r#"
description = "De avond voor de afspraak"
when = { days_before = 1, at = "18:00" }
[template]
name = "afspraak_herinnering"
language = "nl"
body = ["{first_name}", "{date}", "{time}", "{location}"]
buttons = ["confirm", "cancel", "reschedule"]
defaults = { first_name = "daar" }
"#;

fn rule(text: &str) -> Rule {
    Rule::parse("test", text).unwrap_or_else(|e| panic!("{e:?}"))
}

fn appointment() -> Appointment {
    crate::domain::appointment::sample()
}

#[test]
fn calendar_offsets_land_on_local_time_across_the_2026_switches() {
    let evening = rule(EVENING_BEFORE);
    let two_hours = rule(
        &EVENING_BEFORE.replace(r#"{ days_before = 1, at = "18:00" }"#, r#"{ before = "2h" }"#),
    );
    let cases = [
        // (appointment start, due for "1 day before at 18:00", due for "2h before")
        // an ordinary summer day: 18:00 CEST is 16:00 UTC
        ("2026-10-14T08:30:00Z", "2026-10-13T16:00:00Z", "2026-10-14T06:30:00Z"),
        // Monday after the spring switch: Sunday 29 March 18:00 is already CEST
        ("2026-03-30T07:00:00Z", "2026-03-29T16:00:00Z", "2026-03-30T05:00:00Z"),
        // on the switch day itself, 10:00 CEST; the day before (28 March) is CET
        ("2026-03-29T08:00:00Z", "2026-03-28T17:00:00Z", "2026-03-29T06:00:00Z"),
        // Monday after the autumn switch: Sunday 25 October 18:00 is CET
        ("2026-10-26T08:00:00Z", "2026-10-25T17:00:00Z", "2026-10-26T06:00:00Z"),
        // 09:00 CET on 25 October: 2h before is 06:00 UTC = 07:00 CET, exact elapsed time
        ("2026-10-25T08:00:00Z", "2026-10-24T16:00:00Z", "2026-10-25T06:00:00Z"),
    ];
    for (start, evening_due, two_hours_due) in cases {
        assert_eq!(
            evening.moment(utc(start), AMS, &WorkCalendar::default()).unwrap(),
            utc(evening_due),
            "evening before {start}"
        );
        assert_eq!(
            two_hours.moment(utc(start), AMS, &WorkCalendar::default()).unwrap(),
            utc(two_hours_due),
            "2h before {start}"
        );
    }
}

#[test]
fn a_reminder_at_a_time_that_does_not_exist_moves_forward_by_the_gap() {
    let at_0230 = rule(&EVENING_BEFORE.replace("18:00", "02:30"));
    // appointment Monday 30 March; the day before is the switch day, 02:30 does not exist
    assert_eq!(
        at_0230.moment(utc("2026-03-30T08:00:00Z"), AMS, &WorkCalendar::default()).unwrap(),
        utc("2026-03-29T01:30:00Z")
    );
    // appointment Monday 26 October; 02:30 on 25 October happens twice: the first one
    assert_eq!(
        at_0230.moment(utc("2026-10-26T08:00:00Z"), AMS, &WorkCalendar::default()).unwrap(),
        utc("2026-10-25T00:30:00Z")
    );
}

#[test]
fn a_rule_renders_dutch_parameters_and_buttons() {
    let rendered = rule(EVENING_BEFORE).render(&ctx(&appointment())).unwrap();
    assert_eq!(rendered.name, "afspraak_herinnering");
    assert_eq!(rendered.language, "nl");
    assert_eq!(
        rendered.params,
        TemplateParams::Positional(vec![
            "Sanne".into(),
            "woensdag 14 oktober".into(),
            "10:30".into(),
            "Praktijk De Linde".into()
        ])
    );
    assert_eq!(rendered.buttons, vec![Action::Confirm, Action::Cancel, Action::Reschedule]);
}

fn ctx(a: &Appointment) -> RenderContext<'_> {
    RenderContext {
        appointment: a,
        zone: AMS,
        practice: "Praktijk De Linde",
        default_location: None,
    }
}

#[test]
fn missing_values_take_the_rule_default_or_fail_clearly() {
    let nameless =
        Appointment { customer_name: None, location: None, summary: None, ..appointment() };
    let r = rule(&EVENING_BEFORE.replace("{time}", "{time} ({summary})"));
    let err = r.render(&ctx(&nameless)).unwrap_err();
    // first_name has a default; summary has none
    assert_eq!(err, RenderError::Missing(Placeholder::Summary));
    assert!(err.to_string().contains("summary"), "{err}");

    let r = rule(EVENING_BEFORE);
    let rendered = r.render(&ctx(&nameless)).unwrap();
    let TemplateParams::Positional(p) = rendered.params else { panic!("positional") };
    assert_eq!(p[0], "daar");
    // no location anywhere: the practice
    assert_eq!(p[3], "Praktijk De Linde");
    let with_default =
        RenderContext { default_location: Some("De Linde, Utrecht"), ..ctx(&nameless) };
    let TemplateParams::Positional(p) = r.render(&with_default).unwrap().params else { panic!() };
    assert_eq!(p[3], "De Linde, Utrecht");
}

#[test]
fn parameter_values_lose_new_lines_tabs_and_long_runs_of_spaces() {
    let messy =
        Appointment { location: Some("Praktijk\nDe\tLinde      Oost ".into()), ..appointment() };
    let rendered = rule(EVENING_BEFORE).render(&ctx(&messy)).unwrap();
    let TemplateParams::Positional(p) = rendered.params else { panic!("positional") };
    assert_eq!(p[3], "Praktijk De Linde Oost");
}

#[test]
fn named_parameters_are_supported() {
    let text = EVENING_BEFORE.replace(
        r#"body = ["{first_name}", "{date}", "{time}", "{location}"]"#,
        r#"body = { naam = "{first_name}", moment = "{date} om {time}" }"#,
    );
    let rendered = rule(&text).render(&ctx(&appointment())).unwrap();
    assert_eq!(
        rendered.params,
        TemplateParams::Named(vec![
            ("moment".into(), "woensdag 14 oktober om 10:30".into()),
            ("naam".into(), "Sanne".into()),
        ])
    );
}

#[test]
fn a_header_parameter_is_rendered_like_the_body() {
    let text = format!("{EVENING_BEFORE}header = \"{{date_short}}\"\n");
    let rendered = rule(&text).render(&ctx(&appointment())).unwrap();
    assert_eq!(rendered.header, Some(TemplateParams::Positional(vec!["wo 14 okt".into()])));
    assert_eq!(rule(EVENING_BEFORE).render(&ctx(&appointment())).unwrap().header, None);
}

const DEFINITION: &str = r#"
[template.definition]
header = "Afspraak {{1}}"
body = "Hallo {{1}}, je afspraak is op {{2}} om {{3}} bij {{4}}. Kun je erbij zijn?"
footer = "Praktijk De Linde"
buttons = ["Ja, ik kom", "Annuleren", "Verzetten"]
"#;

#[test]
fn a_template_definition_must_fit_the_rule_and_metas_limits() {
    let with_header =
        EVENING_BEFORE.replace("[template]\n", "[template]\nheader = \"{date_short}\"\n");
    let good = rule(&format!("{with_header}{DEFINITION}"));
    assert_eq!(good.definition.as_ref().unwrap().buttons.len(), 3);
    let cases = [
        (
            DEFINITION.replace("bij {{4}}", "bij de praktijk"),
            "but the rule fills {{1}}, {{2}}, {{3}}, {{4}}",
        ),
        (
            DEFINITION.replace("\"Verzetten\"", "\"Een nieuwe tijd kiezen alstublieft\""),
            "1 to 25 characters",
        ),
        (DEFINITION.replace(", \"Verzetten\"", ""), "2 labels for the 3 buttons"),
        (DEFINITION.replace("Hallo {{1}}", "{{1}}"), "may not start or end"),
        (DEFINITION.replace("om {{3}}", "{{3}}"), "next to each other"),
        (DEFINITION.replace("Afspraak {{1}}", "Afspraak"), "header: has the placeholders none"),
        (
            DEFINITION.replace("footer = \"Praktijk De Linde\"", "footer = \"{{1}}\""),
            "a footer has no placeholders",
        ),
        (
            DEFINITION.replace("Praktijk De Linde\"", &format!("{}\"", "x".repeat(61))),
            "footer: longer than the 60",
        ),
    ];
    for (definition, expected) in cases {
        let errors =
            Rule::parse("test", &format!("{with_header}{definition}")).expect_err(expected);
        assert!(errors.iter().any(|e| e.contains(expected)), "`{expected}` in {errors:?}");
    }
}

#[test]
fn bad_rule_files_name_every_problem() {
    let cases = [
        (EVENING_BEFORE.replace("18:00", "6pm"), "when.at"),
        (
            EVENING_BEFORE
                .replace(r#"{ days_before = 1, at = "18:00" }"#, r#"{ days_before = 1 }"#),
            "needs a time of day",
        ),
        (
            EVENING_BEFORE.replace(
                r#"{ days_before = 1, at = "18:00" }"#,
                r#"{ before = "24h", days_before = 1, at = "18:00" }"#,
            ),
            "when must be",
        ),
        (
            EVENING_BEFORE
                .replace(r#"{ days_before = 1, at = "18:00" }"#, r#"{ before = "soon" }"#),
            "expected a duration",
        ),
        (EVENING_BEFORE.replace("{first_name}", "{voornaam}"), "`{voornaam}` is not a placeholder"),
        (EVENING_BEFORE.replace("\"reschedule\"", "\"maybe\""), "`maybe` is not an action"),
        (EVENING_BEFORE.replace("\"reschedule\"", "\"confirm\""), "appears twice"),
        (EVENING_BEFORE.replace("afspraak_herinnering", "Afspraak Herinnering"), "template.name"),
        (
            EVENING_BEFORE.replace("first_name = \"daar\"", "voornaam = \"daar\""),
            "template.defaults",
        ),
        (EVENING_BEFORE.replace("{time}", "{time"), "without a closing"),
        (format!("{EVENING_BEFORE}\nsend_at = 3\n"), "unknown field"),
        (
            EVENING_BEFORE.replace("days_before = 1,", "working_days_before = 0,"),
            "working_days_before must be at least 1",
        ),
        (
            EVENING_BEFORE
                .replace("\n[template]", "\nquiet_hours = { move = \"sideways\" }\n[template]"),
            "quiet_hours.move",
        ),
        (
            EVENING_BEFORE.replace("\n[template]", "\nquiet_hours = { from = \"22\" }\n[template]"),
            "quiet_hours.from",
        ),
        (EVENING_BEFORE.replace("\n[template]", "\nunless = \"maybe\"\n[template]"), "unless"),
        (
            EVENING_BEFORE.replace("\n[template]", "\n[match]\ntitle = \"(intake\"\n[template]"),
            "match.title",
        ),
        (
            EVENING_BEFORE.replace("\n[template]", "\n[match]\ncalendars = [\"\"]\n[template]"),
            "match.calendars",
        ),
        (format!("{EVENING_BEFORE}ttl = \"1d\"\n"), "template.ttl"),
        (
            format!("{EVENING_BEFORE}header = {{ a = \"{{date}}\", b = \"{{time}}\" }}\n"),
            "exactly one",
        ),
        (format!("{EVENING_BEFORE}header = {{ a = \"{{date}}\" }}\n"), "both be positional"),
        (format!("{EVENING_BEFORE}header = \"{{datum}}\"\n"), "template.header"),
    ];
    for (text, expected) in cases {
        let errors = Rule::parse("test", &text).expect_err(expected);
        assert!(errors.iter().any(|e| e.contains(expected)), "expected `{expected}` in {errors:?}");
    }
}

#[test]
fn a_rule_folder_reports_the_file_of_each_problem() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.toml"), EVENING_BEFORE).unwrap();
    std::fs::write(dir.path().join("bad.toml"), EVENING_BEFORE.replace("18:00", "25:00")).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a rule").unwrap();
    let err = RuleSet::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("bad.toml") && err.contains("25:00"), "{err}");
    assert!(!err.contains("good.toml"), "{err}");

    std::fs::remove_file(dir.path().join("bad.toml")).unwrap();
    let set = RuleSet::load(dir.path()).unwrap();
    assert_eq!(set.names(), vec!["good"]);

    let empty = tempfile::tempdir().unwrap();
    let err = RuleSet::load(empty.path()).unwrap_err().to_string();
    assert!(err.contains("no rule files"), "{err}");
}

#[test]
fn the_shipped_rules_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("reminder-rules");
    let set = RuleSet::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert!(!set.rules().is_empty());
    for r in set.rules() {
        r.render(&ctx(&appointment())).unwrap_or_else(|e| panic!("{}: {e}", r.name));
    }
}

#[test]
fn the_rule_shown_in_the_readme_is_valid() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find("```toml\ndescription = ").expect("the README shows a rule file")
        + "```toml\n".len();
    let text = &readme[start..start + readme[start..].find("```").unwrap()];
    let r = Rule::parse("voorbeeld", text).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(r.definition.is_some() && r.header.is_some() && r.ttl.is_some());
    assert_eq!(r.unless, Some(Unless::Answered));
}

#[test]
fn a_rule_names_its_channels_or_gets_both() {
    assert_eq!(rule(EVENING_BEFORE).channels, Channel::DEFAULT.to_vec());
    let with = |list: &str| {
        EVENING_BEFORE.replace("[template]", &format!("channels = {list}\n[template]"))
    };
    assert_eq!(rule(&with(r#"["email"]"#)).channels, vec![Channel::Email]);
    assert_eq!(
        rule(&with(r#"["email", "whatsapp"]"#)).channels,
        vec![Channel::Email, Channel::Whatsapp]
    );
    for (list, problem) in [
        (r#"["sms"]"#, "channels: `sms` is not a channel (whatsapp or email)"),
        (r#"["email", "email"]"#, "channels: `email` is named twice"),
        ("[]", "channels: name at least one (\"whatsapp\", \"email\")"),
    ] {
        let problems = Rule::parse("test", &with(list)).unwrap_err();
        assert_eq!(problems, vec![problem.to_string()], "{list}");
    }
}
