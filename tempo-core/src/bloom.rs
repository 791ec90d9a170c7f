//! bloom: is this trace in that block?
//!
//! Each block carries sharded bloom filters over the 16-byte IDs of its traces, so a lookup by
//! trace ID reads one small shard per block and skips almost every block that lacks the trace.
//! A filter never answers "no" for an ID that was inserted; it answers "maybe" for about the
//! configured fraction of IDs that were not.
//!
//! [`BloomBuilder`] sizes and fills the shards of one block and encodes them;
//! [`shard_for`] says which shard an ID belongs to; [`BloomShard`] validates one encoded shard
//! and answers [`BloomShard::may_contain`] straight from its bytes, without copying them.
//!
//! # Hashing (persisted)
//!
//! Everything below is part of the on-disk format: changing any of it needs a new version.
//!
//! Let `h = xxh3_128(id)`, the unseeded 128-bit XXH3 of the 16 ID bytes (`xxhash-rust`), as a
//! `u128`. Split it into `hi = (h >> 64) as u64` and `lo = h as u64` (the low 64 bits).
//!
//! - Shard: `hi % shard_count`. Only `hi` chooses the shard.
//! - Bit positions: only `lo` places bits. `h1 = lo & 0xffff_ffff` (its low 32 bits) and
//!   `h2 = (lo >> 32) | 1` (its high 32 bits, forced odd). For `i` in `0..k`, bit
//!   `(h1 + i * h2) % m_bits` is set, computed in `u64` (the sum cannot overflow: `i < 16`).
//! - Bit `j` of the bitset is bit `j % 64` of the little-endian word `j / 64`, which is the
//!   same as bit `j % 8` of bitset byte `j / 8`.
//!
//! # Shard encoding (persisted, version 1)
//!
//! Every integer is little-endian. `B = m_bits / 8`.
//!
//! | Offset   | Size | Field      | Meaning                                                      |
//! |----------|------|------------|--------------------------------------------------------------|
//! | 0        | 4    | magic      | ASCII `TBLM`                                                 |
//! | 4        | 4    | version    | `u32`, `1`; readers refuse any other value                   |
//! | 8        | 4    | k          | `u32`, bits set per ID, `1..=16`                             |
//! | 12       | 8    | m_bits     | `u64`, bits in the bitset, a non-zero multiple of 64         |
//! | 20       | 8    | items      | `u64`, inserts routed to this shard (repeats counted)        |
//! | 28       | B    | bitset     | `m_bits / 64` words of `u64`, little-endian                  |
//! | 28 + B   | 4    | checksum   | `u32`, CRC-32C (Castagnoli) of bytes `0 .. 28 + B`           |
//!
//! A shard is exactly `32 + m_bits / 8` bytes long. All shards of one block share `k` and
//! `m_bits`; the shard count is recorded by the block (`meta.json`), and shard `N` is stored
//! in `bloom-N`. A shard does not record its own index: a reader must pick it with
//! [`shard_for`] and the block's shard count.

use std::f64::consts::LN_2;
use std::fmt;

use bytes::Bytes;
use xxhash_rust::xxh3::xxh3_128;

/// Magic bytes at the start of every encoded shard.
pub const MAGIC: [u8; 4] = *b"TBLM";

/// The shard format version this module writes and the only one it reads.
pub const VERSION: u32 = 1;

/// Size of a shard's fixed header: magic, version, k, m_bits and items.
pub const HEADER_LEN: usize = 28;

/// Size of the CRC-32C that ends every shard.
pub const CHECKSUM_LEN: usize = 4;

/// The size, in bytes, of bitset each shard aims for, so a lookup reads about this much.
pub const TARGET_SHARD_BYTES: usize = 64 * 1024;

/// The most shards a block's filter is split into; beyond that, shards grow instead.
pub const MAX_SHARDS: u32 = 1024;

/// The most bits set per ID (`k`); version 1 readers refuse shards with a larger `k`.
pub const MAX_HASHES: u32 = 16;

/// The lowest false-positive rate [`BloomBuilder::new`] plans for; lower requests are raised
/// to it.
pub const MIN_FALSE_POSITIVE_RATE: f64 = 1e-6;

/// The highest false-positive rate [`BloomBuilder::new`] plans for; higher requests are lowered
/// to it.
pub const MAX_FALSE_POSITIVE_RATE: f64 = 0.5;

/// The false-positive rate used when the requested one is not a number (Tempo's default).
pub const DEFAULT_FALSE_POSITIVE_RATE: f64 = 0.01;

/// The most bits one shard is planned with (512 MiB of bitset): past this, positions drawn from
/// 32-bit halves no longer spread well. Reached only beyond hundreds of billions of IDs.
const MAX_SHARD_BITS: u64 = 1 << 32;

/// Why an encoded bloom shard was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BloomError {
    /// The shard does not start with `TBLM`.
    #[error("bloom shard: bad magic {found:02x?}, expected \"TBLM\"")]
    BadMagic {
        /// The first four bytes found.
        found: [u8; 4],
    },
    /// The shard was written in a format version this reader does not know.
    #[error("bloom shard: unsupported version {version} (this reader knows version {VERSION})")]
    UnsupportedVersion {
        /// The version found in the header.
        version: u32,
    },
    /// The shard is shorter than its header says.
    #[error("bloom shard truncated: expected {expected} bytes, got {actual}")]
    Truncated {
        /// The length the header (or the fixed header size) requires.
        expected: u64,
        /// The length found.
        actual: u64,
    },
    /// The shard is longer than its header says.
    #[error("bloom shard has trailing bytes: expected {expected} bytes, got {actual}")]
    TrailingBytes {
        /// The length the header requires.
        expected: u64,
        /// The length found.
        actual: u64,
    },
    /// The stored CRC-32C does not match the shard's bytes.
    #[error("bloom shard checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// The checksum stored at the end of the shard.
        stored: u32,
        /// The checksum of the bytes before it.
        computed: u32,
    },
    /// `k` is zero or larger than [`MAX_HASHES`].
    #[error("bloom shard: invalid hash count k = {k} (expected 1..={MAX_HASHES})")]
    InvalidHashCount {
        /// The `k` found in the header.
        k: u32,
    },
    /// `m_bits` is zero or not a multiple of 64.
    #[error("bloom shard: invalid bit count {bits} (expected a non-zero multiple of 64)")]
    InvalidBitCount {
        /// The `m_bits` found in the header.
        bits: u64,
    },
}

/// The shard an ID belongs to, among `shard_count` shards: `(xxh3_128(id) >> 64) % shard_count`.
///
/// A `shard_count` of 0 is treated as 1, so the answer is always a valid index when at least
/// one shard exists.
pub fn shard_for(id: &[u8; 16], shard_count: u32) -> u32 {
    shard_of(hash(id).hi, shard_count)
}

/// The two persisted halves of an ID's hash.
#[derive(Clone, Copy)]
struct IdHash {
    /// Bits 64..128: choose the shard.
    hi: u64,
    /// Bits 0..64: place the bits within the shard.
    lo: u64,
}

fn hash(id: &[u8; 16]) -> IdHash {
    let h = xxh3_128(id);
    IdHash {
        hi: (h >> 64) as u64,
        lo: h as u64,
    }
}

fn shard_of(hi: u64, shard_count: u32) -> u32 {
    // The remainder is below `shard_count`, so it fits in a u32.
    (hi % u64::from(shard_count.max(1))) as u32
}

/// The `k` bit positions of an ID within a bitset of `m_bits` bits (`m_bits > 0`).
fn positions(lo: u64, k: u32, m_bits: u64) -> impl Iterator<Item = u64> {
    let h1 = lo & 0xffff_ffff;
    let h2 = (lo >> 32) | 1;
    // h1 + i * h2 < 2^32 + 16 * 2^32: no overflow for any k <= MAX_HASHES.
    (0..u64::from(k)).map(move |i| (h1 + i * h2) % m_bits)
}

/// Sizes, fills and encodes the bloom shards of one block.
///
/// ```
/// use tempo_core::bloom::{BloomBuilder, BloomShard, shard_for};
///
/// # fn main() -> Result<(), tempo_core::bloom::BloomError> {
/// let id = [7u8; 16];
/// let mut builder = BloomBuilder::new(1_000, 0.01);
/// builder.insert(&id);
/// let shard_count = builder.shard_count();
/// let shards = builder.finish();
///
/// let n = shard_for(&id, shard_count) as usize;
/// let shard = BloomShard::decode(bytes::Bytes::from(shards[n].clone()))?;
/// assert!(shard.may_contain(&id));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct BloomBuilder {
    k: u32,
    m_bits: u64,
    shards: Vec<ShardBits>,
}

#[derive(Debug, Clone)]
struct ShardBits {
    words: Vec<u64>,
    items: u64,
}

impl BloomBuilder {
    /// Plans filters for about `expected_items` IDs at `false_positive_rate` (0.01 is 1%).
    ///
    /// The shard count makes each shard about [`TARGET_SHARD_BYTES`] of bitset (at least 1,
    /// at most [`MAX_SHARDS`]); each shard gets `m = -n ln(p) / ln(2)^2` bits for its share `n`
    /// of the items, rounded up to a multiple of 64, and `k = round(m / n * ln 2)` hashes,
    /// clamped to `1..=16`.
    ///
    /// `expected_items` of 0 plans for one item. The rate is clamped to
    /// [`MIN_FALSE_POSITIVE_RATE`]`..=`[`MAX_FALSE_POSITIVE_RATE`]; a NaN rate means
    /// [`DEFAULT_FALSE_POSITIVE_RATE`]. Inserting more items than planned only raises the
    /// false-positive rate; it never loses an item.
    pub fn new(expected_items: usize, false_positive_rate: f64) -> Self {
        let plan = Plan::new(expected_items, false_positive_rate);
        // m_bits <= MAX_SHARD_BITS, so the word count fits in usize on 64-bit targets; on
        // smaller ones an impossible allocation would fail loudly rather than wrap.
        let words = (plan.m_bits / 64) as usize;
        BloomBuilder {
            k: plan.k,
            m_bits: plan.m_bits,
            shards: (0..plan.shard_count)
                .map(|_| ShardBits {
                    words: vec![0; words],
                    items: 0,
                })
                .collect(),
        }
    }

    /// Adds a trace ID to the shard [`shard_for`] chooses.
    pub fn insert(&mut self, id: &[u8; 16]) {
        let h = hash(id);
        let shard_count = self.shard_count();
        let (k, m_bits) = (self.k, self.m_bits);
        if let Some(shard) = self.shards.get_mut(shard_of(h.hi, shard_count) as usize) {
            for bit in positions(h.lo, k, m_bits) {
                if let Some(word) = shard.words.get_mut((bit / 64) as usize) {
                    *word |= 1 << (bit % 64);
                }
            }
            shard.items += 1;
        }
    }

    /// How many shards the filter is split into (at least 1); the block records it.
    pub fn shard_count(&self) -> u32 {
        // At most MAX_SHARDS, by construction.
        self.shards.len() as u32
    }

    /// Bits per shard (`m_bits`), a multiple of 64.
    pub fn bits_per_shard(&self) -> u64 {
        self.m_bits
    }

    /// Bits set per ID (`k`).
    pub fn k(&self) -> u32 {
        self.k
    }

    /// The size of each encoded shard in bytes, header and checksum included.
    pub fn encoded_shard_len(&self) -> usize {
        HEADER_LEN + (self.m_bits / 8) as usize + CHECKSUM_LEN
    }

    /// Encodes every shard, in shard order: element `N` is the content of `bloom-N`.
    pub fn finish(self) -> Vec<Vec<u8>> {
        let len = self.encoded_shard_len();
        self.shards
            .into_iter()
            .map(|shard| {
                let mut out = Vec::with_capacity(len);
                out.extend_from_slice(&MAGIC);
                out.extend_from_slice(&VERSION.to_le_bytes());
                out.extend_from_slice(&self.k.to_le_bytes());
                out.extend_from_slice(&self.m_bits.to_le_bytes());
                out.extend_from_slice(&shard.items.to_le_bytes());
                for word in &shard.words {
                    out.extend_from_slice(&word.to_le_bytes());
                }
                let crc = crc32c::crc32c(&out);
                out.extend_from_slice(&crc.to_le_bytes());
                out
            })
            .collect()
    }
}

/// The sizes chosen for one block's filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plan {
    shard_count: u32,
    m_bits: u64,
    k: u32,
}

impl Plan {
    fn new(expected_items: usize, false_positive_rate: f64) -> Self {
        let p = if false_positive_rate.is_nan() {
            DEFAULT_FALSE_POSITIVE_RATE
        } else {
            false_positive_rate.clamp(MIN_FALSE_POSITIVE_RATE, MAX_FALSE_POSITIVE_RATE)
        };
        let bits_per_item = -p.ln() / (LN_2 * LN_2);
        let n = expected_items.max(1) as f64;
        let total_bytes = (n * bits_per_item / 8.0).ceil();
        // `as` saturates; the clamp bounds it anyway.
        let shard_count =
            ((total_bytes / TARGET_SHARD_BYTES as f64).ceil() as u32).clamp(1, MAX_SHARDS);
        let per_shard = (n / f64::from(shard_count)).ceil();
        let m_bits = ((per_shard * bits_per_item).ceil() as u64)
            .div_ceil(64)
            .saturating_mul(64)
            .clamp(64, MAX_SHARD_BITS);
        let k = ((m_bits as f64 / per_shard * LN_2).round() as u32).clamp(1, MAX_HASHES);
        Plan {
            shard_count,
            m_bits,
            k,
        }
    }
}

/// One validated, encoded bloom shard, read in place.
///
/// Cloning is cheap: the bytes are reference-counted and never copied.
#[derive(Clone)]
pub struct BloomShard {
    /// The bitset alone: `m_bits / 8` bytes sliced out of the encoded shard.
    bitset: Bytes,
    k: u32,
    m_bits: u64,
    items: u64,
}

impl BloomShard {
    /// The bytes it holds in memory (its bitset).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.bitset.len()
    }

    /// Validates an encoded shard: magic, version, length, checksum, then `k` and `m_bits`.
    ///
    /// The bitset stays in `bytes` (a slice of it is kept; nothing is copied).
    pub fn decode(bytes: Bytes) -> Result<BloomShard, BloomError> {
        let actual = bytes.len() as u64;
        let min = (HEADER_LEN + CHECKSUM_LEN) as u64;
        let (Some(magic), Some(version), Some(k), Some(m_bits), Some(items)) = (
            array::<4>(&bytes, 0),
            array::<4>(&bytes, 4).map(u32::from_le_bytes),
            array::<4>(&bytes, 8).map(u32::from_le_bytes),
            array::<8>(&bytes, 12).map(u64::from_le_bytes),
            array::<8>(&bytes, 20).map(u64::from_le_bytes),
        ) else {
            // The magic alone is enough to say this is not a shard at all.
            if let Some(found) = array::<4>(&bytes, 0)
                && found != MAGIC
            {
                return Err(BloomError::BadMagic { found });
            }
            return Err(BloomError::Truncated {
                expected: min,
                actual,
            });
        };
        if magic != MAGIC {
            return Err(BloomError::BadMagic { found: magic });
        }
        if version != VERSION {
            return Err(BloomError::UnsupportedVersion { version });
        }
        // m_bits comes from the input and may be anything, but m_bits / 8 < 2^61: no overflow.
        let expected = m_bits / 8 + min;
        if actual < expected {
            return Err(BloomError::Truncated { expected, actual });
        }
        if actual > expected {
            return Err(BloomError::TrailingBytes { expected, actual });
        }
        // `actual == expected` and `actual >= min`, so the split points are in bounds.
        let body_len = bytes.len() - CHECKSUM_LEN;
        let stored = array::<4>(&bytes, body_len)
            .map(u32::from_le_bytes)
            .unwrap_or_default();
        let computed = crc32c::crc32c(&bytes[..body_len]);
        if stored != computed {
            return Err(BloomError::ChecksumMismatch { stored, computed });
        }
        if k == 0 || k > MAX_HASHES {
            return Err(BloomError::InvalidHashCount { k });
        }
        if m_bits == 0 || m_bits % 64 != 0 {
            return Err(BloomError::InvalidBitCount { bits: m_bits });
        }
        Ok(BloomShard {
            bitset: bytes.slice(HEADER_LEN..body_len),
            k,
            m_bits,
            items,
        })
    }

    /// Whether `id` may have been inserted: `false` means it certainly was not, provided this
    /// is the shard [`shard_for`] picks for `id` among the block's shards.
    pub fn may_contain(&self, id: &[u8; 16]) -> bool {
        let lo = hash(id).lo;
        positions(lo, self.k, self.m_bits).all(|bit| {
            // bit < m_bits, so the byte is within the bitset; a miss would mean "absent".
            self.bitset
                .get((bit / 8) as usize)
                .is_some_and(|byte| byte >> (bit % 8) & 1 == 1)
        })
    }

    /// How many inserts were routed to this shard when it was built (repeats counted).
    pub fn items(&self) -> u64 {
        self.items
    }

    /// Bits set per ID.
    pub fn k(&self) -> u32 {
        self.k
    }

    /// Bits in the bitset (`m_bits`).
    pub fn bits(&self) -> u64 {
        self.m_bits
    }
}

impl fmt::Debug for BloomShard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BloomShard")
            .field("k", &self.k)
            .field("bits", &self.m_bits)
            .field("items", &self.items)
            .finish_non_exhaustive()
    }
}

/// `N` bytes of `bytes` at `offset`, if they are all there.
fn array<const N: usize>(bytes: &[u8], offset: usize) -> Option<[u8; N]> {
    bytes
        .get(offset..offset.checked_add(N)?)
        .and_then(|s| s.try_into().ok())
}

#[cfg(test)]
#[expect(clippy::expect_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use xxhash_rust::xxh3::xxh3_64;

    /// A small deterministic generator (SplitMix64) for test IDs.
    struct Ids(u64);

    impl Ids {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn next_id(&mut self) -> [u8; 16] {
            let mut id = [0; 16];
            id[..8].copy_from_slice(&self.next_u64().to_le_bytes());
            id[8..].copy_from_slice(&self.next_u64().to_le_bytes());
            id
        }
    }

    fn decode_all(shards: Vec<Vec<u8>>) -> Vec<BloomShard> {
        shards
            .into_iter()
            .map(|s| BloomShard::decode(Bytes::from(s)).expect("a shard we just encoded"))
            .collect()
    }

    fn lookup(shards: &[BloomShard], id: &[u8; 16]) -> bool {
        shards[shard_for(id, shards.len() as u32) as usize].may_contain(id)
    }

    const ID_LAST_ONE: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const ID_COUNTING: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
    const ID_ALL_FF: [u8; 16] = [0xff; 16];

    /// The persisted hash: these are XXH3-128 of the ID bytes, in canonical (big-endian) hex,
    /// as printed by `xxhsum -H2` and libxxhash's `XXH3_128bits`.
    #[test]
    fn golden_hash_values() {
        assert_eq!(
            format!("{:032x}", xxh3_128(&ID_LAST_ONE)),
            "9d09e7bae41605db7fb15398ec5ff11d"
        );
        assert_eq!(
            format!("{:032x}", xxh3_128(&ID_COUNTING)),
            "72950631827607e2842812cc870dcae2"
        );
        assert_eq!(
            format!("{:032x}", xxh3_128(&ID_ALL_FF)),
            "2c75c396ceb7747be6873ce65343027f"
        );
    }

    #[test]
    fn golden_shard_numbers() {
        let got: Vec<[u32; 4]> = [ID_LAST_ONE, ID_COUNTING, ID_ALL_FF]
            .iter()
            .map(|id| {
                [
                    shard_for(id, 1),
                    shard_for(id, 7),
                    shard_for(id, 64),
                    shard_for(id, 1024),
                ]
            })
            .collect();
        // [1 shard, 7 shards, 64 shards, 1024 shards] for each ID.
        assert_eq!(got, [[0, 2, 27, 475], [0, 5, 34, 994], [0, 6, 59, 123]]);
        // Zero shards is treated as one.
        assert_eq!(shard_for(&ID_COUNTING, 0), 0);
    }

    /// A tiny filter with fixed parameters and two fixed IDs, byte for byte.
    #[test]
    fn golden_encoded_shard() {
        let mut builder = BloomBuilder::new(2, 0.01);
        assert_eq!(builder.shard_count(), 1);
        assert_eq!(builder.bits_per_shard(), 64);
        // n = 2 gives m = 20 bits, rounded up to 64; k = round(64 / 2 * ln 2) = 22, clamped.
        assert_eq!(builder.k(), 16);
        builder.insert(&ID_LAST_ONE);
        builder.insert(&ID_COUNTING);
        let shards = builder.finish();
        assert_eq!(shards.len(), 1);
        assert_eq!(
            hex::encode(&shards[0]),
            concat!(
                "54424c4d",         // TBLM
                "01000000",         // version 1
                "10000000",         // k = 16
                "4000000000000000", // m_bits = 64
                "0200000000000000", // items = 2
                "029ed0253c814b78", // the single bitset word
                "41936e07",         // crc32c
            )
        );
        assert_eq!(xxh3_64(&shards[0]), 0x5e1f_8c25_de39_c3bf);
        let shard = BloomShard::decode(Bytes::from(shards[0].clone())).expect("golden shard");
        assert_eq!((shard.k(), shard.bits(), shard.items()), (16, 64, 2));
        assert!(shard.may_contain(&ID_LAST_ONE));
        assert!(shard.may_contain(&ID_COUNTING));
    }

    /// The positions of one ID, pinned, so the double-hashing rule cannot drift.
    #[test]
    fn golden_positions() {
        let lo = hash(&ID_COUNTING).lo;
        let got: Vec<u64> = positions(lo, 7, 9600).collect();
        assert_eq!(got, [7266, 431, 3196, 5961, 8726, 1891, 4656]);
    }

    /// Shard plans for a 1% false-positive rate (64 KiB target shards):
    ///
    /// | items      | shards | bits per shard | k | bytes per shard (encoded) | total   |
    /// |------------|--------|----------------|---|---------------------------|---------|
    /// | 1 000      | 1      | 9 600          | 7 | 1 232                     | 1.2 KB  |
    /// | 100 000    | 2      | 479 296        | 7 | 59 944                    | 120 KB  |
    /// | 1 000 000  | 19     | 504 512        | 7 | 63 096                    | 1.2 MB  |
    /// | 10 000 000 | 183    | 523 776        | 7 | 65 504                    | 12.0 MB |
    ///
    /// About 9.6 bits (1.2 bytes) per ID; a lookup reads one shard of at most ~64 KiB until a
    /// block holds more than ~56 million IDs (1024 shards), after which shards grow.
    #[test]
    fn plans_for_one_percent() {
        let plans: Vec<(u32, u64, u32)> = [1_000, 100_000, 1_000_000, 10_000_000]
            .iter()
            .map(|&n| {
                let p = Plan::new(n, 0.01);
                (p.shard_count, p.m_bits, p.k)
            })
            .collect();
        assert_eq!(
            plans,
            [
                (1, 9_600, 7),
                (2, 479_296, 7),
                (19, 504_512, 7),
                (183, 523_776, 7),
            ]
        );
    }

    #[test]
    fn plan_clamps_odd_requests() {
        let zero = Plan::new(0, 0.01);
        assert_eq!(zero, Plan::new(1, 0.01));
        assert_eq!(zero.shard_count, 1);
        assert_eq!(zero.m_bits, 64);
        assert!((1..=MAX_HASHES).contains(&zero.k));
        assert_eq!(Plan::new(1000, f64::NAN), Plan::new(1000, 0.01));
        assert_eq!(
            Plan::new(1000, 0.0),
            Plan::new(1000, MIN_FALSE_POSITIVE_RATE)
        );
        assert_eq!(
            Plan::new(1000, -3.0),
            Plan::new(1000, MIN_FALSE_POSITIVE_RATE)
        );
        assert_eq!(
            Plan::new(1000, 2.0),
            Plan::new(1000, MAX_FALSE_POSITIVE_RATE)
        );
        assert_eq!(Plan::new(1000, f64::INFINITY).k, 1);
        let huge = Plan::new(usize::MAX, 0.01);
        assert_eq!(huge.shard_count, MAX_SHARDS);
        assert_eq!(huge.m_bits, MAX_SHARD_BITS);
        assert_eq!(Plan::new(1000, 1e-12).k, MAX_HASHES);
    }

    #[test]
    fn no_false_negatives_and_one_percent_false_positives() {
        let n = 100_000;
        let mut ids = Ids(42);
        let inserted: Vec<[u8; 16]> = (0..n).map(|_| ids.next_id()).collect();
        let mut builder = BloomBuilder::new(n, 0.01);
        for id in &inserted {
            builder.insert(id);
        }
        let shards = decode_all(builder.finish());
        assert_eq!(shards.iter().map(BloomShard::items).sum::<u64>(), n as u64);
        for id in &inserted {
            assert!(
                lookup(&shards, id),
                "false negative for {}",
                hex::encode(id)
            );
        }
        let mut others = Ids(7);
        let trials = 100_000;
        let false_positives = (0..trials)
            .filter(|_| lookup(&shards, &others.next_id()))
            .count();
        let rate = false_positives as f64 / trials as f64;
        println!("false-positive rate at a 1% target: {:.3}%", rate * 100.0);
        assert!(
            (0.005..=0.016).contains(&rate),
            "false-positive rate {rate}"
        );
    }

    #[test]
    fn overfilled_filter_still_has_no_false_negatives() {
        let mut ids = Ids(3);
        let inserted: Vec<[u8; 16]> = (0..5_000).map(|_| ids.next_id()).collect();
        let mut builder = BloomBuilder::new(100, 0.01);
        for id in &inserted {
            builder.insert(id);
        }
        let shards = decode_all(builder.finish());
        assert!(inserted.iter().all(|id| lookup(&shards, id)));
    }

    fn small_shard() -> Vec<u8> {
        let mut builder = BloomBuilder::new(20, 0.01);
        let mut ids = Ids(11);
        for _ in 0..20 {
            builder.insert(&ids.next_id());
        }
        builder.finish().remove(0)
    }

    /// Rewrites the checksum so a test reaches the checks behind it.
    fn reseal(bytes: &mut [u8]) {
        let body = bytes.len() - CHECKSUM_LEN;
        let crc = crc32c::crc32c(&bytes[..body]);
        bytes[body..].copy_from_slice(&crc.to_le_bytes());
    }

    #[test]
    fn decode_rejects_every_truncation() {
        let shard = small_shard();
        for len in 0..shard.len() {
            let err = BloomShard::decode(Bytes::copy_from_slice(&shard[..len]))
                .expect_err("a truncated shard");
            assert!(
                matches!(err, BloomError::Truncated { actual, .. } if actual == len as u64),
                "length {len}: {err}"
            );
        }
        let err = BloomShard::decode(Bytes::copy_from_slice(&shard[..10])).expect_err("short");
        assert_eq!(
            err.to_string(),
            "bloom shard truncated: expected 32 bytes, got 10"
        );
        let expected = shard.len() as u64;
        let err = BloomShard::decode(Bytes::copy_from_slice(&shard[..40])).expect_err("short");
        assert_eq!(
            err,
            BloomError::Truncated {
                expected,
                actual: 40
            }
        );
        let mut longer = shard.clone();
        longer.push(0);
        assert_eq!(
            BloomShard::decode(Bytes::from(longer)).expect_err("long"),
            BloomError::TrailingBytes {
                expected,
                actual: expected + 1
            }
        );
    }

    #[test]
    fn decode_rejects_every_flipped_byte() {
        let shard = small_shard();
        for i in 0..shard.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut bad = shard.clone();
                bad[i] ^= flip;
                let result = BloomShard::decode(Bytes::from(bad));
                assert!(result.is_err(), "byte {i} ^ {flip:#x} accepted");
            }
        }
    }

    #[test]
    fn decode_names_what_is_wrong() {
        let shard = small_shard();

        let mut bad = shard.clone();
        bad[0] = b'X';
        reseal(&mut bad);
        let err = BloomShard::decode(Bytes::from(bad)).expect_err("bad magic");
        assert_eq!(err, BloomError::BadMagic { found: *b"XBLM" });
        // A short non-shard says what it is not, not how long it should be.
        assert!(matches!(
            BloomShard::decode(Bytes::from_static(b"PAR1")),
            Err(BloomError::BadMagic { .. })
        ));

        let mut bad = shard.clone();
        bad[4..8].copy_from_slice(&2u32.to_le_bytes());
        reseal(&mut bad);
        let err = BloomShard::decode(Bytes::from(bad)).expect_err("version 2");
        assert_eq!(err, BloomError::UnsupportedVersion { version: 2 });
        assert_eq!(
            err.to_string(),
            "bloom shard: unsupported version 2 (this reader knows version 1)"
        );

        let mut bad = shard.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(matches!(
            BloomShard::decode(Bytes::from(bad)),
            Err(BloomError::ChecksumMismatch { .. })
        ));

        for k in [0u32, MAX_HASHES + 1, u32::MAX] {
            let mut bad = shard.clone();
            bad[8..12].copy_from_slice(&k.to_le_bytes());
            reseal(&mut bad);
            assert_eq!(
                BloomShard::decode(Bytes::from(bad)).expect_err("bad k"),
                BloomError::InvalidHashCount { k }
            );
        }

        // A bit count that is not a multiple of 64 but still matches the length.
        let mut bad = shard.clone();
        let bits = u64::from_le_bytes(bad[12..20].try_into().expect("8 bytes"));
        bad[12..20].copy_from_slice(&(bits + 1).to_le_bytes());
        reseal(&mut bad);
        assert_eq!(
            BloomShard::decode(Bytes::from(bad)).expect_err("bad m"),
            BloomError::InvalidBitCount { bits: bits + 1 }
        );

        // Zero bits: the length matches an empty bitset.
        let mut empty = shard[..HEADER_LEN].to_vec();
        empty[12..20].copy_from_slice(&0u64.to_le_bytes());
        empty.extend_from_slice(&[0; CHECKSUM_LEN]);
        reseal(&mut empty);
        assert_eq!(
            BloomShard::decode(Bytes::from(empty)).expect_err("no bits"),
            BloomError::InvalidBitCount { bits: 0 }
        );

        // A huge bit count cannot overflow the length arithmetic.
        let mut bad = shard.clone();
        bad[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(
            BloomShard::decode(Bytes::from(bad)).expect_err("huge m"),
            BloomError::Truncated {
                expected: u64::MAX / 8 + 32,
                actual: shard.len() as u64
            }
        );
    }

    #[test]
    fn decode_keeps_the_bytes_without_copying() {
        let bytes = Bytes::from(small_shard());
        let shard = BloomShard::decode(bytes.clone()).expect("valid");
        assert_eq!(shard.bitset.as_ptr(), bytes[HEADER_LEN..].as_ptr());
        assert_eq!(shard.bitset.len() as u64, shard.bits() / 8);
        assert!(format!("{shard:?}").starts_with("BloomShard { k: "));
    }

    /// Not a benchmark: a rough figure for `may_contain`, printed with `--nocapture`.
    #[test]
    fn may_contain_timing() {
        let n = 100_000;
        let mut ids = Ids(5);
        let mut builder = BloomBuilder::new(n, 0.01);
        for _ in 0..n {
            builder.insert(&ids.next_id());
        }
        let shards = decode_all(builder.finish());
        let shard = &shards[0];
        let probes: Vec<[u8; 16]> = (0..1024).map(|_| ids.next_id()).collect();
        let rounds = 200;
        let start = std::time::Instant::now();
        let mut hits = 0usize;
        for _ in 0..rounds {
            for id in &probes {
                hits += usize::from(shard.may_contain(std::hint::black_box(id)));
            }
        }
        let elapsed = start.elapsed();
        let ops = rounds * probes.len();
        println!(
            "may_contain: {:.1} ns/op over {ops} lookups ({hits} hits), k = {}",
            elapsed.as_nanos() as f64 / ops as f64,
            shard.k()
        );
        let start = std::time::Instant::now();
        let mut sum = 0u64;
        for _ in 0..rounds {
            for id in &probes {
                sum = sum.wrapping_add(u64::from(shard_for(std::hint::black_box(id), 1024)));
            }
        }
        println!(
            "shard_for: {:.1} ns/op ({sum})",
            start.elapsed().as_nanos() as f64 / ops as f64
        );
    }

    proptest! {
        #[test]
        fn every_inserted_id_may_be_contained(
            ids in proptest::collection::vec(any::<[u8; 16]>(), 0..300),
            expected in 1usize..400,
            rate in 0.0001f64..0.5,
        ) {
            let mut builder = BloomBuilder::new(expected, rate);
            for id in &ids {
                builder.insert(id);
            }
            let shard_count = builder.shard_count();
            let shards = decode_all(builder.finish());
            prop_assert_eq!(shards.len() as u32, shard_count);
            prop_assert_eq!(shards.iter().map(BloomShard::items).sum::<u64>(), ids.len() as u64);
            for id in &ids {
                prop_assert!(lookup(&shards, id));
            }
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(shard) = BloomShard::decode(Bytes::from(bytes)) {
                let _ = shard.may_contain(&[0; 16]);
            }
        }

        #[test]
        fn decode_never_panics_behind_a_valid_header(
            k in any::<u32>(),
            bits in any::<u64>(),
            body in proptest::collection::vec(any::<u8>(), 0..100),
        ) {
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(&VERSION.to_le_bytes());
            bytes.extend_from_slice(&k.to_le_bytes());
            bytes.extend_from_slice(&bits.to_le_bytes());
            bytes.extend_from_slice(&0u64.to_le_bytes());
            bytes.extend_from_slice(&body);
            bytes.extend_from_slice(&[0; CHECKSUM_LEN]);
            reseal(&mut bytes);
            if let Ok(shard) = BloomShard::decode(Bytes::from(bytes)) {
                prop_assert!((1..=MAX_HASHES).contains(&shard.k()));
                prop_assert_eq!(shard.bits() % 64, 0);
                let _ = shard.may_contain(&[0xab; 16]);
            }
        }
    }
}
