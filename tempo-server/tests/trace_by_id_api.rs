//! `GET /api/traces/{id}` and `GET /api/v2/traces/{id}` answer as Tempo does: JSON shapes,
//! protobuf bodies, not-found behaviour, ID parsing, time ranges; and the operational
//! endpoints.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use common::spans::{encode, request, trace_id};
use common::{Server, http_call, spans_of};
use prost::Message;
use tempo_core::model::TracesData;

/// Tempo's `TraceByIDResponse`, declared here from its documented field numbers.
#[derive(Clone, PartialEq, prost::Message)]
struct TraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    trace: Option<TracesData>,
    #[prost(message, optional, tag = "2")]
    metrics: Option<Metrics>,
    #[prost(int32, tag = "3")]
    status: i32,
    #[prost(string, tag = "4")]
    message: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Metrics {
    #[prost(uint64, tag = "1")]
    inspected_bytes: u64,
}

#[test]
fn trace_by_id_shapes_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), "");
    let id = trace_id(21, 0);
    let hex_id = hex::encode(id);
    let sent = request("api", &[id], 3);
    let (status, _, _) = http_call(
        "POST",
        &server.otlp_http(),
        &[("content-type", "application/x-protobuf")],
        Some(&encode(&sent)),
    );
    assert_eq!(status, 200);

    // v1 JSON.
    let (status, ct, body) = server.get(&format!("/api/traces/{hex_id}"), &[]);
    assert_eq!(status, 200);
    assert_eq!(ct, "application/json");
    let v1: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v1.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["batches"]
    );
    let spans = spans_of(&v1);
    assert_eq!(spans.len(), 3);
    let root = &spans[0];
    assert!(
        root.get("parentSpanId").is_none(),
        "zero values are omitted"
    );
    assert_eq!(root["status"], serde_json::json!({}));
    assert_eq!(root["attributes"][1]["value"]["intValue"], "0");
    assert_eq!(spans[1]["status"]["code"], "STATUS_CODE_ERROR");

    // v2 JSON.
    let (status, _, body) = server.get(&format!("/api/v2/traces/{hex_id}"), &[]);
    assert_eq!(status, 200);
    let v2: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v2["trace"]["resourceSpans"], v1["batches"]);
    assert!(v2.get("status").is_none());

    // Protobuf, both versions.
    let accept = [("accept", "application/protobuf")];
    let (status, ct, body) = server.get(&format!("/api/traces/{hex_id}"), &accept);
    assert_eq!((status, ct.as_str()), (200, "application/protobuf"));
    assert_eq!(TracesData::decode(&body[..]).unwrap(), sent);
    let (status, _, body) = server.get(&format!("/api/v2/traces/{hex_id}"), &accept);
    assert_eq!(status, 200);
    let v2 = TraceByIdResponse::decode(&body[..]).unwrap();
    assert_eq!(v2.trace.unwrap(), sent);
    assert_eq!(v2.status, 0);

    // Leading zeros may be left out: left-padded, as Tempo does.
    let short = trace_id(0, 0x0abc - 1);
    assert_eq!(hex::encode(short), "00000000000000010000000000000abc");
    http_call(
        "POST",
        &server.otlp_http(),
        &[("content-type", "application/x-protobuf")],
        Some(&encode(&request("short", &[short], 1))),
    );
    assert_eq!(server.get("/api/traces/10000000000000abc", &[]).0, 200);

    // Not found: v1 404 with an empty body, v2 200 with an empty trace.
    let missing = hex::encode(trace_id(22, 0));
    let (status, _, body) = server.get(&format!("/api/traces/{missing}"), &[]);
    assert_eq!((status, body.len()), (404, 0));
    let (status, _, body) = server.get(&format!("/api/v2/traces/{missing}"), &[]);
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8_lossy(&body),
        r#"{"trace":{},"metrics":{}}"#
    );
    let (status, _, body) = server.get(&format!("/api/v2/traces/{missing}"), &accept);
    assert_eq!(status, 200);
    assert_eq!(
        TraceByIdResponse::decode(&body[..])
            .unwrap()
            .trace
            .unwrap_or_default(),
        TracesData::default()
    );

    // Bad IDs: 400 with Tempo's messages.
    let (status, _, body) = server.get("/api/traces/xyz", &[]);
    assert_eq!(status, 400);
    assert_eq!(
        String::from_utf8_lossy(&body),
        "trace IDs can only contain hex characters: invalid character 'x' at position 1"
    );
    let (status, _, body) = server.get(&format!("/api/traces/{}", "a".repeat(33)), &[]);
    assert_eq!(status, 400);
    assert_eq!(
        String::from_utf8_lossy(&body),
        "trace IDs can't be larger than 128 bits"
    );
    assert_eq!(server.get("/api/v2/traces/zz", &[]).0, 400);

    // Time ranges, in unix seconds: the span starts at 1_700_000_000.
    let path = |q: &str| format!("/api/traces/{hex_id}?{q}");
    assert_eq!(
        server.get(&path("start=1699999990&end=1700000010"), &[]).0,
        200
    );
    assert_eq!(
        server.get(&path("start=1600000000&end=1600000010"), &[]).0,
        404
    );
    assert_eq!(server.get(&path("start=1800000000"), &[]).0, 404);
    let (status, _, body) = server.get(&path("start=abc"), &[]);
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).starts_with("invalid start"));
    let (status, _, body) = server.get(&path("start=10&end=5"), &[]);
    assert_eq!(status, 400);
    assert_eq!(
        String::from_utf8_lossy(&body),
        "http parameter start must be before end. received start=10 end=5"
    );
}

#[test]
fn operational_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), "");
    let (status, _, body) = server.get("/api/echo", &[]);
    assert_eq!((status, body.as_slice()), (200, &b"echo\n"[..]));
    let (status, _, body) = server.get("/ready", &[]);
    assert_eq!((status, body.as_slice()), (200, &b"ready\n"[..]));
    let (status, ct, body) = server.get("/api/status/buildinfo", &[]);
    assert_eq!((status, ct.as_str()), (200, "application/json"));
    let info: serde_json::Value = serde_json::from_slice(&body).unwrap();
    for field in [
        "version",
        "revision",
        "branch",
        "buildUser",
        "buildDate",
        "goVersion",
    ] {
        assert!(info[field].is_string(), "buildinfo lacks {field}: {info}");
    }
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(server.get("/no/such/path", &[]).0, 404);

    http_call(
        "POST",
        &server.otlp_http(),
        &[("content-type", "application/x-protobuf")],
        Some(&encode(&request("metrics", &[trace_id(23, 0)], 4))),
    );
    server.get(
        &format!("/api/traces/{}", hex::encode(trace_id(23, 0))),
        &[],
    );
    let (status, ct, body) = server.get("/metrics", &[]);
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/plain"));
    let text = String::from_utf8(body).unwrap();
    for needle in [
        "tempo_distributor_spans_received_total{tenant=\"single-tenant\"} 4",
        "tempo_distributor_bytes_received_total{tenant=\"single-tenant\"}",
        "tempo_discarded_spans_total{tenant=\"single-tenant\"} 0",
        "tempo_wal_appends_total 1",
        "tempo_wal_syncs_total",
        "tempo_wal_bytes_total",
        "tempo_request_duration_seconds_count{route=\"/api/traces/{traceID}\",method=\"GET\",status_code=\"200\"} 1",
        "tempo_request_duration_seconds_count{route=\"/v1/traces\",method=\"POST\",status_code=\"200\"} 1",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}
