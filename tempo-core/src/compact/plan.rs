//! plan: which blocks are merged next?

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::block::reader::BlockReader;

/// Settings of compaction.
#[derive(Debug, Clone)]
pub(crate) struct CompactionPolicy {
    pub(crate) window: Duration,
    /// At least this many blocks in a window before they are merged.
    pub(crate) min_inputs: usize,
    /// At most this many blocks merged at once.
    pub(crate) max_inputs: usize,
    /// Blocks at or above this level are left alone.
    pub(crate) max_level: u32,
    pub(crate) bloom_false_positive: f64,
}

/// Picks the blocks to merge next: in the oldest time window, blocks of one compaction level,
/// once there are enough of them. Merging like with like keeps each span rewritten only a few
/// times (once per level).
pub(crate) fn plan(
    blocks: &[Arc<BlockReader>],
    policy: &CompactionPolicy,
) -> Vec<Arc<BlockReader>> {
    let window = policy.window.as_nanos().max(1) as u64;
    let mut groups: BTreeMap<(u64, u32), Vec<Arc<BlockReader>>> = BTreeMap::new();
    for b in blocks {
        if b.meta.compaction_level >= policy.max_level {
            continue;
        }
        groups
            .entry((
                b.meta.start_time_unix_nano / window,
                b.meta.compaction_level,
            ))
            .or_default()
            .push(b.clone());
    }
    for (_, mut group) in groups {
        if group.len() >= policy.min_inputs {
            group.sort_by_key(|b| b.meta.created_at_unix_seconds);
            group.truncate(policy.max_inputs);
            return group;
        }
    }
    Vec::new()
}
