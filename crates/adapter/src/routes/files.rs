//! The Files API (`/v1/files`) in OpenAI's shapes, backed by GigaChat's `/files`: ids are
//! GigaChat's own, so a `file_id` content part can reference them directly.

use axum::Json;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gigachat::types::{FileObject, FilePurpose};
use gigachat::{FileSource, FileUpload};
use serde::Serialize;

use crate::attachments::media;
use crate::context;
use crate::error::AppError;
use crate::state::AppState;

/// The purpose reported for files we did not see uploaded (GigaChat only knows `general`).
const DEFAULT_PURPOSE: &str = "user_data";

/// OpenAI's file object.
#[derive(Debug, Serialize)]
pub struct OpenAiFile {
    id: String,
    object: &'static str,
    bytes: u64,
    created_at: i64,
    filename: String,
    purpose: String,
    status: &'static str,
}

impl OpenAiFile {
    fn from_gigachat(file: FileObject, purpose: &str) -> Self {
        Self {
            id: file.id,
            object: "file",
            bytes: file.bytes,
            created_at: file.created_at,
            filename: file.filename,
            purpose: purpose.to_owned(),
            status: "processed",
        }
    }
}

/// `GET /v1/files`.
#[derive(Debug, Serialize)]
pub struct FileList {
    object: &'static str,
    data: Vec<OpenAiFile>,
    /// Empty for an empty list (OpenAI's schema requires a string).
    first_id: String,
    /// Empty for an empty list.
    last_id: String,
    has_more: bool,
}

/// `DELETE /v1/files/{id}`.
#[derive(Debug, Serialize)]
pub struct Deleted {
    id: String,
    object: &'static str,
    deleted: bool,
}

fn upstream_context(headers: &HeaderMap) -> gigachat::RequestContext {
    context::upstream(headers, &context::request_id(headers), None)
}

/// `POST /v1/files`: multipart `file` (+ `purpose`), checked and converted like attachments.
pub async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Result<Json<OpenAiFile>, AppError> {
    let mut file: Option<(Bytes, Option<String>, Option<String>)> = None;
    let mut purpose = DEFAULT_PURPOSE.to_owned();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|err| invalid(err.body_text()))?
    {
        match field.name() {
            Some("file") => {
                let filename = field.file_name().map(str::to_owned);
                let declared = field.content_type().map(str::to_owned);
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|err| invalid(err.body_text()))?;
                file = Some((bytes, declared, filename));
            }
            Some("purpose") => {
                purpose = field.text().await.map_err(|err| invalid(err.body_text()))?;
            }
            _ => {}
        }
    }
    let Some((bytes, declared, filename)) = file else {
        return Err(AppError::InvalidRequest {
            message: "the multipart form needs a `file` field".into(),
            param: Some("file".into()),
        });
    };
    let prepared = media::prepare(bytes.to_vec(), declared.as_deref(), filename.as_deref())
        .map_err(|err| AppError::InvalidRequest {
            message: err.to_string(),
            param: Some("file".into()),
        })?;
    let upload = FileUpload {
        filename: prepared.filename,
        content_type: Some(prepared.mime.to_owned()),
        purpose: FilePurpose::General,
        source: FileSource::Bytes(Bytes::from(prepared.bytes)),
    };
    let answer = state
        .client()
        .upload_file(&upload, &upstream_context(&headers))
        .await?;
    Ok(Json(OpenAiFile::from_gigachat(answer.data, &purpose)))
}

/// `GET /v1/files`.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<FileList>, AppError> {
    let files = state
        .client()
        .list_files(&upstream_context(&headers))
        .await?
        .data
        .data;
    let data: Vec<OpenAiFile> = files
        .into_iter()
        .map(|file| OpenAiFile::from_gigachat(file, DEFAULT_PURPOSE))
        .collect();
    Ok(Json(FileList {
        object: "list",
        first_id: data.first().map(|f| f.id.clone()).unwrap_or_default(),
        last_id: data.last().map(|f| f.id.clone()).unwrap_or_default(),
        data,
        has_more: false,
    }))
}

/// `GET /v1/files/{id}`.
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<OpenAiFile>, AppError> {
    let file = state
        .client()
        .get_file(&id, &upstream_context(&headers))
        .await
        .map_err(|err| not_found(err, &id))?;
    Ok(Json(OpenAiFile::from_gigachat(file.data, DEFAULT_PURPOSE)))
}

/// `DELETE /v1/files/{id}` (GigaChat's `POST /files/{id}/delete`).
pub async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, AppError> {
    let deleted = state
        .client()
        .delete_file(&id, &upstream_context(&headers))
        .await
        .map_err(|err| not_found(err, &id))?;
    Ok(Json(Deleted {
        id: deleted.data.id,
        object: "file",
        deleted: deleted.data.deleted,
    }))
}

/// `GET /v1/files/{id}/content`: the bytes (send the `X-Client-ID` that generated an image).
pub async fn content(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let file = state
        .client()
        .file_content(&id, &upstream_context(&headers))
        .await
        .map_err(|err| not_found(err, &id))?;
    let content_type = file
        .data
        .content_type
        .and_then(|t| HeaderValue::from_str(&t).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    Ok(([(header::CONTENT_TYPE, content_type)], file.data.bytes).into_response())
}

fn invalid(message: String) -> AppError {
    AppError::InvalidRequest {
        message: format!("invalid multipart upload: {message}"),
        param: None,
    }
}

/// GigaChat's 404 (or 403 for a file generated under another client id) → our 404 for that file.
fn not_found(err: gigachat::Error, id: &str) -> AppError {
    match err.status() {
        Some(404 | 403) => AppError::FileNotFound(id.to_owned()),
        _ => AppError::Upstream(err),
    }
}
