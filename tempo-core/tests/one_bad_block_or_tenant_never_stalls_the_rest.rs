//! One bad block or one bad tenant never holds back the rest: a corrupt block met by
//! compaction is set aside and compaction goes on with the healthy blocks of every tenant;
//! tenant IDs shaped like the block store's own temporary names are stored as any other; and a
//! tenant whose blocks cannot be written never keeps the write-ahead log of the others from
//! being released, nor loses its own acknowledged spans.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tempo_core::backend::{Backend, BackendError, MemoryBackend};
use tempo_core::model::{ResourceSpans, TraceId};
use tempo_core::{Batch, Store, TimeRange};
use tempo_workload::Workload;

fn trace_ids(batch: &[ResourceSpans]) -> BTreeSet<TraceId> {
    batch
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| TraceId::from_slice(&s.trace_id).unwrap())
        .collect()
}

fn all_found(store: &Store, tenant: &str, ids: &BTreeSet<TraceId>) -> bool {
    ids.iter().all(|id| {
        store
            .find_trace(tenant, *id, TimeRange::ALL)
            .unwrap()
            .is_some()
    })
}

fn open_local(dir: &Path) -> Store {
    Store::builder()
        .wal_dir(dir.join("wal"))
        .local_blocks(dir.join("blocks"))
        .unwrap()
        .flush_check_period(Duration::from_secs(3600))
        .compaction_min_inputs(3)
        .open()
        .unwrap()
}

#[test]
fn compaction_sets_a_corrupt_block_aside_and_goes_on_with_every_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_local(dir.path());
    let mut workload = Workload::new(5);
    // Tenant `a-bad` sorts first: four blocks, one of which will be damaged; `b-good`: three.
    let mut ids: Vec<(String, String, BTreeSet<TraceId>)> = Vec::new();
    for (tenant, blocks) in [("a-bad", 4), ("b-good", 3)] {
        for _ in 0..blocks {
            let batch = workload.batch(5, Some(3)).resource_spans;
            let traces = trace_ids(&batch);
            store.ingest(tenant, Batch::new(batch)).unwrap();
            let metas = store.flush_blocks().unwrap();
            ids.push((tenant.to_owned(), metas[0].block_id.clone(), traces));
        }
    }
    store.close().unwrap();
    drop(store);

    // Damage the data of one of `a-bad`'s blocks.
    let (_, victim, victim_traces) = ids[1].clone();
    let data = dir.path().join("blocks/a-bad").join(&victim).join("data");
    let mut bytes = std::fs::read(&data).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&data, bytes).unwrap();

    let store = open_local(dir.path());
    let compactions = store.compact_now().unwrap();
    assert_eq!(
        compactions, 3,
        "a-bad's aside, then merges of a-bad's rest and b-good"
    );
    let aside = store.set_aside_blocks();
    assert_eq!(aside.len(), 1);
    assert_eq!(aside[0].tenant, "a-bad");
    assert_eq!(aside[0].block_id, victim);
    assert_eq!(store.stats().blocks_set_aside, 1);
    assert_eq!(
        store.blocks("a-bad").len(),
        1,
        "the three healthy blocks merged"
    );
    assert_eq!(store.blocks("b-good").len(), 1);
    assert_eq!(store.blocks("a-bad")[0].compaction_level, 1);
    for (tenant, block, traces) in &ids {
        if *block != victim {
            assert!(all_found(&store, tenant, traces), "{tenant}/{block}");
        }
    }
    // The inputs are marked and kept for their grace period, then deleted; the corrupt block
    // is kept, marked, for inspection.
    let blocks = dir.path().join("blocks");
    let (_, first, _) = &ids[0];
    assert!(
        blocks
            .join("a-bad")
            .join(first)
            .join("compacted.json")
            .exists()
    );
    store.delete_compacted_now();
    assert!(!blocks.join("a-bad").join(first).exists());
    assert!(
        blocks
            .join("a-bad")
            .join(&victim)
            .join("corrupt.json")
            .exists()
    );
    store.close().unwrap();
    drop(store);

    // Reopened: the corrupt block stays aside, nothing is compacted again, nothing is lost.
    let store = open_local(dir.path());
    assert_eq!(store.stats().blocks_set_aside, 1);
    assert_eq!(store.stats().block_errors, 0);
    assert_eq!(store.compact_now().unwrap(), 0);
    assert!(!all_found(&store, "a-bad", &victim_traces));
    for (tenant, block, traces) in &ids {
        if *block != victim {
            assert!(all_found(&store, tenant, traces), "{tenant}/{block}");
        }
    }
}

#[test]
fn compacted_blocks_are_not_read_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_local(dir.path());
    let mut workload = Workload::new(6);
    let mut all = BTreeSet::new();
    for _ in 0..3 {
        let batch = workload.batch(5, Some(3)).resource_spans;
        all.extend(trace_ids(&batch));
        store.ingest("t", Batch::new(batch)).unwrap();
        store.flush_blocks().unwrap();
    }
    assert_eq!(store.compact_now().unwrap(), 1);
    store.close().unwrap();
    drop(store);
    // Within the grace period the inputs are still on disk, marked: not loaded again.
    let store = open_local(dir.path());
    assert_eq!(store.blocks("t").len(), 1);
    assert!(all_found(&store, "t", &all));
}

#[test]
fn tenant_ids_shaped_like_temporary_names_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_local(dir.path());
    let mut workload = Workload::new(7);
    let mut expected = Vec::new();
    for tenant in [".x.tmp-1-2", ".y.del-3-4", "plain"] {
        let batch = workload.batch(3, Some(2)).resource_spans;
        expected.push((tenant, trace_ids(&batch)));
        store.ingest(tenant, Batch::new(batch)).unwrap();
    }
    let metas = store.flush_blocks().unwrap();
    assert_eq!(metas.len(), 3, "every tenant's block is written");
    store.close().unwrap();
    drop(store);
    let wal_files = std::fs::read_dir(dir.path().join("wal")).unwrap().count();
    let store = open_local(dir.path());
    for (tenant, ids) in &expected {
        assert_eq!(store.blocks(tenant).len(), 1, "{tenant}");
        assert!(all_found(&store, tenant, ids), "{tenant}");
    }
    assert_eq!(store.stats().head_spans, 0, "nothing was left in the log");
    assert!(wal_files <= 3, "{wal_files} files in the WAL directory");
}

/// A backend that refuses every write under one tenant.
#[derive(Debug)]
struct FailingFor {
    inner: Arc<MemoryBackend>,
    tenant: &'static str,
}

impl Backend for FailingFor {
    fn read(&self, key: &str) -> Result<Bytes, BackendError> {
        self.inner.read(key)
    }
    fn read_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, BackendError> {
        self.inner.read_range(key, offset, len)
    }
    fn write(&self, key: &str, data: Bytes) -> Result<(), BackendError> {
        if key.starts_with(&format!("{}/", self.tenant)) {
            // Any error will do; this one names the key.
            return Err(BackendError::InvalidKey {
                key: key.to_owned(),
                reason: "this tenant's writes fail".into(),
            });
        }
        self.inner.write(key, data)
    }
    fn list(&self, prefix: &str) -> Result<Vec<String>, BackendError> {
        self.inner.list(prefix)
    }
    fn delete_prefix(&self, prefix: &str) -> Result<(), BackendError> {
        self.inner.delete_prefix(prefix)
    }
    fn size(&self, key: &str) -> Result<u64, BackendError> {
        self.inner.size(key)
    }
}

fn wal_segments(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".wal")
        })
        .count()
}

#[test]
fn a_tenant_whose_blocks_fail_never_holds_back_the_log_of_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let wal = dir.path().join("wal");
    let memory = Arc::new(MemoryBackend::new());
    let open = |failing: bool| {
        let backend: Arc<dyn Backend> = if failing {
            Arc::new(FailingFor {
                inner: memory.clone(),
                tenant: "stuck",
            })
        } else {
            memory.clone()
        };
        Store::builder()
            .wal_dir(&wal)
            .blocks(backend)
            .flush_check_period(Duration::from_secs(3600))
            .compaction_min_inputs(1000)
            .open()
            .unwrap()
    };
    let store = open(true);
    let mut workload = Workload::new(8);
    let stuck = workload.batch(4, Some(3)).resource_spans;
    let stuck_ids = trace_ids(&stuck);
    store.ingest("stuck", Batch::new(stuck)).unwrap();
    let mut ok_ids = BTreeSet::new();
    let mut most = 0;
    for _ in 0..30 {
        let batch = workload.batch(4, Some(3)).resource_spans;
        ok_ids.extend(trace_ids(&batch));
        store.ingest("ok", Batch::new(batch)).unwrap();
        // `stuck` fails every time; `ok`'s blocks are written.
        assert!(store.flush_blocks().is_err());
        most = most.max(wal_segments(&wal));
    }
    eprintln!("at most {most} WAL segments");
    assert!(
        most <= 12,
        "the log grew to {most} segments: the stuck tenant holds it back"
    );
    assert!(all_found(&store, "stuck", &stuck_ids));
    assert!(all_found(&store, "ok", &ok_ids));
    store.close().unwrap();
    drop(store);

    // After a restart (from the log carried forward), and once its blocks can be written,
    // the stuck tenant's spans are all there.
    let store = open(false);
    assert!(all_found(&store, "stuck", &stuck_ids));
    store.flush_blocks().unwrap();
    assert!(all_found(&store, "stuck", &stuck_ids));
    assert!(all_found(&store, "ok", &ok_ids));
    assert!(wal_segments(&wal) <= 2);
}
