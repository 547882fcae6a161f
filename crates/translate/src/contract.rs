//! What the configured GigaChat contract (`GIGACHAT_API_VERSION`) can serve: a request asking for
//! a v2-only feature under `1` is the client's 400, naming the parameter and the setting.

use gigachat_types::{ChatRequest, Contract, FunctionCallMode};

use crate::TranslateError;

/// Why built-in tools need the v2 contract, for the 400's message.
pub const BUILTIN_TOOLS_NEED_V2: &str = "GigaChat's built-in tools exist only on the v2 contract";

/// Refuses `param` unless the contract is v2: `{param} needs GIGACHAT_API_VERSION=2 ({why})`.
pub fn require_v2(contract: Contract, param: &str, why: &str) -> Result<(), TranslateError> {
    match contract {
        Contract::V2 => Ok(()),
        Contract::V1 => Err(TranslateError::invalid(
            param,
            format!("{param} needs GIGACHAT_API_VERSION=2 ({why})"),
        )),
    }
}

/// Refuses a planned request its contract cannot carry (built-in tools, the `any` and built-in
/// tool modes on v1), so it never reaches the client as a body the wire cannot encode.
pub fn check(request: &ChatRequest) -> Result<(), TranslateError> {
    if let Some(tool) = request.builtin_tools.first() {
        require_v2(
            request.contract,
            "tools",
            &format!("{}: {BUILTIN_TOOLS_NEED_V2}", tool.name()),
        )?;
    }
    match &request.function_call {
        Some(FunctionCallMode::Builtin { name }) => require_v2(
            request.contract,
            "tool_choice",
            &format!("forcing {name}: {BUILTIN_TOOLS_NEED_V2}"),
        ),
        Some(FunctionCallMode::Any { .. }) => require_v2(
            request.contract,
            "tool_choice",
            "GigaChat's `any` tool mode exists only on the v2 contract",
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gigachat_types::BuiltinTool;

    #[test]
    fn v2_only_features_are_refused_on_v1_naming_the_setting() {
        let err =
            require_v2(Contract::V1, "web_search_options", BUILTIN_TOOLS_NEED_V2).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("web_search_options"));
        assert_eq!(
            err.message,
            "web_search_options needs GIGACHAT_API_VERSION=2 (GigaChat's built-in tools exist only on the v2 contract)"
        );
        assert!(require_v2(Contract::V2, "web_search_options", BUILTIN_TOOLS_NEED_V2).is_ok());
    }

    #[test]
    fn planned_requests_are_checked_against_their_contract() {
        let builtin = ChatRequest {
            builtin_tools: vec![BuiltinTool::CodeInterpreter],
            ..ChatRequest::default()
        };
        let err = check(&builtin).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("tools"));
        assert!(err.message.contains("code_interpreter"), "{}", err.message);
        let forced = ChatRequest {
            function_call: Some(FunctionCallMode::Builtin {
                name: "web_search".into(),
            }),
            ..ChatRequest::default()
        };
        assert_eq!(
            check(&forced).unwrap_err().param.as_deref(),
            Some("tool_choice")
        );
        let any = ChatRequest {
            function_call: Some(FunctionCallMode::Any {
                names: vec!["f".into()],
            }),
            ..ChatRequest::default()
        };
        assert!(check(&any).is_err());
        for request in [builtin, forced, any] {
            let v2 = ChatRequest {
                contract: Contract::V2,
                ..request
            };
            assert!(check(&v2).is_ok());
        }
        assert!(check(&ChatRequest::default()).is_ok());
    }

    #[test]
    fn every_chat_plan_carries_the_configured_contract() {
        let request: openai::chat::ChatCompletionRequest = serde_json::from_value(
            serde_json::json!({"messages": [{"role": "user", "content": "Hi"}]}),
        )
        .unwrap();
        for contract in [Contract::V1, Contract::V2] {
            let defaults = crate::ChatDefaults {
                contract,
                ..crate::ChatDefaults::default()
            };
            let plan =
                crate::chat_request(&request, &defaults, &crate::ResolvedParts::new()).unwrap();
            assert_eq!(plan.upstream.contract, contract);
        }
    }
}
