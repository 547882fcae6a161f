//! GigaChat accounts: pass-through credentials, the per-account queue (in process and through a
//! real Redis, shared by two adapters) and pools that fail over.

use std::time::Duration;

use gigachat_emulator::{Credential, EmulatorConfig, Listener};
use serde_json::{Value, json};

use super::attachments::{data_url, image_request, png, uploads};
use super::common::{Harness, KEY, Options, assert_error, spawn_adapter, start_with};

const PASSTHROUGH: &str = "x-gigachat-authorization";

fn caller(id: &str) -> Credential {
    Credential::new(id, format!("{id}-secret"), "GIGACHAT_API_PERS")
}

/// An emulator that knows the adapter's own credentials and those of `callers`.
fn emulator_with(callers: &[&str]) -> EmulatorConfig {
    let mut credentials = EmulatorConfig::default().credentials;
    credentials.extend(callers.iter().map(|id| caller(id)));
    EmulatorConfig {
        credentials,
        ..EmulatorConfig::default()
    }
}

/// The `Authorization` values the emulator's OAuth listener was sent.
fn oauth_keys(harness: &Harness) -> Vec<String> {
    harness
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.listener == Listener::Oauth)
        .filter_map(|r| {
            r.headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
                .map(|(_, value)| value.clone())
        })
        .collect()
}

async fn chat_as(harness: &Harness, credentials: &str, body: &Value) -> (u16, Value) {
    let response = harness
        .post("/v1/chat/completions", body.clone())
        .header(PASSTHROUGH, credentials)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn passthrough_credentials_are_their_own_identity_and_never_share_files() {
    let harness = start_with(Options {
        emulator: emulator_with(&["alice", "bob"]),
        ..Options::default()
    })
    .await;
    let (alice, bob) = (
        caller("alice").authorization_key(),
        caller("bob").authorization_key(),
    );
    let picture = image_request(&[data_url("image/png", &png(9))]);
    let (status, body) = chat_as(&harness, &alice, &picture).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = chat_as(&harness, &format!("Basic {bob}"), &picture).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = chat_as(&harness, &alice, &picture).await;
    assert_eq!(status, 200, "{body}");

    let keys = oauth_keys(&harness);
    assert!(keys.contains(&format!("Basic {alice}")), "{keys:?}");
    assert!(keys.contains(&format!("Basic {bob}")), "{keys:?}");
    assert!(
        !keys.contains(&format!("Basic {}", harness.emulator.credentials_header())),
        "the adapter's own account was not used: {keys:?}"
    );
    assert_eq!(
        uploads(&harness),
        2,
        "one upload per caller, reused by alice"
    );
    let sent = harness.upstream_chat_bodies();
    let ids: Vec<&Value> = sent
        .iter()
        .map(|b| &b["messages"][0]["attachments"][0])
        .collect();
    assert_eq!(ids[0], ids[2], "alice reuses her own upload");
    assert_ne!(ids[0], ids[1], "bob never gets alice's file id");
    // Each chat went upstream with its caller's own token (the emulator refuses another
    // identity's file, so 200s above already prove it), never with the adapter's.
    let tokens: Vec<String> = harness
        .upstream("/chat/completions")
        .iter()
        .map(|r| {
            r.headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
                .map(|(_, value)| value.clone())
                .unwrap()
        })
        .collect();
    assert_eq!(tokens[0], tokens[2]);
    assert_ne!(tokens[0], tokens[1]);
}

#[tokio::test]
async fn a_refused_passthrough_key_is_the_callers_error_not_the_adapters_account() {
    let harness = start_with(Options::default()).await;
    let (status, body) = chat_as(
        &harness,
        &caller("stranger").authorization_key(),
        &json!({"messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert!(
        status == 401 || status == 403 || status >= 500,
        "{status} {body}"
    );
    assert!(
        harness.upstream("/chat/completions").is_empty(),
        "nothing reached the chat with the adapter's own account"
    );
}

/// An emulator with GigaChat's personal tier (one request at a time per identity) and slow
/// streams, so two overlapping streams would meet its 429.
fn personal_tier() -> EmulatorConfig {
    EmulatorConfig {
        concurrency_limit: Some(1),
        first_event_delay: Duration::from_millis(300),
        ..EmulatorConfig::default()
    }
}

fn stream_request() -> Value {
    json!({"stream": true, "messages": [{"role": "user", "content": "Tell me a story"}]})
}

async fn stream_at(http: &reqwest::Client, base: &str) -> (u16, String) {
    let response = http
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&stream_request())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn upstream_429s(harness: &Harness) -> usize {
    harness
        .upstream("/chat/completions")
        .iter()
        .filter(|r| r.status == 429)
        .count()
}

#[tokio::test]
async fn a_concurrency_of_one_serialises_streams_instead_of_a_gigachat_429() {
    let harness = start_with(Options {
        emulator: personal_tier(),
        args: vec!["--gigachat-account-max-concurrent".into(), "1".into()],
        ..Options::default()
    })
    .await;
    let (first, second) = tokio::join!(
        stream_at(&harness.http, &harness.base),
        stream_at(&harness.http, &harness.base)
    );
    for (status, text) in [first, second] {
        assert_eq!(status, 200, "{text}");
        assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
        assert!(!text.contains("\"error\""), "{text}");
    }
    assert_eq!(harness.upstream("/chat/completions").len(), 2);
    assert_eq!(upstream_429s(&harness), 0, "GigaChat never saw two at once");
}

#[tokio::test]
async fn without_the_limit_the_second_stream_meets_gigachats_429() {
    // The control for the test above: the emulator does refuse overlapping streams.
    let harness = start_with(Options {
        emulator: personal_tier(),
        ..Options::default()
    })
    .await;
    let (first, second) = tokio::join!(
        stream_at(&harness.http, &harness.base),
        stream_at(&harness.http, &harness.base)
    );
    assert!(first.0 == 429 || second.0 == 429, "{first:?} / {second:?}");
}

#[tokio::test]
async fn replicas_share_account_slots_through_redis_and_a_dead_lease_expires() {
    let redis = crate::redis_server::RedisServer::start().await;
    let harness = start_with(Options {
        emulator: personal_tier(),
        args: vec![
            "--redis-url".into(),
            redis.url.clone(),
            "--gigachat-account-max-concurrent".into(),
            "1".into(),
            "--account-queue-timeout-secs".into(),
            "5".into(),
        ],
        ..Options::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        harness._dir.path().join("ca.pem"),
        dir.path().join("ca.pem"),
    )
    .unwrap();
    let args = vec![
        "--redis-url".into(),
        redis.url.clone(),
        "--gigachat-account-max-concurrent".into(),
        "1".into(),
        "--account-queue-timeout-secs".into(),
        "1".into(),
    ];
    let (replica, server) =
        spawn_adapter(&harness.emulator, dir.path(), args, Box::new(|_| {}), KEY).await;

    // One stream on each replica at once: the shared lease lets one through at a time.
    let (first, second) = tokio::join!(
        stream_at(&harness.http, &harness.base),
        stream_at(&harness.http, &replica)
    );
    assert_eq!(first.0, 200, "{}", first.1);
    assert_eq!(second.0, 200, "{}", second.1);
    assert_eq!(upstream_429s(&harness), 0);

    // A replica that died holding the slot: its lease ends on expiry, not before.
    let mut conn = redis.raw().await.unwrap();
    let (seconds, micros): (u64, u64) = redis::cmd("TIME").query_async(&mut conn).await.unwrap();
    let now_ms = seconds * 1000 + micros / 1000;
    let key = "gigachat-adapter:account:v1:default:leases";
    let _: () = redis::cmd("ZADD")
        .arg(key)
        .arg(now_ms + 2_000)
        .arg("dead-replica")
        .query_async(&mut conn)
        .await
        .unwrap();
    // The second replica waits at most 1 s: the dead lease still holds the slot.
    let response = harness
        .http
        .post(format!("{replica}/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&json!({"messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert!(response.headers().get("retry-after").is_some());
    let body: Value = response.json().await.unwrap();
    assert_error(status, &body, 429, Some("rate_limit_exceeded"));
    // The first waits up to 5 s: served once the dead lease expired.
    let (status, _, body) = harness
        .chat(json!({"messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(status, 200, "{body}");
    let left: Vec<String> = redis::cmd("ZRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!left.contains(&"dead-replica".to_owned()), "{left:?}");
    server.abort();
}

/// The secret of the key that uses the pool `shared`.
const POOL_KEY: &str = "pool-key";

/// An adapter whose key [`POOL_KEY`] uses the pool `shared` of `members` (accounts `team-b`,
/// known to the emulator, and `broken`, which it refuses, besides `default`).
async fn pooled(members: &[&str]) -> (Harness, tempfile::TempDir) {
    use sha2::Digest as _;
    let dir = tempfile::tempdir().unwrap();
    let digest: String = sha2::Sha256::digest(POOL_KEY.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let members: Vec<String> = members.iter().map(|m| format!("\"{m}\"")).collect();
    let file = dir.path().join("keys.toml");
    std::fs::write(
        &file,
        format!(
            "[accounts.team-b]\ncredentials = \"{}\"\n\n\
             [accounts.broken]\ncredentials = \"{}\"\n\n\
             [pools.shared]\naccounts = [{}]\n\n\
             [[keys]]\nname = \"pooled\"\nsha256 = \"{digest}\"\naccount = \"shared\"\n",
            caller("team-b").authorization_key(),
            caller("nobody").authorization_key(),
            members.join(", "),
        ),
    )
    .unwrap();
    let harness = start_with(Options {
        emulator: emulator_with(&["team-b"]),
        args: vec!["--keys-file".into(), file.display().to_string()],
        ..Options::default()
    })
    .await;
    (harness, dir)
}

async fn chat_in_pool(harness: &Harness, body: Value) -> (u16, String) {
    let response = harness
        .http
        .post(format!("{}/v1/chat/completions", harness.base))
        .bearer_auth(POOL_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn hello(stream: bool) -> Value {
    json!({"stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

/// The bearer token and status of every chat call the emulator got.
fn chat_calls(harness: &Harness) -> Vec<(String, u16)> {
    harness
        .upstream("/chat/completions")
        .iter()
        .map(|r| {
            let token = r
                .headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
                .map(|(_, value)| value.clone())
                .unwrap();
            (token, r.status)
        })
        .collect()
}

fn fault(status: u16) -> gigachat_emulator::Fault {
    gigachat_emulator::Fault::Status {
        status,
        retry_after: None,
        times: 1,
    }
}

#[tokio::test]
async fn a_pool_keeps_answering_through_the_other_account_on_429_and_5xx() {
    let (harness, _dir) = pooled(&["default", "team-b"]).await;
    for (round, status) in [429, 503, 500, 429].into_iter().enumerate() {
        harness
            .emulator
            .faults()
            .push_for("/chat/completions", fault(status));
        let (code, body) = chat_in_pool(&harness, hello(round % 2 == 1)).await;
        assert_eq!(code, 200, "round {round} ({status}): {body}");
    }
    let calls = chat_calls(&harness);
    assert_eq!(
        calls.len(),
        8,
        "each request failed once and went on: {calls:?}"
    );
    for pair in calls.chunks(2) {
        assert!(pair[0].1 >= 429 && pair[1].1 == 200, "{calls:?}");
        assert_ne!(pair[0].0, pair[1].0, "the retry went to the other account");
    }
    // After a failure the failed account cools down: the next request goes to the other first.
    let before = calls.len();
    let (code, body) = chat_in_pool(&harness, hello(false)).await;
    assert_eq!(code, 200, "{body}");
    let calls = chat_calls(&harness);
    assert_eq!(calls.len(), before + 1);
    assert_eq!(
        calls[before].0,
        calls[before - 1].0,
        "the healthy account first"
    );
}

#[tokio::test]
async fn a_pool_fails_over_refused_credentials_but_not_the_clients_mistake() {
    let (harness, _dir) = pooled(&["broken", "default"]).await;
    for _ in 0..3 {
        let (code, body) = chat_in_pool(&harness, hello(false)).await;
        assert_eq!(code, 200, "{body}");
    }
    // A 400 is the request's own fault: the same request would fail on any account.
    harness
        .emulator
        .faults()
        .push_for("/chat/completions", fault(400));
    let before = chat_calls(&harness).len();
    let (code, body) = chat_in_pool(&harness, hello(false)).await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(chat_calls(&harness).len(), before + 1, "not tried again");
}

#[tokio::test]
async fn a_stream_that_started_is_never_moved_to_another_account() {
    let (harness, _dir) = pooled(&["default", "team-b"]).await;
    harness.emulator.faults().push_for(
        "/chat/completions",
        gigachat_emulator::Fault::CutStreamAfter {
            events: 1,
            times: 1,
        },
    );
    let (code, text) = chat_in_pool(&harness, hello(true)).await;
    assert_eq!(code, 200, "{text}");
    assert_eq!(chat_calls(&harness).len(), 1, "one account, once: {text}");
}

#[tokio::test]
async fn a_full_queue_is_a_429_in_the_callers_envelope() {
    let harness = start_with(Options {
        emulator: EmulatorConfig {
            first_event_delay: Duration::from_secs(2),
            ..EmulatorConfig::default()
        },
        args: vec![
            "--gigachat-account-max-concurrent".into(),
            "1".into(),
            "--account-queue-timeout-secs".into(),
            "0".into(),
        ],
        ..Options::default()
    })
    .await;
    let (http, base) = (harness.http.clone(), harness.base.clone());
    let holder = tokio::spawn(async move { stream_at(&http, &base).await });
    let anthropic = json!({
        "model": "GigaChat-2",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}]
    });
    let mut refused = None;
    for _ in 0..40 {
        let response = harness
            .http
            .post(format!("{}/v1/messages", harness.base))
            .header("x-api-key", KEY)
            .header("anthropic-version", "2023-06-01")
            .json(&anthropic)
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            refused = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let refused = refused.expect("the stream held the only slot, so a request was refused");
    assert!(refused.headers().get("retry-after").is_some());
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    let (status, text) = holder.await.unwrap();
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        harness.upstream("/chat/completions").len(),
        1,
        "the refused request never reached GigaChat"
    );
}

#[tokio::test]
async fn each_account_keeps_its_own_models_list() {
    let harness = start_with(Options {
        emulator: emulator_with(&["alice"]),
        ..Options::default()
    })
    .await;
    let alice = caller("alice").authorization_key();
    for passthrough in [None, Some(&alice), None, Some(&alice)] {
        let mut request = harness.get("/v1/models");
        if let Some(key) = passthrough {
            request = request.header(PASSTHROUGH, key);
        }
        assert_eq!(request.send().await.unwrap().status(), 200);
    }
    let tokens: Vec<String> = harness
        .upstream("/models")
        .iter()
        .filter_map(|r| {
            r.headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
                .map(|(_, value)| value.clone())
        })
        .collect();
    assert_eq!(
        tokens.len(),
        2,
        "one listing per account, then cached: {tokens:?}"
    );
    assert_ne!(tokens[0], tokens[1]);
}

#[tokio::test]
async fn an_account_added_by_a_reload_serves_the_keys_that_name_it() {
    use sha2::Digest as _;
    let hex = |secret: &str| -> String {
        sha2::Sha256::digest(secret.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.toml");
    std::fs::write(
        &file,
        format!(
            "[[keys]]\nname = \"first\"\nsha256 = \"{}\"\n",
            hex("first-key")
        ),
    )
    .unwrap();
    let harness = start_with(Options {
        emulator: emulator_with(&["team-c"]),
        args: vec![
            "--keys-file".into(),
            file.display().to_string(),
            "--keys-reload-secs".into(),
            "1".into(),
        ],
        ..Options::default()
    })
    .await;
    let team_c = caller("team-c").authorization_key();
    // Another size, so the reload sees the change whatever the file system's mtime resolution.
    std::fs::write(
        &file,
        format!(
            "[accounts.team-c]\ncredentials = \"{team_c}\"\n\n\
             [[keys]]\nname = \"first\"\nsha256 = \"{}\"\n\n\
             [[keys]]\nname = \"late\"\nsha256 = \"{}\"\naccount = \"team-c\"\n",
            hex("first-key"),
            hex("late-key"),
        ),
    )
    .unwrap();
    let mut answered = None;
    for _ in 0..60 {
        let response = harness
            .http
            .post(format!("{}/v1/chat/completions", harness.base))
            .bearer_auth("late-key")
            .json(&hello(false))
            .send()
            .await
            .unwrap();
        if response.status() != 401 {
            answered = Some((response.status().as_u16(), response.text().await.unwrap()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = answered.expect("the reloaded key was accepted");
    assert_eq!(status, 200, "{body}");
    assert!(
        oauth_keys(&harness).contains(&format!("Basic {team_c}")),
        "the new account's own credentials were used"
    );
}
