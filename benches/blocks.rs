//! Blocks on the standard workload: build throughput, bytes per span, and trace-by-ID latency
//! with no time range over 1, 100 and 1,000 blocks on local disk.
//!
//! - `build`: cutting 20,000 spans of the head into one block (columns, zstd, index, bloom)
//!   into memory, in spans per second on one core.
//! - `find_by_id/N`: `Store::find_trace` for traces spread over N blocks, without a time range,
//!   as Grafana asks. Besides criterion's figures, the bench prints p50 and p99 over 2,000
//!   lookups of distinct traces, and the bytes per span of the blocks by column family.
//!
//! Run with `cargo bench --bench blocks`.
#![expect(clippy::expect_used, reason = "benches: a failed setup is a panic")]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tempo_core::backend::{Backend, LocalBackend, MemoryBackend};
use tempo_core::model::{TraceId, TracesData};
use tempo_core::{Batch, Store, TimeRange, inspect_block};
use tempo_workload::Workload;

const TENANT: &str = "bench";

fn ids(data: &TracesData) -> Vec<TraceId> {
    let mut out: Vec<TraceId> = data
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .filter_map(|s| TraceId::from_slice(&s.trace_id))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn quiet_store(backend: Arc<dyn Backend>) -> Store {
    Store::builder()
        .blocks(backend)
        .flush_check_period(Duration::from_secs(3600))
        .compaction_min_inputs(1_000_000)
        .open()
        .expect("store opens")
}

fn build(c: &mut Criterion) {
    let mut workload = Workload::new(11);
    let batches: Vec<TracesData> = (0..10).map(|_| workload.batch(100, None)).collect();
    let spans: usize = batches
        .iter()
        .flat_map(|b| &b.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    let mut group = c.benchmark_group("blocks");
    group.throughput(Throughput::Elements(spans as u64));
    group.sample_size(20);
    group.bench_function("build", |b| {
        b.iter_batched(
            || {
                let store = quiet_store(Arc::new(MemoryBackend::new()));
                for batch in &batches {
                    store
                        .ingest(TENANT, Batch::new(batch.resource_spans.clone()))
                        .expect("ingest");
                }
                store
            },
            |store| black_box(store.flush_blocks().expect("flush")),
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn find_by_id(c: &mut Criterion) {
    let mut group = c.benchmark_group("find_by_id");
    for blocks in [1usize, 100, 1000] {
        let dir = tempfile::tempdir().expect("tempdir");
        let backend: Arc<dyn Backend> = Arc::new(LocalBackend::open(dir.path()).expect("local"));
        let store = quiet_store(backend.clone());
        let mut workload = Workload::new(blocks as u64);
        let mut all_ids = Vec::new();
        // About 1,000 spans per block at 1,000 blocks; 20,000 spans in one block.
        let traces_per_block = if blocks == 1 { 1000 } else { 50 };
        for _ in 0..blocks {
            let data = workload.batch(traces_per_block, None);
            all_ids.extend(ids(&data));
            store
                .ingest(TENANT, Batch::new(data.resource_spans))
                .expect("ingest");
            store.flush_blocks().expect("flush");
        }
        drop(store);
        // Reopen: nothing cached, as after a restart.
        let store = quiet_store(backend.clone());
        let metas = store.blocks(TENANT);
        let spans: u64 = metas.iter().map(|m| m.spans).sum();
        let bytes: u64 = metas.iter().map(|m| m.total_bytes()).sum();
        eprintln!(
            "find_by_id/{blocks}: {} blocks, {spans} spans, {:.1} bytes per span",
            metas.len(),
            bytes as f64 / spans as f64
        );
        if blocks == 1
            && let Ok(report) = inspect_block(backend.clone(), TENANT, &metas[0].block_id)
        {
            for (family, b) in report.families() {
                eprintln!(
                    "  {family:<18} {:>6.2} bytes per span",
                    b as f64 / spans as f64
                );
            }
        }
        let step = (all_ids.len() / 2000).max(1);
        let mut samples: Vec<Duration> = all_ids
            .iter()
            .step_by(step)
            .take(2000)
            .map(|id| {
                let started = Instant::now();
                let found = store.find_trace(TENANT, *id, TimeRange::ALL).expect("find");
                let elapsed = started.elapsed();
                assert!(found.is_some(), "trace {id} lost");
                elapsed
            })
            .collect();
        samples.sort();
        eprintln!(
            "find_by_id/{blocks}: p50 {:?}, p99 {:?}, max {:?} over {} lookups",
            percentile(&samples, 0.5),
            percentile(&samples, 0.99),
            samples[samples.len() - 1],
            samples.len()
        );
        let mut next = 0usize;
        group.bench_function(format!("{blocks}"), |b| {
            b.iter(|| {
                next = (next + 7919) % all_ids.len();
                black_box(
                    store
                        .find_trace(TENANT, all_ids[next], TimeRange::ALL)
                        .expect("find"),
                )
            });
        });
    }
    group.finish();
}

criterion_group!(benches, build, find_by_id);
criterion_main!(benches);
