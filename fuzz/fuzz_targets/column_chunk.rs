//! No byte string makes column chunk decoding panic; anything malformed is an error.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Bytes of a chunk header (`FORMAT.md`, "Column chunks").
const CHUNK_HEADER: usize = 36;
/// The magic a chunk starts with.
const CHUNK_MAGIC: &[u8; 2] = b"TC";
/// Offset of the stored-length field in the header.
const STORED_LEN_AT: usize = 12;

/// CRC-32C (Castagnoli), bit by bit: slow, but independent of the crate under test.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fuzz_target!(|data: &[u8]| {
    // As found in a block.
    let _ = tempo_core::fuzz_decode_chunk(data);
    // Framed with the magic, a consistent stored length and a valid checksum, so the input
    // reaches the decompressor and the decoders instead of stopping at the checksum.
    if data.len() >= CHUNK_HEADER {
        let mut chunk = data.to_vec();
        chunk[..2].copy_from_slice(CHUNK_MAGIC);
        let stored = u32::try_from(data.len() - CHUNK_HEADER).unwrap_or(u32::MAX);
        chunk[STORED_LEN_AT..STORED_LEN_AT + 4].copy_from_slice(&stored.to_le_bytes());
        let crc = crc32c(&chunk);
        chunk.extend_from_slice(&crc.to_le_bytes());
        let _ = tempo_core::fuzz_decode_chunk(&chunk);
    }
});
