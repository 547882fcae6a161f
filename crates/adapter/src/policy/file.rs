//! `KEYS_FILE` read into a [`Policy`]: the TOML is parsed, checked as a whole (names, digests,
//! references between keys, accounts and pools), and refused with an error naming the entry at
//! fault, so a broken file never replaces a good one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use secrecy::SecretString;
use serde::Deserialize;
use sha2::Digest as _;

use super::{Caller, Limits};

/// The account `BEARER_TOKEN` keys use, and file keys that name none: the `GIGACHAT_*` one.
pub const DEFAULT_ACCOUNT: &str = "default";

/// A checked keys file: its keys (found by the SHA-256 digest of the presented secret), its
/// GigaChat accounts and its pools of accounts.
#[derive(Debug, Default)]
pub struct Policy {
    /// The keys in file order.
    keys: Vec<Arc<KeyPolicy>>,
    /// Each key's position in `keys`, by the digest of its secret.
    by_digest: HashMap<[u8; 32], usize>,
    /// The GigaChat accounts besides [`DEFAULT_ACCOUNT`], in name order.
    pub accounts: Vec<Account>,
    /// The pools of accounts, in name order.
    pub pools: Vec<Pool>,
}

/// One key of the file: who it is and what it may use.
#[derive(Debug)]
pub struct KeyPolicy {
    /// Its name, limits and account, as the gate hands them on.
    pub caller: Caller,
    /// Globs (`*` is any run of characters) over the model a request names; `None` allows all.
    pub models: Option<Vec<String>>,
    /// When it stops being accepted.
    pub expires: Option<Expiry>,
}

/// A key's expiry: the instant, and how the file wrote it (RFC 3339).
#[derive(Debug, Clone)]
pub struct Expiry {
    /// The instant from which the key is refused.
    pub at: SystemTime,
    /// The RFC 3339 text it was read from.
    pub text: String,
}

/// A GigaChat account of the file.
#[derive(Debug)]
pub struct Account {
    /// Its name, which keys and pools refer to.
    pub name: Arc<str>,
    /// Its GigaChat authorization key (read from `credentials_env`, or given inline).
    pub credentials: SecretString,
    /// Its API scope (`None`: `GIGACHAT_SCOPE`).
    pub scope: Option<String>,
    /// Most requests it serves at once (`None`: no limit).
    pub max_concurrent: Option<u32>,
}

/// Accounts that share the load of the keys pointing at the pool.
#[derive(Debug)]
pub struct Pool {
    /// Its name, which keys refer to.
    pub name: Arc<str>,
    /// Its accounts' names ([`DEFAULT_ACCOUNT`] among them, maybe), in the file's order.
    pub accounts: Vec<Arc<str>>,
}

/// Why a keys file was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not TOML, or not the keys file's layout (an unknown field, a wrong type).
    #[error("{0}")]
    Syntax(Box<toml::de::Error>),
    /// An entry is wrong.
    #[error("{entry}: {reason}")]
    Entry {
        /// Which entry (`keys[2] "alice"`, `accounts.team-a`, `pools.shared`).
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The SHA-256 digest of a key's secret: what the file stores and what a presented key is looked
/// up by.
pub fn digest_of(secret: &str) -> [u8; 32] {
    sha2::Sha256::digest(secret.as_bytes()).into()
}

impl Policy {
    /// Reads and checks the keys file at `path`; `credentials_env` variables are read from the
    /// process environment.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, |name| std::env::var(name).ok())
    }

    /// Parses and checks a keys file's text; `env` reads the variables `credentials_env` names.
    pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, PolicyError> {
        let raw: RawFile =
            toml::from_str(text).map_err(|err| PolicyError::Syntax(Box::new(err)))?;
        let accounts = raw
            .accounts
            .into_iter()
            .map(|(name, account)| account.check(name, &env))
            .collect::<Result<Vec<_>, _>>()?;
        let account_names: HashSet<&str> = accounts
            .iter()
            .map(|account| &*account.name)
            .chain([DEFAULT_ACCOUNT])
            .collect();
        let pools = raw
            .pools
            .into_iter()
            .map(|(name, pool)| pool.check(name, &account_names))
            .collect::<Result<Vec<_>, _>>()?;
        let targets: HashSet<&str> = account_names
            .iter()
            .copied()
            .chain(pools.iter().map(|pool| &*pool.name))
            .collect();
        let mut keys = Vec::with_capacity(raw.keys.len());
        let mut by_digest = HashMap::with_capacity(raw.keys.len());
        let mut names = HashSet::with_capacity(raw.keys.len());
        for (index, key) in raw.keys.into_iter().enumerate() {
            let entry = format!("keys[{index}] {:?}", key.name);
            let (digest, key) = key.check(&targets).map_err(|reason| PolicyError::Entry {
                entry: entry.clone(),
                reason,
            })?;
            let refuse = |reason: &str| PolicyError::Entry {
                entry: entry.clone(),
                reason: reason.to_owned(),
            };
            if !names.insert(key.caller.name.clone()) {
                return Err(refuse("another key has this name"));
            }
            if by_digest.insert(digest, index).is_some() {
                return Err(refuse("another key has the same sha256 (the same secret)"));
            }
            keys.push(Arc::new(key));
        }
        Ok(Self {
            keys,
            by_digest,
            accounts,
            pools,
        })
    }

    /// The key whose secret is `presented`. The lookup is by the secret's SHA-256 digest, so its
    /// time depends on the digest, never on how much of the secret matched a stored one.
    pub fn key(&self, presented: &str) -> Option<&Arc<KeyPolicy>> {
        self.by_digest
            .get(&digest_of(presented))
            .and_then(|index| self.keys.get(*index))
    }

    /// The keys, in file order.
    pub fn keys(&self) -> &[Arc<KeyPolicy>] {
        &self.keys
    }

    /// The account named `name` (not [`DEFAULT_ACCOUNT`], which the file does not describe).
    pub fn account(&self, name: &str) -> Option<&Account> {
        self.accounts.iter().find(|account| &*account.name == name)
    }

    /// The pool named `name`.
    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools.iter().find(|pool| &*pool.name == name)
    }
}

impl KeyPolicy {
    /// Whether the key may use `model` (the name the request gave, or the default it gets).
    pub fn allows_model(&self, model: &str) -> bool {
        self.models.as_ref().is_none_or(|globs| {
            globs
                .iter()
                .any(|glob| translate::request::wildcard_match(glob, model))
        })
    }

    /// Whether the key has expired at `now`.
    pub fn expired(&self, now: SystemTime) -> bool {
        self.expires.as_ref().is_some_and(|expiry| now >= expiry.at)
    }
}

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    accounts: BTreeMap<String, RawAccount>,
    #[serde(default)]
    pools: BTreeMap<String, RawPool>,
    #[serde(default)]
    keys: Vec<RawKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    credentials_env: Option<String>,
    credentials: Option<String>,
    scope: Option<String>,
    max_concurrent: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    accounts: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    name: String,
    sha256: String,
    models: Option<Vec<String>>,
    account: Option<String>,
    expires: Option<toml::Value>,
    #[serde(default)]
    limits: RawLimits,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    requests_per_minute: Option<u32>,
    tokens_per_minute: Option<u64>,
    tokens_per_day: Option<u64>,
    concurrent: Option<u32>,
}

/// The error of an entry whose name is wrong, or `None`.
fn name_problem(name: &str) -> Option<String> {
    (!crate::auth::is_valid_name(name))
        .then(|| "the name must be 1 to 64 letters, digits, `.`, `_` or `-`".to_owned())
}

impl RawAccount {
    fn check(
        self,
        name: String,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Account, PolicyError> {
        let refuse = |reason: String| PolicyError::Entry {
            entry: format!("accounts.{name}"),
            reason,
        };
        if let Some(problem) = name_problem(&name) {
            return Err(refuse(problem));
        }
        if name == DEFAULT_ACCOUNT {
            return Err(refuse(format!(
                "`{DEFAULT_ACCOUNT}` is the GIGACHAT_* account and cannot be redefined"
            )));
        }
        let credentials = match (self.credentials_env, self.credentials) {
            (Some(variable), None) => match env(&variable).filter(|v| !v.trim().is_empty()) {
                Some(value) => value.trim().to_owned(),
                None => return Err(refuse(format!("the variable {variable} is not set"))),
            },
            (None, Some(inline)) if !inline.trim().is_empty() => inline.trim().to_owned(),
            (None, Some(_)) => return Err(refuse("`credentials` is empty".to_owned())),
            (Some(_), Some(_)) => {
                return Err(refuse(
                    "give `credentials_env` or `credentials`, not both".to_owned(),
                ));
            }
            (None, None) => {
                return Err(refuse(
                    "needs `credentials_env` (a variable holding the authorization key) or \
                     `credentials`"
                        .to_owned(),
                ));
            }
        };
        if self.max_concurrent == Some(0) {
            return Err(refuse(
                "`max_concurrent` is 0, which would serve nothing; leave it out for no limit"
                    .to_owned(),
            ));
        }
        Ok(Account {
            name: Arc::from(name),
            credentials: SecretString::from(credentials),
            scope: self.scope.filter(|scope| !scope.trim().is_empty()),
            max_concurrent: self.max_concurrent,
        })
    }
}

impl RawPool {
    fn check(self, name: String, accounts: &HashSet<&str>) -> Result<Pool, PolicyError> {
        let refuse = |reason: String| PolicyError::Entry {
            entry: format!("pools.{name}"),
            reason,
        };
        if let Some(problem) = name_problem(&name) {
            return Err(refuse(problem));
        }
        if accounts.contains(name.as_str()) {
            return Err(refuse("an account has this name".to_owned()));
        }
        if self.accounts.is_empty() {
            return Err(refuse("`accounts` is empty".to_owned()));
        }
        let mut seen = HashSet::new();
        for account in &self.accounts {
            if !accounts.contains(account.as_str()) {
                return Err(refuse(format!("no account is named {account:?}")));
            }
            if !seen.insert(account.as_str()) {
                return Err(refuse(format!("{account:?} is listed twice")));
            }
        }
        Ok(Pool {
            name: Arc::from(name),
            accounts: self.accounts.into_iter().map(Arc::from).collect(),
        })
    }
}

impl RawKey {
    /// The key's digest and policy, or what is wrong with it.
    fn check(self, targets: &HashSet<&str>) -> Result<([u8; 32], KeyPolicy), String> {
        if let Some(problem) = name_problem(&self.name) {
            return Err(problem);
        }
        let digest = parse_digest(&self.sha256).ok_or_else(|| {
            "`sha256` must be the 64 hex digits of the secret's SHA-256 digest (never the secret)"
                .to_owned()
        })?;
        if let Some(models) = &self.models {
            if models.is_empty() {
                return Err(
                    "`models` is empty, which allows no model; leave it out to allow all"
                        .to_owned(),
                );
            }
            if models.iter().any(|glob| glob.trim().is_empty()) {
                return Err("`models` has an empty pattern".to_owned());
            }
        }
        let account = self.account.unwrap_or_else(|| DEFAULT_ACCOUNT.to_owned());
        if !targets.contains(account.as_str()) {
            return Err(format!("no account or pool is named {account:?}"));
        }
        let expires = self.expires.map(parse_expiry).transpose()?;
        let limits = self.limits.check()?;
        Ok((
            digest,
            KeyPolicy {
                caller: Caller {
                    name: Arc::from(self.name),
                    limits,
                    account: Arc::from(account),
                },
                models: self
                    .models
                    .map(|models| models.into_iter().map(|m| m.trim().to_owned()).collect()),
                expires,
            },
        ))
    }
}

impl RawLimits {
    fn check(self) -> Result<Limits, String> {
        let zero = [
            (
                "requests_per_minute",
                self.requests_per_minute.map(u64::from),
            ),
            ("tokens_per_minute", self.tokens_per_minute),
            ("tokens_per_day", self.tokens_per_day),
            ("concurrent", self.concurrent.map(u64::from)),
        ]
        .into_iter()
        .find(|(_, value)| *value == Some(0));
        if let Some((field, _)) = zero {
            return Err(format!(
                "`limits.{field}` is 0, which would refuse every request; leave it out for no limit"
            ));
        }
        Ok(Limits {
            requests_per_minute: self.requests_per_minute,
            tokens_per_minute: self.tokens_per_minute,
            tokens_per_day: self.tokens_per_day,
            concurrent: self.concurrent,
        })
    }
}

/// 64 hex digits (either case) as the 32 bytes they spell.
fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim().as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(hex.chunks_exact(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(text, 16).ok()?;
    }
    Some(digest)
}

/// `expires`: an RFC 3339 string or a TOML offset date-time, with its offset.
fn parse_expiry(value: toml::Value) -> Result<Expiry, String> {
    const WANTED: &str = "`expires` must be an RFC 3339 date-time with an offset, like \
                          \"2027-01-01T00:00:00Z\"";
    let datetime = match value {
        toml::Value::Datetime(datetime) => datetime,
        toml::Value::String(text) => text
            .trim()
            .parse::<toml::value::Datetime>()
            .map_err(|_| WANTED.to_owned())?,
        _ => return Err(WANTED.to_owned()),
    };
    let (Some(date), Some(time), Some(offset)) = (datetime.date, datetime.time, datetime.offset)
    else {
        return Err(WANTED.to_owned());
    };
    let offset_minutes = match offset {
        toml::value::Offset::Z => 0,
        toml::value::Offset::Custom { minutes } => i64::from(minutes),
    };
    let days = days_from_civil(
        i64::from(date.year),
        i64::from(date.month),
        i64::from(date.day),
    );
    let seconds = days * 86_400
        + i64::from(time.hour) * 3600
        + i64::from(time.minute) * 60
        + i64::from(time.second.unwrap_or(0))
        - offset_minutes * 60;
    let nanos = time.nanosecond.unwrap_or(0);
    let at = if seconds >= 0 {
        SystemTime::UNIX_EPOCH + Duration::new(seconds.unsigned_abs(), nanos)
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs())
            + Duration::from_nanos(u64::from(nanos))
    };
    Ok(Expiry {
        at,
        text: datetime.to_string(),
    })
}

/// Days from 1970-01-01 to the proleptic Gregorian `year`-`month`-`day` (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(secret: &str) -> String {
        digest_of(secret)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    fn env(name: &str) -> Option<String> {
        (name == "TEAM_A_CREDS").then(|| "dGVhbS1hOnNlY3JldA==".to_owned())
    }

    fn example() -> String {
        format!(
            r#"
[accounts.team-a]
credentials_env = "TEAM_A_CREDS"
scope = "GIGACHAT_API_CORP"
max_concurrent = 1

[accounts.team-b]
credentials = "aW5saW5l"

[pools.shared]
accounts = ["default", "team-a"]

[[keys]]
name = "alice"
sha256 = "{alice}"
models = ["GigaChat-2*", "gpt-4o"]
account = "shared"
expires = "2027-01-01T00:00:00Z"
[keys.limits]
requests_per_minute = 60
tokens_per_minute = 100000
tokens_per_day = 1000000
concurrent = 4

[[keys]]
name = "bob"
sha256 = "{bob}"
expires = 2026-06-01T12:00:00+03:00
"#,
            alice = hex("sk-alice"),
            bob = hex("sk-bob").to_uppercase(),
        )
    }

    #[test]
    fn the_documented_example_parses() {
        let policy = Policy::parse(&example(), env).unwrap();
        let alice = policy.key("sk-alice").unwrap();
        assert_eq!(&*alice.caller.name, "alice");
        assert_eq!(&*alice.caller.account, "shared");
        assert_eq!(
            alice.caller.limits,
            Limits {
                requests_per_minute: Some(60),
                tokens_per_minute: Some(100_000),
                tokens_per_day: Some(1_000_000),
                concurrent: Some(4),
            }
        );
        assert!(alice.allows_model("GigaChat-2-Max"));
        assert!(alice.allows_model("gpt-4o"));
        assert!(!alice.allows_model("gpt-4o-mini"));
        assert!(!alice.allows_model("GigaChat"));
        let expiry = alice.expires.as_ref().unwrap();
        assert_eq!(
            expiry.at,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_798_761_600)
        );
        assert!(!alice.expired(SystemTime::UNIX_EPOCH + Duration::from_secs(1_798_761_599)));
        assert!(alice.expired(expiry.at));
        // Upper-case digests and TOML's own date-times work; an absent account is the default.
        let bob = policy.key("sk-bob").unwrap();
        assert_eq!(&*bob.caller.account, DEFAULT_ACCOUNT);
        assert_eq!(bob.caller.limits, Limits::default());
        assert!(bob.allows_model("anything"));
        assert_eq!(
            bob.expires.as_ref().unwrap().at,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_304_400)
        );
        assert!(policy.key("sk-carol").is_none());
        assert!(
            policy.key(&hex("sk-alice")).is_none(),
            "the digest is not the key"
        );
        let names: Vec<&str> = policy.keys().iter().map(|k| &*k.caller.name).collect();
        assert_eq!(names, ["alice", "bob"]);
        let team_a = policy.account("team-a").unwrap();
        assert_eq!(
            secrecy::ExposeSecret::expose_secret(&team_a.credentials),
            "dGVhbS1hOnNlY3JldA=="
        );
        assert_eq!(team_a.scope.as_deref(), Some("GIGACHAT_API_CORP"));
        assert_eq!(team_a.max_concurrent, Some(1));
        assert_eq!(policy.account("team-b").unwrap().scope, None);
        let pool: Vec<&str> = policy
            .pool("shared")
            .unwrap()
            .accounts
            .iter()
            .map(|a| &**a)
            .collect();
        assert_eq!(pool, ["default", "team-a"]);
    }

    #[test]
    fn an_empty_file_has_no_keys() {
        let policy = Policy::parse("", env).unwrap();
        assert!(policy.keys().is_empty() && policy.accounts.is_empty() && policy.pools.is_empty());
    }

    /// Each broken file is refused with an error naming the entry and what is wrong.
    #[test]
    fn broken_files_name_the_entry() {
        let digest = hex("sk-x");
        let key = |extra: &str| format!("[[keys]]\nname = \"x\"\nsha256 = \"{digest}\"\n{extra}\n");
        for (text, expected) in [
            (
                key("account = \"nobody\""),
                r#"keys[0] "x": no account or pool is named "nobody""#,
            ),
            (
                "[[keys]]\nname = \"x\"\nsha256 = \"abc\"\n".to_owned(),
                "keys[0] \"x\": `sha256` must be the 64 hex digits",
            ),
            (
                format!("[[keys]]\nname = \"x\"\nsha256 = \"{}\"\n", "g".repeat(64)),
                "`sha256` must be",
            ),
            (
                format!("{}{}", key(""), key("").replace(&digest, &hex("sk-y"))),
                r#"keys[1] "x": another key has this name"#,
            ),
            (
                format!(
                    "{}{}",
                    key(""),
                    key("").replace("name = \"x\"", "name = \"y\"")
                ),
                r#"keys[1] "y": another key has the same sha256"#,
            ),
            (key("models = []"), "`models` is empty"),
            (
                key("expires = \"next year\""),
                "`expires` must be an RFC 3339",
            ),
            (
                key("expires = 2027-01-01T00:00:00"),
                "`expires` must be an RFC 3339",
            ),
            (key("expires = 2027-01-01"), "`expires` must be an RFC 3339"),
            (
                key("[keys.limits]\nconcurrent = 0"),
                "`limits.concurrent` is 0",
            ),
            (
                key("[keys.limits]\nrequests_per_hour = 5"),
                "unknown field `requests_per_hour`",
            ),
            (key("modles = [\"x\"]"), "unknown field `modles`"),
            (
                "[[keys]]\nname = \"bad name\"\nsha256 = \"\"\n".to_owned(),
                r#"keys[0] "bad name": the name must be"#,
            ),
            (
                "[accounts.team-a]\ncredentials_env = \"UNSET_VARIABLE\"\n".to_owned(),
                "accounts.team-a: the variable UNSET_VARIABLE is not set",
            ),
            (
                "[accounts.team-a]\ncredentials = \"x\"\ncredentials_env = \"TEAM_A_CREDS\"\n"
                    .to_owned(),
                "accounts.team-a: give `credentials_env` or `credentials`, not both",
            ),
            (
                "[accounts.team-a]\nscope = \"x\"\n".to_owned(),
                "accounts.team-a: needs",
            ),
            (
                "[accounts.default]\ncredentials = \"x\"\n".to_owned(),
                "accounts.default: `default` is the GIGACHAT_* account",
            ),
            (
                "[accounts.a]\ncredentials = \"x\"\nmax_concurrent = 0\n".to_owned(),
                "accounts.a: `max_concurrent` is 0",
            ),
            (
                "[pools.p]\naccounts = [\"default\", \"ghost\"]\n".to_owned(),
                r#"pools.p: no account is named "ghost""#,
            ),
            (
                "[pools.p]\naccounts = []\n".to_owned(),
                "pools.p: `accounts` is empty",
            ),
            (
                "[pools.p]\naccounts = [\"default\", \"default\"]\n".to_owned(),
                r#"pools.p: "default" is listed twice"#,
            ),
            (
                "[accounts.a]\ncredentials = \"x\"\n[pools.a]\naccounts = [\"default\"]\n"
                    .to_owned(),
                "pools.a: an account has this name",
            ),
            (
                "[pools.p]\naccounts = [\"default\"]\n[pools.q]\naccounts = [\"p\"]\n".to_owned(),
                r#"pools.q: no account is named "p""#,
            ),
            ("keys = [".to_owned(), "TOML parse error"),
        ] {
            let err = Policy::parse(&text, env).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{text}\n→ {err}\nexpected: {expected}"
            );
        }
    }

    #[test]
    fn dates_count_days_from_the_epoch() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2027, 1, 1), 20_819);
    }
}
