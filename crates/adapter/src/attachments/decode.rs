//! Inline file payloads: `data:` URLs and bare base64, decoded once without copying the text around.

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
pub fn data_url(url: &str) -> Result<Decoded, DecodeError> {
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
        base64(payload)?
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
pub fn base64(text: &str) -> Result<Vec<u8>, DecodeError> {
    if is_data_url(text) {
        return data_url(text).map(|decoded| decoded.bytes);
    }
    let text = text.trim();
    if let Ok(bytes) = STANDARD.decode(text) {
        return Ok(bytes);
    }
    if let Ok(bytes) = URL_SAFE.decode(text) {
        return Ok(bytes);
    }
    // Rare: wrapped lines. Only then is the text copied, without its whitespace.
    if text.bytes().any(|b| b.is_ascii_whitespace()) {
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        return STANDARD
            .decode(&compact)
            .or_else(|_| URL_SAFE.decode(&compact))
            .map_err(|_| DecodeError::BadBase64);
    }
    Err(DecodeError::BadBase64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls() {
        let decoded = data_url("data:image/PNG;base64,aGVsbG8=").unwrap();
        assert_eq!(decoded.bytes, b"hello");
        assert_eq!(decoded.declared_type.as_deref(), Some("image/png"));
        assert_eq!(data_url("data:,a%20b").unwrap().bytes, b"a b");
        assert_eq!(
            data_url("data:image/png;base64").unwrap_err(),
            DecodeError::BadDataUrl
        );
        assert_eq!(
            data_url("data:;base64,@@@").unwrap_err(),
            DecodeError::BadBase64
        );
    }

    #[test]
    fn base64_variants() {
        for text in [
            "aGVsbG8=",
            "aGVsbG8",
            " aGVs\nbG8= ",
            "data:text/plain;base64,aGVsbG8=",
        ] {
            assert_eq!(base64(text).unwrap(), b"hello", "{text:?}");
        }
        assert_eq!(base64("-_8").unwrap(), [0xfb, 0xff]);
        assert!(base64("not base64!").is_err());
    }
}
