//! The HTTP clients for GigaChat's two hosts (API and OAuth), all sharing one TLS policy
//! ([`crate::tls`]): pooled reqwest clients with HTTP/2 by ALPN and HTTP/1.1 fallback, plus the
//! direct HTTP/2 lane ([`crate::lane`]) that carries the API calls it can.
//!
//! The API clients are built once per thread that calls GigaChat, each with its own connections:
//! a connection's I/O task then runs on the thread whose requests use it, so a call does not hop
//! between threads (on a thread-per-core server, every wake-up of the other thread costs an
//! inter-processor interrupt).

use std::sync::Arc;

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::HeaderMap;
use thread_local::ThreadLocal;

use crate::client::Base;
use crate::error::Error;
use crate::lane::{Endpoint, Lane, Refused};
use crate::lane_h1;
use crate::settings::Settings;
use crate::tls;

/// Idle connections are dropped before the upstream's 15 s keep-alive closes them under us.
const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Sent as `User-Agent` on every call.
const USER_AGENT: &str = concat!("gigachat-rs/", env!("CARGO_PKG_VERSION"));

/// The HTTP clients a GigaChat client needs.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    /// Talks to the API host (and `/token`); presents the client certificate when configured.
    api: Arc<ApiClients>,
    /// Talks to the OAuth host; never presents a client certificate.
    pub(crate) oauth: reqwest::Client,
}

/// One API client (and one lane) per calling thread, all built alike.
struct ApiClients {
    settings: Settings,
    tls: Arc<rustls::ClientConfig>,
    per_thread: ThreadLocal<reqwest::Client>,
    /// Where the lane connects; `None` when it cannot serve this API host.
    endpoint: Option<Endpoint>,
    lanes: ThreadLocal<Lane>,
    /// Where the HTTP/1.1 lane connects; `None` unless the API host is a plain-`http` one it serves.
    plain: Option<lane_h1::Endpoint>,
    plain_lanes: ThreadLocal<lane_h1::Lane>,
}

impl std::fmt::Debug for ApiClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClients")
            .field("endpoint", &self.endpoint)
            .field("plain", &self.plain)
            .finish_non_exhaustive()
    }
}

impl ApiClients {
    fn build(&self) -> Result<reqwest::Client, Error> {
        builder(&self.settings, self.tls.clone())
            .build()
            .map_err(|err| Error::Config(format!("cannot build the API HTTP client: {err}")))
    }
}

impl Transport {
    pub(crate) fn new(settings: &Settings) -> Result<Self, Error> {
        let tls = tls::Configs::new(settings)?;
        let oauth = builder(settings, tls.oauth)
            .build()
            .map_err(|err| Error::Config(format!("cannot build the OAuth HTTP client: {err}")))?;
        let api = ApiClients {
            settings: settings.clone(),
            endpoint: Endpoint::for_base_url(
                &settings.base_url,
                tls.api.clone(),
                settings.connect_timeout,
                IDLE_TIMEOUT,
                USER_AGENT,
                crate::lane::proxy_configured("https"),
            ),
            plain: lane_h1::Endpoint::for_base_url(
                &settings.base_url,
                settings.connect_timeout,
                IDLE_TIMEOUT,
                settings.max_connections.unwrap_or(usize::MAX),
                USER_AGENT,
                crate::lane::proxy_configured("http"),
            ),
            tls: tls.api,
            per_thread: ThreadLocal::new(),
            lanes: ThreadLocal::new(),
            plain_lanes: ThreadLocal::new(),
        };
        // Build this thread's client now, so a bad setting fails at start, not on the first call.
        api.per_thread.get_or_try(|| api.build())?;
        Ok(Self {
            api: Arc::new(api),
            oauth,
        })
    }

    /// The API client of the calling thread.
    pub(crate) fn api(&self) -> Result<&reqwest::Client, Error> {
        self.api.per_thread.get_or_try(|| self.api.build())
    }

    /// Sends a call with a complete body over the calling thread's direct lane to the API host
    /// (HTTP/2 to an `https` host, HTTP/1.1 to a plain-`http` one); `None` when no lane serves
    /// the host, and the call goes through reqwest.
    pub(crate) async fn send_direct(
        &self,
        method: &Method,
        base: Base,
        path: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Option<Result<reqwest::Response, Error>> {
        let sent = if let Some(endpoint) = &self.api.endpoint {
            let lane = self.api.lanes.get_or_default();
            lane.send(endpoint, method, base, path, headers, body).await
        } else {
            let endpoint = self.api.plain.as_ref()?;
            let lane = self.api.plain_lanes.get_or(|| lane_h1::Lane::new(endpoint));
            lane.send(endpoint, method, base, path, headers, body).await
        };
        match sent {
            Ok(response) => Some(Ok(response)),
            Err(Refused::Failed(err)) => Some(Err(err)),
            Err(Refused::Unsupported) => None,
        }
    }
}

fn builder(settings: &Settings, tls: Arc<rustls::ClientConfig>) -> reqwest::ClientBuilder {
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(Arc::unwrap_or_clone(tls))
        .connect_timeout(settings.connect_timeout)
        .pool_idle_timeout(IDLE_TIMEOUT)
        .tcp_nodelay(true)
        // hyper's fixed HTTP/2 windows (2 MiB a stream, 5 MiB a connection) cover GigaChat's
        // answers; an adaptive window would add a PING round trip to every answer.
        .user_agent(USER_AGENT);
    if let Some(max) = settings.max_connections {
        builder = builder.pool_max_idle_per_host(max);
    }
    builder
}
