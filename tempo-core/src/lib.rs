//! The storage engine of the tempo trace store.
//!
//! `tempo-core` stores OpenTelemetry spans and reads them back. It holds the data model
//! ([`model`], wire-compatible with OTLP's protobuf), the write-ahead log that makes every
//! acknowledged span survive a crash, the head that serves traces from the moment they are
//! acknowledged, the columnar blocks they are cut into (with compaction and retention), and
//! the TraceQL engine ([`query`]: search and metrics) that reads head and blocks alike. A
//! host holds one [`Store`]: [`Store::ingest`], [`Store::find_trace`], [`Store::search`],
//! [`Store::metrics`], [`Store::tag_names`], [`Store::tag_values`].
//!
//! It is not a network server: the OTLP receivers live in `tempo-otlp` and Tempo's HTTP API in
//! `tempo-server`. It never depends on an async runtime: every operation has a blocking form,
//! and ingestion also returns a future that any runtime can await.
//!
//! ```
//! use tempo_core::model::{KeyValue, Resource, ResourceSpans, ScopeSpans, Span, TraceId};
//! use tempo_core::{Batch, Store, TimeRange};
//!
//! # fn main() -> Result<(), tempo_core::Error> {
//! let dir = std::env::temp_dir().join(format!("tempo-core-doc-{}", std::process::id()));
//! let store = Store::builder().wal_dir(&dir).open()?;
//! let now = std::time::SystemTime::now()
//!     .duration_since(std::time::UNIX_EPOCH)
//!     .map_or(0, |d| d.as_nanos() as u64);
//! let batch = Batch::new(vec![ResourceSpans {
//!     resource: Some(Resource {
//!         attributes: vec![KeyValue::string("service.name", "checkout")],
//!         ..Default::default()
//!     }),
//!     scope_spans: vec![ScopeSpans {
//!         spans: vec![Span {
//!             trace_id: vec![7; 16],
//!             span_id: vec![1; 8],
//!             name: "POST /cart".into(),
//!             start_time_unix_nano: now - 2_000_000_000,
//!             end_time_unix_nano: now - 1_000_000_000,
//!             ..Default::default()
//!         }],
//!         ..Default::default()
//!     }],
//!     ..Default::default()
//! }]);
//! // Returns once the span is durable in the write-ahead log.
//! let receipt = store.ingest("single-tenant", batch)?;
//! assert_eq!(receipt.accepted_spans, 1);
//! store.close()?;
//!
//! // Reopening replays the log: the trace is still there.
//! let store = Store::builder().wal_dir(&dir).open()?;
//! let trace = store.find_trace("single-tenant", TraceId([7; 16]), TimeRange::ALL)?;
//! assert!(trace.is_some());
//!
//! // TraceQL over everything the store holds, newest traces first.
//! let found = store.search(
//!     "single-tenant",
//!     &tempo_core::SearchRequest::new(r#"{ resource.service.name = "checkout" }"#),
//! )?;
//! assert_eq!(found.traces[0].root_trace_name.as_deref(), Some("POST /cart"));
//!
//! // TraceQL metrics: spans per service over the last hour, as one value each.
//! let hour = 3600 * 1_000_000_000;
//! let request = tempo_core::MetricsRequest::instant(
//!     "{ } | count_over_time() by (resource.service.name)",
//!     now - hour,
//!     now,
//! );
//! let answer = store.metrics("single-tenant", &request)?;
//! assert_eq!(answer.series[0].prom_labels(), r#"{resource.service.name="checkout"}"#);
//! assert_eq!(answer.series[0].samples[0].value, 1.0);
//! # store.close()?;
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok(())
//! # }
//! ```
//!
//! This crate has no cargo features yet.

pub mod backend;
mod batch;
mod block;
#[doc(hidden)]
pub mod bloom;
mod bucket;
mod catalog;
mod compact;
mod config;
mod cut;
mod error;
pub mod generator;
mod head;
pub mod model;
mod nesting;
pub mod query;
mod retention;
mod spans;
mod state;
mod store;
mod tenant;
mod wal;

pub use batch::{Batch, DecodeError};
#[doc(hidden)]
pub use block::encoding::fuzz_decode_chunk;
pub use block::inspect::{
    BlockListing, BlockReport, BlockState, BloomReport, ColumnReport, RowGroupReport,
    inspect_block, list_blocks,
};
#[doc(hidden)]
pub use block::reader::fuzz_decode_row_group;
pub use block::{BlockError, BlockMeta, FORMAT_VERSION as BLOCK_FORMAT_VERSION};
pub use catalog::SetAside;
pub use config::{Config, TenantLimits};
pub use error::{
    Error, ErrorKind, FindError, FlushError, IngestError, MetricsError, OpenError, SearchError,
    TagsError, TenantError,
};
pub use model::TimeRange;
pub use nesting::MAX_ANY_VALUE_DEPTH;
pub use query::{
    CancelOnDrop, CancelToken, Exemplar, Label, LabelValue, MAX_EXEMPLARS, MatchedSpan,
    MetricsPartial, MetricsRequest, MetricsResponse, PartialDecodeError, QueryError, Sample,
    SearchMetrics, SearchProgress, SearchRequest, SearchResponse, ServiceStats, SpanSet, TagScope,
    TagValue, TagValueType, TimeSeries, TraceMatch,
};
pub use store::{FoundTrace, IngestReceipt, SINGLE_TENANT, Store, StoreBuilder, StoreStats};
pub use tenant::{MAX_TENANT_LEN, validate_tenant};
#[doc(hidden)]
pub use wal::fuzz_replay_segment;
pub use wal::{Ack, FsyncPolicy, ReplayReport, WalError};
