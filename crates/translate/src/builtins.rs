//! GigaChat's built-in tools (web search, image generation, code interpreter; v2 contract only)
//! on the chat path: what a request offers or forces, and what an answer says they did.

use gigachat_types as gc;
use gigachat_types::{BuiltinTool, Contract, FunctionCallMode};
use openai::chat::{BuiltinCall, ChatCompletionRequest, HostedTool};

use crate::TranslateError;
use crate::contract::{BUILTIN_TOOLS_NEED_V2, require_v2};

/// The web-search kind sent to GigaChat (the value recorded as accepted).
pub const WEB_SEARCH_KIND: &str = "actual_info_web_search";

/// GigaChat's built-in for a front door's tool.
pub fn builtin_tool(tool: HostedTool) -> BuiltinTool {
    match tool {
        HostedTool::WebSearch => BuiltinTool::WebSearch {
            kind: Some(WEB_SEARCH_KIND.to_owned()),
        },
        HostedTool::ImageGeneration => BuiltinTool::ImageGenerate,
        HostedTool::CodeInterpreter => BuiltinTool::CodeInterpreter,
    }
}

/// The built-ins `request` offers (`web_search_options`, and the tools another front door mapped),
/// and the mode forcing one, if any. Under the v1 contract asking for one is refused.
pub fn offered(
    request: &ChatCompletionRequest,
    contract: Contract,
) -> Result<(Vec<BuiltinTool>, Option<FunctionCallMode>), TranslateError> {
    let mut hosted = request.builtin_tools.clone();
    if request.web_search_options.is_some() {
        require_v2(contract, "web_search_options", BUILTIN_TOOLS_NEED_V2)?;
        hosted.push(HostedTool::WebSearch);
    }
    if !hosted.is_empty() {
        require_v2(contract, "tools", BUILTIN_TOOLS_NEED_V2)?;
    }
    let mut tools: Vec<BuiltinTool> = Vec::with_capacity(hosted.len());
    for tool in hosted.into_iter().chain(request.builtin_tool_choice) {
        let tool = builtin_tool(tool);
        if !tools.contains(&tool) {
            tools.push(tool);
        }
    }
    let forced = request
        .builtin_tool_choice
        .map(|tool| FunctionCallMode::Builtin {
            name: builtin_tool(tool).name().to_owned(),
        });
    Ok((tools, forced))
}

/// Whether `request` offers web search, so markers in the answer are citations.
pub fn offers_web_search(request: &gc::ChatRequest) -> bool {
    request
        .builtin_tools
        .iter()
        .any(|tool| matches!(tool, BuiltinTool::WebSearch { .. }))
}

/// Whether `request` forces the code interpreter.
pub fn forces_code_interpreter(request: &gc::ChatRequest) -> bool {
    matches!(&request.function_call, Some(FunctionCallMode::Builtin { name })
        if name == BuiltinTool::CodeInterpreter.name())
}

/// Whether a file an answer made is a picture.
fn is_image(file: &gc::GeneratedFile) -> bool {
    file.target.as_deref() == Some("image")
        || file
            .mime
            .as_deref()
            .is_some_and(|mime| mime.starts_with("image/"))
}

/// The built-in runs `message` (a whole answer to `request`) shows: the web search with its sources,
/// each picture drawn, and the code interpreter, which leaves no trace but a `tool_execution`.
/// GigaChat's whole answers report no tool runs, so an offered code interpreter is taken to have
/// run when the answer is text and no other built-in left anything.
pub fn answer_calls(message: &gc::Message, request: &gc::ChatRequest) -> Vec<BuiltinCall> {
    let mut calls = Vec::new();
    let ran = |name: &str| message.tool_executions.iter().any(|run| run.name == name);
    let searched = !message.sources.is_empty() || ran(BuiltinTool::WebSearch { kind: None }.name());
    if searched {
        calls.push(crate::citations::web_search_call(&message.sources));
    }
    let drawn = image_calls(&message.files);
    let nothing_else = !searched && drawn.is_empty() && message.tool_executions.is_empty();
    let plain_text = message.function_call.is_none() && !message.content.is_empty();
    let offered = request
        .builtin_tools
        .contains(&BuiltinTool::CodeInterpreter);
    if ran(BuiltinTool::CodeInterpreter.name())
        || forces_code_interpreter(request)
        || (offered && nothing_else && plain_text)
    {
        calls.push(BuiltinCall::CodeInterpreter);
    }
    calls.extend(drawn);
    calls
}

/// The pictures among `files`, as image-generation calls (their bytes not yet downloaded).
pub fn image_calls(files: &[gc::GeneratedFile]) -> Vec<BuiltinCall> {
    files
        .iter()
        .filter(|file| is_image(file))
        .map(|file| BuiltinCall::ImageGeneration {
            file_id: file.id.clone(),
            mime: file.mime.clone(),
            result: None,
        })
        .collect()
}

/// The built-in runs of a streamed answer, each announced once with what is known of it: the
/// web search when its sources arrive (GigaChat reports the run first, then the sources with the
/// text) or, without any, with the first text; again at the end if sources came after; the code
/// interpreter when it ran or was forced; each picture as it comes.
#[derive(Debug, Clone, Default)]
pub struct StreamedRuns {
    code_forced: bool,
    code_announced: bool,
    search_ran: bool,
    search_announced: bool,
    sources: Vec<gc::Source>,
    sources_announced: usize,
}

impl StreamedRuns {
    /// The runs of an answer to `request`.
    pub fn new(request: &gc::ChatRequest) -> Self {
        Self {
            code_forced: forces_code_interpreter(request),
            ..Self::default()
        }
    }

    /// The sources seen so far.
    pub fn sources(&self) -> &[gc::Source] {
        &self.sources
    }

    /// The runs `delta` announces.
    pub fn push(&mut self, delta: &gc::Delta) -> Vec<BuiltinCall> {
        let mut calls = Vec::new();
        let ran = |name: &str| delta.tool_executions.iter().any(|run| run.name == name);
        self.search_ran |= ran(BuiltinTool::WebSearch { kind: None }.name());
        self.sources.extend(delta.sources.iter().cloned());
        let has_text = delta
            .content
            .as_deref()
            .is_some_and(|text| !text.is_empty());
        if !self.search_announced && (!delta.sources.is_empty() || (self.search_ran && has_text)) {
            calls.push(self.announce_search());
        }
        if !self.code_announced && (self.code_forced || ran(BuiltinTool::CodeInterpreter.name())) {
            self.code_announced = true;
            calls.push(BuiltinCall::CodeInterpreter);
        }
        calls.extend(image_calls(&delta.files));
        calls
    }

    /// At the answer's end: the web search, if it ran unannounced or found sources since.
    pub fn finish(&mut self) -> Option<BuiltinCall> {
        let unannounced = !self.search_announced && self.search_ran;
        let more = self.sources.len() > self.sources_announced;
        (unannounced || more).then(|| self.announce_search())
    }

    fn announce_search(&mut self) -> BuiltinCall {
        self.search_announced = true;
        self.sources_announced = self.sources.len();
        crate::citations::web_search_call(&self.sources)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(value: serde_json::Value) -> ChatCompletionRequest {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn web_search_options_need_the_v2_contract() {
        let request = chat(serde_json::json!({"messages": [], "web_search_options": {}}));
        let err = offered(&request, Contract::V1).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("web_search_options"));
        assert!(err.message.contains("GIGACHAT_API_VERSION=2"), "{err}");
        let (tools, forced) = offered(&request, Contract::V2).unwrap();
        assert_eq!(
            tools,
            [BuiltinTool::WebSearch {
                kind: Some("actual_info_web_search".into())
            }]
        );
        assert_eq!(forced, None);
    }

    #[test]
    fn a_forced_built_in_is_offered_and_forced_once() {
        let mut request = chat(serde_json::json!({"messages": []}));
        request.builtin_tools = vec![HostedTool::ImageGeneration, HostedTool::CodeInterpreter];
        request.builtin_tool_choice = Some(HostedTool::ImageGeneration);
        let (tools, forced) = offered(&request, Contract::V2).unwrap();
        assert_eq!(
            tools,
            [BuiltinTool::ImageGenerate, BuiltinTool::CodeInterpreter]
        );
        assert_eq!(
            forced,
            Some(FunctionCallMode::Builtin {
                name: "image_generate".into()
            })
        );
        assert_eq!(
            offered(&request, Contract::V1)
                .unwrap_err()
                .param
                .as_deref(),
            Some("tools")
        );
    }

    #[test]
    fn an_answer_shows_the_built_ins_that_ran() {
        let mut request = gc::ChatRequest {
            builtin_tools: vec![BuiltinTool::CodeInterpreter],
            ..gc::ChatRequest::default()
        };
        let mut message = gc::Message::new(gc::Role::Assistant, "42");
        assert_eq!(
            answer_calls(&message, &request),
            [BuiltinCall::CodeInterpreter]
        );
        message.files.push(gc::GeneratedFile {
            id: "f1".into(),
            mime: Some("image/jpeg".into()),
            target: Some("image".into()),
        });
        assert_eq!(
            answer_calls(&message, &request),
            [BuiltinCall::ImageGeneration {
                file_id: "f1".into(),
                mime: Some("image/jpeg".into()),
                result: None
            }]
        );
        request.builtin_tools.clear();
        message.files.clear();
        assert!(answer_calls(&message, &request).is_empty());
    }
}
