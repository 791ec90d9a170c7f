//! An embeddable distributed-tracing store that speaks Grafana Tempo's language.
//!
//! OpenTelemetry spans in; TraceQL and Tempo's query API out. This package is the facade: it
//! re-exports the crates a host needs, so that one dependency gives a Rust service (or its
//! test suite) a trace store of its own, in-process, with no network and no server:
//!
//! - [`core`] (`tempo-core`): the [`core::Store`] handle and everything under it: the data
//!   model (OTLP's, field for field), the write-ahead log, the head of recent traces, columnar
//!   blocks on a pluggable [`core::backend::Backend`] (local disk, memory, or your own),
//!   TraceQL search, compaction and retention.
//! - [`otlp`] (`tempo-otlp`): spans into a `Store`: the OTLP/gRPC and OTLP/HTTP receivers, the
//!   in-process OpenTelemetry SDK exporter `otlp::sdk::StoreExporter`, and the test harness
//!   `otlp::testing::Harness` (TraceQL assertions on your code's spans).
//! - [`traceql`] (`tempo-traceql`): the TraceQL language: parser, validation, formatter.
//!
//! A service that stores and queries its own spans:
//!
//! ```
//! use opentelemetry::KeyValue;
//! use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _, TracerProvider as _};
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//! use tempo::core::{SINGLE_TENANT, SearchRequest, Store, TimeRange};
//! use tempo::otlp::sdk::StoreExporter;
//!
//! // An in-memory store; `Store::builder().wal_dir(..).local_blocks(..)?.open()?` for disk.
//! let store = Store::in_memory();
//! let provider = SdkTracerProvider::builder()
//!     .with_batch_exporter(StoreExporter::new(store.clone()))
//!     .build();
//! let tracer = provider.tracer("checkout");
//! tracer.in_span("GET /cart", |cx| {
//!     cx.span().set_attribute(KeyValue::new("http.response.status_code", 500));
//!     tracer.in_span("SELECT cart", |_cx| {});
//! });
//! provider.force_flush()?;
//!
//! let query = "{ span.http.response.status_code = 500 } > { }";
//! let found = store.search(SINGLE_TENANT, &SearchRequest::new(query))?;
//! assert_eq!(found.traces[0].span_sets[0].spans[0].name, "SELECT cart");
//! let trace = store.find_trace(SINGLE_TENANT, found.traces[0].trace_id, TimeRange::ALL)?;
//! assert_eq!(trace.map(|t| t.resource_spans[0].scope_spans[0].spans.len()), Some(2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The examples (`cargo run --example NAME`) go further: `embedded_service` (an HTTP service
//! recording its traces on disk and serving Tempo's API for them on a side port),
//! `test_harness` (asserting on spans with TraceQL in tests), `custom_backend` (blocks on
//! storage of your own), `query` (TraceQL from the command line over a store directory) and
//! `loadgen` (the standard workload over OTLP).
//!
//! # Cargo features
//!
//! The features of `tempo-otlp`, forwarded:
//!
//! - `sdk` (on by default): `otlp::sdk`, the in-process exporter;
//! - `testing`: `otlp::testing`, the harness (for `[dev-dependencies]`);
//! - `tracing`: the harness's `tracing` + `tracing-opentelemetry` integration.
//!
//! # What this package is not
//!
//! It is not a server: the binary serving Tempo's HTTP API and the OTLP receivers on their
//! ports is the `tempo-server` package. It stores traces only (no metrics, no logs), and it
//! is not a collector: it does not sample, forward or transform spans.

pub use tempo_core as core;
pub use tempo_otlp as otlp;
pub use tempo_traceql as traceql;
