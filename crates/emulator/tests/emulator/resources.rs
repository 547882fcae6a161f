//! Files, embeddings, tokens count, models, balance, `/ai/check`, `/functions/convert`.

use gigachat_emulator::EmulatorConfig;
use serde_json::{Value, json};

use crate::common::{Env, keys, scoped, status_text};

const IMAGE: &[u8] = include_bytes!("../../assets/generated.jpg");

fn upload_form(bytes: Vec<u8>, name: &str, mime: &str) -> reqwest::multipart::Form {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(mime)
        .unwrap();
    reqwest::multipart::Form::new()
        .part("file", part)
        .text("purpose", "general")
}

#[tokio::test]
async fn files_round_trip() {
    let env = Env::start().await;
    let response = env
        .http
        .post(env.url("/files"))
        .bearer_auth(&env.token)
        .multipart(upload_form(IMAGE.to_vec(), "image.jpg", "image/jpeg"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let file: Value = response.json().await.unwrap();
    assert_eq!(
        keys(&file),
        ["id", "object", "bytes", "created_at", "filename", "purpose"]
    );
    assert_eq!(file["bytes"], 42966);
    assert_eq!(file["filename"], "image.jpg");
    assert_eq!(file["object"], "file");
    let id = file["id"].as_str().unwrap();
    uuid::Uuid::parse_str(id).unwrap();
    let logged = env.emu.requests().pop().unwrap();
    assert!(
        logged.body.len() > IMAGE.len(),
        "the multipart body is logged verbatim"
    );

    let list: Value = env.get("/files").await.json().await.unwrap();
    assert_eq!(list["data"][0]["id"], id);
    let one: Value = env.get(&format!("/files/{id}")).await.json().await.unwrap();
    assert_eq!(one["access_policy"], "private");
    let content = env.get(&format!("/files/{id}/content")).await;
    assert_eq!(content.headers()["content-type"], "image/jpeg");
    assert_eq!(content.bytes().await.unwrap().as_ref(), IMAGE);

    let deleted: Value = env
        .post(&format!("/files/{id}/delete"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        deleted,
        json!({"id": id, "object": "file", "deleted": true})
    );
    assert_eq!(env.get(&format!("/files/{id}")).await.status(), 404);
}

#[tokio::test]
async fn files_are_private_to_their_owner() {
    let env = Env::with(EmulatorConfig {
        static_tokens: vec!["someone-else".to_owned()],
        ..EmulatorConfig::default()
    })
    .await;
    let file: Value = env
        .http
        .post(env.url("/files"))
        .bearer_auth(&env.token)
        .multipart(upload_form(b"hello".to_vec(), "a.txt", "text/plain"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = file["id"].as_str().unwrap();
    let foreign = env
        .http
        .get(env.url(&format!("/files/{id}")))
        .bearer_auth("someone-else")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404);
}

#[tokio::test]
async fn files_enforce_type_and_size() {
    let env = Env::start().await;
    let send = |form| {
        env.http
            .post(env.url("/files"))
            .bearer_auth(&env.token)
            .multipart(form)
            .send()
    };
    let (status, text) = status_text(
        send(upload_form(b"GIF89a".to_vec(), "a.gif", "image/gif"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (
            415,
            "{\"status\":415,\"message\":\"Unsupported media type\"}\n"
        )
    );
    let big = vec![0_u8; 15 * 1024 * 1024 + 1];
    let (status, text) = status_text(
        send(upload_form(big, "big.png", "image/png"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (413, "{\"status\":413,\"message\":\"Payload too large\"}\n")
    );
}

#[tokio::test]
async fn embeddings_are_unit_length_with_per_item_usage() {
    let env = Env::start().await;
    let body = json!({"input": ["Hello, world!", "Привет"], "model": "Embeddings"});
    let response: Value = env.post("/embeddings", &body).await.json().await.unwrap();
    assert_eq!(keys(&response), ["object", "model", "data"]);
    assert_eq!(response["model"], "Embeddings");
    let data = response["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    for (index, item) in data.iter().enumerate() {
        assert_eq!(keys(item), ["object", "index", "embedding", "usage"]);
        assert_eq!(item["index"], index);
        let vector: Vec<f64> = item["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(vector.len(), 1024);
        let norm = vector.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "norm {norm}");
    }
    assert_eq!(
        data[0]["usage"]["prompt_tokens"], 9,
        "recorded value for 'Hello, world!'"
    );
    let again: Value = env.post("/embeddings", &body).await.json().await.unwrap();
    assert_eq!(again, response);
    let unknown = env
        .post("/embeddings", &json!({"input": ["a"], "model": "GigaChat"}))
        .await;
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn tokens_count_is_a_bare_array() {
    let env = Env::start().await;
    let body = json!({"model": "GigaChat", "input": ["First text", "Second text"]});
    let (status, text) = status_text(env.post("/tokens/count", &body).await).await;
    assert_eq!(status, 200);
    assert_eq!(
        text,
        r#"[{"object":"tokens","tokens":2,"characters":10},{"object":"tokens","tokens":2,"characters":11}]"#
    );
}

#[tokio::test]
async fn models_equal_the_recorded_list() {
    let env = Env::start().await;
    let text = env.get("/models").await.text().await.unwrap();
    let expected = r#"{"object":"list","data":[{"id":"GigaChat","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaChat-2","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaChat-2-Max","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaChat-2-Max-preview","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaChat-2-Pro","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaChat-2-Pro-preview","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaChat-2-preview","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaChat-Max","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaChat-Max-preview","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaChat-Plus","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaChat-Pro","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaChat-Pro-preview","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaChat-preview","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaFilter","object":"model","owned_by":"salutedevices","type":"filter"},{"id":"GigaCheckClassification","object":"model","owned_by":"salutedevices","type":"aicheck"},{"id":"GigaCheckDetection","object":"model","owned_by":"salutedevices","type":"aicheck"},{"id":"Embeddings","object":"model","owned_by":"salutedevices","type":"embedder"},{"id":"Embeddings-2","object":"model","owned_by":"salutedevices","type":"embedder"},{"id":"EmbeddingsGigaR","object":"model","owned_by":"salutedevices","type":"embedder"},{"id":"GigaEmbeddings-3B-2025-09","object":"model","owned_by":"salutedevices","type":"embedder"}]}"#;
    assert_eq!(text, expected);
    assert_eq!(text.len(), 1724, "recorded Content-Length");
    let one = env.get("/models/GigaChat").await.text().await.unwrap();
    assert_eq!(
        one,
        r#"{"id":"GigaChat","object":"model","owned_by":"salutedevices","type":"chat"}"#
    );
    let (status, text) = status_text(env.get("/models/NonExistentModel").await).await;
    assert_eq!(
        (status, text.as_str()),
        (404, "{\"status\":404,\"message\":\"No such model\"}\n")
    );
}

#[tokio::test]
async fn balance_for_prepaid_and_403_for_corp() {
    // The fixture `balance.json`, compact.
    let fixture = r#"{"balance":[{"usage":"embeddings","value":9999967},{"usage":"GigaChat-Pro","value":991490},{"usage":"GigaChat-Max","value":50000},{"usage":"GigaChat","value":900000}]}"#;
    for scope in ["GIGACHAT_API_PERS", "GIGACHAT_API_B2B", "GIGACHAT_API_CORP"] {
        let (emu, http, token) = scoped(scope).await;
        let response = http
            .get(format!("{}/balance", emu.api_base_url()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let expected = if scope == "GIGACHAT_API_CORP" {
            (
                403,
                "{\"status\":403,\"message\":\"Permission denied\"}\n".to_owned(),
            )
        } else {
            (200, fixture.to_owned())
        };
        assert_eq!(status_text(response).await, expected, "{scope}");
    }
    // User/password and static-token identities count as prepaid.
    let env = Env::with(EmulatorConfig {
        static_tokens: vec!["static".to_owned()],
        ..EmulatorConfig::default()
    })
    .await;
    let response = env
        .http
        .get(env.url("/balance"))
        .bearer_auth("static")
        .send()
        .await
        .unwrap();
    assert_eq!(status_text(response).await, (200, fixture.to_owned()));
    let user_token: Value = env
        .http
        .post(env.legacy_url("/token"))
        .basic_auth("emulator-user", Some("emulator-password"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = env
        .http
        .get(env.url("/balance"))
        .bearer_auth(user_token["tok"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(status_text(response).await, (200, fixture.to_owned()));
}

#[tokio::test]
async fn ai_check_is_deterministic_and_consistent() {
    let env = Env::start().await;
    let input = "GigaChat is a large language model. It writes texts. It answers questions! \
                 Does it draw? Yes, it draws pictures too. Humans wrote this line.";
    let body = json!({"input": input, "model": "GigaCheckClassification"});
    let response = env.post("/ai/check", &body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    let verdict: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(text, serde_json::to_string(&verdict).unwrap(), "compact");
    assert_eq!(
        keys(&verdict),
        ["category", "characters", "tokens", "ai_intervals"]
    );
    let characters = verdict["characters"].as_u64().unwrap();
    assert_eq!(characters, input.chars().count() as u64);
    // The same estimator as /tokens/count.
    let counted: Value = env
        .post(
            "/tokens/count",
            &json!({"model": "GigaChat", "input": [input]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verdict["tokens"], counted[0]["tokens"]);
    let intervals = verdict["ai_intervals"].as_array().unwrap();
    let mut previous_end = 0;
    for interval in intervals {
        let (start, end) = (interval[0].as_u64().unwrap(), interval[1].as_u64().unwrap());
        assert!(previous_end < start && start <= end && end <= characters);
        previous_end = end;
    }
    let category = verdict["category"].as_str().unwrap();
    match intervals.len() {
        0 => assert_eq!(category, "human"),
        _ => assert!(["ai", "mixed"].contains(&category)),
    }
    // Deterministic; the other detector model answers too; others are no detectors.
    let again: Value = env.post("/ai/check", &body).await.json().await.unwrap();
    assert_eq!(again, verdict);
    let detection = json!({"input": input, "model": "GigaCheckDetection"});
    assert_eq!(env.post("/ai/check", &detection).await.status(), 200);
    let wrong = json!({"input": input, "model": "GigaChat"});
    assert_eq!(
        status_text(env.post("/ai/check", &wrong).await).await,
        (
            404,
            "{\"status\":404,\"message\":\"No such model\"}\n".to_owned()
        )
    );
    let missing = env.post("/ai/check", &json!({"input": input})).await;
    assert_eq!(missing.status(), 422);
}

const OPENAPI_YAML: &str = r##"openapi: 3.0.1
info: {title: HR, version: "2"}
paths:
  /api/v{version}/sms:
    post:
      operationId: send_sms
      description: Отправка SMS по табельному номеру
      parameters:
        - name: version
          in: path
          description: Описание параметра - версия API
          schema: {type: string}
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Sms'}
      responses:
        200:
          description: OK
          content:
            application/json:
              schema:
                type: object
                properties:
                  status: {type: boolean, description: Отправлено/не отправлено}
                  phone: {type: string, nullable: true, description: Номер}
  /employees:
    get:
      summary: List employees
      parameters:
        - {name: limit, in: query, required: false, schema: {type: integer, minimum: 1}}
      responses:
        '200':
          description: OK
          content:
            application/json:
              schema: {type: array, items: {type: string}}
components:
  schemas:
    Sms:
      type: object
      required: [employeeId, text]
      properties:
        employeeId: {type: integer, format: int32, description: Табельный номер}
        text: {type: string, minLength: 1, description: Текст смс}
"##;

#[tokio::test]
async fn functions_convert_builds_specs_from_openapi() {
    let env = Env::start().await;
    // The SDK sends the raw text without a content type.
    let response = env
        .http
        .post(env.url("/functions/convert"))
        .bearer_auth(&env.token)
        .body(OPENAPI_YAML)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let converted: Value = response.json().await.unwrap();
    assert_eq!(keys(&converted), ["functions"]);
    let functions = converted["functions"].as_array().unwrap();
    assert_eq!(functions.len(), 2);
    assert_eq!(
        functions[0],
        json!({
            "name": "send_sms",
            "description": "Отправка SMS по табельному номеру",
            "parameters": {
                "type": "object",
                "properties": {
                    "version": {"description": "Описание параметра - версия API", "type": "string"},
                    "employeeId": {"description": "Табельный номер", "format": "int32", "type": "integer"},
                    "text": {"description": "Текст смс", "minLength": 1, "type": "string"}
                },
                "required": ["version", "employeeId", "text"]
            },
            "return_parameters": {
                "type": "object",
                "properties": {
                    "status": {"description": "Отправлено/не отправлено", "type": "boolean"},
                    "phone": {"description": "Номер", "nullable": true, "type": "string"}
                }
            }
        })
    );
    assert_eq!(
        keys(&functions[0]["parameters"]["properties"]["employeeId"]),
        ["description", "format", "type"]
    );
    // No operationId: a name from the method and path; summary as the description.
    assert_eq!(functions[1]["name"], "get_employees");
    assert_eq!(functions[1]["description"], "List employees");
    assert_eq!(
        functions[1]["parameters"],
        json!({"type":"object","properties":{"limit":{"minimum":1,"type":"integer"}}})
    );
    assert_eq!(
        functions[1]["return_parameters"]["properties"]["result"],
        json!({"items":{"type":"string"},"type":"array"})
    );

    // The same description as JSON converts identically; the converted specs are accepted by chat.
    // (JSON keys are strings: quote the YAML integer key `200:` before converting.)
    let as_json: Value =
        serde_norway::from_str(&OPENAPI_YAML.replace("        200:", "        '200':")).unwrap();
    let again: Value = env
        .post("/functions/convert", &as_json)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again, converted);
    let chat = json!({"model":"GigaChat","functions": functions,
        "messages":[{"role":"user","content":"call:send_sms"}]});
    let answer: Value = env
        .post("/chat/completions", &chat)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["choices"][0]["finish_reason"], "function_call");
    assert!(answer["choices"][0]["message"]["function_call"]["arguments"]["employeeId"].is_i64());

    // Not an OpenAPI description.
    let response = env
        .http
        .post(env.url("/functions/convert"))
        .bearer_auth(&env.token)
        .body("just text")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
}

#[tokio::test]
async fn request_log_keeps_only_the_latest_requests() {
    let env = Env::with(EmulatorConfig {
        log_capacity: 3,
        ..EmulatorConfig::default()
    })
    .await;
    for query in ["a", "b", "c", "d"] {
        let status = env.get(&format!("/models?n={query}")).await.status();
        assert_eq!(status, 200);
    }
    let paths: Vec<String> = env.emu.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        ["/v1/models?n=b", "/v1/models?n=c", "/v1/models?n=d"]
    );
}
