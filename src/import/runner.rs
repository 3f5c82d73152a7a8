//! Running imports: fetch a source, read it, reconcile it, and remember how it went —
//! once on demand, or every poll interval on `tokio-cron-scheduler`.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sha2::{Digest, Sha256};
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use super::contact::ContactRules;
use super::database::{SqlError, SqlSettings, read as read_sql};
use super::fetch::{FeedAuth, FetchError, Fetched, Fetcher, Validators, display_location};
use super::sync::{
    Planning, Reading, Reconciliation, SyncError, SyncReport, VanishGuard, Window, reconcile,
};
use super::{FeedReading, check_readable, read_appointments_in_parts};
use crate::clock::Clock;
use crate::domain::Region;
use crate::rules::{RuleSet, WorkCalendar};
use crate::store::{FeedVersion, SourceState, Store, StoreError};

/// One configured calendar feed.
#[derive(Clone, Debug)]
pub struct SourceSpec {
    pub name: String,
    /// `http(s)://`, `webcal://`, `file://` or a path.
    pub location: String,
    pub poll_interval: Duration,
    /// Used when an event has no LOCATION of its own.
    pub default_location: Option<String>,
    pub contact: ContactRules,
    pub auth: Option<FeedAuth>,
    /// Whether all-day events become appointments.
    pub include_all_day: bool,
    /// Set for a source of kind `sql`: the query replaces the feed.
    pub sql: Option<SqlSettings>,
}

/// How imports behave, from `[import]`, `[business]` and `[dispatch]`.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    pub lookahead: Duration,
    pub zone: Tz,
    pub region: Region,
    /// The practice's working days, for rules that count them.
    pub workdays: WorkCalendar,
    /// An unchanged feed is still read in full this often (the window moves on).
    pub refresh_interval: Duration,
    pub guard: VanishGuard,
}

/// What one import did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportOutcome {
    /// The feed has not changed (HTTP 304): no database writes.
    Unchanged,
    Applied(SyncReport),
}

/// Why an import failed. The last good import stays in place.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot fetch {location}: {source}")]
    Fetch { location: String, source: FetchError },
    #[error("cannot read the feed {location}: {detail}")]
    Parse { location: String, detail: String },
    #[error("cannot read the database of source `{name}`: {source}")]
    Sql { name: String, source: SqlError },
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Imports sources into the store.
#[derive(Clone, Debug)]
pub struct Importer {
    store: Store,
    clock: Clock,
    fetcher: Fetcher,
    rules: Arc<RuleSet>,
    options: ImportOptions,
}

impl Importer {
    pub fn new(
        store: Store,
        clock: Clock,
        fetcher: Fetcher,
        rules: Arc<RuleSet>,
        options: ImportOptions,
    ) -> Self {
        Importer { store, clock, fetcher, rules, options }
    }

    /// What is known of the source's last import, if it is recent enough to skip an
    /// unchanged source (see `import.refresh_interval`).
    async fn fresh_state(
        &self,
        source: &SourceSpec,
        now: DateTime<Utc>,
    ) -> Result<Option<SourceState>, StoreError> {
        let known = self.store.source_state(&source.name).await?;
        let refresh = chrono::Duration::from_std(self.options.refresh_interval).unwrap_or_default();
        Ok(known.filter(|k| k.last_success_at.is_some_and(|at| now - at < refresh)))
    }

    /// The part of time an import at `now` covers.
    fn window(&self, now: DateTime<Utc>) -> Window {
        let ahead =
            chrono::Duration::from_std(self.options.lookahead).unwrap_or(chrono::Duration::MAX);
        Window { from: now, to: now + ahead }
    }

    /// A `sql` source: the query's rows, reconciled like a feed. The same rows again
    /// (by the digest of their fingerprints) write nothing.
    async fn try_import_sql(
        &self,
        source: &SourceSpec,
        sql: &SqlSettings,
        known: Option<SourceState>,
        window: Window,
        now: DateTime<Utc>,
    ) -> Result<ImportOutcome, ImportError> {
        let read = read_sql(sql, &source.name, window, self.options.zone, self.options.region)
            .await
            .map_err(|e| ImportError::Sql { name: source.name.clone(), source: e })?;
        for problem in &read.problems {
            warn!(%problem, "row skipped");
        }
        let mut fingerprints: Vec<(&str, String)> =
            read.appointments.iter().map(|a| (a.external_id.as_str(), a.fingerprint())).collect();
        fingerprints.sort_unstable();
        let mut digest = Sha256::new();
        for (id, fingerprint) in &fingerprints {
            digest.update(id.as_bytes());
            digest.update([0]);
            digest.update(fingerprint.as_bytes());
        }
        let digest = hex::encode(digest.finalize());
        if self.unchanged(source, known.as_ref(), &digest, now).await? {
            return Ok(ImportOutcome::Unchanged);
        }
        let version = FeedVersion { body_sha256: Some(digest), ..FeedVersion::default() };
        self.apply(source, read, window, version, now).await
    }

    /// Whether a source's content is the one last imported (by its digest); then an
    /// error an earlier attempt left on record no longer holds. Otherwise nothing is
    /// written: an unchanged source costs no writes.
    async fn unchanged(
        &self,
        source: &SourceSpec,
        known: Option<&SourceState>,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let Some(known) = known.filter(|k| k.body_sha256.as_deref() == Some(digest)) else {
            return Ok(false);
        };
        self.recovered(source, known, now).await?;
        Ok(true)
    }

    /// Clears the error of an earlier failed attempt, if there is one.
    async fn recovered(
        &self,
        source: &SourceSpec,
        known: &SourceState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if known.last_error.is_some() {
            self.store.record_import_unchanged(&source.name, now).await?;
        }
        Ok(())
    }

    /// Reconciles one complete reading of `source` with the store.
    async fn apply(
        &self,
        source: &SourceSpec,
        read: FeedReading,
        window: Window,
        version: FeedVersion,
        now: DateTime<Utc>,
    ) -> Result<ImportOutcome, ImportError> {
        let reading = Reading {
            source: &source.name,
            appointments: &read.appointments,
            window,
            version: &version,
            unreadable: &read.unreadable,
            problems: &read.problems,
        };
        let report =
            reconcile(&self.store, reading, self.planning(), self.options.guard, now).await?;
        Ok(ImportOutcome::Applied(report))
    }

    /// What planning needs: the rules, the zone and the working days.
    pub fn planning(&self) -> Planning<'_> {
        Planning { rules: &self.rules, zone: self.options.zone, workdays: &self.options.workdays }
    }

    /// Imports one source now. A failure is recorded for `/readyz` and the report, and
    /// changes nothing else.
    pub async fn import(&self, source: &SourceSpec) -> Result<ImportOutcome, ImportError> {
        let span = info_span!("import", source = %source.name);
        async {
            let now = self.clock.now();
            let result = self.try_import(source, now).await;
            match &result {
                Ok(ImportOutcome::Unchanged) => tracing::debug!("source unchanged"),
                Ok(ImportOutcome::Applied(r)) => info!(
                    seen = r.seen,
                    inserted = r.inserted,
                    updated = r.updated,
                    removed = r.removed,
                    planned = r.reminders_planned,
                    cancelled = r.reminders_cancelled,
                    "imported"
                ),
                Err(e) => {
                    warn!(error.cause_chain = ?e, "import failed; the last good import is kept");
                    self.store.record_import_failure(&source.name, now, &e.to_string()).await?;
                }
            }
            result
        }
        .instrument(span)
        .await
    }

    async fn try_import(
        &self,
        source: &SourceSpec,
        now: DateTime<Utc>,
    ) -> Result<ImportOutcome, ImportError> {
        // Validators and the body digest let an unchanged feed cost one request; but the
        // window moves on, so now and then the feed is read in full regardless.
        let known = self.fresh_state(source, now).await?;
        let window = self.window(now);
        if let Some(sql) = &source.sql {
            return self.try_import_sql(source, sql, known, window, now).await;
        }
        let validators = Validators {
            etag: known.as_ref().and_then(|s| s.etag.clone()),
            last_modified: known.as_ref().and_then(|s| s.last_modified.clone()),
        };
        let location = display_location(&source.location);
        let fetched = self
            .fetcher
            .fetch(&source.location, &validators, source.auth.as_ref())
            .await
            .map_err(|e| ImportError::Fetch { location: location.clone(), source: e })?;
        let (text, validators) = match (fetched, &known) {
            (Fetched::Body { text, validators }, _) => (text, validators),
            // a 304 answers the validators of a known import
            (Fetched::Unchanged, Some(known)) => {
                self.recovered(source, known, now).await?;
                return Ok(ImportOutcome::Unchanged);
            }
            (Fetched::Unchanged, None) => return Ok(ImportOutcome::Unchanged),
        };
        let digest = hex::encode(Sha256::digest(text.as_bytes()));
        if self.unchanged(source, known.as_ref(), &digest, now).await? {
            return Ok(ImportOutcome::Unchanged);
        }
        check_readable(&text).map_err(|detail| ImportError::Parse { location, detail })?;
        let version = FeedVersion {
            etag: validators.etag,
            last_modified: validators.last_modified,
            body_sha256: Some(digest),
        };
        self.apply_feed(source, text, window, version, now).await
    }

    /// Reads a feed on a blocking thread and reconciles its appointments as they come:
    /// the database writes the first parts while the rest is read.
    async fn apply_feed(
        &self,
        source: &SourceSpec,
        text: String,
        window: Window,
        version: FeedVersion,
        now: DateTime<Utc>,
    ) -> Result<ImportOutcome, ImportError> {
        // a few parts ahead: enough to keep the database busy, little memory
        let (parts, mut received) = tokio::sync::mpsc::channel(4);
        let reader = {
            let (source, options) = (source.clone(), self.options.clone());
            tokio::task::spawn_blocking(move || {
                read_appointments_in_parts(&text, &source, window, &options, |part| {
                    // a closed channel: the reconciliation failed, stop reading
                    match parts.blocking_send(part) {
                        Ok(()) => ControlFlow::Continue(()),
                        Err(_) => ControlFlow::Break(()),
                    }
                })
            })
        };
        let mut reconciliation =
            Reconciliation::begin(&self.store, &source.name, window, self.planning(), now).await?;
        while let Some(part) = received.recv().await {
            reconciliation.add(part).await?;
        }
        let read = match reader.await {
            Ok(read) => read,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // only as the runtime shuts down
            Err(e) => Err(e.to_string()),
        };
        // unfinished, the reconciliation rolls back as it is dropped
        let read = read.map_err(|detail| ImportError::Parse {
            location: display_location(&source.location),
            detail,
        })?;
        let report = reconciliation
            .finish(&read.unreadable, &version, &read.problems, self.options.guard)
            .await?;
        Ok(ImportOutcome::Applied(report))
    }

    /// Imports every source now, then each again every poll interval until `shutdown`.
    /// `imported` is notified after each import (the dispatcher wakes to send what it
    /// planned).
    pub async fn run(
        self,
        sources: Vec<SourceSpec>,
        shutdown: CancellationToken,
        imported: Arc<tokio::sync::Notify>,
    ) -> anyhow::Result<()> {
        if sources.is_empty() {
            warn!("no sources configured: nothing will be imported");
            return Ok(());
        }
        for source in &sources {
            let _ = self.import(source).await;
        }
        imported.notify_one();
        let mut scheduler = JobScheduler::new().await?;
        for source in sources {
            let importer = self.clone();
            let imported = imported.clone();
            let source = Arc::new(source);
            let interval = source.poll_interval;
            let job = Job::new_repeated_async(interval, move |_, _| {
                let importer = importer.clone();
                let source = source.clone();
                let imported = imported.clone();
                Box::pin(async move {
                    if importer.import(&source).await.is_ok() {
                        imported.notify_one();
                    }
                })
            })?;
            scheduler.add(job).await?;
        }
        scheduler.start().await?;
        shutdown.cancelled().await;
        scheduler.shutdown().await?;
        Ok(())
    }
}
