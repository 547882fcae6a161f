//! OpenTelemetry traces over OTLP/HTTP, on only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set. Then the spans of our crates (a request, its
//! attachment work, each GigaChat call) go to a batching exporter on its own thread, a client's
//! `traceparent` becomes the request span's parent, and each GigaChat call sends its own. Off, no layer is
//! installed and a request does what it did before, except that a client's own well-formed
//! `traceparent`/`tracestate` are passed on to GigaChat unchanged.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::{HeaderMap, Method};
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};

use crate::access::Tokens;
use crate::context::header;

/// Whether spans are exported: set once, when the export's layer is made.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported (the process installed [`Traces::layer`]).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// `service.name` when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` names one.
const SERVICE_NAME: &str = "gigachat-adapter";

/// The longest `tracestate` passed on (W3C: at most 32 members; vendors may cut past 512 bytes).
const MAX_TRACESTATE: usize = 512;

/// The running trace export. Dropping it (or [`Traces::shutdown`]) sends what is still queued.
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// The export the standard `OTEL_*` variables ask for; none when no OTLP endpoint is set,
    /// `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`. The exporter reads the endpoint,
    /// `OTEL_EXPORTER_OTLP_HEADERS` and `_TIMEOUT`; the SDK reads `OTEL_TRACES_SAMPLER` (`_ARG`)
    /// and the `OTEL_BSP_*` queue settings (spans past a full queue are dropped, never waited for).
    pub fn from_env() -> anyhow::Result<Option<Self>> {
        if !wanted(|name| std::env::var(name).ok())? {
            return Ok(None);
        }
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
            .map_err(|err| anyhow::anyhow!("cannot set up the OTLP trace exporter: {err}"))?;
        let resource = opentelemetry_sdk::Resource::builder().build();
        let named = resource
            .get(&opentelemetry::Key::new("service.name"))
            .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
        let resource = if named {
            resource
        } else {
            opentelemetry_sdk::Resource::builder()
                .with_service_name(SERVICE_NAME)
                .build()
        };
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        Ok(Some(Self { provider }))
    }

    /// The layer exporting the spans (and their events) of our crates, whatever the log filter.
    pub fn layer<S>(&self) -> impl Layer<S> + Send + Sync + 'static
    where
        S: tracing::Subscriber
            + for<'span> tracing_subscriber::registry::LookupSpan<'span>
            + Send
            + Sync,
    {
        ENABLED.store(true, Ordering::Relaxed);
        gigachat::record_spans(propagate);
        let ours = Targets::new()
            .with_target("gigachat", LevelFilter::DEBUG)
            .with_target("gigachat_emulator", LevelFilter::OFF);
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer(SERVICE_NAME))
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_filter(ours)
    }

    /// Sends the spans still queued (waiting for the exporter) and stops the export.
    pub fn shutdown(self) {
        if let Err(err) = self.provider.shutdown() {
            tracing::warn!(%err, "could not send the last spans");
        }
    }
}

/// Whether the variables `var` reads ask for a trace export; an error for a protocol we do not
/// speak (only `http/protobuf`).
fn wanted(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<bool> {
    let set = |name: &str| {
        var(name)
            .map(|value| value.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    if set("OTEL_SDK_DISABLED").is_some_and(|value| value.eq_ignore_ascii_case("true"))
        || set("OTEL_TRACES_EXPORTER").is_some_and(|value| value.eq_ignore_ascii_case("none"))
    {
        return Ok(false);
    }
    if set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT"))
        .is_none()
    {
        return Ok(false);
    }
    let protocol =
        set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| set("OTEL_EXPORTER_OTLP_PROTOCOL"));
    match protocol.as_deref() {
        None | Some("http/protobuf") => Ok(true),
        Some(other) => anyhow::bail!(
            "OTEL_EXPORTER_OTLP_PROTOCOL={other} is not supported: traces are sent as \
             http/protobuf (unset it, or set it to http/protobuf)"
        ),
    }
}

/// The span of one request with traces on: `request` with its id, as ever, and an OpenTelemetry
/// server span named `METHOD route` with HTTP attributes, in the client's trace when its
/// `traceparent` names one.
pub fn request_span(
    id: &str,
    method: &Method,
    route: &'static str,
    headers: &HeaderMap,
) -> tracing::Span {
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %method,
        http.route = route,
        http.response.status_code = Empty,
        error.type = Empty,
        gen_ai.request.model = Empty,
        gen_ai.response.model = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
    );
    let parent =
        TraceContextPropagator::new().extract(&opentelemetry_http::HeaderExtractor(headers));
    if parent.span().span_context().is_valid() {
        // Only fails when the span was already started, which a span made here is not.
        let _ = span.set_parent(parent);
    }
    span
}

/// How a request ended, for its span (see [`record_outcome`]).
pub struct Outcome<'a> {
    /// The response status (none: the client left before the answer).
    pub status: Option<u16>,
    /// The error label the request ended with.
    pub error: Option<&'static str>,
    /// The model asked for.
    pub model: Option<&'a str>,
    /// The model that answered.
    pub model_served: Option<&'a str>,
    /// The answer's token usage.
    pub tokens: Option<Tokens>,
}

/// Records how the request of `span` (made by [`request_span`]) ended; a 5xx marks it failed.
/// Numbers go in as `i64`: the exporter writes unsigned ones as text.
pub fn record_outcome(span: &tracing::Span, outcome: &Outcome<'_>) {
    if let Some(status) = outcome.status {
        span.record("http.response.status_code", i64::from(status));
    }
    if let Some(error) = outcome.error {
        span.record("error.type", error);
    }
    if outcome.status.is_some_and(|status| status >= 500) {
        span.record("otel.status_code", "error");
    }
    if let Some(model) = outcome.model {
        span.record("gen_ai.request.model", model);
    }
    if let Some(model) = outcome.model_served {
        span.record("gen_ai.response.model", model);
    }
    if let Some(tokens) = outcome.tokens {
        span.record("gen_ai.usage.input_tokens", i64::from(tokens.prompt));
        span.record("gen_ai.usage.output_tokens", i64::from(tokens.completion));
    }
    // The exported span ends when it was last exited: now, not when the handler returned (a
    // stream's body, and any body, goes out after that).
    span.in_scope(|| {});
}

/// Writes the current span's context (a GigaChat call's) into its request's headers: the hook
/// [`gigachat::record_spans`] calls for every GigaChat request while traces are exported.
fn propagate(headers: &mut HeaderMap) {
    TraceContextPropagator::new().inject_context(
        &tracing::Span::current().context(),
        &mut opentelemetry_http::HeaderInjector(headers),
    );
}

/// The `traceparent` and `tracestate` to send GigaChat from the client's request: its own, when
/// well-formed, while traces are not exported; none while they are (then each call sends its own
/// span, see [`propagate`]).
pub fn upstream(headers: &HeaderMap) -> (Option<String>, Option<String>) {
    if enabled() {
        return (None, None);
    }
    match header(headers, "traceparent").filter(|value| is_traceparent(value)) {
        Some(parent) => (
            Some(parent.to_owned()),
            header(headers, "tracestate")
                .filter(|state| state.len() <= MAX_TRACESTATE)
                .map(str::to_owned),
        ),
        None => (None, None),
    }
}

/// Whether `value` is a W3C `traceparent` a receiver can use: `version-traceid-parentid-flags` in
/// lower-case hex (2-32-16-2 digits), ids not all zero, version not `ff`; a later version may
/// append `-…` fields after the flags.
pub fn is_traceparent(value: &str) -> bool {
    let bytes = value.as_bytes();
    let hex = |range: std::ops::Range<usize>| {
        bytes.get(range).is_some_and(|part| {
            part.iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        })
    };
    let zero = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|part| part.iter().all(|b| *b == b'0'))
    };
    let dashes = [2, 35, 52].iter().all(|at| bytes.get(*at) == Some(&b'-'));
    let version = bytes.get(0..2);
    let version_ok = hex(0..2) && version != Some(b"ff".as_slice());
    let length_ok = if version == Some(b"00".as_slice()) {
        bytes.len() == 55
    } else {
        bytes.len() == 55 || bytes.get(55) == Some(&b'-')
    };
    dashes
        && version_ok
        && length_ok
        && hex(3..35)
        && hex(36..52)
        && hex(53..55)
        && !zero(3..35)
        && !zero(36..52)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const VALID: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn traceparent_checks_the_w3c_shape() {
        assert!(is_traceparent(VALID));
        assert!(is_traceparent(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
        ));
        // A later version may carry more fields after the flags.
        assert!(is_traceparent(
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra"
        ));
        for bad in [
            "",
            "00",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",
            "00_0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331_01",
            "00-0af7651916cd43dd8448eb211c80319x-b7ad6b7169203331-01",
            "0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            assert!(!is_traceparent(bad), "{bad:?}");
        }
    }

    #[test]
    fn without_export_the_clients_context_passes_through() {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", VALID.parse().unwrap());
        headers.insert("tracestate", "congo=t61rcWkgMzE".parse().unwrap());
        assert_eq!(
            upstream(&headers),
            (Some(VALID.to_owned()), Some("congo=t61rcWkgMzE".to_owned()))
        );
        // A malformed one is not passed on, nor its state; an oversized state is dropped.
        headers.insert("traceparent", "00-zz-zz-01".parse().unwrap());
        assert_eq!(upstream(&headers), (None, None));
        headers.insert("traceparent", VALID.parse().unwrap());
        headers.insert("tracestate", "a=b,".repeat(200).parse().unwrap());
        assert_eq!(upstream(&headers), (Some(VALID.to_owned()), None));
        assert_eq!(upstream(&HeaderMap::new()), (None, None));
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn the_standard_variables_turn_the_export_on_and_off() {
        assert!(!wanted(env(&[])).unwrap());
        assert!(!wanted(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")])).unwrap());
        assert!(
            wanted(env(&[(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://collector:4318"
            )]))
            .unwrap()
        );
        assert!(
            wanted(env(&[(
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://collector:4318/v1/traces"
            )]))
            .unwrap()
        );
        let on = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
        assert!(!wanted(env(&[on, ("OTEL_SDK_DISABLED", "TRUE")])).unwrap());
        assert!(wanted(env(&[on, ("OTEL_SDK_DISABLED", "false")])).unwrap());
        assert!(!wanted(env(&[on, ("OTEL_TRACES_EXPORTER", "none")])).unwrap());
        assert!(wanted(env(&[on, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")])).unwrap());
        let err = wanted(env(&[on, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")])).unwrap_err();
        assert!(err.to_string().contains("http/protobuf"), "{err}");
        // The traces-only setting wins over the general one.
        assert!(
            wanted(env(&[
                on,
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ]))
            .unwrap()
        );
    }
}
