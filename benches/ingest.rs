//! The ingest path without the network, on the standard workload, in spans per second.
//!
//! Every iteration is one OTLP body of 100 traces x 10 spans (1,000 spans):
//!
//! - `decode`: protobuf decode and validation (`Batch::decode`);
//! - `fsync_always`: decode, then `Store::ingest` into a write-ahead log that syncs before
//!   every acknowledgement, from one thread (one sync per batch);
//! - `fsync_never`: the same without syncs, the CPU cost alone;
//! - `fsync_always_4_threads`: four threads ingesting at once, sharing syncs (group commit);
//! - `fsync_never_span_metrics`: `fsync_never` with the metrics generator's span metrics on,
//!   the generator's share of the CPU;
//! - `fsync_never_generator`: `fsync_never` with span metrics and service graphs on.
//!
//! The workload's spans are stamped in the past, so the generator's ingestion slack is off
//! here: every span is counted.
//!
//! Each measurement opens a fresh store in a temporary directory, so the head and the log do
//! not grow across samples. Run with `cargo bench --bench ingest`.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tempo_core::generator::GeneratorConfig;
use tempo_core::{Batch, FsyncPolicy, SINGLE_TENANT, Store};
use tempo_workload::{BatchTemplate, Workload, encode_batch};

const TRACES: usize = 100;
const SPANS_PER_TRACE: usize = 10;
/// Distinct bodies cycled through, each with its own trace IDs (about 300 KB each).
const POOL: usize = 256;
const THREADS: u64 = 4;

/// `POOL` encoded bodies of the standard workload, all with distinct trace IDs.
fn bodies() -> anyhow::Result<Vec<Bytes>> {
    let mut workload = Workload::new(0x1D6E57).base_time_unix_nanos(1_750_000_000_000_000_000);
    let template = BatchTemplate::new(encode_batch(&workload.batch(TRACES, Some(SPANS_PER_TRACE))))
        .context("the workload's own encoding does not index")?;
    Ok((0..POOL as u64)
        .map(|sequence| {
            let mut out = Vec::with_capacity(template.encoded_len());
            template.render_into(sequence, sequence * 100_000_000, &mut out);
            Bytes::from(out)
        })
        .collect())
}

/// Times `iters` ingests of decoded bodies from `threads` threads into a fresh store.
fn ingest(bodies: &[Bytes], fsync: FsyncPolicy, threads: u64, iters: u64) -> Duration {
    ingest_with(bodies, fsync, threads, iters, GeneratorConfig::default())
}

/// [`ingest`] with the metrics generator set up as `generator`.
fn ingest_with(
    bodies: &[Bytes],
    fsync: FsyncPolicy,
    threads: u64,
    iters: u64,
    generator: GeneratorConfig,
) -> Duration {
    let run = || -> anyhow::Result<Duration> {
        let dir = tempfile::tempdir()?;
        let store = Store::builder()
            .wal_dir(dir.path())
            .fsync(fsync)
            .metrics_generator(generator.clone())
            .open()?;
        let next = AtomicU64::new(0);
        let started = Instant::now();
        std::thread::scope(|scope| -> anyhow::Result<()> {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| -> anyhow::Result<()> {
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= iters {
                                return Ok(());
                            }
                            let body = bodies[i as usize % bodies.len()].clone();
                            let batch = Batch::decode(body)?;
                            black_box(store.ingest(SINGLE_TENANT, batch)?);
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker
                    .join()
                    .map_err(|_| anyhow::anyhow!("ingest thread panicked"))??;
            }
            Ok(())
        })?;
        let elapsed = started.elapsed();
        store.close()?;
        Ok(elapsed)
    };
    match run() {
        Ok(elapsed) => elapsed,
        Err(err) => panic!("ingest bench failed: {err:#}"),
    }
}

fn ingest_benches(c: &mut Criterion) {
    let bodies = match bodies() {
        Ok(bodies) => bodies,
        Err(err) => panic!("cannot build the workload: {err:#}"),
    };
    let spans = (TRACES * SPANS_PER_TRACE) as u64;
    let mut group = c.benchmark_group("ingest_100x10");
    group
        .throughput(Throughput::Elements(spans))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));

    group.bench_function("decode", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) % bodies.len();
            black_box(Batch::decode(bodies[i].clone()))
        });
    });
    group.bench_function("fsync_always", |b| {
        b.iter_custom(|iters| ingest(&bodies, FsyncPolicy::Always, 1, iters));
    });
    group.bench_function("fsync_never", |b| {
        b.iter_custom(|iters| ingest(&bodies, FsyncPolicy::Never, 1, iters));
    });
    group.bench_function("fsync_always_4_threads", |b| {
        b.iter_custom(|iters| ingest(&bodies, FsyncPolicy::Always, THREADS, iters));
    });
    group.bench_function("fsync_never_span_metrics", |b| {
        b.iter_custom(|iters| {
            ingest_with(
                &bodies,
                FsyncPolicy::Never,
                1,
                iters,
                every_span(GeneratorConfig::span_metrics()),
            )
        });
    });
    group.bench_function("fsync_never_generator", |b| {
        b.iter_custom(|iters| {
            ingest_with(
                &bodies,
                FsyncPolicy::Never,
                1,
                iters,
                every_span(GeneratorConfig::all()),
            )
        });
    });
    group.finish();
}

/// `config` counting every span, however old.
fn every_span(mut config: GeneratorConfig) -> GeneratorConfig {
    config.ingestion_time_range_slack = Duration::ZERO;
    config
}

criterion_group!(benches, ingest_benches);
criterion_main!(benches);
