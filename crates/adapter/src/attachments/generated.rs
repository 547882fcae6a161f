//! Pictures GigaChat draws arrive as `<img src="<file id>" fuse="true"/>` in the text; chat UIs
//! need Markdown. Rewritten as a data URL (default, works everywhere) or a link to our Files API.

use base64::Engine as _;
use gigachat::{GigaChat, RequestContext};
use openai::chat::{BuiltinCall, ResponseMessage};

/// How generated pictures are shown to clients (`GENERATED_IMAGES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImageMode {
    /// `![image](data:image/jpeg;base64,...)`: self-contained, no key needed to view it.
    DataUrl,
    /// `![image](<PUBLIC_BASE_URL>/v1/files/<id>/content)`: small, but fetching it needs the API key.
    Link,
}

/// Rewrites generated-image tags for one request (downloads use the request's `X-Client-ID`).
#[derive(Clone)]
pub struct ImageRewriter {
    /// The GigaChat client.
    pub client: GigaChat,
    /// The request's upstream headers.
    pub context: RequestContext,
    /// Data URL or link.
    pub mode: ImageMode,
    /// Base of links in `Link` mode (empty: a path relative to the adapter).
    pub public_base_url: String,
    /// Pictures a built-in drew (v2) go beside the text as base64 (Responses'
    /// `image_generation_call.result`) instead of into it as Markdown.
    pub results_apart: bool,
}

impl ImageRewriter {
    /// `text` with every generated-image tag turned into Markdown.
    pub async fn rewrite(&self, text: &str) -> String {
        let images = translate::attachments::generated_images(text);
        if images.is_empty() {
            return text.to_owned();
        }
        let mut markdown = Vec::with_capacity(images.len());
        for image in &images {
            markdown.push(self.markdown(&image.file_id).await);
        }
        let mut replacements = markdown.into_iter();
        translate::attachments::replace_generated_images(text, |_| {
            replacements.next().unwrap_or_default()
        })
    }

    /// Shows the pictures a built-in drew (`calls` of a v2 answer or delta): their bytes as each
    /// call's base64 `result` when [`Self::results_apart`], else Markdown before `content`, as
    /// the `<img>` tags of v1 answers are shown. Returns how many characters went before the text
    /// (citations pointing into it move on by as many).
    pub async fn show_drawn(&self, calls: &mut [BuiltinCall], content: &mut Option<String>) -> u32 {
        let mut inserted = 0u32;
        for call in calls {
            let BuiltinCall::ImageGeneration {
                file_id, result, ..
            } = call
            else {
                continue;
            };
            if self.results_apart {
                *result = self
                    .download(file_id)
                    .await
                    .ok()
                    .map(|(_, encoded)| encoded);
                continue;
            }
            let mut shown = self.markdown(file_id).await;
            if content.as_deref().is_some_and(|text| !text.is_empty()) {
                shown.push_str("\n\n");
            }
            let chars = u32::try_from(shown.chars().count()).unwrap_or(u32::MAX);
            inserted = inserted.saturating_add(chars);
            shown.push_str(content.as_deref().unwrap_or_default());
            *content = Some(shown);
        }
        inserted
    }

    /// [`Self::show_drawn`] for a whole answer's message, its citations moved past the pictures.
    pub async fn show_drawn_in(&self, message: &mut ResponseMessage) {
        let inserted = self
            .show_drawn(&mut message.builtin_calls, &mut message.content)
            .await;
        for annotation in &mut message.annotations {
            annotation.shift(inserted);
        }
    }

    async fn markdown(&self, file_id: &str) -> String {
        let link = format!("![image]({})", self.link(file_id));
        if self.mode == ImageMode::Link {
            return link;
        }
        match self.download(file_id).await {
            Ok((content_type, encoded)) => {
                format!("![image](data:{content_type};base64,{encoded})")
            }
            Err(_) => link,
        }
    }

    /// The adapter's Files API URL of a generated file (fetching it needs the API key).
    pub fn link(&self, file_id: &str) -> String {
        format!(
            "{}/v1/files/{file_id}/content",
            self.public_base_url.trim_end_matches('/')
        )
    }

    /// The file's type and its bytes in base64, downloaded with the request's context (a failure
    /// is logged).
    pub async fn download(&self, file_id: &str) -> Result<(String, String), gigachat::Error> {
        let file = self
            .client
            .file_content(file_id, &self.context)
            .await
            .inspect_err(
                |err| tracing::warn!(%err, file_id, "could not download a generated image"),
            )?;
        let content_type = file
            .data
            .content_type
            .unwrap_or_else(|| "image/jpeg".into());
        let encoded = base64::engine::general_purpose::STANDARD.encode(&file.data.bytes);
        Ok((content_type, encoded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openai::chat::Annotation;

    /// A picture shown before cited text moves the citations with the text (they pointed at
    /// the `[1]` before, and must still).
    #[tokio::test]
    async fn citations_move_past_a_picture_put_before_the_text() {
        let rewriter = ImageRewriter {
            client: GigaChat::new(gigachat::Settings::default()).unwrap(),
            context: RequestContext::default(),
            mode: ImageMode::Link,
            public_base_url: String::new(),
            results_apart: false,
        };
        let mut message = ResponseMessage {
            role: "assistant".into(),
            content: Some("Кот [1].".into()),
            refusal: None,
            tool_calls: None,
            function_call: None,
            reasoning_content: None,
            annotations: vec![Annotation::url_citation(
                4,
                7,
                "https://a".into(),
                "A".into(),
            )],
            builtin_calls: vec![BuiltinCall::ImageGeneration {
                file_id: "f1".into(),
                mime: None,
                result: None,
            }],
        };
        rewriter.show_drawn_in(&mut message).await;
        let text = message.content.unwrap();
        assert_eq!(text, "![image](/v1/files/f1/content)\n\nКот [1].");
        let citation = &message.annotations[0].url_citation;
        let span: String = text
            .chars()
            .skip(citation.start_index as usize)
            .take((citation.end_index - citation.start_index) as usize)
            .collect();
        assert_eq!(span, "[1]");
    }
}
