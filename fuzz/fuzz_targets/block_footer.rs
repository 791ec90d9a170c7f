//! No byte string makes row group footer parsing, or decoding the traces it locates, panic;
//! anything malformed is an error.
#![no_main]

use libfuzzer_sys::fuzz_target;

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
    // As found in a block: row group bytes, then the footer's offset (8 bytes, little-endian).
    let _ = tempo_core::fuzz_decode_row_group(data);
    // The same with a valid footer checksum, so the input reaches the chunk directory and the
    // trace decoder instead of stopping at the checksum.
    if data.len() < 8 {
        return;
    }
    let (body, tail) = data.split_at(data.len() - 8);
    let mut offset = [0u8; 8];
    offset.copy_from_slice(tail);
    let footer_at = (u64::from_le_bytes(offset) % (body.len() as u64 + 1)) as usize;
    if body.len() - footer_at < 4 {
        return;
    }
    let mut fixed = data.to_vec();
    let crc_at = body.len() - 4;
    let crc = crc32c(&body[footer_at..crc_at]);
    fixed[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
    let _ = tempo_core::fuzz_decode_row_group(&fixed);
});
