//! Column chunk encodings: varints, dictionaries, bitmaps, fixed-width values, and the chunk
//! framing (zstd, checksum, min/max statistics). Byte layouts are in `FORMAT.md`.

use bytes::Bytes;

use super::BlockError;

/// Magic at the start of every column chunk.
pub(crate) const CHUNK_MAGIC: [u8; 2] = *b"TC";
/// Length of a chunk header.
pub(crate) const CHUNK_HEADER: usize = 36;
/// zstd level for column chunks.
const ZSTD_LEVEL: i32 = 3;
/// Chunks smaller than this are stored uncompressed.
const MIN_COMPRESS: usize = 64;

/// How a chunk's values are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Encoding {
    /// Unsigned LEB128 varints.
    Varint = 1,
    /// Fixed-width byte strings (IDs).
    Fixed = 2,
    /// A dictionary of strings, then a varint code per value.
    Dict = 3,
    /// One bit per value, least significant bit first.
    Bitmap = 4,
    /// 8-byte little-endian IEEE 754 doubles.
    F64 = 5,
    /// Length-prefixed byte strings (varint length, then the bytes).
    Blob = 6,
    /// Not stored: a column of no rows, which is not written.
    Empty = 0,
}

impl Encoding {
    fn from_u8(b: u8) -> Option<Encoding> {
        Some(match b {
            1 => Encoding::Varint,
            2 => Encoding::Fixed,
            3 => Encoding::Dict,
            4 => Encoding::Bitmap,
            5 => Encoding::F64,
            6 => Encoding::Blob,
            _ => return None,
        })
    }
}

/// Appends `v` as an unsigned LEB128 varint.
#[inline]
pub(crate) fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Maps signed to unsigned so small magnitudes stay small.
#[inline]
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline]
pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Reads values out of a decoded chunk payload, never past its end.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'a str,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'a str) -> Cursor<'a> {
        Cursor { buf, pos: 0, what }
    }

    fn truncated(&self) -> BlockError {
        BlockError::corrupt(format!(
            "column {} ends early at byte {}",
            self.what, self.pos
        ))
    }

    #[inline]
    pub(crate) fn varint(&mut self) -> Result<u64, BlockError> {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.truncated());
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(BlockError::corrupt(format!(
                    "column {}: varint overflows",
                    self.what
                )));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err(BlockError::corrupt(format!(
                    "column {}: varint too long",
                    self.what
                )));
            }
        }
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], BlockError> {
        let end = self.pos.checked_add(n).ok_or_else(|| self.truncated())?;
        let slice = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| self.truncated())?;
        self.pos = end;
        Ok(slice)
    }

    pub(crate) fn usize(&mut self) -> Result<usize, BlockError> {
        let v = self.varint()?;
        usize::try_from(v)
            .map_err(|_| BlockError::corrupt(format!("column {}: {v} is too large", self.what)))
    }
}

/// An encoded column on its way into a chunk.
#[derive(Debug, Default)]
pub(crate) struct ColumnData {
    pub(crate) payload: Vec<u8>,
    pub(crate) rows: u32,
    pub(crate) min: i64,
    pub(crate) max: i64,
}

/// Builds a varint column of unsigned values.
#[derive(Debug, Default)]
pub(crate) struct VarintColumn {
    buf: Vec<u8>,
    rows: u32,
    min: u64,
    max: u64,
}

impl VarintColumn {
    #[inline]
    pub(crate) fn push(&mut self, v: u64) {
        if self.rows == 0 {
            self.min = v;
            self.max = v;
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        put_varint(&mut self.buf, v);
        self.rows += 1;
    }

    pub(crate) fn finish(self) -> (Encoding, ColumnData) {
        (
            Encoding::Varint,
            ColumnData {
                payload: self.buf,
                rows: self.rows,
                min: self.min.min(i64::MAX as u64) as i64,
                max: self.max.min(i64::MAX as u64) as i64,
            },
        )
    }
}

/// Decodes a varint column.
pub(crate) fn decode_varints(
    payload: &[u8],
    rows: usize,
    what: &str,
) -> Result<Vec<u64>, BlockError> {
    let mut c = Cursor::new(payload, what);
    let mut out = Vec::with_capacity(rows.min(payload.len()));
    for _ in 0..rows {
        out.push(c.varint()?);
    }
    Ok(out)
}

/// Builds a column of fixed-width byte strings.
#[derive(Debug)]
pub(crate) struct FixedColumn {
    width: usize,
    buf: Vec<u8>,
    rows: u32,
}

impl FixedColumn {
    pub(crate) fn new(width: usize) -> FixedColumn {
        FixedColumn {
            width,
            buf: Vec::new(),
            rows: 0,
        }
    }

    /// Appends `v`, zero-padded or cut to the width.
    #[inline]
    pub(crate) fn push(&mut self, v: &[u8]) {
        let n = v.len().min(self.width);
        self.buf.extend_from_slice(&v[..n]);
        self.buf.resize(self.buf.len() + self.width - n, 0);
        self.rows += 1;
    }

    pub(crate) fn finish(self) -> (Encoding, ColumnData) {
        let mut payload = Vec::with_capacity(self.buf.len() + 1);
        put_varint(&mut payload, self.width as u64);
        payload.extend_from_slice(&self.buf);
        (
            Encoding::Fixed,
            ColumnData {
                payload,
                rows: self.rows,
                min: 0,
                max: 0,
            },
        )
    }
}

/// A decoded fixed-width column: row `i` is `data[i*width..(i+1)*width]`.
#[derive(Debug, Clone)]
pub(crate) struct FixedValues {
    pub(crate) width: usize,
    pub(crate) data: Vec<u8>,
}

impl FixedValues {
    pub(crate) fn get(&self, i: usize) -> Option<&[u8]> {
        self.data.get(i * self.width..(i + 1) * self.width)
    }
}

pub(crate) fn decode_fixed(
    payload: &[u8],
    rows: usize,
    what: &str,
) -> Result<FixedValues, BlockError> {
    let mut c = Cursor::new(payload, what);
    let width = c.usize()?;
    if width > 64 {
        return Err(BlockError::corrupt(format!("column {what}: width {width}")));
    }
    let data = c.bytes(
        width
            .checked_mul(rows)
            .ok_or_else(|| BlockError::corrupt(format!("column {what}: size overflows")))?,
    )?;
    Ok(FixedValues {
        width,
        data: data.to_vec(),
    })
}

/// Builds a dictionary-encoded string column.
#[derive(Debug, Default)]
pub(crate) struct DictColumn {
    dict: std::collections::HashMap<String, u32, xxhash_rust::xxh3::Xxh3DefaultBuilder>,
    order: Vec<String>,
    codes: VarintColumn,
}

impl DictColumn {
    #[inline]
    pub(crate) fn push(&mut self, v: &str) {
        let code = match self.dict.get(v) {
            Some(&c) => c,
            None => {
                let c = self.order.len() as u32;
                self.dict.insert(v.to_owned(), c);
                self.order.push(v.to_owned());
                c
            }
        };
        self.codes.push(u64::from(code));
    }

    pub(crate) fn finish(self) -> (Encoding, ColumnData) {
        let mut payload = Vec::new();
        put_varint(&mut payload, self.order.len() as u64);
        for s in &self.order {
            put_varint(&mut payload, s.len() as u64);
            payload.extend_from_slice(s.as_bytes());
        }
        let (_, codes) = self.codes.finish();
        payload.extend_from_slice(&codes.payload);
        (
            Encoding::Dict,
            ColumnData {
                payload,
                rows: codes.rows,
                min: 0,
                max: 0,
            },
        )
    }
}

/// A decoded dictionary column.
#[derive(Debug, Clone)]
pub(crate) struct DictValues {
    pub(crate) dict: Vec<String>,
    pub(crate) codes: Vec<u32>,
}

impl DictValues {
    pub(crate) fn get(&self, i: usize) -> Option<&str> {
        self.codes
            .get(i)
            .and_then(|&c| self.dict.get(c as usize))
            .map(String::as_str)
    }
}

pub(crate) fn decode_dict(
    payload: &[u8],
    rows: usize,
    what: &str,
) -> Result<DictValues, BlockError> {
    let mut c = Cursor::new(payload, what);
    let n = c.usize()?;
    if n > payload.len() {
        return Err(BlockError::corrupt(format!(
            "column {what}: dictionary of {n} entries"
        )));
    }
    let mut dict = Vec::with_capacity(n);
    for _ in 0..n {
        let len = c.usize()?;
        let s = std::str::from_utf8(c.bytes(len)?)
            .map_err(|_| BlockError::corrupt(format!("column {what}: string is not UTF-8")))?;
        dict.push(s.to_owned());
    }
    let mut codes = Vec::with_capacity(rows.min(payload.len()));
    for _ in 0..rows {
        let code = c.varint()?;
        if code >= n as u64 {
            return Err(BlockError::corrupt(format!(
                "column {what}: code {code} outside a dictionary of {n}"
            )));
        }
        codes.push(code as u32);
    }
    Ok(DictValues { dict, codes })
}

/// Whether a dictionary chunk's dictionary holds `value`, without decoding its rows.
pub(crate) fn dict_has_entry(payload: &[u8], value: &str, what: &str) -> Result<bool, BlockError> {
    let mut c = Cursor::new(payload, what);
    let n = c.usize()?;
    if n > payload.len() {
        return Err(BlockError::corrupt(format!(
            "column {what}: dictionary of {n} entries"
        )));
    }
    for _ in 0..n {
        let len = c.usize()?;
        if c.bytes(len)? == value.as_bytes() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Builds a bitmap column.
#[derive(Debug, Default)]
pub(crate) struct BitmapColumn {
    words: Vec<u8>,
    rows: u32,
    ones: u32,
}

impl BitmapColumn {
    #[inline]
    pub(crate) fn push(&mut self, bit: bool) {
        let i = self.rows as usize;
        if i / 8 == self.words.len() {
            self.words.push(0);
        }
        if bit {
            self.words[i / 8] |= 1 << (i % 8);
            self.ones += 1;
        }
        self.rows += 1;
    }

    /// Pads with `false` up to `rows` values.
    pub(crate) fn pad_to(&mut self, rows: u32) {
        while self.rows < rows {
            self.push(false);
        }
    }

    pub(crate) fn finish(self) -> (Encoding, ColumnData) {
        (
            Encoding::Bitmap,
            ColumnData {
                payload: self.words,
                rows: self.rows,
                min: 0,
                max: i64::from(self.ones),
            },
        )
    }
}

/// A decoded bitmap.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bitmap {
    pub(crate) bytes: Vec<u8>,
}

impl Bitmap {
    #[inline]
    pub(crate) fn get(&self, i: usize) -> bool {
        self.bytes
            .get(i / 8)
            .is_some_and(|b| b & (1 << (i % 8)) != 0)
    }

    /// Ones among the first `n` bits.
    pub(crate) fn ones(&self, n: usize) -> usize {
        let full = (n / 8).min(self.bytes.len());
        let mut count: usize = self.bytes[..full]
            .iter()
            .map(|b| b.count_ones() as usize)
            .sum();
        if !n.is_multiple_of(8)
            && let Some(b) = self.bytes.get(n / 8)
        {
            count += (b & ((1u8 << (n % 8)) - 1)).count_ones() as usize;
        }
        count
    }
}

pub(crate) fn decode_bitmap(payload: &[u8], rows: usize, what: &str) -> Result<Bitmap, BlockError> {
    if payload.len() < rows.div_ceil(8) {
        return Err(BlockError::corrupt(format!(
            "column {what}: bitmap of {} bytes for {rows} rows",
            payload.len()
        )));
    }
    Ok(Bitmap {
        bytes: payload.to_vec(),
    })
}

/// Builds a column of doubles.
#[derive(Debug, Default)]
pub(crate) struct F64Column {
    buf: Vec<u8>,
    rows: u32,
}

impl F64Column {
    #[inline]
    pub(crate) fn push(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self.rows += 1;
    }

    pub(crate) fn finish(self) -> (Encoding, ColumnData) {
        (
            Encoding::F64,
            ColumnData {
                payload: self.buf,
                rows: self.rows,
                min: 0,
                max: 0,
            },
        )
    }
}

pub(crate) fn decode_f64(payload: &[u8], rows: usize, what: &str) -> Result<Vec<f64>, BlockError> {
    let mut c = Cursor::new(payload, what);
    let mut out = Vec::with_capacity(rows.min(payload.len() / 8));
    for _ in 0..rows {
        let b = c.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        out.push(f64::from_le_bytes(a));
    }
    Ok(out)
}

/// Builds a column of byte strings.
#[derive(Debug, Default)]
pub(crate) struct BlobColumn {
    buf: Vec<u8>,
    rows: u32,
}

impl BlobColumn {
    #[inline]
    pub(crate) fn push(&mut self, v: &[u8]) {
        put_varint(&mut self.buf, v.len() as u64);
        self.buf.extend_from_slice(v);
        self.rows += 1;
    }

    pub(crate) fn finish(self) -> (Encoding, ColumnData) {
        (
            Encoding::Blob,
            ColumnData {
                payload: self.buf,
                rows: self.rows,
                min: 0,
                max: 0,
            },
        )
    }
}

/// A decoded blob column: row `i` is `data[ranges[i]]`, without a copy per row.
#[derive(Debug, Clone)]
pub(crate) struct Blobs {
    data: Bytes,
    ranges: Vec<(u32, u32)>,
}

impl Blobs {
    pub(crate) fn get(&self, i: usize) -> &[u8] {
        self.ranges
            .get(i)
            .and_then(|&(s, e)| self.data.get(s as usize..e as usize))
            .unwrap_or(&[])
    }

    #[cfg(test)]
    pub(crate) fn to_vecs(&self) -> Vec<Vec<u8>> {
        (0..self.ranges.len())
            .map(|i| self.get(i).to_vec())
            .collect()
    }
}

pub(crate) fn decode_blobs(payload: &Bytes, rows: usize, what: &str) -> Result<Blobs, BlockError> {
    let mut c = Cursor::new(payload, what);
    let mut ranges = Vec::with_capacity(rows.min(payload.len()));
    for _ in 0..rows {
        let len = c.usize()?;
        let start = c.pos;
        c.bytes(len)?;
        ranges.push((start as u32, c.pos as u32));
    }
    Ok(Blobs {
        data: payload.clone(),
        ranges,
    })
}

thread_local! {
    /// zstd contexts are costly to create: one of each per thread, reused for every chunk.
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

fn compress(data: &[u8]) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = Some(zstd::bulk::Compressor::new(ZSTD_LEVEL)?);
        }
        match c.as_mut() {
            Some(c) => c.compress(data),
            None => zstd::bulk::compress(data, ZSTD_LEVEL),
        }
    })
}

fn decompress(data: &[u8], capacity: usize) -> std::io::Result<Vec<u8>> {
    DECOMPRESSOR.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            *d = Some(zstd::bulk::Decompressor::new()?);
        }
        match d.as_mut() {
            Some(d) => d.decompress(data, capacity),
            None => zstd::bulk::decompress(data, capacity),
        }
    })
}

/// Frames a column as a chunk: header, payload (zstd-compressed when that helps), checksum.
pub(crate) fn write_chunk(
    out: &mut Vec<u8>,
    encoding: Encoding,
    data: &ColumnData,
) -> Result<(), BlockError> {
    let compressed = if data.payload.len() >= MIN_COMPRESS {
        let c = compress(&data.payload).map_err(|e| BlockError::Write(format!("zstd: {e}")))?;
        (c.len() < data.payload.len()).then_some(c)
    } else {
        None
    };
    let (codec, stored): (u8, &[u8]) = match &compressed {
        Some(c) => (1, c),
        None => (0, &data.payload),
    };
    let start = out.len();
    out.extend_from_slice(&CHUNK_MAGIC);
    out.push(encoding as u8);
    out.push(codec);
    out.extend_from_slice(&data.rows.to_le_bytes());
    out.extend_from_slice(&(data.payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&(stored.len() as u32).to_le_bytes());
    out.extend_from_slice(&data.min.to_le_bytes());
    out.extend_from_slice(&data.max.to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    debug_assert_eq!(out.len() - start, CHUNK_HEADER);
    out.extend_from_slice(stored);
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// A chunk read back: its encoding, row count, statistics and decompressed payload.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    pub(crate) encoding: Encoding,
    pub(crate) rows: usize,
    pub(crate) min: i64,
    pub(crate) max: i64,
    pub(crate) payload: Bytes,
}

/// Most bytes a chunk may decompress to.
const MAX_RAW: usize = 1 << 30;

/// Validates and decompresses a chunk (`bytes` is exactly the chunk).
pub(crate) fn read_chunk(bytes: &Bytes, what: &str) -> Result<Chunk, BlockError> {
    let corrupt = |m: String| BlockError::corrupt(format!("column {what}: {m}"));
    if bytes.len() < CHUNK_HEADER + 4 {
        return Err(corrupt(format!(
            "chunk of {} bytes is shorter than its header",
            bytes.len()
        )));
    }
    let h = &bytes[..CHUNK_HEADER];
    if h[..2] != CHUNK_MAGIC {
        return Err(corrupt("bad chunk magic".into()));
    }
    let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let i64_at = |i: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&h[i..i + 8]);
        i64::from_le_bytes(a)
    };
    let encoding =
        Encoding::from_u8(h[2]).ok_or_else(|| corrupt(format!("unknown encoding {}", h[2])))?;
    let codec = h[3];
    let rows = u32_at(4) as usize;
    let raw_len = u32_at(8) as usize;
    let stored_len = u32_at(12) as usize;
    if CHUNK_HEADER + stored_len + 4 != bytes.len() {
        return Err(corrupt(format!(
            "chunk says {stored_len} stored bytes but has {}",
            bytes.len().saturating_sub(CHUNK_HEADER + 4)
        )));
    }
    let crc_at = CHUNK_HEADER + stored_len;
    let expected = u32::from_le_bytes([
        bytes[crc_at],
        bytes[crc_at + 1],
        bytes[crc_at + 2],
        bytes[crc_at + 3],
    ]);
    if crc32c::crc32c(&bytes[..crc_at]) != expected {
        return Err(corrupt("checksum mismatch".into()));
    }
    let stored = bytes.slice(CHUNK_HEADER..crc_at);
    let payload = match codec {
        0 => stored,
        1 => {
            if raw_len > MAX_RAW {
                return Err(corrupt(format!("decompressed size {raw_len} is too large")));
            }
            let raw = decompress(&stored, raw_len).map_err(|e| corrupt(format!("zstd: {e}")))?;
            if raw.len() != raw_len {
                return Err(corrupt(format!(
                    "decompressed to {} bytes, expected {raw_len}",
                    raw.len()
                )));
            }
            Bytes::from(raw)
        }
        other => return Err(corrupt(format!("unknown codec {other}"))),
    };
    Ok(Chunk {
        encoding,
        rows,
        min: i64_at(16),
        max: i64_at(24),
        payload,
    })
}

/// Decodes any chunk for fuzzing: never panics.
#[doc(hidden)]
pub fn fuzz_decode_chunk(data: &[u8]) -> bool {
    let bytes = Bytes::copy_from_slice(data);
    let Ok(chunk) = read_chunk(&bytes, "fuzz") else {
        return false;
    };
    let rows = chunk.rows.min(1 << 20);
    let p = &chunk.payload;
    match chunk.encoding {
        Encoding::Varint => decode_varints(p, rows, "fuzz").is_ok(),
        Encoding::Fixed => decode_fixed(p, rows, "fuzz").is_ok(),
        Encoding::Dict => decode_dict(p, rows, "fuzz").is_ok(),
        Encoding::Bitmap => decode_bitmap(p, rows, "fuzz").is_ok(),
        Encoding::F64 => decode_f64(p, rows, "fuzz").is_ok(),
        Encoding::Blob => decode_blobs(p, rows, "fuzz").is_ok(),
        Encoding::Empty => true,
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn round_trip(encoding: Encoding, data: ColumnData) -> Chunk {
        let mut out = Vec::new();
        write_chunk(&mut out, encoding, &data).unwrap();
        read_chunk(&Bytes::from(out), "test").unwrap()
    }

    proptest! {
        #[test]
        fn varints_round_trip(values in proptest::collection::vec(any::<u64>(), 0..300)) {
            let mut col = VarintColumn::default();
            for v in &values { col.push(*v); }
            let (enc, data) = col.finish();
            let chunk = round_trip(enc, data);
            prop_assert_eq!(decode_varints(&chunk.payload, chunk.rows, "t").unwrap(), values);
        }

        #[test]
        fn zigzag_round_trips(v in any::<i64>()) {
            prop_assert_eq!(unzigzag(zigzag(v)), v);
        }

        #[test]
        fn dict_round_trips(values in proptest::collection::vec("[a-c]{0,3}|\\PC{0,8}", 0..200)) {
            let mut col = DictColumn::default();
            for v in &values { col.push(v); }
            let (enc, data) = col.finish();
            let chunk = round_trip(enc, data);
            let d = decode_dict(&chunk.payload, chunk.rows, "t").unwrap();
            let back: Vec<String> = (0..values.len()).map(|i| d.get(i).unwrap().to_owned()).collect();
            prop_assert_eq!(back, values);
        }

        #[test]
        fn bitmaps_fixed_f64_blobs_round_trip(
            bits in proptest::collection::vec(any::<bool>(), 0..300),
            ids in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 8), 0..100),
            floats in proptest::collection::vec(any::<f64>(), 0..100),
            blobs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 0..100),
        ) {
            let mut b = BitmapColumn::default();
            for x in &bits { b.push(*x); }
            let (enc, data) = b.finish();
            let chunk = round_trip(enc, data);
            let bm = decode_bitmap(&chunk.payload, chunk.rows, "t").unwrap();
            prop_assert_eq!((0..bits.len()).map(|i| bm.get(i)).collect::<Vec<_>>(), bits);

            let mut f = FixedColumn::new(8);
            for id in &ids { f.push(id); }
            let (enc, data) = f.finish();
            let chunk = round_trip(enc, data);
            let fv = decode_fixed(&chunk.payload, chunk.rows, "t").unwrap();
            prop_assert_eq!((0..ids.len()).map(|i| fv.get(i).unwrap().to_vec()).collect::<Vec<_>>(), ids);

            let mut f = F64Column::default();
            for x in &floats { f.push(*x); }
            let (enc, data) = f.finish();
            let chunk = round_trip(enc, data);
            let back = decode_f64(&chunk.payload, chunk.rows, "t").unwrap();
            prop_assert_eq!(back.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), floats.iter().map(|x| x.to_bits()).collect::<Vec<_>>());

            let mut c = BlobColumn::default();
            for x in &blobs { c.push(x); }
            let (enc, data) = c.finish();
            let chunk = round_trip(enc, data);
            prop_assert_eq!(decode_blobs(&chunk.payload, chunk.rows, "t").unwrap().to_vecs(), blobs);
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = fuzz_decode_chunk(&data);
        }
    }

    #[test]
    fn corrupt_chunks_are_errors() {
        let mut col = VarintColumn::default();
        for v in 0..1000 {
            col.push(v);
        }
        let (enc, data) = col.finish();
        let mut out = Vec::new();
        write_chunk(&mut out, enc, &data).unwrap();
        assert_eq!(data.min, 0);
        assert_eq!(data.max, 999);
        for i in 0..out.len() {
            let mut bad = out.clone();
            bad[i] ^= 0x55;
            assert!(
                read_chunk(&Bytes::from(bad), "t").is_err(),
                "flip at {i} went unnoticed"
            );
        }
        assert!(read_chunk(&Bytes::from(out[..out.len() - 1].to_vec()), "t").is_err());
    }
}
