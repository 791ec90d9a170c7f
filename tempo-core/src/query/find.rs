//! find: where are the spans of this trace?
//!
//! A lookup by ID asks every source whether it may hold the trace (a row group: its trace-ID
//! range and its block's bloom filter, so almost every block is skipped on one small read)
//! and collects the spans of those that do; parts of a trace in several sources are combined.

use std::sync::Arc;

use super::source::SpanSource;
use crate::model::{TimeRange, TraceId};
use crate::spans::StoredSpan;

/// The spans of trace `id` in `sources` overlapping `range`, from every source that holds a
/// part of it, and the bytes read to find them. A source that cannot be read is skipped (it
/// reported why).
pub(crate) fn find(
    sources: &[Arc<dyn SpanSource>],
    id: &TraceId,
    range: &TimeRange,
) -> (Vec<StoredSpan>, u64) {
    let mut spans = Vec::new();
    let mut bytes = 0;
    for source in sources {
        if !source.may_hold(id) {
            continue;
        }
        match source.find(id, range) {
            Ok(Some((found, read))) => {
                spans.extend(found);
                bytes += read;
            }
            Ok(None) => {}
            Err(e) => tracing::debug!(source = source.describe(), error = %e, "source skipped"),
        }
    }
    (spans, bytes)
}
