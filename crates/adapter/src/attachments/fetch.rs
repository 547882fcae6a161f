//! Fetching client-supplied http(s) URLs safely: address policy, redirects, size and time caps.
//!
//! Every address a host name resolves to passes through [`AddressPolicy`] inside the client's own
//! DNS resolver, so the connection goes to exactly the addresses that were checked (no
//! DNS-rebinding gap). IP-literal hosts never reach a resolver, so they are checked here before
//! each request, and redirects are followed by hand so that every hop is checked the same way.
//! The body is streamed under a byte cap, the whole fetch runs under one deadline, and the media
//! type is sniffed from the bytes, never taken from the server's headers.

use std::error::Error as StdError;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{ACCEPT, HeaderValue, LOCATION};
use reqwest::{StatusCode, redirect};
use url::{Host, Url};

use super::ssrf::AddressPolicy;

/// The `User-Agent` sent with every fetch.
const USER_AGENT: &str = concat!("gigachat-adapter/", env!("CARGO_PKG_VERSION"));

/// The most memory reserved up front from a declared `Content-Length`.
const MAX_INITIAL_CAPACITY: usize = 1024 * 1024;

/// Settings of the URL fetcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchConfig {
    /// The largest body accepted, in bytes; enforced while streaming.
    pub max_bytes: usize,
    /// The deadline for the whole fetch, redirects and body included.
    pub timeout: Duration,
    /// The deadline for establishing each TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// How many redirects are followed before giving up.
    pub max_redirects: usize,
    /// Otherwise refused networks (private, loopback, …) that may be fetched from.
    pub allowed_networks: Vec<ipnet::IpNet>,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            max_bytes: 20 * 1024 * 1024,
            timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(5),
            max_redirects: 5,
            allowed_networks: Vec::new(),
        }
    }
}

/// What a successful fetch produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The body.
    pub bytes: Bytes,
    /// The media type sniffed from the bytes (never from headers); `None` when unrecognised.
    pub mime: Option<String>,
}

/// Why a URL could not be fetched; every message is safe to show to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The URL's scheme is neither http nor https.
    #[error("only http and https URLs can be fetched")]
    UnsupportedScheme,
    /// The URL is not an absolute URL with a host.
    #[error("the URL is not a valid absolute http(s) URL")]
    InvalidUrl,
    /// A redirect pointed to something that is not a URL.
    #[error("the URL redirected to an invalid location")]
    InvalidRedirect,
    /// The host is, or resolves only to, addresses that may not be fetched from.
    #[error("fetching from `{host}` is not allowed: it is not a public internet address")]
    ForbiddenAddress {
        /// The host as written in the URL (or redirect) that was refused.
        host: String,
    },
    /// The body is larger than the configured cap.
    #[error("the file is larger than the {limit}-byte limit")]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// More redirects than the configured maximum.
    #[error("the URL redirected too many times")]
    TooManyRedirects,
    /// The fetch did not finish in time.
    #[error("fetching the URL timed out")]
    Timeout,
    /// The server answered with a non-success status.
    #[error("the server answered with HTTP status {0}")]
    Status(u16),
    /// The host could not be resolved or reached, or the transfer broke off.
    #[error("could not fetch the URL: {0}")]
    Network(String),
    /// The HTTP client could not be built (a configuration problem, not the client's fault).
    #[error("the URL fetcher could not be set up: {0}")]
    Setup(String),
}

/// Why the guarded resolver produced no address; carried through reqwest's error chain.
#[derive(Debug, thiserror::Error)]
enum ResolveError {
    /// Every address of the host is refused by the policy.
    #[error("`{host}` resolves only to addresses that may not be fetched from")]
    Refused {
        /// The host name that was looked up.
        host: String,
    },
    /// The lookup itself failed or produced nothing.
    #[error("`{host}` could not be resolved")]
    Failed {
        /// The host name that was looked up.
        host: String,
    },
}

/// A DNS resolver that hands reqwest only the addresses the policy permits.
#[derive(Debug, Clone)]
struct GuardedResolver {
    /// The address policy.
    policy: Arc<AddressPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // A failed lookup and an empty answer are the same to the client.
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map(|addrs| addrs.collect())
                .unwrap_or_default();
            if resolved.is_empty() {
                return Err(ResolveError::Failed { host }.into());
            }
            // Only checked addresses are returned, so only they can be connected to.
            let permitted: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| policy.permits(addr.ip()))
                .collect();
            if permitted.is_empty() {
                return Err(ResolveError::Refused { host }.into());
            }
            let addrs: Addrs = Box::new(permitted.into_iter());
            Ok(addrs)
        })
    }
}

/// Fetches client-supplied http(s) URLs under the address policy; cheap to clone.
#[derive(Debug, Clone)]
pub struct Fetcher {
    /// The HTTP client: guarded resolver, no redirects, no proxies, no cookies.
    client: reqwest::Client,
    /// The address policy, shared with the resolver.
    policy: Arc<AddressPolicy>,
    /// The body cap, in bytes.
    max_bytes: usize,
    /// The whole-fetch deadline.
    timeout: Duration,
    /// The redirect cap.
    max_redirects: usize,
}

impl Fetcher {
    /// Builds a fetcher; fails only if the HTTP client cannot be set up.
    pub fn new(config: FetchConfig) -> Result<Self, FetchError> {
        let policy = Arc::new(AddressPolicy::new(config.allowed_networks));
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            // Hops are followed by hand so each one is checked.
            .redirect(redirect::Policy::none())
            // A proxy would resolve names itself, out of the resolver's reach.
            .no_proxy()
            .dns_resolver(GuardedResolver {
                policy: Arc::clone(&policy),
            })
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .referer(false)
            .build()
            .map_err(|err| FetchError::Setup(describe_setup_error(&err)))?;
        Ok(Self {
            client,
            policy,
            max_bytes: config.max_bytes,
            timeout: config.timeout,
            max_redirects: config.max_redirects,
        })
    }

    /// Fetches `url` (http or https), following at most the configured number of redirects.
    pub async fn fetch(&self, url: &str) -> Result<Fetched, FetchError> {
        let url = Url::parse(url.trim()).map_err(|_| FetchError::InvalidUrl)?;
        match tokio::time::timeout(self.timeout, self.fetch_url(url)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout),
        }
    }

    /// Follows redirects from `url` by hand and downloads the final body.
    async fn fetch_url(&self, mut url: Url) -> Result<Fetched, FetchError> {
        let mut redirects = 0usize;
        loop {
            self.check_target(&url)?;
            let response = self
                .client
                .get(url.clone())
                .header(ACCEPT, HeaderValue::from_static("image/*,*/*;q=0.8"))
                .send()
                .await
                .map_err(map_reqwest_error)?;
            let status = response.status();
            if is_followed_redirect(status) {
                let Some(location) = response.headers().get(LOCATION) else {
                    return Err(FetchError::Status(status.as_u16()));
                };
                if redirects >= self.max_redirects {
                    return Err(FetchError::TooManyRedirects);
                }
                let location = location.to_str().map_err(|_| FetchError::InvalidRedirect)?;
                url = url
                    .join(location.trim())
                    .map_err(|_| FetchError::InvalidRedirect)?;
                redirects += 1;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status(status.as_u16()));
            }
            let bytes = read_capped(response, self.max_bytes).await?;
            let mime = infer::get(&bytes).map(|kind| kind.mime_type().to_owned());
            return Ok(Fetched { bytes, mime });
        }
    }

    /// Checks the scheme and, for an IP-literal host (which no resolver sees), the address.
    fn check_target(&self, url: &Url) -> Result<(), FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::UnsupportedScheme);
        }
        let ip = match url.host() {
            None => return Err(FetchError::InvalidUrl),
            Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
            // `url` already turns every IPv4 spelling into `Host::Ipv4`; this is a backstop.
            Some(Host::Domain(name)) => match name.parse::<IpAddr>() {
                Ok(ip) => ip,
                Err(_) => return Ok(()),
            },
        };
        if self.policy.permits(ip) {
            Ok(())
        } else {
            Err(FetchError::ForbiddenAddress {
                host: url.host_str().unwrap_or_default().to_owned(),
            })
        }
    }
}

/// Whether `status` is a redirect that is followed (given a `Location`).
fn is_followed_redirect(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    )
}

/// Streams the body of `response`, refusing it as soon as it exceeds `limit` bytes.
async fn read_capped(mut response: reqwest::Response, limit: usize) -> Result<Bytes, FetchError> {
    let declared = response.content_length();
    if declared.is_some_and(|len| len > u64::try_from(limit).unwrap_or(u64::MAX)) {
        return Err(FetchError::TooLarge { limit });
    }
    let initial = declared
        .map_or(0, |len| usize::try_from(len).unwrap_or(usize::MAX))
        .min(limit)
        .min(MAX_INITIAL_CAPACITY);
    let mut body = BytesMut::with_capacity(initial);
    while let Some(chunk) = response.chunk().await.map_err(map_reqwest_error)? {
        if chunk.len() > limit.saturating_sub(body.len()) {
            return Err(FetchError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Finds an error of type `T` anywhere in `err`'s source chain.
fn find_source<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        current = err.source();
    }
    None
}

/// Turns a reqwest error into a client-safe [`FetchError`] (details go to the debug log only).
fn map_reqwest_error(err: reqwest::Error) -> FetchError {
    tracing::debug!(error = %err, source = ?err.source(), "URL fetch failed");
    if let Some(resolve) = find_source::<ResolveError>(&err) {
        return match resolve {
            ResolveError::Refused { host } => FetchError::ForbiddenAddress { host: host.clone() },
            ResolveError::Failed { .. } => {
                FetchError::Network("the host name could not be resolved".to_owned())
            }
        };
    }
    if err.is_timeout() {
        return FetchError::Timeout;
    }
    let what = if err.is_connect() {
        "could not connect to the host"
    } else if err.is_body() || err.is_decode() {
        "the connection broke off while the body was being downloaded"
    } else {
        "the request failed"
    };
    FetchError::Network(what.to_owned())
}

/// A short description of why the client could not be built.
fn describe_setup_error(err: &reqwest::Error) -> String {
    tracing::error!(error = %err, source = ?err.source(), "building the URL fetch client failed");
    err.to_string()
}
