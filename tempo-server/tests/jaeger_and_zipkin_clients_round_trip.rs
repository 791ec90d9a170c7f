//! Real Jaeger and Zipkin clients for Node (`jaeger-client` 3.19 over Thrift/HTTP and over
//! UDP with Thrift's binary protocol; `zipkin` 0.22 with its HTTP transport, JSON v2) send to
//! the server binary; every trace is read back by ID through Tempo's API, and every tag, log
//! and reference the clients sent is found where the OpenTelemetry Collector's translators
//! put it.
//!
//! Needs Node and the packages of `tests/node` (`npm ci --prefix tempo-server/tests/node`,
//! which `scripts/test` runs when they are missing). Without them the test says so and passes,
//! unless `TEMPO_REQUIRE_NODE=1`, as in CI.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::path::PathBuf;
use std::process::Command;

use base64::Engine as _;
use common::{Server, Setup, spans_of};
use serde_json::{Value, json};

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node")
}

fn node() -> Option<PathBuf> {
    let node = std::env::var_os("TEMPO_NODE").map_or_else(|| PathBuf::from("node"), PathBuf::from);
    let works = Command::new(&node)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    (works && node_dir().join("node_modules/jaeger-client").exists()).then_some(node)
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The value object of attribute `key` in a list of OTLP/JSON attributes.
fn attr<'a>(attrs: &'a Value, key: &str) -> Option<&'a Value> {
    attrs
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)
        .map(|kv| &kv["value"])
}

fn b64(id: &Value) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(id.as_str().unwrap_or(""))
        .unwrap();
    hex::encode(bytes)
}

fn padded(hex_id: &str, len: usize) -> String {
    format!("{hex_id:0>len$}")
}

fn find<'a>(spans: &'a [Value], span_id: &str) -> &'a Value {
    spans
        .iter()
        .find(|s| b64(&s["spanId"]) == padded(span_id, 16))
        .unwrap_or_else(|| panic!("no span {span_id} in {spans:#?}"))
}

fn check_jaeger(server: &Server, sent: &Value, trace_id_len: usize) {
    let id = sent["trace_id"].as_str().unwrap();
    assert_eq!(id.len(), trace_id_len, "{sent}");
    let trace = server
        .trace_v1(id)
        .unwrap_or_else(|| panic!("trace {id} not found:\n{}", server.log_text()));
    let resource = &trace["batches"][0]["resource"]["attributes"];
    assert_eq!(
        attr(resource, "service.name"),
        Some(&json!({"stringValue": sent["service"]}))
    );
    // Process tags: the tracer's own and the client's (hostname, ip, jaeger.version).
    assert_eq!(
        attr(resource, "deploy.zone"),
        Some(&json!({"stringValue": "zone-1"}))
    );
    // jaeger-client for Node sends every JavaScript number as a DOUBLE tag.
    assert_eq!(
        attr(resource, "build.number"),
        Some(&json!({"doubleValue": 42}))
    );
    assert!(attr(resource, "host.name").is_some(), "{resource}");
    assert!(attr(resource, "hostname").is_none(), "{resource}");
    assert!(attr(resource, "ip").is_some(), "{resource}");
    let version = attr(resource, "opencensus.exporterversion").unwrap()["stringValue"]
        .as_str()
        .unwrap();
    assert!(version.starts_with("Jaeger-Node-3.19"), "{version}");

    let spans = spans_of(&trace);
    assert_eq!(spans.len(), 3, "{spans:#?}");
    for span in &spans {
        assert_eq!(
            b64(&span["traceId"]),
            padded(id, 32),
            "64-bit IDs get a zero high half"
        );
    }
    let root = find(&spans, sent["root"].as_str().unwrap());
    assert_eq!(root["name"], "GET /checkout");
    assert_eq!(root["kind"], "SPAN_KIND_SERVER");
    assert!(root.get("parentSpanId").is_none_or(|p| p == ""), "{root}");
    let attrs = &root["attributes"];
    assert_eq!(
        attr(attrs, "http.status_code"),
        Some(&json!({"doubleValue": 200}))
    );
    assert_eq!(
        attr(attrs, "checkout.ratio"),
        Some(&json!({"doubleValue": 0.5}))
    );
    assert_eq!(
        attr(attrs, "checkout.cached"),
        Some(&json!({"boolValue": false}))
    );
    assert_eq!(
        attr(attrs, "customer"),
        Some(&json!({"stringValue": "c-42"}))
    );
    assert_eq!(
        attr(attrs, "sampler.type"),
        Some(&json!({"stringValue": "const"}))
    );
    assert!(attr(attrs, "span.kind").is_none(), "{attrs}");
    assert!(
        root.get("status").is_none_or(|s| s.get("code").is_none()),
        "{root}"
    );
    let event = &root["events"][0];
    assert_eq!(event["name"], "cart loaded");
    assert_eq!(
        attr(&event["attributes"], "items"),
        Some(&json!({"doubleValue": 3}))
    );
    assert!(attr(&event["attributes"], "event").is_none());
    let start: u64 = root["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
    let event_time: u64 = event["timeUnixNano"].as_str().unwrap().parse().unwrap();
    assert!(
        event_time >= start && start.is_multiple_of(1000),
        "microseconds became nanoseconds"
    );

    let child = find(&spans, sent["child"].as_str().unwrap());
    assert_eq!(child["name"], "SELECT cart");
    assert_eq!(child["kind"], "SPAN_KIND_CLIENT");
    assert_eq!(
        b64(&child["parentSpanId"]),
        padded(sent["root"].as_str().unwrap(), 16)
    );
    assert_eq!(child["status"]["code"], "STATUS_CODE_ERROR");
    assert!(attr(&child["attributes"], "error").is_none());
    assert_eq!(
        attr(&child["attributes"], "db.system"),
        Some(&json!({"stringValue": "postgresql"}))
    );
    assert_eq!(child["events"][0]["name"], "error");
    assert_eq!(
        attr(&child["events"][0]["attributes"], "message"),
        Some(&json!({"stringValue": "timeout after 5ms"}))
    );
    assert!(
        child
            .get("links")
            .is_none_or(|l| l.as_array().unwrap().is_empty())
    );

    // FOLLOWS_FROM: jaeger-client makes it the parent too; the reference stays a link.
    let follower = find(&spans, sent["follower"].as_str().unwrap());
    assert_eq!(follower["kind"], "SPAN_KIND_PRODUCER");
    assert_eq!(
        b64(&follower["parentSpanId"]),
        padded(sent["root"].as_str().unwrap(), 16)
    );
    let link = &follower["links"][0];
    assert_eq!(
        b64(&link["spanId"]),
        padded(sent["root"].as_str().unwrap(), 16)
    );
    assert_eq!(b64(&link["traceId"]), padded(id, 32));
    assert_eq!(
        attr(&link["attributes"], "opentracing.ref_type"),
        Some(&json!({"stringValue": "follows_from"}))
    );
}

fn check_zipkin(server: &Server, sent: &Value) {
    let id = sent["trace_id"].as_str().unwrap();
    let trace = server
        .trace_v1(id)
        .unwrap_or_else(|| panic!("trace {id} not found:\n{}", server.log_text()));
    let resource = &trace["batches"][0]["resource"]["attributes"];
    assert_eq!(
        attr(resource, "service.name"),
        Some(&json!({"stringValue": "zipkin-frontend"}))
    );
    let spans = spans_of(&trace);
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let root = find(&spans, sent["root"].as_str().unwrap());
    assert_eq!(root["name"].as_str().unwrap().to_lowercase(), "get /orders");
    assert_eq!(root["kind"], "SPAN_KIND_SERVER");
    let attrs = &root["attributes"];
    assert_eq!(
        attr(attrs, "http.path"),
        Some(&json!({"stringValue": "/orders"}))
    );
    assert_eq!(
        attr(attrs, "net.host.ip"),
        Some(&json!({"stringValue": "127.0.0.1"}))
    );
    assert_eq!(
        attr(attrs, "net.host.port"),
        Some(&json!({"intValue": "8080"}))
    );
    assert_eq!(root["events"][0]["name"], "orders fetched");

    let child = find(&spans, sent["child"].as_str().unwrap());
    assert_eq!(
        child["name"].as_str().unwrap().to_lowercase(),
        "select orders"
    );
    assert_eq!(child["kind"], "SPAN_KIND_CLIENT");
    assert_eq!(
        b64(&child["parentSpanId"]),
        padded(sent["root"].as_str().unwrap(), 16)
    );
    let attrs = &child["attributes"];
    assert_eq!(
        attr(attrs, "peer.service"),
        Some(&json!({"stringValue": "postgres"}))
    );
    assert_eq!(
        attr(attrs, "net.peer.ip"),
        Some(&json!({"stringValue": "10.1.2.3"}))
    );
    assert_eq!(
        attr(attrs, "net.peer.port"),
        Some(&json!({"intValue": "5432"}))
    );
    assert!(attr(attrs, "error").is_none());
    assert_eq!(child["status"]["code"], "STATUS_CODE_ERROR");
    assert_eq!(child["status"]["message"], "connection reset");
}

#[test]
fn jaeger_and_zipkin_client_traces_are_found_by_id() {
    let Some(node) = node() else {
        assert!(
            std::env::var("TEMPO_REQUIRE_NODE").as_deref() != Ok("1"),
            "TEMPO_REQUIRE_NODE=1 but no Node with the packages of tests/node: run scripts/test"
        );
        eprintln!("skipped: no Node with the Jaeger and Zipkin clients (run scripts/test)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (thrift_http, zipkin, binary_udp) =
        (common::free_port(), common::free_port(), free_udp_port());
    let server = Server::start_with(
        dir.path(),
        Setup {
            receivers: format!(
                "jaeger:\n  protocols:\n    thrift_http:\n      endpoint: 127.0.0.1:{thrift_http}\n    \
                 thrift_binary:\n      endpoint: 127.0.0.1:{binary_udp}\n\
                 zipkin:\n  endpoint: 127.0.0.1:{zipkin}\n"
            ),
            ..Setup::default()
        },
    );
    let output = Command::new(node)
        .arg(node_dir().join("send_traces.js"))
        .arg(format!("http://127.0.0.1:{thrift_http}/api/traces"))
        .arg("127.0.0.1")
        .arg(binary_udp.to_string())
        .arg(format!("http://127.0.0.1:{zipkin}"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "node clients failed:\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        server.log_text()
    );
    let sent: Value = serde_json::from_slice(&output.stdout).unwrap();
    check_jaeger(&server, &sent["jaeger_http"], 16);
    // UDP is fire and forget: give the datagram a moment to be stored.
    let udp_id = sent["jaeger_udp"]["trace_id"].as_str().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.trace_v1(udp_id).is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    check_jaeger(&server, &sent["jaeger_udp"], 32);
    check_zipkin(&server, &sent["zipkin"]);
    assert_eq!(
        server.metric("tempo_distributor_spans_received_total{tenant=\"single-tenant\"}"),
        8
    );
}
