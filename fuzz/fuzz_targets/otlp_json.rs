//! No body makes the OTLP/JSON decoder panic; a decoded body always validates into a batch.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(decoded) = tempo_otlp::decode_traces_json(data) {
        let batch = tempo_core::Batch::new(decoded.resource_spans).with_rejected(decoded.rejected);
        let _ = batch.rejection_message();
    }
    let _ = tempo_core::Batch::decode(bytes::Bytes::copy_from_slice(data));
});
