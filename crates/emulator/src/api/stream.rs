//! SSE answers: pacing and the writer shared by v1, v2 and replay (real delays, one flush per
//! event, stream faults, the sent-event tally), and the v1 framing: `data: {json}\n\n` events, role in
//! the first delta, usage in the event before `data: [DONE]` (or the configured recorded variants).

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use super::chat::{Reply, Usage};
use crate::config::EmulatorConfig;
use crate::faults::{Fault, Stage};
use crate::log::{Listener, StreamTally};
use crate::state::AppState;
use crate::text;
use crate::wire;

/// Nominal time the emulated model needs for one event's words when `event_gap` is zero; used to
/// translate `update_interval` into words per event.
const NOMINAL_GAP: Duration = Duration::from_millis(100);

/// Pause before an injected cut, so the events before it reach the client.
const CUT_FLUSH_PAUSE: Duration = Duration::from_millis(20);

#[derive(Serialize)]
struct Delta<'a> {
    content: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_call: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    functions_state_id: Option<&'a str>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    delta: Delta<'a>,
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    finish_reason: Option<&'a str>,
}

/// One stream chunk, keys in recorded order.
#[derive(Serialize)]
struct Chunk<'a> {
    choices: [ChunkChoice<'a>; 1],
    created: u64,
    model: &'a str,
    object: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_details: Option<&'a Value>,
}

fn event(chunk: &Chunk<'_>) -> Bytes {
    // A text event is about 200 bytes: one allocation instead of a buffer doubling from 6.
    let mut out = Vec::with_capacity(EVENT_CAPACITY);
    out.extend_from_slice(b"data: ");
    if serde_json::to_writer(&mut out, chunk).is_err() {
        out.extend_from_slice(b"{}");
    }
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The buffer an event is written into, enough for a text delta of a few words.
const EVENT_CAPACITY: usize = 320;

/// Which of the recorded v1 stream variants to write.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Framing {
    /// The last text delta carries `finish_reason` (no separate final event with empty content).
    pub(crate) final_text_with_finish: bool,
    /// The finishing event carries `usage` (otherwise no event does).
    pub(crate) usage: bool,
}

impl Framing {
    /// The variant the emulator is configured with.
    pub(crate) fn new(config: &EmulatorConfig) -> Self {
        Self {
            final_text_with_finish: config.stream_final_text_with_finish,
            usage: config.stream_usage,
        }
    }
}

/// The v1 events of a reply, in order, each with the delay before it: reasoning deltas
/// (`reasoning_content`), then the call or the text, then the finish (with `error_details` after an
/// in-band failure).
pub(crate) fn events(reply: &Reply, pacing: &Pacing, framing: Framing) -> Vec<(Duration, Bytes)> {
    let answer = &reply.answer;
    let usage = framing.usage.then_some(reply.usage);
    let mut out: Vec<(Duration, Bytes)> = Vec::new();
    let mut push = |delta: Delta<'_>, finish_reason: Option<&str>, usage: Option<Usage>| {
        let first = out.is_empty();
        let delta = Delta {
            role: first.then_some("assistant"),
            ..delta
        };
        let bytes = event(&Chunk {
            choices: [ChunkChoice {
                delta,
                index: 0,
                finish_reason,
            }],
            created: reply.created,
            model: &reply.model,
            object: &reply.object,
            usage,
            error_details: finish_reason.and(answer.error_details.as_ref()),
        });
        out.push((
            if first {
                pacing.first_delay
            } else {
                pacing.gap
            },
            bytes,
        ));
    };
    let empty = Delta {
        content: "",
        role: None,
        reasoning_content: None,
        function_call: None,
        functions_state_id: None,
    };
    let reasoning_groups = answer
        .reasoning
        .as_deref()
        .map(|text| pacing.groups(text))
        .unwrap_or_default();
    for group in &reasoning_groups {
        push(
            Delta {
                reasoning_content: Some(group),
                ..empty
            },
            None,
            None,
        );
    }
    if let Some(call) = answer.calls.first() {
        // A call arrives whole, in one delta that also ends the answer.
        push(
            Delta {
                function_call: Some(call),
                functions_state_id: answer.functions_state_id.as_deref(),
                ..empty
            },
            Some(answer.finish_reason),
            usage,
        );
    } else {
        // A generated image's tag is never split across events.
        let tag = answer.content.get(..answer.caption_start).unwrap_or("");
        let caption = answer
            .content
            .get(answer.caption_start..)
            .unwrap_or(&answer.content);
        let mut groups = pacing.groups(caption);
        if let Some(first) = groups.first_mut() {
            first.insert_str(0, tag);
        }
        let last = groups.len().saturating_sub(1);
        for (index, group) in groups.iter().enumerate() {
            let finishing = framing.final_text_with_finish && index == last;
            push(
                Delta {
                    content: group,
                    functions_state_id: if index == 0 {
                        answer.functions_state_id.as_deref()
                    } else {
                        None
                    },
                    ..empty
                },
                finishing.then_some(answer.finish_reason),
                if finishing { usage } else { None },
            );
        }
        if !framing.final_text_with_finish {
            push(empty, Some(answer.finish_reason), usage);
        }
    }
    out.push((Duration::ZERO, Bytes::from_static(b"data: [DONE]\n\n")));
    out
}

/// The writer's state between two events.
struct Writer {
    events: VecDeque<(Duration, Bytes)>,
    sent: usize,
    cut_after: Option<usize>,
    tally: Option<Arc<StreamTally>>,
}

/// How a stream is paced: words per event and the delays, after `update_interval` merging.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pacing {
    /// Words carried by one event.
    pub(crate) words_per_event: usize,
    /// Delay before the first event.
    pub(crate) first_delay: Duration,
    /// Delay before each later event.
    pub(crate) gap: Duration,
}

impl Pacing {
    /// The pacing for a request's `update_interval` (seconds) under the emulator's settings.
    pub(crate) fn new(config: &EmulatorConfig, update_interval: Option<f64>) -> Self {
        let interval = update_interval
            .filter(|u| u.is_finite() && *u > 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or_default();
        let mut words_per_event = config.words_per_event.max(1);
        if !interval.is_zero() {
            let step = if config.event_gap.is_zero() {
                NOMINAL_GAP
            } else {
                config.event_gap
            };
            let factor = interval.as_secs_f64() / step.as_secs_f64();
            words_per_event = words_per_event.saturating_mul(factor.ceil().max(1.0) as usize);
        }
        Self {
            words_per_event,
            first_delay: config.first_event_delay,
            gap: config.event_gap.max(interval),
        }
    }

    /// Splits text into event-sized groups (at least one, possibly empty).
    pub(crate) fn groups(&self, text: &str) -> Vec<String> {
        let mut groups: Vec<String> = text::pieces(text)
            .chunks(self.words_per_event)
            .map(<[&str]>::concat)
            .collect();
        if groups.is_empty() {
            groups.push(String::new());
        }
        groups
    }
}

/// Writes prepared SSE events (each after its delay), applying a queued stream fault.
pub(crate) fn write(
    state: &AppState,
    events: Vec<(Duration, Bytes)>,
    tally: Option<Arc<StreamTally>>,
    path: &str,
) -> Response {
    let mut cut_after = None;
    match state.faults.take(Listener::Api, path, Stage::Stream) {
        Some(Fault::WrongContentType { .. }) => {
            return wire::raw(
                StatusCode::OK,
                "text/html",
                "<html><body>stream unavailable</body></html>",
            );
        }
        Some(Fault::CutStreamAfter { events, .. }) => cut_after = Some(events),
        _ => {}
    }
    if let Some(tally) = &tally {
        tally.start();
    }
    let writer = Writer {
        events: events.into(),
        sent: 0,
        cut_after,
        tally,
    };
    let stream = futures_util::stream::unfold(writer, |mut writer| async move {
        if writer.cut_after == Some(writer.sent) {
            // Let the connection flush what was written: an HTTP/2 reset discards queued frames.
            let pause = writer
                .events
                .front()
                .map_or(Duration::ZERO, |(delay, _)| *delay);
            tokio::time::sleep(pause.max(CUT_FLUSH_PAUSE)).await;
            writer.events.clear();
            writer.cut_after = None;
            let cut = io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "injected fault: stream cut",
            );
            return Some((Err(cut), writer));
        }
        let (delay, bytes) = writer.events.pop_front()?;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        writer.sent += 1;
        if let Some(tally) = &writer.tally {
            tally.event_sent();
        }
        Some((Ok::<_, io::Error>(bytes), writer))
    });
    wire::raw(
        StatusCode::OK,
        "text/event-stream",
        Body::from_stream(stream),
    )
}
