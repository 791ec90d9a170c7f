//! The in-process exporter stores exactly what the OTLP/gRPC path stores for the same spans:
//! the same `SpanData`, exported once through `StoreExporter` and once through the SDK's own
//! OTLP/gRPC exporter to this crate's gRPC receiver, read back by ID, are equal field for field.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a panic"
)]

use std::borrow::Cow;
use std::time::{Duration, UNIX_EPOCH};

use opentelemetry::trace::{
    Event, Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value as SdkValue};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};
use tempo_core::model::{
    self, AnyValue, ResourceSpans, SpanKind as ModelKind, StatusCode, TracesData, Value,
};
use tempo_core::{SINGLE_TENANT, Store, TimeRange};
use tempo_otlp::sdk::StoreExporter;
use tempo_otlp::{Receiver, ReceiverConfig, TraceServiceServer};

const TRACE: u128 = 0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c;

fn at(nanos: u64) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

fn strings(items: &[&'static str]) -> SdkValue {
    SdkValue::Array(Array::String(
        items.iter().map(|s| StringValue::from(*s)).collect(),
    ))
}

/// Attributes of every type the API has, arrays of each kind included.
fn every_type(prefix: &str) -> Vec<KeyValue> {
    vec![
        KeyValue::new(format!("{prefix}.string"), "text"),
        KeyValue::new(format!("{prefix}.bool"), true),
        KeyValue::new(format!("{prefix}.int"), -42_i64),
        KeyValue::new(format!("{prefix}.double"), 0.25_f64),
        KeyValue::new(format!("{prefix}.strings"), strings(&["a", "b"])),
        KeyValue::new(
            format!("{prefix}.bools"),
            SdkValue::Array(Array::Bool(vec![true, false])),
        ),
        KeyValue::new(
            format!("{prefix}.ints"),
            SdkValue::Array(Array::I64(vec![1, -2, 3])),
        ),
        KeyValue::new(
            format!("{prefix}.doubles"),
            SdkValue::Array(Array::F64(vec![1.5, -0.5])),
        ),
    ]
}

fn scope(name: &'static str, version: &'static str) -> InstrumentationScope {
    InstrumentationScope::builder(name)
        .with_version(version)
        .with_schema_url(format!("https://example.com/schemas/{name}"))
        .with_attributes(vec![KeyValue::new("scope.owner", name)])
        .build()
}

/// Three spans: a root with everything set, a child with a remote parent, and a span of a
/// second instrumentation scope.
fn spans() -> Vec<SpanData> {
    let trace_id = TraceId::from(TRACE);
    let state: TraceState = "vendor=opaque,other=1".parse().unwrap();
    let root_context = SpanContext::new(
        trace_id,
        SpanId::from(0x1111),
        TraceFlags::SAMPLED,
        false,
        state.clone(),
    );
    let mut events = SpanEvents::default();
    events.events = vec![
        Event::new("cache miss", at(1_500), every_type("event"), 2),
        Event::new("exception", at(1_600), vec![], 0),
    ];
    events.dropped_count = 3;
    let mut links = SpanLinks::default();
    links.links = vec![
        Link::new(
            SpanContext::new(
                TraceId::from(0x2233_u128),
                SpanId::from(0x4455),
                TraceFlags::SAMPLED,
                true,
                "linked=yes".parse().unwrap(),
            ),
            every_type("link"),
            4,
        ),
        Link::new(
            SpanContext::new(
                trace_id,
                SpanId::from(0x3333),
                TraceFlags::default(),
                false,
                TraceState::default(),
            ),
            vec![],
            0,
        ),
    ];
    links.dropped_count = 5;
    let root = SpanData {
        span_context: root_context,
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Server,
        name: Cow::Borrowed("GET /checkout"),
        start_time: at(1_000),
        end_time: at(9_000),
        attributes: every_type("span"),
        dropped_attributes_count: 6,
        events,
        links,
        status: Status::error("card declined"),
        instrumentation_scope: scope("shop.http", "1.2.3"),
    };
    let child = SpanData {
        span_context: SpanContext::new(
            trace_id,
            SpanId::from(0x2222),
            TraceFlags::SAMPLED,
            false,
            state,
        ),
        parent_span_id: SpanId::from(0x1111),
        parent_span_is_remote: true,
        span_kind: SpanKind::Client,
        name: Cow::Owned("SELECT orders".to_owned()),
        start_time: at(2_000),
        end_time: at(3_000),
        attributes: vec![KeyValue::new("db.system", "postgresql")],
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Ok,
        instrumentation_scope: scope("shop.http", "1.2.3"),
    };
    let other_scope = SpanData {
        span_context: SpanContext::new(
            trace_id,
            SpanId::from(0x3333),
            TraceFlags::default(),
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::from(0x1111),
        parent_span_is_remote: false,
        span_kind: SpanKind::Producer,
        name: Cow::Borrowed("publish order"),
        start_time: at(4_000),
        end_time: at(4_500),
        attributes: vec![],
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: scope("shop.queue", "0.1.0"),
    };
    let consumer = SpanData {
        span_context: SpanContext::new(
            trace_id,
            SpanId::from(0x4444),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::from(0x3333),
        parent_span_is_remote: false,
        span_kind: SpanKind::Consumer,
        name: Cow::Borrowed("consume order"),
        start_time: at(5_000),
        end_time: at(6_000),
        attributes: vec![],
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("bare").build(),
    };
    vec![root, child, other_scope, consumer]
}

fn resource() -> Resource {
    Resource::builder_empty()
        .with_schema_url(
            vec![
                KeyValue::new("service.name", "checkout"),
                KeyValue::new("deployment.environment", "test"),
                KeyValue::new("host.cores", 2_i64),
                KeyValue::new("k8s.labels", strings(&["tier=web", "team=shop"])),
            ],
            "https://opentelemetry.io/schemas/1.26.0",
        )
        .build()
}

/// (resource, schema URL, scope, scope schema URL, span) for every span, sorted by span ID,
/// with resource attributes sorted by key (the SDK keeps them in a hash map).
type Flat = Vec<(
    model::Resource,
    String,
    Option<model::InstrumentationScope>,
    String,
    model::Span,
)>;

fn flatten(data: &TracesData) -> Flat {
    let mut out = Vec::new();
    for rs in &data.resource_spans {
        let mut resource = rs.resource.clone().unwrap();
        resource.attributes.sort_by(|a, b| a.key.cmp(&b.key));
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                out.push((
                    resource.clone(),
                    rs.schema_url.clone(),
                    ss.scope.clone(),
                    ss.schema_url.clone(),
                    span.clone(),
                ));
            }
        }
    }
    out.sort_by(|a, b| a.4.span_id.cmp(&b.4.span_id));
    out
}

fn read_back(store: &Store) -> TracesData {
    store
        .find_trace(
            SINGLE_TENANT,
            model::TraceId(TraceId::from(TRACE).to_bytes()),
            TimeRange::ALL,
        )
        .unwrap()
        .expect("trace stored")
}

/// Exports through the SDK's OTLP/gRPC exporter to our receiver; returns what it stored.
fn via_grpc(spans: Vec<SpanData>) -> TracesData {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store = Store::in_memory();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service =
            TraceServiceServer::new(Receiver::new(store.clone(), ReceiverConfig::default()));
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(format!("http://{addr}"))
            .build()
            .unwrap();
        exporter.set_resource(&resource());
        exporter.export(spans).await.unwrap();
    });
    read_back(&store)
}

#[test]
fn exporter_stores_what_the_otlp_grpc_path_stores() {
    let ours = {
        let store = Store::in_memory();
        let mut exporter = StoreExporter::new(store.clone());
        exporter.set_resource(&resource());
        futures_util::FutureExt::now_or_never(exporter.export(spans()))
            .expect("an in-memory export completes at once")
            .unwrap();
        read_back(&store)
    };
    let theirs = via_grpc(spans());
    assert_eq!(flatten(&ours), flatten(&theirs));
    // Both group the spans the same way: one resource, one scope entry per scope.
    let scopes = |d: &TracesData| -> Vec<String> {
        d.resource_spans[0]
            .scope_spans
            .iter()
            .map(|s| s.scope.as_ref().unwrap().name.clone())
            .collect()
    };
    assert_eq!(ours.resource_spans.len(), 1);
    assert_eq!(scopes(&ours), scopes(&theirs));
}

fn attr<'a>(list: &'a [model::KeyValue], key: &str) -> &'a Value {
    list.iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
        .unwrap_or_else(|| panic!("attribute {key} missing"))
}

fn array(values: Vec<Value>) -> Value {
    Value::ArrayValue(model::ArrayValue {
        values: values
            .into_iter()
            .map(|v| AnyValue { value: Some(v) })
            .collect(),
    })
}

fn check_every_type(list: &[model::KeyValue], prefix: &str) {
    let key = |k: &str| format!("{prefix}.{k}");
    assert_eq!(list.len(), 8);
    assert_eq!(
        attr(list, &key("string")),
        &Value::StringValue("text".into())
    );
    assert_eq!(attr(list, &key("bool")), &Value::BoolValue(true));
    assert_eq!(attr(list, &key("int")), &Value::IntValue(-42));
    assert_eq!(attr(list, &key("double")), &Value::DoubleValue(0.25));
    assert_eq!(
        attr(list, &key("strings")),
        &array(vec![
            Value::StringValue("a".into()),
            Value::StringValue("b".into())
        ])
    );
    assert_eq!(
        attr(list, &key("bools")),
        &array(vec![Value::BoolValue(true), Value::BoolValue(false)])
    );
    assert_eq!(
        attr(list, &key("ints")),
        &array(vec![
            Value::IntValue(1),
            Value::IntValue(-2),
            Value::IntValue(3)
        ])
    );
    assert_eq!(
        attr(list, &key("doubles")),
        &array(vec![Value::DoubleValue(1.5), Value::DoubleValue(-0.5)])
    );
}

#[test]
fn every_field_is_mapped() {
    let store = Store::in_memory();
    let mut exporter = StoreExporter::new(store.clone());
    exporter.set_resource(&resource());
    let receipt = exporter.export_now(spans()).unwrap();
    assert_eq!(receipt.accepted_spans, 4);
    let flat = flatten(&read_back(&store));
    assert_eq!(flat.len(), 4);

    let (resource, schema_url, scope, scope_schema, root) = &flat[0];
    assert_eq!(schema_url, "https://opentelemetry.io/schemas/1.26.0");
    assert_eq!(
        attr(&resource.attributes, "service.name"),
        &Value::StringValue("checkout".into())
    );
    assert_eq!(
        attr(&resource.attributes, "host.cores"),
        &Value::IntValue(2)
    );
    assert_eq!(
        attr(&resource.attributes, "k8s.labels"),
        &array(vec![
            Value::StringValue("tier=web".into()),
            Value::StringValue("team=shop".into())
        ])
    );
    assert_eq!(resource.attributes.len(), 4);
    let scope = scope.as_ref().unwrap();
    assert_eq!(scope.name, "shop.http");
    assert_eq!(scope.version, "1.2.3");
    assert_eq!(
        attr(&scope.attributes, "scope.owner"),
        &Value::StringValue("shop.http".into())
    );
    assert_eq!(scope_schema, "https://example.com/schemas/shop.http");

    assert_eq!(root.trace_id, TraceId::from(TRACE).to_bytes());
    assert_eq!(root.span_id, SpanId::from(0x1111).to_bytes());
    assert!(root.parent_span_id.is_empty());
    assert_eq!(root.trace_state, "vendor=opaque,other=1");
    assert_eq!(root.name, "GET /checkout");
    assert_eq!(root.kind, ModelKind::Server as i32);
    assert_eq!(root.start_time_unix_nano, 1_000);
    assert_eq!(root.end_time_unix_nano, 9_000);
    check_every_type(&root.attributes, "span");
    assert_eq!(root.dropped_attributes_count, 6);
    assert_eq!(root.dropped_events_count, 3);
    assert_eq!(root.dropped_links_count, 5);
    // Sampled, parent not remote: W3C flags plus OTLP's "has is-remote" bit.
    assert_eq!(root.flags, 0x101);
    let status = root.status.as_ref().unwrap();
    assert_eq!(status.code, StatusCode::Error as i32);
    assert_eq!(status.message, "card declined");

    let event = &root.events[0];
    assert_eq!(event.name, "cache miss");
    assert_eq!(event.time_unix_nano, 1_500);
    check_every_type(&event.attributes, "event");
    assert_eq!(event.dropped_attributes_count, 2);
    assert_eq!(root.events[1].name, "exception");
    assert_eq!(root.events[1].time_unix_nano, 1_600);

    let link = &root.links[0];
    assert_eq!(link.trace_id, TraceId::from(0x2233).to_bytes());
    assert_eq!(link.span_id, SpanId::from(0x4455).to_bytes());
    assert_eq!(link.trace_state, "linked=yes");
    check_every_type(&link.attributes, "link");
    assert_eq!(link.dropped_attributes_count, 4);
    assert_eq!(link.flags, 0x301, "sampled, remote");
    assert_eq!(root.links[1].flags, 0x100, "not sampled, local");

    let (_, _, _, _, child) = &flat[1];
    assert_eq!(child.parent_span_id, SpanId::from(0x1111).to_bytes());
    assert_eq!(child.kind, ModelKind::Client as i32);
    assert_eq!(child.flags, 0x301, "sampled, remote parent");
    assert_eq!(child.status.as_ref().unwrap().code, StatusCode::Ok as i32);
    assert_eq!(child.trace_state, "vendor=opaque,other=1");

    let (_, _, scope, _, producer) = &flat[2];
    assert_eq!(scope.as_ref().unwrap().name, "shop.queue");
    assert_eq!(producer.kind, ModelKind::Producer as i32);
    assert_eq!(producer.flags, 0x100);
    assert_eq!(
        producer.status.as_ref().unwrap().code,
        StatusCode::Unset as i32
    );
    assert!(producer.trace_state.is_empty());

    let (_, _, scope, scope_schema, consumer) = &flat[3];
    let scope = scope.as_ref().unwrap();
    assert_eq!((scope.name.as_str(), scope.version.as_str()), ("bare", ""));
    assert!(scope.attributes.is_empty());
    assert!(scope_schema.is_empty());
    assert_eq!(consumer.kind, ModelKind::Consumer as i32);
}

#[test]
fn resource_spans_groups_by_scope_in_order_of_appearance() {
    let converted: ResourceSpans = tempo_otlp::sdk::resource_spans(spans(), &resource());
    let names: Vec<(&str, usize)> = converted
        .scope_spans
        .iter()
        .map(|s| (s.scope.as_ref().unwrap().name.as_str(), s.spans.len()))
        .collect();
    assert_eq!(names, [("shop.http", 2), ("shop.queue", 1), ("bare", 1)]);
}
