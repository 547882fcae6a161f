//! Token endpoint answers: OAuth `{access_token, expires_at}` and `/token` `{tok, exp}`.

use serde::Deserialize;

/// A token answer in either of its two shapes.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    /// The opaque bearer token.
    #[serde(alias = "tok")]
    pub access_token: String,
    /// Expiry as a Unix timestamp, in seconds or milliseconds (the client's
    /// `auth::expiry_millis` tells which).
    #[serde(alias = "exp")]
    pub expires_at: i64,
}
