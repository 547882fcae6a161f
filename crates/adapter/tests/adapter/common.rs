//! The harness: emulator + adapter, and helpers to call and inspect them.

use std::time::Duration;

use clap::Parser;
use gigachat::Contract;
use gigachat_adapter::config::Cli;
use gigachat_emulator::{Emulator, EmulatorConfig, Listener, LoggedRequest};
use secrecy::SecretString;
use serde_json::Value;

pub const KEY: &str = "test-key";

pub struct Harness {
    /// The chat contract the adapter speaks to the emulator (`GIGACHAT_API_VERSION`).
    pub contract: Contract,
    pub emulator: Emulator,
    pub base: String,
    pub http: reqwest::Client,
    pub _dir: tempfile::TempDir,
    pub server: tokio::task::JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub struct Options {
    /// The adapter's chat contract, set before `settings` runs.
    pub contract: Contract,
    pub emulator: EmulatorConfig,
    pub args: Vec<String>,
    pub settings: Box<dyn FnOnce(&mut gigachat::Settings)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            contract: Contract::V1,
            emulator: EmulatorConfig::default(),
            args: Vec::new(),
            settings: Box::new(|_| {}),
        }
    }
}

pub async fn start() -> Harness {
    start_with(Options::default()).await
}

pub async fn start_with(options: Options) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let emulator = Emulator::start(options.emulator).await.unwrap();
    if let Some(pem) = emulator.ca_pem() {
        std::fs::write(dir.path().join("ca.pem"), pem).unwrap();
    }
    let contract = options.contract;
    let change = options.settings;
    let settings = Box::new(move |settings: &mut gigachat::Settings| {
        settings.api_version = contract;
        change(settings);
    });
    let (base, server) = spawn_adapter(&emulator, dir.path(), options.args, settings, KEY).await;
    Harness {
        contract,
        emulator,
        base,
        http: reqwest::Client::new(),
        _dir: dir,
        server,
    }
}

/// Serves an adapter in front of `emulator`, keeping its state (CA, file-id store) in `dir`.
pub async fn spawn_adapter(
    emulator: &Emulator,
    dir: &std::path::Path,
    args: Vec<String>,
    change: Box<dyn FnOnce(&mut gigachat::Settings)>,
    key: &str,
) -> (String, tokio::task::JoinHandle<()>) {
    let mut settings = gigachat::Settings {
        base_url: emulator.api_base_url(),
        auth_url: emulator.auth_url(),
        credentials: Some(SecretString::from(emulator.credentials_header())),
        ca_bundle_file: emulator.ca_pem().map(|_| dir.join("ca.pem")),
        timeout: Duration::from_secs(10),
        stream_idle_timeout: Duration::from_secs(10),
        ..gigachat::Settings::default()
    };
    change(&mut settings);
    let mut argv = vec![
        "gigachat-adapter".to_owned(),
        "--data-dir".to_owned(),
        dir.join("data").display().to_string(),
    ];
    argv.extend(args);
    let config = Cli::parse_from(argv).config;
    let keys = vec![SecretString::from(key.to_owned())];
    let router = gigachat_adapter::build_router(&config, settings, keys)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let limits = config.connection_limits();
    let server = tokio::spawn(async move {
        let _ = gigachat_adapter::server::serve(router, listener, limits).await;
    });
    (base, server)
}

impl Harness {
    pub fn post(&self, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .json(&body)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(KEY)
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .delete(format!("{}{path}", self.base))
            .bearer_auth(KEY)
    }

    /// POSTs a chat request and returns (status, headers, JSON body).
    pub async fn chat(&self, body: Value) -> (u16, reqwest::header::HeaderMap, Value) {
        let response = self
            .post("/v1/chat/completions", body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let json = response.json().await.unwrap();
        (status, headers, json)
    }

    /// Streams a chat request and returns the raw SSE `data:` payloads, `[DONE]` included.
    pub async fn stream(&self, body: Value) -> (u16, Vec<String>) {
        let response = self
            .post("/v1/chat/completions", body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let events = text
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| e.strip_prefix("data: ").unwrap_or(e).to_owned())
            .collect();
        (status, events)
    }

    pub fn upstream(&self, suffix: &str) -> Vec<LoggedRequest> {
        self.emulator
            .requests()
            .into_iter()
            .filter(|r| r.listener == Listener::Api && r.path.ends_with(suffix))
            .collect()
    }

    /// The chat bodies sent upstream, in v1's shape: on v2 each went to `/v2/chat/completions`
    /// and is read back through [`as_v1`], so one expectation checks what both wires carry.
    pub fn upstream_chat_bodies(&self) -> Vec<Value> {
        self.upstream("/chat/completions")
            .iter()
            .map(|r| {
                let body = serde_json::from_slice(&r.body).unwrap();
                match self.contract {
                    Contract::V1 => {
                        assert!(!r.path.contains("/v2/"), "{}", r.path);
                        body
                    }
                    Contract::V2 => {
                        assert!(r.path.ends_with("/v2/chat/completions"), "{}", r.path);
                        as_v1(&body)
                    }
                }
            })
            .collect()
    }
}

/// A v2 chat body with its fields where v1 has them: `model_options` at the top level
/// (`reasoning` as `reasoning_effort`/`reasoning_max_tokens`), `disable_filter` as
/// `profanity_check`, `tools` as `functions`, `tool_config` as `function_call`, and messages with
/// text `content`, `attachments`, one `function_call` (the rest in `parallel_calls`),
/// `functions_state_id`, and `role: tool` results as `role: function` with `name` and the
/// result's JSON text.
pub fn as_v1(body: &Value) -> Value {
    let mut v1 = serde_json::Map::new();
    for (key, value) in body.as_object().unwrap() {
        match key.as_str() {
            "model_options" => {
                for (option, value) in value.as_object().unwrap() {
                    if option == "reasoning" {
                        if let Some(effort) = value.get("effort") {
                            v1.insert("reasoning_effort".into(), effort.clone());
                        }
                        if let Some(budget) = value.get("max_tokens") {
                            v1.insert("reasoning_max_tokens".into(), budget.clone());
                        }
                    } else {
                        v1.insert(option.clone(), value.clone());
                    }
                }
            }
            "disable_filter" => {
                v1.insert(
                    "profanity_check".into(),
                    Value::Bool(!value.as_bool().unwrap()),
                );
            }
            "tools" => {
                let functions: Vec<Value> = value
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|tool| tool["functions"]["specifications"].as_array())
                    .flatten()
                    .cloned()
                    .collect();
                if !functions.is_empty() {
                    v1.insert("functions".into(), Value::Array(functions));
                }
            }
            "tool_config" => {
                let mode = match (value["mode"].as_str().unwrap(), &value["function_name"]) {
                    ("forced", Value::String(name)) => serde_json::json!({"name": name}),
                    (mode, _) => Value::String(mode.to_owned()),
                };
                v1.insert("function_call".into(), mode);
            }
            "messages" => {
                let messages = value.as_array().unwrap().iter().map(message_as_v1);
                v1.insert("messages".into(), messages.collect());
            }
            _ => {
                v1.insert(key.clone(), value.clone());
            }
        }
    }
    Value::Object(v1)
}

fn message_as_v1(message: &Value) -> Value {
    let mut v1 = serde_json::Map::new();
    let role = match message["role"].as_str().unwrap() {
        "tool" => "function",
        other => other,
    };
    v1.insert("role".into(), role.into());
    let mut text = String::new();
    let mut attachments = Vec::new();
    let mut calls = Vec::new();
    for part in message["content"].as_array().unwrap() {
        text.push_str(part["text"].as_str().unwrap_or(""));
        for file in part["files"].as_array().into_iter().flatten() {
            attachments.push(file["id"].clone());
        }
        if part["function_call"].is_object() {
            calls.push(part["function_call"].clone());
        }
        if let Some(result) = part.get("function_result") {
            v1.insert("name".into(), result["name"].clone());
            text = result["result"].to_string();
        }
    }
    v1.insert("content".into(), text.into());
    if !attachments.is_empty() {
        v1.insert("attachments".into(), attachments.into());
    }
    let mut calls = calls.into_iter();
    if let Some(call) = calls.next() {
        v1.insert("function_call".into(), call);
    }
    let parallel: Vec<Value> = calls.collect();
    if !parallel.is_empty() {
        v1.insert("parallel_calls".into(), parallel.into());
    }
    if let Some(state) = message.get("tools_state_id") {
        v1.insert("functions_state_id".into(), state.clone());
    }
    Value::Object(v1)
}

pub fn user(text: &str) -> Value {
    serde_json::json!({"messages": [{"role": "user", "content": text}]})
}

/// The ids of a list's `data` (`{"object": "list", "data": [...]}`), in order.
pub fn listed_ids(list: &Value) -> Vec<&str> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect()
}

/// Asserts the body is the OpenAI error envelope with this status and code, and returns its message.
pub fn assert_error(status: u16, body: &Value, expected_status: u16, code: Option<&str>) -> String {
    assert_eq!(status, expected_status, "{body}");
    let error = &body["error"];
    assert!(error["message"].is_string(), "{body}");
    assert!(error["type"].is_string(), "{body}");
    assert!(
        error.get("param").is_some() && error.get("code").is_some(),
        "{body}"
    );
    if let Some(code) = code {
        assert_eq!(error["code"], code, "{body}");
    }
    let message = error["message"].as_str().unwrap().to_owned();
    assert!(
        !message.contains("https://") && !message.contains("<html"),
        "leak: {message}"
    );
    message
}
