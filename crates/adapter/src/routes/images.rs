//! `POST /v1/images/generations`: one GigaChat chat call per picture that makes GigaChat draw
//! (v2: its `image_generate` built-in, forced; v1: `text2image`), the pictures downloaded with
//! the request's `X-Client-ID` (base64) or linked through the Files API (`url`).

use axum::response::{IntoResponse, Response};
use openai::images::{Image, ImageGenerationRequest, ImagesResponse};
use translate::images::{ImageFormat, answer_text, drawn_files, image_request};

use crate::access::Tokens;
use crate::context;
use crate::error::{AppError, about_model};
use crate::incoming::{Incoming, RequestBody};
use crate::state::AppState;

impl RequestBody for ImageGenerationRequest {
    fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// The header, else `user`.
    fn session(&self, header: Option<&str>) -> Option<String> {
        header
            .or(self.user.as_deref())
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(translate::header_id)
    }
}

/// Answers an image generation request.
pub async fn generations(
    state: AppState,
    Incoming {
        call,
        upstream,
        request,
    }: Incoming<ImageGenerationRequest>,
) -> Result<Response, AppError> {
    let plan = image_request(&request, state.defaults())?;
    let calls = (0..plan.n).map(|_| state.client().chat(&plan.upstream, &upstream));
    let answers = call
        .upstream(futures_util::future::try_join_all(calls))
        .await;
    let answers: Vec<_> = about_model(&state, answers, &plan.upstream.model)
        .await?
        .into_iter()
        .map(|answer| answer.data)
        .collect();
    let model = answers
        .first()
        .map_or(plan.upstream.model.as_str(), |answer| answer.model.as_str());
    let usage = translate::combined_usage(
        answers.iter().filter_map(|answer| answer.usage.as_ref()),
        state.client().settings().cached_prompt_tokens,
    );
    call.served(model, usage.as_ref().map(Tokens::from));
    let images = state.image_rewriter(upstream.clone());
    let mut data = Vec::with_capacity(answers.len());
    for answer in &answers {
        let files = drawn_files(answer);
        if files.is_empty() {
            return Err(AppError::InvalidRequest {
                message: format!(
                    "GigaChat drew no image for this prompt; it answered: {:?}",
                    answer_text(answer)
                ),
                param: Some("prompt".into()),
            });
        }
        for file_id in files {
            data.push(match plan.format {
                ImageFormat::Url => Image {
                    url: Some(images.link(&file_id)),
                    ..Image::default()
                },
                ImageFormat::Base64 => Image {
                    b64_json: Some(
                        images
                            .download(&file_id)
                            .await
                            .map_err(|err| AppError::about_file(err, &file_id))?
                            .1,
                    ),
                    ..Image::default()
                },
            });
        }
    }
    Ok(axum::Json(ImagesResponse {
        created: context::unix_now(),
        data,
    })
    .into_response())
}
