//! The library's error type: what can go wrong while starting or driving an emulator.

use std::io;

/// Everything that can fail in the emulator's public API.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// A listener could not be bound or accepted from.
    #[error("listener I/O error: {0}")]
    Io(#[from] io::Error),
    /// Generating a certificate or key with rcgen failed.
    #[error("certificate generation failed: {0}")]
    Certificate(#[from] rcgen::Error),
    /// Building the rustls server configuration failed.
    #[error("TLS configuration failed: {0}")]
    Tls(#[from] rustls::Error),
    /// Building the client-certificate verifier failed.
    #[error("client certificate verifier failed: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// An operation needs TLS but the emulator runs plain HTTP.
    #[error("the emulator runs without TLS")]
    TlsDisabled,
    /// The replay cassettes could not be loaded.
    #[error("cannot load cassettes: {0}")]
    Replay(String),
}
