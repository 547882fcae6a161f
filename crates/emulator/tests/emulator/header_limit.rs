//! The gateway's header limit: about 16 KB of request headers pass, more get an empty 431 before
//! the API sees the request, over HTTP/1.1 and HTTP/2 alike.

use crate::common::{Env, client, hello};

/// The `X-Request-ID` that brings a chat request's headers to `size` bytes or so.
fn request_id(size: usize) -> String {
    "r".repeat(size)
}

async fn chat_with_id(env: &Env, http: &reqwest::Client, id: &str) -> reqwest::Response {
    http.post(env.url("/chat/completions"))
        .bearer_auth(&env.token)
        .header("X-Request-ID", id)
        .json(&hello())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn oversized_headers_get_431_from_the_gateway() {
    let env = Env::start().await;
    let http1 = client(&env.emu, reqwest::Client::builder().http1_only());
    let http2 = client(&env.emu, reqwest::Client::builder().http2_prior_knowledge());
    for (http, version) in [
        (&http1, reqwest::Version::HTTP_11),
        (&http2, reqwest::Version::HTTP_2),
    ] {
        let response = chat_with_id(&env, http, &request_id(16 * 1024)).await;
        assert_eq!(response.version(), version);
        assert_eq!(response.status(), 431, "{version:?}");
        assert!(response.headers().get("x-request-id").is_none());
        assert!(response.text().await.unwrap().is_empty());
        // Well under the limit (with the bearer token and the usual headers): served.
        let id = request_id(12 * 1024);
        let response = chat_with_id(&env, http, &id).await;
        assert_eq!(response.status(), 200, "{version:?}");
        assert_eq!(response.headers()["x-request-id"], id.as_str());
    }
}
