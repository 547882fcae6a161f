//! Adapter settings: command-line flags, each with the environment variable the Python adapter used.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use clap::{Parser, Subcommand};
use secrecy::SecretString;

/// OpenAI-compatible gateway to Sber's GigaChat API.
///
/// GigaChat itself is configured with the official SDK's GIGACHAT_* variables
/// (GIGACHAT_CREDENTIALS, GIGACHAT_SCOPE, GIGACHAT_BASE_URL, ...); see the README.
#[derive(Debug, Parser)]
#[command(name = "gigachat-adapter", version, about)]
pub struct Cli {
    /// What to run (default: the server).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Server settings.
    #[command(flatten)]
    pub config: Config,
}

/// Subcommands besides serving.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe a running adapter's /health/live (for Docker HEALTHCHECK); exit 0 when healthy.
    Healthcheck {
        /// URL to probe; defaults to http://127.0.0.1:$PORT/health/live.
        #[arg(long)]
        url: Option<String>,
    },
}

/// Everything the server needs besides the GigaChat settings.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,
    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 8000)]
    pub port: u16,
    /// Event-loop threads, each serving its own connections with its own upstream connections;
    /// 0 means one per CPU.
    #[arg(long, env = "WORKER_THREADS", default_value_t = 0)]
    pub worker_threads: usize,
    /// Client API keys, comma-separated; clients send one as `Authorization: Bearer`, `x-api-key` or `api-key`.
    /// `name:key` names a key for the access log (otherwise it is `key-<position>`).
    #[arg(
        long = "bearer-token",
        env = "BEARER_TOKEN",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub bearer_tokens: Vec<String>,
    /// A TOML file of keys with policy (allowed models, limits, expiry, GigaChat account), accounts
    /// and pools, beside `BEARER_TOKEN`; read again when it changes and on SIGHUP.
    #[arg(long, env = "KEYS_FILE")]
    pub keys_file: Option<std::path::PathBuf>,
    /// Seconds between looks at `KEYS_FILE`'s modification time and size; 0: only on SIGHUP.
    #[arg(long, env = "KEYS_RELOAD_SECS", default_value_t = 5)]
    pub keys_reload_secs: u64,
    /// The token that opens `GET /admin/keys` (as `Authorization: Bearer`); unset, that route
    /// answers 404.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Serve without client keys (only for local use behind another gateway).
    #[arg(long, env = "ALLOW_UNAUTHENTICATED", default_value_t = false)]
    pub allow_unauthenticated: bool,
    /// Browser origins allowed by CORS: a JSON list or a comma list; `*` allows any.
    #[arg(long, env = "CORS_ALLOWED_HOSTS", default_value = "")]
    pub cors_allowed_hosts: String,
    /// Model aliases `client-name=GigaChat-model`, comma-separated (e.g. `gpt-4o=GigaChat-2-Max`).
    #[arg(long, env = "MODEL_ALIASES", default_value = "")]
    pub model_aliases: String,
    /// Embedder used when an embeddings request names no model (aliases apply).
    #[arg(long, env = "EMBEDDINGS_MODEL", default_value = "Embeddings")]
    pub embeddings_model: String,
    /// Verbose logs (debug level).
    #[arg(long, env = "DEBUG", default_value_t = false)]
    pub debug: bool,
    /// One access log line per request (target `access`, info level).
    #[arg(long, env = "ACCESS_LOG", default_value_t = true, action = clap::ArgAction::Set)]
    pub access_log: bool,
    /// Also serve `/metrics` (Prometheus text) on this address, without a key (e.g.
    /// `127.0.0.1:9464`); on the main port `/metrics` needs a client key like the API.
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Deployment environment name; `production` switches logs to JSON.
    #[arg(long, env = "ENVIRONMENT", default_value = "development")]
    pub environment: String,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "MAX_REQUEST_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_request_bytes: usize,
    /// Seconds to let in-flight requests and streams finish after SIGTERM.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,
    /// Seconds a client may take to send a request's headers (from its first byte, or from the
    /// connection's start); then the connection is closed (408 when part of a head arrived).
    #[arg(long, env = "HEADER_READ_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_secs: u64,
    /// Seconds a request body may go without a byte arriving; then the request fails with 408.
    #[arg(long, env = "BODY_READ_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_read_timeout_secs: u64,
    /// Seconds a keep-alive connection with no request in flight stays open.
    #[arg(long, env = "IDLE_TIMEOUT_SECS", default_value_t = 75, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_secs: u64,
    /// Seconds a client may go without taking any of the response being sent to it; then the
    /// connection is dropped.
    #[arg(long, env = "SEND_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub send_timeout_secs: u64,
    /// Most client connections open at once (all event loops together); more are answered 503.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
    /// Largest request head (request line and headers; HTTP/2: the header list), in bytes.
    #[arg(long, env = "MAX_HEADER_BYTES", default_value_t = 64 * 1024, value_parser = clap::value_parser!(u32).range(1024..))]
    pub max_header_bytes: u32,
    /// Most concurrent streams (requests) on one HTTP/2 connection.
    #[arg(long, env = "HTTP2_MAX_CONCURRENT_STREAMS", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub http2_max_concurrent_streams: u32,
    /// Milliseconds an Anthropic stream may stay silent (GigaChat thinking) before a `ping` event
    /// keeps it alive.
    #[arg(long, env = "STREAM_PING_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub stream_ping_ms: u64,
    /// Seconds the model list from GigaChat is cached.
    #[arg(long, env = "MODELS_CACHE_SECS", default_value_t = 60)]
    pub models_cache_secs: u64,
    /// Seconds a readiness result is cached.
    #[arg(long, env = "READY_CACHE_SECS", default_value_t = 5)]
    pub ready_cache_secs: u64,
    /// Directory of the embedded store of uploaded-file ids and stored Responses (survives restarts).
    #[arg(long, env = "DATA_DIR", default_value = "data")]
    pub data_dir: std::path::PathBuf,
    /// Redis URL for the uploaded-file ids and stored Responses shared by several replicas (instead of DATA_DIR).
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// What a limited key's request gets when Redis cannot be asked about its limits: `allow` serves it unchecked (logged, counted), `refuse` answers 503.
    #[arg(
        long,
        env = "LIMITS_REDIS_FAILURE",
        value_enum,
        default_value = "allow"
    )]
    pub limits_redis_failure: crate::limits::RedisFailure,
    /// Seconds a request's concurrency slot stays taken in Redis unless renewed (it is, while the request runs): how soon a dead replica's slots free.
    #[arg(long, env = "LIMITS_LEASE_SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    pub limits_lease_secs: u64,
    /// How long an uploaded file's GigaChat id is reused before the file is uploaded again.
    #[arg(long, env = "FILE_ID_TTL_SECS", default_value_t = 86_400)]
    pub file_id_ttl_secs: u64,
    /// Seconds a pool tries an account last after it failed over (429, 5xx, refused credentials).
    #[arg(long, env = "ACCOUNT_COOLDOWN_SECS", default_value_t = 30)]
    pub account_cooldown_secs: u64,
    /// Seconds a request waits for a slot of an account at its `max_concurrent` before a 429.
    #[arg(long, env = "ACCOUNT_QUEUE_TIMEOUT_SECS", default_value_t = 30)]
    pub account_queue_timeout_secs: u64,
    /// Seconds an account slot leased in Redis lives unless renewed (a dead replica's slot frees after it).
    #[arg(long, env = "ACCOUNT_LEASE_SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    pub account_lease_secs: u64,
    /// Requests the default (GIGACHAT_*) account serves at once; more wait in the queue (unset: no limit).
    #[arg(long, env = "GIGACHAT_ACCOUNT_MAX_CONCURRENT", value_parser = clap::value_parser!(u32).range(1..))]
    pub gigachat_account_max_concurrent: Option<u32>,
    /// GigaChat clients kept for callers' own keys (X-GigaChat-Authorization), least recently used dropped first.
    #[arg(long, env = "PASSTHROUGH_CLIENTS_MAX", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    pub passthrough_clients_max: u64,
    /// Seconds a stored Response (`store: true`) stays retrievable and continuable (30 days, as OpenAI keeps them).
    #[arg(long, env = "RESPONSES_TTL_SECS", default_value_t = 30 * 24 * 60 * 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub responses_ttl_secs: u64,
    /// Largest stored Response with its input items, as JSON bytes; a larger one is served but not stored.
    #[arg(long, env = "RESPONSES_MAX_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub responses_max_bytes: usize,
    /// Private networks image URLs may point to (CIDRs, comma-separated); none by default.
    #[arg(long, env = "FETCH_ALLOWED_NETWORKS", value_delimiter = ',')]
    pub fetch_allowed_networks: Vec<String>,
    /// Largest image fetched from a URL, in bytes.
    #[arg(long, env = "FETCH_MAX_BYTES", default_value_t = 20 * 1024 * 1024)]
    pub fetch_max_bytes: usize,
    /// Seconds allowed for fetching an image URL.
    #[arg(long, env = "FETCH_TIMEOUT_SECS", default_value_t = 20)]
    pub fetch_timeout_secs: u64,
    /// Let GigaChat draw pictures when asked (its built-in text2image; sends `function_call: auto` when the client sends no tools).
    #[arg(long, env = "IMAGE_GENERATION", default_value_t = true, action = clap::ArgAction::Set)]
    pub image_generation: bool,
    /// How pictures GigaChat draws are returned: inline data URLs or links to /v1/files/{id}/content.
    #[arg(long, env = "GENERATED_IMAGES", value_enum, default_value = "data-url")]
    pub generated_images: crate::attachments::generated::ImageMode,
    /// The adapter's public URL, for generated-image links (empty: relative links).
    #[arg(long, env = "PUBLIC_BASE_URL", default_value = "")]
    pub public_base_url: String,
    /// Run against a built-in GigaChat emulator instead of the real service (demo and local development; not in builds without the `emulator` feature).
    #[arg(long, env = "GIGACHAT_ADAPTER_EMULATOR", default_value_t = false)]
    pub emulator: bool,
}

/// A setting that cannot work, naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid {variable}: {reason}")]
pub struct ConfigError {
    /// The environment variable.
    pub variable: &'static str,
    /// What is wrong.
    pub reason: String,
}

impl Config {
    /// The client keys, as secrets.
    pub fn api_keys(&self) -> Vec<SecretString> {
        self.bearer_tokens
            .iter()
            .map(|key| key.trim())
            .filter(|key| !key.is_empty())
            .map(|key| SecretString::from(key.to_owned()))
            .collect()
    }

    /// `ADMIN_TOKEN`, when set to something.
    pub fn admin_token(&self) -> Option<SecretString> {
        self.admin_token
            .as_deref()
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .map(|token| SecretString::from(token.to_owned()))
    }

    /// `MODEL_ALIASES` parsed.
    pub fn aliases(&self) -> Result<HashMap<String, String>, ConfigError> {
        let mut aliases = HashMap::new();
        for pair in self
            .model_aliases
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let Some((alias, model)) = pair.split_once('=') else {
                return Err(ConfigError {
                    variable: "MODEL_ALIASES",
                    reason: format!("{pair:?} is not `alias=model`"),
                });
            };
            let (alias, model) = (alias.trim(), model.trim());
            if alias.is_empty() || model.is_empty() {
                return Err(ConfigError {
                    variable: "MODEL_ALIASES",
                    reason: format!("{pair:?} has an empty side"),
                });
            }
            aliases.insert(alias.to_owned(), model.to_owned());
        }
        Ok(aliases)
    }

    /// `CORS_ALLOWED_HOSTS` parsed: a JSON list (`["https://a"]`) or a comma list.
    pub fn cors_origins(&self) -> Result<Vec<String>, ConfigError> {
        let raw = self.cors_allowed_hosts.trim();
        let origins: Vec<String> = if raw.starts_with('[') {
            serde_json::from_str(raw).map_err(|err| ConfigError {
                variable: "CORS_ALLOWED_HOSTS",
                reason: format!("not a JSON list of strings: {err}"),
            })?
        } else {
            raw.split(',').map(|o| o.trim().to_owned()).collect()
        };
        Ok(origins
            .into_iter()
            .map(|o| o.trim().trim_end_matches('/').to_owned())
            .filter(|o| !o.is_empty())
            .collect())
    }

    /// `FETCH_ALLOWED_NETWORKS` parsed.
    pub fn allowed_networks(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        crate::attachments::ssrf::parse_networks(&self.fetch_allowed_networks.join(",")).map_err(
            |err| ConfigError {
                variable: "FETCH_ALLOWED_NETWORKS",
                reason: err.to_string(),
            },
        )
    }

    /// Drain deadline after SIGTERM.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// The limits every client connection is served under, the drain deadline among them.
    pub fn connection_limits(&self) -> crate::connection::ConnectionLimits {
        crate::connection::ConnectionLimits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs),
            body_read_timeout: Duration::from_secs(self.body_read_timeout_secs),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            send_timeout: Duration::from_secs(self.send_timeout_secs),
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            max_header_bytes: self.max_header_bytes as usize,
            http2_max_concurrent_streams: self.http2_max_concurrent_streams,
            shutdown_grace: self.shutdown_grace(),
        }
    }

    /// How many event-loop threads to run: `WORKER_THREADS`, or one per CPU when it is 0.
    pub fn threads(&self) -> usize {
        match self.worker_threads {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            n => n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Config {
        Cli::parse_from(std::iter::once("gigachat-adapter").chain(args.iter().copied())).config
    }

    #[test]
    fn lists_parse() {
        let config = parse(&[
            "--bearer-token",
            "a, b,,c",
            "--model-aliases",
            "gpt-4o=GigaChat-2-Max, gpt-4o-mini = GigaChat",
            "--cors-allowed-hosts",
            r#"["https://x.test/", "http://y.test"]"#,
        ]);
        assert_eq!(config.api_keys().len(), 3);
        let aliases = config.aliases().unwrap();
        assert_eq!(aliases["gpt-4o-mini"], "GigaChat");
        assert_eq!(
            config.cors_origins().unwrap(),
            ["https://x.test", "http://y.test"]
        );
        let comma = parse(&["--cors-allowed-hosts", "https://a.test,https://b.test"]);
        assert_eq!(comma.cors_origins().unwrap().len(), 2);
    }

    #[test]
    fn worker_threads_default_to_one_per_cpu() {
        let cpus = std::thread::available_parallelism().unwrap().get();
        assert_eq!(parse(&[]).threads(), cpus);
        assert_eq!(parse(&["--worker-threads", "3"]).threads(), 3);
    }

    #[test]
    fn connection_limits_parse_and_refuse_zero() {
        let limits =
            parse(&["--idle-timeout-secs", "5", "--max-connections", "7"]).connection_limits();
        assert_eq!(limits.idle_timeout, Duration::from_secs(5));
        assert_eq!(limits.max_connections, 7);
        assert_eq!(limits.header_read_timeout, Duration::from_secs(30));
        assert_eq!(limits.max_header_bytes, 65_536);
        for flag in [
            "--header-read-timeout-secs",
            "--body-read-timeout-secs",
            "--idle-timeout-secs",
            "--send-timeout-secs",
            "--max-connections",
            "--http2-max-concurrent-streams",
        ] {
            assert!(
                Cli::try_parse_from(["gigachat-adapter", flag, "0"]).is_err(),
                "{flag}"
            );
        }
    }

    #[test]
    fn keys_file_settings_parse() {
        let config = parse(&[]);
        assert_eq!(config.keys_file, None);
        assert_eq!(config.keys_reload_secs, 5);
        assert!(config.admin_token().is_none());
        let config = parse(&[
            "--keys-file",
            "/etc/keys.toml",
            "--keys-reload-secs",
            "0",
            "--admin-token",
            " adm ",
        ]);
        assert_eq!(
            config.keys_file.as_deref(),
            Some(std::path::Path::new("/etc/keys.toml"))
        );
        assert_eq!(config.keys_reload_secs, 0);
        let token = config.admin_token().unwrap();
        assert_eq!(secrecy::ExposeSecret::expose_secret(&token), "adm");
        // An empty ADMIN_TOKEN does not open the admin route to an empty key.
        assert!(parse(&["--admin-token", " "]).admin_token().is_none());
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = parse(&["--model-aliases", "oops"]).aliases().unwrap_err();
        assert_eq!(err.variable, "MODEL_ALIASES");
        let err = parse(&["--cors-allowed-hosts", "[1"])
            .cors_origins()
            .unwrap_err();
        assert_eq!(err.variable, "CORS_ALLOWED_HOSTS");
    }
}
