//! The golden block: a small block written by this store, checked in under
//! `tests/fixtures/golden-block/<tenant>/<block-id>/`, with the xxh3 hash of each of its files
//! pinned below. The current reader must read it back exactly as its source (built here) says,
//! and the current writer must write the same source to the same bytes. A change to the block
//! format therefore fails these tests until it is made deliberately: bump the version if old
//! blocks no longer read, record the change in `FORMAT.md`'s version history, and regenerate
//! the fixture with
//!
//! ```text
//! TEMPO_REGENERATE_GOLDEN=1 cargo test -p tempo-core --test golden_block -- --ignored
//! ```
//!
//! which writes the block again and rewrites the hashes in this file. The writer's bytes
//! include zstd's output for compressed chunks: an update of zstd that compresses differently
//! fails the writer test while the reader test still passes; regenerating is then all it takes,
//! with no format change.
//!
//! The source covers every kind of column: attributes of each type (string, integer, double,
//! boolean, bytes, array, key-value list, an empty value and a missing one) on resources and
//! spans, a key repeated within a span, events (one before its span's start), links, trace
//! state and flags, every span kind and status, dropped counts, a parent that is not in the
//! trace, a trace without a root, spans without a resource or a scope, several resources and
//! scopes, and a trace spread over several of them.
#![expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempo_core::model::{
    AnyValue, ArrayValue, Event, InstrumentationScope, KeyValue, KeyValueList, Link, Resource,
    ResourceSpans, ScopeSpans, Span, SpanKind, Status, StatusCode, TraceId, Value,
};
use tempo_core::{BLOCK_FORMAT_VERSION, Batch, BlockMeta, SearchRequest, Store, TimeRange};

/// The tenant of the golden block.
const TENANT: &str = "golden";

/// xxh3-64 of each file of the checked-in block, by file name. Rewritten by the regenerating
/// command (see the module documentation); never edit it by hand.
const PINNED: &[(&str, u64)] = &[
    // golden:begin
    ("bloom-0", 0x9897500ed2dadae2),
    ("data", 0x1cc2419679821411),
    ("index", 0x3cdefb51cdf8dbaf),
    ("meta.json", 0xbe272ae44dda1c46),
    // golden:end
];

/// The first span starts here (2025-06-15T15:06:40Z).
const BASE: u64 = 1_750_000_000_000_000_000;
const MS: u64 = 1_000_000;

const TRACE_A: [u8; 16] = [
    0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f, 0x60, 0x71, 0x82, 0x93, 0xa4, 0xb5, 0xc6, 0xd7, 0xe8, 0xf9,
];
const TRACE_B: [u8; 16] = [0x0b; 16];
const TRACE_C: [u8; 16] = [0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01];
const TRACE_D: [u8; 16] = [0xff; 16];
/// A parent span that is never sent.
const MISSING_PARENT: [u8; 8] = [0xee; 8];

fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden-block")
}

fn value(v: Value) -> Option<AnyValue> {
    Some(AnyValue { value: Some(v) })
}

fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value(v),
    }
}

fn string(s: &str) -> Value {
    Value::StringValue(s.into())
}

fn span_id(n: u8) -> Vec<u8> {
    vec![0x5a, 0, 0, 0, 0, 0, 0, n]
}

/// A span of `trace` with the fields every span has; the rest is filled in by the caller.
fn span(trace: [u8; 16], id: u8, parent: Option<u8>, name: &str, kind: SpanKind) -> Span {
    Span {
        trace_id: trace.to_vec(),
        span_id: span_id(id),
        parent_span_id: parent.map(span_id).unwrap_or_default(),
        name: name.into(),
        kind: kind as i32,
        start_time_unix_nano: BASE + u64::from(id) * MS,
        end_time_unix_nano: BASE + u64::from(id) * MS + 40 * MS,
        ..Span::default()
    }
}

/// The spans of the golden block, as an OTLP client would send them. Span and resource
/// attributes are in the order a block returns them (by key, then a repeated key's later
/// values), so that what comes back equals what was sent.
fn source() -> Vec<ResourceSpans> {
    let checkout = Resource {
        attributes: vec![
            kv(
                "container.labels",
                Value::KvlistValue(KeyValueList {
                    values: vec![kv("app", string("checkout")), kv("tier", string("web"))],
                }),
            ),
            kv("deployment.environment", string("production")),
            kv("host.id", Value::BytesValue(vec![0xde, 0xad, 0xbe, 0xef])),
            kv("host.load", Value::DoubleValue(0.75)),
            kv("k8s.pod.ready", Value::BoolValue(true)),
            kv(
                "process.command_args",
                Value::ArrayValue(ArrayValue {
                    values: vec![
                        AnyValue {
                            value: Some(string("checkout")),
                        },
                        AnyValue {
                            value: Some(Value::IntValue(8080)),
                        },
                    ],
                }),
            ),
            kv("process.pid", Value::IntValue(4242)),
            kv("service.name", string("checkout")),
            kv("service.version", string("2.1.0")),
        ],
        dropped_attributes_count: 1,
    };
    let cart = Resource {
        attributes: vec![
            kv("service.name", string("cart")),
            kv("service.namespace", string("shop")),
        ],
        dropped_attributes_count: 0,
    };
    let http_scope = InstrumentationScope {
        name: "io.opentelemetry.http".into(),
        version: "1.2.3".into(),
        // Scope attributes come back in the order sent.
        attributes: vec![
            kv("scope.kind", string("server")),
            kv("scope.id", Value::IntValue(7)),
        ],
        dropped_attributes_count: 2,
    };
    let internal_scope = InstrumentationScope {
        name: "checkout.internal".into(),
        ..InstrumentationScope::default()
    };
    let grpc_scope = InstrumentationScope {
        name: "cart.grpc".into(),
        version: "0.9.0".into(),
        ..InstrumentationScope::default()
    };

    // Trace A: checkout calls cart; every attribute type, events, links, statuses.
    let mut a1 = span(TRACE_A, 1, None, "POST /api/checkout", SpanKind::Server);
    a1.trace_state = "vendor=1,other=2".into();
    a1.flags = 0x301;
    a1.status = Some(Status {
        code: StatusCode::Ok as i32,
        message: String::new(),
    });
    a1.end_time_unix_nano = BASE + 200 * MS;
    a1.attributes = vec![
        kv("http.request.method", string("POST")),
        kv("http.response.status_code", Value::IntValue(200)),
        kv("http.route", string("/api/checkout")),
        kv("server.sample_ratio", Value::DoubleValue(0.5)),
        kv("user.premium", Value::BoolValue(false)),
        kv(
            "user.tags",
            Value::ArrayValue(ArrayValue {
                values: vec![
                    AnyValue {
                        value: Some(string("a")),
                    },
                    AnyValue {
                        value: Some(string("b")),
                    },
                ],
            }),
        ),
    ];
    a1.events = vec![Event {
        time_unix_nano: BASE + 2 * MS,
        name: "message".into(),
        attributes: vec![
            kv("message.type", string("SENT")),
            kv("message.id", Value::IntValue(1)),
        ],
        dropped_attributes_count: 0,
    }];

    let mut a2 = span(
        TRACE_A,
        2,
        Some(1),
        "oteldemo.CartService/GetCart",
        SpanKind::Client,
    );
    a2.status = Some(Status {
        code: StatusCode::Error as i32,
        message: "deadline exceeded".into(),
    });
    a2.attributes = vec![
        kv("rpc.method", string("GetCart")),
        kv("rpc.service", string("oteldemo.CartService")),
        kv("rpc.system", string("grpc")),
    ];
    a2.events = vec![Event {
        time_unix_nano: BASE + 30 * MS,
        name: "exception".into(),
        attributes: vec![
            kv("exception.type", string("TimeoutError")),
            kv("exception.message", string("deadline exceeded")),
            kv("exception.escaped", Value::BoolValue(true)),
        ],
        dropped_attributes_count: 1,
    }];
    a2.dropped_events_count = 1;

    let mut a3 = span(TRACE_A, 3, Some(2), "GetCart", SpanKind::Server);
    a3.attributes = vec![
        // A key with no value, and a key whose value is empty: they differ.
        KeyValue {
            key: "attr.absent".into(),
            value: None,
        },
        KeyValue {
            key: "attr.empty".into(),
            value: Some(AnyValue { value: None }),
        },
        kv("db.rows", Value::IntValue(-1)),
        kv("http.response.status_code", string("OK")),
    ];

    let mut a4 = span(TRACE_A, 4, Some(1), "compute totals", SpanKind::Internal);
    a4.attributes = vec![
        kv("cache.hit", Value::BoolValue(true)),
        kv("retries", Value::IntValue(2)),
        // Repeated within the span: kept, after the others.
        kv("retries", string("two")),
    ];
    a4.dropped_attributes_count = 3;
    a4.links = vec![
        Link {
            trace_id: TRACE_B.to_vec(),
            span_id: span_id(1),
            trace_state: "k=v".into(),
            attributes: vec![kv("link.reason", string("retry"))],
            dropped_attributes_count: 1,
            flags: 1,
        },
        Link {
            trace_id: TRACE_A.to_vec(),
            span_id: span_id(2),
            ..Link::default()
        },
    ];
    a4.dropped_links_count = 2;

    let mut a5 = span(TRACE_A, 5, Some(4), "publish order", SpanKind::Producer);
    a5.attributes = vec![
        kv("messaging.batch.size", Value::IntValue(i64::MIN)),
        kv("messaging.weight", Value::DoubleValue(-1.5e300)),
    ];
    // An event stamped before its span starts (a skewed clock).
    a5.events = vec![Event {
        time_unix_nano: BASE + MS,
        name: "enqueue".into(),
        ..Event::default()
    }];

    // Trace B: its parent is never sent, so it has no root.
    let mut b1 = span(
        TRACE_B,
        1,
        None,
        "oteldemo.CartService/AddItem",
        SpanKind::Server,
    );
    b1.parent_span_id = MISSING_PARENT.to_vec();
    b1.start_time_unix_nano = BASE + 500 * MS;
    b1.end_time_unix_nano = BASE + 530 * MS;
    let mut b2 = span(
        TRACE_B,
        2,
        Some(1),
        "CartStore.AddItemAsync",
        SpanKind::Internal,
    );
    // A status that is present but unset differs from no status.
    b2.status = Some(Status::default());
    b2.start_time_unix_nano = BASE + 505 * MS;
    b2.end_time_unix_nano = BASE + 525 * MS;
    let mut b3 = span(TRACE_B, 3, Some(2), "HSET", SpanKind::Client);
    b3.attributes = vec![
        kv("db.statement", string("HSET cart:? items ?")),
        kv("db.system", string("redis")),
    ];
    b3.start_time_unix_nano = BASE + 510 * MS;
    b3.end_time_unix_nano = BASE + 520 * MS;

    // Trace C: no resource and no scope; a span without duration; an unnamed span.
    let mut c1 = span(TRACE_C, 1, None, "consume orders", SpanKind::Consumer);
    c1.end_time_unix_nano = c1.start_time_unix_nano;
    let mut c2 = span(TRACE_C, 2, Some(1), "", SpanKind::Unspecified);
    c2.flags = 1;

    // Trace D: the child arrives before its parent, in another scope.
    let d2 = span(TRACE_D, 2, None, "GET /", SpanKind::Server);
    let d1 = span(TRACE_D, 1, Some(2), "render", SpanKind::Internal);

    vec![
        ResourceSpans {
            resource: Some(checkout),
            scope_spans: vec![
                ScopeSpans {
                    scope: Some(http_scope),
                    spans: vec![a1, a2, d2],
                    schema_url: "https://opentelemetry.io/schemas/1.24.0".into(),
                },
                ScopeSpans {
                    scope: Some(internal_scope),
                    spans: vec![d1, a4, a5],
                    schema_url: String::new(),
                },
            ],
            schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
        },
        ResourceSpans {
            resource: Some(cart),
            scope_spans: vec![ScopeSpans {
                scope: Some(grpc_scope),
                spans: vec![a3, b1, b2, b3],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        },
        ResourceSpans {
            resource: None,
            scope_spans: vec![ScopeSpans {
                scope: None,
                spans: vec![c1, c2],
                schema_url: String::new(),
            }],
            schema_url: "https://example.com/schemas/1".into(),
        },
    ]
}

/// A span with its resource and scope, as sent or as read back.
#[derive(Debug, Clone, PartialEq)]
struct Placed {
    resource: Option<Resource>,
    resource_schema_url: String,
    scope: Option<InstrumentationScope>,
    scope_schema_url: String,
    span: Span,
}

/// The spans of `data` with their resources and scopes, by trace, in span ID order: the
/// same however a reader groups spans into resources and scopes.
fn placed(data: &[ResourceSpans]) -> BTreeMap<Vec<u8>, Vec<Placed>> {
    let mut out: BTreeMap<Vec<u8>, Vec<Placed>> = BTreeMap::new();
    for rs in data {
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                out.entry(span.trace_id.clone()).or_default().push(Placed {
                    resource: rs.resource.clone(),
                    resource_schema_url: rs.schema_url.clone(),
                    scope: ss.scope.clone(),
                    scope_schema_url: ss.schema_url.clone(),
                    span: span.clone(),
                });
            }
        }
    }
    for spans in out.values_mut() {
        spans.sort_by(|a, b| a.span.span_id.cmp(&b.span.span_id));
    }
    out
}

fn service_name(resource: Option<&Resource>) -> Option<String> {
    resource?
        .attributes
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
}

/// A store over `blocks`, doing nothing in the background while a test runs.
fn store(dir: &Path, blocks: &Path) -> Store {
    Store::builder()
        .wal_dir(dir.join("wal"))
        .local_blocks(blocks)
        .unwrap()
        .flush_check_period(Duration::from_secs(3600))
        .compaction_min_inputs(1000)
        // The block is old: retention must not take it.
        .block_retention(Duration::from_secs(100 * 365 * 24 * 3600))
        // The block's time range is its spans' own, whenever it is written.
        .ingestion_time_range_slack(Duration::MAX)
        .open()
        .unwrap()
}

/// The one block directory under `root/<tenant>/`.
fn block_dir(root: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(root.join(TENANT))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "one block under {}", root.display());
    dirs.into_iter().next().unwrap()
}

/// The files of a block directory, by name.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Writes the source with the current writer, through a store: the block's directory.
fn write_source(scratch: &Path) -> PathBuf {
    let blocks = scratch.join("blocks");
    let store = store(scratch, &blocks);
    let batch = Batch::new(source());
    assert_eq!(batch.rejected_spans(), 0);
    store.ingest(TENANT, batch).unwrap();
    let metas = store.flush_blocks().unwrap();
    assert_eq!(metas.len(), 1);
    store.close().unwrap();
    block_dir(&blocks)
}

#[test]
fn the_checked_in_files_are_the_pinned_ones() {
    let files = files(&block_dir(&fixture_root()));
    let hashes: Vec<(&str, u64)> = files
        .iter()
        .map(|(name, bytes)| (name.as_str(), xxhash_rust::xxh3::xxh3_64(bytes)))
        .collect();
    assert_eq!(hashes, PINNED, "the golden block's files changed");
}

#[test]
fn the_reader_reads_the_golden_block_as_its_source_says() {
    let scratch = tempfile::tempdir().unwrap();
    let blocks = scratch.path().join("blocks");
    copy_tree(&fixture_root(), &blocks);
    let store = store(scratch.path(), &blocks);
    assert!(store.set_aside_blocks().is_empty());

    let sent = placed(&source());
    let all: Vec<&Placed> = sent.values().flatten().collect();
    let metas = store.blocks(TENANT);
    assert_eq!(metas.len(), 1);
    let meta = &metas[0];
    assert_eq!(meta.version, BLOCK_FORMAT_VERSION);
    assert_eq!(meta.tenant, TENANT);
    assert_eq!(meta.traces, sent.len() as u64);
    assert_eq!(meta.spans, all.len() as u64);
    assert_eq!(meta.row_groups, 1);
    assert_eq!(meta.compaction_level, 0);
    assert_eq!(
        meta.start_time_unix_nano,
        all.iter()
            .map(|p| p.span.start_time_unix_nano)
            .min()
            .unwrap()
    );
    assert_eq!(
        meta.end_time_unix_nano,
        all.iter().map(|p| p.span.end_time_unix_nano).max().unwrap()
    );
    assert_eq!(meta.min_trace_id, TraceId(TRACE_A).to_hex());
    assert_eq!(meta.max_trace_id, TraceId(TRACE_D).to_hex());

    // Every span, with its resource and scope, field for field.
    for (id, expected) in &sent {
        let id = TraceId::from_slice(id).unwrap();
        let found = store.find_trace(TENANT, id, TimeRange::ALL).unwrap();
        let found = found.unwrap_or_else(|| panic!("trace {id} not found"));
        let got = placed(&found.resource_spans);
        assert_eq!(got.len(), 1, "trace {id}: spans of other traces");
        let got = got.into_values().next().unwrap_or_default();
        assert_eq!(got.len(), expected.len(), "trace {id}: span count");
        for (got, expected) in got.iter().zip(expected) {
            assert_eq!(got, expected, "trace {id}, span {:?}", expected.span.name);
        }
    }

    // Every trace's own fields: start, duration, root span, span count.
    let mut request = SearchRequest::new("{}");
    request.limit = 100;
    request.spans_per_spanset = 100;
    let found = store.search(TENANT, &request).unwrap();
    assert_eq!(found.traces.len(), sent.len());
    for trace in &found.traces {
        let expected = &sent[&trace.trace_id.0.to_vec()];
        let start = expected
            .iter()
            .map(|p| p.span.start_time_unix_nano)
            .min()
            .unwrap();
        let end = expected
            .iter()
            .map(|p| p.span.end_time_unix_nano)
            .max()
            .unwrap();
        let roots: Vec<&Placed> = expected
            .iter()
            .filter(|p| p.span.parent_span_id.is_empty())
            .collect();
        let id = trace.trace_id;
        assert_eq!(trace.start_time_unix_nano, start, "trace {id}: start");
        assert_eq!(trace.duration_nanos, end - start, "trace {id}: duration");
        assert_eq!(
            trace.root_trace_name,
            roots.first().map(|p| p.span.name.clone()),
            "trace {id}: root name"
        );
        assert_eq!(
            trace.root_service_name,
            roots
                .first()
                .and_then(|p| service_name(p.resource.as_ref())),
            "trace {id}: root service"
        );
        assert_eq!(trace.span_sets.len(), 1, "trace {id}: one spanset");
        assert_eq!(
            trace.span_sets[0].matched,
            expected.len() as u64,
            "trace {id}: spans"
        );
    }
    store.close().unwrap();
}

#[test]
fn the_writer_writes_the_golden_block_again_byte_for_byte() {
    let scratch = tempfile::tempdir().unwrap();
    let written = files(&write_source(scratch.path()));
    let golden = files(&block_dir(&fixture_root()));
    assert_eq!(
        written.keys().collect::<Vec<_>>(),
        golden.keys().collect::<Vec<_>>(),
        "the block's files"
    );
    for (name, bytes) in &written {
        let expected = &golden[name];
        if name == "meta.json" {
            assert_eq!(
                same_block_id_and_time(bytes, expected),
                *expected,
                "meta.json differs beyond its block ID and creation time:\n{}",
                String::from_utf8_lossy(bytes)
            );
        } else {
            assert!(
                bytes == expected,
                "{name} differs from the golden block's ({} bytes against {})",
                bytes.len(),
                expected.len()
            );
        }
    }
}

/// `meta.json` as written, with the golden block's ID and creation time in place of its own
/// (the only fields that depend on when and where a block is written).
fn same_block_id_and_time(written: &[u8], golden: &[u8]) -> Vec<u8> {
    let ours: BlockMeta = serde_json::from_slice(written).unwrap();
    let theirs: BlockMeta = serde_json::from_slice(golden).unwrap();
    let mut text = String::from_utf8(written.to_vec()).unwrap();
    for (from, to) in [
        (
            format!("\"blockId\": \"{}\"", ours.block_id),
            format!("\"blockId\": \"{}\"", theirs.block_id),
        ),
        (
            format!("\"createdAtUnixSeconds\": {}", ours.created_at_unix_seconds),
            format!(
                "\"createdAtUnixSeconds\": {}",
                theirs.created_at_unix_seconds
            ),
        ),
    ] {
        assert_eq!(text.matches(&from).count(), 1, "{from} in meta.json");
        text = text.replace(&from, &to);
    }
    text.into_bytes()
}

/// Regenerates the fixture and the pinned hashes: run only deliberately, after a format
/// change (see the module documentation).
#[test]
#[ignore = "rewrites the golden block: run with TEMPO_REGENERATE_GOLDEN=1, deliberately"]
fn regenerate_the_golden_block() {
    if std::env::var_os("TEMPO_REGENERATE_GOLDEN").is_none() {
        eprintln!("TEMPO_REGENERATE_GOLDEN is not set: the golden block is left as it is");
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let written = write_source(scratch.path());
    let root = fixture_root();
    if root.exists() {
        std::fs::remove_dir_all(&root).unwrap();
    }
    let target = root
        .join(TENANT)
        .join(written.file_name().unwrap_or_default());
    copy_tree(&written, &target);

    let mut table = String::new();
    for (name, bytes) in files(&target) {
        let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
        table.push_str(&format!("    (\"{name}\", {hash:#018x}),\n"));
    }
    let source_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden_block.rs");
    let text = std::fs::read_to_string(&source_path).unwrap();
    let begin = "    // golden:begin\n";
    let end = "    // golden:end\n";
    let (head, rest) = text.split_once(begin).unwrap();
    let (_, tail) = rest.split_once(end).unwrap();
    std::fs::write(&source_path, format!("{head}{begin}{table}{end}{tail}")).unwrap();
    eprintln!("golden block written to {}", target.display());
}
