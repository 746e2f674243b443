//! The server's one source of the current time. Core functions take `now` as an argument; clippy
//! forbids reading the system clocks anywhere else (`clippy.toml`).
//!
//! A clock is the system's, or a manual one that tests set and advance: every service holds the
//! server's clock, so a test can make a code expire or a minute window end without sleeping.
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use latchkey_core::types::Timestamp;

/// Reads wall-clock time: the system's, or a test's.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    source: Source,
}

#[derive(Clone, Debug, Default)]
enum Source {
    #[default]
    System,
    /// Stands at these milliseconds since the Unix epoch until advanced.
    Fixed(Arc<AtomicI64>),
    /// The system's time plus these milliseconds: time flows, and a test can jump ahead.
    Shifted(Arc<AtomicI64>),
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock {
            source: Source::System,
        }
    }

    /// A clock that stands at `start` until it is advanced; clones share it.
    pub fn manual(start: Timestamp) -> Clock {
        Clock {
            source: Source::Fixed(Arc::new(AtomicI64::new(start.0.saturating_mul(1000)))),
        }
    }

    /// The system's time, which a test can move forward with [`Clock::advance`]; clones share it.
    pub fn shifted() -> Clock {
        Clock {
            source: Source::Shifted(Arc::new(AtomicI64::new(0))),
        }
    }

    /// Moves a manual or shifted clock forward; the system clock cannot be moved.
    ///
    /// # Panics
    /// On the system clock: a test that means to control time and does not is a broken test.
    pub fn advance(&self, by: Duration) {
        let (Source::Fixed(ms) | Source::Shifted(ms)) = &self.source else {
            panic!("only a manual clock advances");
        };
        let by =
            i64::try_from(by.as_millis()).expect("a test advances by less than 292 million years");
        ms.fetch_add(by, Ordering::SeqCst);
    }

    /// Seconds since the Unix epoch.
    pub fn now(&self) -> Timestamp {
        Timestamp(self.now_ms().div_euclid(1000))
    }

    /// Milliseconds since the Unix epoch: audit records order events within a second, and caches
    /// expire entries to the millisecond.
    #[allow(clippy::disallowed_methods)]
    pub fn now_ms(&self) -> i64 {
        let system = || {
            let since_epoch = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("the system clock is set after 1970");
            i64::try_from(since_epoch.as_millis()).expect("the year is before 292 million")
        };
        match &self.source {
            Source::System => system(),
            Source::Fixed(ms) => ms.load(Ordering::SeqCst),
            Source::Shifted(offset) => system() + offset.load(Ordering::SeqCst),
        }
    }

    /// Starts measuring how long something takes (a request, for the access log and metrics). Always
    /// the monotonic system clock: a duration is a measurement, not an input to any rule.
    #[allow(clippy::disallowed_methods)]
    pub fn stopwatch(&self) -> Stopwatch {
        Stopwatch(std::time::Instant::now())
    }
}

/// A running measurement, from [`Clock::stopwatch`].
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch(std::time::Instant);

impl Stopwatch {
    /// The time since the stopwatch started.
    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_stands_still_until_advanced_and_its_clones_share_it() {
        let clock = Clock::manual(Timestamp(1_000));
        let shared = clock.clone();
        assert_eq!(clock.now(), Timestamp(1_000));
        assert_eq!(clock.now_ms(), 1_000_000);
        shared.advance(Duration::from_millis(2_500));
        assert_eq!(clock.now(), Timestamp(1_002));
        assert_eq!(clock.now_ms(), 1_002_500);
    }

    #[test]
    fn a_shifted_clock_follows_the_system_clock_until_moved_ahead() {
        let clock = Clock::shifted();
        let system = Clock::system();
        assert!((clock.now_ms() - system.now_ms()).abs() < 1_000);
        clock.clone().advance(Duration::from_secs(3_600));
        let ahead = clock.now_ms() - system.now_ms();
        assert!((3_599_000..3_601_000).contains(&ahead), "{ahead}");
    }

    #[test]
    fn the_system_clock_reads_the_time_of_day() {
        let now = Clock::system().now();
        // After 2025-01-01 and before 2100.
        assert!(now.0 > 1_735_689_600 && now.0 < 4_102_444_800, "{now:?}");
    }

    #[test]
    #[should_panic(expected = "only a manual clock advances")]
    fn the_system_clock_cannot_be_moved() {
        Clock::system().advance(Duration::from_secs(1));
    }
}
