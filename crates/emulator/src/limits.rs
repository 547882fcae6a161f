//! Per-identity concurrency limit: GigaChat answers 429 when a key has too many requests in flight.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::response::Response;
use futures_util::StreamExt as _;

use crate::sync::lock;

/// Counts in-flight requests per identity key.
#[derive(Debug)]
pub(crate) struct Inflight {
    limit: Option<usize>,
    counts: Arc<Mutex<HashMap<String, usize>>>,
}

/// The outcome of asking for a slot.
#[derive(Debug)]
pub(crate) enum Admission {
    /// No limit configured.
    Unlimited,
    /// A slot, released when the guard drops.
    Admitted(InflightGuard),
    /// The identity is at its limit.
    Rejected,
}

/// Holds one in-flight slot until dropped.
#[derive(Debug)]
pub(crate) struct InflightGuard {
    counts: Arc<Mutex<HashMap<String, usize>>>,
    key: String,
}

impl Inflight {
    /// A limiter allowing `limit` concurrent requests per identity (`None`: unlimited).
    pub(crate) fn new(limit: Option<usize>) -> Self {
        Self {
            limit,
            counts: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Takes a slot for `key` if one is free.
    pub(crate) fn admit(&self, key: &str) -> Admission {
        let Some(limit) = self.limit else {
            return Admission::Unlimited;
        };
        let mut counts = lock(&self.counts);
        let count = counts.entry(key.to_owned()).or_insert(0);
        if *count >= limit {
            return Admission::Rejected;
        }
        *count += 1;
        Admission::Admitted(InflightGuard {
            counts: self.counts.clone(),
            key: key.to_owned(),
        })
    }
}

impl InflightGuard {
    /// Keeps the slot taken until the response body (e.g. a whole SSE stream) is finished or dropped.
    pub(crate) fn hold_until_body_ends(self, response: Response) -> Response {
        let (parts, body) = response.into_parts();
        let stream = body.into_data_stream().map(move |chunk| {
            let _slot = &self;
            chunk
        });
        Response::from_parts(parts, Body::from_stream(stream))
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        let mut counts = lock(&self.counts);
        if let Some(count) = counts.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_request_is_rejected_until_the_first_ends() {
        let inflight = Inflight::new(Some(1));
        let first = inflight.admit("a");
        assert!(matches!(first, Admission::Admitted(_)));
        assert!(matches!(inflight.admit("a"), Admission::Rejected));
        assert!(matches!(inflight.admit("b"), Admission::Admitted(_)));
        drop(first);
        assert!(matches!(inflight.admit("a"), Admission::Admitted(_)));
    }
}
