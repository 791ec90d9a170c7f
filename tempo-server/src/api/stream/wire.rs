//! wire: Tempo's `tempopb` messages of the streaming querier, written here with Tempo's
//! field numbers and types.
//!
//! Only what a client sends and what this server answers is defined; fields of Tempo's
//! internal (querier-to-frontend) requests are left out, and unknown fields are skipped when
//! decoding, as protobuf does. The metrics answers are those of the HTTP API
//! ([`crate::render::metrics_query::wire`]).

use std::collections::HashMap;

use tempo_core::model::KeyValue;

/// `tempopb.SearchRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SearchRequest {
    /// Legacy tag search: attribute names to values.
    #[prost(map = "string, string", tag = "1")]
    pub(crate) tags: HashMap<String, String>,
    /// Shortest trace, milliseconds (0: none).
    #[prost(uint32, tag = "2")]
    pub(crate) min_duration_ms: u32,
    /// Longest trace, milliseconds (0: none).
    #[prost(uint32, tag = "3")]
    pub(crate) max_duration_ms: u32,
    /// Most traces (0: the default).
    #[prost(uint32, tag = "4")]
    pub(crate) limit: u32,
    /// Start, unix seconds (0: open).
    #[prost(uint32, tag = "5")]
    pub(crate) start: u32,
    /// End, unix seconds (0: open).
    #[prost(uint32, tag = "6")]
    pub(crate) end: u32,
    /// The TraceQL query.
    #[prost(string, tag = "8")]
    pub(crate) query: String,
    /// Most spans per spanset (0: the default).
    #[prost(uint32, tag = "9")]
    pub(crate) spans_per_span_set: u32,
}

/// `tempopb.SearchResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SearchResponse {
    /// The traces.
    #[prost(message, repeated, tag = "1")]
    pub(crate) traces: Vec<TraceSearchMetadata>,
    /// What the search read.
    #[prost(message, optional, tag = "2")]
    pub(crate) metrics: Option<SearchMetrics>,
}

/// `tempopb.TraceSearchMetadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TraceSearchMetadata {
    /// The trace ID, hex, leading zeros trimmed.
    #[prost(string, tag = "1")]
    pub(crate) trace_id: String,
    /// The root span's service.
    #[prost(string, tag = "2")]
    pub(crate) root_service_name: String,
    /// The root span's name.
    #[prost(string, tag = "3")]
    pub(crate) root_trace_name: String,
    /// The trace's start, unix nanoseconds.
    #[prost(uint64, tag = "4")]
    pub(crate) start_time_unix_nano: u64,
    /// The trace's duration, whole milliseconds.
    #[prost(uint32, tag = "5")]
    pub(crate) duration_ms: u32,
    /// The first spanset (deprecated by Tempo, still filled).
    #[prost(message, optional, tag = "6")]
    pub(crate) span_set: Option<SpanSet>,
    /// The spansets.
    #[prost(message, repeated, tag = "7")]
    pub(crate) span_sets: Vec<SpanSet>,
    /// Spans and errors per service.
    #[prost(map = "string, message", tag = "8")]
    pub(crate) service_stats: HashMap<String, ServiceStats>,
}

/// `tempopb.ServiceStats`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ServiceStats {
    /// Spans of the service.
    #[prost(uint32, tag = "1")]
    pub(crate) span_count: u32,
    /// Of which in error.
    #[prost(uint32, tag = "2")]
    pub(crate) error_count: u32,
}

/// `tempopb.SpanSet`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SpanSet {
    /// Its spans, at most the request's spans per spanset.
    #[prost(message, repeated, tag = "1")]
    pub(crate) spans: Vec<Span>,
    /// How many spans matched.
    #[prost(uint32, tag = "2")]
    pub(crate) matched: u32,
    /// Its attributes (the results of aggregates).
    #[prost(message, repeated, tag = "3")]
    pub(crate) attributes: Vec<KeyValue>,
}

/// `tempopb.Span`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Span {
    /// The span ID, 16 hex digits.
    #[prost(string, tag = "1")]
    pub(crate) span_id: String,
    /// Its name.
    #[prost(string, tag = "2")]
    pub(crate) name: String,
    /// Its start, unix nanoseconds.
    #[prost(uint64, tag = "3")]
    pub(crate) start_time_unix_nano: u64,
    /// Its duration, nanoseconds.
    #[prost(uint64, tag = "4")]
    pub(crate) duration_nanos: u64,
    /// The attributes the query named.
    #[prost(message, repeated, tag = "5")]
    pub(crate) attributes: Vec<KeyValue>,
}

pub(crate) use crate::render::metrics_query::wire::SearchMetrics;

/// `tempopb.SearchTagsRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SearchTagsRequest {
    /// The one scope to list (empty: all).
    #[prost(string, tag = "1")]
    pub(crate) scope: String,
    /// A TraceQL query the spans must meet.
    #[prost(string, tag = "2")]
    pub(crate) query: String,
    /// Start, unix seconds (0: open).
    #[prost(uint32, tag = "3")]
    pub(crate) start: u32,
    /// End, unix seconds (0: open).
    #[prost(uint32, tag = "4")]
    pub(crate) end: u32,
    /// Most names per scope (0: the default).
    #[prost(uint32, tag = "5")]
    pub(crate) max_tags_per_scope: u32,
}

/// `tempopb.MetadataMetrics`: what a tag lookup read.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct MetadataMetrics {
    /// Bytes read.
    #[prost(uint64, tag = "1")]
    pub(crate) inspected_bytes: u64,
    /// Jobs in all.
    #[prost(uint32, tag = "2")]
    pub(crate) total_jobs: u32,
    /// Jobs finished.
    #[prost(uint32, tag = "3")]
    pub(crate) completed_jobs: u32,
}

/// `tempopb.SearchTagsResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SearchTagsResponse {
    /// The names, sorted.
    #[prost(string, repeated, tag = "1")]
    pub(crate) tag_names: Vec<String>,
    /// What the lookup read.
    #[prost(message, optional, tag = "2")]
    pub(crate) metrics: Option<MetadataMetrics>,
}

/// `tempopb.SearchTagsV2Response`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SearchTagsV2Response {
    /// The names per scope.
    #[prost(message, repeated, tag = "1")]
    pub(crate) scopes: Vec<SearchTagsV2Scope>,
    /// What the lookup read.
    #[prost(message, optional, tag = "2")]
    pub(crate) metrics: Option<MetadataMetrics>,
}

/// `tempopb.SearchTagsV2Scope`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SearchTagsV2Scope {
    /// The scope: `resource`, `span`, `event`, `link`, `instrumentation`, `intrinsic`.
    #[prost(string, tag = "1")]
    pub(crate) name: String,
    /// Its names, sorted.
    #[prost(string, repeated, tag = "2")]
    pub(crate) tags: Vec<String>,
}

/// `tempopb.SearchTagValuesRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SearchTagValuesRequest {
    /// The tag.
    #[prost(string, tag = "1")]
    pub(crate) tag_name: String,
    /// A TraceQL query the spans must meet.
    #[prost(string, tag = "2")]
    pub(crate) query: String,
    /// Start, unix seconds (0: open).
    #[prost(uint32, tag = "4")]
    pub(crate) start: u32,
    /// End, unix seconds (0: open).
    #[prost(uint32, tag = "5")]
    pub(crate) end: u32,
    /// Most values (0: the default).
    #[prost(uint32, tag = "6")]
    pub(crate) max_tag_values: u32,
}

/// `tempopb.SearchTagValuesResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SearchTagValuesResponse {
    /// The values as text.
    #[prost(string, repeated, tag = "1")]
    pub(crate) tag_values: Vec<String>,
    /// What the lookup read.
    #[prost(message, optional, tag = "2")]
    pub(crate) metrics: Option<MetadataMetrics>,
}

/// `tempopb.TagValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TagValue {
    /// Its type: `string`, `int`, `float`, `bool`, `duration`, `status`, `kind`, `keyword`.
    #[prost(string, tag = "1")]
    pub(crate) r#type: String,
    /// The value as text.
    #[prost(string, tag = "2")]
    pub(crate) value: String,
}

/// `tempopb.SearchTagValuesV2Response`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SearchTagValuesV2Response {
    /// The values with their types.
    #[prost(message, repeated, tag = "1")]
    pub(crate) tag_values: Vec<TagValue>,
    /// What the lookup read.
    #[prost(message, optional, tag = "2")]
    pub(crate) metrics: Option<MetadataMetrics>,
}

/// `tempopb.QueryRangeRequest`, the fields a client sets.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct QueryRangeRequest {
    /// The TraceQL metrics query.
    #[prost(string, tag = "1")]
    pub(crate) query: String,
    /// Start, unix nanoseconds.
    #[prost(uint64, tag = "2")]
    pub(crate) start: u64,
    /// End, unix nanoseconds.
    #[prost(uint64, tag = "3")]
    pub(crate) end: u64,
    /// Step, nanoseconds (0: the default).
    #[prost(uint64, tag = "4")]
    pub(crate) step: u64,
    /// Exemplars wanted (0: the server's cap).
    #[prost(uint32, tag = "16")]
    pub(crate) exemplars: u32,
    /// Most series (0: the server's cap).
    #[prost(uint32, tag = "17")]
    pub(crate) max_series: u32,
}

/// `tempopb.QueryInstantRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct QueryInstantRequest {
    /// The TraceQL metrics query.
    #[prost(string, tag = "1")]
    pub(crate) query: String,
    /// Start, unix nanoseconds.
    #[prost(uint64, tag = "2")]
    pub(crate) start: u64,
    /// End, unix nanoseconds.
    #[prost(uint64, tag = "3")]
    pub(crate) end: u64,
}
