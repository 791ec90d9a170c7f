//! Tag names and values as Tempo lists them, from the head and again from blocks: array
//! attributes list their elements; durations and IDs list no values; the intrinsic names are
//! Tempo's; the first API's tag values route takes its name literally; the empty string is a
//! value where spans carry it; a trace without its root has an empty root service; a `q`
//! filter lists only what the spans meeting it carry.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use common::embedded::{Embedded, encode};
use serde_json::{Value as Json, json};
use tempo_core::model::{
    AnyValue, ArrayValue, KeyValue, Resource, ResourceSpans, ScopeSpans, Span, Value,
};

const T0: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;

fn span(trace: u8, n: u8, parent: Option<u8>, name: &str, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![trace, 0, 0, 0, 0, 0, 0, n],
        parent_span_id: parent
            .map(|p| vec![trace, 0, 0, 0, 0, 0, 0, p])
            .unwrap_or_default(),
        name: name.into(),
        kind: 2,
        start_time_unix_nano: T0 + u64::from(n) * MS,
        end_time_unix_nano: T0 + u64::from(n) * MS + MS,
        attributes,
        ..Default::default()
    }
}

fn array(key: &str, items: Vec<Value>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::ArrayValue(ArrayValue {
                values: items
                    .into_iter()
                    .map(|v| AnyValue { value: Some(v) })
                    .collect(),
            })),
        }),
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

/// `cart`: a root with array, dotted and empty attributes; `GET` beneath it with an
/// empty name; and a trace of `billing` whose root never arrived.
fn data() -> Vec<ResourceSpans> {
    let root = span(
        1,
        1,
        None,
        "GET /cart",
        vec![
            array(
                "tags",
                vec![
                    Value::StringValue("red".into()),
                    Value::StringValue("green".into()),
                ],
            ),
            array("codes", vec![Value::IntValue(200), Value::IntValue(404)]),
            KeyValue::string("span.literal", "dotted"),
            KeyValue::string("literal", "plain"),
            KeyValue::string("note", ""),
        ],
    );
    let child = span(
        1,
        2,
        Some(1),
        "",
        vec![array("tags", vec![Value::StringValue("blue".into())])],
    );
    let orphan = span(
        2,
        2,
        Some(1),
        "charge",
        vec![KeyValue::string("note", "paid")],
    );
    vec![
        resource("cart", vec![root, child]),
        resource("billing", vec![orphan]),
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

/// The values of a v2 answer, as `type:value`.
fn typed(answer: &Json) -> Vec<String> {
    answer["tagValues"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .map(|v| {
                    format!(
                        "{}:{}",
                        v["type"].as_str().unwrap(),
                        v["value"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn arrays_list_their_elements() {
    head_and_blocks(|api, place| {
        assert_eq!(
            typed(&api.json("/api/v2/search/tag/span.tags/values")),
            ["string:blue", "string:green", "string:red"],
            "{place}"
        );
        assert_eq!(
            typed(&api.json("/api/v2/search/tag/.codes/values")),
            ["int:200", "int:404"],
            "{place}"
        );
        assert_eq!(
            api.json("/api/search/tag/tags/values"),
            json!({ "tagValues": ["blue", "green", "red"] }),
            "{place}"
        );
        // Filtered: the elements of the spans meeting the query.
        let q = encode(r#"{ name = "GET /cart" }"#);
        assert_eq!(
            typed(&api.json(&format!("/api/v2/search/tag/span.tags/values?q={q}"))),
            ["string:green", "string:red"],
            "{place}"
        );
    });
}

#[test]
fn durations_and_ids_list_no_values() {
    head_and_blocks(|api, place| {
        for tag in [
            "duration",
            "span:duration",
            "traceDuration",
            "trace:duration",
            "trace:id",
            "span:id",
            "span:parentID",
            "link:traceID",
            "link:spanID",
        ] {
            assert_eq!(
                api.json(&format!("/api/v2/search/tag/{tag}/values")),
                json!({}),
                "{place}: {tag}"
            );
            let q = encode("{ }");
            assert_eq!(
                api.json(&format!("/api/v2/search/tag/{tag}/values?q={q}")),
                json!({}),
                "{place}: {tag} filtered"
            );
        }
    });
}

#[test]
fn the_intrinsic_names_are_tempos() {
    head_and_blocks(|api, place| {
        assert_eq!(
            api.json("/api/v2/search/tags?scope=intrinsic"),
            json!({ "scopes": [{ "name": "intrinsic", "tags": [
                "duration", "event:name", "event:timeSinceStart", "instrumentation:name",
                "instrumentation:version", "kind", "name", "rootName", "rootServiceName",
                "span:duration", "span:kind", "span:name", "span:status", "span:statusMessage",
                "status", "statusMessage", "trace:duration", "trace:rootName",
                "trace:rootService", "traceDuration"
            ]}]}),
            "{place}"
        );
    });
}

#[test]
fn the_first_api_takes_a_tag_name_literally() {
    head_and_blocks(|api, place| {
        // An attribute named `span.literal`, not the span attribute `literal`.
        assert_eq!(
            api.json("/api/search/tag/span.literal/values"),
            json!({ "tagValues": ["dotted"] }),
            "{place}"
        );
        assert_eq!(
            api.json("/api/search/tag/literal/values"),
            json!({ "tagValues": ["plain"] }),
            "{place}"
        );
        // The second API reads a TraceQL identifier.
        assert_eq!(
            typed(&api.json("/api/v2/search/tag/span.literal/values")),
            ["string:plain"],
            "{place}"
        );
        // `name` and `status.code` are the span's, as Tempo's first API has them.
        assert_eq!(
            api.json("/api/search/tag/name/values"),
            json!({ "tagValues": ["", "GET /cart", "charge"] }),
            "{place}"
        );
        let status = api.json("/api/search/tag/status.code/values");
        assert_eq!(
            status,
            json!({ "tagValues": ["error", "ok", "unset"] }),
            "{place}"
        );
    });
}

#[test]
fn the_empty_string_is_a_value_where_spans_carry_it() {
    head_and_blocks(|api, place| {
        assert_eq!(
            typed(&api.json("/api/v2/search/tag/span.note/values")),
            ["string:", "string:paid"],
            "{place}"
        );
        assert_eq!(
            typed(&api.json("/api/v2/search/tag/name/values")),
            ["string:", "string:GET /cart", "string:charge"],
            "{place}"
        );
        // No span has a status message: none is listed.
        assert_eq!(
            api.json("/api/v2/search/tag/statusMessage/values"),
            json!({}),
            "{place}"
        );
        // The trace without its root has an empty root service and root name.
        assert_eq!(
            typed(&api.json("/api/v2/search/tag/rootServiceName/values")),
            ["string:", "string:cart"],
            "{place}"
        );
        assert_eq!(
            typed(&api.json("/api/v2/search/tag/trace:rootName/values")),
            ["string:", "string:GET /cart"],
            "{place}"
        );
    });
}

#[test]
fn a_query_lists_only_what_its_spans_carry() {
    head_and_blocks(|api, place| {
        let q = encode(r#"{ resource.service.name = "billing" }"#);
        let names = api.json(&format!("/api/v2/search/tags?q={q}"));
        let scopes: Vec<&str> = names["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            scopes,
            ["resource", "span", "intrinsic"],
            "{place}: {names}"
        );
        assert_eq!(
            names["scopes"][0]["tags"],
            json!(["service.name"]),
            "{place}"
        );
        assert_eq!(names["scopes"][1]["tags"], json!(["note"]), "{place}");
        // One scope asked for: that scope only, whatever the query names.
        assert_eq!(
            api.json(&format!("/api/v2/search/tags?scope=span&q={q}")),
            json!({ "scopes": [{ "name": "span", "tags": ["note"] }] }),
            "{place}"
        );
        assert_eq!(
            api.json(&format!("/api/v2/search/tags?scope=event&q={q}")),
            json!({}),
            "{place}"
        );
        // A query no span meets lists no attribute.
        let none = encode(r#"{ resource.service.name = "nope" }"#);
        assert_eq!(
            api.json(&format!("/api/v2/search/tags?scope=resource&q={none}")),
            json!({}),
            "{place}"
        );
        assert_eq!(
            typed(&api.json(&format!("/api/v2/search/tag/span.note/values?q={q}"))),
            ["string:paid"],
            "{place}"
        );
    });
}
