//! The client against the GigaChat emulator over real TLS and HTTP/2: auth flows, the token cache,
//! retries, errors, streaming, files, mTLS and trust configuration.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures_util::StreamExt;
use gigachat::types::{
    ChatRequest, EmbeddingsRequest, FilePurpose, FinishReason, Message, Role, TokensCountRequest,
};
use gigachat::{Error, ErrorBodyKind, FileSource, FileUpload, GigaChat, RequestContext, Settings};
use gigachat_emulator::{Emulator, EmulatorConfig, Fault, Listener, LoggedRequest};
use secrecy::SecretString;

struct Setup {
    emulator: Emulator,
    settings: Settings,
    _dir: tempfile::TempDir,
}

impl Setup {
    fn client(&self) -> GigaChat {
        GigaChat::new(self.settings.clone()).unwrap()
    }

    fn with(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        change(&mut self.settings);
        self
    }

    fn logged(&self, listener: Listener, path_suffix: &str) -> Vec<LoggedRequest> {
        self.emulator
            .requests()
            .into_iter()
            .filter(|r| r.listener == listener && r.path.ends_with(path_suffix))
            .collect()
    }

    fn token_requests(&self) -> usize {
        self.logged(Listener::Oauth, "/oauth").len() + self.logged(Listener::Api, "/token").len()
    }
}

/// An emulator over TLS with its private CA trusted through `GIGACHAT_CA_BUNDLE_FILE`, and OAuth settings.
async fn setup(configure: impl FnOnce(&mut EmulatorConfig)) -> Setup {
    let mut config = EmulatorConfig::default();
    configure(&mut config);
    let emulator = Emulator::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("emulator-ca.pem");
    std::fs::write(&ca_path, emulator.ca_pem().unwrap()).unwrap();
    let settings = Settings {
        base_url: emulator.api_base_url(),
        auth_url: emulator.auth_url(),
        credentials: Some(SecretString::from(emulator.credentials_header())),
        ca_bundle_file: Some(ca_path),
        timeout: Duration::from_secs(10),
        stream_idle_timeout: Duration::from_secs(10),
        ..Settings::default()
    };
    Setup {
        emulator,
        settings,
        _dir: dir,
    }
}

fn hello() -> ChatRequest {
    ChatRequest {
        messages: vec![Message::new(Role::User, "Say 'Hello'")],
        ..ChatRequest::default()
    }
}

fn ctx() -> RequestContext {
    RequestContext::default()
}

#[tokio::test]
async fn oauth_flow_sends_what_gigachat_expects() {
    let setup = setup(|_| {}).await;
    let client = setup.client();
    let context = RequestContext {
        request_id: Some("req-1".into()),
        session_id: Some("sess-1".into()),
        client_id: Some("client-1".into()),
        ..RequestContext::default()
    };
    let answer = client.chat(&hello(), &context).await.unwrap();
    assert!(!answer.data.choices[0].message.content.is_empty());
    assert!(answer.data.model.starts_with("GigaChat-2:"));
    assert_eq!(answer.meta.request_id.as_deref(), Some("req-1"));
    assert_eq!(answer.meta.session_id.as_deref(), Some("sess-1"));

    let oauth = setup.logged(Listener::Oauth, "/oauth");
    assert_eq!(oauth.len(), 1);
    let token_call = &oauth[0];
    assert_eq!(token_call.method, "POST");
    assert_eq!(
        token_call.header("authorization"),
        Some(format!("Basic {}", setup.emulator.credentials_header()).as_str())
    );
    let rquid = token_call.header("rquid").unwrap();
    assert!(uuid::Uuid::parse_str(rquid).is_ok(), "{rquid}");
    assert_eq!(&token_call.body[..], b"scope=GIGACHAT_API_PERS");
    assert!(
        token_call
            .header("content-type")
            .unwrap()
            .starts_with("application/x-www-form-urlencoded")
    );

    let chat = setup.logged(Listener::Api, "/chat/completions");
    assert_eq!(chat.len(), 1);
    let call = &chat[0];
    assert!(call.header("authorization").unwrap().starts_with("Bearer "));
    assert_eq!(call.header("x-request-id"), Some("req-1"));
    assert_eq!(call.header("x-session-id"), Some("sess-1"));
    assert_eq!(call.header("x-client-id"), Some("client-1"));
    assert_eq!(call.http_version, "HTTP/2.0", "HTTP/2 negotiated by ALPN");
    let body: serde_json::Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(
        body["model"], "GigaChat-2",
        "the default model (the smallest one the model guide lists) fills in"
    );
    assert_eq!(
        call.path, "/v1/chat/completions",
        "the new host's layout, without /api"
    );
    assert!(
        body.get("stream").is_none(),
        "non-streaming calls send no stream field"
    );

    // A second call reuses the cached token; each call gets fresh RqUIDs only on token requests.
    client.chat(&hello(), &ctx()).await.unwrap();
    assert_eq!(setup.token_requests(), 1);
}

#[tokio::test]
async fn user_password_flow_reads_exp_in_seconds() {
    let setup = setup(|_| {}).await;
    let legacy = setup.emulator.legacy_api_base_url();
    let setup = setup.with(|s| {
        // `/token` is served only in the older host's `/api/v1` layout.
        s.base_url = legacy;
        s.credentials = None;
        s.user = Some("emulator-user".into());
        s.password = Some(SecretString::from("emulator-password"));
    });
    let client = setup.client();
    for _ in 0..3 {
        client.chat(&hello(), &ctx()).await.unwrap();
    }
    let token_calls = setup.logged(Listener::Api, "/token");
    assert_eq!(token_calls.len(), 1, "exp in seconds must not look expired");
    assert!(
        token_calls[0]
            .header("authorization")
            .unwrap()
            .starts_with("Basic ")
    );
    assert!(token_calls[0].body.is_empty());
    assert!(setup.logged(Listener::Oauth, "/oauth").is_empty());
}

#[tokio::test]
async fn the_older_api_v1_layout_still_works() {
    let setup = setup(|_| {}).await;
    let legacy = setup.emulator.legacy_api_base_url();
    let setup = setup.with(|s| s.base_url = legacy);
    let client = setup.client();
    client.chat(&hello(), &ctx()).await.unwrap();
    client.models(&ctx()).await.unwrap();
    let paths: Vec<String> = setup
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.listener == Listener::Api)
        .map(|r| r.path)
        .collect();
    assert_eq!(paths, ["/api/v1/chat/completions", "/api/v1/models"]);
}

#[test]
fn password_auth_against_the_new_default_host_fails_at_startup() {
    let settings = Settings {
        user: Some("user".into()),
        password: Some(SecretString::from("password")),
        ..Settings::default()
    };
    let Err(Error::Config(message)) = GigaChat::new(settings) else {
        panic!("user/password against api.giga.chat must not start");
    };
    assert!(message.contains("GIGACHAT_BASE_URL"), "{message}");
    assert!(message.contains("/token"), "{message}");
}

#[tokio::test]
async fn pre_issued_token_is_used_as_is_and_not_refreshed_on_401() {
    let setup = setup(|c| c.static_tokens = vec!["static-token-1".into()])
        .await
        .with(|s| {
            s.credentials = None;
            s.access_token = Some(SecretString::from("static-token-1"));
        });
    let client = setup.client();
    client.chat(&hello(), &ctx()).await.unwrap();
    assert_eq!(setup.token_requests(), 0);
    let chat = setup.logged(Listener::Api, "/chat/completions");
    assert_eq!(
        chat[0].header("authorization"),
        Some("Bearer static-token-1")
    );

    let bad = setup.with(|s| s.access_token = Some(SecretString::from("unknown")));
    let err = bad.client().chat(&hello(), &ctx()).await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(bad.logged(Listener::Api, "/chat/completions").len(), 2);
    assert_eq!(bad.token_requests(), 0);
}

#[tokio::test]
async fn hundred_concurrent_callers_cause_one_token_request() {
    let setup = setup(|_| {}).await;
    let client = setup.client();
    let calls = (0..100).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.models(&RequestContext::default()).await })
    });
    for call in futures_util::future::join_all(calls).await {
        call.unwrap().unwrap();
    }
    assert_eq!(setup.token_requests(), 1);
    assert_eq!(setup.logged(Listener::Api, "/models").len(), 100);
}

#[tokio::test]
async fn concurrent_callers_share_one_failed_refresh() {
    let setup = setup(|_| {}).await.with(|s| {
        s.credentials = Some(SecretString::from("d3Jvbmc6a2V5")); // "wrong:key"
    });
    let client = setup.client();
    let calls = (0..20).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.models(&RequestContext::default()).await })
    });
    for call in futures_util::future::join_all(calls).await {
        let err = call.unwrap().unwrap_err();
        assert!(matches!(err, Error::Auth(_)), "{err:?}");
    }
    assert!(
        setup.token_requests() < 20,
        "waiters reuse the failure of the refresh they waited for"
    );
}

#[tokio::test]
async fn expired_token_is_refreshed_once_and_the_call_retried() {
    let setup = setup(|_| {}).await;
    let client = setup.client();
    client.chat(&hello(), &ctx()).await.unwrap();
    setup.emulator.expire_all_tokens();
    client.chat(&hello(), &ctx()).await.unwrap();
    assert_eq!(setup.token_requests(), 2);
    let statuses: Vec<u16> = setup
        .logged(Listener::Api, "/chat/completions")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [200, 401, 200]);
}

#[tokio::test]
async fn token_is_refreshed_ahead_of_expiry_by_the_buffer() {
    // Tokens live 50 s, the buffer is 60 s: every token is already "stale" and is replaced per call.
    let short = setup(|c| c.token_ttl = Duration::from_secs(50)).await;
    let client = short.client();
    client.models(&ctx()).await.unwrap();
    client.models(&ctx()).await.unwrap();
    assert_eq!(short.token_requests(), 2);

    // With a 10 s buffer the same tokens are reused.
    let buffered = setup(|c| c.token_ttl = Duration::from_secs(50))
        .await
        .with(|s| s.token_expiry_buffer = Duration::from_secs(10));
    let client = buffered.client();
    client.models(&ctx()).await.unwrap();
    client.models(&ctx()).await.unwrap();
    assert_eq!(buffered.token_requests(), 1);
}

#[tokio::test]
async fn errors_carry_status_message_and_shape() {
    let setup = setup(|_| {}).await;
    let client = setup.client();
    let mut request = hello();
    request.model = "NonExistentModel".into();
    let unknown = client.chat(&request, &ctx()).await.unwrap_err();
    assert_eq!(unknown.verdict(), gigachat::Verdict::ModelNotFound);
    match unknown {
        Error::Api(err) => {
            assert_eq!(err.status, 404);
            assert_eq!(err.message, "No such model");
            assert_eq!(err.body_kind, ErrorBodyKind::Status);
            assert!(err.request_id.is_some());
            assert_eq!(err.endpoint, gigachat::Endpoint::Chat);
        }
        other => panic!("{other:?}"),
    }

    setup
        .emulator
        .faults()
        .push(Fault::BadGatewayHtml { times: 1 });
    let failed = client.models(&ctx()).await.unwrap_err();
    assert_eq!(failed.verdict(), gigachat::Verdict::UpstreamFailed);
    match failed {
        Error::Api(err) => {
            assert_eq!(err.status, 502);
            assert_eq!(err.body_kind, ErrorBodyKind::Html);
            assert_eq!(err.message, "502 Bad Gateway");
            assert_eq!(err.endpoint, gigachat::Endpoint::Models);
        }
        other => panic!("{other:?}"),
    }

    let wrong_key = setup.with(|s| s.credentials = Some(SecretString::from("d3Jvbmc6a2V5")));
    match wrong_key.client().models(&ctx()).await.unwrap_err() {
        Error::Auth(err) => {
            assert_eq!(err.status, 401);
            assert_eq!(err.code, Some(6));
            assert_eq!(err.body_kind, ErrorBodyKind::OAuth);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn wrong_scope_is_an_auth_error_with_the_oauth_code() {
    let setup = setup(|_| {})
        .await
        .with(|s| s.scope = "GIGACHAT_API_CORP".into());
    match setup.client().models(&ctx()).await.unwrap_err() {
        Error::Auth(err) => assert_eq!(err.code, Some(7)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn transient_failures_are_retried_with_backoff() {
    let setup = setup(|_| {}).await.with(|s| {
        s.max_retries = 3;
        s.retry_backoff_factor = 0.01;
    });
    let client = setup.client();
    setup.emulator.faults().push(Fault::Status {
        status: 503,
        retry_after: None,
        times: 2,
    });
    client.chat(&hello(), &ctx()).await.unwrap();
    let statuses: Vec<u16> = setup
        .logged(Listener::Api, "/chat/completions")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [503, 503, 200]);

    setup.emulator.clear_requests();
    setup.emulator.faults().push(Fault::Status {
        status: 429,
        retry_after: Some(Duration::from_secs(1)),
        times: 1,
    });
    let started = std::time::Instant::now();
    client.chat(&hello(), &ctx()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After honoured"
    );
    assert_eq!(setup.logged(Listener::Api, "/chat/completions").len(), 2);
}

#[tokio::test]
async fn client_mistakes_and_unlisted_statuses_are_not_retried() {
    let setup = setup(|_| {}).await.with(|s| {
        s.max_retries = 3;
        s.retry_backoff_factor = 0.01;
        s.retry_on_status_codes = vec![503];
    });
    let client = setup.client();
    setup.emulator.faults().push(Fault::Status {
        status: 500,
        retry_after: None,
        times: 1,
    });
    assert_eq!(
        client.chat(&hello(), &ctx()).await.unwrap_err().status(),
        Some(500)
    );
    let mut bad = hello();
    bad.temperature = Some(-1.0);
    assert_eq!(
        client.chat(&bad, &ctx()).await.unwrap_err().status(),
        Some(422)
    );
    assert_eq!(setup.logged(Listener::Api, "/chat/completions").len(), 2);
}

#[tokio::test]
async fn no_retries_by_default() {
    let setup = setup(|_| {}).await;
    setup.emulator.faults().push(Fault::Status {
        status: 503,
        retry_after: None,
        times: 1,
    });
    let err = setup.client().chat(&hello(), &ctx()).await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert!(err.is_retryable(&setup.settings.retry_on_status_codes));
}

#[tokio::test]
async fn stream_yields_chunks_in_order_and_ends_at_done() {
    let setup = setup(|c| c.answer_words = 30).await;
    let client = setup.client();
    let context = RequestContext {
        session_id: Some("s-42".into()),
        ..RequestContext::default()
    };
    let stream = client.chat_stream(&hello(), &context).await.unwrap();
    assert_eq!(stream.meta().session_id.as_deref(), Some("s-42"));
    let chunks: Vec<_> = stream.collect().await;
    let chunks: Vec<_> = chunks.into_iter().map(Result::unwrap).collect();
    assert!(chunks.len() > 3);
    assert_eq!(chunks[0].choices[0].delta.role, Some(Role::Assistant));
    assert!(
        chunks[1..]
            .iter()
            .all(|c| c.choices[0].delta.role.is_none())
    );
    let last = chunks.last().unwrap();
    assert_eq!(last.choices[0].finish_reason, Some(FinishReason::Stop));
    assert!(last.usage.is_some());
    let text: String = chunks
        .iter()
        .filter_map(|c| c.choices[0].delta.content.clone())
        .collect();
    let whole = client.chat(&hello(), &ctx()).await.unwrap();
    assert_eq!(text, whole.data.choices[0].message.content, "deterministic");

    let sent = &setup.logged(Listener::Api, "/chat/completions")[0];
    assert_eq!(sent.header("accept"), Some("text/event-stream"));
    let body: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(body["stream"], true);
}

#[tokio::test]
async fn a_cut_stream_errors_and_is_never_replayed() {
    // Gaps between events let the first chunks reach the client before the connection is cut.
    let setup = setup(|c| {
        c.answer_words = 30;
        c.event_gap = Duration::from_millis(50);
    })
    .await
    .with(|s| {
        s.max_retries = 3;
        s.retry_backoff_factor = 0.01;
    });
    setup.emulator.faults().push(Fault::CutStreamAfter {
        events: 2,
        times: 1,
    });
    let mut stream = setup.client().chat_stream(&hello(), &ctx()).await.unwrap();
    let mut items = Vec::new();
    while let Some(item) = stream.next().await {
        items.push(item);
    }
    // Chunks already delivered, then exactly one error (HTTP/2 may drop the event written just before the reset).
    let (last, delivered) = items.split_last().unwrap();
    assert!(last.is_err(), "{items:?}");
    assert!(!delivered.is_empty() && delivered.len() <= 2, "{items:?}");
    assert!(delivered.iter().all(Result::is_ok));
    assert_eq!(
        setup.logged(Listener::Api, "/chat/completions").len(),
        1,
        "a stream is never retried after its first event"
    );
}

#[tokio::test]
async fn stream_failures_before_the_first_event_are_retried() {
    let setup = setup(|_| {}).await.with(|s| {
        s.max_retries = 2;
        s.retry_backoff_factor = 0.01;
    });
    setup
        .emulator
        .faults()
        .push(Fault::WrongContentType { times: 1 });
    setup.emulator.faults().push(Fault::CutStreamAfter {
        events: 0,
        times: 1,
    });
    let stream = setup.client().chat_stream(&hello(), &ctx()).await.unwrap();
    let chunks: Vec<_> = stream.collect().await;
    assert!(chunks.iter().all(Result::is_ok));
    assert_eq!(setup.logged(Listener::Api, "/chat/completions").len(), 3);
}

#[tokio::test]
async fn wrong_content_type_on_a_stream_is_an_error() {
    let setup = setup(|_| {}).await;
    setup
        .emulator
        .faults()
        .push(Fault::WrongContentType { times: 1 });
    let err = setup
        .client()
        .chat_stream(&hello(), &ctx())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Protocol(ref m) if m.contains("text/event-stream")),
        "{err:?}"
    );
}

#[tokio::test]
async fn slow_upstream_hits_the_timeouts() {
    let slow = setup(|_| {})
        .await
        .with(|s| s.timeout = Duration::from_millis(300));
    slow.emulator.faults().push(Fault::SlowFirstByte {
        delay: Duration::from_secs(2),
        times: 1,
    });
    // The token is fetched first so the slow answer hits the chat call itself.
    let client = slow.client();
    client.ensure_token().await.unwrap();
    let err = client.chat(&hello(), &ctx()).await.unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");

    let idle = setup(|c| {
        c.first_event_delay = Duration::from_millis(10);
        c.event_gap = Duration::from_secs(2);
    })
    .await
    .with(|s| s.stream_idle_timeout = Duration::from_millis(300));
    let mut stream = idle.client().chat_stream(&hello(), &ctx()).await.unwrap();
    assert!(stream.next().await.unwrap().is_ok());
    let err = stream.next().await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
}

#[tokio::test]
async fn files_round_trip() {
    let setup = setup(|_| {}).await;
    let client = setup.client();
    let jpeg = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/gigachat-fixtures/data/image.jpg"),
    )
    .unwrap();
    let upload = FileUpload {
        filename: "image.jpg".into(),
        content_type: None,
        purpose: FilePurpose::General,
        source: FileSource::Bytes(bytes::Bytes::from(jpeg.clone())),
    };
    let file = client.upload_file(&upload, &ctx()).await.unwrap().data;
    assert_eq!(file.bytes, jpeg.len() as u64);
    assert_eq!(file.filename, "image.jpg");
    assert_eq!(file.purpose, "general");
    let sent = &setup.logged(Listener::Api, "/files")[0];
    assert!(
        sent.header("content-type")
            .unwrap()
            .starts_with("multipart/form-data")
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "заметки").unwrap();
    let from_disk = FileUpload {
        filename: "notes.txt".into(),
        content_type: None,
        purpose: FilePurpose::General,
        source: FileSource::Path(path),
    };
    let text_file = client.upload_file(&from_disk, &ctx()).await.unwrap().data;
    assert_eq!(text_file.bytes, "заметки".len() as u64);

    let listed = client.list_files(&ctx()).await.unwrap().data;
    assert_eq!(listed.data.len(), 2);
    let fetched = client.get_file(&file.id, &ctx()).await.unwrap().data;
    assert_eq!((&fetched.id, fetched.bytes), (&file.id, file.bytes));
    assert_eq!(fetched.access_policy.as_deref(), Some("private"));
    let content = client.file_content(&file.id, &ctx()).await.unwrap().data;
    assert_eq!(content.bytes, jpeg);
    assert_eq!(content.content_type.as_deref(), Some("image/jpeg"));

    let deleted = client.delete_file(&file.id, &ctx()).await.unwrap().data;
    assert!(deleted.deleted);
    assert_eq!(deleted.id, file.id);
    let err = client.get_file(&file.id, &ctx()).await.unwrap_err();
    assert_eq!(err.status(), Some(404));
}

#[tokio::test]
async fn embeddings_tokens_models_and_balance() {
    let setup = setup(|_| {}).await;
    let client = setup.client();
    let embeddings = client
        .embeddings(
            &EmbeddingsRequest {
                model: "Embeddings".into(),
                input: vec!["Hello, world!".into(), "Привет".into()],
            },
            &ctx(),
        )
        .await
        .unwrap()
        .data;
    assert_eq!(embeddings.data.len(), 2);
    assert_eq!(embeddings.data[1].index, 1);
    let vector = &embeddings.data[0].embedding;
    assert_eq!(vector.len(), 1024);
    let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3);

    let counts = client
        .tokens_count(
            &TokensCountRequest {
                model: "GigaChat".into(),
                input: vec!["Hello, world!".into()],
            },
            &ctx(),
        )
        .await
        .unwrap()
        .data;
    assert_eq!(counts.len(), 1);
    assert_eq!(counts[0].characters, 13);

    let models = client.models(&ctx()).await.unwrap().data;
    assert!(models.data.iter().any(|m| m.id == "GigaChat-2-Max"));
    let model = client.model("GigaChat", &ctx()).await.unwrap().data;
    assert_eq!(model.kind.as_deref(), Some("chat"));
    assert_eq!(
        client
            .model("NonExistentModel", &ctx())
            .await
            .unwrap_err()
            .status(),
        Some(404)
    );
    let balance = client.balance(&ctx()).await.unwrap().data;
    assert!(!balance.balance.is_empty());
}

#[tokio::test]
async fn balance_is_forbidden_for_pay_as_you_go_scope() {
    let setup = setup(|c| {
        c.credentials = vec![gigachat_emulator::Credential::new(
            "corp",
            "secret",
            "GIGACHAT_API_CORP",
        )]
    })
    .await;
    let setup = {
        let key = setup.emulator.credentials_header();
        setup.with(|s| {
            s.credentials = Some(SecretString::from(key));
            s.scope = "GIGACHAT_API_CORP".into();
        })
    };
    let err = setup.client().balance(&ctx()).await.unwrap_err();
    assert_eq!(err.status(), Some(403));
}

#[tokio::test]
async fn max_connections_keeps_within_a_concurrency_limit() {
    let setup = setup(|c| {
        c.concurrency_limit = Some(1);
        c.first_event_delay = Duration::from_millis(20);
    })
    .await
    .with(|s| s.max_connections = Some(1));
    let client = setup.client();
    let calls = (0..5).map(|_| {
        let client = client.clone();
        tokio::spawn(async move {
            let stream = client
                .chat_stream(&hello(), &RequestContext::default())
                .await?;
            stream
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<Vec<_>, _>>()
        })
    });
    for call in futures_util::future::join_all(calls).await {
        call.unwrap().unwrap();
    }
    assert!(
        setup
            .logged(Listener::Api, "/chat/completions")
            .iter()
            .all(|r| r.status == 200)
    );
}

#[tokio::test]
async fn untrusted_emulator_ca_fails_and_verify_false_connects() {
    let setup = setup(|_| {}).await;
    let untrusted = setup.with(|s| s.ca_bundle_file = None);
    let err = untrusted.client().models(&ctx()).await.unwrap_err();
    assert!(
        matches!(err, Error::Transport { .. } | Error::Auth(_)),
        "a private CA is not trusted by default: {err:?}"
    );
    let insecure = untrusted.with(|s| s.verify_ssl_certs = false);
    insecure.client().models(&ctx()).await.unwrap();
}

/// Writes `pem` to a file in `dir`.
fn write(dir: &std::path::Path, name: &str, pem: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path
}

#[tokio::test]
async fn client_certificate_goes_to_the_api_host_only() {
    let setup = setup(|_| {}).await;
    let (cert, key) = setup
        .emulator
        .issue_client_certificate("adapter-client")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = write(dir.path(), "client.pem", &cert);
    let key_path = write(dir.path(), "client.key", &key);
    let setup = setup.with(|s| {
        s.cert_file = Some(cert_path);
        s.key_file = Some(key_path);
    });
    setup.client().models(&ctx()).await.unwrap();
    let oauth = setup.logged(Listener::Oauth, "/oauth");
    assert_eq!(
        oauth[0].client_cert_cn, None,
        "never presented to the OAuth host"
    );
    let api = setup.logged(Listener::Api, "/models");
    assert_eq!(api[0].client_cert_cn.as_deref(), Some("adapter-client"));
}

#[tokio::test]
async fn certificate_alone_authenticates_with_an_encrypted_key() {
    let setup = setup(|c| c.require_client_cert_on_api = true).await;
    let (cert, key) = setup
        .emulator
        .issue_client_certificate("mtls-only")
        .unwrap();
    let encrypted = encrypt_key(&key, "s3cret");
    let dir = tempfile::tempdir().unwrap();
    let cert_path = write(dir.path(), "client.pem", &cert);
    let key_path = write(dir.path(), "client.key", &encrypted);
    let base = setup.with(|s| {
        s.credentials = None;
        s.cert_file = Some(cert_path);
        s.key_file = Some(key_path);
    });
    let wrong = GigaChat::new(Settings {
        key_file_password: Some(SecretString::from("wrong")),
        ..base.settings.clone()
    })
    .unwrap_err();
    assert!(
        wrong.to_string().contains("GIGACHAT_KEY_FILE_PASSWORD"),
        "{wrong}"
    );
    let setup = base.with(|s| s.key_file_password = Some(SecretString::from("s3cret")));
    setup.client().models(&ctx()).await.unwrap();
    let api = setup.logged(Listener::Api, "/models");
    assert_eq!(api[0].header("authorization"), None);
    assert_eq!(api[0].client_cert_cn.as_deref(), Some("mtls-only"));
    assert_eq!(setup.token_requests(), 0);
}

/// PKCS#8 PBES2 (PBKDF2-SHA256, AES-256-CBC) encryption of a PEM key, as `openssl pkcs8 -topk8 -v2 aes-256-cbc` does.
fn encrypt_key(key_pem: &str, password: &str) -> String {
    use pkcs8::der::Decode;
    let (_, der) = pkcs8::der::pem::decode_vec(key_pem.as_bytes()).unwrap();
    let info = pkcs8::PrivateKeyInfo::from_der(&der).unwrap();
    let params =
        pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, &[7u8; 16], &[9u8; 16])
            .unwrap();
    let encrypted = info.encrypt_with_params(params, password).unwrap();
    encrypted
        .to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn secrets_never_reach_debug_output() {
    let setup = setup(|_| {}).await;
    let client = setup.client();
    client.models(&ctx()).await.unwrap();
    let debug = format!("{client:?}");
    assert!(
        !debug.contains(&setup.emulator.credentials_header()),
        "{debug}"
    );
}

/// Every thread gets its own connection pool (see `transport`); the token cache stays shared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_serves_several_event_loops() {
    let setup = setup(|_| {}).await;
    let client = setup.client();
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let client = client.clone();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let answer = client.chat(&hello(), &ctx()).await.unwrap();
                    assert!(!answer.data.choices.is_empty());
                    let mut stream = client.chat_stream(&hello(), &ctx()).await.unwrap();
                    let mut chunks = 0;
                    while let Some(chunk) = stream.next().await {
                        chunk.unwrap();
                        chunks += 1;
                    }
                    assert!(chunks > 1);
                });
            })
        })
        .collect();
    for thread in threads {
        tokio::task::spawn_blocking(move || thread.join().unwrap())
            .await
            .unwrap();
    }
    assert_eq!(setup.token_requests(), 1);
    let calls = setup.logged(Listener::Api, "/chat/completions");
    assert_eq!(calls.len(), 6);
    // Three pools, one HTTP/2 connection each, each used for its thread's two calls.
    let mut connections: Vec<u64> = calls.iter().map(|call| call.connection).collect();
    connections.sort_unstable();
    connections.dedup();
    assert_eq!(connections.len(), 3, "{calls:?}");
    assert!(calls.iter().all(|call| call.http_version == "HTTP/2.0"));
}

/// v2 chat goes to `/v2/chat/completions` beside the base's `/v1` (or `/api/v2/...` beside
/// `/api/v1`), over the direct HTTP/2 lane and over the pooled client (a host without HTTP/2),
/// whole and streamed, and its answers read into the neutral model.
#[tokio::test]
async fn v2_chat_reaches_the_v2_path_on_both_layouts_and_both_transports() {
    for http2 in [true, false] {
        let setup = setup(|config| config.http2 = http2).await;
        for (base, path) in [
            (setup.emulator.api_base_url(), "/v2/chat/completions"),
            (
                setup.emulator.legacy_api_base_url(),
                "/api/v2/chat/completions",
            ),
        ] {
            setup.emulator.clear_requests();
            let client = GigaChat::new(Settings {
                base_url: base.clone(),
                ..setup.settings.clone()
            })
            .unwrap();
            let request = ChatRequest {
                contract: gigachat::Contract::V2,
                ..hello()
            };
            let answer = client.chat(&request, &ctx()).await.unwrap();
            let choice = &answer.data.choices[0];
            assert!(!choice.message.content.is_empty(), "{base}");
            assert_eq!(choice.finish_reason, Some(FinishReason::Stop));
            assert!(answer.data.usage.unwrap().total_tokens > 0);
            let mut stream = client.chat_stream(&request, &ctx()).await.unwrap();
            let mut text = String::new();
            let mut finish = None;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.unwrap();
                text.extend(chunk.choices[0].delta.content.clone());
                finish = finish.or(chunk.choices[0].finish_reason.clone());
            }
            assert!(!text.is_empty(), "{base}");
            assert_eq!(finish, Some(FinishReason::Stop));
            let sent = setup.logged(Listener::Api, "/chat/completions");
            assert_eq!(sent.len(), 2, "{base} http2={http2}");
            for call in &sent {
                assert_eq!(call.path, path, "{base} http2={http2}");
                let body: serde_json::Value = serde_json::from_slice(&call.body).unwrap();
                assert_eq!(
                    body["messages"],
                    serde_json::json!([{"role": "user", "content": [{"text": "Say 'Hello'"}]}])
                );
            }
        }
    }
}

/// A v2 request offering two functions, several calls allowed, with this prompt.
fn two_functions_v2(prompt: &str) -> ChatRequest {
    let spec = |name: &str, field: &str| gigachat::types::FunctionSpec {
        name: name.into(),
        description: None,
        parameters: Some(
            serde_json::json!({"type": "object",
            "properties": {field: {"type": "string"}}, "required": [field]})
            .into(),
        ),
        few_shot_examples: None,
        return_parameters: None,
    };
    ChatRequest {
        contract: gigachat::Contract::V2,
        messages: vec![Message::new(Role::User, prompt)],
        functions: Some(vec![
            spec("get_weather", "city"),
            spec("get_rate", "currency"),
        ]),
        function_call: Some(gigachat::types::FunctionCallMode::Auto),
        parallel_tool_calls: Some(true),
        ..ChatRequest::default()
    }
}

/// Every call of a streamed answer (with its delta's state id), its text, and its finish reason.
async fn read_stream(
    mut stream: gigachat::ChatStream,
) -> (
    Vec<(gigachat::types::FunctionCall, Option<String>)>,
    String,
    Option<FinishReason>,
    i64,
) {
    let (mut calls, mut text, mut finish, mut created) = (Vec::new(), String::new(), None, 0);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        created = chunk.created;
        let choice = &chunk.choices[0];
        if let Some(call) = &choice.delta.function_call {
            calls.push((call.clone(), choice.delta.functions_state_id.clone()));
        }
        text.extend(choice.delta.content.clone());
        finish = finish.or(choice.finish_reason.clone());
    }
    (calls, text, finish, created)
}

/// Every v2 stream variant (named or unnamed events, a trailing `[DONE]`, `created_at` as a
/// string, arguments whole or in fragments keyed by id, ids on or off) reads into the same
/// neutral chunks as the whole answer: each call whole in its own chunk with its id and the
/// answer's state id, then the finish.
#[tokio::test]
async fn v2_stream_variants_read_alike_and_match_the_whole_answer() {
    let prompt =
        r#"call:get_weather args:{"city":"Kazan"} and call:get_rate args:{"currency":"EUR"}"#;
    for variant in 0..6u8 {
        let setup = setup(|config| {
            config.v2_stream_unnamed_events = variant & 1 != 0;
            config.v2_stream_done_marker = variant & 2 != 0;
            config.v2_created_at_string = variant & 1 != 0;
            config.v2_call_argument_fragments = variant >= 2;
            config.function_call_ids = variant != 5;
        })
        .await;
        let client = setup.client();
        let request = two_functions_v2(prompt);
        let whole = client.chat(&request, &ctx()).await.unwrap().data;
        let message = &whole.choices[0].message;
        assert_eq!(
            whole.choices[0].finish_reason,
            Some(FinishReason::FunctionCall)
        );
        let expected: Vec<_> = message.calls().cloned().collect();
        let (calls, text, finish, created) =
            read_stream(client.chat_stream(&request, &ctx()).await.unwrap()).await;
        let what = format!("variant {variant}");
        assert!(text.is_empty(), "{what}: {text}");
        assert_eq!(finish, Some(FinishReason::FunctionCall), "{what}");
        assert!(created > 1_700_000_000, "{what}: {created}");
        let names: Vec<_> = calls.iter().map(|(call, _)| call.name.as_str()).collect();
        assert_eq!(names, ["get_weather", "get_rate"], "{what}");
        assert_eq!(expected.len(), 2, "{what}");
        if variant == 5 {
            // Without ids the fragments still assemble: each call's first fragment names it.
            assert!(calls.iter().all(|(call, _)| call.id.is_none()), "{what}");
        } else {
            assert!(calls.iter().all(|(call, _)| call.id.is_some()), "{what}");
            assert_ne!(calls[0].0.id, calls[1].0.id, "{what}");
        }
        assert_eq!(
            calls[0].0.arguments,
            serde_json::json!({"city": "Kazan"}),
            "{what}"
        );
        for (call, state) in &calls {
            assert!(state.is_some(), "{what}: {call:?}");
        }
        let streamed: Vec<_> = calls.into_iter().map(|(call, _)| call).collect();
        assert_eq!(
            streamed, expected,
            "{what}: streamed and whole answers agree"
        );
    }
}

/// Failures GigaChat reports inside a 200 (`fail-inband:`) are errors judged upstream failures,
/// whole and streamed (with or without the `response.error` event before the done event), with
/// GigaChat's message kept.
#[tokio::test]
async fn v2_in_band_failures_are_upstream_errors() {
    for error_event in [false, true] {
        let setup = setup(|config| config.v2_stream_error_event = error_event).await;
        let client = setup.client();
        let request = ChatRequest {
            contract: gigachat::Contract::V2,
            messages: vec![Message::new(Role::User, "fail-inband: now")],
            ..ChatRequest::default()
        };
        let err = client.chat(&request, &ctx()).await.unwrap_err();
        assert!(matches!(err, Error::InBand(_)), "{err:?}");
        assert_eq!(err.verdict(), gigachat::Verdict::UpstreamFailed);
        let mut stream = client.chat_stream(&request, &ctx()).await.unwrap();
        let mut failure = None;
        while let Some(chunk) = stream.next().await {
            if let Err(err) = chunk {
                failure = Some(err);
            }
        }
        let failure = failure.expect("the stream reported no failure");
        assert!(matches!(failure, Error::InBand(_)), "{failure:?}");
        assert_eq!(failure.verdict(), gigachat::Verdict::UpstreamFailed);
    }
}
