//! Shared helpers: start an emulator, a client trusting its CA, a token.

use gigachat_emulator::{Credential, Emulator, EmulatorConfig};
use serde_json::Value;

/// A started emulator with a trusting client and a valid token.
pub struct Env {
    pub emu: Emulator,
    pub http: reqwest::Client,
    pub token: String,
}

impl Env {
    pub async fn start() -> Env {
        Self::with(EmulatorConfig::default()).await
    }

    pub async fn with(config: EmulatorConfig) -> Env {
        let emu = Emulator::start(config).await.unwrap();
        let http = client(&emu, reqwest::Client::builder());
        let token = token(&emu, &http).await;
        Env { emu, http, token }
    }

    /// `path` under the new host's layout (`/v1`), the one clients use by default.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.emu.api_base_url(), path)
    }

    /// `path` under the older host's layout (`/api/v1`), the only one with `/token`.
    pub fn legacy_url(&self, path: &str) -> String {
        format!("{}{}", self.emu.legacy_api_base_url(), path)
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_v2(&self, body: &Value) -> reqwest::Response {
        let url = format!("{}/v2/chat/completions", self.emu.api_origin());
        self.http
            .post(url)
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }
}

/// A client that trusts the emulator's CA (when it has one).
pub fn client(emu: &Emulator, builder: reqwest::ClientBuilder) -> reqwest::Client {
    let builder = match emu.ca_pem() {
        Some(pem) => {
            builder.tls_certs_merge([reqwest::Certificate::from_pem(pem.as_bytes()).unwrap()])
        }
        None => builder,
    };
    builder.build().unwrap()
}

pub fn rquid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An OAuth request with the emulator's key, a fresh RqUID and the given form body.
pub async fn oauth(emu: &Emulator, http: &reqwest::Client, body: &str) -> reqwest::Response {
    http.post(emu.auth_url())
        .header(
            "Authorization",
            format!("Basic {}", emu.credentials_header()),
        )
        .header("RqUID", rquid())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

pub async fn token(emu: &Emulator, http: &reqwest::Client) -> String {
    let response = oauth(emu, http, "scope=GIGACHAT_API_PERS").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// The keys of a JSON object, in order.
pub fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

/// Status and full body text.
pub async fn status_text(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

pub fn hello() -> Value {
    serde_json::json!({"model": "GigaChat", "messages": [{"role": "user", "content": "Say 'Hello' and nothing else"}]})
}

/// An emulator whose only key is bound to `scope`, and a token for it.
pub async fn scoped(scope: &str) -> (Emulator, reqwest::Client, String) {
    let emu = Emulator::start(EmulatorConfig {
        credentials: vec![Credential::new("key", "secret", scope)],
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let http = client(&emu, reqwest::Client::builder());
    let response = oauth(&emu, &http, &format!("scope={scope}")).await;
    let token = response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    (emu, http, token)
}

/// The events of an SSE body: `(event name, data)` pairs, in order.
pub fn sse_events(body: &str) -> Vec<(Option<String>, String)> {
    body.split("\n\n")
        .filter(|event| !event.is_empty())
        .map(|event| {
            let name = event
                .lines()
                .find_map(|line| line.strip_prefix("event: "))
                .map(str::to_owned);
            let data = event
                .lines()
                .find_map(|line| line.strip_prefix("data: "))
                .unwrap()
                .to_owned();
            (name, data)
        })
        .collect()
}

/// A v2 request for `GigaChat-3-Ultra` with one user message.
pub fn v2_simple(text: &str) -> Value {
    serde_json::json!({"model":"GigaChat-3-Ultra","messages":[{"content":[{"text":text}],"role":"user"}]})
}
