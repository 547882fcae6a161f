//! Incremental Server-Sent Events decoder: turns network chunks into events as soon as their bytes arrive.
//!
//! Follows the WHATWG event-stream grammar: `data:` framing, named `event:`s (used by API v2),
//! `id:`/`retry:`, comment lines, LF, CRLF or CR line endings, and a BOM at the start. Every input
//! byte is examined once, so decoding is linear in the stream length however it is split.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, when the server named the event.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last `id:` seen, when any; shared by the events that repeat it, so a long id followed by
    /// many short events costs its bytes once, not once per event.
    pub id: Option<Arc<str>>,
    /// A `retry:` reconnection hint in milliseconds.
    pub retry: Option<u64>,
}

/// Byte-level decoder state; feed it chunks, take events out.
#[derive(Debug, Default)]
pub struct SseDecoder {
    /// Bytes of the line being assembled (only the unfinished tail of the input).
    line: Vec<u8>,
    /// The previous chunk ended in CR, so a leading LF belongs to that line break.
    after_cr: bool,
    /// Whether the first bytes (and a possible BOM) were already seen.
    started: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    last_id: Option<Arc<str>>,
    retry: Option<u64>,
    ready: VecDeque<SseEvent>,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl SseDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes one network chunk; completed events become available through [`SseDecoder::next_event`].
    pub fn feed(&mut self, mut chunk: &[u8]) {
        if !self.started {
            // The BOM may itself be split across chunks: hold bytes until it can be decided.
            let pending_len = self.line.len() + chunk.len();
            if pending_len < BOM.len() && BOM.starts_with(&[self.line.as_slice(), chunk].concat()) {
                self.line.extend_from_slice(chunk);
                return;
            }
            self.started = true;
            let mut head = std::mem::take(&mut self.line);
            head.extend_from_slice(chunk);
            let body = head.strip_prefix(BOM).unwrap_or(&head).to_vec();
            self.feed_lines(&body);
            return;
        }
        if chunk.is_empty() {
            return;
        }
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        self.feed_lines(chunk);
    }

    fn feed_lines(&mut self, mut chunk: &[u8]) {
        while let Some(pos) = memchr::memchr2(b'\n', b'\r', chunk) {
            let (head, rest) = chunk.split_at(pos);
            let is_cr = rest.first() == Some(&b'\r');
            chunk = &rest[1..];
            if is_cr {
                match chunk.first() {
                    Some(b'\n') => chunk = &chunk[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            if self.line.is_empty() {
                self.process_line(head);
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(head);
                self.process_line(&line);
                line.clear();
                self.line = line;
            }
        }
        self.line.extend_from_slice(chunk);
    }

    /// Ends the stream: a final event not followed by a blank line is still dispatched
    /// (servers that just close after the last `data:` line, as the GigaChat SDK tolerates).
    pub fn finish(&mut self) {
        if !self.started && !self.line.is_empty() {
            self.started = true;
        }
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line);
        }
        self.dispatch();
    }

    /// The next completed event, if any.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        self.ready.pop_front()
    }

    fn process_line(&mut self, line: &[u8]) {
        if line.is_empty() {
            self.dispatch();
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        // Valid UTF-8 (every GigaChat event) is checked by `from_utf8`'s word-at-a-time pass;
        // only a value that is not pays for the lossy decoding.
        let value = match std::str::from_utf8(value) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(value),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.event = Some(value.into_owned()),
            b"id" if !value.contains('\0') => self.last_id = Some(Arc::from(value.as_ref())),
            b"retry" => {
                if let Ok(ms) = value.parse() {
                    self.retry = Some(ms);
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self) {
        let event = self.event.take();
        let retry = self.retry.take();
        if !self.has_data {
            return;
        }
        self.has_data = false;
        self.ready.push_back(SseEvent {
            event,
            data: std::mem::take(&mut self.data),
            id: self.last_id.clone(),
            retry,
        });
    }
}

/// Adapts a byte stream into a stream of [`SseEvent`]s, yielding each event as soon as it is complete.
pub struct SseStream<S> {
    inner: S,
    decoder: SseDecoder,
    done: bool,
}

impl<S> SseStream<S> {
    /// Wraps a stream of network chunks.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            decoder: SseDecoder::new(),
            done: false,
        }
    }
}

impl<S, E> Stream for SseStream<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<SseEvent, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(event) = self.decoder.next_event() {
                return Poll::Ready(Some(Ok(event)));
            }
            if self.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut self.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => self.decoder.feed(&chunk),
                Poll::Ready(Some(Err(err))) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(err)));
                }
                Poll::Ready(None) => {
                    self.done = true;
                    self.decoder.finish();
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_split(input: &[u8], cuts: &[usize]) -> Vec<SseEvent> {
        let mut decoder = SseDecoder::new();
        let mut start = 0;
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        let mut events = Vec::new();
        for cut in cuts {
            decoder.feed(&input[start..cut]);
            start = cut;
            while let Some(event) = decoder.next_event() {
                events.push(event);
            }
        }
        decoder.feed(&input[start..]);
        decoder.finish();
        while let Some(event) = decoder.next_event() {
            events.push(event);
        }
        events
    }

    fn data(text: &str) -> SseEvent {
        SseEvent {
            data: text.to_owned(),
            ..SseEvent::default()
        }
    }

    proptest! {
        /// A field's value reads as `from_utf8_lossy` would read it, UTF-8 or not.
        #[test]
        fn a_value_reads_as_the_lossy_decoding_of_its_bytes(
            value in proptest::collection::vec(any::<u8>(), 0..64)
                .prop_map(|bytes| bytes.into_iter().filter(|b| !matches!(b, b'\n' | b'\r')).collect::<Vec<u8>>()),
            with_event in any::<bool>(),
        ) {
            let mut body = Vec::new();
            if with_event {
                body.extend_from_slice(b"event: ");
                body.extend_from_slice(&value);
                body.push(b'\n');
            }
            body.extend_from_slice(b"data: ");
            body.extend_from_slice(&value);
            body.extend_from_slice(b"\n\n");
            let events = decode_split(&body, &[]);
            let expected = String::from_utf8_lossy(&value).into_owned();
            prop_assert_eq!(events.len(), 1);
            prop_assert_eq!(&events[0].data, &expected);
            if with_event {
                prop_assert_eq!(events[0].event.as_deref(), Some(expected.as_str()));
            }
        }
    }

    #[test]
    fn gigachat_v1_framing() {
        let body = b"data: {\"a\":1}\n\ndata: {\"b\":\"\xd0\x9f\"}\n\ndata: [DONE]\n\n";
        assert_eq!(
            decode_split(body, &[]),
            vec![
                data("{\"a\":1}"),
                data("{\"b\":\"\u{41f}\"}"),
                data("[DONE]")
            ]
        );
    }

    #[test]
    fn named_events_comments_crlf_and_multiline_data() {
        let body = b"\xEF\xBB\xBF: keep-alive\r\nevent: response.message.delta\r\ndata: one\r\ndata: two\r\nid: 7\r\nretry: 1500\r\n\r\nevent: done\rdata:x\r\r";
        let events = decode_split(body, &[]);
        assert_eq!(
            events,
            vec![
                SseEvent {
                    event: Some("response.message.delta".into()),
                    data: "one\ntwo".into(),
                    id: Some("7".into()),
                    retry: Some(1500),
                },
                SseEvent {
                    event: Some("done".into()),
                    data: "x".into(),
                    id: Some("7".into()),
                    retry: None,
                },
            ]
        );
    }

    #[test]
    fn event_without_data_is_not_dispatched_and_name_resets() {
        let events = decode_split(b"event: ping\n\ndata: x\n\n", &[]);
        assert_eq!(events, vec![data("x")]);
    }

    #[test]
    fn trailing_event_without_blank_line_is_dispatched_at_end() {
        assert_eq!(decode_split(b"data: last", &[]), vec![data("last")]);
    }

    #[test]
    fn events_arrive_as_soon_as_complete() {
        let mut decoder = SseDecoder::new();
        decoder.feed(b"data: first\n\nda");
        assert_eq!(decoder.next_event(), Some(data("first")));
        assert_eq!(decoder.next_event(), None);
        decoder.feed(b"ta: second\n");
        assert_eq!(decoder.next_event(), None);
        decoder.feed(b"\n");
        assert_eq!(decoder.next_event(), Some(data("second")));
    }

    #[test]
    fn crlf_split_by_an_empty_chunk_is_one_line_break() {
        let mut decoder = SseDecoder::new();
        for chunk in [&b"data: a\r"[..], b"", b"\ndata: b\n\n"] {
            decoder.feed(chunk);
        }
        assert_eq!(
            decoder.next_event(),
            Some(data("a\nb")),
            "the LF after CR is not a blank line"
        );
    }

    fn arb_stream() -> impl Strategy<Value = Vec<u8>> {
        let line = prop_oneof![
            "[a-z0-9 {}\":,.\\[\\]]{0,20}".prop_map(|v| format!("data: {v}")),
            "[a-z.]{1,12}".prop_map(|v| format!("event: {v}")),
            "[a-z ]{0,8}".prop_map(|v| format!(": {v}")),
            "[0-9]{1,4}".prop_map(|v| format!("retry: {v}")),
            Just(String::new()),
            Just("data: Привет, мир".to_owned()),
        ];
        let ending = prop_oneof![Just("\n"), Just("\r\n"), Just("\r")];
        proptest::collection::vec((line, ending), 0..40).prop_map(|lines| {
            lines
                .into_iter()
                .flat_map(|(l, e)| format!("{l}{e}").into_bytes())
                .collect()
        })
    }

    proptest! {
        #[test]
        fn any_split_yields_the_same_events(
            input in arb_stream(),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
            bom in any::<bool>(),
        ) {
            let input = if bom { [BOM, &input].concat() } else { input };
            let whole = decode_split(&input, &[]);
            let split = decode_split(&input, &cuts);
            prop_assert_eq!(whole, split);
        }

        #[test]
        fn byte_by_byte_equals_whole(input in arb_stream()) {
            let cuts: Vec<usize> = (0..input.len()).collect();
            prop_assert_eq!(decode_split(&input, &[]), decode_split(&input, &cuts));
        }
    }
}
