//! No payload makes the Jaeger Thrift readers (binary and compact, bare batch and agent
//! datagram) or the Jaeger protobuf decoder panic; whatever decodes maps into OTLP and
//! validates into a batch.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tempo_otlp::ThriftProtocol;
use tempo_otlp::jaeger;

fuzz_target!(|data: &[u8]| {
    for protocol in [ThriftProtocol::Binary, ThriftProtocol::Compact] {
        for decoded in [
            jaeger::decode_thrift_batch(data, protocol),
            jaeger::decode_agent_datagram(data, protocol),
        ] {
            if let Ok(batch) = decoded {
                let _ = tempo_core::Batch::new(jaeger::batch_to_resource_spans(batch));
            }
        }
    }
    if let Ok(batch) = jaeger::decode_post_spans(data) {
        let _ = tempo_core::Batch::new(jaeger::batch_to_resource_spans(batch));
    }
});
