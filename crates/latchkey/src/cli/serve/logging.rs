//! The server's log output: formatted on the request's thread, written by one background thread.
//!
//! Writing each access-log line to stderr from the request is a system call per request on the hot
//! path (and a stall whenever the reader of stderr is slow). Lines go instead into a bounded queue that a
//! writer thread drains into a buffered stderr, flushing whenever the queue is empty. When the queue is
//! full the line is dropped and counted, never waited for: a request must not wait on its log line.
use std::io::Write;
use std::time::Duration;

use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

use crate::config::{LogConfig, LogFormat};

/// Lines waiting to be written before new ones are dropped: a few seconds of the fastest scenario, a few
/// MiB at most.
const QUEUE_LINES: usize = 64 * 1024;

/// Keeps the writer thread alive; dropping it flushes what is queued.
pub(crate) struct Logging {
    _guard: WorkerGuard,
    dropped: ErrorCounter,
}

impl Logging {
    /// A handle on the count of dropped lines, for the metrics.
    pub(crate) fn drop_counter(&self) -> ErrorCounter {
        self.dropped.clone()
    }

    /// Lines dropped because the queue was full, since start.
    pub(crate) fn dropped_lines(&self) -> usize {
        self.dropped.dropped_lines()
    }

    /// Logs, every `every`, how many lines were dropped since the last report, forever.
    pub(crate) async fn report_drops(&self, every: Duration) {
        let mut reported = 0;
        loop {
            tokio::time::sleep(every).await;
            let dropped = self.dropped_lines();
            if dropped > reported {
                tracing::warn!(
                    dropped = dropped - reported,
                    total = dropped,
                    "log lines dropped: the log writer could not keep up"
                );
                reported = dropped;
            }
        }
    }
}

/// A writer that never blocks its caller: a bounded, lossy queue in front of `inner`.
pub(crate) fn queued<W: Write + Send + 'static>(
    inner: W,
    queue_lines: usize,
) -> (NonBlocking, WorkerGuard) {
    NonBlockingBuilder::default()
        .buffered_lines_limit(queue_lines)
        .lossy(true)
        .thread_name("latchkey-log")
        .finish(inner)
}

/// Installs the global subscriber. A second initialisation (only possible in tests) keeps the first.
pub(crate) fn init(log: &LogConfig) -> Logging {
    let mut filter = log.filter.clone();
    if !log.access {
        filter = filter.with_target("latchkey::access", LevelFilter::OFF);
    }
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // The writer thread flushes after draining the queue, so a burst is one write, a quiet line is
    // written at once.
    let (writer, guard) = queued(std::io::BufWriter::new(std::io::stderr()), QUEUE_LINES);
    let dropped = writer.error_counter();
    let layer = match log.format {
        LogFormat::Plain => tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(writer)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(writer)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init()
        .ok();
    Logging {
        _guard: guard,
        dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Condvar, Mutex};
    use std::time::Instant;

    /// A sink that blocks every write until released: stderr piped into a reader that stopped reading.
    #[derive(Clone, Default)]
    struct Stuck(Arc<(Mutex<bool>, Condvar)>);

    impl Stuck {
        fn release(&self) {
            *self.0.0.lock().unwrap() = true;
            self.0.1.notify_all();
        }
    }

    impl Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let (released, wake) = &*self.0;
            let mut released = released.lock().unwrap();
            while !*released {
                released = wake.wait(released).unwrap();
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stuck_log_reader_drops_and_counts_lines_instead_of_blocking_requests() {
        let sink = Stuck::default();
        let (writer, guard) = queued(sink.clone(), 16);
        let counter = writer.error_counter();
        let started = Instant::now();
        for i in 0..1000 {
            let mut w = writer.clone();
            writeln!(w, "request {i}").unwrap();
        }
        // Nothing was written, yet all 1000 lines were handed over without waiting.
        assert!(started.elapsed() < Duration::from_secs(2));
        // At most the queue and the line the writer thread holds got through; the rest were counted.
        assert!(
            counter.dropped_lines() >= 1000 - 16 - 1,
            "{}",
            counter.dropped_lines()
        );
        sink.release();
        drop(guard);
    }
}
