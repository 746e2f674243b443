//! The server's log output: formatted on the request's thread, written by one background thread.
//!
//! Writing each access-log line to stderr from the request is a system call per request on the hot
//! path (and a stall whenever the reader of stderr is slow). A queue with a writer thread that sleeps
//! until a line arrives (tracing-appender's) moves the write off the request but not the cost: every line
//! wakes the writer, a futex call on the request's thread and two context switches per request, which
//! profiling showed to be a third of the CPU time of a metadata GET. So lines are appended to one
//! bounded buffer under a short lock, and a writer thread takes the whole buffer every
//! `FLUSH_EVERY` (or as soon as it is half full) and writes it with one system call. When the buffer is
//! full the line is dropped and counted, never waited for: a request must not wait on its log line.
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

use crate::config::{LogConfig, LogFormat};

/// Bytes waiting to be written before new lines are dropped: several seconds of the fastest scenario's
/// access log.
const QUEUE_BYTES: usize = 8 << 20;
/// How long a line may wait in the buffer: a log, not a trace.
const FLUSH_EVERY: Duration = Duration::from_millis(10);
/// How long shutdown waits for the last lines to be written.
const FINAL_FLUSH: Duration = Duration::from_secs(1);

/// The buffer between the threads that log and the writer thread.
#[derive(Debug)]
struct Shared {
    pending: Mutex<Vec<u8>>,
    /// Signalled when the buffer is half full, and at shutdown.
    wake: Condvar,
    closed: AtomicBool,
    dropped: AtomicUsize,
    capacity: usize,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Count of lines dropped because the buffer was full, since start.
#[derive(Clone, Debug)]
pub(crate) struct DropCounter(Arc<Shared>);

impl DropCounter {
    pub(crate) fn dropped_lines(&self) -> usize {
        self.0.dropped.load(Ordering::Relaxed)
    }
}

/// What the formatting layer writes to: each `write` is one whole line (tracing-subscriber formats an
/// event into its own buffer and writes it at once).
#[derive(Clone, Debug)]
pub(crate) struct Lines(Arc<Shared>);

/// One event's writer.
pub(crate) struct Line<'a>(&'a Shared);

impl Write for Line<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let shared = self.0;
        let mut pending = shared.lock();
        if pending.len() + line.len() > shared.capacity {
            drop(pending);
            shared.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            let was_below = pending.len() < shared.capacity / 2;
            pending.extend_from_slice(line);
            let now_above = pending.len() >= shared.capacity / 2;
            drop(pending);
            if was_below && now_above {
                shared.wake.notify_one();
            }
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Lines {
    type Writer = Line<'a>;
    fn make_writer(&'a self) -> Line<'a> {
        Line(&self.0)
    }
}

/// Stops the writer thread when dropped, after it wrote what is buffered (within a second).
pub(crate) struct WriterGuard {
    shared: Arc<Shared>,
    done: std::sync::mpsc::Receiver<()>,
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        self.done.recv_timeout(FINAL_FLUSH).ok();
    }
}

/// A writer that never blocks its caller: a bounded, lossy buffer in front of `inner`, written every
/// `every` by a thread of its own.
pub(crate) fn batched<W: Write + Send + 'static>(
    mut inner: W,
    capacity: usize,
    every: Duration,
) -> (Lines, WriterGuard) {
    let shared = Arc::new(Shared {
        pending: Mutex::new(Vec::with_capacity(64 * 1024)),
        wake: Condvar::new(),
        closed: AtomicBool::new(false),
        dropped: AtomicUsize::new(0),
        capacity,
    });
    let (done_tx, done) = std::sync::mpsc::channel();
    let writer = shared.clone();
    std::thread::Builder::new()
        .name("latchkey-log".into())
        .spawn(move || {
            let mut spare = Vec::with_capacity(64 * 1024);
            loop {
                let closing = {
                    let mut pending = writer.lock();
                    if pending.len() < writer.capacity / 2 && !writer.closed.load(Ordering::Acquire)
                    {
                        pending = writer
                            .wake
                            .wait_timeout(pending, every)
                            .unwrap_or_else(|p| p.into_inner())
                            .0;
                    }
                    std::mem::swap(&mut *pending, &mut spare);
                    writer.closed.load(Ordering::Acquire)
                };
                if !spare.is_empty() {
                    // A failed write (stderr closed) loses these lines; there is nowhere to report it.
                    inner.write_all(&spare).ok();
                    inner.flush().ok();
                    spare.clear();
                }
                if closing && writer.lock().is_empty() {
                    break;
                }
            }
            done_tx.send(()).ok();
        })
        .expect("the log writer thread starts");
    (Lines(shared.clone()), WriterGuard { shared, done })
}

/// Keeps the writer thread alive; dropping it writes what is buffered.
pub(crate) struct Logging {
    _guard: WriterGuard,
    dropped: DropCounter,
}

impl Logging {
    /// A handle on the count of dropped lines, for the metrics.
    pub(crate) fn drop_counter(&self) -> DropCounter {
        self.dropped.clone()
    }

    /// Lines dropped because the buffer was full, since start.
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

/// Installs the global subscriber. A second initialisation (only possible in tests) keeps the first.
pub(crate) fn init(log: &LogConfig) -> Logging {
    let mut filter = log.filter.clone();
    if !log.access {
        filter = filter.with_target("latchkey::access", LevelFilter::OFF);
    }
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = batched(std::io::stderr(), QUEUE_BYTES, FLUSH_EVERY);
    let dropped = DropCounter(writer.0.clone());
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
    use std::time::Instant;

    /// A sink that blocks every write until released: stderr piped into a reader that stopped reading.
    #[derive(Clone, Default)]
    struct Stuck(Arc<(Mutex<bool>, Condvar)>, Arc<Mutex<Vec<u8>>>);

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
            self.1.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // measures the test itself, not a server clock
    fn a_stuck_log_reader_drops_and_counts_lines_instead_of_blocking_requests() {
        let sink = Stuck::default();
        let line = b"request 0000\n";
        let (writer, guard) = batched(sink.clone(), 16 * line.len(), Duration::from_millis(1));
        let counter = DropCounter(writer.0.clone());
        // Let the writer thread take a first batch and get stuck writing it.
        writer.make_writer().write_all(line).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        for _ in 0..1000 {
            writer.make_writer().write_all(line).unwrap();
        }
        // Nothing more was written, yet all 1000 lines were handed over without waiting.
        assert!(started.elapsed() < Duration::from_secs(2));
        // The buffer's 16 lines got through; the rest were counted.
        assert_eq!(counter.dropped_lines(), 1000 - 16);
        sink.release();
        drop(guard);
        assert_eq!(sink.1.lock().unwrap().len(), 17 * line.len());
    }

    #[test]
    fn lines_reach_the_output_without_a_wake_per_line_and_all_of_them_at_shutdown() {
        let out = Stuck::default();
        out.release();
        let (writer, guard) = batched(out.clone(), 1 << 20, Duration::from_secs(3600));
        for i in 0..100 {
            writeln!(writer.make_writer(), "line {i}").unwrap();
        }
        // Far below half the buffer and long before the interval: nothing written yet.
        std::thread::sleep(Duration::from_millis(20));
        assert!(out.1.lock().unwrap().is_empty());
        drop(guard);
        let written = String::from_utf8(out.1.lock().unwrap().clone()).unwrap();
        assert_eq!(written.lines().count(), 100);
        assert!(written.ends_with("line 99\n"));
    }
}
