//! Span metrics as Tempo's metrics generator makes them: the series a known set of spans
//! gives, label by label and bucket by bucket; dimensions; the registry's bounds.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::time::Duration;

use tempo_core::generator::{GeneratorConfig, SeriesKind, SpanMetricsConfig};
use tempo_core::model::{
    AnyValue, KeyValue, Resource, ResourceSpans, ScopeSpans, Span, Status, Value,
};
use tempo_core::{Batch, Store};

const MS: u64 = 1_000_000;

fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
    }
}

/// A whole second about five seconds ago: recent enough for the generator's ingestion slack.
fn start() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (now - 5) * 1_000 * MS
}

/// A span of `ms` milliseconds.
fn span(n: u8, name: &str, kind: i32, ms: u64, error: bool, attrs: Vec<KeyValue>) -> Span {
    let start = start();
    Span {
        trace_id: vec![n; 16],
        span_id: vec![n; 8],
        name: name.into(),
        kind,
        start_time_unix_nano: start,
        end_time_unix_nano: start + ms * MS,
        attributes: attrs,
        status: error.then(|| Status {
            code: 2,
            message: "boom".into(),
        }),
        ..Default::default()
    }
}

fn batch(service: &str, resource: Vec<KeyValue>, spans: Vec<Span>) -> Batch {
    let mut attributes = vec![kv("service.name", Value::StringValue(service.into()))];
    attributes.extend(resource);
    Batch::new(vec![ResourceSpans {
        resource: Some(Resource {
            attributes,
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }])
}

fn value(store: &Store, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    store
        .generated_series("t")
        .into_iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && s.labels
                    .iter()
                    .zip(labels)
                    .all(|((k, v), (x, y))| k == x && v == y)
        })
        .map(|s| s.value)
}

#[test]
fn calls_latency_and_size_per_service_operation_kind_and_status() {
    let store = Store::builder()
        .metrics_generator(GeneratorConfig::span_metrics())
        .open()
        .unwrap();
    store
        .ingest(
            "t",
            batch(
                "checkout",
                vec![],
                vec![
                    span(1, "GET /cart", 2, 3, false, vec![]),
                    span(2, "GET /cart", 2, 30, false, vec![]),
                    span(3, "GET /cart", 2, 3_000, true, vec![]),
                    span(4, "SELECT", 3, 1, false, vec![]),
                ],
            ),
        )
        .unwrap();
    let ok = [
        ("service", "checkout"),
        ("span_name", "GET /cart"),
        ("span_kind", "SPAN_KIND_SERVER"),
        ("status_code", "STATUS_CODE_UNSET"),
    ];
    let err = [
        ("service", "checkout"),
        ("span_name", "GET /cart"),
        ("span_kind", "SPAN_KIND_SERVER"),
        ("status_code", "STATUS_CODE_ERROR"),
    ];
    assert_eq!(
        value(&store, "traces_spanmetrics_calls_total", &ok),
        Some(2.0)
    );
    assert_eq!(
        value(&store, "traces_spanmetrics_calls_total", &err),
        Some(1.0)
    );
    assert_eq!(
        value(&store, "traces_spanmetrics_latency_count", &ok),
        Some(2.0)
    );
    let sum = value(&store, "traces_spanmetrics_latency_sum", &ok).unwrap();
    assert!((sum - 0.033).abs() < 1e-9, "{sum}");
    // Cumulative buckets: 3 ms is under 0.004, 30 ms under 0.032.
    let bucket = |le: &str| {
        let mut labels = ok.to_vec();
        labels.push(("le", le));
        value(&store, "traces_spanmetrics_latency_bucket", &labels).unwrap()
    };
    assert_eq!(bucket("0.002"), 0.0);
    assert_eq!(bucket("0.004"), 1.0);
    assert_eq!(bucket("0.016"), 1.0);
    assert_eq!(bucket("0.032"), 2.0);
    assert_eq!(bucket("+Inf"), 2.0);
    assert!(value(&store, "traces_spanmetrics_size_total", &ok).unwrap() > 0.0);
    let client = [
        ("service", "checkout"),
        ("span_name", "SELECT"),
        ("span_kind", "SPAN_KIND_CLIENT"),
        ("status_code", "STATUS_CODE_UNSET"),
    ];
    assert_eq!(
        value(&store, "traces_spanmetrics_calls_total", &client),
        Some(1.0)
    );

    // Exemplars on the buckets carry the trace.
    let with_exemplar = store
        .generated_series("t")
        .into_iter()
        .find(|s| s.kind == SeriesKind::Bucket && s.exemplar.is_some())
        .unwrap();
    assert_eq!(with_exemplar.exemplar.unwrap().trace_id.len(), 32);

    // The text format Prometheus scrapes.
    let text = store.generated_metrics_text("t");
    assert!(
        text.contains("# TYPE traces_spanmetrics_calls_total counter\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE traces_spanmetrics_latency histogram\n"),
        "{text}"
    );
    assert!(
        text.contains(
            r#"traces_spanmetrics_calls_total{service="checkout",span_name="GET /cart",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_ERROR"} 1"#
        ),
        "{text}"
    );
    // Another tenant sees nothing of it.
    assert!(store.generated_series("other").is_empty());
}

#[test]
fn dimensions_read_the_resource_then_the_span_with_sanitised_names() {
    let mut config = SpanMetricsConfig::default();
    config.dimensions = vec![
        "http.route".into(),
        "k8s.namespace".into(),
        "service".into(),
    ];
    config.intrinsic_dimensions.status_message = true;
    let mut generator = GeneratorConfig::span_metrics();
    generator.span_metrics = config;
    let store = Store::builder()
        .metrics_generator(generator)
        .open()
        .unwrap();
    store
        .ingest(
            "t",
            batch(
                "api",
                vec![kv("k8s.namespace", Value::StringValue("prod".into()))],
                vec![span(
                    1,
                    "GET",
                    2,
                    5,
                    true,
                    vec![
                        kv("http.route", Value::StringValue("/a".into())),
                        kv("k8s.namespace", Value::StringValue("span-level".into())),
                    ],
                )],
            ),
        )
        .unwrap();
    let series = store.generated_series("t");
    let calls = series
        .iter()
        .find(|s| s.name == "traces_spanmetrics_calls_total")
        .unwrap();
    let labels: Vec<(&str, &str)> = calls
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        labels,
        vec![
            ("service", "api"),
            ("span_name", "GET"),
            ("span_kind", "SPAN_KIND_SERVER"),
            ("status_code", "STATUS_CODE_ERROR"),
            ("status_message", "boom"),
            ("http_route", "/a"),
            ("k8s_namespace", "prod"),
            // `__service` is empty: left out, as Prometheus does.
        ]
    );
}

#[test]
fn the_registry_is_bounded_and_forgets_stale_series() {
    let mut generator = GeneratorConfig::span_metrics();
    // A label set is 19 series: calls, size, and the latency histogram's 14 buckets, +Inf,
    // sum and count. Room for two.
    generator.max_active_series = 2 * 19;
    generator.stale_duration = Duration::from_millis(200);
    let store = Store::builder()
        .metrics_generator(generator)
        .open()
        .unwrap();
    let spans = (1..=5)
        .map(|i| span(i, &format!("op-{i}"), 1, 1, false, vec![]))
        .collect();
    store.ingest("t", batch("svc", vec![], spans)).unwrap();
    let calls = |store: &Store| {
        store
            .generated_series("t")
            .into_iter()
            .filter(|s| s.name == "traces_spanmetrics_calls_total")
            .count()
    };
    assert_eq!(calls(&store), 2);
    assert_eq!(store.stats().generator_dropped_spans, 3);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(calls(&store), 0, "stale series are dropped");
    // Room again for new ones.
    store
        .ingest(
            "t",
            batch("svc", vec![], vec![span(9, "late", 1, 1, false, vec![])]),
        )
        .unwrap();
    assert_eq!(calls(&store), 1);
}

#[test]
fn off_by_default() {
    let store = Store::in_memory();
    store
        .ingest(
            "t",
            batch("svc", vec![], vec![span(1, "a", 1, 1, false, vec![])]),
        )
        .unwrap();
    assert!(store.generated_series("t").is_empty());
    assert_eq!(store.generated_metrics_text("t"), "");
}

#[test]
fn target_info_carries_the_resource_and_job_and_instance_join_the_span_metrics() {
    let mut generator = GeneratorConfig::span_metrics();
    generator.span_metrics.enable_target_info = true;
    generator.span_metrics.target_info_excluded_dimensions = vec!["process.pid".into()];
    let store = Store::builder()
        .metrics_generator(generator)
        .open()
        .unwrap();
    let resource = vec![
        kv("service.namespace", Value::StringValue("shop".into())),
        kv("service.instance.id", Value::StringValue("pod-1".into())),
        kv("k8s.cluster.name", Value::StringValue("eu".into())),
        kv("process.pid", Value::IntValue(42)),
    ];
    store
        .ingest(
            "t",
            batch("api", resource, vec![span(1, "GET", 2, 5, false, vec![])]),
        )
        .unwrap();
    assert_eq!(
        value(
            &store,
            "traces_target_info",
            &[
                ("job", "shop/api"),
                ("instance", "pod-1"),
                ("k8s_cluster_name", "eu")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &store,
            "traces_spanmetrics_calls_total",
            &[
                ("service", "api"),
                ("span_name", "GET"),
                ("span_kind", "SPAN_KIND_SERVER"),
                ("status_code", "STATUS_CODE_UNSET"),
                ("job", "shop/api"),
                ("instance", "pod-1"),
            ]
        ),
        Some(1.0)
    );
    assert!(
        store
            .generated_metrics_text("t")
            .contains("# TYPE traces_target_info gauge")
    );
}

#[test]
fn filter_policies_and_the_span_multiplier() {
    use tempo_core::generator::{AttributeMatch, FilterPolicy, MatchType, PolicyMatch};
    let mut generator = GeneratorConfig::span_metrics();
    generator.span_metrics.span_multiplier_key = "sample.weight".into();
    generator.span_metrics.filter_policies = vec![FilterPolicy {
        include: Some(PolicyMatch {
            match_type: MatchType::Strict,
            attributes: vec![
                AttributeMatch::new("kind", "SPAN_KIND_SERVER", MatchType::Strict).unwrap(),
            ],
        }),
        exclude: Some(PolicyMatch {
            match_type: MatchType::Strict,
            attributes: vec![
                AttributeMatch::new("span.http.route", "/health", MatchType::Strict).unwrap(),
            ],
        }),
        ..Default::default()
    }];
    let store = Store::builder()
        .metrics_generator(generator)
        .open()
        .unwrap();
    let route = |r: &str| kv("http.route", Value::StringValue(r.into()));
    store
        .ingest(
            "t",
            batch(
                "api",
                vec![],
                vec![
                    span(
                        1,
                        "GET",
                        2,
                        5,
                        false,
                        vec![route("/cart"), kv("sample.weight", Value::IntValue(4))],
                    ),
                    span(2, "GET", 2, 5, false, vec![route("/health")]),
                    span(3, "GET", 3, 5, false, vec![route("/cart")]),
                ],
            ),
        )
        .unwrap();
    let labels = [
        ("service", "api"),
        ("span_name", "GET"),
        ("span_kind", "SPAN_KIND_SERVER"),
        ("status_code", "STATUS_CODE_UNSET"),
    ];
    assert_eq!(
        value(&store, "traces_spanmetrics_calls_total", &labels),
        Some(4.0)
    );
    assert!(
        store
            .generated_series("t")
            .iter()
            .all(|s| !s.labels.iter().any(|(_, v)| v == "SPAN_KIND_CLIENT")),
        "the client span is not included"
    );
    assert!(AttributeMatch::new("http.route", "x", MatchType::Strict).is_err());
    assert!(AttributeMatch::new("span.x", "(", MatchType::Regex).is_err());
}
