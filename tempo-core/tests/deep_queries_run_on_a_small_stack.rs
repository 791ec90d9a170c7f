//! Every query the store accepts is safe for the engine's recursive walks (planning and
//! pruning, evaluation, tag look-ups): each reaches them through TraceQL's nesting and length
//! limits. The deepest accepted query of each shape and the longest runs of conditions are
//! searched on a small stack, over the head and over blocks; past the limits, the store
//! answers with an error, never a crash.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tempo_core::backend::MemoryBackend;
use tempo_core::model::{AnyValue, KeyValue, Resource, ResourceSpans, ScopeSpans, Span, Value};
use tempo_core::{Batch, Error, SearchError, SearchRequest, Store, TagScope, TagsError, TimeRange};
use tempo_traceql::{MAX_DEPTH, MAX_QUERY_BYTES};

const TENANT: &str = "deep";

/// Runs `f` on a thread with a quarter of the stack threads get by default.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// A store holding one trace of three spans with `a = 1`, in blocks when `blocks`, one
/// search worker so that everything runs on the calling thread.
fn store(blocks: bool) -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut builder = Store::builder()
        .wal_dir(dir.path())
        .query_parallelism(1)
        .flush_check_period(Duration::from_secs(3600));
    if blocks {
        builder = builder.blocks(Arc::new(MemoryBackend::new()));
    }
    let store = builder.open().unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let t0 = (now.as_secs() - 60) * 1_000_000_000;
    let spans = (0u8..3)
        .map(|i| Span {
            trace_id: vec![7; 16],
            span_id: vec![i + 1; 8],
            parent_span_id: if i == 0 { Vec::new() } else { vec![1; 8] },
            name: format!("op-{i}"),
            start_time_unix_nano: t0 + u64::from(i) * 1_000,
            end_time_unix_nano: t0 + 1_000_000,
            attributes: vec![
                KeyValue::int("a", 1),
                KeyValue {
                    key: "flag".into(),
                    value: Some(AnyValue {
                        value: Some(Value::BoolValue(true)),
                    }),
                },
            ],
            ..Default::default()
        })
        .collect();
    let batch = Batch::new(vec![ResourceSpans {
        resource: Some(Resource {
            attributes: vec![KeyValue::string("service.name", "svc")],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }]);
    store.ingest(TENANT, batch).unwrap();
    if blocks {
        store.flush_blocks().unwrap();
        assert!(!store.blocks(TENANT).is_empty());
    }
    (store, dir)
}

type Shape = fn(usize) -> String;

/// Deep queries, by shape, as a function of how deep; each matches the stored trace.
fn shapes() -> Vec<(&'static str, Shape)> {
    vec![
        ("brackets in a filter", |n| {
            format!("{{ {}.a = 1{} }}", "(".repeat(n), ")".repeat(n))
        }),
        ("brackets around spansets", |n| {
            format!("{}{{ .a = 1 }}{}", "(".repeat(n), ")".repeat(n))
        }),
        ("negations", |n| {
            format!("{{ {}.flag }}", "!".repeat(2 * (n / 2)))
        }),
        ("minus signs", |n| {
            format!("{{ {}.a > -2 }}", "- ".repeat(2 * (n / 2)))
        }),
        ("arithmetic", |n| {
            format!("{{ .a{} > 1 }}", " + .a".repeat(n))
        }),
        // The two children are siblings: every step of the chain keeps them.
        ("structural operators", |n| {
            vec!["{ .a = 1 }"; n + 1].join(" ~ ")
        }),
        ("nested pipelines", |n| {
            format!("{}{{ .a = 1 }}{}", "({ } | ".repeat(n), ")".repeat(n))
        }),
        ("aggregate arithmetic", |n| {
            format!("{{ }} | count(){} > 1", " + count()".repeat(n))
        }),
    ]
}

/// The largest `n` for which `make(n)` parses.
fn deepest(make: Shape) -> usize {
    let (mut ok, mut bad) = (0, MAX_DEPTH * 2);
    while bad - ok > 1 {
        let mid = (ok + bad) / 2;
        if tempo_traceql::parse(&make(mid)).is_ok() {
            ok = mid;
        } else {
            bad = mid;
        }
    }
    ok
}

/// The longest runs of conditions that fit, and long pipelines.
fn long_queries() -> Vec<String> {
    let run = |op: &str| {
        let n = MAX_QUERY_BYTES / format!(" {op} .a = 1").len() - 1;
        format!("{{ .a = 1{} }}", format!(" {op} .a = 1").repeat(n))
    };
    vec![
        run("&&"),
        run("||"),
        vec!["{ .a = 1 }"; 9_000].join(" && "),
        vec!["{ .a = 1 }"; 9_000].join(" || "),
        vec!["{ .a = 1 }"; 9_000].join(" | "),
        format!("{{ .a = 2{} }}", " || .a = 2".repeat(10_000)),
    ]
}

/// Searches, and looks up tag names and values filtered by the query.
fn exercise(store: &Store, query: &str) -> Result<usize, Error> {
    let found = store.search(TENANT, &SearchRequest::new(query))?;
    store.tag_values(TENANT, "name", Some(query), TimeRange::ALL, 100)?;
    store.tag_names(TENANT, &[TagScope::Span], Some(query), TimeRange::ALL, 100)?;
    Ok(found.traces.len())
}

#[test]
fn the_deepest_and_longest_queries_run_on_a_small_stack() {
    for blocks in [false, true] {
        let (store, dir) = store(blocks);
        let mut queries: Vec<(String, String)> = shapes()
            .into_iter()
            .map(|(name, make)| (name.to_owned(), make(deepest(make))))
            .collect();
        queries.extend(
            long_queries()
                .into_iter()
                .enumerate()
                .map(|(i, q)| (format!("long query {i}"), q)),
        );
        let store = on_small_stack(move || {
            for (name, query) in &queries {
                let want = usize::from(!query.starts_with("{ .a = 2"));
                let got = exercise(&store, query).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(got, want, "{name}, blocks: {blocks}");
            }
            store
        });
        store.close().unwrap();
        drop(dir);
    }
}

#[test]
fn past_the_limits_the_store_answers_with_an_error() {
    let (store, _dir) = store(true);
    let store = on_small_stack(move || {
        for (name, make) in shapes() {
            for n in [deepest(make) + 1, 100_000] {
                let query = make(n);
                let err = exercise(&store, &query).unwrap_err();
                assert!(
                    matches!(
                        err,
                        Error::Search(SearchError::Query(_)) | Error::Tags(TagsError::Query(_))
                    ),
                    "{name} at {n}: {err:?}"
                );
                let message = err.to_string();
                assert!(message.contains('^'), "{name} at {n}: {message}");
                assert!(message.len() < 1000, "{name} at {n}: {message}");
            }
        }
        let long = format!("{{ .a = 1{} }}", " || .a = 1".repeat(100_000));
        let err = exercise(&store, &long).unwrap_err();
        assert!(err.to_string().contains("too long"), "{err}");
        // An incomplete query too long for the limit is refused too, not cut.
        let incomplete = format!("{{ .a = 1{} && .b = ", " && .a = 1".repeat(20_000));
        let err = store
            .tag_values(TENANT, "name", Some(&incomplete), TimeRange::ALL, 100)
            .unwrap_err();
        assert!(err.to_string().contains("too long"), "{err}");
        store
    });
    // The store still serves.
    assert_eq!(exercise(&store, "{ .a = 1 }").unwrap(), 1);
    store.close().unwrap();
}

#[test]
fn an_incomplete_filter_of_many_conditions_still_filters() {
    let (store, _dir) = store(false);
    let q = format!("{{ .a = 1{} && .b = ", " && .a = 1".repeat(5_000));
    let names = store
        .tag_values(TENANT, "name", Some(&q), TimeRange::ALL, 100)
        .unwrap();
    assert_eq!(names.len(), 3);
    let q = format!("{{ .a = 2{} && .b = ", " && .a = 1".repeat(5_000));
    let names = store
        .tag_values(TENANT, "name", Some(&q), TimeRange::ALL, 100)
        .unwrap();
    assert!(names.is_empty(), "{names:?}");
}
