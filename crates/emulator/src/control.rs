//! The emulator-only control API under `/_emulator/` on the API listener, so out-of-process tests
//! can queue faults, expire or revoke tokens and read the request log. The real service has no
//! such prefix; these routes need no token and are not logged.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::faults::Fault;
use crate::log::{Listener, LoggedRequest};
use crate::state::AppState;
use crate::wire::{self, ApiError};

/// A fault as JSON: `{"kind":"status","status":503,"times":1,"retry_after_ms":1000,"path_suffix":"/chat/completions"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultSpec {
    kind: String,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    times: Option<usize>,
    #[serde(default)]
    retry_after_ms: Option<u64>,
    #[serde(default)]
    delay_ms: Option<u64>,
    #[serde(default)]
    events: Option<usize>,
    #[serde(default)]
    path_suffix: Option<String>,
}

impl FaultSpec {
    fn into_fault(self) -> Result<(Option<String>, Fault), String> {
        let times = self.times.unwrap_or(1);
        let fault = match self.kind.as_str() {
            "status" => Fault::Status {
                status: self.status.ok_or("status is required")?,
                retry_after: self.retry_after_ms.map(Duration::from_millis),
                times,
            },
            "bad_gateway_html" => Fault::BadGatewayHtml { times },
            "gateway_timeout_html" => Fault::GatewayTimeoutHtml { times },
            "slow_first_byte" => Fault::SlowFirstByte {
                delay: Duration::from_millis(self.delay_ms.ok_or("delay_ms is required")?),
                times,
            },
            "cut_stream_after" => Fault::CutStreamAfter {
                events: self.events.ok_or("events is required")?,
                times,
            },
            "wrong_content_type" => Fault::WrongContentType { times },
            "oauth_status" => Fault::OauthStatus {
                status: self.status.ok_or("status is required")?,
                times,
            },
            other => return Err(format!("unknown fault kind '{other}'")),
        };
        Ok((self.path_suffix, fault))
    }
}

/// The routes, to be nested under `/_emulator`.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/faults", post(push_fault).delete(clear_faults))
        .route("/tokens/expire", post(expire))
        .route("/tokens/revoke", post(revoke))
        .route("/requests", get(requests).delete(clear_requests))
        .route("/ca.pem", get(ca_pem))
}

async fn push_fault(State(state): State<AppState>, body: Bytes) -> Response {
    let spec: FaultSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(error) => {
            return ApiError::new(StatusCode::BAD_REQUEST, error.to_string()).into_response();
        }
    };
    match spec.into_fault() {
        Ok((Some(suffix), fault)) => state.faults.push_for(suffix, fault),
        Ok((None, fault)) => state.faults.push(fault),
        Err(message) => return ApiError::new(StatusCode::BAD_REQUEST, message).into_response(),
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_faults(State(state): State<AppState>) -> StatusCode {
    state.faults.clear();
    StatusCode::NO_CONTENT
}

async fn expire(State(state): State<AppState>) -> StatusCode {
    state.tokens.expire_all();
    StatusCode::NO_CONTENT
}

async fn revoke(State(state): State<AppState>) -> StatusCode {
    state.tokens.revoke_all();
    StatusCode::NO_CONTENT
}

/// A logged request as JSON; the body as UTF-8 text (lossy) and as base64.
#[derive(Serialize)]
struct RequestView {
    listener: Listener,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
    body_base64: String,
    client_cert_cn: Option<String>,
    connection: u64,
    http_version: String,
    status: u16,
    stream_events_sent: Option<usize>,
}

impl From<LoggedRequest> for RequestView {
    fn from(request: LoggedRequest) -> Self {
        Self {
            listener: request.listener,
            method: request.method,
            path: request.path,
            headers: request.headers,
            body: String::from_utf8_lossy(&request.body).into_owned(),
            body_base64: base64::engine::general_purpose::STANDARD.encode(&request.body),
            client_cert_cn: request.client_cert_cn,
            connection: request.connection,
            http_version: request.http_version,
            status: request.status,
            stream_events_sent: request.stream_events_sent,
        }
    }
}

async fn requests(State(state): State<AppState>) -> Response {
    let views: Vec<RequestView> = state
        .log
        .snapshot()
        .into_iter()
        .map(RequestView::from)
        .collect();
    wire::json(StatusCode::OK, &views)
}

async fn clear_requests(State(state): State<AppState>) -> StatusCode {
    state.log.clear();
    StatusCode::NO_CONTENT
}

async fn ca_pem(State(state): State<AppState>) -> Response {
    match &state.pki {
        Some(pki) => wire::raw(
            StatusCode::OK,
            "application/x-pem-file",
            pki.ca_pem().to_owned(),
        ),
        None => wire::api_error(StatusCode::NOT_FOUND, "TLS is disabled"),
    }
}
