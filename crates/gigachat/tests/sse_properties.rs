//! Property tests of the SSE decoder over generated input: arbitrary bytes cut anywhere never panic
//! and decode to output bounded by the input, and GigaChat-shaped event streams (JSON chunks, framing
//! variants, comments, a BOM) cut anywhere give back exactly the chunks that were sent.

use gigachat::sse::{SseDecoder, SseEvent};
use gigachat::types::ChatChunk;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Cases per property: enough to explore, small enough for CI (each property runs in well under a second).
const CASES: u32 = 256;

/// Feeds `input` in the pieces `cuts` makes (cut positions taken modulo the length), then finishes.
fn decode(input: &[u8], cuts: &[usize]) -> Vec<SseEvent> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut decoder = SseDecoder::new();
    let mut events = Vec::new();
    let mut start = 0;
    for cut in cuts {
        decoder.feed(&input[start..cut]);
        start = cut;
        events.extend(std::iter::from_fn(|| decoder.next_event()));
    }
    decoder.feed(&input[start..]);
    decoder.finish();
    events.extend(std::iter::from_fn(|| decoder.next_event()));
    events
}

/// Bytes that make the decoder's branches likely: line endings, colons, field names, a BOM, and
/// bytes that are not UTF-8.
fn garbage() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..16),
        2 => Just(b"\n".to_vec()),
        2 => Just(b"\r".to_vec()),
        1 => Just(b"\r\n".to_vec()),
        2 => Just(b"data:".to_vec()),
        1 => Just(b"data: ".to_vec()),
        1 => Just(b"event:".to_vec()),
        1 => Just(b"id:".to_vec()),
        1 => Just(b"retry:".to_vec()),
        1 => Just(b":".to_vec()),
        1 => Just(b"\xEF\xBB\xBF".to_vec()),
        1 => Just(b"\xEF\xBB".to_vec()),
        1 => Just(b"\xFF\xC3".to_vec()),
        1 => Just(b"\0".to_vec()),
    ];
    proptest::collection::vec(piece, 0..64).prop_map(|pieces| pieces.concat())
}

/// Line terminators the decoder must accept.
fn line_end() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("\n"), Just("\r\n"), Just("\r")]
}

/// Text as GigaChat streams it: Cyrillic, emoji, quotes, backslashes, control characters, line breaks.
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            "[a-zA-Z0-9 ,.!?]{1,8}",
            "[а-яА-ЯёЁ ]{1,6}",
            Just("\n".to_owned()),
            Just("\r\n".to_owned()),
            Just("\"".to_owned()),
            Just("\\".to_owned()),
            Just("\u{1F600}".to_owned()),
            Just("\u{0}".to_owned()),
            Just("data: [DONE]".to_owned()),
            Just("<img src=\"x\" fuse=\"true\"/>".to_owned()),
        ],
        0..6,
    )
    .prop_map(|parts| parts.concat())
}

/// One upstream chunk as GigaChat sends it: a content delta, a whole function call, or the last
/// event with a finish reason and usage.
fn gigachat_chunk() -> impl Strategy<Value = Value> {
    let delta = prop_oneof![
        3 => text().prop_map(|t| json!({"content": t})),
        1 => text().prop_map(|t| json!({"content": t, "role": "assistant"})),
        1 => text().prop_map(|t| json!({"reasoning_content": t})),
        1 => ("[a-z_]{1,10}", text()).prop_map(|(name, arg)| json!({
            "content": "", "role": "assistant",
            "function_call": {"name": name, "arguments": {"q": arg, "n": 2}},
            "functions_state_id": "0199e210-2f13-744c-8fe5-c9a19fe27db7"
        })),
    ];
    let finish = prop_oneof![
        4 => Just(None),
        1 => prop_oneof![
            Just("stop"), Just("length"), Just("function_call"), Just("blacklist"), Just("error"),
            Just("brand_new_reason"),
        ].prop_map(Some),
    ];
    (delta, finish, any::<bool>()).prop_map(|(delta, finish, usage)| {
        let mut choice = json!({"delta": delta, "index": 0});
        if let Some(reason) = finish {
            choice["finish_reason"] = json!(reason);
        }
        let mut chunk = json!({
            "choices": [choice], "created": 1_760_000_000, "model": "GigaChat-2-Max:2.0.28.2",
            "object": "chat.completion"
        });
        if usage || finish.is_some() {
            chunk["usage"] = json!({"prompt_tokens": 18, "completion_tokens": 7, "total_tokens": 25,
                "precached_prompt_tokens": 3});
        }
        chunk
    })
}

/// A GigaChat stream: chunks (and now and then an error body) as `data:` events with varied
/// framing and comments, then `[DONE]`.
fn gigachat_stream() -> impl Strategy<Value = (Vec<Value>, Vec<u8>)> {
    let event = prop_oneof![
        12 => gigachat_chunk(),
        // GigaChat's error body, as a gateway may put it in a stream.
        1 => Just(json!({"status": 500, "message": "Internal Server Error"})),
    ];
    let framed = (
        event,
        line_end(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    );
    (
        proptest::collection::vec(framed, 0..12),
        line_end(),
        any::<bool>(),
    )
        .prop_map(|(events, done_end, bom)| {
            let mut body = String::new();
            if bom {
                body.push('\u{FEFF}');
            }
            let mut chunks = Vec::new();
            for (chunk, end, space, comment, named) in events {
                if comment {
                    body.push_str(&format!(": keep-alive{end}"));
                }
                if named {
                    body.push_str(&format!("event: message{end}"));
                }
                let sep = if space { " " } else { "" };
                body.push_str(&format!("data:{sep}{chunk}{end}{end}"));
                chunks.push(chunk);
            }
            body.push_str(&format!("data: [DONE]{done_end}{done_end}"));
            (chunks, body.into_bytes())
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    /// Garbage cut anywhere: no panic, the same events as the whole input, and output bounded by
    /// the input (a byte that is not UTF-8 becomes one 3-byte U+FFFD at most).
    #[test]
    fn garbage_decodes_the_same_however_cut_and_stays_bounded(
        input in garbage(),
        cuts in proptest::collection::vec(any::<usize>(), 0..16),
    ) {
        let whole = decode(&input, &[]);
        let split = decode(&input, &cuts);
        prop_assert_eq!(&whole, &split);
        let line_breaks = input.iter().filter(|b| matches!(b, b'\n' | b'\r')).count();
        prop_assert!(whole.len() <= line_breaks + 1, "{} events from {} line breaks", whole.len(), line_breaks);
        // Every byte the events hold, a shared id counted once.
        let mut ids: Vec<&std::sync::Arc<str>> = Vec::new();
        let mut held = 0;
        for event in &whole {
            held += event.data.len() + event.event.as_ref().map_or(0, String::len);
            if let Some(id) = &event.id
                && !ids.iter().any(|seen| std::sync::Arc::ptr_eq(seen, id))
            {
                held += id.len();
                ids.push(id);
            }
        }
        prop_assert!(held <= 3 * input.len(), "{held} bytes held from {} input bytes", input.len());
    }

    /// Byte-by-byte delivery (the worst a network can do) equals whole delivery on garbage too.
    #[test]
    fn garbage_fed_byte_by_byte_equals_whole(input in garbage()) {
        let cuts: Vec<usize> = (0..input.len()).collect();
        prop_assert_eq!(decode(&input, &[]), decode(&input, &cuts));
    }

    /// A GigaChat stream cut anywhere gives back every event, in order, as the JSON sent, then
    /// `[DONE]`; each chunk parses as the client's `ChatChunk` and an error body does not.
    #[test]
    fn gigachat_streams_round_trip_however_cut(
        (chunks, body) in gigachat_stream(),
        cuts in proptest::collection::vec(any::<usize>(), 0..24),
    ) {
        let events = decode(&body, &cuts);
        prop_assert_eq!(events.len(), chunks.len() + 1);
        for (event, sent) in events.iter().zip(&chunks) {
            let got: Value = serde_json::from_str(&event.data).map_err(|e| TestCaseError::fail(format!("{e}: {}", event.data)))?;
            prop_assert_eq!(&got, sent);
            let typed: Result<ChatChunk, _> = serde_json::from_str(&event.data);
            prop_assert_eq!(typed.is_ok(), sent.get("choices").is_some(), "{:?}: {}", typed.err(), event.data);
        }
        prop_assert_eq!(events.last().map(|e| e.data.as_str()), Some("[DONE]"));
    }
}

/// A long `id:` followed by many short events: every event carries the id, and they all share
/// one copy of it (cloning it per event made the output grow with events × id length).
#[test]
fn a_repeated_id_is_shared_not_copied() {
    let mut input = format!("id: {}\n", "7".repeat(64 * 1024)).into_bytes();
    for _ in 0..10_000 {
        input.extend_from_slice(b"data:x\n\n");
    }
    let events = decode(&input, &[]);
    assert_eq!(events.len(), 10_000);
    let first = events[0].id.clone().unwrap();
    assert_eq!(first.len(), 64 * 1024);
    assert!(events.iter().all(|e| {
        e.id.as_ref()
            .is_some_and(|id| std::sync::Arc::ptr_eq(id, &first))
    }));
}
