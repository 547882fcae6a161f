//! Stored Responses through the adapter: `store` (true by default, false writes nothing), retrieve, delete, `input_items` paging, `previous_response_id` (the history sent upstream, 404s), per-key isolation, and two replicas sharing one Redis.

use serde_json::{Value, json};

use crate::common::{
    Harness, KEY, Options, assert_error, listed_ids, spawn_adapter, start, start_with,
};
use crate::openai_spec::spec;

/// POSTs a Responses request with `key` to the adapter at `base`; (status, headers, body).
async fn create_at(
    harness: &Harness,
    base: &str,
    key: &str,
    body: Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = harness
        .http
        .post(format!("{base}/v1/responses"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap())
}

/// POSTs a Responses request to the harness' adapter, expecting a 200; the body.
async fn create(harness: &Harness, body: Value) -> Value {
    let (status, _, body) = create_at(harness, &harness.base, KEY, body).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// `method` on `path` of the adapter at `base` with `key`; (status, body).
async fn call_at(
    harness: &Harness,
    method: reqwest::Method,
    base: &str,
    key: &str,
    path: &str,
) -> (u16, Value) {
    let response = harness
        .http
        .request(method, format!("{base}{path}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn get(harness: &Harness, path: &str) -> (u16, Value) {
    call_at(harness, reqwest::Method::GET, &harness.base, KEY, path).await
}

async fn delete(harness: &Harness, path: &str) -> (u16, Value) {
    call_at(harness, reqwest::Method::DELETE, &harness.base, KEY, path).await
}

/// Asserts OpenAI's 404 for a response id nobody may read.
fn assert_not_found(status: u16, body: &Value, id: &str) {
    let message = assert_error(status, body, 404, None);
    assert_eq!(message, format!("Response with id '{id}' not found."));
    assert_eq!(body["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn a_stored_response_is_retrieved_listed_and_deleted() {
    let harness = start().await;
    let created = create(
        &harness,
        json!({"instructions": "Be brief.", "input": "Hello there"}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("resp_"), "{id}");

    for prefix in ["/v1", ""] {
        let (status, retrieved) = get(&harness, &format!("{prefix}/responses/{id}")).await;
        assert_eq!(status, 200, "{retrieved}");
        assert_eq!(retrieved, created);
    }
    spec().assert_valid("Response", &created);
    // `include[]` is accepted.
    let (status, _) = get(
        &harness,
        &format!("/v1/responses/{id}?include[]=message.output_text.logprobs"),
    )
    .await;
    assert_eq!(status, 200);

    let (status, items) = get(&harness, &format!("/v1/responses/{id}/input_items")).await;
    assert_eq!(status, 200, "{items}");
    assert_eq!(items["object"], "list");
    assert_eq!(items["has_more"], false);
    let item = &items["data"][0];
    assert_eq!(
        (&item["type"], &item["role"]),
        (&json!("message"), &json!("user"))
    );
    assert_eq!(item["content"][0]["text"], "Hello there");
    let item_id = item["id"].as_str().unwrap();
    assert!(item_id.starts_with("msg_"), "{item_id}");
    assert_eq!(
        (&items["first_id"], &items["last_id"]),
        (&item["id"], &item["id"])
    );

    let (status, deleted) = delete(&harness, &format!("/v1/responses/{id}")).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(
        deleted,
        json!({"id": id, "object": "response", "deleted": true})
    );
    let (status, body) = get(&harness, &format!("/v1/responses/{id}")).await;
    assert_not_found(status, &body, id);
    let (status, body) = delete(&harness, &format!("/v1/responses/{id}")).await;
    assert_not_found(status, &body, id);
    let (status, body) = get(&harness, &format!("/v1/responses/{id}/input_items")).await;
    assert_not_found(status, &body, id);
}

#[tokio::test]
async fn unknown_ids_and_unsupported_queries_are_refused_in_openais_envelope() {
    let harness = start().await;
    for path in [
        "/v1/responses/resp_nope",
        "/responses/resp_nope/input_items",
    ] {
        let (status, body) = get(&harness, path).await;
        assert_not_found(status, &body, "resp_nope");
    }
    let (status, body) = delete(&harness, "/v1/responses/resp_nope").await;
    assert_not_found(status, &body, "resp_nope");

    let id = create(&harness, json!({"input": "Hi"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = get(&harness, &format!("/v1/responses/{id}?stream=true")).await;
    assert_error(status, &body, 400, None);
    assert_eq!(body["error"]["param"], "stream");
    for (query, param) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("order=up", "order"),
    ] {
        let (status, body) =
            get(&harness, &format!("/v1/responses/{id}/input_items?{query}")).await;
        assert_error(status, &body, 400, None);
        assert_eq!(body["error"]["param"], param, "{query}");
    }
}

#[tokio::test]
async fn store_false_writes_nothing() {
    let redis = crate::redis_server::RedisServer::start().await;
    let harness = start_with(Options {
        args: vec!["--redis-url".into(), redis.url.clone()],
        ..Options::default()
    })
    .await;
    let created = create(&harness, json!({"input": "Hi", "store": false})).await;
    let id = created["id"].as_str().unwrap();
    let (status, body) = get(&harness, &format!("/v1/responses/{id}")).await;
    assert_not_found(status, &body, id);
    let mut raw = redis.raw().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(keys, Vec::<String>::new());

    // The default is to store, in Redis.
    let created = create(&harness, json!({"input": "Hi"})).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("gigachat-adapter:response:*")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(
        keys[0].ends_with(created["id"].as_str().unwrap()),
        "{keys:?}"
    );
}

#[tokio::test]
async fn previous_response_id_sends_the_history_without_the_old_instructions() {
    let harness = start().await;
    let first = create(
        &harness,
        json!({"instructions": "Old instructions.", "input": "My name is Ann."}),
    )
    .await;
    let answer = first["output"][0]["content"][0]["text"].as_str().unwrap();
    let second = create(
        &harness,
        json!({"previous_response_id": first["id"], "instructions": "New instructions.",
               "input": [{"role": "user", "content": "What is my name?"}]}),
    )
    .await;
    assert_eq!(second["previous_response_id"], first["id"]);

    let bodies = harness.upstream_chat_bodies();
    assert_eq!(bodies.len(), 2);
    let sent: Vec<(String, String)> = bodies[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| {
            (
                message["role"].as_str().unwrap().to_owned(),
                message["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("system", "New instructions."),
        ("user", "My name is Ann."),
        ("assistant", answer),
        ("user", "What is my name?"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(role, text)| ((*role).to_owned(), (*text).to_owned()))
        .collect();
    assert_eq!(sent, expected);

    // The second response's input items are the whole conversation, newest first by default:
    // user messages are `InputMessage`s, the assistant's answer an `OutputMessage`. (Not checked
    // as `InputItem`: a message with content parts fits two branches of its `oneOf`, OpenAI's own
    // items too.)
    let id = second["id"].as_str().unwrap();
    let (_, items) = get(&harness, &format!("/v1/responses/{id}/input_items")).await;
    for item in items["data"].as_array().unwrap() {
        let schema = if item["role"] == "assistant" {
            "OutputMessage"
        } else {
            "InputMessage"
        };
        spec().assert_valid(schema, item);
    }
    assert_eq!(items["data"][1]["role"], "assistant");
    assert_eq!(items["data"][1]["status"], "completed");
    let first_output_id = first["output"][0]["id"].as_str().unwrap();
    assert_eq!(listed_ids(&items).len(), 3);
    assert_eq!(listed_ids(&items)[1], first_output_id);
    let (_, oldest) = get(
        &harness,
        &format!("/v1/responses/{id}/input_items?order=asc&limit=1"),
    )
    .await;
    assert_eq!(oldest["data"][0]["content"][0]["text"], "My name is Ann.");
    assert_eq!(oldest["has_more"], true);
    let after = oldest["last_id"].as_str().unwrap();
    let (_, next) = get(
        &harness,
        &format!("/v1/responses/{id}/input_items?order=asc&limit=5&after={after}"),
    )
    .await;
    assert_eq!(listed_ids(&next)[0], first_output_id);
    assert_eq!(next["has_more"], false);
}

#[tokio::test]
async fn an_unknown_previous_response_is_a_404_and_nothing_goes_upstream() {
    let harness = start().await;
    let (status, _, body) = create_at(
        &harness,
        &harness.base,
        KEY,
        json!({"previous_response_id": "resp_missing", "input": "Hi"}),
    )
    .await;
    let message = assert_error(status, &body, 404, Some("previous_response_not_found"));
    assert!(message.contains("resp_missing"), "{message}");
    assert_eq!(body["error"]["param"], "previous_response_id");
    assert!(harness.upstream_chat_bodies().is_empty());
}

/// Two replicas sharing one Redis: a response stored through one is retrieved and continued
/// through the other, and deleted for both; a key of another name reads none of it.
#[tokio::test]
async fn replicas_sharing_redis_continue_each_others_responses() {
    let redis = crate::redis_server::RedisServer::start().await;
    let shared = vec!["--redis-url".to_owned(), redis.url.clone()];
    let harness = start_with(Options {
        args: shared.clone(),
        ..Options::default()
    })
    .await;
    let spawn = |key: &'static str| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            harness._dir.path().join("ca.pem"),
            dir.path().join("ca.pem"),
        )
        .unwrap();
        let args = shared.clone();
        let emulator = &harness.emulator;
        async move {
            let (base, server) =
                spawn_adapter(emulator, dir.path(), args, Box::new(|_| {}), key).await;
            (base, server, dir)
        }
    };
    let (replica, _replica, _replica_dir) = spawn(KEY).await;
    // The same secret under another name is another owner.
    let (renamed, _renamed, _renamed_dir) = spawn("other-team:test-key").await;

    let first = create(&harness, json!({"input": "My name is Ann."})).await;
    let id = first["id"].as_str().unwrap();
    let (status, retrieved) = call_at(
        &harness,
        reqwest::Method::GET,
        &replica,
        KEY,
        &format!("/v1/responses/{id}"),
    )
    .await;
    assert_eq!(status, 200, "{retrieved}");
    assert_eq!(retrieved, first);
    let (status, body) = call_at(
        &harness,
        reqwest::Method::GET,
        &renamed,
        KEY,
        &format!("/v1/responses/{id}"),
    )
    .await;
    assert_not_found(status, &body, id);
    let (status, _, body) = create_at(
        &harness,
        &renamed,
        KEY,
        json!({"previous_response_id": id, "input": "And?"}),
    )
    .await;
    assert_error(status, &body, 404, Some("previous_response_not_found"));

    let (status, _, second) = create_at(
        &harness,
        &replica,
        KEY,
        json!({"previous_response_id": id, "input": "What is my name?"}),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    let bodies = harness.upstream_chat_bodies();
    let last = bodies.last().unwrap();
    assert_eq!(last["messages"][0]["content"], "My name is Ann.");
    assert_eq!(last["messages"][1]["role"], "assistant");
    assert_eq!(last["messages"][2]["content"], "What is my name?");

    let (status, _) = call_at(
        &harness,
        reqwest::Method::DELETE,
        &replica,
        KEY,
        &format!("/v1/responses/{id}"),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = get(&harness, &format!("/v1/responses/{id}")).await;
    assert_not_found(status, &body, id);
}

/// A response larger than `RESPONSES_MAX_BYTES` is answered but not stored, and says so.
#[tokio::test]
async fn a_response_over_the_cap_is_served_but_not_stored() {
    let harness = start_with(Options {
        args: vec!["--responses-max-bytes".into(), "200".into()],
        ..Options::default()
    })
    .await;
    let (status, headers, created) =
        create_at(&harness, &harness.base, KEY, json!({"input": "Hi"})).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(headers["x-gigachat-adapter-not-stored"], "too-large");
    let id = created["id"].as_str().unwrap();
    let (status, body) = get(&harness, &format!("/v1/responses/{id}")).await;
    assert_not_found(status, &body, id);
}

/// POSTs a streamed Responses request; the Response its last event (`response.completed`) holds.
async fn streamed(harness: &Harness, body: Value) -> Value {
    let text = harness
        .post("/v1/responses", body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let last = text.split_terminator("\n\n").last().unwrap();
    let data = last
        .strip_prefix("event: response.completed\ndata: ")
        .unwrap_or_else(|| panic!("the stream does not end completed: {text}"));
    serde_json::from_str::<Value>(data).unwrap()["response"].clone()
}

/// A streamed response is stored before its last event goes out (unless `store` is false), and
/// can be continued like any other.
#[tokio::test]
async fn a_streamed_response_is_stored_by_the_time_its_stream_ends() {
    let harness = start().await;
    let completed = streamed(
        &harness,
        json!({"input": "My name is Ann.", "stream": true}),
    )
    .await;
    let id = completed["id"].as_str().unwrap();
    let (status, retrieved) = get(&harness, &format!("/v1/responses/{id}")).await;
    assert_eq!(status, 200, "{retrieved}");
    assert_eq!(retrieved, completed);
    let (_, items) = get(&harness, &format!("/v1/responses/{id}/input_items")).await;
    assert_eq!(items["data"][0]["content"][0]["text"], "My name is Ann.");

    create(
        &harness,
        json!({"previous_response_id": id, "input": "What is my name?"}),
    )
    .await;
    let bodies = harness.upstream_chat_bodies();
    let messages = &bodies.last().unwrap()["messages"];
    assert_eq!(messages[0]["content"], "My name is Ann.");
    assert_eq!(
        messages[1]["content"],
        completed["output"][0]["content"][0]["text"]
    );
    assert_eq!(messages[2]["content"], "What is my name?");

    let unstored = streamed(
        &harness,
        json!({"input": "Hi", "stream": true, "store": false}),
    )
    .await;
    let id = unstored["id"].as_str().unwrap();
    let (status, body) = get(&harness, &format!("/v1/responses/{id}")).await;
    assert_not_found(status, &body, id);
}

/// Input items sent as plain-text messages and tool items are listed in OpenAI's item shapes: text
/// as one part, a status on messages, an id on each.
#[tokio::test]
async fn listed_input_items_have_openais_item_shapes() {
    let harness = start().await;
    let created = create(
        &harness,
        json!({"input": [
            {"role": "user", "content": "Weather?"},
            {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            {"role": "assistant", "content": "It is sunny."},
            {"role": "user", "content": "Thanks"},
        ]}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let (_, items) = get(
        &harness,
        &format!("/v1/responses/{id}/input_items?order=asc"),
    )
    .await;
    let items = items["data"].as_array().unwrap();
    let schemas = [
        "InputMessage",
        "FunctionToolCall",
        "FunctionCallOutputItemParam",
        "OutputMessage",
        "InputMessage",
    ];
    assert_eq!(items.len(), schemas.len());
    for (item, schema) in items.iter().zip(schemas) {
        spec().assert_valid(schema, item);
        assert!(
            item["id"].as_str().is_some_and(|id| id.contains('_')),
            "{item}"
        );
    }
    assert_eq!(
        items[3]["content"],
        json!([{"type": "output_text", "text": "It is sunny.", "annotations": [], "logprobs": []}])
    );
}
