//! source: what does the engine read spans from?
//!
//! Every query — search, tag names and values, trace by ID, and metrics — reads spans through
//! one trait, [`SpanSource`], which the head and a block's row groups both implement; the
//! engine never sees how a source stores its spans. A source answers, cheaply and before
//! anything is decoded, whether it can hold a match ([`SpanSource::overlaps`],
//! [`SpanSource::may_match`], [`SpanSource::may_hold`]); then it decodes only the attributes
//! a query names ([`Fields`]) and hands over its traces one at a time ([`Traces`]), so spans
//! are materialized only for the traces the engine evaluates.

use std::fmt;
use std::sync::Arc;

use tempo_traceql::{Intrinsic, Scope};

use super::value::Val;
use crate::model::{TimeRange, TraceId, Value};
use crate::spans::StoredSpan;

/// A source of spans: the head (or a part of it), or a row group of a block.
pub(crate) trait SpanSource: Send + Sync {
    /// What it is, for logs and messages: `head`, or a row group of a block.
    fn describe(&self) -> String;

    /// Whether it may hold spans in `range` (for a block: both its stated range, which
    /// retention and pruning use, and its spans' own).
    fn overlaps(&self, range: &TimeRange) -> bool;

    /// The latest span end it may hold, unix nanoseconds: sources are read newest first, and
    /// one older than every kept match is skipped.
    fn latest(&self) -> u64;

    /// The memory, estimated in bytes, that reading it holds before any trace is
    /// materialized (decoded columns), for the query's memory budget.
    fn cost(&self) -> u64;

    /// Whether it may hold a trace meeting `need`, from what it knows without decoding spans
    /// (its footer, statistics and dictionaries); `true` when it cannot tell.
    fn may_match(&self, need: &Need) -> Result<bool, SourceError>;

    /// Its traces overlapping `range`, with only the attributes `fields` asks for.
    fn traces(
        &self,
        fields: &Fields,
        range: &TimeRange,
    ) -> Result<Box<dyn Traces + '_>, SourceError>;

    /// Its spans as flat columns, for a scan that needs no trace trees (most metrics
    /// queries): only what `want` asks for is decoded. `None` when it cannot (the engine then
    /// reads its traces).
    fn span_columns(
        &self,
        want: &ColumnWant,
    ) -> Result<Option<Box<dyn SpanColumns + '_>>, SourceError> {
        let _ = want;
        Ok(None)
    }

    /// Whether it may hold trace `id` (a key range, a bloom filter); `true` when it cannot
    /// tell.
    fn may_hold(&self, id: &TraceId) -> bool;

    /// The spans of trace `id` it holds, if it overlaps `range`, every attribute; and the
    /// bytes read to find them (a row group's encoded size, the trace's size in the head).
    fn find(
        &self,
        id: &TraceId,
        range: &TimeRange,
    ) -> Result<Option<(Vec<StoredSpan>, u64)>, SourceError>;

    /// Adds the keys of its attributes in `scope` without reading spans; `false` when it
    /// cannot (the engine then reads its spans).
    fn attribute_keys(
        &self,
        scope: AttrScope,
        add: &mut dyn FnMut(&str),
    ) -> Result<bool, SourceError>;

    /// Adds up to `limit` distinct values of attribute `key` of `table` without reading
    /// spans; `false` when it cannot.
    fn attribute_values(
        &self,
        table: AttrTable,
        key: &str,
        limit: usize,
        add: &mut dyn FnMut(&Value),
    ) -> Result<bool, SourceError>;

    /// Adds the distinct values of a string intrinsic (`name`, `statusMessage`, `rootName`,
    /// `rootServiceName`, `event:name`, `instrumentation:name`, `instrumentation:version`)
    /// without reading spans, empty strings included; `false` when it cannot.
    fn intrinsic_values(
        &self,
        intrinsic: Intrinsic,
        add: &mut dyn FnMut(&str),
    ) -> Result<bool, SourceError>;
}

/// The traces of a source, decoded as far as a query needs, materialized one at a time.
pub(crate) trait Traces {
    /// Number of traces.
    fn len(&self) -> usize;

    /// Earliest span start of trace `t`, unix nanoseconds.
    fn start(&self, t: usize) -> u64;

    /// Latest span end of trace `t`, unix nanoseconds.
    fn end(&self, t: usize) -> u64;

    /// Spans of trace `t`.
    fn span_count(&self, t: usize) -> usize;

    /// Bytes read so far (encoded), for the query's metrics.
    fn bytes(&self) -> u64;

    /// Trace `t`: its ID and spans.
    fn get(&self, t: usize) -> Result<(TraceId, Vec<StoredSpan>), SourceError>;
}

/// A source's spans as flat columns, read by row: nothing is materialized. The rows of one
/// trace are contiguous.
pub(crate) trait SpanColumns {
    /// Number of spans.
    fn len(&self) -> usize;

    /// Start of span `row`, unix nanoseconds.
    fn start(&self, row: usize) -> u64;

    /// Duration of span `row`, nanoseconds (0 unless asked for).
    fn duration(&self, row: usize) -> u64;

    /// OTLP status code of span `row` (0 when it has no status, or unless asked for).
    fn status(&self, row: usize) -> i32;

    /// OTLP kind of span `row` (0 unless asked for).
    fn kind(&self, row: usize) -> i32;

    /// Name of span `row` (empty unless asked for).
    fn name(&self, row: usize) -> &str;

    /// Status message of span `row` (empty unless asked for).
    fn status_message(&self, row: usize) -> &str;

    /// The value of attribute `column` (an index into [`ColumnWant::attrs`]) on span `row`.
    fn attr(&self, column: usize, row: usize) -> Val<'_>;

    /// With [`ColumnWant::all_attrs`]: the columns holding every span attribute, one per key
    /// (after those asked for by name).
    fn all_span_attrs(&self) -> std::ops::Range<usize>;

    /// Calls `f` with each span that has a value in attribute column `column`, in row order
    /// (only that column's span values, not its resource fallback); without `strings`,
    /// string values are left out (see [`SpanColumns::str_codes`]).
    fn for_each_present<'a>(
        &'a self,
        column: usize,
        strings: bool,
        f: &mut dyn FnMut(usize, Val<'a>),
    ) {
        for row in 0..self.len() {
            let v = self.attr(column, row);
            if !v.is_nil() && (strings || !matches!(v, Val::Str(_))) {
                f(row, v);
            }
        }
    }

    /// For attribute column `column`, its string values as dictionary codes: the dictionary
    /// and, per row, the index of its entry (`u32::MAX` where the span has no string
    /// value). `None` when the source keeps no such codes; [`SpanColumns::for_each_present`]
    /// with `strings: false` then gives the rest.
    fn str_codes(&self, column: usize) -> Option<(&[String], &[u32])> {
        let _ = column;
        None
    }

    /// Span names as dictionary codes: the dictionary and, per row, the index of its entry.
    /// `None` unless names were asked for and the source keeps codes.
    fn name_codes(&self) -> Option<(&[String], &[u32])> {
        None
    }

    /// The key of attribute column `column`.
    fn attr_key(&self, column: usize) -> &str;

    /// With [`ColumnWant::all_attrs`]: the attributes of span `row`'s resource.
    fn resource_attrs(&self, row: usize) -> &[crate::model::KeyValue];

    /// The trace of span `row`: its index among the source's traces.
    fn trace_of(&self, row: usize) -> usize;

    /// The ID of trace `trace` (unless asked for, the zero ID).
    fn trace_id(&self, trace: usize) -> TraceId;

    /// The ID of span `row` (empty unless asked for).
    fn span_id(&self, row: usize) -> &[u8];

    /// Bytes read (encoded), for the query's metrics.
    fn bytes(&self) -> u64;
}

/// What a columnar scan reads.
#[derive(Debug, Clone, Default)]
pub(crate) struct ColumnWant {
    /// Span durations.
    pub(crate) duration: bool,
    /// Status codes.
    pub(crate) status: bool,
    /// Kinds.
    pub(crate) kind: bool,
    /// Names.
    pub(crate) name: bool,
    /// Status messages.
    pub(crate) status_message: bool,
    /// Trace and span IDs (for exemplars and sampling).
    pub(crate) ids: bool,
    /// Attributes, by scope (`Span`, `Resource`, or `None`: the span's, else the
    /// resource's) and key.
    pub(crate) attrs: Vec<(Scope, String)>,
    /// Every span and resource attribute besides (arrays and lists excepted), for
    /// `compare()`.
    pub(crate) all_attrs: bool,
}

/// What every match needs, in terms any source can check against what it knows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Need {
    /// Nothing known.
    Nothing,
    /// All of these.
    All(Vec<Need>),
    /// One of these.
    Any(Vec<Need>),
    /// A span or resource attribute with this key, of one of these kinds.
    Present {
        table: AttrTable,
        key: String,
        kinds: &'static [ValueKind],
    },
    /// A string attribute equal to this value (or an attribute of another kind, which may be
    /// an array holding it).
    StrEq {
        table: AttrTable,
        key: String,
        value: String,
    },
    /// An integer attribute equal to this value (or a float or another kind).
    IntEq {
        table: AttrTable,
        key: String,
        value: i64,
    },
    /// A span with this name.
    SpanName(String),
    /// A span with this status code (OTLP's: 0 unset, 1 ok, 2 error).
    StatusCode(i64),
    /// A span of this kind (OTLP's: 0 unspecified to 5 consumer).
    SpanKind(i64),
}

/// Where attributes live, for listing their keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttrScope {
    /// Span attributes.
    Span,
    /// Resource attributes.
    Resource,
    /// Event attributes.
    Event,
    /// Link attributes.
    Link,
    /// Instrumentation scope attributes.
    Instrumentation,
}

/// A table of attributes that a source may keep apart: spans' or resources'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttrTable {
    /// Span attributes.
    Span,
    /// Resource attributes.
    Resource,
}

/// The kind of an attribute's value, as sources may index them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueKind {
    /// A string.
    Str,
    /// An integer.
    Int,
    /// A float.
    Float,
    /// A boolean.
    Bool,
    /// Anything else: arrays, key-value lists, bytes.
    Other,
}

/// Which attributes a query reads: only those are decoded.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fields {
    /// Every attribute (a tag lookup filtered by a query shows what spans have).
    pub(crate) all: bool,
    /// Span attribute keys.
    pub(crate) span: Vec<String>,
    /// Resource attribute keys (`service.name` always: results name the root service).
    pub(crate) resource: Vec<String>,
}

impl Fields {
    /// Every attribute.
    pub(crate) fn all() -> Fields {
        Fields {
            all: true,
            ..Fields::default()
        }
    }

    /// Whether attribute `key` of `table` is read.
    pub(crate) fn keeps(&self, table: AttrTable, key: &str) -> bool {
        self.all
            || match table {
                AttrTable::Span => self.span.iter().any(|k| k == key),
                AttrTable::Resource => self.resource.iter().any(|k| k == key),
            }
    }
}

/// A source that could not be read. The source itself reported the cause (a corrupt block is
/// set aside there); the query skips it and goes on.
#[derive(Debug, Clone)]
pub(crate) struct SourceError(pub(crate) String);

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The sources of one tenant, as a query reads them.
pub(crate) type Sources = Vec<Arc<dyn SpanSource>>;
