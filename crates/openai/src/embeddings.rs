//! Embeddings: the tolerant request, the list answer, and the text-or-tokens input shared with
//! legacy completions' `prompt`.

use serde::{Deserialize, Deserializer, Serialize};

/// `POST /v1/embeddings`. Fields not listed (`user`, ...) are accepted and ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EmbeddingRequest {
    /// Model id or alias; the configured embeddings model when absent.
    #[serde(default)]
    pub model: Option<String>,
    /// What to embed.
    pub input: Input,
    /// `float` (the default) or `base64`.
    #[serde(default)]
    pub encoding_format: Option<EncodingFormat>,
    /// Requested vector size; only the model's own size can be served.
    #[serde(default)]
    pub dimensions: Option<u32>,
    /// End-user id.
    #[serde(default)]
    pub user: Option<String>,
}

/// How vectors are written in the answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncodingFormat {
    /// A JSON array of numbers.
    #[default]
    Float,
    /// Base64 of the little-endian `f32` bytes.
    Base64,
}

/// Text or token ids: a string, a list of strings, a list of token ids, or a list of token-id lists
/// (embeddings' `input`, legacy completions' `prompt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// One text.
    Text(String),
    /// Several texts.
    Texts(Vec<String>),
    /// One text as token ids.
    Tokens(Vec<u32>),
    /// Several texts as token ids.
    TokenLists(Vec<Vec<u32>>),
}

/// The wire forms of [`Input`], tried in order.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawInput {
    Text(String),
    Texts(Vec<String>),
    Tokens(Vec<u32>),
    TokenLists(Vec<Vec<u32>>),
}

impl<'de> Deserialize<'de> for Input {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        Ok(match RawInput::deserialize(deserializer).map_err(|_| {
            D::Error::custom(
                "expected a string, a list of strings, a list of token ids (non-negative integers) or a list of token-id lists",
            )
        })? {
            RawInput::Text(text) => Input::Text(text),
            RawInput::Texts(texts) => Input::Texts(texts),
            RawInput::Tokens(tokens) => Input::Tokens(tokens),
            RawInput::TokenLists(lists) => Input::TokenLists(lists),
        })
    }
}

/// The answer: one vector per input, in input order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingList {
    /// Always `list`.
    pub object: String,
    /// The vectors.
    pub data: Vec<Embedding>,
    /// The model that made them.
    pub model: String,
    /// Tokens spent.
    pub usage: EmbeddingUsage,
}

/// One vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    /// Always `embedding`.
    pub object: String,
    /// Position of its input in the request.
    pub index: u32,
    /// The vector, as floats or base64.
    pub embedding: Vector,
}

/// A vector in the requested encoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Vector {
    /// `encoding_format: float`.
    Float(Vec<f32>),
    /// `encoding_format: base64`: little-endian `f32` bytes, standard base64.
    Base64(String),
}

/// Token usage of an embeddings request (only prompt tokens: nothing is generated).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingUsage {
    /// Tokens of every input together.
    pub prompt_tokens: u32,
    /// The same number.
    pub total_tokens: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(value: serde_json::Value) -> Result<Input, serde_json::Error> {
        serde_json::from_value(json!({ "input": value }))
            .map(|request: EmbeddingRequest| request.input)
    }

    #[test]
    fn every_input_form_parses() {
        assert_eq!(input(json!("a")).unwrap(), Input::Text("a".into()));
        assert_eq!(
            input(json!(["a", "b"])).unwrap(),
            Input::Texts(vec!["a".into(), "b".into()])
        );
        assert_eq!(input(json!([1, 2])).unwrap(), Input::Tokens(vec![1, 2]));
        assert_eq!(
            input(json!([[1], [2, 3]])).unwrap(),
            Input::TokenLists(vec![vec![1], vec![2, 3]])
        );
        assert_eq!(input(json!([])).unwrap(), Input::Texts(Vec::new()));
        let err = input(json!(["a", 1])).unwrap_err().to_string();
        assert!(err.contains("list of token ids"), "{err}");
        assert!(input(json!([-1])).is_err());
    }

    #[test]
    fn encoding_formats() {
        let request: EmbeddingRequest =
            serde_json::from_value(json!({"input": "a", "encoding_format": "base64"})).unwrap();
        assert_eq!(request.encoding_format, Some(EncodingFormat::Base64));
        assert!(
            serde_json::from_value::<EmbeddingRequest>(
                json!({"input": "a", "encoding_format": "int8"})
            )
            .is_err()
        );
    }
}
