//! schedule: when does compaction run, and for whom?
//!
//! A thread runs rounds of compaction while there is work: each round merges one planned
//! group of blocks for every tenant that has one, so one tenant never holds back another's,
//! and a failure is logged and tried again later. A corrupt input is set aside. Inputs are
//! marked compacted and deleted once their grace period is over.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::{CompactionPolicy, MergeError, merge, plan};
use crate::backend::Backend;
use crate::block::reader::BlockReader;
use crate::block::{COMPACTED_MARKER, Marker};
use crate::error::FlushError;
use crate::state::{Shared, now_nanos};

/// The compaction thread: rounds of merges as long as there is work, and the deletion of
/// replaced blocks once their grace period is over.
pub(crate) fn run(shared: Weak<Shared>, stop: Receiver<()>, period: Duration) {
    loop {
        match stop.recv_timeout(period) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        loop {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let (done, _) = compact_round(&shared);
            shared
                .catalog
                .delete_doomed(now_nanos() / 1_000_000_000, false);
            if done == 0 {
                break;
            }
            if matches!(
                stop.try_recv(),
                Err(crossbeam_channel::TryRecvError::Disconnected)
            ) {
                return;
            }
        }
    }
}

/// Runs one compaction for every tenant that has blocks to merge; returns how many ran and
/// the first failure. A tenant whose compaction fails is logged and left for the next round:
/// one tenant never holds back another's.
pub(crate) fn compact_round(shared: &Shared) -> (usize, Option<FlushError>) {
    let Some(backend) = shared.catalog.backend().cloned() else {
        return (0, None);
    };
    let policy = CompactionPolicy {
        window: shared.config.compaction_window,
        min_inputs: shared.config.compaction_min_inputs.max(2),
        max_inputs: 8,
        max_level: 4,
        bloom_false_positive: shared.config.bloom_false_positive,
    };
    let _guard = shared.compacting.lock();
    let mut plans: Vec<(String, Vec<Arc<BlockReader>>)> = shared
        .catalog
        .all()
        .into_iter()
        .filter_map(|(t, b)| {
            if shared.bucket.is_none() {
                return Some((t, b));
            }
            // On a shared bucket: only under the tenant's lease, and on a fresh block list,
            // so that no block another holder compacted already is compacted again.
            if !crate::bucket::acquire(shared, backend.as_ref(), &t) {
                return None;
            }
            crate::bucket::poll_tenant(shared, &backend, &t);
            let fresh = shared.catalog.readable(&t);
            Some((t, fresh))
        })
        .map(|(t, b)| {
            let plan = plan(&b, &policy);
            (t, plan)
        })
        .filter(|(_, plan)| !plan.is_empty())
        .collect();
    plans.sort_by(|a, b| a.0.cmp(&b.0));
    let (mut done, mut failure) = (0, None);
    for (tenant, inputs) in plans {
        match compact_tenant(shared, &backend, &tenant, &inputs, &policy) {
            Ok(()) => done += 1,
            Err(e) => {
                tracing::error!(tenant, error = %e, "compaction failed; its inputs are kept and it is tried again later");
                failure.get_or_insert(e);
            }
        }
    }
    (done, failure)
}

/// Merges one planned group of a tenant's blocks. An input that turns out corrupt is set
/// aside (and the group planned again next round); the inputs of a merge are marked compacted
/// and deleted after `compacted_block_retention`, so queries reading them meanwhile finish.
fn compact_tenant(
    shared: &Shared,
    backend: &Arc<dyn Backend>,
    tenant: &str,
    inputs: &[Arc<BlockReader>],
    policy: &CompactionPolicy,
) -> Result<(), FlushError> {
    let outcome = match merge(backend.as_ref(), tenant, inputs, policy) {
        Ok(outcome) => outcome,
        Err(MergeError::Input { input, error }) => {
            let block = &inputs[input];
            if !shared.catalog.contains(tenant, block) {
                // Expired while it was read: plan again without it.
                return Ok(());
            }
            if error.is_corrupt() || error.is_not_found() {
                shared
                    .catalog
                    .set_aside(tenant, &block.meta.block_id, &error.to_string());
                return Ok(());
            }
            return Err(error.into());
        }
        Err(MergeError::Output(e)) => return Err(e.into()),
    };
    // The output is durable: make it readable, then retire the inputs.
    let output = match &outcome.output {
        Some(meta) => Some(Arc::new(shared.catalog.open_block(tenant, &meta.block_id)?)),
        None => None,
    };
    if shared.bucket.is_some() {
        // Every server stops reading the inputs at its next poll; the lease holder deletes
        // them after their grace period.
        let ids: Vec<String> = inputs.iter().map(|b| b.meta.block_id.clone()).collect();
        if let Err(e) = crate::bucket::record_compacted(backend.as_ref(), tenant, &ids) {
            tracing::warn!(tenant, error = %e, "cannot record compacted blocks in the block list; other servers read them as duplicates until they are deleted");
        }
    }
    shared.catalog.replace(tenant, inputs, output);
    let now = now_nanos() / 1_000_000_000;
    for input in inputs {
        // Marked, so that a restart does not read it again as a duplicate; deleted later.
        if let Err(e) = backend.write(
            &format!("{}/{COMPACTED_MARKER}", input.name()),
            Marker::now("compacted").to_json().into(),
        ) {
            tracing::warn!(block = input.name(), error = %e, "cannot mark a compacted block; it is read as a duplicate after a restart until deleted");
        }
        if shared.bucket.is_none() {
            shared.catalog.doom(input.name().to_owned(), now);
        }
    }
    shared.counters.compactions.fetch_add(1, Ordering::Relaxed);
    Ok(())
}
