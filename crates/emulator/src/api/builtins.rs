//! GigaChat's v2 built-in tools as the emulator runs them (web search with sources, text tools, generated files).

use serde_json::{Map, Value, json};

use super::answer::{self, Answer, GeneratedFile};
use crate::auth::Identity;
use crate::state::AppState;
use crate::text::{self, Rng};

/// `web_search`.
pub(crate) const WEB_SEARCH: &str = "web_search";
/// `code_interpreter`.
pub(crate) const CODE_INTERPRETER: &str = "code_interpreter";
/// `url_content_extraction`.
pub(crate) const URL_CONTENT_EXTRACTION: &str = "url_content_extraction";
/// `image_generate` (run as v1's `text2image`).
pub(crate) const IMAGE_GENERATE: &str = "image_generate";
/// `model_3d_generate`.
pub(crate) const MODEL_3D_GENERATE: &str = "model_3d_generate";

/// Every built-in tool a v2 request may offer in `tools`.
pub(crate) const NAMES: &[&str] = &[
    WEB_SEARCH,
    CODE_INTERPRETER,
    URL_CONTENT_EXTRACTION,
    IMAGE_GENERATE,
    MODEL_3D_GENERATE,
];

/// Under `auto`, the marker in the last user message that makes the model use a built-in tool it
/// is offered (drawing prompts trigger `image_generate` as on v1).
const TRIGGERS: &[(&str, &str)] = &[
    ("search:", WEB_SEARCH),
    ("code:", CODE_INTERPRETER),
    ("url:", URL_CONTENT_EXTRACTION),
    ("model3d:", MODEL_3D_GENERATE),
];

/// Sources a web search finds (two, as recorded).
const SEARCH_SOURCES: usize = 2;

/// Sentences of a web-search answer, each ending with a `[sources=[n]]` marker.
const SEARCH_SENTENCES: usize = 3;

/// Words per sentence of a built-in tool's answer.
const SENTENCE_WORDS: usize = 8;

/// A minimal binary glTF (header only): the file `model_3d_generate` stores.
const GENERATED_MODEL_3D: &[u8] = b"glTF\x02\x00\x00\x00\x0c\x00\x00\x00";

/// A built-in tool that ran, and what its answer shows beside the text.
#[derive(Debug, Clone)]
pub(crate) struct ToolRun {
    /// The tool's v2 name.
    pub(crate) name: &'static str,
    /// `inline_data` of the text part (web search: `{"images":[],"sources":{…}}`).
    pub(crate) inline_data: Option<Value>,
}

impl ToolRun {
    /// A run that shows nothing beside the text.
    pub(crate) fn named(name: &'static str) -> Self {
        Self {
            name,
            inline_data: None,
        }
    }
}

/// Who asked for the tool: generated files belong to this identity and `X-Client-ID`.
pub(crate) struct Call<'a> {
    /// The emulator.
    pub(crate) state: &'a AppState,
    /// The caller.
    pub(crate) identity: &'a Identity,
    /// The request's `X-Client-ID`.
    pub(crate) client_id: Option<String>,
}

/// The built-in tool an `auto` prompt triggers among the `offered` ones.
pub(crate) fn triggered(prompt: &str, offered: &[String]) -> Option<&'static str> {
    TRIGGERS
        .iter()
        .find(|(marker, name)| prompt.contains(marker) && offered.iter().any(|o| o == name))
        .map(|(_, name)| *name)
}

/// The answer of built-in tool `name`, one of `NAMES` but `image_generate` (answered by the caller,
/// as v1's `text2image`).
pub(crate) fn run(call: &Call<'_>, name: &str, rng: &mut Rng) -> Answer {
    let config = &call.state.config;
    let (content, run, file, extra_prompt_tokens) = match name {
        WEB_SEARCH => {
            let (content, inline_data) = web_search(rng);
            let run = ToolRun {
                name: WEB_SEARCH,
                inline_data: Some(inline_data),
            };
            (content, run, None, config.builtin_tool_input_tokens)
        }
        URL_CONTENT_EXTRACTION => (
            text::answer(rng.next_u64(), config.answer_words),
            ToolRun::named(URL_CONTENT_EXTRACTION),
            None,
            config.builtin_tool_input_tokens,
        ),
        MODEL_3D_GENERATE => {
            let id = answer::store_generated(
                call.state,
                call.identity,
                call.client_id.clone(),
                GENERATED_MODEL_3D,
                "model/gltf-binary",
                "glb",
            );
            let file = GeneratedFile {
                id,
                mime: "model/gltf-binary",
                target: "3dmodel",
            };
            (
                text::answer(rng.next_u64(), answer::CAPTION_WORDS),
                ToolRun::named(MODEL_3D_GENERATE),
                Some(file),
                0,
            )
        }
        // `code_interpreter` (the only other tool a request can force or trigger).
        _ => (
            text::answer(rng.next_u64(), config.answer_words),
            ToolRun::named(CODE_INTERPRETER),
            None,
            0,
        ),
    };
    Answer {
        completion_tokens: text::count_tokens(&content),
        content,
        functions_state_id: Some(uuid::Uuid::now_v7().to_string()),
        finish_reason: "stop",
        file,
        tool: Some(run),
        extra_prompt_tokens,
        ..Answer::default()
    }
}

/// A web-search answer: sentences ending with `[sources=[n]]` before their full stop, and the
/// `inline_data` naming the sources.
fn web_search(rng: &mut Rng) -> (String, Value) {
    let mut sources = Map::new();
    for index in 1..=SEARCH_SOURCES {
        let word = text::word(rng);
        sources.insert(
            index.to_string(),
            json!({
                "url": format!("https://example.org/{index}/{}", rng.next_u64() % 100_000),
                "title": format!("{word} {}", text::answer(rng.next_u64(), 3)),
            }),
        );
    }
    let sentences: Vec<String> = (0..SEARCH_SENTENCES)
        .map(|index| {
            let sentence = text::answer(rng.next_u64(), SENTENCE_WORDS);
            let body = sentence.strip_suffix('.').unwrap_or(&sentence);
            format!("{body} [sources=[{}]].", index % SEARCH_SOURCES + 1)
        })
        .collect();
    let inline_data = json!({"images": [], "sources": Value::Object(sources)});
    (sentences.join("\n\n"), inline_data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_search_cites_its_sources() {
        let (text, inline) = web_search(&mut Rng::new(7));
        assert!(text.contains("[sources=[1]]."), "{text}");
        assert!(text.contains("[sources=[2]]."), "{text}");
        assert_eq!(inline["images"], json!([]));
        assert!(inline["sources"]["2"]["url"].is_string());
        assert!(inline["sources"].get("3").is_none());
    }

    #[test]
    fn triggers_need_the_tool_offered() {
        let offered = vec![WEB_SEARCH.to_owned()];
        assert_eq!(triggered("search: python", &offered), Some(WEB_SEARCH));
        assert_eq!(triggered("code: sum", &offered), None);
        assert_eq!(triggered("python", &offered), None);
    }
}
