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
//!
//! Checkpoints — copying what the write-ahead log holds into the database file — run
//! in the background (see [`checkpoints`]) instead of in the commit that happens to
//! fill the log past SQLite's threshold: that commit used to copy and sync everything
//! written since the last one, so after a large import the next webhook to commit
//! waited for tens of megabytes to be copied.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{Mutex, OwnedMutexGuard};
use tokio_util::sync::{CancellationToken, DropGuard};

/// How long SQLite itself waits for a lock, and so the longest wait for a turn: after
/// it the transaction goes ahead without one and meets SQLite's own waiting, so a bug
/// that begins a transaction inside another fails as it always did instead of hanging.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the background checkpoint runs: the write-ahead log holds about this
/// much time's writes beyond what readers still need.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// An SQLite database: its pool, the queue its write transactions wait in, and its
/// background checkpoints (which stop when the last copy of this is dropped).
#[derive(Clone, Debug)]
pub struct SqliteDb {
    pool: SqlitePool,
    turns: Arc<Mutex<()>>,
    _checkpoints: Arc<DropGuard>,
}

/// What a checkpoint did, as `pragma wal_checkpoint` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, sqlx::FromRow)]
pub(super) struct Checkpoint {
    /// Whether a reader or writer kept it from finishing (a `passive` checkpoint then
    /// copies what it can and leaves the rest for the next one).
    pub busy: bool,
    /// Pages in the log.
    pub log: i64,
    /// Pages of the log now in the database file.
    pub checkpointed: i64,
}

/// The turn of one write transaction; the next one's begins when this is dropped.
pub(super) type WriteTurn = Option<OwnedMutexGuard<()>>;

impl SqliteDb {
    /// Wraps an open pool whose connections do not checkpoint by themselves
    /// (`wal_autocheckpoint = 0`) and starts its background checkpoints; needs a Tokio
    /// runtime.
    pub(super) fn new(pool: SqlitePool) -> Self {
        let stop = CancellationToken::new();
        tokio::spawn(checkpoints(pool.clone(), stop.clone()));
        SqliteDb { pool, turns: Arc::default(), _checkpoints: Arc::new(stop.drop_guard()) }
    }

    /// Stops the background checkpoints (tests that need to see what a commit does).
    #[cfg(test)]
    fn stop_checkpoints(&self) {
        self._checkpoints.token().cancel();
    }

    /// Copies what the write-ahead log holds into the database file, as far as readers
    /// allow, without waiting for anyone (`passive`).
    pub(super) async fn checkpoint(&self) -> sqlx::Result<Checkpoint> {
        checkpoint(&self.pool).await
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

async fn checkpoint(pool: &SqlitePool) -> sqlx::Result<Checkpoint> {
    sqlx::query_as("pragma wal_checkpoint(passive)").fetch_one(pool).await
}

/// Checkpoints the log every [`CHECKPOINT_EVERY`] until `stop` or the pool is closed.
/// A passive checkpoint neither waits for nor blocks writers and readers, and one with
/// nothing to copy reads one header; whichever commit filled the log, it pays nothing.
async fn checkpoints(pool: SqlitePool, stop: CancellationToken) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        if pool.is_closed() {
            return;
        }
        if let Err(e) = checkpoint(&pool).await {
            // the log only grows until the next one succeeds; readers and writers go on
            tracing::warn!(error = %e, "the SQLite checkpoint failed; retrying");
        }
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

#[cfg(test)]
mod tests {
    use super::super::Store;
    use super::*;

    /// 8 MB in one transaction: far more than SQLite's own threshold of 1,000 pages.
    async fn write_8_mb(db: &SqliteDb) {
        sqlx::query("create table t (v text)").execute(&**db).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        sqlx::query(
            "insert into t with recursive n(i) as (select 1 union all select i + 1 from n \
             where i < 20000) select printf('%0400d', i) from n",
        )
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    async fn open(file: &std::path::Path) -> Store {
        Store::connect(&format!("sqlite://{}", file.display()), 2).await.unwrap()
    }

    fn size(file: &std::path::Path) -> u64 {
        std::fs::metadata(file).unwrap().len()
    }

    /// A commit leaves its pages in the log, however many: no writer pays for copying
    /// what others wrote.
    #[tokio::test]
    async fn a_commit_does_not_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.sqlite3");
        let store = open(&file).await;
        let Store::Sqlite(db) = &store else { unreachable!("an SQLite store") };
        db.stop_checkpoints();
        let before = size(&file);
        write_8_mb(db).await;
        assert_eq!(size(&file), before, "the commit copied the log into the file");
        let rows: i64 =
            sqlx::query_scalar("select count(*) from t").fetch_one(&**db).await.unwrap();
        assert_eq!(rows, 20_000);
        let done = db.checkpoint().await.unwrap();
        assert!(!done.busy && done.checkpointed == done.log && done.log > 2_000, "{done:?}");
        assert!(size(&file) > before + 8_000_000);
        store.close().await;
    }

    /// The background checkpoints copy the log into the database file soon after.
    #[tokio::test]
    async fn checkpoints_run_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.sqlite3");
        let store = open(&file).await;
        let Store::Sqlite(db) = &store else { unreachable!("an SQLite store") };
        let before = size(&file);
        write_8_mb(db).await;
        let deadline = tokio::time::Instant::now() + 10 * CHECKPOINT_EVERY;
        while size(&file) < before + 8_000_000 {
            assert!(tokio::time::Instant::now() < deadline, "no checkpoint in the background");
            tokio::time::sleep(CHECKPOINT_EVERY / 10).await;
        }
        store.close().await;
    }
}
