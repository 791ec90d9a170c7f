//! With multi-tenancy on, `X-Scope-OrgID: a|b` queries both tenants on every query endpoint
//! and combines their answers, as Tempo's cross-tenant query federation does: a trace's parts
//! make one trace, searches merge newest first with the limit applied once, tags are sorted
//! unions. Repeated tenants count once; an invalid or empty tenant ID is a 400 naming it;
//! writes naming several tenants are refused; `multi_tenant_queries_enabled: false` turns it
//! off.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use common::spans::encode;
use common::{Server, http_call, spans_of};
use serde_json::Value as Json;
use tempo_core::model::{KeyValue, Resource, ResourceSpans, ScopeSpans, Span, Status, TracesData};

const BASE: u64 = 1_700_000_000_000_000_000;
const SEC: u64 = 1_000_000_000;

/// Trace IDs: one per tenant, and one whose spans were sent to both.
const ONLY_A: [u8; 16] = [0xaa; 16];
const ONLY_B: [u8; 16] = [0xbb; 16];
const SHARED: [u8; 16] = [0x5e; 16];

/// One resource of `service` with spans `(id, kind, error)` of trace `trace`, from `start`.
fn trace(service: &str, trace: [u8; 16], start: u64, spans: &[(u8, i32, bool)]) -> TracesData {
    TracesData {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue::string("service.name", service)],
                dropped_attributes_count: 0,
            }),
            scope_spans: vec![ScopeSpans {
                spans: spans
                    .iter()
                    .map(|&(id, kind, error)| Span {
                        trace_id: trace.to_vec(),
                        span_id: vec![id; 8],
                        parent_span_id: if id == 1 { Vec::new() } else { vec![1; 8] },
                        name: format!("{service}-{id}"),
                        kind,
                        start_time_unix_nano: start + u64::from(id) * 1_000,
                        end_time_unix_nano: start + u64::from(id) * 1_000 + 500,
                        attributes: vec![KeyValue::string("team", service)],
                        status: Some(Status {
                            code: if error { 2 } else { 0 },
                            message: String::new(),
                        }),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
}

fn ingest(server: &Server, tenant: &str, data: &TracesData) -> (u16, Vec<u8>) {
    let (status, _, body) = http_call(
        "POST",
        &server.otlp_http(),
        &[
            ("content-type", "application/x-protobuf"),
            ("x-scope-orgid", tenant),
        ],
        Some(&encode(data)),
    );
    (status, body)
}

/// Tenant `a`: its own trace (t = 10 s) and spans 1, 2 of the shared trace (t = 0 s).
/// Tenant `b`: its own trace (t = 20 s) and spans 2 (again), 3 of the shared trace.
fn start() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), "multitenancy_enabled: true\n");
    for (tenant, data) in [
        (
            "a",
            trace("alpha", ONLY_A, BASE + 10 * SEC, &[(1, 2, false)]),
        ),
        (
            "a",
            trace("alpha", SHARED, BASE, &[(1, 2, false), (2, 3, true)]),
        ),
        (
            "b",
            trace("beta", ONLY_B, BASE + 20 * SEC, &[(1, 2, false)]),
        ),
        (
            "b",
            trace("beta", SHARED, BASE, &[(2, 3, true), (3, 3, false)]),
        ),
    ] {
        let (status, body) = ingest(&server, tenant, &data);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    (server, dir)
}

fn get(server: &Server, path: &str, tenant: &str) -> (u16, String) {
    let (status, _, body) = server.get(path, &[("x-scope-orgid", tenant)]);
    (status, String::from_utf8(body).unwrap())
}

fn get_json(server: &Server, path: &str, tenant: &str) -> Json {
    let (status, body) = get(server, path, tenant);
    assert_eq!(status, 200, "{path} as {tenant}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn trace_ids(found: &Json) -> Vec<String> {
    found["traces"]
        .as_array()
        .map(|t| {
            t.iter()
                .map(|t| t["traceID"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn strings(v: &Json) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

fn span_names(trace: &Json) -> Vec<String> {
    let mut names: Vec<String> = spans_of(trace)
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn queries_naming_several_tenants_combine_their_answers() {
    let (server, _dir) = start();
    let shared = format!("/api/traces/{}", hex::encode(SHARED));

    // --- Trace by ID: the parts of both tenants, each span once.
    let a = get_json(&server, &shared, "a");
    assert_eq!(span_names(&a), ["alpha-1", "alpha-2"]);
    let both = get_json(&server, &shared, "a|b");
    assert_eq!(
        span_names(&both),
        ["alpha-1", "alpha-2", "beta-3"],
        "span 2 was sent to both tenants: it is there once"
    );
    // Repeated tenants count once, in any order.
    assert_eq!(get_json(&server, &shared, "b|a|a|b"), both);
    // Found in one tenant only: found.
    let only_b = format!("/api/traces/{}", hex::encode(ONLY_B));
    assert_eq!(span_names(&get_json(&server, &only_b, "a|b")), ["beta-1"]);
    assert_eq!(get(&server, &only_b, "a").0, 404);
    // Found in none: v1 404 with no body, v2 an empty trace.
    let nowhere = hex::encode([0x99u8; 16]);
    assert_eq!(
        get(&server, &format!("/api/traces/{nowhere}"), "a|b"),
        (404, String::new())
    );
    assert_eq!(
        get(&server, &format!("/api/v2/traces/{nowhere}"), "a|b"),
        (200, r#"{"trace":{},"metrics":{}}"#.to_owned())
    );
    let v2 = get_json(
        &server,
        &format!("/api/v2/traces/{}", hex::encode(SHARED)),
        "a|b",
    );
    let v2 = serde_json::json!({"batches": v2["trace"]["resourceSpans"]});
    assert_eq!(span_names(&v2), span_names(&both));

    // --- Search: newest first across tenants, the limit applied once, metrics added up.
    let all = get_json(&server, "/api/search", "a|b");
    assert_eq!(
        trace_ids(&all),
        [
            hex::encode(ONLY_B),
            hex::encode(ONLY_A),
            hex::encode(SHARED)
        ]
    );
    let newest = get_json(&server, "/api/search?limit=2", "a|b");
    assert_eq!(
        trace_ids(&newest),
        [hex::encode(ONLY_B), hex::encode(ONLY_A)]
    );
    let inspected = |found: &Json| found["metrics"]["inspectedTraces"].as_u64().unwrap();
    let (in_a, in_b) = (
        get_json(&server, "/api/search", "a"),
        get_json(&server, "/api/search", "b"),
    );
    assert_eq!(inspected(&all), inspected(&in_a) + inspected(&in_b));
    // The shared trace matched in both tenants is one result, with both services.
    let errors = get_json(
        &server,
        "/api/search?q=%7B%20span.team%20%3D%20%22beta%22%20%7C%7C%20status%20%3D%20error%20%7D",
        "a|b",
    );
    assert_eq!(
        trace_ids(&errors),
        [hex::encode(ONLY_B), hex::encode(SHARED)]
    );
    let shared_hit = &errors["traces"][1];
    let stats = shared_hit["serviceStats"].as_object().unwrap();
    assert!(
        stats.contains_key("alpha") && stats.contains_key("beta"),
        "{shared_hit}"
    );
    assert_eq!(
        trace_ids(&get_json(&server, "/api/search", "b|a|b")),
        trace_ids(&all)
    );

    // --- Tag names and values: sorted unions, the limit applied once.
    let values = get_json(&server, "/api/search/tag/team/values", "a|b");
    assert_eq!(strings(&values["tagValues"]), ["alpha", "beta"]);
    let values = get_json(&server, "/api/search/tag/team/values?limit=1", "a|b");
    assert_eq!(strings(&values["tagValues"]), ["alpha"]);
    let values = get_json(
        &server,
        "/api/v2/search/tag/resource.service.name/values",
        "a|b",
    );
    assert_eq!(
        values["tagValues"],
        serde_json::json!([
            {"type": "string", "value": "alpha"},
            {"type": "string", "value": "beta"}
        ])
    );
    let names = get_json(&server, "/api/v2/search/tag/name/values", "a|b");
    assert_eq!(names["tagValues"].as_array().unwrap().len(), 5);
    let v1 = get_json(&server, "/api/search/tags?scope=span", "a|b");
    assert_eq!(strings(&v1["tagNames"]), ["team"]);
    let v2 = get_json(&server, "/api/v2/search/tags?scope=resource", "a|b");
    assert_eq!(
        v2,
        serde_json::json!({"scopes": [{"name": "resource", "tags": ["service.name"]}]})
    );
    let filtered = get_json(
        &server,
        "/api/v2/search/tag/name/values?q=%7B%20span.team%20%3D%20%22beta%22%20%7D",
        "a|b",
    );
    assert_eq!(filtered["tagValues"].as_array().unwrap().len(), 3);
}

#[test]
fn bad_tenant_lists_are_refused_naming_the_bad_tenant() {
    let (server, _dir) = start();
    for path in [
        "/api/traces/5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e".to_owned(),
        "/api/v2/traces/5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e".to_owned(),
        "/api/search".to_owned(),
        "/api/search/tags".to_owned(),
        "/api/v2/search/tags".to_owned(),
        "/api/search/tag/team/values".to_owned(),
        "/api/v2/search/tag/span.team/values".to_owned(),
    ] {
        assert_eq!(get(&server, &path, "a|b").0, 200, "{path}");
        let (status, body) = get(&server, &path, "a|../etc");
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(
            body,
            r#"X-Scope-OrgID "a|../etc", tenant 2 of the list: invalid tenant ID "../etc": it contains '/'; allowed are letters, digits and !-_.*'()"#,
            "{path}"
        );
        let (status, body) = get(&server, &path, "a||b");
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(
            body,
            r#"X-Scope-OrgID "a||b", tenant 2 of the list: invalid tenant ID "": it is empty"#
        );
        let (status, body) = get(&server, &path, "a|");
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("tenant 2 of the list"), "{body}");
        let (status, body) = get(&server, &path, "a|.");
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("'.' or '..'"), "{body}");
        let (status, body) = get(&server, &path, "");
        assert_eq!((status, body.as_str()), (401, "no org id\n"), "{path}");
    }
}

#[test]
fn writes_naming_several_tenants_are_refused() {
    let (server, _dir) = start();
    let data = trace("gamma", [0x77; 16], BASE, &[(1, 2, false)]);
    let (status, body) = ingest(&server, "a|b", &data);
    assert_eq!(status, 400);
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains(r#"invalid tenant ID "a|b": it contains '|'"#),
        "{body}"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = rt
        .block_on(common::grpc::export(
            &server.otlp_grpc(),
            encode(&data),
            Some("a|b"),
        ))
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("it contains '|'"),
        "{}",
        err.message()
    );
    // Nothing was written to either tenant.
    let path = format!("/api/traces/{}", hex::encode([0x77u8; 16]));
    assert_eq!(get(&server, &path, "a|b").0, 404);
}

#[test]
fn federation_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(
        dir.path(),
        "multitenancy_enabled: true\nquery_frontend:\n  multi_tenant_queries_enabled: false\n",
    );
    let (status, body) = get(&server, "/api/search", "a|b");
    assert_eq!(status, 400);
    assert_eq!(
        body,
        r#"invalid tenant ID "a|b": it contains '|'; allowed are letters, digits and !-_.*'() (queries across tenants are off: query_frontend.multi_tenant_queries_enabled)"#
    );
    assert_eq!(get(&server, "/api/search", "a").0, 200);
}
