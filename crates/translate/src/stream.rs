//! The stream translator: GigaChat stream chunks of one choice → OpenAI `chat.completion.chunk`s,
//! with a stable id, the role only first, stop sequences across chunks, and the finish reason last.

use gigachat_types as gc;
use openai::chat::{
    ChatCompletionChunk, ChunkChoice, Delta, FunctionCallChunk, SharedStr, ToolCallChunk, Usage,
};

use crate::builtins::StreamedRuns;
use crate::citations::MarkerRewriter;
use crate::request::{ChatPlan, OutputFormat};
use crate::response::{OutputError, ResponseIds, finish_reason, json_object_text};
use crate::stop::StopMatcher;
use crate::think::ThinkSplitter;
use crate::tools::Toolset;

/// Translates the upstream stream of one choice.
#[derive(Debug)]
pub struct StreamTranslator {
    ids: ResponseIds,
    /// `ids.id` as every chunk carries it (shared, not copied, per chunk).
    chunk_id: SharedStr,
    model: SharedStr,
    index: u32,
    include_usage: bool,
    stop: StopMatcher,
    /// Moves `<think>…</think>` out of the text into the reasoning.
    think: ThinkSplitter,
    tools: Option<Toolset>,
    /// `json_object` output: the text is kept to be checked at the end.
    json_object: Option<String>,
    /// Tool calls sent so far (each its own `index`): after one, the finish reason is
    /// `tool_calls` whatever GigaChat said.
    calls: u32,
    /// The last state id GigaChat gave in this stream: v2 may name it once for several calls.
    state_id: Option<String>,
    /// A stop sequence ended the choice before GigaChat did.
    cut: bool,
    sent_role: bool,
    finished: bool,
    usage: Option<gc::Usage>,
    /// Characters of content sent so far, for the usage estimate.
    emitted_chars: usize,
    /// Web search offered: its markers are rewritten as the text streams.
    markers: Option<MarkerRewriter>,
    /// The built-in tools that ran, and the web-search sources.
    runs: StreamedRuns,
}

impl StreamTranslator {
    /// A translator for choice `index` of `plan`; `model` is the upstream model of the first event.
    pub fn new(ids: ResponseIds, model: String, index: u32, plan: &ChatPlan) -> Self {
        Self {
            chunk_id: ids.id.as_str().into(),
            ids,
            model: model.into(),
            index,
            include_usage: plan.include_usage,
            stop: StopMatcher::new(plan.stop.clone()),
            think: ThinkSplitter::default(),
            tools: plan.tools.clone(),
            json_object: (plan.output == OutputFormat::JsonObject).then(String::new),
            calls: 0,
            state_id: None,
            cut: false,
            sent_role: false,
            finished: false,
            usage: None,
            emitted_chars: 0,
            markers: crate::builtins::offers_web_search(&plan.upstream)
                .then(MarkerRewriter::default),
            runs: StreamedRuns::new(&plan.upstream),
        }
    }

    /// Whether this choice has ended (finish reason seen or a stop sequence matched);
    /// after a stop match the upstream call should be cancelled.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Whether a stop sequence ended the choice before GigaChat finished (the upstream call should
    /// then be cancelled rather than read to its end).
    pub fn cut_short(&self) -> bool {
        self.cut
    }

    /// The stop sequence that ended the choice, when one did.
    pub fn stop_sequence(&self) -> Option<&str> {
        self.stop.matched()
    }

    /// The usage GigaChat reported for this choice, once seen.
    pub fn usage(&self) -> Option<&gc::Usage> {
        self.usage.as_ref()
    }

    /// GigaChat's usage, or, when a stop sequence cut the stream before GigaChat reported it, an
    /// estimate from the prompt and the text sent (about four characters per token).
    pub fn final_usage(&self, prompt_chars: usize) -> gc::Usage {
        self.usage.unwrap_or_else(|| {
            let prompt_tokens = estimate_tokens(prompt_chars);
            let completion_tokens = estimate_tokens(self.emitted_chars);
            gc::Usage {
                prompt_tokens,
                completion_tokens,
                total_tokens: prompt_tokens + completion_tokens,
                precached_prompt_tokens: None,
                system_tokens: None,
            }
        })
    }

    /// Chunks for one upstream event (possibly none).
    pub fn push(&mut self, chunk: gc::ChatChunk) -> Vec<ChatCompletionChunk> {
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage);
        }
        let mut out = Vec::new();
        for mut choice in chunk.choices {
            if self.finished {
                break;
            }
            self.open(&mut out);
            let mut delta = Delta::default();
            let mut finish = None;
            delta.builtin_calls = self.runs.push(&choice.delta);
            if let Some(text) = choice.delta.content.take() {
                let split = self.think.push(text);
                append(&mut delta.reasoning_content, split.reasoning);
                let text = match self.markers.as_mut() {
                    Some(markers) => markers.push(&split.content),
                    None => split.content,
                };
                let released = self.stop.push(text);
                if released.stopped {
                    finish = Some("stop");
                    self.cut = true;
                }
                append(&mut delta.content, released.text);
            }
            if let Some(reasoning) = choice.delta.reasoning_content.take() {
                append(&mut delta.reasoning_content, reasoning);
            }
            if let Some(state) = choice.delta.functions_state_id.take() {
                self.state_id = Some(state);
            }
            // Each call arrives whole in its own chunk; a legacy `function_call` holds only one.
            if let (Some(call), Some(tools)) = (&choice.delta.function_call, &self.tools)
                && !(tools.legacy && self.calls > 0)
            {
                let unique = format!("{}{}", self.ids.id, self.index);
                let index = self.calls;
                let call = tools.tool_call(
                    call,
                    self.state_id.as_deref(),
                    usize::try_from(index).unwrap_or(usize::MAX),
                    &unique,
                );
                self.calls += 1;
                if tools.legacy {
                    delta.function_call = Some(call.function);
                } else {
                    // OpenAI's shape: id, type and name first, then the arguments.
                    delta.tool_calls = Some(vec![ToolCallChunk {
                        index,
                        id: Some(call.id),
                        kind: Some("function".into()),
                        function: FunctionCallChunk {
                            name: Some(call.function.name),
                            arguments: Some(String::new()),
                        },
                    }]);
                    out.push(self.chunk(delta, None));
                    delta = Delta::default();
                    delta.tool_calls = Some(vec![ToolCallChunk {
                        index,
                        id: None,
                        kind: None,
                        function: FunctionCallChunk {
                            name: None,
                            arguments: Some(call.function.arguments),
                        },
                    }]);
                }
            }
            if finish.is_none() && choice.finish_reason.is_some() {
                self.release_held(&mut delta);
                finish = Some(self.finish_reason(choice.finish_reason.as_ref()));
            }
            if finish.is_some() {
                self.last_delta(&mut delta);
            }
            if finish.is_some() {
                self.finished = true;
            }
            if is_empty(&delta) && finish.is_none() {
                continue;
            }
            out.push(self.chunk(delta, finish));
        }
        out
    }

    /// Completes the choice's last delta: the citations of the whole text, and the web search
    /// again when sources came after it was announced.
    fn last_delta(&mut self, delta: &mut Delta) {
        delta.annotations = self.annotations(delta);
        delta.builtin_calls.extend(self.runs.finish());
    }

    /// The citations of the whole text sent, once `last` (the choice's last delta) is sent too.
    fn annotations(&self, last: &Delta) -> Vec<openai::chat::Annotation> {
        let Some(markers) = &self.markers else {
            return Vec::new();
        };
        let chars = self.emitted_chars
            + last
                .content
                .as_deref()
                .map_or(0, |text| text.chars().count());
        crate::citations::annotations(markers.marks(), self.runs.sources(), chars)
    }

    /// The finish reason for GigaChat's, given what was sent: `tool_calls` after a call.
    fn finish_reason(&self, reason: Option<&gc::FinishReason>) -> &'static str {
        match (
            self.calls > 0,
            self.tools.as_ref().is_some_and(|t| t.legacy),
        ) {
            (true, true) => "function_call",
            (true, false) => "tool_calls",
            (false, _) => match finish_reason(reason) {
                "tool_calls" => "stop",
                other => other,
            },
        }
    }

    /// After the end: whether the text broke the requested output format (`json_object`).
    pub fn output_error(&self) -> Option<OutputError> {
        let text = self.json_object.as_ref()?;
        (self.calls == 0 && json_object_text(text).is_none()).then_some(OutputError::NotJsonObject)
    }

    /// The upstream ended (`[DONE]`) without a finish reason for this choice: release held-back
    /// text and finish with `stop`. Nothing when the choice already finished.
    pub fn end(&mut self) -> Vec<ChatCompletionChunk> {
        if self.finished {
            return Vec::new();
        }
        self.finished = true;
        let mut out = Vec::new();
        self.open(&mut out);
        let mut delta = Delta::default();
        self.release_held(&mut delta);
        self.last_delta(&mut delta);
        out.push(self.chunk(delta, Some("stop")));
        out
    }

    /// The text ended: what the `<think>` splitter held back, then what the stop matcher did.
    fn release_held(&mut self, delta: &mut Delta) {
        let split = self.think.finish();
        append(&mut delta.reasoning_content, split.reasoning);
        let mut content = match self.markers.as_mut() {
            Some(markers) => markers.push(&split.content),
            None => split.content,
        };
        if let Some(held) = self.markers.as_mut().map(MarkerRewriter::finish) {
            content.push_str(&held);
        }
        let released = self.stop.push(content);
        append(&mut delta.content, released.text);
        append(&mut delta.content, self.stop.finish());
    }

    /// OpenAI's opening chunk, once: `delta: {role: "assistant", content: ""}`.
    fn open(&mut self, out: &mut Vec<ChatCompletionChunk>) {
        if !self.sent_role {
            self.sent_role = true;
            let delta = Delta {
                role: Some("assistant".into()),
                content: Some(String::new()),
                ..Delta::default()
            };
            out.push(self.chunk(delta, None));
        }
    }

    fn chunk(&mut self, delta: Delta, finish: Option<&str>) -> ChatCompletionChunk {
        if let Some(text) = delta.content.as_deref() {
            self.emitted_chars += text.chars().count();
            if let Some(kept) = self.json_object.as_mut() {
                kept.push_str(text);
            }
        }
        ChatCompletionChunk {
            id: self.chunk_id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.ids.created,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index: self.index,
                delta,
                logprobs: None,
                finish_reason: finish.map(str::to_owned),
            }],
            usage: self.include_usage.then_some(None),
        }
    }
}

/// A rough token count for text GigaChat did not count for us.
pub fn estimate_tokens(chars: usize) -> u32 {
    u32::try_from(chars.div_ceil(4)).unwrap_or(u32::MAX)
}

/// The extra chunk with the totals and no choices, sent before `[DONE]` when usage was asked for.
pub fn usage_chunk(ids: &ResponseIds, model: &str, usage: Usage) -> ChatCompletionChunk {
    ChatCompletionChunk {
        id: ids.id.as_str().into(),
        object: "chat.completion.chunk".into(),
        created: ids.created,
        model: model.into(),
        choices: Vec::new(),
        usage: Some(Some(usage)),
    }
}

fn append(slot: &mut Option<String>, text: String) {
    if text.is_empty() {
        return;
    }
    match slot {
        Some(existing) => existing.push_str(&text),
        None => *slot = Some(text),
    }
}

fn is_empty(delta: &Delta) -> bool {
    delta.role.is_none()
        && delta.content.as_deref().is_none_or(str::is_empty)
        && delta.reasoning_content.is_none()
        && delta.tool_calls.is_none()
        && delta.function_call.is_none()
        && delta.builtin_calls.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use openai::chat::BuiltinCall;
    use serde_json::json;

    fn upstream(content: &str, finish: Option<&str>, usage: bool) -> gc::ChatChunk {
        let mut choice = json!({"delta": {"content": content}, "index": 0});
        if let Some(finish) = finish {
            choice["finish_reason"] = json!(finish);
        }
        let mut chunk = json!({"choices": [choice], "created": 1, "model": "GigaChat:2.0.28.2", "object": "chat.completion"});
        if usage {
            chunk["usage"] = json!({"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8, "precached_prompt_tokens": 0});
        }
        serde_json::from_value(chunk).unwrap()
    }

    fn plan(stop: &[&str], include_usage: bool, tools: Option<Toolset>) -> ChatPlan {
        ChatPlan {
            upstream: gc::ChatRequest::default(),
            tools,
            output: OutputFormat::Text,
            n: 1,
            stop: stop.iter().map(|s| (*s).to_owned()).collect(),
            stream: true,
            include_usage,
        }
    }

    fn ids() -> ResponseIds {
        ResponseIds {
            id: "chatcmpl-1".into(),
            created: 9,
        }
    }

    fn translator(stop: &[&str], include_usage: bool) -> StreamTranslator {
        StreamTranslator::new(
            ids(),
            "GigaChat:2.0.28.2".into(),
            0,
            &plan(stop, include_usage, None),
        )
    }

    #[test]
    fn a_whole_function_call_becomes_tool_call_deltas() {
        let request: openai::chat::ChatCompletionRequest = serde_json::from_value(json!({
            "messages": [], "tools": [{"type": "function", "function": {"name": "get weather", "parameters": {"type": "object", "properties": {"n": {"enum": [1, 2]}}}}}]
        }))
        .unwrap();
        let tools = Toolset::from_request(&request, &mut crate::schema::ExpansionBudget::default())
            .unwrap();
        let alias = tools.as_ref().unwrap().alias("get weather");
        let mut t = StreamTranslator::new(ids(), "m".into(), 0, &plan(&[], false, tools));
        let chunk: gc::ChatChunk = serde_json::from_value(json!({
            "choices": [{"delta": {"content": "", "role": "assistant", "function_call": {"name": alias, "arguments": {"n": "2"}}, "functions_state_id": "0199e210-2f13-744c-8fe5-c9a19fe27db7"}, "index": 0, "finish_reason": "function_call"}],
            "created": 1, "model": "m", "object": "chat.completion"
        }))
        .unwrap();
        let chunks = t.push(chunk);
        assert_eq!(chunks.len(), 3);
        assert_eq!(
            chunks[0].choices[0].delta.role.as_deref(),
            Some("assistant")
        );
        let chunks = &chunks[1..];
        let first = &chunks[0].choices[0].delta.tool_calls.as_ref().unwrap()[0];
        assert_eq!(
            first.id.as_deref(),
            Some("call_0199e2102f13744c8fe5c9a19fe27db7")
        );
        assert_eq!(first.function.name.as_deref(), Some("get weather"));
        assert_eq!(chunks[0].choices[0].delta.role, None);
        let second = &chunks[1].choices[0].delta.tool_calls.as_ref().unwrap()[0];
        assert_eq!(second.id, None);
        assert_eq!(second.function.arguments.as_deref(), Some(r#"{"n":2}"#));
        assert_eq!(
            chunks[1].choices[0].finish_reason.as_deref(),
            Some("tool_calls")
        );
    }

    /// v2 streams each of several calls whole in its own chunk, the state id possibly only on
    /// the first: each becomes a tool call with its own `index` (0, 1, ...) and an id carrying
    /// the state and GigaChat's call id; the choice finishes with `tool_calls`.
    #[test]
    fn parallel_calls_get_their_own_indexes() {
        let request: openai::chat::ChatCompletionRequest = serde_json::from_value(json!({
            "messages": [], "tools": [
                {"type": "function", "function": {"name": "get_weather"}},
                {"type": "function", "function": {"name": "get_rate"}}
            ]
        }))
        .unwrap();
        let tools = Toolset::from_request(&request, &mut crate::schema::ExpansionBudget::default())
            .unwrap();
        let mut t = StreamTranslator::new(ids(), "m".into(), 0, &plan(&[], false, tools));
        let state = "0199e210-2f13-744c-8fe5-c9a19fe27db7";
        let call_chunk = |id: &str, name: &str, state: Option<&str>, finish: Option<&str>| {
            let mut delta = json!({"content": "", "function_call": {"id": id, "name": name, "arguments": {"x": 1}}});
            if let Some(state) = state {
                delta["functions_state_id"] = json!(state);
            }
            let chunk: gc::ChatChunk = serde_json::from_value(json!({
                "choices": [{"delta": delta, "index": 0, "finish_reason": finish}],
                "created": 1, "model": "m", "object": "chat.completion"
            }))
            .unwrap();
            chunk
        };
        let mut chunks = t.push(call_chunk("call_a", "get_weather", Some(state), None));
        chunks.extend(t.push(call_chunk("call_b", "get_rate", None, None)));
        chunks.extend(t.push(upstream("", Some("function_call"), true)));
        let deltas: Vec<&ToolCallChunk> = chunks
            .iter()
            .flat_map(|c| c.choices[0].delta.tool_calls.iter().flatten())
            .collect();
        let opened: Vec<(u32, &str, crate::tools::CallRef)> = deltas
            .iter()
            .filter_map(|d| {
                Some((
                    d.index,
                    d.function.name.as_deref()?,
                    crate::tools::decode_call_id(d.id.as_deref()?),
                ))
            })
            .collect();
        let reference = |call: &str| crate::tools::CallRef {
            state_id: Some(state.into()),
            call_id: Some(call.into()),
        };
        assert_eq!(
            opened,
            [
                (0, "get_weather", reference("call_a")),
                (1, "get_rate", reference("call_b"))
            ]
        );
        let arguments: Vec<(u32, &str)> = deltas
            .iter()
            .filter(|d| d.id.is_none())
            .map(|d| (d.index, d.function.arguments.as_deref().unwrap_or_default()))
            .collect();
        assert_eq!(arguments, [(0, r#"{"x":1}"#), (1, r#"{"x":1}"#)]);
        assert_eq!(
            chunks.last().unwrap().choices[0].finish_reason.as_deref(),
            Some("tool_calls")
        );
        assert!(t.is_finished());
    }

    fn text(chunks: &[ChatCompletionChunk]) -> String {
        chunks
            .iter()
            .filter_map(|c| c.choices[0].delta.content.clone())
            .collect()
    }

    #[test]
    fn role_first_finish_last_same_id() {
        let mut t = translator(&[], false);
        let mut chunks = t.push(upstream("Hel", None, false));
        chunks.extend(t.push(upstream("lo", None, false)));
        chunks.extend(t.push(upstream("", Some("stop"), true)));
        assert_eq!(chunks.len(), 4);
        assert_eq!(
            chunks[0].choices[0].delta.role.as_deref(),
            Some("assistant")
        );
        assert_eq!(chunks[0].choices[0].delta.content.as_deref(), Some(""));
        assert!(
            chunks[1..]
                .iter()
                .all(|c| c.choices[0].delta.role.is_none())
        );
        assert!(
            chunks[..3]
                .iter()
                .all(|c| c.choices[0].finish_reason.is_none())
        );
        assert_eq!(chunks[3].choices[0].finish_reason.as_deref(), Some("stop"));
        assert!(
            chunks
                .iter()
                .all(|c| c.id == "chatcmpl-1" && c.created == 9 && c.usage.is_none())
        );
        assert_eq!(text(&chunks), "Hello");
        assert_eq!(t.usage().unwrap().completion_tokens, 3);
        assert!(t.is_finished());
        assert_eq!(t.stop_sequence(), None);
        assert!(t.end().is_empty());
    }

    #[test]
    fn stop_sequence_across_chunks_finishes_early() {
        let mut t = translator(&["STOP"], true);
        let mut chunks = t.push(upstream("abc ST", None, false));
        assert!(!t.is_finished());
        chunks.extend(t.push(upstream("OP def", None, false)));
        assert!(t.is_finished());
        assert_eq!(t.stop_sequence(), Some("STOP"));
        assert!(t.push(upstream("more", Some("stop"), true)).is_empty());
        assert_eq!(text(&chunks), "abc ");
        assert_eq!(
            chunks.last().unwrap().choices[0].finish_reason.as_deref(),
            Some("stop")
        );
        assert!(
            chunks.iter().all(|c| c.usage == Some(None)),
            "usage: null on every chunk"
        );
    }

    #[test]
    fn streamed_json_object_is_checked_at_the_end() {
        let mut json_plan = plan(&[], false, None);
        json_plan.output = OutputFormat::JsonObject;
        let mut good = StreamTranslator::new(ids(), "m".into(), 0, &json_plan);
        good.push(upstream("{\"a\":", None, false));
        good.push(upstream(" 1}", Some("stop"), false));
        assert_eq!(good.output_error(), None);
        let mut bad = StreamTranslator::new(ids(), "m".into(), 0, &json_plan);
        bad.push(upstream("Sure: {\"a\": 1}", Some("stop"), false));
        assert_eq!(bad.output_error(), Some(OutputError::NotJsonObject));
    }

    #[test]
    fn held_back_text_is_released_at_the_end() {
        let mut t = translator(&["STOP"], false);
        let mut chunks = t.push(upstream("abc S", None, false));
        chunks.extend(t.push(upstream("", Some("length"), false)));
        assert_eq!(text(&chunks), "abc S");
        assert_eq!(
            chunks.last().unwrap().choices[0].finish_reason.as_deref(),
            Some("length")
        );
    }

    #[test]
    fn think_tags_split_across_chunks_become_reasoning_deltas() {
        let mut t = translator(&["STOP"], false);
        let mut chunks = t.push(upstream("<thi", None, false));
        chunks.extend(t.push(upstream("nk>why</th", None, false)));
        chunks.extend(t.push(upstream("ink> 4 STOP 5", None, false)));
        let reasoning: String = chunks
            .iter()
            .filter_map(|c| c.choices[0].delta.reasoning_content.clone())
            .collect();
        assert_eq!(reasoning, "why");
        assert_eq!(text(&chunks), "4 ");
        assert!(t.is_finished());
        // An unclosed section is reasoning to the end.
        let mut t = translator(&[], false);
        let mut chunks = t.push(upstream("<think>still", None, false));
        chunks.extend(t.push(upstream(" </thi", Some("stop"), false)));
        let reasoning: String = chunks
            .iter()
            .filter_map(|c| c.choices[0].delta.reasoning_content.clone())
            .collect();
        assert_eq!(reasoning, "still </thi");
        assert_eq!(text(&chunks), "");
    }

    fn web_search_plan() -> ChatPlan {
        let mut plan = plan(&[], false, None);
        plan.upstream.builtin_tools = vec![gc::BuiltinTool::WebSearch { kind: None }];
        plan
    }

    /// Markers split anywhere across deltas become `[n]`, and the last chunk carries citations
    /// whose offsets point at them in the text the client assembled.
    #[test]
    fn split_markers_become_citations_on_the_last_chunk() {
        let pieces = [
            "Python 3.14 [sour",
            "ces=[2",
            "]]. Ещё [sources=[1,",
            " 2]]",
            "!",
        ];
        let mut t = StreamTranslator::new(ids(), "m".into(), 0, &web_search_plan());
        let mut searching = upstream("", None, false);
        searching.choices[0].delta.tool_executions = vec![gc::ToolExecution {
            name: "web_search".into(),
            status: None,
            censored: false,
        }];
        let mut chunks = t.push(searching);
        for piece in pieces {
            chunks.extend(t.push(upstream(piece, None, false)));
        }
        let mut last = upstream("", Some("stop"), true);
        last.choices[0].delta.sources = ["1", "2"]
            .map(|key| gc::Source {
                key: key.into(),
                url: format!("https://example.com/{key}"),
                title: None,
            })
            .to_vec();
        chunks.extend(t.push(last));
        let whole = text(&chunks);
        assert_eq!(whole, "Python 3.14 [2]. Ещё [1][2]!");
        // The search is announced once, as soon as it runs, and again with the sources it found.
        let searches: Vec<&BuiltinCall> = chunks
            .iter()
            .flat_map(|c| &c.choices[0].delta.builtin_calls)
            .collect();
        assert_eq!(searches.len(), 2);
        assert!(matches!(searches[1], BuiltinCall::WebSearch { sources } if sources.len() == 2));
        let final_chunk = chunks.last().unwrap();
        assert_eq!(
            final_chunk.choices[0].finish_reason.as_deref(),
            Some("stop")
        );
        let cited: Vec<(String, String)> = final_chunk.choices[0]
            .delta
            .annotations
            .iter()
            .map(|a| {
                let c = &a.url_citation;
                let span = whole
                    .chars()
                    .skip(c.start_index as usize)
                    .take((c.end_index - c.start_index) as usize)
                    .collect();
                (span, c.url.clone())
            })
            .collect();
        assert_eq!(
            cited,
            [
                ("[2]".to_owned(), "https://example.com/2".to_owned()),
                ("[1]".to_owned(), "https://example.com/1".to_owned()),
                ("[2]".to_owned(), "https://example.com/2".to_owned()),
            ]
        );
        assert!(
            chunks[..chunks.len() - 1]
                .iter()
                .all(|c| c.choices[0].delta.annotations.is_empty())
        );
    }

    /// Without web search offered, marker-like text passes untouched.
    #[test]
    fn markers_are_text_when_no_search_was_offered() {
        let mut t = translator(&[], false);
        let mut chunks = t.push(upstream("a [sources=[1]]", None, false));
        chunks.extend(t.push(upstream("", Some("stop"), false)));
        assert_eq!(text(&chunks), "a [sources=[1]]");
        assert!(
            chunks
                .iter()
                .all(|c| c.choices[0].delta.annotations.is_empty())
        );
    }

    /// A stream that ends inside what looked like a marker releases it as text.
    #[test]
    fn a_stream_ending_inside_a_marker_releases_it() {
        let mut t = StreamTranslator::new(ids(), "m".into(), 0, &web_search_plan());
        let mut chunks = t.push(upstream("see [sources=[1", None, false));
        chunks.extend(t.end());
        assert_eq!(text(&chunks), "see [sources=[1");
    }
}
