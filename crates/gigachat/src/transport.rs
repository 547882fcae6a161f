//! The two HTTP clients (API host and OAuth host): rustls with the Russian Trusted Root CA beside
//! the system roots, HTTP/2 by ALPN with HTTP/1.1 fallback, pooled connections, and the client
//! certificate presented to the API host only.
//!
//! The API client is built once per thread that calls GigaChat, each with its own connection
//! pool: a connection's I/O task then runs on the thread whose requests use it, so a call does not
//! hop between threads (on a thread-per-core server, every wake-up of the other thread costs an
//! inter-processor interrupt).

use std::path::Path;
use std::sync::Arc;

use thread_local::ThreadLocal;

use reqwest::{Certificate, Identity};
use secrecy::{ExposeSecret, SecretString};

use crate::error::Error;
use crate::settings::Settings;

/// The root that signs GigaChat's TLS chains (НУЦ Минцифры), bundled so no system setup is needed.
pub const RUSSIAN_TRUSTED_ROOT_CA_PEM: &[u8] =
    include_bytes!("../certs/russian_trusted_root_ca.pem");

/// Idle pooled connections are dropped before the upstream's 15 s keep-alive closes them under us.
const POOL_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The pair of HTTP clients a GigaChat client needs.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    /// Talks to the API host (and `/token`); presents the client certificate when configured.
    api: Arc<ApiClients>,
    /// Talks to the OAuth host; never presents a client certificate.
    pub(crate) oauth: reqwest::Client,
}

/// One API client per calling thread, all built alike.
struct ApiClients {
    settings: Settings,
    roots: Vec<Certificate>,
    identity: Option<Identity>,
    per_thread: ThreadLocal<reqwest::Client>,
}

impl std::fmt::Debug for ApiClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClients")
            .field("roots", &self.roots.len())
            .field("identity", &self.identity.is_some())
            .finish_non_exhaustive()
    }
}

impl ApiClients {
    fn build(&self) -> Result<reqwest::Client, Error> {
        let mut api = builder(&self.settings, &self.roots);
        if let Some(identity) = &self.identity {
            api = api.identity(identity.clone());
        }
        api.build()
            .map_err(|err| Error::Config(format!("cannot build the API HTTP client: {err}")))
    }
}

impl Transport {
    pub(crate) fn new(settings: &Settings) -> Result<Self, Error> {
        let roots = trusted_roots(settings)?;
        if !settings.verify_ssl_certs {
            tracing::warn!(
                "GIGACHAT_VERIFY_SSL_CERTS=false: TLS certificates of GigaChat are NOT verified; \
                 anyone on the network path can read and alter traffic, including credentials. \
                 Use GIGACHAT_CA_BUNDLE_FILE instead outside development."
            );
        }
        let oauth = builder(settings, &roots)
            .build()
            .map_err(|err| Error::Config(format!("cannot build the OAuth HTTP client: {err}")))?;
        let api = ApiClients {
            settings: settings.clone(),
            identity: client_identity(settings)?,
            roots,
            per_thread: ThreadLocal::new(),
        };
        // Build this thread's client now, so a bad setting fails at start, not on the first call.
        api.per_thread.get_or_try(|| api.build())?;
        Ok(Self {
            api: Arc::new(api),
            oauth,
        })
    }

    /// The API client of the calling thread.
    pub(crate) fn api(&self) -> Result<&reqwest::Client, Error> {
        self.api.per_thread.get_or_try(|| self.api.build())
    }
}

fn builder(settings: &Settings, roots: &[Certificate]) -> reqwest::ClientBuilder {
    let mut builder = reqwest::Client::builder()
        .tls_backend_rustls()
        .tls_certs_merge(roots.iter().cloned())
        .connect_timeout(settings.connect_timeout)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .tcp_nodelay(true)
        // hyper's fixed HTTP/2 windows (2 MiB a stream, 5 MiB a connection) cover GigaChat's
        // answers; an adaptive window would add a PING round trip to every answer.
        .user_agent(concat!("gigachat-rs/", env!("CARGO_PKG_VERSION")));
    if let Some(max) = settings.max_connections {
        builder = builder.pool_max_idle_per_host(max);
    }
    if !settings.verify_ssl_certs {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    builder
}

/// The bundled Russian root plus everything in `GIGACHAT_CA_BUNDLE_FILE`.
fn trusted_roots(settings: &Settings) -> Result<Vec<Certificate>, Error> {
    let mut roots = Certificate::from_pem_bundle(RUSSIAN_TRUSTED_ROOT_CA_PEM)
        .map_err(|err| Error::Config(format!("bundled Russian Trusted Root CA: {err}")))?;
    if let Some(path) = &settings.ca_bundle_file {
        let pem = read_file("GIGACHAT_CA_BUNDLE_FILE", path)?;
        let extra = Certificate::from_pem_bundle(&pem).map_err(|err| {
            Error::Config(format!(
                "GIGACHAT_CA_BUNDLE_FILE={}: not a PEM certificate bundle: {err}",
                path.display()
            ))
        })?;
        if extra.is_empty() {
            return Err(Error::Config(format!(
                "GIGACHAT_CA_BUNDLE_FILE={}: no certificates found",
                path.display()
            )));
        }
        roots.extend(extra);
    }
    Ok(roots)
}

fn read_file(variable: &str, path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path)
        .map_err(|err| Error::Config(format!("{variable}={}: {err}", path.display())))
}

/// The mTLS identity from `GIGACHAT_CERT_FILE` and `GIGACHAT_KEY_FILE` (decrypted with `GIGACHAT_KEY_FILE_PASSWORD`).
fn client_identity(settings: &Settings) -> Result<Option<Identity>, Error> {
    let (Some(cert_path), Some(key_path)) = (&settings.cert_file, &settings.key_file) else {
        return Ok(None);
    };
    let cert = read_file("GIGACHAT_CERT_FILE", cert_path)?;
    let key = read_file("GIGACHAT_KEY_FILE", key_path)?;
    let key = plain_key_pem(&key, settings.key_file_password.as_ref())?;
    let mut pem = cert;
    if !pem.ends_with(b"\n") {
        pem.push(b'\n');
    }
    pem.extend_from_slice(key.expose_secret().as_bytes());
    Identity::from_pem(&pem).map(Some).map_err(|err| {
        Error::Config(format!(
            "GIGACHAT_CERT_FILE/GIGACHAT_KEY_FILE: not a usable PEM certificate and key: {err}"
        ))
    })
}

/// Returns the key as unencrypted PEM, decrypting an `ENCRYPTED PRIVATE KEY` (PKCS#8, PBES2) with the password.
fn plain_key_pem(key: &[u8], password: Option<&SecretString>) -> Result<SecretString, Error> {
    let text = std::str::from_utf8(key)
        .map_err(|_| Error::Config("GIGACHAT_KEY_FILE: not a PEM file".into()))?;
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(Error::Config(
            "GIGACHAT_KEY_FILE: legacy OpenSSL-encrypted keys are not supported; convert it with \
             `openssl pkcs8 -topk8 -v2 aes-256-cbc -in key.pem -out key.p8.pem`"
                .into(),
        ));
    }
    if !text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Ok(SecretString::from(text.to_owned()));
    }
    let Some(password) = password else {
        return Err(Error::Config(
            "GIGACHAT_KEY_FILE is encrypted: set GIGACHAT_KEY_FILE_PASSWORD".into(),
        ));
    };
    let start = text
        .find("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        .unwrap_or(0);
    let (label, der) = pkcs8::der::pem::decode_vec(&key[start..])
        .map_err(|err| Error::Config(format!("GIGACHAT_KEY_FILE: bad PEM: {err}")))?;
    if label != "ENCRYPTED PRIVATE KEY" {
        return Err(Error::Config(format!(
            "GIGACHAT_KEY_FILE: unexpected PEM block {label:?}"
        )));
    }
    let encrypted = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
        .map_err(|err| Error::Config(format!("GIGACHAT_KEY_FILE: bad encrypted key: {err}")))?;
    let document = encrypted
        .decrypt(password.expose_secret().as_bytes())
        .map_err(|_| {
            Error::Config(
                "GIGACHAT_KEY_FILE: cannot decrypt the key with GIGACHAT_KEY_FILE_PASSWORD".into(),
            )
        })?;
    let pem = document
        .to_pem("PRIVATE KEY", pkcs8::LineEnding::LF)
        .map_err(|err| Error::Config(format!("GIGACHAT_KEY_FILE: {err}")))?;
    Ok(SecretString::from(pem.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_root_parses() {
        let roots = Certificate::from_pem_bundle(RUSSIAN_TRUSTED_ROOT_CA_PEM).unwrap();
        assert_eq!(roots.len(), 1);
    }

    #[test]
    fn encrypted_key_needs_a_password() {
        let pem =
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let err = plain_key_pem(pem, None).unwrap_err();
        assert!(err.to_string().contains("GIGACHAT_KEY_FILE_PASSWORD"));
        let legacy = b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n";
        assert!(
            plain_key_pem(legacy, None)
                .unwrap_err()
                .to_string()
                .contains("pkcs8")
        );
    }

    #[test]
    fn unreadable_bundle_names_the_variable() {
        let settings = Settings {
            ca_bundle_file: Some("/nonexistent/ca.pem".into()),
            ..Settings::default()
        };
        let err = Transport::new(&settings).unwrap_err();
        assert!(err.to_string().contains("GIGACHAT_CA_BUNDLE_FILE"));
    }
}
