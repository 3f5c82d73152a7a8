use chrono::NaiveDate;

use super::*;

fn local(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// The feed text of one VTIMEZONE.
fn zone(tzid: &str, observances: &str) -> String {
    format!("BEGIN:VTIMEZONE\nTZID:{tzid}\n{observances}END:VTIMEZONE\n")
}

fn read(text: &str) -> Zones {
    Zones::read([text])
}

/// Central European time as Outlook writes it (rules since 1601).
const OUTLOOK_CET: &str = "BEGIN:STANDARD\nDTSTART:16010101T030000\nTZOFFSETFROM:+0200\n\
    TZOFFSETTO:+0100\nRRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\nEND:STANDARD\n\
    BEGIN:DAYLIGHT\nDTSTART:16010101T020000\nTZOFFSETFROM:+0100\nTZOFFSETTO:+0200\n\
    RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\nEND:DAYLIGHT\n";

/// New Zealand: summer from the last Sunday of September to the first of April.
const OUTLOOK_NZ: &str = "BEGIN:STANDARD\nDTSTART:16010101T030000\nTZOFFSETFROM:+1300\n\
    TZOFFSETTO:+1200\nRRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=1SU;BYMONTH=4\nEND:STANDARD\n\
    BEGIN:DAYLIGHT\nDTSTART:16010101T020000\nTZOFFSETFROM:+1200\nTZOFFSETTO:+1300\n\
    RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=9\nEND:DAYLIGHT\n";

#[test]
fn a_central_european_zone_resolves_the_2026_switches() {
    let zones = read(&zone("Customized Time Zone", OUTLOOK_CET));
    let cet = zones.get("Customized Time Zone").unwrap().unwrap();
    let cases = [
        ("2026-01-15 10:30", "2026-01-15T09:30:00Z"),
        ("2026-07-15 10:30", "2026-07-15T08:30:00Z"),
        // 29 March: 02:00-03:00 does not exist; 02:30 is read with +01:00 (03:30 CEST)
        ("2026-03-29 01:59", "2026-03-29T00:59:00Z"),
        ("2026-03-29 02:30", "2026-03-29T01:30:00Z"),
        ("2026-03-29 03:00", "2026-03-29T01:00:00Z"),
        // 25 October: 02:00-03:00 happens twice; the earlier (CEST) one is meant
        ("2026-10-25 01:59", "2026-10-24T23:59:00Z"),
        ("2026-10-25 02:30", "2026-10-25T00:30:00Z"),
        ("2026-10-25 03:00", "2026-10-25T02:00:00Z"),
    ];
    for (wall, expected) in cases {
        assert_eq!(cet.resolve(local(wall)), utc(expected), "{wall}");
    }
    assert_eq!(cet.local(utc("2026-03-29T01:00:00Z")), local("2026-03-29 03:00"));
    assert_eq!(cet.local(utc("2026-10-25T01:00:00Z")), local("2026-10-25 02:00"));
}

#[test]
fn a_southern_zone_has_summer_across_new_year() {
    let zones = read(&zone("New Zealand Standard Time", OUTLOOK_NZ));
    let nz = zones.get("New Zealand Standard Time").unwrap().unwrap();
    let cases = [
        ("2026-01-15 09:00", "2026-01-14T20:00:00Z"), // NZDT +13
        ("2026-07-15 09:00", "2026-07-14T21:00:00Z"), // NZST +12
        // 5 April 2026, 03:00 NZDT back to 02:00: 02:30 twice, the earlier is meant
        ("2026-04-05 02:30", "2026-04-04T13:30:00Z"),
        ("2026-04-05 03:00", "2026-04-04T15:00:00Z"),
        // 27 September 2026, 02:00 NZST forward to 03:00: 02:30 moves to 03:30
        ("2026-09-27 02:30", "2026-09-26T14:30:00Z"),
        ("2026-09-27 03:00", "2026-09-26T14:00:00Z"),
    ];
    for (wall, expected) in cases {
        assert_eq!(nz.resolve(local(wall)), utc(expected), "{wall}");
    }
}

#[test]
fn rules_agree_with_the_iana_zone_they_describe() {
    use crate::domain::time::resolve_local;
    let zones = read(&zone("Customized Time Zone", OUTLOOK_CET));
    let cet = zones.get("Customized Time Zone").unwrap().unwrap();
    let berlin = chrono_tz::Europe::Berlin;
    // every quarter hour of two years, switches included
    let mut wall = local("2025-01-01 00:00");
    while wall < local("2027-01-01 00:00") {
        assert_eq!(cet.resolve(wall), resolve_local(berlin, wall), "{wall}");
        wall += Duration::minutes(15);
    }
}

#[test]
fn one_off_onsets_and_the_time_before_the_first_one() {
    // icalendar issue 722: +10 until 2024-01-01, +12 until 5 May 08:00, then +10 again
    let zones = read(&zone(
        "MyTimezone",
        "BEGIN:STANDARD\nTZOFFSETFROM:+1000\nTZOFFSETTO:+1200\nDTSTART:20240101T000000\n\
         END:STANDARD\nBEGIN:DAYLIGHT\nTZOFFSETFROM:+1200\nTZOFFSETTO:+1000\n\
         DTSTART:20240505T080000\nEND:DAYLIGHT\n",
    ));
    let z = zones.get("MyTimezone").unwrap().unwrap();
    let cases = [
        ("2023-12-31 12:00", "2023-12-31T02:00:00Z"),
        ("2024-03-03 08:00", "2024-03-02T20:00:00Z"),
        // 06:00-08:00 on 5 May happens twice: the earlier, at +12
        ("2024-05-05 07:00", "2024-05-04T19:00:00Z"),
        ("2024-05-05 08:00", "2024-05-04T22:00:00Z"),
        ("2024-08-03 08:00", "2024-08-02T22:00:00Z"),
    ];
    for (wall, expected) in cases {
        assert_eq!(z.resolve(local(wall)), utc(expected), "{wall}");
    }
}

#[test]
fn rdates_until_and_a_constant_zone() {
    let zones = Zones::read(
        [
            zone(
                "Old rules",
                "BEGIN:STANDARD\nDTSTART:19961027T030000\nTZOFFSETFROM:+0200\nTZOFFSETTO:+0100\n\
             RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU;UNTIL=20101031T010000Z\nEND:STANDARD\n\
             BEGIN:DAYLIGHT\nDTSTART:19810329T020000\nTZOFFSETFROM:+0100\nTZOFFSETTO:+0200\n\
             RDATE:19810329T020000,20110327T020000\nEND:DAYLIGHT\n",
            ),
            zone(
                "(UTC+07:00) Bangkok\\, Hanoi\\, Jakarta",
                "BEGIN:STANDARD\nDTSTART:16010101T000000\nTZOFFSETFROM:+0700\nTZOFFSETTO:+0700\n\
             END:STANDARD\n",
            ),
        ]
        .iter()
        .map(String::as_str),
    );
    let old = zones.get("Old rules").unwrap().unwrap();
    // winter 2009 by the rule; after 27 March 2011 summer time for good (UNTIL ended
    // the autumn rule in 2010)
    assert_eq!(old.offset_at(utc("2009-12-01T00:00:00Z")), 3600);
    assert_eq!(old.offset_at(utc("2011-01-01T00:00:00Z")), 3600);
    assert_eq!(old.offset_at(utc("2026-12-01T00:00:00Z")), 7200);
    let bangkok = zones.get("(UTC+07:00) Bangkok, Hanoi, Jakarta").unwrap().unwrap();
    assert_eq!(bangkok.resolve(local("2019-04-30 09:00")), utc("2019-04-30T02:00:00Z"));
}

#[test]
fn the_first_definition_of_a_tzid_counts() {
    let first = zone(
        "Z",
        "BEGIN:STANDARD\nDTSTART:20000101T000000\nTZOFFSETFROM:+0300\nTZOFFSETTO:+0300\nEND:STANDARD\n",
    );
    let second = zone(
        "Z",
        "BEGIN:STANDARD\nDTSTART:20000101T000000\nTZOFFSETFROM:+0500\nTZOFFSETTO:+0500\nEND:STANDARD\n",
    );
    let zones = Zones::read([first.as_str(), second.as_str()]);
    assert_eq!(zones.get("Z").unwrap().unwrap().offset_at(utc("2026-01-01T00:00:00Z")), 10_800);
}

#[test]
fn definitions_this_module_cannot_read_say_why() {
    let cases = [
        (
            "BEGIN:STANDARD\nDTSTART:20000101T000000\nTZOFFSETTO:+0100\nEND:STANDARD\n",
            "TZOFFSETFROM",
        ),
        (
            "BEGIN:STANDARD\nDTSTART:20000101T000000\nTZOFFSETFROM:1\nTZOFFSETTO:+0100\nEND:STANDARD\n",
            "UTC offset",
        ),
        (
            "BEGIN:STANDARD\nDTSTART:20000101T000000\nTZOFFSETFROM:+2500\nTZOFFSETTO:+0100\nEND:STANDARD\n",
            "UTC offset",
        ),
        (
            "BEGIN:STANDARD\nDTSTART:20000101T000000\nTZOFFSETFROM:+0200\nTZOFFSETTO:+0100\nRRULE:FREQ=MONTHLY\nEND:STANDARD\n",
            "RRULE",
        ),
        (
            "BEGIN:STANDARD\nDTSTART:20000101T000000\nTZOFFSETFROM:+0200\nTZOFFSETTO:+0100\nRRULE:FREQ=YEARLY;COUNT=3\nEND:STANDARD\n",
            "RRULE",
        ),
        (
            "BEGIN:STANDARD\nDTSTART:20000101T000000\nTZOFFSETFROM:+0200\nTZOFFSETTO:+0100\nRRULE:FREQ=YEARLY;BYDAY=9SU\nEND:STANDARD\n",
            "RRULE",
        ),
        (
            "BEGIN:STANDARD\nDTSTART:junk\nTZOFFSETFROM:+0200\nTZOFFSETTO:+0100\nEND:STANDARD\n",
            "junk",
        ),
        ("X-NOTHING:here\n", "no STANDARD or DAYLIGHT"),
    ];
    for (observances, why) in cases {
        let zones = read(&zone("Bad", observances));
        let err = zones.get("Bad").unwrap().unwrap_err();
        assert!(err.contains(why), "{observances}: {err}");
    }
    assert!(read(&zone("", OUTLOOK_CET)).get("").is_none());
}

#[test]
fn weekday_rules_pick_the_right_day() {
    let rule = parse_rule("FREQ=YEARLY;BYMONTH=3,10;BYDAY=-1SU", 0).unwrap();
    let start = local("1601-01-01 02:00");
    let days: Vec<NaiveDate> = rule.onsets_in(2026, start).iter().map(|t| t.date()).collect();
    assert_eq!(
        days,
        [
            NaiveDate::from_ymd_opt(2026, 3, 29).unwrap(),
            NaiveDate::from_ymd_opt(2026, 10, 25).unwrap()
        ]
    );
    let second = parse_rule("FREQ=YEARLY;BYMONTH=3;BYDAY=2SU", 0).unwrap();
    assert_eq!(
        second.onsets_in(2026, start)[0].date(),
        NaiveDate::from_ymd_opt(2026, 3, 8).unwrap()
    );
    // the US form before 2007: the Sunday among the 8th to the 14th
    let us = parse_rule("FREQ=YEARLY;BYMONTH=3;BYDAY=SU;BYMONTHDAY=8,9,10,11,12,13,14", 0).unwrap();
    assert_eq!(us.onsets_in(2026, start)[0].date(), NaiveDate::from_ymd_opt(2026, 3, 8).unwrap());
}

#[test]
fn times_outside_the_cached_years_follow_the_same_rules() {
    let zones = read(&zone("Customized Time Zone", OUTLOOK_CET));
    let cet = zones.get("Customized Time Zone").unwrap().unwrap();
    let cases = [
        // the last Sunday of March 1850 was the 31st, of October 1850 the 27th
        ("1850-03-31 03:30", "1850-03-31T01:30:00Z"),
        ("1850-10-27 02:30", "1850-10-27T00:30:00Z"),
        ("1900-01-01 00:30", "1899-12-31T23:30:00Z"),
        ("2300-07-01 12:00", "2300-07-01T10:00:00Z"),
    ];
    for (wall, expected) in cases {
        assert_eq!(cet.resolve(local(wall)), utc(expected), "{wall}");
    }
}
