//! `POST /v1/images/generations` → GigaChat chat calls that draw (v2: the `image_generate`
//! built-in, forced; v1: the `text2image` built-in function, asked for in words), and the
//! pictures back out of their answers.

use gigachat_types as gc;
use gigachat_types::{BuiltinTool, Contract, FunctionCallMode, Message, Role};
use openai::images::ImageGenerationRequest;

use crate::TranslateError;
use crate::request::ChatDefaults;

/// Most pictures one request may ask for (OpenAI's limit; each is one GigaChat call).
pub const MAX_IMAGES: u32 = 10;

/// How the pictures are handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// Base64 bytes in `b64_json` (the default, as for `gpt-image-1`).
    Base64,
    /// A link to the adapter's Files API in `url`.
    Url,
}

/// Everything needed to serve one image request.
#[derive(Debug, Clone, PartialEq)]
pub struct ImagePlan {
    /// The chat request sent once per picture.
    pub upstream: gc::ChatRequest,
    /// How many pictures.
    pub n: u32,
    /// How they are handed back.
    pub format: ImageFormat,
}

/// What v1 sends for GigaChat to call `text2image` (it draws when asked to in words).
const V1_DRAW_REQUEST: &str = "Нарисуй изображение по описанию: ";

/// Builds the plan; errors are the client's mistakes, named by field. The model is an alias or a
/// GigaChat model; OpenAI's image models (`dall-e-3`, `gpt-image-1`) mean the default model.
pub fn image_request(
    request: &ImageGenerationRequest,
    defaults: &ChatDefaults,
) -> Result<ImagePlan, TranslateError> {
    let prompt = request.prompt.trim();
    if prompt.is_empty() {
        return Err(TranslateError::invalid(
            "prompt",
            "prompt must not be empty",
        ));
    }
    let n = request.n.unwrap_or(1);
    if !(1..=MAX_IMAGES).contains(&n) {
        return Err(TranslateError::invalid(
            "n",
            format!("n must be between 1 and {MAX_IMAGES}, got {n}"),
        ));
    }
    let format = match request.response_format.as_deref() {
        None | Some("b64_json") => ImageFormat::Base64,
        Some("url") => ImageFormat::Url,
        Some(other) => {
            return Err(TranslateError::invalid(
                "response_format",
                format!("response_format must be \"b64_json\" or \"url\", got {other:?}"),
            ));
        }
    };
    let model = request
        .model
        .as_deref()
        .map(str::trim)
        .filter(|model| defaults.alias_of(model).is_some() || model.starts_with("GigaChat"));
    let mut upstream = gc::ChatRequest {
        model: defaults.resolve_model(model),
        contract: defaults.contract,
        ..gc::ChatRequest::default()
    };
    match defaults.contract {
        Contract::V2 => {
            upstream.messages = vec![Message::new(Role::User, prompt)];
            upstream.builtin_tools = vec![BuiltinTool::ImageGenerate];
            upstream.function_call = Some(FunctionCallMode::Builtin {
                name: BuiltinTool::ImageGenerate.name().to_owned(),
            });
        }
        Contract::V1 => {
            upstream.messages = vec![Message::new(
                Role::User,
                format!("{V1_DRAW_REQUEST}{prompt}"),
            )];
            upstream.function_call = Some(FunctionCallMode::Auto);
        }
    }
    Ok(ImagePlan {
        upstream,
        n,
        format,
    })
}

/// The ids of the pictures an answer drew: v2 `files` parts, or v1 `<img src=… fuse="true"/>`
/// tags in the text.
pub fn drawn_files(answer: &gc::ChatCompletion) -> Vec<String> {
    answer
        .choices
        .iter()
        .flat_map(|choice| {
            let message = &choice.message;
            let mut ids: Vec<String> = crate::builtins::image_calls(&message.files)
                .into_iter()
                .filter_map(|call| match call {
                    openai::chat::BuiltinCall::ImageGeneration { file_id, .. } => Some(file_id),
                    _ => None,
                })
                .collect();
            ids.extend(
                crate::attachments::generated_images(&message.content)
                    .into_iter()
                    .map(|image| image.file_id),
            );
            ids
        })
        .collect()
}

/// The text of an answer that drew nothing (what GigaChat said instead), for the error.
pub fn answer_text(answer: &gc::ChatCompletion) -> String {
    answer
        .choices
        .iter()
        .map(|choice| choice.message.content.trim())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(body: serde_json::Value) -> ImageGenerationRequest {
        serde_json::from_value(body).unwrap()
    }

    fn defaults(contract: Contract) -> ChatDefaults {
        ChatDefaults {
            default_model: "GigaChat-2-Max".into(),
            contract,
            ..ChatDefaults::default()
        }
    }

    #[test]
    fn v2_forces_the_image_built_in_and_v1_asks_in_words() {
        let body = json!({"prompt": "a red cat", "model": "dall-e-3", "n": 2, "size": "1024x1024", "quality": "hd", "style": "vivid"});
        let v2 = image_request(&request(body.clone()), &defaults(Contract::V2)).unwrap();
        assert_eq!(v2.n, 2);
        assert_eq!(v2.format, ImageFormat::Base64);
        assert_eq!(v2.upstream.model, "GigaChat-2-Max");
        assert_eq!(v2.upstream.builtin_tools, [BuiltinTool::ImageGenerate]);
        assert_eq!(
            v2.upstream.function_call,
            Some(FunctionCallMode::Builtin {
                name: "image_generate".into()
            })
        );
        assert_eq!(v2.upstream.messages[0].content, "a red cat");
        assert_eq!(v2.upstream.contract, Contract::V2);
        let v1 = image_request(&request(body), &defaults(Contract::V1)).unwrap();
        assert!(v1.upstream.builtin_tools.is_empty());
        assert_eq!(v1.upstream.function_call, Some(FunctionCallMode::Auto));
        assert!(v1.upstream.messages[0].content.ends_with("a red cat"));
        assert!(v1.upstream.messages[0].content.starts_with("Нарисуй"));
        // v1's body must still serialise (no v2-only mode in it).
        assert!(serde_json::to_string(&v1.upstream).is_ok());
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        let refused = |body: serde_json::Value| {
            image_request(&request(body), &defaults(Contract::V2))
                .unwrap_err()
                .param
        };
        assert_eq!(refused(json!({"prompt": " "})).as_deref(), Some("prompt"));
        assert_eq!(
            refused(json!({"prompt": "x", "n": 11})).as_deref(),
            Some("n")
        );
        assert_eq!(
            refused(json!({"prompt": "x", "n": 0})).as_deref(),
            Some("n")
        );
        assert_eq!(
            refused(json!({"prompt": "x", "response_format": "png"})).as_deref(),
            Some("response_format")
        );
        let url = image_request(
            &request(json!({"prompt": "x", "response_format": "url", "model": "GigaChat-2-Pro"})),
            &defaults(Contract::V2),
        )
        .unwrap();
        assert_eq!(url.format, ImageFormat::Url);
        assert_eq!(url.upstream.model, "GigaChat-2-Pro");
    }

    #[test]
    fn pictures_come_from_files_parts_or_img_tags() {
        let mut answer: gc::ChatCompletion = serde_json::from_value(json!({
            "choices": [{"message": {"role": "assistant", "content": "<img src=\"v1-id\" fuse=\"true\"/> Вот кот"}, "index": 0, "finish_reason": "stop"}],
            "created": 1, "model": "GigaChat", "object": "chat.completion"
        }))
        .unwrap();
        assert_eq!(drawn_files(&answer), ["v1-id"]);
        answer.choices[0].message.content = "Вот кот".into();
        answer.choices[0].message.files = vec![gc::GeneratedFile {
            id: "v2-id".into(),
            mime: Some("image/jpeg".into()),
            target: Some("image".into()),
        }];
        assert_eq!(drawn_files(&answer), ["v2-id"]);
        answer.choices[0].message.files.clear();
        assert!(drawn_files(&answer).is_empty());
        assert_eq!(answer_text(&answer), "Вот кот");
    }
}
