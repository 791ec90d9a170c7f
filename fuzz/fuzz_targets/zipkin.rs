//! No body makes the Zipkin decoders (v2 JSON, v1 JSON, v2 protobuf) panic; whatever decodes
//! maps into OTLP and validates into a batch.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tempo_otlp::zipkin;

fuzz_target!(|data: &[u8]| {
    for decoded in [
        zipkin::decode_json_v2(data),
        zipkin::decode_json_v1(data),
        zipkin::decode_proto(data),
    ] {
        if let Ok(spans) = decoded {
            let _ = tempo_core::Batch::new(zipkin::spans_to_resource_spans(spans));
        }
    }
});
