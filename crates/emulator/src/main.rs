//! The `gigachat-emulator` binary: starts the emulator from flags/env, prints where it listens and
//! how to authenticate, and runs until Ctrl-C or SIGTERM.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use gigachat_emulator::{Credential, Emulator, EmulatorConfig, ResponseHeaders};

/// An offline emulator of Sber's GigaChat REST API (OAuth host and API host).
#[derive(Debug, Parser)]
#[command(name = "gigachat-emulator", version, about)]
struct Args {
    /// Address both listeners bind to.
    #[arg(long, env = "GIGACHAT_EMULATOR_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port of the API listener (/api/v1); 0 picks a free port.
    #[arg(long, env = "GIGACHAT_EMULATOR_API_PORT", default_value_t = 8443)]
    api_port: u16,
    /// Port of the OAuth listener (/api/v2/oauth); 0 picks a free port.
    #[arg(long, env = "GIGACHAT_EMULATOR_OAUTH_PORT", default_value_t = 9443)]
    oauth_port: u16,
    /// Serve plain HTTP (HTTP/1.1 and h2c) instead of HTTPS.
    #[arg(long, env = "GIGACHAT_EMULATOR_NO_TLS")]
    no_tls: bool,
    /// Offer only HTTP/1.1 by ALPN over HTTPS (clients must fall back from HTTP/2).
    #[arg(long, env = "GIGACHAT_EMULATOR_NO_HTTP2")]
    no_http2: bool,
    /// Streams one HTTP/2 connection may carry at once (SETTINGS_MAX_CONCURRENT_STREAMS).
    #[arg(
        long,
        env = "GIGACHAT_EMULATOR_HTTP2_MAX_STREAMS",
        default_value_t = 128
    )]
    http2_max_streams: u32,
    /// Where to write the generated CA certificate (PEM).
    #[arg(long, env = "GIGACHAT_EMULATOR_CA_PEM")]
    ca_pem: Option<PathBuf>,
    /// Client id of the accepted authorization key.
    #[arg(
        long,
        env = "GIGACHAT_EMULATOR_CLIENT_ID",
        default_value = "emulator-client"
    )]
    client_id: String,
    /// Client secret of the accepted authorization key.
    #[arg(
        long,
        env = "GIGACHAT_EMULATOR_CLIENT_SECRET",
        default_value = "emulator-secret"
    )]
    client_secret: String,
    /// Scope the authorization key is bound to.
    #[arg(
        long,
        env = "GIGACHAT_EMULATOR_SCOPE",
        default_value = "GIGACHAT_API_PERS"
    )]
    scope: String,
    /// User accepted by POST /api/v1/token.
    #[arg(long, env = "GIGACHAT_EMULATOR_USER", default_value = "emulator-user")]
    user: String,
    /// Password of that user.
    #[arg(
        long,
        env = "GIGACHAT_EMULATOR_PASSWORD",
        default_value = "emulator-password"
    )]
    password: String,
    /// Access tokens accepted without issuance (comma-separated in the environment).
    #[arg(long, env = "GIGACHAT_EMULATOR_STATIC_TOKENS", value_delimiter = ',')]
    static_token: Vec<String>,
    /// Lifetime of issued tokens, in seconds.
    #[arg(long, env = "GIGACHAT_EMULATOR_TOKEN_TTL_SECS", default_value_t = 1800)]
    token_ttl_secs: u64,
    /// Require a client certificate signed by the emulator CA on the API listener.
    #[arg(long, env = "GIGACHAT_EMULATOR_REQUIRE_CLIENT_CERT")]
    require_client_cert: bool,
    /// Length of generated answers, in words.
    #[arg(long, env = "GIGACHAT_EMULATOR_ANSWER_WORDS", default_value_t = 24)]
    answer_words: usize,
    /// Delay before the first stream event, in milliseconds.
    #[arg(
        long,
        env = "GIGACHAT_EMULATOR_FIRST_EVENT_DELAY_MS",
        default_value_t = 0
    )]
    first_event_delay_ms: u64,
    /// Delay between stream events, in milliseconds.
    #[arg(long, env = "GIGACHAT_EMULATOR_EVENT_GAP_MS", default_value_t = 0)]
    event_gap_ms: u64,
    /// Words per stream event.
    #[arg(long, env = "GIGACHAT_EMULATOR_WORDS_PER_EVENT", default_value_t = 3)]
    words_per_event: usize,
    /// The `object` field of chat answers.
    #[arg(
        long,
        env = "GIGACHAT_EMULATOR_RESPONSE_OBJECT",
        default_value = "chat.completion"
    )]
    response_object: String,
    /// Maximum in-flight API requests per identity (unset: unlimited).
    #[arg(long, env = "GIGACHAT_EMULATOR_CONCURRENCY_LIMIT")]
    concurrency_limit: Option<usize>,
    /// OAuth requests per second before 429 (0: unlimited).
    #[arg(long, env = "GIGACHAT_EMULATOR_OAUTH_RATE_LIMIT", default_value_t = 10)]
    oauth_rate_limit: u32,
    /// Prompt tokens above which chat answers 413.
    #[arg(
        long,
        env = "GIGACHAT_EMULATOR_CONTEXT_WINDOW",
        default_value_t = 131_072
    )]
    context_window_tokens: usize,
    /// How many of the latest requests the request log (`/_emulator/requests`) keeps.
    #[arg(long, env = "GIGACHAT_EMULATOR_LOG_CAPACITY", default_value_t = 10_000)]
    log_capacity: usize,
    /// Serve recorded answers from the VCR cassettes in this directory when a request matches.
    #[arg(long, env = "GIGACHAT_EMULATOR_REPLAY_DIR")]
    replay_dir: Option<PathBuf>,
    /// Chat models that answer 422 "Requested model does not support functions" (comma-separated;
    /// an empty value flags none).
    #[arg(
        long,
        env = "GIGACHAT_EMULATOR_NO_FUNCTION_MODELS",
        value_delimiter = ',',
        default_value = "GigaChat-2-Reasoning"
    )]
    no_function_models: Vec<String>,
    /// v1 streams: the last text delta also carries finish_reason (no empty final event).
    #[arg(long, env = "GIGACHAT_EMULATOR_STREAM_FINAL_TEXT_WITH_FINISH")]
    stream_final_text_with_finish: bool,
    /// v1 streams: send no usage object at all (as the old fixture chat_completion.stream).
    #[arg(long, env = "GIGACHAT_EMULATOR_NO_STREAM_USAGE")]
    no_stream_usage: bool,
    /// Response headers to imitate: syngx (January 2026), nginx (April-June 2026, Keep-Alive) or minimal.
    #[arg(
        long,
        env = "GIGACHAT_EMULATOR_RESPONSE_HEADERS",
        default_value = "syngx"
    )]
    response_headers: ResponseHeaders,
    /// v2 function calls without an `id` (as the June 2026 IFT recording).
    #[arg(long, env = "GIGACHAT_EMULATOR_NO_FUNCTION_CALL_IDS")]
    no_function_call_ids: bool,
    /// v1 function calls with an `id`.
    #[arg(long, env = "GIGACHAT_EMULATOR_V1_FUNCTION_CALL_IDS")]
    v1_function_call_ids: bool,
    /// Prompt tokens a web search or URL extraction adds to the input.
    #[arg(
        long,
        env = "GIGACHAT_EMULATOR_BUILTIN_TOOL_INPUT_TOKENS",
        default_value_t = 20_000
    )]
    builtin_tool_input_tokens: usize,
    /// v2 streams: `data:` lines without `event:` names.
    #[arg(long, env = "GIGACHAT_EMULATOR_V2_STREAM_UNNAMED_EVENTS")]
    v2_stream_unnamed_events: bool,
    /// v2 streams: a trailing `data: [DONE]`.
    #[arg(long, env = "GIGACHAT_EMULATOR_V2_STREAM_DONE_MARKER")]
    v2_stream_done_marker: bool,
    /// v2 answers: `created_at` as a numeric string.
    #[arg(long, env = "GIGACHAT_EMULATOR_V2_CREATED_AT_STRING")]
    v2_created_at_string: bool,
    /// v2 streams: function-call arguments as string fragments keyed by the call id.
    #[arg(long, env = "GIGACHAT_EMULATOR_V2_CALL_ARGUMENT_FRAGMENTS")]
    v2_call_argument_fragments: bool,
    /// v2 streams: `event: response.error` before an in-band failure's done event.
    #[arg(long, env = "GIGACHAT_EMULATOR_V2_STREAM_ERROR_EVENT")]
    v2_stream_error_event: bool,
    /// Log filter (tracing EnvFilter syntax).
    #[arg(long, env = "GIGACHAT_EMULATOR_LOG", default_value = "warn")]
    log: String,
}

impl Args {
    fn into_config(self) -> EmulatorConfig {
        let tls = !self.no_tls;
        EmulatorConfig {
            tls,
            http2: !self.no_http2,
            http2_max_streams: self.http2_max_streams,
            ca_pem_path: tls.then(|| {
                self.ca_pem
                    .unwrap_or_else(|| std::env::temp_dir().join("gigachat-emulator-ca.pem"))
            }),
            host: self.host,
            api_port: self.api_port,
            oauth_port: self.oauth_port,
            token_ttl: Duration::from_secs(self.token_ttl_secs),
            credentials: vec![Credential::new(
                self.client_id,
                self.client_secret,
                self.scope,
            )],
            users: vec![(self.user, self.password)],
            static_tokens: self.static_token,
            require_client_cert_on_api: self.require_client_cert,
            answer_words: self.answer_words,
            first_event_delay: Duration::from_millis(self.first_event_delay_ms),
            event_gap: Duration::from_millis(self.event_gap_ms),
            words_per_event: self.words_per_event,
            response_object: self.response_object,
            concurrency_limit: self.concurrency_limit,
            oauth_rate_limit_per_sec: self.oauth_rate_limit,
            context_window_tokens: self.context_window_tokens,
            replay_dir: self.replay_dir,
            no_function_models: self
                .no_function_models
                .into_iter()
                .map(|m| m.trim().to_owned())
                .filter(|m| !m.is_empty())
                .collect(),
            stream_final_text_with_finish: self.stream_final_text_with_finish,
            stream_usage: !self.no_stream_usage,
            response_headers: self.response_headers,
            log_capacity: self.log_capacity,
            function_call_ids: !self.no_function_call_ids,
            v1_function_call_ids: self.v1_function_call_ids,
            builtin_tool_input_tokens: self.builtin_tool_input_tokens,
            v2_stream_unnamed_events: self.v2_stream_unnamed_events,
            v2_stream_done_marker: self.v2_stream_done_marker,
            v2_created_at_string: self.v2_created_at_string,
            v2_call_argument_fragments: self.v2_call_argument_fragments,
            v2_stream_error_event: self.v2_stream_error_event,
            ..EmulatorConfig::default()
        }
    }
}

/// Resolves when the process is asked to stop (Ctrl-C, or SIGTERM on Unix).
async fn stop_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot listen for SIGTERM")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("cannot listen for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&args.log).context("bad --log filter")?,
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = args.into_config();
    let emulator = Emulator::start(config)
        .await
        .context("cannot start the emulator")?;
    let config = emulator.config();
    println!("gigachat-emulator ready");
    println!("  GIGACHAT_BASE_URL={}", emulator.api_base_url());
    println!("  GIGACHAT_AUTH_URL={}", emulator.auth_url());
    println!("  GIGACHAT_CREDENTIALS={}", emulator.credentials_header());
    if let Some(credential) = config.credentials.first() {
        println!("  GIGACHAT_SCOPE={}", credential.scope);
    }
    if let Some((user, password)) = config.users.first() {
        println!(
            "  user/password (/token) is served in the older layout only: GIGACHAT_BASE_URL={} with",
            emulator.legacy_api_base_url()
        );
        println!("  GIGACHAT_USER={user}");
        println!("  GIGACHAT_PASSWORD={password}");
    }
    if let Some(path) = &config.ca_pem_path {
        println!("  GIGACHAT_CA_BUNDLE_FILE={}", path.display());
    }
    println!("  control API (emulator only): {}/", emulator.control_url());
    stop_signal().await?;
    emulator.shutdown().await;
    Ok(())
}
