//! An embeddable distributed-tracing store that speaks Grafana Tempo's language.
//!
//! This package is the facade: it re-exports the crates a host needs.
//!
//! - [`core`] (`tempo-core`): the data model, the write-ahead log, the head and the
//!   [`core::Store`] handle.
//! - [`otlp`] (`tempo-otlp`): OTLP/gRPC and OTLP/HTTP receivers storing into a `Store`.
//! - [`traceql`] (`tempo-traceql`): the TraceQL language: parser, validation, formatter.
//!
//! The server binary with Tempo's HTTP API is the `tempo-server` package. This package is not
//! a network server by itself, and has no cargo features yet.
//!
//! ```
//! use tempo::core::model::{ResourceSpans, ScopeSpans, Span, TraceId};
//! use tempo::core::{Batch, Store, TimeRange};
//!
//! let store = Store::in_memory();
//! let span = Span {
//!     trace_id: vec![7; 16],
//!     span_id: vec![1; 8],
//!     name: "GET /cart".into(),
//!     ..Default::default()
//! };
//! let scope_spans = vec![ScopeSpans { spans: vec![span], ..Default::default() }];
//! store.ingest("single-tenant", Batch::new(vec![ResourceSpans { scope_spans, ..Default::default() }]))?;
//! let trace = store.find_trace("single-tenant", TraceId([7; 16]), TimeRange::ALL)?;
//! assert!(trace.is_some());
//!
//! let query = tempo::traceql::parse("{ span.http.response.status_code = 500 }");
//! assert!(query.is_ok());
//! # Ok::<(), tempo::core::Error>(())
//! ```

pub use tempo_core as core;
pub use tempo_otlp as otlp;
pub use tempo_traceql as traceql;
