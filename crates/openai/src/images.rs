//! Image generation: `POST /v1/images/generations` and its `ImagesResponse`.

use serde::{Deserialize, Serialize};

/// `POST /v1/images/generations`. Fields not listed (`style`, `background`, `moderation`, ...)
/// are accepted and ignored.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ImageGenerationRequest {
    /// What to draw.
    pub prompt: String,
    /// `dall-e-3`, `gpt-image-1`, an alias or a GigaChat model; the configured default otherwise.
    #[serde(default)]
    pub model: Option<String>,
    /// How many pictures (1 to 10).
    #[serde(default)]
    pub n: Option<u32>,
    /// `b64_json` or `url`.
    #[serde(default)]
    pub response_format: Option<String>,
    /// `1024x1024`, ... (accepted; GigaChat picks the size).
    #[serde(default)]
    pub size: Option<String>,
    /// `standard`, `hd`, `low`, ... (accepted; GigaChat picks the quality).
    #[serde(default)]
    pub quality: Option<String>,
    /// End-user id; also a prompt-cache affinity key.
    #[serde(default)]
    pub user: Option<String>,
}

/// The answer: when it was made and the pictures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImagesResponse {
    /// Unix seconds.
    pub created: i64,
    /// One entry per picture.
    pub data: Vec<Image>,
}

/// One picture: its bytes in base64, or a URL to fetch it from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// The picture in base64 (`response_format: b64_json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b64_json: Option<String>,
    /// Where to fetch it (`response_format: url`): the adapter's Files API, which needs the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The prompt the picture was drawn from, when it differs from the one sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revised_prompt: Option<String>,
}
