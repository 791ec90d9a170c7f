//! merge: many blocks into one, by trace ID.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use super::CompactionPolicy;
use crate::backend::Backend;
use crate::block::reader::{BlockReader, BlockTrace};
use crate::block::writer::BlockWriter;
use crate::block::{BlockError, BlockMeta, new_block_id};
use crate::spans::StoredSpan;

/// What one compaction did.
#[derive(Debug, Clone, Default)]
pub(crate) struct CompactionOutcome {
    pub(crate) output: Option<BlockMeta>,
    /// Repeated spans removed.
    pub(crate) duplicate_spans: u64,
}

/// One input's cursor: the current row group's traces, consumed in order.
struct Input {
    reader: Arc<BlockReader>,
    next_group: usize,
    traces: std::vec::IntoIter<BlockTrace>,
}

impl Input {
    fn next(&mut self) -> Result<Option<BlockTrace>, BlockError> {
        loop {
            if let Some(t) = self.traces.next() {
                return Ok(Some(t));
            }
            if self.next_group >= self.reader.index.len() {
                return Ok(None);
            }
            let group = self.reader.row_group(self.next_group)?;
            self.next_group += 1;
            self.traces = group
                .all()
                .map_err(|e| e.in_block(self.reader.name()))?
                .into_iter();
        }
    }
}

/// Why a merge failed: reading one of its inputs, or writing its output.
#[derive(Debug)]
pub(crate) enum MergeError {
    /// Input `input` could not be read.
    Input {
        /// Its position among the inputs.
        input: usize,
        /// What went wrong.
        error: BlockError,
    },
    /// The output could not be written.
    Output(BlockError),
}

/// Merges `inputs` (blocks of `tenant`) into one new block written to `backend`.
pub(crate) fn merge(
    backend: &dyn Backend,
    tenant: &str,
    inputs: &[Arc<BlockReader>],
    policy: &CompactionPolicy,
) -> Result<CompactionOutcome, MergeError> {
    let read = |input: usize| move |error: BlockError| MergeError::Input { input, error };
    let started = Instant::now();
    let expected: u64 = inputs.iter().map(|b| b.meta.traces).sum();
    let level = inputs
        .iter()
        .map(|b| b.meta.compaction_level)
        .max()
        .unwrap_or(0)
        + 1;
    let mut writer = BlockWriter::new(
        tenant,
        new_block_id(),
        expected as usize,
        level,
        policy.bloom_false_positive,
    );
    let mut cursors: Vec<Input> = inputs
        .iter()
        .map(|r| Input {
            reader: r.clone(),
            next_group: 0,
            traces: Vec::new().into_iter(),
        })
        .collect();
    let mut heads: Vec<Option<BlockTrace>> = Vec::with_capacity(cursors.len());
    for (i, c) in cursors.iter_mut().enumerate() {
        heads.push(c.next().map_err(read(i))?);
    }
    let mut outcome = CompactionOutcome::default();
    let mut wrote = 0u64;
    // The smallest trace ID among the inputs' current traces (few inputs: a scan is fine).
    while let Some(min) = heads.iter().flatten().map(|(id, _)| *id).min() {
        let mut spans: Vec<StoredSpan> = Vec::new();
        for (i, head) in heads.iter_mut().enumerate() {
            if head.as_ref().is_some_and(|(id, _)| *id == min) {
                if let Some((_, s)) = head.take() {
                    spans.extend(s);
                }
                *head = cursors[i].next().map_err(read(i))?;
            }
        }
        let (kept, duplicates) = combine(spans);
        outcome.duplicate_spans += duplicates;
        let refs: Vec<&StoredSpan> = kept.iter().collect();
        writer.add_trace(min, &refs).map_err(MergeError::Output)?;
        wrote += 1;
    }
    if wrote == 0 {
        return Ok(outcome);
    }
    for input in inputs {
        writer.note_range(
            input.meta.start_time_unix_nano,
            input.meta.end_time_unix_nano,
        );
    }
    let meta = writer.finish(backend).map_err(MergeError::Output)?;
    tracing::info!(
        tenant,
        block = %meta.block_id,
        inputs = inputs.len(),
        level,
        traces = meta.traces,
        spans = meta.spans,
        duplicate_spans = outcome.duplicate_spans,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "blocks compacted"
    );
    outcome.output = Some(meta);
    Ok(outcome)
}

/// De-duplicates a trace's spans (span ID and kind); every distinct span is kept.
fn combine(spans: Vec<StoredSpan>) -> (Vec<StoredSpan>, u64) {
    let mut seen: HashSet<(Vec<u8>, i32)> = HashSet::with_capacity(spans.len());
    let mut kept = Vec::with_capacity(spans.len());
    let mut duplicates = 0u64;
    for s in spans {
        if !seen.insert((s.span.span_id.clone(), s.span.kind)) {
            duplicates += 1;
            continue;
        }
        kept.push(s);
    }
    (kept, duplicates)
}
