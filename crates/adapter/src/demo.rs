//! `--emulator`: an in-process GigaChat emulator as the upstream, for demos and local development.

use secrecy::SecretString;

use gigachat::Settings;
use gigachat_emulator::{Emulator, EmulatorConfig};

/// The running emulator and the files it needs; keep it alive as long as the adapter runs.
pub struct Demo {
    _emulator: Emulator,
    _dir: tempfile::TempDir,
}

/// Starts the emulator over TLS with its CA trusted through `GIGACHAT_CA_BUNDLE_FILE`'s path, and
/// points `settings` at it.
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
