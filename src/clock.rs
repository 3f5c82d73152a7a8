//! The one place that reads the wall clock.
//!
//! Everything that needs "now" receives a [`Clock`]: the daemon uses the system clock,
//! tests use a manual one they advance by hand, so scheduling tests run fast and
//! deterministically without sleeping.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, DurationRound, Utc};

/// A source of the current time.
#[derive(Clone, Debug)]
pub enum Clock {
    /// The operating system's clock.
    System,
    /// A clock that only moves when told to (tests, the demo's dry runs).
    Manual(Arc<Mutex<DateTime<Utc>>>),
}

impl Clock {
    pub fn system() -> Self {
        Clock::System
    }

    pub fn manual(start: DateTime<Utc>) -> Self {
        Clock::Manual(Arc::new(Mutex::new(truncate(start))))
    }

    /// The current instant, truncated to whole microseconds (the precision both
    /// store backends keep), so a value read back from the store equals the one written.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => truncate(Utc::now()),
            Clock::Manual(t) => *t.lock().expect("clock mutex poisoned"),
        }
    }

    /// Moves a manual clock forward. Panics on the system clock: only tests move time.
    pub fn advance(&self, by: Duration) {
        match self {
            Clock::System => panic!("the system clock cannot be advanced"),
            Clock::Manual(t) => {
                let mut t = t.lock().expect("clock mutex poisoned");
                *t = truncate(*t + by);
            }
        }
    }

    /// Sets a manual clock to an instant. Panics on the system clock.
    pub fn set(&self, to: DateTime<Utc>) {
        match self {
            Clock::System => panic!("the system clock cannot be set"),
            Clock::Manual(t) => *t.lock().expect("clock mutex poisoned") = truncate(to),
        }
    }
}

fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::microseconds(1)).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let start = DateTime::parse_from_rfc3339("2026-03-29T00:30:00Z").unwrap().to_utc();
        let clock = Clock::manual(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::hours(2));
        assert_eq!(clock.now(), start + Duration::hours(2));
    }

    #[test]
    fn now_is_truncated_to_microseconds() {
        let t = DateTime::parse_from_rfc3339("2026-01-01T10:00:00.123456789Z").unwrap().to_utc();
        let clock = Clock::manual(t);
        assert_eq!(clock.now().timestamp_subsec_nanos(), 123_456_000);
    }
}
