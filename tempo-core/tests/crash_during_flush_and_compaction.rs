//! A crash at any durable operation of the block backend, while blocks are cut from the head or
//! compacted, loses no acknowledged span, shows none twice, and leaves no block that reads as an
//! error: after reopening on the image frozen at the N-th sync and on the write-ahead log as
//! it was on disk, every acknowledged span is found exactly once, before and after the reopened
//! store flushes and compacts again.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tempo_core::backend::testing::FreezingBackend;
use tempo_core::backend::{Backend, MemoryBackend};
use tempo_core::model::{ResourceSpans, ScopeSpans, TraceId};
use tempo_core::{Batch, Store, TimeRange};
use tempo_workload::Workload;

const TENANT: &str = "crash";

/// A span as readers de-duplicate it: span ID and kind.
type SpanKey = (Vec<u8>, i32);

/// Spans acknowledged to the client, by trace.
type Acknowledged = BTreeMap<TraceId, BTreeSet<SpanKey>>;

/// One step of the workload.
#[derive(Debug, Clone, Copy)]
enum Step {
    Ingest(usize),
    FlushBlocks,
    CompactNow,
}

/// Cuts four level-0 blocks and compacts them into a level-2 block through two level-1 blocks;
/// one trace arrives in three parts, so it lies in three level-0 blocks.
const STEPS: [Step; 10] = [
    Step::Ingest(0),
    Step::FlushBlocks,
    Step::Ingest(1),
    Step::FlushBlocks,
    Step::CompactNow,
    Step::Ingest(2),
    Step::FlushBlocks,
    Step::Ingest(3),
    Step::FlushBlocks,
    Step::CompactNow,
];

/// Four batches of 10 traces of 4 spans, plus the parts of one 6-span trace in batches 0, 1
/// and 3.
fn batches() -> Vec<Vec<ResourceSpans>> {
    let mut workload = Workload::new(20_261_121);
    let mut batches: Vec<Vec<ResourceSpans>> = (0..4)
        .map(|_| workload.batch(10, Some(4)).resource_spans)
        .collect();
    let split = workload.batch(1, Some(6)).resource_spans;
    let mut parts: Vec<ResourceSpans> = Vec::new();
    for rs in &split {
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                parts.push(ResourceSpans {
                    resource: rs.resource.clone(),
                    scope_spans: vec![ScopeSpans {
                        scope: ss.scope.clone(),
                        spans: vec![span.clone()],
                        schema_url: ss.schema_url.clone(),
                    }],
                    schema_url: rs.schema_url.clone(),
                });
            }
        }
    }
    assert_eq!(parts.len(), 6);
    for (i, part) in parts.into_iter().enumerate() {
        batches[[0, 0, 1, 1, 3, 3][i]].push(part);
    }
    batches
}

fn span_keys(batch: &[ResourceSpans]) -> impl Iterator<Item = (TraceId, SpanKey)> + '_ {
    batch
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| {
            (
                TraceId::from_slice(&s.trace_id).unwrap(),
                (s.span_id.clone(), s.kind),
            )
        })
}

fn open(wal: &Path, blocks: Arc<dyn Backend>) -> Store {
    Store::builder()
        .wal_dir(wal)
        .blocks(blocks)
        .trace_idle_period(Duration::from_secs(3600))
        .max_block_duration(Duration::from_secs(3600))
        .compaction_min_inputs(2)
        // One window for every block, whatever the clock says while the test runs.
        .compaction_window(Duration::from_secs(100 * 365 * 86_400))
        // The background thread never runs during the test.
        .flush_check_period(Duration::from_secs(3600))
        .open()
        .unwrap()
}

/// A scratch directory for a write-ahead log: in memory where the system offers it (syncs are
/// then free, and a copy still sees exactly what was written), else in the temporary directory.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().unwrap()
}

/// Copies the files of `from` into `to`, as they are on disk now.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// What a run left behind at its crash.
struct Crash {
    /// The block backend's durable state.
    image: MemoryBackend,
    /// The write-ahead log, as it was on disk.
    wal: tempfile::TempDir,
    acknowledged: Acknowledged,
    syncs: u64,
    /// Errors returned by the steps after the freeze.
    errors: Vec<String>,
}

/// Runs the steps on a backend freezing at `freeze_at`. With `stop_at_freeze`, the process
/// "dies" at the first step that finds the backend frozen; otherwise it runs every step,
/// ignoring their errors, and dies at the end.
fn run(batches: &[Vec<ResourceSpans>], freeze_at: Option<u64>, stop_at_freeze: bool) -> Crash {
    let dir = scratch_dir();
    let backend = Arc::new(FreezingBackend::new(freeze_at));
    let store = open(dir.path(), backend.clone());
    let mut acknowledged = Acknowledged::new();
    let mut errors = Vec::new();
    for step in STEPS {
        let result = match step {
            Step::Ingest(i) => store
                .ingest(TENANT, Batch::new(batches[i].clone()))
                .map(|_| {
                    for (id, key) in span_keys(&batches[i]) {
                        acknowledged.entry(id).or_default().insert(key);
                    }
                })
                .map_err(tempo_core::Error::from),
            Step::FlushBlocks => store.flush_blocks().map(drop).map_err(Into::into),
            Step::CompactNow => store.compact_now().map(drop).map_err(Into::into),
        };
        match result {
            Ok(()) => {}
            Err(e) if backend.is_frozen() => errors.push(format!("{step:?}: {e}")),
            Err(e) => panic!("freeze at {freeze_at:?}: {step:?} failed before the freeze: {e}"),
        }
        if stop_at_freeze && backend.is_frozen() {
            break;
        }
    }
    if freeze_at.is_none() {
        let stats = store.stats();
        assert_eq!(stats.compactions, 3, "{stats:?}");
        assert_eq!(store.blocks(TENANT).len(), 1);
        assert_eq!(store.blocks(TENANT)[0].compaction_level, 2);
        check(&store, &acknowledged, "the run without a crash");
    }
    // The crash: the log as it is on disk now, the backend as it was at the freeze.
    let wal = scratch_dir();
    copy_dir(dir.path(), wal.path());
    let crash = Crash {
        image: backend.frozen_image(),
        wal,
        acknowledged,
        syncs: backend.sync_count(),
        errors,
    };
    drop(store);
    crash
}

/// Every acknowledged span is found exactly once, and no block failed to read.
fn check(store: &Store, acknowledged: &Acknowledged, when: &str) {
    for (id, expected) in acknowledged {
        let found = store
            .find_trace(TENANT, *id, TimeRange::ALL)
            .unwrap()
            .unwrap_or_else(|| panic!("{when}: trace {id} is lost"));
        let mut keys = BTreeSet::new();
        for span in found
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
        {
            assert_eq!(
                span.trace_id, id.0,
                "{when}: trace {id} holds a foreign span"
            );
            assert!(
                keys.insert((span.span_id.clone(), span.kind)),
                "{when}: trace {id} returns span {} twice",
                hex(&span.span_id)
            );
        }
        assert_eq!(&keys, expected, "{when}: trace {id} has other spans");
    }
    let stats = store.stats();
    assert_eq!(
        stats.block_errors, 0,
        "{when}: blocks failed to read: {stats:?}"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reopens on what the crash left and checks it, then flushes, compacts and checks again,
/// then closes and reopens once more.
fn recover(crash: &Crash, label: &str) {
    let blocks: Arc<dyn Backend> = Arc::new(crash.image.clone());
    let store = open(crash.wal.path(), blocks.clone());
    check(&store, &crash.acknowledged, &format!("{label}, reopened"));

    store
        .flush_blocks()
        .unwrap_or_else(|e| panic!("{label}: flush after reopening: {e}"));
    store
        .compact_now()
        .unwrap_or_else(|e| panic!("{label}: compaction after reopening: {e}"));
    assert_eq!(store.stats().head_traces, 0, "{label}: the head is flushed");
    check(
        &store,
        &crash.acknowledged,
        &format!("{label}, flushed and compacted"),
    );
    store.close().unwrap();
    drop(store);

    // Everything is in blocks now: the log behind them is released, nothing is replayed.
    let store = open(crash.wal.path(), blocks);
    assert_eq!(
        store.stats().head_traces,
        0,
        "{label}: spans already in blocks were replayed from the log"
    );
    check(
        &store,
        &crash.acknowledged,
        &format!("{label}, reopened after flushing"),
    );
    store.close().unwrap();
}

#[test]
fn a_crash_at_any_sync_loses_no_acknowledged_span() {
    let batches = batches();
    let clean = run(&batches, None, false);
    let total = clean.syncs;
    eprintln!("{total} syncs without a crash");
    let spans: usize = clean.acknowledged.values().map(BTreeSet::len).sum();
    assert_eq!(clean.acknowledged.len(), 41);
    assert_eq!(spans, 4 * 10 * 4 + 6);
    // Four blocks cut, three compactions: at least data, index, a bloom shard and meta.json
    // per block written, and one delete per compacted input.
    assert!(total >= 7 * 4 + 6, "only {total} syncs");
    recover(&clean, "no crash");

    for n in 1..=total {
        for stop_at_freeze in [true, false] {
            let label = format!(
                "freeze at sync {n} of {total}, {}",
                if stop_at_freeze {
                    "dying at once"
                } else {
                    "running on"
                }
            );
            let crash = run(&batches, Some(n), stop_at_freeze);
            // A failed delete of a compacted input is logged, not returned: no error then.
            if !crash.errors.is_empty() {
                eprintln!("{label}: {}", crash.errors.join("; "));
            }
            recover(&crash, &label);
        }
    }
}
