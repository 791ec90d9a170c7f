//! A trace lookup by ID, with no time range, over many blocks reads one bloom filter shard
//! per block and one row group when the cache is cold, and the row group alone once the
//! shards are cached: what makes lookups on object storage, where each read is a request,
//! cost a handful of requests.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::sync::Arc;

use tempo_core::backend::{Backend, MemoryBackend};
use tempo_core::model::TraceId;
use tempo_core::{Batch, Store, TimeRange};
use tempo_workload::Workload;

const BLOCKS: usize = 40;

#[test]
fn lookups_read_a_shard_per_block_cold_and_one_row_group_warm() {
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let open = || {
        Store::builder()
            .blocks(backend.clone())
            // No compaction: the blocks stay many.
            .compaction_min_inputs(usize::MAX)
            .open()
            .unwrap()
    };
    let store = open();
    let mut workload = Workload::new(3);
    let mut ids: Vec<TraceId> = Vec::new();
    for _ in 0..BLOCKS {
        let data = workload.batch(20, Some(3));
        ids.push(
            TraceId::from_slice(&data.resource_spans[0].scope_spans[0].spans[0].trace_id).unwrap(),
        );
        store.ingest("t", Batch::new(data.resource_spans)).unwrap();
        store.flush_blocks().unwrap();
    }
    store.close().unwrap();
    drop(store);

    // A new store over the same blocks: nothing cached.
    let store = open();
    assert_eq!(store.blocks("t").len(), BLOCKS);
    let gets = |s: &Store| s.backend_stats().unwrap().gets();
    let before = gets(&store);
    assert!(
        store
            .find_trace("t", ids[7], TimeRange::ALL)
            .unwrap()
            .is_some()
    );
    let cold = gets(&store) - before;
    // A shard per block, the data file's header and the row group of the block that holds
    // it (and one more row group per bloom false positive, rare at 1%).
    assert!(
        cold >= BLOCKS as u64 + 2 && cold <= BLOCKS as u64 + 4,
        "cold: {cold} GETs"
    );

    let before = gets(&store);
    assert!(
        store
            .find_trace("t", ids[7], TimeRange::ALL)
            .unwrap()
            .is_some()
    );
    let warm = gets(&store) - before;
    assert!(warm <= 2, "warm: {warm} GETs");
    // Another trace of another block: its shard is cached already, only its row group (and
    // its data file's header, checked once per block) are read.
    let before = gets(&store);
    assert!(
        store
            .find_trace("t", ids[30], TimeRange::ALL)
            .unwrap()
            .is_some()
    );
    let other = gets(&store) - before;
    // (Two more, a header and a row group, for a bloom false positive of another block.)
    assert!(other <= 4, "another block, warm: {other} GETs");
    eprintln!(
        "GETs per lookup over {BLOCKS} blocks: cold {cold}, warm {warm}, warm in another block {other}"
    );
    let stats = store.backend_stats().unwrap();
    assert!(stats.cache_hits >= BLOCKS as u64, "{stats:?}");
    assert!(stats.healthy);
}
