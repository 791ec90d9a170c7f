//! footer: what does a row group hold, and where is each column chunk?
//!
//! The footer closes every row group: its magic, seven counts (traces, spans, resources,
//! scopes, events, links, columns), the column directory (name, offset, length) and a CRC.
//! Parsed once per row group, it is what the block cache keeps.

use std::collections::HashMap;

use super::encoding::Cursor;
use super::{BlockError, IndexEntry, ROW_GROUP_MAGIC};

impl Footer {
    /// Parses the footer of a row group read whole.
    pub(crate) fn parse(bytes: &[u8], entry: &IndexEntry) -> Result<Footer, BlockError> {
        let footer_at = entry
            .footer_offset
            .checked_sub(entry.offset)
            .map(|n| n as usize)
            .filter(|&n| n + 4 <= bytes.len())
            .ok_or_else(|| BlockError::corrupt("row group footer outside the row group"))?;
        let footer = &bytes[footer_at..];
        if footer.len() < 4 + 24 + 4 + 4 || footer[..4] != ROW_GROUP_MAGIC {
            return Err(BlockError::corrupt(
                "row group footer: bad magic or truncated",
            ));
        }
        let body_end = footer.len() - 4;
        let crc = u32::from_le_bytes([
            footer[body_end],
            footer[body_end + 1],
            footer[body_end + 2],
            footer[body_end + 3],
        ]);
        if crc32c::crc32c(&footer[..body_end]) != crc {
            return Err(BlockError::corrupt("row group footer: checksum mismatch"));
        }
        let mut c = Cursor::new(&footer[4..body_end], "footer");
        let mut u32s = [0usize; 7];
        for n in &mut u32s {
            let b = c.bytes(4)?;
            *n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        }
        let [traces, spans, resources, scopes, events, links, columns] = u32s;
        let mut directory = HashMap::with_capacity(columns.min(4096));
        for _ in 0..columns {
            let b = c.bytes(2)?;
            let name_len = u16::from_le_bytes([b[0], b[1]]) as usize;
            let name = std::str::from_utf8(c.bytes(name_len)?)
                .map_err(|_| BlockError::corrupt("row group footer: column name is not UTF-8"))?
                .to_owned();
            let b = c.bytes(8)?;
            let offset = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
            let len = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
            if offset.checked_add(len).is_none_or(|end| end > footer_at) {
                return Err(BlockError::corrupt(format!(
                    "column {name} lies outside its row group"
                )));
            }
            directory.insert(name, (offset, len));
        }
        Ok(Footer {
            directory,
            traces,
            spans,
            resources,
            scopes,
            events,
            links,
        })
    }
}

/// A row group's footer: its counts and where each chunk is.
#[derive(Debug)]
pub(crate) struct Footer {
    pub(super) directory: HashMap<String, (usize, usize)>,
    pub(crate) traces: usize,
    pub(crate) spans: usize,
    pub(super) resources: usize,
    pub(super) scopes: usize,
    pub(super) events: usize,
    pub(super) links: usize,
}

impl Footer {
    /// About the bytes it holds in memory.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.directory.keys().map(|k| k.len() + 48).sum::<usize>() + 64
    }
}
