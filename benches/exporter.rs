//! The in-process exporter (`tempo_otlp::sdk::StoreExporter`) against the SDK's OTLP/gRPC
//! exporter, on the standard workload.
//!
//! `exporter_512`, in spans per second, one iteration = one batch of 512 `SpanData` (the
//! batch processor's default batch size), converted from the standard workload:
//!
//! - `convert`: `SpanData` to the store's model (`sdk::resource_spans`) alone;
//! - `export_in_memory`: `StoreExporter::export_now` into `Store::in_memory()`: conversion,
//!   validation and insertion into the head;
//! - `export_wal_fsync_never`: the same into a store with a write-ahead log on disk (which
//!   encodes the batch as protobuf for the log) that never syncs, the CPU cost alone.
//!
//! `in_span`, in time per span, the instrumented process's view: `tracer.in_span(..)` with two
//! attributes, through the SDK's batch processor (batches of 512), in chunks of 1,024 spans:
//!
//! - `*_caller`: the calling thread's time only (the processor exports on its own thread,
//!   between chunks and concurrently; each chunk is flushed, untimed, so none is dropped);
//! - `*_end_to_end`: the same plus `force_flush` after each chunk, timed: the cost of a span
//!   until it is stored and searchable.
//!
//! with `store` = `StoreExporter` into an in-memory store, `otlp_grpc` = `opentelemetry-otlp`'s
//! tonic exporter sending to this crate's OTLP/gRPC receiver on 127.0.0.1 (ephemeral port,
//! in-memory store, same process, 2 runtime threads), and `no_processor` = a provider with no
//! processor at all (the SDK's own cost of a span). Run with `cargo bench --bench exporter`.

use std::borrow::Cow;
use std::hint::black_box;
use std::time::{Duration, Instant, UNIX_EPOCH};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry::trace::{
    Event, Link, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData, SpanEvents, SpanExporter,
    SpanLinks,
};
use tempo_core::model::{self, Value};
use tempo_core::{FsyncPolicy, Store};
use tempo_otlp::sdk::{StoreExporter, resource_spans};
use tempo_otlp::{Receiver, ReceiverConfig, TraceServiceServer};
use tempo_workload::Workload;

const BATCH: usize = 512;
const CHUNK: u64 = 1024;
/// Batches exported into one store before it is replaced (untimed), bounding memory.
const BATCHES_PER_STORE: u64 = 64;

fn resource() -> Resource {
    Resource::builder()
        .with_service_name("checkout")
        .with_attribute(KeyValue::new("deployment.environment", "bench"))
        .build()
}

fn sdk_value(value: &Value) -> opentelemetry::Value {
    match value {
        Value::StringValue(s) => s.clone().into(),
        Value::BoolValue(b) => (*b).into(),
        Value::IntValue(i) => (*i).into(),
        Value::DoubleValue(f) => (*f).into(),
        Value::ArrayValue(a) => opentelemetry::Value::Array(Array::String(
            a.values
                .iter()
                .map(|v| StringValue::from(format!("{:?}", v.value)))
                .collect(),
        )),
        other => format!("{other:?}").into(),
    }
}

fn sdk_attributes(list: &[model::KeyValue]) -> Vec<KeyValue> {
    list.iter()
        .filter_map(|kv| {
            let value = kv.value.as_ref()?.value.as_ref()?;
            Some(KeyValue::new(kv.key.clone(), sdk_value(value)))
        })
        .collect()
}

fn at(nanos: u64) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

fn context(trace_id: &[u8], span_id: &[u8]) -> SpanContext {
    SpanContext::new(
        TraceId::from_bytes(trace_id.try_into().unwrap_or([1; 16])),
        SpanId::from_bytes(span_id.try_into().unwrap_or([1; 8])),
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    )
}

/// The standard workload's spans as the SDK would hand them to an exporter, in batches.
fn span_batches(batches: usize) -> Vec<Vec<SpanData>> {
    let mut workload = Workload::new(0xE4907).base_time_unix_nanos(1_750_000_000_000_000_000);
    let mut spans = Vec::new();
    while spans.len() < batches * BATCH {
        for rs in workload.batch(50, None).resource_spans {
            for ss in rs.scope_spans {
                let scope = InstrumentationScope::builder(
                    ss.scope.map_or_else(|| "unknown".to_owned(), |s| s.name),
                )
                .build();
                for s in ss.spans {
                    let mut events = SpanEvents::default();
                    events.events = s
                        .events
                        .iter()
                        .map(|e| {
                            Event::new(
                                e.name.clone(),
                                at(e.time_unix_nano),
                                sdk_attributes(&e.attributes),
                                0,
                            )
                        })
                        .collect();
                    let mut links = SpanLinks::default();
                    links.links = s
                        .links
                        .iter()
                        .map(|l| {
                            Link::new(
                                context(&l.trace_id, &l.span_id),
                                sdk_attributes(&l.attributes),
                                0,
                            )
                        })
                        .collect();
                    let status = match s.status.as_ref().map(|st| st.code) {
                        Some(2) => Status::error(
                            s.status
                                .as_ref()
                                .map(|st| st.message.clone())
                                .unwrap_or_default(),
                        ),
                        _ => Status::Unset,
                    };
                    let kind = match s.kind {
                        2 => SpanKind::Server,
                        3 => SpanKind::Client,
                        4 => SpanKind::Producer,
                        5 => SpanKind::Consumer,
                        _ => SpanKind::Internal,
                    };
                    spans.push(SpanData {
                        span_context: context(&s.trace_id, &s.span_id),
                        parent_span_id: s
                            .parent_span_id
                            .as_slice()
                            .try_into()
                            .map_or(SpanId::INVALID, SpanId::from_bytes),
                        parent_span_is_remote: false,
                        span_kind: kind,
                        name: Cow::Owned(s.name.clone()),
                        start_time: at(s.start_time_unix_nano),
                        end_time: at(s.end_time_unix_nano),
                        attributes: sdk_attributes(&s.attributes),
                        dropped_attributes_count: 0,
                        events,
                        links,
                        status,
                        instrumentation_scope: scope.clone(),
                    });
                }
            }
        }
    }
    spans.truncate(batches * BATCH);
    let mut out = Vec::new();
    while !spans.is_empty() {
        let rest = spans.split_off(BATCH.min(spans.len()));
        out.push(std::mem::replace(&mut spans, rest));
    }
    out
}

fn exporter_benches(c: &mut Criterion) {
    let batches = span_batches(8);
    let resource = resource();
    let mut group = c.benchmark_group("exporter_512");
    group
        .throughput(Throughput::Elements(BATCH as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    group.bench_function("convert", |b| {
        let mut i = 0;
        b.iter_batched(
            || {
                i = (i + 1) % batches.len();
                batches[i].clone()
            },
            |spans| black_box(resource_spans(spans, &resource)),
            BatchSize::LargeInput,
        );
    });

    let export = |open: &dyn Fn() -> Store, iters: u64| -> Duration {
        let mut total = Duration::ZERO;
        let mut exporter = None;
        for i in 0..iters {
            if i % BATCHES_PER_STORE == 0 {
                let mut fresh = StoreExporter::new(open());
                fresh.set_resource(&resource);
                exporter = Some(fresh);
            }
            let Some(exporter) = &exporter else { break };
            let spans = batches[i as usize % batches.len()].clone();
            let started = Instant::now();
            let receipt = exporter.export_now(spans);
            total += started.elapsed();
            if let Err(e) = receipt {
                panic!("export failed: {e}");
            }
        }
        total
    };
    group.bench_function("export_in_memory", |b| {
        b.iter_custom(|iters| export(&Store::in_memory, iters));
    });
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("no temporary directory: {e}"),
    };
    let opened = std::cell::Cell::new(0u64);
    let wal_store = || -> Store {
        opened.set(opened.get() + 1);
        let store = Store::builder()
            .wal_dir(dir.path().join(format!("store-{}", opened.get())))
            .fsync(FsyncPolicy::Never)
            .open();
        match store {
            Ok(store) => store,
            Err(e) => panic!("cannot open a store: {e}"),
        }
    };
    group.bench_function("export_wal_fsync_never", |b| {
        b.iter_custom(|iters| export(&wal_store, iters));
    });
    group.finish();
}

/// A tracer provider whose batch processor exports with `exporter`.
fn batch_provider(exporter: impl SpanExporter + 'static) -> SdkTracerProvider {
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(2048)
                .with_max_export_batch_size(BATCH)
                .build(),
        )
        .build();
    SdkTracerProvider::builder()
        .with_resource(resource())
        .with_span_processor(processor)
        .build()
}

/// Times `iters` spans through `provider`, in chunks; `flush_timed` says whether the flush
/// after each chunk counts.
fn spans_through(provider: &SdkTracerProvider, iters: u64, flush_timed: bool) -> Duration {
    let tracer = provider.tracer("bench");
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = CHUNK.min(iters - done);
        let started = Instant::now();
        for i in 0..n {
            tracer.in_span("GET /api/cart", |cx| {
                let span = cx.span();
                span.set_attribute(KeyValue::new("http.request.method", "GET"));
                span.set_attribute(KeyValue::new(
                    "http.response.status_code",
                    200 + (i % 2) as i64,
                ));
            });
        }
        if flush_timed {
            if let Err(e) = provider.force_flush() {
                panic!("flush failed: {e}");
            }
            total += started.elapsed();
        } else {
            total += started.elapsed();
            if let Err(e) = provider.force_flush() {
                panic!("flush failed: {e}");
            }
        }
        done += n;
    }
    total
}

fn in_span_benches(c: &mut Criterion) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("no runtime: {e}"),
    };
    // An OTLP/gRPC receiver into a fresh in-memory store, in this process, on an ephemeral
    // port; and a provider exporting to it with the SDK's OTLP/gRPC exporter.
    let otlp_provider = || {
        let (endpoint, stop) = runtime.block_on(async {
            let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                Ok(l) => l,
                Err(e) => panic!("cannot bind: {e}"),
            };
            let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
            let service = TraceServiceServer::new(Receiver::new(
                Store::in_memory(),
                ReceiverConfig::default(),
            ));
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            tokio::spawn(
                tonic::transport::Server::builder()
                    .add_service(service)
                    .serve_with_incoming_shutdown(
                        tonic::transport::server::TcpIncoming::from(listener),
                        async {
                            let _ = stopped.await;
                        },
                    ),
            );
            (format!("http://{addr}"), stop)
        });
        // tonic's channel spawns its connection tasks on the runtime it is built in.
        let _guard = runtime.enter();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build();
        match exporter {
            // Dropping `stop` stops the receiver, and frees its store.
            Ok(exporter) => (batch_provider(exporter), stop),
            Err(e) => panic!("cannot build the OTLP exporter: {e}"),
        }
    };
    let store_provider = || batch_provider(StoreExporter::new(Store::in_memory()));

    let mut group = c.benchmark_group("in_span");
    group
        .throughput(Throughput::Elements(1))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("no_processor", |b| {
        let provider = SdkTracerProvider::builder()
            .with_resource(resource())
            .build();
        b.iter_custom(|iters| spans_through(&provider, iters, false));
    });
    for (name, flush_timed) in [("caller", false), ("end_to_end", true)] {
        group.bench_function(format!("store_{name}"), |b| {
            b.iter_custom(|iters| {
                // A fresh store per sample keeps the head small.
                let provider = store_provider();
                let elapsed = spans_through(&provider, iters, flush_timed);
                let _ = provider.shutdown();
                elapsed
            });
        });
        group.bench_function(format!("otlp_grpc_{name}"), |b| {
            let (provider, receiver) = otlp_provider();
            b.iter_custom(|iters| spans_through(&provider, iters, flush_timed));
            let _ = provider.shutdown();
            drop(receiver);
        });
    }
    group.finish();
}

criterion_group!(benches, exporter_benches, in_span_benches);
criterion_main!(benches);
