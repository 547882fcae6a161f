//! Pictures GigaChat draws arrive as `<img src="<file id>" fuse="true"/>` in the text; chat UIs
//! need Markdown. Rewritten as a data URL (default, works everywhere) or a link to our Files API.

use base64::Engine as _;
use gigachat::{GigaChat, RequestContext};
use openai::chat::BuiltinCall;

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
    /// the `<img>` tags of v1 answers are shown.
    pub async fn show_drawn(&self, calls: &mut [BuiltinCall], content: &mut Option<String>) {
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
            if let Some(text) = content.as_deref().filter(|text| !text.is_empty()) {
                shown.push_str("\n\n");
                shown.push_str(text);
            }
            *content = Some(shown);
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
