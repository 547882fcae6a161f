//! `--emulator`: an in-process GigaChat emulator as the upstream, for demos and local development.
//!
//! The emulator is linked in by the `emulator` cargo feature (on by default). A lean build
//! (`--no-default-features`) keeps the flag, and refuses it with an error saying how to get it back.

use gigachat::Settings;

#[cfg(feature = "emulator")]
pub use built_in::{Demo, start};
#[cfg(not(feature = "emulator"))]
pub use left_out::{Demo, start};

/// Why `--emulator` fails in a binary built without the `emulator` feature.
pub const LEFT_OUT: &str = "--emulator (GIGACHAT_ADAPTER_EMULATOR) is not available: this binary \
     was built without the built-in GigaChat emulator (cargo build --no-default-features); build \
     with the default features to get it, or configure a real GigaChat (GIGACHAT_CREDENTIALS)";

#[cfg(feature = "emulator")]
mod built_in {
    use secrecy::SecretString;

    use gigachat_emulator::{Emulator, EmulatorConfig};

    use super::Settings;

    /// The running emulator and the files it needs; keep it alive as long as the adapter runs.
    pub struct Demo {
        _emulator: Emulator,
        _dir: tempfile::TempDir,
    }

    /// Starts the emulator over TLS with its CA trusted through `GIGACHAT_CA_BUNDLE_FILE`'s path,
    /// and points `settings` at it.
    pub async fn start(settings: &mut Settings) -> anyhow::Result<Demo> {
        let dir = tempfile::tempdir()?;
        let ca_path = dir.path().join("emulator-ca.pem");
        let emulator = Emulator::start(EmulatorConfig {
            ca_pem_path: Some(ca_path.clone()),
            // The log keeps request bodies (inline images too); a demo needs only the recent ones.
            log_capacity: 100,
            ..EmulatorConfig::default()
        })
        .await?;
        settings.base_url = emulator.api_base_url();
        settings.auth_url = emulator.auth_url();
        settings.credentials = Some(SecretString::from(emulator.credentials_header()));
        settings.access_token = None;
        settings.user = None;
        settings.password = None;
        settings.scope = "GIGACHAT_API_PERS".into();
        settings.ca_bundle_file = Some(ca_path);
        Ok(Demo {
            _emulator: emulator,
            _dir: dir,
        })
    }
}

#[cfg(not(feature = "emulator"))]
mod left_out {
    use super::{LEFT_OUT, Settings};

    /// Never made: this build has no emulator to run.
    pub enum Demo {}

    /// Fails with [`LEFT_OUT`]; `settings` stay as they are.
    pub async fn start(_settings: &mut Settings) -> anyhow::Result<Demo> {
        anyhow::bail!(LEFT_OUT)
    }
}
