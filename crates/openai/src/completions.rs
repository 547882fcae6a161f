//! Legacy text completions (`/v1/completions`): the tolerant request, the answer and the stream
//! chunk, both `object: "text_completion"`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::chat::{Stop, StreamOptions, Usage};
use crate::embeddings::Input;

/// `POST /v1/completions`. Fields not listed (`presence_penalty`, `seed`, ...) are accepted and ignored.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct CompletionRequest {
    /// Model id or alias; the configured default when absent.
    #[serde(default)]
    pub model: Option<String>,
    /// The prompt(s): text or token ids.
    #[serde(default)]
    pub prompt: Option<Input>,
    /// Output cap.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Sampling temperature (0 means greedy).
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Choices per prompt.
    #[serde(default)]
    pub n: Option<u32>,
    /// Stream the answer as SSE.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Stream options (`include_usage`).
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// Stop sequences.
    #[serde(default)]
    pub stop: Option<Stop>,
    /// End-user id; also a prompt-cache affinity key.
    #[serde(default)]
    pub user: Option<String>,
    /// Echo the prompt before the completion (not supported).
    #[serde(default)]
    pub echo: Option<bool>,
    /// Text after the completion, for insertion (not supported).
    #[serde(default)]
    pub suffix: Option<String>,
    /// Log probabilities of the most likely tokens (not supported).
    #[serde(default)]
    pub logprobs: Option<Value>,
    /// Server-side candidates to pick the best of (not supported above 1).
    #[serde(default)]
    pub best_of: Option<u32>,
}

/// A whole answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// `cmpl-...`.
    pub id: String,
    /// Always `text_completion`.
    pub object: String,
    /// Unix seconds.
    pub created: i64,
    /// The model that served the answer.
    pub model: String,
    /// Choices of every prompt: prompt `p`, choice `i` has index `p * n + i`.
    pub choices: Vec<CompletionChoice>,
    /// Token usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// One generated text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionChoice {
    /// The text (a new piece of it, in a stream).
    pub text: String,
    /// Position across prompts and choices.
    pub index: u32,
    /// Always `null` here.
    pub logprobs: Option<Value>,
    /// `stop`, `length` or `content_filter`; `null` in a stream until the choice ends.
    pub finish_reason: Option<String>,
}

/// One stream chunk: the shape of [`Completion`], with pieces of text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionChunk {
    /// The same `cmpl-...` in every chunk.
    pub id: String,
    /// Always `text_completion`.
    pub object: String,
    /// The same in every chunk.
    pub created: i64,
    /// The same in every chunk.
    pub model: String,
    /// New text (empty in the usage chunk).
    pub choices: Vec<CompletionChoice>,
    /// Absent unless usage was asked for: then `null` on every chunk but the usage chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Option<Usage>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tolerant_request() {
        let request: CompletionRequest = serde_json::from_value(json!({
            "model": "gpt-3.5-turbo-instruct", "prompt": ["a", "b"], "max_tokens": 5,
            "stop": "\n", "logprobs": null, "echo": false, "presence_penalty": 0.5, "seed": 1
        }))
        .unwrap();
        assert_eq!(
            request.prompt,
            Some(Input::Texts(vec!["a".into(), "b".into()]))
        );
        assert_eq!(request.logprobs, None);
        assert_eq!(request.echo, Some(false));
    }

    #[test]
    fn choice_serializes_null_logprobs() {
        let choice = CompletionChoice {
            text: "hi".into(),
            index: 0,
            logprobs: None,
            finish_reason: None,
        };
        assert_eq!(
            serde_json::to_string(&choice).unwrap(),
            r#"{"text":"hi","index":0,"logprobs":null,"finish_reason":null}"#
        );
    }
}
