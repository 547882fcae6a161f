//! Replay mode: requests that match a recorded interaction of a VCR cassette (same method, path and
//! JSON-equal body) get the recorded status, content type and body: JSON re-compacted to the wire
//! form (errors with their trailing newline), SSE verbatim and event by event.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use crate::api::{legacy_layout_rest, stream};
use crate::error::EmulatorError;
use crate::log::StreamTally;
use crate::state::AppState;
use crate::wire;

#[derive(Deserialize)]
struct Cassette {
    interactions: Vec<Interaction>,
}

#[derive(Deserialize)]
struct Interaction {
    request: RecordedRequest,
    response: RecordedResponse,
}

#[derive(Deserialize)]
struct RecordedRequest {
    method: String,
    uri: String,
    #[serde(default)]
    body: Option<serde_norway::Value>,
}

#[derive(Deserialize)]
struct RecordedResponse {
    status: RecordedStatus,
    #[serde(default)]
    headers: BTreeMap<String, Vec<String>>,
    body: RecordedBody,
}

#[derive(Deserialize)]
struct RecordedStatus {
    code: u16,
}

#[derive(Deserialize)]
struct RecordedBody {
    string: String,
}

/// One servable recording.
#[derive(Debug)]
struct Recording {
    method: String,
    path: String,
    body: Value,
    status: StatusCode,
    content_type: String,
    payload: Payload,
}

/// A recorded body in its wire form.
#[derive(Debug)]
enum Payload {
    /// A whole body.
    Whole(Bytes),
    /// SSE events, to be written one by one.
    Events(Vec<Bytes>),
}

/// Recorded interactions, in load order (first match wins).
#[derive(Debug, Default)]
pub(crate) struct Cassettes {
    recordings: Vec<Recording>,
}

/// A request body as a comparable JSON value (`Null` when empty, a string when not JSON).
fn normalized_body(body: &[u8]) -> Value {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// The path and query of an absolute URI.
fn uri_path(uri: &str) -> &str {
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    rest.find('/').map_or("/", |index| &rest[index..])
}

/// A request path without the older host's `/api` prefix, so a recording made on either host
/// matches requests in either layout (`/api/v1/models` and `/v1/models` are one endpoint).
fn layout_free(path: &str) -> &str {
    legacy_layout_rest(path).unwrap_or(path)
}

/// Splits an SSE body after each blank line, keeping every byte.
fn split_events(body: &str) -> Vec<Bytes> {
    let mut events = Vec::new();
    let mut rest = body;
    while let Some(end) = rest.find("\n\n") {
        events.push(Bytes::copy_from_slice(&rest.as_bytes()[..end + 2]));
        rest = &rest[end + 2..];
    }
    if !rest.is_empty() {
        events.push(Bytes::copy_from_slice(rest.as_bytes()));
    }
    events
}

impl Recording {
    fn from_interaction(interaction: Interaction) -> Option<Self> {
        let path = layout_free(uri_path(&interaction.request.uri)).to_owned();
        // Token calls are answered by the emulator's own auth, never replayed.
        if !path.starts_with("/v") || path.ends_with("/oauth") || path.ends_with("/token") {
            return None;
        }
        let request_body = match &interaction.request.body {
            Some(serde_norway::Value::String(text)) => normalized_body(text.as_bytes()),
            _ => Value::Null,
        };
        let response = interaction.response;
        let status = StatusCode::from_u16(response.status.code).ok()?;
        let content_type = response
            .headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .and_then(|(_, values)| values.first().cloned())
            .unwrap_or_else(|| wire::JSON_UTF8.to_owned());
        let text = response.body.string;
        let payload = if content_type.starts_with("text/event-stream") {
            Payload::Events(split_events(&text))
        } else if content_type.contains("json") {
            // The scrubber re-serialised JSON with Python spacing and \u escapes: compact it back.
            let mut bytes = match serde_json::from_str::<Value>(&text) {
                Ok(value) => {
                    serde_json::to_vec(&value).unwrap_or_else(|_| text.clone().into_bytes())
                }
                Err(_) => text.into_bytes(),
            };
            if status.is_client_error() || status.is_server_error() {
                bytes.push(b'\n');
            }
            Payload::Whole(Bytes::from(bytes))
        } else {
            Payload::Whole(Bytes::from(text))
        };
        Some(Self {
            method: interaction.request.method.to_ascii_uppercase(),
            path,
            body: request_body,
            status,
            content_type,
            payload,
        })
    }
}

impl Cassettes {
    /// Loads every `*.yaml`/`*.yml` cassette of `dir`, in file-name order (nothing when `None`).
    pub(crate) fn load(dir: Option<&Path>) -> Result<Self, EmulatorError> {
        let Some(dir) = dir else {
            return Ok(Self::default());
        };
        let fail = |what: String| EmulatorError::Replay(what);
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| fail(format!("{}: {e}", dir.display())))?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| {
                path.extension()
                    .is_some_and(|ext| ext == "yaml" || ext == "yml")
            })
            .collect();
        paths.sort();
        let mut recordings = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| fail(format!("{}: {e}", path.display())))?;
            let cassette: Cassette = serde_norway::from_str(&text)
                .map_err(|e| fail(format!("{}: {e}", path.display())))?;
            recordings.extend(
                cassette
                    .interactions
                    .into_iter()
                    .filter_map(Recording::from_interaction),
            );
        }
        Ok(Self { recordings })
    }

    fn find(&self, method: &str, path: &str, body: &Value) -> Option<&Recording> {
        self.recordings
            .iter()
            .find(|r| r.method == method && r.path == path && r.body == *body)
    }
}

/// Middleware: answers from a cassette when one matches, else lets the emulator answer.
pub(crate) async fn serve(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.cassettes.recordings.is_empty() {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    // The log middleware has already buffered the body, so this cannot hit the limit.
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let path = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |pq| pq.as_str());
    let Some(recording) = state.cassettes.find(
        parts.method.as_str(),
        layout_free(path),
        &normalized_body(&bytes),
    ) else {
        return next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
    };
    match &recording.payload {
        Payload::Whole(bytes) => {
            wire::raw(recording.status, &recording.content_type, bytes.clone())
        }
        Payload::Events(events) => {
            let config = &state.config;
            let timed = events
                .iter()
                .enumerate()
                .map(|(index, event)| {
                    let delay = match index {
                        0 => config.first_event_delay,
                        _ if event.starts_with(b"data: [DONE]") => Duration::ZERO,
                        _ => config.event_gap,
                    };
                    (delay, event.clone())
                })
                .collect();
            let tally = parts.extensions.get::<Arc<StreamTally>>().cloned();
            stream::write(&state, timed, tally, parts.uri.path())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_paths() {
        assert_eq!(
            uri_path("https://h.example:9443/api/v2/oauth"),
            "/api/v2/oauth"
        );
        assert_eq!(
            uri_path("https://h.example/api/v1/models?x=1"),
            "/api/v1/models?x=1"
        );
    }

    #[test]
    fn both_layouts_match_one_recording() {
        assert_eq!(layout_free("/api/v1/models?x=1"), "/v1/models?x=1");
        assert_eq!(layout_free("/v1/models"), "/v1/models");
        assert_eq!(
            layout_free("/api/v2/chat/completions"),
            "/v2/chat/completions"
        );
        assert_eq!(layout_free("/apiary"), "/apiary");
    }

    #[test]
    fn events_keep_every_byte() {
        let body = "data: {}\n\ndata: [DONE]\n\n";
        let events = split_events(body);
        assert_eq!(events.len(), 2);
        assert_eq!(events.concat(), body.as_bytes());
    }
}
