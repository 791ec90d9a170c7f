//! retention: when does old data go?
//!
//! Once a minute, blocks whose newest span is older than their tenant's retention (and that
//! were written at least that long ago) are dropped from the catalog and deleted.

use std::sync::atomic::Ordering;

use crate::config::tenant_limit;
use crate::state::{Shared, now_nanos};

/// Deletes blocks whose newest span is older than the tenant's retention.
pub(crate) fn apply(shared: &Shared) {
    let Some(backend) = shared.catalog.backend() else {
        return;
    };
    let now = now_nanos();
    let expired = {
        let limits = shared.limits.read();
        shared.catalog.take_expired(|tenant, b| {
            // On a shared bucket, the server holding the tenant's lease expires its blocks.
            if !crate::bucket::holds(shared, tenant) {
                return false;
            }
            let retention = tenant_limit(&limits, tenant, |l| l.block_retention)
                .unwrap_or(shared.config.block_retention);
            let cutoff = now.saturating_sub(retention.as_nanos() as u64);
            // A block is kept for `retention` after its newest span, and never less than
            // `retention` after it was written: spans sent late (backfill, skewed clocks) are
            // not deleted as soon as they land. The write time is kept in whole seconds; the
            // end of that second is taken, so a block is never deleted early.
            let written = b
                .meta
                .created_at_unix_seconds
                .saturating_add(1)
                .saturating_mul(1_000_000_000);
            b.meta.end_time_unix_nano.max(written) < cutoff
        })
    };
    for (tenant, block) in expired {
        match backend.delete_prefix(block.name()) {
            Ok(()) => {
                shared
                    .counters
                    .blocks_expired
                    .fetch_add(1, Ordering::Relaxed);
                tracing::info!(tenant, block = %block.meta.block_id, "block deleted by retention");
            }
            Err(e) => {
                tracing::error!(tenant, block = %block.meta.block_id, error = %e, "deleting an expired block failed")
            }
        }
    }
}
