//! No byte string makes bloom shard decoding or lookup panic; anything malformed is an error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(shard) = tempo_core::bloom::BloomShard::decode(bytes::Bytes::copy_from_slice(data)) {
        let _ = shard.may_contain(&[0u8; 16]);
    }
});
