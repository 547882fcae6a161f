use std::collections::HashMap;

use openai::chat::{
    Choice, CompletionTokensDetails, FunctionCall, PromptTokensDetails, ResponseMessage, ToolCall,
};
use serde_json::json;

use super::*;
use crate::request::ChatDefaults;
use crate::response::ResponseIds;
use crate::responses::request::{ResponsesPlan, responses_request};

fn plan(body: serde_json::Value) -> ResponsesPlan {
    let request: CreateResponse = serde_json::from_value(body).unwrap();
    let defaults = ChatDefaults {
        contract: Default::default(),
        default_model: "GigaChat".into(),
        aliases: HashMap::new(),
        builtin_functions: false,
    };
    let ids = ResponseIds {
        id: "resp_abc".into(),
        created: 7,
    };
    responses_request(&request, &[], &defaults, &ids).unwrap()
}

fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        kind: "function".into(),
        function: FunctionCall {
            name: name.into(),
            arguments: arguments.into(),
        },
    }
}

fn answer(
    content: Option<&str>,
    calls: Option<Vec<ToolCall>>,
    finish_reason: &str,
) -> ChatCompletion {
    ChatCompletion {
        id: "chatcmpl-1".into(),
        object: "chat.completion".into(),
        created: 7,
        model: "GigaChat-2-Max:2.0".into(),
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: "assistant".into(),
                content: content.map(str::to_owned),
                refusal: None,
                tool_calls: calls,
                function_call: None,
                reasoning_content: None,
                annotations: Vec::new(),
                builtin_calls: Vec::new(),
            },
            logprobs: None,
            finish_reason: Some(finish_reason.into()),
        }],
        usage: Some(Usage {
            prompt_tokens: 30,
            completion_tokens: 5,
            total_tokens: 35,
            prompt_tokens_details: Some(PromptTokensDetails { cached_tokens: 12 }),
            completion_tokens_details: Some(CompletionTokensDetails {
                reasoning_tokens: 0,
            }),
        }),
        system_fingerprint: None,
    }
}

#[test]
fn text_answer_is_one_completed_message() {
    let plan = plan(json!({"input": "hi", "metadata": {"a": "b"}, "temperature": 0.5}));
    let response = responses_response(&answer(Some("Hello"), None, "stop"), &plan.answer, 9);
    let value = serde_json::to_value(&response).unwrap();
    assert_eq!(value["id"], "resp_abc");
    assert_eq!(value["status"], "completed");
    assert_eq!(value["completed_at"], 9);
    assert_eq!(value["model"], "GigaChat-2-Max:2.0");
    assert_eq!(
        value["output"],
        json!([{"type": "message", "id": "msg_abc", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": "Hello", "annotations": [], "logprobs": []}]}])
    );
    assert_eq!(
        value["usage"],
        json!({"input_tokens": 30, "input_tokens_details": {"cached_tokens": 12, "cache_write_tokens": 0},
               "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 35})
    );
    assert_eq!(value["metadata"], json!({"a": "b"}));
    assert_eq!(value["temperature"], 0.5);
}

#[test]
fn several_calls_become_several_items_and_custom_calls_custom_items() {
    let plan = plan(json!({"input": "go", "tools": [
        {"type": "function", "name": "exec_command", "parameters": {"type": "object"}, "strict": false},
        {"type": "custom", "name": "apply_patch"}
    ]}));
    let calls = vec![
        call("call_1", "exec_command", "{\"cmd\":\"ls\"}"),
        call(
            "call_2",
            "apply_patch",
            "{\"input\":\"*** Begin Patch\\n*** End Patch\\n\"}",
        ),
    ];
    let response = responses_response(&answer(None, Some(calls), "tool_calls"), &plan.answer, 9);
    let value = serde_json::to_value(&response).unwrap();
    assert_eq!(
        value["output"],
        json!([
            {"type": "function_call", "id": "fc_abc0", "call_id": "call_1", "name": "exec_command",
             "arguments": "{\"cmd\":\"ls\"}", "status": "completed"},
            {"type": "custom_tool_call", "id": "ctc_abc1", "call_id": "call_2", "name": "apply_patch",
             "input": "*** Begin Patch\n*** End Patch\n"}
        ])
    );
    assert_eq!(value["status"], "completed");
}

#[test]
fn text_with_a_call_keeps_both() {
    let plan = plan(json!({"input": "go"}));
    let response = responses_response(
        &answer(
            Some("Checking."),
            Some(vec![call("c", "f", "{}")]),
            "tool_calls",
        ),
        &plan.answer,
        9,
    );
    assert_eq!(response.output.len(), 2);
    assert!(matches!(&response.output[0], OutputItem::Message(_)));
    assert!(matches!(&response.output[1], OutputItem::FunctionCall(_)));
}

#[test]
fn length_and_content_filter_are_incomplete() {
    let plan = plan(json!({"input": "go"}));
    for (finish, reason) in [
        ("length", "max_output_tokens"),
        ("content_filter", "content_filter"),
    ] {
        let response = responses_response(&answer(Some("Cut"), None, finish), &plan.answer, 9);
        assert_eq!(response.status, ResponseStatus::Incomplete);
        assert_eq!(
            response.incomplete_details,
            Some(IncompleteDetails {
                reason: reason.into()
            })
        );
        assert_eq!(response.completed_at, None);
        let OutputItem::Message(message) = &response.output[0] else {
            panic!()
        };
        assert_eq!(message.status, ItemStatus::Incomplete);
    }
}

#[test]
fn custom_tool_input_takes_the_input_argument() {
    assert_eq!(custom_tool_input(r#"{"input":"abc"}"#), "abc");
    assert_eq!(custom_tool_input(r#"{"input":5}"#), "5");
    assert_eq!(custom_tool_input(r#"{"other":1}"#), r#"{"other":1}"#);
    assert_eq!(custom_tool_input("not json"), "not json");
}

/// What is stored, then turned back into history, gives the next turn the whole conversation.
#[test]
fn stored_exchanges_become_history() {
    let request: CreateResponse =
        serde_json::from_value(json!({"input": "Q1", "instructions": "I"})).unwrap();
    let plan = plan(
        json!({"input": "Q1", "instructions": "I", "tools": [{"type": "custom", "name": "g"}]}),
    );
    let response = responses_response(
        &answer(
            Some("A1"),
            Some(vec![call("c1", "g", "{\"input\":\"x\"}")]),
            "tool_calls",
        ),
        &plan.answer,
        9,
    );
    let stored = StoredExchange::new(response, &[], &request);
    let text = serde_json::to_string(&stored).unwrap();
    let back: StoredExchange = serde_json::from_str(&text).unwrap();
    assert_eq!(back, stored);
    let history = history_items(&back);
    assert_eq!(
        serde_json::to_value(&history).unwrap(),
        json!([
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Q1"}]},
            {"type": "message", "id": "msg_abc", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "A1", "annotations": [], "logprobs": []}]},
            {"type": "custom_tool_call", "id": "ctc_abc0", "call_id": "c1", "name": "g", "input": "x"}
        ])
    );
}

#[test]
fn reasoning_is_the_first_item_and_goes_back_as_a_reasoning_input_item() {
    let mut reasoned = answer(Some("Hi"), None, "stop");
    reasoned.choices[0].message.reasoning_content = Some("Thinking.".into());
    let response = responses_response(&reasoned, &plan(json!({"input": "hi"})).answer, 9);
    let item = json!({"type": "reasoning", "id": "rs_abc",
        "summary": [{"type": "summary_text", "text": "Thinking."}], "status": "completed"});
    assert_eq!(serde_json::to_value(&response.output[0]).unwrap(), item);
    assert!(matches!(&response.output[1], OutputItem::Message(_)));
    let back = output_input_items(&response.output);
    assert_eq!(
        back[0],
        InputItem::Reasoning(ReasoningItem {
            id: Some("rs_abc".into()),
            summary: vec![SummaryText {
                text: "Thinking.".into()
            }],
            encrypted_content: None,
        })
    );
    // A stored exchange with it reads back the same.
    let stored = StoredExchange::new(
        response,
        &[],
        &serde_json::from_value(json!({"input": "hi"})).unwrap(),
    );
    let text = serde_json::to_string(&stored).unwrap();
    assert_eq!(
        serde_json::from_str::<StoredExchange>(&text).unwrap(),
        stored
    );
}
