//! block: is old data as fast to find as new?
//!
//! A block is an immutable, self-describing set of whole traces under `<tenant>/<block-id>/`:
//! `data` (row groups of columns, traces sorted by ID), `index` (trace-ID range of each row
//! group), `bloom-N` (sharded bloom filters over trace IDs) and `meta.json`, written last: a
//! block without it does not exist. Byte layouts are in `FORMAT.md`.

pub(crate) mod cache;
pub(crate) mod columns;
pub(crate) mod encoding;
pub(crate) mod footer;
pub(crate) mod inspect;
pub(crate) mod reader;
pub(crate) mod source;
pub(crate) mod writer;

use crate::backend::BackendError;
use crate::model::TraceId;

/// The block format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Magic at the start of the `data` file.
pub(crate) const DATA_MAGIC: [u8; 8] = *b"TEMPOBLK";
/// Magic at the start of the `index` file.
pub(crate) const INDEX_MAGIC: [u8; 8] = *b"TEMPOIDX";
/// Magic at the start of a row group footer.
pub(crate) const ROW_GROUP_MAGIC: [u8; 4] = *b"TRG1";
/// Bytes of one index entry.
pub(crate) const INDEX_ENTRY_LEN: usize = 16 + 16 + 8 + 8 + 8 + 4 + 4 + 4 + 8 + 8;

/// A block that cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlockError {
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A file of the block is truncated or corrupt.
    #[error("corrupt block{}: {message}", block.as_ref().map(|b| format!(" {b}")).unwrap_or_default())]
    Corrupt {
        /// `<tenant>/<block-id>`, when known.
        block: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// The block was written by a format version this build does not read.
    #[error(
        "block {block}: unsupported format version {version} (this build reads {FORMAT_VERSION})"
    )]
    UnsupportedVersion {
        /// `<tenant>/<block-id>`.
        block: String,
        /// The version found.
        version: u32,
    },
    /// Writing a block failed.
    #[error("writing a block: {0}")]
    Write(String),
}

impl BlockError {
    /// Whether a file of the block does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, BlockError::Backend(e) if e.is_not_found())
    }

    /// Whether the block's files are damaged (corrupt, or shorter than they say), as opposed
    /// to a backend failure that may pass.
    pub fn is_corrupt(&self) -> bool {
        matches!(
            self,
            BlockError::Corrupt { .. } | BlockError::Backend(BackendError::OutOfRange { .. })
        )
    }

    pub(crate) fn corrupt(message: impl Into<String>) -> BlockError {
        BlockError::Corrupt {
            block: None,
            message: message.into(),
        }
    }

    /// The same error, naming the block.
    pub(crate) fn in_block(self, block: &str) -> BlockError {
        match self {
            BlockError::Corrupt {
                block: None,
                message,
            } => BlockError::Corrupt {
                block: Some(block.to_owned()),
                message,
            },
            other => other,
        }
    }
}

/// The key prefix of a block.
pub(crate) fn block_key(tenant: &str, block_id: &str) -> String {
    format!("{tenant}/{block_id}")
}

/// A new block ID: a random (version 4) UUID, from the clock, the process and a counter.
pub(crate) fn new_block_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut seed = Vec::with_capacity(40);
    seed.extend_from_slice(&nanos.to_le_bytes());
    seed.extend_from_slice(&std::process::id().to_le_bytes());
    seed.extend_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let mut b = xxhash_rust::xxh3::xxh3_128(&seed).to_le_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Where a row group is and what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub(crate) min_id: TraceId,
    pub(crate) max_id: TraceId,
    pub(crate) offset: u64,
    pub(crate) len: u64,
    pub(crate) footer_offset: u64,
    pub(crate) footer_len: u32,
    pub(crate) traces: u32,
    pub(crate) spans: u32,
    pub(crate) start: u64,
    pub(crate) end: u64,
}

impl IndexEntry {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.min_id.0);
        out.extend_from_slice(&self.max_id.0);
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.footer_offset.to_le_bytes());
        out.extend_from_slice(&self.footer_len.to_le_bytes());
        out.extend_from_slice(&self.traces.to_le_bytes());
        out.extend_from_slice(&self.spans.to_le_bytes());
        out.extend_from_slice(&self.start.to_le_bytes());
        out.extend_from_slice(&self.end.to_le_bytes());
    }

    pub(crate) fn decode(b: &[u8]) -> Option<IndexEntry> {
        if b.len() != INDEX_ENTRY_LEN {
            return None;
        }
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(a)
        };
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Some(IndexEntry {
            min_id: TraceId::from_slice(&b[..16])?,
            max_id: TraceId::from_slice(&b[16..32])?,
            offset: u64_at(32),
            len: u64_at(40),
            footer_offset: u64_at(48),
            footer_len: u32_at(56),
            traces: u32_at(60),
            spans: u32_at(64),
            start: u64_at(68),
            end: u64_at(76),
        })
    }
}

/// The `index` file of a block: magic, version, count, the entries, and a CRC-32C.
pub(crate) fn encode_index(entries: &[IndexEntry]) -> Vec<u8> {
    let mut index = Vec::with_capacity(16 + entries.len() * INDEX_ENTRY_LEN + 4);
    index.extend_from_slice(&INDEX_MAGIC);
    index.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    index.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for e in entries {
        e.encode(&mut index);
    }
    let crc = crc32c::crc32c(&index);
    index.extend_from_slice(&crc.to_le_bytes());
    index
}

/// The marker of a block set aside because it is corrupt: `<tenant>/<block-id>/corrupt.json`,
/// holding the reason. Such a block is no longer read nor compacted, and is kept for
/// inspection.
pub(crate) const CORRUPT_MARKER: &str = "corrupt.json";

/// The marker of a block replaced by compaction: `<tenant>/<block-id>/compacted.json`, holding
/// when. Readers skip it; it is deleted after a grace period, so queries in flight never lose
/// it.
pub(crate) const COMPACTED_MARKER: &str = "compacted.json";

/// What a marker file (`corrupt.json`, `compacted.json`) holds.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Marker {
    /// Why the block was marked.
    pub(crate) reason: String,
    /// When, unix seconds.
    pub(crate) at_unix_seconds: u64,
}

impl Marker {
    /// A marker made now.
    pub(crate) fn now(reason: &str) -> Marker {
        Marker {
            reason: reason.to_owned(),
            at_unix_seconds: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }

    /// Its JSON.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

/// Whether a name under a tenant is a block ID (a UUID): anything else there is not a block.
pub(crate) fn is_block_id(name: &str) -> bool {
    name.len() == 36
        && name.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// What `meta.json` says of a block.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    /// Format version of the block's files.
    pub version: u32,
    /// The block's ID, a UUID.
    pub block_id: String,
    /// The tenant whose traces it holds.
    pub tenant: String,
    /// Earliest span start, unix nanoseconds.
    pub start_time_unix_nano: u64,
    /// Latest span end, unix nanoseconds.
    pub end_time_unix_nano: u64,
    /// Number of traces.
    pub traces: u64,
    /// Number of spans.
    pub spans: u64,
    /// Number of row groups.
    pub row_groups: u32,
    /// Size of `data`.
    pub data_bytes: u64,
    /// Size of `index`.
    pub index_bytes: u64,
    /// Size of all bloom shards.
    pub bloom_bytes: u64,
    /// Number of bloom shards (`bloom-0` ...).
    pub bloom_shards: u32,
    /// 0 for a block cut from the head; one more than its inputs' for a compacted block.
    pub compaction_level: u32,
    /// When the block was written, unix seconds.
    pub created_at_unix_seconds: u64,
    /// Smallest trace ID, hex.
    pub min_trace_id: String,
    /// Largest trace ID, hex.
    pub max_trace_id: String,
}

impl BlockMeta {
    /// Bytes of all the block's files.
    pub fn total_bytes(&self) -> u64 {
        self.data_bytes + self.index_bytes + self.bloom_bytes
    }

    pub(crate) fn to_json(&self) -> Result<Vec<u8>, BlockError> {
        serde_json::to_vec_pretty(self).map_err(|e| BlockError::Write(format!("meta.json: {e}")))
    }

    pub(crate) fn from_json(bytes: &[u8], block: &str) -> Result<BlockMeta, BlockError> {
        let meta: BlockMeta = serde_json::from_slice(bytes).map_err(|e| BlockError::Corrupt {
            block: Some(block.to_owned()),
            message: format!("meta.json: {e}"),
        })?;
        if meta.version != FORMAT_VERSION {
            return Err(BlockError::UnsupportedVersion {
                block: block.to_owned(),
                version: meta.version,
            });
        }
        Ok(meta)
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests;
