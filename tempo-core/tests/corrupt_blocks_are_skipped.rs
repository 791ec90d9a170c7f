//! A truncated or corrupt block on local disk is set aside and counted, never a panic: the
//! traces of the other blocks are all still found; a damaged index is rebuilt from the data
//! file and a damaged bloom filter bypassed, so neither loses a trace; and a block whose
//! `meta.json` is missing (an interrupted write) does not exist and is removed.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempo_core::model::{ResourceSpans, TraceId, TracesData};
use tempo_core::{Batch, Store, TimeRange};
use tempo_workload::Workload;

const TENANT: &str = "damaged";

/// A span as readers de-duplicate it: span ID and kind.
type SpanKey = (Vec<u8>, i32);

/// A block written by the setup, and the spans of each of its traces.
struct Written {
    id: String,
    traces: Vec<(TraceId, BTreeSet<SpanKey>)>,
}

fn open(root: &Path) -> Store {
    Store::builder()
        .local_blocks(root)
        .unwrap()
        .compaction_min_inputs(100)
        .flush_check_period(Duration::from_secs(3600))
        .open()
        .unwrap()
}

fn traces_of(batch: &[ResourceSpans]) -> Vec<(TraceId, BTreeSet<SpanKey>)> {
    let mut out: std::collections::BTreeMap<TraceId, BTreeSet<SpanKey>> = Default::default();
    for span in batch
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
    {
        out.entry(TraceId::from_slice(&span.trace_id).unwrap())
            .or_default()
            .insert((span.span_id.clone(), span.kind));
    }
    out.into_iter().collect()
}

fn keys(found: &TracesData) -> Vec<SpanKey> {
    found
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| (s.span_id.clone(), s.kind))
        .collect()
}

/// Three blocks of ten traces of four spans, one per flush, in `root`.
fn write_blocks(root: &Path) -> Vec<Written> {
    let store = open(root);
    let mut workload = Workload::new(77);
    let mut written = Vec::new();
    for _ in 0..3 {
        let batch = workload.batch(10, Some(4)).resource_spans;
        let traces = traces_of(&batch);
        store.ingest(TENANT, Batch::new(batch)).unwrap();
        let metas = store.flush_blocks().unwrap();
        assert_eq!(metas.len(), 1);
        written.push(Written {
            id: metas[0].block_id.clone(),
            traces,
        });
    }
    assert_eq!(store.blocks(TENANT).len(), 3);
    store.close().unwrap();
    written
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn truncate(path: &Path) {
    let len = std::fs::metadata(path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_len(len / 2).unwrap();
    file.sync_all().unwrap();
}

fn flip(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

fn flip_middle(path: &Path) {
    let len = std::fs::metadata(path).unwrap().len() as usize;
    flip(path, len / 2);
}

/// What is done to one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Damage {
    TruncateData,
    FlipByteInData,
    TruncateIndex,
    CorruptBloom,
    InvalidMeta,
    DeleteMeta,
}

impl Damage {
    fn apply(self, block: &Path) {
        match self {
            Damage::TruncateData => truncate(&block.join("data")),
            Damage::FlipByteInData => flip_middle(&block.join("data")),
            Damage::TruncateIndex => truncate(&block.join("index")),
            Damage::CorruptBloom => {
                let mut shards = 0;
                for entry in std::fs::read_dir(block).unwrap() {
                    let entry = entry.unwrap();
                    if entry.file_name().to_string_lossy().starts_with("bloom-") {
                        flip_middle(&entry.path());
                        shards += 1;
                    }
                }
                assert!(shards > 0, "no bloom shard in {}", block.display());
            }
            Damage::InvalidMeta => {
                std::fs::write(block.join("meta.json"), b"{\"version\": 1, \"blockId\": ").unwrap();
            }
            Damage::DeleteMeta => std::fs::remove_file(block.join("meta.json")).unwrap(),
        }
    }

    /// Whether opening the store already finds the damage.
    fn found_at_open(self) -> bool {
        matches!(self, Damage::InvalidMeta)
    }

    /// Whether the damage loses nothing: the index is rebuilt, the bloom filter bypassed.
    fn repaired(self) -> bool {
        matches!(self, Damage::TruncateIndex | Damage::CorruptBloom)
    }
}

/// A copy of the pristine blocks with `damage` done to block `victim`.
fn damaged_copy(
    pristine: &Path,
    scratch: &Path,
    written: &[Written],
    victim: usize,
    damage: Damage,
) -> PathBuf {
    let root = scratch.join(format!("{damage:?}"));
    copy_tree(pristine, &root);
    damage.apply(&root.join(TENANT).join(&written[victim].id));
    root
}

/// Looks up every trace: those of healthy blocks are found whole; those of the victim are
/// absent or whole, never partial or wrong. Returns how many of the victim's were found.
fn look_up_all(store: &Store, written: &[Written], victim: usize, what: &str) -> usize {
    let mut victim_found = 0;
    for (b, block) in written.iter().enumerate() {
        for (id, expected) in &block.traces {
            let found = store.find_trace(TENANT, *id, TimeRange::ALL).unwrap();
            match found {
                Some(found) => {
                    let got = keys(&found);
                    let set: BTreeSet<SpanKey> = got.iter().cloned().collect();
                    assert_eq!(set.len(), got.len(), "{what}: trace {id} has a span twice");
                    assert_eq!(&set, expected, "{what}: trace {id} has other spans");
                    if b == victim {
                        victim_found += 1;
                    }
                }
                None => assert_eq!(b, victim, "{what}: trace {id} of a healthy block is lost"),
            }
        }
    }
    victim_found
}

#[test]
fn each_kind_of_damage_skips_only_the_damaged_block() {
    let scratch = tempfile::tempdir().unwrap();
    let pristine = scratch.path().join("pristine");
    let written = write_blocks(&pristine);
    let victim = 1;

    for damage in [
        Damage::TruncateData,
        Damage::FlipByteInData,
        Damage::TruncateIndex,
        Damage::CorruptBloom,
        Damage::InvalidMeta,
        Damage::DeleteMeta,
    ] {
        let root = damaged_copy(&pristine, scratch.path(), &written, victim, damage);
        let store = open(&root);
        let at_open = store.stats().block_errors;
        let readable = store.blocks(TENANT).len();
        if damage.found_at_open() {
            assert!(at_open > 0, "{damage:?}: not counted at open");
            assert_eq!(readable, 2, "{damage:?}");
            assert_eq!(store.stats().blocks_set_aside, 1, "{damage:?}");
        } else if damage == Damage::DeleteMeta {
            assert_eq!(
                at_open, 0,
                "{damage:?}: an interrupted write is not an error"
            );
            assert_eq!(
                readable, 2,
                "{damage:?}: a block without meta.json does not exist"
            );
            assert!(
                !root.join(TENANT).join(&written[victim].id).exists(),
                "{damage:?}: a block without meta.json is removed at start"
            );
        } else {
            assert_eq!(
                readable, 3,
                "{damage:?}: the damage is found when a lookup reads it"
            );
        }

        let victim_found = look_up_all(&store, &written, victim, &format!("{damage:?}"));
        let errors = store.stats().block_errors;
        eprintln!(
            "{damage:?}: {at_open} errors at open, {errors} after the lookups, \
             {victim_found} of the damaged block's traces found"
        );
        match damage {
            Damage::DeleteMeta => {
                assert_eq!(
                    errors, 0,
                    "{damage:?}: an interrupted write is not an error"
                );
                assert_eq!(victim_found, 0, "{damage:?}");
            }
            Damage::InvalidMeta => {
                assert_eq!(victim_found, 0, "{damage:?}");
                assert_eq!(
                    errors, at_open,
                    "{damage:?}: a skipped block is not read again"
                );
            }
            Damage::TruncateIndex | Damage::CorruptBloom => {
                assert_eq!(errors, 0, "{damage:?}");
                assert_eq!(
                    victim_found,
                    written[victim].traces.len(),
                    "{damage:?}: every trace of the block is still found"
                );
                assert_eq!(
                    store.stats().blocks_bloom_damaged,
                    u64::from(damage == Damage::CorruptBloom),
                    "{damage:?}"
                );
            }
            Damage::TruncateData | Damage::FlipByteInData => {
                assert!(
                    errors > at_open,
                    "{damage:?}: lookups did not count the damage"
                );
                assert!(
                    victim_found < written[victim].traces.len(),
                    "{damage:?}: the damage went unnoticed"
                );
            }
        }
        if !damage.repaired() && damage != Damage::DeleteMeta {
            // Set aside, marked with the reason, listed; its files are kept.
            let aside = store.set_aside_blocks();
            assert_eq!(aside.len(), 1, "{damage:?}");
            assert_eq!(aside[0].block_id, written[victim].id, "{damage:?}");
            assert!(!aside[0].reason.is_empty(), "{damage:?}");
            let marker = root
                .join(TENANT)
                .join(&written[victim].id)
                .join("corrupt.json");
            assert!(marker.exists(), "{damage:?}: no marker");
            assert_eq!(store.blocks(TENANT).len(), 2, "{damage:?}");
        }

        // The store keeps serving and writing.
        let more = Workload::new(1_000 + damage as u64)
            .batch(3, Some(2))
            .resource_spans;
        let more_traces = traces_of(&more);
        store.ingest(TENANT, Batch::new(more)).unwrap();
        assert_eq!(store.flush_blocks().unwrap().len(), 1, "{damage:?}");
        for (id, _) in &more_traces {
            assert!(
                store
                    .find_trace(TENANT, *id, TimeRange::ALL)
                    .unwrap()
                    .is_some()
            );
        }
        store.close().unwrap();
        drop(store);
        // Reopened: a set-aside block stays aside without being read again; a repaired one is
        // read as any other.
        let store = open(&root);
        let expected_aside = u64::from(!damage.repaired() && damage != Damage::DeleteMeta);
        assert_eq!(store.stats().blocks_set_aside, expected_aside, "{damage:?}");
        assert_eq!(store.stats().block_errors, 0, "{damage:?}: read again");
        store.close().unwrap();
    }
}

/// A byte flipped anywhere in `data` is either detected (the block is skipped for that lookup
/// and counted) or harmless (the trace comes back exactly as written); never a panic, never
/// wrong spans.
#[test]
fn a_flipped_byte_anywhere_in_data_never_returns_wrong_spans() {
    let scratch = tempfile::tempdir().unwrap();
    let pristine = scratch.path().join("pristine");
    let written = write_blocks(&pristine);
    let victim = 2;
    let data = pristine.join(TENANT).join(&written[victim].id).join("data");
    let len = std::fs::metadata(&data).unwrap().len() as usize;
    let step = (len / 97).max(1);
    let (mut detected, mut harmless) = (0, Vec::new());
    for at in (0..len).step_by(step).chain([len - 1]) {
        let root = scratch.path().join(format!("flip-{at}"));
        copy_tree(&pristine, &root);
        flip(
            &root.join(TENANT).join(&written[victim].id).join("data"),
            at,
        );
        let store = open(&root);
        assert_eq!(
            store.stats().block_errors,
            0,
            "flip at {at}: data is not read at open"
        );
        let what = format!("flip at byte {at} of {len}");
        let found = look_up_all(&store, &written, victim, &what);
        let errors = store.stats().block_errors;
        if found == written[victim].traces.len() {
            assert_eq!(errors, 0, "{what}: every trace found, yet errors counted");
            harmless.push(at);
        } else {
            assert!(
                errors > 0,
                "{what}: traces missing without an error counted"
            );
            detected += 1;
        }
        store.close().unwrap();
        drop(store);
        std::fs::remove_dir_all(&root).unwrap();
    }
    eprintln!(
        "{detected} flips detected; harmless (bytes no lookup reads) at {harmless:?} of {len}"
    );
    assert!(detected > 0);
}
