//! gigachat-adapter: an OpenAI-compatible gateway to Sber's GigaChat. The binary is thin glue
//! around [`build_router`]; tests build the same router around an in-process emulator.

pub mod access;
pub mod accounts;
pub mod attachments;
pub mod auth;
pub mod body;
pub mod cache;
pub mod config;
pub mod connection;
pub mod context;
pub mod demo;
pub mod error;
pub mod incoming;
pub mod limits;
pub mod log_output;
pub mod metrics;
pub mod offload;
pub mod policy;
pub mod responses_store;
pub mod routes;
pub mod server;
pub mod state;
pub mod store;
pub mod streaming;
pub mod traces;
pub mod workers;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use secrecy::SecretString;

use config::Config;
use state::{AppState, Limits};

/// The full router for `config`, talking to GigaChat as `settings` say, accepting `keys`
/// (empty only when unauthenticated access was allowed). Opens the file-id store.
pub async fn build_router(
    config: &Config,
    settings: gigachat::Settings,
    keys: Vec<SecretString>,
) -> anyhow::Result<Router> {
    // Dropped, the metrics listener serves until the runtime ends (or SIGTERM/Ctrl-C).
    Ok(build(config, settings, keys).await?.0)
}

/// Like [`build_router`], also returning the GigaChat client the router uses and the `/metrics`
/// listener on `METRICS_ADDR` (when set), which the caller stops once the server has stopped.
pub async fn build(
    config: &Config,
    settings: gigachat::Settings,
    keys: Vec<SecretString>,
) -> anyhow::Result<(Router, gigachat::GigaChat, Option<MetricsListener>)> {
    let defaults = translate::ChatDefaults {
        contract: settings.api_version,
        default_model: settings.default_model().to_owned(),
        aliases: config.aliases()?,
        builtin_functions: config.image_generation,
    };
    let known_models: Vec<String> = defaults
        .aliases
        .iter()
        .flat_map(|(alias, model)| [alias.clone(), model.clone()])
        .chain([
            defaults.default_model.clone(),
            config.embeddings_model.clone(),
        ])
        .collect();
    let identity = upstream_identity(&settings);
    let client = gigachat::GigaChat::new(settings.clone()).context("GigaChat client")?;
    let fetcher = attachments::fetch::Fetcher::new(attachments::fetch::FetchConfig {
        max_bytes: config.fetch_max_bytes,
        timeout: Duration::from_secs(config.fetch_timeout_secs),
        allowed_networks: config.allowed_networks()?,
        ..attachments::fetch::FetchConfig::default()
    })
    .context("image URL fetcher")?;
    let store_config = store::StoreConfig {
        redis_url: config.redis_url.clone(),
        data_dir: config.data_dir.clone(),
        memory_capacity: 10_000,
    };
    let persistent = store::open_persistent(&store_config)
        .await
        .context("file-id and Responses store (DATA_DIR or REDIS_URL)")?;
    let responses = responses_store::ResponsesStore::new(
        persistent.clone(),
        &identity,
        responses_store::Retention {
            ttl: Duration::from_secs(config.responses_ttl_secs),
            max_bytes: config.responses_max_bytes,
        },
    );
    let store = attachments::store::file_store(persistent, store_config.memory_capacity);
    let purposes = attachments::purposes::Purposes::new(store.clone(), &identity);
    let resolver = attachments::resolve::Attachments::new(
        client.clone(),
        fetcher,
        attachments::store::Dedup::new(store),
        identity,
        i64::try_from(config.file_id_ttl_secs).unwrap_or(i64::MAX),
        purposes,
    );
    let attachment_counts = resolver.counts();
    let keys = client_keys(config, keys)?;
    let keys_file = keys.file().cloned();
    let policy = keys_file
        .as_ref()
        .map_or_else(Default::default, |file| Arc::clone(&file.current()));
    let accounts = accounts::Accounts::new(
        settings,
        client.clone(),
        resolver,
        policy,
        accounts::Tuning {
            cooldown: Duration::from_secs(config.account_cooldown_secs),
            queue_timeout: Duration::from_secs(config.account_queue_timeout_secs),
            lease: Duration::from_secs(config.account_lease_secs),
            passthrough_max: usize::try_from(config.passthrough_clients_max).unwrap_or(usize::MAX),
            default_max_concurrent: config.gigachat_account_max_concurrent,
            redis_url: config.redis_url.clone(),
            models_ttl: Duration::from_secs(config.models_cache_secs),
        },
    )
    .context("GigaChat accounts")?;
    let accounts = match &keys_file {
        Some(file) => accounts.following(file.clone())?,
        None => accounts,
    };
    let media = state::Media {
        image_mode: config.generated_images,
        public_base_url: config.public_base_url.clone(),
    };
    let state = AppState::new(
        accounts,
        defaults,
        config.embeddings_model.clone(),
        keys,
        Limits {
            ready_ttl: Duration::from_secs(config.ready_cache_secs),
            max_request_bytes: config.max_request_bytes,
            stream_ping: Duration::from_millis(config.stream_ping_ms),
        },
        media,
        responses,
    );
    let limiter = Arc::new(match &config.redis_url {
        Some(url) => limits::Limiter::redis(
            store::RedisStore::open(url)
                .context("REDIS_URL for the key limits")?
                .connection(),
            Duration::from_secs(config.limits_lease_secs),
            config.limits_redis_failure,
        ),
        None => limits::Limiter::local(),
    });
    let metrics = Arc::new(metrics::Metrics::new(known_models));
    let refreshing = client.clone();
    let limiting = limiter.clone();
    metrics.read_from(metrics::Sources {
        token_refreshes: Box::new(move || refreshing.token_refreshes()),
        attachments: attachment_counts,
        limits_redis_errors: Box::new(move || limiting.redis_errors()),
    });
    if let Some(file) = keys_file {
        metrics.read_keys_file(file);
    }
    let metrics_listener = match config.metrics_addr {
        Some(addr) => {
            Some(MetricsListener::start(addr, metrics.clone(), config.connection_limits()).await?)
        }
        None => None,
    };
    let router = server::router(
        state,
        &config.cors_origins()?,
        config.max_request_bytes,
        config.access_log,
        metrics,
        limiter,
    );
    Ok((router, client, metrics_listener))
}

/// The client keys: `keys` (`BEARER_TOKEN`), those of `KEYS_FILE` (watched from now on, see
/// [`policy::reload::PolicyFile::watch`]) and `ADMIN_TOKEN`.
fn client_keys(config: &Config, keys: Vec<SecretString>) -> anyhow::Result<auth::Keys> {
    let mut client_keys = auth::Keys::new(keys);
    if let Some(path) = &config.keys_file {
        let reserved = client_keys.names().cloned().collect();
        let file = policy::reload::PolicyFile::open(path, reserved)
            .with_context(|| format!("KEYS_FILE {}", path.display()))?;
        let file = Arc::new(file);
        file.watch(Duration::from_secs(config.keys_reload_secs));
        client_keys = client_keys.with_file(file);
    }
    if let Some(token) = config.admin_token() {
        client_keys = client_keys.with_admin_token(token);
    }
    Ok(client_keys)
}

/// `/metrics` (and nothing else) served without a key on `METRICS_ADDR`, in the background of the
/// runtime building the router, under the client connection limits. It stops with the server: on
/// SIGTERM/Ctrl-C (or [`MetricsListener::stop`]) it stops accepting, answers the scrapes in
/// progress and closes its connections, as the main listener drains.
pub struct MetricsListener {
    stop: tokio::sync::watch::Sender<bool>,
    served: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl MetricsListener {
    async fn start(
        addr: std::net::SocketAddr,
        metrics: Arc<metrics::Metrics>,
        limits: connection::ConnectionLimits,
    ) -> anyhow::Result<Self> {
        use tracing::Instrument as _;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for metrics on {addr} (METRICS_ADDR)"))?;
        let router = Router::new().route("/metrics", server::metrics_route(metrics));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let signal = stop.clone();
        tokio::spawn(async move {
            server::shutdown_signal().await;
            let _ = signal.send(true);
        });
        let connections = connection::Connections::new(limits);
        let served = tokio::spawn(
            server::serve_until(router, listener, connections, stopped)
                .instrument(tracing::info_span!("metrics_listener")),
        );
        tracing::info!(%addr, "serving /metrics");
        Ok(Self { stop, served })
    }

    /// Stops it (unless a signal already did) and waits until its connections are done: at most
    /// the shutdown grace.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.served
            .await
            .context("the metrics listener's task failed")?
    }
}

/// A secret-free fingerprint of who uploads to GigaChat, so cached file ids are never shared
/// between different accounts (or scopes, or hosts).
pub(crate) fn upstream_identity(settings: &gigachat::Settings) -> String {
    use secrecy::ExposeSecret;
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    for part in [
        Some(settings.base_url.as_str()),
        Some(settings.scope.as_str()),
        settings.credentials.as_ref().map(|s| s.expose_secret()),
        settings.user.as_deref(),
        settings.access_token.as_ref().map(|s| s.expose_secret()),
        settings.cert_file.as_ref().and_then(|p| p.to_str()),
    ] {
        hasher.update(part.unwrap_or("").as_bytes());
        hasher.update([0u8]);
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
