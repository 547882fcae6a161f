//! Models, health, auth headers, CORS and docs.

use async_openai::types::models::{ListModelResponse, Model};
use secrecy::SecretString;

use crate::common::{KEY, Options, assert_error, start, start_with, user};

#[tokio::test]
async fn models_list_and_get_with_aliases() {
    let harness = start_with(Options {
        args: vec!["--model-aliases".into(), "gpt-4o=GigaChat-2-Max".into()],
        ..Options::default()
    })
    .await;
    let list: serde_json::Value = harness
        .get("/v1/models")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let parsed: ListModelResponse = serde_json::from_value(list.clone()).unwrap();
    assert!(parsed.data.iter().any(|m| m.id == "GigaChat-2-Max"));
    assert!(parsed.data.iter().any(|m| m.id == "gpt-4o"));
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["created"].is_i64())
    );
    let one: Model = harness
        .get("/v1/models/gpt-4o")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one.id, "gpt-4o");
    let response = harness.get("/v1/models/nope").send().await.unwrap();
    let code = response.status().as_u16();
    let body = response.json().await.unwrap();
    assert_error(code, &body, 404, Some("model_not_found"));
    // Cached: three model calls, one upstream request.
    assert_eq!(harness.upstream("/models").len(), 1);
}

#[tokio::test]
async fn health_probes_need_no_key() {
    let harness = start().await;
    for path in [
        "/health/live",
        "/health/liveness",
        "/health/ready",
        "/health/readiness",
    ] {
        let response = harness
            .http
            .get(format!("{}{path}", harness.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn readiness_fails_when_gigachat_refuses_the_adapter() {
    let harness = start_with(Options {
        settings: Box::new(|s| s.credentials = Some(SecretString::from("d3Jvbmc6a2V5"))),
        ..Options::default()
    })
    .await;
    let response = harness
        .http
        .get(format!("{}/health/ready", harness.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["reason"], "upstream_auth");
    let live = harness
        .http
        .get(format!("{}/health/live", harness.base))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
}

#[tokio::test]
async fn keys_in_any_of_three_headers() {
    let harness = start().await;
    for header in ["x-api-key", "api-key"] {
        let response = harness
            .http
            .post(format!("{}/v1/chat/completions", harness.base))
            .header(header, KEY)
            .json(&user("x"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{header}");
    }
    let response = harness
        .http
        .get(format!("{}/v1/models", harness.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn cors_preflight_for_configured_origins() {
    // The JSON list and the comma list name the same origins.
    for origins in [
        r#"["https://webui.test", "https://other.test"]"#,
        "https://webui.test, https://other.test",
    ] {
        let harness = start_with(Options {
            args: vec!["--cors-allowed-hosts".into(), origins.into()],
            ..Options::default()
        })
        .await;
        for origin in ["https://webui.test", "https://other.test"] {
            let allowed = preflight(&harness, origin).await;
            assert!(allowed.status().is_success(), "{origins}");
            assert_eq!(allowed.headers()["access-control-allow-origin"], origin);
        }
        let other = preflight(&harness, "https://evil.test").await;
        assert!(other.headers().get("access-control-allow-origin").is_none());
    }
}

/// A browser's CORS preflight for a chat call from `origin`.
async fn preflight(harness: &crate::common::Harness, origin: &str) -> reqwest::Response {
    harness
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/chat/completions", harness.base),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_answer_passes_the_gate_and_routes_serve_with_and_without_v1() {
    let harness = start().await;
    // Refused, unknown and served requests all carry the processing time.
    let refused = harness
        .http
        .get(format!("{}/v1/models", harness.base))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().contains_key("openai-processing-ms"));
    let unknown = harness.get("/v1/nothing-here").send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(unknown.headers().contains_key("openai-processing-ms"));
    for path in ["/v1/models/GigaChat", "/models/GigaChat"] {
        let served = harness.get(path).send().await.unwrap();
        assert_eq!(served.status(), 200, "{path}");
        assert!(served.headers().contains_key("openai-processing-ms"));
    }
    // Without configured origins there is no CORS at all: a browser gets no permission.
    let refused = preflight(&harness, "https://webui.test").await;
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn openapi_and_swagger_ui_are_served_offline() {
    let harness = start().await;
    let document: serde_json::Value = harness
        .http
        .get(format!("{}/openapi.json", harness.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(document["paths"]["/chat/completions"].is_object());
    for path in ["/files", "/files/{file_id}", "/files/{file_id}/content"] {
        assert!(
            document["paths"][path].is_object(),
            "{path} is not described"
        );
    }
    let mut unresolved = Vec::new();
    local_refs(&document, &mut |reference| {
        let pointer = reference.trim_start_matches('#');
        if document.pointer(pointer).is_none() {
            unresolved.push(reference.to_owned());
        }
    });
    assert!(unresolved.is_empty(), "dangling $refs: {unresolved:?}");
    let page = harness
        .http
        .get(format!("{}/docs/", harness.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("swagger"));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );
    // Every script, style sheet and icon the page loads is served by the adapter itself.
    let assets: Vec<&str> = page
        .split(['"', '\''])
        .filter(|part| {
            [".js", ".css", ".png"]
                .iter()
                .any(|ext| part.ends_with(ext))
        })
        .collect();
    assert!(assets.len() >= 5, "{assets:?}");
    for asset in assets {
        let url = format!("{}/docs/{}", harness.base, asset.trim_start_matches("./"));
        let response = harness.http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        let body = response.text().await.unwrap_or_default();
        assert!(!body.is_empty(), "{url}");
        if asset.ends_with("initializer.js") {
            assert!(body.contains("\"/openapi.json\""), "{body}");
        }
    }
    // The files are built in gzipped: a client that takes gzip gets them so, others inflated.
    let bundle = format!("{}/docs/swagger-ui-bundle.js", harness.base);
    let plain = harness.http.get(&bundle).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();
    let gzipped = harness
        .http
        .get(&bundle)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    assert_eq!(gzipped.headers()["vary"], "accept-encoding");
    let gzipped = gzipped.bytes().await.unwrap();
    assert!(gzipped.starts_with(&[0x1f, 0x8b]), "not gzip");
    assert!(
        gzipped.len() * 2 < plain.len(),
        "{} vs {}",
        gzipped.len(),
        plain.len()
    );
    assert!(
        std::str::from_utf8(&plain)
            .unwrap()
            .contains("SwaggerUIBundle")
    );
}

/// Calls `found` with every `$ref` in `node`.
fn local_refs(node: &serde_json::Value, found: &mut impl FnMut(&str)) {
    match node {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::String(reference)) = map.get("$ref") {
                found(reference);
            }
            map.values().for_each(|value| local_refs(value, found));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|value| local_refs(value, found)),
        _ => {}
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_get_envelopes() {
    let harness = start().await;
    let response = harness.get("/v1/nothing-here").send().await.unwrap();
    let code = response.status().as_u16();
    let body = response.json().await.unwrap();
    assert_error(code, &body, 404, Some("unknown_url"));
    let response = harness.get("/v1/chat/completions").send().await.unwrap();
    assert_eq!(response.status(), 405);
}

#[tokio::test]
async fn readiness_is_cached_for_a_few_seconds() {
    let ready = |harness: &crate::common::Harness| {
        harness
            .http
            .get(format!("{}/health/ready", harness.base))
            .send()
    };
    let cached = start().await;
    for _ in 0..3 {
        assert_eq!(ready(&cached).await.unwrap().status(), 200);
    }
    assert_eq!(
        cached.upstream("/models").len(),
        1,
        "probes reached GigaChat"
    );
    let uncached = start_with(Options {
        args: vec!["--ready-cache-secs".into(), "0".into()],
        ..Options::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(ready(&uncached).await.unwrap().status(), 200);
    }
    assert_eq!(uncached.upstream("/models").len(), 3);
}

#[tokio::test]
async fn a_request_without_a_model_gets_gigachat_model() {
    let harness = start_with(Options {
        settings: Box::new(|s| s.model = Some("GigaChat-2-Max".into())),
        ..Options::default()
    })
    .await;
    let (code, _, body) = harness.chat(user("x")).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(harness.upstream_chat_bodies()[0]["model"], "GigaChat-2-Max");
    assert!(
        body["model"]
            .as_str()
            .unwrap()
            .starts_with("GigaChat-2-Max"),
        "{body}"
    );
}

/// GigaChat's 429 on the probe (its personal tier serves one request per account at a time, so a
/// probe made during a stream gets one) is ready; its 5xx is not.
#[tokio::test]
async fn readiness_survives_gigachat_being_busy_but_not_failing() {
    let harness = start_with(Options {
        args: vec!["--ready-cache-secs".into(), "0".into()],
        ..Options::default()
    })
    .await;
    let ready = || {
        harness
            .http
            .get(format!("{}/health/ready", harness.base))
            .send()
    };
    let fault = |status| gigachat_emulator::Fault::Status {
        status,
        retry_after: None,
        times: 50,
    };
    harness.emulator.faults().push_for("/models", fault(429));
    assert_eq!(ready().await.unwrap().status(), 200);
    assert!(
        !harness.upstream("/models").is_empty(),
        "the probe asked GigaChat"
    );
    harness.emulator.faults().clear();
    harness.emulator.faults().push_for("/models", fault(500));
    let failing = ready().await.unwrap();
    assert_eq!(failing.status(), 503);
}

/// An account serving a bounded number of requests at once is probed by its token only: the
/// probe's own `GET /models` would take a request's turn at GigaChat.
#[tokio::test]
async fn readiness_of_an_account_with_slots_takes_no_turn_at_gigachat() {
    let harness = start_with(Options {
        args: vec![
            "--ready-cache-secs".into(),
            "0".into(),
            "--gigachat-account-max-concurrent".into(),
            "1".into(),
        ],
        ..Options::default()
    })
    .await;
    let ready = harness
        .http
        .get(format!("{}/health/ready", harness.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert!(
        harness.upstream("/models").is_empty(),
        "the probe called GigaChat's API"
    );
}
