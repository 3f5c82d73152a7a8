//! SQL sources: the appointments of a practice-management system, read straight from
//! its own PostgreSQL, MySQL/MariaDB or SQLite database with one configured query.
//!
//! Result columns are matched to appointment fields **by name** (`id`, `start`, …), so
//! the query can be anything the practice's schema needs; a [`ColumnMap`] renames
//! them (`start = "begintijd"`). The connection is read-only and the query has a time
//! limit. A query that cannot run, or that lacks a mapped column, fails the whole
//! import with an [`SqlError`] (the last good import is kept); a single row that cannot
//! be read is skipped and reported, so one bad row never hides the others.

mod driver;

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tracing::warn;

use self::driver::{Backend, Cell};
use super::FeedReading;
use super::contact::{Contact, first_usable_phone};
use super::sync::Window;
use crate::domain::time::resolve_local;
use crate::domain::{AppointmentStatus, Region};
use crate::store::AppointmentInput;

/// How long an appointment without an end lasts: a usual consultation.
pub const DEFAULT_DURATION: chrono::Duration = chrono::Duration::minutes(30);

/// How one SQL source is read. Embed it as its own table (e.g. `[sources.sql]`): it
/// refuses unknown keys, so it cannot be `#[serde(flatten)]`ed.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SqlSettings {
    /// `postgres://…`, `mysql://…` (or `mariadb://…`) or `sqlite:…`. A secret: it
    /// usually holds a password, so it is neither printed by `Debug` nor serialized.
    #[serde(default, with = "crate::domain::secret")]
    pub url: Option<SecretString>,
    /// Or a file holding the URL (systemd credentials, Docker secrets); read when the
    /// configuration loads.
    #[serde(default, skip_serializing)]
    pub url_file: Option<std::path::PathBuf>,
    /// The query; its result columns are read by name.
    pub query: String,
    /// Which result column holds which field.
    #[serde(default)]
    pub columns: ColumnMap,
    /// The zone of times without one (`timestamp`, `DATETIME`, text without an
    /// offset), when a row has no `time_zone` of its own; default: the business zone.
    #[serde(
        default,
        deserialize_with = "de_zone",
        serialize_with = "ser_zone",
        skip_serializing_if = "Option::is_none"
    )]
    pub time_zone: Option<Tz>,
    /// How long connecting and running the query may take together.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

/// The result column of each appointment field. Each defaults to the field's own name.
///
/// `id` and `start` must be in the result. The others are optional while they keep
/// their default name; a column renamed here must be in the result, because a renamed
/// column that is missing is a typo, not a choice.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ColumnMap {
    /// Identity of the appointment in the practice's system (text or a number).
    pub id: String,
    pub start: String,
    /// Missing or empty: [`DEFAULT_DURATION`] after the start.
    pub end: String,
    /// An IANA zone name for this row's times without an offset.
    pub time_zone: String,
    pub customer_name: String,
    pub phone: String,
    pub email: String,
    /// Accepted so configurations can name it, but not read yet: an imported
    /// appointment carries no consent (consent is its own record).
    pub opt_in: String,
    pub location: String,
    /// The calendar as staff call it; default: the source's name.
    pub calendar: String,
    /// Cancelled when it says so (`cancelled`, `geannuleerd`, …) or is boolean true.
    pub status: String,
    /// Accepted but not read: changes are found by comparing what was imported.
    pub updated_at: String,
}

impl Default for ColumnMap {
    fn default() -> Self {
        let name = |f: Field| f.key().to_string();
        ColumnMap {
            id: name(Field::Id),
            start: name(Field::Start),
            end: name(Field::End),
            time_zone: name(Field::TimeZone),
            customer_name: name(Field::CustomerName),
            phone: name(Field::Phone),
            email: name(Field::Email),
            opt_in: name(Field::OptIn),
            location: name(Field::Location),
            calendar: name(Field::Calendar),
            status: name(Field::Status),
            updated_at: name(Field::UpdatedAt),
        }
    }
}

/// An appointment field a column can be mapped to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Id,
    Start,
    End,
    TimeZone,
    CustomerName,
    Phone,
    Email,
    OptIn,
    Location,
    Calendar,
    Status,
    UpdatedAt,
}

impl Field {
    pub const ALL: [Field; 12] = [
        Field::Id,
        Field::Start,
        Field::End,
        Field::TimeZone,
        Field::CustomerName,
        Field::Phone,
        Field::Email,
        Field::OptIn,
        Field::Location,
        Field::Calendar,
        Field::Status,
        Field::UpdatedAt,
    ];

    /// The key in [`ColumnMap`], which is also the default column name.
    pub fn key(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Start => "start",
            Field::End => "end",
            Field::TimeZone => "time_zone",
            Field::CustomerName => "customer_name",
            Field::Phone => "phone",
            Field::Email => "email",
            Field::OptIn => "opt_in",
            Field::Location => "location",
            Field::Calendar => "calendar",
            Field::Status => "status",
            Field::UpdatedAt => "updated_at",
        }
    }

    fn required(self) -> bool {
        matches!(self, Field::Id | Field::Start)
    }

    /// Whether the importer reads the field's values (see [`ColumnMap`]).
    fn is_read(self) -> bool {
        !matches!(self, Field::UpdatedAt)
    }
}

impl ColumnMap {
    pub fn column(&self, field: Field) -> &str {
        match field {
            Field::Id => &self.id,
            Field::Start => &self.start,
            Field::End => &self.end,
            Field::TimeZone => &self.time_zone,
            Field::CustomerName => &self.customer_name,
            Field::Phone => &self.phone,
            Field::Email => &self.email,
            Field::OptIn => &self.opt_in,
            Field::Location => &self.location,
            Field::Calendar => &self.calendar,
            Field::Status => &self.status,
            Field::UpdatedAt => &self.updated_at,
        }
    }
}

impl SqlSettings {
    /// Checks what can be checked without a server, naming each bad key (relative to
    /// the table these settings are embedded in) and never the URL, which may hold a
    /// password.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        let url = self.url.as_ref().map_or("", |u| u.expose_secret());
        if url.trim().is_empty() {
            problems.push("url is empty".to_string());
        } else if Backend::of_url(url).is_none() {
            problems.push(format!(
                "url: `{}` is not a database this source can read (postgres://, mysql://, \
                 mariadb:// or sqlite:)",
                driver::scheme_of(url)
            ));
        }
        if self.query.trim().is_empty() {
            problems.push("query is empty".to_string());
        }
        for field in Field::ALL {
            if self.columns.column(field).trim().is_empty() {
                problems.push(format!("columns.{} is empty", field.key()));
            }
        }
        if self.timeout.is_zero() {
            problems.push("timeout must be longer than 0s".to_string());
        }
        if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
    }
}

/// Why a SQL source could not be read. The import fails and the last good one is kept.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error(
        "`{0}` is not a database this source can read (postgres://, mysql://, mariadb:// or \
         sqlite:)"
    )]
    Scheme(String),
    #[error("cannot connect to {database}: {source}")]
    Connect { database: String, source: sqlx::Error },
    #[error("the query failed: {source}")]
    Query { source: sqlx::Error },
    #[error("the query returns no column `{column}` for columns.{field}; it returns: {returned}")]
    MissingColumn { field: &'static str, column: String, returned: String },
    #[error(
        "column `{column}` (columns.{field}) has type {ty}, which cannot be read; convert it in \
         the query, e.g. to text"
    )]
    ColumnType { field: &'static str, column: String, ty: String },
    #[error("the database did not answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
}

/// Reads the appointments of a SQL source that start in `window`, logging each row
/// that had to be skipped. `calendar_default` names the calendar of rows without one;
/// `zone` is the business zone; national phone numbers are read in `region`.
pub async fn read_appointments(
    settings: &SqlSettings,
    calendar_default: &str,
    window: Window,
    zone: Tz,
    region: Region,
) -> Result<Vec<AppointmentInput>, SqlError> {
    let read = read(settings, calendar_default, window, zone, region).await?;
    for problem in &read.problems {
        warn!(calendar = calendar_default, %problem, "row skipped");
    }
    Ok(read.appointments)
}

/// As [`read_appointments`], returning the problems instead of logging them.
pub async fn read(
    settings: &SqlSettings,
    calendar_default: &str,
    window: Window,
    zone: Tz,
    region: Region,
) -> Result<FeedReading, SqlError> {
    let rows = tokio::time::timeout(settings.timeout, driver::read_table(settings))
        .await
        .map_err(|_| SqlError::Timeout(settings.timeout))??;
    let reader = RowReader {
        columns: &settings.columns,
        calendar: calendar_default,
        zone: settings.time_zone.unwrap_or(zone),
        region,
        window,
    };
    // rows that cannot be read name their id in `unreadable` (when it was readable),
    // so an import keeps their appointments as they were
    let mut import = FeedReading::default();
    let mut seen = HashSet::new();
    for (n, row) in rows.iter().enumerate() {
        match reader.read(row) {
            Ok(None) => {}
            Ok(Some(input)) if seen.insert(input.external_id.clone()) => {
                import.appointments.push(input)
            }
            Ok(Some(input)) => import.problems.push(format!(
                "row {} (id {}): the id appears more than once; the first row is kept",
                n + 1,
                input.external_id
            )),
            Err((id, problem)) => {
                import.problems.push(format!("row {}{problem}", n + 1));
                import.unreadable.extend(id);
            }
        }
    }
    Ok(import)
}

/// Where each read field is in the result.
#[derive(Debug)]
struct Layout {
    positions: Vec<(Field, usize)>,
}

impl Layout {
    /// Finds each field's column among `returned`: by exact name, else by the one name
    /// equal but for case (PostgreSQL folds unquoted names to lower case).
    fn resolve(map: &ColumnMap, returned: &[&str]) -> Result<Layout, SqlError> {
        let mut positions = Vec::new();
        for field in Field::ALL {
            let wanted = map.column(field);
            let found = returned.iter().position(|c| *c == wanted).or_else(|| {
                let mut alike =
                    returned.iter().enumerate().filter(|(_, c)| c.eq_ignore_ascii_case(wanted));
                match (alike.next(), alike.next()) {
                    (Some((i, _)), None) => Some(i),
                    _ => None,
                }
            });
            match found {
                Some(index) if field.is_read() => positions.push((field, index)),
                Some(_) => {}
                None if field.required() || wanted != field.key() => {
                    let mut names: Vec<String> =
                        returned.iter().take(30).map(|c| format!("`{c}`")).collect();
                    if returned.len() > names.len() {
                        names.push("…".into());
                    }
                    return Err(SqlError::MissingColumn {
                        field: field.key(),
                        column: wanted.to_string(),
                        returned: names.join(", "),
                    });
                }
                None => {}
            }
        }
        Ok(Layout { positions })
    }

    fn positions(&self) -> impl Iterator<Item = (Field, usize)> + '_ {
        self.positions.iter().copied()
    }

    fn read(&self, cell: impl Fn(usize) -> Result<Cell, String>) -> RowCells {
        RowCells(self.positions.iter().map(|&(field, index)| (field, cell(index))).collect())
    }
}

/// The mapped cells of one row; a cell that could not be decoded holds why.
#[derive(Debug)]
struct RowCells(Vec<(Field, Result<Cell, String>)>);

impl RowCells {
    fn get(&self, field: Field) -> Option<&Result<Cell, String>> {
        self.0.iter().find(|(f, _)| *f == field).map(|(_, c)| c)
    }
}

/// Turns rows into appointments.
struct RowReader<'a> {
    columns: &'a ColumnMap,
    calendar: &'a str,
    zone: Tz,
    region: Region,
    window: Window,
}

impl RowReader<'_> {
    /// The row's appointment, `None` when it starts outside the window, or why it cannot
    /// be read (a text that follows "row N").
    /// The row's appointment; `None` outside the window. A row that cannot be read
    /// gives its id (when that much could be read) and the problem.
    fn read(&self, row: &RowCells) -> Result<Option<AppointmentInput>, (Option<String>, String)> {
        let id = self.text(row, Field::Id).map_err(|e| (None, format!(": {e}")))?;
        let id =
            id.ok_or_else(|| (None, format!(": the id (column `{}`) is empty", self.columns.id)))?;
        self.read_with_id(row, &id).map_err(|e| (Some(id.clone()), format!(" (id {id}): {e}")))
    }

    fn read_with_id(&self, row: &RowCells, id: &str) -> Result<Option<AppointmentInput>, String> {
        let zone = match self.text(row, Field::TimeZone)? {
            None => self.zone,
            Some(name) => name.parse::<Tz>().map_err(|_| {
                format!("time_zone (column `{}`) is not an IANA zone name", self.columns.time_zone)
            })?,
        };
        let starts_at = self
            .time(row, Field::Start, zone)?
            .ok_or_else(|| format!("the start (column `{}`) is empty", self.columns.start))?;
        if starts_at < self.window.from || starts_at >= self.window.to {
            return Ok(None);
        }
        // as in a calendar: an end before the start is the start
        let ends_at = self
            .time(row, Field::End, zone)?
            .map_or(starts_at + DEFAULT_DURATION, |end| end.max(starts_at));
        let phone = self.text(row, Field::Phone)?;
        let (phone, problems) = first_usable_phone(phone, self.region);
        let contact = Contact {
            name: self.text(row, Field::CustomerName)?,
            phones: phone.iter().cloned().collect(),
            phone,
            email: self.text(row, Field::Email)?.filter(|e| e.contains('@')),
            whatsapp_opt_in: self
                .text(row, Field::OptIn)?
                .as_deref()
                .and_then(super::contact::yes_or_no),
            problems,
        };
        let contact_problem = contact.problem();
        Ok(Some(AppointmentInput {
            external_id: id.to_string(),
            starts_at,
            ends_at,
            summary: None,
            location: self.text(row, Field::Location)?,
            calendar: self.text(row, Field::Calendar)?.unwrap_or_else(|| self.calendar.to_string()),
            customer_name: contact.name,
            phone_is_mobile: contact.phone.as_ref().is_some_and(|p| p.is_mobile()),
            customer_phone: contact.phone.map(|p| p.e164().to_string()),
            customer_email: contact.email,
            contact_problem,
            status: self.status(row)?,
            whatsapp_opt_in: contact.whatsapp_opt_in.map(|opted_in| crate::store::OptInMarker {
                opted_in,
                method: crate::domain::ConsentMethod::Database,
            }),
        }))
    }

    fn cell<'r>(&self, row: &'r RowCells, field: Field) -> Result<Option<&'r Cell>, String> {
        match row.get(field) {
            None | Some(Ok(Cell::Null)) => Ok(None),
            Some(Ok(cell)) => Ok(Some(cell)),
            Some(Err(e)) => Err(format!(
                "{} (column `{}`) cannot be read: {e}",
                field.key(),
                self.columns.column(field)
            )),
        }
    }

    /// The field as trimmed text; `None` when absent, NULL or blank.
    fn text(&self, row: &RowCells, field: Field) -> Result<Option<String>, String> {
        let text = match self.cell(row, field)? {
            None => return Ok(None),
            Some(Cell::Text(s)) => s.trim().to_string(),
            Some(Cell::Int(i)) => i.to_string(),
            Some(Cell::Float(f)) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
            Some(Cell::Float(f)) => f.to_string(),
            Some(Cell::Bool(b)) => b.to_string(),
            Some(Cell::Instant(t)) => t.to_rfc3339(),
            Some(Cell::Local(t)) => t.to_string(),
            Some(Cell::Null) => return Ok(None),
        };
        Ok(Some(text).filter(|t| !t.is_empty()))
    }

    /// The field as an instant; times without an offset are read in `zone`.
    fn time(
        &self,
        row: &RowCells,
        field: Field,
        zone: Tz,
    ) -> Result<Option<DateTime<Utc>>, String> {
        let why = match self.cell(row, field)? {
            None => return Ok(None),
            Some(Cell::Instant(t)) => return Ok(Some(*t)),
            Some(Cell::Local(t)) => return Ok(Some(resolve_local(zone, *t))),
            Some(Cell::Text(s)) if s.trim().is_empty() => return Ok(None),
            Some(Cell::Text(s)) => match parse_time(s, zone) {
                Some(t) => return Ok(Some(t)),
                None => {
                    "is text that is not a date and time (RFC 3339, or a local \
                         `2026-10-25 09:30`)"
                }
            },
            Some(_) => "is not a date and time",
        };
        Err(format!("{} (column `{}`) {why}", field.key(), self.columns.column(field)))
    }

    fn status(&self, row: &RowCells) -> Result<AppointmentStatus, String> {
        let cancelled = match self.cell(row, Field::Status)? {
            Some(Cell::Bool(b)) => *b,
            Some(Cell::Text(s)) => is_cancelled(s),
            _ => false,
        };
        Ok(if cancelled { AppointmentStatus::Cancelled } else { AppointmentStatus::Scheduled })
    }
}

/// Text as an instant: RFC 3339 (also with a space and PostgreSQL's `+01`), or a local
/// date and time read in `zone`.
fn parse_time(text: &str, zone: Tz) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.to_utc());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.to_utc());
        }
    }
    for format in
        ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
    {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(resolve_local(zone, t));
        }
    }
    None
}

/// Words practice systems use for a cancelled appointment, in English and Dutch.
const CANCELLED: &[&str] = &[
    "cancelled",
    "canceled",
    "cancel",
    "cancellation",
    "geannuleerd",
    "annulering",
    "afgezegd",
    "afgemeld",
];

/// Whether a status text means cancelled: its first word is one of [`CANCELLED`]
/// (so `Geannuleerd door patiënt` and `cancelled_by_client` are, `niet geannuleerd` is
/// not).
fn is_cancelled(status: &str) -> bool {
    let first = status.trim().split(|c: char| !c.is_alphanumeric()).next().unwrap_or("");
    CANCELLED.iter().any(|word| first.eq_ignore_ascii_case(word))
}

fn de_zone<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Tz>, D::Error> {
    let Some(name) = Option::<String>::deserialize(d)? else { return Ok(None) };
    if name.trim().is_empty() {
        return Ok(None);
    }
    name.trim().parse::<Tz>().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "`{name}` is not an IANA time zone name such as Europe/Amsterdam"
        ))
    })
}

fn ser_zone<S: Serializer>(zone: &Option<Tz>, s: S) -> Result<S::Ok, S::Error> {
    match zone {
        Some(z) => s.serialize_str(z.name()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests;
