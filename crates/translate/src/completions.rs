//! Legacy text completions on GigaChat's chat: each prompt becomes a one-user-message chat request
//! built by the chat mapping (so `stop`, `n`, `max_tokens`, `temperature`, `top_p` and `user` mean
//! what they mean in chat), and the chat answers and stream chunks are reshaped as `text_completion`s.

use openai::chat::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChatMessage,
    CompletionTokensDetails, MessageContent, PromptTokensDetails, Usage,
};
use openai::completions::{Completion, CompletionChoice, CompletionChunk, CompletionRequest};

use crate::TranslateError;
use crate::attachments::ResolvedParts;
use crate::request::{ChatDefaults, ChatPlan, MAX_CHOICES, chat_request};
use crate::response::ResponseIds;
use crate::tokens::input_texts;

/// Everything needed to serve one completion request.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletionPlan {
    /// One chat plan per prompt, in prompt order; each makes `n` choices.
    pub prompts: Vec<ChatPlan>,
    /// Whether the client wants SSE.
    pub stream: bool,
    /// Whether the client asked for the usage chunk.
    pub include_usage: bool,
}

/// Builds the plan. Options GigaChat cannot honour (`echo`, `suffix`, `logprobs`, `best_of` > 1)
/// are refused by name; token-id prompts are decoded as for embeddings; all prompts × `n` together
/// may make at most [`MAX_CHOICES`] GigaChat calls.
pub fn completion_request(
    request: CompletionRequest,
    defaults: &ChatDefaults,
) -> Result<CompletionPlan, TranslateError> {
    refuse_unsupported(&request)?;
    let Some(prompt) = request.prompt.clone() else {
        return Err(TranslateError::invalid(
            "prompt",
            "prompt is required: a string, a list of strings, or token ids",
        ));
    };
    let prompts = input_texts(prompt, request.model.as_deref(), "prompt")?;
    let n = request.n.unwrap_or(1);
    let total = u32::try_from(prompts.len())
        .unwrap_or(u32::MAX)
        .saturating_mul(n);
    if total > MAX_CHOICES && n <= MAX_CHOICES {
        return Err(TranslateError::invalid(
            if n > 1 { "n" } else { "prompt" },
            format!(
                "{} prompts × n={n} would make {total} choices; at most {MAX_CHOICES} per request (each is one GigaChat call)",
                prompts.len()
            ),
        ));
    }
    let plans = prompts
        .into_iter()
        .map(|prompt| {
            let mut plan = chat_request(
                &chat_equivalent(&request, prompt),
                defaults,
                &ResolvedParts::new(),
            )?;
            // Plain text only: no built-in functions (drawing) for a text completion.
            plan.upstream.function_call = None;
            Ok(plan)
        })
        .collect::<Result<Vec<_>, TranslateError>>()?;
    let (stream, include_usage) = plans
        .first()
        .map_or((false, false), |plan| (plan.stream, plan.include_usage));
    Ok(CompletionPlan {
        prompts: plans,
        stream,
        include_usage,
    })
}

fn refuse_unsupported(request: &CompletionRequest) -> Result<(), TranslateError> {
    if request.echo == Some(true) {
        return Err(TranslateError::invalid(
            "echo",
            "echo is not supported: GigaChat answers the prompt and cannot return it with its tokens",
        ));
    }
    if request.suffix.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(TranslateError::invalid(
            "suffix",
            "suffix is not supported: GigaChat has no insertion mode",
        ));
    }
    if request.logprobs.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(TranslateError::invalid(
            "logprobs",
            "logprobs is not supported: GigaChat does not return token log probabilities",
        ));
    }
    if request.best_of.is_some_and(|b| b > 1) {
        return Err(TranslateError::invalid(
            "best_of",
            "best_of above 1 is not supported: GigaChat cannot rank candidates by log probability; use n",
        ));
    }
    Ok(())
}

/// The chat request one prompt stands for: the prompt as the only user message, the shared options.
fn chat_equivalent(request: &CompletionRequest, prompt: String) -> ChatCompletionRequest {
    ChatCompletionRequest {
        model: request.model.clone(),
        messages: vec![ChatMessage {
            role: "user".into(),
            content: Some(MessageContent::Text(prompt)),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            function_call: None,
        }],
        temperature: request.temperature,
        top_p: request.top_p,
        max_tokens: request.max_tokens,
        n: request.n,
        stream: request.stream,
        stream_options: request.stream_options,
        stop: request.stop.clone(),
        user: request.user.clone(),
        ..ChatCompletionRequest::default()
    }
}

/// The session id for GigaChat's prompt cache, as for chat: the client's header, else `user`.
pub fn session_id(request: &CompletionRequest, header: Option<&str>) -> Option<String> {
    let chat = ChatCompletionRequest {
        user: request.user.clone(),
        ..ChatCompletionRequest::default()
    };
    crate::session_id(&chat, header)
}

/// Usage of several prompts: each prompt's usage (its prompt counted once) added up.
pub fn total_usage(usages: impl IntoIterator<Item = Usage>) -> Option<Usage> {
    usages.into_iter().reduce(|a, b| Usage {
        prompt_tokens: a.prompt_tokens.saturating_add(b.prompt_tokens),
        completion_tokens: a.completion_tokens.saturating_add(b.completion_tokens),
        total_tokens: a.total_tokens.saturating_add(b.total_tokens),
        prompt_tokens_details: add(a.prompt_tokens_details, b.prompt_tokens_details, |x, y| {
            PromptTokensDetails {
                cached_tokens: x.cached_tokens.saturating_add(y.cached_tokens),
            }
        }),
        completion_tokens_details: add(
            a.completion_tokens_details,
            b.completion_tokens_details,
            |x, y| CompletionTokensDetails {
                reasoning_tokens: x.reasoning_tokens.saturating_add(y.reasoning_tokens),
            },
        ),
    })
}

fn add<T: Copy + Default>(a: Option<T>, b: Option<T>, sum: impl Fn(T, T) -> T) -> Option<T> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(sum(a.unwrap_or_default(), b.unwrap_or_default())),
    }
}

/// The `text_completion` for the chat answers of each prompt (in prompt order, as
/// [`crate::chat_response`] made them): choice `i` of prompt `p` gets index `p * n + i`.
pub fn completion_response(answers: Vec<ChatCompletion>, ids: &ResponseIds) -> Completion {
    let model = answers
        .first()
        .map(|answer| answer.model.clone())
        .unwrap_or_default();
    let usage = total_usage(answers.iter().filter_map(|answer| answer.usage));
    let mut choices = Vec::new();
    for answer in answers {
        for choice in answer.choices {
            choices.push(CompletionChoice {
                text: choice.message.content.unwrap_or_default(),
                index: u32::try_from(choices.len()).unwrap_or(u32::MAX),
                logprobs: None,
                finish_reason: choice.finish_reason,
            });
        }
    }
    Completion {
        id: ids.id.clone(),
        object: "text_completion".into(),
        created: ids.created,
        model,
        choices,
        usage,
    }
}

/// A translated chat chunk as a `text_completion` chunk; `None` when it carries no text and no
/// finish reason (the chat stream's opening role chunk).
pub fn text_chunk(chunk: &ChatCompletionChunk) -> Option<CompletionChunk> {
    let choices: Vec<CompletionChoice> = chunk
        .choices
        .iter()
        .filter_map(|choice| {
            let text = choice.delta.content.clone().unwrap_or_default();
            (!text.is_empty() || choice.finish_reason.is_some()).then(|| CompletionChoice {
                text,
                index: choice.index,
                logprobs: None,
                finish_reason: choice.finish_reason.clone(),
            })
        })
        .collect();
    (!choices.is_empty()).then(|| CompletionChunk {
        id: chunk.id.to_string(),
        object: "text_completion".into(),
        created: chunk.created,
        model: chunk.model.to_string(),
        choices,
        usage: chunk.usage,
    })
}

/// The extra chunk with the totals and no choices, sent before `[DONE]` when usage was asked for.
pub fn usage_chunk(ids: &ResponseIds, model: &str, usage: Usage) -> CompletionChunk {
    CompletionChunk {
        id: ids.id.clone(),
        object: "text_completion".into(),
        created: ids.created,
        model: model.to_owned(),
        choices: Vec::new(),
        usage: Some(Some(usage)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    use gigachat_types::Role;
    use serde_json::json;

    fn plan(body: serde_json::Value) -> Result<CompletionPlan, TranslateError> {
        let defaults = ChatDefaults {
            contract: Default::default(),
            default_model: "GigaChat".into(),
            aliases: HashMap::from([("gpt-3.5-turbo-instruct".into(), "GigaChat-2".into())]),
            builtin_functions: true,
        };
        completion_request(serde_json::from_value(body).unwrap(), &defaults)
    }

    #[test]
    fn each_prompt_is_one_user_message_with_the_chat_options() {
        let p = plan(json!({
            "model": "gpt-3.5-turbo-instruct", "prompt": ["one", "two"], "n": 2, "stop": "\n",
            "max_tokens": 7, "temperature": 0, "stream": true, "stream_options": {"include_usage": true}
        }))
        .unwrap();
        assert_eq!(p.prompts.len(), 2);
        assert!(p.stream && p.include_usage);
        for (plan, text) in p.prompts.iter().zip(["one", "two"]) {
            assert_eq!(plan.upstream.model, "GigaChat-2");
            assert_eq!(plan.upstream.messages.len(), 1);
            assert_eq!(plan.upstream.messages[0].role, Role::User);
            assert_eq!(plan.upstream.messages[0].content, text);
            assert_eq!(plan.upstream.max_tokens, Some(7));
            assert_eq!(plan.upstream.function_call, None);
            assert_eq!(
                (plan.n, plan.stop.as_slice()),
                (2, ["\n".to_owned()].as_slice())
            );
        }
        let p = plan(json!({"prompt": [[15339, 1917]]})).unwrap();
        assert_eq!(p.prompts[0].upstream.messages[0].content, "hello world");
    }

    #[test]
    fn unsupported_options_are_refused_by_name() {
        for (extra, param) in [
            (json!({"echo": true}), "echo"),
            (json!({"suffix": "end"}), "suffix"),
            (json!({"logprobs": 0}), "logprobs"),
            (json!({"best_of": 2}), "best_of"),
            (json!({"n": 0}), "n"),
            (json!({"n": 9, "prompt": ["a", "b"]}), "n"),
            (json!({"prompt": vec!["a"; 17]}), "prompt"),
            (json!({"prompt": []}), "prompt"),
            (json!({"prompt": null}), "prompt"),
            (json!({"temperature": 5}), "temperature"),
        ] {
            let mut body = json!({"prompt": "hi"});
            for (key, value) in extra.as_object().unwrap() {
                body[key] = value.clone();
            }
            let err = plan(body).unwrap_err();
            assert_eq!(err.param.as_deref(), Some(param), "{}", err.message);
        }
        assert!(
            plan(
                json!({"prompt": "hi", "echo": false, "best_of": 1, "logprobs": null, "suffix": ""})
            )
            .is_ok()
        );
    }

    #[test]
    fn usage_of_prompts_adds_up() {
        let usage = |p, c| Usage {
            prompt_tokens: p,
            completion_tokens: c,
            total_tokens: p + c,
            prompt_tokens_details: Some(PromptTokensDetails { cached_tokens: 1 }),
            completion_tokens_details: None,
        };
        let total = total_usage([usage(3, 4), usage(5, 6)]).unwrap();
        assert_eq!(
            (
                total.prompt_tokens,
                total.completion_tokens,
                total.total_tokens
            ),
            (8, 10, 18)
        );
        assert_eq!(total.prompt_tokens_details.unwrap().cached_tokens, 2);
        assert_eq!(total.completion_tokens_details, None);
        assert_eq!(total_usage([]), None);
    }
}
