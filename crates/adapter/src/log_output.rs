//! Where log lines go and how JSON lines are written, made cheap enough for a line per request.
//!
//! Access log lines are batched on their way to stdout (one `write` per few kilobytes or per tenth
//! of a second, like nginx's `access_log … buffer= flush=`) instead of one system call per request;
//! every other line is written at once, together with the access lines waiting before it, so the
//! order of lines holds. In JSON, access lines and span fields are written straight into the line
//! rather than through `serde` maps and `serde_json::Value`s; the lines read exactly as
//! `tracing_subscriber`'s JSON format writes them (the tests compare the two).

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{Format, Json, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// Whether requests are recorded without a `request` span (set once at startup, when lines are
/// JSON and no traces are exported): their id then reaches the lines written while they are polled
/// through [`in_request`], which costs far less than a span's life in the registry.
static REQUEST_IDS_BY_THREAD: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The id of the request this thread is polling, see [`in_request`].
    static CURRENT_REQUEST: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// From now on requests need no `request` span: [`JsonLines`] names the request a line was
/// written in from [`in_request`].
pub fn carry_request_ids_by_thread() {
    REQUEST_IDS_BY_THREAD.store(true, Ordering::Relaxed);
}

/// Whether [`carry_request_ids_by_thread`] was called.
pub fn request_ids_by_thread() -> bool {
    REQUEST_IDS_BY_THREAD.load(Ordering::Relaxed)
}

/// Marks this thread as polling request `id` until the guard is dropped (the previous mark is then
/// restored). JSON lines written meanwhile outside any span read as if written in the request's
/// span: `"span":{"request_id":…,"name":"request"}` and the same in `"spans"`.
pub fn in_request(id: &Arc<str>) -> InRequest {
    InRequest {
        previous: CURRENT_REQUEST.with(|current| current.replace(Some(id.clone()))),
    }
}

/// The mark [`in_request`] sets; dropping it restores the previous one.
pub struct InRequest {
    previous: Option<Arc<str>>,
}

impl Drop for InRequest {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT_REQUEST.with(|current| *current.borrow_mut() = previous);
    }
}

/// The longest an access line waits before it is written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// Waiting access lines are written once they hold this many bytes.
const BATCH_BYTES: usize = 16 * 1024;

/// The log output handed to the `tracing` formatter; clones share one buffer.
pub struct LogOutput<W = std::io::Stdout> {
    shared: Arc<Mutex<Pending<W>>>,
}

impl<W> Clone for LogOutput<W> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

/// Lines not yet written, and where they go.
struct Pending<W> {
    out: W,
    lines: Vec<u8>,
}

impl<W: Write> Pending<W> {
    fn write_out(&mut self) {
        if self.lines.is_empty() {
            return;
        }
        // A log that cannot be written (stdout closed) drops its lines rather than piling them up.
        let _ = self
            .out
            .write_all(&self.lines)
            .and_then(|()| self.out.flush());
        self.lines.clear();
    }
}

impl LogOutput {
    /// Stdout, with waiting access lines written at least every [`FLUSH_INTERVAL`] by a thread of
    /// its own (it ends when the last clone is gone).
    pub fn stdout() -> Self {
        let output = Self::new(std::io::stdout());
        let pending = Arc::downgrade(&output.shared);
        let spawned = std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(move || flush_every(&pending, FLUSH_INTERVAL));
        if let Err(err) = spawned {
            // Without the thread every line is still written, by the next line or `flush`.
            eprintln!("warning: cannot start the log flushing thread: {err}");
        }
        output
    }
}

impl<W: Write> LogOutput<W> {
    /// An output writing to `out`; waiting lines are written only by later lines and
    /// [`LogOutput::flush`].
    pub fn new(out: W) -> Self {
        Self {
            shared: Arc::new(Mutex::new(Pending {
                out,
                lines: Vec::with_capacity(BATCH_BYTES),
            })),
        }
    }

    /// Writes every waiting line (at shutdown, and from the flushing thread).
    pub fn flush(&self) {
        self.pending().write_out();
    }

    /// Adds an access line to the batch, written in place by `write` (a line it fails to write
    /// is taken back whole).
    fn push_with(&self, write: impl FnOnce(&mut Vec<u8>) -> fmt::Result) {
        let mut pending = self.pending();
        let start = pending.lines.len();
        if write(&mut pending.lines).is_err() {
            pending.lines.truncate(start);
        } else if pending.lines.len() >= BATCH_BYTES {
            pending.write_out();
        }
    }

    fn pending(&self) -> MutexGuard<'_, Pending<W>> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Flushes `pending` every `interval` until it is gone.
fn flush_every<W: Write>(pending: &Weak<Mutex<Pending<W>>>, interval: Duration) {
    loop {
        std::thread::sleep(interval);
        let Some(pending) = pending.upgrade() else {
            return;
        };
        pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write_out();
    }
}

/// One log line on its way: an access line waits in the batch, any other is written at once.
pub struct Line<'a, W> {
    output: &'a LogOutput<W>,
    batched: bool,
}

impl<W: Write> Write for Line<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut pending = self.output.pending();
        pending.lines.extend_from_slice(bytes);
        if !self.batched || pending.lines.len() >= BATCH_BYTES {
            pending.write_out();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a, W: Write + 'a> MakeWriter<'a> for LogOutput<W> {
    type Writer = Line<'a, W>;

    fn make_writer(&'a self) -> Self::Writer {
        Line {
            output: self,
            batched: false,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        Line {
            output: self,
            batched: meta.target() == crate::access::TARGET,
        }
    }
}

/// JSON lines as `tracing_subscriber`'s JSON format writes them; access lines (outside any span)
/// are written by hand, the rest by that format.
pub struct JsonLines {
    json: Format<Json>,
}

impl Default for JsonLines {
    fn default() -> Self {
        Self {
            json: tracing_subscriber::fmt::format().json(),
        }
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let in_span =
            event.parent().is_some() || (event.is_contextual() && ctx.lookup_current().is_some());
        if !in_span
            && meta.target() != crate::access::TARGET
            && let Some(id) = CURRENT_REQUEST.with(|current| current.borrow().clone())
        {
            // A line of a request recorded without a span: as the span would have had it.
            let mut line = String::new();
            self.json.format_event(ctx, Writer::new(&mut line), event)?;
            let line = line.trim_end();
            let line = line.strip_suffix('}').ok_or(fmt::Error)?;
            writer.write_str(line)?;
            let mut span = String::from("{\"request_id\":");
            json_string(&mut span, &id)?;
            span.push_str(",\"name\":\"request\"}");
            return writeln!(writer, ",\"span\":{span},\"spans\":[{span}]}}");
        }
        if in_span || meta.target() != crate::access::TARGET {
            return self.json.format_event(ctx, writer, event);
        }
        access_line(&mut writer, meta.level(), |members| event.record(members))
    }
}

/// Writes an access line (target `access`, outside any span) as JSON: `fields` writes the
/// members of its `fields` object.
pub(crate) fn access_line<W: fmt::Write>(
    writer: &mut W,
    level: &tracing::Level,
    fields: impl FnOnce(&mut JsonMembers<'_, W>),
) -> fmt::Result {
    writer.write_str("{\"timestamp\":\"")?;
    let now = std::time::SystemTime::now();
    match now.duration_since(std::time::UNIX_EPOCH) {
        Ok(since) if since.as_secs() < LAST_FOUR_DIGIT_YEAR => timestamp(writer, since)?,
        _ => SystemTime.format_time(&mut Writer::new(writer))?,
    }
    writer.write_str("\",\"level\":\"")?;
    writer.write_str(level.as_str())?;
    writer.write_str("\",\"fields\":{")?;
    let mut members = JsonMembers::new(writer);
    fields(&mut members);
    members.result?;
    writer.write_str("},\"target\":")?;
    json_string(writer, crate::access::TARGET)?;
    writer.write_str("}\n")
}

/// Where access lines go without a `tracing` event, once [`write_access_lines_to`] set it.
static ACCESS_LINES: OnceLock<LogOutput> = OnceLock::new();

/// From now on access lines are written as JSON straight into `output`'s batch, without a
/// `tracing` event (its dispatch, filter, visitor and line buffer): for JSON lines when the filter
/// lets `access` lines through and no traces are exported, where the event's line would read the
/// same (tested). Only the first output given is kept.
pub fn write_access_lines_to(output: LogOutput) {
    let _ = ACCESS_LINES.set(output);
}

/// Writes an access line into the output [`write_access_lines_to`] set, `fields` writing its
/// members; false when none is set (then the caller logs the line as a `tracing` event).
pub fn write_access_line(fields: impl FnOnce(&mut JsonMembers<'_, LineBytes<'_>>)) -> bool {
    let Some(output) = ACCESS_LINES.get() else {
        return false;
    };
    output.push_with(|lines| access_line(&mut LineBytes(lines), &tracing::Level::INFO, fields));
    true
}

/// Text written into the bytes of waiting lines.
pub struct LineBytes<'a>(&'a mut Vec<u8>);

impl fmt::Write for LineBytes<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0.extend_from_slice(text.as_bytes());
        Ok(())
    }
}

/// Span fields as a JSON object, as `tracing_subscriber`'s `JsonFields` writes them (members sorted
/// by name, the last value of a name kept; its JSON format reads them back to put them in lines),
/// written straight into the text when they come sorted, as the one field of a request's span does.
pub struct JsonSpanFields;

impl<'w> FormatFields<'w> for JsonSpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut order = NameOrder::default();
        fields.record(&mut order);
        if order.sorted {
            writer.write_char('{')?;
            let mut members = JsonMembers::new(&mut writer);
            fields.record(&mut members);
            members.result?;
            return writer.write_char('}');
        }
        let mut object = String::from("{");
        let mut members = JsonMembers::new(&mut object);
        fields.record(&mut members);
        members.result?;
        object.push('}');
        writer.write_str(&sorted_object(&object)?)
    }

    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        // `{…}` becomes `{…,<new members>}`, then sorted again.
        let had_members = current.fields.len() > 2;
        current.fields.pop();
        let mut members = JsonMembers::new(&mut current.fields);
        members.first = !had_members;
        fields.record(&mut members);
        members.result?;
        current.fields.push('}');
        current.fields = sorted_object(&current.fields)?;
        Ok(())
    }
}

/// Whether fields come sorted by name, each name once (then they are written as they come).
struct NameOrder {
    last: Option<&'static str>,
    sorted: bool,
}

impl Default for NameOrder {
    fn default() -> Self {
        Self {
            last: None,
            sorted: true,
        }
    }
}

impl Visit for NameOrder {
    fn record_debug(&mut self, field: &Field, _: &dyn fmt::Debug) {
        let name = field_name(field);
        self.sorted &= self.last.is_none_or(|last| last < name);
        self.last = Some(name);
    }
}

/// A JSON object's text with its members sorted by name, the last value of a name kept.
fn sorted_object(object: &str) -> Result<String, fmt::Error> {
    let members: std::collections::BTreeMap<&str, serde_json::Value> =
        serde_json::from_str(object).map_err(|_| fmt::Error)?;
    serde_json::to_string(&members).map_err(|_| fmt::Error)
}

/// Writes fields as JSON object members (`"name":value`, comma-separated) into a line.
pub struct JsonMembers<'a, W> {
    writer: &'a mut W,
    first: bool,
    result: fmt::Result,
}

impl<'a, W: fmt::Write> JsonMembers<'a, W> {
    fn new(writer: &'a mut W) -> Self {
        Self {
            writer,
            first: true,
            result: Ok(()),
        }
    }

    /// Writes `"name":"value"`.
    pub fn text(&mut self, name: &str, value: &str) {
        self.member(name, |writer| json_string(writer, value));
    }

    /// Writes `"name":value`.
    pub fn number(&mut self, name: &str, value: u64) {
        self.member(name, |writer| decimal(writer, value));
    }

    /// Writes `"name":true` or `false`.
    pub fn boolean(&mut self, name: &str, value: bool) {
        self.member(name, |writer| {
            writer.write_str(if value { "true" } else { "false" })
        });
    }

    /// Writes `"name":` then the value `write` writes.
    fn member(&mut self, name: &str, write: impl FnOnce(&mut W) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let separator = if self.first { "" } else { "," };
        self.first = false;
        self.result = self
            .writer
            .write_str(separator)
            .and_then(|()| json_string(self.writer, name))
            .and_then(|()| self.writer.write_char(':'))
            .and_then(|()| write(self.writer));
    }
}

/// A field's name as JSON lines show it (without a raw identifier's `r#`).
fn field_name(field: &Field) -> &'static str {
    let name = field.name();
    name.strip_prefix("r#").unwrap_or(name)
}

impl<W: fmt::Write> Visit for JsonMembers<'_, W> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        // As `serde_json`: a number when finite, else null.
        if value.is_finite() {
            self.member(field_name(field), |writer| write!(writer, "{value:?}"));
        } else {
            self.member(field_name(field), |writer| writer.write_str("null"));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field_name(field), |writer| {
            if value < 0 {
                writer.write_char('-')?;
            }
            decimal(writer, value.unsigned_abs())
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field_name(field), |writer| decimal(writer, value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field_name(field), |writer| write!(writer, "{value}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field_name(field), |writer| json_string(writer, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field_name(field), |writer| {
            writer.write_char('"')?;
            write!(Escaped(writer), "{value:?}")?;
            writer.write_char('"')
        });
    }
}

/// The first second of the year 10000, from which years take more than four digits.
const LAST_FOUR_DIGIT_YEAR: u64 = 253_402_300_800;

/// The time `since` the Unix epoch as `tracing_subscriber`'s `SystemTime` writes it (RFC 3339 in
/// UTC, microseconds: `2026-12-06T09:13:13.545054Z`), without its chain of `write!`s; for years
/// of four digits.
fn timestamp(writer: &mut impl fmt::Write, since: Duration) -> fmt::Result {
    let seconds = since.as_secs();
    let (year, month, day) = civil_date(seconds / 86_400);
    let of_day = seconds % 86_400;
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    for (field, value) in [
        (0..4, year),
        (5..7, month),
        (8..10, day),
        (11..13, of_day / 3600),
        (14..16, of_day % 3600 / 60),
        (17..19, of_day % 60),
        (20..26, u64::from(since.subsec_micros())),
    ] {
        let mut value = value;
        for digit in text.get_mut(field).unwrap_or_default().iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    writer.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
}

/// The year, month and day `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_date(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let of_era = shifted % 146_097;
    let year_of_era = (of_era - of_era / 1460 + of_era / 36_524 - of_era / 146_096) / 365;
    let day_of_year = of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

/// `value` in decimal digits, without going through `core::fmt`'s padding machinery.
fn decimal(writer: &mut impl fmt::Write, mut value: u64) -> fmt::Result {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        if let Some(digit) = digits.get_mut(start) {
            *digit = b'0' + (value % 10) as u8;
        }
        value /= 10;
        if value == 0 {
            break;
        }
    }
    let text = digits.get(start..).unwrap_or_default();
    writer.write_str(std::str::from_utf8(text).map_err(|_| fmt::Error)?)
}

/// `text` as a JSON string.
fn json_string(writer: &mut impl fmt::Write, text: &str) -> fmt::Result {
    writer.write_char('"')?;
    Escaped(writer).write_str(text)?;
    writer.write_char('"')
}

/// Escapes what is written as `serde_json` does inside a string: quotes, backslashes and control
/// characters.
struct Escaped<'a, W>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaped<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut plain = 0;
        for (index, byte) in text.bytes().enumerate() {
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0x08 => "\\b",
                0x0c => "\\f",
                0..0x20 => "",
                _ => continue,
            };
            self.0
                .write_str(text.get(plain..index).unwrap_or_default())?;
            if escape.is_empty() {
                write!(self.0, "\\u{byte:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            plain = index + 1;
        }
        self.0.write_str(text.get(plain..).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer appending to a shared buffer, counting its writes.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let mut sink = self.0.lock().unwrap();
            sink.0.extend_from_slice(bytes);
            sink.1 += 1;
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().0.clone()).unwrap()
        }

        fn writes(&self) -> usize {
            self.0.lock().unwrap().1
        }
    }

    /// Logs `run` through `output` with a JSON formatter, as production does.
    fn logging(output: &LogOutput<Sink>, run: impl FnOnce()) {
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(output.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, run);
    }

    /// The lines `run` writes with the JSON format production uses (`fast`), else with
    /// `tracing_subscriber`'s own, their timestamps blanked.
    fn json_lines(fast: bool, run: impl Fn()) -> String {
        let sink = Sink::default();
        let output = LogOutput::new(sink.clone());
        let builder = tracing_subscriber::fmt().with_writer(output.clone());
        if fast {
            let subscriber = builder
                .fmt_fields(JsonSpanFields)
                .event_format(JsonLines::default())
                .finish();
            tracing::subscriber::with_default(subscriber, run);
        } else {
            tracing::subscriber::with_default(builder.json().finish(), run);
        }
        output.flush();
        let text = sink.text();
        text.lines()
            .map(|line| {
                let parsed: serde_json::Value = serde_json::from_str(line).unwrap();
                let timestamp = parsed["timestamp"].as_str().unwrap();
                assert!(timestamp.ends_with('Z'), "{line}");
                format!("{}\n", line.replacen(timestamp, "T", 1))
            })
            .collect()
    }

    #[test]
    fn json_lines_read_as_tracing_subscriber_writes_them() {
        let run = || {
            let odd = "quote \" backslash \\ newline \n tab \t bell \u{7} юникод";
            let none: Option<u64> = None;
            tracing::info!(
                target: "access",
                request_id = %"req-1",
                method = %axum::http::Method::POST,
                route = "/v1/chat/completions",
                odd,
                debug = ?odd,
                stream = true,
                status = Some(200u16),
                missing = none,
                negative = -3i64,
                smallest = i64::MIN,
                largest = u64::MAX,
                zero = 0u64,
                ratio = 0.25f64,
                nan = f64::NAN,
                "request"
            );
            let span = tracing::info_span!("request", request_id = %"req-2", r#type = "chat", odd);
            span.record("odd", "again");
            span.in_scope(|| tracing::warn!(odd, "inside"));
            span.in_scope(|| tracing::info!(target: "access", "an access line inside a span"));
            let sorted = tracing::info_span!("call", attempt = 1u64, endpoint = "chat");
            sorted.in_scope(|| tracing::info!("in a span whose fields come sorted"));
            tracing::error!(target: "elsewhere", count = 3u64, "outside");
        };
        let fast = json_lines(true, run);
        assert_eq!(fast, json_lines(false, run));
        assert_eq!(fast.lines().count(), 5, "{fast}");
        assert!(
            fast.contains(r#""span":{"attempt":1,"endpoint":"chat""#),
            "{fast}"
        );
        assert!(
            fast.contains(r#""odd":"again","request_id":"req-2""#),
            "{fast}"
        );
        assert!(fast.contains(r#"bell \u0007 юникод"#), "{fast}");
    }

    #[test]
    fn lines_of_a_request_without_a_span_read_as_in_its_span() {
        let id: Arc<str> = Arc::from("req-\"7\"");
        let lines = |run: &dyn Fn()| {
            let sink = Sink::default();
            let output = LogOutput::new(sink.clone());
            let subscriber = tracing_subscriber::fmt()
                .with_writer(output.clone())
                .with_max_level(tracing::Level::DEBUG)
                .fmt_fields(JsonSpanFields)
                .event_format(JsonLines::default())
                .finish();
            tracing::subscriber::with_default(subscriber, run);
            output.flush();
            let text = sink.text();
            text.lines()
                .map(|line| {
                    let parsed: serde_json::Value = serde_json::from_str(line).unwrap();
                    line.replacen(parsed["timestamp"].as_str().unwrap(), "T", 1)
                })
                .collect::<Vec<_>>()
        };
        let events = || {
            tracing::warn!(status = 500u64, "GigaChat failed");
            tracing::debug!(target: "gigachat::client", "GigaChat call");
            tracing::info!(target: "access", request_id = %"other", "request");
        };
        let spanned = lines(&|| {
            tracing::info_span!("request", request_id = %id).in_scope(events);
        });
        let marked = lines(&|| {
            let _request = in_request(&id);
            events();
        });
        // The access line is the same either way only outside the span; the others must match.
        assert_eq!(marked[..2], spanned[..2]);
        assert!(
            marked[0].ends_with(r#""span":{"request_id":"req-\"7\"","name":"request"},"spans":[{"request_id":"req-\"7\"","name":"request"}]}"#),
            "{}",
            marked[0]
        );
        assert!(!marked[2].contains("\"span\""), "{}", marked[2]);
        // Once the mark is dropped, lines name no request.
        let after = lines(&|| {
            drop(in_request(&id));
            tracing::warn!("later");
        });
        assert!(!after[0].contains("req-"), "{}", after[0]);
    }

    #[test]
    fn timestamps_read_as_rfc_3339_with_microseconds() {
        for (seconds, micros, expected) in [
            (0, 0, "1970-01-01T00:00:00.000000Z"),
            (951_782_400, 1, "2000-02-29T00:00:00.000001Z"),
            (1_709_164_800, 999_999, "2024-02-29T00:00:00.999999Z"),
            (4_107_542_399, 123_456, "2100-02-28T23:59:59.123456Z"),
            (1_796_548_393, 545_054, "2026-12-06T09:13:13.545054Z"),
            (
                LAST_FOUR_DIGIT_YEAR - 1,
                999_999,
                "9999-12-31T23:59:59.999999Z",
            ),
        ] {
            let mut text = String::new();
            let since = Duration::from_secs(seconds) + Duration::from_micros(micros);
            timestamp(&mut text, since).unwrap();
            assert_eq!(text, expected);
        }
    }

    #[test]
    fn access_lines_wait_and_any_other_line_writes_them_first() {
        let sink = Sink::default();
        let output = LogOutput::new(sink.clone());
        logging(&output, || {
            tracing::info!(target: "access", n = 1, "request");
            tracing::info!(target: "access", n = 2, "request");
        });
        assert_eq!(sink.writes(), 0, "access lines wait");
        logging(&output, || tracing::warn!("something else"));
        let text = sink.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].contains("\"n\":1") && lines[1].contains("\"n\":2"),
            "{text}"
        );
        assert!(lines[2].contains("something else"), "{text}");
        assert_eq!(sink.writes(), 1, "one write for the three lines");
    }

    #[test]
    fn a_full_batch_and_flush_write_the_waiting_lines() {
        let sink = Sink::default();
        let output = LogOutput::new(sink.clone());
        let padding = "x".repeat(1000);
        let logged = BATCH_BYTES / 1000 + 4;
        logging(&output, || {
            for n in 0..logged {
                tracing::info!(target: "access", n, padding, "request");
            }
        });
        assert_eq!(sink.writes(), 1, "written once the batch was full");
        let written = sink.text().lines().count();
        assert!(written > 1 && written < logged, "{written} of {logged}");
        output.flush();
        assert_eq!(sink.writes(), 2);
        assert_eq!(sink.text().lines().count(), logged);
        assert!(sink.text().ends_with('\n'));
    }

    #[test]
    fn the_flushing_thread_writes_waiting_lines_and_ends_with_the_output() {
        let sink = Sink::default();
        let output = LogOutput::new(sink.clone());
        let pending = Arc::downgrade(&output.shared);
        let flusher = std::thread::spawn(move || flush_every(&pending, Duration::from_millis(5)));
        logging(&output, || tracing::info!(target: "access", "waiting"));
        while sink.writes() == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(sink.text().contains("waiting"));
        drop(output);
        flusher.join().unwrap();
    }
}
