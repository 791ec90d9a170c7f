//! OpenTelemetry in, for the tempo trace store: OTLP receivers, an in-process SDK exporter and
//! a test harness.
//!
//! `tempo-otlp` puts spans into a [`tempo_core::Store`] three ways:
//!
//! - over the network, from OpenTelemetry SDKs and collectors:
//!   - OTLP/gRPC, `opentelemetry.proto.collector.trace.v1.TraceService/Export`
//!     ([`TraceServiceServer`], for tonic), with gzip and zstd compression;
//!   - OTLP/HTTP, `POST /v1/traces` ([`http_router`], for axum), with protobuf and JSON
//!     bodies, plain, gzip or deflate.
//!
//!   Both validate spans, drop and count in OTLP's partial success those with malformed IDs
//!   or with attribute values nested deeper than [`tempo_core::MAX_ANY_VALUE_DEPTH`] (a
//!   resource or scope nested too deep takes its spans with it), resolve the tenant from
//!   `X-Scope-OrgID` when multi-tenancy is on, and acknowledge a request only once its spans
//!   are durable in the store's write-ahead log. A body that is not OTLP at all, however deep
//!   its nesting, is refused whole with a message.
//! - over the network, from Jaeger and Zipkin clients ([`jaeger`], [`zipkin`]): Jaeger's
//!   Thrift over HTTP and UDP (binary and compact protocols) and gRPC, Zipkin's v2 JSON and
//!   protobuf and v1 JSON; spans are mapped into OTLP as the OpenTelemetry Collector maps
//!   them ([`jaeger::batch_to_resource_spans`], [`zipkin::spans_to_resource_spans`]) and
//!   stored through the same path, with the same tenant rules and acknowledgement;
//! - in-process, from the OpenTelemetry Rust SDK: [`sdk::StoreExporter`] is a `SpanExporter`
//!   that converts the SDK's spans straight into the store's model (no protobuf round trip),
//!   so a service records and queries its own traces with no collector and no server;
//! - in tests: `testing::Harness` wires an in-memory store to a tracer provider (and to
//!   `tracing`) and asserts on the spans with TraceQL, printing readable trace trees when an
//!   assertion fails.
//!
//! ```
//! use opentelemetry::trace::{Tracer as _, TracerProvider as _};
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//! use tempo_core::{SearchRequest, Store};
//! use tempo_otlp::sdk::StoreExporter;
//!
//! // In-process: the service's own spans, stored as they end.
//! let store = Store::in_memory();
//! let provider = SdkTracerProvider::builder()
//!     .with_batch_exporter(StoreExporter::new(store.clone()))
//!     .build();
//! let tracer = provider.tracer("checkout");
//! tracer.in_span("POST /cart", |_cx| tracer.in_span("SELECT cart", |_cx| {}));
//! provider.force_flush()?;
//! let found = store.search(
//!     "single-tenant",
//!     &SearchRequest::new(r#"{ name = "POST /cart" } > { name = "SELECT cart" }"#),
//! )?;
//! assert_eq!(found.traces.len(), 1);
//!
//! // Over the network: mount the receivers in a server of your own.
//! let receiver = tempo_otlp::Receiver::new(store, tempo_otlp::ReceiverConfig::default());
//! let _http: axum::Router = tempo_otlp::http_router(receiver.clone());
//! let _grpc = tempo_otlp::TraceServiceServer::new(receiver);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Cargo features
//!
//! - `sdk` (default): [`sdk::StoreExporter`], the in-process exporter for the OpenTelemetry
//!   SDK (`opentelemetry` and `opentelemetry_sdk` 0.33, trace only). Turn default features
//!   off for the receivers alone.
//! - `testing`: `testing::Harness` and its TraceQL assertions; implies `sdk`. Meant for
//!   `[dev-dependencies]`.
//! - `tracing`: the harness's `tracing` integration (`tracing-opentelemetry` 0.34):
//!   `Harness::tracing_layer`, `tracing_dispatch` and `set_tracing_default`; implies
//!   `testing`.
//!
//! # What this crate is not
//!
//! It is not a server: it binds no socket (`tempo-server` does) and serves no query API. It is
//! not a collector: it neither samples, batches across processes, nor forwards spans
//! elsewhere. It does not serve Jaeger's or Zipkin's query APIs, and it handles traces only,
//! not metrics or logs.

mod attrs;
mod grpc;
mod http;
pub mod jaeger;
mod json;
mod receiver;
mod response;
#[cfg(feature = "sdk")]
pub mod sdk;
pub mod status;
#[cfg(feature = "testing")]
pub mod testing;
mod thrift;
pub mod zipkin;

pub use grpc::{SERVICE_NAME, TraceServiceServer};
pub use http::{TRACES_PATH, router as http_router};
pub use json::{DecodedJson, JsonError, decode_traces_json};
pub use receiver::{
    IngestEvent, IngestObserver, NoopObserver, Receiver, ReceiverConfig, Transport,
};
pub use response::{ExportTracePartialSuccess, ExportTraceServiceResponse, RpcStatus};
pub use thrift::{MAX_DEPTH as MAX_THRIFT_DEPTH, ThriftError, ThriftProtocol};
