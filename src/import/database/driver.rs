//! Talking to the three kinds of server: connect so that the query can only read, check
//! that it returns the mapped columns in types we can read, and turn each mapped cell
//! into a [`Cell`].
//!
//! This is per-driver code rather than sqlx's `Any` driver on purpose. `Any` decodes only
//! booleans, numbers, text and bytes, so a `timestamptz`, a `timestamp` or a MySQL
//! `DATETIME` could not be read at all, and the one difference that matters most here
//! would be lost: an *instant* (`timestamptz`, MySQL `TIMESTAMP`) against a *wall-clock
//! time* (`timestamp`, `DATETIME`), which must be resolved in a time zone. Each driver
//! maps its own types onto the few cells the importer understands; everything after
//! that is shared.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use secrecy::ExposeSecret;
use sqlx::mysql::{MySql, MySqlConnectOptions, MySqlConnection, MySqlRow, MySqlTypeInfo};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow, PgTypeInfo, PgTypeKind, Postgres};
use sqlx::sqlite::{Sqlite, SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{Column, Connection, Database, Executor, Row, Statement, TypeInfo, ValueRef};

use super::{Layout, RowCells, SqlError, SqlSettings};
use crate::domain::redact::url_password;

/// One value as the importer sees it.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Cell {
    Null,
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A point in time (`timestamptz`, MySQL `TIMESTAMP`).
    Instant(DateTime<Utc>),
    /// A wall-clock time without a zone (`timestamp`, `DATETIME`).
    Local(NaiveDateTime),
}

/// How a column is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Text,
    Bytes,
    Int,
    Unsigned,
    F32,
    F64,
    Bool,
    Instant,
    Local,
    Uuid,
}

/// The kind of server a URL points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Backend {
    Postgres,
    MySql,
    Sqlite,
}

impl Backend {
    /// By the URL's scheme: `postgres(ql)://`, `mysql://`, `mariadb://` or `sqlite:`.
    pub(super) fn of_url(url: &str) -> Option<Backend> {
        let (scheme, _) = url.trim().split_once(':')?;
        match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => Some(Backend::Postgres),
            "mysql" | "mariadb" => Some(Backend::MySql),
            "sqlite" => Some(Backend::Sqlite),
            _ => None,
        }
    }
}

/// Connects, runs the configured query and reads the mapped cells of every row.
pub(super) async fn read_table(settings: &SqlSettings) -> Result<Vec<RowCells>, SqlError> {
    let url = settings.url.as_ref().map_or("", |u| u.expose_secret());
    let connect_error = |source| SqlError::Connect { database: url_password(url), source };
    match Backend::of_url(url) {
        Some(Backend::Postgres) => {
            let options = PgConnectOptions::from_str(url)
                .map_err(connect_error)?
                .application_name("reminderd import");
            let mut conn = PgConnection::connect_with(&options).await.map_err(connect_error)?;
            let read = async {
                // the configured query may read, never write
                conn.execute("set session characteristics as transaction read only")
                    .await
                    .map_err(connect_error)?;
                // the server stops the query too, rather than finishing it for no one
                conn.execute(format!("set statement_timeout = {}", millis(settings)).as_str())
                    .await
                    .map_err(connect_error)?;
                read_with::<Postgres>(&mut conn, settings, |t| pg_kind(t).is_some(), pg_cell).await
            }
            .await;
            let _ = conn.close().await;
            read
        }
        Some(Backend::MySql) => {
            // sqlx sets the session zone to UTC, so a `TIMESTAMP` decodes as its instant
            let options = MySqlConnectOptions::from_str(url).map_err(connect_error)?;
            let mut conn = MySqlConnection::connect_with(&options).await.map_err(connect_error)?;
            let read = async {
                conn.execute("set session transaction read only").await.map_err(connect_error)?;
                // the server stops the query too where it can: MariaDB knows the first
                // setting, MySQL the second (for selects); an unknown one is no error
                let seconds = format!("set session max_statement_time = {}", secs(settings));
                let millis = format!("set session max_execution_time = {}", millis(settings));
                if conn.execute(seconds.as_str()).await.is_err() {
                    let _ = conn.execute(millis.as_str()).await;
                }
                read_with::<MySql>(&mut conn, settings, |t| mysql_kind(t).is_some(), mysql_cell)
                    .await
            }
            .await;
            let _ = conn.close().await;
            read
        }
        Some(Backend::Sqlite) => {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(connect_error)?
                .read_only(true)
                .create_if_missing(false);
            let mut conn = SqliteConnection::connect_with(&options).await.map_err(connect_error)?;
            // SQLite types belong to values, not columns: checked per cell
            let read = read_with::<Sqlite>(&mut conn, settings, |_| true, sqlite_cell).await;
            let _ = conn.close().await;
            read
        }
        None => Err(SqlError::Scheme(scheme_of(url))),
    }
}

/// The server's own limit: a second past ours, so that ours always reports first and
/// the server only cleans up after a client that has gone.
fn server_limit(settings: &SqlSettings) -> std::time::Duration {
    settings.timeout + std::time::Duration::from_secs(1)
}

fn millis(settings: &SqlSettings) -> u128 {
    server_limit(settings).as_millis()
}

fn secs(settings: &SqlSettings) -> f64 {
    server_limit(settings).as_secs_f64()
}

/// The scheme of a URL, for messages: never the rest, which may hold a password.
pub(super) fn scheme_of(url: &str) -> String {
    url.split_once(':').map_or("", |(s, _)| s).chars().take(20).collect()
}

/// Prepares the query (so a column map that does not fit fails even when no row comes
/// back), checks the mapped columns, then reads every row.
async fn read_with<DB>(
    conn: &mut DB::Connection,
    settings: &SqlSettings,
    readable: fn(&DB::TypeInfo) -> bool,
    cell: fn(&DB::Row, usize) -> Result<Cell, String>,
) -> Result<Vec<RowCells>, SqlError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
{
    let query = settings.query.as_str();
    let statement =
        (&mut *conn).prepare(query).await.map_err(|source| SqlError::Query { source })?;
    let columns = statement.columns();
    let names: Vec<&str> = columns.iter().map(|c| c.name()).collect();
    let layout = Layout::resolve(&settings.columns, &names)?;
    for (field, index) in layout.positions() {
        let ty = columns[index].type_info();
        if !readable(ty) {
            return Err(SqlError::ColumnType {
                field: field.key(),
                column: names[index].to_string(),
                ty: ty.name().to_string(),
            });
        }
    }
    let rows = sqlx::query(query)
        .fetch_all(&mut *conn)
        .await
        .map_err(|source| SqlError::Query { source })?;
    Ok(rows.iter().map(|row| layout.read(|index| cell(row, index))).collect())
}

fn pg_kind(ty: &PgTypeInfo) -> Option<Kind> {
    match ty.kind() {
        // an enum travels as its label
        PgTypeKind::Enum(_) => return Some(Kind::Text),
        PgTypeKind::Domain(base) => return pg_kind(base),
        _ => {}
    }
    Some(match ty.name() {
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "citext" | "UNKNOWN" => Kind::Text,
        "INT2" | "INT4" | "INT8" => Kind::Int,
        "FLOAT4" => Kind::F32,
        "FLOAT8" => Kind::F64,
        "BOOL" => Kind::Bool,
        "TIMESTAMPTZ" => Kind::Instant,
        "TIMESTAMP" => Kind::Local,
        "UUID" => Kind::Uuid,
        _ => return None,
    })
}

fn pg_cell(row: &PgRow, index: usize) -> Result<Cell, String> {
    if row.try_get_raw(index).map_err(|e| e.to_string())?.is_null() {
        return Ok(Cell::Null);
    }
    let ty = row.column(index).type_info();
    let cell = match pg_kind(ty) {
        Some(Kind::Text) => row.try_get_unchecked::<String, _>(index).map(Cell::Text),
        Some(Kind::Int) => match ty.name() {
            "INT2" => row.try_get::<i16, _>(index).map(|v| Cell::Int(v.into())),
            "INT4" => row.try_get::<i32, _>(index).map(|v| Cell::Int(v.into())),
            _ => row.try_get::<i64, _>(index).map(Cell::Int),
        },
        Some(Kind::F32) => row.try_get::<f32, _>(index).map(|v| Cell::Float(v.into())),
        Some(Kind::F64) => row.try_get::<f64, _>(index).map(Cell::Float),
        Some(Kind::Bool) => row.try_get::<bool, _>(index).map(Cell::Bool),
        Some(Kind::Instant) => return pg_time(row, index).map(|t| Cell::Instant(t.and_utc())),
        Some(Kind::Local) => return pg_time(row, index).map(Cell::Local),
        // sixteen bytes on the wire; written the usual way without the `uuid` feature
        Some(Kind::Uuid) => {
            row.try_get_unchecked::<Vec<u8>, _>(index).map(|b| Cell::Text(uuid(&b)))
        }
        Some(Kind::Bytes | Kind::Unsigned) | None => {
            return Err(format!("its type {} cannot be read", ty.name()));
        }
    };
    cell.map_err(|e| e.to_string())
}

/// A `timestamp` or `timestamptz` (then in UTC): microseconds since 2000-01-01 on the
/// wire. Read here rather than by sqlx, whose plain addition panics on `infinity`, a
/// value practice databases do hold.
fn pg_time(row: &PgRow, index: usize) -> Result<NaiveDateTime, String> {
    let micros = row.try_get_unchecked::<i64, _>(index).map_err(|e| e.to_string())?;
    NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|epoch| epoch.checked_add_signed(TimeDelta::microseconds(micros)))
        .ok_or_else(|| "the time is infinite or out of range".to_string())
}

fn uuid(bytes: &[u8]) -> String {
    let hex = hex::encode(bytes);
    if hex.len() != 32 {
        return hex;
    }
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

fn mysql_kind(ty: &MySqlTypeInfo) -> Option<Kind> {
    Some(match ty.name() {
        "VARCHAR" | "CHAR" | "TEXT" | "TINYTEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM" | "SET"
        // a decimal travels as its digits
        | "DECIMAL" | "NULL" => Kind::Text,
        "VARBINARY" | "BINARY" | "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" => Kind::Bytes,
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => Kind::Int,
        "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED"
        | "BIGINT UNSIGNED" => Kind::Unsigned,
        "BOOLEAN" => Kind::Bool,
        "FLOAT" => Kind::F32,
        "DOUBLE" => Kind::F64,
        "TIMESTAMP" => Kind::Instant,
        "DATETIME" => Kind::Local,
        _ => return None,
    })
}

fn mysql_cell(row: &MySqlRow, index: usize) -> Result<Cell, String> {
    if row.try_get_raw(index).map_err(|e| e.to_string())?.is_null() {
        return Ok(Cell::Null);
    }
    let ty = row.column(index).type_info();
    let cell = match mysql_kind(ty) {
        Some(Kind::Text) => row.try_get_unchecked::<String, _>(index).map(Cell::Text),
        Some(Kind::Bytes) => row.try_get_unchecked::<Vec<u8>, _>(index).map(text_of),
        Some(Kind::Int) => row.try_get_unchecked::<i64, _>(index).map(Cell::Int),
        Some(Kind::Unsigned) => row
            .try_get_unchecked::<u64, _>(index)
            .map(|v| i64::try_from(v).map_or_else(|_| Cell::Text(v.to_string()), Cell::Int)),
        Some(Kind::Bool) => row.try_get_unchecked::<bool, _>(index).map(Cell::Bool),
        Some(Kind::F32) => row.try_get_unchecked::<f32, _>(index).map(|v| Cell::Float(v.into())),
        Some(Kind::F64) => row.try_get_unchecked::<f64, _>(index).map(Cell::Float),
        Some(Kind::Instant) => row.try_get_unchecked::<DateTime<Utc>, _>(index).map(Cell::Instant),
        Some(Kind::Local) => row.try_get_unchecked::<NaiveDateTime, _>(index).map(Cell::Local),
        Some(Kind::Uuid) | None => return Err(format!("its type {} cannot be read", ty.name())),
    };
    cell.map_err(|e| e.to_string())
}

fn sqlite_cell(row: &SqliteRow, index: usize) -> Result<Cell, String> {
    // the value's own storage class: TEXT, INTEGER, REAL or BLOB (or NULL)
    let class = {
        let value = row.try_get_raw(index).map_err(|e| e.to_string())?;
        if value.is_null() {
            return Ok(Cell::Null);
        }
        value.type_info().name().to_string()
    };
    let cell = match class.as_str() {
        "TEXT" => row.try_get_unchecked::<String, _>(index).map(Cell::Text),
        "INTEGER" => row.try_get_unchecked::<i64, _>(index).map(Cell::Int),
        "REAL" => row.try_get_unchecked::<f64, _>(index).map(Cell::Float),
        "BLOB" => row.try_get_unchecked::<Vec<u8>, _>(index).map(text_of),
        other => return Err(format!("its type {other} cannot be read")),
    };
    cell.map_err(|e| e.to_string())
}

/// Bytes that are UTF-8 are text (MySQL marks text in a binary collation as bytes);
/// other bytes are kept as hex, which no field mistakes for a name or a time.
fn text_of(bytes: Vec<u8>) -> Cell {
    match String::from_utf8(bytes) {
        Ok(text) => Cell::Text(text),
        Err(e) => Cell::Text(hex::encode(e.into_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backend_comes_from_the_scheme() {
        let cases = [
            ("postgres://u@h/db", Some(Backend::Postgres)),
            ("postgresql://u@h/db", Some(Backend::Postgres)),
            ("mysql://root@127.0.0.1/test", Some(Backend::MySql)),
            ("MariaDB://root@h/db", Some(Backend::MySql)),
            ("sqlite:///var/lib/praktijk.db", Some(Backend::Sqlite)),
            ("sqlite:praktijk.db", Some(Backend::Sqlite)),
            ("mssql://sa@h/db", None),
            ("praktijk.db", None),
        ];
        for (url, expected) in cases {
            assert_eq!(Backend::of_url(url), expected, "{url}");
        }
    }

    #[test]
    fn a_uuid_is_written_with_dashes() {
        let bytes: Vec<u8> = (0u8..16).collect();
        assert_eq!(uuid(&bytes), "00010203-0405-0607-0809-0a0b0c0d0e0f");
        assert_eq!(uuid(&[0xab]), "ab");
    }

    #[test]
    fn bytes_that_are_not_utf8_become_hex() {
        assert_eq!(text_of(b"Jansen".to_vec()), Cell::Text("Jansen".into()));
        assert_eq!(text_of(vec![0xff, 0x00]), Cell::Text("ff00".into()));
    }
}
