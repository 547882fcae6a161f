//! `GET /v1/models` and `GET /v1/models/{id}`: GigaChat's list (cached briefly) plus configured aliases.

use axum::Json;
use axum::extract::{Path, State};
use gigachat::RequestContext;
use openai::models::{Model, ModelList};

use crate::error::AppError;
use crate::state::AppState;

/// GigaChat reports no creation dates; this fixed date (2025-01-01) keeps `created` stable across restarts.
const MODEL_CREATED: i64 = 1_735_689_600;

/// Every model: GigaChat's, then the aliases.
async fn all_models(state: &AppState) -> Result<Vec<Model>, AppError> {
    let upstream = state
        .models()
        .get_or_try(|| async {
            state
                .client()
                .models(&RequestContext::default())
                .await
                .map(|answer| answer.data.data)
        })
        .await?;
    let mut models: Vec<Model> = upstream
        .into_iter()
        .map(|model| Model {
            id: model.id,
            object: "model".into(),
            created: MODEL_CREATED,
            owned_by: model.owned_by,
        })
        .collect();
    let mut aliases: Vec<_> = state.defaults().aliases.iter().collect();
    aliases.sort();
    for (alias, target) in aliases {
        models.push(Model {
            id: alias.clone(),
            object: "model".into(),
            created: MODEL_CREATED,
            owned_by: format!("gigachat-adapter (alias of {target})"),
        });
    }
    Ok(models)
}

/// Lists the models.
pub async fn list(State(state): State<AppState>) -> Result<Json<ModelList>, AppError> {
    Ok(Json(ModelList {
        object: "list".into(),
        data: all_models(&state).await?,
    }))
}

/// One model, or 404 `model_not_found`.
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Model>, AppError> {
    all_models(&state)
        .await?
        .into_iter()
        .find(|model| model.id == id)
        .map(Json)
        .ok_or(AppError::ModelNotFound(id))
}
