//! Spans of code instrumented with `tracing` reach the harness through
//! `tracing-opentelemetry`, with their fields as attributes, `otel.*` fields as kind, name and
//! status, and their nesting as the trace tree.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use tempo_otlp::testing::Harness;
use tracing::instrument::WithSubscriber as _;

#[tracing::instrument(fields(otel.kind = "server", http.route = "/orders/{id}", http.response.status_code))]
fn handle(order: u64) {
    let found = load(order);
    tracing::Span::current().record("http.response.status_code", if found { 200 } else { 404 });
    if !found {
        tracing::error!(order, "order not found");
    }
}

#[tracing::instrument(name = "SELECT orders", fields(otel.kind = "client", db.system = "postgresql"))]
fn load(order: u64) -> bool {
    cache_get(order);
    order < 100
}

#[tracing::instrument]
fn cache_get(order: u64) {
    tracing::info!("miss");
}

#[test]
fn tracing_spans_are_stored_and_asserted() {
    let harness = Harness::new("orders");
    {
        let _guard = harness.set_tracing_default();
        handle(7);
        handle(404);
    }
    harness
        .assert_traceql(r#"{ kind = server && span.http.route = "/orders/{id}" }"#)
        .matches_traces(2);
    harness
        .assert_traceql("{ span.http.response.status_code = 404 }")
        .matches_spans(1);
    // An error event marks the span as failed (tracing-opentelemetry's default).
    harness
        .assert_traceql(r#"{ status = error && name = "handle" }"#)
        .matches_spans(1);
    harness
        .assert_traceql(r#"{ span.db.system = "postgresql" && kind = client }"#)
        .matches_spans(2);
    // Recorded fields keep their type; `#[instrument]` records arguments with `Debug`, so
    // they arrive as strings.
    harness
        .assert_traceql("{ span.http.response.status_code >= 400 }")
        .matches_spans(1);
    harness
        .assert_traceql(r#"{ name = "cache_get" && span.order = "404" }"#)
        .matches_spans(1);
    harness
        .assert_traceql(r#"{ resource.service.name = "orders" } >> { name = "cache_get" }"#)
        .matches_traces(2);
    harness.assert_tree(
        "{ span.http.response.status_code = 404 }",
        "
        handle
          SELECT orders
            cache_get
        ",
    );
}

#[test]
fn futures_carry_the_harness_across_runtime_threads() {
    let harness = Harness::new("async");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(
        async {
            let tasks: Vec<_> = (0..4)
                .map(|i| {
                    tokio::spawn(
                        async move {
                            let span = tracing::info_span!("job", job.id = i);
                            let _entered = span.enter();
                            tracing::info_span!("step").in_scope(|| {});
                        }
                        .with_current_subscriber(),
                    )
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        }
        .with_subscriber(harness.tracing_dispatch()),
    );
    harness
        .assert_traceql(r#"{ name = "job" }"#)
        .matches_traces(4);
    harness
        .assert_traceql("{ span.job.id = 3 }")
        .matches_spans(1);
    harness.assert_tree("{ span.job.id = 2 }", "job\n  step");
}

#[test]
fn a_layer_composes_with_other_layers() {
    use tracing_subscriber::layer::SubscriberExt as _;

    let harness = Harness::new("layered");
    let subscriber = tracing_subscriber::registry()
        .with(harness.tracing_layer())
        .with(tracing_subscriber::filter::LevelFilter::INFO);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("kept").in_scope(|| {
            tracing::debug_span!("filtered out").in_scope(|| {});
        });
    });
    harness.assert_tree("{}", "kept");
}
