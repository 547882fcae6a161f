//! OpenAI's SSE framing: `data: <compact JSON>\n\n` per event and `data: [DONE]\n\n` at the end.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

/// The terminating event.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

/// Frames one JSON event (compact, raw UTF-8).
pub fn event<T: Serialize>(payload: &T) -> Result<Bytes, serde_json::Error> {
    let mut buffer = BytesMut::with_capacity(256).writer();
    std::io::Write::write_all(&mut buffer, b"data: ").map_err(serde_json::Error::io)?;
    serde_json::to_writer(&mut buffer, payload)?;
    std::io::Write::write_all(&mut buffer, b"\n\n").map_err(serde_json::Error::io)?;
    Ok(buffer.into_inner().freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_compact_utf8() {
        let bytes = event(&serde_json::json!({"a": "Привет"})).unwrap();
        assert_eq!(&bytes[..], "data: {\"a\":\"Привет\"}\n\n".as_bytes());
    }
}
