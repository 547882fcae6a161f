//! Keys with policy (`KEYS_FILE`): admission by the secret's digest beside `BEARER_TOKEN`, expiry,
//! allowed models on every door (both envelopes), reload on change and on SIGHUP, a broken file
//! keeping the last good policy, and the admin route behind `ADMIN_TOKEN`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{self, Harness, KEY, Options, assert_error};

const ADMIN: &str = "admin-secret";

/// A `[[keys]]` entry for `secret` (its digest, never the secret) with `extra` lines.
fn key(name: &str, secret: &str, extra: &str) -> String {
    let hex: String = gigachat_adapter::policy::digest_of(secret)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("[[keys]]\nname = \"{name}\"\nsha256 = \"{hex}\"\n{extra}\n")
}

/// The file every test starts from: alice may use GigaChat-2 models only; old has expired.
fn first_file() -> String {
    [
        key("alice", "sk-alice", "models = [\"GigaChat-2*\"]"),
        key("old", "sk-old", "expires = \"2020-01-01T00:00:00Z\""),
        key(
            "limited",
            "sk-limited",
            "account = \"shared\"\nexpires = \"2999-01-01T00:00:00Z\"\n[keys.limits]\nrequests_per_minute = 60\nconcurrent = 2",
        ),
        "[accounts.team-a]\ncredentials = \"dGVhbS1hOnNlY3JldA==\"\nmax_concurrent = 1\n\
         [pools.shared]\naccounts = [\"default\", \"team-a\"]\n"
            .to_owned(),
    ]
    .concat()
}

/// An adapter with `KEY` (`BEARER_TOKEN`), the keys file (written first) and `extra` flags.
async fn start(file: &str, extra: &[&str]) -> (Harness, tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.toml");
    std::fs::write(&path, file).unwrap();
    let mut args = vec!["--keys-file".to_owned(), path.display().to_string()];
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let harness = common::start_with(Options {
        args,
        ..Options::default()
    })
    .await;
    (harness, dir, path)
}

fn chat_body(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Hi"}]})
}

/// POSTs `body` to `path` with `secret` and returns (status, JSON body).
async fn post_as(harness: &Harness, secret: &str, path: &str, body: &Value) -> (u16, Value) {
    let response = harness
        .http
        .post(format!("{}{path}", harness.base))
        .bearer_auth(secret)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn metrics(harness: &Harness) -> String {
    harness
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Polls until `secret` is admitted on a chat (`true`) or refused (`false`), for up to 10 s.
async fn wait_until_admitted(harness: &Harness, secret: &str, admitted: bool) {
    let body = chat_body("GigaChat-2-Max");
    for _ in 0..100 {
        let (status, _) = post_as(harness, secret, "/v1/chat/completions", &body).await;
        if (status == 200) == admitted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{secret} never became admitted={admitted}");
}

/// Writes `text` to `path` so its size and time differ from the file it replaces.
fn rewrite(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn file_keys_are_admitted_beside_bearer_tokens_and_named_in_metrics() {
    // An alias makes `gpt-4o` and its target models the metrics name (others are `other`).
    let (harness, _dir, _path) =
        start(&first_file(), &["--model-aliases", "gpt-4o=GigaChat-2-Max"]).await;
    let (status, body) = post_as(
        &harness,
        "sk-alice",
        "/v1/chat/completions",
        &chat_body("GigaChat-2-Max"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = post_as(&harness, KEY, "/v1/chat/completions", &chat_body("gpt-4o")).await;
    assert_eq!(status, 200, "BEARER_TOKEN keeps working");
    // The digest is what the file holds, not a key.
    let digest: String = gigachat_adapter::policy::digest_of("sk-alice")
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    for wrong in [digest.as_str(), "sk-alice2", "alice", ""] {
        let (status, body) = post_as(
            &harness,
            wrong,
            "/v1/chat/completions",
            &chat_body("GigaChat-2-Max"),
        )
        .await;
        assert_error(status, &body, 401, Some("invalid_api_key"));
    }
    let text = metrics(&harness).await;
    for line in [
        r#"gigachat_adapter_key_requests_total{key="alice",model="GigaChat-2-Max"} 1"#,
        r#"gigachat_adapter_key_requests_total{key="key-1",model="gpt-4o"} 1"#,
        r#"gigachat_adapter_keys_reload_failures_total 0"#,
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    assert!(
        text.contains(
            r#"gigachat_adapter_tokens_total{model="GigaChat-2-Max",key="alice",kind="prompt"}"#
        ),
        "{text}"
    );
}

#[tokio::test]
async fn an_expired_key_is_told_so_in_each_envelope() {
    let (harness, _dir, _path) = start(&first_file(), &[]).await;
    let (status, body) = post_as(
        &harness,
        "sk-old",
        "/v1/chat/completions",
        &chat_body("GigaChat-2-Max"),
    )
    .await;
    let message = assert_error(status, &body, 401, Some("invalid_api_key"));
    assert!(
        message.contains("\"old\" expired at 2020-01-01T00:00:00Z"),
        "{message}"
    );
    let messages = json!({"model": "GigaChat-2-Max", "max_tokens": 10,
        "messages": [{"role": "user", "content": "Hi"}]});
    let (status, body) = post_as(&harness, "sk-old", "/v1/messages", &messages).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "authentication_error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );
    // A key expiring in the future is served.
    let (status, body) = post_as(
        &harness,
        "sk-limited",
        "/v1/chat/completions",
        &chat_body("GigaChat"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(harness.upstream("/chat/completions").len() == 1);
}

#[tokio::test]
async fn a_model_outside_the_keys_globs_is_refused_on_every_door() {
    let (harness, _dir, _path) = start(&first_file(), &[]).await;
    let chats_before = harness.upstream("/chat/completions").len();
    let refused = [
        (
            "/v1/chat/completions",
            chat_body("GigaChat-Max"),
            "GigaChat-Max",
        ),
        (
            "/v1/completions",
            json!({"model": "gpt-4o", "prompt": "Hi"}),
            "gpt-4o",
        ),
        (
            "/v1/responses",
            json!({"model": "GigaChat-Pro", "input": "Hi"}),
            "GigaChat-Pro",
        ),
        // No model: the default each door gives (EMBEDDINGS_MODEL, GIGACHAT_MODEL) is checked.
        ("/v1/embeddings", json!({"input": "Hi"}), "Embeddings"),
        (
            "/v1/images/generations",
            json!({"model": "Kandinsky", "prompt": "a cat"}),
            "Kandinsky",
        ),
        (
            "/v1/tokens/count",
            json!({"model": "GigaChat", "input": "Hi"}),
            "GigaChat",
        ),
    ];
    for (path, body, model) in refused {
        let (status, answer) = post_as(&harness, "sk-alice", path, &body).await;
        let message = assert_error(status, &answer, 403, Some("model_not_allowed"));
        assert_eq!(
            answer["error"]["type"], "permission_error",
            "{path}: {answer}"
        );
        assert_eq!(answer["error"]["param"], "model", "{path}: {answer}");
        assert!(message.contains(&format!("'{model}'")), "{path}: {message}");
    }
    let messages = json!({"model": "claude-sonnet-4", "max_tokens": 10,
        "messages": [{"role": "user", "content": "Hi"}]});
    let (status, body) = post_as(&harness, "sk-alice", "/v1/messages", &messages).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "permission_error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("claude-sonnet-4"),
        "{body}"
    );
    assert_eq!(
        harness.upstream("/chat/completions").len(),
        chats_before,
        "nothing refused reached GigaChat"
    );
    // The globs let GigaChat-2 models through on the same doors; other keys are not restricted.
    let messages = json!({"model": "GigaChat-2-Pro", "max_tokens": 10,
        "messages": [{"role": "user", "content": "Hi"}]});
    let (status, body) = post_as(&harness, "sk-alice", "/v1/messages", &messages).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post_as(
        &harness,
        "sk-alice",
        "/v1/responses",
        &json!({"model": "GigaChat-2-Max", "input": "Hi"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post_as(&harness, KEY, "/v1/embeddings", &json!({"input": "Hi"})).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_restricted_key_sees_only_its_models() {
    let (harness, _dir, _path) = start(&first_file(), &[]).await;
    let models = |secret: &'static str, path: &'static str| {
        let request = harness
            .http
            .get(format!("{}{path}", harness.base))
            .bearer_auth(secret);
        async move {
            let response = request.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let ids = |list: &Value| -> Vec<String> {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|model| model["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, all) = models(KEY, "/v1/models").await;
    assert_eq!(status, 200);
    let (status, alices) = models("sk-alice", "/v1/models").await;
    assert_eq!(status, 200);
    let expected: Vec<String> = ids(&all)
        .into_iter()
        .filter(|id| id.starts_with("GigaChat-2"))
        .collect();
    assert!(
        !expected.is_empty() && expected.len() < ids(&all).len(),
        "{all}"
    );
    assert_eq!(ids(&alices), expected);
    let (status, _) = models("sk-alice", "/v1/models/GigaChat-2-Max").await;
    assert_eq!(status, 200);
    let (status, body) = models("sk-alice", "/v1/models/GigaChat").await;
    assert_error(status, &body, 403, Some("model_not_allowed"));
}

#[tokio::test]
async fn a_changed_file_is_used_and_a_broken_one_keeps_the_last_good() {
    let (harness, _dir, path) = start(&first_file(), &["--keys-reload-secs", "1"]).await;
    wait_until_admitted(&harness, "sk-bob", false).await;
    rewrite(&path, &(first_file() + &key("bob", "sk-bob", "")));
    wait_until_admitted(&harness, "sk-bob", true).await;
    // Broken (a key without its digest): refused, counted, and the policy in use stays.
    rewrite(&path, &(first_file() + "[[keys]]\nname = \"carol\"\n"));
    for _ in 0..100 {
        if metrics(&harness)
            .await
            .contains("gigachat_adapter_keys_reload_failures_total 1")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = metrics(&harness).await;
    assert!(
        text.contains("gigachat_adapter_keys_reload_failures_total 1"),
        "{text}"
    );
    wait_until_admitted(&harness, "sk-bob", true).await;
    wait_until_admitted(&harness, "sk-alice", true).await;
    // Bob removed: refused from the next read on.
    rewrite(&path, &first_file());
    wait_until_admitted(&harness, "sk-bob", false).await;
}

/// With polling off, only SIGHUP reads the file: the real signal, sent to this process, where the
/// adapter listens for it (as it would in its own).
#[cfg(unix)]
#[tokio::test]
async fn sighup_reads_the_file_again() {
    let (harness, _dir, path) = start(&first_file(), &["--keys-reload-secs", "0"]).await;
    rewrite(&path, &(first_file() + &key("dave", "sk-dave", "")));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, _) = post_as(
        &harness,
        "sk-dave",
        "/v1/chat/completions",
        &chat_body("GigaChat"),
    )
    .await;
    assert_eq!(status, 401, "not polled");
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    wait_until_admitted(&harness, "sk-dave", true).await;
}

#[tokio::test]
async fn the_admin_route_lists_keys_without_secrets_only_for_the_admin_token() {
    let (harness, _dir, _path) = start(&first_file(), &["--admin-token", ADMIN]).await;
    let (status, _) = post_as(
        &harness,
        "sk-alice",
        "/v1/chat/completions",
        &chat_body("GigaChat-2-Max"),
    )
    .await;
    assert_eq!(status, 200);
    let list = |token: Option<&str>| {
        let request = harness.http.get(format!("{}/admin/keys", harness.base));
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }
    };
    for token in [None, Some(KEY), Some("sk-alice"), Some("admin")] {
        let (status, text) = list(token).await;
        assert_eq!(status, 401, "{token:?}: {text}");
    }
    let (status, text) = list(Some(ADMIN)).await;
    assert_eq!(status, 200, "{text}");
    for secret in ["sk-alice", "sk-old", KEY, ADMIN, "dGVhbS1hOnNlY3JldA=="] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let digest: String = gigachat_adapter::policy::digest_of("sk-alice")
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    assert!(!text.contains(&digest), "digest leaked: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    let names: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["key-1", "alice", "old", "limited"]);
    let alice = &body["data"][1];
    assert_eq!(alice["source"], "keys_file");
    assert_eq!(alice["models"], json!(["GigaChat-2*"]));
    assert_eq!(alice["account"], "default");
    assert_eq!(alice["usage"]["requests"], 1, "{alice}");
    assert!(
        alice["usage"]["prompt_tokens"].as_u64().unwrap() > 0,
        "{alice}"
    );
    let limited = &body["data"][3];
    assert_eq!(limited["account"], "shared");
    assert_eq!(limited["expires"], "2999-01-01T00:00:00Z");
    assert_eq!(limited["expired"], false);
    assert_eq!(
        limited["limits"],
        json!({"requests_per_minute": 60, "tokens_per_minute": null,
            "tokens_per_day": null, "concurrent": 2})
    );
    assert_eq!(body["data"][2]["expired"], true);
    assert_eq!(body["data"][0]["source"], "bearer_token");
    assert_eq!(body["data"][0]["usage"]["requests"], 0);
    assert_eq!(
        body["keys_file"]["pools"][0]["accounts"],
        json!(["default", "team-a"])
    );
    assert_eq!(body["keys_file"]["accounts"][0]["max_concurrent"], 1);
}

#[tokio::test]
async fn without_an_admin_token_the_admin_route_is_not_served() {
    let (harness, _dir, _path) = start(&first_file(), &[]).await;
    for token in [None, Some(KEY)] {
        let request = harness.http.get(format!("{}/admin/keys", harness.base));
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_error(status, &body, 404, Some("unknown_url"));
    }
}
