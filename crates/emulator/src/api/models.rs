//! The model catalogue (`GET /models`, `GET /models/{id}`), versioned names, and `GET /balance`.

use axum::Extension;
use axum::extract::Path;
use axum::http::StatusCode;
use serde::Serialize;

use crate::auth::{Identity, Scope};
use crate::wire::{self, ApiError, ApiResult};

/// The production model list recorded in January 2026 (`test_get_models.yaml`), in order, with types.
pub(crate) const MODELS: &[(&str, &str)] = &[
    ("GigaChat", "chat"),
    ("GigaChat-2", "chat"),
    ("GigaChat-2-Max", "chat"),
    ("GigaChat-2-Max-preview", "chat"),
    ("GigaChat-2-Pro", "chat"),
    ("GigaChat-2-Pro-preview", "chat"),
    ("GigaChat-2-preview", "chat"),
    ("GigaChat-Max", "chat"),
    ("GigaChat-Max-preview", "chat"),
    ("GigaChat-Plus", "chat"),
    ("GigaChat-Pro", "chat"),
    ("GigaChat-Pro-preview", "chat"),
    ("GigaChat-preview", "chat"),
    ("GigaFilter", "filter"),
    ("GigaCheckClassification", "aicheck"),
    ("GigaCheckDetection", "aicheck"),
    ("Embeddings", "embedder"),
    ("Embeddings-2", "embedder"),
    ("EmbeddingsGigaR", "embedder"),
    ("GigaEmbeddings-3B-2025-09", "embedder"),
];

/// Chat models that answer although `/models` does not list them (seen in other recordings).
const UNLISTED_CHAT: &[&str] = &["GigaChat-3-Ultra", "GigaChat-2-Reasoning"];

/// Whether chat model `base` (no version) answers only on api.giga.chat and only to individuals
/// (PERS): GigaChat-3 models (gigachat-api.md §11.1, §11.6; the older host answers 404 for them).
pub(crate) fn new_host_pers_only(base: &str) -> bool {
    base.starts_with("GigaChat-3")
}

/// The versioned name a chat model reports in answers (`GigaChat` → `GigaChat:2.0.28.2`), or `None`
/// if `name` is no chat model. A name that already carries a version keeps it.
pub(crate) fn versioned_chat_model(name: &str) -> Option<String> {
    let (base, version) = match name.split_once(':') {
        Some((base, version)) => (base, Some(version)),
        None => (name, None),
    };
    let listed = MODELS
        .iter()
        .any(|(id, kind)| *id == base && *kind == "chat");
    if !listed && !UNLISTED_CHAT.contains(&base) {
        return None;
    }
    let version = version.unwrap_or(if base.starts_with("GigaChat-3") {
        "32.3.7.3"
    } else {
        "2.0.28.2"
    });
    Some(format!("{base}:{version}"))
}

/// Whether `name` is an embedder model.
pub(crate) fn is_embedder(name: &str) -> bool {
    MODELS
        .iter()
        .any(|(id, kind)| *id == name && *kind == "embedder")
}

/// Whether `name` is an AI-text detector (`/ai/check`).
pub(crate) fn is_aicheck(name: &str) -> bool {
    MODELS
        .iter()
        .any(|(id, kind)| *id == name && *kind == "aicheck")
}

#[derive(Serialize)]
struct Model {
    id: &'static str,
    object: &'static str,
    owned_by: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

fn model(id: &'static str, kind: &'static str) -> Model {
    Model {
        id,
        object: "model",
        owned_by: "salutedevices",
        kind,
    }
}

/// `GET /models`: the recorded list.
pub(crate) async fn list() -> ApiResult {
    #[derive(Serialize)]
    struct List {
        object: &'static str,
        data: Vec<Model>,
    }
    wire::ok(&List {
        object: "list",
        data: MODELS.iter().map(|(id, kind)| model(id, kind)).collect(),
    })
}

/// `GET /models/{id}`: one model, or 404 `No such model`.
pub(crate) async fn get(Path(id): Path<String>) -> ApiResult {
    let (id, kind) = MODELS
        .iter()
        .find(|(known, _)| *known == id)
        .ok_or_else(ApiError::no_such_model)?;
    wire::ok(&model(id, kind))
}

/// `GET /balance`: the prepaid packages (fixture `balance.json`); 403 for pay-as-you-go (CORP) tokens.
pub(crate) async fn balance(Extension(identity): Extension<Identity>) -> ApiResult {
    #[derive(Serialize)]
    struct Entry {
        usage: &'static str,
        value: u64,
    }
    #[derive(Serialize)]
    struct Balance {
        balance: [Entry; 4],
    }
    if identity.scope == Scope::Corp {
        return Err(ApiError::status(StatusCode::FORBIDDEN));
    }
    wire::ok(&Balance {
        balance: [
            Entry {
                usage: "embeddings",
                value: 9_999_967,
            },
            Entry {
                usage: "GigaChat-Pro",
                value: 991_490,
            },
            Entry {
                usage: "GigaChat-Max",
                value: 50_000,
            },
            Entry {
                usage: "GigaChat",
                value: 900_000,
            },
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_models_get_versions() {
        assert_eq!(
            versioned_chat_model("GigaChat").as_deref(),
            Some("GigaChat:2.0.28.2")
        );
        assert_eq!(
            versioned_chat_model("GigaChat-3-Ultra").as_deref(),
            Some("GigaChat-3-Ultra:32.3.7.3")
        );
        assert_eq!(versioned_chat_model("Embeddings"), None);
        assert_eq!(versioned_chat_model("NonExistentModel"), None);
    }
}
