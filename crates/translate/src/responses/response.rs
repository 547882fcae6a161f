//! A chat answer → the `response` object: reasoning as a `reasoning` item first, then GigaChat's
//! built-in runs as `web_search_call`, `image_generation_call` and `code_interpreter_call` items,
//! text as a `message` item (web citations as flat `url_citation` annotations), each tool call as a
//! `function_call` item (or `custom_tool_call` for custom tools), length and content-filter ends
//! as `incomplete`, usage by the chat accounting rules. Also what a stored response keeps, and the
//! history a later request continuing it (`previous_response_id`) starts from.

use openai::chat::{Annotation, BuiltinCall, ChatCompletion, Usage};
use openai::responses::response::{
    CodeInterpreterCallItem, ImageGenerationCallItem, IncompleteDetails, InputTokensDetails,
    ItemStatus, OutputContent, OutputItem, OutputMessage, OutputTokensDetails, ReasoningOutput,
    Response, ResponseStatus, ResponseUsage, WebSearchAction, WebSearchCallItem, WebSearchSource,
};
use openai::responses::{
    CreateResponse, CustomToolCallItem, FunctionCallItem, Input, InputContent, InputItem,
    ItemContent, MessageItem, ReasoningItem, Role, SummaryText,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::request::AnswerPlan;

/// Chat usage in the Responses shape (GigaChat reports no cache writes: 0).
pub fn response_usage(usage: &Usage) -> ResponseUsage {
    ResponseUsage {
        input_tokens: usage.prompt_tokens,
        input_tokens_details: InputTokensDetails {
            cached_tokens: usage
                .prompt_tokens_details
                .map_or(0, |details| details.cached_tokens),
            cache_write_tokens: 0,
        },
        output_tokens: usage.completion_tokens,
        output_tokens_details: OutputTokensDetails {
            reasoning_tokens: usage
                .completion_tokens_details
                .map_or(0, |details| details.reasoning_tokens),
        },
        total_tokens: usage.total_tokens,
    }
}

/// The free-form input of a custom tool from its function's arguments (`{"input": "..."}`);
/// arguments of another shape are passed on as they are.
pub fn custom_tool_input(arguments: &str) -> String {
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(mut object)) => match object.remove("input") {
            Some(Value::String(input)) => input,
            Some(other) => other.to_string(),
            None => arguments.to_owned(),
        },
        _ => arguments.to_owned(),
    }
}

/// `incomplete` with its reason for a chat finish reason that cut the answer short.
pub fn incomplete_reason(finish_reason: Option<&str>) -> Option<&'static str> {
    match finish_reason {
        Some("length") => Some("max_output_tokens"),
        Some("content_filter") => Some("content_filter"),
        _ => None,
    }
}

/// The suffix a response's item ids share (`resp_ab12` → `ab12`).
fn id_suffix(response_id: &str) -> &str {
    response_id.strip_prefix("resp_").unwrap_or(response_id)
}

/// The id of the response's message item.
pub fn message_id(response_id: &str) -> String {
    format!("msg_{}", id_suffix(response_id))
}

/// The id of the response's reasoning item.
pub fn reasoning_id(response_id: &str) -> String {
    format!("rs_{}", id_suffix(response_id))
}

/// The reasoning item for `text` (its one summary part).
pub fn reasoning_item(response_id: &str, text: String, status: ItemStatus) -> OutputItem {
    OutputItem::Reasoning(ReasoningOutput {
        id: reasoning_id(response_id),
        summary: vec![SummaryText { text }],
        status,
    })
}

/// The id of the response's `index`-th tool call item (`fc_...` or `ctc_...` for custom tools).
pub fn call_item_id(response_id: &str, index: usize, custom: bool) -> String {
    let prefix = if custom { "ctc" } else { "fc" };
    format!("{prefix}_{}{index}", id_suffix(response_id))
}

/// The id of the response's `index`-th built-in call item of kind `prefix` (`ws`, `ig`, `ci`).
fn builtin_item_id(response_id: &str, prefix: &str, index: usize) -> String {
    format!("{prefix}_{}{index}", id_suffix(response_id))
}

/// The `index`-th built-in run of an answer as its output item (finished), for `response_id`.
pub fn builtin_item(call: &BuiltinCall, response_id: &str, index: usize) -> OutputItem {
    let completed = ItemStatus::Completed.as_str().to_owned();
    match call {
        BuiltinCall::WebSearch { sources } => OutputItem::WebSearchCall(WebSearchCallItem {
            id: builtin_item_id(response_id, "ws", index),
            status: completed,
            action: WebSearchAction {
                kind: "search".into(),
                queries: Vec::new(),
                sources: sources
                    .iter()
                    .map(|source| WebSearchSource {
                        kind: "url".into(),
                        url: source.url.clone(),
                    })
                    .collect(),
            },
        }),
        BuiltinCall::ImageGeneration { result, .. } => {
            OutputItem::ImageGenerationCall(ImageGenerationCallItem {
                id: builtin_item_id(response_id, "ig", index),
                status: if result.is_some() {
                    completed
                } else {
                    "failed".to_owned()
                },
                result: result.clone(),
            })
        }
        BuiltinCall::CodeInterpreter => OutputItem::CodeInterpreterCall(CodeInterpreterCallItem {
            id: builtin_item_id(response_id, "ci", index),
            status: completed,
            container_id: format!("cntr_{}", id_suffix(response_id)),
            code: None,
            outputs: None,
        }),
    }
}

/// A chat citation as the Responses API has it: flat `{type, url, title, start_index, end_index}`.
pub fn flat_annotation(annotation: &Annotation) -> Value {
    let citation = &annotation.url_citation;
    serde_json::json!({
        "type": "url_citation",
        "url": citation.url,
        "title": citation.title,
        "start_index": citation.start_index,
        "end_index": citation.end_index,
    })
}

/// The response for a finished (non-streamed) chat answer, finished at `completed_at`.
pub fn responses_response(
    answer: &ChatCompletion,
    plan: &AnswerPlan,
    completed_at: i64,
) -> Response {
    let mut response = plan.template.clone();
    response.model = answer.model.clone();
    let choice = answer.choices.first();
    let incomplete = incomplete_reason(choice.and_then(|c| c.finish_reason.as_deref()));
    if let Some(message) = choice.map(|c| &c.message) {
        if let Some(reasoning) = message.reasoning_content.clone().filter(|t| !t.is_empty()) {
            response.output.push(reasoning_item(
                &response.id,
                reasoning,
                ItemStatus::Completed,
            ));
        }
        for (index, call) in message.builtin_calls.iter().enumerate() {
            response
                .output
                .push(builtin_item(call, &response.id, index));
        }
        let calls = message.tool_calls.as_deref().unwrap_or_default();
        let text = message.content.clone().unwrap_or_default();
        if !text.is_empty() || message.refusal.is_some() || calls.is_empty() {
            let mut content = Vec::with_capacity(1);
            if !text.is_empty() || message.refusal.is_none() {
                content.push(OutputContent::OutputText {
                    text,
                    annotations: message.annotations.iter().map(flat_annotation).collect(),
                    logprobs: Vec::new(),
                });
            }
            if let Some(refusal) = &message.refusal {
                content.push(OutputContent::Refusal {
                    refusal: refusal.clone(),
                });
            }
            response.output.push(OutputItem::Message(OutputMessage {
                id: message_id(&response.id),
                role: Role::Assistant,
                content,
                status: if incomplete.is_some() {
                    ItemStatus::Incomplete
                } else {
                    ItemStatus::Completed
                },
            }));
        }
        for (index, call) in calls.iter().enumerate() {
            let custom = plan.custom_tools.contains(&call.function.name);
            let id = Some(call_item_id(&response.id, index, custom));
            response.output.push(if custom {
                OutputItem::CustomToolCall(CustomToolCallItem {
                    id,
                    call_id: call.id.clone(),
                    name: call.function.name.clone(),
                    input: custom_tool_input(&call.function.arguments),
                    namespace: None,
                })
            } else {
                OutputItem::FunctionCall(FunctionCallItem {
                    id,
                    call_id: call.id.clone(),
                    name: call.function.name.clone(),
                    arguments: call.function.arguments.clone(),
                    status: Some(ItemStatus::Completed.as_str().to_owned()),
                    namespace: None,
                })
            });
        }
    }
    match incomplete {
        Some(reason) => {
            response.status = ResponseStatus::Incomplete;
            response.incomplete_details = Some(IncompleteDetails {
                reason: reason.to_owned(),
            });
        }
        None => {
            response.status = ResponseStatus::Completed;
            response.completed_at = Some(completed_at);
        }
    }
    response.usage = answer.usage.as_ref().map(response_usage);
    response
}

/// What a stored response keeps: the response, and the whole context it was answered from
/// (the history it continued, then its own input), so that continuing it takes one read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredExchange {
    /// The finished response.
    pub response: Response,
    /// The input items it was answered from, history first.
    pub input: Vec<InputItem>,
}

impl StoredExchange {
    /// The record for `response`, answered from `history` (the continued response's
    /// [`history_items`], empty when none) and `request`'s input (a text input becomes a user
    /// message item).
    pub fn new(response: Response, history: &[InputItem], request: &CreateResponse) -> Self {
        let mut input = history.to_vec();
        match &request.input {
            Some(Input::Items(items)) => input.extend(items.iter().cloned()),
            Some(Input::Text(text)) => input.push(InputItem::Message(MessageItem {
                id: None,
                role: Role::User,
                content: ItemContent::Parts(vec![InputContent::InputText { text: text.clone() }]),
                status: None,
                phase: None,
            })),
            None => {}
        }
        Self { response, input }
    }
}

/// The history a request continuing `stored` (`previous_response_id`) starts from: its input,
/// then its output as input items. Pass it to
/// [`responses_request`](super::request::responses_request).
pub fn history_items(stored: &StoredExchange) -> Vec<InputItem> {
    let mut items = stored.input.clone();
    items.extend(output_input_items(&stored.response.output));
    items
}

/// Output items as the input items a client sends back next turn (ids kept, so
/// `item_reference`s to them resolve).
pub fn output_input_items(output: &[OutputItem]) -> Vec<InputItem> {
    output
        .iter()
        .map(|item| match item {
            OutputItem::Message(message) => InputItem::Message(MessageItem {
                id: Some(message.id.clone()),
                role: Role::Assistant,
                content: ItemContent::Parts(
                    message
                        .content
                        .iter()
                        .map(|part| match part {
                            OutputContent::OutputText {
                                text,
                                annotations,
                                logprobs,
                            } => InputContent::OutputText {
                                text: text.clone(),
                                annotations: annotations.clone(),
                                logprobs: logprobs.clone(),
                            },
                            OutputContent::Refusal { refusal } => InputContent::Refusal {
                                refusal: refusal.clone(),
                            },
                        })
                        .collect(),
                ),
                status: Some(message.status.as_str().to_owned()),
                phase: None,
            }),
            OutputItem::FunctionCall(call) => InputItem::FunctionCall(call.clone()),
            OutputItem::CustomToolCall(call) => InputItem::CustomToolCall(call.clone()),
            OutputItem::Reasoning(reasoning) => InputItem::Reasoning(ReasoningItem {
                id: Some(reasoning.id.clone()),
                summary: reasoning.summary.clone(),
                encrypted_content: None,
            }),
            // GigaChat cannot take built-in runs back: left out of the next turn, as a client's are.
            OutputItem::WebSearchCall(_)
            | OutputItem::ImageGenerationCall(_)
            | OutputItem::CodeInterpreterCall(_) => InputItem::Other {
                kind: item.kind().to_owned(),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests;
