//! Shared state of the running adapter: the GigaChat accounts, request defaults, client keys and
//! caches; a request's copy carries the account it was bound to.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use gigachat::GigaChat;
use translate::ChatDefaults;

use crate::accounts::{Account, Accounts, Bound};
use crate::attachments::generated::{ImageMode, ImageRewriter};
use crate::attachments::purposes::Purposes;
use crate::attachments::resolve::Attachments;
use crate::auth::Keys;
use crate::cache::TimedCache;
use crate::responses_store::ResponsesStore;

/// Everything handlers share, and the account of the request at hand (the default account outside
/// a request); cheap to clone. Taken as an extractor, it is bound to the request's account (see
/// [`crate::accounts::bind`]).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
    account: Arc<Account>,
}

struct Inner {
    accounts: Accounts,
    defaults: ChatDefaults,
    embeddings_model: String,
    keys: Keys,
    ready: TimedCache<Result<(), String>>,
    max_request_bytes: usize,
    stream_ping: Duration,
    images: (ImageMode, String),
    responses: ResponsesStore,
}

/// Cache lifetimes and limits of the state.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a readiness verdict is cached.
    pub ready_ttl: Duration,
    /// Largest accepted body.
    pub max_request_bytes: usize,
    /// How long an Anthropic stream may stay silent before a `ping`.
    pub stream_ping: Duration,
}

/// How generated images are handled.
pub struct Media {
    /// Generated images: data URL or link.
    pub image_mode: ImageMode,
    /// Base of generated-image links.
    pub public_base_url: String,
}

impl AppState {
    /// Builds the state; `keys` (see [`Keys`]) empty means unauthenticated access was allowed
    /// explicitly;
    /// `embeddings_model` serves embeddings requests that name no model; `responses` keeps
    /// stored Responses.
    pub fn new(
        accounts: Accounts,
        defaults: ChatDefaults,
        embeddings_model: String,
        keys: Keys,
        limits: Limits,
        media: Media,
        responses: ResponsesStore,
    ) -> Self {
        let account = accounts.default_account().clone();
        Self {
            inner: Arc::new(Inner {
                accounts,
                defaults,
                embeddings_model,
                keys,
                ready: TimedCache::new(limits.ready_ttl),
                max_request_bytes: limits.max_request_bytes,
                stream_ping: limits.stream_ping,
                images: (media.image_mode, media.public_base_url),
                responses,
            }),
            account,
        }
    }

    /// The same state bound to `account`.
    pub fn on(&self, account: Arc<Account>) -> Self {
        Self {
            inner: self.inner.clone(),
            account,
        }
    }

    /// Every GigaChat account.
    pub fn accounts(&self) -> &Accounts {
        &self.inner.accounts
    }

    /// How long an Anthropic stream may stay silent before a `ping` keeps it alive.
    pub fn stream_ping(&self) -> Duration {
        self.inner.stream_ping
    }

    /// The GigaChat client of the bound account.
    pub fn client(&self) -> &GigaChat {
        self.account.client()
    }

    /// Model defaults and aliases.
    pub fn defaults(&self) -> &ChatDefaults {
        &self.inner.defaults
    }

    /// The embedder for requests that name none (`EMBEDDINGS_MODEL`).
    pub fn embeddings_model(&self) -> &str {
        &self.inner.embeddings_model
    }

    /// Accepted client keys, with their names.
    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    /// The cached GigaChat model list of the bound account.
    pub fn models(&self) -> &TimedCache<Vec<gigachat::types::Model>> {
        self.account.models()
    }

    /// Largest accepted request body, in bytes.
    pub fn max_request_bytes(&self) -> usize {
        self.inner.max_request_bytes
    }

    /// The file-part resolver of the bound account.
    pub fn attachments(&self) -> &Attachments {
        self.account.attachments()
    }

    /// Purposes of the bound account's Files API uploads.
    pub fn purposes(&self) -> &Purposes {
        self.account.purposes()
    }

    /// A generated-image rewriter for one request.
    pub fn image_rewriter(&self, context: gigachat::RequestContext) -> ImageRewriter {
        ImageRewriter {
            client: self.account.client().clone(),
            context,
            mode: self.inner.images.0,
            public_base_url: self.inner.images.1.clone(),
            results_apart: false,
        }
    }

    /// Stored Responses (`store: true`).
    pub fn responses(&self) -> &ResponsesStore {
        &self.inner.responses
    }

    /// The cached readiness verdict.
    pub fn ready(&self) -> &TimedCache<Result<(), String>> {
        &self.inner.ready
    }
}

/// A handler's state, bound to the account [`crate::accounts::bind`] chose for the request (the
/// default account on routes that do not call GigaChat): an `Arc` clone, no lookup.
impl FromRequestParts<AppState> for AppState {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(match parts.extensions.get::<Bound>() {
            Some(Bound(account)) => state.on(account.clone()),
            None => state.clone(),
        })
    }
}
