//! The middleware that binds a request to a GigaChat account: the caller's own credentials
//! (pass-through), else its key's account or pool; it waits for a slot, counts the request in
//! flight until its answer's body ends, and re-runs a pool's request on the next account when
//! one fails in a way another account may not.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};

use super::slots::Slot;
use super::{Account, Accounts, DEFAULT_ACCOUNT, fails_over};
use crate::error::{AppError, Label};
use crate::policy::Caller;

/// The header a caller sends its own GigaChat authorization key in (beside its adapter key).
pub const PASSTHROUGH_HEADER: &str = "x-gigachat-authorization";

/// The account a request was bound to, in its extensions (handlers read it through `AppState`).
#[derive(Clone)]
pub struct Bound(pub Arc<Account>);

/// A request counted on its account, holding its slot (if the account limits concurrency).
struct Held {
    account: Arc<Account>,
    _slot: Option<Slot>,
}

impl Held {
    fn new(account: Arc<Account>, slot: Option<Slot>) -> Self {
        account.in_flight.fetch_add(1, Ordering::Relaxed);
        Self {
            account,
            _slot: slot,
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.account.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Binds requests of routes that call GigaChat to an account (see the module doc); `max_body`
/// bounds what a pool's request keeps for a second try.
pub async fn bind(
    State((accounts, max_body)): State<(Accounts, usize)>,
    request: Request,
    next: Next,
) -> Response {
    if crate::server::route_of(request.uri().path()).endpoint == "other" {
        return next.run(request).await;
    }
    match bound(&accounts, max_body, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn bound(
    accounts: &Accounts,
    max_body: usize,
    mut request: Request,
    next: Next,
) -> Result<Response, Response> {
    let passthrough = match request.headers().get(PASSTHROUGH_HEADER) {
        Some(value) => {
            let credentials = value.to_str().map_err(|_| {
                invalid(format!(
                    "{PASSTHROUGH_HEADER} must be a printable authorization key"
                ))
            })?;
            let credentials = credentials.trim();
            let credentials = credentials
                .strip_prefix("Basic ")
                .unwrap_or(credentials)
                .trim();
            if credentials.is_empty() {
                return Err(invalid(format!("{PASSTHROUGH_HEADER} is empty")));
            }
            Some(
                accounts
                    .passthrough(credentials)
                    .map_err(IntoResponse::into_response)?,
            )
        }
        None => None,
    };
    if let Some(account) = passthrough {
        request.headers_mut().remove(PASSTHROUGH_HEADER);
        let held = Held::new(account.clone(), None);
        request.extensions_mut().insert(Bound(account));
        let response = next.run(request).await;
        // The caller's own key refused is the caller's mistake, not the adapter's account.
        if verdict_of(&response) == Some(gigachat::Verdict::CredentialsRefused) {
            return Err(AppError::PassthroughRefused.into_response());
        }
        return Ok(hold_until_body_ends(response, held));
    }
    accounts.refresh();
    let caller_account = request
        .extensions()
        .get::<Caller>()
        .map(|caller| caller.account.clone());
    let name: &str = caller_account.as_deref().unwrap_or(DEFAULT_ACCOUNT);
    // One account (the usual case): no lookup beyond the map, no allocation.
    if let Some(account) = accounts.account(name) {
        let held = hold(accounts, &account, true)
            .await
            .ok_or_else(|| busy(accounts, name))?;
        request.extensions_mut().insert(Bound(account));
        return Ok(hold_until_body_ends(next.run(request).await, held));
    }
    let candidates = accounts.candidates(name).ok_or_else(|| {
        AppError::Internal(format!(
            "the key's account or pool '{name}' is not configured"
        ))
        .into_response()
    })?;
    // A pool: the body is kept, so the request can be run again on the next account.
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, max_body)
        .await
        .map_err(|_| AppError::PayloadTooLarge(max_body).into_response())?;
    // The first account (best first) with a free slot now; else wait for the best one.
    let mut held = None;
    let mut rest = Vec::with_capacity(candidates.len());
    for account in candidates {
        if held.is_none() {
            held = hold(accounts, &account, false).await;
            if held.is_some() {
                continue;
            }
        }
        rest.push(account);
    }
    let mut held = match held {
        Some(held) => held,
        None => {
            let first = rest.first().cloned().ok_or_else(|| busy(accounts, name))?;
            rest.retain(|account| !Arc::ptr_eq(account, &first));
            hold(accounts, &first, true)
                .await
                .ok_or_else(|| busy(accounts, name))?
        }
    };
    let mut tries = rest.into_iter();
    loop {
        let mut attempt = Request::from_parts(parts.clone(), Body::from(body.clone()));
        attempt.extensions_mut().insert(Bound(held.account.clone()));
        let response = next.clone().run(attempt).await;
        let failed_over = verdict_of(&response).filter(|verdict| fails_over(*verdict));
        let Some(verdict) = failed_over else {
            return Ok(hold_until_body_ends(response, held));
        };
        let Some(next_account) = tries.next() else {
            accounts.cool_down(&held.account);
            return Ok(hold_until_body_ends(response, held));
        };
        tracing::warn!(
            account = held.account.name(),
            next = next_account.name(),
            %verdict,
            "GigaChat account failed; trying the next account of the pool"
        );
        accounts.cool_down(&held.account);
        drop(response);
        // The failed account's slot is given back before waiting for the next one's.
        drop(held);
        held = hold(accounts, &next_account, true)
            .await
            .ok_or_else(|| busy(accounts, name))?;
    }
}

/// Counts a request on `account` with a slot of it: waiting up to the queue timeout when `wait`,
/// else only a slot free now (`None`: none freed).
async fn hold(accounts: &Accounts, account: &Arc<Account>, wait: bool) -> Option<Held> {
    let Some(slots) = &account.slots else {
        return Some(Held::new(account.clone(), None));
    };
    let slot = if wait {
        slots.acquire(accounts.queue_timeout()).await.ok()?
    } else {
        slots.try_acquire().await?
    };
    Some(Held::new(account.clone(), Some(slot)))
}

/// The verdict of a GigaChat failure the response reports, if it reports one.
fn verdict_of(response: &Response) -> Option<gigachat::Verdict> {
    response
        .extensions()
        .get::<Label>()
        .and_then(|Label(label)| gigachat::Verdict::from_label(label))
}

fn busy(accounts: &Accounts, name: &str) -> Response {
    AppError::AccountBusy {
        account: name.to_owned(),
        waited: accounts.queue_timeout(),
    }
    .into_response()
}

fn invalid(message: String) -> Response {
    AppError::InvalidRequest {
        message,
        param: None,
    }
    .into_response()
}

/// `response` with `held` kept until its body ends (a stream holds its slot to its last event).
fn hold_until_body_ends(response: Response, held: Held) -> Response {
    response.map(|body| Body::new(HeldBody { body, _held: held }))
}

/// A body that keeps its request's account slot until it is dropped.
struct HeldBody {
    body: Body,
    _held: Held,
}

impl hyper::body::Body for HeldBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
