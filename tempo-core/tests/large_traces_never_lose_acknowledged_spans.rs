//! `max_bytes_per_trace` is enforced at ingest, where the client is told, and never afterwards:
//! spans that would take a trace past the limit are refused and counted in the receipt, every
//! acknowledged span survives block cuts, compaction and a restart, and compaction keeps every
//! span of a trace however large it is.
#![expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tempo_core::model::{KeyValue, Resource, ResourceSpans, ScopeSpans, Span, TraceId};
use tempo_core::{Batch, Store, TimeRange};

const TENANT: &str = "big";

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// The ID of span number `n`.
#[expect(
    clippy::big_endian_bytes,
    reason = "test span IDs: a counter, readable in hex"
)]
fn span_id(n: u64) -> Vec<u8> {
    (n + 1).to_be_bytes().to_vec()
}

/// `count` spans of trace `trace`, numbered from `first`, each carrying `pad` bytes.
fn spans(trace: [u8; 16], first: u64, count: u64, pad: usize) -> ResourceSpans {
    let t0 = now_nanos() - 60_000_000_000;
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![KeyValue::string("service.name", "big")],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans: (first..first + count)
                .map(|n| Span {
                    trace_id: trace.to_vec(),
                    span_id: span_id(n),
                    name: format!("span-{n}"),
                    start_time_unix_nano: t0 + n,
                    end_time_unix_nano: t0 + n + 1_000,
                    attributes: vec![KeyValue::string("pad", "x".repeat(pad))],
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn open(dir: &Path, limit: u64) -> Store {
    Store::builder()
        .wal_dir(dir.join("wal"))
        .local_blocks(dir.join("blocks"))
        .unwrap()
        .flush_check_period(Duration::from_secs(3600))
        .compaction_min_inputs(2)
        .max_bytes_per_trace(limit)
        .open()
        .unwrap()
}

/// The span IDs of a trace the store returns, every one once.
fn span_ids(store: &Store, trace: [u8; 16]) -> BTreeSet<Vec<u8>> {
    let Some(found) = store
        .find_trace(TENANT, TraceId(trace), TimeRange::ALL)
        .unwrap()
    else {
        return BTreeSet::new();
    };
    let ids: Vec<Vec<u8>> = found
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.span_id.clone())
        .collect();
    let set: BTreeSet<Vec<u8>> = ids.iter().cloned().collect();
    assert_eq!(set.len(), ids.len(), "every span is returned once");
    set
}

#[test]
fn spans_past_the_limit_are_refused_and_every_acknowledged_one_survives() {
    let dir = tempfile::tempdir().unwrap();
    let big = [0xb1; 16];
    let small = [0x51; 16];
    let store = open(dir.path(), 200_000);
    let mut acknowledged: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut refused = 0usize;
    // Batches of 100 spans of ~520 bytes (~52 KB) for the big trace, each with one span of a
    // small trace; blocks cut after every batch, so the big trace's parts land in several.
    for round in 0..8u64 {
        let batch = Batch::new(vec![
            spans(big, round * 100, 100, 500),
            spans(small, round, 1, 10),
        ]);
        let receipt = store.ingest(TENANT, batch).unwrap();
        if round < 3 {
            assert_eq!(receipt.accepted_spans, 101, "round {round}");
            assert_eq!(receipt.rejected_spans, 0, "round {round}");
            for n in round * 100..round * 100 + 100 {
                acknowledged.insert(span_id(n));
            }
        } else {
            // Past 200 KB the big trace's spans are refused, the small trace's stored.
            assert_eq!(receipt.accepted_spans, 1, "round {round}");
            assert_eq!(receipt.rejected_spans, 100, "round {round}");
            let message = receipt.rejection_message.unwrap();
            assert!(message.contains("TRACE_TOO_LARGE"), "{message}");
            assert!(message.contains(&TraceId(big).to_string()), "{message}");
            assert!(
                message.contains("max_bytes_per_trace (200000 bytes)"),
                "{message}"
            );
            refused += receipt.rejected_spans;
        }
        store.flush_blocks().unwrap();
    }
    assert_eq!(refused, 500);
    assert_eq!(store.stats().spans_refused_trace_too_large, 500);
    assert!(store.blocks(TENANT).len() >= 4);
    assert!(store.compact_now().unwrap() >= 1);
    assert_eq!(span_ids(&store, big), acknowledged);
    assert_eq!(span_ids(&store, small).len(), 8);
    store.close().unwrap();

    // After a restart, and after compacting whatever is left, still every acknowledged span.
    let store = open(dir.path(), 200_000);
    store.compact_now().unwrap();
    assert_eq!(span_ids(&store, big), acknowledged);
    assert_eq!(span_ids(&store, small).len(), 8);
    store.close().unwrap();
}

#[test]
fn the_limit_holds_across_a_restart_and_is_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let trace = [0xc2; 16];
    let store = Store::builder()
        .wal_dir(dir.path().join("wal"))
        .local_blocks(dir.path().join("blocks"))
        .unwrap()
        .flush_check_period(Duration::from_secs(3600))
        .max_bytes_per_trace(100_000)
        .tenant_max_bytes_per_trace("unlimited", 0)
        .open()
        .unwrap();
    let receipt = store
        .ingest(TENANT, Batch::new(vec![spans(trace, 0, 150, 500)]))
        .unwrap();
    assert_eq!(receipt.accepted_spans, 150);
    // Over the limit in one batch: refused whole.
    let receipt = store
        .ingest(TENANT, Batch::new(vec![spans(trace, 1000, 100, 500)]))
        .unwrap();
    assert_eq!(receipt.rejected_spans, 100);
    // Another tenant without a limit takes it.
    let receipt = store
        .ingest("unlimited", Batch::new(vec![spans(trace, 0, 1000, 500)]))
        .unwrap();
    assert_eq!(receipt.accepted_spans, 1000);
    store.close().unwrap();
    drop(store);

    // Replaying the WAL counts the trace's size again.
    let store = open(dir.path(), 100_000);
    let receipt = store
        .ingest(TENANT, Batch::new(vec![spans(trace, 2000, 100, 500)]))
        .unwrap();
    assert_eq!(receipt.rejected_spans, 100);
    assert_eq!(span_ids(&store, trace).len(), 150);
    store.close().unwrap();
}

#[test]
fn compaction_keeps_every_span_of_a_trace_over_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let trace = [0xd3; 16];
    // Written without a limit: 3 blocks of ~2.6 MB of one trace, 8 MB in all.
    let store = open(dir.path(), 0);
    for part in 0..3u64 {
        let receipt = store
            .ingest(
                TENANT,
                Batch::new(vec![spans(trace, part * 5000, 5000, 500)]),
            )
            .unwrap();
        assert_eq!(receipt.accepted_spans, 5000);
        store.flush_blocks().unwrap();
    }
    store.close().unwrap();
    drop(store);

    // Reopened with Tempo's default limit (5 MB), compaction keeps all 15,000 spans.
    let store = open(dir.path(), 5_000_000);
    assert_eq!(store.blocks(TENANT).len(), 3);
    assert_eq!(store.compact_now().unwrap(), 1);
    assert_eq!(store.blocks(TENANT).len(), 1);
    assert_eq!(store.blocks(TENANT)[0].spans, 15_000);
    assert_eq!(span_ids(&store, trace).len(), 15_000);
    store.close().unwrap();
    drop(store);
    let store = open(dir.path(), 5_000_000);
    assert_eq!(span_ids(&store, trace).len(), 15_000);
}
