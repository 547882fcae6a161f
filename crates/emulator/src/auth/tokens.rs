//! Issued access tokens: opaque JWE-looking strings with an expiry, plus static tokens.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use tokio::time::Instant;

use super::{Identity, Scope};
use crate::sync::lock;

/// What the store knows about a presented token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenCheck {
    /// Known and not expired.
    Valid(Identity),
    /// Known but past its expiry.
    Expired,
    /// Never issued, or revoked.
    Unknown,
}

#[derive(Debug)]
struct Issued {
    identity: Identity,
    expires: Instant,
}

/// A freshly issued token.
#[derive(Debug, Clone)]
pub(crate) struct NewToken {
    /// The opaque token text.
    pub(crate) token: String,
    /// Expiry as Unix milliseconds.
    pub(crate) expires_at_ms: u64,
}

/// All tokens the emulator has issued or was configured to accept.
#[derive(Debug)]
pub(crate) struct TokenStore {
    issued: Mutex<HashMap<String, Issued>>,
    static_tokens: Vec<String>,
}

impl TokenStore {
    /// A store that also accepts `static_tokens` forever.
    pub(crate) fn new(static_tokens: Vec<String>) -> Self {
        Self {
            issued: Mutex::new(HashMap::new()),
            static_tokens,
        }
    }

    /// Issues a token for `identity` living `ttl`.
    pub(crate) fn issue(&self, identity: Identity, ttl: Duration) -> NewToken {
        let token = opaque_token();
        let wall = SystemTime::now()
            .checked_add(ttl)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .unwrap_or_default();
        let expires_at_ms = u64::try_from(wall.as_millis()).unwrap_or(u64::MAX);
        lock(&self.issued).insert(
            token.clone(),
            Issued {
                identity,
                expires: Instant::now() + ttl,
            },
        );
        NewToken {
            token,
            expires_at_ms,
        }
    }

    /// Looks a presented token up.
    pub(crate) fn check(&self, token: &str) -> TokenCheck {
        if let Some(index) = self.static_tokens.iter().position(|t| t == token) {
            return TokenCheck::Valid(Identity {
                key: format!("static:{index}"),
                scope: Scope::Pers,
            });
        }
        match lock(&self.issued).get(token) {
            None => TokenCheck::Unknown,
            Some(issued) if Instant::now() >= issued.expires => TokenCheck::Expired,
            Some(issued) => TokenCheck::Valid(issued.identity.clone()),
        }
    }

    /// Makes every issued token expire now.
    pub(crate) fn expire_all(&self) {
        let now = Instant::now();
        for issued in lock(&self.issued).values_mut() {
            issued.expires = now;
        }
    }

    /// Forgets every issued token.
    pub(crate) fn revoke_all(&self) {
        lock(&self.issued).clear();
    }
}

/// A ~1230-character token in JWE compact form: five base64url parts, the first starting `eyJ`.
fn opaque_token() -> String {
    let header = URL_SAFE_NO_PAD.encode(
        br#"{"enc":"A256CBC-HS512","alg":"RSA-OAEP-256","cty":"jwt","kid":"gigachat-emulator"}"#,
    );
    let mut rng = rand::rng();
    let mut part = |len: usize| {
        let mut bytes = vec![0_u8; len];
        rng.fill_bytes(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    };
    let key = part(256);
    let iv = part(16);
    let ciphertext = part(530);
    let tag = part(32);
    format!("{header}.{key}.{iv}.{ciphertext}.{tag}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_looks_like_jwe() {
        let token = opaque_token();
        assert!(token.starts_with("eyJ"));
        assert_eq!(token.split('.').count(), 5);
        assert!((1150..1300).contains(&token.len()), "{}", token.len());
    }
}
