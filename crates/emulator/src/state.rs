//! The state shared by every handler of one emulator instance.

use std::sync::Arc;

use crate::api::chat_reader::ChatFragments;
use crate::auth::oauth::RateLimiter;
use crate::auth::tokens::TokenStore;
use crate::cache::PromptCache;
use crate::config::EmulatorConfig;
use crate::faults::Faults;
use crate::files::FileStore;
use crate::limits::Inflight;
use crate::log::RequestLog;
use crate::replay::Cassettes;
use crate::tls::Pki;

/// One emulator's mutable world: tokens, files, log, faults, caches, limits.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The configuration it was started with.
    pub(crate) config: EmulatorConfig,
    /// Issued and static tokens.
    pub(crate) tokens: TokenStore,
    /// The OAuth requests-per-second limiter.
    pub(crate) oauth_limiter: RateLimiter,
    /// Uploaded and generated files.
    pub(crate) files: FileStore,
    /// Everything received.
    pub(crate) log: RequestLog,
    /// Queued faults.
    pub(crate) faults: Faults,
    /// Recently seen prompt prefixes.
    pub(crate) prompt_cache: PromptCache,
    /// History messages and function lists of recent chat bodies, parsed, by their text.
    pub(crate) chat_fragments: ChatFragments,
    /// In-flight requests per identity.
    pub(crate) inflight: Inflight,
    /// The private CA (absent without TLS).
    pub(crate) pki: Option<Pki>,
    /// Recorded answers served in replay mode.
    pub(crate) cassettes: Cassettes,
}

/// What handlers get: a shared reference to [`Shared`].
pub(crate) type AppState = Arc<Shared>;
