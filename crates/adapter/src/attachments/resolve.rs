//! Turning a request's file parts into GigaChat file ids: decode or fetch, classify, and upload
//! once per content and upstream identity (the dedup store), concurrently and single-flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::StreamExt;
use gigachat::types::FilePurpose;
use gigachat::{FileSource, FileUpload, GigaChat, RequestContext};
use openai::chat::{ChatCompletionRequest, ContentPart, MessageContent};
use tracing::Instrument as _;
use translate::{FileKind, ResolvedFile, ResolvedParts};

use super::decode::{self, DecodeError};
use super::fetch::{FetchError, Fetcher};
use super::media::{self, Media, MediaError};
use super::purposes::Purposes;
use super::store::{Dedup, FileKey, StoredFile};

/// How many parts of one request are prepared and uploaded at once.
const PARALLEL_UPLOADS: usize = 4;

/// Why a file part could not be attached; always the client's input, so a 400 naming the part.
#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    /// The inline payload is malformed.
    #[error("{0}")]
    Decode(#[from] DecodeError),
    /// The URL could not (or must not) be fetched.
    #[error("could not fetch the image URL: {0}")]
    Fetch(#[from] FetchError),
    /// The file is of a kind or size GigaChat does not take.
    #[error("{0}")]
    Media(#[from] MediaError),
    /// A `file_id` GigaChat does not know.
    #[error("unknown file id {0:?}; upload it with POST /v1/files first")]
    UnknownFileId(String),
    /// A `file` part with neither `file_id` nor `file_data`.
    #[error("a file part needs file_id or file_data")]
    EmptyFilePart,
    /// GigaChat refused the upload or could not be reached.
    #[error("uploading the file to GigaChat failed")]
    Upload(#[source] gigachat::Error),
}

/// A failure and the JSON path of the part it concerns.
#[derive(Debug)]
pub struct PartError {
    /// `messages[i].content[j]`.
    pub param: String,
    /// What went wrong.
    pub error: AttachmentError,
}

/// What became of file parts, for `gigachat_adapter_attachments_total{result}`.
#[derive(Debug, Default)]
pub struct AttachmentCounts {
    /// Parts whose content GigaChat already had (the dedup store knew its id).
    reused: AtomicU64,
    /// Parts uploaded to GigaChat.
    uploaded: AtomicU64,
    /// Image URLs fetched.
    fetched: AtomicU64,
    /// Parts refused as the client's mistake (malformed, unfetchable, wrong kind, unknown id).
    refused: AtomicU64,
}

impl AttachmentCounts {
    /// Each `result` label with its count.
    pub fn by_result(&self) -> [(&'static str, u64); 4] {
        [
            ("reused", self.reused.load(Ordering::Relaxed)),
            ("uploaded", self.uploaded.load(Ordering::Relaxed)),
            ("fetched", self.fetched.load(Ordering::Relaxed)),
            ("refused", self.refused.load(Ordering::Relaxed)),
        ]
    }

    /// Counts one part as `result`.
    pub fn count(&self, result: AttachmentResult) {
        let counter = match result {
            AttachmentResult::Reused => &self.reused,
            AttachmentResult::Uploaded => &self.uploaded,
            AttachmentResult::Fetched => &self.fetched,
            AttachmentResult::Refused => &self.refused,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What became of one file part (see [`AttachmentCounts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentResult {
    /// GigaChat already had its content.
    Reused,
    /// It was uploaded.
    Uploaded,
    /// Its image URL was fetched.
    Fetched,
    /// It was refused as the client's mistake.
    Refused,
}

/// The file-part resolver shared by all requests.
#[derive(Clone)]
pub struct Attachments {
    inner: Arc<Inner>,
}

struct Inner {
    client: GigaChat,
    fetcher: Fetcher,
    dedup: Dedup,
    /// Who uploads: files are never shared between upstream identities.
    identity: String,
    /// How long an uploaded id is trusted before it is uploaded again.
    ttl_secs: i64,
    /// What Files API uploads were given: a `file_id` past its `expires_after` is refused.
    purposes: Purposes,
    /// What became of the parts resolved so far.
    counts: Arc<AttachmentCounts>,
}

/// A file part to resolve, borrowed from the request.
struct Pending<'a> {
    key: (usize, usize),
    part: &'a ContentPart,
}

impl Attachments {
    /// A resolver uploading as `identity` (a stable, secret-free fingerprint of the credentials).
    pub fn new(
        client: GigaChat,
        fetcher: Fetcher,
        dedup: Dedup,
        identity: String,
        ttl_secs: i64,
        purposes: Purposes,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                fetcher,
                dedup,
                identity,
                ttl_secs,
                purposes,
                counts: Arc::default(),
            }),
        }
    }

    /// The resolver of another GigaChat account: uploads through `client` as `identity` (its own
    /// dedup namespace and purposes), sharing the fetcher, the store and the counts.
    pub fn for_account(&self, client: GigaChat, identity: String) -> Self {
        let purposes = self.inner.purposes.for_identity(&identity);
        Self {
            inner: Arc::new(Inner {
                client,
                fetcher: self.inner.fetcher.clone(),
                dedup: self.inner.dedup.clone(),
                identity,
                ttl_secs: self.inner.ttl_secs,
                purposes,
                counts: self.inner.counts.clone(),
            }),
        }
    }

    /// Who this resolver uploads as (its dedup namespace).
    pub fn identity(&self) -> &str {
        &self.inner.identity
    }

    /// The purposes of Files API uploads made as this resolver's identity.
    pub fn purposes(&self) -> &Purposes {
        &self.inner.purposes
    }

    /// What became of the file parts resolved so far (read by the metrics).
    pub fn counts(&self) -> Arc<AttachmentCounts> {
        self.inner.counts.clone()
    }

    /// Uploads (or finds) every file part of `request`; the keys of the map are (message, part).
    pub async fn resolve(
        &self,
        request: &ChatCompletionRequest,
        context: &RequestContext,
    ) -> Result<(ResolvedParts, Vec<FileKey>), PartError> {
        let pending: Vec<Pending<'_>> = request
            .messages
            .iter()
            .enumerate()
            .filter_map(|(index, message)| match &message.content {
                Some(MessageContent::Parts(parts)) => Some((index, parts)),
                _ => None,
            })
            .flat_map(|(index, parts)| {
                parts
                    .iter()
                    .enumerate()
                    .filter(|(_, part)| translate::attachments::is_file_part(part))
                    .map(move |(part_index, part)| Pending {
                        key: (index, part_index),
                        part,
                    })
            })
            .collect();
        let mut resolved = ResolvedParts::new();
        let mut keys = Vec::new();
        if pending.is_empty() {
            return Ok((resolved, keys));
        }
        // With traces exported only: the parent of the uploads' GigaChat calls.
        let span = if crate::traces::enabled() {
            tracing::debug_span!(
                "attachments",
                otel.name = "attachments",
                attachments.count = i64::try_from(pending.len()).unwrap_or(i64::MAX),
            )
        } else {
            tracing::Span::none()
        };
        // The futures are built here, outside the stream combinator, so their borrow of the
        // request does not have to be valid "for any lifetime" (a Send-bound limitation).
        let tasks: Vec<_> = pending
            .into_iter()
            .map(|pending| async move {
                let outcome = self.resolve_part(pending.part, context).await;
                (pending.key, outcome)
            })
            .collect();
        let mut results = futures_util::stream::iter(tasks).buffer_unordered(PARALLEL_UPLOADS);
        async {
            while let Some(((message, part), outcome)) = results.next().await {
                match outcome {
                    Ok((file, key)) => {
                        resolved.insert((message, part), file);
                        keys.extend(key);
                    }
                    Err(error) => {
                        if !matches!(error, AttachmentError::Upload(_)) {
                            self.inner.counts.count(AttachmentResult::Refused);
                        }
                        return Err(PartError {
                            param: format!("messages[{message}].content[{part}]"),
                            error,
                        });
                    }
                }
            }
            Ok((resolved, keys))
        }
        .instrument(span)
        .await
    }

    /// Drops ids GigaChat no longer knows, so the next resolve uploads again.
    pub async fn forget(&self, keys: &[FileKey]) {
        for key in keys {
            if let Err(err) = self.inner.dedup.forget(key).await {
                tracing::warn!(%err, "could not drop a stale file id");
            }
        }
    }

    async fn resolve_part(
        &self,
        part: &ContentPart,
        context: &RequestContext,
    ) -> Result<(ResolvedFile, Option<FileKey>), AttachmentError> {
        let (bytes, declared, filename, expected) = match part {
            ContentPart::ImageUrl { url, .. } if decode::is_data_url(url) => {
                let decoded = decode::data_url(url).await?;
                (
                    decoded.bytes,
                    decoded.declared_type,
                    None,
                    Some(FileKind::Image),
                )
            }
            ContentPart::ImageUrl { url, .. } => {
                let fetched = self.inner.fetcher.fetch(url).await?;
                self.inner.counts.count(AttachmentResult::Fetched);
                (
                    Vec::from(fetched.bytes),
                    fetched.mime,
                    None,
                    Some(FileKind::Image),
                )
            }
            ContentPart::InputAudio { data, format } => (
                decode::base64(data).await?,
                None,
                Some(format!("audio.{format}")),
                Some(FileKind::Audio),
            ),
            ContentPart::File {
                file_id: Some(id), ..
            } => return self.known_file(id, context).await.map(|file| (file, None)),
            ContentPart::File {
                file_data: Some(data),
                filename,
                ..
            } => (decode::base64(data).await?, None, filename.clone(), None),
            ContentPart::File { .. } => return Err(AttachmentError::EmptyFilePart),
            ContentPart::FileUrl { url, filename } => {
                let fetched = self.inner.fetcher.fetch(url).await?;
                self.inner.counts.count(AttachmentResult::Fetched);
                (
                    Vec::from(fetched.bytes),
                    fetched.mime,
                    filename.clone(),
                    None,
                )
            }
            ContentPart::Text { .. } | ContentPart::Refusal { .. } => {
                return Err(AttachmentError::EmptyFilePart);
            }
        };
        // Sniffing, converting and hashing a large file take milliseconds: not on the event loop,
        // where they would hold up every other connection it serves.
        let identity = self.inner.identity.clone();
        let (media, key) = tokio::task::spawn_blocking(move || {
            media::prepare(bytes, declared.as_deref(), filename.as_deref()).map(|media| {
                let key = FileKey::new(&media.bytes, &identity);
                (media, key)
            })
        })
        .await
        .map_err(|err| {
            // A panic in a decoder on this input: our bug, logged; the client hears the file
            // could not be converted.
            tracing::error!(%err, "preparing an attached file failed");
            MediaError::Conversion
        })??;
        if let Some(expected) = expected
            && media.kind != expected
        {
            return Err(MediaError::WrongKind {
                expected: media::kind_name(expected),
                got: media::kind_name(media.kind),
            }
            .into());
        }
        let kind = media.kind;
        let stored = self.upload_once(media, &key, context).await?;
        Ok((
            ResolvedFile {
                file_id: stored.file_id,
                kind,
            },
            Some(key),
        ))
    }

    /// The id for `media` (whose key is `key`): from the dedup store, or uploaded now (once for
    /// concurrent callers).
    async fn upload_once(
        &self,
        media: Media,
        key: &FileKey,
        context: &RequestContext,
    ) -> Result<StoredFile, AttachmentError> {
        let upload = FileUpload {
            filename: media.filename,
            content_type: Some(media.mime.to_owned()),
            purpose: FilePurpose::General,
            source: FileSource::Bytes(Bytes::from(media.bytes)),
        };
        let client = self.inner.client.clone();
        let ttl = self.inner.ttl_secs;
        let (stored, uploaded) = self
            .inner
            .dedup
            .get_or_upload(key, || async move {
                let answer = client
                    .upload_file(&upload, context)
                    .await
                    .map_err(UploadFailure)?;
                Ok::<_, UploadFailure>(StoredFile {
                    file_id: answer.data.id,
                    expires_at: crate::context::unix_now().saturating_add(ttl),
                    purpose: None,
                    file_expires_at: None,
                })
            })
            .await
            .map_err(|err| AttachmentError::Upload(err.into_inner().0))?;
        self.inner.counts.count(if uploaded {
            AttachmentResult::Uploaded
        } else {
            AttachmentResult::Reused
        });
        Ok(stored)
    }

    /// A `file_id` from our Files API: GigaChat must know it, and it must not have expired; its
    /// name tells the kind.
    async fn known_file(
        &self,
        id: &str,
        context: &RequestContext,
    ) -> Result<ResolvedFile, AttachmentError> {
        let purposes = &self.inner.purposes;
        if purposes
            .unless_expired(&self.inner.client, id, context)
            .await
            .is_err()
        {
            return Err(AttachmentError::UnknownFileId(id.to_owned()));
        }
        let file = self
            .inner
            .client
            .get_file(id, context)
            .await
            .map_err(|err| match err.verdict() {
                gigachat::Verdict::FileNotFound => AttachmentError::UnknownFileId(id.to_owned()),
                _ => AttachmentError::Upload(err),
            })?;
        let guess = mime_guess::from_path(&file.data.filename).first_or_octet_stream();
        let kind = match guess.type_().as_str() {
            "image" => FileKind::Image,
            "audio" => FileKind::Audio,
            _ => FileKind::Document,
        };
        Ok(ResolvedFile {
            file_id: file.data.id,
            kind,
        })
    }
}

/// An upload error that can be shared among the callers waiting on one upload.
#[derive(Debug, Clone)]
pub struct UploadFailure(gigachat::Error);

impl std::fmt::Display for UploadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
