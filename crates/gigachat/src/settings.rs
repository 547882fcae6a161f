//! Client settings with the official Python SDK's `GIGACHAT_*` names, defaults and meaning.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

/// Production API base URL (v1), the official SDK's default since 0.2.3: the new host, no `/api`
/// prefix, v2 chat at `/v2/chat/completions`, no `/token` endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.giga.chat/v1";
/// The API base URL of the older host (`/api/v1` layout, serves `/token`); still answers.
pub const LEGACY_BASE_URL: &str = "https://gigachat.devices.sberbank.ru/api/v1";
/// Hosts known not to serve `POST {base_url}/token` (user/password auth).
pub const HOSTS_WITHOUT_TOKEN_ENDPOINT: [&str; 1] = ["api.giga.chat"];
/// Production OAuth endpoint.
pub const DEFAULT_AUTH_URL: &str = "https://ngw.devices.sberbank.ru:9443/api/v2/oauth";
/// The scope of personal (individual) keys, the SDK's default.
pub const DEFAULT_SCOPE: &str = "GIGACHAT_API_PERS";
/// Every OAuth scope GigaChat issues keys for (individuals, prepaid business, pay-as-you-go business).
pub const SCOPES: [&str; 3] = ["GIGACHAT_API_PERS", "GIGACHAT_API_B2B", "GIGACHAT_API_CORP"];
/// The chat model sent when neither the request nor `GIGACHAT_MODEL` names one: the smallest of the
/// models Sber's model guide lists (`GigaChat-2`, `-2-Pro`, `-2-Max`). The older names (`GigaChat`,
/// `GigaChat-Pro`, `GigaChat-Max`) are still passed through unchanged when asked for.
pub const DEFAULT_MODEL: &str = "GigaChat-2";
/// Statuses the SDK retries by default.
pub const DEFAULT_RETRY_ON_STATUS_CODES: [u16; 5] = [429, 500, 502, 503, 504];

// Lives with the wire types so `translate` can use it without this client; re-exported here, where
// `GIGACHAT_PROMPT_TOKENS_INCLUDE_CACHED` is read.
pub use gigachat_types::CachedPromptTokens;
pub use gigachat_types::Contract;

/// Everything the client needs to reach GigaChat. `Debug` never shows secrets.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `GIGACHAT_BASE_URL`: API base, ending in `/v1` (new host) or `/api/v1` (older host).
    pub base_url: String,
    /// `GIGACHAT_AUTH_URL`: OAuth token endpoint.
    pub auth_url: String,
    /// `GIGACHAT_CREDENTIALS`: the authorization key (base64 of `client_id:client_secret`).
    pub credentials: Option<SecretString>,
    /// `GIGACHAT_SCOPE`: OAuth scope the key is bound to.
    pub scope: String,
    /// `GIGACHAT_ACCESS_TOKEN`: a pre-issued token, treated as never expiring.
    pub access_token: Option<SecretString>,
    /// `GIGACHAT_MODEL`: default chat model ([`DEFAULT_MODEL`] when unset).
    pub model: Option<String>,
    /// `GIGACHAT_PROFANITY_CHECK`: sent as `profanity_check` when set.
    pub profanity_check: Option<bool>,
    /// `GIGACHAT_USER`: user name for the `/token` endpoint.
    pub user: Option<String>,
    /// `GIGACHAT_PASSWORD`: password for the `/token` endpoint.
    pub password: Option<SecretString>,
    /// `GIGACHAT_TIMEOUT`: seconds for a whole non-streaming call (and the default for the others).
    pub timeout: Duration,
    /// `GIGACHAT_CONNECT_TIMEOUT` (extension): seconds to establish a connection; defaults to `GIGACHAT_TIMEOUT`.
    pub connect_timeout: Duration,
    /// `GIGACHAT_STREAM_IDLE_TIMEOUT` (extension): longest silence between stream events; defaults to `GIGACHAT_TIMEOUT`.
    pub stream_idle_timeout: Duration,
    /// `GIGACHAT_VERIFY_SSL_CERTS`: verify TLS certificates (disable only for development).
    pub verify_ssl_certs: bool,
    /// `GIGACHAT_CA_BUNDLE_FILE`: extra trusted roots (PEM), added to the system roots and the bundled Russian Trusted Root CA.
    pub ca_bundle_file: Option<PathBuf>,
    /// `GIGACHAT_CERT_FILE`: client certificate (PEM) for mutual TLS with the API host.
    pub cert_file: Option<PathBuf>,
    /// `GIGACHAT_KEY_FILE`: private key (PEM) of the client certificate.
    pub key_file: Option<PathBuf>,
    /// `GIGACHAT_KEY_FILE_PASSWORD`: password of an encrypted (PKCS#8) key file.
    pub key_file_password: Option<SecretString>,
    /// `GIGACHAT_FLAGS`: feature flags sent with every chat request.
    pub flags: Option<Vec<String>>,
    /// `GIGACHAT_MAX_CONNECTIONS`: cap on simultaneous calls in flight (streams hold a slot until they end).
    pub max_connections: Option<usize>,
    /// `GIGACHAT_MAX_RETRIES`: extra attempts for transient failures.
    pub max_retries: u32,
    /// `GIGACHAT_RETRY_BACKOFF_FACTOR`: base of the exponential backoff, in seconds.
    pub retry_backoff_factor: f64,
    /// `GIGACHAT_RETRY_ON_STATUS_CODES`: statuses worth a retry.
    pub retry_on_status_codes: Vec<u16>,
    /// `GIGACHAT_TOKEN_EXPIRY_BUFFER_MS`: refresh the token this long before it expires.
    pub token_expiry_buffer: Duration,
    /// `GIGACHAT_VERBOSE`: log every request and response line at info level.
    pub verbose: bool,
    /// `GIGACHAT_PROMPT_TOKENS_INCLUDE_CACHED` (extension): whether GigaChat's `prompt_tokens`
    /// already counts `precached_prompt_tokens` (`false`, the recorded behaviour, by default).
    pub cached_prompt_tokens: CachedPromptTokens,
    /// `GIGACHAT_API_VERSION` (extension): the chat contract, `1` (`{base}/chat/completions`, the
    /// default) or `2` (`/v2/chat/completions`: parallel calls, built-in tools).
    pub api_version: Contract,
}

impl Default for Settings {
    fn default() -> Self {
        let timeout = Duration::from_secs(30);
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            auth_url: DEFAULT_AUTH_URL.to_owned(),
            credentials: None,
            scope: DEFAULT_SCOPE.to_owned(),
            access_token: None,
            model: None,
            profanity_check: None,
            user: None,
            password: None,
            timeout,
            connect_timeout: timeout,
            stream_idle_timeout: timeout,
            verify_ssl_certs: true,
            ca_bundle_file: None,
            cert_file: None,
            key_file: None,
            key_file_password: None,
            flags: None,
            max_connections: None,
            max_retries: 0,
            retry_backoff_factor: 0.5,
            retry_on_status_codes: DEFAULT_RETRY_ON_STATUS_CODES.to_vec(),
            token_expiry_buffer: Duration::from_millis(60_000),
            verbose: false,
            cached_prompt_tokens: CachedPromptTokens::Excluded,
            api_version: Contract::V1,
        }
    }
}

/// A setting that could not be understood; names the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {variable}={value:?}: {reason}")]
pub struct SettingError {
    /// The environment variable, e.g. `GIGACHAT_TIMEOUT`.
    pub variable: String,
    /// The offending value (secrets are never echoed).
    pub value: String,
    /// What was expected.
    pub reason: String,
}

impl Settings {
    /// Reads every `GIGACHAT_*` variable from the process environment.
    pub fn from_env() -> Result<Self, SettingError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, a `.env` map, a test table).
    /// Empty values count as unset, as in pydantic-settings.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let mut settings = Settings::default();
        let reader = Reader { get: &get };
        if let Some(url) = reader.url("GIGACHAT_BASE_URL")? {
            settings.base_url = url;
        }
        if let Some(url) = reader.url("GIGACHAT_AUTH_URL")? {
            settings.auth_url = url;
        }
        settings.credentials = get("GIGACHAT_CREDENTIALS").map(SecretString::from);
        if let Some(scope) = get("GIGACHAT_SCOPE") {
            settings.scope = scope.trim().to_owned();
        }
        settings.access_token = get("GIGACHAT_ACCESS_TOKEN").map(SecretString::from);
        settings.model = get("GIGACHAT_MODEL").map(|m| m.trim().to_owned());
        settings.profanity_check = reader.bool("GIGACHAT_PROFANITY_CHECK")?;
        settings.user = get("GIGACHAT_USER");
        settings.password = get("GIGACHAT_PASSWORD").map(SecretString::from);
        if let Some(timeout) = reader.seconds("GIGACHAT_TIMEOUT")? {
            settings.timeout = timeout;
        }
        settings.connect_timeout = reader
            .seconds("GIGACHAT_CONNECT_TIMEOUT")?
            .unwrap_or(settings.timeout);
        settings.stream_idle_timeout = reader
            .seconds("GIGACHAT_STREAM_IDLE_TIMEOUT")?
            .unwrap_or(settings.timeout);
        if let Some(verify) = reader.bool("GIGACHAT_VERIFY_SSL_CERTS")? {
            settings.verify_ssl_certs = verify;
        }
        settings.ca_bundle_file = get("GIGACHAT_CA_BUNDLE_FILE").map(PathBuf::from);
        settings.cert_file = get("GIGACHAT_CERT_FILE").map(PathBuf::from);
        settings.key_file = get("GIGACHAT_KEY_FILE").map(PathBuf::from);
        settings.key_file_password = get("GIGACHAT_KEY_FILE_PASSWORD").map(SecretString::from);
        settings.flags = reader.list("GIGACHAT_FLAGS", |s| Some(s.to_owned()))?;
        settings.max_connections = reader.number::<usize>("GIGACHAT_MAX_CONNECTIONS", 1)?;
        if let Some(retries) = reader.number::<u32>("GIGACHAT_MAX_RETRIES", 0)? {
            settings.max_retries = retries;
        }
        if let Some(factor) = reader.float("GIGACHAT_RETRY_BACKOFF_FACTOR")? {
            settings.retry_backoff_factor = factor;
        }
        if let Some(codes) = reader.list("GIGACHAT_RETRY_ON_STATUS_CODES", |s| {
            s.parse::<u16>().ok().filter(|c| (100..=599).contains(c))
        })? {
            settings.retry_on_status_codes = codes;
        }
        if let Some(ms) = reader.number::<u64>("GIGACHAT_TOKEN_EXPIRY_BUFFER_MS", 0)? {
            settings.token_expiry_buffer = Duration::from_millis(ms);
        }
        if let Some(verbose) = reader.bool("GIGACHAT_VERBOSE")? {
            settings.verbose = verbose;
        }
        if let Some(included) = reader.bool("GIGACHAT_PROMPT_TOKENS_INCLUDE_CACHED")? {
            settings.cached_prompt_tokens = if included {
                CachedPromptTokens::Included
            } else {
                CachedPromptTokens::Excluded
            };
        }
        if let Some(version) = get("GIGACHAT_API_VERSION") {
            settings.api_version = match version.trim() {
                "1" => Contract::V1,
                "2" => Contract::V2,
                _ => {
                    return Err(Reader::error(
                        "GIGACHAT_API_VERSION",
                        &version,
                        "expected 1 (the v1 chat contract, the default) or 2 (/v2/chat/completions)",
                    ));
                }
            };
        }
        if get("GIGACHAT_SSL_CONTEXT").is_some() {
            return Err(SettingError {
                variable: "GIGACHAT_SSL_CONTEXT".into(),
                value: "<set>".into(),
                reason: "a Python ssl.SSLContext cannot be given through the environment; use GIGACHAT_CA_BUNDLE_FILE, GIGACHAT_CERT_FILE and GIGACHAT_KEY_FILE".into(),
            });
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Checks combinations that single values cannot show.
    pub fn validate(&self) -> Result<(), SettingError> {
        let invalid = |variable: &str, value: String, reason: &str| SettingError {
            variable: variable.into(),
            value,
            reason: reason.into(),
        };
        if !SCOPES.contains(&self.scope.as_str()) {
            return Err(invalid(
                "GIGACHAT_SCOPE",
                self.scope.clone(),
                "expected GIGACHAT_API_PERS, GIGACHAT_API_B2B or GIGACHAT_API_CORP",
            ));
        }
        if self.user.is_some() != self.password.is_some() {
            let missing = if self.user.is_some() {
                "GIGACHAT_PASSWORD"
            } else {
                "GIGACHAT_USER"
            };
            return Err(invalid(
                missing,
                String::new(),
                "GIGACHAT_USER and GIGACHAT_PASSWORD must be set together",
            ));
        }
        if self.credentials.is_none()
            && self.user.is_some()
            && let Some(host) = self.host_without_token_endpoint()
        {
            return Err(invalid(
                "GIGACHAT_BASE_URL",
                self.base_url.clone(),
                &format!(
                    "GIGACHAT_USER/GIGACHAT_PASSWORD get tokens from {{GIGACHAT_BASE_URL}}/token, which \
                     {host} does not serve: set GIGACHAT_BASE_URL to a host that has /token (such as \
                     {LEGACY_BASE_URL} or a test stand), or use GIGACHAT_CREDENTIALS"
                ),
            ));
        }
        if self.cert_file.is_some() != self.key_file.is_some() {
            let missing = if self.cert_file.is_some() {
                "GIGACHAT_KEY_FILE"
            } else {
                "GIGACHAT_CERT_FILE"
            };
            return Err(invalid(
                missing,
                String::new(),
                "GIGACHAT_CERT_FILE and GIGACHAT_KEY_FILE must be set together",
            ));
        }
        if !(self.retry_backoff_factor.is_finite() && self.retry_backoff_factor >= 0.0) {
            return Err(invalid(
                "GIGACHAT_RETRY_BACKOFF_FACTOR",
                self.retry_backoff_factor.to_string(),
                "must be a non-negative number",
            ));
        }
        Ok(())
    }

    /// The chat model to use when a request names none.
    pub fn default_model(&self) -> &str {
        self.model.as_deref().unwrap_or(DEFAULT_MODEL)
    }

    /// The host of `base_url` when it is one known not to serve `/token`
    /// ([`HOSTS_WITHOUT_TOKEN_ENDPOINT`]).
    fn host_without_token_endpoint(&self) -> Option<&'static str> {
        let url = url::Url::parse(&self.base_url).ok()?;
        let host = url.host_str()?.trim_end_matches('.');
        HOSTS_WITHOUT_TOKEN_ENDPOINT
            .into_iter()
            .find(|known| host.eq_ignore_ascii_case(known))
    }

    /// Whether any way to obtain or present a token is configured.
    pub fn has_auth(&self) -> bool {
        self.credentials.is_some() || self.user.is_some() || self.access_token.is_some()
    }
}

struct Reader<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
}

impl Reader<'_> {
    fn error(name: &str, value: &str, reason: &str) -> SettingError {
        SettingError {
            variable: name.into(),
            value: value.into(),
            reason: reason.into(),
        }
    }

    fn url(&self, name: &str) -> Result<Option<String>, SettingError> {
        let Some(value) = (self.get)(name) else {
            return Ok(None);
        };
        let trimmed = value.trim().trim_end_matches('/');
        match url::Url::parse(trimmed) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Ok(Some(trimmed.to_owned()))
            }
            _ => Err(Self::error(name, &value, "expected an http(s) URL")),
        }
    }

    fn bool(&self, name: &str) -> Result<Option<bool>, SettingError> {
        let Some(value) = (self.get)(name) else {
            return Ok(None);
        };
        match value.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "t" | "yes" | "y" | "on" => Ok(Some(true)),
            "0" | "false" | "f" | "no" | "n" | "off" => Ok(Some(false)),
            _ => Err(Self::error(name, &value, "expected true or false")),
        }
    }

    fn float(&self, name: &str) -> Result<Option<f64>, SettingError> {
        let Some(value) = (self.get)(name) else {
            return Ok(None);
        };
        match value.trim().parse::<f64>() {
            Ok(number) if number.is_finite() && number >= 0.0 => Ok(Some(number)),
            _ => Err(Self::error(name, &value, "expected a non-negative number")),
        }
    }

    fn seconds(&self, name: &str) -> Result<Option<Duration>, SettingError> {
        match self.float(name)? {
            Some(seconds) if seconds > 0.0 => Ok(Some(Duration::from_secs_f64(seconds))),
            Some(_) => Err(Self::error(
                name,
                "0",
                "expected a positive number of seconds",
            )),
            None => Ok(None),
        }
    }

    fn number<T: std::str::FromStr + PartialOrd + From<u8>>(
        &self,
        name: &str,
        min: u8,
    ) -> Result<Option<T>, SettingError> {
        let Some(value) = (self.get)(name) else {
            return Ok(None);
        };
        match value.trim().parse::<T>() {
            Ok(number) if number >= T::from(min) => Ok(Some(number)),
            _ => Err(Self::error(
                name,
                &value,
                &format!("expected a whole number of at least {min}"),
            )),
        }
    }

    /// A JSON list (as pydantic-settings expects) or, for convenience, a comma-separated list.
    fn list<T>(
        &self,
        name: &str,
        parse_item: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<Vec<T>>, SettingError> {
        let Some(value) = (self.get)(name) else {
            return Ok(None);
        };
        let trimmed = value.trim();
        let items: Vec<String> = if trimmed.starts_with('[') {
            let parsed: Vec<serde_json::Value> = serde_json::from_str(trimmed)
                .map_err(|_| Self::error(name, &value, "expected a JSON list"))?;
            parsed
                .into_iter()
                .map(|item| match item {
                    serde_json::Value::String(text) => text,
                    other => other.to_string(),
                })
                .collect()
        } else {
            trimmed
                .split(',')
                .map(|item| item.trim().to_owned())
                .filter(|item| !item.is_empty())
                .collect()
        };
        items
            .iter()
            .map(|item| {
                parse_item(item)
                    .ok_or_else(|| Self::error(name, &value, &format!("bad list item {item:?}")))
            })
            .collect::<Result<Vec<T>, _>>()
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Settings, SettingError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_python_sdk() {
        let settings = from(&[]).unwrap();
        assert_eq!(settings.base_url, DEFAULT_BASE_URL);
        assert_eq!(settings.auth_url, DEFAULT_AUTH_URL);
        assert_eq!(settings.scope, "GIGACHAT_API_PERS");
        assert_eq!(settings.timeout, Duration::from_secs(30));
        assert!(settings.verify_ssl_certs);
        assert_eq!(settings.max_retries, 0);
        assert_eq!(settings.retry_backoff_factor, 0.5);
        assert_eq!(settings.retry_on_status_codes, [429, 500, 502, 503, 504]);
        assert_eq!(settings.token_expiry_buffer, Duration::from_secs(60));
        assert_eq!(settings.default_model(), "GigaChat-2");
        assert_eq!(settings.cached_prompt_tokens, CachedPromptTokens::Excluded);
        assert_eq!(settings.api_version, Contract::V1);
        assert!(!settings.has_auth());
    }

    #[test]
    fn the_default_host_is_the_sdks_new_one() {
        // SDK 0.2.3 `settings.py` BASE_URL: no `/api` prefix.
        assert_eq!(from(&[]).unwrap().base_url, "https://api.giga.chat/v1");
    }

    #[test]
    fn older_model_names_stay_usable() {
        for model in ["GigaChat", "GigaChat-Pro", "GigaChat-Max"] {
            let settings = from(&[("GIGACHAT_MODEL", model)]).unwrap();
            assert_eq!(settings.default_model(), model);
        }
    }

    #[test]
    fn cached_prompt_tokens_setting() {
        for (value, expected) in [
            ("true", CachedPromptTokens::Included),
            ("false", CachedPromptTokens::Excluded),
        ] {
            let settings = from(&[("GIGACHAT_PROMPT_TOKENS_INCLUDE_CACHED", value)]).unwrap();
            assert_eq!(settings.cached_prompt_tokens, expected);
        }
        let err = from(&[("GIGACHAT_PROMPT_TOKENS_INCLUDE_CACHED", "sometimes")]).unwrap_err();
        assert_eq!(err.variable, "GIGACHAT_PROMPT_TOKENS_INCLUDE_CACHED");
    }

    #[test]
    fn api_version_setting() {
        for (value, expected) in [("1", Contract::V1), (" 2 ", Contract::V2)] {
            let settings = from(&[("GIGACHAT_API_VERSION", value)]).unwrap();
            assert_eq!(settings.api_version, expected, "{value}");
        }
        for value in ["3", "v2", "2.0", "two"] {
            let err = from(&[("GIGACHAT_API_VERSION", value)]).unwrap_err();
            assert_eq!(err.variable, "GIGACHAT_API_VERSION", "{value}");
            assert!(err.to_string().contains("expected 1"), "{err}");
        }
    }

    #[test]
    fn scopes_outside_the_three_known_ones_are_refused() {
        for scope in ["FOO", "gigachat_api_pers", "GIGACHAT_API"] {
            let err = from(&[("GIGACHAT_SCOPE", scope)]).unwrap_err();
            assert_eq!(err.variable, "GIGACHAT_SCOPE", "{scope}");
            assert!(err.to_string().contains(scope), "{err}");
        }
        for scope in SCOPES {
            assert_eq!(from(&[("GIGACHAT_SCOPE", scope)]).unwrap().scope, scope);
        }
    }

    #[test]
    fn password_auth_needs_a_host_with_a_token_endpoint() {
        let password = [("GIGACHAT_USER", "u"), ("GIGACHAT_PASSWORD", "p")];
        for base in [
            None,
            Some("https://API.giga.chat/v1/"),
            Some("https://api.giga.chat./v1"),
        ] {
            let mut pairs = password.to_vec();
            pairs.extend(base.map(|url| ("GIGACHAT_BASE_URL", url)));
            let err = from(&pairs).unwrap_err();
            assert_eq!(err.variable, "GIGACHAT_BASE_URL", "{base:?}");
            assert!(err.reason.contains("/token"), "{err}");
        }
        // Also with a pre-issued token: user/password would still be used to refresh it.
        let mut with_token = password.to_vec();
        with_token.push(("GIGACHAT_ACCESS_TOKEN", "t"));
        assert_eq!(from(&with_token).unwrap_err().variable, "GIGACHAT_BASE_URL");
        // Hosts with `/token`, or an authorization key (it wins over user/password), start.
        let mut legacy = password.to_vec();
        legacy.push(("GIGACHAT_BASE_URL", LEGACY_BASE_URL));
        assert!(from(&legacy).is_ok());
        let mut stand = password.to_vec();
        stand.push((
            "GIGACHAT_BASE_URL",
            "https://gigachat.ift.sberdevices.ru/v1",
        ));
        assert!(from(&stand).is_ok());
        let mut with_key = password.to_vec();
        with_key.push(("GIGACHAT_CREDENTIALS", "a2V5OnNlY3JldA=="));
        assert!(from(&with_key).is_ok());
    }

    #[test]
    fn every_variable_is_read() {
        let settings = from(&[
            ("GIGACHAT_BASE_URL", "https://example.test/api/v1/"),
            ("GIGACHAT_AUTH_URL", "https://auth.test:9443/api/v2/oauth"),
            ("GIGACHAT_CREDENTIALS", "a2V5OnNlY3JldA=="),
            ("GIGACHAT_SCOPE", "GIGACHAT_API_CORP"),
            ("GIGACHAT_ACCESS_TOKEN", "tok"),
            ("GIGACHAT_MODEL", "GigaChat-2-Max"),
            ("GIGACHAT_PROFANITY_CHECK", "False"),
            ("GIGACHAT_USER", "u"),
            ("GIGACHAT_PASSWORD", "p"),
            ("GIGACHAT_TIMEOUT", "12.5"),
            ("GIGACHAT_CONNECT_TIMEOUT", "2"),
            ("GIGACHAT_STREAM_IDLE_TIMEOUT", "90"),
            ("GIGACHAT_VERIFY_SSL_CERTS", "0"),
            ("GIGACHAT_CA_BUNDLE_FILE", "/ca.pem"),
            ("GIGACHAT_CERT_FILE", "/c.pem"),
            ("GIGACHAT_KEY_FILE", "/k.pem"),
            ("GIGACHAT_KEY_FILE_PASSWORD", "pw"),
            ("GIGACHAT_FLAGS", r#"["a","b"]"#),
            ("GIGACHAT_MAX_CONNECTIONS", "8"),
            ("GIGACHAT_MAX_RETRIES", "3"),
            ("GIGACHAT_RETRY_BACKOFF_FACTOR", "0.1"),
            ("GIGACHAT_RETRY_ON_STATUS_CODES", "[429, 503]"),
            ("GIGACHAT_TOKEN_EXPIRY_BUFFER_MS", "5000"),
            ("GIGACHAT_VERBOSE", "yes"),
            ("GIGACHAT_PROMPT_TOKENS_INCLUDE_CACHED", "true"),
            ("GIGACHAT_API_VERSION", "2"),
        ])
        .unwrap();
        assert_eq!(settings.base_url, "https://example.test/api/v1");
        assert_eq!(settings.auth_url, "https://auth.test:9443/api/v2/oauth");
        assert_eq!(
            settings.credentials.as_ref().unwrap().expose_secret(),
            "a2V5OnNlY3JldA=="
        );
        assert_eq!(settings.scope, "GIGACHAT_API_CORP");
        assert_eq!(
            settings.access_token.as_ref().unwrap().expose_secret(),
            "tok"
        );
        assert_eq!(settings.default_model(), "GigaChat-2-Max");
        assert_eq!(settings.profanity_check, Some(false));
        assert_eq!(settings.user.as_deref(), Some("u"));
        assert_eq!(settings.timeout, Duration::from_millis(12_500));
        assert_eq!(settings.connect_timeout, Duration::from_secs(2));
        assert_eq!(settings.stream_idle_timeout, Duration::from_secs(90));
        assert!(!settings.verify_ssl_certs);
        assert_eq!(settings.ca_bundle_file, Some(PathBuf::from("/ca.pem")));
        assert_eq!(settings.cert_file, Some(PathBuf::from("/c.pem")));
        assert_eq!(settings.key_file, Some(PathBuf::from("/k.pem")));
        assert!(settings.key_file_password.is_some());
        assert_eq!(settings.flags, Some(vec!["a".into(), "b".into()]));
        assert_eq!(settings.max_connections, Some(8));
        assert_eq!(settings.cached_prompt_tokens, CachedPromptTokens::Included);
        assert_eq!(settings.max_retries, 3);
        assert_eq!(settings.retry_backoff_factor, 0.1);
        assert_eq!(settings.retry_on_status_codes, [429, 503]);
        assert_eq!(settings.token_expiry_buffer, Duration::from_secs(5));
        assert!(settings.verbose);
        assert_eq!(settings.api_version, Contract::V2);
    }

    #[test]
    fn comma_lists_and_timeout_fallbacks() {
        let settings = from(&[
            ("GIGACHAT_RETRY_ON_STATUS_CODES", "500, 502"),
            ("GIGACHAT_TIMEOUT", "7"),
        ])
        .unwrap();
        assert_eq!(settings.retry_on_status_codes, [500, 502]);
        assert_eq!(settings.connect_timeout, Duration::from_secs(7));
        assert_eq!(settings.stream_idle_timeout, Duration::from_secs(7));
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (name, value) in [
            ("GIGACHAT_TIMEOUT", "soon"),
            ("GIGACHAT_TIMEOUT", "0"),
            ("GIGACHAT_VERIFY_SSL_CERTS", "maybe"),
            ("GIGACHAT_MAX_RETRIES", "-1"),
            ("GIGACHAT_MAX_CONNECTIONS", "0"),
            ("GIGACHAT_RETRY_ON_STATUS_CODES", "[429, \"x\"]"),
            ("GIGACHAT_RETRY_ON_STATUS_CODES", "[1000]"),
            ("GIGACHAT_FLAGS", "[oops"),
            ("GIGACHAT_BASE_URL", "ftp://x"),
            ("GIGACHAT_RETRY_BACKOFF_FACTOR", "NaN"),
            ("GIGACHAT_TOKEN_EXPIRY_BUFFER_MS", "1.5"),
        ] {
            let err = from(&[(name, value)]).unwrap_err();
            assert_eq!(err.variable, name, "{value}");
            assert!(err.to_string().contains(name));
        }
        assert_eq!(
            from(&[("GIGACHAT_USER", "u")]).unwrap_err().variable,
            "GIGACHAT_PASSWORD"
        );
        assert_eq!(
            from(&[("GIGACHAT_KEY_FILE", "k")]).unwrap_err().variable,
            "GIGACHAT_CERT_FILE"
        );
        assert_eq!(
            from(&[("GIGACHAT_SSL_CONTEXT", "x")]).unwrap_err().variable,
            "GIGACHAT_SSL_CONTEXT"
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let settings = from(&[
            ("GIGACHAT_CREDENTIALS", "super-secret-key"),
            ("GIGACHAT_USER", "u"),
            ("GIGACHAT_PASSWORD", "hunter2"),
            ("GIGACHAT_ACCESS_TOKEN", "token-value"),
        ])
        .unwrap();
        let debug = format!("{settings:?}");
        for secret in ["super-secret-key", "hunter2", "token-value"] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }
}
