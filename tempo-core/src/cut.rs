//! cut: when does the head become a block?
//!
//! The write path after the log: complete traces (idle for `trace_idle_period`, or every
//! trace of a head past `max_block_bytes`) move to the head's pending set; once the pending
//! traces are large or old enough, they are written as a block, the block is made readable,
//! they leave the head, and the log segments no trace needs any more are released. Traces
//! that hold old segments for long are appended to the log again, so that no trace and no
//! tenant holds the log back.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use prost::Message;

use crate::backend::Backend;
use crate::block::writer::BlockWriter;
use crate::block::{BlockMeta, new_block_id};
use crate::error::FlushError;
use crate::head::{TenantHead, unpack_all};
use crate::model::TraceId;
use crate::spans::StoredSpan;
use crate::state::Shared;
use crate::wal::{RecordKind, Wal};

/// The cutting thread: moves idle traces to pending, cuts blocks, applies retention once a
/// minute.
pub(crate) fn run(shared: Weak<Shared>, stop: Receiver<()>, period: Duration) {
    let mut last_retention = Instant::now()
        .checked_sub(Duration::from_secs(3600))
        .unwrap_or_else(Instant::now);
    let mut last_check = Instant::now();
    // The head's size is watched often (it is one load per tenant); idle traces are looked
    // for every `period`.
    let tick = period.min(Duration::from_millis(100));
    loop {
        match stop.recv_timeout(tick) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let full = shared
            .head
            .tenants()
            .iter()
            .any(|(_, h)| h.total_bytes() >= shared.config.max_block_bytes);
        if !full && last_check.elapsed() < period {
            continue;
        }
        last_check = Instant::now();
        if let Err(e) = cut_blocks(&shared, false) {
            tracing::error!(error = %e, "cutting blocks failed; the traces stay in the head and the WAL");
        }
        if last_retention.elapsed() >= Duration::from_secs(60) {
            crate::retention::apply(&shared);
            last_retention = Instant::now();
        }
    }
}

/// Moves complete traces to pending and writes blocks for tenants whose pending traces are
/// large or old enough (or all of them, with `force`).
pub(crate) fn cut_blocks(shared: &Shared, force: bool) -> Result<Vec<BlockMeta>, FlushError> {
    let Some(backend) = shared.catalog.backend().cloned() else {
        return Ok(Vec::new());
    };
    let _guard = shared.cutting.lock();
    let mut written = Vec::new();
    let mut failure: Option<FlushError> = None;
    for (tenant, head) in shared.head.tenants() {
        // A head past max_block_bytes is cut whole, complete or not, so memory stays bounded;
        // spans arriving later for its traces land in a later block, and readers and
        // compaction combine the parts.
        let full = head.total_bytes() >= shared.config.max_block_bytes;
        head.complete_idle(shared.config.trace_idle_period, force || full);
        // A trace's size counts toward its limit while it is written: until it has received
        // nothing for as long as it takes to be complete and cut into a block.
        head.forget_idle(shared.config.trace_idle_period + shared.config.max_block_duration);
        let (bytes, age) = head.pending_state();
        let due = age.is_some()
            && (force
                || full
                || bytes >= shared.config.max_block_bytes
                || age.is_some_and(|a| a >= shared.config.max_block_duration));
        if !due {
            continue;
        }
        match write_block(shared, &backend, &tenant, &head) {
            Ok(Some(meta)) => written.push(meta),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(tenant = %tenant, error = %e, "writing a block failed; its traces stay in the head and the WAL");
                failure.get_or_insert(e);
            }
        }
    }
    if !written.is_empty()
        && let Some(wal) = &shared.wal
    {
        // New appends go to a fresh segment, so the older ones can be released.
        let previous = wal.rotate()?.saturating_sub(1);
        let needed = oldest_needed_segment(shared);
        if previous.saturating_sub(needed) >= CARRY_FORWARD_AFTER_SEGMENTS {
            carry_forward(shared, wal, previous);
        }
        wal.release_before(oldest_needed_segment(shared))?;
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(written),
    }
}

/// How many segments behind the current one the oldest needed segment may fall before the
/// traces holding it are written to the WAL again.
const CARRY_FORWARD_AFTER_SEGMENTS: u64 = 8;

/// The oldest WAL segment any trace in the head still needs.
fn oldest_needed_segment(shared: &Shared) -> u64 {
    shared
        .head
        .tenants()
        .iter()
        .filter_map(|(_, h)| h.min_segment())
        .min()
        .unwrap_or(u64::MAX)
}

/// Appends again the traces that hold WAL segments older than `previous` (a trace that
/// stays live for a long time, or a tenant whose blocks cannot be written), so that those
/// segments can be released: no trace and no tenant holds back the log of the others. A crash
/// in between leaves spans twice in the log, which readers and compaction de-duplicate.
fn carry_forward(shared: &Shared, wal: &Wal, previous: u64) {
    let started = Instant::now();
    let (mut traces, mut bytes) = (0usize, 0usize);
    for (tenant, head) in shared.head.tenants() {
        let stale = head.stale_traces(previous);
        if stale.is_empty() {
            continue;
        }
        let mut done: Vec<TraceId> = Vec::with_capacity(stale.len());
        for (id, data) in stale {
            let record = bytes::Bytes::from(data.encode_to_vec());
            let len = record.len();
            match wal.append(RecordKind::Spans, tenant.clone(), record).wait() {
                Ok(_) => {
                    done.push(id);
                    bytes += len;
                }
                Err(e) => {
                    tracing::error!(tenant = %tenant, trace = %id, error = %e, "cannot write a trace to the write-ahead log again; its old segments are kept");
                }
            }
        }
        traces += done.len();
        // Everything those traces held is now in segments after `previous`; spans added
        // since came from `previous` or later.
        head.carried_forward(&done, previous);
    }
    tracing::info!(
        traces,
        bytes,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "long-lived traces written to the write-ahead log again, so its old segments can be released"
    );
}

fn write_block(
    shared: &Shared,
    backend: &Arc<dyn Backend>,
    tenant: &str,
    head: &TenantHead,
) -> Result<Option<BlockMeta>, FlushError> {
    let started = Instant::now();
    let block_id = new_block_id();
    let (meta, ids) = head.with_pending(|traces| -> Result<_, FlushError> {
        if traces.is_empty() {
            return Ok((None, Vec::new()));
        }
        let mut writer = BlockWriter::new(
            tenant,
            block_id.clone(),
            traces.len(),
            0,
            shared.config.bloom_false_positive,
        );
        let mut ids = Vec::with_capacity(traces.len());
        let mut spans: Vec<StoredSpan> = Vec::new();
        for (id, trace) in traces {
            unpack_all(&trace.spans, &mut spans);
            let refs: Vec<&StoredSpan> = spans.iter().collect();
            writer.add_trace(**id, &refs)?;
            writer.note_range(trace.block_range.0, trace.block_range.1);
            ids.push(**id);
        }
        Ok((Some(writer.finish(backend.as_ref())?), ids))
    })?;
    let Some(meta) = meta else {
        return Ok(None);
    };
    let reader = shared.catalog.open_block(tenant, &meta.block_id)?;
    shared.catalog.add(tenant, Arc::new(reader));
    head.remove_pending(&ids);
    shared
        .counters
        .blocks_flushed
        .fetch_add(1, Ordering::Relaxed);
    tracing::info!(
        tenant,
        block = %meta.block_id,
        traces = meta.traces,
        spans = meta.spans,
        bytes = meta.total_bytes(),
        bytes_per_span = meta.total_bytes() as f64 / meta.spans.max(1) as f64,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "block written"
    );
    Ok(Some(meta))
}
