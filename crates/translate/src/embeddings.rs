//! OpenAI embeddings ↔ GigaChat `/embeddings`: inputs checked and split into upstream batches, the
//! batches' vectors reassembled in input order, encoded as floats or base64, usage summed.
//!
//! Batches: at most [`BATCH_MAX_TEXTS`] texts and [`BATCH_MAX_CHARS`] characters per GigaChat call
//! (a longer single text goes alone and GigaChat judges it). GigaChat documents no batch limit; these
//! keep each call far below its request-size limits and let a large request run in parallel calls.

use std::ops::Range;

use base64::Engine as _;
use gigachat_types as gc;
use openai::embeddings::{
    Embedding, EmbeddingList, EmbeddingRequest, EmbeddingUsage, EncodingFormat, Vector,
};

use crate::TranslateError;
use crate::request::ChatDefaults;
use crate::tokens::{CountMismatch, input_texts};

/// Most inputs one request may carry (OpenAI's limit).
pub const MAX_INPUTS: usize = 2048;
/// Most texts in one GigaChat `/embeddings` call.
pub const BATCH_MAX_TEXTS: usize = 100;
/// Most characters (Unicode scalar values) of all texts in one GigaChat call.
pub const BATCH_MAX_CHARS: usize = 100_000;

/// Everything needed to serve one embeddings request.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingPlan {
    /// The upstream calls, in input order; together they hold every input once.
    pub batches: Vec<gc::EmbeddingsRequest>,
    /// How vectors are written.
    pub encoding: EncodingFormat,
    /// The vector size the client asked for, if any.
    pub dimensions: Option<u32>,
}

impl EmbeddingPlan {
    /// The GigaChat model the batches go to.
    pub fn model(&self) -> &str {
        self.batches
            .first()
            .map_or("", |batch| batch.model.as_str())
    }
}

/// The embedding models OpenAI clients name by default (LlamaIndex, Open WebUI's RAG, LangChain):
/// served by the default embedder unless `MODEL_ALIASES` maps them elsewhere.
pub const OPENAI_EMBEDDING_MODELS: [&str; 3] = [
    "text-embedding-ada-002",
    "text-embedding-3-small",
    "text-embedding-3-large",
];

/// The GigaChat embedder for what the client named: an alias's target, `default_model` for no
/// name or one of [`OPENAI_EMBEDDING_MODELS`], else the name as given.
pub fn embedding_model(
    requested: Option<&str>,
    defaults: &ChatDefaults,
    default_model: &str,
) -> String {
    let named = requested
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .filter(|m| defaults.aliases.contains_key(*m) || !OPENAI_EMBEDDING_MODELS.contains(m));
    defaults.resolve_model(Some(named.unwrap_or(default_model)))
}

/// The vector size of GigaChat's embedders, where known; `dimensions` must equal it.
pub fn native_dimensions(model: &str) -> Option<usize> {
    let base = model.split_once(':').map_or(model, |(base, _)| base);
    matches!(base, "Embeddings" | "Embeddings-2" | "EmbeddingsGigaR").then_some(1024)
}

/// Builds the plan: model resolved by [`embedding_model`] (`default_model` is `EMBEDDINGS_MODEL`),
/// token ids decoded, empty inputs refused, `dimensions` checked for known models.
pub fn embedding_request(
    request: EmbeddingRequest,
    defaults: &ChatDefaults,
    default_model: &str,
) -> Result<EmbeddingPlan, TranslateError> {
    let requested = request
        .model
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty());
    let model = embedding_model(requested, defaults, default_model);
    let single = matches!(
        request.input,
        openai::embeddings::Input::Text(_) | openai::embeddings::Input::Tokens(_)
    );
    let texts = input_texts(request.input, requested, "input")?;
    if texts.len() > MAX_INPUTS {
        return Err(TranslateError::invalid(
            "input",
            format!(
                "at most {MAX_INPUTS} inputs per request, got {}",
                texts.len()
            ),
        ));
    }
    if let Some(empty) = texts.iter().position(String::is_empty) {
        let param = if single {
            "input".to_owned()
        } else {
            format!("input[{empty}]")
        };
        return Err(TranslateError::invalid(
            param.clone(),
            format!("{param} is empty; every input must have some text"),
        ));
    }
    if let Some(asked) = request.dimensions {
        let fits = match native_dimensions(&model) {
            Some(native) => usize::try_from(asked).is_ok_and(|asked| asked == native),
            None => asked > 0,
        };
        if !fits {
            return Err(dimensions_error(&model, asked, native_dimensions(&model)));
        }
    }
    let batches = batches(&texts);
    let mut texts = texts.into_iter();
    Ok(EmbeddingPlan {
        batches: batches
            .into_iter()
            .map(|range| gc::EmbeddingsRequest {
                model: model.clone(),
                input: texts.by_ref().take(range.len()).collect(),
            })
            .collect(),
        encoding: request.encoding_format.unwrap_or_default(),
        dimensions: request.dimensions,
    })
}

fn dimensions_error(model: &str, asked: u32, native: Option<usize>) -> TranslateError {
    let size = native.map_or_else(
        || "vectors of one fixed size".to_owned(),
        |n| format!("{n}-dimensional vectors"),
    );
    TranslateError::invalid(
        "dimensions",
        format!(
            "{model} produces {size} and cannot shorten them; dimensions {asked} is not available (omit dimensions or send the native size)"
        ),
    )
}

/// Splits texts into consecutive batches within [`BATCH_MAX_TEXTS`] and [`BATCH_MAX_CHARS`].
pub fn batches(texts: &[String]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut chars) = (0, 0);
    for (index, text) in texts.iter().enumerate() {
        let len = text.chars().count();
        let count = index - start;
        if count > 0 && (count == BATCH_MAX_TEXTS || chars + len > BATCH_MAX_CHARS) {
            out.push(start..index);
            (start, chars) = (index, 0);
        }
        chars += len;
    }
    if start < texts.len() {
        out.push(start..texts.len());
    }
    out
}

/// Why the vectors cannot be returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmbeddingError {
    /// The client's `dimensions` does not match what the model produced.
    #[error(transparent)]
    Invalid(TranslateError),
    /// GigaChat's answer does not fit the batch it was sent.
    #[error(transparent)]
    Upstream(CountMismatch),
}

/// The OpenAI list for GigaChat's answers to `plan`'s batches (same order): indexes across the
/// whole input, vectors encoded as asked, per-item usage summed.
pub fn embedding_response(
    plan: &EmbeddingPlan,
    answers: Vec<gc::EmbeddingsResponse>,
) -> Result<EmbeddingList, EmbeddingError> {
    let model = answers
        .first()
        .map(|answer| answer.model.clone())
        .unwrap_or_else(|| plan.model().to_owned());
    if answers.len() != plan.batches.len() {
        return Err(EmbeddingError::Upstream(CountMismatch {
            sent: plan.batches.len(),
            got: answers.len(),
        }));
    }
    let mut data = Vec::new();
    let mut tokens: u32 = 0;
    for (batch, answer) in plan.batches.iter().zip(answers) {
        let mut items = answer.data;
        if items.len() != batch.input.len() {
            return Err(EmbeddingError::Upstream(CountMismatch {
                sent: batch.input.len(),
                got: items.len(),
            }));
        }
        items.sort_by_key(|item| item.index);
        for item in items {
            if let Some(asked) = plan.dimensions
                && usize::try_from(asked).ok() != Some(item.embedding.len())
            {
                return Err(EmbeddingError::Invalid(dimensions_error(
                    plan.model(),
                    asked,
                    Some(item.embedding.len()),
                )));
            }
            tokens = tokens.saturating_add(item.usage.map_or(0, |u| u.prompt_tokens));
            data.push(Embedding {
                object: "embedding".into(),
                index: u32::try_from(data.len()).unwrap_or(u32::MAX),
                embedding: encode(item.embedding, plan.encoding),
            });
        }
    }
    Ok(EmbeddingList {
        object: "list".into(),
        data,
        model,
        usage: EmbeddingUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    })
}

/// A vector as floats, or as OpenAI's base64: the little-endian `f32` bytes, standard alphabet.
pub fn encode(vector: Vec<f32>, format: EncodingFormat) -> Vector {
    match format {
        EncodingFormat::Float => Vector::Float(vector),
        EncodingFormat::Base64 => {
            let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
            Vector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    use serde_json::json;

    fn defaults() -> ChatDefaults {
        ChatDefaults {
            contract: Default::default(),
            default_model: "GigaChat".into(),
            aliases: HashMap::from([("text-embedding-3-small".into(), "Embeddings".into())]),
            builtin_functions: false,
        }
    }

    fn plan(body: serde_json::Value) -> Result<EmbeddingPlan, TranslateError> {
        embedding_request(
            serde_json::from_value(body).unwrap(),
            &defaults(),
            "Embeddings",
        )
    }

    fn answer(model: &str, texts: &[&str], dims: usize) -> gc::EmbeddingsResponse {
        serde_json::from_value(json!({
            "object": "list", "model": model,
            "data": texts.iter().enumerate().rev().map(|(i, t)| json!({
                "object": "embedding", "index": i, "usage": {"prompt_tokens": t.len()},
                "embedding": vec![t.len() as f32; dims],
            })).collect::<Vec<_>>()
        }))
        .unwrap()
    }

    #[test]
    fn model_defaults_aliases_and_token_ids() {
        let p = plan(json!({"input": "a"})).unwrap();
        assert_eq!(p.model(), "Embeddings");
        let p = plan(json!({"input": [[15339, 1917]], "model": "text-embedding-3-small"})).unwrap();
        assert_eq!(p.model(), "Embeddings");
        assert_eq!(p.batches[0].input, ["hello world"]);
        let p = plan(json!({"input": ["a"], "model": "EmbeddingsGigaR"})).unwrap();
        assert_eq!(p.model(), "EmbeddingsGigaR");
    }

    #[test]
    fn openai_default_names_use_the_default_embedder_unless_aliased() {
        let bare = ChatDefaults::default();
        for name in OPENAI_EMBEDDING_MODELS {
            assert_eq!(
                embedding_model(Some(name), &bare, "EmbeddingsGigaR"),
                "EmbeddingsGigaR"
            );
        }
        assert_eq!(embedding_model(None, &bare, "Embeddings"), "Embeddings");
        assert_eq!(
            embedding_model(Some(" "), &bare, "Embeddings"),
            "Embeddings"
        );
        // Other names go to GigaChat as given (it judges them); aliases win over the default.
        assert_eq!(
            embedding_model(Some("text-embedding-4"), &bare, "Embeddings"),
            "text-embedding-4"
        );
        let aliased = ChatDefaults {
            aliases: HashMap::from([("text-embedding-3-large".into(), "EmbeddingsGigaR".into())]),
            ..ChatDefaults::default()
        };
        assert_eq!(
            embedding_model(Some("text-embedding-3-large"), &aliased, "Embeddings"),
            "EmbeddingsGigaR"
        );
        assert_eq!(
            embedding_model(Some("text-embedding-3-small"), &aliased, "Embeddings"),
            "Embeddings"
        );
    }

    #[test]
    fn client_mistakes_name_the_field() {
        for (body, param) in [
            (json!({"input": ""}), "input"),
            (json!({"input": []}), "input"),
            (json!({"input": ["a", ""]}), "input[1]"),
            (json!({"input": [[1], []]}), "input[1]"),
            (json!({"input": "a", "dimensions": 256}), "dimensions"),
            (
                json!({"input": "a", "dimensions": 0, "model": "Other"}),
                "dimensions",
            ),
            (json!({"input": vec!["a"; MAX_INPUTS + 1]}), "input"),
        ] {
            let err = plan(body.clone()).unwrap_err();
            assert_eq!(err.param.as_deref(), Some(param), "{body}: {}", err.message);
        }
        assert!(plan(json!({"input": "a", "dimensions": 1024})).is_ok());
        assert!(plan(json!({"input": "a", "dimensions": 7, "model": "Other"})).is_ok());
    }

    #[test]
    fn batches_respect_count_and_characters() {
        let texts: Vec<String> = (0..250).map(|i| format!("t{i}")).collect();
        let ranges = batches(&texts);
        assert_eq!(ranges, [0..100, 100..200, 200..250]);
        let big = "я".repeat(BATCH_MAX_CHARS / 2 + 1);
        let texts = vec![big.clone(), big.clone(), "x".into(), big];
        assert_eq!(batches(&texts), [0..1, 1..3, 3..4]);
        assert!(batches(&[]).is_empty());
    }

    #[test]
    fn answers_are_reassembled_in_input_order_with_summed_usage() {
        let texts: Vec<String> = (0..150).map(|i| "x".repeat(i + 1)).collect();
        let p = plan(json!({"input": texts})).unwrap();
        assert_eq!(p.batches.len(), 2);
        let answers = p
            .batches
            .iter()
            .map(|b| {
                let refs: Vec<&str> = b.input.iter().map(String::as_str).collect();
                answer("Embeddings", &refs, 2)
            })
            .collect();
        let list = embedding_response(&p, answers).unwrap();
        assert_eq!(list.data.len(), 150);
        for (i, item) in list.data.iter().enumerate() {
            assert_eq!(item.index as usize, i);
            assert_eq!(item.embedding, Vector::Float(vec![(i + 1) as f32; 2]));
        }
        let total = (1..=150).sum::<u32>();
        assert_eq!(list.usage.prompt_tokens, total);
        assert_eq!(list.usage.total_tokens, total);
    }

    #[test]
    fn base64_is_little_endian_f32() {
        let Vector::Base64(text) = encode(vec![1.0, -2.5], EncodingFormat::Base64) else {
            panic!("base64 expected");
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap();
        assert_eq!(
            bytes,
            [1.0f32.to_le_bytes(), (-2.5f32).to_le_bytes()].concat()
        );
    }

    #[test]
    fn unknown_models_are_held_to_the_size_they_return() {
        let p = plan(json!({"input": ["a"], "model": "Other", "dimensions": 3})).unwrap();
        let err = embedding_response(&p, vec![answer("Other", &["a"], 2)]).unwrap_err();
        let EmbeddingError::Invalid(err) = err else {
            panic!("{err:?}")
        };
        assert_eq!(err.param.as_deref(), Some("dimensions"));
        assert!(embedding_response(&p, vec![answer("Other", &["a"], 3)]).is_ok());
        let err = embedding_response(&p, vec![answer("Other", &[], 3)]).unwrap_err();
        assert!(matches!(err, EmbeddingError::Upstream(_)));
    }
}
