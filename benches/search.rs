//! TraceQL search on the standard workload: how long do typical queries take over millions of
//! spans in blocks, on one core and on all cores?
//!
//! The data: `SEARCH_BENCH_SPANS` spans (default 10 million) of the standard workload, cut
//! into blocks of about 200,000 spans in a memory backend, then queried through
//! `Store::search` with no time range. Each query is measured with one query thread and with
//! one per core; besides criterion's figures, the bench prints the spans scanned per second
//! per core for the queries that match.
//!
//! Run with `cargo bench --bench search` (`SEARCH_BENCH_SPANS=1000000` for a quicker run).
#![expect(clippy::expect_used, reason = "benches: a failed setup is a panic")]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tempo_core::backend::{Backend, MemoryBackend};
use tempo_core::{Batch, SearchRequest, Store};
use tempo_workload::Workload;

const TENANT: &str = "bench";

const QUERIES: &[(&str, &str)] = &[
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

fn store(backend: Arc<dyn Backend>, threads: usize) -> Store {
    Store::builder()
        .blocks(backend)
        .flush_check_period(Duration::from_secs(3600))
        .compaction_min_inputs(1_000_000)
        .query_parallelism(threads)
        .open()
        .expect("store opens")
}

fn search(c: &mut Criterion) {
    let total: u64 = std::env::var("SEARCH_BENCH_SPANS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let started = Instant::now();
    {
        let writer = store(backend.clone(), 0);
        let mut workload = Workload::new(42);
        let mut spans = 0u64;
        let mut since_flush = 0u64;
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
        eprintln!(
            "search: {} spans in {} blocks built in {:.1?}",
            metas.iter().map(|m| m.spans).sum::<u64>(),
            metas.len(),
            started.elapsed()
        );
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (threads, label) in [(1usize, "one_core"), (0, "all_cores")] {
        let store = store(backend.clone(), threads);
        let mut group = c.benchmark_group(format!("search_{label}"));
        group.sample_size(10);
        for (name, q) in QUERIES {
            let req = SearchRequest::new(*q).limit(20);
            let t = Instant::now();
            let found = store.search(TENANT, &req).expect("search");
            let took = t.elapsed();
            let used = if threads == 0 { cores } else { threads };
            eprintln!(
                "search_{label}/{name}: {} traces, {} spans inspected, {} of {} row groups skipped, \
                 {:.1?}, {:.1} M spans/s per core",
                found.traces.len(),
                found.metrics.inspected_spans,
                found.metrics.skipped_jobs,
                found.metrics.total_jobs,
                took,
                found.metrics.inspected_spans as f64 / took.as_secs_f64() / used as f64 / 1e6
            );
            group.bench_function(*name, |b| {
                b.iter(|| black_box(store.search(TENANT, &req).expect("search")))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, search);
criterion_main!(benches);
