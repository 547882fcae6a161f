//! An offline emulator of Sber's GigaChat REST API (OAuth host + API host) for tests, benchmarks
//! and demos: same endpoints, wire format, errors and quirks, plus fault injection and a request log.
//!
//! Start one with [`Emulator::start`], point a client at [`Emulator::api_base_url`] (or
//! [`Emulator::legacy_api_base_url`] for user/password auth) and [`Emulator::auth_url`], and trust
//! [`Emulator::ca_pem`].
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod api;
mod auth;
mod cache;
mod config;
mod control;
mod error;
mod faults;
mod files;
mod fragments;
mod header_limit;
mod headers;
mod json_check;
mod limits;
mod log;
mod pattern;
mod replay;
mod schema;
mod server;
mod state;
mod sync;
mod text;
mod tls;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{Credential, EmulatorConfig, ResponseHeaders};
pub use error::EmulatorError;
pub use faults::{Fault, Faults};
pub use log::{Listener, LoggedRequest};

use api::chat_reader::ChatFragments;
use auth::oauth::RateLimiter;
use auth::tokens::TokenStore;
use cache::PromptCache;
use files::FileStore;
use limits::Inflight;
use log::RequestLog;
use replay::Cassettes;
use state::Shared;
use tls::Pki;

/// A running emulator: two listeners (OAuth and API) sharing one state. Dropping it stops the listeners.
#[derive(Debug)]
pub struct Emulator {
    state: Arc<Shared>,
    api_addr: SocketAddr,
    oauth_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Emulator {
    /// Generates the CA (with TLS), binds both listeners and returns once they accept connections.
    pub async fn start(config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        let pki = if config.tls {
            Some(Pki::generate()?)
        } else {
            None
        };
        if let (Some(pki), Some(path)) = (&pki, &config.ca_pem_path) {
            tokio::fs::write(path, pki.ca_pem()).await?;
        }
        let (api_tls, oauth_tls) = match &pki {
            Some(pki) => (
                Some(pki.acceptor(config.host, config.require_client_cert_on_api, config.http2)?),
                Some(pki.acceptor(config.host, false, config.http2)?),
            ),
            None => (None, None),
        };
        let state = Arc::new(Shared {
            tokens: TokenStore::new(config.static_tokens.clone()),
            oauth_limiter: RateLimiter::new(config.oauth_rate_limit_per_sec),
            files: FileStore::default(),
            log: RequestLog::new(config.log_capacity),
            faults: Faults::default(),
            prompt_cache: PromptCache::new(config.prompt_cache_ttl),
            chat_fragments: ChatFragments::default(),
            inflight: Inflight::new(config.concurrency_limit),
            cassettes: Cassettes::load(config.replay_dir.as_deref())?,
            pki,
            config,
        });
        let (shutdown, watcher) = watch::channel(false);
        let host = state.config.host;
        let api = server::serve(
            SocketAddr::new(host, state.config.api_port),
            Listener::Api,
            api_tls,
            api::router(state.clone()),
            state.clone(),
            watcher.clone(),
        )
        .await?;
        let oauth = server::serve(
            SocketAddr::new(host, state.config.oauth_port),
            Listener::Oauth,
            oauth_tls,
            api::oauth_router(state.clone()),
            state.clone(),
            watcher,
        )
        .await;
        let oauth = match oauth {
            Ok(oauth) => oauth,
            Err(error) => {
                shutdown.send_replace(true);
                return Err(error.into());
            }
        };
        Ok(Emulator {
            state,
            api_addr: api.addr,
            oauth_addr: oauth.addr,
            shutdown,
            tasks: vec![api.task, oauth.task],
        })
    }

    fn scheme(&self) -> &'static str {
        if self.state.config.tls {
            "https"
        } else {
            "http"
        }
    }

    /// The API listener's origin, e.g. `https://localhost:PORT`.
    pub fn api_origin(&self) -> String {
        format!("{}://localhost:{}", self.scheme(), self.api_addr.port())
    }

    /// The API base URL in the new host's layout (api.giga.chat, the official SDK's default):
    /// `https://localhost:PORT/v1`, v2 chat at `/v2/chat/completions`, no `/token`.
    pub fn api_base_url(&self) -> String {
        format!("{}/v1", self.api_origin())
    }

    /// The API base URL in the older host's layout: `https://localhost:PORT/api/v1`, v2 chat at
    /// `/api/v2/chat/completions`, user/password tokens at `/api/v1/token`.
    pub fn legacy_api_base_url(&self) -> String {
        format!("{}/api/v1", self.api_origin())
    }

    /// The control API's base URL, e.g. `https://localhost:PORT/_emulator`.
    pub fn control_url(&self) -> String {
        format!("{}/_emulator", self.api_origin())
    }

    /// The OAuth URL, e.g. `https://localhost:PORT/api/v2/oauth`.
    pub fn auth_url(&self) -> String {
        format!(
            "{}://localhost:{}/api/v2/oauth",
            self.scheme(),
            self.oauth_addr.port()
        )
    }

    /// The bound address of the API listener.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// The bound address of the OAuth listener.
    pub fn oauth_addr(&self) -> SocketAddr {
        self.oauth_addr
    }

    /// The private CA certificate (PEM) both listeners chain to; `None` without TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.state.pki.as_ref().map(Pki::ca_pem)
    }

    /// Issues a client certificate signed by the emulator CA: `(certificate PEM, PKCS#8 key PEM)`.
    pub fn issue_client_certificate(
        &self,
        common_name: &str,
    ) -> Result<(String, String), EmulatorError> {
        self.state
            .pki
            .as_ref()
            .ok_or(EmulatorError::TlsDisabled)?
            .issue_client(common_name)
    }

    /// The authorization key (base64 `client_id:client_secret`) of the first configured credential.
    pub fn credentials_header(&self) -> String {
        self.state
            .config
            .credentials
            .first()
            .map(Credential::authorization_key)
            .unwrap_or_default()
    }

    /// The configuration the emulator runs with.
    pub fn config(&self) -> &EmulatorConfig {
        &self.state.config
    }

    /// The latest requests on both listeners (up to `log_capacity`), in order (control API calls
    /// excluded).
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state.log.snapshot()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        self.state.log.clear();
    }

    /// The fault-injection handle.
    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// Every issued token expires now: the API answers 401 `Token has expired`.
    pub fn expire_all_tokens(&self) {
        self.state.tokens.expire_all();
    }

    /// Every issued token is forgotten: the API answers 401 `Unauthorized`.
    pub fn revoke_all_tokens(&self) {
        self.state.tokens.revoke_all();
    }

    /// Stops both listeners and every open connection, and waits for them to end.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}
