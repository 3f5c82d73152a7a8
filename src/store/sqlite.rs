//! SQLite's one writer at a time, taken in turns.
//!
//! SQLite lets one connection write at a time; the others poll, sleeping 1, 2, 5 … and
//! then 100 ms between tries, so a writer may wait for luck rather than for the
//! writers before it. When the inbox processor worked off a backlog, one transaction
//! after another, the webhook's group commits waited up to 1.2 s for a gap
//! (`cargo bench --bench webhook`). The write transactions of this process therefore
//! queue for their turn, first come, first served, and a writer waits only for the
//! transactions ahead of it. Statements outside a transaction, and other processes,
//! still meet SQLite's own waiting (the busy timeout).

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// How long SQLite itself waits for a lock, and so the longest wait for a turn: after
/// it the transaction goes ahead without one and meets SQLite's own waiting, so a bug
/// that begins a transaction inside another fails as it always did instead of hanging.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// An SQLite database: its pool, and the queue its write transactions wait in.
#[derive(Clone, Debug)]
pub struct SqliteDb {
    pool: SqlitePool,
    turns: Arc<Mutex<()>>,
}

/// The turn of one write transaction; the next one's begins when this is dropped.
pub(super) type WriteTurn = Option<OwnedMutexGuard<()>>;

impl SqliteDb {
    pub(super) fn new(pool: SqlitePool) -> Self {
        SqliteDb { pool, turns: Arc::default() }
    }

    /// Waits for this process's turn to write (see the module's header).
    pub(super) async fn write_turn(&self) -> WriteTurn {
        tokio::time::timeout(BUSY_TIMEOUT, self.turns.clone().lock_owned()).await.ok()
    }

    /// Begins a write transaction in turn. It takes the write lock at once (`begin
    /// immediate`), so two writers wait for each other instead of failing when a read
    /// lock would have to be upgraded.
    pub(super) async fn begin(&self) -> sqlx::Result<SqliteTx> {
        let turn = self.write_turn().await;
        let tx = self.pool.begin_with("begin immediate").await?;
        Ok(SqliteTx { tx, next_appointment_id: None, _turn: turn })
    }
}

impl Deref for SqliteDb {
    type Target = SqlitePool;

    fn deref(&self) -> &SqlitePool {
        &self.pool
    }
}

/// A write transaction on SQLite, holding its turn until it ends; used as its
/// connection (`&mut **tx`).
#[derive(Debug)]
pub struct SqliteTx {
    // dropped first: the rollback is under way before the next turn begins
    tx: sqlx::Transaction<'static, Sqlite>,
    /// The id [`crate::store::Tx::new_appointment_ids`] hands out next, once it has
    /// read the largest one in use; forgotten when an upsert may have taken it.
    pub(super) next_appointment_id: Option<i64>,
    _turn: WriteTurn,
}

impl SqliteTx {
    pub(super) async fn commit(self) -> sqlx::Result<()> {
        self.tx.commit().await
    }
}

impl Deref for SqliteTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.tx
    }
}

impl DerefMut for SqliteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}
