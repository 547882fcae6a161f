//! `GET /v1/models` and `GET /v1/models/{id}`: GigaChat's list (cached briefly) plus configured
//! aliases and the OpenAI embedding names the default embedder answers; and the `model_not_found`
//! error that lists them. In Anthropic's shape for a request with `anthropic-version`. A key with
//! `models` in `KEYS_FILE` sees only the models those allow.

use std::sync::Arc;

use anthropic::models::{ModelInfo, ModelList as AnthropicModelList};
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use gigachat::RequestContext;
use openai::models::{Model, ModelList};
use translate::embeddings::OPENAI_EMBEDDING_MODELS;

use crate::error::AppError;
use crate::policy::KeyPolicy;
use crate::state::AppState;

/// GigaChat reports no creation dates; this fixed date (2025-01-01) keeps `created` stable across restarts.
const MODEL_CREATED: i64 = 1_735_689_600;

/// [`MODEL_CREATED`] as Anthropic writes it.
const MODEL_CREATED_AT: &str = "2025-01-01T00:00:00Z";

/// Whether the request is an Anthropic client's (it sends `anthropic-version`).
fn anthropic_client(headers: &HeaderMap) -> bool {
    headers.contains_key(crate::server::ANTHROPIC_VERSION)
}

/// A model in Anthropic's shape (its display name says what an alias stands for).
fn model_info(model: Model) -> ModelInfo {
    let display_name = match model.owned_by.strip_prefix("gigachat-adapter (") {
        Some(alias) => format!("{} ({}", model.id, alias),
        None => model.id.clone(),
    };
    ModelInfo {
        kind: "model".into(),
        id: model.id,
        display_name,
        created_at: MODEL_CREATED_AT.into(),
        lifecycle: "active".into(),
    }
}

/// GigaChat's own models, from the cache (`MODELS_CACHE_SECS`) or a fresh `/models` call.
async fn gigachat_models(state: &AppState) -> Result<Vec<gigachat::types::Model>, AppError> {
    Ok(state
        .models()
        .get_or_try(|| async {
            state
                .client()
                .models(&RequestContext::default())
                .await
                .map(|answer| answer.data.data)
        })
        .await?)
}

/// The configured aliases, sorted by name.
fn sorted_aliases(state: &AppState) -> Vec<(&String, &String)> {
    let mut aliases: Vec<_> = state.defaults().aliases.iter().collect();
    aliases.sort();
    aliases
}

/// Every model: GigaChat's, then the aliases, then the OpenAI embedding names not aliased.
async fn all_models(state: &AppState) -> Result<Vec<Model>, AppError> {
    let model = |id: &str, owned_by: String| Model {
        id: id.to_owned(),
        object: "model".into(),
        created: MODEL_CREATED,
        owned_by,
    };
    let mut models: Vec<Model> = gigachat_models(state)
        .await?
        .into_iter()
        .map(|upstream| model(&upstream.id, upstream.owned_by))
        .collect();
    let aliases = sorted_aliases(state);
    for (alias, target) in &aliases {
        models.push(model(
            alias,
            format!("gigachat-adapter (alias of {target})"),
        ));
    }
    for name in OPENAI_EMBEDDING_MODELS {
        if !state.defaults().aliases.contains_key(name) {
            let target = state.embeddings_model();
            models.push(model(name, format!("gigachat-adapter (alias of {target})")));
        }
    }
    Ok(models)
}

/// Whether the caller's key (if it comes from `KEYS_FILE`) may use `model`.
fn allowed(key: Option<&Extension<Arc<KeyPolicy>>>, model: &str) -> bool {
    key.is_none_or(|Extension(key)| key.allows_model(model))
}

/// Lists the models the caller may use (one page, in Anthropic's shape for Anthropic clients).
pub async fn list(
    state: AppState,
    key: Option<Extension<Arc<KeyPolicy>>>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let mut data = all_models(&state).await?;
    data.retain(|model| allowed(key.as_ref(), &model.id));
    if anthropic_client(&headers) {
        let data: Vec<ModelInfo> = data.into_iter().map(model_info).collect();
        return Ok(Json(AnthropicModelList {
            has_more: false,
            first_id: data.first().map(|model| model.id.clone()),
            last_id: data.last().map(|model| model.id.clone()),
            data,
        })
        .into_response());
    }
    Ok(Json(ModelList {
        object: "list".into(),
        data,
    })
    .into_response())
}

/// One model, or 404 `model_not_found` (403 `model_not_allowed` when the caller's key may not use
/// it). A name a wildcard alias takes (`claude-*`) is a model too.
pub async fn get(
    state: AppState,
    Path(id): Path<String>,
    key: Option<Extension<Arc<KeyPolicy>>>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if !allowed(key.as_ref(), &id) {
        return Err(AppError::ModelNotAllowed(id));
    }
    let found = all_models(&state)
        .await?
        .into_iter()
        .find(|model| model.id == id)
        .or_else(|| {
            let target = state.defaults().alias_of(&id)?;
            Some(Model {
                id: id.clone(),
                object: "model".into(),
                created: MODEL_CREATED,
                owned_by: format!("gigachat-adapter (alias of {target})"),
            })
        });
    match found {
        Some(model) if anthropic_client(&headers) => Ok(Json(model_info(model)).into_response()),
        Some(model) => Ok(Json(model).into_response()),
        None => Err(not_found(&state, id).await),
    }
}

/// `model_not_found` for `model`, naming what is served instead: GigaChat's models (from the
/// cache; none when GigaChat cannot list them now) and the configured aliases.
pub(crate) async fn not_found(state: &AppState, model: String) -> AppError {
    let served = match gigachat_models(state).await {
        Ok(models) => models.into_iter().map(|m| m.id).collect(),
        Err(err) => {
            tracing::debug!(
                label = err.label(),
                "no model list for a model_not_found message"
            );
            Vec::new()
        }
    };
    let aliases = sorted_aliases(state)
        .into_iter()
        .map(|(alias, _)| alias.clone())
        .collect();
    AppError::ModelNotFound {
        model,
        served,
        aliases,
    }
}
