//! Requests are read as Tempo reads them: a search bound without the other is refused with
//! Tempo's message, and attribute keys and string values longer than `max_attribute_bytes`
//! (Tempo's ingestion limit: 2048 bytes by default, per tenant in the overrides) are
//! truncated at ingest and counted in `tempo_distributor_attributes_truncated_total`.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use common::embedded::Embedded;
use common::spans::{encode, request, trace_id};
use common::{Server, http_call, spans_of};
use serde_json::json;
use tempo_core::model::{KeyValue, ResourceSpans};

#[test]
fn a_search_bound_without_the_other_is_refused_as_tempo_refuses_it() {
    let api = Embedded::start();
    api.ingest(request("checkout", &[trace_id(1, 0)], 1).resource_spans);
    // Tempo reads a missing bound as 0: `start` alone is a range ending before it starts...
    assert_eq!(
        api.bad_request("/api/search?start=1700000000"),
        "http parameter start must be before end. received start=1700000000 end=0"
    );
    assert_eq!(
        api.bad_request("/api/search?q=%7B%7D&start=1700000000&end=0"),
        "http parameter start must be before end. received start=1700000000 end=0"
    );
    // ...and `end` alone a range from 1970, longer than Tempo's longest search (168 h).
    assert_eq!(
        api.bad_request("/api/search?end=1700000000"),
        "range specified by start and end exceeds 168h0m0s. received start=0 end=1700000000"
    );
    assert_eq!(
        api.bad_request("/api/search?start=0&end=1700000000"),
        "range specified by start and end exceeds 168h0m0s. received start=0 end=1700000000"
    );
    // Both, or neither, are a search.
    let all = api.json("/api/search?start=0&end=0");
    assert_eq!(all["traces"].as_array().unwrap().len(), 1, "{all}");
    let range = api.json("/api/search?start=1699999999&end=1700000001");
    assert_eq!(range["traces"].as_array().unwrap().len(), 1, "{range}");
}

/// A span whose attributes and resource carry `value` under a short key, and a long key.
fn with_long_attributes(value: &str, long_key: &str) -> Vec<ResourceSpans> {
    let mut data = request("checkout", &[trace_id(2, 0)], 1);
    let rs = &mut data.resource_spans[0];
    if let Some(r) = rs.resource.as_mut() {
        r.attributes.push(KeyValue::string("host.note", value));
    }
    let span = &mut rs.scope_spans[0].spans[0];
    span.attributes = vec![
        KeyValue::string("note", value),
        KeyValue::string(long_key, "x"),
        KeyValue::int("count", 7),
    ];
    data.resource_spans
}

/// The string values of a v1 trace's span (and resource) attributes, by key.
fn strings_of(trace: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
    let batch = &trace["batches"][0];
    let mut out: Vec<(String, serde_json::Value)> = batch["resource"]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .chain(spans_of(trace)[0]["attributes"].as_array().unwrap())
        .map(|kv| (kv["key"].as_str().unwrap().to_owned(), kv["value"].clone()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn long_attributes_are_truncated_at_ingest_in_the_head_and_in_blocks() {
    let api = Embedded::start_with(|b| b.max_attribute_bytes(13));
    // "é" is two bytes: a cut at thirteen would split the fifth one.
    let value = "abcdéééééé";
    let key = "a.very.long.key";
    api.ingest(with_long_attributes(value, key));
    assert_eq!(api.store.stats().attributes_truncated, 3);
    let id = hex::encode(trace_id(2, 0));
    let want = vec![
        ("a.very.long.k".to_owned(), json!({"stringValue": "x"})),
        ("count".to_owned(), json!({"intValue": "7"})),
        ("host.note".to_owned(), json!({"stringValue": "abcdéééé"})),
        ("note".to_owned(), json!({"stringValue": "abcdéééé"})),
        (
            "service.name".to_owned(),
            json!({"stringValue": "checkout"}),
        ),
    ];
    let from_head = api.json(&format!("/api/traces/{id}"));
    assert_eq!(strings_of(&from_head), want, "head");
    api.flush();
    let from_blocks = api.json(&format!("/api/traces/{id}"));
    assert_eq!(strings_of(&from_blocks), want, "blocks");
    // Search sees the value as stored.
    let found = api.search(r#"{ span.note = "abcdéééé" }"#, "");
    assert_eq!(found["traces"].as_array().unwrap().len(), 1, "{found}");
}

#[test]
fn the_limit_is_tempos_per_tenant_override_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let overrides = dir.path().join("overrides.yaml");
    // One tenant in Tempo's current shape, another in the legacy flat one.
    std::fs::write(
        &overrides,
        "overrides:\n  team-a:\n    ingestion:\n      max_attribute_bytes: 4\n  \
         team-b:\n    ingestion_max_attribute_bytes: 0\n",
    )
    .unwrap();
    let server = Server::start_in(
        dir.path(),
        &format!(
            "multitenancy_enabled: true\noverrides:\n  defaults:\n    ingestion:\n      \
             max_attribute_bytes: 6\n  per_tenant_override_config: {}\n",
            overrides.display()
        ),
    );
    let value = "0123456789";
    let data = tempo_core::model::TracesData {
        resource_spans: with_long_attributes(value, "k"),
    };
    for tenant in ["team-a", "team-b", "team-c"] {
        let (status, _, body) = http_call(
            "POST",
            &server.otlp_http(),
            &[
                ("content-type", "application/x-protobuf"),
                ("x-scope-orgid", tenant),
            ],
            Some(&encode(&data)),
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    let id = hex::encode(trace_id(2, 0));
    let note = |tenant: &str| {
        let (status, _, body) =
            server.get(&format!("/api/traces/{id}"), &[("x-scope-orgid", tenant)]);
        assert_eq!(status, 200, "{tenant}");
        let trace: serde_json::Value = serde_json::from_slice(&body).unwrap();
        strings_of(&trace)
            .into_iter()
            .find(|(k, _)| k == "note")
            .unwrap()
            .1
    };
    assert_eq!(note("team-a"), json!({"stringValue": "0123"}));
    assert_eq!(note("team-b"), json!({"stringValue": value}), "0: no limit");
    assert_eq!(
        note("team-c"),
        json!({"stringValue": "012345"}),
        "the default"
    );
    // team-a: the two notes, the keys "service.name", "host.note" and "count", and
    // "checkout"; team-c: the same but for "count".
    assert_eq!(
        server.metric("tempo_distributor_attributes_truncated_total"),
        6 + 5
    );
}
