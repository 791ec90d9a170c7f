//! model: what does a Jaeger client send?
//!
//! Jaeger's span model, one shape for what arrives over Thrift (`jaeger.thrift`) and over
//! gRPC (`api_v2/model.proto`): IDs as the 64-bit halves Thrift carries, times in
//! nanoseconds (Thrift's microseconds are multiplied out).

/// A batch of spans from one process, as a Jaeger client or agent sends it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// The process (service) that produced the spans; `None` when the sender sent none
    /// (possible over gRPC only).
    pub process: Option<Process>,
    /// The spans.
    pub spans: Vec<Span>,
}

/// The process that produced spans: a service name and its tags.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Process {
    /// The service name.
    pub service_name: String,
    /// Process tags (`hostname`, `ip`, `jaeger.version`, ...).
    pub tags: Vec<Tag>,
}

/// One Jaeger span.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Span {
    /// The trace ID's upper 64 bits (zero for 64-bit trace IDs).
    pub trace_id_high: u64,
    /// The trace ID's lower 64 bits.
    pub trace_id_low: u64,
    /// The span ID.
    pub span_id: u64,
    /// The parent's span ID, zero for none. Thrift carries it; over gRPC it is zero and the
    /// parent is the first `CHILD_OF` reference within the same trace.
    pub parent_span_id: u64,
    /// The operation name.
    pub operation_name: String,
    /// References to other spans.
    pub references: Vec<SpanRef>,
    /// Jaeger's flags (sampled, debug); not carried into OTLP.
    pub flags: u32,
    /// Start, in nanoseconds since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// Duration, in nanoseconds.
    pub duration_nano: u64,
    /// Span tags.
    pub tags: Vec<Tag>,
    /// Logs, each a timestamp and fields.
    pub logs: Vec<Log>,
    /// The span's own process, overriding the batch's (gRPC only).
    pub process: Option<Process>,
}

/// A key and a typed value.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    /// The key.
    pub key: String,
    /// The value.
    pub value: TagValue,
}

impl Tag {
    /// A tag.
    pub fn new(key: impl Into<String>, value: TagValue) -> Tag {
        Tag {
            key: key.into(),
            value,
        }
    }
}

/// A tag's value, of one of Jaeger's five types.
#[derive(Debug, Clone, PartialEq)]
pub enum TagValue {
    /// `STRING`.
    String(String),
    /// `DOUBLE` (`FLOAT64`).
    Double(f64),
    /// `BOOL`.
    Bool(bool),
    /// `LONG` (`INT64`).
    Long(i64),
    /// `BINARY`.
    Binary(Vec<u8>),
}

/// A log: a timestamp and fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Log {
    /// When, in nanoseconds since the Unix epoch.
    pub timestamp_unix_nano: u64,
    /// The fields; an `event` field names the OTLP event.
    pub fields: Vec<Tag>,
}

/// How a span refers to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanRefType {
    /// The other span is a parent.
    ChildOf,
    /// The other span caused this one, without waiting for it.
    FollowsFrom,
}

/// A reference to another span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanRef {
    /// The kind of reference.
    pub ref_type: SpanRefType,
    /// The other span's trace ID, upper 64 bits.
    pub trace_id_high: u64,
    /// The other span's trace ID, lower 64 bits.
    pub trace_id_low: u64,
    /// The other span's ID.
    pub span_id: u64,
}
