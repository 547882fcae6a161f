//! `POST /embeddings`: deterministic unit-length vectors, per-item usage, no top-level usage.

use serde::{Deserialize, Serialize};

use super::parse_json;
use super::tokens::Input;
use crate::api::models;
use crate::text::{self, Rng};
use crate::wire::{self, ApiError, ApiResult};

/// Dimensions of every emulated embedder (the recorded `Embeddings` vectors have 1024).
pub(crate) const DIMENSIONS: usize = 1024;

/// Tokens the embedder adds to each input (recorded: `Hello, world!` → 9 here, 4 in `/tokens/count`).
const EMBEDDER_OVERHEAD_TOKENS: usize = 5;

#[derive(Deserialize)]
struct EmbeddingsRequest {
    model: String,
    input: Input,
}

/// A deterministic unit-length vector for `text` under `model`.
pub(crate) fn vector(model: &str, text: &str) -> Vec<f32> {
    let mut rng = Rng::new(
        text::Fnv::default()
            .write_str(model)
            .write_str(text)
            .finish(),
    );
    let raw: Vec<f64> = (0..DIMENSIONS).map(|_| rng.unit() * 2.0 - 1.0).collect();
    let norm = raw
        .iter()
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    raw.iter().map(|x| (x / norm) as f32).collect()
}

/// `POST /embeddings`.
pub(crate) async fn embed(body: bytes::Bytes) -> ApiResult {
    #[derive(Serialize)]
    struct Usage {
        prompt_tokens: usize,
    }
    #[derive(Serialize)]
    struct Item {
        object: &'static str,
        index: usize,
        embedding: Vec<f32>,
        usage: Usage,
    }
    #[derive(Serialize)]
    struct List<'a> {
        object: &'static str,
        model: &'a str,
        data: Vec<Item>,
    }
    let request: EmbeddingsRequest = parse_json(&body)?;
    if !models::is_embedder(&request.model) {
        return Err(ApiError::no_such_model());
    }
    let data = request
        .input
        .into_vec()
        .iter()
        .enumerate()
        .map(|(index, input)| Item {
            object: "embedding",
            index,
            embedding: vector(&request.model, input),
            usage: Usage {
                prompt_tokens: text::count_tokens(input) + EMBEDDER_OVERHEAD_TOKENS,
            },
        })
        .collect();
    wire::ok(&List {
        object: "list",
        model: &request.model,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_unit_length_and_deterministic() {
        let a = vector("Embeddings", "Hello");
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
        assert_eq!(a, vector("Embeddings", "Hello"));
        assert_ne!(a, vector("Embeddings", "Hello!"));
    }
}
