//! OpenAI's SSE framing: `data: <compact JSON>\n\n` per event and `data: [DONE]\n\n` at the end.

use bytes::{BufMut, BytesMut};
use serde::Serialize;

/// The terminating event.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

/// Appends one framed JSON event (compact, raw UTF-8) to `out`; on error `out` is left as it was.
pub fn write_event<T: Serialize>(out: &mut BytesMut, payload: &T) -> Result<(), serde_json::Error> {
    let start = out.len();
    out.extend_from_slice(b"data: ");
    let mut writer = out.writer();
    if let Err(err) = serde_json::to_writer(&mut writer, payload) {
        writer.into_inner().truncate(start);
        return Err(err);
    }
    writer.into_inner().extend_from_slice(b"\n\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_compact_utf8() {
        let mut bytes = BytesMut::new();
        write_event(&mut bytes, &serde_json::json!({"a": "Привет"})).unwrap();
        assert_eq!(&bytes[..], "data: {\"a\":\"Привет\"}\n\n".as_bytes());
    }

    #[test]
    fn appends_and_leaves_the_buffer_alone_on_error() {
        let mut out = BytesMut::from(&b"data: 1\n\n"[..]);
        write_event(&mut out, &serde_json::json!({"b": 2})).unwrap();
        assert_eq!(&out[..], b"data: 1\n\ndata: {\"b\":2}\n\n");
        let unserializable = std::collections::HashMap::from([((1, 2), 3)]);
        assert!(write_event(&mut out, &unserializable).is_err());
        assert_eq!(&out[..], b"data: 1\n\ndata: {\"b\":2}\n\n");
    }
}
