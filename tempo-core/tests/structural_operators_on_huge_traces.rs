//! Structural operators cost time and memory near-linear in a trace's spans, and a query never
//! holds more than its budget: a chain and a fan of 100,000 spans each, in the head and in a
//! block, answer structural operators well within the deadline, and a query stopped by its
//! deadline, its caller or its memory budget returns what it found, marked partial, with the
//! reason.
#![expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tempo_core::backend::MemoryBackend;
use tempo_core::model::{Resource, ResourceSpans, ScopeSpans, Span, TraceId};
use tempo_core::{Batch, CancelToken, SearchRequest, Store};

const TENANT: &str = "huge";
const SPANS: usize = 100_000;
const CHAIN: [u8; 16] = [0xc1; 16];
const FAN: [u8; 16] = [0xf1; 16];

#[expect(
    clippy::big_endian_bytes,
    reason = "test span IDs: a counter, readable in hex"
)]
fn span_id(n: usize) -> Vec<u8> {
    (n as u64 + 1).to_be_bytes().to_vec()
}

/// A chain: span `i` is the parent of span `i + 1`; the last one is `leaf`. A fan: span 0 is
/// the parent of every other.
fn trace(id: [u8; 16], chain: bool, t0: u64) -> ResourceSpans {
    let spans = (0..SPANS)
        .map(|i| Span {
            trace_id: id.to_vec(),
            span_id: span_id(i),
            parent_span_id: match (i, chain) {
                (0, _) => Vec::new(),
                (_, true) => span_id(i - 1),
                (_, false) => span_id(0),
            },
            name: match i {
                0 => "root".into(),
                i if i == SPANS - 1 => "leaf".into(),
                _ => "mid".into(),
            },
            start_time_unix_nano: t0 + i as u64,
            end_time_unix_nano: t0 + 2 * SPANS as u64 - i as u64,
            ..Default::default()
        })
        .collect();
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![tempo_core::model::KeyValue::string("service.name", "deep")],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

struct Fixture {
    head: Store,
    blocks: Store,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let t0 = (SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - 60)
            * 1_000_000_000;
        let data = || vec![trace(CHAIN, true, t0), trace(FAN, false, t0 + 1_000_000)];
        // Both traces are larger than Tempo's default `max_bytes_per_trace`: no limit here.
        let head = Store::builder().max_bytes_per_trace(0).open().unwrap();
        head.ingest(TENANT, Batch::new(data())).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let blocks = Store::builder()
            .wal_dir(dir.path())
            .blocks(Arc::new(MemoryBackend::new()))
            .flush_check_period(Duration::from_secs(3600))
            .max_bytes_per_trace(0)
            .open()
            .unwrap();
        blocks.ingest(TENANT, Batch::new(data())).unwrap();
        blocks.flush_blocks().unwrap();
        assert_eq!(blocks.stats().head_traces, 0);
        Fixture {
            head,
            blocks,
            _dir: dir,
        }
    })
}

/// Spans matched per trace, for the query on both stores (which must agree).
fn matched(query: &str) -> Vec<(TraceId, u64)> {
    let f = fixture();
    let mut answers = Vec::new();
    for (place, store) in [("head", &f.head), ("blocks", &f.blocks)] {
        let started = Instant::now();
        let found = store.search(TENANT, &SearchRequest::new(query)).unwrap();
        assert!(
            !found.partial,
            "{query} on the {place} stopped early: {:?}",
            found.partial_reason
        );
        eprintln!("{query} on the {place}: {:?}", started.elapsed());
        let mut got: Vec<(TraceId, u64)> = found
            .traces
            .iter()
            .map(|t| (t.trace_id, t.span_sets.iter().map(|s| s.matched).sum()))
            .collect();
        got.sort();
        answers.push(got);
    }
    assert_eq!(answers[0], answers[1], "{query}: head and blocks differ");
    answers.remove(0)
}

fn chain() -> TraceId {
    TraceId(CHAIN)
}

fn fan() -> TraceId {
    TraceId(FAN)
}

const N: u64 = SPANS as u64;

/// The full table of operators is in the evaluator's unit tests; here, through the store, on
/// the head and on blocks.
#[test]
fn structural_operators_through_the_store() {
    assert_eq!(matched("{ } &>> { }"), vec![(chain(), N), (fan(), N)]);
    assert_eq!(matched(r#"{ name = "leaf" } >> { }"#), vec![]);
    assert_eq!(matched("{ } ~ { }"), vec![(fan(), N - 1)]);
    assert_eq!(
        matched(r#"({ name = "mid" } > { name = "mid" }) >> { name = "leaf" }"#),
        vec![(chain(), 1)]
    );
}

#[test]
fn a_query_past_its_memory_budget_is_partial_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder()
        .wal_dir(dir.path())
        .blocks(Arc::new(MemoryBackend::new()))
        .flush_check_period(Duration::from_secs(3600))
        .max_query_bytes(1 << 20)
        .max_bytes_per_trace(0)
        .open()
        .unwrap();
    let t0 = (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 60)
        * 1_000_000_000;
    store
        .ingest(TENANT, Batch::new(vec![trace(CHAIN, true, t0)]))
        .unwrap();
    for place in ["head", "blocks"] {
        if place == "blocks" {
            store.flush_blocks().unwrap();
        }
        let found = store
            .search(TENANT, &SearchRequest::new("{ } &>> { }"))
            .unwrap();
        assert!(found.partial, "{place}");
        assert!(found.traces.is_empty(), "{place}");
        let reason = found.partial_reason.unwrap();
        assert!(reason.contains("max_query_bytes"), "{place}: {reason}");
        assert!(reason.contains("100000 spans"), "{place}: {reason}");
    }
}

#[test]
fn cancelled_and_expired_queries_are_partial_with_the_reason() {
    let f = fixture();
    for store in [&f.head, &f.blocks] {
        let token = CancelToken::new();
        token.cancel();
        let found = store
            .search(
                TENANT,
                &SearchRequest::new("{ } &>> { }").cancel_token(token),
            )
            .unwrap();
        assert!(found.partial);
        assert_eq!(
            found.partial_reason.as_deref(),
            Some("the query was cancelled")
        );

        let mut req = SearchRequest::new("{ } &>> { }");
        req.deadline = Duration::ZERO;
        let found = store.search(TENANT, &req).unwrap();
        assert!(found.partial);
        assert_eq!(
            found.partial_reason.as_deref(),
            Some("the query's deadline passed")
        );
    }
}

#[test]
fn a_cancel_from_another_thread_stops_a_running_query() {
    let f = fixture();
    // A query that evaluates both huge traces many times over through a pipeline.
    let query = "{ } >> { } | { } << { } | { } ~ { } | { } >> { } | { } << { } | { } > { }";
    let token = CancelToken::new();
    let req = SearchRequest::new(query).cancel_token(token.clone());
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        token.cancel();
    });
    let started = Instant::now();
    let found = f.blocks.search(TENANT, &req).unwrap();
    canceller.join().unwrap();
    // Either it finished first, or it stopped on the cancel.
    if found.partial {
        assert_eq!(
            found.partial_reason.as_deref(),
            Some("the query was cancelled")
        );
    }
    eprintln!("stopped after {:?}", started.elapsed());
}
