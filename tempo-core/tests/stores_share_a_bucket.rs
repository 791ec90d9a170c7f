//! Three stores on one bucket, as three servers would be: each writes its own blocks and
//! finds everyone's traces once it has polled the block list; compaction runs on one of them
//! at a time under a lease, never twice over the same blocks, while queries on the others
//! keep finding every trace; replaced blocks are deleted after their grace period, and a
//! lease left by a store that stopped without a word is taken over once it expires.

#![cfg(feature = "object-store")]
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tempo_core::backend::object_store::memory::InMemory;
use tempo_core::backend::{Backend, ObjectBackend, ObjectStoreOptions};
use tempo_core::model::{TraceId, TracesData};
use tempo_core::{Batch, SearchRequest, Store, TimeRange};
use tempo_workload::Workload;

fn trace_ids(data: &TracesData) -> HashSet<TraceId> {
    data.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .filter_map(|s| TraceId::from_slice(&s.trace_id))
        .collect()
}

fn open(bucket: &Arc<InMemory>, wal: &std::path::Path) -> Store {
    let backend: Arc<dyn Backend> = Arc::new(
        ObjectBackend::new(bucket.clone(), "tempo", ObjectStoreOptions::default()).unwrap(),
    );
    Store::builder()
        .wal_dir(wal)
        .blocks(backend)
        .blocklist_poll(Duration::from_millis(200))
        .compaction_lease(Duration::from_secs(2))
        .compaction_min_inputs(3)
        .compacted_block_retention(Duration::from_secs(1))
        // Blocks are cut by the test alone.
        .max_block_duration(Duration::from_secs(3600))
        .trace_idle_period(Duration::from_secs(3600))
        .open()
        .unwrap()
}

/// Spans in the tenant's blocks as a store sees them: more than were sent means a block is
/// read twice (compacted twice, or not forgotten).
fn spans_in_blocks(store: &Store) -> u64 {
    store.blocks("t").iter().map(|m| m.spans).sum()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn three_stores_share_a_bucket() {
    let bucket = Arc::new(InMemory::new());
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let stores: Vec<Store> = dirs.iter().map(|d| open(&bucket, d.path())).collect();
    let mut workload = Workload::new(11);
    let mut ids: Vec<TraceId> = Vec::new();
    let mut spans = 0u64;
    // Two blocks from each store.
    for _ in 0..2 {
        for store in &stores {
            let data = workload.batch(25, Some(4));
            ids.extend(trace_ids(&data));
            spans += 25 * 4;
            store.ingest("t", Batch::new(data.resource_spans)).unwrap();
            assert_eq!(store.flush_blocks().unwrap().len(), 1);
        }
    }
    // Every store finds every trace once it has polled.
    for store in &stores {
        store.poll_blocklist_now();
        assert_eq!(spans_in_blocks(store), spans);
        for id in &ids {
            assert!(
                store
                    .find_trace("t", *id, TimeRange::ALL)
                    .unwrap()
                    .is_some(),
                "{id}"
            );
        }
        let found = store
            .search("t", &SearchRequest::new("{ }").limit(10_000))
            .unwrap();
        assert_eq!(found.traces.len(), ids.len());
    }

    // All three compact at once while lookups run on every store.
    let querying = AtomicBool::new(true);
    let compactions: usize = std::thread::scope(|scope| {
        for store in &stores {
            let (ids, querying) = (&ids, &querying);
            scope.spawn(move || {
                while querying.load(Ordering::SeqCst) {
                    for id in ids.iter().step_by(7) {
                        let found = store.find_trace("t", *id, TimeRange::ALL);
                        assert!(
                            matches!(found, Ok(Some(_))),
                            "{id} while compacting: {found:?}"
                        );
                    }
                }
            });
        }
        let compacting: Vec<_> = stores
            .iter()
            .map(|s| scope.spawn(move || s.compact_now().unwrap()))
            .collect();
        let total = compacting.into_iter().map(|h| h.join().unwrap()).sum();
        std::thread::sleep(Duration::from_millis(500));
        querying.store(false, Ordering::SeqCst);
        total
    });
    let done: u64 = stores.iter().map(|s| s.stats().compactions).sum();
    eprintln!(
        "compactions: {compactions} by compact_now, {done} in all; blocks {:?}",
        stores
            .iter()
            .map(|s| s.blocks("t").len())
            .collect::<Vec<_>>()
    );
    assert!(done >= 1, "someone compacted");
    // Nothing compacted twice: after a poll each store reads every span once.
    for store in &stores {
        store.poll_blocklist_now();
        assert_eq!(spans_in_blocks(store), spans);
        assert!(store.blocks("t").len() < 6, "{:?}", store.blocks("t").len());
    }

    // After the grace period the holder deletes the replaced blocks; every trace is still
    // found everywhere.
    std::thread::sleep(Duration::from_millis(1200));
    for store in &stores {
        store.delete_compacted_now();
    }
    let whole = ObjectBackend::new(bucket.clone(), "tempo", ObjectStoreOptions::default()).unwrap();
    let in_bucket = || {
        whole
            .list("t")
            .unwrap()
            .into_iter()
            .filter(|n| n.len() == 36)
            .count()
    };
    assert_eq!(in_bucket(), stores[0].blocks("t").len());
    for store in &stores {
        store.poll_blocklist_now();
        for id in &ids {
            assert!(
                store
                    .find_trace("t", *id, TimeRange::ALL)
                    .unwrap()
                    .is_some(),
                "{id}"
            );
        }
    }

    // The holder stops without a word (its lease is not released): once the lease expires,
    // another store compacts.
    let holder = stores
        .iter()
        .position(|s| s.stats().compactions > 0)
        .unwrap();
    let mut stores = stores;
    let gone = stores.remove(holder);
    drop(gone);
    for _ in 0..3 {
        let data = workload.batch(10, Some(2));
        ids.extend(trace_ids(&data));
        stores[0]
            .ingest("t", Batch::new(data.resource_spans))
            .unwrap();
        stores[0].flush_blocks().unwrap();
    }
    let before: u64 = stores.iter().map(|s| s.stats().compactions).sum();
    wait_until("another store takes the lease and compacts", || {
        for s in &stores {
            s.compact_now().unwrap();
        }
        stores.iter().map(|s| s.stats().compactions).sum::<u64>() > before
    });
    for store in &stores {
        store.poll_blocklist_now();
        for id in &ids {
            assert!(
                store
                    .find_trace("t", *id, TimeRange::ALL)
                    .unwrap()
                    .is_some(),
                "{id}"
            );
        }
    }
    for store in &stores {
        store.close().unwrap();
    }
}
