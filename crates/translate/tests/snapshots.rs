//! Snapshot tests of every mapping on real-world inputs: what GigaChat receives for a request, and
//! what the client receives for GigaChat's answers and stream chunks. Review changes with `cargo insta review`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use gigachat_types as gc;
use openai::chat::ChatCompletionRequest;
use serde_json::{Value, json};
use translate::{ChatDefaults, ResolvedParts, ResponseIds, StreamTranslator, chat_request};

fn defaults() -> ChatDefaults {
    ChatDefaults {
        contract: Default::default(),
        default_model: "GigaChat".into(),
        aliases: [("gpt-4o".to_owned(), "GigaChat-2-Max".to_owned())].into(),
        builtin_functions: true,
    }
}

fn upstream(body: Value) -> Value {
    let request: ChatCompletionRequest = serde_json::from_value(body).unwrap();
    let plan = chat_request(&request, &defaults(), &ResolvedParts::new()).unwrap();
    serde_json::to_value(&plan.upstream).unwrap()
}

fn ids() -> ResponseIds {
    ResponseIds {
        id: "chatcmpl-snapshot".into(),
        created: 1_700_000_000,
    }
}

#[test]
fn open_webui_style_chat() {
    insta::assert_json_snapshot!(upstream(json!({
        "model": "gpt-4o",
        "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [
            {"role": "system", "content": "Ты полезный ассистент."},
            {"role": "user", "content": [{"type": "text", "text": "Привет!"}]},
            {"role": "assistant", "content": "Здравствуйте!"},
            {"role": "user", "content": "Сколько будет 2+2?"}
        ],
        "temperature": 0.7,
        "max_tokens": 512,
        "user": "webui-user"
    })));
}

/// A Pydantic v2 model as `client.chat.completions.parse` sends it.
#[test]
fn pydantic_structured_output() {
    insta::assert_json_snapshot!(upstream(json!({
        "model": "GigaChat",
        "messages": [{"role": "user", "content": "Extract the event"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "CalendarEvent", "strict": true, "schema": {
            "$defs": {
                "Participant": {"properties": {"name": {"title": "Name", "type": "string"}, "email": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Email"}}, "required": ["name", "email"], "title": "Participant", "type": "object", "additionalProperties": false},
                "Kind": {"enum": ["meeting", "call"], "title": "Kind", "type": "string"},
                "Priority": {"enum": [1, 2, 3], "title": "Priority", "type": "integer"}
            },
            "properties": {
                "name": {"title": "Name", "type": "string"},
                "date": {"title": "Date", "type": "string", "format": "date"},
                "participants": {"items": {"$ref": "#/$defs/Participant"}, "title": "Participants", "type": "array"},
                "kind": {"$ref": "#/$defs/Kind"},
                "priority": {"$ref": "#/$defs/Priority"},
                "notes": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "title": "Notes"}
            },
            "required": ["name", "date", "participants", "kind", "priority", "notes"],
            "title": "CalendarEvent", "type": "object", "additionalProperties": false
        }}}
    })));
}

/// MCP tools as agent frameworks forward them: namespaced names, draft-07 schemas.
#[test]
fn mcp_tools_with_required_choice() {
    insta::assert_json_snapshot!(upstream(json!({
        "model": "GigaChat-2-Max",
        "messages": [{"role": "user", "content": "List the repo"}],
        "tools": [
            {"type": "function", "function": {"name": "filesystem__list_directory", "description": "List a directory", "parameters": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"], "additionalProperties": false}}},
            {"type": "function", "function": {"name": "github/search code", "description": "Search code", "parameters": {"type": "object", "properties": {"q": {"type": "string"}, "per_page": {"type": "integer", "maximum": 100}}, "required": ["q"]}}},
            {"type": "function", "function": {"name": "web_search", "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}
        ],
        "tool_choice": "required",
        "parallel_tool_calls": true
    })));
}

/// A LangChain agent's second turn: two parallel tool calls and their results.
#[test]
fn langchain_parallel_tool_history() {
    insta::assert_json_snapshot!(upstream(json!({
        "model": "GigaChat",
        "messages": [
            {"role": "user", "content": "Weather in Moscow and Kazan?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "call_0199e2102f13744c8fe5c9a19fe27db7", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Moscow\"}"}},
                {"id": "call_sZ2lnYWNoYXQ", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Kazan\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_0199e2102f13744c8fe5c9a19fe27db7", "content": "+12, cloudy"},
            {"role": "tool", "tool_call_id": "call_sZ2lnYWNoYXQ", "content": "{\"temp\": 9}"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    })));
}

fn plan_for(body: Value) -> translate::ChatPlan {
    let request: ChatCompletionRequest = serde_json::from_value(body).unwrap();
    chat_request(&request, &defaults(), &ResolvedParts::new()).unwrap()
}

#[test]
fn answers_text_call_and_usage() {
    let plan = plan_for(json!({
        "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": "get weather", "parameters": {"type": "object", "properties": {"days": {"enum": [1, 3]}}}}}]
    }));
    let text: gc::ChatCompletion = serde_json::from_value(json!({
        "choices": [{"message": {"content": "Готово.", "role": "assistant", "reasoning_content": "думаю"}, "index": 0, "finish_reason": "stop"}],
        "created": 1, "model": "GigaChat:2.0.28.2", "object": "chat.completion",
        "usage": {"prompt_tokens": 17, "completion_tokens": 3, "total_tokens": 18, "precached_prompt_tokens": 2}
    }))
    .unwrap();
    let call: gc::ChatCompletion = serde_json::from_value(json!({
        "choices": [{"message": {"content": "", "role": "assistant", "function_call": {"name": plan.tools.as_ref().unwrap().alias("get weather"), "arguments": {"days": "3"}}, "functions_state_id": "0199e210-2f13-744c-8fe5-c9a19fe27db7"}, "index": 0, "finish_reason": "function_call"}],
        "created": 1, "model": "GigaChat:2.0.28.2", "object": "chat.completion",
        "usage": {"prompt_tokens": 40, "completion_tokens": 9, "total_tokens": 49}
    }))
    .unwrap();
    insta::assert_json_snapshot!(
        translate::chat_response(
            &[text, call],
            &ids(),
            &plan,
            gigachat_types::CachedPromptTokens::Excluded
        )
        .unwrap()
    );
}

#[test]
fn recorded_stream_translated() {
    // The chunks of cassettes/test_stream_simple.yaml.
    let recorded = [
        r#"{"choices":[{"delta":{"content":"$1\\, 2\\, 3$  \n\n**Подробный разбор:","role":"assistant"},"index":0}],"created":1768996176,"model":"GigaChat:2.0.28.2","object":"chat.completion"}"#,
        r#"{"choices":[{"delta":{"content":"**\n- Начинаем счёт с единицы."},"index":0}],"created":1768996176,"model":"GigaChat:2.0.28.2","object":"chat.completion"}"#,
        r#"{"choices":[{"delta":{"content":""},"index":0,"finish_reason":"stop"}],"created":1768996176,"model":"GigaChat:2.0.28.2","object":"chat.completion","usage":{"prompt_tokens":17,"completion_tokens":42,"total_tokens":59,"precached_prompt_tokens":2}}"#,
    ];
    let plan = plan_for(
        json!({"messages": [{"role": "user", "content": "x"}], "stream": true, "stream_options": {"include_usage": true}}),
    );
    let mut translator = StreamTranslator::new(ids(), "GigaChat:2.0.28.2".into(), 0, &plan);
    let mut out: Vec<Value> = Vec::new();
    for raw in recorded {
        let chunk: gc::ChatChunk = serde_json::from_str(raw).unwrap();
        out.extend(
            translator
                .push(chunk)
                .iter()
                .map(|c| serde_json::to_value(c).unwrap()),
        );
    }
    let usage = translate::usage(
        translator.usage().unwrap(),
        gigachat_types::CachedPromptTokens::Excluded,
    );
    out.push(
        serde_json::to_value(translate::usage_chunk(&ids(), "GigaChat:2.0.28.2", usage)).unwrap(),
    );
    insta::assert_json_snapshot!(out);
}
