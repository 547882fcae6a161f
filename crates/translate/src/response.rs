//! GigaChat answers → OpenAI answers: ids, choices, finish reasons and usage.

use gigachat_types as gc;
use gigachat_types::CachedPromptTokens;
use openai::chat::{
    ChatCompletion, Choice, CompletionTokensDetails, PromptTokensDetails, ResponseMessage, Usage,
};

use serde_json::Value;

use crate::request::{ChatPlan, OutputFormat};
use crate::schema::Restore;
use crate::stop::cut_at_stop;
use crate::think::split_think;

/// The identity every part of one OpenAI answer shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseIds {
    /// `chatcmpl-...`.
    pub id: String,
    /// Unix seconds.
    pub created: i64,
}

/// GigaChat's finish reason in OpenAI's vocabulary (`blacklist` → `content_filter`).
pub fn finish_reason(reason: Option<&gc::FinishReason>) -> &'static str {
    match reason {
        Some(gc::FinishReason::Length) => "length",
        Some(gc::FinishReason::FunctionCall) => "tool_calls",
        Some(gc::FinishReason::Blacklist) => "content_filter",
        Some(gc::FinishReason::Stop | gc::FinishReason::Error | gc::FinishReason::Unknown)
        | None => "stop",
    }
}

/// GigaChat usage in OpenAI's shape; every answer's usage (chat, streams, legacy completions) is
/// made here. OpenAI's `prompt_tokens` counts cached tokens, GigaChat's leaves them out (see
/// [`CachedPromptTokens`]), so by default `prompt_tokens` = GigaChat's prompt + precached,
/// `cached_tokens` = precached and `total_tokens` = that prompt + completion.
pub fn usage(usage: &gc::Usage, cached_prompt_tokens: CachedPromptTokens) -> Usage {
    let cached = usage.precached_prompt_tokens.unwrap_or(0);
    let prompt_tokens = match cached_prompt_tokens {
        CachedPromptTokens::Excluded => usage.prompt_tokens.saturating_add(cached),
        CachedPromptTokens::Included => usage.prompt_tokens,
    };
    Usage {
        prompt_tokens,
        completion_tokens: usage.completion_tokens,
        total_tokens: prompt_tokens.saturating_add(usage.completion_tokens),
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: cached,
        }),
        completion_tokens_details: Some(CompletionTokensDetails {
            reasoning_tokens: 0,
        }),
    }
}

/// Usage of `n` upstream calls for one request: the prompt counted once, completions summed.
pub fn combined_usage<'a>(
    usages: impl IntoIterator<Item = &'a gc::Usage>,
    cached_prompt_tokens: CachedPromptTokens,
) -> Option<Usage> {
    let mut usages = usages.into_iter();
    let first = usages.next()?;
    let mut total = *first;
    for extra in usages {
        total.completion_tokens = total
            .completion_tokens
            .saturating_add(extra.completion_tokens);
    }
    Some(usage(&total, cached_prompt_tokens))
}

/// GigaChat's answer broke the requested output format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputError {
    /// `json_object` was asked for and the text is not one JSON object.
    #[error(
        "GigaChat's answer is not a JSON object although response_format json_object was requested"
    )]
    NotJsonObject,
}

/// The JSON object in `text` (surrounding whitespace and Markdown code fences removed), if it is one.
pub fn json_object_text(text: &str) -> Option<String> {
    let trimmed = text.trim();
    let unfenced = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.strip_suffix("```"))
        .map_or(trimmed, str::trim);
    matches!(
        serde_json::from_str::<Value>(unfenced),
        Ok(Value::Object(_))
    )
    .then(|| unfenced.to_owned())
}

/// One GigaChat choice as an OpenAI message and finish reason.
fn choice_message(
    message: &gc::Message,
    reason: Option<&gc::FinishReason>,
    plan: &ChatPlan,
    unique: &str,
) -> Result<(ResponseMessage, &'static str), OutputError> {
    let inline = split_think(&message.content);
    let mut out = ResponseMessage {
        role: "assistant".into(),
        content: None,
        refusal: None,
        tool_calls: None,
        function_call: None,
        reasoning_content: joined_reasoning(message.reasoning_content.as_deref(), inline.reasoning),
        annotations: Vec::new(),
        builtin_calls: crate::builtins::answer_calls(message, &plan.upstream),
    };
    if let (Some(_), Some(tools)) = (&message.function_call, &plan.tools) {
        // Every call of the answer (v2 makes several at once), ids carrying the shared state.
        let mut tool_calls = message.calls().enumerate().map(|(position, call)| {
            tools.tool_call(
                call,
                message.functions_state_id.as_deref(),
                position,
                unique,
            )
        });
        out.content = Some(inline.content).filter(|text| !text.is_empty());
        if tools.legacy {
            // A legacy `function_call` holds one call (and v2 was asked for one).
            out.function_call = tool_calls.next().map(|call| call.function);
            return Ok((out, "function_call"));
        }
        out.tool_calls = Some(tool_calls.collect());
        return Ok((out, "tool_calls"));
    }
    let cited = cited_text(&inline.content, message, plan);
    let (text, stopped) = cut_at_stop(cited.as_ref().map_or(&inline.content, |c| &c.0), &plan.stop);
    if let Some((_, marks)) = &cited {
        out.annotations =
            crate::citations::annotations(marks, &message.sources, text.chars().count());
    }
    let reason = if stopped {
        "stop"
    } else {
        match finish_reason(reason) {
            // A call finish without a call (or GigaChat's `error` without one) is a plain end.
            "tool_calls" => "stop",
            other => other,
        }
    };
    out.content = Some(match &plan.output {
        OutputFormat::Text => text,
        OutputFormat::JsonObject if reason == "length" => text,
        OutputFormat::JsonObject => json_object_text(&text).ok_or(OutputError::NotJsonObject)?,
        OutputFormat::JsonSchema(restore) => restored_json(text, restore),
    });
    Ok((out, reason))
}

/// GigaChat's reasoning, then what the text held inside `<think>` tags; `None` when both are empty.
fn joined_reasoning(reported: Option<&str>, inline: String) -> Option<String> {
    match reported.filter(|text| !text.is_empty()) {
        Some(reported) if inline.is_empty() => Some(reported.to_owned()),
        // As a stream sends them: one after the other.
        Some(reported) => Some(format!("{reported}{inline}")),
        None => Some(inline).filter(|text| !text.is_empty()),
    }
}

/// The text with web-search markers rewritten and their marks, when the answer may cite sources.
fn cited_text(
    text: &str,
    message: &gc::Message,
    plan: &ChatPlan,
) -> Option<(String, Vec<crate::citations::Mark>)> {
    (!message.sources.is_empty() || crate::builtins::offers_web_search(&plan.upstream))
        .then(|| crate::citations::rewrite(text))
}

/// Structured output with the schema's re-typed values restored (unchanged when nothing to restore).
fn restored_json(text: String, restore: &Restore) -> String {
    if *restore == Restore::Keep {
        return text;
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(mut value) => {
            restore.apply(&mut value);
            value.to_string()
        }
        Err(_) => text,
    }
}

/// The OpenAI answer for the `n` GigaChat answers of one request (one per choice): stop sequences
/// applied, function calls as tool calls, the output format checked.
pub fn chat_response(
    answers: &[gc::ChatCompletion],
    ids: &ResponseIds,
    plan: &ChatPlan,
    cached_prompt_tokens: CachedPromptTokens,
) -> Result<ChatCompletion, OutputError> {
    let model = answers
        .first()
        .map(|answer| answer.model.clone())
        .unwrap_or_default();
    let mut choices = Vec::new();
    for (index, choice) in answers.iter().flat_map(|a| a.choices.iter()).enumerate() {
        let unique = format!("{}{index}", ids.id);
        let (message, reason) = choice_message(
            &choice.message,
            choice.finish_reason.as_ref(),
            plan,
            &unique,
        )?;
        choices.push(Choice {
            index: u32::try_from(index).unwrap_or(u32::MAX),
            message,
            logprobs: None,
            finish_reason: Some(reason.into()),
        });
    }
    Ok(ChatCompletion {
        id: ids.id.clone(),
        object: "chat.completion".into(),
        created: ids.created,
        model,
        choices,
        usage: combined_usage(
            answers.iter().filter_map(|a| a.usage.as_ref()),
            cached_prompt_tokens,
        ),
        system_fingerprint: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(text: &str, reason: gc::FinishReason, completion: u32) -> gc::ChatCompletion {
        serde_json::from_value(serde_json::json!({
            "choices": [{"message": {"content": text, "role": "assistant"}, "index": 0, "finish_reason": reason}],
            "created": 1, "model": "GigaChat:2.0.28.2", "object": "chat.completion",
            "usage": {"prompt_tokens": 10, "completion_tokens": completion, "total_tokens": 10 + completion - 4, "precached_prompt_tokens": 4}
        }))
        .unwrap()
    }

    #[test]
    fn choices_are_indexed_and_usage_combined() {
        let ids = ResponseIds {
            id: "chatcmpl-x".into(),
            created: 7,
        };
        let plan = ChatPlan {
            upstream: gc::ChatRequest::default(),
            tools: None,
            output: OutputFormat::Text,
            n: 2,
            stop: vec!["END".into()],
            stream: false,
            include_usage: false,
        };
        let response = chat_response(
            &[
                answer("one END two", gc::FinishReason::Stop, 3),
                answer("cut", gc::FinishReason::Blacklist, 5),
            ],
            &ids,
            &plan,
            CachedPromptTokens::Excluded,
        )
        .unwrap();
        assert_eq!(response.model, "GigaChat:2.0.28.2");
        assert_eq!(response.choices[0].message.content.as_deref(), Some("one "));
        assert_eq!(response.choices[1].index, 1);
        assert_eq!(
            response.choices[1].finish_reason.as_deref(),
            Some("content_filter")
        );
        let usage = response.usage.unwrap();
        // The prompt (10 uncached + 4 cached) counted once, completions 3 + 5 summed.
        assert_eq!(
            (
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.total_tokens
            ),
            (14, 8, 22)
        );
        assert_eq!(usage.prompt_tokens_details.unwrap().cached_tokens, 4);
    }

    /// v2 answers several calls at once: each becomes a tool call whose id carries the shared
    /// state id and GigaChat's call id; legacy `functions` clients get the first.
    #[test]
    fn every_call_of_an_answer_becomes_a_tool_call() {
        let state = "0199e210-2f13-744c-8fe5-c9a19fe27db7";
        let mut answer = answer("", gc::FinishReason::FunctionCall, 9);
        let message = &mut answer.choices[0].message;
        message.functions_state_id = Some(state.into());
        let call = |id: &str, name: &str, arguments| gc::FunctionCall {
            id: Some(id.into()),
            name: name.into(),
            arguments,
        };
        message.function_call = Some(call(
            "call_a",
            "get_weather",
            serde_json::json!({"city": "Kazan"}),
        ));
        message.parallel_calls = vec![call(
            "call_b",
            "get_rate",
            serde_json::json!({"currency": "USD"}),
        )];
        let ids = ResponseIds {
            id: "chatcmpl-x".into(),
            created: 7,
        };
        let tools = |body: serde_json::Value| {
            crate::tools::Toolset::from_request(
                &serde_json::from_value(body).unwrap(),
                &mut crate::schema::ExpansionBudget::default(),
            )
            .unwrap()
        };
        let mut plan = ChatPlan {
            upstream: gc::ChatRequest::default(),
            tools: tools(serde_json::json!({"messages": [], "tools": [
                {"type": "function", "function": {"name": "get_weather"}},
                {"type": "function", "function": {"name": "get_rate"}}
            ]})),
            output: OutputFormat::Text,
            n: 1,
            stop: Vec::new(),
            stream: false,
            include_usage: false,
        };
        let response = chat_response(
            std::slice::from_ref(&answer),
            &ids,
            &plan,
            CachedPromptTokens::Excluded,
        )
        .unwrap();
        let choice = &response.choices[0];
        assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
        let calls = choice.message.tool_calls.as_ref().unwrap();
        let seen: Vec<(&str, &str, crate::tools::CallRef)> = calls
            .iter()
            .map(|c| {
                (
                    c.function.name.as_str(),
                    c.function.arguments.as_str(),
                    crate::tools::decode_call_id(&c.id),
                )
            })
            .collect();
        let reference = |call: &str| crate::tools::CallRef {
            state_id: Some(state.into()),
            call_id: Some(call.into()),
        };
        assert_eq!(
            seen,
            [
                ("get_weather", r#"{"city":"Kazan"}"#, reference("call_a")),
                ("get_rate", r#"{"currency":"USD"}"#, reference("call_b"))
            ]
        );

        plan.tools = tools(serde_json::json!({"messages": [], "functions": [
            {"name": "get_weather"}, {"name": "get_rate"}
        ]}));
        let legacy = chat_response(&[answer], &ids, &plan, CachedPromptTokens::Excluded).unwrap();
        let message = &legacy.choices[0].message;
        assert_eq!(message.function_call.as_ref().unwrap().name, "get_weather");
        assert_eq!(message.tool_calls, None);
    }

    fn recorded_usage() -> gc::Usage {
        // `test_chat_simple.yaml`: "Say 'Hello'" → 17 + 3 = 20 with 2 precached.
        serde_json::from_value(serde_json::json!({
            "prompt_tokens": 17, "completion_tokens": 3, "total_tokens": 20, "precached_prompt_tokens": 2
        }))
        .unwrap()
    }

    #[test]
    fn cached_tokens_are_added_to_the_prompt_by_default() {
        let openai = usage(&recorded_usage(), CachedPromptTokens::default());
        assert_eq!(
            (
                openai.prompt_tokens,
                openai.completion_tokens,
                openai.total_tokens
            ),
            (19, 3, 22)
        );
        assert_eq!(openai.prompt_tokens_details.unwrap().cached_tokens, 2);
        assert_eq!(
            openai.completion_tokens_details.unwrap().reasoning_tokens,
            0
        );
    }

    #[test]
    fn cached_tokens_already_in_the_prompt_are_passed_through() {
        let openai = usage(&recorded_usage(), CachedPromptTokens::Included);
        assert_eq!(
            (
                openai.prompt_tokens,
                openai.completion_tokens,
                openai.total_tokens
            ),
            (17, 3, 20)
        );
        assert_eq!(openai.prompt_tokens_details.unwrap().cached_tokens, 2);
    }

    #[test]
    fn usage_without_precached_tokens_is_unchanged() {
        let mut gigachat = recorded_usage();
        gigachat.precached_prompt_tokens = None;
        let openai = usage(&gigachat, CachedPromptTokens::Excluded);
        assert_eq!((openai.prompt_tokens, openai.total_tokens), (17, 20));
        assert_eq!(openai.prompt_tokens_details.unwrap().cached_tokens, 0);
    }

    #[test]
    fn json_object_text_accepts_fenced_objects_only() {
        assert_eq!(
            json_object_text(" {\"a\": 1} ").as_deref(),
            Some("{\"a\": 1}")
        );
        assert_eq!(
            json_object_text("```json\n{\"a\":1}\n```").as_deref(),
            Some("{\"a\":1}")
        );
        assert_eq!(json_object_text("[1]"), None);
        assert_eq!(json_object_text("Sure! {\"a\":1}"), None);
    }

    #[test]
    fn finish_reasons() {
        assert_eq!(finish_reason(Some(&gc::FinishReason::Length)), "length");
        assert_eq!(
            finish_reason(Some(&gc::FinishReason::FunctionCall)),
            "tool_calls"
        );
        assert_eq!(finish_reason(None), "stop");
    }

    #[test]
    fn think_tags_and_reported_reasoning_become_reasoning_content() {
        let ids = ResponseIds {
            id: "chatcmpl-x".into(),
            created: 7,
        };
        let plan = ChatPlan {
            upstream: gc::ChatRequest::default(),
            tools: None,
            output: OutputFormat::Text,
            n: 1,
            stop: Vec::new(),
            stream: false,
            include_usage: false,
        };
        let mut tagged = answer("<think>Считаю.</think>\n\n4", gc::FinishReason::Stop, 3);
        let response =
            chat_response(&[tagged.clone()], &ids, &plan, CachedPromptTokens::Excluded).unwrap();
        let message = &response.choices[0].message;
        assert_eq!(message.content.as_deref(), Some("4"));
        assert_eq!(message.reasoning_content.as_deref(), Some("Считаю."));
        tagged.choices[0].message.reasoning_content = Some("Сначала. ".into());
        let response = chat_response(&[tagged], &ids, &plan, CachedPromptTokens::Excluded).unwrap();
        assert_eq!(
            response.choices[0].message.reasoning_content.as_deref(),
            Some("Сначала. Считаю.")
        );
        let plain = chat_response(
            &[answer("4", gc::FinishReason::Stop, 1)],
            &ids,
            &plan,
            CachedPromptTokens::Excluded,
        )
        .unwrap();
        assert_eq!(plain.choices[0].message.reasoning_content, None);
    }

    /// GigaChat's recorded web-search answer shape: markers in the text, sources beside it.
    #[test]
    fn web_search_markers_become_annotations_and_a_search() {
        let mut plan = ChatPlan {
            upstream: gc::ChatRequest::default(),
            tools: None,
            output: OutputFormat::Text,
            n: 1,
            stop: vec![],
            stream: false,
            include_usage: false,
        };
        plan.upstream.builtin_tools = vec![gc::BuiltinTool::WebSearch { kind: None }];
        let mut answer = answer(
            "Вышел Python 3.14 [sources=[2]].\n\nИ ещё [sources=[1]].",
            gc::FinishReason::Stop,
            3,
        );
        answer.choices[0].message.sources = vec![
            gc::Source {
                key: "1".into(),
                url: "https://a.example/".into(),
                title: Some("A".into()),
            },
            gc::Source {
                key: "2".into(),
                url: "https://b.example/".into(),
                title: Some("B".into()),
            },
        ];
        let ids = ResponseIds {
            id: "chatcmpl-x".into(),
            created: 7,
        };
        let response = chat_response(&[answer], &ids, &plan, CachedPromptTokens::Excluded).unwrap();
        let message = &response.choices[0].message;
        assert_eq!(
            message.content.as_deref(),
            Some("Вышел Python 3.14 [2].\n\nИ ещё [1].")
        );
        let wire = serde_json::to_value(message).unwrap();
        assert_eq!(
            wire["annotations"],
            serde_json::json!([
                {"type": "url_citation", "url_citation": {"start_index": 18, "end_index": 21, "url": "https://b.example/", "title": "B"}},
                {"type": "url_citation", "url_citation": {"start_index": 30, "end_index": 33, "url": "https://a.example/", "title": "A"}}
            ])
        );
        assert!(matches!(
            &message.builtin_calls[..],
            [openai::chat::BuiltinCall::WebSearch { sources }] if sources.len() == 2
        ));
    }
}
