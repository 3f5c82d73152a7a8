//! Meta's limits, kept on our side so we do not learn them from errors: the throughput
//! of a business number (messages per second), the pair rate (one message to the same
//! customer per 6 s) and the channel-wide stop after a token or account error.
//! (WHATSAPP.md §5.1, §5.2, and §4 for the errors.)

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use tokio::time::Instant;

/// Meta's throughput limits: 80 messages/s by default, up to 1,000 after the upgrade.
pub const MAX_RATE: u32 = 1_000;

/// At most `rate` permits in any sliding window of one second: the permit times of the
/// last `rate` sends are kept, and the next one waits until the oldest is a second old.
/// Waiters are served in order (tokio's mutex is fair).
///
/// Unlike a token bucket with a burst allowance, no one-second window ever holds more
/// than `rate` sends, whatever the burst before it.
#[derive(Debug)]
pub struct RateLimiter {
    rate: usize,
    window: StdDuration,
    recent: tokio::sync::Mutex<VecDeque<Instant>>,
}

impl RateLimiter {
    /// `rate` per second (at least 1).
    pub fn per_second(rate: u32) -> Self {
        Self::new(rate, StdDuration::from_secs(1))
    }

    fn new(rate: u32, window: StdDuration) -> Self {
        let rate = rate.max(1) as usize;
        RateLimiter { rate, window, recent: tokio::sync::Mutex::new(VecDeque::with_capacity(rate)) }
    }

    /// Waits until one more send fits, and counts it.
    pub async fn acquire(&self) {
        let mut recent = self.recent.lock().await;
        if recent.len() == self.rate {
            let oldest = recent.pop_front().expect("full");
            // strictly more than a window later: the old and the new send never share
            // a half-open one-second window
            tokio::time::sleep_until(oldest + self.window + StdDuration::from_micros(1)).await;
        }
        recent.push_back(Instant::now());
    }
}

/// How many requests to keep in flight to reach `rate` per second when the API answers
/// in up to `latency`: rate × latency (Little's law), with a quarter more for variance,
/// at least 4.
pub fn concurrency_for(rate: u32, latency: StdDuration) -> usize {
    let needed = f64::from(rate) * latency.as_secs_f64() * 1.25;
    (needed.ceil() as usize).max(4)
}

/// Meta's pair rate: one message to the same customer per 6 s. Kept per process; with
/// several replicas Meta's error 131056 (which retries for that customer only) covers
/// the rest.
#[derive(Debug, Default)]
pub struct PairRate {
    last: Mutex<HashMap<String, DateTime<Utc>>>,
}

/// The pair-rate spacing (WHATSAPP.md §5.2).
pub const PAIR_SPACING: StdDuration = StdDuration::from_secs(6);

impl PairRate {
    /// Reserves a send to `to` at `now`; when the last one was less than 6 s ago,
    /// returns the moment it may go instead.
    pub fn reserve(&self, to: &str, now: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        let spacing = Duration::from_std(PAIR_SPACING).expect("small");
        let mut last = self.last.lock().expect("not poisoned");
        if let Some(previous) = last.get(to)
            && now < *previous + spacing
        {
            return Err(*previous + spacing);
        }
        // forget customers whose spacing has passed, now and then
        if last.len() >= 4096 {
            last.retain(|_, t| now < *t + spacing);
        }
        last.insert(to.to_string(), now);
        Ok(())
    }
}

/// The WhatsApp channel as a whole: open, or stopped after a token or account error
/// until an operator fixes it. While stopped no message is attempted (none is burnt);
/// after `pause` one message probes whether the problem is gone, and the others wait a
/// few seconds for its answer.
#[derive(Debug, Default)]
pub struct ChannelGate {
    stopped: Mutex<Option<Stopped>>,
}

/// Why and until when the channel is stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stopped {
    pub reason: String,
    pub code: Option<i64>,
    pub since: DateTime<Utc>,
    /// The next probe.
    pub until: DateTime<Utc>,
    /// A probe is under way.
    pub probing: bool,
}

/// How long messages wait for the answer to a probe.
pub const PROBE_WAIT: StdDuration = StdDuration::from_secs(10);

impl ChannelGate {
    /// `Err(until)` while the channel is stopped: until the next probe, or a few
    /// seconds while one is under way. At the probe moment the next caller is let
    /// through as the probe; its outcome must end in [`ChannelGate::stop`] or
    /// [`ChannelGate::open`].
    pub fn check(&self, now: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        let mut stopped = self.stopped.lock().expect("not poisoned");
        match stopped.as_mut() {
            None => Ok(()),
            Some(s) if s.probing => Err(now + Duration::from_std(PROBE_WAIT).expect("small")),
            Some(s) if now >= s.until => {
                s.probing = true;
                Ok(())
            }
            Some(s) => Err(s.until),
        }
    }

    pub fn stop(&self, reason: String, code: Option<i64>, now: DateTime<Utc>, pause: Duration) {
        let mut stopped = self.stopped.lock().expect("not poisoned");
        let since = stopped.as_ref().map_or(now, |s| s.since);
        *stopped = Some(Stopped { reason, code, since, until: now + pause, probing: false });
    }

    /// Meta took a request (or refused it for a reason other than the account): the
    /// channel works.
    pub fn open(&self) {
        *self.stopped.lock().expect("not poisoned") = None;
    }

    pub fn stopped(&self) -> Option<Stopped> {
        self.stopped.lock().expect("not poisoned").clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// The most permits in any half-open window of `window` length.
    fn busiest(times: &[Instant], window: StdDuration) -> usize {
        let mut most = 0;
        for (i, start) in times.iter().enumerate() {
            let n = times[i..].iter().take_while(|t| **t < *start + window).count();
            most = most.max(n);
        }
        most
    }

    #[tokio::test(start_paused = true)]
    async fn no_one_second_window_holds_more_than_the_rate() {
        let limiter = std::sync::Arc::new(RateLimiter::per_second(80));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..400 {
            let limiter = limiter.clone();
            tasks.push(tokio::spawn(async move {
                limiter.acquire().await;
                Instant::now()
            }));
        }
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap());
        }
        times.sort();
        assert_eq!(busiest(&times, StdDuration::from_secs(1)), 80);
        // ...and the limit is used: 400 sends take just over four seconds, not more
        let took = *times.last().unwrap() - started;
        assert!(
            took > StdDuration::from_secs(4) && took < StdDuration::from_millis(4100),
            "{took:?}"
        );
    }

    #[test]
    fn concurrency_follows_rate_times_latency() {
        assert_eq!(concurrency_for(1_000, StdDuration::from_millis(300)), 375);
        assert_eq!(concurrency_for(80, StdDuration::from_millis(300)), 30);
        assert_eq!(concurrency_for(1, StdDuration::from_millis(50)), 4);
    }

    #[test]
    fn the_pair_rate_spaces_messages_to_one_customer_only() {
        let pairs = PairRate::default();
        let t = at("2026-10-13T08:30:00Z");
        assert_eq!(pairs.reserve("+31612345678", t), Ok(()));
        assert_eq!(
            pairs.reserve("+31612345678", t + Duration::seconds(2)),
            Err(t + Duration::seconds(6))
        );
        assert_eq!(pairs.reserve("+31687654321", t + Duration::seconds(2)), Ok(()));
        assert_eq!(pairs.reserve("+31612345678", t + Duration::seconds(6)), Ok(()));
    }

    #[test]
    fn a_stopped_channel_lets_one_probe_through_per_pause() {
        let gate = ChannelGate::default();
        let t = at("2026-10-13T08:30:00Z");
        let pause = Duration::minutes(5);
        assert_eq!(gate.check(t), Ok(()));
        gate.stop("token expired".into(), Some(190), t, pause);
        assert_eq!(gate.check(t + Duration::minutes(1)), Err(t + pause));
        // the probe goes; the others wait a few seconds for its answer
        assert_eq!(gate.check(t + pause), Ok(()));
        assert_eq!(gate.check(t + pause), Err(t + pause + Duration::seconds(10)));
        // the probe failed again: still stopped since the first error, next probe later
        gate.stop("token expired".into(), Some(190), t + pause, pause);
        assert_eq!(gate.stopped().unwrap().since, t);
        assert_eq!(gate.check(t + pause + Duration::seconds(10)), Err(t + pause + pause));
        gate.open();
        assert_eq!(gate.check(t + pause), Ok(()));
        assert!(gate.stopped().is_none());
    }
}
