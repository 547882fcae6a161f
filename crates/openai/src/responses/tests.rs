use serde_json::json;

use super::response::*;
use super::*;

fn parse(body: serde_json::Value) -> CreateResponse {
    serde_json::from_value(body).unwrap()
}

/// The error a body gets, with the path `serde_path_to_error` names (as the adapter reports it).
fn refused(body: serde_json::Value) -> (String, String) {
    let text = body.to_string();
    let mut deserializer = serde_json::Deserializer::from_str(&text);
    let err = serde_path_to_error::deserialize::<_, CreateResponse>(&mut deserializer).unwrap_err();
    (err.path().to_string(), err.into_inner().to_string())
}

#[test]
fn codex_items_and_extras_parse() {
    let request = parse(json!({
        "model": "GigaChat-2-Max",
        "input": [
            {"type": "message", "id": "msg_1", "role": "developer",
             "content": [{"type": "input_text", "text": "be a coder"}]},
            {"role": "user", "content": "hi"},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "s"}],
             "content": null, "encrypted_content": "ENC"},
            {"type": "function_call", "status": "completed", "id": "fc_1", "name": "exec_command",
             "arguments": "{\"cmd\":\"ls\"}", "call_id": "call_1"},
            {"type": "function_call_output", "id": "fco_1", "call_id": "call_1", "output": "ok"},
            {"type": "custom_tool_call", "id": "ctc_1", "status": "completed", "call_id": "call_2",
             "name": "apply_patch", "input": "*** Begin Patch\n*** End Patch\n"},
            {"type": "custom_tool_call_output", "id": "ctco_1", "call_id": "call_2",
             "output": [{"type": "input_text", "text": "done"}]},
            {"type": "item_reference", "id": "msg_9"},
            {"id": "msg_10"},
            {"type": "web_search_call", "id": "ws_1", "action": {"type": "search"}, "status": "completed"},
            {"type": "computer_call_output", "call_id": "c", "output": {"type": "computer_screenshot"}}
        ],
        "tools": [
            {"type": "function", "name": "exec_command", "strict": false,
             "parameters": {"type": "object"}},
            {"type": "custom", "name": "apply_patch", "description": "edit",
             "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"}},
            {"type": "namespace", "name": "multi_agent_v1", "description": "d", "tools": []},
            {"type": "web_search", "external_web_access": false}
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": true,
        "reasoning": {"summary": "auto", "generate_summary": null},
        "text": {"verbosity": "low"},
        "store": false,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "thread-1",
        "client_metadata": {"session_id": "s"},
        "prompt_cache_options": {"ttl": "24h"},
        "moderation": {"mode": "auto"},
        "context_management": [{"type": "compaction", "compact_threshold": 1000}],
        "prompt_cache_retention": "24h",
        "service_tier": "auto",
        "truncation": "auto",
        "top_logprobs": 0,
        "max_tool_calls": 3,
        "metadata": {"k": "v"}
    }));
    assert!(request.prompt_cache_options.is_some() && request.context_management.is_some());
    assert_eq!(request.max_tool_calls, Some(3));
    let Some(Input::Items(items)) = &request.input else {
        panic!("items expected")
    };
    assert_eq!(items.len(), 11);
    assert!(matches!(&items[0], InputItem::Message(m) if m.role == Role::Developer));
    assert!(
        matches!(&items[1], InputItem::Message(m) if m.content == ItemContent::Text("hi".into()))
    );
    assert!(
        matches!(&items[2], InputItem::Reasoning(r) if r.encrypted_content.as_deref() == Some("ENC"))
    );
    assert!(matches!(&items[3], InputItem::FunctionCall(c) if c.call_id == "call_1"));
    assert!(
        matches!(&items[4], InputItem::FunctionCallOutput(o) if o.output == ToolOutput::Text("ok".into()))
    );
    assert!(matches!(&items[5], InputItem::CustomToolCall(c) if c.name == "apply_patch"));
    assert!(matches!(&items[6], InputItem::CustomToolCallOutput(o) if o.call_id == "call_2"));
    assert_eq!(items[7], InputItem::ItemReference { id: "msg_9".into() });
    assert_eq!(
        items[8],
        InputItem::ItemReference {
            id: "msg_10".into()
        }
    );
    assert_eq!(
        items[9],
        InputItem::Other {
            kind: "web_search_call".into()
        }
    );
    let tools = request.tools.unwrap();
    let kinds: Vec<_> = tools.iter().map(ResponseTool::kind).collect();
    assert_eq!(kinds, ["function", "custom", "namespace", "web_search"]);
    assert!(matches!(
        &tools[1],
        ResponseTool::Custom(CustomTool { format: Some(CustomToolFormat::Grammar { syntax, .. }), .. })
            if syntax == "lark"
    ));
    assert_eq!(
        request.tool_choice,
        Some(ResponseToolChoice::Mode(ToolChoiceMode::Auto))
    );
}

#[test]
fn input_may_be_a_string() {
    let request = parse(json!({"input": "hello"}));
    assert_eq!(request.input, Some(Input::Text("hello".into())));
}

#[test]
fn malformed_items_are_named_by_path() {
    let (path, message) = refused(json!({"input": [
        {"role": "user", "content": "a"},
        {"type": "function_call", "name": "f", "arguments": "{}"}
    ]}));
    assert_eq!(path, "input[1]");
    assert!(message.contains("call_id"), "{message}");
    let (path, _) = refused(json!({"input": [
        {"type": "function_call", "call_id": 7, "name": "f", "arguments": "{}"}
    ]}));
    assert_eq!(path, "input[0].call_id");
    let (path, message) = refused(json!({"input": [
        {"role": "user", "content": [{"type": "input_video", "url": "x"}]}
    ]}));
    assert_eq!(path, "input[0].content[0].type");
    assert!(message.contains("input_video"), "{message}");
    let (path, _) = refused(json!({"input": [{"role": "boss", "content": "x"}]}));
    assert_eq!(path, "input[0].role");
    let (path, message) = refused(json!({"input": [
        {"type": "function_call_output", "call_id": "c", "output": {"x": 1}}
    ]}));
    assert_eq!(path, "input[0]");
    assert!(message.contains("output"), "{message}");
}

#[test]
fn every_part_kind_parses() {
    let request = parse(json!({"input": [{"role": "user", "content": [
        {"type": "input_text", "text": "look"},
        {"type": "input_image", "image_url": "data:image/png;base64,AA=="},
        {"type": "input_image", "file_id": "file-1", "detail": "low"},
        {"type": "input_file", "file_id": "file-2"},
        {"type": "input_file", "file_data": "data:application/pdf;base64,AA==", "filename": "a.pdf"},
        {"type": "input_file", "file_url": "https://example.com/a.pdf"}
    ]}, {"role": "assistant", "content": [
        {"type": "output_text", "text": "seen", "annotations": []},
        {"type": "refusal", "refusal": "no"}
    ]}]}));
    let Some(Input::Items(items)) = request.input else {
        panic!()
    };
    let InputItem::Message(user) = &items[0] else {
        panic!()
    };
    let ItemContent::Parts(parts) = &user.content else {
        panic!()
    };
    assert_eq!(parts.len(), 6);
    assert!(matches!(&parts[1], InputContent::InputImage { detail, .. } if detail == "auto"));
    let InputItem::Message(assistant) = &items[1] else {
        panic!()
    };
    assert_eq!(assistant.content.text(), "seen\nno");
    assert!(
        refused(json!({"input": [{"role": "user", "content": [{"type": "input_image"}]}]}))
            .1
            .contains("image_url")
    );
}

#[test]
fn tool_choice_forms() {
    let choice =
        |value: serde_json::Value| parse(json!({"tool_choice": value})).tool_choice.unwrap();
    assert_eq!(
        choice(json!("required")),
        ResponseToolChoice::Mode(ToolChoiceMode::Required)
    );
    assert_eq!(
        choice(json!({"type": "function", "name": "f"})),
        ResponseToolChoice::Function("f".into())
    );
    assert_eq!(
        choice(json!({"type": "custom", "name": "apply_patch"})),
        ResponseToolChoice::Custom("apply_patch".into())
    );
    let allowed = choice(json!({"type": "allowed_tools", "mode": "required",
        "tools": [{"type": "function", "name": "f"}]}));
    assert!(matches!(
        &allowed,
        ResponseToolChoice::AllowedTools { mode: ToolChoiceMode::Required, tools } if tools.len() == 1
    ));
    let hosted = choice(json!({"type": "web_search_preview"}));
    assert!(matches!(hosted, ResponseToolChoice::Hosted(_)));
    // Serialized back as sent.
    for value in [
        json!("none"),
        json!({"type": "function", "name": "f"}),
        json!({"type": "custom", "name": "g"}),
        json!({"type": "allowed_tools", "mode": "auto", "tools": [{"type": "custom", "name": "g"}]}),
        json!({"type": "mcp", "server_label": "x"}),
    ] {
        assert_eq!(serde_json::to_value(choice(value.clone())).unwrap(), value);
    }
    assert_eq!(
        refused(json!({"tool_choice": "sometimes"})).0,
        "tool_choice"
    );
    assert_eq!(
        refused(json!({"tool_choice": {"type": "function"}})).0,
        "tool_choice"
    );
}

#[test]
fn text_formats() {
    let format = |value: serde_json::Value| parse(json!({"text": {"format": value}})).text.unwrap();
    assert_eq!(
        format(json!({"type": "json_object"})).format,
        Some(TextFormat::JsonObject)
    );
    assert!(matches!(
        format(json!({"type": "json_schema", "name": "x", "schema": {"type": "object"}, "strict": true})).format,
        Some(TextFormat::JsonSchema { strict: Some(true), .. })
    ));
    assert_eq!(
        refused(json!({"text": {"format": {"type": "yaml"}}})).0,
        "text.format.type"
    );
}

/// Items serialize back to their wire form (the store lists and replays them).
#[test]
fn items_serialize_to_their_wire_form() {
    let items = json!([
        {"type": "message", "id": "msg_1", "role": "user", "content": [
            {"type": "input_text", "text": "a"},
            {"type": "input_image", "image_url": "https://x/y.png", "file_id": null, "detail": "auto"}]},
        {"type": "message", "role": "developer", "content": "b"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "ok"},
        {"type": "custom_tool_call", "call_id": "c2", "name": "g", "input": "x"},
        {"type": "custom_tool_call_output", "call_id": "c2", "output": "y"},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "t"}]},
        {"type": "item_reference", "id": "fc_1"},
        {"type": "local_shell_call"}
    ]);
    let parsed: Vec<InputItem> = serde_json::from_value(items.clone()).unwrap();
    assert_eq!(serde_json::to_value(&parsed).unwrap(), items);
}

#[test]
fn response_has_required_nulls_and_no_null_usage() {
    let response = Response {
        id: "resp_1".into(),
        object: "response".into(),
        created_at: 1,
        status: ResponseStatus::InProgress,
        completed_at: None,
        error: None,
        incomplete_details: None,
        instructions: None,
        max_output_tokens: None,
        max_tool_calls: None,
        model: "GigaChat".into(),
        output: vec![OutputItem::Message(OutputMessage {
            id: "msg_1".into(),
            role: Role::Assistant,
            content: vec![OutputContent::OutputText {
                text: "hi".into(),
                annotations: vec![],
                logprobs: vec![],
            }],
            status: ItemStatus::Completed,
        })],
        parallel_tool_calls: true,
        previous_response_id: None,
        reasoning: None,
        store: true,
        temperature: None,
        text: TextParam::default(),
        tool_choice: ResponseToolChoice::Mode(ToolChoiceMode::Auto),
        tools: vec![],
        top_p: None,
        truncation: None,
        background: false,
        usage: None,
        user: None,
        safety_identifier: None,
        prompt_cache_key: None,
        prompt_cache_retention: None,
        service_tier: None,
        metadata: BTreeMap::new(),
    };
    let value = serde_json::to_value(&response).unwrap();
    for field in [
        "error",
        "incomplete_details",
        "instructions",
        "temperature",
        "top_p",
    ] {
        assert_eq!(value[field], serde_json::Value::Null, "{field}");
    }
    assert!(value.get("usage").is_none());
    assert_eq!(value["tool_choice"], "auto");
    assert_eq!(value["metadata"], json!({}));
    assert_eq!(
        value["output"][0],
        json!({"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
               "content": [{"type": "output_text", "text": "hi", "annotations": [], "logprobs": []}]})
    );
    let back: Response = serde_json::from_value(value).unwrap();
    assert_eq!(back, response);
}

#[test]
fn echoed_settings_outside_the_schema_are_refused_by_name() {
    for (body, path) in [
        (json!({"truncation": "AAA"}), "truncation"),
        (
            json!({"reasoning": {"summary": "AAA"}}),
            "reasoning.summary",
        ),
        (json!({"service_tier": "cheap"}), "service_tier"),
        (
            json!({"prompt_cache_retention": "1h"}),
            "prompt_cache_retention",
        ),
        (json!({"text": {"verbosity": "loud"}}), "text.verbosity"),
    ] {
        assert_eq!(refused(body).0, path);
    }
    let accepted = parse(json!({
        "truncation": "auto",
        "reasoning": {"summary": "concise", "effort": "max"},
        "service_tier": "flex",
        "prompt_cache_retention": "24h",
        "text": {"verbosity": "high"}
    }));
    assert_eq!(accepted.truncation, Some(Truncation::Auto));
    assert_eq!(
        accepted.prompt_cache_retention,
        Some(PromptCacheRetention::Day)
    );
}

/// A tool as it was read before function tools were read straight from their text: as a JSON
/// value, then by `type`.
fn tool_read_as_a_value(text: &str) -> Result<ResponseTool, String> {
    let value: Value = serde_json::from_str(text).map_err(|err| err.to_string())?;
    match value.get("type").and_then(Value::as_str) {
        None => Err("a tool needs a string `type`".to_owned()),
        Some("function") => serde_json::from_value(value)
            .map(ResponseTool::Function)
            .map_err(|err| format!("a `function` tool: {err}")),
        Some("custom") => serde_json::from_value(value)
            .map(ResponseTool::Custom)
            .map_err(|err| format!("a `custom` tool: {err}")),
        Some(_) => Ok(ResponseTool::Other(value)),
    }
}

/// One field of a generated tool: its key and its JSON text.
fn tool_field() -> impl proptest::strategy::Strategy<Value = (String, String)> {
    use proptest::prelude::*;
    let text = prop_oneof![
        Just("\"function\"".to_owned()),
        Just("\"custom\"".to_owned()),
        Just("\"web_search\"".to_owned()),
        Just("\"f\\u006e\"".to_owned()),
        Just("\"Погода\"".to_owned()),
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("5".to_owned()),
        Just("[1, {\"a\": 2}]".to_owned()),
        Just("{\"type\": \"object\", \"properties\": {\"q\": {\"type\": \"string\"}}}".to_owned()),
        Just("{\"type\":\"grammar\",\"syntax\":\"regex\",\"definition\":\"a+\"}".to_owned()),
        Just("{ }".to_owned()),
    ];
    let key = prop_oneof![
        Just("type"),
        Just("name"),
        Just("description"),
        Just("parameters"),
        Just("strict"),
        Just("format"),
        Just("extra"),
    ];
    (key, text).prop_map(|(key, text)| (key.to_owned(), text))
}

proptest::proptest! {
    /// Whatever a tool holds (duplicate keys, wrong types, missing fields, spacing), reading it
    /// gives what reading it as a value gave: the same tool, or an error (the same one, when the
    /// tool was well-formed JSON).
    #[test]
    fn tools_read_as_they_were_read_as_values(
        fields in proptest::collection::vec(tool_field(), 0..7),
        function_first in proptest::bool::ANY,
        spaced in proptest::bool::ANY,
        as_array in proptest::bool::ANY,
    ) {
        let mut fields = fields;
        if function_first {
            fields.insert(0, ("type".to_owned(), "\"function\"".to_owned()));
        }
        let separator = if spaced { ", " } else { "," };
        let members: Vec<String> = fields
            .iter()
            .map(|(key, text)| {
                if as_array { text.clone() } else if spaced { format!("\"{key}\" : {text}") } else { format!("\"{key}\":{text}") }
            })
            .collect();
        let text = if as_array {
            format!("[{}]", members.join(separator))
        } else {
            format!("{{{}}}", members.join(separator))
        };
        let read = serde_json::from_str::<ResponseTool>(&text);
        let before = tool_read_as_a_value(&text);
        match (read, before) {
            (Ok(read), Ok(before)) => {
                proptest::prop_assert_eq!(read.kind(), before.kind());
                proptest::prop_assert_eq!(
                    serde_json::to_value(&read).unwrap(),
                    serde_json::to_value(&before).unwrap(),
                    "{}", text
                );
            }
            (Err(read), Err(before)) => {
                proptest::prop_assert!(read.to_string().starts_with(&before), "{} | {} | {}", text, read, before);
            }
            (read, before) => proptest::prop_assert!(false, "{}: {:?} vs {:?}", text, read, before),
        }
    }
}

#[test]
fn a_function_tool_keeps_its_schema_as_written_and_echoes_it() {
    let text = r#"{"type": "function", "name": "f", "parameters": {"type": "object",  "properties": {}}, "strict": true}"#;
    let tool: ResponseTool = serde_json::from_str(text).unwrap();
    let ResponseTool::Function(function) = &tool else {
        panic!("{tool:?}");
    };
    assert_eq!(
        function.parameters.as_ref().unwrap().text(),
        r#"{"type": "object",  "properties": {}}"#
    );
    assert_eq!(
        serde_json::to_string(&tool).unwrap(),
        r#"{"type":"function","name":"f","description":null,"parameters":{"type": "object",  "properties": {}},"strict":true}"#
    );
}

/// A tool of another `type` that has a function's fields is not read as a function, whichever
/// of its `type` keys says so (a duplicate key falls back to the value, where the last wins).
#[test]
fn only_a_function_type_reads_as_a_function() {
    for (text, kind) in [
        (r#"{"type": "custom", "name": "x"}"#, "custom"),
        (r#"{"name": "x", "type": "web_search"}"#, "web_search"),
        (
            r#"{"type": "function", "name": "x", "type": "custom"}"#,
            "custom",
        ),
        (
            r#"{"type": "custom", "name": "x", "type": "function"}"#,
            "function",
        ),
        (r#"{"type": "f\u0075nction", "name": "x"}"#, "function"),
    ] {
        let tool: ResponseTool = serde_json::from_str(text).unwrap();
        assert_eq!(tool.kind(), kind, "{text}");
        assert_eq!(
            serde_json::to_value(&tool).unwrap(),
            serde_json::to_value(tool_read_as_a_value(text).unwrap()).unwrap(),
            "{text}"
        );
    }
}
