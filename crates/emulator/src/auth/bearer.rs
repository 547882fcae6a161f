//! API-side authentication: a valid bearer token, or (without any Authorization) a verified client certificate.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::tokens::TokenCheck;
use super::{Identity, Scope};
use crate::limits::Admission;
use crate::server::ConnInfo;
use crate::state::AppState;
use crate::wire::{self, ApiError};

/// Middleware: resolves the caller's [`Identity`] or answers 401.
pub(crate) async fn require(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let identity = match wire::header(request.headers(), "authorization") {
        Some(value) => {
            let token = value
                .split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim());
            match token.map(|t| state.tokens.check(t)) {
                Some(TokenCheck::Valid(identity)) => identity,
                Some(TokenCheck::Expired) => {
                    return ApiError::new(StatusCode::UNAUTHORIZED, "Token has expired")
                        .into_response();
                }
                _ => return ApiError::status(StatusCode::UNAUTHORIZED).into_response(),
            }
        }
        None => match request
            .extensions()
            .get::<ConnInfo>()
            .and_then(|c| c.client_cert_cn.clone())
        {
            Some(cn) => Identity {
                key: format!("cert:{cn}"),
                scope: Scope::Pers,
            },
            None => return ApiError::status(StatusCode::UNAUTHORIZED).into_response(),
        },
    };
    let admission = state.inflight.admit(&identity.key);
    if let Admission::Rejected = admission {
        return ApiError::status(StatusCode::TOO_MANY_REQUESTS).into_response();
    }
    request.extensions_mut().insert(identity);
    let response = next.run(request).await;
    match admission {
        Admission::Admitted(guard) => guard.hold_until_body_ends(response),
        Admission::Unlimited | Admission::Rejected => response,
    }
}
