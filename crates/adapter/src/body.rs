//! Request bodies: size-limited bytes parsed as JSON, with errors that name the failing JSON path.

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// Reads a request body into one buffer sized from `Content-Length`, so a large body is held once
/// (collecting chunks and then joining them would hold it twice); 413 beyond `limit`.
async fn read(
    body: axum::body::Body,
    headers: &axum::http::HeaderMap,
    limit: usize,
) -> Result<Bytes, AppError> {
    use futures_util::StreamExt;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(AppError::PayloadTooLarge(limit));
    }
    let mut buffer = bytes::BytesMut::with_capacity(declared.unwrap_or(0));
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|err| {
            stalled(&err).unwrap_or_else(|| AppError::InvalidRequest {
                message: format!("Could not read the request body: {err}"),
                param: None,
            })
        })?;
        if buffer.len() + chunk.len() > limit {
            return Err(AppError::PayloadTooLarge(limit));
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer.freeze())
}

/// The 408 for a body read that failed because the client stopped sending for longer than
/// `BODY_READ_TIMEOUT_SECS` (the connection layer times each wait for body bytes); `None` for any
/// other failure. Looks through the error's causes, as the failure may be wrapped (multipart).
pub fn stalled(err: &(dyn std::error::Error + 'static)) -> Option<AppError> {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return Some(AppError::RequestTimeout(
                "The request body stopped arriving: no bytes came within the adapter's body read \
                 timeout (BODY_READ_TIMEOUT_SECS)."
                    .into(),
            ));
        }
        cause = err.source();
    }
    None
}

/// Bodies larger than this are parsed on a blocking thread: parsing megabytes of JSON (an inline
/// image) takes milliseconds that would hold up every other connection of the event loop.
const PARSE_INLINE_MAX: usize = 256 * 1024;

/// Reads and parses a JSON request body (see [`read`] and [`json`]); the raw bytes are dropped as
/// soon as the parsed value owns what it needs, so a large inline file is not held twice.
pub async fn parse<T: DeserializeOwned + Send + 'static>(
    body: axum::body::Body,
    headers: &axum::http::HeaderMap,
    limit: usize,
) -> Result<T, AppError> {
    let payload = read(body, headers, limit).await?;
    crate::offload::run(
        payload.len() > PARSE_INLINE_MAX,
        "parsing the request body",
        move || json(&payload),
    )
    .await?
}

/// Parses JSON, naming the path of the first problem (`messages[0].content`). Tracking the path
/// costs allocations on every field, so only a body that failed is parsed again to find it.
/// Anything but whitespace after the value is an error, as in the first parse: a body with
/// trailing bytes is not the JSON the client meant to send.
fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    match body.iter().find(|byte| !byte.is_ascii_whitespace()) {
        None => {
            return Err(AppError::InvalidRequest {
                message: "The request body is empty; send a JSON object.".into(),
                param: None,
            });
        }
        // A struct can be read from a JSON array too (its fields in order): not what was meant.
        Some(b'{') => {}
        Some(_) => {
            return Err(AppError::InvalidRequest {
                message: "The request body must be a JSON object.".into(),
                param: None,
            });
        }
    }
    // Checked as UTF-8 once as a whole, then read as text: reading bytes, serde_json checks each
    // string piece it copies (thousands of calls for an agent's escaped history). Only text is
    // read, so no body type is compiled twice (for bytes and for text).
    let text = std::str::from_utf8(body).map_err(|err| AppError::InvalidRequest {
        message: format!("The request body is not valid JSON: JSON text is UTF-8, and {err}"),
        param: None,
    })?;
    if let Ok(value) = serde_json::from_str(text) {
        return Ok(value);
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let (message, param) = if inner.is_syntax() || inner.is_eof() {
            (format!("The request body is not valid JSON: {inner}"), None)
        } else if path == "." {
            (format!("Invalid request body: {inner}"), None)
        } else {
            (format!("Invalid value at `{path}`: {inner}"), Some(path))
        };
        AppError::InvalidRequest { message, param }
    })?;
    deserializer.end().map_err(|err| AppError::InvalidRequest {
        message: format!("The request body is not valid JSON: {err}"),
        param: None,
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openai::chat::ChatCompletionRequest;

    fn param(body: &str) -> Option<String> {
        match json::<ChatCompletionRequest>(body.as_bytes()) {
            Err(AppError::InvalidRequest { param, .. }) => param,
            other => panic!("{other:?}"),
        }
    }

    /// Bytes that are not UTF-8 are refused as a body that is not JSON, saying where.
    #[test]
    fn a_body_that_is_not_utf8_is_not_json() {
        let body = b"{\"messages\": [{\"role\": \"user\", \"content\": \"\xff\"}]}";
        match json::<ChatCompletionRequest>(body) {
            Err(AppError::InvalidRequest { message, param }) => {
                assert!(
                    message.starts_with("The request body is not valid JSON: "),
                    "{message}"
                );
                assert!(message.ends_with("from index 43"), "{message}");
                assert_eq!(param, None);
            }
            other => panic!("{other:?}"),
        }
    }

    /// Tool schemas are kept as text (`openai::RawJson`): errors around and after them still
    /// name their path, and one that is not JSON is a syntax error, as before.
    #[test]
    fn errors_around_tool_schemas_name_the_path() {
        let tool = r#"{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"a": {"enum": [1, "2"]}}}, "strict": "yes"}}"#;
        assert_eq!(
            param(&format!(r#"{{"messages": [], "tools": [{tool}]}}"#)).as_deref(),
            Some("tools[0].function.strict")
        );
        let fine = tool.replace(r#""yes""#, "true");
        assert_eq!(
            param(&format!(
                r#"{{"messages": [], "tools": [{fine}], "temperature": "hot"}}"#
            ))
            .as_deref(),
            Some("temperature")
        );
        let broken = r#"{"messages": [], "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": }}}]}"#;
        assert_eq!(param(broken), None);
        let request: ChatCompletionRequest =
            json(format!(r#"{{"messages": [], "tools": [{fine}]}}"#).as_bytes()).unwrap();
        let function = request.tools.unwrap().remove(0).function.unwrap();
        assert_eq!(
            function.parameters.unwrap().text(),
            r#"{"type": "object", "properties": {"a": {"enum": [1, "2"]}}}"#
        );
    }

    #[test]
    fn errors_name_the_path() {
        assert_eq!(
            param(r#"{"messages": [{"role": 5}]}"#).as_deref(),
            Some("messages[0].role")
        );
        assert_eq!(param(r#"{"messages": "#), None);
        assert_eq!(param(r#"{"model": "x"}"#), None);
        assert_eq!(param("  "), None);
        assert_eq!(param(r#"[[{"role": "user", "content": "hi"}]]"#), None);
    }

    /// Bytes after the closing brace were ignored: the first parse refused them, the second (which
    /// looks for the failing path) accepted the body as if they were not there.
    #[test]
    fn trailing_bytes_are_refused() {
        for body in [
            r#"{"messages": [{"role": "user", "content": "hi"}]} x"#,
            r#"{"messages": [{"role": "user", "content": "hi"}]}{"model": "other"}"#,
            r#"{"messages": [{"role": "user", "content": "hi"}]}]"#,
        ] {
            match json::<ChatCompletionRequest>(body.as_bytes()) {
                Err(AppError::InvalidRequest { message, param }) => {
                    assert!(message.contains("trailing"), "{message}");
                    assert_eq!(param, None);
                }
                other => panic!("{body}: {other:?}"),
            }
        }
        let spaced = "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\r\n\t ";
        assert!(json::<ChatCompletionRequest>(spaced.as_bytes()).is_ok());
    }

    /// Parts the request cannot carry are named down to the field.
    #[test]
    fn unknown_part_types_and_empty_part_lists_name_the_field() {
        assert_eq!(
            param(
                r#"{"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "video_url", "video_url": {}}]}]}"#
            )
            .as_deref(),
            Some("messages[1].content[1].type")
        );
        assert_eq!(
            param(r#"{"messages": [{"role": "user", "content": []}]}"#).as_deref(),
            Some("messages[0].content")
        );
    }

    /// Any JSON text a client could send, including the shapes of each route's body.
    fn any_json() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            (-1e6..1e6f64).prop_map(serde_json::Value::from),
            "[a-z\"\\\n\u{0416}]{0,6}".prop_map(serde_json::Value::from),
            prop_oneof![
                Just("messages"),
                Just("role"),
                Just("content"),
                Just("type"),
                Just("text"),
                Just("user"),
                Just("input"),
                Just("prompt"),
                Just("model"),
                Just("tools"),
                Just("image_url"),
                Just("stop"),
                Just("n"),
                Just("function"),
                Just("parameters"),
            ]
            .prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(5, 48, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::from),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("messages".to_owned()),
                        Just("role".to_owned()),
                        Just("content".to_owned()),
                        Just("type".to_owned()),
                        Just("text".to_owned()),
                        Just("input".to_owned()),
                        Just("prompt".to_owned()),
                        Just("model".to_owned()),
                        Just("tools".to_owned()),
                        Just("function".to_owned()),
                        Just("stop".to_owned()),
                        Just("image_url".to_owned()),
                        "[a-z_]{1,5}",
                    ],
                    inner,
                    0..5
                )
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
            ]
        })
    }

    /// Every route's body parser gives a value or an invalid-request error, never a panic; it
    /// accepts only a JSON object with nothing after it.
    fn parses_or_refuses(bytes: &[u8]) {
        fn check<T: DeserializeOwned>(bytes: &[u8]) {
            match json::<T>(bytes) {
                Ok(_) => assert!(matches!(
                    serde_json::from_slice::<serde_json::Value>(bytes),
                    Ok(serde_json::Value::Object(_))
                )),
                Err(AppError::InvalidRequest { .. }) => {}
                Err(other) => panic!("{other:?}"),
            }
        }
        check::<ChatCompletionRequest>(bytes);
        check::<openai::completions::CompletionRequest>(bytes);
        check::<openai::embeddings::EmbeddingRequest>(bytes);
        check::<openai::extensions::TokensCountRequest>(bytes);
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(256))]

        #[test]
        fn route_bodies_parse_or_refuse_any_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            parses_or_refuses(&bytes);
        }

        #[test]
        fn route_bodies_parse_or_refuse_any_json(value in any_json(), cut in 0usize..64, tail in "[ }\\]x\n]{0,3}") {
            let text = value.to_string();
            parses_or_refuses(text.as_bytes());
            // Cut short, or followed by more bytes.
            parses_or_refuses(&text.as_bytes()[..text.len().saturating_sub(cut)]);
            parses_or_refuses(format!("{text}{tail}").as_bytes());
            let wrapped = serde_json::json!({"messages": [{"role": "user", "content": value.clone()}], "input": value.clone(), "prompt": value});
            parses_or_refuses(wrapped.to_string().as_bytes());
        }
    }

    /// Bodies past `PARSE_INLINE_MAX` take the blocking-thread path (the one-thread loop runs its
    /// other tasks meanwhile) and come out the same.
    #[tokio::test(flavor = "current_thread")]
    async fn large_bodies_parse_off_the_event_loop_with_the_same_errors() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let ticks = Arc::new(AtomicUsize::new(0));
        let counter = ticks.clone();
        let ticker = tokio::spawn(async move {
            loop {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        });
        // Far past the threshold, so the parse outlasts any delay between handing it to the
        // blocking thread and awaiting it (were it done by then, the loop would not have to wait).
        let text = "x".repeat(PARSE_INLINE_MAX * 32);
        let headers = axum::http::HeaderMap::new();
        let good = format!(r#"{{"messages": [{{"role": "user", "content": "{text}"}}]}}"#);
        let request: ChatCompletionRequest =
            parse(axum::body::Body::from(good), &headers, usize::MAX)
                .await
                .unwrap();
        assert!(
            ticks.load(Ordering::SeqCst) > 0,
            "the loop got no turn while the body was parsed"
        );
        ticker.abort();
        assert_eq!(request.messages.len(), 1);
        let bad =
            format!(r#"{{"messages": [{{"role": "user", "content": "{text}"}}, {{"role": 5}}]}}"#);
        match parse::<ChatCompletionRequest>(axum::body::Body::from(bad), &headers, usize::MAX)
            .await
        {
            Err(AppError::InvalidRequest { param, .. }) => {
                assert_eq!(param.as_deref(), Some("messages[1].role"));
            }
            other => panic!("{other:?}"),
        }
    }
}
