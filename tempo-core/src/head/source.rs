//! source: the head as the query engine reads it.

use std::cell::Cell;
use std::sync::Arc;

use tempo_traceql::Intrinsic;

use super::{HeadEntry, TenantHead};
use crate::model::{TimeRange, TraceId, Value};
use crate::query::source::{AttrScope, AttrTable, Fields, Need, SourceError, SpanSource, Traces};
use crate::spans::StoredSpan;

/// A tenant's head, as one source of spans: fresh traces, decoded whole as they are read.
pub(crate) struct HeadSource {
    head: Arc<TenantHead>,
}

impl HeadSource {
    /// The source of a tenant's head.
    pub(crate) fn new(head: Arc<TenantHead>) -> HeadSource {
        HeadSource { head }
    }
}

impl SpanSource for HeadSource {
    fn describe(&self) -> String {
        "head".to_owned()
    }

    fn overlaps(&self, _range: &TimeRange) -> bool {
        // Its traces are filtered one by one ([`TenantHead::snapshot`]).
        true
    }

    fn latest(&self) -> u64 {
        // The freshest data there is: read first.
        u64::MAX
    }

    fn cost(&self) -> u64 {
        // Nothing is decoded but the traces, one at a time.
        0
    }

    fn may_match(&self, _need: &Need) -> Result<bool, SourceError> {
        Ok(true)
    }

    fn traces(
        &self,
        _fields: &Fields,
        range: &TimeRange,
    ) -> Result<Box<dyn Traces + '_>, SourceError> {
        Ok(Box::new(HeadTraces {
            head: &self.head,
            entries: self.head.snapshot(range.start, range.end),
            range: *range,
            bytes: Cell::new(0),
        }))
    }

    fn may_hold(&self, _id: &TraceId) -> bool {
        true
    }

    fn find(
        &self,
        id: &TraceId,
        range: &TimeRange,
    ) -> Result<Option<(Vec<StoredSpan>, u64)>, SourceError> {
        let Some(parts) = self.head.copy_trace(id, range.start, range.end) else {
            return Ok(None);
        };
        let mut spans = Vec::new();
        parts.unpack(&mut spans);
        Ok((!spans.is_empty()).then_some((spans, parts.bytes)))
    }

    fn attribute_keys(
        &self,
        _scope: AttrScope,
        _add: &mut dyn FnMut(&str),
    ) -> Result<bool, SourceError> {
        Ok(false)
    }

    fn attribute_values(
        &self,
        _table: AttrTable,
        _key: &str,
        _limit: usize,
        _add: &mut dyn FnMut(&Value),
    ) -> Result<bool, SourceError> {
        Ok(false)
    }

    fn intrinsic_values(
        &self,
        _intrinsic: Intrinsic,
        _add: &mut dyn FnMut(&str),
    ) -> Result<bool, SourceError> {
        Ok(false)
    }
}

/// The head's traces at one moment, decoded one at a time.
struct HeadTraces<'a> {
    head: &'a TenantHead,
    entries: Vec<HeadEntry>,
    range: TimeRange,
    /// Estimated bytes of the traces decoded so far.
    bytes: Cell<u64>,
}

impl Traces for HeadTraces<'_> {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn start(&self, t: usize) -> u64 {
        self.entries.get(t).map_or(0, |e| e.start)
    }

    fn end(&self, t: usize) -> u64 {
        self.entries.get(t).map_or(0, |e| e.end)
    }

    fn span_count(&self, t: usize) -> usize {
        self.entries.get(t).map_or(0, |e| e.spans)
    }

    fn bytes(&self) -> u64 {
        self.bytes.get()
    }

    fn get(&self, t: usize) -> Result<(TraceId, Vec<StoredSpan>), SourceError> {
        let Some(entry) = self.entries.get(t) else {
            return Err(SourceError(format!("head: no trace {t}")));
        };
        let mut spans = Vec::new();
        // Gone since the snapshot (cut into a block): read there instead.
        if let Some(parts) = self
            .head
            .copy_trace(&entry.id, self.range.start, self.range.end)
        {
            self.bytes.set(self.bytes.get() + parts.bytes);
            parts.unpack(&mut spans);
        }
        Ok((entry.id, spans))
    }
}
