//! The Jaeger and Zipkin receivers with payloads built here, for what the Node clients do not
//! send: Jaeger gRPC, Thrift's compact protocol over UDP, Zipkin protobuf, Zipkin v1 JSON and
//! gzip bodies; and every kind of malformed request, answered with a status and a message (a
//! dropped and counted datagram on UDP), never a crash.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::io::Write as _;
use std::time::{Duration, Instant};

use common::{Server, Setup, spans_of};
use prost::Message as _;
use tempo_otlp::ThriftProtocol;
use tempo_otlp::jaeger::{self, Batch, Process, Span, Tag, TagValue};
use tempo_otlp::zipkin::proto::{ListOfSpans, ProtoEndpoint, ProtoSpan};

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_trace(server: &Server, id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(trace) = server.trace_v1(id) {
            return trace;
        }
        assert!(
            Instant::now() < deadline,
            "trace {id} not found:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn jaeger_batch(service: &str, trace_low: u64) -> Batch {
    Batch {
        process: Some(Process {
            service_name: service.into(),
            tags: vec![Tag::new("hostname", TagValue::String("h".into()))],
        }),
        spans: vec![Span {
            trace_id_low: trace_low,
            span_id: 7,
            operation_name: "op".into(),
            start_time_unix_nano: 1_700_000_000_000_000_000,
            duration_nano: 1_000_000,
            tags: vec![Tag::new("span.kind", TagValue::String("consumer".into()))],
            ..Span::default()
        }],
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn hand_made_jaeger_and_zipkin_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let (thrift_http, grpc, zipkin, compact) = (
        common::free_port(),
        common::free_port(),
        common::free_port(),
        free_udp_port(),
    );
    let server = Server::start_with(
        dir.path(),
        Setup {
            receivers: format!(
                "jaeger:\n  protocols:\n    thrift_http:\n      endpoint: 127.0.0.1:{thrift_http}\n    \
                 grpc:\n      endpoint: 127.0.0.1:{grpc}\n    \
                 thrift_compact:\n      endpoint: 127.0.0.1:{compact}\n\
                 zipkin:\n  endpoint: 127.0.0.1:{zipkin}\n"
            ),
            ..Setup::default()
        },
    );
    let thrift_url = format!("http://127.0.0.1:{thrift_http}/api/traces");
    let zipkin_v2 = format!("http://127.0.0.1:{zipkin}/api/v2/spans");
    let zipkin_v1 = format!("http://127.0.0.1:{zipkin}/api/v1/spans");

    // Jaeger Thrift over HTTP, gzip-compressed, with the other content type Jaeger names.
    let body =
        jaeger::encode_thrift_batch(&jaeger_batch("thrift-gz", 0x11), ThriftProtocol::Binary);
    let (status, _, text) = common::http_call(
        "POST",
        &thrift_url,
        &[
            ("content-type", "application/vnd.apache.thrift.binary"),
            ("content-encoding", "gzip"),
        ],
        Some(&gzip(&body)),
    );
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&text));
    let trace = wait_for_trace(&server, "11");
    assert_eq!(spans_of(&trace)[0]["kind"], "SPAN_KIND_CONSUMER");

    // Malformed Thrift: 400 with the reader's message; wrong content type: 415.
    let (status, _, text) = common::http_call(
        "POST",
        &thrift_url,
        &[("content-type", "application/x-thrift")],
        Some(&body[..body.len() / 2]),
    );
    let text = String::from_utf8(text).unwrap();
    assert_eq!(status, 400, "{text}");
    assert!(
        text.starts_with("unable to process request body: "),
        "{text}"
    );
    let (status, _, text) = common::http_call(
        "POST",
        &thrift_url,
        &[("content-type", "application/json")],
        Some(b"[]"),
    );
    assert_eq!(status, 415, "{}", String::from_utf8_lossy(&text));

    // Jaeger gRPC.
    let request = jaeger::proto::PostSpansRequest {
        batch: Some(jaeger::proto::ProtoBatch {
            process: Some(jaeger::proto::ProtoProcess {
                service_name: "grpc-svc".into(),
                tags: vec![],
            }),
            spans: vec![jaeger::proto::ProtoSpan {
                trace_id: (0..16u8).map(|i| if i == 15 { 0x22 } else { 0 }).collect(),
                span_id: vec![0, 0, 0, 0, 0, 0, 0, 9],
                operation_name: "PostSpans".into(),
                start_time: Some(jaeger::proto::Timestamp {
                    seconds: 1_700_000_000,
                    nanos: 0,
                }),
                duration: Some(jaeger::proto::Duration {
                    seconds: 0,
                    nanos: 5_000,
                }),
                ..jaeger::proto::ProtoSpan::default()
            }],
        }),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let endpoint = format!("http://127.0.0.1:{grpc}");
    runtime
        .block_on(common::grpc::call(
            &endpoint,
            jaeger::POST_SPANS_PATH,
            request.encode_to_vec(),
            None,
        ))
        .unwrap();
    let trace = wait_for_trace(&server, "22");
    assert_eq!(spans_of(&trace)[0]["name"], "PostSpans");
    let err = runtime
        .block_on(common::grpc::call(
            &endpoint,
            jaeger::POST_SPANS_PATH,
            vec![0x0a, 0x05, 0x12],
            None,
        ))
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
    assert!(err.message().contains("PostSpansRequest"), "{err}");

    // Thrift compact over UDP; a datagram that is not Thrift is dropped and counted.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let datagram =
        jaeger::encode_agent_datagram(&jaeger_batch("udp-compact", 0x33), ThriftProtocol::Compact);
    socket.send_to(&datagram, ("127.0.0.1", compact)).unwrap();
    let trace = wait_for_trace(&server, "33");
    assert_eq!(
        trace["batches"][0]["resource"]["attributes"][0]["value"]["stringValue"],
        "udp-compact"
    );
    let failed = "tempo_distributor_requests_failed_total{tenant=\"single-tenant\"}";
    let before = server.metric(failed);
    socket
        .send_to(b"not thrift", ("127.0.0.1", compact))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.metric(failed) == before {
        assert!(
            Instant::now() < deadline,
            "the dropped datagram was not counted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Zipkin protobuf.
    let list = ListOfSpans {
        spans: vec![ProtoSpan {
            trace_id: vec![0, 0, 0, 0, 0, 0, 0, 0x44],
            id: vec![0, 0, 0, 0, 0, 0, 0, 1],
            kind: 2,
            name: "proto".into(),
            timestamp: 1_700_000_000_000_000,
            duration: 10,
            local_endpoint: Some(ProtoEndpoint {
                service_name: "zipkin-proto".into(),
                ..ProtoEndpoint::default()
            }),
            ..ProtoSpan::default()
        }],
    };
    let (status, _, text) = common::http_call(
        "POST",
        &zipkin_v2,
        &[("content-type", "application/x-protobuf")],
        Some(&list.encode_to_vec()),
    );
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&text));
    let trace = wait_for_trace(&server, "44");
    assert_eq!(spans_of(&trace)[0]["kind"], "SPAN_KIND_SERVER");

    // Zipkin v2 JSON, gzip-compressed.
    let json = br#"[{"traceId":"55","id":"1","name":"gz","timestamp":1700000000000000,
        "duration":3,"localEndpoint":{"serviceName":"zipkin-gz"},"tags":{"k":"v"}}]"#;
    let (status, _, text) = common::http_call(
        "POST",
        &zipkin_v2,
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
        Some(&gzip(json)),
    );
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&text));
    let trace = wait_for_trace(&server, "55");
    assert_eq!(spans_of(&trace)[0]["attributes"][0]["key"], "k");

    // Zipkin v1 JSON: a client and a server half in one span make two spans.
    let v1 = br#"[{"traceId":"66","id":"2","name":"rpc","annotations":[
        {"timestamp":1700000000000000,"value":"cs","endpoint":{"serviceName":"v1-client"}},
        {"timestamp":1700000000000100,"value":"sr","endpoint":{"serviceName":"v1-server"}},
        {"timestamp":1700000000000200,"value":"ss","endpoint":{"serviceName":"v1-server"}},
        {"timestamp":1700000000000300,"value":"cr","endpoint":{"serviceName":"v1-client"}}]}]"#;
    let (status, _, text) = common::http_call("POST", &zipkin_v1, &[], Some(v1));
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&text));
    let trace = wait_for_trace(&server, "66");
    let mut kinds: Vec<String> = spans_of(&trace)
        .iter()
        .map(|s| s["kind"].as_str().unwrap().to_owned())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["SPAN_KIND_CLIENT", "SPAN_KIND_SERVER"]);

    // Malformed Zipkin bodies.
    for (url, headers, body, want) in [
        (&zipkin_v2, &[][..], &b"{"[..], "malformed Zipkin JSON"),
        (
            &zipkin_v2,
            &[][..],
            &br#"[{"traceId":"zz","id":"1"}]"#[..],
            "span 0: traceId",
        ),
        (
            &zipkin_v2,
            &[("content-type", "application/x-protobuf")][..],
            &b"\x0a\xff"[..],
            "malformed Zipkin protobuf",
        ),
        (
            &zipkin_v2,
            &[
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ][..],
            &b"not gzip"[..],
            "malformed gzip body",
        ),
    ] {
        let (status, _, text) = common::http_call("POST", url, headers, Some(body));
        let text = String::from_utf8(text).unwrap();
        assert_eq!(status, 400, "{text}");
        assert!(text.contains(want), "{text}");
    }
    let (status, _, _) = common::http_call(
        "POST",
        &zipkin_v1,
        &[("content-type", "application/x-thrift")],
        Some(b"x"),
    );
    assert_eq!(status, 415);
    assert!(server.log_text().contains("Zipkin receiver listening"));
}

#[test]
fn jaeger_and_zipkin_follow_the_tenant_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (thrift_http, grpc, zipkin) = (
        common::free_port(),
        common::free_port(),
        common::free_port(),
    );
    let server = Server::start_with(
        dir.path(),
        Setup {
            receivers: format!(
                "jaeger:\n  protocols:\n    thrift_http:\n      endpoint: 127.0.0.1:{thrift_http}\n    \
                 grpc:\n      endpoint: 127.0.0.1:{grpc}\n\
                 zipkin:\n  endpoint: 127.0.0.1:{zipkin}\n"
            ),
            extra: "multitenancy_enabled: true\n".into(),
            ..Setup::default()
        },
    );
    let thrift_url = format!("http://127.0.0.1:{thrift_http}/api/traces");
    let zipkin_v2 = format!("http://127.0.0.1:{zipkin}/api/v2/spans");
    let body = jaeger::encode_thrift_batch(&jaeger_batch("t", 0x77), ThriftProtocol::Binary);
    let thrift = [("content-type", "application/x-thrift")];
    let (status, _, _) = common::http_call("POST", &thrift_url, &thrift, Some(&body));
    assert_eq!(status, 401, "no X-Scope-OrgID with multi-tenancy on");
    let (status, _, _) = common::http_call(
        "POST",
        &thrift_url,
        &[thrift[0], ("x-scope-orgid", "team-a")],
        Some(&body),
    );
    assert_eq!(status, 202);
    let zipkin_body = br#"[{"traceId":"88","id":"1","name":"z","timestamp":1700000000000000}]"#;
    let (status, _, _) = common::http_call("POST", &zipkin_v2, &[], Some(zipkin_body));
    assert_eq!(status, 401);
    let (status, _, _) = common::http_call(
        "POST",
        &zipkin_v2,
        &[("x-scope-orgid", "team-b")],
        Some(zipkin_body),
    );
    assert_eq!(status, 202);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let endpoint = format!("http://127.0.0.1:{grpc}");
    let empty = jaeger::proto::PostSpansRequest { batch: None }.encode_to_vec();
    let err = runtime
        .block_on(common::grpc::call(
            &endpoint,
            jaeger::POST_SPANS_PATH,
            empty.clone(),
            None,
        ))
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    runtime
        .block_on(common::grpc::call(
            &endpoint,
            jaeger::POST_SPANS_PATH,
            empty,
            Some("team-a"),
        ))
        .unwrap();
    // Each trace is its tenant's only.
    let get = |id: &str, tenant: &str| {
        server
            .get(&format!("/api/traces/{id}"), &[("x-scope-orgid", tenant)])
            .0
    };
    assert_eq!(get("77", "team-a"), 200);
    assert_eq!(get("77", "team-b"), 404);
    assert_eq!(get("88", "team-b"), 200);
    assert_eq!(get("88", "team-a"), 404);
}
