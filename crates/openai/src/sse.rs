//! OpenAI's SSE framing: `data: <compact JSON>\n\n` per event and `data: [DONE]\n\n` at the end.

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};
use serde::Serialize;

use crate::chat::{ChatCompletionChunk, SharedStr};

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

/// Frames the chunks of one streamed chat answer. Every chunk repeats the answer's id, object,
/// creation time and model, so the JSON that opens an event is written once and copied into the
/// next ones; only the choices (and the usage) are serialised per chunk. The bytes are exactly
/// [`write_event`]'s.
#[derive(Debug, Default)]
pub struct ChunkFramer {
    /// `data: {"id":…,"object":…,"created":…,"model":…,"choices":` of `opened_by`.
    opening: Vec<u8>,
    /// The chunk fields `opening` was written for.
    opened_by: Option<(SharedStr, Cow<'static, str>, i64, SharedStr)>,
}

impl ChunkFramer {
    /// Appends the event of `chunk` to `out`; on error `out` is left as it was.
    pub fn write(
        &mut self,
        out: &mut BytesMut,
        chunk: &ChatCompletionChunk,
    ) -> Result<(), serde_json::Error> {
        let same_opening = self
            .opened_by
            .as_ref()
            .is_some_and(|(id, object, created, model)| {
                *id == chunk.id
                    && *object == chunk.object
                    && *created == chunk.created
                    && *model == chunk.model
            });
        if !same_opening {
            self.open(chunk)?;
        }
        let start = out.len();
        out.extend_from_slice(&self.opening);
        let written = serde_json::to_writer(out.writer(), &chunk.choices).and_then(|()| {
            if let Some(usage) = &chunk.usage {
                out.extend_from_slice(b",\"usage\":");
                serde_json::to_writer(out.writer(), usage)?;
            }
            Ok(())
        });
        if let Err(err) = written {
            out.truncate(start);
            return Err(err);
        }
        out.extend_from_slice(b"}\n\n");
        Ok(())
    }

    /// Writes the opening of `chunk`'s events.
    fn open(&mut self, chunk: &ChatCompletionChunk) -> Result<(), serde_json::Error> {
        self.opened_by = None;
        self.opening.clear();
        self.opening.extend_from_slice(b"data: {\"id\":");
        serde_json::to_writer(&mut self.opening, &chunk.id)?;
        self.opening.extend_from_slice(b",\"object\":");
        serde_json::to_writer(&mut self.opening, &chunk.object)?;
        self.opening.extend_from_slice(b",\"created\":");
        serde_json::to_writer(&mut self.opening, &chunk.created)?;
        self.opening.extend_from_slice(b",\"model\":");
        serde_json::to_writer(&mut self.opening, &chunk.model)?;
        self.opening.extend_from_slice(b",\"choices\":");
        self.opened_by = Some((
            chunk.id.clone(),
            chunk.object.clone(),
            chunk.created,
            chunk.model.clone(),
        ));
        Ok(())
    }
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

    proptest::proptest! {
        #[test]
        fn the_framer_writes_what_write_event_writes(
            chunks in proptest::collection::vec(chunk(), 1..6),
            reuse in proptest::collection::vec(0_u8..16, 6),
        ) {
            let mut framer = ChunkFramer::default();
            let (mut framed, mut expected) = (BytesMut::from(&b"x"[..]), BytesMut::from(&b"x"[..]));
            let mut previous: Option<ChatCompletionChunk> = None;
            for (mut chunk, reuse) in chunks.into_iter().zip(reuse) {
                // Each field of the opening the same as in the chunk before (as in a stream) or not.
                if let Some(before) = &previous {
                    if reuse & 1 != 0 {
                        chunk.id = before.id.clone();
                    }
                    if reuse & 2 != 0 {
                        chunk.object = before.object.clone();
                    }
                    if reuse & 4 != 0 {
                        chunk.created = before.created;
                    }
                    if reuse & 8 != 0 {
                        chunk.model = before.model.clone();
                    }
                }
                framer.write(&mut framed, &chunk).unwrap();
                write_event(&mut expected, &chunk).unwrap();
                proptest::prop_assert_eq!(
                    String::from_utf8_lossy(&framed),
                    String::from_utf8_lossy(&expected)
                );
                previous = Some(chunk);
            }
        }
    }

    fn text() -> impl proptest::strategy::Strategy<Value = String> {
        "[a-bП\"\\\\\n\u{1} 😀]{0,4}"
    }

    fn chunk() -> impl proptest::strategy::Strategy<Value = ChatCompletionChunk> {
        use crate::chat::{ChunkChoice, Delta, Usage};
        use proptest::prelude::*;
        let choice = (
            0_u32..3,
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
        )
            .prop_map(|(index, role, content, finish_reason)| ChunkChoice {
                index,
                delta: Delta {
                    role,
                    content,
                    ..Delta::default()
                },
                logprobs: None,
                finish_reason,
            });
        let usage = proptest::option::of(proptest::option::of(
            (0_u32..1000, 0_u32..1000).prop_map(|(prompt_tokens, completion_tokens)| Usage {
                prompt_tokens,
                completion_tokens,
                total_tokens: prompt_tokens + completion_tokens,
                ..Usage::default()
            }),
        ));
        (
            text(),
            prop_oneof![Just("chat.completion.chunk".to_owned()), text()],
            0_i64..3,
            text(),
            proptest::collection::vec(choice, 0..3),
            usage,
        )
            .prop_map(
                |(id, object, created, model, choices, usage)| ChatCompletionChunk {
                    id: id.into(),
                    object: object.into(),
                    created,
                    model: model.into(),
                    choices,
                    usage,
                },
            )
    }
}
