use chrono::TimeZone;

use super::*;

const AMS: Tz = chrono_tz::Europe::Amsterdam;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn feed(events: &str) -> String {
    format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{events}END:VCALENDAR\r\n")
}

fn read(events: &str, from: &str, to: &str) -> Feed {
    read_feed(&feed(events), AMS, utc(from), utc(to)).unwrap()
}

#[test]
fn a_text_without_vcalendar_is_refused() {
    assert_eq!(
        read_feed("<html>oops</html>", AMS, Utc::now(), Utc::now()),
        Err(IcalError::NotICalendar)
    );
    assert_eq!(read_feed("", AMS, Utc::now(), Utc::now()), Err(IcalError::NotICalendar));
}

#[test]
fn an_unknown_zone_costs_only_its_own_event() {
    let f = read(
        "BEGIN:VEVENT\nUID:bad\nDTSTART;TZID=Customized Time Zone:20261020T100000\nEND:VEVENT\n\
         BEGIN:VEVENT\nUID:good\nDTSTART;TZID=Europe/Amsterdam:20261020T100000\nEND:VEVENT\n",
        "2026-10-01T00:00:00Z",
        "2026-11-01T00:00:00Z",
    );
    assert_eq!(f.occurrences.len(), 1);
    assert_eq!(f.occurrences[0].key(), "good");
    assert_eq!(f.occurrences[0].starts_at, utc("2026-10-20T08:00:00Z"));
    assert_eq!(f.problems.len(), 1);
    assert!(
        f.problems[0].contains("`bad`") && f.problems[0].contains("Customized Time Zone"),
        "{:?}",
        f.problems
    );
}

#[test]
fn local_times_in_the_spring_gap_move_forward_and_ends_never_precede_starts() {
    let f = read(
        "BEGIN:VEVENT\nUID:gap\nDTSTART:20260329T023000\nDTEND:20260329T024500\nEND:VEVENT\n",
        "2026-03-01T00:00:00Z",
        "2026-04-01T00:00:00Z",
    );
    let occ = &f.occurrences[0];
    assert_eq!(occ.starts_at, utc("2026-03-29T01:30:00Z"));
    assert_eq!(occ.ends_at, utc("2026-03-29T01:45:00Z"));
    assert_eq!(occ.recurrence_id, None);
}

#[test]
fn a_long_daily_series_yields_only_its_window() {
    let f = read(
        "BEGIN:VEVENT\nUID:daily\nDTSTART;TZID=Europe/Amsterdam:20100101T090000\nDURATION:PT30M\n\
         RRULE:FREQ=DAILY;UNTIL=20301231T235959Z\nEND:VEVENT\n",
        "2026-06-01T00:00:00Z",
        "2026-06-08T00:00:00Z",
    );
    assert_eq!(f.occurrences.len(), 7);
    let first = f.occurrences.iter().map(|o| o.starts_at).min().unwrap();
    assert_eq!(first, utc("2026-06-01T07:00:00Z"));
    assert!(f.occurrences.iter().all(|o| o.ends_at - o.starts_at == chrono::Duration::minutes(30)));
    assert_eq!(f.occurrences[0].key(), "daily/2026-06-01T07:00:00Z");
}

#[test]
fn the_highest_sequence_of_an_override_wins_and_can_cancel() {
    let f = read(
        "BEGIN:VEVENT\nUID:s\nDTSTART:20261005T100000Z\nRRULE:FREQ=DAILY;COUNT=3\nSUMMARY:Base\nEND:VEVENT\n\
         BEGIN:VEVENT\nUID:s\nRECURRENCE-ID:20261006T100000Z\nSEQUENCE:2\nSTATUS:cancelled\n\
         DTSTART:20261006T100000Z\nSUMMARY:Cancelled\nEND:VEVENT\n\
         BEGIN:VEVENT\nUID:s\nRECURRENCE-ID:20261006T100000Z\nSEQUENCE:1\nDTSTART:20261006T120000Z\n\
         SUMMARY:Moved\nEND:VEVENT\n",
        "2026-10-01T00:00:00Z",
        "2026-11-01T00:00:00Z",
    );
    assert_eq!(f.occurrences.len(), 3);
    let second = f.occurrences.iter().find(|o| o.summary.as_deref() != Some("Base")).unwrap();
    assert_eq!(second.status.as_deref(), Some("CANCELLED"));
    assert_eq!(second.starts_at, utc("2026-10-06T10:00:00Z"));
    assert_eq!(second.key(), "s/2026-10-06T10:00:00Z");
}

#[test]
fn text_attendees_and_other_properties_are_kept() {
    let f = read(
        "BEGIN:VEVENT\nUID:t\nDTSTART:20261020T100000Z\nSUMMARY:Controle\\, Jan\nLOCATION:Kamer 2\\; boven\n\
         DESCRIPTION:Regel 1\\nTel: 06-12345678\nATTENDEE;CN=\"Jan Jansen\";ROLE=REQ-PARTICIPANT:tel:+31612345678\n\
         X-PHONE:0612345678\n\
         BEGIN:VALARM\nTRIGGER;RELATED=START:PT-2H\nACTION:DISPLAY\nEND:VALARM\nEND:VEVENT\n",
        "2026-10-01T00:00:00Z",
        "2026-11-01T00:00:00Z",
    );
    let occ = &f.occurrences[0];
    assert_eq!(occ.summary.as_deref(), Some("Controle, Jan"));
    assert_eq!(occ.location.as_deref(), Some("Kamer 2; boven"));
    assert_eq!(occ.description.as_deref(), Some("Regel 1\nTel: 06-12345678"));
    assert_eq!(occ.attendees[0].value, "tel:+31612345678");
    assert_eq!(occ.attendees[0].cn.as_deref(), Some("Jan Jansen"));
    assert!(occ.attendees[0].params.contains(&("ROLE".into(), "REQ-PARTICIPANT".into())));
    assert_eq!(occ.property("X-PHONE"), Some("0612345678"));
    assert!(f.problems.is_empty(), "{:?}", f.problems);
}

#[test]
fn garbage_inside_a_feed_never_panics() {
    let inputs = [
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nEND:VCALENDAR",
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:99999999T999999\nEND:VEVENT\nEND:VCALENDAR",
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20260101T000000Z\nRRULE:FREQ=SECONDLY\nEND:VEVENT\nEND:VCALENDAR",
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20260101T000000Z\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=31\nEND:VEVENT\nEND:VCALENDAR",
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20260101T000000Z\nDURATION:P999999999W\nRDATE;VALUE=PERIOD:20260102T000000Z/junk\nEND:VEVENT\nEND:VCALENDAR",
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nRECURRENCE-ID:nonsense\nDTSTART:20260101\nEND:VEVENT\nEND:VCALENDAR",
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\n;;;:::\n\u{0}\u{feff}é\nEND:VEVENT\nEND:VCALENDAR",
        "BEGIN:VCALENDAR\nBEGIN:VTIMEZONE\nTZID:X\nBEGIN:STANDARD\nDTSTART:00010101T000000\nTZOFFSETFROM:-2359\nTZOFFSETTO:+2359\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=31;INTERVAL=1000\nRDATE:99991231T235959Z\nEND:STANDARD\nBEGIN:DAYLIGHT\nEND:VTIMEZONE\nBEGIN:VEVENT\nUID:x\nDTSTART;TZID=X:00010101T000000\nRRULE:FREQ=DAILY\nEND:VEVENT\nEND:VCALENDAR",
        "BEGIN:VCALENDAR\nBEGIN:VTIMEZONE\nTZID:Y\nBEGIN:DAYLIGHT\nDTSTART:99991231T235959\nTZOFFSETFROM:-2359\nTZOFFSETTO:+2359\nRRULE:FREQ=YEARLY;BYDAY=-5SU,5SA;BYMONTHDAY=-31;UNTIL=99991231\nEND:DAYLIGHT\nEND:VTIMEZONE\nBEGIN:VEVENT\nUID:y\nDTSTART;TZID=Y:99991231T235959\nDTEND;TZID=Y:00010101T000000\nRRULE:FREQ=YEARLY;UNTIL=20270101T000000Z\nEND:VEVENT\nEND:VCALENDAR",
    ];
    let from = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let to = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
    for input in inputs {
        let feed = read_feed(input, AMS, from, to).unwrap();
        assert!(feed.occurrences.len() < 100_000, "{input}");
    }
}

#[test]
fn an_event_without_uid_keeps_its_generated_uid_across_exports() {
    let event = |stamp: &str, summary: &str| {
        read(
            &format!("BEGIN:VEVENT\nDTSTAMP:{stamp}\nDTSTART:20261020T100000Z\nSUMMARY:{summary}\nEND:VEVENT\n"),
            "2026-10-01T00:00:00Z",
            "2026-11-01T00:00:00Z",
        )
        .occurrences
        .remove(0)
    };
    let first = event("20261001T000000Z", "Controle");
    assert!(first.uid_is_generated);
    assert_eq!(first.key(), event("20261002T120000Z", "Controle").key());
    assert_ne!(first.key(), event("20261001T000000Z", "Andere afspraak").key());
}

#[test]
fn a_thisandfuture_override_moves_every_later_instance() {
    let f = read(
        "BEGIN:VEVENT\nUID:f\nDTSTART:20261005T100000Z\nDTEND:20261005T110000Z\nRRULE:FREQ=DAILY;COUNT=4\n\
         SUMMARY:Old\nEND:VEVENT\n\
         BEGIN:VEVENT\nUID:f\nRECURRENCE-ID;RANGE=THISANDFUTURE:20261006T100000Z\n\
         DTSTART:20261006T130000Z\nDTEND:20261006T133000Z\nSUMMARY:New\nEND:VEVENT\n",
        "2026-10-01T00:00:00Z",
        "2026-11-01T00:00:00Z",
    );
    let mut got: Vec<_> = f
        .occurrences
        .iter()
        .map(|o| (o.key(), o.starts_at, o.ends_at - o.starts_at, o.summary.clone().unwrap()))
        .collect();
    got.sort();
    let half = chrono::Duration::minutes(30);
    assert_eq!(
        got,
        vec![
            (
                "f/2026-10-05T10:00:00Z".into(),
                utc("2026-10-05T10:00:00Z"),
                chrono::Duration::hours(1),
                "Old".into()
            ),
            ("f/2026-10-06T10:00:00Z".into(), utc("2026-10-06T13:00:00Z"), half, "New".into()),
            ("f/2026-10-07T10:00:00Z".into(), utc("2026-10-07T13:00:00Z"), half, "New".into()),
            ("f/2026-10-08T10:00:00Z".into(), utc("2026-10-08T13:00:00Z"), half, "New".into()),
        ]
    );
}

/// A VTIMEZONE with Central European rules, under any TZID.
fn cet_zone(tzid: &str) -> String {
    format!(
        "BEGIN:VTIMEZONE\nTZID:{tzid}\nBEGIN:STANDARD\nDTSTART:16010101T030000\nTZOFFSETFROM:+0200\n\
         TZOFFSETTO:+0100\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\nEND:STANDARD\n\
         BEGIN:DAYLIGHT\nDTSTART:16010101T020000\nTZOFFSETFROM:+0100\nTZOFFSETTO:+0200\n\
         RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\nEND:DAYLIGHT\nEND:VTIMEZONE\n"
    )
}

fn start_of(f: &Feed, uid: &str) -> DateTime<Utc> {
    f.occurrences.iter().find(|o| o.uid == uid).unwrap_or_else(|| panic!("{uid}: {f:?}")).starts_at
}

#[test]
fn a_tzid_is_read_by_iana_name_then_own_vtimezone_then_windows_name() {
    let f = read(
        &format!(
            "{}{}{}\
             BEGIN:VEVENT\nUID:custom\nDTSTART;TZID=\"(UTC+01:00) Amsterdam, Berlin\":20260329T023000\nEND:VEVENT\n\
             BEGIN:VEVENT\nUID:windows-defined\nDTSTART;TZID=New Zealand Standard Time:20260715T100000\nEND:VEVENT\n\
             BEGIN:VEVENT\nUID:windows\nDTSTART;TZID=Romance Standard Time:20260715T100000\nEND:VEVENT\n\
             BEGIN:VEVENT\nUID:iana\nDTSTART;TZID=America/New_York:20260715T100000\nEND:VEVENT\n",
            cet_zone("(UTC+01:00) Amsterdam\\, Berlin"),
            // a sender's own definition of a Windows name wins over CLDR's mapping ...
            cet_zone("New Zealand Standard Time"),
            // ... but an IANA name is read from the IANA database
            cet_zone("America/New_York"),
        ),
        "2026-01-01T00:00:00Z",
        "2027-01-01T00:00:00Z",
    );
    assert!(f.problems.is_empty(), "{:?}", f.problems);
    // in the spring gap: read with the offset before it
    assert_eq!(start_of(&f, "custom"), utc("2026-03-29T01:30:00Z"));
    assert_eq!(start_of(&f, "windows-defined"), utc("2026-07-15T08:00:00Z"));
    assert_eq!(start_of(&f, "windows"), utc("2026-07-15T08:00:00Z"));
    assert_eq!(start_of(&f, "iana"), utc("2026-07-15T14:00:00Z"));
}

#[test]
fn a_series_in_a_defined_zone_keeps_its_wall_clock_across_the_switches() {
    let f = read(
        &format!(
            "{}BEGIN:VEVENT\nUID:w\nDTSTART;TZID=Customized Time Zone:20261018T093000\n\
             DURATION:PT30M\nRRULE:FREQ=WEEKLY;COUNT=3\nEND:VEVENT\n",
            cet_zone("Customized Time Zone")
        ),
        "2026-10-01T00:00:00Z",
        "2026-12-01T00:00:00Z",
    );
    let mut got: Vec<String> = f.occurrences.iter().map(|o| o.key()).collect();
    got.sort();
    assert_eq!(got, ["w/2026-10-18T07:30:00Z", "w/2026-10-25T08:30:00Z", "w/2026-11-01T08:30:00Z"]);
}

#[test]
fn a_vtimezone_that_cannot_be_read_costs_only_its_events_and_says_why() {
    let f = read(
        "BEGIN:VTIMEZONE\nTZID:Odd\nBEGIN:STANDARD\nDTSTART:20000101T000000\nTZOFFSETFROM:+0100\n\
         TZOFFSETTO:+0100\nRRULE:FREQ=MONTHLY\nEND:STANDARD\nEND:VTIMEZONE\n\
         BEGIN:VEVENT\nUID:odd\nDTSTART;TZID=Odd:20261020T100000\nEND:VEVENT\n\
         BEGIN:VEVENT\nUID:fine\nDTSTART:20261020T100000Z\nEND:VEVENT\n",
        "2026-10-01T00:00:00Z",
        "2026-11-01T00:00:00Z",
    );
    assert_eq!(f.occurrences.len(), 1);
    assert_eq!(f.problems.len(), 1);
    let problem = &f.problems[0];
    assert!(
        problem.contains("`odd`") && problem.contains("`Odd`") && problem.contains("RRULE"),
        "{problem}"
    );
}

#[test]
fn an_event_that_cannot_be_placed_is_named_so_its_appointment_is_not_taken_for_deleted() {
    let text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:mars@p\r\nDTSTART;TZID=Mars/Olympus:20261020T100000\r\n\
                END:VEVENT\r\nBEGIN:VEVENT\r\nUID:ok@p\r\nDTSTART:20261020T080000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let from = Utc.with_ymd_and_hms(2026, 10, 13, 0, 0, 0).unwrap();
    let feed = read_feed(text, AMS, from, from + chrono::Duration::days(14)).unwrap();
    assert_eq!(feed.occurrences.len(), 1);
    assert!(feed.problems[0].contains("Mars/Olympus"), "{:?}", feed.problems);
    assert_eq!(feed.skipped_uids.iter().collect::<Vec<_>>(), ["mars@p"]);
}

#[test]
fn an_override_far_from_its_series_still_moves_its_instance() {
    // the series first, more single events than one part holds, then the
    // override: the series waits for it instead of being expanded as it is read
    let mut events = String::from(
        "BEGIN:VEVENT\nUID:weekly\nDTSTART:20261006T100000Z\nDURATION:PT30M\n\
         RRULE:FREQ=WEEKLY;COUNT=3\nEND:VEVENT\n",
    );
    for i in 0..PART + 10 {
        events.push_str(&format!(
            "BEGIN:VEVENT\nUID:single-{i}\nDTSTART:20261007T100000Z\nEND:VEVENT\n"
        ));
    }
    events.push_str(
        "BEGIN:VEVENT\nUID;X-NOTE=\"a:b\":weekly\nRECURRENCE-ID:20261013T100000Z\n\
         DTSTART:20261013T150000Z\nDURATION:PT30M\nEND:VEVENT\n",
    );
    let mut parts = 0;
    let mut occurrences = Vec::new();
    read_feed_in_parts(
        &feed(&events),
        AMS,
        utc("2026-10-01T00:00:00Z"),
        utc("2026-11-01T00:00:00Z"),
        |part| {
            parts += 1;
            occurrences.extend(part);
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    assert!(parts > 1, "handed over in parts as read, not all at the end");
    assert_eq!(occurrences.len(), PART + 10 + 3);
    let mut weekly: Vec<_> = occurrences
        .iter()
        .filter(|o| o.uid == "weekly")
        .map(|o| (o.recurrence_id.unwrap(), o.starts_at))
        .collect();
    weekly.sort();
    assert_eq!(
        weekly,
        [
            (utc("2026-10-06T10:00:00Z"), utc("2026-10-06T10:00:00Z")),
            (utc("2026-10-13T10:00:00Z"), utc("2026-10-13T15:00:00Z")),
            (utc("2026-10-20T10:00:00Z"), utc("2026-10-20T10:00:00Z")),
        ]
    );
}

#[test]
fn the_uid_is_read_from_the_text_and_shared_uids_are_found() {
    let block = |uid_line: &str| format!("BEGIN:VEVENT\n{uid_line}\nDTSTART:20261007T100000Z\n");
    assert_eq!(written_uid(&block("UID: a ")), Some("a"));
    assert_eq!(written_uid(&block("uid;X-P=\"q:r\":b")), Some("b"));
    assert_eq!(written_uid(&block("UIDX:c")), None);
    assert_eq!(written_uid(&block("SUMMARY:UID:d")), None);
    let blocks = [block("UID:a"), block("UID:b"), block("UID:a"), block("UID:"), block("X:y")];
    let alone = uids_alone(&blocks);
    assert_eq!(alone[..4], [None, Some("b".to_string()), None, None]);
    // no UID at all: the one generated from the text, as the parsed event gets
    assert_eq!(alone[4], Some(generated_uid(&blocks[4])));
}

#[test]
fn a_line_that_is_not_a_content_line_costs_only_its_event_and_is_located_not_quoted() {
    let broken = [
        (
            "ATTENDEE;CN=\"Jan Jansen:tel:0612345678",
            "column 13: a quoted parameter value has no closing `\"`",
        ),
        ("Jansen", "column 7: the line has no `:` before its value"),
        (":0612345678", "column 1: the line has no property name"),
        (
            "Bel Jansen: 0612345678",
            "column 4: the property name has a character a name cannot have",
        ),
        ("END:VALARM", "a stray `END` line"),
    ];
    for (line, why) in broken {
        let f = read(
            &format!(
                "BEGIN:VEVENT\nUID:bad\nDTSTART:20261020T100000Z\n{line}\nEND:VEVENT\n\
                 BEGIN:VEVENT\nUID:good\nDTSTART:20261020T110000Z\nEND:VEVENT\n"
            ),
            "2026-10-01T00:00:00Z",
            "2026-11-01T00:00:00Z",
        );
        let keys: Vec<String> = f.occurrences.iter().map(Occurrence::key).collect();
        assert_eq!(keys, ["good"], "{line}");
        assert_eq!(
            f.problems,
            [format!(
                "an event could not be parsed (line 4 of event `bad`, {why}); it was skipped"
            )]
        );
        assert_eq!(f.skipped_uids.iter().collect::<Vec<_>>(), ["bad"]);
    }
}

#[test]
fn folded_lines_are_unfolded_after_crlf_or_lf_and_a_space_or_tab() {
    let text = "BEGIN:VCALENDAR\r\nBEGIN:VEV\r\n ENT\r\nUID:fo\r\n ld\nDTSTART:20261020T\n\t100000Z\r\n\
                SUMMARY:Contro\n le\r\n\t met Jan\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let f = read_feed(text, AMS, utc("2026-10-01T00:00:00Z"), utc("2026-11-01T00:00:00Z")).unwrap();
    assert!(f.problems.is_empty(), "{:?}", f.problems);
    let occ = &f.occurrences[0];
    assert_eq!(
        (occ.uid.as_str(), occ.starts_at, occ.summary.as_deref()),
        ("fold", utc("2026-10-20T10:00:00Z"), Some("Controle met Jan"))
    );
}

#[test]
fn events_are_cut_out_in_any_case_without_their_alarms() {
    let text = "BEGIN:VCALENDAR\nbegin:vevent\nUID:a\nBEGIN:VALARM\nTRIGGER:broken\nEND:VALARM\n  \n\
                END:VEVENT  \nBEGIN:VEVENT\r\nUID:b\r\nEnd:VEvent\r\nEND:VCALENDAR\n";
    assert_eq!(
        component_blocks(text, "VEVENT", false),
        ["begin:vevent\nUID:a\nEND:VEVENT  \n", "BEGIN:VEVENT\nUID:b\nEnd:VEvent\n"]
    );
    for block in component_blocks(text, "VEVENT", false) {
        assert!(parse_event(&block).is_ok(), "{block}");
    }
}

#[test]
fn text_values_are_unescaped_once() {
    let f = read(
        "BEGIN:VEVENT\nUID:a\\,b\nDTSTART:20261020T100000Z\nSUMMARY:Map C:\\\\nieuw\n\
         X-NOTE:1\\\\n2\\, 3\nEND:VEVENT\n",
        "2026-10-01T00:00:00Z",
        "2026-11-01T00:00:00Z",
    );
    let occ = &f.occurrences[0];
    assert_eq!(occ.uid, "a,b");
    assert_eq!(occ.summary.as_deref(), Some("Map C:\\nieuw"));
    assert_eq!(occ.property("X-NOTE"), Some("1\\n2, 3"));
}
