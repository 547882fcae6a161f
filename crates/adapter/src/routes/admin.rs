//! `GET /admin/keys`: the client keys an operator configured (`BEARER_TOKEN` and `KEYS_FILE`) with
//! their models, account, expiry, limits and usage since start, for whoever holds `ADMIN_TOKEN`.
//! Never a secret, a digest or a credential.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::extract::State;
use axum::routing::{MethodRouter, get};
use serde_json::{Value, json};

use crate::auth::{ADMIN_KEYS_PATH, AdminCaller};
use crate::error::AppError;
use crate::metrics::{KeyUsage, Metrics};
use crate::policy::{Caller, KeyPolicy, Limits};
use crate::state::AppState;

/// The route, reading usage from `metrics`. Without `ADMIN_TOKEN` it answers 404, like a path
/// nothing serves.
pub fn route(metrics: Arc<Metrics>) -> MethodRouter<AppState> {
    get(
        move |State(state): State<AppState>, admin: Option<axum::Extension<AdminCaller>>| {
            std::future::ready(list(&state, admin.is_some(), &metrics))
        },
    )
}

/// The keys, `BEARER_TOKEN`'s first, then the file's in its order.
fn list(state: &AppState, admitted: bool, metrics: &Metrics) -> Result<Json<Value>, AppError> {
    let keys = state.keys();
    if !keys.admin_enabled() || !admitted {
        return Err(AppError::RouteNotFound(ADMIN_KEYS_PATH.to_owned()));
    }
    let usage = metrics.usage_by_key();
    let used = |name: &str| usage.get(name).copied().unwrap_or_default();
    let now = SystemTime::now();
    let bearer = keys
        .names()
        .map(|name| key_entry(name, "bearer_token", None, used(name), now));
    let policy = keys.file().map(|file| file.current());
    let from_file = policy.iter().flat_map(|policy| policy.keys()).map(|key| {
        let name = &key.caller.name;
        key_entry(name, "keys_file", Some(key), used(name), now)
    });
    let data: Vec<Value> = bearer.chain(from_file).collect();
    let file = keys.file().map(|file| {
        json!({
            "accounts": policy.iter().flat_map(|policy| &policy.accounts).map(|account| json!({
                "name": &*account.name,
                "scope": account.scope,
                "max_concurrent": account.max_concurrent,
            })).collect::<Vec<_>>(),
            "pools": policy.iter().flat_map(|policy| &policy.pools).map(|pool| json!({
                "name": &*pool.name,
                "accounts": pool.accounts.iter().map(|account| &**account).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "reload_failures": file.failures(),
        })
    });
    Ok(Json(json!({
        "object": "list",
        "data": data,
        "keys_file": file,
    })))
}

/// One key as the listing shows it; `policy` is its `KEYS_FILE` entry (none: a `BEARER_TOKEN`
/// key, unlimited on the default account).
fn key_entry(
    name: &str,
    source: &str,
    policy: Option<&Arc<KeyPolicy>>,
    usage: KeyUsage,
    now: SystemTime,
) -> Value {
    let caller = policy.map(|policy| &policy.caller);
    let account = caller.map_or(crate::policy::DEFAULT_ACCOUNT, |caller: &Caller| {
        &caller.account
    });
    let limits = caller.map(|caller| caller.limits).unwrap_or_default();
    let expires = policy.and_then(|policy| policy.expires.as_ref());
    json!({
        "name": name,
        "source": source,
        "models": policy.and_then(|policy| policy.models.as_ref()),
        "account": account,
        "expires": expires.map(|expiry| &expiry.text),
        "expired": policy.is_some_and(|policy| policy.expired(now)),
        "limits": limits_json(&limits),
        "usage": usage,
    })
}

/// The limits, `null` for none.
fn limits_json(limits: &Limits) -> Value {
    json!({
        "requests_per_minute": limits.requests_per_minute,
        "tokens_per_minute": limits.tokens_per_minute,
        "tokens_per_day": limits.tokens_per_day,
        "concurrent": limits.concurrent,
    })
}
