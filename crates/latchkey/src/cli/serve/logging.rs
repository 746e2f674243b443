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

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::time::SystemTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

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

/// The target of the access log's events, one per request.
const ACCESS: &str = "latchkey::access";

/// The plain format, with a fixed layout for access-log lines: the same text as tracing-subscriber's
/// `Full` format (`2026-12-08T00:54:33.123456Z  INFO latchkey::access: request method=GET
/// path=/jwks status=200 elapsed_ms=0.250`), written field by field without its machinery. That format
/// goes through `Debug` for every field and the timestamp, and a fifth of a metadata GET's instructions
/// were formatting its log line. Strings are written as they are, numbers by hand, the elapsed time
/// with microsecond resolution, and the date is formatted once a second per thread. Every other event
/// (and access lines inside a span, or to a terminal in colour) keeps the general format.
struct AccessLines(Format<Full, SystemTime>);

impl<S, N> FormatEvent<S, N> for AccessLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let metadata = event.metadata();
        if metadata.target() != ACCESS
            || writer.has_ansi_escapes()
            || ctx.lookup_current().is_some()
        {
            return self.0.format_event(ctx, writer, event);
        }
        // The log's own timestamp is the wall clock, as the general format's is: a log line says when
        // it was written, whatever time the server's `Clock` is told it is in tests.
        #[allow(clippy::disallowed_methods)]
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        write_timestamp(&mut writer, now)?;
        writer.write_str(match *metadata.level() {
            Level::ERROR => " ERROR ",
            Level::WARN => "  WARN ",
            Level::INFO => "  INFO ",
            Level::DEBUG => " DEBUG ",
            Level::TRACE => " TRACE ",
        })?;
        writer.write_str(ACCESS)?;
        writer.write_str(": ")?;
        let mut fields = AccessFields {
            out: &mut writer,
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

/// Writes an event's fields as `Full` does (the message bare, then ` name=value`), strings as they are.
struct AccessFields<'a, 'w> {
    out: &'a mut Writer<'w>,
    first: bool,
    result: std::fmt::Result,
}

impl AccessFields<'_, '_> {
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> std::fmt::Result) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            if !std::mem::take(&mut self.first) {
                self.out.write_char(' ')?;
            }
            if field.name() != "message" {
                self.out.write_str(field.name())?;
                self.out.write_char('=')?;
            }
            value(self.out)
        })();
    }
}

impl Visit for AccessFields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        // A value that could break the line's layout (it cannot be in a method or a path, which HTTP
        // parsing already checked) is quoted and escaped.
        let plain = !value
            .bytes()
            .any(|b| b <= b' ' || b == b'"' || b == b'\\' || b == 0x7f);
        self.field(field, |out| {
            if plain {
                out.write_str(value)
            } else {
                write!(out, "{value:?}")
            }
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |out| write!(out, "{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |out| write!(out, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.field(field, |out| {
            // Thousandths: milliseconds to the microsecond, without float formatting.
            let thousandths = (value * 1000.0).round();
            if (0.0..1e15).contains(&thousandths) {
                let thousandths = thousandths as u64;
                write!(out, "{}.{:03}", thousandths / 1000, thousandths % 1000)
            } else {
                write!(out, "{value}")
            }
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.field(field, |out| write!(out, "{value:?}"));
    }
}

thread_local! {
    /// The last second this thread formatted, and its `YYYY-MM-DDTHH:MM:SS`.
    static SECOND: std::cell::Cell<(u64, [u8; 19])> = const { std::cell::Cell::new((u64::MAX, [0; 19])) };
}

/// RFC 3339 in UTC with microseconds, as tracing-subscriber's `SystemTime` writes it.
fn write_timestamp(out: &mut impl std::fmt::Write, since_epoch: Duration) -> std::fmt::Result {
    let secs = since_epoch.as_secs();
    let (cached, mut text) = SECOND.get();
    if cached != secs {
        text = format_second(secs);
        SECOND.set((secs, text));
    }
    out.write_str(std::str::from_utf8(&text).expect("digits and separators"))?;
    let micros = since_epoch.subsec_micros();
    let mut fraction = *b".000000Z";
    for (i, digit) in fraction[1..7].iter_mut().enumerate() {
        *digit = b'0' + (micros / 10u32.pow(5 - i as u32) % 10) as u8;
    }
    out.write_str(std::str::from_utf8(&fraction).expect("digits"))
}

/// `YYYY-MM-DDTHH:MM:SS` of a Unix time (proleptic Gregorian calendar; H. Hinnant's `civil_from_days`).
fn format_second(secs: u64) -> [u8; 19] {
    let days = (secs / 86_400) as i64;
    let in_day = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut text = *b"0000-00-00T00:00:00";
    let mut put = |at: usize, width: usize, mut value: u64| {
        for i in (at..at + width).rev() {
            text[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year as u64);
    put(5, 2, month as u64);
    put(8, 2, day as u64);
    put(11, 2, in_day / 3600);
    put(14, 2, in_day / 60 % 60);
    put(17, 2, in_day % 60);
    text
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
            .event_format(AccessLines(tracing_subscriber::fmt::format()))
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

    /// A sink for one subscriber's output.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What `emit` logs, formatted by `format`.
    fn formatted<E>(format: E, emit: impl FnOnce()) -> String
    where
        E: for<'a> FormatEvent<
                tracing_subscriber::Registry,
                tracing_subscriber::fmt::format::DefaultFields,
            > + Send
            + Sync
            + 'static,
    {
        let out = Captured::default();
        let sink = out.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .event_format(format)
                .with_writer(move || sink.clone()),
        );
        tracing::subscriber::with_default(subscriber, emit);
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    /// The line without its timestamp, which is checked apart.
    fn after_timestamp(line: &str) -> &str {
        let (timestamp, rest) = line.split_once(' ').unwrap();
        assert!(
            time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339)
                .is_ok(),
            "{timestamp}"
        );
        assert_eq!(
            timestamp.len(),
            "2026-12-08T00:54:33.123456Z".len(),
            "{timestamp}"
        );
        rest
    }

    #[test]
    fn an_access_line_has_the_fixed_layout_and_other_events_the_general_one() {
        let access = || {
            let (method, path) = ("GET", "/.well-known/openid-configuration");
            tracing::info!(target: "latchkey::access", method, path, status = 200u16, elapsed_ms = 0.2504, "request");
            tracing::info!(target: "latchkey::access", method, path = "/a b\"c", status = 404u16, elapsed_ms = 12.0, "request");
        };
        let lines = formatted(AccessLines(tracing_subscriber::fmt::format()), access);
        let lines: Vec<&str> = lines.lines().map(after_timestamp).collect();
        assert_eq!(
            lines,
            [
                " INFO latchkey::access: request method=GET path=/.well-known/openid-configuration status=200 elapsed_ms=0.250",
                // Whatever could break the layout is quoted, as the general format would.
                " INFO latchkey::access: request method=GET path=\"/a b\\\"c\" status=404 elapsed_ms=12.000",
            ]
        );
        // Where both write the same values, the text is the general format's, byte for byte.
        let same = || tracing::warn!(target: "latchkey::access", status = 503u64, "request");
        assert_eq!(
            after_timestamp(&formatted(
                AccessLines(tracing_subscriber::fmt::format()),
                same
            )),
            after_timestamp(&formatted(tracing_subscriber::fmt::format(), same))
        );
        // Other targets keep the general format (here: a string field's quotes).
        let other = || tracing::info!(target: "latchkey::other", path = "/x", "started");
        assert_eq!(
            after_timestamp(&formatted(
                AccessLines(tracing_subscriber::fmt::format()),
                other
            )),
            " INFO latchkey::other: started path=\"/x\"\n"
        );
    }

    #[test]
    fn timestamps_are_rfc_3339_with_microseconds_in_utc() {
        let format = time::format_description::parse_borrowed::<1>(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z",
        )
        .unwrap();
        // Leap days, century rules, year ends, and a second reformatted after another.
        for (secs, micros) in [
            (0u64, 0u32),
            (951_782_399, 999_999),
            (951_782_400, 1),
            (4_107_542_400, 500_000),
            (1_796_601_273, 123_456),
            (1_796_601_273, 7),
            (1_796_601_274, 0),
            (253_402_300_799, 999_999),
        ] {
            let mut ours = String::new();
            write_timestamp(&mut ours, Duration::new(secs, micros * 1000)).unwrap();
            let expected = (time::OffsetDateTime::from_unix_timestamp(secs as i64).unwrap()
                + time::Duration::microseconds(i64::from(micros)))
            .format(&format)
            .unwrap();
            assert_eq!(ours, expected, "{secs}.{micros}");
        }
    }
}
