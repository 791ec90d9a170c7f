//! OTLP receivers for the tempo trace store.
//!
//! `tempo-otlp` accepts spans from OpenTelemetry SDKs and collectors and stores them in a
//! [`tempo_core::Store`]:
//!
//! - OTLP/gRPC, `opentelemetry.proto.collector.trace.v1.TraceService/Export`
//!   ([`TraceServiceServer`], for tonic), with gzip and zstd compression;
//! - OTLP/HTTP, `POST /v1/traces` ([`http_router`], for axum), with protobuf and JSON bodies,
//!   plain, gzip or deflate.
//!
//! Both validate IDs, drop and count malformed spans in OTLP's partial success, resolve the
//! tenant from `X-Scope-OrgID` when multi-tenancy is on, and acknowledge a request only once
//! its spans are durable in the store's write-ahead log.
//!
//! It is not a server: `tempo-server` binds the sockets. It does not speak Jaeger or Zipkin yet.
//!
//! ```
//! use tempo_otlp::{Receiver, ReceiverConfig, decode_traces_json};
//!
//! let store = tempo_core::Store::in_memory();
//! let receiver = Receiver::new(store, ReceiverConfig::default());
//! // Mount `tempo_otlp::http_router(receiver.clone())` in axum, and
//! // `tempo_otlp::TraceServiceServer::new(receiver)` in tonic.
//! # let _ = receiver;
//!
//! let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{
//!     "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
//!     "name":"GET /","kind":"SPAN_KIND_SERVER"}]}]}]}"#;
//! let decoded = decode_traces_json(body)?;
//! assert_eq!(decoded.resource_spans[0].scope_spans[0].spans[0].name, "GET /");
//! # Ok::<(), tempo_otlp::JsonError>(())
//! ```
//!
//! This crate has no cargo features yet.

mod grpc;
mod http;
mod json;
mod receiver;
mod response;

pub use grpc::{SERVICE_NAME, TraceServiceServer};
pub use http::{TRACES_PATH, router as http_router};
pub use json::{DecodedJson, JsonError, decode_traces_json};
pub use receiver::{
    IngestEvent, IngestObserver, NoopObserver, Receiver, ReceiverConfig, Transport,
};
pub use response::{ExportTracePartialSuccess, ExportTraceServiceResponse, RpcStatus};
