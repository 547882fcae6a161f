//! The client against the GigaChat emulator over plain HTTP/1.1: every kind of call through the
//! direct HTTP/1.1 lane (and uploads through reqwest), whole and streamed, on kept-alive connections.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures_util::StreamExt;
use gigachat::types::{ChatRequest, FilePurpose, Message, Role};
use gigachat::{FileSource, FileUpload, GigaChat, RequestContext, Settings};
use gigachat_emulator::{Emulator, EmulatorConfig, Listener};

const TOKEN: &str = "plain-http-token";

async fn plain(configure: impl FnOnce(&mut EmulatorConfig)) -> (Emulator, GigaChat) {
    let mut config = EmulatorConfig {
        tls: false,
        static_tokens: vec![TOKEN.to_owned()],
        ..EmulatorConfig::default()
    };
    configure(&mut config);
    let emulator = Emulator::start(config).await.unwrap();
    let client = GigaChat::new(Settings {
        base_url: emulator.api_base_url(),
        access_token: Some(TOKEN.to_owned().into()),
        ..Settings::default()
    })
    .unwrap();
    (emulator, client)
}

fn hello(content: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::new(Role::User, content)],
        ..ChatRequest::default()
    }
}

#[tokio::test]
async fn whole_and_streamed_chats_share_one_kept_alive_connection() {
    let (emulator, client) = plain(|config| config.answer_words = 30).await;
    assert!(emulator.api_base_url().starts_with("http://"));
    let context = RequestContext::default();
    let answer = client.chat(&hello("раз"), &context).await.unwrap();
    assert!(!answer.data.choices[0].message.content.is_empty());
    for _ in 0..2 {
        let mut stream = client.chat_stream(&hello("два"), &context).await.unwrap();
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            text.extend(chunk.unwrap().choices[0].delta.content.clone());
        }
        assert!(!text.is_empty());
    }
    let models = client.models(&context).await.unwrap();
    assert!(!models.data.data.is_empty());

    let logged = emulator.requests();
    let api: Vec<_> = logged
        .iter()
        .filter(|request| request.listener == Listener::Api)
        .collect();
    assert_eq!(api.len(), 4);
    for request in &api {
        assert_eq!(request.http_version, "HTTP/1.1");
        assert_eq!(request.connection, api[0].connection, "{}", request.path);
        assert!(
            request
                .header("user-agent")
                .is_some_and(|agent| agent.starts_with("gigachat-rs/"))
        );
        assert_eq!(
            request.header("authorization"),
            Some("Bearer plain-http-token")
        );
    }
    assert_eq!(api[1].header("accept"), Some("text/event-stream"));
}

#[tokio::test]
async fn uploads_still_go_through_reqwest() {
    let (emulator, client) = plain(|_| {}).await;
    let context = RequestContext::default();
    let upload = FileUpload {
        filename: "notes.txt".into(),
        content_type: None,
        purpose: FilePurpose::General,
        source: FileSource::Bytes(bytes::Bytes::from_static("заметки".as_bytes())),
    };
    let file = client.upload_file(&upload, &context).await.unwrap().data;
    let content = client.file_content(&file.id, &context).await.unwrap().data;
    assert_eq!(content.bytes, "заметки".as_bytes());
    let logged = emulator.requests();
    assert!(
        logged[0]
            .header("content-type")
            .unwrap()
            .starts_with("multipart/form-data")
    );
    assert_ne!(logged[0].connection, logged[1].connection, "two clients");
}

#[tokio::test]
async fn many_streams_at_once_each_get_a_connection_and_all_finish() {
    let (emulator, client) = plain(|config| {
        config.answer_words = 12;
        config.words_per_event = 1;
        config.event_gap = std::time::Duration::from_millis(5);
    })
    .await;
    let context = RequestContext::default();
    let streams = (0..20).map(|index| {
        let client = client.clone();
        let context = context.clone();
        async move {
            let mut stream = client
                .chat_stream(&hello(&format!("поток {index}")), &context)
                .await
                .unwrap();
            let mut events = 0;
            while let Some(chunk) = stream.next().await {
                chunk.unwrap();
                events += 1;
            }
            events
        }
    });
    let events = futures_util::future::join_all(streams).await;
    assert!(events.iter().all(|count| *count >= 12), "{events:?}");
    let logged = emulator.requests();
    let mut connections: Vec<u64> = logged.iter().map(|request| request.connection).collect();
    connections.sort_unstable();
    connections.dedup();
    assert_eq!(connections.len(), 20, "one connection per open stream");
    // Every connection went back: the next 20 calls, one after another, open none.
    for _ in 0..20 {
        client.chat(&hello("ещё"), &context).await.unwrap();
    }
    let mut after: Vec<u64> = emulator
        .requests()
        .iter()
        .map(|request| request.connection)
        .collect();
    after.sort_unstable();
    after.dedup();
    assert_eq!(after, connections);
}
