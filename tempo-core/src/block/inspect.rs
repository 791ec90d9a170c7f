//! What is in a block: meta, row groups, columns with their sizes and encodings, bloom stats.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::encoding::{CHUNK_HEADER, Encoding, read_chunk};
use super::reader::BlockReader;
use super::{BlockError, BlockMeta};
use crate::backend::Backend;
use crate::bloom::BloomShard;

/// One column chunk of a row group.
#[derive(Debug, Clone)]
pub struct ColumnReport {
    /// Column name, such as `span.name` or `span.attr.str.http.route#values`.
    pub name: String,
    /// Encoding name.
    pub encoding: &'static str,
    /// Values in the chunk.
    pub rows: usize,
    /// Bytes before compression.
    pub raw_bytes: usize,
    /// Bytes on disk, with header and checksum.
    pub stored_bytes: usize,
    /// Whether the chunk is zstd-compressed.
    pub compressed: bool,
    /// Minimum value (integer columns).
    pub min: i64,
    /// Maximum value (integer columns; ones for bitmaps).
    pub max: i64,
}

/// One row group.
#[derive(Debug, Clone)]
pub struct RowGroupReport {
    /// Traces in it.
    pub traces: u32,
    /// Spans in it.
    pub spans: u32,
    /// Bytes, footer included.
    pub bytes: u64,
    /// Its columns.
    pub columns: Vec<ColumnReport>,
}

/// The bloom filter of a block.
#[derive(Debug, Clone, Default)]
pub struct BloomReport {
    /// Shards.
    pub shards: u32,
    /// Bytes of all shards.
    pub bytes: u64,
    /// Hash functions per ID.
    pub k: u32,
    /// Bits per shard.
    pub bits_per_shard: u64,
    /// IDs inserted, all shards.
    pub items: u64,
}

/// Everything [`inspect_block`] found.
#[derive(Debug, Clone)]
pub struct BlockReport {
    /// `meta.json`.
    pub meta: BlockMeta,
    /// Row groups, in order.
    pub row_groups: Vec<RowGroupReport>,
    /// The bloom filter.
    pub bloom: BloomReport,
}

impl BlockReport {
    /// Stored bytes per column family (`trace`, `span.id`, `span.attr`, `resource`, ...),
    /// largest first.
    pub fn families(&self) -> Vec<(String, u64)> {
        let mut families: BTreeMap<String, u64> = BTreeMap::new();
        for g in &self.row_groups {
            for c in &g.columns {
                *families.entry(family(&c.name)).or_default() += c.stored_bytes as u64;
            }
            let columns: u64 = g.columns.iter().map(|c| c.stored_bytes as u64).sum();
            *families.entry("footer".into()).or_default() += g.bytes.saturating_sub(columns);
        }
        *families.entry("index".into()).or_default() += self.meta.index_bytes;
        *families.entry("bloom".into()).or_default() += self.meta.bloom_bytes;
        let mut out: Vec<_> = families.into_iter().collect();
        out.sort_by_key(|f| std::cmp::Reverse(f.1));
        out
    }
}

/// The family of a column: its table, and for spans the field (`span.id`, `span.attr`...).
fn family(name: &str) -> String {
    let base = name.split('#').next().unwrap_or(name);
    let mut parts = base.splitn(3, '.');
    let table = parts.next().unwrap_or("");
    let field = parts.next().unwrap_or("");
    match table {
        "span" => match field {
            "id" | "parent_idx" | "parent_ext" => "span.ids".into(),
            "nested_left" | "nested_right" | "nested_parent" => "span.nested_set".into(),
            "start" | "duration" => "span.times".into(),
            "attr" | "attr_overflow" => "span.attributes".into(),
            _ => "span.other".into(),
        },
        "resource" | "scope" | "event" | "link" | "trace" => table.to_owned(),
        other => other.to_owned(),
    }
}

fn encoding_name(e: Encoding) -> &'static str {
    match e {
        Encoding::Varint => "varint",
        Encoding::Fixed => "fixed",
        Encoding::Dict => "dictionary",
        Encoding::Bitmap => "bitmap",
        Encoding::F64 => "f64",
        Encoding::Blob => "blob",
        Encoding::Empty => "empty",
    }
}

/// Reads every part of a block and describes it. Reports the first corruption it meets.
pub fn inspect_block(
    backend: Arc<dyn Backend>,
    tenant: &str,
    block_id: &str,
) -> Result<BlockReport, BlockError> {
    let reader = BlockReader::open(backend.clone(), tenant, block_id)?;
    if let Some(damage) = reader.repaired() {
        return Err(BlockError::Corrupt {
            block: Some(reader.name().to_owned()),
            message: format!(
                "{damage} (the data file is intact: a server rebuilds the index when it opens \
                 the block)"
            ),
        });
    }
    let mut row_groups = Vec::with_capacity(reader.index.len());
    for (i, entry) in reader.index.iter().enumerate() {
        let group = reader.row_group(i)?;
        let mut columns = Vec::new();
        for (name, bytes) in group.chunks() {
            let chunk = read_chunk(&bytes, &name).map_err(|e| e.in_block(reader.name()))?;
            columns.push(ColumnReport {
                encoding: encoding_name(chunk.encoding),
                rows: chunk.rows,
                raw_bytes: chunk.payload.len(),
                stored_bytes: bytes.len(),
                compressed: bytes.len() < chunk.payload.len() + CHUNK_HEADER + 4,
                min: chunk.min,
                max: chunk.max,
                name,
            });
        }
        columns.sort_by(|a, b| a.name.cmp(&b.name));
        row_groups.push(RowGroupReport {
            traces: entry.traces,
            spans: entry.spans,
            bytes: entry.len,
            columns,
        });
    }
    let mut bloom = BloomReport {
        shards: reader.meta.bloom_shards,
        bytes: reader.meta.bloom_bytes,
        ..BloomReport::default()
    };
    for shard in 0..reader.meta.bloom_shards {
        let bytes = backend.read(&format!("{}/bloom-{shard}", reader.name()))?;
        let decoded = BloomShard::decode(bytes).map_err(|e| BlockError::Corrupt {
            block: Some(reader.name().to_owned()),
            message: format!("bloom-{shard}: {e}"),
        })?;
        bloom.k = decoded.k();
        bloom.bits_per_shard = decoded.bits();
        bloom.items += decoded.items();
    }
    Ok(BlockReport {
        meta: reader.meta.clone(),
        row_groups,
        bloom,
    })
}

impl fmt::Display for BlockReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.meta;
        let spans = m.spans.max(1) as f64;
        writeln!(f, "block      {}/{}", m.tenant, m.block_id)?;
        writeln!(
            f,
            "format     version {}, compaction level {}",
            m.version, m.compaction_level
        )?;
        writeln!(
            f,
            "time       {} .. {} (unix ns)",
            m.start_time_unix_nano, m.end_time_unix_nano
        )?;
        writeln!(f, "traces     {}", m.traces)?;
        writeln!(f, "spans      {}", m.spans)?;
        writeln!(
            f,
            "bytes      {} (data {}, index {}, bloom {}), {:.1} per span",
            m.total_bytes(),
            m.data_bytes,
            m.index_bytes,
            m.bloom_bytes,
            m.total_bytes() as f64 / spans
        )?;
        writeln!(
            f,
            "bloom      {} shards, k={}, {} bits per shard, {} IDs",
            self.bloom.shards, self.bloom.k, self.bloom.bits_per_shard, self.bloom.items
        )?;
        writeln!(f, "\ncolumn families (bytes, per span):")?;
        for (family, bytes) in self.families() {
            writeln!(
                f,
                "  {family:<18} {bytes:>12} {:>8.2}",
                bytes as f64 / spans
            )?;
        }
        for (i, g) in self.row_groups.iter().enumerate() {
            writeln!(
                f,
                "\nrow group {i}: {} traces, {} spans, {} bytes",
                g.traces, g.spans, g.bytes
            )?;
            writeln!(
                f,
                "  {:<48} {:<10} {:>8} {:>10} {:>10} {:>6}",
                "column", "encoding", "rows", "raw", "stored", "zstd"
            )?;
            for c in &g.columns {
                writeln!(
                    f,
                    "  {:<48} {:<10} {:>8} {:>10} {:>10} {:>6}",
                    c.name,
                    c.encoding,
                    c.rows,
                    c.raw_bytes,
                    c.stored_bytes,
                    if c.compressed { "yes" } else { "no" }
                )?;
            }
        }
        Ok(())
    }
}

/// What state a block directory is in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockState {
    /// Readable: what its `meta.json` says.
    Live(BlockMeta),
    /// Set aside because it is corrupt: no longer read nor compacted, kept for inspection.
    SetAside {
        /// Its `meta.json`, if that reads.
        meta: Option<BlockMeta>,
        /// Why it was set aside.
        reason: String,
        /// When, unix seconds.
        at_unix_seconds: u64,
    },
    /// Replaced by compaction, deleted once its grace period is over.
    Compacted {
        /// Its `meta.json`, if that reads.
        meta: Option<BlockMeta>,
        /// When it was replaced, unix seconds.
        at_unix_seconds: u64,
    },
    /// No `meta.json`: its writing was interrupted, and it does not exist.
    Incomplete,
    /// `meta.json` does not read.
    Unreadable(String),
}

/// One block directory under a backend's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockListing {
    /// Its tenant.
    pub tenant: String,
    /// Its ID.
    pub block_id: String,
    /// What state it is in.
    pub state: BlockState,
}

/// Every block directory of every tenant under a backend's root, by tenant and block ID,
/// with its state; nothing is written. Names that are not tenant IDs, or not block IDs under
/// a tenant, are not blocks and are left out.
pub fn list_blocks(backend: &dyn Backend) -> Result<Vec<BlockListing>, BlockError> {
    let mut out = Vec::new();
    for tenant in backend.list("")? {
        if crate::validate_tenant(&tenant).is_err() {
            continue;
        }
        for block_id in backend.list(&tenant)? {
            if !super::is_block_id(&block_id) {
                continue;
            }
            let state = block_state(backend, &tenant, &block_id)?;
            out.push(BlockListing {
                tenant: tenant.clone(),
                block_id,
                state,
            });
        }
    }
    Ok(out)
}

/// The state of one block directory.
pub(crate) fn block_state(
    backend: &dyn Backend,
    tenant: &str,
    block_id: &str,
) -> Result<BlockState, BlockError> {
    let prefix = super::block_key(tenant, block_id);
    let files = backend.list(&prefix)?;
    let has = |name: &str| files.iter().any(|f| f == name);
    if !has("meta.json") {
        return Ok(BlockState::Incomplete);
    }
    let meta = match backend.read(&format!("{prefix}/meta.json")) {
        Ok(bytes) => BlockMeta::from_json(&bytes, &prefix).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let marker = |name: &str| -> Option<super::Marker> {
        has(name)
            .then(|| backend.read(&format!("{prefix}/{name}")).ok())
            .flatten()
            .map(|b| serde_json::from_slice(&b).unwrap_or_default())
    };
    if let Some(m) = marker(super::CORRUPT_MARKER) {
        return Ok(BlockState::SetAside {
            meta: meta.ok(),
            reason: m.reason,
            at_unix_seconds: m.at_unix_seconds,
        });
    }
    if let Some(m) = marker(super::COMPACTED_MARKER) {
        return Ok(BlockState::Compacted {
            meta: meta.ok(),
            at_unix_seconds: m.at_unix_seconds,
        });
    }
    Ok(match meta {
        Ok(meta) => BlockState::Live(meta),
        Err(e) => BlockState::Unreadable(e),
    })
}
