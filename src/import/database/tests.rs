//! The parts of SQL import that need no server: settings, the column map, and turning
//! cells into appointments. `tests/it/database.rs` runs the same against real servers.

use super::*;

const AMS: Tz = chrono_tz::Europe::Amsterdam;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn window() -> Window {
    Window { from: utc("2026-10-18T00:00:00Z"), to: utc("2026-11-01T00:00:00Z") }
}

fn settings(toml_text: &str) -> Result<SqlSettings, toml::de::Error> {
    toml::from_str(toml_text)
}

fn reader(columns: &ColumnMap) -> RowReader<'_> {
    RowReader {
        columns,
        calendar: "praktijk",
        zone: AMS,
        region: Region::default(),
        window: window(),
    }
}

fn row(cells: Vec<(Field, Cell)>) -> RowCells {
    RowCells(cells.into_iter().map(|(f, c)| (f, Ok(c))).collect())
}

fn text(s: &str) -> Cell {
    Cell::Text(s.into())
}

#[test]
fn settings_default_every_column_to_its_field_name() {
    let s = settings("url = \"sqlite:praktijk.db\"\nquery = \"select * from afspraken\"").unwrap();
    assert_eq!(s.columns, ColumnMap::default());
    assert_eq!(s.columns.column(Field::Start), "start");
    assert_eq!(s.time_zone, None);
    assert_eq!(s.timeout, Duration::from_secs(30));
    s.validate().unwrap();
}

#[test]
fn settings_rename_columns_and_refuse_unknown_keys() {
    let s = settings(
        "url = \"sqlite:x\"\nquery = \"q\"\ntime_zone = \"Europe/Brussels\"\ntimeout = \"5s\"\n\
         [columns]\nstart = \"begintijd\"\nphone = \"telefoon\"",
    )
    .unwrap();
    assert_eq!(s.columns.start, "begintijd");
    assert_eq!(s.columns.phone, "telefoon");
    assert_eq!(s.columns.end, "end");
    assert_eq!(s.time_zone, Some(chrono_tz::Europe::Brussels));
    assert_eq!(s.timeout, Duration::from_secs(5));
    let err = settings("url = \"sqlite:x\"\nquery = \"q\"\n[columns]\nbegin = \"x\"").unwrap_err();
    assert!(err.to_string().contains("begin"), "{err}");
    let err = settings("url = \"sqlite:x\"\nquery = \"q\"\ntime_zone = \"Europe/Amsterdamm\"")
        .unwrap_err();
    assert!(err.to_string().contains("Europe/Amsterdamm"), "{err}");
}

#[test]
fn the_url_is_never_printed() {
    let s = settings("url = \"postgres://praktijk:hunter2@db/agenda\"\nquery = \"q\"").unwrap();
    assert!(!format!("{s:?}").contains("hunter2"), "{s:?}");
    let printed = toml::to_string(&s).unwrap();
    assert!(!printed.contains("hunter2") && printed.contains("[redacted]"), "{printed}");
}

#[test]
fn validate_names_each_bad_key_but_not_the_url() {
    let mut s = settings("url = \"mssql://sa:hunter2@db/agenda\"\nquery = \" \"\ntimeout = \"0s\"")
        .unwrap();
    s.columns.start = String::new();
    let err = s.validate().unwrap_err();
    for key in ["url: `mssql`", "query is empty", "columns.start is empty", "timeout"] {
        assert!(err.contains(key), "{key}: {err}");
    }
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn columns_are_found_by_name_then_ignoring_case() {
    let map = ColumnMap { start: "BeginTijd".into(), ..ColumnMap::default() };
    let layout = Layout::resolve(&map, &["id", "begintijd", "phone", "opt_in"]).unwrap();
    let got: Vec<_> = layout.positions().collect();
    assert_eq!(got, vec![(Field::Id, 0), (Field::Start, 1), (Field::Phone, 2), (Field::OptIn, 3)]);
}

#[test]
fn a_required_or_renamed_column_that_is_missing_is_an_error_naming_it() {
    let err = Layout::resolve(&ColumnMap::default(), &["id", "begin"]).unwrap_err();
    assert!(
        err.to_string().contains("columns.start") && err.to_string().contains("`begin`"),
        "{err}"
    );
    let map = ColumnMap { phone: "telefoon".into(), ..ColumnMap::default() };
    let err = Layout::resolve(&map, &["id", "start", "phone"]).unwrap_err();
    assert!(err.to_string().contains("`telefoon` for columns.phone"), "{err}");
    // an optional column under its default name may be absent
    assert!(Layout::resolve(&ColumnMap::default(), &["id", "start"]).is_ok());
}

#[test]
fn text_times_are_rfc3339_or_local_in_the_zone() {
    let cases = [
        ("2026-10-20T09:30:00+02:00", "2026-10-20T07:30:00Z"),
        ("2026-10-20T07:30:00Z", "2026-10-20T07:30:00Z"),
        ("2026-10-20 09:30:00+02", "2026-10-20T07:30:00Z"),
        ("2026-10-20 09:30:00.5+02:00", "2026-10-20T07:30:00.5Z"),
        // local times: summer time before the switch, winter time after it
        ("2026-10-24 09:30", "2026-10-24T07:30:00Z"),
        ("2026-10-26T09:30:00", "2026-10-26T08:30:00Z"),
        // 02:30 happens twice on 25 October; the earlier one is meant
        ("2026-10-25 02:30:00", "2026-10-25T00:30:00Z"),
    ];
    for (input, expected) in cases {
        assert_eq!(parse_time(input, AMS), Some(utc(expected)), "{input}");
    }
    for bad in ["2026-02-30 10:00", "morgen", "2026-10-20", "1793000000"] {
        assert_eq!(parse_time(bad, AMS), None, "{bad}");
    }
}

#[test]
fn cancelled_is_read_in_english_and_dutch() {
    for s in [
        "cancelled",
        "Canceled",
        "GEANNULEERD",
        "Geannuleerd door patiënt",
        "cancelled_by_client",
        " afgezegd ",
    ] {
        assert!(is_cancelled(s), "{s}");
    }
    for s in ["", "gepland", "bevestigd", "niet geannuleerd", "cancelledx"] {
        assert!(!is_cancelled(s), "{s}");
    }
}

#[test]
fn a_row_becomes_an_appointment_with_its_contact() {
    let map = ColumnMap::default();
    let r = row(vec![
        (Field::Id, Cell::Int(17)),
        (
            Field::Start,
            Cell::Local(
                NaiveDateTime::parse_from_str("2026-10-26 09:30", "%Y-%m-%d %H:%M").unwrap(),
            ),
        ),
        (Field::CustomerName, text(" Jan Jansen ")),
        (Field::Phone, text("06-12345678")),
        (Field::Email, text("jan@example.nl")),
        (Field::Location, text("Kamer 3")),
        (Field::Status, text("gepland")),
    ]);
    let a = reader(&map).read(&r).unwrap().unwrap();
    assert_eq!(a.external_id, "17");
    assert_eq!(a.starts_at, utc("2026-10-26T08:30:00Z"));
    assert_eq!(a.ends_at, utc("2026-10-26T09:00:00Z"), "30 minutes by default");
    assert_eq!(a.customer_name.as_deref(), Some("Jan Jansen"));
    assert_eq!(a.customer_phone.as_deref(), Some("+31612345678"));
    assert!(a.phone_is_mobile);
    assert_eq!(a.customer_email.as_deref(), Some("jan@example.nl"));
    assert_eq!(a.location.as_deref(), Some("Kamer 3"));
    assert_eq!(a.calendar, "praktijk");
    assert_eq!(a.contact_problem, None);
    assert_eq!(a.status, AppointmentStatus::Scheduled);
}

#[test]
fn contact_problems_are_kept_for_staff_like_the_calendar_path() {
    let map = ColumnMap::default();
    let base = || vec![(Field::Id, text("a")), (Field::Start, text("2026-10-20T09:00:00+02:00"))];
    let mut landline = base();
    landline.push((Field::Phone, text("020-1234567")));
    let a = reader(&map).read(&row(landline)).unwrap().unwrap();
    assert_eq!(a.customer_phone.as_deref(), Some("+31201234567"));
    assert!(!a.phone_is_mobile);
    let mut bad = base();
    bad.push((Field::Phone, text("06-123")));
    let a = reader(&map).read(&row(bad)).unwrap().unwrap();
    assert_eq!(a.customer_phone, None);
    assert!(a.contact_problem.as_deref().unwrap().contains("`06-123`"), "{a:?}");
    let a = reader(&map).read(&row(base())).unwrap().unwrap();
    assert_eq!(a.contact_problem.as_deref(), Some("no phone number found"));
}

#[test]
fn ends_status_and_calendar_come_from_their_columns() {
    let map = ColumnMap::default();
    let r = row(vec![
        (Field::Id, text("b")),
        (Field::Start, Cell::Instant(utc("2026-10-20T08:00:00Z"))),
        (Field::End, Cell::Instant(utc("2026-10-20T07:00:00Z"))),
        (Field::Status, Cell::Bool(true)),
        (Field::Calendar, text("Fysio")),
    ]);
    let a = reader(&map).read(&r).unwrap().unwrap();
    assert_eq!(a.ends_at, a.starts_at, "an end before the start is the start");
    assert_eq!(a.status, AppointmentStatus::Cancelled);
    assert_eq!(a.calendar, "Fysio");
}

#[test]
fn a_row_outside_the_window_is_left_out() {
    let map = ColumnMap::default();
    for start in ["2026-10-17T23:59:59Z", "2026-11-01T00:00:00Z"] {
        let r = row(vec![(Field::Id, text("c")), (Field::Start, text(start))]);
        assert_eq!(reader(&map).read(&r).unwrap(), None, "{start}");
    }
}

#[test]
fn an_unreadable_row_says_why_without_its_values() {
    let map = ColumnMap { start: "begintijd".into(), ..ColumnMap::default() };
    let cases = [
        (vec![(Field::Start, text("2026-10-20 10:00"))], "the id (column `id`) is empty"),
        (
            vec![
                (Field::Id, text("d")),
                (Field::Start, text("30-02-2026 10:00")),
                (Field::Phone, text("0612345678")),
            ],
            "(id d): start (column `begintijd`) is text that is not a date and time",
        ),
        (
            vec![(Field::Id, text("e")), (Field::Start, Cell::Int(5))],
            "start (column `begintijd`) is not a date and time",
        ),
        (vec![(Field::Id, text("f"))], "the start (column `begintijd`) is empty"),
        (
            vec![
                (Field::Id, text("g")),
                (Field::Start, text("2026-10-20 10:00")),
                (Field::TimeZone, text("Mars/Olympus")),
            ],
            "time_zone (column `time_zone`) is not an IANA zone name",
        ),
    ];
    for (cells, expected) in cases {
        let (id, err) = reader(&map).read(&row(cells)).unwrap_err();
        assert!(err.contains(expected), "{err}");
        assert_eq!(id.is_some(), err.contains("(id "), "the id is named when it was read: {err}");
        assert!(
            !err.contains("30-02") && !err.contains("0612345678") && !err.contains("Mars"),
            "{err}"
        );
    }
    let undecodable = RowCells(vec![(Field::Id, Err("invalid utf-8".into()))]);
    let (id, err) = reader(&map).read(&undecodable).unwrap_err();
    assert!(err.contains("id (column `id`) cannot be read: invalid utf-8"), "{err}");
    assert_eq!(id, None);
}

#[test]
fn a_row_zone_overrides_the_configured_zone_for_local_times() {
    let map = ColumnMap::default();
    let r = row(vec![
        (Field::Id, text("h")),
        (Field::Start, text("2026-10-20 10:00")),
        (Field::TimeZone, text("Europe/London")),
    ]);
    assert_eq!(reader(&map).read(&r).unwrap().unwrap().starts_at, utc("2026-10-20T09:00:00Z"));
}
