//! Pictures GigaChat draws arrive as `<img src="<file id>" fuse="true"/>` in the text; chat UIs
//! need Markdown. Rewritten as a data URL (default, works everywhere) or a link to our Files API.

use base64::Engine as _;
use gigachat::{GigaChat, RequestContext};

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

    async fn markdown(&self, file_id: &str) -> String {
        let link = format!(
            "![image]({}/v1/files/{file_id}/content)",
            self.public_base_url.trim_end_matches('/')
        );
        if self.mode == ImageMode::Link {
            return link;
        }
        match self.client.file_content(file_id, &self.context).await {
            Ok(file) => {
                let content_type = file
                    .data
                    .content_type
                    .unwrap_or_else(|| "image/jpeg".into());
                let encoded = base64::engine::general_purpose::STANDARD.encode(&file.data.bytes);
                format!("![image](data:{content_type};base64,{encoded})")
            }
            Err(err) => {
                tracing::warn!(%err, "could not download a generated image; linking to it instead");
                link
            }
        }
    }
}
