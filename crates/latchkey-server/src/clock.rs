//! The server's one source of the current time. Core functions take `now` as an argument; clippy
//! forbids reading the system clock anywhere else.
use latchkey_core::types::Timestamp;

/// Reads wall-clock time.
#[derive(Clone, Copy, Debug, Default)]
pub struct Clock;

impl Clock {
    /// Seconds since the Unix epoch.
    #[allow(clippy::disallowed_methods)]
    pub fn now(&self) -> Timestamp {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the system clock is set after 1970");
        Timestamp(i64::try_from(since_epoch.as_secs()).expect("the year is before 292 billion"))
    }

    /// Milliseconds since the Unix epoch: audit records order events within a second.
    #[allow(clippy::disallowed_methods)]
    pub fn now_ms(&self) -> i64 {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the system clock is set after 1970");
        i64::try_from(since_epoch.as_millis()).expect("the year is before 292 million")
    }
}
