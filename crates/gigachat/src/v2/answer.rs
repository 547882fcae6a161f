//! A v2 answer as a neutral completion: the `reasoning` message's text as reasoning, the
//! assistant's text, calls (with ids), files, web sources and tool runs, the state id from the
//! message or the top level, v2 usage in v1's names; in-band failures become [`Error::InBand`].

use serde_json::Value;

use crate::error::Error;
use crate::types::v2::{ChatV2Response, ContentPart, FunctionCallPart, MessageV2, UsageV2};
use crate::types::{
    ChatCompletion, Choice, FinishReason, FunctionCall, GeneratedFile, Message, Role, Source,
    ToolExecution, Usage,
};

/// What the parts of an answer's (or an event's) messages add up to; calls aside.
#[derive(Debug, Default)]
pub(crate) struct Parts {
    /// The assistant's text.
    pub(crate) text: String,
    /// The `reasoning` messages' text.
    pub(crate) reasoning: String,
    /// Files the answer made.
    pub(crate) files: Vec<GeneratedFile>,
    /// Web sources the text cites.
    pub(crate) sources: Vec<Source>,
    /// Built-in tool runs.
    pub(crate) tool_executions: Vec<ToolExecution>,
    /// The last state id a message carried.
    pub(crate) state_id: Option<String>,
}

impl Parts {
    /// Collects `messages`, handing every `function_call` part to `on_call`.
    pub(crate) fn collect(
        messages: &[MessageV2],
        mut on_call: impl FnMut(&FunctionCallPart),
    ) -> Self {
        let mut parts = Parts::default();
        for message in messages {
            if message.tool_state_id.is_some() {
                parts.state_id.clone_from(&message.tool_state_id);
            }
            let reasoning = message.role == "reasoning";
            for part in &message.content {
                parts.add(part, reasoning, &mut on_call);
            }
        }
        parts
    }

    fn add(
        &mut self,
        part: &ContentPart,
        reasoning: bool,
        on_call: &mut impl FnMut(&FunctionCallPart),
    ) {
        if let Some(text) = &part.text {
            if reasoning {
                self.reasoning.push_str(text);
            } else {
                self.text.push_str(text);
            }
        }
        if let Some(call) = &part.function_call {
            on_call(call);
        }
        self.files
            .extend(part.files.iter().flatten().map(|file| GeneratedFile {
                id: file.id.clone(),
                mime: file.mime.clone(),
                target: file.target.clone(),
            }));
        if let Some(inline) = &part.inline_data {
            self.sources
                .extend(inline.sources.iter().map(|(key, source)| Source {
                    key: key.clone(),
                    url: source.url.clone(),
                    title: source.title.clone(),
                }));
        }
        if let Some(run) = &part.tool_execution {
            self.tool_executions.push(ToolExecution {
                name: run.name.clone(),
                status: run.status.clone(),
                censored: run.censored.unwrap_or(false),
            });
        }
    }
}

/// A whole call part as a call: arguments that came as JSON text are parsed (kept as text when
/// they are not JSON, as v1 keeps what the model produced).
pub(crate) fn whole_call(part: &FunctionCallPart) -> FunctionCall {
    FunctionCall {
        id: part.id.clone(),
        name: part.name.clone().unwrap_or_default(),
        arguments: match &part.arguments {
            None => Value::Object(Default::default()),
            Some(Value::String(text)) => arguments_of(text),
            Some(other) => other.clone(),
        },
    }
}

/// Arguments sent as JSON text: the value, `{}` when empty, the text itself when not JSON.
pub(crate) fn arguments_of(text: &str) -> Value {
    if text.trim().is_empty() {
        return Value::Object(Default::default());
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// v2 usage in v1's names (`input` → `prompt`, `cached` → `precached_prompt`, `output` →
/// `completion`), so the cached-prompt-tokens rule applies as on v1.
pub(crate) fn usage(usage: &UsageV2) -> Usage {
    let total = if usage.total_tokens == 0 {
        usage.input_tokens + usage.output_tokens
    } else {
        usage.total_tokens
    };
    Usage {
        prompt_tokens: usage.input_tokens,
        completion_tokens: usage.output_tokens,
        total_tokens: total,
        precached_prompt_tokens: usage
            .input_tokens_details
            .map(|details| details.cached_tokens)
            .or(usage.precached_prompt_tokens),
        system_tokens: None,
    }
}

/// The in-band failure an answer (or a done event) reports, if any. A call is never a failure:
/// v1's `finish_reason: "error"` with a call is the model's bad arguments, returned as the call.
/// Without a call, `finish_reason: "error"` is one, and so are `error_details` with no tokens.
pub(crate) fn in_band_error(answer: &ChatV2Response, called: bool) -> Option<Error> {
    if called {
        return None;
    }
    let no_tokens = answer
        .usage
        .is_none_or(|usage| usage.output_tokens == 0 && usage.total_tokens == 0);
    let details = answer.error_details.as_ref().filter(|d| !d.is_null());
    let failed =
        answer.finish_reason == Some(FinishReason::Error) || (details.is_some() && no_tokens);
    failed.then(|| Error::InBand(said(details, "finish_reason \"error\"")))
}

/// GigaChat's message in an error object: its `message` (or `description`, `error`) text, else
/// the object itself; `fallback` when there is none.
pub(crate) fn said(error: Option<&Value>, fallback: &str) -> String {
    let Some(error) = error else {
        return fallback.to_owned();
    };
    let text = ["message", "description", "error"]
        .iter()
        .find_map(|key| error.get(key).and_then(Value::as_str))
        .or_else(|| error.as_str());
    match text {
        Some(text) => text.to_owned(),
        None => error.to_string(),
    }
}

/// The neutral completion for a whole v2 answer, or the failure it reports.
pub(crate) fn completion(answer: ChatV2Response) -> Result<ChatCompletion, Error> {
    let mut calls = Vec::new();
    let parts = Parts::collect(&answer.messages, |call| calls.push(whole_call(call)));
    if let Some(error) = in_band_error(&answer, !calls.is_empty()) {
        return Err(error);
    }
    let mut calls = calls.into_iter();
    let mut message = Message::new(Role::Assistant, parts.text);
    message.function_call = calls.next();
    message.parallel_calls = calls.collect();
    message.reasoning_content = (!parts.reasoning.is_empty()).then_some(parts.reasoning);
    message.functions_state_id = parts.state_id.or(answer.tool_state_id);
    message.files = parts.files;
    message.sources = parts.sources;
    message.tool_executions = parts.tool_executions;
    message
        .tool_executions
        .extend(answer.tool_execution.as_ref().map(|run| ToolExecution {
            name: run.name.clone(),
            status: run.status.clone(),
            censored: run.censored.unwrap_or(false),
        }));
    let finish_reason = answer.finish_reason.or_else(|| {
        answer
            .messages
            .iter()
            .rev()
            .find_map(|message| message.finish_reason.clone())
    });
    Ok(ChatCompletion {
        choices: vec![Choice {
            message,
            index: 0,
            finish_reason,
        }],
        created: answer.created_at,
        model: answer.model,
        object: "chat.completion".into(),
        usage: answer.usage.as_ref().map(usage),
        thread_id: answer.thread_id,
        message_id: answer.message_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Verdict;
    use serde_json::json;

    fn answer(value: Value) -> Result<ChatCompletion, Error> {
        completion(serde_json::from_value(value).unwrap())
    }

    #[test]
    fn a_recorded_call_keeps_its_state_id_and_usage_maps_to_v1_names() {
        // test_primary_chat_function_tool_roundtrip.yaml, first answer.
        let done = answer(json!({"model": "GigaChat-3-Ultra:32.3.18.5", "created_at": 1780321868,
            "messages": [{"role": "assistant", "tool_state_id": "019e8373-dc9a-7883-af60-ebb20b79e1e1",
                "content": [{"function_call": {"name": "get_order_status", "arguments": {"order_id": "A-1024"}}}]}],
            "finish_reason": "function_call",
            "usage": {"input_tokens": 88, "input_tokens_details": {"prompt_tokens": 88, "cached_tokens": 12},
                "output_tokens": 25, "total_tokens": 113}}))
        .unwrap();
        let choice = &done.choices[0];
        assert_eq!(choice.finish_reason, Some(FinishReason::FunctionCall));
        let message = &choice.message;
        let call = message.function_call.as_ref().unwrap();
        assert_eq!(
            (call.id.as_deref(), call.name.as_str()),
            (None, "get_order_status")
        );
        assert_eq!(call.arguments, json!({"order_id": "A-1024"}));
        assert_eq!(
            message.functions_state_id.as_deref(),
            Some("019e8373-dc9a-7883-af60-ebb20b79e1e1")
        );
        assert_eq!(
            done.usage,
            Some(Usage {
                prompt_tokens: 88,
                completion_tokens: 25,
                total_tokens: 113,
                precached_prompt_tokens: Some(12),
                system_tokens: None,
            })
        );
        assert_eq!(
            (done.created, done.model.as_str()),
            (1780321868, "GigaChat-3-Ultra:32.3.18.5")
        );
    }

    #[test]
    fn parallel_calls_reasoning_files_sources_and_tool_runs() {
        let done = answer(json!({"model": "m", "created_at": "5", "tools_state_id": "top",
            "messages": [
                {"role": "reasoning", "content": [{"text": "Thinking "}, {"text": "hard"},
                    {"tool_execution": {"name": "web_search", "status": "success", "censored": true}}]},
                {"role": "assistant", "content": [
                    {"files": [{"id": "f1", "mime": "image/jpeg", "target": "image"}]},
                    {"text": "See [sources=[1]]", "inline_data": {"images": [], "sources": {"1": {"url": "https://a", "title": "A"}}}},
                    {"function_call": {"id": "call_a", "name": "f", "arguments": {"x": 1}}},
                    {"function_call": {"id": "call_b", "name": "g", "arguments": "{\"y\": 2}"}}
                ]}
            ],
            "finish_reason": "function_call"}))
        .unwrap();
        let message = &done.choices[0].message;
        assert_eq!(message.reasoning_content.as_deref(), Some("Thinking hard"));
        assert_eq!(message.content, "See [sources=[1]]");
        let calls: Vec<_> = message
            .calls()
            .map(|c| (c.id.clone().unwrap(), c.name.clone(), c.arguments.clone()))
            .collect();
        assert_eq!(
            calls,
            [
                ("call_a".to_owned(), "f".to_owned(), json!({"x": 1})),
                ("call_b".to_owned(), "g".to_owned(), json!({"y": 2}))
            ]
        );
        assert_eq!(message.functions_state_id.as_deref(), Some("top"));
        assert_eq!(
            message.files,
            [GeneratedFile {
                id: "f1".into(),
                mime: Some("image/jpeg".into()),
                target: Some("image".into())
            }]
        );
        assert_eq!(
            message.sources,
            [Source {
                key: "1".into(),
                url: "https://a".into(),
                title: Some("A".into())
            }]
        );
        assert_eq!(
            message.tool_executions,
            [ToolExecution {
                name: "web_search".into(),
                status: Some("success".into()),
                censored: true
            }]
        );
        assert_eq!(done.created, 5);
    }

    #[test]
    fn in_band_failures_are_errors_but_a_call_stays_a_call() {
        let zero = json!({"input_tokens": 0, "output_tokens": 0, "total_tokens": 0});
        for failed in [
            json!({"model": "m", "created_at": 1, "messages": [], "finish_reason": "error", "usage": zero}),
            json!({"model": "m", "created_at": 1, "messages": [], "finish_reason": "stop",
                "usage": zero, "error_details": {"message": "Internal model error"}}),
            json!({"model": "m", "created_at": 1, "messages": [{"role": "assistant", "content": [{"text": "partial"}]}],
                "finish_reason": "error", "error_details": {"code": 500, "message": "Internal model error"}}),
        ] {
            let err = answer(failed.clone()).unwrap_err();
            assert_eq!(err.verdict(), Verdict::UpstreamFailed, "{failed}");
            assert!(matches!(err, Error::InBand(_)), "{failed}");
        }
        let err = answer(
            json!({"model": "m", "created_at": 1, "finish_reason": "error",
            "error_details": {"message": "Internal model error"}}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("Internal model error"), "{err}");
        let call = answer(json!({"model": "m", "created_at": 1, "finish_reason": "error",
            "messages": [{"role": "assistant", "content": [{"function_call": {"name": "f", "arguments": "{oops"}}]}]}))
        .unwrap();
        let message = &call.choices[0].message;
        assert_eq!(
            message.function_call.as_ref().unwrap().arguments,
            json!("{oops")
        );
        assert_eq!(call.choices[0].finish_reason, Some(FinishReason::Error));
    }
}
