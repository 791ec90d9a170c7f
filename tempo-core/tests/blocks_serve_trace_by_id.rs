//! Traces cut into blocks are found by ID without a time range, after a reopen too, and parts
//! of one trace in the head and in several blocks come back as one trace.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::collections::HashSet;

use tempo_core::model::{ResourceSpans, TraceId};
use tempo_core::{Batch, Store, TimeRange};
use tempo_workload::Workload;

fn span_ids(trace: &tempo_core::model::TracesData) -> HashSet<Vec<u8>> {
    trace
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.span_id.clone())
        .collect()
}

fn trace_ids(batch: &[ResourceSpans]) -> HashSet<TraceId> {
    batch
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .filter_map(|s| TraceId::from_slice(&s.trace_id))
        .collect()
}

#[test]
fn flushed_traces_are_found_by_id_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Store::builder()
            .wal_dir(dir.path().join("wal"))
            .local_blocks(dir.path().join("blocks"))
            .unwrap()
            .open()
            .unwrap()
    };
    let store = open();
    let mut workload = Workload::new(42);
    let mut expected = Vec::new();
    for _ in 0..5 {
        let data = workload.batch(200, None);
        for id in trace_ids(&data.resource_spans) {
            expected.push(id);
        }
        store.ingest("t", Batch::new(data.resource_spans)).unwrap();
        let metas = store.flush_blocks().unwrap();
        assert_eq!(metas.len(), 1);
    }
    // The background thread may already be compacting them: count spans, not blocks.
    let spans = |s: &Store| s.blocks("t").iter().map(|m| m.spans).sum::<u64>();
    let total = spans(&store);
    let per_span: Vec<f64> = store
        .blocks("t")
        .iter()
        .map(|m| m.total_bytes() as f64 / m.spans as f64)
        .collect();
    eprintln!("bytes per span: {per_span:?}");
    // Every 7th trace: a debug build decodes a whole row group per lookup.
    for id in expected.iter().step_by(7) {
        assert!(
            store
                .find_trace("t", *id, TimeRange::ALL)
                .unwrap()
                .is_some(),
            "{id}"
        );
    }
    // The WAL segments behind the blocks were released.
    let segments = std::fs::read_dir(dir.path().join("wal")).unwrap().count();
    assert!(segments <= 2, "{segments} WAL segments remain");
    store.close().unwrap();
    drop(store);

    let store = open();
    assert_eq!(spans(&store), total);
    assert_eq!(store.stats().head_traces, 0, "nothing replayed twice");
    for id in expected.iter().step_by(7) {
        assert!(
            store
                .find_trace("t", *id, TimeRange::ALL)
                .unwrap()
                .is_some(),
            "{id}"
        );
    }
    assert!(
        store
            .find_trace("other", expected[0], TimeRange::ALL)
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_trace_split_across_head_and_blocks_is_combined_then_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder()
        .local_blocks(dir.path())
        .unwrap()
        .compaction_min_inputs(2)
        .flush_check_period(std::time::Duration::from_secs(3600))
        .open()
        .unwrap();
    let mut workload = Workload::new(7);
    let data = workload.batch(1, Some(12));
    let id = *trace_ids(&data.resource_spans).iter().next().unwrap();
    let all: Vec<_> = data.resource_spans[0].scope_spans[0].spans.clone();
    let total: usize = data
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    // Deliver the trace in four parts, each cut into its own block, the last one twice.
    let parts: Vec<Vec<ResourceSpans>> = {
        let mut flat = Vec::new();
        for rs in &data.resource_spans {
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    flat.push(ResourceSpans {
                        resource: rs.resource.clone(),
                        scope_spans: vec![tempo_core::model::ScopeSpans {
                            scope: ss.scope.clone(),
                            spans: vec![span.clone()],
                            schema_url: String::new(),
                        }],
                        schema_url: String::new(),
                    });
                }
            }
        }
        flat.chunks(total.div_ceil(4)).map(<[_]>::to_vec).collect()
    };
    assert!(!all.is_empty());
    for part in &parts {
        store.ingest("t", Batch::new(part.clone())).unwrap();
        store.flush_blocks().unwrap();
    }
    store.ingest("t", Batch::new(parts[3].clone())).unwrap(); // a retried delivery, in the head
    let found = store.find_trace("t", id, TimeRange::ALL).unwrap().unwrap();
    assert_eq!(span_ids(&found).len(), total);
    let spans: usize = found
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    assert_eq!(spans, total, "repeated spans are returned once");

    store.flush_blocks().unwrap();
    assert_eq!(store.blocks("t").len(), 5);
    let compactions = store.compact_now().unwrap();
    assert!(compactions >= 1);
    let blocks = store.blocks("t");
    assert!(blocks.len() < 5, "{} blocks after compaction", blocks.len());
    let stored: u64 = blocks.iter().map(|b| b.spans).sum();
    assert_eq!(
        stored as usize, total,
        "compaction removed the duplicate spans"
    );
    let found = store.find_trace("t", id, TimeRange::ALL).unwrap().unwrap();
    assert_eq!(span_ids(&found).len(), total);
}

#[test]
fn retention_deletes_old_blocks_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder()
        .local_blocks(dir.path())
        .unwrap()
        .block_retention(std::time::Duration::from_secs(1))
        .tenant_retention("keep", std::time::Duration::from_secs(100 * 365 * 86400))
        .open()
        .unwrap();
    // The workload's spans are stamped "now"; move them two hours back.
    let mut workload = Workload::new(3);
    for tenant in ["drop", "keep"] {
        let mut data = workload.batch(10, Some(3));
        for rs in &mut data.resource_spans {
            for ss in &mut rs.scope_spans {
                for s in &mut ss.spans {
                    s.start_time_unix_nano -= 7200 * 1_000_000_000;
                    s.end_time_unix_nano -= 7200 * 1_000_000_000;
                }
            }
        }
        store
            .ingest(tenant, Batch::new(data.resource_spans))
            .unwrap();
    }
    store.flush_blocks().unwrap();
    assert_eq!(store.blocks("drop").len(), 1);
    // Freshly written blocks are kept for the retention period even when their spans are
    // older: backfilled data is not deleted as it lands.
    store.apply_retention_now();
    assert_eq!(store.blocks("drop").len(), 1);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    store.apply_retention_now();
    assert_eq!(store.blocks("drop").len(), 0);
    assert_eq!(store.blocks("keep").len(), 1);
    assert_eq!(store.stats().blocks_expired, 1);
    assert!(std::fs::read_dir(dir.path().join("drop")).map_or(true, |mut d| d.next().is_none()));
}
