//! Emulator settings: listeners, credentials, token lifetime, answer shape and limits.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

/// One OAuth authorization key the emulator accepts: `base64(client_id:client_secret)` bound to a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The client id half of the authorization key.
    pub client_id: String,
    /// The client secret half of the authorization key.
    pub client_secret: String,
    /// The scope the key is bound to (`GIGACHAT_API_PERS`, `GIGACHAT_API_B2B` or `GIGACHAT_API_CORP`).
    pub scope: String,
}

impl Credential {
    /// Builds a credential from its three parts.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        scope: impl Into<String>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            scope: scope.into(),
        }
    }

    /// The authorization key as the Sber cabinet hands it out: base64 of `client_id:client_secret`.
    pub fn authorization_key(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.client_id, self.client_secret))
    }
}

/// Which recorded gateway's response headers the emulator sends (besides `X-Request-Id`/`X-Session-Id`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResponseHeaders {
    /// Production in January 2026 (`test_chat_simple.yaml`): `Server: SynGX`, `Allow`, CORS,
    /// `Strict-Transport-Security`, the three browser-protection headers on successes; no `Keep-Alive`.
    #[default]
    SynGx,
    /// The nginx front of April–June 2026 (`test_chat_response_format_json_schema.yaml`, the v2 recordings):
    /// `Server: nginx`, `Keep-Alive: timeout=15`, `Vary`, `X-Backend`, `X-SP-CRID`, CORS.
    Nginx,
    /// Only the id headers and what HTTP itself needs (the emulator's behaviour before header profiles).
    Minimal,
}

impl std::str::FromStr for ResponseHeaders {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.to_ascii_lowercase().as_str() {
            "syngx" => Ok(Self::SynGx),
            "nginx" => Ok(Self::Nginx),
            "minimal" | "none" => Ok(Self::Minimal),
            _ => Err(format!(
                "unknown response header profile {name:?}; use syngx, nginx or minimal"
            )),
        }
    }
}

/// Everything an emulator instance can be told; `Default` is production-like.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Serve HTTPS with a certificate from a private CA generated at start; `false` serves plain HTTP.
    pub tls: bool,
    /// Offer HTTP/2 by ALPN beside HTTP/1.1 (as GigaChat does); `false` makes TLS clients fall
    /// back to HTTP/1.1, to test that they can.
    pub http2: bool,
    /// Streams one HTTP/2 connection may carry at once (`SETTINGS_MAX_CONCURRENT_STREAMS`); a
    /// client must open another connection for more. 128 is nginx's default, the front GigaChat's
    /// headers suggest; the real limit is not recorded.
    pub http2_max_streams: u32,
    /// Write the CA certificate (PEM) to this path at start.
    pub ca_pem_path: Option<PathBuf>,
    /// Address both listeners bind to.
    pub host: IpAddr,
    /// Port of the API listener (`/api/v1/...`); 0 picks a free one.
    pub api_port: u16,
    /// Port of the OAuth listener (`/api/v2/oauth`); 0 picks a free one.
    pub oauth_port: u16,
    /// Lifetime of issued access tokens (production: 30 minutes).
    pub token_ttl: Duration,
    /// Authorization keys accepted by the OAuth endpoint.
    pub credentials: Vec<Credential>,
    /// User/password pairs accepted by `POST /api/v1/token`.
    pub users: Vec<(String, String)>,
    /// Access tokens accepted without issuance (pre-issued tokens that never expire).
    pub static_tokens: Vec<String>,
    /// Require a client certificate signed by the emulator CA on the API listener.
    pub require_client_cert_on_api: bool,
    /// Length of generated text answers, in words.
    pub answer_words: usize,
    /// Delay between the stream's headers and its first event.
    pub first_event_delay: Duration,
    /// Delay between two stream events.
    pub event_gap: Duration,
    /// Words carried by one stream event (before `update_interval` merging).
    pub words_per_event: usize,
    /// The `object` field of chat answers (`chat.completion`, or `chat.completions` as newer models send).
    pub response_object: String,
    /// Maximum number of in-flight API requests per identity (`None`: unlimited; 1: personal tier).
    pub concurrency_limit: Option<usize>,
    /// OAuth requests accepted per second before 429 (0: unlimited).
    pub oauth_rate_limit_per_sec: u32,
    /// Prompt size, in estimated tokens, above which chat answers 413.
    pub context_window_tokens: usize,
    /// How long a seen prompt prefix counts as cached (`precached_prompt_tokens`).
    pub prompt_cache_ttl: Duration,
    /// Largest request body accepted on either listener, in bytes.
    pub max_request_bytes: usize,
    /// Directory of VCR cassettes whose recorded answers are served for matching requests.
    pub replay_dir: Option<PathBuf>,
    /// Chat models that answer 422 `Requested model does not support functions` when `functions` are sent.
    pub no_function_models: Vec<String>,
    /// v1 streams: the last text delta also carries `finish_reason` (and usage), as in the threads
    /// recording, instead of a separate final event with empty content.
    pub stream_final_text_with_finish: bool,
    /// v1 streams: the event with `finish_reason` carries `usage`; `false` sends no usage at all, as in
    /// the old fixture `chat_completion.stream`.
    pub stream_usage: bool,
    /// The gateway whose response headers both listeners imitate.
    pub response_headers: ResponseHeaders,
    /// How many of the latest requests the request log keeps.
    pub log_capacity: usize,
    /// v2 function calls carry an `id` (as api.giga.chat's answers do; the June 2026 IFT recording
    /// has none).
    pub function_call_ids: bool,
    /// v1 function calls carry an `id` too (no v1 recording shows one).
    pub v1_function_call_ids: bool,
    /// Prompt tokens a web search or URL extraction adds to the input (the recordings: 23767, 17493).
    pub builtin_tool_input_tokens: usize,
    /// v2 streams: `data:` lines without `event:` names.
    pub v2_stream_unnamed_events: bool,
    /// v2 streams: a trailing `data: [DONE]` after `response.message.done`.
    pub v2_stream_done_marker: bool,
    /// v2 answers: `created_at` as a numeric string instead of a number.
    pub v2_created_at_string: bool,
    /// v2 streams: function-call arguments as string fragments keyed by the call id (the first
    /// fragment has the name) instead of the whole object in one event.
    pub v2_call_argument_fragments: bool,
    /// v2 streams: an in-band failure sends `event: response.error` before its done event.
    pub v2_stream_error_event: bool,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            tls: true,
            http2: true,
            http2_max_streams: 128,
            ca_pem_path: None,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            api_port: 0,
            oauth_port: 0,
            token_ttl: Duration::from_secs(30 * 60),
            credentials: vec![Credential::new(
                "emulator-client",
                "emulator-secret",
                "GIGACHAT_API_PERS",
            )],
            users: vec![("emulator-user".to_owned(), "emulator-password".to_owned())],
            static_tokens: Vec::new(),
            require_client_cert_on_api: false,
            answer_words: 24,
            first_event_delay: Duration::ZERO,
            event_gap: Duration::ZERO,
            words_per_event: 3,
            response_object: "chat.completion".to_owned(),
            concurrency_limit: None,
            oauth_rate_limit_per_sec: 10,
            context_window_tokens: 131_072,
            prompt_cache_ttl: Duration::from_secs(30),
            max_request_bytes: 128 * 1024 * 1024,
            replay_dir: None,
            no_function_models: vec!["GigaChat-2-Reasoning".to_owned()],
            stream_final_text_with_finish: false,
            stream_usage: true,
            response_headers: ResponseHeaders::SynGx,
            log_capacity: 10_000,
            function_call_ids: true,
            v1_function_call_ids: false,
            builtin_tool_input_tokens: 20_000,
            v2_stream_unnamed_events: false,
            v2_stream_done_marker: false,
            v2_created_at_string: false,
            v2_call_argument_fragments: false,
            v2_stream_error_event: false,
        }
    }
}
