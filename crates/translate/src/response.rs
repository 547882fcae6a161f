//! GigaChat answers → OpenAI answers: ids, choices, finish reasons and usage.

use gigachat::types as gc;
use openai::chat::{
    ChatCompletion, Choice, CompletionTokensDetails, PromptTokensDetails, ResponseMessage, Usage,
};

use crate::stop::cut_at_stop;

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

/// GigaChat usage in OpenAI's shape: `precached_prompt_tokens` → `cached_tokens`; the total is
/// recomputed as prompt + completion (GigaChat's excludes cached tokens).
pub fn usage(usage: &gc::Usage) -> Usage {
    Usage {
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
        total_tokens: usage.prompt_tokens + usage.completion_tokens,
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: usage.precached_prompt_tokens.unwrap_or(0),
        }),
        completion_tokens_details: Some(CompletionTokensDetails {
            reasoning_tokens: 0,
        }),
    }
}

/// Usage of `n` upstream calls for one request: the prompt counted once, completions summed.
pub fn combined_usage<'a>(usages: impl IntoIterator<Item = &'a gc::Usage>) -> Option<Usage> {
    let mut usages = usages.into_iter();
    let first = usages.next()?;
    let mut total = *first;
    for extra in usages {
        total.completion_tokens += extra.completion_tokens;
    }
    Some(usage(&total))
}

/// The OpenAI answer for the `n` GigaChat answers of one request (one per choice), with stop
/// sequences applied to each choice's text.
pub fn chat_response(
    answers: &[gc::ChatCompletion],
    ids: &ResponseIds,
    stop: &[String],
) -> ChatCompletion {
    let model = answers
        .first()
        .map(|answer| answer.model.clone())
        .unwrap_or_default();
    let choices = answers
        .iter()
        .flat_map(|answer| answer.choices.iter())
        .enumerate()
        .map(|(index, choice)| {
            let (content, stopped) = cut_at_stop(&choice.message.content, stop);
            let reason = if stopped {
                "stop"
            } else {
                finish_reason(choice.finish_reason.as_ref())
            };
            Choice {
                index: u32::try_from(index).unwrap_or(u32::MAX),
                message: ResponseMessage {
                    role: "assistant".into(),
                    content: Some(content),
                    refusal: None,
                    tool_calls: None,
                    reasoning_content: choice.message.reasoning_content.clone(),
                },
                logprobs: None,
                finish_reason: Some(reason.into()),
            }
        })
        .collect();
    ChatCompletion {
        id: ids.id.clone(),
        object: "chat.completion".into(),
        created: ids.created,
        model,
        choices,
        usage: combined_usage(answers.iter().filter_map(|a| a.usage.as_ref())),
        system_fingerprint: None,
    }
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
        let response = chat_response(
            &[
                answer("one END two", gc::FinishReason::Stop, 3),
                answer("cut", gc::FinishReason::Blacklist, 5),
            ],
            &ids,
            &["END".into()],
        );
        assert_eq!(response.model, "GigaChat:2.0.28.2");
        assert_eq!(response.choices[0].message.content.as_deref(), Some("one "));
        assert_eq!(response.choices[1].index, 1);
        assert_eq!(
            response.choices[1].finish_reason.as_deref(),
            Some("content_filter")
        );
        let usage = response.usage.unwrap();
        assert_eq!(
            (
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.total_tokens
            ),
            (10, 8, 18)
        );
        assert_eq!(usage.prompt_tokens_details.unwrap().cached_tokens, 4);
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
}
