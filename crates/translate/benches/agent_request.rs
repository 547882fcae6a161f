//! The big agent request of issue 20 (~116 KB: 40 tools, 92 messages) through what the adapter
//! does with it before the upstream call: parse the body, plan the GigaChat request, encode it
//! (v1 and v2), for chat completions, and the same conversation through Messages and Responses.
//!
//! The fixture comes from `bench/agent_request.py`: `python3 bench/agent_request.py --out DIR`,
//! then `AGENT_REQUEST_DIR=DIR cargo bench -p translate --bench agent_request` (without the
//! variable the bench generates it into `target/agent-request` first).

#![allow(clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gigachat_types::Contract;
use openai::chat::ChatCompletionRequest;
use translate::{ChatDefaults, ResolvedParts, chat_request};

/// The fixture directory: `AGENT_REQUEST_DIR`, or one generated under `target/`.
fn fixture_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("AGENT_REQUEST_DIR") {
        return PathBuf::from(dir);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("target/agent-request");
    if !dir.join("chat.json").exists() {
        let status = std::process::Command::new("python3")
            .arg(root.join("bench/agent_request.py"))
            .arg("--out")
            .arg(&dir)
            .status()
            .expect("python3 runs bench/agent_request.py");
        assert!(status.success(), "bench/agent_request.py failed");
    }
    dir
}

fn read(dir: &std::path::Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|err| panic!("{name}: {err}"))
}

fn defaults(contract: Contract) -> ChatDefaults {
    ChatDefaults {
        default_model: "GigaChat".into(),
        contract,
        ..ChatDefaults::default()
    }
}

/// Plans `request` and encodes the upstream body; returns its length.
fn plan_and_encode(request: &ChatCompletionRequest, defaults: &ChatDefaults) -> usize {
    let plan = chat_request(request, defaults, &ResolvedParts::new()).expect("plans");
    gigachat::client::encode_chat(&plan.upstream)
        .expect("encodes")
        .len()
}

fn bench(c: &mut Criterion) {
    let dir = fixture_dir();
    let chat = read(&dir, "chat.json");
    let messages = read(&dir, "messages.json");
    let responses = read(&dir, "responses.json");
    let parsed: ChatCompletionRequest = serde_json::from_slice(&chat).expect("chat.json parses");
    let v1 = defaults(Contract::V1);
    let v2 = defaults(Contract::V2);
    let planned = chat_request(&parsed, &v1, &ResolvedParts::new()).expect("plans");

    let mut group = c.benchmark_group("agent_request");
    group.throughput(Throughput::Bytes(chat.len() as u64));
    group.sample_size(50);
    group.bench_function("chat_parse", |b| {
        b.iter(|| serde_json::from_slice::<ChatCompletionRequest>(&chat).expect("parses"));
    });
    group.bench_function("chat_plan_v1", |b| {
        b.iter(|| chat_request(&parsed, &v1, &ResolvedParts::new()).expect("plans"));
    });
    group.bench_function("chat_encode_v1", |b| {
        b.iter(|| gigachat::client::encode_chat(&planned.upstream).expect("encodes"));
    });
    for (name, defaults) in [("chat_all_v1", &v1), ("chat_all_v2", &v2)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let request: ChatCompletionRequest = serde_json::from_slice(&chat).expect("parses");
                plan_and_encode(&request, defaults)
            });
        });
    }
    group.bench_function("messages_all_v1", |b| {
        b.iter(|| {
            let request: anthropic::MessagesRequest =
                serde_json::from_slice(&messages).expect("parses");
            let plan = translate::anthropic::messages_request(request)
                .and_then(|plan| plan.for_contract(Contract::V1))
                .expect("converts");
            plan_and_encode(&plan.chat, &v1)
        });
    });
    group.bench_function("responses_all_v1", |b| {
        b.iter(|| {
            let request: openai::responses::CreateResponse =
                serde_json::from_slice(&responses).expect("parses");
            let ids = translate::ResponseIds {
                id: "resp_bench".into(),
                created: 0,
            };
            let plan = translate::responses::responses_request(&request, &[], &v1, &ids)
                .expect("converts");
            plan_and_encode(&plan.chat, &v1)
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
