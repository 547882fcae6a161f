//! Fidelity against the recordings in `shared/gigachat-fixtures/cassettes`: replay mode serves them
//! byte-exact in wire form, and emulated answers have the same status, JSON keys, key order, value
//! types and headers as the recorded ones.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use gigachat_emulator::{EmulatorConfig, ResponseHeaders};
use serde::Deserialize;
use serde_json::Value;

use crate::common::{self, Env};

fn cassette_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/gigachat-fixtures/cassettes")
}

#[derive(Deserialize)]
struct Cassette {
    interactions: Vec<Interaction>,
}

#[derive(Deserialize)]
struct Interaction {
    request: Req,
    response: Resp,
}

#[derive(Deserialize)]
struct Req {
    method: String,
    uri: String,
    body: Option<serde_norway::Value>,
}

#[derive(Deserialize)]
struct Resp {
    status: Status,
    headers: BTreeMap<String, Vec<String>>,
    body: Body,
}

#[derive(Deserialize)]
struct Status {
    code: u16,
}

#[derive(Deserialize)]
struct Body {
    string: String,
}

struct Recorded {
    file: String,
    method: String,
    path: String,
    body: String,
    status: u16,
    headers: BTreeMap<String, String>,
    response: String,
}

/// Every recorded API interaction (token calls left out), or nothing when the fixtures are absent.
fn recordings() -> Vec<Recorded> {
    let Ok(entries) = std::fs::read_dir(cassette_dir()) else {
        eprintln!("fixtures not found; skipping");
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let cassette: Cassette =
            serde_norway::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for interaction in cassette.interactions {
            let uri = interaction.request.uri;
            let path = uri.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap();
            if path.ends_with("/oauth") || path.ends_with("/token") {
                continue;
            }
            let body = match interaction.request.body {
                Some(serde_norway::Value::String(text)) => text,
                _ => String::new(),
            };
            out.push(Recorded {
                file: file.file_name().unwrap().to_string_lossy().into_owned(),
                method: interaction.request.method,
                path,
                body,
                status: interaction.response.status.code,
                headers: interaction
                    .response
                    .headers
                    .into_iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.join(", ")))
                    .collect(),
                response: interaction.response.body.string,
            });
        }
    }
    out
}

/// Sends the recorded request to `path` (the recorded one, in the older host's `/api/v1` layout
/// the scrubber rewrote every URL to, or the same endpoint in api.giga.chat's layout).
async fn send(env: &Env, recorded: &Recorded, path: &str) -> reqwest::Response {
    let url = env.emu.api_origin() + path;
    let mut request = env
        .http
        .request(recorded.method.parse().unwrap(), url)
        .bearer_auth(&env.token);
    if !recorded.body.is_empty() {
        request = request
            .header("Content-Type", "application/json")
            .body(recorded.body.clone());
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn replay_serves_every_recording_in_wire_form() {
    let recordings = recordings();
    if recordings.is_empty() {
        return;
    }
    let env = Env::with(EmulatorConfig {
        replay_dir: Some(cassette_dir()),
        ..EmulatorConfig::default()
    })
    .await;
    let mut checked_lengths = 0;
    let mut seen = Vec::new();
    for recorded in &recordings {
        // Sync and async twins send the same request; replay answers with the first recording.
        let body: Value = serde_json::from_str(&recorded.body).unwrap_or(Value::Null);
        let key = (
            recorded.method.clone(),
            recorded.path.clone(),
            serde_json::to_string(&body).unwrap(),
        );
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let response = send(&env, recorded, &recorded.path).await;
        let what = format!("{} {}", recorded.file, recorded.path);
        assert_eq!(response.status(), recorded.status, "{what}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            Some(&content_type),
            recorded.headers.get("content-type"),
            "{what}"
        );
        let text = response.text().await.unwrap();
        if content_type.starts_with("text/event-stream") {
            assert_eq!(text, recorded.response, "SSE verbatim: {what}");
            continue;
        }
        let ours: Value = serde_json::from_str(&text).unwrap();
        let theirs: Value = serde_json::from_str(&recorded.response).unwrap();
        assert_eq!(
            serde_json::to_string(&ours).unwrap(),
            serde_json::to_string(&theirs).unwrap(),
            "{what}"
        );
        assert_eq!(
            text.trim_end_matches('\n'),
            serde_json::to_string(&ours).unwrap(),
            "compact: {what}"
        );
        // The recorded Content-Length proves the compact wire form (and errors' trailing newline).
        if let Some(length) = recorded.headers.get("content-length") {
            assert_eq!(text.len().to_string(), *length, "{what}");
            checked_lengths += 1;
        }
    }
    assert!(checked_lengths >= 10, "checked {checked_lengths} lengths");
}

/// A JSON value with every leaf replaced by its type and arrays by their first element, serialised
/// so that key order counts.
fn shape(value: &Value) -> String {
    fn walk(value: &Value) -> Value {
        match value {
            Value::Null => Value::from("null"),
            Value::Bool(_) => Value::from("bool"),
            Value::Number(_) => Value::from("number"),
            Value::String(_) => Value::from("string"),
            Value::Array(items) => Value::Array(items.first().map(walk).into_iter().collect()),
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), walk(v))).collect())
            }
        }
    }
    serde_json::to_string(&walk(value)).unwrap()
}

/// The last event whose data is JSON (not `[DONE]`).
fn last_json<'a>(events: &[(Option<&'a str>, &'a str)]) -> (Option<&'a str>, &'a str) {
    events
        .iter()
        .rev()
        .find(|(_, data)| *data != "[DONE]")
        .copied()
        .unwrap()
}

/// The SSE events of a body: `(event name, data)` pairs.
fn sse_events(body: &str) -> Vec<(Option<&str>, &str)> {
    body.split("\n\n")
        .filter(|event| !event.is_empty())
        .map(|event| {
            let name = event.lines().find_map(|line| line.strip_prefix("event: "));
            let data = event
                .lines()
                .find_map(|line| line.strip_prefix("data: "))
                .unwrap();
            (name, data)
        })
        .collect()
}

/// Headers that depend on the body's framing, the clock or the recorder's scrubbing, not on the gateway.
const TRANSPORT_HEADERS: &[&str] = &["date", "content-length", "transfer-encoding", "set-cookie"];

/// Headers whose values are per request.
const PER_REQUEST_HEADERS: &[&str] = &["x-request-id", "x-session-id", "x-sp-crid"];

/// An emulator imitating `profile`'s headers, with an HTTP/1.1 client (HTTP/2 has no connection headers).
async fn http1_env(profile: ResponseHeaders) -> Env {
    http1_env_with(EmulatorConfig {
        response_headers: profile,
        ..EmulatorConfig::default()
    })
    .await
}

/// An emulator with `config`, with an HTTP/1.1 client.
async fn http1_env_with(config: EmulatorConfig) -> Env {
    let mut env = Env::with(config).await;
    env.http = common::client(&env.emu, reqwest::Client::builder().http1_only());
    env
}

/// Our headers equal the recorded ones: the same names (transport headers aside) and, except for
/// per-request ids, the same values.
fn assert_same_headers(ours: &reqwest::header::HeaderMap, recorded: &Recorded, what: &str) {
    let names = |names: Vec<String>| -> BTreeSet<String> {
        names
            .into_iter()
            .filter(|n| !TRANSPORT_HEADERS.contains(&n.as_str()))
            .collect()
    };
    let our_names = names(ours.keys().map(|k| k.as_str().to_owned()).collect());
    let their_names = names(recorded.headers.keys().cloned().collect());
    assert_eq!(our_names, their_names, "header set: {what}");
    for name in &their_names {
        if PER_REQUEST_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let value = ours
            .get_all(name.as_str())
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect::<Vec<_>>()
            .join(", ");
        assert_eq!(value, recorded.headers[name], "{what}: {name}");
    }
}

#[tokio::test]
async fn emulated_answers_have_the_recorded_shapes() {
    // Every recording, the v2 built-in tool calls (web search, code interpreter, URL extraction,
    // image generation) included.
    let recordings = recordings();
    if recordings.is_empty() {
        return;
    }
    // January 2026 production answered through SynGX, the later recordings through nginx; the
    // June 2026 IFT stand sent function calls without ids.
    let syngx = http1_env(ResponseHeaders::SynGx).await;
    let nginx = http1_env_with(EmulatorConfig {
        response_headers: ResponseHeaders::Nginx,
        function_call_ids: false,
        ..EmulatorConfig::default()
    })
    .await;
    let mut builtin_calls = 0;
    let mut fronts = BTreeSet::new();
    for recorded in &recordings {
        let server = recorded.headers["server"].as_str();
        fronts.insert(server.to_owned());
        let env = match server {
            "SynGX" => &syngx,
            "nginx" => &nginx,
            other => panic!("unknown front {other}"),
        };
        // SynGX fronted the older host in January 2026; the nginx-fronted recordings (GigaChat-3,
        // v2) came from the newer deployments, so they go to api.giga.chat's layout.
        let path = match server {
            "nginx" => recorded.path.strip_prefix("/api").unwrap_or(&recorded.path),
            _ => &recorded.path,
        };
        let response = send(env, recorded, path).await;
        let what = format!("{} {}", recorded.file, recorded.path);
        if recorded.file.contains("builtin_tools") {
            builtin_calls += 1;
        }
        assert_eq!(response.status(), recorded.status, "{what}");
        assert_eq!(response.version(), reqwest::Version::HTTP_11, "{what}");
        let headers = response.headers().clone();
        assert_eq!(
            headers["content-type"].to_str().unwrap(),
            recorded.headers["content-type"],
            "{what}"
        );
        for name in ["x-request-id", "x-session-id"] {
            assert!(recorded.headers.contains_key(name), "{what}");
            assert!(headers.contains_key(name), "{what}: {name}");
        }
        assert_same_headers(&headers, recorded, &what);
        let text = response.text().await.unwrap();
        if recorded.headers["content-type"].starts_with("text/event-stream") {
            let ours = sse_events(&text);
            let theirs = sse_events(&recorded.response);
            let json = |data: &str| -> Value { serde_json::from_str(data).unwrap() };
            // The first delta, the last JSON event (finish_reason + usage), the terminator.
            assert_eq!(ours[0].0, theirs[0].0, "{what}");
            assert_eq!(shape(&json(ours[0].1)), shape(&json(theirs[0].1)), "{what}");
            // v2 (named events): every delta has the recorded delta's name and shape.
            if theirs[0].0.is_some() {
                for (name, data) in &ours[..ours.len() - 1] {
                    assert_eq!(*name, theirs[0].0, "{what}");
                    assert_eq!(shape(&json(data)), shape(&json(theirs[0].1)), "{what}");
                }
            }
            let (our_name, our_data) = last_json(&ours);
            let (their_name, their_data) = last_json(&theirs);
            assert_eq!(our_name, their_name, "{what}");
            assert_eq!(shape(&json(our_data)), shape(&json(their_data)), "{what}");
            assert_eq!(
                ours.last().unwrap().1 == "[DONE]",
                theirs.last().unwrap().1 == "[DONE]",
                "{what}"
            );
            continue;
        }
        let ours: Value = serde_json::from_str(&text).unwrap();
        let theirs: Value = serde_json::from_str(&recorded.response).unwrap();
        assert_eq!(shape(&ours), shape(&theirs), "{what}");
        // Deterministic endpoints answer exactly what was recorded.
        let exact = recorded.path.contains("/models") || recorded.path.ends_with("/tokens/count");
        if exact {
            assert_eq!(
                serde_json::to_string(&ours).unwrap(),
                serde_json::to_string(&theirs).unwrap(),
                "{what}"
            );
        }
        if recorded.status >= 400 {
            assert_eq!(ours, theirs, "{what}");
            assert!(text.ends_with('\n'));
        }
    }
    assert_eq!(fronts.len(), 2, "both fronts are covered: {fronts:?}");
    assert_eq!(
        builtin_calls, 4,
        "the four built-in tool calls are compared"
    );
}

#[tokio::test]
async fn keep_alive_is_an_http1_header_only() {
    let env = Env::with(EmulatorConfig {
        response_headers: ResponseHeaders::Nginx,
        ..EmulatorConfig::default()
    })
    .await;
    let h2 = env.get("/models").await;
    assert_eq!(h2.version(), reqwest::Version::HTTP_2);
    assert_eq!(h2.headers()["server"], "nginx");
    assert!(h2.headers().get("keep-alive").is_none());
    assert!(h2.headers().get("connection").is_none());

    let http1 = common::client(&env.emu, reqwest::Client::builder().http1_only());
    let h1 = http1
        .get(env.url("/models"))
        .bearer_auth(&env.token)
        .send()
        .await
        .unwrap();
    assert_eq!(h1.headers()["keep-alive"], "timeout=15");
    assert_eq!(h1.headers()["connection"], "keep-alive");
    let crid = h1.headers()["x-sp-crid"].to_str().unwrap().to_owned();
    assert!(crid.ends_with(":1"), "{crid}");

    // The OAuth host of the same era.
    let oauth = common::oauth(&env.emu, &http1, "scope=GIGACHAT_API_PERS").await;
    assert_eq!(oauth.headers()["server"], "nginx");
    assert_eq!(oauth.headers()["keep-alive"], "timeout=15");
    assert_eq!(
        oauth.headers()["content-type"],
        "application/json; charset=utf-8"
    );
}

#[tokio::test]
async fn header_profiles_syngx_default_and_minimal() {
    let env = Env::start().await;
    let http1 = common::client(&env.emu, reqwest::Client::builder().http1_only());
    let oauth = common::oauth(&env.emu, &http1, "scope=GIGACHAT_API_PERS").await;
    assert_eq!(oauth.headers()["server"], "SynGX");
    assert!(oauth.headers().get("keep-alive").is_none());
    let frame_options: Vec<_> = oauth.headers().get_all("x-frame-options").iter().collect();
    assert_eq!(frame_options, ["DENY", "SAMEORIGIN"]);
    let error = env.get("/models/NonExistentModel").await;
    assert_eq!(error.headers()["server"], "SynGX");
    assert!(error.headers().get("x-frame-options").is_none());

    let minimal = Env::with(EmulatorConfig {
        response_headers: ResponseHeaders::Minimal,
        ..EmulatorConfig::default()
    })
    .await;
    let response = minimal.get("/models").await;
    let mut names: Vec<&str> = response.headers().keys().map(|k| k.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "content-length",
            "content-type",
            "date",
            "x-request-id",
            "x-session-id"
        ]
    );
}
