//! The segment file layout, and replay.
//!
//! ```text
//! segment := header record*
//! header  := "TEMPOWAL" version:u32le reserved:u32le                      (16 bytes)
//! record  := magic:u32le len:u32le crc:u32le body[len]
//! body    := kind:u8 tenant_len:u16le tenant[tenant_len] data
//! crc     := crc32c(len:u32le ++ body)
//! ```

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::{ReplayedRecord, WalError};

/// Magic at the start of every segment file.
pub(crate) const SEGMENT_MAGIC: &[u8; 8] = b"TEMPOWAL";
/// The segment format version this code writes and reads.
pub(crate) const VERSION: u32 = 1;
/// Length of the segment header.
pub(crate) const HEADER_LEN: usize = 16;
/// Magic at the start of every record ("TWR1" read as little-endian bytes).
pub(crate) const RECORD_MAGIC: u32 = u32::from_le_bytes(*b"TWR1");
/// Bytes of framing per record beyond the tenant and data.
pub(crate) const RECORD_OVERHEAD: usize = 12 + 3;
/// The largest record accepted.
pub(crate) const MAX_RECORD_BYTES: usize = 1 << 30;
/// Longest tenant ID a record can carry.
const MAX_TENANT: usize = u16::MAX as usize;

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum RecordKind {
    /// A batch of spans: `data` is a protobuf `TracesData`.
    Spans = 1,
    /// Not written: asks the writer for a sync.
    Sync = 0xff,
    /// Not written: asks the writer to start a new segment.
    Rotate = 0xfe,
}

impl RecordKind {
    fn from_u8(b: u8) -> Option<RecordKind> {
        match b {
            1 => Some(RecordKind::Spans),
            _ => None,
        }
    }
}

/// What replay found.
#[derive(Debug, Default, Clone)]
pub struct ReplayReport {
    /// Segment files read.
    pub segments: usize,
    /// Intact records replayed.
    pub records: usize,
    /// Regions of corrupt bytes skipped inside segments.
    pub corrupt_regions: usize,
    /// Bytes skipped as corrupt.
    pub corrupt_bytes: u64,
    /// Bytes of torn tail truncated from the last segment.
    pub truncated_bytes: u64,
}

/// The file name of segment `seq`.
pub(crate) fn file_name(seq: u64) -> String {
    format!("{seq:020}.wal")
}

/// The header of a new segment.
pub(crate) fn header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h
}

/// Appends one framed record to `buf`.
pub(crate) fn encode_record(buf: &mut Vec<u8>, kind: RecordKind, tenant: &str, data: &[u8]) {
    let tenant = &tenant.as_bytes()[..tenant.len().min(MAX_TENANT)];
    let body_len = 3 + tenant.len() + data.len();
    let start = buf.len();
    buf.extend_from_slice(&RECORD_MAGIC.to_le_bytes());
    buf.extend_from_slice(&(body_len as u32).to_le_bytes());
    buf.extend_from_slice(&[0; 4]);
    buf.push(kind as u8);
    buf.extend_from_slice(&(tenant.len() as u16).to_le_bytes());
    buf.extend_from_slice(tenant);
    buf.extend_from_slice(data);
    let crc = crc32c::crc32c(&buf[start + 4..start + 8]);
    let crc = crc32c::crc32c_append(crc, &buf[start + 12..]);
    buf[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
}

/// The segments in `dir`, ordered by sequence number.
pub(crate) fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, WalError> {
    let mut segments = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| WalError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| WalError::io(dir, e))?;
        let name = entry.file_name();
        let Some(seq) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".wal"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        segments.push((seq, entry.path()));
    }
    segments.sort();
    Ok(segments)
}

/// Result of parsing one record at an offset.
enum Parsed<'a> {
    Record {
        kind: u8,
        tenant: &'a [u8],
        data_start: usize,
        end: usize,
    },
    /// Not enough bytes for the record the header announces.
    Short,
    Invalid,
}

fn parse_at(buf: &[u8], pos: usize) -> Parsed<'_> {
    let Some(head) = buf.get(pos..pos + 12) else {
        return Parsed::Short;
    };
    let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    if word(0) != RECORD_MAGIC {
        return Parsed::Invalid;
    }
    let len = word(4) as usize;
    if !(3..=MAX_RECORD_BYTES).contains(&len) {
        return Parsed::Invalid;
    }
    let Some(body) = buf.get(pos + 12..pos + 12 + len) else {
        return Parsed::Short;
    };
    let crc = crc32c::crc32c_append(crc32c::crc32c(&head[4..8]), body);
    if crc != word(8) {
        return Parsed::Invalid;
    }
    let tenant_len = u16::from_le_bytes([body[1], body[2]]) as usize;
    let Some(tenant) = body.get(3..3 + tenant_len) else {
        return Parsed::Invalid;
    };
    Parsed::Record {
        kind: body[0],
        tenant,
        data_start: pos + 12 + 3 + tenant_len,
        end: pos + 12 + len,
    }
}

/// The offset of the next intact record after `from`, if any.
fn resync(buf: &[u8], from: usize) -> Option<usize> {
    let magic = RECORD_MAGIC.to_le_bytes();
    let mut pos = from;
    while pos + 12 <= buf.len() {
        let offset = buf[pos..].windows(4).position(|w| w == magic)?;
        pos += offset;
        if let Parsed::Record { .. } = parse_at(buf, pos) {
            return Some(pos);
        }
        pos += 1;
    }
    None
}

/// Replays one segment file. In the last segment, a torn tail is truncated; elsewhere, and
/// for corrupt records followed by intact ones, the bad bytes are reported and skipped.
pub(crate) fn replay(
    path: &Path,
    seq: u64,
    is_last: bool,
    report: &mut ReplayReport,
    out: &mut impl FnMut(ReplayedRecord),
) -> Result<(), WalError> {
    let bytes = Bytes::from(fs::read(path).map_err(|e| WalError::io(path, e))?);
    report.segments += 1;
    if bytes.len() < HEADER_LEN {
        // A crash right after the file was created; nothing was ever acknowledged from it.
        tracing::warn!(segment = %path.display(), len = bytes.len(), "removing WAL segment without a complete header");
        fs::remove_file(path).map_err(|e| WalError::io(path, e))?;
        report.truncated_bytes += bytes.len() as u64;
        return Ok(());
    }
    if let Some(torn_at) = replay_bytes(
        &path.display().to_string(),
        seq,
        bytes,
        is_last,
        report,
        out,
    )? {
        truncate(path, torn_at as u64)?;
    }
    Ok(())
}

/// Replays the bytes of one segment (`name` labels the logs). Returns the offset at which a
/// torn tail starts, when `is_last` and there is one; the caller truncates the file there.
pub(crate) fn replay_bytes(
    name: &str,
    seq: u64,
    bytes: Bytes,
    is_last: bool,
    report: &mut ReplayReport,
    out: &mut impl FnMut(ReplayedRecord),
) -> Result<Option<usize>, WalError> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != SEGMENT_MAGIC {
        tracing::error!(segment = name, "not a WAL segment (bad magic); skipped");
        report.corrupt_regions += 1;
        report.corrupt_bytes += bytes.len() as u64;
        return Ok(None);
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version != VERSION {
        return Err(WalError::Io {
            path: PathBuf::from(name),
            message: format!(
                "unsupported WAL segment version {version} (this build reads {VERSION})"
            ),
        });
    }
    let mut pos = HEADER_LEN;
    while pos < bytes.len() {
        match parse_at(&bytes, pos) {
            Parsed::Record {
                kind,
                tenant,
                data_start,
                end,
            } => {
                match (RecordKind::from_u8(kind), std::str::from_utf8(tenant)) {
                    (Some(kind), Ok(tenant)) => {
                        report.records += 1;
                        out(ReplayedRecord {
                            segment: seq,
                            kind,
                            tenant: tenant.to_owned(),
                            data: bytes.slice(data_start..end),
                        });
                    }
                    _ => {
                        tracing::error!(
                            segment = name,
                            offset = pos,
                            kind,
                            "WAL record of unknown kind or with a non-UTF-8 tenant; skipped"
                        );
                        report.corrupt_regions += 1;
                        report.corrupt_bytes += (end - pos) as u64;
                    }
                }
                pos = end;
            }
            Parsed::Short | Parsed::Invalid => match resync(&bytes, pos + 1) {
                Some(next) => {
                    tracing::error!(
                        segment = name,
                        offset = pos,
                        bytes = next - pos,
                        "corrupt WAL record skipped"
                    );
                    report.corrupt_regions += 1;
                    report.corrupt_bytes += (next - pos) as u64;
                    pos = next;
                }
                None if is_last => {
                    let torn = bytes.len() - pos;
                    tracing::warn!(
                        segment = name,
                        offset = pos,
                        bytes = torn,
                        "truncating torn WAL tail"
                    );
                    report.truncated_bytes += torn as u64;
                    return Ok(Some(pos));
                }
                None => {
                    let bad = bytes.len() - pos;
                    tracing::error!(
                        segment = name,
                        offset = pos,
                        bytes = bad,
                        "corrupt end of WAL segment skipped"
                    );
                    report.corrupt_regions += 1;
                    report.corrupt_bytes += bad as u64;
                    break;
                }
            },
        }
    }
    Ok(None)
}

fn truncate(path: &Path, len: u64) -> Result<(), WalError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| WalError::io(path, e))?;
    file.set_len(len)
        .and_then(|()| file.sync_all())
        .map_err(|e| WalError::io(path, e))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a replay error is a failure")]
mod tests {
    //! The record codec, by property: what is encoded decodes back as it was; a record cut
    //! short anywhere is a torn tail; a record with any one byte changed is caught by its CRC.
    //! Never a panic, never a wrong record.

    use proptest::prelude::*;
    use proptest::sample::Index;

    use super::*;

    /// What a record carries.
    #[derive(Debug, Clone)]
    struct Record {
        kind: RecordKind,
        tenant: String,
        data: Vec<u8>,
    }

    impl Record {
        fn encoded(&self) -> Vec<u8> {
            let mut buf = Vec::new();
            encode_record(&mut buf, self.kind, &self.tenant, &self.data);
            buf
        }

        /// The tenant bytes the record holds: the tenant, cut at the longest a record holds.
        fn tenant_bytes(&self) -> &[u8] {
            &self.tenant.as_bytes()[..self.tenant.len().min(MAX_TENANT)]
        }
    }

    /// Deterministic noise: large payloads without drawing each byte from proptest.
    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect()
    }

    fn tenant() -> impl Strategy<Value = String> {
        prop_oneof![
            1 => Just(String::new()),
            6 => "\\PC{1,24}",
            // Up to and past the longest tenant a record holds (ASCII, so a cut one is still
            // UTF-8).
            1 => (MAX_TENANT - 2..=MAX_TENANT + 2).prop_map(|len| "t".repeat(len)),
        ]
    }

    fn data() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            1 => Just(Vec::new()),
            6 => proptest::collection::vec(any::<u8>(), 1..300),
            1 => (300usize..(2 << 20), any::<u64>()).prop_map(|(len, seed)| noise(len, seed)),
        ]
    }

    fn record_of(kind: impl Strategy<Value = RecordKind>) -> impl Strategy<Value = Record> {
        (kind, tenant(), data()).prop_map(|(kind, tenant, data)| Record { kind, tenant, data })
    }

    /// A record of any kind the codec encodes: spans (the only kind written to segments) and
    /// the writer's internal requests.
    fn any_record() -> impl Strategy<Value = Record> {
        record_of(prop_oneof![
            6 => Just(RecordKind::Spans),
            1 => Just(RecordKind::Sync),
            1 => Just(RecordKind::Rotate),
        ])
    }

    fn spans_record() -> impl Strategy<Value = Record> {
        record_of(Just(RecordKind::Spans))
    }

    /// A segment: the header, then `records` back to back.
    fn segment(records: &[&[u8]]) -> Vec<u8> {
        let mut bytes = header().to_vec();
        for r in records {
            bytes.extend_from_slice(r);
        }
        bytes
    }

    /// Replays `bytes` as the last segment: the records, the report, where a torn tail starts.
    fn replay(bytes: Vec<u8>) -> (Vec<ReplayedRecord>, ReplayReport, Option<usize>) {
        let mut out = Vec::new();
        let mut report = ReplayReport::default();
        let torn = replay_bytes("test", 1, bytes.into(), true, &mut report, &mut |r| {
            out.push(r);
        })
        .unwrap();
        (out, report, torn)
    }

    /// `replayed` is `record`, field for field.
    fn same(replayed: &ReplayedRecord, record: &Record) -> bool {
        replayed.kind == record.kind
            && replayed.tenant.as_bytes() == record.tenant_bytes()
            && replayed.data == record.data
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn records_decode_as_encoded(
            records in proptest::collection::vec(any_record(), 0..6),
            prefix in proptest::collection::vec(any::<u8>(), 0..16),
        ) {
            // Appended to a buffer that already holds bytes, each record decodes at its offset.
            let mut buf = prefix;
            for record in &records {
                let start = buf.len();
                encode_record(&mut buf, record.kind, &record.tenant, &record.data);
                prop_assert_eq!(
                    buf.len() - start,
                    RECORD_OVERHEAD + record.tenant_bytes().len() + record.data.len()
                );
                match parse_at(&buf, start) {
                    Parsed::Record { kind, tenant, data_start, end } => {
                        prop_assert_eq!(kind, record.kind as u8);
                        prop_assert_eq!(tenant, record.tenant_bytes());
                        prop_assert_eq!(&buf[data_start..end], record.data.as_slice());
                        prop_assert_eq!(end, buf.len());
                    }
                    Parsed::Short => prop_assert!(false, "an intact record read as short"),
                    Parsed::Invalid => prop_assert!(false, "an intact record read as invalid"),
                }
            }
            // Replayed from a segment, the span records come back in order; the writer's
            // internal kinds, never written, are reported and skipped.
            let encoded: Vec<Vec<u8>> = records.iter().map(Record::encoded).collect();
            let slices: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
            let (out, report, torn) = replay(segment(&slices));
            let spans: Vec<&Record> =
                records.iter().filter(|r| r.kind == RecordKind::Spans).collect();
            prop_assert_eq!(out.len(), spans.len());
            for (replayed, record) in out.iter().zip(&spans) {
                prop_assert!(same(replayed, record), "replayed {:?}", replayed.tenant);
            }
            prop_assert_eq!(report.records, spans.len());
            prop_assert_eq!(report.corrupt_regions, records.len() - spans.len());
            prop_assert_eq!(torn, None);
            prop_assert_eq!(report.truncated_bytes, 0);
        }

        #[test]
        fn a_record_cut_short_is_a_torn_tail(
            earlier in proptest::collection::vec(spans_record(), 0..3),
            record in any_record(),
            cut in any::<Index>(),
        ) {
            let encoded = record.encoded();
            // Every cut of a small record, one chosen cut of a large one: too short to read,
            // never invalid, never a record.
            let cuts: Vec<usize> = if encoded.len() <= 4096 {
                (0..encoded.len()).collect()
            } else {
                vec![cut.index(encoded.len())]
            };
            for &at in &cuts {
                prop_assert!(
                    matches!(parse_at(&encoded[..at], 0), Parsed::Short),
                    "cut at {} of {}", at, encoded.len()
                );
            }
            // The last record of the last segment, cut short: the records before it replay,
            // and the segment is truncated where it starts.
            let at = cut.index(encoded.len());
            let before: Vec<Vec<u8>> = earlier.iter().map(Record::encoded).collect();
            let mut slices: Vec<&[u8]> = before.iter().map(Vec::as_slice).collect();
            let torn_at = HEADER_LEN + before.iter().map(Vec::len).sum::<usize>();
            slices.push(&encoded[..at]);
            let (out, report, torn) = replay(segment(&slices));
            prop_assert_eq!(out.len(), earlier.len());
            for (replayed, record) in out.iter().zip(&earlier) {
                prop_assert!(same(replayed, record));
            }
            prop_assert_eq!(report.corrupt_regions, 0);
            prop_assert_eq!(report.truncated_bytes, at as u64);
            prop_assert_eq!(torn, (at > 0).then_some(torn_at));
        }

        #[test]
        fn any_flipped_byte_is_caught(
            record in spans_record(),
            next in spans_record(),
            at in any::<Index>(),
            mask in 1u8..=255,
        ) {
            let mut damaged = record.encoded();
            let at = at.index(damaged.len());
            damaged[at] ^= mask;
            prop_assert!(
                !matches!(parse_at(&damaged, 0), Parsed::Record { .. }),
                "byte {} of {} flipped with {:#04x} went unnoticed", at, damaged.len(), mask
            );
            // Followed by an intact record, only the damaged one is lost.
            let intact = next.encoded();
            let (out, report, torn) = replay(segment(&[&damaged, &intact]));
            prop_assert_eq!(out.len(), 1);
            prop_assert!(same(&out[0], &next));
            prop_assert_eq!(report.records, 1);
            prop_assert_eq!(report.corrupt_regions, 1);
            prop_assert_eq!(report.corrupt_bytes, damaged.len() as u64);
            prop_assert_eq!(torn, None);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_at(&bytes, 0);
            let (out, report, torn) = replay(segment(&[&bytes]));
            prop_assert_eq!(out.len(), report.records);
            prop_assert!(torn.is_none_or(|t| t >= HEADER_LEN && t <= HEADER_LEN + bytes.len()));
        }
    }
}
