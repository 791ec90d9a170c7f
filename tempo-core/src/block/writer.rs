//! Writes a block: row groups of columns, the trace-ID index, bloom shards, and `meta.json`
//! last.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use prost::Message;

use super::encoding::{
    BitmapColumn, BlobColumn, ColumnData, DictColumn, Encoding, F64Column, FixedColumn,
    VarintColumn, write_chunk, zigzag,
};
use super::{
    BlockError, BlockMeta, DATA_MAGIC, FORMAT_VERSION, IndexEntry, ROW_GROUP_MAGIC, block_key,
};
use crate::backend::Backend;
use crate::bloom::BloomBuilder;
use crate::model::{AnyValue, KeyValue, KeyValueList, TraceId, Value};
use crate::spans::{SharedResource, SharedScope, StoredSpan};

/// A row group is closed once it holds at least this many spans (whole traces only).
pub(crate) const ROW_GROUP_SPANS: usize = 8192;

/// Attribute value types that get a column of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum AttrType {
    Str,
    Int,
    Float,
    Bool,
    /// Arrays, key-value lists, bytes and empty values, as protobuf `AnyValue`.
    Other,
}

impl AttrType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            AttrType::Str => "str",
            AttrType::Int => "int",
            AttrType::Float => "float",
            AttrType::Bool => "bool",
            AttrType::Other => "any",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<AttrType> {
        Some(match name {
            "str" => AttrType::Str,
            "int" => AttrType::Int,
            "float" => AttrType::Float,
            "bool" => AttrType::Bool,
            "any" => AttrType::Other,
            _ => return None,
        })
    }
}

enum AttrValues {
    Str(DictColumn),
    Int(VarintColumn),
    Float(F64Column),
    Bool(BitmapColumn),
    Other(BlobColumn),
}

/// One attribute column: a presence bitmap over the table's rows and the present values.
struct AttrColumn {
    present: BitmapColumn,
    values: AttrValues,
}

impl AttrColumn {
    fn new(t: AttrType) -> AttrColumn {
        AttrColumn {
            present: BitmapColumn::default(),
            values: match t {
                AttrType::Str => AttrValues::Str(DictColumn::default()),
                AttrType::Int => AttrValues::Int(VarintColumn::default()),
                AttrType::Float => AttrValues::Float(F64Column::default()),
                AttrType::Bool => AttrValues::Bool(BitmapColumn::default()),
                AttrType::Other => AttrValues::Other(BlobColumn::default()),
            },
        }
    }
}

fn attr_type(v: Option<&AnyValue>) -> AttrType {
    match v.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(_)) => AttrType::Str,
        Some(Value::IntValue(_)) => AttrType::Int,
        Some(Value::DoubleValue(_)) => AttrType::Float,
        Some(Value::BoolValue(_)) => AttrType::Bool,
        _ => AttrType::Other,
    }
}

/// Hash maps keyed by strings seen on every span: xxh3 rather than SipHash.
type FastMap<K, V> = HashMap<K, V, xxhash_rust::xxh3::Xxh3DefaultBuilder>;

/// The attribute columns of one table (spans or resources).
#[derive(Default)]
struct AttrTable {
    /// Columns by key, then by value type (a key seldom has more than one type).
    columns: FastMap<String, Vec<(AttrType, AttrColumn)>>,
    overflow: BlobColumn,
    rows: u32,
}

impl AttrTable {
    /// Adds one row's attributes. A key repeated within the row goes to the overflow column.
    fn push_row(&mut self, attrs: &[KeyValue]) {
        let row = self.rows;
        let mut overflow: Vec<KeyValue> = Vec::new();
        for (i, kv) in attrs.iter().enumerate() {
            if attrs[..i].iter().any(|prev| prev.key == kv.key) {
                overflow.push(kv.clone());
                continue;
            }
            let t = attr_type(kv.value.as_ref());
            let by_type = match self.columns.get_mut(kv.key.as_str()) {
                Some(v) => v,
                None => self.columns.entry(kv.key.clone()).or_default(),
            };
            let col = match by_type.iter().position(|(ct, _)| *ct == t) {
                Some(p) => &mut by_type[p].1,
                None => {
                    by_type.push((t, AttrColumn::new(t)));
                    let last = by_type.len() - 1;
                    &mut by_type[last].1
                }
            };
            col.present.pad_to(row);
            col.present.push(true);
            match (
                &mut col.values,
                kv.value.as_ref().and_then(|v| v.value.as_ref()),
            ) {
                (AttrValues::Str(c), Some(Value::StringValue(s))) => c.push(s),
                (AttrValues::Int(c), Some(Value::IntValue(i))) => c.push(zigzag(*i)),
                (AttrValues::Float(c), Some(Value::DoubleValue(f))) => c.push(*f),
                (AttrValues::Bool(c), Some(Value::BoolValue(b))) => c.push(*b),
                (AttrValues::Other(c), _) => {
                    // A present empty value and an absent one differ: 0 = absent, 1 = present.
                    let mut blob = vec![0u8];
                    if let Some(v) = kv.value.as_ref() {
                        blob[0] = 1;
                        // Encoding into a Vec cannot run out of room.
                        let _ = v.encode(&mut blob);
                    }
                    c.push(&blob);
                }
                _ => {}
            }
        }
        if overflow.is_empty() {
            self.overflow.push(&[]);
        } else {
            self.overflow
                .push(&KeyValueList { values: overflow }.encode_to_vec());
        }
        self.rows += 1;
    }

    fn finish(self, prefix: &str, out: &mut RowGroupOut) -> Result<(), BlockError> {
        let rows = self.rows;
        let mut columns: Vec<(String, AttrType, AttrColumn)> = self
            .columns
            .into_iter()
            .flat_map(|(key, by_type)| by_type.into_iter().map(move |(t, c)| (key.clone(), t, c)))
            .collect();
        columns.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        for (key, t, mut col) in columns {
            col.present.pad_to(rows);
            let name = format!("{prefix}.attr.{}.{key}", t.name());
            out.column(&format!("{name}#present"), col.present.finish())?;
            let values = match col.values {
                AttrValues::Str(c) => c.finish(),
                AttrValues::Int(c) => c.finish(),
                AttrValues::Float(c) => c.finish(),
                AttrValues::Bool(c) => c.finish(),
                AttrValues::Other(c) => c.finish(),
            };
            out.column(&format!("{name}#values"), values)?;
        }
        out.column(&format!("{prefix}.attr_overflow"), self.overflow.finish())
    }
}

/// Encodes chunks of one row group into the data buffer.
struct RowGroupOut<'a> {
    data: &'a mut Vec<u8>,
    start: usize,
    directory: Vec<(String, u32, u32)>,
}

impl RowGroupOut<'_> {
    fn column(
        &mut self,
        name: &str,
        (encoding, data): (Encoding, ColumnData),
    ) -> Result<(), BlockError> {
        let offset = self.data.len() - self.start;
        write_chunk(self.data, encoding, &data)?;
        let len = self.data.len() - self.start - offset;
        self.directory
            .push((name.to_owned(), offset as u32, len as u32));
        Ok(())
    }
}

/// Columns of a row group being built.
#[derive(Default)]
struct RowGroup {
    traces: u32,
    spans: u32,
    min_id: TraceId,
    max_id: TraceId,
    start: u64,
    end: u64,

    trace_id: Option<FixedColumn>,
    trace_start: VarintColumn,
    trace_duration: VarintColumn,
    trace_span_count: VarintColumn,
    trace_root_service: DictColumn,
    trace_root_name: DictColumn,

    span_id: Option<FixedColumn>,
    span_parent_idx: VarintColumn,
    span_parent_ext_present: BitmapColumn,
    span_parent_ext: Option<FixedColumn>,
    span_nested_left: VarintColumn,
    span_nested_right: VarintColumn,
    span_nested_parent: VarintColumn,
    span_name: DictColumn,
    span_kind: VarintColumn,
    span_status_present: BitmapColumn,
    span_status_code: VarintColumn,
    span_status_message: DictColumn,
    span_start: VarintColumn,
    span_duration: VarintColumn,
    span_trace_state: DictColumn,
    span_flags: VarintColumn,
    span_dropped_attributes: VarintColumn,
    span_dropped_events: VarintColumn,
    span_dropped_links: VarintColumn,
    span_resource: VarintColumn,
    span_scope: VarintColumn,
    span_event_count: VarintColumn,
    span_link_count: VarintColumn,
    span_attrs: AttrTable,

    resource_index: HashMap<*const SharedResource, u32>,
    resource_by_content: HashMap<Vec<u8>, u32>,
    resource_present: BitmapColumn,
    resource_schema_url: DictColumn,
    resource_dropped_attributes: VarintColumn,
    resource_attrs: AttrTable,
    resources: u32,

    scope_index: HashMap<*const SharedScope, u32>,
    scope_by_content: HashMap<Vec<u8>, u32>,
    scope_present: BitmapColumn,
    scope_name: DictColumn,
    scope_version: DictColumn,
    scope_schema_url: DictColumn,
    scope_dropped_attributes: VarintColumn,
    scope_attrs: BlobColumn,
    scopes: u32,

    event_time: VarintColumn,
    event_name: DictColumn,
    event_dropped_attributes: VarintColumn,
    event_attrs: BlobColumn,
    events: u32,

    link_trace_id: Option<FixedColumn>,
    link_span_id: Option<FixedColumn>,
    link_trace_state: DictColumn,
    link_flags: VarintColumn,
    link_dropped_attributes: VarintColumn,
    link_attrs: BlobColumn,
    links: u32,

    /// Deliberately kept Arcs so that pointer keys above stay valid while the group is built.
    keep_alive: (Vec<Arc<SharedResource>>, Vec<Arc<SharedScope>>),
}

fn encode_attrs(attrs: &[KeyValue]) -> Vec<u8> {
    if attrs.is_empty() {
        return Vec::new();
    }
    KeyValueList {
        values: attrs.to_vec(),
    }
    .encode_to_vec()
}

impl RowGroup {
    fn new() -> RowGroup {
        RowGroup {
            trace_id: Some(FixedColumn::new(16)),
            span_id: Some(FixedColumn::new(8)),
            span_parent_ext: Some(FixedColumn::new(8)),
            link_trace_id: Some(FixedColumn::new(16)),
            link_span_id: Some(FixedColumn::new(8)),
            ..RowGroup::default()
        }
    }

    fn resource_row(&mut self, r: &Arc<SharedResource>) -> u32 {
        let ptr = Arc::as_ptr(r);
        if let Some(&i) = self.resource_index.get(&ptr) {
            return i;
        }
        let mut key = r
            .resource
            .as_ref()
            .map(Message::encode_to_vec)
            .unwrap_or_default();
        key.push(u8::from(r.resource.is_some()));
        key.extend_from_slice(r.schema_url.as_bytes());
        let i = match self.resource_by_content.get(&key) {
            Some(&i) => i,
            None => {
                let i = self.resources;
                self.resources += 1;
                self.resource_present.push(r.resource.is_some());
                self.resource_schema_url.push(&r.schema_url);
                let res = r.resource.as_ref();
                self.resource_dropped_attributes
                    .push(u64::from(res.map_or(0, |r| r.dropped_attributes_count)));
                self.resource_attrs
                    .push_row(res.map_or(&[][..], |r| &r.attributes));
                self.resource_by_content.insert(key, i);
                i
            }
        };
        self.resource_index.insert(ptr, i);
        self.keep_alive.0.push(r.clone());
        i
    }

    fn scope_row(&mut self, s: &Arc<SharedScope>) -> u32 {
        let ptr = Arc::as_ptr(s);
        if let Some(&i) = self.scope_index.get(&ptr) {
            return i;
        }
        let mut key = s
            .scope
            .as_ref()
            .map(Message::encode_to_vec)
            .unwrap_or_default();
        key.push(u8::from(s.scope.is_some()));
        key.extend_from_slice(s.schema_url.as_bytes());
        let i = match self.scope_by_content.get(&key) {
            Some(&i) => i,
            None => {
                let i = self.scopes;
                self.scopes += 1;
                let sc = s.scope.as_ref();
                self.scope_present.push(sc.is_some());
                self.scope_name.push(sc.map_or("", |s| &s.name));
                self.scope_version.push(sc.map_or("", |s| &s.version));
                self.scope_schema_url.push(&s.schema_url);
                self.scope_dropped_attributes
                    .push(u64::from(sc.map_or(0, |s| s.dropped_attributes_count)));
                self.scope_attrs
                    .push(&encode_attrs(sc.map_or(&[][..], |s| &s.attributes)));
                self.scope_by_content.insert(key, i);
                i
            }
        };
        self.scope_index.insert(ptr, i);
        self.keep_alive.1.push(s.clone());
        i
    }

    fn add_trace(&mut self, id: TraceId, spans: &[&StoredSpan]) {
        let (start, end) = crate::spans::time_bounds(spans.iter().copied());
        if self.traces == 0 {
            self.min_id = id;
            self.start = start;
            self.end = end;
        }
        self.max_id = id;
        self.start = self.start.min(start);
        self.end = self.end.max(end);
        self.traces += 1;
        self.spans += spans.len() as u32;

        if let Some(c) = self.trace_id.as_mut() {
            c.push(&id.0);
        }
        self.trace_start.push(start);
        self.trace_duration.push(end.saturating_sub(start));
        self.trace_span_count.push(spans.len() as u64);

        // Index of each span ID within the trace, for parents and the nested set.
        let mut by_id: HashMap<&[u8], usize> = HashMap::with_capacity(spans.len());
        for (i, s) in spans.iter().enumerate() {
            by_id.entry(&s.span.span_id[..]).or_insert(i);
        }
        let parents: Vec<Option<usize>> = spans
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if s.span.parent_span_id.is_empty() {
                    None
                } else {
                    by_id
                        .get(&s.span.parent_span_id[..])
                        .copied()
                        .filter(|&p| p != i)
                }
            })
            .collect();
        let nested = nested_set(&parents);

        let root = crate::spans::root_index(spans.iter().copied()).and_then(|i| spans.get(i));
        let root_service = root
            .and_then(|s| s.resource.resource.as_ref())
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .and_then(
                |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(Value::StringValue(s)) => Some(s.as_str()),
                    _ => None,
                },
            )
            .unwrap_or("");
        self.trace_root_service.push(root_service);
        self.trace_root_name
            .push(root.map_or("", |s| s.span.name.as_str()));

        for (i, hs) in spans.iter().enumerate() {
            let s = &hs.span;
            if let Some(c) = self.span_id.as_mut() {
                c.push(&s.span_id);
            }
            match parents[i] {
                Some(p) => {
                    self.span_parent_idx.push(p as u64 + 1);
                    self.span_parent_ext_present.push(false);
                }
                None => {
                    self.span_parent_idx.push(0);
                    let external = !s.parent_span_id.is_empty();
                    self.span_parent_ext_present.push(external);
                    if external && let Some(c) = self.span_parent_ext.as_mut() {
                        c.push(&s.parent_span_id);
                    }
                }
            }
            let (left, right, nparent) = nested[i];
            self.span_nested_left.push(u64::from(left));
            self.span_nested_right.push(u64::from(right));
            self.span_nested_parent.push(u64::from(nparent));
            self.span_name.push(&s.name);
            self.span_kind.push(zigzag(i64::from(s.kind)));
            self.span_status_present.push(s.status.is_some());
            let status = s.status.as_ref();
            self.span_status_code
                .push(zigzag(i64::from(status.map_or(0, |st| st.code))));
            self.span_status_message
                .push(status.map_or("", |st| st.message.as_str()));
            self.span_start
                .push(s.start_time_unix_nano.wrapping_sub(start));
            self.span_duration.push(zigzag(
                s.end_time_unix_nano.wrapping_sub(s.start_time_unix_nano) as i64,
            ));
            self.span_trace_state.push(&s.trace_state);
            self.span_flags.push(u64::from(s.flags));
            self.span_dropped_attributes
                .push(u64::from(s.dropped_attributes_count));
            self.span_dropped_events
                .push(u64::from(s.dropped_events_count));
            self.span_dropped_links
                .push(u64::from(s.dropped_links_count));
            let r = self.resource_row(&hs.resource);
            let sc = self.scope_row(&hs.scope);
            self.span_resource.push(u64::from(r));
            self.span_scope.push(u64::from(sc));
            self.span_attrs.push_row(&s.attributes);
            self.span_event_count.push(s.events.len() as u64);
            for e in &s.events {
                self.event_time.push(zigzag(
                    e.time_unix_nano.wrapping_sub(s.start_time_unix_nano) as i64,
                ));
                self.event_name.push(&e.name);
                self.event_dropped_attributes
                    .push(u64::from(e.dropped_attributes_count));
                self.event_attrs.push(&encode_attrs(&e.attributes));
                self.events += 1;
            }
            self.span_link_count.push(s.links.len() as u64);
            for l in &s.links {
                if let Some(c) = self.link_trace_id.as_mut() {
                    c.push(&l.trace_id);
                }
                if let Some(c) = self.link_span_id.as_mut() {
                    c.push(&l.span_id);
                }
                self.link_trace_state.push(&l.trace_state);
                self.link_flags.push(u64::from(l.flags));
                self.link_dropped_attributes
                    .push(u64::from(l.dropped_attributes_count));
                self.link_attrs.push(&encode_attrs(&l.attributes));
                self.links += 1;
            }
        }
    }

    /// Writes the chunks and the footer; returns the index entry.
    fn finish(mut self, data: &mut Vec<u8>) -> Result<IndexEntry, BlockError> {
        let start = data.len();
        let mut out = RowGroupOut {
            data,
            start,
            directory: Vec::new(),
        };
        let fixed = |c: &mut Option<FixedColumn>| c.take().map(FixedColumn::finish);
        if let Some(c) = fixed(&mut self.trace_id) {
            out.column("trace.id", c)?;
        }
        out.column("trace.start", self.trace_start.finish())?;
        out.column("trace.duration", self.trace_duration.finish())?;
        out.column("trace.span_count", self.trace_span_count.finish())?;
        out.column("trace.root_service", self.trace_root_service.finish())?;
        out.column("trace.root_name", self.trace_root_name.finish())?;
        if let Some(c) = fixed(&mut self.span_id) {
            out.column("span.id", c)?;
        }
        out.column("span.parent_idx", self.span_parent_idx.finish())?;
        out.column(
            "span.parent_ext#present",
            self.span_parent_ext_present.finish(),
        )?;
        if let Some(c) = fixed(&mut self.span_parent_ext) {
            out.column("span.parent_ext#values", c)?;
        }
        out.column("span.nested_left", self.span_nested_left.finish())?;
        out.column("span.nested_right", self.span_nested_right.finish())?;
        out.column("span.nested_parent", self.span_nested_parent.finish())?;
        out.column("span.name", self.span_name.finish())?;
        out.column("span.kind", self.span_kind.finish())?;
        out.column("span.status_present", self.span_status_present.finish())?;
        out.column("span.status_code", self.span_status_code.finish())?;
        out.column("span.status_message", self.span_status_message.finish())?;
        out.column("span.start", self.span_start.finish())?;
        out.column("span.duration", self.span_duration.finish())?;
        out.column("span.trace_state", self.span_trace_state.finish())?;
        out.column("span.flags", self.span_flags.finish())?;
        out.column(
            "span.dropped_attributes",
            self.span_dropped_attributes.finish(),
        )?;
        out.column("span.dropped_events", self.span_dropped_events.finish())?;
        out.column("span.dropped_links", self.span_dropped_links.finish())?;
        out.column("span.resource", self.span_resource.finish())?;
        out.column("span.scope", self.span_scope.finish())?;
        out.column("span.event_count", self.span_event_count.finish())?;
        out.column("span.link_count", self.span_link_count.finish())?;
        self.span_attrs.finish("span", &mut out)?;
        out.column("resource.present", self.resource_present.finish())?;
        out.column("resource.schema_url", self.resource_schema_url.finish())?;
        out.column(
            "resource.dropped_attributes",
            self.resource_dropped_attributes.finish(),
        )?;
        self.resource_attrs.finish("resource", &mut out)?;
        out.column("scope.present", self.scope_present.finish())?;
        out.column("scope.name", self.scope_name.finish())?;
        out.column("scope.version", self.scope_version.finish())?;
        out.column("scope.schema_url", self.scope_schema_url.finish())?;
        out.column(
            "scope.dropped_attributes",
            self.scope_dropped_attributes.finish(),
        )?;
        out.column("scope.attributes", self.scope_attrs.finish())?;
        out.column("event.time", self.event_time.finish())?;
        out.column("event.name", self.event_name.finish())?;
        out.column(
            "event.dropped_attributes",
            self.event_dropped_attributes.finish(),
        )?;
        out.column("event.attributes", self.event_attrs.finish())?;
        if let Some(c) = fixed(&mut self.link_trace_id) {
            out.column("link.trace_id", c)?;
        }
        if let Some(c) = fixed(&mut self.link_span_id) {
            out.column("link.span_id", c)?;
        }
        out.column("link.trace_state", self.link_trace_state.finish())?;
        out.column("link.flags", self.link_flags.finish())?;
        out.column(
            "link.dropped_attributes",
            self.link_dropped_attributes.finish(),
        )?;
        out.column("link.attributes", self.link_attrs.finish())?;

        // Footer: counts, then the chunk directory, then a checksum.
        let directory = std::mem::take(&mut out.directory);
        let footer_offset = out.data.len();
        let data = out.data;
        data.extend_from_slice(&ROW_GROUP_MAGIC);
        for n in [
            self.traces,
            self.spans,
            self.resources,
            self.scopes,
            self.events,
            self.links,
        ] {
            data.extend_from_slice(&n.to_le_bytes());
        }
        data.extend_from_slice(&(directory.len() as u32).to_le_bytes());
        for (name, offset, len) in &directory {
            data.extend_from_slice(&(name.len() as u16).to_le_bytes());
            data.extend_from_slice(name.as_bytes());
            data.extend_from_slice(&offset.to_le_bytes());
            data.extend_from_slice(&len.to_le_bytes());
        }
        let crc = crc32c::crc32c(&data[footer_offset..]);
        data.extend_from_slice(&crc.to_le_bytes());
        Ok(IndexEntry {
            min_id: self.min_id,
            max_id: self.max_id,
            offset: start as u64,
            len: (data.len() - start) as u64,
            footer_offset: footer_offset as u64,
            footer_len: (data.len() - footer_offset) as u32,
            traces: self.traces,
            spans: self.spans,
            start: self.start,
            end: self.end,
        })
    }
}

/// Nested-set positions (left, right, parent's left) for a trace's spans, from each span's
/// parent index. Spans not reachable from a root (cycles) get zeros.
pub(crate) fn nested_set(parents: &[Option<usize>]) -> Vec<(u32, u32, u32)> {
    let n = parents.len();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut roots = Vec::new();
    for (i, p) in parents.iter().enumerate() {
        match p {
            Some(p) if *p < n => children[*p].push(i),
            _ => roots.push(i),
        }
    }
    let mut out = vec![(0u32, 0u32, 0u32); n];
    let mut counter = 1u32;
    // Iterative depth-first walk: (node, parent_left, entered).
    let mut stack: Vec<(usize, u32, bool)> = roots.iter().rev().map(|&r| (r, 0, false)).collect();
    let mut visited = vec![false; n];
    while let Some((node, parent_left, entered)) = stack.pop() {
        if entered {
            out[node].1 = counter;
            counter += 1;
            continue;
        }
        if visited[node] {
            continue;
        }
        visited[node] = true;
        out[node].0 = counter;
        out[node].2 = parent_left;
        let left = counter;
        counter += 1;
        stack.push((node, parent_left, true));
        for &c in children[node].iter().rev() {
            stack.push((c, left, false));
        }
    }
    out
}

/// Streams whole traces, in ascending trace-ID order, into a block.
pub(crate) struct BlockWriter {
    tenant: String,
    block_id: String,
    compaction_level: u32,
    data: Vec<u8>,
    index: Vec<IndexEntry>,
    group: RowGroup,
    bloom: BloomBuilder,
    last_id: Option<TraceId>,
    traces: u64,
    spans: u64,
    /// The time range `meta.json` states, when given ([`BlockWriter::note_range`]).
    range: Option<(u64, u64)>,
}

impl BlockWriter {
    /// A writer for about `expected_traces` traces.
    pub(crate) fn new(
        tenant: &str,
        block_id: String,
        expected_traces: usize,
        compaction_level: u32,
        bloom_fp: f64,
    ) -> BlockWriter {
        let mut data = Vec::with_capacity(1 << 20);
        data.extend_from_slice(&DATA_MAGIC);
        data.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        data.extend_from_slice(&0u32.to_le_bytes());
        BlockWriter {
            tenant: tenant.to_owned(),
            block_id,
            compaction_level,
            data,
            index: Vec::new(),
            group: RowGroup::new(),
            bloom: BloomBuilder::new(expected_traces.max(1), bloom_fp),
            last_id: None,
            traces: 0,
            spans: 0,
            range: None,
        }
    }

    /// Widens the time range the block's `meta.json` states (for pruning and retention) to
    /// include `[start, end]`. Without any, the range is the spans' own.
    pub(crate) fn note_range(&mut self, start: u64, end: u64) {
        self.range = Some(match self.range {
            Some((s, e)) => (s.min(start), e.max(end)),
            None => (start, end),
        });
    }

    /// Adds a trace; IDs must ascend strictly.
    pub(crate) fn add_trace(
        &mut self,
        id: TraceId,
        spans: &[&StoredSpan],
    ) -> Result<(), BlockError> {
        if self.last_id.is_some_and(|last| last >= id) {
            return Err(BlockError::Write(format!(
                "traces out of order: {id} after {}",
                self.last_id.unwrap_or_default()
            )));
        }
        self.last_id = Some(id);
        self.bloom.insert(&id.0);
        self.group.add_trace(id, spans);
        self.traces += 1;
        self.spans += spans.len() as u64;
        if self.group.spans as usize >= ROW_GROUP_SPANS {
            self.cut_group()?;
        }
        Ok(())
    }

    fn cut_group(&mut self) -> Result<(), BlockError> {
        let group = std::mem::replace(&mut self.group, RowGroup::new());
        if group.traces > 0 {
            let entry = group.finish(&mut self.data)?;
            self.index.push(entry);
        }
        Ok(())
    }

    /// Writes every file of the block, `meta.json` last. Returns its meta.
    pub(crate) fn finish(mut self, backend: &dyn Backend) -> Result<BlockMeta, BlockError> {
        self.cut_group()?;
        let index = super::encode_index(&self.index);

        let shards = self.bloom.finish();
        let prefix = block_key(&self.tenant, &self.block_id);
        let data_len = self.data.len() as u64;
        let index_len = index.len() as u64;
        let mut bloom_bytes = 0u64;
        backend.write(&format!("{prefix}/data"), Bytes::from(self.data))?;
        backend.write(&format!("{prefix}/index"), Bytes::from(index))?;
        for (i, shard) in shards.iter().enumerate() {
            bloom_bytes += shard.len() as u64;
            backend.write(&format!("{prefix}/bloom-{i}"), Bytes::from(shard.clone()))?;
        }
        let meta = BlockMeta {
            version: FORMAT_VERSION,
            block_id: self.block_id.clone(),
            tenant: self.tenant.clone(),
            start_time_unix_nano: self
                .range
                .map(|(s, _)| s)
                .unwrap_or_else(|| self.index.iter().map(|e| e.start).min().unwrap_or(0)),
            end_time_unix_nano: self
                .range
                .map(|(_, e)| e)
                .unwrap_or_else(|| self.index.iter().map(|e| e.end).max().unwrap_or(0)),
            traces: self.traces,
            spans: self.spans,
            row_groups: self.index.len() as u32,
            data_bytes: data_len,
            index_bytes: index_len,
            bloom_bytes,
            bloom_shards: shards.len() as u32,
            compaction_level: self.compaction_level,
            created_at_unix_seconds: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            min_trace_id: self
                .index
                .first()
                .map(|e| e.min_id.to_hex())
                .unwrap_or_default(),
            max_trace_id: self
                .index
                .last()
                .map(|e| e.max_id.to_hex())
                .unwrap_or_default(),
        };
        backend.write(&format!("{prefix}/meta.json"), Bytes::from(meta.to_json()?))?;
        Ok(meta)
    }
}
