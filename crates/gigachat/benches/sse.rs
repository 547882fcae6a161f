//! SSE decoding throughput: the same 1 MiB GigaChat-like stream fed whole, in network-sized
//! chunks and byte by byte, and a single 1 MiB event in 7-byte pieces. Linear decoding keeps
//! every case within a small constant factor of the whole-buffer case.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use gigachat::sse::SseDecoder;

fn stream_body() -> Vec<u8> {
    let event = "data: {\"choices\":[{\"delta\":{\"content\":\" Начинаем счёт с единицы, потом двойка\"},\"index\":0}],\"created\":1768996176,\"model\":\"GigaChat:2.0.28.2\",\"object\":\"chat.completion\"}\n\n";
    let mut body = Vec::new();
    while body.len() < 1 << 20 {
        body.extend_from_slice(event.as_bytes());
    }
    body.extend_from_slice(b"data: [DONE]\n\n");
    body
}

fn decode(body: &[u8], chunk: usize) -> usize {
    let mut decoder = SseDecoder::new();
    let mut events = 0;
    for piece in body.chunks(chunk) {
        decoder.feed(piece);
        while decoder.next_event().is_some() {
            events += 1;
        }
    }
    decoder.finish();
    events + std::iter::from_fn(|| decoder.next_event()).count()
}

fn bench(c: &mut Criterion) {
    let body = stream_body();
    let mut group = c.benchmark_group("sse_decode_1MiB");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.sample_size(20);
    for chunk in [body.len(), 16 * 1024, 7, 1] {
        group.bench_with_input(BenchmarkId::from_parameter(chunk), &chunk, |b, &chunk| {
            b.iter(|| decode(&body, chunk));
        });
    }
    group.finish();

    // One 1 MiB event: a decoder that re-scanned its buffer per chunk would be quadratic here.
    let mut huge = b"data: ".to_vec();
    huge.extend(std::iter::repeat_n(b'x', 1 << 20));
    huge.extend_from_slice(b"\n\n");
    let mut group = c.benchmark_group("sse_decode_one_1MiB_event");
    group.throughput(Throughput::Bytes(huge.len() as u64));
    group.sample_size(10);
    for chunk in [huge.len(), 7] {
        group.bench_with_input(BenchmarkId::from_parameter(chunk), &chunk, |b, &chunk| {
            b.iter(|| decode(&huge, chunk));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
