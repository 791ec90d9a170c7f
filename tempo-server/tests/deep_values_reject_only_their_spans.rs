//! An attribute value nested deeper than the limit rejects only the span (or the resource's or
//! scope's spans) holding it, counted in OTLP's partial success, over OTLP/HTTP with protobuf
//! and JSON and over OTLP/gRPC alike; the other spans are stored. A body that is nothing but
//! deep nesting is refused with a message, and the server keeps serving.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use common::spans::{encode, request, trace_id};
use common::{Server, http_call, spans_of};
use prost::Message;
use tempo_core::MAX_ANY_VALUE_DEPTH;
use tempo_core::model::{AnyValue, Event, KeyValue, KeyValueList, Span, TracesData, Value};
use tempo_otlp::{ExportTraceServiceResponse, RpcStatus};

const PROTO: (&str, &str) = ("content-type", "application/x-protobuf");
const JSON: (&str, &str) = ("content-type", "application/json");
const MEGABYTE: usize = 1 << 20;

/// How a request travels.
#[derive(Debug, Clone, Copy)]
enum Transport {
    HttpProtobuf,
    HttpJson,
    Grpc,
}

/// The partial success of an export: rejected spans and the message, or the error (status
/// and message) when the whole request failed.
type Outcome = Result<(i64, String), (u16, String)>;

fn export(server: &Server, transport: Transport, body: Vec<u8>) -> Outcome {
    match transport {
        Transport::HttpProtobuf => {
            let (status, _, resp) = http_call("POST", &server.otlp_http(), &[PROTO], Some(&body));
            if status != 200 {
                return Err((status, RpcStatus::decode(&resp[..]).unwrap().message));
            }
            let partial = ExportTraceServiceResponse::decode(&resp[..])
                .unwrap()
                .partial_success
                .unwrap_or_default();
            Ok((partial.rejected_spans, partial.error_message))
        }
        Transport::HttpJson => {
            let (status, _, resp) = http_call("POST", &server.otlp_http(), &[JSON], Some(&body));
            let json: serde_json::Value = serde_json::from_slice(&resp).unwrap();
            if status != 200 {
                return Err((status, json["message"].as_str().unwrap().to_owned()));
            }
            let partial = &json["partialSuccess"];
            Ok((
                partial["rejectedSpans"]
                    .as_str()
                    .map_or(0, |n| n.parse().unwrap()),
                partial["errorMessage"].as_str().unwrap_or("").to_owned(),
            ))
        }
        Transport::Grpc => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            match rt.block_on(common::grpc::export(&server.otlp_grpc(), body, None)) {
                Ok(resp) => {
                    let partial = resp.partial_success.unwrap_or_default();
                    Ok((partial.rejected_spans, partial.error_message))
                }
                // gRPC's INVALID_ARGUMENT, as OTLP/HTTP's 400.
                Err(status) if status.code() == tonic::Code::InvalidArgument => {
                    Err((400, status.message().to_owned()))
                }
                Err(status) => panic!("unexpected gRPC status {status:?}"),
            }
        }
    }
}

/// A value nested `depth` levels deep, a key-value list in each level.
fn nested(depth: usize) -> AnyValue {
    let mut value = AnyValue {
        value: Some(Value::StringValue("leaf".into())),
    };
    for _ in 1..depth {
        value = AnyValue {
            value: Some(Value::KvlistValue(KeyValueList {
                values: vec![KeyValue {
                    key: "k".into(),
                    value: Some(value),
                }],
            })),
        };
    }
    value
}

fn attribute(depth: usize) -> KeyValue {
    KeyValue {
        key: "deep".into(),
        value: Some(nested(depth)),
    }
}

/// A lone span of trace `id` with a value `depth` levels deep in an event's attribute.
fn span_with_event_value(id: [u8; 16], depth: usize) -> Span {
    Span {
        trace_id: id.to_vec(),
        span_id: vec![7; 8],
        name: "deep".into(),
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_000_001_000,
        events: vec![Event {
            name: "e".into(),
            attributes: vec![KeyValue::string("ok", "v"), attribute(depth)],
            ..Event::default()
        }],
        ..Span::default()
    }
}

/// OTLP/JSON for `data`, as the specification writes it (hex IDs, camelCase).
fn to_json(data: &TracesData) -> Vec<u8> {
    fn value(v: &AnyValue) -> serde_json::Value {
        match &v.value {
            Some(Value::StringValue(s)) => serde_json::json!({ "stringValue": s }),
            Some(Value::IntValue(i)) => serde_json::json!({ "intValue": i.to_string() }),
            Some(Value::KvlistValue(l)) => {
                serde_json::json!({ "kvlistValue": { "values": attributes(&l.values) } })
            }
            other => panic!("not used in these tests: {other:?}"),
        }
    }
    fn attributes(kvs: &[KeyValue]) -> serde_json::Value {
        kvs.iter()
            .map(|kv| serde_json::json!({ "key": kv.key, "value": value(kv.value.as_ref().unwrap()) }))
            .collect()
    }
    let resource_spans: Vec<serde_json::Value> = data
        .resource_spans
        .iter()
        .map(|rs| {
            let scope_spans: Vec<serde_json::Value> = rs
                .scope_spans
                .iter()
                .map(|ss| {
                    let spans: Vec<serde_json::Value> = ss
                        .spans
                        .iter()
                        .map(|s| {
                            let events: Vec<serde_json::Value> = s
                                .events
                                .iter()
                                .map(|e| serde_json::json!({ "name": e.name, "attributes": attributes(&e.attributes) }))
                                .collect();
                            serde_json::json!({
                                "traceId": hex::encode(&s.trace_id),
                                "spanId": hex::encode(&s.span_id),
                                "parentSpanId": hex::encode(&s.parent_span_id),
                                "name": s.name,
                                "kind": s.kind,
                                "startTimeUnixNano": s.start_time_unix_nano.to_string(),
                                "endTimeUnixNano": s.end_time_unix_nano.to_string(),
                                "attributes": attributes(&s.attributes),
                                "events": events,
                            })
                        })
                        .collect();
                    let scope = ss.scope.clone().unwrap_or_default();
                    serde_json::json!({
                        "scope": { "name": scope.name, "attributes": attributes(&scope.attributes) },
                        "spans": spans,
                    })
                })
                .collect();
            let resource = rs.resource.as_ref().map(|r| attributes(&r.attributes));
            serde_json::json!({ "resource": { "attributes": resource }, "scopeSpans": scope_spans })
        })
        .collect();
    // serde_json's writer recurses as deep as the value: fine for the depths built here.
    serde_json::to_vec(&serde_json::json!({ "resourceSpans": resource_spans })).unwrap()
}

fn body(transport: Transport, data: &TracesData) -> Vec<u8> {
    match transport {
        Transport::HttpJson => to_json(data),
        _ => encode(data),
    }
}

fn span_count(server: &Server, id: [u8; 16]) -> Option<usize> {
    server
        .trace_v1(&hex::encode(id))
        .map(|trace| spans_of(&trace).len())
}

const TRANSPORTS: [Transport; 3] = [
    Transport::HttpProtobuf,
    Transport::HttpJson,
    Transport::Grpc,
];

/// How many levels of key-value lists the trace `id` holds, from its v1 JSON's text (a value
/// at the limit nests deeper than serde_json's default reader allows).
fn kvlist_levels(server: &Server, id: [u8; 16]) -> Option<usize> {
    let (status, _, body) = server.get(&format!("/api/traces/{}", hex::encode(id)), &[]);
    let body = String::from_utf8(body).unwrap();
    (status == 200).then(|| body.matches("\"kvlistValue\"").count())
}

#[test]
fn a_span_nested_too_deep_is_rejected_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), "");
    for (seed, transport) in (1u64..).zip(TRANSPORTS) {
        let (a, b, limit, bad) = (
            trace_id(seed, 0),
            trace_id(seed, 1),
            trace_id(seed, 2),
            trace_id(seed, 3),
        );
        let mut data = request("deep", &[a, b], 2);
        let spans = &mut data.resource_spans[0].scope_spans[0].spans;
        // At the limit: stored. One level more, too deep for a one-pass protobuf decode: not.
        spans.push(span_with_event_value(limit, MAX_ANY_VALUE_DEPTH));
        spans.push(span_with_event_value(bad, MAX_ANY_VALUE_DEPTH + 1));
        let outcome = export(&server, transport, body(transport, &data));
        assert_eq!(
            outcome,
            Ok((
                1,
                format!(
                    "1 spans rejected: resourceSpans[0].scopeSpans[0].spans[5]: \
                     events[0].attributes[1]: value nested more than {MAX_ANY_VALUE_DEPTH} \
                     levels deep"
                )
            )),
            "{transport:?}"
        );
        assert_eq!(span_count(&server, a), Some(2), "{transport:?}");
        assert_eq!(span_count(&server, b), Some(2), "{transport:?}");
        assert_eq!(span_count(&server, bad), None, "{transport:?}");
        // The value at the limit comes back whole: key-value lists around the last level.
        assert_eq!(
            kvlist_levels(&server, limit),
            Some(MAX_ANY_VALUE_DEPTH - 1),
            "{transport:?}"
        );
    }
    // What was kept is in the write-ahead log as it was stored: it replays after a crash.
    server.kill9();
    server.spawn();
    for seed in 1..=3 {
        assert_eq!(span_count(&server, trace_id(seed, 0)), Some(2));
        assert_eq!(
            kvlist_levels(&server, trace_id(seed, 2)),
            Some(MAX_ANY_VALUE_DEPTH - 1)
        );
        assert_eq!(span_count(&server, trace_id(seed, 3)), None);
    }
}

#[test]
fn a_resource_or_scope_nested_too_deep_rejects_its_spans() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), "");
    for (seed, transport) in (10u64..).zip(TRANSPORTS) {
        for scope in [false, true] {
            let seed = seed * 2 + u64::from(scope);
            let (gone, kept) = (trace_id(seed, 0), trace_id(seed, 1));
            let mut data = request("deep-resource", &[gone], 2);
            let deep = attribute(MAX_ANY_VALUE_DEPTH + 10);
            if scope {
                let s = data.resource_spans[0].scope_spans[0]
                    .scope
                    .as_mut()
                    .unwrap();
                s.attributes.push(deep);
            } else {
                let r = data.resource_spans[0].resource.as_mut().unwrap();
                r.attributes.push(deep);
            }
            data.resource_spans
                .extend(request("fine", &[kept], 3).resource_spans);
            let (rejected, message) = export(&server, transport, body(transport, &data)).unwrap();
            assert_eq!(rejected, 2, "{transport:?}");
            // The resource has `service.name` first; the scope has no other attribute.
            let what = if scope {
                "scope.attributes[0]"
            } else {
                "resource.attributes[1]"
            };
            assert!(
                message.starts_with(&format!(
                    "2 spans rejected: resourceSpans[0].scopeSpans[0].spans[0]: {what}: \
                     value nested more than"
                )),
                "{transport:?}: {message}"
            );
            assert_eq!(span_count(&server, kept), Some(3), "{transport:?}");
            assert_eq!(span_count(&server, gone), None, "{transport:?}");
        }
    }
}

/// Prefixes `inner` with a length-delimited field `tag` (a key of one byte); `rev` holds the
/// message reversed, so that every level is appended.
fn wrap_reversed(rev: &mut Vec<u8>, tag: u8) {
    let mut len = rev.len();
    let mut varint = Vec::new();
    while len >= 0x80 {
        varint.push((len as u8) | 0x80);
        len >>= 7;
    }
    varint.push(len as u8);
    rev.extend(varint.iter().rev());
    rev.push(tag);
}

fn field(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut rev: Vec<u8> = value.iter().rev().copied().collect();
    wrap_reversed(&mut rev, tag);
    rev.reverse();
    rev
}

/// A protobuf request: trace `good`'s spans, then a span of trace `bad` holding a value of
/// arrays nested a megabyte deep.
fn megabyte_deep_protobuf(good: [u8; 16], bad: [u8; 16]) -> Vec<u8> {
    let mut rev = b"x\x01\x0a".to_vec(); // AnyValue { string_value: "x" }, reversed
    while rev.len() < MEGABYTE {
        wrap_reversed(&mut rev, 0x0a); // ArrayValue.values
        wrap_reversed(&mut rev, 0x2a); // AnyValue.array_value
    }
    rev.reverse();
    let kv = [b"\x0a\x04deep".as_slice(), &field(0x12, &rev)].concat();
    let mut span = Span {
        trace_id: bad.to_vec(),
        span_id: vec![3; 8],
        name: "deep".into(),
        ..Span::default()
    }
    .encode_to_vec();
    span.extend(field(0x4a, &kv)); // Span.attributes
    let data = request("megabyte", &[good], 2);
    let mut scope = data.resource_spans[0].scope_spans[0].encode_to_vec();
    scope.extend(field(0x12, &span)); // ScopeSpans.spans
    let resource = field(0x12, &scope); // ResourceSpans.scope_spans
    field(0x0a, &resource) // TracesData.resource_spans
}

fn megabyte_deep_json(good: [u8; 16], bad: [u8; 16]) -> Vec<u8> {
    let levels = MEGABYTE / r#"{"arrayValue":{"values":[]}}"#.len();
    let value = format!(
        r#"{}{{"stringValue":"x"}}{}"#,
        r#"{"arrayValue":{"values":["#.repeat(levels),
        "]}}".repeat(levels)
    );
    format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[
            {{"traceId":"{g}","spanId":"0000000000000001","name":"a"}},
            {{"traceId":"{g}","spanId":"0000000000000002","name":"b"}},
            {{"traceId":"{b}","spanId":"0000000000000003","name":"deep",
              "attributes":[{{"key":"deep","value":{value}}}]}}]}}]}}]}}"#,
        g = hex::encode(good),
        b = hex::encode(bad),
    )
    .into_bytes()
}

/// Nothing but nesting: what each transport gets, and what its message must say.
fn pure_nesting(transport: Transport) -> Vec<(Vec<u8>, &'static str)> {
    match transport {
        Transport::HttpJson => vec![
            (
                "[".repeat(MEGABYTE / 2)
                    .into_bytes()
                    .into_iter()
                    .chain("]".repeat(MEGABYTE / 2).into_bytes())
                    .collect(),
                "malformed OTLP/JSON at $: expected an object, found an array",
            ),
            (
                "[".repeat(MEGABYTE).into_bytes(),
                "malformed OTLP/JSON at $: EOF while parsing",
            ),
            (
                format!(r#"{{"resourceSpans":[{}"#, "{\"a\":".repeat(MEGABYTE / 5)).into_bytes(),
                "malformed OTLP/JSON at $: EOF while parsing",
            ),
        ],
        _ => {
            // Nested groups (start markers of field 2, then as many end markers).
            let mut groups = vec![0x13; MEGABYTE / 2];
            groups.extend(vec![0x14; MEGABYTE / 2]);
            // Messages in fields 1, down to a byte that is not UTF-8.
            let mut messages = vec![0xff];
            while messages.len() < MEGABYTE {
                wrap_reversed(&mut messages, 0x0a);
            }
            messages.reverse();
            vec![
                (groups, "malformed OTLP protobuf"),
                (messages, "malformed OTLP protobuf"),
            ]
        }
    }
}

#[test]
fn megabytes_of_nesting_never_crash_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), "");
    let pid = server.pid();
    for (seed, transport) in (20u64..).zip(TRANSPORTS) {
        // A megabyte-deep value in one span: that span alone is rejected.
        let (good, bad) = (trace_id(seed, 0), trace_id(seed, 1));
        let deep_body = match transport {
            Transport::HttpJson => megabyte_deep_json(good, bad),
            _ => megabyte_deep_protobuf(good, bad),
        };
        let (rejected, message) = export(&server, transport, deep_body).unwrap();
        assert_eq!(rejected, 1, "{transport:?}: {message}");
        assert!(
            message.contains("spans[2]: attributes[0]: value nested more than"),
            "{transport:?}: {message}"
        );
        assert_eq!(span_count(&server, good), Some(2), "{transport:?}");
        assert_eq!(span_count(&server, bad), None, "{transport:?}");

        // Nothing but nesting: refused, with a message.
        for (body, want) in pure_nesting(transport) {
            let outcome = export(&server, transport, body);
            let (status, message) = outcome.unwrap_err();
            assert_eq!(status, 400, "{transport:?}: {message}");
            assert!(message.starts_with(want), "{transport:?}: {message}");
        }
        // Still the same process, still serving.
        assert!(server.child.as_mut().unwrap().try_wait().unwrap().is_none());
        assert_eq!(server.pid(), pid);
        let after = trace_id(seed, 5);
        let fine = body(transport, &request("after", &[after], 2));
        assert_eq!(export(&server, transport, fine), Ok((0, String::new())));
        assert_eq!(span_count(&server, after), Some(2), "{transport:?}");
    }
}
