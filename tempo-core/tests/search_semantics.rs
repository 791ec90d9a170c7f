//! TraceQL search answers what Tempo's documentation says, construct by construct, whether the
//! data is in the head or in blocks.
//!
//! Two traces of known shape are ingested into two stores: one keeps them in its head, the
//! other cuts them into blocks with `flush_blocks()`. Every query is run on both and must return
//! the expected traces and, per trace, the expected spans (by name).
//!
//! ```text
//! trace A (older)                                   trace B (newer, starts 1 s later)
//! GET /cart   frontend server  0-100ms              POST /pay  backend server error 0-300ms
//! ├── auth    frontend internal ok  2-8ms           ├── charge backend client  10-200ms
//! └── GET     backend  server      10-90ms          └── GET    frontend client 210-250ms
//!     ├── db.query   backend client error 20-80ms
//!     │   └── db.connect backend internal 21-24ms
//!     └── cache.get  backend client ok    12-15ms
//! ```
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tempo_core::backend::MemoryBackend;
use tempo_core::model::{
    AnyValue, ArrayValue, Event, InstrumentationScope, KeyValue, Link, Resource, ResourceSpans,
    ScopeSpans, Span, SpanKind, Status, StatusCode, TraceId, Value,
};
use tempo_core::{Batch, SearchError, SearchRequest, SearchResponse, Store};

const TENANT: &str = "semantics";
const MS: u64 = 1_000_000;
const TRACE_A: [u8; 16] = [0x0a; 16];
const TRACE_B: [u8; 16] = [0x0b; 16];

/// The two stores holding the same data: in the head, and in blocks.
struct Fixture {
    head: Store,
    blocks: Store,
    /// Start of trace A, unix nanoseconds; trace B starts one second later.
    t0: u64,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // Ten minutes ago, on a whole second: recent enough for every retention rule.
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let t0 = (now.as_secs() - 600) * 1_000_000_000;
        let head = Store::in_memory();
        head.ingest(TENANT, Batch::new(data(t0))).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let blocks = Store::builder()
            .wal_dir(dir.path())
            .blocks(Arc::new(MemoryBackend::new()))
            .flush_check_period(Duration::from_secs(3600))
            .open()
            .unwrap();
        blocks.ingest(TENANT, Batch::new(data(t0))).unwrap();
        blocks.flush_blocks().unwrap();
        assert!(
            !blocks.blocks(TENANT).is_empty(),
            "the data was cut into blocks"
        );
        assert_eq!(blocks.stats().head_traces, 0, "nothing is left in the head");
        Fixture {
            head,
            blocks,
            t0,
            _dir: dir,
        }
    })
}

fn any(v: Value) -> Option<AnyValue> {
    Some(AnyValue { value: Some(v) })
}

fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: any(v),
    }
}

fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

fn strings(items: &[&str]) -> Value {
    Value::ArrayValue(ArrayValue {
        values: items
            .iter()
            .map(|i| AnyValue { value: Some(s(i)) })
            .collect(),
    })
}

fn ints(items: &[i64]) -> Value {
    Value::ArrayValue(ArrayValue {
        values: items
            .iter()
            .map(|i| AnyValue {
                value: Some(Value::IntValue(*i)),
            })
            .collect(),
    })
}

/// The ID of span `n` of the trace whose ID bytes are all `trace`.
fn span_id(trace: [u8; 16], n: u8) -> Vec<u8> {
    vec![trace[0], 0, 0, 0, 0, 0, 0, n]
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A span of `trace` starting and ending `start`/`end` ms after `base`.
#[expect(
    clippy::too_many_arguments,
    reason = "a span of the fixture, spelled out in one line"
)]
fn span(
    trace: [u8; 16],
    n: u8,
    parent: Option<u8>,
    name: &str,
    kind: SpanKind,
    base: u64,
    start: u64,
    end: u64,
) -> Span {
    Span {
        trace_id: trace.to_vec(),
        span_id: span_id(trace, n),
        parent_span_id: parent.map(|p| span_id(trace, p)).unwrap_or_default(),
        name: name.into(),
        kind: kind as i32,
        start_time_unix_nano: base + start * MS,
        end_time_unix_nano: base + end * MS,
        ..Default::default()
    }
}

fn status(code: StatusCode, message: &str) -> Option<Status> {
    Some(Status {
        code: code as i32,
        message: message.into(),
    })
}

/// Both traces, frontend spans in one resource and backend spans in another.
fn data(t0: u64) -> Vec<ResourceSpans> {
    let (a, b) = (t0, t0 + 1_000_000_000);
    // Trace A.
    let mut a_root = span(TRACE_A, 1, None, "GET /cart", SpanKind::Server, a, 0, 100);
    a_root.attributes = vec![
        kv("http.method", s("GET")),
        kv("http.status_code", Value::IntValue(200)),
        kv("cache.hit", Value::BoolValue(true)),
        kv("ratio", Value::DoubleValue(0.5)),
        kv("tags", strings(&["red", "green"])),
    ];
    let mut auth = span(TRACE_A, 2, Some(1), "auth", SpanKind::Internal, a, 2, 8);
    auth.status = status(StatusCode::Ok, "");
    auth.attributes = vec![kv("region", s("us")), kv("user.id", Value::IntValue(42))];
    let mut get = span(TRACE_A, 3, Some(1), "GET", SpanKind::Server, a, 10, 90);
    get.attributes = vec![
        kv("http.method", s("GET")),
        kv("http.status_code", Value::IntValue(500)),
        kv("tags", strings(&["blue"])),
    ];
    let mut query = span(TRACE_A, 4, Some(3), "db.query", SpanKind::Client, a, 20, 80);
    query.status = status(StatusCode::Error, "connection reset");
    query.attributes = vec![
        kv("db.system", s("postgresql")),
        kv("retries", Value::IntValue(3)),
        kv("ratio", Value::DoubleValue(1.5)),
    ];
    query.events = vec![
        Event {
            time_unix_nano: a + 25 * MS,
            name: "exception".into(),
            attributes: vec![kv("exception.message", s("boom"))],
            dropped_attributes_count: 0,
        },
        Event {
            time_unix_nano: a + 50 * MS,
            name: "retry".into(),
            attributes: vec![kv("attempt", Value::IntValue(2))],
            dropped_attributes_count: 0,
        },
    ];
    query.links = vec![Link {
        trace_id: TRACE_B.to_vec(),
        span_id: span_id(TRACE_B, 1),
        attributes: vec![kv("ref_type", s("follows_from"))],
        ..Default::default()
    }];
    let connect = span(
        TRACE_A,
        5,
        Some(4),
        "db.connect",
        SpanKind::Internal,
        a,
        21,
        24,
    );
    let mut cache = span(
        TRACE_A,
        6,
        Some(3),
        "cache.get",
        SpanKind::Client,
        a,
        12,
        15,
    );
    cache.status = status(StatusCode::Ok, "");
    cache.attributes = vec![kv("cache.hit", Value::BoolValue(false))];
    // Trace B.
    let mut pay = span(TRACE_B, 1, None, "POST /pay", SpanKind::Server, b, 0, 300);
    pay.status = status(StatusCode::Error, "declined");
    pay.attributes = vec![
        kv("http.method", s("POST")),
        kv("http.status_code", Value::IntValue(402)),
        kv("tags", strings(&["red"])),
    ];
    let mut charge = span(TRACE_B, 2, Some(1), "charge", SpanKind::Client, b, 10, 200);
    charge.attributes = vec![
        kv("retries", Value::IntValue(1)),
        kv("ratio", Value::DoubleValue(2.5)),
        kv("nums", ints(&[1, 5])),
    ];
    let mut b_get = span(TRACE_B, 3, Some(1), "GET", SpanKind::Client, b, 210, 250);
    b_get.attributes = vec![kv("http.method", s("GET"))];

    let resource = |service: &str, extra: Vec<KeyValue>| {
        let mut attributes = vec![
            kv("service.name", s(service)),
            kv("deployment.environment", s("prod")),
        ];
        attributes.extend(extra);
        Some(Resource {
            attributes,
            dropped_attributes_count: 0,
        })
    };
    let scope = |name: &str, version: &str, lang: &str| {
        Some(InstrumentationScope {
            name: name.into(),
            version: version.into(),
            attributes: vec![kv("lib.lang", s(lang))],
            dropped_attributes_count: 0,
        })
    };
    vec![
        ResourceSpans {
            resource: resource("frontend", vec![kv("region", s("eu"))]),
            scope_spans: vec![ScopeSpans {
                scope: scope("fe-lib", "1.0.0", "go"),
                spans: vec![a_root, auth, b_get],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        },
        ResourceSpans {
            resource: resource("backend", vec![]),
            scope_spans: vec![ScopeSpans {
                scope: scope("be-lib", "2.1.0", "rust"),
                spans: vec![get, query, connect, cache, pay, charge],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        },
    ]
}

fn label(id: TraceId) -> &'static str {
    match id.0 {
        TRACE_A => "A",
        TRACE_B => "B",
        _ => "?",
    }
}

/// Per trace label, the names of every returned span (across its spansets).
type Found = BTreeMap<&'static str, BTreeSet<String>>;

fn found(r: &SearchResponse) -> Found {
    r.traces
        .iter()
        .map(|t| {
            let names = t
                .span_sets
                .iter()
                .flat_map(|ss| &ss.spans)
                .map(|s| s.name.clone())
                .collect();
            (label(t.trace_id), names)
        })
        .collect()
}

/// Runs `req` on both stores.
fn both(req: &SearchRequest) -> [(&'static str, SearchResponse); 2] {
    let f = fixture();
    let run = |store: &Store, name: &str| {
        store
            .search(TENANT, req)
            .unwrap_or_else(|e| panic!("{name}: {:?} failed: {e}", req.query))
    };
    [
        ("head", run(&f.head, "head")),
        ("blocks", run(&f.blocks, "blocks")),
    ]
}

/// One row of a table: a query and, per trace, the names of the spans it returns.
type Row<'a> = (&'a str, &'a [(&'a str, &'a [&'a str])]);

/// Runs every row on both stores; fails listing every row whose answer differs.
fn check_table(rows: &[Row<'_>]) {
    let mut failures = Vec::new();
    for (query, want) in rows {
        let want: Found = want
            .iter()
            .map(|(t, names)| {
                let t: &'static str = if *t == "A" { "A" } else { "B" };
                (t, names.iter().map(|n| n.to_string()).collect())
            })
            .collect();
        let req = SearchRequest::new(*query).spans_per_spanset(100).limit(100);
        let f = fixture();
        for (name, store) in [("head", &f.head), ("blocks", &f.blocks)] {
            match store.search(TENANT, &req) {
                Ok(r) => {
                    let got = found(&r);
                    if got != want {
                        failures.push(format!(
                            "{name}: {query}\n    want {want:?}\n    got  {got:?}"
                        ));
                    }
                }
                Err(e) => failures.push(format!("{name}: {query}\n    error: {e}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} checks failed:\n{}",
        failures.len(),
        rows.len() * 2,
        failures.join("\n")
    );
}

const A_ALL: &[&str] = &[
    "GET /cart",
    "auth",
    "GET",
    "db.query",
    "db.connect",
    "cache.get",
];
const B_ALL: &[&str] = &["POST /pay", "charge", "GET"];
const A_BACKEND: &[&str] = &["GET", "db.query", "db.connect", "cache.get"];

#[test]
fn span_intrinsics() {
    let auth_id = hex(&span_id(TRACE_A, 2));
    let get_id = hex(&span_id(TRACE_A, 3));
    let q_id = format!(r#"{{ span:id = "{auth_id}" }}"#);
    let q_parent = format!(r#"{{ span:parentID = "{get_id}" }}"#);
    check_table(&[
        (r#"{ name = "auth" }"#, &[("A", &["auth"])]),
        (
            r#"{ span:name = "GET" }"#,
            &[("A", &["GET"]), ("B", &["GET"])],
        ),
        (
            "{ status = error }",
            &[("A", &["db.query"]), ("B", &["POST /pay"])],
        ),
        ("{ span:status = ok }", &[("A", &["auth", "cache.get"])]),
        (
            "{ status = unset }",
            &[
                ("A", &["GET /cart", "GET", "db.connect"]),
                ("B", &["charge", "GET"]),
            ],
        ),
        (
            "{ status != error }",
            &[
                (
                    "A",
                    &["GET /cart", "auth", "GET", "db.connect", "cache.get"],
                ),
                ("B", &["charge", "GET"]),
            ],
        ),
        (
            r#"{ span:statusMessage = "connection reset" }"#,
            &[("A", &["db.query"])],
        ),
        (
            "{ kind = client }",
            &[("A", &["db.query", "cache.get"]), ("B", &["charge", "GET"])],
        ),
        (
            "{ span:kind = server }",
            &[("A", &["GET /cart", "GET"]), ("B", &["POST /pay"])],
        ),
        ("{ kind = internal && status = ok }", &[("A", &["auth"])]),
        (
            "{ duration > 50ms }",
            &[
                ("A", &["GET /cart", "GET", "db.query"]),
                ("B", &["POST /pay", "charge"]),
            ],
        ),
        (
            "{ span:duration <= 3ms }",
            &[("A", &["db.connect", "cache.get"])],
        ),
        (&q_id, &[("A", &["auth"])]),
        (&q_parent, &[("A", &["db.query", "cache.get"])]),
        (
            "{ span:childCount = 2 }",
            &[("A", &["GET /cart", "GET"]), ("B", &["POST /pay"])],
        ),
        (
            "{ span:childCount = 0 }",
            &[
                ("A", &["auth", "db.connect", "cache.get"]),
                ("B", &["charge", "GET"]),
            ],
        ),
    ]);
}

#[test]
fn trace_intrinsics() {
    let b = hex(&TRACE_B);
    let q_id = format!(r#"{{ trace:id = "{b}" }}"#);
    check_table(&[
        ("{ trace:duration > 200ms }", &[("B", B_ALL)]),
        ("{ traceDuration = 100ms }", &[("A", A_ALL)]),
        (r#"{ trace:rootName = "GET /cart" }"#, &[("A", A_ALL)]),
        (r#"{ trace:rootService = "backend" }"#, &[("B", B_ALL)]),
        (
            r#"{ trace:rootService = "backend" && kind = client }"#,
            &[("B", &["charge", "GET"])],
        ),
        (&q_id, &[("B", B_ALL)]),
    ]);
}

#[test]
fn event_link_and_instrumentation_fields() {
    let b = hex(&TRACE_B);
    let pay = hex(&span_id(TRACE_B, 1));
    let q_link_trace = format!(r#"{{ link:traceID = "{b}" }}"#);
    let q_link_span = format!(r#"{{ link:spanID = "{pay}" }}"#);
    check_table(&[
        (r#"{ event:name = "exception" }"#, &[("A", &["db.query"])]),
        (r#"{ event:name = "nope" }"#, &[]),
        ("{ event:timeSinceStart > 10ms }", &[("A", &["db.query"])]),
        ("{ event:timeSinceStart < 10ms }", &[("A", &["db.query"])]),
        ("{ event:timeSinceStart > 40ms }", &[]),
        (
            r#"{ event.exception.message = "boom" }"#,
            &[("A", &["db.query"])],
        ),
        ("{ event.attempt = 2 }", &[("A", &["db.query"])]),
        // Event conditions hold on one event: the exception has no `attempt`.
        (r#"{ event:name = "exception" && event.attempt = 2 }"#, &[]),
        (
            r#"{ event:name = "retry" && event.attempt = 2 }"#,
            &[("A", &["db.query"])],
        ),
        (&q_link_trace, &[("A", &["db.query"])]),
        (&q_link_span, &[("A", &["db.query"])]),
        (
            r#"{ link.ref_type = "follows_from" }"#,
            &[("A", &["db.query"])],
        ),
        (
            r#"{ instrumentation:name = "be-lib" }"#,
            &[("A", A_BACKEND), ("B", &["POST /pay", "charge"])],
        ),
        (
            r#"{ instrumentation:version = "1.0.0" }"#,
            &[("A", &["GET /cart", "auth"]), ("B", &["GET"])],
        ),
        (
            r#"{ instrumentation.lib.lang = "go" }"#,
            &[("A", &["GET /cart", "auth"]), ("B", &["GET"])],
        ),
    ]);
}

#[test]
fn nested_set_intrinsics() {
    check_table(&[
        (
            "{ nestedSetLeft = 1 }",
            &[("A", &["GET /cart"]), ("B", &["POST /pay"])],
        ),
        // The root's parent is -1, as in Tempo (Grafana's structure view selects roots so).
        (
            "{ nestedSetParent < 0 }",
            &[("A", &["GET /cart"]), ("B", &["POST /pay"])],
        ),
        (
            "{ nestedSetParent = 1 }",
            &[("A", &["auth", "GET"]), ("B", &["charge", "GET"])],
        ),
        // Leaves enclose nothing.
        (
            "{ nestedSetRight = nestedSetLeft + 1 }",
            &[
                ("A", &["auth", "db.connect", "cache.get"]),
                ("B", &["charge", "GET"]),
            ],
        ),
        // The root of six spans ends at 12.
        ("{ nestedSetRight = 12 }", &[("A", &["GET /cart"])]),
    ]);
}

#[test]
fn attribute_scopes() {
    check_table(&[
        (
            r#"{ span.http.method = "GET" }"#,
            &[("A", &["GET /cart", "GET"]), ("B", &["GET"])],
        ),
        (
            r#"{ resource.service.name = "backend" }"#,
            &[("A", A_BACKEND), ("B", &["POST /pay", "charge"])],
        ),
        (
            r#"{ resource.deployment.environment = "prod" }"#,
            &[("A", A_ALL), ("B", B_ALL)],
        ),
        // `span.` never reads the resource, `resource.` never the span.
        (r#"{ span.service.name = "backend" }"#, &[]),
        (r#"{ resource.http.method = "GET" }"#, &[]),
        // Unscoped: the span's attribute, else the resource's.
        (r#"{ .region = "us" }"#, &[("A", &["auth"])]),
        (
            r#"{ .region = "eu" }"#,
            &[("A", &["GET /cart"]), ("B", &["GET"])],
        ),
        (
            r#"{ resource.region = "eu" }"#,
            &[("A", &["GET /cart", "auth"]), ("B", &["GET"])],
        ),
        (r#"{ span.region = "eu" }"#, &[]),
        (r#"{ .http.method = "POST" }"#, &[("B", &["POST /pay"])]),
        (
            r#"{ .service.name = "frontend" }"#,
            &[("A", &["GET /cart", "auth"]), ("B", &["GET"])],
        ),
    ]);
}

#[test]
fn nil_tests() {
    check_table(&[
        (
            "{ span.cache.hit = nil }",
            &[
                ("A", &["auth", "GET", "db.query", "db.connect"]),
                ("B", B_ALL),
            ],
        ),
        (
            "{ span.cache.hit != nil }",
            &[("A", &["GET /cart", "cache.get"])],
        ),
        (
            "{ .region = nil }",
            &[("A", A_BACKEND), ("B", &["POST /pay", "charge"])],
        ),
        (
            "{ resource.region != nil && kind = client }",
            &[("B", &["GET"])],
        ),
        // `nil` against itself holds for no span, as in Tempo; an intrinsic is never nil.
        ("{ nil = nil }", &[]),
        ("{ nil != nil }", &[]),
        ("{ name = nil }", &[]),
        ("{ name != nil }", &[("A", A_ALL), ("B", B_ALL)]),
        // A missing attribute is unequal to nothing but nil.
        (r#"{ span.missing != "x" }"#, &[]),
        ("{ span.missing != 1 }", &[]),
        ("{ span.missing < 1 }", &[]),
        (r#"{ span.http.method != "GET" }"#, &[("B", &["POST /pay"])]),
        (
            r#"{ event.exception.message != "other" }"#,
            &[("A", &["db.query"])],
        ),
    ]);
}

#[test]
fn regular_expressions_are_anchored() {
    check_table(&[
        (r#"{ name =~ "GET" }"#, &[("A", &["GET"]), ("B", &["GET"])]),
        (
            r#"{ name =~ "GET.*" }"#,
            &[("A", &["GET /cart", "GET"]), ("B", &["GET"])],
        ),
        (
            r#"{ name !~ "GET.*" }"#,
            &[
                ("A", &["auth", "db.query", "db.connect", "cache.get"]),
                ("B", &["POST /pay", "charge"]),
            ],
        ),
        (r#"{ span.db.system =~ "postgres" }"#, &[]),
        (
            r#"{ span.db.system =~ "postgres.*" }"#,
            &[("A", &["db.query"])],
        ),
        (
            r#"{ span.db.system =~ "mysql|postgresql" }"#,
            &[("A", &["db.query"])],
        ),
        // A missing attribute matches neither `=~` nor `!~`.
        (r#"{ span.http.method !~ "G.*" }"#, &[("B", &["POST /pay"])]),
        // Regular expressions read strings only.
        (r#"{ span.http.status_code =~ "200" }"#, &[]),
    ]);
}

#[test]
fn arrays_match_any_element() {
    check_table(&[
        (
            r#"{ span.tags = "red" }"#,
            &[("A", &["GET /cart"]), ("B", &["POST /pay"])],
        ),
        (r#"{ span.tags = "re" }"#, &[]),
        (r#"{ span.tags != "red" }"#, &[("A", &["GET"])]),
        (r#"{ span.tags =~ "gr.*" }"#, &[("A", &["GET /cart"])]),
        (r#"{ span.tags !~ "r.*" }"#, &[("A", &["GET"])]),
        ("{ span.nums = 5 }", &[("B", &["charge"])]),
        ("{ span.nums > 4 }", &[("B", &["charge"])]),
        ("{ span.nums != 3 }", &[("B", &["charge"])]),
        ("{ span.nums != 1 }", &[]),
        ("{ span.nums < 1 }", &[]),
    ]);
}

#[test]
fn value_types_and_comparisons() {
    check_table(&[
        ("{ span.cache.hit = true }", &[("A", &["GET /cart"])]),
        ("{ span.cache.hit = false }", &[("A", &["cache.get"])]),
        ("{ span.cache.hit }", &[("A", &["GET /cart"])]),
        ("{ span.cache.hit != true }", &[("A", &["cache.get"])]),
        (
            "{ span.cache.hit || span.http.status_code = 500 }",
            &[("A", &["GET /cart", "GET"])],
        ),
        (
            "{ span.http.status_code >= 400 }",
            &[("A", &["GET"]), ("B", &["POST /pay"])],
        ),
        (
            "{ span.http.status_code >= 400 && span.http.status_code < 500 }",
            &[("B", &["POST /pay"])],
        ),
        (
            "{ span.http.status_code = 200.0 }",
            &[("A", &["GET /cart"])],
        ),
        (
            "{ span.ratio > 1 }",
            &[("A", &["db.query"]), ("B", &["charge"])],
        ),
        ("{ span.ratio = 0.5 }", &[("A", &["GET /cart"])]),
        (r#"{ span.http.method > "GET" }"#, &[("B", &["POST /pay"])]),
        // Values of different types are neither equal nor unequal.
        (r#"{ span.http.status_code = "200" }"#, &[]),
        (r#"{ span.http.status_code != "200" }"#, &[]),
        (
            r#"{ span.user.id = 42 || name = "charge" }"#,
            &[("A", &["auth"]), ("B", &["charge"])],
        ),
        (
            "{ !(span.cache.hit = true) && span.cache.hit != nil }",
            &[("A", &["cache.get"])],
        ),
        ("{ .cache.hit = false }", &[("A", &["cache.get"])]),
        ("{ true }", &[("A", A_ALL), ("B", B_ALL)]),
        ("{ false }", &[]),
        (
            r#"{ span:statusMessage != "" }"#,
            &[("A", &["db.query"]), ("B", &["POST /pay"])],
        ),
        ("{ kind = unspecified }", &[]),
        (r#"{ trace:rootName =~ "POST.*" }"#, &[("B", B_ALL)]),
    ]);
}

#[test]
fn arithmetic_in_conditions() {
    check_table(&[
        (
            "{ span.http.status_code + 100 = 300 }",
            &[("A", &["GET /cart"])],
        ),
        ("{ span.retries * 2 > 4 }", &[("A", &["db.query"])]),
        ("{ span.http.status_code / 2 = 250 }", &[("A", &["GET"])]),
        // Division is exact, as in Tempo: 402 / 400 is more than 1.
        (
            "{ span.http.status_code / 400 > 1 }",
            &[("A", &["GET"]), ("B", &["POST /pay"])],
        ),
        ("{ span.ratio * 2 = 3 }", &[("A", &["db.query"])]),
        (
            "{ span.retries % 2 = 1 }",
            &[("A", &["db.query"]), ("B", &["charge"])],
        ),
        ("{ span.retries ^ 2 = 9 }", &[("A", &["db.query"])]),
        ("{ span.retries - 4 = -1 }", &[("A", &["db.query"])]),
        ("{ span:duration = 30ms * 2 }", &[("A", &["db.query"])]),
        (
            "{ duration > 2 * 25ms }",
            &[
                ("A", &["GET /cart", "GET", "db.query"]),
                ("B", &["POST /pay", "charge"]),
            ],
        ),
        // A duration divided by a duration is a ratio: 190ms / 100ms is 1.9.
        (
            "{ duration / 100ms > 1.5 && duration < 250ms }",
            &[("B", &["charge"])],
        ),
    ]);
}

#[test]
fn spanset_operators() {
    check_table(&[
        (
            r#"{ name = "auth" } && { status = error }"#,
            &[("A", &["auth", "db.query"])],
        ),
        (
            r#"{ name = "auth" } || { status = error }"#,
            &[("A", &["auth", "db.query"]), ("B", &["POST /pay"])],
        ),
        (r#"{ name = "nope" } && { }"#, &[]),
        (
            r#"{ name = "nope" } || { name = "charge" }"#,
            &[("B", &["charge"])],
        ),
        (
            r#"{ resource.service.name = "frontend" } && { resource.service.name = "backend" && kind = client }"#,
            &[
                ("A", &["GET /cart", "auth", "db.query", "cache.get"]),
                ("B", &["GET", "charge"]),
            ],
        ),
    ]);
}

#[test]
fn structural_operators() {
    check_table(&[
        (
            r#"{ name = "GET" } > { }"#,
            &[("A", &["db.query", "cache.get"])],
        ),
        (
            r#"{ name = "GET /cart" } >> { kind = client }"#,
            &[("A", &["db.query", "cache.get"])],
        ),
        (r#"{ name = "db.connect" } < { }"#, &[("A", &["db.query"])]),
        (
            r#"{ name = "db.connect" } << { }"#,
            &[("A", &["db.query", "GET", "GET /cart"])],
        ),
        (r#"{ name = "db.query" } ~ { }"#, &[("A", &["cache.get"])]),
        (
            r#"{ name = "auth" } ~ { kind = server }"#,
            &[("A", &["GET"])],
        ),
        (
            "{ kind = client } ~ { kind = client }",
            &[("A", &["db.query", "cache.get"]), ("B", &["charge", "GET"])],
        ),
        // A span is not its own sibling.
        (r#"{ name = "cache.get" } ~ { name = "cache.get" }"#, &[]),
        (
            r#"{ resource.service.name = "frontend" } >> { status = error }"#,
            &[("A", &["db.query"])],
        ),
        (
            r#"{ resource.service.name = "backend" } > { resource.service.name = "frontend" }"#,
            &[("B", &["GET"])],
        ),
        // Chains group to the left: children of the children of the root.
        (
            "{ nestedSetParent < 0 } > { } > { }",
            &[("A", &["db.query", "cache.get"])],
        ),
    ]);
}

#[test]
fn negated_structural_operators() {
    check_table(&[
        (
            r#"{ name = "GET" } !> { }"#,
            &[
                ("A", &["GET /cart", "auth", "GET", "db.connect"]),
                ("B", B_ALL),
            ],
        ),
        // Leaf spans: not the parent of any span.
        (
            "{ } !< { }",
            &[
                ("A", &["auth", "db.connect", "cache.get"]),
                ("B", &["charge", "GET"]),
            ],
        ),
        // The last error of a cascade.
        (
            "{ status = error } !< { status = error }",
            &[("A", &["db.query"]), ("B", &["POST /pay"])],
        ),
        (
            r#"{ name = "GET" } !>> { kind = client }"#,
            &[("B", &["charge", "GET"])],
        ),
        (
            r#"{ name = "db.connect" } !<< { }"#,
            &[("A", &["auth", "db.connect", "cache.get"]), ("B", B_ALL)],
        ),
        (
            r#"{ name = "auth" } !~ { }"#,
            &[
                (
                    "A",
                    &["GET /cart", "auth", "db.query", "db.connect", "cache.get"],
                ),
                ("B", B_ALL),
            ],
        ),
    ]);
}

#[test]
fn union_structural_operators() {
    check_table(&[
        (
            r#"{ name = "GET" } &> { }"#,
            &[("A", &["GET", "db.query", "cache.get"])],
        ),
        (
            r#"{ name = "GET /cart" } &>> { status = error }"#,
            &[("A", &["GET /cart", "db.query"])],
        ),
        (
            r#"{ name = "db.connect" } &< { }"#,
            &[("A", &["db.connect", "db.query"])],
        ),
        (
            r#"{ name = "db.connect" } &<< { kind = server }"#,
            &[("A", &["db.connect", "GET", "GET /cart"])],
        ),
        (r#"{ name = "auth" } &~ { }"#, &[("A", &["auth", "GET"])]),
        (r#"{ name = "auth" } &~ { name = "db.query" }"#, &[]),
    ]);
}

#[test]
fn pipelines_with_aggregates() {
    check_table(&[
        ("{ } | count() > 4", &[("A", A_ALL)]),
        ("{ } | count() = 3", &[("B", B_ALL)]),
        (
            r#"{ resource.service.name = "backend" } | count() > 2"#,
            &[("A", A_BACKEND)],
        ),
        // A: 252ms / 6 = 42ms; B: 530ms / 3.
        ("{ } | avg(duration) > 100ms", &[("B", B_ALL)]),
        ("{ } | avg(duration) = 42ms", &[("A", A_ALL)]),
        ("{ } | min(duration) < 5ms", &[("A", A_ALL)]),
        ("{ } | max(duration) >= 300ms", &[("B", B_ALL)]),
        ("{ } | sum(span.retries) = 3", &[("A", A_ALL)]),
        (
            "{ span.retries != nil } | sum(span.retries) >= 3",
            &[("A", &["db.query"])],
        ),
        (
            "{ span.ratio != nil } | avg(span.ratio) > 1",
            &[("B", &["charge"])],
        ),
        ("{ } | max(span.ratio) = 2.5", &[("B", B_ALL)]),
        ("{ } | min(span.http.status_code) = 200", &[("A", A_ALL)]),
        (
            r#"{ kind = client } | { resource.service.name = "frontend" }"#,
            &[("B", &["GET"])],
        ),
        (
            "{ status = error } | by(resource.service.name) | count() > 1",
            &[],
        ),
        (
            "{ } | by(resource.service.name) | count() > 3",
            &[("A", A_BACKEND)],
        ),
        (
            // A: "GET" twice, and the four spans without a method, a group of their own.
            "{ } | by(span.http.method) | count() > 1",
            &[("A", A_ALL)],
        ),
        (
            // A: "eu" (the root's resource) and "us" (auth's own); B: "eu".
            "{ } | by(.region) | count() = 1",
            &[("A", &["GET /cart", "auth"]), ("B", &["GET"])],
        ),
    ]);
}

#[test]
fn wrapped_pipelines_with_spanset_and_structural_operators() {
    check_table(&[
        (
            r#"({ span.http.method = "GET" } | count() > 1) && { status = error }"#,
            &[("A", &["GET /cart", "GET", "db.query"])],
        ),
        (
            r#"({ span.http.method = "GET" } | count() > 1) || { name = "charge" }"#,
            &[("A", &["GET /cart", "GET"]), ("B", &["charge"])],
        ),
        (
            r#"({ resource.service.name = "backend" } | count() > 3) > { name = "db.connect" }"#,
            &[("A", &["db.connect"])],
        ),
        (
            "{ kind = server } >> ({ } | count() > 2)",
            &[
                ("A", &["auth", "GET", "db.query", "db.connect", "cache.get"]),
                ("B", &["charge", "GET"]),
            ],
        ),
        (
            r#"({ } | by(resource.service.name) | count() = 1) || { name = "auth" }"#,
            &[("A", &["auth"]), ("B", &["GET"])],
        ),
    ]);
}

#[test]
fn by_makes_one_spanset_per_value() {
    let q = "{ status = error || kind = client } | by(resource.service.name)";
    for (store, r) in both(&SearchRequest::new(q).spans_per_spanset(100)) {
        let mut sets: Vec<(&str, String, Vec<String>)> = Vec::new();
        for t in &r.traces {
            for ss in &t.span_sets {
                let by = ss
                    .attributes
                    .iter()
                    .find(|kv| kv.key == "by(resource.service.name)")
                    .and_then(|kv| kv.value.as_ref())
                    .and_then(|v| match &v.value {
                        Some(Value::StringValue(s)) => Some(s.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| panic!("{store}: no by() attribute in {ss:?}"));
                let mut names: Vec<String> = ss.spans.iter().map(|s| s.name.clone()).collect();
                names.sort();
                assert_eq!(ss.matched as usize, names.len(), "{store}");
                sets.push((label(t.trace_id), by, names));
            }
        }
        sets.sort();
        let want = vec![
            (
                "A",
                "backend".into(),
                vec!["cache.get".into(), "db.query".into()],
            ),
            (
                "B",
                "backend".into(),
                vec!["POST /pay".into(), "charge".into()],
            ),
            ("B", "frontend".into(), vec!["GET".into()]),
        ];
        assert_eq!(sets, want, "{store}");
    }
}

#[test]
fn coalesce_merges_the_spansets_of_a_trace() {
    let q = "{ } | by(resource.service.name) | coalesce()";
    for (store, r) in both(&SearchRequest::new(q).spans_per_spanset(100)) {
        assert_eq!(r.traces.len(), 2, "{store}");
        for t in &r.traces {
            assert_eq!(t.span_sets.len(), 1, "{store}: {t:?}");
            let want = if label(t.trace_id) == "A" { 6 } else { 3 };
            assert_eq!(t.span_sets[0].matched, want, "{store}");
            assert_eq!(t.span_sets[0].spans.len(), want as usize, "{store}");
        }
    }
}

#[test]
fn select_shows_the_selected_attributes() {
    let q = r#"{ name = "auth" } | select(span.user.id, resource.region, span:kind)"#;
    for (store, r) in both(&SearchRequest::new(q)) {
        assert_eq!(r.traces.len(), 1, "{store}");
        let span = &r.traces[0].span_sets[0].spans[0];
        assert_eq!(span.name, "auth");
        let attr = |key: &str| {
            span.attributes
                .iter()
                .find(|kv| kv.key == key)
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| v.value.clone())
                .unwrap_or_else(|| panic!("{store}: no {key} in {:?}", span.attributes))
        };
        assert_eq!(attr("user.id"), Value::IntValue(42), "{store}");
        assert_eq!(attr("region"), s("eu"), "{store}");
        assert_eq!(attr("kind"), s("internal"), "{store}");
    }
}

#[test]
fn results_are_newest_first_and_describe_the_trace() {
    let t0 = fixture().t0;
    for (store, r) in both(&SearchRequest::new("{ }")) {
        let labels: Vec<&str> = r.traces.iter().map(|t| label(t.trace_id)).collect();
        assert_eq!(labels, ["B", "A"], "{store}");
        assert!(!r.partial, "{store}");
        let (b, a) = (&r.traces[0], &r.traces[1]);
        assert_eq!(a.start_time_unix_nano, t0, "{store}");
        assert_eq!(a.duration_nanos, 100 * MS, "{store}");
        assert_eq!(a.root_service_name.as_deref(), Some("frontend"), "{store}");
        assert_eq!(a.root_trace_name.as_deref(), Some("GET /cart"), "{store}");
        assert_eq!(b.start_time_unix_nano, t0 + 1_000_000_000, "{store}");
        assert_eq!(b.duration_nanos, 300 * MS, "{store}");
        assert_eq!(b.root_service_name.as_deref(), Some("backend"), "{store}");
        assert_eq!(a.service_stats["backend"].span_count, 4, "{store}");
        assert_eq!(a.service_stats["backend"].error_count, 1, "{store}");
        assert_eq!(a.service_stats["frontend"].span_count, 2, "{store}");
    }
}

#[test]
fn limit_keeps_the_newest_traces() {
    for (store, r) in both(&SearchRequest::new("{ }").limit(1)) {
        let labels: Vec<&str> = r.traces.iter().map(|t| label(t.trace_id)).collect();
        assert_eq!(labels, ["B"], "{store}");
    }
    for (store, r) in both(&SearchRequest::new(r#"{ name = "auth" }"#).limit(1)) {
        let labels: Vec<&str> = r.traces.iter().map(|t| label(t.trace_id)).collect();
        assert_eq!(labels, ["A"], "{store}: an older match fills the limit");
    }
}

#[test]
fn spans_per_spanset_limits_the_spans_but_matched_counts_all() {
    for (store, r) in both(&SearchRequest::new("{ }").spans_per_spanset(2)) {
        let a = r.traces.iter().find(|t| label(t.trace_id) == "A").unwrap();
        assert_eq!(a.span_sets.len(), 1, "{store}");
        let ss = &a.span_sets[0];
        assert_eq!(ss.matched, 6, "{store}");
        let names: Vec<&str> = ss.spans.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["GET /cart", "auth"], "{store}: the earliest spans");
        let first = &ss.spans[0];
        assert_eq!(first.span_id, span_id(TRACE_A, 1), "{store}");
        assert_eq!(first.start_time_unix_nano, fixture().t0, "{store}");
        assert_eq!(first.duration_nanos, 100 * MS, "{store}");
    }
    // The default is three spans.
    for (store, r) in both(&SearchRequest::new("{ }")) {
        let a = r.traces.iter().find(|t| label(t.trace_id) == "A").unwrap();
        assert_eq!(a.span_sets[0].spans.len(), 3, "{store}");
        assert_eq!(a.span_sets[0].matched, 6, "{store}");
    }
}

#[test]
fn invalid_traceql_is_a_query_error() {
    let f = fixture();
    for q in [
        "{ .a = }",
        "{ span:status = 1.5 }",
        "{ name =~ \"(\" }",
        "{ } | rate()",
    ] {
        for (name, store) in [("head", &f.head), ("blocks", &f.blocks)] {
            match store.search(TENANT, &SearchRequest::new(q)) {
                Err(SearchError::Query(_)) => {}
                other => panic!("{name}: {q:?} gave {other:?}"),
            }
        }
    }
}

#[test]
fn a_span_delivered_twice_counts_once() {
    let t0 = fixture().t0;
    let head = Store::in_memory();
    let dir = tempfile::tempdir().unwrap();
    let blocks = Store::builder()
        .wal_dir(dir.path())
        .blocks(Arc::new(MemoryBackend::new()))
        .flush_check_period(Duration::from_secs(3600))
        .open()
        .unwrap();
    for store in [&head, &blocks] {
        // An exporter retrying a batch whose acknowledgement it missed.
        store.ingest(TENANT, Batch::new(data(t0))).unwrap();
        store.ingest(TENANT, Batch::new(data(t0))).unwrap();
    }
    blocks.flush_blocks().unwrap();
    for (name, store) in [("head", &head), ("blocks", &blocks)] {
        let count = |q: &str| {
            let r = store
                .search(TENANT, &SearchRequest::new(q).spans_per_spanset(100))
                .unwrap();
            r.traces
                .iter()
                .map(|t| {
                    (
                        label(t.trace_id),
                        t.span_sets.iter().map(|s| s.matched).sum(),
                    )
                })
                .collect::<BTreeMap<&str, u64>>()
        };
        assert_eq!(count("{ }"), [("A", 6), ("B", 3)].into(), "{name}");
        assert_eq!(
            count("{ span:childCount = 2 }"),
            [("A", 2), ("B", 1)].into(),
            "{name}"
        );
        assert_eq!(count("{ } | count() = 6"), [("A", 6)].into(), "{name}");
        assert_eq!(
            count(r#"{ name = "GET" } > { }"#),
            [("A", 2)].into(),
            "{name}"
        );
    }
}
