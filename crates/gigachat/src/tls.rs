//! One TLS policy for every connection to GigaChat: the system's roots plus the bundled Russian
//! Trusted Root CA and `GIGACHAT_CA_BUNDLE_FILE`, the mTLS identity for the API host, HTTP/2 by
//! ALPN, and (only when asked) no verification at all. reqwest and the direct HTTP/2 lane share it.

use std::path::Path;
use std::sync::Arc;

use rustls::ClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use secrecy::{ExposeSecret, SecretString};

use crate::error::Error;
use crate::settings::Settings;

/// The root that signs GigaChat's TLS chains (НУЦ Минцифры), bundled so no system setup is needed.
pub const RUSSIAN_TRUSTED_ROOT_CA_PEM: &[u8] =
    include_bytes!("../certs/russian_trusted_root_ca.pem");

/// The TLS settings for GigaChat's two hosts.
pub(crate) struct Configs {
    /// For the API host: presents the client certificate when one is configured.
    pub(crate) api: Arc<ClientConfig>,
    /// For the OAuth host: never presents a client certificate.
    pub(crate) oauth: Arc<ClientConfig>,
}

impl Configs {
    pub(crate) fn new(settings: &Settings) -> Result<Self, Error> {
        // The application's installed provider (e.g. a FIPS build), else aws-lc-rs.
        let provider = CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let verifier: Arc<dyn ServerCertVerifier> = if settings.verify_ssl_certs {
            let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(
                trusted_roots(settings)?,
                provider.clone(),
            )
            .map_err(|err| Error::Config(format!("cannot load the trusted roots: {err}")))?;
            Arc::new(verifier)
        } else {
            tracing::warn!(
                "GIGACHAT_VERIFY_SSL_CERTS=false: TLS certificates of GigaChat are NOT verified; \
                 anyone on the network path can read and alter traffic, including credentials. \
                 Use GIGACHAT_CA_BUNDLE_FILE instead outside development."
            );
            Arc::new(AnyCertificate)
        };
        let builder = || {
            ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map(|builder| {
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(verifier.clone())
                })
                .map_err(|err| Error::Config(format!("TLS: {err}")))
        };
        let api = match client_identity(settings)? {
            Some((chain, key)) => builder()?
                .with_client_auth_cert(chain, key)
                .map_err(|err| {
                    Error::Config(format!(
                        "GIGACHAT_CERT_FILE/GIGACHAT_KEY_FILE: not a usable certificate and key: {err}"
                    ))
                })?,
            None => builder()?.with_no_client_auth(),
        };
        let oauth = builder()?.with_no_client_auth();
        Ok(Self {
            api: Arc::new(with_alpn(api)),
            oauth: Arc::new(with_alpn(oauth)),
        })
    }
}

/// HTTP/2 preferred, HTTP/1.1 accepted: what reqwest offers by default.
fn with_alpn(mut config: ClientConfig) -> ClientConfig {
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

/// The bundled Russian root plus everything in `GIGACHAT_CA_BUNDLE_FILE` (the system's roots are
/// the platform verifier's own).
fn trusted_roots(settings: &Settings) -> Result<Vec<CertificateDer<'static>>, Error> {
    let mut roots = certificates(RUSSIAN_TRUSTED_ROOT_CA_PEM)
        .map_err(|err| Error::Config(format!("bundled Russian Trusted Root CA: {err}")))?;
    if let Some(path) = &settings.ca_bundle_file {
        let pem = read_file("GIGACHAT_CA_BUNDLE_FILE", path)?;
        let extra = certificates(&pem).map_err(|err| {
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

fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, rustls_pki_types::pem::Error> {
    CertificateDer::pem_slice_iter(pem).collect()
}

fn read_file(variable: &str, path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path)
        .map_err(|err| Error::Config(format!("{variable}={}: {err}", path.display())))
}

/// The mTLS identity from `GIGACHAT_CERT_FILE` and `GIGACHAT_KEY_FILE` (decrypted with `GIGACHAT_KEY_FILE_PASSWORD`).
fn client_identity(
    settings: &Settings,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, Error> {
    let (Some(cert_path), Some(key_path)) = (&settings.cert_file, &settings.key_file) else {
        return Ok(None);
    };
    let unusable = |what: &str| {
        Error::Config(format!(
            "GIGACHAT_CERT_FILE/GIGACHAT_KEY_FILE: not a usable PEM certificate and key: {what}"
        ))
    };
    let chain = certificates(&read_file("GIGACHAT_CERT_FILE", cert_path)?)
        .map_err(|err| unusable(&err.to_string()))?;
    if chain.is_empty() {
        return Err(unusable("no certificate in GIGACHAT_CERT_FILE"));
    }
    let key = read_file("GIGACHAT_KEY_FILE", key_path)?;
    let key = plain_key_pem(&key, settings.key_file_password.as_ref())?;
    let key = PrivateKeyDer::from_pem_slice(key.expose_secret().as_bytes())
        .map_err(|err| unusable(&err.to_string()))?;
    Ok(Some((chain, key)))
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

/// `GIGACHAT_VERIFY_SSL_CERTS=false`: accepts any certificate and any handshake signature, as
/// reqwest's own "accept invalid certificates" does (a self-signed X.509 v1 test certificate, which
/// webpki cannot even parse, keeps working).
#[derive(Debug)]
struct AnyCertificate;

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify_tls12_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        use rustls::SignatureScheme as S;
        vec![
            S::RSA_PKCS1_SHA1,
            S::ECDSA_SHA1_Legacy,
            S::RSA_PKCS1_SHA256,
            S::ECDSA_NISTP256_SHA256,
            S::RSA_PKCS1_SHA384,
            S::ECDSA_NISTP384_SHA384,
            S::RSA_PKCS1_SHA512,
            S::ECDSA_NISTP521_SHA512,
            S::RSA_PSS_SHA256,
            S::RSA_PSS_SHA384,
            S::RSA_PSS_SHA512,
            S::ED25519,
            S::ED448,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_root_parses() {
        let roots = certificates(RUSSIAN_TRUSTED_ROOT_CA_PEM).unwrap();
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
        let err = Configs::new(&settings).err().unwrap();
        assert!(err.to_string().contains("GIGACHAT_CA_BUNDLE_FILE"));
    }

    #[test]
    fn a_bundle_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let settings = Settings {
            ca_bundle_file: Some(path),
            ..Settings::default()
        };
        let err = Configs::new(&settings).err().unwrap();
        assert!(err.to_string().contains("no certificates found"), "{err}");
    }

    #[test]
    fn both_hosts_offer_http2_first() {
        let configs = Configs::new(&Settings::default()).unwrap();
        for config in [&configs.api, &configs.oauth] {
            assert_eq!(
                config.alpn_protocols,
                [b"h2".to_vec(), b"http/1.1".to_vec()]
            );
        }
    }
}
