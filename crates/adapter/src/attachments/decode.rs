//! Inline file payloads: `data:` URLs and bare base64, decoded once without copying the text around,
//! a piece at a time so a large image does not hold up the event loop that decodes it.

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, GeneralPurpose as Engine};

/// Standard alphabet, padding optional (clients send both).
const STANDARD: GeneralPurpose = Engine::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
/// URL-safe alphabet, padding optional.
const URL_SAFE: GeneralPurpose = Engine::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Base64 characters decoded between two turns of the event loop (a multiple of 4; about 0.2 ms of
/// work). A 14 MB image is about 20 MB of base64, roughly 10 ms to decode in one go, during which
/// every other connection of that loop would wait.
const PIECE: usize = 256 * 1024;

/// Why an inline payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not `data:[<type>][;base64],<data>`.
    #[error("not a valid data: URL (expected data:<type>;base64,<data>)")]
    BadDataUrl,
    /// The payload is not base64.
    #[error("the payload is not valid base64")]
    BadBase64,
}

/// A decoded payload and the type its data URL declared (a hint only; the bytes decide).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// The declared media type, if any.
    pub declared_type: Option<String>,
}

/// Whether `text` is a `data:` URL.
pub fn is_data_url(text: &str) -> bool {
    text.get(..5)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("data:"))
}

/// Decodes `data:<type>;base64,<payload>` (URL-encoded non-base64 payloads are accepted too).
pub async fn data_url(url: &str) -> Result<Decoded, DecodeError> {
    if !is_data_url(url) {
        return Err(DecodeError::BadDataUrl);
    }
    let (header, payload) = url[5..].split_once(',').ok_or(DecodeError::BadDataUrl)?;
    let mut params = header.split(';');
    let declared_type = params
        .next()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_ascii_lowercase);
    let is_base64 = params.any(|p| p.trim().eq_ignore_ascii_case("base64"));
    let bytes = if is_base64 {
        bare_base64(payload).await?
    } else {
        url::form_urlencoded::parse(format!("x={payload}").as_bytes())
            .next()
            .map(|(_, value)| value.into_owned().into_bytes())
            .unwrap_or_default()
    };
    Ok(Decoded {
        bytes,
        declared_type,
    })
}

/// Decodes base64 (standard or URL-safe, padded or not, line breaks allowed), or a data URL.
pub async fn base64(text: &str) -> Result<Vec<u8>, DecodeError> {
    if is_data_url(text) {
        return data_url(text).await.map(|decoded| decoded.bytes);
    }
    bare_base64(text).await
}

/// Base64 without a `data:` prefix.
async fn bare_base64(text: &str) -> Result<Vec<u8>, DecodeError> {
    let text = text.trim().as_bytes();
    if let Some(bytes) = in_either_alphabet(text).await {
        return Ok(bytes);
    }
    // Rare: wrapped lines. Only then is the text copied, without its whitespace.
    if text.iter().any(u8::is_ascii_whitespace) {
        let compact = without_whitespace(text).await;
        if let Some(bytes) = in_either_alphabet(&compact).await {
            return Ok(bytes);
        }
    }
    Err(DecodeError::BadBase64)
}

/// `text` decoded in the standard alphabet, else the URL-safe one.
async fn in_either_alphabet(text: &[u8]) -> Option<Vec<u8>> {
    match in_turns(&STANDARD, text).await {
        Some(bytes) => Some(bytes),
        None => in_turns(&URL_SAFE, text).await,
    }
}

/// Decodes `text` with `engine` [`PIECE`] characters at a time, giving the event loop a turn after
/// each piece; `None` if it is not valid in this alphabet.
async fn in_turns(engine: &GeneralPurpose, text: &[u8]) -> Option<Vec<u8>> {
    if text.len() <= PIECE {
        return engine.decode(text).ok();
    }
    let mut out = vec![0; base64::decoded_len_estimate(text.len())];
    let mut written = 0;
    for piece in text.chunks(PIECE) {
        written += engine.decode_slice(piece, &mut out[written..]).ok()?;
        tokio::task::yield_now().await;
    }
    out.truncate(written);
    Some(out)
}

/// `text` without its whitespace, copied [`PIECE`] bytes at a time with a turn for the loop between.
async fn without_whitespace(text: &[u8]) -> Vec<u8> {
    let mut compact = Vec::with_capacity(text.len());
    for piece in text.chunks(PIECE) {
        compact.extend(piece.iter().filter(|b| !b.is_ascii_whitespace()));
        if text.len() > PIECE {
            tokio::task::yield_now().await;
        }
    }
    compact
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn data_urls() {
        let decoded = data_url("data:image/PNG;base64,aGVsbG8=").await.unwrap();
        assert_eq!(decoded.bytes, b"hello");
        assert_eq!(decoded.declared_type.as_deref(), Some("image/png"));
        assert_eq!(data_url("data:,a%20b").await.unwrap().bytes, b"a b");
        assert_eq!(
            data_url("data:image/png;base64").await.unwrap_err(),
            DecodeError::BadDataUrl
        );
        assert_eq!(
            data_url("data:;base64,@@@").await.unwrap_err(),
            DecodeError::BadBase64
        );
    }

    #[tokio::test]
    async fn base64_variants() {
        for text in [
            "aGVsbG8=",
            "aGVsbG8",
            " aGVs\nbG8= ",
            "data:text/plain;base64,aGVsbG8=",
        ] {
            assert_eq!(base64(text).await.unwrap(), b"hello", "{text:?}");
        }
        assert_eq!(base64("-_8").await.unwrap(), [0xfb, 0xff]);
        assert!(base64("not base64!").await.is_err());
    }

    /// Random-looking bytes whose encoding spans several pieces and ends mid-piece.
    fn large_payload() -> Vec<u8> {
        (0..(3 * PIECE + 1234) as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect()
    }

    #[tokio::test]
    async fn large_payloads_decode_in_pieces_in_both_alphabets() {
        let bytes = large_payload();
        let standard = base64::engine::general_purpose::STANDARD.encode(&bytes);
        assert!(standard.len() > 3 * PIECE);
        assert_eq!(base64(&standard).await.unwrap(), bytes);
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(base64(&url_safe).await.unwrap(), bytes);
        let data = format!("data:image/png;base64,{standard}");
        assert_eq!(data_url(&data).await.unwrap().bytes, bytes);
        let wrapped: String = standard
            .as_bytes()
            .chunks(76)
            .map(|line| std::str::from_utf8(line).unwrap())
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(base64(&wrapped).await.unwrap(), bytes);
        let mut broken = standard.clone();
        broken.replace_range(2 * PIECE + 8..2 * PIECE + 9, "!");
        assert_eq!(base64(&broken).await.unwrap_err(), DecodeError::BadBase64);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn other_tasks_of_the_loop_run_while_a_large_payload_decodes() {
        let ticks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = ticks.clone();
        let ticker = tokio::spawn(async move {
            loop {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        });
        let encoded = base64::engine::general_purpose::STANDARD.encode(large_payload());
        let decoded = base64(&encoded).await.unwrap();
        // One thread: the ticker only ran in the turns the decoder gave the loop.
        let turns = ticks.load(std::sync::atomic::Ordering::SeqCst);
        ticker.abort();
        assert_eq!(decoded.len(), large_payload().len());
        assert!(turns >= 3, "the loop got {turns} turns during the decode");
    }
}
