//! source: a block's row groups as the query engine reads them.
//!
//! Each row group is a [`SpanSource`]: its index entry answers time and trace-ID questions,
//! its footer, chunk statistics and dictionaries answer a query's [`Need`] without decoding
//! spans, and only the attribute columns a query names are decoded. A failure to read is
//! handed to the store's handler (which sets a corrupt block aside) before the query skips
//! the row group.

use std::sync::Arc;

use tempo_traceql::Intrinsic;

use super::columns::GroupSpanColumns;
use super::encoding::zigzag;
use super::reader::{BlockReader, GroupColumns, RowGroupData};
use super::{BlockError, IndexEntry};
use crate::model::{TimeRange, TraceId, Value};
use crate::query::source::{
    AttrScope, AttrTable, ColumnWant, Fields, Need, SourceError, SpanColumns, SpanSource, Traces,
    ValueKind,
};
use crate::spans::StoredSpan;

/// Estimated bytes per span of a row group's decoded columns.
const BYTES_PER_DECODED_COLUMNS: u64 = 64;

/// What to do when a block cannot be read: the store reports it, and sets aside a corrupt
/// block.
pub(crate) type OnBlockError = Arc<dyn Fn(&Arc<BlockReader>, &BlockError) + Send + Sync>;

/// One row group of a block.
pub(crate) struct RowGroupSource {
    block: Arc<BlockReader>,
    group: usize,
    on_error: OnBlockError,
}

impl RowGroupSource {
    /// The sources of every row group of `block`.
    pub(crate) fn all_of(
        block: &Arc<BlockReader>,
        on_error: &OnBlockError,
    ) -> Vec<Arc<dyn SpanSource>> {
        (0..block.index.len())
            .map(|group| {
                Arc::new(RowGroupSource {
                    block: block.clone(),
                    group,
                    on_error: on_error.clone(),
                }) as Arc<dyn SpanSource>
            })
            .collect()
    }

    fn entry(&self) -> Option<&IndexEntry> {
        self.block.index.get(self.group)
    }

    /// Reports a failure to the store and turns it into the engine's error.
    fn fail(&self, e: BlockError) -> SourceError {
        let e = e.in_block(self.block.name());
        (self.on_error)(&self.block, &e);
        SourceError(e.to_string())
    }

    fn group(&self) -> Result<RowGroupData, SourceError> {
        self.block.row_group(self.group).map_err(|e| self.fail(e))
    }
}

impl SpanSource for RowGroupSource {
    fn describe(&self) -> String {
        format!(
            "row group {} of block {} ({} spans)",
            self.group,
            self.block.name(),
            self.entry().map_or(0, |e| e.spans)
        )
    }

    fn overlaps(&self, range: &TimeRange) -> bool {
        self.block.overlaps(range.start, range.end)
            && self
                .entry()
                .is_some_and(|e| e.end >= range.start && e.start <= range.end)
    }

    fn latest(&self) -> u64 {
        self.entry().map_or(0, |e| e.end)
    }

    fn cost(&self) -> u64 {
        self.entry().map_or(0, |e| {
            e.len + u64::from(e.spans) * BYTES_PER_DECODED_COLUMNS
        })
    }

    fn may_match(&self, need: &Need) -> Result<bool, SourceError> {
        let g = self.group()?;
        need.check(&mut |n| may_match(&g, n))
            .map_err(|e| self.fail(e))
    }

    fn traces(
        &self,
        fields: &Fields,
        _range: &TimeRange,
    ) -> Result<Box<dyn Traces + '_>, SourceError> {
        let g = self.group()?;
        let keep = |table: &str, key: &str| {
            let table = if table == "span" {
                AttrTable::Span
            } else {
                AttrTable::Resource
            };
            fields.keeps(table, key)
        };
        let columns = if fields.all {
            g.columns(None)
        } else {
            g.columns(Some(&keep))
        }
        .map_err(|e| self.fail(e))?;
        Ok(Box::new(GroupTraces {
            source: self,
            columns,
        }))
    }

    fn span_columns(
        &self,
        want: &ColumnWant,
    ) -> Result<Option<Box<dyn SpanColumns + '_>>, SourceError> {
        let g = self.group()?;
        let bytes = self.entry().map_or(0, |e| e.len);
        Ok(GroupSpanColumns::new(&g, want, bytes)
            .map_err(|e| self.fail(e))?
            .map(|c| Box::new(c) as Box<dyn SpanColumns>))
    }

    fn may_hold(&self, id: &TraceId) -> bool {
        self.entry()
            .is_some_and(|e| e.min_id <= *id && *id <= e.max_id)
            && self.block.may_contain(id)
    }

    fn find(
        &self,
        id: &TraceId,
        range: &TimeRange,
    ) -> Result<Option<(Vec<StoredSpan>, u64)>, SourceError> {
        if !self.block.overlaps(range.start, range.end) {
            return Ok(None);
        }
        let g = self.group()?;
        let bytes = self.entry().map_or(0, |e| e.len);
        Ok(g.find(id)
            .map_err(|e| self.fail(e))?
            .map(|spans| (spans, bytes)))
    }

    fn attribute_keys(
        &self,
        scope: AttrScope,
        add: &mut dyn FnMut(&str),
    ) -> Result<bool, SourceError> {
        let g = self.group()?;
        let prefix = match scope {
            AttrScope::Span => "span.attr.",
            AttrScope::Resource => "resource.attr.",
            AttrScope::Event | AttrScope::Link | AttrScope::Instrumentation => {
                let column = match scope {
                    AttrScope::Event => "event.attributes",
                    AttrScope::Link => "link.attributes",
                    _ => "scope.attributes",
                };
                for list in g.attribute_lists(column).map_err(|e| self.fail(e))? {
                    list.iter().for_each(|kv| add(&kv.key));
                }
                return Ok(true);
            }
        };
        for name in g.column_names() {
            if let Some(key) = name
                .strip_prefix(prefix)
                .and_then(|r| r.strip_suffix("#present"))
                .and_then(|r| r.split_once('.'))
                .map(|(_, key)| key)
            {
                add(key);
            }
        }
        Ok(true)
    }

    fn attribute_values(
        &self,
        table: AttrTable,
        key: &str,
        limit: usize,
        add: &mut dyn FnMut(&Value),
    ) -> Result<bool, SourceError> {
        let g = self.group()?;
        for kind in ["str", "int", "float", "bool", "any"] {
            let base = format!("{}.attr.{kind}.{key}", table_name(table));
            for v in g.attribute_values(&base, limit).map_err(|e| self.fail(e))? {
                add(&v);
            }
        }
        Ok(true)
    }

    fn intrinsic_values(
        &self,
        intrinsic: Intrinsic,
        add: &mut dyn FnMut(&str),
    ) -> Result<bool, SourceError> {
        let Some(column) = dictionary_of(intrinsic) else {
            return Ok(false);
        };
        let g = self.group()?;
        for s in g.dict_entries(column).map_err(|e| self.fail(e))? {
            add(&s);
        }
        Ok(true)
    }
}

/// A row group's traces: its columns decoded, spans materialized one trace at a time.
struct GroupTraces<'a> {
    source: &'a RowGroupSource,
    columns: GroupColumns,
}

impl Traces for GroupTraces<'_> {
    fn len(&self) -> usize {
        self.columns.traces()
    }

    fn start(&self, t: usize) -> u64 {
        self.columns.trace_start(t)
    }

    fn end(&self, t: usize) -> u64 {
        self.columns.trace_end(t)
    }

    fn span_count(&self, t: usize) -> usize {
        self.columns.trace_spans(t)
    }

    fn bytes(&self) -> u64 {
        self.source.entry().map_or(0, |e| e.len)
    }

    fn get(&self, t: usize) -> Result<(TraceId, Vec<StoredSpan>), SourceError> {
        self.columns.trace(t).map_err(|e| self.source.fail(e))
    }
}

/// The table a column name starts with.
fn table_name(table: AttrTable) -> &'static str {
    match table {
        AttrTable::Span => "span",
        AttrTable::Resource => "resource",
    }
}

/// The type part of an attribute column's name.
fn kind_name(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::Str => "str",
        ValueKind::Int => "int",
        ValueKind::Float => "float",
        ValueKind::Bool => "bool",
        ValueKind::Other => "any",
    }
}

/// The dictionary column holding a string intrinsic.
fn dictionary_of(x: Intrinsic) -> Option<&'static str> {
    match x {
        Intrinsic::SpanName => Some("span.name"),
        Intrinsic::SpanStatusMessage => Some("span.status_message"),
        Intrinsic::TraceRootName => Some("trace.root_name"),
        Intrinsic::TraceRootService => Some("trace.root_service"),
        Intrinsic::EventName => Some("event.name"),
        Intrinsic::InstrumentationName => Some("scope.name"),
        Intrinsic::InstrumentationVersion => Some("scope.version"),
        _ => None,
    }
}

/// Whether a row group may hold a span meeting one condition, from its footer, chunk
/// statistics and dictionaries. Errors are damage in the row group.
fn may_match(g: &RowGroupData, need: &Need) -> Result<bool, BlockError> {
    Ok(match need {
        Need::Present { table, key, kinds } => kinds.iter().any(|k| {
            g.has_column(&format!(
                "{}.attr.{}.{key}#present",
                table_name(*table),
                kind_name(*k)
            ))
        }),
        Need::StrEq { table, key, value } => {
            let table = table_name(*table);
            g.has_column(&format!("{table}.attr.any.{key}#present"))
                || g.dict_contains(&format!("{table}.attr.str.{key}#values"), value)?
        }
        Need::IntEq { table, key, value } => {
            let table = table_name(*table);
            if g.has_column(&format!("{table}.attr.any.{key}#present"))
                || g.has_column(&format!("{table}.attr.float.{key}#present"))
            {
                return Ok(true);
            }
            let z = zigzag(*value);
            match g.column_stats(&format!("{table}.attr.int.{key}#values"))? {
                Some((min, max)) => (min as u64) <= z && z <= (max as u64),
                None => false,
            }
        }
        Need::SpanName(value) => {
            // A missing dictionary column means every row is empty.
            if g.has_column("span.name") {
                g.dict_contains("span.name", value)?
            } else {
                value.is_empty()
            }
        }
        Need::StatusCode(code) => varint_may_hold(g, "span.status_code", *code)?,
        Need::SpanKind(kind) => varint_may_hold(g, "span.kind", *kind)?,
        Need::Nothing | Need::All(_) | Need::Any(_) => true,
    })
}

/// Whether a (zigzag) varint column's statistics allow `value`; a missing column holds zeros.
fn varint_may_hold(g: &RowGroupData, column: &str, value: i64) -> Result<bool, BlockError> {
    let z = zigzag(value);
    Ok(match g.column_stats(column)? {
        Some((min, max)) => (min as u64) <= z && z <= (max as u64),
        None => z == 0,
    })
}
