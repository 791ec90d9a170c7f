//! When spans arrive faster than blocks are cut, a tenant's head stops at `max_head_bytes`:
//! further batches are refused with `IngestError::Overloaded` (retryable), every acknowledged span is
//! still found, other tenants are not affected, and ingestion resumes once blocks are cut.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a panic"
)]

use std::sync::Arc;
use std::time::Duration;

use tempo_core::backend::MemoryBackend;
use tempo_core::model::TraceId;
use tempo_core::{Batch, IngestError, Store, TimeRange};
use tempo_workload::Workload;

#[test]
fn a_full_head_refuses_batches_until_blocks_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder()
        .wal_dir(dir.path())
        .blocks(Arc::new(MemoryBackend::new()))
        // No background cut during the test: only `flush_blocks` empties the head.
        .flush_check_period(Duration::from_secs(3600))
        .max_block_bytes(1 << 20)
        .max_head_bytes(2 << 20)
        .open()
        .unwrap();
    let mut workload = Workload::new(7);
    let mut acknowledged: Vec<TraceId> = Vec::new();
    let mut refused = None;
    for _ in 0..200 {
        let data = workload.batch(50, None);
        let ids: Vec<TraceId> = data
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .filter_map(|s| TraceId::from_slice(&s.trace_id))
            .collect();
        match store.ingest("busy", Batch::new(data.resource_spans)) {
            Ok(_) => acknowledged.extend(ids),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let err = refused.expect("the head filled up");
    assert!(
        matches!(&err, IngestError::Overloaded { tenant, limit, .. } if tenant == "busy" && *limit == 2 << 20),
        "{err}"
    );
    assert!(err.to_string().contains("retry later"), "{err}");
    assert_eq!(store.stats().batches_refused_overloaded, 1);

    // Another tenant still ingests.
    let other = workload.batch(5, None);
    store
        .ingest("quiet", Batch::new(other.resource_spans))
        .unwrap();

    // Every acknowledged trace is there.
    acknowledged.sort();
    acknowledged.dedup();
    for id in &acknowledged {
        assert!(
            store
                .find_trace("busy", *id, TimeRange::ALL)
                .unwrap()
                .is_some()
        );
    }

    // Once the head is cut into blocks, batches are accepted again.
    store.flush_blocks().unwrap();
    let data = workload.batch(50, None);
    store
        .ingest("busy", Batch::new(data.resource_spans))
        .unwrap();
    for id in acknowledged.iter().step_by(97) {
        assert!(
            store
                .find_trace("busy", *id, TimeRange::ALL)
                .unwrap()
                .is_some()
        );
    }
}
