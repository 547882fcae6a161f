//! Key limits counted in a real Redis: two limiters sharing it (two replicas) admit exactly the
//! limit in total, tokens reported after answers close the token window, a dead replica's
//! concurrency lease expires while a live one's is renewed, and Redis down is served or refused
//! as `LIMITS_REDIS_FAILURE` says.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use gigachat_adapter::error::AppError;
use gigachat_adapter::limits::{Exceeded, Limiter, Outcome, RedisFailure, Ticket};
use gigachat_adapter::policy::{Caller, Limits};
use gigachat_adapter::store::RedisStore;

#[path = "support/redis.rs"]
mod redis_server;
use redis_server::RedisServer;

fn caller(name: &str, limits: Limits) -> Caller {
    Caller {
        name: Arc::from(name),
        limits,
        account: Arc::from("default"),
    }
}

fn limiter(url: &str, lease: Duration, on_failure: RedisFailure) -> Arc<Limiter> {
    let conn = RedisStore::open(url).unwrap().connection();
    Arc::new(Limiter::redis(conn, lease, on_failure))
}

/// Waits for the next minute when this one ends within `margin`, so a test's requests fall in
/// one window.
async fn within_one_minute(margin: u64) {
    let now = gigachat_adapter::store::unix_now().unsigned_abs();
    let left = 60 - now % 60;
    if left <= margin {
        tokio::time::sleep(Duration::from_secs(left) + Duration::from_millis(100)).await;
    }
}

fn admitted(outcome: Result<Outcome, AppError>) -> Option<Ticket> {
    match outcome.unwrap() {
        Outcome::Admitted(_, ticket) => Some(ticket),
        Outcome::Refused(_) => None,
        Outcome::Unchecked => panic!("Redis is up: every request is checked"),
    }
}

fn refused_by(outcome: Result<Outcome, AppError>) -> Exceeded {
    match outcome.unwrap() {
        Outcome::Refused(decision) => decision.exceeded.unwrap(),
        Outcome::Admitted(..) => panic!("admitted past the limit"),
        Outcome::Unchecked => panic!("Redis is up: every request is checked"),
    }
}

#[tokio::test]
async fn two_replicas_sharing_redis_admit_exactly_the_limit_in_total() {
    let redis = RedisServer::start().await;
    let replicas = [
        limiter(&redis.url, Duration::from_secs(15), RedisFailure::Allow),
        limiter(&redis.url, Duration::from_secs(15), RedisFailure::Allow),
    ];
    let alice = caller(
        "alice",
        Limits {
            requests_per_minute: Some(25),
            ..Limits::default()
        },
    );
    within_one_minute(10).await;
    let attempts = (0..80).map(|index| {
        let replica = replicas[index % 2].clone();
        let alice = alice.clone();
        async move { admitted(replica.admit(&alice).await).is_some() }
    });
    let answers = join_all(attempts).await;
    assert_eq!(answers.iter().filter(|admitted| **admitted).count(), 25);
    // The refusal says so, with what is left and when the window ends.
    match replicas[1].admit(&alice).await.unwrap() {
        Outcome::Refused(decision) => {
            assert_eq!(decision.exceeded, Some(Exceeded::RequestsPerMinute));
            let requests = decision.requests.unwrap();
            assert_eq!((requests.limit, requests.remaining), (25, 0));
            assert!(decision.retry_after <= Duration::from_secs(60));
            assert!(decision.retry_after >= Duration::from_secs(1));
        }
        _ => panic!("the 26th request of the minute was admitted"),
    }
    // Another key has its own window.
    let bob = caller("bob", alice.limits);
    assert!(admitted(replicas[0].admit(&bob).await).is_some());
}

#[tokio::test]
async fn tokens_reported_after_answers_close_the_token_windows_on_every_replica() {
    let redis = RedisServer::start().await;
    let one = limiter(&redis.url, Duration::from_secs(15), RedisFailure::Allow);
    let two = limiter(&redis.url, Duration::from_secs(15), RedisFailure::Allow);
    let alice = caller(
        "alice",
        Limits {
            tokens_per_minute: Some(100),
            tokens_per_day: Some(1_000),
            ..Limits::default()
        },
    );
    within_one_minute(10).await;
    let mut ticket = admitted(one.admit(&alice).await).unwrap();
    ticket.spent(60);
    ticket.finish().await;
    match two.admit(&alice).await.unwrap() {
        Outcome::Admitted(decision, mut ticket) => {
            let tokens = decision.tokens.unwrap();
            assert_eq!((tokens.limit, tokens.remaining), (100, 40));
            ticket.spent(45);
            ticket.finish().await;
        }
        _ => panic!("refused before the limit"),
    }
    assert_eq!(
        refused_by(one.admit(&alice).await),
        Exceeded::TokensPerMinute
    );
    // The day's counter has both answers.
    let mut conn = redis.raw().await.unwrap();
    let day = gigachat_adapter::store::unix_now() / 86_400;
    let today: u64 = redis::cmd("GET")
        .arg(format!(
            "gigachat-adapter:limits:v1:{{alice}}:tokens:d:{day}"
        ))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(today, 105);
}

#[tokio::test]
async fn a_dead_replicas_lease_expires_and_a_live_ones_is_renewed() {
    let redis = RedisServer::start().await;
    let lease = Duration::from_millis(1_500);
    let alice = caller(
        "alice",
        Limits {
            concurrent: Some(1),
            ..Limits::default()
        },
    );
    let survivor = limiter(&redis.url, lease, RedisFailure::Allow);

    // A live request keeps its slot for three lease times: its lease is renewed.
    let running = admitted(survivor.admit(&alice).await).unwrap();
    for _ in 0..3 {
        tokio::time::sleep(lease).await;
        assert_eq!(
            refused_by(survivor.admit(&alice).await),
            Exceeded::Concurrent
        );
    }
    running.finish().await;
    let ticket = admitted(survivor.admit(&alice).await).expect("a finished request frees its slot");
    ticket.finish().await;

    // A replica takes the slot and dies mid-request: its runtime (and the lease's renewal) ends
    // without the request finishing.
    let url = redis.url.clone();
    let dying = alice.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let replica = limiter(&url, lease, RedisFailure::Allow);
            let ticket = admitted(replica.admit(&dying).await).unwrap();
            std::mem::forget(ticket);
        });
    })
    .join()
    .unwrap();
    assert_eq!(
        refused_by(survivor.admit(&alice).await),
        Exceeded::Concurrent
    );
    tokio::time::sleep(lease + Duration::from_millis(300)).await;
    let ticket = admitted(survivor.admit(&alice).await).expect("the dead replica's lease expired");
    ticket.finish().await;
}

#[tokio::test]
async fn redis_down_is_served_unchecked_or_refused_as_configured() {
    let mut redis = RedisServer::start().await;
    let allow = limiter(&redis.url, Duration::from_secs(15), RedisFailure::Allow);
    let refuse = limiter(&redis.url, Duration::from_secs(15), RedisFailure::Refuse);
    let alice = caller(
        "alice",
        Limits {
            requests_per_minute: Some(100),
            ..Limits::default()
        },
    );
    assert!(admitted(allow.admit(&alice).await).is_some());
    assert!(admitted(refuse.admit(&alice).await).is_some());
    assert_eq!(allow.redis_errors(), 0);
    redis.stop();
    assert!(matches!(allow.admit(&alice).await, Ok(Outcome::Unchecked)));
    assert!(matches!(allow.admit(&alice).await, Ok(Outcome::Unchecked)));
    assert_eq!(allow.redis_errors(), 2);
    assert!(matches!(
        refuse.admit(&alice).await,
        Err(AppError::LimitsUnavailable)
    ));
    assert_eq!(refuse.redis_errors(), 1);
}
