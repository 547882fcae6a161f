//! v2 stream events as neutral chunks. Accepts every form GigaChat and its SDKs show: named
//! events (`response.message.delta`, `response.message.done`, `response.tool.*`,
//! `response.error`) or unnamed `data:` lines, a trailing `[DONE]`, v1-style `choices`, and
//! calls whole or as argument fragments keyed by id, each emitted whole in its own chunk at the end.

use serde_json::Value;

use super::answer::{Parts, arguments_of, in_band_error, said, usage};
use crate::error::Error;
use crate::types::v2::{ChatV2Response, FunctionCallPart};
use crate::types::{
    ChatChunk, ChunkChoice, Delta, FinishReason, FunctionCall, ToolExecution, Usage,
};

/// What one event means for the stream.
#[derive(Debug, PartialEq)]
pub(crate) enum Step {
    /// These chunks (possibly none); more events follow.
    More(Vec<ChatChunk>),
    /// These chunks, then the answer is complete.
    End(Vec<ChatChunk>),
}

/// A call being assembled from its parts.
#[derive(Debug)]
struct PendingCall {
    id: Option<String>,
    name: String,
    arguments: Arguments,
}

#[derive(Debug)]
enum Arguments {
    /// JSON text, possibly still in pieces.
    Text(String),
    /// A whole value.
    Whole(Value),
}

/// Reads one v2 stream, event by event.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    model: String,
    created: i64,
    state_id: Option<String>,
    calls: Vec<PendingCall>,
    streamed_text: bool,
    streamed_reasoning: bool,
    /// A finish reason went out (a done event, or a v1-style chunk that had one).
    finished: bool,
}

impl Reader {
    /// Whether the answer is complete, so the body may end here.
    pub(crate) fn finished(&self) -> bool {
        self.finished
    }

    /// The chunks for one event (`name` is its `event:` field, `data` its trimmed data).
    pub(crate) fn event(&mut self, name: Option<&str>, data: &str) -> Result<Step, Error> {
        if data == "[DONE]" {
            self.finished = true;
            return Ok(Step::End(self.call_chunks()));
        }
        let kind = match name {
            None | Some("response.message.delta") => Kind::Delta,
            Some("response.message.done") => Kind::Done,
            Some("response.error") => Kind::Error,
            Some(tool) if tool.starts_with("response.tool.") => Kind::Tool(tool),
            Some(_) => return Ok(Step::More(Vec::new())),
        };
        let payload: ChatV2Response = serde_json::from_str(data).map_err(|err| {
            let shown: String = data.chars().take(120).collect();
            Error::Protocol(format!("unreadable stream event ({err}): {shown}"))
        })?;
        if !payload.model.is_empty() {
            self.model.clone_from(&payload.model);
        }
        if payload.created_at != 0 {
            self.created = payload.created_at;
        }
        match kind {
            Kind::Error => Err(Error::InBand(said(
                payload.error.as_ref().or(payload.error_details.as_ref()),
                data,
            ))),
            Kind::Tool(name) => Ok(Step::More(self.tool_chunk(&payload, name))),
            Kind::Done => self.done(payload),
            Kind::Delta if !payload.choices.is_empty() => Ok(Step::More(self.v1_chunk(payload))),
            // Unnamed events: the one with a finish reason is the done event.
            Kind::Delta if name.is_none() && payload.finish_reason.is_some() => self.done(payload),
            Kind::Delta => Ok(Step::More(self.delta(&payload).into_iter().collect())),
        }
    }

    /// A delta's text, reasoning, files, sources and tool runs; its calls are kept for the end.
    fn delta(&mut self, payload: &ChatV2Response) -> Option<ChatChunk> {
        let mut calls = Vec::new();
        let parts = Parts::collect(&payload.messages, |call| calls.push(call.clone()));
        for call in &calls {
            self.add_call(call, false);
        }
        if parts.state_id.is_some() {
            self.state_id = parts.state_id.clone();
        }
        self.streamed_text |= !parts.text.is_empty();
        self.streamed_reasoning |= !parts.reasoning.is_empty();
        let delta = delta_of(parts, true, true);
        (delta != Delta::default()).then(|| self.chunk(delta, None, None, payload))
    }

    /// `response.tool.*`: the tool runs it reports (a finished run without a status gets the
    /// event's), and any reasoning text.
    fn tool_chunk(&mut self, payload: &ChatV2Response, name: &str) -> Vec<ChatChunk> {
        let mut chunk = self.delta(payload);
        let status = match name {
            "response.tool.completed" => Some("success"),
            "response.tool.failed" => Some("fail"),
            _ => None,
        };
        let top = payload.tool_execution.as_ref().map(|run| ToolExecution {
            name: run.name.clone(),
            status: run.status.clone(),
            censored: run.censored.unwrap_or(false),
        });
        if top.is_some() && chunk.is_none() {
            chunk = Some(self.chunk(Delta::default(), None, None, payload));
        }
        let Some(mut chunk) = chunk else {
            return Vec::new();
        };
        for choice in &mut chunk.choices {
            choice.delta.tool_executions.extend(top.clone());
            for run in &mut choice.delta.tool_executions {
                if run.status.is_none() {
                    run.status = status.map(str::to_owned);
                }
            }
        }
        vec![chunk]
    }

    /// `response.message.done`: what it adds (text only when none was streamed; calls as a
    /// snapshot), every call whole in its own chunk, then the finish reason and usage.
    fn done(&mut self, payload: ChatV2Response) -> Result<Step, Error> {
        let mut calls = Vec::new();
        let parts = Parts::collect(&payload.messages, |call| calls.push(call.clone()));
        for call in &calls {
            self.add_call(call, true);
        }
        if let Some(error) = in_band_error(&payload, !self.calls.is_empty()) {
            return Err(error);
        }
        if let Some(state_id) = parts.state_id.clone().or(payload.tool_state_id.clone()) {
            self.state_id = Some(state_id);
        }
        let mut out = Vec::new();
        let delta = delta_of(parts, !self.streamed_text, !self.streamed_reasoning);
        if delta != Delta::default() {
            out.push(self.chunk(delta, None, None, &payload));
        }
        out.extend(self.call_chunks());
        let finish = payload.finish_reason.clone().or_else(|| {
            payload
                .messages
                .iter()
                .rev()
                .find_map(|message| message.finish_reason.clone())
        });
        let usage = payload.usage.as_ref().map(usage);
        out.push(self.chunk(Delta::default(), finish, usage, &payload));
        self.finished = true;
        Ok(Step::End(out))
    }

    /// A v1-shaped event on the v2 stream, passed through with v2 usage in v1's names.
    fn v1_chunk(&mut self, payload: ChatV2Response) -> Vec<ChatChunk> {
        self.finished |= payload.choices.iter().any(|c| c.finish_reason.is_some());
        vec![ChatChunk {
            choices: payload.choices,
            created: self.created,
            model: self.model.clone(),
            object: "chat.completion".into(),
            usage: payload.usage.as_ref().map(usage),
            thread_id: payload.thread_id,
            message_id: payload.message_id,
        }]
    }

    /// Adds a call part: a fragment extends the call of its id (or the last call, when it has
    /// neither id nor name); in a `snapshot` (the done event) a part replaces what was assembled.
    fn add_call(&mut self, part: &FunctionCallPart, snapshot: bool) {
        let found = match (&part.id, &part.name) {
            (Some(id), _) => self
                .calls
                .iter()
                .position(|call| call.id.as_ref() == Some(id)),
            (None, Some(name)) => self
                .calls
                .iter()
                .position(|call| call.id.is_none() && &call.name == name),
            (None, None) => self.calls.len().checked_sub(1),
        };
        let arguments = match &part.arguments {
            None => None,
            Some(Value::String(piece)) => Some(Arguments::Text(piece.clone())),
            Some(whole) => Some(Arguments::Whole(whole.clone())),
        };
        let Some(index) = found else {
            self.calls.push(PendingCall {
                id: part.id.clone(),
                name: part.name.clone().unwrap_or_default(),
                arguments: arguments.unwrap_or(Arguments::Text(String::new())),
            });
            return;
        };
        let call = &mut self.calls[index];
        if let Some(name) = &part.name {
            call.name.clone_from(name);
        }
        match (&mut call.arguments, arguments) {
            (_, None) => {}
            (Arguments::Text(text), Some(Arguments::Text(piece))) if !snapshot => {
                text.push_str(&piece);
            }
            (slot, Some(arguments)) => *slot = arguments,
        }
    }

    /// Every assembled call, whole, one chunk each (with the state id), in arrival order.
    fn call_chunks(&mut self) -> Vec<ChatChunk> {
        let calls = std::mem::take(&mut self.calls);
        calls
            .into_iter()
            .map(|call| {
                let delta = Delta {
                    function_call: Some(FunctionCall {
                        id: call.id,
                        name: call.name,
                        arguments: match call.arguments {
                            Arguments::Text(text) => arguments_of(&text),
                            Arguments::Whole(value) => value,
                        },
                    }),
                    functions_state_id: self.state_id.clone(),
                    ..Delta::default()
                };
                self.chunk(delta, None, None, &ChatV2Response::default())
            })
            .collect()
    }

    fn chunk(
        &self,
        delta: Delta,
        finish_reason: Option<FinishReason>,
        usage: Option<Usage>,
        payload: &ChatV2Response,
    ) -> ChatChunk {
        ChatChunk {
            choices: vec![ChunkChoice {
                delta,
                index: 0,
                finish_reason,
            }],
            created: self.created,
            model: self.model.clone(),
            object: "chat.completion".into(),
            usage,
            thread_id: payload.thread_id.clone(),
            message_id: payload.message_id.clone(),
        }
    }
}

enum Kind<'a> {
    Delta,
    Done,
    Error,
    Tool(&'a str),
}

/// A delta of the collected parts (the text and reasoning only when asked for).
fn delta_of(parts: Parts, text: bool, reasoning: bool) -> Delta {
    Delta {
        content: (text && !parts.text.is_empty()).then_some(parts.text),
        reasoning_content: (reasoning && !parts.reasoning.is_empty()).then_some(parts.reasoning),
        files: parts.files,
        sources: parts.sources,
        tool_executions: parts.tool_executions,
        ..Delta::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Verdict;
    use serde_json::json;

    /// Feeds `(name, data)` events; returns every chunk and whether the last event ended it.
    fn read(events: &[(Option<&str>, Value)]) -> Result<(Vec<ChatChunk>, bool), Error> {
        let mut reader = Reader::default();
        let mut chunks = Vec::new();
        let mut ended = false;
        for (name, data) in events {
            let data = match data {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            match reader.event(*name, &data)? {
                Step::More(more) => chunks.extend(more),
                Step::End(last) => {
                    chunks.extend(last);
                    ended = true;
                }
            }
        }
        Ok((chunks, ended))
    }

    const DELTA: Option<&str> = Some("response.message.delta");
    const DONE: Option<&str> = Some("response.message.done");

    fn text(chunks: &[ChatChunk]) -> String {
        chunks
            .iter()
            .filter_map(|c| c.choices[0].delta.content.clone())
            .collect()
    }

    fn calls(chunks: &[ChatChunk]) -> Vec<(Option<String>, String, Value, Option<String>)> {
        chunks
            .iter()
            .filter_map(|c| {
                let delta = &c.choices[0].delta;
                let call = delta.function_call.clone()?;
                Some((
                    call.id,
                    call.name,
                    call.arguments,
                    delta.functions_state_id.clone(),
                ))
            })
            .collect()
    }

    fn text_event(text: &str) -> Value {
        json!({"model": "m", "created_at": 7, "messages": [{"role": "assistant", "content": [{"text": text}]}]})
    }

    fn done_event(finish: &str) -> Value {
        json!({"model": "m", "created_at": 7, "finish_reason": finish,
            "usage": {"input_tokens": 19, "input_tokens_details": {"prompt_tokens": 19, "cached_tokens": 4}, "output_tokens": 8, "total_tokens": 27}})
    }

    #[test]
    fn the_recorded_stream_ends_on_done_with_usage() {
        let (chunks, ended) =
            read(&[(DELTA, text_event("1, 2, 3")), (DONE, done_event("stop"))]).unwrap();
        assert!(ended);
        assert_eq!(text(&chunks), "1, 2, 3");
        let last = chunks.last().unwrap();
        assert_eq!(last.choices[0].finish_reason, Some(FinishReason::Stop));
        let usage = last.usage.unwrap();
        assert_eq!(
            (
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.precached_prompt_tokens
            ),
            (19, 8, Some(4))
        );
        assert_eq!((last.model.as_str(), last.created), ("m", 7));
    }

    #[test]
    fn unnamed_events_string_times_and_a_trailing_done_marker() {
        let mut first = text_event("a");
        first["created_at"] = json!("1780321864");
        let mut reader = Reader::default();
        let step = reader.event(None, &first.to_string()).unwrap();
        let Step::More(chunks) = step else {
            panic!("{step:?}")
        };
        assert_eq!(chunks[0].created, 1780321864);
        let Step::End(last) = reader.event(None, &done_event("stop").to_string()).unwrap() else {
            panic!("an unnamed event with a finish reason is the done event")
        };
        assert_eq!(
            last.last().unwrap().choices[0].finish_reason,
            Some(FinishReason::Stop)
        );
        assert!(reader.finished());
        // `[DONE]` alone also ends a stream (the internal docs' v2 form).
        let (_, ended) = read(&[(None, text_event("a")), (None, json!("[DONE]"))]).unwrap();
        assert!(ended);
    }

    #[test]
    fn v1_style_choices_pass_through() {
        let (chunks, _) = read(&[(
            DELTA,
            json!({"model": "m", "created": 3, "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}}),
        )])
        .unwrap();
        assert_eq!(text(&chunks), "hi");
        assert_eq!(chunks[0].created, 3);
        assert_eq!(chunks[0].usage.unwrap().prompt_tokens, 2);
    }

    #[test]
    fn whole_parallel_calls_come_one_per_chunk_with_their_ids_and_state() {
        let (chunks, _) = read(&[
            (
                DELTA,
                json!({"model": "m", "created_at": 1, "messages": [{"role": "assistant", "tool_state_id": "s1",
                    "content": [{"function_call": {"id": "call_a", "name": "f", "arguments": {"x": 1}}}]}]}),
            ),
            (
                DELTA,
                json!({"model": "m", "created_at": 1, "messages": [{"role": "assistant",
                    "content": [{"function_call": {"id": "call_b", "name": "g", "arguments": {"y": 2}}}]}]}),
            ),
            (DONE, done_event("function_call")),
        ])
        .unwrap();
        assert_eq!(
            calls(&chunks),
            [
                (
                    Some("call_a".into()),
                    "f".into(),
                    json!({"x": 1}),
                    Some("s1".into())
                ),
                (
                    Some("call_b".into()),
                    "g".into(),
                    json!({"y": 2}),
                    Some("s1".into())
                )
            ]
        );
        assert_eq!(
            chunks.last().unwrap().choices[0].finish_reason,
            Some(FinishReason::FunctionCall)
        );
    }

    #[test]
    fn argument_fragments_are_assembled_by_id_and_a_done_snapshot_does_not_duplicate() {
        let fragment = |part: Value| json!({"model": "m", "created_at": 1, "messages": [{"role": "assistant", "content": [{"function_call": part}]}]});
        let mut done = done_event("function_call");
        done["tools_state_id"] = json!("s9");
        done["messages"] = json!([{"role": "assistant", "content": [
            {"function_call": {"id": "a", "name": "f", "arguments": {"city": "Paris"}}}
        ]}]);
        let (chunks, _) = read(&[
            (
                DELTA,
                fragment(json!({"id": "a", "name": "f", "arguments": "{\"ci"})),
            ),
            (
                DELTA,
                fragment(json!({"id": "b", "name": "g", "arguments": ""})),
            ),
            (
                DELTA,
                fragment(json!({"id": "a", "arguments": "ty\": \"Paris\"}"})),
            ),
            (DELTA, fragment(json!({"id": "b", "arguments": "{}"}))),
            (DONE, done),
        ])
        .unwrap();
        assert_eq!(
            calls(&chunks),
            [
                (
                    Some("a".into()),
                    "f".into(),
                    json!({"city": "Paris"}),
                    Some("s9".into())
                ),
                (Some("b".into()), "g".into(), json!({}), Some("s9".into()))
            ]
        );
        // Without ids: the first fragment names the call, the rest extend it.
        let (chunks, _) = read(&[
            (
                DELTA,
                fragment(json!({"name": "f", "arguments": "{\"n\":"})),
            ),
            (DELTA, fragment(json!({"arguments": " 1}"}))),
            (DONE, done_event("function_call")),
        ])
        .unwrap();
        assert_eq!(calls(&chunks), [(None, "f".into(), json!({"n": 1}), None)]);
    }

    #[test]
    fn reasoning_and_tool_events_become_deltas() {
        let (chunks, _) = read(&[
            (
                DELTA,
                json!({"model": "m", "created_at": 1, "messages": [{"role": "reasoning", "content": [{"text": "hmm"}]}]}),
            ),
            (
                Some("response.tool.in_progress"),
                json!({"model": "m", "created_at": 1, "messages": [{"role": "reasoning", "content": [{"tool_execution": {"name": "web_search", "seconds_left": 3}}]}]}),
            ),
            (
                Some("response.tool.completed"),
                json!({"model": "m", "created_at": 1, "messages": [{"role": "reasoning", "content": [{"tool_execution": {"name": "web_search", "censored": true}}]}]}),
            ),
            (
                DELTA,
                json!({"model": "m", "created_at": 1, "messages": [{"role": "assistant", "content": [
                    {"text": "x [sources=[1]]", "inline_data": {"sources": {"1": {"url": "https://a"}}}},
                    {"files": [{"id": "f1", "target": "image"}]}]}]}),
            ),
            (Some("response.something.new"), json!("not even json")),
            (DONE, done_event("stop")),
        ])
        .unwrap();
        assert_eq!(
            chunks[0].choices[0].delta.reasoning_content.as_deref(),
            Some("hmm")
        );
        let runs: Vec<_> = chunks[1..3]
            .iter()
            .map(|c| c.choices[0].delta.tool_executions.clone())
            .collect();
        assert_eq!(
            runs,
            [
                vec![ToolExecution {
                    name: "web_search".into(),
                    status: None,
                    censored: false
                }],
                vec![ToolExecution {
                    name: "web_search".into(),
                    status: Some("success".into()),
                    censored: true
                }]
            ]
        );
        let delta = &chunks[3].choices[0].delta;
        assert_eq!(delta.content.as_deref(), Some("x [sources=[1]]"));
        assert_eq!(delta.sources[0].url, "https://a");
        assert_eq!(delta.files[0].id, "f1");
        assert_eq!(chunks.len(), 5);
    }

    #[test]
    fn in_band_failures_are_errors_and_a_failed_call_stays_a_call() {
        let mut failed = done_event("error");
        failed["usage"] = json!({"input_tokens": 0, "output_tokens": 0, "total_tokens": 0});
        failed["error_details"] = json!({"message": "Internal model error"});
        let err = read(&[(DELTA, text_event("par")), (DONE, failed)]).unwrap_err();
        assert!(
            matches!(err, Error::InBand(ref said) if said == "Internal model error"),
            "{err}"
        );
        assert_eq!(err.verdict(), Verdict::UpstreamFailed);
        let err = read(&[
            (DELTA, text_event("par")),
            (
                Some("response.error"),
                json!({"model": "m", "created_at": 1, "error": {"message": "Model overloaded", "code": 503}}),
            ),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("Model overloaded"), "{err}");
        // finish_reason "error" with a call: the model's bad arguments, returned as the call.
        let (chunks, _) = read(&[
            (
                DELTA,
                json!({"model": "m", "created_at": 1, "messages": [{"role": "assistant",
                    "content": [{"function_call": {"name": "f", "arguments": "{broken"}}]}]}),
            ),
            (DONE, done_event("error")),
        ])
        .unwrap();
        assert_eq!(calls(&chunks), [(None, "f".into(), json!("{broken"), None)]);
    }

    /// Every recorded v2 answer (`test_primary_*` cassettes) reads into the neutral model: whole
    /// answers complete, streams end on their done event with usage.
    #[test]
    fn recorded_v2_answers_read_into_the_neutral_model() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/gigachat-fixtures/cassettes");
        let (mut whole, mut streamed) = (0, 0);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if !path.to_string_lossy().contains("test_primary_") {
                continue;
            }
            let cassette: serde_norway::Value =
                serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            for interaction in cassette["interactions"].as_sequence().unwrap() {
                let uri = interaction["request"]["uri"].as_str().unwrap();
                let body = interaction["response"]["body"]["string"]
                    .as_str()
                    .unwrap_or("");
                let status = interaction["response"]["status"]["code"].as_u64().unwrap();
                if !uri.ends_with("/v2/chat/completions") || status != 200 {
                    continue;
                }
                let what = path.display();
                if body.trim_start().starts_with('{') {
                    let answer = serde_json::from_str(body).unwrap();
                    let done = crate::v2::answer::completion(answer).unwrap();
                    let message = &done.choices[0].message;
                    assert!(
                        !message.content.is_empty() || message.function_call.is_some(),
                        "{what}"
                    );
                    assert!(done.usage.is_some(), "{what}");
                    whole += 1;
                    continue;
                }
                let mut decoder = crate::sse::SseDecoder::new();
                decoder.feed(body.as_bytes());
                decoder.finish();
                let events: Vec<_> = std::iter::from_fn(|| decoder.next_event())
                    .map(|event| (event.event, Value::String(event.data)))
                    .collect();
                let events: Vec<_> = events
                    .iter()
                    .map(|(name, data)| (name.as_deref(), data.clone()))
                    .collect();
                let (chunks, ended) = read(&events).unwrap();
                assert!(ended, "{what}");
                assert!(!text(&chunks).is_empty(), "{what}");
                assert!(chunks.last().unwrap().usage.is_some(), "{what}");
                streamed += 1;
            }
        }
        assert!(
            whole >= 6 && streamed >= 2,
            "{whole} whole, {streamed} streamed"
        );
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        let err = read(&[(DELTA, json!("{not json"))]).unwrap_err();
        assert_eq!(err.verdict(), Verdict::BadResponse);
    }
}
