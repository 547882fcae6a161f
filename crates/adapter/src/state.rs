//! Shared state of the running adapter: the GigaChat client, request defaults, client keys and caches.

use std::sync::Arc;
use std::time::Duration;

use gigachat::GigaChat;
use translate::ChatDefaults;

use crate::attachments::generated::{ImageMode, ImageRewriter};
use crate::attachments::purposes::Purposes;
use crate::attachments::resolve::Attachments;
use crate::auth::Keys;
use crate::cache::TimedCache;
use crate::responses_store::ResponsesStore;

/// Everything handlers share; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    client: GigaChat,
    defaults: ChatDefaults,
    embeddings_model: String,
    keys: Keys,
    models: TimedCache<Vec<gigachat::types::Model>>,
    ready: TimedCache<Result<(), String>>,
    max_request_bytes: usize,
    stream_ping: Duration,
    attachments: Attachments,
    purposes: Purposes,
    images: (ImageMode, String),
    responses: ResponsesStore,
}

/// Cache lifetimes and limits of the state.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long the model list is cached.
    pub models_ttl: Duration,
    /// How long a readiness verdict is cached.
    pub ready_ttl: Duration,
    /// Largest accepted body.
    pub max_request_bytes: usize,
    /// How long an Anthropic stream may stay silent before a `ping`.
    pub stream_ping: Duration,
}

/// How files in messages and generated images are handled.
pub struct Media {
    /// The file-part resolver.
    pub attachments: Attachments,
    /// Purposes of Files API uploads.
    pub purposes: Purposes,
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
        client: GigaChat,
        defaults: ChatDefaults,
        embeddings_model: String,
        keys: Keys,
        limits: Limits,
        media: Media,
        responses: ResponsesStore,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                defaults,
                embeddings_model,
                keys,
                models: TimedCache::new(limits.models_ttl),
                ready: TimedCache::new(limits.ready_ttl),
                max_request_bytes: limits.max_request_bytes,
                stream_ping: limits.stream_ping,
                attachments: media.attachments,
                purposes: media.purposes,
                images: (media.image_mode, media.public_base_url),
                responses,
            }),
        }
    }

    /// How long an Anthropic stream may stay silent before a `ping` keeps it alive.
    pub fn stream_ping(&self) -> Duration {
        self.inner.stream_ping
    }

    /// The GigaChat client.
    pub fn client(&self) -> &GigaChat {
        &self.inner.client
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

    /// The cached GigaChat model list.
    pub fn models(&self) -> &TimedCache<Vec<gigachat::types::Model>> {
        &self.inner.models
    }

    /// Largest accepted request body, in bytes.
    pub fn max_request_bytes(&self) -> usize {
        self.inner.max_request_bytes
    }

    /// The file-part resolver.
    pub fn attachments(&self) -> &Attachments {
        &self.inner.attachments
    }

    /// Purposes of Files API uploads.
    pub fn purposes(&self) -> &Purposes {
        &self.inner.purposes
    }

    /// A generated-image rewriter for one request.
    pub fn image_rewriter(&self, context: gigachat::RequestContext) -> ImageRewriter {
        ImageRewriter {
            client: self.inner.client.clone(),
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
