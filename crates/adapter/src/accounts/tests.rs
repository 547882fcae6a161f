//! Pool choice, cool-down, failover verdicts and the pass-through client cache.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use gigachat::{GigaChat, Settings, Verdict};
use secrecy::SecretString;

use super::*;
use crate::attachments::fetch::{FetchConfig, Fetcher};
use crate::attachments::store::{Dedup, file_store};
use crate::policy::{Account as AccountConfig, Policy, Pool};
use crate::store::MemoryStore;

fn tuning(cooldown: Duration, passthrough_max: usize) -> Tuning {
    Tuning {
        cooldown,
        queue_timeout: Duration::from_millis(50),
        lease: Duration::from_secs(15),
        passthrough_max,
        default_max_concurrent: None,
        redis_url: None,
        models_ttl: Duration::from_secs(60),
    }
}

fn configured(name: &str) -> AccountConfig {
    AccountConfig {
        name: name.into(),
        credentials: SecretString::from(format!("{name}-key")),
        scope: None,
        max_concurrent: None,
    }
}

/// `default`, `a` and `b`, and the pool `shared` of the three in that order.
fn registry(cooldown: Duration, passthrough_max: usize) -> Accounts {
    let settings = Settings {
        base_url: "http://127.0.0.1:9/api/v1".into(),
        auth_url: "http://127.0.0.1:9/oauth".into(),
        credentials: Some(SecretString::from("default-key")),
        ..Settings::default()
    };
    let client = GigaChat::new(settings.clone()).unwrap();
    let store = file_store(Arc::new(MemoryStore::new(100)), 100);
    let attachments = Attachments::new(
        client.clone(),
        Fetcher::new(FetchConfig::default()).unwrap(),
        Dedup::new(store.clone()),
        crate::upstream_identity(&settings),
        60,
        Purposes::new(store, &crate::upstream_identity(&settings)),
    );
    let pool = Pool {
        name: "shared".into(),
        accounts: vec!["default".into(), "a".into(), "b".into()],
    };
    let mut policy = Policy::default();
    policy.accounts = vec![configured("a"), configured("b")];
    policy.pools = vec![pool];
    Accounts::new(
        settings,
        client,
        attachments,
        Arc::new(policy),
        tuning(cooldown, passthrough_max),
    )
    .unwrap()
}

fn names(accounts: &[Arc<Account>]) -> Vec<&str> {
    accounts.iter().map(|account| account.name()).collect()
}

#[tokio::test]
async fn a_pool_tries_the_least_busy_first_and_keeps_its_order_among_equals() {
    let accounts = registry(Duration::from_secs(30), 4);
    let order = accounts.candidates("shared").unwrap();
    assert_eq!(names(&order), ["default", "a", "b"]);
    order[0].in_flight.fetch_add(2, Ordering::Relaxed);
    order[1].in_flight.fetch_add(1, Ordering::Relaxed);
    assert_eq!(
        names(&accounts.candidates("shared").unwrap()),
        ["b", "a", "default"]
    );
    assert_eq!(names(&accounts.candidates("a").unwrap()), ["a"]);
    assert!(accounts.candidates("nobody").is_none());
}

#[tokio::test]
async fn a_cooled_account_is_tried_last_until_its_cool_down_ends() {
    let accounts = registry(Duration::from_millis(200), 4);
    let default = accounts.default_account().clone();
    accounts.cool_down(&default);
    // Even busier accounts come first while it cools down.
    accounts
        .account("a")
        .unwrap()
        .in_flight
        .fetch_add(3, Ordering::Relaxed);
    assert_eq!(
        names(&accounts.candidates("shared").unwrap()),
        ["b", "a", "default"]
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        names(&accounts.candidates("shared").unwrap()),
        ["default", "b", "a"]
    );
}

#[test]
fn only_failures_another_account_may_not_have_fail_over() {
    for verdict in [
        Verdict::RateLimited,
        Verdict::UpstreamFailed,
        Verdict::TokenUnavailable,
        Verdict::CredentialsRefused,
    ] {
        assert!(fails_over(verdict), "{verdict}");
    }
    for verdict in [
        Verdict::InputRejected,
        Verdict::ModelNotFound,
        Verdict::FileNotFound,
        Verdict::ContextTooLong,
        Verdict::StaleFile,
    ] {
        assert!(!fails_over(verdict), "{verdict}");
    }
}

#[tokio::test]
async fn passthrough_clients_are_per_credential_and_bounded() {
    let accounts = registry(Duration::from_secs(30), 2);
    let first = accounts.passthrough("key-one").unwrap();
    let again = accounts.passthrough("key-one").unwrap();
    assert!(Arc::ptr_eq(&first, &again), "one client per credential");
    let second = accounts.passthrough("key-two").unwrap();
    assert!(!Arc::ptr_eq(&first, &second));
    assert_ne!(first.name(), second.name());
    assert_ne!(
        crate::upstream_identity(first.client().settings()),
        crate::upstream_identity(second.client().settings()),
        "their uploads are in different namespaces"
    );
    // `key-one` was used last but one; a third credential drops `key-two`, the least recent.
    accounts.passthrough("key-one").unwrap();
    accounts.passthrough("key-three").unwrap();
    let one = accounts.passthrough("key-one").unwrap();
    assert!(Arc::ptr_eq(&first, &one), "the recently used client stays");
    let two = accounts.passthrough("key-two").unwrap();
    assert!(
        !Arc::ptr_eq(&second, &two),
        "the least recently used was dropped"
    );
}
