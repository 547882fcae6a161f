//! GigaChat accounts: one client per configured account (own token cache, models list and upload
//! namespace), pools that spread load and fail over, clients for pass-through credentials, and
//! per-account concurrency slots; [`bind`] picks a request's account from its caller.

mod bind;
mod slots;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use gigachat::{GigaChat, Settings, Verdict};
use secrecy::SecretString;
use sha2::Digest;

pub use bind::{Bound, PASSTHROUGH_HEADER, bind};
use slots::Slots;

use crate::attachments::purposes::Purposes;
use crate::attachments::resolve::Attachments;
use crate::cache::TimedCache;
use crate::error::AppError;
use crate::policy::Account as AccountConfig;
pub use crate::policy::DEFAULT_ACCOUNT;
use crate::policy::Policy;
use crate::policy::reload::PolicyFile;

/// How accounts are waited for and cooled down.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// How long an account that failed over is tried last (`ACCOUNT_COOLDOWN_SECS`).
    pub cooldown: Duration,
    /// How long a request waits for a slot of a busy account (`ACCOUNT_QUEUE_TIMEOUT_SECS`).
    pub queue_timeout: Duration,
    /// How long a Redis lease lives unless renewed (`ACCOUNT_LEASE_SECS`).
    pub lease: Duration,
    /// Pass-through clients kept (`PASSTHROUGH_CLIENTS_MAX`).
    pub passthrough_max: usize,
    /// Concurrency of the default account (`GIGACHAT_ACCOUNT_MAX_CONCURRENT`).
    pub default_max_concurrent: Option<u32>,
    /// Where slots are shared between replicas (`REDIS_URL`); in process without it.
    pub redis_url: Option<String>,
    /// How long a models list is cached (`MODELS_CACHE_SECS`).
    pub models_ttl: Duration,
}

/// One GigaChat account with everything that must not be shared with another.
pub struct Account {
    name: Arc<str>,
    /// Who uploads: the digest of its base URL, scope and credentials (its dedup namespace).
    identity: String,
    /// Its `max_concurrent`, as configured.
    max_concurrent: Option<u32>,
    client: GigaChat,
    models: TimedCache<Vec<gigachat::types::Model>>,
    attachments: Attachments,
    in_flight: AtomicUsize,
    /// Until when (ms on the registry's clock) it is tried last, after a failover.
    cool_until_ms: AtomicU64,
    slots: Option<Slots>,
}

impl Account {
    /// Its name (`default`, a configured name, or `passthrough:<digest prefix>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its GigaChat client.
    pub fn client(&self) -> &GigaChat {
        &self.client
    }

    /// Its cached models list.
    pub fn models(&self) -> &TimedCache<Vec<gigachat::types::Model>> {
        &self.models
    }

    /// Its file-part resolver (its own dedup namespace).
    pub fn attachments(&self) -> &Attachments {
        &self.attachments
    }

    /// Purposes of its Files API uploads.
    pub fn purposes(&self) -> &Purposes {
        self.attachments.purposes()
    }

    /// Whether it serves a bounded number of requests at once (`max_concurrent`), so a call
    /// outside its slots (a health probe's) could take a request's turn at GigaChat.
    pub fn has_slots(&self) -> bool {
        self.slots.is_some()
    }

    /// Requests it serves now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What a key's `account` names.
enum Target {
    Account(Arc<Account>),
    Pool(Vec<Arc<Account>>),
}

/// Every account of the adapter; cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    inner: Arc<Registry>,
}

/// Accounts and pools by name.
type Targets = HashMap<Arc<str>, Target>;

struct Registry {
    default: Arc<Account>,
    targets: ArcSwap<Targets>,
    /// `KEYS_FILE`, followed: its accounts and pools as last built, and a lock for rebuilding.
    file: Option<Arc<PolicyFile>>,
    built_from: ArcSwap<Policy>,
    rebuilding: Mutex<()>,
    redis: Option<redis::aio::ConnectionManager>,
    passthrough: Mutex<Passthrough>,
    /// What a pass-through client is built from: the default settings and resolver.
    settings: Settings,
    attachments: Attachments,
    tuning: Tuning,
    clock: Instant,
}

/// Pass-through accounts by credential digest, least recently used dropped first.
struct Passthrough {
    clients: HashMap<[u8; 32], (Arc<Account>, u64)>,
    tick: u64,
}

/// Whether a failure of one account may pass on another: its rate limit (429), its failure (5xx)
/// or refused credentials, never the client's own mistake.
pub fn fails_over(verdict: Verdict) -> bool {
    matches!(
        verdict,
        Verdict::RateLimited
            | Verdict::UpstreamFailed
            | Verdict::TokenUnavailable
            | Verdict::CredentialsRefused
    )
}

impl Accounts {
    /// The registry: `default` from `settings` (the client already built for it, uploading
    /// through `attachments`), and one client per account of `KEYS_FILE` (`configured`, with its
    /// `pools`); fails on an unusable account or a pool naming an unknown one.
    pub fn new(
        settings: Settings,
        client: GigaChat,
        attachments: Attachments,
        policy: Arc<Policy>,
        tuning: Tuning,
    ) -> anyhow::Result<Self> {
        let redis = match &tuning.redis_url {
            Some(url) => Some(slots::connect(url)?),
            None => None,
        };
        let default = Arc::new(Account {
            name: DEFAULT_ACCOUNT.into(),
            identity: attachments.identity().to_owned(),
            max_concurrent: tuning.default_max_concurrent,
            client,
            models: TimedCache::new(tuning.models_ttl),
            attachments: attachments.clone(),
            in_flight: AtomicUsize::new(0),
            cool_until_ms: AtomicU64::new(0),
            slots: tuning
                .default_max_concurrent
                .map(|max| Slots::new(DEFAULT_ACCOUNT, max, tuning.lease, redis.clone())),
        });
        let mut registry = Registry {
            default,
            targets: ArcSwap::from_pointee(Targets::new()),
            file: None,
            built_from: ArcSwap::new(policy.clone()),
            rebuilding: Mutex::new(()),
            redis,
            passthrough: Mutex::new(Passthrough {
                clients: HashMap::new(),
                tick: 0,
            }),
            settings,
            attachments,
            tuning,
            clock: Instant::now(),
        };
        registry.targets = ArcSwap::from_pointee(registry.build_targets(&policy)?);
        Ok(Self {
            inner: Arc::new(registry),
        })
    }

    /// Follows `file`: when a reload changes its accounts or pools, they are built again before
    /// the next request is bound (unchanged accounts keep their client, token and slots).
    pub fn following(self, file: Arc<PolicyFile>) -> anyhow::Result<Self> {
        let mut registry = Arc::try_unwrap(self.inner)
            .map_err(|_| anyhow::anyhow!("the accounts are already shared"))?;
        registry.file = Some(file);
        Ok(Self {
            inner: Arc::new(registry),
        })
    }

    /// Builds the accounts and pools again if `KEYS_FILE` was reloaded since they were built; a
    /// policy whose accounts cannot be built keeps the previous ones (logged).
    pub fn refresh(&self) {
        let Some(file) = &self.inner.file else {
            return;
        };
        let current = file.current();
        if Arc::ptr_eq(&current, &self.inner.built_from.load()) {
            return;
        }
        let Ok(_rebuilding) = self.inner.rebuilding.lock() else {
            return;
        };
        if Arc::ptr_eq(&current, &self.inner.built_from.load()) {
            return;
        }
        match self.inner.build_targets(&current) {
            Ok(targets) => {
                self.inner.targets.store(Arc::new(targets));
                tracing::info!("GigaChat accounts and pools rebuilt from the reloaded KEYS_FILE");
            }
            Err(err) => {
                tracing::error!(%err, "the reloaded KEYS_FILE's accounts cannot be built; the previous ones stay");
            }
        }
        self.inner.built_from.store(Arc::clone(&current));
    }

    /// The account of `GIGACHAT_*`.
    pub fn default_account(&self) -> &Arc<Account> {
        &self.inner.default
    }

    /// The account named `name`, if it is one (not a pool).
    pub fn account(&self, name: &str) -> Option<Arc<Account>> {
        match self.inner.targets.load().get(name) {
            Some(Target::Account(account)) => Some(account.clone()),
            _ => None,
        }
    }

    /// The accounts to try for `name` (an account or a pool), best first: a pool's accounts out of
    /// their cool-down before those in it (the one whose cool-down ends first before the others),
    /// then the least busy; `None` when nothing has the name.
    pub fn candidates(&self, name: &str) -> Option<Vec<Arc<Account>>> {
        match self.inner.targets.load().get(name)? {
            Target::Account(account) => Some(vec![account.clone()]),
            Target::Pool(accounts) => {
                let now = self.now_ms();
                let mut ordered = accounts.clone();
                // A stable sort: among equals, the pool's own order decides.
                ordered.sort_by_key(|account| {
                    let cool_until = account.cool_until_ms.load(Ordering::Relaxed);
                    // Out of cool-down first; among cooling ones, the one that failed longest ago.
                    let cooling = if cool_until > now { cool_until } else { 0 };
                    (cooling, account.in_flight())
                });
                Some(ordered)
            }
        }
    }

    /// Puts `account` in its cool-down: a pool tries it last for `ACCOUNT_COOLDOWN_SECS`.
    pub fn cool_down(&self, account: &Account) {
        let until = self
            .now_ms()
            .saturating_add(duration_ms(self.inner.tuning.cooldown));
        account.cool_until_ms.store(until, Ordering::Relaxed);
    }

    /// The client account of a caller's own authorization key (`X-GigaChat-Authorization`):
    /// made on first use, kept among the `PASSTHROUGH_CLIENTS_MAX` most recently used, never
    /// shared with another credential.
    pub fn passthrough(&self, credentials: &str) -> Result<Arc<Account>, AppError> {
        let digest: [u8; 32] = sha2::Sha256::digest(credentials.as_bytes()).into();
        let mut cache =
            self.inner.passthrough.lock().map_err(|_| {
                AppError::Internal("the pass-through client cache is poisoned".into())
            })?;
        cache.tick += 1;
        let tick = cache.tick;
        if let Some((account, used)) = cache.clients.get_mut(&digest) {
            *used = tick;
            return Ok(account.clone());
        }
        let mut settings = self.inner.settings.clone();
        settings.credentials = Some(SecretString::from(credentials.to_owned()));
        settings.access_token = None;
        settings.user = None;
        settings.password = None;
        let name: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        let account = build_account(
            format!("passthrough:{name}").into(),
            settings,
            &self.inner.attachments,
            self.inner.tuning.models_ttl,
            None,
            None,
        )
        .map_err(|err| AppError::InvalidRequest {
            message: format!("{PASSTHROUGH_HEADER} cannot be used: {err}"),
            param: None,
        })?;
        if cache.clients.len() >= self.inner.tuning.passthrough_max.max(1)
            && let Some(oldest) = cache
                .clients
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(digest, _)| *digest)
        {
            cache.clients.remove(&oldest);
        }
        cache.clients.insert(digest, (account.clone(), tick));
        Ok(account)
    }

    /// How long a request waits for a slot.
    pub fn queue_timeout(&self) -> Duration {
        self.inner.tuning.queue_timeout
    }

    fn now_ms(&self) -> u64 {
        duration_ms(self.inner.clock.elapsed())
    }
}

impl Registry {
    /// The accounts and pools of `policy` beside `default`; an account configured as before keeps
    /// its client (token, models, slots and in-flight count).
    fn build_targets(&self, policy: &Policy) -> anyhow::Result<Targets> {
        let previous = self.targets.load();
        let mut targets = Targets::new();
        targets.insert(
            DEFAULT_ACCOUNT.into(),
            Target::Account(self.default.clone()),
        );
        for account in &policy.accounts {
            let settings = self.settings_of(account);
            let identity = crate::upstream_identity(&settings);
            let kept = match previous.get(&account.name) {
                Some(Target::Account(old))
                    if old.identity == identity && old.max_concurrent == account.max_concurrent =>
                {
                    Some(old.clone())
                }
                _ => None,
            };
            let built = match kept {
                Some(old) => old,
                None => build_account(
                    account.name.clone(),
                    settings,
                    &self.attachments,
                    self.tuning.models_ttl,
                    account.max_concurrent,
                    account.max_concurrent.map(|max| {
                        Slots::new(&account.name, max, self.tuning.lease, self.redis.clone())
                    }),
                )
                .map_err(|err| anyhow::anyhow!("GigaChat account '{}': {err}", account.name))?,
            };
            targets.insert(account.name.clone(), Target::Account(built));
        }
        for pool in &policy.pools {
            let mut accounts = Vec::with_capacity(pool.accounts.len());
            for member in &pool.accounts {
                match targets.get(member) {
                    Some(Target::Account(account)) => accounts.push(account.clone()),
                    _ => anyhow::bail!("pool '{}' names an unknown account '{member}'", pool.name),
                }
            }
            if accounts.is_empty() {
                anyhow::bail!("pool '{}' has no accounts", pool.name);
            }
            if targets
                .insert(pool.name.clone(), Target::Pool(accounts))
                .is_some()
            {
                anyhow::bail!("the pool '{}' has the name of an account", pool.name);
            }
        }
        Ok(targets)
    }

    /// The default settings with `account`'s credentials and scope.
    fn settings_of(&self, account: &AccountConfig) -> Settings {
        let mut own = self.settings.clone();
        own.credentials = Some(account.credentials.clone());
        own.access_token = None;
        own.user = None;
        own.password = None;
        if let Some(scope) = &account.scope {
            own.scope.clone_from(scope);
        }
        own
    }
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// An account with its own client (and token cache), models list and upload namespace.
fn build_account(
    name: Arc<str>,
    settings: Settings,
    attachments: &Attachments,
    models_ttl: Duration,
    max_concurrent: Option<u32>,
    slots: Option<Slots>,
) -> Result<Arc<Account>, gigachat::Error> {
    let identity = crate::upstream_identity(&settings);
    let client = GigaChat::new(settings)?;
    Ok(Arc::new(Account {
        name,
        attachments: attachments.for_account(client.clone(), identity.clone()),
        identity,
        max_concurrent,
        client,
        models: TimedCache::new(models_ttl),
        in_flight: AtomicUsize::new(0),
        cool_until_ms: AtomicU64::new(0),
        slots,
    }))
}

#[cfg(test)]
mod tests;
