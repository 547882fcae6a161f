//! `/metrics`: Prometheus text counting what was sent (requests by model, status and error, the
//! latency histograms, a stream's first token, tokens), with unknown models folded into `other`;
//! behind a key on the main port, open on `METRICS_ADDR`.

use std::time::Duration;

use gigachat_emulator::Fault;
use serde_json::{Value, json};

use crate::common::{Options, start_with, user};

/// The sum of the samples of `name` whose labels include every pair of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| {
            series.split_once('{').map_or(*series, |(n, _)| n) == name
                && labels
                    .iter()
                    .all(|(label, value)| series.contains(&format!("{label}=\"{value}\"")))
        })
        .map(|(_, value)| value.parse::<f64>().unwrap())
        .sum()
}

/// The prompt and completion tokens an answer reports.
fn tokens(usage: &Value) -> (f64, f64) {
    (
        usage["prompt_tokens"].as_f64().unwrap(),
        usage["completion_tokens"].as_f64().unwrap(),
    )
}

#[tokio::test]
async fn metrics_count_what_was_sent() {
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let harness = start_with(Options {
        args: vec![
            "--model-aliases".into(),
            "gpt-4o=GigaChat-2-Max".into(),
            "--metrics-addr".into(),
            metrics_addr.clone(),
        ],
        ..Options::default()
    })
    .await;

    let mut chat = user("hi");
    chat["model"] = json!("gpt-4o");
    let (status, _, answer) = harness.chat(chat.clone()).await;
    assert_eq!(status, 200, "{answer}");
    let (chat_prompt, chat_completion) = tokens(&answer["usage"]);

    let mut streamed = chat.clone();
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let (status, events) = harness.stream(streamed).await;
    assert_eq!(status, 200);
    let usage: Value = events
        .iter()
        .filter(|event| *event != "[DONE]")
        .map(|event| serde_json::from_str::<Value>(event).unwrap())
        .find(|event| event["usage"].is_object())
        .unwrap()["usage"]
        .clone();
    let (stream_prompt, stream_completion) = tokens(&usage);

    let mut unknown = user("hi");
    unknown["model"] = json!("no-such-model");
    let (status, _, _) = harness.chat(unknown).await;
    assert_eq!(status, 404);

    harness.emulator.faults().push(Fault::Status {
        status: 429,
        retry_after: None,
        times: 1,
    });
    let (status, _, _) = harness.chat(chat).await;
    assert_eq!(status, 429);

    let unauthorized = harness
        .http
        .get(format!("{}/metrics", harness.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status().as_u16(), 401);

    // A request is counted when its answer's body is gone, which may trail the client's read.
    let chat_route = ("route", "/v1/chat/completions");
    let mut text = String::new();
    for _ in 0..50 {
        let response = harness.get("/metrics").send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        text = response.text().await.unwrap();
        if sample(&text, "gigachat_adapter_requests_total", &[chat_route]) >= 4.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let requests =
        |labels: &[(&str, &str)]| sample(&text, "gigachat_adapter_requests_total", labels);
    assert_eq!(requests(&[chat_route]), 4.0, "{text}");
    assert_eq!(
        requests(&[
            chat_route,
            ("surface", "openai"),
            ("model", "gpt-4o"),
            ("status", "200"),
            ("error", "none"),
        ]),
        2.0,
        "{text}"
    );
    assert_eq!(
        requests(&[
            ("model", "other"),
            ("status", "404"),
            ("error", "model_not_found")
        ]),
        1.0,
        "{text}"
    );
    assert!(!text.contains("no-such-model"), "{text}");
    assert_eq!(
        requests(&[("status", "429"), ("error", "upstream_rate_limited")]),
        1.0,
        "{text}"
    );
    assert_eq!(
        requests(&[("route", "/metrics"), ("status", "401")]),
        1.0,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "gigachat_adapter_upstream_errors_total",
            &[("verdict", "upstream_rate_limited")]
        ),
        1.0,
        "{text}"
    );
    // GigaChat's 404 for the unknown model is a verdict too, labelled as the request's error is.
    assert_eq!(
        sample(
            &text,
            "gigachat_adapter_upstream_errors_total",
            &[("verdict", "model_not_found")]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        sample(&text, "gigachat_adapter_upstream_errors_total", &[]),
        2.0,
        "the adapter's own 401 is no GigaChat error: {text}"
    );

    // Histograms: cumulative buckets ending in +Inf = _count, per stream and not.
    let duration = "gigachat_adapter_request_duration_seconds";
    for (stream, count) in [("true", 1.0), ("false", 3.0)] {
        let labels = [chat_route, ("stream", stream)];
        assert_eq!(
            sample(&text, &format!("{duration}_count"), &labels),
            count,
            "{text}"
        );
        let buckets: Vec<f64> = text
            .lines()
            .filter(|line| {
                line.starts_with(&format!("{duration}_bucket{{"))
                    && line.contains("route=\"/v1/chat/completions\"")
                    && line.contains(&format!("stream=\"{stream}\""))
            })
            .map(|line| line.rsplit_once(' ').unwrap().1.parse().unwrap())
            .collect();
        assert!(buckets.len() > 5, "{text}");
        assert!(
            buckets.windows(2).all(|pair| pair[0] <= pair[1]),
            "{buckets:?}"
        );
        assert_eq!(buckets.last(), Some(&count), "{text}");
        assert!(sample(&text, &format!("{duration}_sum"), &labels) > 0.0);
    }
    assert_eq!(
        sample(
            &text,
            "gigachat_adapter_time_to_first_token_seconds_count",
            &[("surface", "openai"), ("model", "gpt-4o")]
        ),
        1.0,
        "{text}"
    );
    assert!(
        sample(
            &text,
            "gigachat_adapter_upstream_duration_seconds_count",
            &[("endpoint", "chat")]
        ) >= 3.0,
        "{text}"
    );
    assert!(
        sample(
            &text,
            "gigachat_adapter_overhead_seconds_count",
            &[("stream", "false")]
        ) >= 3.0,
        "{text}"
    );

    // Tokens: what the two answers reported, summed.
    let tokens_total = |kind: &str| {
        sample(
            &text,
            "gigachat_adapter_tokens_total",
            &[("model", "gpt-4o"), ("kind", kind)],
        )
    };
    assert_eq!(
        tokens_total("prompt"),
        chat_prompt + stream_prompt,
        "{text}"
    );
    assert_eq!(
        tokens_total("completion"),
        chat_completion + stream_completion,
        "{text}"
    );
    assert!(
        text.lines()
            .any(|line| line == "gigachat_adapter_streams_active 0"),
        "{text}"
    );
    // The scrape itself is in flight.
    assert_eq!(
        sample(
            &text,
            "gigachat_adapter_in_flight",
            &[("surface", "openai")]
        ),
        1.0,
        "{text}"
    );

    // METRICS_ADDR serves the same registry without a key.
    let open = harness
        .http
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(open.status().as_u16(), 200);
    let open_text = open.text().await.unwrap();
    assert_eq!(
        sample(
            &open_text,
            "gigachat_adapter_requests_total",
            &[("route", "/metrics"), ("status", "200")]
        ),
        sample(
            &text,
            "gigachat_adapter_requests_total",
            &[("route", "/metrics"), ("status", "200")]
        ) + 1.0,
        "{open_text}"
    );
}
