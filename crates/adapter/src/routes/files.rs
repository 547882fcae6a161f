//! The Files API (`/v1/files`) handlers, backed by GigaChat's `/files`: ids are GigaChat's own,
//! so a `file_id` content part can reference them directly. The wire types are in
//! [`openai::files`]; the mapping and OpenAI's checks of a form or query in [`translate::files`].

use axum::Json;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Multipart, Path, Query};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt as _;
use gigachat::types::FilePurpose;
use gigachat::{FileSource, FileUpload};
use openai::files::{FileDeleted, FileList, FileListQuery, FileObject};
use translate::files::{FileListing, file_deleted, file_list, file_object};

use crate::access::Call;
use crate::attachments::media;
use crate::attachments::purposes::Recorded;
use crate::error::AppError;
use crate::state::AppState;
use crate::{context, offload};

/// Purpose lookups a list runs at once (each may be a Redis round trip).
const PARALLEL_LOOKUPS: usize = 16;

/// The ids GigaChat gets for a Files API call (the request id from the gate).
fn upstream_context(headers: &HeaderMap, call: &Call) -> gigachat::RequestContext {
    context::upstream(headers, call.id(), None)
}

/// `POST /v1/files`: multipart `file` (+ `purpose`), checked and converted like attachments.
pub async fn upload(
    state: AppState,
    call: Call,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Json<FileObject>, AppError> {
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
    let purpose = translate::files::upload_purpose(purpose)?;
    let lifetime = translate::files::expires_after(anchor.as_deref(), seconds.as_deref())?;
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
    Ok(Json(file_object(answer.data, purpose, expires_at)))
}

/// `GET /v1/files`: GigaChat's list with each file's remembered purpose, filtered by `purpose`,
/// ordered by `created_at` and paged by `limit` and `after` as OpenAI does.
pub async fn list(
    state: AppState,
    call: Call,
    headers: HeaderMap,
    query: Result<Query<FileListQuery>, QueryRejection>,
) -> Result<Json<FileList>, AppError> {
    let Query(query) = query.map_err(|err| AppError::InvalidRequest {
        message: err.body_text(),
        param: None,
    })?;
    let listing = FileListing::new(query)?;
    let context = upstream_context(&headers, &call);
    let files = listing.arrange(state.client().list_files(&context).await?.data.data);
    let state = &state;
    let context = &context;
    let mut described = futures_util::stream::iter(files)
        .map(|file| async move {
            let recorded = state
                .purposes()
                .unless_expired(state.client(), &file.id, context)
                .await
                .ok()?;
            let recorded = reported(recorded);
            Some(file_object(file, recorded.purpose, recorded.expires_at))
        })
        .buffered(PARALLEL_LOOKUPS)
        .filter_map(|file| std::future::ready(file.filter(|file| listing.wants(file))));
    let mut data = Vec::new();
    let mut has_more = false;
    while let Some(file) = described.next().await {
        if data.len() == listing.limit {
            has_more = true;
            break;
        }
        data.push(file);
    }
    Ok(Json(file_list(data, has_more)))
}

/// `GET /v1/files/{id}`.
pub async fn get(
    state: AppState,
    call: Call,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<FileObject>, AppError> {
    let context = upstream_context(&headers, &call);
    let recorded = unexpired(&state, &id, &context).await?;
    let file = state
        .client()
        .get_file(&id, &context)
        .await
        .map_err(|err| AppError::about_file(err, &id))?;
    Ok(Json(file_object(
        file.data,
        recorded.purpose,
        recorded.expires_at,
    )))
}

/// What a file object reports: what it was uploaded with, else [`DEFAULT_PURPOSE`] and no expiry.
fn reported(recorded: Option<Recorded>) -> Recorded {
    recorded.unwrap_or_else(|| Recorded {
        purpose: translate::files::DEFAULT_PURPOSE.to_owned(),
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
    state: AppState,
    call: Call,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<FileDeleted>, AppError> {
    let deleted = state
        .client()
        .delete_file(&id, &upstream_context(&headers, &call))
        .await
        .map_err(|err| AppError::about_file(err, &id))?;
    if deleted.data.deleted {
        state.purposes().forget(&id).await;
    }
    Ok(Json(file_deleted(deleted.data)))
}

/// `GET /v1/files/{id}/content`: the bytes (send the `X-Client-ID` that generated an image).
pub async fn content(
    state: AppState,
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
