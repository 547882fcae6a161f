//! Prometheus metrics: a small registry fed once per request by the access record's end (the
//! same data as the access log line), rendered as Prometheus text at `/metrics`.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::hash::{BuildHasher as _, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Duration;

use crate::access::Tokens;
use crate::server::{ANTHROPIC, OPENAI, Route};

/// The label value for a model or key outside the configured (or GigaChat-served) set.
const OTHER: &str = "other";

/// The label value for "not there": no key, no model, no status, no error.
const NONE: &str = "none";

/// Bucket bounds (seconds) for whole requests, GigaChat calls and the first token.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Bucket bounds (seconds) for the adapter's own share of a request: small by design.
const OVERHEAD_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// What one finished request contributes, as its access record saw it.
pub struct Outcome<'a> {
    /// The route (its template, surface and GigaChat endpoint).
    pub route: &'static Route,
    /// The caller's key name (none: no key was needed or given).
    pub key: Option<&'a str>,
    /// The model the client asked for.
    pub model: Option<&'a str>,
    /// The model GigaChat answered with.
    pub model_served: Option<&'a str>,
    /// Whether the answer was an event stream.
    pub stream: bool,
    /// The response status (none: the client left before the answer).
    pub status: Option<u16>,
    /// The error label the request ended with.
    pub error: Option<&'static str>,
    /// Total time from arrival to the end of the answer.
    pub latency: Duration,
    /// Time spent waiting for GigaChat.
    pub upstream: Option<Duration>,
    /// Time to a stream's first event.
    pub first_token: Option<Duration>,
    /// The answer's token usage.
    pub tokens: Option<Tokens>,
}

/// The API surfaces, in the order their in-flight gauges are kept and rendered.
const SURFACES: [&str; 2] = [OPENAI, ANTHROPIC];

/// The in-flight gauge of `surface` (an unknown one counts as the first).
fn surface_index(surface: &str) -> usize {
    SURFACES
        .iter()
        .position(|known| *known == surface)
        .unwrap_or(0)
}

/// The adapter's metrics. Cheap to update: one short lock per request for all its families.
pub struct Metrics {
    known_models: RwLock<HashSet<String, Labels>>,
    families: Mutex<Families>,
    /// Requests being served, per surface ([`SURFACES`]).
    in_flight: [AtomicI64; SURFACES.len()],
    streams_active: AtomicI64,
    sources: std::sync::OnceLock<Sources>,
    /// `KEYS_FILE`, whose refused reloads are counted.
    keys_file: std::sync::OnceLock<std::sync::Arc<crate::policy::reload::PolicyFile>>,
}

/// What one key used since the adapter started, as the metrics counted it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct KeyUsage {
    /// Requests that ended (any status).
    pub requests: u64,
    /// Prompt tokens GigaChat reported.
    pub prompt_tokens: u64,
    /// Completion tokens GigaChat reported.
    pub completion_tokens: u64,
}

/// The metric families a finished request updates, behind the one lock of [`Metrics`].
struct Families {
    requests: Family<u64>,
    request_duration: Family<Histogram>,
    upstream_duration: Family<Histogram>,
    first_token: Family<Histogram>,
    overhead: Family<Histogram>,
    tokens: Family<u64>,
    key_requests: Family<u64>,
    upstream_errors: Family<u64>,
}

/// Counters kept where their events happen, read when the metrics are rendered.
pub struct Sources {
    /// The GigaChat client's token fetches so far.
    pub token_refreshes: Box<dyn Fn() -> gigachat::TokenRefreshes + Send + Sync>,
    /// What became of attached files.
    pub attachments: std::sync::Arc<crate::attachments::resolve::AttachmentCounts>,
    /// Failed Redis calls of the key limits.
    pub limits_redis_errors: Box<dyn Fn() -> u64 + Send + Sync>,
}

impl Sources {
    /// `gigachat_adapter_token_refreshes_total`, `gigachat_adapter_attachments_total` and
    /// `gigachat_adapter_limits_redis_errors_total`.
    fn render(&self, out: &mut String) {
        let refreshes = (self.token_refreshes)();
        let _ = write!(
            out,
            "# HELP gigachat_adapter_token_refreshes_total GigaChat access-token fetches, by result.\n\
             # TYPE gigachat_adapter_token_refreshes_total counter\n\
             gigachat_adapter_token_refreshes_total{{result=\"ok\"}} {}\n\
             gigachat_adapter_token_refreshes_total{{result=\"failed\"}} {}\n\
             # HELP gigachat_adapter_attachments_total Attached files, by what became of them.\n\
             # TYPE gigachat_adapter_attachments_total counter\n",
            refreshes.ok, refreshes.failed,
        );
        for (result, count) in self.attachments.by_result() {
            let _ = writeln!(
                out,
                "gigachat_adapter_attachments_total{{result=\"{result}\"}} {count}"
            );
        }
        let _ = write!(
            out,
            "# HELP gigachat_adapter_limits_redis_errors_total Failed Redis calls of the key limits.\n\
             # TYPE gigachat_adapter_limits_redis_errors_total counter\n\
             gigachat_adapter_limits_redis_errors_total {}\n",
            (self.limits_redis_errors)(),
        );
    }
}

impl Metrics {
    /// Empty metrics whose `model` labels name only `models` (the configured aliases, their
    /// targets and the defaults) and models GigaChat answered with; anything else is `other`.
    pub fn new(models: impl IntoIterator<Item = String>) -> Self {
        Self {
            known_models: RwLock::new(models.into_iter().collect()),
            families: Mutex::new(Families {
                requests: Family::new(
                    "gigachat_adapter_requests_total",
                    "Requests served, by surface, route, model, status and error.",
                    &["surface", "route", "model", "status", "error"],
                ),
                request_duration: Family::new(
                    "gigachat_adapter_request_duration_seconds",
                    "Time from a request's arrival to the end of its answer.",
                    &["surface", "route", "stream"],
                ),
                upstream_duration: Family::new(
                    "gigachat_adapter_upstream_duration_seconds",
                    "Time a request spent waiting for GigaChat, by GigaChat endpoint.",
                    &["endpoint"],
                ),
                first_token: Family::new(
                    "gigachat_adapter_time_to_first_token_seconds",
                    "Time from a streaming request's arrival to its first event.",
                    &["surface", "model"],
                ),
                overhead: Family::new(
                    "gigachat_adapter_overhead_seconds",
                    "Request time minus the time spent waiting for GigaChat.",
                    &["surface", "stream"],
                ),
                tokens: Family::new(
                    "gigachat_adapter_tokens_total",
                    "Tokens used, by model, key and kind (prompt, completion, cached).",
                    &["model", "key", "kind"],
                ),
                key_requests: Family::new(
                    "gigachat_adapter_key_requests_total",
                    "Requests served, by key and model.",
                    &["key", "model"],
                ),
                upstream_errors: Family::new(
                    "gigachat_adapter_upstream_errors_total",
                    "Requests that ended with a GigaChat error, by verdict.",
                    &["verdict"],
                ),
            }),
            in_flight: [AtomicI64::new(0), AtomicI64::new(0)],
            streams_active: AtomicI64::new(0),
            sources: std::sync::OnceLock::new(),
            keys_file: std::sync::OnceLock::new(),
        }
    }

    /// Also renders `gigachat_adapter_keys_reload_failures_total`: the refused reloads of `file`.
    pub fn read_keys_file(&self, file: std::sync::Arc<crate::policy::reload::PolicyFile>) {
        let _ = self.keys_file.set(file);
    }

    /// What each key (by name) used since start: its requests and GigaChat's tokens.
    pub fn usage_by_key(&self) -> HashMap<String, KeyUsage> {
        let mut usage: HashMap<String, KeyUsage> = HashMap::new();
        let families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        families.key_requests.each(|labels, count| {
            if let Some(key) = labels.first() {
                usage.entry(key.clone()).or_default().requests += count;
            }
        });
        families.tokens.each(|labels, count| {
            if let [_, key, kind] = labels {
                let used = usage.entry(key.clone()).or_default();
                match kind.as_str() {
                    "prompt" => used.prompt_tokens += count,
                    "completion" => used.completion_tokens += count,
                    _ => {}
                }
            }
        });
        usage
    }

    /// Also renders the counters of `sources` (the first ones given; later ones are ignored).
    pub fn read_from(&self, sources: Sources) {
        let _ = self.sources.set(sources);
    }

    /// A request to `surface` arrived (it is in flight until [`Metrics::finished`]).
    pub fn started(&self, surface: &str) {
        self.in_flight[surface_index(surface)].fetch_add(1, Ordering::Relaxed);
    }

    /// A request's answer became an event stream (active until the request is finished).
    pub fn stream_opened(&self) {
        self.streams_active.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a finished request; `streamed` says whether [`Metrics::stream_opened`] was called.
    pub fn finished(&self, outcome: &Outcome<'_>, streamed: bool) {
        self.in_flight[surface_index(outcome.route.surface)].fetch_sub(1, Ordering::Relaxed);
        if streamed {
            self.streams_active.fetch_sub(1, Ordering::Relaxed);
        }
        let model = self.model_label(outcome.model, outcome.model_served);
        // `StatusCode::as_str` reads a static table: no string per request.
        let status_code = outcome
            .status
            .and_then(|status| axum::http::StatusCode::from_u16(status).ok());
        let status = status_code
            .as_ref()
            .map_or(NONE, axum::http::StatusCode::as_str);
        let error = outcome.error.unwrap_or(NONE);
        let stream = if outcome.stream { "true" } else { "false" };
        let Route {
            template: route,
            surface,
            endpoint,
        } = *outcome.route;
        let mut families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        families
            .requests
            .update(&[surface, route, model, status, error], |count| {
                *count += 1;
            });
        if let Some(key) = outcome.key {
            families.key_requests.update(&[key, model], |count| {
                *count += 1;
            });
        }
        let latency = outcome.latency.as_secs_f64();
        families
            .request_duration
            .update(&[surface, route, stream], |histogram| {
                histogram.observe(LATENCY_BUCKETS, latency);
            });
        let upstream = outcome
            .upstream
            .map_or(0.0, |upstream| upstream.as_secs_f64());
        if outcome.upstream.is_some() {
            families.upstream_duration.update(&[endpoint], |histogram| {
                histogram.observe(LATENCY_BUCKETS, upstream);
            });
        }
        families.overhead.update(&[surface, stream], |histogram| {
            histogram.observe(OVERHEAD_BUCKETS, (latency - upstream).max(0.0));
        });
        if let Some(first_token) = outcome.first_token {
            families.first_token.update(&[surface, model], |histogram| {
                histogram.observe(LATENCY_BUCKETS, first_token.as_secs_f64());
            });
        }
        if let Some(tokens) = outcome.tokens {
            let key = outcome.key.unwrap_or(NONE);
            for (kind, count) in [
                ("prompt", tokens.prompt),
                ("completion", tokens.completion),
                ("cached", tokens.cached),
            ] {
                families.tokens.update(&[model, key, kind], |total| {
                    *total += u64::from(count);
                });
            }
        }
        if let Some(verdict) = outcome.error.filter(|label| is_upstream_error(label)) {
            families
                .upstream_errors
                .update(&[verdict], |count| *count += 1);
        }
    }

    /// The `model` label: the model asked for (else the one served) when known, else `other`.
    /// A model GigaChat answered with becomes known (GigaChat's model list bounds it).
    fn model_label<'a>(&self, asked: Option<&'a str>, served: Option<&'a str>) -> &'a str {
        let label = |known: &HashSet<String, Labels>| match asked.or(served) {
            None => NONE,
            Some(model) if known.contains(model) => model,
            Some(_) => OTHER,
        };
        {
            // One read lock for the usual case: the served model is known already.
            let known = self
                .known_models
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if served.is_none_or(|served| known.contains(served)) {
                return label(&known);
            }
        }
        let mut known = self
            .known_models
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(served) = served {
            known.insert(served.to_owned());
        }
        label(&known)
    }

    /// The `/metrics` answer: [`Metrics::render`] as `text/plain; version=0.0.4`.
    pub fn response(&self) -> axum::response::Response {
        use axum::response::IntoResponse as _;
        (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            self.render(),
        )
            .into_response()
    }

    /// Every metric in Prometheus' text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        families.requests.render_counters(&mut out);
        families
            .request_duration
            .render_histograms(&mut out, LATENCY_BUCKETS);
        families
            .upstream_duration
            .render_histograms(&mut out, LATENCY_BUCKETS);
        families
            .first_token
            .render_histograms(&mut out, LATENCY_BUCKETS);
        families
            .overhead
            .render_histograms(&mut out, OVERHEAD_BUCKETS);
        families.tokens.render_counters(&mut out);
        families.key_requests.render_counters(&mut out);
        families.upstream_errors.render_counters(&mut out);
        drop(families);
        if let Some(file) = self.keys_file.get() {
            let _ = write!(
                out,
                "# HELP gigachat_adapter_keys_reload_failures_total Reads of KEYS_FILE refused \
                 (the last good policy stayed in use).\n\
                 # TYPE gigachat_adapter_keys_reload_failures_total counter\n\
                 gigachat_adapter_keys_reload_failures_total {}\n",
                file.failures()
            );
        }
        out.push_str(
            "# HELP gigachat_adapter_in_flight Requests being served.\n\
             # TYPE gigachat_adapter_in_flight gauge\n",
        );
        for (surface, count) in SURFACES.iter().zip(&self.in_flight) {
            let _ = writeln!(
                out,
                "gigachat_adapter_in_flight{{surface=\"{surface}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let _ = write!(
            out,
            "# HELP gigachat_adapter_streams_active Event streams being sent.\n\
             # TYPE gigachat_adapter_streams_active gauge\n\
             gigachat_adapter_streams_active {}\n",
            self.streams_active.load(Ordering::Relaxed),
        );
        if let Some(sources) = self.sources.get() {
            sources.render(&mut out);
        }
        out
    }
}

/// Whether an error label is a GigaChat [`Verdict`](gigachat::Verdict) (counted in
/// `upstream_errors_total`): the access record keeps the label the verdict gave.
fn is_upstream_error(label: &str) -> bool {
    gigachat::Verdict::from_label(label).is_some()
}

/// One metric family: its series by label values. Series are found by a hash of the borrowed
/// label values, so updating an existing one allocates nothing.
struct Family<V> {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    series: HashMap<u64, Vec<Series<V>>, Labels>,
}

/// Hashes label values (and their hashes, as the series map's keys).
type Labels = BuildHasherDefault<LabelHasher>;

/// A series' label values and its value.
type Series<V> = (Vec<String>, V);

impl<V: Default> Family<V> {
    fn new(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Self {
        Self {
            name,
            help,
            labels,
            series: HashMap::default(),
        }
    }

    /// Applies `change` to the series with label `values`, making it when new.
    fn update(&mut self, values: &[&str], change: impl FnOnce(&mut V)) {
        let hash = Labels::default().hash_one(values);
        let same_hash = self.series.entry(hash).or_default();
        let index = match same_hash.iter().position(|(labels, _)| labels == values) {
            Some(index) => index,
            None => {
                let labels = values.iter().map(|value| (*value).to_owned()).collect();
                same_hash.push((labels, V::default()));
                same_hash.len() - 1
            }
        };
        if let Some((_, value)) = same_hash.get_mut(index) {
            change(value);
        }
    }

    /// Runs `render` on every series, in label order (a stable exposition).
    fn each(&self, mut render: impl FnMut(&[String], &V)) {
        let mut sorted: Vec<&Series<V>> = self.series.values().flatten().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        for (labels, value) in sorted {
            render(labels, value);
        }
    }

    /// `{name="value",…}` for a series, with `extra` (`le`) appended when given.
    fn label_set(&self, values: &[String], extra: Option<(&str, &str)>) -> String {
        let mut out = String::from("{");
        let pairs = self
            .labels
            .iter()
            .copied()
            .zip(values.iter().map(String::as_str))
            .chain(extra);
        for (index, (name, value)) in pairs.enumerate() {
            if index > 0 {
                out.push(',');
            }
            let _ = write!(out, "{name}=\"{}\"", escape(value));
        }
        out.push('}');
        out
    }

    fn header(&self, out: &mut String, kind: &str) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {kind}", self.name);
    }
}

impl Family<u64> {
    fn render_counters(&self, out: &mut String) {
        self.header(out, "counter");
        self.each(|values, count| {
            let _ = writeln!(out, "{}{} {count}", self.name, self.label_set(values, None));
        });
    }
}

impl Family<Histogram> {
    fn render_histograms(&self, out: &mut String, bounds: &[f64]) {
        self.header(out, "histogram");
        self.each(|values, histogram| {
            let mut cumulative = 0;
            for (index, bound) in bounds.iter().enumerate() {
                cumulative += histogram.buckets.get(index).copied().unwrap_or(0);
                let le = bound.to_string();
                let labels = self.label_set(values, Some(("le", &le)));
                let _ = writeln!(out, "{}_bucket{labels} {cumulative}", self.name);
            }
            let labels = self.label_set(values, Some(("le", "+Inf")));
            let _ = writeln!(out, "{}_bucket{labels} {}", self.name, histogram.count);
            let labels = self.label_set(values, None);
            let _ = writeln!(out, "{}_sum{labels} {}", self.name, histogram.sum);
            let _ = writeln!(out, "{}_count{labels} {}", self.name, histogram.count);
        });
    }
}

/// A multiply-rotate hash over the label values, eight bytes at a step (as rustc's `FxHasher`).
/// Every label value comes from a bounded set (configuration, the route table, error labels), so
/// nobody can pick values that collide on purpose, and it costs a fraction of std's SipHash, which
/// was half of a request's metrics update.
#[derive(Default)]
struct LabelHasher(u64);

impl LabelHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for LabelHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut eight = [0; 8];
            eight.copy_from_slice(word);
            self.add(u64::from_le_bytes(eight));
        }
        let tail = words
            .remainder()
            .iter()
            .rev()
            .fold(0, |word, byte| word << 8 | u64::from(*byte));
        self.add(tail);
    }

    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Observations counted per bucket (not cumulative: rendering adds them up), their sum and count.
#[derive(Default)]
struct Histogram {
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], value: f64) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; bounds.len()];
        }
        if let Some(index) = bounds.iter().position(|bound| value <= *bound)
            && let Some(bucket) = self.buckets.get_mut(index)
        {
            *bucket += 1;
        }
        self.sum += value;
        self.count += 1;
    }
}

/// A label value escaped for the text format (backslash, quote, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(model: Option<&'static str>) -> Outcome<'static> {
        Outcome {
            route: crate::server::route_of("/v1/chat/completions"),
            key: Some("team-a"),
            model,
            model_served: Some("GigaChat-2-Max"),
            stream: false,
            status: Some(200),
            error: None,
            latency: Duration::from_millis(300),
            upstream: Some(Duration::from_millis(200)),
            first_token: None,
            tokens: Some(Tokens {
                prompt: 10,
                completion: 4,
                cached: 1,
            }),
        }
    }

    #[test]
    fn unknown_models_fold_into_other_and_buckets_are_cumulative() {
        let metrics = Metrics::new(["gpt-4o".to_owned()]);
        metrics.started(OPENAI);
        metrics.finished(&outcome(Some("gpt-4o")), false);
        metrics.started(OPENAI);
        metrics.finished(&outcome(Some("made-up-model")), false);
        metrics.started(OPENAI);
        metrics.finished(&outcome(Some("GigaChat-2-Max")), false);
        let text = metrics.render();
        for line in [
            r#"gigachat_adapter_requests_total{surface="openai",route="/v1/chat/completions",model="gpt-4o",status="200",error="none"} 1"#,
            r#"gigachat_adapter_requests_total{surface="openai",route="/v1/chat/completions",model="other",status="200",error="none"} 1"#,
            r#"gigachat_adapter_requests_total{surface="openai",route="/v1/chat/completions",model="GigaChat-2-Max",status="200",error="none"} 1"#,
            r#"gigachat_adapter_request_duration_seconds_bucket{surface="openai",route="/v1/chat/completions",stream="false",le="0.25"} 0"#,
            r#"gigachat_adapter_request_duration_seconds_bucket{surface="openai",route="/v1/chat/completions",stream="false",le="0.5"} 3"#,
            r#"gigachat_adapter_request_duration_seconds_bucket{surface="openai",route="/v1/chat/completions",stream="false",le="+Inf"} 3"#,
            r#"gigachat_adapter_request_duration_seconds_count{surface="openai",route="/v1/chat/completions",stream="false"} 3"#,
            r#"gigachat_adapter_upstream_duration_seconds_count{endpoint="chat"} 3"#,
            r#"gigachat_adapter_tokens_total{model="gpt-4o",key="team-a",kind="prompt"} 10"#,
            r#"gigachat_adapter_tokens_total{model="other",key="team-a",kind="cached"} 1"#,
            r#"gigachat_adapter_in_flight{surface="openai"} 0"#,
            r#"gigachat_adapter_in_flight{surface="anthropic"} 0"#,
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
        metrics.started(ANTHROPIC);
        let text = metrics.render();
        assert!(
            text.contains(r#"gigachat_adapter_in_flight{surface="anthropic"} 1"#)
                && text.contains(r#"gigachat_adapter_in_flight{surface="openai"} 0"#),
            "{text}"
        );
    }

    #[test]
    fn upstream_errors_are_counted_by_verdict_and_labels_are_escaped() {
        let metrics = Metrics::new([]);
        let mut failed = outcome(None);
        failed.error = Some("upstream_rate_limited");
        failed.status = Some(429);
        failed.key = Some("a\"b");
        metrics.started(OPENAI);
        metrics.stream_opened();
        assert!(
            metrics
                .render()
                .contains("gigachat_adapter_streams_active 1")
        );
        metrics.finished(&failed, true);
        let text = metrics.render();
        assert!(
            text.contains(
                r#"gigachat_adapter_upstream_errors_total{verdict="upstream_rate_limited"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"key="a\"b""#), "{text}");
        // Only verdicts are GigaChat errors: the adapter's own refusals are not counted.
        for label in [
            "unauthorized",
            "payload_too_large",
            "invalid_upstream_output",
        ] {
            let mut refused = outcome(None);
            refused.error = Some(label);
            metrics.started(OPENAI);
            metrics.finished(&refused, false);
        }
        let text = metrics.render();
        assert_eq!(
            text.matches("gigachat_adapter_upstream_errors_total{")
                .count(),
            1,
            "{text}"
        );
        assert!(text.contains("gigachat_adapter_streams_active 0"), "{text}");
    }
    #[test]
    fn token_refreshes_and_attachments_are_read_when_rendered() {
        use crate::attachments::resolve::{AttachmentCounts, AttachmentResult};
        let metrics = Metrics::new([]);
        assert!(!metrics.render().contains("attachments_total"));
        let attachments = std::sync::Arc::new(AttachmentCounts::default());
        let refreshes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = refreshes.clone();
        metrics.read_from(Sources {
            token_refreshes: Box::new(move || gigachat::TokenRefreshes {
                ok: seen.load(Ordering::Relaxed),
                failed: 1,
            }),
            attachments: attachments.clone(),
            limits_redis_errors: Box::new(|| 7),
        });
        let text = metrics.render();
        assert!(
            text.contains("# TYPE gigachat_adapter_token_refreshes_total counter"),
            "{text}"
        );
        assert!(
            text.contains(r#"gigachat_adapter_token_refreshes_total{result="ok"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"gigachat_adapter_attachments_total{result="refused"} 0"#),
            "{text}"
        );
        refreshes.store(3, Ordering::Relaxed);
        attachments.count(AttachmentResult::Uploaded);
        attachments.count(AttachmentResult::Reused);
        attachments.count(AttachmentResult::Reused);
        let text = metrics.render();
        for line in [
            r#"gigachat_adapter_token_refreshes_total{result="ok"} 3"#,
            r#"gigachat_adapter_token_refreshes_total{result="failed"} 1"#,
            r#"gigachat_adapter_attachments_total{result="uploaded"} 1"#,
            r#"gigachat_adapter_attachments_total{result="reused"} 2"#,
            r#"gigachat_adapter_attachments_total{result="fetched"} 0"#,
            "gigachat_adapter_limits_redis_errors_total 7",
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
    }
}
