//! No byte string makes WAL replay panic; intact records are counted, the rest reported.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // As found on disk, and behind a valid segment header so the record parser is reached.
    let _ = tempo_core::fuzz_replay_segment(data);
    let mut segment = b"TEMPOWAL\x01\x00\x00\x00\x00\x00\x00\x00".to_vec();
    segment.extend_from_slice(data);
    let _ = tempo_core::fuzz_replay_segment(&segment);
});
