//! Reads a block: meta and index at open; a bloom shard, then one row group, per lookup.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use prost::Message;

use super::cache::BlockCache;
use super::encoding::{
    Bitmap, Blobs, Chunk, DictValues, Encoding, FixedValues, decode_bitmap, decode_blobs,
    decode_dict, decode_f64, decode_fixed, decode_varints, read_chunk, unzigzag,
};
pub(crate) use super::footer::Footer;
use super::writer::AttrType;
use super::{
    BlockError, BlockMeta, DATA_MAGIC, FORMAT_VERSION, INDEX_ENTRY_LEN, INDEX_MAGIC, IndexEntry,
    ROW_GROUP_MAGIC, block_key,
};
use crate::backend::{Backend, BackendError};
use crate::bloom::{BloomShard, shard_for};
use crate::model::{
    AnyValue, Event, InstrumentationScope, KeyValue, KeyValueList, Link, Resource, Span, Status,
    TraceId, Value,
};
use crate::spans::{SharedResource, SharedScope, StoredSpan};

/// An open block.
#[derive(Debug)]
pub(crate) struct BlockReader {
    backend: Arc<dyn Backend>,
    pub(crate) meta: BlockMeta,
    pub(crate) index: Vec<IndexEntry>,
    prefix: String,
    /// What was wrong with the `index` file, when it was rebuilt from `data` at open.
    repaired: Option<String>,
    /// Set once a bloom shard could not be read (logged once).
    bloom_damaged: AtomicBool,
    /// Set once the `data` file's header (magic and version) is known good.
    data_header_checked: AtomicBool,
    /// Bloom shards and footers, shared by every block of the store.
    cache: Arc<BlockCache>,
    /// `prefix`, as the cache's keys hold it.
    cache_key: Arc<str>,
}

/// Which attributes to materialize: `(table, key)`; `None` keeps them all.
pub(crate) type KeepKey<'a> = Option<&'a dyn Fn(&str, &str) -> bool>;

/// One trace read back from a block.
pub(crate) type BlockTrace = (TraceId, Vec<StoredSpan>);

impl BlockReader {
    /// Opens a block: reads and checks `meta.json` and `index`. An `index` that is missing,
    /// corrupt or disagrees with `meta.json` is rebuilt from the `data` file (see
    /// [`BlockReader::repaired`]); only a block whose data cannot be read is an error. The
    /// `data` file's header is checked when the block's data is first read (see
    /// [`BlockReader::check_data_header`]), unless rebuilding the index has checked it already.
    pub(crate) fn open(
        backend: Arc<dyn Backend>,
        tenant: &str,
        block_id: &str,
    ) -> Result<BlockReader, BlockError> {
        BlockReader::open_cached(
            backend,
            Arc::new(BlockCache::new(64 << 20)),
            tenant,
            block_id,
        )
    }

    /// [`BlockReader::open`], keeping bloom shards and footers in `cache`.
    pub(crate) fn open_cached(
        backend: Arc<dyn Backend>,
        cache: Arc<BlockCache>,
        tenant: &str,
        block_id: &str,
    ) -> Result<BlockReader, BlockError> {
        let prefix = block_key(tenant, block_id);
        let meta_bytes = backend.read(&format!("{prefix}/meta.json"))?;
        let meta = BlockMeta::from_json(&meta_bytes, &prefix)?;
        let decoded = match backend.read(&format!("{prefix}/index")) {
            Ok(bytes) => decode_index(&bytes).and_then(|index| {
                if index.len() == meta.row_groups as usize {
                    Ok(index)
                } else {
                    Err(BlockError::corrupt(format!(
                        "index has {} row groups, meta.json says {}",
                        index.len(),
                        meta.row_groups
                    )))
                }
            }),
            Err(e) if e.is_not_found() => Err(BlockError::corrupt("index is missing")),
            Err(e) => return Err(e.into()),
        };
        let (index, repaired) = match decoded {
            Ok(index) => (index, None),
            Err(damage) => {
                let data = backend.read(&format!("{prefix}/data"))?;
                let index = rebuild_index(&data).map_err(|e| e.in_block(&prefix))?;
                if index.len() != meta.row_groups as usize {
                    return Err(BlockError::Corrupt {
                        block: Some(prefix),
                        message: format!(
                            "{damage}; rebuilding it from data found {} row groups, \
                             meta.json says {}",
                            index.len(),
                            meta.row_groups
                        ),
                    });
                }
                (index, Some(damage.to_string()))
            }
        };
        // Rebuilding the index read the whole data file, header first.
        let data_header_checked = AtomicBool::new(repaired.is_some());
        let cache_key = Arc::from(prefix.as_str());
        Ok(BlockReader {
            backend,
            meta,
            index,
            prefix,
            repaired,
            bloom_damaged: AtomicBool::new(false),
            data_header_checked,
            cache,
            cache_key,
        })
    }

    /// When the block's `index` was damaged and rebuilt from `data` at open, what was wrong
    /// with it.
    pub(crate) fn repaired(&self) -> Option<&str> {
        self.repaired.as_deref()
    }

    /// The index as its file should hold it, to write back a rebuilt one.
    pub(crate) fn index_file(&self) -> Vec<u8> {
        super::encode_index(&self.index)
    }

    /// `<tenant>/<block-id>`.
    pub(crate) fn name(&self) -> &str {
        &self.prefix
    }

    /// Whether the block's time range overlaps `[start, end]`.
    pub(crate) fn overlaps(&self, start: u64, end: u64) -> bool {
        self.meta.end_time_unix_nano >= start && self.meta.start_time_unix_nano <= end
    }

    /// The bloom filter's answer: `false` means the trace is certainly not in the block. A
    /// bloom shard that is missing or damaged answers `true` (logged once per block): the
    /// index and the row group then decide, so a damaged filter never hides a trace.
    pub(crate) fn may_contain(&self, id: &TraceId) -> bool {
        if self.meta.bloom_shards == 0 {
            return true;
        }
        let shard_no = shard_for(&id.0, self.meta.bloom_shards);
        if let Some(shard) = self.cache.bloom(&self.cache_key, shard_no) {
            return shard.may_contain(&id.0);
        }
        let loaded = match self
            .backend
            .read(&format!("{}/bloom-{shard_no}", self.prefix))
        {
            Ok(bytes) => BloomShard::decode(bytes).map_err(|e| e.to_string()),
            Err(e) if e.is_not_found() => Err(e.to_string()),
            Err(e) => {
                // The backend did not answer: the shard may be fine. The row group read
                // that follows says whether the block can be read at all.
                tracing::debug!(block = %self.prefix, shard = shard_no, error = %e, "bloom filter shard not read");
                return true;
            }
        };
        match loaded {
            Ok(shard) => {
                let shard = Arc::new(shard);
                self.cache
                    .put_bloom(&self.cache_key, shard_no, shard.clone());
                shard.may_contain(&id.0)
            }
            Err(e) => {
                if !self.bloom_damaged.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        block = %self.prefix,
                        shard = shard_no,
                        error = %e,
                        "bloom filter shard unreadable; lookups in this block read its index instead"
                    );
                }
                true
            }
        }
    }

    /// Whether a bloom shard of the block could not be read.
    pub(crate) fn bloom_damaged(&self) -> bool {
        self.bloom_damaged.load(Ordering::Relaxed)
    }

    /// The trace's spans, if the block holds it.
    #[cfg(test)]
    pub(crate) fn find(&self, id: &TraceId) -> Result<Option<Vec<StoredSpan>>, BlockError> {
        if !self.may_contain(id) {
            return Ok(None);
        }
        for (i, e) in self.index.iter().enumerate() {
            if e.min_id <= *id && *id <= e.max_id {
                let group = self.row_group(i)?;
                return group.find(id).map_err(|e| e.in_block(&self.prefix));
            }
        }
        Ok(None)
    }

    /// Checks the `data` file's 16-byte header once, with a ranged read: a bad magic or a file
    /// shorter than the header is [`BlockError::Corrupt`], a version this build does not read
    /// is [`BlockError::UnsupportedVersion`], both naming the block. Row groups are read by
    /// their offsets from the index, so without this a `data` file of another format or
    /// version could be misread. A failed check is tried again on the next read.
    pub(crate) fn check_data_header(&self) -> Result<(), BlockError> {
        if self.data_header_checked.load(Ordering::Relaxed) {
            return Ok(());
        }
        let key = format!("{}/data", self.prefix);
        let header = match self.backend.read_range(&key, 0, DATA_HEADER_LEN as u64) {
            Ok(header) => header,
            Err(BackendError::OutOfRange { size, .. }) => {
                return Err(BlockError::Corrupt {
                    block: Some(self.prefix.clone()),
                    message: format!(
                        "data: {size} bytes, shorter than its {DATA_HEADER_LEN}-byte header"
                    ),
                });
            }
            Err(e) => return Err(e.into()),
        };
        check_header_bytes(&header, &self.prefix)?;
        self.data_header_checked.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Reads row group `i`.
    pub(crate) fn row_group(&self, i: usize) -> Result<RowGroupData, BlockError> {
        self.check_data_header()?;
        let e = self.index.get(i).ok_or_else(|| {
            BlockError::corrupt(format!("no row group {i}")).in_block(&self.prefix)
        })?;
        let bytes = self
            .backend
            .read_range(&format!("{}/data", self.prefix), e.offset, e.len)?;
        let footer = match self.cache.footer(&self.cache_key, i) {
            Some(f) => f,
            None => {
                let f =
                    Arc::new(Footer::parse(&bytes, e).map_err(|err| err.in_block(&self.prefix))?);
                self.cache.put_footer(&self.cache_key, i, f.clone());
                f
            }
        };
        Ok(RowGroupData { bytes, footer })
    }

    /// Every trace of the block, row group by row group, in trace-ID order.
    #[cfg(test)]
    pub(crate) fn for_each_trace(
        &self,
        mut f: impl FnMut(BlockTrace) -> Result<(), BlockError>,
    ) -> Result<(), BlockError> {
        for i in 0..self.index.len() {
            let group = self.row_group(i)?;
            for trace in group.all().map_err(|e| e.in_block(&self.prefix))? {
                f(trace)?;
            }
        }
        Ok(())
    }
}

/// Length of the `data` file's header: magic, version, reserved.
const DATA_HEADER_LEN: usize = 16;

/// Checks the header of block `block`'s `data` file: the magic `TEMPOBLK` and a version this
/// build reads. The reserved bytes are not checked.
fn check_header_bytes(header: &[u8], block: &str) -> Result<(), BlockError> {
    let corrupt = |message: &str| BlockError::Corrupt {
        block: Some(block.to_owned()),
        message: message.to_owned(),
    };
    let Some((magic, rest)) = header.split_first_chunk::<8>() else {
        return Err(corrupt("data: truncated header"));
    };
    if *magic != DATA_MAGIC {
        return Err(corrupt("data: bad magic (not a block data file)"));
    }
    let Some(version) = rest.first_chunk::<4>() else {
        return Err(corrupt("data: truncated header"));
    };
    let version = u32::from_le_bytes(*version);
    if version != FORMAT_VERSION {
        return Err(BlockError::UnsupportedVersion {
            block: block.to_owned(),
            version,
        });
    }
    Ok(())
}

/// Rebuilds a block's index from its `data` file: walks the row groups (each is its chunks,
/// then its footer), and reads each one's trace IDs and times from its columns.
pub(crate) fn rebuild_index(data: &Bytes) -> Result<Vec<IndexEntry>, BlockError> {
    if data.len() < 16 || data[..8] != DATA_MAGIC {
        return Err(BlockError::corrupt("data: bad magic or truncated"));
    }
    let version = u32::from_le_bytes([data[8], data[9], data[10], data[11]]);
    if version != FORMAT_VERSION {
        return Err(BlockError::corrupt(format!(
            "data: unsupported version {version}"
        )));
    }
    let u32_at = |at: usize| -> Result<usize, BlockError> {
        data.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| BlockError::corrupt("data: truncated while rebuilding the index"))
    };
    let mut entries = Vec::new();
    let mut at = 16usize;
    while at < data.len() {
        let start = at;
        // Chunks, until the footer.
        loop {
            let magic = data.get(at..at + 2);
            if magic == Some(b"TC".as_slice()) {
                let stored = u32_at(at + 12)?;
                at = at
                    .checked_add(super::encoding::CHUNK_HEADER + stored + 4)
                    .filter(|&end| end <= data.len())
                    .ok_or_else(|| BlockError::corrupt("data: a chunk runs past the end"))?;
            } else if data.get(at..at + 4) == Some(ROW_GROUP_MAGIC.as_slice()) {
                break;
            } else {
                return Err(BlockError::corrupt(format!(
                    "data: neither a chunk nor a row group footer at offset {at}"
                )));
            }
        }
        // The footer: magic, six counts, the column directory, a CRC.
        let footer_at = at;
        let columns = u32_at(at + 4 + 24)?;
        let mut end = at + 4 + 24 + 4;
        for _ in 0..columns {
            let name_len = data
                .get(end..end + 2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
                .ok_or_else(|| BlockError::corrupt("data: truncated row group footer"))?;
            end += 2 + name_len + 8;
        }
        end += 4;
        if end > data.len() {
            return Err(BlockError::corrupt("data: truncated row group footer"));
        }
        let mut entry = IndexEntry {
            min_id: TraceId::default(),
            max_id: TraceId::default(),
            offset: start as u64,
            len: (end - start) as u64,
            footer_offset: footer_at as u64,
            footer_len: (end - footer_at) as u32,
            traces: 0,
            spans: 0,
            start: 0,
            end: 0,
        };
        let group = RowGroupData::parse(data.slice(start..end), &entry)?;
        let ids = group.fixed("trace.id", group.traces)?;
        let starts = group.varints("trace.start", group.traces)?;
        let durations = group.varints("trace.duration", group.traces)?;
        let id_at = |i: usize| {
            ids.get(i)
                .and_then(TraceId::from_slice)
                .ok_or_else(|| BlockError::corrupt("data: a trace ID is missing"))
        };
        entry.traces = group.traces as u32;
        entry.spans = group.spans as u32;
        entry.min_id = id_at(0)?;
        entry.max_id = id_at(group.traces.saturating_sub(1))?;
        entry.start = starts.iter().copied().min().unwrap_or(0);
        entry.end = starts
            .iter()
            .zip(&durations)
            .map(|(s, d)| s.saturating_add(*d))
            .max()
            .unwrap_or(0);
        entries.push(entry);
        at = end;
    }
    Ok(entries)
}

fn decode_index(bytes: &[u8]) -> Result<Vec<IndexEntry>, BlockError> {
    if bytes.len() < 16 + 4 || bytes[..8] != INDEX_MAGIC {
        return Err(BlockError::corrupt("index: bad magic or truncated"));
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version != FORMAT_VERSION {
        return Err(BlockError::corrupt(format!(
            "index: unsupported version {version}"
        )));
    }
    let count = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) as usize;
    let body_end = bytes.len() - 4;
    let crc = u32::from_le_bytes([
        bytes[body_end],
        bytes[body_end + 1],
        bytes[body_end + 2],
        bytes[body_end + 3],
    ]);
    if crc32c::crc32c(&bytes[..body_end]) != crc {
        return Err(BlockError::corrupt("index: checksum mismatch"));
    }
    if count.checked_mul(INDEX_ENTRY_LEN).map(|n| n + 16) != Some(body_end) {
        return Err(BlockError::corrupt(format!(
            "index: {count} entries do not fit {} bytes",
            bytes.len()
        )));
    }
    let mut out = Vec::with_capacity(count);
    for chunk in bytes[16..body_end].chunks_exact(INDEX_ENTRY_LEN) {
        out.push(IndexEntry::decode(chunk).ok_or_else(|| BlockError::corrupt("index: bad entry"))?);
    }
    Ok(out)
}

/// A row group's bytes and its footer.
pub(crate) struct RowGroupData {
    bytes: Bytes,
    footer: Arc<Footer>,
}

impl std::ops::Deref for RowGroupData {
    type Target = Footer;

    fn deref(&self) -> &Footer {
        &self.footer
    }
}

impl RowGroupData {
    /// Parses a row group read whole.
    pub(crate) fn parse(bytes: Bytes, entry: &IndexEntry) -> Result<RowGroupData, BlockError> {
        let footer = Arc::new(Footer::parse(&bytes, entry)?);
        Ok(RowGroupData { bytes, footer })
    }

    /// Every chunk of the row group, by column name.
    pub(crate) fn chunks(&self) -> Vec<(String, Bytes)> {
        self.directory
            .iter()
            .map(|(name, &(offset, len))| (name.clone(), self.bytes.slice(offset..offset + len)))
            .collect()
    }

    fn chunk(&self, name: &str, rows: usize) -> Result<Chunk, BlockError> {
        let Some(&(offset, len)) = self.directory.get(name) else {
            if rows == 0 {
                return Ok(Chunk {
                    encoding: Encoding::Empty,
                    rows: 0,
                    min: 0,
                    max: 0,
                    payload: Bytes::new(),
                });
            }
            return Err(BlockError::corrupt(format!("column {name} is missing")));
        };
        let chunk = read_chunk(&self.bytes.slice(offset..offset + len), name)?;
        if chunk.rows != rows {
            return Err(BlockError::corrupt(format!(
                "column {name} has {} rows, expected {rows}",
                chunk.rows
            )));
        }
        Ok(chunk)
    }

    fn expect(chunk: &Chunk, encoding: Encoding, name: &str) -> Result<(), BlockError> {
        if chunk.encoding != encoding && chunk.encoding != Encoding::Empty {
            return Err(BlockError::corrupt(format!(
                "column {name} has encoding {:?}, expected {encoding:?}",
                chunk.encoding
            )));
        }
        Ok(())
    }

    pub(crate) fn varints(&self, name: &str, rows: usize) -> Result<Vec<u64>, BlockError> {
        let c = self.chunk(name, rows)?;
        Self::expect(&c, Encoding::Varint, name)?;
        decode_varints(&c.payload, rows, name)
    }

    pub(crate) fn dict(&self, name: &str, rows: usize) -> Result<DictValues, BlockError> {
        let c = self.chunk(name, rows)?;
        Self::expect(&c, Encoding::Dict, name)?;
        decode_dict(&c.payload, rows, name)
    }

    pub(crate) fn fixed(&self, name: &str, rows: usize) -> Result<FixedValues, BlockError> {
        let c = self.chunk(name, rows)?;
        Self::expect(&c, Encoding::Fixed, name)?;
        decode_fixed(&c.payload, rows, name)
    }

    pub(crate) fn f64s(&self, name: &str, rows: usize) -> Result<Vec<f64>, BlockError> {
        let c = self.chunk(name, rows)?;
        Self::expect(&c, Encoding::F64, name)?;
        decode_f64(&c.payload, rows, name)
    }

    pub(crate) fn bitmap(&self, name: &str, rows: usize) -> Result<Bitmap, BlockError> {
        let c = self.chunk(name, rows)?;
        Self::expect(&c, Encoding::Bitmap, name)?;
        decode_bitmap(&c.payload, rows, name)
    }

    fn blobs(&self, name: &str, rows: usize) -> Result<Blobs, BlockError> {
        let c = self.chunk(name, rows)?;
        Self::expect(&c, Encoding::Blob, name)?;
        decode_blobs(&c.payload, rows, name)
    }

    /// The attributes of rows `wanted` of a table (`span` or `resource`); only those rows'
    /// values are materialized.
    fn attributes(
        &self,
        table: &str,
        rows: usize,
        wanted: std::ops::Range<usize>,
        keep: KeepKey<'_>,
    ) -> Result<Vec<Vec<KeyValue>>, BlockError> {
        let mut out: Vec<Vec<KeyValue>> = vec![Vec::new(); wanted.len()];
        let prefix = format!("{table}.attr.");
        let mut names: Vec<(&str, AttrType, &str)> = Vec::new();
        for name in self.directory.keys() {
            let Some(rest) = name.strip_prefix(&prefix) else {
                continue;
            };
            let Some(base) = rest.strip_suffix("#present") else {
                continue;
            };
            let Some((t, key)) = base.split_once('.') else {
                continue;
            };
            let Some(t) = AttrType::from_name(t) else {
                return Err(BlockError::corrupt(format!(
                    "column {name}: unknown attribute type"
                )));
            };
            if keep.is_some_and(|keep| !keep(table, key)) {
                continue;
            }
            names.push((key, t, &name[..name.len() - "#present".len()]));
        }
        names.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        for (key, t, base) in names {
            let present = self.bitmap(&format!("{base}#present"), rows)?;
            let count = present.ones(rows);
            let vname = format!("{base}#values");
            // The value of the first wanted row that has one.
            let mut v = present.ones(wanted.start);
            let values = AttrValues::read(self, t, &vname, count)?;
            for (slot, row) in out.iter_mut().zip(wanted.clone()) {
                if present.get(row) {
                    slot.push(KeyValue {
                        key: key.to_owned(),
                        value: values.get(v, &vname)?,
                    });
                    v += 1;
                }
            }
        }
        let overflow = self.blobs(&format!("{table}.attr_overflow"), rows)?;
        for (slot, row) in out.iter_mut().zip(wanted) {
            let blob = overflow.get(row);
            if !blob.is_empty() {
                let list = KeyValueList::decode(blob).map_err(|e| {
                    BlockError::corrupt(format!("column {table}.attr_overflow: {e}"))
                })?;
                slot.extend(
                    list.values
                        .into_iter()
                        .filter(|kv| keep.is_none_or(|keep| keep(table, &kv.key))),
                );
            }
        }
        Ok(out)
    }

    pub(crate) fn resources(
        &self,
        keep: KeepKey<'_>,
    ) -> Result<Vec<Arc<SharedResource>>, BlockError> {
        let n = self.resources;
        let present = self.bitmap("resource.present", n)?;
        let schema = self.dict("resource.schema_url", n)?;
        let dropped = self.varints("resource.dropped_attributes", n)?;
        let attrs = self.attributes("resource", n, 0..n, keep)?;
        Ok(attrs
            .into_iter()
            .enumerate()
            .map(|(i, attributes)| {
                Arc::new(SharedResource {
                    resource: present.get(i).then(|| Resource {
                        attributes,
                        dropped_attributes_count: dropped[i] as u32,
                    }),
                    schema_url: schema.get(i).unwrap_or("").to_owned(),
                })
            })
            .collect())
    }

    fn scopes(&self) -> Result<Vec<Arc<SharedScope>>, BlockError> {
        let n = self.scopes;
        let present = self.bitmap("scope.present", n)?;
        let name = self.dict("scope.name", n)?;
        let version = self.dict("scope.version", n)?;
        let schema = self.dict("scope.schema_url", n)?;
        let dropped = self.varints("scope.dropped_attributes", n)?;
        let attrs = self.blobs("scope.attributes", n)?;
        let mut out = Vec::with_capacity(n);
        for (i, dropped) in dropped.iter().enumerate() {
            let attributes = decode_attr_blob(attrs.get(i), "scope.attributes")?;
            out.push(Arc::new(SharedScope {
                scope: present.get(i).then(|| InstrumentationScope {
                    name: name.get(i).unwrap_or("").to_owned(),
                    version: version.get(i).unwrap_or("").to_owned(),
                    attributes,
                    dropped_attributes_count: *dropped as u32,
                }),
                schema_url: schema.get(i).unwrap_or("").to_owned(),
            }));
        }
        Ok(out)
    }

    /// The trace with this ID, if this row group holds it.
    pub(crate) fn find(&self, id: &TraceId) -> Result<Option<Vec<StoredSpan>>, BlockError> {
        let ids = self.fixed("trace.id", self.traces)?;
        let (mut lo, mut hi) = (0usize, self.traces);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match ids.get(mid).map(|b| b.cmp(&id.0[..])) {
                Some(std::cmp::Ordering::Less) => lo = mid + 1,
                Some(std::cmp::Ordering::Greater) => hi = mid,
                Some(std::cmp::Ordering::Equal) => {
                    let mut traces = self.decode(Some(mid), None)?;
                    return Ok(traces.pop().map(|(_, spans)| spans));
                }
                None => break,
            }
        }
        Ok(None)
    }

    /// Every trace of the row group.
    pub(crate) fn all(&self) -> Result<Vec<BlockTrace>, BlockError> {
        self.decode(None, None)
    }

    /// Whether the row group has a column of this name.
    pub(crate) fn has_column(&self, name: &str) -> bool {
        self.directory.contains_key(name)
    }

    /// The min/max statistics of a column's chunk, if the column exists.
    pub(crate) fn column_stats(&self, name: &str) -> Result<Option<(i64, i64)>, BlockError> {
        if !self.has_column(name) {
            return Ok(None);
        }
        let c = self.chunk_any_rows(name)?;
        Ok(Some((c.min, c.max)))
    }

    fn chunk_any_rows(&self, name: &str) -> Result<Chunk, BlockError> {
        let Some(&(offset, len)) = self.directory.get(name) else {
            return Err(BlockError::corrupt(format!("column {name} is missing")));
        };
        read_chunk(&self.bytes.slice(offset..offset + len), name)
    }

    /// Whether a dictionary column holds `value` (false if the column does not exist).
    pub(crate) fn dict_contains(&self, name: &str, value: &str) -> Result<bool, BlockError> {
        if !self.has_column(name) {
            return Ok(false);
        }
        let c = self.chunk_any_rows(name)?;
        Self::expect(&c, Encoding::Dict, name)?;
        super::encoding::dict_has_entry(&c.payload, value, name)
    }

    /// The names of the row group's columns.
    pub(crate) fn column_names(&self) -> impl Iterator<Item = &str> {
        self.directory.keys().map(String::as_str)
    }

    /// The distinct values of an attribute column (`<table>.attr.<type>.<key>`), up to
    /// `limit`: a dictionary's entries, or the decoded values of the other types.
    pub(crate) fn attribute_values(
        &self,
        base: &str,
        limit: usize,
    ) -> Result<Vec<Value>, BlockError> {
        let present = format!("{base}#present");
        let vname = format!("{base}#values");
        if !self.has_column(&present) {
            return Ok(Vec::new());
        }
        let Some(t) = base.split('.').nth(2).and_then(AttrType::from_name) else {
            return Err(BlockError::corrupt(format!(
                "column {base}: unknown attribute type"
            )));
        };
        let count = self.chunk_any_rows(&vname).map(|c| c.rows).unwrap_or(0);
        let mut out: Vec<Value> = Vec::new();
        let push = |v: Value, out: &mut Vec<Value>| {
            if out.len() < limit && !out.contains(&v) {
                out.push(v);
            }
        };
        match AttrValues::read(self, t, &vname, count)? {
            other @ AttrValues::Other(_) => {
                // Arrays list their elements; key-value lists and bytes nothing.
                for i in 0..count {
                    if let Some(AnyValue {
                        value: Some(Value::ArrayValue(a)),
                    }) = other.get(i, &vname)?
                    {
                        for v in a.values.into_iter().filter_map(|v| v.value) {
                            if !matches!(v, Value::ArrayValue(_) | Value::KvlistValue(_)) {
                                push(v, &mut out);
                            }
                        }
                    }
                }
            }
            AttrValues::Str(d) => {
                for s in d.dict {
                    push(Value::StringValue(s), &mut out);
                }
            }
            AttrValues::Int(v) => {
                for x in v {
                    push(Value::IntValue(unzigzag(x)), &mut out);
                }
            }
            AttrValues::Float(v) => {
                for x in v {
                    push(Value::DoubleValue(x), &mut out);
                }
            }
            AttrValues::Bool(b) => {
                for i in 0..count {
                    push(Value::BoolValue(b.get(i)), &mut out);
                }
            }
        }
        Ok(out)
    }

    /// The dictionary entries of a dictionary column (empty if the column does not exist).
    pub(crate) fn dict_entries(&self, name: &str) -> Result<Vec<String>, BlockError> {
        if !self.has_column(name) {
            return Ok(Vec::new());
        }
        let c = self.chunk_any_rows(name)?;
        Self::expect(&c, Encoding::Dict, name)?;
        Ok(decode_dict(&c.payload, c.rows, name)?.dict)
    }

    /// The attribute lists of a blob column of attributes (`event.attributes`, ...).
    pub(crate) fn attribute_lists(&self, name: &str) -> Result<Vec<Vec<KeyValue>>, BlockError> {
        if !self.has_column(name) {
            return Ok(Vec::new());
        }
        let c = self.chunk_any_rows(name)?;
        let blobs = self.blobs(name, c.rows)?;
        (0..c.rows)
            .map(|i| decode_attr_blob(blobs.get(i), name))
            .collect()
    }

    /// Decodes one trace (by row) or all of them.
    fn decode(
        &self,
        only: Option<usize>,
        keep: KeepKey<'_>,
    ) -> Result<Vec<BlockTrace>, BlockError> {
        let cols = GroupColumns::new(self, keep)?;
        match only {
            Some(t) if t < cols.traces() => Ok(vec![cols.trace(t)?]),
            Some(_) => Ok(Vec::new()),
            None => (0..cols.traces()).map(|t| cols.trace(t)).collect(),
        }
    }

    /// The row group's columns decoded once, to materialize traces one at a time, with only
    /// the span and resource attributes that `keep` accepts (`None`: all of them).
    pub(crate) fn columns(&self, keep: KeepKey<'_>) -> Result<GroupColumns, BlockError> {
        GroupColumns::new(self, keep)
    }
}

/// One attribute column of the span table, decoded.
struct SpanAttrColumn {
    key: String,
    values_name: String,
    present: Bitmap,
    values: AttrValues,
    /// Per trace: the index of the first value at or after the trace's first span.
    trace_rank: Vec<u32>,
}

/// The decoded columns of a row group. Decoding happens once; [`GroupColumns::trace`] then
/// materializes any trace, in any order, so a search can evaluate the newest traces first
/// and stop early.
pub(crate) struct GroupColumns {
    ids: FixedValues,
    starts: Vec<u64>,
    durations: Vec<u64>,
    counts: Vec<u64>,
    /// First span row of each trace, and the span count at the end.
    first: Vec<usize>,
    span_id: FixedValues,
    parent_idx: Vec<u64>,
    ext_present: Bitmap,
    ext: FixedValues,
    /// Per span: its row in `ext` when its parent is outside the trace.
    ext_row: Vec<u32>,
    name: DictValues,
    kind: Vec<u64>,
    status_present: Bitmap,
    status_code: Vec<u64>,
    status_message: DictValues,
    start: Vec<u64>,
    duration: Vec<u64>,
    trace_state: DictValues,
    flags: Vec<u64>,
    dropped_attributes: Vec<u64>,
    dropped_events: Vec<u64>,
    dropped_links: Vec<u64>,
    resource: Vec<u64>,
    scope: Vec<u64>,
    /// First event and link row of each span, and the totals at the end.
    event_first: Vec<usize>,
    link_first: Vec<usize>,
    span_attrs: Vec<SpanAttrColumn>,
    overflow: Blobs,
    keep_all: bool,
    overflow_keep: Vec<String>,
    resources: Vec<Arc<SharedResource>>,
    scopes: Vec<Arc<SharedScope>>,
    event_time: Vec<u64>,
    event_name: DictValues,
    event_dropped: Vec<u64>,
    event_attrs: Blobs,
    link_trace: FixedValues,
    link_span: FixedValues,
    link_state: DictValues,
    link_flags: Vec<u64>,
    link_dropped: Vec<u64>,
    link_attrs: Blobs,
}

pub(crate) fn prefix_sums(
    counts: &[u64],
    total: usize,
    what: &str,
) -> Result<Vec<usize>, BlockError> {
    let mut out = Vec::with_capacity(counts.len() + 1);
    let mut sum = 0usize;
    out.push(0);
    for c in counts {
        sum = sum.saturating_add(*c as usize);
        out.push(sum);
    }
    if sum != total {
        return Err(BlockError::corrupt(format!(
            "{what} counts add up to {sum}, expected {total}"
        )));
    }
    Ok(out)
}

impl GroupColumns {
    fn new(g: &RowGroupData, keep: KeepKey<'_>) -> Result<GroupColumns, BlockError> {
        let (t, s) = (g.traces, g.spans);
        let counts = g.varints("trace.span_count", t)?;
        let first = prefix_sums(&counts, s, "trace span")?;
        let parent_idx = g.varints("span.parent_idx", s)?;
        let ext_present = g.bitmap("span.parent_ext#present", s)?;
        let ext_count = ext_present.ones(s);
        let ext = g.fixed("span.parent_ext#values", ext_count)?;
        let mut ext_row = Vec::with_capacity(s);
        let mut next = 0u32;
        for (row, p) in parent_idx.iter().enumerate() {
            ext_row.push(next);
            if *p == 0 && ext_present.get(row) {
                next += 1;
            }
        }
        let event_count = g.varints("span.event_count", s)?;
        let link_count = g.varints("span.link_count", s)?;
        let event_first = prefix_sums(&event_count, g.events, "event")?;
        let link_first = prefix_sums(&link_count, g.links, "link")?;

        let mut names: Vec<(&str, AttrType, &str)> = Vec::new();
        for name in g.directory.keys() {
            let Some(base) = name
                .strip_prefix("span.attr.")
                .and_then(|r| r.strip_suffix("#present"))
            else {
                continue;
            };
            let Some((ty, key)) = base.split_once('.') else {
                continue;
            };
            let Some(ty) = AttrType::from_name(ty) else {
                return Err(BlockError::corrupt(format!(
                    "column {name}: unknown attribute type"
                )));
            };
            if keep.is_some_and(|keep| !keep("span", key)) {
                continue;
            }
            names.push((key, ty, &name[..name.len() - "#present".len()]));
        }
        names.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let mut span_attrs = Vec::with_capacity(names.len());
        for (key, ty, base) in names {
            let present = g.bitmap(&format!("{base}#present"), s)?;
            let count = present.ones(s);
            let values_name = format!("{base}#values");
            let values = AttrValues::read(g, ty, &values_name, count)?;
            let mut trace_rank = Vec::with_capacity(t);
            let mut rank = 0u32;
            for tr in 0..t {
                trace_rank.push(rank);
                for row in first[tr]..first[tr + 1] {
                    if present.get(row) {
                        rank += 1;
                    }
                }
            }
            span_attrs.push(SpanAttrColumn {
                key: key.to_owned(),
                values_name,
                present,
                values,
                trace_rank,
            });
        }
        let (e, l) = (g.events, g.links);
        Ok(GroupColumns {
            ids: g.fixed("trace.id", t)?,
            starts: g.varints("trace.start", t)?,
            durations: g.varints("trace.duration", t)?,
            counts,
            first,
            span_id: g.fixed("span.id", s)?,
            parent_idx,
            ext_present,
            ext,
            ext_row,
            name: g.dict("span.name", s)?,
            kind: g.varints("span.kind", s)?,
            status_present: g.bitmap("span.status_present", s)?,
            status_code: g.varints("span.status_code", s)?,
            status_message: g.dict("span.status_message", s)?,
            start: g.varints("span.start", s)?,
            duration: g.varints("span.duration", s)?,
            trace_state: g.dict("span.trace_state", s)?,
            flags: g.varints("span.flags", s)?,
            dropped_attributes: g.varints("span.dropped_attributes", s)?,
            dropped_events: g.varints("span.dropped_events", s)?,
            dropped_links: g.varints("span.dropped_links", s)?,
            resource: g.varints("span.resource", s)?,
            scope: g.varints("span.scope", s)?,
            event_first,
            link_first,
            span_attrs,
            overflow: g.blobs("span.attr_overflow", s)?,
            keep_all: keep.is_none(),
            overflow_keep: Vec::new(),
            resources: g.resources(keep)?,
            scopes: g.scopes()?,
            event_time: g.varints("event.time", e)?,
            event_name: g.dict("event.name", e)?,
            event_dropped: g.varints("event.dropped_attributes", e)?,
            event_attrs: g.blobs("event.attributes", e)?,
            link_trace: g.fixed("link.trace_id", l)?,
            link_span: g.fixed("link.span_id", l)?,
            link_state: g.dict("link.trace_state", l)?,
            link_flags: g.varints("link.flags", l)?,
            link_dropped: g.varints("link.dropped_attributes", l)?,
            link_attrs: g.blobs("link.attributes", l)?,
        }
        .with_overflow_keys(keep))
    }

    /// Records which overflow attributes to keep: those whose key has a column kept.
    fn with_overflow_keys(mut self, keep: KeepKey<'_>) -> GroupColumns {
        if keep.is_some() {
            self.overflow_keep = self.span_attrs.iter().map(|c| c.key.clone()).collect();
        }
        self
    }

    /// Number of traces.
    pub(crate) fn traces(&self) -> usize {
        self.counts.len()
    }

    /// Start of trace `t`, unix nanoseconds.
    pub(crate) fn trace_start(&self, t: usize) -> u64 {
        self.starts.get(t).copied().unwrap_or(0)
    }

    /// End of trace `t`, unix nanoseconds.
    pub(crate) fn trace_end(&self, t: usize) -> u64 {
        self.trace_start(t)
            .saturating_add(self.durations.get(t).copied().unwrap_or(0))
    }

    /// Number of spans of trace `t`.
    pub(crate) fn trace_spans(&self, t: usize) -> usize {
        match (self.first.get(t), self.first.get(t + 1)) {
            (Some(a), Some(b)) => b.saturating_sub(*a),
            _ => 0,
        }
    }

    /// Materializes trace `t`.
    pub(crate) fn trace(&self, t: usize) -> Result<BlockTrace, BlockError> {
        let id = self
            .ids
            .get(t)
            .and_then(TraceId::from_slice)
            .ok_or_else(|| BlockError::corrupt("trace ID missing"))?;
        let (first, end) = (self.first[t], self.first[t + 1]);
        let n = end - first;
        let trace_start = self.starts[t];
        let mut ranks: Vec<usize> = self
            .span_attrs
            .iter()
            .map(|c| c.trace_rank[t] as usize)
            .collect();
        let mut spans = Vec::with_capacity(n);
        for row in first..end {
            let span_start = trace_start.wrapping_add(self.start[row]);
            let parent_span_id = match self.parent_idx[row] {
                0 if self.ext_present.get(row) => self
                    .ext
                    .get(self.ext_row[row] as usize)
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default(),
                0 => Vec::new(),
                p if p <= n as u64 => self
                    .span_id
                    .get(first + p as usize - 1)
                    .map(<[u8]>::to_vec)
                    .ok_or_else(|| BlockError::corrupt("span parent outside its trace"))?,
                _ => return Err(BlockError::corrupt("span parent outside its trace")),
            };
            let mut attributes = Vec::new();
            for (c, r) in self.span_attrs.iter().zip(ranks.iter_mut()) {
                if c.present.get(row) {
                    attributes.push(KeyValue {
                        key: c.key.clone(),
                        value: c.values.get(*r, &c.values_name)?,
                    });
                    *r += 1;
                }
            }
            let blob = self.overflow.get(row);
            if !blob.is_empty() {
                let list = KeyValueList::decode(blob)
                    .map_err(|e| BlockError::corrupt(format!("column span.attr_overflow: {e}")))?;
                attributes.extend(
                    list.values
                        .into_iter()
                        .filter(|kv| self.keep_all || self.overflow_keep.contains(&kv.key)),
                );
            }
            let mut events = Vec::new();
            for er in self.event_first[row]..self.event_first[row + 1] {
                events.push(Event {
                    time_unix_nano: span_start.wrapping_add(unzigzag(self.event_time[er]) as u64),
                    name: self.event_name.get(er).unwrap_or("").to_owned(),
                    attributes: decode_attr_blob(self.event_attrs.get(er), "event.attributes")?,
                    dropped_attributes_count: self.event_dropped[er] as u32,
                });
            }
            let mut links = Vec::new();
            for lr in self.link_first[row]..self.link_first[row + 1] {
                links.push(Link {
                    trace_id: self
                        .link_trace
                        .get(lr)
                        .map(<[u8]>::to_vec)
                        .unwrap_or_default(),
                    span_id: self
                        .link_span
                        .get(lr)
                        .map(<[u8]>::to_vec)
                        .unwrap_or_default(),
                    trace_state: self.link_state.get(lr).unwrap_or("").to_owned(),
                    attributes: decode_attr_blob(self.link_attrs.get(lr), "link.attributes")?,
                    dropped_attributes_count: self.link_dropped[lr] as u32,
                    flags: self.link_flags[lr] as u32,
                });
            }
            let resource = self
                .resources
                .get(self.resource[row] as usize)
                .cloned()
                .ok_or_else(|| BlockError::corrupt("span refers to a missing resource"))?;
            let scope = self
                .scopes
                .get(self.scope[row] as usize)
                .cloned()
                .ok_or_else(|| BlockError::corrupt("span refers to a missing scope"))?;
            spans.push(StoredSpan {
                resource,
                scope,
                span: Span {
                    trace_id: id.0.to_vec(),
                    span_id: self
                        .span_id
                        .get(row)
                        .map(<[u8]>::to_vec)
                        .unwrap_or_default(),
                    trace_state: self.trace_state.get(row).unwrap_or("").to_owned(),
                    parent_span_id,
                    name: self.name.get(row).unwrap_or("").to_owned(),
                    kind: unzigzag(self.kind[row]) as i32,
                    start_time_unix_nano: span_start,
                    end_time_unix_nano: span_start
                        .wrapping_add(unzigzag(self.duration[row]) as u64),
                    attributes,
                    dropped_attributes_count: self.dropped_attributes[row] as u32,
                    events,
                    dropped_events_count: self.dropped_events[row] as u32,
                    links,
                    dropped_links_count: self.dropped_links[row] as u32,
                    status: self.status_present.get(row).then(|| Status {
                        message: self.status_message.get(row).unwrap_or("").to_owned(),
                        code: unzigzag(self.status_code[row]) as i32,
                    }),
                    flags: self.flags[row] as u32,
                },
            });
        }
        Ok((id, spans))
    }
}

/// Parses a row group (footer, then every trace) from arbitrary bytes, for fuzzing: any input
/// is an error or a result, never a panic.
#[doc(hidden)]
pub fn fuzz_decode_row_group(data: &[u8]) -> usize {
    if data.len() < 8 {
        return 0;
    }
    // The last 8 bytes say where the footer starts, as an index entry would.
    let (body, tail) = data.split_at(data.len() - 8);
    let mut a = [0u8; 8];
    a.copy_from_slice(tail);
    let entry = IndexEntry {
        min_id: TraceId::default(),
        max_id: TraceId([0xff; 16]),
        offset: 0,
        len: body.len() as u64,
        footer_offset: u64::from_le_bytes(a) % (body.len() as u64 + 1),
        footer_len: 0,
        traces: 0,
        spans: 0,
        start: 0,
        end: 0,
    };
    match RowGroupData::parse(Bytes::copy_from_slice(body), &entry) {
        Ok(group) => group.all().map_or(0, |t| t.len()),
        Err(_) => 0,
    }
}

/// The decoded values of one attribute column.
enum AttrValues {
    Str(DictValues),
    Int(Vec<u64>),
    Float(Vec<f64>),
    Bool(Bitmap),
    Other(Blobs),
}

impl AttrValues {
    fn read(
        group: &RowGroupData,
        t: AttrType,
        name: &str,
        count: usize,
    ) -> Result<AttrValues, BlockError> {
        Ok(match t {
            AttrType::Str => AttrValues::Str(group.dict(name, count)?),
            AttrType::Int => AttrValues::Int(group.varints(name, count)?),
            AttrType::Float => {
                let c = group.chunk(name, count)?;
                RowGroupData::expect(&c, Encoding::F64, name)?;
                AttrValues::Float(decode_f64(&c.payload, count, name)?)
            }
            AttrType::Bool => AttrValues::Bool(group.bitmap(name, count)?),
            AttrType::Other => AttrValues::Other(group.blobs(name, count)?),
        })
    }

    /// Value `i`.
    fn get(&self, i: usize, name: &str) -> Result<Option<AnyValue>, BlockError> {
        let missing =
            || BlockError::corrupt(format!("column {name}: fewer values than present rows"));
        let value = match self {
            AttrValues::Str(d) => Value::StringValue(d.get(i).ok_or_else(missing)?.to_owned()),
            AttrValues::Int(v) => Value::IntValue(unzigzag(*v.get(i).ok_or_else(missing)?)),
            AttrValues::Float(v) => Value::DoubleValue(*v.get(i).ok_or_else(missing)?),
            AttrValues::Bool(b) => Value::BoolValue(b.get(i)),
            AttrValues::Other(b) => {
                return match b.get(i).split_first() {
                    Some((1, rest)) => AnyValue::decode(rest)
                        .map(Some)
                        .map_err(|e| BlockError::corrupt(format!("column {name}: {e}"))),
                    _ => Ok(None),
                };
            }
        };
        Ok(Some(AnyValue { value: Some(value) }))
    }
}

fn decode_attr_blob(blob: &[u8], what: &str) -> Result<Vec<KeyValue>, BlockError> {
    if blob.is_empty() {
        return Ok(Vec::new());
    }
    KeyValueList::decode(blob)
        .map(|l| l.values)
        .map_err(|e| BlockError::corrupt(format!("column {what}: {e}")))
}
