//! How long to wait before the next attempt after a transient failure.

use std::time::Duration;

use rand::Rng;

/// Capped exponential backoff with jitter: after attempt `n` (1-based) the wait is drawn
/// from `[d/2, d]` where `d = min(base · 2^(n-1), max)`. The jitter spreads retries of
/// many messages that failed together; the floor keeps a retry from coming too soon.
pub fn retry_delay(attempt: u32, base: Duration, max: Duration) -> Duration {
    let exp = base.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1))).min(max);
    let half = exp / 2;
    let extra = rand::rng().random_range(0..=half.as_millis().min(u128::from(u64::MAX)) as u64);
    half + Duration::from_millis(extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_stay_within_bounds_and_are_capped() {
        let base = Duration::from_secs(30);
        let max = Duration::from_secs(30 * 60);
        for (attempt, full) in
            [(1, 30), (2, 60), (3, 120), (4, 240), (7, 1800), (20, 1800), (200, 1800)]
        {
            for _ in 0..50 {
                let d = retry_delay(attempt, base, max);
                let full = Duration::from_secs(full);
                assert!(
                    d >= full / 2 && d <= full,
                    "attempt {attempt}: {d:?} not in [{:?}, {full:?}]",
                    full / 2
                );
            }
        }
    }

    #[test]
    fn delays_are_jittered() {
        let base = Duration::from_secs(30);
        let max = Duration::from_secs(3600);
        let samples: std::collections::HashSet<Duration> =
            (0..20).map(|_| retry_delay(3, base, max)).collect();
        assert!(samples.len() > 1, "twenty equal delays: no jitter");
    }
}
