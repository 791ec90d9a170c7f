//! model: what is a span?
//!
//! The trace data model, field for field the one of OpenTelemetry's `trace.proto`. The types
//! derive [`prost::Message`] with OTLP's own field numbers, so that an OTLP
//! `ExportTraceServiceRequest`, OTLP's `TracesData` and Tempo's `Trace` decode straight into
//! [`TracesData`] and encode back out without a mapping step.

use std::fmt;

/// A batch of spans grouped by resource, then by instrumentation scope.
///
/// Wire-compatible with OTLP's `TracesData` and `ExportTraceServiceRequest`, and with Tempo's
/// `Trace` message (whose field 1 is called `batches`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TracesData {
    /// Spans grouped by the resource that produced them.
    #[prost(message, repeated, tag = "1")]
    pub resource_spans: Vec<ResourceSpans>,
}

/// The spans of one resource (a service instance).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceSpans {
    /// The resource; `None` when the sender sent none.
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// Spans grouped by instrumentation scope.
    #[prost(message, repeated, tag = "2")]
    pub scope_spans: Vec<ScopeSpans>,
    /// The schema URL of the resource.
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

/// The entity that produced telemetry, described by attributes such as `service.name`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    /// Resource attributes.
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender dropped.
    #[prost(uint32, tag = "2")]
    pub dropped_attributes_count: u32,
}

/// The spans of one instrumentation scope within a resource.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeSpans {
    /// The instrumentation scope; `None` when the sender sent none.
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    /// The spans.
    #[prost(message, repeated, tag = "2")]
    pub spans: Vec<Span>,
    /// The schema URL of the scope.
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

/// The library that produced a span.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InstrumentationScope {
    /// Name of the instrumentation library.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Version of the instrumentation library.
    #[prost(string, tag = "2")]
    pub version: String,
    /// Scope attributes.
    #[prost(message, repeated, tag = "3")]
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender dropped.
    #[prost(uint32, tag = "4")]
    pub dropped_attributes_count: u32,
}

/// One operation within a trace.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Span {
    /// 16-byte trace ID.
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// 8-byte span ID.
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    /// W3C trace state.
    #[prost(string, tag = "3")]
    pub trace_state: String,
    /// 8-byte ID of the parent span; empty for a root span.
    #[prost(bytes = "vec", tag = "4")]
    pub parent_span_id: Vec<u8>,
    /// Operation name.
    #[prost(string, tag = "5")]
    pub name: String,
    /// Span kind, as [`SpanKind`] values.
    #[prost(enumeration = "SpanKind", tag = "6")]
    pub kind: i32,
    /// Start, in nanoseconds since the Unix epoch.
    #[prost(fixed64, tag = "7")]
    pub start_time_unix_nano: u64,
    /// End, in nanoseconds since the Unix epoch.
    #[prost(fixed64, tag = "8")]
    pub end_time_unix_nano: u64,
    /// Span attributes.
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender dropped.
    #[prost(uint32, tag = "10")]
    pub dropped_attributes_count: u32,
    /// Timed events.
    #[prost(message, repeated, tag = "11")]
    pub events: Vec<Event>,
    /// Events the sender dropped.
    #[prost(uint32, tag = "12")]
    pub dropped_events_count: u32,
    /// Links to other spans.
    #[prost(message, repeated, tag = "13")]
    pub links: Vec<Link>,
    /// Links the sender dropped.
    #[prost(uint32, tag = "14")]
    pub dropped_links_count: u32,
    /// Status; `None` is the same as unset.
    #[prost(message, optional, tag = "15")]
    pub status: Option<Status>,
    /// W3C trace flags and OTLP's span flags.
    #[prost(fixed32, tag = "16")]
    pub flags: u32,
}

/// A timed event within a span.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    /// When, in nanoseconds since the Unix epoch.
    #[prost(fixed64, tag = "1")]
    pub time_unix_nano: u64,
    /// Event name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Event attributes.
    #[prost(message, repeated, tag = "3")]
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender dropped.
    #[prost(uint32, tag = "4")]
    pub dropped_attributes_count: u32,
}

/// A link from a span to another span, of this trace or another.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Link {
    /// Trace ID of the linked span.
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// Span ID of the linked span.
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    /// W3C trace state of the link.
    #[prost(string, tag = "3")]
    pub trace_state: String,
    /// Link attributes.
    #[prost(message, repeated, tag = "4")]
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender dropped.
    #[prost(uint32, tag = "5")]
    pub dropped_attributes_count: u32,
    /// W3C trace flags of the link.
    #[prost(fixed32, tag = "6")]
    pub flags: u32,
}

/// A span's status.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    /// Developer-facing message.
    #[prost(string, tag = "2")]
    pub message: String,
    /// Status code, as [`StatusCode`] values.
    #[prost(enumeration = "StatusCode", tag = "3")]
    pub code: i32,
}

/// A span's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum SpanKind {
    /// Unspecified.
    Unspecified = 0,
    /// An internal operation.
    Internal = 1,
    /// The server side of a synchronous request.
    Server = 2,
    /// The client side of a synchronous request.
    Client = 3,
    /// The producer of an asynchronous message.
    Producer = 4,
    /// The consumer of an asynchronous message.
    Consumer = 5,
}

impl SpanKind {
    /// OTLP's enum name, as in JSON (`SPAN_KIND_SERVER`).
    pub fn otlp_name(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "SPAN_KIND_UNSPECIFIED",
            SpanKind::Internal => "SPAN_KIND_INTERNAL",
            SpanKind::Server => "SPAN_KIND_SERVER",
            SpanKind::Client => "SPAN_KIND_CLIENT",
            SpanKind::Producer => "SPAN_KIND_PRODUCER",
            SpanKind::Consumer => "SPAN_KIND_CONSUMER",
        }
    }

    /// The kind for an OTLP enum name.
    pub fn from_otlp_name(name: &str) -> Option<SpanKind> {
        Some(match name {
            "SPAN_KIND_UNSPECIFIED" => SpanKind::Unspecified,
            "SPAN_KIND_INTERNAL" => SpanKind::Internal,
            "SPAN_KIND_SERVER" => SpanKind::Server,
            "SPAN_KIND_CLIENT" => SpanKind::Client,
            "SPAN_KIND_PRODUCER" => SpanKind::Producer,
            "SPAN_KIND_CONSUMER" => SpanKind::Consumer,
            _ => return None,
        })
    }
}

/// A span's status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum StatusCode {
    /// Not set.
    Unset = 0,
    /// Explicitly successful.
    Ok = 1,
    /// Failed.
    Error = 2,
}

impl StatusCode {
    /// OTLP's enum name, as in JSON (`STATUS_CODE_ERROR`).
    pub fn otlp_name(self) -> &'static str {
        match self {
            StatusCode::Unset => "STATUS_CODE_UNSET",
            StatusCode::Ok => "STATUS_CODE_OK",
            StatusCode::Error => "STATUS_CODE_ERROR",
        }
    }

    /// The code for an OTLP enum name.
    pub fn from_otlp_name(name: &str) -> Option<StatusCode> {
        Some(match name {
            "STATUS_CODE_UNSET" => StatusCode::Unset,
            "STATUS_CODE_OK" => StatusCode::Ok,
            "STATUS_CODE_ERROR" => StatusCode::Error,
            _ => return None,
        })
    }
}

/// An attribute: a key and its value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    /// Attribute name.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Attribute value; `None` is an empty value.
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

impl KeyValue {
    /// An attribute with a string value.
    pub fn string(key: impl Into<String>, value: impl Into<String>) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(value.into())),
            }),
        }
    }

    /// An attribute with an integer value.
    pub fn int(key: impl Into<String>, value: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(Value::IntValue(value)),
            }),
        }
    }
}

/// A value of any of OTLP's attribute types.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AnyValue {
    /// The value; `None` is an empty value.
    #[prost(oneof = "Value", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub value: Option<Value>,
}

/// The typed content of an [`AnyValue`].
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Value {
    /// A string.
    #[prost(string, tag = "1")]
    StringValue(String),
    /// A boolean.
    #[prost(bool, tag = "2")]
    BoolValue(bool),
    /// A 64-bit signed integer.
    #[prost(int64, tag = "3")]
    IntValue(i64),
    /// A 64-bit float.
    #[prost(double, tag = "4")]
    DoubleValue(f64),
    /// An array of values.
    #[prost(message, tag = "5")]
    ArrayValue(ArrayValue),
    /// A list of key-value pairs.
    #[prost(message, tag = "6")]
    KvlistValue(KeyValueList),
    /// Raw bytes.
    #[prost(bytes = "vec", tag = "7")]
    BytesValue(Vec<u8>),
}

/// An array of values.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ArrayValue {
    /// The elements.
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<AnyValue>,
}

/// A list of key-value pairs, a nested map.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValueList {
    /// The entries.
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<KeyValue>,
}

/// A 16-byte trace ID.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub [u8; 16]);

impl TraceId {
    /// The ID from exactly 16 bytes, or `None`.
    pub fn from_slice(bytes: &[u8]) -> Option<TraceId> {
        bytes.try_into().ok().map(TraceId)
    }

    /// Parses up to 32 hex digits; shorter IDs are left-padded with zeros, as Tempo does.
    pub fn from_hex(hex_id: &str) -> Result<TraceId, InvalidTraceId> {
        let digits = hex_id.trim();
        if digits.is_empty() || digits.len() > 32 {
            return Err(InvalidTraceId(hex_id.to_owned()));
        }
        let mut padded = [b'0'; 32];
        padded[32 - digits.len()..].copy_from_slice(digits.as_bytes());
        let mut id = [0u8; 16];
        hex::decode_to_slice(padded, &mut id).map_err(|_| InvalidTraceId(hex_id.to_owned()))?;
        Ok(TraceId(id))
    }

    /// The 32 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Whether every byte is zero (an invalid ID in OTLP).
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({})", self.to_hex())
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A trace ID that is not 1 to 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid trace ID {0:?}: expected 1 to 32 hex digits")]
pub struct InvalidTraceId(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_id_hex_is_left_padded() {
        let id = TraceId::from_hex("abc").unwrap_or_default();
        assert_eq!(id.to_hex(), "00000000000000000000000000000abc");
        assert!(TraceId::from_hex("").is_err());
        assert!(TraceId::from_hex("xyz").is_err());
        assert!(TraceId::from_hex(&"1".repeat(33)).is_err());
        assert!(TraceId::from_hex("é").is_err());
    }
}

/// A time range in unix nanoseconds, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Start, unix nanoseconds.
    pub start: u64,
    /// End, unix nanoseconds.
    pub end: u64,
}

impl TimeRange {
    /// All of time.
    pub const ALL: TimeRange = TimeRange {
        start: 0,
        end: u64::MAX,
    };

    /// The range between two unix times in seconds; `None` ends are open.
    pub fn from_unix_seconds(start: Option<u64>, end: Option<u64>) -> TimeRange {
        TimeRange {
            start: start.map_or(0, |s| s.saturating_mul(1_000_000_000)),
            end: end.map_or(u64::MAX, |e| {
                e.saturating_add(1).saturating_mul(1_000_000_000) - 1
            }),
        }
    }
}

impl Default for TimeRange {
    fn default() -> TimeRange {
        TimeRange::ALL
    }
}
