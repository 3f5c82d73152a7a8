//! Personal data over time: the nightly purge of what reminderd no longer needs
//! (`[privacy] retention` after an appointment ended), and `reminderd forget` for one
//! person (see `store::erase` for what is erased and what stays).

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::clock::Clock;
use crate::store::{Erased, Store, StoreError};

/// Meta retries a webhook delivery for up to 7 days; the event keys that recognise a
/// redelivery (and the raw deliveries they belong to) are kept at least this long.
pub const MIN_DELIVERY_RETENTION: Duration = Duration::from_secs(8 * 86_400);

/// The nightly purge.
#[derive(Clone, Debug)]
pub struct Retention {
    pub store: Store,
    pub clock: Clock,
    /// How long after an appointment ended its personal data is kept.
    pub keep: Duration,
    pub zone: Tz,
    /// When it runs each night, in `zone`.
    pub at: NaiveTime,
}

impl Retention {
    /// The cutoffs at `now`: appointments that ended before the first, deliveries
    /// received before the second.
    pub fn cutoffs(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let keep = chrono::Duration::from_std(self.keep).unwrap_or(chrono::Duration::MAX);
        let deliveries = chrono::Duration::from_std(self.keep.max(MIN_DELIVERY_RETENTION))
            .unwrap_or(chrono::Duration::MAX);
        (now - keep, now - deliveries)
    }

    /// One purge, now.
    pub async fn run_once(&self) -> Result<Erased, StoreError> {
        let now = self.clock.now();
        let (appointments, deliveries) = self.cutoffs(now);
        let erased = self.store.purge(appointments, deliveries, now).await?;
        info!(
            appointments = erased.appointments,
            messages = erased.messages,
            deliveries = erased.deliveries,
            "retention: old personal data erased"
        );
        Ok(erased)
    }

    /// Runs the purge every night at `at` until `shutdown`. On PostgreSQL every replica
    /// schedules it; they take turns on a lock, and the later ones find nothing left.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut scheduler = JobScheduler::new().await?;
        let schedule = self.at.format("0 %M %H * * *").to_string();
        let job = Job::new_async_tz(schedule.as_str(), self.zone, move |_, _| {
            let retention = self.clone();
            Box::pin(async move {
                if let Err(e) = retention.run_once().await {
                    error!(error.cause_chain = ?e, "retention: the purge failed; tried again tomorrow");
                }
            })
        })
        .context("cannot schedule the retention purge")?;
        scheduler.add(job).await?;
        scheduler.start().await?;
        shutdown.cancelled().await;
        scheduler.shutdown().await?;
        Ok(())
    }
}
