//! The Files API (`/v1/files`) in OpenAI's shapes, backed by GigaChat's `/files`: ids are
//! GigaChat's own, so a `file_id` content part can reference them directly.

use axum::Json;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt as _;
use gigachat::types::{FileObject, FilePurpose};
use gigachat::{FileSource, FileUpload};
use serde::{Deserialize, Serialize};

use crate::access::Call;
use crate::attachments::media;
use crate::attachments::purposes::Recorded;
use crate::error::AppError;
use crate::state::AppState;
use crate::{context, offload};

/// The purpose reported for files we did not see uploaded (GigaChat only knows `general`).
const DEFAULT_PURPOSE: &str = "user_data";

/// The purposes OpenAI accepts for an upload and reports on a file object. (OpenAI also takes
/// `evals`, for its Evals API, which this gateway does not serve; its file object schema has no
/// such value.)
const UPLOAD_PURPOSES: [&str; 5] = ["assistants", "batch", "fine-tune", "vision", "user_data"];

/// Most files a list returns (OpenAI's maximum and default).
const MAX_LIST_LIMIT: usize = 10_000;

/// Purpose lookups a list runs at once (each may be a Redis round trip).
const PARALLEL_LOOKUPS: usize = 16;

/// The range OpenAI allows for `expires_after[seconds]`: one hour to 30 days.
const EXPIRY_SECONDS: std::ops::RangeInclusive<i64> = 3_600..=2_592_000;

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
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

impl OpenAiFile {
    fn from_gigachat(file: FileObject, recorded: Recorded) -> Self {
        Self {
            id: file.id,
            object: "file",
            bytes: file.bytes,
            created_at: file.created_at,
            filename: file.filename,
            purpose: recorded.purpose,
            status: "processed",
            expires_at: recorded.expires_at,
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

/// The ids GigaChat gets for a Files API call (the request id from the gate).
fn upstream_context(headers: &HeaderMap, call: &Call) -> gigachat::RequestContext {
    context::upstream(headers, call.id(), None)
}

/// `POST /v1/files`: multipart `file` (+ `purpose`), checked and converted like attachments.
pub async fn upload(
    State(state): State<AppState>,
    call: Call,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Json<OpenAiFile>, AppError> {
    let mut form = form.map_err(|rejection| invalid(rejection.body_text()))?;
    let limit = state.max_request_bytes();
    let unreadable = |err| unreadable(err, limit);
    let mut file: Option<(Bytes, Option<String>, Option<String>)> = None;
    let mut purpose = None;
    let (mut anchor, mut seconds) = (None, None);
    while let Some(field) = form.next_field().await.map_err(unreadable)? {
        match field.name() {
            Some("file") => {
                let filename = field.file_name().map(str::to_owned);
                let declared = field.content_type().map(str::to_owned);
                let bytes = field.bytes().await.map_err(unreadable)?;
                file = Some((bytes, declared, filename));
            }
            Some(name @ ("purpose" | "expires_after[anchor]" | "expires_after[seconds]")) => {
                let slot = match name {
                    "purpose" => &mut purpose,
                    "expires_after[anchor]" => &mut anchor,
                    _ => &mut seconds,
                };
                *slot = Some(field.text().await.map_err(unreadable)?);
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
    let purpose = upload_purpose(purpose)?;
    let lifetime = expires_after(anchor, seconds)?;
    // Sniffing and converting take milliseconds for a large file: not on the event loop.
    let prepared = offload::run(true, "preparing the uploaded file", move || {
        media::prepare(bytes.to_vec(), declared.as_deref(), filename.as_deref())
    })
    .await?
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
        .upload_file(&upload, &upstream_context(&headers, &call))
        .await?;
    let expires_at = lifetime.map(|seconds| answer.data.created_at.saturating_add(seconds));
    state
        .purposes()
        .remember(&answer.data.id, &purpose, expires_at)
        .await;
    let recorded = Recorded {
        purpose,
        expires_at,
    };
    Ok(Json(OpenAiFile::from_gigachat(answer.data, recorded)))
}

/// The form's `expires_after` (`anchor` must be `created_at`): the file's lifetime in seconds, or
/// `None` when the upload does not expire.
fn expires_after(anchor: Option<String>, seconds: Option<String>) -> Result<Option<i64>, AppError> {
    let bad = |param: &str, message: String| AppError::InvalidRequest {
        message,
        param: Some(param.into()),
    };
    match (anchor.as_deref(), seconds) {
        (None, None) => Ok(None),
        (Some("created_at"), Some(text)) => match text.trim().parse::<i64>() {
            Ok(seconds) if EXPIRY_SECONDS.contains(&seconds) => Ok(Some(seconds)),
            _ => Err(bad(
                "expires_after.seconds",
                format!(
                    "Invalid value for 'expires_after.seconds': {text:?}. It must be an integer \
                     between {} and {}.",
                    EXPIRY_SECONDS.start(),
                    EXPIRY_SECONDS.end()
                ),
            )),
        },
        (Some("created_at"), None) => Err(bad(
            "expires_after.seconds",
            "Missing required parameter: 'expires_after.seconds'.".into(),
        )),
        (None, Some(_)) => Err(bad(
            "expires_after.anchor",
            "Missing required parameter: 'expires_after.anchor'.".into(),
        )),
        (Some(other), _) => Err(bad(
            "expires_after.anchor",
            format!(
                "Invalid value for 'expires_after.anchor': {other:?}. Supported values are: created_at."
            ),
        )),
    }
}

/// The form's `purpose`, which OpenAI requires and restricts to [`UPLOAD_PURPOSES`].
fn upload_purpose(purpose: Option<String>) -> Result<String, AppError> {
    let Some(purpose) = purpose else {
        return Err(AppError::InvalidRequest {
            message: "Missing required parameter: 'purpose'.".into(),
            param: Some("purpose".into()),
        });
    };
    if UPLOAD_PURPOSES.contains(&purpose.as_str()) {
        return Ok(purpose);
    }
    Err(AppError::InvalidRequest {
        message: format!(
            "Invalid value for 'purpose': {purpose:?}. Supported values are: {}.",
            UPLOAD_PURPOSES.join(", ")
        ),
        param: Some("purpose".into()),
    })
}

/// The query of `GET /v1/files`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// Only files with this purpose.
    purpose: Option<String>,
    /// At most this many files (1 to 10,000); text, so a malformed value gets a precise error.
    limit: Option<String>,
    /// By `created_at`: `asc` or `desc` (the default).
    order: Option<String>,
    /// A cursor: the files after this id in the chosen order.
    after: Option<String>,
}

/// Whether a list is sorted oldest first.
fn ascending(query: &ListQuery) -> Result<bool, AppError> {
    match query.order.as_deref() {
        None | Some("desc") => Ok(false),
        Some("asc") => Ok(true),
        Some(other) => Err(AppError::InvalidRequest {
            message: format!(
                "Invalid value for 'order': {other:?}. Supported values are: asc, desc."
            ),
            param: Some("order".into()),
        }),
    }
}

/// The requested page size.
fn list_limit(query: &ListQuery) -> Result<usize, AppError> {
    let Some(text) = query.limit.as_deref() else {
        return Ok(MAX_LIST_LIMIT);
    };
    match text.trim().parse::<usize>() {
        Ok(limit @ 1..=MAX_LIST_LIMIT) => Ok(limit),
        _ => Err(AppError::InvalidRequest {
            message: format!(
                "Invalid value for 'limit': {text:?}. It must be an integer between 1 and {MAX_LIST_LIMIT}."
            ),
            param: Some("limit".into()),
        }),
    }
}

/// `GET /v1/files`: GigaChat's list with each file's remembered purpose, filtered by `purpose`,
/// ordered by `created_at` and paged by `limit` and `after` as OpenAI does.
pub async fn list(
    State(state): State<AppState>,
    call: Call,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<FileList>, AppError> {
    let Query(query) = query.map_err(|err| AppError::InvalidRequest {
        message: err.body_text(),
        param: None,
    })?;
    let ascending = ascending(&query)?;
    let limit = list_limit(&query)?;
    let context = upstream_context(&headers, &call);
    let mut files = state.client().list_files(&context).await?.data.data;
    // Stable: files created in the same second keep GigaChat's (upload) order, reversed for `desc`.
    files.sort_by_key(|file| file.created_at);
    if !ascending {
        files.reverse();
    }
    if let Some(after) = &query.after {
        let position = files.iter().position(|file| &file.id == after);
        files.drain(..position.map_or(files.len(), |index| index + 1));
    }
    let state = &state;
    let context = &context;
    let mut described = futures_util::stream::iter(files)
        .map(|file| async move {
            let recorded = state
                .purposes()
                .unless_expired(state.client(), &file.id, context)
                .await
                .ok()?;
            Some(OpenAiFile::from_gigachat(file, reported(recorded)))
        })
        .buffered(PARALLEL_LOOKUPS)
        .filter_map(|file| {
            let wanted =
                file.filter(|file| query.purpose.as_ref().is_none_or(|p| *p == file.purpose));
            std::future::ready(wanted)
        });
    let mut data = Vec::new();
    let mut has_more = false;
    while let Some(file) = described.next().await {
        if data.len() == limit {
            has_more = true;
            break;
        }
        data.push(file);
    }
    Ok(Json(FileList {
        object: "list",
        first_id: data.first().map(|f| f.id.clone()).unwrap_or_default(),
        last_id: data.last().map(|f| f.id.clone()).unwrap_or_default(),
        data,
        has_more,
    }))
}

/// `GET /v1/files/{id}`.
pub async fn get(
    State(state): State<AppState>,
    call: Call,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<OpenAiFile>, AppError> {
    let context = upstream_context(&headers, &call);
    let recorded = unexpired(&state, &id, &context).await?;
    let file = state
        .client()
        .get_file(&id, &context)
        .await
        .map_err(|err| AppError::about_file(err, &id))?;
    Ok(Json(OpenAiFile::from_gigachat(file.data, recorded)))
}

/// What a file object reports: what it was uploaded with, else [`DEFAULT_PURPOSE`] and no expiry.
fn reported(recorded: Option<Recorded>) -> Recorded {
    recorded.unwrap_or_else(|| Recorded {
        purpose: DEFAULT_PURPOSE.to_owned(),
        expires_at: None,
    })
}

/// What `id` reports; a 404 once it has expired (it is then deleted upstream).
async fn unexpired(
    state: &AppState,
    id: &str,
    context: &gigachat::RequestContext,
) -> Result<Recorded, AppError> {
    state
        .purposes()
        .unless_expired(state.client(), id, context)
        .await
        .map(reported)
        .map_err(|_| AppError::FileNotFound(id.to_owned()))
}

/// `DELETE /v1/files/{id}` (GigaChat's `POST /files/{id}/delete`).
pub async fn delete(
    State(state): State<AppState>,
    call: Call,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, AppError> {
    let deleted = state
        .client()
        .delete_file(&id, &upstream_context(&headers, &call))
        .await
        .map_err(|err| AppError::about_file(err, &id))?;
    if deleted.data.deleted {
        state.purposes().forget(&id).await;
    }
    Ok(Json(Deleted {
        id: deleted.data.id,
        object: "file",
        deleted: deleted.data.deleted,
    }))
}

/// `GET /v1/files/{id}/content`: the bytes (send the `X-Client-ID` that generated an image).
pub async fn content(
    State(state): State<AppState>,
    call: Call,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let context = upstream_context(&headers, &call);
    unexpired(&state, &id, &context).await?;
    let file = state
        .client()
        .file_content(&id, &context)
        .await
        .map_err(|err| AppError::about_file(err, &id))?;
    let content_type = file
        .data
        .content_type
        .and_then(|t| HeaderValue::from_str(&t).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    Ok(([(header::CONTENT_TYPE, content_type)], file.data.bytes).into_response())
}

/// A multipart body that could not be read: 408 when it stalled, 413 past `MAX_REQUEST_BYTES`
/// (`limit`), else 400 naming the problem.
fn unreadable(err: MultipartError, limit: usize) -> AppError {
    if let Some(stalled) = crate::body::stalled(&err) {
        return stalled;
    }
    if err.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        return AppError::PayloadTooLarge(limit);
    }
    invalid(err.body_text())
}

fn invalid(message: String) -> AppError {
    AppError::InvalidRequest {
        message: format!("invalid multipart upload: {message}"),
        param: None,
    }
}
