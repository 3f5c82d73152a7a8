//! Meta's limits, kept on our side so we do not learn them from errors: the throughput
//! of a business number (messages per second), the pair rate (one message to the same
//! customer per 6 s), the messaging limit (unique customers a day) and the channel-wide
//! stop after a token or account error. (WHATSAPP.md §5.1–5.3, and §4 for the errors.)

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use tokio::time::Instant;

/// Meta's throughput limits: 80 messages/s by default, up to 1,000 after the upgrade.
pub const MAX_RATE: u32 = 1_000;

/// At most `rate` sends in any sliding window of one second, evenly spaced: each permit
/// gets the next slot of a grid `1 s / rate` apart (or now, when the grid has fallen
/// behind), and waits for it. Unlike a token bucket with a burst allowance, no
/// one-second window ever holds more than `rate` permits.
///
/// The grid runs [`HEADROOM`] below the limit: between the permit and the request
/// reaching Meta lie task scheduling and the connection, and a request delayed by a few
/// milliseconds must not push a second over the limit where Meta counts.
#[derive(Debug)]
pub struct RateLimiter {
    interval: StdDuration,
    next: Mutex<Option<Instant>>,
}

/// How far below the configured throughput the grid runs.
pub const HEADROOM: f64 = 0.01;

impl RateLimiter {
    /// `rate` per second (at least 1), [`HEADROOM`] below it.
    pub fn per_second(rate: u32) -> Self {
        let rate = f64::from(rate.max(1)) * (1.0 - HEADROOM);
        RateLimiter { interval: StdDuration::from_secs_f64(1.0 / rate), next: Mutex::new(None) }
    }

    /// Waits for this send's slot.
    pub async fn acquire(&self) {
        let slot = {
            let mut next = self.next.lock().expect("not poisoned");
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
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
    last: Mutex<Recent>,
}

#[derive(Debug, Default)]
struct Recent {
    sent: HashMap<String, DateTime<Utc>>,
    /// Prune when the map reaches this size: twice what was left after the last prune,
    /// so pruning costs O(1) per send however many customers are written to.
    prune_at: usize,
}

/// The pair-rate spacing (WHATSAPP.md §5.2).
pub const PAIR_SPACING: StdDuration = StdDuration::from_secs(6);

impl PairRate {
    /// Reserves a send to `to` at `now`; when the last one was less than 6 s ago,
    /// returns the moment it may go instead.
    pub fn reserve(&self, to: &str, now: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        let spacing = Duration::from_std(PAIR_SPACING).expect("small");
        let mut recent = self.last.lock().expect("not poisoned");
        if let Some(previous) = recent.sent.get(to)
            && now < *previous + spacing
        {
            return Err(*previous + spacing);
        }
        // forget customers whose spacing has passed, now and then
        if recent.sent.len() >= recent.prune_at.max(4096) {
            recent.sent.retain(|_, t| now < *t + spacing);
            recent.prune_at = 2 * recent.sent.len();
        }
        recent.sent.insert(to.to_string(), now);
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

    /// Whether [`ChannelGate::check`] would let a message through now, without taking
    /// the probe: for the checks that come before it.
    pub fn peek(&self, now: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        match self.stopped.lock().expect("not poisoned").as_ref() {
            None => Ok(()),
            Some(s) if s.probing => Err(now + Duration::from_std(PROBE_WAIT).expect("small")),
            Some(s) if now >= s.until => Ok(()),
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

/// Meta's messaging limit: the unique customers a business may reach with messages it
/// starts (templates outside a customer's 24-hour service window) in a moving 24 h.
///
/// Every reminder counts, also one to a customer whose service window happens to be
/// open: the count errs on the safe side. The record is this process's sends plus, on
/// [`Reach::load`], those stored by any replica.
#[derive(Debug)]
pub struct Reach {
    limit: Option<usize>,
    inner: Mutex<Reached>,
}

#[derive(Debug, Default)]
struct Reached {
    /// The last send to each customer inside the window.
    last: HashMap<String, DateTime<Utc>>,
    /// (time, customer) in the order sent; an entry whose customer was reached again
    /// later is stale and skipped when it leaves the window.
    order: VecDeque<(DateTime<Utc>, String)>,
}

/// The window of the messaging limit.
pub const REACH_WINDOW: StdDuration = StdDuration::from_secs(24 * 3600);

impl Reach {
    /// `None`: unlimited.
    pub fn new(limit: Option<u32>) -> Self {
        Reach { limit: limit.map(|l| l as usize), inner: Mutex::default() }
    }

    pub fn limit(&self) -> Option<u32> {
        self.limit.map(|l| l as u32)
    }

    /// Adds what the store knows (customer, last send), keeping the later time.
    pub fn load(&self, reached: impl IntoIterator<Item = (String, DateTime<Utc>)>) {
        let mut inner = self.inner.lock().expect("not poisoned");
        let mut all: Vec<(DateTime<Utc>, String)> = inner.order.drain(..).collect();
        all.extend(reached.into_iter().map(|(to, at)| (at, to)));
        all.sort();
        inner.last.clear();
        for (at, to) in &all {
            inner.last.insert(to.clone(), *at);
        }
        inner.order = all.into();
    }

    /// Counts a message to `to` at `now`: `Err(at)` when the limit is reached and `to`
    /// is not among the customers already reached, with the moment a place frees.
    pub fn admit(&self, to: &str, now: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        let Some(limit) = self.limit else { return Ok(()) };
        let window = Duration::from_std(REACH_WINDOW).expect("a day");
        let mut inner = self.inner.lock().expect("not poisoned");
        // customers whose last message left the window no longer count
        while let Some((at, who)) = inner.order.front().cloned() {
            if at > now - window {
                break;
            }
            inner.order.pop_front();
            if inner.last.get(&who) == Some(&at) {
                inner.last.remove(&who);
            }
        }
        if !inner.last.contains_key(to) && inner.last.len() >= limit {
            let oldest = inner.order.front().map_or(now, |(at, _)| *at);
            return Err(oldest + window);
        }
        inner.last.insert(to.to_string(), now);
        inner.order.push_back((now, to.to_string()));
        Ok(())
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
        // ...and the limit is used, but for the headroom: 400 sends at 79.2/s take five
        // seconds (the first goes at once)
        let took = (*times.last().unwrap() - started).as_secs_f64();
        assert!((took - 399.0 / 79.2).abs() < 0.01, "{took}");
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
    fn the_messaging_limit_counts_unique_customers_in_a_moving_day() {
        let reach = Reach::new(Some(2));
        let t = at("2026-10-13T08:00:00Z");
        assert_eq!(reach.admit("+31600000001", t), Ok(()));
        assert_eq!(reach.admit("+31600000002", t + Duration::hours(1)), Ok(()));
        // a customer already reached costs nothing more
        assert_eq!(reach.admit("+31600000001", t + Duration::hours(2)), Ok(()));
        // a third customer waits until the oldest leaves the window: customer 2 at
        // 09:00 tomorrow (customer 1 was reached again at 10:00)
        assert_eq!(
            reach.admit("+31600000003", t + Duration::hours(3)),
            Err(t + Duration::hours(24))
        );
        assert_eq!(
            reach.admit("+31600000003", t + Duration::hours(24)),
            Err(t + Duration::hours(25)),
            "the stale entry of customer 1 does not free a place"
        );
        assert_eq!(reach.admit("+31600000003", t + Duration::hours(25)), Ok(()));
        assert_eq!(Reach::new(None).admit("+31600000009", t), Ok(()));
    }

    #[test]
    fn the_messaging_limit_starts_from_what_the_store_knows() {
        let reach = Reach::new(Some(1));
        let t = at("2026-10-13T08:00:00Z");
        reach.load([("+31600000001".to_string(), t - Duration::hours(23))]);
        assert_eq!(reach.admit("+31600000002", t), Err(t + Duration::hours(1)));
        assert_eq!(reach.admit("+31600000001", t), Ok(()));
    }

    #[test]
    fn the_pair_rate_forgets_customers_whose_six_seconds_passed() {
        let pairs = PairRate::default();
        let t = at("2026-10-13T08:30:00Z");
        // 1,000 new customers a second for half a minute: about 6,000 are within their
        // six seconds at any time, and the record stays within twice that
        for second in 0..30 {
            for i in 0..1_000 {
                let to = format!("+316{:08}", second * 1_000 + i);
                assert_eq!(pairs.reserve(&to, t + Duration::seconds(second)), Ok(()));
            }
            let kept = pairs.last.lock().unwrap().sent.len();
            assert!(kept <= 2 * 7_000, "{kept} kept after {second} s");
        }
    }

    #[test]
    fn a_stopped_channel_lets_one_probe_through_per_pause() {
        let gate = ChannelGate::default();
        let t = at("2026-10-13T08:30:00Z");
        let pause = Duration::minutes(5);
        assert_eq!(gate.check(t), Ok(()));
        gate.stop("token expired".into(), Some(190), t, pause);
        assert_eq!(gate.check(t + Duration::minutes(1)), Err(t + pause));
        // the probe goes (peeking does not take it); the others wait a few seconds for
        // its answer
        assert_eq!(gate.peek(t + pause), Ok(()));
        assert_eq!(gate.peek(t + pause), Ok(()));
        assert_eq!(gate.check(t + pause), Ok(()));
        assert_eq!(gate.peek(t + pause), Err(t + pause + Duration::seconds(10)));
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
