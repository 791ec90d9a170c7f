//! A span stamped far in the past or the future (start 0, end 2^64-1) is stored as sent, but
//! the time range of its block, used for pruning and retention, stays within
//! `ingestion_time_range_slack` of when it was ingested: no block is pinned forever, and
//! retention deletes it on time.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tempo_core::backend::MemoryBackend;
use tempo_core::model::{ResourceSpans, ScopeSpans, Span, TraceId};
use tempo_core::{Batch, SearchRequest, Store, TimeRange};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn span(trace: u8, start: u64, end: u64) -> ResourceSpans {
    ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans: vec![Span {
                trace_id: vec![trace; 16],
                span_id: vec![trace; 8],
                name: "odd clock".into(),
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn far_timestamps_are_kept_but_never_pin_a_block() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder()
        .wal_dir(dir.path())
        .blocks(Arc::new(MemoryBackend::new()))
        .flush_check_period(Duration::from_secs(3600))
        .ingestion_time_range_slack(Duration::from_secs(1))
        .block_retention(Duration::from_secs(1))
        .compaction_min_inputs(2)
        .open()
        .unwrap();
    let before = now();
    store
        .ingest(
            "t",
            Batch::new(vec![span(1, 0, u64::MAX), span(2, before, before + 1_000)]),
        )
        .unwrap();
    store
        .ingest("t", Batch::new(vec![span(3, u64::MAX - 5, u64::MAX)]))
        .unwrap();
    store.flush_blocks().unwrap();
    let after = now();
    let metas = store.blocks("t");
    assert_eq!(metas.len(), 1);
    let (start, end) = (metas[0].start_time_unix_nano, metas[0].end_time_unix_nano);
    assert!(start >= before - 1_000_000_000, "start {start}");
    assert!(end <= after + 1_000_000_000, "end {end}");

    // Stored as sent, found by ID and by a search over its own times.
    let trace = store
        .find_trace("t", TraceId([1; 16]), TimeRange::ALL)
        .unwrap()
        .unwrap();
    let stored = &trace.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(
        (stored.start_time_unix_nano, stored.end_time_unix_nano),
        (0, u64::MAX)
    );
    let found = store
        .search(
            "t",
            &SearchRequest::new("{ }").range(TimeRange {
                start: before - 60_000_000_000,
                end: after + 60_000_000_000,
            }),
        )
        .unwrap();
    // Traces 1 and 2 overlap now; trace 3 lies wholly in the far future.
    let ids: Vec<TraceId> = found.traces.iter().map(|t| t.trace_id).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&TraceId([1; 16])) && ids.contains(&TraceId([2; 16])));

    // Compaction keeps the inputs' ranges, not the spans' own.
    store
        .ingest("t", Batch::new(vec![span(4, 0, u64::MAX)]))
        .unwrap();
    store.flush_blocks().unwrap();
    assert_eq!(store.compact_now().unwrap(), 1);
    let metas = store.blocks("t");
    assert_eq!(metas.len(), 1);
    assert!(metas[0].end_time_unix_nano <= now() + 1_000_000_000);

    // Retention deletes it once its (clamped) range is old enough.
    std::thread::sleep(Duration::from_millis(3_100));
    store.apply_retention_now();
    assert!(store.blocks("t").is_empty(), "the block was kept");
}
