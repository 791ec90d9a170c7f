//! Builds OTLP requests for the tests, with the store's own (OTLP-compatible) model.
#![allow(dead_code, reason = "each test binary uses some of the helpers")]
#![expect(
    unreachable_pub,
    reason = "shared by the test binaries through `mod common`"
)]

use prost::Message;
use tempo_core::model::{
    AnyValue, InstrumentationScope, KeyValue, Resource, ResourceSpans, ScopeSpans, Span, Status,
    TracesData, Value,
};

/// A deterministic, unique 16-byte trace ID for test `seed` and index `i`.
#[expect(
    clippy::big_endian_bytes,
    reason = "test IDs: counters, readable in hex"
)]
pub fn trace_id(seed: u64, i: u64) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1).to_be_bytes());
    id[8..].copy_from_slice(&(i + 1).to_be_bytes());
    id
}

/// One resource, one scope, `spans` spans per trace for each trace ID.
#[expect(
    clippy::big_endian_bytes,
    reason = "test IDs: counters, readable in hex"
)]
pub fn request(service: &str, traces: &[[u8; 16]], spans: usize) -> TracesData {
    let mut out = Vec::new();
    for (t, id) in traces.iter().enumerate() {
        for s in 0..spans {
            let mut span_id = [0u8; 8];
            span_id[..4].copy_from_slice(&(t as u32 + 1).to_be_bytes());
            span_id[4..].copy_from_slice(&(s as u32 + 1).to_be_bytes());
            let parent = if s == 0 {
                Vec::new()
            } else {
                let mut p = span_id;
                p[4..].copy_from_slice(&1u32.to_be_bytes());
                p.to_vec()
            };
            out.push(Span {
                trace_id: id.to_vec(),
                span_id: span_id.to_vec(),
                parent_span_id: parent,
                name: format!("op-{s}"),
                kind: if s == 0 { 2 } else { 3 },
                start_time_unix_nano: 1_700_000_000_000_000_000 + s as u64 * 1000,
                end_time_unix_nano: 1_700_000_000_000_000_000 + s as u64 * 1000 + 500,
                attributes: vec![
                    KeyValue::string("http.route", "/cart"),
                    KeyValue::int("index", s as i64),
                ],
                status: Some(Status {
                    message: String::new(),
                    code: if s == 1 { 2 } else { 0 },
                }),
                ..Span::default()
            });
        }
    }
    TracesData {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(Value::StringValue(service.into())),
                    }),
                }],
                dropped_attributes_count: 0,
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "tests".into(),
                    version: "1.0".into(),
                    ..InstrumentationScope::default()
                }),
                spans: out,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// The protobuf body of a request.
pub fn encode(data: &TracesData) -> Vec<u8> {
    data.encode_to_vec()
}
