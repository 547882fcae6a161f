//! OAuth, `/token`, token validation on the API, static tokens, mTLS.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gigachat_emulator::{Credential, Emulator, EmulatorConfig, Listener};
use serde_json::Value;

use crate::common::{self, Env, oauth, rquid, status_text};

#[tokio::test]
async fn oauth_success_has_the_recorded_shape() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let http = common::client(&emu, reqwest::Client::builder());
    let response = oauth(&emu, &http, "scope=GIGACHAT_API_PERS").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(common::keys(&body), ["access_token", "expires_at"]);
    let token = body["access_token"].as_str().unwrap();
    assert!(token.starts_with("eyJ"));
    assert_eq!(token.split('.').count(), 5);
    assert!(
        (1100..1400).contains(&text.len()),
        "body is {} bytes",
        text.len()
    );
    let expires_at = body["expires_at"].as_u64().unwrap();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let ttl = expires_at - now_ms;
    assert!(
        (29 * 60_000..=30 * 60_000 + 1000).contains(&ttl),
        "ttl {ttl} ms"
    );
    let logged = &emu.requests()[0];
    assert_eq!(logged.listener, Listener::Oauth);
    assert_eq!(logged.body.as_ref(), b"scope=GIGACHAT_API_PERS");
    assert_eq!(logged.status, 200);
    assert!(logged.header("rquid").is_some());
}

async fn oauth_error(
    emu: &Emulator,
    authorization: Option<&str>,
    rq_uid: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let http = common::client(emu, reqwest::Client::builder());
    let mut request = http.post(emu.auth_url()).body(body.to_owned());
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    if let Some(value) = rq_uid {
        request = request.header("RqUID", value);
    }
    let (status, text) = status_text(request.send().await.unwrap()).await;
    (status, serde_json::from_str(&text).unwrap())
}

/// Authorization, RqUID, body → status, code, message (empty: any).
type OauthCase<'a> = (Option<&'a str>, Option<&'a str>, &'a str, u16, u64, &'a str);

#[tokio::test]
async fn oauth_errors_are_documented_ones() {
    let emu = Emulator::start(EmulatorConfig {
        oauth_rate_limit_per_sec: 0,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let key = format!("Basic {}", emu.credentials_header());
    let id = rquid();
    let wrong_key = format!(
        "Basic {}",
        Credential::new("x", "y", "GIGACHAT_API_PERS").authorization_key()
    );
    let cases: [OauthCase<'_>; 7] = [
        (Some(&key), None, "scope=GIGACHAT_API_PERS", 400, 2, ""),
        (
            Some(&key),
            Some("not-a-uuid"),
            "scope=GIGACHAT_API_PERS",
            400,
            2,
            "",
        ),
        (
            Some("Basic %%%not-base64"),
            Some(&id),
            "scope=GIGACHAT_API_PERS",
            401,
            4,
            "Can't decode 'Authorization' header",
        ),
        (
            Some(&wrong_key),
            Some(&id),
            "scope=GIGACHAT_API_PERS",
            401,
            6,
            "credentials doesn't match db data",
        ),
        (Some(&key), Some(&id), "scope=", 400, 5, "scope is empty"),
        (
            Some(&key),
            Some(&id),
            "scope=SOMETHING",
            400,
            1,
            "scope data format invalid",
        ),
        (
            Some(&key),
            Some(&id),
            "scope=GIGACHAT_API_CORP",
            400,
            7,
            "scope from db not fully includes consumed scope",
        ),
    ];
    for (authorization, rq_uid, body, status, code, message) in cases {
        let (got_status, got) = oauth_error(&emu, authorization, rq_uid, body).await;
        assert_eq!(got_status, status, "{body} {authorization:?} {rq_uid:?}");
        assert_eq!(got["code"], code, "{got}");
        if !message.is_empty() {
            assert_eq!(got["message"], message);
        }
    }
}

#[tokio::test]
async fn oauth_is_rate_limited() {
    let emu = Emulator::start(EmulatorConfig {
        oauth_rate_limit_per_sec: 3,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let http = common::client(&emu, reqwest::Client::builder());
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            oauth(&emu, &http, "scope=GIGACHAT_API_PERS")
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
}

#[tokio::test]
async fn user_password_token_endpoint() {
    let env = Env::start().await;
    let response = env
        .http
        .post(env.legacy_url("/token"))
        .basic_auth("emulator-user", Some("emulator-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(common::keys(&body), ["tok", "exp"]);
    let exp = body["exp"].as_u64().unwrap();
    assert!(exp < 10_u64.pow(12), "exp is in seconds");
    let tok = body["tok"].as_str().unwrap();
    let models = env
        .http
        .get(env.url("/models"))
        .bearer_auth(tok)
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 200);

    let wrong = env
        .http
        .post(env.legacy_url("/token"))
        .basic_auth("emulator-user", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_text(wrong).await,
        (
            401,
            "{\"status\":401,\"message\":\"Unauthorized\"}\n".to_owned()
        )
    );
}

#[tokio::test]
async fn expired_revoked_and_missing_tokens_get_401() {
    let env = Env::start().await;
    let (status, _) = status_text(env.http.get(env.url("/models")).send().await.unwrap()).await;
    assert_eq!(status, 401);
    let (status, text) = status_text(
        env.http
            .get(env.url("/models"))
            .bearer_auth("nope")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (401, "{\"status\":401,\"message\":\"Unauthorized\"}\n")
    );

    env.emu.expire_all_tokens();
    let (status, text) = status_text(env.get("/models").await).await;
    assert_eq!(
        (status, text.as_str()),
        (401, "{\"status\":401,\"message\":\"Token has expired\"}\n")
    );

    let fresh = common::token(&env.emu, &env.http).await;
    let ok = env
        .http
        .get(env.url("/models"))
        .bearer_auth(&fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    env.emu.revoke_all_tokens();
    let (status, text) = status_text(
        env.http
            .get(env.url("/models"))
            .bearer_auth(&fresh)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (401, "{\"status\":401,\"message\":\"Unauthorized\"}\n")
    );
}

#[tokio::test]
async fn short_ttl_tokens_expire() {
    let env = Env::with(EmulatorConfig {
        token_ttl: Duration::from_millis(300),
        ..EmulatorConfig::default()
    })
    .await;
    assert_eq!(env.get("/models").await.status(), 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, text) = status_text(env.get("/models").await).await;
    assert_eq!(status, 401);
    assert!(text.contains("Token has expired"));
}

#[tokio::test]
async fn static_tokens_are_accepted_without_issuance() {
    let emu = Emulator::start(EmulatorConfig {
        static_tokens: vec!["pre-issued".to_owned()],
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let http = common::client(&emu, reqwest::Client::builder());
    let url = format!("{}/models", emu.api_base_url());
    let ok = http
        .get(&url)
        .bearer_auth("pre-issued")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    emu.expire_all_tokens();
    let still = http
        .get(&url)
        .bearer_auth("pre-issued")
        .send()
        .await
        .unwrap();
    assert_eq!(still.status(), 200);
}

#[tokio::test]
async fn client_certificate_authenticates_and_is_recorded() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let (cert, key) = emu.issue_client_certificate("tenant-42").unwrap();
    assert!(key.contains("BEGIN PRIVATE KEY"));
    let identity = reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap();
    let http = common::client(&emu, reqwest::Client::builder().identity(identity));
    let response = http
        .get(format!("{}/models", emu.api_base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "certificate alone authenticates");
    let logged = emu.requests();
    assert_eq!(logged[0].client_cert_cn.as_deref(), Some("tenant-42"));

    // Without a certificate and without a token: 401.
    let anonymous = common::client(&emu, reqwest::Client::builder());
    let response = anonymous
        .get(format!("{}/models", emu.api_base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(emu.requests()[1].client_cert_cn, None);
}

#[tokio::test]
async fn required_client_certificate_rejects_anonymous_handshakes() {
    let emu = Emulator::start(EmulatorConfig {
        require_client_cert_on_api: true,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let anonymous = common::client(&emu, reqwest::Client::builder());
    let result = anonymous
        .get(format!("{}/models", emu.api_base_url()))
        .send()
        .await;
    assert!(result.is_err(), "handshake must fail without a certificate");
    // The OAuth listener never requires one.
    let response = oauth(&emu, &anonymous, "scope=GIGACHAT_API_PERS").await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn plain_http_mode_works() {
    let env = Env::with(EmulatorConfig {
        tls: false,
        ..EmulatorConfig::default()
    })
    .await;
    assert!(env.emu.api_base_url().starts_with("http://localhost:"));
    assert!(env.emu.ca_pem().is_none());
    assert_eq!(env.get("/models").await.status(), 200);
}

#[tokio::test]
async fn ca_pem_is_written_to_the_configured_path() {
    let path = std::env::temp_dir().join(format!("emu-ca-{}.pem", uuid::Uuid::new_v4()));
    let emu = Emulator::start(EmulatorConfig {
        ca_pem_path: Some(path.clone()),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(Some(written.as_str()), emu.ca_pem());
    std::fs::remove_file(path).unwrap();
    emu.shutdown().await;
}
