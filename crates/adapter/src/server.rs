//! The router (routes, auth, CORS, body limit, fallbacks) and the accept loop, with the connection
//! limit and graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::access::{self, CountedBody, Exchange};
use crate::connection::{ConnectionLimits, Connections, EarlyAnswer, Phase};
use crate::error::AppError;
use crate::error::Label;
use crate::metrics::Metrics;
use crate::routes::{
    admin, chat, completions, docs, embeddings, files, health, images, messages, models, responses,
    stored_responses, tokens,
};
use crate::state::AppState;
use crate::{auth, context};

/// Every route, served both under `/v1` and at the root (clients disagree on which they use),
/// behind CORS, the body limit and [`gate`]; `access_log` (`ACCESS_LOG`) makes each request end
/// with an access log line; every request is counted in `metrics`, served at `/metrics` (behind a
/// client key like the API); `limiter` holds limited keys to their limits (inside the gate, so its
/// refusals are in the caller's envelope).
///
/// The middleware wraps the routed app once instead of every route (what `Router::layer` does):
/// a request then clones and boxes one middleware stack rather than one per layer and route, which
/// took about a third of the adapter's allocations per chat call.
pub fn router(
    state: AppState,
    cors_origins: &[String],
    max_request_bytes: usize,
    access_log: bool,
    metrics: Arc<Metrics>,
    limiter: Arc<crate::limits::Limiter>,
) -> Router {
    let routes = ["/v1", ""]
        .into_iter()
        .fold(Router::new(), |routes, prefix| routes.merge(api(prefix)))
        .route("/", get(health::root))
        .route("/health/live", get(health::live))
        .route("/health/liveness", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/health/readiness", get(health::ready))
        .route("/metrics", metrics_route(metrics.clone()))
        .route(auth::ADMIN_KEYS_PATH, admin::route(metrics.clone()))
        .merge(docs::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone());
    let app = ServiceBuilder::new()
        .option_layer(cors(cors_origins))
        .layer(DefaultBodyLimit::max(max_request_bytes))
        .layer(middleware::from_fn_with_state(
            (state.clone(), access_log, metrics),
            gate,
        ))
        .layer(middleware::from_fn_with_state(
            limiter,
            crate::limits::enforce,
        ))
        // A key refused by its limits never waits for an account slot.
        .layer(middleware::from_fn_with_state(
            (state.accounts().clone(), max_request_bytes),
            crate::accounts::bind,
        ))
        .service(routes);
    Router::new().fallback_service(app)
}

/// The API routes under `prefix`, from [`API_ROUTES`].
fn api(prefix: &str) -> Router<AppState> {
    API_ROUTES.iter().fold(Router::new(), |router, api| {
        let path = format!("{prefix}{}", api.route.unversioned());
        router.route(&path, (api.handlers)())
    })
}

/// A route as the access log and the metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Its template (API routes by their `/v1` form, though they are served at the root too; ids
    /// as `{id}`), or `other` for what no route serves.
    pub template: &'static str,
    /// The API surface it belongs to.
    pub surface: &'static str,
    /// The GigaChat endpoint its requests wait on (`other`: none).
    pub endpoint: &'static str,
}

impl Route {
    /// The template without its `/v1` prefix.
    fn unversioned(&self) -> &'static str {
        self.template.strip_prefix("/v1").unwrap_or(self.template)
    }
}

/// The API surface of the OpenAI routes (chat, Responses, ...) and of the service routes.
pub const OPENAI: &str = "openai";

/// The API surface of Anthropic's Messages API routes: their errors are in Anthropic's envelope.
pub const ANTHROPIC: &str = "anthropic";

/// An API route: how it is named, and its handlers.
struct ApiRoute {
    route: Route,
    handlers: fn() -> MethodRouter<AppState>,
}

const fn openai(template: &'static str, endpoint: &'static str) -> Route {
    Route {
        template,
        surface: OPENAI,
        endpoint,
    }
}

const fn anthropic(template: &'static str, endpoint: &'static str) -> Route {
    Route {
        template,
        surface: ANTHROPIC,
        endpoint,
    }
}

/// The one table of API routes: [`router`] serves them, [`route_of`] names requests by them, and
/// the metrics label upstream time by their GigaChat endpoint.
static API_ROUTES: [ApiRoute; 17] = [
    ApiRoute {
        route: openai("/v1/chat/completions", "chat"),
        handlers: || post(chat::chat_completions),
    },
    ApiRoute {
        route: openai("/v1/completions", "chat"),
        handlers: || post(completions::completions),
    },
    ApiRoute {
        route: openai("/v1/responses", "chat"),
        handlers: || post(responses::create),
    },
    ApiRoute {
        route: openai("/v1/responses/input_tokens", "tokens_count"),
        handlers: || post(responses::input_tokens),
    },
    ApiRoute {
        route: openai("/v1/responses/{id}/cancel", "other"),
        handlers: || post(responses::cancel),
    },
    ApiRoute {
        route: anthropic("/v1/messages", "chat"),
        handlers: || post(messages::create),
    },
    ApiRoute {
        route: anthropic("/v1/messages/count_tokens", "tokens_count"),
        handlers: || post(messages::count_tokens),
    },
    ApiRoute {
        route: openai("/v1/images/generations", "chat"),
        handlers: || post(images::generations),
    },
    ApiRoute {
        route: openai("/v1/embeddings", "embeddings"),
        handlers: || post(embeddings::embeddings),
    },
    ApiRoute {
        route: openai("/v1/tokens/count", "tokens_count"),
        handlers: || post(tokens::count),
    },
    ApiRoute {
        route: openai("/v1/models", "models"),
        handlers: || get(models::list),
    },
    ApiRoute {
        route: openai("/v1/models/{id}", "models"),
        handlers: || get(models::get),
    },
    ApiRoute {
        route: openai("/v1/files", "files"),
        handlers: || post(files::upload).get(files::list),
    },
    ApiRoute {
        route: openai("/v1/files/{id}", "files"),
        handlers: || get(files::get).delete(files::delete),
    },
    ApiRoute {
        route: openai("/v1/files/{id}/content", "files"),
        handlers: || get(files::content),
    },
    ApiRoute {
        route: openai("/v1/responses/{id}", "other"),
        handlers: || get(stored_responses::get).delete(stored_responses::delete),
    },
    ApiRoute {
        route: openai("/v1/responses/{id}/input_items", "other"),
        handlers: || get(stored_responses::input_items),
    },
];

/// What no route serves.
pub static UNROUTED: Route = openai("other", "other");

/// The routes outside the API: the public paths, the documentation's files, `/metrics` and the
/// admin route. None waits on GigaChat.
static SERVICE_ROUTES: [Route; auth::PUBLIC_PATHS.len() + 3] = {
    let mut routes = [UNROUTED; auth::PUBLIC_PATHS.len() + 3];
    let mut index = 0;
    while index < auth::PUBLIC_PATHS.len() {
        routes[index] = openai(auth::PUBLIC_PATHS[index], "other");
        index += 1;
    }
    routes[index] = openai("/docs/{*path}", "other");
    routes[index + 1] = openai("/metrics", "other");
    routes[index + 2] = openai(auth::ADMIN_KEYS_PATH, "other");
    routes
};

/// The route `path` is served by.
pub fn route_of(path: &str) -> &'static Route {
    let api_path = path
        .strip_prefix("/v1")
        .filter(|rest| rest.starts_with('/'))
        .unwrap_or(path);
    if let Some(api) = API_ROUTES
        .iter()
        .find(|api| matches_template(api.route.unversioned(), api_path))
    {
        return &api.route;
    }
    let service = |template: &str| {
        SERVICE_ROUTES
            .iter()
            .find(|route| route.template == template)
    };
    let found = if path.starts_with("/docs/") {
        service("/docs/{*path}")
    } else {
        service(path)
    };
    found.unwrap_or(&UNROUTED)
}

/// Whether the answer to a request on `route` for `path` with `headers` is in Anthropic's shape:
/// on Anthropic's routes, on any path under `/v1/messages` (an unknown one too), and on any route
/// when the request carries `anthropic-version` (as Anthropic's SDKs and Claude Code always do).
pub fn answers_as_anthropic(route: &Route, path: &str, headers: &header::HeaderMap) -> bool {
    let api_path = path.strip_prefix("/v1").unwrap_or(path);
    route.surface == ANTHROPIC
        || api_path == "/messages"
        || api_path.starts_with("/messages/")
        || headers.contains_key(ANTHROPIC_VERSION)
}

/// The header every Anthropic client sends.
pub const ANTHROPIC_VERSION: &str = "anthropic-version";

/// The mark the gate leaves on an answer it gave in Anthropic's shape (the connection layer's
/// early answers read it: see `connection::early`).
#[derive(Debug, Clone, Copy)]
pub struct AnthropicAnswer;

/// Whether `path` fits `template`, whose `{id}` segments stand for any non-empty segment.
fn matches_template(template: &str, path: &str) -> bool {
    if !template.contains('{') {
        return template == path;
    }
    let mut expected = template.split('/');
    let mut got = path.split('/');
    loop {
        match (expected.next(), got.next()) {
            (None, None) => return true,
            (Some("{id}"), Some(segment)) if !segment.is_empty() => {}
            (Some(expected), Some(segment)) if expected == segment => {}
            _ => return false,
        }
    }
}

/// Decides the request id (the client's `x-request-id`, bounded, else a new one) and the caller
/// (a valid key, or a public path), runs the request in a span carrying the id, and stamps every
/// answer, errors and refusals included, with `x-request-id` and `openai-processing-ms`: the time
/// to the response head (for a stream, to its first event), as OpenAI sends it. An answer to an
/// Anthropic client ([`answers_as_anthropic`]) has its error in Anthropic's envelope and a
/// `request-id` header: the one place the surface picks the rendering. The request's
/// [`Exchange`] rides on the response to its body, which writes the access log line at its end.
async fn gate(
    State((state, access_log, metrics)): State<(AppState, bool, Arc<Metrics>)>,
    mut request: Request,
    next: middleware::Next,
) -> Response {
    // The connection layer's own answers pass here on a stand-in request (see `EarlyAnswer`).
    let early = request.extensions_mut().remove::<EarlyAnswer>();
    let admission = match early {
        Some(_) => auth::Admission::Open,
        None => auth::admit(state.keys(), &request),
    };
    let key = match &admission {
        auth::Admission::Key(caller, _) => Some(caller.name.clone()),
        auth::Admission::Expired(key) => Some(key.caller.name.clone()),
        auth::Admission::Open | auth::Admission::Admin | auth::Admission::Refused => None,
    };
    let route = route_of(request.uri().path());
    let anthropic = answers_as_anthropic(route, request.uri().path(), request.headers());
    let mut exchange = Exchange::new(
        context::request_id(request.headers()),
        key,
        request.method().clone(),
        route,
        request.headers(),
        access_log,
    );
    if let Some(early) = early {
        exchange = exchange.since(early.arrived);
    }
    let exchange = Arc::new(exchange.with_metrics(metrics));
    let mut response = if let Some(early) = early {
        early.into_response()
    } else if let Some(refusal) = refusal(&admission) {
        refusal.into_response()
    } else {
        admission.into_extensions(request.extensions_mut());
        request.extensions_mut().insert(exchange.clone());
        let request = request.map(|body| Body::new(CountedBody::new(body, exchange.clone())));
        // The span is entered on every poll, borrowed from the exchange: no clone of it to make
        // and close per request; with JSON lines and no traces there is no span, and the thread's
        // mark names the request in the lines written meanwhile. (Unlike `Instrument`, a handler
        // dropped because the client left is dropped outside the span; no drop in the handlers logs.)
        let mut handled = std::pin::pin!(next.run(request));
        std::future::poll_fn(|cx| {
            let _entered = exchange.span().enter();
            let _polled = exchange.polled();
            handled.as_mut().poll(cx)
        })
        .await
    };
    if let Some(Label(label)) = response.extensions().get::<Label>() {
        exchange.failed(label);
    }
    if anthropic {
        response = crate::error::for_anthropic(response, exchange.id());
        response.extensions_mut().insert(AnthropicAnswer);
    }
    if access::is_event_stream(response.headers()) {
        exchange.stream_opened();
    }
    const PROCESSING_MS: header::HeaderName =
        header::HeaderName::from_static("openai-processing-ms");
    const REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");
    let millis = u64::try_from(exchange.started().elapsed().as_millis()).unwrap_or(u64::MAX);
    let headers = response.headers_mut();
    headers.insert(PROCESSING_MS, HeaderValue::from(millis));
    if let Ok(id) = HeaderValue::from_str(exchange.id()) {
        headers.insert(REQUEST_ID, id);
    }
    response.extensions_mut().insert(exchange);
    response
}

/// The answer to a request the gate does not let in: no key, a wrong one, or an expired one.
fn refusal(admission: &auth::Admission) -> Option<AppError> {
    match admission {
        auth::Admission::Refused => Some(AppError::Unauthorized),
        auth::Admission::Expired(key) => Some(AppError::KeyExpired {
            name: key.caller.name.to_string(),
            at: key
                .expires
                .as_ref()
                .map_or_else(String::new, |expiry| expiry.text.clone()),
        }),
        auth::Admission::Key(..) | auth::Admission::Open | auth::Admission::Admin => None,
    }
}

/// `GET /metrics`: `metrics` in Prometheus' text format.
pub fn metrics_route<S: Clone + Send + Sync + 'static>(
    metrics: Arc<Metrics>,
) -> axum::routing::MethodRouter<S> {
    get(move || std::future::ready(metrics.response()))
}

async fn not_found(request: Request) -> Response {
    AppError::RouteNotFound(request.uri().path().to_owned()).into_response()
}

async fn method_not_allowed(request: Request) -> Response {
    let mut response = AppError::InvalidRequest {
        message: format!(
            "Method {} is not allowed on {}.",
            request.method(),
            request.uri().path()
        ),
        param: None,
    }
    .into_response();
    *response.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    if let Some(anthropic) = response
        .extensions_mut()
        .get_mut::<crate::error::AnthropicError>()
    {
        anthropic.status = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    }
    response
}

/// CORS for browser clients (Open WebUI direct connections); none when no origin is configured.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers(Any)
        .expose_headers(
            [
                header::HeaderName::from_static("x-request-id"),
                header::HeaderName::from_static("request-id"),
                header::HeaderName::from_static(responses::DROPPED_TOOLS_HEADER),
            ]
            .into_iter()
            .chain(crate::limits::HEADERS)
            .collect::<Vec<_>>(),
        )
        .max_age(Duration::from_secs(600));
    if origins.iter().any(|o| o == "*") {
        return Some(layer.allow_origin(Any));
    }
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    Some(layer.allow_origin(AllowOrigin::list(allowed)))
}

/// How long connections get to send what they hold after open streams were ended at the drain
/// deadline (each has one error event and the body's end left to write).
const FINAL_FLUSH: Duration = Duration::from_secs(1);

/// Serves until SIGTERM/Ctrl-C under `limits`, then drains (see [`serve_until`]).
pub async fn serve(
    router: Router,
    listener: tokio::net::TcpListener,
    limits: ConnectionLimits,
) -> anyhow::Result<()> {
    tracing::info!(local = %listener.local_addr()?, "gigachat-adapter listening");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    serve_until(router, listener, Connections::new(limits), stop_rx).await
}

/// Accepts connections (each under `connections`' limits) until `stop` turns true; then lets
/// in-flight requests and streams finish for up to the shutdown grace, after which open event
/// streams end with a shutdown error event and the remaining connections close.
pub async fn serve_until(
    router: Router,
    listener: tokio::net::TcpListener,
    connections: Connections,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let (phase, watching) = tokio::sync::watch::channel(Phase::Serving);
    let mut open = tokio::task::JoinSet::new();
    let stopping = stopped(stop);
    tokio::pin!(stopping);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    if let Err(err) = tcp.set_nodelay(true) {
                        tracing::debug!(%err, "could not set TCP_NODELAY");
                    }
                    let connections = connections.clone();
                    match connections.admit() {
                        Some(permit) => {
                            let served = connections.serve(router.clone(), tcp, watching.clone(), permit);
                            open.spawn(served);
                        }
                        None => {
                            let router = router.clone();
                            open.spawn(async move { connections.refuse(router, tcp).await });
                        }
                    }
                }
                Err(err) => accept_failed(err).await,
            },
            Some(_) = open.join_next(), if !open.is_empty() => {}
            () = &mut stopping => break,
        }
    }
    drop(listener);
    let grace = connections.limits().shutdown_grace;
    tracing::info!(?grace, "shutting down: draining in-flight requests");
    let _ = phase.send(Phase::Draining);
    if tokio::time::timeout(grace, join_all(&mut open))
        .await
        .is_err()
    {
        tracing::warn!("drain deadline reached; ending open streams and closing connections");
        let _ = phase.send(Phase::Cut);
        let _ = tokio::time::timeout(FINAL_FLUSH, join_all(&mut open)).await;
    }
    open.shutdown().await;
    Ok(())
}

/// Waits for every task in `open` to end.
async fn join_all(open: &mut tokio::task::JoinSet<()>) {
    while open.join_next().await.is_some() {}
}

/// A failed `accept`: a connection that died in the backlog is skipped; anything else (out of
/// file descriptors) is logged and waited out, so the loop does not spin.
async fn accept_failed(err: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::error!(%err, "accept failed; retrying in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Resolves once `stop` is true; never, if its sender goes away without saying so.
async fn stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    if stop.wait_for(|stopped| *stopped).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Resolves on SIGTERM (Unix) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_named_by_their_templates() {
        for (path, route) in [
            ("/v1/chat/completions", "/v1/chat/completions"),
            ("/chat/completions", "/v1/chat/completions"),
            ("/v1/models/GigaChat-2-Max", "/v1/models/{id}"),
            ("/files/file-1/content", "/v1/files/{id}/content"),
            ("/v1/files/file-1", "/v1/files/{id}"),
            ("/v1/tokens/count", "/v1/tokens/count"),
            ("/v1/messages", "/v1/messages"),
            ("/messages/count_tokens", "/v1/messages/count_tokens"),
            ("/", "other"),
            ("/v1/responses/resp_1", "/v1/responses/{id}"),
            (
                "/responses/resp_1/input_items",
                "/v1/responses/{id}/input_items",
            ),
            ("/health/ready", "/health/ready"),
            ("/docs/index.html", "/docs/{*path}"),
            ("/metrics", "/metrics"),
            ("/admin/keys", "/admin/keys"),
            ("/v1/metrics", "other"),
            ("/v1/models/", "other"),
            ("/v1/chat/completions/x", "other"),
            ("/v1/messages/batches", "other"),
            ("/v1x/models", "other"),
            ("/nothing/here", "other"),
        ] {
            assert_eq!(route_of(path).template, route, "{path}");
        }
    }

    #[test]
    fn anthropic_clients_are_told_by_route_path_or_header() {
        let none = header::HeaderMap::new();
        let mut versioned = header::HeaderMap::new();
        versioned.insert(ANTHROPIC_VERSION, HeaderValue::from_static("2023-06-01"));
        let answers = |path: &str, headers: &header::HeaderMap| {
            answers_as_anthropic(route_of(path), path, headers)
        };
        assert!(answers("/v1/messages", &none));
        assert!(answers("/messages/count_tokens", &none));
        assert!(answers("/v1/messages/batches", &none));
        assert!(answers("/v1/models", &versioned));
        assert!(answers("/v1/nothing", &versioned));
        assert!(!answers("/v1/models", &none));
        assert!(!answers("/v1/chat/completions", &none));
        assert!(!answers("/v1/messagesx", &none));
        assert_eq!(route_of("/v1/messages").surface, ANTHROPIC);
    }
}
