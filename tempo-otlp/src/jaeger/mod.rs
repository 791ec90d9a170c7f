//! jaeger: how do spans from Jaeger clients and agents get in?
//!
//! Jaeger's four ways of sending spans, as Tempo's Jaeger receiver (the OpenTelemetry
//! Collector's) takes them, all mapped into OTLP by [`batch_to_resource_spans`] and stored
//! through the same path as OTLP:
//!
//! | Protocol | Where | Here |
//! |---|---|---|
//! | Thrift binary over HTTP | `POST /api/traces` (port 14268) | [`thrift_http_router`] |
//! | gRPC `jaeger.api_v2.CollectorService/PostSpans` | port 14250 | [`CollectorServiceServer`] |
//! | Thrift compact over UDP, `Agent.emitBatch` | port 6831 | [`serve_agent_udp`] with [`ThriftProtocol::Compact`] |
//! | Thrift binary over UDP, `Agent.emitBatch` | port 6832 | [`serve_agent_udp`] with [`ThriftProtocol::Binary`] |
//!
//! The decoders are public too, for spans that arrive some other way:
//! [`decode_thrift_batch`], [`decode_agent_datagram`] and [`decode_post_spans`] into the
//! [`Batch`] model, then [`batch_to_resource_spans`].
//!
//! [`ThriftProtocol::Compact`]: crate::ThriftProtocol::Compact
//! [`ThriftProtocol::Binary`]: crate::ThriftProtocol::Binary

mod grpc;
mod http;
mod map;
mod model;
pub mod proto;
mod thrift;
mod udp;

pub use grpc::{CollectorServiceServer, JAEGER_SERVICE_NAME, POST_SPANS_PATH};
pub use http::{JAEGER_TRACES_PATH, thrift_http_router};
pub use map::batch_to_resource_spans;
pub use model::{Batch, Log, Process, Span, SpanRef, SpanRefType, Tag, TagValue};
pub use proto::{JaegerProtoError, decode_post_spans};
pub use thrift::{
    decode_agent_datagram, decode_thrift_batch, encode_agent_datagram, encode_thrift_batch,
};
pub use udp::serve_agent_udp;
