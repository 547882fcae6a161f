//! OpenAI chat request → GigaChat chat request: roles, content, parameters, model, and what the
//! adapter must emulate itself (`n`, `stop`, stream usage).

use std::collections::HashMap;

use gigachat::types::{ChatRequest, Message, Role};
use openai::chat::{ChatCompletionRequest, ChatMessage, ContentPart, MessageContent};

use crate::TranslateError;

/// GigaChat's greedy decoding: temperatures in (0, 0.001] reset sampling to deterministic.
pub const GREEDY_TEMPERATURE: f64 = 0.001;
/// Most choices one request may ask for (each is one upstream call).
pub const MAX_CHOICES: u32 = 16;
/// Most stop sequences one request may give.
pub const MAX_STOP_SEQUENCES: usize = 16;

/// Server-side defaults a request is completed with.
#[derive(Debug, Clone, Default)]
pub struct ChatDefaults {
    /// Model used when the request names none (`GIGACHAT_MODEL`).
    pub default_model: String,
    /// Client model name → GigaChat model (e.g. `gpt-4o` → `GigaChat-2-Max`).
    pub aliases: HashMap<String, String>,
}

impl ChatDefaults {
    /// The GigaChat model for what the client asked (an alias, a GigaChat id, or nothing).
    pub fn resolve_model(&self, requested: Option<&str>) -> String {
        let requested = requested
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .unwrap_or(&self.default_model);
        self.aliases
            .get(requested)
            .cloned()
            .unwrap_or_else(|| requested.to_owned())
    }
}

/// GigaChat file ids for non-text content parts, keyed by (message index, part index);
/// the adapter fills it by uploading attachments before translating.
pub type ResolvedParts = HashMap<(usize, usize), String>;

/// Everything needed to serve one chat request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatPlan {
    /// The request to send upstream (once per choice).
    pub upstream: ChatRequest,
    /// How many choices to produce.
    pub n: u32,
    /// Stop sequences to emulate.
    pub stop: Vec<String>,
    /// Whether the client wants SSE.
    pub stream: bool,
    /// Whether the client asked for the usage chunk (`stream_options.include_usage`).
    pub include_usage: bool,
}

/// Builds the plan for `request`; errors are the client's mistakes, named by JSON path.
pub fn chat_request(
    request: &ChatCompletionRequest,
    defaults: &ChatDefaults,
    resolved: &ResolvedParts,
) -> Result<ChatPlan, TranslateError> {
    let messages = messages(&request.messages, resolved)?;
    let temperature = match request.temperature {
        Some(t) if !(0.0..=2.0).contains(&t) => {
            return Err(TranslateError::invalid(
                "temperature",
                format!("temperature must be between 0 and 2, got {t}"),
            ));
        }
        Some(t) if t <= GREEDY_TEMPERATURE => Some(GREEDY_TEMPERATURE),
        other => other,
    };
    if let Some(top_p) = request.top_p.filter(|p| !(0.0..=1.0).contains(p)) {
        return Err(TranslateError::invalid(
            "top_p",
            format!("top_p must be between 0 and 1, got {top_p}"),
        ));
    }
    if let Some(penalty) = request.repetition_penalty.filter(|p| *p <= 0.0) {
        return Err(TranslateError::invalid(
            "repetition_penalty",
            format!("repetition_penalty must be greater than 0, got {penalty}"),
        ));
    }
    let max_tokens = request.max_completion_tokens.or(request.max_tokens);
    if max_tokens == Some(0) {
        let param = if request.max_completion_tokens.is_some() {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        return Err(TranslateError::invalid(param, "must be at least 1"));
    }
    let n = request.n.unwrap_or(1);
    if !(1..=MAX_CHOICES).contains(&n) {
        return Err(TranslateError::invalid(
            "n",
            format!("n must be between 1 and {MAX_CHOICES}, got {n}"),
        ));
    }
    let stop = request
        .stop
        .as_ref()
        .map(|s| s.sequences())
        .unwrap_or_default();
    if stop.len() > MAX_STOP_SEQUENCES {
        return Err(TranslateError::invalid(
            "stop",
            format!("at most {MAX_STOP_SEQUENCES} stop sequences are supported"),
        ));
    }
    let upstream = ChatRequest {
        model: defaults.resolve_model(request.model.as_deref()),
        messages,
        temperature,
        top_p: request.top_p,
        max_tokens,
        repetition_penalty: request.repetition_penalty,
        update_interval: request.update_interval,
        profanity_check: request.profanity_check,
        reasoning_effort: reasoning_effort(request)?,
        ..ChatRequest::default()
    };
    let stream = request.stream.unwrap_or(false);
    Ok(ChatPlan {
        upstream,
        n,
        stop,
        stream,
        include_usage: stream
            && request
                .stream_options
                .and_then(|o| o.include_usage)
                .unwrap_or(false),
    })
}

/// `reasoning_effort` or `reasoning.effort`, in GigaChat's three levels.
fn reasoning_effort(request: &ChatCompletionRequest) -> Result<Option<String>, TranslateError> {
    let (param, effort) = match (&request.reasoning_effort, &request.reasoning) {
        (Some(effort), _) => ("reasoning_effort", Some(effort.as_str())),
        (None, Some(reasoning)) => ("reasoning.effort", reasoning.effort.as_deref()),
        (None, None) => return Ok(None),
    };
    match effort {
        None | Some("none") => Ok(None),
        Some("minimal" | "low") => Ok(Some("low".into())),
        Some("medium") => Ok(Some("medium".into())),
        Some("high" | "xhigh") => Ok(Some("high".into())),
        Some(other) => Err(TranslateError::invalid(
            param,
            format!("unknown reasoning effort {other:?}; use low, medium or high"),
        )),
    }
}

/// The session id for GigaChat's prompt cache: the client's header, else `prompt_cache_key`, else `user`.
pub fn session_id(request: &ChatCompletionRequest, header: Option<&str>) -> Option<String> {
    header
        .or(request.prompt_cache_key.as_deref())
        .or(request.user.as_deref())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Maps the history. `system`/`developer` messages before the first other message become one
/// leading system message; later ones become user messages (GigaChat allows one system message, first).
fn messages(
    history: &[ChatMessage],
    resolved: &ResolvedParts,
) -> Result<Vec<Message>, TranslateError> {
    if history.is_empty() {
        return Err(TranslateError::invalid(
            "messages",
            "messages must contain at least one message",
        ));
    }
    let mut out: Vec<Message> = Vec::with_capacity(history.len());
    let mut leading_system: Vec<String> = Vec::new();
    let mut in_leading_block = true;
    for (index, message) in history.iter().enumerate() {
        let is_system = matches!(message.role.as_str(), "system" | "developer");
        if !is_system {
            in_leading_block = false;
        }
        let (content, attachments) = content(message, index, resolved)?;
        let role = match message.role.as_str() {
            "system" | "developer" if in_leading_block => {
                leading_system.push(content);
                continue;
            }
            "system" | "developer" | "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" | "function" => {
                return Err(TranslateError::invalid(
                    format!("messages[{index}].role"),
                    "tool results are not supported by this version of the adapter",
                ));
            }
            other => {
                return Err(TranslateError::invalid(
                    format!("messages[{index}].role"),
                    format!(
                        "unknown role {other:?}; expected system, developer, user, assistant or tool"
                    ),
                ));
            }
        };
        if message.tool_calls.as_ref().is_some_and(|c| !c.is_empty())
            || message.function_call.is_some()
        {
            return Err(TranslateError::invalid(
                format!("messages[{index}].tool_calls"),
                "tool calls in history are not supported by this version of the adapter",
            ));
        }
        let mut mapped = Message::new(role, content);
        mapped.attachments = attachments;
        out.push(mapped);
    }
    if !leading_system.is_empty() {
        out.insert(0, Message::new(Role::System, leading_system.join("\n\n")));
    }
    Ok(out)
}

/// The text of a message and the GigaChat file ids of its resolved non-text parts.
fn content(
    message: &ChatMessage,
    index: usize,
    resolved: &ResolvedParts,
) -> Result<(String, Vec<String>), TranslateError> {
    match &message.content {
        None => Ok((String::new(), Vec::new())),
        Some(MessageContent::Text(text)) => Ok((text.clone(), Vec::new())),
        Some(MessageContent::Parts(parts)) => {
            let mut texts = Vec::new();
            let mut attachments = Vec::new();
            for (part_index, part) in parts.iter().enumerate() {
                match part {
                    ContentPart::Text { text } => texts.push(text.as_str()),
                    ContentPart::Refusal { refusal } => texts.push(refusal.as_str()),
                    ContentPart::Other { .. } => {}
                    ContentPart::ImageUrl { .. }
                    | ContentPart::InputAudio { .. }
                    | ContentPart::File { .. } => match resolved.get(&(index, part_index)) {
                        Some(file_id) => attachments.push(file_id.clone()),
                        None => {
                            return Err(TranslateError::invalid(
                                format!("messages[{index}].content[{part_index}]"),
                                "images, audio and files in messages are not supported by this version of the adapter",
                            ));
                        }
                    },
                }
            }
            Ok((texts.join("\n"), attachments))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(body: serde_json::Value) -> Result<ChatPlan, TranslateError> {
        let request: ChatCompletionRequest = serde_json::from_value(body).unwrap();
        let defaults = ChatDefaults {
            default_model: "GigaChat".into(),
            aliases: HashMap::from([("gpt-4o".into(), "GigaChat-2-Max".into())]),
        };
        chat_request(&request, &defaults, &ResolvedParts::new())
    }

    #[test]
    fn roles_merge_into_one_leading_system_message() {
        let plan = plan(json!({"messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in Russian."}]},
            {"role": "user", "content": "Hi", "name": "bob"},
            {"role": "assistant", "content": null},
            {"role": "system", "content": "Now be verbose."},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
        ]}))
        .unwrap();
        let roles: Vec<_> = plan
            .upstream
            .messages
            .iter()
            .map(|m| m.role.clone())
            .collect();
        assert_eq!(
            roles,
            [
                Role::System,
                Role::User,
                Role::Assistant,
                Role::User,
                Role::User
            ]
        );
        assert_eq!(
            plan.upstream.messages[0].content,
            "You are terse.\n\nAnswer in Russian."
        );
        assert_eq!(plan.upstream.messages[2].content, "");
        assert_eq!(plan.upstream.messages[3].content, "Now be verbose.");
        assert_eq!(plan.upstream.messages[4].content, "a\nb");
        assert_eq!(plan.upstream.model, "GigaChat");
    }

    #[test]
    fn parameters_map_and_validate() {
        let plan = plan(json!({
            "model": "gpt-4o", "messages": [{"role": "user", "content": "x"}],
            "temperature": 0, "top_p": 0.5, "max_tokens": 10, "max_completion_tokens": 20,
            "reasoning": {"effort": "minimal"}, "repetition_penalty": 1.1, "update_interval": 0.2,
            "profanity_check": false, "n": 2, "stop": "END", "stream": true,
            "stream_options": {"include_usage": true}
        }))
        .unwrap();
        assert_eq!(plan.upstream.model, "GigaChat-2-Max");
        assert_eq!(plan.upstream.temperature, Some(GREEDY_TEMPERATURE));
        assert_eq!(plan.upstream.max_tokens, Some(20));
        assert_eq!(plan.upstream.reasoning_effort.as_deref(), Some("low"));
        assert_eq!(plan.upstream.repetition_penalty, Some(1.1));
        assert_eq!(plan.upstream.update_interval, Some(0.2));
        assert_eq!(plan.upstream.profanity_check, Some(false));
        assert_eq!((plan.n, plan.stream, plan.include_usage), (2, true, true));
        assert_eq!(plan.stop, ["END"]);
    }

    #[test]
    fn client_mistakes_name_the_field() {
        for (body, param) in [
            (json!({"messages": []}), "messages"),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "temperature": 3}),
                "temperature",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "top_p": -1}),
                "top_p",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "n": 0}),
                "n",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}),
                "max_tokens",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "repetition_penalty": 0}),
                "repetition_penalty",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "max"}),
                "reasoning_effort",
            ),
            (
                json!({"messages": [{"role": "wizard", "content": "x"}]}),
                "messages[0].role",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}]}),
                "messages[0].content[0]",
            ),
        ] {
            let err = plan(body).unwrap_err();
            assert_eq!(err.param.as_deref(), Some(param), "{}", err.message);
        }
    }

    #[test]
    fn session_id_priority() {
        let request: ChatCompletionRequest = serde_json::from_value(json!({
            "messages": [{"role": "user", "content": "x"}], "user": "u", "prompt_cache_key": "k"
        }))
        .unwrap();
        assert_eq!(session_id(&request, Some("h")).as_deref(), Some("h"));
        assert_eq!(session_id(&request, None).as_deref(), Some("k"));
    }
}
