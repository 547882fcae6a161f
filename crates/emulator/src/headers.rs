//! Gateway response headers as the recordings show them: SynGX (January 2026) or nginx (April–June
//! 2026). Connection-level headers (`Connection`, `Keep-Alive`) go on HTTP/1.x answers only.

use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Version};
use axum::middleware::Next;
use axum::response::Response;

use crate::config::ResponseHeaders;
use crate::log::Listener;
use crate::server::ConnInfo;
use crate::state::AppState;
use crate::wire::FromGateway;

/// `Access-Control-Allow-Headers` of both gateways.
const CORS_HEADERS: &str = "Origin, X-Requested-With, Content-Type, Accept, Authorization";
/// `Access-Control-Allow-Methods` of both gateways.
const CORS_METHODS: &str = "GET, POST, DELETE, OPTIONS";

/// Appends one header (duplicates are kept, as the recorded OAuth answers have them).
fn add(headers: &mut HeaderMap, name: &'static str, value: &'static str) {
    headers.append(
        HeaderName::from_static(name),
        HeaderValue::from_static(value),
    );
}

/// Middleware: adds the configured gateway's headers to every answer of the listener.
pub(crate) async fn gateway(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let profile = state.config.response_headers;
    let listener = request
        .extensions()
        .get::<ConnInfo>()
        .map_or(Listener::Api, |info| info.listener);
    let http1 = request.version() < Version::HTTP_2;
    let mut response = next.run(request).await;
    if profile == ResponseHeaders::Minimal {
        return response;
    }
    let gateway_page = response.extensions().get::<FromGateway>().is_some();
    let success = response.status().as_u16() < 400;
    let event_stream = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let headers = response.headers_mut();
    if gateway_page {
        // The 502/504 pages name SynGX in their body whichever front is configured.
        add(headers, "server", "SynGX");
        return response;
    }
    if http1 {
        add(headers, "connection", "keep-alive");
    }
    match (profile, listener) {
        (ResponseHeaders::SynGx, Listener::Api) => {
            add(headers, "access-control-allow-credentials", "true");
            add(headers, "access-control-allow-headers", CORS_HEADERS);
            add(headers, "access-control-allow-methods", CORS_METHODS);
            add(
                headers,
                "access-control-allow-origin",
                "https://beta.saluteai.sberdevices.ru",
            );
            add(headers, "allow", "GET, POST");
            add(headers, "server", "SynGX");
            add(
                headers,
                "strict-transport-security",
                "max-age=31536000; includeSubDomains",
            );
            // Recorded on successes only (the 404s lack them).
            if success {
                add(headers, "x-content-type-options", "nosniff");
                add(headers, "x-frame-options", "SAMEORIGIN");
                add(headers, "x-xss-protection", "1; mode=block");
            }
        }
        (ResponseHeaders::SynGx, Listener::Oauth) => {
            add(headers, "allow", "GET, POST");
            add(
                headers,
                "cache-control",
                "no-cache, no-store, max-age=0, must-revalidate",
            );
            add(headers, "expires", "0");
            add(headers, "pragma", "no-cache");
            add(headers, "referrer-policy", "no-referrer");
            add(headers, "server", "SynGX");
            add(
                headers,
                "strict-transport-security",
                "max-age=31536000 ; includeSubDomains",
            );
            add(
                headers,
                "strict-transport-security",
                "max-age=31536000; includeSubDomains",
            );
            add(headers, "vary", "Origin");
            add(headers, "vary", "Access-Control-Request-Method");
            add(headers, "vary", "Access-Control-Request-Headers");
            add(headers, "x-content-type-options", "nosniff");
            add(headers, "x-content-type-options", "nosniff");
            add(headers, "x-frame-options", "DENY");
            add(headers, "x-frame-options", "SAMEORIGIN");
            add(headers, "x-xss-protection", "0");
            add(headers, "x-xss-protection", "1; mode=block");
        }
        (ResponseHeaders::Nginx, _) => {
            if http1 {
                add(headers, "keep-alive", "timeout=15");
            }
            add(headers, "server", "nginx");
            // Recorded on JSON answers, not on streams.
            if !event_stream {
                add(headers, "vary", "Accept-Encoding");
            }
            add(headers, "x-backend", "itsme");
            if let Ok(value) = HeaderValue::from_str(&format!("{}:1", rand::random::<u32>())) {
                headers.append(HeaderName::from_static("x-sp-crid"), value);
            }
            add(headers, "access-control-allow-credentials", "true");
            add(headers, "access-control-allow-headers", CORS_HEADERS);
            add(headers, "access-control-allow-methods", CORS_METHODS);
            add(
                headers,
                "access-control-allow-origin",
                "https://gigachat.sberdevices.ru",
            );
            // The nginx-era OAuth host labels its JSON with a charset, like the API host.
            if listener == Listener::Oauth
                && headers
                    .get(CONTENT_TYPE)
                    .is_some_and(|v| v == "application/json")
            {
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static(crate::wire::JSON_UTF8),
                );
            }
        }
        (ResponseHeaders::Minimal, _) => {}
    }
    response
}
