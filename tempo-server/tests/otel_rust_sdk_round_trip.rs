//! The OpenTelemetry Rust SDK's OTLP exporter, over gRPC and over HTTP, to a running server;
//! every trace read back by ID equals what the SDK exported.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a panic"
)]

mod common;

use std::collections::BTreeMap;

use common::{Server, b64, spans_of};
use opentelemetry::trace::{
    Link, Span as _, SpanContext, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceState,
    Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::Value;

enum Transport {
    Grpc,
    Http,
}

/// Emits a small trace tree through the SDK; returns what the SDK exported.
async fn emit(server: &Server, transport: Transport, service: &str) -> Vec<SpanData> {
    let exporter = match transport {
        Transport::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(server.otlp_grpc())
            .build()
            .unwrap(),
        Transport::Http => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(server.otlp_http())
            .build()
            .unwrap(),
    };
    let memory = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_owned())
                .with_attribute(KeyValue::new("deployment.environment", "test"))
                .build(),
        )
        .with_simple_exporter(exporter)
        .with_simple_exporter(memory.clone())
        .build();
    let tracer = provider.tracer_with_scope(
        opentelemetry::InstrumentationScope::builder("round-trip")
            .with_version("1.2.3")
            .build(),
    );
    let linked = SpanContext::new(
        opentelemetry::trace::TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
        opentelemetry::trace::SpanId::from_hex("b7ad6b7169203331").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let mut root = tracer
        .span_builder("GET /checkout")
        .with_kind(SpanKind::Server)
        .with_attributes(vec![
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.response.status_code", 200i64),
            KeyValue::new("sampled.ratio", 0.25f64),
            KeyValue::new("retry", true),
            KeyValue::new(
                "tags",
                opentelemetry::Value::Array(
                    vec!["a", "b"]
                        .into_iter()
                        .map(opentelemetry::StringValue::from)
                        .collect::<Vec<_>>()
                        .into(),
                ),
            ),
        ])
        .start(&tracer);
    root.add_event("cache miss", vec![KeyValue::new("key", "cart:42")]);
    let cx = Context::current_with_span(root);
    {
        let mut child = tracer
            .span_builder("SELECT cart")
            .with_kind(SpanKind::Client)
            .with_attributes(vec![KeyValue::new("db.system", "postgresql")])
            .with_links(vec![Link::with_context(linked.clone())])
            .start_with_context(&tracer, &cx);
        child.set_status(Status::error("connection reset"));
        child.end();
    }
    cx.span().end();
    provider.force_flush().unwrap();
    // Read before shutdown: shutting the in-memory exporter down clears it.
    let spans = memory.get_finished_spans().unwrap();
    provider.shutdown().unwrap();
    spans
}

fn json_value(v: &Value) -> String {
    let (k, inner) = v.as_object().unwrap().iter().next().unwrap();
    match k.as_str() {
        "stringValue" => inner.as_str().unwrap().to_owned(),
        "intValue" => inner.as_str().unwrap().to_owned(),
        "doubleValue" => inner.as_f64().unwrap().to_string(),
        "boolValue" => inner.as_bool().unwrap().to_string(),
        "arrayValue" => {
            let items: Vec<String> = inner["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(json_value)
                .collect();
            format!("[{}]", items.join(","))
        }
        other => panic!("unexpected value kind {other}"),
    }
}

fn sdk_value(v: &opentelemetry::Value) -> String {
    match v {
        opentelemetry::Value::String(s) => s.to_string(),
        opentelemetry::Value::I64(i) => i.to_string(),
        opentelemetry::Value::F64(f) => f.to_string(),
        opentelemetry::Value::Bool(b) => b.to_string(),
        opentelemetry::Value::Array(opentelemetry::Array::String(items)) => {
            format!(
                "[{}]",
                items
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
        other => panic!("unexpected SDK value {other:?}"),
    }
}

fn attrs_json(list: &Value) -> BTreeMap<String, String> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|kv| {
            (
                kv["key"].as_str().unwrap().to_owned(),
                json_value(&kv["value"]),
            )
        })
        .collect()
}

fn check_round_trip(server: &Server, exported: &[SpanData], service: &str) {
    assert_eq!(exported.len(), 2);
    let trace_id = exported[0].span_context.trace_id().to_string();
    let trace = server.trace_v1(&trace_id).expect("trace not found by ID");
    let batch = &trace["batches"][0];
    let resource = attrs_json(&batch["resource"]["attributes"]);
    assert_eq!(resource["service.name"], service);
    assert_eq!(resource["deployment.environment"], "test");
    let scope = &batch["scopeSpans"][0]["scope"];
    assert_eq!(scope["name"], "round-trip");
    assert_eq!(scope["version"], "1.2.3");
    let stored = spans_of(&trace);
    assert_eq!(stored.len(), exported.len());
    for sdk in exported {
        let span_id = sdk.span_context.span_id().to_string();
        let json = stored
            .iter()
            .find(|s| s["spanId"] == b64(&span_id))
            .unwrap_or_else(|| panic!("span {span_id} missing"));
        assert_eq!(json["traceId"], b64(&trace_id));
        assert_eq!(json["name"], sdk.name.as_ref());
        let kind = match sdk.span_kind {
            SpanKind::Server => "SPAN_KIND_SERVER",
            SpanKind::Client => "SPAN_KIND_CLIENT",
            _ => "SPAN_KIND_INTERNAL",
        };
        assert_eq!(json["kind"], kind);
        if sdk.parent_span_id != opentelemetry::trace::SpanId::INVALID {
            assert_eq!(json["parentSpanId"], b64(&sdk.parent_span_id.to_string()));
        } else {
            assert!(json.get("parentSpanId").is_none());
        }
        let start = sdk
            .start_time
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let end = sdk
            .end_time
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        assert_eq!(json["startTimeUnixNano"], start.to_string());
        assert_eq!(json["endTimeUnixNano"], end.to_string());
        let expected: BTreeMap<String, String> = sdk
            .attributes
            .iter()
            .map(|kv| (kv.key.to_string(), sdk_value(&kv.value)))
            .collect();
        assert_eq!(
            attrs_json(&json["attributes"]),
            expected,
            "attributes of {}",
            sdk.name
        );
        match &sdk.status {
            Status::Error { description } => {
                assert_eq!(json["status"]["code"], "STATUS_CODE_ERROR");
                assert_eq!(json["status"]["message"], description.as_ref());
            }
            _ => assert_eq!(json["status"], serde_json::json!({})),
        }
        let events = json["events"].as_array().cloned().unwrap_or_default();
        assert_eq!(events.len(), sdk.events.len());
        for (je, se) in events.iter().zip(sdk.events.iter()) {
            assert_eq!(je["name"], se.name.as_ref());
            let expected: BTreeMap<String, String> = se
                .attributes
                .iter()
                .map(|kv| (kv.key.to_string(), sdk_value(&kv.value)))
                .collect();
            assert_eq!(attrs_json(&je["attributes"]), expected);
        }
        let links = json["links"].as_array().cloned().unwrap_or_default();
        assert_eq!(links.len(), sdk.links.len());
        for (jl, sl) in links.iter().zip(sdk.links.iter()) {
            assert_eq!(jl["traceId"], b64(&sl.span_context.trace_id().to_string()));
            assert_eq!(jl["spanId"], b64(&sl.span_context.span_id().to_string()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_exports_over_grpc_and_http_read_back_equal() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), "");
    let grpc = emit(&server, Transport::Grpc, "sdk-grpc").await;
    let http = emit(&server, Transport::Http, "sdk-http").await;
    tokio::task::spawn_blocking(move || {
        check_round_trip(&server, &grpc, "sdk-grpc");
        check_round_trip(&server, &http, "sdk-http");
    })
    .await
    .unwrap();
}
