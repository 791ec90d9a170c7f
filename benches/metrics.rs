//! TraceQL metrics on the standard workload: how long do typical metrics queries take over
//! millions of spans in blocks, on one core and on all cores?
//!
//! The data: `METRICS_BENCH_SPANS` spans (default 10 million) of the standard workload, cut
//! into blocks of about 200,000 spans in a memory backend. Each query covers the whole range
//! of the data with the default step (an instant query for `compare()`), once with one query
//! thread and once with one per core; besides criterion's figures, the bench prints the spans
//! evaluated per second per core.
//!
//! Run with `cargo bench --bench metrics` (`METRICS_BENCH_SPANS=1000000` for a quicker run).
#![expect(clippy::expect_used, reason = "benches: a failed setup is a panic")]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tempo_core::backend::{Backend, MemoryBackend};
use tempo_core::{Batch, MetricsRequest, Store};
use tempo_workload::Workload;

const TENANT: &str = "bench";

/// The queries: name, TraceQL, and whether the query is instant.
const QUERIES: &[(&str, &str, bool)] = &[
    ("rate", "{ } | rate()", false),
    (
        "errors_by_service",
        "{ status = error } | rate() by (resource.service.name)",
        false,
    ),
    (
        "quantiles_by_service",
        "{ } | quantile_over_time(duration, .5, .99) by (resource.service.name)",
        false,
    ),
    ("histogram", "{ } | histogram_over_time(duration)", false),
    ("compare_instant", "{ } | compare({ status = error })", true),
];

fn store(backend: Arc<dyn Backend>, threads: usize) -> Store {
    Store::builder()
        .blocks(backend)
        .flush_check_period(Duration::from_secs(3600))
        .compaction_min_inputs(1_000_000)
        .query_parallelism(threads)
        // The workload's clock runs faster than the wall clock: keep the blocks' ranges
        // true to their spans.
        .ingestion_time_range_slack(Duration::from_secs(24 * 3600))
        .open()
        .expect("store opens")
}

fn metrics(c: &mut Criterion) {
    let total: u64 = std::env::var("METRICS_BENCH_SPANS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let started = Instant::now();
    let (start, end) = {
        let writer = store(backend.clone(), 0);
        let mut workload = Workload::new(42);
        let mut spans = 0u64;
        let mut since_flush = 0u64;
        let (mut first, mut last) = (u64::MAX, 0u64);
        while spans < total {
            let data = workload.batch(500, None);
            for span in data
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
            {
                first = first.min(span.start_time_unix_nano);
                last = last.max(span.start_time_unix_nano);
            }
            let n: u64 = data
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len() as u64)
                .sum();
            writer
                .ingest(TENANT, Batch::new(data.resource_spans))
                .expect("ingest");
            spans += n;
            since_flush += n;
            if since_flush >= 200_000 {
                writer.flush_blocks().expect("flush");
                since_flush = 0;
            }
        }
        writer.flush_blocks().expect("flush");
        let metas = writer.blocks(TENANT);
        let start = metas
            .iter()
            .map(|m| m.start_time_unix_nano)
            .min()
            .unwrap_or(0);
        let end = metas
            .iter()
            .map(|m| m.end_time_unix_nano)
            .max()
            .unwrap_or(0);
        eprintln!(
            "metrics: {} spans in {} blocks over {:.1?}, built in {:.1?}",
            metas.iter().map(|m| m.spans).sum::<u64>(),
            metas.len(),
            Duration::from_nanos(end - start),
            started.elapsed()
        );
        // Whole seconds around the data.
        (
            start / 1_000_000_000 * 1_000_000_000,
            end.div_ceil(1_000_000_000) * 1_000_000_000 + 1_000_000_000,
        )
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (threads, label) in [(1usize, "one_core"), (0, "all_cores")] {
        let store = store(backend.clone(), threads);
        let mut group = c.benchmark_group(format!("metrics_{label}"));
        group.sample_size(10);
        for (name, q, instant) in QUERIES {
            let req = if *instant {
                MetricsRequest::instant(*q, start, end)
            } else {
                MetricsRequest::range(*q, start, end)
            };
            let t = Instant::now();
            let answer = store.metrics(TENANT, &req).expect("metrics query");
            let took = t.elapsed();
            let used = if threads == 0 { cores } else { threads };
            eprintln!(
                "metrics_{label}/{name}: {} series, {} spans inspected, {:.1?}, {:.1} M spans/s per core",
                answer.series.len(),
                answer.metrics.inspected_spans,
                took,
                answer.metrics.inspected_spans as f64 / took.as_secs_f64() / used as f64 / 1e6
            );
            group.bench_function(*name, |b| {
                b.iter(|| black_box(store.metrics(TENANT, &req).expect("metrics query")))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, metrics);
criterion_main!(benches);
