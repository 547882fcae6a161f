//! Access tokens: fetching them (OAuth key, user/password, pre-issued) and caching them so that
//! any number of concurrent callers that find the token stale cause exactly one token request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use tracing::Instrument as _;
use uuid::Uuid;

use crate::error::{ApiError, Error};
use crate::settings::Settings;
use crate::transport::Transport;
use crate::types::TokenResponse;

/// Timestamps below this are seconds, at or above it milliseconds.
const MILLIS_THRESHOLD: i64 = 1_000_000_000_000;

/// Converts an `expires_at`/`exp` value to Unix milliseconds, reading values below 10^12 as seconds.
/// Zero keeps its SDK meaning: never expires.
pub fn expiry_millis(value: i64) -> i64 {
    if value != 0 && value < MILLIS_THRESHOLD {
        value.saturating_mul(1000)
    } else {
        value
    }
}

/// A bearer token and when it stops being valid.
pub struct Token {
    /// `Bearer <token>`, built once and shared by every call; `None` when the token cannot be
    /// sent in a header.
    authorization: Option<HeaderValue>,
    /// Unix milliseconds; `None` never expires.
    expires_at_ms: Option<i64>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("value", &"[REDACTED]")
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

impl Token {
    fn new(value: SecretString, expires_at: i64) -> Self {
        let expires_at_ms = match expiry_millis(expires_at) {
            0 => None,
            ms => Some(ms),
        };
        let header = Bytes::from(format!("Bearer {}", value.expose_secret()));
        Self {
            authorization: HeaderValue::from_maybe_shared(header).ok(),
            expires_at_ms,
        }
    }

    /// The `Authorization` header value.
    pub(crate) fn bearer(&self) -> Result<HeaderValue, Error> {
        self.authorization.clone().ok_or_else(|| {
            Error::Config("the access token is not a valid HTTP header value".into())
        })
    }

    fn usable_at(&self, now_ms: i64, buffer: Duration) -> bool {
        let buffer_ms = i64::try_from(buffer.as_millis()).unwrap_or(i64::MAX);
        self.expires_at_ms
            .is_none_or(|expires| expires > now_ms.saturating_add(buffer_ms))
    }
}

/// Wall-clock milliseconds that advance with `tokio::time`, so tests can pause and skip time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    anchor_ms: i64,
    anchor: tokio::time::Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        let anchor_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Self {
            anchor_ms,
            anchor: tokio::time::Instant::now(),
        }
    }

    pub(crate) fn now_ms(&self) -> i64 {
        let elapsed = i64::try_from(self.anchor.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.anchor_ms.saturating_add(elapsed)
    }
}

/// How a new token is obtained.
enum Issuer {
    /// `POST {auth_url}` with the authorization key and scope.
    OAuth {
        url: String,
        credentials: SecretString,
        scope: String,
    },
    /// `POST {base_url}/token` with HTTP Basic user/password.
    Password {
        url: String,
        user: String,
        password: SecretString,
    },
}

/// How many token fetches have finished since the client was made, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenRefreshes {
    /// Fetches that brought a token.
    pub ok: u64,
    /// Fetches that failed (refused, unreachable, timed out, garbled).
    pub failed: u64,
}

#[derive(Default)]
struct RefreshState {
    last_error: Option<Error>,
}

/// The token cache shared by every call of a client.
pub(crate) struct Auth {
    issuer: Option<Issuer>,
    current: RwLock<Option<Arc<Token>>>,
    refresh: tokio::sync::Mutex<RefreshState>,
    /// Counts finished refresh attempts; lets waiters see that a refresh happened while they queued.
    generation: AtomicU64,
    /// Fetches that brought a token, and those that failed.
    refreshed: AtomicU64,
    refresh_failed: AtomicU64,
    buffer: Duration,
    timeout: Duration,
    clock: Clock,
}

impl Auth {
    /// Builds the cache from the settings, in the SDK's priority: a pre-issued token first,
    /// then the authorization key, then user/password for refreshes.
    pub(crate) fn new(settings: &Settings) -> Self {
        let issuer = if let Some(credentials) = &settings.credentials {
            Some(Issuer::OAuth {
                url: settings.auth_url.clone(),
                credentials: credentials.clone(),
                scope: settings.scope.clone(),
            })
        } else if let (Some(user), Some(password)) = (&settings.user, &settings.password) {
            Some(Issuer::Password {
                url: format!("{}/token", settings.base_url),
                user: user.clone(),
                password: password.clone(),
            })
        } else {
            None
        };
        let current = settings
            .access_token
            .as_ref()
            .map(|token| Arc::new(Token::new(token.clone(), 0)));
        Self {
            issuer,
            current: RwLock::new(current),
            refresh: tokio::sync::Mutex::new(RefreshState::default()),
            generation: AtomicU64::new(0),
            refreshed: AtomicU64::new(0),
            refresh_failed: AtomicU64::new(0),
            buffer: settings.token_expiry_buffer,
            timeout: settings.timeout,
            clock: Clock::new(),
        }
    }

    /// Whether calls carry a bearer token at all (mTLS alone needs none).
    pub(crate) fn is_configured(&self) -> bool {
        self.issuer.is_some() || self.cached().is_some()
    }

    /// Whether a rejected token can be replaced by a fresh one.
    pub(crate) fn can_refresh(&self) -> bool {
        self.issuer.is_some()
    }

    fn cached(&self) -> Option<Arc<Token>> {
        self.current.read().ok().and_then(|guard| guard.clone())
    }

    fn usable(&self) -> Option<Arc<Token>> {
        self.cached()
            .filter(|token| token.usable_at(self.clock.now_ms(), self.buffer))
    }

    /// A token valid for at least the expiry buffer, fetching one if needed (once for all concurrent callers).
    pub(crate) async fn token(&self, transport: &Transport) -> Result<Arc<Token>, Error> {
        if let Some(token) = self.usable() {
            return Ok(token);
        }
        let Some(issuer) = &self.issuer else {
            return Err(self.cached().map_or(Error::NoCredentials, |_| {
                Error::Config("the configured GIGACHAT_ACCESS_TOKEN has expired".into())
            }));
        };
        let seen_generation = self.generation.load(Ordering::Acquire);
        let mut state = self.refresh.lock().await;
        if let Some(token) = self.usable() {
            return Ok(token);
        }
        // A refresh failed while this caller waited: share its outcome instead of hammering the endpoint.
        if self.generation.load(Ordering::Acquire) != seen_generation
            && let Some(err) = &state.last_error
        {
            return Err(err.clone());
        }
        let span = if crate::client::spans_recorded() {
            tracing::debug_span!(
                "gigachat token",
                otel.name = "gigachat token",
                otel.kind = "client",
                otel.status_code = tracing::field::Empty,
                error.type = tracing::field::Empty,
            )
        } else {
            tracing::Span::none()
        };
        let result = tokio::time::timeout(self.timeout, fetch(issuer, transport, self.timeout))
            .instrument(span.clone())
            .await
            .unwrap_or(Err(Error::Timeout(self.timeout)));
        self.generation.fetch_add(1, Ordering::AcqRel);
        match &result {
            Ok(_) => self.refreshed.fetch_add(1, Ordering::Relaxed),
            Err(err) => {
                crate::client::record_failure(&span, err);
                self.refresh_failed.fetch_add(1, Ordering::Relaxed)
            }
        };
        match result {
            Ok(token) => {
                let token = Arc::new(token);
                if let Ok(mut current) = self.current.write() {
                    *current = Some(token.clone());
                }
                state.last_error = None;
                Ok(token)
            }
            Err(err) => {
                state.last_error = Some(err.clone());
                Err(err)
            }
        }
    }

    /// The token fetches finished so far.
    pub(crate) fn refreshes(&self) -> TokenRefreshes {
        TokenRefreshes {
            ok: self.refreshed.load(Ordering::Relaxed),
            failed: self.refresh_failed.load(Ordering::Relaxed),
        }
    }

    /// Drops `rejected` (the API answered 401 to it) unless another caller already replaced it.
    pub(crate) fn invalidate(&self, rejected: &Arc<Token>) {
        if let Ok(mut current) = self.current.write()
            && current.as_ref().is_some_and(|t| Arc::ptr_eq(t, rejected))
        {
            *current = None;
        }
    }
}

/// One token request; OAuth goes through the OAuth client (no client certificate), `/token` through the API client.
async fn fetch(issuer: &Issuer, transport: &Transport, timeout: Duration) -> Result<Token, Error> {
    let request = match issuer {
        Issuer::OAuth {
            url,
            credentials,
            scope,
        } => transport
            .oauth
            .post(url)
            .header(
                reqwest::header::AUTHORIZATION,
                format!("Basic {}", credentials.expose_secret()),
            )
            .header("RqUID", Uuid::new_v4().to_string())
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[("scope", scope.as_str())]),
        Issuer::Password {
            url,
            user,
            password,
        } => transport
            .api()?
            .post(url)
            .basic_auth(user, Some(password.expose_secret()))
            .header(reqwest::header::CONTENT_LENGTH, "0"),
    };
    let response = request
        .send()
        .await
        .map_err(|err| Error::transport(err, timeout))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|err| Error::transport(err, timeout))?;
    if !status.is_success() {
        return Err(Error::Auth(ApiError::from_parts(
            status.as_u16(),
            &headers,
            &body,
        )));
    }
    let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|err| {
        Error::Protocol(format!("token endpoint answered unreadable JSON: {err}"))
    })?;
    tracing::debug!(
        expires_at = parsed.expires_at,
        "obtained a GigaChat access token"
    );
    Ok(Token::new(
        SecretString::from(parsed.access_token),
        parsed.expires_at,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_units() {
        assert_eq!(expiry_millis(1_706_026_848_841), 1_706_026_848_841);
        assert_eq!(expiry_millis(1_695_128_118), 1_695_128_118_000);
        assert_eq!(expiry_millis(4_102_444_800), 4_102_444_800_000);
        assert_eq!(expiry_millis(0), 0);
        assert_eq!(expiry_millis(999_999_999_999), 999_999_999_999_000);
        assert_eq!(expiry_millis(1_000_000_000_000), 1_000_000_000_000);
    }

    #[test]
    fn usability_honours_the_buffer() {
        let token = Token::new(SecretString::from("t"), 10_000_000_000_000);
        let buffer = Duration::from_secs(60);
        assert!(token.usable_at(10_000_000_000_000 - 60_001, buffer));
        assert!(!token.usable_at(10_000_000_000_000 - 60_000, buffer));
        let forever = Token::new(SecretString::from("t"), 0);
        assert!(forever.usable_at(i64::MAX - 1, buffer));
    }

    #[test]
    fn debug_hides_the_token() {
        let token = Token::new(SecretString::from("very-secret"), 0);
        assert!(!format!("{token:?}").contains("very-secret"));
    }

    #[tokio::test(start_paused = true)]
    async fn clock_follows_paused_time() {
        let clock = Clock::new();
        let before = clock.now_ms();
        tokio::time::advance(Duration::from_secs(1800)).await;
        assert_eq!(clock.now_ms() - before, 1_800_000);
    }
}
