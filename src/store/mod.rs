//! All SQL. One [`Store`] over two backends: SQLite (the embedded default, one file in
//! the state directory, WAL) and PostgreSQL (several replicas). Statements are written
//! once where both backends accept them (`$1` placeholders, `on conflict`, `returning`)
//! and per backend where they differ (claiming with `for update skip locked`).
//!
//! Functions that must happen together take a [`Tx`]; the caller commits.

mod appointments;
mod audit;
mod consents;
mod conversations;
mod customers;
mod erase;
mod inbox;
mod morning;
mod notes;
mod outbox;
mod report;
mod sources;
mod sqlite;
mod state;
mod templates;
mod trouble;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, QueryBuilder};

pub use appointments::{
    AppointmentInput, ExistingAppointment, NewAppointments, OptInMarker, UPSERT_BATCH, UpsertBatch,
};
pub use audit::AuditEntry;
pub use conversations::StoredConversation;
pub use erase::{Erased, Person};
pub use inbox::{InboxRow, Inserted, NewInbox, inbox_digest};
pub use morning::{MorningRecord, MorningState};
pub use outbox::{AttemptOutcome, BoundOutbox, DedupKeys, NewOutbox};
pub use report::{DayTally, ReportRow};
pub use sources::{FeedVersion, SourceState};
pub use sqlite::{SqliteDb, SqliteTx};
pub use templates::TemplateRecord;
pub use trouble::{LimitTrouble, SmtpTrouble};

/// Why a store call failed, shaped for the caller's next decision.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or refused the statement. Retry later.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrating the database failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value the code does not understand (a bug or a manual edit).
    #[error("unreadable value in {table}.{column}: {detail}")]
    Corrupt { table: &'static str, column: &'static str, detail: String },
    #[error("cannot open the database: {0}")]
    Open(String),
    /// The caller asked for something the store refuses to record (a bug upstream:
    /// input is checked before it gets here).
    #[error("refused: {0}")]
    Invalid(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The database, whichever backend it is.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqliteDb),
    Postgres(PgPool),
}

/// A transaction on either backend.
#[derive(Debug)]
pub enum Tx {
    Sqlite(SqliteTx),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// Runs `$body` with `$c` bound to the connection of a [`Tx`], once per backend: the
/// body is written once and type-checked against both drivers.
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx {
            $crate::store::Tx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::store::Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

/// Like `on_tx!`, for a statement on the pool outside a transaction.
macro_rules! on_pool {
    ($store:expr, $c:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite(p) => {
                let $c = &**p;
                $body
            }
            $crate::store::Store::Postgres(p) => {
                let $c = p;
                $body
            }
        }
    };
}

pub(crate) use {on_pool, on_tx};

impl Store {
    /// Opens the database named by `url` (`sqlite://path` or `postgres://…`), creating an
    /// SQLite file and its folder on first start.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Ok(Store::Postgres(pool))
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // survives a crash of the process, not always a power loss; the
                // webhook's inbox commits, which Meta is told are safe, switch their
                // connection to `full` (`insert_inbox_batch`, which restores this)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(sqlite::BUSY_TIMEOUT)
                .foreign_keys(true)
                // Every multi-row statement inside a transaction keeps a statement
                // journal (the pages it changed, to undo just that statement); past
                // 64 KiB SQLite spills it to a temporary file, and a large import
                // spent a quarter of its database time writing those files. They never
                // need to survive a crash, so they stay in memory.
                .pragma("temp_store", "memory")
                // checkpoints run in the background (see `SqliteDb`), not in a commit
                .pragma("wal_autocheckpoint", "0")
                // A large import touches index pages all over the file; with the
                // default 2 MiB page cache SQLite spilled and re-read them mid
                // transaction. 12 MiB per connection (allocated only as pages are
                // used) holds the hot part of a busy practice's indexes; 16 MiB was
                // no faster within the noise and took the 100,000-event import to
                // 293-298 MB of its 300 MB budget (12 MiB: 271-285 MB).
                .pragma("cache_size", "-12288")
                // sqlx's SQLite thread hands each result row over a channel of this
                // many; with the default 50 it stopped halfway through every batched
                // upsert's `returning` rows to wait for ours to take them, two thread
                // switches each time. A whole batch fits now.
                .row_buffer_size(2 * appointments::UPSERT_BATCH);
            if let Some(parent) = options.get_filename().parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Open(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Ok(Store::Sqlite(SqliteDb::new(pool)))
        } else {
            Err(StoreError::Open(format!(
                "`{}` is neither sqlite://… nor postgres://…",
                crate::domain::redact::url_password(url)
            )))
        }
    }

    /// Brings the schema up to date with the migrations embedded in the binary.
    pub async fn migrate(&self) -> Result<()> {
        match self {
            Store::Sqlite(p) => sqlx::migrate!("migrations/sqlite").run(&**p).await?,
            Store::Postgres(p) => sqlx::migrate!("migrations/postgres").run(p).await?,
        }
        Ok(())
    }

    /// Which backend this is, for logs and readiness.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Starts a write transaction. On SQLite it waits for this process's turn to
    /// write and then takes the write lock at once (`begin immediate`; see
    /// [`SqliteDb`]).
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self {
            Store::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Store::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, c => sqlx::query("select 1").execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Copies what SQLite's write-ahead log holds into the database file now, as far as
    /// readers allow (it also happens every second in the background); nothing on
    /// PostgreSQL. Returns the pages copied.
    pub async fn checkpoint(&self) -> Result<i64> {
        match self {
            Store::Sqlite(db) => Ok(db.checkpoint().await?.checkpointed),
            Store::Postgres(_) => Ok(0),
        }
    }

    pub async fn close(&self) {
        on_pool!(self, c => c.close().await)
    }
}

/// A statement with its values bound for one backend. Binding is most of our side of a
/// large insert: done while the connection still runs the statement before, it costs
/// no time (see `UpsertBatch`, `NewAppointments`, `BoundOutbox`).
pub(crate) enum BoundQuery<'a> {
    Sqlite(QueryBuilder<'a, sqlx::Sqlite>),
    Postgres(QueryBuilder<'a, Postgres>),
}

impl std::fmt::Debug for BoundQuery<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BoundQuery::Sqlite(q) => f.debug_tuple("Sqlite").field(&q.sql()).finish(),
            BoundQuery::Postgres(q) => f.debug_tuple("Postgres").field(&q.sql()).finish(),
        }
    }
}

/// Which database a [`Tx`] is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Tx {
    /// Which database this is on: fixed for the transaction's life, so values can be
    /// bound for it while it still runs a statement.
    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs a statement bound for this transaction's backend; returns the rows it
    /// changed.
    pub(crate) async fn execute_bound(&mut self, query: BoundQuery<'_>) -> Result<u64> {
        Ok(match (self, query) {
            (Tx::Sqlite(t), BoundQuery::Sqlite(mut q)) => {
                q.build().execute(&mut **t).await?.rows_affected()
            }
            (Tx::Postgres(t), BoundQuery::Postgres(mut q)) => {
                q.build().execute(&mut **t).await?.rows_affected()
            }
            _ => unreachable!("a statement is bound for the transaction that runs it"),
        })
    }

    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    /// Serialises work on one key across replicas for the rest of the transaction
    /// (a PostgreSQL advisory lock; SQLite already has a single writer).
    pub async fn lock(&mut self, key: &str) -> Result<()> {
        if let Tx::Postgres(t) = self {
            sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(key)
                .execute(&mut **t)
                .await?;
        }
        Ok(())
    }
}

/// Parses a stored word into its enum, or reports the table and column.
pub(crate) fn word<T: FromStr<Err = String>>(
    table: &'static str,
    column: &'static str,
    value: &str,
) -> Result<T> {
    value.parse().map_err(|detail| StoreError::Corrupt { table, column, detail })
}
