//! thrift: which spans does a `jaeger.thrift` payload hold?
//!
//! Decodes Jaeger's Thrift IDL (`jaeger.thrift`: `Batch`, `Process`, `Span`, `Tag`, `Log`,
//! `SpanRef`) and the agent's one-way call (`agent.thrift`: `Agent.emitBatch(1: Batch)`),
//! field numbers as the IDL gives them. Unknown fields are skipped; a field the IDL marks
//! `required` that is missing fails the payload, as Jaeger's own readers do.

use super::model::{Batch, Log, Process, Span, SpanRef, SpanRefType, Tag, TagValue};
use crate::thrift::{
    BinaryReader, CompactReader, MESSAGE_CALL, MESSAGE_ONEWAY, Protocol, TType, ThriftError,
    ThriftProtocol, read_list, skip,
};

/// Decodes a bare `jaeger.thrift` `Batch` struct: the body of `POST /api/traces`.
///
/// ```
/// use tempo_otlp::ThriftProtocol;
/// use tempo_otlp::jaeger::decode_thrift_batch;
///
/// // Not a batch: the reader says where it stopped, and never panics.
/// let err = decode_thrift_batch(&[0x0c, 0x00], ThriftProtocol::Binary).unwrap_err();
/// assert!(err.to_string().contains("truncated"), "{err}");
/// ```
pub fn decode_thrift_batch(bytes: &[u8], protocol: ThriftProtocol) -> Result<Batch, ThriftError> {
    match protocol {
        ThriftProtocol::Binary => read_batch(&mut BinaryReader::new(bytes)),
        ThriftProtocol::Compact => read_batch(&mut CompactReader::new(bytes)),
    }
}

/// Decodes an agent datagram: the message `Agent.emitBatch(1: Batch batch)`, as Jaeger
/// clients send it over UDP (compact protocol to port 6831, binary to 6832).
pub fn decode_agent_datagram(bytes: &[u8], protocol: ThriftProtocol) -> Result<Batch, ThriftError> {
    match protocol {
        ThriftProtocol::Binary => read_emit_batch(&mut BinaryReader::new(bytes)),
        ThriftProtocol::Compact => read_emit_batch(&mut CompactReader::new(bytes)),
    }
}

fn read_emit_batch<P: Protocol>(p: &mut P) -> Result<Batch, ThriftError> {
    let header = p.read_message_begin()?;
    if header.name != "emitBatch" {
        return Err(ThriftError::Message(format!(
            "{:?} is not supported: only Agent.emitBatch (Jaeger Thrift) is",
            header.name
        )));
    }
    if header.kind != MESSAGE_ONEWAY && header.kind != MESSAGE_CALL {
        return Err(ThriftError::Message(format!(
            "emitBatch sent as message type {}, not a call",
            header.kind
        )));
    }
    p.read_struct_begin()?;
    let mut batch = None;
    while let Some((ty, id)) = p.read_field_begin()? {
        match (id, ty) {
            (1, TType::Struct) => batch = Some(read_batch(p)?),
            (1, _) => return Err(wrong("emitBatch_args", "batch")),
            _ => skip(p, ty, 1)?,
        }
    }
    p.read_struct_end();
    batch.ok_or(missing("emitBatch_args", "batch"))
}

fn missing(strukt: &'static str, field: &'static str) -> ThriftError {
    ThriftError::MissingField { strukt, field }
}

fn wrong(strukt: &'static str, field: &'static str) -> ThriftError {
    ThriftError::WrongType { strukt, field }
}

/// Reads field `field` of `strukt` as `expected`, or fails with a typed error.
fn check(
    ty: TType,
    expected: TType,
    strukt: &'static str,
    field: &'static str,
) -> Result<(), ThriftError> {
    if ty == expected {
        Ok(())
    } else {
        Err(wrong(strukt, field))
    }
}

fn read_batch<P: Protocol + ?Sized>(p: &mut P) -> Result<Batch, ThriftError> {
    p.read_struct_begin()?;
    let (mut process, mut spans) = (None, None);
    while let Some((ty, id)) = p.read_field_begin()? {
        match id {
            1 => {
                check(ty, TType::Struct, "Batch", "process")?;
                process = Some(read_process(p)?);
            }
            2 => {
                check(ty, TType::List, "Batch", "spans")?;
                spans = Some(read_list(p, TType::Struct, "Batch.spans", read_span)?);
            }
            // seqNo, stats and anything newer.
            _ => skip(p, ty, 1)?,
        }
    }
    p.read_struct_end();
    Ok(Batch {
        process: Some(process.ok_or(missing("Batch", "process"))?),
        spans: spans.ok_or(missing("Batch", "spans"))?,
    })
}

fn read_process<P: Protocol + ?Sized>(p: &mut P) -> Result<Process, ThriftError> {
    p.read_struct_begin()?;
    let (mut service_name, mut tags) = (None, Vec::new());
    while let Some((ty, id)) = p.read_field_begin()? {
        match id {
            1 => {
                check(ty, TType::Binary, "Process", "serviceName")?;
                service_name = Some(p.read_string()?);
            }
            2 => {
                check(ty, TType::List, "Process", "tags")?;
                tags = read_list(p, TType::Struct, "Process.tags", read_tag)?;
            }
            _ => skip(p, ty, 2)?,
        }
    }
    p.read_struct_end();
    Ok(Process {
        service_name: service_name.ok_or(missing("Process", "serviceName"))?,
        tags,
    })
}

/// Microseconds to nanoseconds; a negative time is taken as zero.
fn micros(us: i64) -> u64 {
    u64::try_from(us).unwrap_or(0).saturating_mul(1000)
}

fn read_span<P: Protocol + ?Sized>(p: &mut P) -> Result<Span, ThriftError> {
    p.read_struct_begin()?;
    let mut span = Span::default();
    // Required fields seen: traceIdLow, traceIdHigh, spanId, parentSpanId, operationName,
    // flags, startTime, duration.
    let mut seen = [false; 10];
    while let Some((ty, id)) = p.read_field_begin()? {
        let i64_field = |name| check(ty, TType::I64, "Span", name);
        match id {
            1 => {
                i64_field("traceIdLow")?;
                span.trace_id_low = p.read_i64()? as u64;
            }
            2 => {
                i64_field("traceIdHigh")?;
                span.trace_id_high = p.read_i64()? as u64;
            }
            3 => {
                i64_field("spanId")?;
                span.span_id = p.read_i64()? as u64;
            }
            4 => {
                i64_field("parentSpanId")?;
                span.parent_span_id = p.read_i64()? as u64;
            }
            5 => {
                check(ty, TType::Binary, "Span", "operationName")?;
                span.operation_name = p.read_string()?;
            }
            6 => {
                check(ty, TType::List, "Span", "references")?;
                span.references = read_list(p, TType::Struct, "Span.references", read_ref)?;
            }
            7 => {
                check(ty, TType::I32, "Span", "flags")?;
                span.flags = p.read_i32()? as u32;
            }
            8 => {
                i64_field("startTime")?;
                span.start_time_unix_nano = micros(p.read_i64()?);
            }
            9 => {
                i64_field("duration")?;
                span.duration_nano = micros(p.read_i64()?);
            }
            10 => {
                check(ty, TType::List, "Span", "tags")?;
                span.tags = read_list(p, TType::Struct, "Span.tags", read_tag)?;
            }
            11 => {
                check(ty, TType::List, "Span", "logs")?;
                span.logs = read_list(p, TType::Struct, "Span.logs", read_log)?;
            }
            _ => skip(p, ty, 3)?,
        }
        if let Ok(i) = usize::try_from(id)
            && i < seen.len()
        {
            seen[i] = true;
        }
    }
    p.read_struct_end();
    for (i, name) in [
        (1, "traceIdLow"),
        (2, "traceIdHigh"),
        (3, "spanId"),
        (4, "parentSpanId"),
        (5, "operationName"),
        (7, "flags"),
        (8, "startTime"),
        (9, "duration"),
    ] {
        if !seen[i] {
            return Err(missing("Span", name));
        }
    }
    Ok(span)
}

fn read_tag<P: Protocol + ?Sized>(p: &mut P) -> Result<Tag, ThriftError> {
    p.read_struct_begin()?;
    let (mut key, mut v_type) = (None, None);
    let (mut v_str, mut v_double, mut v_bool, mut v_long, mut v_binary) =
        (None, None, None, None, None);
    while let Some((ty, id)) = p.read_field_begin()? {
        match id {
            1 => {
                check(ty, TType::Binary, "Tag", "key")?;
                key = Some(p.read_string()?);
            }
            2 => {
                check(ty, TType::I32, "Tag", "vType")?;
                v_type = Some(p.read_i32()?);
            }
            3 => {
                check(ty, TType::Binary, "Tag", "vStr")?;
                v_str = Some(p.read_string()?);
            }
            4 => {
                check(ty, TType::Double, "Tag", "vDouble")?;
                v_double = Some(p.read_double()?);
            }
            5 => {
                check(ty, TType::Bool, "Tag", "vBool")?;
                v_bool = Some(p.read_bool()?);
            }
            6 => {
                check(ty, TType::I64, "Tag", "vLong")?;
                v_long = Some(p.read_i64()?);
            }
            7 => {
                check(ty, TType::Binary, "Tag", "vBinary")?;
                v_binary = Some(p.read_binary()?);
            }
            _ => skip(p, ty, 4)?,
        }
    }
    p.read_struct_end();
    let key = key.ok_or(missing("Tag", "key"))?;
    let value = match v_type.ok_or(missing("Tag", "vType"))? {
        0 => TagValue::String(v_str.unwrap_or_default()),
        1 => TagValue::Double(v_double.unwrap_or_default()),
        2 => TagValue::Bool(v_bool.unwrap_or_default()),
        3 => TagValue::Long(v_long.unwrap_or_default()),
        4 => TagValue::Binary(v_binary.unwrap_or_default()),
        // As the OpenTelemetry Collector writes a type it does not know.
        other => TagValue::String(format!("<Unknown Jaeger TagType \"{other}\">")),
    };
    Ok(Tag { key, value })
}

fn read_log<P: Protocol + ?Sized>(p: &mut P) -> Result<Log, ThriftError> {
    p.read_struct_begin()?;
    let (mut timestamp, mut fields) = (None, None);
    while let Some((ty, id)) = p.read_field_begin()? {
        match id {
            1 => {
                check(ty, TType::I64, "Log", "timestamp")?;
                timestamp = Some(micros(p.read_i64()?));
            }
            2 => {
                check(ty, TType::List, "Log", "fields")?;
                fields = Some(read_list(p, TType::Struct, "Log.fields", read_tag)?);
            }
            _ => skip(p, ty, 4)?,
        }
    }
    p.read_struct_end();
    Ok(Log {
        timestamp_unix_nano: timestamp.ok_or(missing("Log", "timestamp"))?,
        fields: fields.ok_or(missing("Log", "fields"))?,
    })
}

fn read_ref<P: Protocol + ?Sized>(p: &mut P) -> Result<SpanRef, ThriftError> {
    p.read_struct_begin()?;
    let (mut ref_type, mut low, mut high, mut span_id) = (None, None, None, None);
    while let Some((ty, id)) = p.read_field_begin()? {
        match id {
            1 => {
                check(ty, TType::I32, "SpanRef", "refType")?;
                ref_type = Some(p.read_i32()?);
            }
            2 => {
                check(ty, TType::I64, "SpanRef", "traceIdLow")?;
                low = Some(p.read_i64()? as u64);
            }
            3 => {
                check(ty, TType::I64, "SpanRef", "traceIdHigh")?;
                high = Some(p.read_i64()? as u64);
            }
            4 => {
                check(ty, TType::I64, "SpanRef", "spanId")?;
                span_id = Some(p.read_i64()? as u64);
            }
            _ => skip(p, ty, 4)?,
        }
    }
    p.read_struct_end();
    let ref_type = match ref_type.ok_or(missing("SpanRef", "refType"))? {
        0 => SpanRefType::ChildOf,
        1 => SpanRefType::FollowsFrom,
        _ => return Err(wrong("SpanRef", "refType")),
    };
    Ok(SpanRef {
        ref_type,
        trace_id_low: low.ok_or(missing("SpanRef", "traceIdLow"))?,
        trace_id_high: high.ok_or(missing("SpanRef", "traceIdHigh"))?,
        span_id: span_id.ok_or(missing("SpanRef", "spanId"))?,
    })
}

/// Encodes `batch` as a bare `Batch` struct, the body of `POST /api/traces` (binary) — for
/// tests and fuzzing seeds.
#[doc(hidden)]
pub fn encode_thrift_batch(batch: &Batch, protocol: ThriftProtocol) -> Vec<u8> {
    use crate::thrift::write::{Binary, Compact};
    match protocol {
        ThriftProtocol::Binary => {
            let mut w = Binary::default();
            encode::batch(&mut w, batch);
            w.0
        }
        ThriftProtocol::Compact => {
            let mut w = Compact::default();
            encode::batch(&mut w, batch);
            w.buf
        }
    }
}

/// Encodes `batch` as the agent's `emitBatch` datagram — for tests and fuzzing seeds.
#[doc(hidden)]
pub fn encode_agent_datagram(batch: &Batch, protocol: ThriftProtocol) -> Vec<u8> {
    use crate::thrift::write::{Binary, Compact};
    match protocol {
        ThriftProtocol::Binary => {
            let mut w = Binary::default();
            encode::emit_batch(&mut w, batch);
            w.0
        }
        ThriftProtocol::Compact => {
            let mut w = Compact::default();
            encode::emit_batch(&mut w, batch);
            w.buf
        }
    }
}

/// Encoders of Jaeger's Thrift structs.
pub(crate) mod encode {
    use super::super::model::{Batch, Span, SpanRefType, Tag, TagValue};
    use crate::thrift::write::Writer;

    fn tags<W: Writer>(w: &mut W, id: i16, tags: &[Tag]) {
        w.field(15, id);
        w.list(12, tags.len());
        for tag in tags {
            w.struct_begin();
            w.field(11, 1);
            w.binary(tag.key.as_bytes());
            w.field(8, 2);
            match &tag.value {
                TagValue::String(s) => {
                    w.i32(0);
                    w.field(11, 3);
                    w.binary(s.as_bytes());
                }
                TagValue::Double(d) => {
                    w.i32(1);
                    w.field(4, 4);
                    w.double(*d);
                }
                TagValue::Bool(b) => {
                    w.i32(2);
                    w.bool_field(5, *b);
                }
                TagValue::Long(l) => {
                    w.i32(3);
                    w.field(10, 6);
                    w.i64(*l);
                }
                TagValue::Binary(b) => {
                    w.i32(4);
                    w.field(11, 7);
                    w.binary(b);
                }
            }
            w.struct_end();
        }
    }

    fn span<W: Writer>(w: &mut W, s: &Span) {
        w.struct_begin();
        w.field(10, 1);
        w.i64(s.trace_id_low as i64);
        w.field(10, 2);
        w.i64(s.trace_id_high as i64);
        w.field(10, 3);
        w.i64(s.span_id as i64);
        w.field(10, 4);
        w.i64(s.parent_span_id as i64);
        w.field(11, 5);
        w.binary(s.operation_name.as_bytes());
        if !s.references.is_empty() {
            w.field(15, 6);
            w.list(12, s.references.len());
            for r in &s.references {
                w.struct_begin();
                w.field(8, 1);
                w.i32(match r.ref_type {
                    SpanRefType::ChildOf => 0,
                    SpanRefType::FollowsFrom => 1,
                });
                w.field(10, 2);
                w.i64(r.trace_id_low as i64);
                w.field(10, 3);
                w.i64(r.trace_id_high as i64);
                w.field(10, 4);
                w.i64(r.span_id as i64);
                w.struct_end();
            }
        }
        w.field(8, 7);
        w.i32(s.flags as i32);
        w.field(10, 8);
        w.i64((s.start_time_unix_nano / 1000) as i64);
        w.field(10, 9);
        w.i64((s.duration_nano / 1000) as i64);
        if !s.tags.is_empty() {
            tags(w, 10, &s.tags);
        }
        if !s.logs.is_empty() {
            w.field(15, 11);
            w.list(12, s.logs.len());
            for log in &s.logs {
                w.struct_begin();
                w.field(10, 1);
                w.i64((log.timestamp_unix_nano / 1000) as i64);
                tags(w, 2, &log.fields);
                w.struct_end();
            }
        }
        w.struct_end();
    }

    /// Writes `batch` as a bare `Batch` struct.
    pub(crate) fn batch<W: Writer>(w: &mut W, batch: &Batch) {
        w.struct_begin();
        if let Some(process) = &batch.process {
            w.field(12, 1);
            w.struct_begin();
            w.field(11, 1);
            w.binary(process.service_name.as_bytes());
            if !process.tags.is_empty() {
                tags(w, 2, &process.tags);
            }
            w.struct_end();
        }
        w.field(15, 2);
        w.list(12, batch.spans.len());
        for s in &batch.spans {
            span(w, s);
        }
        // seqNo, which readers skip.
        w.field(10, 3);
        w.i64(7);
        w.struct_end();
    }

    /// Writes `batch` as the agent's `emitBatch` message.
    pub(crate) fn emit_batch<W: Writer>(w: &mut W, b: &Batch) {
        w.message("emitBatch", crate::thrift::MESSAGE_ONEWAY);
        w.struct_begin();
        w.field(12, 1);
        batch(w, b);
        w.struct_end();
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
pub(crate) mod tests {
    use super::super::model::{Batch, Log, Process, Span, SpanRef, SpanRefType, Tag, TagValue};
    use super::encode;
    use super::*;
    use crate::thrift::write::{Binary, Compact, Writer};

    /// A batch with every field of every struct set.
    pub(crate) fn full_batch() -> Batch {
        Batch {
            process: Some(Process {
                service_name: "frontend".into(),
                tags: vec![
                    Tag::new("hostname", TagValue::String("host-1".into())),
                    Tag::new("jaeger.version", TagValue::String("Node-3.19.0".into())),
                    Tag::new("ip", TagValue::String("10.0.0.1".into())),
                    Tag::new("cores", TagValue::Long(8)),
                ],
            }),
            spans: vec![
                Span {
                    trace_id_high: 0,
                    trace_id_low: 0x0123_4567_89ab_cdef,
                    span_id: 1,
                    parent_span_id: 0,
                    operation_name: "GET /".into(),
                    flags: 1,
                    start_time_unix_nano: 1_700_000_000_000_000_000,
                    duration_nano: 5_000_000,
                    tags: vec![
                        Tag::new("span.kind", TagValue::String("server".into())),
                        Tag::new("http.status_code", TagValue::Long(200)),
                        Tag::new("ratio", TagValue::Double(0.25)),
                        Tag::new("cached", TagValue::Bool(false)),
                        Tag::new("blob", TagValue::Binary(vec![0, 1, 2, 255])),
                        Tag::new("peer", TagValue::String("db".into())),
                    ],
                    logs: vec![Log {
                        timestamp_unix_nano: 1_700_000_000_001_000_000,
                        fields: vec![
                            Tag::new("event", TagValue::String("cache miss".into())),
                            Tag::new("key", TagValue::String("user:1".into())),
                            Tag::new("attempt", TagValue::Long(2)),
                        ],
                    }],
                    ..Span::default()
                },
                Span {
                    trace_id_high: 0xffff_0000_0000_0001,
                    trace_id_low: 0x0123_4567_89ab_cdef,
                    span_id: 0x8000_0000_0000_0002,
                    parent_span_id: 1,
                    operation_name: "SELECT".into(),
                    references: vec![
                        SpanRef {
                            ref_type: SpanRefType::ChildOf,
                            trace_id_high: 0xffff_0000_0000_0001,
                            trace_id_low: 0x0123_4567_89ab_cdef,
                            span_id: 1,
                        },
                        SpanRef {
                            ref_type: SpanRefType::FollowsFrom,
                            trace_id_high: 0,
                            trace_id_low: 42,
                            span_id: 43,
                        },
                    ],
                    flags: 0,
                    start_time_unix_nano: 1_700_000_000_002_000_000,
                    duration_nano: 1_000,
                    tags: vec![
                        Tag::new("span.kind", TagValue::String("client".into())),
                        Tag::new("error", TagValue::Bool(true)),
                        Tag::new(
                            "otel.status_description",
                            TagValue::String("timeout".into()),
                        ),
                    ],
                    ..Span::default()
                },
            ],
        }
    }

    fn both(batch: &Batch) -> [(ThriftProtocol, Vec<u8>); 2] {
        let mut b = Binary::default();
        encode::batch(&mut b, batch);
        let mut c = Compact::default();
        encode::batch(&mut c, batch);
        [
            (ThriftProtocol::Binary, b.0),
            (ThriftProtocol::Compact, c.buf),
        ]
    }

    #[test]
    fn every_field_decodes_in_both_protocols() {
        let batch = full_batch();
        for (protocol, bytes) in both(&batch) {
            assert_eq!(
                decode_thrift_batch(&bytes, protocol).unwrap(),
                batch,
                "{protocol:?}"
            );
        }
        let mut b = Binary::default();
        encode::emit_batch(&mut b, &batch);
        assert_eq!(
            decode_agent_datagram(&b.0, ThriftProtocol::Binary).unwrap(),
            batch
        );
        let mut c = Compact::default();
        encode::emit_batch(&mut c, &batch);
        assert_eq!(
            decode_agent_datagram(&c.buf, ThriftProtocol::Compact).unwrap(),
            batch
        );
        // The wrong protocol is an error, not a panic.
        assert!(decode_agent_datagram(&c.buf, ThriftProtocol::Binary).is_err());
        assert!(decode_agent_datagram(&b.0, ThriftProtocol::Compact).is_err());
    }

    #[test]
    fn other_agent_calls_are_refused_by_name() {
        let mut b = Binary::default();
        b.message("emitZipkinBatch", crate::thrift::MESSAGE_ONEWAY);
        b.struct_end();
        let err = decode_agent_datagram(&b.0, ThriftProtocol::Binary).unwrap_err();
        assert!(err.to_string().contains("emitZipkinBatch"), "{err}");
    }

    #[test]
    fn missing_required_fields_are_named() {
        // A span without its span ID.
        let mut w = Binary::default();
        w.field(12, 1);
        w.field(11, 1);
        w.binary(b"svc");
        w.stop();
        w.field(15, 2);
        w.list(12, 1);
        w.field(10, 1);
        w.i64(1);
        w.stop();
        w.stop();
        let err = decode_thrift_batch(&w.0, ThriftProtocol::Binary).unwrap_err();
        assert_eq!(
            err.to_string(),
            "required field traceIdHigh of Span is missing"
        );
        // No process.
        let mut w = Binary::default();
        w.field(15, 2);
        w.list(12, 0);
        w.stop();
        let err = decode_thrift_batch(&w.0, ThriftProtocol::Binary).unwrap_err();
        assert_eq!(
            err,
            ThriftError::MissingField {
                strukt: "Batch",
                field: "process"
            }
        );
    }

    #[test]
    fn truncated_and_mutated_payloads_never_panic() {
        let batch = full_batch();
        for (protocol, bytes) in both(&batch) {
            for cut in 0..bytes.len() {
                assert!(decode_thrift_batch(&bytes[..cut], protocol).is_err());
            }
            let mut state = 0x2545_f491_4f6c_dd1du64;
            for _ in 0..3000 {
                let mut mutated = bytes.clone();
                for _ in 0..3 {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let i = (state as usize) % mutated.len();
                    mutated[i] = (state >> 32) as u8;
                }
                let _ = decode_thrift_batch(&mutated, protocol);
                let _ = decode_agent_datagram(&mutated, protocol);
            }
        }
    }
}
