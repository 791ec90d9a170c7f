//! Blocks in a bucket: what do reads cost on an S3-compatible server, against local disk?
//!
//! Runs against a real S3-compatible server, `s3s-fs` (`cargo install s3s-fs --version 0.14.1
//! --features binary --locked`), started on a loopback port; without it the bench says so and
//! measures nothing.
//!
//! - `trace_by_id`: 1,000 blocks of 50 traces each, written to the bucket by one store, then
//!   read by a store opened afresh (as a server that starts, or another server on the bucket).
//!   Lookups of distinct traces with no time range, as Grafana asks: cold (block cache off,
//!   so every bloom shard and row group footer is fetched; 50 lookups) and warm (the default
//!   cache, after one pass; 2,000 lookups). Prints p50, p99, and the GET requests and bytes
//!   per lookup.
//! - `queries`: `BUCKET_BENCH_SPANS` spans (default 2 million) of the standard workload, in
//!   blocks of about 200,000 spans, in the bucket and on local disk; the search bench's
//!   queries (limit 20) and the metrics bench's over the whole range. Prints the first run
//!   (nothing cached but meta and index) and the median of five more, with the bytes fetched
//!   from the backend per query, for each.
//!
//! Run with `cargo bench --bench bucket`.
#![expect(clippy::expect_used, reason = "benches: a failed setup is a panic")]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tempo_core::backend::testing::S3Server;
use tempo_core::backend::{Backend, LocalBackend};
use tempo_core::model::{TraceId, TracesData};
use tempo_core::{Batch, MetricsRequest, SearchRequest, Store, TimeRange};
use tempo_workload::Workload;

const TENANT: &str = "bench";

const SEARCHES: &[(&str, &str)] = &[
    ("no_match", "{ span.http.response.status_code = 999 }"),
    (
        "resource_match",
        r#"{ resource.service.name = "checkout" }"#,
    ),
    ("errors", "{ status = error }"),
    (
        "structural",
        r#"{ resource.service.name = "frontend" } >> { status = error }"#,
    ),
    ("aggregate", "{ } | count() > 20"),
    ("everything", "{ }"),
];

const METRICS: &[(&str, &str)] = &[
    ("rate", "{ } | rate()"),
    (
        "errors_by_service",
        "{ status = error } | rate() by (resource.service.name)",
    ),
    (
        "quantiles_by_service",
        "{ } | quantile_over_time(duration, .5, .99) by (resource.service.name)",
    ),
    ("histogram", "{ } | histogram_over_time(duration)"),
];

/// A store that only reads and writes what it is told: no cutting, compaction or polling of
/// its own.
fn quiet_store(backend: Arc<dyn Backend>, cache_bytes: Option<u64>) -> Store {
    let mut builder = Store::builder()
        .blocks(backend)
        .flush_check_period(Duration::from_secs(3600))
        .compaction_min_inputs(1_000_000)
        .blocklist_poll(Duration::from_secs(3600))
        // The workload's clock runs faster than the wall clock: keep the blocks' ranges true
        // to their spans.
        .ingestion_time_range_slack(Duration::from_secs(24 * 3600));
    if let Some(bytes) = cache_bytes {
        builder = builder.block_cache_bytes(bytes);
    }
    builder.open().expect("store opens")
}

fn ids(data: &TracesData) -> Vec<TraceId> {
    let mut out: Vec<TraceId> = data
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .filter_map(|s| TraceId::from_slice(&s.trace_id))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// GET requests and bytes read so far.
fn reads(store: &Store) -> (u64, u64) {
    store
        .backend_stats()
        .map_or((0, 0), |s| (s.gets(), s.bytes_read))
}

fn trace_by_id(c: &mut Criterion, s3: &S3Server) {
    let backend: Arc<dyn Backend> = Arc::new(s3.backend("lookups", "").expect("bucket"));
    let started = Instant::now();
    let mut all_ids = Vec::new();
    {
        let writer = quiet_store(backend.clone(), None);
        let mut workload = Workload::new(1000);
        for _ in 0..1000 {
            let data = workload.batch(50, None);
            all_ids.extend(ids(&data));
            writer
                .ingest(TENANT, Batch::new(data.resource_spans))
                .expect("ingest");
            writer.flush_blocks().expect("flush");
        }
        eprintln!(
            "bucket/trace_by_id: {} blocks, {} traces written in {:.1?}",
            writer.blocks(TENANT).len(),
            all_ids.len(),
            started.elapsed()
        );
    }
    let step = (all_ids.len() / 2000).max(1);
    let sample: Vec<TraceId> = all_ids.iter().step_by(step).take(2000).copied().collect();
    for (label, cache) in [("cold", Some(0)), ("warm", None)] {
        let opened = Instant::now();
        let store = quiet_store(backend.clone(), cache);
        let (gets_open, bytes_open) = reads(&store);
        eprintln!(
            "bucket/trace_by_id/{label}: store opened over {} blocks in {:.1?} ({gets_open} GETs, \
             {:.1} MB)",
            store.blocks(TENANT).len(),
            opened.elapsed(),
            bytes_open as f64 / 1e6
        );
        if label == "warm" {
            for id in &sample {
                black_box(store.find_trace(TENANT, *id, TimeRange::ALL).expect("find"));
            }
        }
        let (gets_before, bytes_before) = reads(&store);
        // Cold, every lookup reads a bloom shard of each of the 1,000 blocks: fewer of them.
        let lookups = if label == "cold" { 50 } else { sample.len() };
        let mut samples: Vec<Duration> = sample
            .iter()
            .take(lookups)
            .map(|id| {
                let t = Instant::now();
                let found = store.find_trace(TENANT, *id, TimeRange::ALL).expect("find");
                let took = t.elapsed();
                assert!(found.is_some(), "trace {id} lost");
                took
            })
            .collect();
        let (gets_after, bytes_after) = reads(&store);
        samples.sort();
        let n = samples.len() as f64;
        eprintln!(
            "bucket/trace_by_id/{label}: p50 {:.2?}, p99 {:.2?} over {} lookups; {:.2} GETs and \
             {:.1} KB per lookup",
            percentile(&samples, 0.5),
            percentile(&samples, 0.99),
            samples.len(),
            (gets_after - gets_before) as f64 / n,
            (bytes_after - bytes_before) as f64 / n / 1e3
        );
        if label == "cold" {
            continue;
        }
        let mut next = 0usize;
        c.bench_function(&format!("bucket/trace_by_id/{label}"), |b| {
            b.iter(|| {
                next = (next + 7919) % sample.len();
                black_box(
                    store
                        .find_trace(TENANT, sample[next], TimeRange::ALL)
                        .expect("find"),
                )
            })
        });
    }
}

/// Writes the standard workload into `backend`; the whole seconds around its spans.
fn fill(backend: Arc<dyn Backend>, total: u64) -> (u64, u64) {
    let writer = quiet_store(backend, None);
    let mut workload = Workload::new(42);
    let (mut spans, mut since_flush) = (0u64, 0u64);
    while spans < total {
        let data = workload.batch(500, None);
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
    (
        start / 1_000_000_000 * 1_000_000_000,
        end.div_ceil(1_000_000_000) * 1_000_000_000 + 1_000_000_000,
    )
}

/// Runs `query` once and five more times; prints the first, the median of the rest and the
/// bytes fetched from the backend by each.
fn measure(store: &Store, what: &str, mut query: impl FnMut() -> u64) {
    let (_, before) = reads(store);
    let t = Instant::now();
    let inspected = query();
    let first = t.elapsed();
    let (_, after_first) = reads(store);
    let mut rest: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            black_box(query());
            t.elapsed()
        })
        .collect();
    let (_, after) = reads(store);
    rest.sort();
    eprintln!(
        "{what}: first {first:.1?} ({:.2} MB fetched), then median {:.1?} ({:.2} MB fetched \
         per query); {:.2} MB inspected",
        (after_first - before) as f64 / 1e6,
        percentile(&rest, 0.5),
        (after - after_first) as f64 / 5.0 / 1e6,
        inspected as f64 / 1e6
    );
}

fn queries(s3: &S3Server) {
    let total: u64 = std::env::var("BUCKET_BENCH_SPANS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let backends: [(&str, Arc<dyn Backend>); 2] = [
        (
            "local",
            Arc::new(LocalBackend::open(dir.path()).expect("local")),
        ),
        (
            "bucket",
            Arc::new(s3.backend("queries", "").expect("bucket")),
        ),
    ];
    for (label, backend) in backends {
        let started = Instant::now();
        let (start, end) = fill(backend.clone(), total);
        let store = quiet_store(backend, None);
        eprintln!(
            "bucket/queries/{label}: {} spans in {} blocks written in {:.1?}",
            store.blocks(TENANT).iter().map(|m| m.spans).sum::<u64>(),
            store.blocks(TENANT).len(),
            started.elapsed()
        );
        for (name, q) in SEARCHES {
            let req = SearchRequest::new(*q).limit(20);
            measure(
                &store,
                &format!("bucket/queries/{label}/search/{name}"),
                || {
                    store
                        .search(TENANT, &req)
                        .expect("search")
                        .metrics
                        .inspected_bytes
                },
            );
        }
        for (name, q) in METRICS {
            let req = MetricsRequest::range(*q, start, end);
            measure(
                &store,
                &format!("bucket/queries/{label}/metrics/{name}"),
                || {
                    store
                        .metrics(TENANT, &req)
                        .expect("metrics")
                        .metrics
                        .inspected_bytes
                },
            );
        }
    }
}

fn bucket(c: &mut Criterion) {
    let Some(s3) = S3Server::start(&["lookups", "queries"]) else {
        eprintln!("bucket: s3s-fs is not installed; nothing measured");
        return;
    };
    trace_by_id(c, &s3);
    queries(&s3);
}

criterion_group!(benches, bucket);
criterion_main!(benches);
