//! A trace by ID answers as Tempo's does for Grafana, from the head and from blocks: v2 says
//! in `metrics.inspectedBytes` what the lookup read, and the spans of one resource and
//! instrumentation scope sit under one scope entry, however they arrived.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use common::embedded::Embedded;
use common::spans::trace_id;
use prost::Message;
use tempo_core::model::{
    InstrumentationScope, KeyValue, Resource, ResourceSpans, ScopeSpans, Span, TracesData,
};

/// Tempo's `TraceByIDResponse`, from its documented field numbers.
#[derive(Clone, PartialEq, prost::Message)]
struct TraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    trace: Option<TracesData>,
    #[prost(message, optional, tag = "2")]
    metrics: Option<Metrics>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Metrics {
    #[prost(uint64, tag = "1")]
    inspected_bytes: u64,
}

const T0: u64 = 1_700_000_000_000_000_000;

fn span(id: u8, parent: Option<u8>, name: &str) -> Span {
    Span {
        trace_id: trace_id(5, 0).to_vec(),
        span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
        parent_span_id: parent
            .map(|p| vec![0, 0, 0, 0, 0, 0, 0, p])
            .unwrap_or_default(),
        name: name.into(),
        start_time_unix_nano: T0 + u64::from(id) * 1_000,
        end_time_unix_nano: T0 + u64::from(id) * 1_000 + 500,
        ..Default::default()
    }
}

fn batch(service: &str, scope: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![KeyValue::string("service.name", service)],
            dropped_attributes_count: 0,
        }),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: scope.into(),
                ..Default::default()
            }),
            spans,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

/// Per resource entry, its service and, per scope entry, the scope's name and span names.
type Layout = Vec<(String, Vec<(String, Vec<String>)>)>;

fn layout(trace: &TracesData) -> Layout {
    trace
        .resource_spans
        .iter()
        .map(|rs| {
            let service = rs.resource.as_ref().unwrap().attributes[0]
                .value
                .as_ref()
                .and_then(|v| match &v.value {
                    Some(tempo_core::model::Value::StringValue(s)) => Some(s.clone()),
                    _ => None,
                })
                .unwrap();
            let scopes = rs
                .scope_spans
                .iter()
                .map(|ss| {
                    let name = ss
                        .scope
                        .as_ref()
                        .map(|s| s.name.clone())
                        .unwrap_or_default();
                    (name, ss.spans.iter().map(|s| s.name.clone()).collect())
                })
                .collect();
            (service, scopes)
        })
        .collect()
}

#[test]
fn spans_of_one_resource_and_scope_are_one_entry() {
    let api = Embedded::start();
    // The checkout service's spans come in two requests, and the second interleaves them
    // with another service's; its two scopes come apart too.
    api.ingest(vec![batch(
        "checkout",
        "http",
        vec![
            span(1, None, "POST /checkout"),
            span(2, Some(1), "validate"),
        ],
    )]);
    api.ingest(vec![
        batch("payments", "grpc", vec![span(3, Some(1), "charge")]),
        batch("checkout", "db", vec![span(4, Some(1), "INSERT order")]),
        batch("checkout", "http", vec![span(5, Some(1), "render")]),
        batch("payments", "grpc", vec![span(6, Some(3), "authorize")]),
    ]);
    let want = vec![
        (
            "checkout".to_owned(),
            vec![
                (
                    "http".to_owned(),
                    vec![
                        "POST /checkout".to_owned(),
                        "validate".to_owned(),
                        "render".to_owned(),
                    ],
                ),
                ("db".to_owned(), vec!["INSERT order".to_owned()]),
            ],
        ),
        (
            "payments".to_owned(),
            vec![(
                "grpc".to_owned(),
                vec!["charge".to_owned(), "authorize".to_owned()],
            )],
        ),
    ];
    let id = hex::encode(trace_id(5, 0));
    let accept = [("accept", "application/protobuf")];
    let check = |place: &str| {
        let (status, _, body) = api.get(&format!("/api/traces/{id}"), &accept);
        assert_eq!(status, 200, "{place}");
        let v1 = TracesData::decode(&body[..]).unwrap();
        let (status, _, body) = api.get(&format!("/api/v2/traces/{id}"), &accept);
        assert_eq!(status, 200, "{place}");
        let v2 = TraceByIdResponse::decode(&body[..]).unwrap().trace.unwrap();
        let mut got = layout(&v1);
        // Spans within an entry in start order, as the order they were found in may vary.
        for (_, scopes) in &mut got {
            for (_, spans) in scopes.iter_mut() {
                let order = |n: &String| {
                    v1.resource_spans
                        .iter()
                        .flat_map(|rs| &rs.scope_spans)
                        .flat_map(|ss| &ss.spans)
                        .find(|s| &s.name == n)
                        .map_or(0, |s| s.start_time_unix_nano)
                };
                spans.sort_by_key(order);
            }
        }
        assert_eq!(got, want, "{place}");
        assert_eq!(layout(&v2), layout(&v1), "{place}: v2 as v1");
    };
    check("head");
    api.flush();
    check("blocks");
}

#[test]
fn v2_says_how_many_bytes_it_inspected() {
    let api = Embedded::start();
    api.ingest(vec![batch(
        "checkout",
        "http",
        vec![
            span(1, None, "POST /checkout"),
            span(2, Some(1), "validate"),
        ],
    )]);
    let id = hex::encode(trace_id(5, 0));
    let missing = hex::encode(trace_id(6, 0));
    let check = |place: &str| {
        let v2 = api.json(&format!("/api/v2/traces/{id}"));
        let bytes: u64 = v2["metrics"]["inspectedBytes"]
            .as_str()
            .unwrap_or_else(|| panic!("{place}: no inspectedBytes in {v2}"))
            .parse()
            .unwrap();
        assert!(bytes > 0, "{place}");
        let (_, _, body) = api.get(
            &format!("/api/v2/traces/{id}"),
            &[("accept", "application/protobuf")],
        );
        let proto = TraceByIdResponse::decode(&body[..]).unwrap();
        assert_eq!(proto.metrics.unwrap().inspected_bytes, bytes, "{place}");
        // A trace not found read nothing of it.
        assert_eq!(
            api.json(&format!("/api/v2/traces/{missing}")),
            serde_json::json!({"trace": {}, "metrics": {}}),
            "{place}"
        );
    };
    check("head");
    api.flush();
    check("blocks");
}
