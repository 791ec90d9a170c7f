//! `GET /api/search`, `/api/search/tags`, `/api/v2/search/tags` and the tag value endpoints
//! answer with Tempo's JSON shapes, field by field; bad parameters are 400s that say what is
//! wrong; each route's latency is recorded; tenants see only their own traces and tags.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use common::spans::encode;
use common::{Server, http_call};
use serde_json::{Value as Json, json};
use tempo_core::model::{
    AnyValue, InstrumentationScope, KeyValue, Resource, ResourceSpans, ScopeSpans, Span, Status,
    TracesData, Value,
};

/// 2023-11-14T22:13:20Z, in nanoseconds.
const BASE: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;

/// Trace IDs with leading zero bytes, to see them trimmed.
const CHECKOUT: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0xbc, 0x01];
const CART: [u8; 16] = [0x12; 16];
const ORPHAN: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0x07, 0, 0, 0, 0, 0, 0, 0x03];

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
    }
}

fn typed(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
    }
}

struct SpanSpec {
    id: [u8; 8],
    parent: Option<[u8; 8]>,
    name: &'static str,
    start_ms: u64,
    duration_ms: u64,
    error: bool,
    attributes: Vec<KeyValue>,
}

fn batch(base: u64, service: &str, trace: [u8; 16], spans: Vec<SpanSpec>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![
                string("service.name", service),
                string("deployment.environment", "prod"),
            ],
            dropped_attributes_count: 0,
        }),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: "search-api-test".into(),
                ..Default::default()
            }),
            spans: spans
                .into_iter()
                .map(|s| Span {
                    trace_id: trace.to_vec(),
                    span_id: s.id.to_vec(),
                    parent_span_id: s.parent.map(|p| p.to_vec()).unwrap_or_default(),
                    name: s.name.into(),
                    kind: if s.parent.is_none() { 2 } else { 3 },
                    start_time_unix_nano: base + s.start_ms * MS,
                    end_time_unix_nano: base + (s.start_ms + s.duration_ms) * MS,
                    attributes: s.attributes,
                    status: Some(Status {
                        code: if s.error { 2 } else { 0 },
                        message: String::new(),
                    }),
                    ..Default::default()
                })
                .collect(),
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

/// Three traces, oldest first, from [`BASE`]:
/// - checkout (t = 0 s, 1.5 s): `POST /checkout` with an error child `db query`;
/// - cart (t = 10 s, 250 ms): `GET /cart`;
/// - orphan (t = 20 s, 40 ms): a `cart` span whose root never arrived.
fn traces() -> TracesData {
    traces_at(BASE)
}

/// The same traces from `base` (unix nanoseconds).
fn traces_at(base: u64) -> TracesData {
    let root = [0, 0, 0, 0, 0, 0, 0x12, 0x34];
    TracesData {
        resource_spans: vec![
            batch(
                base,
                "checkout",
                CHECKOUT,
                vec![
                    SpanSpec {
                        id: root,
                        parent: None,
                        name: "POST /checkout",
                        start_ms: 0,
                        duration_ms: 1500,
                        error: false,
                        attributes: vec![
                            string("http.method", "POST"),
                            typed("http.status_code", Value::IntValue(500)),
                            typed("retry", Value::BoolValue(true)),
                        ],
                    },
                    SpanSpec {
                        id: [0xd1; 8],
                        parent: Some(root),
                        name: "db query",
                        start_ms: 200,
                        duration_ms: 500,
                        error: true,
                        attributes: vec![string("db.system", "postgres")],
                    },
                ],
            ),
            batch(
                base,
                "cart",
                CART,
                vec![SpanSpec {
                    id: [0xc1; 8],
                    parent: None,
                    name: "GET /cart",
                    start_ms: 10_000,
                    duration_ms: 250,
                    error: false,
                    attributes: vec![
                        string("http.method", "GET"),
                        typed("http.status_code", Value::IntValue(200)),
                        typed("retry", Value::BoolValue(false)),
                    ],
                }],
            ),
            batch(
                base,
                "cart",
                ORPHAN,
                vec![SpanSpec {
                    id: [0x0f; 8],
                    parent: Some([0xee; 8]),
                    name: "load cart",
                    start_ms: 20_000,
                    duration_ms: 40,
                    error: false,
                    attributes: vec![string("http.method", "GET")],
                }],
            ),
        ],
    }
}

fn ingest(server: &Server, data: &TracesData, headers: &[(&str, &str)]) {
    let mut all = vec![("content-type", "application/x-protobuf")];
    all.extend_from_slice(headers);
    let (status, _, body) = http_call("POST", &server.otlp_http(), &all, Some(&encode(data)));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

/// Percent-encodes a query parameter value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// GET returning 200 JSON.
fn get_json(server: &Server, path: &str, headers: &[(&str, &str)]) -> Json {
    let (status, ct, body) = server.get(path, headers);
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "GET {path}: {text}");
    assert_eq!(ct, "application/json", "GET {path}");
    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {text}"))
}

/// GET expecting a 400; returns the plain-text message.
fn get_400(server: &Server, path: &str) -> String {
    let (status, ct, body) = server.get(path, &[]);
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 400, "GET {path}: {text}");
    assert!(ct.starts_with("text/plain"), "GET {path}: {ct}");
    text
}

fn search(server: &Server, params: &str) -> Json {
    get_json(server, &format!("/api/search?{params}"), &[])
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

/// An object's keys, sorted (serde_json's map does not keep the order).
fn keys(v: &Json) -> Vec<&str> {
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

/// Checks that `names` appear as JSON keys in this order in `text`, from `from` on.
fn assert_key_order(text: &str, from: usize, names: &[&str]) {
    let mut at = from;
    for name in names {
        let key = format!("\"{name}\":");
        let found = text[at..]
            .find(&key)
            .unwrap_or_else(|| panic!("{key} missing or out of order in {}", &text[from..]));
        at += found + key.len();
    }
}

fn strings(v: &Json) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

const CHECKOUT_HEX: &str = "abc01";
const CART_HEX: &str = "12121212121212121212121212121212";
const ORPHAN_HEX: &str = "700000000000003";

#[test]
fn search_and_tags_answer_as_tempo() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), "");
    ingest(&server, &traces(), &[]);

    // --- TraceQL search: every field of a match.
    let path = format!("/api/search?q={}", enc("{ status = error }"));
    let found = get_json(&server, &path, &[]);
    assert_eq!(keys(&found), ["metrics", "traces"]);
    // Fields in the order of Tempo's messages, as jsonpb writes them.
    let raw = String::from_utf8(server.get(&path, &[]).2).unwrap();
    assert_key_order(
        &raw,
        0,
        &[
            "traces",
            "traceID",
            "rootServiceName",
            "rootTraceName",
            "startTimeUnixNano",
            "durationMs",
            "spanSet",
            "spanSets",
            "serviceStats",
            "metrics",
        ],
    );
    let spans_at = raw.find("\"spans\":").unwrap();
    assert_key_order(
        &raw,
        spans_at,
        &[
            "spanID",
            "name",
            "startTimeUnixNano",
            "durationNanos",
            "attributes",
            "matched",
        ],
    );
    let traces = found["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 1, "{found}");
    let t = &traces[0];
    assert_eq!(
        keys(t),
        [
            "durationMs",
            "rootServiceName",
            "rootTraceName",
            "serviceStats",
            "spanSet",
            "spanSets",
            "startTimeUnixNano",
            "traceID",
        ]
    );
    assert_eq!(t["traceID"], CHECKOUT_HEX);
    assert_eq!(t["rootServiceName"], "checkout");
    assert_eq!(t["rootTraceName"], "POST /checkout");
    assert_eq!(t["startTimeUnixNano"], BASE.to_string());
    assert_eq!(t["durationMs"], 1500);
    assert_eq!(
        t["serviceStats"],
        json!({"checkout": {"spanCount": 2, "errorCount": 1}})
    );
    let sets = t["spanSets"].as_array().unwrap();
    assert_eq!(sets.len(), 1);
    assert_eq!(
        t["spanSet"], sets[0],
        "the deprecated field is the first spanset"
    );
    assert_eq!(sets[0]["matched"], 1);
    let span = &sets[0]["spans"][0];
    assert_eq!(span["spanID"], "d1d1d1d1d1d1d1d1");
    assert_eq!(span["name"], "db query");
    assert_eq!(span["startTimeUnixNano"], (BASE + 200 * MS).to_string());
    assert_eq!(span["durationNanos"], (500 * MS).to_string());
    let metrics = &found["metrics"];
    assert!(
        metrics["inspectedTraces"].as_u64().unwrap() >= 3,
        "{metrics}"
    );
    assert!(metrics["totalJobs"].as_u64().unwrap() >= 1, "{metrics}");
    assert!(metrics["completedJobs"].as_u64().unwrap() >= 1, "{metrics}");
    let inspected_spans: u64 = metrics["inspectedSpans"].as_str().unwrap().parse().unwrap();
    assert!(inspected_spans >= 4, "{metrics}");
    if let Some(bytes) = metrics.get("inspectedBytes") {
        assert!(bytes.as_str().unwrap().parse::<u64>().unwrap() > 0);
    }
    for (key, value) in metrics.as_object().unwrap() {
        assert!(
            [
                "inspectedTraces",
                "inspectedBytes",
                "totalBlocks",
                "completedJobs",
                "totalJobs",
                "totalBlockBytes",
                "inspectedSpans"
            ]
            .contains(&key.as_str()),
            "unknown metric {key}: {value}"
        );
    }

    // Attribute values are OTLP AnyValues: ints as strings, bools as booleans.
    let found = search(
        &server,
        &format!(
            "q={}",
            enc("{ span.http.status_code = 500 && span.retry = true }")
        ),
    );
    assert_eq!(trace_ids(&found), [CHECKOUT_HEX]);
    let attrs = found["traces"][0]["spanSets"][0]["spans"][0]["attributes"]
        .as_array()
        .unwrap();
    let attr = |key: &str| {
        attrs
            .iter()
            .find(|a| a["key"].as_str().unwrap().ends_with(key))
            .unwrap_or_else(|| panic!("no {key} in {attrs:?}"))["value"]
            .clone()
    };
    assert_eq!(attr("http.status_code"), json!({"intValue": "500"}));
    assert_eq!(attr("retry"), json!({"boolValue": true}));
    assert_eq!(
        found["traces"][0]["spanSets"][0]["spans"][0]["spanID"],
        "0000000000001234"
    );

    // --- Newest first, limit, spans per spanset.
    let all = search(&server, "");
    assert_eq!(trace_ids(&all), [ORPHAN_HEX, CART_HEX, CHECKOUT_HEX]);
    let orphan = &all["traces"][0];
    assert_eq!(orphan["rootServiceName"], "<root span not yet received>");
    assert!(orphan.get("rootTraceName").is_none(), "{orphan}");
    assert_eq!(orphan["durationMs"], 40);
    assert_eq!(orphan["serviceStats"], json!({"cart": {"spanCount": 1}}));
    assert_eq!(
        trace_ids(&search(&server, "q=%7B%7D&limit=2")),
        [ORPHAN_HEX, CART_HEX]
    );
    let one_span = search(&server, &format!("q={}&spss=1", enc("{ }")));
    let checkout = &one_span["traces"][2];
    assert_eq!(checkout["traceID"], CHECKOUT_HEX);
    assert_eq!(checkout["spanSets"][0]["matched"], 2);
    assert_eq!(
        checkout["spanSets"][0]["spans"].as_array().unwrap().len(),
        1
    );

    // --- Durations and time ranges.
    assert_eq!(
        trace_ids(&search(&server, "minDuration=1s")),
        [CHECKOUT_HEX]
    );
    assert_eq!(
        trace_ids(&search(&server, "maxDuration=100ms")),
        [ORPHAN_HEX]
    );
    assert_eq!(
        trace_ids(&search(&server, "minDuration=200ms&maxDuration=1.2s")),
        [CART_HEX]
    );
    let base_s = BASE / 1_000_000_000;
    assert_eq!(
        trace_ids(&search(
            &server,
            &format!("start={}&end={}", base_s + 5, base_s + 30)
        )),
        [ORPHAN_HEX, CART_HEX]
    );
    let none = search(&server, &format!("q={}", enc("{ .nope = 1 }")));
    assert_eq!(
        keys(&none),
        ["metrics", "traces"],
        "no traces: an empty list"
    );
    assert_eq!(none["traces"], json!([]));

    // --- Legacy tag search (logfmt).
    let tags = |t: &str| trace_ids(&search(&server, &format!("tags={}", enc(t))));
    assert_eq!(tags("service.name=cart"), [ORPHAN_HEX, CART_HEX]);
    assert_eq!(tags("service.name=check"), [CHECKOUT_HEX], "a substring");
    assert_eq!(tags("http.method=POST"), [CHECKOUT_HEX]);
    assert_eq!(tags("http.method=POS"), Vec::<String>::new(), "exact");
    assert_eq!(tags(r#"name="GET /cart" status.code=unset"#), [CART_HEX]);
    assert_eq!(tags("status.code=error db.system=postgres"), [CHECKOUT_HEX]);
    assert_eq!(tags("http.status_code=200"), [CART_HEX]);
    assert_eq!(tags("root.service.name=checkout"), [CHECKOUT_HEX]);
    assert_eq!(
        trace_ids(&search(
            &server,
            &format!("tags={}&minDuration=100ms", enc("service.name=cart"))
        )),
        [CART_HEX]
    );

    // --- Bad requests: 400 with a message.
    let bad_q = get_400(&server, &format!("/api/search?q={}", enc("{ .a = }")));
    assert!(bad_q.contains("{ .a = }"), "{bad_q}");
    assert!(bad_q.contains('^'), "the caret under the error: {bad_q}");
    assert!(
        get_400(&server, "/api/search?q=%7B%7D&tags=a%3Db").contains("can't specify tags and q")
    );
    assert!(get_400(&server, "/api/search?limit=abc").starts_with("invalid limit"));
    assert_eq!(
        get_400(&server, "/api/search?limit=0"),
        "invalid limit: must be a positive number"
    );
    assert!(get_400(&server, "/api/search?spss=-1").starts_with("invalid spss"));
    assert!(get_400(&server, "/api/search?minDuration=5x").starts_with("invalid minDuration"));
    assert!(get_400(&server, "/api/search?maxDuration=10").starts_with("invalid maxDuration"));
    assert!(get_400(&server, "/api/search?start=20&end=10").contains("start must be before end"));
    assert!(get_400(&server, "/api/search?start=abc").starts_with("invalid start"));
    assert!(
        get_400(&server, &format!("/api/search?tags={}", enc(r#"a="open"#)))
            .starts_with("invalid tags")
    );
    assert!(
        get_400(&server, &format!("/api/search?tags={}", enc("a=1 a=2"))).contains("set twice")
    );
    // A metrics query is not a search.
    let metrics_query = get_400(&server, &format!("/api/search?q={}", enc("{ } | rate()")));
    assert!(!metrics_query.is_empty());

    // --- Tag names, v1: one sorted list, no intrinsics unless asked for.
    let v1 = get_json(&server, "/api/search/tags", &[]);
    assert_eq!(keys(&v1), ["tagNames"]);
    let names = strings(&v1["tagNames"]);
    for name in [
        "db.system",
        "deployment.environment",
        "http.method",
        "http.status_code",
        "retry",
        "service.name",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert!(!names.contains(&"status"), "{names:?}");
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(names, sorted, "sorted, no duplicates");
    let span_names = get_json(&server, "/api/search/tags?scope=span", &[]);
    let span_names = strings(&span_names["tagNames"]);
    assert!(span_names.contains(&"http.method"));
    assert!(!span_names.contains(&"service.name"), "{span_names:?}");
    let intrinsics = get_json(&server, "/api/search/tags?scope=intrinsic", &[]);
    let intrinsics = strings(&intrinsics["tagNames"]);
    for name in ["name", "status", "duration", "kind"] {
        assert!(
            intrinsics.contains(&name),
            "{name} missing from {intrinsics:?}"
        );
    }
    let limited = get_json(&server, "/api/search/tags?limit=2", &[]);
    assert_eq!(strings(&limited["tagNames"]).len(), 2);
    assert_eq!(
        get_json(&server, "/api/search/tags?scope=event", &[]),
        json!({})
    );
    assert_eq!(
        get_400(&server, "/api/search/tags?scope=bogus"),
        "invalid scope: bogus"
    );
    assert!(get_400(&server, "/api/search/tags?limit=x").starts_with("invalid limit"));

    // --- Tag names, v2: per scope; empty scopes left out, intrinsics included.
    let v2 = get_json(&server, "/api/v2/search/tags", &[]);
    assert_eq!(keys(&v2), ["scopes"]);
    let scopes = v2["scopes"].as_array().unwrap();
    let scope_names: Vec<&str> = scopes.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(scope_names, ["resource", "span", "intrinsic"], "{v2}");
    for scope in scopes {
        assert_eq!(keys(scope), ["name", "tags"]);
    }
    let raw = String::from_utf8(server.get("/api/v2/search/tags", &[]).2).unwrap();
    assert_key_order(&raw, 0, &["scopes", "name", "tags"]);
    assert_eq!(
        strings(&scopes[0]["tags"]),
        ["deployment.environment", "service.name"]
    );
    assert_eq!(
        strings(&scopes[1]["tags"]),
        ["db.system", "http.method", "http.status_code", "retry"]
    );
    assert!(strings(&scopes[2]["tags"]).contains(&"status"));
    let resource = get_json(&server, "/api/v2/search/tags?scope=resource", &[]);
    assert_eq!(
        resource,
        json!({"scopes": [{"name": "resource", "tags": ["deployment.environment", "service.name"]}]})
    );
    let limited = get_json(&server, "/api/v2/search/tags?scope=span&limit=1", &[]);
    assert_eq!(limited["scopes"][0]["tags"].as_array().unwrap().len(), 1);
    // `q` keeps the names of the spans that meet it, even while it is being typed.
    for q in [
        r#"{ resource.service.name = "cart" }"#,
        r#"{ resource.service.name = "cart" && span.foo = "#,
    ] {
        let filtered = get_json(
            &server,
            &format!("/api/v2/search/tags?scope=span&q={}", enc(q)),
            &[],
        );
        assert_eq!(
            filtered,
            json!({"scopes": [{"name": "span", "tags": ["http.method", "http.status_code", "retry"]}]}),
            "{q}"
        );
    }
    assert_eq!(
        get_json(&server, "/api/v2/search/tags?scope=link", &[]),
        json!({})
    );
    assert_eq!(
        get_400(&server, "/api/v2/search/tags?scope=spans"),
        "invalid scope: spans"
    );

    // --- Tag values, v1: plain strings.
    let v1 = get_json(&server, "/api/search/tag/service.name/values", &[]);
    assert_eq!(v1, json!({"tagValues": ["cart", "checkout"]}));
    let v1 = get_json(&server, "/api/search/tag/http.status_code/values", &[]);
    assert_eq!(v1, json!({"tagValues": ["200", "500"]}));

    // --- Tag values, v2: typed.
    let values = |path: &str| get_json(&server, path, &[]);
    assert_eq!(
        values("/api/v2/search/tag/resource.service.name/values"),
        json!({"tagValues": [
            {"type": "string", "value": "cart"},
            {"type": "string", "value": "checkout"}
        ]})
    );
    assert_eq!(
        values("/api/v2/search/tag/span.http.status_code/values"),
        json!({"tagValues": [
            {"type": "int", "value": "200"},
            {"type": "int", "value": "500"}
        ]})
    );
    assert_eq!(
        values("/api/v2/search/tag/span.retry/values"),
        json!({"tagValues": [
            {"type": "bool", "value": "false"},
            {"type": "bool", "value": "true"}
        ]})
    );
    let status = values("/api/v2/search/tag/status/values");
    let status = status["tagValues"].as_array().unwrap();
    assert!(status.iter().all(|v| v["type"] == "keyword"), "{status:?}");
    let words: Vec<&str> = status
        .iter()
        .map(|v| v["value"].as_str().unwrap())
        .collect();
    for word in ["error", "ok", "unset"] {
        assert!(words.contains(&word), "{words:?}");
    }
    // Filtered by a query, complete or still being typed.
    let q = enc(r#"{ resource.service.name = "cart" }"#);
    let names = values(&format!("/api/v2/search/tag/name/values?q={q}"));
    assert_eq!(
        names,
        json!({"tagValues": [
            {"type": "string", "value": "GET /cart"},
            {"type": "string", "value": "load cart"}
        ]})
    );
    let q = enc(r#"{ resource.service.name = "checkout" && span.http.method = "#);
    let names = values(&format!("/api/v2/search/tag/name/values?q={q}"));
    assert_eq!(
        names,
        json!({"tagValues": [
            {"type": "string", "value": "POST /checkout"},
            {"type": "string", "value": "db query"}
        ]})
    );
    let limited = values("/api/v2/search/tag/name/values?limit=1");
    assert_eq!(limited["tagValues"].as_array().unwrap().len(), 1);
    assert_eq!(values("/api/v2/search/tag/.nope/values"), json!({}));
    let bad_tag = get_400(&server, "/api/v2/search/tag/a%20b/values");
    assert!(bad_tag.contains("a b"), "{bad_tag}");
    // v1 takes the tag literally: any name is an attribute's, as in Tempo.
    assert_eq!(values("/api/search/tag/%7B/values"), json!({}));
    assert!(
        get_400(&server, "/api/v2/search/tag/name/values?start=9&end=1")
            .contains("start must be before end")
    );

    // --- Each route's latency is recorded under its route pattern.
    let (_, _, body) = server.get("/metrics", &[]);
    let text = String::from_utf8(body).unwrap();
    for (route, status) in [
        ("/api/search", "200"),
        ("/api/search", "400"),
        ("/api/search/tags", "200"),
        ("/api/v2/search/tags", "200"),
        ("/api/search/tag/{tagName}/values", "200"),
        ("/api/v2/search/tag/{tagName}/values", "200"),
        ("/api/v2/search/tag/{tagName}/values", "400"),
    ] {
        let series = format!(
            "tempo_request_duration_seconds_count{{route=\"{route}\",method=\"GET\",status_code=\"{status}\"}}"
        );
        assert!(text.contains(&series), "{series} missing:\n{text}");
    }
}

#[test]
fn tenants_search_only_their_own_data() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), "multitenancy_enabled: true\n");
    let data = traces();
    let a = TracesData {
        resource_spans: vec![data.resource_spans[0].clone()],
    };
    let b = TracesData {
        resource_spans: vec![data.resource_spans[1].clone()],
    };
    ingest(&server, &a, &[("x-scope-orgid", "team-a")]);
    ingest(&server, &b, &[("x-scope-orgid", "team-b")]);

    let as_a = [("x-scope-orgid", "team-a")];
    let as_b = [("x-scope-orgid", "team-b")];
    let found = get_json(&server, "/api/search", &as_a);
    assert_eq!(trace_ids(&found), [CHECKOUT_HEX]);
    let found = get_json(&server, "/api/search?tags=service.name%3Dcheckout", &as_b);
    assert_eq!(trace_ids(&found), Vec::<String>::new());
    let names = get_json(&server, "/api/search/tags?scope=span", &as_b);
    assert_eq!(
        strings(&names["tagNames"]),
        ["http.method", "http.status_code", "retry"],
        "db.system belongs to team-a"
    );
    let values = get_json(&server, "/api/search/tag/service.name/values", &as_a);
    assert_eq!(values, json!({"tagValues": ["checkout"]}));
    let values = get_json(
        &server,
        "/api/v2/search/tag/resource.service.name/values",
        &[("x-scope-orgid", "team-c")],
    );
    assert_eq!(values, json!({}));

    for path in [
        "/api/search",
        "/api/search/tags",
        "/api/v2/search/tags",
        "/api/search/tag/service.name/values",
        "/api/v2/search/tag/name/values",
    ] {
        let (status, _, body) = server.get(path, &[]);
        assert_eq!(
            (status, String::from_utf8_lossy(&body).as_ref()),
            (401, "no org id\n"),
            "{path}"
        );
        let (status, _, body) = server.get(path, &[("x-scope-orgid", "../etc")]);
        assert_eq!(status, 400, "{path}");
        assert!(
            String::from_utf8_lossy(&body).contains("invalid tenant ID"),
            "{path}"
        );
    }
}

/// The value of an unlabelled metric in `/metrics`.
fn metric(server: &Server, name: &str) -> u64 {
    let (_, _, body) = server.get("/metrics", &[]);
    let text = String::from_utf8(body).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// Blocks answer every search and tag lookup as the head did, except for the cost metrics.
#[test]
fn blocks_answer_as_the_head_did() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(
        dir.path(),
        "ingester:\n  trace_idle_period: 1s\n  max_block_duration: 1s\n",
    );
    // Spans of a minute ago, so that retention leaves the block alone.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let base = now - 60_000 * MS;
    ingest(&server, &traces_at(base), &[]);
    let base_s = base / 1_000_000_000;
    let paths = [
        "/api/search".to_owned(),
        format!("/api/search?q={}", enc("{ status = error }")),
        format!(
            "/api/search?q={}&spss=1",
            enc("{ span.http.status_code >= 200 } | select(span.retry)")
        ),
        format!("/api/search?q={}", enc("{ } | by(resource.service.name)")),
        format!(
            "/api/search?tags={}",
            enc("service.name=cart http.method=GET")
        ),
        "/api/search?minDuration=200ms&limit=1".to_owned(),
        format!("/api/search?start={}&end={}", base_s + 5, base_s + 40),
        "/api/search/tags".to_owned(),
        "/api/v2/search/tags".to_owned(),
        "/api/v2/search/tags?scope=instrumentation".to_owned(),
        "/api/search/tag/service.name/values".to_owned(),
        "/api/v2/search/tag/span.http.status_code/values".to_owned(),
        "/api/v2/search/tag/name/values".to_owned(),
        format!(
            "/api/v2/search/tag/span.http.method/values?q={}",
            enc(r#"{ resource.service.name = "checkout" }"#)
        ),
        "/api/v2/search/tag/duration/values".to_owned(),
    ];
    let answers = |server: &Server| -> Vec<Json> {
        paths
            .iter()
            .map(|p| {
                let mut v = get_json(server, p, &[]);
                if let Some(o) = v.as_object_mut() {
                    o.remove("metrics");
                }
                v
            })
            .collect()
    };
    let from_head = answers(&server);
    assert_eq!(trace_ids(&from_head[0]).len(), 3);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while metric(&server, "tempo_blocks_flushed_total") < 1
        || metric(&server, "tempo_head_traces") > 0
    {
        assert!(std::time::Instant::now() < deadline, "no block cut");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let from_blocks = answers(&server);
    for ((path, head), blocks) in paths.iter().zip(&from_head).zip(&from_blocks) {
        assert_eq!(head, blocks, "{path}");
    }
    let found = get_json(&server, "/api/search", &[]);
    assert!(
        found["metrics"]["totalBlocks"].as_u64().unwrap() >= 1,
        "{found}"
    );
}
