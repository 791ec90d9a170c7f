//! The exporter behind the SDK's batch processor stores every span, durably, in an on-disk
//! store; it honours its tenant and refuses to export after shutdown.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use tempo_core::{SINGLE_TENANT, SearchRequest, Store};
use tempo_otlp::sdk::{ExportError, StoreExporter};

fn count_spans(store: &Store, tenant: &str, query: &str) -> u64 {
    let found = store
        .search(tenant, &SearchRequest::new(query).limit(10_000))
        .unwrap();
    found
        .traces
        .iter()
        .flat_map(|t| &t.span_sets)
        .map(|s| s.matched)
        .sum()
}

#[test]
fn batch_processor_spans_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Store::builder()
            .wal_dir(dir.path().join("wal"))
            .local_blocks(dir.path().join("blocks"))
            .unwrap()
            .open()
            .unwrap()
    };
    let store = open();
    let processor = BatchSpanProcessor::builder(StoreExporter::new(store.clone()))
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(4096)
                .with_max_export_batch_size(512)
                .build(),
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name("batcher").build())
        .with_span_processor(processor)
        .build();
    let tracer = provider.tracer("batch-test");
    for i in 0..1000 {
        tracer.in_span(format!("job {}", i % 10), |_| {
            tracer.in_span("step", |_| {});
        });
    }
    provider.force_flush().unwrap();
    assert_eq!(count_spans(&store, SINGLE_TENANT, "{}"), 2000);
    assert_eq!(
        count_spans(
            &store,
            SINGLE_TENANT,
            r#"{ name = "job 3" } > { name = "step" }"#
        ),
        100
    );
    provider.shutdown().unwrap();
    store.close().unwrap();
    drop(store);

    let reopened = open();
    assert_eq!(
        count_spans(
            &reopened,
            SINGLE_TENANT,
            r#"{ resource.service.name = "batcher" }"#
        ),
        2000
    );
    reopened.close().unwrap();
}

#[test]
fn spans_go_to_the_exporters_tenant() {
    let store = Store::in_memory();
    let exporter = StoreExporter::new(store.clone())
        .with_tenant("acme")
        .unwrap();
    assert_eq!(exporter.tenant(), "acme");
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .build();
    provider.tracer("t").in_span("for acme", |_| {});
    assert_eq!(count_spans(&store, "acme", "{}"), 1);
    assert_eq!(count_spans(&store, SINGLE_TENANT, "{}"), 0);

    let refused = StoreExporter::new(store).with_tenant("no/slashes");
    assert!(refused.is_err());
}

#[test]
fn no_export_after_shutdown() {
    use opentelemetry_sdk::trace::SpanExporter as _;

    let store = Store::in_memory();
    let exporter = StoreExporter::new(store);
    exporter.shutdown().unwrap();
    assert!(matches!(
        exporter.export_now(Vec::new()),
        Err(ExportError::Shutdown)
    ));
    assert!(
        exporter.shutdown().is_err(),
        "shutting down twice is an error"
    );
}

#[test]
fn spans_with_invalid_ids_are_reported_and_the_rest_stored() {
    use opentelemetry::InstrumentationScope;
    use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId};
    use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

    let span = |trace: u128, span: u64| SpanData {
        span_context: SpanContext::new(
            TraceId::from(trace),
            SpanId::from(span),
            TraceFlags::SAMPLED,
            false,
            Default::default(),
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: "op".into(),
        start_time: std::time::SystemTime::now(),
        end_time: std::time::SystemTime::now(),
        attributes: vec![],
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("ids").build(),
    };
    let store = Store::in_memory();
    let exporter = StoreExporter::new(store.clone());
    let err = exporter
        .export_now(vec![span(0, 1), span(7, 2), span(8, 0)])
        .unwrap_err();
    match &err {
        ExportError::Rejected { spans, message } => {
            assert_eq!(*spans, 2);
            assert!(
                message.contains("trace ID must not be all zeros"),
                "{message}"
            );
            assert!(
                message.contains("span ID must not be all zeros"),
                "{message}"
            );
        }
        other => panic!("unexpected error {other}"),
    }
    assert_eq!(count_spans(&store, SINGLE_TENANT, "{}"), 1);
}
