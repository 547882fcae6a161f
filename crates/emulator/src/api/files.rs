//! The Files API: multipart upload with GigaChat's type whitelist and size limits, list, get, delete,
//! download (with the `X-Client-ID` rule for generated images).

use axum::Extension;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use serde::Serialize;

use super::now_secs;
use crate::auth::Identity;
use crate::files::{FileObject, StoredFile};
use crate::state::AppState;
use crate::wire::{self, ApiError, ApiResult};

const MIB: usize = 1024 * 1024;

/// The broad kind of an accepted file, which decides its size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Documents: 40 MiB.
    Text,
    /// Pictures: 15 MiB.
    Image,
    /// Sound: 35 MiB.
    Audio,
}

impl Kind {
    fn limit(self) -> usize {
        match self {
            Self::Text => 40 * MIB,
            Self::Image => 15 * MIB,
            Self::Audio => 35 * MIB,
        }
    }
}

/// The kind of a MIME type on GigaChat's whitelist (gigachat-api.md §2.3, plus the standard names
/// common clients send for the same formats), or `None` if it is not accepted.
pub(crate) fn kind_of(mime: &str) -> Option<Kind> {
    let mime = mime
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "text/plain"
        | "application/msword"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        | "application/pdf"
        | "application/epub"
        | "application/epub+zip"
        | "application/ppt"
        | "application/pptx"
        | "application/vnd.ms-powerpoint"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation" => {
            Some(Kind::Text)
        }
        "image/jpeg" | "image/jpg" | "image/png" | "image/tiff" | "image/bmp" => Some(Kind::Image),
        "audio/mp4" | "audio/mp3" | "audio/mpeg" | "audio/x-m4a" | "audio/x-wav" | "audio/wave"
        | "audio/wav" | "audio/x-pn-wav" | "audio/webm" | "audio/x-ogg" | "audio/ogg"
        | "audio/opus" => Some(Kind::Audio),
        _ => None,
    }
}

/// The MIME type implied by a file name's extension, for parts sent without a useful content type.
fn mime_from_name(filename: &str) -> Option<&'static str> {
    let ext = filename.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "txt" => "text/plain",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "pdf" => "application/pdf",
        "epub" => "application/epub",
        "ppt" => "application/ppt",
        "pptx" => "application/pptx",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "tif" | "tiff" => "image/tiff",
        "bmp" => "image/bmp",
        "mp4" => "audio/mp4",
        "mp3" => "audio/mp3",
        "m4a" => "audio/x-m4a",
        "wav" => "audio/wav",
        "weba" => "audio/webm",
        "ogg" => "audio/x-ogg",
        "opus" => "audio/opus",
        _ => return None,
    })
}

/// `POST /files`: multipart `file` (+ optional `purpose`).
pub(crate) async fn upload(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    mut multipart: Multipart,
) -> ApiResult {
    let bad = |message: &str| ApiError::new(StatusCode::BAD_REQUEST, message);
    let mut file: Option<(String, String, Bytes)> = None;
    let mut purpose = "general".to_owned();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|_| bad("Invalid multipart body"))?
    {
        match field.name() {
            Some("file") => {
                let filename = field.file_name().unwrap_or("file").to_owned();
                let content_type = field.content_type().map(str::to_owned);
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|_| bad("Invalid multipart body"))?;
                let content_type = match content_type {
                    Some(ct) if !ct.eq_ignore_ascii_case("application/octet-stream") => ct,
                    _ => mime_from_name(&filename)
                        .unwrap_or("application/octet-stream")
                        .to_owned(),
                };
                file = Some((filename, content_type, bytes));
            }
            Some("purpose") => {
                purpose = field
                    .text()
                    .await
                    .map_err(|_| bad("Invalid multipart body"))?;
            }
            _ => {}
        }
    }
    let (filename, content_type, content) =
        file.ok_or_else(|| ApiError::invalid_params("field 'file' is required"))?;
    if purpose != "general" && purpose != "assistant" {
        return Err(ApiError::invalid_params(
            "purpose must be one of: general, assistant",
        ));
    }
    let kind = kind_of(&content_type)
        .ok_or_else(|| ApiError::status(StatusCode::UNSUPPORTED_MEDIA_TYPE))?;
    if content.len() > kind.limit() {
        return Err(ApiError::status(StatusCode::PAYLOAD_TOO_LARGE));
    }
    let object = FileObject {
        id: uuid::Uuid::new_v4().to_string(),
        object: "file",
        bytes: content.len(),
        access_policy: None,
        created_at: now_secs(),
        filename,
        purpose,
    };
    state.files.insert(StoredFile {
        object: object.clone(),
        owner: identity.key,
        content_type,
        content,
        client_id: None,
    });
    wire::ok(&object)
}

fn listed(mut object: FileObject) -> FileObject {
    object.access_policy = Some("private");
    object
}

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "File not found")
}

/// `GET /files`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
) -> ApiResult {
    #[derive(Serialize)]
    struct List {
        data: Vec<FileObject>,
    }
    wire::ok(&List {
        data: state
            .files
            .list(&identity.key)
            .into_iter()
            .map(listed)
            .collect(),
    })
}

/// `GET /files/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<String>,
) -> ApiResult {
    let file = state.files.get(&identity.key, &id).ok_or_else(not_found)?;
    wire::ok(&listed(file.object))
}

/// `POST /files/{id}/delete` (any body; the SDK sends a multipart with the id).
pub(crate) async fn delete(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<String>,
) -> ApiResult {
    #[derive(Serialize)]
    struct Deleted {
        id: String,
        object: &'static str,
        deleted: bool,
    }
    if !state.files.remove(&identity.key, &id) {
        return Err(not_found());
    }
    wire::ok(&Deleted {
        id,
        object: "file",
        deleted: true,
    })
}

/// `GET /files/{id}/content`: the bytes with their stored type; 403 when the generating request's
/// `X-Client-ID` is not repeated.
pub(crate) async fn content(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let file = state.files.get(&identity.key, &id).ok_or_else(not_found)?;
    if let Some(expected) = &file.client_id
        && wire::header(&headers, "x-client-id") != Some(expected.as_str())
    {
        return Err(ApiError::status(StatusCode::FORBIDDEN));
    }
    Ok(wire::raw(StatusCode::OK, &file.content_type, file.content))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitelist() {
        assert_eq!(kind_of("image/jpeg"), Some(Kind::Image));
        assert_eq!(kind_of("text/plain; charset=utf-8"), Some(Kind::Text));
        assert_eq!(kind_of("audio/x-wav"), Some(Kind::Audio));
        assert_eq!(kind_of("image/gif"), None);
        assert_eq!(kind_of("application/zip"), None);
        assert_eq!(mime_from_name("a.PNG"), Some("image/png"));
    }
}
