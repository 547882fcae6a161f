//! Authentication: OAuth and `/token` issuance, the token store, and bearer/mTLS checks on the API.

pub(crate) mod bearer;
pub(crate) mod oauth;
pub(crate) mod tokens;

/// The scope an identity acts under; decides e.g. whether `/balance` is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// `GIGACHAT_API_PERS`: individuals.
    Pers,
    /// `GIGACHAT_API_B2B`: businesses, prepaid packages.
    B2b,
    /// `GIGACHAT_API_CORP`: businesses, pay-as-you-go.
    Corp,
}

impl Scope {
    /// Parses a scope name as sent in the OAuth form.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            "GIGACHAT_API_PERS" => Some(Self::Pers),
            "GIGACHAT_API_B2B" => Some(Self::B2b),
            "GIGACHAT_API_CORP" => Some(Self::Corp),
            _ => None,
        }
    }
}

/// Who is calling the API: the unit for files, prompt cache and concurrency limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    /// Stable key, e.g. `key:<client_id>`, `user:<name>`, `static:<n>`, `cert:<CN>`.
    pub(crate) key: String,
    /// The scope the identity acts under.
    pub(crate) scope: Scope,
}
