//! `KEYS_FILE` kept current without a restart: its modification time and size are polled, SIGHUP
//! forces a read, and only a file that passes every check replaces the policy in use (swapped
//! atomically, so a request sees the old policy or the new one, never a mix).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use super::{Policy, PolicyError};

/// The keys file and the policy last read from it.
pub struct PolicyFile {
    path: PathBuf,
    /// Names a file key may not take (the `BEARER_TOKEN` keys'), so metrics and limits never mix
    /// two keys.
    reserved: Vec<Arc<str>>,
    current: ArcSwap<Policy>,
    /// The file as last looked at: a change of it means a read.
    seen: Mutex<Stamp>,
    failures: AtomicU64,
}

/// What the poll compares: the file's modification time and size, or its absence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stamp {
    Present {
        modified: Option<SystemTime>,
        len: u64,
    },
    Missing,
}

impl Stamp {
    fn of(path: &Path) -> Self {
        match std::fs::metadata(path) {
            Ok(metadata) => Stamp::Present {
                modified: metadata.modified().ok(),
                len: metadata.len(),
            },
            Err(_) => Stamp::Missing,
        }
    }
}

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reloaded {
    /// The file has not changed since it was last read.
    Unchanged,
    /// The new policy is in use; it has this many keys.
    Loaded(usize),
    /// The file was refused; the last good policy stays in use.
    Failed,
}

impl PolicyFile {
    /// Reads `path`, which must hold a good policy whose key names are none of `reserved`: a
    /// server does not start with a broken keys file.
    pub fn open(path: &Path, reserved: Vec<Arc<str>>) -> Result<Self, PolicyError> {
        let stamp = Stamp::of(path);
        let policy = read(path, &reserved)?;
        tracing::info!(path = %path.display(), keys = policy.keys().len(), "KEYS_FILE loaded");
        Ok(Self {
            path: path.to_owned(),
            reserved,
            current: ArcSwap::from_pointee(policy),
            seen: Mutex::new(stamp),
            failures: AtomicU64::new(0),
        })
    }

    /// The policy in use.
    pub fn current(&self) -> arc_swap::Guard<Arc<Policy>> {
        self.current.load()
    }

    /// How many reads of the file were refused since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Reads the file again if its modification time or size changed since it was last read.
    pub fn reload_if_changed(&self) -> Reloaded {
        let stamp = Stamp::of(&self.path);
        {
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            if *seen == stamp {
                return Reloaded::Unchanged;
            }
            *seen = stamp;
        }
        self.read_and_swap()
    }

    /// Reads the file now (SIGHUP), changed or not.
    pub fn reload(&self) -> Reloaded {
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = Stamp::of(&self.path);
        self.read_and_swap()
    }

    /// Reads the file; a good policy replaces the one in use, a broken one is logged and counted.
    fn read_and_swap(&self) -> Reloaded {
        match read(&self.path, &self.reserved) {
            Ok(policy) => {
                let keys = policy.keys().len();
                self.current.store(Arc::new(policy));
                tracing::info!(path = %self.path.display(), keys, "KEYS_FILE reloaded");
                Reloaded::Loaded(keys)
            }
            Err(err) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    path = %self.path.display(),
                    error = %err,
                    "KEYS_FILE refused; the last good policy stays in use"
                );
                Reloaded::Failed
            }
        }
    }

    /// Polls the file every `every` (never when zero) and reads it on SIGHUP, on the current
    /// runtime, for as long as it runs. The file is looked at on a blocking thread.
    pub fn watch(self: &Arc<Self>, every: Duration) {
        let file = self.clone();
        tokio::spawn(async move {
            let mut hangups = hangups();
            let mut poll = (!every.is_zero()).then(|| {
                let mut poll = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                poll
            });
            loop {
                let forced = tokio::select! {
                    () = tick(poll.as_mut()) => false,
                    () = hangup(hangups.as_mut()) => true,
                };
                if forced {
                    tracing::info!("SIGHUP: reading KEYS_FILE again");
                }
                let file = file.clone();
                let reloaded = tokio::task::spawn_blocking(move || {
                    if forced {
                        file.reload()
                    } else {
                        file.reload_if_changed()
                    }
                })
                .await;
                if let Err(err) = reloaded {
                    tracing::error!(%err, "the KEYS_FILE reload task failed");
                }
            }
        });
    }
}

/// The policy in `path`, refused when a key takes one of the `reserved` names.
fn read(path: &Path, reserved: &[Arc<str>]) -> Result<Policy, PolicyError> {
    let policy = Policy::load(path)?;
    if let Some((index, key)) = policy
        .keys()
        .iter()
        .enumerate()
        .find(|(_, key)| reserved.contains(&key.caller.name))
    {
        return Err(PolicyError::Entry {
            entry: format!("keys[{index}] {:?}", key.caller.name),
            reason: "a BEARER_TOKEN key has this name".to_owned(),
        });
    }
    Ok(policy)
}

/// The next poll, or never.
async fn tick(poll: Option<&mut tokio::time::Interval>) {
    match poll {
        Some(poll) => {
            poll.tick().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(unix)]
type Hangups = tokio::signal::unix::Signal;
#[cfg(not(unix))]
type Hangups = ();

/// SIGHUP, listened to from now on (so it no longer ends the process); none where there is no
/// such signal, or it cannot be listened to.
fn hangups() -> Option<Hangups> {
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(signal) => Some(signal),
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGHUP; KEYS_FILE is only polled");
                None
            }
        }
    }
    #[cfg(not(unix))]
    None
}

/// The next SIGHUP, or never.
async fn hangup(hangups: Option<&mut Hangups>) {
    #[cfg(unix)]
    if let Some(signal) = hangups
        && signal.recv().await.is_some()
    {
        return;
    }
    #[cfg(not(unix))]
    let _ = hangups;
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, secret: &str) -> String {
        let hex: String = super::super::digest_of(secret)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        format!("[[keys]]\nname = \"{name}\"\nsha256 = \"{hex}\"\n")
    }

    #[test]
    fn a_changed_file_is_read_and_a_broken_one_keeps_the_last_good() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        std::fs::write(&path, key("alice", "sk-a")).unwrap();
        let file = PolicyFile::open(&path, vec![Arc::from("ops")]).unwrap();
        assert_eq!(file.reload_if_changed(), Reloaded::Unchanged);
        std::fs::write(&path, key("alice", "sk-a") + &key("bob", "sk-b")).unwrap();
        assert_eq!(file.reload_if_changed(), Reloaded::Loaded(2));
        assert!(file.current().key("sk-b").is_some());
        std::fs::write(&path, "[[keys]]\nname = \"broken\"\n").unwrap();
        assert_eq!(file.reload_if_changed(), Reloaded::Failed);
        assert_eq!(file.failures(), 1);
        assert!(
            file.current().key("sk-b").is_some(),
            "the last good policy stays"
        );
        // Unchanged since the failure: not read (nor counted) again until it changes or SIGHUP.
        assert_eq!(file.reload_if_changed(), Reloaded::Unchanged);
        assert_eq!(file.reload(), Reloaded::Failed);
        assert_eq!(file.failures(), 2);
        // A BEARER_TOKEN name is refused too; a deleted file keeps the last good policy.
        std::fs::write(&path, key("ops", "sk-o")).unwrap();
        assert_eq!(file.reload(), Reloaded::Failed);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(file.reload_if_changed(), Reloaded::Failed);
        assert_eq!(file.failures(), 4);
        assert!(file.current().key("sk-a").is_some());
        assert!(file.current().key("sk-o").is_none());
        std::fs::write(&path, key("carol", "sk-c")).unwrap();
        assert_eq!(file.reload_if_changed(), Reloaded::Loaded(1));
        assert!(file.current().key("sk-a").is_none());
    }

    #[test]
    fn a_broken_file_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        std::fs::write(&path, key("ops", "sk-o")).unwrap();
        let err = PolicyFile::open(&path, vec![Arc::from("ops")])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("a BEARER_TOKEN key has this name"), "{err}");
        let err = PolicyFile::open(&dir.path().join("absent.toml"), Vec::new())
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("cannot read"), "{err}");
    }
}
