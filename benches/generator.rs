//! The metrics generator: how fast does it count spans, and how much memory do its series
//! and its half-edge store hold?
//!
//! - `span_metrics_1000_spans` and `service_graphs_1000_spans`: one processor counting a
//!   batch of 1,000 spans into series that already exist (the steady state);
//! - the memory figures, printed before the timings: bytes the generator holds at 10,000
//!   active series of span metrics, at 10,000 of service graphs, and with 10,000 half-edges
//!   waiting for their other half (Tempo's default `max_items`). Each is the growth of the
//!   process's resident memory while a store with the generator on takes the spans, less
//!   that of the same store with it off (both kept alive, so that neither reuses the
//!   other's freed pages): an estimate to about a hundred kilobytes.
//!
//! Run with `cargo bench --bench generator`.
#![expect(clippy::expect_used, reason = "benches: a failed setup is a panic")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tempo_core::generator::GeneratorConfig;
use tempo_core::model::{AnyValue, KeyValue, Resource, ResourceSpans, ScopeSpans, Span, Value};
use tempo_core::{Batch, Store};

/// The process's resident bytes (Linux; 0 elsewhere).
fn resident() -> i64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<i64>().ok())
        .map_or(0, |pages| pages * 4096)
}

const SERVER: i32 = 2;
const CLIENT: i32 = 3;

fn kv(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(v.into())),
        }),
    }
}

/// A span of trace `trace`, numbered `id` in it, child of `parent` (0: a root).
fn span(trace: u64, id: u8, parent: u8, kind: i32, name: String) -> Span {
    let mut trace_id = [0u8; 16];
    trace_id[..8].copy_from_slice(&trace.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
    trace_id[8..].copy_from_slice(&trace.to_le_bytes());
    Span {
        trace_id: trace_id.to_vec(),
        span_id: vec![id; 8],
        parent_span_id: if parent == 0 { vec![] } else { vec![parent; 8] },
        name,
        kind,
        start_time_unix_nano: 1_000_000_000 + trace * 1_000,
        end_time_unix_nano: 1_000_000_000 + trace * 1_000 + 25_000_000 + (trace % 97) * 1_000_000,
        attributes: vec![kv("http.method", "GET")],
        ..Default::default()
    }
}

fn resource_spans(service: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![kv("service.name", service)],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// `count` server spans of one service, over `names` span names: `names` label sets.
fn span_metrics_batch(first: u64, count: u64, names: u64) -> Batch {
    let spans = (first..first + count)
        .map(|t| span(t, 1, 0, SERVER, format!("GET /route/{}", t % names)))
        .collect();
    Batch::new(vec![resource_spans("api", spans)])
}

/// `count` requests, each a client span of `client-{i % edges}` and its server span of
/// `server`: `edges` edges.
fn service_graph_batch(first: u64, count: u64, edges: u64, with_servers: bool) -> Batch {
    let mut out = Vec::new();
    for t in first..first + count {
        let client = format!("client-{}", t % edges);
        out.push(resource_spans(
            &client,
            vec![span(t, 1, 0, CLIENT, "call".into())],
        ));
        if with_servers {
            out.push(resource_spans(
                "server",
                vec![span(t, 2, 1, SERVER, "serve".into())],
            ));
        }
    }
    Batch::new(out)
}

fn config(span_metrics: bool, service_graphs: bool) -> GeneratorConfig {
    let mut config = if span_metrics && service_graphs {
        GeneratorConfig::all()
    } else if span_metrics {
        GeneratorConfig::span_metrics()
    } else if service_graphs {
        GeneratorConfig::service_graphs()
    } else {
        GeneratorConfig::default()
    };
    // The bench's spans are stamped long ago: count them all, and let halves wait.
    config.ingestion_time_range_slack = Duration::ZERO;
    config.service_graphs.wait = Duration::from_secs(3600);
    config
}

/// Resident bytes grown while a store with `config` takes `batches`; the store is returned
/// to keep its memory.
fn grown_by(config: GeneratorConfig, batches: &dyn Fn() -> Vec<Batch>) -> (i64, Store) {
    let batches = batches();
    let before = resident();
    let store = Store::builder()
        .metrics_generator(config)
        .open()
        .expect("store opens");
    for batch in batches {
        store.ingest("bench", batch).expect("ingest");
    }
    (resident() - before, store)
}

/// Prints the generator's bytes for `what`: memory grown with `on` less that with it off.
fn report_memory(what: &str, on: GeneratorConfig, batches: &dyn Fn() -> Vec<Batch>) {
    let (off_bytes, _off) = grown_by(config(false, false), batches);
    let (on_bytes, store) = grown_by(on, batches);
    let stats = store.stats();
    let bytes = on_bytes - off_bytes;
    let (per, unit) = if stats.generator_active_series > 0 {
        (stats.generator_active_series, "series")
    } else {
        (stats.generator_pending_edges.max(1), "half-edge")
    };
    println!(
        "generator memory, {what}: {:.2} MiB for {} active series and {} waiting half-edges ({} bytes per {unit})",
        bytes as f64 / (1 << 20) as f64,
        stats.generator_active_series,
        stats.generator_pending_edges,
        bytes / per as i64,
    );
}

fn generator(c: &mut Criterion) {
    // 527 label sets of span metrics are 10,013 series (19 each).
    report_memory("span metrics", config(true, false), &|| {
        (0..10)
            .map(|i| span_metrics_batch(i * 1_000, 1_000, 527))
            .collect()
    });
    // 417 edges are 10,008 series (24 each).
    report_memory("service graphs", config(false, true), &|| {
        (0..10)
            .map(|i| service_graph_batch(i * 1_000, 1_000, 417, true))
            .collect()
    });
    report_memory(
        "service graphs, 10,000 halves waiting",
        config(false, true),
        &|| {
            (0..10)
                .map(|i| service_graph_batch(i * 1_000, 1_000, 417, false))
                .collect()
        },
    );

    let mut group = c.benchmark_group("generator");
    group
        .throughput(Throughput::Elements(1_000))
        .sample_size(20)
        .measurement_time(Duration::from_secs(4));
    let store = Store::builder()
        .metrics_generator(config(true, false))
        .open()
        .expect("store opens");
    let mut next = 0u64;
    group.bench_function("span_metrics_1000_spans", |b| {
        b.iter_batched(
            || {
                next += 1_000;
                span_metrics_batch(next, 1_000, 527)
            },
            |batch| black_box(store.ingest("bench", batch).expect("ingest")),
            criterion::BatchSize::SmallInput,
        );
    });
    let off = Store::builder()
        .metrics_generator(config(false, false))
        .open()
        .expect("store opens");
    group.bench_function("off_1000_spans", |b| {
        b.iter_batched(
            || {
                next += 1_000;
                span_metrics_batch(next, 1_000, 527)
            },
            |batch| black_box(off.ingest("bench", batch).expect("ingest")),
            criterion::BatchSize::SmallInput,
        );
    });
    let graphs = Store::builder()
        .metrics_generator(config(false, true))
        .open()
        .expect("store opens");
    group.bench_function("service_graphs_1000_spans", |b| {
        b.iter_batched(
            || {
                next += 500;
                service_graph_batch(next, 500, 417, true)
            },
            |batch| black_box(graphs.ingest("bench", batch).expect("ingest")),
            criterion::BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, generator);
criterion_main!(benches);
