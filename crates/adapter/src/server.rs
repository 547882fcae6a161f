//! The router (routes, auth, CORS, body limit, fallbacks) and the server loop with graceful shutdown.

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, Method, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::auth;
use crate::error::AppError;
use crate::routes::{chat, completions, docs, embeddings, files, health, models, tokens};
use crate::state::AppState;

/// Every route, served both under `/v1` and at the root (clients disagree on which they use).
pub fn router(state: AppState, cors_origins: &[String], max_request_bytes: usize) -> Router {
    let api = Router::new()
        .route("/chat/completions", post(chat::chat_completions))
        .route("/completions", post(completions::completions))
        .route("/embeddings", post(embeddings::embeddings))
        .route("/tokens/count", post(tokens::count))
        .route("/models", get(models::list))
        .route("/models/{id}", get(models::get))
        .route("/files", post(files::upload).get(files::list))
        .route("/files/{id}", get(files::get).delete(files::delete))
        .route("/files/{id}/content", get(files::content));
    Router::new()
        .nest("/v1", api.clone())
        .merge(api)
        .route("/health/live", get(health::live))
        .route("/health/liveness", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/health/readiness", get(health::ready))
        .merge(docs::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ))
        .layer(middleware::from_fn(processing_time))
        .layer(DefaultBodyLimit::max(max_request_bytes))
        .layer(cors(cors_origins))
        .with_state(state)
}

/// `openai-processing-ms`: time to the response head (for a stream, to its first event), as OpenAI sends it.
async fn processing_time(request: Request, next: middleware::Next) -> Response {
    let started = std::time::Instant::now();
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&started.elapsed().as_millis().to_string()) {
        response.headers_mut().insert("openai-processing-ms", value);
    }
    response
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
    response
}

/// CORS for browser clients (Open WebUI direct connections); nothing when no origin is configured.
fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers(Any)
        .expose_headers([header::HeaderName::from_static("x-request-id")])
        .max_age(Duration::from_secs(600));
    if origins.iter().any(|o| o == "*") {
        return layer.allow_origin(Any);
    }
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    layer.allow_origin(AllowOrigin::list(allowed))
}

/// Serves until SIGTERM/Ctrl-C, then lets in-flight requests and streams finish for up to `grace`.
pub async fn serve(
    router: Router,
    listener: tokio::net::TcpListener,
    grace: Duration,
) -> anyhow::Result<()> {
    tracing::info!(local = %listener.local_addr()?, "gigachat-adapter listening");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    serve_until(router, listener, grace, stop_rx).await
}

/// Serves until `stop` turns true, then lets in-flight requests and streams finish for up to `grace`.
pub async fn serve_until(
    router: Router,
    listener: tokio::net::TcpListener,
    grace: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "could not set TCP_NODELAY");
        }
    });
    let server = axum::serve(listener, router).with_graceful_shutdown(stopped(stop.clone()));
    let deadline = async move {
        stopped(stop).await;
        tracing::info!(?grace, "shutting down: draining in-flight requests");
        tokio::time::sleep(grace).await;
        tracing::warn!("drain deadline reached; closing remaining connections");
    };
    tokio::select! {
        result = server => result?,
        () = deadline => {}
    }
    Ok(())
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
