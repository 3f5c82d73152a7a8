//! Group commit of webhook deliveries. The handler verifies a delivery, hands it to
//! the one [`InboxWriter`] and waits; the writer takes everything waiting (up to
//! [`MAX_BATCH`] deliveries or [`MAX_BATCH_BYTES`]), stores it in one transaction with
//! one durable commit, then answers every handler of the batch.
//!
//! Nothing waits for a timer: while one commit runs the next batch gathers by itself,
//! so a quiet webhook commits each delivery at once and a busy one pays one disk sync
//! for hundreds. A failed commit answers every delivery of its batch with an error
//! (the handler's 503, and Meta delivers again); none is ever answered before its
//! commit returned.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::store::{Inserted, NewInbox, Store, StoreError, inbox_digest};

/// Most deliveries in one commit.
pub const MAX_BATCH: usize = 512;
/// A batch takes no more deliveries once it holds this many bytes (Meta's largest body
/// is 3 MB, so one batch holds at most 11 MB).
pub const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;
/// Deliveries handed over and not yet taken by the writer; beyond this, handlers wait
/// to hand theirs over (back-pressure instead of memory).
const QUEUE: usize = 2 * MAX_BATCH;
const PROVIDER: &str = "whatsapp";

/// Why a delivery was not stored; either way the handler answers 503.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The writer stopped (shutdown): nothing more is stored by this process.
    #[error("the inbox writer has stopped")]
    Stopped,
    /// The batch's transaction failed; nothing of it was stored.
    #[error("storing the batch of deliveries failed")]
    Store(#[source] Arc<StoreError>),
}

/// A delivery waiting for the writer, and where to tell its handler the outcome.
struct Pending {
    body: Bytes,
    sha256: String,
    received_at: DateTime<Utc>,
    answer: oneshot::Sender<Result<Inserted, IngestError>>,
}

#[derive(Debug, Default)]
struct Counters {
    commits: AtomicU64,
    deliveries: AtomicU64,
}

/// The handlers' side: hands a delivery to the writer and waits for its commit.
#[derive(Clone, Debug)]
pub struct Ingest {
    queue: mpsc::Sender<Pending>,
    counters: Arc<Counters>,
}

/// The one task that writes the inbox; run it with [`InboxWriter::run`].
#[derive(Debug)]
pub struct InboxWriter {
    queue: mpsc::Receiver<Pending>,
    store: Store,
    /// Woken after a batch stored something new (the inbox processor).
    stored: Arc<Notify>,
    counters: Arc<Counters>,
}

/// A writer on `store` and the handle the webhook handlers use to reach it.
pub fn inbox_writer(store: Store, stored: Arc<Notify>) -> (Ingest, InboxWriter) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let counters = Arc::new(Counters::default());
    (
        Ingest { queue: tx, counters: counters.clone() },
        InboxWriter { queue: rx, store, stored, counters },
    )
}

impl Ingest {
    /// Stores `body` durably, in one commit with whatever else is waiting; returns once
    /// that commit returned.
    pub async fn store(
        &self,
        body: Bytes,
        received_at: DateTime<Utc>,
    ) -> Result<Inserted, IngestError> {
        // hashed here, on the handler's thread, not in the single writer
        let sha256 = inbox_digest(&body);
        let (answer, answered) = oneshot::channel();
        let pending = Pending { body, sha256, received_at, answer };
        self.queue.send(pending).await.map_err(|_| IngestError::Stopped)?;
        answered.await.map_err(|_| IngestError::Stopped)?
    }

    /// Deliveries handed over and not yet taken into a batch.
    pub fn waiting(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// Commits so far (each stored one batch).
    pub fn commits(&self) -> u64 {
        self.counters.commits.load(Ordering::Relaxed)
    }

    /// Deliveries answered as stored so far (redeliveries included).
    pub fn deliveries(&self) -> u64 {
        self.counters.deliveries.load(Ordering::Relaxed)
    }
}

impl InboxWriter {
    /// Writes batches until `shutdown`; then refuses new deliveries (the handler's 503)
    /// and stores the ones already handed over before it returns.
    pub async fn run(mut self, shutdown: CancellationToken) {
        info!("inbox writer started");
        let mut open = true;
        loop {
            let next = tokio::select! {
                next = self.queue.recv() => next,
                () = shutdown.cancelled(), if open => {
                    self.queue.close();
                    open = false;
                    continue;
                }
            };
            let Some(first) = next else { break };
            let batch = self.gather(first);
            self.write(batch).await;
        }
        info!(
            commits = self.counters.commits.load(Ordering::Relaxed),
            deliveries = self.counters.deliveries.load(Ordering::Relaxed),
            "inbox writer stopped"
        );
    }

    /// `first` and everything else already waiting, up to the batch limits.
    fn gather(&mut self, first: Pending) -> Vec<Pending> {
        let mut bytes = first.body.len();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            let Ok(next) = self.queue.try_recv() else { break };
            bytes += next.body.len();
            batch.push(next);
        }
        batch
    }

    /// One transaction for the whole batch, then every handler is answered.
    async fn write(&self, batch: Vec<Pending>) {
        let rows: Vec<NewInbox<'_>> = batch
            .iter()
            .map(|p| NewInbox { body: &p.body, sha256: &p.sha256, received_at: p.received_at })
            .collect();
        let started = Instant::now();
        let result = self.store.insert_inbox_batch(PROVIDER, &rows).await;
        drop(rows);
        match result {
            Ok(outcomes) => {
                self.counters.commits.fetch_add(1, Ordering::Relaxed);
                self.counters.deliveries.fetch_add(batch.len() as u64, Ordering::Relaxed);
                let new = outcomes.iter().filter(|o| matches!(o, Inserted::New(_))).count();
                let took = started.elapsed();
                debug!(deliveries = batch.len(), new, ?took, "inbox batch committed");
                if new > 0 {
                    self.stored.notify_one();
                }
                for (pending, outcome) in batch.into_iter().zip(outcomes) {
                    // a handler that gave up (client gone) still had its delivery stored
                    let _ = pending.answer.send(Ok(outcome));
                }
            }
            Err(e) => {
                warn!(error = %e, deliveries = batch.len(), "a batch of deliveries was not stored");
                let e = Arc::new(e);
                for pending in batch {
                    let _ = pending.answer.send(Err(IngestError::Store(e.clone())));
                }
            }
        }
    }
}
