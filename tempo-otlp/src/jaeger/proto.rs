//! proto: which spans does a Jaeger gRPC request hold?
//!
//! Jaeger's `jaeger.api_v2` protobuf messages (`model.proto`, `collector.proto`), written
//! here with prost and the field numbers of Jaeger's IDL, and their conversion into the
//! [`Batch`] model shared with Thrift. IDs are bytes on the wire: 16 for a trace ID, 8 for
//! a span ID, big-endian, as Jaeger's `TraceID` and `SpanID` marshal them.

use prost::Message;

use super::model::{Batch, Log, Process, Span, SpanRef, SpanRefType, Tag, TagValue};

/// `jaeger.api_v2.PostSpansRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PostSpansRequest {
    /// The spans.
    #[prost(message, optional, tag = "1")]
    pub batch: Option<ProtoBatch>,
}

/// `jaeger.api_v2.PostSpansResponse`: empty.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PostSpansResponse {}

/// `jaeger.api_v2.Batch`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoBatch {
    /// The spans.
    #[prost(message, repeated, tag = "1")]
    pub spans: Vec<ProtoSpan>,
    /// The process that produced them.
    #[prost(message, optional, tag = "2")]
    pub process: Option<ProtoProcess>,
}

/// `jaeger.api_v2.Span`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoSpan {
    /// 16 bytes, big-endian.
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// 8 bytes, big-endian.
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    /// The operation name.
    #[prost(string, tag = "3")]
    pub operation_name: String,
    /// References, the parent among them.
    #[prost(message, repeated, tag = "4")]
    pub references: Vec<ProtoSpanRef>,
    /// Flags.
    #[prost(uint32, tag = "5")]
    pub flags: u32,
    /// Start time.
    #[prost(message, optional, tag = "6")]
    pub start_time: Option<Timestamp>,
    /// Duration.
    #[prost(message, optional, tag = "7")]
    pub duration: Option<Duration>,
    /// Tags.
    #[prost(message, repeated, tag = "8")]
    pub tags: Vec<KeyValue>,
    /// Logs.
    #[prost(message, repeated, tag = "9")]
    pub logs: Vec<ProtoLog>,
    /// The span's own process, when it differs from the batch's.
    #[prost(message, optional, tag = "10")]
    pub process: Option<ProtoProcess>,
    /// A process ID (used in Jaeger's query answers, ignored here).
    #[prost(string, tag = "11")]
    pub process_id: String,
    /// Warnings (ignored here).
    #[prost(string, repeated, tag = "12")]
    pub warnings: Vec<String>,
}

/// `jaeger.api_v2.SpanRef`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoSpanRef {
    /// 16 bytes, big-endian.
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// 8 bytes, big-endian.
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    /// `CHILD_OF` (0) or `FOLLOWS_FROM` (1).
    #[prost(int32, tag = "3")]
    pub ref_type: i32,
}

/// `jaeger.api_v2.Process`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoProcess {
    /// The service name.
    #[prost(string, tag = "1")]
    pub service_name: String,
    /// Process tags.
    #[prost(message, repeated, tag = "2")]
    pub tags: Vec<KeyValue>,
}

/// `jaeger.api_v2.KeyValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    /// The key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// `STRING` (0), `BOOL` (1), `INT64` (2), `FLOAT64` (3), `BINARY` (4).
    #[prost(int32, tag = "2")]
    pub v_type: i32,
    /// The value of a `STRING`.
    #[prost(string, tag = "3")]
    pub v_str: String,
    /// The value of a `BOOL`.
    #[prost(bool, tag = "4")]
    pub v_bool: bool,
    /// The value of an `INT64`.
    #[prost(int64, tag = "5")]
    pub v_int64: i64,
    /// The value of a `FLOAT64`.
    #[prost(double, tag = "6")]
    pub v_float64: f64,
    /// The value of a `BINARY`.
    #[prost(bytes = "vec", tag = "7")]
    pub v_binary: Vec<u8>,
}

/// `jaeger.api_v2.Log`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoLog {
    /// When.
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    /// Fields.
    #[prost(message, repeated, tag = "2")]
    pub fields: Vec<KeyValue>,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// `google.protobuf.Duration`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Duration {
    /// Seconds.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// Why a Jaeger protobuf request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JaegerProtoError {
    /// Not a `PostSpansRequest`.
    #[error("malformed Jaeger PostSpansRequest: {0}")]
    Decode(String),
    /// An ID of the wrong length.
    #[error("span {span}: {what} must be {expected} bytes, got {len}")]
    IdLength {
        /// The span's index in the batch.
        span: usize,
        /// Which ID.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The length it must have.
        expected: usize,
    },
}

/// Decodes a `PostSpansRequest` body into the [`Batch`] model.
pub fn decode_post_spans(bytes: &[u8]) -> Result<Batch, JaegerProtoError> {
    let request =
        PostSpansRequest::decode(bytes).map_err(|e| JaegerProtoError::Decode(e.to_string()))?;
    let batch = request.batch.unwrap_or_default();
    let spans = batch
        .spans
        .into_iter()
        .enumerate()
        .map(|(i, s)| span(i, s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Batch {
        process: batch.process.map(process),
        spans,
    })
}

fn trace_id(span: usize, bytes: &[u8]) -> Result<(u64, u64), JaegerProtoError> {
    match bytes.len() {
        0 => Ok((0, 0)),
        16 => {
            let mut high = [0u8; 8];
            let mut low = [0u8; 8];
            high.copy_from_slice(&bytes[..8]);
            low.copy_from_slice(&bytes[8..]);
            Ok((be(high), be(low)))
        }
        len => Err(JaegerProtoError::IdLength {
            span,
            what: "trace_id",
            len,
            expected: 16,
        }),
    }
}

fn span_id(span: usize, what: &'static str, bytes: &[u8]) -> Result<u64, JaegerProtoError> {
    match bytes.len() {
        0 => Ok(0),
        8 => {
            let mut id = [0u8; 8];
            id.copy_from_slice(bytes);
            Ok(be(id))
        }
        len => Err(JaegerProtoError::IdLength {
            span,
            what,
            len,
            expected: 8,
        }),
    }
}

#[expect(clippy::big_endian_bytes, reason = "Jaeger's IDs are big-endian")]
fn be(bytes: [u8; 8]) -> u64 {
    u64::from_be_bytes(bytes)
}

fn nanos(seconds: i64, nanos: i32) -> u64 {
    u64::try_from(seconds)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(nanos).unwrap_or(0))
}

fn tag(kv: KeyValue) -> Tag {
    let value = match kv.v_type {
        0 => TagValue::String(kv.v_str),
        1 => TagValue::Bool(kv.v_bool),
        2 => TagValue::Long(kv.v_int64),
        3 => TagValue::Double(kv.v_float64),
        4 => TagValue::Binary(kv.v_binary),
        other => TagValue::String(format!("<Unknown Jaeger TagType \"{other}\">")),
    };
    Tag { key: kv.key, value }
}

fn process(p: ProtoProcess) -> Process {
    Process {
        service_name: p.service_name,
        tags: p.tags.into_iter().map(tag).collect(),
    }
}

fn span(i: usize, s: ProtoSpan) -> Result<Span, JaegerProtoError> {
    let (trace_id_high, trace_id_low) = trace_id(i, &s.trace_id)?;
    let references = s
        .references
        .iter()
        .map(|r| {
            let (high, low) = trace_id(i, &r.trace_id)?;
            Ok(SpanRef {
                ref_type: if r.ref_type == 1 {
                    SpanRefType::FollowsFrom
                } else {
                    SpanRefType::ChildOf
                },
                trace_id_high: high,
                trace_id_low: low,
                span_id: span_id(i, "reference span_id", &r.span_id)?,
            })
        })
        .collect::<Result<Vec<_>, JaegerProtoError>>()?;
    Ok(Span {
        trace_id_high,
        trace_id_low,
        span_id: span_id(i, "span_id", &s.span_id)?,
        parent_span_id: 0,
        operation_name: s.operation_name,
        references,
        flags: s.flags,
        start_time_unix_nano: s.start_time.map_or(0, |t| nanos(t.seconds, t.nanos)),
        duration_nano: s.duration.map_or(0, |d| nanos(d.seconds, d.nanos)),
        tags: s.tags.into_iter().map(tag).collect(),
        logs: s
            .logs
            .into_iter()
            .map(|l| Log {
                timestamp_unix_nano: l.timestamp.map_or(0, |t| nanos(t.seconds, t.nanos)),
                fields: l.fields.into_iter().map(tag).collect(),
            })
            .collect(),
        process: s.process.map(process),
    })
}

#[cfg(test)]
#[expect(
    clippy::unwrap_used,
    clippy::big_endian_bytes,
    reason = "tests fail loudly; Jaeger's IDs are big-endian"
)]
mod tests {
    use super::*;

    fn kv(key: &str, v_type: i32) -> KeyValue {
        KeyValue {
            key: key.into(),
            v_type,
            v_str: "s".into(),
            v_bool: true,
            v_int64: -5,
            v_float64: 2.5,
            v_binary: vec![9, 8],
        }
    }

    #[test]
    fn every_field_converts() {
        let trace: Vec<u8> = [1u64.to_be_bytes(), 2u64.to_be_bytes()].concat();
        let request = PostSpansRequest {
            batch: Some(ProtoBatch {
                process: Some(ProtoProcess {
                    service_name: "api".into(),
                    tags: vec![kv("hostname", 0)],
                }),
                spans: vec![ProtoSpan {
                    trace_id: trace.clone(),
                    span_id: 3u64.to_be_bytes().to_vec(),
                    operation_name: "op".into(),
                    references: vec![ProtoSpanRef {
                        trace_id: trace,
                        span_id: 4u64.to_be_bytes().to_vec(),
                        ref_type: 1,
                    }],
                    flags: 1,
                    start_time: Some(Timestamp {
                        seconds: 10,
                        nanos: 5,
                    }),
                    duration: Some(Duration {
                        seconds: 1,
                        nanos: 0,
                    }),
                    tags: (0..6).map(|t| kv(&format!("t{t}"), t)).collect(),
                    logs: vec![ProtoLog {
                        timestamp: Some(Timestamp {
                            seconds: 11,
                            nanos: 0,
                        }),
                        fields: vec![kv("event", 0)],
                    }],
                    process: Some(ProtoProcess {
                        service_name: "other".into(),
                        tags: vec![],
                    }),
                    process_id: String::new(),
                    warnings: vec![],
                }],
            }),
        };
        let batch = decode_post_spans(&request.encode_to_vec()).unwrap();
        let span = &batch.spans[0];
        assert_eq!(
            (span.trace_id_high, span.trace_id_low, span.span_id),
            (1, 2, 3)
        );
        assert_eq!(span.start_time_unix_nano, 10_000_000_005);
        assert_eq!(span.duration_nano, 1_000_000_000);
        assert_eq!(span.references[0].ref_type, SpanRefType::FollowsFrom);
        assert_eq!(span.references[0].span_id, 4);
        let values: Vec<_> = span.tags.iter().map(|t| t.value.clone()).collect();
        assert_eq!(
            values,
            [
                TagValue::String("s".into()),
                TagValue::Bool(true),
                TagValue::Long(-5),
                TagValue::Double(2.5),
                TagValue::Binary(vec![9, 8]),
                TagValue::String("<Unknown Jaeger TagType \"5\">".into()),
            ]
        );
        assert_eq!(span.logs[0].timestamp_unix_nano, 11_000_000_000);
        assert_eq!(span.process.as_ref().unwrap().service_name, "other");
        assert_eq!(batch.process.unwrap().service_name, "api");
    }

    #[test]
    fn ids_of_the_wrong_length_are_refused() {
        let request = PostSpansRequest {
            batch: Some(ProtoBatch {
                process: None,
                spans: vec![ProtoSpan {
                    trace_id: vec![1; 8],
                    span_id: vec![1; 8],
                    operation_name: String::new(),
                    references: vec![],
                    flags: 0,
                    start_time: None,
                    duration: None,
                    tags: vec![],
                    logs: vec![],
                    process: None,
                    process_id: String::new(),
                    warnings: vec![],
                }],
            }),
        };
        let err = decode_post_spans(&request.encode_to_vec()).unwrap_err();
        assert_eq!(err.to_string(), "span 0: trace_id must be 16 bytes, got 8");
        assert!(decode_post_spans(&[0xff, 0xff]).is_err());
    }
}
