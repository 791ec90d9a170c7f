//! Search results as Tempo writes them for Grafana, each from the head and again from blocks:
//! trace IDs compared as results write them, the event and link that matched, aggregates
//! named and formatted as Tempo names them, `nil` groups and placeholders, array elements that
//! matched, the fields of the side a span was returned for, `span:parentID`, traces without a
//! root, empty results, and the root of a trace with several spans without a parent.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use common::embedded::Embedded;
use serde_json::{Value as Json, json};
use tempo_core::model::{
    AnyValue, ArrayValue, Event, KeyValue, Link, Resource, ResourceSpans, ScopeSpans, Span, Status,
    Value,
};

const T0: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;

/// A 64-bit trace ID (the upper half zero, as Jaeger and Zipkin send them), with leading zeros
/// in its lower half too: results write it `abcdef01234`.
const ORDERS: [u8; 16] = [
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0xbc, 0xde, 0xf0, 0x12, 0x34,
];
const ORDERS_HEX: &str = "abcdef01234";
/// A trace whose root span never arrived.
const ORPHAN: [u8; 16] = [0x0f; 16];
/// A trace with two spans without a parent.
const TWO_ROOTS: [u8; 16] = [0x22; 16];

fn sid(trace: [u8; 16], n: u8) -> Vec<u8> {
    vec![trace[15], 0, 0, 0, 0, 0, 0, n]
}

fn span(trace: [u8; 16], n: u8, parent: Option<u8>, name: &str, start: u64, end: u64) -> Span {
    Span {
        trace_id: trace.to_vec(),
        span_id: sid(trace, n),
        parent_span_id: parent.map(|p| sid(trace, p)).unwrap_or_default(),
        name: name.into(),
        kind: 2,
        start_time_unix_nano: T0 + start,
        end_time_unix_nano: T0 + end,
        ..Default::default()
    }
}

fn resource(service: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![KeyValue::string("service.name", service)],
            dropped_attributes_count: 0,
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        schema_url: String::new(),
    }
}

fn strings(items: &[&str]) -> KeyValue {
    KeyValue {
        key: "tags".into(),
        value: Some(AnyValue {
            value: Some(Value::ArrayValue(ArrayValue {
                values: items
                    .iter()
                    .map(|s| AnyValue {
                        value: Some(Value::StringValue((*s).into())),
                    })
                    .collect(),
            })),
        }),
    }
}

/// The orders trace: `GET /orders` (events `start` then `exception`, two links) with two
/// children, `SELECT` (1.234567 ms, in service `db`) and `cache`; the orphan; and the trace
/// with two roots, the later one sent first.
fn data() -> Vec<ResourceSpans> {
    let mut root = span(ORDERS, 1, None, "GET /orders", 0, 10 * MS);
    root.attributes = vec![
        KeyValue::string("http.method", "GET"),
        KeyValue::int("retries", 3),
        strings(&["red", "green", "blue"]),
    ];
    root.events = vec![
        Event {
            time_unix_nano: T0 + MS,
            name: "start".into(),
            attributes: vec![KeyValue::int("attempt", 1)],
            dropped_attributes_count: 0,
        },
        Event {
            time_unix_nano: T0 + 5 * MS,
            name: "exception".into(),
            attributes: vec![KeyValue::int("attempt", 2)],
            dropped_attributes_count: 0,
        },
    ];
    root.links = vec![
        Link {
            trace_id: vec![0xaa; 16],
            span_id: vec![0xa1; 8],
            attributes: vec![KeyValue::string("link.type", "follows")],
            ..Default::default()
        },
        Link {
            trace_id: vec![0xbb; 16],
            span_id: vec![0xb1; 8],
            attributes: vec![KeyValue::string("link.type", "child")],
            ..Default::default()
        },
    ];
    let mut select = span(ORDERS, 2, Some(1), "SELECT", MS, MS + 1_234_567);
    select.attributes = vec![KeyValue::string("db.system", "pg")];
    select.status = Some(Status {
        code: 2,
        message: String::new(),
    });
    let cache = span(ORDERS, 3, Some(1), "cache", 3 * MS, 5 * MS + 500_000);
    let mut orphan = span(ORPHAN, 2, Some(1), "orphan", 20 * MS, 21 * MS);
    orphan.attributes = vec![KeyValue::string("http.method", "GET")];
    vec![
        resource(
            "two-roots-late",
            vec![span(TWO_ROOTS, 2, None, "late root", 40 * MS, 45 * MS)],
        ),
        resource("orders", vec![root, cache]),
        resource("db", vec![select]),
        resource("orphans", vec![orphan]),
        resource(
            "two-roots-early",
            vec![span(TWO_ROOTS, 1, None, "early root", 30 * MS, 35 * MS)],
        ),
    ]
}

/// Runs `check` on the store's head, then again once everything is in blocks.
fn head_and_blocks(check: impl Fn(&Embedded, &str)) {
    let api = Embedded::start();
    api.ingest(data());
    check(&api, "head");
    api.flush();
    check(&api, "blocks");
}

fn ids(found: &Json) -> Vec<String> {
    found["traces"]
        .as_array()
        .unwrap_or_else(|| panic!("no traces list in {found}"))
        .iter()
        .map(|t| t["traceID"].as_str().unwrap().to_owned())
        .collect()
}

/// The trace with this ID in a search answer.
fn trace<'a>(found: &'a Json, id: &str) -> &'a Json {
    found["traces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["traceID"] == id)
        .unwrap_or_else(|| panic!("no trace {id} in {found}"))
}

/// The spans of the first spanset of a trace, by name: their attributes as `key: value`.
fn spans_of(t: &Json) -> Vec<(String, Json)> {
    let mut out: Vec<(String, Json)> = t["spanSets"][0]["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mut attrs = serde_json::Map::new();
            for kv in s["attributes"].as_array().into_iter().flatten() {
                attrs.insert(kv["key"].as_str().unwrap().to_owned(), kv["value"].clone());
            }
            (s["name"].as_str().unwrap().to_owned(), Json::Object(attrs))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn s(v: &str) -> Json {
    json!({ "stringValue": v })
}

#[test]
fn trace_ids_compare_as_results_write_them() {
    head_and_blocks(|api, place| {
        for written in [
            ORDERS_HEX,
            "0000000000000000000000abcdef01234",
            "00000abcdef01234",
            "ABCDEF01234",
        ] {
            let found = api.search(&format!(r#"{{ trace:id = "{written}" }}"#), "");
            assert_eq!(ids(&found), [ORDERS_HEX], "{place}: {written}");
        }
        let others = api.search(&format!(r#"{{ trace:id != "{ORDERS_HEX}" }}"#), "");
        assert!(!ids(&others).contains(&ORDERS_HEX.to_owned()), "{place}");
        assert_eq!(ids(&others).len(), 2, "{place}");
    });
}

#[test]
fn event_and_link_fields_are_those_of_the_event_and_link_that_matched() {
    head_and_blocks(|api, place| {
        let root = |q: &str| {
            let found = api.search(q, "");
            spans_of(trace(&found, ORDERS_HEX))
                .into_iter()
                .find(|(n, _)| n == "GET /orders")
                .unwrap_or_else(|| panic!("{place}: {q}: no root in {found}"))
                .1
        };
        assert_eq!(
            root(r#"{ event:name = "exception" }"#),
            json!({ "event:name": s("exception") }),
            "{place}"
        );
        assert_eq!(
            root("{ event.attempt = 2 }"),
            json!({ "attempt": { "intValue": "2" } }),
            "{place}"
        );
        assert_eq!(
            root(r#"{ event.attempt > 1 && event:name != "start" }"#),
            json!({ "attempt": { "intValue": "2" }, "event:name": s("exception") }),
            "{place}"
        );
        assert_eq!(
            root("{ event:timeSinceStart > 2ms }"),
            json!({ "event:timeSinceStart": s("5ms") }),
            "{place}"
        );
        let b1 = "b1b1b1b1b1b1b1b1";
        assert_eq!(
            root(&format!(r#"{{ link:spanID = "{b1}" }}"#)),
            json!({ "link:spanID": s(b1) }),
            "{place}"
        );
        assert_eq!(
            root(r#"{ link.link.type = "child" && link:traceID != nil }"#),
            json!({ "link.type": s("child"), "link:traceID": s(&"bb".repeat(16)) }),
            "{place}"
        );
    });
}

#[test]
fn aggregates_are_named_and_written_as_tempo_writes_them() {
    head_and_blocks(|api, place| {
        let attrs = |q: &str| {
            let found = api.search(q, "");
            trace(&found, ORDERS_HEX)["spanSets"][0]["attributes"].clone()
        };
        // A duration at Go's full precision; `span:duration` is named `duration`.
        for q in [
            r#"{ resource.service.name = "db" } | avg(duration) > 1ms"#,
            r#"{ resource.service.name = "db" } | avg(span:duration) > 1ms"#,
        ] {
            assert_eq!(
                attrs(q),
                json!([{ "key": "avg(duration)", "value": s("1.234567ms") }]),
                "{place}: {q}"
            );
        }
        assert_eq!(
            attrs("{ } | max(duration) >= 10ms"),
            json!([{ "key": "max(duration)", "value": s("10ms") }]),
            "{place}"
        );
        assert_eq!(
            attrs("{ } | count() = 3"),
            json!([{ "key": "count()", "value": { "intValue": "3" } }]),
            "{place}"
        );
        // The spans show the field aggregated.
        let found = api.search("{ } | max(span.retries) = 3", "");
        let spans = spans_of(trace(&found, ORDERS_HEX));
        assert_eq!(spans[0].0, "GET /orders", "{place}");
        assert_eq!(
            spans[0].1,
            json!({ "retries": { "intValue": "3" } }),
            "{place}"
        );
        assert_eq!(
            trace(&found, ORDERS_HEX)["spanSets"][0]["attributes"],
            json!([{ "key": "max(span.retries)", "value": { "intValue": "3" } }]),
            "{place}"
        );
    });
}

#[test]
fn missing_values_are_kept_as_nil() {
    head_and_blocks(|api, place| {
        // by(): the spans without the field are a group of their own.
        let found = api.search("{ } | by(span.db.system)", "&spss=10");
        let mut groups: Vec<(Json, u64)> = trace(&found, ORDERS_HEX)["spanSets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|ss| {
                let by = ss["attributes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|kv| kv["key"] == "by(span.db.system)")
                    .unwrap_or_else(|| panic!("{place}: {ss}"))["value"]
                    .clone();
                (by, ss["matched"].as_u64().unwrap())
            })
            .collect();
        groups.sort_by_key(|g| g.0.to_string());
        assert_eq!(groups, [(s("nil"), 2), (s("pg"), 1)], "{place}");
        // A test against nil, and select() of a field a span lacks, show it as nil.
        let found = api.search("{ span.db.system = nil && kind = server }", "&spss=10");
        let spans = spans_of(trace(&found, ORDERS_HEX));
        assert_eq!(
            spans,
            [
                (
                    "GET /orders".to_owned(),
                    json!({ "db.system": s("nil"), "kind": s("server") })
                ),
                (
                    "cache".to_owned(),
                    json!({ "db.system": s("nil"), "kind": s("server") })
                ),
            ],
            "{place}"
        );
        let found = api.search(
            r#"{ name = "cache" } | select(span.nope, span.http.method)"#,
            "",
        );
        assert_eq!(
            spans_of(trace(&found, ORDERS_HEX)),
            [(
                "cache".to_owned(),
                json!({ "nope": s("nil"), "http.method": s("nil") })
            )],
            "{place}"
        );
    });
}

#[test]
fn spans_show_the_fields_they_were_matched_on() {
    head_and_blocks(|api, place| {
        let spans = |q: &str| {
            let found = api.search(q, "&spss=10");
            spans_of(trace(&found, ORDERS_HEX))
        };
        // The element of an array that matched.
        assert_eq!(
            spans(r#"{ span.tags = "green" }"#),
            [("GET /orders".to_owned(), json!({ "tags": s("green") }))],
            "{place}"
        );
        assert_eq!(
            spans(r#"{ span.tags =~ "bl.*" }"#),
            [("GET /orders".to_owned(), json!({ "tags": s("blue") }))],
            "{place}"
        );
        // select() shows the whole array.
        let whole = spans(r#"{ name = "GET /orders" } | select(span.tags)"#);
        assert_eq!(
            whole[0].1["tags"]["arrayValue"]["values"]
                .as_array()
                .unwrap()
                .len(),
            3,
            "{place}: {whole:?}"
        );
        // Each side of `&&` shows its own conditions' fields.
        assert_eq!(
            spans(r#"{ span.http.method = "GET" } && { span.db.system = "pg" }"#),
            [
                ("GET /orders".to_owned(), json!({ "http.method": s("GET") })),
                ("SELECT".to_owned(), json!({ "db.system": s("pg") })),
            ],
            "{place}"
        );
        // A structural operator returns the right side's spans, with the right side's fields.
        assert_eq!(
            spans(r#"{ span.http.method = "GET" } > { span.db.system = "pg" }"#),
            [("SELECT".to_owned(), json!({ "db.system": s("pg") }))],
            "{place}"
        );
        assert_eq!(
            spans(r#"{ span.http.method = "GET" } &> { status = error }"#),
            [
                ("GET /orders".to_owned(), json!({ "http.method": s("GET") })),
                ("SELECT".to_owned(), json!({ "status": s("error") })),
            ],
            "{place}"
        );
        // A pipeline's later filters add their fields.
        assert_eq!(
            spans(r#"{ span.db.system != nil } | { status = error }"#),
            [(
                "SELECT".to_owned(),
                json!({ "db.system": s("pg"), "status": s("error") })
            )],
            "{place}"
        );
        // span:parentID under that name.
        let root_id = hex::encode(sid(ORDERS, 1));
        assert_eq!(
            spans(&format!(
                r#"{{ span:parentID = "{root_id}" && name = "SELECT" }}"#
            )),
            [("SELECT".to_owned(), json!({ "span:parentID": s(&root_id) }))],
            "{place}"
        );
    });
}

#[test]
fn a_trace_without_its_root_has_empty_root_names() {
    head_and_blocks(|api, place| {
        // Results trim the ID's leading zeros.
        let orphan = hex::encode(ORPHAN).trim_start_matches('0').to_owned();
        for q in [
            r#"{ rootServiceName != "x" }"#,
            r#"{ trace:rootName != "x" }"#,
        ] {
            let found = api.search(q, "");
            assert!(ids(&found).contains(&orphan), "{place}: {q}: {found}");
        }
        let found = api.search(r#"{ rootServiceName = "" && name = "orphan" }"#, "");
        assert_eq!(ids(&found), [orphan.as_str()], "{place}");
        // Written as Tempo's query frontend writes it.
        let t = trace(&found, &orphan);
        assert_eq!(
            t["rootServiceName"], "<root span not yet received>",
            "{place}"
        );
        assert!(t.get("rootTraceName").is_none(), "{place}: {t}");
    });
}

#[test]
fn no_match_is_an_empty_list() {
    head_and_blocks(|api, place| {
        let found = api.search(r#"{ name = "nope" }"#, "");
        assert_eq!(found["traces"], json!([]), "{place}: {found}");
    });
}

#[test]
fn the_root_of_a_trace_with_several_parentless_spans_is_the_earliest() {
    head_and_blocks(|api, place| {
        let two = hex::encode(TWO_ROOTS);
        let found = api.search("{ }", "&limit=10");
        let t = trace(&found, &two);
        assert_eq!(t["rootTraceName"], "early root", "{place}");
        assert_eq!(t["rootServiceName"], "two-roots-early", "{place}");
        let found = api.search(r#"{ rootName = "early root" }"#, "");
        assert_eq!(ids(&found), [two.as_str()], "{place}");
        let found = api.search(r#"{ trace:rootService = "two-roots-late" }"#, "");
        assert_eq!(ids(&found), Vec::<String>::new(), "{place}");
        let values = api.json("/api/v2/search/tag/rootName/values");
        let values: Vec<&str> = values["tagValues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["value"].as_str().unwrap_or(""))
            .collect();
        assert!(values.contains(&"early root"), "{place}: {values:?}");
        assert!(!values.contains(&"late root"), "{place}: {values:?}");
    });
}
