//! SQL sources against real servers: a practice's own table, with Dutch column names,
//! on SQLite always, on PostgreSQL when `REMINDERD_TEST_DATABASE_URL` is set and on
//! MySQL/MariaDB when `REMINDERD_TEST_MYSQL_URL` is set. Each test makes its own table
//! (in its own schema on PostgreSQL) under a random name and drops it afterwards.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reminderd::domain::{AppointmentStatus, ConsentMethod, Phone, Region};
use reminderd::import::database::{ColumnMap, SqlError, SqlSettings, read, read_appointments};
use reminderd::import::sync::{Planning, Reading, VanishGuard, Window, reconcile};
use reminderd::rules::{RuleSet, WorkCalendar};
use reminderd::store::{AppointmentInput, FeedVersion, OptInMarker};
use secrecy::SecretString;
use sqlx::{Connection, Executor};
use tempfile::TempDir;

use crate::helpers::{MYSQL_ENV, PG_ENV, open, server_url, sqlite_db, uuid_like};

const AMS: chrono_tz::Tz = chrono_tz::Europe::Amsterdam;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Server {
    Sqlite,
    Postgres,
    MySql,
}

/// A practice database with one appointments table, removed on drop.
struct Practice {
    url: String,
    /// The table, qualified where the server needs it.
    table: String,
    cleanup: Option<String>,
    _dir: Option<TempDir>,
}

impl Drop for Practice {
    fn drop(&mut self) {
        let Some(sql) = self.cleanup.take() else { return };
        let url = self.url.clone();
        // Drop runs inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(execute(&url, &[&sql])).ok()
        })
        .join();
    }
}

async fn execute(url: &str, statements: &[&str]) -> Result<(), sqlx::Error> {
    if url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(url).await?;
        for s in statements {
            c.execute(*s).await?;
        }
        c.close().await
    } else if url.starts_with("mysql") {
        let mut c = sqlx::MySqlConnection::connect(url).await?;
        for s in statements {
            c.execute(*s).await?;
        }
        c.close().await
    } else {
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?.create_if_missing(true);
        let mut c = sqlx::SqliteConnection::connect_with(&options).await?;
        for s in statements {
            c.execute(*s).await?;
        }
        c.close().await
    }
}

/// The practice's table on `server`, or `None` when this run has no such server.
async fn practice(server: Server) -> Option<Practice> {
    let suffix = uuid_like();
    let (url, table, cleanup, dir, types) = match server {
        Server::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("praktijk.db").display());
            // SQLite keeps times as text: local times, and ends with their offset
            (url, "afspraken".to_string(), None, Some(dir), ("integer", "text", "text"))
        }
        Server::Postgres => {
            let url = server_url(PG_ENV, "PostgreSQL SQL-source")?;
            let schema = format!("praktijk_{suffix}");
            execute(&url, &[&format!("create schema {schema}")]).await.expect("create schema");
            let cleanup = format!("drop schema if exists {schema} cascade");
            (
                url,
                format!("{schema}.afspraken"),
                Some(cleanup),
                None,
                ("integer", "timestamp", "timestamptz"),
            )
        }
        Server::MySql => {
            let url = server_url(MYSQL_ENV, "MySQL/MariaDB SQL-source")?;
            let table = format!("afspraken_{suffix}");
            let cleanup = format!("drop table if exists {table}");
            (url, table, Some(cleanup), None, ("int", "datetime", "timestamp null default null"))
        }
    };
    let (id_type, start_type, end_type) = types;
    let create = format!(
        "create table {table} (afspraak_id {id_type}, begintijd {start_type}, eindtijd {end_type}, \
         patient varchar(100), telefoon varchar(40), emailadres varchar(100), \
         locatie varchar(100), agenda varchar(100), afspraakstatus varchar(40), \
         whatsapp varchar(10))"
    );
    // an end as each server writes an instant (the MySQL test session is in UTC)
    let end = |utc: &str| match server {
        Server::Sqlite => format!("'{}'", utc.replace('Z', "+00:00")),
        Server::Postgres => format!("'{utc}'"),
        Server::MySql => format!("'{}'", utc.replace('T', " ").replace('Z', "")),
    };
    // a start no reader can use: 'infinity' and the zero date are real values in
    // practice databases; SQLite text can be anything
    let bad_start = match server {
        Server::Sqlite => "'volgende week'",
        Server::Postgres => "'infinity'",
        Server::MySql => "'0000-00-00 00:00:00'",
    };
    let rows = [
        // summer time, a timestamptz end, every contact field and a calendar of its own
        format!(
            "(101, '2026-10-24 09:30:00', {}, 'Jan Jansen', '06-12345678', 'jan@example.nl', \
             'Kamer 1', 'Fysio', 'gepland', 'ja')",
            end("2026-10-24T08:00:00Z")
        ),
        // 02:30 on 25 October happens twice: the earlier (summer-time) one is meant
        "(102, '2026-10-25 02:30:00', null, 'Sanne de Vries', '+31 6 8765 4321', null, null, \
         null, null, null)"
            .to_string(),
        // winter time, cancelled in Dutch
        format!(
            "(103, '2026-10-26 09:30:00', {}, 'Piet Pietersen', '06-11223344', null, null, null, \
             'Geannuleerd', 'nee')",
            end("2026-10-26T09:15:00Z")
        ),
        "(104, '2026-10-27 14:00:00', null, 'Klaas Klaassen', '020-1234567', null, null, null, \
         'gepland', null)"
            .to_string(),
        "(105, '2026-10-28 11:00:00', null, 'Els Bakker', '06-123', null, null, null, null, null)"
            .to_string(),
        // outside the window
        "(106, '2026-12-01 10:00:00', null, 'Kees Vos', '0612345678', null, null, null, null, \
         null)"
            .to_string(),
        format!(
            "(107, {bad_start}, null, 'Mila Smit', '0698765432', null, null, null, null, null)"
        ),
        "(null, '2026-10-29 10:00:00', null, 'Noah Visser', '0687654321', null, null, null, null, \
         null)"
            .to_string(),
    ];
    let insert = format!("insert into {table} values {}", rows.join(", "));
    let mut statements = vec![create.as_str(), insert.as_str()];
    if server == Server::MySql {
        // allow the zero date, as many MariaDB installations do
        statements.insert(0, "set session sql_mode = ''");
    }
    execute(&url, &statements).await.expect("fill the practice table");
    Some(Practice { url, table, cleanup, _dir: dir })
}

fn settings(practice: &Practice) -> SqlSettings {
    SqlSettings {
        url: Some(SecretString::from(practice.url.clone())),
        url_file: None,
        query: format!(
            "select afspraak_id, begintijd, eindtijd, patient, telefoon, emailadres, locatie, \
             agenda, afspraakstatus, whatsapp from {}",
            practice.table
        ),
        columns: ColumnMap {
            id: "afspraak_id".into(),
            start: "begintijd".into(),
            end: "eindtijd".into(),
            customer_name: "patient".into(),
            phone: "telefoon".into(),
            email: "emailadres".into(),
            location: "locatie".into(),
            calendar: "agenda".into(),
            status: "afspraakstatus".into(),
            opt_in: "whatsapp".into(),
            ..ColumnMap::default()
        },
        time_zone: None,
        timeout: Duration::from_secs(20),
    }
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// The two weeks around the autumn switch of 2026.
fn window() -> Window {
    Window { from: utc("2026-10-18T00:00:00Z"), to: utc("2026-11-01T00:00:00Z") }
}

fn expected(
    id: &str,
    start: &str,
    end: &str,
    name: &str,
    phone: Option<(&str, bool)>,
) -> AppointmentInput {
    AppointmentInput {
        external_id: id.into(),
        starts_at: utc(start),
        ends_at: utc(end),
        summary: None,
        location: None,
        calendar: "praktijk".into(),
        customer_name: Some(name.into()),
        customer_phone: phone.map(|(p, _)| p.to_string()),
        phone_is_mobile: phone.is_some_and(|(_, mobile)| mobile),
        customer_email: None,
        contact_problem: None,
        status: AppointmentStatus::Scheduled,
        whatsapp_opt_in: None,
    }
}

async fn a_practice_table_is_read(server: Server) {
    let Some(practice) = practice(server).await else { return };
    let read = read(&settings(&practice), "praktijk", window(), AMS, Region::default())
        .await
        .unwrap_or_else(|e| panic!("{server:?}: {e}"));
    let mut got = read.appointments;
    got.sort_by(|a, b| a.external_id.cmp(&b.external_id));

    let first = AppointmentInput {
        location: Some("Kamer 1".into()),
        calendar: "Fysio".into(),
        customer_email: Some("jan@example.nl".into()),
        whatsapp_opt_in: Some(OptInMarker { opted_in: true, method: ConsentMethod::Database }),
        ..expected(
            "101",
            "2026-10-24T07:30:00Z",
            "2026-10-24T08:00:00Z",
            "Jan Jansen",
            Some(("+31612345678", true)),
        )
    };
    // no end: thirty minutes
    let ambiguous = expected(
        "102",
        "2026-10-25T00:30:00Z",
        "2026-10-25T01:00:00Z",
        "Sanne de Vries",
        Some(("+31687654321", true)),
    );
    let cancelled = AppointmentInput {
        status: AppointmentStatus::Cancelled,
        whatsapp_opt_in: Some(OptInMarker { opted_in: false, method: ConsentMethod::Database }),
        ..expected(
            "103",
            "2026-10-26T08:30:00Z",
            "2026-10-26T09:15:00Z",
            "Piet Pietersen",
            Some(("+31611223344", true)),
        )
    };
    let landline = expected(
        "104",
        "2026-10-27T13:00:00Z",
        "2026-10-27T13:30:00Z",
        "Klaas Klaassen",
        Some(("+31201234567", false)),
    );
    let bad_phone = AppointmentInput {
        contact_problem: Some(Phone::parse("06-123", Region::default()).unwrap_err().to_string()),
        ..expected("105", "2026-10-28T10:00:00Z", "2026-10-28T10:30:00Z", "Els Bakker", None)
    };
    assert_eq!(got, vec![first, ambiguous, cancelled, landline, bad_phone], "{server:?}");

    // the row with the bad start and the row without id are reported, without
    // their names or numbers
    assert_eq!(read.problems.len(), 2, "{server:?}: {:?}", read.problems);
    assert!(
        read.problems.iter().any(|p| p.contains("(id 107)") && p.contains("`begintijd`")),
        "{server:?}: {:?}",
        read.problems
    );
    assert!(
        read.problems.iter().any(|p| p.contains("the id (column `afspraak_id`) is empty")),
        "{server:?}: {:?}",
        read.problems
    );
    for secret in ["Mila", "Noah", "0698765432", "0687654321"] {
        assert!(
            read.problems.iter().all(|p| !p.contains(secret)),
            "{server:?}: {:?}",
            read.problems
        );
    }
}

#[tokio::test]
async fn a_practice_table_is_read_from_sqlite() {
    a_practice_table_is_read(Server::Sqlite).await;
}

#[tokio::test]
async fn a_practice_table_is_read_from_postgres() {
    a_practice_table_is_read(Server::Postgres).await;
}

#[tokio::test]
async fn a_practice_table_is_read_from_mariadb() {
    a_practice_table_is_read(Server::MySql).await;
}

async fn a_query_that_fails_names_the_cause(server: Server) {
    let Some(practice) = practice(server).await else { return };
    let good = settings(&practice);
    let region = Region::default();

    let mut typo = good.clone();
    typo.columns.start = "begin_tijd".into();
    let err = read(&typo, "praktijk", window(), AMS, region).await.unwrap_err();
    assert!(matches!(err, SqlError::MissingColumn { .. }), "{server:?}: {err}");
    assert!(err.to_string().contains("`begin_tijd` for columns.start"), "{server:?}: {err}");

    let mut broken = good.clone();
    broken.query = format!("selec * from {}", practice.table);
    let err = read(&broken, "praktijk", window(), AMS, region).await.unwrap_err();
    assert!(matches!(err, SqlError::Query { .. }), "{server:?}: {err}");

    let mut gone = good.clone();
    gone.query = format!("select * from {}_gone", practice.table);
    let err = read(&gone, "praktijk", window(), AMS, region).await.unwrap_err();
    assert!(err.to_string().contains("_gone"), "{server:?}: {err}");

    let mut unreachable = good.clone();
    unreachable.url = Some(SecretString::from(match server {
        Server::Sqlite => format!("{}-missing", practice.url),
        Server::Postgres => "postgres://praktijk:hunter2@127.0.0.1:1/agenda".to_string(),
        Server::MySql => "mysql://praktijk:hunter2@127.0.0.1:1/agenda".to_string(),
    }));
    let err = read(&unreachable, "praktijk", window(), AMS, region).await.unwrap_err();
    assert!(matches!(err, SqlError::Connect { .. }), "{server:?}: {err}");
    assert!(!err.to_string().contains("hunter2"), "{server:?}: {err}");

    // the good settings still read: nothing above changed the table
    let appointments = read_appointments(&good, "praktijk", window(), AMS, region).await.unwrap();
    assert_eq!(appointments.len(), 5, "{server:?}");
}

#[tokio::test]
async fn a_query_that_fails_names_the_cause_on_sqlite() {
    a_query_that_fails_names_the_cause(Server::Sqlite).await;
}

#[tokio::test]
async fn a_query_that_fails_names_the_cause_on_postgres() {
    a_query_that_fails_names_the_cause(Server::Postgres).await;
}

#[tokio::test]
async fn a_query_that_fails_names_the_cause_on_mariadb() {
    a_query_that_fails_names_the_cause(Server::MySql).await;
}

async fn the_query_can_only_read(server: Server) {
    let Some(practice) = practice(server).await else { return };
    let mut writer = settings(&practice);
    writer.query = format!("delete from {} returning *", practice.table);
    let err = read(&writer, "praktijk", window(), AMS, Region::default()).await.unwrap_err();
    assert!(matches!(err, SqlError::Query { .. }), "{server:?}: {err}");
    let rows =
        read(&settings(&practice), "praktijk", window(), AMS, Region::default()).await.unwrap();
    assert_eq!(rows.appointments.len(), 5, "{server:?}: the rows are all still there");
}

#[tokio::test]
async fn the_query_can_only_read_on_sqlite() {
    the_query_can_only_read(Server::Sqlite).await;
}

#[tokio::test]
async fn the_query_can_only_read_on_postgres() {
    the_query_can_only_read(Server::Postgres).await;
}

#[tokio::test]
async fn the_query_can_only_read_on_mariadb() {
    the_query_can_only_read(Server::MySql).await;
}

#[tokio::test]
async fn a_slow_query_times_out() {
    for server in [Server::Postgres, Server::MySql] {
        let Some(practice) = practice(server).await else { continue };
        let mut slow = settings(&practice);
        let sleep = if server == Server::Postgres { "pg_sleep(5)" } else { "sleep(5)" };
        slow.query = format!("select {sleep} as x, a.* from {} a limit 1", practice.table);
        slow.timeout = Duration::from_millis(300);
        let started = std::time::Instant::now();
        let err = read(&slow, "praktijk", window(), AMS, Region::default()).await.unwrap_err();
        assert!(matches!(err, SqlError::Timeout(_)), "{server:?}: {err}");
        assert!(started.elapsed() < Duration::from_secs(4), "{server:?}");
    }
}

#[tokio::test]
async fn a_sql_source_reconciles_like_a_calendar_feed() {
    let practice = practice(Server::Sqlite).await.expect("SQLite is always there");
    let appointments =
        read_appointments(&settings(&practice), "praktijk", window(), AMS, Region::default())
            .await
            .unwrap();
    let db = sqlite_db();
    let store = open(&db).await;
    let rules = Arc::new(
        RuleSet::load(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/reminder-rules")))
            .expect("the shipped rules"),
    );
    let workdays = WorkCalendar::default();
    let planning = Planning { rules: &rules, zone: AMS, workdays: &workdays };
    let now = window().from;
    let version = FeedVersion::default();
    let none = Default::default();
    let reading = Reading {
        source: "praktijk",
        appointments: &appointments,
        window: window(),
        version: &version,
        unreadable: &none,
        problems: &[],
    };
    let guard = VanishGuard { max_share: 0.5, from: 10 };
    let report = reconcile(&store, reading, planning, guard, now).await.unwrap();
    assert_eq!((report.seen, report.inserted), (5, 5));
    // the opt-in column is in the consent ledger: Jan yes, Piet no
    assert_eq!(report.consents_recorded, 2);
    let jan = store.consent_history("+31612345678").await.unwrap();
    assert_eq!((jan.len(), jan[0].status), (1, reminderd::domain::ConsentStatus::OptedIn));
    assert_eq!(jan[0].method, ConsentMethod::Database);
    assert_eq!(
        jan[0].evidence.as_deref(),
        Some("the practice database of source praktijk, row 101")
    );
    // a second import of the same table changes nothing
    let again = reconcile(&store, reading, planning, guard, now).await.unwrap();
    assert_eq!((again.unchanged, again.inserted, again.updated), (5, 0, 0));
    assert_eq!(again.consents_recorded, 0);
    let upcoming = store.upcoming_appointments(now).await.unwrap();
    let mut ids: Vec<_> = upcoming.iter().map(|a| a.external_id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["101", "102", "104", "105"], "the cancelled one is not upcoming");
    store.close().await;
}

#[tokio::test]
async fn postgres_types_of_its_own_are_read_or_named() {
    let Some(url) = server_url(PG_ENV, "PostgreSQL SQL-source") else { return };
    let schema = format!("praktijk_{}", uuid_like());
    let practice = Practice {
        url: url.clone(),
        table: format!("{schema}.afspraken"),
        cleanup: Some(format!("drop schema if exists {schema} cascade")),
        _dir: None,
    };
    execute(
        &url,
        &[
            &format!("create schema {schema}"),
            &format!("create type {schema}.toestand as enum ('gepland', 'geannuleerd')"),
            &format!(
                "create table {} (id uuid, start timestamptz, status {schema}.toestand, \
                 bedrag numeric)",
                practice.table
            ),
            &format!(
                "insert into {} values ('6f1c2b7e-0d4a-4a8e-9d0b-1f2e3d4c5b6a', \
                 '2026-10-20 09:00:00+02', 'geannuleerd', 12.50)",
                practice.table
            ),
        ],
    )
    .await
    .expect("fill the practice table");
    let mut settings = SqlSettings {
        query: format!("select id, start, status from {}", practice.table),
        columns: ColumnMap::default(),
        ..settings(&practice)
    };
    let got =
        read_appointments(&settings, "praktijk", window(), AMS, Region::default()).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].external_id, "6f1c2b7e-0d4a-4a8e-9d0b-1f2e3d4c5b6a");
    assert_eq!(got[0].starts_at, utc("2026-10-20T07:00:00Z"));
    assert_eq!(got[0].status, AppointmentStatus::Cancelled, "an enum label is read as text");

    // a type that cannot be read is named with its column, before any row is read
    settings.query = format!("select id, start, bedrag as location from {}", practice.table);
    let err = read(&settings, "praktijk", window(), AMS, Region::default()).await.unwrap_err();
    assert!(matches!(err, SqlError::ColumnType { .. }), "{err}");
    assert!(err.to_string().contains("`location`") && err.to_string().contains("NUMERIC"), "{err}");
}

#[tokio::test]
async fn a_mariadb_boolean_status_and_binary_text_are_read() {
    let Some(url) = server_url(MYSQL_ENV, "MySQL/MariaDB SQL-source") else { return };
    let table = format!("afspraken_{}", uuid_like());
    let practice = Practice {
        url: url.clone(),
        table: table.clone(),
        cleanup: Some(format!("drop table if exists {table}")),
        _dir: None,
    };
    execute(
        &url,
        &[
            &format!(
                "create table {table} (id bigint unsigned, start datetime, geannuleerd boolean, \
                 naam varbinary(100))"
            ),
            &format!(
                "insert into {table} values (18446744073709551615, '2026-10-29 10:00:00', true, \
                 'Jan Jansen')"
            ),
        ],
    )
    .await
    .expect("fill the practice table");
    let settings = SqlSettings {
        query: format!("select * from {table}"),
        columns: ColumnMap {
            status: "geannuleerd".into(),
            customer_name: "naam".into(),
            ..ColumnMap::default()
        },
        ..settings(&practice)
    };
    let got =
        read_appointments(&settings, "praktijk", window(), AMS, Region::default()).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].external_id, "18446744073709551615");
    assert_eq!(got[0].starts_at, utc("2026-10-29T09:00:00Z"));
    assert_eq!(got[0].status, AppointmentStatus::Cancelled);
    assert_eq!(got[0].customer_name.as_deref(), Some("Jan Jansen"));
}

/// A `kind = "sql"` source as a practice configures it: the daemon imports its rows,
/// plans their reminders, and the same rows again write nothing.
#[tokio::test]
async fn a_configured_sql_source_is_imported_by_the_daemon() {
    use figment::Figment;
    use figment::providers::{Format, Toml};
    use reminderd::app::Application;
    use reminderd::clock::Clock;
    use reminderd::config::{DEFAULTS, Settings};
    use reminderd::import::runner::ImportOutcome;

    let practice = practice(Server::Sqlite).await.expect("SQLite is always there");
    let state = tempfile::tempdir().unwrap();
    let url_file = state.path().join("db-url");
    std::fs::write(&url_file, format!("{}\n", practice.url)).unwrap();
    let toml = format!(
        r#"
state_dir = "{state}"
rules_dir = "{rules}"
[[sources]]
name = "praktijkdb"
kind = "sql"
[sources.sql]
url_file = "{url_file}"
query = "select afspraak_id, begintijd, eindtijd, patient, telefoon, emailadres, locatie, agenda, afspraakstatus from {table}"
[sources.sql.columns]
id = "afspraak_id"
start = "begintijd"
end = "eindtijd"
customer_name = "patient"
phone = "telefoon"
email = "emailadres"
location = "locatie"
calendar = "agenda"
status = "afspraakstatus"
[server]
listen = "127.0.0.1:0"
[whatsapp]
channel = "log"
[security]
secret_key = "0123456789abcdef0123456789abcdef"
"#,
        state = state.path().display(),
        rules = concat!(env!("CARGO_MANIFEST_DIR"), "/reminder-rules"),
        url_file = url_file.display(),
        table = practice.table,
    );
    let settings = Settings::from_figment(
        Figment::new().merge(Toml::string(DEFAULTS)).merge(Toml::string(&toml)),
    )
    .expect("a valid sql source")
    .settings;
    assert!(!settings.redacted_toml().contains(&practice.url), "the URL is a secret");
    let app = Application::build(&settings, Clock::manual(window().from)).await.unwrap();
    let services = app.services().clone();
    let source = &services.sources[0];
    let ImportOutcome::Applied(report) = services.importer.import(source).await.unwrap() else {
        panic!("the first import applies")
    };
    assert_eq!(report.inserted, 5);
    assert!(report.reminders_planned >= 3, "{report:?}");
    assert_eq!(services.importer.import(source).await.unwrap(), ImportOutcome::Unchanged);
    let upcoming = services.store.upcoming_appointments(window().from).await.unwrap();
    assert_eq!(upcoming.len(), 4, "the cancelled row is not upcoming");
    assert!(upcoming.iter().all(|a| a.source == "praktijkdb"));

    // a row that can no longer be read keeps its appointment (it is not known to be gone)
    let sql = format!(
        "update {} set begintijd = 'morgen ergens' where afspraak_id = 101",
        practice.table
    );
    execute(&practice.url, &[&sql]).await.unwrap();
    let ImportOutcome::Applied(report) = services.importer.import(source).await.unwrap() else {
        panic!("the changed table is read")
    };
    assert_eq!(report.removed, 0, "{report:?}");
    let upcoming = services.store.upcoming_appointments(window().from).await.unwrap();
    assert!(upcoming.iter().any(|a| a.external_id == "101"), "101 is kept");
    let state = services.store.source_state("praktijkdb").await.unwrap().unwrap();
    assert!(state.problems.unwrap().contains("id 101"));
}

#[test]
fn a_sql_source_without_its_table_or_with_a_url_is_refused_by_the_config() {
    use figment::Figment;
    use figment::providers::{Format, Toml};
    use reminderd::config::{DEFAULTS, Settings};
    let base = "[whatsapp]\nchannel = \"log\"\n[security]\nsecret_key = \"0123456789abcdef0123456789abcdef\"\n";
    for (sources, says) in [
        ("[[sources]]\nname = \"db\"\nkind = \"sql\"\n", "has no [sources.sql] table"),
        (
            "[[sources]]\nname = \"db\"\nkind = \"sql\"\nurl = \"postgres://x\"\n[sources.sql]\nurl = \"postgres://x\"\nquery = \"select 1\"\n",
            "the database URL goes in sql.url",
        ),
        (
            "[[sources]]\nname = \"db\"\n[sources.sql]\nurl = \"postgres://x\"\nquery = \"select 1\"\n",
            "set kind = \"sql\"",
        ),
        (
            "[[sources]]\nname = \"db\"\nkind = \"sql\"\n[sources.sql]\nurl = \"oracle://x\"\nquery = \"select 1\"\n",
            "oracle",
        ),
    ] {
        let toml = format!("{sources}{base}");
        let err = Settings::from_figment(
            Figment::new().merge(Toml::string(DEFAULTS)).merge(Toml::string(&toml)),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(says), "{says}: {err}");
    }
}
