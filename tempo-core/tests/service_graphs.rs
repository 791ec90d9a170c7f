//! Service graphs as Tempo's metrics generator makes them: client and server spans paired
//! into edges between services, messaging systems, databases and other peers that send no
//! spans as virtual nodes, halves that never pair counted, and the store's bounds.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::time::Duration;

use tempo_core::generator::{
    AttributeMatch, FilterPolicy, GeneratedSeries, GeneratorConfig, MatchType, PolicyMatch,
    Processors,
};
use tempo_core::model::{
    AnyValue, KeyValue, Resource, ResourceSpans, ScopeSpans, Span, Status, Value,
};
use tempo_core::{Batch, Store, TenantLimits};

const MS: u64 = 1_000_000;
const SERVER: i32 = 2;
const CLIENT: i32 = 3;
const PRODUCER: i32 = 4;
const CONSUMER: i32 = 5;

fn kv(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(v.into())),
        }),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// A span of trace `trace`, ID `id`, child of `parent` (0: a root), lasting `ms`, ended a
/// second ago.
fn span(trace: u8, id: u8, parent: u8, kind: i32, ms: u64, error: bool) -> Span {
    let end = now() - 1_000 * MS;
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; 8],
        parent_span_id: if parent == 0 { vec![] } else { vec![parent; 8] },
        name: format!("op-{id}"),
        kind,
        start_time_unix_nano: end - ms * MS,
        end_time_unix_nano: end,
        status: error.then(|| Status {
            code: 2,
            message: String::new(),
        }),
        ..Default::default()
    }
}

fn with(mut span: Span, attrs: &[(&str, &str)]) -> Span {
    span.attributes.extend(attrs.iter().map(|(k, v)| kv(k, v)));
    span
}

fn batch(service: &str, spans: Vec<Span>) -> Batch {
    Batch::new(vec![ResourceSpans {
        resource: Some(Resource {
            attributes: vec![kv("service.name", service)],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }])
}

fn store_with(config: GeneratorConfig) -> Store {
    Store::builder().metrics_generator(config).open().unwrap()
}

/// Service graphs on, with a short wait.
fn graphs(wait_ms: u64) -> GeneratorConfig {
    let mut config = GeneratorConfig::service_graphs();
    config.service_graphs.wait = Duration::from_millis(wait_ms);
    config
}

fn labels_of(s: &GeneratedSeries) -> Vec<(&str, &str)> {
    s.labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// The value of the series `name` whose labels are exactly `labels`.
fn value(series: &[GeneratedSeries], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    series
        .iter()
        .find(|s| s.name == name && labels_of(s) == labels)
        .map(|s| s.value)
}

/// The edges (client, server, connection type) with their request counts.
fn edges(series: &[GeneratedSeries]) -> Vec<(String, String, String, f64)> {
    let mut out: Vec<_> = series
        .iter()
        .filter(|s| s.name == "traces_service_graph_request_total")
        .map(|s| {
            let get = |k: &str| {
                s.labels
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            (
                get("client"),
                get("server"),
                get("connection_type"),
                s.value,
            )
        })
        .collect();
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

fn edge(client: &str, server: &str, connection: &str, n: f64) -> (String, String, String, f64) {
    (client.into(), server.into(), connection.into(), n)
}

#[test]
fn a_client_and_its_server_make_one_edge_with_both_latencies() {
    let store = store_with(graphs(10_000));
    // Client first in one request, server first in the next: both pair.
    store
        .ingest(
            "t",
            batch("frontend", vec![span(1, 1, 0, CLIENT, 300, false)]),
        )
        .unwrap();
    store
        .ingest(
            "t",
            batch("checkout", vec![span(1, 2, 1, SERVER, 250, true)]),
        )
        .unwrap();
    store
        .ingest(
            "t",
            batch("checkout", vec![span(2, 2, 1, SERVER, 50, false)]),
        )
        .unwrap();
    store
        .ingest(
            "t",
            batch("frontend", vec![span(2, 1, 0, CLIENT, 60, false)]),
        )
        .unwrap();
    let series = store.generated_series("t");
    let labels = [("client", "frontend"), ("server", "checkout")];
    assert_eq!(
        value(&series, "traces_service_graph_request_total", &labels),
        Some(2.0)
    );
    assert_eq!(
        value(
            &series,
            "traces_service_graph_request_failed_total",
            &labels
        ),
        Some(1.0),
        "a request fails when either side's status is an error"
    );
    let bucket = |name: &str, le: &str| {
        let mut l = labels.to_vec();
        l.push(("le", le));
        value(&series, name, &l).unwrap()
    };
    // Server latencies 0.25 s and 0.05 s; client 0.3 s and 0.06 s; buckets 0.1, 0.2, 0.4, ...
    assert_eq!(
        bucket("traces_service_graph_request_server_seconds_bucket", "0.1"),
        1.0
    );
    assert_eq!(
        bucket("traces_service_graph_request_server_seconds_bucket", "0.2"),
        1.0
    );
    assert_eq!(
        bucket("traces_service_graph_request_server_seconds_bucket", "0.4"),
        2.0
    );
    assert_eq!(
        bucket("traces_service_graph_request_server_seconds_bucket", "+Inf"),
        2.0
    );
    assert_eq!(
        bucket("traces_service_graph_request_client_seconds_bucket", "0.1"),
        1.0
    );
    assert_eq!(
        bucket("traces_service_graph_request_client_seconds_bucket", "0.4"),
        2.0
    );
    let sum = value(
        &series,
        "traces_service_graph_request_server_seconds_sum",
        &labels,
    )
    .unwrap();
    assert!((sum - 0.3).abs() < 1e-9, "{sum}");
    assert_eq!(
        value(
            &series,
            "traces_service_graph_request_client_seconds_count",
            &labels
        ),
        Some(2.0)
    );
    let exemplar = series
        .iter()
        .find(|s| {
            s.name == "traces_service_graph_request_server_seconds_bucket" && s.exemplar.is_some()
        })
        .and_then(|s| s.exemplar.clone())
        .unwrap();
    assert!(exemplar.trace_id == "01".repeat(16) || exemplar.trace_id == "02".repeat(16));
    assert_eq!(
        store.stats().generator_pending_edges,
        0,
        "paired halves leave the store"
    );
}

#[test]
fn a_client_without_its_server_is_unpaired_after_the_wait() {
    let store = store_with(graphs(100));
    store
        .ingest(
            "t",
            batch("frontend", vec![span(1, 1, 0, CLIENT, 10, false)]),
        )
        .unwrap();
    assert!(edges(&store.generated_series("t")).is_empty());
    assert_eq!(store.stats().generator_pending_edges, 1);
    std::thread::sleep(Duration::from_millis(200));
    let series = store.generated_series("t");
    assert!(edges(&series).is_empty());
    assert_eq!(
        value(
            &series,
            "traces_service_graph_unpaired_spans_total",
            &[("client", "frontend")]
        ),
        Some(1.0)
    );
    assert_eq!(store.stats().generator_pending_edges, 0);
}

#[test]
fn a_server_without_its_client_is_unpaired_and_a_root_server_is_called_by_user() {
    let store = store_with(graphs(100));
    store
        .ingest(
            "t",
            batch(
                "checkout",
                vec![
                    // Its parent is a span that never arrives.
                    span(1, 2, 9, SERVER, 10, false),
                    // A root: nobody instrumented called it.
                    span(2, 1, 0, SERVER, 10, false),
                    // A root naming its caller.
                    with(
                        span(3, 1, 0, SERVER, 10, false),
                        &[("peer.service", "cron")],
                    ),
                ],
            ),
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let series = store.generated_series("t");
    assert_eq!(
        edges(&series),
        vec![
            edge("cron", "checkout", "virtual_node", 1.0),
            edge("user", "checkout", "virtual_node", 1.0),
        ]
    );
    assert_eq!(
        value(
            &series,
            "traces_service_graph_unpaired_spans_total",
            &[("server", "checkout")]
        ),
        Some(1.0)
    );
}

#[test]
fn producers_and_consumers_pair_through_a_messaging_system() {
    let mut config = graphs(10_000);
    config
        .service_graphs
        .enable_messaging_system_latency_histogram = true;
    let store = store_with(config);
    let producer = span(1, 1, 0, PRODUCER, 5, false);
    let mut consumer = span(1, 2, 1, CONSUMER, 20, false);
    // The consumer starts 300 ms after the producer ended.
    consumer.start_time_unix_nano = producer.end_time_unix_nano + 300 * MS;
    consumer.end_time_unix_nano = consumer.start_time_unix_nano + 20 * MS;
    store.ingest("t", batch("orders", vec![producer])).unwrap();
    store.ingest("t", batch("billing", vec![consumer])).unwrap();
    let series = store.generated_series("t");
    assert_eq!(
        edges(&series),
        vec![edge("orders", "billing", "messaging_system", 1.0)]
    );
    let labels = [
        ("client", "orders"),
        ("server", "billing"),
        ("connection_type", "messaging_system"),
        ("le", "0.2"),
    ];
    assert_eq!(
        value(
            &series,
            "traces_service_graph_request_messaging_system_seconds_bucket",
            &labels
        ),
        Some(0.0)
    );
    let labels = [
        ("client", "orders"),
        ("server", "billing"),
        ("connection_type", "messaging_system"),
        ("le", "0.4"),
    ];
    assert_eq!(
        value(
            &series,
            "traces_service_graph_request_messaging_system_seconds_bucket",
            &labels
        ),
        Some(1.0)
    );
}

#[test]
fn a_database_call_is_an_edge_to_a_virtual_database_node_at_once() {
    let store = store_with(graphs(10_000));
    store
        .ingest(
            "t",
            batch(
                "checkout",
                vec![
                    with(
                        span(1, 1, 0, CLIENT, 12, false),
                        &[("db.system", "postgresql"), ("db.name", "orders")],
                    ),
                    with(
                        span(1, 2, 0, CLIENT, 3, true),
                        &[("db.system", "redis"), ("server.address", "cache-1")],
                    ),
                    with(
                        span(1, 3, 0, CLIENT, 3, false),
                        &[
                            ("db.system", "mysql"),
                            ("network.peer.address", "10.0.0.7"),
                            ("network.peer.port", "3306"),
                        ],
                    ),
                ],
            ),
        )
        .unwrap();
    let series = store.generated_series("t");
    assert_eq!(
        edges(&series),
        vec![
            edge("checkout", "10.0.0.7:3306", "database", 1.0),
            edge("checkout", "cache-1", "database", 1.0),
            edge("checkout", "orders", "database", 1.0),
        ]
    );
    assert_eq!(
        value(
            &series,
            "traces_service_graph_request_failed_total",
            &[
                ("client", "checkout"),
                ("server", "cache-1"),
                ("connection_type", "database")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        store.stats().generator_pending_edges,
        0,
        "database calls do not wait"
    );
}

#[test]
fn a_client_naming_a_peer_that_sends_no_spans_makes_a_virtual_node_after_the_wait() {
    let mut config = graphs(100);
    config.service_graphs.enable_virtual_node_label = true;
    let store = store_with(config);
    store
        .ingest(
            "t",
            batch(
                "checkout",
                vec![with(
                    span(1, 1, 0, CLIENT, 40, false),
                    &[("peer.service", "stripe")],
                )],
            ),
        )
        .unwrap();
    assert!(
        edges(&store.generated_series("t")).is_empty(),
        "it waits for a server first"
    );
    std::thread::sleep(Duration::from_millis(200));
    let series = store.generated_series("t");
    assert_eq!(
        value(
            &series,
            "traces_service_graph_request_total",
            &[
                ("client", "checkout"),
                ("server", "stripe"),
                ("connection_type", "virtual_node"),
                ("virtual_node", "server"),
            ]
        ),
        Some(1.0)
    );
}

#[test]
fn dimensions_come_from_both_sides_with_or_without_prefixes() {
    for prefix in [false, true] {
        let mut config = graphs(10_000);
        config.service_graphs.dimensions = vec!["deployment.environment".into()];
        config.service_graphs.enable_client_server_prefix = prefix;
        let store = store_with(config);
        store
            .ingest(
                "t",
                batch(
                    "a",
                    vec![with(
                        span(1, 1, 0, CLIENT, 1, false),
                        &[("deployment.environment", "blue")],
                    )],
                ),
            )
            .unwrap();
        store
            .ingest(
                "t",
                batch(
                    "b",
                    vec![with(
                        span(1, 2, 1, SERVER, 1, false),
                        &[("deployment.environment", "green")],
                    )],
                ),
            )
            .unwrap();
        let series = store.generated_series("t");
        let calls = series
            .iter()
            .find(|s| s.name == "traces_service_graph_request_total")
            .unwrap();
        if prefix {
            assert_eq!(
                labels_of(calls),
                vec![
                    ("client", "a"),
                    ("server", "b"),
                    ("client_deployment_environment", "blue"),
                    ("server_deployment_environment", "green"),
                ]
            );
        } else {
            assert_eq!(
                labels_of(calls),
                vec![
                    ("client", "a"),
                    ("server", "b"),
                    ("deployment_environment", "green")
                ]
            );
        }
    }
}

#[test]
fn tenants_have_separate_graphs() {
    let store = store_with(graphs(100));
    store
        .ingest(
            "a",
            batch("frontend", vec![span(1, 1, 0, CLIENT, 1, false)]),
        )
        .unwrap();
    // The same trace and parent in another tenant: no pair across tenants.
    store
        .ingest(
            "b",
            batch("checkout", vec![span(1, 2, 1, SERVER, 1, false)]),
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let a = store.generated_series("a");
    let b = store.generated_series("b");
    assert!(edges(&a).is_empty() && edges(&b).is_empty());
    assert_eq!(
        value(
            &a,
            "traces_service_graph_unpaired_spans_total",
            &[("client", "frontend")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &b,
            "traces_service_graph_unpaired_spans_total",
            &[("server", "checkout")]
        ),
        Some(1.0)
    );
    assert_eq!(
        store.generator_tenants(),
        vec!["a".to_owned(), "b".to_owned()]
    );
}

#[test]
fn the_edge_store_is_bounded_by_max_items() {
    let mut config = graphs(10_000);
    config.service_graphs.max_items = 3;
    let store = store_with(config);
    let spans = (1..=5).map(|i| span(i, 1, 0, CLIENT, 1, false)).collect();
    store.ingest("t", batch("frontend", spans)).unwrap();
    assert_eq!(store.stats().generator_pending_edges, 3);
    let series = store.generated_series("t");
    assert_eq!(
        value(
            &series,
            "traces_service_graph_dropped_spans_total",
            &[("client", "frontend")]
        ),
        Some(2.0)
    );
    // A server whose client is held still pairs.
    store
        .ingest(
            "t",
            batch("checkout", vec![span(1, 2, 1, SERVER, 1, false)]),
        )
        .unwrap();
    assert_eq!(
        edges(&store.generated_series("t")),
        vec![edge("frontend", "checkout", "", 1.0)]
    );
}

#[test]
fn the_series_registry_caps_edges() {
    let mut config = graphs(10_000);
    // One edge is 2 counters and two 8-bucket histograms of 11 series each: 24.
    config.max_active_series = 24;
    let store = store_with(config);
    for (i, server) in ["b", "c", "d"].into_iter().enumerate() {
        let t = i as u8 + 1;
        store
            .ingest("t", batch("a", vec![span(t, 1, 0, CLIENT, 1, false)]))
            .unwrap();
        store
            .ingest("t", batch(server, vec![span(t, 2, 1, SERVER, 1, false)]))
            .unwrap();
    }
    let series = store.generated_series("t");
    assert_eq!(edges(&series), vec![edge("a", "b", "", 1.0)]);
    assert_eq!(series.len(), 24);
    assert_eq!(store.stats().generator_dropped_spans, 2);
}

#[test]
fn processors_are_chosen_per_tenant() {
    let store = Store::builder()
        .metrics_generator(GeneratorConfig::default())
        .tenant_limits(
            [(
                "graphs".to_owned(),
                TenantLimits::default().generator_processors(Processors {
                    span_metrics: false,
                    service_graphs: true,
                }),
            )]
            .into(),
        )
        .open()
        .unwrap();
    for tenant in ["graphs", "other"] {
        store
            .ingest(
                tenant,
                batch(
                    "db",
                    vec![with(
                        span(1, 1, 0, CLIENT, 1, false),
                        &[("db.system", "sqlite")],
                    )],
                ),
            )
            .unwrap();
    }
    let graphs = store.generated_series("graphs");
    assert_eq!(edges(&graphs), vec![edge("db", "sqlite", "database", 1.0)]);
    assert!(
        graphs
            .iter()
            .all(|s| !s.name.starts_with("traces_spanmetrics"))
    );
    assert!(
        store.generated_series("other").is_empty(),
        "off unless the tenant's processors say"
    );
}

#[test]
fn filter_policies_choose_the_spans_considered() {
    let mut config = graphs(10_000);
    config.service_graphs.filter_policies = vec![FilterPolicy {
        exclude: Some(PolicyMatch {
            match_type: MatchType::Regex,
            attributes: vec![
                AttributeMatch::new("resource.service.name", "^test-", MatchType::Regex).unwrap(),
            ],
        }),
        ..Default::default()
    }];
    let store = store_with(config);
    for service in ["test-runner", "checkout"] {
        store
            .ingest(
                "t",
                batch(
                    service,
                    vec![with(
                        span(1, 1, 0, CLIENT, 1, false),
                        &[("db.system", "pg")],
                    )],
                ),
            )
            .unwrap();
    }
    assert_eq!(
        edges(&store.generated_series("t")),
        vec![edge("checkout", "pg", "database", 1.0)]
    );
}

#[test]
fn spans_far_from_now_are_not_counted() {
    let store = store_with(graphs(10_000));
    let mut old = with(span(1, 1, 0, CLIENT, 1, false), &[("db.system", "pg")]);
    old.end_time_unix_nano -= 3_600_000 * MS;
    old.start_time_unix_nano -= 3_600_000 * MS;
    store.ingest("t", batch("checkout", vec![old])).unwrap();
    assert!(edges(&store.generated_series("t")).is_empty());
}

#[test]
fn a_span_multiplier_weighs_sampled_spans() {
    let mut config = graphs(10_000);
    config.service_graphs.span_multiplier_key = "sampling.multiplier".into();
    let store = store_with(config);
    let mut s = with(span(1, 1, 0, CLIENT, 1, false), &[("db.system", "pg")]);
    s.attributes.push(KeyValue {
        key: "sampling.multiplier".into(),
        value: Some(AnyValue {
            value: Some(Value::DoubleValue(10.0)),
        }),
    });
    store.ingest("t", batch("checkout", vec![s])).unwrap();
    assert_eq!(
        edges(&store.generated_series("t")),
        vec![edge("checkout", "pg", "database", 10.0)]
    );
}
