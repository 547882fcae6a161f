//! `GET /balance`: what is left of prepaid token packages.

use serde::{Deserialize, Serialize};

/// The remaining balance per usage kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Balance {
    /// One entry per model family or service.
    pub balance: Vec<BalanceEntry>,
}

/// Remaining tokens for one usage kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BalanceEntry {
    /// What the package is for (`GigaChat`, `embeddings`, ...).
    pub usage: String,
    /// Tokens left.
    pub value: f64,
}
