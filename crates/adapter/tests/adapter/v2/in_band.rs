//! v2 only: a failure GigaChat reports inside its 200 (`fail-inband:`, with or without the
//! `response.error` event) reaches the client as GigaChat's failure in words, never as an answer.

use std::time::Duration;

use gigachat_emulator::EmulatorConfig;
use serde_json::{Value, json};

use super::common::{Options, assert_error, start_with, user};

#[tokio::test]
async fn an_in_band_failure_is_an_upstream_error_whole_and_streamed() {
    for error_event in [false, true] {
        let harness = start_with(Options {
            emulator: EmulatorConfig {
                v2_stream_error_event: error_event,
                event_gap: Duration::from_millis(5),
                ..EmulatorConfig::default()
            },
            ..Options::default()
        })
        .await;
        let (status, headers, body) = harness.chat(user("fail-inband: now")).await;
        let message = assert_error(status, &body, 502, Some("upstream_error"));
        assert!(
            message.starts_with("GigaChat failed while answering: "),
            "{message}"
        );
        assert_eq!(headers["x-should-retry"], "true");

        let mut request = user("fail-inband: now");
        request["stream"] = json!(true);
        let (status, events) = harness.stream(request).await;
        assert_eq!(status, 200);
        let last = events.last().unwrap();
        let error: Value = serde_json::from_str(last).unwrap();
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("GigaChat failed while answering")),
            "{events:?}"
        );
        let finished = events[..events.len() - 1]
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(e).ok())
            .any(|chunk| chunk["choices"][0]["finish_reason"].is_string());
        assert!(
            !finished,
            "a failed answer finished as an answer: {events:?}"
        );
    }
}
