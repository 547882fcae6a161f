//! The GigaChat client: every v1 endpoint as a typed async method, and chat on the contract a
//! request names (v1 or v2), with authentication, per-call context headers, a concurrency cap,
//! timeouts and retries.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue,
};
use reqwest::{Method, multipart};
use serde::de::DeserializeOwned;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument as _;

use crate::auth::Auth;
use crate::error::{ApiError, Error};
use crate::retry::RetryPolicy;
use crate::settings::Settings;
use crate::stream::{self, ChatStream};
use crate::transport::Transport;
use crate::types::v2::ChatV2Response;
use crate::types::{
    AiCheck, AiCheckRequest, Balance, ChatCompletion, ChatRequest, Contract, ConvertedFunctions,
    DeletedFile, EmbeddingsRequest, EmbeddingsResponse, FileList, FileObject, FilePurpose, Model,
    ModelList, TokensCount, TokensCountRequest,
};
use crate::verdict::{Endpoint, is_version_segment};

/// Error bodies longer than this are cut before parsing; GigaChat's are tiny.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Per-call headers GigaChat uses for logging, prompt-cache affinity and file ownership.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// Sent as `X-Request-ID`.
    pub request_id: Option<String>,
    /// Sent as `X-Session-ID`; a stable value raises the prompt-cache hit rate.
    pub session_id: Option<String>,
    /// Sent as `X-Client-ID`; must be repeated to download images generated under it.
    pub client_id: Option<String>,
    /// Sent as `traceparent` (W3C Trace Context): the trace this call belongs to.
    pub traceparent: Option<String>,
    /// Sent as `tracestate`, beside `traceparent`.
    pub tracestate: Option<String>,
}

/// The ids GigaChat echoed on a response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseMeta {
    /// `X-Request-Id` (the client's or one the server generated).
    pub request_id: Option<String>,
    /// `X-Session-Id`.
    pub session_id: Option<String>,
    /// `X-Client-Id`, when echoed.
    pub client_id: Option<String>,
}

impl ResponseMeta {
    fn from_headers(headers: &HeaderMap) -> Self {
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        Self {
            request_id: get("x-request-id"),
            session_id: get("x-session-id"),
            client_id: get("x-client-id"),
        }
    }
}

/// A parsed response body with the ids GigaChat echoed.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<T> {
    /// The body.
    pub data: T,
    /// Echoed request/session/client ids.
    pub meta: ResponseMeta,
}

/// Downloaded file bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContent {
    /// The bytes.
    pub bytes: Bytes,
    /// The `Content-Type` GigaChat reported.
    pub content_type: Option<String>,
}

/// Where the bytes of an upload come from.
#[derive(Debug, Clone)]
pub enum FileSource {
    /// Bytes already in memory (shared, never copied into the request).
    Bytes(Bytes),
    /// A file on disk, streamed from disk on every attempt.
    Path(PathBuf),
}

/// A file to upload.
#[derive(Debug, Clone)]
pub struct FileUpload {
    /// Name shown in file listings; its extension also guesses the type when none is given.
    pub filename: String,
    /// MIME type; guessed from the file name when `None`.
    pub content_type: Option<String>,
    /// What the file is for.
    pub purpose: FilePurpose,
    /// The bytes.
    pub source: FileSource,
}

/// What a call sends.
enum Payload<'a> {
    Empty,
    Json(Bytes),
    Upload(&'a FileUpload),
    /// The SDK's odd multipart body for `POST /files/{id}/delete`: a `file` field holding the id.
    DeleteForm(&'a str),
}

struct Call<'a> {
    method: Method,
    /// Relative to `base`.
    path: String,
    base: Base,
    payload: Payload<'a>,
    accept: Option<&'static str>,
}

/// What a call's path hangs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Base {
    /// `GIGACHAT_BASE_URL` as configured (`…/v1`, `…/api/v1`): every v1 endpoint.
    Configured,
    /// The base without its trailing version segment (`…`, `…/api`): v2 chat hangs here as
    /// `/v2/chat/completions`, as the SDK derives it.
    Unversioned,
}

impl Base {
    /// The URL prefix of this base for `base_url` (which has no trailing slash).
    pub(crate) fn of(self, base_url: &str) -> &str {
        match self {
            Base::Configured => base_url,
            Base::Unversioned => match base_url.rsplit_once('/') {
                // `root` still has its host (`https://v1` is a host, not a version).
                Some((root, last)) if is_version_segment(last) && root.contains("://") => root,
                _ => base_url,
            },
        }
    }
}

/// The v2 chat path, under [`Base::Unversioned`].
const V2_CHAT_PATH: &str = "/v2/chat/completions";

/// A GigaChat API client. Cheap to clone; clones share connections and the token cache.
#[derive(Clone)]
pub struct GigaChat {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    transport: Transport,
    auth: Auth,
    retry: RetryPolicy,
    limiter: Option<Arc<Semaphore>>,
}

impl std::fmt::Debug for GigaChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GigaChat")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl GigaChat {
    /// A client for these settings. Fails on unusable TLS material, never on the network.
    pub fn new(settings: Settings) -> Result<Self, Error> {
        settings
            .validate()
            .map_err(|err| Error::Config(err.to_string()))?;
        let transport = Transport::new(&settings)?;
        let auth = Auth::new(&settings);
        let retry = RetryPolicy::from_settings(&settings);
        let limiter = settings
            .max_connections
            .map(|max| Arc::new(Semaphore::new(max)));
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                transport,
                auth,
                retry,
                limiter,
            }),
        })
    }

    /// Builds the calling thread's HTTP client now (each thread has its own connection pool), so
    /// its first call does not pay for it; building reads the system's certificate store.
    pub fn prepare_thread(&self) -> Result<(), Error> {
        self.inner.transport.api().map(|_| ())
    }

    /// A client configured from the `GIGACHAT_*` environment variables.
    pub fn from_env() -> Result<Self, Error> {
        let settings = Settings::from_env().map_err(|err| Error::Config(err.to_string()))?;
        Self::new(settings)
    }

    /// The settings in use.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Makes sure a valid access token is at hand (fetching one if needed); for readiness probes.
    pub async fn ensure_token(&self) -> Result<(), Error> {
        if self.inner.auth.is_configured() {
            self.inner.auth.token(&self.inner.transport).await?;
        }
        Ok(())
    }

    /// How many access-token fetches finished so far, by outcome (for metrics).
    pub fn token_refreshes(&self) -> crate::auth::TokenRefreshes {
        self.inner.auth.refreshes()
    }

    /// One whole chat answer, on the request's contract: `POST {base}/chat/completions` (v1) or
    /// `POST /v2/chat/completions` (v2, whose answer is read into the same neutral completion; a
    /// failure it reports inside a 200 is an [`Error::InBand`]).
    pub async fn chat(
        &self,
        request: &ChatRequest,
        context: &RequestContext,
    ) -> Result<Answer<ChatCompletion>, Error> {
        let body = self.chat_body(request, false)?;
        let call = chat_call(request.contract, body, "application/json");
        let span = call_span(&call, Some(self.model_of(request)));
        let answer: Result<Answer<ChatCompletion>, Error> = match request.contract {
            Contract::V1 => self.json_call_in(call, context, span.clone()).await,
            Contract::V2 => self
                .json_call_in::<ChatV2Response>(call, context, span.clone())
                .await
                .and_then(|answer| {
                    let data = crate::v2::answer::completion(answer.data)
                        .inspect_err(|err| record_failure(&span, err))?;
                    Ok(Answer {
                        data,
                        meta: answer.meta,
                    })
                }),
        };
        if let Ok(answer) = &answer {
            record_answer(&span, &answer.data.model, answer.data.usage.as_ref());
        }
        answer
    }

    /// A streamed chat answer on the request's contract (v1 or v2 events, read into the same
    /// neutral chunks). Retries (when configured) happen only until the first chunk has arrived;
    /// after that a failure ends the stream with an error.
    pub async fn chat_stream(
        &self,
        request: &ChatRequest,
        context: &RequestContext,
    ) -> Result<ChatStream, Error> {
        let body = self.chat_body(request, true)?;
        let call = chat_call(request.contract, body, "text/event-stream");
        let idle = self.inner.settings.stream_idle_timeout;
        let span = call_span(&call, Some(self.model_of(request)));
        let opened = self
            .inner
            .retry
            .run(|| async {
                let permit = self.acquire().await?;
                let response = tokio::time::timeout(
                    self.inner.settings.timeout,
                    self.send_authorized(&call, context),
                )
                .await
                .map_err(|_| Error::Timeout(self.inner.settings.timeout))??;
                span.record(
                    "http.response.status_code",
                    i64::from(response.status().as_u16()),
                );
                let meta = ResponseMeta::from_headers(response.headers());
                stream::open(response, request.contract, meta, idle, permit).await
            })
            .instrument(span.clone())
            .await;
        match opened {
            // `stream::open` returned once the first chunk arrived: the first token, on the call's
            // span, which lasts as long as the stream (until the answer was read or dropped).
            Ok(stream) => {
                if !span.is_disabled() {
                    tracing::debug!(parent: &span, "first token");
                }
                Ok(stream.traced(span))
            }
            Err(err) => {
                record_failure(&span, &err);
                Err(err)
            }
        }
    }

    /// `POST /files` (multipart). The bytes are streamed into the request, not copied.
    pub async fn upload_file(
        &self,
        upload: &FileUpload,
        context: &RequestContext,
    ) -> Result<Answer<FileObject>, Error> {
        self.json_call(
            Call {
                base: Base::Configured,
                method: Method::POST,
                path: "/files".into(),
                payload: Payload::Upload(upload),
                accept: Some("application/json"),
            },
            context,
        )
        .await
    }

    /// `GET /files`.
    pub async fn list_files(&self, context: &RequestContext) -> Result<Answer<FileList>, Error> {
        self.json_call(Call::get("/files".into()), context).await
    }

    /// `GET /files/{id}`.
    pub async fn get_file(
        &self,
        file_id: &str,
        context: &RequestContext,
    ) -> Result<Answer<FileObject>, Error> {
        self.json_call(Call::get(format!("/files/{}", segment(file_id))), context)
            .await
    }

    /// `POST /files/{id}/delete` (GigaChat does not use the DELETE method).
    pub async fn delete_file(
        &self,
        file_id: &str,
        context: &RequestContext,
    ) -> Result<Answer<DeletedFile>, Error> {
        self.json_call(
            Call {
                base: Base::Configured,
                method: Method::POST,
                path: format!("/files/{}/delete", segment(file_id)),
                payload: Payload::DeleteForm(file_id),
                accept: Some("application/json"),
            },
            context,
        )
        .await
    }

    /// `GET /files/{id}/content`: the bytes of a file (e.g. a generated image).
    /// Send the same `X-Client-ID` that generated it.
    pub async fn file_content(
        &self,
        file_id: &str,
        context: &RequestContext,
    ) -> Result<Answer<FileContent>, Error> {
        let call = Call {
            base: Base::Configured,
            method: Method::GET,
            path: format!("/files/{}/content", segment(file_id)),
            payload: Payload::Empty,
            accept: Some("application/jpg"),
        };
        let span = call_span(&call, None);
        self.call(&call, context, span, |headers, bytes| {
            let content_type = headers
                .get(CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            Ok(FileContent {
                bytes,
                content_type,
            })
        })
        .await
    }

    /// `POST /embeddings`.
    pub async fn embeddings(
        &self,
        request: &EmbeddingsRequest,
        context: &RequestContext,
    ) -> Result<Answer<EmbeddingsResponse>, Error> {
        self.json_call(Call::post_json("/embeddings", request)?, context)
            .await
    }

    /// `POST /tokens/count`: one count per input.
    pub async fn tokens_count(
        &self,
        request: &TokensCountRequest,
        context: &RequestContext,
    ) -> Result<Answer<Vec<TokensCount>>, Error> {
        self.json_call(Call::post_json("/tokens/count", request)?, context)
            .await
    }

    /// `GET /models`.
    pub async fn models(&self, context: &RequestContext) -> Result<Answer<ModelList>, Error> {
        self.json_call(Call::get("/models".into()), context).await
    }

    /// `GET /models/{id}`.
    pub async fn model(
        &self,
        model_id: &str,
        context: &RequestContext,
    ) -> Result<Answer<Model>, Error> {
        self.json_call(Call::get(format!("/models/{}", segment(model_id))), context)
            .await
    }

    /// `GET /balance` (prepaid keys only; pay-as-you-go keys get 403).
    pub async fn balance(&self, context: &RequestContext) -> Result<Answer<Balance>, Error> {
        self.json_call(Call::get("/balance".into()), context).await
    }

    /// `POST /ai/check`: is this text AI-written?
    pub async fn ai_check(
        &self,
        request: &AiCheckRequest,
        context: &RequestContext,
    ) -> Result<Answer<AiCheck>, Error> {
        self.json_call(Call::post_json("/ai/check", request)?, context)
            .await
    }

    /// `POST /functions/convert`: GigaChat function specs from an OpenAPI description.
    pub async fn convert_functions(
        &self,
        openapi: &str,
        context: &RequestContext,
    ) -> Result<Answer<ConvertedFunctions>, Error> {
        let call = Call {
            base: Base::Configured,
            method: Method::POST,
            path: "/functions/convert".into(),
            payload: Payload::Json(Bytes::copy_from_slice(openapi.as_bytes())),
            accept: Some("application/json"),
        };
        self.json_call(call, context).await
    }

    /// The model a chat request is sent to: its own, else the settings' default.
    fn model_of<'a>(&'a self, request: &'a ChatRequest) -> &'a str {
        if request.model.is_empty() {
            self.inner.settings.default_model()
        } else {
            &request.model
        }
    }

    /// The chat body of the request's contract, with the settings' defaults applied (model,
    /// flags, profanity check).
    fn chat_body(&self, request: &ChatRequest, stream: bool) -> Result<Bytes, Error> {
        let settings = &self.inner.settings;
        let needs_defaults = request.model.is_empty()
            || (request.flags.is_none() && settings.flags.is_some())
            || (request.profanity_check.is_none() && settings.profanity_check.is_some())
            || request.stream != stream.then_some(true);
        let encoded = if needs_defaults {
            let mut request = request.clone();
            if request.model.is_empty() {
                request.model = settings.default_model().to_owned();
            }
            if request.flags.is_none() {
                request.flags.clone_from(&settings.flags);
            }
            if request.profanity_check.is_none() {
                request.profanity_check = settings.profanity_check;
            }
            request.stream = stream.then_some(true);
            encode_chat(&request)
        } else {
            encode_chat(request)
        };
        encoded
            .map(Bytes::from)
            .map_err(|err| Error::Config(format!("cannot encode the chat request: {err}")))
    }

    async fn acquire(&self) -> Result<Option<OwnedSemaphorePermit>, Error> {
        match &self.inner.limiter {
            Some(limiter) => limiter
                .clone()
                .acquire_owned()
                .await
                .map(Some)
                .map_err(|_| Error::Config("the client is shutting down".into())),
            None => Ok(None),
        }
    }

    async fn json_call<T: DeserializeOwned>(
        &self,
        call: Call<'_>,
        context: &RequestContext,
    ) -> Result<Answer<T>, Error> {
        let span = call_span(&call, None);
        self.json_call_in(call, context, span).await
    }

    /// [`GigaChat::json_call`] in `span`.
    async fn json_call_in<T: DeserializeOwned>(
        &self,
        call: Call<'_>,
        context: &RequestContext,
        span: tracing::Span,
    ) -> Result<Answer<T>, Error> {
        self.call(&call, context, span, |_, bytes| {
            serde_json::from_slice(&bytes).map_err(|err| {
                Error::Protocol(format!("unreadable answer from {}: {err}", call.path))
            })
        })
        .await
    }

    /// One logical call in `span` (see [`call_span`]): retries around (slot, token, request, whole
    /// body within the timeout, parse).
    async fn call<T>(
        &self,
        call: &Call<'_>,
        context: &RequestContext,
        span: tracing::Span,
        parse: impl Fn(&HeaderMap, Bytes) -> Result<T, Error>,
    ) -> Result<Answer<T>, Error> {
        let timeout = self.inner.settings.timeout;
        let answer = self
            .inner
            .retry
            .run(|| async {
                let _permit = self.acquire().await?;
                let attempt = async {
                    let mut response = self.send_authorized(call, context).await?;
                    span.record(
                        "http.response.status_code",
                        i64::from(response.status().as_u16()),
                    );
                    let headers = std::mem::take(response.headers_mut());
                    let bytes = response
                        .bytes()
                        .await
                        .map_err(|err| Error::transport(err, timeout))?;
                    Ok::<_, Error>((headers, bytes))
                };
                let (headers, bytes) = tokio::time::timeout(timeout, attempt)
                    .await
                    .map_err(|_| Error::Timeout(timeout))??;
                let meta = ResponseMeta::from_headers(&headers);
                let data = parse(&headers, bytes)?;
                Ok(Answer { data, meta })
            })
            .instrument(span.clone())
            .await;
        if let Err(err) = &answer {
            record_failure(&span, err);
        }
        answer
    }

    /// Sends with the current token; after a 401 drops it, fetches a fresh one and sends once more.
    async fn send_authorized(
        &self,
        call: &Call<'_>,
        context: &RequestContext,
    ) -> Result<reqwest::Response, Error> {
        let auth = &self.inner.auth;
        let token = if auth.is_configured() {
            Some(auth.token(&self.inner.transport).await?)
        } else {
            None
        };
        let bearer = token.as_ref().map(|token| token.bearer()).transpose()?;
        match self.send(call, context, bearer).await {
            Err(error) if error.is_unauthorized() && auth.can_refresh() => {
                tracing::warn!("GigaChat rejected the access token; fetching a new one");
                if let Some(rejected) = &token {
                    auth.invalidate(rejected);
                }
                let fresh = auth.token(&self.inner.transport).await?;
                self.send(call, context, Some(fresh.bearer()?)).await
            }
            other => other,
        }
    }

    async fn send(
        &self,
        call: &Call<'_>,
        context: &RequestContext,
        bearer: Option<HeaderValue>,
    ) -> Result<reqwest::Response, Error> {
        let settings = &self.inner.settings;
        let mut headers = call_headers(call, context, bearer)?;
        if let Some(propagate) = PROPAGATE.get() {
            propagate(&mut headers);
        }
        let started = tokio::time::Instant::now();
        let mut response = match self.send_on_lane(call, &headers).await {
            Some(sent) => sent?,
            None => {
                let url = format!("{}{}", call.base.of(&settings.base_url), call.path);
                let request = self
                    .inner
                    .transport
                    .api()?
                    .request(call.method.clone(), &url)
                    .headers(headers);
                let request = match &call.payload {
                    Payload::Empty => request,
                    Payload::Json(body) => request.body(body.clone()),
                    Payload::Upload(upload) => request.multipart(upload_form(upload).await?),
                    Payload::DeleteForm(id) => {
                        request.multipart(multipart::Form::new().text("file", (*id).to_owned()))
                    }
                };
                request
                    .send()
                    .await
                    .map_err(|err| Error::transport(err, settings.timeout))?
            }
        };
        let status = response.status();
        if settings.verbose {
            tracing::info!(method = %call.method, path = %call.path, status = status.as_u16(), elapsed = ?started.elapsed(), "GigaChat call");
        } else {
            tracing::debug!(method = %call.method, path = %call.path, status = status.as_u16(), elapsed = ?started.elapsed(), "GigaChat call");
        }
        if status.is_success() {
            return Ok(response);
        }
        let headers = std::mem::take(response.headers_mut());
        let body = read_limited(response, MAX_ERROR_BODY).await;
        Err(Error::Api(ApiError {
            endpoint: Endpoint::of(&call.path),
            ..ApiError::from_parts(status.as_u16(), &headers, &body)
        }))
    }

    /// Sends a call with a complete body (JSON or none) over this thread's direct lane (HTTP/2
    /// or HTTP/1.1); `None` when no lane can take it (a form, or an API host no lane serves).
    async fn send_on_lane(
        &self,
        call: &Call<'_>,
        headers: &HeaderMap,
    ) -> Option<Result<reqwest::Response, Error>> {
        let body = match &call.payload {
            Payload::Empty => Bytes::new(),
            Payload::Json(body) => body.clone(),
            Payload::Upload(_) | Payload::DeleteForm(_) => return None,
        };
        self.inner
            .transport
            .send_direct(&call.method, call.base, &call.path, headers, body)
            .await
    }
}

// Built at compile time: a custom name given as a string would be allocated on every insert.
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_SESSION_ID: HeaderName = HeaderName::from_static("x-session-id");
const X_CLIENT_ID: HeaderName = HeaderName::from_static("x-client-id");
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// The headers of one call: token, accepted type, the caller's context ids and the body's type.
fn call_headers(
    call: &Call<'_>,
    context: &RequestContext,
    bearer: Option<HeaderValue>,
) -> Result<HeaderMap, Error> {
    let mut headers = HeaderMap::new();
    let value = |name: &str, value: &str| {
        HeaderValue::from_str(value)
            .map_err(|_| Error::Config(format!("{name} is not a valid HTTP header value")))
    };
    if let Some(bearer) = bearer {
        headers.insert(AUTHORIZATION, bearer);
    }
    if let Some(accept) = call.accept {
        headers.insert(ACCEPT, HeaderValue::from_static(accept));
        if accept == "text/event-stream" {
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
    for (name, id) in [
        (X_REQUEST_ID, &context.request_id),
        (X_SESSION_ID, &context.session_id),
        (X_CLIENT_ID, &context.client_id),
        (TRACEPARENT, &context.traceparent),
        (TRACESTATE, &context.tracestate),
    ] {
        if let Some(id) = id {
            let id = value(name.as_str(), id)?;
            headers.insert(name, id);
        }
    }
    if let Payload::Json(_) = call.payload {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    Ok(headers)
}

impl Call<'_> {
    fn get(path: String) -> Self {
        Self {
            method: Method::GET,
            path,
            base: Base::Configured,
            payload: Payload::Empty,
            accept: Some("application/json"),
        }
    }

    fn post_json(path: &str, body: &impl serde::Serialize) -> Result<Self, Error> {
        let body = serde_json::to_vec(body)
            .map_err(|err| Error::Config(format!("cannot encode the request body: {err}")))?;
        Ok(Self {
            method: Method::POST,
            path: path.to_owned(),
            base: Base::Configured,
            payload: Payload::Json(Bytes::from(body)),
            accept: Some("application/json"),
        })
    }
}

/// Writes the trace context of the current span (a call's) into the headers of its request.
pub type Propagate = fn(&mut HeaderMap);

/// Set by [`record_spans`]: calls and token fetches open spans, and calls carry their context.
static PROPAGATE: OnceLock<Propagate> = OnceLock::new();

/// From now on every GigaChat call and token fetch of this process opens a `tracing` span
/// (debug level, OpenTelemetry attributes), for a trace export, and `propagate` writes the call's
/// span into its request's headers (its W3C `traceparent`, replacing [`RequestContext`]'s), so
/// GigaChat's side of the trace hangs under the call. Without it calls open no span, whatever the
/// log level: no cost, and log lines keep the caller's span as theirs. The first call wins.
pub fn record_spans(propagate: Propagate) {
    let _ = PROPAGATE.set(propagate);
}

/// Whether [`record_spans`] was called.
pub(crate) fn spans_recorded() -> bool {
    PROPAGATE.get().is_some()
}

/// The span of one GigaChat call, retries included: an OpenTelemetry client span named and
/// labelled after the semantic conventions for HTTP and generative AI (`model`: the model a chat
/// is sent to). `Span::none()` unless [`record_spans`] was called (or no subscriber wants it), and
/// then its fields are never computed.
fn call_span(call: &Call<'_>, model: Option<&str>) -> tracing::Span {
    if !spans_recorded() {
        return tracing::Span::none();
    }
    let endpoint = endpoint(&call.path);
    let operation = match endpoint {
        "/chat/completions" | V2_CHAT_PATH => Some("chat"),
        "/embeddings" => Some("embeddings"),
        _ => None,
    };
    tracing::debug_span!(
        "gigachat",
        otel.name = %match (operation, model) {
            (Some(operation), Some(model)) => format!("{operation} {model}"),
            _ => format!("{} {endpoint}", call.method),
        },
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        gen_ai.provider.name = "gigachat",
        gen_ai.operation.name = operation,
        gen_ai.request.model = model,
        gen_ai.response.model = tracing::field::Empty,
        gen_ai.usage.input_tokens = tracing::field::Empty,
        gen_ai.usage.output_tokens = tracing::field::Empty,
        http.request.method = %call.method,
        url.template = endpoint,
        http.response.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
    )
}

/// Records the model that answered and the token usage on a call's span (numbers as `i64`, which
/// OpenTelemetry exports as integers; unsigned ones would become text).
pub(crate) fn record_answer(
    span: &tracing::Span,
    model: &str,
    usage: Option<&crate::types::Usage>,
) {
    span.record("gen_ai.response.model", model);
    if let Some(usage) = usage {
        let cached = usage.precached_prompt_tokens.unwrap_or(0);
        span.record(
            "gen_ai.usage.input_tokens",
            i64::from(usage.prompt_tokens) + i64::from(cached),
        );
        span.record(
            "gen_ai.usage.output_tokens",
            i64::from(usage.completion_tokens),
        );
    }
}

/// Marks a call's span failed: `error.type` is GigaChat's status, or `_OTHER` (no answer).
pub(crate) fn record_failure(span: &tracing::Span, error: &Error) {
    if span.is_disabled() {
        return;
    }
    span.record("otel.status_code", "error");
    match error.status() {
        Some(status) => span.record("error.type", status.to_string()),
        None => span.record("error.type", "_OTHER"),
    };
}

/// The API path `path` (without its query) as a template: ids replaced by `{id}`, so span names
/// stay few.
fn endpoint(path: &str) -> &'static str {
    let path = path.split('?').next().unwrap_or(path);
    let mut segments = path.trim_start_matches('/').split('/');
    match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some("chat"), Some("completions"), None, None) => "/chat/completions",
        (Some("v2"), Some("chat"), Some("completions"), None) => V2_CHAT_PATH,
        (Some("embeddings"), None, None, None) => "/embeddings",
        (Some("tokens"), Some("count"), None, None) => "/tokens/count",
        (Some("models"), None, None, None) => "/models",
        (Some("models"), Some(_), None, None) => "/models/{id}",
        (Some("files"), None, None, None) => "/files",
        (Some("files"), Some(_), None, None) => "/files/{id}",
        (Some("files"), Some(_), Some("content"), None) => "/files/{id}/content",
        (Some("files"), Some(_), Some("delete"), None) => "/files/{id}/delete",
        (Some("balance"), None, None, None) => "/balance",
        (Some("ai"), Some("check"), None, None) => "/ai/check",
        (Some("functions"), Some("convert"), None, None) => "/functions/convert",
        _ => "other",
    }
}

/// The multipart body of an upload: `file` (bytes, name, type) and `purpose`.
async fn upload_form(upload: &FileUpload) -> Result<multipart::Form, Error> {
    let content_type = upload.content_type.clone().unwrap_or_else(|| {
        mime_guess::from_path(&upload.filename)
            .first_or_octet_stream()
            .essence_str()
            .to_owned()
    });
    let part = match &upload.source {
        FileSource::Bytes(bytes) => {
            let length = bytes.len() as u64;
            multipart::Part::stream_with_length(reqwest::Body::from(bytes.clone()), length)
        }
        FileSource::Path(path) => {
            let file = tokio::fs::File::open(path).await.map_err(|err| {
                Error::Config(format!("cannot open {} for upload: {err}", path.display()))
            })?;
            let length = file
                .metadata()
                .await
                .map_err(|err| Error::Config(format!("cannot stat {}: {err}", path.display())))?
                .len();
            multipart::Part::stream_with_length(reqwest::Body::from(file), length)
        }
    };
    let part = part
        .file_name(upload.filename.clone())
        .mime_str(&content_type)
        .map_err(|_| Error::Config(format!("invalid file content type {content_type:?}")))?;
    Ok(multipart::Form::new()
        .part("file", part)
        .text("purpose", upload.purpose.as_str()))
}

/// The chat call of `contract` sending `body`.
fn chat_call(contract: Contract, body: Bytes, accept: &'static str) -> Call<'static> {
    let (path, base) = match contract {
        Contract::V1 => ("/chat/completions", Base::Configured),
        Contract::V2 => (V2_CHAT_PATH, Base::Unversioned),
    };
    Call {
        method: Method::POST,
        path: path.into(),
        base,
        payload: Payload::Json(body),
        accept: Some(accept),
    }
}

/// A chat body in the request's contract's wire format (as [`Client::chat`] sends it once the
/// settings' defaults are applied).
pub fn encode_chat(request: &ChatRequest) -> Result<Vec<u8>, serde_json::Error> {
    let mut body = Vec::with_capacity(encoded_size_hint(request));
    match request.contract {
        Contract::V1 => serde_json::to_writer(&mut body, request)?,
        Contract::V2 => serde_json::to_writer(&mut body, &crate::v2::request::body(request))?,
    }
    Ok(body)
}

/// About how many bytes `request` takes as JSON: its texts and schemas plus room for the keys
/// and escapes around them, so a large body is written into one buffer instead of one that
/// doubles (and copies itself) a dozen times on the way.
fn encoded_size_hint(request: &ChatRequest) -> usize {
    let messages: usize = request
        .messages
        .iter()
        .map(|message| message.content.len() + message.content.len() / 8 + 128)
        .sum();
    let functions: usize = request
        .functions
        .iter()
        .flatten()
        .map(|function| {
            function.name.len()
                + function.description.as_ref().map_or(0, String::len)
                + function
                    .parameters
                    .as_ref()
                    .map_or(0, |schema| schema.text().len())
                + 64
        })
        .sum();
    messages + functions + 512
}

/// Reads at most `limit` bytes of an error body; a broken body just yields what arrived.
async fn read_limited(mut response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = limit.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= limit {
            break;
        }
    }
    body
}

/// Percent-encodes an id for use as one path segment.
fn segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_names_use_path_templates() {
        assert_eq!(endpoint("/chat/completions"), "/chat/completions");
        assert_eq!(endpoint("/files/abc-123/content"), "/files/{id}/content");
        assert_eq!(endpoint("/files/abc-123"), "/files/{id}");
        assert_eq!(endpoint("/models/GigaChat-2-Max"), "/models/{id}");
        assert_eq!(endpoint("/files?purpose=general"), "/files");
        assert_eq!(endpoint("/something/else"), "other");
    }

    #[test]
    fn trace_context_goes_upstream() {
        let call = Call::get("/models".into());
        let context = RequestContext {
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
            tracestate: Some("congo=t61rcWkgMzE".into()),
            ..RequestContext::default()
        };
        let headers = call_headers(&call, &context, None).unwrap();
        assert_eq!(
            headers.get("traceparent").unwrap(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        );
        assert_eq!(headers.get("tracestate").unwrap(), "congo=t61rcWkgMzE");
        let none = call_headers(&call, &RequestContext::default(), None).unwrap();
        assert!(none.get("traceparent").is_none() && none.get("tracestate").is_none());
    }

    #[test]
    fn v2_chat_replaces_the_bases_trailing_version() {
        for (base, v2) in [
            (
                "https://api.giga.chat/v1",
                "https://api.giga.chat/v2/chat/completions",
            ),
            (
                "https://gigachat.devices.sberbank.ru/api/v1",
                "https://gigachat.devices.sberbank.ru/api/v2/chat/completions",
            ),
            (
                "https://localhost:8443/v3",
                "https://localhost:8443/v2/chat/completions",
            ),
            // No version to replace: v2 hangs under the base as it is.
            (
                "https://proxy.test/gigachat",
                "https://proxy.test/gigachat/v2/chat/completions",
            ),
            ("https://v1", "https://v1/v2/chat/completions"),
        ] {
            assert_eq!(
                format!("{}{V2_CHAT_PATH}", Base::Unversioned.of(base)),
                v2,
                "{base}"
            );
            assert_eq!(Base::Configured.of(base), base);
        }
        assert_eq!(endpoint(V2_CHAT_PATH), V2_CHAT_PATH);
    }

    #[test]
    fn ids_are_path_safe() {
        assert_eq!(segment("GigaChat-2-Max"), "GigaChat-2-Max");
        assert_eq!(segment("a/b c?"), "a%2Fb%20c%3F");
    }
}
